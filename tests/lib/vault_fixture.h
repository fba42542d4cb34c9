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
 * The audit log is on, as in production: <dir>/audit.jsonl, batch 64, a
 * checkpoint every second.  It is off when MCX_TEST_VAULT_AUDIT=off is in the
 * environment, or for a vault set up with test_vault_setup_audit(..., 0) (the
 * benchmarks, which measure vaultd without it unless they say otherwise).
 *
 *   test_vault_restart(&a, SIGKILL);    (or SIGTERM) same token, store and log
 *   test_vault_audit_verify(&a) == 0    vaultctl audit verify: intact
 *
 * max_request_bytes is 8 MiB (a 10,000-member request is about 0.5 MiB).
 * vaultd is $MCX_VAULTD, else <dir of this program>/../vaultd (vaultctl is
 * the one next to it), and runs with PR_SET_PDEATHSIG so it never outlives
 * the test: that signal comes when the *thread* that started it ends, so
 * start and restart a vault from a thread that outlives it (main).
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
	char audit[128];            /* "" when the audit log is off */
	char vaultd_path[PATH_MAX];
	pid_t pid;                  /* 0 when not running */
};

int test_vault_setup(struct test_vault *v, const char *tag, const char *domains, const char *extra_access,
		 unsigned workers, int with_gms);
/* audit: 1 on, 0 off, TEST_VAULT_AUDIT_DEFAULT on unless MCX_TEST_VAULT_AUDIT=off */
#define TEST_VAULT_AUDIT_DEFAULT (-1)
int test_vault_setup_audit(struct test_vault *v, const char *tag, const char *domains, const char *extra_access,
		       unsigned workers, int with_gms, int audit);
/* Starts vaultd and waits until it answers vault.status (20 s at most). */
int test_vault_start(struct test_vault *v);
/* SIGTERM: vaultd's exit status (0 = clean); -1 when it cannot be reaped. */
int test_vault_stop(struct test_vault *v);
/* Stops vaultd with sig (SIGTERM or SIGKILL), reaps it and starts it again
 * over the same token, store and audit log; 0 once the new one answers.
 * -1 when it does not start, or when the old one did not exit 0 on SIGTERM
 * (a sanitizer report at exit): the new one is started all the same. */
int test_vault_restart(struct test_vault *v, int sig);
/* vaultctl -s <socket> audit verify, output in <dir>/audit-verify.out:
 * its exit status, 0 when the log is intact (and 0 when audit is off). */
int test_vault_audit_verify(const struct test_vault *v);
void test_vault_cleanup(struct test_vault *v);
void test_vault_cleanup_all(void);
void test_vault_dump_log(const struct test_vault *v);

#endif /* MCX_TESTS_VAULT_FIXTURE_H */
