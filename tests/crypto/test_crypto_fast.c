/*
 * mcxvault crypto tests — the fast paths of SAKKE (docs/crypto.md, "Speed"):
 * the two 1024-bit Montgomery multiplications (portable C and mulx/adcx/adox)
 * against the generic CIOS code and each other, with edge values; RFC 6508
 * Appendix A through every combination of multiplication (portable, ADX) and
 * inversion (blinded binary inversion, Fermat); the binary inversion against
 * BN_mod_inverse; the public-key and receiver
 * contexts against the byte API; the Z context cache in params under threads.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "crypto/internal.h"
#include "crypto/mont.h"
#include "crypto/mont16.h"
#include "mcx/eccsi.h"
#include "mcx/sakke.h"
#include "tests/crypto/helpers.h"
#include "tests/crypto/vectors.h"
#include "tests/test.h"

static struct mcx_sakke_params *sk;

static void rand_or_die(void *p, size_t n)
{
	if (RAND_bytes(p, (int)n) != 1) {
		printf("RAND_bytes failed\n");
		exit(1);
	}
}

/* ---- mont16 ------------------------------------------------------------------- */

static int have_adx(void)
{
	int prev = mcx_mont16_adx, ok = mcx_mont16_select(1) == 0;
	mcx_mont16_adx = prev;
	return ok;
}

/* a = one of 0, 1, 2, m-1, m-2, R mod m (kind 0..5), else random below m. */
static void pick(const struct mcx_mont *c, uint64_t a[16], int kind)
{
	uint64_t one[16] = { 1 }, two[16] = { 2 }, t[16];

	switch (kind) {
	case 0:
		memset(a, 0, 128);
		return;
	case 1:
		memcpy(a, one, 128);
		return;
	case 2:
		memcpy(a, two, 128);
		return;
	case 3:
		(void)mcx_limbs_sub(a, c->m, one, 16);
		return;
	case 4:
		(void)mcx_limbs_sub(a, c->m, two, 16);
		return;
	case 5:
		memcpy(a, c->one, 128);
		return;
	default:
		break;
	}
	do {
		rand_or_die(t, sizeof(t));
		if (kind % 5 == 0)            /* long runs of ones: carries through many limbs */
			for (int i = 4; i < 15; i++)
				t[i] = ~(uint64_t)0;
		if (c->m[15] != ~(uint64_t)0)
			t[15] %= c->m[15] + 1;        /* <= the top limb of m */
	} while (!mcx_ct_limbs_lt(t, c->m, 16));
	memcpy(a, t, 128);
}

/* Both multiplications and squarings equal the generic CIOS code, aliasing too. */
static void check_modulus(const char *hex)
{
	uint8_t buf[128];
	struct mcx_mont c;
	size_t bad = 0;
	int adx = have_adx();

	REQUIRE(hexdec(hex, buf, sizeof(buf), 128) == 128);
	REQUIRE(mcx_mont_init(&c, buf, 128) == 0 && c.n == 16);
	for (int k = 0; k < 4000; k++) {
		uint64_t a[16], b[16], ref[16], sref[16], r[16], s[16];
		pick(&c, a, k < 36 ? k / 6 : 6 + k);
		pick(&c, b, k < 36 ? k % 6 : 7 + 3 * k);
		mcx_mont_mul_core(ref, a, b, c.m, c.n0, 16);
		mcx_mont_mul_core(sref, a, a, c.m, c.n0, 16);
		mcx_mont16_mul_portable(r, a, b, c.m, c.n0);
		mcx_mont16_sqr_portable(s, a, c.m, c.n0);
		bad += memcmp(r, ref, 128) != 0 || memcmp(s, sref, 128) != 0;
		memcpy(r, a, 128);
		mcx_mont16_mul_portable(r, r, b, c.m, c.n0);
		memcpy(s, a, 128);
		mcx_mont16_sqr_portable(s, s, c.m, c.n0);
		bad += memcmp(r, ref, 128) != 0 || memcmp(s, sref, 128) != 0;
#if MCX_MONT16_HAVE_ADX
		if (adx) {
			mcx_mont16_mul_adx(r, a, b, c.m, c.n0);
			mcx_mont16_sqr_adx(s, a, c.m, c.n0);
			bad += memcmp(r, ref, 128) != 0 || memcmp(s, sref, 128) != 0;
			memcpy(r, b, 128);
			mcx_mont16_mul_adx(r, a, r, c.m, c.n0);
			memcpy(s, a, 128);
			mcx_mont16_sqr_adx(s, s, c.m, c.n0);
			bad += memcmp(r, ref, 128) != 0 || memcmp(s, sref, 128) != 0;
			memcpy(r, a, 128);                    /* r == a */
			mcx_mont16_mul_adx(r, r, b, c.m, c.n0);
			memcpy(s, a, 128);                    /* r == a == b */
			mcx_mont16_mul_adx(s, s, s, c.m, c.n0);
			bad += memcmp(r, ref, 128) != 0 || memcmp(s, sref, 128) != 0;
		}
#endif
		bad += !mcx_ct_limbs_lt(ref, c.m, 16);
	}
	if (!adx)
		printf("  (no BMI2/ADX on this CPU: portable code only)\n");
	CHECK_EQ_INT(bad, 0);
}

TEST(mont16_mul_sqr_mod_p)
{
	check_modulus(V6508_p);
}

TEST(mont16_mul_sqr_mod_q)
{
	check_modulus(V6508_q);
}

/*
 * Moduli that push the carries: 2^1024 - 1, 2^1024 - 2^512 - 1, long runs of
 * ones and random odd ones with the top bit set (every kernel row and the
 * final subtraction at their bounds, results near m).
 */
TEST(mont16_mul_sqr_other_moduli)
{
	char hex[257];

	for (int k = 0; k < 6; k++) {
		uint8_t mb[128];
		rand_or_die(mb, sizeof(mb));
		if (k == 0)
			memset(mb, 0xff, sizeof(mb));
		if (k == 1) {
			memset(mb, 0xff, sizeof(mb));
			mb[63] = 0xfe;                    /* 2^1024 - 2^512 - 1 */
		}
		if (k == 2)
			memset(mb + 8, 0xff, 100);
		if (k == 3)
			memset(mb, 0x80, 1), memset(mb + 1, 0, 120);
		mb[0] |= 0x80;
		mb[127] |= 1;
		for (int i = 0; i < 128; i++)
			sprintf(hex + 2 * i, "%02x", mb[i]);
		check_modulus(hex);
	}
}

/*
 * The variable-time inversion behind the blinded one (crypto/mont.c,
 * mcx_mont_inv_public): r = a^-1 R for p, q, an ECCSI-sized 4-limb modulus
 * and random odd 1024-bit ones, against OpenSSL's BN_mod_inverse — edge
 * values, powers of two and values with runs of zero limbs (the shift paths
 * of 63 bits), random values; a = 0 and a sharing a factor with m give -1.
 */
static size_t inv_check(const struct mcx_mont *c, const uint64_t a[16], BN_CTX *bctx)
{
	uint8_t buf[128], want[128], got[128];
	size_t len = 8 * c->n;
	uint64_t r[16] = { 0 }, plain[16] = { 0 }, one[16] = { 1 };
	BIGNUM *A = BN_new(), *M = BN_new();
	size_t bad = 1;

	if (A == NULL || M == NULL)
		goto out;
	mcx_limbs_to_bytes(buf, len, a, c->n);
	BN_bin2bn(buf, (int)len, A);
	mcx_limbs_to_bytes(buf, len, c->m, c->n);
	BN_bin2bn(buf, (int)len, M);
	if (BN_mod_inverse(A, A, M, bctx) == NULL) {
		ERR_clear_error();
		bad = mcx_mont_inv_public(c, r, a) != -1;
		goto out;
	}
	if (mcx_mont_inv_public(c, r, a) != 0)
		goto out;
	mcx_mont_mul(c, plain, r, one);          /* a^-1 R -> a^-1 */
	mcx_limbs_to_bytes(got, len, plain, c->n);
	BN_bn2binpad(A, want, (int)len);
	bad = memcmp(got, want, len) != 0;
out:
	BN_free(A);
	BN_free(M);
	return bad;
}

static size_t inv_checks(const struct mcx_mont *c, BN_CTX *bctx, int n_random)
{
	size_t bad = 0, n = c->n;
	uint64_t a[16], t[16];

	for (int kind = 0; kind < 6; kind++) {   /* 0, 1, 2, m - 1, m - 2, R mod m */
		memset(a, 0, sizeof(a));
		if (kind == 1 || kind == 2)
			a[0] = (uint64_t)kind;
		if (kind == 3 || kind == 4) {
			uint64_t d[16] = { (uint64_t)kind - 2 };
			(void)mcx_limbs_sub(a, c->m, d, n);
		}
		if (kind == 5)
			memcpy(a, c->one, n * 8);
		bad += inv_check(c, a, bctx);
	}
	for (unsigned bit = 0; bit + 1 < c->bits; bit += 37) {   /* 2^bit: long zero runs */
		memset(a, 0, sizeof(a));
		a[bit / 64] = (uint64_t)1 << (bit % 64);
		bad += inv_check(c, a, bctx);
	}
	for (int k = 0; k < n_random; k++) {
		rand_or_die(t, sizeof(t));
		if (k % 3 == 1)                          /* whole zero limbs at the bottom */
			t[0] = t[1] = 0;
		if (k % 3 == 2 && n > 4)
			t[0] = t[2] = t[5] = 0, t[1] = 1;
		t[n - 1] %= c->m[n - 1];
		memcpy(a, t, sizeof(a));
		bad += inv_check(c, a, bctx);
	}
	return bad;
}

TEST(mont_inv_public_matches_bn)
{
	uint8_t buf[128];
	struct mcx_mont c;
	BN_CTX *bctx = BN_CTX_new();
	size_t bad = 0;

	REQUIRE(bctx != NULL);
	REQUIRE(hexdec(V6508_p, buf, sizeof(buf), 128) == 128 && mcx_mont_init(&c, buf, 128) == 0);
	bad += inv_checks(&c, bctx, 300);
	REQUIRE(hexdec(V6508_q, buf, sizeof(buf), 128) == 128 && mcx_mont_init(&c, buf, 128) == 0);
	bad += inv_checks(&c, bctx, 300);
	/* the NIST P-256 group order (ECCSI's q), 4 limbs */
	REQUIRE(hexdec("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551",
		       buf, sizeof(buf), 32) == 32 && mcx_mont_init(&c, buf, 32) == 0);
	bad += inv_checks(&c, bctx, 300);
	for (int k = 0; k < 4; k++) {            /* random odd moduli: composite, so some a share a factor */
		rand_or_die(buf, sizeof(buf));
		buf[0] |= 0x80;
		buf[127] |= 1;
		REQUIRE(mcx_mont_init(&c, buf, 128) == 0);
		bad += inv_checks(&c, bctx, 100);
		{
			uint64_t a[16] = { 3 };          /* no inverse when 3 | m: -1 (checked against BN) */
			bad += inv_check(&c, a, bctx);
		}
	}
	/* a small composite modulus: a = 321 shares 3 107 with it, -1 */
	buf[0] = 0x03;
	buf[1] = 0xc3;                            /* 963 = 3^2 107, one limb */
	REQUIRE(mcx_mont_init(&c, buf, 2) == 0);
	{
		uint64_t a[16] = { 321 }, r[16];  /* 3 107 */
		CHECK_EQ_INT(mcx_mont_inv_public(&c, r, a), -1);
		bad += inv_check(&c, a, bctx);
	}
	BN_CTX_free(bctx);
	CHECK_EQ_INT(bad, 0);
}

/* Known products: (p-1)^2 = 1, 1 * 1 = 1 (Montgomery form), x * 0 = 0. */
TEST(mont16_edge_products)
{
	uint8_t buf[128];
	struct mcx_mont c;
	uint64_t m1[16], r[16], one[16] = { 1 }, zero[16] = { 0 }, x[16];

	REQUIRE(hexdec(V6508_p, buf, sizeof(buf), 128) == 128);
	REQUIRE(mcx_mont_init(&c, buf, 128) == 0);
	for (int impl = 0; impl < 2; impl++) {
		if (mcx_mont16_select(impl) != 0)
			continue;
		/* -R * -R / R = R: (p-1 in Montgomery form is -1) */
		(void)mcx_limbs_sub(m1, c.m, c.one, 16);
		mcx_mont16_sqr(r, m1, c.m, c.n0);
		CHECK_MEM(r, c.one, 128);
		mcx_mont16_mul(r, m1, c.one, c.m, c.n0);
		CHECK_MEM(r, m1, 128);
		pick(&c, x, 99);
		mcx_mont16_mul(r, x, zero, c.m, c.n0);
		CHECK_MEM(r, zero, 128);
		/* to and from Montgomery form */
		mcx_mont16_mul(r, x, c.rr, c.m, c.n0);
		mcx_mont16_mul(r, r, one, c.m, c.n0);
		CHECK_MEM(r, x, 128);
		/* inversion: x * x^-1 = 1 */
		mcx_mont16_inv(&c, r, x);
		mcx_mont16_mul(r, r, x, c.m, c.n0);
		CHECK_MEM(r, c.one, 128);
	}
	mcx_mont16_init();
	CHECK_OK(mcx_mont16_select(have_adx()));
}

/* ---- RFC 6508 Appendix A under every implementation ----------------------------- */

static void rfc6508_all(void)
{
	uint8_t z[128], Z[257], expZ[257], b[64], rsk[257], exprsk[257], ssv[16], sed[273];
	uint8_t out[273], sv[16], P[257], g[128], w[128], expw[128];
	struct mcx_sakke_public *pub = NULL;
	struct mcx_sakke_receiver *rx = NULL;
	size_t bl = hexdec(V6508_b, b, sizeof(b), 0);

	REQUIRE(bl == 26);
	REQUIRE(hexdec(V6508_z_S, z, sizeof(z), 128) == 128);
	REQUIRE(hexdec(V6508_Z_S, expZ, sizeof(expZ), 257) == 257);
	REQUIRE(hexdec(V6508_K_bS, exprsk, sizeof(exprsk), 257) == 257);
	REQUIRE(hexdec(V6508_SSV, ssv, sizeof(ssv), 16) == 16);
	REQUIRE(hexdec(V6508_SED, sed, sizeof(sed), 273) == 273);
	REQUIRE(hexdec(V6508_P, P, sizeof(P), 257) == 257);
	REQUIRE(hexdec(V6508_g, g, sizeof(g), 128) == 128);
	REQUIRE(hexdec(V6508_w, expw, sizeof(expw), 128) == 128);
	CHECK_OK(mcx_sakke_public_from_master(sk, z, Z));
	CHECK_MEM(Z, expZ, 257);
	CHECK_OK(mcx_sakke_rsk_issue(sk, z, b, bl, rsk));
	CHECK_MEM(rsk, exprsk, 257);
	CHECK_OK(mcx_sakke_rsk_validate(sk, Z, b, bl, rsk));
	CHECK_OK(mcx_sakke_pairing(sk, P, P, w));
	CHECK_MEM(w, g, 128);
	CHECK_OK(mcx_sakke_pairing(sk, sed, rsk, w));
	CHECK_MEM(w, expw, 128);
	CHECK_OK(mcx_sakke_encapsulate(sk, Z, b, bl, ssv, out));
	CHECK_MEM(out, sed, 273);
	CHECK_OK(mcx_sakke_decapsulate(sk, Z, b, bl, rsk, sed, sizeof(sed), sv));
	CHECK_MEM(sv, ssv, 16);
	REQUIRE(mcx_sakke_public_new(sk, Z, &pub) == 0);
	memset(out, 0, sizeof(out));
	CHECK_OK(mcx_sakke_encapsulate_pub(pub, b, bl, ssv, out));
	CHECK_MEM(out, sed, 273);
	memset(sv, 0, sizeof(sv));
	CHECK_OK(mcx_sakke_decapsulate_pub(pub, b, bl, rsk, sed, sizeof(sed), sv));
	CHECK_MEM(sv, ssv, 16);
	mcx_sakke_public_free(pub);
	REQUIRE(mcx_sakke_receiver_new(sk, Z, b, bl, rsk, &rx) == 0);
	memset(sv, 0, sizeof(sv));
	CHECK_OK(mcx_sakke_decapsulate_rx(rx, sed, sizeof(sed), sv));
	CHECK_MEM(sv, ssv, 16);
	mcx_sakke_receiver_free(rx);
}

TEST(rfc6508_portable_blinded)
{
	REQUIRE(mcx_mont16_select(0) == 0);
	mcx_sakke_inv_fermat = 0;
	rfc6508_all();
}

TEST(rfc6508_portable_fermat)
{
	REQUIRE(mcx_mont16_select(0) == 0);
	mcx_sakke_inv_fermat = 1;
	rfc6508_all();
	mcx_sakke_inv_fermat = 0;
}

TEST(rfc6508_adx_blinded)
{
	if (mcx_mont16_select(1) != 0)
		SKIP("no BMI2/ADX on this CPU");
	mcx_sakke_inv_fermat = 0;
	rfc6508_all();
}

TEST(rfc6508_adx_fermat)
{
	if (mcx_mont16_select(1) != 0)
		SKIP("no BMI2/ADX on this CPU");
	mcx_sakke_inv_fermat = 1;
	rfc6508_all();
	mcx_sakke_inv_fermat = 0;
}

/* Random keys: the portable and the ADX code give identical bytes. */
TEST(portable_equals_adx_random)
{
	if (!have_adx())
		SKIP("no BMI2/ADX on this CPU");
	for (int i = 0; i < 4; i++) {
		uint8_t z[128], Z[2][257], id[32], rsk[2][257], ssv[16], enc[2][273], sv[16];
		REQUIRE(mcx_sakke_master_generate(sk, NULL, NULL, z, Z[0]) == 0);
		rand_or_die(id, sizeof(id));
		rand_or_die(ssv, sizeof(ssv));
		for (int impl = 0; impl < 2; impl++) {
			REQUIRE(mcx_mont16_select(impl) == 0);
			CHECK_OK(mcx_sakke_public_from_master(sk, z, Z[impl]));
			CHECK_OK(mcx_sakke_rsk_issue(sk, z, id, sizeof(id), rsk[impl]));
			CHECK_OK(mcx_sakke_encapsulate(sk, Z[impl], id, sizeof(id), ssv, enc[impl]));
			CHECK_OK(mcx_sakke_decapsulate(sk, Z[impl], id, sizeof(id), rsk[impl], enc[impl],
						       sizeof(enc[impl]), sv));
			CHECK_MEM(sv, ssv, 16);
		}
		CHECK_MEM(Z[0], Z[1], 257);
		CHECK_MEM(rsk[0], rsk[1], 257);
		CHECK_MEM(enc[0], enc[1], 273);
	}
	CHECK_OK(mcx_mont16_select(1));
}

/* ---- contexts ------------------------------------------------------------------- */

TEST(contexts_match_byte_api_and_reject)
{
	uint8_t z[128], Z[257], Z2[257], id[40], rsk[257], ssv[16], a[273], c[273], sv[16];
	struct mcx_sakke_public *pub = NULL, *pub2 = NULL;
	struct mcx_sakke_receiver *rx = NULL;

	REQUIRE(mcx_sakke_master_generate(sk, NULL, NULL, z, Z) == 0);
	REQUIRE(mcx_sakke_master_generate(sk, NULL, NULL, z + 0, Z2) == 0);   /* z now Z2's */
	rand_or_die(id, sizeof(id));
	REQUIRE(mcx_sakke_rsk_issue(sk, z, id, sizeof(id), rsk) == 0);   /* RSK under Z2 */
	REQUIRE(mcx_sakke_public_new(sk, Z2, &pub) == 0);
	for (int i = 0; i < 3; i++) {
		rand_or_die(ssv, sizeof(ssv));
		CHECK_OK(mcx_sakke_encapsulate(sk, Z2, id, sizeof(id), ssv, a));
		CHECK_OK(mcx_sakke_encapsulate_pub(pub, id, sizeof(id), ssv, c));
		CHECK_MEM(a, c, 273);
	}
	/* the receiver validates its RSK: wrong Z, wrong identity */
	CHECK_EQ_INT(mcx_sakke_receiver_new(sk, Z, id, sizeof(id), rsk, &rx), MCX_ERR_SIGNATURE_INVALID);
	CHECK(rx == NULL);
	CHECK_EQ_INT(mcx_sakke_receiver_new(sk, Z2, id, sizeof(id) - 1, rsk, &rx),
		     MCX_ERR_SIGNATURE_INVALID);
	rsk[100] ^= 1;   /* off the curve */
	CHECK_EQ_INT(mcx_sakke_receiver_new(sk, Z2, id, sizeof(id), rsk, &rx), MCX_ERR_INVALID_ARGUMENT);
	rsk[100] ^= 1;
	Z2[0] = 0x02;
	CHECK_EQ_INT(mcx_sakke_receiver_new(sk, Z2, id, sizeof(id), rsk, &rx), MCX_ERR_INVALID_ARGUMENT);
	CHECK_EQ_INT(mcx_sakke_public_new(sk, Z2, &pub2), MCX_ERR_INVALID_ARGUMENT);
	CHECK(pub2 == NULL);
	CHECK_EQ_INT(mcx_sakke_receiver_new(sk, Z2, NULL, 0, rsk, &rx), MCX_ERR_INVALID_ARGUMENT);
	Z2[0] = 0x04;
	REQUIRE(mcx_sakke_receiver_new(sk, Z2, id, sizeof(id), rsk, &rx) == 0);
	CHECK_OK(mcx_sakke_decapsulate_rx(rx, a, sizeof(a), sv));
	CHECK_MEM(sv, ssv, 16);
	CHECK_EQ_INT(mcx_sakke_decapsulate_rx(rx, a, sizeof(a) - 1, sv), MCX_ERR_INVALID_ARGUMENT);
	/* one-bit changes of R and H are rejected, and the SSV output is zeroed */
	for (int i = 0; i < 24; i++) {
		uint8_t bad[273], zero[16] = { 0 };
		unsigned bit;
		rand_or_die(&bit, sizeof(bit));
		bit %= 8 * 272;
		bit += 8;                    /* keep the 0x04 prefix */
		memcpy(bad, a, sizeof(bad));
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		memset(sv, 0xAA, sizeof(sv));
		CHECK_EQ_INT(mcx_sakke_decapsulate_rx(rx, bad, sizeof(bad), sv), MCX_ERR_SIGNATURE_INVALID);
		CHECK_MEM(sv, zero, 16);
		CHECK_EQ_INT(mcx_sakke_decapsulate_pub(pub, id, sizeof(id), rsk, bad, sizeof(bad), sv),
			     MCX_ERR_SIGNATURE_INVALID);
	}
	mcx_sakke_receiver_free(rx);
	mcx_sakke_public_free(pub);
	mcx_sakke_receiver_free(NULL);
	mcx_sakke_public_free(NULL);
}

/* ---- the Z context cache in params ------------------------------------------------- */

struct cache_job {
	const uint8_t *Z[2], *rsk[2];
	const uint8_t *id;
	int failures;
};

static void *cache_worker(void *arg)
{
	struct cache_job *j = arg;
	for (int i = 0; i < 6; i++) {
		uint8_t ssv[16], enc[273], sv[16];
		int k = i % 2;   /* two keys per thread, six in all */
		rand_or_die(ssv, sizeof(ssv));
		if (mcx_sakke_encapsulate(sk, j->Z[k], j->id, 32, ssv, enc) != 0 ||
		    mcx_sakke_decapsulate(sk, j->Z[k], j->id, 32, j->rsk[k], enc, sizeof(enc), sv) != 0 ||
		    memcmp(sv, ssv, 16) != 0)
			j->failures++;
	}
	return NULL;
}

/*
 * Six KMS keys (more than the four cached) over four threads: contexts are
 * built, hit, moved to the front and evicted while other threads use them.
 */
TEST(z_cache_threads)
{
	uint8_t z[6][128], Z[6][257], rsk[6][257], id[32];
	struct cache_job job[4];
	pthread_t t[4];

	rand_or_die(id, sizeof(id));
	for (int k = 0; k < 6; k++) {
		REQUIRE(mcx_sakke_master_generate(sk, NULL, NULL, z[k], Z[k]) == 0);
		REQUIRE(mcx_sakke_rsk_issue(sk, z[k], id, sizeof(id), rsk[k]) == 0);
	}
	for (int i = 0; i < 4; i++) {
		int a = i, b = (i + 3) % 6;
		job[i] = (struct cache_job){ { Z[a], Z[b] }, { rsk[a], rsk[b] }, id, 0 };
		REQUIRE(pthread_create(&t[i], NULL, cache_worker, &job[i]) == 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ_INT(job[i].failures, 0);
	}
}

/*
 * The byte API's first encapsulation to a Z (no comb: cold_R, a signed 5-bit
 * window over [b]P + Z) against the context's comb pass, for identities of
 * 1..128 octets (b reaching every table of P's comb) and random SSVs (r even
 * and odd), on the multiplication selected; then the second use (the comb is
 * built).
 */
TEST(cold_encapsulate_matches_context)
{
	uint8_t z[128], Z[257], id[128], ssv[16], a[273], c[273], a2[273];
	struct mcx_sakke_public *pub = NULL;

	for (int i = 0; i < 12; i++) {
		size_t len = i < 4 ? (size_t)(1 + i) : i < 8 ? 32 : 128 - (size_t)(i - 8) * 7;
		REQUIRE(mcx_sakke_master_generate(sk, NULL, NULL, z, Z) == 0);
		REQUIRE(mcx_sakke_public_new(sk, Z, &pub) == 0);
		rand_or_die(id, len);
		rand_or_die(ssv, sizeof(ssv));
		CHECK_OK(mcx_sakke_encapsulate(sk, Z, id, len, ssv, a));     /* cold */
		CHECK_OK(mcx_sakke_encapsulate_pub(pub, id, len, ssv, c));
		CHECK_MEM(a, c, 273);
		CHECK_OK(mcx_sakke_encapsulate(sk, Z, id, len, ssv, a2));    /* builds Z's comb */
		CHECK_MEM(a2, c, 273);
		mcx_sakke_public_free(pub);
		pub = NULL;
	}
	OPENSSL_cleanse(z, sizeof(z));
}

/* ECCSI: the blinded inversion and the Fermat fallback give the same signature for the same j. */
TEST(eccsi_sign_blinded_equals_fermat)
{
	struct mcx_eccsi_params *ec = NULL;
	uint8_t ksak[32], kpak[65], id[32], ssk[32], pvt[65], msg[77], s1[129], s2[129], jb[32];
	char jhex[65];
	const char *seq[1] = { jhex };

	REQUIRE(mcx_eccsi_params_new(&ec) == 0);
	for (int i = 0; i < 20; i++) {
		struct fixed_rng f1 = { seq, 1, 0 }, f2 = { seq, 1, 0 };
		rand_or_die(id, sizeof(id));
		rand_or_die(msg, sizeof(msg));
		rand_or_die(jb, sizeof(jb));
		jb[0] &= 0x7f;                                          /* j < q */
		for (int k = 0; k < 32; k++)
			snprintf(jhex + 2 * k, 3, "%02x", jb[k]);
		REQUIRE(mcx_eccsi_kms_generate(ec, NULL, NULL, ksak, kpak) == 0);
		REQUIRE(mcx_eccsi_issue(ec, ksak, kpak, id, sizeof(id), NULL, NULL, ssk, pvt) == 0);
		mcx_eccsi_inv_fermat = 0;
		CHECK_OK(mcx_eccsi_sign(ec, kpak, id, sizeof(id), ssk, pvt, msg, sizeof(msg), fixed_rng_fn, &f1, s1));
		mcx_eccsi_inv_fermat = 1;
		CHECK_OK(mcx_eccsi_sign(ec, kpak, id, sizeof(id), ssk, pvt, msg, sizeof(msg), fixed_rng_fn, &f2, s2));
		mcx_eccsi_inv_fermat = 0;
		CHECK_MEM(s1, s2, 129);
		CHECK_OK(mcx_eccsi_verify(ec, kpak, id, sizeof(id), msg, sizeof(msg), s1, sizeof(s1)));
	}
	OPENSSL_cleanse(ksak, sizeof(ksak));
	OPENSSL_cleanse(ssk, sizeof(ssk));
	mcx_eccsi_params_free(ec);
}

int main(void)
{
	if (mcx_sakke_params_new(&sk) != 0) {
		printf("mcx_sakke_params_new failed\n");
		return 1;
	}
	RUN(mont16_mul_sqr_mod_p);
	RUN(mont16_mul_sqr_mod_q);
	RUN(mont16_edge_products);
	RUN(mont16_mul_sqr_other_moduli);
	RUN(mont_inv_public_matches_bn);
	RUN(rfc6508_portable_blinded);
	RUN(rfc6508_portable_fermat);
	RUN(rfc6508_adx_blinded);
	RUN(rfc6508_adx_fermat);
	RUN(portable_equals_adx_random);
	(void)mcx_mont16_select(have_adx());
	RUN(contexts_match_byte_api_and_reject);
	RUN(z_cache_threads);
	RUN(eccsi_sign_blinded_equals_fermat);
	RUN(cold_encapsulate_matches_context);
	if (mcx_mont16_select(0) == 0)
		RUN(cold_encapsulate_matches_context);   /* the same on the portable code */
	(void)mcx_mont16_select(have_adx());
	mcx_sakke_params_free(sk);
	return test_summary("crypto-fast");
}
