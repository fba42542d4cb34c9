/*
 * mcxvault — integration test helpers (see itest.h).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tests/integration/itest.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "mcxvault.h"
#include "mcx/buf.h"
#include "mcx/util.h"

double itest_now(void)
{
	return (double)mcx_monotonic_ns() / 1e9;
}

struct itest_conn *itest_connect(void)
{
	const char *path = mcxvault_socket_path(NULL);
	struct sockaddr_un sa;
	struct itest_conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->next_id = 1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path) ||
	    (c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		free(c);
		return NULL;
	}
	memcpy(sa.sun_path, path, strlen(path));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		printf("  # connect(%s): %s\n", path, strerror(errno));
		close(c->fd);
		free(c);
		return NULL;
	}
	return c;
}

void itest_close(struct itest_conn *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	free(c);
}

int itest_send_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int itest_readline(struct itest_conn *c, int timeout_ms, char **line, size_t *len)
{
	double deadline = itest_now() + timeout_ms / 1000.0;

	*line = NULL;
	if (len != NULL)
		*len = 0;
	for (;;) {
		char *nl = c->len > 0 ? memchr(c->buf, '\n', c->len) : NULL;
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		double left;
		ssize_t n;
		int pr;

		if (nl != NULL) {
			size_t l = (size_t)(nl - c->buf);
			if ((*line = malloc(l + 1)) == NULL)
				return -1;
			memcpy(*line, c->buf, l);
			(*line)[l] = '\0';
			if (len != NULL)
				*len = l;
			memmove(c->buf, nl + 1, c->len - l - 1);
			c->len -= l + 1;
			return 1;
		}
		left = deadline - itest_now();
		if (left <= 0)
			return -1;
		pr = poll(&pfd, 1, (int)(left * 1000) + 1);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return -1;
		if (pr == 0)
			continue;
		if (c->cap - c->len < 65536) {
			size_t cap = c->cap == 0 ? 131072 : c->cap * 2;
			char *grown = realloc(c->buf, cap);
			if (grown == NULL)
				return -1;
			c->buf = grown;
			c->cap = cap;
		}
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE)))
			return 0;
		if (n < 0)
			return -1;
		c->len += (size_t)n;
	}
}

json_t *itest_response(struct itest_conn *c, int timeout_ms)
{
	char *line = NULL;
	size_t len = 0;
	json_t *j;
	json_error_t jerr;
	int r = itest_readline(c, timeout_ms, &line, &len);

	if (r != 1) {
		printf("  # no response: %s\n", r == 0 ? "connection closed" : "timeout or error");
		return NULL;
	}
	if ((j = json_loadb(line, len, 0, &jerr)) == NULL || !json_is_object(j))
		printf("  # response is not a JSON object: %.200s\n", line);
	free(line);
	return j;
}

int itest_code(struct itest_conn *c, json_t *response)
{
	json_t *error, *code;

	c->error_name[0] = c->error_message[0] = '\0';
	if (!json_is_object(response) || !json_is_string(json_object_get(response, "jsonrpc")) ||
	    strcmp(json_string_value(json_object_get(response, "jsonrpc")), "2.0") != 0 ||
	    json_object_get(response, "id") == NULL)
		return ITEST_NO_RESPONSE;
	if (json_object_get(response, "result") != NULL)
		return json_object_get(response, "error") == NULL ? 0 : ITEST_NO_RESPONSE;
	error = json_object_get(response, "error");
	code = json_object_get(error, "code");
	if (!json_is_integer(code) || !json_is_string(json_object_get(error, "message")))
		return ITEST_NO_RESPONSE;
	snprintf(c->error_message, sizeof(c->error_message), "%s",
		 json_string_value(json_object_get(error, "message")));
	if (json_is_string(json_object_get(json_object_get(error, "data"), "error")))
		snprintf(c->error_name, sizeof(c->error_name), "%s",
			 json_string_value(json_object_get(json_object_get(error, "data"), "error")));
	return (int)json_integer_value(code);
}

int itest_call(struct itest_conn *c, const char *method, json_t *params, json_t **result_out)
{
	json_t *req, *resp = NULL;
	char *text = NULL;
	long long id = c->next_id++;
	int code = ITEST_NO_RESPONSE;

	if (result_out != NULL)
		*result_out = NULL;
	req = json_pack("{s:s, s:I, s:s}", "jsonrpc", "2.0", "id", (json_int_t)id, "method", method);
	if (req == NULL) {
		json_decref(params);
		return ITEST_NO_RESPONSE;
	}
	if (params != NULL)
		json_object_set_new(req, "params", params);
	if ((text = json_dumps(req, JSON_COMPACT)) == NULL)
		goto out;
	if (itest_send_all(c->fd, text, strlen(text)) != 0 || itest_send_all(c->fd, "\n", 1) != 0) {
		printf("  # %s: send failed: %s\n", method, strerror(errno));
		goto out;
	}
	if ((resp = itest_response(c, ITEST_TIMEOUT_MS)) == NULL)
		goto out;
	if (!json_is_integer(json_object_get(resp, "id")) || json_integer_value(json_object_get(resp, "id")) != id) {
		printf("  # %s: response id does not match request id %lld\n", method, id);
		goto out;
	}
	code = itest_code(c, resp);
	if (code == 0 && result_out != NULL)
		*result_out = json_incref(json_object_get(resp, "result"));
	if (code != 0 && code != ITEST_NO_RESPONSE && getenv("ITEST_VERBOSE") != NULL)
		printf("  # %s -> %d %s (%s)\n", method, code, c->error_message, c->error_name);
out:
	json_decref(resp);
	json_decref(req);
	free(text);
	return code;
}

int itest_raw(struct itest_conn *c, const void *bytes, size_t len, json_t **response_out)
{
	json_t *resp;
	int code;

	if (response_out != NULL)
		*response_out = NULL;
	if (itest_send_all(c->fd, bytes, len) != 0)
		return ITEST_NO_RESPONSE;
	if ((resp = itest_response(c, ITEST_TIMEOUT_MS)) == NULL)
		return ITEST_NO_RESPONSE;
	code = itest_code(c, resp);
	if (response_out != NULL)
		*response_out = resp;
	else
		json_decref(resp);
	return code;
}

int itest_alive(struct itest_conn *c)
{
	return c != NULL && itest_call(c, "vault.status", NULL, NULL) == 0;
}

const char *itest_str(json_t *object, const char *key)
{
	json_t *v = json_object_get(object, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

long long itest_int(json_t *object, const char *key)
{
	json_t *v = json_object_get(object, key);
	return json_is_integer(v) ? (long long)json_integer_value(v) : -999;
}

int itest_b64d(const char *text, uint8_t *out, size_t max, size_t *len)
{
	struct mcx_buf *b;
	int r = -1;

	*len = 0;
	if (text == NULL || (b = mcx_buf_new(strlen(text) + 4)) == NULL)
		return -1;
	if (mcx_base64url_decode(b, text, strlen(text)) == MCX_OK && mcx_buf_len(b) <= max) {
		memcpy(out, mcx_buf_ptr(b), mcx_buf_len(b));
		*len = mcx_buf_len(b);
		r = 0;
	}
	mcx_buf_free(b);
	return r;
}

char *itest_b64e(const void *data, size_t len)
{
	return mcx_base64url_string(data, len);
}

EVP_PKEY *itest_pem_key(const char *pem)
{
	BIO *bio;
	EVP_PKEY *key;

	if (pem == NULL || (bio = BIO_new_mem_buf(pem, -1)) == NULL)
		return NULL;
	key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	return key;
}

int itest_key_point(EVP_PKEY *key, uint8_t point[65])
{
	size_t len = 0;

	if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point, 65, &len) != 1 || len != 65 ||
	    point[0] != 0x04)
		return -1;
	return 0;
}

int itest_ossl_verify(EVP_PKEY *key, const void *data, size_t len, int is_digest, const uint8_t sig[64])
{
	uint8_t digest[SHA256_DIGEST_LENGTH], *der = NULL;
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	int der_len, ret = -1;

	if (is_digest) {
		if (len != sizeof(digest))
			return -1;
		memcpy(digest, data, len);
	} else {
		SHA256(data, len, digest);
	}
	if ((es = ECDSA_SIG_new()) == NULL || (r = BN_bin2bn(sig, 32, NULL)) == NULL ||
	    (s = BN_bin2bn(sig + 32, 32, NULL)) == NULL)
		goto out;
	if (ECDSA_SIG_set0(es, r, s) != 1)
		goto out;
	r = s = NULL;
	if ((der_len = i2d_ECDSA_SIG(es, &der)) <= 0)
		goto out;
	if ((ctx = EVP_PKEY_CTX_new(key, NULL)) == NULL || EVP_PKEY_verify_init(ctx) != 1)
		goto out;
	ret = EVP_PKEY_verify(ctx, der, (size_t)der_len, digest, sizeof(digest)) == 1 ? 1 : 0;
out:
	EVP_PKEY_CTX_free(ctx);
	OPENSSL_free(der);
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return ret;
}
