/*
 * JWS compact serialisation, ES256 (RFC 7515 section 7.1; RFC 7518 section 3.4:
 * the signature is the 64-octet R || S, base64url-encoded).
 * SPDX-License-Identifier: Apache-2.0
 */
#include "vault/sign/jws.h"

#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "mcx/util.h"

MCX_RESULT jws_sign_compact(struct keystore *ks, const char *domain, const char *purpose, const char *typ,
                            json_t *payload, char **out, char kid[KEYSTORE_KID_MAX + 1])
{
	int r = MCX_ERR_INTERNAL;
	struct keystore_key key;
	json_t *header = NULL;
	char *header_text = NULL, *payload_text = NULL;
	struct mcx_buf *input = NULL;
	uint8_t digest[32], signature[64];

	*out = NULL;
	/* only trust keys sign the vault's own documents (keystore_sign_with refuses the rest) */
	MCX_ENSURE(keystore_purpose_is_trust(purpose), MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE_ALLOC(payload_text = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS));
	/* the header names the kid, so sign with exactly that version: retry once
	 * if a rotation slipped in between */
	for (int attempt = 0; attempt < 2; attempt++) {
		MCX_GUARD(keystore_get(ks, domain, purpose, 0, &key));
		json_decref(header);
		free(header_text);
		header_text = NULL;
		MCX_ENSURE_ALLOC(header = json_pack("{s:s, s:s, s:s}", "alg", "ES256", "typ", typ, "kid", key.kid));
		MCX_ENSURE_ALLOC(header_text = json_dumps(header, JSON_COMPACT | JSON_SORT_KEYS));
		mcx_buf_free(input);
		MCX_ENSURE_ALLOC(input = mcx_buf_new(MCX_BUF_SIZE_MAX));
		MCX_GUARD(mcx_base64url_encode(input, header_text, strlen(header_text)));
		MCX_GUARD(mcx_buf_put_u8(input, '.'));
		MCX_GUARD(mcx_base64url_encode(input, payload_text, strlen(payload_text)));
		SHA256(mcx_buf_ptr(input), mcx_buf_len(input), digest);
		r = keystore_sign_with(ks, domain, purpose, key.version, digest, signature);
		if (r != MCX_ERR_KEY_STATE)
			break;
	}
	MCX_GUARD(r);
	MCX_GUARD(mcx_buf_put_u8(input, '.'));
	MCX_GUARD(mcx_base64url_encode(input, signature, sizeof(signature)));
	MCX_GUARD(mcx_buf_put_u8(input, 0));
	MCX_ENSURE_ALLOC(*out = strdup((const char *)mcx_buf_ptr(input)));
	memcpy(kid, key.kid, sizeof(key.kid));
	r = MCX_OK;
out:
	json_decref(header);
	free(header_text);
	free(payload_text);
	mcx_buf_free(input);
	return r;
}
