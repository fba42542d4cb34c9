/*
 * mcxvault — a throw-away SoftHSM token and a vaultd child, for C programs
 * that drive a real daemon (the stress test, bench/bench_sign).
 *
 *   struct fixture fx;
 *   if (fixture_setup(&fx, 2) != 0 || fixture_start(&fx) != 0)
 *           ...fail...
 *   ... mcxvault_connect(fx.socket, &v) ...
 *   fixture_cleanup(&fx);
 *
 * fixture_setup() makes a temporary directory holding softhsm2.conf, a token
 * "mcx-vault" (user PIN 1234) initialised with softhsm2-util, the PIN file
 * and a vault.conf like tests/lib/harness.sh writes (the caller's uid has
 * every role; domains a.example and b.example), and points SOFTHSM2_CONF at
 * it.  fixture_start() runs vaultd -f in a child that dies with us
 * (PR_SET_PDEATHSIG) and waits for its socket.  fixture_cleanup() stops
 * vaultd and removes the directory; it is also run at exit and on
 * SIGINT/SIGTERM/SIGHUP, so an early return or ^C leaves nothing behind.
 *
 * vaultd is $MCX_VAULTD when set, else "vaultd" next to the directory of the
 * running program (build/tests/x -> build/vaultd, build/bench/x -> build/vaultd).
 * Its log goes to <dir>/vaultd.log (printed by fixture_dump_log()).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef MCX_TESTS_STRESS_FIXTURE_H
#define MCX_TESTS_STRESS_FIXTURE_H

#include <limits.h>
#include <sys/types.h>

#define FIXTURE_TOKEN_LABEL "mcx-vault"
#define FIXTURE_PIN "1234"

struct fixture {
	char dir[64];            /* "" when not set up */
	char socket[96];           /* fits in sun_path */
	char config[128];
	char log[128];
	char tokendir[128];
	char vaultd_path[PATH_MAX];
	unsigned workers;
	pid_t vaultd;            /* 0 when not running */
};

/* 0 or -1 (with a message on stderr). */
int fixture_setup(struct fixture *fx, unsigned workers);
int fixture_start(struct fixture *fx);
/* SIGTERM, then wait; returns vaultd's exit status (0 clean) or -1. */
int fixture_stop(struct fixture *fx);
void fixture_cleanup(struct fixture *fx);
/* Copies vaultd.log to stderr (for failures). */
void fixture_dump_log(const struct fixture *fx);

#endif /* MCX_TESTS_STRESS_FIXTURE_H */
