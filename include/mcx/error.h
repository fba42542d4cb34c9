/*
 * mcxvault — one error namespace for every module.
 *
 * Every fallible function returns 0 on success or a negative MCX_ERR_* code
 * (the OpenSSH ssherr.h convention).  mcx_strerror() gives the operator a
 * sentence; mcx_error_rpc_code() maps the code onto the JSON-RPC error
 * numbers documented in docs/protocol.md, in exactly one place.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef MCX_ERROR_H
#define MCX_ERROR_H

#define MCX_OK                          0
#define MCX_ERR_INTERNAL               -1   /* a bug: should never reach a caller */
#define MCX_ERR_ALLOC                  -2   /* out of memory */
#define MCX_ERR_INVALID_ARGUMENT       -3   /* a caller passed something malformed */
#define MCX_ERR_MESSAGE_INCOMPLETE     -4   /* buffer ran out while parsing */
#define MCX_ERR_NO_BUFFER_SPACE        -5   /* a bounded buffer hit its hard cap */
#define MCX_ERR_PARSE                  -6   /* syntactically invalid input (JSON, XML, base64) */
#define MCX_ERR_INVALID_REQUEST        -7   /* well-formed JSON that is not a JSON-RPC request */
#define MCX_ERR_METHOD_NOT_FOUND       -8
#define MCX_ERR_INVALID_PARAMS         -9
#define MCX_ERR_REQUEST_TOO_LARGE     -10   /* a request line above max_request_bytes */
#define MCX_ERR_PERMISSION_DENIED     -11
#define MCX_ERR_NOT_FOUND             -12   /* unknown domain, key, version, object */
#define MCX_ERR_EXISTS                -13   /* already exists / conflicting state */
#define MCX_ERR_HSM_UNAVAILABLE       -14   /* token gone, session lost and not recoverable */
#define MCX_ERR_POLICY_DENIED         -15
#define MCX_ERR_KEY_STATE             -16   /* key state forbids the operation */
#define MCX_ERR_SYSTEM                -17   /* a system call failed: see errno */
#define MCX_ERR_CRYPTO                -18   /* libcrypto failed */
#define MCX_ERR_SIGNATURE_INVALID     -19   /* a signature did not verify */
#define MCX_ERR_HSM                   -20   /* the HSM refused the call (other CK_RV) */
#define MCX_ERR_HSM_STALE_HANDLE      -21   /* object handle no longer valid: look it up again */
#define MCX_ERR_HSM_PIN               -22   /* PIN incorrect, locked or unreadable */
#define MCX_ERR_CONFIG                -23   /* configuration file invalid */
#define MCX_ERR_CONNECTION            -24   /* client side: cannot reach or lost the vault */
#define MCX_ERR_PROTOCOL              -25   /* client side: the peer broke the protocol */
#define MCX_ERR_TIMEOUT               -26
#define MCX_ERR_AUDIT_UNAVAILABLE     -27   /* the audit record could not be written durably */
#define MCX_ERR_EXPIRED               -28   /* certificate or token outside its validity */
#define MCX_ERR_REVOKED               -29
#define MCX_ERR_UNTRUSTED             -30   /* signer or KMS not trusted by the home domain */
#define MCX_ERR_BUSY                  -31   /* too many connections or a full queue */
#define MCX_ERR_STORE_UNAVAILABLE     -32   /* the shared state store (PostgreSQL) cannot be reached */
#define MCX_ERR_MAX                   -32

/* JSON-RPC 2.0 error codes (spec) and ours (docs/protocol.md). */
#define MCX_RPC_PARSE_ERROR        -32700
#define MCX_RPC_INVALID_REQUEST    -32600
#define MCX_RPC_METHOD_NOT_FOUND   -32601
#define MCX_RPC_INVALID_PARAMS     -32602
#define MCX_RPC_INTERNAL_ERROR     -32603
#define MCX_RPC_PERMISSION_DENIED  -32001
#define MCX_RPC_NOT_FOUND          -32002
#define MCX_RPC_CONFLICT           -32003
#define MCX_RPC_HSM_UNAVAILABLE    -32004
#define MCX_RPC_POLICY_DENIED      -32005
#define MCX_RPC_KEY_STATE          -32006
#define MCX_RPC_SIGNATURE_INVALID  -32007
#define MCX_RPC_AUDIT_UNAVAILABLE  -32008
#define MCX_RPC_EXPIRED            -32009
#define MCX_RPC_BUSY               -32010
#define MCX_RPC_STORE_UNAVAILABLE  -32011

/* A sentence for any MCX_ERR_* code; never NULL. */
const char *mcx_strerror(int err);
/* The JSON-RPC error code a response carries for this MCX_ERR_* code. */
int mcx_error_rpc_code(int err);
/* The symbolic name ("MCX_ERR_NOT_FOUND") for logs and tests. */
const char *mcx_error_name(int err);

#endif /* MCX_ERROR_H */
