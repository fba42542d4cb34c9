/*
 * mcxvault crypto — ECCSI, RFC 6507, NIST P-256 / SHA-256.
 *
 * Points: OpenSSL EC_POINT on the built-in P-256 group.  A single-scalar
 * EC_POINT_mul() with a secret scalar (KSAK, v, SSK, j) runs OpenSSL's
 * constant-time path (ecp_nistz256 fixed-base comb / windowed multiplication
 * with masked table access, or the generic Montgomery ladder), and every such
 * BIGNUM carries BN_FLG_CONSTTIME and a length that does not depend on the
 * scalar (secret_scalar_bn).  Two-scalar multiplications (verification)
 * only ever see public values.
 *
 * Scalars mod q: fixed 4-limb Montgomery arithmetic (crypto/mont.h), so the
 * secret arithmetic SSK = KSAK + HS v and s = (HE + r SSK)^-1 j has no
 * data-dependent branch; the inverse is by Fermat (a^(q-2)).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>

#include "crypto/internal.h"
#include "crypto/mont.h"
#include "mcx/eccsi.h"

#define SL 4   /* limbs of a P-256 scalar */

struct mcx_eccsi_params {
	EC_GROUP *group;
	struct mcx_mont fq;                 /* arithmetic mod the order q */
	uint64_t p[SL];                     /* the field prime, for range checks */
	uint8_t G[MCX_ECCSI_POINT_LEN];     /* the generator, encoded */
};

#define WIPE(x) mcx_crypto_wipe(&(x), sizeof(x))

MCX_RESULT mcx_eccsi_params_new(struct mcx_eccsi_params **out)
{
	int r = MCX_ERR_INTERNAL;
	struct mcx_eccsi_params *s = NULL;
	uint8_t buf[32];

	MCX_ENSURE_REF(out);
	*out = NULL;
	s = calloc(1, sizeof(*s));
	MCX_ENSURE_ALLOC(s);
	s->group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	MCX_ENSURE(s->group != NULL, MCX_ERR_CRYPTO);
	MCX_ENSURE(BN_bn2binpad(EC_GROUP_get0_order(s->group), buf, 32) == 32 &&
		   mcx_mont_init(&s->fq, buf, 32) == 0 && s->fq.n == SL, MCX_ERR_CRYPTO);
	MCX_ENSURE(BN_bn2binpad(EC_GROUP_get0_field(s->group), buf, 32) == 32 &&
		   mcx_limbs_from_bytes(s->p, SL, buf, 32) == 0, MCX_ERR_CRYPTO);
	MCX_ENSURE(EC_POINT_point2oct(s->group, EC_GROUP_get0_generator(s->group),
				      POINT_CONVERSION_UNCOMPRESSED, s->G, sizeof(s->G),
				      NULL) == sizeof(s->G), MCX_ERR_CRYPTO);
	*out = s;
	s = NULL;
	r = 0;
out:
	mcx_eccsi_params_free(s);
	return r;
}

void mcx_eccsi_params_free(struct mcx_eccsi_params *params)
{
	if (params == NULL)
		return;
	EC_GROUP_free(params->group);
	free(params);
}

/* ---- scalars ---------------------------------------------------------------- */

/*
 * 32 octets -> limbs, 1 when 0 < x < q.  Public check: the verdict is about
 * the input's validity (a KSAK/SSK out of range is refused; a rejected random
 * candidate is thrown away), never about an accepted scalar's value.
 */
static int scalar_load(const struct mcx_eccsi_params *s, uint64_t x[SL], const uint8_t in[32])
{
	(void)mcx_limbs_from_bytes(x, SL, in, 32);
	return mcx_ct_reveal(mcx_ct_limbs_lt(x, s->fq.m, SL) & ~mcx_ct_limbs_zero(x, SL));
}

/* x mod q for any x < 2^256 (< 2q): one masked subtraction. */
static void scalar_reduce(const struct mcx_eccsi_params *s, uint64_t x[SL])
{
	uint64_t t[SL];
	uint64_t borrow = mcx_limbs_sub(t, x, s->fq.m, SL);
	mcx_ct_select(x, x, t, 0 - borrow, SL);
}

/*
 * Arithmetic mod q for the signature's inversion: a 4-limb CIOS Montgomery
 * multiplication unrolled into registers (the generic mcx_mont_mul_core
 * loops over arrays sized for 16 limbs: ~700 instructions per product, this
 * ~120), and t^-1 = t^(q-2) by fixed 4-bit windows of the public exponent:
 * 252 squarings and 63 multiplications, constant time, no random source.
 */
static inline void q_mul(const struct mcx_eccsi_params *s, uint64_t r[SL], const uint64_t a[SL],
			 const uint64_t b[SL])
{
	const uint64_t *m = s->fq.m;
	uint64_t n0 = s->fq.n0, t0 = 0, t1 = 0, t2 = 0, t3 = 0, t4 = 0, t5, mu, u[SL], keep;
	mcx_u128 c;

#pragma GCC unroll 4
	for (int i = 0; i < SL; i++) {
		uint64_t bi = b[i];
		c = (mcx_u128)a[0] * bi + t0;
		t0 = (uint64_t)c;
		c = (mcx_u128)a[1] * bi + t1 + (uint64_t)(c >> 64);
		t1 = (uint64_t)c;
		c = (mcx_u128)a[2] * bi + t2 + (uint64_t)(c >> 64);
		t2 = (uint64_t)c;
		c = (mcx_u128)a[3] * bi + t3 + (uint64_t)(c >> 64);
		t3 = (uint64_t)c;
		c = (mcx_u128)t4 + (uint64_t)(c >> 64);
		t4 = (uint64_t)c;
		t5 = (uint64_t)(c >> 64);
		mu = t0 * n0;
		c = (mcx_u128)mu * m[0] + t0;
		c = (mcx_u128)mu * m[1] + t1 + (uint64_t)(c >> 64);
		t0 = (uint64_t)c;
		c = (mcx_u128)mu * m[2] + t2 + (uint64_t)(c >> 64);
		t1 = (uint64_t)c;
		c = (mcx_u128)mu * m[3] + t3 + (uint64_t)(c >> 64);
		t2 = (uint64_t)c;
		c = (mcx_u128)t4 + (uint64_t)(c >> 64);
		t3 = (uint64_t)c;
		t4 = t5 + (uint64_t)(c >> 64);
	}
	{
		/* t < 2q: subtract q unless that underflows (t4 is 0 or 1); like
		 * mcx_mont_mul_core, an inline step whose temporaries the callers'
		 * later products overwrite (q_inv wipes its own) */
		uint64_t t[SL] = { t0, t1, t2, t3 };
		uint64_t borrow = mcx_limbs_sub(u, t, m, SL);
		keep = 0 - (borrow & (t4 ^ 1));
		mcx_ct_select(r, t, u, keep, SL);
	}
}

/* r = a^-1 (Montgomery form in and out; 0 -> 0), a^(q-2): the fallback of inv_blinded. */
static void q_inv(const struct mcx_eccsi_params *s, uint64_t r[SL], const uint64_t a[SL])
{
	uint64_t tab[16][SL], acc[SL];
	unsigned windows = (s->fq.bits + 3) / 4;

	memcpy(tab[0], s->fq.one, sizeof(tab[0]));
	memcpy(tab[1], a, sizeof(tab[1]));
	for (int i = 2; i < 16; i++)
		q_mul(s, tab[i], tab[i - 1], a);
	memcpy(acc, tab[mcx_limbs_nibble(s->fq.mm2, windows - 1)], sizeof(acc));   /* public digit */
	for (unsigned w = windows - 1; w-- > 0;) {
		for (int k = 0; k < 4; k++)
			q_mul(s, acc, acc, acc);
		q_mul(s, acc, acc, tab[mcx_limbs_nibble(s->fq.mm2, w)]);        /* public digit */
	}
	memcpy(r, acc, sizeof(acc));
	WIPE(tab);
	WIPE(acc);
}

/*
 * Sign's random octets when the caller gives no source: one RAND_priv_bytes
 * call fills 64 octets for j and the inversion's blinding (a DRBG call costs
 * ~7 k instructions, a fifth of what the rest of a signature leaves); each
 * piece is wiped from the pool as it is handed out, and a second j (a
 * rejected candidate, probability 2^-32) or a blinding past the pool comes
 * from RAND_priv_bytes itself.
 */
struct rnd_pool {
	uint8_t b[64];
	size_t used;
};

static int pool_random(void *ctx, uint8_t *out, size_t len)
{
	struct rnd_pool *p = ctx;

	if (len <= sizeof(p->b) - p->used) {
		memcpy(out, p->b + p->used, len);
		mcx_crypto_wipe(p->b + p->used, len);
		p->used += len;
		return 0;
	}
	return len <= INT_MAX && RAND_priv_bytes(out, (int)len) == 1 ? 0 : -1;
}

/*
 * r = t^-1 R mod q for the secret tm = t R (Montgomery form in and out),
 * blinded as SAKKE's inversions are (docs/crypto.md): with beta uniform
 * (RAND_priv_bytes reduced by one masked subtraction: a 2^-32 bias toward
 * small values, unrelated to t), u = t beta is independent of t, so the
 * variable-time mcx_mont_inv_public (crypto/mont.c) may see it; then t^-1 = u^-1 beta.  Falls back to
 * q_inv (constant time) when the random source fails or beta = 0.
 */
int mcx_eccsi_inv_fermat;

static void inv_blinded(const struct mcx_eccsi_params *s, uint64_t r[SL], const uint64_t tm[SL],
			struct rnd_pool *pool)
{
	uint8_t buf[32];
	uint64_t beta[SL], x[SL];
	int drawn = 0;

	if (!mcx_eccsi_inv_fermat)
		drawn = pool != NULL ? pool_random(pool, buf, sizeof(buf)) == 0
		                     : RAND_priv_bytes(buf, sizeof(buf)) == 1;
	if (drawn) {
		(void)mcx_limbs_from_bytes(beta, SL, buf, sizeof(buf));
		scalar_reduce(s, beta);
		q_mul(s, x, tm, beta);                                /* u = t beta (plain) */
		/* Public check (blinding): u is uniform and independent of t;
		 * u = 0 iff beta = 0 (then the fallback). */
		mcx_ct_public(x, sizeof(x));
		if (!mcx_ct_limbs_zero(x, SL) && mcx_mont_inv_public(&s->fq, x, x) == 0) {   /* u^-1 R */
			mcx_ct_taint(x, sizeof(x), tm, SL * sizeof(tm[0]));   /* as secret as t */
			q_mul(s, x, x, beta);                         /* t^-1 */
			q_mul(s, r, x, s->fq.rr);                     /* t^-1 R */
			goto out;
		}
	}
	q_inv(s, r, tm);
out:
	mcx_crypto_wipe(buf, sizeof(buf));
	WIPE(beta);
	WIPE(x);
}

/* A BIGNUM copy of a public scalar (verification). */
static BIGNUM *scalar_bn(const uint64_t x[SL])
{
	uint8_t b[32];
	mcx_limbs_to_bytes(b, 32, x, SL);
	return BN_bin2bn(b, 32, NULL);
}

/*
 * A BIGNUM for a secret scalar 0 <= k < q (KSAK, v, SSK, j), for EC_POINT_mul.
 *
 * BN_bin2bn(k, 32) would skip k's leading zero octets and trim its zero top
 * limbs: the BIGNUM's length — and every loop libcrypto runs over it — would
 * depend on how many leading zeros k has, which is the leak lattice attacks
 * on nonces feed on.  Instead we pass k' = k + q or k + 2q, whichever lies in
 * [2^256, 2^257) (k + q >= 2^256, else k + 2q < 2^256 + q < 2^257): always 33
 * octets whose first is the constant 0x01 (written as a literal, not computed
 * from k), so BN_bin2bn's length is fixed, and k' = k mod q.  The choice
 * between the two sums is a masked select.  libcrypto's P-256 multiplication
 * (ecp_nistz256) reduces k' mod q itself with BN_nnmod, whose quotient
 * estimate can branch differently only when k < 2^256 - q (probability
 * 2^-32); docs/crypto.md says what we rely on there and what memcheck shows.
 */
static BIGNUM *secret_scalar_bn(const struct mcx_eccsi_params *s, const uint64_t k[SL])
{
	uint64_t t1[SL], t2[SL];
	uint8_t b[33];
	BIGNUM *bn;
	uint64_t c1 = mcx_limbs_add(t1, k, s->fq.m, SL);     /* k + q >= 2^256? */
	(void)mcx_limbs_add(t2, t1, s->fq.m, SL);            /* low limbs of k + 2q */
	mcx_ct_select(t1, t1, t2, 0 - c1, SL);
	b[0] = 0x01;
	mcx_limbs_to_bytes(b + 1, 32, t1, SL);
	bn = BN_secure_new();
	if (bn != NULL) {
		BN_set_flags(bn, BN_FLG_CONSTTIME);
		if (BN_bin2bn(b, sizeof(b), bn) == NULL) {
			BN_clear_free(bn);
			bn = NULL;
		}
	}
	WIPE(t1);
	WIPE(t2);
	WIPE(b);
	return bn;
}

/* A uniformly random scalar in [1, q-1] by rejection sampling. */
static int scalar_random(const struct mcx_eccsi_params *s, mcx_random_fn rnd, void *ctx,
			 uint64_t x[SL])
{
	uint8_t b[32];
	int ok = 0;
	for (int tries = 0; tries < 64 && !ok; tries++) {
		if (mcx_crypto_random(rnd, ctx, b, sizeof(b)) != 0)
			break;
		ok = scalar_load(s, x, b) != 0;
	}
	WIPE(b);
	return ok ? 0 : -1;
}

/* ---- points ------------------------------------------------------------------ */

/* 0x04 || x || y on the curve (never the point at infinity). */
static EC_POINT *point_decode(const struct mcx_eccsi_params *s, const uint8_t in[65], BN_CTX *bn)
{
	EC_POINT *pt;
	if (in[0] != 0x04)
		return NULL;
	pt = EC_POINT_new(s->group);
	if (pt != NULL && EC_POINT_oct2point(s->group, pt, in, 65, bn) != 1) {
		EC_POINT_free(pt);
		pt = NULL;
	}
	return pt;
}

static int point_encode(const struct mcx_eccsi_params *s, const EC_POINT *pt, uint8_t out[65],
			BN_CTX *bn)
{
	if (EC_POINT_is_at_infinity(s->group, pt))
		return -1;
	return EC_POINT_point2oct(s->group, pt, POINT_CONVERSION_UNCOMPRESSED, out, 65, bn) == 65
		       ? 0 : -1;
}

/* r = [k]G, constant time in k. */
static int mul_base(const struct mcx_eccsi_params *s, EC_POINT *r, const uint64_t k[SL], BN_CTX *bn)
{
	BIGNUM *kb = secret_scalar_bn(s, k);
	int ok = kb != NULL && EC_POINT_mul(s->group, r, kb, NULL, NULL, bn) == 1;
	BN_clear_free(kb);
	return ok ? 0 : -1;
}

/* ---- KMS ---------------------------------------------------------------------- */

MCX_RESULT mcx_eccsi_hs(const struct mcx_eccsi_params *params,
			const uint8_t kpak[MCX_ECCSI_POINT_LEN],
			const uint8_t *id, size_t id_len,
			const uint8_t pvt[MCX_ECCSI_POINT_LEN],
			uint8_t hs[MCX_ECCSI_HASH_LEN])
{
	int r = MCX_ERR_INTERNAL;
	const uint8_t *parts[4];
	size_t lens[4] = { MCX_ECCSI_POINT_LEN, MCX_ECCSI_POINT_LEN, id_len, MCX_ECCSI_POINT_LEN };

	MCX_ENSURE_REF(params);
	MCX_ENSURE_REF(kpak);
	MCX_ENSURE_REF(id);
	MCX_ENSURE_REF(pvt);
	MCX_ENSURE_REF(hs);
	MCX_ENSURE(id_len > 0 && id_len <= MCX_ECCSI_ID_MAX, MCX_ERR_INVALID_ARGUMENT);
	parts[0] = params->G;
	parts[1] = kpak;
	parts[2] = id;
	parts[3] = pvt;
	MCX_ENSURE(mcx_crypto_sha256_parts(hs, 4, parts, lens) == 0, MCX_ERR_CRYPTO);
	r = 0;
out:
	return r;
}

MCX_RESULT mcx_eccsi_kpak_from_ksak(const struct mcx_eccsi_params *params,
				    const uint8_t ksak[MCX_ECCSI_SCALAR_LEN],
				    uint8_t kpak[MCX_ECCSI_POINT_LEN])
{
	int r = MCX_ERR_INTERNAL;
	uint64_t k[SL];
	BN_CTX *bn = NULL;
	EC_POINT *pt = NULL;

	MCX_ENSURE_REF(params);
	MCX_ENSURE_REF(ksak);
	MCX_ENSURE_REF(kpak);
	MCX_ENSURE(scalar_load(params, k, ksak), MCX_ERR_INVALID_ARGUMENT);
	bn = BN_CTX_secure_new();
	pt = EC_POINT_new(params->group);
	MCX_ENSURE_ALLOC(bn);
	MCX_ENSURE_ALLOC(pt);
	MCX_ENSURE(mul_base(params, pt, k, bn) == 0 && point_encode(params, pt, kpak, bn) == 0,
		   MCX_ERR_CRYPTO);
	r = 0;
out:
	WIPE(k);
	EC_POINT_clear_free(pt);
	BN_CTX_free(bn);
	return r;
}

MCX_RESULT mcx_eccsi_kms_generate(const struct mcx_eccsi_params *params,
				  mcx_random_fn rnd, void *rnd_ctx,
				  uint8_t ksak[MCX_ECCSI_SCALAR_LEN],
				  uint8_t kpak[MCX_ECCSI_POINT_LEN])
{
	int r = MCX_ERR_INTERNAL;
	uint64_t k[SL];
	uint8_t b[MCX_ECCSI_SCALAR_LEN];

	MCX_ENSURE_REF(params);
	MCX_ENSURE_REF(ksak);
	MCX_ENSURE_REF(kpak);
	MCX_ENSURE(scalar_random(params, rnd, rnd_ctx, k) == 0, MCX_ERR_CRYPTO);
	mcx_limbs_to_bytes(b, sizeof(b), k, SL);
	MCX_GUARD(mcx_eccsi_kpak_from_ksak(params, b, kpak));
	memcpy(ksak, b, sizeof(b));
	r = 0;
out:
	WIPE(k);
	WIPE(b);
	return r;
}

/* RFC 6507 s.5.1.1. */
MCX_RESULT mcx_eccsi_issue(const struct mcx_eccsi_params *params,
			   const uint8_t ksak[MCX_ECCSI_SCALAR_LEN],
			   const uint8_t kpak[MCX_ECCSI_POINT_LEN],
			   const uint8_t *id, size_t id_len,
			   mcx_random_fn rnd, void *rnd_ctx,
			   uint8_t ssk[MCX_ECCSI_SCALAR_LEN],
			   uint8_t pvt[MCX_ECCSI_POINT_LEN])
{
	int r = MCX_ERR_INTERNAL;
	uint64_t k[SL], v[SL], h[SL], t[SL];
	uint8_t hs[MCX_ECCSI_HASH_LEN], pv[MCX_ECCSI_POINT_LEN];
	BN_CTX *bn = NULL;
	EC_POINT *pt = NULL;
	int done = 0;

	MCX_ENSURE_REF(params);
	MCX_ENSURE_REF(ksak);
	MCX_ENSURE_REF(kpak);
	MCX_ENSURE_REF(ssk);
	MCX_ENSURE_REF(pvt);
	MCX_ENSURE(scalar_load(params, k, ksak), MCX_ERR_INVALID_ARGUMENT);
	bn = BN_CTX_secure_new();
	pt = EC_POINT_new(params->group);
	MCX_ENSURE_ALLOC(bn);
	MCX_ENSURE_ALLOC(pt);
	for (int tries = 0; tries < 16 && !done; tries++) {
		/* 1. v random in F_q*;  2. PVT = [v]G */
		MCX_ENSURE(scalar_random(params, rnd, rnd_ctx, v) == 0, MCX_ERR_CRYPTO);
		MCX_ENSURE(mul_base(params, pt, v, bn) == 0 && point_encode(params, pt, pv, bn) == 0,
			   MCX_ERR_CRYPTO);
		/* 3. HS = hash(G || KPAK || ID || PVT) */
		MCX_GUARD(mcx_eccsi_hs(params, kpak, id, id_len, pv, hs));
		(void)mcx_limbs_from_bytes(h, SL, hs, sizeof(hs));
		scalar_reduce(params, h);
		/* 4. SSK = (KSAK + HS v) mod q; HS or SSK zero: fresh v (public event) */
		mcx_mont_to(&params->fq, t, h);
		mcx_mont_mul(&params->fq, t, t, v);
		mcx_mont_add(&params->fq, t, t, k);
		/* public check: a retry (probability 2^-255) reveals nothing of the kept v */
		done = mcx_ct_reveal(~mcx_ct_limbs_zero(h, SL) & ~mcx_ct_limbs_zero(t, SL));
	}
	MCX_ENSURE(done, MCX_ERR_CRYPTO);
	mcx_limbs_to_bytes(ssk, MCX_ECCSI_SCALAR_LEN, t, SL);
	memcpy(pvt, pv, sizeof(pv));
	r = 0;
out:
	WIPE(k);
	WIPE(v);
	WIPE(t);
	EC_POINT_clear_free(pt);
	BN_CTX_free(bn);
	return r;
}

/* ---- client ------------------------------------------------------------------- */

/* [a]P + B for public a. */
static int mul_add(const struct mcx_eccsi_params *s, EC_POINT *r, const uint64_t a[SL],
		   const EC_POINT *P, const EC_POINT *B, BN_CTX *bn)
{
	BIGNUM *ab = scalar_bn(a);
	int ok = ab != NULL && EC_POINT_mul(s->group, r, NULL, P, ab, bn) == 1 &&
		 EC_POINT_add(s->group, r, r, B, bn) == 1;
	BN_free(ab);
	return ok ? 0 : -1;
}

/* RFC 6507 s.5.1.2. */
MCX_RESULT mcx_eccsi_validate(const struct mcx_eccsi_params *params,
			      const uint8_t kpak[MCX_ECCSI_POINT_LEN],
			      const uint8_t *id, size_t id_len,
			      const uint8_t ssk[MCX_ECCSI_SCALAR_LEN],
			      const uint8_t pvt[MCX_ECCSI_POINT_LEN])
{
	int r = MCX_ERR_INTERNAL;
	uint64_t k[SL], h[SL];
	uint8_t hs[MCX_ECCSI_HASH_LEN];
	BN_CTX *bn = NULL;
	EC_POINT *PVT = NULL, *KPAK = NULL, *lhs = NULL, *rhs = NULL;

	MCX_ENSURE_REF(params);
	MCX_ENSURE_REF(kpak);
	MCX_ENSURE_REF(ssk);
	MCX_ENSURE_REF(pvt);
	MCX_ENSURE(scalar_load(params, k, ssk), MCX_ERR_SIGNATURE_INVALID);
	bn = BN_CTX_secure_new();
	MCX_ENSURE_ALLOC(bn);
	/* 1. PVT is on the curve (and not the point at infinity) */
	PVT = point_decode(params, pvt, bn);
	MCX_ENSURE(PVT != NULL, MCX_ERR_INVALID_ARGUMENT);
	KPAK = point_decode(params, kpak, bn);
	MCX_ENSURE(KPAK != NULL, MCX_ERR_INVALID_ARGUMENT);
	/* 2. HS = hash(G || KPAK || ID || PVT) */
	MCX_GUARD(mcx_eccsi_hs(params, kpak, id, id_len, pvt, hs));
	(void)mcx_limbs_from_bytes(h, SL, hs, sizeof(hs));
	scalar_reduce(params, h);
	/* 3. [SSK]G == [HS]PVT + KPAK */
	lhs = EC_POINT_new(params->group);
	rhs = EC_POINT_new(params->group);
	MCX_ENSURE_ALLOC(lhs);
	MCX_ENSURE_ALLOC(rhs);
	MCX_ENSURE(mul_base(params, lhs, k, bn) == 0, MCX_ERR_CRYPTO);
	MCX_ENSURE(mul_add(params, rhs, h, PVT, KPAK, bn) == 0, MCX_ERR_CRYPTO);
	MCX_ENSURE(EC_POINT_cmp(params->group, lhs, rhs, bn) == 0, MCX_ERR_SIGNATURE_INVALID);
	r = 0;
out:
	WIPE(k);
	EC_POINT_free(PVT);
	EC_POINT_free(KPAK);
	EC_POINT_clear_free(lhs);
	EC_POINT_free(rhs);
	BN_CTX_free(bn);
	return r;
}

/* HE = hash(HS || r || M), reduced mod q. */
static int hash_he(const struct mcx_eccsi_params *s, uint64_t he[SL], const uint8_t hs[32],
		   const uint8_t r[32], const uint8_t *msg, size_t msg_len)
{
	uint8_t d[32];
	const uint8_t *parts[3] = { hs, r, msg };
	size_t lens[3] = { 32, 32, msg_len };
	if (mcx_crypto_sha256_parts(d, 3, parts, lens) != 0)
		return -1;
	(void)mcx_limbs_from_bytes(he, SL, d, sizeof(d));
	scalar_reduce(s, he);
	return 0;
}

/* RFC 6507 s.5.2.1. */
MCX_RESULT mcx_eccsi_sign(const struct mcx_eccsi_params *params,
			  const uint8_t kpak[MCX_ECCSI_POINT_LEN],
			  const uint8_t *id, size_t id_len,
			  const uint8_t ssk[MCX_ECCSI_SCALAR_LEN],
			  const uint8_t pvt[MCX_ECCSI_POINT_LEN],
			  const uint8_t *msg, size_t msg_len,
			  mcx_random_fn rnd, void *rnd_ctx,
			  uint8_t sig[MCX_ECCSI_SIG_LEN])
{
	int r = MCX_ERR_INTERNAL;
	uint64_t k[SL], j[SL], rq[SL], he[SL], t[SL], sv[SL];
	uint8_t hs[MCX_ECCSI_HASH_LEN], J[MCX_ECCSI_POINT_LEN];
	BN_CTX *bn = NULL;
	EC_POINT *pt = NULL;
	struct rnd_pool pool;
	int done = 0, pool_used = 0;

	memset(&pool, 0, sizeof(pool));
	MCX_ENSURE_REF(params);
	MCX_ENSURE_REF(ssk);
	MCX_ENSURE_REF(sig);
	MCX_ENSURE(msg != NULL || msg_len == 0, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(scalar_load(params, k, ssk), MCX_ERR_INVALID_ARGUMENT);
	MCX_GUARD(mcx_eccsi_hs(params, kpak, id, id_len, pvt, hs));
	if (rnd == NULL) {
		/* j and the inversion's blinding from one draw of the DRBG */
		MCX_ENSURE(RAND_priv_bytes(pool.b, sizeof(pool.b)) == 1, MCX_ERR_CRYPTO);
		rnd = pool_random;
		rnd_ctx = &pool;
		pool_used = 1;
	}
	bn = BN_CTX_secure_new();
	pt = EC_POINT_new(params->group);
	MCX_ENSURE_ALLOC(bn);
	MCX_ENSURE_ALLOC(pt);
	for (int tries = 0; tries < 16 && !done; tries++) {
		/* 1. j random in F_q*;  2. J = [j]G, r = Jx */
		MCX_ENSURE(scalar_random(params, rnd, rnd_ctx, j) == 0, MCX_ERR_CRYPTO);
		MCX_ENSURE(mul_base(params, pt, j, bn) == 0 && point_encode(params, pt, J, bn) == 0,
			   MCX_ERR_CRYPTO);
		/* 3. HE = hash(HS || r || M) */
		MCX_ENSURE(hash_he(params, he, hs, J + 1, msg, msg_len) == 0, MCX_ERR_CRYPTO);
		/* 4. t = HE + r SSK mod q must be non-zero, else fresh j */
		(void)mcx_limbs_from_bytes(rq, SL, J + 1, 32);
		scalar_reduce(params, rq);
		q_mul(params, t, rq, params->fq.rr);          /* r R */
		q_mul(params, t, t, k);                       /* r SSK */
		mcx_mont_add(&params->fq, t, t, he);
		/* public check: a retry (probability 2^-256) reveals nothing of the kept j */
		if (mcx_ct_reveal(mcx_ct_limbs_zero(t, SL)))
			continue;
		/* 5. s' = t^-1 j mod q (blinded inversion); 6. s = s' (it fits N octets) */
		q_mul(params, t, t, params->fq.rr);
		inv_blinded(params, t, t, pool_used ? &pool : NULL);
		q_mul(params, sv, t, j);
		done = 1;
	}
	MCX_ENSURE(done, MCX_ERR_CRYPTO);
	/* 7. Sig = r || s || PVT */
	memcpy(sig, J + 1, 32);
	mcx_limbs_to_bytes(sig + 32, 32, sv, SL);
	memcpy(sig + 64, pvt, MCX_ECCSI_POINT_LEN);
	r = 0;
out:
	WIPE(k);
	WIPE(j);
	WIPE(t);
	WIPE(sv);
	WIPE(J);
	WIPE(pool);
	EC_POINT_clear_free(pt);
	BN_CTX_free(bn);
	return r;
}

/* RFC 6507 s.5.2.2. */
MCX_RESULT mcx_eccsi_verify(const struct mcx_eccsi_params *params,
			    const uint8_t kpak[MCX_ECCSI_POINT_LEN],
			    const uint8_t *id, size_t id_len,
			    const uint8_t *msg, size_t msg_len,
			    const uint8_t *sig, size_t sig_len)
{
	int r = MCX_ERR_INTERNAL;
	uint64_t rv[SL], rq[SL], sv[SL], h[SL], he[SL], a[SL], b[SL];
	uint8_t hs[MCX_ECCSI_HASH_LEN], jx[32];
	const uint8_t *pvt;
	BN_CTX *bn = NULL;
	EC_POINT *PVT = NULL, *KPAK = NULL, *Y = NULL, *J = NULL;
	BIGNUM *ab = NULL, *bb = NULL, *x = NULL;

	MCX_ENSURE_REF(params);
	MCX_ENSURE_REF(kpak);
	MCX_ENSURE_REF(sig);
	MCX_ENSURE(msg != NULL || msg_len == 0, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(sig_len == MCX_ECCSI_SIG_LEN, MCX_ERR_INVALID_ARGUMENT);
	pvt = sig + 64;
	/* r must be a field element (it is an x coordinate), 0 < s < q */
	(void)mcx_limbs_from_bytes(rv, SL, sig, 32);
	MCX_ENSURE(mcx_ct_limbs_lt(rv, params->p, SL) && !mcx_ct_limbs_zero(rv, SL),
		   MCX_ERR_SIGNATURE_INVALID);
	MCX_ENSURE(scalar_load(params, sv, sig + 32), MCX_ERR_SIGNATURE_INVALID);
	bn = BN_CTX_new();
	MCX_ENSURE_ALLOC(bn);
	/* 1. PVT on the curve */
	PVT = point_decode(params, pvt, bn);
	MCX_ENSURE(PVT != NULL, MCX_ERR_SIGNATURE_INVALID);
	KPAK = point_decode(params, kpak, bn);
	MCX_ENSURE(KPAK != NULL, MCX_ERR_INVALID_ARGUMENT);
	/* 2. HS = hash(G || KPAK || ID || PVT), HE = hash(HS || r || M) */
	MCX_GUARD(mcx_eccsi_hs(params, kpak, id, id_len, pvt, hs));
	(void)mcx_limbs_from_bytes(h, SL, hs, sizeof(hs));
	scalar_reduce(params, h);
	MCX_ENSURE(hash_he(params, he, hs, sig, msg, msg_len) == 0, MCX_ERR_CRYPTO);
	/* 3. Y = [HS]PVT + KPAK */
	Y = EC_POINT_new(params->group);
	J = EC_POINT_new(params->group);
	MCX_ENSURE_ALLOC(Y);
	MCX_ENSURE_ALLOC(J);
	MCX_ENSURE(mul_add(params, Y, h, PVT, KPAK, bn) == 0, MCX_ERR_CRYPTO);
	/* 4. J = [s]([HE]G + [r]Y) = [s HE]G + [s r]Y */
	memcpy(rq, rv, sizeof(rq));
	scalar_reduce(params, rq);
	mcx_mont_to(&params->fq, a, sv);
	mcx_mont_mul(&params->fq, b, a, rq);
	mcx_mont_mul(&params->fq, a, a, he);
	ab = scalar_bn(a);
	bb = scalar_bn(b);
	x = BN_new();
	MCX_ENSURE(ab != NULL && bb != NULL && x != NULL, MCX_ERR_ALLOC);
	MCX_ENSURE(EC_POINT_mul(params->group, J, ab, Y, bb, bn) == 1, MCX_ERR_CRYPTO);
	/* 5. Jx = r mod p, and J is not the point at infinity */
	MCX_ENSURE(!EC_POINT_is_at_infinity(params->group, J), MCX_ERR_SIGNATURE_INVALID);
	MCX_ENSURE(EC_POINT_get_affine_coordinates(params->group, J, x, NULL, bn) == 1 &&
		   BN_bn2binpad(x, jx, 32) == 32, MCX_ERR_CRYPTO);
	MCX_ENSURE(memcmp(jx, sig, 32) == 0, MCX_ERR_SIGNATURE_INVALID);
	r = 0;
out:
	BN_free(ab);
	BN_free(bb);
	BN_free(x);
	EC_POINT_free(PVT);
	EC_POINT_free(KPAK);
	EC_POINT_free(Y);
	EC_POINT_free(J);
	BN_CTX_free(bn);
	return r;
}
