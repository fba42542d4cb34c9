/*
 * token.* methods (docs/protocol.md, "Redirects and ID tokens"): inter-domain
 * ID tokens, the JWT (RFC 7519, ES256) a domain's IdM presents to a partner
 * domain's IdM in an OAuth token exchange (RFC 7523 / RFC 8693 profiles),
 * signed by the domain's "token" key and verified against the home domain's
 * keys or those of a trusted external domain.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcx/util.h"
#include "vault/daemon/log.h"
#include "vault/redirect/redirect.h"
#include "vault/rpc/methods.h"
#include "vault/sign/jws.h"

#define TOKEN_TYP "JWT"
#define TOKEN_CLAIMS_MAX 32        /* members of the claims object */
#define TOKEN_CLAIMS_BYTES 8192    /* its compact serialisation */
#define TOKEN_STRING_MAX 1024      /* sub, aud, audience */
#define TOKEN_AUD_MAX 16           /* entries of an aud array in a token to verify */
#define TOKEN_DEFAULT_LIFETIME 300
#define TOKEN_SKEW 60              /* seconds of clock skew allowed for iat and nbf */

static int token_string(json_t *v, size_t max)
{
	return json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) <= max &&
	       strlen(json_string_value(v)) == json_string_length(v);
}

int method_token_sign(struct rpc_call *call, json_t *params, json_t **result)
{
	static const char *const reserved[] = { "iss", "iat", "jti", NULL };
	int r = MCX_ERR_INTERNAL;
	json_t *claims = json_object_get(params, "claims"), *payload = NULL, *v;
	char *text = NULL, *token = NULL, *jti = NULL, kid[KEYSTORE_KID_MAX + 1];
	int64_t now = mcx_time_now(), exp, max = call->domain_config->token_max_lifetime;
	uint8_t nonce[16];

	MCX_ENSURE(claims != NULL, rpc_fail(call, MCX_ERR_INVALID_PARAMS, "missing parameter 'claims'"));
	MCX_ENSURE(json_is_object(claims), rpc_fail(call, MCX_ERR_INVALID_PARAMS, "parameter 'claims' must be an object"));
	MCX_ENSURE(json_object_size(claims) <= TOKEN_CLAIMS_MAX,
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "'claims' has more than %d members", TOKEN_CLAIMS_MAX));
	MCX_ENSURE_ALLOC(text = json_dumps(claims, JSON_COMPACT));
	MCX_ENSURE(strlen(text) <= TOKEN_CLAIMS_BYTES,
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "'claims' is longer than %d octets", TOKEN_CLAIMS_BYTES));
	for (size_t i = 0; reserved[i] != NULL; i++)
		MCX_ENSURE(json_object_get(claims, reserved[i]) == NULL,
		           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "claim '%s' is set by the vault", reserved[i]));
	MCX_ENSURE(token_string(json_object_get(claims, "sub"), TOKEN_STRING_MAX),
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "claim 'sub' must be a string of 1 to %d octets",
	                    TOKEN_STRING_MAX));
	MCX_ENSURE(token_string(json_object_get(claims, "aud"), TOKEN_STRING_MAX),
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "claim 'aud' (the partner) must be a string of 1 to %d octets",
	                    TOKEN_STRING_MAX));
	v = json_object_get(claims, "nbf");
	MCX_ENSURE(v == NULL || json_is_integer(v),
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "claim 'nbf' must be a NumericDate (integer seconds)"));
	v = json_object_get(claims, "exp");
	exp = now + (max < TOKEN_DEFAULT_LIFETIME ? max : TOKEN_DEFAULT_LIFETIME);
	if (v != NULL) {
		MCX_ENSURE(json_is_integer(v),
		           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "claim 'exp' must be a NumericDate (integer seconds)"));
		exp = json_integer_value(v);
		MCX_ENSURE(exp > now, rpc_fail(call, MCX_ERR_INVALID_PARAMS, "claim 'exp' is not in the future"));
		MCX_ENSURE(exp - now <= max, rpc_fail(call, MCX_ERR_POLICY_DENIED,
		                                      "claim 'exp' is %lld s ahead: token_max_lifetime of %s is %lld s",
		                                      (long long)(exp - now), call->domain, (long long)max));
	}
	MCX_ENSURE(RAND_bytes(nonce, sizeof(nonce)) == 1, MCX_ERR_CRYPTO);
	MCX_ENSURE_ALLOC(jti = mcx_base64url_string(nonce, sizeof(nonce)));
	MCX_ENSURE_ALLOC(payload = json_deep_copy(claims));
	MCX_ENSURE(json_object_set_new(payload, "iss", json_string(call->domain_config->kms_uri)) == 0 &&
	           json_object_set_new(payload, "iat", json_integer(now)) == 0 &&
	           json_object_set_new(payload, "exp", json_integer(exp)) == 0 &&
	           json_object_set_new(payload, "jti", json_string(jti)) == 0,
	           MCX_ERR_ALLOC);
	r = jws_sign_compact(call->vault->keystore, call->domain, KEYSTORE_PURPOSE_TOKEN, TOKEN_TYP, payload, &token,
	                     kid);
	if (r == MCX_ERR_NOT_FOUND)
		MCX_BAIL(rpc_fail(call, r, "domain '%s' has no token key: run domain.init or domain.upgrade",
		                  call->domain));
	MCX_GUARD(r);
	{
		char kid_domain[129];
		uint32_t version = 0;
		if (jose_kid_parse(kid, KEYSTORE_PURPOSE_TOKEN, kid_domain, &version) == MCX_OK)
			rpc_audit_key(call, KEYSTORE_PURPOSE_TOKEN, version);
		rpc_audit_subject(call, json_string_value(json_object_get(claims, "sub")));
	}
	vault_info("token.sign: domain %s issued ID token %s for sub %s to aud %s (exp in %lld s) with %s for uid %u",
	           call->domain, jti, json_string_value(json_object_get(claims, "sub")),
	           json_string_value(json_object_get(claims, "aud")), (long long)(exp - now), kid,
	           (unsigned)call->caller->uid);
	MCX_ENSURE_ALLOC(*result = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "token", token, "kid", kid, "iss",
	                                     call->domain_config->kms_uri, "jti", jti, "iat", (json_int_t)now, "exp",
	                                     (json_int_t)exp));
	r = MCX_OK;
out:
	json_decref(payload);
	free(text);
	free(token);
	free(jti);
	return r;
}

/* aud is the audience, or an array (at most TOKEN_AUD_MAX) holding it. */
static int token_audience(json_t *aud, const char *audience, int *matches)
{
	size_t i;
	json_t *item;

	*matches = 0;
	if (token_string(aud, TOKEN_STRING_MAX)) {
		*matches = strcmp(json_string_value(aud), audience) == 0;
		return MCX_OK;
	}
	if (!json_is_array(aud) || json_array_size(aud) == 0 || json_array_size(aud) > TOKEN_AUD_MAX)
		return MCX_ERR_PARSE;
	json_array_foreach(aud, i, item) {
		if (!token_string(item, TOKEN_STRING_MAX))
			return MCX_ERR_PARSE;
		*matches |= strcmp(json_string_value(item), audience) == 0;
	}
	return MCX_OK;
}

static int token_numeric_date(struct rpc_call *call, json_t *payload, const char *name, int required, int64_t *out)
{
	json_t *v = json_object_get(payload, name);

	if (v == NULL && !required)
		return MCX_OK;
	if (!json_is_integer(v))
		return rpc_fail(call, MCX_ERR_INVALID_PARAMS, "token: claim '%s' must be a NumericDate (integer seconds)",
		                name);
	*out = json_integer_value(v);
	return MCX_OK;
}

int method_token_verify(struct rpc_call *call, json_t *params, json_t **result)
{
	int r = MCX_ERR_INTERNAL, matches = 0;
	const char *text = NULL, *audience = NULL, *time_text = NULL, *iss = NULL;
	struct jose_jws jws;
	struct redirect_trust trust;
	struct redirect_signer signer;
	int64_t now = mcx_time_now(), iat = 0, exp = 0, nbf = INT64_MIN, max = call->domain_config->token_max_lifetime;
	char reason[200];
	json_t *v;

	memset(&jws, 0, sizeof(jws));
	memset(&trust, 0, sizeof(trust));
	MCX_GUARD(rpc_param_string(call, params, "token", 1, &text));
	MCX_GUARD(rpc_param_string(call, params, "audience", 1, &audience));
	MCX_ENSURE(strlen(audience) <= TOKEN_STRING_MAX,
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "'audience' is longer than %d octets", TOKEN_STRING_MAX));
	MCX_GUARD(rpc_param_string(call, params, "time", 0, &time_text));
	if (time_text != NULL)
		MCX_ENSURE(mcx_time_parse(time_text, &now) == MCX_OK,
		           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "'time' must be an RFC 3339 UTC time"));

	/* structure and algorithm: only ES256 (none, HS256, ... are algorithm confusion) */
	r = jose_jws_parse(text, strlen(text), 0, &jws, reason, sizeof(reason));
	if (r == MCX_ERR_PARSE || r == MCX_ERR_SIGNATURE_INVALID)
		MCX_BAIL(rpc_fail(call, r == MCX_ERR_PARSE ? MCX_ERR_INVALID_PARAMS : r, "token: %s", reason));
	MCX_GUARD(r);
	MCX_ENSURE(jws.typ != NULL && strcmp(jws.typ, TOKEN_TYP) == 0,
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "token: JWS typ must be '" TOKEN_TYP "'"));
	v = json_object_get(jws.payload, "iss");
	MCX_ENSURE(token_string(v, 1024), rpc_fail(call, MCX_ERR_INVALID_PARAMS, "token: claim 'iss' is missing"));
	iss = json_string_value(v);
	MCX_ENSURE(token_string(json_object_get(jws.payload, "sub"), TOKEN_STRING_MAX),
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "token: claim 'sub' is missing"));
	MCX_GUARD(token_numeric_date(call, jws.payload, "iat", 1, &iat));
	MCX_GUARD(token_numeric_date(call, jws.payload, "exp", 1, &exp));
	MCX_GUARD(token_numeric_date(call, jws.payload, "nbf", 0, &nbf));
	MCX_ENSURE(token_audience(json_object_get(jws.payload, "aud"), audience, &matches) == MCX_OK,
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "token: claim 'aud' must be a string or a list of strings"));

	/* the signer: the home domain or a trusted external domain, named by iss */
	MCX_GUARD(redirect_trust_load(call->vault, call->domain_config, now, &trust));
	MCX_GUARD(redirect_check_signer(call->vault, &trust, &jws, iss, NULL, 0, &signer));
	MCX_ENSURE(signer.status != REDIRECT_SIG_UNKNOWN_SIGNER,
	           rpc_fail(call, MCX_ERR_UNTRUSTED, "token: %s", signer.detail));
	MCX_ENSURE(signer.status == REDIRECT_SIG_VALID,
	           rpc_fail(call, MCX_ERR_SIGNATURE_INVALID, "token: %s", signer.detail));

	/* then time and audience, of an authentic token only */
	MCX_ENSURE(now < exp, rpc_fail(call, MCX_ERR_EXPIRED, "token expired %lld s ago", (long long)(now - exp)));
	MCX_ENSURE(iat <= now + TOKEN_SKEW && (nbf == INT64_MIN || nbf <= now + TOKEN_SKEW),
	           rpc_fail(call, MCX_ERR_EXPIRED, "token is not valid yet (iat or nbf in the future)"));
	MCX_ENSURE(exp > iat && exp - iat <= max,
	           rpc_fail(call, MCX_ERR_POLICY_DENIED, "token lifetime %lld s exceeds token_max_lifetime of %s (%lld s)",
	                    (long long)(exp - iat), call->domain, (long long)max));
	MCX_ENSURE(matches, rpc_fail(call, MCX_ERR_POLICY_DENIED, "token is not addressed to '%.200s'", audience));
	MCX_ENSURE_ALLOC(*result = json_pack("{s:b, s:s, s:s, s:s, s:b, s:O}", "valid", 1, "issuer", iss, "kid",
	                                     signer.kid, "signer_domain", signer.domain, "home", signer.home, "claims",
	                                     jws.payload));
	r = MCX_OK;
out:
	redirect_trust_clear(&trust);
	jose_jws_clear(&jws);
	return r;
}
