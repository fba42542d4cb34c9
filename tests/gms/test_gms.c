/*
 * mcxvault — GMS round trip against two real vaultds on two real SoftHSM
 * tokens: vault A (home domain a.example, with the GMS store) and vault B
 * (c.example, an external security domain).  The KMS certificates are
 * exchanged with external.import both ways; members of both domains get
 * their keys from their own KMS (kms.user_keys), A distributes a GMK, and
 * every member parses, verifies and decapsulates its I_MESSAGE here with
 * mcx_mikey_* as a client would.  Both vaults run with the audit log on and
 * are restarted with SIGTERM and killed with SIGKILL midway: groups, GMKs,
 * KMS secrets and trust survive, and both logs verify intact at the end.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcx/eccsi.h"
#include "mcx/mikey.h"
#include "mcx/sakke.h"
#include "mcx/uid.h"
#include "mcx/util.h"
#include "mcxvault.h"
#include "tests/lib/vault_fixture.h"
#include "tests/test.h"

#define GROUP "sip:group-1@a.example"
#define SENDER "sip:gms@a.example"

static struct test_vault vault_a, vault_b;
static struct mcxvault *va, *vb;
static struct mcx_sakke_params *sakke;
static struct mcx_eccsi_params *eccsi;
static char *transcript;            /* every result A gave, for the "never in clear" check */
static size_t transcript_len;

/* Public values of a KMS, from kms.certificate. */
struct kms_public {
	char kms_uri[64];
	uint8_t z[MCX_SAKKE_POINT_LEN];
	uint8_t kpak[MCX_ECCSI_POINT_LEN];
	uint64_t period, offset;
};
static struct kms_public kms_a, kms_c;

/* A member with its keys from its own KMS. */
struct member {
	const char *uri;
	const struct kms_public *kms;
	uint8_t uid[MCX_UID_LEN];
	uint8_t rsk[MCX_SAKKE_POINT_LEN];
	uint64_t period_no;
};
static struct member alice = { "sip:alice@a.example", &kms_a, { 0 }, { 0 }, 0 };
static struct member bob = { "sip:bob@a.example", &kms_a, { 0 }, { 0 }, 0 };
static struct member carol = { "sip:carol@c.example", &kms_c, { 0 }, { 0 }, 0 };

static void transcript_add(json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT);
	size_t n = text ? strlen(text) : 0;
	char *grown = realloc(transcript, transcript_len + n + 1);

	if (grown != NULL) {
		transcript = grown;
		memcpy(transcript + transcript_len, text, n);
		transcript_len += n;
		transcript[transcript_len] = '\0';
	}
	free(text);
}

/* Calls method; returns 0 or the JSON-RPC error code. */
static int call(struct mcxvault *v, const char *method, json_t *params, json_t **result)
{
	struct mcxvault_error err;
	json_t *res = NULL;
	int r;

	memset(&err, 0, sizeof(err));
	r = mcxvault_call(v, method, params, &res, &err);
	json_decref(params);
	if (r != 0) {
		if (err.rpc_code == 0)
			printf("  %s: local failure %d\n", method, r);
		if (result != NULL)
			*result = NULL;
		return err.rpc_code != 0 ? err.rpc_code : -1;
	}
	if (v == va)
		transcript_add(res);
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

static int b64_to(const char *text, struct mcx_buf *out)
{
	return text != NULL && mcx_base64url_decode(out, text, strlen(text)) == 0 ? 0 : -1;
}

static int kms_public_get(struct mcxvault *v, const char *domain, struct kms_public *k)
{
	json_t *res = NULL, *c;
	int ok;

	if (call(v, "kms.certificate", json_pack("{s:s}", "domain", domain), &res) != 0)
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

static int user_keys(struct mcxvault *v, const char *domain, struct member *m)
{
	json_t *res = NULL;
	struct mcx_buf *rsk = mcx_buf_new_secret(512);
	int ok;

	if (call(v, "kms.user_keys", json_pack("{s:s, s:s}", "domain", domain, "user_uri", m->uri), &res) != 0) {
		mcx_buf_free(rsk);
		return -1;
	}
	ok = hex_to(json_string_value(json_object_get(res, "user_id")), m->uid, sizeof(m->uid)) == 0 &&
	     b64_to(json_string_value(json_object_get(res, "rsk")), rsk) == 0 && mcx_buf_len(rsk) == sizeof(m->rsk);
	if (ok)
		memcpy(m->rsk, mcx_buf_ptr(rsk), sizeof(m->rsk));
	m->period_no = (uint64_t)json_integer_value(json_object_get(res, "key_period_no"));
	json_decref(res);
	mcx_buf_free(rsk);
	return ok ? 0 : -1;
}

/* Trust: domain `domain` of vault `to` imports the certificate of `from_domain` of vault `from`,
 * with its cert key (verifies the certificate) and its token key. */
static int exchange(struct mcxvault *from, const char *from_domain, struct mcxvault *to, const char *domain)
{
	json_t *cert = NULL, *key = NULL, *token = NULL;
	int r = -1;

	if (call(from, "kms.certificate", json_pack("{s:s}", "domain", from_domain), &cert) == 0 &&
	    call(from, "sign.public_key", json_pack("{s:s, s:s}", "domain", from_domain, "purpose", "cert"), &key) == 0 &&
	    call(from, "sign.public_key", json_pack("{s:s, s:s}", "domain", from_domain, "purpose", "token"), &token) == 0)
		r = call(to, "external.import",
		         json_pack("{s:s, s:O, s:O, s:O}", "domain", domain, "certificate", json_object_get(cert, "xml"),
		                   "signing_key", json_object_get(key, "pem"), "token_key", json_object_get(token, "pem")),
		         NULL);
	json_decref(cert);
	json_decref(key);
	json_decref(token);
	return r;
}

static json_t *members_json(const char *const *uris, const char *const *kms_uris, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++) {
		json_t *m = json_pack("{s:s}", "uri", uris[i]);
		if (kms_uris != NULL && kms_uris[i] != NULL)
			json_object_set_new(m, "kms_uri", json_string(kms_uris[i]));
		json_array_append_new(a, m);
	}
	return a;
}

/* A member's side: parse, verify (sender KPAK + UID of the home KMS), decapsulate. */
static int member_open(const struct member *m, json_t *entry, const char *sender, uint32_t expect_id,
                       uint8_t gmk[MCX_MIKEY_GMK_LEN])
{
	struct mcx_buf *msg = mcx_buf_new(MCX_MIKEY_MSG_MAX);
	struct mcx_mikey_i_message im;
	uint8_t sender_uid[MCX_UID_LEN];
	uint32_t guk_id = 0, gmk_id = 0;
	int r = -1;

	if (msg == NULL || entry == NULL || json_object_get(entry, "error") != NULL)
		goto out;
	if (strcmp(json_string_value(json_object_get(entry, "uri")), m->uri) != 0 ||
	    strcmp(json_string_value(json_object_get(entry, "kms_uri")), m->kms->kms_uri) != 0)
		goto out;
	if (b64_to(json_string_value(json_object_get(entry, "i_message")), msg) != 0)
		goto out;
	if (mcx_mikey_parse(mcx_buf_ptr(msg), mcx_buf_len(msg), &im) != 0)
		goto out;
	/* the sender is a user of the home domain: its UID under kms.a.example */
	if (mcx_uid_compute(sender, strlen(sender), kms_a.kms_uri, strlen(kms_a.kms_uri), kms_a.period, kms_a.offset,
	                    alice.period_no, sender_uid) != 0)
		goto out;
	if (mcx_mikey_verify(eccsi, &im, kms_a.kpak, sender_uid) != 0) {
		printf("  %s: signature does not verify\n", m->uri);
		goto out;
	}
	if (mcx_mikey_decapsulate(sakke, &im, m->kms->z, m->uid, m->rsk, gmk) != 0) {
		printf("  %s: decapsulation failed\n", m->uri);
		goto out;
	}
	guk_id = (uint32_t)strtoul(json_string_value(json_object_get(entry, "guk_id")), NULL, 16);
	if (im.csb_id != guk_id || mcx_mikey_gmk_id_from_guk_id(gmk, guk_id, m->uri, &gmk_id) != 0 ||
	    gmk_id != expect_id || im.gmk_id != expect_id) {
		printf("  %s: GUK-ID/GMK-ID mismatch\n", m->uri);
		goto out;
	}
	r = 0;
out:
	mcx_buf_free(msg);
	return r;
}

static uint32_t id_of(json_t *res, const char *name)
{
	const char *s = json_string_value(json_object_get(res, name));
	return s != NULL ? (uint32_t)strtoul(s, NULL, 16) : 0;
}

static json_t *member_entry(json_t *res, size_t i)
{
	return json_array_get(json_object_get(res, "members"), i);
}

/* --- tests ------------------------------------------------------------------------ */

static uint8_t gmk1[MCX_MIKEY_GMK_LEN], gmk2[MCX_MIKEY_GMK_LEN];
static uint32_t gmk_id1, gmk_id2;
static int have_setup;

TEST(setup_two_domains)
{
	REQUIRE(test_vault_setup(&vault_a, "a", "{ name = \"a.example\"; kms_uri = \"kms.a.example\"; }", NULL, 2, 1) == 0);
	REQUIRE(test_vault_setup(&vault_b, "c", "{ name = \"c.example\"; kms_uri = \"kms.c.example\"; }", NULL, 2, 0) == 0);
	REQUIRE(test_vault_start(&vault_a) == 0);
	REQUIRE(test_vault_start(&vault_b) == 0);
	REQUIRE(mcxvault_connect(vault_a.socket, &va) == 0);
	REQUIRE(mcxvault_connect(vault_b.socket, &vb) == 0);
	REQUIRE(mcxvault_set_timeout(va, 120000) == 0);
	CHECK_EQ_INT(call(va, "domain.init", json_pack("{s:s}", "domain", "a.example"), NULL), 0);
	CHECK_EQ_INT(call(vb, "domain.init", json_pack("{s:s}", "domain", "c.example"), NULL), 0);
	/* certificates exchanged both ways */
	CHECK_EQ_INT(exchange(vb, "c.example", va, "a.example"), 0);
	CHECK_EQ_INT(exchange(va, "a.example", vb, "c.example"), 0);
	REQUIRE(kms_public_get(va, "a.example", &kms_a) == 0);
	REQUIRE(kms_public_get(vb, "c.example", &kms_c) == 0);
	REQUIRE(user_keys(va, "a.example", &alice) == 0);
	REQUIRE(user_keys(va, "a.example", &bob) == 0);
	REQUIRE(user_keys(vb, "c.example", &carol) == 0);
	have_setup = 1;
}

TEST(create_and_duplicate)
{
	json_t *res = NULL;

	if (!have_setup)
		SKIP("no vaults");
	REQUIRE(call(va, "gmk.create", json_pack("{s:s, s:s}", "domain", "a.example", "group", GROUP), &res) == 0);
	gmk_id1 = id_of(res, "gmk_id");
	CHECK(gmk_id1 != 0 && (gmk_id1 >> 28) == 0);   /* purpose tag 0 */
	CHECK_EQ_INT(json_integer_value(json_object_get(res, "version")), 1);
	CHECK_EQ_STR(json_string_value(json_object_get(res, "group")), GROUP);
	json_decref(res);
	CHECK_EQ_INT(call(va, "gmk.create", json_pack("{s:s, s:s}", "domain", "a.example", "group", GROUP), NULL),
	             -32003);
}

TEST(distribute_home_external_untrusted)
{
	const char *uris[] = { alice.uri, bob.uri, carol.uri, "sip:dave@x.example" };
	const char *kmss[] = { NULL, "kms.a.example", "kms.c.example", "kms.x.example" };
	json_t *res = NULL, *bad;
	uint8_t g_b[MCX_MIKEY_GMK_LEN], g_c[MCX_MIKEY_GMK_LEN];

	if (!have_setup)
		SKIP("no vaults");
	REQUIRE(call(va, "gmk.distribute",
	             json_pack("{s:s, s:s, s:s, s:o}", "domain", "a.example", "group", GROUP, "sender_uri", SENDER,
	                       "members", members_json(uris, kmss, 4)),
	             &res) == 0);
	CHECK_EQ_INT(json_integer_value(json_object_get(res, "distributed")), 3);
	CHECK_EQ_INT(json_integer_value(json_object_get(res, "failed")), 1);
	CHECK_EQ_INT(id_of(res, "gmk_id"), gmk_id1);
	CHECK_OK(member_open(&alice, member_entry(res, 0), SENDER, gmk_id1, gmk1));
	CHECK_OK(member_open(&bob, member_entry(res, 1), SENDER, gmk_id1, g_b));
	CHECK_OK(member_open(&carol, member_entry(res, 2), SENDER, gmk_id1, g_c));
	CHECK_MEM(gmk1, g_b, sizeof(gmk1));
	CHECK_MEM(gmk1, g_c, sizeof(gmk1));
	/* the untrusted member KMS fails for that member only */
	bad = json_object_get(member_entry(res, 3), "error");
	CHECK_EQ_INT(json_integer_value(json_object_get(bad, "code")), -32005);
	CHECK(strstr(json_string_value(json_object_get(bad, "message")), "not trusted") != NULL);
	CHECK(json_object_get(member_entry(res, 3), "i_message") == NULL);
	/* a member's I_MESSAGE does not open for another member */
	{
		uint8_t g[MCX_MIKEY_GMK_LEN];
		struct member mallory = bob;
		mallory.uri = alice.uri;
		CHECK(member_open(&mallory, member_entry(res, 1), SENDER, gmk_id1, g) != 0);
	}
	json_decref(res);
}

TEST(batch_on_pool_keeps_member_order)
{
	enum { N = 40 };
	const char *uris[N];
	char names[N][48];
	json_t *res = NULL;
	uint8_t g[MCX_MIKEY_GMK_LEN];
	int ordered = 1;

	if (!have_setup)
		SKIP("no vaults");
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "sip:user-%02d@a.example", i);
		uris[i] = names[i];
	}
	uris[17] = alice.uri;
	uris[33] = carol.uri;
	{
		const char *kmss[N] = { NULL };
		/* two members of c.example's KMS: the pool builds one SAKKE
		 * context for it (vault/gms/gms.c), carol's message comes from it */
		kmss[33] = "kms.c.example";
		kmss[34] = "kms.c.example";
		REQUIRE(call(va, "gmk.distribute",
		             json_pack("{s:s, s:s, s:s, s:o}", "domain", "a.example", "group", GROUP, "sender_uri", SENDER,
		                       "members", members_json(uris, kmss, N)),
		             &res) == 0);
	}
	CHECK_EQ_INT(json_integer_value(json_object_get(res, "distributed")), N);
	for (int i = 0; i < N; i++)
		ordered &= strcmp(json_string_value(json_object_get(member_entry(res, (size_t)i), "uri")), uris[i]) == 0;
	CHECK(ordered);
	CHECK_OK(member_open(&alice, member_entry(res, 17), SENDER, gmk_id1, g));
	CHECK_MEM(g, gmk1, sizeof(g));
	CHECK_OK(member_open(&carol, member_entry(res, 33), SENDER, gmk_id1, g));
	CHECK_MEM(g, gmk1, sizeof(g));
	json_decref(res);
}

TEST(rekey_gives_a_new_gmk_previous_stays)
{
	const char *uris[] = { alice.uri };
	json_t *res = NULL;
	uint8_t g[MCX_MIKEY_GMK_LEN];

	if (!have_setup)
		SKIP("no vaults");
	REQUIRE(call(va, "gmk.rekey", json_pack("{s:s, s:s}", "domain", "a.example", "group", GROUP), &res) == 0);
	gmk_id2 = id_of(res, "gmk_id");
	CHECK(gmk_id2 != gmk_id1 && (gmk_id2 >> 28) == 0);
	CHECK_EQ_INT(json_integer_value(json_object_get(res, "version")), 2);
	json_decref(res);
	REQUIRE(call(va, "gmk.distribute",
	             json_pack("{s:s, s:s, s:s, s:o}", "domain", "a.example", "group", GROUP, "sender_uri", SENDER,
	                       "members", members_json(uris, NULL, 1)),
	             &res) == 0);
	CHECK_OK(member_open(&alice, member_entry(res, 0), SENDER, gmk_id2, gmk2));
	CHECK(memcmp(gmk1, gmk2, sizeof(gmk1)) != 0);
	json_decref(res);
	/* a late joiner may still get the previous GMK by its id, within the overlap */
	REQUIRE(call(va, "gmk.distribute",
	             json_pack("{s:s, s:s, s:s, s:o, s:s}", "domain", "a.example", "group", GROUP, "sender_uri", SENDER,
	                       "members", members_json(uris, NULL, 1), "gmk_id", ""),
	             NULL) == -32602);
	{
		char id[9];
		snprintf(id, sizeof(id), "%08x", gmk_id1);
		REQUIRE(call(va, "gmk.distribute",
		             json_pack("{s:s, s:s, s:s, s:o, s:s}", "domain", "a.example", "group", GROUP, "sender_uri",
		                       SENDER, "members", members_json(uris, NULL, 1), "gmk_id", id),
		             &res) == 0);
		CHECK_OK(member_open(&alice, member_entry(res, 0), SENDER, gmk_id1, g));
		CHECK_MEM(g, gmk1, sizeof(g));
		json_decref(res);
	}
	REQUIRE(call(va, "gmk.show", json_pack("{s:s, s:s}", "domain", "a.example", "group", GROUP), &res) == 0);
	CHECK_EQ_INT(json_array_size(json_object_get(res, "keys")), 2);
	CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(json_object_get(res, "keys"), 0), "state")),
	             "previous");
	json_decref(res);
}

TEST(server_key_mkfc_round_trip)
{
	const char *uris[] = { alice.uri, carol.uri };
	const char *kmss[] = { NULL, "kms.c.example" };
	const char *server = "sip:mcptt-server@a.example";
	json_t *res = NULL;
	uint32_t key_id;
	uint8_t k1[MCX_MIKEY_GMK_LEN], k2[MCX_MIKEY_GMK_LEN];

	if (!have_setup)
		SKIP("no vaults");
	REQUIRE(call(va, "server_key.create",
	             json_pack("{s:s, s:s, s:s}", "domain", "a.example", "server_uri", server, "purpose", "mkfc"),
	             &res) == 0);
	key_id = id_of(res, "key_id");
	CHECK_EQ_INT(key_id >> 28, 4);   /* MKFC purpose tag */
	json_decref(res);
	CHECK_EQ_INT(call(va, "server_key.create",
	                  json_pack("{s:s, s:s, s:s}", "domain", "a.example", "server_uri", server, "purpose", "mkfc"),
	                  NULL),
	             -32003);
	CHECK_EQ_INT(call(va, "server_key.create",
	                  json_pack("{s:s, s:s, s:s}", "domain", "a.example", "server_uri", server, "purpose", "pck"),
	                  NULL),
	             -32602);
	REQUIRE(call(va, "server_key.distribute",
	             json_pack("{s:s, s:s, s:s, s:o}", "domain", "a.example", "server_uri", server, "purpose", "mkfc",
	                       "members", members_json(uris, kmss, 2)),
	             &res) == 0);
	CHECK_OK(member_open(&alice, member_entry(res, 0), server, key_id, k1));
	CHECK_OK(member_open(&carol, member_entry(res, 1), server, key_id, k2));
	CHECK_MEM(k1, k2, sizeof(k1));
	json_decref(res);
	REQUIRE(call(va, "server_key.list", json_pack("{s:s}", "domain", "a.example"), &res) == 0);
	CHECK_EQ_INT(json_array_size(json_object_get(res, "servers")), 1);
	json_decref(res);
}

static int file_contains(const char *path, const void *needle, size_t len)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	size_t n = 0, cap = 0, got;
	int found = 0;

	if (f == NULL)
		return 0;
	for (;;) {
		if (n + 65536 > cap) {
			char *grown = realloc(data, cap + 1048576);
			if (grown == NULL)
				break;
			data = grown;
			cap += 1048576;
		}
		if ((got = fread(data + n, 1, 65536, f)) == 0)
			break;
		n += got;
	}
	fclose(f);
	found = data != NULL && memmem(data, n, needle, len) != NULL;
	free(data);
	return found;
}

TEST(gmk_never_in_clear)
{
	const uint8_t *keys[] = { gmk1, gmk2 };
	char path[192];

	if (!have_setup)
		SKIP("no vaults");
	for (size_t i = 0; i < 2; i++) {
		struct mcx_buf *hex = mcx_buf_new(64);
		char *b64 = mcx_base64url_string(keys[i], MCX_MIKEY_GMK_LEN);
		REQUIRE(hex != NULL && b64 != NULL && mcx_hex_encode(hex, keys[i], MCX_MIKEY_GMK_LEN) == 0);
		CHECK(memmem(transcript, transcript_len, mcx_buf_ptr(hex), mcx_buf_len(hex)) == NULL);
		CHECK(memmem(transcript, transcript_len, b64, strlen(b64)) == NULL);
		CHECK(memmem(transcript, transcript_len, keys[i], MCX_MIKEY_GMK_LEN) == NULL);
		for (const char *suffix = ""; suffix != NULL; suffix = *suffix == '\0' ? "-wal" : NULL) {
			snprintf(path, sizeof(path), "%s%s", vault_a.store, suffix);
			CHECK(!file_contains(path, keys[i], MCX_MIKEY_GMK_LEN));
			CHECK(!file_contains(path, mcx_buf_ptr(hex), mcx_buf_len(hex)));
		}
		CHECK(!file_contains(vault_a.log, mcx_buf_ptr(hex), mcx_buf_len(hex)));
		mcx_buf_free(hex);
		free(b64);
	}
}

TEST(bad_input)
{
	const char *one[] = { alice.uri };
	json_t *many;
	char name[48];

	if (!have_setup)
		SKIP("no vaults");
	CHECK_EQ_INT(call(va, "gmk.distribute",
	                  json_pack("{s:s, s:s, s:s, s:o}", "domain", "a.example", "group", "sip:nope@a.example",
	                            "sender_uri", SENDER, "members", members_json(one, NULL, 1)),
	                  NULL),
	             -32002);
	CHECK_EQ_INT(call(va, "gmk.show", json_pack("{s:s, s:s}", "domain", "a.example", "group", "sip:nope@a.example"),
	                  NULL),
	             -32002);
	CHECK_EQ_INT(call(va, "gmk.rekey", json_pack("{s:s, s:s}", "domain", "a.example", "group", "sip:nope@a.example"),
	                  NULL),
	             -32002);
	CHECK_EQ_INT(call(va, "gmk.distribute",
	                  json_pack("{s:s, s:s, s:s, s:[]}", "domain", "a.example", "group", GROUP, "sender_uri", SENDER,
	                            "members"),
	                  NULL),
	             -32602);
	CHECK_EQ_INT(call(va, "gmk.distribute",
	                  json_pack("{s:s, s:s, s:s, s:[{s:s, s:i}]}", "domain", "a.example", "group", GROUP,
	                            "sender_uri", SENDER, "members", "uri", alice.uri, "kms_uri", 7),
	                  NULL),
	             -32602);
	CHECK_EQ_INT(call(va, "gmk.distribute",
	                  json_pack("{s:s, s:s, s:s, s:[{s:s, s:s}]}", "domain", "a.example", "group", GROUP,
	                            "sender_uri", SENDER, "members", "uri", alice.uri, "role", "x"),
	                  NULL),
	             -32602);
	CHECK_EQ_INT(call(va, "gmk.distribute",
	                  json_pack("{s:s, s:s, s:s, s:s}", "domain", "a.example", "group", GROUP, "sender_uri", SENDER,
	                            "members", alice.uri),
	                  NULL),
	             -32602);
	CHECK_EQ_INT(call(va, "gmk.distribute",
	                  json_pack("{s:s, s:s, s:o}", "domain", "a.example", "group", GROUP, "members",
	                            members_json(one, NULL, 1)),
	                  NULL),
	             -32602);   /* no sender_uri */
	CHECK_EQ_INT(call(va, "gmk.distribute",
	                  json_pack("{s:s, s:s, s:s, s:o, s:s}", "domain", "a.example", "group", GROUP, "sender_uri",
	                            SENDER, "members", members_json(one, NULL, 1), "time", "yesterday"),
	                  NULL),
	             -32602);
	CHECK_EQ_INT(call(va, "gmk.distribute",
	                  json_pack("{s:s, s:s, s:s, s:o, s:s}", "domain", "a.example", "group", GROUP, "sender_uri",
	                            SENDER, "members", members_json(one, NULL, 1), "gmk_id", "40000001"),
	                  NULL),
	             -32602);   /* purpose tag 4 is not a GMK */
	CHECK_EQ_INT(call(va, "gmk.distribute",
	                  json_pack("{s:s, s:s, s:s, s:o, s:s}", "domain", "a.example", "group", GROUP, "sender_uri",
	                            SENDER, "members", members_json(one, NULL, 1), "gmk_id", "0000000g"),
	                  NULL),
	             -32602);
	CHECK_EQ_INT(call(va, "gmk.create", json_pack("{s:s, s:i}", "domain", "a.example", "group", 5), NULL), -32602);
	CHECK_EQ_INT(call(va, "gmk.create", json_pack("{s:s, s:s, s:s}", "domain", "a.example", "group", "g", "x", "y"),
	                  NULL),
	             -32602);
	CHECK_EQ_INT(call(va, "gmk.create", json_pack("{s:s, s:s}", "domain", "zz.example", "group", "g"), NULL), -32002);
	/* 10,001 members: refused before any work */
	many = json_array();
	for (int i = 0; i < 10001; i++) {
		snprintf(name, sizeof(name), "sip:m%05d@a.example", i);
		json_array_append_new(many, json_pack("{s:s}", "uri", name));
	}
	CHECK_EQ_INT(call(va, "gmk.distribute",
	                  json_pack("{s:s, s:s, s:s, s:o}", "domain", "a.example", "group", GROUP, "sender_uri", SENDER,
	                            "members", many),
	                  NULL),
	             -32602);
	/* a vault without gms.store refuses GMS methods */
	CHECK_EQ_INT(call(vb, "gmk.create", json_pack("{s:s, s:s}", "domain", "c.example", "group", "g"), NULL), -32005);
	CHECK_EQ_INT(call(vb, "gmk.list", json_pack("{s:s}", "domain", "c.example"), NULL), -32005);
}

/* What vault A and B built must survive a restart: the group and its current
 * GMK, the KMS master secrets (a member's RSK is derived again, unchanged),
 * the trust of the other domain (carol of c.example is served; B still lists
 * kms.a.example). */
static void check_state_after_restart(const char *how)
{
	const char *uris[] = { bob.uri, carol.uri };
	const char *kmss[] = { NULL, "kms.c.example" };
	struct member again = alice;
	json_t *res = NULL, *ext;
	uint8_t g[MCX_MIKEY_GMK_LEN];
	int trusts_a = 0;
	size_t i;

	printf("  after %s\n", how);
	REQUIRE(mcxvault_connect(vault_a.socket, &va) == 0);
	REQUIRE(mcxvault_set_timeout(va, 120000) == 0);
	REQUIRE(mcxvault_connect(vault_b.socket, &vb) == 0);
	REQUIRE(call(va, "gmk.list", json_pack("{s:s}", "domain", "a.example"), &res) == 0);
	CHECK_EQ_INT(json_array_size(json_object_get(res, "groups")), 1);
	CHECK_EQ_INT(id_of(json_object_get(json_array_get(json_object_get(res, "groups"), 0), "current"), "gmk_id"),
	             gmk_id2);
	json_decref(res);
	REQUIRE(call(va, "gmk.distribute",
	             json_pack("{s:s, s:s, s:s, s:o}", "domain", "a.example", "group", GROUP, "sender_uri", SENDER,
	                       "members", members_json(uris, kmss, 2)),
	             &res) == 0);
	CHECK_OK(member_open(&bob, member_entry(res, 0), SENDER, gmk_id2, g));
	CHECK_MEM(g, gmk2, sizeof(g));
	CHECK_OK(member_open(&carol, member_entry(res, 1), SENDER, gmk_id2, g));
	CHECK_MEM(g, gmk2, sizeof(g));
	json_decref(res);
	CHECK_OK(user_keys(va, "a.example", &again));
	CHECK_MEM(again.rsk, alice.rsk, sizeof(again.rsk));
	CHECK_MEM(again.uid, alice.uid, sizeof(again.uid));
	REQUIRE(call(vb, "external.list", json_pack("{s:s}", "domain", "c.example"), &res) == 0);
	json_array_foreach(json_object_get(res, "external"), i, ext) {
		const char *uri = json_string_value(json_object_get(ext, "kms_uri"));
		trusts_a |= uri != NULL && strcmp(uri, "kms.a.example") == 0;
	}
	if (!trusts_a) {
		char *text = json_dumps(res, JSON_COMPACT);
		printf("  external.list of c.example: %s\n", text != NULL ? text : "(none)");
		free(text);
	}
	CHECK(trusts_a);
	json_decref(res);
}

TEST(restart_keeps_groups)
{
	if (!have_setup)
		SKIP("no vaults");
	mcxvault_close(va);
	mcxvault_close(vb);
	va = vb = NULL;
	/* SIGTERM: a clean stop (exit 0) and a start over the same token, store and audit log */
	CHECK_EQ_INT(test_vault_restart(&vault_a, SIGTERM), 0);
	CHECK_EQ_INT(test_vault_restart(&vault_b, SIGTERM), 0);
	check_state_after_restart("SIGTERM");
	mcxvault_close(va);
	mcxvault_close(vb);
	va = vb = NULL;
	/* SIGKILL: a crash; the next start must accept its own log and state */
	REQUIRE(test_vault_restart(&vault_a, SIGKILL) == 0);
	REQUIRE(test_vault_restart(&vault_b, SIGKILL) == 0);
	check_state_after_restart("SIGKILL");
}

TEST(revoke_destroys)
{
	const char *uris[] = { alice.uri };
	char id[9];
	json_t *res = NULL;

	if (!have_setup)
		SKIP("no vaults");
	snprintf(id, sizeof(id), "%08x", gmk_id1);
	REQUIRE(call(va, "gmk.revoke", json_pack("{s:s, s:s, s:s}", "domain", "a.example", "group", GROUP, "gmk_id", id),
	             &res) == 0);
	CHECK_EQ_INT(json_integer_value(json_object_get(res, "revoked")), 1);
	json_decref(res);
	CHECK_EQ_INT(call(va, "gmk.distribute",
	                  json_pack("{s:s, s:s, s:s, s:o, s:s}", "domain", "a.example", "group", GROUP, "sender_uri",
	                            SENDER, "members", members_json(uris, NULL, 1), "gmk_id", id),
	                  NULL),
	             -32009);
	/* the current one still works until it is revoked too */
	CHECK_EQ_INT(call(va, "gmk.distribute",
	                  json_pack("{s:s, s:s, s:s, s:o}", "domain", "a.example", "group", GROUP, "sender_uri", SENDER,
	                            "members", members_json(uris, NULL, 1)),
	                  NULL),
	             0);
	CHECK_EQ_INT(call(va, "gmk.revoke", json_pack("{s:s, s:s}", "domain", "a.example", "group", GROUP), NULL), 0);
	CHECK_EQ_INT(call(va, "gmk.distribute",
	                  json_pack("{s:s, s:s, s:s, s:o}", "domain", "a.example", "group", GROUP, "sender_uri", SENDER,
	                            "members", members_json(uris, NULL, 1)),
	                  NULL),
	             -32009);
	REQUIRE(call(va, "gmk.show", json_pack("{s:s, s:s}", "domain", "a.example", "group", GROUP), &res) == 0);
	CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(json_object_get(res, "keys"), 1), "state")),
	             "revoked");
	json_decref(res);
	/* and a rekey brings the group back */
	CHECK_EQ_INT(call(va, "gmk.rekey", json_pack("{s:s, s:s}", "domain", "a.example", "group", GROUP), NULL), 0);
}

/* vaultctl audit verify: both logs intact across the restarts and crashes */
TEST(audit_logs_intact)
{
	if (!have_setup)
		SKIP("no vaults");
	if (vault_a.audit[0] == '\0')
		SKIP("audit log off (MCX_TEST_VAULT_AUDIT=off)");
	CHECK_EQ_INT(test_vault_audit_verify(&vault_a), 0);
	CHECK_EQ_INT(test_vault_audit_verify(&vault_b), 0);
	/* GMKs are never in the audit log either */
	for (size_t i = 0; i < 2; i++) {
		struct mcx_buf *hex = mcx_buf_new(64);
		const uint8_t *key = i == 0 ? gmk1 : gmk2;
		REQUIRE(hex != NULL && mcx_hex_encode(hex, key, MCX_MIKEY_GMK_LEN) == 0);
		CHECK(file_contains(vault_a.audit, "gmk.distribute", 14));
		CHECK(!file_contains(vault_a.audit, mcx_buf_ptr(hex), mcx_buf_len(hex)));
		CHECK(!file_contains(vault_a.audit, key, MCX_MIKEY_GMK_LEN));
		mcx_buf_free(hex);
	}
}

/* vaultd exits 0: a sanitizer report at exit (leak, UB) would make it non-zero */
TEST(vaults_exit_cleanly)
{
	if (!have_setup)
		SKIP("no vaults");
	mcxvault_close(va);
	mcxvault_close(vb);
	va = vb = NULL;
	CHECK_EQ_INT(test_vault_stop(&vault_a), 0);
	CHECK_EQ_INT(test_vault_stop(&vault_b), 0);
}

int main(void)
{
	int status;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (mcx_sakke_params_new(&sakke) != 0 || mcx_eccsi_params_new(&eccsi) != 0) {
		printf("gms: 0 passed, 1 failed\n");
		return 1;
	}
	RUN(setup_two_domains);
	RUN(create_and_duplicate);
	RUN(distribute_home_external_untrusted);
	RUN(batch_on_pool_keeps_member_order);
	RUN(rekey_gives_a_new_gmk_previous_stays);
	RUN(server_key_mkfc_round_trip);
	RUN(gmk_never_in_clear);
	RUN(bad_input);
	RUN(restart_keeps_groups);
	RUN(revoke_destroys);
	RUN(audit_logs_intact);
	RUN(vaults_exit_cleanly);
	if (test_failed != 0) {
		test_vault_dump_log(&vault_a);
	}
	mcxvault_close(va);
	mcxvault_close(vb);
	test_vault_cleanup_all();
	mcx_sakke_params_free(sakke);
	mcx_eccsi_params_free(eccsi);
	free(transcript);
	mcx_wipe(gmk1, sizeof(gmk1));
	mcx_wipe(gmk2, sizeof(gmk2));
	status = test_summary("gms");
	return status;
}
