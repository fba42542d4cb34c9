/*
 * Software operations on P-256 public keys (OpenSSL): verification needs no
 * HSM and keeps working for versions whose private key is retired.
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef VAULT_EC_PUBLIC_H
#define VAULT_EC_PUBLIC_H

#include <stddef.h>
#include <stdint.h>

#include "mcx/buf.h"
#include "mcx/safety.h"

/* ECDSA P-256 verification of r || s over a 32-octet digest:
 * MCX_OK when valid, MCX_ERR_SIGNATURE_INVALID when not. */
MCX_RESULT vault_ec_verify(const uint8_t point[65], const uint8_t digest[32], const uint8_t signature[64]);
/* The SubjectPublicKeyInfo PEM of the point, appended to out. */
MCX_RESULT vault_ec_public_pem(const uint8_t point[65], struct mcx_buf *out);
/* A valid uncompressed P-256 point. */
MCX_RESULT vault_ec_point_check(const uint8_t point[65]);

/* The uncompressed P-256 point of a PEM SubjectPublicKeyInfo. */
MCX_RESULT vault_ec_point_from_pem(const char *pem, size_t len, uint8_t point[65]);
/* The point of a JWK {"kty":"EC","crv":"P-256","x","y"} given as its x and y (base64url). */
MCX_RESULT vault_ec_point_from_jwk_xy(const char *x, const char *y, uint8_t point[65]);

#endif
