/*
 * The error table: names, sentences and JSON-RPC codes for every MCX_ERR_*.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "mcx/error.h"

#include <stddef.h>

struct error_entry {
	int code;
	const char *name;
	const char *message;
	int rpc_code;
};

static const struct error_entry error_table[] = {
	{ MCX_OK, "MCX_OK", "success", 0 },
	{ MCX_ERR_INTERNAL, "MCX_ERR_INTERNAL", "internal error", MCX_RPC_INTERNAL_ERROR },
	{ MCX_ERR_ALLOC, "MCX_ERR_ALLOC", "out of memory", MCX_RPC_INTERNAL_ERROR },
	{ MCX_ERR_INVALID_ARGUMENT, "MCX_ERR_INVALID_ARGUMENT", "invalid argument", MCX_RPC_INVALID_PARAMS },
	{ MCX_ERR_MESSAGE_INCOMPLETE, "MCX_ERR_MESSAGE_INCOMPLETE", "message incomplete or truncated", MCX_RPC_INVALID_PARAMS },
	{ MCX_ERR_NO_BUFFER_SPACE, "MCX_ERR_NO_BUFFER_SPACE", "size limit exceeded", MCX_RPC_INVALID_PARAMS },
	{ MCX_ERR_PARSE, "MCX_ERR_PARSE", "parse error", MCX_RPC_PARSE_ERROR },
	{ MCX_ERR_INVALID_REQUEST, "MCX_ERR_INVALID_REQUEST", "invalid request", MCX_RPC_INVALID_REQUEST },
	{ MCX_ERR_METHOD_NOT_FOUND, "MCX_ERR_METHOD_NOT_FOUND", "method not found", MCX_RPC_METHOD_NOT_FOUND },
	{ MCX_ERR_INVALID_PARAMS, "MCX_ERR_INVALID_PARAMS", "invalid params", MCX_RPC_INVALID_PARAMS },
	{ MCX_ERR_REQUEST_TOO_LARGE, "MCX_ERR_REQUEST_TOO_LARGE", "request too large", MCX_RPC_INVALID_REQUEST },
	{ MCX_ERR_PERMISSION_DENIED, "MCX_ERR_PERMISSION_DENIED", "permission denied", MCX_RPC_PERMISSION_DENIED },
	{ MCX_ERR_NOT_FOUND, "MCX_ERR_NOT_FOUND", "not found", MCX_RPC_NOT_FOUND },
	{ MCX_ERR_EXISTS, "MCX_ERR_EXISTS", "already exists", MCX_RPC_CONFLICT },
	{ MCX_ERR_HSM_UNAVAILABLE, "MCX_ERR_HSM_UNAVAILABLE", "HSM unavailable", MCX_RPC_HSM_UNAVAILABLE },
	{ MCX_ERR_POLICY_DENIED, "MCX_ERR_POLICY_DENIED", "denied by policy", MCX_RPC_POLICY_DENIED },
	{ MCX_ERR_KEY_STATE, "MCX_ERR_KEY_STATE", "key state forbids the operation", MCX_RPC_KEY_STATE },
	{ MCX_ERR_SYSTEM, "MCX_ERR_SYSTEM", "system call failed", MCX_RPC_INTERNAL_ERROR },
	{ MCX_ERR_CRYPTO, "MCX_ERR_CRYPTO", "cryptographic library failure", MCX_RPC_INTERNAL_ERROR },
	{ MCX_ERR_SIGNATURE_INVALID, "MCX_ERR_SIGNATURE_INVALID", "signature invalid", MCX_RPC_SIGNATURE_INVALID },
	{ MCX_ERR_HSM, "MCX_ERR_HSM", "HSM refused the operation", MCX_RPC_HSM_UNAVAILABLE },
	{ MCX_ERR_HSM_STALE_HANDLE, "MCX_ERR_HSM_STALE_HANDLE", "HSM object handle is stale", MCX_RPC_HSM_UNAVAILABLE },
	{ MCX_ERR_HSM_PIN, "MCX_ERR_HSM_PIN", "HSM PIN incorrect, locked or unreadable", MCX_RPC_HSM_UNAVAILABLE },
	{ MCX_ERR_CONFIG, "MCX_ERR_CONFIG", "configuration invalid", MCX_RPC_INTERNAL_ERROR },
	{ MCX_ERR_CONNECTION, "MCX_ERR_CONNECTION", "cannot reach the vault", MCX_RPC_INTERNAL_ERROR },
	{ MCX_ERR_PROTOCOL, "MCX_ERR_PROTOCOL", "protocol violation", MCX_RPC_INTERNAL_ERROR },
	{ MCX_ERR_TIMEOUT, "MCX_ERR_TIMEOUT", "timed out", MCX_RPC_INTERNAL_ERROR },
	{ MCX_ERR_AUDIT_UNAVAILABLE, "MCX_ERR_AUDIT_UNAVAILABLE", "audit log cannot be written", MCX_RPC_AUDIT_UNAVAILABLE },
	{ MCX_ERR_EXPIRED, "MCX_ERR_EXPIRED", "expired or not yet valid", MCX_RPC_EXPIRED },
	{ MCX_ERR_REVOKED, "MCX_ERR_REVOKED", "revoked", MCX_RPC_EXPIRED },
	{ MCX_ERR_UNTRUSTED, "MCX_ERR_UNTRUSTED", "not trusted", MCX_RPC_POLICY_DENIED },
	{ MCX_ERR_BUSY, "MCX_ERR_BUSY", "busy: try again", MCX_RPC_BUSY },
	{ MCX_ERR_STORE_UNAVAILABLE, "MCX_ERR_STORE_UNAVAILABLE", "the shared state store is unavailable: try again",
	  MCX_RPC_STORE_UNAVAILABLE },
};

static const struct error_entry *error_lookup(int err)
{
	for (size_t i = 0; i < sizeof(error_table) / sizeof(error_table[0]); i++)
		if (error_table[i].code == err)
			return &error_table[i];
	return NULL;
}

const char *mcx_strerror(int err)
{
	const struct error_entry *e = error_lookup(err);
	return e != NULL ? e->message : "unknown error";
}

const char *mcx_error_name(int err)
{
	const struct error_entry *e = error_lookup(err);
	return e != NULL ? e->name : "MCX_ERR_UNKNOWN";
}

int mcx_error_rpc_code(int err)
{
	const struct error_entry *e = error_lookup(err);
	return e != NULL ? e->rpc_code : MCX_RPC_INTERNAL_ERROR;
}
