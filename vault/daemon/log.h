/*
 * vaultd logging: stderr in the foreground, syslog otherwise.
 * Never pass a PIN, key bytes or request payloads to these functions.
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef VAULT_LOG_H
#define VAULT_LOG_H

#include <pthread.h>
#include <stdint.h>

enum vault_log_level { VAULT_LOG_ERROR = 0, VAULT_LOG_WARNING, VAULT_LOG_INFO, VAULT_LOG_DEBUG };

void vault_log_init(int use_syslog, enum vault_log_level level);
void vault_log_set_level(enum vault_log_level level);
/* Parses "error" | "warning" | "info" | "debug"; -1 if unknown. */
int vault_log_level_parse(const char *name);
void vault_log(enum vault_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A message that a caller can provoke at will (refused connections, lines
 * too long, slow lines): logged at most once per interval, with the number
 * of occurrences left out since.  One static limiter per call site. */
struct vault_log_limit {
	pthread_mutex_t lock;
	uint64_t last_ns;
	unsigned long suppressed;
};
#define VAULT_LOG_LIMIT_INIT { PTHREAD_MUTEX_INITIALIZER, 0, 0 }
#define VAULT_LOG_LIMIT_NS 10000000000ull   /* 10 s */
void vault_log_limited(struct vault_log_limit *limit, enum vault_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define vault_error(...)   vault_log(VAULT_LOG_ERROR, __VA_ARGS__)
#define vault_warning(...) vault_log(VAULT_LOG_WARNING, __VA_ARGS__)
#define vault_info(...)    vault_log(VAULT_LOG_INFO, __VA_ARGS__)
#define vault_debug(...)   vault_log(VAULT_LOG_DEBUG, __VA_ARGS__)

#endif
