/*
 * mcxvault fuzz — libFuzzer harness for the TS 33.180 Annex D KMS
 * certificate parser (vault/kms/kms_cert.c kms_cert_from_xml): parsed without
 * a signer and with the seed's signer point (XML-DSig verification), then
 * turned into JSON as kms.certificate and external.list answer it.
 *
 * Checked beyond ASan/UBSan: a parsed certificate has every required field
 * (Id, Role, KmsUri, CertUri), parameter set 1 and an uncompressed KPAK.
 * Build and run: `make fuzz` (needs clang), fuzz/fuzz.mk.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <jansson.h>
#include <libxml/parser.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vault/kms/kms_cert.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The P-256 point that signed fuzz/corpus/kms_cert/signed.xml. */
static const uint8_t signer_point[65] = {
	0x04, 0xdc, 0x3d, 0xc5, 0xfe, 0x5b, 0xfe, 0x9e, 0x9c, 0x8f, 0xfb, 0x6f, 0x5c, 0xf5, 0x4c, 0xe1,
	0xf4, 0x40, 0x74, 0xd4, 0x70, 0xb3, 0x1c, 0x75, 0x5c, 0xeb, 0x47, 0x21, 0xcb, 0x30, 0x3b, 0x21,
	0xc5, 0xfc, 0x6a, 0x54, 0x0a, 0xec, 0xeb, 0xe8, 0xec, 0xbf, 0x10, 0x7c, 0x0e, 0x7e, 0x6c, 0xac,
	0x4c, 0x02, 0x3e, 0x0a, 0xa0, 0x81, 0xab, 0x7a, 0x76, 0x94, 0x89, 0xe1, 0x98, 0x59, 0xfa, 0xdf,
	0x34,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	xmlInitParser();   /* once, as vaultd's main does (kms_cert.h) */
	return 0;
}

static void check_parsed(struct kms_cert *c)
{
	json_t *j = NULL;

	if (c->id == NULL || c->role == NULL || c->kms_uri == NULL || c->cert_uri == NULL ||
	    c->parameter_set != 1 || c->pub_auth_key[0] != 0x04)
		abort();
	if (kms_cert_to_json(c, &j) == MCX_OK && !json_is_object(j))
		abort();
	json_decref(j);
	(void)kms_cert_check_validity(c, 1800000000);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kms_cert c;
	char *copy;

	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	memset(&c, 0, sizeof(c));
	if (kms_cert_from_xml(copy, size, NULL, &c) == MCX_OK)
		check_parsed(&c);
	kms_cert_clear(&c);
	memset(&c, 0, sizeof(c));
	if (kms_cert_from_xml(copy, size, signer_point, &c) == MCX_OK)
		check_parsed(&c);
	kms_cert_clear(&c);
	free(copy);
	return 0;
}
