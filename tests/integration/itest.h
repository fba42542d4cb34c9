/*
 * mcxvault — helpers shared by the integration test programs: a raw JSON-RPC
 * connection to the real vaultd (independent of libmcxvault's framing, so
 * malformed input can be sent byte for byte) and independent OpenSSL checks
 * of what the vault returns.
 *
 * Each program is driven by a tests/integration/test_*.sh script that starts
 * vaultd on a fresh SoftHSM token and exports MCXVAULT_SOCKET.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef MCX_TESTS_INTEGRATION_ITEST_H
#define MCX_TESTS_INTEGRATION_ITEST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

/* Returned by itest_call()/itest_raw() when no valid response arrived. */
#define ITEST_NO_RESPONSE 1
#define ITEST_TIMEOUT_MS 20000

struct itest_conn {
	int fd;
	char *buf;
	size_t len, cap;
	long long next_id;
	char error_name[64];     /* error.data.error of the last error response */
	char error_message[256]; /* error.message of the last error response */
};

/* Connects to $MCXVAULT_SOCKET; NULL (with a message) on failure. */
struct itest_conn *itest_connect(void);
void itest_close(struct itest_conn *c);

/* Writes everything (MSG_NOSIGNAL); 0 or -1 (errno set). */
int itest_send_all(int fd, const void *data, size_t len);
/*
 * Reads one line (without its \n) into *line (malloc'ed, NUL-terminated).
 * Returns 1 for a line, 0 when the peer closed (or reset) the connection,
 * -1 on timeout or error.
 */
int itest_readline(struct itest_conn *c, int timeout_ms, char **line, size_t *len);
/* Reads and parses one response line; NULL on EOF, timeout or bad JSON. */
json_t *itest_response(struct itest_conn *c, int timeout_ms);
/* 0 for a result, error.code for an error, ITEST_NO_RESPONSE for garbage. */
int itest_code(struct itest_conn *c, json_t *response);

/*
 * Calls method with params (stolen; NULL for none).  Returns the response's
 * code as itest_code(); *result_out (when not NULL) gets a new reference to
 * the result on success.  Checks the response's id matches the request's.
 */
int itest_call(struct itest_conn *c, const char *method, json_t *params, json_t **result_out);
/* Sends raw bytes and reads one response; the code as itest_code(). */
int itest_raw(struct itest_conn *c, const void *bytes, size_t len, json_t **response_out);
/* The connection still answers vault.status. */
int itest_alive(struct itest_conn *c);

/* Members of a JSON object, or NULL / -999 when absent or of another type. */
const char *itest_str(json_t *object, const char *key);
long long itest_int(json_t *object, const char *key);

/* base64url helpers over libmcxcommon. */
int itest_b64d(const char *text, uint8_t *out, size_t max, size_t *len);
char *itest_b64e(const void *data, size_t len);

/* OpenSSL: a public key from PEM text (NULL when it does not parse). */
EVP_PKEY *itest_pem_key(const char *pem);
/* Its uncompressed point 04||x||y; 0 on success. */
int itest_key_point(EVP_PKEY *key, uint8_t point[65]);
/*
 * Verifies an ES256 r||s signature over data (or, is_digest, over the given
 * 32-octet digest) in software: 1 valid, 0 invalid, -1 error.
 */
int itest_ossl_verify(EVP_PKEY *key, const void *data, size_t len, int is_digest, const uint8_t sig[64]);

double itest_now(void);

#endif /* MCX_TESTS_INTEGRATION_ITEST_H */
