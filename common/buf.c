/*
 * The bounded buffer (include/mcx/buf.h), after OpenSSH sshbuf.c.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "mcx/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcx/util.h"

struct mcx_buf {
	uint8_t *data;        /* allocation (or the caller's bytes for a view) */
	size_t off;           /* first readable byte */
	size_t size;          /* end of readable bytes */
	size_t alloc;         /* bytes allocated */
	size_t max_size;      /* hard cap on size - off + what may be added */
	int readonly;         /* a view of caller-owned bytes */
	int secret;           /* mlock()ed and wiped */
};

#define BUF_ALLOC_STEP 256

static struct mcx_buf *buf_new(size_t max_size, int secret)
{
	struct mcx_buf *buf;

	if (max_size == 0 || max_size > MCX_BUF_SIZE_MAX)
		return NULL;
	if ((buf = calloc(1, sizeof(*buf))) == NULL)
		return NULL;
	buf->max_size = max_size;
	buf->secret = secret;
	return buf;
}

struct mcx_buf *mcx_buf_new(size_t max_size)
{
	return buf_new(max_size, 0);
}

struct mcx_buf *mcx_buf_new_secret(size_t max_size)
{
	return buf_new(max_size, 1);
}

struct mcx_buf *mcx_buf_from(const void *data, size_t len)
{
	struct mcx_buf *buf;

	if ((data == NULL && len != 0) || len > MCX_BUF_SIZE_MAX)
		return NULL;
	if ((buf = calloc(1, sizeof(*buf))) == NULL)
		return NULL;
	buf->data = (uint8_t *)(uintptr_t)data;
	buf->size = buf->alloc = buf->max_size = len;
	buf->readonly = 1;
	return buf;
}

void mcx_buf_free(struct mcx_buf *buf)
{
	if (buf == NULL)
		return;
	if (!buf->readonly && buf->data != NULL) {
		if (buf->secret) {
			mcx_wipe(buf->data, buf->alloc);
			mcx_unlock_memory(buf->data, buf->alloc);
		}
		free(buf->data);
	}
	mcx_wipe(buf, sizeof(*buf));
	free(buf);
}

void mcx_buf_reset(struct mcx_buf *buf)
{
	if (buf == NULL || buf->readonly)
		return;
	if (buf->secret && buf->data != NULL)
		mcx_wipe(buf->data, buf->alloc);
	buf->off = buf->size = 0;
}

int mcx_buf_release(struct mcx_buf *buf, size_t keep)
{
	if (buf == NULL || buf->readonly || buf->data == NULL || buf->size != buf->off || buf->alloc <= keep)
		return 0;
	if (buf->secret) {
		mcx_wipe(buf->data, buf->alloc);
		mcx_unlock_memory(buf->data, buf->alloc);
	}
	free(buf->data);
	buf->data = NULL;
	buf->alloc = buf->off = buf->size = 0;
	return 1;
}

size_t mcx_buf_len(const struct mcx_buf *buf)
{
	return buf == NULL ? 0 : buf->size - buf->off;
}

size_t mcx_buf_max_size(const struct mcx_buf *buf)
{
	return buf == NULL ? 0 : buf->max_size;
}

size_t mcx_buf_avail(const struct mcx_buf *buf)
{
	if (buf == NULL || buf->readonly)
		return 0;
	return buf->max_size - (buf->size - buf->off);
}

const uint8_t *mcx_buf_ptr(const struct mcx_buf *buf)
{
	return buf == NULL || buf->data == NULL ? (const uint8_t *)"" : buf->data + buf->off;
}

uint8_t *mcx_buf_mutable_ptr(struct mcx_buf *buf)
{
	if (buf == NULL || buf->readonly || buf->data == NULL)
		return NULL;
	return buf->data + buf->off;
}

/* Moves readable bytes to the front when more than half the allocation is dead. */
static void buf_pack(struct mcx_buf *buf)
{
	if (buf->off == 0)
		return;
	if (buf->off == buf->size) {
		buf->off = buf->size = 0;
		return;
	}
	if (buf->off >= buf->alloc / 2) {
		memmove(buf->data, buf->data + buf->off, buf->size - buf->off);
		buf->size -= buf->off;
		if (buf->secret)
			mcx_wipe(buf->data + buf->size, buf->off);
		buf->off = 0;
	}
}

MCX_RESULT mcx_buf_reserve(struct mcx_buf *buf, size_t len, uint8_t **dp)
{
	int r = MCX_ERR_INTERNAL;
	uint8_t *grown = NULL;
	size_t need, new_alloc;

	if (dp != NULL)
		*dp = NULL;
	MCX_ENSURE_REF(buf);
	MCX_ENSURE(!buf->readonly, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(len <= mcx_buf_avail(buf), MCX_ERR_NO_BUFFER_SPACE);
	buf_pack(buf);
	need = buf->size + len;
	if (need > buf->alloc) {
		new_alloc = buf->alloc == 0 ? BUF_ALLOC_STEP : buf->alloc;
		while (new_alloc < need)
			new_alloc *= 2;
		if (new_alloc > buf->off + buf->max_size)
			new_alloc = buf->off + buf->max_size;
		if (new_alloc < need) {
			/* off is large: compact fully, then retry the size */
			memmove(buf->data, buf->data + buf->off, buf->size - buf->off);
			buf->size -= buf->off;
			if (buf->secret)   /* keep the invariant: nothing readable past size */
				mcx_wipe(buf->data + buf->size, buf->off);
			buf->off = 0;
			need = buf->size + len;
			new_alloc = need;
		}
		if (buf->secret) {
			/* never leave a copy of a secret behind in freed memory */
			MCX_ENSURE_ALLOC(grown = malloc(new_alloc));
			mcx_lock_memory(grown, new_alloc);
			/* zero past the readable bytes, so that holds from the start */
			memset(grown + buf->size, 0, new_alloc - buf->size);
			if (buf->data != NULL) {
				memcpy(grown, buf->data, buf->size);
				mcx_wipe(buf->data, buf->alloc);
				mcx_unlock_memory(buf->data, buf->alloc);
				free(buf->data);
			}
		} else {
			MCX_ENSURE_ALLOC(grown = realloc(buf->data, new_alloc));
		}
		buf->data = grown;
		grown = NULL;
		buf->alloc = new_alloc;
	}
	if (dp != NULL)
		*dp = buf->data + buf->size;
	buf->size += len;
	r = MCX_OK;
out:
	return r;
}

MCX_RESULT mcx_buf_consume(struct mcx_buf *buf, size_t len)
{
	if (buf == NULL)
		return MCX_ERR_INVALID_ARGUMENT;
	if (len > mcx_buf_len(buf))
		return MCX_ERR_MESSAGE_INCOMPLETE;
	if (buf->secret)
		mcx_wipe(buf->data + buf->off, len);
	buf->off += len;
	if (buf->off == buf->size && !buf->readonly)
		buf->off = buf->size = 0;
	return MCX_OK;
}

MCX_RESULT mcx_buf_consume_end(struct mcx_buf *buf, size_t len)
{
	if (buf == NULL)
		return MCX_ERR_INVALID_ARGUMENT;
	if (len > mcx_buf_len(buf))
		return MCX_ERR_MESSAGE_INCOMPLETE;
	buf->size -= len;
	if (buf->secret)
		mcx_wipe(buf->data + buf->size, len);
	return MCX_OK;
}

/* A secret buffer's memory is zeroed when allocated and every path that
 * shrinks or moves it wipes what it leaves behind, so the bytes past size
 * are zero: room reserved and not
 * written needs no second wipe (recv into a 64 KiB reservation that brought
 * 100 bytes used to wipe 65,436 bytes per request). */
MCX_RESULT mcx_buf_unreserve(struct mcx_buf *buf, size_t len)
{
	if (buf == NULL)
		return MCX_ERR_INVALID_ARGUMENT;
	if (len > mcx_buf_len(buf))
		return MCX_ERR_MESSAGE_INCOMPLETE;
	buf->size -= len;
	return MCX_OK;
}

MCX_RESULT mcx_buf_put(struct mcx_buf *buf, const void *v, size_t len)
{
	int r = MCX_ERR_INTERNAL;
	uint8_t *p = NULL;

	MCX_ENSURE(v != NULL || len == 0, MCX_ERR_INVALID_ARGUMENT);
	MCX_GUARD(mcx_buf_reserve(buf, len, &p));
	if (len > 0)
		memcpy(p, v, len);
	r = MCX_OK;
out:
	return r;
}

MCX_RESULT mcx_buf_putb(struct mcx_buf *buf, const struct mcx_buf *v)
{
	if (v == NULL)
		return MCX_ERR_INVALID_ARGUMENT;
	return mcx_buf_put(buf, mcx_buf_ptr(v), mcx_buf_len(v));
}

MCX_RESULT mcx_buf_put_u8(struct mcx_buf *buf, uint8_t v)
{
	return mcx_buf_put(buf, &v, 1);
}

MCX_RESULT mcx_buf_put_u16(struct mcx_buf *buf, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	return mcx_buf_put(buf, b, sizeof(b));
}

MCX_RESULT mcx_buf_put_u32(struct mcx_buf *buf, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	return mcx_buf_put(buf, b, sizeof(b));
}

MCX_RESULT mcx_buf_put_u64(struct mcx_buf *buf, uint64_t v)
{
	int r = MCX_ERR_INTERNAL;

	MCX_GUARD(mcx_buf_put_u32(buf, (uint32_t)(v >> 32)));
	MCX_GUARD(mcx_buf_put_u32(buf, (uint32_t)v));
out:
	return r;
}

MCX_RESULT mcx_buf_putf(struct mcx_buf *buf, const char *fmt, ...)
{
	int r = MCX_ERR_INTERNAL, len;
	va_list ap;
	uint8_t *p = NULL;

	MCX_ENSURE_REF(fmt);
	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	MCX_ENSURE(len >= 0, MCX_ERR_INVALID_ARGUMENT);
	/* reserve one byte more for vsnprintf's NUL, then drop it */
	MCX_GUARD(mcx_buf_reserve(buf, (size_t)len + 1, &p));
	va_start(ap, fmt);
	vsnprintf((char *)p, (size_t)len + 1, fmt, ap);
	va_end(ap);
	MCX_GUARD(mcx_buf_consume_end(buf, 1));
	r = MCX_OK;
out:
	return r;
}

MCX_RESULT mcx_buf_get(struct mcx_buf *buf, void *v, size_t len)
{
	if (buf == NULL)
		return MCX_ERR_INVALID_ARGUMENT;
	if (len > mcx_buf_len(buf))
		return MCX_ERR_MESSAGE_INCOMPLETE;
	if (v != NULL && len > 0)
		memcpy(v, mcx_buf_ptr(buf), len);
	return mcx_buf_consume(buf, len);
}

MCX_RESULT mcx_buf_get_u8(struct mcx_buf *buf, uint8_t *v)
{
	return mcx_buf_get(buf, v, 1);
}

MCX_RESULT mcx_buf_get_u16(struct mcx_buf *buf, uint16_t *v)
{
	uint8_t b[2];
	int r = mcx_buf_get(buf, b, sizeof(b));
	if (r == MCX_OK && v != NULL)
		*v = (uint16_t)((b[0] << 8) | b[1]);
	return r;
}

MCX_RESULT mcx_buf_get_u32(struct mcx_buf *buf, uint32_t *v)
{
	uint8_t b[4];
	int r = mcx_buf_get(buf, b, sizeof(b));
	if (r == MCX_OK && v != NULL)
		*v = ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
	return r;
}

MCX_RESULT mcx_buf_get_u64(struct mcx_buf *buf, uint64_t *v)
{
	uint8_t b[8];
	int r = mcx_buf_get(buf, b, sizeof(b));
	if (r == MCX_OK && v != NULL) {
		*v = 0;
		for (size_t i = 0; i < 8; i++)
			*v = (*v << 8) | b[i];
	}
	return r;
}

MCX_RESULT mcx_buf_peek_u8(const struct mcx_buf *buf, size_t offset, uint8_t *v)
{
	if (buf == NULL || v == NULL)
		return MCX_ERR_INVALID_ARGUMENT;
	if (offset >= mcx_buf_len(buf))
		return MCX_ERR_MESSAGE_INCOMPLETE;
	*v = mcx_buf_ptr(buf)[offset];
	return MCX_OK;
}

MCX_RESULT mcx_buf_find_byte(const struct mcx_buf *buf, uint8_t c, size_t *offset)
{
	const uint8_t *p;

	if (buf == NULL || offset == NULL)
		return MCX_ERR_INVALID_ARGUMENT;
	if ((p = memchr(mcx_buf_ptr(buf), c, mcx_buf_len(buf))) == NULL)
		return MCX_ERR_NOT_FOUND;
	*offset = (size_t)(p - mcx_buf_ptr(buf));
	return MCX_OK;
}
