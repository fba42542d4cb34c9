/*
 * systemd integration without libsystemd: readiness notifications
 * (sd_notify protocol) and a listening socket passed by socket activation
 * (sd_listen_fds protocol).  See notify.c.
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef VAULT_NOTIFY_H
#define VAULT_NOTIFY_H

/* Reads and removes NOTIFY_SOCKET from the environment. */
void vault_notify_init(void);
/* Sends one state line ("READY=1", "RELOADING=1", "STOPPING=1", "STATUS=..."),
 * several separated by '\n'; nothing when not under a service manager. */
void vault_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The listening socket passed by the service manager (vaultd.socket), or -1:
 * LISTEN_PID must be ours and LISTEN_FDS exactly 1; the variables are removed. */
int vault_listen_fd_from_manager(void);

#endif
