/*
 * The GMS service (issue 4): Group Master Keys and server-controlled
 * signalling keys (TS 33.180 clause 5.7, TR 33.880 MBMS key issue), kept
 * outside the token and distributed as MIKEY-SAKKE I_MESSAGEs.
 *
 * Key material never lives in the token (it must stay small, see
 * docs/architecture.md): each key is 16 octets from the token RNG, sealed at
 * once with kms_kek_seal() (AES-256-GCM under the token KEK) with
 *   aad "mcxvault-gms/<domain>/<purpose>/<version>/<key id, 8 hex>/<owner>"
 * and only that ciphertext is written to the state store (gms_store.c,
 * vault/store/: SQLite on one host, PostgreSQL shared by several vaults).
 * Plaintext keys exist only in mlocked mcx_buf_new_secret() buffers for the
 * duration of one request.
 *
 * A key is owned by a group URI (purpose 0, the GMK) or by a server URI
 * (purposes 2 CSK, 4 MKFC, 5 MSCCK); its 32-bit identifier carries the
 * purpose tag in its 4 most significant bits and 28 bits from the token RNG.
 * Versions of one owner: exactly one "current", superseded ones "previous"
 * (distributable until gmk_overlap ends or they are revoked), and "expired"
 * / "revoked" ones whose sealed blob has been deleted (secure_delete=ON).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef VAULT_GMS_H
#define VAULT_GMS_H

#include <stddef.h>
#include <stdint.h>

#include "mcx/buf.h"
#include "mcx/safety.h"
#include "vault/daemon/config.h"

struct hsm;
struct kms_service;
struct gms_service;
struct mcx_store;

#define GMS_URI_MAX 2048            /* group, server, sender and member URIs */
#define GMS_KEY_LEN 16              /* GMK, CSK, MKFC, MSCCK: 128 bits */
#define GMS_MEMBERS_MAX 10000       /* members per distribute request */
#define GMS_LIST_LIMIT 1000         /* gmk.list: groups per page, default and maximum */
#define GMS_INLINE_MAX 16           /* up to this many members: run on the calling worker */

/* TS 33.180 purpose tags (4 MSB of the key identifier). */
#define GMS_PURPOSE_GMK   0u
#define GMS_PURPOSE_CSK   2u
#define GMS_PURPOSE_MKFC  4u
#define GMS_PURPOSE_MSCCK 5u

enum gms_key_state {
	GMS_STATE_CURRENT = 0,   /* distributed by default */
	GMS_STATE_PREVIOUS,      /* superseded; distributable until the overlap ends */
	GMS_STATE_EXPIRED,       /* overlap over: material deleted */
	GMS_STATE_REVOKED,       /* revoked: material deleted */
};
const char *gms_state_name(enum gms_key_state state);

/* Metadata of one key version (never key bytes). */
struct gms_key {
	const char *owner;          /* borrowed; only set by list callbacks */
	unsigned purpose;
	uint32_t version;
	uint32_t key_id;
	enum gms_key_state state;
	int64_t created;
	int64_t superseded;         /* 0 while current */
	int64_t destroyed;          /* 0 while the sealed blob exists */
};

/* --- the store (gms_store.c over vault/store/); thread-safe ---------------- */

/* Draws a key identifier and seals a fresh key for (version, key_id) into
 * sealed; called inside the store's write transaction. */
typedef int (*gms_store_make_fn)(void *ctx, uint32_t version, uint32_t *key_id, struct mcx_buf *sealed);

/* New version of (domain, owner, purpose).  rekey 0: version 1, MCX_ERR_EXISTS
 * if the owner exists; rekey 1: version n+1 (MCX_ERR_NOT_FOUND if none), the
 * current one becomes previous.  A key id already used by the owner is drawn
 * again.  *created receives the new version's metadata. */
MCX_RESULT gms_store_add(struct mcx_store *store, const char *domain, const char *owner, unsigned purpose,
                         int rekey, int64_t now, gms_store_make_fn make, void *ctx, struct gms_key *created);
/* The sealed blob of the current version (key_id 0) or of key_id.
 * MCX_ERR_NOT_FOUND unknown owner/id, MCX_ERR_REVOKED revoked,
 * MCX_ERR_EXPIRED overlap over, MCX_ERR_KEY_STATE no current version. */
MCX_RESULT gms_store_get(struct mcx_store *store, const char *domain, const char *owner, unsigned purpose,
                         uint32_t key_id, struct gms_key *meta, struct mcx_buf *sealed);
/* Deletes the blobs of previous versions superseded at or before cutoff. */
MCX_RESULT gms_store_expire(struct mcx_store *store, const char *domain, int64_t cutoff);
/* Revokes key_id (0: every version of the owner); *count versions revoked. */
MCX_RESULT gms_store_revoke(struct mcx_store *store, const char *domain, const char *owner, unsigned purpose,
                            uint32_t key_id, int64_t now, unsigned *count);

typedef int (*gms_store_row_fn)(void *ctx, const struct gms_key *key);
/* Every version of the domain's keys (servers 0: purpose GMK; 1: the others),
 * by owner, purpose, version; or of one owner (owner not NULL).  Paged by
 * whole owners: after (NULL: from the start) and limit (0: all); *more is 1
 * when owners follow the page. */
MCX_RESULT gms_store_list(struct mcx_store *store, const char *domain, int servers, const char *owner,
                          int purpose, const char *after, unsigned limit, gms_store_row_fn fn, void *ctx,
                          int *more);

/* --- the service (gms.c) --------------------------------------------------- */

/* store NULL: the service runs without a store and every gmk.* and
 * server_key.* call is refused (gms.store or store must be configured).  The
 * store is borrowed: the caller closes it after gms_service_free. */
MCX_RESULT gms_service_open(struct mcx_store *store, unsigned workers, struct hsm *hsm, struct kms_service *kms,
                            struct gms_service **out);
void gms_service_free(struct gms_service *gms);

struct mcx_store *gms_service_store(struct gms_service *gms);
struct hsm *gms_service_hsm(struct gms_service *gms);
struct kms_service *gms_service_kms(struct gms_service *gms);

/* The aad binding a sealed key to its place. */
void gms_key_aad(char *out, size_t size, const char *domain, unsigned purpose, uint32_t version, uint32_t key_id,
                 const char *owner);

#endif
