/*
 * The daemon's shared state: configuration (swappable on SIGHUP), the HSM,
 * the key store, counters.  One struct vault per vaultd process.
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef VAULT_VAULT_H
#define VAULT_VAULT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "mcx/safety.h"
#include "vault/daemon/config.h"
#include "vault/keys/hygiene.h"

struct hsm;
struct keystore;
struct kms_service;
struct gms_service;
struct redirect_service;
struct audit_log;
struct mcx_store;

/* Who is on the other end of a connection, from SO_PEERCRED at accept. */
struct vault_caller {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	gid_t groups[64];        /* the uid's supplementary groups (getgrouplist) */
	int group_count;
};

struct vault {
	pthread_mutex_t config_lock;
	struct vault_config *config;     /* current; swapped by vault_reload */
	char *config_path;
	struct hsm *hsm;
	struct keystore *keystore;
	struct kms_service *kms;            /* vault/kms/ */
	struct gms_service *gms;            /* vault/gms/ */
	struct redirect_service *redirect;  /* vault/redirect/ */
	struct audit_log *audit;            /* vault/audit/ */
	struct mcx_store *store;            /* vault/store/: gms.store (SQLite) or store (shared); NULL: none */
	struct vault_hygiene hygiene;       /* vault/keys/hygiene.c (reaper thread) */
	int64_t started;
	atomic_ullong requests_total;
	atomic_ullong requests_failed;
	atomic_uint connections;
};

/* Takes a reference on the current configuration; release it when done. */
struct vault_config *vault_config_acquire(struct vault *vault);
void vault_config_release(struct vault *vault, struct vault_config *config);
/* Re-reads the file; on success swaps access list and domain policies in. */
MCX_RESULT vault_reload(struct vault *vault);

/* Fills caller identity from the connected socket. */
MCX_RESULT vault_caller_from_socket(int fd, struct vault_caller *caller);
/* Roles the caller holds for domain (NULL: roles held for any domain). */
unsigned vault_access_roles(const struct vault_config *config, const struct vault_caller *caller,
                            const char *domain);
/* Whether access entry e names the caller and covers domain (NULL: any). */
int vault_access_entry_applies(const struct vault_access_entry *e, const struct vault_caller *caller,
                               const char *domain);
/* Roles the caller holds for every domain (entries without a domain list). */
unsigned vault_access_roles_unscoped(const struct vault_config *config, const struct vault_caller *caller);

#endif
