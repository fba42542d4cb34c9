/*
 * Handlers named in the RPC table (vault/rpc/rpc_table.c), grouped by service.
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef VAULT_METHODS_H
#define VAULT_METHODS_H

#include "vault/rpc/rpc.h"

/* vault/daemon/status.c */
int method_vault_status(struct rpc_call *call, json_t *params, json_t **result);
/* vault.status's result object as compact JSON text in buf (NUL-terminated,
 * *len octets), the very bytes jansson would dump; MCX_ERR_NO_BUFFER_SPACE
 * when it does not fit.  ascii_only: refuse (MCX_ERR_NO_BUFFER_SPACE) any
 * octet >= 0x80, which only jansson's parse can check for UTF-8. */
int vault_status_text(struct rpc_call *call, int ascii_only, char *buf, size_t size, size_t *len);
/* vault/keys/key_methods.c */
int method_domain_init(struct rpc_call *call, json_t *params, json_t **result);
int method_domain_list(struct rpc_call *call, json_t *params, json_t **result);
int method_domain_show(struct rpc_call *call, json_t *params, json_t **result);
int method_key_list(struct rpc_call *call, json_t *params, json_t **result);
int method_key_rotate(struct rpc_call *call, json_t *params, json_t **result);
int method_key_retire(struct rpc_call *call, json_t *params, json_t **result);
int method_key_cancel_retire(struct rpc_call *call, json_t *params, json_t **result);
int method_domain_upgrade(struct rpc_call *call, json_t *params, json_t **result);
/* vault/sign/sign_methods.c */
int method_sign_sign(struct rpc_call *call, json_t *params, json_t **result);
int method_sign_verify(struct rpc_call *call, json_t *params, json_t **result);
int method_sign_public_key(struct rpc_call *call, json_t *params, json_t **result);

/* vault/kms/kms_methods.c */
int method_kms_certificate(struct rpc_call *call, json_t *params, json_t **result);
int method_kms_user_keys(struct rpc_call *call, json_t *params, json_t **result);
int method_kms_cert_cache(struct rpc_call *call, json_t *params, json_t **result);
int method_external_import(struct rpc_call *call, json_t *params, json_t **result);
int method_external_list(struct rpc_call *call, json_t *params, json_t **result);
int method_external_remove(struct rpc_call *call, json_t *params, json_t **result);
int method_external_revoke(struct rpc_call *call, json_t *params, json_t **result);

/* vault/gms/ */
int method_gmk_create(struct rpc_call *call, json_t *params, json_t **result);
int method_gmk_rekey(struct rpc_call *call, json_t *params, json_t **result);
int method_gmk_revoke(struct rpc_call *call, json_t *params, json_t **result);
int method_gmk_list(struct rpc_call *call, json_t *params, json_t **result);
int method_gmk_show(struct rpc_call *call, json_t *params, json_t **result);
int method_gmk_distribute(struct rpc_call *call, json_t *params, json_t **result);
int method_server_key_create(struct rpc_call *call, json_t *params, json_t **result);
int method_server_key_rekey(struct rpc_call *call, json_t *params, json_t **result);
int method_server_key_revoke(struct rpc_call *call, json_t *params, json_t **result);
int method_server_key_list(struct rpc_call *call, json_t *params, json_t **result);
int method_server_key_show(struct rpc_call *call, json_t *params, json_t **result);
int method_server_key_distribute(struct rpc_call *call, json_t *params, json_t **result);
/* vault/redirect/ */
int method_redirect_sign(struct rpc_call *call, json_t *params, json_t **result);
int method_redirect_evaluate(struct rpc_call *call, json_t *params, json_t **result);
int method_redirect_report(struct rpc_call *call, json_t *params, json_t **result);
int method_redirect_accept(struct rpc_call *call, json_t *params, json_t **result);
int method_token_sign(struct rpc_call *call, json_t *params, json_t **result);
int method_token_verify(struct rpc_call *call, json_t *params, json_t **result);
/* vault/audit/ */
int method_audit_status(struct rpc_call *call, json_t *params, json_t **result);
int method_audit_tail(struct rpc_call *call, json_t *params, json_t **result);
int method_audit_check_checkpoint(struct rpc_call *call, json_t *params, json_t **result);
int method_audit_rotate(struct rpc_call *call, json_t *params, json_t **result);
/* vault/rpc/metrics.c */
int method_metrics(struct rpc_call *call, json_t *params, json_t **result);

#endif
