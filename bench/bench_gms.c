/*
 * bench_gms — gmk.distribute through vaultd (docs/performance.md,
 * "gmk.distribute").
 *
 *   1. baseline, in process, one thread: the same per-member work vaultd
 *      does (TS 33.180 UID, GUK-ID, mcx_mikey_gmk_build: SAKKE encapsulation
 *      + ECCSI signature) with our crypto module, on MCX_BENCH_BASELINE
 *      members (default 500), as members/s;
 *   2. vaultd (workers = 2, a fresh SoftHSM token, tests/gms/gms_fixture.c):
 *      gmk.rekey + one gmk.distribute to MCX_BENCH_MEMBERS (default 10,000)
 *      members, wall time from the request to the last octet of the answer;
 *   3. late entry: while a second batch of the same size runs, a second
 *      client sends one-member gmk.distribute requests one after the other,
 *      MCX_BENCH_LATE_PAUSE_MS (default 20) apart, and records each latency;
 *      p50/p99/max, and the same with no batch running.
 *
 *   4. the same n members spread over MCX_BENCH_KMS (default 8) KMSs: the
 *      home one and 7 more domains of the same vaultd whose certificates
 *      a.example imports as external; member i belongs to KMS i mod 8.  Its
 *      time over the one-KMS batch's (issue 11: <= 1.1);
 *   5. vaultd's resident memory (VmRSS) idle after the warm-up, right after
 *      the batches, and 2 s later (issue 11: back within 8 MB of idle).
 *
 * Goals (issue 4): rekey + 10,000-member distribute < 10 s on 2 cores,
 * late-entry p99 < 20 ms.  Printed as ok / MISS; a miss is not a failure.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mcx/eccsi.h"
#include "mcx/mikey.h"
#include "mcx/sakke.h"
#include "mcx/uid.h"
#include "mcx/util.h"
#include "mcxvault.h"
#include "tests/crypto/wolf_glue.h"
#include "tests/lib/vault_fixture.h"

#define GROUP "sip:bench-group@a.example"
#define KMS_MAX 16
#define SENDER "sip:gms@a.example"
#define LATE_MAX 4096

static size_t env_size(const char *name, size_t def)
{
	const char *v = getenv(name);
	long n = v != NULL ? strtol(v, NULL, 10) : 0;

	return n > 0 ? (size_t)n : def;
}

static double seconds(uint64_t ns)
{
	return (double)ns / 1e9;
}

/* --- 1. in process ----------------------------------------------------------- */

static int baseline(size_t n, double *members_per_s)
{
	struct mcx_sakke_params *sakke = NULL;
	struct mcx_eccsi_params *eccsi = NULL;
	uint8_t z[MCX_SAKKE_SCALAR_LEN], Z[MCX_SAKKE_POINT_LEN], ksak[MCX_ECCSI_SCALAR_LEN], kpak[MCX_ECCSI_POINT_LEN];
	uint8_t suid[MCX_UID_LEN], ssk[MCX_ECCSI_SCALAR_LEN], pvt[MCX_ECCSI_POINT_LEN], uid[MCX_UID_LEN], gmk[16];
	struct mcx_buf *msg = mcx_buf_new(MCX_MIKEY_MSG_MAX);
	struct mcx_mikey_gmk_input in;
	char uri[64];
	uint64_t t0;
	int r = -1;

	if (msg == NULL || mcx_sakke_params_new(&sakke) != 0 || mcx_eccsi_params_new(&eccsi) != 0 ||
	    mcx_sakke_master_generate(sakke, NULL, NULL, z, Z) != 0 ||
	    mcx_eccsi_kms_generate(eccsi, NULL, NULL, ksak, kpak) != 0 ||
	    mcx_uid_compute(SENDER, strlen(SENDER), "kms.a.example", 13, 2592000, 0, 1544, suid) != 0 ||
	    mcx_eccsi_issue(eccsi, ksak, kpak, suid, sizeof(suid), NULL, NULL, ssk, pvt) != 0)
		goto out;
	memset(gmk, 0x5a, sizeof(gmk));
	t0 = mcx_monotonic_ns();
	for (size_t i = 0; i < n; i++) {
		memset(&in, 0, sizeof(in));
		snprintf(uri, sizeof(uri), "sip:member-%05zu@a.example", i);
		in.gmk_id = 0x01234567;
		in.gmk = gmk;
		in.sender_uri = SENDER;
		in.sender_kms_uri = "kms.a.example";
		in.member_uri = uri;
		in.member_kms_uri = "kms.a.example";
		in.member_uid = uid;
		in.member_kms_z = Z;
		in.sender_uid = suid;
		in.sender_kpak = kpak;
		in.sender_ssk = ssk;
		in.sender_pvt = pvt;
		in.ntp_time = (uint64_t)(mcx_time_now() + MCX_UID_NTP_UNIX_OFFSET) << 32;
		mcx_buf_reset(msg);
		if (mcx_uid_compute(uri, strlen(uri), "kms.a.example", 13, 2592000, 0, 1544, uid) != 0 ||
		    mcx_mikey_guk_id(gmk, in.gmk_id, uri, &in.guk_id) != 0 ||
		    mcx_mikey_gmk_build(sakke, eccsi, &in, NULL, NULL, msg) != 0)
			goto out;
		free(mcx_base64url_string(mcx_buf_ptr(msg), mcx_buf_len(msg)));
	}
	*members_per_s = (double)n / seconds(mcx_monotonic_ns() - t0);
	r = 0;
out:
	mcx_wipe(z, sizeof(z));
	mcx_wipe(ksak, sizeof(ksak));
	mcx_wipe(ssk, sizeof(ssk));
	mcx_buf_free(msg);
	mcx_sakke_params_free(sakke);
	mcx_eccsi_params_free(eccsi);
	return r;
}

/*
 * The issue's baseline: the same per-member work done with wolfCrypt in
 * process on one thread.  wolfCrypt has no MIKEY, so the I_MESSAGE's crypto
 * core is measured — the member UID (TS 33.180 F.2.1), SAKKE encapsulation of
 * the GMK to it (RFC 6508 6.2.1) and the ECCSI signature over a message of
 * the size of a GMK I_MESSAGE (RFC 6507 5.2.1); assembling the payloads
 * around them costs next to nothing.
 */
#define WOLF_MESSAGE_LEN 572   /* signed octets of a TS 33.180 GMK I_MESSAGE */

static int baseline_wolf(size_t n, double *members_per_s)
{
	struct mcx_sakke_params *sakke = NULL;
	struct mcx_eccsi_params *eccsi = NULL;
	uint8_t z[MCX_SAKKE_SCALAR_LEN], Z[MCX_SAKKE_POINT_LEN], ksak[MCX_ECCSI_SCALAR_LEN], kpak[MCX_ECCSI_POINT_LEN];
	uint8_t suid[MCX_UID_LEN], ssk[MCX_ECCSI_SCALAR_LEN], pvt[MCX_ECCSI_POINT_LEN], uid[MCX_UID_LEN], gmk[16];
	uint8_t message[WOLF_MESSAGE_LEN], sed[MCX_SAKKE_ENCAP_LEN], sig[MCX_ECCSI_SIG_LEN];
	SakkeKey client;
	EccsiKey signer;
	WC_RNG rng;
	int inited = 0, r = -1;
	char uri[64];
	uint64_t t0;

	if (wolfCrypt_Init() != 0 || wc_InitRng(&rng) != 0)
		return -1;
	if (mcx_sakke_params_new(&sakke) != 0 || mcx_eccsi_params_new(&eccsi) != 0 ||
	    mcx_sakke_master_generate(sakke, NULL, NULL, z, Z) != 0 ||
	    mcx_eccsi_kms_generate(eccsi, NULL, NULL, ksak, kpak) != 0 ||
	    mcx_uid_compute(SENDER, strlen(SENDER), "kms.a.example", 13, 2592000, 0, 1544, suid) != 0 ||
	    mcx_eccsi_issue(eccsi, ksak, kpak, suid, sizeof(suid), NULL, NULL, ssk, pvt) != 0)
		goto out;
	if (wolf_sakke_client_init(&client, Z) != 0)
		goto out;
	inited |= 1;
	if (wolf_eccsi_client_init(&signer, kpak) != 0)
		goto out;
	inited |= 2;
	if (wolf_eccsi_set_signer(&signer, suid, sizeof(suid), ssk, pvt) != 0)
		goto out;
	memset(gmk, 0x5a, sizeof(gmk));
	memset(message, 0x01, sizeof(message));
	t0 = mcx_monotonic_ns();
	for (size_t i = 0; i < n; i++) {
		snprintf(uri, sizeof(uri), "sip:member-%05zu@a.example", i);
		if (mcx_uid_compute(uri, strlen(uri), "kms.a.example", 13, 2592000, 0, 1544, uid) != 0 ||
		    wolf_sakke_encap(&client, uid, sizeof(uid), gmk, sed) != 0)
			goto out;
		memcpy(message + 222, sed, sizeof(sed));   /* where the SED sits in the message */
		if (wolf_eccsi_sign(&signer, &rng, message, sizeof(message), sig) != 0)
			goto out;
	}
	*members_per_s = (double)n / seconds(mcx_monotonic_ns() - t0);
	r = 0;
out:
	if (inited & 1)
		wc_FreeSakkeKey(&client);
	if (inited & 2)
		wc_FreeEccsiKey(&signer);
	wc_FreeRng(&rng);
	mcx_wipe(z, sizeof(z));
	mcx_wipe(ksak, sizeof(ksak));
	mcx_wipe(ssk, sizeof(ssk));
	mcx_sakke_params_free(sakke);
	mcx_eccsi_params_free(eccsi);
	return r;
}

/* --- 2./3. through vaultd ------------------------------------------------------ */

static struct test_vault vault, xvault;

static size_t kms_n = 1;   /* members(): spread over this many KMSs */

static json_t *members(size_t n, const char *prefix)
{
	json_t *a = json_array();
	char uri[64], kms[64];

	for (size_t i = 0; i < n; i++) {
		size_t k = i % kms_n;
		snprintf(uri, sizeof(uri), "sip:%s-%05zu@a.example", prefix, i);
		snprintf(kms, sizeof(kms), "kms.k%zu.example", k);
		json_array_append_new(a, k == 0 ? json_pack("{s:s}", "uri", uri)
		                                : json_pack("{s:s, s:s}", "uri", uri, "kms_uri", kms));
	}
	return a;
}

/* vaultd's resident set in kB (VmRSS), 0 when unknown */
static long vaultd_rss_kb(void)
{
	char path[64], line[256];
	long kb = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)vault.pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static int call(struct mcxvault *v, const char *method, json_t *params, json_t **result)
{
	struct mcxvault_error err;
	int r = mcxvault_call(v, method, params, result, &err);

	if (r != 0)
		fprintf(stderr, "bench_gms: %s: %s (%d)\n", method, err.message, err.rpc_code);
	json_decref(params);
	return r;
}

/*
 * server.request_timeout = 600 in the test vault's configuration: with the
 * default (30 s) vaultd closed the connection of a 10,000-member batch that
 * ran longer than that ("closed 1 connections whose request line did not end
 * within server.request_timeout"; seen with the 8-KMS batches before issue 11
 * and a loaded machine), although the line had long been read: the line
 * clock (vault/daemon/server.c, connection_account) seems to run on while
 * the request is processed.  Reported, not changed here.
 */
static int long_requests(const struct test_vault *t)
{
	static const char key[] = "max_request_bytes = 8388608;";
	char text[16384], *at;
	size_t n;
	FILE *f = fopen(t->config, "r");

	if (f == NULL)
		return -1;
	n = fread(text, 1, sizeof(text) - 64, f);
	fclose(f);
	text[n] = '\0';
	if ((at = strstr(text, key)) == NULL)
		return -1;
	at += sizeof(key) - 1;
	memmove(at + 23, at, strlen(at) + 1);
	memcpy(at, " request_timeout = 600;", 23);
	if ((f = fopen(t->config, "w")) == NULL)
		return -1;
	n = fwrite(text, 1, strlen(text), f);
	return fclose(f) == 0 && n == strlen(text) ? 0 : -1;
}

/* Domain kK.example (1 <= K < kms_count) of the second vault x: initialised,
 * and its certificate imported into a.example of v as a trusted external KMS
 * (a vault refuses to import its own home domains). */
static int external_kms(struct mcxvault *x, struct mcxvault *v, size_t k)
{
	json_t *cert = NULL, *key = NULL, *token = NULL;
	char domain[32];
	int r = -1;

	snprintf(domain, sizeof(domain), "k%zu.example", k);
	if (call(x, "domain.init", json_pack("{s:s}", "domain", domain), NULL) == 0 &&
	    call(x, "kms.certificate", json_pack("{s:s}", "domain", domain), &cert) == 0 &&
	    call(x, "sign.public_key", json_pack("{s:s, s:s}", "domain", domain, "purpose", "cert"), &key) == 0 &&
	    call(x, "sign.public_key", json_pack("{s:s, s:s}", "domain", domain, "purpose", "token"), &token) == 0)
		r = call(v, "external.import",
		         json_pack("{s:s, s:O, s:O, s:O}", "domain", "a.example", "certificate", json_object_get(cert, "xml"),
		                   "signing_key", json_object_get(key, "pem"), "token_key", json_object_get(token, "pem")),
		         NULL);
	json_decref(cert);
	json_decref(key);
	json_decref(token);
	return r;
}

/* One batch: distribute to n members; *ok the count distributed. */
static int batch(struct mcxvault *v, size_t n, const char *prefix, double *secs, size_t *ok);

/*
 * The same on a connection of its own (the comparison batches: on a loaded
 * machine a batch nears vaultd's 30 s request_timeout, and one old vaultd
 * closed the long-used connection after such a batch).
 */
static int batch_fresh(size_t n, const char *prefix, double *secs, size_t *ok)
{
	struct mcxvault *c = NULL;
	int r = -1;

	if (mcxvault_connect(vault.socket, &c) == 0 && mcxvault_set_timeout(c, 600000) == 0)
		r = batch(c, n, prefix, secs, ok);
	mcxvault_close(c);
	return r;
}

static int batch(struct mcxvault *v, size_t n, const char *prefix, double *secs, size_t *ok)
{
	json_t *res = NULL;
	uint64_t t0 = mcx_monotonic_ns();
	int r = call(v, "gmk.distribute",
	             json_pack("{s:s, s:s, s:s, s:o}", "domain", "a.example", "group", GROUP, "sender_uri", SENDER,
	                       "members", members(n, prefix)),
	             &res);

	*secs = seconds(mcx_monotonic_ns() - t0);
	*ok = r == 0 ? (size_t)json_integer_value(json_object_get(res, "distributed")) : 0;
	json_decref(res);
	return r;
}

struct batch_thread {
	struct mcxvault *v;
	size_t n;
	double secs;
	size_t ok;
	volatile int finished;
	int r;
};

static void *batch_main(void *arg)
{
	struct batch_thread *b = arg;

	b->r = batch(b->v, b->n, "late-batch", &b->secs, &b->ok);
	__atomic_store_n(&b->finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* One-member requests until stop says so (or count reached); latencies in ms. */
static size_t late_entries(struct mcxvault *v, volatile int *stop, size_t max, double *ms)
{
	size_t pause_ms = env_size("MCX_BENCH_LATE_PAUSE_MS", 20);
	struct timespec pause = { (time_t)(pause_ms / 1000), (long)(pause_ms % 1000) * 1000000L };
	size_t n = 0;
	json_t *one = members(1, "late");

	while (n < max && (stop == NULL || !__atomic_load_n(stop, __ATOMIC_ACQUIRE))) {
		json_t *res = NULL;
		uint64_t t0 = mcx_monotonic_ns();
		if (call(v, "gmk.distribute",
		         json_pack("{s:s, s:s, s:s, s:O}", "domain", "a.example", "group", GROUP, "sender_uri", SENDER,
		                   "members", one),
		         &res) != 0)
			break;
		ms[n++] = (double)(mcx_monotonic_ns() - t0) / 1e6;
		json_decref(res);
		nanosleep(&pause, NULL);
	}
	json_decref(one);
	return n;
}

static void percentiles(double *ms, size_t n, double *p50, double *p99, double *max)
{
	qsort(ms, n, sizeof(*ms), cmp_double);
	*p50 = n ? ms[n / 2] : 0;
	*p99 = n ? ms[(n * 99 + 99) / 100 - 1 < n ? (n * 99 + 99) / 100 - 1 : n - 1] : 0;
	*max = n ? ms[n - 1] : 0;
}

int main(void)
{
	size_t n = env_size("MCX_BENCH_MEMBERS", 10000), base_n = env_size("MCX_BENCH_BASELINE", 500), ok = 0;
	double wolf = 0;
	struct mcxvault *v = NULL, *late = NULL, *x = NULL;
	double base = 0, secs = 0, rekey_secs = 0, p50, p99, max, idle50, idle99, idlemax;
	double *ms = calloc(LATE_MAX, sizeof(double));
	struct batch_thread bt;
	pthread_t thread;
	size_t count, kms_count = env_size("MCX_BENCH_KMS", 8);
	char domains[2048];
	long rss_idle = 0, rss_after = 0;
	uint64_t t0;
	int status = 1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (ms == NULL || baseline(base_n, &base) != 0) {
		fprintf(stderr, "bench_gms: in-process baseline failed\n");
		goto out;
	}
	printf("in process, 1 thread, our crypto (UID + GUK-ID + I_MESSAGE), %zu members: %.0f members/s\n", base_n,
	       base);
	if (baseline_wolf(base_n, &wolf) != 0) {
		fprintf(stderr, "bench_gms: wolfCrypt baseline failed\n");
		goto out;
	}
	printf("in process, 1 thread, wolfCrypt (UID + SAKKE encapsulate + ECCSI sign of %d octets), %zu members: "
	       "%.0f members/s\n", WOLF_MESSAGE_LEN, base_n, wolf);

	/* audit off: the figures of docs/performance.md are vaultd's own work */
	if (kms_count > KMS_MAX)
		kms_count = KMS_MAX;
	/* a.example is KMS 0 (kms.a.example), k1..k7.example of a second vaultd
	 * (idle during the measurements) the external ones */
	domains[0] = '\0';
	for (size_t k = 1; k < kms_count; k++)
		snprintf(domains + strlen(domains), sizeof(domains) - strlen(domains),
		         "%s{ name = \"k%zu.example\"; kms_uri = \"kms.k%zu.example\"; }", k > 1 ? ",\n  " : "", k, k);
	if (kms_count > 1 && (test_vault_setup_audit(&xvault, "benx", domains, NULL, 1, 0, 0) != 0 ||
	                      test_vault_start(&xvault) != 0 || mcxvault_connect(xvault.socket, &x) != 0))
		goto out;
	if (test_vault_setup_audit(&vault, "bench", "{ name = \"a.example\"; kms_uri = \"kms.a.example\"; }", NULL, 2, 1,
	                           0) != 0 || long_requests(&vault) != 0 ||
	    test_vault_start(&vault) != 0 || mcxvault_connect(vault.socket, &v) != 0 ||
	    mcxvault_connect(vault.socket, &late) != 0 || mcxvault_set_timeout(v, 600000) != 0)
		goto out;
	if (call(v, "domain.init", json_pack("{s:s}", "domain", "a.example"), NULL) != 0 ||
	    call(v, "gmk.create", json_pack("{s:s, s:s}", "domain", "a.example", "group", GROUP), NULL) != 0)
		goto out;
	for (size_t k = 1; k < kms_count; k++)
		if (external_kms(x, v, k) != 0)
			goto out;
	/* warm-up: sender keys derived and cached, pages touched */
	if (batch(v, 64, "warm", &secs, &ok) != 0)
		goto out;
	rss_idle = vaultd_rss_kb();

	t0 = mcx_monotonic_ns();
	if (call(v, "gmk.rekey", json_pack("{s:s, s:s}", "domain", "a.example", "group", GROUP), NULL) != 0)
		goto out;
	rekey_secs = seconds(mcx_monotonic_ns() - t0);
	if (batch(v, n, "member", &secs, &ok) != 0 || ok != n)
		goto out;
	printf("vaultd (workers=2): gmk.rekey %.3f s + gmk.distribute to %zu members %.2f s = %.2f s: %.0f members/s "
	       "(%.2f x our crypto, %.2f x wolfCrypt, in process on one thread)\n",
	       rekey_secs, n, secs, rekey_secs + secs, (double)n / secs, (double)n / secs / base,
	       (double)n / secs / wolf);
	printf("  goal rekey + %zu-member distribute < 10 s: %s\n", n, rekey_secs + secs < 10.0 ? "ok" : "MISS");

	if (kms_count > 1) {
		double one, spread;
		/* interleaved, twice each: load from elsewhere hits both alike */
		kms_n = 1;
		if (batch_fresh(n, "member", &one, &ok) != 0 || ok != n)
			goto out;
		kms_n = kms_count;
		if (batch_fresh(n, "member", &spread, &ok) != 0 || ok != n)
			goto out;
		kms_n = 1;
		if (batch_fresh(n, "member", &secs, &ok) != 0 || ok != n)
			goto out;
		one += secs;
		kms_n = kms_count;
		if (batch_fresh(n, "member", &secs, &ok) != 0 || ok != n)
			goto out;
		spread += secs;
		kms_n = 1;
		printf("gmk.distribute to %zu members over %zu KMSs: %.2f s, all in one KMS: %.2f s (2 runs each, "
		       "interleaved): ratio %.2f\n", n, kms_count, spread / 2, one / 2, spread / one);
		printf("  goal %zu KMSs / one KMS <= 1.10: %s\n", kms_count, spread / one <= 1.10 ? "ok" : "MISS");
	}
	rss_after = vaultd_rss_kb();
	{
		struct timespec two = { 2, 0 };
		nanosleep(&two, NULL);
	}
	printf("vaultd VmRSS: idle %.1f MB, after the %zu-member batches %.1f MB, 2 s later %.1f MB\n",
	       rss_idle / 1024.0, n, rss_after / 1024.0, vaultd_rss_kb() / 1024.0);
	printf("  goal back within 8 MB of idle: %s\n", vaultd_rss_kb() - rss_idle <= 8 * 1024 ? "ok" : "MISS");
	/* what the first batch's connection still holds (its buffers keep their high-water mark) */
	mcxvault_close(v);
	v = NULL;
	{
		struct timespec two = { 2, 0 };
		nanosleep(&two, NULL);
	}
	printf("vaultd VmRSS with the first batch's connection closed: %.1f MB\n", vaultd_rss_kb() / 1024.0);
	if (mcxvault_connect(vault.socket, &v) != 0 || mcxvault_set_timeout(v, 600000) != 0)
		goto out;

	count = late_entries(late, NULL, 200, ms);
	percentiles(ms, count, &idle50, &idle99, &idlemax);
	printf("late entry, no batch running (%zu requests): p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", count, idle50,
	       idle99, idlemax);

	memset(&bt, 0, sizeof(bt));
	bt.v = v;
	bt.n = n;
	if (pthread_create(&thread, NULL, batch_main, &bt) != 0)
		goto out;
	{
		struct timespec settle = { 0, 200 * 1000 * 1000 };   /* let the batch reach the pool */
		nanosleep(&settle, NULL);
	}
	count = late_entries(late, &bt.finished, LATE_MAX, ms);
	pthread_join(thread, NULL);
	percentiles(ms, count, &p50, &p99, &max);
	printf("late entry while a %zu-member batch runs (%zu requests, batch %.2f s): p50 %.2f ms, p99 %.2f ms, "
	       "max %.2f ms\n",
	       n, count, bt.secs, p50, p99, max);
	printf("  goal late-entry p99 < 20 ms: %s\n", p99 < 20.0 ? "ok" : "MISS");
	status = bt.r == 0 && bt.ok == n ? 0 : 1;
out:
	if (status != 0)
		test_vault_dump_log(&vault);
	mcxvault_close(v);
	mcxvault_close(late);
	mcxvault_close(x);
	test_vault_cleanup_all();
	free(ms);
	return status;
}
