/*
 * bench_keys — key.rotate, key.retire and a restart of vaultd in a token of
 * MCX_BENCH_OBJECTS (default 5,000) objects against an empty token, in one
 * run (issue 11: each ≤ 1.3×).
 *
 * Two vaults (tests/lib/vault_fixture.c, workers = 2, audit log off as in
 * the other benchmarks), each on its own fresh SoftHSM token with domain
 * a.example initialised.  The "full" token then gets its filler: one data
 * object made through the HSM layer, its object file copied N times under
 * new names while vaultd is stopped (SoftHSM's file store is one file per
 * object plus a lock file: this is what N objects are to it, made in
 * seconds instead of minutes).  The filler's label is outside "mcxvault/".
 *
 * MCX_BENCH_KEYS_ROUNDS (default 5) rounds, each timing on both vaults in
 * turn (so load from elsewhere hits both alike):
 *   key.rotate   (sign)                      one request, strict round trip
 *   key.retire   (the version just demoted)  one request
 *   restart      SIGTERM, then from fork to the first vault.status answer
 * with a pause of MCX_BENCH_KEYS_PAUSE_MS (default 2000) after every change:
 * vaultd destroys replaced metadata in the background once no change
 * happened for 0.5 s (checked once a second): the pause keeps that destroy
 * out of the next timed request.
 * Then, both vaultds stopped, what SoftHSM itself costs in each token, the
 * floor under those lines: hsm_open (C_Initialize, login, sessions), one
 * walk of the "mcxvault/" objects, a data object created and destroyed.
 * Prints medians and the ratios full / empty.  Exit 1 when a call fails.
 * Set TMPDIR=/dev/shm to keep syncfs() away from other work on the disk.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mcxvault.h"
#include "pkcs11/hsm.h"
#include "tests/lib/vault_fixture.h"

#define DOMAIN "a.example"
#define ROUNDS_MAX 50

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void nap_ms(unsigned ms)
{
	struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&t, &t) != 0 && errno == EINTR)
		;
}

static unsigned env_uint(const char *name, unsigned dflt, unsigned max)
{
	const char *s = getenv(name);
	unsigned long v;
	char *end;

	if (s == NULL || *s == '\0')
		return dflt;
	v = strtoul(s, &end, 10);
	return *end == '\0' && v > 0 && v <= max ? (unsigned)v : dflt;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* the token's directory: the only subdirectory of <dir>/tokens */
static int token_dir(const struct test_vault *v, char *out, size_t size)
{
	char tokens[96];
	struct dirent *d;
	DIR *dir;
	int found = -1;

	snprintf(tokens, sizeof(tokens), "%s/tokens", v->dir);
	if ((dir = opendir(tokens)) == NULL)
		return -1;
	while ((d = readdir(dir)) != NULL)
		if (d->d_name[0] != '.') {
			if ((size_t)snprintf(out, size, "%s/%.*s", tokens, 200, d->d_name) >= size)
				break;
			found = 0;
		}
	closedir(dir);
	return found;
}

static int copy_file(const char *from, const char *to)
{
	char buf[8192];
	ssize_t n;
	int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, r = -1;

	if (in < 0 || (out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		goto done;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			goto done;
	r = n == 0 ? 0 : -1;
done:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return r;
}

static int listed(char (*names)[256], unsigned n, const char *name)
{
	for (unsigned i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return 1;
	return 0;
}

/* One data object through the HSM layer (vaultd stopped), then its object
 * file copied n - 1 times with fresh names and lock files. */
static int fill_token(const struct test_vault *v, unsigned n)
{
	struct hsm_options o;
	struct hsm *hsm = NULL;
	hsm_handle_t handle;
	char dir[256], path[512], to[512], model[512] = "", value[200], before[64][256];
	struct dirent *d;
	DIR *dd;
	unsigned nbefore = 0;
	int r = -1;

	if (token_dir(v, dir, sizeof(dir)) != 0)
		return -1;
	memset(&o, 0, sizeof(o));
	o.module = "softhsm2";
	o.token_uri = "pkcs11:token=" TEST_VAULT_TOKEN_LABEL;
	o.pin = TEST_VAULT_PIN;
	o.sessions = 1;
	o.sync_path = dir;
	setenv("SOFTHSM2_CONF", v->softhsm_conf, 1);
	memset(value, 'x', sizeof(value));
	if ((dd = opendir(dir)) == NULL)
		goto out;
	while ((d = readdir(dd)) != NULL && nbefore < 64)
		snprintf(before[nbefore++], sizeof(before[0]), "%s", d->d_name);
	closedir(dd);
	if (hsm_open(&o, &hsm) != MCX_OK ||
	    hsm_data_create(hsm, "bench/filler", value, sizeof(value), &handle) != MCX_OK ||
	    hsm_sync(hsm) != MCX_OK)
		goto out;
	hsm_close(hsm);
	hsm = NULL;
	/* the filler's file is the one object file that was not there before */
	if ((dd = opendir(dir)) == NULL)
		goto out;
	while ((d = readdir(dd)) != NULL) {
		size_t len = strlen(d->d_name);
		if (len < 8 || strcmp(d->d_name + len - 7, ".object") != 0 || strcmp(d->d_name, "token.object") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		if (!listed(before, nbefore, d->d_name))
			snprintf(model, sizeof(model), "%s", path);
	}
	closedir(dd);
	if (model[0] == '\0')
		goto out;
	for (unsigned i = 1; i < n; i++) {
		snprintf(to, sizeof(to), "%s/b%07u-0000-0000-0000-000000000000.object", dir, i);
		if (copy_file(model, to) != 0)
			goto out;
		snprintf(to, sizeof(to), "%s/b%07u-0000-0000-0000-000000000000.lock", dir, i);
		if (copy_file("/dev/null", to) != 0)
			goto out;
	}
	r = 0;
out:
	hsm_close(hsm);
	if (r != 0)
		fprintf(stderr, "bench_keys: cannot fill the token in %s\n", dir);
	return r;
}

static int answers(const char *path)
{
	static const char request[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"vault.status\"}\n";
	struct sockaddr_un sa;
	char reply[4096];
	size_t got = 0;
	ssize_t n;
	int fd, ok = 0;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    send(fd, request, sizeof(request) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(request) - 1))
		goto out;
	while (got < sizeof(reply) - 1 && (n = recv(fd, reply + got, sizeof(reply) - 1 - got, 0)) > 0) {
		got += (size_t)n;
		reply[got] = '\0';
		if (strchr(reply, '\n') != NULL) {
			ok = strstr(reply, "\"result\"") != NULL;
			break;
		}
	}
out:
	close(fd);
	return ok;
}

/* SIGTERM, then a start timed from fork to the first answer (polled every
 * millisecond; the fixture's own start polls every 20 ms). */
static double restart_ms(struct test_vault *v)
{
	pid_t parent = getpid(), pid;
	double t0;

	if (test_vault_stop(v) != 0)
		return -1;
	(void)unlink(v->socket);
	t0 = now_ms();
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		int fd = open(v->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
			_exit(126);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		setenv("SOFTHSM2_CONF", v->softhsm_conf, 1);
		execl(v->vaultd_path, "vaultd", "-f", "-c", v->config, (char *)NULL);
		_exit(127);
	}
	v->pid = pid;
	while (now_ms() - t0 < 30000) {
		if (answers(v->socket))
			return now_ms() - t0;
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			v->pid = 0;
			return -1;
		}
		nap_ms(1);
	}
	return -1;
}

static int count_object(void *context, const struct hsm_object *object)
{
	(void)object;
	(*(unsigned *)context)++;
	return 0;
}

/* SoftHSM's own costs in v's token, vaultd stopped: ms[0] hsm_open, ms[1] a
 * walk of "mcxvault/", ms[2] C_CreateObject of a data object, ms[3] its
 * C_DestroyObject; medians of 3. */
static int token_floor(const struct test_vault *v, double ms[4])
{
	double t[4][3], t0;
	char dir[256];
	int r = -1;

	if (token_dir(v, dir, sizeof(dir)) != 0)
		return -1;
	setenv("SOFTHSM2_CONF", v->softhsm_conf, 1);
	for (int i = 0; i < 3; i++) {
		struct hsm_options o;
		struct hsm *hsm = NULL;
		hsm_handle_t h;
		unsigned n = 0;

		memset(&o, 0, sizeof(o));
		o.module = "softhsm2";
		o.token_uri = "pkcs11:token=" TEST_VAULT_TOKEN_LABEL;
		o.pin = TEST_VAULT_PIN;
		o.sessions = 3;
		o.sync_path = dir;
		t0 = now_ms();
		if (hsm_open(&o, &hsm) != MCX_OK)
			goto out;
		t[0][i] = now_ms() - t0;
		t0 = now_ms();
		if (hsm_objects_walk(hsm, "mcxvault/", count_object, &n) != MCX_OK)
			goto fail;
		t[1][i] = now_ms() - t0;
		t0 = now_ms();
		if (hsm_data_create(hsm, "bench/probe", "x", 1, &h) != MCX_OK)
			goto fail;
		t[2][i] = now_ms() - t0;
		t0 = now_ms();
		if (hsm_object_destroy(hsm, h) != MCX_OK)
			goto fail;
		t[3][i] = now_ms() - t0;
		hsm_close(hsm);
		continue;
fail:
		hsm_close(hsm);
		goto out;
	}
	for (int k = 0; k < 4; k++)
		ms[k] = median(t[k], 3);
	r = 0;
out:
	return r;
}

struct side {
	const char *name;
	struct test_vault v;
	struct mcxvault *c;
	int64_t active;
	double rotate[ROUNDS_MAX], retire[ROUNDS_MAX], restart[ROUNDS_MAX];
};

static int side_connect(struct side *s)
{
	struct mcxvault_error e;
	json_t *res = NULL;

	if (s->c != NULL)
		mcxvault_close(s->c);
	s->c = NULL;
	if (mcxvault_connect(s->v.socket, &s->c) != 0 || mcxvault_set_timeout(s->c, 60000) != 0)
		return -1;
	(void)e;
	(void)res;
	return 0;
}

static int one_round(struct side *s, unsigned i, unsigned pause)
{
	struct mcxvault_error e;
	double t0;
	int64_t v = 0;

	memset(&e, 0, sizeof(e));
	t0 = now_ms();
	if (mcxvault_key_rotate(s->c, DOMAIN, NULL, &v, NULL, &e) != 0) {
		fprintf(stderr, "bench_keys: %s: key.rotate: %s\n", s->name, e.message);
		return -1;
	}
	s->rotate[i] = now_ms() - t0;
	nap_ms(pause);
	t0 = now_ms();
	if (mcxvault_key_retire(s->c, DOMAIN, NULL, v - 1, NULL, &e) != 0) {
		fprintf(stderr, "bench_keys: %s: key.retire %lld: %s\n", s->name, (long long)(v - 1), e.message);
		return -1;
	}
	s->retire[i] = now_ms() - t0;
	nap_ms(pause);
	mcxvault_close(s->c);
	s->c = NULL;
	if ((s->restart[i] = restart_ms(&s->v)) < 0) {
		fprintf(stderr, "bench_keys: %s: vaultd did not restart\n", s->name);
		test_vault_dump_log(&s->v);
		return -1;
	}
	return side_connect(s);
}

int main(void)
{
	unsigned rounds = env_uint("MCX_BENCH_KEYS_ROUNDS", 5, ROUNDS_MAX);
	unsigned objects = env_uint("MCX_BENCH_OBJECTS", 5000, 100000);
	unsigned pause = env_uint("MCX_BENCH_KEYS_PAUSE_MS", 2000, 60000);
	struct side sides[2];
	struct mcxvault_error e;
	const char *dom = "{ name = \"" DOMAIN "\"; kms_uri = \"kms.a.example\"; }";
	double t0;
	int status = 1;

	memset(sides, 0, sizeof(sides));
	sides[0].name = "empty token";
	sides[1].name = "full token";
	atexit(test_vault_cleanup_all);
	for (int k = 0; k < 2; k++) {
		if (test_vault_setup_audit(&sides[k].v, k ? "kfull" : "kemp", dom, NULL, 2, 0, 0) != 0 ||
		    test_vault_start(&sides[k].v) != 0 || side_connect(&sides[k]) != 0 ||
		    mcxvault_domain_init(sides[k].c, DOMAIN, NULL, &e) != 0) {
			fprintf(stderr, "bench_keys: cannot set up the %s vault\n", sides[k].name);
			return 1;
		}
	}
	/* the full token: vaultd stopped while the files are added */
	mcxvault_close(sides[1].c);
	sides[1].c = NULL;
	if (test_vault_stop(&sides[1].v) != 0)
		return 1;
	t0 = now_ms();
	if (fill_token(&sides[1].v, objects) != 0)
		return 1;
	printf("filled the full token with %u objects in %.1f s\n", objects, (now_ms() - t0) / 1e3);
	if (test_vault_start(&sides[1].v) != 0 || side_connect(&sides[1]) != 0)
		return 1;
	printf("%u rounds; %u ms pause after each change; medians in ms\n", rounds, pause);
	for (unsigned i = 0; i < rounds; i++)
		for (int k = 0; k < 2; k++)
			if (one_round(&sides[k], i, pause) != 0)
				goto out;
	{
		double m[2][3];
		const char *what[3] = { "key.rotate", "key.retire", "restart (fork to first answer)" };
		for (int k = 0; k < 2; k++) {
			m[k][0] = median(sides[k].rotate, rounds);
			m[k][1] = median(sides[k].retire, rounds);
			m[k][2] = median(sides[k].restart, rounds);
		}
		printf("%-32s %12s %12s %8s %8s\n", "", "empty token", "full token", "ratio", "goal");
		for (int j = 0; j < 3; j++)
			printf("%-32s %12.1f %12.1f %8.2f %8s %s\n", what[j], m[0][j], m[1][j], m[1][j] / m[0][j], "<= 1.30",
			       m[1][j] / m[0][j] <= 1.3 ? "ok" : "MISS");
	}
	{
		double f[2][4];
		const char *what[4] = { "SoftHSM: hsm_open (login, pool)", "SoftHSM: walk of mcxvault/ objects",
		                        "SoftHSM: C_CreateObject (data)", "SoftHSM: C_DestroyObject (data)" };
		for (int k = 0; k < 2; k++) {
			if (sides[k].c != NULL)
				mcxvault_close(sides[k].c);
			sides[k].c = NULL;
			if (test_vault_stop(&sides[k].v) != 0 || token_floor(&sides[k].v, f[k]) != 0) {
				fprintf(stderr, "bench_keys: cannot measure the %s directly\n", sides[k].name);
				goto out;
			}
		}
		printf("what SoftHSM costs by itself (vaultd stopped; the floor of the lines above):\n");
		for (int j = 0; j < 4; j++)
			printf("%-36s %8.1f %12.1f %8.2f\n", what[j], f[0][j], f[1][j], f[1][j] / f[0][j]);
	}
	status = 0;
out:
	for (int k = 0; k < 2; k++) {
		if (sides[k].c != NULL)
			mcxvault_close(sides[k].c);
		(void)test_vault_stop(&sides[k].v);
		if (status != 0)
			test_vault_dump_log(&sides[k].v);
	}
	return status;
}
