/*
 * mcxvault OpenSSL 3 provider — key URIs, the key object and KEYMGMT "EC".
 *
 * A key loaded from the store holds a reference to a vault key (domain,
 * version) and the public key the vault returned for it.  Its private half
 * is in the HSM behind vaultd and is never exported: export() refuses any
 * selection that includes the private key, which is also what makes
 * libcrypto pick this provider's ECDSA for it instead of the default one.
 * The public half is exported and imported freely, so the default
 * provider's encoders write it (openssl pkey -pubout, X509_set_pubkey) and
 * EVP_PKEY_eq() compares it with a certificate's key.
 *
 * The KEYMGMT answers to "EC" like the default provider's, so libcrypto may
 * also hand it keys that are not the vault's (generation, import, a TLS key
 * share).  Those become software keys (struct mcxp_key, domain == NULL)
 * held as default-provider keys in the child library context and exported
 * in full, so every operation on them ends up in the default provider.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/params.h>

#include "mcx/buf.h"
#include "mcx/util.h"
#include "provider/provider.h"

/* --- key URIs ---------------------------------------------------------------- */

void mcxp_uri_clear(struct mcxp_uri *u)
{
	free(u->domain);
	free(u->purpose);
	memset(u, 0, sizeof(*u));
}

/* A value: printable ASCII without ';', '=', '%', '/' or space. */
static int uri_value_ok(const char *v, size_t len)
{
	size_t i;

	if (len == 0 || len > 253)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c <= 0x20 || c >= 0x7f || c == ';' || c == '=' || c == '%' || c == '/')
			return 0;
	}
	return 1;
}

/*
 * mcxvault:domain=a.example;purpose=sign[;version=N]
 * Attributes in any order, each at most once; unknown attributes are errors
 * (a typo must not silently fall back to a default).  purpose defaults to
 * "sign", the only purpose this half of the provider serves.
 */
int mcxp_uri_parse(const char *uri, struct mcxp_uri *out)
{
	int r = MCX_ERR_INTERNAL;
	const char *p, *end, *eq, *val;
	size_t klen, vlen;
	char *num = NULL, *nend = NULL;
	long long version;

	memset(out, 0, sizeof(*out));
	MCX_ENSURE(uri != NULL, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(strncmp(uri, MCXP_URI_SCHEME ":", sizeof(MCXP_URI_SCHEME)) == 0, MCX_ERR_INVALID_ARGUMENT);
	p = uri + sizeof(MCXP_URI_SCHEME);
	MCX_ENSURE(*p != '\0', MCX_ERR_INVALID_ARGUMENT);
	while (*p != '\0') {
		end = strchr(p, ';');
		if (end == NULL)
			end = p + strlen(p);
		eq = memchr(p, '=', (size_t)(end - p));
		MCX_ENSURE(eq != NULL, MCX_ERR_INVALID_ARGUMENT);
		klen = (size_t)(eq - p);
		val = eq + 1;
		vlen = (size_t)(end - val);
		MCX_ENSURE(uri_value_ok(val, vlen), MCX_ERR_INVALID_ARGUMENT);
		if (klen == 6 && memcmp(p, "domain", 6) == 0) {
			MCX_ENSURE(out->domain == NULL, MCX_ERR_INVALID_ARGUMENT);
			MCX_ENSURE_ALLOC(out->domain = strndup(val, vlen));
		} else if (klen == 7 && memcmp(p, "purpose", 7) == 0) {
			MCX_ENSURE(out->purpose == NULL, MCX_ERR_INVALID_ARGUMENT);
			MCX_ENSURE_ALLOC(out->purpose = strndup(val, vlen));
		} else if (klen == 7 && memcmp(p, "version", 7) == 0) {
			MCX_ENSURE(out->version == 0, MCX_ERR_INVALID_ARGUMENT);
			MCX_ENSURE_ALLOC(num = strndup(val, vlen));
			MCX_ENSURE(num[0] >= '1' && num[0] <= '9', MCX_ERR_INVALID_ARGUMENT);
			errno = 0;
			version = strtoll(num, &nend, 10);
			MCX_ENSURE(errno == 0 && *nend == '\0' && version > 0 && version <= INT32_MAX,
				   MCX_ERR_INVALID_ARGUMENT);
			out->version = version;
			free(num);
			num = NULL;
		} else {
			MCX_BAIL(MCX_ERR_INVALID_ARGUMENT);
		}
		p = *end == ';' ? end + 1 : end;
		MCX_ENSURE(!(*end == ';' && *p == '\0'), MCX_ERR_INVALID_ARGUMENT);
	}
	MCX_ENSURE(out->domain != NULL, MCX_ERR_INVALID_ARGUMENT);
	if (out->purpose == NULL)
		MCX_ENSURE_ALLOC(out->purpose = strdup("sign"));
	/* SAKKE / ECCSI purposes belong to the second half of issue 6. */
	MCX_ENSURE(strcmp(out->purpose, "sign") == 0, MCX_ERR_NOT_FOUND);
	r = MCX_OK;
out:
	free(num);
	if (r != MCX_OK)
		mcxp_uri_clear(out);
	return r;
}

/* --- the key object ---------------------------------------------------------- */

struct mcxp_key *mcxp_key_new(struct mcxp_ctx *ctx)
{
	struct mcxp_key *key = calloc(1, sizeof(*key));

	if (key == NULL)
		return NULL;
	key->refs = 1;
	key->ctx = ctx;
	return key;
}

void mcxp_key_ref(struct mcxp_key *key)
{
	__atomic_add_fetch(&key->refs, 1, __ATOMIC_RELAXED);
}

void mcxp_key_unref(struct mcxp_key *key)
{
	if (key == NULL || __atomic_sub_fetch(&key->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	EVP_PKEY_free(key->soft);
	free(key->domain);
	free(key->kid);
	free(key->state);
	free(key);
}

EVP_PKEY *mcxp_soft_fromdata(struct mcxp_ctx *ctx, int selection, OSSL_PARAM params[])
{
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *pkey = NULL;

	if ((pctx = EVP_PKEY_CTX_new_from_name(ctx->libctx, "EC", MCXP_SOFT_PROPQ)) == NULL ||
	    EVP_PKEY_fromdata_init(pctx) <= 0 || EVP_PKEY_fromdata(pctx, &pkey, selection, params) <= 0)
		pkey = NULL;
	EVP_PKEY_CTX_free(pctx);
	return pkey;
}

/* Decodes one 32-octet JWK coordinate into out. */
static MCX_RESULT jwk_coord(json_t *jwk, const char *name, uint8_t out[32])
{
	int r = MCX_ERR_INTERNAL;
	struct mcx_buf *b = NULL;
	const char *text = json_string_value(json_object_get(jwk, name));

	MCX_ENSURE(text != NULL, MCX_ERR_PROTOCOL);
	MCX_ENSURE_ALLOC(b = mcx_buf_new(64));
	MCX_ENSURE(mcx_base64url_decode(b, text, strlen(text)) == MCX_OK, MCX_ERR_PROTOCOL);
	MCX_ENSURE(mcx_buf_len(b) == 32, MCX_ERR_PROTOCOL);
	memcpy(out, mcx_buf_ptr(b), 32);
	r = MCX_OK;
out:
	mcx_buf_free(b);
	return r;
}

int mcxp_key_fetch(struct mcxp_ctx *ctx, const struct mcxp_uri *uri, struct mcxp_key **out)
{
	int r = MCX_ERR_INTERNAL;
	struct mcxvault *v = NULL;
	struct mcxvault_error e;
	struct mcxp_key *key = NULL;
	json_t *result = NULL, *jwk;
	const char *kid, *state, *crv;
	uint8_t pub[MCXP_EC_POINT_LEN];
	OSSL_PARAM params[3];

	*out = NULL;
	MCX_GUARD(mcxp_conn(ctx, &v));
	if ((r = mcxvault_public_key(v, uri->domain, uri->version, NULL, NULL, &result, &e)) != MCX_OK) {
		MCXP_RAISE_VAULT(ctx, r, &e, "sign.public_key");
		goto out;
	}
	jwk = json_object_get(result, "jwk");
	kid = json_string_value(json_object_get(result, "kid"));
	state = json_string_value(json_object_get(result, "state"));
	crv = json_string_value(json_object_get(jwk, "crv"));
	if (kid == NULL || state == NULL || crv == NULL) {
		MCXP_RAISE(ctx, MCXP_R_VAULT_ERROR, "sign.public_key: the result lacks kid, state or jwk.crv");
		MCX_BAIL(MCX_ERR_PROTOCOL);
	}
	if (strcmp(crv, "P-256") != 0) {
		MCXP_RAISE(ctx, MCXP_R_UNSUPPORTED, "%s: curve %s", kid, crv);
		MCX_BAIL(MCX_ERR_PROTOCOL);
	}
	if ((key = mcxp_key_new(ctx)) == NULL || (key->domain = strdup(uri->domain)) == NULL ||
	    (key->kid = strdup(kid)) == NULL || (key->state = strdup(state)) == NULL) {
		MCXP_RAISE(ctx, MCXP_R_INTERNAL, "out of memory");
		MCX_BAIL(MCX_ERR_ALLOC);
	}
	key->version = uri->version;
	pub[0] = 0x04;
	if (jwk_coord(jwk, "x", pub + 1) != MCX_OK || jwk_coord(jwk, "y", pub + 33) != MCX_OK) {
		MCXP_RAISE(ctx, MCXP_R_VAULT_ERROR, "sign.public_key: jwk.x / jwk.y are not 32-octet base64url");
		MCX_BAIL(MCX_ERR_PROTOCOL);
	}
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)MCXP_EC_GROUP, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub));
	params[2] = OSSL_PARAM_construct_end();
	if ((key->soft = mcxp_soft_fromdata(ctx, EVP_PKEY_PUBLIC_KEY, params)) == NULL) {
		MCXP_RAISE(ctx, MCXP_R_VAULT_ERROR, "%s: the vault's public key is not a P-256 point", kid);
		MCX_BAIL(MCX_ERR_PROTOCOL);
	}
	key->has_public = 1;
	/* The vault keeps the private half of every version it has not retired. */
	key->has_private = 1;
	*out = key;
	key = NULL;
	r = MCX_OK;
out:
	mcxp_key_unref(key);
	json_decref(result);
	return r;
}

int mcxp_key_sign_digest(struct mcxp_key *key, const uint8_t *digest, size_t len,
			 uint8_t sig[MCXVAULT_SIGNATURE_LEN])
{
	int r = MCX_ERR_INTERNAL;
	struct mcxvault *v = NULL;
	struct mcxvault_error e;
	char *kid = NULL;

	if (!key->has_private || key->domain == NULL) {
		MCXP_RAISE(key->ctx, MCXP_R_NO_PRIVATE_KEY, "a public key cannot sign; load the key from an mcxvault: URI");
		MCX_BAIL(MCX_ERR_INVALID_ARGUMENT);
	}
	if (strcmp(key->state, "active") != 0) {
		MCXP_RAISE(key->ctx, MCXP_R_KEY_STATE, "%s is %s: only the active version of a domain's key signs",
			   key->kid, key->state);
		MCX_BAIL(MCX_ERR_KEY_STATE);
	}
	if (len != MCXVAULT_DIGEST_LEN) {
		MCXP_RAISE(key->ctx, MCXP_R_BAD_INPUT, "the vault signs a 32-octet SHA-256 digest, not %zu octets", len);
		MCX_BAIL(MCX_ERR_INVALID_ARGUMENT);
	}
	MCX_GUARD(mcxp_conn(key->ctx, &v));
	if ((r = mcxvault_sign(v, key->domain, digest, len, 1, &kid, sig, &e)) != MCX_OK) {
		MCXP_RAISE_VAULT(key->ctx, r, &e, "sign.sign");
		goto out;
	}
	/*
	 * sign.sign always uses the domain's active version.  If the key was
	 * rotated after this one was loaded, the signature is by another key
	 * than the public key the caller holds (and has put in certificates):
	 * discard it rather than hand out a signature that will not verify.
	 */
	if (kid == NULL || strcmp(kid, key->kid) != 0) {
		MCXP_RAISE(key->ctx, MCXP_R_KEY_STATE,
			   "the vault signed with %s but the key loaded is %s (rotated since it was loaded)",
			   kid != NULL ? kid : "?", key->kid);
		mcx_wipe(sig, MCXVAULT_SIGNATURE_LEN);
		MCX_BAIL(MCX_ERR_KEY_STATE);
	}
	r = MCX_OK;
out:
	mcxvault_free(kid);
	return r;
}

/* --- KEYMGMT ------------------------------------------------------------------ */

#define SELECT_KEYPAIR OSSL_KEYMGMT_SELECT_KEYPAIR
#define SELECT_PUBLIC  OSSL_KEYMGMT_SELECT_PUBLIC_KEY
#define SELECT_PRIVATE OSSL_KEYMGMT_SELECT_PRIVATE_KEY
#define SELECT_PARAMS  OSSL_KEYMGMT_SELECT_ALL_PARAMETERS

static OSSL_FUNC_keymgmt_new_fn km_new;
static OSSL_FUNC_keymgmt_free_fn km_free;
static OSSL_FUNC_keymgmt_load_fn km_load;
static OSSL_FUNC_keymgmt_has_fn km_has;
static OSSL_FUNC_keymgmt_match_fn km_match;
static OSSL_FUNC_keymgmt_import_fn km_import;
static OSSL_FUNC_keymgmt_import_types_fn km_io_types;
static OSSL_FUNC_keymgmt_export_fn km_export;
static OSSL_FUNC_keymgmt_get_params_fn km_get_params;
static OSSL_FUNC_keymgmt_gettable_params_fn km_gettable_params;
static OSSL_FUNC_keymgmt_set_params_fn km_set_params;
static OSSL_FUNC_keymgmt_settable_params_fn km_settable_params;
static OSSL_FUNC_keymgmt_query_operation_name_fn km_query_operation_name;
static OSSL_FUNC_keymgmt_dup_fn km_dup;
static OSSL_FUNC_keymgmt_gen_init_fn km_gen_init;
static OSSL_FUNC_keymgmt_gen_set_params_fn km_gen_set_params;
static OSSL_FUNC_keymgmt_gen_settable_params_fn km_gen_settable_params;
static OSSL_FUNC_keymgmt_gen_set_template_fn km_gen_set_template;
static OSSL_FUNC_keymgmt_gen_fn km_gen;
static OSSL_FUNC_keymgmt_gen_cleanup_fn km_gen_cleanup;

/* The EVP_PKEY_fromdata() selection for a KEYMGMT selection. */
static int fromdata_selection(int selection)
{
	if ((selection & SELECT_PRIVATE) != 0)
		return EVP_PKEY_KEYPAIR;
	if ((selection & SELECT_PUBLIC) != 0)
		return EVP_PKEY_PUBLIC_KEY;
	return EVP_PKEY_KEY_PARAMETERS;
}

/* Sets has_public / has_private of a software key from what soft holds. */
static void soft_flags(struct mcxp_key *key)
{
	BIGNUM *priv = NULL;
	size_t len = 0;

	key->has_public = key->soft != NULL &&
		EVP_PKEY_get_octet_string_param(key->soft, OSSL_PKEY_PARAM_PUB_KEY, NULL, 0, &len) == 1 && len > 0;
	key->has_private = key->soft != NULL && EVP_PKEY_get_bn_param(key->soft, OSSL_PKEY_PARAM_PRIV_KEY, &priv) == 1;
	BN_clear_free(priv);
}

static void *km_new(void *provctx)
{
	return mcxp_key_new(provctx);
}

static void km_free(void *keydata)
{
	mcxp_key_unref(keydata);
}

/* reference: the bytes of a struct mcxp_key * handed out by store.c. */
static void *km_load(const void *reference, size_t reference_sz)
{
	struct mcxp_key *key;

	if (reference == NULL || reference_sz != sizeof(key))
		return NULL;
	memcpy(&key, reference, sizeof(key));
	if (key == NULL)
		return NULL;
	mcxp_key_ref(key);
	return key;
}

static int km_has(const void *keydata, int selection)
{
	const struct mcxp_key *key = keydata;

	if (key == NULL)
		return 0;
	if ((selection & SELECT_PRIVATE) != 0 && !key->has_private)
		return 0;
	if ((selection & SELECT_PUBLIC) != 0 && !key->has_public)
		return 0;
	if ((selection & SELECT_PARAMS) != 0 && key->soft == NULL)
		return 0;
	return 1;
}

static int km_match(const void *keydata1, const void *keydata2, int selection)
{
	const struct mcxp_key *a = keydata1, *b = keydata2;

	if (a == NULL || b == NULL || a->soft == NULL || b->soft == NULL)
		return 0;
	/* A key pair is identified by its public point (vault keys have no
	 * private half here to compare). */
	if ((selection & SELECT_KEYPAIR) != 0)
		return a->has_public && b->has_public && EVP_PKEY_eq(a->soft, b->soft) == 1;
	return EVP_PKEY_parameters_eq(a->soft, b->soft) == 1;
}

/* Any EC key into a software key; a vault key is never imported over. */
static int km_import(void *keydata, int selection, const OSSL_PARAM params[])
{
	struct mcxp_key *key = keydata;
	EVP_PKEY *soft;

	if (key == NULL || key->domain != NULL || (selection & (SELECT_KEYPAIR | SELECT_PARAMS)) == 0)
		return 0;
	if ((soft = mcxp_soft_fromdata(key->ctx, fromdata_selection(selection), (OSSL_PARAM *)params)) == NULL)
		return 0;
	EVP_PKEY_free(key->soft);
	key->soft = soft;
	soft_flags(key);
	return 1;
}

static const OSSL_PARAM km_io_params[] = {
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_PRIV_KEY, NULL, 0),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_USE_COFACTOR_ECDH, NULL),
	OSSL_PARAM_END,
};

static const OSSL_PARAM *km_io_types(int selection)
{
	return km_io_params;
}

static int km_export(void *keydata, int selection, OSSL_CALLBACK *cb, void *cbarg)
{
	struct mcxp_key *key = keydata;

	if (key == NULL || key->soft == NULL)
		return 0;
	/* A vault key's private half stays in the vault.  No error is raised:
	 * libcrypto tries an export to another provider before it uses ours. */
	if (key->domain != NULL && (selection & SELECT_PRIVATE) != 0)
		return 0;
	return EVP_PKEY_export(key->soft, selection, cb, cbarg);
}

static const OSSL_PARAM km_gettable[] = {
	OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_PUB_X, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_PUB_Y, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM *km_gettable_params(void *provctx)
{
	return km_gettable;
}

static int km_get_params(void *keydata, OSSL_PARAM params[])
{
	struct mcxp_key *key = keydata;

	if (key == NULL || key->soft == NULL)
		return 0;
	/* Private parameters of a vault key do not exist here; the rest (bits,
	 * max-size, group, point) are those of its public key. */
	if (key->domain != NULL && OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_PRIV_KEY) != NULL)
		return 0;
	return EVP_PKEY_get_params(key->soft, params);
}

static const OSSL_PARAM km_settable[] = {
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM *km_settable_params(void *provctx)
{
	return km_settable;
}

/* Software keys only (e.g. libssl setting a peer's key share); a vault key is fixed. */
static int km_set_params(void *keydata, const OSSL_PARAM params[])
{
	struct mcxp_key *key = keydata;

	if (key == NULL || key->domain != NULL || key->soft == NULL)
		return 0;
	if (!EVP_PKEY_set_params(key->soft, (OSSL_PARAM *)params))
		return 0;
	soft_flags(key);
	return 1;
}

static const char *km_query_operation_name(int operation_id)
{
	switch (operation_id) {
	case OSSL_OP_SIGNATURE:
		return "ECDSA";
	case OSSL_OP_KEYEXCH:
		return "ECDH";   /* software keys only: done by another provider */
	default:
		return NULL;
	}
}

static void *km_dup(const void *keydata_from, int selection)
{
	const struct mcxp_key *from = keydata_from;
	struct mcxp_key *key = NULL;
	OSSL_PARAM *params = NULL;

	if (from == NULL || (key = mcxp_key_new(from->ctx)) == NULL)
		return NULL;
	if (from->domain != NULL) {
		/* The same vault reference; soft (its public key) is never changed. */
		if (from->soft != NULL && !EVP_PKEY_up_ref(from->soft))
			goto err;
		key->soft = from->soft;
		key->version = from->version;
		key->has_public = from->has_public;
		if ((from->kid != NULL && (key->kid = strdup(from->kid)) == NULL) ||
		    (from->state != NULL && (key->state = strdup(from->state)) == NULL) ||
		    (key->domain = strdup(from->domain)) == NULL)
			goto err;
		key->has_private = from->has_private;
		return key;
	}
	if (from->soft != NULL) {
		if (EVP_PKEY_todata(from->soft, fromdata_selection(selection), &params) != 1 ||
		    (key->soft = mcxp_soft_fromdata(key->ctx, fromdata_selection(selection), params)) == NULL)
			goto err;
		soft_flags(key);
	}
	OSSL_PARAM_free(params);
	return key;
err:
	OSSL_PARAM_free(params);
	mcxp_key_unref(key);
	return NULL;
}

/* --- generation: software keys, by another provider ------------------------------ */

struct mcxp_gen {
	struct mcxp_ctx *ctx;
	EVP_PKEY_CTX *pctx;
	int selection;
};

static void km_gen_cleanup(void *genctx)
{
	struct mcxp_gen *g = genctx;

	if (g == NULL)
		return;
	EVP_PKEY_CTX_free(g->pctx);
	free(g);
}

static void *km_gen_init(void *provctx, int selection, const OSSL_PARAM params[])
{
	struct mcxp_ctx *ctx = provctx;
	struct mcxp_gen *g;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	g->ctx = ctx;
	g->selection = selection;
	if ((g->pctx = EVP_PKEY_CTX_new_from_name(ctx->libctx, "EC", MCXP_SOFT_PROPQ)) == NULL ||
	    ((selection & SELECT_KEYPAIR) != 0 ? EVP_PKEY_keygen_init(g->pctx) : EVP_PKEY_paramgen_init(g->pctx)) <= 0 ||
	    !km_gen_set_params(g, params)) {
		km_gen_cleanup(g);
		return NULL;
	}
	return g;
}

static int km_gen_set_params(void *genctx, const OSSL_PARAM params[])
{
	struct mcxp_gen *g = genctx;

	if (params == NULL || params[0].key == NULL)
		return 1;
	return EVP_PKEY_CTX_set_params(g->pctx, params) > 0;
}

static const OSSL_PARAM km_gen_settable[] = {
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM *km_gen_settable_params(void *genctx, void *provctx)
{
	struct mcxp_gen *g = genctx;
	const OSSL_PARAM *p = g != NULL ? EVP_PKEY_CTX_settable_params(g->pctx) : NULL;

	return p != NULL ? p : km_gen_settable;
}

static int km_gen_set_template(void *genctx, void *templ)
{
	struct mcxp_gen *g = genctx;
	struct mcxp_key *t = templ;
	char group[64];

	if (t == NULL || t->soft == NULL ||
	    EVP_PKEY_get_utf8_string_param(t->soft, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) != 1)
		return 0;
	return EVP_PKEY_CTX_set_group_name(g->pctx, group) > 0;
}

static void *km_gen(void *genctx, OSSL_CALLBACK *cb, void *cbarg)
{
	struct mcxp_gen *g = genctx;
	struct mcxp_key *key;

	if ((key = mcxp_key_new(g->ctx)) == NULL)
		return NULL;
	if (EVP_PKEY_generate(g->pctx, &key->soft) <= 0) {
		mcxp_key_unref(key);
		return NULL;
	}
	soft_flags(key);
	return key;
}

const OSSL_DISPATCH mcxp_ec_keymgmt_functions[] = {
	{ OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))km_new },
	{ OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))km_free },
	{ OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))km_load },
	{ OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))km_has },
	{ OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))km_match },
	{ OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))km_import },
	{ OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))km_io_types },
	{ OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))km_export },
	{ OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))km_io_types },
	{ OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))km_get_params },
	{ OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))km_gettable_params },
	{ OSSL_FUNC_KEYMGMT_SET_PARAMS, (void (*)(void))km_set_params },
	{ OSSL_FUNC_KEYMGMT_SETTABLE_PARAMS, (void (*)(void))km_settable_params },
	{ OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*)(void))km_query_operation_name },
	{ OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))km_dup },
	{ OSSL_FUNC_KEYMGMT_GEN_INIT, (void (*)(void))km_gen_init },
	{ OSSL_FUNC_KEYMGMT_GEN_SET_PARAMS, (void (*)(void))km_gen_set_params },
	{ OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS, (void (*)(void))km_gen_settable_params },
	{ OSSL_FUNC_KEYMGMT_GEN_SET_TEMPLATE, (void (*)(void))km_gen_set_template },
	{ OSSL_FUNC_KEYMGMT_GEN, (void (*)(void))km_gen },
	{ OSSL_FUNC_KEYMGMT_GEN_CLEANUP, (void (*)(void))km_gen_cleanup },
	{ 0, NULL },
};
