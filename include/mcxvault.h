/*
 * libmcxvault — the client library of the mcxvault key vault.
 *
 * A connection speaks the JSON-RPC protocol of docs/protocol.md to vaultd over
 * its Unix-domain socket.  One connection is cheap to use: each call is one
 * send() of the whole request line and reads from a buffered stream; connect
 * once and keep the handle.
 *
 *   struct mcxvault *v = NULL;
 *   struct mcxvault_error e;
 *   uint8_t sig[MCXVAULT_SIGNATURE_LEN];
 *   char *kid = NULL;
 *   int r;
 *
 *   if ((r = mcxvault_connect(NULL, &v)) != 0)
 *           errx(1, "connect: %s", mcxvault_strerror(r));
 *   if ((r = mcxvault_sign(v, "a.example", msg, msglen, 0, &kid, sig, &e)) != 0)
 *           errx(1, "sign: %s (%s)", e.message, e.name);
 *   ...
 *   mcxvault_free(kid);
 *   mcxvault_close(v);
 *
 * Return values.  Every fallible function returns 0 or a negative MCX_ERR_*
 * code from <mcx/error.h>.  An error answered by the vault is mapped onto the
 * matching code (-32002 "not found" -> MCX_ERR_NOT_FOUND, ...; the symbolic
 * name in error.data.error wins when the vault sends one).  Trouble with the
 * connection itself is MCX_ERR_CONNECTION (cannot connect, peer closed),
 * MCX_ERR_TIMEOUT (no complete answer within the timeout) or
 * MCX_ERR_PROTOCOL (the peer sent something that is not a valid response).
 * When an err_out is given it is always filled on failure: rpc_code is the
 * vault's JSON-RPC code (0 when the failure is local), name the MCX_ERR_*
 * name and message a sentence for a human.
 *
 * Recovery.  After MCX_ERR_CONNECTION, MCX_ERR_TIMEOUT or MCX_ERR_PROTOCOL the
 * stream is out of step and the connection is dropped; the next call on the
 * same handle connects again (to the same path) before it sends anything, so a
 * request is never sent twice by the library.  Likewise a connection the vault
 * closed while idle (server.idle_timeout) is noticed and re-established before
 * the next request.
 *
 * Ownership.  Parameters are borrowed.  A json_t ** result is a new reference
 * owned by the caller (json_decref()); a char ** result is a NUL-terminated
 * string owned by the caller (mcxvault_free()).  Any result pointer may be
 * NULL when the caller does not want that value.  On failure every result is
 * set to NULL.
 *
 * Threads.  A handle carries a mutex: calls from several threads on one handle
 * are serialised (they do not run in parallel; use one handle per thread for
 * parallelism).  mcxvault_send()/mcxvault_receive() pipelining is for one
 * thread at a time.
 *
 * fork().  Do not fork while another thread is inside a call on the handle.
 * After fork() the child must not share the parent's stream: the library
 * notices the fork (a pthread_atfork() child handler, registered on the first
 * mcxvault_connect()) and the child's next call opens a connection of its own
 * (the inherited descriptor is closed in the child only; the parent's
 * connection is unaffected).  Pipelined requests the parent had outstanding
 * are not the child's to receive.  Sockets are opened close-on-exec.
 *
 * Signals.  The library never changes signal dispositions; it writes with
 * MSG_NOSIGNAL, so a vault that goes away gives MCX_ERR_CONNECTION, not
 * SIGPIPE.  Calls restart after EINTR within the same deadline.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef MCXVAULT_H
#define MCXVAULT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <mcx/error.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MCXVAULT_API __attribute__((visibility("default")))
#define MCXVAULT_MUST_CHECK __attribute__((warn_unused_result))

#define MCXVAULT_DEFAULT_SOCKET      "/run/mcxvault/vaultd.sock"
#define MCXVAULT_SOCKET_ENV          "MCXVAULT_SOCKET"
#define MCXVAULT_DEFAULT_TIMEOUT_MS  30000
/* The largest response line accepted (the \n included). */
#define MCXVAULT_MAX_RESPONSE        (64u * 1024u * 1024u)
#define MCXVAULT_SIGNATURE_LEN       64   /* ES256 r||s */
#define MCXVAULT_DIGEST_LEN          32   /* SHA-256 */

struct mcxvault;

struct mcxvault_error {
	int rpc_code;        /* the vault's JSON-RPC error code; 0 for a local failure */
	char name[48];       /* "MCX_ERR_NOT_FOUND" */
	char message[256];   /* a sentence for a human (truncated if longer) */
};

/* The library version ("0.1.0"). */
MCXVAULT_API const char *mcxvault_version(void);

/* A sentence / the symbolic name for any MCX_ERR_* code; never NULL. */
MCXVAULT_API const char *mcxvault_strerror(int err);
MCXVAULT_API const char *mcxvault_error_name(int err);

/*
 * The socket path mcxvault_connect() uses for socket_path: socket_path itself
 * when not NULL, else $MCXVAULT_SOCKET when set and not empty, else
 * MCXVAULT_DEFAULT_SOCKET.  The string is borrowed (argument, environment or
 * a constant).
 */
MCXVAULT_API const char *mcxvault_socket_path(const char *socket_path);

/*
 * Connects to vaultd (see mcxvault_socket_path() for the path).  Fails with
 * MCX_ERR_CONNECTION (errno tells why: ENOENT, ECONNREFUSED, EACCES, ...),
 * MCX_ERR_TIMEOUT or MCX_ERR_INVALID_ARGUMENT (path too long).
 */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_connect(const char *socket_path, struct mcxvault **out);
/* Closes the connection and frees the handle; NULL is fine. */
MCXVAULT_API void mcxvault_close(struct mcxvault *v);
/*
 * The longest a call may wait for the vault, in milliseconds (> 0; default
 * MCXVAULT_DEFAULT_TIMEOUT_MS).  The deadline covers the whole call: sending
 * the request and receiving the complete response.
 */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_set_timeout(struct mcxvault *v, int timeout_ms);

/*
 * Calls method with params (a JSON object, borrowed, or NULL for none) and
 * waits for its response.  On success *result_out (if not NULL) is the
 * "result" member, a new reference.
 */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_call(struct mcxvault *v, const char *method, json_t *params,
						   json_t **result_out, struct mcxvault_error *err_out);

/*
 * Pipelining: mcxvault_send() queues a request without waiting (its id in
 * *id_out), mcxvault_receive() waits for the oldest outstanding response.
 * Responses come in request order.  mcxvault_call() needs no outstanding
 * requests.  An RPC error returned by mcxvault_receive() consumes that
 * response; the other outstanding requests stay valid.
 */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_send(struct mcxvault *v, const char *method, json_t *params,
						   int64_t *id_out, struct mcxvault_error *err_out);
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_receive(struct mcxvault *v, json_t **result_out,
						      int64_t *id_out, struct mcxvault_error *err_out);

/* Frees a string returned by the library; NULL is fine. */
MCXVAULT_API void mcxvault_free(void *p);

/* --- typed helpers, one per method of docs/protocol.md ------------------ */

/* vault.status: the status object (version, hsm, domains, caller, ...). */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_status(struct mcxvault *v, json_t **result_out,
						     struct mcxvault_error *err_out);

/* domain.init: creates the domain's sign, cert and token keys and KMS
 * generation 1; result as domain.show. */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_domain_init(struct mcxvault *v, const char *domain,
							  json_t **result_out, struct mcxvault_error *err_out);
/* domain.list: {"domains":[{"domain","kms_uri","initialized","active_sign_version"}...]} */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_domain_list(struct mcxvault *v, json_t **result_out,
							  struct mcxvault_error *err_out);
/* domain.show: {"domain","kms_uri","initialized","keys":[...]} */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_domain_show(struct mcxvault *v, const char *domain,
							  json_t **result_out, struct mcxvault_error *err_out);

/* key.list: {"domain","keys":[{"purpose","version","state","created","kid"}...]} */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_key_list(struct mcxvault *v, const char *domain,
						       json_t **result_out, struct mcxvault_error *err_out);
/*
 * key.rotate: purpose NULL means "sign".  On success *version_out (if not
 * NULL) is the new active version and *result_out the whole result.
 */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_key_rotate(struct mcxvault *v, const char *domain,
							 const char *purpose, int64_t *version_out,
							 json_t **result_out, struct mcxvault_error *err_out);
/* key.retire: purpose NULL means "sign"; version >= 1. */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_key_retire(struct mcxvault *v, const char *domain,
							 const char *purpose, int64_t version,
							 json_t **result_out, struct mcxvault_error *err_out);

/*
 * sign.sign: signs data (is_digest 0: any length, the vault hashes it with
 * SHA-256) or a SHA-256 digest (is_digest 1: len must be 32) with the domain's
 * active key.  sig receives the 64-octet r||s; *kid_out (if not NULL) the key
 * identifier ("a.example/sign/2"), free with mcxvault_free().
 */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_sign(struct mcxvault *v, const char *domain,
						   const void *data, size_t len, int is_digest,
						   char **kid_out, uint8_t sig[MCXVAULT_SIGNATURE_LEN],
						   struct mcxvault_error *err_out);
/*
 * sign.sign for n SHA-256 digests, pipelined on the handle's connection:
 * up to 16 requests in flight, answers collected in order, so the round
 * trips overlap the vault's work.  sigs[i] receives the signature of
 * digests[i] and results[i] 0 or that digest's MCX_ERR_* code; kids (if not
 * NULL, an array of n) the key id of each signature (free each with
 * mcxvault_free(); a rotation during the batch may split them between two
 * versions).  Returns 0 when every digest was signed, else the first error
 * (err_out describes it); when the connection fails, every digest not yet
 * answered gets that error and none of them is sent again by the library.
 * Uses mcxvault_send()/mcxvault_receive(): one thread at a time per handle.
 */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_sign_many(struct mcxvault *v, const char *domain,
							const uint8_t (*digests)[32], size_t n,
							uint8_t (*sigs)[MCXVAULT_SIGNATURE_LEN], int *results,
							char **kids, struct mcxvault_error *err_out);
/*
 * sign.verify: checks a 64-octet r||s signature over data (or a 32-octet
 * digest) with the version named by kid, or with every version when kid is
 * NULL.  A wrong signature is not an error: the call returns 0 with
 * *valid_out = 0.  When valid, *kid_out (if not NULL) names the key that
 * verified it; otherwise it is NULL.
 */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_verify(struct mcxvault *v, const char *domain, const char *kid,
						     const void *data, size_t len, int is_digest,
						     const uint8_t sig[MCXVAULT_SIGNATURE_LEN],
						     int *valid_out, char **kid_out,
						     struct mcxvault_error *err_out);
/*
 * sign.public_key: version 0 means the active version.  *pem_out is the
 * SubjectPublicKeyInfo PEM text, *kid_out the key identifier (both free with
 * mcxvault_free()); *result_out the whole result, including "jwk".
 */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_public_key(struct mcxvault *v, const char *domain, int64_t version,
							 char **pem_out, char **kid_out, json_t **result_out,
							 struct mcxvault_error *err_out);


/*
 * The helpers below, for the methods of docs/protocol.md after sign.*, share
 * these rules.  Required parameters are arguments; NULL is
 * MCX_ERR_INVALID_ARGUMENT (before anything is sent), as is a string that is
 * not UTF-8.  An optional parameter is an argument too, NULL (or 0 where
 * said) meaning "not sent": the vault's default.  *result_out is the whole
 * result (see docs/protocol.md); the other outputs are copies of one member
 * of it, for convenience.  extra (may be NULL; borrowed), where present, is
 * a JSON object whose members are added to the params unless the helper
 * sets them: the way to pass a parameter the vault gained after this
 * helper was written (e.g. gmk.list paging) without a new symbol.
 */

/* domain.upgrade: adds missing cert/token keys, re-signs KMS certificates the
 * sign key signed: {"domain","keys_created","certificates_resigned","changed","keys"} */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_domain_upgrade(struct mcxvault *v, const char *domain,
							     json_t **result_out, struct mcxvault_error *err_out);
/* key.cancel_retire: cancels the scheduled destruction of a verify-only version. */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_key_cancel_retire(struct mcxvault *v, const char *domain,
								const char *purpose, int64_t version,
								json_t **result_out, struct mcxvault_error *err_out);

/* kms.certificate: version 0 means the active KMS generation.  *xml_out (if
 * not NULL) the signed SignedKmsCertificate XML (mcxvault_free()). */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_kms_certificate(struct mcxvault *v, const char *domain, int64_t version,
							      char **xml_out, json_t **result_out,
							      struct mcxvault_error *err_out);
/* kms.user_keys: a user's RSK, SSK and PVT for the key period of time (RFC
 * 3339; NULL: now).  transport_key (16 or 32 octets, or NULL) has the vault
 * wrap them (RFC 5649).  The result holds key material: wipe it. */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_kms_user_keys(struct mcxvault *v, const char *domain,
							    const char *user_uri, const char *time,
							    const uint8_t *transport_key, size_t transport_key_len,
							    json_t **result_out, struct mcxvault_error *err_out);
/* kms.cert_cache: *bundle_out (if not NULL) the signed bundle, a compact JWS. */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_kms_cert_cache(struct mcxvault *v, const char *domain,
							     char **bundle_out, json_t **result_out,
							     struct mcxvault_error *err_out);

/* external.import: trusts an external KMS.  signing_key and token_key (NULL:
 * none) are a JWK object or a PEM string (json_string()); borrowed. */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_external_import(struct mcxvault *v, const char *domain,
							      const char *certificate, json_t *signing_key,
							      json_t *token_key, json_t **result_out,
							      struct mcxvault_error *err_out);
/* external.list: {"domain","external":[...]} */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_external_list(struct mcxvault *v, const char *domain,
							    json_t **result_out, struct mcxvault_error *err_out);
/* external.remove: stops trusting the external KMS kms_uri. */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_external_remove(struct mcxvault *v, const char *domain,
							      const char *kms_uri, json_t **result_out,
							      struct mcxvault_error *err_out);

/* external.revoke: marks the external KMS kms_uri revoked for reason (an
 * RFC 5280 §5.3.1 CRLReason name such as "keyCompromise"); final until
 * external.remove.  Result {domain, kms_uri, revoked, revoked_at,
 * revocation_reason}. */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_external_revoke(struct mcxvault *v, const char *domain,
							      const char *kms_uri, const char *reason,
							      json_t **result_out, struct mcxvault_error *err_out);

/* gmk.create: a new group; *gmk_id_out (if not NULL) its GMK-ID, 8 hex digits. */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_gmk_create(struct mcxvault *v, const char *domain, const char *group,
							 char **gmk_id_out, json_t **result_out,
							 struct mcxvault_error *err_out);
/* gmk.rekey: a new current GMK; *gmk_id_out (if not NULL) its GMK-ID. */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_gmk_rekey(struct mcxvault *v, const char *domain, const char *group,
							char **gmk_id_out, json_t **result_out,
							struct mcxvault_error *err_out);
/* gmk.revoke: destroys the GMK gmk_id, or every GMK of the group (NULL). */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_gmk_revoke(struct mcxvault *v, const char *domain, const char *group,
							 const char *gmk_id, json_t **result_out,
							 struct mcxvault_error *err_out);
/* gmk.list: {"domain","groups":[...]}; extra for paging parameters. */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_gmk_list(struct mcxvault *v, const char *domain, json_t *extra,
						       json_t **result_out, struct mcxvault_error *err_out);
/* gmk.show: every GMK version of a group (no key bytes). */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_gmk_show(struct mcxvault *v, const char *domain, const char *group,
						       json_t **result_out, struct mcxvault_error *err_out);
/*
 * gmk.distribute: one I_MESSAGE per member of members (a JSON array of
 * {"uri","kms_uri"?}, 1 to 10,000; borrowed), for the current GMK or gmk_id,
 * as of time (NULL: now).  A member that fails is not an error of the call:
 * its entry in the result's "members" has an "error" object instead.
 */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_gmk_distribute(struct mcxvault *v, const char *domain,
							     const char *group, const char *sender_uri,
							     json_t *members, const char *time, const char *gmk_id,
							     json_t *extra, json_t **result_out,
							     struct mcxvault_error *err_out);

/* server_key.create: purpose "csk", "mkfc" or "mscck"; *key_id_out (if not NULL) its key id. */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_server_key_create(struct mcxvault *v, const char *domain,
								const char *server_uri, const char *purpose,
								char **key_id_out, json_t **result_out,
								struct mcxvault_error *err_out);
/* server_key.rekey: a new current key of the server and purpose. */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_server_key_rekey(struct mcxvault *v, const char *domain,
							       const char *server_uri, const char *purpose,
							       char **key_id_out, json_t **result_out,
							       struct mcxvault_error *err_out);
/* server_key.revoke: destroys key_id, or every key of the server and purpose (NULL). */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_server_key_revoke(struct mcxvault *v, const char *domain,
								const char *server_uri, const char *purpose,
								const char *key_id, json_t **result_out,
								struct mcxvault_error *err_out);
/* server_key.list: {"domain","servers":[...]}; extra for paging parameters. */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_server_key_list(struct mcxvault *v, const char *domain, json_t *extra,
							      json_t **result_out, struct mcxvault_error *err_out);
/* server_key.show: every version of a server's keys, of one purpose or all (NULL). */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_server_key_show(struct mcxvault *v, const char *domain,
							      const char *server_uri, const char *purpose,
							      json_t **result_out, struct mcxvault_error *err_out);
/* server_key.distribute: as mcxvault_gmk_distribute(), signed as the server. */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_server_key_distribute(struct mcxvault *v, const char *domain,
								    const char *server_uri, const char *purpose,
								    json_t *members, const char *time,
								    const char *key_id, json_t *extra,
								    json_t **result_out,
								    struct mcxvault_error *err_out);

/*
 * redirect.sign: a Security Domain Redirect Response signed by the domain.
 * initiating_kms / receiving_kms: arrays of n_initiating / n_receiving KMS
 * URIs (1 to 64 each).  *response_out (if not NULL) the JWS.
 */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_redirect_sign(struct mcxvault *v, const char *domain,
							    const char *originating_id, const char *receiving_id,
							    const char *originating_kms_uri,
							    const char *const *initiating_kms, size_t n_initiating,
							    const char *const *receiving_kms, size_t n_receiving,
							    json_t *extra, char **response_out, json_t **result_out,
							    struct mcxvault_error *err_out);
/* redirect.evaluate: received_at NULL means now.  *decision_out (if not
 * NULL) "accept", "hold" or "reject": a rejection is not an error. */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_redirect_evaluate(struct mcxvault *v, const char *domain,
								const char *response, const char *received_at,
								char **decision_out, json_t **result_out,
								struct mcxvault_error *err_out);
/* redirect.report: records that user_uri used the redirect response. */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_redirect_report(struct mcxvault *v, const char *domain,
							      const char *response, const char *user_uri,
							      json_t **result_out, struct mcxvault_error *err_out);
/* redirect.accept: the Home KMS accepts a held response. */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_redirect_accept(struct mcxvault *v, const char *domain,
							      const char *response, json_t **result_out,
							      struct mcxvault_error *err_out);

/* token.sign: an ID token over claims (a JSON object with sub and aud;
 * borrowed).  *token_out (if not NULL) the JWT. */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_token_sign(struct mcxvault *v, const char *domain, json_t *claims,
							 char **token_out, json_t **result_out,
							 struct mcxvault_error *err_out);
/* token.verify: a token that does not verify, is expired or not for
 * audience is an error (MCX_ERR_SIGNATURE_INVALID, _EXPIRED, _POLICY_DENIED);
 * time NULL means now.  *claims_out (if not NULL) its payload, a new reference. */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_token_verify(struct mcxvault *v, const char *domain, const char *token,
							   const char *audience, const char *time,
							   json_t **claims_out, json_t **result_out,
							   struct mcxvault_error *err_out);

/* audit.status: the log's file, last record, chain head, health, anchor. */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_audit_status(struct mcxvault *v, json_t **result_out,
							   struct mcxvault_error *err_out);
/* audit.tail: the last count records (0: the vault's default, 20). */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_audit_tail(struct mcxvault *v, int count, json_t **result_out,
							 struct mcxvault_error *err_out);
/* audit.check_checkpoint: checkpoint is a checkpoint record as the audit log
 * holds it (seq, prev, first_seq, last_seq, from, to, mac; borrowed).  A
 * wrong MAC is not an error: 0 with *valid_out = 0. */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_audit_check_checkpoint(struct mcxvault *v, json_t *checkpoint,
								     int *valid_out, struct mcxvault_error *err_out);
/* audit.rotate: seals the file and continues the chain in a new one. */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_audit_rotate(struct mcxvault *v, json_t **result_out,
							   struct mcxvault_error *err_out);
/* metrics: *text_out the Prometheus text (mcxvault_free()). */
MCXVAULT_API MCXVAULT_MUST_CHECK int mcxvault_metrics(struct mcxvault *v, char **text_out,
						      struct mcxvault_error *err_out);

#ifdef __cplusplus
}
#endif

#endif /* MCXVAULT_H */
