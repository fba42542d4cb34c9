/*
 * mcxvault crypto tests — small helpers shared by the crypto test programs.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef MCX_TESTS_CRYPTO_HELPERS_H
#define MCX_TESTS_CRYPTO_HELPERS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Decodes hex text into out (capacity cap), right-aligned in exactly len
 * octets when len > 0 (left-padded with zeros), else natural length.
 * Returns the number of octets written, or 0 on error. */
static inline size_t hexdec(const char *hex, uint8_t *out, size_t cap, size_t len)
{
	size_t hl = strlen(hex), n = hl / 2, off;
	if (hl % 2 != 0 || n > cap || (len > 0 && (n > len || len > cap)))
		return 0;
	off = len > 0 ? len - n : 0;
	memset(out, 0, off);
	for (size_t i = 0; i < n; i++) {
		unsigned v = 0;
		for (int k = 0; k < 2; k++) {
			char c = hex[2 * i + (size_t)k];
			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v |= (unsigned)(c - 'a' + 10);
			else if (c >= 'A' && c <= 'F')
				v |= (unsigned)(c - 'A' + 10);
			else
				return 0;
		}
		out[off + i] = (uint8_t)v;
	}
	return off + n;
}

/* A random source that hands out a fixed sequence of octet strings (the RFC's
 * v, j, ...): each call takes the next string, right-aligned in len octets. */
struct fixed_rng {
	const char *const *hex;
	size_t count, next;
};

static inline int fixed_rng_fn(void *ctx, uint8_t *out, size_t len)
{
	struct fixed_rng *f = ctx;
	if (f->next >= f->count)
		return -1;
	return hexdec(f->hex[f->next++], out, len, len) == len ? 0 : -1;
}

#endif /* MCX_TESTS_CRYPTO_HELPERS_H */
