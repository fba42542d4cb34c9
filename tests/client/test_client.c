/*
 * Unit tests of libmcxvault's framing, without vaultd.
 *
 * A tiny scripted server thread on a temporary Unix socket answers exactly
 * what each test needs to exercise one framing edge case: responses split
 * across many reads, two responses in one read, an id mismatch, a peer that
 * closes mid-response, a peer that never answers, error objects.  What the
 * methods do is tested against the real vaultd (tests/client/test_vaultctl.sh).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mcxvault.h"
#include "mcx/util.h"
#include "tests/test.h"

#define MAX_CONNS 16

struct fake;
typedef void (*script_fn)(struct fake *f, int fd);

struct fake {
	char dir[64];
	char path[96];
	int lfd;
	pthread_t thread;
	script_fn script;
	int accepted;           /* connections accepted so far */
	pthread_t threads[MAX_CONNS];
	int nthreads;
	size_t served;          /* requests answered, for scripts that need it */
	char last[4096];        /* the last request line read (without \n) */
};

/* Reads one request line (byte by byte: pipelined lines stay in the socket). */
static int read_request(struct fake *f, int fd, int64_t *id)
{
	size_t n = 0;
	char c;
	json_t *req;

	for (;;) {
		ssize_t k = read(fd, &c, 1);
		if (k <= 0)
			return -1;
		if (c == '\n')
			break;
		if (n + 1 < sizeof(f->last))
			f->last[n++] = c;
	}
	f->last[n] = '\0';
	if ((req = json_loads(f->last, 0, NULL)) == NULL)
		return -1;
	*id = json_integer_value(json_object_get(req, "id"));
	json_decref(req);
	return 0;
}

static void write_str(int fd, const char *s)
{
	size_t len = strlen(s), off = 0;

	while (off < len) {
		ssize_t k = send(fd, s + off, len - off, MSG_NOSIGNAL);
		if (k <= 0)
			return;
		off += (size_t)k;
	}
}

static void respond(int fd, int64_t id, const char *result)
{
	char line[1024];

	snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":%s}\n", (long long)id, result);
	write_str(fd, line);
}

struct conn {
	struct fake *f;
	int fd;
};

static void *conn_main(void *arg)
{
	struct conn *c = arg;

	c->f->script(c->f, c->fd);
	close(c->fd);
	free(c);
	return NULL;
}

/* Accepts connections and serves each in its own thread (a forked client needs two at once). */
static void *fake_main(void *arg)
{
	struct fake *f = arg;
	struct conn *c;
	int fd;

	while ((fd = accept(f->lfd, NULL, NULL)) >= 0) {
		if (f->nthreads >= MAX_CONNS || (c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		c->f = f;
		c->fd = fd;
		__atomic_add_fetch(&f->accepted, 1, __ATOMIC_SEQ_CST);
		if (pthread_create(&f->threads[f->nthreads], NULL, conn_main, c) != 0) {
			close(fd);
			free(c);
			continue;
		}
		f->nthreads++;
	}
	return NULL;
}

static struct fake *fake_start(script_fn script)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct sockaddr_un sun;

	if (f == NULL)
		return NULL;
	snprintf(f->dir, sizeof(f->dir), "/tmp/mcxvault-test-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		goto fail;
	snprintf(f->path, sizeof(f->path), "%s/sock", f->dir);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f->path);
	f->script = script;
	if ((f->lfd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 ||
	    bind(f->lfd, (struct sockaddr *)&sun, sizeof(sun)) != 0 || listen(f->lfd, 8) != 0 ||
	    pthread_create(&f->thread, NULL, fake_main, f) != 0)
		goto fail;
	return f;
fail:
	free(f);
	return NULL;
}

static void fake_stop(struct fake *f)
{
	if (f == NULL)
		return;
	shutdown(f->lfd, SHUT_RDWR);   /* wakes accept() */
	pthread_join(f->thread, NULL);
	for (int i = 0; i < f->nthreads; i++)
		pthread_join(f->threads[i], NULL);
	close(f->lfd);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
}

/* --- scripts -------------------------------------------------------------- */

/* Answers every request with {"ok":true}. */
static void script_echo(struct fake *f, int fd)
{
	int64_t id;

	while (read_request(f, fd, &id) == 0)
		respond(fd, id, "{\"ok\":true}");
}

/* A 300 000-byte result written a few bytes at a time, then in odd pieces. */
static void script_split(struct fake *f, int fd)
{
	int64_t id;
	char head[128];
	char *big;
	size_t len, off, step;

	if (read_request(f, fd, &id) != 0)
		return;
	snprintf(head, sizeof(head), "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"blob\":\"", (long long)id);
	len = strlen(head) + 300000 + 4;
	if ((big = malloc(len + 1)) == NULL)
		return;
	strcpy(big, head);
	memset(big + strlen(head), 'x', 300000);
	strcpy(big + strlen(head) + 300000, "\"}}\n");
	for (off = 0; off < len; off += step) {
		step = off < 64 ? 3 : 7919;
		if (step > len - off)
			step = len - off;
		if (send(fd, big + off, step, MSG_NOSIGNAL) != (ssize_t)step)
			break;
		if (off < 64)
			usleep(1000);   /* make each small piece its own read */
	}
	free(big);
	while (read_request(f, fd, &id) == 0)
		respond(fd, id, "{\"ok\":true}");
}

/* Reads two pipelined requests, answers both with one write. */
static void script_two_in_one(struct fake *f, int fd)
{
	int64_t id1, id2;
	char both[256];

	if (read_request(f, fd, &id1) != 0 || read_request(f, fd, &id2) != 0)
		return;
	snprintf(both, sizeof(both),
		 "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"n\":1}}\n"
		 "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"n\":2}}\n",
		 (long long)id1, (long long)id2);
	write_str(fd, both);
	script_echo(f, fd);
}

/* First connection: answers with the wrong id; later ones behave. */
static void script_bad_id(struct fake *f, int fd)
{
	int64_t id;

	if (__atomic_load_n(&f->accepted, __ATOMIC_SEQ_CST) > 1) {
		script_echo(f, fd);
		return;
	}
	if (read_request(f, fd, &id) == 0)
		respond(fd, id + 1, "{}");
	while (read_request(f, fd, &id) == 0)
		;
}

/* Half a response, then the connection closes. */
static void script_close_mid(struct fake *f, int fd)
{
	int64_t id;

	if (read_request(f, fd, &id) == 0)
		write_str(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"res");
}

/* Reads the request and never answers (until the client hangs up). */
static void script_silent(struct fake *f, int fd)
{
	int64_t id;

	while (read_request(f, fd, &id) == 0)
		;
}

/* Error objects, one per request, in this order. */
static void script_errors(struct fake *f, int fd)
{
	static const char *const errors[] = {
		"{\"jsonrpc\":\"2.0\",\"id\":%lld,\"error\":{\"code\":-32002,\"message\":\"domain 'b.example' "
		"is not configured\",\"data\":{\"error\":\"MCX_ERR_NOT_FOUND\"}}}\n",
		"{\"jsonrpc\":\"2.0\",\"id\":%lld,\"error\":{\"code\":-32006,\"message\":\"active\"}}\n",
		"{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":\"request too large\","
		"\"data\":{\"error\":\"MCX_ERR_REQUEST_TOO_LARGE\"}}}\n",
		"{\"jsonrpc\":\"2.0\",\"id\":%lld,\"error\":{\"code\":-31999,\"message\":\"from the future\"}}\n",
		"{\"jsonrpc\":\"2.0\",\"id\":%lld,\"error\":{\"code\":\"x\"}}\n",
	};
	char line[512];
	int64_t id;
	size_t i;

	while (read_request(f, fd, &id) == 0) {
		i = f->served++;   /* across connections */
		if (i < MCX_ARRAY_SIZE(errors)) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#pragma GCC diagnostic ignored "-Wformat-extra-args"
			snprintf(line, sizeof(line), errors[i], (long long)id);
#pragma GCC diagnostic pop
			write_str(fd, line);
		} else {
			respond(fd, id, "{\"ok\":true}");
		}
	}
}

/* Answers one request, then closes (as vaultd does after idle_timeout). */
static void script_one_then_close(struct fake *f, int fd)
{
	int64_t id;

	if (read_request(f, fd, &id) == 0)
		respond(fd, id, "{\"ok\":true}");
}

/* Garbage for a response. */
static void script_garbage(struct fake *f, int fd)
{
	int64_t id;
	int n = __atomic_load_n(&f->accepted, __ATOMIC_SEQ_CST);

	if (n == 1 && read_request(f, fd, &id) == 0)
		write_str(fd, "this is not json\n");
	else if (n == 2 && read_request(f, fd, &id) == 0)
		write_str(fd, "[1,2]\n");
	else if (n == 3 && read_request(f, fd, &id) == 0)
		write_str(fd, "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":1,\"error\":{\"code\":1}}\n");
	else
		script_echo(f, fd);
}

/* sign.sign: checks the params and answers a fixed signature. */
static void script_sign(struct fake *f, int fd)
{
	uint8_t sig[64];
	char *text, result[512];
	int64_t id;

	for (size_t i = 0; i < sizeof(sig); i++)
		sig[i] = (uint8_t)i;
	text = mcx_base64url_string(sig, sizeof(sig));
	while (read_request(f, fd, &id) == 0) {
		if (strstr(f->last, "\"short\"") != NULL)
			snprintf(result, sizeof(result), "{\"kid\":\"a.example/sign/1\",\"signature\":\"AAAA\"}");
		else
			snprintf(result, sizeof(result), "{\"kid\":\"a.example/sign/1\",\"alg\":\"ES256\","
				 "\"signature\":\"%s\"}", text);
		respond(fd, id, result);
	}
	free(text);
}

/* --- tests ---------------------------------------------------------------- */

TEST(connect_missing_socket)
{
	struct mcxvault *v = (struct mcxvault *)1;

	CHECK_EQ_INT(mcxvault_connect("/nonexistent/mcxvault.sock", &v), MCX_ERR_CONNECTION);
	CHECK_EQ_INT(errno, ENOENT);
	CHECK(v == NULL);
}

TEST(socket_path_rules)
{
	unsetenv(MCXVAULT_SOCKET_ENV);
	CHECK_EQ_STR(mcxvault_socket_path(NULL), MCXVAULT_DEFAULT_SOCKET);
	setenv(MCXVAULT_SOCKET_ENV, "/tmp/env.sock", 1);
	CHECK_EQ_STR(mcxvault_socket_path(NULL), "/tmp/env.sock");
	CHECK_EQ_STR(mcxvault_socket_path("/tmp/arg.sock"), "/tmp/arg.sock");
	unsetenv(MCXVAULT_SOCKET_ENV);
}

TEST(request_line_and_result)
{
	struct fake *f = fake_start(script_echo);
	struct mcxvault *v = NULL;
	struct mcxvault_error e;
	json_t *res = NULL, *params = NULL;

	REQUIRE(f != NULL);
	REQUIRE(mcxvault_connect(f->path, &v) == 0);
	CHECK_OK(mcxvault_call(v, "vault.status", NULL, &res, &e));
	CHECK_EQ_STR(f->last, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"vault.status\"}");
	CHECK(json_is_true(json_object_get(res, "ok")));
	json_decref(res);
	res = NULL;
	params = json_pack("{s:s}", "domain", "a.example");
	CHECK_OK(mcxvault_call(v, "domain.show", params, &res, &e));
	CHECK_EQ_STR(f->last, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"domain.show\","
			      "\"params\":{\"domain\":\"a.example\"}}");
	/* a method name that would need escaping, params that are not an object */
	CHECK_EQ_INT(mcxvault_call(v, "a\"b", NULL, NULL, &e), MCX_ERR_INVALID_ARGUMENT);
	json_decref(params);
	params = json_array();
	CHECK_EQ_INT(mcxvault_call(v, "x", params, NULL, &e), MCX_ERR_INVALID_ARGUMENT);
	CHECK_EQ_INT(f->accepted, 1);
	json_decref(params);
	json_decref(res);
	mcxvault_close(v);
	fake_stop(f);
}

TEST(response_split_across_reads)
{
	struct fake *f = fake_start(script_split);
	struct mcxvault *v = NULL;
	struct mcxvault_error e;
	json_t *res = NULL;
	const char *blob;

	REQUIRE(f != NULL);
	REQUIRE(mcxvault_connect(f->path, &v) == 0);
	CHECK_OK(mcxvault_call(v, "big", NULL, &res, &e));
	blob = json_string_value(json_object_get(res, "blob"));
	CHECK(blob != NULL && strlen(blob) == 300000 && blob[0] == 'x' && blob[299999] == 'x');
	json_decref(res);
	res = NULL;
	CHECK_OK(mcxvault_call(v, "next", NULL, &res, &e));   /* still in step */
	CHECK(json_is_true(json_object_get(res, "ok")));
	json_decref(res);
	mcxvault_close(v);
	fake_stop(f);
}

TEST(two_responses_in_one_read)
{
	struct fake *f = fake_start(script_two_in_one);
	struct mcxvault *v = NULL;
	struct mcxvault_error e;
	json_t *r1 = NULL, *r2 = NULL;
	int64_t id1 = 0, id2 = 0, got1 = 0, got2 = 0;

	REQUIRE(f != NULL);
	REQUIRE(mcxvault_connect(f->path, &v) == 0);
	CHECK_OK(mcxvault_send(v, "one", NULL, &id1, &e));
	CHECK_OK(mcxvault_send(v, "two", NULL, &id2, &e));
	CHECK_EQ_INT(id2, id1 + 1);
	/* a plain call while responses are outstanding is refused */
	CHECK_EQ_INT(mcxvault_call(v, "three", NULL, NULL, &e), MCX_ERR_INVALID_ARGUMENT);
	CHECK_OK(mcxvault_receive(v, &r1, &got1, &e));
	CHECK_OK(mcxvault_receive(v, &r2, &got2, &e));
	CHECK_EQ_INT(got1, id1);
	CHECK_EQ_INT(got2, id2);
	CHECK_EQ_INT(json_integer_value(json_object_get(r1, "n")), 1);
	CHECK_EQ_INT(json_integer_value(json_object_get(r2, "n")), 2);
	CHECK_EQ_INT(mcxvault_receive(v, NULL, NULL, &e), MCX_ERR_INVALID_ARGUMENT);
	CHECK_OK(mcxvault_call(v, "three", NULL, NULL, &e));
	CHECK_EQ_INT(f->accepted, 1);
	json_decref(r1);
	json_decref(r2);
	mcxvault_close(v);
	fake_stop(f);
}

TEST(id_mismatch_is_protocol_error)
{
	struct fake *f = fake_start(script_bad_id);
	struct mcxvault *v = NULL;
	struct mcxvault_error e;
	json_t *res = (json_t *)1;

	REQUIRE(f != NULL);
	REQUIRE(mcxvault_connect(f->path, &v) == 0);
	CHECK_EQ_INT(mcxvault_call(v, "x", NULL, &res, &e), MCX_ERR_PROTOCOL);
	CHECK(res == NULL);
	CHECK_EQ_STR(e.name, "MCX_ERR_PROTOCOL");
	CHECK_EQ_INT(e.rpc_code, 0);
	/* the stream was dropped: the next call reconnects and works */
	CHECK_OK(mcxvault_call(v, "y", NULL, NULL, &e));
	CHECK_EQ_INT(f->accepted, 2);
	mcxvault_close(v);
	fake_stop(f);
}

TEST(close_mid_response_is_connection_error)
{
	struct fake *f = fake_start(script_close_mid);
	struct mcxvault *v = NULL;
	struct mcxvault_error e;

	REQUIRE(f != NULL);
	REQUIRE(mcxvault_connect(f->path, &v) == 0);
	CHECK_EQ_INT(mcxvault_call(v, "x", NULL, NULL, &e), MCX_ERR_CONNECTION);
	CHECK_EQ_STR(e.name, "MCX_ERR_CONNECTION");
	CHECK(strstr(e.message, "middle") != NULL);
	mcxvault_close(v);
	fake_stop(f);
}

TEST(silent_server_times_out)
{
	struct fake *f = fake_start(script_silent);
	struct mcxvault *v = NULL;
	struct mcxvault_error e;
	uint64_t t0, ms;

	REQUIRE(f != NULL);
	REQUIRE(mcxvault_connect(f->path, &v) == 0);
	CHECK_EQ_INT(mcxvault_set_timeout(v, 0), MCX_ERR_INVALID_ARGUMENT);
	CHECK_OK(mcxvault_set_timeout(v, 200));
	t0 = mcx_monotonic_ns();
	CHECK_EQ_INT(mcxvault_call(v, "x", NULL, NULL, &e), MCX_ERR_TIMEOUT);
	ms = (mcx_monotonic_ns() - t0) / 1000000u;
	CHECK(ms >= 190 && ms < 2000);
	CHECK_EQ_STR(e.name, "MCX_ERR_TIMEOUT");
	mcxvault_close(v);
	fake_stop(f);
}

TEST(error_objects_are_mapped)
{
	struct fake *f = fake_start(script_errors);
	struct mcxvault *v = NULL;
	struct mcxvault_error e;
	json_t *res = (json_t *)1;

	REQUIRE(f != NULL);
	REQUIRE(mcxvault_connect(f->path, &v) == 0);
	CHECK_EQ_INT(mcxvault_call(v, "domain.show", NULL, &res, &e), MCX_ERR_NOT_FOUND);
	CHECK(res == NULL);
	CHECK_EQ_INT(e.rpc_code, -32002);
	CHECK_EQ_STR(e.name, "MCX_ERR_NOT_FOUND");
	CHECK_EQ_STR(e.message, "domain 'b.example' is not configured");
	/* no data.error: the code decides */
	CHECK_EQ_INT(mcxvault_call(v, "key.retire", NULL, NULL, &e), MCX_ERR_KEY_STATE);
	CHECK_EQ_INT(e.rpc_code, -32006);
	CHECK_EQ_STR(e.name, "MCX_ERR_KEY_STATE");
	/* id null on an error: the answer to the request the vault could not read */
	CHECK_EQ_INT(mcxvault_call(v, "x", NULL, NULL, &e), MCX_ERR_REQUEST_TOO_LARGE);
	CHECK_EQ_INT(e.rpc_code, -32600);
	/* a code this library does not know */
	CHECK_EQ_INT(mcxvault_call(v, "x", NULL, NULL, &e), MCX_ERR_INTERNAL);
	CHECK_EQ_INT(e.rpc_code, -31999);
	CHECK_EQ_STR(e.message, "from the future");
	CHECK_EQ_INT(f->accepted, 1);   /* RPC errors keep the connection */
	/* a malformed error object */
	CHECK_EQ_INT(mcxvault_call(v, "x", NULL, NULL, &e), MCX_ERR_PROTOCOL);
	CHECK_OK(mcxvault_call(v, "x", NULL, NULL, &e));
	CHECK_EQ_INT(f->accepted, 2);
	mcxvault_close(v);
	fake_stop(f);
}

TEST(garbage_is_protocol_error)
{
	struct fake *f = fake_start(script_garbage);
	struct mcxvault *v = NULL;
	struct mcxvault_error e;

	REQUIRE(f != NULL);
	REQUIRE(mcxvault_connect(f->path, &v) == 0);
	CHECK_EQ_INT(mcxvault_call(v, "x", NULL, NULL, &e), MCX_ERR_PROTOCOL);
	CHECK_EQ_INT(mcxvault_call(v, "x", NULL, NULL, &e), MCX_ERR_PROTOCOL);
	CHECK_EQ_INT(mcxvault_call(v, "x", NULL, NULL, &e), MCX_ERR_PROTOCOL);
	CHECK_OK(mcxvault_call(v, "x", NULL, NULL, &e));
	CHECK_EQ_INT(f->accepted, 4);
	mcxvault_close(v);
	fake_stop(f);
}

TEST(idle_close_reconnects_before_sending)
{
	struct fake *f = fake_start(script_one_then_close);
	struct mcxvault *v = NULL;
	struct mcxvault_error e;
	int i;

	REQUIRE(f != NULL);
	REQUIRE(mcxvault_connect(f->path, &v) == 0);
	CHECK_OK(mcxvault_call(v, "x", NULL, NULL, &e));
	for (i = 0; i < 200 && f->accepted == 1; i++)
		usleep(1000);   /* let the server finish closing */
	usleep(20000);
	CHECK_OK(mcxvault_call(v, "x", NULL, NULL, &e));
	CHECK_EQ_INT(f->accepted, 2);
	mcxvault_close(v);
	fake_stop(f);
}

TEST(peer_gone_is_not_sigpipe)
{
	struct fake *f = fake_start(script_one_then_close);
	struct mcxvault *v = NULL;
	struct mcxvault_error e;
	json_t *big = NULL;
	char *blob = NULL;
	int r;

	REQUIRE(f != NULL);
	REQUIRE(mcxvault_connect(f->path, &v) == 0);
	CHECK_OK(mcxvault_call(v, "x", NULL, NULL, &e));
	fake_stop(f);   /* no listener any more: the reconnect fails */
	REQUIRE((blob = malloc(1 << 20)) != NULL);
	memset(blob, 'a', (1 << 20) - 1);
	blob[(1 << 20) - 1] = '\0';
	big = json_pack("{s:s}", "data", blob);
	r = mcxvault_call(v, "x", big, NULL, &e);
	CHECK_EQ_INT(r, MCX_ERR_CONNECTION);   /* and the process is still alive */
	json_decref(big);
	free(blob);
	mcxvault_close(v);
}

TEST(sign_helper)
{
	struct fake *f = fake_start(script_sign);
	struct mcxvault *v = NULL;
	struct mcxvault_error e;
	uint8_t sig[MCXVAULT_SIGNATURE_LEN], digest[32] = { 0 };
	char *kid = NULL;

	REQUIRE(f != NULL);
	REQUIRE(mcxvault_connect(f->path, &v) == 0);
	CHECK_OK(mcxvault_sign(v, "a.example", "hello", 5, 0, &kid, sig, &e));
	CHECK_EQ_STR(f->last, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sign.sign\","
			      "\"params\":{\"domain\":\"a.example\",\"data\":\"aGVsbG8\"}}");
	CHECK_EQ_STR(kid, "a.example/sign/1");
	CHECK(sig[0] == 0 && sig[63] == 63);
	mcxvault_free(kid);
	kid = NULL;
	CHECK_OK(mcxvault_sign(v, "a.example", digest, sizeof(digest), 1, NULL, sig, &e));
	CHECK(strstr(f->last, "\"digest\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"") != NULL);
	/* a digest must be 32 octets; nothing is sent */
	CHECK_EQ_INT(mcxvault_sign(v, "a.example", digest, 31, 1, &kid, sig, &e), MCX_ERR_INVALID_ARGUMENT);
	CHECK(kid == NULL);
	/* a vault answering a short signature is broken */
	CHECK_EQ_INT(mcxvault_sign(v, "short", "x", 1, 0, &kid, sig, &e), MCX_ERR_PROTOCOL);
	CHECK(kid == NULL);
	mcxvault_close(v);
	fake_stop(f);
}

TEST(forked_child_gets_its_own_connection)
{
	struct fake *f = fake_start(script_echo);
	struct mcxvault *v = NULL;
	struct mcxvault_error e;
	pid_t pid;
	int status = -1;

	REQUIRE(f != NULL);
	REQUIRE(mcxvault_connect(f->path, &v) == 0);
	CHECK_OK(mcxvault_call(v, "x", NULL, NULL, &e));
	fflush(stdout);
	if ((pid = fork()) == 0)
		_exit(mcxvault_call(v, "child", NULL, NULL, &e) == 0 ? 0 : 1);
	REQUIRE(pid > 0);
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_OK(mcxvault_call(v, "parent", NULL, NULL, &e));   /* the parent's stream is intact */
	CHECK_EQ_INT(f->accepted >= 1, 1);
	mcxvault_close(v);
	fake_stop(f);
}

int main(void)
{
	RUN(connect_missing_socket);
	RUN(socket_path_rules);
	RUN(request_line_and_result);
	RUN(response_split_across_reads);
	RUN(two_responses_in_one_read);
	RUN(id_mismatch_is_protocol_error);
	RUN(close_mid_response_is_connection_error);
	RUN(silent_server_times_out);
	RUN(error_objects_are_mapped);
	RUN(garbage_is_protocol_error);
	RUN(idle_close_reconnects_before_sending);
	RUN(peer_gone_is_not_sigpipe);
	RUN(sign_helper);
	RUN(forked_child_gets_its_own_connection);
	return test_summary("client");
}
