/*
 * vaultd configuration (libconfig).  config/vault.conf documents every setting.
 *
 * A struct vault_config is immutable once loaded and reference counted, so a
 * SIGHUP reload can swap it while requests still use the old one.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef VAULT_CONFIG_H
#define VAULT_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mcx/safety.h"

enum vault_role {
	VAULT_ROLE_ADMIN = 1 << 0,
	VAULT_ROLE_KMS = 1 << 1,
	VAULT_ROLE_GMS = 1 << 2,
	VAULT_ROLE_SIGNER = 1 << 3,
	VAULT_ROLE_AUDITOR = 1 << 4,
};
#define VAULT_ROLE_ANY (VAULT_ROLE_ADMIN | VAULT_ROLE_KMS | VAULT_ROLE_GMS | VAULT_ROLE_SIGNER | VAULT_ROLE_AUDITOR)
#define VAULT_ROLE_NONE 0   /* a method anyone may call, even an unknown caller */

/* "admin" -> VAULT_ROLE_ADMIN; 0 if unknown. */
unsigned vault_role_parse(const char *name);
const char *vault_role_name(unsigned role);   /* one bit */

enum vault_principal_kind { VAULT_PRINCIPAL_UID, VAULT_PRINCIPAL_GID };

/* One entry of the access list: a uid or gid (names resolved at load time),
 * its roles, and the domains it is limited to (none listed: every domain). */
struct vault_access_entry {
	enum vault_principal_kind kind;
	uint32_t id;
	char *principal;        /* as written, for messages: "uid 0", "user mcxkms", ... */
	unsigned roles;
	char **domains;
	size_t domain_count;
	/* sign_as: the MCX identities a signer of this entry may sign redirect
	 * responses as (ECCSI), each an exact URI or a prefix ending in '*';
	 * none: it may sign as no identity (vault/redirect/redirect_methods.c) */
	char **sign_as;
	size_t sign_as_count;
};

struct vault_domain_config {
	char *name;
	char *kms_uri;
	int64_t user_key_period;  /* seconds, TS 33.180 UserKeyPeriod */
	int64_t user_key_offset;  /* seconds, TS 33.180 UserKeyOffset */
	int64_t certificate_lifetime; /* seconds a new KMS certificate is valid */
	/* Interconnect (kms.user_keys): the host names whose users are the domain's own
	 * (user_namespaces; default: the domain's name; each also covers its subdomains), and
	 * the home domains of visiting users of other systems it may issue keys to
	 * (issue_to_external_users; default none).  Lower-case DNS names. */
	char **user_namespaces;
	size_t user_namespace_count;
	char **external_user_domains;
	size_t external_user_domain_count;
	/* TR 33.880 redirect policy of this home domain (the five policies) */
	struct {
		int allow;                 /* allow_redirects: no -> every redirect ignored */
		int report;                /* report_redirects */
		int require_signed;        /* unsigned or unknown signer -> reject */
		int request_unknown_certs; /* unknown KMS URIs listed for the client to request */
		int hold_until_accepted;   /* decision "hold" until the Home KMS accepts */
		int64_t max_age;           /* seconds a response's date and time may be old (or ahead) */
	} redirect;
	int64_t token_max_lifetime;   /* seconds: upper bound of an ID token's exp - iat */
	int64_t gmk_overlap;          /* seconds a superseded GMK stays distributable to late joiners */
	int mikey_identities;         /* enum mcx_mikey_identities: IDRs of the I_MESSAGEs the GMS builds */
};

struct vault_config {
	char *path;
	/* server */
	char *socket_path;
	unsigned socket_mode;
	size_t max_request_bytes;
	unsigned workers;
	unsigned idle_timeout;        /* seconds */
	unsigned max_connections;
	/* budgets that follow roles (docs/operations.md, "Limits") */
	unsigned max_connections_per_uid;     /* any one uid, whatever its roles */
	unsigned no_role_connections;         /* all callers without a role together */
	size_t no_role_max_request_bytes;     /* a line from a caller without a role */
	unsigned reserved_connections;        /* the last slots: admins only */
	unsigned request_timeout;             /* seconds from a line's first byte to its end */
	size_t max_buffered_bytes;            /* unanswered input of all connections together */
	/* log */
	int log_level;
	int log_syslog;
	/* audit */
	char *audit_file;             /* JSON-lines audit log; NULL: audit off */
	unsigned audit_batch;         /* records per HMAC checkpoint */
	unsigned audit_checkpoint_interval; /* seconds: a checkpoint at least this often */
	long audit_group;
	unsigned audit_denial_window; /* seconds: repeated denials of one uid and method become one record */             /* gid of a new audit log file (audit.group); -1: vaultd's */
	/* keys: hygiene (vault/keys/hygiene.c); 0 turns each off */
	long long keys_destroy_delay; /* seconds from key.retire to the destruction; 0: at once */
	long long keys_warn_age;      /* seconds: warn about active keys older than this */
	long long keys_cert_warn;     /* seconds: warn about KMS certificates expiring within this */
	/* gms */
	char *gms_store;              /* SQLite file of wrapped per-group key material */
	/* several vaults over one HSM (vault/store/store.h) */
	char *store;                  /* "postgresql://…": shared state; NULL: none (one host) */
	char *node_id;                /* this vault's name: audit records and anchor (default: host name) */
	/* hsm */
	char *hsm_module;
	char *hsm_token_uri;
	char *hsm_pin_file;
	char *hsm_sync_path;
	/* access and domains */
	struct vault_access_entry *access;
	size_t access_count;
	struct vault_domain_config *domains;
	size_t domain_count;

	int refcount;                 /* owned by vault_config_acquire/release */
};

/* Loads and validates the whole file.  On error, *error receives a malloc'ed
 * "FILE:LINE: reason" message. */
MCX_RESULT vault_config_load(const char *path, struct vault_config **out, char **error);
void vault_config_free(struct vault_config *config);

const struct vault_domain_config *vault_config_domain(const struct vault_config *config, const char *name);

/* A valid domain name: 1-128 of [a-z0-9.-], not starting with '.' or '-'. */
int vault_domain_name_valid(const char *name);

#endif
