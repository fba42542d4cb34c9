/*
 * mcxvault — throw-away vaults for the KMS, GMS and redirect tests and their
 * benchmarks: up to
 * TEST_VAULT_MAX independent vaultd children, each on its own SoftHSM token, so
 * two vaults can trust each other as two security domains would.
 *
 *   struct test_vault a;
 *   test_vault_setup(&a, "a", "{ name = \"a.example\"; kms_uri = \"kms.a.example\"; }", NULL, 2, 1);
 *   test_vault_start(&a); ... mcxvault_connect(a.socket, &v) ...
 *   (test_vault_cleanup_all() runs at exit and on SIGINT/SIGTERM/SIGHUP)
 *
 * with_gms: gms.store = <dir>/gms.sqlite (else no store: GMS methods refused).
 * max_request_bytes is 8 MiB (a 10,000-member request is about 0.5 MiB).
 * vaultd is $MCX_VAULTD, else <dir of this program>/../vaultd, and runs with
 * PR_SET_PDEATHSIG so it never outlives the test.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef MCX_TESTS_VAULT_FIXTURE_H
#define MCX_TESTS_VAULT_FIXTURE_H

#include <limits.h>
#include <sys/types.h>

#define TEST_VAULT_MAX 4

/* The token every test vault gets, for tests that open it themselves. */
#define TEST_VAULT_TOKEN_LABEL "mcx-vault"
#define TEST_VAULT_PIN "1234"

/* Two home domains, a.example and b.example, for tests that need both. */
#define TEST_VAULT_DOMAINS_AB                                                  \
	"{ name = \"a.example\"; kms_uri = \"kms.a.example\"; },\n"            \
	"  { name = \"b.example\"; kms_uri = \"kms.b.example\"; }"

struct test_vault {
	char dir[64];               /* "" when not set up */
	char socket[96];
	char config[128];
	char log[128];
	char softhsm_conf[128];
	char store[128];
	char vaultd_path[PATH_MAX];
	pid_t pid;                  /* 0 when not running */
};

int test_vault_setup(struct test_vault *v, const char *tag, const char *domains, const char *extra_access,
		 unsigned workers, int with_gms);
int test_vault_start(struct test_vault *v);
int test_vault_stop(struct test_vault *v);
void test_vault_cleanup(struct test_vault *v);
void test_vault_cleanup_all(void);
void test_vault_dump_log(const struct test_vault *v);

#endif /* MCX_TESTS_VAULT_FIXTURE_H */
