/*
 * mcxvault fuzz — libFuzzer harness for the MIKEY-SAKKE I_MESSAGE parser
 * (mcx_mikey_parse) and the key-parameter decryption/decoding behind it.
 * Build and run: `make fuzz-mikey` (needs clang), see docs/mikey.md.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mcx/mikey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The published GMK (Streamwide vectors): a mutated published message that
 * still parses exercises the GCM open and the key-parameter decoder. */
static const uint8_t gmk[MCX_MIKEY_GMK_LEN] = {
	0x07, 0xd1, 0xa1, 0x67, 0x7a, 0xc3, 0x6d, 0x8e,
	0x81, 0x62, 0x04, 0x84, 0x68, 0x9b, 0x3c, 0x2d,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mcx_mikey_i_message m;
	struct mcx_mikey_key_params kp;
	uint8_t *copy;

	/* an exact-size heap copy so ASan catches any read past the end */
	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	if (mcx_mikey_parse(copy, size, &m) == 0) {
		/* every pointer of the view lies inside the message */
		if (m.sig + m.sig_len != copy + size || m.signed_len + m.sig_len != size ||
		    m.sed + m.sed_len > copy + size)
			abort();
		if (m.kp_present && mcx_mikey_key_params_open(&m, gmk, &kp) == 0 &&
		    (kp.text_len > MCX_MIKEY_TEXT_MAX || kp.text[kp.text_len] != '\0'))
			abort();
	}
	free(copy);
	return 0;
}
