/*
 * mcxvault crypto — Montgomery context set-up, exponentiation with a public
 * exponent, Fermat inversion, octet conversion.  See mont.h.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "crypto/mont.h"

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
