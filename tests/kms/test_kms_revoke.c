/*
 * mcxvault — expiry and revocation of trusted external KMS certificates, and
 * key issue to users of other systems (interconnect), over the real socket
 * of two real vaultd processes on throw-away SoftHSM tokens (issue 12,
 * parts 4 and 5):
 *
 *   - vault A (home a.example, and b.example) trusts vault B's c.example
 *     with its cert and token keys; B's certificate lives 30 days;
 *   - before the revocation: B's ID token verifies at A, B's redirect
 *     response is valid, a GMK reaches a c.example member; after B's
 *     ValidTo the member fails as expired while the home member is served;
 *   - external.revoke: bad input refused with nothing changed; then the
 *     entry is kept and shown revoked (external.list, kms.cert_cache
 *     without the XML), gmk.distribute and server_key.distribute refuse
 *     the c.example member with its reason and serve the others, the token
 *     made before the revocation and a new response are untrusted (also
 *     with a "time" before the revocation), redirect.sign may not name it,
 *     import of it again is refused; all of it again after SIGKILL and
 *     SIGTERM restarts; external.remove and a new import trust it again;
 *   - kms.user_keys: own namespace (name, subdomains, user_namespaces,
 *     hostless URIs), visiting users of the domains in
 *     issue_to_external_users (audited with their home domain), others
 *     refused with -32005; the new settings checked by vaultd -t and
 *     followed at a SIGHUP;
 *   - the home certificate's overlap window: both generations in the
 *     bundle after a KMS rotation, until the old one is retired;
 *   - the audit log of both vaults verifies.
 *
 * Ends with "kms-revoke: N passed, N failed".
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <unistd.h>

#include "mcxvault.h"
#include "mcx/util.h"
#include "tests/lib/vault_fixture.h"
#include "tests/test.h"

#define A_DOMAIN "a.example"
#define B_DOMAIN "b.example"
#define C_DOMAIN "c.example"
#define C_KMS "kms.c.example"
#define GROUP "sip:crew@a.example"
#define SENDER "sip:gms@a.example"
#define SERVER "sip:mcdata@a.example"

static struct test_vault vault_a, vault_b;
static struct mcxvault *va, *vb;

static char *c_xml, *c_cert_pem, *c_token_pem;   /* what A imports of B */
static int64_t c_valid_to;
static char *token_before;                       /* B's ID token, made before the revocation */
static char *response_after;                     /* B's redirect response, first evaluated after it */
static int64_t revoked_at, revoke_started;

/* ---- RPC helpers ------------------------------------------------------------ */

static int rpc(struct mcxvault *v, const char *method, json_t *params, json_t **res, struct mcxvault_error *e)
{
	struct mcxvault_error local;
	int r;

	if (e == NULL)
		e = &local;
	memset(e, 0, sizeof(*e));
	r = mcxvault_call(v, method, params, res, e);
	json_decref(params);
	if (r != 0 && e == &local)
		printf("  %s: %s (%s, %d)\n", method, e->message, e->name, e->rpc_code);
	return r;
}

/* 1 when method(params) fails with rpc_code and (if not NULL) a message containing `words`. */
static int expect_error(struct mcxvault *v, const char *method, json_t *params, int rpc_code, const char *words,
			const char *label)
{
	struct mcxvault_error e;
	json_t *res = NULL;

	if (rpc(v, method, params, &res, &e) == 0) {
		printf("  %s: %s succeeded, expected error %d\n", label, method, rpc_code);
		json_decref(res);
		return 0;
	}
	if (e.rpc_code != rpc_code || e.message[0] == '\0' || (words != NULL && strstr(e.message, words) == NULL)) {
		printf("  %s: %s gave %d %s (%s), expected %d with '%s'\n", label, method, e.rpc_code, e.name,
		       e.message, rpc_code, words ? words : "");
		return 0;
	}
	return 1;
}

static char *snapshot(struct mcxvault *v, const char *method, const char *domain)
{
	json_t *res = NULL;
	char *s = NULL;

	if (rpc(v, method, json_pack("{s:s}", "domain", domain), &res, NULL) == 0)
		s = json_dumps(res, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(res);
	return s;
}

static int same_snapshot(const char *before, struct mcxvault *v, const char *method, const char *domain)
{
	char *now = snapshot(v, method, domain);
	int same = before != NULL && now != NULL && strcmp(before, now) == 0;

	if (!same)
		printf("  %s changed:\n    before %s\n    after  %s\n", method, before ? before : "-", now ? now : "-");
	free(now);
	return same;
}

static char *string_member(const json_t *obj, const char *name)
{
	const char *s = json_string_value(json_object_get(obj, name));
	return s != NULL ? strdup(s) : NULL;
}

static int64_t time_member(const json_t *obj, const char *name)
{
	int64_t t = -1;
	const char *s = json_string_value(json_object_get(obj, name));

	if (s == NULL || mcx_time_parse(s, &t) != 0)
		return -1;
	return t;
}

static char *time_text(int64_t t)
{
	char buf[21];

	mcx_time_format(t, buf);
	return strdup(buf);
}

/* The one entry of A's external.list for C_KMS, or NULL (a new reference). */
static json_t *external_entry(const char *domain)
{
	json_t *res = NULL, *e, *found = NULL;
	size_t i;

	if (rpc(va, "external.list", json_pack("{s:s}", "domain", domain), &res, NULL) != 0)
		return NULL;
	json_array_foreach(json_object_get(res, "external"), i, e)
		if (strcmp(json_string_value(json_object_get(e, "kms_uri")), C_KMS) == 0)
			found = json_incref(e);
	json_decref(res);
	return found;
}

/* The payload of A's kms.cert_cache bundle (the signature is tested in test_kms). */
static json_t *cert_cache_payload(void)
{
	json_t *res = NULL, *payload = NULL;
	const char *bundle, *dot1, *dot2;
	struct mcx_buf *pl = NULL;

	if (rpc(va, "kms.cert_cache", json_pack("{s:s}", "domain", A_DOMAIN), &res, NULL) != 0)
		return NULL;
	bundle = json_string_value(json_object_get(res, "bundle"));
	if (bundle != NULL && (dot1 = strchr(bundle, '.')) != NULL && (dot2 = strchr(dot1 + 1, '.')) != NULL &&
	    (pl = mcx_buf_new(strlen(bundle))) != NULL &&
	    mcx_base64url_decode(pl, dot1 + 1, (size_t)(dot2 - dot1 - 1)) == 0)
		payload = json_loadb((const char *)mcx_buf_ptr(pl), mcx_buf_len(pl), 0, NULL);
	mcx_buf_free(pl);
	json_decref(res);
	return payload;
}

static const json_t *cache_entry(const json_t *payload, const char *kms_uri)
{
	const json_t *e;
	size_t i;

	json_array_foreach(json_object_get(payload, "certificates"), i, e)
		if (strcmp(json_string_value(json_object_get(e, "kms_uri")), kms_uri) == 0)
			return e;
	return NULL;
}

static json_t *members_ac(void)
{
	return json_pack("[{s:s}, {s:s, s:s}]", "uri", "sip:alice@a.example", "uri", "sip:carol@c.example",
			 "kms_uri", C_KMS);
}

/* gmk.distribute of alice (home) and carol (c.example) at time (NULL: now);
 * 1 when alice is served and carol's result is as expected (code 0: served). */
static int distribute_ac(const char *method, const char *when, int carol_code, const char *carol_error,
			 const char *carol_words)
{
	json_t *params, *res = NULL, *alice, *carol, *err;
	int ok = 0;

	if (strcmp(method, "gmk.distribute") == 0)
		params = json_pack("{s:s, s:s, s:s, s:o}", "domain", A_DOMAIN, "group", GROUP, "sender_uri", SENDER,
				   "members", members_ac());
	else
		params = json_pack("{s:s, s:s, s:s, s:o}", "domain", A_DOMAIN, "server_uri", SERVER, "purpose", "mkfc",
				   "members", members_ac());
	if (when != NULL)
		json_object_set_new(params, "time", json_string(when));
	if (rpc(va, method, params, &res, NULL) != 0)
		return 0;
	alice = json_array_get(json_object_get(res, "members"), 0);
	carol = json_array_get(json_object_get(res, "members"), 1);
	err = json_object_get(carol, "error");
	ok = json_is_string(json_object_get(alice, "i_message")) && json_object_get(alice, "error") == NULL;
	if (carol_code == 0) {
		ok = ok && err == NULL && json_is_string(json_object_get(carol, "i_message")) &&
		     json_integer_value(json_object_get(res, "distributed")) == 2;
	} else {
		const char *message = json_string_value(json_object_get(err, "message"));
		ok = ok && json_object_get(carol, "i_message") == NULL &&
		     json_integer_value(json_object_get(err, "code")) == carol_code &&
		     strcmp(json_string_value(json_object_get(json_object_get(err, "data"), "error")), carol_error) == 0 &&
		     message != NULL && strstr(message, carol_words) != NULL &&
		     json_integer_value(json_object_get(res, "distributed")) == 1 &&
		     json_integer_value(json_object_get(res, "failed")) == 1;
	}
	if (!ok) {
		char *text = json_dumps(res, JSON_COMPACT);
		printf("  %s at %s: unexpected %.600s\n", method, when ? when : "now", text ? text : "?");
		free(text);
	}
	json_decref(res);
	return ok;
}

/* redirect.evaluate of a response at A: its "signature" and "decision". */
static int evaluate(const char *response, const char *signature, const char *decision)
{
	json_t *res = NULL;
	int ok;

	if (rpc(va, "redirect.evaluate", json_pack("{s:s, s:s}", "domain", A_DOMAIN, "response", response), &res,
		NULL) != 0)
		return 0;
	ok = strcmp(json_string_value(json_object_get(res, "signature")), signature) == 0 &&
	     strcmp(json_string_value(json_object_get(res, "decision")), decision) == 0;
	if (!ok)
		printf("  redirect.evaluate: signature %s, decision %s; expected %s, %s\n",
		       json_string_value(json_object_get(res, "signature")),
		       json_string_value(json_object_get(res, "decision")), signature, decision);
	json_decref(res);
	return ok;
}

static char *redirect_response(void)
{
	json_t *res = NULL;
	char *response = NULL;

	if (rpc(vb, "redirect.sign",
		json_pack("{s:s, s:s, s:s, s:s, s:[s], s:[s]}", "domain", C_DOMAIN, "originating_id",
			  "sip:carol@c.example", "receiving_id", "sip:alice@a.example", "originating_kms_uri", C_KMS,
			  "acceptable_initiating_kms", C_KMS, "acceptable_receiving_kms", C_KMS),
		&res, NULL) == 0)
		response = string_member(res, "response");
	json_decref(res);
	return response;
}

static json_t *import_params(void)
{
	return json_pack("{s:s, s:s, s:s, s:s}", "domain", A_DOMAIN, "certificate", c_xml, "signing_key", c_cert_pem,
			 "token_key", c_token_pem);
}

static int token_verify(const char *when)
{
	json_t *params = json_pack("{s:s, s:s, s:s}", "domain", A_DOMAIN, "token", token_before, "audience", A_DOMAIN);
	json_t *res = NULL;
	int ok;

	if (when != NULL)
		json_object_set_new(params, "time", json_string(when));
	if (rpc(va, "token.verify", params, &res, NULL) != 0)
		return 0;
	ok = json_is_true(json_object_get(res, "valid")) &&
	     strcmp(json_string_value(json_object_get(res, "issuer")), C_KMS) == 0;
	json_decref(res);
	return ok;
}

static int reconnect_a(void)
{
	mcxvault_close(va);
	va = NULL;
	return mcxvault_connect(vault_a.socket, &va) == 0 && mcxvault_set_timeout(va, 120000) == 0 ? 0 : -1;
}

/* ---- tests ------------------------------------------------------------------ */

TEST(trust_c_with_its_keys)
{
	json_t *res = NULL, *e;

	CHECK_EQ_INT(rpc(va, "domain.init", json_pack("{s:s}", "domain", A_DOMAIN), NULL, NULL), 0);
	CHECK_EQ_INT(rpc(va, "domain.init", json_pack("{s:s}", "domain", B_DOMAIN), NULL, NULL), 0);
	REQUIRE(rpc(vb, "domain.init", json_pack("{s:s}", "domain", C_DOMAIN), NULL, NULL) == 0);
	REQUIRE(rpc(vb, "kms.certificate", json_pack("{s:s}", "domain", C_DOMAIN), &res, NULL) == 0);
	c_xml = string_member(res, "xml");
	c_valid_to = time_member(json_object_get(res, "certificate"), "valid_to");
	json_decref(res);
	REQUIRE(c_xml != NULL && c_valid_to > mcx_time_now() + 29 * 86400 && c_valid_to < mcx_time_now() + 31 * 86400);
	REQUIRE(rpc(vb, "sign.public_key", json_pack("{s:s, s:s}", "domain", C_DOMAIN, "purpose", "cert"), &res, NULL) ==
		0);
	c_cert_pem = string_member(res, "pem");
	json_decref(res);
	REQUIRE(rpc(vb, "sign.public_key", json_pack("{s:s, s:s}", "domain", C_DOMAIN, "purpose", "token"), &res,
		    NULL) == 0);
	c_token_pem = string_member(res, "pem");
	json_decref(res);
	REQUIRE(c_cert_pem != NULL && c_token_pem != NULL);
	REQUIRE(rpc(va, "external.import", import_params(), &res, NULL) == 0);
	CHECK_EQ_STR(json_string_value(json_object_get(res, "state")), "trusted");
	CHECK(json_object_get(res, "revoked_at") == NULL);
	json_decref(res);
	e = external_entry(A_DOMAIN);
	CHECK_EQ_STR(json_string_value(json_object_get(e, "state")), "trusted");
	json_decref(e);
	/* B's ID token for A, good for 50 minutes: made before any revocation */
	REQUIRE(rpc(vb, "token.sign",
		    json_pack("{s:s, s:{s:s, s:s, s:I}}", "domain", C_DOMAIN, "claims", "sub", "sip:carol@c.example", "aud",
			      A_DOMAIN, "exp", (json_int_t)(mcx_time_now() + 3000)),
		    &res, NULL) == 0);
	token_before = string_member(res, "token");
	json_decref(res);
	REQUIRE(token_before != NULL);
	CHECK_EQ_INT(rpc(va, "gmk.create", json_pack("{s:s, s:s}", "domain", A_DOMAIN, "group", GROUP), NULL, NULL), 0);
	CHECK_EQ_INT(rpc(va, "server_key.create",
			 json_pack("{s:s, s:s, s:s}", "domain", A_DOMAIN, "server_uri", SERVER, "purpose", "mkfc"), NULL,
			 NULL),
		     0);
}

TEST(trusted_before_revocation_and_expiry)
{
	char *response = redirect_response(), *after_valid_to = time_text(c_valid_to + 3600);
	json_t *payload = cert_cache_payload();
	const json_t *c;

	REQUIRE(response != NULL && after_valid_to != NULL && payload != NULL);
	CHECK(token_verify(NULL));
	CHECK(evaluate(response, "valid", "accept"));
	CHECK(distribute_ac("gmk.distribute", NULL, 0, NULL, NULL));
	CHECK(distribute_ac("server_key.distribute", NULL, 0, NULL, NULL));
	/* after c.example's ValidTo (A's own certificate lives 2 years): carol fails, alice is served */
	CHECK(distribute_ac("gmk.distribute", after_valid_to, -32009, "MCX_ERR_EXPIRED", "not valid at that time"));
	CHECK(distribute_ac("server_key.distribute", after_valid_to, -32009, "MCX_ERR_EXPIRED", "expired"));
	c = cache_entry(payload, C_KMS);
	CHECK_EQ_STR(json_string_value(json_object_get(c, "status")), "valid");
	CHECK(json_is_string(json_object_get(c, "xml")));
	CHECK_EQ_STR(json_string_value(json_object_get(cache_entry(payload, "kms.a.example"), "status")), "valid");
	json_decref(payload);
	free(response);
	free(after_valid_to);
	response_after = redirect_response();
	CHECK(response_after != NULL);
}

TEST(revoke_bad_input_changes_nothing)
{
	char *before = snapshot(va, "external.list", A_DOMAIN);

	REQUIRE(before != NULL);
	CHECK(expect_error(va, "external.revoke", json_pack("{s:s, s:s}", "domain", A_DOMAIN, "reason", "keyCompromise"),
			   -32602, "kms_uri", "no kms_uri"));
	CHECK(expect_error(va, "external.revoke", json_pack("{s:s, s:s}", "domain", A_DOMAIN, "kms_uri", C_KMS), -32602,
			   "reason", "no reason"));
	CHECK(expect_error(va, "external.revoke",
			   json_pack("{s:s, s:s, s:s}", "domain", A_DOMAIN, "kms_uri", C_KMS, "reason", "certificateHold"),
			   -32602, "CRLReason", "certificateHold (not final)"));
	CHECK(expect_error(va, "external.revoke",
			   json_pack("{s:s, s:s, s:s}", "domain", A_DOMAIN, "kms_uri", C_KMS, "reason", "compromised!"),
			   -32602, "CRLReason", "an unknown reason"));
	CHECK(expect_error(va, "external.revoke",
			   json_pack("{s:s, s:i, s:s}", "domain", A_DOMAIN, "kms_uri", 7, "reason", "superseded"), -32602,
			   NULL, "kms_uri not a string"));
	CHECK(expect_error(va, "external.revoke",
			   json_pack("{s:s, s:s, s:s, s:b}", "domain", A_DOMAIN, "kms_uri", C_KMS, "reason", "superseded",
				     "now", 1),
			   -32602, NULL, "an unknown parameter"));
	CHECK(expect_error(va, "external.revoke",
			   json_pack("{s:s, s:s, s:s}", "domain", A_DOMAIN, "kms_uri", "kms.zz.example", "reason",
				     "superseded"),
			   -32002, "does not trust", "an untrusted KMS"));
	CHECK(expect_error(va, "external.revoke",
			   json_pack("{s:s, s:s, s:s}", "domain", B_DOMAIN, "kms_uri", C_KMS, "reason", "superseded"),
			   -32002, "does not trust", "a domain that does not trust it"));
	CHECK(expect_error(va, "external.revoke",
			   json_pack("{s:s, s:s, s:s}", "domain", "zz.example", "kms_uri", C_KMS, "reason", "superseded"),
			   -32002, NULL, "an unknown domain"));
	CHECK(same_snapshot(before, va, "external.list", A_DOMAIN));
	CHECK(token_verify(NULL));
	free(before);
}

TEST(revoke)
{
	json_t *res = NULL;
	char *before;

	revoke_started = mcx_time_now();
	REQUIRE(rpc(va, "external.revoke",
		    json_pack("{s:s, s:s, s:s}", "domain", A_DOMAIN, "kms_uri", C_KMS, "reason", "keyCompromise"), &res,
		    NULL) == 0);
	CHECK_EQ_STR(json_string_value(json_object_get(res, "domain")), A_DOMAIN);
	CHECK_EQ_STR(json_string_value(json_object_get(res, "kms_uri")), C_KMS);
	CHECK(json_is_true(json_object_get(res, "revoked")));
	CHECK_EQ_STR(json_string_value(json_object_get(res, "revocation_reason")), "keyCompromise");
	revoked_at = time_member(res, "revoked_at");
	CHECK(revoked_at >= revoke_started && revoked_at <= mcx_time_now());
	json_decref(res);
	/* the first revocation stands: again is a conflict, and changes nothing */
	before = snapshot(va, "external.list", A_DOMAIN);
	CHECK(expect_error(va, "external.revoke",
			   json_pack("{s:s, s:s, s:s}", "domain", A_DOMAIN, "kms_uri", C_KMS, "reason", "superseded"),
			   -32003, "already revoked", "a second revocation"));
	CHECK(same_snapshot(before, va, "external.list", A_DOMAIN));
	free(before);
}

/* Everything that must hold while c.example is revoked (also after restarts). */
static void check_revoked(void)
{
	json_t *e = external_entry(A_DOMAIN), *payload = cert_cache_payload();
	const json_t *c;
	char *before_revocation = time_text(revoke_started - 1), *list = NULL;

	CHECK(e != NULL);
	CHECK_EQ_STR(json_string_value(json_object_get(e, "state")), "revoked");
	CHECK_EQ_INT(time_member(e, "revoked_at"), revoked_at);
	CHECK_EQ_STR(json_string_value(json_object_get(e, "revocation_reason")), "keyCompromise");
	CHECK(json_is_object(json_object_get(e, "token_key")));
	json_decref(e);
	/* the bundle tells clients to drop it, without the XML that would install it */
	CHECK(payload != NULL);
	c = cache_entry(payload, C_KMS);
	CHECK(c != NULL);
	CHECK_EQ_STR(json_string_value(json_object_get(c, "status")), "revoked");
	CHECK_EQ_STR(json_string_value(json_object_get(c, "role")), "External");
	CHECK_EQ_INT(time_member(c, "revoked_at"), revoked_at);
	CHECK_EQ_STR(json_string_value(json_object_get(c, "revocation_reason")), "keyCompromise");
	CHECK(json_object_get(c, "xml") == NULL);
	CHECK_EQ_INT(time_member(c, "valid_to"), c_valid_to);
	CHECK_EQ_STR(json_string_value(json_object_get(cache_entry(payload, "kms.a.example"), "status")), "valid");
	json_decref(payload);
	/* one member refused with its reason, the other served */
	CHECK(distribute_ac("gmk.distribute", NULL, -32009, "MCX_ERR_REVOKED", "revoked at"));
	CHECK(distribute_ac("server_key.distribute", NULL, -32009, "MCX_ERR_REVOKED", "keyCompromise"));
	/* untrusted once revoked, even for a token made, and a time asked about, before it */
	CHECK(expect_error(va, "token.verify",
			   json_pack("{s:s, s:s, s:s}", "domain", A_DOMAIN, "token", token_before, "audience", A_DOMAIN),
			   -32005, NULL, "token of a revoked issuer"));
	CHECK(expect_error(va, "token.verify",
			   json_pack("{s:s, s:s, s:s, s:s}", "domain", A_DOMAIN, "token", token_before, "audience",
				     A_DOMAIN, "time", before_revocation),
			   -32005, NULL, "token of a revoked issuer, time before the revocation"));
	CHECK(evaluate(response_after, "unknown-signer", "reject"));
	CHECK(expect_error(va, "redirect.sign",
			   json_pack("{s:s, s:s, s:s, s:s, s:[s], s:[s]}", "domain", A_DOMAIN, "originating_id",
				     "sip:alice@a.example", "receiving_id", "sip:carol@c.example", "originating_kms_uri",
				     "kms.a.example", "acceptable_initiating_kms", "kms.a.example",
				     "acceptable_receiving_kms", C_KMS),
			   -32005, C_KMS, "redirect.sign naming the revoked KMS"));
	list = snapshot(va, "external.list", A_DOMAIN);
	CHECK(expect_error(va, "external.import", import_params(), -32003, "revoked", "import of a revoked KMS"));
	CHECK(same_snapshot(list, va, "external.list", A_DOMAIN));
	free(list);
	free(before_revocation);
}

TEST(revoked_is_untrusted_everywhere)
{
	check_revoked();
}

TEST(revocation_survives_restarts)
{
	REQUIRE(test_vault_restart(&vault_a, SIGKILL) == 0 && reconnect_a() == 0);
	check_revoked();
	REQUIRE(test_vault_restart(&vault_a, SIGTERM) == 0 && reconnect_a() == 0);
	check_revoked();
}

TEST(remove_and_import_again)
{
	json_t *res = NULL, *e;

	REQUIRE(rpc(va, "external.remove", json_pack("{s:s, s:s}", "domain", A_DOMAIN, "kms_uri", C_KMS), &res, NULL) ==
		0);
	json_decref(res);
	CHECK(external_entry(A_DOMAIN) == NULL);
	REQUIRE(rpc(va, "external.import", import_params(), &res, NULL) == 0);
	json_decref(res);
	CHECK(token_verify(NULL));
	CHECK(distribute_ac("gmk.distribute", NULL, 0, NULL, NULL));
	/* the removed revocation's marker is gone with it: trusted after a restart too */
	REQUIRE(test_vault_restart(&vault_a, SIGTERM) == 0 && reconnect_a() == 0);
	e = external_entry(A_DOMAIN);
	CHECK_EQ_STR(json_string_value(json_object_get(e, "state")), "trusted");
	CHECK(json_object_get(e, "revoked_at") == NULL);
	json_decref(e);
	CHECK(token_verify(NULL));
}

/* kms.user_keys of user_uri in domain: 0 when issued, else the RPC error code. */
static int user_keys(const char *domain, const char *user_uri)
{
	struct mcxvault_error e;
	json_t *res = NULL;
	int r = rpc(va, "kms.user_keys", json_pack("{s:s, s:s}", "domain", domain, "user_uri", user_uri), &res, &e);

	if (r == 0) {
		r = json_is_string(json_object_get(res, "rsk")) &&
				    strcmp(json_string_value(json_object_get(res, "user_uri")), user_uri) == 0
			    ? 0
			    : -1;
		json_decref(res);
		return r;
	}
	return e.rpc_code;
}

static int file_has_line_with(const char *path, const char *a, const char *b, const char *c)
{
	FILE *f = fopen(path, "r");
	char line[8192];
	int found = 0;

	if (f == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, a) != NULL && strstr(line, b) != NULL && (c == NULL || strstr(line, c) != NULL);
	fclose(f);
	return found;
}

TEST(interconnect_user_keys)
{
	char *before = snapshot(va, "external.list", A_DOMAIN), *long_host = malloc(300);

	REQUIRE(before != NULL && long_host != NULL);
	/* the domain's own users: its name, its subdomains, and URIs without a host */
	CHECK_EQ_INT(user_keys(A_DOMAIN, "sip:alice@a.example"), 0);
	CHECK_EQ_INT(user_keys(A_DOMAIN, "sip:ops@dispatch.a.example:5061;transport=tls"), 0);
	CHECK_EQ_INT(user_keys(A_DOMAIN, "tel:+4930123456"), 0);
	/* user_namespaces lists b.example's second namespace */
	CHECK_EQ_INT(user_keys(B_DOMAIN, "sip:bob@b.example"), 0);
	CHECK_EQ_INT(user_keys(B_DOMAIN, "sip:bob@B-Users.Example"), 0);
	/* visitors from c.example: a.example issues to them, b.example does not */
	CHECK_EQ_INT(user_keys(A_DOMAIN, "sip:carol@c.example"), 0);
	CHECK_EQ_INT(user_keys(A_DOMAIN, "sip:dan@Units.C.Example;user=phone"), 0);
	CHECK_EQ_INT(user_keys(B_DOMAIN, "sip:carol@c.example"), -32005);
	CHECK(expect_error(va, "kms.user_keys", json_pack("{s:s, s:s}", "domain", B_DOMAIN, "user_uri", "sip:carol@c.example"),
			   -32005, "issue_to_external_users", "visitor to b.example"));
	/* everyone else is refused, look-alike hosts included */
	CHECK_EQ_INT(user_keys(A_DOMAIN, "sip:eve@evil.example"), -32005);
	CHECK_EQ_INT(user_keys(A_DOMAIN, "sip:eve@a.example.evil.example"), -32005);
	CHECK_EQ_INT(user_keys(A_DOMAIN, "sip:eve@evila.example"), -32005);
	CHECK_EQ_INT(user_keys(A_DOMAIN, "sip:eve@a.example@evil.example"), -32005);
	CHECK_EQ_INT(user_keys(A_DOMAIN, "sip:eve@xc.example"), -32005);
	CHECK_EQ_INT(user_keys(B_DOMAIN, "sip:eve@users.example"), -32005);
	memset(long_host, 'h', 299);
	memcpy(long_host, "sip:x@", 6);
	long_host[299] = '\0';
	CHECK(expect_error(va, "kms.user_keys", json_pack("{s:s, s:s}", "domain", A_DOMAIN, "user_uri", long_host), -32602,
			   "host", "a host longer than a DNS name"));
	CHECK(same_snapshot(before, va, "external.list", A_DOMAIN));
	/* audited with the visitor's home domain; refusals audited too */
	CHECK(file_has_line_with(vault_a.audit, "\"kms.user_keys\"", "visiting user of c.example: sip:carol@c.example",
				 "\"outcome\":\"ok\""));
	CHECK(file_has_line_with(vault_a.audit, "\"kms.user_keys\"", "visiting user of evil.example: sip:eve@evil.example",
				 "\"outcome\":\"error\""));
	CHECK(file_has_line_with(vault_a.audit, "\"kms.user_keys\"", "\"subject\":\"sip:alice@a.example\"", NULL));
	CHECK(file_has_line_with(vault_a.audit, "\"external.revoke\"", "\"intent\"", C_KMS));
	CHECK(file_has_line_with(vault_a.audit, "\"external.revoke\"", "revocation reason keyCompromise", C_KMS));
	free(long_host);
	free(before);
}

/* vaultd -t of A's configuration with `from` replaced by `to`: 1 when the check fails naming `words`. */
static int config_refused(const char *from, const char *to, const char *words)
{
	char path[192], out[192], cmd[PATH_MAX + 512], *text = NULL, *at, *changed = NULL;
	FILE *f;
	long len;
	int refused = 0;

	snprintf(path, sizeof(path), "%s/changed.conf", vault_a.dir);
	snprintf(out, sizeof(out), "%s/changed.out", vault_a.dir);
	if ((f = fopen(vault_a.config, "r")) == NULL)
		return 0;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	if ((text = calloc(1, (size_t)len + 1)) != NULL && fread(text, 1, (size_t)len, f) == (size_t)len &&
	    (at = strstr(text, from)) != NULL &&
	    (changed = calloc(1, (size_t)len + strlen(to) + 1)) != NULL) {
		memcpy(changed, text, (size_t)(at - text));
		strcat(changed, to);
		strcat(changed, at + strlen(from));
	}
	fclose(f);
	if (changed != NULL && (f = fopen(path, "w")) != NULL) {
		fputs(changed, f);
		fclose(f);
		snprintf(cmd, sizeof(cmd), "'%s' -t -c '%s' >'%s' 2>&1", vault_a.vaultd_path, path, out);
		refused = system(cmd) != 0 && file_has_line_with(out, words, "", NULL);
		if (!refused)
			printf("  vaultd -t with %s did not refuse it naming '%s'\n", to, words);
	}
	free(text);
	free(changed);
	return refused;
}

TEST(interconnect_settings_checked)
{
	char path[192], cmd[PATH_MAX + 256];

	/* the configuration as it runs passes */
	snprintf(cmd, sizeof(cmd), "'%s' -t -c '%s' >/dev/null 2>&1", vault_a.vaultd_path, vault_a.config);
	CHECK_EQ_INT(system(cmd), 0);
	CHECK(config_refused("issue_to_external_users = [ \"c.example\" ]", "issue_to_external_users = \"c.example\"",
			     "issue_to_external_users"));
	CHECK(config_refused("issue_to_external_users = [ \"c.example\" ]", "issue_to_external_users = [ \"C.example\" ]",
			     "not a domain name"));
	CHECK(config_refused("user_namespaces = [ \"b.example\", \"b-users.example\" ]", "user_namespaces = [ ]",
			     "user_namespaces"));
	CHECK(config_refused("user_namespaces = [ \"b.example\", \"b-users.example\" ]",
			     "user_namespaces = ( \"b.example\" )", "user_namespaces"));
	CHECK(config_refused("issue_to_external_users = [ \"c.example\" ]", "issue_to_externl_users = [ \"c.example\" ]",
			     "unknown setting"));
	snprintf(path, sizeof(path), "%s/changed.conf", vault_a.dir);
	unlink(path);
}

/* Rewrites A's configuration (from -> to) and reloads it with SIGHUP; 0 when done. */
static int reload_a(const char *from, const char *to)
{
	FILE *f = fopen(vault_a.config, "r");
	char text[8192], *at;
	size_t n;

	if (f == NULL)
		return -1;
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	if ((at = strstr(text, from)) == NULL || n - strlen(from) + strlen(to) >= sizeof(text))
		return -1;
	memmove(at + strlen(to), at + strlen(from), strlen(at + strlen(from)) + 1);
	memcpy(at, to, strlen(to));
	if ((f = fopen(vault_a.config, "w")) == NULL)
		return -1;
	fputs(text, f);
	fclose(f);
	return kill(vault_a.pid, SIGHUP);
}

/* Polls kms.user_keys until it answers `code` (a reload is asynchronous); 1 when it did within 10 s. */
static int user_keys_becomes(const char *domain, const char *user_uri, int code)
{
	for (int i = 0; i < 200; i++) {
		if (user_keys(domain, user_uri) == code)
			return 1;
		usleep(50000);
	}
	return 0;
}

TEST(interconnect_follows_reload)
{
	/* SIGHUP without issue_to_external_users: carol's next keys are refused */
	REQUIRE(reload_a("issue_to_external_users = [ \"c.example\" ];", "") == 0);
	CHECK(user_keys_becomes(A_DOMAIN, "sip:carol@c.example", -32005));
	CHECK_EQ_INT(user_keys(A_DOMAIN, "sip:alice@a.example"), 0);
	/* and back */
	REQUIRE(reload_a("kms_uri = \"kms.a.example\";",
			 "kms_uri = \"kms.a.example\"; issue_to_external_users = [ \"c.example\" ];") == 0);
	CHECK(user_keys_becomes(A_DOMAIN, "sip:carol@c.example", 0));
}

/* The home certificate's overlap window (docs/operations.md): after a KMS
 * rotation both certificates are in the bundle, new keys come from the new
 * generation, and retiring the old one ends the window. */
TEST(home_rotation_overlap)
{
	json_t *res = NULL, *payload, *certs, *e;
	size_t i, valid = 0;
	char *cert1 = NULL, *cert2 = NULL;

	REQUIRE(rpc(va, "key.rotate", json_pack("{s:s, s:s}", "domain", B_DOMAIN, "purpose", "kms"), &res, NULL) == 0);
	json_decref(res);
	REQUIRE(rpc(va, "kms.cert_cache", json_pack("{s:s}", "domain", B_DOMAIN), &res, NULL) == 0);
	{
		const char *bundle = json_string_value(json_object_get(res, "bundle")), *d1, *d2;
		struct mcx_buf *pl = mcx_buf_new(strlen(bundle != NULL ? bundle : ""));
		payload = NULL;
		if (bundle != NULL && pl != NULL && (d1 = strchr(bundle, '.')) != NULL && (d2 = strchr(d1 + 1, '.')) != NULL &&
		    mcx_base64url_decode(pl, d1 + 1, (size_t)(d2 - d1 - 1)) == 0)
			payload = json_loadb((const char *)mcx_buf_ptr(pl), mcx_buf_len(pl), 0, NULL);
		mcx_buf_free(pl);
	}
	json_decref(res);
	certs = json_object_get(payload, "certificates");
	json_array_foreach(certs, i, e) {
		if (strcmp(json_string_value(json_object_get(e, "role")), "Root") == 0 &&
		    strcmp(json_string_value(json_object_get(e, "status")), "valid") == 0 &&
		    json_is_string(json_object_get(e, "xml")))
			valid++;
		if (strstr(json_string_value(json_object_get(e, "cert_uri")), "/1") != NULL)
			cert1 = strdup(json_string_value(json_object_get(e, "cert_uri")));
		else
			cert2 = strdup(json_string_value(json_object_get(e, "cert_uri")));
	}
	CHECK_EQ_INT(valid, 2);
	CHECK(cert1 != NULL && cert2 != NULL);
	json_decref(payload);
	REQUIRE(rpc(va, "kms.user_keys", json_pack("{s:s, s:s}", "domain", B_DOMAIN, "user_uri", "sip:bob@b.example"), &res,
		    NULL) == 0);
	CHECK_EQ_INT(json_integer_value(json_object_get(res, "kms_version")), 2);
	json_decref(res);
	REQUIRE(rpc(va, "key.retire",
		    json_pack("{s:s, s:s, s:i, s:b}", "domain", B_DOMAIN, "purpose", "kms", "version", 1, "now", 1), NULL,
		    NULL) == 0);
	REQUIRE(rpc(va, "kms.cert_cache", json_pack("{s:s}", "domain", B_DOMAIN), &res, NULL) == 0);
	CHECK_EQ_INT(json_integer_value(json_object_get(res, "certificates")), 1);
	json_decref(res);
	free(cert1);
	free(cert2);
}

TEST(audit_logs_verify)
{
	CHECK_EQ_INT(test_vault_audit_verify(&vault_a), 0);
	CHECK_EQ_INT(test_vault_audit_verify(&vault_b), 0);
}

TEST(vaults_stop_cleanly)
{
	mcxvault_close(va);
	mcxvault_close(vb);
	va = vb = NULL;
	CHECK_EQ_INT(test_vault_stop(&vault_a), 0);
	CHECK_EQ_INT(test_vault_stop(&vault_b), 0);
}

int main(void)
{
	if (system("command -v softhsm2-util >/dev/null 2>&1") != 0) {
		printf("skipped - kms-revoke: softhsm2-util not installed\n");
		printf("kms-revoke: 0 passed, 0 failed, 1 skipped\n");
		return 0;
	}
	if (test_vault_setup(&vault_a, "a",
			     "{ name = \"" A_DOMAIN "\"; kms_uri = \"kms.a.example\"; "
			     "issue_to_external_users = [ \"c.example\" ]; },\n"
			     "  { name = \"" B_DOMAIN "\"; kms_uri = \"kms.b.example\"; "
			     "user_namespaces = [ \"b.example\", \"b-users.example\" ]; }",
			     NULL, 2, 1) != 0 ||
	    test_vault_setup(&vault_b, "c",
			     "{ name = \"" C_DOMAIN "\"; kms_uri = \"" C_KMS "\"; certificate_lifetime = 2592000; }", NULL,
			     2, 0) != 0 ||
	    test_vault_start(&vault_a) != 0 || test_vault_start(&vault_b) != 0 ||
	    mcxvault_connect(vault_a.socket, &va) != 0 || mcxvault_connect(vault_b.socket, &vb) != 0 ||
	    mcxvault_set_timeout(va, 120000) != 0 || mcxvault_set_timeout(vb, 120000) != 0) {
		printf("FAIL - setup (two vaults on throw-away tokens)\n");
		test_failed++;
	} else {
		RUN(trust_c_with_its_keys);
		RUN(trusted_before_revocation_and_expiry);
		RUN(revoke_bad_input_changes_nothing);
		RUN(revoke);
		RUN(revoked_is_untrusted_everywhere);
		RUN(revocation_survives_restarts);
		RUN(remove_and_import_again);
		RUN(interconnect_user_keys);
		RUN(interconnect_settings_checked);
		RUN(interconnect_follows_reload);
		RUN(home_rotation_overlap);
		RUN(audit_logs_verify);
		RUN(vaults_stop_cleanly);
	}
	mcxvault_close(va);
	mcxvault_close(vb);
	if (test_failed > 0) {
		test_vault_dump_log(&vault_a);
		test_vault_dump_log(&vault_b);
	}
	test_vault_cleanup(&vault_a);
	test_vault_cleanup(&vault_b);
	free(c_xml);
	free(c_cert_pem);
	free(c_token_pem);
	free(token_before);
	free(response_after);
	return test_summary("kms-revoke");
}
