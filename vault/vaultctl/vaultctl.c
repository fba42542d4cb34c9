/*
 * vaultctl — the command line of the mcxvault key vault, built on libmcxvault.
 *
 * One table (commands[]) that is also the help text, after wireguard-tools'
 * wg.c, and the source of `vaultctl --commands` (bash completion, tests).  A
 * command is one or two words ("status", "key rotate").  A command that is
 * one call is only a table row: cmd_call, its method, ARGS(...) rows that
 * map the command line onto params, and a printer; the others have a
 * cmd_<name>() of their own.  docs/vaultctl.md, "Adding a command".
 *
 * Exit codes: 0 success, 1 an error from the vault or the connection (or a
 * signature that does not verify), 2 bad usage.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mcxvault.h"
#include "mcx/buf.h"
#include "mcx/safety.h"
#include "mcx/util.h"
#include "vault/audit/audit_chain.h"

#define PROG "vaultctl"
#define DEFAULT_CONFIG "/etc/mcxvault/vault.conf"
#define EXIT_VAULT 1
#define EXIT_USAGE 2
#define INPUT_MAX (64u * 1024u * 1024u)
#define MAX_POSITIONAL 4
#define MAX_ARGS 16        /* rows of struct arg per command */

struct ctx {
	const char *socket_path;    /* NULL: libmcxvault's default rules */
	char *socket_owned;         /* from a config file */
	int timeout_ms;
	int json;                   /* --json: print the raw JSON result */
	struct mcxvault *v;         /* connected on first use */
	const struct command *cmd;
	const char *values[MAX_ARGS];   /* parse_command(): the value of each row of cmd->args */
};

/*
 * How a command's arguments become the method's params: one row per
 * positional argument (option NULL, in order) or option.  cmd_call() and
 * the handlers that use parse_command() read them; see "Adding a command"
 * in docs/vaultctl.md.
 */
enum arg_kind {
	ARG_END,      /* the end of the rows: { NULL } */
	ARG_STRING,   /* the text, as a JSON string */
	ARG_INT,      /* a decimal integer */
	ARG_FLAG,     /* an option without a value: true */
	ARG_LIST,     /* a repeatable option: an array of its values */
	ARG_TEXT,     /* a string given as it is, as @FILE, or - for stdin (trailing newlines dropped) */
	ARG_JSON,     /* JSON given as it is, as @FILE, or - for stdin */
};
#define ARG_OPTIONAL 1u   /* a positional argument that may be left out (only the last ones) */
#define ARG_REQUIRED 2u   /* an option that must be given */

struct arg {
	const char *option;         /* "--time"; NULL: the next positional argument */
	const char *name;           /* the params member it sets ("claims.sub": a member of an object
	                               member); NULL: read by the handler only (arg_value()) */
	enum arg_kind kind;
	unsigned flags;
};

/* The text output of a cmd_call() command (printed only when print is set,
 * i.e. without --json): 0, or non-zero when the answer says no (exit 1 then,
 * with or without --json). */
typedef int (*printer_fn)(const json_t *params, const json_t *res, int print);

struct command {
	const char *name;           /* one or two words */
	const char *usage;          /* arguments and options after the name */
	const char *description;
	int (*handler)(struct ctx *ctx, int argc, char **argv);
	const char *methods;        /* the methods it calls, space-separated ("" for none) */
	const struct arg *args;     /* for cmd_call() and parse_command(); NULL-terminated */
	printer_fn print;           /* for cmd_call(); NULL prints the result as JSON */
};

static const struct command commands[];
static const size_t n_commands;

/* --- messages ----------------------------------------------------------- */

#define HELP_COLUMN 28

/* The usage lines of every command, or of those whose first word is group. */
static void usage_commands(FILE *f, const char *group)
{
	size_t i, glen = group != NULL ? strlen(group) : 0;
	char head[160];

	fprintf(f, "commands:\n");
	for (i = 0; i < n_commands; i++) {
		if (group != NULL && (strncmp(commands[i].name, group, glen) != 0 ||
				      (commands[i].name[glen] != ' ' && commands[i].name[glen] != '\0')))
			continue;
		snprintf(head, sizeof(head), "%s %s", commands[i].name, commands[i].usage);
		if (strlen(head) > HELP_COLUMN)
			fprintf(f, "  %s\n  %-*s  %s\n", head, HELP_COLUMN, "", commands[i].description);
		else
			fprintf(f, "  %-*s  %s\n", HELP_COLUMN, head, commands[i].description);
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s [-s SOCKET | -c CONFIG] [-t SECONDS] [--json] COMMAND [ARGS]\n"
		"       %s -h | --help | --version\n\n"
		"options:\n"
		"  -s SOCKET    the vault's socket (default: $%s, else server.socket of\n"
		"               %s when it exists, else %s)\n"
		"  -c CONFIG    read server.socket from this vaultd configuration file\n"
		"  -t SECONDS   give up on a call after this long (default %d)\n"
		"  --json       print the vault's JSON result instead of text\n\n",
		PROG, PROG, MCXVAULT_SOCKET_ENV, DEFAULT_CONFIG, MCXVAULT_DEFAULT_SOCKET,
		MCXVAULT_DEFAULT_TIMEOUT_MS / 1000);
	usage_commands(f, NULL);
}

/* Bad usage of the current command: message, the command's usage, exit 2. */
static int usage_error(struct ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage_error(struct ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", PROG);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (ctx != NULL && ctx->cmd != NULL)
		fprintf(stderr, "usage: %s [options] %s %s\n", PROG, ctx->cmd->name, ctx->cmd->usage);
	else
		usage(stderr);
	return EXIT_USAGE;
}

/* What to do about an error, by its code (JSON-RPC, else the local MCX_ERR_*). */
static const struct {
	int code;
	const char *hint;
} error_hints[] = {
	{ MCX_RPC_PERMISSION_DENIED, "your uid lacks the role for this (vaultctl status shows your roles; "
	                             "access in vault.conf grants them)" },
	{ MCX_RPC_NOT_FOUND, "check the name: the list commands (domain list, key list, gmk list, ...) show what exists" },
	{ MCX_RPC_CONFLICT, "it exists already or was used already; nothing was changed" },
	{ MCX_RPC_HSM_UNAVAILABLE, "the token is unreachable; vaultd reconnects by itself (vaultctl status)" },
	{ MCX_RPC_POLICY_DENIED, "the vault's policy or trust refuses it (trust: vaultctl external import; "
	                         "policy: vault.conf)" },
	{ MCX_RPC_KEY_STATE, "the key version is in the wrong state (vaultctl key list DOMAIN)" },
	{ MCX_RPC_SIGNATURE_INVALID, "it does not verify with the key it names" },
	{ MCX_RPC_AUDIT_UNAVAILABLE, "nothing was done: the audit log cannot be written (vaultctl audit status)" },
	{ MCX_RPC_EXPIRED, "outside a validity period or overlap: check the time given and the certificate "
	                   "(vaultctl cert show)" },
	{ MCX_RPC_BUSY, "the vault is busy: retry later, or send fewer members per request (--chunk)" },
	{ MCX_RPC_METHOD_NOT_FOUND, "this vaultd does not know the method: it is older than vaultctl" },
	{ MCX_RPC_INVALID_PARAMS, "an argument was refused by the vault: see the message and docs/vaultctl.md" },
	{ MCX_ERR_CONNECTION, "is vaultd running? name its socket with -s SOCKET or -c CONFIG" },
	{ MCX_ERR_TIMEOUT, "no answer in time: the vault is busy or stuck (-t SECONDS waits longer)" },
};

/* "vaultctl: <method>: <message> (<MCX_ERR name>, code N)" and, on a
 * second line, what to do about it. */
static int vault_error(const char *method, int r, const struct mcxvault_error *e)
{
	const char *name = e->name[0] != '\0' ? e->name : mcxvault_error_name(r);
	const char *msg = e->message[0] != '\0' ? e->message : mcxvault_strerror(r);
	int code = e->rpc_code != 0 ? e->rpc_code : r;

	fprintf(stderr, "%s: %s: %s (%s, code %d)\n", PROG, method, msg, name, code);
	for (size_t i = 0; i < MCX_ARRAY_SIZE(error_hints); i++)
		if (error_hints[i].code == code)
			fprintf(stderr, "%s: hint: %s\n", PROG, error_hints[i].hint);
	return EXIT_VAULT;
}

static int local_error(const char *what, const char *why)
{
	fprintf(stderr, "%s: %s: %s\n", PROG, what, why);
	return EXIT_VAULT;
}

/* --- arguments ---------------------------------------------------------- */

struct opt {
	const char *name;           /* "--digest" */
	const char **value;         /* set for an option with an argument */
	int *flag;                  /* set to 1 for a flag */
};

/*
 * Splits a command's arguments into its options (and the global --json,
 * accepted anywhere) and at most max positional arguments.  "-" is a
 * positional argument (stdin), "--" ends the options.
 */
static int parse_args(struct ctx *ctx, int argc, char **argv, const struct opt *opts,
		      char **pos, int min, int max, int *npos)
{
	int i, j, only_pos = 0;

	*npos = 0;
	for (i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (!only_pos && strcmp(a, "--") == 0) {
			only_pos = 1;
			continue;
		}
		if (!only_pos && a[0] == '-' && a[1] != '\0') {
			if (strcmp(a, "--json") == 0) {
				ctx->json = 1;
				continue;
			}
			for (j = 0; opts != NULL && opts[j].name != NULL; j++)
				if (strcmp(a, opts[j].name) == 0)
					break;
			if (opts == NULL || opts[j].name == NULL)
				return usage_error(ctx, "unknown option %s", a);
			if (opts[j].value != NULL) {
				if (i + 1 >= argc)
					return usage_error(ctx, "%s needs a value", a);
				*opts[j].value = argv[++i];
			} else {
				*opts[j].flag = 1;
			}
			continue;
		}
		if (*npos >= max)
			return usage_error(ctx, "too many arguments");
		pos[(*npos)++] = argv[i];
	}
	if (*npos < min)
		return usage_error(ctx, "missing arguments");
	return 0;
}

static int parse_int(const char *s, long long min, long long max, long long *out)
{
	char *end = NULL;
	long long n;

	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

/* A 32-octet digest given as 64 hex digits. */
static int parse_digest(const char *hex, struct mcx_buf **out)
{
	int r = MCX_ERR_INTERNAL;
	struct mcx_buf *b = NULL;

	*out = NULL;
	MCX_ENSURE_ALLOC(b = mcx_buf_new(MCXVAULT_DIGEST_LEN));
	MCX_ENSURE(strlen(hex) == 2 * MCXVAULT_DIGEST_LEN, MCX_ERR_INVALID_ARGUMENT);
	MCX_GUARD(mcx_hex_decode(b, hex, strlen(hex)));
	MCX_ENSURE(mcx_buf_len(b) == MCXVAULT_DIGEST_LEN, MCX_ERR_INVALID_ARGUMENT);
	*out = b;
	b = NULL;
	r = MCX_OK;
out:
	mcx_buf_free(b);
	return r;
}

/* Reads a whole file ("-" or NULL: stdin) into a bounded buffer. */
static int read_input(const char *path, struct mcx_buf **out)
{
	int r = MCX_ERR_INTERNAL, fd = -1;
	struct mcx_buf *b = NULL;
	uint8_t *p = NULL;
	ssize_t n;

	*out = NULL;
	MCX_ENSURE_ALLOC(b = mcx_buf_new(INPUT_MAX));
	if (path == NULL || strcmp(path, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		MCX_BAIL(MCX_ERR_SYSTEM);
	for (;;) {
		size_t chunk = mcx_buf_avail(b) < 65536 ? mcx_buf_avail(b) : 65536;
		if (chunk == 0) {
			errno = EFBIG;
			MCX_BAIL(MCX_ERR_NO_BUFFER_SPACE);
		}
		MCX_GUARD(mcx_buf_reserve(b, chunk, &p));
		n = read(fd, p, chunk);
		MCX_GUARD(mcx_buf_consume_end(b, n > 0 ? chunk - (size_t)n : chunk));
		if (n == 0)
			break;
		if (n < 0 && errno != EINTR)
			MCX_BAIL(MCX_ERR_SYSTEM);
	}
	*out = b;
	b = NULL;
	r = MCX_OK;
out:
	if (fd > STDIN_FILENO) {
		int saved = errno;
		close(fd);
		errno = saved;
	}
	mcx_buf_free(b);
	return r;
}

/* --- the connection ----------------------------------------------------- */

/* Reads server.socket from a vaultd configuration file. */
static int socket_from_config(const char *path, char **out)
{
	config_t cfg;
	const char *s = NULL;
	int ok = 0;

	*out = NULL;
	config_init(&cfg);
	if (!config_read_file(&cfg, path)) {
		if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
			fprintf(stderr, "%s: %s: %s\n", PROG, path, strerror(errno));
		else
			fprintf(stderr, "%s: %s:%d: %s\n", PROG, path, config_error_line(&cfg),
				config_error_text(&cfg));
		goto out;
	}
	if (!config_lookup_string(&cfg, "server.socket", &s))
		s = MCXVAULT_DEFAULT_SOCKET;
	if ((*out = strdup(s)) == NULL)
		goto out;
	ok = 1;
out:
	config_destroy(&cfg);
	return ok ? 0 : -1;
}

/* The connection, opened on first use; NULL after printing why not. */
static struct mcxvault *vault(struct ctx *ctx)
{
	struct mcxvault_error e;
	const char *path;
	int r;

	if (ctx->v != NULL)
		return ctx->v;
	path = mcxvault_socket_path(ctx->socket_path);
	if ((r = mcxvault_connect(ctx->socket_path, &ctx->v)) != 0) {
		memset(&e, 0, sizeof(e));
		snprintf(e.message, sizeof(e.message), "%s: %s", path,
			 r == MCX_ERR_CONNECTION ? strerror(errno) : mcxvault_strerror(r));
		vault_error("connect", r, &e);
		return NULL;
	}
	if ((r = mcxvault_set_timeout(ctx->v, ctx->timeout_ms)) != 0) {
		mcxvault_close(ctx->v);
		ctx->v = NULL;
		fprintf(stderr, "%s: invalid timeout\n", PROG);
		return NULL;
	}
	return ctx->v;
}

/*
 * Calls method with params (a new reference, consumed; NULL means out of
 * memory) for the methods without a typed helper in libmcxvault.  0 with
 * *res set, or EXIT_VAULT after printing why.
 */
static int call(struct ctx *ctx, const char *method, json_t *params, json_t **res)
{
	struct mcxvault_error e;
	int r;

	*res = NULL;
	if (params == NULL)
		return local_error(method, "out of memory");
	if (vault(ctx) == NULL) {
		json_decref(params);
		return EXIT_VAULT;
	}
	r = mcxvault_call(ctx->v, method, params, res, &e);
	json_decref(params);
	return r != 0 ? vault_error(method, r, &e) : 0;
}

/* --- output ------------------------------------------------------------- */

static void print_json(const json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
}

/* A JSON scalar as text for a table cell. */
static const char *cell(const json_t *j, char *tmp, size_t tmplen)
{
	if (json_is_string(j))
		return json_string_value(j);
	if (json_is_integer(j)) {
		snprintf(tmp, tmplen, "%lld", (long long)json_integer_value(j));
		return tmp;
	}
	if (json_is_boolean(j))
		return json_is_true(j) ? "yes" : "no";
	return "-";
}

/*
 * Prints an aligned table: a header row and, for each object in rows, the
 * members named by keys (same order as the header).
 */
static void print_table(const char *const *header, const char *const *keys, size_t ncols, const json_t *rows)
{
	size_t w[8] = { 0 }, i, c;
	char tmp[32];
	const json_t *row;

	if (ncols > MCX_ARRAY_SIZE(w))
		ncols = MCX_ARRAY_SIZE(w);
	for (c = 0; c < ncols; c++)
		w[c] = strlen(header[c]);
	json_array_foreach(rows, i, row)
		for (c = 0; c < ncols; c++) {
			size_t len = strlen(cell(json_object_get(row, keys[c]), tmp, sizeof(tmp)));
			if (len > w[c])
				w[c] = len;
		}
	for (c = 0; c < ncols; c++) {
		if (c + 1 < ncols)
			printf("%-*s  ", (int)w[c], header[c]);
		else
			printf("%s\n", header[c]);
	}
	json_array_foreach(rows, i, row)
		for (c = 0; c < ncols; c++) {
			const char *s = cell(json_object_get(row, keys[c]), tmp, sizeof(tmp));
			if (c + 1 < ncols)
				printf("%-*s  ", (int)w[c], s);
			else
				printf("%s\n", s);
		}
}

/* "name:  value" lines for the members of obj named in names that are present. */
static void print_fields(const json_t *obj, const char *const *names, size_t n)
{
	char tmp[32], label[40];
	size_t i;

	for (i = 0; i < n; i++) {
		const json_t *v = json_object_get(obj, names[i]);
		if (v == NULL || json_is_null(v))
			continue;
		snprintf(label, sizeof(label), "%s:", names[i]);
		printf("%-17s %s\n", label, cell(v, tmp, sizeof(tmp)));
	}
}

static void print_keys(const json_t *keys)
{
	/* DESTROY AT last, and only when some version is scheduled: the table
	 * (and scripts that read it) stay as they were for everyone else */
	static const char *const header[] = { "PURPOSE", "VERSION", "STATE", "CREATED", "KID", "DESTROY AT" };
	static const char *const names[] = { "purpose", "version", "state", "created", "kid", "destroy_at" };
	size_t i, ncols = MCX_ARRAY_SIZE(header) - 1;
	const json_t *k;

	json_array_foreach(keys, i, k)
		if (json_is_string(json_object_get(k, "destroy_at")))
			ncols = MCX_ARRAY_SIZE(header);
	print_table(header, names, ncols, keys);
}

static void print_domain(const json_t *d)
{
	char tmp[32];

	printf("domain:       %s\n", cell(json_object_get(d, "domain"), tmp, sizeof(tmp)));
	printf("kms_uri:      %s\n", cell(json_object_get(d, "kms_uri"), tmp, sizeof(tmp)));
	printf("initialized:  %s\n", cell(json_object_get(d, "initialized"), tmp, sizeof(tmp)));
	if (json_array_size(json_object_get(d, "keys")) > 0) {
		printf("\n");
		print_keys(json_object_get(d, "keys"));
	}
}

/* Joins the strings of a JSON array with ", " ("-" when empty). */
static void print_list(const json_t *a)
{
	size_t i;
	const json_t *s;
	char tmp[32];

	if (json_array_size(a) == 0)
		printf("-");
	json_array_foreach(a, i, s)
		printf("%s%s", i > 0 ? ", " : "", cell(s, tmp, sizeof(tmp)));
	printf("\n");
}

/* r||s as a DER ECDSA-Sig-Value (RFC 3279) for openssl and friends. */
static size_t der_integer(uint8_t *out, const uint8_t v[32])
{
	size_t i = 0, n, o = 0;

	while (i < 31 && v[i] == 0)
		i++;
	n = 32 - i;
	out[o++] = 0x02;
	out[o++] = (uint8_t)(n + (v[i] & 0x80 ? 1 : 0));
	if (v[i] & 0x80)
		out[o++] = 0x00;
	memcpy(out + o, v + i, n);
	return o + n;
}

static size_t der_signature(uint8_t out[72], const uint8_t sig[MCXVAULT_SIGNATURE_LEN])
{
	size_t n = 2;

	n += der_integer(out + n, sig);
	n += der_integer(out + n, sig + 32);
	out[0] = 0x30;
	out[1] = (uint8_t)(n - 2);
	return n;
}

/* --- table-driven arguments (struct arg) ---------------------------------- */

/* The value given for the row of ctx->cmd->args whose option (or, for a
 * positional argument, params name) is key; NULL when not given. */
static const char *arg_value(const struct ctx *ctx, const char *key)
{
	const struct arg *a = ctx->cmd->args;

	for (size_t i = 0; a != NULL && a[i].kind != ARG_END; i++) {
		const char *k = a[i].option != NULL ? a[i].option : a[i].name;
		if (k != NULL && strcmp(k, key) == 0)
			return ctx->values[i];
	}
	return NULL;
}

/* The value of the n-th positional argument (from 0); NULL when not given. */
static const char *arg_positional(const struct ctx *ctx, int n)
{
	const struct arg *a = ctx->cmd->args;

	for (size_t i = 0; a != NULL && a[i].kind != ARG_END; i++)
		if (a[i].option == NULL && n-- == 0)
			return ctx->values[i];
	return NULL;
}

/* The text of an ARG_TEXT or ARG_JSON value: as it is, @FILE, or - (stdin). */
static int arg_text(const char *value, char **out)
{
	struct mcx_buf *b = NULL;
	const char *path = value[0] == '@' ? value + 1 : value;
	size_t len;

	*out = NULL;
	if (value[0] != '@' && strcmp(value, "-") != 0)
		return (*out = strdup(value)) != NULL ? 0 : local_error("arguments", "out of memory");
	if (read_input(path, &b) != 0)
		return local_error(strcmp(path, "-") != 0 ? path : "stdin", strerror(errno));
	len = mcx_buf_len(b);
	if (memchr(mcx_buf_ptr(b), '\0', len) != NULL || (*out = malloc(len + 1)) == NULL) {
		mcx_buf_free(b);
		return local_error(path, "not a text file");
	}
	memcpy(*out, mcx_buf_ptr(b), len);
	while (len > 0 && ((*out)[len - 1] == '\n' || (*out)[len - 1] == '\r'))
		len--;
	(*out)[len] = '\0';
	mcx_buf_free(b);
	return 0;
}

/* Sets params member name ("a" or "a.b": member b of object member a) to v (consumed). */
static int set_member(json_t *params, const char *name, json_t *v)
{
	const char *dot = strchr(name, '.');
	char head[64];
	json_t *obj;

	if (v == NULL)
		return -1;
	if (dot == NULL)
		return json_object_set_new(params, name, v);
	snprintf(head, sizeof(head), "%.*s", (int)(dot - name), name);
	if ((obj = json_object_get(params, head)) == NULL) {
		if (json_object_set_new(params, head, json_object()) != 0)
			goto fail;
		obj = json_object_get(params, head);
	}
	if (!json_is_object(obj))
		goto fail;
	return json_object_set_new(obj, dot + 1, v);
fail:
	json_decref(v);
	return -1;
}

/*
 * Parses a command's arguments by its rows (ctx->cmd->args) into
 * ctx->values and, for the rows with a name, into *params_out (a new
 * object).  --json is accepted anywhere; "--" ends the options.  0, or the
 * exit code after saying what is wrong.
 */
static int parse_command(struct ctx *ctx, int argc, char **argv, json_t **params_out)
{
	const struct arg *a = ctx->cmd->args;
	json_t *params = NULL, *lists[MAX_ARGS] = { NULL };
	int i, only_pos = 0, stdin_uses = 0, ret = 0;
	size_t j, n = 0;

	*params_out = NULL;
	memset(ctx->values, 0, sizeof(ctx->values));
	while (a != NULL && a[n].kind != ARG_END)
		n++;
	if (n > MAX_ARGS)
		return local_error(ctx->cmd->name, "too many argument rows (MAX_ARGS)");
	for (i = 0; i < argc; i++) {
		const char *s = argv[i];
		if (!only_pos && strcmp(s, "--") == 0) {
			only_pos = 1;
			continue;
		}
		if (!only_pos && s[0] == '-' && s[1] != '\0') {
			if (strcmp(s, "--json") == 0) {
				ctx->json = 1;
				continue;
			}
			for (j = 0; j < n && (a[j].option == NULL || strcmp(a[j].option, s) != 0); j++)
				;
			if (j == n) {
				ret = usage_error(ctx, "unknown option %s", s);
				goto out;
			}
			if (a[j].kind == ARG_FLAG) {
				ctx->values[j] = "true";
				continue;
			}
			if (i + 1 >= argc) {
				ret = usage_error(ctx, "%s needs a value", s);
				goto out;
			}
			if (ctx->values[j] != NULL && a[j].kind != ARG_LIST) {
				ret = usage_error(ctx, "%s given twice", s);
				goto out;
			}
			ctx->values[j] = argv[++i];
			if (a[j].kind == ARG_LIST &&
			    ((lists[j] == NULL && (lists[j] = json_array()) == NULL) ||
			     json_array_append_new(lists[j], json_string(argv[i])) != 0)) {
				ret = usage_error(ctx, "%s: not UTF-8 text", s);
				goto out;
			}
			continue;
		}
		for (j = 0; j < n && (a[j].option != NULL || ctx->values[j] != NULL); j++)
			;
		if (j == n) {
			ret = usage_error(ctx, "too many arguments");
			goto out;
		}
		ctx->values[j] = argv[i];
	}
	for (j = 0; j < n; j++) {
		if (ctx->values[j] == NULL && a[j].option == NULL && !(a[j].flags & ARG_OPTIONAL)) {
			ret = usage_error(ctx, "missing arguments");
			goto out;
		}
		if (ctx->values[j] == NULL && (a[j].flags & ARG_REQUIRED)) {
			ret = usage_error(ctx, "%s is required", a[j].option);
			goto out;
		}
		if (ctx->values[j] != NULL && (a[j].kind == ARG_TEXT || a[j].kind == ARG_JSON) &&
		    (strcmp(ctx->values[j], "-") == 0 || strcmp(ctx->values[j], "@-") == 0) && ++stdin_uses > 1) {
			ret = usage_error(ctx, "only one argument can be - (stdin)");
			goto out;
		}
	}
	if ((params = json_object()) == NULL) {
		ret = local_error(ctx->cmd->name, "out of memory");
		goto out;
	}
	for (j = 0; j < n; j++) {
		const char *v = ctx->values[j], *what = a[j].option != NULL ? a[j].option : a[j].name;
		long long num;
		json_t *jv = NULL;
		char *text = NULL;
		json_error_t jerr;

		if (v == NULL)
			continue;
		switch (a[j].kind) {
		case ARG_INT:
			if (parse_int(v, INT64_MIN, INT64_MAX, &num) != 0) {
				ret = usage_error(ctx, "%s: not a number: %s", what, v);
				goto out;
			}
			jv = json_integer(num);
			break;
		case ARG_FLAG:
			jv = json_true();
			break;
		case ARG_LIST:
			jv = lists[j];
			lists[j] = NULL;
			break;
		case ARG_TEXT:
		case ARG_JSON:
			if ((ret = arg_text(v, &text)) != 0)
				goto out;
			if (a[j].kind == ARG_TEXT) {
				jv = json_string(text);
			} else if ((jv = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr)) == NULL) {
				ret = usage_error(ctx, "%s: not JSON: %s (line %d)", what, jerr.text, jerr.line);
				free(text);
				goto out;
			}
			free(text);
			break;
		default:
			jv = json_string(v);
			break;
		}
		if (a[j].name == NULL) {
			json_decref(jv);
			continue;
		}
		if (set_member(params, a[j].name, jv) != 0) {
			ret = usage_error(ctx, "%s: not UTF-8 text, or not where an object is", what);
			goto out;
		}
	}
	*params_out = params;
	params = NULL;
out:
	for (j = 0; j < MAX_ARGS; j++)
		json_decref(lists[j]);
	json_decref(params);
	return ret;
}

/*
 * A command that is one call: params from its rows, text by its printer.
 * follow_pages: the method answers a page at a time ({"groups":[...],
 * "next": cursor}); without --limit or --after the operator wants
 * everything, so every page is fetched and joined into the first; with
 * either, one page (and the printer's "more:" hint).
 */
static int call_and_print(struct ctx *ctx, int argc, char **argv, int follow_pages)
{
	json_t *params = NULL, *res = NULL, *more = NULL, *req;
	const char *array = "groups";
	int ret;

	if ((ret = parse_command(ctx, argc, argv, &params)) != 0)
		return ret;
	if ((ret = call(ctx, ctx->cmd->methods, json_incref(params), &res)) != 0)
		goto out;
	while (follow_pages && json_object_get(params, "limit") == NULL && json_object_get(params, "after") == NULL &&
	       json_is_string(json_object_get(res, "next"))) {
		if ((req = json_deep_copy(params)) == NULL || json_object_set(req, "after", json_object_get(res, "next")) != 0) {
			json_decref(req);
			ret = EXIT_VAULT;
			goto out;
		}
		if ((ret = call(ctx, ctx->cmd->methods, req, &more)) != 0)
			goto out;
		json_array_extend(json_object_get(res, array), json_object_get(more, array));
		json_object_del(res, "next");
		if (json_object_get(more, "next") != NULL)
			json_object_set(res, "next", json_object_get(more, "next"));
		json_decref(more);
		more = NULL;
	}
	if (ctx->json || ctx->cmd->print == NULL)
		print_json(res);
	if (ctx->cmd->print != NULL && ctx->cmd->print(params, res, !ctx->json) != 0)
		ret = EXIT_VAULT;
out:
	json_decref(more);
	json_decref(params);
	json_decref(res);
	return ret;
}

static int cmd_call(struct ctx *ctx, int argc, char **argv)
{
	return call_and_print(ctx, argc, argv, 0);
}

static int cmd_call_pages(struct ctx *ctx, int argc, char **argv)
{
	return call_and_print(ctx, argc, argv, 1);
}

/* --- commands ----------------------------------------------------------- */

static int cmd_help(struct ctx *ctx, int argc, char **argv)
{
	usage(stdout);
	return 0;
}

static int cmd_status(struct ctx *ctx, int argc, char **argv)
{
	struct mcxvault_error e;
	json_t *res = NULL, *hsm, *caller, *req;
	char *pos[1], tmp[32];
	int n, r, ret;

	if ((ret = parse_args(ctx, argc, argv, NULL, pos, 0, 0, &n)) != 0)
		return ret;
	if (vault(ctx) == NULL)
		return EXIT_VAULT;
	if ((r = mcxvault_status(ctx->v, &res, &e)) != 0)
		return vault_error("vault.status", r, &e);
	if (ctx->json) {
		print_json(res);
		goto out;
	}
	hsm = json_object_get(res, "hsm");
	caller = json_object_get(res, "caller");
	req = json_object_get(res, "requests");
	printf("version:      %s\n", cell(json_object_get(res, "version"), tmp, sizeof(tmp)));
	printf("uptime:       %s s\n", cell(json_object_get(res, "uptime_seconds"), tmp, sizeof(tmp)));
	printf("hsm:          %s", cell(json_object_get(hsm, "module"), tmp, sizeof(tmp)));
	printf(" (%s)", cell(json_object_get(hsm, "module_description"), tmp, sizeof(tmp)));
	printf(", token %s", cell(json_object_get(hsm, "token_label"), tmp, sizeof(tmp)));
	printf(" serial %s", cell(json_object_get(hsm, "token_serial"), tmp, sizeof(tmp)));
	printf(", %s\n", json_is_true(json_object_get(hsm, "reachable")) ? "reachable" : "UNREACHABLE");
	printf("domains:      ");
	print_list(json_object_get(res, "domains"));
	printf("requests:     %s total", cell(json_object_get(req, "total"), tmp, sizeof(tmp)));
	printf(", %s errors\n", cell(json_object_get(req, "errors"), tmp, sizeof(tmp)));
	printf("connections:  %s\n", cell(json_object_get(res, "connections"), tmp, sizeof(tmp)));
	printf("caller:       uid %s", cell(json_object_get(caller, "uid"), tmp, sizeof(tmp)));
	printf(" gid %s", cell(json_object_get(caller, "gid"), tmp, sizeof(tmp)));
	printf(" pid %s\n", cell(json_object_get(caller, "pid"), tmp, sizeof(tmp)));
	printf("roles:        ");
	print_list(json_object_get(caller, "roles"));
out:
	json_decref(res);
	return 0;
}

static int cmd_domain_init(struct ctx *ctx, int argc, char **argv)
{
	struct mcxvault_error e;
	json_t *res = NULL;
	char *pos[1];
	int n, r, ret;

	if ((ret = parse_args(ctx, argc, argv, NULL, pos, 1, 1, &n)) != 0)
		return ret;
	if (vault(ctx) == NULL)
		return EXIT_VAULT;
	if ((r = mcxvault_domain_init(ctx->v, pos[0], &res, &e)) != 0)
		return vault_error("domain.init", r, &e);
	if (ctx->json)
		print_json(res);
	else
		print_domain(res);
	json_decref(res);
	return 0;
}

static int cmd_domain_list(struct ctx *ctx, int argc, char **argv)
{
	static const char *const header[] = { "DOMAIN", "KMS_URI", "INITIALIZED", "SIGN_VERSION" };
	static const char *const names[] = { "domain", "kms_uri", "initialized", "active_sign_version" };
	struct mcxvault_error e;
	json_t *res = NULL;
	char *pos[1];
	int n, r, ret;

	if ((ret = parse_args(ctx, argc, argv, NULL, pos, 0, 0, &n)) != 0)
		return ret;
	if (vault(ctx) == NULL)
		return EXIT_VAULT;
	if ((r = mcxvault_domain_list(ctx->v, &res, &e)) != 0)
		return vault_error("domain.list", r, &e);
	if (ctx->json)
		print_json(res);
	else
		print_table(header, names, MCX_ARRAY_SIZE(header), json_object_get(res, "domains"));
	json_decref(res);
	return 0;
}

static int cmd_domain_show(struct ctx *ctx, int argc, char **argv)
{
	struct mcxvault_error e;
	json_t *res = NULL;
	char *pos[1];
	int n, r, ret;

	if ((ret = parse_args(ctx, argc, argv, NULL, pos, 1, 1, &n)) != 0)
		return ret;
	if (vault(ctx) == NULL)
		return EXIT_VAULT;
	if ((r = mcxvault_domain_show(ctx->v, pos[0], &res, &e)) != 0)
		return vault_error("domain.show", r, &e);
	if (ctx->json)
		print_json(res);
	else
		print_domain(res);
	json_decref(res);
	return 0;
}

static int cmd_key_list(struct ctx *ctx, int argc, char **argv)
{
	struct mcxvault_error e;
	json_t *res = NULL;
	char *pos[1];
	int n, r, ret;

	if ((ret = parse_args(ctx, argc, argv, NULL, pos, 1, 1, &n)) != 0)
		return ret;
	if (vault(ctx) == NULL)
		return EXIT_VAULT;
	if ((r = mcxvault_key_list(ctx->v, pos[0], &res, &e)) != 0)
		return vault_error("key.list", r, &e);
	if (ctx->json)
		print_json(res);
	else
		print_keys(json_object_get(res, "keys"));
	json_decref(res);
	return 0;
}

static int cmd_key_rotate(struct ctx *ctx, int argc, char **argv)
{
	struct mcxvault_error e;
	json_t *res = NULL, *prev;
	char *pos[2], tmp[32];
	int n, r, ret;
	int64_t version = 0;

	if ((ret = parse_args(ctx, argc, argv, NULL, pos, 1, 2, &n)) != 0)
		return ret;
	if (vault(ctx) == NULL)
		return EXIT_VAULT;
	if ((r = mcxvault_key_rotate(ctx->v, pos[0], n > 1 ? pos[1] : "sign", &version, &res, &e)) != 0)
		return vault_error("key.rotate", r, &e);
	if (ctx->json) {
		print_json(res);
	} else {
		printf("%s: %s version %lld is active (%s)", pos[0], n > 1 ? pos[1] : "sign",
		       (long long)version, cell(json_object_get(res, "kid"), tmp, sizeof(tmp)));
		if ((prev = json_object_get(res, "previous")) != NULL) {
			printf("; version %s", cell(json_object_get(prev, "version"), tmp, sizeof(tmp)));
			printf(" is %s", cell(json_object_get(prev, "state"), tmp, sizeof(tmp)));
		}
		printf("\n");
	}
	json_decref(res);
	return 0;
}

/* key.retire and key.cancel_retire: {domain, purpose, version[, now]}. */
static json_t *retire_params(const char *domain, const char *purpose, long long version, int now)
{
	json_t *params = json_pack("{s:s, s:s, s:I}", "domain", domain, "purpose", purpose, "version",
	                           (json_int_t)version);

	if (params != NULL && now && json_object_set_new(params, "now", json_true()) != 0) {
		json_decref(params);
		params = NULL;
	}
	return params;
}

static int cmd_key_retire(struct ctx *ctx, int argc, char **argv)
{
	struct mcxvault_error e;
	json_t *res = NULL, *params;
	char *pos[3], tmp[32];
	int n, r, ret, now = 0;
	long long version;
	const struct opt opts[] = { { "--now", NULL, &now }, { NULL, NULL, NULL } };

	if ((ret = parse_args(ctx, argc, argv, opts, pos, 3, 3, &n)) != 0)
		return ret;
	if (parse_int(pos[2], 1, INT64_MAX, &version) != 0)
		return usage_error(ctx, "invalid version %s", pos[2]);
	if (vault(ctx) == NULL)
		return EXIT_VAULT;
	if ((params = retire_params(pos[0], pos[1], version, now)) == NULL)
		return usage_error(ctx, "invalid domain or purpose");
	r = mcxvault_call(ctx->v, "key.retire", params, &res, &e);
	json_decref(params);
	if (r != 0)
		return vault_error("key.retire", r, &e);
	if (ctx->json)
		print_json(res);
	else if (json_is_string(json_object_get(res, "destroy_at")))
		printf("%s: %s version %lld is verify-only; its destruction is scheduled for %s "
		       "(vaultctl key cancel-retire to keep it)\n",
		       pos[0], pos[1], version, cell(json_object_get(res, "destroy_at"), tmp, sizeof(tmp)));
	else
		printf("%s: %s version %lld is retired\n", pos[0], pos[1], version);
	json_decref(res);
	return 0;
}

static int cmd_key_cancel_retire(struct ctx *ctx, int argc, char **argv)
{
	struct mcxvault_error e;
	json_t *res = NULL, *params;
	char *pos[3];
	int n, r, ret;
	long long version;

	if ((ret = parse_args(ctx, argc, argv, NULL, pos, 3, 3, &n)) != 0)
		return ret;
	if (parse_int(pos[2], 1, INT64_MAX, &version) != 0)
		return usage_error(ctx, "invalid version %s", pos[2]);
	if (vault(ctx) == NULL)
		return EXIT_VAULT;
	if ((params = retire_params(pos[0], pos[1], version, 0)) == NULL)
		return usage_error(ctx, "invalid domain or purpose");
	r = mcxvault_call(ctx->v, "key.cancel_retire", params, &res, &e);
	json_decref(params);
	if (r != 0)
		return vault_error("key.cancel_retire", r, &e);
	if (ctx->json)
		print_json(res);
	else
		printf("%s: %s version %lld stays verify-only; its scheduled destruction is cancelled\n", pos[0], pos[1],
		       version);
	json_decref(res);
	return 0;
}

/* The data (FILE or stdin) or the --digest of sign and verify. */
static int load_payload(struct ctx *ctx, const char *file, const char *digest, struct mcx_buf **out)
{
	if (digest != NULL) {
		if (file != NULL)
			return usage_error(ctx, "give either FILE or --digest, not both");
		if (parse_digest(digest, out) != 0)
			return usage_error(ctx, "--digest needs %d hex digits (a SHA-256 digest)",
					   2 * MCXVAULT_DIGEST_LEN);
		return 0;
	}
	if (read_input(file, out) != 0)
		return local_error(file != NULL && strcmp(file, "-") != 0 ? file : "stdin", strerror(errno));
	return 0;
}

static int cmd_sign(struct ctx *ctx, int argc, char **argv)
{
	struct mcxvault_error e;
	struct mcx_buf *in = NULL;
	const char *digest = NULL;
	char *pos[2], *kid = NULL, *text = NULL;
	uint8_t sig[MCXVAULT_SIGNATURE_LEN], der[72];
	int n, r, ret, want_der = 0;
	json_t *res = NULL;
	const struct opt opts[] = {
		{ "--digest", &digest, NULL },
		{ "--der", NULL, &want_der },
		{ NULL, NULL, NULL },
	};

	if ((ret = parse_args(ctx, argc, argv, opts, pos, 1, 2, &n)) != 0)
		return ret;
	if (want_der && ctx->json)
		return usage_error(ctx, "--der and --json exclude each other");
	if ((ret = load_payload(ctx, n > 1 ? pos[1] : NULL, digest, &in)) != 0)
		goto out;
	if (vault(ctx) == NULL) {
		ret = EXIT_VAULT;
		goto out;
	}
	if ((r = mcxvault_sign(ctx->v, pos[0], mcx_buf_ptr(in), mcx_buf_len(in), digest != NULL, &kid, sig,
			       &e)) != 0) {
		ret = vault_error("sign.sign", r, &e);
		goto out;
	}
	if (want_der) {
		size_t len = der_signature(der, sig);
		if (fwrite(der, 1, len, stdout) != len)
			ret = local_error("stdout", strerror(errno));
		goto out;
	}
	if ((text = mcx_base64url_string(sig, sizeof(sig))) == NULL) {
		ret = local_error("sign", "out of memory");
		goto out;
	}
	if (ctx->json) {
		res = json_pack("{s:s, s:s, s:s}", "kid", kid, "alg", "ES256", "signature", text);
		if (res != NULL)
			print_json(res);
	} else {
		printf("%s %s\n", kid, text);
	}
out:
	json_decref(res);
	mcxvault_free(kid);
	free(text);
	mcx_buf_free(in);
	return ret;
}

static int cmd_verify(struct ctx *ctx, int argc, char **argv)
{
	struct mcxvault_error e;
	struct mcx_buf *in = NULL, *sig = NULL;
	const char *digest = NULL, *kid = NULL;
	char *pos[3], *found = NULL;
	int n, r, ret, valid = 0;
	json_t *res = NULL;
	const struct opt opts[] = {
		{ "--kid", &kid, NULL },
		{ "--digest", &digest, NULL },
		{ NULL, NULL, NULL },
	};

	if ((ret = parse_args(ctx, argc, argv, opts, pos, 2, 3, &n)) != 0)
		return ret;
	if ((sig = mcx_buf_new(2 * MCXVAULT_SIGNATURE_LEN)) == NULL) {
		ret = local_error("verify", "out of memory");
		goto out;
	}
	if (mcx_base64url_decode(sig, pos[1], strlen(pos[1])) != 0 ||
	    mcx_buf_len(sig) != MCXVAULT_SIGNATURE_LEN) {
		ret = usage_error(ctx, "SIGNATURE must be %d octets r||s in base64url", MCXVAULT_SIGNATURE_LEN);
		goto out;
	}
	if ((ret = load_payload(ctx, n > 2 ? pos[2] : NULL, digest, &in)) != 0)
		goto out;
	if (vault(ctx) == NULL) {
		ret = EXIT_VAULT;
		goto out;
	}
	if ((r = mcxvault_verify(ctx->v, pos[0], kid, mcx_buf_ptr(in), mcx_buf_len(in), digest != NULL,
				 mcx_buf_ptr(sig), &valid, &found, &e)) != 0) {
		ret = vault_error("sign.verify", r, &e);
		goto out;
	}
	if (ctx->json) {
		res = valid ? json_pack("{s:b, s:s}", "valid", 1, "kid", found) : json_pack("{s:b}", "valid", 0);
		if (res != NULL)
			print_json(res);
	} else if (valid) {
		printf("valid %s\n", found);
	} else {
		printf("invalid\n");
	}
	ret = valid ? 0 : EXIT_VAULT;
out:
	json_decref(res);
	mcxvault_free(found);
	mcx_buf_free(sig);
	mcx_buf_free(in);
	return ret;
}

static int cmd_pubkey(struct ctx *ctx, int argc, char **argv)
{
	const char *version_s = NULL, *purpose = NULL;
	char *pos[1];
	int n, ret, want_jwk = 0;
	long long version = 0;
	json_t *res = NULL, *params;
	const struct opt opts[] = {
		{ "--version", &version_s, NULL },
		{ "--purpose", &purpose, NULL },
		{ "--jwk", NULL, &want_jwk },
		{ NULL, NULL, NULL },
	};

	if ((ret = parse_args(ctx, argc, argv, opts, pos, 1, 1, &n)) != 0)
		return ret;
	if (version_s != NULL && parse_int(version_s, 1, INT64_MAX, &version) != 0)
		return usage_error(ctx, "invalid version %s", version_s);
	if (purpose != NULL && strcmp(purpose, "sign") != 0 && strcmp(purpose, "cert") != 0 &&
	    strcmp(purpose, "token") != 0)
		return usage_error(ctx, "invalid purpose %s (sign, cert or token)", purpose);
	params = json_pack("{s:s, s:s}", "domain", pos[0], "purpose", purpose != NULL ? purpose : "sign");
	if (params != NULL && version > 0 && json_object_set_new(params, "version", json_integer(version)) != 0) {
		json_decref(params);
		params = NULL;
	}
	if ((ret = call(ctx, "sign.public_key", params, &res)) != 0)
		return ret;
	if (ctx->json)
		print_json(res);
	else if (want_jwk)
		print_json(json_object_get(res, "jwk"));
	else if (json_is_string(json_object_get(res, "pem")))
		fputs(json_string_value(json_object_get(res, "pem")), stdout);
	else
		ret = local_error("sign.public_key", "result lacks pem");
	json_decref(res);
	return ret;
}

static int cmd_domain_upgrade(struct ctx *ctx, int argc, char **argv)
{
	char *pos[1];
	int n, ret;
	json_t *res = NULL;

	if ((ret = parse_args(ctx, argc, argv, NULL, pos, 1, 1, &n)) != 0)
		return ret;
	if ((ret = call(ctx, "domain.upgrade", json_pack("{s:s}", "domain", pos[0]), &res)) != 0)
		return ret;
	if (ctx->json) {
		print_json(res);
	} else {
		printf("%s: %lld trust keys created, %lld KMS certificates re-signed%s\n", pos[0],
		       (long long)json_integer_value(json_object_get(res, "keys_created")),
		       (long long)json_integer_value(json_object_get(res, "certificates_resigned")),
		       json_is_true(json_object_get(res, "changed")) ? "" : " (already up to date)");
		print_keys(json_object_get(res, "keys"));
	}
	json_decref(res);
	return 0;
}

/* The view of a KMS certificate (kms.certificate), or its signed XML. */
static int cmd_cert_show(struct ctx *ctx, int argc, char **argv)
{
	static const char *const top[] = { "version", "state", "cert_uri", "signed_by" };
	static const char *const fields[] = { "role", "kms_uri", "issuer", "id", "valid_from", "valid_to",
					      "revoked", "user_id_format", "user_key_period", "user_key_offset",
					      "parameter_set", "pub_enc_key", "pub_auth_key" };
	const char *version_s = NULL, *xml;
	char *pos[1];
	int n, ret, want_xml = 0;
	long long version = 0;
	json_t *res = NULL, *params;
	const struct opt opts[] = {
		{ "--version", &version_s, NULL },
		{ "--xml", NULL, &want_xml },
		{ NULL, NULL, NULL },
	};

	if ((ret = parse_args(ctx, argc, argv, opts, pos, 1, 1, &n)) != 0)
		return ret;
	if (want_xml && ctx->json)
		return usage_error(ctx, "--xml and --json exclude each other");
	if (version_s != NULL && parse_int(version_s, 1, UINT32_MAX, &version) != 0)
		return usage_error(ctx, "invalid version %s", version_s);
	params = json_pack("{s:s}", "domain", pos[0]);
	if (params != NULL && version > 0 && json_object_set_new(params, "version", json_integer(version)) != 0) {
		json_decref(params);
		params = NULL;
	}
	if ((ret = call(ctx, "kms.certificate", params, &res)) != 0)
		return ret;
	if (ctx->json) {
		print_json(res);
	} else if (want_xml) {
		xml = json_string_value(json_object_get(res, "xml"));
		if (xml == NULL)
			ret = local_error("kms.certificate", "the answer has no xml");
		else
			printf("%s%s", xml, xml[0] != '\0' && xml[strlen(xml) - 1] == '\n' ? "" : "\n");
	} else {
		print_fields(res, top, MCX_ARRAY_SIZE(top));
		print_fields(json_object_get(res, "certificate"), fields, MCX_ARRAY_SIZE(fields));
	}
	json_decref(res);
	return ret;
}

/* A transport key given as 32 or 64 hex digits, as base64url for the protocol. */
static char *transport_key_param(const char *hex)
{
	struct mcx_buf *b = mcx_buf_new(64);
	char *text = NULL;

	if (b != NULL && (strlen(hex) == 32 || strlen(hex) == 64) && mcx_hex_decode(b, hex, strlen(hex)) == 0)
		text = mcx_base64url_string(mcx_buf_ptr(b), mcx_buf_len(b));
	mcx_buf_free(b);   /* wiped */
	return text;
}

/* A user's key material for a key period (kms.user_keys). */
static int cmd_kms_user_keys(struct ctx *ctx, int argc, char **argv)
{
	static const char *const fields[] = { "user_uri", "user_id", "key_period_no", "valid_from", "valid_to",
					      "kms_uri", "cert_uri", "kms_version", "key_wrap", "rsk", "ssk", "pvt" };
	const char *when = NULL, *tk_hex = NULL;
	char *pos[2], *tk = NULL;
	int n, ret;
	json_t *res = NULL, *params;
	const struct opt opts[] = {
		{ "--time", &when, NULL },
		{ "--transport-key", &tk_hex, NULL },
		{ NULL, NULL, NULL },
	};

	if ((ret = parse_args(ctx, argc, argv, opts, pos, 2, 2, &n)) != 0)
		return ret;
	if (tk_hex != NULL && (tk = transport_key_param(tk_hex)) == NULL)
		return usage_error(ctx, "--transport-key needs 32 or 64 hex digits (an AES-128 or AES-256 key)");
	params = json_pack("{s:s, s:s, s:s*, s:s*}", "domain", pos[0], "user_uri", pos[1], "time", when,
			   "transport_key", tk);
	if (tk != NULL) {
		mcx_wipe(tk, strlen(tk));
		free(tk);
	}
	if ((ret = call(ctx, "kms.user_keys", params, &res)) != 0)
		return ret;
	if (ctx->json)
		print_json(res);
	else
		print_fields(res, fields, MCX_ARRAY_SIZE(fields));
	json_decref(res);
	return 0;
}

/* The signed bundle of certificates a Home KMS provisions (kms.cert_cache). */
static int cmd_kms_cert_cache(struct ctx *ctx, int argc, char **argv)
{
	char *pos[1];
	int n, ret;
	json_t *res = NULL;
	const char *bundle;

	if ((ret = parse_args(ctx, argc, argv, NULL, pos, 1, 1, &n)) != 0)
		return ret;
	if ((ret = call(ctx, "kms.cert_cache", json_pack("{s:s}", "domain", pos[0]), &res)) != 0)
		return ret;
	if (ctx->json) {
		print_json(res);
	} else if ((bundle = json_string_value(json_object_get(res, "bundle"))) != NULL) {
		printf("%s\n", bundle);
	} else {
		ret = local_error("kms.cert_cache", "the answer has no bundle");
	}
	json_decref(res);
	return ret;
}

/* A NUL-free text file as a string (for certificates and keys). */
static int read_text(const char *path, char **out)
{
	struct mcx_buf *b = NULL;
	char *s;

	*out = NULL;
	if (read_input(path, &b) != 0)
		return local_error(strcmp(path, "-") != 0 ? path : "stdin", strerror(errno));
	if (memchr(mcx_buf_ptr(b), '\0', mcx_buf_len(b)) != NULL || (s = malloc(mcx_buf_len(b) + 1)) == NULL) {
		mcx_buf_free(b);
		return local_error(path, "not a text file");
	}
	memcpy(s, mcx_buf_ptr(b), mcx_buf_len(b));
	s[mcx_buf_len(b)] = '\0';
	mcx_buf_free(b);
	*out = s;
	return 0;
}

static void print_external(const json_t *e)
{
	static const char *const fields[] = { "kms_uri", "cert_uri", "role", "valid_from", "valid_to", "imported",
					      "user_key_period", "user_key_offset" };

	print_fields(e, fields, MCX_ARRAY_SIZE(fields));
}

/* A public key file as external.import takes it: a JSON object is a JWK;
 * anything else is sent as PEM text for the vault to judge. */
static json_t *key_param(const char *text)
{
	json_t *jkey = json_loads(text, JSON_REJECT_DUPLICATES, NULL);

	if (!json_is_object(jkey)) {
		json_decref(jkey);
		jkey = json_string(text);
	}
	return jkey;
}

/* Trusts an external KMS: its certificate, its cert key and (optionally) its
 * token key, PEM or JWK. */
static int cmd_external_import(struct ctx *ctx, int argc, char **argv)
{
	char *pos[3], *cert = NULL, *key = NULL, *token = NULL, tmp[32];
	const char *token_file = NULL;
	int n, ret;
	json_t *res = NULL, *jkey = NULL, *jtoken = NULL, *params = NULL;
	const struct opt opts[] = {
		{ "--token-key", &token_file, NULL },
		{ NULL, NULL, NULL },
	};

	if ((ret = parse_args(ctx, argc, argv, opts, pos, 3, 3, &n)) != 0)
		return ret;
	if ((strcmp(pos[1], "-") == 0) + (strcmp(pos[2], "-") == 0) +
	    (token_file != NULL && strcmp(token_file, "-") == 0) > 1)
		return usage_error(ctx, "only one of CERT_FILE, KEY_FILE and --token-key can be stdin");
	if ((ret = read_text(pos[1], &cert)) != 0 || (ret = read_text(pos[2], &key)) != 0 ||
	    (token_file != NULL && (ret = read_text(token_file, &token)) != 0))
		goto out;
	if ((jkey = key_param(key)) == NULL) {
		ret = local_error(pos[2], "not UTF-8 text");
		goto out;
	}
	if (token != NULL && (jtoken = key_param(token)) == NULL) {
		ret = local_error(token_file, "not UTF-8 text");
		goto out;
	}
	params = json_pack("{s:s, s:s, s:O, s:O*}", "domain", pos[0], "certificate", cert, "signing_key", jkey,
	                   "token_key", jtoken);
	if ((ret = call(ctx, "external.import", params, &res)) != 0)
		goto out;
	if (ctx->json) {
		print_json(res);
	} else {
		printf("%s now trusts %s%s\n", pos[0], cell(json_object_get(res, "kms_uri"), tmp, sizeof(tmp)),
		       jtoken != NULL ? "" : " (no token key: its ID tokens and redirect responses stay untrusted)");
		print_external(res);
	}
out:
	json_decref(res);
	json_decref(jkey);
	json_decref(jtoken);
	free(cert);
	free(key);
	free(token);
	return ret;
}

static int print_external_list(const json_t *params, const json_t *res, int print)
{
	static const char *const header[] = { "KMS_URI", "STATE", "CERT_URI", "VALID_FROM", "VALID_TO", "IMPORTED",
		                              "REVOKED_AT", "REASON" };
	static const char *const names[] = { "kms_uri", "state", "cert_uri", "valid_from", "valid_to", "imported",
		                             "revoked_at", "revocation_reason" };

	(void)params;
	if (print)
		print_table(header, names, MCX_ARRAY_SIZE(header), json_object_get(res, "external"));
	return 0;
}

static int print_external_remove(const json_t *params, const json_t *res, int print)
{
	(void)res;
	if (print)
		printf("%s no longer trusts %s\n", json_string_value(json_object_get(params, "domain")),
		       json_string_value(json_object_get(params, "kms_uri")));
	return 0;
}

static int print_external_revoke(const json_t *params, const json_t *res, int print)
{
	if (print)
		printf("%s: %s revoked at %s (%s); it stays listed as revoked\n",
		       json_string_value(json_object_get(params, "domain")),
		       json_string_value(json_object_get(params, "kms_uri")),
		       json_string_value(json_object_get(res, "revoked_at")),
		       json_string_value(json_object_get(res, "revocation_reason")));
	return 0;
}

/* --- gmk (GMS) -------------------------------------------------------------- */

/* "group X: GMK-ID 0a1b2c3d, version 2 (current)" for gmk.create / gmk.rekey. */
static int print_gmk_new(const json_t *params, const json_t *res, int print)
{
	char tmp[32];

	if (print) {
		printf("group %s: GMK-ID %s, ", json_string_value(json_object_get(params, "group")),
		       cell(json_object_get(res, "gmk_id"), tmp, sizeof(tmp)));
		printf("version %s (current)\n", cell(json_object_get(res, "version"), tmp, sizeof(tmp)));
	}
	return 0;
}

static int print_gmk_revoke(const json_t *params, const json_t *res, int print)
{
	char tmp[32];

	if (print)
		printf("group %s: %s GMK(s) destroyed\n", json_string_value(json_object_get(params, "group")),
		       cell(json_object_get(res, "revoked"), tmp, sizeof(tmp)));
	return 0;
}

/* A list result's paging cursor, when the vault sends one: on stderr, so
 * that stdout stays the table. */
static void print_next(const json_t *res, const char *command, const json_t *params)
{
	const char *next = json_string_value(json_object_get(res, "next"));

	if (next != NULL)
		fprintf(stderr, "more: vaultctl %s %s --after %s\n", command,
		        json_string_value(json_object_get(params, "domain")), next);
}

static int print_gmk_list(const json_t *params, const json_t *res, int print)
{
	static const char *const header[] = { "GROUP", "VERSIONS", "CURRENT_GMK_ID", "CREATED" };
	static const char *const names[] = { "group", "versions", "gmk_id", "created" };
	json_t *rows = json_array(), *g;
	size_t i;

	if (!print || rows == NULL)
		goto out;
	json_array_foreach(json_object_get(res, "groups"), i, g) {
		json_t *cur = json_object_get(g, "current");
		json_array_append_new(rows, json_pack("{s:O, s:O, s:O*, s:O*}", "group", json_object_get(g, "group"),
						      "versions", json_object_get(g, "versions"), "gmk_id",
						      json_object_get(cur, "gmk_id"), "created", json_object_get(cur, "created")));
	}
	print_table(header, names, MCX_ARRAY_SIZE(header), rows);
	print_next(res, "gmk list", params);
out:
	json_decref(rows);
	return 0;
}

static int print_gmk_show(const json_t *params, const json_t *res, int print)
{
	static const char *const header[] = { "GMK_ID", "VERSION", "STATE", "CREATED", "DISTRIBUTABLE_UNTIL" };
	static const char *const names[] = { "gmk_id", "version", "state", "created", "distributable_until" };

	if (print) {
		printf("group:        %s\n\n", json_string_value(json_object_get(params, "group")));
		print_table(header, names, MCX_ARRAY_SIZE(header), json_object_get(res, "keys"));
	}
	return 0;
}

/* Members from a file: one per line, "URI [KMS_URI]"; blank lines and # comments skipped. */
static int gmk_members(const char *path, json_t **out)
{
	json_t *a = NULL;
	char *text = NULL, *line, *save = NULL;
	int ret = 0;

	*out = NULL;
	if ((ret = read_text(path, &text)) != 0)
		return ret;
	if ((a = json_array()) == NULL) {
		ret = local_error(path, "out of memory");
		goto out;
	}
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char *uri, *kms, *rest = NULL;
		if ((uri = strtok_r(line, " \t\r", &rest)) == NULL || uri[0] == '#')
			continue;
		kms = strtok_r(NULL, " \t\r", &rest);
		if (strtok_r(NULL, " \t\r", &rest) != NULL) {
			ret = local_error(path, "a member line is \"URI [KMS_URI]\"");
			goto out;
		}
		json_array_append_new(a, json_pack("{s:s, s:s*}", "uri", uri, "kms_uri", kms));
	}
	*out = a;
	a = NULL;
out:
	json_decref(a);
	free(text);
	return ret;
}

/* One line per member: URI KMS_URI GUK_ID I_MESSAGE, or URI KMS_URI error CODE MESSAGE (to stderr too). */
/* One line of "vaultctl gmk distribute" output per member. */
static int gmk_print_member(json_t *m)
{
	json_t *e = json_object_get(m, "error");
	char tmp[32];

	if (e != NULL) {
		printf("%s %s error %s %s\n", json_string_value(json_object_get(m, "uri")),
		       json_string_value(json_object_get(m, "kms_uri")), cell(json_object_get(e, "code"), tmp, sizeof(tmp)),
		       json_string_value(json_object_get(e, "message")));
		return 1;
	}
	printf("%s %s %s %s\n", json_string_value(json_object_get(m, "uri")),
	       json_string_value(json_object_get(m, "kms_uri")), json_string_value(json_object_get(m, "guk_id")),
	       json_string_value(json_object_get(m, "i_message")));
	return 0;
}

/* Progress on stderr: a bar redrawn in place on a terminal; with
 * --progress and no terminal, one line per chunk (for logs). */
static void distribute_progress(size_t done, size_t total, int tty)
{
	int width = 40, filled = total > 0 ? (int)(done * (size_t)width / total) : width;

	if (tty)
		fprintf(stderr, "\r[%.*s%*s] %zu/%zu members", filled, "########################################",
		        width - filled, "", done, total);
	else
		fprintf(stderr, "progress: %zu/%zu members", done, total);
	if (done == total || !tty)
		fputc('\n', stderr);
	fflush(stderr);
}

/*
 * gmk distribute and server-key distribute.  The rows of the command give
 * every param but members (--members FILE or the positional FILE); the
 * members are sent in chunks, so a long batch shows progress and no single
 * request grows past the vault's request limit.  Every chunk is pinned to
 * the key id (gmk_id / key_id) and time the first chunk used, so a rekey
 * half way cannot split the group between two keys.
 */
static int cmd_distribute(struct ctx *ctx, int argc, char **argv)
{
	static const char *const id_names[] = { "gmk_id", "key_id" };
	const char *file, *chunk_text, *owner_name, *owner, *key_id = NULL, *v_s;
	int ret, tty = isatty(STDERR_FILENO), failed_any = 0, progress;
	size_t i, k, total, done = 0, sent = 0, chunk = 1000;
	long long num;
	json_t *params = NULL, *req = NULL, *res = NULL, *members = NULL, *part = NULL, *all = NULL, *reasons = NULL;
	json_t *guk_ids = NULL, *m, *v;
	size_t shared = 0;

	if ((ret = parse_command(ctx, argc, argv, &params)) != 0)
		return ret;
	file = arg_value(ctx, "--members");
	if (file == NULL)
		file = arg_positional(ctx, 3);   /* the older positional form of gmk distribute */
	owner_name = json_object_get(params, "group") != NULL ? "group" : "server_uri";
	owner = json_string_value(json_object_get(params, owner_name));
	if (strcmp(ctx->cmd->methods, "gmk.distribute") == 0 && json_object_get(params, "sender_uri") == NULL) {
		ret = usage_error(ctx, "gmk distribute needs --sender URI and --members FILE");
		goto out;
	}
	if (file == NULL) {
		ret = usage_error(ctx, "%s needs --members FILE", ctx->cmd->name);
		goto out;
	}
	if ((chunk_text = arg_value(ctx, "--chunk")) != NULL) {
		if (parse_int(chunk_text, 1, 10000, &num) != 0) {
			ret = usage_error(ctx, "--chunk takes a number from 1 to 10000");
			goto out;
		}
		chunk = (size_t)num;
	}
	progress = arg_value(ctx, "--progress") != NULL;
	if ((ret = gmk_members(file, &members)) != 0)
		goto out;
	total = json_array_size(members);
	if (total == 0) {
		ret = local_error(file, "no members (one \"URI [KMS_URI]\" per line)");
		goto out;
	}
	if ((all = json_array()) == NULL || (reasons = json_object()) == NULL || (guk_ids = json_object()) == NULL) {
		ret = local_error(ctx->cmd->name, "out of memory");
		goto out;
	}
	while (done < total) {
		size_t count = total - done < chunk ? total - done : chunk;
		if ((part = json_array()) == NULL || (req = json_deep_copy(params)) == NULL) {
			ret = local_error(ctx->cmd->name, "out of memory");
			goto out;
		}
		for (i = 0; i < count; i++)
			json_array_append(part, json_array_get(members, done + i));
		json_object_set_new(req, "members", part);
		part = NULL;
		ret = call(ctx, ctx->cmd->methods, req, &res);
		req = NULL;
		if (ret != 0) {
			if (done > 0)
				fprintf(stderr, "%s: %s: stopped after %zu of %zu members (%zu distributed); the members "
				        "from line %zu of the list were not sent\n", PROG, ctx->cmd->methods, done, total,
				        sent, done + 1);
			goto out;
		}
		/* pin the key and the time the vault chose for the first chunk */
		for (k = 0; k < MCX_ARRAY_SIZE(id_names); k++)
			if (json_object_get(params, id_names[k]) == NULL &&
			    json_is_string(v = json_object_get(res, id_names[k])))
				json_object_set(params, id_names[k], v);
		if (json_object_get(params, "time") == NULL && json_is_string(v = json_object_get(res, "time")))
			json_object_set(params, "time", v);
		/* and the identity form (a SIGHUP mid-run must not mix forms) */
		if (json_object_get(params, "identities") == NULL &&
		    json_is_string(v = json_object_get(res, "identities")))
			json_object_set(params, "identities", v);
		json_array_foreach(json_object_get(res, "members"), i, m) {
			json_t *e = json_object_get(m, "error");
			if (e != NULL) {
				char reason[300];
				const char *name = json_string_value(json_object_get(json_object_get(e, "data"), "error"));
				const char *msg = json_string_value(json_object_get(e, "message"));
				json_int_t seen;
				snprintf(reason, sizeof(reason), "%s (%s)", name != NULL ? name : "error", msg != NULL ? msg : "");
				seen = json_integer_value(json_object_get(reasons, reason));
				json_object_set_new(reasons, reason, json_integer(seen + 1));
			} else {
				/* two members with one GUK-ID share an SRTP key and salt (TS
				 * 33.180 7.4.2); the vault names them within a chunk, this
				 * compares across chunks */
				const char *g = json_string_value(json_object_get(m, "guk_id"));
				const char *uri = json_string_value(json_object_get(m, "uri"));
				const char *other = g != NULL ? json_string_value(json_object_get(guk_ids, g)) : NULL;
				sent++;
				if (other != NULL && uri != NULL && strcmp(other, uri) != 0) {
					/* members that share their GUK-ID, as the vault counts them */
					shared += 1 + (json_object_get(guk_ids, other) == NULL);
					json_object_set_new(guk_ids, other, json_true());   /* counted */
					if (!ctx->json)
						fprintf(stderr, "%s: warning: %s and %s share GUK-ID %s: their SRTP keys coincide "
						        "(rekey and distribute again)\n", PROG, other, uri, g);
				} else if (g != NULL && uri != NULL) {
					json_object_set_new(guk_ids, g, json_string(uri));
				}
			}
			if (ctx->json)
				json_array_append(all, m);
			else
				failed_any |= gmk_print_member(m);
		}
		json_decref(res);
		res = NULL;
		done += count;
		if ((tty && total > chunk) || progress)
			distribute_progress(done, total, tty);
	}
	for (k = 0; k < MCX_ARRAY_SIZE(id_names); k++)
		if ((v_s = json_string_value(json_object_get(params, id_names[k]))) != NULL)
			key_id = v_s;
	if (ctx->json) {
		json_t *out = json_pack("{s:s, s:s?, s:O?, s:I, s:I, s:O, s:O}", owner_name, owner, "time",
		                        json_string_value(json_object_get(params, "time")), "purpose",
		                        json_object_get(params, "purpose"), "distributed", (json_int_t)sent, "failed",
		                        (json_int_t)(total - sent), "failed_by_reason", reasons, "members", all);
		if (out != NULL && key_id != NULL)
			json_object_set_new(out, strcmp(owner_name, "group") == 0 ? "gmk_id" : "key_id", json_string(key_id));
		if (out != NULL && json_object_get(params, "identities") != NULL)
			json_object_set(out, "identities", json_object_get(params, "identities"));
		if (out != NULL)
			json_object_set_new(out, "guk_id_collisions", json_integer((json_int_t)shared));
		print_json(out);
		json_decref(out);
	} else {
		const char *reason;
		if (strcmp(owner_name, "group") == 0)
			fprintf(stderr, "gmk %s of %s", key_id != NULL ? key_id : "?", owner);
		else
			fprintf(stderr, "server key %s (%s) of %s", key_id != NULL ? key_id : "?",
			        json_string_value(json_object_get(params, "purpose")), owner);
		fprintf(stderr, ": distributed %zu of %zu members, %zu failed\n", sent, total, total - sent);
		json_object_foreach(reasons, reason, v)
			fprintf(stderr, "  %6lld  %s\n", (long long)json_integer_value(v), reason);
		if (shared > 0)
			fprintf(stderr, "  %6zu  member(s) whose GUK-ID another member has (see the warnings above)\n", shared);
	}
	ret = failed_any || sent < total ? EXIT_VAULT : 0;
out:
	json_decref(guk_ids);
	json_decref(params);
	json_decref(req);
	json_decref(part);
	json_decref(res);
	json_decref(members);
	json_decref(all);
	json_decref(reasons);
	return ret;
}

/* --- server keys (GMS) ------------------------------------------------------- */

/* server_key.create / rekey: "server sip:s@a.example mkfc: key-id 4a1b2c3d, version 2 (current)" */
static int print_server_key(const json_t *params, const json_t *res, int print)
{
	char tmp[32];

	if (print) {
		printf("server %s %s: key-id %s", json_string_value(json_object_get(params, "server_uri")),
		       json_string_value(json_object_get(params, "purpose")), cell(json_object_get(res, "key_id"), tmp,
		                                                                     sizeof(tmp)));
		printf(", version %s (current)\n", cell(json_object_get(res, "version"), tmp, sizeof(tmp)));
	}
	return 0;
}

static int print_server_key_revoke(const json_t *params, const json_t *res, int print)
{
	char tmp[32];

	if (print)
		printf("server %s %s: %s key(s) destroyed\n", json_string_value(json_object_get(params, "server_uri")),
		       json_string_value(json_object_get(params, "purpose")),
		       cell(json_object_get(res, "revoked"), tmp, sizeof(tmp)));
	return 0;
}

static int print_server_key_list(const json_t *params, const json_t *res, int print)
{
	static const char *const header[] = { "SERVER_URI", "PURPOSE", "VERSIONS", "CURRENT_KEY_ID", "CREATED" };
	static const char *const names[] = { "server_uri", "purpose", "versions", "key_id", "created" };
	json_t *rows = json_array(), *s;
	size_t i;

	if (!print || rows == NULL)
		goto out;
	json_array_foreach(json_object_get(res, "servers"), i, s) {
		json_t *cur = json_object_get(s, "current");
		json_array_append_new(rows, json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?}", "server_uri",
		                                      json_object_get(s, "server_uri"), "purpose",
		                                      json_object_get(s, "purpose"), "versions",
		                                      json_object_get(s, "versions"), "key_id", json_object_get(cur, "key_id"),
		                                      "created", json_object_get(cur, "created")));
	}
	print_table(header, names, MCX_ARRAY_SIZE(header), rows);
	print_next(res, "server-key list", params);
out:
	json_decref(rows);
	return 0;
}

static int print_server_key_show(const json_t *params, const json_t *res, int print)
{
	static const char *const header[] = { "PURPOSE", "KEY_ID", "VERSION", "STATE", "CREATED", "DISTRIBUTABLE_UNTIL" };
	static const char *const names[] = { "purpose", "key_id", "version", "state", "created", "distributable_until" };
	json_t *rows = json_array(), *line, *k;
	size_t i, j;

	(void)params;
	if (!print || rows == NULL)
		goto out;
	printf("server:       %s\n\n", json_string_value(json_object_get(res, "server_uri")));
	json_array_foreach(json_object_get(res, "keys"), i, line)
		json_array_foreach(json_object_get(line, "keys"), j, k) {
			json_t *row = json_deep_copy(k);
			if (row != NULL && json_object_get(row, "purpose") == NULL)
				json_object_set(row, "purpose", json_object_get(line, "purpose"));
			json_array_append_new(rows, row);
		}
	print_table(header, names, MCX_ARRAY_SIZE(header), rows);
out:
	json_decref(rows);
	return 0;
}

/* --- redirects and ID tokens ------------------------------------------------ */

/* A JWS alone on its line (redirect sign, token sign), for pipes. */
static int print_response(const json_t *params, const json_t *res, int print)
{
	const char *jws = json_string_value(json_object_get(res, "response"));

	(void)params;
	if (jws == NULL)
		jws = json_string_value(json_object_get(res, "token"));
	if (print && jws != NULL)
		printf("%s\n", jws);
	return jws == NULL;
}

/* redirect.evaluate: the decision first; exit 1 on reject. */
static int print_evaluation(const json_t *params, const json_t *res, int print)
{
	static const char *const fields[] = { "decision", "signature", "signer_domain", "signer_kms_uri", "response_id",
					      "originating_id", "receiving_id", "originating_kms_uri", "iat", "report" };
	const char *decision = json_string_value(json_object_get(res, "decision"));
	const json_t *reason;
	size_t i;

	(void)params;
	if (print) {
		print_fields(res, fields, MCX_ARRAY_SIZE(fields));
		printf("%-17s ", "permitted_init:");
		print_list(json_object_get(res, "permitted_initiating_kms"));
		printf("%-17s ", "permitted_recv:");
		print_list(json_object_get(res, "permitted_receiving_kms"));
		printf("%-17s ", "unknown_kms:");
		print_list(json_object_get(res, "unknown_kms"));
		json_array_foreach(json_object_get(res, "reasons"), i, reason)
			printf("%-17s %s\n", "reason:", json_string_value(reason));
	}
	return decision == NULL || strcmp(decision, "reject") == 0;
}

static int print_redirect_report(const json_t *params, const json_t *res, int print)
{
	if (print)
		printf("%s: redirect %s (signature %s) %s\n", json_string_value(json_object_get(res, "domain")),
		       json_string_value(json_object_get(res, "response_id")),
		       json_string_value(json_object_get(res, "signature")),
		       json_object_get(params, "user_uri") != NULL ? "reported" : "accepted");
	return 0;
}

static int print_token_verify(const json_t *params, const json_t *res, int print)
{
	static const char *const fields[] = { "issuer", "kid", "signer_domain", "home" };
	char *claims;

	(void)params;
	if (print) {
		printf("%s\n", json_is_true(json_object_get(res, "valid")) ? "valid" : "INVALID");
		print_fields(res, fields, MCX_ARRAY_SIZE(fields));
		if ((claims = json_dumps(json_object_get(res, "claims"), JSON_COMPACT | JSON_PRESERVE_ORDER)) != NULL)
			printf("%-17s %s\n", "claims:", claims);
		free(claims);
	}
	return !json_is_true(json_object_get(res, "valid"));
}

/* --- audit.check_checkpoint -------------------------------------------------- */

/*
 * The checkpoint records of an audit log file (or stdin), each MAC
 * recomputed by the vault; the hash chain is audit verify's business.
 */
static int cmd_audit_check_checkpoint(struct ctx *ctx, int argc, char **argv)
{
	json_t *params = NULL, *res = NULL, *rec = NULL, *results = NULL;
	char *text = NULL, *line, *save = NULL;
	const char *file;
	size_t lineno = 0, checked = 0, bad = 0;
	int ret;

	if ((ret = parse_command(ctx, argc, argv, &params)) != 0)
		return ret;
	file = arg_positional(ctx, 0);
	if ((ret = read_text(file, &text)) != 0)
		goto out;
	if ((results = json_array()) == NULL) {
		ret = local_error(ctx->cmd->name, "out of memory");
		goto out;
	}
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		json_t *req;
		lineno++;
		json_decref(rec);
		if ((rec = json_loads(line, 0, NULL)) == NULL ||
		    !json_is_string(json_object_get(rec, "mac")) || !json_is_integer(json_object_get(rec, "seq")))
			continue;   /* not a checkpoint (the chain is audit verify's business) */
		req = json_pack("{s:O, s:O?, s:O, s:O, s:O, s:O, s:O}", "seq", json_object_get(rec, "seq"), "prev",
		                json_object_get(rec, "prev"), "first_seq", json_object_get(rec, "first_seq"), "last_seq",
		                json_object_get(rec, "last_seq"), "from", json_object_get(rec, "from"), "to",
		                json_object_get(rec, "to"), "mac", json_object_get(rec, "mac"));
		if (req == NULL) {
			ret = local_error(file, "a checkpoint record lacks first_seq, last_seq, from or to");
			goto out;
		}
		if ((ret = call(ctx, "audit.check_checkpoint", req, &res)) != 0)
			goto out;
		checked++;
		bad += !json_is_true(json_object_get(res, "valid"));
		if (ctx->json)
			json_array_append_new(results, json_pack("{s:O, s:I, s:O}", "seq", json_object_get(rec, "seq"),
			                                         "line", (json_int_t)lineno, "valid",
			                                         json_object_get(res, "valid")));
		else
			printf("record %" JSON_INTEGER_FORMAT " (line %zu, records %" JSON_INTEGER_FORMAT "..%"
			       JSON_INTEGER_FORMAT "): %s\n", json_integer_value(json_object_get(rec, "seq")), lineno,
			       json_integer_value(json_object_get(rec, "first_seq")),
			       json_integer_value(json_object_get(rec, "last_seq")),
			       json_is_true(json_object_get(res, "valid")) ? "valid" : "INVALID MAC");
		json_decref(res);
		res = NULL;
	}
	if (ctx->json) {
		json_t *out = json_pack("{s:I, s:I, s:O}", "checked", (json_int_t)checked, "invalid", (json_int_t)bad,
		                        "checkpoints", results);
		print_json(out);
		json_decref(out);
	} else if (checked == 0) {
		fprintf(stderr, "%s: %s: no checkpoint records\n", PROG, strcmp(file, "-") != 0 ? file : "stdin");
	}
	ret = checked == 0 || bad > 0 ? EXIT_VAULT : 0;
out:
	json_decref(params);
	json_decref(res);
	json_decref(rec);
	json_decref(results);
	free(text);
	return ret;
}

/* A command without arguments that calls one method without params: parses
 * the (empty) arguments, connects, calls.  0 with *res set, or the exit code. */
static int call_plain(struct ctx *ctx, int argc, char **argv, const char *method, json_t **res)
{
	struct mcxvault_error e;
	char *pos[1];
	int n, r, ret;

	*res = NULL;
	if ((ret = parse_args(ctx, argc, argv, NULL, pos, 0, 0, &n)) != 0)
		return ret;
	if (vault(ctx) == NULL)
		return EXIT_VAULT;
	if ((r = mcxvault_call(ctx->v, method, NULL, res, &e)) != 0)
		return vault_error(method, r, &e);
	return 0;
}

/* --- health and metrics ----------------------------------------------------- */

#define HEALTH_OK 0
#define HEALTH_CRITICAL 1
#define HEALTH_WARNING 3     /* 2 stays "bad usage", as for every command */

struct health {
	int worst;
	unsigned checks, warnings, criticals;
};

static void health_say(struct health *h, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void health_say(struct health *h, int level, const char *fmt, ...)
{
	va_list ap;

	h->checks++;
	if (level == HEALTH_CRITICAL) {
		h->criticals++;
		h->worst = HEALTH_CRITICAL;
	} else if (level == HEALTH_WARNING) {
		h->warnings++;
		if (h->worst == HEALTH_OK)
			h->worst = HEALTH_WARNING;
	}
	printf("%-9s", level == HEALTH_OK ? "OK" : level == HEALTH_WARNING ? "WARNING" : "CRITICAL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* Days from now to an RFC 3339 time (negative: in the past); 0 with *ok = 0 if unparsable. */
static double days_until(const char *when, int *ok)
{
	int64_t t = 0;

	*ok = when != NULL && mcx_time_parse(when, &t) == MCX_OK;
	return *ok ? (double)(t - mcx_time_now()) / 86400.0 : 0;
}

/*
 * One command for a monitoring system: the vault and its HSM reachable, the
 * audit log healthy, every domain's active keys younger than --key-age days,
 * every KMS certificate valid for more than --cert-days.  Without the flags
 * the limits are the vault's keys.warn_age and keys.cert_warn (key.list's
 * "hygiene") when it sets them, else 365 and 30 days.  Exit 0 OK,
 * 3 WARNING, 1 CRITICAL (as Nagios plugins, but 2 stays "bad usage").  Checks
 * the caller may not make (roles) are skipped and said.
 */
static int cmd_health(struct ctx *ctx, int argc, char **argv)
{
	struct mcxvault_error e;
	const char *key_age_s = NULL, *cert_days_s = NULL;
	const struct opt opts[] = { { "--key-age", &key_age_s, NULL }, { "--cert-days", &cert_days_s, NULL },
		                    { NULL, NULL, NULL } };
	struct health h = { HEALTH_OK, 0, 0, 0 };
	json_t *status = NULL, *res = NULL, *domains, *d, *k;
	char *pos[1], *end = NULL;
	double key_age = 365, cert_days = 30;
	size_t i, j;
	int n, r, ret;

	if ((ret = parse_args(ctx, argc, argv, opts, pos, 0, 0, &n)) != 0)
		return ret;
	if (key_age_s != NULL && ((key_age = strtod(key_age_s, &end)) <= 0 || *end != '\0'))
		return usage_error(ctx, "--key-age takes a number of days");
	if (cert_days_s != NULL && ((cert_days = strtod(cert_days_s, &end)) < 0 || *end != '\0'))
		return usage_error(ctx, "--cert-days takes a number of days");
	if (vault(ctx) == NULL) {
		printf("CRITICAL cannot reach the vault\n");
		return HEALTH_CRITICAL;
	}
	if ((r = mcxvault_status(ctx->v, &status, &e)) != 0) {
		printf("CRITICAL vault.status: %s (%s)\n", e.message, e.name);
		return HEALTH_CRITICAL;
	}
	health_say(&h, HEALTH_OK, "vault %s answers", json_string_value(json_object_get(status, "version")));
	if (json_is_true(json_object_get(json_object_get(status, "hsm"), "reachable")))
		health_say(&h, HEALTH_OK, "HSM reachable");
	else
		health_say(&h, HEALTH_CRITICAL, "HSM unreachable: every key operation fails (-32004)");
	r = mcxvault_call(ctx->v, "audit.status", NULL, &res, &e);
	if (r == 0 && json_is_true(json_object_get(res, "healthy")))
		health_say(&h, HEALTH_OK, "audit log healthy");
	else if (r == 0)
		health_say(&h, HEALTH_CRITICAL, "audit log unhealthy (%s): audited calls are refused (-32008)",
		           json_is_false(json_object_get(res, "sealing")) ? "the HSM cannot seal checkpoints"
		                                                          : "cannot write the file");
	else if (e.rpc_code == -32002)
		health_say(&h, HEALTH_WARNING, "the audit log is off (audit.file is not set)");
	else
		printf("SKIPPED  audit log: %s\n", e.message);
	json_decref(res);
	res = NULL;
	domains = json_object_get(status, "domains");
	json_array_foreach(domains, i, d) {
		const char *domain = json_string_value(d);
		json_t *params = json_pack("{s:s}", "domain", domain);
		r = mcxvault_call(ctx->v, "key.list", params, &res, &e);
		if (r == 0) {
			/* the vault's own limits, unless the command line set them */
			json_t *hy = json_object_get(res, "hygiene");
			json_int_t warn_age = json_integer_value(json_object_get(hy, "warn_age"));
			json_int_t cert_warn = json_integer_value(json_object_get(hy, "cert_warn"));
			if (key_age_s == NULL && warn_age > 0)
				key_age = (double)warn_age / 86400.0;
			if (cert_days_s == NULL && cert_warn > 0)
				cert_days = (double)cert_warn / 86400.0;
		}
		if (r != 0) {
			health_say(&h, HEALTH_WARNING, "%s: key.list: %s", domain, e.message);
		} else if (json_array_size(json_object_get(res, "keys")) == 0) {
			health_say(&h, HEALTH_WARNING, "%s: not initialised (vaultctl domain init %s)", domain, domain);
		} else {
			json_array_foreach(json_object_get(res, "keys"), j, k) {
				const char *state = json_string_value(json_object_get(k, "state"));
				int ok = 0;
				double age = -days_until(json_string_value(json_object_get(k, "created")), &ok);
				if (state == NULL || strcmp(state, "active") != 0 || !ok)
					continue;
				if (age < 0)
					age = 0;   /* created "in the future" by clock skew: new */
				health_say(&h, age > key_age ? HEALTH_WARNING : HEALTH_OK, "%s: %s key version %lld is %.0f days old%s",
				           domain, json_string_value(json_object_get(k, "purpose")),
				           (long long)json_integer_value(json_object_get(k, "version")), age,
				           age > key_age ? " (rotate it: vaultctl key rotate)" : "");
			}
		}
		json_decref(res);
		res = NULL;
		r = mcxvault_call(ctx->v, "kms.certificate", params, &res, &e);
		json_decref(params);
		if (r == 0) {
			int ok = 0;
			double left = days_until(json_string_value(json_object_get(json_object_get(res, "certificate"), "valid_to")),
			                         &ok);
			if (!ok)
				health_say(&h, HEALTH_WARNING, "%s: KMS certificate without a readable ValidTo", domain);
			else if (left <= 0)
				health_say(&h, HEALTH_CRITICAL, "%s: KMS certificate expired %.0f days ago", domain, -left);
			else
				health_say(&h, left < cert_days ? HEALTH_WARNING : HEALTH_OK,
				           "%s: KMS certificate valid for %.0f more days%s", domain, left,
				           left < cert_days ? " (rotate: vaultctl key rotate DOMAIN kms)" : "");
		} else if (e.rpc_code != -32001 && e.rpc_code != -32002) {
			health_say(&h, HEALTH_WARNING, "%s: kms.certificate: %s", domain, e.message);
		}
		json_decref(res);
		res = NULL;
	}
	printf("%s: %u checks, %u warnings, %u critical\n",
	       h.worst == HEALTH_OK ? "OK" : h.worst == HEALTH_WARNING ? "WARNING" : "CRITICAL", h.checks, h.warnings,
	       h.criticals);
	json_decref(status);
	return h.worst;
}

/* The metrics method's Prometheus text, as an exporter would serve it. */
static int cmd_metrics(struct ctx *ctx, int argc, char **argv)
{
	json_t *res = NULL;
	int ret;

	if ((ret = call_plain(ctx, argc, argv, "metrics", &res)) != 0)
		return ret;
	if (ctx->json)
		print_json(res);
	else
		fputs(json_string_value(json_object_get(res, "text")), stdout);
	json_decref(res);
	return 0;
}

/* --- audit ---------------------------------------------------------------- */

/* The vault recomputes a checkpoint's HMAC: its key never leaves the HSM. */
static int audit_mac_check_rpc(void *context, const struct audit_checkpoint_fields *cp)
{
	struct ctx *ctx = context;
	struct mcxvault_error e;
	json_t *params = NULL, *res = NULL;
	int r;

	params = json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:s}", "seq", (json_int_t)cp->seq, "prev", cp->prev,
	                   "first_seq", (json_int_t)cp->first_seq, "last_seq", (json_int_t)cp->last_seq, "from",
	                   (json_int_t)cp->from, "to", (json_int_t)cp->to, "mac", cp->mac);
	if (params == NULL)
		return MCX_ERR_ALLOC;
	r = mcxvault_call(ctx->v, "audit.check_checkpoint", params, &res, &e);
	if (r == 0)
		r = json_is_true(json_object_get(res, "valid")) ? 0 : MCX_ERR_SIGNATURE_INVALID;
	else
		fprintf(stderr, "vaultctl: audit.check_checkpoint: %s\n", e.message);
	json_decref(params);
	json_decref(res);
	return r;
}

/* Whether two paths name the same file (the live log may be given under
 * another spelling). */
static int same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return a != NULL && b != NULL && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

static uint64_t json_u64(json_t *object, const char *name)
{
	json_t *v = json_object_get(object, name);

	return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

/*
 * The live file is compared with what the vault says it wrote: records after
 * the last checkpoint are "not yet sealed" (fine, the vault vouches for its
 * head), a file that ends early was truncated, and a record beyond the
 * vault's head was not written by the vault.  The checkpoint the token's
 * anchor names must be in the files, unchanged.
 */
static int verify_chain(struct ctx *ctx, json_t *status, char **pos, int n, const char *node)
{
	struct mcxvault_error e;
	struct audit_chain_state st;
	json_t *anchor;
	const char *live = json_string_value(json_object_get(status, "file")), *anchor_hash;
	int r, ret, i, is_live = 0;
	uint64_t unsealed = 0;
	/* another vault's log (several vaults): its anchor, but not its head */
	int remote = node != NULL && live == NULL;

	memset(&st, 0, sizeof(st));
	anchor = json_object_get(status, "anchor");
	anchor_hash = json_string_value(json_object_get(anchor, "hash"));
	st.anchor_seq = json_u64(anchor, "seq");
	if (st.anchor_seq != 0 && anchor_hash != NULL)
		snprintf(st.anchor_hash, sizeof(st.anchor_hash), "%s", anchor_hash);
	else
		st.anchor_seq = 0;
	ret = 0;
	for (i = 0; i < n && ret == 0; i++) {
		r = audit_chain_verify_file(pos[i], &st, audit_mac_check_rpc, ctx);
		if (r == MCX_ERR_SYSTEM) {
			fprintf(stderr, "vaultctl: audit verify: cannot read %s: %s\n", pos[i], strerror(errno));
			ret = EXIT_VAULT;
		} else if (r != 0) {
			ret = EXIT_VAULT;
		}
	}
	is_live = n > 0 && same_file(pos[n - 1], live);
	if (ret == 0 && !st.failed && is_live) {
		uint64_t vault_seq = json_u64(status, "seq");
		const char *vault_head = json_string_value(json_object_get(status, "head"));
		if (st.seq > vault_seq) {
			/* the vault may have written more since: ask again */
			json_t *again = NULL;
			if ((r = mcxvault_call(ctx->v, "audit.status", NULL, &again, &e)) != 0)
				return vault_error("audit.status", r, &e);
			vault_seq = json_u64(again, "seq");
			vault_head = NULL;   /* only a record at the end is compared */
			json_decref(again);
		}
		if (st.seq > vault_seq) {
			st.failed = 1;
			st.problem_seq = vault_seq + 1;
			snprintf(st.problem, sizeof(st.problem),
			         "records %" PRIu64 "..%" PRIu64 " were not written by the vault (its last record is %" PRIu64
			         "): appended by someone else", vault_seq + 1, st.seq, vault_seq);
		} else if (st.seq < vault_seq) {
			st.failed = 1;
			snprintf(st.problem, sizeof(st.problem),
			         "the file ends at record %" PRIu64 " but the vault has written up to %" PRIu64 ": truncated",
			         st.seq, vault_seq);
		} else if (vault_head != NULL && strcmp(st.head, vault_head) != 0) {
			st.failed = 1;
			st.problem_seq = st.seq;
			snprintf(st.problem, sizeof(st.problem), "record %" PRIu64 " (the last) was changed", st.seq);
		} else if (st.seq > st.sealed_seq) {
			unsealed = st.seq - st.sealed_seq;
		}
	} else if (ret == 0 && !st.failed && st.seq > st.sealed_seq && remote) {
		/* that vault vouches for its unsealed tail: ask it (verify there) */
		unsealed = st.seq - st.sealed_seq;
	} else if (ret == 0 && !st.failed && st.seq > st.sealed_seq) {
		st.failed = 1;
		st.problem_seq = st.sealed_seq + 1;
		snprintf(st.problem, sizeof(st.problem),
		         "records %" PRIu64 "..%" PRIu64 " are not sealed by a checkpoint: the file was truncated"
		         " (or vaultd crashed)", st.sealed_seq + 1, st.seq);
	}
	if (ret == 0 && !st.failed && st.anchor_seq != 0 && !st.anchor_seen && (is_live || remote) &&
	    st.seq < st.anchor_seq) {
		st.failed = 1;
		st.problem_seq = st.seq + 1;
		snprintf(st.problem, sizeof(st.problem),
		         "the log ends at record %" PRIu64 ", but the HSM anchor seals record %" PRIu64 ": truncated",
		         st.seq, st.anchor_seq);
	}
	if (ctx->json) {
		json_t *out = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:s?, s:I, s:s?, s:s?}", "intact",
		                        !st.failed && ret == 0, "records", (json_int_t)st.records, "checkpoints",
		                        (json_int_t)st.checkpoints, "last_seq", (json_int_t)st.seq, "unsealed",
		                        (json_int_t)unsealed, "anchor_seq", (json_int_t)st.anchor_seq, "breaks",
		                        (json_int_t)st.breaks, "anchor_checked", st.anchor_seen, "file",
		                        st.failed ? st.file : NULL, "problem_seq", (json_int_t)st.problem_seq, "problem",
		                        st.failed ? st.problem : NULL, "break", st.breaks ? st.break_reason : NULL);
		if (out != NULL && node != NULL)
			json_object_set_new(out, "node", json_string(node));
		print_json(out);
		json_decref(out);
	} else if (st.failed && st.line == 0) {
		printf("%s%s%sTAMPERED: %s, at its end: %s\n", node ? "node " : "", node ? node : "", node ? ": " : "",
		       st.file, st.problem);
	} else if (st.failed) {
		printf("%s%s%sTAMPERED: %s line %zu: %s\n", node ? "node " : "", node ? node : "", node ? ": " : "",
		       st.file, st.line, st.problem);
	} else if (ret == 0) {
		if (node != NULL)
			printf("node %s: ", node);
		printf("intact: %zu records up to %" PRIu64 ", %zu checkpoints verified by the vault", st.records, st.seq,
		       st.checkpoints);
		if (st.anchor_seen)
			printf(", HSM anchor at record %" PRIu64 " matches", st.anchor_seq);
		if (unsealed > 0 && remote)
			printf("; the last %" PRIu64 " not yet sealed (verify on node %s for them)", unsealed, node);
		else if (unsealed > 0)
			printf("; the last %" PRIu64 " not yet sealed (the vault vouches for them)", unsealed);
		printf("\n");
		if (st.breaks > 0)
			printf("note: %zu accepted break(s) in the history, the first at record %" PRIu64 ": %s\n", st.breaks,
			       st.break_seq, st.break_reason);
	}
	return st.failed ? EXIT_VAULT : ret;
}

/* The node a log file's records name ("" without one): from its first line. */
static void audit_file_node(const char *path, char node[65])
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	json_t *record = NULL;
	const char *name;

	node[0] = '\0';
	if (f != NULL && getline(&line, &cap, f) > 0 && (record = json_loads(line, 0, NULL)) != NULL &&
	    (name = json_string_value(json_object_get(record, "node"))) != NULL)
		snprintf(node, 65, "%s", name);
	json_decref(record);
	free(line);
	if (f != NULL)
		fclose(f);
}

/*
 * Several vaults over one token keep one log each, one chain each, anchored
 * in the token per node.  Files of several nodes (each node's oldest first,
 * in any interleaving) are verified as one chain per node: the connected
 * vault's own with its head and anchor, the others' with their anchors
 * (audit.status {node}); an unsealed tail of another node's live file is
 * for that node's vault to vouch for.
 */
static int cmd_audit_verify(struct ctx *ctx, int argc, char **argv)
{
	struct mcxvault_error e;
	json_t *status = NULL, *other = NULL;
	char *pos[16], *group[16], nodes[16][65];
	const char *live, *own;
	int n, r, ret = 0, k, distinct = 1;

	if ((ret = parse_args(ctx, argc, argv, NULL, pos, 0, 16, &n)) != 0)
		return ret;
	if (vault(ctx) == NULL)
		return EXIT_VAULT;
	if ((r = mcxvault_call(ctx->v, "audit.status", NULL, &status, &e)) != 0)
		return vault_error("audit.status", r, &e);
	live = json_string_value(json_object_get(status, "file"));
	if (live == NULL && n == 0) {
		fprintf(stderr, "vaultctl: audit verify: the vault shows the log only to callers unscoped by domain\n");
		json_decref(status);
		return EXIT_VAULT;
	}
	if (n == 0)
		pos[n++] = (char *)live;
	own = json_string_value(json_object_get(status, "node"));
	for (int i = 0; i < n; i++) {
		audit_file_node(pos[i], nodes[i]);
		/* records from before node ids are the history of this vault's chain */
		if (nodes[i][0] == '\0' && own != NULL)
			snprintf(nodes[i], sizeof(nodes[i]), "%s", own);
		distinct += i > 0 && strcmp(nodes[i], nodes[0]) != 0;
	}
	if (distinct == 1) {
		ret = verify_chain(ctx, status, pos, n, NULL);
		json_decref(status);
		return ret;
	}
	for (int i = 0; i < n; i++) {
		int seen = 0, rc;
		for (int j = 0; j < i; j++)
			seen |= strcmp(nodes[j], nodes[i]) == 0;
		if (seen)
			continue;
		for (int j = k = 0; j < n; j++)
			if (strcmp(nodes[j], nodes[i]) == 0)
				group[k++] = pos[j];
		if (own != NULL && strcmp(nodes[i], own) == 0) {
			rc = verify_chain(ctx, status, group, k, nodes[i]);
		} else if ((rc = call(ctx, "audit.status", json_pack("{s:s}", "node", nodes[i]), &other)) == 0) {
			rc = verify_chain(ctx, other, group, k, nodes[i]);
		}
		json_decref(other);
		other = NULL;
		if (rc != 0 && ret == 0)
			ret = rc;
	}
	json_decref(status);
	return ret;
}

/* audit.status as "name: value" lines; exit 1 when the log is unhealthy, so
 * that monitoring can call it as it is. */
static int cmd_audit_status(struct ctx *ctx, int argc, char **argv)
{
	json_t *res = NULL, *anchor;
	int ret, healthy;

	if ((ret = call_plain(ctx, argc, argv, "audit.status", &res)) != 0)
		return ret;
	healthy = json_is_true(json_object_get(res, "healthy"));
	if (ctx->json) {
		print_json(res);
	} else {
		const char *file = json_string_value(json_object_get(res, "file"));
		printf("healthy:     %s\n", healthy ? "yes" : "NO");
		printf("writable:    %s\n", json_is_true(json_object_get(res, "writable")) ? "yes" : "NO (disk full or read-only)");
		printf("sealing:     %s\n", json_is_true(json_object_get(res, "sealing")) ? "yes" : "NO (the HSM could not MAC the last checkpoint)");
		if (file != NULL) {
			anchor = json_object_get(res, "anchor");
			printf("file:        %s\n", file);
			printf("last record: %" JSON_INTEGER_FORMAT "\n", json_integer_value(json_object_get(res, "seq")));
			printf("sealed up to:%" JSON_INTEGER_FORMAT "\n", json_integer_value(json_object_get(res, "sealed_seq")));
			printf("anchor:      record %" JSON_INTEGER_FORMAT " in the token\n",
			       json_integer_value(json_object_get(anchor, "seq")));
		} else {
			printf("scope:       your domains only (file and sequence are shown to unscoped auditors)\n");
		}
	}
	json_decref(res);
	return healthy ? 0 : EXIT_VAULT;
}

/* audit.rotate: what logrotate's postrotate runs */
static int cmd_audit_rotate(struct ctx *ctx, int argc, char **argv)
{
	json_t *res = NULL;
	int ret;

	if ((ret = call_plain(ctx, argc, argv, "audit.rotate", &res)) != 0)
		return ret;
	if (ctx->json)
		print_json(res);
	else
		printf("%s: a new file continues the chain at record %" JSON_INTEGER_FORMAT "\n",
		       json_string_value(json_object_get(res, "file")), json_integer_value(json_object_get(res, "seq")));
	json_decref(res);
	return 0;
}

static int cmd_audit_tail(struct ctx *ctx, int argc, char **argv)
{
	struct mcxvault_error e;
	const char *count = NULL;
	const struct opt opts[] = { { "-n", &count, NULL }, { NULL, NULL, NULL } };
	json_t *params = NULL, *res = NULL, *records, *record;
	char *pos[1], *end = NULL;
	int n, r, ret;
	size_t i;
	long c = 20;

	if ((ret = parse_args(ctx, argc, argv, opts, pos, 0, 0, &n)) != 0)
		return ret;
	if (count != NULL && ((c = strtol(count, &end, 10)) < 1 || c > 1000 || *end != '\0'))
		return usage_error(ctx, "-n takes a number from 1 to 1000");
	if (vault(ctx) == NULL)
		return EXIT_VAULT;
	params = json_pack("{s:i}", "count", (int)c);
	r = mcxvault_call(ctx->v, "audit.tail", params, &res, &e);
	json_decref(params);
	if (r != 0)
		return vault_error("audit.tail", r, &e);
	if (ctx->json) {
		print_json(res);
	} else {
		records = json_object_get(res, "records");
		json_array_foreach(records, i, record) {
			char *line = json_dumps(record, JSON_COMPACT | JSON_PRESERVE_ORDER);
			if (line != NULL)
				printf("%s\n", line);
			free(line);
		}
	}
	json_decref(res);
	return 0;
}

/* Rows of struct arg for the table below: ARGS(POS("domain"), OPT("--time", "time", ARG_STRING)) */
#define ARGS(...) ((const struct arg[]){ __VA_ARGS__, { NULL, NULL, ARG_END, 0 } })
#define POS(name) { NULL, (name), ARG_STRING, 0 }
#define POS_OPT(name) { NULL, (name), ARG_STRING, ARG_OPTIONAL }
#define POS_AS(name, kind) { NULL, (name), (kind), 0 }
#define OPT(option, name, kind) { (option), (name), (kind), 0 }
#define OPT_REQ(option, name, kind) { (option), (name), (kind), ARG_REQUIRED }

/*
 * The command table: also the help text, the completion (vaultctl
 * --commands) and what tests/client/test_vaultctl_table.sh holds against
 * vault/rpc/rpc_table.c.  Keep related commands together.  A command that
 * is one call needs no code: cmd_call, its method, its ARGS and a printer
 * (NULL: the JSON result).
 */
static const struct command commands[] = {
	{ "status", "", "show the vault's state, its HSM and who you are", cmd_status, "vault.status", NULL, NULL },
	{ "domain init", "DOMAIN", "create a configured domain's sign, cert and token keys and KMS secrets (admin)",
	  cmd_domain_init, "domain.init", NULL, NULL },
	{ "domain upgrade", "DOMAIN", "add missing cert/token keys, re-sign KMS certificates signed by sign (admin)",
	  cmd_domain_upgrade, "domain.upgrade", NULL, NULL },
	{ "domain list", "", "list the domains you may see", cmd_domain_list, "domain.list", NULL, NULL },
	{ "domain show", "DOMAIN", "show a domain and its keys", cmd_domain_show, "domain.show", NULL, NULL },
	{ "key list", "DOMAIN", "list every key version of a domain", cmd_key_list, "key.list", NULL, NULL },
	{ "key rotate", "DOMAIN [PURPOSE]", "make a new active version of sign (default), cert, token or kms (admin)",
	  cmd_key_rotate, "key.rotate", NULL, NULL },
	{ "key retire", "DOMAIN PURPOSE VERSION [--now]",
	  "destroy a verify-only version's private key or master secrets, after keys.destroy_delay unless --now (admin)",
	  cmd_key_retire, "key.retire", NULL, NULL },
	{ "key cancel-retire", "DOMAIN PURPOSE VERSION", "cancel a scheduled destruction (admin)", cmd_key_cancel_retire,
	  "key.cancel_retire", NULL, NULL },
	{ "sign", "DOMAIN [FILE|-] [--digest HEX] [--der]",
	  "sign FILE (or stdin) with the active key; print KID SIGNATURE", cmd_sign, "sign.sign", NULL, NULL },
	{ "verify", "DOMAIN SIGNATURE [FILE|-] [--digest HEX] [--kid KID]",
	  "check an r||s base64url signature; print valid KID or invalid (exit 1)", cmd_verify, "sign.verify", NULL, NULL },
	{ "pubkey", "DOMAIN [--purpose sign|cert|token] [--version N] [--jwk]",
	  "print a key's public key (PEM or JWK; default purpose sign)", cmd_pubkey, "sign.public_key", NULL, NULL },
	{ "cert show", "DOMAIN [--xml] [--version N]",
	  "show the domain's KMS certificate (TS 33.180 Annex D), or its signed XML", cmd_cert_show, "kms.certificate", NULL, NULL },
	{ "kms user-keys", "DOMAIN USER_URI [--time T] [--transport-key HEX]",
	  "issue a user's RSK, SSK and PVT for the key period of T (default now; kms)", cmd_kms_user_keys,
	  "kms.user_keys", NULL, NULL },
	{ "kms cert-cache", "DOMAIN", "print the signed bundle of home and trusted certificates (JWS; kms)",
	  cmd_kms_cert_cache, "kms.cert_cache", NULL, NULL },
	{ "external import", "DOMAIN CERT_FILE KEY_FILE [--token-key FILE]",
	  "trust an external KMS: its certificate, its cert key and token key, PEM or JWK (admin)",
	  cmd_external_import, "external.import", NULL, NULL },
	{ "external list", "DOMAIN", "list the external KMSs the domain trusts", cmd_call, "external.list",
	  ARGS(POS("domain")), print_external_list },
	{ "external remove", "DOMAIN KMS_URI", "stop trusting an external KMS (admin)", cmd_call, "external.remove",
	  ARGS(POS("domain"), POS("kms_uri")), print_external_remove },
	{ "external revoke", "DOMAIN KMS_URI --reason REASON",
	  "mark an external KMS certificate revoked (RFC 5280 reason, e.g. keyCompromise); kept and listed (admin)",
	  cmd_call, "external.revoke",
	  ARGS(POS("domain"), POS("kms_uri"), OPT_REQ("--reason", "reason", ARG_STRING)), print_external_revoke },
	{ "gmk create", "DOMAIN GROUP", "create a group and its first GMK (gms)", cmd_call, "gmk.create",
	  ARGS(POS("domain"), POS("group")), print_gmk_new },
	{ "gmk rekey", "DOMAIN GROUP", "make a new current GMK; the previous one stays for the overlap (gms)",
	  cmd_call, "gmk.rekey", ARGS(POS("domain"), POS("group")), print_gmk_new },
	{ "gmk revoke", "DOMAIN GROUP [--id GMK_ID]", "destroy one or every GMK of a group (gms)", cmd_call,
	  "gmk.revoke", ARGS(POS("domain"), POS("group"), OPT("--id", "gmk_id", ARG_STRING)), print_gmk_revoke },
	{ "gmk list", "DOMAIN [--limit N] [--after GROUP]",
	  "list the domain's groups and current GMK-IDs; every page unless --limit/--after (gms)", cmd_call_pages,
	  "gmk.list", ARGS(POS("domain"), OPT("--limit", "limit", ARG_INT), OPT("--after", "after", ARG_STRING)),
	  print_gmk_list },
	{ "gmk show", "DOMAIN GROUP", "show every GMK version of a group (gms)", cmd_call, "gmk.show",
	  ARGS(POS("domain"), POS("group")), print_gmk_show },
	{ "gmk distribute",
	  "DOMAIN GROUP --sender URI --members FILE|- [--time T] [--id GMK_ID] [--identities uid|uri|both] [--chunk N] "
	  "[--progress]",
	  "I_MESSAGEs for members (lines \"URI [KMS_URI]\"), one output line each (gms)", cmd_distribute,
	  "gmk.distribute",
	  ARGS(POS("domain"), POS("group"), POS_OPT("sender_uri"), { NULL, NULL, ARG_STRING, ARG_OPTIONAL },
	       OPT("--sender", "sender_uri", ARG_STRING), OPT("--members", NULL, ARG_STRING),
	       OPT("--time", "time", ARG_STRING), OPT("--id", "gmk_id", ARG_STRING),
	       OPT("--identities", "identities", ARG_STRING), OPT("--chunk", NULL, ARG_INT),
	       OPT("--progress", NULL, ARG_FLAG)), NULL },
	{ "server-key create", "DOMAIN SERVER_URI PURPOSE", "a server signalling key, PURPOSE csk, mkfc or mscck (gms)",
	  cmd_call, "server_key.create", ARGS(POS("domain"), POS("server_uri"), POS("purpose")), print_server_key },
	{ "server-key rekey", "DOMAIN SERVER_URI PURPOSE",
	  "make a new current server key; the previous one stays for the overlap (gms)", cmd_call, "server_key.rekey",
	  ARGS(POS("domain"), POS("server_uri"), POS("purpose")), print_server_key },
	{ "server-key revoke", "DOMAIN SERVER_URI PURPOSE [--id KEY_ID]",
	  "destroy one or every key of a server and purpose (gms)", cmd_call, "server_key.revoke",
	  ARGS(POS("domain"), POS("server_uri"), POS("purpose"), OPT("--id", "key_id", ARG_STRING)),
	  print_server_key_revoke },
	{ "server-key list", "DOMAIN", "list the domain's server keys and current key ids (gms)", cmd_call,
	  "server_key.list", ARGS(POS("domain")), print_server_key_list },
	{ "server-key show", "DOMAIN SERVER_URI [PURPOSE]", "show every version of a server's keys (gms)", cmd_call,
	  "server_key.show", ARGS(POS("domain"), POS("server_uri"), POS_OPT("purpose")), print_server_key_show },
	{ "server-key distribute",
	  "DOMAIN SERVER_URI PURPOSE --members FILE|- [--time T] [--id KEY_ID] [--identities uid|uri|both] [--chunk N] "
	  "[--progress]",
	  "I_MESSAGEs of a server key, signed as the server, one output line per member (gms)", cmd_distribute,
	  "server_key.distribute",
	  ARGS(POS("domain"), POS("server_uri"), POS("purpose"), OPT_REQ("--members", NULL, ARG_STRING),
	       OPT("--time", "time", ARG_STRING), OPT("--id", "key_id", ARG_STRING),
	       OPT("--identities", "identities", ARG_STRING), OPT("--chunk", NULL, ARG_INT),
	       OPT("--progress", NULL, ARG_FLAG)), NULL },
	{ "redirect sign",
	  "DOMAIN --originating-id URI --receiving-id URI --originating-kms KMS_URI --initiating-kms KMS_URI... "
	  "--receiving-kms KMS_URI... [--signer-id URI]",
	  "a Security Domain Redirect Response (JWS) signed by the domain, or with --signer-id by that MCX identity "
	  "(ECCSI, needs sign_as); repeat the list options (signer)", cmd_call,
	  "redirect.sign",
	  ARGS(POS("domain"), OPT_REQ("--originating-id", "originating_id", ARG_STRING),
	       OPT_REQ("--receiving-id", "receiving_id", ARG_STRING),
	       OPT_REQ("--originating-kms", "originating_kms_uri", ARG_STRING),
	       OPT_REQ("--initiating-kms", "acceptable_initiating_kms", ARG_LIST),
	       OPT_REQ("--receiving-kms", "acceptable_receiving_kms", ARG_LIST),
	       OPT("--signer-id", "signer_id", ARG_STRING)),
	  print_response },
	{ "redirect evaluate", "DOMAIN RESPONSE|@FILE|- [--received-at T]",
	  "judge a redirect response under the domain's policy; exit 1 on reject (signer, kms)", cmd_call,
	  "redirect.evaluate",
	  ARGS(POS("domain"), POS_AS("response", ARG_TEXT), OPT("--received-at", "received_at", ARG_STRING)),
	  print_evaluation },
	{ "redirect report", "DOMAIN RESPONSE|@FILE|- USER_URI", "record a client's use of a redirect (kms)", cmd_call,
	  "redirect.report", ARGS(POS("domain"), POS_AS("response", ARG_TEXT), POS("user_uri")),
	  print_redirect_report },
	{ "redirect accept", "DOMAIN RESPONSE|@FILE|-", "the Home KMS accepts a held redirect response (kms)", cmd_call,
	  "redirect.accept", ARGS(POS("domain"), POS_AS("response", ARG_TEXT)), print_redirect_report },
	{ "token sign", "DOMAIN [--sub SUB] [--aud AUD] [--exp NUMERICDATE] [--nbf NUMERICDATE] [--claims JSON|@FILE|-]",
	  "an inter-domain ID token (JWT) for a partner IdM; print the token (signer)", cmd_call, "token.sign",
	  ARGS(POS("domain"), OPT("--claims", "claims", ARG_JSON), OPT("--sub", "claims.sub", ARG_STRING),
	       OPT("--aud", "claims.aud", ARG_STRING), OPT("--exp", "claims.exp", ARG_INT),
	       OPT("--nbf", "claims.nbf", ARG_INT)),
	  print_response },
	{ "token verify", "DOMAIN TOKEN|@FILE|- AUDIENCE [--time T]",
	  "check an ID token of the home or a trusted domain for AUDIENCE (signer, kms, admin)", cmd_call,
	  "token.verify",
	  ARGS(POS("domain"), POS_AS("token", ARG_TEXT), POS("audience"), OPT("--time", "time", ARG_STRING)),
	  print_token_verify },
	{ "health", "[--key-age DAYS] [--cert-days DAYS]",
	  "HSM, audit log, key ages, certificate expiry; exit 0 OK, 3 WARNING, 1 CRITICAL", cmd_health,
	  "vault.status audit.status key.list kms.certificate", NULL, NULL },
	{ "metrics", "", "requests, errors, latency, HSM and audit state in Prometheus text (auditor, admin)",
	  cmd_metrics, "metrics", NULL, NULL },
	{ "audit verify", "[FILE...]", "check the audit log's hash chain and checkpoint MACs (auditor)",
	  cmd_audit_verify, "audit.status audit.check_checkpoint", NULL, NULL },
	{ "audit check-checkpoint", "FILE|-",
	  "have the vault recompute the MAC of every checkpoint record in FILE; exit 1 if one is wrong (auditor)",
	  cmd_audit_check_checkpoint, "audit.check_checkpoint", ARGS({ NULL, NULL, ARG_STRING, 0 }), NULL },
	{ "audit status", "", "the audit log's health, last record and HSM anchor; exit 1 if unhealthy (auditor)",
	  cmd_audit_status, "audit.status", NULL, NULL },
	{ "audit tail", "[-n N]", "print the last audit records (auditor)", cmd_audit_tail, "audit.tail", NULL, NULL },
	{ "audit rotate", "", "seal the log file, continue the chain in a new one after logrotate (admin)",
	  cmd_audit_rotate, "audit.rotate", NULL, NULL },
	{ "help", "", "show this help", cmd_help, "", NULL, NULL },
};
static const size_t n_commands = MCX_ARRAY_SIZE(commands);

/* The options of a command's usage text ("--time", "-n"), space-separated. */
static void usage_options(FILE *f, const char *usage)
{
	const char *p = usage;

	while ((p = strchr(p, '-')) != NULL) {
		size_t len = strspn(p, "-abcdefghijklmnopqrstuvwxyz0123456789");
		if ((p == usage || strchr(" [|", p[-1]) != NULL) && len > 1)
			fprintf(f, " %.*s", (int)len, p);
		p += len > 0 ? len : 1;
	}
}

/*
 * vaultctl --commands: one line per command, for the bash completion and
 * the tests: NAME<TAB>METHODS<TAB>OPTIONS<TAB>USAGE-OPTIONS<TAB>PARAMS
 * (space-separated; METHODS "-" for none; OPTIONS from the command's ARGS
 * rows when it has them, else from its usage text; USAGE-OPTIONS always
 * from the usage text; PARAMS the params its ARGS rows set, "-" for
 * none).
 */
static void list_commands(void)
{
	for (size_t i = 0, n; i < n_commands; i++) {
		const struct arg *a = commands[i].args;
		printf("%s\t%s\t--json", commands[i].name, commands[i].methods[0] != '\0' ? commands[i].methods : "-");
		if (a != NULL) {
			for (size_t j = 0; a[j].kind != ARG_END; j++)
				if (a[j].option != NULL)
					printf(" %s", a[j].option);
		} else {
			usage_options(stdout, commands[i].usage);
		}
		printf("\t--json");
		usage_options(stdout, commands[i].usage);
		printf("\t");
		n = 0;
		for (size_t j = 0; a != NULL && a[j].kind != ARG_END; j++)
			if (a[j].name != NULL)
				printf("%s%.*s", n++ > 0 ? " " : "", (int)strcspn(a[j].name, "."), a[j].name);
		printf("%s\n", n > 0 ? "" : "-");
	}
}

/* Number of words of name that argv starts with (0: no match). */
static int command_match(const char *name, int argc, char **argv)
{
	int words = 0;
	size_t len;

	while (*name != '\0') {
		len = strcspn(name, " ");
		if (words >= argc || strlen(argv[words]) != len || strncmp(argv[words], name, len) != 0)
			return 0;
		words++;
		name += len;
		if (*name == ' ')
			name++;
	}
	return words;
}

int main(int argc, char **argv)
{
	static const struct option long_opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{ "version", no_argument, NULL, 'V' },
		{ "commands", no_argument, NULL, 'C' },
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctx ctx;
	const char *config = NULL;
	const struct command *cmd = NULL;
	long long secs;
	int c, words = 0, best = 0, ret;
	size_t i;

	memset(&ctx, 0, sizeof(ctx));
	ctx.timeout_ms = MCXVAULT_DEFAULT_TIMEOUT_MS;
	while ((c = getopt_long(argc, argv, "+hs:c:t:", long_opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("%s %s (libmcxvault %s)\n", PROG, MCXVAULT_VERSION, mcxvault_version());
			return 0;
		case 'C':
			list_commands();
			return fflush(stdout) == 0 ? 0 : EXIT_VAULT;
		case 'j':
			ctx.json = 1;
			break;
		case 's':
			ctx.socket_path = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 't':
			if (parse_int(optarg, 1, INT_MAX / 1000, &secs) != 0)
				return usage_error(NULL, "invalid timeout %s", optarg);
			ctx.timeout_ms = (int)secs * 1000;
			break;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (ctx.socket_path != NULL && config != NULL)
		return usage_error(NULL, "give either -s or -c, not both");
	argc -= optind;
	argv += optind;
	if (argc == 0)
		return usage_error(NULL, "no command given");
	for (i = 0; i < n_commands; i++) {
		if ((words = command_match(commands[i].name, argc, argv)) > best) {
			best = words;
			cmd = &commands[i];
		}
	}
	if (cmd == NULL) {
		for (i = 0; i < n_commands; i++)
			if (strncmp(commands[i].name, argv[0], strlen(argv[0])) == 0 &&
			    commands[i].name[strlen(argv[0])] == ' ')
				break;
		if (i == n_commands)
			return usage_error(NULL, "unknown command '%s'", argv[0]);
		fprintf(stderr, "%s: %s%s%s: unknown or missing subcommand\n", PROG, argv[0],
			argc > 1 ? " " : "", argc > 1 ? argv[1] : "");
		usage_commands(stderr, argv[0]);
		return EXIT_USAGE;
	}

	/* the socket: -s, -c, $MCXVAULT_SOCKET, the default config, the default */
	if (config == NULL && ctx.socket_path == NULL && getenv(MCXVAULT_SOCKET_ENV) == NULL &&
	    access(DEFAULT_CONFIG, R_OK) == 0)
		config = DEFAULT_CONFIG;
	if (config != NULL) {
		if (socket_from_config(config, &ctx.socket_owned) != 0)
			return EXIT_VAULT;
		ctx.socket_path = ctx.socket_owned;
	}

	ctx.cmd = cmd;
	ret = cmd->handler(&ctx, argc - best, argv + best);
	if (fflush(stdout) != 0 && ret == 0)
		ret = local_error("stdout", strerror(errno));
	mcxvault_close(ctx.v);
	free(ctx.socket_owned);
	return ret;
}
