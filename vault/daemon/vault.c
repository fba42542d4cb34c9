/*
 * The shared daemon state: configuration references and reload.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "vault/daemon/vault.h"

#include <stdlib.h>
#include <string.h>

#include "vault/daemon/log.h"

struct vault_config *vault_config_acquire(struct vault *vault)
{
	struct vault_config *config;

	pthread_mutex_lock(&vault->config_lock);
	config = vault->config;
	config->refcount++;
	pthread_mutex_unlock(&vault->config_lock);
	return config;
}

void vault_config_release(struct vault *vault, struct vault_config *config)
{
	int last;

	if (config == NULL)
		return;
	pthread_mutex_lock(&vault->config_lock);
	last = --config->refcount == 0;
	pthread_mutex_unlock(&vault->config_lock);
	if (last)
		vault_config_free(config);
}

static int same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

MCX_RESULT vault_reload(struct vault *vault)
{
	int r = MCX_ERR_INTERNAL;
	struct vault_config *fresh = NULL, *old = NULL;
	char *error = NULL;

	r = vault_config_load(vault->config_path, &fresh, &error);
	if (r != MCX_OK) {
		vault_error("reload failed, keeping the running configuration: %s", error ? error : mcx_strerror(r));
		goto out;
	}
	old = vault_config_acquire(vault);
	/* the socket and the HSM are opened once; say so rather than pretend */
	if (!same(old->socket_path, fresh->socket_path) || old->socket_mode != fresh->socket_mode ||
	    old->workers != fresh->workers || old->max_request_bytes != fresh->max_request_bytes)
		vault_warning("reload: server.socket, socket_mode, workers and max_request_bytes take effect at restart");
	if (!same(old->hsm_module, fresh->hsm_module) || !same(old->hsm_token_uri, fresh->hsm_token_uri) ||
	    !same(old->hsm_pin_file, fresh->hsm_pin_file))
		vault_warning("reload: hsm settings take effect at restart");
	if (!same(old->store, fresh->store) || !same(old->gms_store, fresh->gms_store) ||
	    !same(old->node_id, fresh->node_id))
		vault_warning("reload: store, gms.store and node_id take effect at restart");
	vault_config_release(vault, old);
	pthread_mutex_lock(&vault->config_lock);
	old = vault->config;
	vault->config = fresh;
	pthread_mutex_unlock(&vault->config_lock);
	vault_config_release(vault, old);
	vault_log_set_level((enum vault_log_level)fresh->log_level);
	vault_info("configuration reloaded from %s: %zu access entries, %zu domains", vault->config_path,
	           fresh->access_count, fresh->domain_count);
	fresh = NULL;
	r = MCX_OK;
out:
	free(error);
	vault_config_free(fresh);
	return r;
}
