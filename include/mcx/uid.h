/*
 * mcxvault — MIKEY-SAKKE user identifiers, 3GPP TS 33.180 Annex F.2.1.
 *
 *   UID = SHA-256(S),  S = FC || P0 || L0 || P1 || L1 || ... || P5 || L5
 *   FC = 0x00, P0 = "MIKEY-SAKKE-UID", L0 = 0x000F,
 *   P1 = the user's URI, P2 = the KMS URI, P3 = UserKeyPeriod,
 *   P4 = UserKeyOffset, P5 = the key period number (current period),
 *   each Li the 2-octet big-endian length of Pi; integers are minimal
 *   big-endian octet strings (zero is the single octet 0x00).
 *   period number = floor((NTP seconds - UserKeyOffset) / UserKeyPeriod),
 *   NTP seconds counted from 1900-01-01 (Unix time + 2208988800).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef MCX_UID_H
#define MCX_UID_H

#include <stddef.h>
#include <stdint.h>

#include "mcx/safety.h"

#define MCX_UID_LEN 32
#define MCX_UID_NTP_UNIX_OFFSET 2208988800LL   /* seconds from 1900 to 1970 */

/* The UID for a user URI, KMS URI, key period/offset (s) and period number. */
MCX_RESULT mcx_uid_compute(const char *uri, size_t uri_len,
			   const char *kms_uri, size_t kms_uri_len,
			   uint64_t key_period, uint64_t key_period_offset,
			   uint64_t period_no, uint8_t uid[MCX_UID_LEN]);

/*
 * The key period containing Unix time t: its number and its first and last
 * second as Unix times ([start, end], end = start + period - 1).  Any output
 * pointer may be NULL.  MCX_ERR_INVALID_ARGUMENT if period is 0 or t lies
 * before the offset.
 */
MCX_RESULT mcx_uid_key_period(int64_t unix_time, uint64_t key_period,
			      uint64_t key_period_offset, uint64_t *period_no,
			      int64_t *start_unix, int64_t *end_unix);

#endif /* MCX_UID_H */
