/*
 * JWS compact serialisation with ES256 (RFC 7515, RFC 7518 section 3.4),
 * signed in the HSM by a domain's active signing key.
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef VAULT_JWS_H
#define VAULT_JWS_H

#include <jansson.h>

#include "mcx/safety.h"
#include "vault/keys/keystore.h"

/* header = {"alg":"ES256","typ":typ,"kid":<active kid>}; *out is malloc'ed. */
MCX_RESULT jws_sign_compact(struct keystore *keystore, const char *domain, const char *typ, json_t *payload,
                            char **out, char kid[KEYSTORE_KID_MAX + 1]);

#endif
