/*
 * mcxvault tests — calling a real vaultd through libmcxvault and checking
 * its errors: the helpers the C tests of the redirect service share
 * (header only, so that a test program that includes it links nothing more
 * than libmcxvault).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef MCX_TESTS_RPC_CHECKS_H
#define MCX_TESTS_RPC_CHECKS_H

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "mcxvault.h"

/* method(params) on v; params is consumed; prints the error when it fails. */
static inline int rpc(struct mcxvault *v, const char *method, json_t *params, json_t **res)
{
	struct mcxvault_error e;
	int r;

	memset(&e, 0, sizeof(e));
	r = mcxvault_call(v, method, params, res, &e);
	json_decref(params);
	if (r != 0)
		printf("  %s: %s (%s, %d)\n", method, e.message, e.name, e.rpc_code);
	return r;
}

/* The call fails with rpc_code and a message containing needle (may be NULL). */
static inline int expect_error(struct mcxvault *v, const char *method, json_t *params, int rpc_code,
			       const char *needle)
{
	struct mcxvault_error e;
	json_t *res = NULL;
	int r;

	memset(&e, 0, sizeof(e));
	r = mcxvault_call(v, method, params, &res, &e);
	json_decref(params);
	json_decref(res);
	if (r == 0) {
		printf("  %s: succeeded, expected error %d\n", method, rpc_code);
		return 0;
	}
	if (e.rpc_code != rpc_code || (needle != NULL && strstr(e.message, needle) == NULL)) {
		printf("  %s: got %d \"%s\", expected %d \"%s\"\n", method, e.rpc_code, e.message, rpc_code,
		       needle ? needle : "");
		return 0;
	}
	return 1;
}

/* A string member of o, or NULL. */
static inline const char *str(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

#endif
