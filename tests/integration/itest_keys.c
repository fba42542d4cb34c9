/*
 * mcxvault — key store checks for the rotation crash tests (test_crash.sh).
 *
 *   itest_keys save DOMAIN FILE
 *       signs a fresh message with the domain's active key and appends
 *       "kid message signature x||y" to FILE (all base64url): what a client
 *       saw acknowledged, to be checked after a crash
 *   itest_keys check NAME DOMAIN FILE ACKED [--active N] [--retired N]...
 *       after a restart: exactly one active version (the highest), versions
 *       1..n all present, none below ACKED lost, every version's public key
 *       served and unchanged since FILE recorded it, the active key signs,
 *       every signature in FILE still verifies (sign.verify with and without
 *       kid, and OpenSSL with the served PEM); --active / --retired pin the
 *       expected outcome of a crash point
 *   itest_keys states DOMAIN
 *       prints "PURPOSE VERSION STATE" per key version (for the token cross-check)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mcxvault.h"
#include "mcx/util.h"
#include "tests/integration/itest.h"
#include "tests/test.h"

#define MAX_VERSIONS 4096
#define MAX_RETIRED 64

static struct itest_conn *C;
static const char *domain, *sigfile;
static long long acked, want_active = -1, want_retired[MAX_RETIRED];
static size_t n_retired;

/* From key.list: the state of each version (index = version), count. */
static char states[MAX_VERSIONS + 1][16];
static long long n_versions, active_version;

static EVP_PKEY *version_key(long long version, json_t **res_out)
{
	json_t *res = NULL;
	EVP_PKEY *key = NULL;

	if (itest_call(C, "sign.public_key", json_pack("{s:s,s:I}", "domain", domain, "version", (json_int_t)version),
		       &res) == 0)
		key = itest_pem_key(itest_str(res, "pem"));
	if (res_out != NULL)
		*res_out = res;
	else
		json_decref(res);
	return key;
}

TEST(one_active_version)
{
	json_t *res = NULL, *k;
	size_t i;
	int actives = 0, ordered = 1;

	REQUIRE(itest_call(C, "key.list", json_pack("{s:s}", "domain", domain), &res) == 0);
	n_versions = 0;
	active_version = 0;
	json_array_foreach(json_object_get(res, "keys"), i, k) {
		const char *state = itest_str(k, "state");
		long long v = itest_int(k, "version");
		char kid[128];

		if (strcmp(itest_str(k, "purpose") ? itest_str(k, "purpose") : "", "sign") != 0)
			continue;
		if (v != n_versions + 1) {
			printf("  # version %lld follows version %lld\n", v, n_versions);
			ordered = 0;
		}
		REQUIRE(v >= 1 && v <= MAX_VERSIONS && state != NULL);
		snprintf(states[v], sizeof(states[v]), "%s", state);
		snprintf(kid, sizeof(kid), "%s/sign/%lld", domain, v);
		CHECK_EQ_STR(itest_str(k, "kid"), kid);
		if (strcmp(state, "active") == 0) {
			actives++;
			active_version = v;
		} else {
			CHECK(strcmp(state, "verify-only") == 0 || strcmp(state, "retired") == 0);
		}
		n_versions = v;
	}
	json_decref(res);
	printf("  # %lld versions, active %lld, acknowledged %lld\n", n_versions, active_version, acked);
	CHECK(ordered);                       /* 1..n, oldest first, no gaps */
	CHECK_EQ_INT(actives, 1);
	CHECK_EQ_INT(active_version, n_versions);  /* the newest is the active one */
	CHECK(n_versions >= acked);           /* no acknowledged version lost */
	/* an unacknowledged rotation leaves at most one extra version */
	CHECK(n_versions <= acked + 1);
	if (want_active >= 0)
		CHECK_EQ_INT(active_version, want_active);
	for (size_t r = 0; r < n_retired; r++) {
		REQUIRE(want_retired[r] >= 1 && want_retired[r] <= n_versions);
		CHECK_EQ_STR(states[want_retired[r]], "retired");
	}
}

TEST(every_public_key)
{
	for (long long v = 1; v <= n_versions; v++) {
		json_t *res = NULL, *jwk;
		uint8_t point[65], x[32], y[32];
		size_t xl = 0, yl = 0;
		EVP_PKEY *key = version_key(v, &res);

		CHECK(key != NULL);
		if (key == NULL) {
			printf("  # version %lld: no public key\n", v);
			json_decref(res);
			continue;
		}
		CHECK_EQ_INT(itest_int(res, "version"), v);
		CHECK_EQ_STR(itest_str(res, "state"), states[v]);
		jwk = json_object_get(res, "jwk");
		CHECK_EQ_INT(itest_key_point(key, point), 0);
		CHECK(itest_b64d(itest_str(jwk, "x"), x, 32, &xl) == 0 && xl == 32 && memcmp(point + 1, x, 32) == 0);
		CHECK(itest_b64d(itest_str(jwk, "y"), y, 32, &yl) == 0 && yl == 32 && memcmp(point + 33, y, 32) == 0);
		EVP_PKEY_free(key);
		json_decref(res);
	}
}

TEST(active_key_signs)
{
	static const char msg[] = "signed after the restart";
	json_t *res = NULL;
	uint8_t sig[64];
	size_t sl = 0;
	char kid[128];
	EVP_PKEY *key;

	REQUIRE(active_version > 0);
	snprintf(kid, sizeof(kid), "%s/sign/%lld", domain, active_version);
	REQUIRE((key = version_key(active_version, NULL)) != NULL);
	CHECK_EQ_INT(itest_call(C, "sign.sign", json_pack("{s:s,s:s}", "domain", domain, "data",
							  "c2lnbmVkIGFmdGVyIHRoZSByZXN0YXJ0"), &res), 0);
	CHECK_EQ_STR(itest_str(res, "kid"), kid);
	CHECK(itest_b64d(itest_str(res, "signature"), sig, 64, &sl) == 0 && sl == 64);
	CHECK_EQ_INT(itest_ossl_verify(key, msg, strlen(msg), 0, sig), 1);
	json_decref(res);
	EVP_PKEY_free(key);
}

TEST(old_signatures_verify)
{
	FILE *f = fopen(sigfile, "r");
	char line[1024], kid[256], msg[256], sig_text[256], pt_text[256];
	int lines = 0, good = 0;

	REQUIRE(f != NULL);
	while (fgets(line, sizeof(line), f) != NULL) {
		uint8_t m[192], sig[64], pt[64], point[65];
		size_t ml = 0, sl = 0, pl = 0;
		const char *ver;
		json_t *res = NULL;
		EVP_PKEY *key;
		long long v;
		int ok = 1;

		if (sscanf(line, "%255s %255s %255s %255s", kid, msg, sig_text, pt_text) != 4)
			continue;
		lines++;
		if (itest_b64d(msg, m, sizeof(m), &ml) != 0 || itest_b64d(sig_text, sig, 64, &sl) != 0 || sl != 64 ||
		    itest_b64d(pt_text, pt, 64, &pl) != 0 || pl != 64 || (ver = strrchr(kid, '/')) == NULL) {
			printf("  # bad line in %s\n", sigfile);
			continue;
		}
		v = strtoll(ver + 1, NULL, 10);
		/* sign.verify without kid names the version; with kid it agrees */
		{
			char *d = itest_b64e(m, ml), *s = itest_b64e(sig, 64);
			json_t *p1 = json_pack("{s:s,s:s,s:s}", "domain", domain, "data", d, "signature", s);
			json_t *p2 = json_pack("{s:s,s:s,s:s,s:s}", "domain", domain, "data", d, "signature", s, "kid", kid);
			if (itest_call(C, "sign.verify", p1, &res) != 0 || !json_is_true(json_object_get(res, "valid")) ||
			    itest_str(res, "kid") == NULL || strcmp(itest_str(res, "kid"), kid) != 0)
				ok = 0;
			json_decref(res);
			res = NULL;
			if (itest_call(C, "sign.verify", p2, &res) != 0 || !json_is_true(json_object_get(res, "valid")))
				ok = 0;
			json_decref(res);
			free(d);
			free(s);
		}
		/* the version's public key is the one recorded before the crash */
		if ((key = version_key(v, NULL)) == NULL || itest_key_point(key, point) != 0 ||
		    memcmp(point + 1, pt, 64) != 0 || itest_ossl_verify(key, m, ml, 0, sig) != 1)
			ok = 0;
		EVP_PKEY_free(key);
		if (!ok)
			printf("  # the saved signature by %s does not verify any more\n", kid);
		good += ok;
	}
	fclose(f);
	printf("  # %d saved signatures checked\n", lines);
	CHECK(lines > 0);
	CHECK_EQ_INT(good, lines);
}

static int save(void)
{
	char msg[128], *m = NULL, *s = NULL, *p = NULL;
	json_t *res = NULL, *pk = NULL;
	uint8_t sig[64], point[65];
	size_t sl = 0;
	EVP_PKEY *key = NULL;
	FILE *f = NULL;
	int ret = 1;
	long long v;
	const char *kid;

	snprintf(msg, sizeof(msg), "acknowledged before a crash, pid %d, t %.6f", (int)getpid(), itest_now());
	m = itest_b64e(msg, strlen(msg));
	if (itest_call(C, "sign.sign", json_pack("{s:s,s:s}", "domain", domain, "data", m), &res) != 0 ||
	    (kid = itest_str(res, "kid")) == NULL || itest_b64d(itest_str(res, "signature"), sig, 64, &sl) != 0 ||
	    sl != 64 || strrchr(kid, '/') == NULL) {
		fprintf(stderr, "itest_keys save: sign.sign failed: %s\n", C->error_message);
		goto out;
	}
	v = strtoll(strrchr(kid, '/') + 1, NULL, 10);
	if ((key = version_key(v, &pk)) == NULL || itest_key_point(key, point) != 0 ||
	    itest_ossl_verify(key, msg, strlen(msg), 0, sig) != 1) {
		fprintf(stderr, "itest_keys save: public key of %s missing or wrong\n", kid);
		goto out;
	}
	s = itest_b64e(sig, 64);
	p = itest_b64e(point + 1, 64);
	if ((f = fopen(sigfile, "a")) == NULL || fprintf(f, "%s %s %s %s\n", kid, m, s, p) < 0)
		goto out;
	printf("%lld\n", v);
	ret = 0;
out:
	if (f != NULL && fclose(f) != 0)
		ret = 1;
	EVP_PKEY_free(key);
	json_decref(pk);
	json_decref(res);
	free(m);
	free(s);
	free(p);
	return ret;
}

static int print_states(void)
{
	json_t *res = NULL, *k;
	size_t i;

	if (itest_call(C, "key.list", json_pack("{s:s}", "domain", domain), &res) != 0)
		return 1;
	json_array_foreach(json_object_get(res, "keys"), i, k)
		printf("%s %lld %s\n", itest_str(k, "purpose") ? itest_str(k, "purpose") : "?", itest_int(k, "version"),
		       itest_str(k, "state") ? itest_str(k, "state") : "?");
	json_decref(res);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: itest_keys save DOMAIN FILE\n"
			"       itest_keys check NAME DOMAIN FILE ACKED [--active N] [--retired N]...\n"
			"       itest_keys states DOMAIN\n");
	return 2;
}

int main(int argc, char **argv)
{
	int ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3)
		return usage();
	domain = argv[2];
	if ((C = itest_connect()) == NULL) {
		fprintf(stderr, "itest_keys: cannot connect\n");
		if (strcmp(argv[1], "check") == 0)
			printf("%s: 0 passed, 1 failed\n", argc > 2 ? argv[2] : "check");
		return 1;
	}
	if (strcmp(argv[1], "save") == 0 && argc == 4) {
		sigfile = argv[3];
		ret = save();
	} else if (strcmp(argv[1], "states") == 0 && argc == 3) {
		ret = print_states();
	} else if (strcmp(argv[1], "check") == 0 && argc >= 6) {
		const char *name = argv[2];
		domain = argv[3];
		sigfile = argv[4];
		acked = strtoll(argv[5], NULL, 10);
		if ((argc - 6) % 2 != 0)
			return usage();
		for (int i = 6; i + 1 < argc; i += 2) {
			if (strcmp(argv[i], "--active") == 0)
				want_active = strtoll(argv[i + 1], NULL, 10);
			else if (strcmp(argv[i], "--retired") == 0 && n_retired < MAX_RETIRED)
				want_retired[n_retired++] = strtoll(argv[i + 1], NULL, 10);
			else
				return usage();
		}
		RUN(one_active_version);
		RUN(every_public_key);
		RUN(active_key_signs);
		RUN(old_signatures_verify);
		ret = test_summary(name);
	} else {
		ret = usage();
	}
	itest_close(C);
	return ret;
}
