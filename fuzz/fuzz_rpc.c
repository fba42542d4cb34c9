/*
 * mcxvault fuzz — libFuzzer harness for one JSON-RPC request line through the
 * dispatcher (vault/rpc/rpc.c rpc_handle_line) of a minimal in-memory vault:
 * a real configuration (two domains, an access list with unscoped, scoped
 * and group entries) and no HSM, key store, KMS, GMS, redirect service or
 * audit log.
 *
 * Input: one octet choosing the caller (see callers[]), then the line.
 *
 * Reachable handlers: the ones that work without those services —
 * vault.status (the HSM shows as unreachable) and audit.* (the log is off).
 * Every other method is fed to the dispatcher only when the request is
 * refused before its handler (unknown caller or role, unknown parameter,
 * missing/foreign/unconfigured domain): would_run_handler() below mirrors
 * those dispatcher checks and leaves out, rather than guesses about, any
 * request that would reach a handler needing the HSM.
 *
 * Checked: the answer is exactly one line holding one JSON-RPC 2.0 object
 * with "result" or "error"; ASan/UBSan watch everything else.
 *
 * Build and run: `make fuzz` (needs clang), fuzz/fuzz.mk.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mcx/buf.h"
#include "mcx/util.h"
#include "vault/daemon/log.h"
#include "vault/daemon/vault.h"
#include "vault/rpc/rpc.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fuzz_config[] =
	"server = { socket = \"/nonexistent/mcx-fuzz.sock\"; };\n"
	"hsm = { module = \"/nonexistent/pkcs11.so\"; token = \"pkcs11:token=fuzz\"; pin_file = \"/nonexistent/pin\"; };\n"
	"access = (\n"
	"  { uid = 1001; roles = [ \"admin\", \"auditor\" ]; },\n"
	"  { uid = 1002; roles = [ \"kms\", \"signer\" ]; domains = [ \"police.example\" ]; },\n"
	"  { gid = 2003; roles = [ \"gms\" ]; domains = [ \"fire.example\" ]; },\n"
	"  { uid = 1004; roles = [ \"auditor\" ]; domains = [ \"fire.example\" ]; },\n"
	"  { uid = 1005; roles = [ \"admin\", \"kms\", \"gms\", \"signer\", \"auditor\" ]; domains = [ \"police.example\", \"fire.example\" ]; }\n"
	");\n"
	"domains = (\n"
	"  { name = \"police.example\"; kms_uri = \"kms.police.example\"; },\n"
	"  { name = \"fire.example\"; kms_uri = \"kms.fire.example\"; redirect = { allow_redirects = false; }; }\n"
	");\n";

/* Methods whose handlers are safe on this vault (NULL services). */
static const char *const safe_methods[] = { "vault.status", "audit.status", "audit.tail",
	                                    "audit.check_checkpoint", NULL };

static struct vault vault;
static struct vault_caller callers[6];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[] = "/tmp/mcx-fuzz-rpc.XXXXXX";
	char *error = NULL;
	int fd = mkstemp(path);

	(void)argc;
	(void)argv;
	if (fd < 0 || write(fd, fuzz_config, sizeof(fuzz_config) - 1) != (ssize_t)(sizeof(fuzz_config) - 1)) {
		fprintf(stderr, "fuzz_rpc: cannot write %s\n", path);
		abort();
	}
	close(fd);
	if (vault_config_load(path, &vault.config, &error) != MCX_OK) {
		fprintf(stderr, "fuzz_rpc: configuration: %s\n", error ? error : "?");
		abort();
	}
	unlink(path);
	vault.config->refcount = 1;
	pthread_mutex_init(&vault.config_lock, NULL);
	vault.started = mcx_time_now();
	vault_log_init(0, VAULT_LOG_ERROR);
	/* nobody; unscoped admin+auditor; scoped kms+signer; a gms group member;
	 * a scoped auditor; everything for both domains */
	callers[0] = (struct vault_caller){ .uid = 4000, .gid = 4000, .pid = 1 };
	callers[1] = (struct vault_caller){ .uid = 1001, .gid = 1001, .pid = 2 };
	callers[2] = (struct vault_caller){ .uid = 1002, .gid = 1002, .pid = 3 };
	callers[3] = (struct vault_caller){ .uid = 1003, .gid = 1003, .pid = 4, .groups = { 2003 }, .group_count = 1 };
	callers[4] = (struct vault_caller){ .uid = 1004, .gid = 1004, .pid = 5 };
	callers[5] = (struct vault_caller){ .uid = 1005, .gid = 1005, .pid = 6 };
	return 0;
}

static int param_accepted(const struct rpc_method *m, const char *key)
{
	for (size_t i = 0; i < RPC_PARAMS_MAX && m->params[i] != NULL; i++)
		if (strcmp(m->params[i], key) == 0)
			return 1;
	return 0;
}

/*
 * 1 if the dispatcher could run the handler of a method not in safe_methods.
 * Mirrors rpc_dispatch's refusals (role, parameter names, domain); anything
 * it does not recognise as refused counts as "could run".
 */
static int would_run_handler(const char *line, size_t len, const struct vault_caller *caller)
{
	json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
	const struct rpc_method *m;
	json_t *method, *params, *domain, *value;
	const char *key;
	int run = 0;

	if (!json_is_object(req) || !json_is_string(method = json_object_get(req, "method")) ||
	    (m = rpc_method_find(json_string_value(method))) == NULL)
		goto out;
	for (size_t i = 0; safe_methods[i] != NULL; i++)
		if (strcmp(m->name, safe_methods[i]) == 0)
			goto out;
	if (m->roles != VAULT_ROLE_NONE && (vault_access_roles(vault.config, caller, NULL) & m->roles) == 0)
		goto out;
	params = json_object_get(req, "params");
	if (params != NULL && !json_is_object(params))
		goto out;
	json_object_foreach(params, key, value) {
		(void)value;
		if (!param_accepted(m, key))
			goto out;
	}
	if (m->domain_rule == RPC_DOMAIN_REQUIRED) {
		domain = json_object_get(params, "domain");
		if (!json_is_string(domain) || vault_config_domain(vault.config, json_string_value(domain)) == NULL ||
		    (vault_access_roles(vault.config, caller, json_string_value(domain)) & m->roles) == 0)
			goto out;
	}
	run = 1;
out:
	json_decref(req);
	return run;
}

/* A request object with "jsonrpc":"2.0" and no "id": a notification. */
static int is_notification(const char *text, size_t len)
{
	json_t *req = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
	json_t *version = json_object_get(req, "jsonrpc");
	int yes = json_is_object(req) && json_object_get(req, "id") == NULL && json_is_string(version) &&
	          strcmp(json_string_value(version), "2.0") == 0;

	json_decref(req);
	return yes;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct vault_caller *caller;
	struct mcx_buf *out;
	const char *text, *nl;
	json_t *answer;
	size_t len;

	if (size < 1)
		return 0;
	caller = &callers[data[0] % (sizeof(callers) / sizeof(callers[0]))];
	text = (const char *)data + 1;
	len = size - 1;
	/* the server's sniff (rpc_line_method_is: pipelined sign.sign runs are
	 * answered in parallel) never names a method jansson would not dispatch */
	if (rpc_line_method_is(text, len, "sign.sign")) {
		json_t *req = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
		json_t *m = json_object_get(req, "method");
		if (req != NULL && (!json_is_string(m) || strcmp(json_string_value(m), "sign.sign") != 0))
			abort();
		json_decref(req);
	}
	if (would_run_handler(text, len, caller))
		return 0;
	if ((out = mcx_buf_new(1u << 20)) == NULL)
		return 0;
	if (rpc_handle_line(&vault, caller, text, len, out) != MCX_OK)
		abort();   /* an answer always fits 1 MiB */
	if (is_notification(text, len)) {
		/* JSON-RPC 2.0 section 4.1: never answered */
		if (mcx_buf_len(out) != 0)
			abort();
		mcx_buf_free(out);
		return 0;
	}
	/* exactly one line: one JSON-RPC 2.0 object, with a result or an error */
	len = mcx_buf_len(out);
	nl = memchr(mcx_buf_ptr(out), '\n', len);
	if (len == 0 || nl != (const char *)mcx_buf_ptr(out) + len - 1)
		abort();
	answer = json_loadb((const char *)mcx_buf_ptr(out), len - 1, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(answer) || !json_is_string(json_object_get(answer, "jsonrpc")) ||
	    (json_object_get(answer, "result") == NULL) == (json_object_get(answer, "error") == NULL))
		abort();
	json_decref(answer);
	mcx_buf_free(out);
	return 0;
}
