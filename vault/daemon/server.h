/*
 * The socket server: listening socket, worker threads, connections.
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef VAULT_SERVER_H
#define VAULT_SERVER_H

#include "mcx/safety.h"
#include "vault/daemon/vault.h"

struct vault_server;

/* Creates the socket (refusing to replace one a live vaultd listens on). */
MCX_RESULT vault_server_open(struct vault *vault, const struct vault_config *config, struct vault_server **out);
/* Starts the workers and the idle reaper. */
MCX_RESULT vault_server_start(struct vault_server *server);
/* Stops accepting, closes every connection, joins the threads, removes the socket. */
void vault_server_stop(struct vault_server *server);
void vault_server_free(struct vault_server *server);
/* Applies the new idle timeout and connection limit after a reload. */
void vault_server_reconfigure(struct vault_server *server, const struct vault_config *config);

#endif
