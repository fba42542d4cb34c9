/*
 * libmcxvault: the connection, the framing and the generic call
 * (include/mcxvault.h, docs/protocol.md "Framing").
 *
 * One request is one line written with one send() where the socket allows;
 * responses are read into a bounded buffer (mcx_buf, at most
 * MCXVAULT_MAX_RESPONSE) and split at '\n'.  Waiting is always poll() with
 * the time left before the call's deadline: no sleeps, no busy loops.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "mcxvault.h"
#include "vault/client/client_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "mcx/buf.h"
#include "mcx/safety.h"
#include "mcx/util.h"

#define READ_CHUNK_MIN (16u * 1024u)
#define READ_CHUNK_MAX (1024u * 1024u)

struct mcxvault {
	pthread_mutex_t lock;
	int fd;                   /* -1 while disconnected */
	unsigned fork_gen;        /* fork_generation when fd was opened */
	int timeout_ms;
	int64_t next_id;          /* id of the next request */
	int64_t outstanding;      /* requests sent whose response is not read yet */
	size_t scanned;           /* bytes at the start of rbuf known to hold no '\n' */
	char *path;
	struct mcx_buf *wbuf;     /* the request being sent (while corked: several) */
	int corked;               /* mcx_client_cork: requests wait in wbuf */
	struct mcx_buf *rbuf;     /* bytes received, not yet consumed */
};

/*
 * Counts fork()s in this process (a pthread_atfork child handler), so a
 * handle notices it is in a child without a getpid() system call per call.
 */
static unsigned fork_generation;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void fork_child(void)
{
	__atomic_add_fetch(&fork_generation, 1, __ATOMIC_RELAXED);
}

static void fork_register(void)
{
	(void)pthread_atfork(NULL, NULL, fork_child);
}

/* Whether the handle's socket was opened by this process (not inherited). */
static int conn_ours(const struct mcxvault *v)
{
	return v->fork_gen == __atomic_load_n(&fork_generation, __ATOMIC_RELAXED);
}

/* --- errors ------------------------------------------------------------- */

static void err_clear(struct mcxvault_error *e)
{
	if (e != NULL)
		memset(e, 0, sizeof(*e));
}

static void err_set(struct mcxvault_error *e, int rpc_code, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void err_set(struct mcxvault_error *e, int rpc_code, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return;
	e->rpc_code = rpc_code;
	snprintf(e->name, sizeof(e->name), "%s", name);
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
}

/* A local failure: name and sentence from the code, unless a message was set. */
static void err_local(struct mcxvault_error *e, int code)
{
	if (e == NULL || e->name[0] != '\0')
		return;
	err_set(e, 0, mcx_error_name(code), "%s", mcx_strerror(code));
}

static const struct {
	int rpc_code;
	int code;
} rpc_codes[] = {
	{ MCX_RPC_PARSE_ERROR, MCX_ERR_PARSE },
	{ MCX_RPC_INVALID_REQUEST, MCX_ERR_INVALID_REQUEST },
	{ MCX_RPC_METHOD_NOT_FOUND, MCX_ERR_METHOD_NOT_FOUND },
	{ MCX_RPC_INVALID_PARAMS, MCX_ERR_INVALID_PARAMS },
	{ MCX_RPC_INTERNAL_ERROR, MCX_ERR_INTERNAL },
	{ MCX_RPC_PERMISSION_DENIED, MCX_ERR_PERMISSION_DENIED },
	{ MCX_RPC_NOT_FOUND, MCX_ERR_NOT_FOUND },
	{ MCX_RPC_CONFLICT, MCX_ERR_EXISTS },
	{ MCX_RPC_HSM_UNAVAILABLE, MCX_ERR_HSM_UNAVAILABLE },
	{ MCX_RPC_POLICY_DENIED, MCX_ERR_POLICY_DENIED },
	{ MCX_RPC_KEY_STATE, MCX_ERR_KEY_STATE },
	{ MCX_RPC_SIGNATURE_INVALID, MCX_ERR_SIGNATURE_INVALID },
	{ MCX_RPC_AUDIT_UNAVAILABLE, MCX_ERR_AUDIT_UNAVAILABLE },
	{ MCX_RPC_EXPIRED, MCX_ERR_EXPIRED },
	{ MCX_RPC_BUSY, MCX_ERR_BUSY },
};

/*
 * The MCX_ERR_* for an error response: the symbolic name in error.data.error
 * when it is one we know (and an error), else the JSON-RPC code's meaning.
 */
static int rpc_error_code(int rpc_code, const char *name)
{
	if (name != NULL) {
		for (int c = -1; c >= MCX_ERR_MAX; c--)
			if (strcmp(mcx_error_name(c), name) == 0)
				return c;
	}
	for (size_t i = 0; i < MCX_ARRAY_SIZE(rpc_codes); i++)
		if (rpc_codes[i].rpc_code == rpc_code)
			return rpc_codes[i].code;
	return MCX_ERR_INTERNAL;
}

const char *mcxvault_strerror(int err)
{
	return mcx_strerror(err);
}

const char *mcxvault_error_name(int err)
{
	return mcx_error_name(err);
}

const char *mcxvault_version(void)
{
	return MCXVAULT_VERSION;
}

void mcxvault_free(void *p)
{
	free(p);
}

/* --- time --------------------------------------------------------------- */

static uint64_t deadline_after(int timeout_ms)
{
	return mcx_monotonic_ns() + (uint64_t)timeout_ms * 1000000u;
}

/* Milliseconds left before the deadline, rounded up; 0 when it has passed. */
static int time_left_ms(uint64_t deadline)
{
	uint64_t now = mcx_monotonic_ns();

	if (now >= deadline)
		return 0;
	return (int)((deadline - now + 999999u) / 1000000u);
}

/* Waits for events on fd until the deadline: 0, MCX_ERR_TIMEOUT or MCX_ERR_CONNECTION. */
static MCX_RESULT wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd pfd;
	int n, left;

	for (;;) {
		if ((left = time_left_ms(deadline)) == 0)
			return MCX_ERR_TIMEOUT;
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, left);
		if (n > 0)
			return MCX_OK;   /* readable, writable, HUP or ERR: the I/O call tells */
		if (n == 0)
			return MCX_ERR_TIMEOUT;
		if (errno != EINTR)
			return MCX_ERR_CONNECTION;
	}
}

/* --- the connection ----------------------------------------------------- */

static void conn_drop(struct mcxvault *v)
{
	if (v->fd >= 0)
		close(v->fd);
	v->fd = -1;
	v->outstanding = 0;
	v->scanned = 0;
	mcx_buf_reset(v->rbuf);
	mcx_buf_reset(v->wbuf);
}

static MCX_RESULT conn_open(struct mcxvault *v, struct mcxvault_error *err)
{
	int r = MCX_ERR_INTERNAL, fd = -1, flags, saved;
	struct sockaddr_un sun;
	struct timeval tv;

	conn_drop(v);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	MCX_ENSURE(strlen(v->path) < sizeof(sun.sun_path), MCX_ERR_INVALID_ARGUMENT);
	memcpy(sun.sun_path, v->path, strlen(v->path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		MCX_BAIL(MCX_ERR_CONNECTION);
	/* a blocking connect() of a Unix socket honours SO_SNDTIMEO (full backlog) */
	tv.tv_sec = v->timeout_ms / 1000;
	tv.tv_usec = (v->timeout_ms % 1000) * 1000;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0)
		MCX_BAIL(MCX_ERR_CONNECTION);
	while (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		if (errno == EINTR)
			continue;
		MCX_BAIL(errno == EAGAIN || errno == EINPROGRESS ? MCX_ERR_TIMEOUT : MCX_ERR_CONNECTION);
	}
	if ((flags = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
		MCX_BAIL(MCX_ERR_CONNECTION);
	v->fd = fd;
	fd = -1;
	v->fork_gen = __atomic_load_n(&fork_generation, __ATOMIC_RELAXED);
	r = MCX_OK;
out:
	if (r != MCX_OK) {
		saved = errno;
		err_set(err, 0, mcx_error_name(r), "connect %s: %s", v->path,
			r == MCX_ERR_INVALID_ARGUMENT ? "socket path too long" : strerror(saved));
		if (fd >= 0)
			close(fd);
		errno = saved;
	}
	return r;
}

/*
 * Before a request when nothing is outstanding: reconnect in a forked child,
 * after an earlier failure, or when the vault closed the idle connection
 * (or sent something unasked, which is as bad).
 */
static MCX_RESULT conn_ready(struct mcxvault *v, struct mcxvault_error *err)
{
	struct pollfd pfd;

	if (v->fd >= 0 && !conn_ours(v)) {
		/* the child's copy of the parent's socket: never read from it */
		conn_drop(v);
	}
	if (v->fd >= 0 && v->outstanding == 0) {
		pfd.fd = v->fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (mcx_buf_len(v->rbuf) != 0 || poll(&pfd, 1, 0) != 0)
			conn_drop(v);
	}
	if (v->fd >= 0)
		return MCX_OK;
	return conn_open(v, err);
}

const char *mcxvault_socket_path(const char *socket_path)
{
	const char *env;

	if (socket_path != NULL)
		return socket_path;
	if ((env = getenv(MCXVAULT_SOCKET_ENV)) != NULL && env[0] != '\0')
		return env;
	return MCXVAULT_DEFAULT_SOCKET;
}

int mcxvault_connect(const char *socket_path, struct mcxvault **out)
{
	int r = MCX_ERR_INTERNAL, saved;
	struct mcxvault *v = NULL;
	const char *path;

	MCX_ENSURE_REF(out);
	*out = NULL;
	MCX_ENSURE(pthread_once(&fork_once, fork_register) == 0, MCX_ERR_SYSTEM);
	path = mcxvault_socket_path(socket_path);
	MCX_ENSURE(path[0] != '\0', MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE_ALLOC(v = calloc(1, sizeof(*v)));
	v->fd = -1;
	v->timeout_ms = MCXVAULT_DEFAULT_TIMEOUT_MS;
	v->next_id = 1;
	MCX_ENSURE(pthread_mutex_init(&v->lock, NULL) == 0, MCX_ERR_SYSTEM);
	MCX_ENSURE_ALLOC(v->path = strdup(path));
	MCX_ENSURE_ALLOC(v->wbuf = mcx_buf_new(MCX_BUF_SIZE_MAX));
	MCX_ENSURE_ALLOC(v->rbuf = mcx_buf_new(MCXVAULT_MAX_RESPONSE));
	MCX_GUARD(conn_open(v, NULL));
	*out = v;
	v = NULL;
	r = MCX_OK;
out:
	saved = errno;
	mcxvault_close(v);
	errno = saved;
	return r;
}

void mcxvault_close(struct mcxvault *v)
{
	if (v == NULL)
		return;
	if (v->fd >= 0)
		close(v->fd);
	mcx_buf_free(v->wbuf);
	mcx_buf_free(v->rbuf);
	free(v->path);
	pthread_mutex_destroy(&v->lock);
	free(v);
}

int mcxvault_set_timeout(struct mcxvault *v, int timeout_ms)
{
	if (v == NULL || timeout_ms <= 0)
		return MCX_ERR_INVALID_ARGUMENT;
	pthread_mutex_lock(&v->lock);
	v->timeout_ms = timeout_ms;
	pthread_mutex_unlock(&v->lock);
	return MCX_OK;
}

/* --- sending ------------------------------------------------------------ */

/* Method names are plain identifiers ("sign.sign"): nothing to escape. */
static int method_valid(const char *method)
{
	size_t i;

	if (method == NULL || method[0] == '\0')
		return 0;
	for (i = 0; method[i] != '\0' && i < 128; i++) {
		char c = method[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return method[i] == '\0';
}

static int dump_to_buf(const char *p, size_t len, void *data)
{
	return mcx_buf_put(data, p, len) == MCX_OK ? 0 : -1;
}

static MCX_RESULT write_all(struct mcxvault *v, uint64_t deadline)
{
	int r = MCX_ERR_INTERNAL;
	ssize_t n;

	while (mcx_buf_len(v->wbuf) > 0) {
		n = send(v->fd, mcx_buf_ptr(v->wbuf), mcx_buf_len(v->wbuf), MSG_NOSIGNAL);
		if (n > 0) {
			MCX_GUARD(mcx_buf_consume(v->wbuf, (size_t)n));
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			MCX_GUARD(wait_fd(v->fd, POLLOUT, deadline));
			continue;
		}
		MCX_BAIL(MCX_ERR_CONNECTION);
	}
	r = MCX_OK;
out:
	return r;
}

static MCX_RESULT send_locked(struct mcxvault *v, const char *method, json_t *params,
			      uint64_t deadline, int64_t *id_out, struct mcxvault_error *err)
{
	int r = MCX_ERR_INTERNAL;
	int64_t id;
	size_t mark = 0;

	if (!method_valid(method)) {
		err_set(err, 0, "MCX_ERR_INVALID_ARGUMENT", "invalid method name");
		MCX_BAIL(MCX_ERR_INVALID_ARGUMENT);
	}
	if (params != NULL && !json_is_object(params)) {
		err_set(err, 0, "MCX_ERR_INVALID_ARGUMENT", "params must be a JSON object");
		MCX_BAIL(MCX_ERR_INVALID_ARGUMENT);
	}
	if (v->fd >= 0 && !conn_ours(v))
		conn_drop(v);   /* a forked child: forget the parent's stream */
	if (v->outstanding == 0)
		MCX_GUARD(conn_ready(v, err));

	id = v->next_id;
	if (!v->corked)
		mcx_buf_reset(v->wbuf);
	mark = mcx_buf_len(v->wbuf);
	MCX_GUARD(mcx_buf_putf(v->wbuf, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":\"%s\"",
			       (long long)id, method));
	if (params != NULL) {
		MCX_GUARD(mcx_buf_put(v->wbuf, ",\"params\":", 10));
		if (json_dump_callback(params, dump_to_buf, v->wbuf, JSON_COMPACT) != 0) {
			err_set(err, 0, "MCX_ERR_NO_BUFFER_SPACE", "request too large to encode");
			MCX_BAIL(MCX_ERR_NO_BUFFER_SPACE);
		}
	}
	MCX_GUARD(mcx_buf_put(v->wbuf, "}\n", 2));
	v->next_id++;
	if (v->corked) {          /* written by the uncork */
		mark = mcx_buf_len(v->wbuf);
	} else if ((r = write_all(v, deadline)) != MCX_OK) {
		err_set(err, 0, mcx_error_name(r), "%s",
			r == MCX_ERR_TIMEOUT ? "timed out sending the request" : "the vault closed the connection");
		conn_drop(v);
		goto out;
	}
	v->outstanding++;
	if (id_out != NULL)
		*id_out = id;
	r = MCX_OK;
out:
	if (!v->corked)
		mcx_buf_reset(v->wbuf);
	else if (mcx_buf_len(v->wbuf) > mark &&   /* a request that failed to encode */
		 mcx_buf_consume_end(v->wbuf, mcx_buf_len(v->wbuf) - mark) != MCX_OK)
		mcx_buf_reset(v->wbuf);           /* cannot happen: the length was just read */
	return r;
}

/*
 * Pipelining in one write (vault/client/client_internal.h): between cork
 * and uncork, mcxvault_send appends its requests to wbuf and the uncork
 * sends them all with one write, so vaultd finds them together in one read
 * and can answer a run of sign.sign lines in parallel (issue 11).
 */
void mcx_client_cork(struct mcxvault *v)
{
	pthread_mutex_lock(&v->lock);
	if (!v->corked)
		mcx_buf_reset(v->wbuf);
	v->corked = 1;
	pthread_mutex_unlock(&v->lock);
}

int mcx_client_uncork(struct mcxvault *v, struct mcxvault_error *err_out)
{
	int r = MCX_OK;

	err_clear(err_out);
	pthread_mutex_lock(&v->lock);
	v->corked = 0;
	if (mcx_buf_len(v->wbuf) > 0 && (r = write_all(v, deadline_after(v->timeout_ms))) != MCX_OK) {
		err_set(err_out, 0, mcx_error_name(r), "%s",
			r == MCX_ERR_TIMEOUT ? "timed out sending the requests" : "the vault closed the connection");
		conn_drop(v);
	}
	mcx_buf_reset(v->wbuf);
	pthread_mutex_unlock(&v->lock);
	if (r != MCX_OK)
		err_local(err_out, r);
	return r;
}

/* --- receiving ---------------------------------------------------------- */

/* Reads until rbuf holds a complete line; *len_out is its length with the '\n'. */
static MCX_RESULT read_line(struct mcxvault *v, uint64_t deadline, size_t *len_out,
			    struct mcxvault_error *err)
{
	int r = MCX_ERR_INTERNAL;
	const uint8_t *nl;
	uint8_t *p = NULL;
	size_t len, chunk;
	ssize_t n;

	for (;;) {
		len = mcx_buf_len(v->rbuf);
		if (len > v->scanned &&
		    (nl = memchr(mcx_buf_ptr(v->rbuf) + v->scanned, '\n', len - v->scanned)) != NULL) {
			*len_out = (size_t)(nl - mcx_buf_ptr(v->rbuf)) + 1;
			break;
		}
		v->scanned = len;
		chunk = len < READ_CHUNK_MIN ? READ_CHUNK_MIN : len > READ_CHUNK_MAX ? READ_CHUNK_MAX : len;
		if (chunk > mcx_buf_avail(v->rbuf))
			chunk = mcx_buf_avail(v->rbuf);
		if (chunk == 0) {
			err_set(err, 0, "MCX_ERR_PROTOCOL", "response longer than %u bytes",
				MCXVAULT_MAX_RESPONSE);
			MCX_BAIL(MCX_ERR_PROTOCOL);
		}
		if ((r = wait_fd(v->fd, POLLIN, deadline)) != MCX_OK) {
			err_set(err, 0, mcx_error_name(r), "%s",
				r == MCX_ERR_TIMEOUT ? "timed out waiting for the vault's response"
						     : "waiting for the vault failed");
			goto out;
		}
		MCX_GUARD(mcx_buf_reserve(v->rbuf, chunk, &p));
		n = recv(v->fd, p, chunk, 0);
		MCX_GUARD(mcx_buf_unreserve(v->rbuf, n > 0 ? chunk - (size_t)n : chunk));
		if (n > 0)
			continue;
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		err_set(err, 0, "MCX_ERR_CONNECTION", "%s",
			n == 0 ? (len == 0 ? "the vault closed the connection"
					   : "the vault closed the connection in the middle of a response")
			       : strerror(errno));
		MCX_BAIL(MCX_ERR_CONNECTION);
	}
	r = MCX_OK;
out:
	return r;
}

/* Checks one response line against the expected id and splits result / error. */
static MCX_RESULT parse_response(const uint8_t *line, size_t len, int64_t expect_id,
				 json_t **result_out, int *rpc_failed, struct mcxvault_error *err)
{
	int r = MCX_ERR_INTERNAL;
	json_t *resp = NULL, *id, *result, *error, *code, *message, *data, *name;
	json_error_t jerr;
	const char *ver, *name_s = NULL;
	json_int_t rpc_code;

	*rpc_failed = 0;
	if ((resp = json_loadb((const char *)line, len, 0, &jerr)) == NULL) {
		err_set(err, 0, "MCX_ERR_PROTOCOL", "response is not JSON: %s", jerr.text);
		MCX_BAIL(MCX_ERR_PROTOCOL);
	}
	if (!json_is_object(resp) || (ver = json_string_value(json_object_get(resp, "jsonrpc"))) == NULL ||
	    strcmp(ver, "2.0") != 0) {
		err_set(err, 0, "MCX_ERR_PROTOCOL", "response is not a JSON-RPC 2.0 object");
		MCX_BAIL(MCX_ERR_PROTOCOL);
	}
	id = json_object_get(resp, "id");
	result = json_object_get(resp, "result");
	error = json_object_get(resp, "error");
	if ((result == NULL) == (error == NULL)) {
		err_set(err, 0, "MCX_ERR_PROTOCOL", "response has %s", result ? "both result and error"
										: "neither result nor error");
		MCX_BAIL(MCX_ERR_PROTOCOL);
	}
	/* an error about a line the vault could not read carries id null */
	if (!(json_is_integer(id) && json_integer_value(id) == expect_id) &&
	    !(error != NULL && json_is_null(id))) {
		err_set(err, 0, "MCX_ERR_PROTOCOL", "response id does not match request id %lld",
			(long long)expect_id);
		MCX_BAIL(MCX_ERR_PROTOCOL);
	}
	if (result != NULL) {
		if (result_out != NULL)
			*result_out = json_incref(result);
		r = MCX_OK;
		goto out;
	}
	code = json_object_get(error, "code");
	message = json_object_get(error, "message");
	data = json_object_get(error, "data");
	name = json_object_get(data, "error");
	if (!json_is_object(error) || !json_is_integer(code) || (message != NULL && !json_is_string(message)) ||
	    (name != NULL && !json_is_string(name))) {
		err_set(err, 0, "MCX_ERR_PROTOCOL", "malformed error object in response");
		MCX_BAIL(MCX_ERR_PROTOCOL);
	}
	rpc_code = json_integer_value(code);
	if (rpc_code < -2147483647 || rpc_code > 2147483647)
		rpc_code = MCX_RPC_INTERNAL_ERROR;
	name_s = json_string_value(name);
	r = rpc_error_code((int)rpc_code, name_s);
	*rpc_failed = 1;
	err_set(err, (int)rpc_code, name_s != NULL ? name_s : mcx_error_name(r), "%s",
		message != NULL ? json_string_value(message) : mcx_strerror(r));
out:
	json_decref(resp);
	return r;
}

static MCX_RESULT receive_locked(struct mcxvault *v, uint64_t deadline, json_t **result_out,
				 int64_t *id_out, struct mcxvault_error *err)
{
	int r = MCX_ERR_INTERNAL, rpc_failed = 0;
	int64_t expect_id;
	size_t len = 0;

	if (v->outstanding <= 0 || v->fd < 0 || !conn_ours(v)) {
		err_set(err, 0, "MCX_ERR_INVALID_ARGUMENT", "no request is waiting for its response");
		return MCX_ERR_INVALID_ARGUMENT;   /* the stream is fine: keep it */
	}
	expect_id = v->next_id - v->outstanding;
	if (id_out != NULL)
		*id_out = expect_id;
	MCX_GUARD(read_line(v, deadline, &len, err));
	r = parse_response(mcx_buf_ptr(v->rbuf), len - 1, expect_id, result_out, &rpc_failed, err);
	if (r == MCX_OK || rpc_failed) {
		/* a complete, well-formed response: the stream is still in step */
		v->outstanding--;
		v->scanned = 0;
		if (mcx_buf_consume(v->rbuf, len) != MCX_OK)
			r = MCX_ERR_INTERNAL;
	}
out:
	if (r != MCX_OK && !rpc_failed)
		conn_drop(v);   /* out of step: the next call reconnects */
	return r;
}

/* --- the public calls --------------------------------------------------- */

int mcxvault_send(struct mcxvault *v, const char *method, json_t *params, int64_t *id_out,
		  struct mcxvault_error *err_out)
{
	int r;

	err_clear(err_out);
	if (id_out != NULL)
		*id_out = 0;
	if (v == NULL) {
		err_local(err_out, MCX_ERR_INVALID_ARGUMENT);
		return MCX_ERR_INVALID_ARGUMENT;
	}
	pthread_mutex_lock(&v->lock);
	r = send_locked(v, method, params, deadline_after(v->timeout_ms), id_out, err_out);
	pthread_mutex_unlock(&v->lock);
	if (r != MCX_OK)
		err_local(err_out, r);
	return r;
}

int mcxvault_receive(struct mcxvault *v, json_t **result_out, int64_t *id_out,
		     struct mcxvault_error *err_out)
{
	int r;

	err_clear(err_out);
	if (result_out != NULL)
		*result_out = NULL;
	if (id_out != NULL)
		*id_out = 0;
	if (v == NULL) {
		err_local(err_out, MCX_ERR_INVALID_ARGUMENT);
		return MCX_ERR_INVALID_ARGUMENT;
	}
	pthread_mutex_lock(&v->lock);
	r = receive_locked(v, deadline_after(v->timeout_ms), result_out, id_out, err_out);
	pthread_mutex_unlock(&v->lock);
	if (r != MCX_OK)
		err_local(err_out, r);
	return r;
}

int mcxvault_call(struct mcxvault *v, const char *method, json_t *params, json_t **result_out,
		  struct mcxvault_error *err_out)
{
	int r = MCX_ERR_INTERNAL;
	uint64_t deadline;

	err_clear(err_out);
	if (result_out != NULL)
		*result_out = NULL;
	if (v == NULL) {
		err_local(err_out, MCX_ERR_INVALID_ARGUMENT);
		return MCX_ERR_INVALID_ARGUMENT;
	}
	pthread_mutex_lock(&v->lock);
	if (v->outstanding != 0 && conn_ours(v)) {
		err_set(err_out, 0, "MCX_ERR_INVALID_ARGUMENT",
			"%s: pipelined requests are still waiting for mcxvault_receive()", method);
		MCX_BAIL(MCX_ERR_INVALID_ARGUMENT);
	}
	deadline = deadline_after(v->timeout_ms);
	MCX_GUARD(send_locked(v, method, params, deadline, NULL, err_out));
	MCX_GUARD(receive_locked(v, deadline, result_out, NULL, err_out));
	r = MCX_OK;
out:
	pthread_mutex_unlock(&v->lock);
	if (r != MCX_OK)
		err_local(err_out, r);
	return r;
}
