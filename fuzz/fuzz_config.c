/*
 * mcxvault fuzz — libFuzzer harness for the vaultd configuration parser
 * (vault/daemon/config.c vault_config_load), from a temporary file as vaultd
 * reads it.
 *
 * Checked beyond ASan/UBSan: a loaded configuration is consistent (every
 * domain name valid and found by vault_config_domain, every scoped access
 * entry's domains configured, roles non-empty); a refused one comes with its
 * "FILE:LINE: reason" message.  Build and run: `make fuzz`, fuzz/fuzz.mk.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vault/daemon/config.h"
#include "vault/daemon/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[] = "/tmp/mcx-fuzz-config.XXXXXX";
static int fd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if ((fd = mkstemp(path)) < 0)
		abort();
	vault_log_init(0, VAULT_LOG_ERROR);
	return 0;
}

static void check_loaded(const struct vault_config *c)
{
	for (size_t i = 0; i < c->domain_count; i++)
		if (!vault_domain_name_valid(c->domains[i].name) ||
		    vault_config_domain(c, c->domains[i].name) == NULL)
			abort();
	for (size_t i = 0; i < c->access_count; i++) {
		if (c->access[i].roles == 0 || c->access[i].principal == NULL)
			abort();
		for (size_t j = 0; j < c->access[i].domain_count; j++)
			if (vault_config_domain(c, c->access[i].domains[j]) == NULL)
				abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vault_config *c = NULL;
	char *error = NULL;

	/* libconfig would follow @include to any file (the operator's choice, not
	 * an input vaultd takes from callers): not fuzzed */
	if (memmem(data, size, "@include", 8) != NULL)
		return 0;
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	if (vault_config_load(path, &c, &error) == MCX_OK)
		check_loaded(c);
	else if (error == NULL || strncmp(error, path, strlen(path)) != 0)
		abort();
	vault_config_free(c);
	free(error);
	return 0;
}
