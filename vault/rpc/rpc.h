/*
 * The RPC layer: JSON-RPC 2.0 request parsing, the method table, parameter
 * helpers, responses.  docs/protocol.md is the contract.
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef VAULT_RPC_H
#define VAULT_RPC_H

#include <jansson.h>
#include <stddef.h>

#include "mcx/buf.h"
#include "mcx/safety.h"
#include "vault/daemon/vault.h"

#define RPC_PARAMS_MAX 12

/* Everything a handler may need about the call in progress. */
struct rpc_call {
	struct vault *vault;
	const struct vault_config *config;          /* referenced for the whole call */
	const struct vault_caller *caller;
	const struct rpc_method *method;
	const char *domain;                          /* the validated "domain" param, if the method takes one */
	const struct vault_domain_config *domain_config;
	unsigned roles;                              /* the caller's roles for this call's domain */
	char error_detail[256];                      /* a sentence for error.message */
	const char *audit_requested_domain;          /* "domain" as sent, before it was checked */
	/* what the audit record says beyond method, caller and outcome (set by handlers) */
	struct {
		const char *key_purpose;
		uint32_t key_version;
		char subject[256];
		const char *external_kms[8];
		size_t external_count;
		char external_storage[8][256];
		uint64_t intent_seq;                 /* the write-ahead record of a state change */
	} audit;
};

typedef int (*rpc_handler_fn)(struct rpc_call *call, json_t *params, json_t **result);

/* How the dispatcher treats a method's "domain" parameter. */
enum rpc_domain_rule {
	RPC_DOMAIN_NONE = 0,   /* the method takes no domain */
	RPC_DOMAIN_REQUIRED,   /* "domain" must name a configured domain in the caller's scope */
};

/* Method flags: every row of the table says which. */
#define RPC_AUDITED   0x0u   /* every call leaves an audit record (and fails closed without one) */
#define RPC_READ_ONLY 0x1u   /* touches no key material and changes nothing: not audited unless denied */
#define RPC_CHANGES_STATE 0x2u /* changes keys, trust or group state: an "intent" record is on disk
                                * (fdatasync) before the handler runs, so -32008 means nothing happened */

struct rpc_method {
	const char *name;
	unsigned roles;                     /* any one of these; VAULT_ROLE_NONE: everyone */
	enum rpc_domain_rule domain_rule;
	const char *params[RPC_PARAMS_MAX]; /* every accepted member of params, NULL-terminated */
	rpc_handler_fn handler;
	const char *summary;
	unsigned flags;                     /* RPC_READ_ONLY, ... */
};

/* The table (vault/rpc/rpc_table.c). */
extern const struct rpc_method rpc_methods[];
extern const size_t rpc_method_count;
const struct rpc_method *rpc_method_find(const char *name);

/* Handles one request line and appends one response line to out, or none
 * for a notification (a request without "id", JSON-RPC 2.0 section 4.1). */
MCX_RESULT rpc_handle_line(struct vault *vault, const struct vault_caller *caller, const char *line,
                           size_t len, struct mcx_buf *out);
/* 1 when the request line is an object whose one top-level "method" member
 * is the plain string `method` (no escapes), else 0 — also for anything the
 * small scanner does not follow.  For the server's parallel answering of
 * pipelined sign.sign lines (vault/daemon/server.c): jansson, which later
 * parses the line, either dispatches the same method or rejects the line
 * (it refuses duplicate members). */
int rpc_line_method_is(const char *line, size_t len, const char *method);
/* Writes the aggregated denials of windows that have ended (all of them
 * with `all`): one audit record and one log line per uid and method, with
 * the count.  Called about once a second (the server's reaper) and at stop. */
void rpc_denials_flush(struct vault *vault, int all);
/* Counts one answered call for the metrics method (vault/rpc/metrics.c). */
void rpc_metrics_record(const struct rpc_method *method, unsigned roles, int err, uint64_t ns);
/* Appends an error response with a null id (used for over-long lines). */
MCX_RESULT rpc_append_error(struct mcx_buf *out, json_t *id, int err, const char *message);

/* Sets call->error_detail and returns err, so handlers can `return rpc_fail(...)`
 * or `MCX_BAIL(rpc_fail(...))`. */
int rpc_fail(struct rpc_call *call, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* For the audit record: the key version used, the subject (group, user URI),
 * and each external KMS involved.  Never pass secrets. */
void rpc_audit_key(struct rpc_call *call, const char *purpose, uint32_t version);
void rpc_audit_subject(struct rpc_call *call, const char *subject);
void rpc_audit_external(struct rpc_call *call, const char *kms_uri);

/* Parameter helpers: each fails with MCX_ERR_INVALID_PARAMS and a sentence. */
MCX_RESULT rpc_param_string(struct rpc_call *call, json_t *params, const char *name, int required,
                            const char **out);
MCX_RESULT rpc_param_uint(struct rpc_call *call, json_t *params, const char *name, int required,
                          uint64_t max, uint64_t *out, int *present);
/* base64url member decoded into a new buffer of at most max bytes (secret: mlock/wipe). */
MCX_RESULT rpc_param_binary(struct rpc_call *call, json_t *params, const char *name, int required,
                            size_t max, int secret, struct mcx_buf **out);
/* A new JSON string holding base64url(data). */
json_t *rpc_json_base64url(const void *data, size_t len);

#endif
