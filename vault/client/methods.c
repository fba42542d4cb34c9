/*
 * libmcxvault: one typed helper per method of docs/protocol.md, all built on
 * mcxvault_call().
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "mcxvault.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcx/buf.h"
#include "mcx/safety.h"
#include "mcx/util.h"
#include "vault/client/client_internal.h"

/* A local failure of a helper (method names the call, for the reader). */
static void err_fill(struct mcxvault_error *e, int code, const char *method, const char *what)
{
	(void)method;
	if (e == NULL)
		return;
	e->rpc_code = 0;
	snprintf(e->name, sizeof(e->name), "%s", mcx_error_name(code));
	snprintf(e->message, sizeof(e->message), "%s", what);
}

/* {"domain": domain} */
static MCX_RESULT domain_params(const char *domain, json_t **out)
{
	int r = MCX_ERR_INTERNAL;

	*out = NULL;
	MCX_ENSURE_REF(domain);
	MCX_ENSURE_ALLOC(*out = json_object());
	MCX_ENSURE(json_object_set_new(*out, "domain", json_string(domain)) == 0,
		   MCX_ERR_INVALID_ARGUMENT);   /* not UTF-8 */
	r = MCX_OK;
out:
	if (r != MCX_OK) {
		json_decref(*out);
		*out = NULL;
	}
	return r;
}

/* A call with {"domain": domain} (or no params when domain is NULL and allowed). */
static MCX_RESULT domain_call(struct mcxvault *v, const char *method, const char *domain,
			      json_t **result_out, struct mcxvault_error *err_out)
{
	int r = MCX_ERR_INTERNAL;
	json_t *params = NULL;

	if (result_out != NULL)
		*result_out = NULL;
	if ((r = domain_params(domain, &params)) != MCX_OK) {
		err_fill(err_out, r, method, "invalid domain name");
		goto out;
	}
	r = mcxvault_call(v, method, params, result_out, err_out);
out:
	json_decref(params);
	return r;
}

/* A string member of a result, copied; MCX_ERR_PROTOCOL when missing. */
static MCX_RESULT result_string(json_t *result, const char *key, char **out)
{
	const char *s;

	if (out == NULL)
		return MCX_OK;
	if ((s = json_string_value(json_object_get(result, key))) == NULL)
		return MCX_ERR_PROTOCOL;
	if ((*out = strdup(s)) == NULL)
		return MCX_ERR_ALLOC;
	return MCX_OK;
}

/* Adds "data" or "digest" (base64url) to params. */
static MCX_RESULT put_payload(json_t *params, const void *data, size_t len, int is_digest)
{
	int r = MCX_ERR_INTERNAL;
	char *text = NULL;

	MCX_ENSURE(data != NULL || len == 0, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(!is_digest || len == MCXVAULT_DIGEST_LEN, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE_ALLOC(text = mcx_base64url_string(data != NULL ? data : "", len));
	/* base64url text is ASCII: no need for json_string()'s UTF-8 scan */
	MCX_ENSURE(json_object_set_new(params, is_digest ? "digest" : "data", json_string_nocheck(text)) == 0,
		   MCX_ERR_ALLOC);
	r = MCX_OK;
out:
	free(text);
	return r;
}

int mcxvault_status(struct mcxvault *v, json_t **result_out, struct mcxvault_error *err_out)
{
	return mcxvault_call(v, "vault.status", NULL, result_out, err_out);
}

int mcxvault_domain_init(struct mcxvault *v, const char *domain, json_t **result_out,
			 struct mcxvault_error *err_out)
{
	return domain_call(v, "domain.init", domain, result_out, err_out);
}

int mcxvault_domain_list(struct mcxvault *v, json_t **result_out, struct mcxvault_error *err_out)
{
	return mcxvault_call(v, "domain.list", NULL, result_out, err_out);
}

int mcxvault_domain_show(struct mcxvault *v, const char *domain, json_t **result_out,
			 struct mcxvault_error *err_out)
{
	return domain_call(v, "domain.show", domain, result_out, err_out);
}

int mcxvault_key_list(struct mcxvault *v, const char *domain, json_t **result_out,
		      struct mcxvault_error *err_out)
{
	return domain_call(v, "key.list", domain, result_out, err_out);
}

int mcxvault_key_rotate(struct mcxvault *v, const char *domain, const char *purpose, int64_t *version_out,
			json_t **result_out, struct mcxvault_error *err_out)
{
	int r = MCX_ERR_INTERNAL;
	json_t *params = NULL, *result = NULL, *ver;

	if (version_out != NULL)
		*version_out = 0;
	if (result_out != NULL)
		*result_out = NULL;
	if ((r = domain_params(domain, &params)) != MCX_OK ||
	    json_object_set_new(params, "purpose", json_string(purpose != NULL ? purpose : "sign")) != 0) {
		if (r == MCX_OK)
			r = MCX_ERR_INVALID_ARGUMENT;
		err_fill(err_out, r, "key.rotate", "invalid domain or purpose");
		goto out;
	}
	MCX_GUARD(mcxvault_call(v, "key.rotate", params, &result, err_out));
	if (version_out != NULL) {
		if (!json_is_integer(ver = json_object_get(result, "version"))) {
			err_fill(err_out, MCX_ERR_PROTOCOL, "key.rotate", "result has no version");
			MCX_BAIL(MCX_ERR_PROTOCOL);
		}
		*version_out = json_integer_value(ver);
	}
	if (result_out != NULL) {
		*result_out = result;
		result = NULL;
	}
	r = MCX_OK;
out:
	json_decref(params);
	json_decref(result);
	return r;
}

int mcxvault_key_retire(struct mcxvault *v, const char *domain, const char *purpose, int64_t version,
			json_t **result_out, struct mcxvault_error *err_out)
{
	int r = MCX_ERR_INTERNAL;
	json_t *params = NULL;

	if (result_out != NULL)
		*result_out = NULL;
	if ((r = domain_params(domain, &params)) != MCX_OK || version < 1 ||
	    json_object_set_new(params, "purpose", json_string(purpose != NULL ? purpose : "sign")) != 0 ||
	    json_object_set_new(params, "version", json_integer(version)) != 0) {
		r = MCX_ERR_INVALID_ARGUMENT;
		err_fill(err_out, r, "key.retire", "invalid domain, purpose or version");
		goto out;
	}
	r = mcxvault_call(v, "key.retire", params, result_out, err_out);
out:
	json_decref(params);
	return r;
}

int mcxvault_sign(struct mcxvault *v, const char *domain, const void *data, size_t len, int is_digest,
		  char **kid_out, uint8_t sig[MCXVAULT_SIGNATURE_LEN], struct mcxvault_error *err_out)
{
	int r = MCX_ERR_INTERNAL;
	json_t *params = NULL, *result = NULL;
	struct mcx_buf *raw = NULL;
	const char *text;

	if (kid_out != NULL)
		*kid_out = NULL;
	if (sig == NULL || (r = domain_params(domain, &params)) != MCX_OK ||
	    (r = put_payload(params, data, len, is_digest)) != MCX_OK) {
		if (r == MCX_OK)
			r = MCX_ERR_INVALID_ARGUMENT;
		err_fill(err_out, r, "sign.sign", "invalid domain, data or digest (a digest is 32 octets)");
		goto out;
	}
	MCX_GUARD(mcxvault_call(v, "sign.sign", params, &result, err_out));
	MCX_ENSURE_ALLOC(raw = mcx_buf_new(MCXVAULT_SIGNATURE_LEN * 2));
	if ((text = json_string_value(json_object_get(result, "signature"))) == NULL ||
	    mcx_base64url_decode(raw, text, strlen(text)) != MCX_OK ||
	    mcx_buf_len(raw) != MCXVAULT_SIGNATURE_LEN) {
		err_fill(err_out, MCX_ERR_PROTOCOL, "sign.sign", "result has no 64-octet signature");
		MCX_BAIL(MCX_ERR_PROTOCOL);
	}
	if ((r = result_string(result, "kid", kid_out)) != MCX_OK) {
		err_fill(err_out, r, "sign.sign", "result has no kid");
		goto out;
	}
	memcpy(sig, mcx_buf_ptr(raw), MCXVAULT_SIGNATURE_LEN);
	r = MCX_OK;
out:
	if (r != MCX_OK && kid_out != NULL) {
		free(*kid_out);
		*kid_out = NULL;
	}
	mcx_buf_free(raw);
	json_decref(params);
	json_decref(result);
	return r;
}

int mcxvault_verify(struct mcxvault *v, const char *domain, const char *kid, const void *data, size_t len,
		    int is_digest, const uint8_t sig[MCXVAULT_SIGNATURE_LEN], int *valid_out, char **kid_out,
		    struct mcxvault_error *err_out)
{
	int r = MCX_ERR_INTERNAL;
	json_t *params = NULL, *result = NULL, *valid;
	char *sigtext = NULL;

	if (valid_out != NULL)
		*valid_out = 0;
	if (kid_out != NULL)
		*kid_out = NULL;
	if (sig == NULL || valid_out == NULL || (r = domain_params(domain, &params)) != MCX_OK ||
	    (r = put_payload(params, data, len, is_digest)) != MCX_OK ||
	    (sigtext = mcx_base64url_string(sig, MCXVAULT_SIGNATURE_LEN)) == NULL ||
	    json_object_set_new(params, "signature", json_string_nocheck(sigtext)) != 0 ||
	    (kid != NULL && json_object_set_new(params, "kid", json_string(kid)) != 0)) {
		if (r == MCX_OK)
			r = MCX_ERR_INVALID_ARGUMENT;
		err_fill(err_out, r, "sign.verify", "invalid domain, kid, data or digest (a digest is 32 octets)");
		goto out;
	}
	MCX_GUARD(mcxvault_call(v, "sign.verify", params, &result, err_out));
	if (!json_is_boolean(valid = json_object_get(result, "valid"))) {
		err_fill(err_out, MCX_ERR_PROTOCOL, "sign.verify", "result has no \"valid\"");
		MCX_BAIL(MCX_ERR_PROTOCOL);
	}
	if (json_is_true(valid) && kid_out != NULL &&
	    (r = result_string(result, "kid", kid_out)) != MCX_OK) {
		err_fill(err_out, r, "sign.verify", "result has no kid");
		goto out;
	}
	*valid_out = json_is_true(valid);
	r = MCX_OK;
out:
	if (r != MCX_OK && kid_out != NULL) {
		free(*kid_out);
		*kid_out = NULL;
	}
	free(sigtext);
	json_decref(params);
	json_decref(result);
	return r;
}

int mcxvault_public_key(struct mcxvault *v, const char *domain, int64_t version, char **pem_out,
			char **kid_out, json_t **result_out, struct mcxvault_error *err_out)
{
	int r = MCX_ERR_INTERNAL;
	json_t *params = NULL, *result = NULL;

	if (pem_out != NULL)
		*pem_out = NULL;
	if (kid_out != NULL)
		*kid_out = NULL;
	if (result_out != NULL)
		*result_out = NULL;
	if ((r = domain_params(domain, &params)) != MCX_OK || version < 0 ||
	    (version > 0 && json_object_set_new(params, "version", json_integer(version)) != 0)) {
		r = MCX_ERR_INVALID_ARGUMENT;
		err_fill(err_out, r, "sign.public_key", "invalid domain or version");
		goto out;
	}
	MCX_GUARD(mcxvault_call(v, "sign.public_key", params, &result, err_out));
	if ((r = result_string(result, "pem", pem_out)) != MCX_OK ||
	    (r = result_string(result, "kid", kid_out)) != MCX_OK) {
		err_fill(err_out, r, "sign.public_key", "result lacks pem or kid");
		goto out;
	}
	if (result_out != NULL) {
		*result_out = result;
		result = NULL;
	}
	r = MCX_OK;
out:
	if (r != MCX_OK) {
		if (pem_out != NULL) {
			free(*pem_out);
			*pem_out = NULL;
		}
		if (kid_out != NULL) {
			free(*kid_out);
			*kid_out = NULL;
		}
	}
	json_decref(params);
	json_decref(result);
	return r;
}

/* Requests of mcxvault_sign_many() in flight at once: refilled by half, so
 * vaultd always finds a run of 16 (its WORKER_BATCH) to sign in parallel;
 * small enough (~5 KB) that the requests never fill the socket buffer while
 * we are not reading. */
#define SIGN_MANY_WINDOW 32

/* The signature and kid of one sign.sign result. */
static int sign_result(json_t *result, uint8_t sig[MCXVAULT_SIGNATURE_LEN], char **kid_out)
{
	int r = MCX_ERR_INTERNAL;
	struct mcx_buf *raw = NULL;
	const char *text = json_string_value(json_object_get(result, "signature"));

	MCX_ENSURE_ALLOC(raw = mcx_buf_new(MCXVAULT_SIGNATURE_LEN * 2));
	MCX_ENSURE(text != NULL && mcx_base64url_decode(raw, text, strlen(text)) == MCX_OK &&
	           mcx_buf_len(raw) == MCXVAULT_SIGNATURE_LEN,
	           MCX_ERR_PROTOCOL);
	MCX_GUARD(result_string(result, "kid", kid_out));
	memcpy(sig, mcx_buf_ptr(raw), MCXVAULT_SIGNATURE_LEN);
	r = MCX_OK;
out:
	mcx_buf_free(raw);
	return r;
}

int mcxvault_sign_many(struct mcxvault *v, const char *domain, const uint8_t (*digests)[32], size_t n,
		       uint8_t (*sigs)[MCXVAULT_SIGNATURE_LEN], int *results, char **kids,
		       struct mcxvault_error *err_out)
{
	int r = MCX_ERR_INTERNAL, first = MCX_OK;
	size_t sent = 0, done = 0;
	struct mcxvault_error e;
	json_t *params = NULL, *result = NULL;

	if (v == NULL || domain == NULL || (n > 0 && (digests == NULL || sigs == NULL || results == NULL))) {
		err_fill(err_out, MCX_ERR_INVALID_ARGUMENT, "sign.sign", "sign_many needs a vault, a domain, digests, "
			 "room for the signatures and the results");
		return MCX_ERR_INVALID_ARGUMENT;
	}
	for (size_t i = 0; i < n; i++) {
		results[i] = MCX_ERR_INTERNAL;
		if (kids != NULL)
			kids[i] = NULL;
	}
	while (done < n) {
		/* refill the window when half of it is answered, all requests in
		 * one write: vaultd then finds them together and signs a run of
		 * them in parallel; responses come back in request order */
		if (sent < n && sent - done <= SIGN_MANY_WINDOW / 2) {
			mcx_client_cork(v);
			while (sent < n && sent - done < SIGN_MANY_WINDOW) {
				if ((r = domain_params(domain, &params)) != MCX_OK ||
				    (r = put_payload(params, digests[sent], 32, 1)) != MCX_OK) {
					(void)mcx_client_uncork(v, NULL);
					err_fill(err_out, r, "sign.sign", "invalid domain name");
					goto fail_rest;
				}
				r = mcxvault_send(v, "sign.sign", params, NULL, &e);
				json_decref(params);
				params = NULL;
				if (r != MCX_OK) {
					(void)mcx_client_uncork(v, NULL);
					goto broken;
				}
				sent++;
			}
			if ((r = mcx_client_uncork(v, &e)) != MCX_OK)
				goto broken;
		}
		r = mcxvault_receive(v, &result, NULL, &e);
		if (r != MCX_OK && e.rpc_code == 0)
			goto broken;   /* the stream is gone: so are the outstanding requests */
		if (r == MCX_OK && (r = sign_result(result, sigs[done], kids != NULL ? &kids[done] : NULL)) != MCX_OK) {
			e.rpc_code = 0;
			snprintf(e.name, sizeof(e.name), "%s", mcx_error_name(r));
			snprintf(e.message, sizeof(e.message), "sign.sign: result has no 64-octet signature or no kid");
		}
		json_decref(result);
		result = NULL;
		results[done] = r;
		if (r != MCX_OK && first == MCX_OK) {
			first = r;
			if (err_out != NULL)
				*err_out = e;
		}
		done++;
	}
	return first;

broken:
	if (err_out != NULL)
		*err_out = e;
fail_rest:
	for (size_t i = done; i < n; i++)
		results[i] = r;
	return first != MCX_OK ? first : r;
}

/* --- the helpers of every other method ---------------------------------------- */

/*
 * Calls method with params packed by json_pack (fmt and the arguments after
 * it; "s*"/"O*" members are left out when NULL), plus the members of extra
 * the helper does not set.  A NULL required argument or a string that is
 * not UTF-8 is MCX_ERR_INVALID_ARGUMENT, before anything is sent.
 */
static MCX_RESULT call_packed(struct mcxvault *v, const char *method, json_t *extra, json_t **result_out,
			      struct mcxvault_error *err_out, const char *fmt, ...)
{
	int r = MCX_ERR_INTERNAL;
	json_t *params = NULL;
	json_error_t jerr;
	char what[200];
	va_list ap;

	if (result_out != NULL)
		*result_out = NULL;
	va_start(ap, fmt);
	params = json_vpack_ex(&jerr, 0, fmt, ap);
	va_end(ap);
	if (params == NULL) {
		snprintf(what, sizeof(what), "%.40s: a required argument is NULL or not UTF-8 (%.100s)", method, jerr.text);
		err_fill(err_out, MCX_ERR_INVALID_ARGUMENT, method, what);
		MCX_BAIL(MCX_ERR_INVALID_ARGUMENT);
	}
	if (extra != NULL && (!json_is_object(extra) || json_object_update_missing(params, extra) != 0)) {
		snprintf(what, sizeof(what), "%s: extra is not a JSON object", method);
		err_fill(err_out, MCX_ERR_INVALID_ARGUMENT, method, what);
		MCX_BAIL(MCX_ERR_INVALID_ARGUMENT);
	}
	r = mcxvault_call(v, method, params, result_out, err_out);
out:
	json_decref(params);
	return r;
}

/*
 * After call_packed(): copies the string member key of *result into *out
 * (when out is not NULL) and hands the result to result_out (or frees it).
 * On a failure every output is NULL.
 */
static MCX_RESULT finish(int r, const char *method, json_t *result, const char *key, char **out,
			 json_t **result_out, struct mcxvault_error *err_out)
{
	char what[200];

	if (out != NULL)
		*out = NULL;
	if (r == MCX_OK && key != NULL && (r = result_string(result, key, out)) != MCX_OK) {
		snprintf(what, sizeof(what), "%s: the result has no string \"%s\"", method, key);
		err_fill(err_out, r, method, what);
	}
	if (r == MCX_OK && result_out != NULL) {
		*result_out = result;
		result = NULL;
	} else if (result_out != NULL) {
		*result_out = NULL;
	}
	json_decref(result);
	return r;
}

int mcxvault_domain_upgrade(struct mcxvault *v, const char *domain, json_t **result_out,
			    struct mcxvault_error *err_out)
{
	return domain_call(v, "domain.upgrade", domain, result_out, err_out);
}

int mcxvault_key_cancel_retire(struct mcxvault *v, const char *domain, const char *purpose, int64_t version,
			       json_t **result_out, struct mcxvault_error *err_out)
{
	return call_packed(v, "key.cancel_retire", NULL, result_out, err_out, "{s:s, s:s, s:I}", "domain", domain,
			   "purpose", purpose != NULL ? purpose : "sign", "version", (json_int_t)version);
}

int mcxvault_kms_certificate(struct mcxvault *v, const char *domain, int64_t version, char **xml_out,
			     json_t **result_out, struct mcxvault_error *err_out)
{
	json_t *res = NULL;
	int r;

	if (version > 0)
		r = call_packed(v, "kms.certificate", NULL, &res, err_out, "{s:s, s:I}", "domain", domain, "version",
				(json_int_t)version);
	else
		r = call_packed(v, "kms.certificate", NULL, &res, err_out, "{s:s}", "domain", domain);
	return finish(r, "kms.certificate", res, "xml", xml_out, result_out, err_out);
}

int mcxvault_kms_user_keys(struct mcxvault *v, const char *domain, const char *user_uri, const char *time,
			   const uint8_t *transport_key, size_t transport_key_len, json_t **result_out,
			   struct mcxvault_error *err_out)
{
	char *tk = NULL;
	int r;

	if (result_out != NULL)
		*result_out = NULL;
	if (transport_key != NULL) {
		if (transport_key_len != 16 && transport_key_len != 32) {
			err_fill(err_out, MCX_ERR_INVALID_ARGUMENT, "kms.user_keys",
				 "kms.user_keys: a transport key is 16 or 32 octets");
			return MCX_ERR_INVALID_ARGUMENT;
		}
		if ((tk = mcx_base64url_string(transport_key, transport_key_len)) == NULL) {
			err_fill(err_out, MCX_ERR_ALLOC, "kms.user_keys", "out of memory");
			return MCX_ERR_ALLOC;
		}
	}
	r = call_packed(v, "kms.user_keys", NULL, result_out, err_out, "{s:s, s:s, s:s*, s:s*}", "domain", domain,
			"user_uri", user_uri, "time", time, "transport_key", tk);
	if (tk != NULL) {
		mcx_wipe(tk, strlen(tk));
		free(tk);
	}
	return r;
}

int mcxvault_kms_cert_cache(struct mcxvault *v, const char *domain, char **bundle_out, json_t **result_out,
			    struct mcxvault_error *err_out)
{
	json_t *res = NULL;
	int r = call_packed(v, "kms.cert_cache", NULL, &res, err_out, "{s:s}", "domain", domain);

	return finish(r, "kms.cert_cache", res, "bundle", bundle_out, result_out, err_out);
}

int mcxvault_external_import(struct mcxvault *v, const char *domain, const char *certificate, json_t *signing_key,
			     json_t *token_key, json_t **result_out, struct mcxvault_error *err_out)
{
	return call_packed(v, "external.import", NULL, result_out, err_out, "{s:s, s:s, s:O, s:O*}", "domain", domain,
			   "certificate", certificate, "signing_key", signing_key, "token_key", token_key);
}

int mcxvault_external_list(struct mcxvault *v, const char *domain, json_t **result_out,
			   struct mcxvault_error *err_out)
{
	return domain_call(v, "external.list", domain, result_out, err_out);
}

int mcxvault_external_remove(struct mcxvault *v, const char *domain, const char *kms_uri, json_t **result_out,
			     struct mcxvault_error *err_out)
{
	return call_packed(v, "external.remove", NULL, result_out, err_out, "{s:s, s:s}", "domain", domain, "kms_uri",
			   kms_uri);
}

int mcxvault_external_revoke(struct mcxvault *v, const char *domain, const char *kms_uri, const char *reason,
			     json_t **result_out, struct mcxvault_error *err_out)
{
	return call_packed(v, "external.revoke", NULL, result_out, err_out, "{s:s, s:s, s:s}", "domain", domain,
			   "kms_uri", kms_uri, "reason", reason);
}

/* gmk.create / gmk.rekey */
static MCX_RESULT gmk_new(struct mcxvault *v, const char *method, const char *domain, const char *group,
			  char **gmk_id_out, json_t **result_out, struct mcxvault_error *err_out)
{
	json_t *res = NULL;
	int r = call_packed(v, method, NULL, &res, err_out, "{s:s, s:s}", "domain", domain, "group", group);

	return finish(r, method, res, "gmk_id", gmk_id_out, result_out, err_out);
}

int mcxvault_gmk_create(struct mcxvault *v, const char *domain, const char *group, char **gmk_id_out,
			json_t **result_out, struct mcxvault_error *err_out)
{
	return gmk_new(v, "gmk.create", domain, group, gmk_id_out, result_out, err_out);
}

int mcxvault_gmk_rekey(struct mcxvault *v, const char *domain, const char *group, char **gmk_id_out,
		       json_t **result_out, struct mcxvault_error *err_out)
{
	return gmk_new(v, "gmk.rekey", domain, group, gmk_id_out, result_out, err_out);
}

int mcxvault_gmk_revoke(struct mcxvault *v, const char *domain, const char *group, const char *gmk_id,
			json_t **result_out, struct mcxvault_error *err_out)
{
	return call_packed(v, "gmk.revoke", NULL, result_out, err_out, "{s:s, s:s, s:s*}", "domain", domain, "group",
			   group, "gmk_id", gmk_id);
}

int mcxvault_gmk_list(struct mcxvault *v, const char *domain, json_t *extra, json_t **result_out,
		      struct mcxvault_error *err_out)
{
	return call_packed(v, "gmk.list", extra, result_out, err_out, "{s:s}", "domain", domain);
}

int mcxvault_gmk_show(struct mcxvault *v, const char *domain, const char *group, json_t **result_out,
		      struct mcxvault_error *err_out)
{
	return call_packed(v, "gmk.show", NULL, result_out, err_out, "{s:s, s:s}", "domain", domain, "group", group);
}

int mcxvault_gmk_distribute(struct mcxvault *v, const char *domain, const char *group, const char *sender_uri,
			    json_t *members, const char *time, const char *gmk_id, json_t *extra, json_t **result_out,
			    struct mcxvault_error *err_out)
{
	return call_packed(v, "gmk.distribute", extra, result_out, err_out, "{s:s, s:s, s:s, s:O, s:s*, s:s*}",
			   "domain", domain, "group", group, "sender_uri", sender_uri, "members", members, "time", time,
			   "gmk_id", gmk_id);
}

/* server_key.create / server_key.rekey */
static MCX_RESULT server_key_new(struct mcxvault *v, const char *method, const char *domain, const char *server_uri,
				 const char *purpose, char **key_id_out, json_t **result_out,
				 struct mcxvault_error *err_out)
{
	json_t *res = NULL;
	int r = call_packed(v, method, NULL, &res, err_out, "{s:s, s:s, s:s}", "domain", domain, "server_uri",
			    server_uri, "purpose", purpose);

	return finish(r, method, res, "key_id", key_id_out, result_out, err_out);
}

int mcxvault_server_key_create(struct mcxvault *v, const char *domain, const char *server_uri, const char *purpose,
			       char **key_id_out, json_t **result_out, struct mcxvault_error *err_out)
{
	return server_key_new(v, "server_key.create", domain, server_uri, purpose, key_id_out, result_out, err_out);
}

int mcxvault_server_key_rekey(struct mcxvault *v, const char *domain, const char *server_uri, const char *purpose,
			      char **key_id_out, json_t **result_out, struct mcxvault_error *err_out)
{
	return server_key_new(v, "server_key.rekey", domain, server_uri, purpose, key_id_out, result_out, err_out);
}

int mcxvault_server_key_revoke(struct mcxvault *v, const char *domain, const char *server_uri, const char *purpose,
			       const char *key_id, json_t **result_out, struct mcxvault_error *err_out)
{
	return call_packed(v, "server_key.revoke", NULL, result_out, err_out, "{s:s, s:s, s:s, s:s*}", "domain",
			   domain, "server_uri", server_uri, "purpose", purpose, "key_id", key_id);
}

int mcxvault_server_key_list(struct mcxvault *v, const char *domain, json_t *extra, json_t **result_out,
			     struct mcxvault_error *err_out)
{
	return call_packed(v, "server_key.list", extra, result_out, err_out, "{s:s}", "domain", domain);
}

int mcxvault_server_key_show(struct mcxvault *v, const char *domain, const char *server_uri, const char *purpose,
			     json_t **result_out, struct mcxvault_error *err_out)
{
	return call_packed(v, "server_key.show", NULL, result_out, err_out, "{s:s, s:s, s:s*}", "domain", domain,
			   "server_uri", server_uri, "purpose", purpose);
}

int mcxvault_server_key_distribute(struct mcxvault *v, const char *domain, const char *server_uri,
				   const char *purpose, json_t *members, const char *time, const char *key_id,
				   json_t *extra, json_t **result_out, struct mcxvault_error *err_out)
{
	return call_packed(v, "server_key.distribute", extra, result_out, err_out, "{s:s, s:s, s:s, s:O, s:s*, s:s*}",
			   "domain", domain, "server_uri", server_uri, "purpose", purpose, "members", members, "time",
			   time, "key_id", key_id);
}

/* n strings as a JSON array; NULL when one is NULL or not UTF-8. */
static json_t *string_array(const char *const *s, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++)
		if (s == NULL || json_array_append_new(a, json_string(s[i])) != 0) {
			json_decref(a);
			a = NULL;
		}
	return a;
}

int mcxvault_redirect_sign(struct mcxvault *v, const char *domain, const char *originating_id,
			   const char *receiving_id, const char *originating_kms_uri, const char *const *initiating_kms,
			   size_t n_initiating, const char *const *receiving_kms, size_t n_receiving, json_t *extra,
			   char **response_out, json_t **result_out, struct mcxvault_error *err_out)
{
	json_t *res = NULL, *init = string_array(initiating_kms, n_initiating), *recv = string_array(receiving_kms,
											     n_receiving);
	int r;

	/* a NULL array makes the pack below fail: MCX_ERR_INVALID_ARGUMENT */
	r = call_packed(v, "redirect.sign", extra, &res, err_out, "{s:s, s:s, s:s, s:s, s:o, s:o}", "domain", domain,
			"originating_id", originating_id, "receiving_id", receiving_id, "originating_kms_uri",
			originating_kms_uri, "acceptable_initiating_kms", init, "acceptable_receiving_kms", recv);
	return finish(r, "redirect.sign", res, "response", response_out, result_out, err_out);
}

int mcxvault_redirect_evaluate(struct mcxvault *v, const char *domain, const char *response,
			       const char *received_at, char **decision_out, json_t **result_out,
			       struct mcxvault_error *err_out)
{
	json_t *res = NULL;
	int r = call_packed(v, "redirect.evaluate", NULL, &res, err_out, "{s:s, s:s, s:s*}", "domain", domain,
			    "response", response, "received_at", received_at);

	return finish(r, "redirect.evaluate", res, "decision", decision_out, result_out, err_out);
}

int mcxvault_redirect_report(struct mcxvault *v, const char *domain, const char *response, const char *user_uri,
			     json_t **result_out, struct mcxvault_error *err_out)
{
	return call_packed(v, "redirect.report", NULL, result_out, err_out, "{s:s, s:s, s:s}", "domain", domain,
			   "response", response, "user_uri", user_uri);
}

int mcxvault_redirect_accept(struct mcxvault *v, const char *domain, const char *response, json_t **result_out,
			     struct mcxvault_error *err_out)
{
	return call_packed(v, "redirect.accept", NULL, result_out, err_out, "{s:s, s:s}", "domain", domain, "response",
			   response);
}

int mcxvault_token_sign(struct mcxvault *v, const char *domain, json_t *claims, char **token_out, json_t **result_out,
			struct mcxvault_error *err_out)
{
	json_t *res = NULL;
	int r = call_packed(v, "token.sign", NULL, &res, err_out, "{s:s, s:O}", "domain", domain, "claims", claims);

	return finish(r, "token.sign", res, "token", token_out, result_out, err_out);
}

int mcxvault_token_verify(struct mcxvault *v, const char *domain, const char *token, const char *audience,
			  const char *time, json_t **claims_out, json_t **result_out, struct mcxvault_error *err_out)
{
	json_t *res = NULL, *claims;
	int r = call_packed(v, "token.verify", NULL, &res, err_out, "{s:s, s:s, s:s, s:s*}", "domain", domain, "token",
			    token, "audience", audience, "time", time);

	if (claims_out != NULL)
		*claims_out = NULL;
	if (r == MCX_OK && claims_out != NULL) {
		if (!json_is_object(claims = json_object_get(res, "claims"))) {
			err_fill(err_out, MCX_ERR_PROTOCOL, "token.verify", "token.verify: the result has no claims");
			r = MCX_ERR_PROTOCOL;
		} else {
			*claims_out = json_incref(claims);
		}
	}
	return finish(r, "token.verify", res, NULL, NULL, result_out, err_out);
}

int mcxvault_audit_status(struct mcxvault *v, json_t **result_out, struct mcxvault_error *err_out)
{
	return mcxvault_call(v, "audit.status", NULL, result_out, err_out);
}

int mcxvault_audit_tail(struct mcxvault *v, int count, json_t **result_out, struct mcxvault_error *err_out)
{
	if (count > 0)
		return call_packed(v, "audit.tail", NULL, result_out, err_out, "{s:i}", "count", count);
	return mcxvault_call(v, "audit.tail", NULL, result_out, err_out);
}

int mcxvault_audit_check_checkpoint(struct mcxvault *v, json_t *checkpoint, int *valid_out,
				    struct mcxvault_error *err_out)
{
	json_t *res = NULL, *valid;
	int r;

	if (valid_out != NULL)
		*valid_out = 0;
	r = call_packed(v, "audit.check_checkpoint", NULL, &res, err_out, "{s:O, s:O, s:O, s:O, s:O, s:O, s:O}",
			"seq", json_object_get(checkpoint, "seq"), "prev", json_object_get(checkpoint, "prev"),
			"first_seq", json_object_get(checkpoint, "first_seq"), "last_seq",
			json_object_get(checkpoint, "last_seq"), "from", json_object_get(checkpoint, "from"), "to",
			json_object_get(checkpoint, "to"), "mac", json_object_get(checkpoint, "mac"));
	if (r == MCX_OK && !json_is_boolean(valid = json_object_get(res, "valid"))) {
		err_fill(err_out, MCX_ERR_PROTOCOL, "audit.check_checkpoint",
			 "audit.check_checkpoint: the result has no \"valid\"");
		r = MCX_ERR_PROTOCOL;
	}
	if (r == MCX_OK && valid_out != NULL)
		*valid_out = json_is_true(valid);
	json_decref(res);
	return r;
}

int mcxvault_audit_rotate(struct mcxvault *v, json_t **result_out, struct mcxvault_error *err_out)
{
	return mcxvault_call(v, "audit.rotate", NULL, result_out, err_out);
}

int mcxvault_metrics(struct mcxvault *v, char **text_out, struct mcxvault_error *err_out)
{
	json_t *res = NULL;
	int r = mcxvault_call(v, "metrics", NULL, &res, err_out);

	return finish(r, "metrics", res, "text", text_out, NULL, err_out);
}
