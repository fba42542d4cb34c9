/*
 * mcxvault — SAKKE (RFC 6508) with RFC 6509 parameter set 1, on libcrypto only.
 *
 * Byte-oriented API: every key, point and ciphertext is a fixed-size octet
 * string, so callers (vaultd, the OpenSSL provider) never see a BIGNUM.
 *
 *   parameter set 1: p 1024 bits, E: y^2 = x^3 - 3x over F_p, q = (p+1)/4
 *   (1022 bits), P of order q, g = <P,P>, n = 128 (SSV of 16 octets), SHA-256.
 *
 * Encodings (all big-endian):
 *   master secret z       MCX_SAKKE_SCALAR_LEN (128) octets, 0 < z < q
 *   KMS public key Z      MCX_SAKKE_POINT_LEN  (257) octets, 0x04 || x || y
 *   RSK K_(b,S)           MCX_SAKKE_POINT_LEN  (257) octets, 0x04 || x || y
 *   SSV                   MCX_SAKKE_SSV_LEN    (16) octets
 *   encapsulated data     MCX_SAKKE_ENCAP_LEN  (273) octets, R_(b,S) || H
 *   identifier b          1..MCX_SAKKE_ID_MAX octets, read as a big-endian
 *                         integer (for MIKEY-SAKKE: the 32-octet UID)
 *
 * A struct mcx_sakke_params is created once and may then be shared by any
 * number of threads: every function below only reads it.
 *
 * Results: 0, or MCX_ERR_INVALID_ARGUMENT (malformed input, point not on the
 * curve, z+b = 0 mod q), MCX_ERR_SIGNATURE_INVALID (RSK validation or the
 * decapsulation integrity check failed), MCX_ERR_ALLOC, MCX_ERR_CRYPTO.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef MCX_SAKKE_H
#define MCX_SAKKE_H

#include <stddef.h>
#include <stdint.h>

#include "mcx/safety.h"

#define MCX_SAKKE_SCALAR_LEN 128
#define MCX_SAKKE_POINT_LEN  257
#define MCX_SAKKE_SSV_LEN    16
#define MCX_SAKKE_ENCAP_LEN  (MCX_SAKKE_POINT_LEN + MCX_SAKKE_SSV_LEN)
#define MCX_SAKKE_FP_LEN     128   /* an F_p element, e.g. a pairing value */
#define MCX_SAKKE_ID_MAX     128

/*
 * A source of random octets: fills out[0..len) and returns 0, or non-zero on
 * failure.  NULL everywhere means OpenSSL RAND_priv_bytes().  Tests use it to
 * feed the fixed values of the RFC examples.  (Same typedef in mcx/eccsi.h.)
 */
typedef int (*mcx_random_fn)(void *ctx, uint8_t *out, size_t len);

struct mcx_sakke_params;

/* Parameter set 1 (the only one defined for MIKEY-SAKKE). */
MCX_RESULT mcx_sakke_params_new(struct mcx_sakke_params **out);
void mcx_sakke_params_free(struct mcx_sakke_params *params);

/* RFC 6508 s.2.2: a fresh master secret z in [1, q-1] and Z = [z]P. */
MCX_RESULT mcx_sakke_master_generate(const struct mcx_sakke_params *params,
				     mcx_random_fn rnd, void *rnd_ctx,
				     uint8_t z[MCX_SAKKE_SCALAR_LEN],
				     uint8_t Z[MCX_SAKKE_POINT_LEN]);
/* Z = [z]P for an existing master secret. */
MCX_RESULT mcx_sakke_public_from_master(const struct mcx_sakke_params *params,
					const uint8_t z[MCX_SAKKE_SCALAR_LEN],
					uint8_t Z[MCX_SAKKE_POINT_LEN]);
/* RFC 6508 s.6.1.1: RSK = [(z + b)^-1]P.  b with z + b = 0 mod q is refused. */
MCX_RESULT mcx_sakke_rsk_issue(const struct mcx_sakke_params *params,
			       const uint8_t z[MCX_SAKKE_SCALAR_LEN],
			       const uint8_t *id, size_t id_len,
			       uint8_t rsk[MCX_SAKKE_POINT_LEN]);
/* RFC 6508 s.6.1.2: accepts (0) only if <[b]P + Z, RSK> = g. */
MCX_RESULT mcx_sakke_rsk_validate(const struct mcx_sakke_params *params,
				  const uint8_t Z[MCX_SAKKE_POINT_LEN],
				  const uint8_t *id, size_t id_len,
				  const uint8_t rsk[MCX_SAKKE_POINT_LEN]);
/* RFC 6508 s.6.2.1: encapsulates ssv for identifier b under KMS key Z. */
MCX_RESULT mcx_sakke_encapsulate(const struct mcx_sakke_params *params,
				 const uint8_t Z[MCX_SAKKE_POINT_LEN],
				 const uint8_t *id, size_t id_len,
				 const uint8_t ssv[MCX_SAKKE_SSV_LEN],
				 uint8_t out[MCX_SAKKE_ENCAP_LEN]);
/*
 * RFC 6508 s.6.2.2: recovers the SSV and re-computes R_(b,S) from it; any
 * mismatch is MCX_ERR_SIGNATURE_INVALID and ssv is zeroed.
 */
MCX_RESULT mcx_sakke_decapsulate(const struct mcx_sakke_params *params,
				 const uint8_t Z[MCX_SAKKE_POINT_LEN],
				 const uint8_t *id, size_t id_len,
				 const uint8_t rsk[MCX_SAKKE_POINT_LEN],
				 const uint8_t *encap, size_t encap_len,
				 uint8_t ssv[MCX_SAKKE_SSV_LEN]);

/*
 * Optional per-KMS public-key context: Z decoded once with a precomputed
 * fixed-base table (64 KiB; building it costs 4-6 ms, about one variable-base
 * multiplication).  mcx_sakke_encapsulate/decapsulate keep such contexts for
 * the last four Z values inside params by themselves.  The
 * *_pub functions give the same results as their byte-oriented counterparts,
 * faster (R = [r b]P + [r]Z from two fixed-base tables).  The context refers
 * to params, which must outlive it; it is read-only and may be shared by
 * threads.
 */
struct mcx_sakke_public;

MCX_RESULT mcx_sakke_public_new(const struct mcx_sakke_params *params,
				const uint8_t Z[MCX_SAKKE_POINT_LEN],
				struct mcx_sakke_public **out);
void mcx_sakke_public_free(struct mcx_sakke_public *pub);
MCX_RESULT mcx_sakke_encapsulate_pub(const struct mcx_sakke_public *pub,
				     const uint8_t *id, size_t id_len,
				     const uint8_t ssv[MCX_SAKKE_SSV_LEN],
				     uint8_t out[MCX_SAKKE_ENCAP_LEN]);
MCX_RESULT mcx_sakke_decapsulate_pub(const struct mcx_sakke_public *pub,
				     const uint8_t *id, size_t id_len,
				     const uint8_t rsk[MCX_SAKKE_POINT_LEN],
				     const uint8_t *encap, size_t encap_len,
				     uint8_t ssv[MCX_SAKKE_SSV_LEN]);

/*
 * Optional receiver context: the RSK with its Miller loop precomputed (about
 * 350 KiB of secret-derived data, wiped on free; building it, with Z's context
 * and the RSK validation, costs about two decapsulations).
 * mcx_sakke_receiver_new validates the RSK (RFC 6508 s.6.1.2:
 * MCX_ERR_SIGNATURE_INVALID if it fails); mcx_sakke_decapsulate_rx then
 * equals mcx_sakke_decapsulate for that Z, identifier and RSK, 2-3 times as
 * fast.  The byte API never caches an RSK.  Refers to params (must outlive it); read-only, shareable by threads.
 */
struct mcx_sakke_receiver;

MCX_RESULT mcx_sakke_receiver_new(const struct mcx_sakke_params *params,
				  const uint8_t Z[MCX_SAKKE_POINT_LEN],
				  const uint8_t *id, size_t id_len,
				  const uint8_t rsk[MCX_SAKKE_POINT_LEN],
				  struct mcx_sakke_receiver **out);
void mcx_sakke_receiver_free(struct mcx_sakke_receiver *rx);
MCX_RESULT mcx_sakke_decapsulate_rx(const struct mcx_sakke_receiver *rx,
				    const uint8_t *encap, size_t encap_len,
				    uint8_t ssv[MCX_SAKKE_SSV_LEN]);

/* The pairing <R, Q> (RFC 6508 s.3.2) in the F_p representation (128 octets). */
MCX_RESULT mcx_sakke_pairing(const struct mcx_sakke_params *params,
			     const uint8_t R[MCX_SAKKE_POINT_LEN],
			     const uint8_t Q[MCX_SAKKE_POINT_LEN],
			     uint8_t out[MCX_SAKKE_FP_LEN]);

#endif /* MCX_SAKKE_H */
