/*
 * vaultd configuration: load, validate, free.
 *
 * Every error names the file, the line and the reason, and an unknown setting
 * is an error: a misspelt "acess" must not silently leave the vault open or
 * closed.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "vault/daemon/config.h"

#include <errno.h>
#include <grp.h>
#include <libconfig.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mcx/mikey.h"
#include "vault/daemon/log.h"
#include "vault/store/store.h"

static const char *const role_names[] = { "admin", "kms", "gms", "signer", "auditor" };

unsigned vault_role_parse(const char *name)
{
	for (size_t i = 0; i < MCX_ARRAY_SIZE(role_names); i++)
		if (name != NULL && strcmp(name, role_names[i]) == 0)
			return 1u << i;
	return 0;
}

const char *vault_role_name(unsigned role)
{
	for (size_t i = 0; i < MCX_ARRAY_SIZE(role_names); i++)
		if (role == 1u << i)
			return role_names[i];
	return "none";
}

int vault_domain_name_valid(const char *name)
{
	size_t len;

	if (name == NULL || (len = strlen(name)) == 0 || len > 128 || name[0] == '.' || name[0] == '-')
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
			return 0;
	}
	return 1;
}

/* Formats "FILE:LINE: reason" into *error (first error wins). */
static int config_fail(char **error, const char *path, const config_setting_t *setting, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int config_fail(char **error, const char *path, const config_setting_t *setting, const char *fmt, ...)
{
	char reason[512];
	va_list ap;
	int line = setting != NULL ? config_setting_source_line(setting) : 0;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (error != NULL && *error == NULL) {
		/* a missing top-level group has no line of its own */
		if ((line > 0 ? asprintf(error, "%s:%d: %s", path, line, reason)
		              : asprintf(error, "%s: %s", path, reason)) < 0)
			*error = NULL;
	}
	return MCX_ERR_CONFIG;
}

/* Rejects any member of group not in the allowed list. */
static int config_check_members(const config_setting_t *group, const char *const *allowed, const char *path,
                                 char **error)
{
	int n = config_setting_length(group);

	for (int i = 0; i < n; i++) {
		const config_setting_t *member = config_setting_get_elem(group, (unsigned)i);
		const char *name = config_setting_name(member);
		int known = 0;
		for (size_t k = 0; allowed[k] != NULL; k++)
			if (name != NULL && strcmp(name, allowed[k]) == 0)
				known = 1;
		if (!known)
			return config_fail(error, path, member, "unknown setting '%s'", name ? name : "?");
	}
	return MCX_OK;
}

static int config_string(const config_setting_t *group, const char *name, int required, char **out,
                         const char *path, char **error)
{
	const config_setting_t *s = group != NULL ? config_setting_get_member(group, name) : NULL;
	const char *v;

	if (s == NULL)
		return required ? config_fail(error, path, group, "missing setting '%s'", name) : MCX_OK;
	if (config_setting_type(s) != CONFIG_TYPE_STRING || (v = config_setting_get_string(s)) == NULL)
		return config_fail(error, path, s, "'%s' must be a string", name);
	if (*v == '\0')
		return config_fail(error, path, s, "'%s' must not be empty", name);
	free(*out);
	if ((*out = strdup(v)) == NULL)
		return MCX_ERR_ALLOC;
	return MCX_OK;
}

static int config_int(const config_setting_t *group, const char *name, long long min, long long max,
                      long long *out, const char *path, char **error)
{
	const config_setting_t *s = group != NULL ? config_setting_get_member(group, name) : NULL;
	long long v;

	if (s == NULL)
		return MCX_OK;   /* keep the default */
	if (config_setting_type(s) == CONFIG_TYPE_INT)
		v = config_setting_get_int(s);
	else if (config_setting_type(s) == CONFIG_TYPE_INT64)
		v = config_setting_get_int64(s);
	else
		return config_fail(error, path, s, "'%s' must be an integer", name);
	if (v < min || v > max)
		return config_fail(error, path, s, "'%s' must be between %lld and %lld", name, min, max);
	*out = v;
	return MCX_OK;
}

static int config_bool(const config_setting_t *group, const char *name, int *out, const char *path, char **error)
{
	const config_setting_t *s = group != NULL ? config_setting_get_member(group, name) : NULL;

	if (s == NULL)
		return MCX_OK;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return config_fail(error, path, s, "'%s' must be true or false", name);
	*out = config_setting_get_bool(s);
	return MCX_OK;
}

static int config_load_server(struct vault_config *c, const config_setting_t *s, char **error)
{
	static const char *const allowed[] = { "socket", "socket_mode", "max_request_bytes", "workers",
		                               "idle_timeout", "max_connections", "max_connections_per_uid",
		                               "no_role_connections", "no_role_max_request_bytes",
		                               "reserved_connections", "request_timeout", "max_buffered_bytes", NULL };
	int r = MCX_ERR_INTERNAL;
	long long v;
	char *mode = NULL, *end = NULL;

	MCX_ENSURE(s != NULL && config_setting_is_group(s),
	           config_fail(error, c->path, s, "missing group 'server'"));
	MCX_GUARD(config_check_members(s, allowed, c->path, error));
	MCX_GUARD(config_string(s, "socket", 1, &c->socket_path, c->path, error));
	MCX_GUARD(config_string(s, "socket_mode", 0, &mode, c->path, error));
	if (mode != NULL) {
		unsigned long m;
		errno = 0;
		m = strtoul(mode, &end, 8);
		MCX_ENSURE(errno == 0 && *end == '\0' && m <= 0777,
		           config_fail(error, c->path, config_setting_get_member(s, "socket_mode"),
		                       "'socket_mode' must be an octal mode such as \"0660\""));
		/* never world-writable: anyone could then talk to the vault */
		MCX_ENSURE((m & 0002) == 0,
		           config_fail(error, c->path, config_setting_get_member(s, "socket_mode"),
		                       "'socket_mode' %s is world-writable", mode));
		c->socket_mode = (unsigned)m;
	}
	v = (long long)c->max_request_bytes;
	MCX_GUARD(config_int(s, "max_request_bytes", 1024, 16LL * 1024 * 1024, &v, c->path, error));
	c->max_request_bytes = (size_t)v;
	v = c->workers;
	MCX_GUARD(config_int(s, "workers", 1, 64, &v, c->path, error));
	c->workers = (unsigned)v;
	v = c->idle_timeout;
	MCX_GUARD(config_int(s, "idle_timeout", 1, 86400, &v, c->path, error));
	c->idle_timeout = (unsigned)v;
	v = c->max_connections;
	MCX_GUARD(config_int(s, "max_connections", 1, 65536, &v, c->path, error));
	c->max_connections = (unsigned)v;
	v = c->max_connections_per_uid;
	MCX_GUARD(config_int(s, "max_connections_per_uid", 1, 65536, &v, c->path, error));
	c->max_connections_per_uid = (unsigned)v;
	v = c->no_role_connections;
	MCX_GUARD(config_int(s, "no_role_connections", 0, 65536, &v, c->path, error));
	c->no_role_connections = (unsigned)v;
	v = (long long)c->no_role_max_request_bytes;
	MCX_GUARD(config_int(s, "no_role_max_request_bytes", 256, 1024 * 1024, &v, c->path, error));
	c->no_role_max_request_bytes = (size_t)v;
	v = c->reserved_connections;
	MCX_GUARD(config_int(s, "reserved_connections", 0, 65536, &v, c->path, error));
	c->reserved_connections = (unsigned)v;
	v = c->request_timeout;
	MCX_GUARD(config_int(s, "request_timeout", 1, 3600, &v, c->path, error));
	c->request_timeout = (unsigned)v;
	v = (long long)c->max_buffered_bytes;
	MCX_GUARD(config_int(s, "max_buffered_bytes", 1024 * 1024, 16LL * 1024 * 1024 * 1024, &v, c->path, error));
	c->max_buffered_bytes = (size_t)v;
	/* the budgets must fit inside each other, or a limit would be a lie */
	MCX_ENSURE(c->reserved_connections < c->max_connections,
	           config_fail(error, c->path, config_setting_get_member(s, "reserved_connections"),
	                       "'reserved_connections' (%u) must be below 'max_connections' (%u)",
	                       c->reserved_connections, c->max_connections));
	if (c->no_role_max_request_bytes > c->max_request_bytes)
		c->no_role_max_request_bytes = c->max_request_bytes;
	MCX_ENSURE(c->max_buffered_bytes >= c->max_request_bytes,
	           config_fail(error, c->path, config_setting_get_member(s, "max_buffered_bytes"),
	                       "'max_buffered_bytes' must hold at least one request of 'max_request_bytes'"));
	r = MCX_OK;
out:
	free(mode);
	return r;
}

static int config_load_log(struct vault_config *c, const config_setting_t *s, char **error)
{
	static const char *const allowed[] = { "level", "syslog", NULL };
	int r = MCX_ERR_INTERNAL, level;
	char *name = NULL;

	if (s == NULL)
		return MCX_OK;
	MCX_ENSURE(config_setting_is_group(s), config_fail(error, c->path, s, "'log' must be a group"));
	MCX_GUARD(config_check_members(s, allowed, c->path, error));
	MCX_GUARD(config_string(s, "level", 0, &name, c->path, error));
	if (name != NULL) {
		MCX_ENSURE((level = vault_log_level_parse(name)) >= 0,
		           config_fail(error, c->path, config_setting_get_member(s, "level"),
		                       "unknown log level '%s' (error, warning, info, debug)", name));
		c->log_level = level;
	}
	MCX_GUARD(config_bool(s, "syslog", &c->log_syslog, c->path, error));
	r = MCX_OK;
out:
	free(name);
	return r;
}

static int config_load_audit(struct vault_config *c, const config_setting_t *s, char **error)
{
	char *group = NULL;
	static const char *const allowed[] = { "file", "batch", "checkpoint_interval", "group", "denial_window", NULL };
	int r = MCX_ERR_INTERNAL;
	long long v;

	if (s == NULL)
		return MCX_OK;
	MCX_ENSURE(config_setting_is_group(s), config_fail(error, c->path, s, "'audit' must be a group"));
	MCX_GUARD(config_check_members(s, allowed, c->path, error));
	MCX_GUARD(config_string(s, "file", 0, &c->audit_file, c->path, error));
	v = c->audit_batch;
	MCX_GUARD(config_int(s, "batch", 1, 4096, &v, c->path, error));
	c->audit_batch = (unsigned)v;
	v = c->audit_checkpoint_interval;
	MCX_GUARD(config_int(s, "checkpoint_interval", 1, 3600, &v, c->path, error));
	c->audit_checkpoint_interval = (unsigned)v;
	v = c->audit_denial_window;
	MCX_GUARD(config_int(s, "denial_window", 1, 3600, &v, c->path, error));
	c->audit_denial_window = (unsigned)v;
	MCX_GUARD(config_string(s, "group", 0, &group, c->path, error));
	if (group != NULL) {
		struct group gr, *found = NULL;
		char buf[4096];
		MCX_ENSURE(getgrnam_r(group, &gr, buf, sizeof(buf), &found) == 0 && found != NULL,
		           config_fail(error, c->path, config_setting_get_member(s, "group"),
		                       "audit.group: no group named '%s'", group));
		c->audit_group = (long)found->gr_gid;
	}
	r = MCX_OK;
out:
	free(group);
	return r;
}

/* keys = { destroy_delay; warn_age; cert_warn; }: seconds, at most ten years
 * (a longer delay is a key kept forever, better said by not retiring it). */
static int config_load_keys(struct vault_config *c, const config_setting_t *s, char **error)
{
	static const char *const allowed[] = { "destroy_delay", "warn_age", "cert_warn", NULL };
	const long long max = 10LL * 366 * 86400;
	int r = MCX_ERR_INTERNAL;

	if (s == NULL)
		return MCX_OK;
	MCX_ENSURE(config_setting_is_group(s), config_fail(error, c->path, s, "'keys' must be a group"));
	MCX_GUARD(config_check_members(s, allowed, c->path, error));
	MCX_GUARD(config_int(s, "destroy_delay", 0, max, &c->keys_destroy_delay, c->path, error));
	MCX_GUARD(config_int(s, "warn_age", 0, max, &c->keys_warn_age, c->path, error));
	MCX_GUARD(config_int(s, "cert_warn", 0, max, &c->keys_cert_warn, c->path, error));
	r = MCX_OK;
out:
	return r;
}

static int config_load_gms(struct vault_config *c, const config_setting_t *s, char **error)
{
	static const char *const allowed[] = { "store", NULL };
	int r = MCX_ERR_INTERNAL;

	if (s == NULL)
		return MCX_OK;
	MCX_ENSURE(config_setting_is_group(s), config_fail(error, c->path, s, "'gms' must be a group"));
	MCX_GUARD(config_check_members(s, allowed, c->path, error));
	MCX_GUARD(config_string(s, "store", 0, &c->gms_store, c->path, error));
	r = MCX_OK;
out:
	return r;
}

/* store = "postgresql://…" (state shared by several vaults over one HSM) and
 * node_id (this vault's name in its audit records and its HSM anchor;
 * default the host name).  Top-level settings: they concern the whole
 * vault, not one service. */
static int config_load_cluster(struct vault_config *c, const config_setting_t *root, char **error)
{
	int r = MCX_ERR_INTERNAL;
	char host[256];
	const config_setting_t *node;

	MCX_GUARD(config_string(root, "store", 0, &c->store, c->path, error));
	MCX_ENSURE(c->store == NULL || mcx_store_is_url(c->store),
	           config_fail(error, c->path, config_setting_get_member(root, "store"),
	                       "'store' must be a PostgreSQL URI (\"postgresql://…\"); "
	                       "a SQLite file for one host is gms.store"));
	/* one place for the group keys: otherwise a vault would serve another
	 * set of groups than its peers */
	MCX_ENSURE(c->store == NULL || c->gms_store == NULL,
	           config_fail(error, c->path, config_setting_get_member(root, "store"),
	                       "'store' and 'gms.store' are exclusive: with a shared store the group keys live there"));
	MCX_GUARD(config_string(root, "node_id", 0, &c->node_id, c->path, error));
	if (c->node_id == NULL) {
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		/* a short host name: what the operator calls the machine */
		host[strcspn(host, ".")] = '\0';
		MCX_ENSURE_ALLOC(c->node_id = strdup(host[0] != '\0' ? host : "localhost"));
	}
	/* it goes into token labels and JSON records verbatim */
	node = config_setting_get_member(root, "node_id");
	MCX_ENSURE(strlen(c->node_id) <= 64 &&
	                   strspn(c->node_id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
	                           strlen(c->node_id),
	           config_fail(error, c->path, node != NULL ? node : root,
	                       "'node_id' must be 1-64 of [A-Za-z0-9._-] (it names this vault's audit anchor): '%.80s'",
	                       c->node_id));
	r = MCX_OK;
out:
	return r;
}

static int config_load_hsm(struct vault_config *c, const config_setting_t *s, char **error)
{
	static const char *const allowed[] = { "module", "token", "pin_file", "sync_path", NULL };
	int r = MCX_ERR_INTERNAL;

	MCX_ENSURE(s != NULL && config_setting_is_group(s), config_fail(error, c->path, s, "missing group 'hsm'"));
	MCX_GUARD(config_check_members(s, allowed, c->path, error));
	MCX_GUARD(config_string(s, "module", 1, &c->hsm_module, c->path, error));
	MCX_GUARD(config_string(s, "token", 1, &c->hsm_token_uri, c->path, error));
	MCX_ENSURE(strncmp(c->hsm_token_uri, "pkcs11:", 7) == 0,
	           config_fail(error, c->path, config_setting_get_member(s, "token"),
	                       "'token' must be an RFC 7512 URI such as \"pkcs11:token=mcx-vault\""));
	MCX_GUARD(config_string(s, "pin_file", 0, &c->hsm_pin_file, c->path, error));
	MCX_GUARD(config_string(s, "sync_path", 0, &c->hsm_sync_path, c->path, error));
	r = MCX_OK;
out:
	return r;
}

static int config_load_access_entry(struct vault_config *c, const config_setting_t *e,
                                    struct vault_access_entry *entry, char **error)
{
	static const char *const allowed[] = { "uid", "user", "gid", "group", "roles", "domains", "sign_as", NULL };
	int r = MCX_ERR_INTERNAL, principals = 0;
	const config_setting_t *s;
	char buf[16384];
	long long id;

	MCX_ENSURE(config_setting_is_group(e), config_fail(error, c->path, e, "access entries must be groups { ... }"));
	MCX_GUARD(config_check_members(e, allowed, c->path, error));
	if ((s = config_setting_get_member(e, "uid")) != NULL) {
		principals++;
		id = -1;
		MCX_GUARD(config_int(e, "uid", 0, 0xfffffffeLL, &id, c->path, error));
		entry->kind = VAULT_PRINCIPAL_UID;
		entry->id = (uint32_t)id;
		free(entry->principal);
		entry->principal = NULL;
		MCX_ENSURE(asprintf(&entry->principal, "uid %lld", id) >= 0, MCX_ERR_ALLOC);
	}
	if ((s = config_setting_get_member(e, "gid")) != NULL) {
		principals++;
		id = -1;
		MCX_GUARD(config_int(e, "gid", 0, 0xfffffffeLL, &id, c->path, error));
		entry->kind = VAULT_PRINCIPAL_GID;
		entry->id = (uint32_t)id;
		free(entry->principal);
		entry->principal = NULL;
		MCX_ENSURE(asprintf(&entry->principal, "gid %lld", id) >= 0, MCX_ERR_ALLOC);
	}
	if ((s = config_setting_get_member(e, "user")) != NULL) {
		struct passwd pw, *found = NULL;
		const char *name = config_setting_get_string(s);
		principals++;
		MCX_ENSURE(name != NULL, config_fail(error, c->path, s, "'user' must be a string"));
		MCX_ENSURE(getpwnam_r(name, &pw, buf, sizeof(buf), &found) == 0 && found != NULL,
		           config_fail(error, c->path, s, "unknown user '%s'", name));
		entry->kind = VAULT_PRINCIPAL_UID;
		entry->id = (uint32_t)found->pw_uid;
		free(entry->principal);
		entry->principal = NULL;
		MCX_ENSURE(asprintf(&entry->principal, "user %s", name) >= 0, MCX_ERR_ALLOC);
	}
	if ((s = config_setting_get_member(e, "group")) != NULL) {
		struct group gr, *found = NULL;
		const char *name = config_setting_get_string(s);
		principals++;
		MCX_ENSURE(name != NULL, config_fail(error, c->path, s, "'group' must be a string"));
		MCX_ENSURE(getgrnam_r(name, &gr, buf, sizeof(buf), &found) == 0 && found != NULL,
		           config_fail(error, c->path, s, "unknown group '%s'", name));
		entry->kind = VAULT_PRINCIPAL_GID;
		entry->id = (uint32_t)found->gr_gid;
		free(entry->principal);
		entry->principal = NULL;
		MCX_ENSURE(asprintf(&entry->principal, "group %s", name) >= 0, MCX_ERR_ALLOC);
	}
	MCX_ENSURE(principals == 1,
	           config_fail(error, c->path, e, "an access entry names exactly one of uid, user, gid, group"));

	s = config_setting_get_member(e, "roles");
	MCX_ENSURE(s != NULL && config_setting_is_array(s) && config_setting_length(s) > 0,
	           config_fail(error, c->path, s ? s : e, "an access entry needs a non-empty 'roles' array"));
	for (int i = 0; i < config_setting_length(s); i++) {
		const char *name = config_setting_get_string_elem(s, i);
		unsigned role = vault_role_parse(name);
		MCX_ENSURE(role != 0, config_fail(error, c->path, s,
		                                  "unknown role '%s' (admin, kms, gms, signer, auditor)",
		                                  name ? name : "?"));
		entry->roles |= role;
	}
	if ((s = config_setting_get_member(e, "domains")) != NULL) {
		int n = config_setting_length(s);
		MCX_ENSURE(config_setting_is_array(s) && n > 0,
		           config_fail(error, c->path, s, "'domains' must be a non-empty array of domain names"));
		MCX_ENSURE_ALLOC(entry->domains = calloc((size_t)n, sizeof(char *)));
		for (int i = 0; i < n; i++) {
			const char *name = config_setting_get_string_elem(s, i);
			MCX_ENSURE(name != NULL && vault_config_domain(c, name) != NULL,
			           config_fail(error, c->path, s, "access entry names unknown domain '%s'",
			                       name ? name : "?"));
			MCX_ENSURE_ALLOC(entry->domains[i] = strdup(name));
			entry->domain_count++;
		}
	}
	/* redirect.sign as an identity (ECCSI): only what is listed, only for a signer */
	if ((s = config_setting_get_member(e, "sign_as")) != NULL) {
		int n = config_setting_length(s);
		MCX_ENSURE(config_setting_is_array(s) && n > 0,
		           config_fail(error, c->path, s, "'sign_as' must be a non-empty array of identities"));
		MCX_ENSURE(entry->roles & VAULT_ROLE_SIGNER,
		           config_fail(error, c->path, s, "'sign_as' needs the signer role in the same entry"));
		MCX_ENSURE_ALLOC(entry->sign_as = calloc((size_t)n, sizeof(char *)));
		for (int i = 0; i < n; i++) {
			const char *ident = config_setting_get_string_elem(s, i);
			const char *star = ident != NULL ? strchr(ident, '*') : NULL;
			MCX_ENSURE(ident != NULL && strlen(ident) > 0 && strlen(ident) <= 2048 &&
			                   (star == NULL || star[1] == '\0'),
			           config_fail(error, c->path, s,
			                       "'sign_as' entries are identities (1 to 2048 octets), or prefixes ending "
			                       "in '*' ('*' nowhere else)"));
			MCX_ENSURE_ALLOC(entry->sign_as[i] = strdup(ident));
			entry->sign_as_count++;
		}
	}
	r = MCX_OK;
out:
	return r;
}

/* A domain's list of host names (user_namespaces, issue_to_external_users):
 * an array of min-64 valid lower-case domain names.  Absent: *out stays NULL. */
static int config_name_list(const config_setting_t *e, const char *name, int min, char ***out, size_t *count,
                            const char *path, char **error)
{
	const config_setting_t *s = config_setting_get_member(e, name);
	int r = MCX_ERR_INTERNAL, n;

	if (s == NULL)
		return MCX_OK;
	n = config_setting_length(s);
	MCX_ENSURE(config_setting_is_array(s) && n >= min && n <= 64,
	           config_fail(error, path, s, "'%s' must be an array of %d to 64 domain names [ \"x.example\", ... ]",
	                       name, min));
	MCX_ENSURE_ALLOC(*out = calloc((size_t)n + 1, sizeof(char *)));
	for (int i = 0; i < n; i++) {
		const char *v = config_setting_get_string_elem(s, (unsigned)i);
		MCX_ENSURE(v != NULL && vault_domain_name_valid(v),
		           config_fail(error, path, s, "'%s': '%s' is not a domain name (lower-case letters, digits, '.', '-')",
		                       name, v != NULL ? v : "(not a string)"));
		MCX_ENSURE_ALLOC((*out)[i] = strdup(v));
		(*count)++;
	}
	r = MCX_OK;
out:
	return r;
}

static void config_name_list_free(char **list, size_t count)
{
	for (size_t i = 0; list != NULL && i < count; i++)
		free(list[i]);
	free(list);
}

static int config_load_domains(struct vault_config *c, const config_setting_t *s, char **error)
{
	static const char *const allowed[] = { "name", "kms_uri", "user_key_period", "user_key_offset",
		                               "user_namespaces", "issue_to_external_users",
		                               "certificate_lifetime", "redirect", "token_max_lifetime",
		                               "gmk_overlap", "mikey_identities", NULL };
	static const char *const redirect_allowed[] = { "allow_redirects", "report_redirects", "require_signed",
		                                        "request_unknown_certs", "hold_until_accepted", "max_age",
		                                        NULL };
	int r = MCX_ERR_INTERNAL, n;

	if (s == NULL)
		return MCX_OK;
	MCX_ENSURE(config_setting_is_list(s) || config_setting_is_array(s),
	           config_fail(error, c->path, s, "'domains' must be a list ( { ... }, ... )"));
	n = config_setting_length(s);
	if (n == 0)
		return MCX_OK;
	MCX_ENSURE_ALLOC(c->domains = calloc((size_t)n, sizeof(*c->domains)));
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		struct vault_domain_config *d = &c->domains[i];
		long long v;

		c->domain_count++;
		d->user_key_period = 2592000;   /* 30 days */
		d->user_key_offset = 0;
		d->certificate_lifetime = 2LL * 365 * 86400;
		/* safe defaults: redirects considered, reported, signed ones only */
		d->redirect.allow = 1;
		d->redirect.report = 1;
		d->redirect.require_signed = 1;
		d->redirect.request_unknown_certs = 0;
		d->redirect.hold_until_accepted = 0;
		d->redirect.max_age = 300;
		d->token_max_lifetime = 3600;
		d->gmk_overlap = 86400;
		MCX_ENSURE(config_setting_is_group(e), config_fail(error, c->path, e, "domains must be groups { ... }"));
		MCX_GUARD(config_check_members(e, allowed, c->path, error));
		MCX_GUARD(config_string(e, "name", 1, &d->name, c->path, error));
		MCX_ENSURE(vault_domain_name_valid(d->name),
		           config_fail(error, c->path, config_setting_get_member(e, "name"),
		                       "invalid domain name '%s' (lower-case letters, digits, '.', '-')", d->name));
		for (int k = 0; k < i; k++)
			MCX_ENSURE(strcmp(c->domains[k].name, d->name) != 0,
			           config_fail(error, c->path, e, "domain '%s' is defined twice", d->name));
		MCX_GUARD(config_string(e, "kms_uri", 1, &d->kms_uri, c->path, error));
		v = d->user_key_period;
		MCX_GUARD(config_int(e, "user_key_period", 60, 10LL * 365 * 86400, &v, c->path, error));
		d->user_key_period = v;
		v = d->user_key_offset;
		MCX_GUARD(config_int(e, "user_key_offset", 0, 10LL * 365 * 86400, &v, c->path, error));
		d->user_key_offset = v;
		/* TS 33.180: the offset shifts the start of each period within one period */
		MCX_ENSURE(d->user_key_offset < d->user_key_period,
		           config_fail(error, c->path, e, "domain '%s': user_key_offset must be smaller than user_key_period",
		                       d->name));
		MCX_GUARD(config_name_list(e, "user_namespaces", 1, &d->user_namespaces, &d->user_namespace_count, c->path,
		                           error));
		if (d->user_namespaces == NULL) {
			/* by default a domain's own users are those of its name (and subdomains) */
			MCX_ENSURE_ALLOC(d->user_namespaces = calloc(1, sizeof(char *)));
			MCX_ENSURE_ALLOC(d->user_namespaces[0] = strdup(d->name));
			d->user_namespace_count = 1;
		}
		MCX_GUARD(config_name_list(e, "issue_to_external_users", 0, &d->external_user_domains,
		                           &d->external_user_domain_count, c->path, error));
		v = d->certificate_lifetime;
		MCX_GUARD(config_int(e, "certificate_lifetime", 3600, 20LL * 365 * 86400, &v, c->path, error));
		d->certificate_lifetime = v;
		v = d->token_max_lifetime;
		MCX_GUARD(config_int(e, "token_max_lifetime", 60, 7LL * 86400, &v, c->path, error));
		d->token_max_lifetime = v;
		v = d->gmk_overlap;
		MCX_GUARD(config_int(e, "gmk_overlap", 0, 365LL * 86400, &v, c->path, error));
		d->gmk_overlap = v;
		/* TS 33.180 E.2 (MC service IDs in IDRi/IDRr) or E.7 (their UIDs); "uid" by default */
		{
			char *ids = NULL;
			enum mcx_mikey_identities mode = MCX_MIKEY_IDS_UID;

			r = config_string(e, "mikey_identities", 0, &ids, c->path, error);
			if (r == MCX_OK && ids != NULL && mcx_mikey_identities_parse(ids, &mode) != MCX_OK)
				r = config_fail(error, c->path, config_setting_get_member(e, "mikey_identities"),
				                "domain '%s': mikey_identities must be \"uid\", \"uri\" or \"both\"",
				                d->name);
			free(ids);
			MCX_GUARD(r);
			d->mikey_identities = (int)mode;
		}
		{
			const config_setting_t *rd = config_setting_get_member(e, "redirect");
			if (rd != NULL) {
				MCX_ENSURE(config_setting_is_group(rd),
				           config_fail(error, c->path, rd, "'redirect' must be a group { ... }"));
				MCX_GUARD(config_check_members(rd, redirect_allowed, c->path, error));
				MCX_GUARD(config_bool(rd, "allow_redirects", &d->redirect.allow, c->path, error));
				MCX_GUARD(config_bool(rd, "report_redirects", &d->redirect.report, c->path, error));
				MCX_GUARD(config_bool(rd, "require_signed", &d->redirect.require_signed, c->path, error));
				MCX_GUARD(config_bool(rd, "request_unknown_certs", &d->redirect.request_unknown_certs,
				                      c->path, error));
				MCX_GUARD(config_bool(rd, "hold_until_accepted", &d->redirect.hold_until_accepted,
				                      c->path, error));
				v = d->redirect.max_age;
				MCX_GUARD(config_int(rd, "max_age", 1, 86400, &v, c->path, error));
				d->redirect.max_age = v;
			}
		}
	}
	r = MCX_OK;
out:
	return r;
}

MCX_RESULT vault_config_load(const char *path, struct vault_config **out, char **error)
{
	static const char *const allowed[] = { "server", "log", "audit", "keys", "gms", "hsm", "access", "domains",
		                               "store", "node_id", NULL };
	int r = MCX_ERR_INTERNAL, n;
	config_t cfg;
	struct vault_config *c = NULL;
	const config_setting_t *root, *access;

	*out = NULL;
	config_init(&cfg);
	MCX_ENSURE(path != NULL, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE_ALLOC(c = calloc(1, sizeof(*c)));
	MCX_ENSURE_ALLOC(c->path = strdup(path));
	c->socket_mode = 0660;
	c->max_request_bytes = 1024 * 1024;
	c->workers = 2;
	c->idle_timeout = 300;
	c->max_connections = 1024;
	c->max_connections_per_uid = 256;
	c->no_role_connections = 16;
	c->no_role_max_request_bytes = 4096;
	c->reserved_connections = 16;
	c->request_timeout = 30;
	c->max_buffered_bytes = 256u * 1024 * 1024;
	c->log_level = VAULT_LOG_INFO;
	c->audit_batch = 1024;
	c->audit_group = -1;
	c->audit_denial_window = 10;
	c->audit_checkpoint_interval = 1;
	c->refcount = 1;

	if (!config_read_file(&cfg, path)) {
		if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO) {
			if (asprintf(error, "%s: cannot read: %s", path, strerror(errno)) < 0)
				*error = NULL;
		} else if (asprintf(error, "%s:%d: %s", config_error_file(&cfg) ? config_error_file(&cfg) : path,
		                    config_error_line(&cfg), config_error_text(&cfg)) < 0) {
			*error = NULL;
		}
		MCX_BAIL(MCX_ERR_CONFIG);
	}
	root = config_root_setting(&cfg);
	MCX_GUARD(config_check_members(root, allowed, path, error));
	MCX_GUARD(config_load_server(c, config_lookup(&cfg, "server"), error));
	MCX_GUARD(config_load_log(c, config_lookup(&cfg, "log"), error));
	MCX_GUARD(config_load_audit(c, config_lookup(&cfg, "audit"), error));
	MCX_GUARD(config_load_keys(c, config_lookup(&cfg, "keys"), error));
	MCX_GUARD(config_load_gms(c, config_lookup(&cfg, "gms"), error));
	MCX_GUARD(config_load_hsm(c, config_lookup(&cfg, "hsm"), error));
	MCX_GUARD(config_load_cluster(c, root, error));
	/* domains before access: access entries name domains */
	MCX_GUARD(config_load_domains(c, config_lookup(&cfg, "domains"), error));
	if ((access = config_lookup(&cfg, "access")) != NULL) {
		MCX_ENSURE(config_setting_is_list(access) || config_setting_is_array(access),
		           config_fail(error, path, access, "'access' must be a list ( { ... }, ... )"));
		n = config_setting_length(access);
		if (n > 0) {
			MCX_ENSURE_ALLOC(c->access = calloc((size_t)n, sizeof(*c->access)));
			for (int i = 0; i < n; i++) {
				c->access_count++;
				MCX_GUARD(config_load_access_entry(c, config_setting_get_elem(access, (unsigned)i),
				                                   &c->access[i], error));
			}
		}
	}
	*out = c;
	c = NULL;
	r = MCX_OK;
out:
	if (r != MCX_OK && error != NULL && *error == NULL)
		if (asprintf(error, "%s: %s", path ? path : "(null)", mcx_strerror(r)) < 0)
			*error = NULL;
	config_destroy(&cfg);
	vault_config_free(c);
	return r;
}

void vault_config_free(struct vault_config *c)
{
	if (c == NULL)
		return;
	free(c->path);
	free(c->socket_path);
	free(c->audit_file);
	free(c->gms_store);
	free(c->store);
	free(c->node_id);
	free(c->hsm_module);
	free(c->hsm_token_uri);
	free(c->hsm_pin_file);
	free(c->hsm_sync_path);
	for (size_t i = 0; i < c->access_count; i++) {
		free(c->access[i].principal);
		for (size_t k = 0; k < c->access[i].domain_count; k++)
			free(c->access[i].domains[k]);
		free(c->access[i].domains);
		for (size_t k = 0; k < c->access[i].sign_as_count; k++)
			free(c->access[i].sign_as[k]);
		free(c->access[i].sign_as);
	}
	free(c->access);
	for (size_t i = 0; i < c->domain_count; i++) {
		free(c->domains[i].name);
		free(c->domains[i].kms_uri);
		config_name_list_free(c->domains[i].user_namespaces, c->domains[i].user_namespace_count);
		config_name_list_free(c->domains[i].external_user_domains, c->domains[i].external_user_domain_count);
	}
	free(c->domains);
	free(c);
}

const struct vault_domain_config *vault_config_domain(const struct vault_config *config, const char *name)
{
	if (config == NULL || name == NULL)
		return NULL;
	for (size_t i = 0; i < config->domain_count; i++)
		if (config->domains[i].name != NULL && strcmp(config->domains[i].name, name) == 0)
			return &config->domains[i];
	return NULL;
}
