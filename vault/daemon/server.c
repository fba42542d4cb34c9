/*
 * The socket server.
 *
 * All workers wait on one epoll set; every connection is registered with
 * EPOLLONESHOT, so exactly one worker owns a connection at a time (responses
 * stay in order) and one request costs one thread wake-up (the sign latency
 * budget is ~25 us on top of ~100 us in SoftHSM).  Sockets are non-blocking:
 * a client that sends half a line and stalls, or never reads its responses,
 * only ever holds its own buffers, never a worker.
 *
 * One exception to "one thread per connection": a run of pipelined sign.sign
 * lines found together in a connection's buffer is answered by its worker and
 * the helper threads in parallel, answers appended in request order
 * (connection_answer_parallel; sign.sign changes no state).
 *
 * Back-pressure: while a connection has unsent responses we stop reading from
 * it.  Fairness: a worker answers at most WORKER_BATCH requests of one
 * connection before giving the others a turn.
 *
 * An idle reaper thread shuts down connections idle for longer than
 * server.idle_timeout, and connections whose current request line has not
 * ended within server.request_timeout of its first byte (a trickle of bytes
 * keeps a connection active, it cannot keep a line open for ever); the
 * owning worker then sees the hang-up and frees it.
 *
 * Budgets follow roles (the caller is known at accept, SO_PEERCRED): a
 * caller without any role may only call vault.status, so it gets few
 * connections (server.no_role_connections, all such callers together) and
 * short lines (no_role_max_request_bytes); any one uid holds at most
 * max_connections_per_uid; the last reserved_connections slots are for
 * admins, so an operator always gets in while others flood; and the input
 * buffered by all connections together is bounded (max_buffered_bytes: it
 * is mlocked, as requests carry transport keys).  When the process runs out
 * of descriptors, accepting pauses for a moment instead of spinning on a
 * level-triggered listener.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "vault/daemon/server.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "mcx/buf.h"
#include "mcx/util.h"
#include "vault/daemon/log.h"
#include "vault/daemon/notify.h"
#include "vault/keys/hygiene.h"
#include "vault/keys/keystore.h"
#include "vault/rpc/rpc.h"

#define WORKER_BATCH 16
#define READ_CHUNK 65536
#define OUTPUT_MAX (64u * 1024u * 1024u)
#define OUTPUT_KEEP (1024u * 1024u)   /* output allocation kept between answers */
#define ACCEPT_PAUSE_NS (100u * 1000u * 1000u)   /* after EMFILE/ENFILE */
#define FD_RESERVE 64                             /* descriptors beyond connections: HSM, log, store */

enum connection_class { CLASS_NO_ROLE, CLASS_ROLE, CLASS_ADMIN };

struct vault_connection {
	int fd;
	struct vault_caller caller;
	struct mcx_buf *input;
	struct mcx_buf *output;
	atomic_ullong last_activity_ns;
	atomic_ullong line_started_ns;   /* first byte of a request line not yet complete; 0: none */
	atomic_int processing;           /* a worker is answering its requests: neither idle nor slow */
	enum connection_class class;
	size_t line_limit;            /* max_request_bytes, or no_role_max_request_bytes */
	size_t accounted;             /* input bytes counted in server->buffered */
	int peer_closed;              /* read returned 0 */
	int close_after_flush;        /* protocol error: answer, then close */
	struct vault_connection *prev, *next;
};

/*
 * A run of pipelined sign.sign lines of one connection, answered in
 * parallel: its worker posts the batch, helper threads and the worker itself
 * claim lines by an atomic counter, each answer goes to its own buffer, and
 * the worker appends them in request order once every line is answered and
 * no helper still looks at the batch (it lives on the worker's stack).
 */
struct line_job {
	const char *line;
	size_t len;
	struct mcx_buf *out;
	int rc;
};

struct line_batch {
	struct vault *vault;
	const struct vault_caller *caller;
	struct line_job jobs[WORKER_BATCH];
	size_t n;
	atomic_size_t next;                  /* next job to claim */
	atomic_size_t done;
	unsigned users;                      /* helpers inside (helper_lock) */
	struct line_batch *link;             /* server->batches (helper_lock) */
};

struct vault_server {
	struct vault *vault;
	char *socket_path;
	int listen_fd;
	int listen_passed;            /* from the service manager (vaultd.socket): not ours to unlink */
	int epoll_fd;
	int stop_fd;                  /* eventfd: wakes every worker to stop */
	size_t max_request_bytes;
	atomic_uint idle_timeout;
	atomic_uint max_connections;
	atomic_uint max_per_uid;
	atomic_uint no_role_connections;
	atomic_size_t no_role_max_request_bytes;
	atomic_uint reserved_connections;
	atomic_uint request_timeout;
	atomic_size_t max_buffered_bytes;
	atomic_size_t buffered;          /* input held by all connections */
	atomic_uint no_role_open;        /* connections of callers without a role */
	unsigned fd_limit_connections;   /* what RLIMIT_NOFILE leaves for connections */
	atomic_int accept_paused;
	atomic_ullong accept_resume_ns;

	pthread_t *workers;
	unsigned worker_count;
	unsigned workers_started;
	pthread_t reaper;
	int reaper_started;
	/* helpers of pipelined sign.sign runs (see connection_answer_parallel) */
	pthread_t *helpers;
	unsigned helper_count, helpers_started;
	pthread_mutex_t helper_lock;
	pthread_cond_t helper_cond;          /* a batch was posted, or stop */
	pthread_cond_t batch_cond;           /* a helper left a batch */
	struct line_batch *batches;          /* posted, jobs maybe left to claim */
	pthread_mutex_t reaper_lock;
	pthread_cond_t reaper_cond;
	atomic_int stopping;
	pthread_mutex_t connections_lock;   /* guards the list below */
	struct vault_connection *connections;
};

/* Tokens in epoll_event.data.ptr for the two non-connection fds. */
static char listen_token, stop_token;

static int server_socket_in_use(const char *path)
{
	struct sockaddr_un sa;
	int fd, in_use = 0;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	in_use = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return in_use;
}

/* Raises the soft RLIMIT_NOFILE to fit `wanted` connections plus the
 * descriptors the HSM module, the logs and the store need; returns how many
 * connections the limit allows (fewer than wanted only when the hard limit
 * is too low, which is said once). */
static unsigned server_fit_fd_limit(unsigned wanted)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)wanted + FD_RESERVE;
	unsigned fit;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return wanted;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		struct rlimit raised = rl;
		raised.rlim_cur = (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need) ? need : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
			vault_info("raised the open-file limit from %llu to %llu for %u connections",
			           (unsigned long long)rl.rlim_cur, (unsigned long long)raised.rlim_cur, wanted);
			rl = raised;
		}
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
		return wanted;
	fit = rl.rlim_cur > FD_RESERVE + 1 ? (unsigned)(rl.rlim_cur - FD_RESERVE) : 1;
	vault_warning("the open-file limit is %llu (hard limit %llu): serving at most %u connections, not "
	              "server.max_connections = %u; raise LimitNOFILE / ulimit -n to %llu",
	              (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max, fit, wanted,
	              (unsigned long long)need);
	return fit;
}

/* The budgets of a (re)loaded configuration; connections already open keep
 * the class and line limit they were given at accept. */
static void server_apply_limits(struct vault_server *server, const struct vault_config *config)
{
	unsigned max = config->max_connections < server->fd_limit_connections ? config->max_connections
	                                                                       : server->fd_limit_connections;

	atomic_store(&server->idle_timeout, config->idle_timeout);
	atomic_store(&server->max_connections, max);
	atomic_store(&server->max_per_uid, config->max_connections_per_uid);
	atomic_store(&server->no_role_connections, config->no_role_connections);
	atomic_store(&server->no_role_max_request_bytes, config->no_role_max_request_bytes);
	atomic_store(&server->reserved_connections, config->reserved_connections < max ? config->reserved_connections : 0);
	atomic_store(&server->request_timeout, config->request_timeout);
	atomic_store(&server->max_buffered_bytes, config->max_buffered_bytes);
}

/* Binds and listens on server.socket: a stale socket of a dead vaultd is
 * replaced, anything else at the path, or a live vaultd, is refused. */
static int server_bind(struct vault_server *server, const struct vault_config *config)
{
	int r = MCX_ERR_INTERNAL;
	struct sockaddr_un sa;
	struct stat st;
	mode_t old_umask;

	if (strlen(config->socket_path) >= sizeof(sa.sun_path)) {
		vault_error("socket path '%s' is longer than %zu bytes", config->socket_path, sizeof(sa.sun_path) - 1);
		MCX_BAIL(MCX_ERR_CONFIG);
	}
	if (lstat(config->socket_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			vault_error("'%s' exists and is not a socket: refusing to replace it", config->socket_path);
			MCX_BAIL(MCX_ERR_EXISTS);
		}
		if (server_socket_in_use(config->socket_path)) {
			vault_error("another vaultd is listening on '%s'", config->socket_path);
			MCX_BAIL(MCX_ERR_EXISTS);
		}
		(void)unlink(config->socket_path);   /* stale socket of a dead vaultd */
	}
	MCX_ENSURE((server->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) >= 0,
	           MCX_ERR_SYSTEM);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, config->socket_path, strlen(config->socket_path));
	/* the socket never exists with a wider mode, not even for a moment */
	old_umask = umask((mode_t)(~config->socket_mode & 0777));
	r = bind(server->listen_fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old_umask);
	if (r != 0) {
		vault_error("cannot bind '%s': %s", config->socket_path, strerror(errno));
		MCX_BAIL(MCX_ERR_SYSTEM);
	}
	MCX_ENSURE(chmod(config->socket_path, (mode_t)config->socket_mode) == 0, MCX_ERR_SYSTEM);
	MCX_ENSURE(listen(server->listen_fd, 128) == 0, MCX_ERR_SYSTEM);
	r = MCX_OK;
out:
	return r;
}

MCX_RESULT vault_server_open(struct vault *vault, const struct vault_config *config, struct vault_server **out)
{
	int r = MCX_ERR_INTERNAL;
	struct vault_server *server = NULL;
	struct epoll_event ev;

	*out = NULL;
	MCX_ENSURE_ALLOC(server = calloc(1, sizeof(*server)));
	server->listen_fd = server->epoll_fd = server->stop_fd = -1;
	server->vault = vault;
	server->max_request_bytes = config->max_request_bytes;
	server->fd_limit_connections = server_fit_fd_limit(config->max_connections);
	server_apply_limits(server, config);
	server->worker_count = config->workers;
	pthread_mutex_init(&server->connections_lock, NULL);
	pthread_mutex_init(&server->reaper_lock, NULL);
	pthread_cond_init(&server->reaper_cond, NULL);
	pthread_mutex_init(&server->helper_lock, NULL);
	pthread_cond_init(&server->helper_cond, NULL);
	pthread_cond_init(&server->batch_cond, NULL);
	MCX_ENSURE_ALLOC(server->socket_path = strdup(config->socket_path));
	if ((server->listen_fd = vault_listen_fd_from_manager()) >= 0) {
		/* socket activation: systemd bound it (path, mode and owner are the
		 * socket unit's); vaultd only makes it non-blocking */
		int flags = fcntl(server->listen_fd, F_GETFL);
		server->listen_passed = 1;
		MCX_ENSURE(flags >= 0 && fcntl(server->listen_fd, F_SETFL, flags | O_NONBLOCK) == 0 &&
		           fcntl(server->listen_fd, F_SETFD, FD_CLOEXEC) == 0, MCX_ERR_SYSTEM);
		vault_info("listening on the socket passed by the service manager");
	} else {
		MCX_GUARD(server_bind(server, config));
	}
	MCX_ENSURE((server->epoll_fd = epoll_create1(EPOLL_CLOEXEC)) >= 0, MCX_ERR_SYSTEM);
	MCX_ENSURE((server->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) >= 0, MCX_ERR_SYSTEM);
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;   /* level-triggered and not one-shot: every worker sees it */
	ev.data.ptr = &stop_token;
	MCX_ENSURE(epoll_ctl(server->epoll_fd, EPOLL_CTL_ADD, server->stop_fd, &ev) == 0, MCX_ERR_SYSTEM);
	ev.events = EPOLLIN | EPOLLEXCLUSIVE;
	ev.data.ptr = &listen_token;
	MCX_ENSURE(epoll_ctl(server->epoll_fd, EPOLL_CTL_ADD, server->listen_fd, &ev) == 0, MCX_ERR_SYSTEM);
	*out = server;
	server = NULL;
	r = MCX_OK;
out:
	vault_server_free(server);
	return r;
}

static void connection_free(struct vault_connection *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0)
		close(c->fd);
	mcx_buf_free(c->input);
	mcx_buf_free(c->output);
	free(c);
}

static void server_connection_close(struct vault_server *server, struct vault_connection *c)
{
	pthread_mutex_lock(&server->connections_lock);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		server->connections = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	/* under the lock, so the reaper never touches a closed fd */
	(void)epoll_ctl(server->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	pthread_mutex_unlock(&server->connections_lock);
	atomic_fetch_sub(&server->vault->connections, 1);
	if (c->class == CLASS_NO_ROLE)
		atomic_fetch_sub(&server->no_role_open, 1);
	atomic_fetch_sub(&server->buffered, c->accounted);
	connection_free(c);
}

static int connection_arm(struct vault_server *server, struct vault_connection *c, int pending_work)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	/* While output is pending we wait for writability only (back-pressure).
	 * With requests still buffered we also ask for EPOLLOUT, which fires at
	 * once, so the connection comes back after others had their turn. */
	ev.events = EPOLLONESHOT | EPOLLRDHUP;
	if (mcx_buf_len(c->output) > 0 || pending_work)
		ev.events |= EPOLLOUT;
	else
		ev.events |= EPOLLIN;
	ev.data.ptr = c;
	return epoll_ctl(server->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) == 0 ? MCX_OK : MCX_ERR_SYSTEM;
}

/* Says why a connection was refused; a flood of connections must not
 * become a flood of log lines. */
static void server_note_refusal(struct vault_server *server, const struct vault_caller *caller, const char *why)
{
	static struct vault_log_limit limit = VAULT_LOG_LIMIT_INIT;

	(void)server;
	vault_log_limited(&limit, VAULT_LOG_WARNING, "connection of uid %u pid %d refused: %s", (unsigned)caller->uid,
	                  (int)caller->pid, why);
}

/* Out of descriptors (EMFILE/ENFILE): the listener is level-triggered, so
 * trying again at once would spin; take it out of the epoll set and let the
 * reaper put it back after ACCEPT_PAUSE_NS. */
static void server_pause_accept(struct vault_server *server, int err)
{
	int expected = 0;
	static const struct vault_caller nobody;

	if (!atomic_compare_exchange_strong(&server->accept_paused, &expected, 1))
		return;
	atomic_store(&server->accept_resume_ns, mcx_monotonic_ns() + ACCEPT_PAUSE_NS);
	(void)epoll_ctl(server->epoll_fd, EPOLL_CTL_DEL, server->listen_fd, NULL);
	static struct vault_log_limit limit = VAULT_LOG_LIMIT_INIT;

	(void)nobody;
	vault_log_limited(&limit, VAULT_LOG_WARNING, "accept: %s: accepting paused for 100 ms",
	                  err == EMFILE ? "out of file descriptors (EMFILE; raise LimitNOFILE)"
	                                : "the system is out of file descriptors or memory");
	pthread_mutex_lock(&server->reaper_lock);
	pthread_cond_signal(&server->reaper_cond);
	pthread_mutex_unlock(&server->reaper_lock);
}

static enum connection_class server_caller_class(struct vault_server *server, const struct vault_caller *caller)
{
	struct vault_config *config = vault_config_acquire(server->vault);
	unsigned roles = vault_access_roles(config, caller, NULL);

	vault_config_release(server->vault, config);
	return roles == 0 ? CLASS_NO_ROLE : (roles & VAULT_ROLE_ADMIN) ? CLASS_ADMIN : CLASS_ROLE;
}

/* NULL when c may have a slot, else why not; the caller holds
 * connections_lock, so the counts cannot change between check and insert. */
static const char *server_admission(struct vault_server *server, const struct vault_connection *c)
{
	unsigned open = atomic_load(&server->vault->connections), max = atomic_load(&server->max_connections);
	unsigned per_uid = 0, max_per_uid = atomic_load(&server->max_per_uid);

	if (open >= max)
		return "too many connections";
	if (c->class != CLASS_ADMIN && open + atomic_load(&server->reserved_connections) >= max)
		return "too many connections (the last slots are reserved for admins)";
	if (c->class == CLASS_NO_ROLE && atomic_load(&server->no_role_open) >= atomic_load(&server->no_role_connections))
		return "too many connections from callers without a role";
	for (const struct vault_connection *o = server->connections; o != NULL; o = o->next)
		if (o->caller.uid == c->caller.uid && ++per_uid >= max_per_uid)
			return "too many connections from this uid";
	return NULL;
}

static void server_refuse(int fd, const char *why)
{
	char line[256];
	int n = snprintf(line, sizeof(line),
	                 "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32010,\"message\":\"%s\","
	                 "\"data\":{\"error\":\"MCX_ERR_BUSY\"}}}\n", why);

	if (n > 0 && (size_t)n < sizeof(line))
		(void)!send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

static void server_accept(struct vault_server *server)
{
	for (;;) {
		struct vault_connection *c = NULL;
		struct epoll_event ev;
		const char *why;
		int fd = accept4(server->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				server_pause_accept(server, errno);
			else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
				vault_warning("accept: %s", strerror(errno));
			return;
		}
		if ((c = calloc(1, sizeof(*c))) == NULL || vault_caller_from_socket(fd, &c->caller) != MCX_OK) {
			vault_error("cannot set up a connection: out of memory or no peer credentials");
			free(c);
			close(fd);
			continue;
		}
		c->fd = -1;
		c->class = server_caller_class(server, &c->caller);
		c->line_limit = c->class == CLASS_NO_ROLE ? atomic_load(&server->no_role_max_request_bytes)
		                                          : server->max_request_bytes;
		/* requests carry transport keys and answers carry user keys: both
		 * buffers are locked in memory and wiped as they are consumed; they
		 * grow on demand up to these caps */
		if ((c->input = mcx_buf_new_secret(c->line_limit + READ_CHUNK)) == NULL ||
		    (c->output = mcx_buf_new_secret(OUTPUT_MAX)) == NULL) {
			vault_error("cannot set up a connection: out of memory");
			connection_free(c);
			close(fd);
			continue;
		}
		pthread_mutex_lock(&server->connections_lock);
		if ((why = server_admission(server, c)) != NULL) {
			pthread_mutex_unlock(&server->connections_lock);
			server_note_refusal(server, &c->caller, why);
			connection_free(c);
			server_refuse(fd, why);
			continue;
		}
		c->fd = fd;
		atomic_store(&c->last_activity_ns, mcx_monotonic_ns());
		atomic_fetch_add(&server->vault->connections, 1);
		if (c->class == CLASS_NO_ROLE)
			atomic_fetch_add(&server->no_role_open, 1);
		c->next = server->connections;
		if (c->next != NULL)
			c->next->prev = c;
		server->connections = c;
		/* log before EPOLL_CTL_ADD: from then on another worker may own c
		 * and free it (a client that connects, writes and hangs up at once) */
		vault_debug("connection from uid %u pid %d", (unsigned)c->caller.uid, (int)c->caller.pid);
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
		ev.data.ptr = c;
		if (epoll_ctl(server->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
			pthread_mutex_unlock(&server->connections_lock);
			vault_error("epoll_ctl: %s", strerror(errno));
			server_connection_close(server, c);
			continue;
		}
		pthread_mutex_unlock(&server->connections_lock);
	}
}

/* Reads what is there without blocking, within the global bound on
 * buffered input: a connection that would cross it is answered -32010 and
 * closed (its line was not complete, nothing was lost). */
static void connection_read(struct vault_server *server, struct vault_connection *c)
{
	while (!c->peer_closed && !c->close_after_flush && mcx_buf_avail(c->input) > 0) {
		size_t want = mcx_buf_avail(c->input) < READ_CHUNK ? mcx_buf_avail(c->input) : READ_CHUNK;
		size_t held = atomic_load(&server->buffered), bound = atomic_load(&server->max_buffered_bytes);
		uint8_t *p = NULL;
		ssize_t n;

		if (held >= bound) {
			static struct vault_log_limit limit = VAULT_LOG_LIMIT_INIT;
			vault_log_limited(&limit, VAULT_LOG_WARNING,
			                  "uid %u pid %d: the vault holds %zu bytes of unanswered input (server.max_buffered_bytes):"
			                  " closing this connection", (unsigned)c->caller.uid, (int)c->caller.pid, held);
			mcx_buf_reset(c->input);
			if (rpc_append_error(c->output, NULL, MCX_ERR_BUSY, "the vault is busy: too much unanswered input") !=
			    MCX_OK)
				vault_error("cannot build the 'busy' response");
			c->close_after_flush = 1;
			return;
		}
		if (want > bound - held)
			want = bound - held;
		if (mcx_buf_reserve(c->input, want, &p) != MCX_OK)
			return;
		n = recv(c->fd, p, want, 0);
		/* give back the room recv did not fill (never written: nothing to
		 * wipe); cannot fail, it was just reserved */
		if (mcx_buf_unreserve(c->input, n > 0 ? want - (size_t)n : want) != MCX_OK) {
			c->peer_closed = 1;
			return;
		}
		if (n > 0) {
			atomic_store(&c->last_activity_ns, mcx_monotonic_ns());
			atomic_fetch_add(&server->buffered, (size_t)n);
			c->accounted += (size_t)n;
			if ((size_t)n < want)
				return;   /* drained the socket for now */
			continue;
		}
		if (n == 0) {
			c->peer_closed = 1;
		} else if (errno == EINTR) {
			continue;
		} else if (errno != EAGAIN && errno != EWOULDBLOCK) {
			c->peer_closed = 1;
			mcx_buf_reset(c->output);   /* nobody left to answer */
		}
		return;
	}
	(void)server;
}

/* Answers the batch's lines until none is left to claim. */
static void batch_run(struct line_batch *b)
{
	size_t i;

	while ((i = atomic_fetch_add(&b->next, 1)) < b->n) {
		struct line_job *j = &b->jobs[i];
		j->rc = rpc_handle_line(b->vault, b->caller, j->line, j->len, j->out);
		atomic_fetch_add(&b->done, 1);
	}
}

/* Removes b from the posted list (helper_lock held). */
static void batch_unpost(struct vault_server *server, struct line_batch *b)
{
	for (struct line_batch **pp = &server->batches; *pp != NULL; pp = &(*pp)->link)
		if (*pp == b) {
			*pp = b->link;
			return;
		}
}

static void *server_helper(void *arg)
{
	struct vault_server *server = arg;

	pthread_mutex_lock(&server->helper_lock);
	for (;;) {
		struct line_batch *b;
		while (!atomic_load(&server->stopping) && server->batches == NULL)
			pthread_cond_wait(&server->helper_cond, &server->helper_lock);
		if (atomic_load(&server->stopping))
			break;
		b = server->batches;
		if (atomic_load(&b->next) >= b->n) {   /* nothing left to claim */
			batch_unpost(server, b);
			continue;
		}
		b->users++;
		pthread_mutex_unlock(&server->helper_lock);
		batch_run(b);
		pthread_mutex_lock(&server->helper_lock);
		batch_unpost(server, b);
		b->users--;
		pthread_cond_broadcast(&server->batch_cond);
	}
	pthread_mutex_unlock(&server->helper_lock);
	return NULL;
}

/* Per worker: the answer buffers of its batches (not secret: signatures). */
static __thread struct mcx_buf *batch_out[WORKER_BATCH];

/*
 * Pipelined sign.sign lines (issue 11: a client that keeps 16 in flight)
 * are answered in parallel when the connection's buffer holds a run of at
 * least two: a signature takes ~55 us in SoftHSM, and one worker answering a
 * connection's lines in turn left the other core idle.  Only sign.sign:
 * it changes no state, so its answers do not depend on their order; every
 * other method, and a sign.sign after one, stays in order.  Answers are
 * appended in request order.  Returns the lines answered (0: not such a
 * run, nothing done); *failed when an answer could not be built.
 */
static size_t connection_answer_parallel(struct vault_server *server, struct vault_connection *c, size_t room,
                                         int *failed)
{
	struct line_batch b;
	const char *p = (const char *)mcx_buf_ptr(c->input);
	size_t left = mcx_buf_len(c->input), offset, used = 0;

	/* a caller without a role is only ever denied sign.sign: it gets no
	 * helper's time (its lines are answered in turn, as before) */
	if (server->helpers_started == 0 || room < 2 || c->class == CLASS_NO_ROLE)
		return 0;
	memset(&b, 0, sizeof(b));
	while (b.n < room && b.n < WORKER_BATCH) {
		const char *nl = memchr(p + used, '\n', left - used);
		if (nl == NULL)
			break;
		offset = (size_t)(nl - (p + used));
		if (offset + 1 > c->line_limit || !rpc_line_method_is(p + used, offset, "sign.sign"))
			break;
		if (batch_out[b.n] == NULL && (batch_out[b.n] = mcx_buf_new(OUTPUT_MAX)) == NULL)
			break;
		mcx_buf_reset(batch_out[b.n]);
		b.jobs[b.n].line = p + used;
		b.jobs[b.n].len = offset;
		b.jobs[b.n].out = batch_out[b.n];
		b.n++;
		used += offset + 1;
	}
	if (b.n < 2)
		return 0;
	b.vault = server->vault;
	b.caller = &c->caller;
	atomic_init(&b.next, 0);
	atomic_init(&b.done, 0);
	pthread_mutex_lock(&server->helper_lock);
	b.link = server->batches;
	server->batches = &b;
	pthread_cond_broadcast(&server->helper_cond);
	pthread_mutex_unlock(&server->helper_lock);
	batch_run(&b);
	pthread_mutex_lock(&server->helper_lock);
	batch_unpost(server, &b);
	while (atomic_load(&b.done) < b.n || b.users > 0)
		pthread_cond_wait(&server->batch_cond, &server->helper_lock);
	pthread_mutex_unlock(&server->helper_lock);
	for (size_t i = 0; i < b.n; i++)
		if (b.jobs[i].rc != MCX_OK || mcx_buf_putb(c->output, b.jobs[i].out) != MCX_OK)
			*failed = 1;
	if (mcx_buf_consume(c->input, used) != MCX_OK)
		*failed = 1;
	return b.n;
}

static struct vault_log_limit too_large_limit = VAULT_LOG_LIMIT_INIT;

/* Answers up to WORKER_BATCH complete lines; returns 1 if more are waiting. */
static int connection_process(struct vault_server *server, struct vault_connection *c)
{
	size_t offset;
	int handled = 0;

	while (!c->close_after_flush) {
		if (mcx_buf_find_byte(c->input, '\n', &offset) != MCX_OK) {
			if (mcx_buf_len(c->input) >= c->line_limit) {
				goto too_large;
			}
			if (c->peer_closed && mcx_buf_len(c->input) > 0) {
				/* a half line and then EOF: nothing to answer */
				mcx_buf_reset(c->input);
			}
			return 0;
		}
		if (offset + 1 > c->line_limit)
			goto too_large;
		if (handled == WORKER_BATCH || mcx_buf_len(c->output) > READ_CHUNK)
			return 1;
		{
			int failed = 0;
			size_t n = connection_answer_parallel(server, c, WORKER_BATCH - (size_t)handled, &failed);
			if (failed) {
				vault_error("cannot build a response (uid %u): closing the connection", (unsigned)c->caller.uid);
				c->close_after_flush = 1;
			}
			if (n > 0) {
				handled += (int)n;
				continue;
			}
		}
		if (rpc_handle_line(server->vault, &c->caller, (const char *)mcx_buf_ptr(c->input), offset, c->output) !=
		    MCX_OK) {
			vault_error("cannot build a response (uid %u): closing the connection", (unsigned)c->caller.uid);
			c->close_after_flush = 1;
		}
		if (mcx_buf_consume(c->input, offset + 1) != MCX_OK)
			c->close_after_flush = 1;
		handled++;
	}
	return 0;

too_large:
	vault_log_limited(&too_large_limit, VAULT_LOG_WARNING, "uid %u pid %d sent a request over %zu bytes: closing the connection",
	                  (unsigned)c->caller.uid, (int)c->caller.pid, c->line_limit);
	atomic_fetch_add(&server->vault->requests_total, 1);
	atomic_fetch_add(&server->vault->requests_failed, 1);
	mcx_buf_reset(c->input);
	if (rpc_append_error(c->output, NULL, MCX_ERR_REQUEST_TOO_LARGE,
	                     c->class == CLASS_NO_ROLE
	                             ? "request too large: over server.no_role_max_request_bytes (the caller has no role)"
	                             : "request too large: over server.max_request_bytes") != MCX_OK)
		vault_error("cannot build the 'request too large' response");
	c->close_after_flush = 1;
	return 0;
}

/* Writes what the socket takes; returns -1 when the peer is gone. */
static int connection_flush(struct vault_connection *c)
{
	while (mcx_buf_len(c->output) > 0) {
		ssize_t n = send(c->fd, mcx_buf_ptr(c->output), mcx_buf_len(c->output), MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			if (mcx_buf_consume(c->output, (size_t)n) != MCX_OK)
				return -1;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		return -1;
	}
	return 0;
}

/* Brings server->buffered in line with what c holds now, and starts or
 * stops the clock of an incomplete request line (server.request_timeout). */
static void connection_account(struct vault_server *server, struct vault_connection *c)
{
	size_t now_len = mcx_buf_len(c->input), offset;

	if (now_len < c->accounted)
		atomic_fetch_sub(&server->buffered, c->accounted - now_len);
	else
		atomic_fetch_add(&server->buffered, now_len - c->accounted);
	c->accounted = now_len;
	if (now_len == 0 || mcx_buf_find_byte(c->input, '\n', &offset) == MCX_OK)
		atomic_store(&c->line_started_ns, 0);
	else if (atomic_load(&c->line_started_ns) == 0)
		atomic_store(&c->line_started_ns, mcx_monotonic_ns());
}

static void server_handle_connection(struct vault_server *server, struct vault_connection *c, uint32_t events)
{
	int more = 0;
	size_t offset;

	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		connection_read(server, c);
		/* a line that just ended stops its clock before it is answered: a
		 * 10,000-member batch may take longer than request_timeout to
		 * answer, and that is not a slowloris */
		connection_account(server, c);
	}
	if (mcx_buf_len(c->output) == 0) {
		atomic_store(&c->processing, 1);
		more = connection_process(server, c);
		atomic_store(&c->last_activity_ns, mcx_monotonic_ns());
		atomic_store(&c->processing, 0);
	}
	if (connection_flush(c) != 0)
		goto close;
	/*
	 * A large answer (a 10,000-member gmk.distribute: ~9 MiB) grew the
	 * output buffer, mlocked, for the connection's lifetime: give it back
	 * once sent, and with it what glibc keeps of the request's other freed
	 * blocks (the I_MESSAGE texts in the GMS pool threads' arenas, the JSON
	 * answer): vaultd stayed at ~57 MB after such a batch against ~16 MB
	 * idle (issue 11).  malloc_trim walks every arena: a few ms, and only
	 * after an answer above OUTPUT_KEEP.
	 */
	if (mcx_buf_release(c->output, OUTPUT_KEEP))
		(void)malloc_trim(0);
	/* requests still buffered: come back for them (EPOLLOUT fires at once) */
	if (!more && !c->close_after_flush && mcx_buf_find_byte(c->input, '\n', &offset) == MCX_OK)
		more = 1;
	if (mcx_buf_len(c->output) == 0 && !more && (c->close_after_flush || c->peer_closed))
		goto close;   /* everything a (half-)closed client sent has been answered */
	if ((events & (EPOLLHUP | EPOLLERR)) && mcx_buf_len(c->output) > 0)
		goto close;   /* the peer cannot read what is pending */
	connection_account(server, c);
	if (connection_arm(server, c, more) != MCX_OK)
		goto close;
	return;
close:
	server_connection_close(server, c);
}

/* A worker's batch buffers, at its end. */
static void batch_out_free(void)
{
	for (size_t i = 0; i < WORKER_BATCH; i++) {
		mcx_buf_free(batch_out[i]);
		batch_out[i] = NULL;
	}
}

static void server_worker_loop(struct vault_server *server)
{
	struct epoll_event events[8];

	while (!atomic_load(&server->stopping)) {
		int n = epoll_wait(server->epoll_fd, events, (int)MCX_ARRAY_SIZE(events), -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			vault_error("epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			void *ptr = events[i].data.ptr;
			if (ptr == &stop_token)
				return;
			if (ptr == &listen_token)
				server_accept(server);
			else
				server_handle_connection(server, ptr, events[i].events);
		}
	}
}

static void *server_worker(void *arg)
{
	server_worker_loop(arg);
	batch_out_free();
	return NULL;
}

/* Shuts down idle connections once a second (their workers then close
 * them), flushes denial counts and runs key hygiene (vault/keys/hygiene.c:
 * due scheduled destructions, age warnings; it has its own rate limits). */
static void *server_reaper(void *arg)
{
	struct vault_server *server = arg;
	struct timespec deadline;

	pthread_mutex_lock(&server->reaper_lock);
	while (!atomic_load(&server->stopping)) {
		uint64_t now = mcx_monotonic_ns();
		uint64_t limit = (uint64_t)atomic_load(&server->idle_timeout) * 1000000000u;
		uint64_t line_limit = (uint64_t)atomic_load(&server->request_timeout) * 1000000000u;
		unsigned slow = 0;

		if (atomic_load(&server->accept_paused) && now >= atomic_load(&server->accept_resume_ns)) {
			struct epoll_event ev;
			memset(&ev, 0, sizeof(ev));
			ev.events = EPOLLIN | EPOLLEXCLUSIVE;
			ev.data.ptr = &listen_token;
			if (epoll_ctl(server->epoll_fd, EPOLL_CTL_ADD, server->listen_fd, &ev) == 0 || errno == EEXIST)
				atomic_store(&server->accept_paused, 0);
		}
		pthread_mutex_lock(&server->connections_lock);
		for (struct vault_connection *c = server->connections; c != NULL; c = c->next) {
			uint64_t last = atomic_load(&c->last_activity_ns), started = atomic_load(&c->line_started_ns);
			if (c->fd < 0 || atomic_load(&c->processing))
				continue;   /* closed, or being answered (however long that takes) */
			/* a worker may have stamped the connection after `now` was read:
			 * that is activity, not a wrapped-around idle time */
			if (started != 0 && started < now && now - started > line_limit) {
				/* a slowloris: bytes keep coming, the line never ends */
				slow++;
				(void)shutdown(c->fd, SHUT_RDWR);
				atomic_store(&c->line_started_ns, UINT64_MAX);   /* once is enough */
				continue;
			}
			if (last >= now || now - last <= limit)
				continue;
			vault_info("closing idle connection of uid %u pid %d", (unsigned)c->caller.uid,
			           (int)c->caller.pid);
			(void)shutdown(c->fd, SHUT_RDWR);
			atomic_store(&c->last_activity_ns, now);   /* once is enough */
		}
		pthread_mutex_unlock(&server->connections_lock);
		rpc_denials_flush(server->vault, 0);
		/* due scheduled destructions, age warnings (its own rate limits) */
		vault_hygiene_tick(server->vault);
		/* metadata replaced by key changes: destroyed here, not while a
		 * caller waits (vault/keys/keystore.c, the top) */
		keystore_purge(server->vault->keystore, 500);
		if (slow > 0) {
			static struct vault_log_limit slow_limit = VAULT_LOG_LIMIT_INIT;
			vault_log_limited(&slow_limit, VAULT_LOG_WARNING,
			                  "closed %u connections whose request line did not end within server.request_timeout (%u s)",
			                  slow, atomic_load(&server->request_timeout));
		}
		clock_gettime(CLOCK_REALTIME, &deadline);
		if (atomic_load(&server->accept_paused)) {
			deadline.tv_nsec += ACCEPT_PAUSE_NS;
			if (deadline.tv_nsec >= 1000000000L) {
				deadline.tv_sec++;
				deadline.tv_nsec -= 1000000000L;
			}
		} else {
			deadline.tv_sec += 1;
		}
		pthread_cond_timedwait(&server->reaper_cond, &server->reaper_lock, &deadline);
	}
	pthread_mutex_unlock(&server->reaper_lock);
	return NULL;
}

MCX_RESULT vault_server_start(struct vault_server *server)
{
	int r = MCX_ERR_INTERNAL;

	MCX_ENSURE_ALLOC(server->workers = calloc(server->worker_count, sizeof(pthread_t)));
	for (unsigned i = 0; i < server->worker_count; i++) {
		MCX_ENSURE(pthread_create(&server->workers[i], NULL, server_worker, server) == 0, MCX_ERR_SYSTEM);
		server->workers_started++;
	}
	MCX_ENSURE(pthread_create(&server->reaper, NULL, server_reaper, server) == 0, MCX_ERR_SYSTEM);
	server->reaper_started = 1;
	/* one helper fewer than workers: with the default two workers on two
	 * cores a pipelining connection signs on both; workers = 1 keeps vaultd
	 * answering one request at a time */
	server->helper_count = server->worker_count - 1;
	MCX_ENSURE_ALLOC(server->helpers = calloc(server->helper_count + 1, sizeof(pthread_t)));
	for (unsigned i = 0; i < server->helper_count; i++) {
		MCX_ENSURE(pthread_create(&server->helpers[i], NULL, server_helper, server) == 0, MCX_ERR_SYSTEM);
		server->helpers_started++;
	}
	r = MCX_OK;
out:
	return r;
}

void vault_server_reconfigure(struct vault_server *server, const struct vault_config *config)
{
	if (config->max_connections > server->fd_limit_connections)
		server->fd_limit_connections = server_fit_fd_limit(config->max_connections);
	server_apply_limits(server, config);
}

void vault_server_stop(struct vault_server *server)
{
	uint64_t one = 1;

	if (server == NULL)
		return;
	atomic_store(&server->stopping, 1);
	if (server->stop_fd >= 0)
		(void)!write(server->stop_fd, &one, sizeof(one));
	for (unsigned i = 0; i < server->workers_started; i++)
		pthread_join(server->workers[i], NULL);
	server->workers_started = 0;
	/* after the workers: none waits for a batch any more */
	pthread_mutex_lock(&server->helper_lock);
	pthread_cond_broadcast(&server->helper_cond);
	pthread_mutex_unlock(&server->helper_lock);
	for (unsigned i = 0; i < server->helpers_started; i++)
		pthread_join(server->helpers[i], NULL);
	server->helpers_started = 0;
	if (server->reaper_started) {
		pthread_mutex_lock(&server->reaper_lock);
		pthread_cond_signal(&server->reaper_cond);
		pthread_mutex_unlock(&server->reaper_lock);
		pthread_join(server->reaper, NULL);
		server->reaper_started = 0;
	}
	while (server->connections != NULL)
		server_connection_close(server, server->connections);
	if (server->listen_fd >= 0) {
		close(server->listen_fd);
		server->listen_fd = -1;
		if (!server->listen_passed)
			(void)unlink(server->socket_path);
	}
}

void vault_server_free(struct vault_server *server)
{
	if (server == NULL)
		return;
	vault_server_stop(server);
	if (server->epoll_fd >= 0)
		close(server->epoll_fd);
	if (server->stop_fd >= 0)
		close(server->stop_fd);
	pthread_mutex_destroy(&server->connections_lock);
	pthread_mutex_destroy(&server->reaper_lock);
	pthread_cond_destroy(&server->reaper_cond);
	pthread_mutex_destroy(&server->helper_lock);
	pthread_cond_destroy(&server->helper_cond);
	pthread_cond_destroy(&server->batch_cond);
	free(server->helpers);
	free(server->workers);
	free(server->socket_path);
	free(server);
}
