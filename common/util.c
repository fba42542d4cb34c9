/*
 * Shared helpers: base64url, hex, secret wiping and locking, time, UTF-8.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "mcx/util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static const char b64url_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

MCX_RESULT mcx_base64url_encode(struct mcx_buf *out, const void *data, size_t len)
{
	int r = MCX_ERR_INTERNAL;
	const uint8_t *in = data;
	uint8_t *p = NULL;
	size_t i, olen;

	MCX_ENSURE(data != NULL || len == 0, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(len <= MCX_BUF_SIZE_MAX, MCX_ERR_NO_BUFFER_SPACE);
	olen = (len / 3) * 4 + (len % 3 == 0 ? 0 : len % 3 + 1);
	MCX_GUARD(mcx_buf_reserve(out, olen, &p));
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
		*p++ = (uint8_t)b64url_alphabet[(v >> 18) & 63];
		*p++ = (uint8_t)b64url_alphabet[(v >> 12) & 63];
		*p++ = (uint8_t)b64url_alphabet[(v >> 6) & 63];
		*p++ = (uint8_t)b64url_alphabet[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		*p++ = (uint8_t)b64url_alphabet[(v >> 18) & 63];
		*p++ = (uint8_t)b64url_alphabet[(v >> 12) & 63];
	} else if (len - i == 2) {
		uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);
		*p++ = (uint8_t)b64url_alphabet[(v >> 18) & 63];
		*p++ = (uint8_t)b64url_alphabet[(v >> 12) & 63];
		*p++ = (uint8_t)b64url_alphabet[(v >> 6) & 63];
	}
	r = MCX_OK;
out:
	return r;
}

static int b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

MCX_RESULT mcx_base64url_decode(struct mcx_buf *out, const char *text, size_t len)
{
	int r = MCX_ERR_INTERNAL;
	uint32_t acc = 0;
	size_t i, bits = 0;
	int v;

	MCX_ENSURE(text != NULL || len == 0, MCX_ERR_INVALID_ARGUMENT);
	/* a length of 1 mod 4 cannot come from any byte string */
	MCX_ENSURE(len % 4 != 1, MCX_ERR_PARSE);
	for (i = 0; i < len; i++) {
		MCX_ENSURE((v = b64url_value((unsigned char)text[i])) >= 0, MCX_ERR_PARSE);
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			MCX_GUARD(mcx_buf_put_u8(out, (uint8_t)(acc >> bits)));
			acc &= (1u << bits) - 1;
		}
	}
	/* leftover bits must be zero: one encoding per byte string */
	MCX_ENSURE(acc == 0, MCX_ERR_PARSE);
	r = MCX_OK;
out:
	acc = 0;
	return r;
}

char *mcx_base64url_string(const void *data, size_t len)
{
	struct mcx_buf *b = NULL;
	char *s = NULL;

	if ((b = mcx_buf_new(len / 3 * 4 + 8)) == NULL)
		return NULL;
	if (mcx_base64url_encode(b, data, len) == MCX_OK && (s = malloc(mcx_buf_len(b) + 1)) != NULL) {
		memcpy(s, mcx_buf_ptr(b), mcx_buf_len(b));
		s[mcx_buf_len(b)] = '\0';
	}
	mcx_buf_free(b);
	return s;
}

MCX_RESULT mcx_hex_encode(struct mcx_buf *out, const void *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	int r = MCX_ERR_INTERNAL;
	const uint8_t *in = data;
	uint8_t *p = NULL;

	MCX_ENSURE(data != NULL || len == 0, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(len <= MCX_BUF_SIZE_MAX / 2, MCX_ERR_NO_BUFFER_SPACE);
	MCX_GUARD(mcx_buf_reserve(out, len * 2, &p));
	for (size_t i = 0; i < len; i++) {
		*p++ = (uint8_t)digits[in[i] >> 4];
		*p++ = (uint8_t)digits[in[i] & 15];
	}
	r = MCX_OK;
out:
	return r;
}

static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

MCX_RESULT mcx_hex_decode(struct mcx_buf *out, const char *text, size_t len)
{
	int r = MCX_ERR_INTERNAL, hi, lo;

	MCX_ENSURE(text != NULL || len == 0, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(len % 2 == 0, MCX_ERR_PARSE);
	for (size_t i = 0; i < len; i += 2) {
		hi = hex_value((unsigned char)text[i]);
		lo = hex_value((unsigned char)text[i + 1]);
		MCX_ENSURE(hi >= 0 && lo >= 0, MCX_ERR_PARSE);
		MCX_GUARD(mcx_buf_put_u8(out, (uint8_t)(hi << 4 | lo)));
	}
	r = MCX_OK;
out:
	return r;
}

void mcx_wipe(void *p, size_t len)
{
	if (p != NULL && len > 0)
		explicit_bzero(p, len);
}

void mcx_lock_memory(void *p, size_t len)
{
	if (p == NULL || len == 0)
		return;
	/* Both are best effort: RLIMIT_MEMLOCK may be small for an unprivileged
	 * vaultd; the daemon also disables core dumps as a whole. */
	(void)mlock(p, len);
#ifdef MADV_DONTDUMP
	{
		/* madvise needs page alignment: cover the pages the range touches */
		uintptr_t page = 4096, start = (uintptr_t)p & ~(page - 1);
		uintptr_t end = ((uintptr_t)p + len + page - 1) & ~(page - 1);
		(void)madvise((void *)start, end - start, MADV_DONTDUMP);
	}
#endif
}

void mcx_unlock_memory(void *p, size_t len)
{
	if (p != NULL && len > 0)
		(void)munlock(p, len);
}

int mcx_memcmp_consttime(const void *a, const void *b, size_t len)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t acc = 0;

	for (size_t i = 0; i < len; i++)
		acc |= x[i] ^ y[i];
	return acc != 0;
}

int64_t mcx_time_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

uint64_t mcx_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void mcx_time_format(int64_t t, char buf[21])
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		memcpy(buf, "1970-01-01T00:00:00Z", 21);
}

MCX_RESULT mcx_time_parse(const char *text, int64_t *t)
{
	int r = MCX_ERR_INTERNAL;
	struct tm tm;
	const char *end;
	time_t tt;

	MCX_ENSURE(text != NULL && t != NULL, MCX_ERR_INVALID_ARGUMENT);
	memset(&tm, 0, sizeof(tm));
	end = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
	MCX_ENSURE(end != NULL, MCX_ERR_PARSE);
	if (*end == '.') {
		end++;
		while (*end >= '0' && *end <= '9')
			end++;
	}
	MCX_ENSURE(end[0] == 'Z' && end[1] == '\0', MCX_ERR_PARSE);
	MCX_ENSURE((tt = timegm(&tm)) != (time_t)-1, MCX_ERR_PARSE);
	*t = (int64_t)tt;
	r = MCX_OK;
out:
	return r;
}

int mcx_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n, k;
	uint32_t cp;

	if (s == NULL)
		return 0;
	while (i < len) {
		unsigned char c = p[i];
		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1; cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2; cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3; cp = c & 0x07;
		} else {
			return 0;
		}
		if (n >= len - i)
			return 0;
		for (k = 1; k <= n; k++) {
			if (i + k >= len || (p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		/* reject overlong forms, surrogates and values above U+10FFFF */
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}

void mcx_utf8_repair(char *s)
{
	size_t len, i = 0;

	if (s == NULL)
		return;
	len = strlen(s);
	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
		if (n != 0 && n <= len - i && mcx_utf8_valid(s + i, n)) {
			i += n;
			continue;
		}
		s[i++] = '?';   /* a stray or cut byte (snprintf truncation, a parser's quote of raw input) */
	}
}
