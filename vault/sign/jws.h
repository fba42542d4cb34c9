/*
 * JWS compact serialisation with ES256 (RFC 7515, RFC 7518 section 3.4),
 * signed in the HSM by the active version of one of a domain's trust keys
 * (purpose cert or token): the payload is always composed by the vault.
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef VAULT_JWS_H
#define VAULT_JWS_H

#include <jansson.h>

#include "mcx/safety.h"
#include "vault/keys/keystore.h"

/* header = {"alg":"ES256","typ":typ,"kid":"<domain>/<purpose>/<version>"} with
 * the active version of purpose (cert or token; MCX_ERR_INVALID_ARGUMENT for
 * any other); *out is malloc'ed. */
MCX_RESULT jws_sign_compact(struct keystore *keystore, const char *domain, const char *purpose, const char *typ,
                            json_t *payload, char **out, char kid[KEYSTORE_KID_MAX + 1]);

#endif
