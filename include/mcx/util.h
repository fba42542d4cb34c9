/*
 * mcxvault — small shared helpers: base64url (RFC 4648 section 5, no padding,
 * as JOSE uses it), hex, wiping and locking of secrets, time.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef MCX_UTIL_H
#define MCX_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "mcx/buf.h"
#include "mcx/safety.h"

/* Appends the unpadded base64url text of data to out (no NUL). */
MCX_RESULT mcx_base64url_encode(struct mcx_buf *out, const void *data, size_t len);
/* Decodes unpadded base64url text (padding and other alphabets are rejected). */
MCX_RESULT mcx_base64url_decode(struct mcx_buf *out, const char *text, size_t len);
/* Malloc'ed NUL-terminated base64url text, or NULL on allocation failure. */
char *mcx_base64url_string(const void *data, size_t len);

MCX_RESULT mcx_hex_encode(struct mcx_buf *out, const void *data, size_t len);   /* lower case */
MCX_RESULT mcx_hex_decode(struct mcx_buf *out, const char *text, size_t len);

/* Wipes memory in a way the compiler may not elide. */
void mcx_wipe(void *p, size_t len);
/* mlock()s and excludes from core dumps (MADV_DONTDUMP); best effort, never fatal. */
void mcx_lock_memory(void *p, size_t len);
void mcx_unlock_memory(void *p, size_t len);
/* Constant-time comparison: 0 when equal. */
int mcx_memcmp_consttime(const void *a, const void *b, size_t len);

/* Wall clock in seconds / monotonic clock in nanoseconds. */
int64_t mcx_time_now(void);
uint64_t mcx_monotonic_ns(void);
/* RFC 3339 UTC "2026-11-23T17:44:00Z"; buf must hold 21 bytes. */
void mcx_time_format(int64_t t, char buf[21]);
/* Parses RFC 3339 UTC with "Z" (fractional seconds ignored). */
MCX_RESULT mcx_time_parse(const char *text, int64_t *t);

/* A valid UTF-8 string of exactly len bytes without NUL. */
int mcx_utf8_valid(const char *s, size_t len);
/* In place: every byte of s that does not start a valid UTF-8 sequence
 * (a sequence cut by truncation, a raw byte quoted from bad input) becomes
 * '?', so s can go into JSON text. */
void mcx_utf8_repair(char *s);

#endif /* MCX_UTIL_H */
