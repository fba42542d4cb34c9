/*
 * Between store.c and its backends: the table of operations.
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef VAULT_STORE_INTERNAL_H
#define VAULT_STORE_INTERNAL_H

#include "vault/store/store.h"

struct mcx_store_ops {
	const char *kind;
	int shared;
	void (*close)(struct mcx_store *store);
	int (*reachable)(const struct mcx_store *store);
	int (*following)(const struct mcx_store *store);   /* NULL: not shared */
	int (*gms_add)(struct mcx_store *store, const char *domain, const char *owner, unsigned purpose, int rekey,
	               int64_t now, gms_store_make_fn make, void *ctx, struct gms_key *created);
	int (*gms_get)(struct mcx_store *store, const char *domain, const char *owner, unsigned purpose,
	               uint32_t key_id, struct gms_key *meta, struct mcx_buf *sealed);
	int (*gms_expire)(struct mcx_store *store, const char *domain, int64_t cutoff);
	int (*gms_revoke)(struct mcx_store *store, const char *domain, const char *owner, unsigned purpose,
	                  uint32_t key_id, int64_t now, unsigned *count);
	int (*gms_list)(struct mcx_store *store, const char *domain, int servers, const char *owner, int purpose,
	                const char *after, unsigned limit, gms_store_row_fn fn, void *ctx, int *more);
	/* NULL in a store that is not shared */
	int (*replay_peek)(struct mcx_store *store, const uint8_t key[32], int64_t now, int *state);
	int (*replay_claim)(struct mcx_store *store, const char *domain, size_t quota, const uint8_t key[32],
	                    int64_t expires, int hold, int64_t now, int *previous, int *now_state);
	int (*replay_accept)(struct mcx_store *store, const char *domain, size_t quota, const uint8_t key[32],
	                     int64_t expires, int64_t now);
	int (*keys_lock)(struct mcx_store *store);
	uint64_t (*keys_unlock)(struct mcx_store *store, int changed);
	uint64_t (*keys_observed)(struct mcx_store *store);
};

/* Every backend's struct starts with this. */
struct mcx_store {
	const struct mcx_store_ops *ops;
};

MCX_RESULT mcx_store_sqlite_open(const char *path, struct mcx_store **out);
MCX_RESULT mcx_store_pg_open(const char *url, const char *node, struct mcx_store **out);

/* The replay state machine, shared by the backends (store.c). */
int mcx_store_replay_next(int state, int hold);

/* gms_state_name's inverse; unknown text reads as revoked (unusable). */
enum gms_key_state mcx_store_gms_state_parse(const char *text);

/* MCXVAULT_TEST_STORE_DELAY_MS: a test seam that holds a rekey's write
 * transaction open this long (after it read the versions), so that tests
 * can make two vaults race deterministically.  Unset: nothing. */
void mcx_store_test_delay(void);

#endif
