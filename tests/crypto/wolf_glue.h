/*
 * mcxvault crypto tests — thin wrappers round Debian's wolfCrypt 5.5.4 SAKKE
 * and ECCSI (built with WOLFCRYPT_HAVE_SAKKE/ECCSI), byte-oriented like ours.
 * Used ONLY by tests/crypto/test_crypto_wolf.c and bench/bench_crypto.c:
 * libmcxcrypto never links wolfSSL.
 *
 * Each wrapper returns 0 on success, or the (negative) wolfCrypt error.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef MCX_TESTS_CRYPTO_WOLF_GLUE_H
#define MCX_TESTS_CRYPTO_WOLF_GLUE_H

#include <stdint.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/settings.h>
#include <wolfssl/wolfcrypt/eccsi.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/sakke.h>

/* ---- SAKKE ------------------------------------------------------------------ */

/* A KMS key from the 128-octet master secret; computes Z into the key. */
static inline int wolf_sakke_kms_init(SakkeKey *k, const uint8_t z[128])
{
	int ret = wc_InitSakkeKey_ex(k, 128, ECC_SAKKE_1, NULL, INVALID_DEVID);
	if (ret != 0)
		return ret;
	ret = wc_ImportSakkePrivateKey(k, z, 128);
	if (ret == 0)
		ret = wc_MakeSakkePublicKey(k, &k->ecc.pubkey);
	if (ret != 0)
		wc_FreeSakkeKey(k);
	return ret;
}

/* A client key holding the KMS public key Z (0x04 || x || y). */
static inline int wolf_sakke_client_init(SakkeKey *k, const uint8_t Z[257])
{
	int ret = wc_InitSakkeKey_ex(k, 128, ECC_SAKKE_1, NULL, INVALID_DEVID);
	if (ret != 0)
		return ret;
	ret = wc_ImportSakkePublicKey(k, Z + 1, 256, 1);
	if (ret != 0)
		wc_FreeSakkeKey(k);
	return ret;
}

static inline int wolf_sakke_export_public(SakkeKey *k, uint8_t Z[257])
{
	word32 sz = 257;
	int ret = wc_ExportSakkePublicKey(k, Z, &sz, 0);
	return ret == 0 && sz != 257 ? -1 : ret;
}

static inline int wolf_sakke_rsk(SakkeKey *kms, const uint8_t *id, size_t id_len, uint8_t rsk[257])
{
	ecc_point *p = wc_ecc_new_point();
	word32 sz = 257;
	int ret = p == NULL ? MEMORY_E : wc_MakeSakkeRsk(kms, id, (word16)id_len, p);
	if (ret == 0)
		ret = wc_EncodeSakkeRsk(kms, p, rsk, &sz, 0);
	if (ret == 0 && sz != 257)
		ret = -1;
	wc_ecc_del_point(p);
	return ret;
}

/* valid set to 1 when <[b]P + Z, RSK> = g. */
static inline int wolf_sakke_validate(SakkeKey *client, const uint8_t *id, size_t id_len,
				      const uint8_t rsk[257], int *valid)
{
	ecc_point *p = wc_ecc_new_point();
	int ret = p == NULL ? MEMORY_E : wc_DecodeSakkeRsk(client, rsk, 257, p);
	*valid = 0;
	if (ret == 0)
		ret = wc_ValidateSakkeRsk(client, id, (word16)id_len, p, valid);
	wc_ecc_del_point(p);
	return ret;
}

/* out = R || H for ssv (16 octets). */
static inline int wolf_sakke_encap(SakkeKey *client, const uint8_t *id, size_t id_len,
				   const uint8_t ssv[16], uint8_t out[273])
{
	uint8_t h[16];
	word16 authsz = 257;
	int ret = wc_SetSakkeIdentity(client, id, (word16)id_len);
	memcpy(h, ssv, 16);
	if (ret == 0)
		ret = wc_MakeSakkeEncapsulatedSSV(client, WC_HASH_TYPE_SHA256, h, 16, out, &authsz);
	if (ret == 0 && authsz != 257)
		ret = -1;
	if (ret == 0)
		memcpy(out + 257, h, 16);
	return ret;
}

/* Sets the receiver's identity and RSK on a client key (before wolf_sakke_decap). */
static inline int wolf_sakke_set_receiver(SakkeKey *client, const uint8_t *id, size_t id_len,
					  const uint8_t rsk[257])
{
	ecc_point *p = wc_ecc_new_point();
	int ret = p == NULL ? MEMORY_E : wc_SetSakkeIdentity(client, id, (word16)id_len);
	if (ret == 0)
		ret = wc_DecodeSakkeRsk(client, rsk, 257, p);
	if (ret == 0)
		ret = wc_SetSakkeRsk(client, p, NULL, 0);   /* copies the point */
	wc_ecc_del_point(p);
	return ret;
}

static inline int wolf_sakke_decap(SakkeKey *client, const uint8_t in[273], uint8_t ssv[16])
{
	memcpy(ssv, in + 257, 16);
	return wc_DeriveSakkeSSV(client, WC_HASH_TYPE_SHA256, ssv, 16, in, 257);
}

/* ---- ECCSI ------------------------------------------------------------------ */

static inline int wolf_eccsi_kms_init(EccsiKey *k, const uint8_t ksak[32], const uint8_t kpak[65])
{
	uint8_t buf[96];
	int ret = wc_InitEccsiKey(k, NULL, INVALID_DEVID);
	if (ret != 0)
		return ret;
	memcpy(buf, ksak, 32);
	memcpy(buf + 32, kpak + 1, 64);
	ret = wc_ImportEccsiKey(k, buf, sizeof(buf));
	memset(buf, 0, sizeof(buf));
	if (ret != 0)
		wc_FreeEccsiKey(k);
	return ret;
}

static inline int wolf_eccsi_export_kpak(EccsiKey *k, uint8_t kpak[65])
{
	word32 sz = 65;
	int ret = wc_ExportEccsiPublicKey(k, kpak, &sz, 0);
	return ret == 0 && sz != 65 ? -1 : ret;
}

static inline int wolf_eccsi_client_init(EccsiKey *k, const uint8_t kpak[65])
{
	int ret = wc_InitEccsiKey(k, NULL, INVALID_DEVID);
	if (ret != 0)
		return ret;
	ret = wc_ImportEccsiPublicKey(k, kpak, 65, 1);
	if (ret != 0)
		wc_FreeEccsiKey(k);
	return ret;
}

static inline int wolf_eccsi_issue(EccsiKey *kms, WC_RNG *rng, const uint8_t *id, size_t id_len,
				   uint8_t ssk[32], uint8_t pvt[65])
{
	mp_int s;
	ecc_point *p = wc_ecc_new_point();
	word32 sz;
	int ret = p == NULL ? MEMORY_E : mp_init(&s);
	if (ret == 0)
		ret = wc_MakeEccsiPair(kms, rng, WC_HASH_TYPE_SHA256, id, (word32)id_len, &s, p);
	sz = 32;
	if (ret == 0)
		ret = wc_EncodeEccsiSsk(kms, &s, ssk, &sz);
	if (ret == 0 && sz != 32)
		ret = -1;
	sz = 65;
	if (ret == 0)
		ret = wc_EncodeEccsiPvt(kms, p, pvt, &sz, 0);
	if (ret == 0 && sz != 65)
		ret = -1;
	mp_forcezero(&s);
	wc_ecc_del_point(p);
	return ret;
}

static inline int wolf_eccsi_validate(EccsiKey *client, const uint8_t *id, size_t id_len,
				      const uint8_t ssk[32], const uint8_t pvt[65], int *valid)
{
	mp_int s;
	ecc_point *p = wc_ecc_new_point();
	int ret = p == NULL ? MEMORY_E : mp_init(&s);
	*valid = 0;
	if (ret == 0)
		ret = wc_DecodeEccsiSsk(client, ssk, 32, &s);
	if (ret == 0)
		ret = wc_DecodeEccsiPvt(client, pvt, 65, p);
	if (ret == 0)
		ret = wc_ValidateEccsiPair(client, WC_HASH_TYPE_SHA256, id, (word32)id_len, &s, p,
					   valid);
	mp_forcezero(&s);
	wc_ecc_del_point(p);
	return ret;
}

/* Prepares a client key to sign as (id, SSK, PVT). */
static inline int wolf_eccsi_set_signer(EccsiKey *client, const uint8_t *id, size_t id_len,
					const uint8_t ssk[32], const uint8_t pvt[65])
{
	mp_int s;
	ecc_point *p = wc_ecc_new_point();
	byte hash[WC_MAX_DIGEST_SIZE];
	byte hsz = sizeof(hash);
	int ret = p == NULL ? MEMORY_E : mp_init(&s);
	if (ret == 0)
		ret = wc_DecodeEccsiSsk(client, ssk, 32, &s);
	if (ret == 0)
		ret = wc_DecodeEccsiPvt(client, pvt, 65, p);
	if (ret == 0)
		ret = wc_HashEccsiId(client, WC_HASH_TYPE_SHA256, id, (word32)id_len, p, hash, &hsz);
	if (ret == 0)
		ret = wc_SetEccsiHash(client, hash, hsz);
	if (ret == 0)
		ret = wc_SetEccsiPair(client, &s, p);
	mp_forcezero(&s);
	wc_ecc_del_point(p);
	return ret;
}

static inline int wolf_eccsi_sign(EccsiKey *signer, WC_RNG *rng, const uint8_t *msg,
				  size_t msg_len, uint8_t sig[129])
{
	word32 sz = 129;
	int ret = wc_SignEccsiHash(signer, rng, WC_HASH_TYPE_SHA256, msg, (word32)msg_len, sig, &sz);
	return ret == 0 && sz != 129 ? -1 : ret;
}

/* verified set to 1 for a good signature (HS is computed from the PVT in sig). */
static inline int wolf_eccsi_verify(EccsiKey *client, const uint8_t *id, size_t id_len,
				    const uint8_t *msg, size_t msg_len, const uint8_t sig[129],
				    int *verified)
{
	ecc_point *p = wc_ecc_new_point();
	byte hash[WC_MAX_DIGEST_SIZE];
	byte hsz = sizeof(hash);
	int ret = p == NULL ? MEMORY_E : wc_DecodeEccsiPvtFromSig(client, sig, 129, p);
	*verified = 0;
	if (ret == 0)
		ret = wc_HashEccsiId(client, WC_HASH_TYPE_SHA256, id, (word32)id_len, p, hash, &hsz);
	if (ret == 0)
		ret = wc_SetEccsiHash(client, hash, hsz);
	if (ret == 0)
		ret = wc_VerifyEccsiHash(client, WC_HASH_TYPE_SHA256, msg, (word32)msg_len, sig, 129,
					 verified);
	wc_ecc_del_point(p);
	return ret;
}

#endif /* MCX_TESTS_CRYPTO_WOLF_GLUE_H */
