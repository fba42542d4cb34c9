/*
 * mcxvault OpenSSL 3 provider — SIGNATURE "ECDSA" with vault keys.
 *
 * Signing: the digest is computed here (EVP_DigestSign*, SHA-256 only, from
 * the child library context) or given by the caller (EVP_PKEY_sign over 32
 * octets); the vault signs it with sign.sign {domain, digest} and returns
 * r||s, which becomes the DER ECDSA-Sig-Value libcrypto callers expect.
 *
 * Verification needs no secret: it is done in software by another provider
 * (the default one, through the child library context) with the public key
 * the vault returned, so a vault key verifies like any other EC key.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "mcx/util.h"
#include "provider/provider.h"

enum sig_op { SIG_NONE, SIG_SIGN, SIG_VERIFY };

struct mcxp_sig {
	struct mcxp_ctx *ctx;
	struct mcxp_key *key;
	enum sig_op op;
	EVP_MD *md;            /* SHA-256 once a digest is chosen */
	EVP_MD_CTX *mdctx;     /* digest-sign / digest-verify */
};

/* A vault key (private operations in the vault), else a software key. */
static int is_vault(const struct mcxp_sig *s)
{
	return s->key != NULL && s->key->domain != NULL;
}

/* AlgorithmIdentifier { ecdsa-with-SHA256 } (RFC 5758 3.2: parameters absent). */
static const uint8_t ecdsa_sha256_aid[] = {
	0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
};

static OSSL_FUNC_signature_newctx_fn sig_newctx;
static OSSL_FUNC_signature_freectx_fn sig_freectx;
static OSSL_FUNC_signature_dupctx_fn sig_dupctx;
static OSSL_FUNC_signature_sign_init_fn sig_sign_init;
static OSSL_FUNC_signature_sign_fn sig_sign;
static OSSL_FUNC_signature_verify_init_fn sig_verify_init;
static OSSL_FUNC_signature_verify_fn sig_verify;
static OSSL_FUNC_signature_digest_sign_init_fn sig_digest_sign_init;
static OSSL_FUNC_signature_digest_sign_update_fn sig_digest_update;
static OSSL_FUNC_signature_digest_sign_final_fn sig_digest_sign_final;
static OSSL_FUNC_signature_digest_verify_init_fn sig_digest_verify_init;
static OSSL_FUNC_signature_digest_verify_final_fn sig_digest_verify_final;
static OSSL_FUNC_signature_get_ctx_params_fn sig_get_ctx_params;
static OSSL_FUNC_signature_gettable_ctx_params_fn sig_gettable_ctx_params;
static OSSL_FUNC_signature_set_ctx_params_fn sig_set_ctx_params;
static OSSL_FUNC_signature_settable_ctx_params_fn sig_settable_ctx_params;

/*
 * DER ECDSA-Sig-Value from r||s (two 32-octet unsigned big-endian integers).
 * out has room for MCXP_ECDSA_DER_MAX octets.
 */
static size_t der_integer(uint8_t *out, const uint8_t v[32])
{
	size_t skip = 0, n = 0;

	while (skip < 31 && v[skip] == 0)
		skip++;
	out[n++] = 0x02;
	out[n++] = (uint8_t)(32 - skip + ((v[skip] & 0x80) != 0));
	if ((v[skip] & 0x80) != 0)
		out[n++] = 0x00;
	memcpy(out + n, v + skip, 32 - skip);
	return n + 32 - skip;
}

static size_t rs_to_der(const uint8_t rs[MCXVAULT_SIGNATURE_LEN], uint8_t out[MCXP_ECDSA_DER_MAX])
{
	size_t n = 2;

	n += der_integer(out + n, rs);
	n += der_integer(out + n, rs + 32);
	out[0] = 0x30;
	out[1] = (uint8_t)(n - 2);   /* at most 70: short form */
	return n;
}

static void *sig_newctx(void *provctx, const char *propq)
{
	struct mcxp_sig *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->ctx = provctx;
	return s;
}

static void sig_reset(struct mcxp_sig *s)
{
	mcxp_key_unref(s->key);
	s->key = NULL;
	EVP_MD_free(s->md);
	s->md = NULL;
	EVP_MD_CTX_free(s->mdctx);
	s->mdctx = NULL;
	s->op = SIG_NONE;
}

static void sig_freectx(void *sigctx)
{
	struct mcxp_sig *s = sigctx;

	if (s == NULL)
		return;
	sig_reset(s);
	free(s);
}

static void *sig_dupctx(void *sigctx)
{
	struct mcxp_sig *from = sigctx, *s;

	if ((s = sig_newctx(from->ctx, NULL)) == NULL)
		return NULL;
	s->op = from->op;
	if (from->key != NULL) {
		mcxp_key_ref(from->key);
		s->key = from->key;
	}
	if (from->md != NULL) {
		if (!EVP_MD_up_ref(from->md))
			goto err;
		s->md = from->md;
	}
	if (from->mdctx != NULL &&
	    ((s->mdctx = EVP_MD_CTX_new()) == NULL || !EVP_MD_CTX_copy_ex(s->mdctx, from->mdctx)))
		goto err;
	return s;
err:
	sig_freectx(s);
	return NULL;
}

/* Chooses the digest: for a vault key SHA-256 under any of its names,
 * nothing else (ES256). */
static int sig_set_md(struct mcxp_sig *s, const char *mdname)
{
	EVP_MD *md;

	if (mdname == NULL || mdname[0] == '\0')
		mdname = "SHA2-256";
	md = EVP_MD_fetch(s->ctx->libctx, mdname, MCXP_SOFT_PROPQ);
	if (md == NULL) {
		MCXP_RAISE(s->ctx, MCXP_R_UNSUPPORTED, "digest %s: unknown", mdname);
		return 0;
	}
	if (is_vault(s) && !EVP_MD_is_a(md, "SHA2-256")) {
		MCXP_RAISE(s->ctx, MCXP_R_UNSUPPORTED,
			   "digest %s: vault keys sign SHA-256 digests only (ES256)", mdname);
		EVP_MD_free(md);
		return 0;
	}
	EVP_MD_free(s->md);
	s->md = md;
	return 1;
}

static int sig_init(struct mcxp_sig *s, void *provkey, enum sig_op op, const OSSL_PARAM params[])
{
	struct mcxp_key *key = provkey;

	if (key == NULL && s->key == NULL)
		return 0;
	if (key != NULL) {
		sig_reset(s);
		mcxp_key_ref(key);
		s->key = key;
	} else {
		EVP_MD_CTX_free(s->mdctx);
		s->mdctx = NULL;
	}
	s->op = op;
	if (op == SIG_SIGN) {
		if (!s->key->has_private) {
			MCXP_RAISE(s->ctx, MCXP_R_NO_PRIVATE_KEY, "a public key cannot sign");
			return 0;
		}
		if (is_vault(s) && strcmp(s->key->state, "active") != 0) {
			MCXP_RAISE(s->ctx, MCXP_R_KEY_STATE,
				   "%s is %s: only the active version of a domain's key signs",
				   s->key->kid, s->key->state);
			return 0;
		}
	}
	return sig_set_ctx_params(s, params);
}

static int sig_sign_init(void *sigctx, void *provkey, const OSSL_PARAM params[])
{
	return sig_init(sigctx, provkey, SIG_SIGN, params);
}

/* Signs a digest (32 octets) in the vault; sig gets the DER encoding. */
static int sign_digest(struct mcxp_sig *s, unsigned char *sig, size_t *siglen, size_t sigsize,
		       const unsigned char *dgst, size_t dlen)
{
	uint8_t rs[MCXVAULT_SIGNATURE_LEN], der[MCXP_ECDSA_DER_MAX];
	EVP_PKEY_CTX *pctx = NULL;
	size_t n;
	int ok;

	if (!is_vault(s)) {
		n = sigsize;
		ok = (pctx = EVP_PKEY_CTX_new_from_pkey(s->ctx->libctx, s->key->soft, MCXP_SOFT_PROPQ)) != NULL &&
		     EVP_PKEY_sign_init(pctx) > 0 && EVP_PKEY_sign(pctx, sig, &n, dgst, dlen) > 0;
		EVP_PKEY_CTX_free(pctx);
		if (ok)
			*siglen = n;
		return ok;
	}
	if (mcxp_key_sign_digest(s->key, dgst, dlen, rs) != MCX_OK)
		return 0;
	n = rs_to_der(rs, der);
	if (n > sigsize) {
		MCXP_RAISE(s->ctx, MCXP_R_BAD_INPUT, "signature buffer of %zu octets, %zu needed", sigsize, n);
		return 0;
	}
	memcpy(sig, der, n);
	*siglen = n;
	return 1;
}

static size_t max_size(const struct mcxp_sig *s)
{
	int n = is_vault(s) ? MCXP_ECDSA_DER_MAX : EVP_PKEY_get_size(s->key->soft);

	return n > 0 ? (size_t)n : MCXP_ECDSA_DER_MAX;
}

static int sig_sign(void *sigctx, unsigned char *sig, size_t *siglen, size_t sigsize,
		    const unsigned char *tbs, size_t tbslen)
{
	struct mcxp_sig *s = sigctx;

	if (s == NULL || s->key == NULL || s->op != SIG_SIGN)
		return 0;
	if (sig == NULL) {
		*siglen = max_size(s);
		return 1;
	}
	if (is_vault(s) && tbslen != MCXVAULT_DIGEST_LEN) {
		MCXP_RAISE(s->ctx, MCXP_R_BAD_INPUT,
			   "the input to sign is %zu octets; the vault signs a 32-octet SHA-256 digest", tbslen);
		return 0;
	}
	return sign_digest(s, sig, siglen, sigsize, tbs, tbslen);
}

static int verify_digest(struct mcxp_sig *s, const unsigned char *sig, size_t siglen,
			 const unsigned char *dgst, size_t dlen)
{
	EVP_PKEY_CTX *pctx = NULL;
	int ok = 0;

	if (s->key->soft == NULL || !s->key->has_public)
		return 0;
	if ((pctx = EVP_PKEY_CTX_new_from_pkey(s->ctx->libctx, s->key->soft, MCXP_SOFT_PROPQ)) == NULL ||
	    EVP_PKEY_verify_init(pctx) <= 0)
		goto out;
	ok = EVP_PKEY_verify(pctx, sig, siglen, dgst, dlen) == 1;
out:
	EVP_PKEY_CTX_free(pctx);
	return ok;
}

static int sig_verify_init(void *sigctx, void *provkey, const OSSL_PARAM params[])
{
	return sig_init(sigctx, provkey, SIG_VERIFY, params);
}

static int sig_verify(void *sigctx, const unsigned char *sig, size_t siglen,
		      const unsigned char *tbs, size_t tbslen)
{
	struct mcxp_sig *s = sigctx;

	if (s == NULL || s->key == NULL || s->op != SIG_VERIFY)
		return 0;
	return verify_digest(s, sig, siglen, tbs, tbslen);
}

static int digest_init(struct mcxp_sig *s, const char *mdname, void *provkey, enum sig_op op,
		       const OSSL_PARAM params[])
{
	if (!sig_init(s, provkey, op, params) || !sig_set_md(s, mdname))
		return 0;
	EVP_MD_CTX_free(s->mdctx);
	if ((s->mdctx = EVP_MD_CTX_new()) == NULL || !EVP_DigestInit_ex2(s->mdctx, s->md, NULL)) {
		MCXP_RAISE(s->ctx, MCXP_R_INTERNAL, "SHA-256 digest context");
		return 0;
	}
	return 1;
}

static int sig_digest_sign_init(void *sigctx, const char *mdname, void *provkey, const OSSL_PARAM params[])
{
	return digest_init(sigctx, mdname, provkey, SIG_SIGN, params);
}

static int sig_digest_verify_init(void *sigctx, const char *mdname, void *provkey, const OSSL_PARAM params[])
{
	return digest_init(sigctx, mdname, provkey, SIG_VERIFY, params);
}

static int sig_digest_update(void *sigctx, const unsigned char *data, size_t datalen)
{
	struct mcxp_sig *s = sigctx;

	if (s == NULL || s->mdctx == NULL)
		return 0;
	return EVP_DigestUpdate(s->mdctx, data, datalen);
}

static int sig_digest_sign_final(void *sigctx, unsigned char *sig, size_t *siglen, size_t sigsize)
{
	struct mcxp_sig *s = sigctx;
	unsigned char dgst[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;

	if (s == NULL || s->mdctx == NULL || s->op != SIG_SIGN)
		return 0;
	if (sig == NULL) {
		*siglen = max_size(s);
		return 1;
	}
	if (!EVP_DigestFinal_ex(s->mdctx, dgst, &dlen))
		return 0;
	return sign_digest(s, sig, siglen, sigsize, dgst, dlen);
}

static int sig_digest_verify_final(void *sigctx, const unsigned char *sig, size_t siglen)
{
	struct mcxp_sig *s = sigctx;
	unsigned char dgst[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;

	if (s == NULL || s->mdctx == NULL || s->op != SIG_VERIFY)
		return 0;
	if (!EVP_DigestFinal_ex(s->mdctx, dgst, &dlen))
		return 0;
	return verify_digest(s, sig, siglen, dgst, dlen);
}

static const OSSL_PARAM sig_gettable[] = {
	OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
	OSSL_PARAM_size_t(OSSL_SIGNATURE_PARAM_DIGEST_SIZE, NULL),
	OSSL_PARAM_END,
};

static const OSSL_PARAM *sig_gettable_ctx_params(void *sigctx, void *provctx)
{
	return sig_gettable;
}

static int sig_get_ctx_params(void *sigctx, OSSL_PARAM params[])
{
	struct mcxp_sig *s = sigctx;
	static const char *const md_names[] = { "SHA2-224", "SHA2-256", "SHA2-384", "SHA2-512" };
	uint8_t aid[sizeof(ecdsa_sha256_aid)];
	size_t i;
	OSSL_PARAM *p;

	/* ecdsa-with-SHA224..512 are 1.2.840.10045.4.3.1..4: only the last arc differs. */
	if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_ALGORITHM_ID)) != NULL) {
		for (i = 0; i < MCX_ARRAY_SIZE(md_names); i++)
			if (s->md == NULL ? i == 1 : EVP_MD_is_a(s->md, md_names[i]))
				break;
		if (i == MCX_ARRAY_SIZE(md_names))
			return 0;
		memcpy(aid, ecdsa_sha256_aid, sizeof(aid));
		aid[sizeof(aid) - 1] = (uint8_t)(i + 1);
		if (!OSSL_PARAM_set_octet_string(p, aid, sizeof(aid)))
			return 0;
	}
	if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST)) != NULL &&
	    !OSSL_PARAM_set_utf8_string(p, s->md != NULL ? EVP_MD_get0_name(s->md) : "SHA2-256"))
		return 0;
	if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST_SIZE)) != NULL &&
	    !OSSL_PARAM_set_size_t(p, s->md != NULL ? (size_t)EVP_MD_get_size(s->md) : MCXVAULT_DIGEST_LEN))
		return 0;
	return 1;
}

static const OSSL_PARAM sig_settable[] = {
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM *sig_settable_ctx_params(void *sigctx, void *provctx)
{
	return sig_settable;
}

static int sig_set_ctx_params(void *sigctx, const OSSL_PARAM params[])
{
	struct mcxp_sig *s = sigctx;
	const OSSL_PARAM *p;
	const char *mdname = NULL;

	if (params == NULL)
		return 1;
	p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_DIGEST);
	if (p != NULL) {
		if (!OSSL_PARAM_get_utf8_string_ptr(p, &mdname))
			return 0;
		/* A digest is chosen before signing begins, as for the default ECDSA. */
		if (s->mdctx != NULL) {
			MCXP_RAISE(s->ctx, MCXP_R_BAD_INPUT, "the digest cannot change during a digest-sign");
			return 0;
		}
		if (!sig_set_md(s, mdname))
			return 0;
	}
	return 1;
}

const OSSL_DISPATCH mcxp_ecdsa_signature_functions[] = {
	{ OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))sig_newctx },
	{ OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))sig_freectx },
	{ OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))sig_dupctx },
	{ OSSL_FUNC_SIGNATURE_SIGN_INIT, (void (*)(void))sig_sign_init },
	{ OSSL_FUNC_SIGNATURE_SIGN, (void (*)(void))sig_sign },
	{ OSSL_FUNC_SIGNATURE_VERIFY_INIT, (void (*)(void))sig_verify_init },
	{ OSSL_FUNC_SIGNATURE_VERIFY, (void (*)(void))sig_verify },
	{ OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, (void (*)(void))sig_digest_sign_init },
	{ OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, (void (*)(void))sig_digest_update },
	{ OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, (void (*)(void))sig_digest_sign_final },
	{ OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT, (void (*)(void))sig_digest_verify_init },
	{ OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE, (void (*)(void))sig_digest_update },
	{ OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL, (void (*)(void))sig_digest_verify_final },
	{ OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, (void (*)(void))sig_get_ctx_params },
	{ OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, (void (*)(void))sig_gettable_ctx_params },
	{ OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, (void (*)(void))sig_set_ctx_params },
	{ OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, (void (*)(void))sig_settable_ctx_params },
	{ 0, NULL },
};
