/*
 * mcxvault — throw-away vaults for the GMS tests and bench_gms: up to
 * GVAULT_MAX independent vaultd children, each on its own SoftHSM token, so
 * two vaults can trust each other as two security domains would.
 *
 *   struct gvault a;
 *   gvault_setup(&a, "a", "{ name = \"a.example\"; kms_uri = \"kms.a.example\"; }", NULL, 2, 1);
 *   gvault_start(&a); ... mcxvault_connect(a.socket, &v) ...
 *   (gvault_cleanup_all() runs at exit and on SIGINT/SIGTERM/SIGHUP)
 *
 * with_gms: gms.store = <dir>/gms.sqlite (else no store: GMS methods refused).
 * max_request_bytes is 8 MiB (a 10,000-member request is about 0.5 MiB).
 * vaultd is $MCX_VAULTD, else <dir of this program>/../vaultd, and runs with
 * PR_SET_PDEATHSIG so it never outlives the test.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef MCX_TESTS_GMS_FIXTURE_H
#define MCX_TESTS_GMS_FIXTURE_H

#include <limits.h>
#include <sys/types.h>

#define GVAULT_MAX 4

struct gvault {
	char dir[64];               /* "" when not set up */
	char socket[96];
	char config[128];
	char log[128];
	char softhsm_conf[128];
	char store[128];
	char vaultd_path[PATH_MAX];
	pid_t pid;                  /* 0 when not running */
};

int gvault_setup(struct gvault *v, const char *tag, const char *domains, const char *extra_access,
		 unsigned workers, int with_gms);
int gvault_start(struct gvault *v);
int gvault_stop(struct gvault *v);
void gvault_cleanup(struct gvault *v);
void gvault_cleanup_all(void);
void gvault_dump_log(const struct gvault *v);

#endif /* MCX_TESTS_GMS_FIXTURE_H */
