/*
 * JSON-RPC 2.0 request handling: one line in, one line out.
 *
 * The dispatcher does every check that is the same for all methods — the
 * envelope, the method name, the caller's role, the domain and its scope, the
 * set of accepted parameters — so that handlers only do their own work.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "vault/rpc/rpc.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mcx/util.h"
#include "pkcs11/hsm.h"
#include "vault/audit/audit.h"
#include "vault/daemon/log.h"
#include "vault/rpc/methods.h"

int rpc_fail(struct rpc_call *call, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(call->error_detail, sizeof(call->error_detail), fmt, ap);
	va_end(ap);
	/* the sentence goes into JSON: a multi-byte character cut by the
	 * truncation above, or raw bytes a parser quoted from the request
	 * (jansson's "invalid UTF-8 near '…'"), must not make the answer
	 * unbuildable (found by fuzz_rpc) */
	mcx_utf8_repair(call->error_detail);
	return err;
}

void rpc_audit_key(struct rpc_call *call, const char *purpose, uint32_t version)
{
	call->audit.key_purpose = purpose;
	call->audit.key_version = version;
}

void rpc_audit_subject(struct rpc_call *call, const char *subject)
{
	snprintf(call->audit.subject, sizeof(call->audit.subject), "%s", subject != NULL ? subject : "");
	mcx_utf8_repair(call->audit.subject);   /* a long URI cut inside a character */
}

void rpc_audit_external(struct rpc_call *call, const char *kms_uri)
{
	size_t n = call->audit.external_count;

	if (kms_uri == NULL || n >= MCX_ARRAY_SIZE(call->audit.external_kms))
		return;
	for (size_t i = 0; i < n; i++)
		if (strcmp(call->audit.external_kms[i], kms_uri) == 0)
			return;
	snprintf(call->audit.external_storage[n], sizeof(call->audit.external_storage[n]), "%s", kms_uri);
	mcx_utf8_repair(call->audit.external_storage[n]);
	call->audit.external_kms[n] = call->audit.external_storage[n];
	call->audit.external_count++;
}

/*
 * Denial floods.  Every denied request stays visible, but a caller without
 * a role that sends thousands per second must not fill the disk or the
 * daemon log: the first denial of a (uid, method) in a window of
 * audit.denial_window seconds is recorded and logged at once, the rest of
 * the window only counted, and when the window ends one record
 * ("count": N) and one log line stand for them.  The chain stays one line
 * per record, so it stays verifiable.  The table is bounded; callers beyond
 * it share one overflow entry.  One vault per process: the table is static.
 */
#define DENIAL_SLOTS 256

struct denial_entry {
	uid_t uid;
	pid_t pid;
	unsigned roles;
	const char *method;           /* a row of the method table: lives for ever */
	char domain[129];
	int code;
	uint64_t count;               /* denials after the first, not yet recorded */
	int used;
};

static struct {
	pthread_mutex_t lock;
	uint64_t window_start_ns;
	struct denial_entry slots[DENIAL_SLOTS];
	struct denial_entry overflow;  /* uid/method of the first caller that did not fit */
} rpc_denials = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* 1: record and log this denial now; 0: it was counted for the window's summary. */
static int rpc_denial_note(struct rpc_call *call)
{
	const char *method = call->method->name;
	size_t h = ((size_t)call->caller->uid * 2654435761u) ^ (size_t)(uintptr_t)method, i;
	struct denial_entry *e = NULL;
	int first = 0;

	pthread_mutex_lock(&rpc_denials.lock);
	if (rpc_denials.window_start_ns == 0)
		rpc_denials.window_start_ns = mcx_monotonic_ns();
	for (i = 0; i < DENIAL_SLOTS; i++) {
		struct denial_entry *slot = &rpc_denials.slots[(h + i) % DENIAL_SLOTS];
		if (!slot->used || (slot->uid == call->caller->uid && slot->method == method)) {
			e = slot;
			break;
		}
	}
	if (e == NULL) {
		e = &rpc_denials.overflow;
		if (e->used) {
			e->count++;
			goto out;
		}
	}
	if (!e->used) {
		e->used = 1;
		e->uid = call->caller->uid;
		e->method = e == &rpc_denials.overflow ? "(methods of callers beyond the denial table)" : method;
		e->count = 0;
		first = 1;
	} else {
		e->count++;
	}
	e->pid = call->caller->pid;
	e->roles = call->roles;
	e->code = mcx_error_rpc_code(MCX_ERR_PERMISSION_DENIED);
	snprintf(e->domain, sizeof(e->domain), "%s", call->audit_requested_domain ? call->audit_requested_domain : "");
out:
	pthread_mutex_unlock(&rpc_denials.lock);
	return first;
}

static void rpc_denial_summary(struct vault *vault, const struct denial_entry *e, unsigned window)
{
	struct audit_event ev;

	vault_warning("denied: uid %u: %llu more calls of %s in the last %u s", (unsigned)e->uid,
	              (unsigned long long)e->count, e->method, window);
	if (vault->audit == NULL)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.uid = e->uid;
	ev.pid = e->pid;
	ev.roles = e->roles;
	ev.method = e->method;
	ev.domain = e->domain[0] ? e->domain : NULL;
	ev.error = MCX_ERR_PERMISSION_DENIED;
	ev.count = e->count;
	if (audit_append(vault->audit, &ev) != MCX_OK)
		vault_error("audit: cannot record %llu denials of %s for uid %u", (unsigned long long)e->count, e->method,
		            (unsigned)e->uid);
}

void rpc_denials_flush(struct vault *vault, int all)
{
	struct vault_config *config = vault_config_acquire(vault);
	unsigned window = config != NULL ? config->audit_denial_window : 10;
	uint64_t now = mcx_monotonic_ns();
	struct denial_entry *pending = NULL;
	size_t n = 0;

	vault_config_release(vault, config);
	pthread_mutex_lock(&rpc_denials.lock);
	if (rpc_denials.window_start_ns == 0 ||
	    (!all && now - rpc_denials.window_start_ns < (uint64_t)window * 1000000000u)) {
		pthread_mutex_unlock(&rpc_denials.lock);
		return;
	}
	/* copy out what must be written, reset the window, write outside the lock */
	pending = calloc(DENIAL_SLOTS + 1, sizeof(*pending));
	for (size_t i = 0; i <= DENIAL_SLOTS; i++) {
		struct denial_entry *e = i < DENIAL_SLOTS ? &rpc_denials.slots[i] : &rpc_denials.overflow;
		if (e->used && e->count > 0 && pending != NULL)
			pending[n++] = *e;
		memset(e, 0, sizeof(*e));
	}
	rpc_denials.window_start_ns = 0;
	pthread_mutex_unlock(&rpc_denials.lock);
	if (pending == NULL)
		vault_error("denials of the last window could not be summarised: out of memory");
	for (size_t i = 0; i < n; i++)
		rpc_denial_summary(vault, &pending[i], window);
	free(pending);
}

/* Appends the call's audit record; the request fails closed if it cannot. */
static int rpc_audit(struct rpc_call *call, int outcome)
{
	struct audit_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.uid = call->caller->uid;
	ev.pid = call->caller->pid;
	ev.roles = vault_access_roles(call->config, call->caller, call->domain);
	ev.method = call->method != NULL ? call->method->name : "(unknown)";
	ev.domain = call->domain != NULL ? call->domain : call->audit_requested_domain;
	ev.key_purpose = call->audit.key_purpose;
	ev.key_version = call->audit.key_version;
	ev.subject = call->audit.subject[0] ? call->audit.subject : NULL;
	for (size_t i = 0; i < call->audit.external_count && i < AUDIT_EXTERNAL_MAX; i++)
		ev.external_kms[ev.external_count++] = call->audit.external_kms[i];
	ev.error = outcome;
	ev.intent = call->audit.intent_seq;
	return audit_append(call->vault->audit, &ev);
}

/* The parameters an intent record names: what is about to change.  Only
 * identifiers (never key material, certificates or payloads). */
static const char *const rpc_intent_params[] = { "purpose", "version", "group", "gmk_id", "server_uri",
	                                         "key_id", "kms_uri", "now", NULL };

/* Writes the intent of a state-changing call and flushes it to disk before
 * the handler runs: if this fails, nothing is done and the caller gets -32008. */
static int rpc_audit_intent(struct rpc_call *call, json_t *params)
{
	struct audit_event ev;
	int r;

	memset(&ev, 0, sizeof(ev));
	ev.uid = call->caller->uid;
	ev.pid = call->caller->pid;
	ev.roles = call->roles;
	ev.method = call->method->name;
	ev.domain = call->domain;
	for (size_t i = 0; rpc_intent_params[i] != NULL && ev.param_count < AUDIT_PARAMS_MAX; i++) {
		json_t *v = json_object_get(params, rpc_intent_params[i]);
		if (json_is_string(v) && json_string_length(v) <= 256 && strlen(json_string_value(v)) == json_string_length(v)) {
			ev.param_names[ev.param_count] = rpc_intent_params[i];
			ev.param_strings[ev.param_count++] = json_string_value(v);
		} else if (json_is_integer(v)) {
			ev.param_names[ev.param_count] = rpc_intent_params[i];
			ev.param_ints[ev.param_count++] = (long long)json_integer_value(v);
		} else if (json_is_true(v)) {
			/* key.retire's "now": the record shows that a delay was bypassed */
			ev.param_names[ev.param_count] = rpc_intent_params[i];
			ev.param_ints[ev.param_count++] = 1;
		}
	}
	r = audit_intent(call->vault->audit, &ev, &call->audit.intent_seq);
	if (r != MCX_OK)
		return rpc_fail(call, MCX_ERR_AUDIT_UNAVAILABLE,
		                "the audit log cannot be written: request refused, nothing was changed");
	return MCX_OK;
}

static int rpc_audited(const struct rpc_call *call, int outcome)
{
	if (call->vault->audit == NULL)
		return 0;
	if (outcome == MCX_ERR_PERMISSION_DENIED)
		return 1;   /* every denied request, whatever the method */
	return call->method != NULL && !(call->method->flags & RPC_READ_ONLY);
}

const struct rpc_method *rpc_method_find(const char *name)
{
	for (size_t i = 0; i < rpc_method_count; i++)
		if (strcmp(rpc_methods[i].name, name) == 0)
			return &rpc_methods[i];
	return NULL;
}

/* jansson output straight into the connection's bounded buffer: one pass. */
static int rpc_dump_to_buf(const char *text, size_t len, void *data)
{
	return mcx_buf_put(data, text, len) == MCX_OK ? 0 : -1;
}

/* Serialises a response object and appends it plus '\n'; nothing on failure.
 * Most responses fit a few KiB: they are dumped into the stack and appended
 * with one copy (jansson's callback form calls back per token, and each
 * append costs a reservation); larger ones stream into the buffer. */
static int rpc_append_json(struct mcx_buf *out, json_t *response)
{
	int r = MCX_ERR_INTERNAL;
	size_t before = mcx_buf_len(out), n;
	char small[4096];

	n = json_dumpb(response, small, sizeof(small) - 1, JSON_COMPACT);
	if (n > 0 && n < sizeof(small)) {
		small[n++] = '\n';
		r = mcx_buf_put(out, small, n);
		/* a response may carry user keys: no copy stays on the stack */
		mcx_wipe(small, n);
		return r;
	}
	if (json_dump_callback(response, rpc_dump_to_buf, out, JSON_COMPACT) != 0) {
		/* take back a partial line: the output carries whole responses only */
		if (mcx_buf_consume_end(out, mcx_buf_len(out) - before) != MCX_OK)
			mcx_buf_reset(out);
		MCX_BAIL(MCX_ERR_NO_BUFFER_SPACE);
	}
	MCX_GUARD(mcx_buf_put_u8(out, '\n'));
	r = MCX_OK;
out:
	return r;
}

MCX_RESULT rpc_append_error(struct mcx_buf *out, json_t *id, int err, const char *message)
{
	int r = MCX_ERR_INTERNAL;
	json_t *response = NULL;

	response = json_pack("{s:s, s:O?, s:{s:i, s:s, s:{s:s}}}", "jsonrpc", "2.0", "id", id, "error", "code",
	                     mcx_error_rpc_code(err), "message",
	                     message != NULL && *message ? message : mcx_strerror(err), "data", "error",
	                     mcx_error_name(err));
	MCX_ENSURE_ALLOC(response);
	MCX_GUARD(rpc_append_json(out, response));
	r = MCX_OK;
out:
	json_decref(response);
	return r;
}

static int rpc_param_check_names(struct rpc_call *call, json_t *params)
{
	const char *key;
	json_t *value;

	json_object_foreach(params, key, value) {
		int known = 0;
		(void)value;
		for (size_t i = 0; i < RPC_PARAMS_MAX && call->method->params[i] != NULL; i++)
			if (strcmp(call->method->params[i], key) == 0)
				known = 1;
		if (!known)
			return rpc_fail(call, MCX_ERR_INVALID_PARAMS, "unknown parameter '%.64s' for %s", key,
			                call->method->name);
	}
	return MCX_OK;
}

/* Everything between a parsed request and its handler; returns the result or an error. */
/* A handler failed while the token went away (it is marked gone now, or was
 * re-initialised meanwhile): whatever the failure looked like where it
 * surfaced (a random callback's MCX_ERR_CRYPTO, a key "not found" in a token
 * that answered nothing, a sealed blob that did not open), its cause is the
 * HSM, and every method says so the same way: -32004.  Errors about the
 * request itself stay as they are. */
static int rpc_token_lost(struct rpc_call *call, const struct hsm_stats *before, int r)
{
	struct hsm_stats now;

	switch (r) {
	case MCX_ERR_INTERNAL:
	case MCX_ERR_CRYPTO:
	case MCX_ERR_NOT_FOUND:
	case MCX_ERR_HSM:
	case MCX_ERR_HSM_STALE_HANDLE:
	case MCX_ERR_SIGNATURE_INVALID:
	case MCX_ERR_SYSTEM:
		break;
	default:
		return 0;
	}
	hsm_stats_get(call->vault->hsm, &now);
	return !now.reachable || now.generation != before->generation;
}

static int rpc_dispatch(struct rpc_call *call, json_t *request, json_t **result)
{
	int r = MCX_ERR_INTERNAL;
	struct hsm_stats hsm_before;
	json_t *method, *params, *domain;
	const char *name;
	unsigned roles;

	method = json_object_get(request, "method");
	MCX_ENSURE(json_is_string(method), rpc_fail(call, MCX_ERR_INVALID_REQUEST, "'method' must be a string"));
	name = json_string_value(method);
	call->method = rpc_method_find(name);
	MCX_ENSURE(call->method != NULL,
	           rpc_fail(call, MCX_ERR_METHOD_NOT_FOUND, "method '%.64s' not found", name));

	params = json_object_get(request, "params");
	if (params == NULL) {
		MCX_ENSURE_ALLOC(params = json_object());
		json_object_set_new(request, "params", params);
	}
	MCX_ENSURE(json_is_object(params),
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "'params' must be an object (positional parameters are not supported)"));

	/* Unknown callers learn nothing about parameters or domains.  The audit
	 * record of a denial still names the domain the caller asked for. */
	domain = json_object_get(params, "domain");
	if (json_is_string(domain) && json_string_length(domain) <= 128)
		call->audit_requested_domain = json_string_value(domain);
	roles = vault_access_roles(call->config, call->caller, NULL);
	if (call->method->roles != VAULT_ROLE_NONE && (roles & call->method->roles) == 0)
		MCX_BAIL(rpc_fail(call, MCX_ERR_PERMISSION_DENIED, "uid %u may not call %s",
		                  (unsigned)call->caller->uid, call->method->name));
	MCX_GUARD(rpc_param_check_names(call, params));

	call->roles = roles;
	if (call->method->domain_rule == RPC_DOMAIN_REQUIRED) {
		domain = json_object_get(params, "domain");
		MCX_ENSURE(domain != NULL, rpc_fail(call, MCX_ERR_INVALID_PARAMS, "missing parameter 'domain'"));
		MCX_ENSURE(json_is_string(domain),
		           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "parameter 'domain' must be a string"));
		call->domain = json_string_value(domain);
		call->domain_config = vault_config_domain(call->config, call->domain);
		MCX_ENSURE(call->domain_config != NULL,
		           rpc_fail(call, MCX_ERR_NOT_FOUND, "domain '%.128s' is not configured", call->domain));
		call->roles = vault_access_roles(call->config, call->caller, call->domain);
		MCX_ENSURE((call->roles & call->method->roles) != 0,
		           rpc_fail(call, MCX_ERR_PERMISSION_DENIED, "uid %u may not call %s for domain '%s'",
		                    (unsigned)call->caller->uid, call->method->name, call->domain));
	}
	/* fail closed: with the audit log known broken, do nothing that must be recorded */
	if (rpc_audited(call, MCX_OK) && !audit_writable(call->vault->audit)) {
		struct hsm_stats hsm;

		/* the log cannot be sealed because the token is gone: every method
		 * answers "HSM unavailable" then, this one too */
		hsm_stats_get(call->vault->hsm, &hsm);
		MCX_ENSURE(hsm.reachable, rpc_fail(call, MCX_ERR_HSM_UNAVAILABLE, "the HSM is unavailable: request refused"));
		MCX_BAIL(rpc_fail(call, MCX_ERR_AUDIT_UNAVAILABLE, "the audit log cannot be written: request refused"));
	}
	if (rpc_audited(call, MCX_OK) && (call->method->flags & RPC_CHANGES_STATE))
		MCX_GUARD(rpc_audit_intent(call, params));
	hsm_stats_get(call->vault->hsm, &hsm_before);
	r = call->method->handler(call, params, result);
	if (r == MCX_OK && *result == NULL)
		r = MCX_ERR_INTERNAL;
	if (rpc_token_lost(call, &hsm_before, r))
		r = rpc_fail(call, MCX_ERR_HSM_UNAVAILABLE, "the HSM became unavailable during the call");
out:
	return r;
}

/*
 * The fast path of vault.status without parameters (issue 11: monitoring
 * polls it, and it is the RPC-only benchmark).  A tiny strict scanner
 * accepts only the plainest envelope — an object whose members are
 * "jsonrpc":"2.0", "method":"vault.status", an "id" that is a plain integer
 * (at most 18 digits, no leading zero) or a string of printable ASCII
 * without '"' or '\\', and optionally "params":{} — each at most once, in
 * any order, with JSON whitespace.  Anything else, even valid JSON (escapes,
 * other members, a duplicate), goes the ordinary way through jansson, which
 * accepts or rejects it with its own error: the fast path never answers
 * differently, it only answers sooner.  The id is echoed as the octets it was
 * sent as, which for these forms is what jansson's dump writes too.
 */
struct fast_envelope {
	const char *id;
	size_t id_len;
};

static const char *fast_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p;
}

/* A string without escapes or control characters: [start, *stop). */
static const char *fast_string(const char *p, const char *end, const char **start, size_t *n)
{
	if (p >= end || *p != '"')
		return NULL;
	*start = ++p;
	while (p < end && *p != '"') {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c >= 0x7f || c == '\\')
			return NULL;
		p++;
	}
	if (p >= end)
		return NULL;
	*n = (size_t)(p - *start);
	return p + 1;
}

static int fast_status_envelope(const char *line, size_t len, struct fast_envelope *env)
{
	const char *p = line, *end = line + len, *k, *v;
	size_t kn, vn;
	unsigned seen = 0;   /* 1 jsonrpc, 2 method, 4 id, 8 params */

	p = fast_ws(p, end);
	if (p >= end || *p++ != '{')
		return 0;
	for (;;) {
		unsigned bit;

		p = fast_ws(p, end);
		if ((p = fast_string(p, end, &k, &kn)) == NULL)
			return 0;
		p = fast_ws(p, end);
		if (p >= end || *p++ != ':')
			return 0;
		p = fast_ws(p, end);
		if (kn == 7 && memcmp(k, "jsonrpc", 7) == 0) {
			bit = 1;
			if ((p = fast_string(p, end, &v, &vn)) == NULL || vn != 3 || memcmp(v, "2.0", 3) != 0)
				return 0;
		} else if (kn == 6 && memcmp(k, "method", 6) == 0) {
			bit = 2;
			if ((p = fast_string(p, end, &v, &vn)) == NULL || vn != 12 || memcmp(v, "vault.status", 12) != 0)
				return 0;
		} else if (kn == 2 && memcmp(k, "id", 2) == 0) {
			bit = 4;
			env->id = p;
			if (p < end && *p == '"') {
				if ((p = fast_string(p, end, &v, &vn)) == NULL || vn > 64)
					return 0;
			} else {
				const char *digits;
				if (p < end && *p == '-')
					p++;
				digits = p;
				while (p < end && *p >= '0' && *p <= '9')
					p++;
				/* no "-0", no leading zero, no fraction or exponent follows */
				if (p == digits || p - digits > 18 || (*digits == '0' && (p - digits > 1 || digits != env->id)))
					return 0;
			}
			env->id_len = (size_t)(p - env->id);
		} else if (kn == 6 && memcmp(k, "params", 6) == 0) {
			bit = 8;
			if (p >= end || *p++ != '{')
				return 0;
			p = fast_ws(p, end);
			if (p >= end || *p++ != '}')
				return 0;
		} else {
			return 0;
		}
		if (seen & bit)
			return 0;   /* a duplicate: jansson rejects it */
		seen |= bit;
		p = fast_ws(p, end);
		if (p < end && *p == ',') {
			p++;
			continue;
		}
		if (p >= end || *p++ != '}')
			return 0;
		break;
	}
	return fast_ws(p, end) == end && (seen & 7) == 7;
}

/* Skips one JSON value of any kind (strings with escapes, nesting up to a
 * bound); NULL when it cannot follow. */
static const char *fast_skip_value(const char *p, const char *end)
{
	unsigned depth = 0;

	do {
		p = fast_ws(p, end);
		if (p >= end)
			return NULL;
		if (*p == '"') {
			for (p++; p < end && *p != '"'; p++)
				if (*p == '\\' && ++p >= end)
					return NULL;
			if (p >= end)
				return NULL;
			p++;
		} else if (*p == '{' || *p == '[') {
			if (++depth > 64)
				return NULL;
			p++;
			continue;
		} else if (*p == '}' || *p == ']') {
			if (depth == 0)
				return NULL;
			depth--;
			p++;
		} else if (*p == ',' || *p == ':') {
			if (depth == 0)
				return NULL;
			p++;
			continue;
		} else {
			while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ':' && *p != ' ' &&
			       *p != '\t' && *p != '\r' && *p != '\n' && *p != '"' && *p != '{' && *p != '[')
				p++;
		}
	} while (depth > 0);
	return p;
}

int rpc_line_method_is(const char *line, size_t len, const char *method)
{
	const char *p = line, *end = line + len, *k, *v;
	size_t kn, vn, want = strlen(method);
	int found = 0;

	p = fast_ws(p, end);
	if (p >= end || *p++ != '{')
		return 0;
	for (;;) {
		p = fast_ws(p, end);
		if ((p = fast_string(p, end, &k, &kn)) == NULL)
			return 0;   /* also a key with escapes: not followed */
		p = fast_ws(p, end);
		if (p >= end || *p++ != ':')
			return 0;
		p = fast_ws(p, end);
		if (kn == 6 && memcmp(k, "method", 6) == 0) {
			if (found || (p = fast_string(p, end, &v, &vn)) == NULL || vn != want || memcmp(v, method, vn) != 0)
				return 0;
			found = 1;
		} else if ((p = fast_skip_value(p, end)) == NULL) {
			return 0;
		}
		p = fast_ws(p, end);
		if (p < end && *p == ',') {
			p++;
			continue;
		}
		if (p >= end || *p++ != '}')
			return 0;
		break;
	}
	return found && fast_ws(p, end) == end;
}

/* 1: answered; 0: not this path's kind of request, nothing done. */
static int rpc_status_fast(struct vault *vault, const struct vault_caller *caller, const char *line, size_t len,
                           struct mcx_buf *out)
{
	static const struct rpc_method *status_method;
	uint64_t started = mcx_monotonic_ns();
	struct fast_envelope env = { NULL, 0 };
	struct vault_config *config;
	struct rpc_call call;
	char text[4096];
	size_t n = 0, head;
	int r;

	if (len < 40 || len > 512 || !fast_status_envelope(line, len, &env))
		return 0;
	if (status_method == NULL)
		status_method = rpc_method_find("vault.status");   /* a row of a static table: a benign race */
	if (status_method == NULL || status_method->roles != VAULT_ROLE_NONE || !(status_method->flags & RPC_READ_ONLY))
		return 0;   /* the table changed: the ordinary path knows what to do */
	memset(&call, 0, sizeof(call));
	call.vault = vault;
	call.caller = caller;
	call.method = status_method;
	config = vault_config_acquire(vault);
	call.config = config;
	atomic_fetch_add(&vault->requests_total, 1);
	call.roles = vault_access_roles(call.config, caller, NULL);
	head = (size_t)snprintf(text, sizeof(text), "{\"jsonrpc\":\"2.0\",\"id\":%.*s,\"result\":", (int)env.id_len, env.id);
	r = head < sizeof(text) ? vault_status_text(&call, 1, text + head, sizeof(text) - head - 2, &n) : MCX_ERR_NO_BUFFER_SPACE;
	if (r != MCX_OK) {
		/* a long domain list or a non-ASCII token string: the ordinary way */
		atomic_fetch_sub(&vault->requests_total, 1);
		vault_config_release(vault, config);
		return 0;
	}
	memcpy(text + head + n, "}\n", 2);
	r = mcx_buf_put(out, text, head + n + 2);
	rpc_metrics_record(call.method, call.roles, MCX_OK, mcx_monotonic_ns() - started);
	vault_config_release(vault, config);
	return r == MCX_OK ? 1 : r;
}

MCX_RESULT rpc_handle_line(struct vault *vault, const struct vault_caller *caller, const char *line, size_t len,
                           struct mcx_buf *out)
{
	int r = MCX_ERR_INTERNAL, err = MCX_OK, denial_counted = 0;
	uint64_t started = mcx_monotonic_ns();
	json_t *request = NULL, *result = NULL, *response = NULL, *id = NULL, *version;
	json_error_t jerr;
	struct vault_config *config = NULL;
	struct rpc_call call;

	if ((r = rpc_status_fast(vault, caller, line, len, out)) != 0)
		return r > 0 ? MCX_OK : r;
	memset(&call, 0, sizeof(call));
	call.vault = vault;
	call.caller = caller;
	config = vault_config_acquire(vault);
	call.config = config;
	atomic_fetch_add(&vault->requests_total, 1);

	/* jansson checks UTF-8; a NUL inside the line is rejected too */
	request = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (request == NULL) {
		err = rpc_fail(&call, MCX_ERR_PARSE, "parse error: %.160s", jerr.text);
		goto respond_error;
	}
	if (json_is_array(request)) {
		err = rpc_fail(&call, MCX_ERR_INVALID_REQUEST, "batch requests are not supported");
		goto respond_error;
	}
	if (!json_is_object(request)) {
		err = rpc_fail(&call, MCX_ERR_INVALID_REQUEST, "a request must be a JSON object");
		goto respond_error;
	}
	id = json_object_get(request, "id");
	if (id != NULL && !json_is_string(id) && !json_is_integer(id) && !json_is_null(id)) {
		id = NULL;
		err = rpc_fail(&call, MCX_ERR_INVALID_REQUEST, "'id' must be a string, an integer or null");
		goto respond_error;
	}
	version = json_object_get(request, "jsonrpc");
	if (!json_is_string(version) || strcmp(json_string_value(version), "2.0") != 0) {
		err = rpc_fail(&call, MCX_ERR_INVALID_REQUEST, "'jsonrpc' must be \"2.0\"");
		goto respond_error;
	}
	if (id == NULL) {
		/* a notification: JSON-RPC 2.0 section 4.1 says the server MUST NOT
		 * reply (a client would pair our answer with its next request).
		 * vaultd does not execute it either: every call it makes is one
		 * whose result, or refusal, the caller must see. */
		static struct vault_log_limit notified = VAULT_LOG_LIMIT_INIT;
		json_t *m = json_object_get(request, "method");
		vault_log_limited(&notified, VAULT_LOG_INFO,
		                  "uid %u pid %d sent a notification (%.64s, no 'id'): not executed, not answered",
		                  (unsigned)caller->uid, (int)caller->pid, json_is_string(m) ? json_string_value(m) : "?");
		atomic_fetch_add(&vault->requests_failed, 1);
		r = MCX_OK;
		goto out;
	}
	{
		const char *key;
		json_t *value;
		json_object_foreach(request, key, value) {
			(void)value;
			if (strcmp(key, "jsonrpc") != 0 && strcmp(key, "id") != 0 && strcmp(key, "method") != 0 &&
			    strcmp(key, "params") != 0) {
				err = rpc_fail(&call, MCX_ERR_INVALID_REQUEST, "unknown request member '%.64s'", key);
				goto respond_error;
			}
		}
	}
	err = rpc_dispatch(&call, request, &result);
	if (err == MCX_ERR_PERMISSION_DENIED && call.method != NULL && !rpc_denial_note(&call)) {
		denial_counted = 1;   /* recorded and logged with its window's count */
	} else if (err != MCX_ERR_AUDIT_UNAVAILABLE && rpc_audited(&call, err) && rpc_audit(&call, err) != MCX_OK) {
		if (call.audit.intent_seq != 0) {
			/* the change is made and its intent record is on disk: -32008
			 * would say nothing happened, so answer the truth */
			vault_error("audit: the outcome of %s (intent record %llu) could not be recorded",
			            call.method->name, (unsigned long long)call.audit.intent_seq);
		} else {
			/* the record could not be written: the caller must not get a result */
			json_decref(result);
			result = NULL;
			if (err != MCX_ERR_PERMISSION_DENIED)
				err = rpc_fail(&call, MCX_ERR_AUDIT_UNAVAILABLE,
				               "the audit log cannot be written: request refused");
		}
	}
	if (err != MCX_OK)
		goto respond_error;
	response = json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result", result);
	result = NULL;
	MCX_ENSURE_ALLOC(response);
	MCX_GUARD(rpc_append_json(out, response));
	rpc_metrics_record(call.method, call.roles, MCX_OK, mcx_monotonic_ns() - started);
	r = MCX_OK;
	goto out;

respond_error:
	atomic_fetch_add(&vault->requests_failed, 1);
	if (err == MCX_ERR_PERMISSION_DENIED && !denial_counted)
		vault_warning("denied: uid %u pid %d: %s", (unsigned)caller->uid, (int)caller->pid, call.error_detail);
	else if (mcx_error_rpc_code(err) == MCX_RPC_INTERNAL_ERROR || err == MCX_ERR_HSM_UNAVAILABLE)
		vault_error("%s failed for uid %u: %s (%s)", call.method ? call.method->name : "request",
		            (unsigned)caller->uid, call.error_detail[0] ? call.error_detail : mcx_strerror(err),
		            mcx_error_name(err));
	r = rpc_append_error(out, id, err, call.error_detail);
	rpc_metrics_record(call.method, call.roles, err, mcx_monotonic_ns() - started);
out:
	json_decref(result);
	json_decref(response);
	json_decref(request);
	vault_config_release(vault, config);
	return r;
}

MCX_RESULT rpc_param_string(struct rpc_call *call, json_t *params, const char *name, int required, const char **out)
{
	json_t *v = json_object_get(params, name);

	*out = NULL;
	if (v == NULL) {
		if (required)
			return rpc_fail(call, MCX_ERR_INVALID_PARAMS, "missing parameter '%s'", name);
		return MCX_OK;
	}
	if (!json_is_string(v))
		return rpc_fail(call, MCX_ERR_INVALID_PARAMS, "parameter '%s' must be a string", name);
	if (json_string_length(v) == 0)
		return rpc_fail(call, MCX_ERR_INVALID_PARAMS, "parameter '%s' must not be empty", name);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return rpc_fail(call, MCX_ERR_INVALID_PARAMS, "parameter '%s' must not contain NUL", name);
	*out = json_string_value(v);
	return MCX_OK;
}

MCX_RESULT rpc_param_uint(struct rpc_call *call, json_t *params, const char *name, int required, uint64_t max,
                          uint64_t *out, int *present)
{
	json_t *v = json_object_get(params, name);

	if (present != NULL)
		*present = v != NULL;
	if (v == NULL) {
		if (required)
			return rpc_fail(call, MCX_ERR_INVALID_PARAMS, "missing parameter '%s'", name);
		return MCX_OK;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
		return rpc_fail(call, MCX_ERR_INVALID_PARAMS, "parameter '%s' must be a whole number from 0 to %llu",
		                name, (unsigned long long)max);
	*out = (uint64_t)json_integer_value(v);
	return MCX_OK;
}

MCX_RESULT rpc_param_binary(struct rpc_call *call, json_t *params, const char *name, int required, size_t max,
                            int secret, struct mcx_buf **out)
{
	int r = MCX_ERR_INTERNAL;
	json_t *v = json_object_get(params, name);
	struct mcx_buf *buf = NULL;

	*out = NULL;
	if (v == NULL) {
		if (required)
			return rpc_fail(call, MCX_ERR_INVALID_PARAMS, "missing parameter '%s'", name);
		return MCX_OK;
	}
	MCX_ENSURE(json_is_string(v),
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "parameter '%s' must be a base64url string", name));
	MCX_ENSURE(json_string_length(v) / 4 * 3 <= max + 3,
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "parameter '%s' is longer than %zu octets", name, max));
	MCX_ENSURE_ALLOC(buf = secret ? mcx_buf_new_secret(max + 3) : mcx_buf_new(max + 3));
	if (mcx_base64url_decode(buf, json_string_value(v), json_string_length(v)) != MCX_OK)
		MCX_BAIL(rpc_fail(call, MCX_ERR_INVALID_PARAMS,
		                  "parameter '%s' is not valid base64url (unpadded, RFC 4648 section 5)", name));
	MCX_ENSURE(mcx_buf_len(buf) <= max,
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "parameter '%s' is longer than %zu octets", name, max));
	*out = buf;
	buf = NULL;
	r = MCX_OK;
out:
	mcx_buf_free(buf);
	return r;
}

json_t *rpc_json_base64url(const void *data, size_t len)
{
	char *text = mcx_base64url_string(data, len);
	json_t *s = text != NULL ? json_string(text) : NULL;

	free(text);
	return s;
}
