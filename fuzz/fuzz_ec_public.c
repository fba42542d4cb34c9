/*
 * mcxvault fuzz — libFuzzer harness for public key import
 * (vault/keys/ec_public.c): the whole input as a PEM SubjectPublicKeyInfo,
 * and the input split at its first newline as a JWK's x and y (base64url), as
 * external.import and the redirect signer keys take them.
 *
 * Checked beyond ASan/UBSan: an imported point passes vault_ec_point_check,
 * and a PEM-imported point survives vault_ec_public_pem and re-import.
 * Build and run: `make fuzz` (needs clang), fuzz/fuzz.mk.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mcx/buf.h"
#include "vault/keys/ec_public.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t point[65], again[65];
	char *copy;
	const char *nl;

	if ((copy = malloc(size + 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	if (vault_ec_point_from_pem(copy, size, point) == MCX_OK) {
		struct mcx_buf *pem = mcx_buf_new(4096);
		if (vault_ec_point_check(point) != MCX_OK)
			abort();
		if (pem != NULL && vault_ec_public_pem(point, pem) == MCX_OK &&
		    (vault_ec_point_from_pem((const char *)mcx_buf_ptr(pem), mcx_buf_len(pem), again) != MCX_OK ||
		     memcmp(point, again, sizeof(point)) != 0))
			abort();
		mcx_buf_free(pem);
	}
	/* JWK: x, newline, y (the y part ends at the next newline or the end) */
	if ((nl = memchr(copy, '\n', size)) != NULL) {
		char *y = copy + (nl - copy) + 1, *end = strchr(y, '\n');
		copy[nl - copy] = '\0';
		if (end != NULL)
			*end = '\0';
		if (vault_ec_point_from_jwk_xy(copy, y, point) == MCX_OK && vault_ec_point_check(point) != MCX_OK)
			abort();
	}
	free(copy);
	return 0;
}
