/*
 * mcxvault crypto — MIKEY-SAKKE GMK I_MESSAGE (see mcx/mikey.h, docs/mikey.md).
 *
 * Every parse goes through struct mcx_buf views and their checked getters;
 * nothing here indexes the message by a length read from it.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "crypto/internal.h"
#include "mcx/buf.h"
#include "mcx/mikey.h"

/* RFC 3830 / RFC 6043 / RFC 6509 payload types ("next payload" values). */
#define PT_LAST   0
#define PT_SIGN   4
#define PT_T      5
#define PT_SP     10
#define PT_RAND   11
#define PT_IDR    14
#define PT_GEXT   21
#define PT_SAKKE  26

#define HDR_VERSION        1
#define HDR_DATA_TYPE      26   /* SAKKE message (RFC 6509) */
#define HDR_PRF_HMAC256    1
#define MAP_GENERIC_ID     2
#define CS_ID_GMK          4    /* as in the published example */
#define PROT_SRTP          0
#define TS_NTP_UTC         0
#define ID_TYPE_URI        1
#define ID_TYPE_BYTES      2
#define SAKKE_PARAMS_1     1
#define SAKKE_ID_SCHEME    2
#define SIGN_ECCSI         2
#define GEXT_KEY_PARAMS    7
#define KP_MSG_TYPE        0x43 /* TS 24.282 protected payload, as published */
#define KP_ALG_AES128GCM   1
#define KP_IV_LEN          16
#define KP_TAG_LEN         16
#define KP_AD_LEN          32   /* msg type .. payload alg (12) || IV || DPPK-ID */
#define KP_PLAIN_MAX       (17 + MCX_MIKEY_TEXT_MAX + 2 + MCX_MIKEY_GROUP_IDS_MAX)
#define KDF_FC_USER_SALT   0x50 /* TS 33.180 F.1.3 */
#define KDF_FC_DPCK        0x53 /* TS 33.180 F.1.5 */

/* The SRTP policy of the published example (SP payload parameters). */
static const uint8_t sp_srtp_gcm[] = {
	0x00, 0x01, 0x06,   /* encryption algorithm: AES-GCM */
	0x01, 0x01, 0x10,   /* session encryption key length 16 */
	0x02, 0x01, 0x04,   /* authentication algorithm */
	0x04, 0x01, 0x0c,   /* session salt length 12 */
	0x05, 0x01, 0x00,   /* SRTP PRF: AES-CM */
	0x06, 0x01, 0x00,   /* key derivation rate 0 */
	0x12, 0x01, 0x04,
	0x13, 0x01, 0x00,
	0x14, 0x01, 0x10,   /* AEAD authentication tag length 16 */
};

/* ---- small helpers -------------------------------------------------------- */

/* Takes n octets from b and returns where they start (checked, no copy). */
static MCX_RESULT take(struct mcx_buf *b, size_t n, const uint8_t **p)
{
	const uint8_t *start = mcx_buf_ptr(b);
	int r = mcx_buf_consume(b, n);

	if (r == 0)
		*p = start;
	return r;
}

static MCX_RESULT get_u40(struct mcx_buf *b, uint64_t *v)
{
	int r = MCX_ERR_INTERNAL;
	uint8_t hi;
	uint32_t lo;

	/* Check first so that a short buffer consumes nothing. */
	MCX_ENSURE(mcx_buf_len(b) >= 5, MCX_ERR_MESSAGE_INCOMPLETE);
	MCX_GUARD(mcx_buf_get_u8(b, &hi));
	MCX_GUARD(mcx_buf_get_u32(b, &lo));
	*v = ((uint64_t)hi << 32) | lo;
	r = 0;
out:
	return r;
}

static MCX_RESULT put_u40(struct mcx_buf *b, uint64_t v)
{
	int r = MCX_ERR_INTERNAL;

	MCX_ENSURE(v <= 0xffffffffffULL, MCX_ERR_INVALID_ARGUMENT);
	MCX_GUARD(mcx_buf_put_u8(b, (uint8_t)(v >> 32)));
	MCX_GUARD(mcx_buf_put_u32(b, (uint32_t)v));
	r = 0;
out:
	return r;
}

static uint32_t load32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void store32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/*
 * TS 33.220 Annex B KDF with one parameter: HMAC-SHA-256(key, FC || P0 || L0),
 * L0 the 2-octet length of P0.  Writes the 32-octet output.
 */
static MCX_RESULT kdf1(const uint8_t *key, size_t key_len, uint8_t fc,
		       const uint8_t *p0, size_t p0_len, uint8_t out[32])
{
	int r = MCX_ERR_INTERNAL;
	struct mcx_buf *s = NULL;
	unsigned int olen = 0;

	MCX_ENSURE(p0_len <= 0xffff, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE_ALLOC(s = mcx_buf_new(3 + p0_len));
	MCX_GUARD(mcx_buf_put_u8(s, fc));
	MCX_GUARD(mcx_buf_put(s, p0, p0_len));
	MCX_GUARD(mcx_buf_put_u16(s, (uint16_t)p0_len));
	MCX_ENSURE(HMAC(EVP_sha256(), key, (int)key_len, mcx_buf_ptr(s), mcx_buf_len(s),
			out, &olen) != NULL && olen == 32, MCX_ERR_CRYPTO);
	r = 0;
out:
	mcx_buf_free(s);
	return r;
}

/* DPCK = 128 LSB of KDF(GMK, FC 0x53, P0 = DPPK-ID) (TS 33.180 F.1.5). */
static MCX_RESULT dpck_derive(const uint8_t gmk[MCX_MIKEY_GMK_LEN], uint32_t dppk_id,
			      uint8_t dpck[16])
{
	int r = MCX_ERR_INTERNAL;
	uint8_t id[4], k[32];

	store32(id, dppk_id);
	MCX_GUARD(kdf1(gmk, MCX_MIKEY_GMK_LEN, KDF_FC_DPCK, id, sizeof(id), k));
	memcpy(dpck, k + 16, 16);
	r = 0;
out:
	mcx_crypto_wipe(k, sizeof(k));
	return r;
}

/* AES-128-GCM with a 16-octet IV; enc = 1 seals (writes tag), 0 opens (checks tag). */
static MCX_RESULT gcm(int enc, const uint8_t key[16], const uint8_t iv[KP_IV_LEN],
		      const uint8_t *ad, size_t ad_len, const uint8_t *in, size_t in_len,
		      uint8_t *out, uint8_t tag[KP_TAG_LEN])
{
	int r = MCX_ERR_INTERNAL, n = 0;
	EVP_CIPHER_CTX *ctx = NULL;

	MCX_ENSURE(in_len <= KP_PLAIN_MAX && ad_len <= 64, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE_ALLOC(ctx = EVP_CIPHER_CTX_new());
	MCX_ENSURE(EVP_CipherInit_ex(ctx, EVP_aes_128_gcm(), NULL, NULL, NULL, enc) == 1 &&
		   EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, KP_IV_LEN, NULL) == 1 &&
		   EVP_CipherInit_ex(ctx, NULL, NULL, key, iv, enc) == 1 &&
		   EVP_CipherUpdate(ctx, NULL, &n, ad, (int)ad_len) == 1, MCX_ERR_CRYPTO);
	if (in_len > 0)
		MCX_ENSURE(EVP_CipherUpdate(ctx, out, &n, in, (int)in_len) == 1 &&
			   (size_t)n == in_len, MCX_ERR_CRYPTO);
	if (enc) {
		MCX_ENSURE(EVP_CipherFinal_ex(ctx, out + in_len, &n) == 1 && n == 0 &&
			   EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, KP_TAG_LEN, tag) == 1,
			   MCX_ERR_CRYPTO);
	} else {
		MCX_ENSURE(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, KP_TAG_LEN, tag) == 1,
			   MCX_ERR_CRYPTO);
		MCX_ENSURE(EVP_CipherFinal_ex(ctx, out + in_len, &n) == 1,
			   MCX_ERR_SIGNATURE_INVALID);
	}
	r = 0;
out:
	if (r != 0 && out != NULL && in_len > 0)
		mcx_crypto_wipe(out, in_len);
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

/* ---- GUK-ID (TS 33.180 F.1.3) ------------------------------------------- */

static MCX_RESULT user_salt(const uint8_t gmk[MCX_MIKEY_GMK_LEN], const char *uri,
			    uint32_t *salt)
{
	int r = MCX_ERR_INTERNAL;
	uint8_t k[32];
	size_t ulen;

	MCX_ENSURE_REF(gmk);
	MCX_ENSURE_REF(uri);
	ulen = strlen(uri);
	MCX_ENSURE(ulen > 0 && ulen <= MCX_MIKEY_ID_MAX, MCX_ERR_INVALID_ARGUMENT);
	MCX_GUARD(kdf1(gmk, MCX_MIKEY_GMK_LEN, KDF_FC_USER_SALT, (const uint8_t *)uri, ulen, k));
	*salt = load32(k + 28) & 0x0fffffffu;
	r = 0;
out:
	mcx_crypto_wipe(k, sizeof(k));
	return r;
}

MCX_RESULT mcx_mikey_guk_id(const uint8_t gmk[MCX_MIKEY_GMK_LEN], uint32_t gmk_id,
			    const char *member_uri, uint32_t *guk_id)
{
	int r = MCX_ERR_INTERNAL;
	uint32_t salt = 0;

	MCX_ENSURE_REF(guk_id);
	MCX_GUARD(user_salt(gmk, member_uri, &salt));
	*guk_id = (gmk_id & 0xf0000000u) | ((gmk_id ^ salt) & 0x0fffffffu);
	r = 0;
out:
	salt = 0;
	return r;
}

MCX_RESULT mcx_mikey_gmk_id_from_guk_id(const uint8_t gmk[MCX_MIKEY_GMK_LEN],
					uint32_t guk_id, const char *member_uri,
					uint32_t *gmk_id)
{
	/* XOR with the same salt is its own inverse; the purpose tag is kept. */
	return mcx_mikey_guk_id(gmk, guk_id, member_uri, gmk_id);
}

/* ---- key parameters (GENERAL-EXT type 7) ---------------------------------- */

static MCX_RESULT key_params_encode(const struct mcx_mikey_key_params *kp, struct mcx_buf *b)
{
	int r = MCX_ERR_INTERNAL;

	MCX_ENSURE(kp->text_len <= MCX_MIKEY_TEXT_MAX &&
		   kp->group_ids_len <= MCX_MIKEY_GROUP_IDS_MAX, MCX_ERR_INVALID_ARGUMENT);
	MCX_GUARD(mcx_buf_put_u8(b, kp->key_type));
	MCX_GUARD(mcx_buf_put_u32(b, kp->status));
	MCX_GUARD(put_u40(b, kp->activation_time));
	MCX_GUARD(put_u40(b, kp->expiry_time));
	MCX_GUARD(mcx_buf_put_u16(b, (uint16_t)kp->text_len));
	MCX_GUARD(mcx_buf_put(b, kp->text, kp->text_len));
	if (kp->group_ids_len == 0) {
		MCX_GUARD(mcx_buf_put_u16(b, 1));   /* number of group IDs: 0 */
		MCX_GUARD(mcx_buf_put_u8(b, 0));
	} else {
		MCX_GUARD(mcx_buf_put_u16(b, (uint16_t)kp->group_ids_len));
		MCX_GUARD(mcx_buf_put(b, kp->group_ids, kp->group_ids_len));
	}
	r = 0;
out:
	return r;
}

static MCX_RESULT key_params_decode(const uint8_t *p, size_t len,
				    struct mcx_mikey_key_params *kp)
{
	int r = MCX_ERR_INTERNAL;
	struct mcx_buf *b = NULL;
	uint16_t tl = 0, gl = 0;

	memset(kp, 0, sizeof(*kp));
	MCX_ENSURE_ALLOC(b = mcx_buf_from(p, len));
	MCX_GUARD(mcx_buf_get_u8(b, &kp->key_type));
	MCX_GUARD(mcx_buf_get_u32(b, &kp->status));
	MCX_GUARD(get_u40(b, &kp->activation_time));
	MCX_GUARD(get_u40(b, &kp->expiry_time));
	MCX_GUARD(mcx_buf_get_u16(b, &tl));
	MCX_ENSURE(tl <= MCX_MIKEY_TEXT_MAX, MCX_ERR_PARSE);
	MCX_GUARD(mcx_buf_get(b, kp->text, tl));
	kp->text[tl] = '\0';
	kp->text_len = tl;
	MCX_GUARD(mcx_buf_get_u16(b, &gl));
	MCX_ENSURE(gl >= 1 && gl <= MCX_MIKEY_GROUP_IDS_MAX, MCX_ERR_PARSE);
	MCX_GUARD(mcx_buf_get(b, kp->group_ids, gl));
	kp->group_ids_len = (gl == 1 && kp->group_ids[0] == 0) ? 0 : gl;
	MCX_ENSURE(mcx_buf_len(b) == 0, MCX_ERR_PARSE);
	r = 0;
out:
	if (r != 0)
		memset(kp, 0, sizeof(*kp));
	mcx_buf_free(b);
	return r;
}

/* Appends the GENERAL-EXT data (TS 24.282 protected payload) sealing kp. */
static MCX_RESULT key_params_seal(const uint8_t gmk[MCX_MIKEY_GMK_LEN], uint32_t dppk_id,
				  uint64_t date_time, const uint8_t iv[KP_IV_LEN],
				  const struct mcx_mikey_key_params *kp, struct mcx_buf *out)
{
	int r = MCX_ERR_INTERNAL;
	struct mcx_buf *plain = NULL;
	uint8_t dpck[16], *ct = NULL, *ad;
	size_t start = mcx_buf_len(out), plen;

	MCX_ENSURE_ALLOC(plain = mcx_buf_new(KP_PLAIN_MAX));
	MCX_GUARD(key_params_encode(kp, plain));
	plen = mcx_buf_len(plain);
	MCX_GUARD(mcx_buf_put_u8(out, KP_MSG_TYPE));
	MCX_GUARD(put_u40(out, date_time));
	MCX_GUARD(mcx_buf_put_u32(out, 0));          /* payload ID */
	MCX_GUARD(mcx_buf_put_u8(out, 0));           /* payload sequence number */
	MCX_GUARD(mcx_buf_put_u8(out, KP_ALG_AES128GCM));
	MCX_GUARD(mcx_buf_put(out, iv, KP_IV_LEN));
	MCX_GUARD(mcx_buf_put_u32(out, dppk_id));
	MCX_GUARD(mcx_buf_put_u8(out, 0));           /* TLV-E type */
	MCX_GUARD(mcx_buf_put_u16(out, (uint16_t)(plen + KP_TAG_LEN)));
	MCX_GUARD(mcx_buf_reserve(out, plen + KP_TAG_LEN, &ct));
	ad = mcx_buf_mutable_ptr(out) + start;       /* after the reserve: no realloc left */
	MCX_GUARD(dpck_derive(gmk, dppk_id, dpck));
	MCX_GUARD(gcm(1, dpck, iv, ad, KP_AD_LEN, mcx_buf_ptr(plain), plen, ct, ct + plen));
	r = 0;
out:
	mcx_crypto_wipe(dpck, sizeof(dpck));
	mcx_buf_free(plain);
	return r;
}

MCX_RESULT mcx_mikey_key_params_open(const struct mcx_mikey_i_message *m,
				     const uint8_t gmk[MCX_MIKEY_GMK_LEN],
				     struct mcx_mikey_key_params *out)
{
	int r = MCX_ERR_INTERNAL;
	uint8_t dpck[16], plain[KP_PLAIN_MAX], tag[KP_TAG_LEN];
	size_t plen = 0;

	MCX_ENSURE_REF(m);
	MCX_ENSURE_REF(gmk);
	MCX_ENSURE_REF(out);
	memset(out, 0, sizeof(*out));
	MCX_ENSURE(m->kp_present, MCX_ERR_NOT_FOUND);
	MCX_ENSURE(m->kp_ct_len >= KP_TAG_LEN && m->kp_ct_len - KP_TAG_LEN <= sizeof(plain),
		   MCX_ERR_PARSE);
	plen = m->kp_ct_len - KP_TAG_LEN;
	memcpy(tag, m->kp_ct + plen, KP_TAG_LEN);
	MCX_GUARD(dpck_derive(gmk, m->kp_dppk_id, dpck));
	MCX_GUARD(gcm(0, dpck, m->kp_iv, m->kp_ad, KP_AD_LEN, m->kp_ct, plen, plain, tag));
	MCX_GUARD(key_params_decode(plain, plen, out));
	r = 0;
out:
	mcx_crypto_wipe(dpck, sizeof(dpck));
	mcx_crypto_wipe(plain, sizeof(plain));
	return r;
}

/* ---- build ------------------------------------------------------------------ */

static MCX_RESULT put_idr(struct mcx_buf *b, uint8_t next, uint8_t role, uint8_t type,
			  const void *data, size_t len)
{
	int r = MCX_ERR_INTERNAL;

	MCX_ENSURE(len > 0 && len <= MCX_MIKEY_ID_MAX, MCX_ERR_INVALID_ARGUMENT);
	MCX_GUARD(mcx_buf_put_u8(b, next));
	MCX_GUARD(mcx_buf_put_u8(b, role));
	MCX_GUARD(mcx_buf_put_u8(b, type));
	MCX_GUARD(mcx_buf_put_u16(b, (uint16_t)len));
	MCX_GUARD(mcx_buf_put(b, data, len));
	r = 0;
out:
	return r;
}

static int uri_ok(const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	n = strnlen(s, MCX_MIKEY_ID_MAX + 1);
	return n > 0 && n <= MCX_MIKEY_ID_MAX;
}

/*
 * An MC service ID in IDRi/IDRr: a URI, so no octet below 0x21 and no DEL
 * (RFC 3986 has no raw space or control character; UTF-8 IRIs pass).
 */
static int id_text_ok(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x21 || p[i] == 0x7f)
			return 0;
	return n > 0;
}

static int id_uri_ok(const char *s)
{
	return uri_ok(s) && id_text_ok((const uint8_t *)s, strlen(s));
}

MCX_RESULT mcx_mikey_gmk_build(const struct mcx_sakke_params *sakke,
			       const struct mcx_eccsi_params *eccsi,
			       const struct mcx_mikey_gmk_input *in,
			       mcx_random_fn rnd, void *rnd_ctx, struct mcx_buf *out)
{
	int r = MCX_ERR_INTERNAL;
	struct mcx_buf *b = NULL;
	struct mcx_mikey_key_params def;
	const struct mcx_mikey_key_params *kp;
	uint8_t rand[MCX_MIKEY_RAND_LEN], iv[KP_IV_LEN], sed[MCX_SAKKE_ENCAP_LEN];
	uint8_t sig[MCX_ECCSI_SIG_LEN];
	uint32_t check = 0;
	size_t gext_len_at = 0, gext_start = 0;

	memset(&def, 0, sizeof(def));
	MCX_ENSURE_REF(sakke);
	MCX_ENSURE_REF(eccsi);
	MCX_ENSURE_REF(in);
	MCX_ENSURE_REF(out);
	MCX_ENSURE_REF(in->gmk);
	MCX_ENSURE_REF(in->member_uid);
	MCX_ENSURE_REF(in->member_kms_z);
	MCX_ENSURE_REF(in->sender_uid);
	MCX_ENSURE_REF(in->sender_kpak);
	MCX_ENSURE_REF(in->sender_ssk);
	MCX_ENSURE_REF(in->sender_pvt);
	MCX_ENSURE(uri_ok(in->sender_kms_uri) && uri_ok(in->member_kms_uri),
		   MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(in->identities == MCX_MIKEY_IDS_UID || in->identities == MCX_MIKEY_IDS_URI ||
		   in->identities == MCX_MIKEY_IDS_BOTH, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(in->identities == MCX_MIKEY_IDS_UID ||
		   (id_uri_ok(in->sender_uri) && id_uri_ok(in->member_uri)),
		   MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(MCX_MIKEY_PURPOSE(in->gmk_id) == MCX_MIKEY_PURPOSE(in->guk_id),
		   MCX_ERR_INVALID_ARGUMENT);
	/* A GUK-ID that does not belong to this member/GMK is a caller bug. */
	if (in->member_uri != NULL) {
		MCX_ENSURE(uri_ok(in->member_uri), MCX_ERR_INVALID_ARGUMENT);
		MCX_GUARD(mcx_mikey_guk_id(in->gmk, in->gmk_id, in->member_uri, &check));
		MCX_ENSURE(check == in->guk_id, MCX_ERR_INVALID_ARGUMENT);
	}
	if (in->key_params != NULL) {
		kp = in->key_params;
	} else {
		def.key_type = (uint8_t)MCX_MIKEY_PURPOSE(in->gmk_id);
		def.status = MCX_MIKEY_KEY_STATUS_NOT_REVOKED;
		kp = &def;
	}

	if (in->rand != NULL)
		memcpy(rand, in->rand, sizeof(rand));
	else
		MCX_ENSURE(mcx_crypto_random(rnd, rnd_ctx, rand, sizeof(rand)) == 0, MCX_ERR_CRYPTO);
	if (!in->omit_key_params)
		MCX_ENSURE(mcx_crypto_random(rnd, rnd_ctx, iv, sizeof(iv)) == 0, MCX_ERR_CRYPTO);
	if (in->member_kms_pub != NULL)
		MCX_GUARD(mcx_sakke_encapsulate_pub(in->member_kms_pub, in->member_uid,
						    MCX_MIKEY_UID_LEN, in->gmk, sed));
	else
		MCX_GUARD(mcx_sakke_encapsulate(sakke, in->member_kms_z, in->member_uid,
						MCX_MIKEY_UID_LEN, in->gmk, sed));

	MCX_ENSURE_ALLOC(b = mcx_buf_new(MCX_MIKEY_MSG_MAX));
	/* HDR */
	MCX_GUARD(mcx_buf_put_u8(b, HDR_VERSION));
	MCX_GUARD(mcx_buf_put_u8(b, HDR_DATA_TYPE));
	MCX_GUARD(mcx_buf_put_u8(b, PT_T));
	MCX_GUARD(mcx_buf_put_u8(b, HDR_PRF_HMAC256));      /* V = 0 */
	MCX_GUARD(mcx_buf_put_u32(b, in->guk_id));          /* CSB-ID */
	MCX_GUARD(mcx_buf_put_u8(b, 1));                    /* #CS */
	MCX_GUARD(mcx_buf_put_u8(b, MAP_GENERIC_ID));
	MCX_GUARD(mcx_buf_put_u8(b, CS_ID_GMK));
	MCX_GUARD(mcx_buf_put_u8(b, PROT_SRTP));
	MCX_GUARD(mcx_buf_put_u8(b, 1));                    /* S = 0, #P = 1 */
	MCX_GUARD(mcx_buf_put_u8(b, 0));                    /* policy number 0 */
	MCX_GUARD(mcx_buf_put_u16(b, 0));                   /* no session data */
	MCX_GUARD(mcx_buf_put_u8(b, 8));                    /* SPI length */
	MCX_GUARD(mcx_buf_put_u32(b, in->gmk_id));
	MCX_GUARD(mcx_buf_put_u32(b, in->guk_id));
	/* T */
	MCX_GUARD(mcx_buf_put_u8(b, PT_RAND));
	MCX_GUARD(mcx_buf_put_u8(b, TS_NTP_UTC));
	MCX_GUARD(mcx_buf_put_u64(b, in->ntp_time));
	/* RAND */
	MCX_GUARD(mcx_buf_put_u8(b, PT_IDR));
	MCX_GUARD(mcx_buf_put_u8(b, MCX_MIKEY_RAND_LEN));
	MCX_GUARD(mcx_buf_put(b, rand, sizeof(rand)));
	/*
	 * IDR, in the order of RFC 6509's I_MESSAGE (IDRi, IDRr, IDRkmsi, IDRkmsr).  E.2's
	 * MC service IDs and/or E.7's UIDs in their place; the UIDs are written
	 * with ID type 1 as in the published message.
	 */
	if (in->identities != MCX_MIKEY_IDS_UID) {
		MCX_GUARD(put_idr(b, PT_IDR, MCX_MIKEY_ROLE_IDRI, ID_TYPE_URI, in->sender_uri,
				  strlen(in->sender_uri)));
		MCX_GUARD(put_idr(b, PT_IDR, MCX_MIKEY_ROLE_IDRR, ID_TYPE_URI, in->member_uri,
				  strlen(in->member_uri)));
	}
	if (in->identities != MCX_MIKEY_IDS_URI) {
		MCX_GUARD(put_idr(b, PT_IDR, MCX_MIKEY_ROLE_IDRUIDI, ID_TYPE_URI, in->sender_uid,
				  MCX_MIKEY_UID_LEN));
		MCX_GUARD(put_idr(b, PT_IDR, MCX_MIKEY_ROLE_IDRUIDR, ID_TYPE_URI, in->member_uid,
				  MCX_MIKEY_UID_LEN));
	}
	MCX_GUARD(put_idr(b, PT_IDR, MCX_MIKEY_ROLE_IDRKMSI, ID_TYPE_URI, in->sender_kms_uri,
			  strlen(in->sender_kms_uri)));
	MCX_GUARD(put_idr(b, PT_SP, MCX_MIKEY_ROLE_IDRKMSR, ID_TYPE_URI, in->member_kms_uri,
			  strlen(in->member_kms_uri)));
	/* SP */
	MCX_GUARD(mcx_buf_put_u8(b, PT_SAKKE));
	MCX_GUARD(mcx_buf_put_u8(b, 0));                    /* policy number */
	MCX_GUARD(mcx_buf_put_u8(b, PROT_SRTP));
	MCX_GUARD(mcx_buf_put_u16(b, sizeof(sp_srtp_gcm)));
	MCX_GUARD(mcx_buf_put(b, sp_srtp_gcm, sizeof(sp_srtp_gcm)));
	/* SAKKE */
	MCX_GUARD(mcx_buf_put_u8(b, in->omit_key_params ? PT_SIGN : PT_GEXT));
	MCX_GUARD(mcx_buf_put_u8(b, SAKKE_PARAMS_1));
	MCX_GUARD(mcx_buf_put_u8(b, SAKKE_ID_SCHEME));
	MCX_GUARD(mcx_buf_put_u16(b, MCX_SAKKE_ENCAP_LEN));
	MCX_GUARD(mcx_buf_put(b, sed, sizeof(sed)));
	/* GENERAL-EXT type 7 */
	if (!in->omit_key_params) {
		uint8_t *lp = NULL;

		MCX_GUARD(mcx_buf_put_u8(b, PT_SIGN));
		MCX_GUARD(mcx_buf_put_u8(b, GEXT_KEY_PARAMS));
		gext_len_at = mcx_buf_len(b);
		MCX_GUARD(mcx_buf_put_u16(b, 0));           /* patched below */
		gext_start = mcx_buf_len(b);
		MCX_GUARD(key_params_seal(in->gmk, in->guk_id, (in->ntp_time >> 32) & 0xffffffffffULL,
					  iv, kp, b));
		MCX_ENSURE(mcx_buf_len(b) - gext_start <= 0xffff, MCX_ERR_INVALID_ARGUMENT);
		lp = mcx_buf_mutable_ptr(b) + gext_len_at;
		lp[0] = (uint8_t)((mcx_buf_len(b) - gext_start) >> 8);
		lp[1] = (uint8_t)(mcx_buf_len(b) - gext_start);
	}
	/* SIGN: the signature covers everything up to and including its 2-octet header */
	MCX_GUARD(mcx_buf_put_u16(b, (uint16_t)(SIGN_ECCSI << 12 | MCX_ECCSI_SIG_LEN)));
	MCX_GUARD(mcx_eccsi_sign(eccsi, in->sender_kpak, in->sender_uid, MCX_MIKEY_UID_LEN,
				 in->sender_ssk, in->sender_pvt, mcx_buf_ptr(b), mcx_buf_len(b),
				 rnd, rnd_ctx, sig));
	MCX_GUARD(mcx_buf_put(b, sig, sizeof(sig)));
	MCX_GUARD(mcx_buf_putb(out, b));
	r = 0;
out:
	mcx_crypto_wipe(&def, sizeof(def));
	mcx_crypto_wipe(iv, sizeof(iv));
	mcx_buf_free(b);
	return r;
}

/* ---- identities ------------------------------------------------------------ */

static const char *const ids_names[] = { "uid", "uri", "both" };

const char *mcx_mikey_identities_name(enum mcx_mikey_identities ids)
{
	return (unsigned)ids < MCX_ARRAY_SIZE(ids_names) ? ids_names[ids] : "unknown";
}

MCX_RESULT mcx_mikey_identities_parse(const char *name, enum mcx_mikey_identities *ids)
{
	int r = MCX_ERR_INVALID_ARGUMENT;

	MCX_ENSURE_REF(name);
	MCX_ENSURE_REF(ids);
	for (size_t i = 0; i < MCX_ARRAY_SIZE(ids_names); i++)
		if (strcmp(name, ids_names[i]) == 0) {
			*ids = (enum mcx_mikey_identities)i;
			r = 0;
		}
out:
	return r;
}

enum mcx_mikey_identities mcx_mikey_identities_of(const struct mcx_mikey_i_message *m)
{
	int uri = m->idri.present || m->idrr.present;
	int uid = m->idruidi.present || m->idruidr.present;

	return uri && uid ? MCX_MIKEY_IDS_BOTH : uri ? MCX_MIKEY_IDS_URI : MCX_MIKEY_IDS_UID;
}

/* ---- the group RAND ------------------------------------------------------- */

/*
 * Domain separation from everything else keyed with a GMK: the input starts
 * with 'm' (0x6D), while TS 33.180's KDF inputs start with their FC (0x50
 * user salt, 0x53 DPCK, ...) and the MIKEY PRF's HMAC inputs with a 32-bit
 * key-type constant (0x2A.., 0x39.., ...) or an HMAC value A_i.
 */
static const char group_rand_label[] = "mcxvault group RAND v1";

MCX_RESULT mcx_mikey_group_rand(const uint8_t key[MCX_MIKEY_GMK_LEN], uint32_t key_id,
				uint8_t rand[MCX_MIKEY_RAND_LEN])
{
	int r = MCX_ERR_INTERNAL;
	uint8_t msg[sizeof(group_rand_label) - 1 + 4], mac[32];
	unsigned int olen = 0;

	MCX_ENSURE_REF(key);
	MCX_ENSURE_REF(rand);
	memcpy(msg, group_rand_label, sizeof(group_rand_label) - 1);
	store32(msg + sizeof(group_rand_label) - 1, key_id);
	MCX_ENSURE(HMAC(EVP_sha256(), key, MCX_MIKEY_GMK_LEN, msg, sizeof(msg), mac, &olen) != NULL &&
		   olen == sizeof(mac), MCX_ERR_CRYPTO);
	memcpy(rand, mac, MCX_MIKEY_RAND_LEN);
	r = 0;
out:
	mcx_crypto_wipe(mac, sizeof(mac));
	return r;
}

/* ---- parse -------------------------------------------------------------------- */

static MCX_RESULT parse_hdr(struct mcx_buf *b, struct mcx_mikey_i_message *m, uint8_t *next)
{
	int r = MCX_ERR_INTERNAL;
	uint8_t vprf = 0, sp = 0, spi_len = 0;
	uint16_t sdl = 0;

	MCX_GUARD(mcx_buf_get_u8(b, &m->version));
	MCX_ENSURE(m->version == HDR_VERSION, MCX_ERR_PARSE);
	MCX_GUARD(mcx_buf_get_u8(b, &m->data_type));
	MCX_ENSURE(m->data_type == HDR_DATA_TYPE, MCX_ERR_PARSE);
	MCX_GUARD(mcx_buf_get_u8(b, next));
	MCX_GUARD(mcx_buf_get_u8(b, &vprf));
	m->v_bit = vprf >> 7;
	m->prf_func = vprf & 0x7f;
	MCX_ENSURE(m->v_bit == 0 && m->prf_func <= HDR_PRF_HMAC256, MCX_ERR_PARSE);
	MCX_GUARD(mcx_buf_get_u32(b, &m->csb_id));
	MCX_GUARD(mcx_buf_get_u8(b, &m->cs_count));
	MCX_ENSURE(m->cs_count == 1, MCX_ERR_PARSE);
	MCX_GUARD(mcx_buf_get_u8(b, &m->cs_id_map_type));
	MCX_ENSURE(m->cs_id_map_type == MAP_GENERIC_ID, MCX_ERR_PARSE);
	/* RFC 6043 6.1.2.1: CS ID | Prot type | S | #P | Ps | SDL | SD | SPI len | SPI */
	MCX_GUARD(mcx_buf_get_u8(b, &m->cs_id));
	MCX_GUARD(mcx_buf_get_u8(b, &m->cs_prot_type));
	MCX_ENSURE(m->cs_prot_type == PROT_SRTP, MCX_ERR_PARSE);
	MCX_GUARD(mcx_buf_get_u8(b, &sp));
	MCX_GUARD(mcx_buf_get(b, NULL, sp & 0x7f));         /* policy numbers */
	MCX_GUARD(mcx_buf_get_u16(b, &sdl));
	MCX_GUARD(mcx_buf_get(b, NULL, sdl));               /* session data */
	MCX_GUARD(mcx_buf_get_u8(b, &spi_len));
	MCX_ENSURE(spi_len == 4 || spi_len == 8, MCX_ERR_PARSE);
	MCX_GUARD(take(b, spi_len, &m->spi));
	m->spi_len = spi_len;
	m->gmk_id = load32(m->spi);
	if (spi_len == 8) {
		m->guk_id = load32(m->spi + 4);
		MCX_ENSURE(m->guk_id == m->csb_id, MCX_ERR_PARSE);
		MCX_ENSURE(MCX_MIKEY_PURPOSE(m->gmk_id) == MCX_MIKEY_PURPOSE(m->guk_id),
			   MCX_ERR_PARSE);
	} else {
		m->guk_id = m->csb_id;
	}
	r = 0;
out:
	return r;
}

static MCX_RESULT parse_idr(struct mcx_buf *b, struct mcx_mikey_i_message *m)
{
	int r = MCX_ERR_INTERNAL;
	uint8_t role = 0, type = 0;
	uint16_t len = 0;
	struct mcx_mikey_id *id = NULL;

	MCX_GUARD(mcx_buf_get_u8(b, &role));
	MCX_GUARD(mcx_buf_get_u8(b, &type));
	MCX_GUARD(mcx_buf_get_u16(b, &len));
	switch (role) {
	case MCX_MIKEY_ROLE_IDRI:    id = &m->idri; break;
	case MCX_MIKEY_ROLE_IDRR:    id = &m->idrr; break;
	case MCX_MIKEY_ROLE_IDRKMSI: id = &m->idrkmsi; break;
	case MCX_MIKEY_ROLE_IDRKMSR: id = &m->idrkmsr; break;
	case MCX_MIKEY_ROLE_IDRUIDI: id = &m->idruidi; break;
	case MCX_MIKEY_ROLE_IDRUIDR: id = &m->idruidr; break;
	default: MCX_BAIL(MCX_ERR_PARSE);
	}
	MCX_ENSURE(!id->present, MCX_ERR_PARSE);
	if (role == MCX_MIKEY_ROLE_IDRUIDI || role == MCX_MIKEY_ROLE_IDRUIDR)
		MCX_ENSURE((type == ID_TYPE_URI || type == ID_TYPE_BYTES) &&
			   len == MCX_MIKEY_UID_LEN, MCX_ERR_PARSE);
	else
		MCX_ENSURE(type == ID_TYPE_URI && len > 0 && len <= MCX_MIKEY_ID_MAX,
			   MCX_ERR_PARSE);
	MCX_GUARD(take(b, len, &id->data));
	/* URIs are text: no NUL inside (callers may print or compare them as strings) */
	if (role != MCX_MIKEY_ROLE_IDRUIDI && role != MCX_MIKEY_ROLE_IDRUIDR)
		MCX_ENSURE(memchr(id->data, 0, len) == NULL, MCX_ERR_PARSE);
	/* and an MC service ID is a URI: no space or control character either */
	if (role == MCX_MIKEY_ROLE_IDRI || role == MCX_MIKEY_ROLE_IDRR)
		MCX_ENSURE(id_text_ok(id->data, len), MCX_ERR_PARSE);
	id->type = type;
	id->len = len;
	id->present = 1;
	r = 0;
out:
	return r;
}

static MCX_RESULT parse_sp(struct mcx_buf *b, struct mcx_mikey_i_message *m)
{
	int r = MCX_ERR_INTERNAL;
	uint16_t len = 0;
	struct mcx_buf *params = NULL;

	MCX_GUARD(mcx_buf_get_u8(b, &m->sp_policy_no));
	MCX_GUARD(mcx_buf_get_u8(b, &m->sp_prot_type));
	MCX_ENSURE(m->sp_prot_type == PROT_SRTP, MCX_ERR_PARSE);
	MCX_GUARD(mcx_buf_get_u16(b, &len));
	MCX_GUARD(take(b, len, &m->sp_params));
	m->sp_params_len = len;
	/* RFC 3830 6.10: a chain of type(8) | length(8) | value, exactly filling len */
	MCX_ENSURE_ALLOC(params = mcx_buf_from(m->sp_params, len));
	while (mcx_buf_len(params) > 0) {
		uint8_t t = 0, l = 0;

		MCX_GUARD(mcx_buf_get_u8(params, &t));
		MCX_GUARD(mcx_buf_get_u8(params, &l));
		MCX_GUARD(mcx_buf_get(params, NULL, l));
	}
	m->sp_present = 1;
	r = 0;
out:
	mcx_buf_free(params);
	return r;
}

static MCX_RESULT parse_gext(struct mcx_buf *b, struct mcx_mikey_i_message *m)
{
	int r = MCX_ERR_INTERNAL;
	uint8_t type = 0, tlv = 0;
	uint16_t len = 0, ctl = 0;
	const uint8_t *data = NULL;
	struct mcx_buf *d = NULL;

	MCX_GUARD(mcx_buf_get_u8(b, &type));
	MCX_ENSURE(type == GEXT_KEY_PARAMS, MCX_ERR_PARSE);
	MCX_GUARD(mcx_buf_get_u16(b, &len));
	MCX_GUARD(take(b, len, &data));
	MCX_ENSURE_ALLOC(d = mcx_buf_from(data, len));
	m->kp_ad = data;
	MCX_GUARD(mcx_buf_get_u8(d, &m->kp_msg_type));
	MCX_GUARD(get_u40(d, &m->kp_date_time));
	MCX_GUARD(mcx_buf_get_u32(d, &m->kp_payload_id));
	MCX_GUARD(mcx_buf_get_u8(d, &m->kp_seq));
	MCX_GUARD(mcx_buf_get_u8(d, &m->kp_alg));
	MCX_ENSURE(m->kp_alg == KP_ALG_AES128GCM, MCX_ERR_PARSE);
	MCX_GUARD(take(d, KP_IV_LEN, &m->kp_iv));
	MCX_GUARD(mcx_buf_get_u32(d, &m->kp_dppk_id));
	MCX_ENSURE(m->kp_dppk_id == m->csb_id, MCX_ERR_PARSE);
	MCX_GUARD(mcx_buf_get_u8(d, &tlv));
	MCX_ENSURE(tlv == 0, MCX_ERR_PARSE);
	MCX_GUARD(mcx_buf_get_u16(d, &ctl));
	MCX_ENSURE(ctl >= KP_TAG_LEN && ctl - KP_TAG_LEN <= KP_PLAIN_MAX, MCX_ERR_PARSE);
	MCX_GUARD(take(d, ctl, &m->kp_ct));
	m->kp_ct_len = ctl;
	MCX_ENSURE(mcx_buf_len(d) == 0, MCX_ERR_PARSE);
	m->kp_present = 1;
	r = 0;
out:
	mcx_buf_free(d);
	return r;
}

/* Order of the payloads after HDR (RFC 6509 s.4, GENERAL-EXT as published). */
enum stage { ST_HDR, ST_T, ST_RAND, ST_IDR, ST_SP, ST_SAKKE, ST_GEXT };

MCX_RESULT mcx_mikey_parse(const uint8_t *msg, size_t len, struct mcx_mikey_i_message *out)
{
	int r = MCX_ERR_INTERNAL;
	struct mcx_buf *b = NULL;
	struct mcx_mikey_i_message m;
	enum stage st = ST_HDR;
	uint8_t next = 0, rl = 0;
	uint16_t sh = 0, sakke_len = 0;

	memset(&m, 0, sizeof(m));
	MCX_ENSURE_REF(out);
	memset(out, 0, sizeof(*out));
	MCX_ENSURE(msg != NULL || len == 0, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(len <= MCX_MIKEY_MSG_MAX, MCX_ERR_PARSE);
	MCX_ENSURE_ALLOC(b = mcx_buf_from(msg, len));
	m.msg = msg;
	m.msg_len = len;
	MCX_GUARD(parse_hdr(b, &m, &next));
	for (;;) {
		uint8_t cur = next;

		if (cur == PT_SIGN) {
			MCX_ENSURE(st == ST_SAKKE || st == ST_GEXT, MCX_ERR_PARSE);
			MCX_GUARD(mcx_buf_get_u16(b, &sh));
			m.sig_type = (uint8_t)(sh >> 12);
			m.sig_len = sh & 0x0fff;
			MCX_ENSURE(m.sig_type == SIGN_ECCSI && m.sig_len == MCX_ECCSI_SIG_LEN,
				   MCX_ERR_PARSE);
			m.signed_len = len - mcx_buf_len(b);
			MCX_GUARD(take(b, m.sig_len, &m.sig));
			MCX_ENSURE(mcx_buf_len(b) == 0, MCX_ERR_PARSE);   /* trailing octets */
			/*
			 * A message that names no sender or no member cannot be
			 * checked against either (TS 33.180 E.2 requires IDRi and
			 * IDRr, E.7 allows their UID form instead).
			 */
			MCX_ENSURE((m.idri.present || m.idruidi.present) &&
				   (m.idrr.present || m.idruidr.present), MCX_ERR_PARSE);
			break;
		}
		MCX_GUARD(mcx_buf_get_u8(b, &next));
		switch (cur) {
		case PT_T:
			MCX_ENSURE(st == ST_HDR, MCX_ERR_PARSE);
			MCX_GUARD(mcx_buf_get_u8(b, &m.ts_type));
			MCX_ENSURE(m.ts_type <= 2, MCX_ERR_PARSE);    /* all three are 64-bit */
			MCX_GUARD(mcx_buf_get_u64(b, &m.ts));
			st = ST_T;
			break;
		case PT_RAND:
			MCX_ENSURE(st == ST_T, MCX_ERR_PARSE);
			MCX_GUARD(mcx_buf_get_u8(b, &rl));
			MCX_ENSURE(rl >= MCX_MIKEY_RAND_LEN, MCX_ERR_PARSE);
			MCX_GUARD(take(b, rl, &m.rand));
			m.rand_len = rl;
			st = ST_RAND;
			break;
		case PT_IDR:
			MCX_ENSURE(st == ST_RAND || st == ST_IDR, MCX_ERR_PARSE);
			MCX_GUARD(parse_idr(b, &m));
			st = ST_IDR;
			break;
		case PT_SP:
			MCX_ENSURE(st == ST_RAND || st == ST_IDR, MCX_ERR_PARSE);
			MCX_GUARD(parse_sp(b, &m));
			st = ST_SP;
			break;
		case PT_SAKKE:
			MCX_ENSURE(st == ST_RAND || st == ST_IDR || st == ST_SP, MCX_ERR_PARSE);
			MCX_GUARD(mcx_buf_get_u8(b, &m.sakke_params));
			MCX_GUARD(mcx_buf_get_u8(b, &m.sakke_id_scheme));
			MCX_ENSURE(m.sakke_params == SAKKE_PARAMS_1 &&
				   m.sakke_id_scheme == SAKKE_ID_SCHEME, MCX_ERR_PARSE);
			MCX_GUARD(mcx_buf_get_u16(b, &sakke_len));
			MCX_ENSURE(sakke_len == MCX_SAKKE_ENCAP_LEN, MCX_ERR_PARSE);
			MCX_GUARD(take(b, sakke_len, &m.sed));
			m.sed_len = sakke_len;
			st = ST_SAKKE;
			break;
		case PT_GEXT:
			MCX_ENSURE(st == ST_SAKKE, MCX_ERR_PARSE);
			MCX_GUARD(parse_gext(b, &m));
			st = ST_GEXT;
			break;
		default:   /* PT_LAST before SIGN, or a payload type we do not accept */
			MCX_BAIL(MCX_ERR_PARSE);
		}
	}
	*out = m;
	r = 0;
out:
	mcx_buf_free(b);
	return r;
}

/* ---- verify / decapsulate -------------------------------------------------- */

/* An IDRi/IDRr value equals a NUL-terminated MC service ID. */
static int id_is_uri(const struct mcx_mikey_id *id, const char *uri)
{
	size_t n = strnlen(uri, MCX_MIKEY_ID_MAX + 1);

	return id->type == ID_TYPE_URI && id->len == n && memcmp(id->data, uri, n) == 0;
}

static int id_is_uid(const struct mcx_mikey_id *id, const uint8_t *uid)
{
	return id->len == MCX_MIKEY_UID_LEN && memcmp(id->data, uid, MCX_MIKEY_UID_LEN) == 0;
}

/*
 * The identities a message carries against the party they must name.  uri
 * NULL: IDRi/IDRr not compared (the UID-only API, whose callers may not know
 * the URI); MCX_ERR_INVALID_ARGUMENT from the _sender/_member API when the
 * message carries a URI the caller gave nothing to compare with.
 */
static MCX_RESULT ids_match(const struct mcx_mikey_id *uri_id, const struct mcx_mikey_id *uid_id,
			    const char *uri, int uri_required, const uint8_t *uid, int mismatch)
{
	int r = MCX_ERR_INTERNAL;

	if (uri_id->present) {
		MCX_ENSURE(uri != NULL || !uri_required, MCX_ERR_INVALID_ARGUMENT);
		if (uri != NULL)
			MCX_ENSURE(id_is_uri(uri_id, uri), mismatch);
	}
	if (uid_id->present)
		MCX_ENSURE(id_is_uid(uid_id, uid), mismatch);
	r = 0;
out:
	return r;
}

static MCX_RESULT verify(const struct mcx_eccsi_params *eccsi, const struct mcx_mikey_i_message *m,
			 const uint8_t *sender_kpak, const uint8_t *sender_uid, const char *sender_uri,
			 int uri_required)
{
	int r = MCX_ERR_INTERNAL;

	MCX_ENSURE_REF(eccsi);
	MCX_ENSURE_REF(m);
	MCX_ENSURE_REF(sender_kpak);
	MCX_ENSURE_REF(sender_uid);
	MCX_ENSURE(m->msg != NULL && m->sig != NULL && m->sig_len == MCX_ECCSI_SIG_LEN &&
		   m->signed_len > 0 && m->signed_len + m->sig_len == m->msg_len,
		   MCX_ERR_INVALID_ARGUMENT);
	MCX_GUARD(ids_match(&m->idri, &m->idruidi, sender_uri, uri_required, sender_uid,
			    MCX_ERR_SIGNATURE_INVALID));
	/* ECCSI over the UID (TS 33.180 F.2.1): the IDs above are signed octets */
	MCX_GUARD(mcx_eccsi_verify(eccsi, sender_kpak, sender_uid, MCX_MIKEY_UID_LEN,
				   m->msg, m->signed_len, m->sig, m->sig_len));
	r = 0;
out:
	return r;
}

MCX_RESULT mcx_mikey_verify(const struct mcx_eccsi_params *eccsi,
			    const struct mcx_mikey_i_message *m,
			    const uint8_t *sender_kpak, const uint8_t *sender_uid)
{
	return verify(eccsi, m, sender_kpak, sender_uid, NULL, 0);
}

MCX_RESULT mcx_mikey_verify_sender(const struct mcx_eccsi_params *eccsi,
				   const struct mcx_mikey_i_message *m,
				   const uint8_t *sender_kpak, const uint8_t *sender_uid,
				   const char *sender_uri)
{
	return verify(eccsi, m, sender_kpak, sender_uid, sender_uri, 1);
}

static MCX_RESULT decapsulate(const struct mcx_sakke_params *sakke,
			      const struct mcx_mikey_i_message *m, const uint8_t *member_kms_z,
			      const uint8_t *member_uid, const char *member_uri, int uri_required,
			      const uint8_t *member_rsk, uint8_t gmk[MCX_MIKEY_GMK_LEN])
{
	int r = MCX_ERR_INTERNAL;
	struct mcx_mikey_key_params kp;

	memset(&kp, 0, sizeof(kp));
	MCX_ENSURE_REF(gmk);
	memset(gmk, 0, MCX_MIKEY_GMK_LEN);
	MCX_ENSURE_REF(sakke);
	MCX_ENSURE_REF(m);
	MCX_ENSURE_REF(member_kms_z);
	MCX_ENSURE_REF(member_uid);
	MCX_ENSURE_REF(member_rsk);
	MCX_ENSURE(m->sed != NULL && m->sed_len == MCX_SAKKE_ENCAP_LEN,
		   MCX_ERR_INVALID_ARGUMENT);
	MCX_GUARD(ids_match(&m->idrr, &m->idruidr, member_uri, uri_required, member_uid,
			    MCX_ERR_INVALID_ARGUMENT));
	MCX_GUARD(mcx_sakke_decapsulate(sakke, member_kms_z, member_uid, MCX_MIKEY_UID_LEN,
					member_rsk, m->sed, m->sed_len, gmk));
	if (m->kp_present)
		MCX_GUARD(mcx_mikey_key_params_open(m, gmk, &kp));
	r = 0;
out:
	mcx_crypto_wipe(&kp, sizeof(kp));
	if (r != 0 && gmk != NULL)
		mcx_crypto_wipe(gmk, MCX_MIKEY_GMK_LEN);
	return r;
}

MCX_RESULT mcx_mikey_decapsulate(const struct mcx_sakke_params *sakke,
				 const struct mcx_mikey_i_message *m,
				 const uint8_t *member_kms_z, const uint8_t *member_uid,
				 const uint8_t *member_rsk,
				 uint8_t gmk[MCX_MIKEY_GMK_LEN])
{
	return decapsulate(sakke, m, member_kms_z, member_uid, NULL, 0, member_rsk, gmk);
}

MCX_RESULT mcx_mikey_decapsulate_member(const struct mcx_sakke_params *sakke,
					const struct mcx_mikey_i_message *m,
					const uint8_t *member_kms_z, const uint8_t *member_uid,
					const char *member_uri, const uint8_t *member_rsk,
					uint8_t gmk[MCX_MIKEY_GMK_LEN])
{
	return decapsulate(sakke, m, member_kms_z, member_uid, member_uri, 1, member_rsk, gmk);
}
