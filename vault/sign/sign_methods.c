/*
 * sign.* methods: ES256 (RFC 7518 section 3.4) with the domain's "sign" keys.
 *
 * sign.sign signs any digest a signer sends, so it reaches the "sign" key
 * only (keystore_sign has no purpose argument): the "cert" and "token" keys,
 * which partners trust for the vault's own documents, are out of its reach.
 * sign.public_key shows the public half of any key-pair purpose, because
 * partners need the cert and token keys to verify.
 *
 * Signing happens in the HSM (CKM_ECDSA over a SHA-256 digest computed here);
 * verification is done in software from the public key, so it also works for
 * versions whose private key has been retired.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "mcx/util.h"
#include "vault/keys/ec_public.h"
#include "vault/keys/keystore.h"
#include "vault/rpc/methods.h"

/* The SHA-256 digest of "data", or the 32-octet "digest" as given; exactly one. */
static int sign_digest_param(struct rpc_call *call, json_t *params, uint8_t digest[32])
{
	int r = MCX_ERR_INTERNAL;
	struct mcx_buf *data = NULL, *given = NULL;

	MCX_GUARD(rpc_param_binary(call, params, "data", 0, call->config->max_request_bytes, 0, &data));
	MCX_GUARD(rpc_param_binary(call, params, "digest", 0, 32, 0, &given));
	MCX_ENSURE((data == NULL) != (given == NULL),
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "give exactly one of 'data' and 'digest'"));
	if (given != NULL) {
		MCX_ENSURE(mcx_buf_len(given) == 32,
		           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "'digest' must be 32 octets (SHA-256), not %zu",
		                    mcx_buf_len(given)));
		memcpy(digest, mcx_buf_ptr(given), 32);
	} else {
		SHA256(mcx_buf_ptr(data), mcx_buf_len(data), digest);
	}
	r = MCX_OK;
out:
	mcx_buf_free(data);
	mcx_buf_free(given);
	return r;
}

int method_sign_sign(struct rpc_call *call, json_t *params, json_t **result)
{
	int r = MCX_ERR_INTERNAL;
	uint8_t digest[32], signature[64];
	struct keystore_key used;
	json_t *sig = NULL;

	MCX_GUARD(sign_digest_param(call, params, digest));
	/* keystore_sign: the "sign" key and no other, whatever the caller sends */
	r = keystore_sign(call->vault->keystore, call->domain, digest, signature, &used);
	if (r == MCX_ERR_NOT_FOUND)
		return rpc_fail(call, r, "domain '%s' has no active signing key: run domain.init", call->domain);
	MCX_GUARD(r);
	rpc_audit_key(call, KEYSTORE_PURPOSE_SIGN, used.version);
	MCX_ENSURE_ALLOC(sig = rpc_json_base64url(signature, sizeof(signature)));
	MCX_ENSURE_ALLOC(*result = json_pack("{s:s, s:s, s:O}", "kid", used.kid, "alg", "ES256", "signature", sig));
	r = MCX_OK;
out:
	json_decref(sig);
	return r;
}

int method_sign_verify(struct rpc_call *call, json_t *params, json_t **result)
{
	int r = MCX_ERR_INTERNAL;
	uint8_t digest[32];
	const char *kid = NULL;
	char purpose[KEYSTORE_PURPOSE_MAX + 1];
	uint32_t version = 0;
	struct mcx_buf *signature = NULL;
	struct keystore_key *keys = NULL, one;
	size_t count = 0;
	const struct keystore_key *matched = NULL;

	MCX_GUARD(rpc_param_string(call, params, "kid", 0, &kid));
	MCX_GUARD(rpc_param_binary(call, params, "signature", 1, 64, 0, &signature));
	MCX_ENSURE(mcx_buf_len(signature) == 64,
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "'signature' must be 64 octets (r || s), not %zu",
	                    mcx_buf_len(signature)));
	MCX_GUARD(sign_digest_param(call, params, digest));
	if (kid != NULL) {
		MCX_ENSURE(keystore_parse_kid(kid, call->domain, purpose, &version) == MCX_OK &&
		           strcmp(purpose, "sign") == 0 &&
		           keystore_get(call->vault->keystore, call->domain, "sign", version, &one) == MCX_OK,
		           rpc_fail(call, MCX_ERR_NOT_FOUND, "unknown key id '%.160s' for domain '%s'", kid,
		                    call->domain));
		if (vault_ec_verify(one.public_point, digest, mcx_buf_ptr(signature)) == MCX_OK)
			matched = &one;
	} else {
		MCX_GUARD(keystore_list(call->vault->keystore, call->domain, "sign", &keys, &count));
		MCX_ENSURE(count > 0, rpc_fail(call, MCX_ERR_NOT_FOUND, "domain '%s' has no signing key", call->domain));
		/* newest first: the likeliest match */
		for (size_t i = count; i-- > 0 && matched == NULL;)
			if (vault_ec_verify(keys[i].public_point, digest, mcx_buf_ptr(signature)) == MCX_OK)
				matched = &keys[i];
	}
	if (matched != NULL)
		*result = json_pack("{s:b, s:s}", "valid", 1, "kid", matched->kid);
	else
		*result = json_pack("{s:b}", "valid", 0);
	MCX_ENSURE_ALLOC(*result);
	r = MCX_OK;
out:
	mcx_buf_free(signature);
	free(keys);
	return r;
}

int method_sign_public_key(struct rpc_call *call, json_t *params, json_t **result)
{
	int r = MCX_ERR_INTERNAL;
	uint64_t version = 0;
	int present = 0;
	const char *purpose = KEYSTORE_PURPOSE_SIGN;
	struct keystore_key key;
	struct mcx_buf *pem = NULL;
	json_t *x = NULL, *y = NULL;

	MCX_GUARD(rpc_param_string(call, params, "purpose", 0, &purpose));
	if (purpose == NULL)
		purpose = KEYSTORE_PURPOSE_SIGN;
	MCX_ENSURE(keystore_purpose_has_key_pair(purpose),
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "unknown key purpose '%.32s' (sign, cert, token)", purpose));
	MCX_GUARD(rpc_param_uint(call, params, "version", 0, UINT32_MAX, &version, &present));
	MCX_ENSURE(!present || version > 0, rpc_fail(call, MCX_ERR_INVALID_PARAMS, "'version' starts at 1"));
	r = keystore_get(call->vault->keystore, call->domain, purpose, (uint32_t)version, &key);
	if (r == MCX_ERR_NOT_FOUND)
		return rpc_fail(call, r, present ? "domain '%s' has no %s key version %llu"
		                                 : "domain '%s' has no active %s key",
		                call->domain, purpose, (unsigned long long)version);
	MCX_GUARD(r);
	MCX_ENSURE_ALLOC(pem = mcx_buf_new(4096));
	MCX_GUARD(vault_ec_public_pem(key.public_point, pem));
	MCX_GUARD(mcx_buf_put_u8(pem, 0));
	MCX_ENSURE_ALLOC(x = rpc_json_base64url(key.public_point + 1, 32));
	MCX_ENSURE_ALLOC(y = rpc_json_base64url(key.public_point + 33, 32));
	MCX_ENSURE_ALLOC(*result = json_pack("{s:s, s:s, s:i, s:s, s:{s:s, s:s, s:O, s:O, s:s, s:s, s:s, s:[s]}, s:s}",
	                                     "kid", key.kid, "purpose", key.purpose, "version",
	                                     (json_int_t)key.version, "state", keystore_state_name(key.state), "jwk",
	                                     "kty", "EC", "crv", "P-256", "x", x, "y", y, "kid", key.kid, "alg",
	                                     "ES256", "use", "sig", "key_ops", "verify", "pem",
	                                     (const char *)mcx_buf_ptr(pem)));
	r = MCX_OK;
out:
	json_decref(x);
	json_decref(y);
	mcx_buf_free(pem);
	return r;
}
