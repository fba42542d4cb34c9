/*
 * mcxvault — throw-away vaults for the KMS tests and bench_kms: up to
 * KVAULT_MAX independent vaultd children, each on its own SoftHSM token
 * (its own softhsm2.conf, token directory, PIN file and vault.conf), so two
 * vaults can trust each other as two real security domains would.
 *
 *   struct kvault a, b;
 *   kvault_setup(&a, "a", KVAULT_DOMAINS_AB, NULL);
 *   kvault_setup(&b, "b", "{ name = \"c.example\"; kms_uri = \"kms.c.example\"; }", NULL);
 *   kvault_start(&a); kvault_start(&b);
 *   ... mcxvault_connect(a.socket, &v) ...
 *   (kvault_cleanup_all() runs at exit and on SIGINT/SIGTERM/SIGHUP)
 *
 * The caller's uid holds every role in each vault; extra_access adds libconfig
 * access entries (each starting with ", ").  The directory is mode 0711 and
 * the socket 0660, so a test running as root may hand the socket to a group
 * (chown) and call as another user.  vaultd is
 * $MCX_VAULTD, else <dir of this program>/../vaultd, and runs with
 * PR_SET_PDEATHSIG so it never outlives the test.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef MCX_TESTS_KMS_FIXTURE_H
#define MCX_TESTS_KMS_FIXTURE_H

#include <limits.h>
#include <sys/types.h>

#define KVAULT_MAX 4
#define KVAULT_DOMAINS_AB                                                      \
	"{ name = \"a.example\"; kms_uri = \"kms.a.example\"; },\n"            \
	"  { name = \"b.example\"; kms_uri = \"kms.b.example\"; }"

struct kvault {
	char dir[64];               /* "" when not set up */
	char socket[96];
	char config[128];
	char log[128];
	char softhsm_conf[128];
	char vaultd_path[PATH_MAX];
	pid_t pid;                  /* 0 when not running */
};

/* 0, or -1 with a message on stderr. domains: the body of the libconfig
 * domains list; extra_access: NULL or more access entries. */
int kvault_setup(struct kvault *v, const char *tag, const char *domains, const char *extra_access,
		 unsigned workers);
int kvault_start(struct kvault *v);
/* SIGTERM and wait; vaultd's exit status (0 clean) or -1. */
int kvault_stop(struct kvault *v);
void kvault_cleanup(struct kvault *v);
void kvault_cleanup_all(void);
void kvault_dump_log(const struct kvault *v);

#endif /* MCX_TESTS_KMS_FIXTURE_H */
