/*
 * mcxvault — protocol-level integration tests against the real vaultd.
 *
 *   itest_rpc methods      every method of docs/protocol.md, success and failure
 *   itest_rpc malformed    malformed input: documented error, daemon keeps serving
 *   itest_rpc slow         stalled writers and non-reading clients delay nobody
 *   itest_rpc idle         server.idle_timeout = 2 closes an idle connection
 *   itest_rpc concurrent   50 clients (libmcxvault, one thread each) sign+verify
 *   itest_rpc unknown      run as a caller without any access entry
 *   itest_rpc limited      run as a caller with signer+auditor on b.example only
 *   itest_rpc signer       run as a caller with the signer role only
 *
 * Driven by tests/integration/test_rpc.sh and test_access.sh, which start
 * vaultd on a fresh SoftHSM token and export MCXVAULT_SOCKET.  The "methods"
 * suite expects a fresh token (a.example and b.example configured, neither
 * initialised); the others expect a.example initialised.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "mcxvault.h"
#include "mcx/util.h"
#include "tests/integration/itest.h"
#include "tests/test.h"

static struct itest_conn *C;

/* A fresh connection for the current test (the old one closed). */
static int fresh(void)
{
	itest_close(C);
	C = itest_connect();
	return C != NULL;
}

static json_t *dom(const char *domain)
{
	return json_pack("{s:s}", "domain", domain);
}

static int json_array_has_string(json_t *array, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(array, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return 1;
	return 0;
}

/* The member of a domain.list result for domain, borrowed (NULL if absent). */
static json_t *list_entry(json_t *list, const char *domain)
{
	size_t i;
	json_t *v;

	json_array_foreach(json_object_get(list, "domains"), i, v) {
		const char *d = itest_str(v, "domain");
		if (d != NULL && strcmp(d, domain) == 0)
			return v;
	}
	return NULL;
}

/* The "sign" entries of a keys array, oldest first (a new reference); other
 * purposes (e.g. "kms") are not this suite's business. */
static json_t *sign_keys(json_t *keys)
{
	json_t *out = json_array(), *k;
	size_t i;

	json_array_foreach(keys, i, k) {
		const char *p = itest_str(k, "purpose");
		if (p != NULL && strcmp(p, "sign") == 0)
			json_array_append(out, k);
	}
	return out;
}

static int valid_time(const char *s)
{
	int64_t t;
	return s != NULL && strlen(s) == 20 && s[19] == 'Z' && mcx_time_parse(s, &t) == MCX_OK && t > 1000000000;
}

/* sign.sign over data (or a 32-octet digest); sig and kid filled on success. */
static int sign(const char *domain, const void *data, size_t len, int is_digest, uint8_t sig[64], char *kid,
		size_t kid_size)
{
	char *text = itest_b64e(data, len);
	json_t *res = NULL;
	size_t sig_len = 0;
	int code;

	code = itest_call(C, "sign.sign", json_pack("{s:s, s:s}", "domain", domain, is_digest ? "digest" : "data",
						    text), &res);
	free(text);
	if (code == 0) {
		if (itest_b64d(itest_str(res, "signature"), sig, 64, &sig_len) != 0 || sig_len != 64 ||
		    itest_str(res, "kid") == NULL || itest_str(res, "alg") == NULL ||
		    strcmp(itest_str(res, "alg"), "ES256") != 0) {
			printf("  # malformed sign.sign result\n");
			code = ITEST_NO_RESPONSE;
		} else if (kid != NULL) {
			snprintf(kid, kid_size, "%s", itest_str(res, "kid"));
		}
	}
	json_decref(res);
	return code;
}

/*
 * sign.verify: returns the call's code; *valid gets 1/0 and found the kid
 * named by a valid result ("" when invalid).
 */
static int verify(const char *domain, const char *kid, const void *data, size_t len, int is_digest,
		  const uint8_t *sig, size_t sig_len, int *valid, char *found, size_t found_size)
{
	char *d = itest_b64e(data, len), *s = itest_b64e(sig, sig_len);
	json_t *params = json_pack("{s:s, s:s, s:s}", "domain", domain, is_digest ? "digest" : "data", d,
				   "signature", s), *res = NULL;
	int code;

	free(d);
	free(s);
	if (kid != NULL)
		json_object_set_new(params, "kid", json_string(kid));
	code = itest_call(C, "sign.verify", params, &res);
	*valid = -1;
	if (found != NULL)
		found[0] = '\0';
	if (code == 0) {
		json_t *v = json_object_get(res, "valid");
		*valid = json_is_true(v) ? 1 : json_is_false(v) ? 0 : -1;
		if (*valid == 1 && found != NULL && itest_str(res, "kid") != NULL)
			snprintf(found, found_size, "%s", itest_str(res, "kid"));
		if (*valid == 0 && json_object_get(res, "kid") != NULL)
			*valid = -1;  /* an invalid result names no key */
	}
	json_decref(res);
	return code;
}

/* sign.public_key of version (0: active) as an OpenSSL key; NULL on failure. */
static EVP_PKEY *public_key(const char *domain, long long version, json_t **res_out)
{
	json_t *params = dom(domain), *res = NULL;
	EVP_PKEY *key = NULL;

	if (version != 0)
		json_object_set_new(params, "version", json_integer(version));
	if (itest_call(C, "sign.public_key", params, &res) == 0)
		key = itest_pem_key(itest_str(res, "pem"));
	if (res_out != NULL)
		*res_out = res;
	else
		json_decref(res);
	return key;
}

/* ======================================================================= */
/* methods                                                                  */
/* ======================================================================= */

static const char msg1[] = "the first message, signed by a.example/sign/1";
static uint8_t sig1[64];          /* sig of msg1 by version 1 */
static int have_sig1;

TEST(status)
{
	json_t *res = NULL, *hsm, *caller, *requests;

	REQUIRE(fresh());
	CHECK_EQ_INT(itest_call(C, "vault.status", NULL, &res), 0);
	REQUIRE(res != NULL);
	CHECK_EQ_STR(itest_str(res, "version"), "0.1.0");
	CHECK(itest_int(res, "uptime_seconds") >= 0);
	hsm = json_object_get(res, "hsm");
	CHECK_EQ_STR(itest_str(hsm, "token_label"), "mcx-vault");
	CHECK(itest_str(hsm, "module") != NULL);
	CHECK(itest_str(hsm, "token_serial") != NULL && strlen(itest_str(hsm, "token_serial")) > 0);
	CHECK(json_is_true(json_object_get(hsm, "reachable")));
	CHECK(json_array_has_string(json_object_get(res, "domains"), "a.example"));
	CHECK(json_array_has_string(json_object_get(res, "domains"), "b.example"));
	requests = json_object_get(res, "requests");
	CHECK(itest_int(requests, "total") >= 1);
	CHECK(itest_int(requests, "errors") >= 0);
	CHECK(itest_int(res, "connections") >= 1);
	caller = json_object_get(res, "caller");
	CHECK_EQ_INT(itest_int(caller, "uid"), getuid());
	CHECK_EQ_INT(itest_int(caller, "gid"), getgid());
	CHECK_EQ_INT(itest_int(caller, "pid"), getpid());
	CHECK(json_array_has_string(json_object_get(caller, "roles"), "admin"));
	CHECK(json_array_has_string(json_object_get(caller, "roles"), "signer"));
	json_decref(res);
	/* params, when present, must be an object: an empty one is fine */
	CHECK_EQ_INT(itest_call(C, "vault.status", json_object(), NULL), 0);
	CHECK_EQ_INT(itest_call(C, "vault.status", json_pack("{s:i}", "x", 1), NULL), -32602);
}

TEST(list_before_init)
{
	json_t *res = NULL, *a, *b;

	REQUIRE(fresh());
	CHECK_EQ_INT(itest_call(C, "domain.list", NULL, &res), 0);
	a = list_entry(res, "a.example");
	b = list_entry(res, "b.example");
	REQUIRE(a != NULL && b != NULL);
	CHECK_EQ_INT(json_array_size(json_object_get(res, "domains")), 2);
	CHECK_EQ_STR(itest_str(a, "kms_uri"), "kms.a.example");
	CHECK_EQ_STR(itest_str(b, "kms_uri"), "kms.b.example");
	CHECK(json_is_false(json_object_get(a, "initialized")));
	CHECK(json_is_false(json_object_get(b, "initialized")));
	json_decref(res);
	res = NULL;
	CHECK_EQ_INT(itest_call(C, "domain.show", dom("b.example"), &res), 0);
	CHECK(json_is_false(json_object_get(res, "initialized")));
	CHECK_EQ_INT(json_array_size(json_object_get(res, "keys")), 0);
	json_decref(res);
}

TEST(uninitialised_domain)
{
	uint8_t sig[64], digest[32] = { 1 };

	REQUIRE(fresh());
	CHECK_EQ_INT(sign("b.example", "x", 1, 0, sig, NULL, 0), -32002);
	CHECK_EQ_STR(C->error_name, "MCX_ERR_NOT_FOUND");
	CHECK_EQ_INT(sign("b.example", digest, 32, 1, sig, NULL, 0), -32002);
	CHECK_EQ_INT(itest_call(C, "key.rotate", json_pack("{s:s,s:s}", "domain", "b.example", "purpose", "sign"),
				NULL), -32002);
	CHECK_EQ_INT(itest_call(C, "sign.public_key", dom("b.example"), NULL), -32002);
}

TEST(domain_init)
{
	json_t *res = NULL, *keys, *k;

	REQUIRE(fresh());
	CHECK_EQ_INT(itest_call(C, "domain.init", dom("a.example"), &res), 0);
	REQUIRE(res != NULL);
	CHECK_EQ_STR(itest_str(res, "domain"), "a.example");
	CHECK_EQ_STR(itest_str(res, "kms_uri"), "kms.a.example");
	CHECK(json_is_true(json_object_get(res, "initialized")));
	keys = sign_keys(json_object_get(res, "keys"));
	CHECK_EQ_INT(json_array_size(keys), 1);
	k = json_array_get(keys, 0);
	CHECK_EQ_STR(itest_str(k, "purpose"), "sign");
	CHECK_EQ_INT(itest_int(k, "version"), 1);
	CHECK_EQ_STR(itest_str(k, "state"), "active");
	CHECK_EQ_STR(itest_str(k, "kid"), "a.example/sign/1");
	CHECK(valid_time(itest_str(k, "created")));
	json_decref(keys);
	json_decref(res);

	CHECK_EQ_INT(itest_call(C, "domain.init", dom("a.example"), NULL), -32003);
	CHECK_EQ_STR(C->error_name, "MCX_ERR_EXISTS");
	CHECK_EQ_INT(itest_call(C, "domain.init", dom("c.example"), NULL), -32002);
	CHECK_EQ_STR(C->error_name, "MCX_ERR_NOT_FOUND");
	CHECK_EQ_INT(itest_call(C, "domain.init", NULL, NULL), -32602);
	CHECK_EQ_INT(itest_call(C, "domain.init", json_pack("{s:i}", "domain", 7), NULL), -32602);
}

TEST(domain_list_show)
{
	json_t *res = NULL, *a, *b, *keys;

	REQUIRE(fresh());
	CHECK_EQ_INT(itest_call(C, "domain.list", NULL, &res), 0);
	a = list_entry(res, "a.example");
	b = list_entry(res, "b.example");
	REQUIRE(a != NULL && b != NULL);
	CHECK(json_is_true(json_object_get(a, "initialized")));
	CHECK_EQ_INT(itest_int(a, "active_sign_version"), 1);
	CHECK(json_is_false(json_object_get(b, "initialized")));
	json_decref(res);
	res = NULL;

	CHECK_EQ_INT(itest_call(C, "domain.show", dom("a.example"), &res), 0);
	CHECK_EQ_STR(itest_str(res, "domain"), "a.example");
	CHECK(json_is_true(json_object_get(res, "initialized")));
	keys = sign_keys(json_object_get(res, "keys"));
	CHECK_EQ_INT(json_array_size(keys), 1);
	CHECK_EQ_STR(itest_str(json_array_get(keys, 0), "kid"), "a.example/sign/1");
	json_decref(keys);
	json_decref(res);
	CHECK_EQ_INT(itest_call(C, "domain.show", dom("c.example"), NULL), -32002);
	CHECK_EQ_INT(itest_call(C, "domain.show", NULL, NULL), -32602);

	res = NULL;
	CHECK_EQ_INT(itest_call(C, "key.list", dom("a.example"), &res), 0);
	CHECK_EQ_STR(itest_str(res, "domain"), "a.example");
	keys = sign_keys(json_object_get(res, "keys"));
	CHECK_EQ_INT(json_array_size(keys), 1);
	CHECK_EQ_STR(itest_str(json_array_get(keys, 0), "state"), "active");
	json_decref(keys);
	json_decref(res);
	res = NULL;
	CHECK_EQ_INT(itest_call(C, "key.list", dom("b.example"), &res), 0);
	CHECK_EQ_INT(json_array_size(json_object_get(res, "keys")), 0);
	json_decref(res);
	CHECK_EQ_INT(itest_call(C, "key.list", dom("c.example"), NULL), -32002);
}

TEST(sign_data_and_digest)
{
	uint8_t sig[64], digest[32];
	char kid[64];
	int valid = -1;
	EVP_PKEY *key;

	REQUIRE(fresh());
	REQUIRE((key = public_key("a.example", 0, NULL)) != NULL);
	CHECK_EQ_INT(sign("a.example", msg1, strlen(msg1), 0, sig1, kid, sizeof(kid)), 0);
	CHECK_EQ_STR(kid, "a.example/sign/1");
	CHECK_EQ_INT(itest_ossl_verify(key, msg1, strlen(msg1), 0, sig1), 1);
	have_sig1 = 1;

	/* a digest signed as given verifies as the signature of its data */
	SHA256((const uint8_t *)msg1, strlen(msg1), digest);
	CHECK_EQ_INT(sign("a.example", digest, 32, 1, sig, kid, sizeof(kid)), 0);
	CHECK_EQ_STR(kid, "a.example/sign/1");
	CHECK_EQ_INT(itest_ossl_verify(key, msg1, strlen(msg1), 0, sig), 1);
	CHECK_EQ_INT(verify("a.example", NULL, msg1, strlen(msg1), 0, sig, 64, &valid, NULL, 0), 0);
	CHECK_EQ_INT(valid, 1);
	/* ECDSA is randomised: two signatures of the same message differ */
	CHECK(memcmp(sig, sig1, 64) != 0);
	/* empty data is data too */
	CHECK_EQ_INT(itest_call(C, "sign.sign", json_pack("{s:s,s:s}", "domain", "a.example", "data", ""), NULL), 0);
	EVP_PKEY_free(key);
}

/* mcxvault_sign_many: 100 digests pipelined on one connection, each
 * signature checked by OpenSSL; errors per digest; nothing for n = 0. */
TEST(sign_many_pipelined)
{
	enum { N = 100 };
	static uint8_t digests[N][32], sigs[N][MCXVAULT_SIGNATURE_LEN];
	int results[N], good = 0;
	char *kids[N];
	struct mcxvault *v = NULL;
	struct mcxvault_error e;
	EVP_PKEY *key;

	REQUIRE((key = public_key("a.example", 0, NULL)) != NULL);
	REQUIRE(mcxvault_connect(NULL, &v) == 0);
	for (int i = 0; i < N; i++)
		SHA256((const uint8_t *)&i, sizeof(i), digests[i]);
	CHECK_EQ_INT(mcxvault_sign_many(v, "a.example", digests, N, sigs, results, kids, &e), 0);
	for (int i = 0; i < N; i++) {
		good += results[i] == 0 && kids[i] != NULL && strcmp(kids[i], "a.example/sign/1") == 0 &&
		        itest_ossl_verify(key, digests[i], 32, 1, sigs[i]) == 1;
		mcxvault_free(kids[i]);
	}
	CHECK_EQ_INT(good, N);
	/* an error answers every digest of the batch, and the connection stays usable */
	CHECK_EQ_INT(mcxvault_sign_many(v, "nowhere.example", digests, 20, sigs, results, NULL, &e), MCX_ERR_NOT_FOUND);
	CHECK_EQ_INT(e.rpc_code, -32002);
	good = 0;
	for (int i = 0; i < 20; i++)
		good += results[i] == MCX_ERR_NOT_FOUND;
	CHECK_EQ_INT(good, 20);
	CHECK_EQ_INT(mcxvault_sign_many(v, "a.example", digests, 0, sigs, results, NULL, &e), 0);
	CHECK_EQ_INT(mcxvault_sign_many(v, "a.example", NULL, 3, sigs, results, NULL, &e), MCX_ERR_INVALID_ARGUMENT);
	CHECK_EQ_INT(mcxvault_sign_many(v, "a.example", digests, 1, sigs, results, NULL, &e), 0);
	CHECK_EQ_INT(itest_ossl_verify(key, digests[0], 32, 1, sigs[0]), 1);
	mcxvault_close(v);
	EVP_PKEY_free(key);
}

TEST(sign_errors)
{
	uint8_t sig[64], digest[33] = { 0 };

	REQUIRE(fresh());
	/* both, neither */
	CHECK_EQ_INT(itest_call(C, "sign.sign", json_pack("{s:s,s:s,s:s}", "domain", "a.example", "data", "aGVsbG8",
							  "digest", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
				NULL), -32602);
	CHECK_EQ_INT(itest_call(C, "sign.sign", dom("a.example"), NULL), -32602);
	CHECK_EQ_INT(itest_call(C, "sign.sign", json_pack("{s:s}", "data", "aGVsbG8"), NULL), -32602);
	/* digest of the wrong length */
	CHECK_EQ_INT(sign("a.example", digest, 31, 1, sig, NULL, 0), -32602);
	CHECK_EQ_INT(sign("a.example", digest, 33, 1, sig, NULL, 0), -32602);
	CHECK_EQ_INT(sign("a.example", digest, 0, 1, sig, NULL, 0), -32602);
	/* bad base64url: padding, the other alphabet, whitespace, junk */
	static const char *const bad[] = { "aGVsbG8=", "a+b/", "aGVs bG8", "aGVsbG8\n", "!!!!", "a" };
	for (size_t i = 0; i < MCX_ARRAY_SIZE(bad); i++) {
		int code = itest_call(C, "sign.sign", json_pack("{s:s,s:s}", "domain", "a.example", "data", bad[i]),
				      NULL);
		if (code != -32602)
			printf("  # data \"%s\" gave %d\n", bad[i], code);
		CHECK_EQ_INT(code, -32602);
	}
	CHECK_EQ_INT(itest_call(C, "sign.sign", json_pack("{s:s,s:s}", "domain", "a.example", "digest",
							  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="), NULL), -32602);
	/* wrong types */
	CHECK_EQ_INT(itest_call(C, "sign.sign", json_pack("{s:s,s:i}", "domain", "a.example", "data", 5), NULL),
		     -32602);
	/* unknown domain */
	CHECK_EQ_INT(sign("c.example", "x", 1, 0, sig, NULL, 0), -32002);
	CHECK(itest_alive(C));
}

TEST(verify_method)
{
	uint8_t bad[64], digest[32];
	char found[64];
	int valid = -1;
	static const char other[] = "the first message, signed by a.example/sign/2";

	REQUIRE(have_sig1);
	REQUIRE(fresh());
	/* with kid, without kid */
	CHECK_EQ_INT(verify("a.example", "a.example/sign/1", msg1, strlen(msg1), 0, sig1, 64, &valid, found,
			    sizeof(found)), 0);
	CHECK_EQ_INT(valid, 1);
	CHECK_EQ_STR(found, "a.example/sign/1");
	CHECK_EQ_INT(verify("a.example", NULL, msg1, strlen(msg1), 0, sig1, 64, &valid, found, sizeof(found)), 0);
	CHECK_EQ_INT(valid, 1);
	CHECK_EQ_STR(found, "a.example/sign/1");
	/* by digest */
	SHA256((const uint8_t *)msg1, strlen(msg1), digest);
	CHECK_EQ_INT(verify("a.example", NULL, digest, 32, 1, sig1, 64, &valid, NULL, 0), 0);
	CHECK_EQ_INT(valid, 1);
	/* tampered data, tampered signature: valid false, not an error */
	CHECK_EQ_INT(verify("a.example", NULL, other, strlen(other), 0, sig1, 64, &valid, NULL, 0), 0);
	CHECK_EQ_INT(valid, 0);
	memcpy(bad, sig1, 64);
	bad[10] ^= 0x01;
	CHECK_EQ_INT(verify("a.example", "a.example/sign/1", msg1, strlen(msg1), 0, bad, 64, &valid, NULL, 0), 0);
	CHECK_EQ_INT(valid, 0);
	memset(bad, 0, sizeof(bad));
	CHECK_EQ_INT(verify("a.example", NULL, msg1, strlen(msg1), 0, bad, 64, &valid, NULL, 0), 0);
	CHECK_EQ_INT(valid, 0);
	/* unknown kid, a kid of another domain, a malformed kid */
	CHECK_EQ_INT(verify("a.example", "a.example/sign/99", msg1, strlen(msg1), 0, sig1, 64, &valid, NULL, 0),
		     -32002);
	CHECK_EQ_INT(verify("a.example", "b.example/sign/1", msg1, strlen(msg1), 0, sig1, 64, &valid, NULL, 0),
		     -32002);
	/* signature not 64 octets; digest not 32 */
	CHECK_EQ_INT(verify("a.example", NULL, msg1, strlen(msg1), 0, sig1, 63, &valid, NULL, 0), -32602);
	CHECK_EQ_INT(verify("a.example", NULL, digest, 31, 1, sig1, 64, &valid, NULL, 0), -32602);
	CHECK_EQ_INT(itest_call(C, "sign.verify", json_pack("{s:s,s:s}", "domain", "a.example", "data", "aGVsbG8"),
				NULL), -32602);
	CHECK_EQ_INT(verify("c.example", NULL, msg1, strlen(msg1), 0, sig1, 64, &valid, NULL, 0), -32002);
}

TEST(rotate)
{
	json_t *res = NULL, *prev;
	uint8_t sig[64];
	char kid[64], found[64];
	int valid = -1;

	REQUIRE(fresh());
	CHECK_EQ_INT(itest_call(C, "key.rotate", json_pack("{s:s,s:s}", "domain", "a.example", "purpose", "sign"),
				&res), 0);
	REQUIRE(res != NULL);
	CHECK_EQ_STR(itest_str(res, "domain"), "a.example");
	CHECK_EQ_STR(itest_str(res, "purpose"), "sign");
	CHECK_EQ_INT(itest_int(res, "version"), 2);
	CHECK_EQ_STR(itest_str(res, "state"), "active");
	CHECK_EQ_STR(itest_str(res, "kid"), "a.example/sign/2");
	CHECK(valid_time(itest_str(res, "created")));
	prev = json_object_get(res, "previous");
	CHECK_EQ_INT(itest_int(prev, "version"), 1);
	CHECK_EQ_STR(itest_str(prev, "state"), "verify-only");
	json_decref(res);

	CHECK_EQ_INT(itest_call(C, "key.rotate", json_pack("{s:s,s:s}", "domain", "a.example", "purpose", "encrypt"),
				NULL), -32602);
	CHECK_EQ_INT(itest_call(C, "key.rotate", json_pack("{s:s,s:s}", "domain", "c.example", "purpose", "sign"),
				NULL), -32002);
	CHECK_EQ_INT(itest_call(C, "key.rotate", json_pack("{s:s,s:i}", "domain", "a.example", "purpose", 1), NULL),
		     -32602);

	/* the new version signs; the old signature still verifies, by version 1 only */
	CHECK_EQ_INT(sign("a.example", "after", 5, 0, sig, kid, sizeof(kid)), 0);
	CHECK_EQ_STR(kid, "a.example/sign/2");
	CHECK_EQ_INT(verify("a.example", NULL, "after", 5, 0, sig, 64, &valid, found, sizeof(found)), 0);
	CHECK_EQ_INT(valid, 1);
	CHECK_EQ_STR(found, "a.example/sign/2");
	CHECK_EQ_INT(verify("a.example", NULL, msg1, strlen(msg1), 0, sig1, 64, &valid, found, sizeof(found)), 0);
	CHECK_EQ_INT(valid, 1);
	CHECK_EQ_STR(found, "a.example/sign/1");
	CHECK_EQ_INT(verify("a.example", "a.example/sign/2", msg1, strlen(msg1), 0, sig1, 64, &valid, NULL, 0), 0);
	CHECK_EQ_INT(valid, 0);

	res = NULL;
	CHECK_EQ_INT(itest_call(C, "domain.list", NULL, &res), 0);
	CHECK_EQ_INT(itest_int(list_entry(res, "a.example"), "active_sign_version"), 2);
	json_decref(res);
}

TEST(retire)
{
	json_t *res = NULL, *keys;
	char found[64];
	int valid = -1;

	REQUIRE(fresh());
	/* the active version cannot be retired */
	CHECK_EQ_INT(itest_call(C, "key.retire", json_pack("{s:s,s:s,s:i}", "domain", "a.example", "purpose", "sign",
							   "version", 2), NULL), -32006);
	CHECK_EQ_STR(C->error_name, "MCX_ERR_KEY_STATE");
	CHECK_EQ_INT(itest_call(C, "key.retire", json_pack("{s:s,s:s,s:i}", "domain", "a.example", "purpose", "sign",
							   "version", 99), NULL), -32002);
	CHECK_EQ_INT(itest_call(C, "key.retire", json_pack("{s:s,s:s,s:s}", "domain", "a.example", "purpose", "sign",
							   "version", "1"), NULL), -32602);
	CHECK_EQ_INT(itest_call(C, "key.retire", json_pack("{s:s,s:s,s:i}", "domain", "c.example", "purpose", "sign",
							   "version", 1), NULL), -32002);
	CHECK_EQ_INT(itest_call(C, "key.retire", json_pack("{s:s,s:s,s:i,s:s}", "domain", "a.example", "purpose",
							   "sign", "version", 1, "now", "yes"), NULL), -32602);
	/* key.cancel_retire: nothing is scheduled without keys.destroy_delay */
	CHECK_EQ_INT(itest_call(C, "key.cancel_retire", json_pack("{s:s,s:s,s:i}", "domain", "a.example", "purpose",
								  "sign", "version", 1), NULL), -32006);
	CHECK_EQ_STR(C->error_name, "MCX_ERR_KEY_STATE");
	CHECK_EQ_INT(itest_call(C, "key.cancel_retire", json_pack("{s:s,s:s,s:i}", "domain", "a.example", "purpose",
								  "sign", "version", 99), NULL), -32002);
	CHECK_EQ_INT(itest_call(C, "key.cancel_retire", json_pack("{s:s,s:s,s:i}", "domain", "a.example", "purpose",
								  "kid", "version", 1), NULL), -32602);
	/* verify-only version 1: ok (keys.destroy_delay is 0: destroyed at once) */
	CHECK_EQ_INT(itest_call(C, "key.retire", json_pack("{s:s,s:s,s:i}", "domain", "a.example", "purpose", "sign",
							   "version", 1), &res), 0);
	CHECK_EQ_STR(itest_str(res, "domain"), "a.example");
	CHECK_EQ_STR(itest_str(res, "purpose"), "sign");
	CHECK_EQ_INT(itest_int(res, "version"), 1);
	CHECK_EQ_STR(itest_str(res, "state"), "retired");
	json_decref(res);
	/* already retired */
	CHECK_EQ_INT(itest_call(C, "key.retire", json_pack("{s:s,s:s,s:i}", "domain", "a.example", "purpose", "sign",
							   "version", 1), NULL), -32006);

	res = NULL;
	CHECK_EQ_INT(itest_call(C, "key.list", dom("a.example"), &res), 0);
	keys = sign_keys(json_object_get(res, "keys"));
	CHECK_EQ_INT(json_array_size(keys), 2);
	CHECK_EQ_INT(itest_int(json_array_get(keys, 0), "version"), 1);   /* oldest first */
	CHECK_EQ_STR(itest_str(json_array_get(keys, 0), "state"), "retired");
	CHECK_EQ_STR(itest_str(json_array_get(keys, 1), "state"), "active");
	json_decref(keys);
	json_decref(res);

	/* the retired version's old signature still verifies, with and without kid */
	REQUIRE(have_sig1);
	CHECK_EQ_INT(verify("a.example", NULL, msg1, strlen(msg1), 0, sig1, 64, &valid, found, sizeof(found)), 0);
	CHECK_EQ_INT(valid, 1);
	CHECK_EQ_STR(found, "a.example/sign/1");
	CHECK_EQ_INT(verify("a.example", "a.example/sign/1", msg1, strlen(msg1), 0, sig1, 64, &valid, NULL, 0), 0);
	CHECK_EQ_INT(valid, 1);
}

TEST(public_key_method)
{
	json_t *res = NULL, *jwk;
	EVP_PKEY *active, *v1;
	uint8_t point[65], x[32], y[32], sig[64];
	size_t xl = 0, yl = 0;
	const char *pem;

	REQUIRE(fresh());
	REQUIRE((active = public_key("a.example", 0, &res)) != NULL);
	CHECK_EQ_STR(itest_str(res, "kid"), "a.example/sign/2");
	CHECK_EQ_INT(itest_int(res, "version"), 2);
	CHECK_EQ_STR(itest_str(res, "state"), "active");
	pem = itest_str(res, "pem");
	CHECK(pem != NULL && strncmp(pem, "-----BEGIN PUBLIC KEY-----\n", 27) == 0);
	CHECK(pem != NULL && strstr(pem, "\n-----END PUBLIC KEY-----\n") != NULL);
	jwk = json_object_get(res, "jwk");
	CHECK_EQ_STR(itest_str(jwk, "kty"), "EC");
	CHECK_EQ_STR(itest_str(jwk, "crv"), "P-256");
	CHECK_EQ_STR(itest_str(jwk, "kid"), "a.example/sign/2");
	CHECK_EQ_STR(itest_str(jwk, "alg"), "ES256");
	CHECK_EQ_STR(itest_str(jwk, "use"), "sig");
	CHECK(json_object_get(jwk, "d") == NULL);
	CHECK_EQ_INT(itest_b64d(itest_str(jwk, "x"), x, 32, &xl), 0);
	CHECK_EQ_INT(itest_b64d(itest_str(jwk, "y"), y, 32, &yl), 0);
	CHECK_EQ_INT(xl, 32);
	CHECK_EQ_INT(yl, 32);
	/* the JWK and the PEM are the same key */
	CHECK_EQ_INT(itest_key_point(active, point), 0);
	CHECK_MEM(point + 1, x, 32);
	CHECK_MEM(point + 33, y, 32);
	json_decref(res);
	res = NULL;

	/* explicitly by version: the active one, and the retired one (its public half stays) */
	CHECK_EQ_INT(itest_call(C, "sign.public_key", json_pack("{s:s,s:i}", "domain", "a.example", "version", 2),
				&res), 0);
	CHECK_EQ_STR(itest_str(res, "kid"), "a.example/sign/2");
	json_decref(res);
	res = NULL;
	REQUIRE((v1 = public_key("a.example", 1, &res)) != NULL);
	CHECK_EQ_STR(itest_str(res, "kid"), "a.example/sign/1");
	CHECK_EQ_INT(itest_int(res, "version"), 1);
	CHECK_EQ_STR(itest_str(res, "state"), "retired");
	CHECK_EQ_STR(itest_str(json_object_get(res, "jwk"), "kid"), "a.example/sign/1");
	json_decref(res);
	if (have_sig1) {
		CHECK_EQ_INT(itest_ossl_verify(v1, msg1, strlen(msg1), 0, sig1), 1);
		CHECK_EQ_INT(itest_ossl_verify(active, msg1, strlen(msg1), 0, sig1), 0);
	}
	/* a fresh signature verifies with the active key's PEM, not with version 1's */
	CHECK_EQ_INT(sign("a.example", "pk", 2, 0, sig, NULL, 0), 0);
	CHECK_EQ_INT(itest_ossl_verify(active, "pk", 2, 0, sig), 1);
	CHECK_EQ_INT(itest_ossl_verify(v1, "pk", 2, 0, sig), 0);

	CHECK_EQ_INT(itest_call(C, "sign.public_key", json_pack("{s:s,s:i}", "domain", "a.example", "version", 99),
				NULL), -32002);
	CHECK_EQ_INT(itest_call(C, "sign.public_key", json_pack("{s:s,s:s}", "domain", "a.example", "version", "2"),
				NULL), -32602);
	CHECK_EQ_INT(itest_call(C, "sign.public_key", dom("c.example"), NULL), -32002);
	EVP_PKEY_free(active);
	EVP_PKEY_free(v1);
}

static int suite_methods(void)
{
	RUN(status);
	RUN(list_before_init);
	RUN(uninitialised_domain);
	RUN(domain_init);
	RUN(domain_list_show);
	RUN(sign_data_and_digest);
	RUN(sign_many_pipelined);
	RUN(sign_errors);
	RUN(verify_method);
	RUN(rotate);
	RUN(retire);
	RUN(public_key_method);
	return test_summary("integration-methods");
}

/* ======================================================================= */
/* malformed input                                                          */
/* ======================================================================= */

/* Sends one raw line; checks its code and that the connection still serves. */
static int raw_line(const char *line, size_t len, int expect)
{
	json_t *resp = NULL;
	int code = itest_raw(C, line, len, &resp);

	if (code != expect)
		printf("  # %.60s... gave %d (%s), expected %d\n", line, code, C->error_message, expect);
	json_decref(resp);
	return code == expect && itest_alive(C);
}

#define RAW(s, expect) raw_line((s), sizeof(s) - 1, (expect))
#define RAW_RESP(s, resp) itest_raw(C, (s), sizeof(s) - 1, (resp))

TEST(invalid_json)
{
	json_t *resp = NULL;

	REQUIRE(fresh());
	CHECK(RAW("{\n", -32700));
	CHECK(RAW("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"vault.status\"\n", -32700));
	CHECK(RAW("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"vault.status\"}}\n", -32700));
	CHECK(RAW("hello\n", -32700));
	/* a parse error carries id null */
	CHECK_EQ_INT(itest_raw(C, "{]\n", 3, &resp), -32700);
	CHECK(json_is_null(json_object_get(resp, "id")));
	CHECK_EQ_STR(C->error_name, "MCX_ERR_PARSE");
	json_decref(resp);
}

TEST(not_an_object)
{
	REQUIRE(fresh());
	CHECK(RAW("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"vault.status\"}]\n", -32600));
	CHECK(RAW("[]\n", -32600));
	CHECK(RAW("42\n", -32600));
	CHECK(RAW("\"vault.status\"\n", -32600));
	CHECK(RAW("null\n", -32600));
	CHECK(RAW("true\n", -32600));
}

TEST(bad_envelope)
{
	json_t *resp = NULL;

	REQUIRE(fresh());
	CHECK(RAW("{\"id\":1,\"method\":\"vault.status\"}\n", -32600));
	CHECK(RAW("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"vault.status\"}\n", -32600));
	CHECK(RAW("{\"jsonrpc\":2.0,\"id\":1,\"method\":\"vault.status\"}\n", -32600));
	CHECK(RAW("{\"jsonrpc\":\"2.0\",\"id\":1}\n", -32600));
	CHECK(RAW("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}\n", -32600));
	CHECK(RAW("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"vault.status\"}\n", -32600));
	CHECK(RAW("{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"vault.status\"}\n", -32600));
	/* a notification is neither answered (JSON-RPC 2.0 section 4.1) nor
	 * executed: the next answer on the line is the next request's */
	{
		static const char two[] = "{\"jsonrpc\":\"2.0\",\"method\":\"domain.init\",\"params\":{\"domain\":\"b.example\"}}\n"
		                          "{\"jsonrpc\":\"2.0\",\"method\":\"vault.status\"}\n"
		                          "{\"jsonrpc\":\"2.0\",\"id\":77,\"method\":\"vault.status\"}\n";
		REQUIRE(itest_send_all(C->fd, two, sizeof(two) - 1) == 0);
		resp = itest_response(C, 5000);
		CHECK(resp != NULL && json_integer_value(json_object_get(resp, "id")) == 77);
		json_decref(resp);
		resp = NULL;
	}
	CHECK_EQ_INT(itest_call(C, "domain.show", dom("b.example"), &resp), 0);
	CHECK(json_is_false(json_object_get(resp, "initialized")));
	json_decref(resp);
	resp = NULL;
	/* ids: a string and null are echoed */
	CHECK_EQ_INT(RAW_RESP("{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"vault.status\"}\n", &resp), 0);
	CHECK_EQ_STR(itest_str(resp, "id"), "abc");
	json_decref(resp);
	resp = NULL;
	CHECK_EQ_INT(RAW_RESP("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"vault.status\"}\n", &resp), 0);
	CHECK(json_is_null(json_object_get(resp, "id")));
	json_decref(resp);
}

TEST(bad_params)
{
	REQUIRE(fresh());
	/* positional parameters */
	CHECK(RAW("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"domain.show\",\"params\":[\"a.example\"]}\n", -32602));
	CHECK(RAW("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"domain.show\",\"params\":\"a.example\"}\n", -32602));
	/* wrong types */
	CHECK(RAW("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"domain.show\",\"params\":{\"domain\":1}}\n", -32602));
	CHECK(RAW("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"domain.show\",\"params\":{\"domain\":null}}\n", -32602));
	CHECK(RAW("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sign.public_key\","
		  "\"params\":{\"domain\":\"a.example\",\"version\":1.5}}\n", -32602));
	CHECK(RAW("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sign.sign\","
		  "\"params\":{\"domain\":\"a.example\",\"data\":[1,2]}}\n", -32602));
	/* unknown member, named in the message */
	CHECK(RAW("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"domain.show\","
		  "\"params\":{\"domain\":\"a.example\",\"domian\":\"x\"}}\n", -32602));
	CHECK_EQ_INT(itest_call(C, "sign.sign", json_pack("{s:s,s:s,s:b}", "domain", "a.example", "data", "aGVsbG8",
							  "prehashed", 1), NULL), -32602);
	CHECK(strstr(C->error_message, "prehashed") != NULL);
	CHECK_EQ_STR(C->error_name, "MCX_ERR_INVALID_PARAMS");
}

TEST(unknown_method)
{
	REQUIRE(fresh());
	CHECK(RAW("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"vault.shutdown\"}\n", -32601));
	CHECK(RAW("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\"}\n", -32601));
	CHECK(RAW("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"VAULT.STATUS\"}\n", -32601));
	CHECK_EQ_INT(itest_call(C, "key.destroy", dom("a.example"), NULL), -32601);
	CHECK_EQ_STR(C->error_name, "MCX_ERR_METHOD_NOT_FOUND");
}

TEST(invalid_utf8)
{
	REQUIRE(fresh());
	CHECK(RAW("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"vault.st\xff" "atus\"}\n", -32700));
	CHECK(RAW("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"domain.show\",\"params\":{\"domain\":\"a\xc3\x28\"}}\n",
		  -32700));
	/* an overlong encoding of '/' and a UTF-16 surrogate encoded in UTF-8 */
	CHECK(RAW("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\xc0\xaf\"}\n", -32700));
	CHECK(RAW("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\xed\xa0\x80\"}\n", -32700));
	/* a NUL inside the line */
	CHECK(raw_line("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"vault.status\"}\0\n", 50, -32700));
}

TEST(too_large_line)
{
	struct itest_conn *other = itest_connect(), *big = itest_connect();
	static const char head_text[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sign.sign\","
					"\"params\":{\"domain\":\"a.example\",\"data\":\"";
	size_t total = 2u * 1024 * 1024, chunk = 256 * 1024, sent = 0, head;
	char *line = NULL, *junk;
	size_t len;
	json_t *resp = NULL;
	double t0;

	REQUIRE(other != NULL && big != NULL);
	REQUIRE((junk = malloc(chunk)) != NULL);
	memset(junk, 'a', chunk);
	head = strlen(head_text);
	memcpy(junk, head_text, head);
	/* half a megabyte: the other client is served meanwhile */
	CHECK_EQ_INT(itest_send_all(big->fd, junk, chunk), 0);
	CHECK_EQ_INT(itest_send_all(big->fd, junk + head, chunk - head), 0);
	CHECK(itest_alive(other));
	sent = 2 * chunk - head;
	/* the rest: the daemon may close before we are done, so errors are fine */
	while (sent < total && itest_send_all(big->fd, junk + head, chunk - head) == 0)
		sent += chunk - head;
	(void)itest_send_all(big->fd, "\"}}\n", 4);
	t0 = itest_now();
	CHECK_EQ_INT(itest_code(big, resp = itest_response(big, ITEST_TIMEOUT_MS)), -32600);
	CHECK_EQ_STR(big->error_name, "MCX_ERR_REQUEST_TOO_LARGE");
	json_decref(resp);
	/* then the connection is closed */
	CHECK_EQ_INT(itest_readline(big, 5000, &line, &len), 0);
	CHECK(itest_now() - t0 < 5);
	free(line);
	CHECK(itest_alive(other));
	itest_close(big);
	itest_close(other);
	free(junk);
	REQUIRE(fresh());
	CHECK(itest_alive(C));
}

TEST(just_under_limit)
{
	/* a line of exactly max_request_bytes (1 MiB, \n included) is served */
	size_t total = 1024 * 1024, off, nb64;
	char *line;
	const char *head = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sign.sign\",\"params\":{\"domain\":\"a.example\",\"data\":\"";
	const char *tail = "\"}}\n";
	json_t *resp = NULL;

	REQUIRE(fresh());
	REQUIRE((line = malloc(total)) != NULL);
	off = strlen(head);
	memcpy(line, head, off);
	nb64 = (total - off - strlen(tail)) & ~(size_t)3;   /* whole base64 quanta */
	memset(line + off, 'A', nb64);
	memcpy(line + off + nb64, tail, 1);                 /* closing quote */
	memset(line + off + nb64 + 1, ' ', total - off - nb64 - strlen(tail));  /* JSON whitespace */
	memcpy(line + total - strlen(tail) + 1, tail + 1, strlen(tail) - 1);
	CHECK_EQ_INT(itest_raw(C, line, total, &resp), 0);
	json_decref(resp);
	free(line);
	CHECK(itest_alive(C));
}

TEST(half_line_disconnect)
{
	struct itest_conn *h;

	REQUIRE((h = itest_connect()) != NULL);
	CHECK_EQ_INT(itest_send_all(h->fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"meth", 29), 0);
	itest_close(h);
	REQUIRE((h = itest_connect()) != NULL);
	CHECK_EQ_INT(itest_send_all(h->fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"vault.status\"}", 48), 0);
	shutdown(h->fd, SHUT_WR);   /* no newline, then EOF */
	itest_close(h);
	REQUIRE(fresh());
	CHECK(itest_alive(C));
}

TEST(pipelined)
{
	/* 60 requests in one write: answers in order, each with its own outcome */
	char *text = NULL, line[512];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int expect[60], ok = 1;

	REQUIRE(fresh());
	REQUIRE(f != NULL);
	for (int i = 0; i < 60; i++) {
		switch (i % 4) {
		case 0:
			snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"vault.status\"}\n", i);
			expect[i] = 0;
			break;
		case 1:
			snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"sign.sign\","
				 "\"params\":{\"domain\":\"a.example\",\"data\":\"cGlwZQ\"}}\n", i);
			expect[i] = 0;
			break;
		case 2:
			snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"nope\"}\n", i);
			expect[i] = -32601;
			break;
		default:
			snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"domain.show\","
				 "\"params\":{\"domain\":\"c.example\"}}\n", i);
			expect[i] = -32002;
			break;
		}
		fputs(line, f);
	}
	fclose(f);
	CHECK_EQ_INT(itest_send_all(C->fd, text, len), 0);
	free(text);
	for (int i = 0; i < 60 && ok; i++) {
		json_t *resp = itest_response(C, ITEST_TIMEOUT_MS);
		int code = itest_code(C, resp);
		if (itest_int(resp, "id") != i || code != expect[i]) {
			printf("  # response %d: id %lld code %d, expected code %d\n", i, itest_int(resp, "id"), code,
			       expect[i]);
			ok = 0;
		}
		json_decref(resp);
	}
	CHECK(ok);
	CHECK(itest_alive(C));
}

/*
 * Runs of pipelined sign.sign lines are answered in parallel (vault/daemon/
 * server.c, connection_answer_parallel) and must look exactly like answers in
 * turn: in request order, each with its own outcome (a bad line inside a run,
 * odd spacing and member order), and a key.rotate between two runs still
 * separates them — every signature before it by the old key, every one after
 * by the new.  A "method":"sign.sign" nested in params is not a sign.sign.
 */
TEST(pipelined_sign_runs)
{
	enum { N = 24, ROTATE = 11 };
	char *text = NULL, line[512], kid_before[128] = "", kid_after[128] = "";
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int expect[N], ok = 1, signed_before = 0, signed_after = 0;

	REQUIRE(fresh());
	REQUIRE(f != NULL);
	for (int i = 0; i < N; i++) {
		expect[i] = 0;
		if (i == 9 || i == 21) {
			/* a notification inside a run: signed, never answered
			 * (JSON-RPC 2.0 section 4.1); the next answer is i + 1's */
			fputs("{\"jsonrpc\":\"2.0\",\"method\":\"sign.sign\","
			      "\"params\":{\"domain\":\"a.example\",\"data\":\"cGlwZQ\"}}\n", f);
			expect[i] = 1;
			continue;
		}
		if (i == ROTATE)
			snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"key.rotate\","
				 "\"params\":{\"domain\":\"a.example\",\"purpose\":\"sign\"}}\n", i);
		else if (i == 3 || i == 17)
			snprintf(line, sizeof(line), " { \"id\" : %d , \"params\" : { \"data\" : \"cGlwZQ\", "
				 "\"domain\" : \"a.example\" } , \"method\" : \"sign.sign\" , \"jsonrpc\" : \"2.0\" }\n", i);
		else if (i == 5 || i == 19) {
			snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"sign.sign\","
				 "\"params\":{\"domain\":\"a.example\"}}\n", i);
			expect[i] = -32602;
		} else if (i == 7) {
			snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"sign.sign\","
				 "\"params\":{\"domain\":\"nowhere.example\",\"data\":\"cGlwZQ\"}}\n", i);
			expect[i] = -32002;
		} else if (i == 15) {
			snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"vault.status\","
				 "\"params\":{\"x\":{\"method\":\"sign.sign\"}}}\n", i);
			expect[i] = -32602;
		} else
			snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"sign.sign\","
				 "\"params\":{\"domain\":\"a.example\",\"data\":\"cGlwZQ\"}}\n", i);
		fputs(line, f);
	}
	fclose(f);
	CHECK_EQ_INT(itest_send_all(C->fd, text, len), 0);
	free(text);
	for (int i = 0; i < N && ok; i++) {
		json_t *resp;
		if (expect[i] == 1)
			continue;   /* the notification's place: no answer */
		resp = itest_response(C, ITEST_TIMEOUT_MS);
		int code = itest_code(C, resp);
		const char *kid = itest_str(json_object_get(resp, "result"), "kid");
		if (itest_int(resp, "id") != i || code != expect[i]) {
			printf("  # response %d: id %lld code %d, expected code %d\n", i, itest_int(resp, "id"), code,
			       expect[i]);
			ok = 0;
		} else if (code == 0 && i != ROTATE) {
			char *want = i < ROTATE ? kid_before : kid_after;
			if (want[0] == '\0' && kid != NULL)
				snprintf(want, 128, "%s", kid);
			if (kid == NULL || strcmp(kid, want) != 0) {
				printf("  # response %d: kid %s, the run's first was %s\n", i, kid ? kid : "(none)", want);
				ok = 0;
			}
			*(i < ROTATE ? &signed_before : &signed_after) += 1;
		}
		json_decref(resp);
	}
	CHECK(ok);
	CHECK_EQ_INT(signed_before, ROTATE - 3);              /* 5, 7 failed; 9 unanswered */
	CHECK_EQ_INT(signed_after, N - ROTATE - 1 - 3);       /* 15, 19 failed; 21 unanswered */
	CHECK(kid_before[0] != '\0' && kid_after[0] != '\0' && strcmp(kid_before, kid_after) != 0);
	CHECK(itest_alive(C));
}

TEST(empty_and_crlf_lines)
{
	json_t *resp = NULL;
	int code;

	REQUIRE(fresh());
	/* an empty line is not valid JSON: it gets an answer (not silence) */
	code = itest_raw(C, "\n", 1, &resp);
	CHECK(code == -32700 || code == -32600);
	json_decref(resp);
	CHECK(itest_alive(C));
}

static int suite_malformed(void)
{
	RUN(invalid_json);
	RUN(not_an_object);
	RUN(bad_envelope);
	RUN(bad_params);
	RUN(unknown_method);
	RUN(invalid_utf8);
	RUN(too_large_line);
	RUN(just_under_limit);
	RUN(half_line_disconnect);
	RUN(pipelined);
	RUN(pipelined_sign_runs);
	RUN(empty_and_crlf_lines);
	return test_summary("integration-malformed");
}

/* ======================================================================= */
/* slow and stalled clients                                                 */
/* ======================================================================= */

TEST(stalled_clients)
{
	struct itest_conn *half, *deaf;
	static const char req[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sign.sign\","
				  "\"params\":{\"domain\":\"a.example\",\"data\":\"c3RhbGw\"}}\n";
	size_t reqlen = sizeof(req) - 1, written = 0, partial = 0, answered = 0, lines;
	double t0, elapsed, deadline;
	int flags, sign_ok = 0;

	REQUIRE((half = itest_connect()) != NULL);
	REQUIRE((deaf = itest_connect()) != NULL);
	REQUIRE(fresh());
	/* one client sends half a line and stalls */
	CHECK_EQ_INT(itest_send_all(half->fd, req, reqlen / 2), 0);
	/* another pipelines requests and never reads, until its socket is full */
	flags = fcntl(deaf->fd, F_GETFL);
	REQUIRE(fcntl(deaf->fd, F_SETFL, flags | O_NONBLOCK) == 0);
	t0 = itest_now();
	while (itest_now() - t0 < 10) {
		ssize_t n = send(deaf->fd, req + partial, reqlen - partial, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* let the daemon drain what it can, then try once more */
			struct pollfd p = { .fd = deaf->fd, .events = POLLOUT };
			if (poll(&p, 1, 300) == 0)
				break;
			continue;
		}
		if (n <= 0)
			break;
		partial += (size_t)n;
		if (partial == reqlen) {
			written++;
			partial = 0;
		}
	}
	printf("  # the non-reading client got %zu requests in before its socket filled up\n", written);
	CHECK(written > 100);

	/* meanwhile, 100 sign requests of another client complete promptly */
	t0 = itest_now();
	for (int i = 0; i < 100; i++)
		sign_ok += itest_call(C, "sign.sign", json_pack("{s:s,s:s}", "domain", "a.example", "data", "ZmFzdA"),
				      NULL) == 0;
	elapsed = itest_now() - t0;
	printf("  # 100 signatures in %.2f s\n", elapsed);
	CHECK_EQ_INT(sign_ok, 100);
	CHECK(elapsed < 5.0);
	/* and new connections are accepted */
	{
		struct itest_conn *n = itest_connect();
		CHECK(itest_alive(n));
		itest_close(n);
	}

	/* the non-reading client, once it reads, gets every answer in order */
	lines = written + (partial > 0);
	deadline = itest_now() + 30;
	while (answered < lines && itest_now() < deadline) {
		char *l = NULL;
		int r;

		if (partial > 0) {
			ssize_t n = send(deaf->fd, req + partial, reqlen - partial, MSG_NOSIGNAL);
			if (n > 0 && (partial += (size_t)n) == reqlen)
				partial = 0;
		}
		r = itest_readline(deaf, 200, &l, NULL);
		if (r == 1) {
			json_t *resp = json_loads(l, 0, NULL);
			if (itest_code(deaf, resp) == 0)
				answered++;
			json_decref(resp);
		}
		free(l);
		if (r == 0)
			break;
	}
	CHECK_EQ_INT(answered, lines);
	/* the half line is still pending; completing it gets its answer */
	CHECK_EQ_INT(itest_send_all(half->fd, req + reqlen / 2, reqlen - reqlen / 2), 0);
	{
		json_t *resp = itest_response(half, ITEST_TIMEOUT_MS);
		CHECK_EQ_INT(itest_code(half, resp), 0);
		json_decref(resp);
	}
	itest_close(half);
	itest_close(deaf);
	CHECK(itest_alive(C));
}

static int suite_slow(void)
{
	RUN(stalled_clients);
	return test_summary("integration-slow");
}

TEST(idle_timeout)
{
	struct itest_conn *idle, *busy;
	char *line = NULL;
	double t0, closed_after = -1;
	int r, busy_ok = 1;

	REQUIRE((idle = itest_connect()) != NULL);
	REQUIRE((busy = itest_connect()) != NULL);
	CHECK(itest_alive(idle));
	CHECK(itest_alive(busy));
	t0 = itest_now();
	/* the idle one is closed after ~2-3 s; one that talks every second is not */
	while (itest_now() - t0 < 5.5) {
		if (closed_after < 0) {
			r = itest_readline(idle, 500, &line, NULL);
			free(line);
			line = NULL;
			if (r == 0)
				closed_after = itest_now() - t0;
			else if (r == 1)
				printf("  # unexpected line on the idle connection\n");
		} else {
			usleep(500 * 1000);
		}
		if (busy_ok && !itest_alive(busy))
			busy_ok = 0;
	}
	printf("  # idle connection closed after %.2f s\n", closed_after);
	CHECK(closed_after >= 1.5);
	CHECK(closed_after <= 4.5);
	CHECK(busy_ok);
	itest_close(idle);
	itest_close(busy);
}

static int suite_idle(void)
{
	RUN(idle_timeout);
	return test_summary("integration-idle");
}

/* ======================================================================= */
/* concurrency                                                              */
/* ======================================================================= */

#define CLIENTS 50
#define ROUNDS 4

static pthread_mutex_t counter_lock = PTHREAD_MUTEX_INITIALIZER;
static int good_calls, bad_calls;

static void *client_thread(void *arg)
{
	int n = (int)(intptr_t)arg, good = 0, bad = 0;
	struct mcxvault *v = NULL;
	struct mcxvault_error e;

	if (mcxvault_connect(NULL, &v) != 0) {
		bad = 2 * ROUNDS;
		goto out;
	}
	for (int i = 0; i < ROUNDS; i++) {
		char msg[64], *kid = NULL, *found = NULL;
		uint8_t sig[MCXVAULT_SIGNATURE_LEN];
		int valid = 0;

		snprintf(msg, sizeof(msg), "client %d round %d", n, i);
		if (mcxvault_sign(v, "a.example", msg, strlen(msg), 0, &kid, sig, &e) != 0) {
			printf("  # client %d sign: %s\n", n, e.message);
			bad += 2;
			continue;
		}
		good++;
		if (mcxvault_verify(v, "a.example", kid, msg, strlen(msg), 0, sig, &valid, &found, &e) == 0 &&
		    valid && found != NULL && strcmp(found, kid) == 0)
			good++;
		else
			bad++;
		mcxvault_free(kid);
		mcxvault_free(found);
	}
out:
	mcxvault_close(v);
	pthread_mutex_lock(&counter_lock);
	good_calls += good;
	bad_calls += bad;
	pthread_mutex_unlock(&counter_lock);
	return NULL;
}

TEST(fifty_clients)
{
	pthread_t threads[CLIENTS];
	int started = 0;
	double t0 = itest_now();

	for (int i = 0; i < CLIENTS; i++)
		if (pthread_create(&threads[i], NULL, client_thread, (void *)(intptr_t)i) == 0)
			started++;
		else
			break;
	for (int i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	printf("  # %d clients, %d calls in %.2f s\n", started, good_calls + bad_calls, itest_now() - t0);
	CHECK_EQ_INT(started, CLIENTS);
	CHECK_EQ_INT(bad_calls, 0);
	CHECK_EQ_INT(good_calls, CLIENTS * ROUNDS * 2);
	REQUIRE(fresh());
	CHECK(itest_alive(C));
}

static int suite_concurrent(void)
{
	RUN(fifty_clients);
	return test_summary("integration-concurrent");
}

/* ======================================================================= */
/* access control (run as another user by test_access.sh)                   */
/* ======================================================================= */

/* Every method but vault.status, on domain d, with valid-looking params. */
static void every_method_denied(const char *d, int include_lists)
{
	static const uint8_t zero_sig[64];
	int valid;

	CHECK_EQ_INT(itest_call(C, "domain.init", dom(d), NULL), -32001);
	CHECK_EQ_STR(C->error_name, "MCX_ERR_PERMISSION_DENIED");
	if (include_lists)
		CHECK_EQ_INT(itest_call(C, "domain.list", NULL, NULL), -32001);
	CHECK_EQ_INT(itest_call(C, "domain.show", dom(d), NULL), -32001);
	CHECK_EQ_INT(itest_call(C, "key.list", dom(d), NULL), -32001);
	CHECK_EQ_INT(itest_call(C, "key.rotate", json_pack("{s:s,s:s}", "domain", d, "purpose", "sign"), NULL), -32001);
	CHECK_EQ_INT(itest_call(C, "key.retire", json_pack("{s:s,s:s,s:i}", "domain", d, "purpose", "sign",
							   "version", 1), NULL), -32001);
	CHECK_EQ_INT(itest_call(C, "sign.sign", json_pack("{s:s,s:s}", "domain", d, "data", "aGVsbG8"), NULL), -32001);
	CHECK_EQ_INT(verify(d, NULL, "hello", 5, 0, zero_sig, 64, &valid, NULL, 0), -32001);
	CHECK_EQ_INT(itest_call(C, "sign.public_key", dom(d), NULL), -32001);
}

TEST(unknown_caller)
{
	json_t *res = NULL, *caller;

	REQUIRE(fresh());
	CHECK_EQ_INT(itest_call(C, "vault.status", NULL, &res), 0);
	caller = json_object_get(res, "caller");
	CHECK_EQ_INT(itest_int(caller, "uid"), getuid());
	CHECK_EQ_INT(json_array_size(json_object_get(caller, "roles")), 0);
	CHECK_EQ_INT(json_array_size(json_object_get(res, "domains")), 0);
	json_decref(res);
	every_method_denied("a.example", 1);
	every_method_denied("b.example", 1);
	/* even for a domain that does not exist: no information leaks */
	CHECK_EQ_INT(itest_call(C, "domain.show", dom("c.example"), NULL), -32001);
	CHECK(itest_alive(C));
}

TEST(limited_caller)
{
	json_t *res = NULL, *caller;
	uint8_t sig[64];
	char kid[64];
	int valid = -1;

	REQUIRE(fresh());
	CHECK_EQ_INT(itest_call(C, "vault.status", NULL, &res), 0);
	caller = json_object_get(res, "caller");
	CHECK(json_array_has_string(json_object_get(caller, "roles"), "signer"));
	CHECK(!json_array_has_string(json_object_get(caller, "roles"), "admin"));
	CHECK_EQ_INT(json_array_size(json_object_get(res, "domains")), 1);
	CHECK(json_array_has_string(json_object_get(res, "domains"), "b.example"));
	json_decref(res);
	res = NULL;
	/* domain.list shows only b.example */
	CHECK_EQ_INT(itest_call(C, "domain.list", NULL, &res), 0);
	CHECK_EQ_INT(json_array_size(json_object_get(res, "domains")), 1);
	CHECK(list_entry(res, "b.example") != NULL);
	CHECK(list_entry(res, "a.example") == NULL);
	json_decref(res);
	/* a.example: denied for everything */
	every_method_denied("a.example", 0);
	/* b.example: what its roles allow */
	CHECK_EQ_INT(itest_call(C, "domain.show", dom("b.example"), NULL), 0);
	CHECK_EQ_INT(itest_call(C, "key.list", dom("b.example"), NULL), 0);
	CHECK_EQ_INT(sign("b.example", "limited", 7, 0, sig, kid, sizeof(kid)), 0);
	CHECK_EQ_STR(kid, "b.example/sign/1");
	CHECK_EQ_INT(verify("b.example", NULL, "limited", 7, 0, sig, 64, &valid, NULL, 0), 0);
	CHECK_EQ_INT(valid, 1);
	CHECK_EQ_INT(itest_call(C, "sign.public_key", dom("b.example"), NULL), 0);
	/* but no admin methods */
	CHECK_EQ_INT(itest_call(C, "key.rotate", json_pack("{s:s,s:s}", "domain", "b.example", "purpose", "sign"),
				NULL), -32001);
	CHECK_EQ_INT(itest_call(C, "domain.init", dom("b.example"), NULL), -32001);
	CHECK(itest_alive(C));
}

TEST(signer_caller)
{
	uint8_t sig[64];
	char kid[64];

	REQUIRE(fresh());
	CHECK_EQ_INT(sign("a.example", "signer", 6, 0, sig, kid, sizeof(kid)), 0);
	CHECK_EQ_INT(itest_call(C, "domain.list", NULL, NULL), 0);
	CHECK_EQ_INT(itest_call(C, "key.rotate", json_pack("{s:s,s:s}", "domain", "a.example", "purpose", "sign"),
				NULL), -32001);
	CHECK_EQ_INT(itest_call(C, "key.retire", json_pack("{s:s,s:s,s:i}", "domain", "a.example", "purpose", "sign",
							   "version", 1), NULL), -32001);
	CHECK_EQ_INT(itest_call(C, "domain.init", dom("a.example"), NULL), -32001);
}

static int usage(void)
{
	fprintf(stderr, "usage: itest_rpc methods|malformed|slow|idle|concurrent|unknown|limited|signer\n");
	return 2;
}

int main(int argc, char **argv)
{
	int ret;

	if (argc != 2)
		return usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(argv[1], "methods") == 0)
		ret = suite_methods();
	else if (strcmp(argv[1], "malformed") == 0)
		ret = suite_malformed();
	else if (strcmp(argv[1], "slow") == 0)
		ret = suite_slow();
	else if (strcmp(argv[1], "idle") == 0)
		ret = suite_idle();
	else if (strcmp(argv[1], "concurrent") == 0)
		ret = suite_concurrent();
	else if (strcmp(argv[1], "unknown") == 0) {
		RUN(unknown_caller);
		ret = test_summary("integration-unknown-caller");
	} else if (strcmp(argv[1], "limited") == 0) {
		RUN(limited_caller);
		ret = test_summary("integration-limited-caller");
	} else if (strcmp(argv[1], "signer") == 0) {
		RUN(signer_caller);
		ret = test_summary("integration-signer-caller");
	} else
		return usage();
	itest_close(C);
	return ret;
}
