/*
 * mcxvault crypto — per-sender SRTP master keys of a group (TS 33.180 7.4.2)
 * with the MIKEY PRF (RFC 3830 s.4.1.2, RFC 6043 s.6.1); see mcx/mikey.h and
 * docs/mikey.md, "Per-sender media keys".
 *
 * There are no official test vectors for the MIKEY PRF; tests/mikey checks it
 * against an independent implementation on EVP_MAC and against values
 * computed with Python's hmac module (docs/mikey.md says which).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "crypto/internal.h"
#include "mcx/mikey.h"

#define PRF_MIKEY1        0   /* HDR PRF func 0: MIKEY-1, HMAC-SHA-1 (RFC 3830 s.4.1.2) */
#define PRF_HMAC_SHA256   1   /* HDR PRF func 1: PRF-HMAC-SHA-256 (RFC 6043 s.6.1) */
#define PRF_INKEY_CHUNK   32  /* RFC 3830 s.4.1.2: "n = inkey_len / 256" bits */
#define PRF_OUT_MAX       64
#define PRF_LABEL_MAX     512
#define HASH_MAX          32

/* RFC 3830 s.4.1.3, the constants of the keys derived from the TGK. */
#define KD_CONST_TEK      0x2AD01C64u   /* "TEK": the SRTP master key */
#define KD_CONST_SALT     0x39A2C14Bu   /* "salting key": the SRTP master salt */

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* One HMAC over a || b (a <= HASH_MAX octets when b is given). */
static MCX_RESULT hmac2(const EVP_MD *md, const uint8_t *key, size_t key_len, const uint8_t *a,
			size_t a_len, const uint8_t *b, size_t b_len, uint8_t *out)
{
	int r = MCX_ERR_INTERNAL;
	uint8_t in[HASH_MAX + PRF_LABEL_MAX];
	unsigned int olen = 0;

	MCX_ENSURE(a_len <= sizeof(in) && b_len <= sizeof(in) - a_len, MCX_ERR_INTERNAL);
	memcpy(in, a, a_len);
	if (b_len > 0)
		memcpy(in + a_len, b, b_len);
	MCX_ENSURE(HMAC(md, key, (int)key_len, in, a_len + b_len, out, &olen) != NULL &&
		   olen == (unsigned)EVP_MD_get_size(md), MCX_ERR_CRYPTO);
	r = 0;
out:
	mcx_crypto_wipe(in, sizeof(in));   /* A_i are secret-derived */
	return r;
}

/*
 * P(s, label, m) of RFC 3830 s.4.1.2, XORed into out (out_len octets):
 *   A_0 = label, A_i = HMAC(s, A_(i-1)),
 *   P = HMAC(s, A_1 || label) || HMAC(s, A_2 || label) || ...
 */
static MCX_RESULT p_xor(const EVP_MD *md, const uint8_t *s, size_t s_len, const uint8_t *label,
			size_t label_len, uint8_t *out, size_t out_len)
{
	int r = MCX_ERR_INTERNAL;
	uint8_t a[HASH_MAX], block[HASH_MAX];
	size_t hl = (size_t)EVP_MD_get_size(md), done = 0;

	MCX_ENSURE(hl > 0 && hl <= HASH_MAX, MCX_ERR_INTERNAL);
	MCX_GUARD(hmac2(md, s, s_len, label, label_len, NULL, 0, a));          /* A_1 */
	while (done < out_len) {
		size_t n = out_len - done < hl ? out_len - done : hl;

		MCX_GUARD(hmac2(md, s, s_len, a, hl, label, label_len, block));
		for (size_t i = 0; i < n; i++)
			out[done + i] ^= block[i];
		done += n;
		if (done < out_len)
			MCX_GUARD(hmac2(md, s, s_len, a, hl, NULL, 0, a));      /* A_(i+1) */
	}
	r = 0;
out:
	mcx_crypto_wipe(a, sizeof(a));
	mcx_crypto_wipe(block, sizeof(block));
	return r;
}

MCX_RESULT mcx_mikey_prf(unsigned prf_func, const uint8_t *inkey, size_t inkey_len,
			 const uint8_t *label, size_t label_len, uint8_t *out, size_t out_len)
{
	int r = MCX_ERR_INTERNAL;
	const EVP_MD *md = prf_func == PRF_HMAC_SHA256 ? EVP_sha256() :
			   prf_func == PRF_MIKEY1 ? EVP_sha1() : NULL;

	MCX_ENSURE_REF(out);
	MCX_ENSURE(out_len > 0 && out_len <= PRF_OUT_MAX, MCX_ERR_INVALID_ARGUMENT);
	memset(out, 0, out_len);
	MCX_ENSURE(md != NULL, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(inkey != NULL && inkey_len > 0, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(label != NULL && label_len > 0 && label_len <= PRF_LABEL_MAX,
		   MCX_ERR_INVALID_ARGUMENT);
	/* inkey in 256-bit pieces s_1 .. s_n (the last may be shorter), XORed */
	for (size_t off = 0; off < inkey_len; off += PRF_INKEY_CHUNK) {
		size_t n = inkey_len - off < PRF_INKEY_CHUNK ? inkey_len - off : PRF_INKEY_CHUNK;

		MCX_GUARD(p_xor(md, inkey + off, n, label, label_len, out, out_len));
	}
	r = 0;
out:
	if (r != 0 && out != NULL && out_len <= PRF_OUT_MAX)
		mcx_crypto_wipe(out, out_len);
	return r;
}

/* RFC 3830 s.4.1.3: label = constant || cs_id || csb_id || RAND. */
static MCX_RESULT tgk_derive(unsigned prf_func, const uint8_t *tgk, uint32_t constant,
			     uint8_t cs_id, uint32_t csb_id, const uint8_t *rand, size_t rand_len,
			     uint8_t *out, size_t out_len)
{
	int r = MCX_ERR_INTERNAL;
	uint8_t label[9 + 255];

	MCX_ENSURE(rand_len >= MCX_MIKEY_RAND_LEN && rand_len <= 255, MCX_ERR_INVALID_ARGUMENT);
	put32(label, constant);
	label[4] = cs_id;
	put32(label + 5, csb_id);
	memcpy(label + 9, rand, rand_len);
	MCX_GUARD(mcx_mikey_prf(prf_func, tgk, MCX_MIKEY_GMK_LEN, label, 9 + rand_len, out, out_len));
	r = 0;
out:
	return r;
}

MCX_RESULT mcx_mikey_media_keys(unsigned prf_func, const uint8_t gmk[MCX_MIKEY_GMK_LEN],
				uint32_t gmk_id, uint32_t guk_id, uint8_t cs_id,
				const uint8_t *rand, size_t rand_len,
				struct mcx_mikey_srtp_keys *out)
{
	int r = MCX_ERR_INTERNAL;

	MCX_ENSURE_REF(out);
	memset(out, 0, sizeof(*out));
	MCX_ENSURE_REF(gmk);
	MCX_ENSURE_REF(rand);
	/* the GUK-ID keeps the GMK-ID's purpose tag (TS 33.180 F.1.3) */
	MCX_ENSURE(MCX_MIKEY_PURPOSE(gmk_id) == MCX_MIKEY_PURPOSE(guk_id), MCX_ERR_INVALID_ARGUMENT);
	MCX_GUARD(tgk_derive(prf_func, gmk, KD_CONST_TEK, cs_id, guk_id, rand, rand_len,
			     out->master_key, sizeof(out->master_key)));
	MCX_GUARD(tgk_derive(prf_func, gmk, KD_CONST_SALT, cs_id, guk_id, rand, rand_len,
			     out->master_salt, sizeof(out->master_salt)));
	out->gmk_id = gmk_id;
	out->guk_id = guk_id;
	put32(out->mki, gmk_id);
	put32(out->mki + 4, guk_id);
	r = 0;
out:
	if (r != 0 && out != NULL)
		mcx_crypto_wipe(out, sizeof(*out));
	return r;
}

MCX_RESULT mcx_mikey_mki_parse(const uint8_t *mki, size_t mki_len, uint32_t *gmk_id,
			       uint32_t *guk_id)
{
	int r = MCX_ERR_INTERNAL;

	MCX_ENSURE_REF(mki);
	MCX_ENSURE_REF(gmk_id);
	MCX_ENSURE_REF(guk_id);
	MCX_ENSURE(mki_len == MCX_MIKEY_MKI_LEN, MCX_ERR_PARSE);
	MCX_ENSURE(MCX_MIKEY_PURPOSE(get32(mki)) == MCX_MIKEY_PURPOSE(get32(mki + 4)),
		   MCX_ERR_PARSE);
	*gmk_id = get32(mki);
	*guk_id = get32(mki + 4);
	r = 0;
out:
	return r;
}

/*
 * The message is this member's: its CSB-ID is own_uri's GUK-ID under this
 * GMK and GMK-ID (TS 33.180 E.2: "the CSB ID field of MIKEY common header
 * shall be the GUK-ID"), and if it names the member by URI, by this URI.
 */
static MCX_RESULT message_is_own(const struct mcx_mikey_i_message *m,
				 const uint8_t gmk[MCX_MIKEY_GMK_LEN], const char *own_uri)
{
	int r = MCX_ERR_INTERNAL;
	uint32_t own_guk = 0;
	size_t n;

	MCX_ENSURE_REF(m);
	MCX_ENSURE_REF(gmk);
	MCX_ENSURE_REF(own_uri);
	MCX_ENSURE(m->msg != NULL && m->rand != NULL && m->rand_len >= MCX_MIKEY_RAND_LEN,
		   MCX_ERR_INVALID_ARGUMENT);
	MCX_GUARD(mcx_mikey_guk_id(gmk, m->gmk_id, own_uri, &own_guk));
	MCX_ENSURE(own_guk == m->csb_id, MCX_ERR_INVALID_ARGUMENT);
	if (m->idrr.present) {
		n = strnlen(own_uri, MCX_MIKEY_ID_MAX + 1);
		MCX_ENSURE(m->idrr.len == n && memcmp(m->idrr.data, own_uri, n) == 0,
			   MCX_ERR_INVALID_ARGUMENT);
	}
	r = 0;
out:
	own_guk = 0;
	return r;
}

MCX_RESULT mcx_mikey_media_keys_own(const struct mcx_mikey_i_message *m,
				    const uint8_t gmk[MCX_MIKEY_GMK_LEN], const char *own_uri,
				    struct mcx_mikey_srtp_keys *out)
{
	int r = MCX_ERR_INTERNAL;

	MCX_ENSURE_REF(out);
	memset(out, 0, sizeof(*out));
	MCX_GUARD(message_is_own(m, gmk, own_uri));
	MCX_GUARD(mcx_mikey_media_keys(m->prf_func, gmk, m->gmk_id, m->csb_id, m->cs_id, m->rand,
				       m->rand_len, out));
	r = 0;
out:
	return r;
}

MCX_RESULT mcx_mikey_media_keys_peer(const struct mcx_mikey_i_message *m,
				     const uint8_t gmk[MCX_MIKEY_GMK_LEN], const char *own_uri,
				     const uint8_t *mki, size_t mki_len,
				     struct mcx_mikey_srtp_keys *out)
{
	int r = MCX_ERR_INTERNAL;
	uint32_t gmk_id = 0, guk_id = 0;

	MCX_ENSURE_REF(out);
	memset(out, 0, sizeof(*out));
	MCX_GUARD(message_is_own(m, gmk, own_uri));
	MCX_GUARD(mcx_mikey_mki_parse(mki, mki_len, &gmk_id, &guk_id));
	/* a packet under another GMK (an older or newer one): not this context */
	MCX_ENSURE(gmk_id == m->gmk_id, MCX_ERR_NOT_FOUND);
	MCX_GUARD(mcx_mikey_media_keys(m->prf_func, gmk, gmk_id, guk_id, m->cs_id, m->rand,
				       m->rand_len, out));
	r = 0;
out:
	return r;
}
