/*
 * mcxvault crypto — 1024-bit Montgomery multiplication and squaring, portable
 * and x86-64 BMI2/ADX.  See mont16.h.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/mont.h"
#include "crypto/mont16.h"

#define N16 16

int mcx_mont16_adx;

/*
 * r = t[16..31] + c 2^1024 - m if that is >= 0, else t[16..31]; the input is
 * < 2m.  Masked, no branch.
 */
static inline void final_sub(uint64_t r[N16], const uint64_t t[2 * N16], uint64_t c,
			     const uint64_t m[N16])
{
	uint64_t s[N16], borrow = 0, keep;
	for (int i = 0; i < N16; i++) {
		mcx_u128 d = (mcx_u128)t[N16 + i] - m[i] - borrow;
		s[i] = (uint64_t)d;
		borrow = (uint64_t)(d >> 64) & 1;
	}
	keep = 0 - (borrow & (c ^ 1));
	for (int i = 0; i < N16; i++)
		r[i] = (t[N16 + i] & keep) | (s[i] & ~keep);
}

/* Montgomery reduction of t (32 limbs, < m 2^1024) into r. */
static inline void reduce_portable(uint64_t r[N16], uint64_t t[2 * N16], const uint64_t m[N16],
				   uint64_t n0)
{
	uint64_t carry = 0;
#pragma GCC unroll 16
	for (int i = 0; i < N16; i++) {
		uint64_t mu = t[i] * n0, hi = 0;
#pragma GCC unroll 16
		for (int j = 0; j < N16; j++) {
			mcx_u128 c = (mcx_u128)mu * m[j] + t[i + j] + hi;
			t[i + j] = (uint64_t)c;
			hi = (uint64_t)(c >> 64);
		}
		mcx_u128 c = (mcx_u128)t[i + N16] + hi + carry;
		t[i + N16] = (uint64_t)c;
		carry = (uint64_t)(c >> 64);
	}
	final_sub(r, t, carry, m);
}

void mcx_mont16_mul_portable(uint64_t r[N16], const uint64_t a[N16], const uint64_t b[N16],
			     const uint64_t m[N16], uint64_t n0)
{
	uint64_t t[2 * N16];
	uint64_t hi = 0;

#pragma GCC unroll 16
	for (int j = 0; j < N16; j++) {
		mcx_u128 c = (mcx_u128)a[j] * b[0] + hi;
		t[j] = (uint64_t)c;
		hi = (uint64_t)(c >> 64);
	}
	t[N16] = hi;
#pragma GCC unroll 16
	for (int i = 1; i < N16; i++) {
		uint64_t bi = b[i];
		hi = 0;
#pragma GCC unroll 16
		for (int j = 0; j < N16; j++) {
			mcx_u128 c = (mcx_u128)a[j] * bi + t[i + j] + hi;
			t[i + j] = (uint64_t)c;
			hi = (uint64_t)(c >> 64);
		}
		t[i + N16] = hi;
	}
	reduce_portable(r, t, m, n0);
}

void mcx_mont16_sqr_portable(uint64_t r[N16], const uint64_t a[N16], const uint64_t m[N16],
			     uint64_t n0)
{
	uint64_t t[2 * N16];
	uint64_t hi, carry = 0;

	/* Off-diagonal products a[i] a[j], i < j. */
	t[0] = 0;
	t[2 * N16 - 1] = 0;
	hi = 0;
#pragma GCC unroll 16
	for (int j = 1; j < N16; j++) {
		mcx_u128 c = (mcx_u128)a[0] * a[j] + hi;
		t[j] = (uint64_t)c;
		hi = (uint64_t)(c >> 64);
	}
	t[N16] = hi;
#pragma GCC unroll 16
	for (int i = 1; i < N16 - 1; i++) {
		uint64_t ai = a[i];
		hi = 0;
#pragma GCC unroll 16
		for (int j = i + 1; j < N16; j++) {
			mcx_u128 c = (mcx_u128)ai * a[j] + t[i + j] + hi;
			t[i + j] = (uint64_t)c;
			hi = (uint64_t)(c >> 64);
		}
		t[i + N16] = hi;
	}
	/* Doubled, plus the squares on the diagonal. */
#pragma GCC unroll 16
	for (int i = 0; i < N16; i++) {
		mcx_u128 sq = (mcx_u128)a[i] * a[i];
		uint64_t lo = t[2 * i], up = t[2 * i + 1];
		mcx_u128 c = ((mcx_u128)lo << 1) + (uint64_t)sq + carry;
		t[2 * i] = (uint64_t)c;
		c = ((mcx_u128)up << 1) + (uint64_t)(sq >> 64) + (uint64_t)(c >> 64);
		t[2 * i + 1] = (uint64_t)c;
		carry = (uint64_t)(c >> 64);
	}
	reduce_portable(r, t, m, n0);
}

#if MCX_MONT16_HAVE_ADX
#include <x86intrin.h>

#include "crypto/mont16_adx.inc"

#define ADX __attribute__((target("bmi2,adx")))

/* out[0..23] = x[0..7] * y[0..15] */
static inline ADX __attribute__((always_inline)) void
adx_mul8x16(uint64_t out[24], const uint64_t x[8], const uint64_t y[16])
{
	__asm__ volatile(MCX_ADX_MUL8x16 : : "r"(out), "r"(x), "r"(y) : MCX_ADX_CLOBBERS);
}

/* out[0..15] = x[0..7] * y[0..7] */
static inline ADX __attribute__((always_inline)) void
adx_mul8x8(uint64_t out[16], const uint64_t x[8], const uint64_t y[8])
{
	__asm__ volatile(MCX_ADX_MUL8x8 : : "r"(out), "r"(x), "r"(y) : MCX_ADX_CLOBBERS);
}

/*
 * Eight reduction rows with m[0..7]: mu[0..7], and the window mu[8..15];
 * mu[16] holds n0 (a memory operand of its own would need a fourth register,
 * which instrumented builds with a frame pointer do not have).
 */
static inline ADX __attribute__((always_inline)) void
adx_red8(const uint64_t t[8], const uint64_t m[8], uint64_t mu[17])
{
	__asm__ volatile(MCX_ADX_RED8 : : "r"(t), "r"(m), "r"(mu) : MCX_ADX_CLOBBERS);
}

/*
 * Montgomery reduction of t (32 limbs, < m 2^1024): two stages of eight rows.
 * A stage on a 24- or 32-limb value v: the low half m[0..7] goes through the
 * register window (adx_red8: mu_0..7 and A = the window, at limb 8), the high
 * half m[8..15] as the product B = mu * m[8..15] (at limb 8); then
 * v' = v[8..] + A + B, which is v + sum mu_k m 2^(64k) shifted by 512 bits.
 */
static inline ADX __attribute__((always_inline)) void
adx_reduce(uint64_t r[N16], const uint64_t *t0, const uint64_t *t8, int t8len,
	   const uint64_t *add8, int add8len, int twice, const uint64_t m[N16], uint64_t n0)
{
	uint64_t mu[17], b[16], v[24], w[16];
	unsigned char c1, c2, c3, c4;
	unsigned long long x;

	/*
	 * Stage 1: rows 0..7 on t (limbs 0..7: t0; limbs 8..31: t8 + add8, or
	 * t8 + 2 add8 when twice) -> v (24 limbs).
	 */
	mu[16] = n0;
	adx_red8(t0, m, mu);
	adx_mul8x8(b, m + 8, mu);
	c1 = c2 = c3 = c4 = 0;
#pragma GCC unroll 24
	for (int i = 0; i < 24; i++) {
		c1 = _addcarry_u64(c1, i < t8len ? t8[i] : 0, i < 8 ? mu[8 + i] : 0, &x);
		c2 = _addcarry_u64(c2, x, i < 16 ? b[i] : 0, &x);
		c3 = _addcarry_u64(c3, x, i < add8len ? add8[i] : 0, &x);
		if (twice)
			c4 = _addcarry_u64(c4, x, i < add8len ? add8[i] : 0, &x);
		v[i] = x;
	}
	/* Stage 2: rows 8..15 on v -> w (16 limbs) + carry. */
	adx_red8(v, m, mu);
	adx_mul8x8(b, m + 8, mu);
	c1 = c2 = 0;
#pragma GCC unroll 16
	for (int i = 0; i < 16; i++) {
		c1 = _addcarry_u64(c1, v[8 + i], i < 8 ? mu[8 + i] : 0, &x);
		c2 = _addcarry_u64(c2, x, b[i], &x);
		w[i] = x;
	}
	{
		uint64_t s[N16], keep;
		unsigned char bw = 0;
#pragma GCC unroll 16
		for (int i = 0; i < N16; i++) {
			bw = _subborrow_u64(bw, w[i], m[i], &x);
			s[i] = x;
		}
		/* keep w when w < m and no carry out (w + carry 2^1024 < 2m). */
		keep = 0 - ((uint64_t)bw & (uint64_t)((c1 | c2) ^ 1));
#pragma GCC unroll 16
		for (int i = 0; i < N16; i++)
			r[i] = (w[i] & keep) | (s[i] & ~keep);
	}
}

ADX void mcx_mont16_mul_adx(uint64_t r[N16], const uint64_t a[N16], const uint64_t b[N16],
			    const uint64_t m[N16], uint64_t n0)
{
	uint64_t lo[24], hi[24];

	/* a b = lo + hi 2^512, the sum folded into the first reduction stage */
	adx_mul8x16(lo, a, b);
	adx_mul8x16(hi, a + 8, b);
	adx_reduce(r, lo, lo + 8, 16, hi, 24, 0, m, n0);
}

ADX void mcx_mont16_sqr_adx(uint64_t r[N16], const uint64_t a[N16], const uint64_t m[N16],
			    uint64_t n0)
{
	uint64_t t[2 * N16], lh[16];

	/* a^2 = aL^2 + aH^2 2^1024 (t) + 2 aL aH 2^512, folded into the reduction */
	adx_mul8x8(t, a, a);
	adx_mul8x8(t + 16, a + 8, a + 8);
	adx_mul8x8(lh, a, a + 8);
	adx_reduce(r, t, t + 8, 24, lh, 16, 1, m, n0);
}
#endif

void mcx_mont16_pow_public(const struct mcx_mont *ctx, uint64_t r[N16], const uint64_t a[N16],
			   const uint64_t e[N16], unsigned ebits)
{
	uint64_t tab[16][N16], acc[N16];
	unsigned windows = (ebits + 3) / 4;

	memcpy(tab[0], ctx->one, sizeof(tab[0]));
	memcpy(tab[1], a, sizeof(tab[1]));
	for (int i = 2; i < 16; i++) {
		if (i % 2 == 0)
			mcx_mont16_sqr(tab[i], tab[i / 2], ctx->m, ctx->n0);
		else
			mcx_mont16_mul(tab[i], tab[i - 1], a, ctx->m, ctx->n0);
	}
	memcpy(acc, ctx->one, sizeof(acc));
	for (unsigned w = windows; w-- > 0;) {
		unsigned digit = mcx_limbs_nibble(e, w);   /* public */
		if (w + 1 != windows)
			for (int k = 0; k < 4; k++)
				mcx_mont16_sqr(acc, acc, ctx->m, ctx->n0);
		mcx_mont16_mul(acc, acc, tab[digit], ctx->m, ctx->n0);
	}
	memcpy(r, acc, sizeof(acc));
	memset(tab, 0, sizeof(tab));
	memset(acc, 0, sizeof(acc));
	__asm__ __volatile__("" : : "r"(tab), "r"(acc) : "memory");
}

void mcx_mont16_inv(const struct mcx_mont *ctx, uint64_t r[N16], const uint64_t a[N16])
{
	mcx_mont16_pow_public(ctx, r, a, ctx->mm2, ctx->bits);
}

static pthread_once_t mont16_once = PTHREAD_ONCE_INIT;

/*
 * MCX_MONT16=portable or =adx overrides the CPU check: the tests run the
 * vectors and the differential tests under each path, and callgrind (whose
 * virtual CPUID hides ADX although it executes mulx/adcx/adox) counts the
 * path production runs.  "adx" on a CPU without BMI2/ADX dies of SIGILL; it
 * is a test and benchmark switch, both paths give identical results.
 */
static void mont16_detect(void)
{
	const char *force = secure_getenv("MCX_MONT16");

#if MCX_MONT16_HAVE_ADX
	__builtin_cpu_init();
	mcx_mont16_adx = __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("adx");
	if (force != NULL && strcmp(force, "adx") == 0)
		mcx_mont16_adx = 1;
#endif
	if (force != NULL && strcmp(force, "portable") == 0)
		mcx_mont16_adx = 0;
}

void mcx_mont16_init(void)
{
	(void)pthread_once(&mont16_once, mont16_detect);
}

int mcx_mont16_select(int adx)
{
	mcx_mont16_init();
	if (!adx) {
		mcx_mont16_adx = 0;
		return 0;
	}
#if MCX_MONT16_HAVE_ADX
	if (__builtin_cpu_supports("bmi2") && __builtin_cpu_supports("adx")) {
		mcx_mont16_adx = 1;
		return 0;
	}
#endif
	return -1;
}
