/*
 * The redirect service (TR 33.880 "KMS discovery and redirection"):
 * Security Domain Redirect Responses signed by a domain, their evaluation
 * under the home domain's five redirect policies, and inter-domain ID tokens.
 *
 * Trust: a home domain trusts exactly its own KMS URI and the external KMSs
 * imported with external.import whose certificate is valid now and not
 * revoked (kms_external_list_trusted decides).  A signer is
 * named by the payload's "iss" (its KMS URI) and the header's "kid"
 * ("<domain>/token/<version>"; no other purpose is accepted): for the home
 * KMS URI the kid selects one of the home domain's "token" key versions
 * (active or verify-only; retired versions are not trusted for new
 * artefacts), for a trusted external KMS the signature must verify with the
 * token_key imported with it — without one the signer is unknown (its
 * signing_key verifies certificates only).
 *
 * A response may instead be signed by an MCX identity (TR 33.880: "a
 * signature (using the originating identity) over the entire message"):
 * ECCSI (RFC 6507), kid the CertUri of the signer's KMS certificate, iss its
 * KMS URI, the payload's signer_id the identity.  It verifies with the KPAK
 * of that certificate — a home KMS generation that is not retired, or the
 * trusted external certificate kms_external_find returns — valid at the
 * response's iat, and the TS 33.180 F.2.1 UID of signer_id for the key
 * period containing iat.
 *
 * The service's only state is a bounded cache of the responses this vault
 * has let through, held or seen accepted by the Home KMS, kept for the
 * replay window (2 x max_age, see docs/protocol.md).  On one host it is in
 * memory and lost on restart (responses older than the window are stale
 * anyway); with a shared store (store = "postgresql://…") it is in the
 * database, so that a response used at one vault is a replay at every other.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef VAULT_REDIRECT_H
#define VAULT_REDIRECT_H

#include <stddef.h>
#include <stdint.h>

#include "mcx/safety.h"
#include "vault/daemon/config.h"
#include "vault/kms/external.h"
#include "vault/redirect/jose.h"

struct vault;
struct redirect_service;

#define REDIRECT_CACHE_MAX 16384

MCX_RESULT redirect_service_open(struct redirect_service **out);
void redirect_service_free(struct redirect_service *redirect);

/* What the home domain trusts at one instant. */
struct redirect_trust {
	const struct vault_domain_config *home;
	struct kms_external_entry *external;   /* the entries trusted at now (kms_external_list_trusted) */
	size_t external_count;
	int64_t now;
};

MCX_RESULT redirect_trust_load(struct vault *vault, const struct vault_domain_config *home, int64_t now,
                               struct redirect_trust *trust);
void redirect_trust_clear(struct redirect_trust *trust);
/* 1 when uri is the home KMS URI or a trusted external KMS valid now. */
int redirect_trust_kms(const struct redirect_trust *trust, const char *uri);

enum redirect_signature {
	REDIRECT_SIG_VALID = 0,
	REDIRECT_SIG_INVALID,
	REDIRECT_SIG_UNSIGNED,
	REDIRECT_SIG_UNKNOWN_SIGNER,
};
const char *redirect_signature_name(enum redirect_signature s);

struct redirect_signer {
	enum redirect_signature status;
	enum jose_alg alg;         /* the form: ES256 by a domain's token key, ECCSI by an identity, none */
	int home;                  /* signed by the home domain (its token key, or an identity of its KMS) */
	char domain[129];          /* ES256: from the kid; ECCSI: the home domain or ""; "" when unsigned */
	const char *signer_id;     /* ECCSI: the signing identity (borrowed from the payload); else NULL */
	char kid[JOSE_KID_MAX + 1];
	char detail[256];          /* why invalid or unknown */
};

/* Classifies the JWS's signature with issuer iss (may be NULL when unsigned);
 * for ECCSI also signer_id (the identity) and iat (the instant that selects
 * the certificate and the key period; unused otherwise).  Fails only on
 * internal errors. */
MCX_RESULT redirect_check_signer(struct vault *vault, const struct redirect_trust *trust, const struct jose_jws *jws,
                                 const char *iss, const char *signer_id, int64_t iat, struct redirect_signer *out);
/* "ES256", "ECCSI" or "none". */
const char *redirect_alg_name(enum jose_alg alg);

/* The replay cache.  Keys are SHA-256(home domain || 0 || payload digest).
 * Each home domain may hold at most its quota of live entries
 * (redirect_cache_quota: the cache divided among the configured domains),
 * so a caller scoped to one domain that fills it (a signer evaluating
 * responses in a loop) gets -32010 for that domain only. */
enum redirect_seen {
	REDIRECT_SEEN_NONE = 0,
	REDIRECT_SEEN_HELD,       /* evaluated with decision hold */
	REDIRECT_SEEN_ACCEPTED,   /* the Home KMS accepted it (redirect.accept) */
	REDIRECT_SEEN_USED,       /* decision accept was given once: any later evaluation is a replay */
};

void redirect_cache_key(const char *domain, const uint8_t payload_digest[32], uint8_t key[32]);
/* A shared store (store.h) keeps the cache for every vault from now on;
 * a store that is not shared leaves it in memory. */
struct mcx_store;
void redirect_service_set_store(struct redirect_service *redirect, struct mcx_store *store);
enum redirect_seen redirect_cache_peek(struct redirect_service *redirect, const uint8_t key[32], int64_t now);
/* For a response that passes every other check: atomically moves
 * NONE/HELD -> HELD (hold) or USED, ACCEPTED -> USED, and leaves USED alone.
 * *previous receives the state before, *now_state the state after.
 * MCX_ERR_BUSY when the cache is full of responses still inside their window. */
MCX_RESULT redirect_cache_claim(struct redirect_service *redirect, const char *domain, size_t quota,
                                const uint8_t key[32], int64_t expires, int hold, int64_t now,
                                enum redirect_seen *previous, enum redirect_seen *now_state);
/* redirect.accept: NONE/HELD/ACCEPTED -> ACCEPTED; MCX_ERR_EXISTS when already USED. */
MCX_RESULT redirect_cache_accept(struct redirect_service *redirect, const char *domain, size_t quota,
                                 const uint8_t key[32], int64_t expires, int64_t now);
/* Live entries one home domain may hold: REDIRECT_CACHE_MAX / configured domains. */
size_t redirect_cache_quota(const struct vault_config *config);

/* The longest redirect.max_age of any configured domain (the cache window). */
int64_t redirect_max_age_horizon(const struct vault_config *config);

#endif
