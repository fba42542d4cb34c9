/*
 * mcxvault mikey — MIKEY-SAKKE GMK I_MESSAGE: the published Streamwide message
 * (parse, every field, ECCSI, SAKKE, key parameters, GUK-ID), a rebuild of it
 * from the published inputs, fresh-key round trips and malformed input.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

#include "mcx/buf.h"
#include "mcx/eccsi.h"
#include "mcx/mikey.h"
#include "mcx/sakke.h"
#include "mcx/uid.h"
#include "tests/mikey/vectors.h"
#include "tests/test.h"

#define MSG_LEN 701

static struct mcx_sakke_params *sk;
static struct mcx_eccsi_params *ec;

/* Published data, decoded once. */
static uint8_t sw_msg[MSG_LEN], sw_Z[257], sw_kpak[65], sw_gms_uid[32], sw_gms_ssk[32],
	sw_gms_pvt[65], sw_alice_uid[32], sw_alice_rsk[257], sw_bob_uid[32], sw_bob_rsk[257],
	sw_gmk[16], sw_rand[16];

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = strlen(hex) / 2;
	if (strlen(hex) % 2 != 0 || n > cap)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return 0;
		out[i] = (uint8_t)v;
	}
	return n;
}

static int load_vectors(void)
{
	return unhex(SW_I_MESSAGE, sw_msg, sizeof(sw_msg)) == MSG_LEN &&
	       unhex(SW_PUBENCKEY, sw_Z, sizeof(sw_Z)) == 257 &&
	       unhex(SW_PUBAUTHKEY, sw_kpak, sizeof(sw_kpak)) == 65 &&
	       unhex(SW_GMS_UID, sw_gms_uid, 32) == 32 &&
	       unhex(SW_GMS_SSK, sw_gms_ssk, 32) == 32 &&
	       unhex(SW_GMS_PVT, sw_gms_pvt, 65) == 65 &&
	       unhex(SW_ALICE_UID, sw_alice_uid, 32) == 32 &&
	       unhex(SW_ALICE_RSK, sw_alice_rsk, 257) == 257 &&
	       unhex(SW_BOB_UID, sw_bob_uid, 32) == 32 &&
	       unhex(SW_BOB_RSK, sw_bob_rsk, 257) == 257 &&
	       unhex(SW_GMK, sw_gmk, 16) == 16 && unhex(SW_GMK_RAND, sw_rand, 16) == 16;
}

/* Hands out the given octet strings first, then RAND_bytes. */
struct seq_rng {
	const uint8_t *const *parts;
	const size_t *lens;
	size_t n, next;
	int fail;   /* fail on this call (1-based), 0 = never */
	int calls;
};

static int seq_rng_fn(void *ctx, uint8_t *out, size_t len)
{
	struct seq_rng *s = ctx;
	s->calls++;
	if (s->fail != 0 && s->calls == s->fail)
		return -1;
	if (s->next < s->n) {
		if (s->lens[s->next] != len)
			return -1;
		memcpy(out, s->parts[s->next++], len);
		return 0;
	}
	return RAND_bytes(out, (int)len) == 1 ? 0 : -1;
}

/* ---- the published message ------------------------------------------------- */

TEST(published_parse_fields)
{
	struct mcx_mikey_i_message m;
	const char *kms = SW_KMS_URI;

	REQUIRE(mcx_mikey_parse(sw_msg, MSG_LEN, &m) == 0);
	CHECK_EQ_INT(m.version, 1);
	CHECK_EQ_INT(m.data_type, 26);
	CHECK_EQ_INT(m.v_bit, 0);
	CHECK_EQ_INT(m.prf_func, 1);
	CHECK_EQ_INT(m.csb_id, SW_GUK_ID_ALICE);
	CHECK_EQ_INT(m.cs_count, 1);
	CHECK_EQ_INT(m.cs_id_map_type, 2);
	CHECK_EQ_INT(m.cs_id, 4);
	CHECK_EQ_INT(m.spi_len, 8);
	CHECK_EQ_INT(m.gmk_id, SW_GMK_ID);
	CHECK_EQ_INT(m.guk_id, SW_GUK_ID_ALICE);
	CHECK_EQ_INT(m.ts_type, 0);
	CHECK(m.ts == 0xEC898DA800000000ULL);
	REQUIRE(m.rand != NULL);
	CHECK_EQ_INT(m.rand_len, 16);
	CHECK_MEM(m.rand, sw_rand, 16);
	CHECK_EQ_INT(m.rand - sw_msg, 37);
	CHECK(!m.idri.present && !m.idrr.present);
	REQUIRE(m.idruidi.present && m.idruidr.present && m.idrkmsi.present && m.idrkmsr.present);
	CHECK_EQ_INT(m.idruidi.len, 32);
	CHECK_MEM(m.idruidi.data, sw_gms_uid, 32);
	CHECK_EQ_INT(m.idruidi.data - sw_msg, 58);
	CHECK_MEM(m.idruidr.data, sw_alice_uid, 32);
	CHECK_EQ_INT(m.idruidr.data - sw_msg, 95);
	CHECK_EQ_INT(m.idrkmsi.len, strlen(kms));
	CHECK_MEM(m.idrkmsi.data, kms, strlen(kms));
	CHECK_EQ_INT(m.idrkmsr.len, strlen(kms));
	CHECK_MEM(m.idrkmsr.data, kms, strlen(kms));
	CHECK(m.sp_present);
	CHECK_EQ_INT(m.sp_prot_type, 0);
	CHECK_EQ_INT(m.sp_params_len, 27);
	CHECK_EQ_INT(m.sakke_params, 1);
	CHECK_EQ_INT(m.sakke_id_scheme, 2);
	CHECK_EQ_INT(m.sed - sw_msg, 222);
	CHECK_EQ_INT(m.sed_len, 273);
	REQUIRE(m.kp_present);
	CHECK_EQ_INT(m.kp_msg_type, 0x43);
	CHECK_EQ_INT(m.kp_alg, 1);
	CHECK_EQ_INT(m.kp_dppk_id, SW_GUK_ID_ALICE);
	CHECK_EQ_INT(m.kp_ad - sw_msg, 499);
	CHECK_EQ_INT(m.kp_ct_len, 36);
	CHECK_EQ_INT(m.sig_type, 2);
	CHECK_EQ_INT(m.sig - sw_msg, 572);
	CHECK_EQ_INT(m.sig_len, 129);
	CHECK_EQ_INT(m.signed_len, 572);
}

TEST(published_verify)
{
	struct mcx_mikey_i_message m;
	uint8_t ksak[32], other_kpak[65];

	REQUIRE(mcx_mikey_parse(sw_msg, MSG_LEN, &m) == 0);
	CHECK_OK(mcx_mikey_verify(ec, &m, sw_kpak, sw_gms_uid));
	/* the wrong sender UID: both the IDRuidi check and ECCSI refuse */
	CHECK_EQ_INT(mcx_mikey_verify(ec, &m, sw_kpak, sw_alice_uid), MCX_ERR_SIGNATURE_INVALID);
	/* another KMS's KPAK */
	REQUIRE(mcx_eccsi_kms_generate(ec, NULL, NULL, ksak, other_kpak) == 0);
	CHECK_EQ_INT(mcx_mikey_verify(ec, &m, other_kpak, sw_gms_uid), MCX_ERR_SIGNATURE_INVALID);
	CHECK(mcx_mikey_verify(ec, NULL, sw_kpak, sw_gms_uid) != 0);
	CHECK(mcx_mikey_verify(ec, &m, NULL, sw_gms_uid) != 0);
}

TEST(published_decapsulate_and_key_params)
{
	struct mcx_mikey_i_message m;
	struct mcx_mikey_key_params kp;
	uint8_t gmk[16];

	REQUIRE(mcx_mikey_parse(sw_msg, MSG_LEN, &m) == 0);
	CHECK_OK(mcx_mikey_decapsulate(sk, &m, sw_Z, sw_alice_uid, sw_alice_rsk, gmk));
	CHECK_MEM(gmk, sw_gmk, 16);
	CHECK_OK(mcx_mikey_key_params_open(&m, gmk, &kp));
	CHECK_EQ_INT(kp.key_type, MCX_MIKEY_PURPOSE_GMK);
	CHECK_EQ_INT(kp.status, MCX_MIKEY_KEY_STATUS_NOT_REVOKED);
	CHECK(kp.activation_time == 0 && kp.expiry_time == 0);
	CHECK_EQ_INT(kp.text_len, 0);
	CHECK_EQ_INT(kp.group_ids_len, 0);
	/* a wrong GMK fails the GCM tag */
	gmk[0] ^= 1;
	CHECK_EQ_INT(mcx_mikey_key_params_open(&m, gmk, &kp), MCX_ERR_SIGNATURE_INVALID);
}

TEST(published_wrong_member)
{
	struct mcx_mikey_i_message m;
	uint8_t gmk[16], zero[16] = { 0 };

	REQUIRE(mcx_mikey_parse(sw_msg, MSG_LEN, &m) == 0);
	/* Bob's UID and RSK: not addressed to him (IDRuidr) */
	memset(gmk, 0xaa, sizeof(gmk));
	CHECK_EQ_INT(mcx_mikey_decapsulate(sk, &m, sw_Z, sw_bob_uid, sw_bob_rsk, gmk),
		     MCX_ERR_INVALID_ARGUMENT);
	CHECK_MEM(gmk, zero, 16);
	/* Alice's UID with Bob's RSK: the SAKKE check fails */
	memset(gmk, 0xaa, sizeof(gmk));
	CHECK_EQ_INT(mcx_mikey_decapsulate(sk, &m, sw_Z, sw_alice_uid, sw_bob_rsk, gmk),
		     MCX_ERR_SIGNATURE_INVALID);
	CHECK_MEM(gmk, zero, 16);
	/* without IDRuidr (cleared in the parsed view) Bob still cannot decapsulate */
	m.idruidr.present = 0;
	CHECK_EQ_INT(mcx_mikey_decapsulate(sk, &m, sw_Z, sw_bob_uid, sw_bob_rsk, gmk),
		     MCX_ERR_SIGNATURE_INVALID);
	CHECK_MEM(gmk, zero, 16);
}

TEST(guk_id_published)
{
	uint32_t guk = 0, gmk_id = 0, guk_bob = 0;

	CHECK_OK(mcx_mikey_guk_id(sw_gmk, SW_GMK_ID, SW_ALICE_URI, &guk));
	CHECK_EQ_INT(guk, SW_GUK_ID_ALICE);
	CHECK_OK(mcx_mikey_gmk_id_from_guk_id(sw_gmk, guk, SW_ALICE_URI, &gmk_id));
	CHECK_EQ_INT(gmk_id, SW_GMK_ID);
	CHECK_OK(mcx_mikey_guk_id(sw_gmk, SW_GMK_ID, SW_BOB_URI, &guk_bob));
	CHECK(guk_bob != guk);
	/* the purpose tag (4 MSB) is kept, the 28 LSB round-trip */
	for (uint32_t tag = 0; tag < 16; tag++) {
		uint32_t id = (tag << 28) | 0x0123456u, g = 0, back = 0;
		CHECK_OK(mcx_mikey_guk_id(sw_gmk, id, SW_BOB_URI, &g));
		CHECK_EQ_INT(g >> 28, tag);
		CHECK_OK(mcx_mikey_gmk_id_from_guk_id(sw_gmk, g, SW_BOB_URI, &back));
		CHECK_EQ_INT(back, id);
	}
	CHECK(mcx_mikey_guk_id(sw_gmk, SW_GMK_ID, "", &guk) != 0);
	CHECK(mcx_mikey_guk_id(sw_gmk, SW_GMK_ID, NULL, &guk) != 0);
	CHECK(mcx_mikey_guk_id(NULL, SW_GMK_ID, SW_ALICE_URI, &guk) != 0);
}

/* The published inputs, for builds. */
static void sw_input(struct mcx_mikey_gmk_input *in)
{
	memset(in, 0, sizeof(*in));
	in->gmk_id = SW_GMK_ID;
	in->guk_id = SW_GUK_ID_ALICE;
	in->gmk = sw_gmk;
	in->sender_uri = SW_GMS_URI;
	in->sender_kms_uri = SW_KMS_URI;
	in->member_uri = SW_ALICE_URI;
	in->member_kms_uri = SW_KMS_URI;
	in->member_uid = sw_alice_uid;
	in->member_kms_z = sw_Z;
	in->sender_uid = sw_gms_uid;
	in->sender_kpak = sw_kpak;
	in->sender_ssk = sw_gms_ssk;
	in->sender_pvt = sw_gms_pvt;
	in->ntp_time = 0xEC898DA800000000ULL;
}

/*
 * Rebuilt from the published GMK, keys, RAND and IV, our message equals the
 * published one except where it must differ: the key-parameter date-time (we
 * write the NTP seconds, Streamwide wrote 1), hence the GCM tag, and the ECCSI
 * signature (fresh j).  The SED is deterministic and must match exactly.
 */
TEST(rebuild_published)
{
	struct mcx_mikey_gmk_input in;
	struct mcx_buf *out = mcx_buf_new(MCX_MIKEY_MSG_MAX);
	const uint8_t *parts[2] = { sw_rand, sw_msg + 499 + 12 };
	const size_t lens[2] = { 16, 16 };
	struct seq_rng rng = { parts, lens, 2, 0, 0, 0 };
	struct mcx_mikey_i_message m;
	uint8_t gmk[16];
	const uint8_t *p;

	REQUIRE(out != NULL);
	sw_input(&in);
	CHECK_OK(mcx_mikey_gmk_build(sk, ec, &in, seq_rng_fn, &rng, out));
	REQUIRE(mcx_buf_len(out) == MSG_LEN);
	p = mcx_buf_ptr(out);
	CHECK_MEM(p, sw_msg, 500);                        /* HDR .. GENERAL-EXT msg type */
	CHECK_MEM(p + 505, sw_msg + 505, 554 - 505);      /* payload id .. ciphertext */
	CHECK_MEM(p + 570, sw_msg + 570, 2);              /* SIGN header */
	CHECK(memcmp(p + 572, sw_msg + 572, 64) != 0);    /* fresh r || s */
	CHECK_MEM(p + 636, sw_msg + 636, 65);             /* PVT */
	REQUIRE(mcx_mikey_parse(p, mcx_buf_len(out), &m) == 0);
	CHECK_OK(mcx_mikey_verify(ec, &m, sw_kpak, sw_gms_uid));
	CHECK_OK(mcx_mikey_decapsulate(sk, &m, sw_Z, sw_alice_uid, sw_alice_rsk, gmk));
	CHECK_MEM(gmk, sw_gmk, 16);
	CHECK(m.kp_date_time == 0xEC898DA8ULL);
	mcx_buf_free(out);
}

TEST(build_rejects_bad_input)
{
	struct mcx_mikey_gmk_input in;
	struct mcx_buf *out = mcx_buf_new(MCX_MIKEY_MSG_MAX), *small = mcx_buf_new(100);
	struct seq_rng rng = { NULL, NULL, 0, 0, 0, 0 };

	REQUIRE(out != NULL && small != NULL);
	sw_input(&in);
	in.guk_id ^= 1;                      /* not Alice's GUK-ID for this GMK */
	CHECK_EQ_INT(mcx_mikey_gmk_build(sk, ec, &in, NULL, NULL, out), MCX_ERR_INVALID_ARGUMENT);
	sw_input(&in);
	in.guk_id = SW_GUK_ID_ALICE | 0x10000000u; /* purpose tags differ */
	in.member_uri = NULL;
	CHECK_EQ_INT(mcx_mikey_gmk_build(sk, ec, &in, NULL, NULL, out), MCX_ERR_INVALID_ARGUMENT);
	sw_input(&in);
	in.member_kms_uri = "";
	CHECK_EQ_INT(mcx_mikey_gmk_build(sk, ec, &in, NULL, NULL, out), MCX_ERR_INVALID_ARGUMENT);
	sw_input(&in);
	in.gmk = NULL;
	CHECK_EQ_INT(mcx_mikey_gmk_build(sk, ec, &in, NULL, NULL, out), MCX_ERR_INVALID_ARGUMENT);
	for (int ids = MCX_MIKEY_IDS_URI; ids <= MCX_MIKEY_IDS_BOTH; ids++) {
		sw_input(&in);
		in.identities = (enum mcx_mikey_identities)ids;
		in.sender_uri = NULL;            /* a URI mode without the URIs */
		CHECK_EQ_INT(mcx_mikey_gmk_build(sk, ec, &in, NULL, NULL, out), MCX_ERR_INVALID_ARGUMENT);
		sw_input(&in);
		in.identities = (enum mcx_mikey_identities)ids;
		in.sender_uri = "gms @streamwide.com";       /* a space: not a URI */
		CHECK_EQ_INT(mcx_mikey_gmk_build(sk, ec, &in, NULL, NULL, out), MCX_ERR_INVALID_ARGUMENT);
	}
	sw_input(&in);
	in.identities = (enum mcx_mikey_identities)3;   /* no such mode */
	CHECK_EQ_INT(mcx_mikey_gmk_build(sk, ec, &in, NULL, NULL, out), MCX_ERR_INVALID_ARGUMENT);
	/* a random source that fails, first and third call */
	sw_input(&in);
	rng.fail = 1;
	CHECK(mcx_mikey_gmk_build(sk, ec, &in, seq_rng_fn, &rng, out) != 0);
	rng.calls = 0;
	rng.fail = 3;
	CHECK(mcx_mikey_gmk_build(sk, ec, &in, seq_rng_fn, &rng, out) != 0);
	/* an output buffer too small: nothing appended */
	CHECK_EQ_INT(mcx_mikey_gmk_build(sk, ec, &in, NULL, NULL, small), MCX_ERR_NO_BUFFER_SPACE);
	CHECK_EQ_INT(mcx_buf_len(small), 0);
	CHECK_EQ_INT(mcx_buf_len(out), 0);
	mcx_buf_free(out);
	mcx_buf_free(small);
}

/* ---- round trips with fresh keys ------------------------------------------------ */

struct kms {
	uint8_t z[128], Z[257], ksak[32], kpak[65];
};

struct user {
	const char *uri;
	uint8_t uid[32], rsk[257], ssk[32], pvt[65];
};

static int make_user(const struct kms *k, const char *kms_uri, struct user *u, const char *uri)
{
	u->uri = uri;
	return mcx_uid_compute(uri, strlen(uri), kms_uri, strlen(kms_uri), 2592000, 0, 1490,
			       u->uid) == 0 &&
	       mcx_sakke_rsk_issue(sk, k->z, u->uid, 32, u->rsk) == 0 &&
	       mcx_eccsi_issue(ec, k->ksak, k->kpak, u->uid, 32, NULL, NULL, u->ssk, u->pvt) == 0;
}

static struct kms kms_a, kms_b;
static struct user gms_u, m1, m2;
static int fresh_ok;

static void fresh_setup(void)
{
	fresh_ok = mcx_sakke_master_generate(sk, NULL, NULL, kms_a.z, kms_a.Z) == 0 &&
		   mcx_eccsi_kms_generate(ec, NULL, NULL, kms_a.ksak, kms_a.kpak) == 0 &&
		   mcx_sakke_master_generate(sk, NULL, NULL, kms_b.z, kms_b.Z) == 0 &&
		   mcx_eccsi_kms_generate(ec, NULL, NULL, kms_b.ksak, kms_b.kpak) == 0 &&
		   make_user(&kms_a, "kms-a.example.org", &gms_u, "sip:gms@example.org") &&
		   make_user(&kms_b, "kms-b.example.org", &m1, "sip:member1@example.org") &&
		   make_user(&kms_b, "kms-b.example.org", &m2, "sip:member2@example.org");
}

static void fresh_input(struct mcx_mikey_gmk_input *in, const uint8_t gmk[16], uint32_t gmk_id,
			uint32_t *guk_id, const struct user *member)
{
	memset(in, 0, sizeof(*in));
	if (mcx_mikey_guk_id(gmk, gmk_id, member->uri, guk_id) != 0)
		*guk_id = 0;
	in->gmk_id = gmk_id;
	in->guk_id = *guk_id;
	in->gmk = gmk;
	in->sender_uri = gms_u.uri;
	in->sender_kms_uri = "kms-a.example.org";
	in->member_uri = member->uri;
	in->member_kms_uri = "kms-b.example.org";
	in->member_uid = member->uid;
	in->member_kms_z = kms_b.Z;
	in->sender_uid = gms_u.uid;
	in->sender_kpak = kms_a.kpak;
	in->sender_ssk = gms_u.ssk;
	in->sender_pvt = gms_u.pvt;
	in->ntp_time = 0xEC898DA812345678ULL;
}

TEST(round_trip_fresh_keys)
{
	struct mcx_mikey_gmk_input in;
	struct mcx_mikey_i_message m;
	struct mcx_mikey_key_params kp, got;
	struct mcx_buf *out = mcx_buf_new(MCX_MIKEY_MSG_MAX);
	uint8_t gmk[16], back[16];
	uint32_t guk = 0, gmk_id = 0x0abcdef1u, rec = 0;

	REQUIRE(out != NULL);
	REQUIRE(fresh_ok);
	REQUIRE(RAND_bytes(gmk, 16) == 1);
	for (int variant = 0; variant < 3; variant++) {
		mcx_buf_reset(out);
		fresh_input(&in, gmk, gmk_id, &guk, &m1);
		memset(&kp, 0, sizeof(kp));
		if (variant == 1) {
			in.identities = MCX_MIKEY_IDS_BOTH;
			kp.key_type = MCX_MIKEY_PURPOSE_GMK;
			kp.status = MCX_MIKEY_KEY_STATUS_NOT_REVOKED;
			kp.activation_time = 0xEC898DA9ULL;
			kp.expiry_time = 0xECA00000ULL;
			memcpy(kp.text, "group 42", 8);
			kp.text_len = 8;
			kp.group_ids[0] = 1;
			kp.group_ids[1] = 0xaa;
			kp.group_ids_len = 2;
			in.key_params = &kp;
		} else if (variant == 2) {
			in.omit_key_params = 1;
		}
		REQUIRE(mcx_mikey_gmk_build(sk, ec, &in, NULL, NULL, out) == 0);
		REQUIRE(mcx_mikey_parse(mcx_buf_ptr(out), mcx_buf_len(out), &m) == 0);
		CHECK_EQ_INT(m.gmk_id, gmk_id);
		CHECK_EQ_INT(m.guk_id, guk);
		CHECK_EQ_INT(m.csb_id, guk);
		CHECK(m.ts == in.ntp_time);
		CHECK_MEM(m.idruidi.data, gms_u.uid, 32);
		CHECK_MEM(m.idruidr.data, m1.uid, 32);
		CHECK(m.idrkmsr.len == strlen("kms-b.example.org") &&
		      memcmp(m.idrkmsr.data, "kms-b.example.org", m.idrkmsr.len) == 0);
		CHECK_EQ_INT(m.idri.present, variant == 1);
		if (variant == 1)
			CHECK(m.idrr.len == strlen(m1.uri) && memcmp(m.idrr.data, m1.uri, m.idrr.len) == 0);
		CHECK_EQ_INT(m.kp_present, variant != 2);
		CHECK_OK(mcx_mikey_verify(ec, &m, kms_a.kpak, gms_u.uid));
		CHECK_EQ_INT(mcx_mikey_verify(ec, &m, kms_b.kpak, gms_u.uid), MCX_ERR_SIGNATURE_INVALID);
		CHECK_OK(mcx_mikey_decapsulate(sk, &m, kms_b.Z, m1.uid, m1.rsk, back));
		CHECK_MEM(back, gmk, 16);
		/* the client's view: GMK-ID from the GUK-ID in the CSB-ID */
		CHECK_OK(mcx_mikey_gmk_id_from_guk_id(back, m.csb_id, m1.uri, &rec));
		CHECK_EQ_INT(rec, gmk_id);
		if (variant == 1) {
			CHECK_OK(mcx_mikey_key_params_open(&m, back, &got));
			CHECK(got.activation_time == kp.activation_time && got.expiry_time == kp.expiry_time);
			CHECK_EQ_STR(got.text, "group 42");
			CHECK_EQ_INT(got.group_ids_len, 2);
			CHECK_MEM(got.group_ids, kp.group_ids, 2);
		} else if (variant == 2) {
			CHECK_EQ_INT(mcx_mikey_key_params_open(&m, back, &got), MCX_ERR_NOT_FOUND);
		}
		/* another member of the same KMS */
		CHECK(mcx_mikey_decapsulate(sk, &m, kms_b.Z, m2.uid, m2.rsk, back) != 0);
		m.idruidr.present = 0;
		CHECK(mcx_mikey_decapsulate(sk, &m, kms_b.Z, m2.uid, m2.rsk, back) != 0);
		/* the wrong KMS key */
		m.idruidr.present = 1;
		CHECK(mcx_mikey_decapsulate(sk, &m, kms_a.Z, m1.uid, m1.rsk, back) != 0);
	}
	mcx_buf_free(out);
}

/* ---- identities: UIDs (E.7), URIs (E.2) or both ------------------------------ */

TEST(identities_names)
{
	enum mcx_mikey_identities ids = MCX_MIKEY_IDS_BOTH;
	static const char *const bad[] = { "", "UID", "uids", "uri ", "none", "both,uid" };

	CHECK_OK(mcx_mikey_identities_parse("uid", &ids));
	CHECK_EQ_INT(ids, MCX_MIKEY_IDS_UID);
	CHECK_OK(mcx_mikey_identities_parse("uri", &ids));
	CHECK_EQ_INT(ids, MCX_MIKEY_IDS_URI);
	CHECK_OK(mcx_mikey_identities_parse("both", &ids));
	CHECK_EQ_INT(ids, MCX_MIKEY_IDS_BOTH);
	for (size_t i = 0; i < MCX_ARRAY_SIZE(bad); i++) {
		ids = MCX_MIKEY_IDS_URI;
		CHECK_EQ_INT(mcx_mikey_identities_parse(bad[i], &ids), MCX_ERR_INVALID_ARGUMENT);
		CHECK_EQ_INT(ids, MCX_MIKEY_IDS_URI);      /* untouched on failure */
	}
	CHECK(mcx_mikey_identities_parse(NULL, &ids) != 0);
	CHECK_EQ_STR(mcx_mikey_identities_name(MCX_MIKEY_IDS_UID), "uid");
	CHECK_EQ_STR(mcx_mikey_identities_name(MCX_MIKEY_IDS_URI), "uri");
	CHECK_EQ_STR(mcx_mikey_identities_name(MCX_MIKEY_IDS_BOTH), "both");
	CHECK_EQ_STR(mcx_mikey_identities_name((enum mcx_mikey_identities)7), "unknown");
}

/* The published message (E.7 form) through the identity-aware API. */
TEST(identities_published)
{
	struct mcx_mikey_i_message m;
	uint8_t gmk[16];

	REQUIRE(mcx_mikey_parse(sw_msg, MSG_LEN, &m) == 0);
	CHECK_EQ_INT(mcx_mikey_identities_of(&m), MCX_MIKEY_IDS_UID);
	CHECK_OK(mcx_mikey_verify_sender(ec, &m, sw_kpak, sw_gms_uid, SW_GMS_URI));
	/* no IDRi to compare a URI with: the UID decides */
	CHECK_EQ_INT(mcx_mikey_verify_sender(ec, &m, sw_kpak, sw_alice_uid, SW_GMS_URI),
		     MCX_ERR_SIGNATURE_INVALID);
	CHECK_OK(mcx_mikey_decapsulate_member(sk, &m, sw_Z, sw_alice_uid, SW_ALICE_URI, sw_alice_rsk, gmk));
	CHECK_MEM(gmk, sw_gmk, 16);
	CHECK_EQ_INT(mcx_mikey_decapsulate_member(sk, &m, sw_Z, sw_bob_uid, SW_BOB_URI, sw_bob_rsk, gmk),
		     MCX_ERR_INVALID_ARGUMENT);
}

/* The IDR roles a built message carries, in wire order: HDR (25 octets with an
 * 8-octet SPI), T (10) and RAND (18) come first; each IDR is next | role |
 * type | length (16) | value. */
static void idr_roles(const uint8_t *msg, size_t len, uint8_t *roles, size_t *n)
{
	size_t off = 25 + 10 + 18;
	uint8_t next = msg[25 + 10];

	*n = 0;
	while (next == 14 && off + 5 <= len && *n < 8) {
		roles[(*n)++] = msg[off + 1];
		next = msg[off];
		off += 5 + ((size_t)msg[off + 3] << 8 | msg[off + 4]);
	}
}

TEST(identities_round_trips)
{
	static const struct {
		enum mcx_mikey_identities ids;
		uint8_t roles[6];
		size_t n;
	} modes[] = {
		{ MCX_MIKEY_IDS_UID, { 8, 9, 6, 7 }, 4 },
		{ MCX_MIKEY_IDS_URI, { 1, 2, 6, 7 }, 4 },
		{ MCX_MIKEY_IDS_BOTH, { 1, 2, 8, 9, 6, 7 }, 6 },
	};
	struct mcx_mikey_gmk_input in;
	struct mcx_mikey_i_message m;
	struct mcx_buf *out = mcx_buf_new(MCX_MIKEY_MSG_MAX);
	uint8_t gmk[16], back[16], zero[16] = { 0 }, roles[8];
	uint32_t guk = 0, gmk_id = 0x0bcdef12u;
	size_t n = 0;

	REQUIRE(out != NULL && fresh_ok);
	REQUIRE(RAND_bytes(gmk, 16) == 1);
	for (size_t i = 0; i < MCX_ARRAY_SIZE(modes); i++) {
		int uri = modes[i].ids != MCX_MIKEY_IDS_UID, uid = modes[i].ids != MCX_MIKEY_IDS_URI;

		mcx_buf_reset(out);
		fresh_input(&in, gmk, gmk_id, &guk, &m1);
		in.identities = modes[i].ids;
		REQUIRE(mcx_mikey_gmk_build(sk, ec, &in, NULL, NULL, out) == 0);
		REQUIRE(mcx_mikey_parse(mcx_buf_ptr(out), mcx_buf_len(out), &m) == 0);
		/* the roles on the wire, in the RFC 6509 order */
		idr_roles(mcx_buf_ptr(out), mcx_buf_len(out), roles, &n);
		CHECK_EQ_INT(n, modes[i].n);
		CHECK_MEM(roles, modes[i].roles, modes[i].n);
		CHECK_EQ_INT(mcx_mikey_identities_of(&m), modes[i].ids);
		CHECK_EQ_INT(m.idri.present, uri);
		CHECK_EQ_INT(m.idrr.present, uri);
		CHECK_EQ_INT(m.idruidi.present, uid);
		CHECK_EQ_INT(m.idruidr.present, uid);
		if (uri) {
			CHECK(m.idri.len == strlen(gms_u.uri) && memcmp(m.idri.data, gms_u.uri, m.idri.len) == 0);
			CHECK(m.idrr.len == strlen(m1.uri) && memcmp(m.idrr.data, m1.uri, m.idrr.len) == 0);
			CHECK_EQ_INT(m.idri.type, 1);
		}
		if (uid) {
			CHECK_MEM(m.idruidi.data, gms_u.uid, 32);
			CHECK_MEM(m.idruidr.data, m1.uid, 32);
		}
		CHECK(m.idrkmsi.present && m.idrkmsr.present);

		/* the member's side: every identity carried must be the right one */
		CHECK_OK(mcx_mikey_verify_sender(ec, &m, kms_a.kpak, gms_u.uid, gms_u.uri));
		CHECK_OK(mcx_mikey_decapsulate_member(sk, &m, kms_b.Z, m1.uid, m1.uri, m1.rsk, back));
		CHECK_MEM(back, gmk, 16);
		/* the UID-only API still works for every mode (URIs not compared) */
		CHECK_OK(mcx_mikey_verify(ec, &m, kms_a.kpak, gms_u.uid));
		CHECK_OK(mcx_mikey_decapsulate(sk, &m, kms_b.Z, m1.uid, m1.rsk, back));
		CHECK_MEM(back, gmk, 16);

		/* a sender URI that is not the one in IDRi */
		CHECK_EQ_INT(mcx_mikey_verify_sender(ec, &m, kms_a.kpak, gms_u.uid, "sip:gms2@example.org"),
			     uri ? MCX_ERR_SIGNATURE_INVALID : MCX_OK);
		/* a message naming its member by URI cannot be checked without one */
		CHECK_EQ_INT(mcx_mikey_verify_sender(ec, &m, kms_a.kpak, gms_u.uid, NULL),
			     uri ? MCX_ERR_INVALID_ARGUMENT : MCX_OK);
		memset(back, 0xaa, 16);
		CHECK_EQ_INT(mcx_mikey_decapsulate_member(sk, &m, kms_b.Z, m1.uid, NULL, m1.rsk, back),
			     uri ? MCX_ERR_INVALID_ARGUMENT : MCX_OK);
		if (uri)
			CHECK_MEM(back, zero, 16);
		/* mismatching IDs: member 1's UID and keys with member 2's URI */
		memset(back, 0xaa, 16);
		CHECK_EQ_INT(mcx_mikey_decapsulate_member(sk, &m, kms_b.Z, m1.uid, m2.uri, m1.rsk, back),
			     uri ? MCX_ERR_INVALID_ARGUMENT : MCX_OK);
		if (uri)
			CHECK_MEM(back, zero, 16);
		/* member 2 with its own URI, UID and keys: not its message */
		memset(back, 0xaa, 16);
		CHECK(mcx_mikey_decapsulate_member(sk, &m, kms_b.Z, m2.uid, m2.uri, m2.rsk, back) != 0);
		CHECK_MEM(back, zero, 16);
		/* member 2's UID with member 1's URI (the UID form catches it; URI-only: SAKKE does) */
		CHECK(mcx_mikey_decapsulate_member(sk, &m, kms_b.Z, m2.uid, m1.uri, m2.rsk, back) != 0);
		CHECK_MEM(back, zero, 16);
		/* the wrong sender UID with the right URI */
		CHECK_EQ_INT(mcx_mikey_verify_sender(ec, &m, kms_a.kpak, m1.uid, gms_u.uri),
			     MCX_ERR_SIGNATURE_INVALID);
	}
	mcx_buf_free(out);
}

/* IDRi/IDRr are URIs: the parser refuses malformed ones, and a message that
 * names no sender or no member at all. */
TEST(identities_parser_refuses)
{
	struct mcx_mikey_gmk_input in;
	struct mcx_mikey_i_message m;
	struct mcx_buf *out = mcx_buf_new(MCX_MIKEY_MSG_MAX);
	uint8_t gmk[16] = { 9, 8, 7 }, *p = NULL, *cut = NULL;
	uint32_t guk = 0;
	size_t len = 0, idri = 0, idrr = 0, ulen = strlen("sip:gms@example.org");
	static const uint8_t bad_octets[] = { 0x00, 0x20, 0x0a, 0x09, 0x7f, 0x01 };

	REQUIRE(out != NULL && fresh_ok);
	fresh_input(&in, gmk, 0x0abcabc1u, &guk, &m1);
	in.identities = MCX_MIKEY_IDS_URI;
	REQUIRE(mcx_mikey_gmk_build(sk, ec, &in, NULL, NULL, out) == 0);
	len = mcx_buf_len(out);
	REQUIRE((p = malloc(len)) != NULL);
	REQUIRE(mcx_mikey_parse(mcx_buf_ptr(out), len, &m) == 0);
	idri = (size_t)(m.idri.data - mcx_buf_ptr(out)) - 5;   /* the IDRi payload: next role type len16 */
	idrr = (size_t)(m.idrr.data - mcx_buf_ptr(out)) - 5;
	CHECK_EQ_INT(idri, 53);
	CHECK_EQ_INT(idrr, 53 + 5 + ulen);
#define MUTATED(off, v)                                                                  \
	(memcpy(p, mcx_buf_ptr(out), len), p[(off)] = (uint8_t)(v), mcx_mikey_parse(p, len, &m))
	CHECK_OK(MUTATED(0, 1));                               /* the copy parses */
	CHECK_EQ_INT(MUTATED(idri + 2, 2), MCX_ERR_PARSE);     /* IDRi as a byte string */
	CHECK_EQ_INT(MUTATED(idrr + 2, 0), MCX_ERR_PARSE);     /* IDRr ID type 0 */
	CHECK_EQ_INT(MUTATED(idrr + 1, 1), MCX_ERR_PARSE);     /* IDRr relabelled IDRi: twice */
	CHECK_EQ_INT(MUTATED(idri + 1, 2), MCX_ERR_PARSE);     /* IDRi relabelled IDRr: twice */
	CHECK_EQ_INT(MUTATED(idrr + 1, 3), MCX_ERR_PARSE);     /* role 3 (IDRkms, RFC 3830): not ours */
	CHECK_EQ_INT(MUTATED(idrr + 1, 5), MCX_ERR_PARSE);     /* role 5 (IDRpsk) */
	for (size_t i = 0; i < sizeof(bad_octets); i++) {
		CHECK_EQ_INT(MUTATED(idri + 5 + 3, bad_octets[i]), MCX_ERR_PARSE);   /* in the sender URI */
		CHECK_EQ_INT(MUTATED(idrr + 5 + 7, bad_octets[i]), MCX_ERR_PARSE);   /* in the member URI */
	}
	/* lengths: 0, one short (the next payload misread), past the end */
	memcpy(p, mcx_buf_ptr(out), len);
	p[idri + 3] = 0;
	p[idri + 4] = 0;
	CHECK(mcx_mikey_parse(p, len, &m) != 0);
	memcpy(p, mcx_buf_ptr(out), len);
	p[idrr + 4] = (uint8_t)(p[idrr + 4] - 1);
	CHECK(mcx_mikey_parse(p, len, &m) != 0);
	memcpy(p, mcx_buf_ptr(out), len);
	p[idrr + 3] = 0x04;                                    /* 1025 + ...: above MCX_MIKEY_ID_MAX */
	p[idrr + 4] = 0x01;
	CHECK(mcx_mikey_parse(p, len, &m) != 0);
#undef MUTATED
	/* a URI-form message with a flipped IDRr octet still parses but is not m1's */
	memcpy(p, mcx_buf_ptr(out), len);
	p[idrr + 5 + 10] ^= 0x01;
	if (mcx_mikey_parse(p, len, &m) == 0) {
		uint8_t back[16];
		CHECK_EQ_INT(mcx_mikey_decapsulate_member(sk, &m, kms_b.Z, m1.uid, m1.uri, m1.rsk, back),
			     MCX_ERR_INVALID_ARGUMENT);
		CHECK_EQ_INT(mcx_mikey_verify_sender(ec, &m, kms_a.kpak, gms_u.uid, gms_u.uri),
			     MCX_ERR_SIGNATURE_INVALID);       /* signed octet changed */
	}

	/* the published message without IDRuidr (octets 90..126): names no member */
	REQUIRE((cut = malloc(MSG_LEN)) != NULL);
	memcpy(cut, sw_msg, 90);
	memcpy(cut + 90, sw_msg + 127, MSG_LEN - 127);
	CHECK_EQ_INT(mcx_mikey_parse(cut, MSG_LEN - 37, &m), MCX_ERR_PARSE);
	/* and without IDRuidi (53..89): names no sender */
	memcpy(cut, sw_msg, 53);
	memcpy(cut + 53, sw_msg + 90, MSG_LEN - 90);
	CHECK_EQ_INT(mcx_mikey_parse(cut, MSG_LEN - 37, &m), MCX_ERR_PARSE);
	/* without both UIDs: no identity at all */
	memcpy(cut, sw_msg, 53);
	memcpy(cut + 53, sw_msg + 127, MSG_LEN - 127);
	CHECK_EQ_INT(mcx_mikey_parse(cut, MSG_LEN - 74, &m), MCX_ERR_PARSE);
	/* the published message itself still parses */
	CHECK_OK(mcx_mikey_parse(sw_msg, MSG_LEN, &m));
	free(cut);
	free(p);
	mcx_buf_free(out);
}

/* The RAND a GMS gives every member of one key, and an explicit RAND. */
TEST(group_rand)
{
	static const char expect_sw[] = "064d6a60a8040cbfb76572abce5aa374"; /* Python hmac, see docs/mikey.md */
	struct mcx_mikey_gmk_input in;
	struct mcx_mikey_i_message m;
	struct mcx_buf *out = mcx_buf_new(MCX_MIKEY_MSG_MAX);
	uint8_t r1[16], r2[16], r3[16], want[16], gmk[16] = { 1 };
	uint32_t guk = 0;

	REQUIRE(out != NULL && fresh_ok);
	REQUIRE(unhex(expect_sw, want, 16) == 16);
	CHECK_OK(mcx_mikey_group_rand(sw_gmk, SW_GMK_ID, r1));
	CHECK_MEM(r1, want, 16);
	CHECK_OK(mcx_mikey_group_rand(sw_gmk, SW_GMK_ID, r2));
	CHECK_MEM(r1, r2, 16);                               /* deterministic */
	CHECK_OK(mcx_mikey_group_rand(sw_gmk, SW_GMK_ID ^ 1, r3));
	CHECK(memcmp(r1, r3, 16) != 0);                      /* per key id */
	CHECK_OK(mcx_mikey_group_rand(gmk, SW_GMK_ID, r3));
	CHECK(memcmp(r1, r3, 16) != 0);                      /* per key */
	CHECK(mcx_mikey_group_rand(NULL, SW_GMK_ID, r3) != 0);
	/* the builder takes it instead of drawing one: both members carry it */
	for (int k = 0; k < 2; k++) {
		const struct user *u = k == 0 ? &m1 : &m2;
		mcx_buf_reset(out);
		fresh_input(&in, sw_gmk, SW_GMK_ID, &guk, u);
		in.rand = r1;
		REQUIRE(mcx_mikey_gmk_build(sk, ec, &in, NULL, NULL, out) == 0);
		REQUIRE(mcx_mikey_parse(mcx_buf_ptr(out), mcx_buf_len(out), &m) == 0);
		CHECK_EQ_INT(m.rand_len, 16);
		CHECK_MEM(m.rand, r1, 16);
	}
	mcx_buf_free(out);
}

/* The build appends: a message after existing content parses from its offset. */
TEST(build_appends)
{
	struct mcx_mikey_gmk_input in;
	struct mcx_mikey_i_message m;
	struct mcx_buf *out = mcx_buf_new(MCX_MIKEY_MSG_MAX);
	uint8_t gmk[16] = { 1, 2, 3 };
	uint32_t guk = 0;

	REQUIRE(out != NULL && fresh_ok);
	REQUIRE(mcx_buf_put(out, "xyz", 3) == 0);
	fresh_input(&in, gmk, 0x01234567u, &guk, &m2);
	REQUIRE(mcx_mikey_gmk_build(sk, ec, &in, NULL, NULL, out) == 0);
	CHECK_OK(mcx_mikey_parse(mcx_buf_ptr(out) + 3, mcx_buf_len(out) - 3, &m));
	CHECK_OK(mcx_mikey_verify(ec, &m, kms_a.kpak, gms_u.uid));
	mcx_buf_free(out);
}

/* ---- malformed input ---------------------------------------------------------- */

static int parses(const uint8_t *p, size_t n)
{
	struct mcx_mikey_i_message m;
	int r = mcx_mikey_parse(p, n, &m);
	if (r != 0) {
		/* a failed parse leaves nothing behind */
		static const struct mcx_mikey_i_message zero;
		if (memcmp(&m, &zero, sizeof(m)) != 0)
			return 2;
	}
	return r == 0;
}

TEST(truncated_at_every_offset)
{
	static uint8_t copy[MSG_LEN];
	int bad = 0;

	for (size_t n = 0; n < MSG_LEN; n++) {
		/* a fresh heap copy of exactly n octets so ASan sees any overread */
		uint8_t *p = malloc(n ? n : 1);
		REQUIRE(p != NULL);
		memcpy(p, sw_msg, n);
		if (parses(p, n) != 0) {
			printf("  truncation at %zu accepted\n", n);
			bad++;
		}
		free(p);
	}
	CHECK_EQ_INT(bad, 0);
	memcpy(copy, sw_msg, MSG_LEN);
	CHECK_EQ_INT(parses(copy, MSG_LEN), 1);
	CHECK(mcx_mikey_parse(NULL, 10, NULL) != 0);
	{
		struct mcx_mikey_i_message m;
		CHECK(mcx_mikey_parse(NULL, 10, &m) != 0);
		CHECK(mcx_mikey_parse(sw_msg, MCX_MIKEY_MSG_MAX + 1, &m) != 0);
	}
}

TEST(trailing_garbage)
{
	static uint8_t p[MSG_LEN + 16];
	memcpy(p, sw_msg, MSG_LEN);
	for (size_t extra = 1; extra <= 16; extra++)
		CHECK_EQ_INT(parses(p, MSG_LEN + extra), 0);
}

/* One octet at off set to v must be refused by the parser. */
static int refused(size_t off, uint8_t v)
{
	static uint8_t p[MSG_LEN];
	memcpy(p, sw_msg, MSG_LEN);
	p[off] = v;
	if (parses(p, MSG_LEN) != 0) {
		printf("  octet %zu = 0x%02x accepted\n", off, v);
		return 0;
	}
	return 1;
}

static int refused16(size_t off, uint16_t v)
{
	static uint8_t p[MSG_LEN];
	memcpy(p, sw_msg, MSG_LEN);
	p[off] = (uint8_t)(v >> 8);
	p[off + 1] = (uint8_t)v;
	if (parses(p, MSG_LEN) != 0) {
		printf("  u16 at %zu = 0x%04x accepted\n", off, v);
		return 0;
	}
	return 1;
}

TEST(header_fields)
{
	CHECK(refused(0, 2));           /* version */
	CHECK(refused(1, 0));           /* data type: not SAKKE */
	CHECK(refused(1, 27));
	CHECK(refused(3, 0x81));        /* V bit */
	CHECK(refused(3, 0x02));        /* PRF */
	CHECK(refused(4, 0x07));        /* CSB-ID != GUK-ID in the SPI */
	CHECK(refused(8, 0));           /* #CS */
	CHECK(refused(8, 2));
	CHECK(refused(9, 0));           /* map type SRTP-ID */
	CHECK(refused(11, 1));          /* prot type */
	CHECK(refused(16, 7));          /* SPI length */
	CHECK(refused(16, 0));
	CHECK(refused(17, 0x1d));       /* GMK-ID purpose tag != GUK-ID's */
}

TEST(unknown_payload_types)
{
	static const uint8_t bad[] = { 0, 1, 2, 3, 6, 7, 8, 9, 12, 13, 15, 16, 20, 22, 25, 27, 0xff };
	for (size_t i = 0; i < sizeof(bad); i++) {
		CHECK(refused(2, bad[i]));     /* HDR -> ? */
		CHECK(refused(35, bad[i]));    /* RAND -> ? */
		CHECK(refused(185, bad[i]));   /* SP -> ? */
		CHECK(refused(495, bad[i]));   /* GENERAL-EXT -> ? */
	}
	CHECK(refused(26, 3));              /* TS type */
	CHECK(refused(54, 3));              /* ID role */
	CHECK(refused(54, 5));
	CHECK(refused(55, 3));              /* ID type */
	CHECK(refused(129, 2));             /* IDRkmsi as a byte string */
	CHECK(refused(140, 0));             /* NUL inside the IDRkmsi URI */
	CHECK(refused(218, 2));             /* SAKKE params */
	CHECK(refused(219, 1));             /* SAKKE ID scheme */
	CHECK(refused(496, 1));             /* GENERAL-EXT type */
	CHECK(refused(510, 2));             /* key-parameter algorithm */
	CHECK(refused(527, 0x07));          /* DPPK-ID != CSB-ID */
	CHECK(refused(531, 1));             /* TLV-E type */
	CHECK(refused(570, 0x10));          /* S type 1 (RSA) */
}

TEST(wrong_next_payload_chain)
{
	CHECK(refused(2, 11));     /* HDR -> RAND (T skipped) */
	CHECK(refused(2, 14));     /* HDR -> IDR */
	CHECK(refused(25, 14));    /* T -> IDR (RAND skipped) */
	CHECK(refused(25, 5));     /* T -> T */
	CHECK(refused(35, 11));    /* RAND -> RAND */
	CHECK(refused(35, 26));    /* RAND -> SAKKE: IDR bytes read as SAKKE */
	CHECK(refused(156, 26));   /* IDRkmsr -> SAKKE: SP bytes read as SAKKE */
	CHECK(refused(156, 4));    /* IDRkmsr -> SIGN */
	CHECK(refused(185, 14));   /* SP -> IDR */
	CHECK(refused(185, 10));   /* SP -> SP */
	CHECK(refused(217, 4));    /* SAKKE -> SIGN: GENERAL-EXT read as SIGN */
	CHECK(refused(217, 26));   /* SAKKE -> SAKKE */
	CHECK(refused(217, 0));    /* SAKKE -> Last */
	CHECK(refused(495, 21));   /* GENERAL-EXT -> GENERAL-EXT */
	CHECK(refused(495, 0));    /* GENERAL-EXT -> Last: SIGN missing */
	CHECK(refused(90, 8));     /* IDRuidr relabelled IDRuidi: duplicate role */
	CHECK(refused(127, 7));    /* IDRkmsi relabelled IDRkmsr: duplicate role */
}

TEST(lengths_overflowing)
{
	static const uint16_t vals[] = { 0, 1, 31, 33, 0x7fff, 0xffff };
	for (size_t i = 0; i < MCX_ARRAY_SIZE(vals); i++) {
		CHECK(refused16(56, vals[i]));    /* IDRuidi length */
		CHECK(refused16(93, vals[i]));    /* IDRuidr length */
		CHECK(refused16(220, vals[i]));   /* SAKKE data length */
		CHECK(refused16(497, vals[i]));   /* GENERAL-EXT length */
		CHECK(refused16(532, vals[i]));   /* key-parameter ciphertext length */
		CHECK(refused16(188, vals[i]));   /* SP parameter length */
	}
	CHECK(refused16(130, 0));             /* IDRkmsi length */
	CHECK(refused16(130, 0x19));
	CHECK(refused16(130, 0xffff));
	CHECK(refused(36, 0));                /* RAND length */
	CHECK(refused(36, 15));
	CHECK(refused(36, 17));
	CHECK(refused(36, 0xff));
	CHECK(refused16(570, 0x2080));        /* signature length 128 */
	CHECK(refused16(570, 0x2082));
	CHECK(refused16(570, 0x2fff));
	CHECK(refused(14, 0x7f));             /* #P overflow in the CS map */
	CHECK(refused16(14 + 2, 0xffff));     /* session data length */
	CHECK(refused(191, 0xff));            /* SP parameter length in a TLV */
}

TEST(signature_flips)
{
	static uint8_t p[MSG_LEN];
	struct mcx_mikey_i_message m;
	int parsed = 0, accepted = 0;

	/* every signed octet (HDR through the SIGN header): flip one bit */
	for (size_t off = 0; off < 572; off++) {
		memcpy(p, sw_msg, MSG_LEN);
		p[off] ^= 0x01;
		if (mcx_mikey_parse(p, MSG_LEN, &m) != 0)
			continue;
		parsed++;
		if (mcx_mikey_verify(ec, &m, sw_kpak, sw_gms_uid) == 0) {
			printf("  flip at %zu verified\n", off);
			accepted++;
		}
	}
	/* a sample of the signature octets (r, s, PVT) */
	for (size_t off = 572; off < MSG_LEN; off += 7) {
		memcpy(p, sw_msg, MSG_LEN);
		p[off] ^= 0x80;
		REQUIRE(mcx_mikey_parse(p, MSG_LEN, &m) == 0);
		parsed++;
		if (mcx_mikey_verify(ec, &m, sw_kpak, sw_gms_uid) == 0)
			accepted++;
	}
	CHECK(parsed > 400);
	CHECK_EQ_INT(accepted, 0);
}

/* Random mutations: never crash, never leave a half-filled view. */
TEST(random_mutations)
{
	static uint8_t p[MSG_LEN];
	uint32_t x = 0x12345678u;
	int weird = 0;

	for (int i = 0; i < 20000; i++) {
		int nmut = 1 + (int)(x % 4);
		size_t len = MSG_LEN;
		memcpy(p, sw_msg, MSG_LEN);
		for (int k = 0; k < nmut; k++) {
			x = x * 1103515245u + 12345u;
			p[(x >> 8) % MSG_LEN] = (uint8_t)(x >> 24);
		}
		x = x * 1103515245u + 12345u;
		if ((x >> 16) % 8 == 0)
			len = (x >> 4) % MSG_LEN;
		if (parses(p, len) == 2)
			weird++;
	}
	CHECK_EQ_INT(weird, 0);
}

int main(void)
{
	if (mcx_sakke_params_new(&sk) != 0 || mcx_eccsi_params_new(&ec) != 0 || !load_vectors()) {
		printf("mikey: setup failed\nmikey: 0 passed, 1 failed\n");
		return 1;
	}
	fresh_setup();
	RUN(published_parse_fields);
	RUN(published_verify);
	RUN(published_decapsulate_and_key_params);
	RUN(published_wrong_member);
	RUN(guk_id_published);
	RUN(rebuild_published);
	RUN(build_rejects_bad_input);
	RUN(round_trip_fresh_keys);
	RUN(identities_names);
	RUN(identities_published);
	RUN(identities_round_trips);
	RUN(identities_parser_refuses);
	RUN(group_rand);
	RUN(build_appends);
	RUN(truncated_at_every_offset);
	RUN(trailing_garbage);
	RUN(header_fields);
	RUN(unknown_payload_types);
	RUN(wrong_next_payload_chain);
	RUN(lengths_overflowing);
	RUN(signature_flips);
	RUN(random_mutations);
	mcx_sakke_params_free(sk);
	mcx_eccsi_params_free(ec);
	return test_summary("mikey");
}
