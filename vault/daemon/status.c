/*
 * vault.status: what an operator checks first.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "mcx/util.h"
#include "pkcs11/hsm.h"
#include "vault/audit/audit.h"
#include "vault/store/store.h"
#include "vault/rpc/methods.h"

int method_vault_status(struct rpc_call *call, json_t *params, json_t **result)
{
	int r = MCX_ERR_INTERNAL;
	struct hsm_token_info info;
	json_t *domains = NULL, *roles = NULL;
	unsigned held = vault_access_roles(call->config, call->caller, NULL);

	memset(&info, 0, sizeof(info));
	if (hsm_token_info(call->vault->hsm, &info) != MCX_OK)
		info.reachable = 0;
	if (held == 0) {
		/* anyone who reaches the socket may ask; a caller without a role
		 * learns that the vault is up and who it is to the vault, not the
		 * token's serial, the load, or how busy the audit log is */
		MCX_ENSURE_ALLOC(*result = json_pack("{s:s, s:{s:b}, s:[], s:{s:I, s:I, s:I, s:[]}}", "version",
		                                     MCXVAULT_VERSION, "hsm", "reachable", info.reachable, "domains",
		                                     "caller", "uid", (json_int_t)call->caller->uid, "gid",
		                                     (json_int_t)call->caller->gid, "pid", (json_int_t)call->caller->pid,
		                                     "roles"));
		r = MCX_OK;
		goto out;
	}
	MCX_ENSURE_ALLOC(domains = json_array());
	for (size_t i = 0; i < call->config->domain_count; i++)
		if (vault_access_roles(call->config, call->caller, call->config->domains[i].name) != 0)
			MCX_ENSURE(json_array_append_new(domains, json_string(call->config->domains[i].name)) == 0,
			           MCX_ERR_ALLOC);
	MCX_ENSURE_ALLOC(roles = json_array());
	for (unsigned bit = 1; bit <= VAULT_ROLE_AUDITOR; bit <<= 1)
		if (held & bit)
			MCX_ENSURE(json_array_append_new(roles, json_string(vault_role_name(bit))) == 0, MCX_ERR_ALLOC);
	*result = json_pack("{s:s, s:I, s:{s:s, s:s, s:s, s:s, s:b}, s:O, s:{s:I, s:I}, s:i, s:{s:i, s:i, s:i, s:O}}",
	                    "version", MCXVAULT_VERSION, "uptime_seconds",
	                    (json_int_t)(mcx_time_now() - call->vault->started), "hsm", "module",
	                    call->config->hsm_module, "module_description", info.module_description, "token_label",
	                    info.token_label, "token_serial", info.token_serial, "reachable", info.reachable,
	                    "domains", domains, "requests", "total",
	                    (json_int_t)atomic_load(&call->vault->requests_total), "errors",
	                    (json_int_t)atomic_load(&call->vault->requests_failed), "connections",
	                    (json_int_t)atomic_load(&call->vault->connections), "caller", "uid",
	                    (json_int_t)call->caller->uid, "gid", (json_int_t)call->caller->gid, "pid",
	                    (json_int_t)call->caller->pid, "roles", roles);
	MCX_ENSURE_ALLOC(*result);
	if (call->vault->audit != NULL) {
		struct audit_status st;
		audit_status_get(call->vault->audit, &st);
		/* the sequence number tells how busy every domain is: for callers whose
		 * auditor or admin role covers every domain (as audit.status) */
		if (vault_access_roles_unscoped(call->config, call->caller) & (VAULT_ROLE_AUDITOR | VAULT_ROLE_ADMIN))
			json_object_set_new(*result, "audit", json_pack("{s:b, s:I}", "healthy", st.healthy, "seq",
			                                                (json_int_t)st.seq));
		else
			json_object_set_new(*result, "audit", json_pack("{s:b}", "healthy", st.healthy));
	} else {
		json_object_set_new(*result, "audit", json_pack("{s:b}", "enabled", 0));
	}
	/* several vaults: is the shared store there, and is this vault hearing
	 * of the others' key changes (a monitoring check for each node) */
	if (mcx_store_shared(call->vault->store))
		json_object_set_new(*result, "store", json_pack("{s:s, s:b, s:b}", "kind", mcx_store_kind(call->vault->store),
		                                                "reachable", mcx_store_reachable(call->vault->store),
		                                                "following", mcx_store_following(call->vault->store)));
	r = MCX_OK;
out:
	json_decref(domains);
	json_decref(roles);
	return r;
}
