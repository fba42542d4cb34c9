/*
 * vaultd logging: stderr in the foreground, syslog otherwise.
 * Never pass a PIN, key bytes or request payloads to these functions.
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef VAULT_LOG_H
#define VAULT_LOG_H

enum vault_log_level { VAULT_LOG_ERROR = 0, VAULT_LOG_WARNING, VAULT_LOG_INFO, VAULT_LOG_DEBUG };

void vault_log_init(int use_syslog, enum vault_log_level level);
void vault_log_set_level(enum vault_log_level level);
/* Parses "error" | "warning" | "info" | "debug"; -1 if unknown. */
int vault_log_level_parse(const char *name);
void vault_log(enum vault_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define vault_error(...)   vault_log(VAULT_LOG_ERROR, __VA_ARGS__)
#define vault_warning(...) vault_log(VAULT_LOG_WARNING, __VA_ARGS__)
#define vault_info(...)    vault_log(VAULT_LOG_INFO, __VA_ARGS__)
#define vault_debug(...)   vault_log(VAULT_LOG_DEBUG, __VA_ARGS__)

#endif
