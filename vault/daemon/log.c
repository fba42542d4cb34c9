/*
 * vaultd logging.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "vault/daemon/log.h"

#include "mcx/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

static int log_syslog;
static volatile int log_level = VAULT_LOG_INFO;

static const char *const level_names[] = { "error", "warning", "info", "debug" };
static const int syslog_priorities[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

void vault_log_init(int use_syslog, enum vault_log_level level)
{
	log_syslog = use_syslog;
	log_level = level;
	if (use_syslog)
		openlog("vaultd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void vault_log_set_level(enum vault_log_level level)
{
	log_level = level;
}

int vault_log_level_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (name != NULL && strcmp(name, level_names[i]) == 0)
			return (int)i;
	return -1;
}

void vault_log(enum vault_log_level level, const char *fmt, ...)
{
	char message[1024];
	va_list ap;

	if ((int)level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	if (log_syslog)
		syslog(syslog_priorities[level], "%s", message);
	else
		fprintf(stderr, "vaultd[%ld]: %s: %s\n", (long)getpid(), level_names[level], message);
}

void vault_log_limited(struct vault_log_limit *limit, enum vault_log_level level, const char *fmt, ...)
{
	char message[900];
	va_list ap;
	unsigned long suppressed;
	uint64_t now = mcx_monotonic_ns();

	if ((int)level > log_level)
		return;
	pthread_mutex_lock(&limit->lock);
	if (limit->last_ns != 0 && now - limit->last_ns < VAULT_LOG_LIMIT_NS) {
		limit->suppressed++;
		pthread_mutex_unlock(&limit->lock);
		return;
	}
	suppressed = limit->suppressed;
	limit->suppressed = 0;
	limit->last_ns = now;
	pthread_mutex_unlock(&limit->lock);
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	if (suppressed > 0)
		vault_log(level, "%s (and %lu more like it in the last %llu s)", message, suppressed,
		          (unsigned long long)(VAULT_LOG_LIMIT_NS / 1000000000ull));
	else
		vault_log(level, "%s", message);
}
