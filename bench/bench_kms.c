/*
 * bench_kms — kms.user_keys through vaultd against the same work done with
 * the crypto module in-process, in one run.
 *
 * One fresh SoftHSM token and one vaultd child with workers = 2
 * (tests/kms/kms_fixture.c); domain.init makes a.example's KMS generation.
 * The in-process line does what vaultd does per request, minus the RPC, the
 * token (unsealing the master secrets, the RNG) and the logging:
 *
 *   in-process   UID (TS 33.180 F.2.1) + RSK issue + RSK validate
 *                + SSK/PVT issue + SSK/PVT validate, master secrets in memory
 *   vaultd       kms.user_keys, one connection per client thread
 *   references   vault.status (the RPC alone) and kms.certificate (the
 *                token reads of a generation, no SAKKE), 1 thread
 *
 * each with 1 and 2 threads for MCX_BENCH_SECONDS (default 3) seconds, a new
 * user URI per request.  Prints throughput, p50 latency and the ratios
 * vaultd / in-process.  Exit status: 0 when everything ran without an error,
 * 1 otherwise.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mcxvault.h"
#include "mcx/eccsi.h"
#include "mcx/sakke.h"
#include "mcx/uid.h"
#include "mcx/util.h"
#include "tests/lib/vault_fixture.h"

#define BENCH_DOMAIN "a.example"
#define BENCH_KMS_URI "kms.a.example"
#define BENCH_PERIOD 2592000u
#define BENCH_THREADS_MAX 2
#define BENCH_LAT_MAX 100000

struct bench;

struct bench_thread {
	struct bench *bench;
	unsigned index;
	struct mcxvault *v;          /* vaultd lines: this thread's connection */
	uint64_t ops, errors;
	uint32_t *lat;               /* ns, at most BENCH_LAT_MAX */
	char first_error[384];
	pthread_t tid;
};

typedef int (*bench_op)(struct bench_thread *t, uint64_t i);

struct bench {
	bench_op op;
	unsigned threads;
	double seconds;
	uint64_t deadline_ns;
	pthread_barrier_t barrier;
	struct bench_thread t[BENCH_THREADS_MAX];
};

struct bench_result {
	const char *name;
	unsigned threads;
	double ops_per_s, p50_us;
	uint64_t errors;
};

/* The in-process KMS: master secrets and public keys in memory. */
static struct mcx_sakke_params *sakke;
static struct mcx_eccsi_params *eccsi;
static uint8_t master_z[MCX_SAKKE_SCALAR_LEN], master_Z[MCX_SAKKE_POINT_LEN];
static uint8_t master_ksak[MCX_ECCSI_SCALAR_LEN], master_kpak[MCX_ECCSI_POINT_LEN];
static uint64_t period_no;

static void user_uri(char *out, size_t size, const struct bench_thread *t, uint64_t i)
{
	snprintf(out, size, "sip:user-%u-%llu@" BENCH_DOMAIN, t->index, (unsigned long long)i);
}

static int op_in_process(struct bench_thread *t, uint64_t i)
{
	char uri[96];
	uint8_t uid[MCX_UID_LEN], rsk[MCX_SAKKE_POINT_LEN], ssk[MCX_ECCSI_SCALAR_LEN], pvt[MCX_ECCSI_POINT_LEN];
	int r;

	user_uri(uri, sizeof(uri), t, i);
	if ((r = mcx_uid_compute(uri, strlen(uri), BENCH_KMS_URI, strlen(BENCH_KMS_URI), BENCH_PERIOD, 0, period_no,
				 uid)) == 0 &&
	    (r = mcx_sakke_rsk_issue(sakke, master_z, uid, sizeof(uid), rsk)) == 0 &&
	    (r = mcx_sakke_rsk_validate(sakke, master_Z, uid, sizeof(uid), rsk)) == 0 &&
	    (r = mcx_eccsi_issue(eccsi, master_ksak, master_kpak, uid, sizeof(uid), NULL, NULL, ssk, pvt)) == 0)
		r = mcx_eccsi_validate(eccsi, master_kpak, uid, sizeof(uid), ssk, pvt);
	mcx_wipe(ssk, sizeof(ssk));
	if (r != 0)
		snprintf(t->first_error, sizeof(t->first_error), "in-process: %s", mcx_error_name(r));
	return r;
}

static int op_vaultd(struct bench_thread *t, uint64_t i)
{
	char uri[96];
	struct mcxvault_error e;
	json_t *params = NULL, *res = NULL;
	int r;

	user_uri(uri, sizeof(uri), t, i);
	if ((params = json_pack("{s:s, s:s}", "domain", BENCH_DOMAIN, "user_uri", uri)) == NULL)
		return MCX_ERR_ALLOC;
	r = mcxvault_call(t->v, "kms.user_keys", params, &res, &e);
	json_decref(params);
	if (r == 0 && !json_is_string(json_object_get(res, "rsk")))
		r = MCX_ERR_PROTOCOL;
	json_decref(res);
	if (r != 0)
		snprintf(t->first_error, sizeof(t->first_error), "kms.user_keys: %s (%s)", e.message, e.name);
	return r;
}

/* The token reads of a request without the SAKKE/ECCSI work: the generation's
 * params and certificate (kms.certificate parses and re-encodes it too). */
static int op_certificate(struct bench_thread *t, uint64_t i)
{
	struct mcxvault_error e;
	json_t *params = json_pack("{s:s}", "domain", BENCH_DOMAIN), *res = NULL;
	int r;

	if (params == NULL)
		return MCX_ERR_ALLOC;
	r = mcxvault_call(t->v, "kms.certificate", params, &res, &e);
	json_decref(params);
	json_decref(res);
	if (r != 0)
		snprintf(t->first_error, sizeof(t->first_error), "kms.certificate: %s (%s)", e.message, e.name);
	return r;
}

static int op_status(struct bench_thread *t, uint64_t i)
{
	struct mcxvault_error e;
	int r = mcxvault_status(t->v, NULL, &e);

	if (r != 0)
		snprintf(t->first_error, sizeof(t->first_error), "vault.status: %s (%s)", e.message, e.name);
	return r;
}

static void *bench_thread_main(void *arg)
{
	struct bench_thread *t = arg;
	struct bench *b = t->bench;
	uint64_t i = 0, start;

	pthread_barrier_wait(&b->barrier);
	while ((start = mcx_monotonic_ns()) < b->deadline_ns) {
		if (b->op(t, i++) != 0) {
			t->errors++;
			continue;
		}
		if (t->ops < BENCH_LAT_MAX) {
			uint64_t ns = mcx_monotonic_ns() - start;
			t->lat[t->ops] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
		}
		t->ops++;
	}
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Runs op on threads for b->seconds; conns: one connection per thread or NULL. */
static int bench_run(const char *name, bench_op op, unsigned threads, double seconds, struct mcxvault **conns,
		     struct bench_result *res)
{
	struct bench b;
	uint32_t *all = NULL;
	size_t n = 0;
	uint64_t start, ops = 0;
	int ok = 1;

	memset(&b, 0, sizeof(b));
	memset(res, 0, sizeof(*res));
	b.op = op;
	b.threads = threads;
	b.seconds = seconds;
	pthread_barrier_init(&b.barrier, NULL, threads + 1);
	for (unsigned i = 0; i < threads; i++) {
		b.t[i].bench = &b;
		b.t[i].index = i;
		b.t[i].v = conns != NULL ? conns[i] : NULL;
		if ((b.t[i].lat = calloc(BENCH_LAT_MAX, sizeof(uint32_t))) == NULL)
			return -1;
	}
	start = mcx_monotonic_ns();
	b.deadline_ns = start + (uint64_t)(seconds * 1e9);
	for (unsigned i = 0; i < threads; i++)
		if (pthread_create(&b.t[i].tid, NULL, bench_thread_main, &b.t[i]) != 0)
			return -1;
	pthread_barrier_wait(&b.barrier);
	for (unsigned i = 0; i < threads; i++)
		pthread_join(b.t[i].tid, NULL);
	start = mcx_monotonic_ns() - start;
	for (unsigned i = 0; i < threads; i++) {
		ops += b.t[i].ops;
		res->errors += b.t[i].errors;
		if (b.t[i].errors > 0) {
			fprintf(stderr, "bench_kms: %s, thread %u: %llu errors, first: %s\n", name, i,
				(unsigned long long)b.t[i].errors, b.t[i].first_error);
			ok = 0;
		}
	}
	if ((all = malloc((size_t)threads * BENCH_LAT_MAX * sizeof(uint32_t))) != NULL) {
		for (unsigned i = 0; i < threads; i++) {
			size_t k = b.t[i].ops < BENCH_LAT_MAX ? (size_t)b.t[i].ops : BENCH_LAT_MAX;
			memcpy(all + n, b.t[i].lat, k * sizeof(uint32_t));
			n += k;
		}
		qsort(all, n, sizeof(uint32_t), cmp_u32);
	}
	res->name = name;
	res->threads = threads;
	res->ops_per_s = (double)ops / ((double)start / 1e9);
	res->p50_us = n > 0 ? all[n / 2] / 1e3 : 0;
	printf("%-34s %7u %9.1f %10.0f\n", name, threads, res->ops_per_s, res->p50_us);
	fflush(stdout);
	free(all);
	for (unsigned i = 0; i < threads; i++)
		free(b.t[i].lat);
	pthread_barrier_destroy(&b.barrier);
	return ok && ops > 0 ? 0 : -1;
}

static double bench_seconds(void)
{
	const char *s = getenv("MCX_BENCH_SECONDS");
	char *end = NULL;
	double v;

	if (s == NULL || *s == '\0')
		return 3.0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || v < 0.1 || v > 600) {
		fprintf(stderr, "bench_kms: MCX_BENCH_SECONDS must be a number of seconds from 0.1 to 600\n");
		exit(1);
	}
	return v;
}

int main(void)
{
	struct test_vault vault;
	struct mcxvault *conns[BENCH_THREADS_MAX] = { NULL, NULL };
	struct mcxvault_error e;
	struct bench_result ip1, ip2, vd1, vd2, st1, ce1;
	json_t *res = NULL;
	double seconds = bench_seconds();
	int status = 0;
	char when[21];

	if (mcx_sakke_params_new(&sakke) != 0 || mcx_eccsi_params_new(&eccsi) != 0 ||
	    mcx_sakke_master_generate(sakke, NULL, NULL, master_z, master_Z) != 0 ||
	    mcx_eccsi_kms_generate(eccsi, NULL, NULL, master_ksak, master_kpak) != 0 ||
	    mcx_uid_key_period(mcx_time_now(), BENCH_PERIOD, 0, &period_no, NULL, NULL) != 0) {
		fprintf(stderr, "bench_kms: crypto setup failed\n");
		return 1;
	}
	/* audit off: the figures of docs/performance.md are vaultd's own work */
	if (test_vault_setup_audit(&vault, "bench", TEST_VAULT_DOMAINS_AB, NULL, 2, 0, 0) != 0 ||
	    test_vault_start(&vault) != 0)
		return 1;
	for (unsigned i = 0; i < BENCH_THREADS_MAX; i++)
		if (mcxvault_connect(vault.socket, &conns[i]) != 0 || mcxvault_set_timeout(conns[i], 60000) != 0) {
			fprintf(stderr, "bench_kms: cannot connect to %s\n", vault.socket);
			return 1;
		}
	if (mcxvault_domain_init(conns[0], BENCH_DOMAIN, &res, &e) != 0) {
		fprintf(stderr, "bench_kms: domain.init: %s\n", e.message);
		return 1;
	}
	json_decref(res);

	mcx_time_format(mcx_time_now(), when);
	printf("kms.user_keys benchmark, %s, %ld CPUs, %.1f s per line, vaultd workers = 2\n", when,
	       sysconf(_SC_NPROCESSORS_ONLN), seconds);
	printf("one op = UID + SAKKE RSK issue + validate + ECCSI SSK/PVT issue + validate (a new user each)\n\n");
	printf("%-34s %7s %9s %10s\n", "measurement", "threads", "ops/s", "p50 us");
	if (bench_run("in-process (libmcxcrypto)", op_in_process, 1, seconds, NULL, &ip1) != 0 ||
	    bench_run("in-process (libmcxcrypto)", op_in_process, 2, seconds, NULL, &ip2) != 0 ||
	    bench_run("kms.user_keys through vaultd", op_vaultd, 1, seconds, conns, &vd1) != 0 ||
	    bench_run("kms.user_keys through vaultd", op_vaultd, 2, seconds, conns, &vd2) != 0 ||
	    bench_run("vault.status (RPC round trip)", op_status, 1, seconds / 3, conns, &st1) != 0 ||
	    bench_run("kms.certificate (token reads)", op_certificate, 1, seconds / 3, conns, &ce1) != 0)
		status = 1;
	if (status == 0) {
		printf("\nratios (vaultd / in-process, same thread count):\n");
		printf("  1 thread   %6.2f   (%.2f ms per request over the in-process work)\n",
		       vd1.ops_per_s / ip1.ops_per_s, vd1.p50_us / 1e3 - ip1.p50_us / 1e3);
		printf("  2 threads  %6.2f\n", vd2.ops_per_s / ip2.ops_per_s);
		printf("  scaling 2/1 threads: in-process %.2fx, vaultd %.2fx\n", ip2.ops_per_s / ip1.ops_per_s,
		       vd2.ops_per_s / vd1.ops_per_s);
		printf("\nbreakdown, 1 thread (ms per request at the median):\n");
		printf("  in-process crypto                       %7.2f\n", ip1.p50_us / 1e3);
		printf("  kms.user_keys                           %7.2f\n", vd1.p50_us / 1e3);
		printf("  RPC round trip (vault.status)           %7.2f\n", st1.p50_us / 1e3);
		printf("  kms.certificate (params + cert reads)   %7.2f\n", ce1.p50_us / 1e3);
	}
	for (unsigned i = 0; i < BENCH_THREADS_MAX; i++)
		mcxvault_close(conns[i]);
	if (test_vault_stop(&vault) != 0) {
		fprintf(stderr, "bench_kms: vaultd did not exit cleanly\n");
		test_vault_dump_log(&vault);
		status = 1;
	}
	test_vault_cleanup(&vault);
	mcx_wipe(master_z, sizeof(master_z));
	mcx_wipe(master_ksak, sizeof(master_ksak));
	mcx_sakke_params_free(sakke);
	mcx_eccsi_params_free(eccsi);
	return status;
}
