/*
 * mcxvault — the HSM layer.  The only part of mcxvault that speaks PKCS#11:
 * nothing outside pkcs11/ includes a PKCS#11 header or sees a CK_RV.
 *
 * Design (see ../shared limits in docs/architecture.md):
 *   - the module is loaded through p11-kit (registered name or absolute path),
 *     initialised with CKF_OS_LOCKING_OK, and the token is chosen by an
 *     RFC 7512 URI matched with p11-kit's URI functions;
 *   - a fixed pool of long-lived read-write sessions is opened at start and
 *     never closed while the token works (SoftHSM 2.6.1 crashes when sessions
 *     are opened and closed under concurrent load); one user login covers them
 *     all, and CKR_USER_ALREADY_LOGGED_IN is success;
 *   - every PKCS#11 call goes through one guarded wrapper that maps the CK_RV
 *     to an MCX_ERR_* in one place; on a lost session or a token that went
 *     away and came back (CKR_SESSION_HANDLE_INVALID, CKR_SESSION_CLOSED,
 *     CKR_USER_NOT_LOGGED_IN, CKR_DEVICE_REMOVED, CKR_TOKEN_NOT_PRESENT, ...)
 *     it reopens the session, logs in again and retries the call once; if that
 *     fails the caller gets MCX_ERR_HSM_UNAVAILABLE, the token is taken for
 *     gone (every call fails at once) and a background thread re-initialises
 *     the module until the token is back (docs/hsm.md, "States");
 *   - calls that create, change or destroy objects are serialised behind one
 *     lock and retried once on CKR_GENERAL_ERROR (SoftHSM 2.6.1 issue #573);
 *   - an object handle that is no longer valid is reported as
 *     MCX_ERR_HSM_STALE_HANDLE so the caller's index can look it up again;
 *     so is every handle of before a re-initialisation (hsm_generation), so
 *     an old handle never names another object.
 *
 * All functions are thread-safe; each call borrows a session from the pool
 * for its duration.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef MCX_PKCS11_HSM_H
#define MCX_PKCS11_HSM_H

#include <stddef.h>
#include <stdint.h>

#include "mcx/buf.h"
#include "mcx/safety.h"

struct hsm;

struct hsm_options {
	const char *module;     /* p11-kit registered name ("softhsm2") or absolute path */
	const char *token_uri;  /* RFC 7512, e.g. "pkcs11:token=mcx-vault" */
	const char *pin;        /* user PIN; the layer keeps one copy in locked, non-dumpable
	                         * memory to log in again after a lost session, and wipes
	                         * it in hsm_close(); the caller wipes its own copy */
	unsigned sessions;      /* size of the session pool, >= 1 */
	const char *sync_path;  /* token directory to syncfs(); NULL: from SOFTHSM2_CONF, else sync() */
	/* Where the token's loss and return are told (one sentence each, from
	 * any thread); NULL: stderr.  vaultd passes its log. */
	void (*event)(int lost, const char *message);
};

/* Loads the module, finds the token, opens the pool and logs in. */
MCX_RESULT hsm_open(const struct hsm_options *options, struct hsm **out);
/* Closes sessions and finalises the module; NULL is fine. */
void hsm_close(struct hsm *hsm);

struct hsm_token_info {
	char module_description[65];
	char module_path[256];
	char token_label[33];     /* trailing blanks removed */
	char token_serial[17];
	char token_manufacturer[33];
	char token_model[17];
	int reachable;            /* 1 when a session answered just now */
};

/* Cheap: cached strings plus a liveness check (C_GetSessionInfo and
 * C_GetTokenInfo); reachable is 0 at once while the token is marked gone. */
MCX_RESULT hsm_token_info(struct hsm *hsm, struct hsm_token_info *info);

typedef unsigned long hsm_handle_t;   /* a CK_OBJECT_HANDLE, opaque to callers */
#define HSM_HANDLE_INVALID 0UL

enum hsm_object_class {
	HSM_CLASS_OTHER = 0,
	HSM_CLASS_DATA,
	HSM_CLASS_PUBLIC_KEY,
	HSM_CLASS_PRIVATE_KEY,
	HSM_CLASS_SECRET_KEY,
};

#define HSM_LABEL_MAX 255
#define HSM_DATA_VALUE_MAX (64u * 1024u)

struct hsm_object {
	hsm_handle_t handle;
	enum hsm_object_class object_class;
	char label[HSM_LABEL_MAX + 1];
	const uint8_t *value;     /* CKO_DATA only: CKA_VALUE (<= HSM_DATA_VALUE_MAX), else NULL */
	size_t value_len;
};

/* Called once per object; a non-zero return stops the walk and is returned. */
typedef int (*hsm_object_fn)(void *context, const struct hsm_object *object);

/* Walks every token object whose CKA_LABEL starts with label_prefix (one
 * C_FindObjects pass; always ends with C_FindObjectsFinal).  For start-up
 * and for re-finding stale handles, never per request. */
MCX_RESULT hsm_objects_walk(struct hsm *hsm, const char *label_prefix, hsm_object_fn fn, void *context);
/* The single object of this class with exactly this label, or MCX_ERR_NOT_FOUND. */
MCX_RESULT hsm_find_by_label(struct hsm *hsm, enum hsm_object_class object_class, const char *label,
                             hsm_handle_t *out);

/* EC P-256 key pair for signing, both halves token objects labelled `label`
 * with CKA_ID = id.  Private: CKA_PRIVATE, CKA_SENSITIVE, CKA_SIGN = true;
 * CKA_EXTRACTABLE, CKA_DECRYPT, CKA_UNWRAP, CKA_DERIVE = false.
 * Public: CKA_VERIFY only.  point receives 0x04 || x || y. */
MCX_RESULT hsm_ec_p256_generate(struct hsm *hsm, const char *label, const uint8_t *id, size_t id_len,
                                hsm_handle_t *private_key, hsm_handle_t *public_key, uint8_t point[65]);
/* The uncompressed point (0x04 || x || y) of a P-256 public key object. */
MCX_RESULT hsm_ec_public_point(struct hsm *hsm, hsm_handle_t public_key, uint8_t point[65]);
/* CKM_ECDSA over a 32-octet digest; signature is r || s, 64 octets. */
MCX_RESULT hsm_ecdsa_sign(struct hsm *hsm, hsm_handle_t private_key, const uint8_t digest[32],
                          uint8_t signature[64]);

/* CKO_DATA token object: CKA_PRIVATE, CKA_MODIFIABLE, CKA_APPLICATION "mcxvault". */
MCX_RESULT hsm_data_create(struct hsm *hsm, const char *label, const void *value, size_t len,
                           hsm_handle_t *out);
/* Where the token refuses to change CKA_VALUE of a data object (SoftHSM 2.6.1
 * does, by design), the object is replaced by a new one with the same label
 * (created first, then the old one destroyed): the old handle then gives
 * MCX_ERR_HSM_STALE_HANDLE; *current (if not NULL) receives the handle that
 * holds the value now, the same or the new one. */
MCX_RESULT hsm_data_set_value(struct hsm *hsm, hsm_handle_t object, const void *value, size_t len,
                              hsm_handle_t *current);
MCX_RESULT hsm_data_get_value(struct hsm *hsm, hsm_handle_t object, struct mcx_buf *out);
MCX_RESULT hsm_object_destroy(struct hsm *hsm, hsm_handle_t object);

/* AES-256 token key: CKA_SENSITIVE, !CKA_EXTRACTABLE, CKA_ENCRYPT/DECRYPT/WRAP/UNWRAP. */
MCX_RESULT hsm_aes_generate(struct hsm *hsm, const char *label, hsm_handle_t *out);
/* CKM_AES_GCM, 12-octet IV from the token RNG, 16-octet tag, aad bound in.
 * out receives iv || ciphertext || tag. */
MCX_RESULT hsm_aes_gcm_encrypt(struct hsm *hsm, hsm_handle_t key, const void *aad, size_t aad_len,
                               const void *plaintext, size_t len, struct mcx_buf *out);
/* Reverses hsm_aes_gcm_encrypt; use a secret buffer for out.  A wrong key,
 * aad or a changed byte gives MCX_ERR_SIGNATURE_INVALID and writes nothing. */
MCX_RESULT hsm_aes_gcm_decrypt(struct hsm *hsm, hsm_handle_t key, const void *aad, size_t aad_len,
                               const void *sealed, size_t len, struct mcx_buf *out);

/* Generic secret (HMAC-SHA-256) token key: CKA_SENSITIVE, !CKA_EXTRACTABLE, CKA_SIGN/VERIFY. */
MCX_RESULT hsm_hmac_generate(struct hsm *hsm, const char *label, hsm_handle_t *out);
/* CKM_SHA256_HMAC over data; mac is 32 octets. */
MCX_RESULT hsm_hmac_sha256(struct hsm *hsm, hsm_handle_t key, const void *data, size_t len, uint8_t mac[32]);

/* C_GenerateRandom. */
MCX_RESULT hsm_random(struct hsm *hsm, void *out, size_t len);

/* Makes token writes durable before we acknowledge them (SoftHSM does not
 * fsync): syncfs() on the token directory. */
MCX_RESULT hsm_sync(struct hsm *hsm);

/* Counters for vault.status and tests. */
struct hsm_stats {
	uint64_t calls;
	uint64_t recoveries;      /* sessions reopened / logins redone */
	uint64_t retries;         /* object-changing calls retried */
	uint64_t failures;        /* calls that ended in an error */
	uint64_t reinits;         /* module re-initialisations after the token came back */
	uint64_t generation;      /* as hsm_generation() */
	int reachable;            /* 0 while the token is marked gone */
};
void hsm_stats_get(struct hsm *hsm, struct hsm_stats *stats);

/* The token's generation: 1 at hsm_open, +1 each time the module was
 * re-initialised after the token or the module was gone.  Object handles
 * of an older generation give MCX_ERR_HSM_STALE_HANDLE (never another
 * object); a cache of handles (an index of token objects) that sees the
 * generation change looks its objects up again by label. */
uint64_t hsm_generation(struct hsm *hsm);
/* The module's own CK_OBJECT_HANDLE inside a handle of this layer (which
 * carries its generation in the top bits): only for code that also talks
 * PKCS#11 directly to the same module, i.e. tests and benchmarks. */
unsigned long hsm_handle_raw(hsm_handle_t handle);

#endif /* MCX_PKCS11_HSM_H */
