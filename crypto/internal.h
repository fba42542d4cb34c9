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

#endif /* MCX_CRYPTO_INTERNAL_H */
