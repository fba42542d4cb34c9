/*
 * Strict parsing of JWS compact serialisations (RFC 7515 section 7.1) as the
 * redirect service accepts them: ES256 (RFC 7518 section 3.4) or, for
 * Security Domain Redirect Responses only, the unsecured "none" form
 * (RFC 7515 appendix A.5: header "alg":"none" and an empty signature) and
 * the identity-signed "ECCSI" form (RFC 6507 on P-256/SHA-256 over the JWS
 * signing input, signature r || s || PVT, 129 octets; docs/protocol.md,
 * redirect.sign).  "ECCSI" is not an IANA JOSE algorithm: only this vault's
 * redirect responses use it, and a verifier that does not know it refuses it.
 *
 * Everything is bounded and rejected rather than guessed at: more or fewer
 * than three parts, base64url that is not canonical unpadded RFC 4648
 * section 5, headers over JOSE_HEADER_MAX octets, payloads over
 * JOSE_PAYLOAD_MAX, header or payload that is not a JSON object, duplicate
 * JSON member names, header members other than alg/typ/kid (so "crit",
 * "jku", "jwk", "x5u" ... are refused), an ES256 signature that is not 64
 * octets, a "none" JWS with a signature.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef VAULT_REDIRECT_JOSE_H
#define VAULT_REDIRECT_JOSE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "mcx/safety.h"

#define JOSE_COMPACT_MAX (64u * 1024u)   /* the whole serialisation */
#define JOSE_HEADER_MAX 1024u            /* decoded protected header */
#define JOSE_PAYLOAD_MAX (40u * 1024u)   /* decoded payload */
#define JOSE_KID_MAX 200u

enum jose_alg {
	JOSE_ALG_ES256 = 0,
	JOSE_ALG_NONE,      /* unsecured: only parsed when the caller allows it */
	JOSE_ALG_ECCSI,     /* RFC 6507 identity-based: only parsed when the caller allows it */
};

/* What jose_jws_parse accepts besides ES256. */
#define JOSE_ALLOW_NONE  0x1
#define JOSE_ALLOW_ECCSI 0x2
#define JOSE_ECCSI_SIG_LEN 129   /* r || s || PVT, RFC 6507 section 5.2.1 */

struct jose_jws {
	enum jose_alg alg;
	json_t *header;              /* owned */
	json_t *payload;             /* owned */
	const char *typ;             /* in header, or NULL */
	const char *kid;             /* in header, or NULL */
	uint8_t signature[JOSE_ECCSI_SIG_LEN]; /* ES256: r || s (64); ECCSI: r || s || PVT (129) */
	size_t signature_len;
	uint8_t signing_digest[32];  /* SHA-256 of ASCII(header "." payload) */
	char *signing_input;         /* ECCSI only (owned): ASCII(header "." payload), the message M of RFC 6507 */
	size_t signing_input_len;
	uint8_t payload_digest[32];  /* SHA-256 of the decoded payload octets */
};

/* Parses text (len octets, no NUL required).  allow: JOSE_ALLOW_NONE accepts
 * "alg":"none" (with an empty signature) as JOSE_ALG_NONE, JOSE_ALLOW_ECCSI
 * "alg":"ECCSI" (with a 129-octet signature); otherwise only ES256.
 * MCX_ERR_PARSE with a sentence in reason for malformed input,
 * MCX_ERR_SIGNATURE_INVALID (with reason) for an alg that is not accepted. */
MCX_RESULT jose_jws_parse(const char *text, size_t len, unsigned allow, struct jose_jws *out, char *reason,
                          size_t reason_size);
void jose_jws_clear(struct jose_jws *jws);

/* ES256 verification of the parsed JWS with a P-256 point:
 * MCX_OK, or MCX_ERR_SIGNATURE_INVALID. */
MCX_RESULT jose_jws_verify(const struct jose_jws *jws, const uint8_t point[65]);

/* A kid of the form "<domain>/<purpose>/<version>" for exactly the given
 * purpose (domain as vault_domain_name_valid, version 1..2^32-1 without
 * leading zeros): fills domain and version.  A kid of another purpose is
 * MCX_ERR_PARSE, so a verifier never looks a key of the wrong purpose up. */
MCX_RESULT jose_kid_parse(const char *kid, const char *purpose, char domain[129], uint32_t *version);

#endif
