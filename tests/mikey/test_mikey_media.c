/*
 * mcxvault mikey — per-sender SRTP master keys of a group (TS 33.180 7.4.2):
 * the MIKEY PRF (RFC 3830 s.4.1.2, RFC 6043 s.6.1) against an independent
 * implementation on EVP_MAC and against values computed with Python's hmac
 * (tests/mikey/media_vectors.h says where each comes from); the published
 * Streamwide GMK/GUK-ID; 10,000 members with 10,000 distinct key/salt pairs
 * that every receiver derives alike; the 28-bit GUK-ID limit.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "mcx/buf.h"
#include "mcx/eccsi.h"
#include "mcx/mikey.h"
#include "mcx/sakke.h"
#include "mcx/uid.h"
#include "tests/mikey/media_vectors.h"
#include "tests/mikey/vectors.h"
#include "tests/test.h"

#define MSG_LEN 701
#define MEMBERS 10000
#define KS_LEN (MCX_MIKEY_SRTP_KEY_LEN + MCX_MIKEY_SRTP_SALT_LEN)

static struct mcx_sakke_params *sk;
static struct mcx_eccsi_params *ec;
static uint8_t sw_msg[MSG_LEN], sw_Z[257], sw_alice_uid[32], sw_alice_rsk[257], sw_gmk[16], sw_rand[16];

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

/* ---- an independent PRF: RFC 3830 s.4.1.2 written again on EVP_MAC ---------- */

static int mac(const char *digest, const uint8_t *key, size_t klen, const uint8_t *a, size_t alen,
	       const uint8_t *b, size_t blen, uint8_t *out, size_t *olen)
{
	EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *c = m != NULL ? EVP_MAC_CTX_new(m) : NULL;
	OSSL_PARAM params[2];
	int ok;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	ok = c != NULL && EVP_MAC_init(c, key, klen, params) == 1 && EVP_MAC_update(c, a, alen) == 1 &&
	     EVP_MAC_update(c, b, blen) == 1 && EVP_MAC_final(c, out, olen, 64) == 1;
	EVP_MAC_CTX_free(c);
	EVP_MAC_free(m);
	return ok ? 0 : -1;
}

/* PRF(inkey, label) = XOR over 256-bit pieces s_j of P(s_j, label, m), out_len octets. */
static int ref_prf(int sha256, const uint8_t *inkey, size_t ilen, const uint8_t *label, size_t llen,
		   uint8_t *out, size_t out_len)
{
	const char *d = sha256 ? "SHA256" : "SHA1";
	size_t hl = sha256 ? 32 : 20, m = (out_len + hl - 1) / hl, n = (ilen + 31) / 32;
	uint8_t a[64], p[64 * 8];

	memset(out, 0, out_len);
	for (size_t j = 0; j < n; j++) {
		const uint8_t *s = inkey + 32 * j;
		size_t slen = j + 1 < n ? 32 : ilen - 32 * j, l = 0;

		/* A_1 = HMAC(s, label); block i = HMAC(s, A_i || label) */
		if (mac(d, s, slen, label, llen, NULL, 0, a, &l) != 0)
			return -1;
		for (size_t i = 0; i < m; i++) {
			if (mac(d, s, slen, a, hl, label, llen, p + i * hl, &l) != 0 ||
			    mac(d, s, slen, a, hl, NULL, 0, a, &l) != 0)
				return -1;
		}
		for (size_t i = 0; i < out_len; i++)
			out[i] ^= p[i];
	}
	return 0;
}

/* RFC 3830 s.4.1.3 label = constant || CS ID || CSB ID || RAND. */
static size_t kd_label(uint8_t *label, uint32_t constant, uint8_t cs_id, uint32_t csb, const uint8_t *rand,
		       size_t rand_len)
{
	label[0] = (uint8_t)(constant >> 24);
	label[1] = (uint8_t)(constant >> 16);
	label[2] = (uint8_t)(constant >> 8);
	label[3] = (uint8_t)constant;
	label[4] = cs_id;
	label[5] = (uint8_t)(csb >> 24);
	label[6] = (uint8_t)(csb >> 16);
	label[7] = (uint8_t)(csb >> 8);
	label[8] = (uint8_t)csb;
	memcpy(label + 9, rand, rand_len);
	return 9 + rand_len;
}

/* ---- the PRF ----------------------------------------------------------------- */

TEST(prf_python_values)
{
	uint8_t inkey[40], label[25], out[64], want[64];

	for (size_t i = 0; i < sizeof(inkey); i++)
		inkey[i] = (uint8_t)(i + 1);
	for (size_t i = 0; i < sizeof(label); i++)
		label[i] = (uint8_t)(0x80 + i);
	REQUIRE(unhex(PY_PRF_SHA256_LONG, want, 64) == 64);
	CHECK_OK(mcx_mikey_prf(1, inkey, sizeof(inkey), label, sizeof(label), out, 64));
	CHECK_MEM(out, want, 64);
	/* a prefix of the output is the shorter output */
	CHECK_OK(mcx_mikey_prf(1, inkey, sizeof(inkey), label, sizeof(label), out, 33));
	CHECK_MEM(out, want, 33);
	REQUIRE(unhex(PY_PRF_SHA1_LONG, want, 64) == 64);
	CHECK_OK(mcx_mikey_prf(0, inkey, sizeof(inkey), label, sizeof(label), out, 64));
	CHECK_MEM(out, want, 64);
	CHECK_OK(mcx_mikey_prf(0, inkey, sizeof(inkey), label, sizeof(label), out, 21));
	CHECK_MEM(out, want, 21);
}

TEST(prf_streamwide_unit_test_values)
{
	uint8_t ssv[16], rand[16], label[64], out[28], want[28];
	struct mcx_mikey_srtp_keys k;
	size_t ll;

	REQUIRE(unhex(SWUT_SSV, ssv, 16) == 16 && unhex(SWUT_RAND, rand, 16) == 16);
	/* TEK and salt, through the media-key API (GMK-ID with the same purpose tag) */
	REQUIRE(unhex(SWUT_TEK_SALT, want, 28) == 28);
	CHECK_OK(mcx_mikey_media_keys(1, ssv, 0x01234567u, SWUT_TEK_CSB, 4, rand, 16, &k));
	CHECK_MEM(k.master_key, want, 16);
	CHECK_MEM(k.master_salt, want + 16, 12);
	/* the encryption-key constant of RFC 3830 s.4.1.3, through the bare PRF */
	REQUIRE(unhex(SWUT_ENCR_SALT, want, 28) == 28);
	ll = kd_label(label, 0x15798CEFu, 4, SWUT_ENCR_CSB, rand, 16);
	CHECK_OK(mcx_mikey_prf(1, ssv, 16, label, ll, out, 16));
	CHECK_MEM(out, want, 16);
	ll = kd_label(label, 0x39A2C14Bu, 4, SWUT_ENCR_CSB, rand, 16);
	CHECK_OK(mcx_mikey_prf(1, ssv, 16, label, ll, out, 12));
	CHECK_MEM(out, want + 16, 12);
}

/* 3000 random cases, both hashes, inkeys of 1..80 octets (1..3 pieces),
 * labels of 1..100 octets, outputs of 1..64 octets. */
TEST(prf_against_evp_mac)
{
	uint8_t inkey[80], label[100], a[64], b[64], rnd[4];
	int diff = 0;

	for (int i = 0; i < 3000; i++) {
		size_t il, ll, ol;
		int sha256 = i & 1;

		REQUIRE(RAND_bytes(rnd, sizeof(rnd)) == 1);
		il = 1 + rnd[0] % 80;
		ll = 1 + rnd[1] % 100;
		ol = 1 + rnd[2] % 64;
		REQUIRE(RAND_bytes(inkey, (int)il) == 1 && RAND_bytes(label, (int)ll) == 1);
		REQUIRE(ref_prf(sha256, inkey, il, label, ll, a, ol) == 0);
		REQUIRE(mcx_mikey_prf(sha256 ? 1 : 0, inkey, il, label, ll, b, ol) == 0);
		if (memcmp(a, b, ol) != 0) {
			if (diff++ < 5)
				printf("  differs: sha256 %d inkey %zu label %zu out %zu\n", sha256, il, ll, ol);
		}
	}
	CHECK_EQ_INT(diff, 0);
}

TEST(prf_bad_input)
{
	uint8_t key[16] = { 1 }, label[600] = { 2 }, out[65];

	memset(out, 0xaa, sizeof(out));
	CHECK_EQ_INT(mcx_mikey_prf(2, key, 16, label, 20, out, 16), MCX_ERR_INVALID_ARGUMENT);   /* PRF 2 */
	CHECK_EQ_INT(out[0] | out[15], 0);                          /* zeroed on failure */
	CHECK_EQ_INT(mcx_mikey_prf(1, key, 16, label, 20, out, 0), MCX_ERR_INVALID_ARGUMENT);
	CHECK_EQ_INT(mcx_mikey_prf(1, key, 16, label, 20, out, 65), MCX_ERR_INVALID_ARGUMENT);
	CHECK_EQ_INT(mcx_mikey_prf(1, NULL, 16, label, 20, out, 16), MCX_ERR_INVALID_ARGUMENT);
	CHECK_EQ_INT(mcx_mikey_prf(1, key, 0, label, 20, out, 16), MCX_ERR_INVALID_ARGUMENT);
	CHECK_EQ_INT(mcx_mikey_prf(1, key, 16, NULL, 20, out, 16), MCX_ERR_INVALID_ARGUMENT);
	CHECK_EQ_INT(mcx_mikey_prf(1, key, 16, label, 0, out, 16), MCX_ERR_INVALID_ARGUMENT);
	CHECK_EQ_INT(mcx_mikey_prf(1, key, 16, label, 513, out, 16), MCX_ERR_INVALID_ARGUMENT);
	CHECK_EQ_INT(mcx_mikey_prf(1, key, 16, label, 20, NULL, 16), MCX_ERR_INVALID_ARGUMENT);
	CHECK_OK(mcx_mikey_prf(1, key, 16, label, 512, out, 64));
}

/* ---- the published GMK --------------------------------------------------------- */

TEST(media_keys_published)
{
	struct mcx_mikey_i_message m;
	struct mcx_mikey_srtp_keys own, peer, k;
	uint8_t gmk[16], key[16], salt[12], mki[8], zero[sizeof(own)];
	uint32_t g = 0, u = 0;

	memset(zero, 0, sizeof(zero));
	REQUIRE(mcx_mikey_parse(sw_msg, MSG_LEN, &m) == 0);
	REQUIRE(mcx_mikey_decapsulate_member(sk, &m, sw_Z, sw_alice_uid, SW_ALICE_URI, sw_alice_rsk, gmk) == 0);
	CHECK_MEM(gmk, sw_gmk, 16);
	CHECK_EQ_INT(m.cs_id, MCX_MIKEY_CS_MCPTT_GROUP);
	CHECK_EQ_INT(m.prf_func, 1);
	/* Alice's own context: her GUK-ID as published (F.1.3), key and salt by Python */
	REQUIRE(mcx_mikey_media_keys_own(&m, gmk, SW_ALICE_URI, &own) == 0);
	CHECK_EQ_INT(own.gmk_id, SW_GMK_ID);
	CHECK_EQ_INT(own.guk_id, SW_GUK_ID_ALICE);
	REQUIRE(unhex(PY_ALICE_KEY_SHA256, key, 16) == 16 && unhex(PY_ALICE_SALT_SHA256, salt, 12) == 12);
	CHECK_MEM(own.master_key, key, 16);
	CHECK_MEM(own.master_salt, salt, 12);
	REQUIRE(unhex("0df9bc3906a12aea", mki, 8) == 8);
	CHECK_MEM(own.mki, mki, 8);
	/* the same from the bare function with the published inputs */
	CHECK_OK(mcx_mikey_media_keys(1, sw_gmk, SW_GMK_ID, SW_GUK_ID_ALICE, 4, sw_rand, 16, &k));
	CHECK_MEM(&k, &own, sizeof(k));
	/* a receiver of Alice's packets (here: Alice's own message) from the MKI */
	CHECK_OK(mcx_mikey_media_keys_peer(&m, gmk, SW_ALICE_URI, own.mki, 8, &peer));
	CHECK_MEM(&peer, &own, sizeof(peer));
	CHECK_OK(mcx_mikey_mki_parse(own.mki, 8, &g, &u));
	CHECK(g == SW_GMK_ID && u == SW_GUK_ID_ALICE);

	/* not Bob's message: his URI's GUK-ID is not the CSB-ID */
	memset(&k, 0xaa, sizeof(k));
	CHECK_EQ_INT(mcx_mikey_media_keys_own(&m, gmk, SW_BOB_URI, &k), MCX_ERR_INVALID_ARGUMENT);
	CHECK_MEM(&k, zero, sizeof(k));
	CHECK_EQ_INT(mcx_mikey_media_keys_peer(&m, gmk, SW_BOB_URI, own.mki, 8, &k), MCX_ERR_INVALID_ARGUMENT);
	/* another GMK: the CSB-ID no longer matches */
	gmk[0] ^= 1;
	CHECK_EQ_INT(mcx_mikey_media_keys_own(&m, gmk, SW_ALICE_URI, &k), MCX_ERR_INVALID_ARGUMENT);
	gmk[0] ^= 1;
	/* MKIs: another GMK-ID, a wrong length, purpose tags that differ */
	mki[3] ^= 1;
	CHECK_EQ_INT(mcx_mikey_media_keys_peer(&m, gmk, SW_ALICE_URI, mki, 8, &k), MCX_ERR_NOT_FOUND);
	mki[3] ^= 1;
	CHECK_EQ_INT(mcx_mikey_media_keys_peer(&m, gmk, SW_ALICE_URI, mki, 4, &k), MCX_ERR_PARSE);
	CHECK_EQ_INT(mcx_mikey_media_keys_peer(&m, gmk, SW_ALICE_URI, mki, 9, &k), MCX_ERR_PARSE);
	mki[4] |= 0x10;
	CHECK_EQ_INT(mcx_mikey_media_keys_peer(&m, gmk, SW_ALICE_URI, mki, 8, &k), MCX_ERR_PARSE);
	CHECK_MEM(&k, zero, sizeof(k));
	CHECK_EQ_INT(mcx_mikey_media_keys(1, sw_gmk, SW_GMK_ID, SW_GUK_ID_ALICE | 0x10000000u, 4, sw_rand, 16, &k),
		     MCX_ERR_INVALID_ARGUMENT);
	CHECK_EQ_INT(mcx_mikey_media_keys(1, sw_gmk, SW_GMK_ID, SW_GUK_ID_ALICE, 4, sw_rand, 15, &k),
		     MCX_ERR_INVALID_ARGUMENT);
	CHECK_EQ_INT(mcx_mikey_media_keys(1, sw_gmk, SW_GMK_ID, SW_GUK_ID_ALICE, 4, NULL, 16, &k),
		     MCX_ERR_INVALID_ARGUMENT);
	CHECK(mcx_mikey_media_keys_own(NULL, gmk, SW_ALICE_URI, &k) != 0);
	CHECK(mcx_mikey_media_keys_own(&m, gmk, NULL, &k) != 0);
	/* another CS ID (MCVideo group call) gives another context */
	CHECK_OK(mcx_mikey_media_keys(1, sw_gmk, SW_GMK_ID, SW_GUK_ID_ALICE, MCX_MIKEY_CS_MCVIDEO_GROUP, sw_rand,
				      16, &k));
	CHECK(memcmp(k.master_key, own.master_key, 16) != 0 && memcmp(k.master_salt, own.master_salt, 12) != 0);
}

/* The header's PRF func decides the hash: 0 is MIKEY-1 (HMAC-SHA-1). */
TEST(media_keys_prf_from_header)
{
	static uint8_t p[MSG_LEN];
	struct mcx_mikey_i_message m;
	struct mcx_mikey_srtp_keys own;
	uint8_t key[16], salt[12];

	memcpy(p, sw_msg, MSG_LEN);
	p[3] = 0;                                         /* V 0, PRF func 0 */
	REQUIRE(mcx_mikey_parse(p, MSG_LEN, &m) == 0);
	CHECK_EQ_INT(m.prf_func, 0);
	REQUIRE(mcx_mikey_media_keys_own(&m, sw_gmk, SW_ALICE_URI, &own) == 0);
	REQUIRE(unhex(PY_ALICE_KEY_SHA1, key, 16) == 16 && unhex(PY_ALICE_SALT_SHA1, salt, 12) == 12);
	CHECK_MEM(own.master_key, key, 16);
	CHECK_MEM(own.master_salt, salt, 12);
}

/* ---- a group of 10,000 ------------------------------------------------------------ */

struct entry {
	uint32_t guk;
	uint8_t ks[KS_LEN];
};

static int cmp_ks(const void *a, const void *b)
{
	return memcmp(((const struct entry *)a)->ks, ((const struct entry *)b)->ks, KS_LEN);
}

static int cmp_guk(const void *a, const void *b)
{
	uint32_t x = ((const struct entry *)a)->guk, y = ((const struct entry *)b)->guk;
	return x < y ? -1 : x > y;
}

static void member_uri(char *buf, size_t cap, int i)
{
	snprintf(buf, cap, "sip:member%05d@example.org", i);
}

static struct entry *table;   /* sender i's context as the sender derives it */
static uint8_t group_rand[16];

/*
 * Every member derives its own sending context from its own I_MESSAGE (CSB-ID
 * = its GUK-ID, RAND = the group RAND the GMS put into every message): 10,000
 * distinct GUK-IDs and 10,000 distinct key/salt pairs.  Then every member, as
 * a receiver holding its own message, derives a sender's context from the
 * sender's MKI: always the sender's pair.  The receivers' parsed views differ
 * only where their messages differ (CSB-ID; the rest of the published message
 * stands in for the rest of each one).
 */
TEST(group_of_10000)
{
	struct entry *sorted = NULL;
	struct mcx_mikey_i_message tmpl, view;
	struct mcx_mikey_srtp_keys k;
	char uri[64];
	size_t dup_ks = 0, dup_guk = 0, wrong = 0;
	static const int senders[] = { 0, 1, 4999, 9998, 9999 };

	REQUIRE((table = calloc(MEMBERS, sizeof(*table))) != NULL);
	REQUIRE((sorted = calloc(MEMBERS, sizeof(*sorted))) != NULL);
	REQUIRE(mcx_mikey_group_rand(sw_gmk, SW_GMK_ID, group_rand) == 0);
	REQUIRE(mcx_mikey_parse(sw_msg, MSG_LEN, &tmpl) == 0);
	tmpl.rand = group_rand;
	for (int i = 0; i < MEMBERS; i++) {
		member_uri(uri, sizeof(uri), i);
		view = tmpl;
		REQUIRE(mcx_mikey_guk_id(sw_gmk, SW_GMK_ID, uri, &view.csb_id) == 0);
		view.guk_id = view.csb_id;
		REQUIRE(mcx_mikey_media_keys_own(&view, sw_gmk, uri, &k) == 0);
		table[i].guk = k.guk_id;
		memcpy(table[i].ks, k.master_key, 16);
		memcpy(table[i].ks + 16, k.master_salt, 12);
	}
	memcpy(sorted, table, MEMBERS * sizeof(*table));
	qsort(sorted, MEMBERS, sizeof(*sorted), cmp_ks);
	for (int i = 1; i < MEMBERS; i++)
		dup_ks += memcmp(sorted[i - 1].ks, sorted[i].ks, KS_LEN) == 0;
	qsort(sorted, MEMBERS, sizeof(*sorted), cmp_guk);
	for (int i = 1; i < MEMBERS; i++)
		dup_guk += sorted[i - 1].guk == sorted[i].guk;
	CHECK_EQ_INT(dup_guk, 0);
	CHECK_EQ_INT(dup_ks, 0);            /* 10,000 distinct key/salt pairs */

	/* every receiver, from its own message and the sender's MKI, gets the sender's pair */
	for (int r = 0; r < MEMBERS; r++) {
		member_uri(uri, sizeof(uri), r);
		view = tmpl;
		view.csb_id = view.guk_id = table[r].guk;
		for (size_t s = 0; s < MCX_ARRAY_SIZE(senders); s++) {
			uint8_t mki[8];
			uint32_t g = SW_GMK_ID, u = table[senders[s]].guk;

			mki[0] = (uint8_t)(g >> 24), mki[1] = (uint8_t)(g >> 16), mki[2] = (uint8_t)(g >> 8);
			mki[3] = (uint8_t)g, mki[4] = (uint8_t)(u >> 24), mki[5] = (uint8_t)(u >> 16);
			mki[6] = (uint8_t)(u >> 8), mki[7] = (uint8_t)u;
			if (mcx_mikey_media_keys_peer(&view, sw_gmk, uri, mki, 8, &k) != 0 ||
			    memcmp(k.master_key, table[senders[s]].ks, 16) != 0 ||
			    memcmp(k.master_salt, table[senders[s]].ks + 16, 12) != 0)
				wrong++;
		}
	}
	CHECK_EQ_INT(wrong, 0);
	free(sorted);
}

/*
 * The same with real I_MESSAGEs: a KMS, 8 members with their own RSKs, one
 * message each built with the group RAND, parsed, verified and decapsulated by
 * its member; every member derives every other member's context from that
 * member's MKI and gets what that member sends with.  Then one message built
 * the old way (a fresh RAND per member): its member derives other contexts
 * than the senders use, which is why the GMS sends one RAND per key.
 */
TEST(group_real_messages)
{
	enum { N = 8 };
	uint8_t z[128], Z[257], ksak[32], kpak[65], gms_uid[32], gms_ssk[32], gms_pvt[65], gmk[16];
	uint8_t uid[N][32], rsk[N][257], back[16];
	char uris[N][64];
	struct mcx_buf *msgs[N + 1] = { NULL };
	struct mcx_mikey_i_message im[N + 1];
	struct mcx_mikey_srtp_keys own[N], k;
	struct mcx_mikey_gmk_input in;
	const char *kms = "kms.example.org", *gms = "sip:gms@example.org";
	uint32_t gmk_id = 0x0a5a5a5au, guk = 0;
	int agree = 0, differ = 0;

	REQUIRE(RAND_bytes(gmk, 16) == 1);
	REQUIRE(mcx_sakke_master_generate(sk, NULL, NULL, z, Z) == 0);
	REQUIRE(mcx_eccsi_kms_generate(ec, NULL, NULL, ksak, kpak) == 0);
	REQUIRE(mcx_uid_compute(gms, strlen(gms), kms, strlen(kms), 2592000, 0, 1490, gms_uid) == 0);
	REQUIRE(mcx_eccsi_issue(ec, ksak, kpak, gms_uid, 32, NULL, NULL, gms_ssk, gms_pvt) == 0);
	REQUIRE(mcx_mikey_group_rand(gmk, gmk_id, group_rand) == 0);
	for (int i = 0; i <= N; i++) {
		int mi = i < N ? i : 0;          /* message N: member 0 again, fresh RAND */

		if (i < N) {
			member_uri(uris[i], sizeof(uris[i]), 20000 + i);
			REQUIRE(mcx_uid_compute(uris[i], strlen(uris[i]), kms, strlen(kms), 2592000, 0, 1490, uid[i]) == 0);
			REQUIRE(mcx_sakke_rsk_issue(sk, z, uid[i], 32, rsk[i]) == 0);
		}
		REQUIRE((msgs[i] = mcx_buf_new(MCX_MIKEY_MSG_MAX)) != NULL);
		memset(&in, 0, sizeof(in));
		REQUIRE(mcx_mikey_guk_id(gmk, gmk_id, uris[mi], &guk) == 0);
		in.gmk_id = gmk_id;
		in.guk_id = guk;
		in.gmk = gmk;
		in.sender_uri = gms;
		in.sender_kms_uri = kms;
		in.member_uri = uris[mi];
		in.member_kms_uri = kms;
		in.member_uid = uid[mi];
		in.member_kms_z = Z;
		in.sender_uid = gms_uid;
		in.sender_kpak = kpak;
		in.sender_ssk = gms_ssk;
		in.sender_pvt = gms_pvt;
		in.ntp_time = 0xEC898DA812345678ULL;
		in.identities = (enum mcx_mikey_identities)(i % 3);   /* every mode: no effect on the keys */
		in.rand = i < N ? group_rand : NULL;
		REQUIRE(mcx_mikey_gmk_build(sk, ec, &in, NULL, NULL, msgs[i]) == 0);
		REQUIRE(mcx_mikey_parse(mcx_buf_ptr(msgs[i]), mcx_buf_len(msgs[i]), &im[i]) == 0);
		REQUIRE(mcx_mikey_verify_sender(ec, &im[i], kpak, gms_uid, gms) == 0);
		REQUIRE(mcx_mikey_decapsulate_member(sk, &im[i], Z, uid[mi], uris[mi], rsk[mi], back) == 0);
		CHECK_MEM(back, gmk, 16);
		if (i < N)
			REQUIRE(mcx_mikey_media_keys_own(&im[i], back, uris[i], &own[i]) == 0);
	}
	for (int r = 0; r < N; r++)
		for (int s = 0; s < N; s++) {
			REQUIRE(mcx_mikey_media_keys_peer(&im[r], gmk, uris[r], own[s].mki, 8, &k) == 0);
			agree += memcmp(&k, &own[s], sizeof(k)) == 0;
			if (s != r)
				CHECK(memcmp(own[s].master_key, own[r].master_key, 16) != 0);
		}
	CHECK_EQ_INT(agree, N * N);
	/* the per-member RAND of old: member 0 no longer agrees with the senders */
	for (int s = 0; s < N; s++) {
		REQUIRE(mcx_mikey_media_keys_peer(&im[N], gmk, uris[0], own[s].mki, 8, &k) == 0);
		differ += memcmp(k.master_key, own[s].master_key, 16) != 0;
	}
	CHECK_EQ_INT(differ, N);
	for (int i = 0; i <= N; i++)
		mcx_buf_free(msgs[i]);
}

/*
 * The limit of the scheme: a GUK-ID has 28 bits of salt, so among n members
 * two share one with probability about n^2 / 2^29 (about 17 % for 10,000; the
 * published GMK happens to give 10,000 distinct ones above).  Two members with
 * one GUK-ID send under the same key and salt, and only distinct SSRCs keep
 * their key streams apart (docs/mikey.md).
 */
TEST(guk_id_collision_limit)
{
	struct mcx_mikey_srtp_keys a, b;
	uint32_t ga = 0, gb = 0;
	char ua[64], ub[64];

	member_uri(ua, sizeof(ua), COLLIDE_A);
	member_uri(ub, sizeof(ub), COLLIDE_B);
	REQUIRE(mcx_mikey_guk_id(sw_gmk, SW_GMK_ID, ua, &ga) == 0);
	REQUIRE(mcx_mikey_guk_id(sw_gmk, SW_GMK_ID, ub, &gb) == 0);
	CHECK_EQ_INT(ga, COLLIDE_GUK);
	CHECK_EQ_INT(gb, COLLIDE_GUK);
	CHECK_OK(mcx_mikey_media_keys(1, sw_gmk, SW_GMK_ID, ga, 4, group_rand, 16, &a));
	CHECK_OK(mcx_mikey_media_keys(1, sw_gmk, SW_GMK_ID, gb, 4, group_rand, 16, &b));
	CHECK_MEM(&a, &b, sizeof(a));
}

int main(void)
{
	if (mcx_sakke_params_new(&sk) != 0 || mcx_eccsi_params_new(&ec) != 0 ||
	    unhex(SW_I_MESSAGE, sw_msg, sizeof(sw_msg)) != MSG_LEN || unhex(SW_PUBENCKEY, sw_Z, 257) != 257 ||
	    unhex(SW_ALICE_UID, sw_alice_uid, 32) != 32 || unhex(SW_ALICE_RSK, sw_alice_rsk, 257) != 257 ||
	    unhex(SW_GMK, sw_gmk, 16) != 16 || unhex(SW_GMK_RAND, sw_rand, 16) != 16) {
		printf("mikey-media: setup failed\nmikey-media: 0 passed, 1 failed\n");
		return 1;
	}
	RUN(prf_python_values);
	RUN(prf_streamwide_unit_test_values);
	RUN(prf_against_evp_mac);
	RUN(prf_bad_input);
	RUN(media_keys_published);
	RUN(media_keys_prf_from_header);
	RUN(group_of_10000);
	RUN(group_real_messages);
	RUN(guk_id_collision_limit);
	free(table);
	mcx_sakke_params_free(sk);
	mcx_eccsi_params_free(ec);
	return test_summary("mikey-media");
}
