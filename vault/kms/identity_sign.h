/*
 * Signing as an MCX identity of a home domain: ECCSI (RFC 6507) with the
 * SSK/PVT the domain's KMS would issue to that identity for one key period
 * (TS 33.180 clause 5.3 and Annex F.2.1), derived inside vaultd from the
 * sealed KSAK, used for one signature and wiped.  The SSK never leaves this
 * file; callers get the signature (r || s || PVT) only.
 *
 * Who may sign as whom is not decided here: the caller (vault/redirect,
 * the access list's sign_as) checks that before it asks.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef VAULT_KMS_IDENTITY_SIGN_H
#define VAULT_KMS_IDENTITY_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "mcx/eccsi.h"
#include "mcx/safety.h"
#include "vault/kms/kms.h"

struct hsm;

/* The key period a signature by the home domain's KMS at Unix time t
 * belongs to: the active KMS generation (its CertUri, KPAK, UserKeyPeriod and
 * UserKeyOffset) and the period number containing t.
 * MCX_ERR_NOT_FOUND: the domain has no KMS generation (not initialised);
 * MCX_ERR_EXPIRED: its certificate is not valid at t;
 * MCX_ERR_INVALID_ARGUMENT: t lies before the key period offset. */
MCX_RESULT kms_identity_key_period(struct kms_service *kms, const char *domain, int64_t t,
                                   struct kms_generation *g, uint64_t *period_no);

/* RFC 6507 section 5.2.1: signs msg as identity (a URI of the domain, 1..2048
 * octets) in key period period_no of generation g (from
 * kms_identity_key_period): ID = the TS 33.180 F.2.1 UID over identity, g's
 * KmsUri, UserKeyPeriod, UserKeyOffset and period_no; (SSK, PVT) issued from
 * g's KSAK (RFC 6507 section 5.1.1, v from the token RNG) and validated
 * (5.1.2); the signature (j from the token RNG) is checked against KPAK
 * before it is returned (a fault in the computation must not leak a
 * signature that reveals the SSK).  The SSK and the unsealed master secrets
 * live only in mlocked buffers, wiped on every path. */
MCX_RESULT kms_identity_sign(struct kms_service *kms, struct hsm *hsm, const char *domain,
                             const struct kms_generation *g, const char *identity, uint64_t period_no,
                             const uint8_t *msg, size_t msg_len, uint8_t sig[MCX_ECCSI_SIG_LEN]);

#endif
