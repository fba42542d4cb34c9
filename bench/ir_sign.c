/*
 * ir_sign — the baseline of bench/ir.sh's sign.sign line: N signatures with
 * hsm_ecdsa_sign in this process, on the token vaultd uses and with the very
 * same key, so that callgrind counts what direct signing costs (SoftHSM's
 * ECDSA included) next to what one sign.sign costs inside vaultd.
 *
 *   ir_sign TOKEN_DIR N        (SOFTHSM2_CONF set; N may be 0)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkcs11/hsm.h"

int main(int argc, char **argv)
{
	struct hsm_options o;
	struct hsm *hsm = NULL;
	hsm_handle_t key;
	uint8_t digest[32], sig[64];
	long n;

	if (argc != 3 || (n = strtol(argv[2], NULL, 10)) < 0) {
		fprintf(stderr, "usage: ir_sign TOKEN_DIR N\n");
		return 2;
	}
	memset(&o, 0, sizeof(o));
	o.module = "softhsm2";
	o.token_uri = "pkcs11:token=mcx-vault";
	o.pin = "1234";
	o.sessions = 1;
	o.sync_path = argv[1];
	memset(digest, 'A', sizeof(digest));
	if (hsm_open(&o, &hsm) != MCX_OK ||
	    hsm_find_by_label(hsm, HSM_CLASS_PRIVATE_KEY, "mcxvault/a.example/sign/1", &key) != MCX_OK) {
		fprintf(stderr, "ir_sign: cannot open the token or find the key\n");
		hsm_close(hsm);
		return 1;
	}
	for (long i = 0; i < n; i++)
		if (hsm_ecdsa_sign(hsm, key, digest, sig) != MCX_OK) {
			fprintf(stderr, "ir_sign: signature %ld failed\n", i);
			hsm_close(hsm);
			return 1;
		}
	hsm_close(hsm);
	return 0;
}
