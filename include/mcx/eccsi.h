/*
 * mcxvault — ECCSI signatures (RFC 6507) on NIST P-256 with SHA-256, on
 * libcrypto only.
 *
 * Byte-oriented API, fixed sizes (big-endian):
 *   KSAK (KMS secret authentication key)     MCX_ECCSI_SCALAR_LEN (32), 0 < KSAK < q
 *   KPAK (KMS public authentication key)     MCX_ECCSI_POINT_LEN  (65), 0x04 || x || y
 *   SSK  (user secret signing key)           MCX_ECCSI_SCALAR_LEN (32)
 *   PVT  (public validation token)           MCX_ECCSI_POINT_LEN  (65)
 *   HS   (hash of G || KPAK || ID || PVT)    MCX_ECCSI_HASH_LEN   (32)
 *   signature r || s || PVT                  MCX_ECCSI_SIG_LEN    (129)
 *   ID: any octet string of 1..MCX_ECCSI_ID_MAX octets (MIKEY-SAKKE: the UID)
 *
 * A struct mcx_eccsi_params is created once and may then be shared by any
 * number of threads (every function only reads it).
 *
 * Results: 0, MCX_ERR_INVALID_ARGUMENT (malformed input, point not on the
 * curve), MCX_ERR_SIGNATURE_INVALID (a signature or an SSK/PVT pair that does
 * not verify), MCX_ERR_ALLOC, MCX_ERR_CRYPTO.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef MCX_ECCSI_H
#define MCX_ECCSI_H

#include <stddef.h>
#include <stdint.h>

#include "mcx/safety.h"

#define MCX_ECCSI_SCALAR_LEN 32
#define MCX_ECCSI_POINT_LEN  65
#define MCX_ECCSI_HASH_LEN   32
#define MCX_ECCSI_SIG_LEN    (2 * MCX_ECCSI_SCALAR_LEN + MCX_ECCSI_POINT_LEN)
#define MCX_ECCSI_ID_MAX     1024

/* Random source (NULL = RAND_priv_bytes); the same typedef as in mcx/sakke.h. */
typedef int (*mcx_random_fn)(void *ctx, uint8_t *out, size_t len);

struct mcx_eccsi_params;

MCX_RESULT mcx_eccsi_params_new(struct mcx_eccsi_params **out);
void mcx_eccsi_params_free(struct mcx_eccsi_params *params);

/* RFC 6507 s.4.2: a fresh KSAK in [1, q-1] (rejection sampling) and KPAK = [KSAK]G. */
MCX_RESULT mcx_eccsi_kms_generate(const struct mcx_eccsi_params *params,
				  mcx_random_fn rnd, void *rnd_ctx,
				  uint8_t ksak[MCX_ECCSI_SCALAR_LEN],
				  uint8_t kpak[MCX_ECCSI_POINT_LEN]);
/* KPAK = [KSAK]G. */
MCX_RESULT mcx_eccsi_kpak_from_ksak(const struct mcx_eccsi_params *params,
				    const uint8_t ksak[MCX_ECCSI_SCALAR_LEN],
				    uint8_t kpak[MCX_ECCSI_POINT_LEN]);
/* HS = SHA-256(G || KPAK || ID || PVT) (RFC 6507 s.5.1.1 step 3). */
MCX_RESULT mcx_eccsi_hs(const struct mcx_eccsi_params *params,
			const uint8_t kpak[MCX_ECCSI_POINT_LEN],
			const uint8_t *id, size_t id_len,
			const uint8_t pvt[MCX_ECCSI_POINT_LEN],
			uint8_t hs[MCX_ECCSI_HASH_LEN]);
/*
 * RFC 6507 s.5.1.1: v random in [1, q-1], PVT = [v]G, SSK = KSAK + HS v mod q
 * (repeated with a fresh v if HS or SSK is 0 mod q).  kpak must be [KSAK]G.
 */
MCX_RESULT mcx_eccsi_issue(const struct mcx_eccsi_params *params,
			   const uint8_t ksak[MCX_ECCSI_SCALAR_LEN],
			   const uint8_t kpak[MCX_ECCSI_POINT_LEN],
			   const uint8_t *id, size_t id_len,
			   mcx_random_fn rnd, void *rnd_ctx,
			   uint8_t ssk[MCX_ECCSI_SCALAR_LEN],
			   uint8_t pvt[MCX_ECCSI_POINT_LEN]);
/* RFC 6507 s.5.1.2: PVT on the curve and [SSK]G = [HS]PVT + KPAK. */
MCX_RESULT mcx_eccsi_validate(const struct mcx_eccsi_params *params,
			      const uint8_t kpak[MCX_ECCSI_POINT_LEN],
			      const uint8_t *id, size_t id_len,
			      const uint8_t ssk[MCX_ECCSI_SCALAR_LEN],
			      const uint8_t pvt[MCX_ECCSI_POINT_LEN]);
/* RFC 6507 s.5.2.1: sig = r || s || PVT with a fresh j from rnd. */
MCX_RESULT mcx_eccsi_sign(const struct mcx_eccsi_params *params,
			  const uint8_t kpak[MCX_ECCSI_POINT_LEN],
			  const uint8_t *id, size_t id_len,
			  const uint8_t ssk[MCX_ECCSI_SCALAR_LEN],
			  const uint8_t pvt[MCX_ECCSI_POINT_LEN],
			  const uint8_t *msg, size_t msg_len,
			  mcx_random_fn rnd, void *rnd_ctx,
			  uint8_t sig[MCX_ECCSI_SIG_LEN]);
/* RFC 6507 s.5.2.2: 0 when sig is a valid signature of msg by ID under KPAK. */
MCX_RESULT mcx_eccsi_verify(const struct mcx_eccsi_params *params,
			    const uint8_t kpak[MCX_ECCSI_POINT_LEN],
			    const uint8_t *id, size_t id_len,
			    const uint8_t *msg, size_t msg_len,
			    const uint8_t *sig, size_t sig_len);

#endif /* MCX_ECCSI_H */
