/*
 * libmcxvault's typed helpers against a real vaultd on a SoftHSM token
 * (tests/lib/vault_fixture.c, GMS store and audit log on): every helper of
 * the methods after sign.* once with good input and once with bad input —
 * a NULL argument (refused before anything is sent) or one the vault
 * refuses, with the code it must map to.  vaultd is restarted with SIGTERM
 * and SIGKILL half way; what the helpers built must still be there, and the
 * audit log intact at the end.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mcxvault.h"
#include "tests/lib/vault_fixture.h"
#include "tests/test.h"

#define D "a.example"
#define SERVER "sip:mcptt-server@a.example"
#define GROUP "sip:group@a.example"

static struct test_vault vault;
static struct mcxvault *v;
static struct mcxvault_error e;
static int ready;

TEST(setup)
{
	REQUIRE(test_vault_setup(&vault, "methods", TEST_VAULT_DOMAINS_AB, NULL, 2, 1) == 0);
	REQUIRE(test_vault_start(&vault) == 0);
	REQUIRE(mcxvault_connect(vault.socket, &v) == 0);
	REQUIRE(mcxvault_domain_init(v, D, NULL, &e) == 0);
	ready = 1;
}

TEST(domain_and_keys)
{
	json_t *res = NULL;
	int64_t version = 0;

	REQUIRE(ready);
	CHECK_EQ_INT(mcxvault_domain_upgrade(v, D, &res, &e), 0);
	CHECK(json_is_false(json_object_get(res, "changed")));
	json_decref(res);
	CHECK_EQ_INT(mcxvault_domain_upgrade(v, "zz.example", &res, &e), MCX_ERR_NOT_FOUND);
	CHECK(res == NULL && e.rpc_code == -32002);
	CHECK_EQ_INT(mcxvault_key_rotate(v, D, "sign", &version, NULL, &e), 0);
	CHECK_EQ_INT(version, 2);
	/* nothing is scheduled: a cancellation is a key-state error */
	CHECK_EQ_INT(mcxvault_key_cancel_retire(v, D, "sign", 1, &res, &e), MCX_ERR_KEY_STATE);
	CHECK_EQ_INT(e.rpc_code, -32006);
	CHECK_EQ_INT(mcxvault_key_cancel_retire(v, NULL, "sign", 1, &res, &e), MCX_ERR_INVALID_ARGUMENT);
	CHECK(e.rpc_code == 0 && strstr(e.message, "key.cancel_retire") != NULL);
}

TEST(kms)
{
	json_t *res = NULL;
	char *xml = NULL, *bundle = NULL;
	static const uint8_t tk[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

	REQUIRE(ready);
	CHECK_EQ_INT(mcxvault_kms_certificate(v, D, 0, &xml, &res, &e), 0);
	CHECK(xml != NULL && strstr(xml, "<SignedKmsCertificate") != NULL);
	CHECK_EQ_INT(json_integer_value(json_object_get(res, "version")), 1);
	mcxvault_free(xml);
	json_decref(res);
	CHECK_EQ_INT(mcxvault_kms_certificate(v, D, 9, &xml, &res, &e), MCX_ERR_NOT_FOUND);
	CHECK(xml == NULL && res == NULL);
	CHECK_EQ_INT(mcxvault_kms_user_keys(v, D, "sip:alice@a.example", NULL, tk, sizeof(tk), &res, &e), 0);
	CHECK_EQ_STR(json_string_value(json_object_get(res, "key_wrap")), "aes-key-wrap-pad");
	json_decref(res);
	CHECK_EQ_INT(mcxvault_kms_user_keys(v, D, "sip:alice@a.example", "1899-12-31T00:00:00Z", NULL, 0, &res, &e),
		     MCX_ERR_INVALID_PARAMS);
	CHECK_EQ_INT(mcxvault_kms_user_keys(v, D, "sip:alice@a.example", NULL, tk, 5, &res, &e),
		     MCX_ERR_INVALID_ARGUMENT);
	CHECK_EQ_INT(mcxvault_kms_cert_cache(v, D, &bundle, &res, &e), 0);
	CHECK(bundle != NULL && strchr(bundle, '.') != NULL);
	mcxvault_free(bundle);
	json_decref(res);
	CHECK_EQ_INT(mcxvault_kms_cert_cache(v, "zz.example", &bundle, NULL, &e), MCX_ERR_NOT_FOUND);
	CHECK(bundle == NULL);
}

TEST(external)
{
	json_t *res = NULL, *key = json_string("not a key");

	REQUIRE(ready);
	CHECK_EQ_INT(mcxvault_external_list(v, D, &res, &e), 0);
	CHECK_EQ_INT(json_array_size(json_object_get(res, "external")), 0);
	json_decref(res);
	CHECK_EQ_INT(mcxvault_external_import(v, D, "<not-a-certificate/>", key, NULL, &res, &e),
		     MCX_ERR_INVALID_PARAMS);
	CHECK_EQ_INT(mcxvault_external_import(v, D, "<x/>", NULL, NULL, &res, &e), MCX_ERR_INVALID_ARGUMENT);
	CHECK_EQ_INT(mcxvault_external_remove(v, D, "kms.nowhere.example", &res, &e), MCX_ERR_NOT_FOUND);
	CHECK_EQ_INT(mcxvault_external_revoke(v, D, "kms.nowhere.example", "keyCompromise", &res, &e),
		     MCX_ERR_NOT_FOUND);
	json_decref(key);
}

TEST(gmk)
{
	json_t *res = NULL, *members = json_pack("[{s:s}, {s:s, s:s}]", "uri", "sip:alice@a.example", "uri",
	                                         "sip:bob@x.example", "kms_uri", "kms.x.example");
	json_t *extra = json_pack("{s:s}", "time", "2099-01-01T00:00:00Z");
	char *id1 = NULL, *id2 = NULL, now[32];
	time_t t = time(NULL);

	REQUIRE(ready && members != NULL && extra != NULL);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	CHECK_EQ_INT(mcxvault_gmk_create(v, D, GROUP, &id1, &res, &e), 0);
	CHECK(id1 != NULL && strlen(id1) == 8);
	json_decref(res);
	CHECK_EQ_INT(mcxvault_gmk_create(v, D, GROUP, &id2, &res, &e), MCX_ERR_EXISTS);
	CHECK(id2 == NULL);
	CHECK_EQ_INT(mcxvault_gmk_rekey(v, D, GROUP, &id2, NULL, &e), 0);
	CHECK(id2 != NULL && strcmp(id1, id2) != 0);
	CHECK_EQ_INT(mcxvault_gmk_list(v, D, NULL, &res, &e), 0);
	CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(json_array_get(json_object_get(res, "groups"), 0),
	                                                               "current"), "gmk_id")), id2);
	json_decref(res);
	CHECK_EQ_INT(mcxvault_gmk_list(v, D, members /* not an object */, &res, &e), MCX_ERR_INVALID_ARGUMENT);
	CHECK_EQ_INT(mcxvault_gmk_show(v, D, GROUP, &res, &e), 0);
	CHECK_EQ_INT(json_array_size(json_object_get(res, "keys")), 2);
	json_decref(res);
	CHECK_EQ_INT(mcxvault_gmk_show(v, D, "sip:none@a.example", &res, &e), MCX_ERR_NOT_FOUND);
	CHECK_EQ_INT(mcxvault_gmk_distribute(v, D, GROUP, "sip:gms@a.example", members, NULL, NULL, NULL, &res, &e), 0);
	CHECK_EQ_INT(json_integer_value(json_object_get(res, "distributed")), 1);
	CHECK_EQ_INT(json_integer_value(json_object_get(res, "failed")), 1);
	CHECK_EQ_STR(json_string_value(json_object_get(res, "gmk_id")), id2);
	json_decref(res);
	/* extra reaches the vault: a time the certificate does not cover */
	CHECK_EQ_INT(mcxvault_gmk_distribute(v, D, GROUP, "sip:gms@a.example", members, NULL, NULL, extra, &res, &e),
		     MCX_ERR_EXPIRED);
	/* ... but never overrides what the helper sets */
	CHECK_EQ_INT(mcxvault_gmk_distribute(v, D, GROUP, "sip:gms@a.example", members, now, NULL, extra, &res, &e), 0);
	json_decref(res);
	CHECK_EQ_INT(mcxvault_gmk_distribute(v, D, GROUP, NULL, members, NULL, NULL, NULL, &res, &e),
		     MCX_ERR_INVALID_ARGUMENT);
	CHECK_EQ_INT(mcxvault_gmk_revoke(v, D, GROUP, id1, &res, &e), 0);
	CHECK_EQ_INT(json_integer_value(json_object_get(res, "revoked")), 1);
	json_decref(res);
	CHECK_EQ_INT(mcxvault_gmk_revoke(v, D, GROUP, "0badbad0", &res, &e), MCX_ERR_NOT_FOUND);
	mcxvault_free(id1);
	mcxvault_free(id2);
	json_decref(members);
	json_decref(extra);
}

TEST(server_keys)
{
	json_t *res = NULL, *members = json_pack("[{s:s}]", "uri", "sip:alice@a.example");
	char *id = NULL;

	REQUIRE(ready && members != NULL);
	CHECK_EQ_INT(mcxvault_server_key_create(v, D, SERVER, "mkfc", &id, &res, &e), 0);
	CHECK(id != NULL && id[0] == '4');   /* purpose tag 4: MKFC */
	json_decref(res);
	CHECK_EQ_INT(mcxvault_server_key_create(v, D, SERVER, "bogus", NULL, &res, &e), MCX_ERR_INVALID_PARAMS);
	CHECK(strstr(e.message, "purpose") != NULL);
	CHECK_EQ_INT(mcxvault_server_key_rekey(v, D, SERVER, "mkfc", NULL, &res, &e), 0);
	CHECK_EQ_INT(json_integer_value(json_object_get(res, "version")), 2);
	json_decref(res);
	CHECK_EQ_INT(mcxvault_server_key_list(v, D, NULL, &res, &e), 0);
	CHECK_EQ_INT(json_array_size(json_object_get(res, "servers")), 1);
	json_decref(res);
	CHECK_EQ_INT(mcxvault_server_key_show(v, D, SERVER, NULL, &res, &e), 0);
	CHECK_EQ_STR(json_string_value(json_object_get(res, "server_uri")), SERVER);
	json_decref(res);
	CHECK_EQ_INT(mcxvault_server_key_show(v, D, "sip:none@a.example", "mkfc", &res, &e), MCX_ERR_NOT_FOUND);
	CHECK_EQ_INT(mcxvault_server_key_distribute(v, D, SERVER, "mkfc", members, NULL, NULL, NULL, &res, &e), 0);
	CHECK_EQ_INT(json_integer_value(json_object_get(res, "distributed")), 1);
	json_decref(res);
	CHECK_EQ_INT(mcxvault_server_key_distribute(v, D, SERVER, "mkfc", members, NULL, id, NULL, &res, &e), 0);
	json_decref(res);
	CHECK_EQ_INT(mcxvault_server_key_distribute(v, D, SERVER, "csk", members, NULL, NULL, NULL, &res, &e),
		     MCX_ERR_NOT_FOUND);
	CHECK_EQ_INT(mcxvault_server_key_revoke(v, D, SERVER, "mkfc", id, &res, &e), 0);
	json_decref(res);
	CHECK_EQ_INT(mcxvault_server_key_revoke(v, D, "sip:none@a.example", "mkfc", NULL, &res, &e), MCX_ERR_NOT_FOUND);
	mcxvault_free(id);
	json_decref(members);
}

TEST(redirects_and_tokens)
{
	static const char *const kms[] = { "kms.a.example" }, *const unknown[] = { "kms.z.example" };
	json_t *res = NULL, *claims = json_pack("{s:s, s:s}", "sub", "sip:alice@a.example", "aud", "idm.b.example");
	json_t *bad_claims = json_pack("{s:s, s:s, s:s}", "sub", "x", "aud", "y", "iss", "z"), *got = NULL;
	char *resp = NULL, *resp2 = NULL, *decision = NULL, *token = NULL;

	REQUIRE(ready && claims != NULL && bad_claims != NULL);
	CHECK_EQ_INT(mcxvault_redirect_sign(v, D, "sip:alice@a.example", "sip:bob@a.example", "kms.a.example", kms, 1,
					    kms, 1, NULL, &resp, &res, &e), 0);
	CHECK(resp != NULL && strchr(resp, '.') != NULL);
	json_decref(res);
	CHECK_EQ_INT(mcxvault_redirect_sign(v, D, "sip:alice@a.example", "sip:bob@a.example", "kms.a.example", unknown,
					    1, kms, 1, NULL, &resp2, &res, &e), MCX_ERR_POLICY_DENIED);
	CHECK(resp2 == NULL && strstr(e.message, "kms.z.example") != NULL);
	CHECK_EQ_INT(mcxvault_redirect_sign(v, D, "sip:alice@a.example", "sip:bob@a.example", "kms.a.example", NULL, 1,
					    kms, 1, NULL, &resp2, &res, &e), MCX_ERR_INVALID_ARGUMENT);
	/* a second response, accepted before it is evaluated */
	CHECK_EQ_INT(mcxvault_redirect_sign(v, D, "sip:carol@a.example", "sip:bob@a.example", "kms.a.example", kms, 1,
					    kms, 1, NULL, &resp2, NULL, &e), 0);
	CHECK_EQ_INT(mcxvault_redirect_accept(v, D, resp2, &res, &e), 0);
	CHECK(json_is_true(json_object_get(res, "accepted")));
	json_decref(res);
	CHECK_EQ_INT(mcxvault_redirect_evaluate(v, D, resp, NULL, &decision, &res, &e), 0);
	CHECK_EQ_STR(decision, "accept");
	mcxvault_free(decision);
	json_decref(res);
	CHECK_EQ_INT(mcxvault_redirect_evaluate(v, D, resp, NULL, &decision, NULL, &e), 0);
	CHECK_EQ_STR(decision, "reject");   /* replayed: not an error */
	mcxvault_free(decision);
	CHECK_EQ_INT(mcxvault_redirect_evaluate(v, D, "garbage", NULL, &decision, NULL, &e), MCX_ERR_INVALID_PARAMS);
	CHECK(decision == NULL);
	CHECK_EQ_INT(mcxvault_redirect_accept(v, D, resp, &res, &e), MCX_ERR_EXISTS);   /* used */
	CHECK_EQ_INT(mcxvault_redirect_report(v, D, resp, "sip:alice@a.example", &res, &e), 0);
	CHECK(json_is_true(json_object_get(res, "recorded")));
	json_decref(res);
	CHECK_EQ_INT(mcxvault_redirect_report(v, D, "a.b.c", "sip:alice@a.example", &res, &e), MCX_ERR_INVALID_PARAMS);

	CHECK_EQ_INT(mcxvault_token_sign(v, D, claims, &token, &res, &e), 0);
	CHECK(token != NULL);
	json_decref(res);
	CHECK_EQ_INT(mcxvault_token_sign(v, D, bad_claims, NULL, &res, &e), MCX_ERR_INVALID_PARAMS);
	CHECK_EQ_INT(mcxvault_token_verify(v, D, token, "idm.b.example", NULL, &got, &res, &e), 0);
	CHECK_EQ_STR(json_string_value(json_object_get(got, "sub")), "sip:alice@a.example");
	CHECK(json_is_true(json_object_get(res, "valid")));
	json_decref(got);
	json_decref(res);
	CHECK_EQ_INT(mcxvault_token_verify(v, D, token, "idm.c.example", NULL, &got, &res, &e), MCX_ERR_POLICY_DENIED);
	CHECK(got == NULL && res == NULL);
	mcxvault_free(resp);
	mcxvault_free(resp2);
	mcxvault_free(token);
	json_decref(claims);
	json_decref(bad_claims);
}

TEST(restarts_keep_state)
{
	json_t *before = NULL, *after = NULL;

	REQUIRE(ready);
	REQUIRE(mcxvault_server_key_create(v, D, SERVER, "csk", NULL, NULL, &e) == 0);
	REQUIRE(mcxvault_gmk_list(v, D, NULL, &before, &e) == 0);
	CHECK_EQ_INT(test_vault_restart(&vault, SIGTERM), 0);
	CHECK_EQ_INT(test_vault_restart(&vault, SIGKILL), 0);
	/* the handle connects again by itself */
	CHECK_EQ_INT(mcxvault_gmk_list(v, D, NULL, &after, &e), 0);
	CHECK(json_equal(before, after));
	json_decref(after);
	CHECK_EQ_INT(mcxvault_server_key_show(v, D, SERVER, "csk", &after, &e), 0);
	json_decref(before);
	json_decref(after);
}

TEST(audit_and_metrics)
{
	json_t *res = NULL, *records, *cp = NULL, *r;
	char *text = NULL;
	size_t i;
	int valid = -1;

	REQUIRE(ready);
	CHECK_EQ_INT(mcxvault_audit_status(v, &res, &e), 0);
	CHECK(json_is_true(json_object_get(res, "healthy")));
	json_decref(res);
	CHECK_EQ_INT(mcxvault_audit_tail(v, 1000, &res, &e), 0);
	records = json_object_get(res, "records");
	json_array_foreach(records, i, r)
		if (json_is_string(json_object_get(r, "mac")))
			cp = r;
	REQUIRE(cp != NULL);
	CHECK_EQ_INT(mcxvault_audit_check_checkpoint(v, cp, &valid, &e), 0);
	CHECK_EQ_INT(valid, 1);
	json_object_set_new(cp, "mac", json_string("00000000000000000000000000000000"
	                                          "00000000000000000000000000000000"));
	CHECK_EQ_INT(mcxvault_audit_check_checkpoint(v, cp, &valid, &e), 0);
	CHECK_EQ_INT(valid, 0);
	json_object_del(cp, "first_seq");
	CHECK_EQ_INT(mcxvault_audit_check_checkpoint(v, cp, &valid, &e), MCX_ERR_INVALID_ARGUMENT);
	json_decref(res);
	CHECK_EQ_INT(mcxvault_audit_tail(v, 100000, &res, &e), MCX_ERR_INVALID_PARAMS);
	CHECK_EQ_INT(mcxvault_metrics(v, &text, &e), 0);
	CHECK(text != NULL && strstr(text, "mcxvault_requests_total") != NULL);
	mcxvault_free(text);
	CHECK_EQ_INT(mcxvault_audit_rotate(v, &res, &e), 0);
	CHECK(json_is_integer(json_object_get(res, "seq")));
	json_decref(res);
	CHECK_EQ_INT(test_vault_audit_verify(&vault), 0);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	RUN(setup);
	RUN(domain_and_keys);
	RUN(kms);
	RUN(external);
	RUN(gmk);
	RUN(server_keys);
	RUN(redirects_and_tokens);
	RUN(restarts_keep_state);
	RUN(audit_and_metrics);
	if (test_failed != 0)
		test_vault_dump_log(&vault);
	mcxvault_close(v);
	test_vault_cleanup_all();
	return test_summary("client-methods");
}
