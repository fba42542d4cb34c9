/*
 * audit.* methods: what an auditor asks the vault about its log.  The chain
 * itself is checked by the auditor's own tool (vaultctl audit verify) from the
 * file; only the checkpoint MACs need the vault, because their key never
 * leaves the HSM.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vault/audit/audit.h"
#include "vault/rpc/methods.h"

#define AUDIT_TAIL_MAX 1000
#define AUDIT_TAIL_BYTES (4u * 1024u * 1024u)

static int audit_enabled(struct rpc_call *call)
{
	if (call->vault->audit == NULL)
		return rpc_fail(call, MCX_ERR_NOT_FOUND, "the audit log is off: set audit.file in the configuration");
	return MCX_OK;
}

/* A caller whose auditor/admin role is limited to some domains sees only
 * their records: the log as a whole (file, sequence, chain head, anchor)
 * tells how busy other domains are, so it is for unscoped callers only. */
static int audit_caller_unscoped(struct rpc_call *call)
{
	return (vault_access_roles_unscoped(call->config, call->caller) & call->method->roles) != 0;
}

int method_audit_status(struct rpc_call *call, json_t *params, json_t **result)
{
	int r = MCX_ERR_INTERNAL;
	struct audit_status st;

	const char *node = NULL;

	MCX_GUARD(audit_enabled(call));
	MCX_GUARD(rpc_param_string(call, params, "node", 0, &node));
	audit_status_get(call->vault->audit, &st);
	if (node != NULL && strcmp(node, st.node) != 0) {
		/* another vault's log: what the token says of it, its anchor (the
		 * verifier checks that node's files against it) */
		MCX_ENSURE(audit_caller_unscoped(call),
		           rpc_fail(call, MCX_ERR_PERMISSION_DENIED, "another node's anchor is for unscoped auditors"));
		r = audit_anchor_of(call->vault->audit, node, &st);
		MCX_ENSURE(r != MCX_ERR_INVALID_ARGUMENT,
		           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "'node' must be a node id (1-64 characters, no '/')"));
		MCX_GUARD(r);
		MCX_ENSURE_ALLOC(*result = json_pack("{s:s, s:s, s:{s:I, s:s, s:I, s:s}}", "node", st.node, "scope", "node",
		                                     "anchor", "seq", (json_int_t)st.anchor_seq, "hash", st.anchor_hash,
		                                     "time", (json_int_t)st.anchor_time, "label", st.anchor_label));
		r = MCX_OK;
		goto out;
	}
	if (!audit_caller_unscoped(call)) {
		MCX_ENSURE_ALLOC(*result = json_pack("{s:b, s:b, s:b, s:s}", "healthy", st.healthy, "writable",
		                                     st.writable, "sealing", st.sealing, "scope", "domains"));
		r = MCX_OK;
		goto out;
	}
	MCX_ENSURE_ALLOC(*result = json_pack("{s:s, s:I, s:I, s:s, s:b, s:b, s:b, s:I, s:I, s:s, s:s, s:{s:I, s:s, s:I}}",
	                                     "file", st.path, "seq", (json_int_t)st.seq, "sealed_seq",
	                                     (json_int_t)st.sealed_seq, "head", st.head, "healthy", st.healthy,
	                                     "writable", st.writable, "sealing", st.sealing, "failures",
	                                     (json_int_t)st.failures, "seal_failures", (json_int_t)st.seal_failures,
	                                     "mac_key", AUDIT_MAC_KEY_LABEL, "scope", "all", "anchor", "seq",
	                                     (json_int_t)st.anchor_seq, "hash", st.anchor_hash, "time",
	                                     (json_int_t)st.anchor_time));
	/* several vaults: whose log this is, and which anchor object seals it */
	json_object_set_new(json_object_get(*result, "anchor"), "label", json_string(st.anchor_label));
	if (st.node[0] != '\0')
		json_object_set_new(*result, "node", json_string(st.node));
	r = MCX_OK;
out:
	return r;
}

/* Whether a scoped caller may see this record: only records of its domains. */
static int audit_record_visible(struct rpc_call *call, int unscoped, json_t *record)
{
	json_t *domain;

	if (unscoped)
		return 1;
	domain = json_object_get(record, "domain");
	return json_is_string(domain) &&
	       (vault_access_roles(call->config, call->caller, json_string_value(domain)) & call->method->roles) != 0;
}

int method_audit_tail(struct rpc_call *call, json_t *params, json_t **result)
{
	int r = MCX_ERR_INTERNAL, fd = -1, unscoped;
	uint64_t count = 20;
	struct audit_status st;
	struct stat sb;
	char *data = NULL, *p, *line;
	size_t want, n = 0;
	off_t start;
	json_t *lines = NULL, *record;

	MCX_GUARD(audit_enabled(call));
	MCX_GUARD(rpc_param_uint(call, params, "count", 0, AUDIT_TAIL_MAX, &count, NULL));
	unscoped = audit_caller_unscoped(call);
	audit_status_get(call->vault->audit, &st);
	MCX_ENSURE((fd = open(st.path, O_RDONLY | O_CLOEXEC)) >= 0 && fstat(fd, &sb) == 0,
	           rpc_fail(call, MCX_ERR_SYSTEM, "cannot read the audit log: %s", strerror(errno)));
	want = sb.st_size > (off_t)AUDIT_TAIL_BYTES ? AUDIT_TAIL_BYTES : (size_t)sb.st_size;
	start = sb.st_size - (off_t)want;
	MCX_ENSURE_ALLOC(data = malloc(want + 1));
	MCX_ENSURE(pread(fd, data, want, start) == (ssize_t)want, MCX_ERR_SYSTEM);
	data[want] = '\0';
	MCX_ENSURE_ALLOC(lines = json_array());
	/* walk back from the end over complete lines */
	p = data + want;
	while (p > data && n < count) {
		char *end = p;
		if (end > data && end[-1] == '\n')
			end--;
		line = end;
		while (line > data && line[-1] != '\n')
			line--;
		if (line == data && start > 0)
			break;   /* the first line in the window may be cut */
		*end = '\0';
		if (end > line && (record = json_loads(line, 0, NULL)) != NULL) {
			if (audit_record_visible(call, unscoped, record)) {
				json_array_insert_new(lines, 0, record);
				n++;
			} else {
				json_decref(record);
			}
		}
		p = line;
	}
	if (unscoped)
		MCX_ENSURE_ALLOC(*result = json_pack("{s:s, s:O}", "file", st.path, "records", lines));
	else
		MCX_ENSURE_ALLOC(*result = json_pack("{s:O}", "records", lines));
	r = MCX_OK;
out:
	if (fd >= 0)
		close(fd);
	free(data);
	json_decref(lines);
	return r;
}

int method_audit_check_checkpoint(struct rpc_call *call, json_t *params, json_t **result)
{
	int r = MCX_ERR_INTERNAL, present;
	uint64_t seq = 0, first = 0, last = 0, from = 0, to = 0;
	const char *prev = NULL, *mac = NULL;

	MCX_GUARD(audit_enabled(call));
	MCX_GUARD(rpc_param_uint(call, params, "seq", 1, INT64_MAX, &seq, &present));
	MCX_GUARD(rpc_param_uint(call, params, "first_seq", 1, INT64_MAX, &first, &present));
	MCX_GUARD(rpc_param_uint(call, params, "last_seq", 1, INT64_MAX, &last, &present));
	MCX_GUARD(rpc_param_uint(call, params, "from", 1, INT64_MAX, &from, &present));
	MCX_GUARD(rpc_param_uint(call, params, "to", 1, INT64_MAX, &to, &present));
	MCX_GUARD(rpc_param_string(call, params, "prev", 1, &prev));
	MCX_GUARD(rpc_param_string(call, params, "mac", 1, &mac));
	r = audit_checkpoint_check(call->vault->audit, seq, prev, first, last, (int64_t)from, (int64_t)to, mac);
	if (r == MCX_ERR_PARSE)
		MCX_BAIL(rpc_fail(call, MCX_ERR_INVALID_PARAMS, "'prev' and 'mac' must be 64 hex digits"));
	MCX_ENSURE(r == MCX_OK || r == MCX_ERR_SIGNATURE_INVALID, r);
	MCX_ENSURE_ALLOC(*result = json_pack("{s:b}", "valid", r == MCX_OK));
	r = MCX_OK;
out:
	return r;
}

/* After logrotate moved the file (or to start a new file on demand): seal the
 * old file, continue the chain in a new one at the configured path — the
 * same as SIGHUP, without reloading the configuration. */
int method_audit_rotate(struct rpc_call *call, json_t *params, json_t **result)
{
	int r = MCX_ERR_INTERNAL;
	struct audit_status st;

	(void)params;
	MCX_GUARD(audit_enabled(call));
	r = audit_reopen(call->vault->audit);
	MCX_ENSURE(r == MCX_OK, rpc_fail(call, MCX_ERR_AUDIT_UNAVAILABLE,
	                                 "cannot open a new audit file: still writing the old one (see the log)"));
	audit_status_get(call->vault->audit, &st);
	MCX_ENSURE_ALLOC(*result = json_pack("{s:s, s:I, s:I}", "file", st.path, "seq", (json_int_t)st.seq,
	                                     "anchor_seq", (json_int_t)st.anchor_seq));
	r = MCX_OK;
out:
	return r;
}
