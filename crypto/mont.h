/*
 * mcxvault crypto — fixed-width, constant-time Montgomery arithmetic modulo an
 * odd modulus of up to 1024 bits (internal to crypto/).
 *
 * Why not BIGNUM for the hot path: BN_mod_mul_montgomery() trims leading zero
 * words (bn_correct_top) so its running time depends on the value, BN offers no
 * public constant-time table lookup, and every BN call can fail and allocate.
 * These routines work on fixed arrays of 64-bit limbs, never branch on or
 * index by a value, never allocate and cannot fail.  BIGNUM is still used
 * where nothing secret is involved (ECCSI point arithmetic through EC_POINT).
 *
 * Representation: little-endian arrays of 64-bit limbs; the number of limbs n
 * is fixed per modulus (16 for the SAKKE p and q, 4 for the P-256 order).
 * Multiplication is CIOS Montgomery (Koc, Acar, Kaliski 1996) with a masked
 * final subtraction.  All inputs must be fully reduced (< m).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef MCX_CRYPTO_MONT_H
#define MCX_CRYPTO_MONT_H

#include <stddef.h>
#include <stdint.h>

#define MCX_MONT_MAX_LIMBS 16

typedef unsigned __int128 mcx_u128;

struct mcx_mont {
	size_t n;                          /* limbs in use */
	unsigned bits;                     /* bit length of m */
	uint64_t m[MCX_MONT_MAX_LIMBS];    /* the modulus (odd) */
	uint64_t n0;                       /* -m^-1 mod 2^64 */
	uint64_t rr[MCX_MONT_MAX_LIMBS];   /* R^2 mod m, R = 2^(64n) */
	uint64_t one[MCX_MONT_MAX_LIMBS];  /* R mod m: 1 in Montgomery form */
	uint64_t mm2[MCX_MONT_MAX_LIMBS];  /* m - 2 (Fermat inversion exponent) */
};

/* Sets up ctx for the odd modulus given as big-endian octets; 0 or -1. */
int mcx_mont_init(struct mcx_mont *ctx, const uint8_t *mod, size_t len);

/* All-ones when x == 0, else 0 (x is a limb). */
static inline uint64_t mcx_ct_is_zero64(uint64_t x)
{
	return 0 - ((~x & (x - 1)) >> 63);
}

/* r = mask ? a : b, over n limbs (mask is 0 or all-ones). */
static inline void mcx_ct_select(uint64_t *r, const uint64_t *a, const uint64_t *b,
				 uint64_t mask, size_t n)
{
	for (size_t i = 0; i < n; i++)
		r[i] = (a[i] & mask) | (b[i] & ~mask);
}

/* All-ones when a == 0 over n limbs. */
static inline uint64_t mcx_ct_limbs_zero(const uint64_t *a, size_t n)
{
	uint64_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= a[i];
	return mcx_ct_is_zero64(acc);
}

/* All-ones when a == b over n limbs. */
static inline uint64_t mcx_ct_limbs_eq(const uint64_t *a, const uint64_t *b, size_t n)
{
	uint64_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= a[i] ^ b[i];
	return mcx_ct_is_zero64(acc);
}

/* r = a - b over n limbs; returns the borrow (0 or 1). */
static inline uint64_t mcx_limbs_sub(uint64_t *r, const uint64_t *a, const uint64_t *b, size_t n)
{
	uint64_t borrow = 0;
	for (size_t i = 0; i < n; i++) {
		mcx_u128 d = (mcx_u128)a[i] - b[i] - borrow;
		r[i] = (uint64_t)d;
		borrow = (uint64_t)(d >> 64) & 1;
	}
	return borrow;
}

/* r = a + b over n limbs; returns the carry (0 or 1). */
static inline uint64_t mcx_limbs_add(uint64_t *r, const uint64_t *a, const uint64_t *b, size_t n)
{
	uint64_t carry = 0;
	for (size_t i = 0; i < n; i++) {
		mcx_u128 s = (mcx_u128)a[i] + b[i] + carry;
		r[i] = (uint64_t)s;
		carry = (uint64_t)(s >> 64);
	}
	return carry;
}

/* All-ones when a < b (n limbs), in constant time. */
static inline uint64_t mcx_ct_limbs_lt(const uint64_t *a, const uint64_t *b, size_t n)
{
	uint64_t t[MCX_MONT_MAX_LIMBS];
	uint64_t borrow = mcx_limbs_sub(t, a, b, n);
	return 0 - borrow;
}

/* The CIOS core; n is a compile-time constant at each specialised call site. */
static inline __attribute__((always_inline)) void
mcx_mont_mul_core(uint64_t *r, const uint64_t *a, const uint64_t *b, const uint64_t *m,
		  uint64_t n0, size_t n)
{
	uint64_t t[MCX_MONT_MAX_LIMBS + 2];
	uint64_t s[MCX_MONT_MAX_LIMBS];

	for (size_t i = 0; i < n + 2; i++)
		t[i] = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t bi = b[i], mu;
		mcx_u128 c = 0;
		for (size_t j = 0; j < n; j++) {
			c = (mcx_u128)a[j] * bi + t[j] + (uint64_t)(c >> 64);
			t[j] = (uint64_t)c;
		}
		c = (mcx_u128)t[n] + (uint64_t)(c >> 64);
		t[n] = (uint64_t)c;
		t[n + 1] = (uint64_t)(c >> 64);
		mu = t[0] * n0;
		c = (mcx_u128)mu * m[0] + t[0];
		for (size_t j = 1; j < n; j++) {
			c = (mcx_u128)mu * m[j] + t[j] + (uint64_t)(c >> 64);
			t[j - 1] = (uint64_t)c;
		}
		c = (mcx_u128)t[n] + (uint64_t)(c >> 64);
		t[n - 1] = (uint64_t)c;
		t[n] = t[n + 1] + (uint64_t)(c >> 64);
	}
	/* t < 2m: subtract m unless that underflows (t[n] is 0 or 1). */
	uint64_t borrow = mcx_limbs_sub(s, t, m, n);
	uint64_t keep = 0 - (borrow & (t[n] ^ 1));
	mcx_ct_select(r, t, s, keep, n);
}

/* r = a * b * R^-1 mod m; r may alias a or b. */
static inline void mcx_mont_mul(const struct mcx_mont *ctx, uint64_t *r, const uint64_t *a,
				const uint64_t *b)
{
	if (ctx->n == 16)
		mcx_mont_mul_core(r, a, b, ctx->m, ctx->n0, 16);
	else if (ctx->n == 4)
		mcx_mont_mul_core(r, a, b, ctx->m, ctx->n0, 4);
	else
		mcx_mont_mul_core(r, a, b, ctx->m, ctx->n0, ctx->n);
}

/* r = a + b mod m. */
static inline void mcx_mont_add(const struct mcx_mont *ctx, uint64_t *r, const uint64_t *a,
				const uint64_t *b)
{
	uint64_t t[MCX_MONT_MAX_LIMBS], s[MCX_MONT_MAX_LIMBS];
	size_t n = ctx->n;
	uint64_t carry = mcx_limbs_add(t, a, b, n);
	uint64_t borrow = mcx_limbs_sub(s, t, ctx->m, n);
	uint64_t keep = 0 - (borrow & (carry ^ 1));
	mcx_ct_select(r, t, s, keep, n);
}

/* r = a - b mod m. */
static inline void mcx_mont_sub(const struct mcx_mont *ctx, uint64_t *r, const uint64_t *a,
				const uint64_t *b)
{
	uint64_t t[MCX_MONT_MAX_LIMBS], madd[MCX_MONT_MAX_LIMBS];
	size_t n = ctx->n;
	uint64_t mask = 0 - mcx_limbs_sub(t, a, b, n);
	for (size_t i = 0; i < n; i++)
		madd[i] = ctx->m[i] & mask;
	(void)mcx_limbs_add(r, t, madd, n);
}

/* Converts plain a (< m) into Montgomery form and back. */
static inline void mcx_mont_to(const struct mcx_mont *ctx, uint64_t *r, const uint64_t *a)
{
	mcx_mont_mul(ctx, r, a, ctx->rr);
}

static inline void mcx_mont_from(const struct mcx_mont *ctx, uint64_t *r, const uint64_t *a)
{
	uint64_t one[MCX_MONT_MAX_LIMBS] = { 1 };
	mcx_mont_mul(ctx, r, a, one);
}

/*
 * r = a^e (Montgomery form in and out) for a PUBLIC exponent e of ebits bits:
 * the sequence of operations depends on e only, never on a.
 */
void mcx_mont_pow_public(const struct mcx_mont *ctx, uint64_t *r, const uint64_t *a,
			 const uint64_t *e, unsigned ebits);
/* r = a^-1 (Montgomery form) for a prime modulus, by Fermat: a^(m-2); 0 -> 0. */
void mcx_mont_inv(const struct mcx_mont *ctx, uint64_t *r, const uint64_t *a);

/*
 * r = a^-1 R mod m (Montgomery form of the inverse) for a PUBLIC plain
 * 0 < a < m: Kaliski's almost Montgomery inverse (IEEE Trans. Computers 44(8),
 * 1995), variable time — its branches and shifts follow a.  Only for values
 * that are public or blinded (crypto/sakke.c inv_blinded).  -1 if a = 0 or a
 * has no inverse (r then undefined).
 */
int mcx_mont_inv_public(const struct mcx_mont *ctx, uint64_t *r, const uint64_t *a);

/* Big-endian octets <-> n limbs.  from_bytes returns -1 if len > 8n. */
int mcx_limbs_from_bytes(uint64_t *r, size_t n, const uint8_t *in, size_t len);
void mcx_limbs_to_bytes(uint8_t *out, size_t len, const uint64_t *a, size_t n);

/* Bit i of a (public position). */
static inline unsigned mcx_limbs_bit(const uint64_t *a, unsigned i)
{
	return (unsigned)(a[i / 64] >> (i % 64)) & 1u;
}

/* The 4-bit window starting at bit 4*w (public position; value may be secret). */
static inline unsigned mcx_limbs_nibble(const uint64_t *a, unsigned w)
{
	return (unsigned)(a[w / 16] >> ((w % 16) * 4)) & 0xfu;
}

#endif /* MCX_CRYPTO_MONT_H */
