/*
 * mcxvault crypto — Montgomery context set-up, exponentiation with a public
 * exponent, Fermat inversion, octet conversion.  See mont.h.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "crypto/mont.h"

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

int mcx_limbs_from_bytes(uint64_t *r, size_t n, const uint8_t *in, size_t len)
{
	if (len > 8 * n)
		return -1;
	memset(r, 0, n * sizeof(r[0]));
	for (size_t i = 0; i < len; i++) {
		size_t bit = 8 * (len - 1 - i);
		r[bit / 64] |= (uint64_t)in[i] << (bit % 64);
	}
	return 0;
}

void mcx_limbs_to_bytes(uint8_t *out, size_t len, const uint64_t *a, size_t n)
{
	for (size_t i = 0; i < len; i++) {
		size_t bit = 8 * (len - 1 - i);
		out[i] = bit / 64 < n ? (uint8_t)(a[bit / 64] >> (bit % 64)) : 0;
	}
}

int mcx_mont_init(struct mcx_mont *ctx, const uint8_t *mod, size_t len)
{
	size_t n = (len + 7) / 8;
	uint64_t inv = 1, two[MCX_MONT_MAX_LIMBS] = { 2 };

	memset(ctx, 0, sizeof(*ctx));
	if (n == 0 || n > MCX_MONT_MAX_LIMBS)
		return -1;
	ctx->n = n;
	if (mcx_limbs_from_bytes(ctx->m, n, mod, len) != 0 || (ctx->m[0] & 1) == 0 ||
	    ctx->m[n - 1] == 0)
		return -1;
	ctx->bits = 64 * (unsigned)n;
	while (ctx->bits > 0 && mcx_limbs_bit(ctx->m, ctx->bits - 1) == 0)
		ctx->bits--;
	/* Newton iteration for m^-1 mod 2^64: each step doubles the correct bits. */
	for (int i = 0; i < 6; i++)
		inv *= 2 - ctx->m[0] * inv;
	ctx->n0 = 0 - inv;
	/* R mod m, then R^2 mod m, by doubling 1 modulo m (set-up only). */
	ctx->one[0] = 1;
	for (size_t i = 0; i < 64 * n; i++)
		mcx_mont_add(ctx, ctx->one, ctx->one, ctx->one);
	memcpy(ctx->rr, ctx->one, sizeof(ctx->rr));
	for (size_t i = 0; i < 64 * n; i++)
		mcx_mont_add(ctx, ctx->rr, ctx->rr, ctx->rr);
	(void)mcx_limbs_sub(ctx->mm2, ctx->m, two, n);
	return 0;
}

void mcx_mont_pow_public(const struct mcx_mont *ctx, uint64_t *r, const uint64_t *a,
			 const uint64_t *e, unsigned ebits)
{
	uint64_t tab[16][MCX_MONT_MAX_LIMBS];
	uint64_t acc[MCX_MONT_MAX_LIMBS];
	size_t n = ctx->n;
	unsigned windows = (ebits + 3) / 4;

	memcpy(tab[0], ctx->one, sizeof(tab[0]));
	memcpy(tab[1], a, n * sizeof(uint64_t));
	for (int i = 2; i < 16; i++)
		mcx_mont_mul(ctx, tab[i], tab[i - 1], a);
	memcpy(acc, ctx->one, sizeof(acc));
	for (unsigned w = windows; w-- > 0;) {
		for (int k = 0; k < 4; k++)
			mcx_mont_mul(ctx, acc, acc, acc);
		/* The index is the public exponent's digit. */
		mcx_mont_mul(ctx, acc, acc, tab[mcx_limbs_nibble(e, w)]);
	}
	memcpy(r, acc, n * sizeof(uint64_t));
	memset(tab, 0, sizeof(tab));
	memset(acc, 0, sizeof(acc));
	__asm__ __volatile__("" : : "r"(tab), "r"(acc) : "memory");
}

void mcx_mont_inv(const struct mcx_mont *ctx, uint64_t *r, const uint64_t *a)
{
	mcx_mont_pow_public(ctx, r, a, ctx->mm2, ctx->bits);
}

/* a >>= s (1 <= s <= 63) over n limbs. */
static inline void limbs_shr(uint64_t *a, size_t n, unsigned s)
{
	for (size_t i = 0; i + 1 < n; i++)
		a[i] = (a[i] >> s) | (a[i + 1] << (64 - s));
	a[n - 1] >>= s;
}

/* a <<= s (1 <= s <= 63) over n limbs; the caller's bound keeps the top. */
static inline void limbs_shl(uint64_t *a, size_t n, unsigned s)
{
	for (size_t i = n; i-- > 1;)
		a[i] = (a[i] << s) | (a[i - 1] >> (64 - s));
	a[0] <<= s;
}

/* One limb of a carry (borrow) chain: adc (sbb) on x86-64. */
static inline unsigned char limb_addc(unsigned char c, uint64_t a, uint64_t b, uint64_t *r)
{
#if defined(__x86_64__)
	return _addcarry_u64(c, a, b, (unsigned long long *)r);
#else
	mcx_u128 t = (mcx_u128)a + b + c;
	*r = (uint64_t)t;
	return (unsigned char)(t >> 64);
#endif
}

static inline unsigned char limb_subb(unsigned char c, uint64_t a, uint64_t b, uint64_t *r)
{
#if defined(__x86_64__)
	return _subborrow_u64(c, a, b, (unsigned long long *)r);
#else
	mcx_u128 t = (mcx_u128)a - b - c;
	*r = (uint64_t)t;
	return (unsigned char)((t >> 64) & 1);
#endif
}

/* a > b, both of n limbs (public values: returns at the first difference). */
static inline int limbs_gt(const uint64_t *a, const uint64_t *b, size_t n)
{
	for (size_t i = n; i-- > 0;)
		if (a[i] != b[i])
			return a[i] > b[i];
	return 0;
}

/*
 * One subtraction step on odd a > b (n limbs): a = (a - b) / 2^s and, on the
 * n + 1 limbs cn of x and y, c += d, d <<= s — Kaliski's s one-bit steps
 * (one subtraction, s - 1 halvings) in one pass over each pair.  s = the
 * trailing zeros of a - b, read from its low limb; returns 0 (nothing done)
 * when that limb is 0 (probability 2^-64), for the general path.
 */
static inline int sub_shift_step(uint64_t *a, const uint64_t *b, size_t n, uint64_t *c, uint64_t *d,
				 size_t cn, unsigned *k)
{
	uint64_t lo = a[0] - b[0], prev, cur, dprev;
	unsigned char bw, cy = 0;
	unsigned s;

	if (lo == 0)
		return 0;
	s = (unsigned)__builtin_ctzll(lo);
	bw = limb_subb(0, a[0], b[0], &prev);
	for (size_t i = 1; i < n; i++) {
		bw = limb_subb(bw, a[i], b[i], &cur);
		a[i - 1] = (prev >> s) | (cur << (64 - s));
		prev = cur;
	}
	a[n - 1] = prev >> s;
	dprev = 0;
	for (size_t i = 0; i < cn; i++) {
		uint64_t di = d[i];
		cy = limb_addc(cy, c[i], di, &c[i]);
		d[i] = (di << s) | (dprev >> (64 - s));
		dprev = di;
	}
	*k += s;
	return 1;
}

/*
 * Makes an even non-zero a odd: a >>= s, c <<= s, k += s.  c is x or y; *xl
 * (limbs in use by the larger of x and y, at most nx) grows with it.
 * Shifting a run of zero bits at once takes Kaliski's one-bit steps.
 */
static inline void make_odd(uint64_t *a, size_t *al, uint64_t *c, size_t *xl, size_t nx,
			    unsigned *k)
{
	while ((a[0] & 1) == 0) {
		unsigned s = a[0] == 0 ? 63 : (unsigned)__builtin_ctzll(a[0]);
		size_t cl = *xl + 1 <= nx ? *xl + 1 : nx;
		limbs_shr(a, *al, s);
		limbs_shl(c, cl, s);
		if (cl > *xl && c[*xl] != 0)
			(*xl)++;
		*k += s;
		while (*al > 1 && a[*al - 1] == 0)
			(*al)--;
	}
}

/*
 * Kaliski's phase 1 with u, v (shrinking, ul/vl limbs in use) and x, y
 * (growing, xl limbs in use by the larger, below 2m: n + 1 limbs):
 *   u > v: u = (u - v)/2, x += y, y *= 2;  else v = (v - u)/2, y += x, x *= 2;
 *   an even u or v: halve it and double y or x;
 * ending with v = 0, u = gcd(a, m) and x = -a^-1 2^k mod m, bits(m) <= k <=
 * 2 bits(m).  Phase 2: a^-1 R = mont(a^-1 2^k, 2^(2 64 n - k) mod m).
 */
int mcx_mont_inv_public(const struct mcx_mont *ctx, uint64_t *r, const uint64_t *a)
{
	const size_t n = ctx->n, nx = ctx->n + 1;
	uint64_t u[MCX_MONT_MAX_LIMBS], v[MCX_MONT_MAX_LIMBS];
	uint64_t x[MCX_MONT_MAX_LIMBS + 1] = { 0 }, y[MCX_MONT_MAX_LIMBS + 1] = { 1 };
	uint64_t t[MCX_MONT_MAX_LIMBS + 1], pw[MCX_MONT_MAX_LIMBS] = { 0 };
	size_t ul = n, vl = n, xl = 1;
	unsigned k = 0, j, start;
	int ret = -1;

	memcpy(u, ctx->m, n * sizeof(u[0]));
	memcpy(v, a, n * sizeof(v[0]));
	while (vl > 1 && v[vl - 1] == 0)
		vl--;
	if (vl == 1 && v[0] == 0)
		goto out;
	make_odd(v, &vl, x, &xl, nx, &k);   /* x = 0 */
	for (;;) {
		size_t xc = xl + 1 <= nx ? xl + 1 : nx;
		if (k > 2 * ctx->bits)
			goto out;   /* not reached for 0 < a < m */
		if (ul > vl || (ul == vl && limbs_gt(u, v, ul))) {
			if (sub_shift_step(u, v, ul, x, y, xc, &k)) {
				if (xc > xl && (x[xl] | y[xl]) != 0)
					xl++;
				while (ul > 1 && u[ul - 1] == 0)
					ul--;
				continue;
			}
			(void)mcx_limbs_sub(u, u, v, ul);
			(void)mcx_limbs_add(x, x, y, xc);
			if (xc > xl && x[xl] != 0)
				xl++;
			while (ul > 1 && u[ul - 1] == 0)
				ul--;
			make_odd(u, &ul, y, &xl, nx, &k);
		} else {
			if (sub_shift_step(v, u, vl, y, x, xc, &k)) {   /* not for u = v */
				if (xc > xl && (x[xl] | y[xl]) != 0)
					xl++;
				while (vl > 1 && v[vl - 1] == 0)
					vl--;
				continue;
			}
			(void)mcx_limbs_sub(v, v, u, vl);
			(void)mcx_limbs_add(y, y, x, xc);
			if (xc > xl && y[xl] != 0)
				xl++;
			while (vl > 1 && v[vl - 1] == 0)
				vl--;
			if (vl == 1 && v[0] == 0)
				break;
			make_odd(v, &vl, x, &xl, nx, &k);
		}
	}
	/* gcd(a, m) = u must be 1 */
	if (ul != 1 || u[0] != 1)
		goto out;
	/* x < 2m: reduce, then a^-1 2^k = m - x */
	memcpy(t, ctx->m, n * sizeof(t[0]));
	t[n] = 0;
	if (mcx_limbs_sub(y, x, t, nx) == 0)
		memcpy(x, y, sizeof(x));
	(void)mcx_limbs_sub(x, t, x, nx);
	/* pw = 2^j mod m, j = 2 64 n - k: the largest power of two below m, then doublings */
	j = 2 * 64 * (unsigned)n - k;
	start = j < ctx->bits - 1 ? j : ctx->bits - 1;
	pw[start / 64] = (uint64_t)1 << (start % 64);
	for (unsigned i = start; i < j; i++)
		mcx_mont_add(ctx, pw, pw, pw);
	mcx_mont_mul(ctx, r, x, pw);
	ret = 0;
out:
	memset(u, 0, sizeof(u));
	memset(v, 0, sizeof(v));
	memset(x, 0, sizeof(x));
	memset(y, 0, sizeof(y));
	memset(t, 0, sizeof(t));
	__asm__ __volatile__("" : : "r"(u), "r"(v), "r"(x), "r"(y), "r"(t) : "memory");
	return ret;
}
