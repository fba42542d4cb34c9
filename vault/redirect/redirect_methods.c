/*
 * redirect.* methods (docs/protocol.md, "Redirects and ID tokens"): the
 * TR 33.880 Security Domain Redirect Response, signed by a domain, and its
 * evaluation under the home domain's five redirect policies.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcx/util.h"
#include "vault/daemon/log.h"
#include "vault/daemon/vault.h"
#include "vault/kms/identity_sign.h"
#include "vault/redirect/redirect.h"
#include "vault/rpc/methods.h"
#include "vault/sign/jws.h"

#define SDRR_TYP "mcx-sdrr+jwt"
#define SDRR_RESPONSE_TYPE "security-domain-redirect"
#define SDRR_LIST_MAX 64
#define SDRR_URI_MAX 1024
#define SDRR_ID_MAX 2048
#define SDRR_JTI_MAX 128

/* The information elements of one Security Domain Redirect Response (borrowed from the payload). */
struct sdrr {
	const char *iss;                 /* the signer's KMS URI; NULL allowed only when unsigned */
	int64_t iat;
	const char *jti;
	const char *originating_id, *receiving_id, *originating_kms_uri;
	const char *signer_id;           /* the signing identity: ECCSI-signed responses only */
	json_t *initiating, *receiving;  /* arrays of KMS URIs */
	char id[33];                     /* response_id: hex of the first 16 octets of SHA-256(payload) */
};

/* A bounded string member: 1..max octets, no NUL. */
static int sdrr_string(struct rpc_call *call, json_t *object, const char *where, const char *name, size_t max,
                       int required, const char **out)
{
	json_t *v = json_object_get(object, name);

	*out = NULL;
	if (v == NULL)
		return required ? rpc_fail(call, MCX_ERR_INVALID_PARAMS, "%s: missing '%s'", where, name) : MCX_OK;
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return rpc_fail(call, MCX_ERR_INVALID_PARAMS, "%s: '%s' must be a string of 1 to %zu octets", where, name,
		                max);
	*out = json_string_value(v);
	return MCX_OK;
}

/* A list of 1..SDRR_LIST_MAX distinct KMS URIs. */
static int sdrr_list(struct rpc_call *call, json_t *object, const char *where, const char *name, json_t **out)
{
	json_t *v = json_object_get(object, name), *item;
	size_t i, j;

	*out = NULL;
	if (v == NULL)
		return rpc_fail(call, MCX_ERR_INVALID_PARAMS, "%s: missing '%s'", where, name);
	if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > SDRR_LIST_MAX)
		return rpc_fail(call, MCX_ERR_INVALID_PARAMS, "%s: '%s' must be a list of 1 to %d KMS URIs", where, name,
		                SDRR_LIST_MAX);
	json_array_foreach(v, i, item) {
		if (!json_is_string(item) || json_string_length(item) == 0 || json_string_length(item) > SDRR_URI_MAX ||
		    strlen(json_string_value(item)) != json_string_length(item))
			return rpc_fail(call, MCX_ERR_INVALID_PARAMS, "%s: '%s' entries must be KMS URIs of 1 to %d octets",
			                where, name, SDRR_URI_MAX);
		for (j = 0; j < i; j++)
			if (json_equal(json_array_get(v, j), item))
				return rpc_fail(call, MCX_ERR_INVALID_PARAMS, "%s: '%s' lists '%.200s' twice", where, name,
				                json_string_value(item));
	}
	*out = v;
	return MCX_OK;
}

/* The request-side information elements shared by redirect.sign and a response's payload. */
static int sdrr_elements(struct rpc_call *call, json_t *object, const char *where, struct sdrr *s)
{
	int r = MCX_ERR_INTERNAL;

	MCX_GUARD(sdrr_string(call, object, where, "originating_id", SDRR_ID_MAX, 1, &s->originating_id));
	MCX_GUARD(sdrr_string(call, object, where, "receiving_id", SDRR_ID_MAX, 1, &s->receiving_id));
	MCX_GUARD(sdrr_string(call, object, where, "originating_kms_uri", SDRR_URI_MAX, 1, &s->originating_kms_uri));
	MCX_GUARD(sdrr_list(call, object, where, "acceptable_initiating_kms", &s->initiating));
	MCX_GUARD(sdrr_list(call, object, where, "acceptable_receiving_kms", &s->receiving));
	r = MCX_OK;
out:
	return r;
}

static void sdrr_response_id(const uint8_t digest[32], char id[33])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < 16; i++) {
		id[2 * i] = hex[digest[i] >> 4];
		id[2 * i + 1] = hex[digest[i] & 15];
	}
	id[32] = '\0';
}

/* Parses the "response" parameter: a JWS (ES256 by a domain, ECCSI by an
 * identity, or alg none = unsigned) whose payload is an SDRR. */
static int sdrr_parse(struct rpc_call *call, json_t *params, struct jose_jws *jws, struct sdrr *s)
{
	static const char *const members[] = { "response_type", "iss", "iat", "jti", "originating_id", "receiving_id",
		                               "originating_kms_uri", "acceptable_initiating_kms",
		                               "acceptable_receiving_kms", "signer_id", NULL };
	int r = MCX_ERR_INTERNAL, known;
	const char *text = NULL, *type = NULL, *key;
	char reason[200];
	json_t *v;

	memset(s, 0, sizeof(*s));
	MCX_GUARD(rpc_param_string(call, params, "response", 1, &text));
	r = jose_jws_parse(text, strlen(text), JOSE_ALLOW_NONE | JOSE_ALLOW_ECCSI, jws, reason, sizeof(reason));
	if (r != MCX_OK)
		MCX_BAIL(r == MCX_ERR_ALLOC ? r
		                            : rpc_fail(call, MCX_ERR_INVALID_PARAMS, "response: %s%s", reason,
		                                       r == MCX_ERR_SIGNATURE_INVALID ? "; unsigned responses use alg none" : ""));
	MCX_ENSURE(jws->typ != NULL && strcmp(jws->typ, SDRR_TYP) == 0,
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "response: JWS typ must be '" SDRR_TYP "'"));
	json_object_foreach(jws->payload, key, v) {
		known = 0;
		for (size_t i = 0; members[i] != NULL; i++)
			known |= strcmp(members[i], key) == 0;
		MCX_ENSURE(known, rpc_fail(call, MCX_ERR_INVALID_PARAMS, "response: unknown member '%.64s'", key));
	}
	MCX_GUARD(sdrr_string(call, jws->payload, "response", "response_type", 64, 1, &type));
	MCX_ENSURE(strcmp(type, SDRR_RESPONSE_TYPE) == 0,
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "response: response_type must be '" SDRR_RESPONSE_TYPE "'"));
	v = json_object_get(jws->payload, "iat");
	MCX_ENSURE(json_is_integer(v) && json_integer_value(v) >= 0,
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "response: 'iat' must be a NumericDate (integer seconds)"));
	s->iat = json_integer_value(v);
	MCX_GUARD(sdrr_string(call, jws->payload, "response", "iss", SDRR_URI_MAX, jws->alg != JOSE_ALG_NONE, &s->iss));
	/* the identity is part of what an ECCSI signature covers, and means
	 * nothing in a response a domain key signed (or nobody did) */
	MCX_GUARD(sdrr_string(call, jws->payload, "response", "signer_id", SDRR_ID_MAX, jws->alg == JOSE_ALG_ECCSI,
	                      &s->signer_id));
	MCX_ENSURE(s->signer_id == NULL || jws->alg == JOSE_ALG_ECCSI,
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "response: 'signer_id' belongs to ECCSI-signed responses only"));
	MCX_GUARD(sdrr_string(call, jws->payload, "response", "jti", SDRR_JTI_MAX, 0, &s->jti));
	MCX_GUARD(sdrr_elements(call, jws->payload, "response", s));
	sdrr_response_id(jws->payload_digest, s->id);
	r = MCX_OK;
out:
	return r;
}

static json_t *json_time(int64_t t)
{
	char text[21];

	mcx_time_format(t, text);
	return json_string(text);
}

static int append_string(json_t *array, const char *s)
{
	return json_array_append_new(array, json_string(s)) == 0 ? MCX_OK : MCX_ERR_ALLOC;
}

static int append_reason(json_t *reasons, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int append_reason(json_t *reasons, const char *fmt, ...)
{
	char text[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return append_string(reasons, text);
}

static int array_has(json_t *array, const char *s)
{
	size_t i;
	json_t *item;

	json_array_foreach(array, i, item)
		if (strcmp(json_string_value(item), s) == 0)
			return 1;
	return 0;
}

/* The last instant a response with this iat can still be evaluated fresh:
 * received_at within max_age of now, iat within max_age of received_at. */
static int64_t sdrr_expires(const struct rpc_call *call, int64_t iat)
{
	int64_t window = redirect_max_age_horizon(call->config);

	if (call->domain_config->redirect.max_age > window)
		window = call->domain_config->redirect.max_age;
	return iat + 2 * window + 1;
}

/* The audit record names the signing key version that was used. */
static void audit_signing_key(struct rpc_call *call, const char *kid)
{
	char domain[129];
	uint32_t version = 0;

	if (jose_kid_parse(kid, KEYSTORE_PURPOSE_TOKEN, domain, &version) == MCX_OK)
		rpc_audit_key(call, KEYSTORE_PURPOSE_TOKEN, version);
}

/* The audit record's subject and external KMS of a redirect response. */
static void audit_response(struct rpc_call *call, const struct sdrr *s, const struct redirect_signer *signer,
                           const char *user_uri)
{
	char subject[256];

	/* fraud is traced to a source user and KMS (TR 33.880): an identity
	 * signature names both (cut to fit the record's subject) */
	if (signer->alg == JOSE_ALG_ECCSI && s->signer_id != NULL && s->iss != NULL) {
		if (user_uri != NULL)
			snprintf(subject, sizeof(subject), "%.64s redirect %s by %.80s of %.56s", user_uri, s->id,
			         s->signer_id, s->iss);
		else
			snprintf(subject, sizeof(subject), "redirect %s by %.120s of %.80s", s->id, s->signer_id, s->iss);
	} else if (user_uri != NULL) {
		snprintf(subject, sizeof(subject), "%.180s redirect %s", user_uri, s->id);
	} else {
		snprintf(subject, sizeof(subject), "redirect %s", s->id);
	}
	rpc_audit_subject(call, subject);
	if (s->iss != NULL && signer->status != REDIRECT_SIG_UNSIGNED && !signer->home)
		rpc_audit_external(call, s->iss);
}

/* Every KMS URI of a request to sign must be provisioned by the home domain. */
static int sign_check_provisioned(struct rpc_call *call, const struct redirect_trust *trust, json_t *list,
                                  const char *name)
{
	size_t i;
	json_t *item;

	json_array_foreach(list, i, item)
		if (!redirect_trust_kms(trust, json_string_value(item)))
			return rpc_fail(call, MCX_ERR_POLICY_DENIED,
			                "%s: KMS '%.200s' is neither the home KMS nor a trusted external KMS of %s", name,
			                json_string_value(item), call->domain);
	return MCX_OK;
}

static int sign_as_pattern_matches(const char *pattern, const char *id)
{
	size_t n = strlen(pattern);

	if (n > 0 && pattern[n - 1] == '*')
		return strncmp(pattern, id, n - 1) == 0;
	return strcmp(pattern, id) == 0;
}

/* Who may sign as whom.  An ECCSI signature by an identity is the strongest
 * claim a response can make ("the originating identity", TR 33.880), and
 * the vault can forge it for any identity of its KMS; so the signer role
 * alone allows none: the caller must match an access entry that gives it
 * the signer role for this domain AND lists the identity (or a prefix of
 * it) in sign_as.  Read from the configuration of this call: a SIGHUP that
 * removes an identity takes effect for the next request. */
static int sign_as_allowed(const struct rpc_call *call, const char *identity)
{
	for (size_t i = 0; i < call->config->access_count; i++) {
		const struct vault_access_entry *e = &call->config->access[i];

		if (!(e->roles & VAULT_ROLE_SIGNER) || e->sign_as_count == 0 ||
		    !vault_access_entry_applies(e, call->caller, call->domain))
			continue;
		for (size_t k = 0; k < e->sign_as_count; k++)
			if (sign_as_pattern_matches(e->sign_as[k], identity))
				return 1;
	}
	return 0;
}

/* base64url(text) appended to out. */
static int put_b64(struct mcx_buf *out, const char *text)
{
	return mcx_base64url_encode(out, text, strlen(text));
}

/* redirect.sign with signer_id: the JWS-shaped ECCSI form (docs/protocol.md).
 * M = ASCII(BASE64URL(header) "." BASE64URL(payload)) as RFC 7515 s.5.1
 * defines the JWS signing input; the signature part is r || s || PVT. */
static int sign_eccsi(struct rpc_call *call, json_t *payload, const char *signer_id, int64_t now, char **response,
                      struct kms_generation *g, uint64_t *period_no)
{
	int r = MCX_ERR_INTERNAL;
	json_t *header = NULL;
	char *header_text = NULL, *payload_text = NULL;
	struct mcx_buf *out = NULL;
	uint8_t sig[MCX_ECCSI_SIG_LEN];

	r = kms_identity_key_period(call->vault->kms, call->domain, now, g, period_no);
	if (r == MCX_ERR_NOT_FOUND)
		MCX_BAIL(rpc_fail(call, r, "domain '%s' has no KMS master secrets: run domain.init", call->domain));
	if (r == MCX_ERR_EXPIRED)
		MCX_BAIL(rpc_fail(call, r, "no KMS certificate of domain '%s' is valid now", call->domain));
	if (r == MCX_ERR_INVALID_ARGUMENT)
		MCX_BAIL(rpc_fail(call, MCX_ERR_INTERNAL, "now lies before the key period offset of domain '%s'",
		                  call->domain));
	MCX_GUARD(r);
	rpc_audit_key(call, KEYSTORE_PURPOSE_KMS, g->version);
	/* the kid must pass the verifier's bound (jose.h) */
	MCX_ENSURE(strlen(g->cert_uri) <= JOSE_KID_MAX,
	           rpc_fail(call, MCX_ERR_INTERNAL, "the CertUri of domain '%s' is longer than a kid may be (%u octets)",
	                    call->domain, JOSE_KID_MAX));
	/* the signer's identity and KMS are in the signed bytes: iss and signer_id
	 * in the payload, the certificate (kid) in the protected header */
	MCX_ENSURE(json_object_set_new(payload, "iss", json_string(g->kms_uri)) == 0, MCX_ERR_ALLOC);
	MCX_ENSURE(json_object_set_new(payload, "signer_id", json_string(signer_id)) == 0, MCX_ERR_ALLOC);
	MCX_ENSURE_ALLOC(header = json_pack("{s:s, s:s, s:s}", "alg", "ECCSI", "typ", SDRR_TYP, "kid", g->cert_uri));
	MCX_ENSURE_ALLOC(header_text = json_dumps(header, JSON_COMPACT | JSON_SORT_KEYS));
	MCX_ENSURE_ALLOC(payload_text = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS));
	MCX_ENSURE_ALLOC(out = mcx_buf_new(JOSE_COMPACT_MAX));
	MCX_GUARD(put_b64(out, header_text));
	MCX_GUARD(mcx_buf_put_u8(out, '.'));
	MCX_GUARD(put_b64(out, payload_text));
	MCX_GUARD(kms_identity_sign(call->vault->kms, call->vault->hsm, call->domain, g, signer_id, *period_no,
	                            mcx_buf_ptr(out), mcx_buf_len(out), sig));
	MCX_GUARD(mcx_buf_put_u8(out, '.'));
	MCX_GUARD(mcx_base64url_encode(out, sig, sizeof(sig)));
	MCX_ENSURE_ALLOC(*response = strndup((const char *)mcx_buf_ptr(out), mcx_buf_len(out)));
	r = MCX_OK;
out:
	json_decref(header);
	free(header_text);
	free(payload_text);
	mcx_buf_free(out);
	return r;
}

int method_redirect_sign(struct rpc_call *call, json_t *params, json_t **result)
{
	int r = MCX_ERR_INTERNAL;
	struct sdrr s;
	struct redirect_trust trust;
	struct kms_generation g;
	json_t *payload = NULL;
	char *response = NULL, *payload_text = NULL, *jti = NULL, kid[KEYSTORE_KID_MAX + 1];
	char subject[256];
	const char *signer_id = NULL;
	uint8_t nonce[16], digest[32];
	uint64_t period_no = 0;
	int64_t now = mcx_time_now();

	memset(&s, 0, sizeof(s));
	memset(&trust, 0, sizeof(trust));
	memset(&g, 0, sizeof(g));
	MCX_GUARD(sdrr_string(call, params, "redirect.sign", "signer_id", SDRR_ID_MAX, 0, &signer_id));
	if (signer_id != NULL) {
		/* the refusal names the identity asked for in the audit record */
		snprintf(subject, sizeof(subject), "redirect as %.200s", signer_id);
		rpc_audit_subject(call, subject);
		if (!sign_as_allowed(call, signer_id)) {
			vault_warning("redirect.sign: uid %u may not sign as '%.200s' in %s (access list sign_as)",
			              (unsigned)call->caller->uid, signer_id, call->domain);
			MCX_BAIL(rpc_fail(call, MCX_ERR_PERMISSION_DENIED,
			                  "caller may not sign as '%.150s' in %s (not in its access entry's sign_as)",
			                  signer_id, call->domain));
		}
	}
	MCX_GUARD(sdrr_elements(call, params, "redirect.sign", &s));
	MCX_GUARD(redirect_trust_load(call->vault, call->domain_config, now, &trust));
	MCX_ENSURE(redirect_trust_kms(&trust, s.originating_kms_uri),
	           rpc_fail(call, MCX_ERR_POLICY_DENIED,
	                    "originating_kms_uri: KMS '%.200s' is neither the home KMS nor a trusted external KMS of %s",
	                    s.originating_kms_uri, call->domain));
	MCX_GUARD(sign_check_provisioned(call, &trust, s.initiating, "acceptable_initiating_kms"));
	MCX_GUARD(sign_check_provisioned(call, &trust, s.receiving, "acceptable_receiving_kms"));
	MCX_ENSURE(RAND_bytes(nonce, sizeof(nonce)) == 1, MCX_ERR_CRYPTO);
	MCX_ENSURE_ALLOC(jti = mcx_base64url_string(nonce, sizeof(nonce)));
	MCX_ENSURE_ALLOC(payload = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:O, s:O}", "response_type",
	                                     SDRR_RESPONSE_TYPE, "iss", call->domain_config->kms_uri, "iat",
	                                     (json_int_t)now, "jti", jti, "originating_id", s.originating_id,
	                                     "receiving_id", s.receiving_id, "originating_kms_uri",
	                                     s.originating_kms_uri, "acceptable_initiating_kms", s.initiating,
	                                     "acceptable_receiving_kms", s.receiving));
	if (signer_id != NULL) {
		MCX_GUARD(sign_eccsi(call, payload, signer_id, now, &response, &g, &period_no));
	} else {
		r = jws_sign_compact(call->vault->keystore, call->domain, KEYSTORE_PURPOSE_TOKEN, SDRR_TYP, payload,
		                     &response, kid);
		if (r == MCX_ERR_NOT_FOUND)
			MCX_BAIL(rpc_fail(call, r, "domain '%s' has no token key: run domain.init or domain.upgrade",
			                  call->domain));
		MCX_GUARD(r);
		audit_signing_key(call, kid);
	}
	/* the same serialisation jws_sign_compact signed, for the response_id */
	MCX_ENSURE_ALLOC(payload_text = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS));
	SHA256((const uint8_t *)payload_text, strlen(payload_text), digest);
	sdrr_response_id(digest, s.id);
	if (signer_id != NULL) {
		snprintf(subject, sizeof(subject), "redirect %s as %.120s of %.80s", s.id, signer_id, g.kms_uri);
		rpc_audit_subject(call, subject);
		vault_info("redirect.sign: domain %s signed redirect response %s (%s -> %s) as %s (ECCSI, %s, key "
		           "period %llu) for uid %u",
		           call->domain, s.id, s.originating_id, s.receiving_id, signer_id, g.cert_uri,
		           (unsigned long long)period_no, (unsigned)call->caller->uid);
		MCX_ENSURE_ALLOC(*result = json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:I}", "response", response, "kid",
		                                     g.cert_uri, "response_id", s.id, "iat", json_time(now), "alg", "ECCSI",
		                                     "signer_id", signer_id, "signer_kms_uri", g.kms_uri, "key_period_no",
		                                     (json_int_t)period_no));
	} else {
		vault_info("redirect.sign: domain %s signed redirect response %s (%s -> %s) with %s for uid %u",
		           call->domain, s.id, s.originating_id, s.receiving_id, kid, (unsigned)call->caller->uid);
		MCX_ENSURE_ALLOC(*result = json_pack("{s:s, s:s, s:s, s:o, s:s}", "response", response, "kid", kid,
		                                     "response_id", s.id, "iat", json_time(now), "alg", "ES256"));
	}
	r = MCX_OK;
out:
	redirect_trust_clear(&trust);
	json_decref(payload);
	free(payload_text);
	free(response);
	free(jti);
	return r;
}

/* "received_at" (default now): within max_age of now, so that a cached
 * response stays in the replay cache for as long as it can be fresh. */
static int evaluate_received_at(struct rpc_call *call, json_t *params, int64_t now, int64_t *received)
{
	int r = MCX_ERR_INTERNAL;
	const char *text = NULL;
	int64_t max_age = call->domain_config->redirect.max_age;

	*received = now;
	MCX_GUARD(rpc_param_string(call, params, "received_at", 0, &text));
	if (text != NULL) {
		MCX_ENSURE(mcx_time_parse(text, received) == MCX_OK,
		           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "'received_at' must be an RFC 3339 UTC time"));
		MCX_ENSURE(*received >= now - max_age && *received <= now + max_age,
		           rpc_fail(call, MCX_ERR_INVALID_PARAMS,
		                    "'received_at' must be within redirect.max_age (%lld s) of now",
		                    (long long)max_age));
	}
	r = MCX_OK;
out:
	return r;
}

/* Sorts one list of the response into permitted (provisioned) and unknown. */
static int evaluate_list(const struct redirect_trust *trust, json_t *list, json_t *permitted, json_t *unknown)
{
	int r = MCX_ERR_INTERNAL;
	size_t i;
	json_t *item;

	json_array_foreach(list, i, item) {
		const char *uri = json_string_value(item);
		if (redirect_trust_kms(trust, uri))
			MCX_GUARD(append_string(permitted, uri));
		else if (!array_has(unknown, uri))
			MCX_GUARD(append_string(unknown, uri));
	}
	r = MCX_OK;
out:
	return r;
}

int method_redirect_evaluate(struct rpc_call *call, json_t *params, json_t **result)
{
	int r = MCX_ERR_INTERNAL, reject = 0, hold = 0;
	const struct vault_domain_config *d = call->domain_config;
	struct jose_jws jws;
	struct sdrr s;
	struct redirect_trust trust;
	struct redirect_signer signer;
	json_t *reasons = NULL, *init = NULL, *recv = NULL, *unknown = NULL;
	int64_t now = mcx_time_now(), received = 0, age;
	uint8_t key[32];
	enum redirect_seen before = REDIRECT_SEEN_NONE, after = REDIRECT_SEEN_NONE;
	const char *decision;

	memset(&jws, 0, sizeof(jws));
	memset(&trust, 0, sizeof(trust));
	MCX_GUARD(evaluate_received_at(call, params, now, &received));
	MCX_GUARD(sdrr_parse(call, params, &jws, &s));
	MCX_GUARD(redirect_trust_load(call->vault, d, now, &trust));
	MCX_GUARD(redirect_check_signer(call->vault, &trust, &jws, s.iss, s.signer_id, s.iat, &signer));
	audit_response(call, &s, &signer, NULL);
	MCX_ENSURE_ALLOC(reasons = json_array());
	MCX_ENSURE_ALLOC(init = json_array());
	MCX_ENSURE_ALLOC(recv = json_array());
	MCX_ENSURE_ALLOC(unknown = json_array());

	/* allow_redirects: off -> every redirect is ignored */
	if (!d->redirect.allow) {
		reject = 1;
		MCX_GUARD(append_reason(reasons, "allow_redirects is off: redirects are ignored"));
	}
	age = s.iat > received ? s.iat - received : received - s.iat;
	if (age > d->redirect.max_age) {
		reject = 1;
		MCX_GUARD(append_reason(reasons, "stale: issued %lld s %s the time it was received (max_age %lld s)",
		                        (long long)age, s.iat > received ? "after" : "before",
		                        (long long)d->redirect.max_age));
	}
	/* require_signed: unsigned or unknown signer -> reject; a bad signature is always rejected */
	switch (signer.status) {
	case REDIRECT_SIG_VALID: break;
	case REDIRECT_SIG_INVALID:
		reject = 1;
		MCX_GUARD(append_reason(reasons, "signature invalid: %s", signer.detail));
		break;
	case REDIRECT_SIG_UNSIGNED:
	case REDIRECT_SIG_UNKNOWN_SIGNER:
		if (d->redirect.require_signed) {
			reject = 1;
			MCX_GUARD(append_reason(reasons, "%s (%s) and require_signed is on",
			                        redirect_signature_name(signer.status), signer.detail));
		} else {
			MCX_GUARD(append_reason(reasons, "%s (%s), taken because require_signed is off",
			                        redirect_signature_name(signer.status), signer.detail));
		}
		break;
	}
	/* only KMSs the home domain has provisioned are ever permitted */
	MCX_GUARD(evaluate_list(&trust, s.initiating, init, unknown));
	MCX_GUARD(evaluate_list(&trust, s.receiving, recv, unknown));
	if (!redirect_trust_kms(&trust, s.originating_kms_uri) && !array_has(unknown, s.originating_kms_uri))
		MCX_GUARD(append_string(unknown, s.originating_kms_uri));
	for (size_t i = 0; i < json_array_size(unknown); i++)
		MCX_GUARD(append_reason(reasons, "KMS '%.200s' is not provisioned by %s%s",
		                        json_string_value(json_array_get(unknown, i)), call->domain,
		                        d->redirect.request_unknown_certs ? ": request its certificate from the Home KMS"
		                                                          : ": not permitted"));
	if (json_array_size(init) == 0) {
		reject = 1;
		MCX_GUARD(append_reason(reasons, "no acceptable initiating KMS is provisioned"));
	}
	if (json_array_size(recv) == 0) {
		reject = 1;
		MCX_GUARD(append_reason(reasons, "no acceptable receiving KMS is provisioned"));
	}

	/* replays: a response may lead to one decision accept in this home domain */
	redirect_cache_key(call->domain, jws.payload_digest, key);
	if (reject) {
		if (redirect_cache_peek(call->vault->redirect, key, now) == REDIRECT_SEEN_USED)
			MCX_GUARD(append_reason(reasons, "replayed"));
	} else {
		r = redirect_cache_claim(call->vault->redirect, call->domain, redirect_cache_quota(call->config), key,
		                         sdrr_expires(call, s.iat), d->redirect.hold_until_accepted, now, &before, &after);
		if (r == MCX_ERR_BUSY) {
			static struct vault_log_limit full = VAULT_LOG_LIMIT_INIT;
			vault_log_limited(&full, VAULT_LOG_WARNING,
			                  "redirect.evaluate: domain %s holds its share of the replay cache (%zu responses)",
			                  call->domain, redirect_cache_quota(call->config));
		}
		MCX_ENSURE(r != MCX_ERR_BUSY, rpc_fail(call, MCX_ERR_BUSY,
		                                       "domain '%s' holds its share of the replay cache: try again later",
		                                       call->domain));
		MCX_GUARD(r);
		if (before == REDIRECT_SEEN_USED) {
			reject = 1;
			MCX_GUARD(append_reason(reasons, "replayed"));
		} else if (after == REDIRECT_SEEN_HELD) {
			hold = 1;
			MCX_GUARD(append_reason(reasons, "held until the Home KMS accepts it (hold_until_accepted)"));
		} else if (before == REDIRECT_SEEN_ACCEPTED) {
			MCX_GUARD(append_reason(reasons, "accepted by the Home KMS"));
		}
	}
	decision = reject ? "reject" : hold ? "hold" : "accept";
	if (reject) {
		json_array_clear(init);
		json_array_clear(recv);
	}
	/* request_unknown_certs: without it unknown KMSs are simply not permitted */
	if (!d->redirect.request_unknown_certs || !d->redirect.allow)
		json_array_clear(unknown);
	vault_info("redirect.evaluate: domain %s response %s signed %s (%s) by %s%s%s: %s", call->domain, s.id,
	           redirect_signature_name(signer.status), redirect_alg_name(signer.alg),
	           signer.domain[0] ? signer.domain : "-", s.signer_id != NULL ? " as " : "",
	           s.signer_id != NULL ? s.signer_id : "", decision);
	MCX_ENSURE_ALLOC(*result = json_pack(
		"{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s, s:O, s:O, s:O, s:b, s:O, s:s, s:s, s:s, s:o}", "response_id", s.id,
		"signature", redirect_signature_name(signer.status), "signature_alg", redirect_alg_name(signer.alg),
		"signer_domain", signer.domain[0] ? signer.domain : NULL, "signer_id", s.signer_id,
		"signer_kms_uri", s.iss, "decision", decision,
		"permitted_initiating_kms", init, "permitted_receiving_kms", recv, "unknown_kms", unknown, "report",
		d->redirect.report && !reject, "reasons", reasons, "originating_id", s.originating_id, "receiving_id",
		s.receiving_id, "originating_kms_uri", s.originating_kms_uri, "iat", json_time(s.iat)));
	r = MCX_OK;
out:
	redirect_trust_clear(&trust);
	jose_jws_clear(&jws);
	json_decref(reasons);
	json_decref(init);
	json_decref(recv);
	json_decref(unknown);
	return r;
}

/* The record of a report or an acceptance.  Today a log line; the audit log
 * (vault/audit/) hooks in here: one call site for every redirect record. */
static int redirect_record(struct rpc_call *call, const char *event, const struct sdrr *s,
                           const struct redirect_signer *signer, const char *user_uri)
{
	/* The dispatcher writes the audit record of the call (RPC_AUDITED) with
	 * what audit_response() set: keep this the one call site of both. */
	audit_response(call, s, signer, user_uri);
	vault_info("%s: domain %s response %s (%s -> %s via %s) signed %s (%s) by %s%s%s%s%s, by uid %u", event,
	           call->domain, s->id, s->originating_id, s->receiving_id, s->originating_kms_uri,
	           redirect_signature_name(signer->status), redirect_alg_name(signer->alg),
	           signer->domain[0] ? signer->domain : "-", s->signer_id != NULL ? " as " : "",
	           s->signer_id != NULL ? s->signer_id : "",
	           user_uri != NULL ? ", user " : "", user_uri != NULL ? user_uri : "", (unsigned)call->caller->uid);
	return MCX_OK;
}

int method_redirect_report(struct rpc_call *call, json_t *params, json_t **result)
{
	int r = MCX_ERR_INTERNAL;
	struct jose_jws jws;
	struct sdrr s;
	struct redirect_trust trust;
	struct redirect_signer signer;
	const char *user_uri = NULL;

	memset(&jws, 0, sizeof(jws));
	memset(&trust, 0, sizeof(trust));
	MCX_GUARD(rpc_param_string(call, params, "user_uri", 1, &user_uri));
	MCX_ENSURE(strlen(user_uri) <= SDRR_ID_MAX,
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "'user_uri' is longer than %d octets", SDRR_ID_MAX));
	MCX_GUARD(sdrr_parse(call, params, &jws, &s));
	MCX_GUARD(redirect_trust_load(call->vault, call->domain_config, mcx_time_now(), &trust));
	MCX_GUARD(redirect_check_signer(call->vault, &trust, &jws, s.iss, s.signer_id, s.iat, &signer));
	MCX_GUARD(redirect_record(call, "redirect.report", &s, &signer, user_uri));
	MCX_ENSURE_ALLOC(*result = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:b}", "domain", call->domain,
	                                     "response_id", s.id, "signature", redirect_signature_name(signer.status),
	                                     "signature_alg", redirect_alg_name(signer.alg), "signer_id", s.signer_id,
	                                     "signer_kms_uri", s.iss, "recorded", 1));
	r = MCX_OK;
out:
	redirect_trust_clear(&trust);
	jose_jws_clear(&jws);
	return r;
}

int method_redirect_accept(struct rpc_call *call, json_t *params, json_t **result)
{
	int r = MCX_ERR_INTERNAL;
	struct jose_jws jws;
	struct sdrr s;
	struct redirect_trust trust;
	struct redirect_signer signer;
	int64_t now = mcx_time_now(), max_age = call->domain_config->redirect.max_age;
	uint8_t key[32];

	memset(&jws, 0, sizeof(jws));
	memset(&trust, 0, sizeof(trust));
	MCX_GUARD(sdrr_parse(call, params, &jws, &s));
	MCX_ENSURE(s.iat >= now - 2 * max_age && s.iat <= now + 2 * max_age,
	           rpc_fail(call, MCX_ERR_EXPIRED, "response %s is stale (issued outside 2 x max_age of now)", s.id));
	MCX_GUARD(redirect_trust_load(call->vault, call->domain_config, now, &trust));
	MCX_GUARD(redirect_check_signer(call->vault, &trust, &jws, s.iss, s.signer_id, s.iat, &signer));
	MCX_ENSURE(signer.status != REDIRECT_SIG_INVALID,
	           rpc_fail(call, MCX_ERR_SIGNATURE_INVALID, "response %s: %s", s.id, signer.detail));
	redirect_cache_key(call->domain, jws.payload_digest, key);
	r = redirect_cache_accept(call->vault->redirect, call->domain, redirect_cache_quota(call->config), key,
	                          sdrr_expires(call, s.iat), now);
	MCX_ENSURE(r != MCX_ERR_EXISTS, rpc_fail(call, r, "response %s was already used", s.id));
	MCX_ENSURE(r != MCX_ERR_BUSY, rpc_fail(call, r, "domain '%s' holds its share of the replay cache: try again later",
	                                       call->domain));
	MCX_GUARD(r);
	MCX_GUARD(redirect_record(call, "redirect.accept", &s, &signer, NULL));
	MCX_ENSURE_ALLOC(*result = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:b}", "domain", call->domain,
	                                     "response_id", s.id, "signature", redirect_signature_name(signer.status),
	                                     "signature_alg", redirect_alg_name(signer.alg), "signer_id", s.signer_id,
	                                     "signer_kms_uri", s.iss, "accepted", 1));
	r = MCX_OK;
out:
	redirect_trust_clear(&trust);
	jose_jws_clear(&jws);
	return r;
}
