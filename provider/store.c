/*
 * mcxvault OpenSSL 3 provider — STORE for "mcxvault:" key URIs.
 *
 * open() parses the URI (a malformed one fails at once, naming the problem);
 * the first load() asks the vault for the key's public half and hands
 * libcrypto one object: an EC key by reference (OSSL_OBJECT_PARAM_REFERENCE
 * holding a struct mcxp_key *), which this provider's KEYMGMT load() turns
 * into the EVP_PKEY's key data.  No decoder is involved: the object never
 * exists in an encoded form.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/params.h>
#include <openssl/store.h>

#include "provider/provider.h"

struct mcxp_store {
	struct mcxp_ctx *ctx;
	struct mcxp_uri uri;
	int expect;     /* OSSL_STORE_INFO_* the caller wants, 0 for any */
	int failed;     /* load() failed once: report EOF next time */
	int eof;
};

static OSSL_FUNC_store_open_fn st_open;
static OSSL_FUNC_store_settable_ctx_params_fn st_settable_ctx_params;
static OSSL_FUNC_store_set_ctx_params_fn st_set_ctx_params;
static OSSL_FUNC_store_load_fn st_load;
static OSSL_FUNC_store_eof_fn st_eof;
static OSSL_FUNC_store_close_fn st_close;

static void *st_open(void *provctx, const char *uri)
{
	struct mcxp_ctx *ctx = provctx;
	struct mcxp_store *s;
	int r;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		MCXP_RAISE(ctx, MCXP_R_INTERNAL, "out of memory");
		return NULL;
	}
	s->ctx = ctx;
	if ((r = mcxp_uri_parse(uri, &s->uri)) != MCX_OK) {
		if (r == MCX_ERR_NOT_FOUND)
			MCXP_RAISE(ctx, MCXP_R_UNSUPPORTED, "%s: only purpose=sign is served (SAKKE/ECCSI keys: not yet)", uri);
		else if (r == MCX_ERR_ALLOC)
			MCXP_RAISE(ctx, MCXP_R_INTERNAL, "out of memory");
		else
			MCXP_RAISE(ctx, MCXP_R_BAD_URI,
				   "%s: expected mcxvault:domain=DOMAIN[;purpose=sign][;version=N]", uri);
		free(s);
		return NULL;
	}
	return s;
}

static const OSSL_PARAM st_settable[] = {
	OSSL_PARAM_int(OSSL_STORE_PARAM_EXPECT, NULL),
	OSSL_PARAM_END,
};

static const OSSL_PARAM *st_settable_ctx_params(void *provctx)
{
	return st_settable;
}

static int st_set_ctx_params(void *loaderctx, const OSSL_PARAM params[])
{
	struct mcxp_store *s = loaderctx;
	const OSSL_PARAM *p;

	if (params == NULL)
		return 1;
	p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_EXPECT);
	if (p != NULL && !OSSL_PARAM_get_int(p, &s->expect))
		return 0;
	/* Search criteria (subject, fingerprint, alias) do not apply to a URI
	 * that names exactly one key; they are accepted and ignored. */
	return 1;
}

static int st_load(void *loaderctx, OSSL_CALLBACK *object_cb, void *object_cbarg,
		   OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
	struct mcxp_store *s = loaderctx;
	struct mcxp_key *key = NULL;
	OSSL_PARAM params[5];
	int type = OSSL_OBJECT_PKEY;
	char desc[160];
	int ok = 0;

	if (s->eof || s->failed) {
		s->eof = 1;
		return 0;
	}
	if (s->expect != 0 && s->expect != OSSL_STORE_INFO_PKEY && s->expect != OSSL_STORE_INFO_PUBKEY) {
		s->eof = 1;   /* no certificates, CRLs or parameters here */
		return 0;
	}
	if (mcxp_key_fetch(s->ctx, &s->uri, &key) != MCX_OK) {
		/* Not EOF yet, so OSSL_STORE_error() is true; EOF on the next call. */
		s->failed = 1;
		return 0;
	}
	(void)snprintf(desc, sizeof(desc), "mcxvault key %s (%s)", key->kid, key->state);
	params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &type);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE, (char *)"EC", 0);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_REFERENCE, &key, sizeof(key));
	params[3] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DESC, desc, 0);
	params[4] = OSSL_PARAM_construct_end();
	s->eof = 1;
	ok = object_cb(params, object_cbarg);
	mcxp_key_unref(key);   /* KEYMGMT load() took its own reference */
	return ok;
}

static int st_eof(void *loaderctx)
{
	struct mcxp_store *s = loaderctx;

	return s->eof;
}

static int st_close(void *loaderctx)
{
	struct mcxp_store *s = loaderctx;

	if (s != NULL) {
		mcxp_uri_clear(&s->uri);
		free(s);
	}
	return 1;
}

const OSSL_DISPATCH mcxp_store_functions[] = {
	{ OSSL_FUNC_STORE_OPEN, (void (*)(void))st_open },
	{ OSSL_FUNC_STORE_SETTABLE_CTX_PARAMS, (void (*)(void))st_settable_ctx_params },
	{ OSSL_FUNC_STORE_SET_CTX_PARAMS, (void (*)(void))st_set_ctx_params },
	{ OSSL_FUNC_STORE_LOAD, (void (*)(void))st_load },
	{ OSSL_FUNC_STORE_EOF, (void (*)(void))st_eof },
	{ OSSL_FUNC_STORE_CLOSE, (void (*)(void))st_close },
	{ 0, NULL },
};
