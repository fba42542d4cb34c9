/*
 * mcxvault crypto — shared helpers (see internal.h).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <limits.h>
#include <pthread.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "crypto/internal.h"

static EVP_MD *fetched_sha256;

void (*mcx_ct_public_hook)(const void *p, size_t len);
void (*mcx_ct_taint_hook)(void *dst, size_t dlen, const void *src, size_t slen);

static void fetch_sha256(void)
{
	fetched_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static int unhex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int mcx_crypto_unhex(const char *hex, uint8_t *out, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		int hi = unhex_digit(hex[2 * i]), lo;
		if (hi < 0)
			return -1;
		lo = unhex_digit(hex[2 * i + 1]);
		if (lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return hex[2 * len] == '\0' ? 0 : -1;
}

int mcx_crypto_random(int (*rnd)(void *, uint8_t *, size_t), void *ctx, uint8_t *out,
		      size_t len)
{
	if (rnd != NULL)
		return rnd(ctx, out, len) == 0 ? 0 : -1;
	if (len > INT_MAX)
		return -1;
	return RAND_priv_bytes(out, (int)len) == 1 ? 0 : -1;
}

/* SHA-256 is fetched once (kept for the life of the process); EVP_MD objects are
 * safe to share between threads. */
static const EVP_MD *sha256_md(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	(void)pthread_once(&once, fetch_sha256);
	return fetched_sha256 != NULL ? fetched_sha256 : EVP_sha256();
}

int mcx_crypto_sha256_parts(uint8_t out[32], size_t n, const uint8_t *const *parts,
			    const size_t *lens)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int outlen = 0;
	int ok;

	if (md == NULL)
		return -1;
	ok = EVP_DigestInit_ex(md, sha256_md(), NULL) == 1;
	for (size_t i = 0; ok && i < n; i++)
		ok = lens[i] == 0 || EVP_DigestUpdate(md, parts[i], lens[i]) == 1;
	ok = ok && EVP_DigestFinal_ex(md, out, &outlen) == 1 && outlen == 32;
	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

int mcx_crypto_sha256(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
		      uint8_t out[32])
{
	const uint8_t *parts[2] = { a, b };
	size_t lens[2] = { alen, blen };
	return mcx_crypto_sha256_parts(out, 2, parts, lens);
}

void mcx_crypto_wipe(void *p, size_t len)
{
	OPENSSL_cleanse(p, len);
}
