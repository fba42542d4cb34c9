/*
 * mcxvault crypto — helpers shared by the crypto/ sources only.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef MCX_CRYPTO_INTERNAL_H
#define MCX_CRYPTO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Decodes exactly 2*len hex digits into out; 0 or -1.  For built-in constants. */
int mcx_crypto_unhex(const char *hex, uint8_t *out, size_t len);
/* Fills out from rnd (or RAND_priv_bytes when rnd is NULL); 0 or -1. */
int mcx_crypto_random(int (*rnd)(void *, uint8_t *, size_t), void *ctx, uint8_t *out,
		      size_t len);
/* SHA-256 of a || b (either may be empty); 0 or -1. */
int mcx_crypto_sha256(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
		      uint8_t out[32]);
/* SHA-256 of the concatenation of n parts; 0 or -1. */
int mcx_crypto_sha256_parts(uint8_t out[32], size_t n, const uint8_t *const *parts,
			    const size_t *lens);
/* Wipes len bytes so that the compiler cannot drop it. */
void mcx_crypto_wipe(void *p, size_t len);

/*
 * Test hook (tests/crypto only): non-zero makes SAKKE invert by Fermat,
 * a^(m-2), instead of the blinded BN_mod_inverse.  Never set by the library.
 */
extern int mcx_sakke_inv_fermat;
/* The same for ECCSI's s = (HE + r SSK)^-1 j: q_inv instead of the blinded
 * inversion (crypto/eccsi.c). */
extern int mcx_eccsi_inv_fermat;

/*
 * Constant-time test hooks (tests/ct only; both NULL in the library, where
 * mcx_ct_public/mcx_ct_taint cost one predictable branch).
 *
 * mcx_ct_public(p, len) marks a documented public check: len octets at p are
 * derived from secrets but may be revealed (a validity verdict, a blinded
 * value, a public output).  Every call site says why in a comment; the list
 * is in docs/crypto.md, "Constant time".  The test maps it to
 * VALGRIND_MAKE_MEM_DEFINED.
 *
 * mcx_ct_taint(dst, dlen, src, slen) makes dst exactly as secret as src: used
 * after a blinded computation whose result is secret again (SAKKE's inverse),
 * so that the test keeps following it.  The test maps it to
 * VALGRIND_MAKE_MEM_UNDEFINED when any bit of src is undefined.
 */
extern void (*mcx_ct_public_hook)(const void *p, size_t len);
extern void (*mcx_ct_taint_hook)(void *dst, size_t dlen, const void *src, size_t slen);

static inline void mcx_ct_public(const void *p, size_t len)
{
	if (mcx_ct_public_hook != NULL)
		mcx_ct_public_hook(p, len);
}

static inline void mcx_ct_taint(void *dst, size_t dlen, const void *src, size_t slen)
{
	if (mcx_ct_taint_hook != NULL)
		mcx_ct_taint_hook(dst, dlen, src, slen);
}

/* A constant-time verdict (a mask: 0 or non-zero) at a public check: declassified, as 0/1. */
static inline int mcx_ct_reveal(uint64_t verdict)
{
	mcx_ct_public(&verdict, sizeof(verdict));
	return verdict != 0;
}

#endif /* MCX_CRYPTO_INTERNAL_H */
