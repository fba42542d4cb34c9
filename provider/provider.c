/*
 * mcxvault OpenSSL 3 provider — entry point, algorithm tables, configuration,
 * the vault connection and error reporting.
 *
 * Configuration (openssl.cnf provider section, read with core_get_params):
 *   socket  = /run/mcxvault/vaultd.sock   (else $MCXVAULT_SOCKET, else the default)
 *   timeout = 10                          (seconds a vault call may take)
 *
 * The vault is not contacted at load time: a provider that is configured but
 * whose vault is down must not break every OpenSSL program.  The connection
 * is opened by the first operation that needs it (loading a key), kept, and
 * re-established by libmcxvault after a lost connection or a fork().
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/provider.h>

#include "provider/provider.h"

static const OSSL_ITEM reason_strings[] = {
	{ MCXP_R_VAULT_UNREACHABLE, "vault unreachable" },
	{ MCXP_R_PERMISSION_DENIED, "vault permission denied" },
	{ MCXP_R_NOT_FOUND, "vault key not found" },
	{ MCXP_R_KEY_STATE, "vault key state forbids signing" },
	{ MCXP_R_VAULT_ERROR, "vault error" },
	{ MCXP_R_BAD_URI, "invalid mcxvault key URI" },
	{ MCXP_R_UNSUPPORTED, "unsupported by the mcxvault provider" },
	{ MCXP_R_NO_PRIVATE_KEY, "no private key in the vault for this key" },
	{ MCXP_R_BAD_INPUT, "invalid input" },
	{ MCXP_R_INTERNAL, "internal error" },
	{ 0, NULL },
};

void mcxp_raise_at(struct mcxp_ctx *ctx, const char *file, int line, const char *func,
		   int reason, const char *fmt, ...)
{
	va_list ap;

	if (ctx == NULL || ctx->core_new_error == NULL || ctx->core_vset_error == NULL)
		return;
	ctx->core_new_error(ctx->handle);
	if (ctx->core_set_error_debug != NULL)
		ctx->core_set_error_debug(ctx->handle, file, line, func);
	va_start(ap, fmt);
	ctx->core_vset_error(ctx->handle, (uint32_t)reason, fmt, ap);
	va_end(ap);
}

static int reason_for(int err)
{
	switch (err) {
	case MCX_ERR_CONNECTION:
	case MCX_ERR_TIMEOUT:
	case MCX_ERR_PROTOCOL:
	case MCX_ERR_BUSY:
	case MCX_ERR_HSM_UNAVAILABLE:
		return MCXP_R_VAULT_UNREACHABLE;
	case MCX_ERR_PERMISSION_DENIED:
	case MCX_ERR_POLICY_DENIED:
		return MCXP_R_PERMISSION_DENIED;
	case MCX_ERR_NOT_FOUND:
		return MCXP_R_NOT_FOUND;
	case MCX_ERR_KEY_STATE:
		return MCXP_R_KEY_STATE;
	case MCX_ERR_ALLOC:
	case MCX_ERR_INTERNAL:
		return MCXP_R_INTERNAL;
	default:
		return MCXP_R_VAULT_ERROR;
	}
}

void mcxp_raise_vault_at(struct mcxp_ctx *ctx, const char *file, int line, const char *func,
			 int err, const struct mcxvault_error *e, const char *what)
{
	const char *msg = e != NULL && e->message[0] != '\0' ? e->message : mcxvault_strerror(err);
	const char *name = e != NULL && e->name[0] != '\0' ? e->name : mcxvault_error_name(err);

	if (err == MCX_ERR_CONNECTION || err == MCX_ERR_TIMEOUT)
		mcxp_raise_at(ctx, file, line, func, reason_for(err), "%s: %s (%s; socket %s)",
			      what, msg, name, mcxvault_socket_path(ctx->socket));
	else
		mcxp_raise_at(ctx, file, line, func, reason_for(err), "%s: %s (%s)", what, msg, name);
}

int mcxp_conn(struct mcxp_ctx *ctx, struct mcxvault **out)
{
	int r = MCX_ERR_INTERNAL;
	struct mcxvault *v = NULL;
	int saved_errno;

	*out = NULL;
	if (pthread_mutex_lock(&ctx->lock) != 0) {
		MCXP_RAISE(ctx, MCXP_R_INTERNAL, "mutex");
		return MCX_ERR_INTERNAL;
	}
	if (ctx->conn == NULL) {
		errno = 0;
		if ((r = mcxvault_connect(ctx->socket, &v)) != 0) {
			saved_errno = errno;
			MCXP_RAISE(ctx, MCXP_R_VAULT_UNREACHABLE, "cannot connect to vaultd at %s: %s%s%s",
				   mcxvault_socket_path(ctx->socket), mcxvault_strerror(r),
				   saved_errno != 0 ? ": " : "", saved_errno != 0 ? strerror(saved_errno) : "");
			goto out;
		}
		if ((r = mcxvault_set_timeout(v, ctx->timeout_ms)) != 0) {
			MCXP_RAISE(ctx, MCXP_R_INTERNAL, "cannot set the vault timeout");
			goto out;
		}
		ctx->conn = v;
		v = NULL;
	}
	*out = ctx->conn;
	r = MCX_OK;
out:
	mcxvault_close(v);
	(void)pthread_mutex_unlock(&ctx->lock);
	return r;
}

/* --- algorithm tables ------------------------------------------------------- */

static const OSSL_ALGORITHM mcxp_keymgmt[] = {
	{ MCXP_EC_NAMES, MCXP_PROPS, mcxp_ec_keymgmt_functions, "mcxvault EC key (vault reference)" },
	{ MCX_PROV_SAKKE_NAME, MCXP_PROPS, mcxp_sakke_keymgmt_functions, "SAKKE key (RFC 6508, software)" },
	{ MCX_PROV_ECCSI_NAME, MCXP_PROPS, mcxp_eccsi_keymgmt_functions, "ECCSI key (RFC 6507, software)" },
	{ NULL, NULL, NULL, NULL },
};

static const OSSL_ALGORITHM mcxp_signature[] = {
	{ "ECDSA", MCXP_PROPS, mcxp_ecdsa_signature_functions, "ECDSA with the vault's P-256 keys" },
	{ MCX_PROV_ECCSI_NAME, MCXP_PROPS, mcxp_eccsi_signature_functions, "ECCSI (RFC 6507)" },
	{ NULL, NULL, NULL, NULL },
};

static const OSSL_ALGORITHM mcxp_kem[] = {
	{ MCX_PROV_SAKKE_NAME, MCXP_PROPS, mcxp_sakke_kem_functions, "SAKKE (RFC 6508)" },
	{ NULL, NULL, NULL, NULL },
};

/*
 * The software keys as PEM blocks (mcx_codec.c); no DER form, no OIDs.  The
 * structure names are those PEM_write_bio_PrivateKey and PEM_write_bio_PUBKEY
 * ask for; the blocks are this provider's own format, not PKCS#8 / SPKI.
 */
#define MCXP_PEM_PRIV MCXP_PROPS ",output=pem,structure=PrivateKeyInfo"
#define MCXP_PEM_PUB  MCXP_PROPS ",output=pem,structure=SubjectPublicKeyInfo"
static const OSSL_ALGORITHM mcxp_encoder[] = {
	{ MCX_PROV_SAKKE_NAME, MCXP_PEM_PRIV, mcxp_sakke_encoder_priv_functions, "SAKKE private key to PEM" },
	{ MCX_PROV_SAKKE_NAME, MCXP_PEM_PUB, mcxp_sakke_encoder_pub_functions, "SAKKE public key to PEM" },
	{ MCX_PROV_ECCSI_NAME, MCXP_PEM_PRIV, mcxp_eccsi_encoder_priv_functions, "ECCSI private key to PEM" },
	{ MCX_PROV_ECCSI_NAME, MCXP_PEM_PUB, mcxp_eccsi_encoder_pub_functions, "ECCSI public key to PEM" },
	{ NULL, NULL, NULL, NULL },
};

static const OSSL_ALGORITHM mcxp_decoder[] = {
	{ MCX_PROV_SAKKE_NAME, MCXP_PROPS ",input=pem", mcxp_sakke_decoder_functions, "PEM to SAKKE key" },
	{ MCX_PROV_ECCSI_NAME, MCXP_PROPS ",input=pem", mcxp_eccsi_decoder_functions, "PEM to ECCSI key" },
	{ NULL, NULL, NULL, NULL },
};

static const OSSL_ALGORITHM mcxp_store[] = {
	{ MCXP_URI_SCHEME, MCXP_PROPS, mcxp_store_functions, "mcxvault: key URIs" },
	{ NULL, NULL, NULL, NULL },
};

static const OSSL_ALGORITHM *mcxp_query(void *provctx, int operation_id, int *no_cache)
{
	*no_cache = 0;
	switch (operation_id) {
	case OSSL_OP_KEYMGMT:
		return mcxp_keymgmt;
	case OSSL_OP_SIGNATURE:
		return mcxp_signature;
	case OSSL_OP_KEM:
		return mcxp_kem;
	case OSSL_OP_ENCODER:
		return mcxp_encoder;
	case OSSL_OP_DECODER:
		return mcxp_decoder;
	case OSSL_OP_STORE:
		return mcxp_store;
	default:
		return NULL;
	}
}

static const OSSL_ITEM *mcxp_get_reason_strings(void *provctx)
{
	return reason_strings;
}

static const OSSL_PARAM mcxp_param_types[] = {
	OSSL_PARAM_DEFN(OSSL_PROV_PARAM_NAME, OSSL_PARAM_UTF8_PTR, NULL, 0),
	OSSL_PARAM_DEFN(OSSL_PROV_PARAM_VERSION, OSSL_PARAM_UTF8_PTR, NULL, 0),
	OSSL_PARAM_DEFN(OSSL_PROV_PARAM_BUILDINFO, OSSL_PARAM_UTF8_PTR, NULL, 0),
	OSSL_PARAM_DEFN(OSSL_PROV_PARAM_STATUS, OSSL_PARAM_INTEGER, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM *mcxp_gettable_params(void *provctx)
{
	return mcxp_param_types;
}

static int mcxp_get_params(void *provctx, OSSL_PARAM params[])
{
	OSSL_PARAM *p;

	p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME);
	if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, "mcxvault key vault provider"))
		return 0;
	p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION);
	if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, MCXVAULT_VERSION))
		return 0;
	p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_BUILDINFO);
	if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, "mcxvault " MCXVAULT_VERSION))
		return 0;
	p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS);
	if (p != NULL && !OSSL_PARAM_set_int(p, 1))
		return 0;
	return 1;
}

static void mcxp_ctx_free(struct mcxp_ctx *ctx)
{
	if (ctx == NULL)
		return;
	mcxvault_close(ctx->conn);
	mcx_sakke_params_free(ctx->sakke);
	mcx_eccsi_params_free(ctx->eccsi);
	OSSL_LIB_CTX_free(ctx->libctx);
	free(ctx->socket);
	(void)pthread_mutex_destroy(&ctx->lock);
	free(ctx);
}

static void mcxp_teardown(void *provctx)
{
	mcxp_ctx_free(provctx);
}

static const OSSL_DISPATCH mcxp_dispatch[] = {
	{ OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))mcxp_teardown },
	{ OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, (void (*)(void))mcxp_gettable_params },
	{ OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))mcxp_get_params },
	{ OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))mcxp_query },
	{ OSSL_FUNC_PROVIDER_GET_REASON_STRINGS, (void (*)(void))mcxp_get_reason_strings },
	{ 0, NULL },
};

/* Reads "timeout" (whole seconds, 1..3600); anything else keeps the default. */
static int parse_timeout(const char *text, int *ms)
{
	char *end = NULL;
	long s;

	errno = 0;
	s = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || s < 1 || s > 3600)
		return 0;
	*ms = (int)s * 1000;
	return 1;
}

int OSSL_provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
		       const OSSL_DISPATCH **out, void **provctx)
{
	OSSL_FUNC_core_get_params_fn *core_get_params = NULL;
	const OSSL_DISPATCH *f;
	struct mcxp_ctx *ctx = NULL;
	const char *socket = NULL, *timeout = NULL;
	OSSL_PARAM params[3];
	int mutex_ok = 0;

	if ((ctx = calloc(1, sizeof(*ctx))) == NULL)
		return 0;
	ctx->handle = handle;
	ctx->timeout_ms = MCXP_DEFAULT_TIMEOUT_MS;
	for (f = in; f->function_id != 0; f++) {
		switch (f->function_id) {
		case OSSL_FUNC_CORE_GET_PARAMS:
			core_get_params = OSSL_FUNC_core_get_params(f);
			break;
		case OSSL_FUNC_CORE_NEW_ERROR:
			ctx->core_new_error = OSSL_FUNC_core_new_error(f);
			break;
		case OSSL_FUNC_CORE_SET_ERROR_DEBUG:
			ctx->core_set_error_debug = OSSL_FUNC_core_set_error_debug(f);
			break;
		case OSSL_FUNC_CORE_VSET_ERROR:
			ctx->core_vset_error = OSSL_FUNC_core_vset_error(f);
			break;
		default:
			break;
		}
	}
	if (pthread_mutex_init(&ctx->lock, NULL) != 0)
		goto err;
	mutex_ok = 1;

	if (core_get_params != NULL) {
		params[0] = OSSL_PARAM_construct_utf8_ptr("socket", (char **)&socket, 0);
		params[1] = OSSL_PARAM_construct_utf8_ptr("timeout", (char **)&timeout, 0);
		params[2] = OSSL_PARAM_construct_end();
		if (!core_get_params(handle, params))
			goto err;
	}
	if (socket != NULL && socket[0] != '\0' && (ctx->socket = strdup(socket)) == NULL)
		goto err;
	if (timeout != NULL && !parse_timeout(timeout, &ctx->timeout_ms)) {
		MCXP_RAISE(ctx, MCXP_R_BAD_INPUT, "timeout = \"%s\": expected whole seconds, 1 to 3600", timeout);
		goto err;
	}
	/* A child library context sees the other providers (SHA-256, verification). */
	if ((ctx->libctx = OSSL_LIB_CTX_new_child(handle, in)) == NULL)
		goto err;

	*out = mcxp_dispatch;
	*provctx = ctx;
	return 1;
err:
	if (!mutex_ok) {
		free(ctx);
		return 0;
	}
	mcxp_ctx_free(ctx);
	return 0;
}
