/*
 * mcxvault — the KMS service (vault/kms/) tested from outside, over the real
 * socket of real vaultd processes on throw-away SoftHSM tokens, the way a KMS
 * front end and its MCX clients would use it:
 *
 *   - kms.user_keys for several users and key periods, each key set checked
 *     with the crypto module as a client would (UID recomputed, RSK
 *     validated under Z from kms.certificate, an SSV encapsulated to the UID
 *     and decapsulated with the RSK, ECCSI sign/verify under KPAK), with and
 *     without an RFC 5649 transport key;
 *   - kms.certificate verified by our parser and by the stock xmlsec1 with
 *     the domain's PEM; kms.cert_cache's JWS verified with that PEM;
 *   - KMS rotation and retirement;
 *   - external trust between two vaults (two tokens, two domains), with the
 *     signing key as PEM and as JWK, surviving a restart;
 *   - bad input, each a documented error and nothing stored;
 *   - a signer-only caller refused (as nobody, when run as root).
 *
 * Certificates that no vault will sign (expired, not yet valid, revoked,
 * Role External) are built here with kms_cert_to_xml() and a software P-256
 * key, as a foreign KMS would.  Ends with "kms: N passed, N failed".
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "mcxvault.h"
#include "mcx/eccsi.h"
#include "mcx/sakke.h"
#include "mcx/uid.h"
#include "mcx/util.h"
#include "tests/lib/vault_fixture.h"
#include "tests/test.h"
#include "vault/kms/kms_cert.h"

#define A_DOMAIN "a.example"
#define C_DOMAIN "c.example"
#define XMLSEC_ID_ATTR "--id-attr:Id urn:3gpp:ns:mcsecKMSInterface:1.0:KmsCertificate"
#define FOREIGN_KMS_URI "kms.foreign.example"

static struct test_vault vault_a, vault_b;
static struct mcxvault *va, *vb;
static struct mcx_sakke_params *sakke;
static struct mcx_eccsi_params *eccsi;
static char tmpdir[64];
static int have_xmlsec1;

/* ---- RPC helpers ------------------------------------------------------------ */

/* Calls method with params (stolen). */
static int rpc(struct mcxvault *v, const char *method, json_t *params, json_t **res, struct mcxvault_error *e)
{
	struct mcxvault_error local;
	int r;

	if (e == NULL)
		e = &local;
	memset(e, 0, sizeof(*e));
	r = mcxvault_call(v, method, params, res, e);
	json_decref(params);
	if (r != 0 && e == &local)
		printf("  %s: %s (%s, %d)\n", method, e->message, e->name, e->rpc_code);
	return r;
}

/* 1 when method(params) fails with exactly rpc_code; says what happened otherwise. */
static int expect_error(struct mcxvault *v, const char *method, json_t *params, int rpc_code, const char *label)
{
	struct mcxvault_error e;
	json_t *res = NULL;
	int r = rpc(v, method, params, &res, &e);

	if (r == 0) {
		printf("  %s: %s succeeded, expected error %d\n", label, method, rpc_code);
		json_decref(res);
		return 0;
	}
	if (e.rpc_code != rpc_code) {
		printf("  %s: %s gave %d %s (%s), expected %d\n", label, method, e.rpc_code, e.name, e.message,
		       rpc_code);
		return 0;
	}
	if (e.message[0] == '\0') {
		printf("  %s: error %d without a message\n", label, rpc_code);
		return 0;
	}
	return 1;
}

static json_t *dparams(const char *domain)
{
	return json_pack("{s:s}", "domain", domain);
}

/* The compact JSON text of a result (for "nothing changed" comparisons). */
static char *snapshot(struct mcxvault *v, const char *method, const char *domain)
{
	json_t *res = NULL;
	char *s = NULL;

	if (rpc(v, method, dparams(domain), &res, NULL) == 0)
		s = json_dumps(res, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(res);
	return s;
}

static int same_snapshot(const char *before, struct mcxvault *v, const char *method, const char *domain)
{
	char *now = snapshot(v, method, domain);
	int same = before != NULL && now != NULL && strcmp(before, now) == 0;

	if (!same)
		printf("  %s %s changed:\n    before %s\n    after  %s\n", method, domain, before ? before : "-",
		       now ? now : "-");
	free(now);
	return same;
}

/* ---- decoding --------------------------------------------------------------- */

/* base64url member into a new buffer. */
static struct mcx_buf *b64_member(const json_t *obj, const char *name)
{
	const json_t *s = json_object_get(obj, name);
	struct mcx_buf *b;

	if (!json_is_string(s) || (b = mcx_buf_new(json_string_length(s) + 4)) == NULL)
		return NULL;
	if (mcx_base64url_decode(b, json_string_value(s), json_string_length(s)) != 0) {
		mcx_buf_free(b);
		return NULL;
	}
	return b;
}

static int hex_member(const json_t *obj, const char *name, uint8_t *out, size_t len)
{
	const json_t *s = json_object_get(obj, name);
	struct mcx_buf *b;
	int ok;

	if (!json_is_string(s) || (b = mcx_buf_new(len + 1)) == NULL)
		return -1;
	ok = mcx_hex_decode(b, json_string_value(s), json_string_length(s)) == 0 && mcx_buf_len(b) == len;
	if (ok)
		memcpy(out, mcx_buf_ptr(b), len);
	mcx_buf_free(b);
	return ok ? 0 : -1;
}

static int time_member(const json_t *obj, const char *name, int64_t *t)
{
	const char *s = json_string_value(json_object_get(obj, name));

	return s != NULL && mcx_time_parse(s, t) == 0 ? 0 : -1;
}

static char *hex_string(const uint8_t *data, size_t len)
{
	char *s = malloc(2 * len + 1);

	for (size_t i = 0; s != NULL && i < len; i++)
		snprintf(s + 2 * i, 3, "%02x", data[i]);
	return s;
}

/* ---- what a client knows about a KMS ------------------------------------------ */

struct home_cert {
	uint32_t version;
	char state[16];
	char kms_uri[256], cert_uri[512], signed_by[160];
	int64_t period, offset, valid_from, valid_to;
	uint8_t z[MCX_SAKKE_POINT_LEN], kpak[MCX_ECCSI_POINT_LEN];
	char *xml;
};

static void home_cert_clear(struct home_cert *hc)
{
	free(hc->xml);
	memset(hc, 0, sizeof(*hc));
}

/* kms.certificate, decoded; version 0: the active one. */
static int get_home_cert(struct mcxvault *v, const char *domain, uint32_t version, struct home_cert *hc)
{
	json_t *p = dparams(domain), *res = NULL, *c;
	int ok = 0;

	memset(hc, 0, sizeof(*hc));
	if (version > 0)
		json_object_set_new(p, "version", json_integer(version));
	if (rpc(v, "kms.certificate", p, &res, NULL) != 0)
		return -1;
	c = json_object_get(res, "certificate");
	if (json_is_string(json_object_get(res, "xml")) && json_is_object(c) &&
	    hex_member(c, "pub_enc_key", hc->z, sizeof(hc->z)) == 0 &&
	    hex_member(c, "pub_auth_key", hc->kpak, sizeof(hc->kpak)) == 0 &&
	    time_member(c, "valid_from", &hc->valid_from) == 0 && time_member(c, "valid_to", &hc->valid_to) == 0 &&
	    json_is_integer(json_object_get(c, "user_key_period")) &&
	    json_is_integer(json_object_get(c, "user_key_offset")) &&
	    json_is_string(json_object_get(c, "kms_uri")) && json_is_string(json_object_get(res, "cert_uri")) &&
	    json_is_string(json_object_get(res, "state")) && json_is_string(json_object_get(res, "signed_by"))) {
		hc->version = (uint32_t)json_integer_value(json_object_get(res, "version"));
		snprintf(hc->state, sizeof(hc->state), "%s", json_string_value(json_object_get(res, "state")));
		snprintf(hc->kms_uri, sizeof(hc->kms_uri), "%s", json_string_value(json_object_get(c, "kms_uri")));
		snprintf(hc->cert_uri, sizeof(hc->cert_uri), "%s", json_string_value(json_object_get(res, "cert_uri")));
		snprintf(hc->signed_by, sizeof(hc->signed_by), "%s",
			 json_string_value(json_object_get(res, "signed_by")));
		hc->period = json_integer_value(json_object_get(c, "user_key_period"));
		hc->offset = json_integer_value(json_object_get(c, "user_key_offset"));
		hc->xml = strdup(json_string_value(json_object_get(res, "xml")));
		ok = hc->xml != NULL && strcmp(json_string_value(json_object_get(c, "cert_uri")), hc->cert_uri) == 0;
	}
	if (!ok)
		printf("  kms.certificate %s: unexpected result\n", domain);
	json_decref(res);
	return ok ? 0 : -1;
}

struct sign_key {
	uint8_t point[65];
	char *pem;
	json_t *jwk;
};

static void sign_key_clear(struct sign_key *k)
{
	free(k->pem);
	json_decref(k->jwk);
	memset(k, 0, sizeof(*k));
}

/* sign.public_key of a purpose: PEM, JWK and the point (from the JWK's x and y). */
static int get_key(struct mcxvault *v, const char *domain, const char *purpose, int64_t version, struct sign_key *k)
{
	struct mcxvault_error e;
	json_t *res = NULL, *params = json_pack("{s:s, s:s}", "domain", domain, "purpose", purpose);
	struct mcx_buf *x = NULL, *y = NULL;
	int ok = 0;

	memset(k, 0, sizeof(*k));
	if (params != NULL && version > 0)
		json_object_set_new(params, "version", json_integer(version));
	if (mcxvault_call(v, "sign.public_key", params, &res, &e) != 0) {
		printf("  sign.public_key %s %s: %s\n", domain, purpose, e.message);
		json_decref(params);
		return -1;
	}
	json_decref(params);
	if (json_is_string(json_object_get(res, "pem")))
		k->pem = strdup(json_string_value(json_object_get(res, "pem")));
	k->jwk = json_incref(json_object_get(res, "jwk"));
	if (k->pem != NULL && (x = b64_member(k->jwk, "x")) != NULL && (y = b64_member(k->jwk, "y")) != NULL &&
	    mcx_buf_len(x) == 32 && mcx_buf_len(y) == 32) {
		k->point[0] = 0x04;
		memcpy(k->point + 1, mcx_buf_ptr(x), 32);
		memcpy(k->point + 33, mcx_buf_ptr(y), 32);
		ok = 1;
	}
	mcx_buf_free(x);
	mcx_buf_free(y);
	json_decref(res);
	return ok ? 0 : -1;
}

static EVP_PKEY *pem_public(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = bio != NULL ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;

	BIO_free(bio);
	return k;
}

/* ECDSA P-256 / SHA-256 of data with a raw r||s signature, as a JOSE client checks ES256. */
static int es256_verify(EVP_PKEY *pub, const void *data, size_t len, const uint8_t sig[64])
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
	unsigned char *der = NULL;
	int der_len, ok = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (es != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(es, r, s) == 1) {
		r = s = NULL;
		if ((der_len = i2d_ECDSA_SIG(es, &der)) > 0 && md != NULL &&
		    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) == 1)
			ok = EVP_DigestVerify(md, der, (size_t)der_len, data, len) == 1;
	}
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	OPENSSL_free(der);
	EVP_MD_CTX_free(md);
	return ok;
}

/* ---- files and xmlsec1 ------------------------------------------------------ */

static int write_text(const char *name, const char *text)
{
	char path[160];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	ok = fputs(text, f) >= 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* The documented command: xmlsec1 --verify --pubkey-pem PEM --id-attr:Id ... CERT; its exit status. */
static int xmlsec_verify(const char *pem, const char *xml)
{
	char cmd[512];

	if (write_text("check.pem", pem) != 0 || write_text("check.xml", xml) != 0)
		return -1;
	snprintf(cmd, sizeof(cmd),
		 "xmlsec1 --verify --pubkey-pem %s/check.pem " XMLSEC_ID_ATTR " %s/check.xml >%s/xmlsec.log 2>&1",
		 tmpdir, tmpdir, tmpdir);
	return system(cmd);
}

/* A copy of s with the first from replaced by to; NULL if from is absent. */
static char *replace(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);
	size_t n;
	char *o;

	if (at == NULL)
		return NULL;
	n = strlen(s) - strlen(from) + strlen(to);
	if ((o = malloc(n + 1)) == NULL)
		return NULL;
	memcpy(o, s, (size_t)(at - s));
	strcpy(o + (at - s), to);
	strcat(o, at + strlen(from));
	return o;
}

/* A copy of xml with one base64 character of SignatureValue changed. */
static char *flip_signature(const char *xml)
{
	const char *tag = "<ds:SignatureValue>";
	char *o = strdup(xml), *at;

	if (o == NULL || (at = strstr(o, tag)) == NULL) {
		free(o);
		return NULL;
	}
	at += strlen(tag) + 10;
	*at = *at == 'A' ? 'B' : 'A';
	return o;
}

/* ---- user keys checked as a client would ------------------------------------- */

struct user_keys {
	uint8_t uid[MCX_UID_LEN];
	uint8_t rsk[MCX_SAKKE_POINT_LEN], ssk[MCX_ECCSI_SCALAR_LEN], pvt[MCX_ECCSI_POINT_LEN];
	uint64_t period_no;
};

/* RFC 5649 unwrap under the transport key. */
static int unwrap(const struct mcx_buf *kek, const struct mcx_buf *wrapped, uint8_t *out, size_t want)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t plain[512];
	int n = 0, m = 0, ok = 0;

	if (ctx != NULL && mcx_buf_len(wrapped) <= sizeof(plain)) {
		EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
		ok = EVP_DecryptInit_ex(ctx, mcx_buf_len(kek) == 16 ? EVP_aes_128_wrap_pad() : EVP_aes_256_wrap_pad(),
					NULL, mcx_buf_ptr(kek), NULL) == 1 &&
		     EVP_DecryptUpdate(ctx, plain, &n, mcx_buf_ptr(wrapped), (int)mcx_buf_len(wrapped)) == 1 &&
		     EVP_DecryptFinal_ex(ctx, plain + n, &m) == 1 && (size_t)(n + m) == want;
		if (ok)
			memcpy(out, plain, want);
	}
	OPENSSL_cleanse(plain, sizeof(plain));
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -1;
}

/* One key (rsk/ssk/pvt) of a result, unwrapped when a transport key was given. */
static int key_member(const json_t *res, const char *name, const struct mcx_buf *transport, uint8_t *out,
		      size_t len)
{
	struct mcx_buf *b = b64_member(res, name);
	int r = -1;

	if (b == NULL)
		return -1;
	if (transport != NULL) {
		/* RFC 5649: the padded length plus the 8-octet integrity block */
		if (mcx_buf_len(b) == (len + 7) / 8 * 8 + 8)
			r = unwrap(transport, b, out, len);
	} else if (mcx_buf_len(b) == len) {
		memcpy(out, mcx_buf_ptr(b), len);
		r = 0;
	}
	mcx_buf_free(b);
	return r;
}

/*
 * kms.user_keys for (user_uri, t) on the active generation hc, with every
 * check a receiving client would do.  keys (if not NULL) gets the key set.
 * t < 0: no "time" parameter (now).
 */
static void check_user_keys(struct mcxvault *v, const char *domain, const struct home_cert *hc,
			    const char *user_uri, int64_t t, const struct mcx_buf *transport, struct user_keys *keys)
{
	json_t *p = json_pack("{s:s, s:s}", "domain", domain, "user_uri", user_uri), *res = NULL;
	struct user_keys k;
	uint64_t period_no = 0;
	int64_t start = 0, end = 0, from = 0, to = 0;
	char when[21], *uid_hex = NULL, *tk = NULL;
	uint8_t ssv[MCX_SAKKE_SSV_LEN], ssv2[MCX_SAKKE_SSV_LEN], encap[MCX_SAKKE_ENCAP_LEN];
	uint8_t sig[MCX_ECCSI_SIG_LEN];
	static const char msg[] = "MIKEY-SAKKE I_MESSAGE signed by the initiator";

	memset(&k, 0, sizeof(k));
	if (t >= 0) {
		mcx_time_format(t, when);
		json_object_set_new(p, "time", json_string(when));
	} else {
		t = mcx_time_now();
	}
	if (transport != NULL) {
		tk = mcx_base64url_string(mcx_buf_ptr(transport), mcx_buf_len(transport));
		json_object_set_new(p, "transport_key", json_string(tk));
		free(tk);
	}
	if (rpc(v, "kms.user_keys", p, &res, NULL) != 0) {
		CHECK(!"kms.user_keys failed");
		return;
	}
	/* the key period and the UID, recomputed as TS 33.180 F.2.1 says */
	CHECK_OK(mcx_uid_key_period(t, (uint64_t)hc->period, (uint64_t)hc->offset, &period_no, &start, &end));
	CHECK_OK(mcx_uid_compute(user_uri, strlen(user_uri), hc->kms_uri, strlen(hc->kms_uri), (uint64_t)hc->period,
				 (uint64_t)hc->offset, period_no, k.uid));
	k.period_no = period_no;
	uid_hex = hex_string(k.uid, sizeof(k.uid));
	CHECK_EQ_STR(json_string_value(json_object_get(res, "user_id")), uid_hex);
	free(uid_hex);
	CHECK_EQ_STR(json_string_value(json_object_get(res, "user_uri")), user_uri);
	CHECK_EQ_INT(json_integer_value(json_object_get(res, "key_period_no")), period_no);
	CHECK(time_member(res, "valid_from", &from) == 0 && from == start);
	CHECK(time_member(res, "valid_to", &to) == 0 && to == end);
	CHECK(start <= t && t <= end);
	CHECK_EQ_STR(json_string_value(json_object_get(res, "kms_uri")), hc->kms_uri);
	CHECK_EQ_STR(json_string_value(json_object_get(res, "cert_uri")), hc->cert_uri);
	CHECK_EQ_INT(json_integer_value(json_object_get(res, "kms_version")), hc->version);
	if (transport != NULL)
		CHECK_EQ_STR(json_string_value(json_object_get(res, "key_wrap")), "aes-key-wrap-pad");
	else   /* absent, not null */
		CHECK(json_object_get(res, "key_wrap") == NULL);
	if (key_member(res, "rsk", transport, k.rsk, sizeof(k.rsk)) != 0 ||
	    key_member(res, "ssk", transport, k.ssk, sizeof(k.ssk)) != 0 ||
	    key_member(res, "pvt", transport, k.pvt, sizeof(k.pvt)) != 0) {
		CHECK(!"rsk/ssk/pvt missing, of a wrong size or not unwrappable");
		json_decref(res);
		return;
	}
	/* RFC 6508 s.6.1.2 under the Z of the certificate */
	CHECK_OK(mcx_sakke_rsk_validate(sakke, hc->z, k.uid, sizeof(k.uid), k.rsk));
	/* an initiator sends an SSV to the UID; the user gets it back with the RSK */
	CHECK(RAND_bytes(ssv, sizeof(ssv)) == 1);
	CHECK_OK(mcx_sakke_encapsulate(sakke, hc->z, k.uid, sizeof(k.uid), ssv, encap));
	CHECK_OK(mcx_sakke_decapsulate(sakke, hc->z, k.uid, sizeof(k.uid), k.rsk, encap, sizeof(encap), ssv2));
	CHECK_MEM(ssv, ssv2, sizeof(ssv));
	/* RFC 6507 s.5.1.2, then a signature any peer verifies under KPAK and the UID */
	CHECK_OK(mcx_eccsi_validate(eccsi, hc->kpak, k.uid, sizeof(k.uid), k.ssk, k.pvt));
	CHECK_OK(mcx_eccsi_sign(eccsi, hc->kpak, k.uid, sizeof(k.uid), k.ssk, k.pvt, (const uint8_t *)msg,
				sizeof(msg) - 1, NULL, NULL, sig));
	CHECK_OK(mcx_eccsi_verify(eccsi, hc->kpak, k.uid, sizeof(k.uid), (const uint8_t *)msg, sizeof(msg) - 1, sig,
				  sizeof(sig)));
	CHECK(mcx_eccsi_verify(eccsi, hc->kpak, k.uid, sizeof(k.uid), (const uint8_t *)msg, sizeof(msg) - 2, sig,
			       sizeof(sig)) != 0);
	if (keys != NULL)
		*keys = k;
	mcx_wipe(&k, sizeof(k));
	json_decref(res);
}

/* ---- a foreign KMS built here (certificates no vault would sign) ------------- */

static EVP_PKEY *foreign_key;
static char *foreign_pem;
static uint8_t foreign_z[MCX_SAKKE_POINT_LEN], foreign_kpak[MCX_ECCSI_POINT_LEN];

static char *pem_of(EVP_PKEY *k)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL, *s = NULL;
	long n;

	if (bio != NULL && PEM_write_bio_PUBKEY(bio, k) == 1 && (n = BIO_get_mem_data(bio, &data)) > 0 &&
	    (s = malloc((size_t)n + 1)) != NULL) {
		memcpy(s, data, (size_t)n);
		s[n] = '\0';
	}
	BIO_free(bio);
	return s;
}

/* kms_cert_sign_fn over a software key: DER to r || s. */
static int soft_sign(void *ctx, const uint8_t digest[32], uint8_t sig[64])
{
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new(ctx, NULL);
	unsigned char der[80];
	const unsigned char *p = der;
	size_t der_len = sizeof(der);
	ECDSA_SIG *es = NULL;
	int r = MCX_ERR_CRYPTO;

	if (pctx != NULL && EVP_PKEY_sign_init(pctx) == 1 && EVP_PKEY_sign(pctx, der, &der_len, digest, 32) == 1 &&
	    (es = d2i_ECDSA_SIG(NULL, &p, (long)der_len)) != NULL &&
	    BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32) == 32 && BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32) == 32)
		r = 0;
	ECDSA_SIG_free(es);
	EVP_PKEY_CTX_free(pctx);
	return r;
}

static int foreign_setup(void)
{
	uint8_t z[MCX_SAKKE_SCALAR_LEN], ksak[MCX_ECCSI_SCALAR_LEN];
	int ok;

	if ((foreign_key = EVP_EC_gen("P-256")) == NULL || (foreign_pem = pem_of(foreign_key)) == NULL)
		return -1;
	ok = mcx_sakke_master_generate(sakke, NULL, NULL, z, foreign_z) == 0 &&
	     mcx_eccsi_kms_generate(eccsi, NULL, NULL, ksak, foreign_kpak) == 0;
	OPENSSL_cleanse(z, sizeof(z));
	OPENSSL_cleanse(ksak, sizeof(ksak));
	return ok ? 0 : -1;
}

static char *foreign_cert(const char *role, int64_t from, int64_t to, int revoked)
{
	struct kms_cert c;
	struct mcx_buf *b = mcx_buf_new(KMS_CERT_XML_MAX + 1);
	char *s = NULL;

	memset(&c, 0, sizeof(c));
	c.id = (char *)"KmsCertificate-foreign-7";
	c.role = (char *)role;
	c.kms_uri = (char *)FOREIGN_KMS_URI;
	c.cert_uri = (char *)FOREIGN_KMS_URI "/certificate/7";
	c.issuer = (char *)"a test of mcxvault";
	c.valid_from = from;
	c.valid_to = to;
	c.revoked = revoked;
	c.user_key_period = 86400;
	c.user_key_offset = 3600;
	memcpy(c.pub_enc_key, foreign_z, sizeof(c.pub_enc_key));
	memcpy(c.pub_auth_key, foreign_kpak, sizeof(c.pub_auth_key));
	c.parameter_set = 1;
	if (b != NULL && kms_cert_to_xml(&c, soft_sign, foreign_key, b) == 0 && (s = malloc(mcx_buf_len(b) + 1)) != NULL) {
		memcpy(s, mcx_buf_ptr(b), mcx_buf_len(b));
		s[mcx_buf_len(b)] = '\0';
	}
	mcx_buf_free(b);
	return s;
}

/* ---- tests ------------------------------------------------------------------ */

static struct home_cert a1;           /* a.example generation 1 */
static struct sign_key a_key;          /* a.example/cert/1: signs its KMS certificates */
static struct sign_key a_sign;         /* a.example/sign/1: sign.sign's key, trusted for nothing here */
static struct user_keys alice_keys;    /* alice, now, generation 1 */

TEST(init_domains)
{
	json_t *res = NULL;

	REQUIRE(rpc(va, "domain.init", dparams(A_DOMAIN), &res, NULL) == 0);
	json_decref(res);
	res = NULL;
	REQUIRE(rpc(va, "domain.init", dparams("b.example"), &res, NULL) == 0);
	json_decref(res);
	res = NULL;
	REQUIRE(rpc(vb, "domain.init", dparams(C_DOMAIN), &res, NULL) == 0);
	json_decref(res);
	REQUIRE(get_home_cert(va, A_DOMAIN, 0, &a1) == 0);
	REQUIRE(get_key(va, A_DOMAIN, "cert", 0, &a_key) == 0);
	REQUIRE(get_key(va, A_DOMAIN, "sign", 0, &a_sign) == 0);
	CHECK(memcmp(a_key.point, a_sign.point, sizeof(a_key.point)) != 0);
	CHECK_EQ_INT(a1.version, 1);
	CHECK_EQ_STR(a1.state, "active");
	CHECK_EQ_STR(a1.kms_uri, "kms." A_DOMAIN);
	CHECK_EQ_STR(a1.cert_uri, "kms." A_DOMAIN "/certificate/1");
	CHECK_EQ_STR(a1.signed_by, A_DOMAIN "/cert/1");
	CHECK_EQ_INT(a1.period, 2592000);
	CHECK_EQ_INT(a1.offset, 0);
	CHECK(a1.valid_from <= mcx_time_now() && mcx_time_now() < a1.valid_to);
}

TEST(user_keys_several_users_and_periods)
{
	static const char *const users[] = { "sip:alice@a.example", "tel:+4930123456",
					     "sip:\xc3\xa9lise@a.example" /* UTF-8 */ };
	int64_t now = mcx_time_now();

	REQUIRE(a1.xml != NULL);
	for (size_t u = 0; u < MCX_ARRAY_SIZE(users); u++) {
		/* without "time" (now), and the next key period */
		check_user_keys(va, A_DOMAIN, &a1, users[u], -1, NULL, u == 0 ? &alice_keys : NULL);
		check_user_keys(va, A_DOMAIN, &a1, users[u], now + a1.period, NULL, NULL);
	}
}

TEST(user_keys_are_bound_to_user_and_period)
{
	struct user_keys bob, alice_next;
	int64_t now = mcx_time_now();

	REQUIRE(alice_keys.period_no != 0);
	check_user_keys(va, A_DOMAIN, &a1, "sip:bob@a.example", -1, NULL, &bob);
	check_user_keys(va, A_DOMAIN, &a1, "sip:alice@a.example", now + 2 * a1.period, NULL, &alice_next);
	CHECK(memcmp(bob.uid, alice_keys.uid, MCX_UID_LEN) != 0);
	CHECK(memcmp(alice_next.uid, alice_keys.uid, MCX_UID_LEN) != 0);
	CHECK_EQ_INT(alice_next.period_no, alice_keys.period_no + 2);
	/* alice's RSK is not bob's, nor hers of another period */
	CHECK(mcx_sakke_rsk_validate(sakke, a1.z, bob.uid, MCX_UID_LEN, alice_keys.rsk) != 0);
	CHECK(mcx_sakke_rsk_validate(sakke, a1.z, alice_next.uid, MCX_UID_LEN, alice_keys.rsk) != 0);
	CHECK(mcx_eccsi_validate(eccsi, a1.kpak, bob.uid, MCX_UID_LEN, alice_keys.ssk, alice_keys.pvt) != 0);
	/* the same user and period twice: the same RSK (deterministic), a fresh PVT */
	{
		struct user_keys again;
		check_user_keys(va, A_DOMAIN, &a1, "sip:alice@a.example", -1, NULL, &again);
		CHECK_MEM(again.uid, alice_keys.uid, MCX_UID_LEN);
		CHECK_MEM(again.rsk, alice_keys.rsk, MCX_SAKKE_POINT_LEN);
		CHECK(memcmp(again.pvt, alice_keys.pvt, MCX_ECCSI_POINT_LEN) != 0);
	}
	/* the 2048-octet limit is inclusive */
	{
		char *uri = malloc(2049);
		REQUIRE(uri != NULL);
		memset(uri, 'u', 2048);
		memcpy(uri, "sip:", 4);
		uri[2048] = '\0';
		check_user_keys(va, A_DOMAIN, &a1, uri, -1, NULL, NULL);
		free(uri);
	}
}

TEST(user_keys_transport_key)
{
	struct mcx_buf *k16 = mcx_buf_new(16), *k32 = mcx_buf_new(32);
	uint8_t *p;
	json_t *res = NULL;
	uint8_t rsk[MCX_SAKKE_POINT_LEN];
	char *tk;

	REQUIRE(k16 != NULL && k32 != NULL);
	REQUIRE(mcx_buf_reserve(k16, 16, &p) == 0 && RAND_bytes(p, 16) == 1);
	REQUIRE(mcx_buf_reserve(k32, 32, &p) == 0 && RAND_bytes(p, 32) == 1);
	check_user_keys(va, A_DOMAIN, &a1, "sip:alice@a.example", -1, k16, NULL);
	check_user_keys(va, A_DOMAIN, &a1, "sip:dave@a.example", mcx_time_now() + a1.period, k32, NULL);
	/* another key does not unwrap it */
	tk = mcx_base64url_string(mcx_buf_ptr(k16), 16);
	REQUIRE(rpc(va, "kms.user_keys",
		    json_pack("{s:s, s:s, s:s}", "domain", A_DOMAIN, "user_uri", "sip:alice@a.example", "transport_key",
			      tk),
		    &res, NULL) == 0);
	free(tk);
	mcx_buf_reset(k16);
	REQUIRE(mcx_buf_reserve(k16, 16, &p) == 0 && RAND_bytes(p, 16) == 1);
	CHECK(key_member(res, "rsk", k16, rsk, sizeof(rsk)) != 0);
	json_decref(res);
	mcx_buf_free(k16);
	mcx_buf_free(k32);
}

/* A raw request line and the error code of its answer (0: a result). */
static int raw_request(const char *socket_path, const char *line, size_t len)
{
	struct sockaddr_un sa;
	char buf[4096];
	size_t got = 0;
	ssize_t n;
	int fd, code = 1;
	json_t *res;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return 1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", socket_path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || write(fd, line, len) != (ssize_t)len) {
		close(fd);
		return 1;
	}
	while (got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0) {
		got += (size_t)n;
		if (memchr(buf, '\n', got) != NULL)
			break;
	}
	close(fd);
	buf[got] = '\0';
	if ((res = json_loads(buf, 0, NULL)) != NULL) {
		json_t *err = json_object_get(res, "error");
		code = err != NULL ? (int)json_integer_value(json_object_get(err, "code")) : 0;
		json_decref(res);
	}
	return code;
}

TEST(user_keys_bad_input)
{
	char *before = snapshot(va, "key.list", A_DOMAIN);
	char *uri = malloc(64 * 1024 + 1);
	static const char non_utf8[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"kms.user_keys\","
				       "\"params\":{\"domain\":\"a.example\",\"user_uri\":\"sip:\xff\xfe@a.example\"}}\n";
	static const char *const tks[] = { "AAAAAAAAAAAAAAAAAAAA" /* 15 */, "AAAAAAAAAAAAAAAAAAAAAAA" /* 17 */,
					   "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" /* 33 */,
					   "AAAAAAAAAAAAAAAAAAAAAA==" /* padded */, "" };
	char when[21];

	REQUIRE(before != NULL && uri != NULL);
	CHECK(expect_error(va, "kms.user_keys", json_pack("{s:s, s:s}", "domain", "zz.example", "user_uri", "sip:x"),
			   -32002, "unknown domain"));
	CHECK(expect_error(va, "kms.user_keys", json_pack("{s:s, s:s}", "domain", A_DOMAIN, "user_uri", ""), -32602,
			   "empty user_uri"));
	CHECK(expect_error(va, "kms.user_keys", json_pack("{s:s}", "domain", A_DOMAIN), -32602, "no user_uri"));
	CHECK(expect_error(va, "kms.user_keys", json_pack("{s:s, s:i}", "domain", A_DOMAIN, "user_uri", 7), -32602,
			   "user_uri not a string"));
	memset(uri, 'x', 64 * 1024);
	uri[64 * 1024] = '\0';
	CHECK(expect_error(va, "kms.user_keys", json_pack("{s:s, s:s}", "domain", A_DOMAIN, "user_uri", uri), -32602,
			   "64 KiB user_uri"));
	uri[2049] = '\0';
	CHECK(expect_error(va, "kms.user_keys", json_pack("{s:s, s:s}", "domain", A_DOMAIN, "user_uri", uri), -32602,
			   "2049-octet user_uri"));
	CHECK_EQ_INT(raw_request(vault_a.socket, non_utf8, sizeof(non_utf8) - 1), -32700);
	CHECK(expect_error(va, "kms.user_keys",
			   json_pack("{s:s, s:s, s:s}", "domain", A_DOMAIN, "user_uri", "sip:x", "time",
				     "1899-12-31T23:59:59Z"),
			   -32602, "time 1899"));
	CHECK(expect_error(va, "kms.user_keys",
			   json_pack("{s:s, s:s, s:s}", "domain", A_DOMAIN, "user_uri", "sip:x", "time", "yesterday"),
			   -32602, "time not RFC 3339"));
	CHECK(expect_error(va, "kms.user_keys",
			   json_pack("{s:s, s:s, s:i}", "domain", A_DOMAIN, "user_uri", "sip:x", "time", 1800000000),
			   -32602, "time a number"));
	/* outside the certificate: the period before it was issued, and after ValidTo */
	mcx_time_format(a1.valid_from - a1.period, when);
	CHECK(expect_error(va, "kms.user_keys",
			   json_pack("{s:s, s:s, s:s}", "domain", A_DOMAIN, "user_uri", "sip:x", "time", when), -32009,
			   "period before the certificate"));
	mcx_time_format(a1.valid_to + 1, when);
	CHECK(expect_error(va, "kms.user_keys",
			   json_pack("{s:s, s:s, s:s}", "domain", A_DOMAIN, "user_uri", "sip:x", "time", when), -32009,
			   "after ValidTo"));
	for (size_t i = 0; i < MCX_ARRAY_SIZE(tks); i++)
		CHECK(expect_error(va, "kms.user_keys",
				   json_pack("{s:s, s:s, s:s}", "domain", A_DOMAIN, "user_uri", "sip:x", "transport_key",
					     tks[i]),
				   -32602, tks[i]));
	CHECK(expect_error(va, "kms.user_keys",
			   json_pack("{s:s, s:s, s:s}", "domain", A_DOMAIN, "user_uri", "sip:x", "user", "typo"), -32602,
			   "unknown member"));
	CHECK(same_snapshot(before, va, "key.list", A_DOMAIN));
	free(uri);
	free(before);
}

TEST(certificate_verifies)
{
	struct kms_cert c;
	char *tampered;

	REQUIRE(a1.xml != NULL && a_key.pem != NULL);
	/* our strict parser, with the domain's cert key — and not with its sign key */
	memset(&c, 0, sizeof(c));
	CHECK(kms_cert_from_xml(a1.xml, strlen(a1.xml), a_sign.point, &c) != 0);
	kms_cert_clear(&c);
	memset(&c, 0, sizeof(c));
	CHECK_OK(kms_cert_from_xml(a1.xml, strlen(a1.xml), a_key.point, &c));
	CHECK_EQ_STR(c.role, "Root");
	CHECK_EQ_STR(c.kms_uri, a1.kms_uri);
	CHECK_EQ_STR(c.cert_uri, a1.cert_uri);
	CHECK_MEM(c.pub_enc_key, a1.z, sizeof(a1.z));
	CHECK_MEM(c.pub_auth_key, a1.kpak, sizeof(a1.kpak));
	CHECK_EQ_INT(c.valid_from, a1.valid_from);
	CHECK_EQ_INT(c.valid_to, a1.valid_to);
	CHECK_EQ_INT(c.revoked, 0);
	kms_cert_clear(&c);
	/* Z and KPAK are on their curves: the public values of real master secrets */
	CHECK(mcx_sakke_rsk_validate(sakke, a1.z, alice_keys.uid, MCX_UID_LEN, alice_keys.rsk) == 0);
	if (!have_xmlsec1)
		SKIP("xmlsec1 not installed");
	CHECK_EQ_INT(xmlsec_verify(a_key.pem, a1.xml), 0);
	tampered = replace(a1.xml, "<UserKeyPeriod>2592000<", "<UserKeyPeriod>2592001<");
	REQUIRE(tampered != NULL);
	CHECK(xmlsec_verify(a_key.pem, tampered) != 0);
	free(tampered);
	tampered = flip_signature(a1.xml);
	REQUIRE(tampered != NULL);
	CHECK(xmlsec_verify(a_key.pem, tampered) != 0);
	free(tampered);
	CHECK(xmlsec_verify(foreign_pem, a1.xml) != 0);
	CHECK(xmlsec_verify(a_sign.pem, a1.xml) != 0);
}

/* Verifies a kms.cert_cache bundle with pem; returns its payload (or NULL). */
static json_t *verify_bundle(const json_t *res, const char *pem, const char *domain)
{
	const char *bundle = json_string_value(json_object_get(res, "bundle")), *dot1, *dot2;
	struct mcx_buf *h = NULL, *pl = NULL, *sig = NULL;
	json_t *header = NULL, *payload = NULL;
	EVP_PKEY *pub = pem_public(pem);
	int ok = 0;

	if (bundle == NULL || pub == NULL || (dot1 = strchr(bundle, '.')) == NULL ||
	    (dot2 = strchr(dot1 + 1, '.')) == NULL || strchr(dot2 + 1, '.') != NULL)
		goto out;
	if ((h = mcx_buf_new(strlen(bundle))) == NULL || (pl = mcx_buf_new(strlen(bundle))) == NULL ||
	    (sig = mcx_buf_new(128)) == NULL || mcx_base64url_decode(h, bundle, (size_t)(dot1 - bundle)) != 0 ||
	    mcx_base64url_decode(pl, dot1 + 1, (size_t)(dot2 - dot1 - 1)) != 0 ||
	    mcx_base64url_decode(sig, dot2 + 1, strlen(dot2 + 1)) != 0 || mcx_buf_len(sig) != 64)
		goto out;
	/* JWS: ES256 over ASCII(header.payload), signature r || s */
	if (!es256_verify(pub, bundle, (size_t)(dot2 - bundle), mcx_buf_ptr(sig))) {
		printf("  the bundle's signature does not verify\n");
		goto out;
	}
	header = json_loadb((const char *)mcx_buf_ptr(h), mcx_buf_len(h), 0, NULL);
	payload = json_loadb((const char *)mcx_buf_ptr(pl), mcx_buf_len(pl), 0, NULL);
	ok = header != NULL && payload != NULL;
	CHECK_EQ_STR(json_string_value(json_object_get(header, "alg")), "ES256");
	CHECK_EQ_STR(json_string_value(json_object_get(header, "typ")), "mcx-kms-cert-cache+jws");
	CHECK_EQ_STR(json_string_value(json_object_get(header, "kid")), json_string_value(json_object_get(res, "kid")));
	CHECK_EQ_STR(json_string_value(json_object_get(payload, "iss")), domain);
	CHECK(json_is_integer(json_object_get(payload, "iat")));
	CHECK_EQ_INT(json_array_size(json_object_get(payload, "certificates")),
		     json_integer_value(json_object_get(res, "certificates")));
	/* one flipped bit of the signed text: no longer valid */
	{
		char *copy = strdup(bundle);
		if (copy != NULL) {
			copy[dot1 - bundle + 5] ^= 1;
			CHECK(!es256_verify(pub, copy, (size_t)(dot2 - bundle), mcx_buf_ptr(sig)));
			free(copy);
		}
	}
out:
	if (!ok) {
		json_decref(payload);
		payload = NULL;
	}
	json_decref(header);
	mcx_buf_free(h);
	mcx_buf_free(pl);
	mcx_buf_free(sig);
	EVP_PKEY_free(pub);
	return payload;
}

/* The entry for cert_uri in a bundle payload, or NULL. */
static const json_t *bundle_entry(const json_t *payload, const char *cert_uri)
{
	size_t i;
	const json_t *e;

	json_array_foreach(json_object_get(payload, "certificates"), i, e)
		if (json_is_string(json_object_get(e, "cert_uri")) &&
		    strcmp(json_string_value(json_object_get(e, "cert_uri")), cert_uri) == 0)
			return e;
	return NULL;
}

TEST(cert_cache_jws)
{
	json_t *res = NULL, *payload;
	const json_t *e;

	REQUIRE(a1.xml != NULL);
	REQUIRE(rpc(va, "kms.cert_cache", dparams(A_DOMAIN), &res, NULL) == 0);
	CHECK_EQ_STR(json_string_value(json_object_get(res, "domain")), A_DOMAIN);
	CHECK_EQ_STR(json_string_value(json_object_get(res, "kid")), A_DOMAIN "/cert/1");
	CHECK_EQ_INT(json_integer_value(json_object_get(res, "certificates")), 1);
	payload = verify_bundle(res, a_key.pem, A_DOMAIN);
	REQUIRE(payload != NULL);
	e = bundle_entry(payload, a1.cert_uri);
	CHECK(e != NULL);
	if (e != NULL) {
		CHECK_EQ_STR(json_string_value(json_object_get(e, "role")), "Root");
		CHECK_EQ_STR(json_string_value(json_object_get(e, "kms_uri")), a1.kms_uri);
		CHECK_EQ_STR(json_string_value(json_object_get(e, "xml")), a1.xml);
	}
	json_decref(payload);
	json_decref(res);
	/* another key does not verify it */
	res = NULL;
	REQUIRE(rpc(va, "kms.cert_cache", dparams(A_DOMAIN), &res, NULL) == 0);
	{
		EVP_PKEY *other = pem_public(foreign_pem);
		const char *b = json_string_value(json_object_get(res, "bundle"));
		const char *dot2 = b != NULL ? strrchr(b, '.') : NULL;
		struct mcx_buf *sig = mcx_buf_new(128);
		CHECK(other != NULL && dot2 != NULL && sig != NULL &&
		      mcx_base64url_decode(sig, dot2 + 1, strlen(dot2 + 1)) == 0 &&
		      !es256_verify(other, b, (size_t)(dot2 - b), mcx_buf_ptr(sig)));
		mcx_buf_free(sig);
		EVP_PKEY_free(other);
	}
	json_decref(res);
}

static struct home_cert c1;      /* vault B's c.example certificate */
static struct sign_key c_key;    /* and cert key */

/* external.list's entries of domain. */
static size_t external_count(struct mcxvault *v, const char *domain, json_t **list)
{
	json_t *res = NULL;
	size_t n = (size_t)-1;

	if (rpc(v, "external.list", dparams(domain), &res, NULL) == 0 &&
	    json_is_array(json_object_get(res, "external"))) {
		n = json_array_size(json_object_get(res, "external"));
		if (list != NULL)
			*list = json_incref(json_object_get(res, "external"));
	}
	json_decref(res);
	return n;
}

static json_t *import_params(const char *domain, const char *xml, json_t *key /* stolen */)
{
	return json_pack("{s:s, s:s, s:o}", "domain", domain, "certificate", xml, "signing_key", key);
}

static void check_external_entry(const json_t *e, const struct home_cert *hc, const struct sign_key *k)
{
	int64_t from = 0, to = 0, imported = 0;
	const json_t *jwk = json_object_get(e, "signing_key");

	CHECK_EQ_STR(json_string_value(json_object_get(e, "role")), "External");
	CHECK_EQ_STR(json_string_value(json_object_get(e, "kms_uri")), hc->kms_uri);
	CHECK_EQ_STR(json_string_value(json_object_get(e, "cert_uri")), hc->cert_uri);
	CHECK(time_member(e, "valid_from", &from) == 0 && from == hc->valid_from);
	CHECK(time_member(e, "valid_to", &to) == 0 && to == hc->valid_to);
	CHECK(time_member(e, "imported", &imported) == 0 && imported >= hc->valid_from &&
	      imported <= mcx_time_now());
	CHECK_EQ_INT(json_integer_value(json_object_get(e, "user_key_period")), hc->period);
	CHECK_EQ_INT(json_integer_value(json_object_get(e, "user_key_offset")), hc->offset);
	CHECK_EQ_STR(json_string_value(json_object_get(jwk, "kty")), "EC");
	CHECK_EQ_STR(json_string_value(json_object_get(jwk, "crv")), "P-256");
	CHECK_EQ_STR(json_string_value(json_object_get(jwk, "x")), json_string_value(json_object_get(k->jwk, "x")));
	CHECK_EQ_STR(json_string_value(json_object_get(jwk, "y")), json_string_value(json_object_get(k->jwk, "y")));
}

TEST(external_trust_between_two_vaults)
{
	json_t *res = NULL, *list = NULL, *payload;
	const json_t *e;
	struct mcxvault_error err;

	REQUIRE(get_home_cert(vb, C_DOMAIN, 0, &c1) == 0);
	REQUIRE(get_key(vb, C_DOMAIN, "cert", 0, &c_key) == 0);
	/* vault B's domain has its own key period and a non-zero offset: UIDs follow them */
	CHECK_EQ_INT(c1.period, 86400);
	CHECK_EQ_INT(c1.offset, 3600);
	check_user_keys(vb, C_DOMAIN, &c1, "sip:carol@c.example", -1, NULL, NULL);
	check_user_keys(vb, C_DOMAIN, &c1, "sip:carol@c.example", mcx_time_now() + 86400 + 1800, NULL, NULL);
	CHECK(expect_error(vb, "kms.user_keys",
			   json_pack("{s:s, s:s, s:s}", "domain", C_DOMAIN, "user_uri", "sip:carol@c.example", "time",
				     "1900-01-01T00:30:00Z"),
			   -32602, "time before the offset (NTP 1800 < 3600)"));
	CHECK(expect_error(vb, "kms.user_keys",
			   json_pack("{s:s, s:s, s:s}", "domain", C_DOMAIN, "user_uri", "sip:carol@c.example", "time",
				     "1900-01-01T01:00:00Z"),
			   -32009, "key period 0, long before the certificate"));
	CHECK_EQ_INT(external_count(va, A_DOMAIN, NULL), 0);
	/* B's certificate and its signing key as PEM, into a.example */
	REQUIRE(rpc(va, "external.import", import_params(A_DOMAIN, c1.xml, json_string(c_key.pem)), &res, NULL) == 0);
	check_external_entry(res, &c1, &c_key);
	json_decref(res);
	res = NULL;
	CHECK_EQ_INT(external_count(va, A_DOMAIN, &list), 1);
	if (json_array_size(list) == 1)
		check_external_entry(json_array_get(list, 0), &c1, &c_key);
	json_decref(list);
	list = NULL;
	CHECK_EQ_INT(external_count(va, "b.example", NULL), 0);   /* per domain */
	/* and as the JWK sign.public_key gives (kid, alg and use included), into b.example */
	REQUIRE(rpc(va, "external.import", import_params("b.example", c1.xml, json_deep_copy(c_key.jwk)), &res, NULL) ==
		0);
	check_external_entry(res, &c1, &c_key);
	json_decref(res);
	res = NULL;
	CHECK_EQ_INT(external_count(va, "b.example", NULL), 1);
	/* once only */
	CHECK(expect_error(va, "external.import", import_params(A_DOMAIN, c1.xml, json_string(c_key.pem)), -32003,
			   "already trusted"));

	/* a.example's users are provisioned with B's certificate, as External */
	REQUIRE(rpc(va, "kms.cert_cache", dparams(A_DOMAIN), &res, NULL) == 0);
	CHECK_EQ_INT(json_integer_value(json_object_get(res, "certificates")), 2);
	payload = verify_bundle(res, a_key.pem, A_DOMAIN);
	CHECK(payload != NULL);
	e = bundle_entry(payload, c1.cert_uri);
	CHECK(e != NULL);
	if (e != NULL) {
		struct kms_cert c;
		const char *xml = json_string_value(json_object_get(e, "xml"));
		CHECK_EQ_STR(json_string_value(json_object_get(e, "role")), "External");
		CHECK_EQ_STR(json_string_value(json_object_get(e, "kms_uri")), c1.kms_uri);
		CHECK_EQ_STR(xml, c1.xml);
		/* a user can check it with B's key and use its Z */
		memset(&c, 0, sizeof(c));
		CHECK(xml != NULL && kms_cert_from_xml(xml, strlen(xml), c_key.point, &c) == 0);
		CHECK_MEM(c.pub_enc_key, c1.z, sizeof(c1.z));
		kms_cert_clear(&c);
		if (have_xmlsec1 && xml != NULL)
			CHECK_EQ_INT(xmlsec_verify(c_key.pem, xml), 0);
	}
	CHECK(bundle_entry(payload, a1.cert_uri) != NULL);
	json_decref(payload);
	json_decref(res);
	res = NULL;

	/* trust lives in the token: it survives a restart of vault A */
	mcxvault_close(va);
	va = NULL;
	CHECK_EQ_INT(test_vault_stop(&vault_a), 0);
	REQUIRE(test_vault_start(&vault_a) == 0);
	REQUIRE(mcxvault_connect(vault_a.socket, &va) == 0);
	REQUIRE(mcxvault_set_timeout(va, 120000) == 0);
	CHECK_EQ_INT(external_count(va, A_DOMAIN, &list), 1);
	if (json_array_size(list) == 1)
		check_external_entry(json_array_get(list, 0), &c1, &c_key);
	json_decref(list);
	list = NULL;

	/* remove: gone from the list and from the cache; a second remove is -32002 */
	REQUIRE(rpc(va, "external.remove",
		    json_pack("{s:s, s:s}", "domain", "b.example", "kms_uri", c1.kms_uri), &res, &err) == 0);
	CHECK(json_is_true(json_object_get(res, "removed")));
	CHECK_EQ_STR(json_string_value(json_object_get(res, "kms_uri")), c1.kms_uri);
	json_decref(res);
	res = NULL;
	CHECK_EQ_INT(external_count(va, "b.example", NULL), 0);
	CHECK_EQ_INT(external_count(va, A_DOMAIN, NULL), 1);   /* the other domain keeps its trust */
	CHECK(expect_error(va, "external.remove", json_pack("{s:s, s:s}", "domain", "b.example", "kms_uri", c1.kms_uri),
			   -32002, "remove twice"));
	REQUIRE(rpc(va, "kms.cert_cache", dparams("b.example"), &res, NULL) == 0);
	CHECK_EQ_INT(json_integer_value(json_object_get(res, "certificates")), 1);
	json_decref(res);
	res = NULL;
	/* and a removed certificate can be imported again */
	REQUIRE(rpc(va, "external.import", import_params("b.example", c1.xml, json_string(c_key.pem)), &res, NULL) == 0);
	json_decref(res);
	res = NULL;
	REQUIRE(rpc(va, "external.remove",
		    json_pack("{s:s, s:s}", "domain", "b.example", "kms_uri", c1.kms_uri), &res, NULL) == 0);
	json_decref(res);
}

/* external.import refused with rpc_code, and external.list of a.example unchanged. */
static int refused(const char *label, const char *xml, json_t *key, int rpc_code)
{
	char *before = snapshot(va, "external.list", A_DOMAIN);
	int ok = xml != NULL && key != NULL &&
		 expect_error(va, "external.import", import_params(A_DOMAIN, xml, key), rpc_code, label);

	if (xml == NULL || key == NULL) {
		printf("  %s: could not build the input\n", label);
		json_decref(key);
	}
	ok = same_snapshot(before, va, "external.list", A_DOMAIN) && ok;
	free(before);
	return ok;
}

static json_t *jwk_with(const json_t *jwk, const char *member, const char *value)
{
	json_t *copy = json_deep_copy(jwk);

	if (copy != NULL)
		json_object_set_new(copy, member, json_string(value));
	return copy;
}

TEST(external_import_refusals)
{
	int64_t now = mcx_time_now();
	char *xml, *good, *pem;
	struct home_cert b1;
	EVP_PKEY *k;

	REQUIRE(c1.xml != NULL && c_key.pem != NULL && foreign_key != NULL);
	/* the foreign KMS itself, built right, is importable (so each refusal below is for its one fault) */
	good = foreign_cert("Root", now - 3600, now + 86400, 0);
	REQUIRE(good != NULL);
	{
		json_t *res = NULL;
		CHECK(rpc(va, "external.import", import_params("b.example", good, json_string(foreign_pem)), &res,
			  NULL) == 0);
		CHECK_EQ_STR(json_string_value(json_object_get(res, "kms_uri")), FOREIGN_KMS_URI);
		json_decref(res);
		res = NULL;
		CHECK(rpc(va, "external.remove",
			  json_pack("{s:s, s:s}", "domain", "b.example", "kms_uri", FOREIGN_KMS_URI), &res, NULL) == 0);
		json_decref(res);
	}

	/* signatures */
	xml = flip_signature(c1.xml);
	CHECK(refused("a flipped SignatureValue character", xml, json_string(c_key.pem), -32007));
	free(xml);
	xml = replace(c1.xml, "<UserKeyPeriod>86400<", "<UserKeyPeriod>86401<");
	CHECK(refused("a changed UserKeyPeriod", xml, json_string(c_key.pem), -32007));
	free(xml);
	xml = replace(c1.xml, "/certificate/1<", "/certificate/9<");
	CHECK(refused("a changed CertUri", xml, json_string(c_key.pem), -32007));
	free(xml);
	CHECK(refused("B's certificate with A's key", c1.xml, json_string(a_key.pem), -32007));
	CHECK(refused("B's certificate with A's key (JWK)", c1.xml, json_deep_copy(a_key.jwk), -32007));
	CHECK(refused("the foreign certificate with B's key", good, json_string(c_key.pem), -32007));

	/* validity, revocation, role */
	xml = foreign_cert("Root", now - 2 * 86400, now - 86400, 0);
	CHECK(refused("expired", xml, json_string(foreign_pem), -32009));
	free(xml);
	xml = foreign_cert("Root", now + 86400, now + 2 * 86400, 0);
	CHECK(refused("not yet valid", xml, json_string(foreign_pem), -32009));
	free(xml);
	xml = foreign_cert("Root", now - 3600, now + 86400, 1);
	CHECK(refused("revoked", xml, json_string(foreign_pem), -32009));
	free(xml);
	xml = foreign_cert("External", now - 3600, now + 86400, 0);
	CHECK(refused("Role External", xml, json_string(foreign_pem), -32602));
	free(xml);

	/* a home domain's KmsUri: our own certificates, with their right keys */
	CHECK(refused("a.example's own certificate", a1.xml, json_string(a_key.pem), -32003));
	if (get_home_cert(va, "b.example", 0, &b1) == 0) {
		struct sign_key bk;
		if (get_key(va, "b.example", "cert", 0, &bk) == 0) {
			CHECK(refused("b.example's certificate into a.example", b1.xml, json_string(bk.pem), -32003));
			sign_key_clear(&bk);
		}
		home_cert_clear(&b1);
	}

	/* documents */
	CHECK(refused("not XML", "this is not a certificate", json_string(c_key.pem), -32602));
	xml = strdup(c1.xml);
	if (xml != NULL)
		xml[strlen(xml) / 2] = '\0';
	CHECK(refused("truncated", xml, json_string(c_key.pem), -32602));
	free(xml);
	xml = replace(c1.xml, "?>", "?>\n<!DOCTYPE SignedKmsCertificate [<!ENTITY e \"kms.evil.example\">]>");
	CHECK(refused("DOCTYPE with an entity", xml, json_string(c_key.pem), -32602));
	free(xml);
	xml = replace(c1.xml, "?>", "?>\n<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>");
	CHECK(refused("external entity", xml, json_string(c_key.pem), -32602));
	free(xml);
	{
		size_t big = 40 * 1024;
		char *huge = malloc(big + 128);
		if (huge != NULL) {
			snprintf(huge, big + 128, "<?xml version=\"1.0\"?><SignedKmsCertificate>%*s</SignedKmsCertificate>",
				 (int)big, "");
		}
		CHECK(refused("40 KiB document", huge, json_string(c_key.pem), -32602));
		free(huge);
	}
	CHECK(refused("empty certificate", "", json_string(c_key.pem), -32602));

	/* signing keys that are not P-256 */
	k = EVP_EC_gen("P-384");
	pem = k != NULL ? pem_of(k) : NULL;
	CHECK(refused("P-384 PEM", c1.xml, pem != NULL ? json_string(pem) : NULL, -32602));
	free(pem);
	EVP_PKEY_free(k);
	k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	pem = k != NULL ? pem_of(k) : NULL;
	CHECK(refused("Ed25519 PEM", c1.xml, pem != NULL ? json_string(pem) : NULL, -32602));
	free(pem);
	EVP_PKEY_free(k);
	CHECK(refused("not a PEM", c1.xml, json_string("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
		      -32602));
	CHECK(refused("JWK crv P-384", c1.xml, jwk_with(c_key.jwk, "crv", "P-384"), -32602));
	CHECK(refused("JWK kty RSA", c1.xml, jwk_with(c_key.jwk, "kty", "RSA"), -32602));
	CHECK(refused("JWK point off the curve", c1.xml, jwk_with(c_key.jwk, "y", json_string_value(json_object_get(c_key.jwk, "x"))),
		      -32602));
	CHECK(refused("JWK without y", c1.xml, json_pack("{s:s, s:s, s:O}", "kty", "EC", "crv", "P-256", "x",
							 json_object_get(c_key.jwk, "x")),
		      -32602));
	CHECK(refused("signing_key a number", c1.xml, json_integer(7), -32602));

	/* parameters */
	CHECK(expect_error(va, "external.import", import_params("zz.example", c1.xml, json_string(c_key.pem)), -32002,
			   "unknown domain"));
	CHECK(expect_error(va, "external.import", json_pack("{s:s, s:s}", "domain", A_DOMAIN, "certificate", c1.xml),
			   -32602, "no signing_key"));
	CHECK(expect_error(va, "external.remove",
			   json_pack("{s:s, s:s}", "domain", A_DOMAIN, "kms_uri", "kms.nowhere.example"), -32002,
			   "remove an unknown KmsUri"));
	CHECK_EQ_INT(external_count(va, "b.example", NULL), 0);
	free(good);
}

TEST(kms_rotation_and_retirement)
{
	json_t *res = NULL, *payload;
	struct home_cert a2, old;
	struct user_keys k2;
	char *before;

	REQUIRE(a1.xml != NULL && alice_keys.period_no != 0);
	REQUIRE(rpc(va, "key.rotate", json_pack("{s:s, s:s}", "domain", A_DOMAIN, "purpose", "kms"), &res, NULL) == 0);
	CHECK_EQ_INT(json_integer_value(json_object_get(res, "version")), 2);
	CHECK_EQ_STR(json_string_value(json_object_get(res, "kid")), A_DOMAIN "/kms/2");
	CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(res, "previous"), "state")), "verify-only");
	json_decref(res);
	res = NULL;
	REQUIRE(get_home_cert(va, A_DOMAIN, 0, &a2) == 0);
	CHECK_EQ_INT(a2.version, 2);
	CHECK_EQ_STR(a2.cert_uri, "kms." A_DOMAIN "/certificate/2");
	CHECK(strcmp(a2.cert_uri, a1.cert_uri) != 0);
	CHECK(memcmp(a2.z, a1.z, sizeof(a1.z)) != 0);
	CHECK(memcmp(a2.kpak, a1.kpak, sizeof(a1.kpak)) != 0);
	/* the new generation's certificate is signed by the domain's cert key as before */
	if (have_xmlsec1)
		CHECK_EQ_INT(xmlsec_verify(a_key.pem, a2.xml), 0);

	/* new keys come from the new master: valid under the new Z / KPAK only */
	check_user_keys(va, A_DOMAIN, &a2, "sip:alice@a.example", -1, NULL, &k2);
	CHECK_MEM(k2.uid, alice_keys.uid, MCX_UID_LEN);   /* the UID does not depend on the generation */
	CHECK(memcmp(k2.rsk, alice_keys.rsk, MCX_SAKKE_POINT_LEN) != 0);
	CHECK(mcx_sakke_rsk_validate(sakke, a2.z, alice_keys.uid, MCX_UID_LEN, alice_keys.rsk) != 0);
	CHECK(mcx_sakke_rsk_validate(sakke, a1.z, k2.uid, MCX_UID_LEN, k2.rsk) != 0);
	CHECK(mcx_eccsi_validate(eccsi, a2.kpak, alice_keys.uid, MCX_UID_LEN, alice_keys.ssk, alice_keys.pvt) != 0);

	/* version 1 is still readable and verifiable */
	REQUIRE(get_home_cert(va, A_DOMAIN, 1, &old) == 0);
	CHECK_EQ_INT(old.version, 1);
	CHECK_EQ_STR(old.state, "verify-only");
	CHECK_EQ_STR(old.xml, a1.xml);
	if (have_xmlsec1)
		CHECK_EQ_INT(xmlsec_verify(a_key.pem, old.xml), 0);
	home_cert_clear(&old);

	/* the cache lists both home certificates (and the external one) */
	REQUIRE(rpc(va, "kms.cert_cache", dparams(A_DOMAIN), &res, NULL) == 0);
	payload = verify_bundle(res, a_key.pem, A_DOMAIN);
	CHECK(payload != NULL);
	CHECK(bundle_entry(payload, a1.cert_uri) != NULL);
	CHECK(bundle_entry(payload, a2.cert_uri) != NULL);
	json_decref(payload);
	json_decref(res);
	res = NULL;

	/* retire the active generation: refused; version 1: its master secrets go */
	CHECK(expect_error(va, "key.retire", json_pack("{s:s, s:s, s:i}", "domain", A_DOMAIN, "purpose", "kms", "version", 2),
			   -32006, "retire the active generation"));
	REQUIRE(rpc(va, "key.retire", json_pack("{s:s, s:s, s:i}", "domain", A_DOMAIN, "purpose", "kms", "version", 1),
		    &res, NULL) == 0);
	CHECK_EQ_STR(json_string_value(json_object_get(res, "state")), "retired");
	json_decref(res);
	res = NULL;
	CHECK(expect_error(va, "key.retire", json_pack("{s:s, s:s, s:i}", "domain", A_DOMAIN, "purpose", "kms", "version", 1),
			   -32006, "retire twice"));
	REQUIRE(get_home_cert(va, A_DOMAIN, 1, &old) == 0);
	CHECK_EQ_STR(old.state, "retired");
	CHECK_EQ_STR(old.xml, a1.xml);
	home_cert_clear(&old);
	CHECK(expect_error(va, "kms.certificate", json_pack("{s:s, s:i}", "domain", A_DOMAIN, "version", 3), -32002,
			   "certificate version 3"));
	CHECK(expect_error(va, "kms.certificate", json_pack("{s:s, s:i}", "domain", A_DOMAIN, "version", 0), -32602,
			   "certificate version 0"));
	/* a retired generation is no longer provisioned */
	REQUIRE(rpc(va, "kms.cert_cache", dparams(A_DOMAIN), &res, NULL) == 0);
	payload = verify_bundle(res, a_key.pem, A_DOMAIN);
	CHECK(payload != NULL);
	CHECK(bundle_entry(payload, a1.cert_uri) == NULL);
	CHECK(bundle_entry(payload, a2.cert_uri) != NULL);
	json_decref(payload);
	json_decref(res);
	/* user keys keep coming from generation 2 */
	before = snapshot(va, "key.list", A_DOMAIN);
	check_user_keys(va, A_DOMAIN, &a2, "sip:bob@a.example", -1, NULL, NULL);
	CHECK(same_snapshot(before, va, "key.list", A_DOMAIN));
	free(before);
	home_cert_clear(&a2);
}

/* In a child: the caller's identity becomes nobody, who is only a signer. */
static int as_signer_only(const char *socket_path)
{
	struct passwd *pw = getpwnam("nobody");
	struct mcxvault *v = NULL;
	json_t *res = NULL;
	int fails = 0;

	if (pw == NULL || setgroups(0, NULL) != 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) != 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0 || getuid() != pw->pw_uid)
		return 100;
	if (mcxvault_connect(socket_path, &v) != 0)
		return 101;
	if (rpc(v, "vault.status", NULL, &res, NULL) != 0 ||
	    json_array_size(json_object_get(json_object_get(res, "caller"), "roles")) != 1)
		fails++;
	json_decref(res);
	fails += !expect_error(v, "kms.user_keys", json_pack("{s:s, s:s}", "domain", A_DOMAIN, "user_uri", "sip:x"),
			       -32001, "kms.user_keys as signer");
	fails += !expect_error(v, "external.import", import_params(A_DOMAIN, c1.xml, json_string(c_key.pem)), -32001,
			       "external.import as signer");
	fails += !expect_error(v, "external.remove", json_pack("{s:s, s:s}", "domain", A_DOMAIN, "kms_uri", c1.kms_uri),
			       -32001, "external.remove as signer");
	fails += !expect_error(v, "kms.cert_cache", dparams(A_DOMAIN), -32001, "kms.cert_cache as signer");
	fails += !expect_error(v, "kms.certificate", dparams(A_DOMAIN), -32001, "kms.certificate as signer");
	fails += !expect_error(v, "key.rotate", json_pack("{s:s, s:s}", "domain", A_DOMAIN, "purpose", "kms"), -32001,
			       "key.rotate kms as signer");
	mcxvault_close(v);
	return fails;
}

TEST(permission_signer_only)
{
	struct group *gr;
	char *before;
	pid_t pid;
	int status = 0;

	if (geteuid() != 0)
		SKIP("needs root to act as nobody");
	REQUIRE(c1.xml != NULL);
	/* nobody reaches the 0660 socket through its group, as an operator would set it up */
	REQUIRE((gr = getgrnam("nogroup")) != NULL || (gr = getgrnam("nobody")) != NULL);
	REQUIRE(chown(vault_a.socket, (uid_t)-1, gr->gr_gid) == 0);
	before = snapshot(va, "external.list", A_DOMAIN);
	fflush(stdout);
	REQUIRE((pid = fork()) >= 0);
	if (pid == 0) {
		int fails = as_signer_only(vault_a.socket);
		fflush(stdout);
		_exit(fails > 100 ? 100 : fails);   /* _exit: the parent's atexit cleanup is not ours */
	}
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ_INT(WEXITSTATUS(status), 0);
	CHECK(same_snapshot(before, va, "external.list", A_DOMAIN));
	free(before);
}

/* Both daemons exit 0 on SIGTERM: under ASan that also means no leak and no error. */
TEST(vaults_stop_cleanly)
{
	mcxvault_close(va);
	mcxvault_close(vb);
	va = vb = NULL;
	CHECK_EQ_INT(test_vault_stop(&vault_a), 0);
	CHECK_EQ_INT(test_vault_stop(&vault_b), 0);
}

/* ---- main ------------------------------------------------------------------- */

static int setup(void)
{
	const char *tmp = getenv("TMPDIR");

	if (tmp == NULL || strlen(tmp) > 24)
		tmp = "/tmp";
	snprintf(tmpdir, sizeof(tmpdir), "%s/mcx-kms-files.XXXXXX", tmp);
	if (mkdtemp(tmpdir) == NULL) {
		tmpdir[0] = '\0';
		return -1;
	}
	have_xmlsec1 = system("command -v xmlsec1 >/dev/null 2>&1") == 0;
	if (mcx_sakke_params_new(&sakke) != 0 || mcx_eccsi_params_new(&eccsi) != 0 || foreign_setup() != 0)
		return -1;
	if (test_vault_setup(&vault_a, "a", TEST_VAULT_DOMAINS_AB,
			 ",\n  { user = \"nobody\"; roles = [ \"signer\" ]; }", 2, 0) != 0 ||
	    test_vault_setup(&vault_b, "b",
			    "{ name = \"" C_DOMAIN "\"; kms_uri = \"kms." C_DOMAIN "\";"
			    " user_key_period = 86400; user_key_offset = 3600; }",
			    NULL, 2, 0) != 0 ||
	    test_vault_start(&vault_a) != 0 || test_vault_start(&vault_b) != 0)
		return -1;
	/* SAKKE under ASan is slow: generous timeouts */
	if (mcxvault_connect(vault_a.socket, &va) != 0 || mcxvault_connect(vault_b.socket, &vb) != 0 ||
	    mcxvault_set_timeout(va, 120000) != 0 || mcxvault_set_timeout(vb, 120000) != 0)
		return -1;
	return 0;
}

static void teardown(void)
{
	char cmd[128];

	mcxvault_close(va);
	mcxvault_close(vb);
	va = vb = NULL;
	if (test_failed > 0) {
		test_vault_dump_log(&vault_a);
		test_vault_dump_log(&vault_b);
	}
	test_vault_cleanup(&vault_a);
	test_vault_cleanup(&vault_b);
	home_cert_clear(&a1);
	home_cert_clear(&c1);
	sign_key_clear(&a_key);
	sign_key_clear(&a_sign);
	sign_key_clear(&c_key);
	mcx_wipe(&alice_keys, sizeof(alice_keys));
	mcx_sakke_params_free(sakke);
	mcx_eccsi_params_free(eccsi);
	EVP_PKEY_free(foreign_key);
	free(foreign_pem);
	if (tmpdir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	}
}

int main(void)
{
	if (access("/usr/bin/softhsm2-util", X_OK) != 0 && system("command -v softhsm2-util >/dev/null 2>&1") != 0) {
		printf("skipped - kms: softhsm2-util not installed\n");
		printf("kms: 0 passed, 0 failed, 1 skipped\n");
		return 0;
	}
	if (setup() != 0) {
		printf("FAIL - setup (two vaults on throw-away tokens)\n");
		test_failed++;
		teardown();
		return test_summary("kms");
	}
	RUN(init_domains);
	RUN(user_keys_several_users_and_periods);
	RUN(user_keys_are_bound_to_user_and_period);
	RUN(user_keys_transport_key);
	RUN(user_keys_bad_input);
	RUN(certificate_verifies);
	RUN(cert_cache_jws);
	RUN(external_trust_between_two_vaults);
	RUN(external_import_refusals);
	RUN(kms_rotation_and_retirement);
	RUN(permission_signer_only);
	RUN(vaults_stop_cleanly);
	teardown();
	return test_summary("kms");
}
