/*
 * mcxvault fuzz — libFuzzer harness for the strict JWS compact parser
 * (vault/redirect/jose.c jose_jws_parse) as the redirect and ID-token
 * services use it, with every combination of the unsecured "none" and the
 * identity-signed "ECCSI" forms, then the kid parser and ES256 verification
 * of whatever parsed.
 *
 * Checked beyond ASan/UBSan: a parsed JWS has the documented shape (object
 * header and payload, alg none and ECCSI only when allowed, an ECCSI
 * signature of 129 octets whose signing input is the text up to the second
 * '.', typ/kid inside the header),
 * and a kid that jose_kid_parse accepts names a valid domain and a version
 * from 1.  Build and run: `make fuzz` (needs clang), fuzz/fuzz.mk.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vault/daemon/config.h"
#include "vault/redirect/jose.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The P-256 point that signed the seed corpus (fuzz/corpus/ec_public/signer.pem). */
static const uint8_t signer_point[65] = {
	0x04, 0xdc, 0x3d, 0xc5, 0xfe, 0x5b, 0xfe, 0x9e, 0x9c, 0x8f, 0xfb, 0x6f, 0x5c, 0xf5, 0x4c, 0xe1,
	0xf4, 0x40, 0x74, 0xd4, 0x70, 0xb3, 0x1c, 0x75, 0x5c, 0xeb, 0x47, 0x21, 0xcb, 0x30, 0x3b, 0x21,
	0xc5, 0xfc, 0x6a, 0x54, 0x0a, 0xec, 0xeb, 0xe8, 0xec, 0xbf, 0x10, 0x7c, 0x0e, 0x7e, 0x6c, 0xac,
	0x4c, 0x02, 0x3e, 0x0a, 0xa0, 0x81, 0xab, 0x7a, 0x76, 0x94, 0x89, 0xe1, 0x98, 0x59, 0xfa, 0xdf,
	0x34,
};

static void check_parsed(const struct jose_jws *jws, unsigned allow, const char *text, size_t len)
{
	char domain[129];
	uint32_t version = 0;

	if (!json_is_object(jws->header) || !json_is_object(jws->payload))
		abort();
	if (jws->alg != JOSE_ALG_ES256 && !((allow & JOSE_ALLOW_NONE) && jws->alg == JOSE_ALG_NONE) &&
	    !((allow & JOSE_ALLOW_ECCSI) && jws->alg == JOSE_ALG_ECCSI))
		abort();
	if (jws->alg == JOSE_ALG_ECCSI &&
	    (jws->signature_len != JOSE_ECCSI_SIG_LEN || jws->signing_input == NULL || jws->signing_input_len >= len ||
	     memcmp(jws->signing_input, text, jws->signing_input_len) != 0 || text[jws->signing_input_len] != '.'))
		abort();
	if (jws->alg != JOSE_ALG_ECCSI && jws->signing_input != NULL)
		abort();
	if (jws->kid != NULL && (json_string_value(json_object_get(jws->header, "kid")) != jws->kid ||
	                         strlen(jws->kid) > JOSE_KID_MAX))
		abort();
	if (jws->typ != NULL && json_string_value(json_object_get(jws->header, "typ")) != jws->typ)
		abort();
	if (jws->kid != NULL && jose_kid_parse(jws->kid, "token", domain, &version) == MCX_OK &&
	    (!vault_domain_name_valid(domain) || version == 0))
		abort();
	if (jws->alg == JOSE_ALG_ES256) {
		int v = jose_jws_verify(jws, signer_point);
		if (v != MCX_OK && v != MCX_ERR_SIGNATURE_INVALID)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jose_jws jws;
	char reason[256];
	char *copy;

	/* an exact-size heap copy so ASan catches any read past the end */
	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	for (unsigned allow = 0; allow <= (JOSE_ALLOW_NONE | JOSE_ALLOW_ECCSI); allow++) {
		memset(&jws, 0, sizeof(jws));
		reason[0] = '\0';
		if (jose_jws_parse(copy, size, allow, &jws, reason, sizeof(reason)) == MCX_OK)
			check_parsed(&jws, allow, copy, size);
		else if (memchr(reason, '\0', sizeof(reason)) == NULL)
			abort();
		jose_jws_clear(&jws);
	}
	/* the kid parser on its own, NUL-terminated */
	if (size <= JOSE_KID_MAX) {
		char kid[JOSE_KID_MAX + 1], domain[129];
		uint32_t version = 0;
		memcpy(kid, data, size);
		kid[size] = '\0';
		if (jose_kid_parse(kid, "token", domain, &version) == MCX_OK && (!vault_domain_name_valid(domain) || version == 0))
			abort();
	}
	free(copy);
	return 0;
}
