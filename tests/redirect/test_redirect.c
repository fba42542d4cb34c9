/*
 * mcxvault — redirect.* and token.* over the real sockets of three real
 * vaultd processes, each on its own throw-away SoftHSM token
 * (tests/kms/kms_fixture.c), as three security domains:
 *
 *   A  a.example (kms.a.example)  trusts B                 — the home domain under test
 *   B  b.example (kms.b.example)  trusts A and C           — signs redirect responses and tokens
 *   C  c.example (kms.c.example)  trusts A                 — a signer A does not trust
 *
 * A's redirect policy is rewritten and reloaded with SIGHUP for each of the
 * five TR 33.880 policies alone and in combination.  Signatures the vault
 * returns are also checked with OpenSSL against the served public key.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "mcxvault.h"
#include "mcx/util.h"
#include "tests/lib/vault_fixture.h"
#include "tests/lib/rpc_checks.h"
#include "tests/test.h"

#define A_DOM "a.example"
#define B_DOM "b.example"
#define C_DOM "c.example"
#define A_KMS "kms.a.example"
#define B_KMS "kms.b.example"
#define C_KMS "kms.c.example"
#define SDRR_TYP "mcx-sdrr+jwt"

static struct test_vault vault_a, vault_b, vault_c;
static struct mcxvault *va, *vb, *vc;
static char b_pem[512];

/* ---- RPC helpers ------------------------------------------------------------ */

/* Calls method with params (stolen); prints unexpected errors. */
/* ---- setting up the three domains --------------------------------------------- */

/* importer trusts owner's domain: its KMS certificate with its cert key (which
 * verifies it) and its token key (its responses and ID tokens); pem_out gets
 * the token key. */
static int trust(struct mcxvault *importer, const char *importer_domain, struct mcxvault *owner, const char *owner_domain,
		 char *pem_out, size_t pem_size)
{
	json_t *cert = NULL, *key = NULL, *token = NULL, *res = NULL;
	int r = -1;

	if (rpc(owner, "kms.certificate", json_pack("{s:s}", "domain", owner_domain), &cert) == 0 &&
	    rpc(owner, "sign.public_key", json_pack("{s:s, s:s}", "domain", owner_domain, "purpose", "cert"), &key) == 0 &&
	    rpc(owner, "sign.public_key", json_pack("{s:s, s:s}", "domain", owner_domain, "purpose", "token"), &token) == 0 &&
	    rpc(importer, "external.import",
		json_pack("{s:s, s:s, s:s, s:s}", "domain", importer_domain, "certificate", str(cert, "xml"), "signing_key",
			  str(key, "pem"), "token_key", str(token, "pem")),
		&res) == 0) {
		if (pem_out != NULL)
			snprintf(pem_out, pem_size, "%s", str(token, "pem"));
		r = 0;
	}
	json_decref(cert);
	json_decref(key);
	json_decref(token);
	json_decref(res);
	return r;
}

struct policy {
	int allow, report, require_signed, unknown_certs, hold;
	int max_age;
};
static const struct policy DEFAULTS = { 1, 1, 1, 0, 0, 300 };

static int count_reloads(void)
{
	char line[1024];
	int n = 0;
	FILE *f = fopen(vault_a.log, "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, "configuration reloaded") != NULL)
			n++;
	fclose(f);
	return n;
}

static void a_domain_text(const struct policy *p, char *out, size_t size)
{
	snprintf(out, size,
		 "{ name = \"" A_DOM "\"; kms_uri = \"" A_KMS "\";\n"
		 "    redirect = { allow_redirects = %s; report_redirects = %s; require_signed = %s;\n"
		 "                 request_unknown_certs = %s; hold_until_accepted = %s; max_age = %d; };\n"
		 "    token_max_lifetime = 600; }",
		 p->allow ? "true" : "false", p->report ? "true" : "false", p->require_signed ? "true" : "false",
		 p->unknown_certs ? "true" : "false", p->hold ? "true" : "false", p->max_age);
}

/* Rewrites A's domain group and reloads A with SIGHUP; 0 once the reload is logged. */
static int set_policy(const struct policy *p)
{
	char *text = NULL, *start, *end, domain[1024], tmp[160];
	long len;
	FILE *f = fopen(vault_a.config, "r");
	int before = count_reloads(), rc = -1;
	struct timespec nap = { 0, 10 * 1000 * 1000 };

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0 ||
	    (text = calloc(1, (size_t)len + 1)) == NULL || fread(text, 1, (size_t)len, f) != (size_t)len)
		goto out;
	/* the domains list is the last thing test_vault_setup writes: "domains = (\n  ...\n);\n" */
	if ((start = strstr(text, "domains = (\n  ")) == NULL || (end = strstr(start, "\n);")) == NULL)
		goto out;
	start += strlen("domains = (\n  ");
	a_domain_text(p, domain, sizeof(domain));
	snprintf(tmp, sizeof(tmp), "%s.new", vault_a.config);
	{
		FILE *o = fopen(tmp, "w");
		if (o == NULL)
			goto out;
		fprintf(o, "%.*s%s%s", (int)(start - text), text, domain, end);
		if (fclose(o) != 0 || rename(tmp, vault_a.config) != 0)
			goto out;
	}
	if (kill(vault_a.pid, SIGHUP) != 0)
		goto out;
	for (int i = 0; i < 500 && rc != 0; i++) {
		if (count_reloads() > before)
			rc = 0;
		else
			nanosleep(&nap, NULL);
	}
out:
	if (f != NULL)
		fclose(f);
	free(text);
	if (rc != 0)
		printf("  set_policy: A did not reload\n");
	return rc;
}

/* ---- redirect responses --------------------------------------------------------- */

static json_t *list2(const char *x, const char *y)
{
	json_t *l = json_array();

	json_array_append_new(l, json_string(x));
	if (y != NULL)
		json_array_append_new(l, json_string(y));
	return l;
}

/* A response signed by domain of v; NULL on failure.  Lists stolen. */
static char *sign_response(struct mcxvault *v, const char *domain, const char *receiving_id, json_t *initiating,
			   json_t *receiving)
{
	json_t *res = NULL;
	char *out = NULL;

	if (rpc(v, "redirect.sign",
		json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "domain", domain, "originating_id", "sip:alice@a.example",
			  "receiving_id", receiving_id, "originating_kms_uri", A_KMS, "acceptable_initiating_kms",
			  initiating, "acceptable_receiving_kms", receiving),
		&res) == 0)
		out = strdup(str(res, "response"));
	json_decref(res);
	return out;
}

/* B's response listing A and B as acceptable both ways. */
static char *b_response(const char *receiving_id)
{
	return sign_response(vb, B_DOM, receiving_id, list2(A_KMS, B_KMS), list2(B_KMS, A_KMS));
}

static json_t *evaluate(const char *response)
{
	json_t *res = NULL;

	if (rpc(va, "redirect.evaluate", json_pack("{s:s, s:s}", "domain", A_DOM, "response", response), &res) != 0)
		return NULL;
	return res;
}

static int has_reason(json_t *res, const char *needle)
{
	size_t i;
	json_t *r;

	json_array_foreach(json_object_get(res, "reasons"), i, r)
		if (strstr(json_string_value(r), needle) != NULL)
			return 1;
	return 0;
}

static int list_is(json_t *res, const char *key, const char *x, const char *y)
{
	json_t *l = json_object_get(res, key);
	size_t n = (x != NULL) + (y != NULL);

	if (!json_is_array(l) || json_array_size(l) != n)
		return 0;
	if (x != NULL && strcmp(json_string_value(json_array_get(l, 0)), x) != 0)
		return 0;
	if (y != NULL && strcmp(json_string_value(json_array_get(l, 1)), y) != 0)
		return 0;
	return 1;
}

#define CHECK_DECISION(res, d) CHECK_EQ_STR(str((res), "decision"), (d))

/* base64url of a C string. */
static char *b64s(const char *s)
{
	return mcx_base64url_string(s, strlen(s));
}

/* header.payload.signature from raw parts (signature may be NULL: empty). */
static char *compact(const char *header, const char *payload, const uint8_t *sig, size_t sig_len)
{
	char *h = b64s(header), *p = b64s(payload), *s = sig_len ? mcx_base64url_string(sig, sig_len) : strdup("");
	size_t n = strlen(h) + strlen(p) + strlen(s) + 3;
	char *out = malloc(n);

	snprintf(out, n, "%s.%s.%s", h, p, s);
	free(h);
	free(p);
	free(s);
	return out;
}

/* The decoded payload of a compact JWS as text (malloc'ed). */
static char *payload_of(const char *jws)
{
	const char *d1 = strchr(jws, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	struct mcx_buf *b = mcx_buf_new(65536);
	char *out = NULL;

	if (d2 != NULL && mcx_base64url_decode(b, d1 + 1, (size_t)(d2 - d1 - 1)) == 0 && mcx_buf_put_u8(b, 0) == 0)
		out = strdup((const char *)mcx_buf_ptr(b));
	mcx_buf_free(b);
	return out;
}

/* An unsecured (alg none) response with the given iat offset and lists. */
static char *unsigned_response(long long iat_offset, const char *receiving_id, json_t *initiating, json_t *receiving)
{
	json_t *p = json_pack("{s:s, s:I, s:s, s:s, s:s, s:o, s:o}", "response_type", "security-domain-redirect", "iat",
			      (json_int_t)(mcx_time_now() + iat_offset), "originating_id", "sip:alice@a.example",
			      "receiving_id", receiving_id, "originating_kms_uri", A_KMS, "acceptable_initiating_kms",
			      initiating, "acceptable_receiving_kms", receiving);
	char *text = json_dumps(p, JSON_COMPACT), *out;

	out = compact("{\"alg\":\"none\",\"typ\":\"" SDRR_TYP "\"}", text, NULL, 0);
	free(text);
	json_decref(p);
	return out;
}

/* ---- tests ---------------------------------------------------------------------- */

TEST(sign_payload_and_openssl)
{
	char *resp = b_response("sip:bob@b.example"), *payload = NULL;
	json_t *p = NULL, *h = NULL;
	const char *d1, *d2;
	struct mcx_buf *hb = mcx_buf_new(4096), *sb = mcx_buf_new(128);
	BIO *bio = NULL;
	EVP_PKEY *key = NULL;
	EVP_MD_CTX *md = NULL;
	ECDSA_SIG *sig = NULL;
	unsigned char *der = NULL;
	int der_len;

	REQUIRE(resp != NULL);
	payload = payload_of(resp);
	REQUIRE(payload != NULL && (p = json_loads(payload, JSON_REJECT_DUPLICATES, NULL)) != NULL);
	/* every information element of the TR 33.880 Security Domain Redirect Response */
	CHECK_EQ_STR(str(p, "response_type"), "security-domain-redirect");
	CHECK(json_is_integer(json_object_get(p, "iat")) &&
	      llabs((long long)(json_integer_value(json_object_get(p, "iat")) - mcx_time_now())) < 5);
	CHECK_EQ_STR(str(p, "originating_id"), "sip:alice@a.example");
	CHECK_EQ_STR(str(p, "receiving_id"), "sip:bob@b.example");
	CHECK_EQ_STR(str(p, "originating_kms_uri"), A_KMS);
	CHECK_EQ_STR(str(p, "iss"), B_KMS);
	CHECK(str(p, "jti") != NULL);
	CHECK(json_array_size(json_object_get(p, "acceptable_initiating_kms")) == 2);
	CHECK(json_array_size(json_object_get(p, "acceptable_receiving_kms")) == 2);
	/* header: ES256, typ, kid; the signature verifies with OpenSSL and B's PEM */
	d1 = strchr(resp, '.');
	d2 = strchr(d1 + 1, '.');
	REQUIRE(mcx_base64url_decode(hb, resp, (size_t)(d1 - resp)) == 0 && mcx_buf_put_u8(hb, 0) == 0);
	REQUIRE((h = json_loads((const char *)mcx_buf_ptr(hb), 0, NULL)) != NULL);
	CHECK_EQ_STR(str(h, "alg"), "ES256");
	CHECK_EQ_STR(str(h, "typ"), SDRR_TYP);
	CHECK_EQ_STR(str(h, "kid"), B_DOM "/token/1");
	REQUIRE(mcx_base64url_decode(sb, d2 + 1, strlen(d2 + 1)) == 0 && mcx_buf_len(sb) == 64);
	bio = BIO_new_mem_buf(b_pem, -1);
	key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	REQUIRE(key != NULL);
	sig = ECDSA_SIG_new();
	ECDSA_SIG_set0(sig, BN_bin2bn(mcx_buf_ptr(sb), 32, NULL), BN_bin2bn(mcx_buf_ptr(sb) + 32, 32, NULL));
	der_len = i2d_ECDSA_SIG(sig, &der);
	md = EVP_MD_CTX_new();
	CHECK(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
	      EVP_DigestVerify(md, der, (size_t)der_len, (const unsigned char *)resp, (size_t)(d2 - resp)) == 1);
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	ECDSA_SIG_free(sig);
	EVP_PKEY_free(key);
	BIO_free(bio);
	mcx_buf_free(hb);
	mcx_buf_free(sb);
	json_decref(h);
	json_decref(p);
	free(payload);
	free(resp);
}

TEST(sign_refusals)
{
	json_t *many = json_array();
	char long_uri[1100];

	/* A does not trust C: a response of A may not list kms.c.example */
	CHECK(expect_error(va, "redirect.sign",
			   json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "domain", A_DOM, "originating_id", "sip:x@a",
				     "receiving_id", "sip:y@c", "originating_kms_uri", A_KMS, "acceptable_initiating_kms",
				     list2(A_KMS, NULL), "acceptable_receiving_kms", list2(A_KMS, C_KMS)),
			   -32005, C_KMS));
	CHECK(expect_error(va, "redirect.sign",
			   json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "domain", A_DOM, "originating_id", "sip:x@a",
				     "receiving_id", "sip:y@c", "originating_kms_uri", "kms.nowhere.example",
				     "acceptable_initiating_kms", list2(A_KMS, NULL), "acceptable_receiving_kms",
				     list2(A_KMS, NULL)),
			   -32005, "kms.nowhere.example"));
	for (int i = 0; i < 65; i++) {
		char u[32];
		snprintf(u, sizeof(u), "kms%d.example", i);
		json_array_append_new(many, json_string(u));
	}
	CHECK(expect_error(va, "redirect.sign",
			   json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "domain", A_DOM, "originating_id", "sip:x@a",
				     "receiving_id", "sip:y@b", "originating_kms_uri", A_KMS, "acceptable_initiating_kms",
				     many, "acceptable_receiving_kms", list2(A_KMS, NULL)),
			   -32602, "1 to 64"));
	CHECK(expect_error(va, "redirect.sign",
			   json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "domain", A_DOM, "originating_id", "sip:x@a",
				     "receiving_id", "sip:y@b", "originating_kms_uri", A_KMS, "acceptable_initiating_kms",
				     list2(A_KMS, A_KMS), "acceptable_receiving_kms", list2(A_KMS, NULL)),
			   -32602, "twice"));
	memset(long_uri, 'k', 1025);
	long_uri[1025] = '\0';
	CHECK(expect_error(va, "redirect.sign",
			   json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "domain", A_DOM, "originating_id", "sip:x@a",
				     "receiving_id", "sip:y@b", "originating_kms_uri", A_KMS, "acceptable_initiating_kms",
				     list2(long_uri, NULL), "acceptable_receiving_kms", list2(A_KMS, NULL)),
			   -32602, NULL));
	CHECK(expect_error(va, "redirect.sign",
			   json_pack("{s:s, s:s, s:s, s:o, s:o}", "domain", A_DOM, "originating_id", "sip:x@a",
				     "originating_kms_uri", A_KMS, "acceptable_initiating_kms", list2(A_KMS, NULL),
				     "acceptable_receiving_kms", list2(A_KMS, NULL)),
			   -32602, "receiving_id"));
}

TEST(default_policy_accept_then_replay)
{
	char *resp = NULL;
	json_t *res = NULL;

	REQUIRE(set_policy(&DEFAULTS) == 0);
	REQUIRE((resp = b_response("sip:bob1@b.example")) != NULL);
	REQUIRE((res = evaluate(resp)) != NULL);
	CHECK_EQ_STR(str(res, "signature"), "valid");
	CHECK_EQ_STR(str(res, "signer_domain"), B_DOM);
	CHECK_EQ_STR(str(res, "signer_kms_uri"), B_KMS);
	CHECK_DECISION(res, "accept");
	CHECK(list_is(res, "permitted_initiating_kms", A_KMS, B_KMS));
	CHECK(list_is(res, "permitted_receiving_kms", B_KMS, A_KMS));
	CHECK(list_is(res, "unknown_kms", NULL, NULL));
	CHECK(json_is_true(json_object_get(res, "report")));
	CHECK_EQ_STR(str(res, "receiving_id"), "sip:bob1@b.example");
	json_decref(res);
	/* the same response again: a replay */
	REQUIRE((res = evaluate(resp)) != NULL);
	CHECK_DECISION(res, "reject");
	CHECK(has_reason(res, "replayed"));
	CHECK(list_is(res, "permitted_initiating_kms", NULL, NULL));
	CHECK(json_is_false(json_object_get(res, "report")));
	json_decref(res);
	/* a second signature over another request is a different response */
	free(resp);
	REQUIRE((resp = b_response("sip:bob1@b.example")) != NULL);
	REQUIRE((res = evaluate(resp)) != NULL);
	CHECK_DECISION(res, "accept");
	json_decref(res);
	free(resp);
}

TEST(home_signed_response)
{
	char *resp = sign_response(va, A_DOM, "sip:carol@b.example", list2(A_KMS, NULL), list2(B_KMS, NULL));
	json_t *res = NULL;

	REQUIRE(resp != NULL);
	REQUIRE((res = evaluate(resp)) != NULL);
	CHECK_EQ_STR(str(res, "signature"), "valid");
	CHECK_EQ_STR(str(res, "signer_domain"), A_DOM);
	CHECK_DECISION(res, "accept");
	json_decref(res);
	free(resp);
}

TEST(policy_allow_redirects_off)
{
	struct policy p = DEFAULTS;
	char *resp = NULL;
	json_t *res = NULL;

	p.allow = 0;
	REQUIRE(set_policy(&p) == 0);
	REQUIRE((resp = b_response("sip:bob2@b.example")) != NULL);
	REQUIRE((res = evaluate(resp)) != NULL);
	CHECK_EQ_STR(str(res, "signature"), "valid");
	CHECK_DECISION(res, "reject");
	CHECK(has_reason(res, "allow_redirects"));
	CHECK(list_is(res, "permitted_initiating_kms", NULL, NULL));
	CHECK(json_is_false(json_object_get(res, "report")));
	json_decref(res);
	/* combined with every other policy on: still ignored */
	p.unknown_certs = p.hold = 1;
	p.require_signed = 0;
	REQUIRE(set_policy(&p) == 0);
	REQUIRE((res = evaluate(resp)) != NULL);
	CHECK_DECISION(res, "reject");
	CHECK(list_is(res, "unknown_kms", NULL, NULL));
	json_decref(res);
	/* a rejected response was not used: allowed again, it is accepted */
	REQUIRE(set_policy(&DEFAULTS) == 0);
	REQUIRE((res = evaluate(resp)) != NULL);
	CHECK_DECISION(res, "accept");
	json_decref(res);
	free(resp);
}

TEST(policy_report_redirects)
{
	struct policy p = DEFAULTS;
	char *resp = NULL;
	json_t *res = NULL;

	p.report = 0;
	REQUIRE(set_policy(&p) == 0);
	REQUIRE((resp = b_response("sip:bob3@b.example")) != NULL);
	REQUIRE((res = evaluate(resp)) != NULL);
	CHECK_DECISION(res, "accept");
	CHECK(json_is_false(json_object_get(res, "report")));
	json_decref(res);
	res = NULL;
	/* the client's report is recorded in A's log */
	REQUIRE(rpc(va, "redirect.report",
		    json_pack("{s:s, s:s, s:s}", "domain", A_DOM, "response", resp, "user_uri", "sip:alice@a.example"),
		    &res) == 0);
	CHECK(json_is_true(json_object_get(res, "recorded")));
	CHECK_EQ_STR(str(res, "signature"), "valid");
	json_decref(res);
	{
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "grep -q 'redirect.report: domain a.example .*user sip:alice@a.example' %s",
			 vault_a.log);
		CHECK(system(cmd) == 0);
	}
	free(resp);
}

TEST(policy_require_signed)
{
	struct policy p = DEFAULTS;
	char *unsigned_resp = unsigned_response(0, "sip:dave@b.example", list2(B_KMS, NULL), list2(B_KMS, NULL));
	char *c_resp = sign_response(vc, C_DOM, "sip:erin@c.example", list2(A_KMS, NULL), list2(A_KMS, NULL));
	json_t *res = NULL;

	REQUIRE(c_resp != NULL);
	REQUIRE(set_policy(&DEFAULTS) == 0);
	REQUIRE((res = evaluate(unsigned_resp)) != NULL);
	CHECK_EQ_STR(str(res, "signature"), "unsigned");
	CHECK_DECISION(res, "reject");
	CHECK(has_reason(res, "require_signed"));
	json_decref(res);
	REQUIRE((res = evaluate(c_resp)) != NULL);
	CHECK_EQ_STR(str(res, "signature"), "unknown-signer");
	CHECK_EQ_STR(str(res, "signer_domain"), C_DOM);
	CHECK_DECISION(res, "reject");
	CHECK(has_reason(res, "not trusted"));
	json_decref(res);
	/* require_signed off: both are taken (only provisioned KMSs permitted) */
	p.require_signed = 0;
	REQUIRE(set_policy(&p) == 0);
	REQUIRE((res = evaluate(unsigned_resp)) != NULL);
	CHECK_EQ_STR(str(res, "signature"), "unsigned");
	CHECK_DECISION(res, "accept");
	CHECK(list_is(res, "permitted_receiving_kms", B_KMS, NULL));
	json_decref(res);
	REQUIRE((res = evaluate(c_resp)) != NULL);
	CHECK_EQ_STR(str(res, "signature"), "unknown-signer");
	CHECK_DECISION(res, "accept");
	json_decref(res);
	free(unsigned_resp);
	free(c_resp);
}

TEST(policy_request_unknown_certs)
{
	struct policy p = DEFAULTS;
	char *r1 = sign_response(vb, B_DOM, "sip:frank@c.example", list2(B_KMS, C_KMS), list2(C_KMS, B_KMS));
	char *r2 = sign_response(vb, B_DOM, "sip:gina@c.example", list2(B_KMS, C_KMS), list2(C_KMS, B_KMS));
	char *r3 = sign_response(vb, B_DOM, "sip:hank@c.example", list2(B_KMS, NULL), list2(C_KMS, NULL));
	json_t *res = NULL;

	REQUIRE(r1 != NULL && r2 != NULL && r3 != NULL);
	/* off: an unknown KMS is just not permitted */
	REQUIRE(set_policy(&DEFAULTS) == 0);
	REQUIRE((res = evaluate(r1)) != NULL);
	CHECK_DECISION(res, "accept");
	CHECK(list_is(res, "permitted_initiating_kms", B_KMS, NULL));
	CHECK(list_is(res, "permitted_receiving_kms", B_KMS, NULL));
	CHECK(list_is(res, "unknown_kms", NULL, NULL));
	CHECK(has_reason(res, "not permitted"));
	json_decref(res);
	/* on: listed for the client to request from its Home KMS */
	p.unknown_certs = 1;
	REQUIRE(set_policy(&p) == 0);
	REQUIRE((res = evaluate(r2)) != NULL);
	CHECK_DECISION(res, "accept");
	CHECK(list_is(res, "permitted_initiating_kms", B_KMS, NULL));
	CHECK(list_is(res, "unknown_kms", C_KMS, NULL));
	json_decref(res);
	/* no provisioned receiving KMS at all: reject, the unknown one still listed */
	REQUIRE((res = evaluate(r3)) != NULL);
	CHECK_DECISION(res, "reject");
	CHECK(has_reason(res, "no acceptable receiving KMS"));
	CHECK(list_is(res, "unknown_kms", C_KMS, NULL));
	json_decref(res);
	free(r1);
	free(r2);
	free(r3);
}

TEST(policy_hold_until_accepted)
{
	struct policy p = DEFAULTS;
	char *resp = NULL;
	json_t *res = NULL;

	p.hold = 1;
	REQUIRE(set_policy(&p) == 0);
	REQUIRE((resp = b_response("sip:ivan@b.example")) != NULL);
	REQUIRE((res = evaluate(resp)) != NULL);
	CHECK_DECISION(res, "hold");
	CHECK(has_reason(res, "hold_until_accepted"));
	CHECK(list_is(res, "permitted_initiating_kms", A_KMS, B_KMS));
	json_decref(res);
	/* asked again before the Home KMS decides: still held, not a replay */
	REQUIRE((res = evaluate(resp)) != NULL);
	CHECK_DECISION(res, "hold");
	json_decref(res);
	res = NULL;
	REQUIRE(rpc(va, "redirect.accept", json_pack("{s:s, s:s}", "domain", A_DOM, "response", resp), &res) == 0);
	CHECK(json_is_true(json_object_get(res, "accepted")));
	json_decref(res);
	REQUIRE((res = evaluate(resp)) != NULL);
	CHECK_DECISION(res, "accept");
	CHECK(has_reason(res, "accepted by the Home KMS"));
	json_decref(res);
	REQUIRE((res = evaluate(resp)) != NULL);
	CHECK_DECISION(res, "reject");
	CHECK(has_reason(res, "replayed"));
	json_decref(res);
	CHECK(expect_error(va, "redirect.accept", json_pack("{s:s, s:s}", "domain", A_DOM, "response", resp), -32003,
			   "already used"));
	free(resp);
}

TEST(policies_combined)
{
	struct policy p = { 1, 1, 1, 1, 1, 300 };
	char *resp = sign_response(vb, B_DOM, "sip:judy@c.example", list2(A_KMS, C_KMS), list2(C_KMS, B_KMS));
	char *unsigned_resp = unsigned_response(0, "sip:ken@b.example", list2(B_KMS, NULL), list2(B_KMS, NULL));
	json_t *res = NULL;

	REQUIRE(resp != NULL);
	REQUIRE(set_policy(&p) == 0);
	/* everything on: held, unknown listed, to be reported */
	REQUIRE((res = evaluate(resp)) != NULL);
	CHECK_DECISION(res, "hold");
	CHECK(list_is(res, "unknown_kms", C_KMS, NULL));
	CHECK(list_is(res, "permitted_receiving_kms", B_KMS, NULL));
	CHECK(json_is_true(json_object_get(res, "report")));
	json_decref(res);
	/* require_signed wins over hold: an unsigned one is rejected, not held */
	REQUIRE((res = evaluate(unsigned_resp)) != NULL);
	CHECK_DECISION(res, "reject");
	json_decref(res);
	res = NULL;
	REQUIRE(rpc(va, "redirect.accept", json_pack("{s:s, s:s}", "domain", A_DOM, "response", resp), &res) == 0);
	json_decref(res);
	REQUIRE((res = evaluate(resp)) != NULL);
	CHECK_DECISION(res, "accept");
	json_decref(res);
	/* require_signed off, hold on, report off: the unsigned one is held, not reported */
	p.require_signed = 0;
	p.report = 0;
	REQUIRE(set_policy(&p) == 0);
	REQUIRE((res = evaluate(unsigned_resp)) != NULL);
	CHECK_DECISION(res, "hold");
	CHECK(json_is_false(json_object_get(res, "report")));
	json_decref(res);
	free(resp);
	free(unsigned_resp);
}

TEST(forged_and_stale)
{
	struct policy p = DEFAULTS;
	char *resp = NULL, *payload = NULL, *forged = NULL, *stale = NULL, *hdr;
	const char *d1, *d2;
	json_t *res = NULL, *pl = NULL;
	struct mcx_buf *sig = mcx_buf_new(128);
	struct timespec nap = { 2, 300 * 1000 * 1000 };

	p.require_signed = 0;   /* a bad signature is rejected even then */
	REQUIRE(set_policy(&p) == 0);
	REQUIRE((resp = b_response("sip:leo@b.example")) != NULL);
	/* the payload changed, B's signature kept */
	d1 = strchr(resp, '.');
	d2 = strchr(d1 + 1, '.');
	payload = payload_of(resp);
	REQUIRE(payload != NULL && (pl = json_loads(payload, 0, NULL)) != NULL);
	json_object_set_new(pl, "receiving_id", json_string("sip:mallory@b.example"));
	REQUIRE(mcx_base64url_decode(sig, d2 + 1, strlen(d2 + 1)) == 0);
	hdr = strndup(resp, (size_t)(d1 - resp));
	{
		char *ptext = json_dumps(pl, JSON_COMPACT), *pb = b64s(ptext);
		char *sb = mcx_base64url_string(mcx_buf_ptr(sig), mcx_buf_len(sig));
		size_t n = strlen(hdr) + strlen(pb) + strlen(sb) + 3;
		forged = malloc(n);
		snprintf(forged, n, "%s.%s.%s", hdr, pb, sb);
		free(ptext);
		free(pb);
		free(sb);
	}
	REQUIRE((res = evaluate(forged)) != NULL);
	CHECK_EQ_STR(str(res, "signature"), "invalid");
	CHECK_DECISION(res, "reject");
	CHECK(has_reason(res, "signature invalid"));
	json_decref(res);
	/* one bit of the signature flipped */
	{
		char *bad = strdup(resp);
		char *last = bad + strlen(bad) - 3;
		*last = *last == 'A' ? 'B' : 'A';
		REQUIRE((res = evaluate(bad)) != NULL);
		CHECK_EQ_STR(str(res, "signature"), "invalid");
		CHECK_DECISION(res, "reject");
		json_decref(res);
		free(bad);
	}
	/* stale: issued 1000 s ago (max_age 300) */
	stale = unsigned_response(-1000, "sip:mike@b.example", list2(B_KMS, NULL), list2(B_KMS, NULL));
	REQUIRE((res = evaluate(stale)) != NULL);
	CHECK_DECISION(res, "reject");
	CHECK(has_reason(res, "stale"));
	json_decref(res);
	res = NULL;
	/* ... and from the future */
	free(stale);
	stale = unsigned_response(+1000, "sip:mike@b.example", list2(B_KMS, NULL), list2(B_KMS, NULL));
	REQUIRE((res = evaluate(stale)) != NULL);
	CHECK(has_reason(res, "stale"));
	json_decref(res);
	res = NULL;
	/* received_at moves the reference, within max_age of now only */
	CHECK(expect_error(va, "redirect.evaluate",
			   json_pack("{s:s, s:s, s:s}", "domain", A_DOM, "response", resp, "received_at",
				     "2020-01-01T00:00:00Z"),
			   -32602, "received_at"));
	/* a signed one gone stale: max_age 1, wait 2.3 s */
	free(resp);
	p.max_age = 1;
	REQUIRE((resp = b_response("sip:nina@b.example")) != NULL);
	REQUIRE(set_policy(&p) == 0);
	nanosleep(&nap, NULL);
	REQUIRE((res = evaluate(resp)) != NULL);
	CHECK_EQ_STR(str(res, "signature"), "valid");
	CHECK_DECISION(res, "reject");
	CHECK(has_reason(res, "stale"));
	json_decref(res);
	/* the Home KMS cannot accept a response that can no longer be evaluated */
	CHECK(expect_error(va, "redirect.accept", json_pack("{s:s, s:s}", "domain", A_DOM, "response", stale), -32009,
			   "stale"));
	json_decref(pl);
	mcx_buf_free(sig);
	free(hdr);
	free(payload);
	free(forged);
	free(stale);
	free(resp);
}

/* evaluate of a crafted response fails with -32602 and needle. */
static int malformed(const char *response, const char *needle)
{
	return expect_error(va, "redirect.evaluate", json_pack("{s:s, s:s}", "domain", A_DOM, "response", response),
			    -32602, needle);
}

TEST(malformed_responses)
{
	static const uint8_t zero64[64], zero63[63];
	const char *ok_header = "{\"alg\":\"ES256\",\"typ\":\"" SDRR_TYP "\",\"kid\":\"b.example/token/1\"}";
	char *resp = NULL, *x = NULL, payload[512];
	json_t *big = json_array(), *p;

	REQUIRE(set_policy(&DEFAULTS) == 0);
	REQUIRE((resp = b_response("sip:olga@b.example")) != NULL);
	snprintf(payload, sizeof(payload),
		 "{\"response_type\":\"security-domain-redirect\",\"iss\":\"" B_KMS "\",\"iat\":%lld,"
		 "\"originating_id\":\"a\",\"receiving_id\":\"b\",\"originating_kms_uri\":\"" A_KMS "\","
		 "\"acceptable_initiating_kms\":[\"" A_KMS "\"],\"acceptable_receiving_kms\":[\"" B_KMS "\"]}",
		 (long long)mcx_time_now());

	CHECK(malformed("not a jws", "no '.'"));
	CHECK(malformed("a.b", "three parts"));
	CHECK(malformed("a.b.c.d", "three parts"));
	/* bad base64url: padding, '+', a non-canonical last character */
	x = malloc(strlen(resp) + 2);
	snprintf(x, strlen(resp) + 2, "%s=", resp);
	CHECK(malformed(x, "base64url"));
	strcpy(x, resp);
	x[1] = '+';
	CHECK(malformed(x, "base64url"));
	free(x);
	/* algorithm confusion */
	x = compact("{\"alg\":\"HS256\",\"typ\":\"" SDRR_TYP "\",\"kid\":\"b.example/token/1\"}", payload, zero64, 32);
	CHECK(malformed(x, "HS256"));
	free(x);
	x = compact("{\"alg\":\"none\",\"typ\":\"" SDRR_TYP "\"}", payload, zero64, 64);
	CHECK(malformed(x, "empty signature"));
	free(x);
	x = compact("{\"alg\":\"ES256\",\"typ\":\"" SDRR_TYP "\",\"kid\":\"b.example/token/1\",\"crit\":[\"exp\"]}",
		    payload, zero64, 64);
	CHECK(malformed(x, "'crit'"));
	free(x);
	x = compact("{\"alg\":\"ES256\",\"typ\":\"" SDRR_TYP "\",\"kid\":\"b.example/token/1\",\"jku\":\"http://x\"}",
		    payload, zero64, 64);
	CHECK(malformed(x, "'jku'"));
	free(x);
	x = compact("{\"alg\":\"ES256\",\"alg\":\"none\",\"typ\":\"" SDRR_TYP "\"}", payload, zero64, 64);
	CHECK(malformed(x, "not JSON"));   /* duplicate member */
	free(x);
	x = compact(ok_header, payload, zero63, 63);
	CHECK(malformed(x, "64 octets"));
	free(x);
	x = compact("{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"b.example/token/1\"}", payload, zero64, 64);
	CHECK(malformed(x, "typ"));
	free(x);
	x = compact(ok_header, "[1,2]", zero64, 64);
	CHECK(malformed(x, "JSON object"));
	free(x);
	/* a huge header */
	{
		char h[3000];
		snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"typ\":\"" SDRR_TYP "\",\"kid\":\"%02000d\"}", 0);
		x = compact(h, payload, zero64, 64);
		CHECK(malformed(x, "longer than"));
		free(x);
	}
	/* payload: missing field, duplicate key, unknown member, huge list, wrong type */
	p = json_loads(payload, 0, NULL);
	json_object_del(p, "receiving_id");
	{
		char *t = json_dumps(p, JSON_COMPACT);
		x = compact(ok_header, t, zero64, 64);
		CHECK(malformed(x, "receiving_id"));
		free(x);
		free(t);
	}
	json_decref(p);
	{
		char dup[600];
		snprintf(dup, sizeof(dup), "{\"iat\":1,%s", payload + 1);
		x = compact(ok_header, dup, zero64, 64);
		CHECK(malformed(x, "not JSON"));
		free(x);
	}
	p = json_loads(payload, 0, NULL);
	json_object_set_new(p, "extra", json_true());
	{
		char *t = json_dumps(p, JSON_COMPACT);
		x = compact(ok_header, t, zero64, 64);
		CHECK(malformed(x, "unknown member"));
		free(x);
		free(t);
	}
	json_object_del(p, "extra");
	for (int i = 0; i < 65; i++) {
		char u[32];
		snprintf(u, sizeof(u), "kms%d.example", i);
		json_array_append_new(big, json_string(u));
	}
	json_object_set(p, "acceptable_receiving_kms", big);
	{
		char *t = json_dumps(p, JSON_COMPACT);
		x = compact(ok_header, t, zero64, 64);
		CHECK(malformed(x, "1 to 64"));
		free(x);
		free(t);
	}
	json_object_set_new(p, "acceptable_receiving_kms", list2(B_KMS, NULL));
	json_object_set_new(p, "iat", json_string("yesterday"));
	{
		char *t = json_dumps(p, JSON_COMPACT);
		x = compact(ok_header, t, zero64, 64);
		CHECK(malformed(x, "iat"));
		free(x);
		free(t);
	}
	json_decref(p);
	/* a bare JSON object is not a response */
	CHECK(expect_error(va, "redirect.evaluate",
			   json_pack("{s:s, s:{s:s}}", "domain", A_DOM, "response", "response_type",
				     "security-domain-redirect"),
			   -32602, "string"));
	/* a huge JWS */
	{
		size_t n = 70000;
		char *h = malloc(n + 1);
		memset(h, 'A', n);
		h[100] = '.';
		h[200] = '.';
		h[n] = '\0';
		CHECK(malformed(h, "longer than"));
		free(h);
	}
	/* a kms.cert_cache bundle of B is a JWS of B, but not a redirect response */
	{
		json_t *bundle = NULL;
		if (rpc(vb, "kms.cert_cache", json_pack("{s:s}", "domain", B_DOM), &bundle) == 0)
			CHECK(malformed(str(bundle, "bundle"), "typ"));
		json_decref(bundle);
	}
	json_decref(big);
	free(resp);
}

/* ---- ID tokens ------------------------------------------------------------------- */

static char *sign_token(struct mcxvault *v, const char *domain, json_t *claims)
{
	json_t *res = NULL;
	char *out = NULL;

	if (rpc(v, "token.sign", json_pack("{s:s, s:o}", "domain", domain, "claims", claims), &res) == 0)
		out = strdup(str(res, "token"));
	json_decref(res);
	return out;
}

static json_t *verify_params(const char *token, const char *audience, const char *time_text)
{
	json_t *p = json_pack("{s:s, s:s, s:s}", "domain", A_DOM, "token", token, "audience", audience);

	if (time_text != NULL)
		json_object_set_new(p, "time", json_string(time_text));
	return p;
}

TEST(token_round_trip)
{
	char *t = sign_token(vb, B_DOM, json_pack("{s:s, s:s, s:s}", "sub", "sip:alice@b.example", "aud",
						  "idm.a.example", "mcx_role", "dispatcher"));
	json_t *res = NULL, *claims;

	REQUIRE(t != NULL);
	REQUIRE(rpc(va, "token.verify", verify_params(t, "idm.a.example", NULL), &res) == 0);
	CHECK(json_is_true(json_object_get(res, "valid")));
	CHECK_EQ_STR(str(res, "issuer"), B_KMS);
	CHECK_EQ_STR(str(res, "signer_domain"), B_DOM);
	claims = json_object_get(res, "claims");
	CHECK_EQ_STR(str(claims, "sub"), "sip:alice@b.example");
	CHECK_EQ_STR(str(claims, "aud"), "idm.a.example");
	CHECK_EQ_STR(str(claims, "iss"), B_KMS);
	CHECK_EQ_STR(str(claims, "mcx_role"), "dispatcher");
	CHECK(str(claims, "jti") != NULL);
	CHECK(json_integer_value(json_object_get(claims, "exp")) - json_integer_value(json_object_get(claims, "iat")) ==
	      300);
	json_decref(res);
	res = NULL;
	/* the home domain's own tokens verify too */
	free(t);
	t = sign_token(va, A_DOM, json_pack("{s:s, s:s}", "sub", "sip:bob@a.example", "aud", "idm.b.example"));
	REQUIRE(t != NULL);
	REQUIRE(rpc(va, "token.verify", verify_params(t, "idm.b.example", NULL), &res) == 0);
	CHECK(json_is_true(json_object_get(res, "home")));
	json_decref(res);
	free(t);
}

TEST(token_refusals)
{
	char *t = NULL, *c_token = NULL, *payload = NULL, *x = NULL, later[21];
	json_t *pl = NULL;
	int64_t now = mcx_time_now();
	static const uint8_t zero64[64];

	/* token.sign: aud required, reserved claims, lifetime bounded */
	CHECK(expect_error(vb, "token.sign", json_pack("{s:s, s:{s:s}}", "domain", B_DOM, "claims", "sub", "x"), -32602,
			   "aud"));
	CHECK(expect_error(vb, "token.sign",
			   json_pack("{s:s, s:{s:s, s:s, s:s}}", "domain", B_DOM, "claims", "sub", "x", "aud", "y", "iss",
				     "evil"),
			   -32602, "'iss'"));
	CHECK(expect_error(vb, "token.sign",
			   json_pack("{s:s, s:{s:s, s:s, s:I}}", "domain", B_DOM, "claims", "sub", "x", "aud", "y", "exp",
				     (json_int_t)(now + 7200)),
			   -32005, "token_max_lifetime"));

	/* expired: exp = iat + 60, checked at a later time */
	t = sign_token(vb, B_DOM, json_pack("{s:s, s:s, s:I}", "sub", "sip:a@b", "aud", "idm.a.example", "exp",
					    (json_int_t)(now + 60)));
	REQUIRE(t != NULL);
	mcx_time_format(now + 120, later);
	CHECK(expect_error(va, "token.verify", verify_params(t, "idm.a.example", later), -32009, "expired"));
	/* wrong audience */
	CHECK(expect_error(va, "token.verify", verify_params(t, "idm.x.example", NULL), -32005, "not addressed"));
	/* a token of B verified by B's other side is fine, but C is not trusted by A */
	c_token = sign_token(vc, C_DOM, json_pack("{s:s, s:s}", "sub", "sip:a@c", "aud", "idm.a.example"));
	REQUIRE(c_token != NULL);
	CHECK(expect_error(va, "token.verify", verify_params(c_token, "idm.a.example", NULL), -32005, "not trusted"));
	/* forged: the payload changed, B's signature kept */
	payload = payload_of(t);
	REQUIRE(payload != NULL && (pl = json_loads(payload, 0, NULL)) != NULL);
	json_object_set_new(pl, "sub", json_string("sip:admin@b"));
	{
		const char *d1 = strchr(t, '.'), *d2 = strchr(d1 + 1, '.');
		char *ptext = json_dumps(pl, JSON_COMPACT), *pb = b64s(ptext);
		size_t n = strlen(t) + strlen(pb) + 2;
		x = malloc(n);
		snprintf(x, n, "%.*s.%s%s", (int)(d1 - t), t, pb, d2);
		free(ptext);
		free(pb);
	}
	CHECK(expect_error(va, "token.verify", verify_params(x, "idm.a.example", NULL), -32007, "does not verify"));
	free(x);
	/* algorithm confusion: none, and HS256 keyed with B's public key */
	{
		char *ptext = json_dumps(pl, JSON_COMPACT);
		uint8_t mac[32];
		unsigned mac_len = 0;
		char *hs, *signing;
		size_t n;

		x = compact("{\"alg\":\"none\",\"typ\":\"JWT\"}", ptext, NULL, 0);
		CHECK(expect_error(va, "token.verify", verify_params(x, "idm.a.example", NULL), -32007, "none"));
		free(x);
		hs = compact("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"b.example/token/1\"}", ptext, NULL, 0);
		n = strlen(hs) - 1;   /* without the trailing '.' */
		signing = strndup(hs, n);
		HMAC(EVP_sha256(), b_pem, (int)strlen(b_pem), (const uint8_t *)signing, n, mac, &mac_len);
		x = compact("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"b.example/token/1\"}", ptext, mac, mac_len);
		CHECK(expect_error(va, "token.verify", verify_params(x, "idm.a.example", NULL), -32007, "HS256"));
		free(x);
		free(hs);
		free(signing);
		/* malformed */
		x = compact("{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"b.example/token/1\"}", "{\"sub\":1}", zero64, 64);
		CHECK(expect_error(va, "token.verify", verify_params(x, "idm.a.example", NULL), -32602, NULL));
		free(x);
		CHECK(expect_error(va, "token.verify", verify_params("x.y", "idm.a.example", NULL), -32602, NULL));
		free(ptext);
	}
	/* a typ other than JWT (a redirect response is not an ID token) */
	{
		char *resp = b_response("sip:pat@b.example");
		REQUIRE(resp != NULL);
		CHECK(expect_error(va, "token.verify", verify_params(resp, "idm.a.example", NULL), -32602, "typ"));
		free(resp);
	}
	json_decref(pl);
	free(payload);
	free(c_token);
	free(t);
}

/* Home token keys: verify-only versions are trusted, retired ones are not. */
TEST(home_key_rotation_and_retirement)
{
	char *t1 = sign_token(va, A_DOM, json_pack("{s:s, s:s}", "sub", "sip:q@a.example", "aud", "idm.b.example"));
	char *r1 = sign_response(va, A_DOM, "sip:quinn@b.example", list2(A_KMS, NULL), list2(B_KMS, NULL));
	char *r1b = sign_response(va, A_DOM, "sip:quinn2@b.example", list2(A_KMS, NULL), list2(B_KMS, NULL));
	json_t *res = NULL;

	REQUIRE(t1 != NULL && r1 != NULL && r1b != NULL);
	REQUIRE(set_policy(&DEFAULTS) == 0);
	REQUIRE(rpc(va, "key.rotate", json_pack("{s:s, s:s}", "domain", A_DOM, "purpose", "token"), &res) == 0);
	json_decref(res);
	res = NULL;
	/* version 1 is verify-only now: still trusted */
	REQUIRE(rpc(va, "token.verify", verify_params(t1, "idm.b.example", NULL), &res) == 0);
	CHECK_EQ_STR(str(res, "kid"), A_DOM "/token/1");
	json_decref(res);
	REQUIRE((res = evaluate(r1)) != NULL);
	CHECK_EQ_STR(str(res, "signature"), "valid");
	CHECK_DECISION(res, "accept");
	json_decref(res);
	res = NULL;
	/* retired: not trusted for tokens or responses */
	REQUIRE(rpc(va, "key.retire", json_pack("{s:s, s:s, s:i}", "domain", A_DOM, "purpose", "token", "version", 1),
		    &res) == 0);
	json_decref(res);
	CHECK(expect_error(va, "token.verify", verify_params(t1, "idm.b.example", NULL), -32005, "retired"));
	REQUIRE((res = evaluate(r1b)) != NULL);
	CHECK_EQ_STR(str(res, "signature"), "unknown-signer");
	CHECK_DECISION(res, "reject");
	CHECK(has_reason(res, "retired"));
	json_decref(res);
	/* new ones carry version 2 */
	free(t1);
	t1 = sign_token(va, A_DOM, json_pack("{s:s, s:s}", "sub", "sip:q@a.example", "aud", "idm.b.example"));
	REQUIRE(t1 != NULL);
	res = NULL;
	REQUIRE(rpc(va, "token.verify", verify_params(t1, "idm.b.example", NULL), &res) == 0);
	CHECK_EQ_STR(str(res, "kid"), A_DOM "/token/2");
	json_decref(res);
	free(t1);
	free(r1);
	free(r1b);
}

int main(void)
{
	int ok;

	setvbuf(stdout, NULL, _IOLBF, 0);
	{
		char a_domain[1024], doms[1100];
		a_domain_text(&DEFAULTS, a_domain, sizeof(a_domain));
		snprintf(doms, sizeof(doms), "%s", a_domain);
		ok = test_vault_setup(&vault_a, "ra", doms, NULL, 2, 0) == 0 &&
		     test_vault_setup(&vault_b, "rb", "{ name = \"" B_DOM "\"; kms_uri = \"" B_KMS "\"; }", NULL, 2, 0) == 0 &&
		     test_vault_setup(&vault_c, "rc", "{ name = \"" C_DOM "\"; kms_uri = \"" C_KMS "\"; }", NULL, 2, 0) == 0 &&
		     test_vault_start(&vault_a) == 0 && test_vault_start(&vault_b) == 0 && test_vault_start(&vault_c) == 0 &&
		     mcxvault_connect(vault_a.socket, &va) == 0 && mcxvault_connect(vault_b.socket, &vb) == 0 &&
		     mcxvault_connect(vault_c.socket, &vc) == 0;
	}
	if (ok) {
		json_t *res = NULL;
		ok = rpc(va, "domain.init", json_pack("{s:s}", "domain", A_DOM), &res) == 0;
		json_decref(res);
		res = NULL;
		ok = ok && rpc(vb, "domain.init", json_pack("{s:s}", "domain", B_DOM), &res) == 0;
		json_decref(res);
		res = NULL;
		ok = ok && rpc(vc, "domain.init", json_pack("{s:s}", "domain", C_DOM), &res) == 0;
		json_decref(res);
		/* A <-> B, B <- C, C <- A; A does not trust C */
		ok = ok && trust(va, A_DOM, vb, B_DOM, b_pem, sizeof(b_pem)) == 0 && trust(vb, B_DOM, va, A_DOM, NULL, 0) == 0 &&
		     trust(vb, B_DOM, vc, C_DOM, NULL, 0) == 0 && trust(vc, C_DOM, va, A_DOM, NULL, 0) == 0;
	}
	if (!ok) {
		printf("FAIL - setup (three vaults on throw-away tokens, trust between them)\n");
		test_vault_dump_log(&vault_a);
		test_vault_dump_log(&vault_b);
		test_vault_dump_log(&vault_c);
		test_vault_cleanup_all();
		printf("redirect: 0 passed, 1 failed\n");
		return 1;
	}
	RUN(sign_payload_and_openssl);
	RUN(sign_refusals);
	RUN(default_policy_accept_then_replay);
	RUN(home_signed_response);
	RUN(policy_allow_redirects_off);
	RUN(policy_report_redirects);
	RUN(policy_require_signed);
	RUN(policy_request_unknown_certs);
	RUN(policy_hold_until_accepted);
	RUN(policies_combined);
	RUN(forged_and_stale);
	RUN(malformed_responses);
	RUN(token_round_trip);
	RUN(token_refusals);
	RUN(home_key_rotation_and_retirement);
	mcxvault_close(va);
	mcxvault_close(vb);
	mcxvault_close(vc);
	/* every vaultd stops cleanly (exit 0: no sanitizer report at exit) */
	{
		int sa = test_vault_stop(&vault_a), sb = test_vault_stop(&vault_b), sc = test_vault_stop(&vault_c);
		char cmd[512];
		test_current_failed = 0;
		if (sa != 0 || sb != 0 || sc != 0) {
			printf("FAIL - vaultd exit status %d %d %d\n", sa, sb, sc);
			test_failed++;
		}
		snprintf(cmd, sizeof(cmd), "grep -l -e AddressSanitizer -e 'runtime error:' -e LeakSanitizer %s %s %s",
			 vault_a.log, vault_b.log, vault_c.log);
		if (system(cmd) == 0) {
			printf("FAIL - sanitizer report in a vaultd log\n");
			test_vault_dump_log(&vault_a);
			test_failed++;
		}
	}
	test_vault_cleanup_all();
	return test_summary("redirect");
}
