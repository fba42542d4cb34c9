/*
 * The mcxvault provider's SAKKE KEM and ECCSI signature through the EVP API,
 * checked against the crypto module and the RFC 6507 / RFC 6508 Appendix A
 * vectors (tests/crypto/vectors.h).  No vault is needed: these are software
 * keys held by the provider.
 *
 * The provider is loaded from the build directory this program lives in
 * ($B/tests/test_provider_mcx loads $B/mcxvault.so; MCXVAULT_PROVIDER_DIR
 * overrides), into its own library context next to the default provider.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <libgen.h>
#include <pthread.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include "mcx/eccsi.h"
#include "mcx/provider.h"
#include "mcx/sakke.h"
#include "tests/crypto/helpers.h"
#include "tests/crypto/vectors.h"
#include "tests/test.h"

static OSSL_LIB_CTX *libctx;
static const char *provider_dir;             /* where mcxvault.so is, for further library contexts */
static struct mcx_sakke_params *sp;
static struct mcx_eccsi_params *ep;

/* RFC 6508 Appendix A: Z, b, RSK, SSV, SED; RFC 6507 Appendix A: KPAK, ID, SSK, PVT, M, Sig. */
static uint8_t sZ[257], sb[64], srsk[257], sssv[16], ssed[273];
static size_t sb_len;
static uint8_t eK[65], eid[64], essk[32], epvt[65], em[16], esig[129];
static size_t eid_len, em_len;

static int load_vectors(void)
{
	sb_len = hexdec(V6508_b, sb, sizeof(sb), 0);
	eid_len = hexdec(V6507_ID, eid, sizeof(eid), 0);
	em_len = hexdec(V6507_M, em, sizeof(em), 0);
	return hexdec(V6508_Z_S, sZ, sizeof(sZ), 257) == 257 && sb_len > 0 &&
	       hexdec(V6508_K_bS, srsk, sizeof(srsk), 257) == 257 &&
	       hexdec(V6508_SSV, sssv, sizeof(sssv), 16) == 16 &&
	       hexdec(V6508_SED, ssed, sizeof(ssed), 273) == 273 &&
	       hexdec(V6507_KPAK, eK, sizeof(eK), 65) == 65 && eid_len > 0 &&
	       hexdec(V6507_SSK, essk, sizeof(essk), 32) == 32 &&
	       hexdec(V6507_PVT, epvt, sizeof(epvt), 65) == 65 && em_len > 0 &&
	       hexdec(V6507_Sig, esig, sizeof(esig), 129) == 129;
}

/* A key of the provider from octet-string parameters (NULL values left out). */
static EVP_PKEY *make_key(const char *type, const char *kms_name, const uint8_t *kms, size_t kms_len,
			  const uint8_t *id, size_t id_len, const char *priv_name, const uint8_t *priv,
			  size_t priv_len, const uint8_t *pvt)
{
	OSSL_PARAM params[5];
	EVP_PKEY_CTX *pc = NULL;
	EVP_PKEY *pkey = NULL;
	size_t n = 0;

	params[n++] = OSSL_PARAM_construct_octet_string(kms_name, (void *)kms, kms_len);
	params[n++] = OSSL_PARAM_construct_octet_string(MCX_PROV_PARAM_IDENTITY, (void *)id, id_len);
	if (priv != NULL)
		params[n++] = OSSL_PARAM_construct_octet_string(priv_name, (void *)priv, priv_len);
	if (pvt != NULL)
		params[n++] = OSSL_PARAM_construct_octet_string(MCX_PROV_PARAM_PVT, (void *)pvt, 65);
	params[n] = OSSL_PARAM_construct_end();
	if ((pc = EVP_PKEY_CTX_new_from_name(libctx, type, MCX_PROV_PROPQ)) == NULL ||
	    EVP_PKEY_fromdata_init(pc) != 1 ||
	    EVP_PKEY_fromdata(pc, &pkey, priv != NULL ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
	EVP_PKEY_CTX_free(pc);
	return pkey;
}

static EVP_PKEY *sakke_key(const uint8_t *Z, const uint8_t *b, size_t b_len, const uint8_t *rsk)
{
	return make_key(MCX_PROV_SAKKE_NAME, MCX_PROV_PARAM_KMS_PUBLIC_KEY, Z, 257, b, b_len,
			MCX_PROV_PARAM_RSK, rsk, 257, NULL);
}

static EVP_PKEY *eccsi_key(const uint8_t *kpak, const uint8_t *id, size_t id_len,
			   const uint8_t *ssk, const uint8_t *pvt)
{
	return make_key(MCX_PROV_ECCSI_NAME, MCX_PROV_PARAM_KPAK, kpak, 65, id, id_len,
			MCX_PROV_PARAM_SSK, ssk, 32, pvt);
}

static int evp_decap(EVP_PKEY *pkey, const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(libctx, pkey, NULL);
	int ok = c != NULL && EVP_PKEY_decapsulate_init(c, NULL) == 1 &&
		 EVP_PKEY_decapsulate(c, out, out_len, in, in_len) == 1;

	EVP_PKEY_CTX_free(c);
	ERR_clear_error();
	return ok;
}

static int evp_check(EVP_PKEY *pkey, int public_only)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(libctx, pkey, NULL);
	int ok = c != NULL && (public_only ? EVP_PKEY_public_check(c) : EVP_PKEY_check(c)) == 1;

	EVP_PKEY_CTX_free(c);
	ERR_clear_error();
	return ok;
}

/* EVP_DigestVerify with no digest: 1 valid, 0 not. */
static int evp_verify(EVP_PKEY *pkey, const uint8_t *sig, size_t sig_len, const uint8_t *m, size_t m_len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = md != NULL && EVP_DigestVerifyInit_ex(md, NULL, NULL, libctx, NULL, pkey, NULL) == 1 &&
		 EVP_DigestVerify(md, sig, sig_len, m, m_len) == 1;

	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return ok;
}

/* ---- provider ------------------------------------------------------------ */

TEST(algorithms_registered_with_provider_property)
{
	EVP_KEM *kem = EVP_KEM_fetch(libctx, MCX_PROV_SAKKE_NAME, MCX_PROV_PROPQ);
	EVP_SIGNATURE *sig = EVP_SIGNATURE_fetch(libctx, MCX_PROV_ECCSI_NAME, MCX_PROV_PROPQ);
	EVP_KEYMGMT *km1 = EVP_KEYMGMT_fetch(libctx, MCX_PROV_SAKKE_NAME, MCX_PROV_PROPQ);
	EVP_KEYMGMT *km2 = EVP_KEYMGMT_fetch(libctx, MCX_PROV_ECCSI_NAME, MCX_PROV_PROPQ);

	CHECK(kem != NULL);
	CHECK(sig != NULL);
	CHECK(km1 != NULL);
	CHECK(km2 != NULL);
	if (kem != NULL)
		CHECK_EQ_STR(OSSL_PROVIDER_get0_name(EVP_KEM_get0_provider(kem)), MCX_PROV_NAME);
	EVP_KEM_free(kem);
	EVP_SIGNATURE_free(sig);
	EVP_KEYMGMT_free(km1);
	EVP_KEYMGMT_free(km2);
}

/* ---- SAKKE ----------------------------------------------------------------- */

TEST(sakke_rfc6508_vector_decapsulates_through_evp)
{
	EVP_PKEY *k = sakke_key(sZ, sb, sb_len, srsk);
	uint8_t ssv[16];
	size_t len = 0;

	REQUIRE(k != NULL);
	CHECK_EQ_INT(EVP_PKEY_get_bits(k), 1024);
	CHECK_EQ_INT(EVP_PKEY_get_size(k), MCX_PROV_SAKKE_ENCAP_LEN);
	CHECK(evp_decap(k, ssed, sizeof(ssed), NULL, &len));   /* length query */
	CHECK_EQ_INT(len, 16);
	len = sizeof(ssv);
	CHECK(evp_decap(k, ssed, sizeof(ssed), ssv, &len));
	CHECK_EQ_INT(len, 16);
	CHECK_MEM(ssv, sssv, 16);
	EVP_PKEY_free(k);
}

TEST(sakke_evp_encapsulate_module_decapsulates)
{
	EVP_PKEY *pub = sakke_key(sZ, sb, sb_len, NULL);
	EVP_PKEY_CTX *c = NULL;
	uint8_t wrapped[273], secret[16], ssv[16], secret2[16], wrapped2[273];
	size_t wlen = 0, slen = 0;

	REQUIRE(pub != NULL);
	REQUIRE((c = EVP_PKEY_CTX_new_from_pkey(libctx, pub, NULL)) != NULL);
	CHECK(EVP_PKEY_encapsulate_init(c, NULL) == 1);
	CHECK(EVP_PKEY_encapsulate(c, NULL, &wlen, NULL, &slen) == 1);
	CHECK_EQ_INT(wlen, 273);
	CHECK_EQ_INT(slen, 16);
	wlen = sizeof(wrapped);
	slen = sizeof(secret);
	CHECK(EVP_PKEY_encapsulate(c, wrapped, &wlen, secret, &slen) == 1);
	CHECK_EQ_INT(wlen, 273);
	CHECK_EQ_INT(slen, 16);
	CHECK_OK(mcx_sakke_decapsulate(sp, sZ, sb, sb_len, srsk, wrapped, wlen, ssv));
	CHECK_MEM(ssv, secret, 16);
	/* A fresh SSV each time. */
	wlen = sizeof(wrapped2);
	slen = sizeof(secret2);
	CHECK(EVP_PKEY_encapsulate(c, wrapped2, &wlen, secret2, &slen) == 1);
	CHECK(memcmp(secret, secret2, 16) != 0);
	CHECK(memcmp(wrapped, wrapped2, 273) != 0);
	/* A public key cannot decapsulate. */
	CHECK(EVP_PKEY_decapsulate_init(c, NULL) != 1);
	ERR_clear_error();
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(pub);
}

TEST(sakke_module_encapsulate_evp_decapsulates)
{
	EVP_PKEY *k = sakke_key(sZ, sb, sb_len, srsk);
	uint8_t ssv[16], enc[273], out[16];
	size_t len = sizeof(out);

	REQUIRE(k != NULL);
	REQUIRE(RAND_bytes(ssv, sizeof(ssv)) == 1);
	CHECK_OK(mcx_sakke_encapsulate(sp, sZ, sb, sb_len, ssv, enc));
	CHECK(evp_decap(k, enc, sizeof(enc), out, &len));
	CHECK_MEM(out, ssv, 16);
	EVP_PKEY_free(k);
}

TEST(sakke_one_bit_changes_rejected)
{
	EVP_PKEY *k = sakke_key(sZ, sb, sb_len, srsk), *other = NULL;
	uint8_t enc[273], out[16], b2[64];
	size_t len, i;
	static const size_t pos[] = { 1, 100, 256, 257, 272 };

	REQUIRE(k != NULL);
	for (i = 0; i < MCX_ARRAY_SIZE(pos); i++) {
		memcpy(enc, ssed, sizeof(enc));
		enc[pos[i]] ^= 0x01;
		len = sizeof(out);
		CHECK(!evp_decap(k, enc, sizeof(enc), out, &len));
	}
	len = sizeof(out);
	CHECK(!evp_decap(k, ssed, 272, out, &len));   /* short */
	/* The same RSK under a one-bit different identity. */
	memcpy(b2, sb, sb_len);
	b2[0] ^= 0x01;
	REQUIRE((other = sakke_key(sZ, b2, sb_len, srsk)) != NULL);
	len = sizeof(out);
	CHECK(!evp_decap(other, ssed, sizeof(ssed), out, &len));
	EVP_PKEY_free(other);
	EVP_PKEY_free(k);
}

TEST(sakke_key_validation)
{
	EVP_PKEY *good = sakke_key(sZ, sb, sb_len, srsk), *wrong = NULL, *flip = NULL, *pub = NULL;
	uint8_t z[128], b2[64], rsk2[257], rskf[257];

	REQUIRE(good != NULL);
	CHECK(evp_check(good, 0));
	CHECK(evp_check(good, 1));
	/* A valid RSK, but for another identity. */
	REQUIRE(hexdec(V6508_z_S, z, sizeof(z), 128) == 128);
	memcpy(b2, sb, sb_len);
	b2[sb_len - 2] ^= 0x01;
	REQUIRE(mcx_sakke_rsk_issue(sp, z, b2, sb_len, rsk2) == 0);
	REQUIRE((wrong = sakke_key(sZ, sb, sb_len, rsk2)) != NULL);
	CHECK(!evp_check(wrong, 0));
	CHECK(evp_check(wrong, 1));          /* its public half is fine */
	memcpy(rskf, srsk, sizeof(rskf));
	rskf[200] ^= 0x10;
	REQUIRE((flip = sakke_key(sZ, sb, sb_len, rskf)) != NULL);
	CHECK(!evp_check(flip, 0));
	/* Z off the curve. */
	memcpy(rskf, sZ, sizeof(rskf));
	rskf[3] ^= 0x01;
	REQUIRE((pub = sakke_key(rskf, sb, sb_len, NULL)) != NULL);
	CHECK(!evp_check(pub, 1));
	/* Sizes are checked at import. */
	CHECK(make_key(MCX_PROV_SAKKE_NAME, MCX_PROV_PARAM_KMS_PUBLIC_KEY, sZ, 256, sb, sb_len,
		       MCX_PROV_PARAM_RSK, NULL, 0, NULL) == NULL);
	CHECK(make_key(MCX_PROV_SAKKE_NAME, MCX_PROV_PARAM_KMS_PUBLIC_KEY, sZ, 257, sb, sb_len,
		       MCX_PROV_PARAM_RSK, srsk, 256, NULL) == NULL);
	ERR_clear_error();
	OPENSSL_cleanse(z, sizeof(z));
	EVP_PKEY_free(pub);
	EVP_PKEY_free(flip);
	EVP_PKEY_free(wrong);
	EVP_PKEY_free(good);
}

/* ---- ECCSI ------------------------------------------------------------------ */

TEST(eccsi_rfc6507_signature_verifies_through_evp)
{
	EVP_PKEY *pub = eccsi_key(eK, eid, eid_len, NULL, NULL);
	EVP_PKEY_CTX *c = NULL;

	REQUIRE(pub != NULL);
	CHECK_EQ_INT(EVP_PKEY_get_size(pub), MCX_PROV_ECCSI_SIG_LEN);
	CHECK(evp_verify(pub, esig, sizeof(esig), em, em_len));
	REQUIRE((c = EVP_PKEY_CTX_new_from_pkey(libctx, pub, NULL)) != NULL);
	CHECK(EVP_PKEY_verify_init(c) == 1);
	CHECK(EVP_PKEY_verify(c, esig, sizeof(esig), em, em_len) == 1);
	/* A public key cannot sign. */
	CHECK(EVP_PKEY_sign_init(c) != 1);
	ERR_clear_error();
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(pub);
}

TEST(eccsi_evp_signatures_verify_with_module)
{
	EVP_PKEY *k = eccsi_key(eK, eid, eid_len, essk, epvt);
	EVP_MD_CTX *md = NULL;
	EVP_PKEY_CTX *c = NULL;
	static const uint8_t msg[] = "MIKEY-SAKKE I_MESSAGE stand-in";
	uint8_t sig[129];
	size_t len = 0;

	REQUIRE(k != NULL);
	/* One-shot EVP_DigestSign, NULL digest. */
	REQUIRE((md = EVP_MD_CTX_new()) != NULL);
	CHECK(EVP_DigestSignInit_ex(md, NULL, NULL, libctx, NULL, k, NULL) == 1);
	CHECK(EVP_DigestSign(md, NULL, &len, msg, sizeof(msg)) == 1);
	CHECK_EQ_INT(len, 129);
	len = sizeof(sig);
	CHECK(EVP_DigestSign(md, sig, &len, msg, sizeof(msg)) == 1);
	CHECK_EQ_INT(len, 129);
	CHECK_OK(mcx_eccsi_verify(ep, eK, eid, eid_len, msg, sizeof(msg), sig, len));
	CHECK_MEM(sig + 64, epvt, 65);
	EVP_MD_CTX_free(md);
	/* Streaming: update in pieces, final. */
	REQUIRE((md = EVP_MD_CTX_new()) != NULL);
	CHECK(EVP_DigestSignInit_ex(md, NULL, NULL, libctx, NULL, k, NULL) == 1);
	CHECK(EVP_DigestSignUpdate(md, msg, 10) == 1);
	CHECK(EVP_DigestSignUpdate(md, msg + 10, sizeof(msg) - 10) == 1);
	len = 0;
	CHECK(EVP_DigestSignFinal(md, NULL, &len) == 1);
	CHECK_EQ_INT(len, 129);
	len = sizeof(sig);
	CHECK(EVP_DigestSignFinal(md, sig, &len) == 1);
	CHECK_OK(mcx_eccsi_verify(ep, eK, eid, eid_len, msg, sizeof(msg), sig, len));
	EVP_MD_CTX_free(md);
	/* SHA256 named explicitly is the same; another digest is refused. */
	REQUIRE((md = EVP_MD_CTX_new()) != NULL);
	CHECK(EVP_DigestSignInit_ex(md, NULL, "SHA256", libctx, NULL, k, NULL) == 1);
	EVP_MD_CTX_free(md);
	REQUIRE((md = EVP_MD_CTX_new()) != NULL);
	CHECK(EVP_DigestSignInit_ex(md, NULL, "SHA384", libctx, NULL, k, NULL) != 1);
	ERR_clear_error();
	EVP_MD_CTX_free(md);
	/* EVP_PKEY_sign takes its input as the message. */
	REQUIRE((c = EVP_PKEY_CTX_new_from_pkey(libctx, k, NULL)) != NULL);
	CHECK(EVP_PKEY_sign_init(c) == 1);
	len = 0;
	CHECK(EVP_PKEY_sign(c, NULL, &len, em, em_len) == 1);
	CHECK_EQ_INT(len, 129);
	len = sizeof(sig);
	CHECK(EVP_PKEY_sign(c, sig, &len, em, em_len) == 1);
	CHECK_OK(mcx_eccsi_verify(ep, eK, eid, eid_len, em, em_len, sig, len));
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(k);
}

TEST(eccsi_module_signatures_verify_through_evp)
{
	EVP_PKEY *pub = eccsi_key(eK, eid, eid_len, NULL, NULL);
	static const uint8_t msg[] = "a message signed by the crypto module";
	uint8_t sig[129];

	REQUIRE(pub != NULL);
	CHECK_OK(mcx_eccsi_sign(ep, eK, eid, eid_len, essk, epvt, msg, sizeof(msg), NULL, NULL, sig));
	CHECK(evp_verify(pub, sig, sizeof(sig), msg, sizeof(msg)));
	EVP_PKEY_free(pub);
}

TEST(eccsi_one_bit_changes_rejected)
{
	EVP_PKEY *pub = eccsi_key(eK, eid, eid_len, NULL, NULL), *other = NULL;
	uint8_t sig[129], m[16], id2[64];
	static const size_t pos[] = { 0, 31, 32, 63, 64 + 20, 128 };
	size_t i;

	REQUIRE(pub != NULL);
	for (i = 0; i < MCX_ARRAY_SIZE(pos); i++) {
		memcpy(sig, esig, sizeof(sig));
		sig[pos[i]] ^= 0x01;
		CHECK(!evp_verify(pub, sig, sizeof(sig), em, em_len));
	}
	memcpy(m, em, em_len);
	m[0] ^= 0x01;
	CHECK(!evp_verify(pub, esig, sizeof(esig), m, em_len));
	CHECK(!evp_verify(pub, esig, sizeof(esig) - 1, em, em_len));
	memcpy(id2, eid, eid_len);
	id2[3] ^= 0x01;
	REQUIRE((other = eccsi_key(eK, id2, eid_len, NULL, NULL)) != NULL);
	CHECK(!evp_verify(other, esig, sizeof(esig), em, em_len));
	EVP_PKEY_free(other);
	EVP_PKEY_free(pub);
}

TEST(eccsi_key_validation)
{
	EVP_PKEY *good = eccsi_key(eK, eid, eid_len, essk, epvt), *bad = NULL, *badpvt = NULL, *pub = NULL;
	uint8_t ssk[32], pvt[65], kpak[65];

	REQUIRE(good != NULL);
	CHECK(evp_check(good, 0));
	CHECK(evp_check(good, 1));
	memcpy(ssk, essk, sizeof(ssk));
	ssk[31] ^= 0x01;
	REQUIRE((bad = eccsi_key(eK, eid, eid_len, ssk, epvt)) != NULL);
	CHECK(!evp_check(bad, 0));
	memcpy(pvt, epvt, sizeof(pvt));
	pvt[40] ^= 0x01;
	REQUIRE((badpvt = eccsi_key(eK, eid, eid_len, essk, pvt)) != NULL);
	CHECK(!evp_check(badpvt, 0));
	memcpy(kpak, eK, sizeof(kpak));
	kpak[10] ^= 0x01;
	REQUIRE((pub = eccsi_key(kpak, eid, eid_len, NULL, NULL)) != NULL);
	CHECK(!evp_check(pub, 1));
	/* An SSK without its PVT is refused at import. */
	CHECK(make_key(MCX_PROV_ECCSI_NAME, MCX_PROV_PARAM_KPAK, eK, 65, eid, eid_len,
		       MCX_PROV_PARAM_SSK, essk, 32, NULL) == NULL);
	ERR_clear_error();
	EVP_PKEY_free(pub);
	EVP_PKEY_free(badpvt);
	EVP_PKEY_free(bad);
	EVP_PKEY_free(good);
}

/* ---- key objects ------------------------------------------------------------- */

TEST(todata_fromdata_round_trip)
{
	EVP_PKEY *k = eccsi_key(eK, eid, eid_len, essk, epvt), *s = sakke_key(sZ, sb, sb_len, srsk);
	EVP_PKEY *k2 = NULL, *pubonly = NULL;
	OSSL_PARAM *params = NULL;
	const OSSL_PARAM *p;
	EVP_PKEY_CTX *pc = NULL;
	uint8_t buf[300];
	size_t len = 0;

	REQUIRE(k != NULL && s != NULL);
	REQUIRE(EVP_PKEY_todata(k, EVP_PKEY_KEYPAIR, &params) == 1);
	CHECK((p = OSSL_PARAM_locate_const(params, MCX_PROV_PARAM_SSK)) != NULL &&
	      p->data_size == 32 && memcmp(p->data, essk, 32) == 0);
	REQUIRE((pc = EVP_PKEY_CTX_new_from_name(libctx, MCX_PROV_ECCSI_NAME, MCX_PROV_PROPQ)) != NULL);
	CHECK(EVP_PKEY_fromdata_init(pc) == 1);
	CHECK(EVP_PKEY_fromdata(pc, &k2, EVP_PKEY_KEYPAIR, params) == 1);
	CHECK(k2 != NULL && EVP_PKEY_eq(k, k2) == 1);
	CHECK(EVP_PKEY_eq(k, s) != 1);
	/* Public values through get_params; the private part does not leave that way. */
	CHECK(EVP_PKEY_get_octet_string_param(s, MCX_PROV_PARAM_KMS_PUBLIC_KEY, buf, sizeof(buf), &len) == 1);
	CHECK(len == 257 && memcmp(buf, sZ, 257) == 0);
	CHECK(EVP_PKEY_get_octet_string_param(s, MCX_PROV_PARAM_RSK, buf, sizeof(buf), &len) != 1);
	pubonly = sakke_key(sZ, sb, sb_len, NULL);
	CHECK(pubonly != NULL && EVP_PKEY_eq(s, pubonly) == 1);
	ERR_clear_error();
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(pc);
	EVP_PKEY_free(pubonly);
	EVP_PKEY_free(k2);
	EVP_PKEY_free(s);
	EVP_PKEY_free(k);
}

/* PEM text of a BIO as a NUL-terminated string (valid until the BIO changes). */
static const char *bio_text(BIO *b)
{
	char *p = NULL;

	if (BIO_write(b, "", 1) != 1 || BIO_get_mem_data(b, &p) <= 0)
		return "";
	return p;
}

TEST(pem_encoder_decoder_round_trip)
{
	EVP_PKEY *e = eccsi_key(eK, eid, eid_len, essk, epvt), *s = sakke_key(sZ, sb, sb_len, srsk);
	EVP_PKEY *e2 = NULL, *s2 = NULL, *spub = NULL, *bad = NULL;
	BIO *b = NULL;
	EVP_PKEY_CTX *c = NULL;
	uint8_t out[16], ssv[16], enc[273];
	size_t len = sizeof(out);
	char *text = NULL, *q;

	REQUIRE(e != NULL && s != NULL);
	/* ECCSI private key: PEM_write_bio_PrivateKey / PEM_read_bio_PrivateKey_ex. */
	REQUIRE((b = BIO_new(BIO_s_mem())) != NULL);
	CHECK(PEM_write_bio_PrivateKey(b, e, NULL, NULL, 0, NULL, NULL) == 1);
	CHECK(strncmp(bio_text(b), "-----BEGIN " MCX_PROV_PEM_ECCSI_PRIVATE "-----\n", 38) == 0);
	BIO_free(b);
	REQUIRE((b = BIO_new(BIO_s_mem())) != NULL);
	CHECK(PEM_write_bio_PrivateKey(b, e, NULL, NULL, 0, NULL, NULL) == 1);
	CHECK((e2 = PEM_read_bio_PrivateKey_ex(b, NULL, NULL, NULL, libctx, NULL)) != NULL);
	CHECK(e2 != NULL && EVP_PKEY_eq(e, e2) == 1 && evp_check(e2, 0));
	CHECK(e2 != NULL && EVP_PKEY_is_a(e2, MCX_PROV_ECCSI_NAME));
	BIO_free(b);
	/* SAKKE private key, then its public half through PEM_write_bio_PUBKEY. */
	REQUIRE((b = BIO_new(BIO_s_mem())) != NULL);
	CHECK(PEM_write_bio_PrivateKey(b, s, NULL, NULL, 0, NULL, NULL) == 1);
	CHECK((s2 = PEM_read_bio_PrivateKey_ex(b, NULL, NULL, NULL, libctx, NULL)) != NULL);
	CHECK(s2 != NULL && evp_decap(s2, ssed, sizeof(ssed), out, &len) && memcmp(out, sssv, 16) == 0);
	BIO_free(b);
	REQUIRE((b = BIO_new(BIO_s_mem())) != NULL);
	CHECK(PEM_write_bio_PUBKEY(b, s) == 1);
	text = OPENSSL_strdup(bio_text(b));
	CHECK(text != NULL && strstr(text, "-----BEGIN " MCX_PROV_PEM_SAKKE_PUBLIC "-----") == text);
	BIO_free(b);
	REQUIRE(text != NULL && strlen(text) > 100);
	REQUIRE((b = BIO_new_mem_buf(text, -1)) != NULL);
	CHECK((spub = PEM_read_bio_PUBKEY_ex(b, NULL, NULL, NULL, libctx, NULL)) != NULL);
	CHECK(spub != NULL && EVP_PKEY_eq(s, spub) == 1);
	BIO_free(b);
	b = NULL;
	/* The public key encapsulates to the private one. */
	if (spub != NULL && (c = EVP_PKEY_CTX_new_from_pkey(libctx, spub, NULL)) != NULL) {
		size_t wl = sizeof(enc), sl = sizeof(ssv);

		CHECK(EVP_PKEY_encapsulate_init(c, NULL) == 1 && EVP_PKEY_encapsulate(c, enc, &wl, ssv, &sl) == 1);
		len = sizeof(out);
		CHECK(evp_decap(s, enc, wl, out, &len) && memcmp(out, ssv, 16) == 0);
	}
	/* A changed body (a base64 character of the KMS key) is refused. */
	q = text + strlen("-----BEGIN " MCX_PROV_PEM_SAKKE_PUBLIC "-----\n") + 2;
	*q = *q == 'A' ? 'B' : 'A';
	REQUIRE((b = BIO_new_mem_buf(text, (int)strlen(text) - 30)) != NULL);   /* truncated too */
	CHECK((bad = PEM_read_bio_PUBKEY_ex(b, NULL, NULL, NULL, libctx, NULL)) == NULL);
	ERR_clear_error();
	BIO_free(b);
	OPENSSL_free(text);
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(bad);
	EVP_PKEY_free(spub);
	EVP_PKEY_free(s2);
	EVP_PKEY_free(e2);
	EVP_PKEY_free(s);
	EVP_PKEY_free(e);
}

/*
 * Threads sharing keys in a fresh library context: the crypto module's
 * parameters are created on first use, concurrently here.
 */
struct thread_arg {
	EVP_PKEY *sakke, *eccsi;
	OSSL_LIB_CTX *lc;
	int ok;
};

static void *worker(void *varg)
{
	struct thread_arg *a = varg;
	EVP_PKEY_CTX *c = NULL;
	EVP_MD_CTX *md = NULL;
	uint8_t enc[273], ssv[16], out[16], sig[129];
	size_t wl = sizeof(enc), sl = sizeof(ssv), ol = sizeof(out), gl = sizeof(sig);
	int i;

	a->ok = 1;
	for (i = 0; i < 3 && a->ok; i++) {
		a->ok = (c = EVP_PKEY_CTX_new_from_pkey(a->lc, a->sakke, NULL)) != NULL &&
			EVP_PKEY_encapsulate_init(c, NULL) == 1 && EVP_PKEY_encapsulate(c, enc, &wl, ssv, &sl) == 1 &&
			EVP_PKEY_decapsulate_init(c, NULL) == 1 && EVP_PKEY_decapsulate(c, out, &ol, enc, wl) == 1 &&
			memcmp(out, ssv, 16) == 0;
		EVP_PKEY_CTX_free(c);
		c = NULL;
		a->ok = a->ok && (md = EVP_MD_CTX_new()) != NULL &&
			EVP_DigestSignInit_ex(md, NULL, NULL, a->lc, NULL, a->eccsi, NULL) == 1 &&
			EVP_DigestSign(md, sig, &gl, ssv, sizeof(ssv)) == 1 &&
			mcx_eccsi_verify(ep, eK, eid, eid_len, ssv, sizeof(ssv), sig, gl) == 0;
		EVP_MD_CTX_free(md);
		md = NULL;
	}
	return NULL;
}

TEST(threads_share_keys_and_parameters)
{
	OSSL_LIB_CTX *saved = libctx, *lc = OSSL_LIB_CTX_new();
	OSSL_PROVIDER *d = NULL, *m = NULL;
	struct thread_arg a[4];
	pthread_t t[4];
	EVP_PKEY *s = NULL, *e = NULL;
	int i, started = 0;

	REQUIRE(lc != NULL);
	d = OSSL_PROVIDER_load(lc, "default");
	if (OSSL_PROVIDER_set_default_search_path(lc, provider_dir) == 1)
		m = OSSL_PROVIDER_load(lc, "mcxvault");
	libctx = lc;
	s = sakke_key(sZ, sb, sb_len, srsk);
	e = eccsi_key(eK, eid, eid_len, essk, epvt);
	libctx = saved;
	CHECK(d != NULL && m != NULL && s != NULL && e != NULL);
	if (s != NULL && e != NULL) {
		for (i = 0; i < 4; i++) {
			a[i] = (struct thread_arg){ s, e, lc, 0 };
			if (pthread_create(&t[i], NULL, worker, &a[i]) != 0)
				break;
			started++;
		}
		for (i = 0; i < started; i++)
			(void)pthread_join(t[i], NULL);
		CHECK_EQ_INT(started, 4);
		for (i = 0; i < started; i++)
			CHECK(a[i].ok);
	}
	EVP_PKEY_free(e);
	EVP_PKEY_free(s);
	OSSL_PROVIDER_unload(m);
	OSSL_PROVIDER_unload(d);
	OSSL_LIB_CTX_free(lc);
}

/* ---- main --------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	OSSL_PROVIDER *def = NULL, *mcx = NULL;
	const char *dir = getenv("MCXVAULT_PROVIDER_DIR");
	char self[PATH_MAX], pdir[PATH_MAX];

	if (dir == NULL || dir[0] == '\0') {
		/* $B/tests/test_provider_mcx -> $B */
		snprintf(self, sizeof(self), "%s", argv[0]);
		snprintf(pdir, sizeof(pdir), "%s/..", dirname(self));
		dir = pdir;
	}
	if (!load_vectors() || mcx_sakke_params_new(&sp) != 0 || mcx_eccsi_params_new(&ep) != 0 ||
	    (libctx = OSSL_LIB_CTX_new()) == NULL ||
	    OSSL_PROVIDER_set_default_search_path(libctx, dir) != 1 ||
	    (def = OSSL_PROVIDER_load(libctx, "default")) == NULL ||
	    (mcx = OSSL_PROVIDER_load(libctx, "mcxvault")) == NULL) {
		printf("FAIL - setup: cannot load %s/mcxvault.so\n", dir);
		ERR_print_errors_fp(stdout);
		printf("provider-mcx: 0 passed, 1 failed\n");
		return 1;
	}
	provider_dir = dir;
	RUN(algorithms_registered_with_provider_property);
	RUN(sakke_rfc6508_vector_decapsulates_through_evp);
	RUN(sakke_evp_encapsulate_module_decapsulates);
	RUN(sakke_module_encapsulate_evp_decapsulates);
	RUN(sakke_one_bit_changes_rejected);
	RUN(sakke_key_validation);
	RUN(eccsi_rfc6507_signature_verifies_through_evp);
	RUN(eccsi_evp_signatures_verify_with_module);
	RUN(eccsi_module_signatures_verify_through_evp);
	RUN(eccsi_one_bit_changes_rejected);
	RUN(eccsi_key_validation);
	RUN(todata_fromdata_round_trip);
	RUN(pem_encoder_decoder_round_trip);
	RUN(threads_share_keys_and_parameters);

	OSSL_PROVIDER_unload(mcx);
	OSSL_PROVIDER_unload(def);
	OSSL_LIB_CTX_free(libctx);
	mcx_eccsi_params_free(ep);
	mcx_sakke_params_free(sp);
	return test_summary("provider-mcx");
}
