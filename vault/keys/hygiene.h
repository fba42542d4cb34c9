/*
 * Key hygiene (config group "keys"): scheduled destructions carried out when
 * due, and warnings about old keys and expiring KMS certificates.
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef VAULT_HYGIENE_H
#define VAULT_HYGIENE_H

#include <stdint.h>

struct vault;

/* How often the scheduled destructions are looked at, and how often the
 * age warnings are repeated after the first ones (at start). */
#define HYGIENE_DUE_INTERVAL_NS (2ull * 1000000000ull)
#define HYGIENE_WARN_INTERVAL_NS (86400ull * 1000000000ull)
/* After a failed destruction (audit log or token unavailable): each try
 * costs two audit records, so an outage is retried only this often. */
#define HYGIENE_RETRY_INTERVAL_NS (60ull * 1000000000ull)

/* The reaper thread's state: only that thread touches it. */
struct vault_hygiene {
	uint64_t due_checked_ns;   /* 0: never */
	uint64_t due_interval_ns;  /* until the next look: due or retry interval */
	uint64_t warned_ns;        /* 0: never */
};

/* Called by the server's reaper thread about once a second; does its work
 * at most every HYGIENE_DUE_INTERVAL_NS (destructions) and
 * HYGIENE_WARN_INTERVAL_NS (warnings; the first tick warns at once), and
 * after a failure every HYGIENE_RETRY_INTERVAL_NS. */
void vault_hygiene_tick(struct vault *vault);

#endif
