/*
 * The GMS store: per-group key material, ciphertext only, kept in the state
 * store (vault/store/store.h) — a SQLite file on one host, PostgreSQL when
 * several vaults share it.  This file is the GMS's view of it; the SQL of
 * each backend lives in vault/store/.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "vault/gms/gms.h"
#include "vault/store/store.h"

static const char *const state_names[] = { "current", "previous", "expired", "revoked" };

const char *gms_state_name(enum gms_key_state state)
{
	return (unsigned)state < MCX_ARRAY_SIZE(state_names) ? state_names[state] : "unknown";
}

MCX_RESULT gms_store_add(struct mcx_store *store, const char *domain, const char *owner, unsigned purpose,
                         int rekey, int64_t now, gms_store_make_fn make, void *ctx, struct gms_key *created)
{
	return mcx_store_gms_add(store, domain, owner, purpose, rekey, now, make, ctx, created);
}

MCX_RESULT gms_store_get(struct mcx_store *store, const char *domain, const char *owner, unsigned purpose,
                         uint32_t key_id, struct gms_key *meta, struct mcx_buf *sealed)
{
	return mcx_store_gms_get(store, domain, owner, purpose, key_id, meta, sealed);
}

MCX_RESULT gms_store_expire(struct mcx_store *store, const char *domain, int64_t cutoff)
{
	return mcx_store_gms_expire(store, domain, cutoff);
}

MCX_RESULT gms_store_revoke(struct mcx_store *store, const char *domain, const char *owner, unsigned purpose,
                            uint32_t key_id, int64_t now, unsigned *count)
{
	return mcx_store_gms_revoke(store, domain, owner, purpose, key_id, now, count);
}

MCX_RESULT gms_store_list(struct mcx_store *store, const char *domain, int servers, const char *owner, int purpose,
                          const char *after, unsigned limit, gms_store_row_fn fn, void *ctx, int *more)
{
	return mcx_store_gms_list(store, domain, servers, owner, purpose, after, limit, fn, ctx, more);
}
