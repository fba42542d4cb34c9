/*
 * THE RPC table: every method vaultd answers, the role it requires, how its
 * domain is checked, the parameters it accepts, and its handler.
 * docs/protocol.md documents each entry; keep the two in step.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "vault/rpc/methods.h"

#define ANY VAULT_ROLE_ANY
#define ADMIN VAULT_ROLE_ADMIN
#define SIGNER VAULT_ROLE_SIGNER
#define KMS VAULT_ROLE_KMS
#define GMS VAULT_ROLE_GMS
#define AUDITOR VAULT_ROLE_AUDITOR

const struct rpc_method rpc_methods[] = {
	/* name              role     domain rule          accepted params                       handler */
	{ "vault.status",    VAULT_ROLE_NONE, RPC_DOMAIN_NONE, { NULL }, method_vault_status,
	  "version, HSM, domains, uptime, counters", RPC_READ_ONLY },
	{ "domain.init",     ADMIN,  RPC_DOMAIN_REQUIRED, { "domain", NULL }, method_domain_init,
	  "create the domain's sign, cert and token keys and KMS generation 1 in the token",
	  RPC_AUDITED | RPC_CHANGES_STATE },
	{ "domain.upgrade",  ADMIN,  RPC_DOMAIN_REQUIRED, { "domain", NULL }, method_domain_upgrade,
	  "add missing cert/token keys, re-sign KMS certificates the sign key signed",
	  RPC_AUDITED | RPC_CHANGES_STATE },
	{ "domain.list",     ANY,    RPC_DOMAIN_NONE, { NULL }, method_domain_list,
	  "configured domains the caller may see", RPC_READ_ONLY },
	{ "domain.show",     ANY,    RPC_DOMAIN_REQUIRED, { "domain", NULL }, method_domain_show,
	  "one domain with its keys", RPC_READ_ONLY },
	{ "key.list",        ANY,    RPC_DOMAIN_REQUIRED, { "domain", NULL }, method_key_list,
	  "every version of every key purpose of a domain", RPC_READ_ONLY },
	{ "key.rotate",      ADMIN,  RPC_DOMAIN_REQUIRED, { "domain", "purpose", NULL }, method_key_rotate,
	  "make version n+1 active, the active one verify-only", RPC_AUDITED | RPC_CHANGES_STATE },
	{ "key.retire",      ADMIN,  RPC_DOMAIN_REQUIRED, { "domain", "purpose", "version", "now", NULL },
	  method_key_retire, "destroy the private key of a verify-only version (after keys.destroy_delay unless now)",
	  RPC_AUDITED | RPC_CHANGES_STATE },
	{ "key.cancel_retire", ADMIN, RPC_DOMAIN_REQUIRED, { "domain", "purpose", "version", NULL },
	  method_key_cancel_retire, "cancel the scheduled destruction of a verify-only version",
	  RPC_AUDITED | RPC_CHANGES_STATE },
	{ "sign.sign",       SIGNER, RPC_DOMAIN_REQUIRED, { "domain", "data", "digest", NULL }, method_sign_sign,
	  "ES256 signature by the domain's active sign key (never cert or token)", RPC_AUDITED },
	{ "sign.verify",     ANY,    RPC_DOMAIN_REQUIRED, { "domain", "kid", "data", "digest", "signature", NULL },
	  method_sign_verify, "verify an ES256 signature of the domain", RPC_READ_ONLY },
	{ "sign.public_key", ANY,    RPC_DOMAIN_REQUIRED, { "domain", "purpose", "version", NULL },
	  method_sign_public_key, "public key of a purpose (sign, cert, token) as JWK and PEM", RPC_READ_ONLY },
	{ "kms.certificate", KMS | ADMIN, RPC_DOMAIN_REQUIRED, { "domain", "version", NULL }, method_kms_certificate,
	  "the domain's TS 33.180 KMS certificate, XML and JSON", RPC_READ_ONLY },
	{ "kms.user_keys",   KMS,    RPC_DOMAIN_REQUIRED, { "domain", "user_uri", "time", "transport_key", NULL },
	  method_kms_user_keys, "a user's RSK, SSK and PVT for a key period", RPC_AUDITED },
	{ "kms.cert_cache",  KMS,    RPC_DOMAIN_REQUIRED, { "domain", NULL }, method_kms_cert_cache,
	  "home and trusted external KMS certificates, one signed bundle", RPC_AUDITED },
	{ "external.import", ADMIN,  RPC_DOMAIN_REQUIRED, { "domain", "certificate", "signing_key", "token_key", NULL },
	  method_external_import, "trust an external domain's KMS certificate", RPC_AUDITED | RPC_CHANGES_STATE },
	{ "external.list",   ANY,    RPC_DOMAIN_REQUIRED, { "domain", NULL }, method_external_list,
	  "external KMS certificates the domain trusts", RPC_READ_ONLY },
	{ "external.remove", ADMIN,  RPC_DOMAIN_REQUIRED, { "domain", "kms_uri", NULL }, method_external_remove,
	  "stop trusting an external KMS", RPC_AUDITED | RPC_CHANGES_STATE },
	{ "external.revoke", ADMIN,  RPC_DOMAIN_REQUIRED, { "domain", "kms_uri", "reason", NULL }, method_external_revoke,
	  "mark an external KMS certificate revoked: kept, listed as revoked, never trusted again",
	  RPC_AUDITED | RPC_CHANGES_STATE },
	/* gms: group master keys and server signalling keys (vault/gms/) */
	{ "gmk.create",      GMS,    RPC_DOMAIN_REQUIRED, { "domain", "group", NULL }, method_gmk_create,
	  "a new group: GMK and GMK-ID from the token RNG, stored wrapped", RPC_AUDITED | RPC_CHANGES_STATE },
	{ "gmk.rekey",       GMS,    RPC_DOMAIN_REQUIRED, { "domain", "group", NULL }, method_gmk_rekey,
	  "a new current GMK; the previous one stays for the overlap", RPC_AUDITED | RPC_CHANGES_STATE },
	{ "gmk.revoke",      GMS,    RPC_DOMAIN_REQUIRED, { "domain", "group", "gmk_id", NULL }, method_gmk_revoke,
	  "destroy one or every GMK of a group", RPC_AUDITED | RPC_CHANGES_STATE },
	{ "gmk.list",        GMS,    RPC_DOMAIN_REQUIRED, { "domain", "limit", "after", NULL }, method_gmk_list,
	  "the domain's groups and their current GMK-IDs (no key bytes), a page at a time", RPC_READ_ONLY },
	{ "gmk.show",        GMS,    RPC_DOMAIN_REQUIRED, { "domain", "group", NULL }, method_gmk_show,
	  "every GMK version of a group (no key bytes)", RPC_READ_ONLY },
	{ "gmk.distribute",  GMS,    RPC_DOMAIN_REQUIRED,
	  { "domain", "group", "sender_uri", "members", "time", "gmk_id", "identities", NULL }, method_gmk_distribute,
	  "MIKEY-SAKKE I_MESSAGEs of a GMK for up to 10,000 members", RPC_AUDITED },
	{ "server_key.create", GMS,  RPC_DOMAIN_REQUIRED, { "domain", "server_uri", "purpose", NULL },
	  method_server_key_create, "a server signalling key (csk, mkfc, mscck)", RPC_AUDITED | RPC_CHANGES_STATE },
	{ "server_key.rekey", GMS,   RPC_DOMAIN_REQUIRED, { "domain", "server_uri", "purpose", NULL },
	  method_server_key_rekey, "a new current server key; the previous one stays for the overlap", RPC_AUDITED | RPC_CHANGES_STATE },
	{ "server_key.revoke", GMS,  RPC_DOMAIN_REQUIRED, { "domain", "server_uri", "purpose", "key_id", NULL },
	  method_server_key_revoke, "destroy one or every key of a server and purpose", RPC_AUDITED | RPC_CHANGES_STATE },
	{ "server_key.list", GMS,    RPC_DOMAIN_REQUIRED, { "domain", NULL }, method_server_key_list,
	  "the domain's server keys (no key bytes)", RPC_READ_ONLY },
	{ "server_key.show", GMS,    RPC_DOMAIN_REQUIRED, { "domain", "server_uri", "purpose", NULL },
	  method_server_key_show, "every version of a server's keys (no key bytes)", RPC_READ_ONLY },
	{ "server_key.distribute", GMS, RPC_DOMAIN_REQUIRED,
	  { "domain", "server_uri", "purpose", "members", "time", "key_id", "identities", NULL }, method_server_key_distribute,
	  "MIKEY-SAKKE I_MESSAGEs of a server key, signed as the server", RPC_AUDITED },
	/* redirect: security domain redirect responses and ID tokens (vault/redirect/) */
	{ "redirect.sign",   SIGNER, RPC_DOMAIN_REQUIRED,
	  { "domain", "originating_id", "receiving_id", "originating_kms_uri", "acceptable_initiating_kms",
	    "acceptable_receiving_kms", "signer_id", NULL },
	  method_redirect_sign, "a TR 33.880 Security Domain Redirect Response signed by the domain (ES256) or, with "
	  "signer_id, by an identity of its KMS (ECCSI)", RPC_AUDITED },
	{ "redirect.evaluate", SIGNER | KMS, RPC_DOMAIN_REQUIRED, { "domain", "response", "received_at", NULL },
	  method_redirect_evaluate, "a redirect response under the home domain's redirect policy", RPC_AUDITED },
	{ "redirect.report", KMS,    RPC_DOMAIN_REQUIRED, { "domain", "response", "user_uri", NULL },
	  method_redirect_report, "record a client's report of external-domain use", RPC_AUDITED },
	{ "redirect.accept", KMS,    RPC_DOMAIN_REQUIRED, { "domain", "response", NULL }, method_redirect_accept,
	  "the Home KMS accepts a held redirect response", RPC_AUDITED | RPC_CHANGES_STATE },
	{ "token.sign",      SIGNER, RPC_DOMAIN_REQUIRED, { "domain", "claims", NULL }, method_token_sign,
	  "an inter-domain ID token (JWT, ES256) for a partner IdM", RPC_AUDITED },
	{ "token.verify",    SIGNER | KMS | ADMIN, RPC_DOMAIN_REQUIRED, { "domain", "token", "audience", "time", NULL },
	  method_token_verify, "an ID token of the home or a trusted external domain", RPC_READ_ONLY },
	/* audit: the audit log (vault/audit/) */
	{ "audit.status",    AUDITOR | ADMIN, RPC_DOMAIN_NONE, { "node", NULL }, method_audit_status,
	  "the audit log: file, last record, chain head, health", RPC_READ_ONLY },
	{ "audit.tail",      AUDITOR | ADMIN, RPC_DOMAIN_NONE, { "count", NULL }, method_audit_tail,
	  "the last records of the audit log", RPC_READ_ONLY },
	{ "audit.check_checkpoint", AUDITOR | ADMIN, RPC_DOMAIN_NONE,
	  { "seq", "prev", "first_seq", "last_seq", "from", "to", "mac", NULL }, method_audit_check_checkpoint,
	  "recompute a checkpoint's HMAC in the HSM", RPC_READ_ONLY },
	/* monitoring: vault/rpc/metrics.c */
	{ "metrics",         AUDITOR | ADMIN, RPC_DOMAIN_NONE, { NULL }, method_metrics,
	  "requests, errors and latency per method, HSM and audit state (Prometheus text)", RPC_READ_ONLY },
	{ "audit.rotate",    ADMIN,  RPC_DOMAIN_NONE, { NULL }, method_audit_rotate,
	  "seal the log file and continue the chain in a new one (after logrotate)", RPC_AUDITED },
};

const size_t rpc_method_count = sizeof(rpc_methods) / sizeof(rpc_methods[0]);
