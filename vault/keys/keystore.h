/*
 * The key store: the in-memory index of every key version in the token,
 * (domain, purpose, version) -> object handles, state and public key.
 *
 * The token is the single source of truth: each version is
 *   - optionally a key pair labelled mcxvault/<domain>/<purpose>/<version>
 *     (purposes "sign", "cert" and "token", see below),
 *   - optionally named data blobs .../<version>/<name> (purpose "kms": the
 *     sealed master secrets, the public parameters, the signed certificate),
 *   - and a CKO_DATA object .../<version>/meta holding {"state", "created",
 *     "rev"} and, while a destruction is scheduled, "destroy_at"; created
 *     last: its existence is what makes a version real.
 * The index is built by one walk at start-up (with crash recovery, see
 * keystore.c), then requests never search the token; a stale handle is
 * looked up again by label.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef VAULT_KEYSTORE_H
#define VAULT_KEYSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "mcx/buf.h"
#include "mcx/safety.h"

struct hsm;
struct keystore;

enum keystore_state {
	KEYSTORE_STATE_ACTIVE = 0,
	KEYSTORE_STATE_VERIFY_ONLY,
	KEYSTORE_STATE_RETIRED,
};

const char *keystore_state_name(enum keystore_state state);

/* The key-pair purposes.  Each is a separate P-256 key with its own versions,
 * because a signature is only as trustworthy as the set of inputs its key
 * will sign: the "sign" key signs whatever digest a signer sends (sign.sign),
 * so it must never be the key that partners trust for the vault's own
 * documents.  The trust keys sign only what the vault composes itself. */
#define KEYSTORE_PURPOSE_SIGN "sign"    /* sign.sign: caller-chosen digests */
#define KEYSTORE_PURPOSE_CERT "cert"    /* KMS certificates, kms.cert_cache bundles */
#define KEYSTORE_PURPOSE_TOKEN "token"  /* redirect responses, ID tokens */
#define KEYSTORE_PURPOSE_KMS "kms"      /* KMS generations: blobs, no key pair */

/* 1 for sign, cert and token. */
int keystore_purpose_has_key_pair(const char *purpose);
/* 1 for cert and token: the keys that sign only documents the vault composes. */
int keystore_purpose_is_trust(const char *purpose);

#define KEYSTORE_DOMAIN_MAX 128
#define KEYSTORE_PURPOSE_MAX 15
#define KEYSTORE_KID_MAX (KEYSTORE_DOMAIN_MAX + KEYSTORE_PURPOSE_MAX + 16)

/* A copy of one index entry, safe to use after the lock is released. */
struct keystore_key {
	char domain[KEYSTORE_DOMAIN_MAX + 1];
	char purpose[KEYSTORE_PURPOSE_MAX + 1];
	uint32_t version;
	enum keystore_state state;
	int64_t created;
	int64_t destroy_at;             /* verify-only with a scheduled destruction; else 0 */
	int has_private_key;
	uint8_t public_point[65];       /* 0x04 || x || y */
	char kid[KEYSTORE_KID_MAX + 1]; /* "<domain>/<purpose>/<version>" */
};

/* Walks the token, repairs what an interrupted rotation left, builds the index. */
MCX_RESULT keystore_open(struct hsm *hsm, struct keystore **out);
void keystore_free(struct keystore *keystore);
/* Destroys the meta objects that changes replaced (kept off the request
 * path: a destroy costs ~46 ms in a SoftHSM token of 5,000 objects), once no
 * change happened for quiet_ms.  From the server's housekeeping thread. */
void keystore_purge(struct keystore *keystore, unsigned quiet_ms);

/* Several vaults over one token (vault/store/store.h): every key change runs
 * inside lock/unlock (cluster-wide; unlock announces the change when
 * changed), and the index is rebuilt from the token whenever observed()
 * moves — another vault changed keys. */
struct keystore_cluster {
	void *context;
	int (*lock)(void *context);
	uint64_t (*unlock)(void *context, int changed);   /* returns observed() after the change */
	uint64_t (*observed)(void *context);              /* one atomic load */
};
/* Before serving; cluster must outlive the key store. */
void keystore_set_cluster(struct keystore *keystore, const struct keystore_cluster *cluster);

/* Every version of domain (purpose NULL: every purpose), oldest first; free(*keys). */
MCX_RESULT keystore_list(struct keystore *keystore, const char *domain, const char *purpose,
                         struct keystore_key **keys, size_t *count);
/* One version; version 0 means the active one.  MCX_ERR_NOT_FOUND if none. */
MCX_RESULT keystore_get(struct keystore *keystore, const char *domain, const char *purpose, uint32_t version,
                        struct keystore_key *key);
/* Parses "<domain>/<purpose>/<version>" of this domain. */
MCX_RESULT keystore_parse_kid(const char *kid, const char *domain, char purpose[KEYSTORE_PURPOSE_MAX + 1],
                              uint32_t *version);

#define KEYSTORE_BLOBS_MAX 4
#define KEYSTORE_BLOB_NAME_MAX 15

/* A named data blob of a version, stored as a CKO_DATA token object.  A blob
 * whose name starts with "sealed" holds key material encrypted under the
 * vault KEK and is destroyed when the version is retired. */
struct keystore_blob_spec {
	const char *name;      /* [a-z]{1,15}, not "meta" */
	const void *value;
	size_t len;            /* <= 64 KiB */
};

/* Fills the blobs of the version about to be created (its number is known
 * only under the key store's change lock).  The values must stay valid until
 * keystore_add_version returns; *count <= KEYSTORE_BLOBS_MAX. */
typedef int (*keystore_build_fn)(void *context, uint32_t version, struct keystore_blob_spec *blobs,
                                 size_t *count);

enum keystore_add_mode {
	KEYSTORE_ADD_FIRST,    /* version 1: MCX_ERR_EXISTS if any version exists */
	KEYSTORE_ADD_ROTATE,   /* version n+1: MCX_ERR_NOT_FOUND if none exists */
};

/* Creates a new active version (key pair if with_key_pair, blobs from build)
 * and makes the previous active version verify-only. */
MCX_RESULT keystore_add_version(struct keystore *keystore, const char *domain, const char *purpose,
                                enum keystore_add_mode mode, int with_key_pair, keystore_build_fn build,
                                void *build_context, struct keystore_key *created, uint32_t *previous_version);
/* Creates version 1 of a key-pair purpose; MCX_ERR_EXISTS if any version exists. */
MCX_RESULT keystore_domain_init(struct keystore *keystore, const char *domain, const char *purpose,
                                struct keystore_key *created);
/* Makes version n+1 of a key-pair purpose active and the active version verify-only. */
MCX_RESULT keystore_rotate(struct keystore *keystore, const char *domain, const char *purpose,
                           struct keystore_key *created, uint32_t *previous_version);
/* Destroys the private key and secret blobs of a verify-only version and marks it retired. */
MCX_RESULT keystore_retire(struct keystore *keystore, const char *domain, const char *purpose, uint32_t version);
/* keystore_retire, only while the version is still scheduled for destruction
 * at or before now (MCX_ERR_KEY_STATE otherwise: cancelled meanwhile). */
MCX_RESULT keystore_retire_due(struct keystore *keystore, const char *domain, const char *purpose, uint32_t version,
                               int64_t now);
/* Schedules the destruction of a verify-only version at destroy_at (seconds
 * since the epoch, > 0): a crash-safe meta change, the version stays
 * verify-only.  Already scheduled: kept as it is (MCX_OK), so a repeated
 * call never postpones it.  key (may be NULL) receives the version. */
MCX_RESULT keystore_schedule_retire(struct keystore *keystore, const char *domain, const char *purpose,
                                    uint32_t version, int64_t destroy_at, struct keystore_key *key);
/* Removes the schedule; MCX_ERR_KEY_STATE if the version is not verify-only
 * or not scheduled, MCX_ERR_NOT_FOUND if there is no such version. */
MCX_RESULT keystore_cancel_retire(struct keystore *keystore, const char *domain, const char *purpose,
                                  uint32_t version, struct keystore_key *key);
/* The scheduled versions whose destroy_at <= now; free(*keys). */
MCX_RESULT keystore_due(struct keystore *keystore, int64_t now, struct keystore_key **keys, size_t *count);
/* Every version of every domain; free(*keys). */
MCX_RESULT keystore_all(struct keystore *keystore, struct keystore_key **keys, size_t *count);
/* Copies a blob of a version (0: the active one) into out; key receives the version's description. */
MCX_RESULT keystore_blob_get(struct keystore *keystore, const char *domain, const char *purpose, uint32_t version,
                             const char *name, struct mcx_buf *out, struct keystore_key *key);

/* Adds a named blob to an existing version that does not have it yet
 * (MCX_ERR_EXISTS if it does).  One token object, created and synced: a crash
 * leaves the version with or without it, never half of it. */
MCX_RESULT keystore_blob_add(struct keystore *keystore, const char *domain, const char *purpose, uint32_t version,
                             const char *name, const void *value, size_t len);

/* ECDSA P-256 in the HSM over a caller-chosen digest: always the domain's
 * active "sign" key — there is deliberately no purpose argument, so no
 * caller of this function can reach a trust key (cert, token). */
MCX_RESULT keystore_sign(struct keystore *keystore, const char *domain, const uint8_t digest[32],
                         uint8_t signature[64], struct keystore_key *used);

/* ECDSA P-256 with one given version of a trust key (purpose cert or token;
 * MCX_ERR_INVALID_ARGUMENT for any other), only while that version is the
 * active one (MCX_ERR_KEY_STATE otherwise): for documents the vault composed
 * itself and whose header or KeyInfo names the kid.  Never call it with a
 * digest a client chose. */
MCX_RESULT keystore_sign_with(struct keystore *keystore, const char *domain, const char *purpose,
                              uint32_t version, const uint8_t digest[32], uint8_t signature[64]);

/* Test seam: with MCXVAULT_TEST_CRASH_POINT=<name> in the environment,
 * vaultd kills itself with SIGKILL at that point of a rotation (tests/). */
void keystore_crash_point(const char *name);

/* Test seam: with MCXVAULT_TEST_LEGACY_DOMAIN_INIT=1 in the environment,
 * domain.init behaves as the version before key purposes did (only a "sign"
 * key, which also signs the KMS certificate) and start-up does not upgrade,
 * so tests can build a token in the old format and watch the upgrade. */
int keystore_legacy_seam(void);

#endif
