/*
 * mcxvault mikey — the I_MESSAGE identities and the group RAND through a real
 * vaultd on a real SoftHSM token: domain a.example configured with
 * mikey_identities = "uri", b.example with the default ("uid");
 * gmk.distribute and server_key.distribute with and without the
 * "identities" parameter, each member's message opened here with the
 * identity-aware client API (mcx_mikey_verify_sender /
 * mcx_mikey_decapsulate_member), and the members' per-sender SRTP contexts
 * (mcx_mikey_media_keys_own / _peer) compared across members.  The vault is
 * restarted with SIGTERM and killed with SIGKILL midway (the RAND, never
 * stored, comes out the same), a bad mikey_identities is refused by
 * vaultd -t, and the audit log verifies intact at the end.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "mcx/eccsi.h"
#include "mcx/mikey.h"
#include "mcx/sakke.h"
#include "mcx/uid.h"
#include "mcx/util.h"
#include "mcxvault.h"
#include "tests/lib/vault_fixture.h"
#include "tests/test.h"

#define GROUP "sip:group-ids@a.example"
#define SENDER "sip:gms@a.example"
#define SERVER "sip:mcptt-server@a.example"

static struct test_vault vault;
static struct mcxvault *va;
static struct mcx_sakke_params *sakke;
static struct mcx_eccsi_params *eccsi;
static int have_setup;

struct kms_public {
	char kms_uri[64];
	uint8_t z[MCX_SAKKE_POINT_LEN];
	uint8_t kpak[MCX_ECCSI_POINT_LEN];
	uint64_t period, offset;
};
static struct kms_public kms_a, kms_b;

struct member {
	const char *uri;
	const char *domain;
	const struct kms_public *kms;
	uint8_t uid[MCX_UID_LEN];
	uint8_t rsk[MCX_SAKKE_POINT_LEN];
	uint64_t period_no;
};
static struct member alice = { "sip:alice@a.example", "a.example", &kms_a, { 0 }, { 0 }, 0 };
static struct member bob = { "sip:bob@a.example", "a.example", &kms_a, { 0 }, { 0 }, 0 };
static struct member dave = { "sip:dave@b.example", "b.example", &kms_b, { 0 }, { 0 }, 0 };

/* What a member got: its message and what it opened. */
struct opened {
	struct mcx_buf *msg;
	struct mcx_mikey_i_message im;
	uint8_t key[MCX_MIKEY_GMK_LEN];
};

static int call(const char *method, json_t *params, json_t **result)
{
	struct mcxvault_error err;
	json_t *res = NULL;
	int r;

	memset(&err, 0, sizeof(err));
	r = mcxvault_call(va, method, params, &res, &err);
	json_decref(params);
	if (r != 0) {
		if (result != NULL)
			*result = NULL;
		if (err.rpc_code == 0)
			printf("  %s: local failure %d\n", method, r);
		return err.rpc_code != 0 ? err.rpc_code : -1;
	}
	if (result != NULL)
		*result = res;
	else
		json_decref(res);
	return 0;
}

static int hex_to(const char *hex, uint8_t *out, size_t len)
{
	struct mcx_buf *b = mcx_buf_new(len + 8);
	int ok = b != NULL && hex != NULL && mcx_hex_decode(b, hex, strlen(hex)) == 0 && mcx_buf_len(b) == len;

	if (ok)
		memcpy(out, mcx_buf_ptr(b), len);
	mcx_buf_free(b);
	return ok ? 0 : -1;
}

static int kms_public_get(const char *domain, struct kms_public *k)
{
	json_t *res = NULL, *c;
	int ok;

	if (call("kms.certificate", json_pack("{s:s}", "domain", domain), &res) != 0)
		return -1;
	c = json_object_get(res, "certificate");
	snprintf(k->kms_uri, sizeof(k->kms_uri), "%s", json_string_value(json_object_get(c, "kms_uri")));
	k->period = (uint64_t)json_integer_value(json_object_get(c, "user_key_period"));
	k->offset = (uint64_t)json_integer_value(json_object_get(c, "user_key_offset"));
	ok = hex_to(json_string_value(json_object_get(c, "pub_enc_key")), k->z, sizeof(k->z)) == 0 &&
	     hex_to(json_string_value(json_object_get(c, "pub_auth_key")), k->kpak, sizeof(k->kpak)) == 0;
	json_decref(res);
	return ok ? 0 : -1;
}

static int user_keys(struct member *m)
{
	json_t *res = NULL;
	struct mcx_buf *rsk = mcx_buf_new_secret(512);
	const char *text;
	int ok;

	if (call("kms.user_keys", json_pack("{s:s, s:s}", "domain", m->domain, "user_uri", m->uri), &res) != 0) {
		mcx_buf_free(rsk);
		return -1;
	}
	text = json_string_value(json_object_get(res, "rsk"));
	ok = hex_to(json_string_value(json_object_get(res, "user_id")), m->uid, sizeof(m->uid)) == 0 &&
	     text != NULL && mcx_base64url_decode(rsk, text, strlen(text)) == 0 && mcx_buf_len(rsk) == sizeof(m->rsk);
	if (ok)
		memcpy(m->rsk, mcx_buf_ptr(rsk), sizeof(m->rsk));
	m->period_no = (uint64_t)json_integer_value(json_object_get(res, "key_period_no"));
	json_decref(res);
	mcx_buf_free(rsk);
	return ok ? 0 : -1;
}

static json_t *members_json(const struct member *const *ms, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:s}", "uri", ms[i]->uri));
	return a;
}

/*
 * The member's side, whatever the identities: parse, verify with the sender's
 * UID and URI, decapsulate with its own UID and URI; the message carries the
 * identities `want`.  o->msg must be freed by the caller.
 */
static int member_open(const struct member *m, json_t *res, size_t index, const char *sender,
		       enum mcx_mikey_identities want, struct opened *o)
{
	json_t *entry = json_array_get(json_object_get(res, "members"), index);
	const char *text = json_string_value(json_object_get(entry, "i_message"));
	uint8_t sender_uid[MCX_UID_LEN];

	memset(o, 0, sizeof(*o));
	if (text == NULL || (o->msg = mcx_buf_new(MCX_MIKEY_MSG_MAX)) == NULL ||
	    mcx_base64url_decode(o->msg, text, strlen(text)) != 0 ||
	    mcx_mikey_parse(mcx_buf_ptr(o->msg), mcx_buf_len(o->msg), &o->im) != 0) {
		printf("  %s: no parsable I_MESSAGE\n", m->uri);
		return -1;
	}
	if (mcx_mikey_identities_of(&o->im) != want) {
		printf("  %s: identities %s, expected %s\n", m->uri, mcx_mikey_identities_name(mcx_mikey_identities_of(&o->im)),
		       mcx_mikey_identities_name(want));
		return -1;
	}
	/* the sender is a user of the home domain a.example */
	if (mcx_uid_compute(sender, strlen(sender), kms_a.kms_uri, strlen(kms_a.kms_uri), kms_a.period, kms_a.offset,
			    alice.period_no, sender_uid) != 0 ||
	    mcx_mikey_verify_sender(eccsi, &o->im, kms_a.kpak, sender_uid, sender) != 0) {
		printf("  %s: does not verify\n", m->uri);
		return -1;
	}
	if (mcx_mikey_decapsulate_member(sakke, &o->im, m->kms->z, m->uid, m->uri, m->rsk, o->key) != 0) {
		printf("  %s: does not decapsulate\n", m->uri);
		return -1;
	}
	return 0;
}

static void opened_free(struct opened *o)
{
	mcx_buf_free(o->msg);
	mcx_wipe(o->key, sizeof(o->key));
	o->msg = NULL;
}

static uint32_t id_of(json_t *res, const char *name)
{
	const char *s = json_string_value(json_object_get(res, name));
	return s != NULL ? (uint32_t)strtoul(s, NULL, 16) : 0;
}

static json_t *distribute_gmk(const char *domain, const char *group, const struct member *const *ms, size_t n,
			      const char *identities, int *rc)
{
	json_t *params = json_pack("{s:s, s:s, s:s, s:o}", "domain", domain, "group", group, "sender_uri", SENDER,
				   "members", members_json(ms, n)), *res = NULL;

	if (identities != NULL)
		json_object_set_new(params, "identities", json_string(identities));
	*rc = call("gmk.distribute", params, &res);
	return res;
}

/* --- tests ------------------------------------------------------------------------ */

static uint8_t first_rand[MCX_MIKEY_RAND_LEN];
static uint32_t gmk_id;

TEST(setup)
{
	REQUIRE(test_vault_setup(&vault, "ids",
				 "{ name = \"a.example\"; kms_uri = \"kms.a.example\"; mikey_identities = \"uri\"; },\n"
				 "  { name = \"b.example\"; kms_uri = \"kms.b.example\"; }",
				 NULL, 2, 1) == 0);
	REQUIRE(test_vault_start(&vault) == 0);
	REQUIRE(mcxvault_connect(vault.socket, &va) == 0);
	REQUIRE(mcxvault_set_timeout(va, 120000) == 0);
	REQUIRE(call("domain.init", json_pack("{s:s}", "domain", "a.example"), NULL) == 0);
	REQUIRE(call("domain.init", json_pack("{s:s}", "domain", "b.example"), NULL) == 0);
	REQUIRE(kms_public_get("a.example", &kms_a) == 0);
	REQUIRE(kms_public_get("b.example", &kms_b) == 0);
	REQUIRE(user_keys(&alice) == 0 && user_keys(&bob) == 0 && user_keys(&dave) == 0);
	REQUIRE(call("gmk.create", json_pack("{s:s, s:s}", "domain", "a.example", "group", GROUP), NULL) == 0);
	REQUIRE(call("gmk.create", json_pack("{s:s, s:s}", "domain", "b.example", "group", "sip:g@b.example"), NULL) ==
		0);
	have_setup = 1;
}

/* a.example says "uri"; the parameter overrides it either way */
TEST(distribute_each_mode)
{
	static const struct {
		const char *param;
		enum mcx_mikey_identities want;
	} modes[] = {
		{ NULL, MCX_MIKEY_IDS_URI },      /* the domain's mikey_identities */
		{ "uid", MCX_MIKEY_IDS_UID },
		{ "uri", MCX_MIKEY_IDS_URI },
		{ "both", MCX_MIKEY_IDS_BOTH },
	};
	const struct member *ms[] = { &alice, &bob };
	struct opened oa, ob;
	json_t *res;
	int rc;

	if (!have_setup)
		SKIP("no vault");
	for (size_t i = 0; i < MCX_ARRAY_SIZE(modes); i++) {
		res = distribute_gmk("a.example", GROUP, ms, 2, modes[i].param, &rc);
		REQUIRE(rc == 0 && res != NULL);
		CHECK_EQ_STR(json_string_value(json_object_get(res, "identities")),
			     mcx_mikey_identities_name(modes[i].want));
		CHECK_EQ_INT(json_integer_value(json_object_get(res, "distributed")), 2);
		gmk_id = id_of(res, "gmk_id");
		CHECK_OK(member_open(&alice, res, 0, SENDER, modes[i].want, &oa));
		CHECK_OK(member_open(&bob, res, 1, SENDER, modes[i].want, &ob));
		if (oa.msg != NULL && ob.msg != NULL) {
			CHECK_MEM(oa.key, ob.key, MCX_MIKEY_GMK_LEN);
			/* one RAND for the key, not per member, and it is the group RAND */
			{
				uint8_t want[MCX_MIKEY_RAND_LEN];
				REQUIRE(mcx_mikey_group_rand(oa.key, gmk_id, want) == 0);
				CHECK(oa.im.rand_len == 16 && ob.im.rand_len == 16);
				CHECK_MEM(oa.im.rand, want, 16);
				CHECK_MEM(ob.im.rand, want, 16);
				memcpy(first_rand, want, 16);
			}
			/* a message is its member's only: Bob's URI and keys on Alice's message */
			{
				uint8_t g[MCX_MIKEY_GMK_LEN];
				CHECK(mcx_mikey_decapsulate_member(sakke, &oa.im, kms_a.z, bob.uid, bob.uri, bob.rsk, g) != 0);
			}
		}
		opened_free(&oa);
		opened_free(&ob);
		json_decref(res);
	}
}

/* b.example has no mikey_identities: the default, the UID form of E.7 */
TEST(default_is_uid)
{
	const struct member *ms[] = { &dave };
	struct opened od;
	json_t *res;
	int rc;

	if (!have_setup)
		SKIP("no vault");
	res = distribute_gmk("b.example", "sip:g@b.example", ms, 1, NULL, &rc);
	REQUIRE(rc == 0 && res != NULL);
	CHECK_EQ_STR(json_string_value(json_object_get(res, "identities")), "uid");
	/* the sender is a user of b.example here */
	{
		json_t *entry = json_array_get(json_object_get(res, "members"), 0);
		const char *text = json_string_value(json_object_get(entry, "i_message"));
		uint8_t suid[MCX_UID_LEN];

		memset(&od, 0, sizeof(od));
		REQUIRE((od.msg = mcx_buf_new(MCX_MIKEY_MSG_MAX)) != NULL && text != NULL);
		REQUIRE(mcx_base64url_decode(od.msg, text, strlen(text)) == 0);
		REQUIRE(mcx_mikey_parse(mcx_buf_ptr(od.msg), mcx_buf_len(od.msg), &od.im) == 0);
		CHECK_EQ_INT(mcx_mikey_identities_of(&od.im), MCX_MIKEY_IDS_UID);
		CHECK(!od.im.idri.present && !od.im.idrr.present);
		REQUIRE(mcx_uid_compute(SENDER, strlen(SENDER), kms_b.kms_uri, strlen(kms_b.kms_uri), kms_b.period,
					kms_b.offset, dave.period_no, suid) == 0);
		CHECK_OK(mcx_mikey_verify_sender(eccsi, &od.im, kms_b.kpak, suid, SENDER));
		CHECK_OK(mcx_mikey_decapsulate_member(sakke, &od.im, kms_b.z, dave.uid, dave.uri, dave.rsk, od.key));
	}
	opened_free(&od);
	json_decref(res);
}

TEST(bad_identities_param)
{
	const struct member *ms[] = { &alice };
	json_t *res, *params;
	int rc;

	if (!have_setup)
		SKIP("no vault");
	res = distribute_gmk("a.example", GROUP, ms, 1, "UID", &rc);
	CHECK_EQ_INT(rc, -32602);
	json_decref(res);
	res = distribute_gmk("a.example", GROUP, ms, 1, "", &rc);
	CHECK_EQ_INT(rc, -32602);
	json_decref(res);
	params = json_pack("{s:s, s:s, s:s, s:o, s:i}", "domain", "a.example", "group", GROUP, "sender_uri", SENDER,
			   "members", members_json(ms, 1), "identities", 1);
	CHECK_EQ_INT(call("gmk.distribute", params, NULL), -32602);
	params = json_pack("{s:s, s:s, s:s, s:o, s:s}", "domain", "a.example", "server_uri", SERVER, "purpose", "mkfc",
			   "members", members_json(ms, 1), "identities", "hidden");
	CHECK_EQ_INT(call("server_key.distribute", params, NULL), -32602);
}

/* server keys take the parameter too (signed with the server's identity) */
TEST(server_key_both)
{
	const struct member *ms[] = { &alice, &bob };
	struct opened oa, ob;
	json_t *res = NULL;

	if (!have_setup)
		SKIP("no vault");
	REQUIRE(call("server_key.create",
		     json_pack("{s:s, s:s, s:s}", "domain", "a.example", "server_uri", SERVER, "purpose", "mkfc"),
		     NULL) == 0);
	REQUIRE(call("server_key.distribute",
		     json_pack("{s:s, s:s, s:s, s:o, s:s}", "domain", "a.example", "server_uri", SERVER, "purpose",
			       "mkfc", "members", members_json(ms, 2), "identities", "both"),
		     &res) == 0);
	CHECK_EQ_STR(json_string_value(json_object_get(res, "identities")), "both");
	CHECK_OK(member_open(&alice, res, 0, SERVER, MCX_MIKEY_IDS_BOTH, &oa));
	CHECK_OK(member_open(&bob, res, 1, SERVER, MCX_MIKEY_IDS_BOTH, &ob));
	if (oa.msg != NULL)
		CHECK(oa.im.idri.len == strlen(SERVER) && memcmp(oa.im.idri.data, SERVER, oa.im.idri.len) == 0);
	if (oa.msg != NULL && ob.msg != NULL)
		CHECK_MEM(oa.im.rand, ob.im.rand, 16);
	opened_free(&oa);
	opened_free(&ob);
	json_decref(res);
}

/*
 * Each member's own SRTP context and what the other derives for it from the
 * MKI agree (TS 33.180 7.4.2), after a SIGTERM restart and a SIGKILL: the
 * RAND is derived from the key, so late joiners get the same one.
 */
TEST(media_keys_across_members_and_restarts)
{
	const struct member *ms[] = { &alice, &bob };
	struct opened oa, ob;
	struct mcx_mikey_srtp_keys own_a, own_b, k;
	json_t *res;
	int rc;

	if (!have_setup)
		SKIP("no vault");
	CHECK_EQ_INT(test_vault_restart(&vault, SIGTERM), 0);
	mcxvault_close(va);
	REQUIRE(mcxvault_connect(vault.socket, &va) == 0);
	res = distribute_gmk("a.example", GROUP, ms, 1, NULL, &rc);       /* Alice alone */
	REQUIRE(rc == 0 && res != NULL);
	REQUIRE(member_open(&alice, res, 0, SENDER, MCX_MIKEY_IDS_URI, &oa) == 0);
	json_decref(res);
	CHECK_EQ_INT(test_vault_restart(&vault, SIGKILL), 0);
	mcxvault_close(va);
	REQUIRE(mcxvault_connect(vault.socket, &va) == 0);
	res = distribute_gmk("a.example", GROUP, ms + 1, 1, "both", &rc);  /* Bob joins late */
	REQUIRE(rc == 0 && res != NULL);
	REQUIRE(member_open(&bob, res, 0, SENDER, MCX_MIKEY_IDS_BOTH, &ob) == 0);
	json_decref(res);
	CHECK_MEM(oa.key, ob.key, MCX_MIKEY_GMK_LEN);
	CHECK_MEM(oa.im.rand, first_rand, 16);
	CHECK_MEM(ob.im.rand, first_rand, 16);
	CHECK_OK(mcx_mikey_media_keys_own(&oa.im, oa.key, alice.uri, &own_a));
	CHECK_OK(mcx_mikey_media_keys_own(&ob.im, ob.key, bob.uri, &own_b));
	CHECK(memcmp(own_a.master_key, own_b.master_key, 16) != 0);
	CHECK(memcmp(own_a.master_salt, own_b.master_salt, 12) != 0);
	CHECK_EQ_INT(own_a.guk_id, oa.im.csb_id);
	/* Bob receives Alice, Alice receives Bob */
	CHECK_OK(mcx_mikey_media_keys_peer(&ob.im, ob.key, bob.uri, own_a.mki, sizeof(own_a.mki), &k));
	CHECK_MEM(&k, &own_a, sizeof(k));
	CHECK_OK(mcx_mikey_media_keys_peer(&oa.im, oa.key, alice.uri, own_b.mki, sizeof(own_b.mki), &k));
	CHECK_MEM(&k, &own_b, sizeof(k));
	/* Bob's URI cannot pass for Alice's on her message */
	CHECK_EQ_INT(mcx_mikey_media_keys_own(&oa.im, oa.key, bob.uri, &k), MCX_ERR_INVALID_ARGUMENT);
	opened_free(&oa);
	opened_free(&ob);
	mcx_wipe(&own_a, sizeof(own_a));
	mcx_wipe(&own_b, sizeof(own_b));
	mcx_wipe(&k, sizeof(k));
}

/*
 * Two members whose 28-bit GUK-IDs collide share an SRTP key and salt (TS
 * 33.180 7.4.2): the vault names them.  Alice opens her message to learn the
 * GMK (as a member does), the test searches URIs until two GUK-IDs collide
 * (birthday bound: ~20,000 tries of 2^28), and distributes to them: each is
 * told the other's URI and the result counts 2; a member listed twice is not
 * a collision.
 */
#define GUK_TRIES 400000u
#define GUK_TABLE (1u << 20)

TEST(guk_id_collisions_named)
{
	const struct member *ms[] = { &alice };
	struct opened oa;
	uint32_t *table = NULL, g = 0, hit = 0, found_i = 0, found_j = 0;
	char a_uri[64], b_uri[64];
	json_t *res, *list, *params;
	int rc;

	if (!have_setup)
		SKIP("no vault");
	res = distribute_gmk("a.example", GROUP, ms, 1, "uid", &rc);
	REQUIRE(rc == 0 && res != NULL);
	REQUIRE(member_open(&alice, res, 0, SENDER, MCX_MIKEY_IDS_UID, &oa) == 0);
	json_decref(res);
	REQUIRE((table = calloc(GUK_TABLE, sizeof(*table))) != NULL);   /* guk_id slot -> index + 1 */
	for (uint32_t i = 0; i < GUK_TRIES && !hit; i++) {
		char uri[64];
		uint32_t slot;
		snprintf(uri, sizeof(uri), "sip:u%u@a.example", i);
		REQUIRE(mcx_mikey_guk_id(oa.key, oa.im.gmk_id, uri, &g) == 0);
		for (slot = g & (GUK_TABLE - 1); table[slot] != 0; slot = (slot + 1) & (GUK_TABLE - 1)) {
			uint32_t other;
			char ouri[64];
			snprintf(ouri, sizeof(ouri), "sip:u%u@a.example", table[slot] - 1);
			REQUIRE(mcx_mikey_guk_id(oa.key, oa.im.gmk_id, ouri, &other) == 0);
			if (other == g) {
				hit = 1;
				found_i = table[slot] - 1;
				found_j = i;
				break;
			}
		}
		if (!hit)
			table[slot] = i + 1;
	}
	free(table);
	opened_free(&oa);
	REQUIRE(hit);
	snprintf(a_uri, sizeof(a_uri), "sip:u%u@a.example", found_i);
	snprintf(b_uri, sizeof(b_uri), "sip:u%u@a.example", found_j);
	printf("  %s and %s share GUK-ID %08x\n", a_uri, b_uri, g);
	params = json_pack("{s:s, s:s, s:s, s:[{s:s}, {s:s}, {s:s}]}", "domain", "a.example", "group", GROUP,
			   "sender_uri", SENDER, "members", "uri", a_uri, "uri", alice.uri, "uri", b_uri);
	res = NULL;
	REQUIRE(call("gmk.distribute", params, &res) == 0);
	list = json_object_get(res, "members");
	CHECK_EQ_INT(json_integer_value(json_object_get(res, "guk_id_collisions")), 2);
	CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(list, 0), "guk_id_shared_with")), b_uri);
	CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(list, 2), "guk_id_shared_with")), a_uri);
	CHECK(json_object_get(json_array_get(list, 1), "guk_id_shared_with") == NULL);
	CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(list, 0), "guk_id")),
		     json_string_value(json_object_get(json_array_get(list, 2), "guk_id")));
	json_decref(res);
	/* vaultctl compares across its chunks: one member per request here */
	{
		char dir[PATH_MAX], members[PATH_MAX], cmd[3 * PATH_MAX + 256], out[65536];
		size_t got = 0, n;
		FILE *f;
		json_t *doc;

		snprintf(dir, sizeof(dir), "%s", vault.vaultd_path);
		if (strrchr(dir, '/') != NULL)
			*strrchr(dir, '/') = '\0';
		snprintf(members, sizeof(members), "%s/colliding-members", vault.dir);
		REQUIRE((f = fopen(members, "w")) != NULL);
		fprintf(f, "%s\n%s\n%s\n", a_uri, alice.uri, b_uri);
		fclose(f);
		snprintf(cmd, sizeof(cmd), "'%s/vaultctl' -s '%s' gmk distribute a.example '%s' --sender '%s' --members '%s' "
			 "--chunk 1 2>&1 >/dev/null", dir, vault.socket, GROUP, SENDER, members);
		REQUIRE((f = popen(cmd, "r")) != NULL);
		while ((n = fread(out + got, 1, sizeof(out) - 1 - got, f)) > 0)
			got += n;
		out[got] = '\0';
		pclose(f);
		CHECK(strstr(out, "share GUK-ID") != NULL && strstr(out, a_uri) != NULL && strstr(out, b_uri) != NULL);
		snprintf(cmd, sizeof(cmd), "'%s/vaultctl' -s '%s' --json gmk distribute a.example '%s' --sender '%s' "
			 "--members '%s' --chunk 1 2>/dev/null", dir, vault.socket, GROUP, SENDER, members);
		REQUIRE((f = popen(cmd, "r")) != NULL);
		got = 0;
		while ((n = fread(out + got, 1, sizeof(out) - 1 - got, f)) > 0)
			got += n;
		out[got] = '\0';
		pclose(f);
		doc = json_loads(out, 0, NULL);
		CHECK(doc != NULL);
		CHECK_EQ_INT(json_integer_value(json_object_get(doc, "guk_id_collisions")), 2);
		json_decref(doc);
	}
	/* the same member twice: one GUK-ID, no collision */
	params = json_pack("{s:s, s:s, s:s, s:[{s:s}, {s:s}]}", "domain", "a.example", "group", GROUP, "sender_uri",
			   SENDER, "members", "uri", alice.uri, "uri", alice.uri);
	res = NULL;
	REQUIRE(call("gmk.distribute", params, &res) == 0);
	CHECK_EQ_INT(json_integer_value(json_object_get(res, "guk_id_collisions")), 0);
	json_decref(res);
}

/* vaultd -t names the file, line and reason of a bad mikey_identities */
TEST(config_refuses_bad_value)
{
	char path[192], cmd[PATH_MAX + 512], *text = NULL, *at;
	FILE *f;
	long n;
	int status;

	if (!have_setup)
		SKIP("no vault");
	REQUIRE((f = fopen(vault.config, "r")) != NULL);
	REQUIRE(fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0);
	REQUIRE((text = calloc(1, (size_t)n + 16)) != NULL);
	REQUIRE(fread(text, 1, (size_t)n, f) == (size_t)n);
	fclose(f);
	REQUIRE((at = strstr(text, "mikey_identities = \"uri\"")) != NULL);
	memcpy(at + strlen("mikey_identities = \""), "xyz", 3);
	snprintf(path, sizeof(path), "%s/bad-ids.conf", vault.dir);
	REQUIRE((f = fopen(path, "w")) != NULL);
	REQUIRE(fwrite(text, 1, (size_t)n, f) == (size_t)n);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "'%s' -t -c '%s' > '%s/bad-ids.out' 2>&1", vault.vaultd_path, path, vault.dir);
	status = system(cmd);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) != 0);
	snprintf(cmd, sizeof(cmd), "grep -q 'bad-ids.conf:[0-9]*: domain .a.example.: mikey_identities must be' '%s/bad-ids.out'",
		 vault.dir);
	CHECK_EQ_INT(system(cmd), 0);
	/* and the good file passes */
	snprintf(cmd, sizeof(cmd), "'%s' -t -c '%s' > /dev/null 2>&1", vault.vaultd_path, vault.config);
	CHECK_EQ_INT(system(cmd), 0);
	free(text);
}

TEST(audit_intact_and_clean_exit)
{
	if (!have_setup)
		SKIP("no vault");
	if (vault.audit[0] != '\0')
		CHECK_EQ_INT(test_vault_audit_verify(&vault), 0);
	mcxvault_close(va);
	va = NULL;
	CHECK_EQ_INT(test_vault_stop(&vault), 0);
}

int main(void)
{
	int status;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (mcx_sakke_params_new(&sakke) != 0 || mcx_eccsi_params_new(&eccsi) != 0) {
		printf("mikey-gms: 0 passed, 1 failed\n");
		return 1;
	}
	RUN(setup);
	RUN(distribute_each_mode);
	RUN(default_is_uid);
	RUN(bad_identities_param);
	RUN(server_key_both);
	RUN(media_keys_across_members_and_restarts);
	RUN(guk_id_collisions_named);
	RUN(config_refuses_bad_value);
	RUN(audit_intact_and_clean_exit);
	if (test_failed != 0)
		test_vault_dump_log(&vault);
	mcxvault_close(va);
	test_vault_cleanup_all();
	mcx_sakke_params_free(sakke);
	mcx_eccsi_params_free(eccsi);
	status = test_summary("mikey-gms");
	return status;
}
