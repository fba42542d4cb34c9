/*
 * vault.status: what an operator checks first.
 *
 * The result is written as JSON text directly (vault_status_text), not built
 * as a jansson tree: vault.status is what monitoring polls and what the
 * RPC-only benchmark measures, and jansson's tree, dump and (wiping) frees
 * were most of its cost (issue 11: ≤ 50k instructions per request).  The
 * dispatcher's fast path (vault/rpc/rpc.c) appends this text to the response
 * as it is; the ordinary handler parses it back into a tree, so both paths
 * answer the very same bytes.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcx/util.h"
#include "pkcs11/hsm.h"
#include "vault/audit/audit.h"
#include "vault/store/store.h"
#include "vault/rpc/methods.h"

struct text {
	char *p;
	size_t size, len;
	int ascii_only;   /* refuse octets >= 0x80 (the fast path leaves UTF-8 checks to jansson) */
	int failed;
};

static void text_raw(struct text *t, const char *s, size_t n)
{
	if (t->failed || n >= t->size - t->len) {
		t->failed = 1;
		return;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

static void text_fmt(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_fmt(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->failed)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->p + t->len, t->size - t->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= t->size - t->len)
		t->failed = 1;
	else
		t->len += (size_t)n;
}

/* A JSON string as jansson's compact dump writes it: '"' and '\\' and
 * control characters escaped, everything else (also '/') as it is. */
static void text_string(struct text *t, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	text_raw(t, "\"", 1);
	for (const unsigned char *c = (const unsigned char *)(s != NULL ? s : ""); *c && !t->failed; c++) {
		char esc[7] = { '\\', 0, 0, 0, 0, 0, 0 };
		size_t n = 2;
		const unsigned char *run = c;

		/* a run of octets that need no escape, copied at once */
		while (*c >= 0x20 && *c < 0x80 && *c != '"' && *c != '\\')
			c++;
		if (c > run)
			text_raw(t, (const char *)run, (size_t)(c - run));
		if (*c == '\0')
			break;
		switch (*c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			if (*c >= 0x80 && t->ascii_only) {
				t->failed = 1;
				return;
			}
			if (*c >= 0x20) {
				text_raw(t, (const char *)c, 1);
				continue;
			}
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[*c >> 4];
			esc[5] = hex[*c & 15];
			n = 6;
		}
		text_raw(t, esc, n);
	}
	text_raw(t, "\"", 1);
}

static const char *text_bool(int b)
{
	return b ? "true" : "false";
}

int vault_status_text(struct rpc_call *call, int ascii_only, char *buf, size_t size, size_t *len)
{
	struct hsm_token_info info;
	struct text t = { buf, size, 0, ascii_only, size == 0 };
	unsigned held = vault_access_roles(call->config, call->caller, NULL);
	const struct vault_caller *who = call->caller;
	int first = 1;

	*len = 0;
	memset(&info, 0, sizeof(info));
	if (hsm_token_info(call->vault->hsm, &info) != MCX_OK)
		info.reachable = 0;
	text_raw(&t, "{\"version\":", 11);
	text_string(&t, MCXVAULT_VERSION);
	if (held == 0) {
		/* anyone who reaches the socket may ask; a caller without a role
		 * learns that the vault is up and who it is to the vault, not the
		 * token's serial, the load, or how busy the audit log is */
		text_fmt(&t, ",\"hsm\":{\"reachable\":%s},\"domains\":[],\"caller\":{\"uid\":%" PRIdMAX ",\"gid\":%" PRIdMAX
		         ",\"pid\":%" PRIdMAX ",\"roles\":[]}}",
		         text_bool(info.reachable), (intmax_t)who->uid, (intmax_t)who->gid, (intmax_t)who->pid);
		goto done;
	}
	text_fmt(&t, ",\"uptime_seconds\":%" PRId64 ",\"hsm\":{\"module\":", (int64_t)(mcx_time_now() - call->vault->started));
	text_string(&t, call->config->hsm_module);
	text_raw(&t, ",\"module_description\":", 22);
	text_string(&t, info.module_description);
	text_raw(&t, ",\"token_label\":", 15);
	text_string(&t, info.token_label);
	text_raw(&t, ",\"token_serial\":", 16);
	text_string(&t, info.token_serial);
	text_fmt(&t, ",\"reachable\":%s},\"domains\":[", text_bool(info.reachable));
	for (size_t i = 0; i < call->config->domain_count; i++)
		if (vault_access_roles(call->config, call->caller, call->config->domains[i].name) != 0) {
			if (!first)
				text_raw(&t, ",", 1);
			text_string(&t, call->config->domains[i].name);
			first = 0;
		}
	text_fmt(&t, "],\"requests\":{\"total\":%" PRIu64 ",\"errors\":%" PRIu64 "},\"connections\":%d,"
	         "\"caller\":{\"uid\":%" PRIdMAX ",\"gid\":%" PRIdMAX ",\"pid\":%" PRIdMAX ",\"roles\":[",
	         (uint64_t)atomic_load(&call->vault->requests_total), (uint64_t)atomic_load(&call->vault->requests_failed),
	         (int)atomic_load(&call->vault->connections), (intmax_t)who->uid, (intmax_t)who->gid,
	         (intmax_t)who->pid);
	first = 1;
	for (unsigned bit = 1; bit <= VAULT_ROLE_AUDITOR; bit <<= 1)
		if (held & bit) {
			if (!first)
				text_raw(&t, ",", 1);
			text_string(&t, vault_role_name(bit));
			first = 0;
		}
	text_raw(&t, "]},\"audit\":", 11);
	if (call->vault->audit != NULL) {
		struct audit_status st;
		audit_status_get(call->vault->audit, &st);
		/* the sequence number tells how busy every domain is: for callers whose
		 * auditor or admin role covers every domain (as audit.status) */
		if (vault_access_roles_unscoped(call->config, call->caller) & (VAULT_ROLE_AUDITOR | VAULT_ROLE_ADMIN))
			text_fmt(&t, "{\"healthy\":%s,\"seq\":%" PRIu64 "}", text_bool(st.healthy), (uint64_t)st.seq);
		else
			text_fmt(&t, "{\"healthy\":%s}", text_bool(st.healthy));
	} else {
		text_raw(&t, "{\"enabled\":false}", 17);
	}
	/* several vaults: is the shared store there, and is this vault hearing
	 * of the others' key changes (a monitoring check for each node) */
	if (mcx_store_shared(call->vault->store)) {
		text_raw(&t, ",\"store\":{\"kind\":", 17);
		text_string(&t, mcx_store_kind(call->vault->store));
		text_fmt(&t, ",\"reachable\":%s,\"following\":%s}", text_bool(mcx_store_reachable(call->vault->store)),
		         text_bool(mcx_store_following(call->vault->store)));
	}
	text_raw(&t, "}", 1);
done:
	if (t.failed)
		return MCX_ERR_NO_BUFFER_SPACE;
	*len = t.len;
	return MCX_OK;
}

int method_vault_status(struct rpc_call *call, json_t *params, json_t **result)
{
	int r = MCX_ERR_INTERNAL;
	char small[4096], *text = small;
	size_t size = sizeof(small), len = 0;

	(void)params;
	/* the same text as the fast path, as a tree for the dispatcher; a long
	 * domain list gets a bigger buffer */
	while ((r = vault_status_text(call, 0, text, size, &len)) == MCX_ERR_NO_BUFFER_SPACE && size < (1u << 24)) {
		if (text != small)
			free(text);
		size *= 4;
		MCX_ENSURE_ALLOC(text = malloc(size));
	}
	MCX_GUARD(r);
	/* invalid UTF-8 from the token's strings: as before, no result */
	MCX_ENSURE_ALLOC(*result = json_loadb(text, len, 0, NULL));
	r = MCX_OK;
out:
	if (text != small)
		free(text);
	return r;
}
