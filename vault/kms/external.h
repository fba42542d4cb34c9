/*
 * Trusted external KMSs (TR 33.880, "KMS discovery and redirection"):
 * external KMS certificates are loaded manually on the Home KMS and
 * provisioned to its users; without one, no communication with that
 * security domain is possible.
 *
 * Each trusted certificate is a CKO_DATA token object
 * "mcxvault-external/<domain>/<sha256(kms_uri) hex, 16 chars>" holding
 * {"kms_uri", "imported", "signing_key", "xml"} and, when one was imported,
 * "token_key" (entries written before key purposes have none and load as
 * without one); its signature is checked again when vaultd loads it.
 *
 * Revocation and expiry (TR 33.880 leaves both to the deployment): a
 * revoked certificate stays in the store, marked by a second CKO_DATA object
 * "<the entry's label>/revoked" holding {"kms_uri", "revoked_at", "reason",
 * "cert_sha256"}.  One object created is the whole revocation, so a crash
 * leaves the entry either trusted or revoked, never half; the marker names
 * the SHA-256 of the certificate it revokes, so a marker left behind by an
 * interrupted external.remove never revokes a certificate imported later
 * (import deletes such a leftover first).  Every lookup that answers "is
 * this KMS trusted" (kms_external_find, kms_external_find_at,
 * kms_external_list_trusted) applies kms_external_entry_check: a revoked
 * entry is untrusted whatever the instant asked about (its key may be
 * compromised, and anything it signs can carry any date), an entry is
 * expired outside ValidFrom..ValidTo at that instant.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef VAULT_KMS_EXTERNAL_H
#define VAULT_KMS_EXTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "mcx/safety.h"

struct hsm;
struct kms_external;
struct kms_service;

#define KMS_EXTERNAL_XML_MAX (32u * 1024u)

struct kms_external_entry {
	char domain[129];
	char kms_uri[256];
	char cert_uri[512];
	int64_t valid_from, valid_to, imported;
	int64_t user_key_period, user_key_offset;
	uint8_t signing_key[65];     /* the external domain's P-256 "cert" key: signs its certificate */
	uint8_t token_key[65];       /* its "token" key: signs its ID tokens, redirect responses */
	int has_token_key;           /* 0: its tokens and responses are from an unknown signer */
	uint8_t z_public[257];       /* its SAKKE Z */
	uint8_t kpak[65];            /* its ECCSI KPAK */
	char *xml;                   /* the certificate as imported */
	int revoked;                 /* external.revoke: kept, never trusted again */
	int64_t revoked_at;
	char revocation_reason[32];  /* an RFC 5280 section 5.3.1 CRLReason name */
};

/* The RFC 5280 section 5.3.1 CRLReason names external.revoke accepts (not
 * certificateHold / removeFromCRL: a revocation here is final). */
int kms_external_reason_valid(const char *reason);

MCX_RESULT kms_external_open(struct hsm *hsm, struct kms_external **out);
void kms_external_free(struct kms_external *external);
/* Several vaults over one token (vault/store/store.h): imports and removals
 * take the cluster-wide lock and announce themselves; reads re-read the
 * entries from the token after another vault's change. */
struct keystore_cluster;
void kms_external_set_cluster(struct kms_external *external, const struct keystore_cluster *cluster);
struct kms_external *kms_external_store(struct kms_service *kms);

/* Verifies (signature with signing_key, validity, revocation, Role Root) and stores,
 * with token_key (NULL: none).  MCX_ERR_EXISTS when the domain already trusts that KmsUri. */
MCX_RESULT kms_external_import(struct kms_external *external, const char *domain, const char *xml, size_t len,
                               const uint8_t signing_key[65], const uint8_t *token_key, int64_t now,
                               struct kms_external_entry *stored, char *reason, size_t reason_size);
/* Removes the entry and its revocation marker, if any. */
MCX_RESULT kms_external_remove(struct kms_external *external, const char *domain, const char *kms_uri);
/* Marks the entry revoked at `now` for `reason` (kms_external_reason_valid), durably (token synced).
 * MCX_ERR_NOT_FOUND: not imported; MCX_ERR_EXISTS: already revoked (*stored then shows when and why).
 * *stored (may be NULL) receives the entry without xml. */
MCX_RESULT kms_external_revoke(struct kms_external *external, const char *domain, const char *kms_uri,
                               const char *reason, int64_t now, struct kms_external_entry *stored);
/* THE trust predicate: MCX_OK when the entry may be trusted at `at`; MCX_ERR_REVOKED (whatever `at`),
 * MCX_ERR_EXPIRED (outside ValidFrom..ValidTo at `at`).  reason (may be NULL) gets a sentence. */
MCX_RESULT kms_external_entry_check(const struct kms_external_entry *entry, int64_t at, char *reason,
                                    size_t reason_size);
/* Copies of every entry of the domain, trusted or not (external.list, kms.cert_cache: they show
 * the state); free with kms_external_entries_free.  Never use it to decide trust. */
MCX_RESULT kms_external_list(struct kms_external *external, const char *domain, struct kms_external_entry **out,
                             size_t *count);
void kms_external_entries_free(struct kms_external_entry *entries, size_t count);
/* Copies of the entries trusted at `at` (kms_external_entry_check): what the domain trusts. */
MCX_RESULT kms_external_list_trusted(struct kms_external *external, const char *domain, int64_t at,
                                     struct kms_external_entry **out, size_t *count);
/* The trust-store lookup: the entry of kms_uri if the domain trusts it at `at` (a copy; free its
 * xml with free()).  MCX_ERR_NOT_FOUND: not imported; MCX_ERR_REVOKED, MCX_ERR_EXPIRED as
 * kms_external_entry_check (out is then filled all the same, for messages); reason (may be NULL)
 * gets a sentence for any refusal. */
MCX_RESULT kms_external_find_at(struct kms_external *external, const char *domain, const char *kms_uri, int64_t at,
                                struct kms_external_entry *out, char *reason, size_t reason_size);
/* kms_external_find_at now. */
MCX_RESULT kms_external_find(struct kms_external *external, const char *domain, const char *kms_uri,
                             struct kms_external_entry *out);

#endif
