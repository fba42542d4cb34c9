/*
 * mcxvault OpenSSL 3 provider — KEM "SAKKE" (RFC 6508 s.6.2) on the keys of
 * KEYMGMT "SAKKE" (mcx_keys.c), computed by the crypto module.
 *
 *   EVP_PKEY_encapsulate: a public key (Z, identity b).  The shared secret is
 *     a fresh 16-octet SSV from RAND_priv_bytes in the provider's library
 *     context; the wrapped key is the 273-octet encapsulated data R_(b,S) || H
 *     (s.6.2.1).
 *   EVP_PKEY_decapsulate: a key with its RSK; s.6.2.2 including the
 *     re-computation of R_(b,S) from the recovered SSV, so tampered
 *     encapsulated data fails (and no SSV is returned).
 *
 * Length queries (out == NULL) answer 273 / 16 without computing anything.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/params.h>

#include "provider/provider.h"

struct mcxp_kem {
	struct mcxp_ctx *ctx;
	const struct mcxp_ibk *key;     /* owned by the EVP_PKEY, which outlives us */
};

static OSSL_FUNC_kem_newctx_fn kem_newctx;
static OSSL_FUNC_kem_freectx_fn kem_freectx;
static OSSL_FUNC_kem_dupctx_fn kem_dupctx;
static OSSL_FUNC_kem_encapsulate_init_fn kem_encapsulate_init;
static OSSL_FUNC_kem_encapsulate_fn kem_encapsulate;
static OSSL_FUNC_kem_decapsulate_init_fn kem_decapsulate_init;
static OSSL_FUNC_kem_decapsulate_fn kem_decapsulate;
static OSSL_FUNC_kem_set_ctx_params_fn kem_set_ctx_params;
static OSSL_FUNC_kem_settable_ctx_params_fn kem_settable_ctx_params;

static void *kem_newctx(void *provctx)
{
	struct mcxp_kem *k = OPENSSL_zalloc(sizeof(*k));

	if (k != NULL)
		k->ctx = provctx;
	return k;
}

static void kem_freectx(void *vctx)
{
	OPENSSL_free(vctx);
}

static void *kem_dupctx(void *vctx)
{
	const struct mcxp_kem *k = vctx;

	return k != NULL ? OPENSSL_memdup(k, sizeof(*k)) : NULL;
}

static int kem_init(struct mcxp_kem *k, const struct mcxp_ibk *key, int need_private)
{
	if (k == NULL || key == NULL || key->type != MCXP_IBK_SAKKE)
		return 0;
	if (!key->has_public) {
		MCXP_RAISE(k->ctx, MCXP_R_BAD_INPUT, "SAKKE key without a KMS public key and identity");
		return 0;
	}
	if (need_private && !key->has_private) {
		MCXP_RAISE(k->ctx, MCXP_R_NO_PRIVATE_KEY, "SAKKE decapsulation needs the RSK");
		return 0;
	}
	k->key = key;
	return 1;
}

static int kem_encapsulate_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
	return kem_init(vctx, provkey, 0) && kem_set_ctx_params(vctx, params);
}

static int kem_decapsulate_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
	return kem_init(vctx, provkey, 1) && kem_set_ctx_params(vctx, params);
}

static int kem_encapsulate(void *vctx, unsigned char *out, size_t *outlen,
			   unsigned char *secret, size_t *secretlen)
{
	struct mcxp_kem *k = vctx;
	const struct mcx_sakke_params *sp = NULL;
	uint8_t ssv[MCX_SAKKE_SSV_LEN];
	int r, ok = 0;

	if (k == NULL || k->key == NULL)
		return 0;
	if (out == NULL) {
		if (outlen != NULL)
			*outlen = MCX_SAKKE_ENCAP_LEN;
		if (secretlen != NULL)
			*secretlen = MCX_SAKKE_SSV_LEN;
		return outlen != NULL || secretlen != NULL;
	}
	if (secret == NULL || outlen == NULL || secretlen == NULL)
		return 0;
	if (*outlen < MCX_SAKKE_ENCAP_LEN || *secretlen < MCX_SAKKE_SSV_LEN) {
		MCXP_RAISE(k->ctx, MCXP_R_BAD_INPUT, "SAKKE: buffers of %d and %d octets needed",
			   MCX_SAKKE_ENCAP_LEN, MCX_SAKKE_SSV_LEN);
		return 0;
	}
	if (mcxp_sakke_params(k->ctx, &sp) != 0)
		return 0;
	if (mcxp_rand(k->ctx, ssv, sizeof(ssv)) != 0) {
		MCXP_RAISE(k->ctx, MCXP_R_INTERNAL, "SAKKE: no random SSV");
		goto out;
	}
	if ((r = mcx_sakke_encapsulate(sp, k->key->kms, k->key->id, k->key->id_len, ssv, out)) != 0) {
		MCXP_RAISE(k->ctx, r == MCX_ERR_INVALID_ARGUMENT ? MCXP_R_BAD_INPUT : MCXP_R_INTERNAL,
			   "SAKKE encapsulation: %s", mcx_strerror(r));
		goto out;
	}
	memcpy(secret, ssv, sizeof(ssv));
	*outlen = MCX_SAKKE_ENCAP_LEN;
	*secretlen = MCX_SAKKE_SSV_LEN;
	ok = 1;
out:
	OPENSSL_cleanse(ssv, sizeof(ssv));
	return ok;
}

static int kem_decapsulate(void *vctx, unsigned char *out, size_t *outlen,
			   const unsigned char *in, size_t inlen)
{
	struct mcxp_kem *k = vctx;
	const struct mcx_sakke_params *sp = NULL;
	uint8_t ssv[MCX_SAKKE_SSV_LEN];
	int r, ok = 0;

	if (k == NULL || k->key == NULL || outlen == NULL)
		return 0;
	if (out == NULL) {
		*outlen = MCX_SAKKE_SSV_LEN;
		return 1;
	}
	if (*outlen < MCX_SAKKE_SSV_LEN) {
		MCXP_RAISE(k->ctx, MCXP_R_BAD_INPUT, "SAKKE: a buffer of %d octets needed", MCX_SAKKE_SSV_LEN);
		return 0;
	}
	if (in == NULL || inlen != MCX_SAKKE_ENCAP_LEN) {
		MCXP_RAISE(k->ctx, MCXP_R_BAD_INPUT, "SAKKE: encapsulated data must be %d octets",
			   MCX_SAKKE_ENCAP_LEN);
		return 0;
	}
	if (mcxp_sakke_params(k->ctx, &sp) != 0)
		return 0;
	if ((r = mcx_sakke_decapsulate(sp, k->key->kms, k->key->id, k->key->id_len, k->key->priv,
				       in, inlen, ssv)) != 0) {
		MCXP_RAISE(k->ctx, r == MCX_ERR_INTERNAL || r == MCX_ERR_ALLOC || r == MCX_ERR_CRYPTO ?
			   MCXP_R_INTERNAL : MCXP_R_BAD_INPUT, "SAKKE decapsulation: %s", mcx_strerror(r));
		goto out;
	}
	memcpy(out, ssv, sizeof(ssv));
	*outlen = MCX_SAKKE_SSV_LEN;
	ok = 1;
out:
	OPENSSL_cleanse(ssv, sizeof(ssv));
	return ok;
}

/* No parameters; accepted so that EVP_PKEY_CTX_set_params is harmless. */
static int kem_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
	return vctx != NULL;
}

static const OSSL_PARAM kem_settable[] = { OSSL_PARAM_END };

static const OSSL_PARAM *kem_settable_ctx_params(void *vctx, void *provctx)
{
	return kem_settable;
}

const OSSL_DISPATCH mcxp_sakke_kem_functions[] = {
	{ OSSL_FUNC_KEM_NEWCTX, (void (*)(void))kem_newctx },
	{ OSSL_FUNC_KEM_FREECTX, (void (*)(void))kem_freectx },
	{ OSSL_FUNC_KEM_DUPCTX, (void (*)(void))kem_dupctx },
	{ OSSL_FUNC_KEM_ENCAPSULATE_INIT, (void (*)(void))kem_encapsulate_init },
	{ OSSL_FUNC_KEM_ENCAPSULATE, (void (*)(void))kem_encapsulate },
	{ OSSL_FUNC_KEM_DECAPSULATE_INIT, (void (*)(void))kem_decapsulate_init },
	{ OSSL_FUNC_KEM_DECAPSULATE, (void (*)(void))kem_decapsulate },
	{ OSSL_FUNC_KEM_SET_CTX_PARAMS, (void (*)(void))kem_set_ctx_params },
	{ OSSL_FUNC_KEM_SETTABLE_CTX_PARAMS, (void (*)(void))kem_settable_ctx_params },
	{ 0, NULL },
};
