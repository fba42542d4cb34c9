/*
 * The service manager's readiness protocol, spoken directly (sd_notify(3),
 * "the documented socket protocol"): one datagram per state change to the
 * AF_UNIX socket named by $NOTIFY_SOCKET (a path, or an abstract name when
 * it starts with '@').  Without NOTIFY_SOCKET (not under systemd, or
 * Type=simple) every call is a no-op.  No libsystemd: one less library in
 * the process that holds the PIN.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "vault/daemon/notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vault/daemon/log.h"

static char notify_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static int notify_enabled;

void vault_notify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");

	notify_enabled = 0;
	if (path == NULL || path[0] == '\0')
		return;
	if ((path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(notify_path)) {
		vault_warning("NOTIFY_SOCKET '%.64s' is not a socket path: not telling the service manager", path);
		return;
	}
	snprintf(notify_path, sizeof(notify_path), "%s", path);
	notify_enabled = 1;
	/* children (none today) must not talk to our service manager */
	unsetenv("NOTIFY_SOCKET");
}

void vault_notify(const char *fmt, ...)
{
	struct sockaddr_un sa;
	char message[512];
	socklen_t len;
	va_list ap;
	int fd, n;

	if (!notify_enabled)
		return;
	va_start(ap, fmt);
	n = vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	if (n <= 0 || (size_t)n >= sizeof(message))
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, notify_path, strlen(notify_path));
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(notify_path));
	if (notify_path[0] == '@')
		sa.sun_path[0] = '\0';   /* abstract namespace */
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return;
	if (sendto(fd, message, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0)
		vault_warning("cannot notify the service manager (%s): %s", notify_path, strerror(errno));
	close(fd);
}

int vault_listen_fd_from_manager(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	char *end = NULL;
	long n;
	int type = 0;
	socklen_t tlen = sizeof(type);

	if (pid == NULL || fds == NULL || strtol(pid, &end, 10) != (long)getpid() || *end != '\0')
		return -1;
	n = strtol(fds, &end, 10);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (*end != '\0' || n != 1) {
		vault_warning("LISTEN_FDS=%s: vaultd takes exactly one passed socket; binding its own", fds);
		return -1;
	}
	/* SD_LISTEN_FDS_START: the first passed descriptor is 3 */
	if (getsockopt(3, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 || type != SOCK_STREAM) {
		vault_warning("the socket passed by the service manager is not a stream socket; binding its own");
		return -1;
	}
	return 3;
}
