/*
 * mcxvault — constant-time check of the SAKKE and ECCSI secret paths under
 * valgrind memcheck (the ctgrind technique).
 *
 * Every secret — the KMS master secrets z and KSAK, the RSK, the SSK, and the
 * random values the library draws (ECCSI's v and j) — is marked *undefined*
 * with VALGRIND_MAKE_MEM_UNDEFINED before it enters the library.  Memcheck then
 * reports every conditional jump and every memory address computed from it
 * ("Conditional jump or move depends on uninitialised value(s)", "Use of
 * uninitialised value of size N").  Outputs that are public (Z, KPAK, PVT, the
 * signature, the encapsulated data) or that the test compares (RSK, SSK, SSV)
 * are re-defined with VALGRIND_MAKE_MEM_DEFINED before they are compared.
 *
 * Each test fails when memcheck counted a new (unsuppressed) error while it
 * ran (VALGRIND_COUNT_ERRORS), so the failing path is named; the documented
 * public checks and libcrypto internals are in tests/ct/ct.supp, each with
 * its reason (docs/crypto.md, "Constant time").
 *
 * Run by tests/ct/test_ct.sh under valgrind; not a test_* program because it
 * means nothing outside valgrind (it refuses to run there).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <valgrind/memcheck.h>

#include "crypto/internal.h"
#include "mcx/eccsi.h"
#include "mcx/sakke.h"
#include "tests/crypto/helpers.h"
#include "tests/crypto/vectors.h"
#include "tests/test.h"

#define SECRET(p, n) VALGRIND_MAKE_MEM_UNDEFINED((p), (n))
#define PUBLIC(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))

/* The library's declassification points (crypto/internal.h): public checks. */
static void ct_public(const void *p, size_t len)
{
	(void)VALGRIND_MAKE_MEM_DEFINED(p, len);
}

/* dst becomes secret when any bit of src is. */
static void ct_taint(void *dst, size_t dlen, const void *src, size_t slen)
{
	uint8_t vbits[256];
	int secret = 1;   /* when in doubt (too long to inspect), secret */
	if (slen <= sizeof(vbits) && VALGRIND_GET_VBITS(src, vbits, slen) == 1) {
		secret = 0;
		for (size_t i = 0; i < slen; i++)
			secret |= vbits[i] != 0;
	}
	if (secret)
		(void)VALGRIND_MAKE_MEM_UNDEFINED(dst, dlen);
}

static struct mcx_sakke_params *sk;
static struct mcx_eccsi_params *ec;

/* memcheck errors seen before the current test */
static unsigned long errors_before;

static void ct_begin(void)
{
	errors_before = VALGRIND_COUNT_ERRORS;
}

/* No memcheck error (secret-dependent branch or address) since ct_begin(). */
#define CHECK_CT()                                                             \
	do {                                                                   \
		unsigned long ct_new_ = VALGRIND_COUNT_ERRORS - errors_before;  \
		if (ct_new_ != 0)                                              \
			printf("  %s:%d: %lu secret-dependent branch(es)/index(es), see the memcheck report above\n", \
			       __FILE__, __LINE__, ct_new_);                   \
		CHECK(ct_new_ == 0);                                           \
	} while (0)

/*
 * The random source: the values queued by the test (the RFC examples' v and
 * j), each handed to the library already marked secret — exactly what a fresh
 * RAND_priv_bytes output is.
 */
struct queue {
	const uint8_t *next[4];
	size_t len[4];
	size_t n, i;
};

static int queued_random(void *ctx, uint8_t *out, size_t len)
{
	struct queue *q = ctx;
	if (q->i >= q->n || q->len[q->i] != len)
		return -1;
	memcpy(out, q->next[q->i++], len);
	SECRET(out, len);
	return 0;
}

/* ---- SAKKE (RFC 6508 example: z_S, b, SSV, K_(b,S)) --------------------------- */

static uint8_t z[MCX_SAKKE_SCALAR_LEN], Z[MCX_SAKKE_POINT_LEN], b[MCX_SAKKE_ID_MAX];
static size_t b_len;
static uint8_t rsk_expect[MCX_SAKKE_POINT_LEN], ssv_ref[MCX_SAKKE_SSV_LEN];
static uint8_t encap[MCX_SAKKE_ENCAP_LEN];
/* a second KMS key the byte API has never met (its first use takes cold_R) */
static uint8_t Z2[MCX_SAKKE_POINT_LEN], encap2[MCX_SAKKE_ENCAP_LEN];

TEST(sakke_public_from_master)
{
	uint8_t zs[sizeof(z)], out[MCX_SAKKE_POINT_LEN];
	int rc;
	memcpy(zs, z, sizeof(zs));
	SECRET(zs, sizeof(zs));
	ct_begin();
	rc = mcx_sakke_public_from_master(sk, zs, out);
	CHECK_CT();
	PUBLIC(out, sizeof(out));
	CHECK_OK(rc);
	CHECK_MEM(out, Z, sizeof(out));
}

TEST(sakke_rsk_issue)
{
	uint8_t zs[sizeof(z)], rsk[MCX_SAKKE_POINT_LEN];
	int rc;
	memcpy(zs, z, sizeof(zs));
	SECRET(zs, sizeof(zs));
	ct_begin();
	rc = mcx_sakke_rsk_issue(sk, zs, b, b_len, rsk);
	CHECK_CT();
	PUBLIC(rsk, sizeof(rsk));
	CHECK_OK(rc);
	CHECK_MEM(rsk, rsk_expect, sizeof(rsk));
}

/* The SSV (and so r = HashToIntegerRange(SSV || b, q)) is the sender's secret. */
TEST(sakke_encapsulate)
{
	uint8_t ssv[MCX_SAKKE_SSV_LEN], out[MCX_SAKKE_ENCAP_LEN];
	int rc;
	memcpy(ssv, ssv_ref, sizeof(ssv));
	SECRET(ssv, sizeof(ssv));
	ct_begin();
	rc = mcx_sakke_encapsulate(sk, Z, b, b_len, ssv, out);
	CHECK_CT();
	PUBLIC(out, sizeof(out));
	CHECK_OK(rc);
	CHECK_MEM(out, encap, sizeof(out));
}

/* The same for a Z met for the first time: no comb, a signed window over [b]P + Z. */
TEST(sakke_encapsulate_cold)
{
	uint8_t ssv[MCX_SAKKE_SSV_LEN], out[MCX_SAKKE_ENCAP_LEN];
	int rc;
	memcpy(ssv, ssv_ref, sizeof(ssv));
	SECRET(ssv, sizeof(ssv));
	ct_begin();
	rc = mcx_sakke_encapsulate(sk, Z2, b, b_len, ssv, out);
	CHECK_CT();
	PUBLIC(out, sizeof(out));
	CHECK_OK(rc);
	CHECK_MEM(out, encap2, sizeof(out));
}

TEST(sakke_decapsulate)
{
	uint8_t rsk[MCX_SAKKE_POINT_LEN], ssv[MCX_SAKKE_SSV_LEN];
	int rc;
	memcpy(rsk, rsk_expect, sizeof(rsk));
	SECRET(rsk + 1, sizeof(rsk) - 1);   /* the 0x04 format octet is public */
	ct_begin();
	rc = mcx_sakke_decapsulate(sk, Z, b, b_len, rsk, encap, sizeof(encap), ssv);
	CHECK_CT();
	PUBLIC(ssv, sizeof(ssv));
	CHECK_OK(rc);
	CHECK_MEM(ssv, ssv_ref, sizeof(ssv));
}

/* A tampered H: the integrity check fails (a public outcome), still in constant time. */
TEST(sakke_decapsulate_reject)
{
	uint8_t rsk[MCX_SAKKE_POINT_LEN], ssv[MCX_SAKKE_SSV_LEN], bad[MCX_SAKKE_ENCAP_LEN];
	int rc;
	memcpy(rsk, rsk_expect, sizeof(rsk));
	memcpy(bad, encap, sizeof(bad));
	bad[sizeof(bad) - 1] ^= 0x01;
	SECRET(rsk + 1, sizeof(rsk) - 1);   /* the 0x04 format octet is public */
	ct_begin();
	rc = mcx_sakke_decapsulate(sk, Z, b, b_len, rsk, bad, sizeof(bad), ssv);
	CHECK_CT();
	PUBLIC(ssv, sizeof(ssv));
	CHECK_EQ_INT(rc, MCX_ERR_SIGNATURE_INVALID);
	for (size_t i = 0; i < sizeof(ssv); i++)
		CHECK(ssv[i] == 0);
}

/* The receiver context: RSK validation and its Miller lines, then decapsulation. */
TEST(sakke_receiver)
{
	uint8_t rsk[MCX_SAKKE_POINT_LEN], ssv[MCX_SAKKE_SSV_LEN];
	struct mcx_sakke_receiver *rx = NULL;
	int rc, rc2 = -1;
	memcpy(rsk, rsk_expect, sizeof(rsk));
	SECRET(rsk + 1, sizeof(rsk) - 1);   /* the 0x04 format octet is public */
	ct_begin();
	rc = mcx_sakke_receiver_new(sk, Z, b, b_len, rsk, &rx);
	if (rc == 0)
		rc2 = mcx_sakke_decapsulate_rx(rx, encap, sizeof(encap), ssv);
	CHECK_CT();
	mcx_sakke_receiver_free(rx);
	CHECK_OK(rc);
	CHECK_OK(rc2);
	PUBLIC(ssv, sizeof(ssv));
	CHECK_MEM(ssv, ssv_ref, sizeof(ssv));
}

/* ---- ECCSI (RFC 6507 example: KSAK = 0x12345, v, j — short scalars) ----------- */

static uint8_t ksak[32], kpak[65], id[64], v[32], j[32], ssk_ref[32], pvt_ref[65];
static uint8_t sig_ref[MCX_ECCSI_SIG_LEN], msg[32];
static size_t id_len, msg_len;

TEST(eccsi_kpak_from_ksak)
{
	uint8_t ks[32], out[65];
	int rc;
	memcpy(ks, ksak, sizeof(ks));
	SECRET(ks, sizeof(ks));
	ct_begin();
	rc = mcx_eccsi_kpak_from_ksak(ec, ks, out);
	CHECK_CT();
	PUBLIC(out, sizeof(out));
	CHECK_OK(rc);
	CHECK_MEM(out, kpak, sizeof(out));
}

/* KMS generation: KSAK drawn from the (secret) random source. */
TEST(eccsi_kms_generate)
{
	uint8_t ks[32], kp[65], kp2[65];
	struct queue q = { .next = { ksak }, .len = { 32 }, .n = 1 };
	int rc;
	ct_begin();
	rc = mcx_eccsi_kms_generate(ec, queued_random, &q, ks, kp);
	CHECK_CT();
	PUBLIC(ks, sizeof(ks));
	PUBLIC(kp, sizeof(kp));
	CHECK_OK(rc);
	CHECK_MEM(ks, ksak, sizeof(ks));
	CHECK_MEM(kp, kpak, sizeof(kp));
	CHECK_OK(mcx_eccsi_kpak_from_ksak(ec, ks, kp2));
	CHECK_MEM(kp2, kp, sizeof(kp));
}

/* KMS-side user key derivation: SSK = KSAK + HS v, PVT = [v]G, v secret. */
TEST(eccsi_issue)
{
	uint8_t ks[32], ssk[32], pvt[65];
	struct queue q = { .next = { v }, .len = { 32 }, .n = 1 };
	int rc;
	memcpy(ks, ksak, sizeof(ks));
	SECRET(ks, sizeof(ks));
	ct_begin();
	rc = mcx_eccsi_issue(ec, ks, kpak, id, id_len, queued_random, &q, ssk, pvt);
	CHECK_CT();
	PUBLIC(ssk, sizeof(ssk));
	PUBLIC(pvt, sizeof(pvt));
	CHECK_OK(rc);
	CHECK_MEM(ssk, ssk_ref, sizeof(ssk));
	CHECK_MEM(pvt, pvt_ref, sizeof(pvt));
}

/* Signing: SSK and j secret, the signature public. */
TEST(eccsi_sign)
{
	uint8_t ssk[32], sig[MCX_ECCSI_SIG_LEN];
	struct queue q = { .next = { j }, .len = { 32 }, .n = 1 };
	int rc;
	memcpy(ssk, ssk_ref, sizeof(ssk));
	SECRET(ssk, sizeof(ssk));
	ct_begin();
	rc = mcx_eccsi_sign(ec, kpak, id, id_len, ssk, pvt_ref, msg, msg_len, queued_random, &q,
			    sig);
	CHECK_CT();
	PUBLIC(sig, sizeof(sig));
	CHECK_OK(rc);
	CHECK_MEM(sig, sig_ref, sizeof(sig));
	CHECK_OK(mcx_eccsi_verify(ec, kpak, id, id_len, msg, msg_len, sig, sizeof(sig)));
}

/* Signing with library-drawn j (RAND_priv_bytes) and a full-size SSK. */
TEST(eccsi_sign_random)
{
	uint8_t ks[32], kp[65], ssk[32], pvt[65], sig[MCX_ECCSI_SIG_LEN];
	int rc;
	REQUIRE(mcx_eccsi_kms_generate(ec, NULL, NULL, ks, kp) == 0);
	REQUIRE(mcx_eccsi_issue(ec, ks, kp, id, id_len, NULL, NULL, ssk, pvt) == 0);
	SECRET(ssk, sizeof(ssk));
	ct_begin();
	rc = mcx_eccsi_sign(ec, kp, id, id_len, ssk, pvt, msg, msg_len, NULL, NULL, sig);
	CHECK_CT();
	PUBLIC(sig, sizeof(sig));
	CHECK_OK(rc);
	CHECK_OK(mcx_eccsi_verify(ec, kp, id, id_len, msg, msg_len, sig, sizeof(sig)));
}

static int load_vectors(void)
{
	if (hexdec(V6508_z_S, z, sizeof(z), sizeof(z)) == 0 ||
	    hexdec(V6508_SSV, ssv_ref, sizeof(ssv_ref), sizeof(ssv_ref)) == 0 ||
	    hexdec(V6507_KSAK, ksak, sizeof(ksak), sizeof(ksak)) == 0 ||
	    hexdec(V6507_KPAK, kpak, sizeof(kpak), sizeof(kpak)) == 0 ||
	    hexdec(V6507_v, v, sizeof(v), sizeof(v)) == 0 ||
	    hexdec(V6507_j, j, sizeof(j), sizeof(j)) == 0 ||
	    hexdec(V6507_SSK, ssk_ref, sizeof(ssk_ref), sizeof(ssk_ref)) == 0 ||
	    hexdec(V6507_PVT, pvt_ref, sizeof(pvt_ref), sizeof(pvt_ref)) == 0 ||
	    hexdec(V6507_Sig, sig_ref, sizeof(sig_ref), sizeof(sig_ref)) == 0)
		return -1;
	if ((b_len = hexdec(V6508_b, b, sizeof(b), 0)) == 0 ||
	    (id_len = hexdec(V6507_ID, id, sizeof(id), 0)) == 0 ||
	    (msg_len = hexdec(V6507_M, msg, sizeof(msg), 0)) == 0)
		return -1;
	/* Z, the RSK and the encapsulated data: computed with nothing marked. */
	if (mcx_sakke_public_from_master(sk, z, Z) != 0 ||
	    mcx_sakke_rsk_issue(sk, z, b, b_len, rsk_expect) != 0 ||
	    mcx_sakke_encapsulate(sk, Z, b, b_len, ssv_ref, encap) != 0)
		return -1;
	{
		/* Z2 through a context only, so the byte API has not seen it */
		uint8_t z2[MCX_SAKKE_SCALAR_LEN];
		struct mcx_sakke_public *pub = NULL;
		int bad;
		memcpy(z2, z, sizeof(z2));
		z2[sizeof(z2) - 1] ^= 1;
		bad = mcx_sakke_public_from_master(sk, z2, Z2) != 0 || mcx_sakke_public_new(sk, Z2, &pub) != 0 ||
		      mcx_sakke_encapsulate_pub(pub, b, b_len, ssv_ref, encap2) != 0;
		mcx_sakke_public_free(pub);
		if (bad)
			return -1;
	}
	return 0;
}

/*
 * --canary: a deliberate secret-dependent branch and table index, so that
 * test_ct.sh can show memcheck does catch them here (the run must fail).
 */
static int canary(void)
{
	static const uint8_t table[256] = { 1 };
	uint8_t secret[2] = { 0x5a, 0xa5 };
	volatile unsigned sum = 0;
	SECRET(secret, sizeof(secret));
	if (secret[0] & 1)
		sum += 1;
	sum += table[secret[1]];
	printf("canary: %lu memcheck error(s)\n", (unsigned long)VALGRIND_COUNT_ERRORS);
	return (int)(sum & 0);
}

int main(int argc, char **argv)
{
	if (!RUNNING_ON_VALGRIND) {
		printf("ct_secrets: run me under valgrind (tests/ct/test_ct.sh)\n");
		return 2;
	}
	if (argc == 2 && strcmp(argv[1], "--canary") == 0)
		return canary();
	mcx_ct_public_hook = ct_public;
	mcx_ct_taint_hook = ct_taint;
	if (mcx_sakke_params_new(&sk) != 0 || mcx_eccsi_params_new(&ec) != 0 ||
	    load_vectors() != 0) {
		printf("FAIL - set-up (parameters or RFC vectors)\n");
		printf("ct: 0 passed, 1 failed\n");
		return 1;
	}
	RUN(sakke_public_from_master);
	RUN(sakke_rsk_issue);
	RUN(sakke_encapsulate);
	RUN(sakke_encapsulate_cold);
	RUN(sakke_decapsulate);
	RUN(sakke_decapsulate_reject);
	RUN(sakke_receiver);
	RUN(eccsi_kpak_from_ksak);
	RUN(eccsi_kms_generate);
	RUN(eccsi_issue);
	RUN(eccsi_sign);
	RUN(eccsi_sign_random);
	mcx_sakke_params_free(sk);
	mcx_eccsi_params_free(ec);
	return test_summary("ct");
}
