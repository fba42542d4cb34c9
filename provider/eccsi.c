/*
 * mcxvault OpenSSL 3 provider — SIGNATURE "ECCSI" (RFC 6507 s.5.2) on the
 * keys of KEYMGMT "ECCSI" (mcx_keys.c), computed by the crypto module.
 *
 * ECCSI hashes the message itself (HE = hash(HS || r || M)), so there is no
 * digest to choose:
 *   - EVP_PKEY_sign / EVP_PKEY_verify take their input as the message;
 *   - EVP_DigestSignInit / EVP_DigestVerifyInit take a NULL digest (or
 *     "SHA256", naming the hash ECCSI uses anyway); the message is buffered
 *     (at most MCXP_ECCSI_MSG_MAX octets) and signed at the final call, or
 *     at once by the one-shot EVP_DigestSign / EVP_DigestVerify.
 * The signature is r || s || PVT, 129 octets; the random j comes from
 * RAND_priv_bytes in the provider's library context.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/params.h>

#include "provider/provider.h"

#define MCXP_ECCSI_MSG_MAX (64u * 1024 * 1024)

struct mcxp_eccsi_sig {
	struct mcxp_ctx *ctx;
	const struct mcxp_ibk *key;     /* owned by the EVP_PKEY, which outlives us */
	uint8_t *msg;                   /* EVP_DigestSign/Verify: the buffered message */
	size_t msg_len, msg_cap;
};

static OSSL_FUNC_signature_newctx_fn es_newctx;
static OSSL_FUNC_signature_freectx_fn es_freectx;
static OSSL_FUNC_signature_dupctx_fn es_dupctx;
static OSSL_FUNC_signature_sign_init_fn es_sign_init;
static OSSL_FUNC_signature_sign_fn es_sign;
static OSSL_FUNC_signature_verify_init_fn es_verify_init;
static OSSL_FUNC_signature_verify_fn es_verify;
static OSSL_FUNC_signature_digest_sign_init_fn es_digest_sign_init;
static OSSL_FUNC_signature_digest_sign_update_fn es_digest_update;
static OSSL_FUNC_signature_digest_sign_final_fn es_digest_sign_final;
static OSSL_FUNC_signature_digest_sign_fn es_digest_sign;
static OSSL_FUNC_signature_digest_verify_init_fn es_digest_verify_init;
static OSSL_FUNC_signature_digest_verify_final_fn es_digest_verify_final;
static OSSL_FUNC_signature_digest_verify_fn es_digest_verify;
static OSSL_FUNC_signature_set_ctx_params_fn es_set_ctx_params;
static OSSL_FUNC_signature_settable_ctx_params_fn es_settable_ctx_params;
static OSSL_FUNC_signature_get_ctx_params_fn es_get_ctx_params;
static OSSL_FUNC_signature_gettable_ctx_params_fn es_gettable_ctx_params;

static void *es_newctx(void *provctx, const char *propq)
{
	struct mcxp_eccsi_sig *s = OPENSSL_zalloc(sizeof(*s));

	if (s != NULL)
		s->ctx = provctx;
	return s;
}

static void msg_clear(struct mcxp_eccsi_sig *s)
{
	OPENSSL_clear_free(s->msg, s->msg_cap);
	s->msg = NULL;
	s->msg_len = s->msg_cap = 0;
}

static void es_freectx(void *vctx)
{
	struct mcxp_eccsi_sig *s = vctx;

	if (s == NULL)
		return;
	msg_clear(s);
	OPENSSL_free(s);
}

static void *es_dupctx(void *vctx)
{
	const struct mcxp_eccsi_sig *s = vctx;
	struct mcxp_eccsi_sig *d;

	if (s == NULL || (d = OPENSSL_memdup(s, sizeof(*s))) == NULL)
		return NULL;
	d->msg = NULL;
	d->msg_len = d->msg_cap = 0;
	if (s->msg != NULL) {
		if ((d->msg = OPENSSL_memdup(s->msg, s->msg_cap)) == NULL) {
			OPENSSL_free(d);
			return NULL;
		}
		d->msg_len = s->msg_len;
		d->msg_cap = s->msg_cap;
	}
	return d;
}

static int es_init(struct mcxp_eccsi_sig *s, const struct mcxp_ibk *key, int need_private,
		   const OSSL_PARAM params[])
{
	if (s == NULL)
		return 0;
	msg_clear(s);
	if (key == NULL) {          /* re-initialisation with the same key */
		if (s->key == NULL)
			return 0;
		return es_set_ctx_params(s, params);
	}
	if (key->type != MCXP_IBK_ECCSI)
		return 0;
	if (!key->has_public) {
		MCXP_RAISE(s->ctx, MCXP_R_BAD_INPUT, "ECCSI key without KPAK and identity");
		return 0;
	}
	if (need_private && !key->has_private) {
		MCXP_RAISE(s->ctx, MCXP_R_NO_PRIVATE_KEY, "ECCSI signing needs the SSK and PVT");
		return 0;
	}
	s->key = key;
	return es_set_ctx_params(s, params);
}

static int es_sign_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
	return es_init(vctx, provkey, 1, params);
}

static int es_verify_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
	return es_init(vctx, provkey, 0, params);
}

/* Signs msg: a length query when sig is NULL. */
static int es_sign(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize,
		   const unsigned char *msg, size_t msg_len)
{
	struct mcxp_eccsi_sig *s = vctx;
	const struct mcx_eccsi_params *ep = NULL;
	const struct mcxp_ibk *k;
	int r;

	if (s == NULL || (k = s->key) == NULL || siglen == NULL)
		return 0;
	if (sig == NULL) {
		*siglen = MCX_ECCSI_SIG_LEN;
		return 1;
	}
	if (!k->has_private) {
		MCXP_RAISE(s->ctx, MCXP_R_NO_PRIVATE_KEY, "ECCSI signing needs the SSK and PVT");
		return 0;
	}
	if (sigsize < MCX_ECCSI_SIG_LEN) {
		MCXP_RAISE(s->ctx, MCXP_R_BAD_INPUT, "ECCSI: a signature buffer of %d octets needed",
			   MCX_ECCSI_SIG_LEN);
		return 0;
	}
	if (msg == NULL && msg_len != 0)
		return 0;
	if (mcxp_eccsi_params(s->ctx, &ep) != 0)
		return 0;
	if ((r = mcx_eccsi_sign(ep, k->kms, k->id, k->id_len, k->priv, k->pvt,
				msg != NULL ? msg : (const uint8_t *)"", msg_len, mcxp_rand, s->ctx, sig)) != 0) {
		MCXP_RAISE(s->ctx, r == MCX_ERR_INVALID_ARGUMENT ? MCXP_R_BAD_INPUT : MCXP_R_INTERNAL,
			   "ECCSI signing: %s", mcx_strerror(r));
		return 0;
	}
	*siglen = MCX_ECCSI_SIG_LEN;
	return 1;
}

/* 1 for a valid signature, 0 for any other (no error raised for a bad one). */
static int es_verify(void *vctx, const unsigned char *sig, size_t siglen,
		     const unsigned char *msg, size_t msg_len)
{
	struct mcxp_eccsi_sig *s = vctx;
	const struct mcx_eccsi_params *ep = NULL;
	const struct mcxp_ibk *k;

	if (s == NULL || (k = s->key) == NULL || sig == NULL || (msg == NULL && msg_len != 0))
		return 0;
	if (mcxp_eccsi_params(s->ctx, &ep) != 0)
		return 0;
	return mcx_eccsi_verify(ep, k->kms, k->id, k->id_len, msg != NULL ? msg : (const uint8_t *)"",
				msg_len, sig, siglen) == 0;
}

/* ECCSI fixes its hash: no digest, or SHA-256 named explicitly. */
static int digest_ok(struct mcxp_eccsi_sig *s, const char *mdname)
{
	if (mdname == NULL || mdname[0] == '\0' || strcasecmp(mdname, "SHA256") == 0 ||
	    strcasecmp(mdname, "SHA2-256") == 0 || strcasecmp(mdname, "SHA-256") == 0)
		return 1;
	MCXP_RAISE(s->ctx, MCXP_R_UNSUPPORTED, "ECCSI hashes the message itself (SHA-256): digest %s", mdname);
	return 0;
}

static int es_digest_sign_init(void *vctx, const char *mdname, void *provkey, const OSSL_PARAM params[])
{
	return vctx != NULL && digest_ok(vctx, mdname) && es_init(vctx, provkey, 1, params);
}

static int es_digest_verify_init(void *vctx, const char *mdname, void *provkey, const OSSL_PARAM params[])
{
	return vctx != NULL && digest_ok(vctx, mdname) && es_init(vctx, provkey, 0, params);
}

static int es_digest_update(void *vctx, const unsigned char *data, size_t len)
{
	struct mcxp_eccsi_sig *s = vctx;
	size_t cap;
	uint8_t *m;

	if (s == NULL || (data == NULL && len != 0))
		return 0;
	if (len == 0)
		return 1;
	if (len > MCXP_ECCSI_MSG_MAX - s->msg_len) {
		MCXP_RAISE(s->ctx, MCXP_R_BAD_INPUT, "ECCSI: message longer than %u octets", MCXP_ECCSI_MSG_MAX);
		return 0;
	}
	if (s->msg_len + len > s->msg_cap) {
		cap = s->msg_cap != 0 ? s->msg_cap : 256;
		while (cap < s->msg_len + len)
			cap *= 2;
		if ((m = OPENSSL_clear_realloc(s->msg, s->msg_cap, cap)) == NULL)
			return 0;
		s->msg = m;
		s->msg_cap = cap;
	}
	memcpy(s->msg + s->msg_len, data, len);
	s->msg_len += len;
	return 1;
}

static int es_digest_sign_final(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize)
{
	struct mcxp_eccsi_sig *s = vctx;

	if (s == NULL)
		return 0;
	return es_sign(s, sig, siglen, sigsize, s->msg, s->msg_len);
}

static int es_digest_verify_final(void *vctx, const unsigned char *sig, size_t siglen)
{
	struct mcxp_eccsi_sig *s = vctx;

	if (s == NULL)
		return 0;
	return es_verify(s, sig, siglen, s->msg, s->msg_len);
}

static int es_digest_sign(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize,
			  const unsigned char *msg, size_t msg_len)
{
	return es_sign(vctx, sig, siglen, sigsize, msg, msg_len);
}

static int es_digest_verify(void *vctx, const unsigned char *sig, size_t siglen,
			    const unsigned char *msg, size_t msg_len)
{
	return es_verify(vctx, sig, siglen, msg, msg_len);
}

/* No parameters: accepted so that EVP_PKEY_CTX_set_params is harmless. */
static int es_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
	return vctx != NULL;
}

static const OSSL_PARAM es_no_params[] = { OSSL_PARAM_END };

static const OSSL_PARAM *es_settable_ctx_params(void *vctx, void *provctx)
{
	return es_no_params;
}

static int es_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
	return vctx != NULL;
}

static const OSSL_PARAM *es_gettable_ctx_params(void *vctx, void *provctx)
{
	return es_no_params;
}

const OSSL_DISPATCH mcxp_eccsi_signature_functions[] = {
	{ OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))es_newctx },
	{ OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))es_freectx },
	{ OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))es_dupctx },
	{ OSSL_FUNC_SIGNATURE_SIGN_INIT, (void (*)(void))es_sign_init },
	{ OSSL_FUNC_SIGNATURE_SIGN, (void (*)(void))es_sign },
	{ OSSL_FUNC_SIGNATURE_VERIFY_INIT, (void (*)(void))es_verify_init },
	{ OSSL_FUNC_SIGNATURE_VERIFY, (void (*)(void))es_verify },
	{ OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, (void (*)(void))es_digest_sign_init },
	{ OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, (void (*)(void))es_digest_update },
	{ OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, (void (*)(void))es_digest_sign_final },
	{ OSSL_FUNC_SIGNATURE_DIGEST_SIGN, (void (*)(void))es_digest_sign },
	{ OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT, (void (*)(void))es_digest_verify_init },
	{ OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE, (void (*)(void))es_digest_update },
	{ OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL, (void (*)(void))es_digest_verify_final },
	{ OSSL_FUNC_SIGNATURE_DIGEST_VERIFY, (void (*)(void))es_digest_verify },
	{ OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, (void (*)(void))es_set_ctx_params },
	{ OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, (void (*)(void))es_settable_ctx_params },
	{ OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, (void (*)(void))es_get_ctx_params },
	{ OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, (void (*)(void))es_gettable_ctx_params },
	{ 0, NULL },
};
