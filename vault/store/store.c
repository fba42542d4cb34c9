/*
 * The state store's dispatch (store.h): picks the backend from the setting
 * and forwards every call through its table of operations.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "vault/store/store_internal.h"

#include "vault/keys/keystore.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int mcx_store_is_url(const char *where)
{
	return where != NULL && (strncmp(where, "postgresql://", 13) == 0 || strncmp(where, "postgres://", 11) == 0);
}

MCX_RESULT mcx_store_open(const char *where, const char *node, struct mcx_store **out)
{
	*out = NULL;
	if (where == NULL)
		return MCX_ERR_INVALID_ARGUMENT;
	return mcx_store_is_url(where) ? mcx_store_pg_open(where, node, out) : mcx_store_sqlite_open(where, out);
}

void mcx_store_close(struct mcx_store *store)
{
	if (store != NULL)
		store->ops->close(store);
}

int mcx_store_shared(const struct mcx_store *store)
{
	return store != NULL && store->ops->shared;
}

const char *mcx_store_kind(const struct mcx_store *store)
{
	return store != NULL ? store->ops->kind : "none";
}

int mcx_store_reachable(const struct mcx_store *store)
{
	return store != NULL && store->ops->reachable(store);
}

int mcx_store_following(const struct mcx_store *store)
{
	return store != NULL && store->ops->following != NULL && store->ops->following(store);
}

MCX_RESULT mcx_store_gms_add(struct mcx_store *store, const char *domain, const char *owner, unsigned purpose,
                             int rekey, int64_t now, gms_store_make_fn make, void *ctx, struct gms_key *created)
{
	return store->ops->gms_add(store, domain, owner, purpose, rekey, now, make, ctx, created);
}

MCX_RESULT mcx_store_gms_get(struct mcx_store *store, const char *domain, const char *owner, unsigned purpose,
                             uint32_t key_id, struct gms_key *meta, struct mcx_buf *sealed)
{
	return store->ops->gms_get(store, domain, owner, purpose, key_id, meta, sealed);
}

MCX_RESULT mcx_store_gms_expire(struct mcx_store *store, const char *domain, int64_t cutoff)
{
	return store->ops->gms_expire(store, domain, cutoff);
}

MCX_RESULT mcx_store_gms_revoke(struct mcx_store *store, const char *domain, const char *owner, unsigned purpose,
                                uint32_t key_id, int64_t now, unsigned *count)
{
	return store->ops->gms_revoke(store, domain, owner, purpose, key_id, now, count);
}

MCX_RESULT mcx_store_gms_list(struct mcx_store *store, const char *domain, int servers, const char *owner,
                              int purpose, const char *after, unsigned limit, gms_store_row_fn fn, void *ctx,
                              int *more)
{
	*more = 0;
	return store->ops->gms_list(store, domain, servers, owner, purpose, after, limit, fn, ctx, more);
}

MCX_RESULT mcx_store_replay_peek(struct mcx_store *store, const uint8_t key[32], int64_t now, int *state)
{
	*state = 0;
	return store->ops->replay_peek != NULL ? store->ops->replay_peek(store, key, now, state) : MCX_ERR_INTERNAL;
}

MCX_RESULT mcx_store_replay_claim(struct mcx_store *store, const char *domain, size_t quota, const uint8_t key[32],
                                  int64_t expires, int hold, int64_t now, int *previous, int *now_state)
{
	return store->ops->replay_claim != NULL
	               ? store->ops->replay_claim(store, domain, quota, key, expires, hold, now, previous, now_state)
	               : MCX_ERR_INTERNAL;
}

MCX_RESULT mcx_store_replay_accept(struct mcx_store *store, const char *domain, size_t quota, const uint8_t key[32],
                                   int64_t expires, int64_t now)
{
	return store->ops->replay_accept != NULL ? store->ops->replay_accept(store, domain, quota, key, expires, now)
	                                         : MCX_ERR_INTERNAL;
}

MCX_RESULT mcx_store_keys_lock(struct mcx_store *store)
{
	return store->ops->keys_lock != NULL ? store->ops->keys_lock(store) : MCX_OK;
}

uint64_t mcx_store_keys_unlock(struct mcx_store *store, int changed)
{
	return store->ops->keys_unlock != NULL ? store->ops->keys_unlock(store, changed) : 0;
}

uint64_t mcx_store_keys_observed(struct mcx_store *store)
{
	return store->ops->keys_observed != NULL ? store->ops->keys_observed(store) : 0;
}

/* The same transitions as the in-memory cache (redirect.c). */
int mcx_store_replay_next(int state, int hold)
{
	switch (state) {
	case 3: return 3;              /* used stays used */
	case 2: return 3;              /* accepted by the Home KMS: this evaluation uses it */
	default: return hold ? 1 : 3;  /* none/held */
	}
}

enum gms_key_state mcx_store_gms_state_parse(const char *text)
{
	for (int i = GMS_STATE_CURRENT; text != NULL && i <= GMS_STATE_REVOKED; i++)
		if (strcmp(text, gms_state_name((enum gms_key_state)i)) == 0)
			return (enum gms_key_state)i;
	return GMS_STATE_REVOKED;
}

void mcx_store_test_delay(void)
{
	const char *v = getenv("MCXVAULT_TEST_STORE_DELAY_MS");
	long ms = v != NULL ? strtol(v, NULL, 10) : 0;

	if (ms > 0 && ms <= 10000) {
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
}

static int cluster_lock(void *context)
{
	return mcx_store_keys_lock(context);
}

static uint64_t cluster_unlock(void *context, int changed)
{
	return mcx_store_keys_unlock(context, changed);
}

static uint64_t cluster_observed(void *context)
{
	return mcx_store_keys_observed(context);
}

void mcx_store_keystore_cluster(struct mcx_store *store, struct keystore_cluster *out)
{
	out->context = store;
	out->lock = cluster_lock;
	out->unlock = cluster_unlock;
	out->observed = cluster_observed;
}
