/*
 * The KMS service: a security domain's master secrets (SAKKE z, ECCSI KSAK)
 * sealed in the token under the vault KEK, its KMS certificates (TS 33.180
 * Annex D), user key issue, and the certificates of trusted external KMSs
 * (TR 33.880 "KMS discovery and redirection").
 *
 * A KMS generation is key store purpose "kms": version n holds the blobs
 *   sealed  AES-256-GCM(KEK, aad "mcxvault/<domain>/kms/<n>", z || KSAK)
 *   params  JSON: public values and validity (Z, KPAK, CertUri, ...)
 *   cert    the signed SignedKmsCertificate XML
 *   resigned (only in generations upgraded from the format before key
 *           purposes) {"signed_by", "xml"}: the same certificate re-signed by
 *           the "cert" key; when present it is the one served
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef VAULT_KMS_H
#define VAULT_KMS_H

#include <stdint.h>

#include "mcx/buf.h"
#include "mcx/eccsi.h"
#include "mcx/safety.h"
#include "mcx/sakke.h"
#include "vault/daemon/config.h"
#include "vault/keys/keystore.h"

struct hsm;
struct kms_service;

#define KMS_SECRETS_LEN (MCX_SAKKE_SCALAR_LEN + MCX_ECCSI_SCALAR_LEN)
#define KMS_KEK_LABEL "mcxvault-kek/1"
#define KMS_RESIGNED_BLOB "resigned"

/* Public values of one KMS generation (the "params" blob). */
struct kms_generation {
	uint32_t version;
	enum keystore_state state;
	char kms_uri[256];
	char cert_uri[512];
	int64_t valid_from, valid_to;
	int64_t user_key_period, user_key_offset;
	uint8_t z_public[MCX_SAKKE_POINT_LEN];   /* SAKKE Z, PubEncKey */
	uint8_t kpak[MCX_ECCSI_POINT_LEN];       /* ECCSI KPAK, PubAuthKey */
	char signed_by[KEYSTORE_KID_MAX + 1];    /* kid of the domain key that signed the certificate */
};

/* Finds (or creates) the vault KEK and the crypto parameters; loads external trust. */
MCX_RESULT kms_service_open(struct hsm *hsm, struct keystore *keystore, struct kms_service **out);
void kms_service_free(struct kms_service *kms);

const struct mcx_sakke_params *kms_sakke(const struct kms_service *kms);
const struct mcx_eccsi_params *kms_eccsi(const struct kms_service *kms);

/* Creates a KMS generation for the domain: fresh master secrets from the
 * token RNG, sealed; a certificate signed by the domain's active "cert" key. */
MCX_RESULT kms_generation_create(struct kms_service *kms, const struct vault_domain_config *domain,
                                 enum keystore_add_mode mode, struct keystore_key *created, uint32_t *previous);
/* The public values of version (0: the active one). */
MCX_RESULT kms_generation_get(struct kms_service *kms, const char *domain, uint32_t version,
                              struct kms_generation *out);
/* The certificate XML of version (>= 1): the re-signed one if the generation
 * was upgraded, else the one stored at creation. */
MCX_RESULT kms_certificate_xml(struct kms_service *kms, const char *domain, uint32_t version, struct mcx_buf *xml);

struct kms_upgrade {
	unsigned keys_created;            /* cert / token version 1 created */
	unsigned certificates_resigned;   /* KMS certificates re-signed by "cert" */
};

/* Brings a domain from the format before key purposes (one "sign" key that
 * also signed KMS certificates) to the current one: creates the missing
 * "cert" and "token" version 1 and re-signs, with "cert", the certificate of
 * every non-retired generation that a "sign" key signed.  Idempotent and
 * crash-safe (each step is one token change); a domain that was never
 * initialised is left alone. */
MCX_RESULT kms_domain_upgrade(struct kms_service *kms, const char *domain, struct kms_upgrade *done);
/* 1 when kms_domain_upgrade would change something (reads only). */
int kms_domain_needs_upgrade(struct kms_service *kms, const char *domain);

/* Unseals z || KSAK of a generation into secret (an mlocked, wiped buffer). */
MCX_RESULT kms_secrets_open(struct kms_service *kms, const char *domain, uint32_t version, struct mcx_buf *secret);

/* Seals plaintext under the vault KEK (AES-256-GCM in the HSM, aad bound
 * in); out receives iv || ciphertext || tag.  For any key material that must
 * live outside the token (e.g. per-group keys in the GMS store). */
MCX_RESULT kms_kek_seal(struct kms_service *kms, const char *aad, const void *plaintext, size_t len,
                        struct mcx_buf *out);
/* Opens what kms_kek_seal produced with the same aad into out (use a secret
 * buffer); MCX_ERR_SIGNATURE_INVALID if anything was changed. */
MCX_RESULT kms_kek_open(struct kms_service *kms, const char *aad, const void *sealed, size_t len,
                        struct mcx_buf *out);

#endif
