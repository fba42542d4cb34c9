/*
 * mcxvault crypto — TS 33.180 Annex F.2.1 UID and key periods (see mcx/uid.h).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "crypto/internal.h"
#include "mcx/uid.h"


/* Minimal big-endian encoding of v (0 -> one 0x00 octet); returns its length. */
static size_t int_octets(uint64_t v, uint8_t out[8])
{
	size_t n = 1;
	while (n < 8 && (v >> (8 * n)) != 0)
		n++;
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	return n;
}

MCX_RESULT mcx_uid_compute(const char *uri, size_t uri_len,
			   const char *kms_uri, size_t kms_uri_len,
			   uint64_t key_period, uint64_t key_period_offset,
			   uint64_t period_no, uint8_t uid[MCX_UID_LEN])
{
	static const uint8_t head[] = { 0x00, 'M', 'I', 'K', 'E', 'Y', '-', 'S', 'A', 'K', 'K',
					'E', '-', 'U', 'I', 'D', 0x00, 0x0f };
	int r = MCX_ERR_INTERNAL;
	uint8_t ints[3][8], lens[5][2];
	const uint64_t vals[3] = { key_period, key_period_offset, period_no };
	const uint8_t *parts[11];
	size_t plen[11];

	MCX_ENSURE_REF(uri);
	MCX_ENSURE_REF(kms_uri);
	MCX_ENSURE_REF(uid);
	MCX_ENSURE(uri_len > 0 && uri_len <= 0xffff && kms_uri_len > 0 && kms_uri_len <= 0xffff,
		   MCX_ERR_INVALID_ARGUMENT);
	parts[0] = head;
	plen[0] = sizeof(head);
	parts[1] = (const uint8_t *)uri;
	plen[1] = uri_len;
	parts[3] = (const uint8_t *)kms_uri;
	plen[3] = kms_uri_len;
	for (size_t i = 0; i < 3; i++) {
		parts[5 + 2 * i] = ints[i];
		plen[5 + 2 * i] = int_octets(vals[i], ints[i]);
	}
	for (size_t i = 0; i < 5; i++) {
		size_t l = plen[1 + 2 * i];
		lens[i][0] = (uint8_t)(l >> 8);
		lens[i][1] = (uint8_t)l;
		parts[2 + 2 * i] = lens[i];
		plen[2 + 2 * i] = 2;
	}
	MCX_ENSURE(mcx_crypto_sha256_parts(uid, 11, parts, plen) == 0, MCX_ERR_CRYPTO);
	r = 0;
out:
	return r;
}

MCX_RESULT mcx_uid_key_period(int64_t unix_time, uint64_t key_period,
			      uint64_t key_period_offset, uint64_t *period_no,
			      int64_t *start_unix, int64_t *end_unix)
{
	int r = MCX_ERR_INTERNAL;
	uint64_t ntp, n, start;

	MCX_ENSURE(key_period > 0 && key_period <= INT64_MAX / 2, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(unix_time >= -MCX_UID_NTP_UNIX_OFFSET &&
		   unix_time <= INT64_MAX / 4, MCX_ERR_INVALID_ARGUMENT);
	ntp = (uint64_t)(unix_time + MCX_UID_NTP_UNIX_OFFSET);
	MCX_ENSURE(ntp >= key_period_offset, MCX_ERR_INVALID_ARGUMENT);
	n = (ntp - key_period_offset) / key_period;
	start = key_period_offset + n * key_period;   /* <= ntp < 2^61: no overflow below */
	if (period_no != NULL)
		*period_no = n;
	if (start_unix != NULL)
		*start_unix = (int64_t)start - MCX_UID_NTP_UNIX_OFFSET;
	if (end_unix != NULL)
		*end_unix = (int64_t)start - MCX_UID_NTP_UNIX_OFFSET + (int64_t)key_period - 1;
	r = 0;
out:
	return r;
}
