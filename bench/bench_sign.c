/*
 * bench_sign — sign.sign through vaultd against direct C_Sign, in one run.
 *
 * One fresh SoftHSM token (temporary directory, SOFTHSM2_CONF) and one vaultd
 * child with workers = 2 (tests/lib/vault_fixture.c).  domain.init makes the
 * key; this process then opens the same token through the HSM layer and signs
 * with the very same private key:
 *
 *   raw C_Sign        C_SignInit + C_Sign on our own sessions (p11-kit)
 *   hsm_ecdsa_sign    the HSM layer: session pool, guarded call, CK_RV map
 *   vault.status      one RPC round trip, no signature (~ the RPC overhead)
 *   sign.sign         32-octet digest, strict request/response, one
 *                     connection per client thread
 *
 * each with 1 and 2 threads for MCX_BENCH_SECONDS (default 3) seconds.  It
 * prints throughput, p50/p99 latency and the ratios against the goals of
 * docs/performance.md.  Exit status: 0 when everything ran without an error
 * (a missed goal is reported, not fatal), 1 otherwise.
 *
 * This program and pkcs11/ are the only places that include PKCS#11 headers:
 * the raw line shows what the HSM layer itself costs.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#define CRYPTOKI_GNU 1

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>

#include "mcxvault.h"
#include "mcx/util.h"
#include "pkcs11/hsm.h"
#include "tests/lib/vault_fixture.h"

#define BENCH_DOMAIN "a.example"
#define BENCH_KEY_LABEL "mcxvault/" BENCH_DOMAIN "/sign/1"
#define BENCH_THREADS_MAX 2

/* Latencies in ns. */
struct bench_lat {
	uint32_t *v;
	size_t n, alloc;
};

/* One slice of a measurement: threads run op() until the deadline. */
struct bench_thread {
	struct bench *bench;
	void *ctx;                   /* per thread: a connection or a session */
	struct bench_lat lat;
	uint64_t finished_ns;
	unsigned long errors;
	char first_error[384];
	pthread_t tid;
};

typedef int (*bench_op)(struct bench_thread *t, uint64_t i);

struct bench {
	bench_op op;
	unsigned threads;
	double seconds;
	pthread_barrier_t barrier;
	uint64_t start_ns, deadline_ns;
	struct bench_thread t[BENCH_THREADS_MAX];
};

/* One line of the table, summed over its slices. */
struct bench_result {
	const char *name;
	bench_op op;
	unsigned threads;
	void *const *ctx;
	struct bench_lat lat;
	uint64_t elapsed_ns;
	double cpu_self_us, cpu_vaultd_us;   /* sums, then per operation */
	unsigned long errors;
	double ops_per_s, p50_us, p99_us;
	unsigned batch;                      /* signatures per operation (0: 1) */
};

/* vaultd's pid, for its CPU time; 0: not measured. */
static pid_t bench_vaultd;

/* What the ops work on. */
static struct hsm *bench_hsm;
static hsm_handle_t bench_key;
static struct ck_function_list *raw_fl;
static ck_session_handle_t raw_sessions[BENCH_THREADS_MAX];

static void bench_digest(uint8_t digest[32], uint64_t i, unsigned thread)
{
	memset(digest, 0x5a, 32);
	memcpy(digest, &i, sizeof(i));
	digest[31] = (uint8_t)thread;
}

static unsigned bench_index(const struct bench_thread *t)
{
	return (unsigned)(t - t->bench->t);
}

static int op_raw_sign(struct bench_thread *t, uint64_t i)
{
	struct ck_mechanism mech = { CKM_ECDSA, NULL, 0 };
	ck_session_handle_t s = raw_sessions[bench_index(t)];
	unsigned char digest[32], sig[72];
	unsigned long sig_len = sizeof(sig);
	ck_rv_t rv;

	bench_digest(digest, i, bench_index(t));
	if ((rv = raw_fl->C_SignInit(s, &mech, hsm_handle_raw(bench_key))) == CKR_OK)
		rv = raw_fl->C_Sign(s, digest, 32, sig, &sig_len);
	if (rv != CKR_OK || sig_len != 64) {
		snprintf(t->first_error, sizeof(t->first_error), "C_Sign: CK_RV 0x%lx, %lu octets", rv, sig_len);
		return -1;
	}
	return 0;
}

static int op_hsm_sign(struct bench_thread *t, uint64_t i)
{
	uint8_t digest[32], sig[64];
	int r;

	bench_digest(digest, i, bench_index(t));
	if ((r = hsm_ecdsa_sign(bench_hsm, bench_key, digest, sig)) != MCX_OK) {
		snprintf(t->first_error, sizeof(t->first_error), "hsm_ecdsa_sign: %s", mcx_error_name(r));
		return -1;
	}
	return 0;
}

static int op_vault_status(struct bench_thread *t, uint64_t i)
{
	struct mcxvault_error e;
	json_t *result = NULL;
	int r;

	(void)i;
	if ((r = mcxvault_status(t->ctx, &result, &e)) != 0) {
		snprintf(t->first_error, sizeof(t->first_error), "vault.status: %s (%s)", e.message, e.name);
		return -1;
	}
	json_decref(result);
	return 0;
}

static int op_vault_sign(struct bench_thread *t, uint64_t i)
{
	struct mcxvault_error e;
	uint8_t digest[32], sig[MCXVAULT_SIGNATURE_LEN];
	int r;

	bench_digest(digest, i, bench_index(t));
	if ((r = mcxvault_sign(t->ctx, BENCH_DOMAIN, digest, sizeof(digest), 1, NULL, sig, &e)) != 0) {
		snprintf(t->first_error, sizeof(t->first_error), "sign.sign: %s (%s)", e.message, e.name);
		return -1;
	}
	return 0;
}

/* 16 digests with mcxvault_sign_many: the requests pipelined on one
 * connection (issue 11: a client with many digests need not pay one round
 * trip per signature). */
#define BENCH_PIPELINE 16
static int op_vault_sign_pipelined(struct bench_thread *t, uint64_t i)
{
	struct mcxvault_error e;
	uint8_t digests[BENCH_PIPELINE][32], sigs[BENCH_PIPELINE][MCXVAULT_SIGNATURE_LEN];
	int results[BENCH_PIPELINE];

	for (unsigned k = 0; k < BENCH_PIPELINE; k++)
		bench_digest(digests[k], i * BENCH_PIPELINE + k, bench_index(t));
	if (mcxvault_sign_many(t->ctx, BENCH_DOMAIN, (const uint8_t(*)[32])digests, BENCH_PIPELINE, sigs, results, NULL,
	                       &e) != 0) {
		snprintf(t->first_error, sizeof(t->first_error), "sign.sign (pipelined): %s (%s)", e.message, e.name);
		return -1;
	}
	return 0;
}

static int bench_record(struct bench_lat *l, uint64_t ns)
{
	if (l->n == l->alloc) {
		size_t alloc = l->alloc == 0 ? 65536 : l->alloc * 2;
		uint32_t *grown = realloc(l->v, alloc * sizeof(*grown));
		if (grown == NULL)
			return -1;
		l->v = grown;
		l->alloc = alloc;
	}
	l->v[l->n++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
	return 0;
}

static void *bench_thread_main(void *arg)
{
	struct bench_thread *t = arg;
	struct bench *b = t->bench;
	uint64_t i = 0, before, after;

	pthread_barrier_wait(&b->barrier);
	if (bench_index(t) == 0) {
		b->start_ns = mcx_monotonic_ns();
		b->deadline_ns = b->start_ns + (uint64_t)(b->seconds * 1e9);
	}
	pthread_barrier_wait(&b->barrier);
	for (after = mcx_monotonic_ns(); after < b->deadline_ns; i++) {
		before = after;
		if (b->op(t, i) != 0) {
			t->errors++;
			after = mcx_monotonic_ns();
			continue;
		}
		after = mcx_monotonic_ns();
		if (bench_record(&t->lat, after - before) != 0)
			t->errors++;
	}
	t->finished_ns = after;
	return NULL;
}

/* CPU time (user + system) of this process, in microseconds. */
static double cpu_self_us(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* CPU time of vaultd (all threads) from /proc/<pid>/stat, in microseconds. */
static double cpu_vaultd_us(void)
{
	char path[64], line[1024], *p;
	unsigned long long utime = 0, stime = 0;
	FILE *f;
	int ok;

	if (bench_vaultd <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)bench_vaultd);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	p = fgets(line, sizeof(line), f);
	fclose(f);
	/* after "(comm)": state, then fields 4..13, then utime and stime */
	if (p == NULL || (p = strrchr(line, ')')) == NULL)
		return 0;
	ok = sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) == 2;
	return ok ? (double)(utime + stime) * 1e6 / (double)sysconf(_SC_CLK_TCK) : 0;
}

static int compare_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Runs op on `threads` threads (ctx[i] for thread i) and summarises. */
/* Runs one slice of a measurement on r->threads threads (ctx[i] for
 * thread i) and adds it to r. */
static int bench_run(struct bench_result *r, void *const *ctx, double seconds)
{
	struct bench *b;
	uint64_t end = 0;
	unsigned started = 0;
	double self0 = cpu_self_us(), vaultd0 = cpu_vaultd_us();
	int failed = 0;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return -1;
	b->op = r->op;
	b->threads = r->threads;
	b->seconds = seconds;
	pthread_barrier_init(&b->barrier, NULL, r->threads);
	for (unsigned i = 0; i < r->threads; i++) {
		b->t[i].bench = b;
		b->t[i].ctx = ctx != NULL ? ctx[i] : NULL;
		if (pthread_create(&b->t[i].tid, NULL, bench_thread_main, &b->t[i]) != 0)
			break;
		started++;
	}
	if (started != r->threads) {
		/* the barrier never opens: nothing sensible left to do */
		fprintf(stderr, "bench_sign: pthread_create failed\n");
		exit(1);
	}
	for (unsigned i = 0; i < r->threads; i++) {
		struct bench_thread *t = &b->t[i];
		pthread_join(t->tid, NULL);
		if (t->finished_ns > end)
			end = t->finished_ns;
		if (t->errors > 0)
			fprintf(stderr, "bench_sign: %s, thread %u: %lu errors, first: %s\n", r->name, i, t->errors,
			        t->first_error);
		r->errors += t->errors;
		for (size_t k = 0; k < t->lat.n && !failed; k++)
			failed = bench_record(&r->lat, t->lat.v[k]) != 0;
		free(t->lat.v);
	}
	r->elapsed_ns += end - b->start_ns;
	r->cpu_self_us += cpu_self_us() - self0;
	r->cpu_vaultd_us += cpu_vaultd_us() - vaultd0;
	pthread_barrier_destroy(&b->barrier);
	free(b);
	return failed || r->errors > 0 ? -1 : 0;
}

/* Throughput, percentiles and CPU per operation over all slices; prints the line. */
static void bench_finish(struct bench_result *r)
{
	size_t n = r->lat.n, batch = r->batch > 0 ? r->batch : 1;

	if (n > 0 && r->elapsed_ns > 0) {
		/* throughput and CPU per signature; latency per operation (a batch) */
		qsort(r->lat.v, n, sizeof(*r->lat.v), compare_u32);
		r->ops_per_s = (double)(n * batch) / ((double)r->elapsed_ns / 1e9);
		r->p50_us = r->lat.v[n / 2] / 1e3;
		r->p99_us = r->lat.v[(size_t)((double)n * 0.99)] / 1e3;
		r->cpu_self_us /= (double)(n * batch);
		r->cpu_vaultd_us /= (double)(n * batch);
	}
	printf("%-32s %7u %9.0f %8.1f %8.1f %9.1f %9.1f%s\n", r->name, r->threads, r->ops_per_s, r->p50_us,
	       r->p99_us, r->cpu_self_us, r->cpu_vaultd_us, r->errors ? "  ERRORS" : "");
	free(r->lat.v);
	memset(&r->lat, 0, sizeof(r->lat));
}

/* A few hundred operations of each kind first: caches, allocator arenas,
 * SoftHSM's object cache and vaultd's buffers all warm before the clock runs. */
static int bench_warm_up(struct mcxvault *v)
{
	struct bench b;
	uint8_t digest[32], sig[64];
	struct mcxvault_error e;

	memset(&b, 0, sizeof(b));
	b.t[0].bench = &b;
	b.t[0].ctx = v;
	for (uint64_t i = 0; i < 300; i++) {
		bench_digest(digest, i, 0);
		if (op_raw_sign(&b.t[0], i) != 0 || hsm_ecdsa_sign(bench_hsm, bench_key, digest, sig) != MCX_OK ||
		    mcxvault_sign(v, BENCH_DOMAIN, digest, sizeof(digest), 1, NULL, sig, &e) != 0)
			return -1;
	}
	return 0;
}

static int ratio_line(const char *what, double num, double den, double goal, const char *note)
{
	double ratio = den > 0 ? num / den : 0;
	int pass = ratio >= goal;

	printf("  %-44s %6.2f   goal >= %.2f  %s%s\n", what, ratio, goal, pass ? "PASS" : "MISS",
	       note != NULL ? note : "");
	return pass;
}

/* Raw sessions on the token the HSM layer opened (same module instance: the
 * module is initialised and the user is logged in already). */
static int raw_open(void)
{
	struct hsm_token_info info;
	ck_slot_id_t slots[16];
	unsigned long n = MCX_ARRAY_SIZE(slots);
	struct ck_token_info ti;

	if (hsm_token_info(bench_hsm, &info) != MCX_OK)
		return -1;
	if ((raw_fl = p11_kit_module_load(info.module_path, P11_KIT_MODULE_UNMANAGED)) == NULL)
		return -1;
	if (raw_fl->C_GetSlotList(1, slots, &n) != CKR_OK)
		return -1;
	for (unsigned long i = 0; i < n; i++) {
		if (raw_fl->C_GetTokenInfo(slots[i], &ti) != CKR_OK ||
		    p11_kit_space_strlen(ti.label, sizeof(ti.label)) != strlen(TEST_VAULT_TOKEN_LABEL) ||
		    memcmp(ti.label, TEST_VAULT_TOKEN_LABEL, strlen(TEST_VAULT_TOKEN_LABEL)) != 0)
			continue;
		for (unsigned k = 0; k < BENCH_THREADS_MAX; k++)
			if (raw_fl->C_OpenSession(slots[i], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
			                          &raw_sessions[k]) != CKR_OK)
				return -1;
		return 0;
	}
	return -1;
}

static void raw_close(void)
{
	if (raw_fl == NULL)
		return;
	for (unsigned k = 0; k < BENCH_THREADS_MAX; k++)
		if (raw_sessions[k] != 0)
			(void)raw_fl->C_CloseSession(raw_sessions[k]);
	p11_kit_module_release(raw_fl);
	raw_fl = NULL;
}

static double bench_seconds(void)
{
	const char *s = getenv("MCX_BENCH_SECONDS");
	char *end;
	double v;

	if (s == NULL || *s == '\0')
		return 3.0;
	v = strtod(s, &end);
	if (*end != '\0' || !(v >= 0.1 && v <= 600)) {
		fprintf(stderr, "bench_sign: MCX_BENCH_SECONDS must be a number of seconds from 0.1 to 600\n");
		exit(2);
	}
	return v;
}

/* MCX_BENCH_ROUNDS: how many slices each line is split into (default 3). */
static unsigned bench_rounds(void)
{
	const char *s = getenv("MCX_BENCH_ROUNDS");
	char *end;
	unsigned long v;

	if (s == NULL || *s == '\0')
		return 3;
	v = strtoul(s, &end, 10);
	if (*end != '\0' || v < 1 || v > 100) {
		fprintf(stderr, "bench_sign: MCX_BENCH_ROUNDS must be 1..100\n");
		exit(2);
	}
	return (unsigned)v;
}

enum { RAW1, HSM1, VAULT1, RAW2, HSM2, VAULT2, STATUS1, STATUS2, AUDIT1, AUDIT2, PIPE1, LINES };

int main(void)
{
	struct test_vault fx;
	struct hsm_options opt;
	struct mcxvault *v[BENCH_THREADS_MAX] = { NULL };
	struct mcxvault_error e;
	struct bench_result res[LINES] = {
		[RAW1] = { "C_Sign, raw p11-kit", op_raw_sign, 1, NULL },
		[HSM1] = { "hsm_ecdsa_sign (direct)", op_hsm_sign, 1, NULL },
		[VAULT1] = { "vaultd sign.sign", op_vault_sign, 1, NULL },
		[RAW2] = { "C_Sign, raw p11-kit", op_raw_sign, 2, NULL },
		[HSM2] = { "hsm_ecdsa_sign (direct)", op_hsm_sign, 2, NULL },
		[VAULT2] = { "vaultd sign.sign", op_vault_sign, 2, NULL },
		[STATUS1] = { "vaultd vault.status (RPC only)", op_vault_status, 1, NULL },
		[STATUS2] = { "vaultd vault.status (RPC only)", op_vault_status, 2, NULL },
		[AUDIT1] = { "vaultd sign.sign, audit on", op_vault_sign, 1, NULL },
		[AUDIT2] = { "vaultd sign.sign, audit on", op_vault_sign, 2, NULL },
		[PIPE1] = { "vaultd sign_many, 16 in flight", op_vault_sign_pipelined, 1, NULL, .batch = BENCH_PIPELINE },
	};
	const struct bench_result *raw1 = &res[RAW1], *hsm1 = &res[HSM1], *hsm2 = &res[HSM2];
	const struct bench_result *vs1 = &res[VAULT1], *vs2 = &res[VAULT2], *st1 = &res[STATUS1];
	const struct bench_result *au1 = &res[AUDIT1], *au2 = &res[AUDIT2], *pipe1 = &res[PIPE1];
	struct test_vault fx_audit;
	struct mcxvault *va[BENCH_THREADS_MAX];
	FILE *config = NULL;
	double seconds = bench_seconds();
	unsigned rounds = bench_rounds();
	char when[32], note[64];
	time_t now = time(NULL);
	int failed = 0, r;

	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %Z", localtime(&now));
	/* the audit-off lines: this vaultd without the log (the fixture's default
	 * is on); the audit-on lines use a second vaultd configured below */
	if (test_vault_setup_audit(&fx, "sign", TEST_VAULT_DOMAINS_AB, NULL, 2, 0, 0) != 0 || test_vault_start(&fx) != 0)
		return 1;
	bench_vaultd = fx.pid;
	for (unsigned i = 0; i < BENCH_THREADS_MAX; i++)
		if ((r = mcxvault_connect(fx.socket, &v[i])) != 0) {
			fprintf(stderr, "bench_sign: connect: %s\n", mcxvault_strerror(r));
			return 1;
		}
	if (mcxvault_domain_init(v[0], BENCH_DOMAIN, NULL, &e) != 0) {
		fprintf(stderr, "bench_sign: domain.init: %s\n", e.message);
		test_vault_dump_log(&fx);
		return 1;
	}

	/* The same token, now with the key vaultd made, from this process. */
	setenv("SOFTHSM2_CONF", fx.softhsm_conf, 1);
	memset(&opt, 0, sizeof(opt));
	opt.module = "softhsm2";
	opt.token_uri = "pkcs11:token=" TEST_VAULT_TOKEN_LABEL;
	opt.pin = TEST_VAULT_PIN;
	opt.sessions = BENCH_THREADS_MAX;
	if (hsm_open(&opt, &bench_hsm) != MCX_OK ||
	    hsm_find_by_label(bench_hsm, HSM_CLASS_PRIVATE_KEY, BENCH_KEY_LABEL, &bench_key) != MCX_OK ||
	    raw_open() != 0) {
		fprintf(stderr, "bench_sign: cannot open the token and its key %s\n", BENCH_KEY_LABEL);
		return 1;
	}
	if (bench_warm_up(v[0]) != 0) {
		fprintf(stderr, "bench_sign: warm-up failed\n");
		return 1;
	}
	/* A second vaultd on the same token with the audit log on (both only
	 * sign, so they share the token safely); its lines run interleaved with
	 * the audit-off lines, so load from elsewhere hits both alike. */
	fx_audit = fx;
	snprintf(fx_audit.socket, sizeof(fx_audit.socket), "%s/audit.sock", fx.dir);
	snprintf(fx_audit.config, sizeof(fx_audit.config), "%s/audit.conf", fx.dir);
	snprintf(fx_audit.log, sizeof(fx_audit.log), "%s/vaultd-audit.log", fx.dir);
	{
		char line[512];
		FILE *in = fopen(fx.config, "r");
		if (in == NULL || (config = fopen(fx_audit.config, "w")) == NULL) {
			fprintf(stderr, "bench_sign: cannot write %s\n", fx_audit.config);
			return 1;
		}
		while (fgets(line, sizeof(line), in) != NULL) {
			/* the same configuration with the other socket */
			char *at = strstr(line, fx.socket);
			if (at != NULL)
				fprintf(config, "%.*s%s%s", (int)(at - line), line, fx_audit.socket, at + strlen(fx.socket));
			else
				fputs(line, config);
		}
		/* the configured defaults (batch 1024, interval 1 s) unless MCX_BENCH_AUDIT_BATCH */
		if (getenv("MCX_BENCH_AUDIT_BATCH") != NULL)
			fprintf(config, "audit = { file = \"%s/audit.jsonl\"; batch = %s; };\n", fx.dir,
			        getenv("MCX_BENCH_AUDIT_BATCH"));
		else
			fprintf(config, "audit = { file = \"%s/audit.jsonl\"; };\n", fx.dir);
		fclose(in);
		fclose(config);
	}
	snprintf(fx_audit.audit, sizeof(fx_audit.audit), "%s/audit.jsonl", fx.dir);
	fx_audit.pid = 0;
	if (test_vault_start(&fx_audit) != 0)
		return 1;
	for (unsigned i = 0; i < BENCH_THREADS_MAX; i++)
		if ((r = mcxvault_connect(fx_audit.socket, &va[i])) != 0) {
			fprintf(stderr, "bench_sign: connect (audit on): %s\n", mcxvault_strerror(r));
			return 1;
		}
	if (bench_warm_up(va[0]) != 0) {
		fprintf(stderr, "bench_sign: warm-up (audit on) failed\n");
		return 1;
	}

	printf("sign.sign benchmark, %s, %ld CPUs, %.1f s per line in %u rounds, vaultd workers = 2\n", when,
	       sysconf(_SC_NPROCESSORS_ONLN), seconds, rounds);
	printf("ECDSA P-256 (CKM_ECDSA) over a 32-octet digest, SoftHSM token key\n\n");
	/* every round runs every line for seconds/rounds: load from elsewhere on
	 * the machine hits direct and vaultd lines alike */
	for (unsigned round = 0; round < rounds; round++)
		for (unsigned i = 0; i < LINES; i++) {
			int audited = i == AUDIT1 || i == AUDIT2;
			bench_vaultd = audited ? fx_audit.pid : fx.pid;
			failed |= bench_run(&res[i], audited ? (void *const *)va
			                                     : res[i].op == op_vault_sign || res[i].op == op_vault_status ||
			                                                       res[i].op == op_vault_sign_pipelined
			                                               ? (void *const *)v : NULL,
			                    seconds / rounds);
		}
	printf("%-32s %7s %9s %8s %8s %9s %9s\n", "measurement", "threads", "ops/s", "p50 us", "p99 us",
	       "cpu/op:", "vaultd");
	printf("%-32s %7s %9s %8s %8s %9s %9s\n", "", "", "", "", "", "here us", "us");
	for (unsigned i = 0; i < LINES; i++)
		bench_finish(&res[i]);

	printf("\nratios (goals: docs/performance.md):\n");
	/* issue 11's goals: 1 client >= 0.75, 2 clients >= 0.90 of direct (the
	 * first wave's were 0.80 and 0.85) */
	ratio_line("vaultd 1 client / direct 1 thread", vs1->ops_per_s, hsm1->ops_per_s, 0.75, NULL);
	snprintf(note, sizeof(note), "  (direct 2/1 threads: %.2fx)",
	         hsm1->ops_per_s > 0 ? hsm2->ops_per_s / hsm1->ops_per_s : 0);
	ratio_line("vaultd 2 clients / vaultd 1 client", vs2->ops_per_s, vs1->ops_per_s, 1.60, note);
	ratio_line("vaultd 2 clients / direct 2 threads", vs2->ops_per_s, hsm2->ops_per_s, 0.90, NULL);
	/* issue 11: one client with many digests, 16 requests in flight */
	ratio_line("vaultd 1 client pipelining 16 / direct 1 thread", pipe1->ops_per_s, hsm1->ops_per_s, 0.92,
	           "  (p50/p99 of that line: per batch of 16)");
	/* medians move far less than throughput when the machine is busy */
	printf("  %-44s %6.2f   (median latency, direct / vaultd; load-robust cross-check)\n",
	       "vaultd 1 client / direct 1 thread, by p50", vs1->p50_us > 0 ? hsm1->p50_us / vs1->p50_us : 0);
	/* issue goal: the audit log costs sign.sign at most 15 % of its throughput */
	ratio_line("audit on / audit off, 1 client", au1->ops_per_s, vs1->ops_per_s, 0.85, NULL);
	ratio_line("audit on / audit off, 2 clients", au2->ops_per_s, vs2->ops_per_s, 0.85, NULL);
	printf("\nbreakdown, 1 thread (us per operation at the median):\n");
	printf("  HSM layer over raw C_Sign       %7.1f\n", hsm1->p50_us - raw1->p50_us);
	printf("  RPC round trip (vault.status)   %7.1f\n", st1->p50_us);
	printf("  sign.sign over hsm_ecdsa_sign   %7.1f\n", vs1->p50_us - hsm1->p50_us);

	for (unsigned i = 0; i < BENCH_THREADS_MAX; i++) {
		mcxvault_close(v[i]);
		mcxvault_close(va[i]);
	}
	if (test_vault_stop(&fx_audit) != 0) {
		fprintf(stderr, "bench_sign: vaultd (audit on) did not exit cleanly\n");
		test_vault_dump_log(&fx_audit);
		failed = 1;
	}
	raw_close();
	hsm_close(bench_hsm);
	if (test_vault_stop(&fx) != 0) {
		fprintf(stderr, "bench_sign: vaultd did not exit cleanly\n");
		test_vault_dump_log(&fx);
		failed = 1;
	}
	test_vault_cleanup(&fx);
	return failed ? 1 : 0;
}
