/*
 * gmk.* and server_key.* methods (docs/protocol.md, "GMS"): lifecycle of
 * Group Master Keys and server-controlled signalling keys (CSK, MKFC,
 * MSCCK), and their distribution as MIKEY-SAKKE I_MESSAGEs.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcx/mikey.h"
#include "mcx/util.h"
#include "pkcs11/hsm.h"
#include "vault/daemon/log.h"
#include "vault/gms/gms_internal.h"
#include "vault/kms/external.h"
#include "vault/kms/kms.h"
#include "vault/rpc/methods.h"

/* What the two families of methods differ in. */
struct gms_kind {
	const char *prefix;       /* "gmk" / "server_key" */
	const char *owner_param;  /* "group" / "server_uri" */
	const char *id_name;      /* "gmk_id" / "key_id" */
};
static const struct gms_kind kind_gmk = { "gmk", "group", "gmk_id" };
static const struct gms_kind kind_server = { "server_key", "server_uri", "key_id" };

static const struct {
	const char *name;
	unsigned purpose;
} server_purposes[] = {
	{ "csk", GMS_PURPOSE_CSK },
	{ "mkfc", GMS_PURPOSE_MKFC },
	{ "mscck", GMS_PURPOSE_MSCCK },
};

static const char *purpose_name(unsigned purpose)
{
	for (size_t i = 0; i < MCX_ARRAY_SIZE(server_purposes); i++)
		if (server_purposes[i].purpose == purpose)
			return server_purposes[i].name;
	return purpose == GMS_PURPOSE_GMK ? "gmk" : "unknown";
}

static json_t *json_time(int64_t t)
{
	char text[21];

	mcx_time_format(t, text);
	return json_string(text);
}

static json_t *json_key_id(uint32_t id)
{
	char text[9];

	snprintf(text, sizeof(text), "%08" PRIx32, id);
	return json_string(text);
}

/* The service with its store, or a sentence saying why not. */
static int gms_ready(struct rpc_call *call, struct mcx_store **store)
{
	if (call->vault->gms == NULL || gms_service_store(call->vault->gms) == NULL)
		return rpc_fail(call, MCX_ERR_POLICY_DENIED,
		                "gms.store is not set in the vault configuration: GMS methods are off");
	*store = gms_service_store(call->vault->gms);
	/* superseded keys past the domain's overlap are destroyed before anything else */
	return gms_store_expire(*store, call->domain, mcx_time_now() - call->domain_config->gmk_overlap);
}

static int uri_param(struct rpc_call *call, json_t *params, const char *name, const char **out)
{
	int r = MCX_ERR_INTERNAL;

	MCX_GUARD(rpc_param_string(call, params, name, 1, out));
	MCX_ENSURE(strlen(*out) <= GMS_URI_MAX,
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "'%s' is longer than %d octets", name, GMS_URI_MAX));
out:
	return r;
}

/* The owner and purpose a call names: group (purpose 0) or server_uri + purpose. */
static int owner_params(struct rpc_call *call, json_t *params, const struct gms_kind *kind, const char **owner,
                        unsigned *purpose)
{
	int r = MCX_ERR_INTERNAL;
	const char *name = NULL;

	MCX_GUARD(uri_param(call, params, kind->owner_param, owner));
	*purpose = GMS_PURPOSE_GMK;
	if (kind == &kind_server) {
		MCX_GUARD(rpc_param_string(call, params, "purpose", 1, &name));
		r = MCX_ERR_INVALID_PARAMS;
		for (size_t i = 0; i < MCX_ARRAY_SIZE(server_purposes); i++)
			if (strcmp(name, server_purposes[i].name) == 0) {
				*purpose = server_purposes[i].purpose;
				r = MCX_OK;
			}
		MCX_ENSURE(r == MCX_OK, rpc_fail(call, MCX_ERR_INVALID_PARAMS,
		                                 "'purpose' must be \"mkfc\", \"mscck\" or \"csk\", not '%.32s'", name));
	}
	r = MCX_OK;
out:
	return r;
}

/* An optional key id: 8 hex digits carrying the purpose tag. */
static int key_id_param(struct rpc_call *call, json_t *params, const struct gms_kind *kind, unsigned purpose,
                        uint32_t *key_id)
{
	int r = MCX_ERR_INTERNAL;
	const char *text = NULL;
	char *end = NULL;
	unsigned long v;

	*key_id = 0;
	MCX_GUARD(rpc_param_string(call, params, kind->id_name, 0, &text));
	if (text == NULL)
		goto out;
	v = strtoul(text, &end, 16);
	MCX_ENSURE(strlen(text) == 8 && end == text + 8 && text[0] != '+' && text[0] != '-' &&
	                   MCX_MIKEY_PURPOSE(v) == purpose && (v & 0x0fffffffu) != 0,
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS,
	                    "'%s' must be 8 hex digits with purpose tag %u in the 4 most significant bits",
	                    kind->id_name, purpose));
	*key_id = (uint32_t)v;
out:
	return r;
}

static int owner_not_found(struct rpc_call *call, const struct gms_kind *kind, const char *owner, unsigned purpose)
{
	if (kind == &kind_gmk)
		return rpc_fail(call, MCX_ERR_NOT_FOUND, "group '%.200s' has no GMK in domain '%s'", owner,
		                call->domain);
	return rpc_fail(call, MCX_ERR_NOT_FOUND, "server '%.200s' has no %s key in domain '%s'", owner,
	                purpose_name(purpose), call->domain);
}

/* --- create / rekey --------------------------------------------------------- */

struct make_ctx {
	struct gms_service *gms;
	const char *domain, *owner;
	unsigned purpose;
};

/* gms_store_make_fn: a key and its id from the token RNG, sealed under the KEK. */
static int make_key(void *context, uint32_t version, uint32_t *key_id, struct mcx_buf *sealed)
{
	int r = MCX_ERR_INTERNAL;
	struct make_ctx *ctx = context;
	struct mcx_buf *key = NULL;
	uint8_t *k = NULL;
	uint32_t bits = 0;
	char aad[GMS_URI_MAX + 256];

	MCX_ENSURE_ALLOC(key = mcx_buf_new_secret(GMS_KEY_LEN));
	MCX_GUARD(mcx_buf_reserve(key, GMS_KEY_LEN, &k));
	MCX_GUARD(hsm_random(gms_service_hsm(ctx->gms), k, GMS_KEY_LEN));
	/* TS 33.180: purpose tag in the 4 MSB, 28 random bits (never all zero) */
	do
		MCX_GUARD(hsm_random(gms_service_hsm(ctx->gms), &bits, sizeof(bits)));
	while ((bits & 0x0fffffffu) == 0);
	*key_id = ((uint32_t)ctx->purpose << 28) | (bits & 0x0fffffffu);
	gms_key_aad(aad, sizeof(aad), ctx->domain, ctx->purpose, version, *key_id, ctx->owner);
	MCX_GUARD(kms_kek_seal(gms_service_kms(ctx->gms), aad, k, GMS_KEY_LEN, sealed));
out:
	mcx_buf_free(key);
	return r;
}

static json_t *key_json(const struct gms_kind *kind, const struct gms_key *k, int64_t overlap)
{
	json_t *o = json_pack("{s:o, s:I, s:s, s:o}", kind->id_name, json_key_id(k->key_id), "version",
	                      (json_int_t)k->version, "state", gms_state_name(k->state), "created", json_time(k->created));

	if (o == NULL)
		return NULL;
	if (k->purpose != GMS_PURPOSE_GMK)
		json_object_set_new(o, "purpose", json_string(purpose_name(k->purpose)));
	if (k->superseded != 0)
		json_object_set_new(o, "superseded", json_time(k->superseded));
	if (k->state == GMS_STATE_PREVIOUS)
		json_object_set_new(o, "distributable_until", json_time(k->superseded + overlap));
	if (k->destroyed != 0)
		json_object_set_new(o, "destroyed", json_time(k->destroyed));
	return o;
}

static int create_or_rekey(struct rpc_call *call, json_t *params, const struct gms_kind *kind, int rekey,
                           json_t **result)
{
	int r = MCX_ERR_INTERNAL;
	struct mcx_store *store = NULL;
	const char *owner = NULL;
	unsigned purpose = 0;
	struct gms_key created;
	struct make_ctx ctx;
	struct kms_generation g;

	MCX_GUARD(gms_ready(call, &store));
	MCX_GUARD(owner_params(call, params, kind, &owner, &purpose));
	rpc_audit_subject(call, owner);
	/* the KEK exists once the KMS service runs; a domain without master
	 * secrets could never distribute, so refuse early */
	r = kms_generation_get(call->vault->kms, call->domain, 0, &g);
	if (r == MCX_ERR_NOT_FOUND)
		MCX_BAIL(rpc_fail(call, r, "domain '%s' is not initialised: run domain.init", call->domain));
	MCX_GUARD(r);
	ctx.gms = call->vault->gms;
	ctx.domain = call->domain;
	ctx.owner = owner;
	ctx.purpose = purpose;
	r = gms_store_add(store, call->domain, owner, purpose, rekey, mcx_time_now(), make_key, &ctx, &created);
	/* a rekey that meets "exists" lost a race: another request (on another
	 * vault sharing the store) rekeyed the same owner at the same time */
	if (r == MCX_ERR_EXISTS && rekey)
		MCX_BAIL(rpc_fail(call, r, "%s '%.200s' of domain '%s' was rekeyed at the same time by another request: "
		                  "nothing changed here (see %s.show)", kind->owner_param, owner, call->domain,
		                  kind->prefix));
	if (r == MCX_ERR_EXISTS)
		MCX_BAIL(kind == &kind_gmk
		                 ? rpc_fail(call, r, "group '%.200s' already exists in domain '%s': use gmk.rekey", owner,
		                            call->domain)
		                 : rpc_fail(call, r, "server '%.200s' already has a %s key in domain '%s': use server_key.rekey",
		                            owner, purpose_name(purpose), call->domain));
	if (r == MCX_ERR_NOT_FOUND)
		MCX_BAIL(owner_not_found(call, kind, owner, purpose));
	MCX_GUARD(r);
	rpc_audit_key(call, purpose_name(purpose), created.version);
	MCX_ENSURE_ALLOC(*result = key_json(kind, &created, call->domain_config->gmk_overlap));
	json_object_set_new(*result, kind->owner_param, json_string(owner));
	vault_info("%s.%s %s: %s '%s' version %u, id %08" PRIx32 " (uid %u)", kind->prefix, rekey ? "rekey" : "create",
	           call->domain, kind->owner_param, owner, (unsigned)created.version, created.key_id,
	           (unsigned)call->caller->uid);
	r = MCX_OK;
out:
	return r;
}

int method_gmk_create(struct rpc_call *call, json_t *params, json_t **result)
{
	return create_or_rekey(call, params, &kind_gmk, 0, result);
}

int method_gmk_rekey(struct rpc_call *call, json_t *params, json_t **result)
{
	return create_or_rekey(call, params, &kind_gmk, 1, result);
}

int method_server_key_create(struct rpc_call *call, json_t *params, json_t **result)
{
	return create_or_rekey(call, params, &kind_server, 0, result);
}

int method_server_key_rekey(struct rpc_call *call, json_t *params, json_t **result)
{
	return create_or_rekey(call, params, &kind_server, 1, result);
}

/* --- revoke ------------------------------------------------------------------ */

static int revoke(struct rpc_call *call, json_t *params, const struct gms_kind *kind, json_t **result)
{
	int r = MCX_ERR_INTERNAL;
	struct mcx_store *store = NULL;
	const char *owner = NULL;
	unsigned purpose = 0, count = 0;
	uint32_t key_id = 0;

	MCX_GUARD(gms_ready(call, &store));
	MCX_GUARD(owner_params(call, params, kind, &owner, &purpose));
	MCX_GUARD(key_id_param(call, params, kind, purpose, &key_id));
	rpc_audit_subject(call, owner);
	rpc_audit_key(call, purpose_name(purpose), 0);
	r = gms_store_revoke(store, call->domain, owner, purpose, key_id, mcx_time_now(), &count);
	if (r == MCX_ERR_NOT_FOUND && key_id != 0)
		MCX_BAIL(rpc_fail(call, r, "%s '%.200s' has no key %08" PRIx32, kind->owner_param, owner, key_id));
	if (r == MCX_ERR_NOT_FOUND)
		MCX_BAIL(owner_not_found(call, kind, owner, purpose));
	MCX_GUARD(r);
	MCX_ENSURE_ALLOC(*result = json_pack("{s:s, s:I}", kind->owner_param, owner, "revoked", (json_int_t)count));
	if (key_id != 0)
		json_object_set_new(*result, kind->id_name, json_key_id(key_id));
	if (kind == &kind_server)
		json_object_set_new(*result, "purpose", json_string(purpose_name(purpose)));
	vault_info("%s.revoke %s: %s '%s' %s%s: %u key(s) destroyed (uid %u)", kind->prefix, call->domain,
	           kind->owner_param, owner, key_id != 0 ? "one key" : "every key", "", count,
	           (unsigned)call->caller->uid);
	r = MCX_OK;
out:
	return r;
}

int method_gmk_revoke(struct rpc_call *call, json_t *params, json_t **result)
{
	return revoke(call, params, &kind_gmk, result);
}

int method_server_key_revoke(struct rpc_call *call, json_t *params, json_t **result)
{
	return revoke(call, params, &kind_server, result);
}

/* --- list / show ------------------------------------------------------------- */

struct list_ctx {
	const struct gms_kind *kind;
	int64_t overlap;
	json_t *owners;          /* array of {owner, [purpose], versions, current?, keys?} */
	json_t *last;            /* the entry of the last owner seen */
	char *last_owner;
	unsigned last_purpose;
	int with_keys;
};

static int list_row(void *context, const struct gms_key *k)
{
	int r = MCX_ERR_INTERNAL;
	struct list_ctx *ctx = context;
	json_t *keys, *one = NULL;

	if (ctx->last == NULL || strcmp(ctx->last_owner, k->owner) != 0 || ctx->last_purpose != k->purpose) {
		free(ctx->last_owner);
		MCX_ENSURE_ALLOC(ctx->last_owner = strdup(k->owner));
		ctx->last_purpose = k->purpose;
		MCX_ENSURE_ALLOC(ctx->last = json_pack("{s:s, s:I, s:n}", ctx->kind->owner_param, k->owner, "versions",
		                                       (json_int_t)0, "current"));
		if (ctx->kind == &kind_server)
			json_object_set_new(ctx->last, "purpose", json_string(purpose_name(k->purpose)));
		if (ctx->with_keys)
			json_object_set_new(ctx->last, "keys", json_array());
		MCX_ENSURE(json_array_append_new(ctx->owners, ctx->last) == 0, MCX_ERR_ALLOC);
	}
	json_object_set_new(ctx->last, "versions", json_integer((json_int_t)k->version));
	MCX_ENSURE_ALLOC(one = key_json(ctx->kind, k, ctx->overlap));
	if (k->state == GMS_STATE_CURRENT)
		json_object_set(ctx->last, "current", one);
	if ((keys = json_object_get(ctx->last, "keys")) != NULL) {
		MCX_ENSURE(json_array_append(keys, one) == 0, MCX_ERR_ALLOC);
	}
	r = MCX_OK;
out:
	json_decref(one);
	return r;
}

static int list_or_show(struct rpc_call *call, json_t *params, const struct gms_kind *kind, int show,
                        json_t **result)
{
	int r = MCX_ERR_INTERNAL;
	struct mcx_store *store = NULL;
	const char *owner = NULL, *name = NULL;
	const char *after = NULL;
	unsigned purpose = 0, limit = 0;
	int purpose_filter = -1, more = 0;
	struct list_ctx ctx;

	memset(&ctx, 0, sizeof(ctx));
	ctx.kind = kind;
	ctx.overlap = call->domain_config->gmk_overlap;
	ctx.with_keys = show;
	MCX_ENSURE_ALLOC(ctx.owners = json_array());
	MCX_GUARD(gms_ready(call, &store));
	if (show) {
		MCX_GUARD(uri_param(call, params, kind->owner_param, &owner));
		if (kind == &kind_server) {
			MCX_GUARD(rpc_param_string(call, params, "purpose", 0, &name));
			if (name != NULL) {
				MCX_GUARD(owner_params(call, params, kind, &owner, &purpose));
				purpose_filter = (int)purpose;
			}
		}
	}
	if (!show && kind == &kind_gmk) {
		/* a page of whole groups: thousands of groups must not make one
		 * answer (and one store read) of unbounded size */
		uint64_t want = GMS_LIST_LIMIT;
		int present = 0;
		MCX_GUARD(rpc_param_uint(call, params, "limit", 0, GMS_LIST_LIMIT, &want, &present));
		if (!present)
			want = GMS_LIST_LIMIT;
		MCX_ENSURE(want >= 1,
		           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "'limit' must be 1 to %u", GMS_LIST_LIMIT));
		limit = (unsigned)want;
		MCX_GUARD(rpc_param_string(call, params, "after", 0, &after));
	}
	MCX_GUARD(gms_store_list(store, call->domain, kind == &kind_server, owner, purpose_filter, after, limit,
	                         list_row, &ctx, &more));
	if (show) {
		MCX_ENSURE(json_array_size(ctx.owners) > 0, owner_not_found(call, kind, owner, purpose));
		if (kind == &kind_gmk) {
			MCX_ENSURE_ALLOC(*result = json_deep_copy(json_array_get(ctx.owners, 0)));
			json_object_set_new(*result, "domain", json_string(call->domain));
		} else {
			MCX_ENSURE_ALLOC(*result = json_pack("{s:s, s:s, s:O}", "domain", call->domain, "server_uri", owner,
			                                     "keys", ctx.owners));
		}
	} else {
		MCX_ENSURE_ALLOC(*result = json_pack("{s:s, s:O}", "domain", call->domain,
		                                     kind == &kind_gmk ? "groups" : "servers", ctx.owners));
		/* the cursor is the last group of the page: the next page starts after it */
		if (more && ctx.last_owner != NULL)
			json_object_set_new(*result, "next", json_string(ctx.last_owner));
	}
	r = MCX_OK;
out:
	json_decref(ctx.owners);
	free(ctx.last_owner);
	return r;
}

int method_gmk_list(struct rpc_call *call, json_t *params, json_t **result)
{
	return list_or_show(call, params, &kind_gmk, 0, result);
}

int method_gmk_show(struct rpc_call *call, json_t *params, json_t **result)
{
	return list_or_show(call, params, &kind_gmk, 1, result);
}

int method_server_key_list(struct rpc_call *call, json_t *params, json_t **result)
{
	return list_or_show(call, params, &kind_server, 0, result);
}

int method_server_key_show(struct rpc_call *call, json_t *params, json_t **result)
{
	return list_or_show(call, params, &kind_server, 1, result);
}

/* --- distribute -------------------------------------------------------------- */

/* A member KMS the domain does not trust: logged, and named in the call's
 * audit record (rpc_audit_external, as every external KMS involved). */
static void untrusted_member_kms(struct rpc_call *call, const char *method, const char *kms_uri, size_t members)
{
	vault_warning("%s %s: member KMS '%.200s' is not trusted by the domain: %zu member(s) refused (uid %u)",
	              method, call->domain, kms_uri, members, (unsigned)call->caller->uid);
}

/* Index of kms_uri in the request's KMS table (0 = home), adding it if new. */
static int member_kms_index(struct rpc_call *call, struct gms_distribution *d, const char *kms_uri, size_t cap,
                            int *index)
{
	if (kms_uri == NULL || strcmp(kms_uri, d->kmss[0].kms_uri) == 0) {
		*index = 0;
		return MCX_OK;
	}
	for (size_t i = 1; i < d->kms_count; i++)
		if (strcmp(d->kmss[i].kms_uri, kms_uri) == 0) {
			*index = (int)i;
			return MCX_OK;
		}
	if (d->kms_count >= cap)
		return rpc_fail(call, MCX_ERR_INVALID_PARAMS, "more than %zu distinct member KMSs in one request",
		                cap - 1);
	if (strlen(kms_uri) > GMS_KMS_URI_MAX)
		return rpc_fail(call, MCX_ERR_INVALID_PARAMS, "a member 'kms_uri' is longer than %d octets",
		                GMS_KMS_URI_MAX);
	snprintf(d->kmss[d->kms_count].kms_uri, sizeof(d->kmss[0].kms_uri), "%s", kms_uri);
	d->kmss[d->kms_count].external = 1;
	*index = (int)d->kms_count++;
	return MCX_OK;
}

/* Resolves an external member KMS: trusted, valid at t, its key period. */
static void member_kms_resolve(struct rpc_call *call, const char *method, struct gms_member_kms *k, int64_t t)
{
	struct kms_external_entry e;
	int r;

	/* the trust-store lookup refuses a revoked certificate, or one not valid at t,
	 * with its reason: that KMS's members fail, the others are served */
	r = kms_external_find_at(kms_external_store(call->vault->kms), call->domain, k->kms_uri, t, &e, k->message,
	                         sizeof(k->message));
	if (r == MCX_ERR_NOT_FOUND) {
		k->err = MCX_ERR_UNTRUSTED;
	} else if (r == MCX_ERR_REVOKED || r == MCX_ERR_EXPIRED) {
		k->err = r;
	} else if (r != MCX_OK) {
		k->err = r;
		snprintf(k->message, sizeof(k->message), "member KMS '%.120s' could not be read", k->kms_uri);
	} else if (e.user_key_period <= 0 || e.user_key_offset < 0 ||
	           mcx_uid_key_period(t, (uint64_t)e.user_key_period, (uint64_t)e.user_key_offset, &k->period_no, NULL,
	                              NULL) != MCX_OK) {
		k->err = MCX_ERR_INVALID_PARAMS;
		snprintf(k->message, sizeof(k->message), "'time' lies before the key period offset of KMS '%.120s'",
		         k->kms_uri);
	} else {
		memcpy(k->z, e.z_public, sizeof(k->z));
		k->period = (uint64_t)e.user_key_period;
		k->offset = (uint64_t)e.user_key_offset;
	}
	free(e.xml);
	(void)method;
}

/* Parses "members" into d->members and the KMS table. */
static int members_param(struct rpc_call *call, json_t *params, struct gms_distribution *d, size_t kms_cap)
{
	int r = MCX_ERR_INTERNAL;
	json_t *members = json_object_get(params, "members"), *m, *uri, *kms_uri;
	const char *key;
	json_t *value;
	size_t i;

	MCX_ENSURE(members != NULL, rpc_fail(call, MCX_ERR_INVALID_PARAMS, "missing parameter 'members'"));
	MCX_ENSURE(json_is_array(members),
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "parameter 'members' must be an array of {uri, kms_uri?}"));
	MCX_ENSURE(json_array_size(members) >= 1 && json_array_size(members) <= GMS_MEMBERS_MAX,
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "'members' must list 1 to %d members, not %zu",
	                    GMS_MEMBERS_MAX, json_array_size(members)));
	MCX_ENSURE_ALLOC(d->members = calloc(json_array_size(members), sizeof(*d->members)));
	json_array_foreach(members, i, m) {
		MCX_ENSURE(json_is_object(m),
		           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "members[%zu] must be an object {uri, kms_uri?}", i));
		json_object_foreach(m, key, value) {
			(void)value;
			MCX_ENSURE(strcmp(key, "uri") == 0 || strcmp(key, "kms_uri") == 0,
			           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "unknown member '%.64s' in members[%zu]", key, i));
		}
		uri = json_object_get(m, "uri");
		MCX_ENSURE(json_is_string(uri) && json_string_length(uri) > 0 && json_string_length(uri) <= GMS_URI_MAX &&
		                   strlen(json_string_value(uri)) == json_string_length(uri),
		           rpc_fail(call, MCX_ERR_INVALID_PARAMS,
		                    "members[%zu].uri must be a non-empty string of at most %d octets", i, GMS_URI_MAX));
		kms_uri = json_object_get(m, "kms_uri");
		MCX_ENSURE(kms_uri == NULL || (json_is_string(kms_uri) && json_string_length(kms_uri) > 0 &&
		                               strlen(json_string_value(kms_uri)) == json_string_length(kms_uri)),
		           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "members[%zu].kms_uri must be a non-empty string", i));
		d->members[i].uri = json_string_value(uri);
		d->members[i].uri_len = json_string_length(uri);
		d->members[i].kms_uri_param = kms_uri != NULL ? json_string_value(kms_uri) : NULL;
		MCX_GUARD(member_kms_index(call, d, d->members[i].kms_uri_param, kms_cap, &d->members[i].kms));
		d->count = i + 1;
	}
	r = MCX_OK;
out:
	return r;
}

static void members_free(struct gms_distribution *d)
{
	for (size_t i = 0; d->members != NULL && i < d->count; i++)
		free(d->members[i].i_message);
	free(d->members);
	d->members = NULL;
}

/*
 * TS 33.180 F.1.3 gives each member a 28-bit GUK-ID (the GMK-ID's purpose tag
 * and GMK-ID XOR a salt of its URI), and 7.4.2 derives the member's SRTP
 * master key and salt from it (CSB ID = GUK-ID): two members whose GUK-IDs
 * collide send under the same key and salt.  With n members that happens
 * with probability about n^2 / 2^29 (17 % for 10,000; docs/mikey.md).  The
 * vault cannot choose the salts, but it can say so, and the GMS rekeys the
 * group (a new GMK gives new GUK-IDs).  Only within one request: vaultctl
 * compares across its chunks.  shared_with[i] is the index of another member
 * with member i's GUK-ID, or SIZE_MAX; returns how many members share one.
 */
struct guk_slot {
	uint32_t guk_id;
	size_t index;
};

static int guk_slot_cmp(const void *a, const void *b)
{
	const struct guk_slot *x = a, *y = b;

	if (x->guk_id != y->guk_id)
		return x->guk_id < y->guk_id ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

static size_t guk_id_collisions(const struct gms_distribution *d, size_t *shared_with)
{
	struct guk_slot *slots;
	size_t n = 0, found = 0;

	for (size_t i = 0; i < d->count; i++)
		shared_with[i] = SIZE_MAX;
	if (d->count < 2 || (slots = calloc(d->count, sizeof(*slots))) == NULL)
		return 0;
	for (size_t i = 0; i < d->count; i++)
		if (d->members[i].err == 0)
			slots[n++] = (struct guk_slot){ d->members[i].guk_id, i };
	qsort(slots, n, sizeof(*slots), guk_slot_cmp);
	for (size_t i = 1; i < n; i++) {
		const struct gms_member *a = &d->members[slots[i - 1].index], *b = &d->members[slots[i].index];
		if (slots[i].guk_id != slots[i - 1].guk_id ||
		    (a->uri_len == b->uri_len && memcmp(a->uri, b->uri, a->uri_len) == 0))
			continue;   /* another GUK-ID, or the same member twice */
		found += shared_with[slots[i - 1].index] == SIZE_MAX;
		found += shared_with[slots[i].index] == SIZE_MAX;
		if (shared_with[slots[i - 1].index] == SIZE_MAX)
			shared_with[slots[i - 1].index] = slots[i].index;
		shared_with[slots[i].index] = slots[i - 1].index;
	}
	free(slots);
	return found;
}

static int distribute(struct rpc_call *call, json_t *params, const struct gms_kind *kind, json_t **result)
{
	int r = MCX_ERR_INTERNAL;
	struct gms_service *gms = call->vault->gms;
	struct mcx_store *store = NULL;
	const char *owner = NULL, *sender = NULL, *when = NULL, *ids = NULL;
	enum mcx_mikey_identities identities = (enum mcx_mikey_identities)call->domain_config->mikey_identities;
	unsigned purpose = 0;
	uint32_t key_id = 0;
	int64_t t;
	uint64_t period_no = 0, home_members = 0;
	struct kms_generation g;
	struct gms_distribution d;
	struct gms_key meta;
	struct mcx_buf *sealed = NULL, *key = NULL, *ssk = NULL;
	char aad[GMS_URI_MAX + 256], method[32];
	json_t *list = NULL, *item;
	size_t failed = 0, collisions = 0, *shared_with = NULL;
	uint64_t started = mcx_monotonic_ns();

	memset(&d, 0, sizeof(d));
	snprintf(method, sizeof(method), "%s.distribute", kind->prefix);
	MCX_GUARD(gms_ready(call, &store));
	MCX_GUARD(owner_params(call, params, kind, &owner, &purpose));
	rpc_audit_subject(call, owner);
	if (kind == &kind_gmk)
		MCX_GUARD(uri_param(call, params, "sender_uri", &sender));
	else
		sender = owner;   /* a server key is signed with the server's own identity */
	MCX_GUARD(key_id_param(call, params, kind, purpose, &key_id));
	MCX_GUARD(rpc_param_string(call, params, "time", 0, &when));
	/* which IDRs name sender and member (TS 33.180 E.2 / E.7); default: the domain's mikey_identities */
	MCX_GUARD(rpc_param_string(call, params, "identities", 0, &ids));
	MCX_ENSURE(ids == NULL || mcx_mikey_identities_parse(ids, &identities) == MCX_OK,
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "'identities' must be \"uid\", \"uri\" or \"both\""));
	t = mcx_time_now();
	if (when != NULL)
		MCX_ENSURE(mcx_time_parse(when, &t) == MCX_OK,
		           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "'time' must be RFC 3339 UTC, e.g. 2026-11-23T17:44:00Z"));

	/* the home KMS: the sender's keys, and the default member KMS */
	r = kms_generation_get(call->vault->kms, call->domain, 0, &g);
	if (r == MCX_ERR_NOT_FOUND)
		MCX_BAIL(rpc_fail(call, r, "domain '%s' is not initialised: run domain.init", call->domain));
	MCX_GUARD(r);
	MCX_ENSURE(mcx_uid_key_period(t, (uint64_t)g.user_key_period, (uint64_t)g.user_key_offset, &period_no, NULL,
	                              NULL) == MCX_OK,
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "'time' lies before the key period offset of domain '%s'",
	                    call->domain));
	MCX_ENSURE(t >= g.valid_from && t <= g.valid_to,
	           rpc_fail(call, MCX_ERR_EXPIRED, "no KMS certificate of domain '%s' is valid at that time",
	                    call->domain));

	MCX_ENSURE_ALLOC(d.kmss = calloc(GMS_KMS_PER_REQUEST_MAX + 1, sizeof(*d.kmss)));
	snprintf(d.kmss[0].kms_uri, sizeof(d.kmss[0].kms_uri), "%s", g.kms_uri);
	memcpy(d.kmss[0].z, g.z_public, sizeof(d.kmss[0].z));
	d.kmss[0].period = (uint64_t)g.user_key_period;
	d.kmss[0].offset = (uint64_t)g.user_key_offset;
	d.kmss[0].period_no = period_no;
	d.kms_count = 1;
	MCX_GUARD(members_param(call, params, &d, GMS_KMS_PER_REQUEST_MAX + 1));

	/* the key: current, or the one named (a previous one within its overlap) */
	MCX_ENSURE_ALLOC(sealed = mcx_buf_new(256));
	r = gms_store_get(store, call->domain, owner, purpose, key_id, &meta, sealed);
	if (r == MCX_ERR_NOT_FOUND && key_id != 0)
		MCX_BAIL(rpc_fail(call, r, "%s '%.200s' has no key %08" PRIx32, kind->owner_param, owner, key_id));
	if (r == MCX_ERR_NOT_FOUND)
		MCX_BAIL(owner_not_found(call, kind, owner, purpose));
	if (r == MCX_ERR_REVOKED || r == MCX_ERR_KEY_STATE)
		MCX_BAIL(rpc_fail(call, MCX_ERR_REVOKED, "the %s of %s '%.200s' is revoked%s",
		                  key_id != 0 ? "key named" : "current key", kind->owner_param, owner,
		                  key_id != 0 ? "" : ": rekey it"));
	if (r == MCX_ERR_EXPIRED)
		MCX_BAIL(rpc_fail(call, r, "key %08" PRIx32 " of %s '%.200s' is past its overlap and destroyed", key_id,
		                  kind->owner_param, owner));
	MCX_GUARD(r);
	rpc_audit_key(call, purpose_name(purpose), meta.version);
	MCX_ENSURE_ALLOC(key = mcx_buf_new_secret(GMS_KEY_LEN + 64));
	gms_key_aad(aad, sizeof(aad), call->domain, purpose, meta.version, meta.key_id, owner);
	r = kms_kek_open(call->vault->kms, aad, mcx_buf_ptr(sealed), mcx_buf_len(sealed), key);
	if (r == MCX_ERR_SIGNATURE_INVALID) {
		vault_error("gms: sealed key %08" PRIx32 " of %s '%s' in %s does not open: wrong KEK or tampered store",
		            meta.key_id, kind->owner_param, owner, call->domain);
		MCX_BAIL(rpc_fail(call, MCX_ERR_INTERNAL, "the stored key does not open (see the vaultd log)"));
	}
	MCX_GUARD(r);
	MCX_ENSURE(mcx_buf_len(key) == GMS_KEY_LEN, MCX_ERR_INTERNAL);

	/* the sender: a user of the home domain, keys for the key period of t */
	MCX_GUARD(mcx_uid_compute(sender, strlen(sender), g.kms_uri, strlen(g.kms_uri), (uint64_t)g.user_key_period,
	                          (uint64_t)g.user_key_offset, period_no, d.sender_uid));
	MCX_ENSURE_ALLOC(ssk = mcx_buf_new_secret(MCX_ECCSI_SCALAR_LEN));
	MCX_GUARD(gms_sender_keys(gms, call->domain, g.version, g.kpak, d.sender_uid, ssk, d.sender_pvt));
	memcpy(d.sender_kpak, g.kpak, sizeof(d.sender_kpak));
	d.sender_ssk = mcx_buf_ptr(ssk);
	d.sender_uri = sender;
	d.sender_kms_uri = g.kms_uri;
	d.domain = call->domain;
	d.purpose = purpose;
	d.key_id = meta.key_id;
	d.key = mcx_buf_ptr(key);
	d.ntp_time = (uint64_t)(t + MCX_UID_NTP_UNIX_OFFSET) << 32;
	d.identities = (int)identities;

	/* member KMSs other than home: trusted external ones only */
	for (size_t i = 1; i < d.kms_count; i++) {
		rpc_audit_external(call, d.kmss[i].kms_uri);
		member_kms_resolve(call, method, &d.kmss[i], t);
		if (d.kmss[i].err == MCX_ERR_UNTRUSTED) {
			size_t n = 0;
			for (size_t j = 0; j < d.count; j++)
				n += d.members[j].kms == (int)i;
			untrusted_member_kms(call, method, d.kmss[i].kms_uri, n);
		}
	}

	r = gms_distribute(gms, &d);
	if (r == MCX_ERR_BUSY)
		MCX_BAIL(rpc_fail(call, r, "every batch slot of the GMS pool is taken (one vaultd worker stays free "
		                           "for late entry): retry, or send up to %d members per request", GMS_INLINE_MAX));
	MCX_GUARD(r);

	MCX_ENSURE_ALLOC(shared_with = calloc(d.count > 0 ? d.count : 1, sizeof(*shared_with)));
	collisions = guk_id_collisions(&d, shared_with);
	MCX_ENSURE_ALLOC(list = json_array());
	for (size_t i = 0; i < d.count; i++) {
		struct gms_member *m = &d.members[i];
		if (m->err != 0) {
			failed++;
			item = json_pack("{s:s, s:s, s:{s:i, s:s, s:{s:s}}}", "uri", m->uri, "kms_uri",
			                 d.kmss[m->kms].kms_uri, "error", "code", mcx_error_rpc_code(m->err), "message",
			                 m->message, "data", "error", mcx_error_name(m->err));
		} else {
			home_members += m->kms == 0;
			item = json_pack("{s:s, s:s, s:o, s:s}", "uri", m->uri, "kms_uri", d.kmss[m->kms].kms_uri, "guk_id",
			                 json_key_id(m->guk_id), "i_message", m->i_message);
			if (item != NULL && shared_with[i] != SIZE_MAX)
				json_object_set_new(item, "guk_id_shared_with", json_string(d.members[shared_with[i]].uri));
		}
		free(m->i_message);
		m->i_message = NULL;
		MCX_ENSURE_ALLOC(item);
		MCX_ENSURE(json_array_append_new(list, item) == 0, MCX_ERR_ALLOC);
	}
	MCX_ENSURE_ALLOC(*result = json_pack("{s:s, s:o, s:I, s:s, s:o, s:I, s:I, s:O}", kind->owner_param, owner,
	                                     kind->id_name, json_key_id(meta.key_id), "version", (json_int_t)meta.version,
	                                     "sender_uri", sender, "time", json_time(t), "distributed",
	                                     (json_int_t)(d.count - failed), "failed", (json_int_t)failed, "members",
	                                     list));
	if (kind == &kind_server)
		json_object_set_new(*result, "purpose", json_string(purpose_name(purpose)));
	json_object_set_new(*result, "identities", json_string(mcx_mikey_identities_name(identities)));
	json_object_set_new(*result, "guk_id_collisions", json_integer((json_int_t)collisions));
	if (collisions > 0)
		vault_warning("%s %s: %zu member(s) of %s '%s' share a GUK-ID with another (key %08" PRIx32
		              "): their SRTP keys coincide; rekey to draw new GUK-IDs",
		              method, call->domain, collisions, kind->owner_param, owner, meta.key_id);
	vault_info("%s %s: %s '%s' key %08" PRIx32 " to %zu member(s) (%" PRIu64 " home, %zu failed) in %" PRIu64
	           " ms (uid %u)",
	           method, call->domain, kind->owner_param, owner, meta.key_id, d.count, home_members, failed,
	           (mcx_monotonic_ns() - started) / 1000000u, (unsigned)call->caller->uid);
	r = MCX_OK;
out:
	free(shared_with);
	json_decref(list);
	members_free(&d);
	free(d.kmss);
	mcx_buf_free(sealed);
	mcx_buf_free(key);
	mcx_buf_free(ssk);
	return r;
}

int method_gmk_distribute(struct rpc_call *call, json_t *params, json_t **result)
{
	return distribute(call, params, &kind_gmk, result);
}

int method_server_key_distribute(struct rpc_call *call, json_t *params, json_t **result)
{
	return distribute(call, params, &kind_server, result);
}
