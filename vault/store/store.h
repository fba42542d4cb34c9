/*
 * The state store: every piece of mutable state vaultd keeps outside the
 * token, behind one interface with two backends (docs/architecture.md,
 * "Several vaults over one HSM"):
 *
 *   sqlite      gms.store = "/path": the embedded default for one host.  Holds
 *               the GMS keys (ciphertext only); the redirect replay cache
 *               stays in memory and the key index follows the token alone.
 *   postgresql  store = "postgresql://…": shared by every vaultd of a
 *               cluster over one (network) HSM.  Holds the GMS keys, the
 *               redirect replay cache (a response used at one vault is a
 *               replay at every other) and the key generation counter that
 *               tells each vault to re-read its token index after a key
 *               change made by another, and serialises key changes across
 *               vaults with an advisory lock.
 *
 * Nothing secret ever reaches a store: group keys are sealed under the token
 * KEK before they are handed in (gms.h), replay entries are SHA-256 digests.
 * Every function is thread-safe.  A shared store that cannot be reached
 * answers MCX_ERR_STORE_UNAVAILABLE and reconnects on the next call.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef VAULT_STORE_H
#define VAULT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "mcx/safety.h"
#include "vault/gms/gms.h"

struct mcx_store;

/* "postgresql://…" or "postgres://…" (a libpq connection URI): PostgreSQL;
 * anything else is the path of a SQLite file.  node: this vault's node id
 * (config node_id), its row among the vaults of a shared store. */
int mcx_store_is_url(const char *where);
MCX_RESULT mcx_store_open(const char *where, const char *node, struct mcx_store **out);
void mcx_store_close(struct mcx_store *store);
/* 1 when several vaults share the store (PostgreSQL). */
int mcx_store_shared(const struct mcx_store *store);
/* "sqlite" or "postgresql", for logs and vault.status. */
const char *mcx_store_kind(const struct mcx_store *store);
/* 1 when the last call reached the store (a shared store that is down: 0). */
int mcx_store_reachable(const struct mcx_store *store);
/* A shared store: 1 while this vault listens for the others' key changes
 * (after an outage, 0 until its listener is back: up to a second). */
int mcx_store_following(const struct mcx_store *store);

/* --- group keys (gms.h describes the semantics) ---------------------------- */
MCX_RESULT mcx_store_gms_add(struct mcx_store *store, const char *domain, const char *owner, unsigned purpose,
                             int rekey, int64_t now, gms_store_make_fn make, void *ctx, struct gms_key *created);
MCX_RESULT mcx_store_gms_get(struct mcx_store *store, const char *domain, const char *owner, unsigned purpose,
                             uint32_t key_id, struct gms_key *meta, struct mcx_buf *sealed);
MCX_RESULT mcx_store_gms_expire(struct mcx_store *store, const char *domain, int64_t cutoff);
MCX_RESULT mcx_store_gms_revoke(struct mcx_store *store, const char *domain, const char *owner, unsigned purpose,
                                uint32_t key_id, int64_t now, unsigned *count);
/* Rows by owner, purpose, version.  after: only owners sorted (bytewise)
 * after it; limit > 0: at most that many owners, and *more = 1 when more
 * owners follow (the caller's cursor is the last owner it saw). */
MCX_RESULT mcx_store_gms_list(struct mcx_store *store, const char *domain, int servers, const char *owner,
                              int purpose, const char *after, unsigned limit, gms_store_row_fn fn, void *ctx,
                              int *more);

/* --- the redirect replay cache (shared stores only) --------------------------
 * States as enum redirect_seen (redirect.h): 0 none, 1 held, 2 accepted,
 * 3 used.  claim: none/held -> held (hold) or used, accepted -> used, used
 * stays; accept: -> accepted unless used (MCX_ERR_EXISTS).  MCX_ERR_BUSY when
 * the domain holds quota live entries and key is new. */
MCX_RESULT mcx_store_replay_peek(struct mcx_store *store, const uint8_t key[32], int64_t now, int *state);
MCX_RESULT mcx_store_replay_claim(struct mcx_store *store, const char *domain, size_t quota, const uint8_t key[32],
                                  int64_t expires, int hold, int64_t now, int *previous, int *now_state);
MCX_RESULT mcx_store_replay_accept(struct mcx_store *store, const char *domain, size_t quota, const uint8_t key[32],
                                   int64_t expires, int64_t now);

/* --- key changes across vaults (shared stores only) --------------------------
 * keys_lock takes the cluster-wide lock for a token key change (blocks while
 * another vault holds it, MCX_ERR_STORE_UNAVAILABLE when the store is down)
 * and refreshes the observed generation; keys_unlock releases it, after
 * bumping the generation (and notifying every vault) when changed, and
 * waiting (up to 2 s) until every other live vault confirms it heard of it.
 * keys_observed is one atomic load: a counter that moves whenever this vault
 * learns that the token's keys changed elsewhere (a notification, the 1 s
 * poll, a reconnection after an outage). */
MCX_RESULT mcx_store_keys_lock(struct mcx_store *store);
uint64_t mcx_store_keys_unlock(struct mcx_store *store, int changed);
uint64_t mcx_store_keys_observed(struct mcx_store *store);

struct keystore_cluster;
/* The key store's hooks (keystore_set_cluster) over a shared store. */
void mcx_store_keystore_cluster(struct mcx_store *store, struct keystore_cluster *out);

#endif
