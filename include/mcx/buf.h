/*
 * mcxvault — the one bounded buffer type for every parse and wire operation
 * (after OpenSSH sshbuf.h).
 *
 * A buffer holds bytes between a read offset and a write end, never grows past
 * its hard cap (max_size), and is read only through checked getters that fail
 * with MCX_ERR_MESSAGE_INCOMPLETE instead of reading past the end.  Buffers
 * created with mcx_buf_new_secret() are mlock()ed and wiped on every
 * reallocation, reset and free, so they may hold key material.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef MCX_BUF_H
#define MCX_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "mcx/safety.h"

#define MCX_BUF_SIZE_MAX (64u * 1024u * 1024u)  /* no buffer ever exceeds this */

struct mcx_buf;

/* A growable buffer that never exceeds max_size bytes (<= MCX_BUF_SIZE_MAX). */
struct mcx_buf *mcx_buf_new(size_t max_size);
/* The same, for secrets: mlock()ed, wiped on realloc/reset/free. */
struct mcx_buf *mcx_buf_new_secret(size_t max_size);
/* A read-only view of caller-owned bytes (not copied; must outlive the view). */
struct mcx_buf *mcx_buf_from(const void *data, size_t len);
/* Frees (wiping first if secret); NULL is fine. */
void mcx_buf_free(struct mcx_buf *buf);
/* Drops all content (wiping if secret); keeps the allocation. */
void mcx_buf_reset(struct mcx_buf *buf);
/* When buf is empty and holds more than keep octets of allocation, gives
 * the allocation back (wiped and unlocked if secret); the buffer stays
 * usable and grows again on demand.  1 when released. */
int mcx_buf_release(struct mcx_buf *buf, size_t keep);

size_t mcx_buf_len(const struct mcx_buf *buf);       /* readable bytes */
size_t mcx_buf_max_size(const struct mcx_buf *buf);
size_t mcx_buf_avail(const struct mcx_buf *buf);     /* bytes that may still be added */
const uint8_t *mcx_buf_ptr(const struct mcx_buf *buf);
/* Writable pointer to the readable bytes; NULL for read-only views. */
uint8_t *mcx_buf_mutable_ptr(struct mcx_buf *buf);

/* Appends len bytes of room and returns a pointer to it in *dp. */
MCX_RESULT mcx_buf_reserve(struct mcx_buf *buf, size_t len, uint8_t **dp);
/* Removes len bytes from the start / the end. */
MCX_RESULT mcx_buf_consume(struct mcx_buf *buf, size_t len);
MCX_RESULT mcx_buf_consume_end(struct mcx_buf *buf, size_t len);
/* Gives back the last len bytes of a reservation that were never written
 * (no wipe: they hold nothing); for anything written use consume_end. */
MCX_RESULT mcx_buf_unreserve(struct mcx_buf *buf, size_t len);

MCX_RESULT mcx_buf_put(struct mcx_buf *buf, const void *v, size_t len);
MCX_RESULT mcx_buf_putb(struct mcx_buf *buf, const struct mcx_buf *v);
MCX_RESULT mcx_buf_put_u8(struct mcx_buf *buf, uint8_t v);
MCX_RESULT mcx_buf_put_u16(struct mcx_buf *buf, uint16_t v);  /* big-endian */
MCX_RESULT mcx_buf_put_u32(struct mcx_buf *buf, uint32_t v);
MCX_RESULT mcx_buf_put_u64(struct mcx_buf *buf, uint64_t v);
MCX_RESULT mcx_buf_putf(struct mcx_buf *buf, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Checked getters: consume and return, or fail without consuming. v may be NULL to skip. */
MCX_RESULT mcx_buf_get(struct mcx_buf *buf, void *v, size_t len);
MCX_RESULT mcx_buf_get_u8(struct mcx_buf *buf, uint8_t *v);
MCX_RESULT mcx_buf_get_u16(struct mcx_buf *buf, uint16_t *v);
MCX_RESULT mcx_buf_get_u32(struct mcx_buf *buf, uint32_t *v);
MCX_RESULT mcx_buf_get_u64(struct mcx_buf *buf, uint64_t *v);
/* Peek without consuming. */
MCX_RESULT mcx_buf_peek_u8(const struct mcx_buf *buf, size_t offset, uint8_t *v);

/* Offset of the first byte equal to c, or MCX_ERR_NOT_FOUND. */
MCX_RESULT mcx_buf_find_byte(const struct mcx_buf *buf, uint8_t c, size_t *offset);

#endif /* MCX_BUF_H */
