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
};

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
MCX_RESULT kms_external_remove(struct kms_external *external, const char *domain, const char *kms_uri);
/* Copies of the domain's entries; free with kms_external_entries_free. */
MCX_RESULT kms_external_list(struct kms_external *external, const char *domain, struct kms_external_entry **out,
                             size_t *count);
void kms_external_entries_free(struct kms_external_entry *entries, size_t count);
/* One entry (copy; free its xml with free()), or MCX_ERR_NOT_FOUND. */
MCX_RESULT kms_external_find(struct kms_external *external, const char *domain, const char *kms_uri,
                             struct kms_external_entry *out);

#endif
