/*
 * Strict JWS compact parsing (see jose.h for every rule).
 * SPDX-License-Identifier: Apache-2.0
 */
#include "vault/redirect/jose.h"

#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcx/buf.h"
#include "mcx/util.h"
#include "vault/daemon/config.h"
#include "vault/keys/ec_public.h"

static int jose_fail(char *reason, size_t reason_size, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int jose_fail(char *reason, size_t reason_size, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, reason_size, fmt, ap);
	va_end(ap);
	return err;
}

/* Decodes one base64url part into out (bounded by out's cap). */
static int jose_part(const char *text, size_t len, struct mcx_buf *out, const char *what, char *reason,
                     size_t reason_size)
{
	int r = mcx_base64url_decode(out, text, len);

	if (r == MCX_ERR_NO_BUFFER_SPACE)
		return jose_fail(reason, reason_size, MCX_ERR_PARSE, "JWS %s is longer than %zu octets", what,
		                 mcx_buf_max_size(out));
	if (r != MCX_OK)
		return jose_fail(reason, reason_size, MCX_ERR_PARSE, "JWS %s is not canonical unpadded base64url", what);
	return MCX_OK;
}

static int jose_object(const struct mcx_buf *b, const char *what, json_t **out, char *reason, size_t reason_size)
{
	json_error_t jerr;

	*out = json_loadb((const char *)mcx_buf_ptr(b), mcx_buf_len(b), JSON_REJECT_DUPLICATES, &jerr);
	if (*out == NULL)
		return jose_fail(reason, reason_size, MCX_ERR_PARSE, "JWS %s is not JSON: %.80s", what, jerr.text);
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return jose_fail(reason, reason_size, MCX_ERR_PARSE, "JWS %s is not a JSON object", what);
	}
	return MCX_OK;
}

MCX_RESULT jose_jws_parse(const char *text, size_t len, unsigned allow, struct jose_jws *out, char *reason,
                          size_t reason_size)
{
	int r = MCX_ERR_INTERNAL;
	const char *dot1, *dot2, *alg, *key;
	struct mcx_buf *header = NULL, *payload = NULL, *signature = NULL;
	json_t *value;

	memset(out, 0, sizeof(*out));
	reason[0] = '\0';
	MCX_ENSURE(len <= JOSE_COMPACT_MAX,
	           jose_fail(reason, reason_size, MCX_ERR_PARSE, "JWS is longer than %u octets", JOSE_COMPACT_MAX));
	MCX_ENSURE((dot1 = memchr(text, '.', len)) != NULL,
	           jose_fail(reason, reason_size, MCX_ERR_PARSE, "not a JWS compact serialisation (no '.')"));
	dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - text));
	MCX_ENSURE(dot2 != NULL && memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - text)) == NULL,
	           jose_fail(reason, reason_size, MCX_ERR_PARSE, "a JWS compact serialisation has exactly three parts"));

	MCX_ENSURE_ALLOC(header = mcx_buf_new(JOSE_HEADER_MAX));
	MCX_ENSURE_ALLOC(payload = mcx_buf_new(JOSE_PAYLOAD_MAX));
	MCX_ENSURE_ALLOC(signature = mcx_buf_new(JOSE_ECCSI_SIG_LEN));
	MCX_GUARD(jose_part(text, (size_t)(dot1 - text), header, "header", reason, reason_size));
	MCX_GUARD(jose_part(dot1 + 1, (size_t)(dot2 - dot1 - 1), payload, "payload", reason, reason_size));
	MCX_GUARD(jose_part(dot2 + 1, len - (size_t)(dot2 + 1 - text), signature, "signature", reason, reason_size));
	MCX_GUARD(jose_object(header, "header", &out->header, reason, reason_size));
	MCX_GUARD(jose_object(payload, "payload", &out->payload, reason, reason_size));

	/* the header: alg, typ and kid only; anything else (crit, jku, jwk, x5u, ...) is refused */
	json_object_foreach(out->header, key, value) {
		MCX_ENSURE(strcmp(key, "alg") == 0 || strcmp(key, "typ") == 0 || strcmp(key, "kid") == 0,
		           jose_fail(reason, reason_size, MCX_ERR_PARSE, "JWS header member '%.32s' is not accepted", key));
		MCX_ENSURE(json_is_string(value),
		           jose_fail(reason, reason_size, MCX_ERR_PARSE, "JWS header member '%s' must be a string", key));
	}
	alg = json_string_value(json_object_get(out->header, "alg"));
	MCX_ENSURE(alg != NULL, jose_fail(reason, reason_size, MCX_ERR_PARSE, "JWS header has no 'alg'"));
	out->typ = json_string_value(json_object_get(out->header, "typ"));
	out->kid = json_string_value(json_object_get(out->header, "kid"));
	MCX_ENSURE(out->kid == NULL || (strlen(out->kid) > 0 && strlen(out->kid) <= JOSE_KID_MAX),
	           jose_fail(reason, reason_size, MCX_ERR_PARSE, "JWS 'kid' is empty or longer than %u octets",
	                     JOSE_KID_MAX));
	if (strcmp(alg, "ES256") == 0) {
		out->alg = JOSE_ALG_ES256;
		MCX_ENSURE(mcx_buf_len(signature) == 64,
		           jose_fail(reason, reason_size, MCX_ERR_PARSE,
		                     "an ES256 signature is 64 octets (R || S), this one has %zu", mcx_buf_len(signature)));
		memcpy(out->signature, mcx_buf_ptr(signature), 64);
		out->signature_len = 64;
	} else if (strcmp(alg, "ECCSI") == 0 && (allow & JOSE_ALLOW_ECCSI)) {
		/* RFC 6507 section 5.2.1: the signature is r || s || PVT */
		out->alg = JOSE_ALG_ECCSI;
		MCX_ENSURE(mcx_buf_len(signature) == JOSE_ECCSI_SIG_LEN,
		           jose_fail(reason, reason_size, MCX_ERR_PARSE,
		                     "an ECCSI signature is %d octets (r || s || PVT), this one has %zu",
		                     JOSE_ECCSI_SIG_LEN, mcx_buf_len(signature)));
		memcpy(out->signature, mcx_buf_ptr(signature), JOSE_ECCSI_SIG_LEN);
		out->signature_len = JOSE_ECCSI_SIG_LEN;
		/* ECCSI hashes the message itself (HE = hash(HS || r || M)): keep M */
		out->signing_input_len = (size_t)(dot2 - text);
		MCX_ENSURE_ALLOC(out->signing_input = malloc(out->signing_input_len + 1));
		memcpy(out->signing_input, text, out->signing_input_len);
		out->signing_input[out->signing_input_len] = '\0';
	} else if (strcmp(alg, "none") == 0 && (allow & JOSE_ALLOW_NONE)) {
		out->alg = JOSE_ALG_NONE;
		MCX_ENSURE(mcx_buf_len(signature) == 0,
		           jose_fail(reason, reason_size, MCX_ERR_PARSE, "an unsecured JWS (alg none) has an empty signature"));
	} else {
		MCX_BAIL(jose_fail(reason, reason_size, MCX_ERR_SIGNATURE_INVALID,
		                   "JWS alg '%.16s' is not accepted (only ES256%s)", alg,
		                   (allow & JOSE_ALLOW_ECCSI) ? " or ECCSI" : ""));
	}
	SHA256((const uint8_t *)text, (size_t)(dot2 - text), out->signing_digest);
	SHA256(mcx_buf_ptr(payload), mcx_buf_len(payload), out->payload_digest);
	r = MCX_OK;
out:
	if (r != MCX_OK)
		jose_jws_clear(out);
	mcx_buf_free(header);
	mcx_buf_free(payload);
	mcx_buf_free(signature);
	return r;
}

void jose_jws_clear(struct jose_jws *jws)
{
	json_decref(jws->header);
	json_decref(jws->payload);
	free(jws->signing_input);
	memset(jws, 0, sizeof(*jws));
}

MCX_RESULT jose_jws_verify(const struct jose_jws *jws, const uint8_t point[65])
{
	if (jws->alg != JOSE_ALG_ES256)
		return MCX_ERR_SIGNATURE_INVALID;
	return vault_ec_verify(point, jws->signing_digest, jws->signature) == MCX_OK ? MCX_OK
	                                                                            : MCX_ERR_SIGNATURE_INVALID;
}

MCX_RESULT jose_kid_parse(const char *kid, const char *purpose, char domain[129], uint32_t *version)
{
	int r = MCX_ERR_PARSE;
	char middle[32];
	const char *slash = NULL;
	const char *v;
	size_t dlen;
	uint64_t n = 0;

	MCX_ENSURE(purpose != NULL && strlen(purpose) > 0 && strlen(purpose) < sizeof(middle) - 2, MCX_ERR_PARSE);
	snprintf(middle, sizeof(middle), "/%s/", purpose);
	slash = kid != NULL ? strstr(kid, middle) : NULL;
	MCX_ENSURE(slash != NULL, MCX_ERR_PARSE);
	dlen = (size_t)(slash - kid);
	MCX_ENSURE(dlen > 0 && dlen <= 128, MCX_ERR_PARSE);
	memcpy(domain, kid, dlen);
	domain[dlen] = '\0';
	MCX_ENSURE(vault_domain_name_valid(domain), MCX_ERR_PARSE);
	v = slash + strlen(middle);
	MCX_ENSURE(*v >= '1' && *v <= '9', MCX_ERR_PARSE);
	for (; *v != '\0'; v++) {
		MCX_ENSURE(*v >= '0' && *v <= '9', MCX_ERR_PARSE);
		n = n * 10 + (uint64_t)(*v - '0');
		MCX_ENSURE(n <= UINT32_MAX, MCX_ERR_PARSE);
	}
	*version = (uint32_t)n;
	r = MCX_OK;
out:
	return r;
}
