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

/*
 * The working buffer of one product: t[0..32] the accumulator, then the
 * kernels' own words (CY, n0, mu[0..15], a zero Z; offsets MCX_ADX_CY, _N0,
 * _MU, _Z).
 */
#define ADX_BUF (MCX_ADX_Z / 8 + 1)

/* t[0..23] = x[0..7] * y[0..15] */
static inline ADX __attribute__((always_inline)) void
adx_mul8x16(uint64_t *t, const uint64_t x[8], const uint64_t y[16])
{
	__asm__ volatile(MCX_ADX_MUL8x16 : : "r"(t), "r"(x), "r"(y) : MCX_ADX_CLOBBERS);
}

/* t[0..15] = x[0..7]^2 (t = buf), t[16..31] = x^2 (t = buf + 16) */
static inline ADX __attribute__((always_inline)) void
adx_sqr8(uint64_t *t, const uint64_t x[8])
{
	__asm__ volatile(MCX_ADX_SQR8 : : "r"(t), "r"(x) : MCX_ADX_REDC_CLOBBERS);
}

static inline ADX __attribute__((always_inline)) void
adx_sqr8_16(uint64_t *t, const uint64_t x[8])
{
	__asm__ volatile(MCX_ADX_SQR8_16 : : "r"(t), "r"(x) : MCX_ADX_REDC_CLOBBERS);
}

/* t[0..24] += x[0..7] * y[0..15], t[0..15] valid on entry (t = buf + 8) */
static inline ADX __attribute__((always_inline)) void
adx_mulacc8x16(uint64_t *t, const uint64_t x[8], const uint64_t y[16])
{
	__asm__ volatile(MCX_ADX_MULACC8x16 : : "r"(t), "r"(x), "r"(y) : MCX_ADX_CLOBBERS);
}

/* t[0..24] += x[0..7] * y[0..8], t[0..24] valid on entry (t = buf + 8) */
static inline ADX __attribute__((always_inline)) void
adx_mulacc8x9(uint64_t *t, const uint64_t x[8], const uint64_t y[9])
{
	__asm__ volatile(MCX_ADX_MULACC8x9 : : "r"(t), "r"(x), "r"(y) : MCX_ADX_CLOBBERS);
}

/*
 * r = t m^-1 2^-1024 mod m for t = buf[0..31] < m 2^1024 (buf[32] = 0): the
 * reduction rows leave buf[16..32] < 2m, the masked subtraction of m (cmov)
 * leaves the result in buf[16..31].
 */
static inline ADX __attribute__((always_inline)) void
adx_redc(uint64_t r[N16], uint64_t buf[ADX_BUF], const uint64_t m[N16], uint64_t n0)
{
	buf[MCX_ADX_N0 / 8] = n0;
	__asm__ volatile(MCX_ADX_REDC : : "r"(buf), "r"(m) : MCX_ADX_REDC_CLOBBERS);
	memcpy(r, buf + N16, N16 * sizeof(uint64_t));
}

ADX void mcx_mont16_mul_adx(uint64_t r[N16], const uint64_t a[N16], const uint64_t b[N16],
			    const uint64_t m[N16], uint64_t n0)
{
	uint64_t buf[ADX_BUF];

	/* a b = aL b + aH b 2^512: the second strip accumulates onto the first */
	buf[MCX_ADX_Z / 8] = 0;
	adx_mul8x16(buf, a, b);
	adx_mulacc8x16(buf + 8, a + 8, b);
	adx_redc(r, buf, m, n0);
}

ADX void mcx_mont16_sqr_adx(uint64_t r[N16], const uint64_t a[N16], const uint64_t m[N16],
			    uint64_t n0)
{
	uint64_t buf[ADX_BUF], d[9];

	/* a^2 = aL^2 + aH^2 2^1024 + aL (2 aH) 2^512, 2 aH a 9-limb multiplier */
#pragma GCC unroll 8
	for (int i = 0; i < 8; i++)
		d[i] = (a[8 + i] << 1) | (i > 0 ? a[7 + i] >> 63 : 0);
	d[8] = a[15] >> 63;
	buf[MCX_ADX_Z / 8] = 0;
	adx_sqr8(buf, a);
	adx_sqr8_16(buf + N16, a + 8);
	buf[2 * N16] = 0;
	adx_mulacc8x9(buf + 8, a, d);
	adx_redc(r, buf, m, n0);
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
