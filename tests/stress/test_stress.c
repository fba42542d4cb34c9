/*
 * test_stress — many signers against a real vaultd while the key rotates.
 *
 * STRESS_SIGNERS client threads, each on its own connection, call sign.sign
 * in strict request/response for MCX_STRESS_SECONDS seconds (default 10, 4 in
 * a sanitizer build) while one admin client rotates the domain's signing key
 * and retires the version it just demoted, over and over.  Checked:
 *
 *   - every sign.sign succeeds: not a single error;
 *   - every signature verifies, locally with OpenSSL against the public key
 *     fetched by its kid (sign.public_key), and every STRESS_VERIFY_EVERY-th
 *     one also through sign.verify with that kid;
 *   - kids only move forward: on each connection the version never goes
 *     down, and a request sent after key.rotate answered is never signed by
 *     an older version than the one that rotation made active;
 *   - every key.rotate and key.retire succeeds, and at the end key.list shows
 *     signing versions 1..n with exactly one active (n) and every other one
 *     retired;
 *   - vault.status counts no failed request, and vaultd exits cleanly.
 *
 * Production shape: the audit log is on, and vaultd is killed (SIGKILL) at a
 * third of the run and stopped (SIGTERM) at two thirds, each time started
 * again over the same token and log while the signers keep going.  The
 * rotator pauses for a restart (crashes inside a rotation are
 * tests/integration/test_crash.sh's); a signer's request that fails while a
 * restart is under way is counted as an outage, not an error, and every
 * signer must sign again afterwards (its connection comes back by itself).
 * Any error outside the restart windows fails the test, and at the end
 * `vaultctl audit verify` must find the log intact.
 *
 * The token and vaultd are the fixture's (fixture.h): removed at exit, on
 * SIGINT/SIGTERM, and vaultd dies with this process even if it crashes.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "mcxvault.h"
#include "tests/lib/vault_fixture.h"
#include "tests/test.h"

#define STRESS_DOMAIN "a.example"
#define STRESS_SIGNERS 8
#define STRESS_VERIFY_EVERY 16
#define STRESS_VERSIONS_MAX 100000u

#if defined(__SANITIZE_ADDRESS__)
#define STRESS_DEFAULT_SECONDS 4
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STRESS_DEFAULT_SECONDS 4
#endif
#endif
#ifndef STRESS_DEFAULT_SECONDS
#define STRESS_DEFAULT_SECONDS 10
#endif

static struct test_vault fx;
/* The end of the run; moved later when a restart ends less than a second
 * before it, so that every signer gets to sign after both restarts. */
static atomic_uint_fast64_t deadline_ns;
static atomic_int stop;

/* Odd while vaultd is being restarted; a request whose iteration saw it odd
 * or saw it change was (possibly) cut by the restart. */
static atomic_uint restart_gen;
/* The rotator stops between a retirement and the next rotation for a restart. */
static atomic_int rotator_pause, rotator_paused, rotator_done;

/* The highest version a finished key.rotate made active. */
static atomic_uint_fast32_t committed_version = 1;

/* Public keys by version, fetched on first use; never freed while running. */
static pthread_mutex_t keys_lock = PTHREAD_MUTEX_INITIALIZER;
static EVP_PKEY **pkeys;
static size_t pkeys_alloc;

struct signer {
	unsigned index;
	pthread_t tid;
	struct mcxvault *v;
	uint64_t signatures, verified_rpc, after_restarts;
	uint64_t sign_errors, bad_signatures, backwards, bad_kids, verify_errors, outage_errors;
	uint32_t highest;
	char first_error[512];
};

struct rotator {
	pthread_t tid;
	struct mcxvault *v;
	uint64_t rotations, retirements, errors;
	uint32_t last_version;
	char first_error[512];
};

#define RESTARTS 2   /* SIGKILL, then SIGTERM */

/* 1 when a restart window overlapped the iteration that began at gen. */
static int in_restart(unsigned gen)
{
	return (gen & 1u) != 0 || atomic_load(&restart_gen) != gen;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Until both restarts are done and the deadline has passed. */
static int running(void)
{
	return !atomic_load(&stop) &&
	       (atomic_load(&restart_gen) < RESTARTS * 2 || now_ns() < (uint64_t)atomic_load(&deadline_ns));
}

static unsigned stress_seconds(void)
{
	const char *s = getenv("MCX_STRESS_SECONDS");
	char *end;
	unsigned long v;

	if (s == NULL || *s == '\0')
		return STRESS_DEFAULT_SECONDS;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > 3600) {
		fprintf(stderr, "test_stress: MCX_STRESS_SECONDS must be 1..3600\n");
		exit(2);
	}
	return (unsigned)v;
}

static uint64_t start_ns;

static void note_error(char *first, size_t size, const char *what, const struct mcxvault_error *e, int r)
{
	if (first[0] == '\0')
		snprintf(first, size, "%s: %s (%s) at %.2f s, %u restart(s) done", what,
		         e != NULL && e->message[0] ? e->message : mcxvault_strerror(r),
		         e != NULL && e->name[0] ? e->name : mcxvault_error_name(r), (double)(now_ns() - start_ns) / 1e9,
		         atomic_load(&restart_gen) / 2);
}

/* "a.example/sign/N" -> N, or 0. */
static uint32_t kid_version(const char *kid)
{
	static const char prefix[] = STRESS_DOMAIN "/sign/";
	char *end;
	unsigned long v;

	if (kid == NULL || strncmp(kid, prefix, sizeof(prefix) - 1) != 0)
		return 0;
	errno = 0;
	v = strtoul(kid + sizeof(prefix) - 1, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0 || v >= STRESS_VERSIONS_MAX)
		return 0;
	return (uint32_t)v;
}

/* The public key of version (cached); NULL when it cannot be had. */
static EVP_PKEY *public_key(struct mcxvault *v, uint32_t version, char *first, size_t size, unsigned gen)
{
	struct mcxvault_error e;
	EVP_PKEY *pkey = NULL;
	char *pem = NULL, *kid = NULL, want[64];
	BIO *bio = NULL;
	int r;

	pthread_mutex_lock(&keys_lock);
	if (version < pkeys_alloc && pkeys[version] != NULL) {
		pkey = pkeys[version];
		pthread_mutex_unlock(&keys_lock);
		return pkey;
	}
	pthread_mutex_unlock(&keys_lock);

	if ((r = mcxvault_public_key(v, STRESS_DOMAIN, version, &pem, &kid, NULL, &e)) != 0) {
		if (!in_restart(gen))
			note_error(first, size, "sign.public_key", &e, r);
		return NULL;
	}
	snprintf(want, sizeof(want), STRESS_DOMAIN "/sign/%" PRIu32, version);
	if (strcmp(kid, want) == 0 && (bio = BIO_new_mem_buf(pem, -1)) != NULL)
		pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	mcxvault_free(pem);
	mcxvault_free(kid);
	if (pkey == NULL) {
		if (first[0] == '\0')
			snprintf(first, size, "sign.public_key %" PRIu32 ": wrong kid or unreadable PEM", version);
		return NULL;
	}
	pthread_mutex_lock(&keys_lock);
	if (version >= pkeys_alloc) {
		size_t n = pkeys_alloc == 0 ? 256 : pkeys_alloc;
		EVP_PKEY **grown;
		while (n <= version)
			n *= 2;
		if ((grown = realloc(pkeys, n * sizeof(*grown))) == NULL) {
			pthread_mutex_unlock(&keys_lock);
			EVP_PKEY_free(pkey);
			return NULL;
		}
		memset(grown + pkeys_alloc, 0, (n - pkeys_alloc) * sizeof(*grown));
		pkeys = grown;
		pkeys_alloc = n;
	}
	if (pkeys[version] == NULL) {
		pkeys[version] = pkey;
	} else {
		EVP_PKEY_free(pkey);   /* another thread was first */
		pkey = pkeys[version];
	}
	pthread_mutex_unlock(&keys_lock);
	return pkey;
}

/* 1 when r || s is a valid ECDSA signature of digest under pkey. */
static int verify_local(EVP_PKEY *pkey, const uint8_t digest[32], const uint8_t sig[64])
{
	ECDSA_SIG *s = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 32, NULL), *ss = BN_bin2bn(sig + 32, 32, NULL);
	EVP_PKEY_CTX *ctx = NULL;
	unsigned char *der = NULL;
	int der_len, ok = 0;

	if (s == NULL || r == NULL || ss == NULL || ECDSA_SIG_set0(s, r, ss) != 1)
		goto out;
	r = ss = NULL;   /* owned by s now */
	if ((der_len = i2d_ECDSA_SIG(s, &der)) <= 0)
		goto out;
	if ((ctx = EVP_PKEY_CTX_new(pkey, NULL)) == NULL || EVP_PKEY_verify_init(ctx) != 1)
		goto out;
	ok = EVP_PKEY_verify(ctx, der, (size_t)der_len, digest, 32) == 1;
out:
	EVP_PKEY_CTX_free(ctx);
	OPENSSL_free(der);
	BN_free(r);
	BN_free(ss);
	ECDSA_SIG_free(s);
	return ok;
}

static void *signer_main(void *arg)
{
	struct signer *s = arg;
	struct mcxvault_error e;
	uint8_t digest[32], sig[MCXVAULT_SIGNATURE_LEN];
	char seed[64];
	uint64_t i;
	int r;

	for (i = 0; running(); i++) {
		uint32_t floor = (uint32_t)atomic_load(&committed_version), version;
		unsigned gen = atomic_load(&restart_gen);
		char *kid = NULL, *vkid = NULL;
		EVP_PKEY *pkey;
		int valid = 0;

		snprintf(seed, sizeof(seed), "stress %u %" PRIu64, s->index, i);
		SHA256((const unsigned char *)seed, strlen(seed), digest);
		if ((r = mcxvault_sign(s->v, STRESS_DOMAIN, digest, sizeof(digest), 1, &kid, sig, &e)) != 0) {
			if (in_restart(gen)) {
				s->outage_errors++;
				struct timespec nap = { 0, 5 * 1000 * 1000 };   /* vaultd is down: do not spin */
				nanosleep(&nap, NULL);
			} else {
				s->sign_errors++;
				note_error(s->first_error, sizeof(s->first_error), "sign.sign", &e, r);
			}
			continue;
		}
		s->signatures++;
		if (gen == RESTARTS * 2)
			s->after_restarts++;
		if ((version = kid_version(kid)) == 0) {
			s->bad_kids++;
			if (s->first_error[0] == '\0')
				snprintf(s->first_error, sizeof(s->first_error), "sign.sign: unexpected kid '%s'", kid);
			mcxvault_free(kid);
			continue;
		}
		if (version < floor || version < s->highest) {
			s->backwards++;
			if (s->first_error[0] == '\0')
				snprintf(s->first_error, sizeof(s->first_error),
				         "kid went back: %s after version %" PRIu32 " was active (this connection saw %" PRIu32 ")",
				         kid, floor, s->highest);
		}
		if (version > s->highest)
			s->highest = version;
		if ((pkey = public_key(s->v, version, s->first_error, sizeof(s->first_error), gen)) == NULL) {
			if (in_restart(gen))
				s->outage_errors++;
			else
				s->verify_errors++;
		} else if (!verify_local(pkey, digest, sig)) {
			s->bad_signatures++;
			if (s->first_error[0] == '\0')
				snprintf(s->first_error, sizeof(s->first_error), "signature by %s does not verify", kid);
		}
		if (i % STRESS_VERIFY_EVERY == 0) {
			r = mcxvault_verify(s->v, STRESS_DOMAIN, kid, digest, sizeof(digest), 1, sig, &valid, &vkid, &e);
			if (r != 0 && in_restart(gen)) {
				s->outage_errors++;
			} else if (r != 0) {
				s->verify_errors++;
				note_error(s->first_error, sizeof(s->first_error), "sign.verify", &e, r);
			} else if (!valid || vkid == NULL || strcmp(vkid, kid) != 0) {
				s->bad_signatures++;
				if (s->first_error[0] == '\0')
					snprintf(s->first_error, sizeof(s->first_error),
					         "sign.verify with kid %s: valid %d, kid %s", kid, valid,
					         vkid != NULL ? vkid : "(none)");
			} else {
				s->verified_rpc++;
			}
			mcxvault_free(vkid);
		}
		mcxvault_free(kid);
	}
	return NULL;
}

static void *rotator_main(void *arg)
{
	struct rotator *rot = arg;
	struct mcxvault_error e;
	int64_t version;
	int r;

	while (running()) {
		if (atomic_load(&rotator_pause)) {
			struct timespec nap = { 0, 2 * 1000 * 1000 };
			atomic_store(&rotator_paused, 1);
			while (atomic_load(&rotator_pause) && !atomic_load(&stop))
				nanosleep(&nap, NULL);
			atomic_store(&rotator_paused, 0);
			continue;
		}
		if ((r = mcxvault_key_rotate(rot->v, STRESS_DOMAIN, "sign", &version, NULL, &e)) != 0) {
			rot->errors++;
			note_error(rot->first_error, sizeof(rot->first_error), "key.rotate", &e, r);
			break;
		}
		rot->rotations++;
		if (version != (int64_t)rot->last_version + 1) {
			rot->errors++;
			if (rot->first_error[0] == '\0')
				snprintf(rot->first_error, sizeof(rot->first_error),
				         "key.rotate made version %" PRId64 " after %" PRIu32, version, rot->last_version);
			break;
		}
		rot->last_version = (uint32_t)version;
		atomic_store(&committed_version, (uint_fast32_t)version);
		if ((r = mcxvault_key_retire(rot->v, STRESS_DOMAIN, "sign", version - 1, NULL, &e)) != 0) {
			rot->errors++;
			note_error(rot->first_error, sizeof(rot->first_error), "key.retire", &e, r);
			break;
		}
		rot->retirements++;
	}
	atomic_store(&rotator_done, 1);
	return NULL;
}

/*
 * In the main thread (vaultd's PR_SET_PDEATHSIG follows the thread that
 * started it): pauses the rotator, restarts vaultd with sig while the signers
 * run, lets the rotator go on.  0 when the new vaultd answers.
 */
static int restart_under_load(int sig, double *seconds_out)
{
	struct timespec nap = { 0, 1000 * 1000 };
	uint64_t t0;
	int r;

	atomic_store(&rotator_pause, 1);
	while (!atomic_load(&rotator_paused) && !atomic_load(&rotator_done))
		nanosleep(&nap, NULL);
	t0 = now_ns();
	atomic_fetch_add(&restart_gen, 1);   /* odd: the window opens */
	r = test_vault_restart(&fx, sig);
	if (now_ns() + 1000000000u > (uint64_t)atomic_load(&deadline_ns))
		atomic_store(&deadline_ns, now_ns() + 1000000000u);   /* a second of signing after it */
	atomic_fetch_add(&restart_gen, 1);   /* even: closed */
	*seconds_out = (double)(now_ns() - t0) / 1e9;
	atomic_store(&rotator_pause, 0);
	return r;
}

/* For a failure: the audit records of failed calls (method, key, error). */
static void dump_audit_errors(void)
{
	char line[2048];
	unsigned shown = 0;
	FILE *f;

	if (fx.audit[0] == '\0' || (f = fopen(fx.audit, "r")) == NULL)
		return;
	fprintf(stderr, "--- failed calls in %s ---\n", fx.audit);
	while (fgets(line, sizeof(line), f) != NULL && shown < 20)
		if (strstr(line, "\"error\":{") != NULL) {
			fputs(line, stderr);
			shown++;
		}
	fprintf(stderr, "--- end ---\n");
	fclose(f);
}

static struct mcxvault *admin;
static struct signer signers[STRESS_SIGNERS];
static struct rotator rotator;
static unsigned seconds;

TEST(sign_while_rotating)
{
	struct mcxvault_error e;
	uint64_t total = 0, rpc = 0, sign_errors = 0, bad = 0, backwards = 0, bad_kids = 0, verify_errors = 0;
	uint64_t outage = 0;
	double elapsed;
	unsigned started = 0, came_back = 0;
	int restart_rc[RESTARTS] = { -1, -1 };

	REQUIRE(mcxvault_domain_init(admin, STRESS_DOMAIN, NULL, &e) == 0);
	for (unsigned i = 0; i < STRESS_SIGNERS; i++) {
		signers[i].index = i;
		REQUIRE(mcxvault_connect(fx.socket, &signers[i].v) == 0);
	}
	REQUIRE(mcxvault_connect(fx.socket, &rotator.v) == 0);
	rotator.last_version = 1;
	start_ns = now_ns();
	atomic_store(&deadline_ns, start_ns + (uint64_t)seconds * 1000000000u);
	for (unsigned i = 0; i < STRESS_SIGNERS; i++) {
		if (pthread_create(&signers[i].tid, NULL, signer_main, &signers[i]) != 0)
			break;
		started++;
	}
	if (started != STRESS_SIGNERS || pthread_create(&rotator.tid, NULL, rotator_main, &rotator) != 0) {
		atomic_store(&stop, 1);
		for (unsigned i = 0; i < started; i++)
			pthread_join(signers[i].tid, NULL);
		REQUIRE(!"pthread_create");
	}
	{
		/* SIGKILL at a third of the run, SIGTERM at two thirds */
		static const int sigs[RESTARTS] = { SIGKILL, SIGTERM };
		uint64_t start = start_ns;
		for (unsigned k = 0; k < RESTARTS; k++) {
			uint64_t at = start + (uint64_t)seconds * 1000000000u * (k + 1) / (RESTARTS + 1);
			double took = 0;
			while (now_ns() < at) {
				struct timespec nap = { 0, 10 * 1000 * 1000 };
				nanosleep(&nap, NULL);
			}
			restart_rc[k] = restart_under_load(sigs[k], &took);
			printf("  vaultd %s and started again under load: %.2f s\n", sigs[k] == SIGKILL ? "killed (SIGKILL)" :
			       "stopped (SIGTERM)", took);
		}
	}
	for (unsigned i = 0; i < STRESS_SIGNERS; i++)
		pthread_join(signers[i].tid, NULL);
	pthread_join(rotator.tid, NULL);

	for (unsigned i = 0; i < STRESS_SIGNERS; i++) {
		struct signer *s = &signers[i];
		total += s->signatures;
		rpc += s->verified_rpc;
		sign_errors += s->sign_errors;
		bad += s->bad_signatures;
		backwards += s->backwards;
		bad_kids += s->bad_kids;
		verify_errors += s->verify_errors;
		outage += s->outage_errors;
		came_back += s->after_restarts > 0;
		if (s->first_error[0] != '\0')
			printf("  signer %u: %s\n", i, s->first_error);
	}
	if (rotator.first_error[0] != '\0')
		printf("  rotator: %s\n", rotator.first_error);
	elapsed = (double)(now_ns() - start_ns) / 1e9;
	printf("  %.1f s, %d signers: %" PRIu64 " signatures (%.0f/s), all verified locally, %" PRIu64
	       " also by sign.verify; %" PRIu64 " rotations, %" PRIu64 " retirements\n",
	       elapsed, STRESS_SIGNERS, total, (double)total / elapsed, rpc, rotator.rotations,
	       rotator.retirements);
	printf("  %" PRIu64 " requests cut by the restarts (not errors); %u of %d signers signed after both\n", outage,
	       came_back, STRESS_SIGNERS);
	CHECK(total > 0);
	CHECK_EQ_INT(restart_rc[0], 0);   /* SIGKILL: the new vaultd answers */
	CHECK_EQ_INT(restart_rc[1], 0);   /* SIGTERM: clean exit, the new vaultd answers */
	CHECK_EQ_INT(came_back, STRESS_SIGNERS);   /* every connection came back by itself */
	CHECK_EQ_INT(sign_errors, 0);
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(bad_kids, 0);
	CHECK_EQ_INT(backwards, 0);
	CHECK_EQ_INT(verify_errors, 0);
	CHECK_EQ_INT(rotator.errors, 0);
	/* a rotation every few tens of ms: this many means the rotator was not starved */
	CHECK(rotator.rotations >= 2);
	CHECK_EQ_INT(rotator.retirements, rotator.rotations);
}

TEST(final_key_list)
{
	struct mcxvault_error e;
	json_t *result = NULL, *keys, *key;
	size_t i;
	unsigned active = 0, retired = 0, other = 0, seen = 0;
	int64_t active_version = 0;

	REQUIRE(mcxvault_key_list(admin, STRESS_DOMAIN, &result, &e) == 0);
	keys = json_object_get(result, "keys");
	CHECK(json_is_array(keys));
	json_array_foreach(keys, i, key) {
		const char *purpose = json_string_value(json_object_get(key, "purpose"));
		const char *state = json_string_value(json_object_get(key, "state"));
		int64_t version = json_integer_value(json_object_get(key, "version"));

		if (purpose == NULL || strcmp(purpose, "sign") != 0)
			continue;   /* the domain's other keys (kms, ...) are not rotated here */
		CHECK_EQ_INT(version, (int64_t)++seen);   /* oldest first, no gaps */
		if (state != NULL && strcmp(state, "active") == 0) {
			active++;
			active_version = version;
		} else if (state != NULL && strcmp(state, "retired") == 0) {
			retired++;
		} else {
			other++;
		}
	}
	CHECK_EQ_INT(seen, rotator.last_version);
	CHECK_EQ_INT(active, 1);
	CHECK_EQ_INT(active_version, rotator.last_version);
	CHECK_EQ_INT(retired, rotator.last_version - 1);
	CHECK_EQ_INT(other, 0);
	json_decref(result);
}

TEST(daemon_counted_no_failure)
{
	struct mcxvault_error e;
	json_t *status = NULL, *requests;

	REQUIRE(mcxvault_status(admin, &status, &e) == 0);
	requests = json_object_get(status, "requests");
	CHECK(json_integer_value(json_object_get(requests, "total")) > 0);
	CHECK_EQ_INT(json_integer_value(json_object_get(requests, "errors")), 0);
	json_decref(status);
}

TEST(audit_log_intact)
{
	if (fx.audit[0] == '\0')
		SKIP("audit log off (MCX_TEST_VAULT_AUDIT=off)");
	/* every signature and key change through a crash and a restart, chained and sealed */
	CHECK_EQ_INT(test_vault_audit_verify(&fx), 0);
}

TEST(daemon_exits_cleanly)
{
	for (unsigned i = 0; i < STRESS_SIGNERS; i++) {
		mcxvault_close(signers[i].v);
		signers[i].v = NULL;
	}
	mcxvault_close(rotator.v);
	rotator.v = NULL;
	mcxvault_close(admin);
	admin = NULL;
	CHECK_EQ_INT(test_vault_stop(&fx), 0);
}

int main(void)
{
	int r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	seconds = stress_seconds();
	if (test_vault_setup(&fx, "sign", TEST_VAULT_DOMAINS_AB, NULL, 2, 0) != 0 || test_vault_start(&fx) != 0) {
		printf("FAIL - fixture: no token or no vaultd\n");
		test_failed++;
		return test_summary("stress");
	}
	if ((r = mcxvault_connect(fx.socket, &admin)) != 0) {
		printf("FAIL - connect: %s\n", mcxvault_strerror(r));
		test_failed++;
	} else {
		RUN(sign_while_rotating);
		RUN(final_key_list);
		RUN(daemon_counted_no_failure);
		RUN(audit_log_intact);
		RUN(daemon_exits_cleanly);
	}
	if (test_failed > 0) {
		test_vault_dump_log(&fx);
		dump_audit_errors();
	}
	test_vault_cleanup(&fx);
	for (size_t i = 0; i < pkeys_alloc; i++)
		EVP_PKEY_free(pkeys[i]);
	free(pkeys);
	return test_summary("stress");
}
