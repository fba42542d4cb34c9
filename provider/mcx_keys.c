/*
 * mcxvault OpenSSL 3 provider — KEYMGMT "SAKKE" and "ECCSI": identity-based
 * software keys computed by the project's crypto module (crypto/, the
 * byte-oriented API of include/mcx/sakke.h and include/mcx/eccsi.h).
 *
 * These are not vault keys: the provider holds every octet itself, imports
 * and exports them in full (EVP_PKEY_fromdata / EVP_PKEY_todata) with the
 * parameter names of include/mcx/provider.h, and wipes the private part
 * (RSK, SSK) when a key is freed.
 *
 * Import checks sizes and encodings only; EVP_PKEY_check() and friends
 * (validate) do the real checks: the RSK with RFC 6508 s.6.1.2, the SSK/PVT
 * pair with RFC 6507 s.5.1.2, a public key that its KMS point lies on the
 * curve.  The operations (sakke.c, eccsi.c) rely on the crypto module's own
 * checks, which include RFC 6508's re-computation at decapsulation.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "provider/provider.h"

#define SELECT_PUBLIC  OSSL_KEYMGMT_SELECT_PUBLIC_KEY
#define SELECT_PRIVATE OSSL_KEYMGMT_SELECT_PRIVATE_KEY
#define SELECT_KEYPAIR OSSL_KEYMGMT_SELECT_KEYPAIR

/* --- the crypto module's parameters, per provider context -------------------- */

MCX_RESULT mcxp_sakke_params(struct mcxp_ctx *ctx, const struct mcx_sakke_params **out)
{
	int r = MCX_ERR_INTERNAL;

	*out = NULL;
	if (pthread_mutex_lock(&ctx->lock) != 0) {
		MCXP_RAISE(ctx, MCXP_R_INTERNAL, "mutex");
		return MCX_ERR_INTERNAL;
	}
	if (ctx->sakke == NULL && (r = mcx_sakke_params_new(&ctx->sakke)) != 0) {
		MCXP_RAISE(ctx, MCXP_R_INTERNAL, "SAKKE parameter set 1: %s", mcx_strerror(r));
		goto out;
	}
	*out = ctx->sakke;
	r = MCX_OK;
out:
	(void)pthread_mutex_unlock(&ctx->lock);
	return r;
}

MCX_RESULT mcxp_eccsi_params(struct mcxp_ctx *ctx, const struct mcx_eccsi_params **out)
{
	int r = MCX_ERR_INTERNAL;

	*out = NULL;
	if (pthread_mutex_lock(&ctx->lock) != 0) {
		MCXP_RAISE(ctx, MCXP_R_INTERNAL, "mutex");
		return MCX_ERR_INTERNAL;
	}
	if (ctx->eccsi == NULL && (r = mcx_eccsi_params_new(&ctx->eccsi)) != 0) {
		MCXP_RAISE(ctx, MCXP_R_INTERNAL, "ECCSI parameters: %s", mcx_strerror(r));
		goto out;
	}
	*out = ctx->eccsi;
	r = MCX_OK;
out:
	(void)pthread_mutex_unlock(&ctx->lock);
	return r;
}

int mcxp_rand(void *rctx, uint8_t *out, size_t len)
{
	struct mcxp_ctx *ctx = rctx;

	return RAND_priv_bytes_ex(ctx->libctx, out, len, 0) == 1 ? 0 : -1;
}

/* --- the key object ------------------------------------------------------------ */

static size_t kms_len_of(enum mcxp_ibk_type t)
{
	return t == MCXP_IBK_SAKKE ? MCX_SAKKE_POINT_LEN : MCX_ECCSI_POINT_LEN;
}

static size_t priv_len_of(enum mcxp_ibk_type t)
{
	return t == MCXP_IBK_SAKKE ? MCX_SAKKE_POINT_LEN : MCX_ECCSI_SCALAR_LEN;
}

static size_t id_max_of(enum mcxp_ibk_type t)
{
	return t == MCXP_IBK_SAKKE ? MCX_SAKKE_ID_MAX : MCX_ECCSI_ID_MAX;
}

static const char *kms_name_of(enum mcxp_ibk_type t)
{
	return t == MCXP_IBK_SAKKE ? MCX_PROV_PARAM_KMS_PUBLIC_KEY : MCX_PROV_PARAM_KPAK;
}

static const char *priv_name_of(enum mcxp_ibk_type t)
{
	return t == MCXP_IBK_SAKKE ? MCX_PROV_PARAM_RSK : MCX_PROV_PARAM_SSK;
}

struct mcxp_ibk *mcxp_ibk_new(struct mcxp_ctx *ctx, enum mcxp_ibk_type type)
{
	struct mcxp_ibk *key = OPENSSL_zalloc(sizeof(*key));

	if (key == NULL)
		return NULL;
	key->ctx = ctx;
	key->type = type;
	key->kms_len = kms_len_of(type);
	key->priv_len = priv_len_of(type);
	return key;
}

void mcxp_ibk_free(struct mcxp_ibk *key)
{
	if (key == NULL)
		return;
	OPENSSL_free(key->id);
	OPENSSL_clear_free(key, sizeof(*key));
}

/* --- KEYMGMT ---------------------------------------------------------------- */

static OSSL_FUNC_keymgmt_new_fn sakke_km_new;
static OSSL_FUNC_keymgmt_new_fn eccsi_km_new;
static OSSL_FUNC_keymgmt_free_fn ibk_free;
static OSSL_FUNC_keymgmt_load_fn ibk_load;
static OSSL_FUNC_keymgmt_has_fn ibk_has;
static OSSL_FUNC_keymgmt_match_fn ibk_match;
static OSSL_FUNC_keymgmt_validate_fn ibk_validate;
static OSSL_FUNC_keymgmt_import_types_fn sakke_io_types;
static OSSL_FUNC_keymgmt_import_types_fn eccsi_io_types;
static OSSL_FUNC_keymgmt_export_fn ibk_export;
static OSSL_FUNC_keymgmt_get_params_fn ibk_get_params;
static OSSL_FUNC_keymgmt_gettable_params_fn sakke_gettable_params;
static OSSL_FUNC_keymgmt_gettable_params_fn eccsi_gettable_params;
static OSSL_FUNC_keymgmt_query_operation_name_fn sakke_query_operation_name;
static OSSL_FUNC_keymgmt_query_operation_name_fn eccsi_query_operation_name;
static OSSL_FUNC_keymgmt_dup_fn ibk_dup;

static void *sakke_km_new(void *provctx)
{
	return mcxp_ibk_new(provctx, MCXP_IBK_SAKKE);
}

static void *eccsi_km_new(void *provctx)
{
	return mcxp_ibk_new(provctx, MCXP_IBK_ECCSI);
}

static void ibk_free(void *keydata)
{
	mcxp_ibk_free(keydata);
}

/* reference: the bytes of a struct mcxp_ibk * made by the decoder; taken over. */
static void *ibk_load(const void *reference, size_t reference_sz)
{
	struct mcxp_ibk *key = NULL;

	if (reference == NULL || reference_sz != sizeof(key))
		return NULL;
	memcpy(&key, reference, sizeof(key));
	memset((void *)reference, 0, sizeof(key));
	return key;
}

static int ibk_has(const void *keydata, int selection)
{
	const struct mcxp_ibk *key = keydata;

	if (key == NULL)
		return 0;
	if ((selection & SELECT_PUBLIC) != 0 && !key->has_public)
		return 0;
	if ((selection & SELECT_PRIVATE) != 0 && !key->has_private)
		return 0;
	return 1;   /* no domain parameters: the parameter sets are fixed */
}

static int ibk_match(const void *keydata1, const void *keydata2, int selection)
{
	const struct mcxp_ibk *a = keydata1, *b = keydata2;

	if (a == NULL || b == NULL || a->type != b->type)
		return 0;
	if ((selection & SELECT_KEYPAIR) != 0) {
		/* A key is its KMS key and identity; the private part is compared
		 * only when both have one and it was asked for. */
		if (!a->has_public || !b->has_public || a->id_len != b->id_len ||
		    memcmp(a->kms, b->kms, a->kms_len) != 0 || memcmp(a->id, b->id, a->id_len) != 0)
			return 0;
		if ((selection & SELECT_PRIVATE) != 0 && a->has_private && b->has_private &&
		    (CRYPTO_memcmp(a->priv, b->priv, a->priv_len) != 0 ||
		     (a->type == MCXP_IBK_ECCSI && memcmp(a->pvt, b->pvt, sizeof(a->pvt)) != 0)))
			return 0;
	}
	return 1;
}

/* An uncompressed P-256 point on the curve. */
static int eccsi_point_ok(struct mcxp_ctx *ctx, const uint8_t *pt, size_t len)
{
	EC_GROUP *g = EC_GROUP_new_by_curve_name_ex(ctx->libctx, MCXP_SOFT_PROPQ, NID_X9_62_prime256v1);
	EC_POINT *p = NULL;
	int ok = 0;

	if (g == NULL || (p = EC_POINT_new(g)) == NULL)
		goto out;
	ok = len == MCX_ECCSI_POINT_LEN && pt[0] == 0x04 && EC_POINT_oct2point(g, p, pt, len, NULL) == 1 &&
	     EC_POINT_is_at_infinity(g, p) == 0;
out:
	EC_POINT_free(p);
	EC_GROUP_free(g);
	return ok;
}

/*
 * SAKKE public key: Z on the curve.  The crypto module has no separate point
 * check; an encapsulation of a fixed SSV decodes and checks Z and b (z + b = 0
 * mod q is refused too), at the cost of one encapsulation.
 */
static int sakke_public_ok(const struct mcx_sakke_params *sp, const struct mcxp_ibk *key)
{
	static const uint8_t probe[MCX_SAKKE_SSV_LEN] = { 0x6d, 0x63, 0x78 };
	uint8_t out[MCX_SAKKE_ENCAP_LEN];

	return mcx_sakke_encapsulate(sp, key->kms, key->id, key->id_len, probe, out) == 0;
}

static int ibk_validate(const void *keydata, int selection, int checktype)
{
	const struct mcxp_ibk *key = keydata;
	const struct mcx_sakke_params *sp = NULL;
	const struct mcx_eccsi_params *ep = NULL;

	if (key == NULL || !key->has_public)
		return 0;
	if ((selection & SELECT_KEYPAIR) == 0)
		return 1;
	if ((selection & SELECT_PRIVATE) != 0) {
		if (!key->has_private)
			return 0;
		if (key->type == MCXP_IBK_SAKKE)
			return mcxp_sakke_params(key->ctx, &sp) == 0 &&
			       mcx_sakke_rsk_validate(sp, key->kms, key->id, key->id_len, key->priv) == 0;
		return mcxp_eccsi_params(key->ctx, &ep) == 0 &&
		       mcx_eccsi_validate(ep, key->kms, key->id, key->id_len, key->priv, key->pvt) == 0;
	}
	if (key->type == MCXP_IBK_SAKKE)
		return mcxp_sakke_params(key->ctx, &sp) == 0 && sakke_public_ok(sp, key);
	return eccsi_point_ok(key->ctx, key->kms, key->kms_len);
}

/* An octet string parameter of exactly len octets (len 0: 1..max octets). */
static int get_octets(struct mcxp_ctx *ctx, const OSSL_PARAM params[], const char *name,
		      size_t len, size_t max, const void **data, size_t *data_len)
{
	const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, name);

	*data = NULL;
	*data_len = 0;
	if (p == NULL)
		return 1;
	if (p->data_type != OSSL_PARAM_OCTET_STRING || p->data == NULL ||
	    (len != 0 && p->data_size != len) || (len == 0 && (p->data_size == 0 || p->data_size > max))) {
		if (len != 0)
			MCXP_RAISE(ctx, MCXP_R_BAD_INPUT, "%s: expected an octet string of %zu octets", name, len);
		else
			MCXP_RAISE(ctx, MCXP_R_BAD_INPUT, "%s: expected an octet string of 1 to %zu octets", name, max);
		return 0;
	}
	*data = p->data;
	*data_len = p->data_size;
	return 1;
}

int mcxp_ibk_import(void *keydata, int selection, const OSSL_PARAM params[])
{
	struct mcxp_ibk *key = keydata;
	const void *kms, *id, *priv, *pvt = NULL;
	size_t kms_len, id_len, priv_len, pvt_len = 0;
	uint8_t *id_copy = NULL;

	if (key == NULL)
		return 0;
	if ((selection & SELECT_KEYPAIR) == 0)
		return 1;
	if (!get_octets(key->ctx, params, kms_name_of(key->type), key->kms_len, 0, &kms, &kms_len) ||
	    !get_octets(key->ctx, params, MCX_PROV_PARAM_IDENTITY, 0, id_max_of(key->type), &id, &id_len) ||
	    !get_octets(key->ctx, params, priv_name_of(key->type), key->priv_len, 0, &priv, &priv_len) ||
	    (key->type == MCXP_IBK_ECCSI &&
	     !get_octets(key->ctx, params, MCX_PROV_PARAM_PVT, MCX_ECCSI_POINT_LEN, 0, &pvt, &pvt_len)))
		return 0;
	/* Every key needs its KMS key and identity: both name the key pair. */
	if (kms == NULL || id == NULL) {
		MCXP_RAISE(key->ctx, MCXP_R_BAD_INPUT, "%s key: %s and %s are required",
			   key->type == MCXP_IBK_SAKKE ? "SAKKE" : "ECCSI", kms_name_of(key->type),
			   MCX_PROV_PARAM_IDENTITY);
		return 0;
	}
	if (((const uint8_t *)kms)[0] != 0x04 ||
	    (pvt != NULL && ((const uint8_t *)pvt)[0] != 0x04) ||
	    (priv != NULL && key->type == MCXP_IBK_SAKKE && ((const uint8_t *)priv)[0] != 0x04)) {
		MCXP_RAISE(key->ctx, MCXP_R_BAD_INPUT, "points must be uncompressed (04 || x || y)");
		return 0;
	}
	if ((selection & SELECT_PRIVATE) == 0)
		priv = pvt = NULL;
	if (key->type == MCXP_IBK_ECCSI && (priv == NULL) != (pvt == NULL)) {
		MCXP_RAISE(key->ctx, MCXP_R_BAD_INPUT, "ECCSI key: %s and %s go together",
			   MCX_PROV_PARAM_SSK, MCX_PROV_PARAM_PVT);
		return 0;
	}
	if ((id_copy = OPENSSL_memdup(id, id_len)) == NULL)
		return 0;
	OPENSSL_free(key->id);
	key->id = id_copy;
	key->id_len = id_len;
	memcpy(key->kms, kms, key->kms_len);
	key->has_public = 1;
	OPENSSL_cleanse(key->priv, sizeof(key->priv));
	key->has_private = 0;
	if (priv != NULL) {
		memcpy(key->priv, priv, key->priv_len);
		if (pvt != NULL)
			memcpy(key->pvt, pvt, sizeof(key->pvt));
		key->has_private = 1;
	}
	return 1;
}

static const OSSL_PARAM sakke_io_params[] = {
	OSSL_PARAM_octet_string(MCX_PROV_PARAM_KMS_PUBLIC_KEY, NULL, 0),
	OSSL_PARAM_octet_string(MCX_PROV_PARAM_IDENTITY, NULL, 0),
	OSSL_PARAM_octet_string(MCX_PROV_PARAM_RSK, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM eccsi_io_params[] = {
	OSSL_PARAM_octet_string(MCX_PROV_PARAM_KPAK, NULL, 0),
	OSSL_PARAM_octet_string(MCX_PROV_PARAM_IDENTITY, NULL, 0),
	OSSL_PARAM_octet_string(MCX_PROV_PARAM_SSK, NULL, 0),
	OSSL_PARAM_octet_string(MCX_PROV_PARAM_PVT, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM *sakke_io_types(int selection)
{
	return sakke_io_params;
}

static const OSSL_PARAM *eccsi_io_types(int selection)
{
	return eccsi_io_params;
}

static int ibk_export(void *keydata, int selection, OSSL_CALLBACK *cb, void *cbarg)
{
	struct mcxp_ibk *key = keydata;
	OSSL_PARAM params[5];
	size_t n = 0;
	int ok;

	if (key == NULL || (selection & SELECT_KEYPAIR) == 0)
		return key != NULL;
	if (!key->has_public)
		return 0;
	params[n++] = OSSL_PARAM_construct_octet_string(kms_name_of(key->type), key->kms, key->kms_len);
	params[n++] = OSSL_PARAM_construct_octet_string(MCX_PROV_PARAM_IDENTITY, key->id, key->id_len);
	if ((selection & SELECT_PRIVATE) != 0 && key->has_private) {
		params[n++] = OSSL_PARAM_construct_octet_string(priv_name_of(key->type), key->priv, key->priv_len);
		if (key->type == MCXP_IBK_ECCSI)
			params[n++] = OSSL_PARAM_construct_octet_string(MCX_PROV_PARAM_PVT, key->pvt,
									sizeof(key->pvt));
	}
	params[n] = OSSL_PARAM_construct_end();
	ok = cb(params, cbarg);
	return ok;
}

static const OSSL_PARAM sakke_gettable[] = {
	OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
	OSSL_PARAM_octet_string(MCX_PROV_PARAM_KMS_PUBLIC_KEY, NULL, 0),
	OSSL_PARAM_octet_string(MCX_PROV_PARAM_IDENTITY, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM eccsi_gettable[] = {
	OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_MANDATORY_DIGEST, NULL, 0),
	OSSL_PARAM_octet_string(MCX_PROV_PARAM_KPAK, NULL, 0),
	OSSL_PARAM_octet_string(MCX_PROV_PARAM_IDENTITY, NULL, 0),
	OSSL_PARAM_octet_string(MCX_PROV_PARAM_PVT, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM *sakke_gettable_params(void *provctx)
{
	return sakke_gettable;
}

static const OSSL_PARAM *eccsi_gettable_params(void *provctx)
{
	return eccsi_gettable;
}

/* Public values only; the private part leaves through export. */
static int ibk_get_params(void *keydata, OSSL_PARAM params[])
{
	struct mcxp_ibk *key = keydata;
	int sakke;
	OSSL_PARAM *p;

	if (key == NULL)
		return 0;
	sakke = key->type == MCXP_IBK_SAKKE;
	if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_BITS)) != NULL && !OSSL_PARAM_set_int(p, sakke ? 1024 : 256))
		return 0;
	if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_SECURITY_BITS)) != NULL && !OSSL_PARAM_set_int(p, 128))
		return 0;
	/* The largest output of the key's operation: encapsulated data, signature. */
	if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_MAX_SIZE)) != NULL &&
	    !OSSL_PARAM_set_int(p, sakke ? MCX_SAKKE_ENCAP_LEN : MCX_ECCSI_SIG_LEN))
		return 0;
	/* ECCSI hashes the message itself: no digest is to be fetched. */
	if (!sakke && (p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_MANDATORY_DIGEST)) != NULL &&
	    !OSSL_PARAM_set_utf8_string(p, ""))
		return 0;
	if (key->has_public) {
		if ((p = OSSL_PARAM_locate(params, kms_name_of(key->type))) != NULL &&
		    !OSSL_PARAM_set_octet_string(p, key->kms, key->kms_len))
			return 0;
		if ((p = OSSL_PARAM_locate(params, MCX_PROV_PARAM_IDENTITY)) != NULL &&
		    !OSSL_PARAM_set_octet_string(p, key->id, key->id_len))
			return 0;
	}
	if (!sakke && key->has_private && (p = OSSL_PARAM_locate(params, MCX_PROV_PARAM_PVT)) != NULL &&
	    !OSSL_PARAM_set_octet_string(p, key->pvt, sizeof(key->pvt)))
		return 0;
	return 1;
}

static const char *sakke_query_operation_name(int operation_id)
{
	return operation_id == OSSL_OP_KEM ? MCX_PROV_SAKKE_NAME : NULL;
}

static const char *eccsi_query_operation_name(int operation_id)
{
	return operation_id == OSSL_OP_SIGNATURE ? MCX_PROV_ECCSI_NAME : NULL;
}

static void *ibk_dup(const void *keydata_from, int selection)
{
	const struct mcxp_ibk *from = keydata_from;
	struct mcxp_ibk *key;

	if (from == NULL || (key = mcxp_ibk_new(from->ctx, from->type)) == NULL)
		return NULL;
	if ((selection & SELECT_KEYPAIR) != 0 && from->has_public) {
		if ((key->id = OPENSSL_memdup(from->id, from->id_len)) == NULL) {
			mcxp_ibk_free(key);
			return NULL;
		}
		key->id_len = from->id_len;
		memcpy(key->kms, from->kms, from->kms_len);
		key->has_public = 1;
		if ((selection & SELECT_PRIVATE) != 0 && from->has_private) {
			memcpy(key->priv, from->priv, from->priv_len);
			memcpy(key->pvt, from->pvt, sizeof(key->pvt));
			key->has_private = 1;
		}
	}
	return key;
}

#define IBK_COMMON_FUNCTIONS                                                                  \
	{ OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))ibk_free },                                 \
	{ OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))ibk_load },                                 \
	{ OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))ibk_has },                                   \
	{ OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))ibk_match },                               \
	{ OSSL_FUNC_KEYMGMT_VALIDATE, (void (*)(void))ibk_validate },                         \
	{ OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))mcxp_ibk_import },                             \
	{ OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))ibk_export },                             \
	{ OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))ibk_get_params },                     \
	{ OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))ibk_dup }

const OSSL_DISPATCH mcxp_sakke_keymgmt_functions[] = {
	{ OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))sakke_km_new },
	IBK_COMMON_FUNCTIONS,
	{ OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))sakke_io_types },
	{ OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))sakke_io_types },
	{ OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))sakke_gettable_params },
	{ OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*)(void))sakke_query_operation_name },
	{ 0, NULL },
};

const OSSL_DISPATCH mcxp_eccsi_keymgmt_functions[] = {
	{ OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))eccsi_km_new },
	IBK_COMMON_FUNCTIONS,
	{ OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))eccsi_io_types },
	{ OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))eccsi_io_types },
	{ OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))eccsi_gettable_params },
	{ OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*)(void))eccsi_query_operation_name },
	{ 0, NULL },
};
