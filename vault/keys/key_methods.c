/*
 * domain.* and key.* methods (docs/protocol.md).
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdlib.h>
#include <string.h>

#include "mcx/util.h"
#include "vault/daemon/log.h"
#include "vault/keys/keystore.h"
#include "vault/kms/kms.h"
#include "vault/rpc/methods.h"

/* The key purposes that key.rotate / key.retire accept in this version. */
static int purpose_valid(const char *purpose)
{
	return keystore_purpose_has_key_pair(purpose) || strcmp(purpose, KEYSTORE_PURPOSE_KMS) == 0;
}

/* The static name of a valid purpose: the audit record keeps the pointer
 * beyond the request's parameters. */
static const char *purpose_name(const char *purpose)
{
	static const char *const names[] = { KEYSTORE_PURPOSE_SIGN, KEYSTORE_PURPOSE_CERT, KEYSTORE_PURPOSE_TOKEN,
		                             KEYSTORE_PURPOSE_KMS };

	for (size_t i = 0; i < MCX_ARRAY_SIZE(names); i++)
		if (strcmp(purpose, names[i]) == 0)
			return names[i];
	return KEYSTORE_PURPOSE_SIGN;
}

/* What domain.init creates, in this order: "cert" before the KMS generation,
 * whose certificate it signs.  Each step is one crash-safe key store change
 * that answers MCX_ERR_EXISTS once done, so a domain.init killed half way is
 * completed by the next domain.init (or, for cert and token, by start-up's
 * upgrade). */
static const char *const init_purposes[] = { KEYSTORE_PURPOSE_SIGN, KEYSTORE_PURPOSE_CERT, KEYSTORE_PURPOSE_TOKEN };

static json_t *key_json(const struct keystore_key *key)
{
	char created[21], destroy_at[21];
	json_t *item;

	mcx_time_format(key->created, created);
	item = json_pack("{s:s, s:i, s:s, s:s, s:s}", "purpose", key->purpose, "version", (json_int_t)key->version,
	                 "state", keystore_state_name(key->state), "created", created, "kid", key->kid);
	if (item != NULL && key->destroy_at > 0) {
		mcx_time_format(key->destroy_at, destroy_at);
		if (json_object_set_new(item, "destroy_at", json_string(destroy_at)) != 0) {
			json_decref(item);
			item = NULL;
		}
	}
	return item;
}

/* The keys group (seconds, 0: off), so that clients such as vaultctl health
 * judge key and certificate ages by the vault's own limits. */
static json_t *hygiene_json(const struct vault_config *config)
{
	return json_pack("{s:I, s:I, s:I}", "destroy_delay", (json_int_t)config->keys_destroy_delay, "warn_age",
	                 (json_int_t)config->keys_warn_age, "cert_warn", (json_int_t)config->keys_cert_warn);
}

static int keys_json(struct rpc_call *call, const char *domain, json_t **out)
{
	int r = MCX_ERR_INTERNAL;
	struct keystore_key *keys = NULL;
	size_t count = 0;
	json_t *array = NULL, *item;

	MCX_GUARD(keystore_list(call->vault->keystore, domain, NULL, &keys, &count));
	MCX_ENSURE_ALLOC(array = json_array());
	for (size_t i = 0; i < count; i++) {
		MCX_ENSURE_ALLOC(item = key_json(&keys[i]));
		MCX_ENSURE(json_array_append_new(array, item) == 0, MCX_ERR_ALLOC);
	}
	*out = array;
	array = NULL;
	r = MCX_OK;
out:
	json_decref(array);
	free(keys);
	return r;
}

static int domain_json(struct rpc_call *call, const struct vault_domain_config *domain, json_t **out)
{
	int r = MCX_ERR_INTERNAL;
	json_t *keys = NULL;

	MCX_GUARD(keys_json(call, domain->name, &keys));
	MCX_ENSURE_ALLOC(*out = json_pack("{s:s, s:s, s:b, s:o}", "domain", domain->name, "kms_uri",
	                                  domain->kms_uri, "initialized", json_array_size(keys) > 0, "keys", keys));
	keys = NULL;
	r = MCX_OK;
out:
	json_decref(keys);
	return r;
}

int method_domain_init(struct rpc_call *call, json_t *params, json_t **result)
{
	int r = MCX_ERR_INTERNAL, made = 0;
	struct keystore_key created;

	for (size_t i = 0; i < MCX_ARRAY_SIZE(init_purposes); i++) {
		/* test seam: the format before key purposes had only "sign" */
		if (keystore_legacy_seam() && i > 0)
			break;
		r = keystore_domain_init(call->vault->keystore, call->domain, init_purposes[i], &created);
		if (r == MCX_OK)
			made++;
		else if (r != MCX_ERR_EXISTS)
			goto out;
		keystore_crash_point("init-after-purpose");
	}
	r = kms_generation_create(call->vault->kms, call->domain_config, KEYSTORE_ADD_FIRST, &created, NULL);
	if (r == MCX_OK)
		made++;
	else if (r != MCX_ERR_EXISTS)
		goto out;
	if (made == 0)
		MCX_BAIL(rpc_fail(call, MCX_ERR_EXISTS, "domain '%s' is already initialised", call->domain));
	vault_info("domain.init %s by uid %u: sign, cert and token keys and KMS master secrets in the token", call->domain,
	           (unsigned)call->caller->uid);
	MCX_GUARD(domain_json(call, call->domain_config, result));
out:
	return r;
}

int method_domain_list(struct rpc_call *call, json_t *params, json_t **result)
{
	int r = MCX_ERR_INTERNAL;
	json_t *array = NULL, *item;
	struct keystore_key active;

	MCX_ENSURE_ALLOC(array = json_array());
	for (size_t i = 0; i < call->config->domain_count; i++) {
		const struct vault_domain_config *d = &call->config->domains[i];
		int initialized;
		if (vault_access_roles(call->config, call->caller, d->name) == 0)
			continue;   /* outside the caller's scope */
		initialized = keystore_get(call->vault->keystore, d->name, "sign", 0, &active) == MCX_OK;
		MCX_ENSURE_ALLOC(item = json_pack("{s:s, s:s, s:b, s:i}", "domain", d->name, "kms_uri", d->kms_uri,
		                                  "initialized", initialized, "active_sign_version",
		                                  initialized ? (json_int_t)active.version : 0));
		MCX_ENSURE(json_array_append_new(array, item) == 0, MCX_ERR_ALLOC);
	}
	MCX_ENSURE_ALLOC(*result = json_pack("{s:o}", "domains", array));
	array = NULL;
	r = MCX_OK;
out:
	json_decref(array);
	return r;
}

int method_domain_show(struct rpc_call *call, json_t *params, json_t **result)
{
	return domain_json(call, call->domain_config, result);
}

int method_key_list(struct rpc_call *call, json_t *params, json_t **result)
{
	int r = MCX_ERR_INTERNAL;
	json_t *keys = NULL;

	MCX_GUARD(keys_json(call, call->domain, &keys));
	MCX_ENSURE_ALLOC(*result = json_pack("{s:s, s:o, s:o}", "domain", call->domain, "keys", keys, "hygiene",
	                                     hygiene_json(call->config)));
	keys = NULL;
	r = MCX_OK;
out:
	json_decref(keys);
	return r;
}

int method_key_rotate(struct rpc_call *call, json_t *params, json_t **result)
{
	int r = MCX_ERR_INTERNAL;
	const char *purpose = NULL;
	struct keystore_key created;
	uint32_t previous = 0;
	char when[21];

	MCX_GUARD(rpc_param_string(call, params, "purpose", 1, &purpose));
	MCX_ENSURE(purpose_valid(purpose),
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "unknown key purpose '%.32s' (sign, cert, token, kms)",
	                    purpose));
	if (strcmp(purpose, "kms") == 0)
		r = kms_generation_create(call->vault->kms, call->domain_config, KEYSTORE_ADD_ROTATE, &created,
		                          &previous);
	else
		r = keystore_rotate(call->vault->keystore, call->domain, purpose, &created, &previous);
	if (r == MCX_ERR_NOT_FOUND)
		return rpc_fail(call, r, "domain '%s' has no %s key: run domain.init first", call->domain, purpose);
	MCX_GUARD(r);
	rpc_audit_key(call, purpose_name(purpose), created.version);
	mcx_time_format(created.created, when);
	MCX_ENSURE_ALLOC(*result = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:{s:i, s:s}}", "domain", call->domain,
	                                     "purpose", purpose, "version", (json_int_t)created.version, "state",
	                                     "active", "kid", created.kid, "created", when, "previous", "version",
	                                     (json_int_t)previous, "state", "verify-only"));
	r = MCX_OK;
out:
	return r;
}

/* The purpose and version of key.retire and key.cancel_retire; key receives
 * the version as it is now. */
static int retire_params(struct rpc_call *call, json_t *params, const char **purpose, uint32_t *version,
                         struct keystore_key *key)
{
	int r = MCX_ERR_INTERNAL;
	uint64_t v = 0;

	MCX_GUARD(rpc_param_string(call, params, "purpose", 1, purpose));
	MCX_ENSURE(purpose_valid(*purpose),
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "unknown key purpose '%.32s' (sign, cert, token, kms)",
	                    *purpose));
	MCX_GUARD(rpc_param_uint(call, params, "version", 1, UINT32_MAX, &v, NULL));
	MCX_ENSURE(v > 0, rpc_fail(call, MCX_ERR_INVALID_PARAMS, "'version' starts at 1"));
	*version = (uint32_t)v;
	MCX_ENSURE(keystore_get(call->vault->keystore, call->domain, *purpose, *version, key) == MCX_OK,
	           rpc_fail(call, MCX_ERR_NOT_FOUND, "domain '%s' has no %s key version %llu", call->domain, *purpose,
	                    (unsigned long long)v));
	rpc_audit_key(call, purpose_name(*purpose), *version);
	r = MCX_OK;
out:
	return r;
}

/* key.retire: destroys at once when keys.destroy_delay is 0 or "now" is
 * true; otherwise schedules the destruction (the version stays verify-only,
 * vault/keys/hygiene.c carries it out when due).  A version already
 * scheduled keeps its date: a retry must not postpone a destruction. */
int method_key_retire(struct rpc_call *call, json_t *params, json_t **result)
{
	int r = MCX_ERR_INTERNAL;
	const char *purpose = NULL;
	uint32_t version = 0;
	struct keystore_key key;
	json_t *now = json_object_get(params, "now");
	char when[21];

	MCX_ENSURE(now == NULL || json_is_boolean(now),
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "'now' must be true or false"));
	MCX_GUARD(retire_params(call, params, &purpose, &version, &key));
	if (call->config->keys_destroy_delay > 0 && !json_is_true(now))
		r = keystore_schedule_retire(call->vault->keystore, call->domain, purpose, version,
		                             mcx_time_now() + call->config->keys_destroy_delay, &key);
	else
		r = keystore_retire(call->vault->keystore, call->domain, purpose, version);
	if (r == MCX_ERR_KEY_STATE)
		return rpc_fail(call, r, "version %lu is %s: only a verify-only version can be retired",
		                (unsigned long)version, keystore_state_name(key.state));
	MCX_GUARD(r);
	if (call->config->keys_destroy_delay > 0 && !json_is_true(now)) {
		mcx_time_format(key.destroy_at, when);
		MCX_ENSURE_ALLOC(*result = json_pack("{s:s, s:s, s:i, s:s, s:s}", "domain", call->domain, "purpose",
		                                     purpose, "version", (json_int_t)version, "state", "verify-only",
		                                     "destroy_at", when));
	} else {
		MCX_ENSURE_ALLOC(*result = json_pack("{s:s, s:s, s:i, s:s}", "domain", call->domain, "purpose", purpose,
		                                     "version", (json_int_t)version, "state", "retired"));
	}
	r = MCX_OK;
out:
	return r;
}

int method_key_cancel_retire(struct rpc_call *call, json_t *params, json_t **result)
{
	int r = MCX_ERR_INTERNAL;
	const char *purpose = NULL;
	uint32_t version = 0;
	struct keystore_key key;

	MCX_GUARD(retire_params(call, params, &purpose, &version, &key));
	r = keystore_cancel_retire(call->vault->keystore, call->domain, purpose, version, &key);
	if (r == MCX_ERR_KEY_STATE)
		return rpc_fail(call, r, "version %lu is %s%s: no destruction is scheduled", (unsigned long)version,
		                keystore_state_name(key.state),
		                key.state == KEYSTORE_STATE_VERIFY_ONLY ? " without a schedule" : "");
	MCX_GUARD(r);
	vault_info("key.cancel_retire %s/%s/%lu by uid %u", call->domain, purpose, (unsigned long)version,
	           (unsigned)call->caller->uid);
	MCX_ENSURE_ALLOC(*result = json_pack("{s:s, s:s, s:i, s:s}", "domain", call->domain, "purpose", purpose,
	                                     "version", (json_int_t)version, "state", "verify-only"));
	r = MCX_OK;
out:
	return r;
}

int method_domain_upgrade(struct rpc_call *call, json_t *params, json_t **result)
{
	int r = MCX_ERR_INTERNAL;
	struct kms_upgrade done;
	json_t *keys = NULL;

	r = kms_domain_upgrade(call->vault->kms, call->domain, &done);
	MCX_GUARD(r);
	vault_info("domain.upgrade %s by uid %u: %u trust keys created, %u KMS certificates re-signed", call->domain,
	           (unsigned)call->caller->uid, done.keys_created, done.certificates_resigned);
	MCX_GUARD(keys_json(call, call->domain, &keys));
	MCX_ENSURE_ALLOC(*result = json_pack("{s:s, s:b, s:I, s:I, s:o}", "domain", call->domain, "changed",
	                                     done.keys_created + done.certificates_resigned > 0, "keys_created",
	                                     (json_int_t)done.keys_created, "certificates_resigned",
	                                     (json_int_t)done.certificates_resigned, "keys", keys));
	keys = NULL;
	r = MCX_OK;
out:
	json_decref(keys);
	return r;
}
