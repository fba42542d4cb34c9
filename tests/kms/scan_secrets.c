/*
 * scan_secrets: looks for a KMS master secret in the clear in files (token
 * object values read from outside with pkcs11-tool).  Every window of every
 * file is read as a candidate SAKKE z (128 octets) and ECCSI KSAK (32
 * octets), raw and, for runs of hex text, hex-decoded; a candidate is the
 * secret if [z]P equals the certificate's Z or [KSAK]G its KPAK.  Exit 0 when
 * nothing matches, 1 when a secret is found, 2 on usage or errors.
 *
 *   scan_secrets Z_HEX KPAK_HEX FILE...
 *   scan_secrets --self-test     the scan finds a secret planted in noise
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcx/buf.h"
#include "mcx/eccsi.h"
#include "mcx/sakke.h"
#include "mcx/util.h"

static const struct mcx_sakke_params *sakke;
static const struct mcx_eccsi_params *eccsi;

/* 1 if some window of data is z for Z or KSAK for KPAK. */
static int scan(const uint8_t *data, size_t len, const uint8_t z_public[MCX_SAKKE_POINT_LEN],
                const uint8_t kpak[MCX_ECCSI_POINT_LEN], const char *what)
{
	uint8_t point[MCX_SAKKE_POINT_LEN], ppoint[MCX_ECCSI_POINT_LEN];

	for (size_t i = 0; i + MCX_SAKKE_SCALAR_LEN <= len; i++)
		if (mcx_sakke_public_from_master(sakke, data + i, point) == MCX_OK &&
		    memcmp(point, z_public, sizeof(point)) == 0) {
			printf("%s: SAKKE master secret z in the clear at offset %zu\n", what, i);
			return 1;
		}
	for (size_t i = 0; i + MCX_ECCSI_SCALAR_LEN <= len; i++)
		if (mcx_eccsi_kpak_from_ksak(eccsi, data + i, ppoint) == MCX_OK &&
		    memcmp(ppoint, kpak, sizeof(ppoint)) == 0) {
			printf("%s: ECCSI master secret KSAK in the clear at offset %zu\n", what, i);
			return 1;
		}
	return 0;
}

/* Scans data raw and every run of >= 64 hex digits in it decoded. */
static int scan_all(const uint8_t *data, size_t len, const uint8_t *z_public, const uint8_t *kpak, const char *what)
{
	size_t i = 0;
	int found = scan(data, len, z_public, kpak, what);

	while (!found && i < len) {
		size_t start = i;
		while (i < len && strchr("0123456789abcdefABCDEF", data[i]) != NULL && data[i] != '\0')
			i++;
		if (i - start >= 64) {
			struct mcx_buf *b = mcx_buf_new((i - start) / 2 + 1);
			if (b != NULL && mcx_hex_decode(b, (const char *)data + start, (i - start) & ~(size_t)1) == MCX_OK)
				found = scan(mcx_buf_ptr(b), mcx_buf_len(b), z_public, kpak, what);
			mcx_buf_free(b);
		}
		i++;
	}
	return found;
}

static int hex_arg(const char *text, uint8_t *out, size_t len)
{
	struct mcx_buf *b = mcx_buf_new(len + 1);
	int ok = b != NULL && mcx_hex_decode(b, text, strlen(text)) == MCX_OK && mcx_buf_len(b) == len;

	if (ok)
		memcpy(out, mcx_buf_ptr(b), len);
	mcx_buf_free(b);
	return ok;
}

int main(int argc, char **argv)
{
	struct mcx_sakke_params *sp = NULL;
	struct mcx_eccsi_params *ep = NULL;
	uint8_t z_public[MCX_SAKKE_POINT_LEN], kpak[MCX_ECCSI_POINT_LEN];
	int status = 0;

	if (mcx_sakke_params_new(&sp) != MCX_OK || mcx_eccsi_params_new(&ep) != MCX_OK)
		return 2;
	sakke = sp;
	eccsi = ep;
	if (argc == 2 && strcmp(argv[1], "--self-test") == 0) {
		/* a planted secret must be found, raw and as hex text */
		uint8_t z[MCX_SAKKE_SCALAR_LEN], ksak[MCX_ECCSI_SCALAR_LEN], noise[600];
		struct mcx_buf *hex = mcx_buf_new(1024);
		if (mcx_sakke_master_generate(sakke, NULL, NULL, z, z_public) != MCX_OK ||
		    mcx_eccsi_kms_generate(eccsi, NULL, NULL, ksak, kpak) != MCX_OK || RAND_bytes(noise, sizeof(noise)) != 1)
			return 2;
		memcpy(noise + 37, z, sizeof(z));
		status |= scan_all(noise, sizeof(noise), z_public, kpak, "self-test z") != 1;
		RAND_bytes(noise, sizeof(noise));
		memcpy(noise + 301, ksak, sizeof(ksak));
		status |= scan_all(noise, sizeof(noise), z_public, kpak, "self-test KSAK") != 1;
		if (hex == NULL || mcx_buf_put(hex, "{\"z\":\"", 6) != MCX_OK || mcx_hex_encode(hex, z, sizeof(z)) != MCX_OK ||
		    mcx_buf_put(hex, "\"}", 2) != MCX_OK)
			return 2;
		status |= scan_all(mcx_buf_ptr(hex), mcx_buf_len(hex), z_public, kpak, "self-test hex z") != 1;
		RAND_bytes(noise, sizeof(noise));
		status |= scan_all(noise, sizeof(noise), z_public, kpak, "self-test noise") != 0;
		mcx_wipe(z, sizeof(z));
		mcx_wipe(ksak, sizeof(ksak));
		mcx_buf_free(hex);
		printf("self-test %s\n", status ? "FAILED" : "ok");
		goto out;
	}
	if (argc < 4 || !hex_arg(argv[1], z_public, sizeof(z_public)) || !hex_arg(argv[2], kpak, sizeof(kpak))) {
		fprintf(stderr, "usage: scan_secrets Z_HEX KPAK_HEX FILE... | --self-test\n");
		status = 2;
		goto out;
	}
	for (int i = 3; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		uint8_t data[65536];
		size_t n;
		if (f == NULL) {
			perror(argv[i]);
			status = 2;
			continue;
		}
		n = fread(data, 1, sizeof(data), f);
		fclose(f);
		if (scan_all(data, n, z_public, kpak, argv[i]))
			status = 1;
	}
out:
	mcx_sakke_params_free(sp);
	mcx_eccsi_params_free(ep);
	return status;
}
