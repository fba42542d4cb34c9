/*
 * mcxvault crypto — SAKKE, RFC 6508, with the RFC 6509 parameter set 1.
 *
 * Arithmetic: F_p in Montgomery form on 16 fixed 64-bit limbs (crypto/mont16.h:
 * portable or mulx/adx, chosen at run time), F_p^2 = F_p[i]/(i^2 + 1)
 * (p = 3 mod 4).  Curve points use homogeneous projective coordinates with the
 * complete formulas of Renes-Costello-Batina 2016 (Algorithms 4, 5 and 6,
 * a = -3; here b = 0), so a scalar multiplication has no exceptional case and
 * no branch: every scalar multiplication (z, (z+b)^-1, r, r b) is a
 * fixed-base comb over a table of P or Z with masked (constant-time) lookups;
 * g^r is the same comb over g.  Inversions of secrets are blinded.  The Miller
 * loop uses Jacobian coordinates and only branches on the NAF digits of
 * q - 1, which are public.  docs/crypto.md ("Constant time", "Speed").
 *
 * Clauses: s.2.1 HashToIntegerRange, s.3.2 the Tate-Lichtenbaum pairing and
 * the F_p representation of PF_p, s.6.1.1 RSK issue, s.6.1.2 RSK validation,
 * s.6.2.1 encapsulation, s.6.2.2 decapsulation (with the R re-computation).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "crypto/internal.h"
#include "crypto/mont.h"
#include "crypto/mont16.h"
#include "mcx/sakke.h"

#define NL 16

typedef struct {
	uint64_t v[NL];
} fe;

struct fp2 {
	fe a, b;   /* a + b i */
};

struct apt {
	fe x, y;   /* affine, Montgomery form */
};

struct ppt {
	fe x, y, z;   /* homogeneous projective; (0:1:0) is the point at infinity */
};

struct jac {
	fe X, Y, Z;   /* Jacobian: x = X/Z^2, y = Y/Z^3 (Miller loop, table set-up) */
};

/*
 * Fixed-base comb (Lim-Lee) for scalars < 2^1024: COMB_M tables of 2^COMB_T
 * entries, teeth COMB_D bits apart.  Table j, entry e (bits e_0..e_4) holds
 * sum_i e_i 2^((COMB_T j + i) COMB_D) B; a multiplication is COMB_D - 1
 * doublings and COMB_M COMB_D additions of entries chosen by masked scans.
 */
#define COMB_T 6
#define COMB_M 4
#define COMB_N (1 << COMB_T)
#define COMB_D 43                       /* ceil(1024 / (COMB_T COMB_M)) */
/*
 * P also has a comb with teeth COMB_D_ID bits apart for the public [b]P of an
 * identifier b of at most COMB_T COMB_M COMB_D_ID = 264 bits (a TS 33.180 UID
 * is 256): 10 doublings and 44 additions instead of 42 and 43 (issue 11).
 */
#define COMB_D_ID 11

struct pt_comb {
	struct apt e[COMB_M][COMB_N];   /* affine; e[j][0] (the point at infinity) unused */
};

/* The same comb for g in PF_p: entry = class of 1 + t i, stored as t (e[j][0] = 0). */
struct g_comb {
	fe t[COMB_M][COMB_N];
};

#define Z_CACHE 4

struct mcx_sakke_params {
	struct mcx_mont fp;      /* arithmetic mod p */
	struct mcx_mont fq;      /* arithmetic mod q */
	struct apt P;            /* the generator */
	fe g;                    /* g = <P,P> in the F_p representation, Montgomery form */
	uint64_t q[NL], q2[NL], q4[NL], qm1[NL];
	unsigned qbits;
	struct pt_comb Pc;       /* comb for P */
	struct pt_comb Pid;      /* comb for P, teeth COMB_D_ID apart (public identifiers) */
	struct g_comb gc;        /* comb for g */
	int8_t naf[MCX_MONT_MAX_LIMBS * 64 + 1];   /* NAF of q - 1, digit i for 2^i */
	unsigned naf_len;        /* digits (the top one is 1) */
	size_t naf_steps;        /* Miller lines: naf_len - 1 doublings + non-zero digits below the top */
	/*
	 * The one mutable part: the public-key contexts of the last Z_CACHE Z
	 * values used through the byte-oriented API, most recent first
	 * (reference counted, under lock).
	 */
	pthread_mutex_t lock;
	int lock_ok;
	struct mcx_sakke_public *cached[Z_CACHE];
	/*
	 * The last Z_CACHE values of Z that encapsulation met outside the cache:
	 * a Z seen once gets no table (cold_R, no 64 KiB comb); one that comes
	 * back gets its context built and cached.
	 */
	uint8_t seen[Z_CACHE][MCX_SAKKE_POINT_LEN];
	unsigned seen_next;
};

struct mcx_sakke_public {
	const struct mcx_sakke_params *params;
	struct apt Z;
	struct pt_comb Zc;       /* comb for Z */
	uint8_t Zb[MCX_SAKKE_POINT_LEN];
	unsigned refs;           /* cache entries only, under params->lock */
};

/* RFC 6509 Appendix A, parameter set 1. */
static const char SAKKE_P_HEX[] =
	"997ABB1F0A563FDA65C61198DAD0657A416C0CE19CB48261BE9AE358B3E01A2E"
	"F40AAB27E2FC0F1B228730D531A59CB0E791B39FF7C88A19356D27F4A666A6D0"
	"E26C6487326B4CD4512AC5CD65681CE1B6AFF4A831852A82A7CF3C521C3C09AA"
	"9F94D6AF56971F1FFCE3E82389857DB080C5DF10AC7ACE87666D807AFEA85FEB";
static const char SAKKE_Q_HEX[] =
	"265EAEC7C2958FF69971846636B4195E905B0338672D20986FA6B8D62CF8068B"
	"BD02AAC9F8BF03C6C8A1CC354C69672C39E46CE7FDF222864D5B49FD2999A9B4"
	"389B1921CC9AD335144AB173595A07386DABFD2A0C614AA0A9F3CF14870F026A"
	"A7E535ABD5A5C7C7FF38FA08E2615F6C203177C42B1EB3A1D99B601EBFAA17FB";
static const char SAKKE_PX_HEX[] =
	"53FC09EE332C29AD0A7990053ED9B52A2B1A2FD60AEC69C698B2F204B6FF7CBF"
	"B5EDB6C0F6CE2308AB10DB9030B09E1043D5F22CDB9DFA55718BD9E7406CE890"
	"9760AF765DD5BCCB337C86548B72F2E1A702C3397A60DE74A7C1514DBA66910D"
	"D5CFB4CC80728D87EE9163A5B63F73EC80EC46C4967E0979880DC8ABEAE63895";
static const char SAKKE_PY_HEX[] =
	"0A8249063F6009F1F9F1F0533634A135D3E82016029906963D778D821E141178"
	"F5EA69F4654EC2B9E7F7F5E5F0DE55F66B598CCF9A140B2E416CFF0CA9E032B9"
	"70DAE117AD547C6CCAD696B5B7652FE0AC6F1E80164AA989492D979FC5A4D5F2"
	"13515AD7E9CB99A980BDAD5AD5BB4636ADB9B5706A67DCDE75573FD71BEF16D7";
static const char SAKKE_G_HEX[] =
	"66FC2A432B6EA392148F15867D623068C6A87BD1FB94C41E27FABE658E015A87"
	"371E94744C96FEDA449AE9563F8BC446CBFDA85D5D00EF577072DA8F541721BE"
	"EE0FAED1828EAB90B99DFB0138C7843355DF0460B4A9FD74B4F1A32BCAFA1FFA"
	"D682C033A7942BCCE3720F20B9B7B0403C8CAE87B7A0042ACDE0FAB36461EA46";

#define WIPE(x) mcx_crypto_wipe(&(x), sizeof(x))

/* ---- F_p ---------------------------------------------------------------- */

static inline void fmul(const struct mcx_sakke_params *s, fe *r, const fe *a, const fe *b)
{
	mcx_mont16_mul(r->v, a->v, b->v, s->fp.m, s->fp.n0);
}

static inline void fsqr(const struct mcx_sakke_params *s, fe *r, const fe *a)
{
	mcx_mont16_sqr(r->v, a->v, s->fp.m, s->fp.n0);
}

/*
 * r = a + b and r = a - b mod p: one carry chain, one borrow chain and a
 * masked select, unrolled (x86-64: adc/sbb through _addcarry_u64).
 */
static inline void fadd(const struct mcx_sakke_params *s, fe *r, const fe *a, const fe *b)
{
	uint64_t t[NL], u[NL], keep;
#if defined(__x86_64__)
	unsigned char c = 0, bw = 0;
#pragma GCC unroll 16
	for (size_t i = 0; i < NL; i++)
		c = _addcarry_u64(c, a->v[i], b->v[i], (unsigned long long *)&t[i]);
#pragma GCC unroll 16
	for (size_t i = 0; i < NL; i++)
		bw = _subborrow_u64(bw, t[i], s->fp.m[i], (unsigned long long *)&u[i]);
	keep = 0 - (uint64_t)(bw & (c ^ 1));
#else
	uint64_t carry = mcx_limbs_add(t, a->v, b->v, NL);
	uint64_t borrow = mcx_limbs_sub(u, t, s->fp.m, NL);
	keep = 0 - (borrow & (carry ^ 1));
#endif
#pragma GCC unroll 16
	for (size_t i = 0; i < NL; i++)
		r->v[i] = (t[i] & keep) | (u[i] & ~keep);
}

static inline void fsub(const struct mcx_sakke_params *s, fe *r, const fe *a, const fe *b)
{
	uint64_t t[NL], mask;
#if defined(__x86_64__)
	unsigned char bw = 0, c = 0;
#pragma GCC unroll 16
	for (size_t i = 0; i < NL; i++)
		bw = _subborrow_u64(bw, a->v[i], b->v[i], (unsigned long long *)&t[i]);
	mask = 0 - (uint64_t)bw;
#pragma GCC unroll 16
	for (size_t i = 0; i < NL; i++)
		c = _addcarry_u64(c, t[i], s->fp.m[i] & mask, (unsigned long long *)&r->v[i]);
	(void)c;
#else
	uint64_t madd[NL];
	mask = 0 - mcx_limbs_sub(t, a->v, b->v, NL);
	for (size_t i = 0; i < NL; i++)
		madd[i] = s->fp.m[i] & mask;
	(void)mcx_limbs_add(r->v, t, madd, NL);
#endif
}

/*
 * r = a^-1 (Montgomery form in and out) modulo p or q, blinded: with v
 * uniformly random in [0, m), e = mont(a, v) = a v R^-1 is independent of a,
 * so inverting e with the variable-time binary mcx_mont_inv_public (crypto/
 * mont.c) leaks nothing about a; then a^-1 R = mont(mont(e^-1 R, R^2), v).
 * About 0.2 M instructions instead of 2 M for a^(m-2) (and 1 M for OpenSSL's
 * binary BN_mod_inverse, which this replaced: issue 11).  Falls back to Fermat
 * (constant time) if the random source fails, and for a = 0 (r = 0).
 */
int mcx_sakke_inv_fermat;

static void inv_blinded(const struct mcx_mont *ctx, uint64_t r[NL], const uint64_t a[NL])
{
	uint8_t buf[128];
	uint64_t v[NL], e[NL], t[NL];
	int ok = 0;

	if (!mcx_sakke_inv_fermat && RAND_priv_bytes(buf, sizeof(buf)) == 1) {
		uint64_t borrow;
		(void)mcx_limbs_from_bytes(v, NL, buf, sizeof(buf));
		if (ctx->bits % 64 != 0)
			v[NL - 1] &= ((uint64_t)1 << (ctx->bits % 64)) - 1;   /* v < 2m */
		borrow = mcx_limbs_sub(t, v, ctx->m, NL);
		mcx_ct_select(v, v, t, 0 - borrow, NL);                   /* v < m */
		mcx_mont16_mul(e, a, v, ctx->m, ctx->n0);
		/* Public check (blinding): e is uniform and independent of a, so
		 * the inversion's branches on it reveal nothing.  e = 0 iff a = 0
		 * or v = 0: Fermat below. */
		mcx_ct_public(e, sizeof(e));
		ok = mcx_mont_inv_public(ctx, t, e) == 0;
	}
	if (ok) {
		mcx_mont16_mul(t, t, ctx->rr, ctx->m, ctx->n0);
		mcx_ct_taint(t, sizeof(t), a, NL * sizeof(a[0]));   /* a^-1 is as secret as a */
		mcx_mont16_mul(r, t, v, ctx->m, ctx->n0);
	} else {
		mcx_mont16_inv(ctx, r, a);
	}
	mcx_crypto_wipe(buf, sizeof(buf));
	mcx_crypto_wipe(v, sizeof(v));
	mcx_crypto_wipe(e, sizeof(e));
	mcx_crypto_wipe(t, sizeof(t));
}

static void finv(const struct mcx_sakke_params *s, fe *r, const fe *a)
{
	inv_blinded(&s->fp, r->v, a->v);
}

static void fone(const struct mcx_sakke_params *s, fe *r)
{
	memcpy(r->v, s->fp.one, sizeof(r->v));
}

/* Plain big-endian 128 octets (< p) <-> Montgomery form. */
static int fe_from_bytes(const struct mcx_sakke_params *s, fe *r, const uint8_t in[128])
{
	uint64_t t[NL];
	/* Public check: the coordinate of an input point is < p (a verdict on the input). */
	if (mcx_limbs_from_bytes(t, NL, in, 128) != 0 ||
	    !mcx_ct_reveal(mcx_ct_limbs_lt(t, s->fp.m, NL)))
		return -1;
	mcx_mont16_mul(r->v, t, s->fp.rr, s->fp.m, s->fp.n0);
	return 0;
}

static void fe_to_bytes(const struct mcx_sakke_params *s, uint8_t out[128], const fe *a)
{
	uint64_t t[NL];
	mcx_mont_from(&s->fp, t, a->v);
	mcx_limbs_to_bytes(out, 128, t, NL);
	WIPE(t);
}

/* ---- F_p^2 -------------------------------------------------------------- */

static void fp2_mul(const struct mcx_sakke_params *s, struct fp2 *r, const struct fp2 *x,
		    const struct fp2 *y)
{
	fe t0, t1, t2, t3;
	fmul(s, &t0, &x->a, &y->a);
	fmul(s, &t1, &x->b, &y->b);
	fadd(s, &t2, &x->a, &x->b);
	fadd(s, &t3, &y->a, &y->b);
	fmul(s, &t2, &t2, &t3);
	fsub(s, &r->a, &t0, &t1);
	fsub(s, &t2, &t2, &t0);
	fsub(s, &r->b, &t2, &t1);
}

static void fp2_sqr(const struct mcx_sakke_params *s, struct fp2 *r, const struct fp2 *x)
{
	fe t0, t1, t2;
	fadd(s, &t0, &x->a, &x->b);
	fsub(s, &t1, &x->a, &x->b);
	fmul(s, &t2, &x->a, &x->b);
	fmul(s, &r->a, &t0, &t1);
	fadd(s, &r->b, &t2, &t2);
}

/* ---- E(F_p): complete projective formulas (RCB 2016, a = -3, b = 0) ------- */

static void pt_set_inf(const struct mcx_sakke_params *s, struct ppt *r)
{
	memset(r, 0, sizeof(*r));
	fone(s, &r->y);
}

static void pt_from_affine(const struct mcx_sakke_params *s, struct ppt *r, const struct apt *a)
{
	r->x = a->x;
	r->y = a->y;
	fone(s, &r->z);
}

/*
 * The second half of RCB 2016 Algorithms 4 and 5 with b = 0, shared by the
 * full and the mixed addition: from t0 = X1X2, t1 = Y1Y2, t2 = Z1Z2, t3, t4
 * and Y3 = X1Z2 + X2Z1 as both heads compute them, the sum r.
 */
static inline void pt_add_finish(const struct mcx_sakke_params *s, struct ppt *r, fe t0, fe t1, fe t2,
				 const fe *t3, const fe *t4, fe y3)
{
	static const fe zero;
	fe x3, z3;

	x3 = y3;                      /* X3 = Y3 - b*t2 */
	fadd(s, &z3, &x3, &x3);
	fadd(s, &x3, &x3, &z3);
	fsub(s, &z3, &t1, &x3);
	fadd(s, &x3, &t1, &x3);
	fadd(s, &t1, &t2, &t2);
	fadd(s, &t2, &t1, &t2);
	fsub(s, &y3, &zero, &t2);     /* Y3 = b*Y3 - t2 */
	fsub(s, &y3, &y3, &t0);
	fadd(s, &t1, &y3, &y3);
	fadd(s, &y3, &t1, &y3);
	fadd(s, &t1, &t0, &t0);
	fadd(s, &t0, &t1, &t0);
	fsub(s, &t0, &t0, &t2);
	fmul(s, &t1, t4, &y3);
	fmul(s, &t2, &t0, &y3);
	fmul(s, &y3, &x3, &z3);
	fadd(s, &y3, &y3, &t2);
	fmul(s, &x3, t3, &x3);
	fsub(s, &x3, &x3, &t1);
	fmul(s, &z3, t4, &z3);
	fmul(s, &t1, t3, &t0);
	fadd(s, &z3, &z3, &t1);
	r->x = x3;
	r->y = y3;
	r->z = z3;
}

/* Algorithm 4 with b = 0 (steps 19 and 25 are multiplications by b). */
static void pt_add(const struct mcx_sakke_params *s, struct ppt *r, const struct ppt *p,
		   const struct ppt *q)
{
	fe t0, t1, t2, t3, t4, x3, y3;

	fmul(s, &t0, &p->x, &q->x);
	fmul(s, &t1, &p->y, &q->y);
	fmul(s, &t2, &p->z, &q->z);
	fadd(s, &t3, &p->x, &p->y);
	fadd(s, &t4, &q->x, &q->y);
	fmul(s, &t3, &t3, &t4);
	fadd(s, &t4, &t0, &t1);
	fsub(s, &t3, &t3, &t4);
	fadd(s, &t4, &p->y, &p->z);
	fadd(s, &x3, &q->y, &q->z);
	fmul(s, &t4, &t4, &x3);
	fadd(s, &x3, &t1, &t2);
	fsub(s, &t4, &t4, &x3);
	fadd(s, &x3, &p->x, &p->z);
	fadd(s, &y3, &q->x, &q->z);
	fmul(s, &x3, &x3, &y3);
	fadd(s, &y3, &t0, &t2);
	fsub(s, &y3, &x3, &y3);
	pt_add_finish(s, r, t0, t1, t2, &t3, &t4, y3);
}

/* Algorithm 6 with b = 0 (steps 8 and 18 are multiplications by b). */
static void pt_dbl(const struct mcx_sakke_params *s, struct ppt *r, const struct ppt *p)
{
	static const fe zero;
	fe t0, t1, t2, t3, x3, y3, z3;

	fsqr(s, &t0, &p->x);
	fsqr(s, &t1, &p->y);
	fsqr(s, &t2, &p->z);
	fmul(s, &t3, &p->x, &p->y);
	fadd(s, &t3, &t3, &t3);
	fmul(s, &z3, &p->x, &p->z);
	fadd(s, &z3, &z3, &z3);
	fsub(s, &y3, &zero, &z3);     /* Y3 = b*t2 - Z3 */
	fadd(s, &x3, &y3, &y3);
	fadd(s, &y3, &x3, &y3);
	fsub(s, &x3, &t1, &y3);
	fadd(s, &y3, &t1, &y3);
	fmul(s, &y3, &x3, &y3);
	fmul(s, &x3, &x3, &t3);
	fadd(s, &t3, &t2, &t2);
	fadd(s, &t2, &t2, &t3);
	fsub(s, &z3, &zero, &t2);     /* Z3 = b*Z3 - t2 */
	fsub(s, &z3, &z3, &t0);
	fadd(s, &t3, &z3, &z3);
	fadd(s, &z3, &z3, &t3);
	fadd(s, &t3, &t0, &t0);
	fadd(s, &t0, &t3, &t0);
	fsub(s, &t0, &t0, &t2);
	fmul(s, &t0, &t0, &z3);
	fadd(s, &y3, &y3, &t0);
	fmul(s, &t0, &p->y, &p->z);
	fadd(s, &t0, &t0, &t0);
	fmul(s, &z3, &t0, &z3);
	fsub(s, &x3, &x3, &z3);
	fmul(s, &z3, &t0, &t1);
	fadd(s, &z3, &z3, &z3);
	fadd(s, &z3, &z3, &z3);
	r->x = x3;
	r->y = y3;
	r->z = z3;
}

/* To affine; -1 for the point at infinity. */
static int pt_to_affine(const struct mcx_sakke_params *s, struct apt *r, const struct ppt *p)
{
	fe zi;
	/* Public check: only an invalid input (z + b = 0, a point not of order q) or
	 * a failed decapsulation reaches infinity; never a valid secret. */
	if (mcx_ct_reveal(mcx_ct_limbs_zero(p->z.v, NL)))
		return -1;
	finv(s, &zi, &p->z);
	fmul(s, &r->x, &p->x, &zi);
	fmul(s, &r->y, &p->y, &zi);
	WIPE(zi);
	return 0;
}

/* y^2 == x^3 - 3x, y != 0 (no 2-torsion point is of order q). */
static int apt_on_curve(const struct mcx_sakke_params *s, const struct apt *a)
{
	fe lhs, rhs, three, t;
	fsqr(s, &lhs, &a->y);
	fone(s, &t);
	fadd(s, &three, &t, &t);
	fadd(s, &three, &three, &t);   /* 3 */
	fsqr(s, &t, &a->x);
	fsub(s, &t, &t, &three);
	fmul(s, &rhs, &t, &a->x);
	/* Public check: the on-curve verdict on an input point. */
	return mcx_ct_reveal(mcx_ct_limbs_eq(lhs.v, rhs.v, NL) & ~mcx_ct_limbs_zero(a->y.v, NL));
}

/* RFC 6508 s.2.1 point encoding 0x04 || x || y; -1 when malformed or off the curve. */
static int pt_decode(const struct mcx_sakke_params *s, struct apt *r,
		     const uint8_t in[MCX_SAKKE_POINT_LEN])
{
	if (in[0] != 0x04 || fe_from_bytes(s, &r->x, in + 1) != 0 ||
	    fe_from_bytes(s, &r->y, in + 1 + 128) != 0 || !apt_on_curve(s, r))
		return -1;
	return 0;
}

static int pt_encode(const struct mcx_sakke_params *s, uint8_t out[MCX_SAKKE_POINT_LEN],
		     const struct ppt *p)
{
	struct apt a;
	if (pt_to_affine(s, &a, p) != 0)
		return -1;
	out[0] = 0x04;
	fe_to_bytes(s, out + 1, &a.x);
	fe_to_bytes(s, out + 1 + 128, &a.y);
	WIPE(a);
	return 0;
}

/* ---- fixed-base combs ------------------------------------------------------- */

/* Mixed addition r = p + (a, 1): RCB 2016 Algorithm 5 (= Algorithm 4 with Z2 = 1), b = 0. */
static void pt_madd(const struct mcx_sakke_params *s, struct ppt *r, const struct ppt *p,
		    const struct apt *q)
{
	fe t0, t1, t2, t3, t4, y3;

	fmul(s, &t0, &p->x, &q->x);
	fmul(s, &t1, &p->y, &q->y);
	t2 = p->z;
	fadd(s, &t3, &p->x, &p->y);
	fadd(s, &t4, &q->x, &q->y);
	fmul(s, &t3, &t3, &t4);
	fadd(s, &t4, &t0, &t1);
	fsub(s, &t3, &t3, &t4);
	fmul(s, &t4, &q->y, &p->z);
	fadd(s, &t4, &t4, &p->y);
	fmul(s, &y3, &q->x, &p->z);
	fadd(s, &y3, &y3, &p->x);
	pt_add_finish(s, r, t0, t1, t2, &t3, &t4, y3);
}

/* The comb digit of k for table j and column col (positions public, value secret). */
static inline uint64_t comb_digit_d(const uint64_t k[NL], unsigned j, unsigned col, unsigned d)
{
	uint64_t e = 0;
	for (unsigned i = 0; i < COMB_T; i++) {
		unsigned pos = (COMB_T * j + i) * d + col;
		if (pos < 64 * NL)                        /* public */
			e |= (uint64_t)mcx_limbs_bit(k, pos) << i;
	}
	return e;
}

static inline uint64_t comb_digit(const uint64_t k[NL], unsigned j, unsigned col)
{
	return comb_digit_d(k, j, col, COMB_D);
}

/*
 * r = 1/a_i for n values (r may alias a), one inversion (Montgomery's trick);
 * -1 if one is 0 (the only branch: on the product).
 */
static int batch_inv(const struct mcx_sakke_params *s, fe *r, const fe *a, size_t n, fe *scratch)
{
	fe acc, inv, t;
	int ret = -1;

	fone(s, &acc);
	for (size_t i = 0; i < n; i++) {
		scratch[i] = acc;
		fmul(s, &acc, &acc, &a[i]);
	}
	/* Public check: a zero factor means an invalid input point (never a valid RSK). */
	if (!mcx_ct_reveal(mcx_ct_limbs_zero(acc.v, NL))) {
		finv(s, &inv, &acc);
		for (size_t i = n; i-- > 0;) {
			fmul(s, &t, &inv, &scratch[i]);
			fmul(s, &inv, &inv, &a[i]);
			r[i] = t;
		}
		ret = 0;
	}
	WIPE(acc);
	WIPE(inv);
	WIPE(t);
	return ret;
}

static void ml_dbl(const struct mcx_sakke_params *s, struct jac *c, const struct apt *Q,
		   struct fp2 *l, fe coef[3]);

/*
 * Builds the comb of a public point B of order q; -1 if an entry is infinity.
 * (teeth spacing bits apart: COMB_D, or COMB_D_ID for P's identifier comb).
 * Public data, so the teeth [2^(spacing k)]B come from the cheaper Jacobian
 * doubling (3 M + 5 S, not complete: fine for a point of odd order, never
 * infinity here) and are then moved to homogeneous coordinates.
 */
static int pt_comb_build(const struct mcx_sakke_params *s, struct pt_comb *c, const struct apt *B,
			 unsigned spacing)
{
	struct ppt teeth[COMB_T * COMB_M], *pp = NULL;
	struct jac jb;
	fe *zs = NULL, *zi = NULL, *scratch = NULL;
	size_t n = COMB_M * (COMB_N - 1), k = 0;
	int ret = -1;

	pp = malloc(n * sizeof(*pp));
	zs = malloc(n * sizeof(*zs));
	zi = malloc(n * sizeof(*zi));
	scratch = malloc(n * sizeof(*scratch));
	if (pp == NULL || zs == NULL || zi == NULL || scratch == NULL)
		goto out;
	pt_from_affine(s, &teeth[0], B);
	jb.X = B->x;
	jb.Y = B->y;
	fone(s, &jb.Z);
	for (unsigned i = 1; i < COMB_T * COMB_M; i++) {
		fe z2;
		for (unsigned d = 0; d < spacing; d++)
			ml_dbl(s, &jb, NULL, NULL, NULL);
		fmul(s, &teeth[i].x, &jb.X, &jb.Z);   /* (X Z : Y : Z^3) */
		teeth[i].y = jb.Y;
		fsqr(s, &z2, &jb.Z);
		fmul(s, &teeth[i].z, &z2, &jb.Z);
	}
	for (unsigned j = 0; j < COMB_M; j++) {
		size_t base = k;
		for (unsigned e = 1; e < COMB_N; e++, k++) {
			unsigned low = (unsigned)__builtin_ctz(e), rest = e & (e - 1);
			if (rest == 0)
				pp[k] = teeth[COMB_T * j + low];
			else
				pt_add(s, &pp[k], &pp[base + rest - 1], &teeth[COMB_T * j + low]);
			zs[k] = pp[k].z;
		}
	}
	if (batch_inv(s, zi, zs, n, scratch) != 0)
		goto out;
	memset(c, 0, sizeof(*c));
	k = 0;
	for (unsigned j = 0; j < COMB_M; j++)
		for (unsigned e = 1; e < COMB_N; e++, k++) {
			fmul(s, &c->e[j][e].x, &pp[k].x, &zi[k]);
			fmul(s, &c->e[j][e].y, &pp[k].y, &zi[k]);
		}
	ret = 0;
out:
	free(pp);
	free(zs);
	free(zi);
	free(scratch);
	return ret;
}

/*
 * out = entry idx of a table of n entries of size octets (a multiple of 128)
 * by a masked scan of entries first..n-1 (idx secret): every entry is read,
 * 16 octets at a time into eight register accumulators; all-zero when
 * idx < first.
 */
static inline __attribute__((always_inline)) void ct_scan(void *out, const void *table, size_t size, size_t first, size_t n,
			   uint64_t idx)
{
#if defined(__SSE2__)
	for (size_t l = 0; l < size / 16; l += 8) {
		__m128i a[8];
#pragma GCC unroll 8
		for (size_t v = 0; v < 8; v++)
			a[v] = _mm_setzero_si128();
		for (size_t i = first; i < n; i++) {
			const __m128i *in = (const __m128i *)(const void *)((const uint8_t *)table + i * size) + l;
			__m128i m = _mm_set1_epi64x((long long)mcx_ct_is_zero64(i ^ idx));
#pragma GCC unroll 8
			for (size_t v = 0; v < 8; v++)
				a[v] = _mm_or_si128(a[v], _mm_and_si128(_mm_loadu_si128(in + v), m));
		}
#pragma GCC unroll 8
		for (size_t v = 0; v < 8; v++)
			_mm_storeu_si128((__m128i *)out + l + v, a[v]);
	}
#else
	uint64_t *o = out;
	memset(out, 0, size);
	for (size_t i = first; i < n; i++) {
		const uint64_t *in = (const uint64_t *)(const void *)((const uint8_t *)table + i * size);
		uint64_t m = mcx_ct_is_zero64(i ^ idx);
		for (size_t l = 0; l < size / 8; l++)
			o[l] |= in[l] & m;
	}
#endif
}

_Static_assert(sizeof(struct apt) % 128 == 0 && sizeof(fe) % 128 == 0, "ct_scan works in 128 octets");

/* sel = c->e[j][e] by a masked scan of the whole table (all-zero for e = 0). */
static inline void comb_select(struct apt *sel, const struct pt_comb *c, unsigned j, uint64_t e)
{
	ct_scan(sel, c->e[j], sizeof(struct apt), 1, COMB_N, e);
}

/*
 * r = [k_0]B_0 + ... + [k_(n-1)]B_(n-1) from the bases' combs (n = 1 or 2,
 * sharing the doublings), constant time in the k_i (< 2^1024): every column
 * does the same doubling, scans and additions; a zero digit's addition is
 * discarded by a masked select.  Mixed addition is complete while the affine
 * point is not infinity, and entries never are (checked when a comb is built).
 */
static void pt_mul_combs(const struct mcx_sakke_params *s, struct ppt *r,
			 const struct pt_comb *const *c, const uint64_t *const *k, unsigned n)
{
	struct ppt acc, t;
	struct apt sel;

	pt_set_inf(s, &acc);
	for (unsigned col = COMB_D; col-- > 0;) {
		if (col != COMB_D - 1)
			pt_dbl(s, &acc, &acc);
		for (unsigned i = 0; i < n; i++)
			for (unsigned j = 0; j < COMB_M; j++) {
				uint64_t e = comb_digit(k[i], j, col);
				uint64_t nz = ~mcx_ct_is_zero64(e);
				comb_select(&sel, c[i], j, e);
				pt_madd(s, &t, &acc, &sel);
				mcx_ct_select(acc.x.v, t.x.v, acc.x.v, nz, NL);
				mcx_ct_select(acc.y.v, t.y.v, acc.y.v, nz, NL);
				mcx_ct_select(acc.z.v, t.z.v, acc.z.v, nz, NL);
			}
	}
	*r = acc;
	WIPE(acc);
	WIPE(t);
	WIPE(sel);
}

static void pt_mul_comb(const struct mcx_sakke_params *s, struct ppt *r, const struct pt_comb *c,
			const uint64_t k[NL])
{
	pt_mul_combs(s, r, &c, &k, 1);
}

/* Builds g's comb (set-up; g is public). */
static int g_comb_build(const struct mcx_sakke_params *s, struct g_comb *c)
{
	struct fp2 teeth[COMB_T * COMB_M], *pp = NULL;
	fe *as = NULL, *ai = NULL, *scratch = NULL;
	size_t n = COMB_M * (COMB_N - 1), k = 0;
	int ret = -1;

	pp = malloc(n * sizeof(*pp));
	as = malloc(n * sizeof(*as));
	ai = malloc(n * sizeof(*ai));
	scratch = malloc(n * sizeof(*scratch));
	if (pp == NULL || as == NULL || ai == NULL || scratch == NULL)
		goto out;
	fone(s, &teeth[0].a);
	teeth[0].b = s->g;
	for (unsigned i = 1; i < COMB_T * COMB_M; i++) {
		teeth[i] = teeth[i - 1];
		for (unsigned d = 0; d < COMB_D; d++)
			fp2_sqr(s, &teeth[i], &teeth[i]);
	}
	for (unsigned j = 0; j < COMB_M; j++) {
		size_t base = k;
		for (unsigned e = 1; e < COMB_N; e++, k++) {
			unsigned low = (unsigned)__builtin_ctz(e), rest = e & (e - 1);
			if (rest == 0)
				pp[k] = teeth[COMB_T * j + low];
			else
				fp2_mul(s, &pp[k], &pp[base + rest - 1], &teeth[COMB_T * j + low]);
			as[k] = pp[k].a;
		}
	}
	/* a = 0 would be the class of i, of order 2: impossible for a power of g. */
	if (batch_inv(s, ai, as, n, scratch) != 0)
		goto out;
	memset(c, 0, sizeof(*c));
	k = 0;
	for (unsigned j = 0; j < COMB_M; j++)
		for (unsigned e = 1; e < COMB_N; e++, k++)
			fmul(s, &c->t[j][e], &pp[k].b, &ai[k]);
	ret = 0;
out:
	free(pp);
	free(as);
	free(ai);
	free(scratch);
	return ret;
}

/*
 * g^r as a class a + b i of PF_p (not yet normalised), constant time in r:
 * per column one F_p^2 squaring (2 M) and COMB_M multiplications by 1 + t i
 * (2 M each), t chosen by a masked scan (t = 0 for a zero digit: the identity).
 */
static void g_pow_comb(const struct mcx_sakke_params *s, struct fp2 *out, const uint64_t r[NL])
{
	struct fp2 acc;
	fe t, u0, u1;

	memset(&acc, 0, sizeof(acc));
	fone(s, &acc.a);
	for (unsigned col = COMB_D; col-- > 0;) {
		if (col != COMB_D - 1)
			fp2_sqr(s, &acc, &acc);
		for (unsigned j = 0; j < COMB_M; j++) {
			uint64_t e = comb_digit(r, j, col);
			ct_scan(&t, s->gc.t[j], sizeof(fe), 1, COMB_N, e);
			/* (a + b i)(1 + t i) = (a - b t) + (b + a t) i */
			fmul(s, &u0, &acc.b, &t);
			fmul(s, &u1, &acc.a, &t);
			fsub(s, &acc.a, &acc.a, &u0);
			fadd(s, &acc.b, &acc.b, &u1);
		}
	}
	*out = acc;
	WIPE(acc);
	WIPE(t);
	WIPE(u0);
	WIPE(u1);
}

/* ---- the pairing, RFC 6508 s.3.2 ------------------------------------------ */

/*
 * <R,Q> = e(R, psi(Q))^((p^2-1)/q) in the F_p representation, psi(x,y) = (-x, iy).
 * Miller's algorithm over the signed digits (NAF, public) of q - 1 (the last
 * addition would give a vertical line, killed by the final exponentiation), C
 * in Jacobian coordinates; the lines are scaled by F_p factors that the final
 * exponentiation also removes, and so are the vertical lines of the NAF's
 * subtractions (f_(m-1) = f_m l_(C,-R) / (v_(C-R) v_R)).  Line through C
 * (slope lambda) at psi(Q):
 *     l = lambda (x_Q + x_C) - y_C + i y_Q.
 * Each step either evaluates the line at psi(Q) directly (Q != NULL), or
 * returns it as l = A x_Q + B + i C y_Q (coef[0..2]) for a precomputed table.
 */
/* Doubling (dbl-2001-b, a = -3) and its tangent line. */
static void ml_dbl(const struct mcx_sakke_params *s, struct jac *c, const struct apt *Q,
		   struct fp2 *l, fe coef[3])
{
	fe x3, y3, z3, delta, gamma, beta, alpha, t0, t1;

	fsqr(s, &delta, &c->Z);
	fsqr(s, &gamma, &c->Y);
	fmul(s, &beta, &c->X, &gamma);
	fsub(s, &t0, &c->X, &delta);
	fadd(s, &t1, &c->X, &delta);
	fmul(s, &alpha, &t0, &t1);
	fadd(s, &t0, &alpha, &alpha);
	fadd(s, &alpha, &alpha, &t0);           /* 3 (X^2 - Z^4) */
	/* Z3 = 2 Y Z */
	fadd(s, &t0, &c->Y, &c->Z);
	fsqr(s, &t0, &t0);
	fsub(s, &t0, &t0, &gamma);
	fsub(s, &z3, &t0, &delta);
	fadd(s, &t1, &gamma, &gamma);           /* 2 Y^2 */
	if (Q != NULL) {                        /* public choice */
		/* real: alpha (X + x_Q Z^2) - 2 Y^2, imag: y_Q Z3 Z^2 */
		fmul(s, &t0, &Q->x, &delta);
		fadd(s, &t0, &t0, &c->X);
		fmul(s, &l->a, &alpha, &t0);
		fsub(s, &l->a, &l->a, &t1);
		fmul(s, &t0, &z3, &delta);
		fmul(s, &l->b, &t0, &Q->y);
	} else if (coef != NULL) {
		fmul(s, &coef[0], &alpha, &delta);
		fmul(s, &t0, &alpha, &c->X);
		fsub(s, &coef[1], &t0, &t1);
		fmul(s, &coef[2], &z3, &delta);
	}                                       /* neither: the point only */
	/* X3 = alpha^2 - 8 beta, Y3 = alpha (4 beta - X3) - 8 gamma^2 */
	fadd(s, &beta, &beta, &beta);
	fadd(s, &beta, &beta, &beta);           /* 4 beta */
	fsqr(s, &x3, &alpha);
	fsub(s, &x3, &x3, &beta);
	fsub(s, &x3, &x3, &beta);
	fsub(s, &t0, &beta, &x3);
	fmul(s, &t0, &alpha, &t0);
	fsqr(s, &t1, &gamma);
	fadd(s, &t1, &t1, &t1);
	fadd(s, &t1, &t1, &t1);
	fadd(s, &t1, &t1, &t1);
	fsub(s, &y3, &t0, &t1);
	c->X = x3;
	c->Y = y3;
	c->Z = z3;
}

/*
 * Mixed addition C + (xr, yr) (madd-2007-bl) and the line through them;
 * sxq = x_Q + xr when Q != NULL.
 */
static void ml_add(const struct mcx_sakke_params *s, struct jac *c, const fe *xr, const fe *yr,
		   const struct apt *Q, const fe *sxq, struct fp2 *l, fe coef[3])
{
	fe x3, y3, z3, t0, t1, z1z1, u2, s2, h, hh, ii, jj, rr, vv;

	fsqr(s, &z1z1, &c->Z);
	fmul(s, &u2, xr, &z1z1);
	fmul(s, &s2, yr, &c->Z);
	fmul(s, &s2, &s2, &z1z1);
	fsub(s, &h, &u2, &c->X);
	fsqr(s, &hh, &h);
	fadd(s, &ii, &hh, &hh);
	fadd(s, &ii, &ii, &ii);
	fmul(s, &jj, &h, &ii);
	fsub(s, &rr, &s2, &c->Y);
	fadd(s, &rr, &rr, &rr);
	fmul(s, &vv, &c->X, &ii);
	fsqr(s, &x3, &rr);
	fsub(s, &x3, &x3, &jj);
	fsub(s, &x3, &x3, &vv);
	fsub(s, &x3, &x3, &vv);
	fsub(s, &t0, &vv, &x3);
	fmul(s, &t0, &rr, &t0);
	fmul(s, &t1, &c->Y, &jj);
	fadd(s, &t1, &t1, &t1);
	fsub(s, &y3, &t0, &t1);
	fadd(s, &t0, &c->Z, &h);
	fsqr(s, &t0, &t0);
	fsub(s, &t0, &t0, &z1z1);
	fsub(s, &z3, &t0, &hh);
	/* real: rr (x_Q + xr) - yr Z3, imag: y_Q Z3 */
	fmul(s, &t0, yr, &z3);
	if (Q != NULL) {                        /* public choice */
		fmul(s, &l->a, &rr, sxq);
		fsub(s, &l->a, &l->a, &t0);
		fmul(s, &l->b, &Q->y, &z3);
	} else {
		coef[0] = rr;
		fmul(s, &t1, &rr, xr);
		fsub(s, &coef[1], &t1, &t0);
		coef[2] = z3;
	}
	c->X = x3;
	c->Y = y3;
	c->Z = z3;
}

/*
 * The final exponentiation.  PF_p is F_p^2* modulo F_p* (RFC 6508 s.2.1 and
 * s.3.2): there v^(p-1) is the identity map, so only c = (p+1)/q = 4 is left;
 * the class of a + bi is represented by b/a.
 */
static void final_exp(const struct mcx_sakke_params *s, fe *out, const struct fp2 *v)
{
	struct fp2 l;
	fe t0;

	fp2_sqr(s, &l, v);
	fp2_sqr(s, &l, &l);
	finv(s, &t0, &l.a);
	fmul(s, out, &l.b, &t0);
	WIPE(l);
	WIPE(t0);
}

static void pairing(const struct mcx_sakke_params *s, fe *out, const struct apt *R,
		    const struct apt *Q)
{
	static const fe zero;
	struct jac c;
	struct fp2 v, l;
	fe sxq, nry;

	c.X = R->x;
	c.Y = R->y;
	fone(s, &c.Z);
	memset(&v, 0, sizeof(v));
	fone(s, &v.a);
	fadd(s, &sxq, &Q->x, &R->x);
	fsub(s, &nry, &zero, &R->y);
	for (int i = (int)s->naf_len - 2; i >= 0; i--) {
		ml_dbl(s, &c, Q, &l, NULL);
		fp2_sqr(s, &v, &v);
		fp2_mul(s, &v, &v, &l);
		if (s->naf[i] == 0)                     /* public: digits of q - 1 */
			continue;
		ml_add(s, &c, &R->x, s->naf[i] > 0 ? &R->y : &nry, Q, &sxq, &l, NULL);
		fp2_mul(s, &v, &v, &l);
	}
	final_exp(s, out, &v);
	WIPE(v);
	WIPE(l);
	WIPE(c);
	WIPE(nry);
}

/*
 * Precomputed Miller loop for a fixed first argument K (the receiver's RSK):
 * every line as l = lambda x_Q + c + i y_Q (normalised by its C), one pair per
 * doubling and per non-zero digit.  Evaluating at psi(R) then costs 1 M per
 * line plus the F_p^2 squaring and a 3 M multiplication.  Both K and R are in
 * the order-q group <P> (R is rejected by the re-computation otherwise), where
 * <R,K> = <K,R> (e([a]P, psi([b]P)) = e(P, psi(P))^(ab)).
 */
struct ml_lines {
	size_t n;
	fe *lam, *c;
};

static void ml_lines_free(struct ml_lines *t)
{
	if (t->lam != NULL)
		mcx_crypto_wipe(t->lam, t->n * sizeof(fe));
	if (t->c != NULL)
		mcx_crypto_wipe(t->c, t->n * sizeof(fe));
	free(t->lam);
	free(t->c);
	t->lam = t->c = NULL;
}

static int batch_inv(const struct mcx_sakke_params *s, fe *r, const fe *a, size_t n, fe *scratch);

/* Constant time in K (a secret): the operation sequence follows the NAF of q - 1. */
static int ml_lines_build(const struct mcx_sakke_params *s, struct ml_lines *t, const struct apt *K)
{
	static const fe zero;
	struct jac c;
	fe nky, coef[3], *A = NULL, *C = NULL, *scratch = NULL;
	size_t k = 0;
	int ret = -1;

	t->n = s->naf_steps;
	t->lam = malloc(t->n * sizeof(fe));
	t->c = malloc(t->n * sizeof(fe));
	A = malloc(t->n * sizeof(fe));
	C = malloc(t->n * sizeof(fe));
	scratch = malloc(t->n * sizeof(fe));
	if (t->lam == NULL || t->c == NULL || A == NULL || C == NULL || scratch == NULL)
		goto out;
	c.X = K->x;
	c.Y = K->y;
	fone(s, &c.Z);
	fsub(s, &nky, &zero, &K->y);
	for (int i = (int)s->naf_len - 2; i >= 0; i--) {
		ml_dbl(s, &c, NULL, NULL, coef);
		A[k] = coef[0];
		t->c[k] = coef[1];
		C[k++] = coef[2];
		if (s->naf[i] == 0)                     /* public */
			continue;
		ml_add(s, &c, &K->x, s->naf[i] > 0 ? &K->y : &nky, NULL, NULL, NULL, coef);
		A[k] = coef[0];
		t->c[k] = coef[1];
		C[k++] = coef[2];
	}
	if (k != t->n || batch_inv(s, C, C, k, scratch) != 0)
		goto out;
	for (size_t i = 0; i < k; i++) {
		fmul(s, &t->lam[i], &A[i], &C[i]);
		fmul(s, &t->c[i], &t->c[i], &C[i]);
	}
	ret = 0;
out:
	if (A != NULL)
		mcx_crypto_wipe(A, t->n * sizeof(fe));
	if (C != NULL)
		mcx_crypto_wipe(C, t->n * sizeof(fe));
	if (scratch != NULL)
		mcx_crypto_wipe(scratch, t->n * sizeof(fe));
	free(A);
	free(C);
	free(scratch);
	WIPE(c);
	WIPE(coef);
	WIPE(nky);
	if (ret != 0)
		ml_lines_free(t);
	return ret;
}

/* v *= (lam x + c) + i y (3 M Karatsuba plus 1 M). */
static inline void mul_line(const struct mcx_sakke_params *s, struct fp2 *v, const fe *lam,
			    const fe *c, const fe *x, const fe *y)
{
	fe u, t0, t1, t2, t3;
	fmul(s, &u, lam, x);
	fadd(s, &u, &u, c);
	fmul(s, &t0, &v->a, &u);
	fmul(s, &t1, &v->b, y);
	fadd(s, &t2, &v->a, &v->b);
	fadd(s, &t3, &u, y);
	fmul(s, &t2, &t2, &t3);
	fsub(s, &v->a, &t0, &t1);
	fsub(s, &t2, &t2, &t0);
	fsub(s, &v->b, &t2, &t1);
}

/* <K, R> from K's lines (= <R, K> for R, K in <P>). */
static void pairing_lines(const struct mcx_sakke_params *s, fe *out, const struct ml_lines *t,
			  const struct apt *R)
{
	struct fp2 v;
	size_t k = 0;

	memset(&v, 0, sizeof(v));
	fone(s, &v.a);
	for (int i = (int)s->naf_len - 2; i >= 0; i--) {
		fp2_sqr(s, &v, &v);
		mul_line(s, &v, &t->lam[k], &t->c[k], &R->x, &R->y);
		k++;
		if (s->naf[i] == 0)                     /* public */
			continue;
		mul_line(s, &v, &t->lam[k], &t->c[k], &R->x, &R->y);
		k++;
	}
	final_exp(s, out, &v);
	WIPE(v);
}

/* ---- hashing and scalars ---------------------------------------------------- */

/*
 * RFC 6508 s.2.1 HashToIntegerRange(s, n, SHA-256), producing the l blocks
 * v_1 || ... || v_l (32 l octets) before the reduction mod n.
 */
static int hash_blocks(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
		       unsigned l, uint8_t *out)
{
	uint8_t A[32], h[64];
	int ret = -1;

	if (mcx_crypto_sha256(a, alen, b, blen, A) != 0)
		goto out;
	memset(h, 0, 32);
	memcpy(h + 32, A, 32);
	for (unsigned i = 0; i < l; i++) {
		if (mcx_crypto_sha256(h, 32, NULL, 0, h) != 0 ||    /* h_i = hash(h_(i-1)) */
		    mcx_crypto_sha256(h, 64, NULL, 0, out + 32 * i) != 0)  /* v_i = hash(h_i || A) */
			goto out;
	}
	ret = 0;
out:
	WIPE(A);
	WIPE(h);
	return ret;
}

/* x mod q for x < 2^1024 < 8q, by three masked conditional subtractions. */
static void reduce_q(const struct mcx_sakke_params *s, uint64_t x[NL])
{
	const uint64_t *m[3] = { s->q4, s->q2, s->q };
	uint64_t t[NL];
	for (int i = 0; i < 3; i++) {
		uint64_t borrow = mcx_limbs_sub(t, x, m[i], NL);
		mcx_ct_select(x, x, t, 0 - borrow, NL);
	}
	WIPE(t);
}

/* r = HashToIntegerRange(SSV || b, q) (RFC 6508 s.6.2.1 step 1). */
static int hash_to_q(const struct mcx_sakke_params *s, uint64_t r[NL],
		     const uint8_t ssv[MCX_SAKKE_SSV_LEN], const uint8_t *id, size_t id_len)
{
	uint8_t v[128];
	unsigned l = (s->qbits + 255) / 256;   /* ceiling(lg(q) / 256) = 4 */
	if (l * 32 != sizeof(v) || hash_blocks(ssv, MCX_SAKKE_SSV_LEN, id, id_len, l, v) != 0) {
		WIPE(v);
		return -1;
	}
	(void)mcx_limbs_from_bytes(r, NL, v, sizeof(v));
	reduce_q(s, r);
	WIPE(v);
	return 0;
}

/* mask = HashToIntegerRange(w, 2^n), n = 128: the low 16 octets of v_1. */
static int hash_to_mask(const uint8_t w[MCX_SAKKE_FP_LEN], uint8_t mask[MCX_SAKKE_SSV_LEN])
{
	uint8_t v[32];
	int ret = hash_blocks(w, MCX_SAKKE_FP_LEN, NULL, 0, 1, v);
	memcpy(mask, v + 32 - MCX_SAKKE_SSV_LEN, MCX_SAKKE_SSV_LEN);
	WIPE(v);
	return ret;
}

/* The identifier as an integer mod q (it is public). */
static int id_to_b(const struct mcx_sakke_params *s, uint64_t b[NL], const uint8_t *id,
		   size_t id_len)
{
	if (id == NULL || id_len == 0 || id_len > MCX_SAKKE_ID_MAX)
		return -1;
	if (mcx_limbs_from_bytes(b, NL, id, id_len) != 0)
		return -1;
	reduce_q(s, b);
	return 0;
}

/* A secret scalar 0 < z < q from 128 octets; -1 otherwise. */
static int scalar_from_bytes(const struct mcx_sakke_params *s, uint64_t z[NL],
			     const uint8_t in[MCX_SAKKE_SCALAR_LEN])
{
	uint64_t ok;
	(void)mcx_limbs_from_bytes(z, NL, in, MCX_SAKKE_SCALAR_LEN);
	ok = mcx_ct_limbs_lt(z, s->q, NL) & ~mcx_ct_limbs_zero(z, NL);
	/* Public check: the range verdict on the caller's master secret. */
	return mcx_ct_reveal(ok) ? 0 : -1;
}

static void pt_mul_p_public(const struct mcx_sakke_params *s, struct ppt *r, const uint64_t k[NL]);

/*
 * [b]P + Z (b and Z public: the comb without masks, only the tables b
 * reaches; for RSK validation a quarter of the constant-time pass's cost).
 */
static void bp_plus_z(const struct mcx_sakke_params *s, struct ppt *r, const uint64_t b[NL],
		      const struct apt *Z)
{
	struct ppt Zp;
	pt_from_affine(s, &Zp, Z);
	pt_mul_p_public(s, r, b);
	pt_add(s, r, r, &Zp);
}

/* ---- parameters ------------------------------------------------------------- */

/* The non-adjacent form of q - 1 (public). */
static void naf_compute(struct mcx_sakke_params *s)
{
	uint64_t k[NL + 1], one[NL + 1] = { 1 };
	unsigned i = 0;

	memcpy(k, s->qm1, sizeof(s->qm1));
	k[NL] = 0;
	memset(s->naf, 0, sizeof(s->naf));
	while (!mcx_ct_limbs_zero(k, NL + 1)) {
		int d = 0;
		if (k[0] & 1) {
			d = 2 - (int)(k[0] & 3);      /* 1 or -1 */
			if (d == 1)
				(void)mcx_limbs_sub(k, k, one, NL + 1);
			else
				(void)mcx_limbs_add(k, k, one, NL + 1);
		}
		s->naf[i++] = (int8_t)d;
		for (size_t j = 0; j < NL; j++)
			k[j] = k[j] >> 1 | k[j + 1] << 63;
		k[NL] >>= 1;
	}
	s->naf_len = i;
	s->naf_steps = 0;
	for (unsigned j = 0; j + 1 < i; j++)
		s->naf_steps += 1 + (s->naf[j] != 0);
}

MCX_RESULT mcx_sakke_params_new(struct mcx_sakke_params **out)
{
	int r = MCX_ERR_INTERNAL;
	struct mcx_sakke_params *s = NULL;
	uint8_t buf[128];
	uint64_t one[NL] = { 1 };

	MCX_ENSURE_REF(out);
	*out = NULL;
	mcx_mont16_init();
	s = calloc(1, sizeof(*s));
	MCX_ENSURE_ALLOC(s);
	MCX_ENSURE(mcx_crypto_unhex(SAKKE_P_HEX, buf, 128) == 0 &&
		   mcx_mont_init(&s->fp, buf, 128) == 0, MCX_ERR_INTERNAL);
	MCX_ENSURE(mcx_crypto_unhex(SAKKE_Q_HEX, buf, 128) == 0 &&
		   mcx_mont_init(&s->fq, buf, 128) == 0, MCX_ERR_INTERNAL);
	MCX_ENSURE(s->fp.n == NL && s->fq.n == NL, MCX_ERR_INTERNAL);
	memcpy(s->q, s->fq.m, sizeof(s->q));
	s->qbits = s->fq.bits;
	(void)mcx_limbs_add(s->q2, s->q, s->q, NL);
	(void)mcx_limbs_add(s->q4, s->q2, s->q2, NL);
	(void)mcx_limbs_sub(s->qm1, s->q, one, NL);
	MCX_ENSURE(mcx_crypto_unhex(SAKKE_PX_HEX, buf, 128) == 0 &&
		   fe_from_bytes(s, &s->P.x, buf) == 0, MCX_ERR_INTERNAL);
	MCX_ENSURE(mcx_crypto_unhex(SAKKE_PY_HEX, buf, 128) == 0 &&
		   fe_from_bytes(s, &s->P.y, buf) == 0, MCX_ERR_INTERNAL);
	MCX_ENSURE(apt_on_curve(s, &s->P), MCX_ERR_INTERNAL);
	MCX_ENSURE(mcx_crypto_unhex(SAKKE_G_HEX, buf, 128) == 0 &&
		   fe_from_bytes(s, &s->g, buf) == 0, MCX_ERR_INTERNAL);
	MCX_ENSURE(pthread_mutex_init(&s->lock, NULL) == 0, MCX_ERR_INTERNAL);
	s->lock_ok = 1;
	naf_compute(s);
	MCX_ENSURE(pt_comb_build(s, &s->Pc, &s->P, COMB_D) == 0, MCX_ERR_INTERNAL);
	MCX_ENSURE(pt_comb_build(s, &s->Pid, &s->P, COMB_D_ID) == 0, MCX_ERR_INTERNAL);
	MCX_ENSURE(g_comb_build(s, &s->gc) == 0, MCX_ERR_INTERNAL);
	*out = s;
	s = NULL;
	r = 0;
out:
	mcx_sakke_params_free(s);
	return r;
}

void mcx_sakke_params_free(struct mcx_sakke_params *params)
{
	if (params == NULL)
		return;
	for (size_t i = 0; i < Z_CACHE; i++)
		free(params->cached[i]);   /* no user may be left: the caller frees params last */
	if (params->lock_ok)
		(void)pthread_mutex_destroy(&params->lock);
	free(params);
}

/* ---- KMS side ------------------------------------------------------------- */

MCX_RESULT mcx_sakke_public_from_master(const struct mcx_sakke_params *params,
					const uint8_t z[MCX_SAKKE_SCALAR_LEN],
					uint8_t Z[MCX_SAKKE_POINT_LEN])
{
	int r = MCX_ERR_INTERNAL;
	uint64_t k[NL];
	struct ppt R;

	MCX_ENSURE_REF(params);
	MCX_ENSURE_REF(z);
	MCX_ENSURE_REF(Z);
	MCX_ENSURE(scalar_from_bytes(params, k, z) == 0, MCX_ERR_INVALID_ARGUMENT);
	pt_mul_comb(params, &R, &params->Pc, k);
	MCX_ENSURE(pt_encode(params, Z, &R) == 0, MCX_ERR_CRYPTO);
	r = 0;
out:
	WIPE(k);
	WIPE(R);
	return r;
}

MCX_RESULT mcx_sakke_master_generate(const struct mcx_sakke_params *params,
				     mcx_random_fn rnd, void *rnd_ctx,
				     uint8_t z[MCX_SAKKE_SCALAR_LEN],
				     uint8_t Z[MCX_SAKKE_POINT_LEN])
{
	int r = MCX_ERR_INTERNAL;
	uint8_t cand[MCX_SAKKE_SCALAR_LEN];
	uint64_t k[NL];
	unsigned topbits;
	int found = 0;

	MCX_ENSURE_REF(params);
	MCX_ENSURE_REF(z);
	MCX_ENSURE_REF(Z);
	topbits = params->qbits % 8;
	/* Rejection sampling on qbits-bit candidates: unbiased; P(reject) < 0.41. */
	for (int tries = 0; tries < 128 && !found; tries++) {
		MCX_ENSURE(mcx_crypto_random(rnd, rnd_ctx, cand, sizeof(cand)) == 0, MCX_ERR_CRYPTO);
		if (topbits != 0)
			cand[0] &= (uint8_t)((1u << topbits) - 1);
		found = scalar_from_bytes(params, k, cand) == 0;
	}
	MCX_ENSURE(found, MCX_ERR_CRYPTO);
	MCX_GUARD(mcx_sakke_public_from_master(params, cand, Z));
	memcpy(z, cand, sizeof(cand));
	r = 0;
out:
	WIPE(cand);
	WIPE(k);
	return r;
}

/* RFC 6508 s.6.1.1: K_(b,S) = [(z_S + b)^-1]P. */
MCX_RESULT mcx_sakke_rsk_issue(const struct mcx_sakke_params *params,
			       const uint8_t z[MCX_SAKKE_SCALAR_LEN],
			       const uint8_t *id, size_t id_len,
			       uint8_t rsk[MCX_SAKKE_POINT_LEN])
{
	int r = MCX_ERR_INTERNAL;
	uint64_t k[NL], b[NL], m[NL];
	struct ppt R;

	MCX_ENSURE_REF(params);
	MCX_ENSURE_REF(z);
	MCX_ENSURE_REF(rsk);
	MCX_ENSURE(scalar_from_bytes(params, k, z) == 0, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(id_to_b(params, b, id, id_len) == 0, MCX_ERR_INVALID_ARGUMENT);
	mcx_mont_add(&params->fq, k, k, b);     /* z + b mod q */
	/* z + b = 0 mod q has no inverse: this identity cannot get a key (public fact). */
	MCX_ENSURE(!mcx_ct_reveal(mcx_ct_limbs_zero(k, NL)), MCX_ERR_INVALID_ARGUMENT);
	mcx_mont_to(&params->fq, m, k);
	inv_blinded(&params->fq, m, m);   /* blinded, see inv_blinded */
	mcx_mont_from(&params->fq, k, m);
	pt_mul_comb(params, &R, &params->Pc, k);
	MCX_ENSURE(pt_encode(params, rsk, &R) == 0, MCX_ERR_CRYPTO);
	r = 0;
out:
	WIPE(k);
	WIPE(m);
	WIPE(R);
	return r;
}

/* ---- client side ------------------------------------------------------------ */

/* RFC 6508 s.6.1.2: <[b]P + Z_S, K_(b,S)> == g. */
MCX_RESULT mcx_sakke_rsk_validate(const struct mcx_sakke_params *params,
				  const uint8_t Z[MCX_SAKKE_POINT_LEN],
				  const uint8_t *id, size_t id_len,
				  const uint8_t rsk[MCX_SAKKE_POINT_LEN])
{
	int r = MCX_ERR_INTERNAL;
	uint64_t b[NL];
	struct apt Za, K, A;
	struct ppt T;
	fe w;

	MCX_ENSURE_REF(params);
	MCX_ENSURE_REF(Z);
	MCX_ENSURE_REF(rsk);
	MCX_ENSURE(id_to_b(params, b, id, id_len) == 0, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(pt_decode(params, &Za, Z) == 0, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(pt_decode(params, &K, rsk) == 0, MCX_ERR_INVALID_ARGUMENT);
	bp_plus_z(params, &T, b, &Za);
	MCX_ENSURE(pt_to_affine(params, &A, &T) == 0, MCX_ERR_SIGNATURE_INVALID);
	pairing(params, &w, &A, &K);
	/* Public check: the RSK validation verdict. */
	MCX_ENSURE(mcx_ct_reveal(mcx_ct_limbs_eq(w.v, params->g.v, NL)), MCX_ERR_SIGNATURE_INVALID);
	r = 0;
out:
	WIPE(K);
	WIPE(w);
	return r;
}

/*
 * R_(b,S) = [r]([b]P + Z_S) = [r b mod q]P + [r]Z_S, constant time in r, from
 * the combs of P and Z_S in one pass.
 */
static void compute_R(const struct mcx_sakke_params *s, const struct mcx_sakke_public *pub,
		      const uint64_t b[NL], const uint64_t rr[NL], struct ppt *R)
{
	uint64_t bm[NL], rb[NL];
	const struct pt_comb *c[2] = { &s->Pc, &pub->Zc };
	const uint64_t *k[2] = { rb, rr };

	mcx_mont16_mul(bm, b, s->fq.rr, s->fq.m, s->fq.n0);     /* b R mod q */
	mcx_mont16_mul(rb, rr, bm, s->fq.m, s->fq.n0);          /* r b mod q */
	pt_mul_combs(s, R, c, k, 2);
	WIPE(rb);
}


/* ---- a KMS key seen once: R without Z's comb --------------------------------- */

/*
 * For a Z not in the cache, building its comb (1,032 doublings, 252
 * additions, a batch inversion: ~3.5 ms, 64 KiB) only to use it once costs
 * more than a variable-base multiplication.  cold_R computes
 * R = [r]T, T = [b]P + Z, with a signed fixed window of 5 bits:
 *
 *   - T is public (b, Z are), so [b]P takes P's comb without the masks and
 *     only the tables b's bits reach (one for a 256-bit UID), and T's table
 *     of [1]T, [3]T, ..., [31]T is built in Jacobian coordinates and made
 *     affine with one batch inversion, all variable time;
 *   - r is secret: made odd (r or q - r, the result negated back by a mask),
 *     recoded into 205 odd digits in [-31, 31] (a fixed number of limb
 *     operations per digit), and evaluated with 5 Jacobian doublings
 *     (dbl-2001-b, 3 M + 5 S) and one Jacobian + affine addition
 *     (madd-2007-bl, 7 M + 4 S) per digit; the entry is read by a masked scan
 *     of all 16 and negated by a mask.  No branch or index depends on r.
 *
 * The incomplete formulas are safe here: the accumulator holds [k]T for the
 * prefix k of the recoded scalar, 1 <= |k| and |32 k| + 31 < q before the
 * last digit, so it is never infinity and never +-(the entry) — T has order
 * q (or 2q, 4q for a Z outside <P>, which changes nothing: |32 k +- d| is
 * odd and nonzero below q).  Only the last digit can meet an exceptional
 * case (r' = q + 2 d, or r' = q for r = 0); it uses the complete mixed
 * addition of the comb code.  About 12,000 M against 20,000 M for the comb
 * build plus the comb pass.
 */
#define COLD_W 5
#define COLD_N (1 << (COLD_W - 1))                          /* odd multiples 1..31 */
#define COLD_DIGITS 205                                      /* 5 * 204 >= 1022 - 2 */

/* Jacobian + affine (madd-2007-bl, a-independent); exceptional cases excluded by the caller. */
static void jac_madd(const struct mcx_sakke_params *s, struct jac *c, const struct apt *q)
{
	fe z1z1, u2, s2, h, hh, i, j, rr, v, t;

	fsqr(s, &z1z1, &c->Z);
	fmul(s, &u2, &q->x, &z1z1);
	fmul(s, &s2, &q->y, &c->Z);
	fmul(s, &s2, &s2, &z1z1);
	fsub(s, &h, &u2, &c->X);
	fsqr(s, &hh, &h);
	fadd(s, &i, &hh, &hh);
	fadd(s, &i, &i, &i);                    /* I = 4 HH */
	fmul(s, &j, &h, &i);
	fsub(s, &rr, &s2, &c->Y);
	fadd(s, &rr, &rr, &rr);                 /* r = 2 (S2 - Y1) */
	fmul(s, &v, &c->X, &i);
	fsqr(s, &t, &rr);
	fsub(s, &t, &t, &j);
	fsub(s, &t, &t, &v);
	fsub(s, &c->X, &t, &v);                 /* X3 = r^2 - J - 2 V */
	fsub(s, &t, &v, &c->X);
	fmul(s, &t, &rr, &t);
	fmul(s, &j, &c->Y, &j);
	fadd(s, &j, &j, &j);
	fsub(s, &c->Y, &t, &j);                 /* Y3 = r (V - X3) - 2 Y1 J */
	fmul(s, &t, &c->Z, &h);
	fadd(s, &c->Z, &t, &t);                 /* Z3 = 2 Z1 H */
	WIPE(z1z1); WIPE(u2); WIPE(s2); WIPE(h); WIPE(hh);
	WIPE(i); WIPE(j); WIPE(rr); WIPE(v); WIPE(t);
}

/* Jacobian c + d (add-2007-bl), public points only (table set-up). */
static void jac_add_public(const struct mcx_sakke_params *s, struct jac *r, const struct jac *c,
			   const struct jac *d)
{
	fe z1z1, z2z2, u1, u2, s1, s2, h, i, j, rr, v, t;

	fsqr(s, &z1z1, &c->Z);
	fsqr(s, &z2z2, &d->Z);
	fmul(s, &u1, &c->X, &z2z2);
	fmul(s, &u2, &d->X, &z1z1);
	fmul(s, &s1, &c->Y, &d->Z);
	fmul(s, &s1, &s1, &z2z2);
	fmul(s, &s2, &d->Y, &c->Z);
	fmul(s, &s2, &s2, &z1z1);
	fsub(s, &h, &u2, &u1);
	fadd(s, &i, &h, &h);
	fsqr(s, &i, &i);                        /* I = (2 H)^2 */
	fmul(s, &j, &h, &i);
	fsub(s, &rr, &s2, &s1);
	fadd(s, &rr, &rr, &rr);
	fmul(s, &v, &u1, &i);
	fsqr(s, &t, &rr);
	fsub(s, &t, &t, &j);
	fsub(s, &t, &t, &v);
	fsub(s, &r->X, &t, &v);
	fsub(s, &t, &v, &r->X);
	fmul(s, &t, &rr, &t);
	fmul(s, &j, &s1, &j);
	fadd(s, &j, &j, &j);
	fsub(s, &r->Y, &t, &j);
	fadd(s, &t, &c->Z, &d->Z);
	fsqr(s, &t, &t);
	fsub(s, &t, &t, &z1z1);
	fsub(s, &t, &t, &z2z2);
	fmul(s, &r->Z, &t, &h);                 /* Z3 = ((Z1 + Z2)^2 - Z1Z1 - Z2Z2) H */
}

/*
 * r = [k]P from one of P's combs, k public: variable time, only the tables
 * k's bits reach, zero digits skipped (for [b]P, b the identifier).  An
 * identifier of at most 264 bits takes the comb with teeth COMB_D_ID apart.
 */
static void pt_mul_p_public(const struct mcx_sakke_params *s, struct ppt *r, const uint64_t k[NL])
{
	const struct pt_comb *c = &s->Pc;
	unsigned bits = 0, tables, d = COMB_D;
	int started = 0;

	for (unsigned i = 64 * NL; i-- > 0;)
		if (mcx_limbs_bit(k, i)) {
			bits = i + 1;
			break;
		}
	if (bits <= COMB_T * COMB_M * COMB_D_ID) {
		c = &s->Pid;
		d = COMB_D_ID;
	}
	tables = (bits + COMB_T * d - 1) / (COMB_T * d);
	pt_set_inf(s, r);
	for (unsigned col = d; col-- > 0;) {
		if (started)
			pt_dbl(s, r, r);
		for (unsigned j = 0; j < tables; j++) {
			uint64_t e = comb_digit_d(k, j, col, d);
			if (e != 0) {
				pt_madd(s, r, r, &c->e[j][e]);
				started = 1;
			}
		}
	}
}

/* sel = tab[idx] by a masked scan of all n entries (idx secret). */
static void apt_select(struct apt *sel, const struct apt *tab, unsigned n, uint64_t idx)
{
	ct_scan(sel, tab, sizeof(*tab), 0, n, idx);
}

/* y = -y when neg (all-ones mask). */
static void fe_cneg(const struct mcx_sakke_params *s, fe *y, uint64_t neg)
{
	static const fe zero;
	fe t;
	fsub(s, &t, &zero, y);
	mcx_ct_select(y->v, t.v, y->v, neg, NL);
	WIPE(t);
}

/*
 * The odd digits of k (odd, < 2^1022): d_i in [-31, 31], k = sum d_i 32^i,
 * d_(COLD_DIGITS-1) > 0.  Each step takes u = (k mod 64) - 32 and
 * k = (k - u) / 32, which keeps k odd; fixed limb loops only.
 */
static void cold_recode(int8_t d[COLD_DIGITS], uint64_t k[NL])
{
	for (unsigned i = 0; i + 1 < COLD_DIGITS; i++) {
		int64_t u = (int64_t)(k[0] & 63) - 32;
		uint64_t ext = (uint64_t)(u >> 63);   /* u sign-extended */
		uint64_t us[NL];
		d[i] = (int8_t)u;
		for (size_t l = 0; l < NL; l++)
			us[l] = l == 0 ? (uint64_t)u : ext;
		(void)mcx_limbs_sub(k, k, us, NL);
		WIPE(us);
		for (size_t l = 0; l < NL; l++)
			k[l] = (k[l] >> COLD_W) | (l + 1 < NL ? k[l + 1] << (64 - COLD_W) : 0);
	}
	d[COLD_DIGITS - 1] = (int8_t)k[0];
}

/* R = [r]([b]P + Z) for a Z without a comb; R at infinity when [b]P + Z is. */
static void cold_R(const struct mcx_sakke_params *s, const struct apt *Z, const uint64_t b[NL],
		   const uint64_t rr[NL], struct ppt *R)
{
	struct ppt T;
	struct jac tj[COLD_N], d2, acc;
	fe zs[COLD_N], zi[COLD_N], scratch[COLD_N], t;
	struct apt tab[COLD_N], sel;
	uint64_t k[NL], qk[NL], neg, sign;
	int8_t dg[COLD_DIGITS];
	unsigned top;

	/* T = [b]P + Z, public */
	pt_mul_p_public(s, &T, b);
	pt_madd(s, &T, &T, Z);
	/* Public check: T = infinity iff z + b = 0 mod q, an identity without a key. */
	if (mcx_ct_reveal(mcx_ct_limbs_zero(T.z.v, NL))) {
		pt_set_inf(s, R);
		return;
	}
	/* homogeneous (X : Y : Z) -> Jacobian (X Z, Y Z^2, Z) */
	fmul(s, &tj[0].X, &T.x, &T.z);
	fsqr(s, &t, &T.z);
	fmul(s, &tj[0].Y, &T.y, &t);
	tj[0].Z = T.z;
	d2 = tj[0];
	ml_dbl(s, &d2, NULL, NULL, NULL);
	for (unsigned i = 1; i < COLD_N; i++)
		jac_add_public(s, &tj[i], &tj[i - 1], &d2);
	for (unsigned i = 0; i < COLD_N; i++)
		zs[i] = tj[i].Z;
	/* no Z is 0: (2i+1) T is not infinity for a T of order q, 2q or 4q */
	if (batch_inv(s, zi, zs, COLD_N, scratch) != 0) {
		pt_set_inf(s, R);
		return;
	}
	for (unsigned i = 0; i < COLD_N; i++) {
		fsqr(s, &t, &zi[i]);
		fmul(s, &tab[i].x, &tj[i].X, &t);
		fmul(s, &t, &t, &zi[i]);
		fmul(s, &tab[i].y, &tj[i].Y, &t);
	}

	/* r odd: r, or q - r negated at the end (q is odd) */
	(void)mcx_limbs_sub(qk, s->q, rr, NL);
	neg = 0 - ((rr[0] & 1) ^ 1);
	mcx_ct_select(k, qk, rr, neg, NL);
	cold_recode(dg, k);

	top = (unsigned)dg[COLD_DIGITS - 1];
	apt_select(&sel, tab, COLD_N, (top - 1) >> 1);
	acc.X = sel.x;
	acc.Y = sel.y;
	fone(s, &acc.Z);
	for (unsigned i = COLD_DIGITS - 1; i-- > 0;) {
		int64_t dv = dg[i];
		sign = (uint64_t)(dv >> 63);
		apt_select(&sel, tab, COLD_N, ((uint64_t)((dv ^ (int64_t)sign) - (int64_t)sign) - 1) >> 1);
		fe_cneg(s, &sel.y, sign);
		for (unsigned w = 0; w < COLD_W; w++)
			ml_dbl(s, &acc, NULL, NULL, NULL);
		if (i != 0) {
			jac_madd(s, &acc, &sel);
		} else {
			/* the last digit: complete mixed addition (homogeneous (X Z : Y : Z^3)) */
			struct ppt h;
			fmul(s, &h.x, &acc.X, &acc.Z);
			h.y = acc.Y;
			fsqr(s, &t, &acc.Z);
			fmul(s, &h.z, &t, &acc.Z);
			pt_madd(s, R, &h, &sel);
			WIPE(h);
		}
	}
	fe_cneg(s, &R->y, neg);
	WIPE(acc);
	WIPE(sel);
	WIPE(k);
	WIPE(qk);
	WIPE(dg);
	WIPE(t);
	WIPE(neg);
	WIPE(sign);
	WIPE(top);
}

/*
 * The cold path's equivalent of the check mcx_sakke_public_new's comb build
 * makes: a Z of order 4 (order 2 has y = 0, refused by pt_decode) doubles to
 * infinity.  Public.
 */
static int z_small_order_ok(const struct mcx_sakke_params *s, const struct apt *Z)
{
	struct jac j;

	j.X = Z->x;
	j.Y = Z->y;
	fone(s, &j.Z);
	ml_dbl(s, &j, NULL, NULL, NULL);
	ml_dbl(s, &j, NULL, NULL, NULL);
	return !mcx_ct_reveal(mcx_ct_limbs_zero(j.Z.v, NL));
}

/*
 * The byte-oriented encapsulate/decapsulate keep the contexts of the last
 * Z_CACHE values of Z in params: a hit skips decoding Z, a miss builds the
 * context (about the cost of the variable-base multiplication it replaces,
 * see docs/crypto.md) and installs it in front, dropping the oldest.
 * Returns a reference for pub_put(), or NULL with *err set.
 */
static struct mcx_sakke_public *pub_get(const struct mcx_sakke_params *cs,
					const uint8_t Z[MCX_SAKKE_POINT_LEN], int first_cold, int *err)
{
	/* The cache is the only part of params that changes (under lock). */
	struct mcx_sakke_params *s = (struct mcx_sakke_params *)cs;
	struct mcx_sakke_public *p = NULL, *old = NULL;

	(void)pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < Z_CACHE && s->cached[i] != NULL; i++)
		if (memcmp(s->cached[i]->Zb, Z, MCX_SAKKE_POINT_LEN) == 0) {   /* public */
			p = s->cached[i];
			memmove(&s->cached[1], &s->cached[0], i * sizeof(s->cached[0]));
			s->cached[0] = p;
			p->refs++;
			break;
		}
	if (p == NULL && first_cold) {
		int seen = 0;
		for (size_t i = 0; i < Z_CACHE && !seen; i++)
			seen = memcmp(s->seen[i], Z, MCX_SAKKE_POINT_LEN) == 0;   /* public */
		if (!seen) {
			memcpy(s->seen[s->seen_next], Z, MCX_SAKKE_POINT_LEN);
			s->seen_next = (s->seen_next + 1) % Z_CACHE;
			(void)pthread_mutex_unlock(&s->lock);
			*err = 0;
			return NULL;
		}
	}
	(void)pthread_mutex_unlock(&s->lock);
	if (p != NULL)
		return p;
	*err = mcx_sakke_public_new(cs, Z, &p);
	if (*err != 0)
		return NULL;
	p->refs = 2;   /* ours and the cache's */
	(void)pthread_mutex_lock(&s->lock);
	old = s->cached[Z_CACHE - 1];
	memmove(&s->cached[1], &s->cached[0], (Z_CACHE - 1) * sizeof(s->cached[0]));
	s->cached[0] = p;
	if (old != NULL && --old->refs != 0)
		old = NULL;
	(void)pthread_mutex_unlock(&s->lock);
	free(old);
	return p;
}

static void pub_put(const struct mcx_sakke_params *cs, struct mcx_sakke_public *p)
{
	struct mcx_sakke_params *s = (struct mcx_sakke_params *)cs;
	unsigned left;

	(void)pthread_mutex_lock(&s->lock);
	left = --p->refs;
	(void)pthread_mutex_unlock(&s->lock);
	if (left == 0)
		free(p);
}

/* RFC 6508 s.6.2.1 with Z_S's context. */
static MCX_RESULT encapsulate(const struct mcx_sakke_params *params,
			      const struct mcx_sakke_public *pub, const struct apt *Zcold,
			      const uint8_t *id, size_t id_len,
			      const uint8_t ssv[MCX_SAKKE_SSV_LEN],
			      uint8_t out[MCX_SAKKE_ENCAP_LEN])
{
	int r = MCX_ERR_INTERNAL;
	uint64_t b[NL], rr[NL];
	uint8_t gr[MCX_SAKKE_FP_LEN], mask[MCX_SAKKE_SSV_LEN];
	struct ppt R;
	struct fp2 w;
	fe d, inv, zi, wv;

	MCX_ENSURE(id_to_b(params, b, id, id_len) == 0, MCX_ERR_INVALID_ARGUMENT);
	/* 1. r = HashToIntegerRange(SSV || b, q) */
	MCX_ENSURE(hash_to_q(params, rr, ssv, id, id_len) == 0, MCX_ERR_CRYPTO);
	/* 2. R_(b,S) = [r]([b]P + Z_S) */
	if (pub != NULL)
		compute_R(params, pub, b, rr, &R);
	else
		cold_R(params, Zcold, b, rr, &R);
	/* 3. g^r; one inversion serves R's affine form and g^r's F_p representation. */
	g_pow_comb(params, &w, rr);
	fmul(params, &d, &R.z, &w.a);
	/* R.z = 0 only when [b]P + Z is infinity, i.e. z + b = 0 (public); w.a != 0. */
	MCX_ENSURE(!mcx_ct_reveal(mcx_ct_limbs_zero(d.v, NL)), MCX_ERR_CRYPTO);
	finv(params, &inv, &d);
	fmul(params, &zi, &inv, &w.a);            /* 1 / R.z */
	fmul(params, &wv, &inv, &R.z);            /* 1 / w.a */
	fmul(params, &wv, &wv, &w.b);             /* g^r in the F_p representation */
	fmul(params, &R.x, &R.x, &zi);
	fmul(params, &R.y, &R.y, &zi);
	out[0] = 0x04;
	fe_to_bytes(params, out + 1, &R.x);
	fe_to_bytes(params, out + 1 + 128, &R.y);
	/* H = SSV XOR HashToIntegerRange(g^r, 2^n) */
	fe_to_bytes(params, gr, &wv);
	MCX_ENSURE(hash_to_mask(gr, mask) == 0, MCX_ERR_CRYPTO);
	for (size_t i = 0; i < MCX_SAKKE_SSV_LEN; i++)
		out[MCX_SAKKE_POINT_LEN + i] = ssv[i] ^ mask[i];
	r = 0;
out:
	if (r != 0)
		mcx_crypto_wipe(out, MCX_SAKKE_ENCAP_LEN);
	WIPE(rr);
	WIPE(gr);
	WIPE(mask);
	WIPE(w);
	WIPE(wv);
	WIPE(d);
	WIPE(inv);
	WIPE(zi);
	WIPE(R);
	return r;
}

MCX_RESULT mcx_sakke_encapsulate(const struct mcx_sakke_params *params,
				 const uint8_t Z[MCX_SAKKE_POINT_LEN],
				 const uint8_t *id, size_t id_len,
				 const uint8_t ssv[MCX_SAKKE_SSV_LEN],
				 uint8_t out[MCX_SAKKE_ENCAP_LEN])
{
	int r = MCX_ERR_INTERNAL;
	struct mcx_sakke_public *pub = NULL;

	MCX_ENSURE_REF(params);
	MCX_ENSURE_REF(Z);
	MCX_ENSURE_REF(ssv);
	MCX_ENSURE_REF(out);
	pub = pub_get(params, Z, 1, &r);
	MCX_ENSURE(pub != NULL || r == 0, r);
	if (pub != NULL) {
		r = encapsulate(params, pub, NULL, id, id_len, ssv, out);
		pub_put(params, pub);
	} else {
		/* a Z met for the first time: no comb (cold_R) */
		struct apt Zc;
		MCX_ENSURE(pt_decode(params, &Zc, Z) == 0, MCX_ERR_INVALID_ARGUMENT);
		MCX_ENSURE(z_small_order_ok(params, &Zc), MCX_ERR_INVALID_ARGUMENT);
		r = encapsulate(params, NULL, &Zc, id, id_len, ssv, out);
	}
out:
	if (r != 0 && out != NULL)
		mcx_crypto_wipe(out, MCX_SAKKE_ENCAP_LEN);
	return r;
}

/*
 * RFC 6508 s.6.2.2 with Z_S's context and the RSK K (decoded), or K's
 * precomputed Miller lines (lines != NULL).
 */
static MCX_RESULT decapsulate(const struct mcx_sakke_params *params,
			      const struct mcx_sakke_public *pub, const struct ml_lines *lines,
			      const struct apt *K, const uint8_t *id, size_t id_len,
			      const uint8_t *encap, size_t encap_len,
			      uint8_t ssv[MCX_SAKKE_SSV_LEN])
{
	int r = MCX_ERR_INTERNAL;
	uint64_t b[NL], rr[NL];
	uint8_t wb[MCX_SAKKE_FP_LEN], mask[MCX_SAKKE_SSV_LEN], sv[MCX_SAKKE_SSV_LEN];
	uint8_t test[MCX_SAKKE_POINT_LEN];
	uint8_t diff = 0;
	struct apt R;
	struct ppt U;
	fe w;

	memset(ssv, 0, MCX_SAKKE_SSV_LEN);
	MCX_ENSURE(encap_len == MCX_SAKKE_ENCAP_LEN, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(id_to_b(params, b, id, id_len) == 0, MCX_ERR_INVALID_ARGUMENT);
	/* 1. parse R_(b,S) and H; w = <R_(b,S), K_(b,S)> */
	MCX_ENSURE(pt_decode(params, &R, encap) == 0, MCX_ERR_SIGNATURE_INVALID);
	if (lines != NULL)
		pairing_lines(params, &w, lines, &R);
	else
		pairing(params, &w, &R, K);
	fe_to_bytes(params, wb, &w);
	/* 2. SSV = H XOR HashToIntegerRange(w, 2^n) */
	MCX_ENSURE(hash_to_mask(wb, mask) == 0, MCX_ERR_CRYPTO);
	for (size_t i = 0; i < MCX_SAKKE_SSV_LEN; i++)
		sv[i] = encap[MCX_SAKKE_POINT_LEN + i] ^ mask[i];
	/* 3. r = HashToIntegerRange(SSV || b, q) */
	MCX_ENSURE(hash_to_q(params, rr, sv, id, id_len) == 0, MCX_ERR_CRYPTO);
	/* 4. TEST = [r]([b]P + Z_S); reject unless TEST == R_(b,S) */
	compute_R(params, pub, b, rr, &U);
	MCX_ENSURE(pt_encode(params, test, &U) == 0, MCX_ERR_SIGNATURE_INVALID);
	for (size_t i = 0; i < MCX_SAKKE_POINT_LEN; i++)
		diff |= (uint8_t)(test[i] ^ encap[i]);
	mcx_ct_public(&diff, sizeof(diff));   /* public check: the integrity verdict */
	MCX_ENSURE(diff == 0, MCX_ERR_SIGNATURE_INVALID);
	memcpy(ssv, sv, MCX_SAKKE_SSV_LEN);
	r = 0;
out:
	WIPE(rr);
	WIPE(wb);
	WIPE(mask);
	WIPE(sv);
	WIPE(w);
	WIPE(U);
	return r;
}

MCX_RESULT mcx_sakke_decapsulate(const struct mcx_sakke_params *params,
				 const uint8_t Z[MCX_SAKKE_POINT_LEN],
				 const uint8_t *id, size_t id_len,
				 const uint8_t rsk[MCX_SAKKE_POINT_LEN],
				 const uint8_t *encap, size_t encap_len,
				 uint8_t ssv[MCX_SAKKE_SSV_LEN])
{
	int r = MCX_ERR_INTERNAL;
	struct mcx_sakke_public *pub = NULL;
	struct apt K;

	MCX_ENSURE_REF(params);
	MCX_ENSURE_REF(Z);
	MCX_ENSURE_REF(rsk);
	MCX_ENSURE_REF(encap);
	MCX_ENSURE_REF(ssv);
	memset(ssv, 0, MCX_SAKKE_SSV_LEN);
	MCX_ENSURE(encap_len == MCX_SAKKE_ENCAP_LEN, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(pt_decode(params, &K, rsk) == 0, MCX_ERR_INVALID_ARGUMENT);
	pub = pub_get(params, Z, 0, &r);
	MCX_ENSURE(pub != NULL, r);
	r = decapsulate(params, pub, NULL, &K, id, id_len, encap, encap_len, ssv);
	pub_put(params, pub);
out:
	WIPE(K);
	return r;
}

/* ---- per-KMS public-key context ---------------------------------------------- */

MCX_RESULT mcx_sakke_public_new(const struct mcx_sakke_params *params,
				const uint8_t Z[MCX_SAKKE_POINT_LEN],
				struct mcx_sakke_public **out)
{
	int r = MCX_ERR_INTERNAL;
	struct mcx_sakke_public *pub = NULL;

	MCX_ENSURE_REF(out);
	*out = NULL;
	MCX_ENSURE_REF(params);
	MCX_ENSURE_REF(Z);
	pub = calloc(1, sizeof(*pub));
	MCX_ENSURE_ALLOC(pub);
	pub->params = params;
	MCX_ENSURE(pt_decode(params, &pub->Z, Z) == 0, MCX_ERR_INVALID_ARGUMENT);
	memcpy(pub->Zb, Z, sizeof(pub->Zb));
	/* An entry at infinity means Z is not of order q (P's comb has none). */
	MCX_ENSURE(pt_comb_build(params, &pub->Zc, &pub->Z, COMB_D) == 0, MCX_ERR_INVALID_ARGUMENT);
	*out = pub;
	pub = NULL;
	r = 0;
out:
	free(pub);
	return r;
}

void mcx_sakke_public_free(struct mcx_sakke_public *pub)
{
	free(pub);
}

MCX_RESULT mcx_sakke_encapsulate_pub(const struct mcx_sakke_public *pub,
				     const uint8_t *id, size_t id_len,
				     const uint8_t ssv[MCX_SAKKE_SSV_LEN],
				     uint8_t out[MCX_SAKKE_ENCAP_LEN])
{
	int r = MCX_ERR_INTERNAL;

	MCX_ENSURE_REF(pub);
	MCX_ENSURE_REF(ssv);
	MCX_ENSURE_REF(out);
	r = encapsulate(pub->params, pub, NULL, id, id_len, ssv, out);
out:
	return r;
}

MCX_RESULT mcx_sakke_decapsulate_pub(const struct mcx_sakke_public *pub,
				     const uint8_t *id, size_t id_len,
				     const uint8_t rsk[MCX_SAKKE_POINT_LEN],
				     const uint8_t *encap, size_t encap_len,
				     uint8_t ssv[MCX_SAKKE_SSV_LEN])
{
	int r = MCX_ERR_INTERNAL;
	struct apt K;

	MCX_ENSURE_REF(pub);
	MCX_ENSURE_REF(rsk);
	MCX_ENSURE_REF(encap);
	MCX_ENSURE_REF(ssv);
	memset(ssv, 0, MCX_SAKKE_SSV_LEN);
	MCX_ENSURE(pt_decode(pub->params, &K, rsk) == 0, MCX_ERR_INVALID_ARGUMENT);
	r = decapsulate(pub->params, pub, NULL, &K, id, id_len, encap, encap_len, ssv);
out:
	WIPE(K);
	return r;
}

/* ---- receiver context: RSK with precomputed Miller lines ------------------------ */

struct mcx_sakke_receiver {
	const struct mcx_sakke_params *params;
	struct mcx_sakke_public *pub;
	uint8_t id[MCX_SAKKE_ID_MAX];
	size_t id_len;
	struct ml_lines lines;
};

MCX_RESULT mcx_sakke_receiver_new(const struct mcx_sakke_params *params,
				  const uint8_t Z[MCX_SAKKE_POINT_LEN],
				  const uint8_t *id, size_t id_len,
				  const uint8_t rsk[MCX_SAKKE_POINT_LEN],
				  struct mcx_sakke_receiver **out)
{
	int r = MCX_ERR_INTERNAL;
	struct mcx_sakke_receiver *rx = NULL;
	uint64_t b[NL];
	struct apt K, A;
	struct ppt T;
	fe w;

	MCX_ENSURE_REF(out);
	*out = NULL;
	MCX_ENSURE_REF(params);
	MCX_ENSURE_REF(Z);
	MCX_ENSURE_REF(rsk);
	MCX_ENSURE(id_to_b(params, b, id, id_len) == 0, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(pt_decode(params, &K, rsk) == 0, MCX_ERR_INVALID_ARGUMENT);
	rx = calloc(1, sizeof(*rx));
	MCX_ENSURE_ALLOC(rx);
	rx->params = params;
	memcpy(rx->id, id, id_len);
	rx->id_len = id_len;
	MCX_GUARD(mcx_sakke_public_new(params, Z, &rx->pub));
	MCX_ENSURE(ml_lines_build(params, &rx->lines, &K) == 0, MCX_ERR_ALLOC);
	/* RFC 6508 s.6.1.2 with the lines: <[b]P + Z, K> = <K, [b]P + Z> must be g. */
	bp_plus_z(params, &T, b, &rx->pub->Z);
	MCX_ENSURE(pt_to_affine(params, &A, &T) == 0, MCX_ERR_SIGNATURE_INVALID);
	pairing_lines(params, &w, &rx->lines, &A);
	/* Public check: the RSK validation verdict. */
	MCX_ENSURE(mcx_ct_reveal(mcx_ct_limbs_eq(w.v, params->g.v, NL)), MCX_ERR_SIGNATURE_INVALID);
	*out = rx;
	rx = NULL;
	r = 0;
out:
	mcx_sakke_receiver_free(rx);
	WIPE(K);
	WIPE(w);
	return r;
}

void mcx_sakke_receiver_free(struct mcx_sakke_receiver *rx)
{
	if (rx == NULL)
		return;
	ml_lines_free(&rx->lines);
	mcx_sakke_public_free(rx->pub);
	mcx_crypto_wipe(rx, sizeof(*rx));
	free(rx);
}

MCX_RESULT mcx_sakke_decapsulate_rx(const struct mcx_sakke_receiver *rx,
				    const uint8_t *encap, size_t encap_len,
				    uint8_t ssv[MCX_SAKKE_SSV_LEN])
{
	int r = MCX_ERR_INTERNAL;

	MCX_ENSURE_REF(rx);
	MCX_ENSURE_REF(encap);
	MCX_ENSURE_REF(ssv);
	r = decapsulate(rx->params, rx->pub, &rx->lines, NULL, rx->id, rx->id_len, encap,
			encap_len, ssv);
out:
	return r;
}

MCX_RESULT mcx_sakke_pairing(const struct mcx_sakke_params *params,
			     const uint8_t R[MCX_SAKKE_POINT_LEN],
			     const uint8_t Q[MCX_SAKKE_POINT_LEN],
			     uint8_t out[MCX_SAKKE_FP_LEN])
{
	int r = MCX_ERR_INTERNAL;
	struct apt Ra, Qa;
	fe w;

	MCX_ENSURE_REF(params);
	MCX_ENSURE_REF(R);
	MCX_ENSURE_REF(Q);
	MCX_ENSURE_REF(out);
	MCX_ENSURE(pt_decode(params, &Ra, R) == 0, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(pt_decode(params, &Qa, Q) == 0, MCX_ERR_INVALID_ARGUMENT);
	pairing(params, &w, &Ra, &Qa);
	fe_to_bytes(params, out, &w);
	r = 0;
out:
	WIPE(Qa);
	WIPE(w);
	return r;
}
