/*
 * The PostgreSQL backend of the state store (store.h), through libpq: what
 * several vaultd over one HSM share.
 *
 *   gms_keys(domain, owner, purpose, version, key_id, state, created,
 *            superseded, destroyed, sealed)         ciphertext only, as SQLite
 *   replay_cache(key, domain, state, expires)        hex SHA-256, redirect.h states
 *   key_generation(name, gen, busy)                  'keys': bumped by every key change
 *   cluster_nodes(node, seen_gen, heartbeat)         what each vault confirmed it heard of
 *
 * Races between vaults are decided by the database, never by timing:
 *   - gmk.create / gmk.rekey run SERIALIZABLE: two vaults that read the same
 *     versions and both write cannot both commit; the loser gets 40001 (or
 *     23505 on the primary key), answered as MCX_ERR_EXISTS (-32003) — exactly
 *     one new version, whichever vault was asked;
 *   - a replay entry is claimed with INSERT … ON CONFLICT DO UPDATE … RETURNING,
 *     which locks the row until COMMIT: the second vault waits and sees the
 *     first one's state;
 *   - token key changes (rotation, retirement, new KMS generation) take a
 *     session advisory lock on their own connection for the whole change:
 *     the token itself has no lock across processes for our multi-object
 *     changes, and two rotations racing there would make two "active"
 *     versions.  A vault killed while holding it loses its session, which
 *     releases the lock.
 *
 * Three connections, each behind its own mutex: one for requests (GMS and
 * replay; the statements are short), one for the key-change lock (held for
 * a rotation, ~20 ms, without blocking requests), one for LISTEN.  A
 * connection that breaks (the server restarted, the network) is dropped;
 * the call fails with MCX_ERR_STORE_UNAVAILABLE and the next call connects
 * again — vaultd never needs a restart.
 *
 * The listener thread turns NOTIFY mcxvault_keys (payload: the new
 * generation) into mcx_store_keys_observed(); it also polls the generation
 * every second (a notification is lost while its connection is down) and
 * counts every reconnection as a change (it cannot know what it missed).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mcx/buf.h"
#include "mcx/util.h"
#include "vault/daemon/log.h"
#include "vault/store/store_internal.h"

#define PG_SEALED_MAX 256
#define PG_KEY_ID_DRAWS 8
#define PG_KEYS_LOCK "1835235446"        /* 0x6d637876 "mcxv": the advisory lock of token key changes */
#define PG_SCHEMA_LOCK "1835235443"      /* 0x6d637873 "mcxs": two vaults creating the schema at once */
#define PG_CHANNEL "mcxvault_keys"
#define PG_REPLAY_SWEEP 10               /* seconds between deletions of expired replay entries */
#define PG_CONFIRM_MS 2000               /* how long a key change waits for the others to hear of it */

struct pg_store {
	struct mcx_store base;
	char *url;
	pthread_mutex_t lock;          /* conn */
	PGconn *conn;
	pthread_mutex_t keys_lock;     /* keys_conn; held from keys_lock to keys_unlock */
	PGconn *keys_conn;
	PGconn *listen_conn;           /* the listener thread's own */
	pthread_t listener;
	int listener_started;
	atomic_int stopping;
	atomic_int reachable;
	atomic_int bump_pending;       /* a key change whose bump failed: the listener retries */
	int listened;                  /* the listener connected once (its thread only) */
	atomic_int following;          /* the listener is connected and LISTENing */
	char node[65];                 /* this vault's node id: its row in cluster_nodes ("" none) */
	int64_t acked_gen, acked_at;   /* what the listener last confirmed (its thread only) */
	pthread_mutex_t gen_lock;      /* last_gen */
	int64_t last_gen;
	atomic_ullong observed;
	int64_t replay_swept;          /* under lock */
};

static const struct mcx_store_ops pg_ops;

/* --- connections --------------------------------------------------------------- */

/* NOTICEs ("relation already exists, skipping") are not for vaultd's log. */
static void pg_notice_ignore(void *arg, const char *message)
{
}

static PGconn *pg_connect(struct pg_store *s, const char *role)
{
	static struct vault_log_limit down = VAULT_LOG_LIMIT_INIT;
	/* the URL comes last: what it says overrides our defaults.  No wait is
	 * unbounded: a vault hung while holding a lock, or a database that
	 * went silent behind a dead network path, turns into an error
	 * (lock_timeout: MCX_ERR_BUSY; the rest: MCX_ERR_STORE_UNAVAILABLE)
	 * instead of a worker blocked for ever (keepalives: TCP only) */
	const char *const keys[] = { "connect_timeout", "application_name", "options", "keepalives_idle",
		                     "keepalives_interval", "keepalives_count", "tcp_user_timeout", "dbname", NULL };
	const char *const values[] = { "5", "mcxvault", "-c lock_timeout=20000 -c statement_timeout=30000", "10", "5",
		                       "3", "30000", s->url, NULL };
	PGconn *c = PQconnectdbParams(keys, values, 1);

	if (c == NULL || PQstatus(c) != CONNECTION_OK) {
		vault_log_limited(&down, VAULT_LOG_ERROR, "store: cannot connect to PostgreSQL (%s connection): %s", role,
		                  c != NULL ? PQerrorMessage(c) : "out of memory");
		PQfinish(c);
		atomic_store(&s->reachable, 0);
		return NULL;
	}
	PQsetNoticeProcessor(c, pg_notice_ignore, NULL);
	return c;
}

/* *conn usable, or connected again; MCX_ERR_STORE_UNAVAILABLE otherwise. */
static int pg_ready(struct pg_store *s, PGconn **conn, const char *role)
{
	if (*conn != NULL && PQstatus(*conn) == CONNECTION_OK) {
		/* these connections never LISTEN: between our statements the
		 * server has nothing to say, unless it is ending the session (a
		 * restart, an administrator).  Readable means gone: find out now,
		 * with one poll(), rather than fail the request on it */
		struct pollfd pfd = { PQsocket(*conn), POLLIN, 0 };
		if (poll(&pfd, 1, 0) == 0)
			return MCX_OK;
	}
	if (*conn != NULL) {
		PQfinish(*conn);
		*conn = NULL;
	}
	if ((*conn = pg_connect(s, role)) == NULL)
		return MCX_ERR_STORE_UNAVAILABLE;
	if (!atomic_exchange(&s->reachable, 1))
		vault_warning("store: PostgreSQL reachable again (%s connection)", role);
	return MCX_OK;
}

/* A failed statement: which MCX_ERR_* it is.  A broken connection is
 * dropped (the next call reconnects). */
static int pg_fail(struct pg_store *s, PGconn **conn, PGresult *res, const char *what)
{
	static struct vault_log_limit lost = VAULT_LOG_LIMIT_INIT;
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *message = res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(*conn);

	if (PQstatus(*conn) != CONNECTION_OK || state == NULL || strncmp(state, "08", 2) == 0 ||
	    strncmp(state, "57P", 3) == 0 || strncmp(state, "53", 2) == 0) {
		vault_log_limited(&lost, VAULT_LOG_ERROR, "store: PostgreSQL unavailable during %s: %s", what,
		                  message != NULL && *message != '\0' ? message : "connection lost");
		PQfinish(*conn);
		*conn = NULL;
		atomic_store(&s->reachable, 0);
		return MCX_ERR_STORE_UNAVAILABLE;
	}
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 || strcmp(state, "23505") == 0) {
		/* another vault changed the same rows first: it won */
		vault_info("store: %s lost a race with another vault (%s)", what, state);
		return MCX_ERR_EXISTS;
	}
	if (strcmp(state, "57014") == 0) {
		/* statement_timeout: the database is there but does not answer in time */
		vault_log_limited(&lost, VAULT_LOG_ERROR, "store: PostgreSQL too slow during %s: %s", what, message);
		return MCX_ERR_STORE_UNAVAILABLE;
	}
	if (strcmp(state, "55P03") == 0) {
		vault_warning("store: %s: lock not granted in time (another vault holds it)", what);
		return MCX_ERR_BUSY;
	}
	vault_error("store: %s: %s", what, message);
	return MCX_ERR_SYSTEM;
}

/* Runs sql with text parameters; *out (when not NULL) receives the result. */
static int pg_run(struct pg_store *s, PGconn **conn, const char *what, const char *sql, int n,
                  const char *const *values, ExecStatusType want, PGresult **out)
{
	PGresult *res = PQexecParams(*conn, sql, n, NULL, values, NULL, NULL, 0);
	int r;

	if (res == NULL || PQresultStatus(res) != want) {
		r = pg_fail(s, conn, res, what);
		PQclear(res);
		return r;
	}
	if (out != NULL)
		*out = res;
	else
		PQclear(res);
	return MCX_OK;
}

static void pg_rollback(struct pg_store *s, PGconn **conn)
{
	if (*conn != NULL && PQstatus(*conn) == CONNECTION_OK) {
		PGresult *res = PQexec(*conn, "ROLLBACK");
		PQclear(res);
	}
}

/* --- the key generation ---------------------------------------------------------- */

static void note_generation(struct pg_store *s, int64_t gen)
{
	pthread_mutex_lock(&s->gen_lock);
	if (gen != s->last_gen) {
		s->last_gen = gen;
		atomic_fetch_add(&s->observed, 1);
	}
	pthread_mutex_unlock(&s->gen_lock);
}

static int read_generation(struct pg_store *s, PGconn **conn)
{
	PGresult *res = NULL;
	int r = pg_run(s, conn, "reading the key generation", "SELECT gen FROM key_generation WHERE name='keys'", 0, NULL,
	               PGRES_TUPLES_OK, &res);

	if (r == MCX_OK && PQntuples(res) == 1)
		note_generation(s, strtoll(PQgetvalue(res, 0, 0), NULL, 10));
	PQclear(res);
	return r;
}

/* Moves the generation on and tells every vault (NOTIFY is sent at commit). */
static int bump_generation(struct pg_store *s, PGconn **conn, int holding_lock)
{
	PGresult *res = NULL;
	/* "busy" is the lock holder's to clear: a late announcement from the
	 * listener must not hide another vault's change in progress */
	int r = pg_run(s, conn, "announcing a key change",
	               holding_lock ? "WITH g AS (UPDATE key_generation SET gen = gen + 1, busy = false"
	                              " WHERE name='keys' RETURNING gen)"
	                              " SELECT gen, pg_notify('" PG_CHANNEL "', gen::text) FROM g"
	                            : "WITH g AS (UPDATE key_generation SET gen = gen + 1 WHERE name='keys' RETURNING gen)"
	                              " SELECT gen, pg_notify('" PG_CHANNEL "', gen::text) FROM g",
	               0, NULL, PGRES_TUPLES_OK, &res);

	if (r == MCX_OK && PQntuples(res) == 1)
		note_generation(s, strtoll(PQgetvalue(res, 0, 0), NULL, 10));
	PQclear(res);
	return r;
}

/* The listener confirms, in cluster_nodes, which generation this vault has
 * heard of (and that it is alive: the heartbeat, at least every second).
 * Heard of is enough: the next request that touches the index re-reads it. */
static void confirm_generation(struct pg_store *s)
{
	int64_t gen, now = mcx_time_now();
	char g[24], t[24];
	const char *params[3] = { s->node, g, t };

	if (s->node[0] == '\0' || s->listen_conn == NULL)
		return;
	pthread_mutex_lock(&s->gen_lock);
	gen = s->last_gen;
	pthread_mutex_unlock(&s->gen_lock);
	if (gen == s->acked_gen && now - s->acked_at < 1)
		return;
	snprintf(g, sizeof(g), "%" PRId64, gen);
	snprintf(t, sizeof(t), "%" PRId64, now);
	if (pg_run(s, &s->listen_conn, "confirming the key generation",
	           "INSERT INTO cluster_nodes (node, seen_gen, heartbeat) VALUES ($1, $2::bigint, $3::bigint)"
	           " ON CONFLICT (node) DO UPDATE SET seen_gen = EXCLUDED.seen_gen, heartbeat = EXCLUDED.heartbeat",
	           3, params, PGRES_COMMAND_OK, NULL) == MCX_OK) {
		s->acked_gen = gen;
		s->acked_at = now;
	}
}

/* After announcing generation gen: waits (at most PG_CONFIRM_MS) until every
 * other live vault (heartbeat within 3 s) has heard of it, so that a client
 * told "rotated" by this vault finds the new version at any other at once.
 * A vault that does not confirm in time is not following (its listener is
 * down): it re-reads its index when the listener is back. */
static void await_confirmations(struct pg_store *s, int64_t gen)
{
	static struct vault_log_limit slow = VAULT_LOG_LIMIT_INIT;
	char g[24], t[24];
	const char *params[3] = { s->node, g, t };
	uint64_t deadline = mcx_monotonic_ns() + PG_CONFIRM_MS * 1000000ull;
	PGresult *res = NULL;
	long waiting = 0;

	snprintf(g, sizeof(g), "%" PRId64, gen);
	snprintf(t, sizeof(t), "%" PRId64, mcx_time_now() - 3);
	for (;;) {
		if (s->keys_conn == NULL ||
		    pg_run(s, &s->keys_conn, "awaiting the other vaults",
		           "SELECT count(*) FROM cluster_nodes WHERE node <> $1 AND heartbeat >= $3::bigint"
		           " AND seen_gen < $2::bigint",
		           3, params, PGRES_TUPLES_OK, &res) != MCX_OK)
			return;
		waiting = strtol(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		res = NULL;
		if (waiting == 0)
			return;
		if (mcx_monotonic_ns() >= deadline)
			break;
		poll(NULL, 0, 2);
	}
	vault_log_limited(&slow, VAULT_LOG_WARNING,
	                  "store: %ld other vault(s) did not confirm key generation %" PRId64 " within %d ms: "
	                  "they re-read their index when they follow again", waiting, gen, PG_CONFIRM_MS);
}

static void *listener_main(void *arg)
{
	struct pg_store *s = arg;
	unsigned idle = 0;

	while (!atomic_load(&s->stopping)) {
		struct pollfd pfd;
		PGnotify *n;

		if (s->listen_conn == NULL || PQstatus(s->listen_conn) != CONNECTION_OK) {
			atomic_store(&s->following, 0);
			if (s->listen_conn != NULL) {
				PQfinish(s->listen_conn);
				s->listen_conn = NULL;
			}
			if ((s->listen_conn = pg_connect(s, "listen")) == NULL ||
			    pg_run(s, &s->listen_conn, "LISTEN", "LISTEN " PG_CHANNEL, 0, NULL, PGRES_COMMAND_OK, NULL) !=
			            MCX_OK) {
				for (int i = 0; i < 4 && !atomic_load(&s->stopping); i++)
					poll(NULL, 0, 250);
				continue;
			}
			/* notifications sent while we were away are lost: count a
			 * reconnection as a change (the index is re-read) */
			if (s->listened)
				atomic_fetch_add(&s->observed, 1);
			s->listened = 1;
			if (read_generation(s, &s->listen_conn) != MCX_OK)
				continue;
			atomic_store(&s->following, 1);
			s->acked_at = 0;
			confirm_generation(s);
		}
		if (atomic_load(&s->bump_pending) && bump_generation(s, &s->listen_conn, 0) == MCX_OK) {
			atomic_store(&s->bump_pending, 0);
			vault_warning("store: the key change made while PostgreSQL was down is announced now");
		}
		pfd.fd = PQsocket(s->listen_conn);
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (pfd.fd < 0 || poll(&pfd, 1, 250) < 0)
			continue;
		if (pfd.revents != 0) {
			if (!PQconsumeInput(s->listen_conn)) {
				atomic_store(&s->following, 0);
				PQfinish(s->listen_conn);
				s->listen_conn = NULL;
				continue;
			}
			while ((n = PQnotifies(s->listen_conn)) != NULL) {
				note_generation(s, strtoll(n->extra, NULL, 10));
				PQfreemem(n);
			}
			idle = 0;
			confirm_generation(s);
		} else if (++idle >= 4) {
			/* the backstop: a poll of the generation every second */
			idle = 0;
			if (read_generation(s, &s->listen_conn) != MCX_OK)
				continue;
			confirm_generation(s);
		}
	}
	return NULL;
}

static int pg_keys_lock(struct mcx_store *base)
{
	struct pg_store *s = (struct pg_store *)base;
	int r = MCX_ERR_INTERNAL;
	const char *const id[] = { PG_KEYS_LOCK };
	PGresult *res = NULL;

	pthread_mutex_lock(&s->keys_lock);
	MCX_GUARD(pg_ready(s, &s->keys_conn, "key-change lock"));
	MCX_GUARD(pg_run(s, &s->keys_conn, "taking the key-change lock", "SELECT pg_advisory_lock($1::bigint)", 1, id,
	                 PGRES_TUPLES_OK, NULL));
	/* under the lock nobody else changes keys: what we read now is final.
	 * "busy" stays set from here to the announcement: found set, the last
	 * holder died in the middle of a change (its session and lock are gone,
	 * nobody announced anything), so the index is re-read — and repaired,
	 * since we hold the lock — before this change */
	r = pg_run(s, &s->keys_conn, "marking a key change",
	           "WITH old AS (SELECT gen, busy FROM key_generation WHERE name='keys' FOR UPDATE)"
	           " UPDATE key_generation k SET busy = true FROM old WHERE k.name='keys' RETURNING old.gen, old.busy",
	           0, NULL, PGRES_TUPLES_OK, &res);
	if (r == MCX_OK && PQntuples(res) == 1) {
		note_generation(s, strtoll(PQgetvalue(res, 0, 0), NULL, 10));
		if (strcmp(PQgetvalue(res, 0, 1), "t") == 0) {
			vault_warning("store: the last key change by another vault did not finish (killed?): "
			              "re-reading and repairing the token index first");
			atomic_fetch_add(&s->observed, 1);
		}
	} else if (r == MCX_OK) {
		r = MCX_ERR_INTERNAL;
	}
	PQclear(res);
	if (r != MCX_OK && s->keys_conn != NULL) {
		/* ending the session releases the lock */
		PQfinish(s->keys_conn);
		s->keys_conn = NULL;
	}
out:
	if (r != MCX_OK)
		pthread_mutex_unlock(&s->keys_lock);
	return r;
}

static uint64_t pg_keys_unlock(struct mcx_store *base, int changed)
{
	struct pg_store *s = (struct pg_store *)base;
	const char *const id[] = { PG_KEYS_LOCK };

	if (changed && (s->keys_conn == NULL || bump_generation(s, &s->keys_conn, 1) != MCX_OK)) {
		/* the change is in the token: the other vaults must still hear of it */
		vault_error("store: cannot announce a key change to the other vaults now; retrying in the background");
		atomic_store(&s->bump_pending, 1);
	} else if (changed) {
		int64_t gen;
		pthread_mutex_lock(&s->gen_lock);
		gen = s->last_gen;
		pthread_mutex_unlock(&s->gen_lock);
		await_confirmations(s, gen);
	}
	if (!changed && s->keys_conn != NULL &&
	    pg_run(s, &s->keys_conn, "ending a key change", "UPDATE key_generation SET busy = false WHERE name='keys'", 0,
	           NULL, PGRES_COMMAND_OK, NULL) != MCX_OK)
		vault_warning("store: cannot clear the key-change mark; the next change re-reads the index");
	if (s->keys_conn != NULL &&
	    pg_run(s, &s->keys_conn, "releasing the key-change lock", "SELECT pg_advisory_unlock($1::bigint)", 1, id,
	           PGRES_TUPLES_OK, NULL) != MCX_OK && s->keys_conn != NULL) {
		/* ending the session releases the lock for certain */
		PQfinish(s->keys_conn);
		s->keys_conn = NULL;
	}
	pthread_mutex_unlock(&s->keys_lock);
	return atomic_load(&s->observed);
}

static uint64_t pg_keys_observed(struct mcx_store *base)
{
	return atomic_load(&((struct pg_store *)base)->observed);
}

/* --- open / close ------------------------------------------------------------------ */

static void pg_close(struct mcx_store *base)
{
	struct pg_store *s = (struct pg_store *)base;

	if (s == NULL)
		return;
	atomic_store(&s->stopping, 1);
	if (s->listener_started)
		pthread_join(s->listener, NULL);
	if (s->node[0] != '\0' && s->conn != NULL && PQstatus(s->conn) == CONNECTION_OK) {
		/* stopped: the others need not wait for this vault's confirmations */
		const char *params[1] = { s->node };
		(void)pg_run(s, &s->conn, "leaving the cluster", "DELETE FROM cluster_nodes WHERE node = $1", 1, params,
		             PGRES_COMMAND_OK, NULL);
	}
	PQfinish(s->listen_conn);
	PQfinish(s->keys_conn);
	PQfinish(s->conn);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->keys_lock);
	pthread_mutex_destroy(&s->gen_lock);
	free(s->url);
	free(s);
}

static const char pg_schema[] =
	"CREATE TABLE IF NOT EXISTS gms_keys ("
	" domain text COLLATE \"C\" NOT NULL, owner text COLLATE \"C\" NOT NULL, purpose integer NOT NULL,"
	" version bigint NOT NULL, key_id bigint NOT NULL, state text NOT NULL, created bigint NOT NULL,"
	" superseded bigint NOT NULL DEFAULT 0, destroyed bigint NOT NULL DEFAULT 0, sealed bytea,"
	" PRIMARY KEY (domain, owner, purpose, version), UNIQUE (domain, owner, purpose, key_id));"
	"CREATE INDEX IF NOT EXISTS gms_keys_state ON gms_keys (domain, state);"
	"CREATE TABLE IF NOT EXISTS replay_cache (key text COLLATE \"C\" PRIMARY KEY, domain text NOT NULL,"
	" state integer NOT NULL, expires bigint NOT NULL);"
	"CREATE INDEX IF NOT EXISTS replay_cache_domain ON replay_cache (domain, expires);"
	"CREATE TABLE IF NOT EXISTS key_generation (name text PRIMARY KEY, gen bigint NOT NULL,"
	" busy boolean NOT NULL DEFAULT false);"
	"INSERT INTO key_generation VALUES ('keys', 0, false) ON CONFLICT DO NOTHING;"
	"CREATE TABLE IF NOT EXISTS cluster_nodes (node text PRIMARY KEY, seen_gen bigint NOT NULL,"
	" heartbeat bigint NOT NULL);";

/*
 * Two live vaults with one node_id would share a cluster_nodes row (each
 * confirming for the other) and an audit anchor in the token (each refusing
 * the other's log): a vault whose node_id has a heartbeat that still moves
 * does not start.  A heartbeat that stands still is a vault that died
 * (SIGKILL, a lost host): its row is taken over.  The listener beats at
 * least once a second, so 2.5 s of watching tells the two apart; only a
 * restart within 3 s of the last beat waits for it.
 */
static int node_id_free(struct pg_store *s)
{
	const char *params[1] = { s->node };
	long long first = -1;
	int r = MCX_OK;

	if (s->node[0] == '\0')
		return MCX_OK;
	for (int i = 0; i < 6; i++) {
		PGresult *res = NULL;
		long long beat;
		struct timespec half = { 0, 500000000L };

		MCX_GUARD(pg_run(s, &s->conn, "checking the node id", "SELECT heartbeat FROM cluster_nodes WHERE node = $1",
		                 1, params, PGRES_TUPLES_OK, &res));
		if (PQntuples(res) == 0) {
			PQclear(res);
			return MCX_OK;
		}
		beat = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		if (first < 0)
			first = beat;
		if (beat != first) {
			vault_error("store: node_id '%s' is in use by another running vault (its heartbeat moves): give "
			            "each vault its own node_id", s->node);
			return MCX_ERR_EXISTS;
		}
		if (mcx_time_now() - beat > 3)
			return MCX_OK;
		nanosleep(&half, NULL);
	}
out:
	return r;
}

MCX_RESULT mcx_store_pg_open(const char *url, const char *node, struct mcx_store **out)
{
	int r = MCX_ERR_INTERNAL;
	struct pg_store *s = NULL;
	PGresult *res = NULL;
	const char *const lock_id[] = { PG_SCHEMA_LOCK };

	*out = NULL;
	MCX_ENSURE_ALLOC(s = calloc(1, sizeof(*s)));
	s->base.ops = &pg_ops;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->keys_lock, NULL);
	pthread_mutex_init(&s->gen_lock, NULL);
	MCX_ENSURE_ALLOC(s->url = strdup(url));
	if (node != NULL)
		snprintf(s->node, sizeof(s->node), "%s", node);
	atomic_store(&s->reachable, 1);   /* "reachable again" is for after a failure */
	/* a vault that cannot reach its shared state at start does not start:
	 * it would serve keys it cannot coordinate (the others keep serving) */
	r = pg_ready(s, &s->conn, "request");
	MCX_ENSURE(r == MCX_OK, MCX_ERR_STORE_UNAVAILABLE);
	MCX_GUARD(pg_run(s, &s->conn, "schema", "BEGIN", 0, NULL, PGRES_COMMAND_OK, NULL));
	r = pg_run(s, &s->conn, "schema lock", "SELECT pg_advisory_xact_lock($1::bigint)", 1, lock_id, PGRES_TUPLES_OK,
	           NULL);
	if (r == MCX_OK) {
		res = PQexec(s->conn, pg_schema);
		r = PQresultStatus(res) == PGRES_COMMAND_OK ? MCX_OK : pg_fail(s, &s->conn, res, "creating the schema");
		PQclear(res);
	}
	if (r == MCX_OK)
		r = pg_run(s, &s->conn, "schema", "COMMIT", 0, NULL, PGRES_COMMAND_OK, NULL);
	if (r != MCX_OK)
		pg_rollback(s, &s->conn);
	MCX_GUARD(r);
	MCX_GUARD(node_id_free(s));
	MCX_GUARD(read_generation(s, &s->conn));
	MCX_ENSURE(pthread_create(&s->listener, NULL, listener_main, s) == 0, MCX_ERR_SYSTEM);
	s->listener_started = 1;
	atomic_store(&s->reachable, 1);
	*out = &s->base;
	s = NULL;
	r = MCX_OK;
out:
	pg_close(s != NULL ? &s->base : NULL);
	return r;
}

static int pg_reachable(const struct mcx_store *base)
{
	return atomic_load(&((const struct pg_store *)base)->reachable);
}

static int pg_following(const struct mcx_store *base)
{
	return atomic_load(&((const struct pg_store *)base)->following);
}

/* --- group keys ------------------------------------------------------------------- */

#define KEY_COLUMNS "purpose, version, key_id, state, created, superseded, destroyed"

static void key_from_row(PGresult *res, int row, int first, struct gms_key *k)
{
	memset(k, 0, sizeof(*k));
	k->purpose = (unsigned)strtoul(PQgetvalue(res, row, first), NULL, 10);
	k->version = (uint32_t)strtoul(PQgetvalue(res, row, first + 1), NULL, 10);
	k->key_id = (uint32_t)strtoul(PQgetvalue(res, row, first + 2), NULL, 10);
	k->state = mcx_store_gms_state_parse(PQgetvalue(res, row, first + 3));
	k->created = strtoll(PQgetvalue(res, row, first + 4), NULL, 10);
	k->superseded = strtoll(PQgetvalue(res, row, first + 5), NULL, 10);
	k->destroyed = strtoll(PQgetvalue(res, row, first + 6), NULL, 10);
}

static int pg_gms_add(struct mcx_store *base, const char *domain, const char *owner, unsigned purpose, int rekey,
                      int64_t now, gms_store_make_fn make, void *ctx, struct gms_key *created)
{
	struct pg_store *s = (struct pg_store *)base;
	int r = MCX_ERR_INTERNAL, in_tx = 0, used = 1;
	PGresult *res = NULL;
	struct mcx_buf *sealed = NULL, *hex = NULL;
	uint32_t version = 1, key_id = 0;
	int64_t rows = 0;
	char p[16], v[16], id[16], t[24];
	const char *params[7] = { domain, owner, p, v, id, t, NULL };
	const char *id_params[4] = { domain, owner, p, id };
	const char *supersede_params[4] = { domain, owner, p, t };

	snprintf(p, sizeof(p), "%u", purpose);
	snprintf(t, sizeof(t), "%" PRId64, now);
	MCX_ENSURE_ALLOC(sealed = mcx_buf_new(PG_SEALED_MAX));
	MCX_ENSURE_ALLOC(hex = mcx_buf_new(2 * PG_SEALED_MAX + 3));
	pthread_mutex_lock(&s->lock);
	MCX_GUARD(pg_ready(s, &s->conn, "request"));
	MCX_GUARD(pg_run(s, &s->conn, "gms add", "BEGIN ISOLATION LEVEL SERIALIZABLE", 0, NULL, PGRES_COMMAND_OK, NULL));
	in_tx = 1;
	MCX_GUARD(pg_run(s, &s->conn, "gms versions",
	                 "SELECT count(*), coalesce(max(version), 0) FROM gms_keys"
	                 " WHERE domain=$1 AND owner=$2 AND purpose=$3::integer",
	                 3, params, PGRES_TUPLES_OK, &res));
	rows = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	version = (uint32_t)strtoul(PQgetvalue(res, 0, 1), NULL, 10) + 1;
	PQclear(res);
	res = NULL;
	MCX_ENSURE(rekey || rows == 0, MCX_ERR_EXISTS);
	MCX_ENSURE(!rekey || rows > 0, MCX_ERR_NOT_FOUND);
	MCX_ENSURE(version > 0 && version < INT32_MAX, MCX_ERR_KEY_STATE);
	if (rekey)
		mcx_store_test_delay();
	snprintf(v, sizeof(v), "%" PRIu32, version);

	for (int draw = 0; used && draw < PG_KEY_ID_DRAWS; draw++) {
		mcx_buf_reset(sealed);
		MCX_GUARD(make(ctx, version, &key_id, sealed));
		snprintf(id, sizeof(id), "%" PRIu32, key_id);
		MCX_GUARD(pg_run(s, &s->conn, "gms key id",
		                 "SELECT 1 FROM gms_keys WHERE domain=$1 AND owner=$2 AND purpose=$3::integer"
		                 " AND key_id=$4::bigint",
		                 4, id_params, PGRES_TUPLES_OK, &res));
		used = PQntuples(res) > 0;
		PQclear(res);
		res = NULL;
	}
	MCX_ENSURE(!used, MCX_ERR_INTERNAL);
	if (rekey)
		MCX_GUARD(pg_run(s, &s->conn, "gms supersede",
		                 "UPDATE gms_keys SET state='previous', superseded=$4::bigint"
		                 " WHERE domain=$1 AND owner=$2 AND purpose=$3::integer AND state='current'",
		                 4, supersede_params, PGRES_COMMAND_OK, NULL));
	/* bytea in its hex input form: the sealed blob is ciphertext */
	MCX_GUARD(mcx_buf_put(hex, "\\x", 2));
	MCX_GUARD(mcx_hex_encode(hex, mcx_buf_ptr(sealed), mcx_buf_len(sealed)));
	MCX_GUARD(mcx_buf_put_u8(hex, 0));
	params[6] = (const char *)mcx_buf_ptr(hex);
	MCX_GUARD(pg_run(s, &s->conn, "gms insert",
	                 "INSERT INTO gms_keys (domain, owner, purpose, version, key_id, state, created, sealed)"
	                 " VALUES ($1, $2, $3::integer, $4::bigint, $5::bigint, 'current', $6::bigint, $7::bytea)",
	                 7, params, PGRES_COMMAND_OK, NULL));
	MCX_GUARD(pg_run(s, &s->conn, "gms commit", "COMMIT", 0, NULL, PGRES_COMMAND_OK, NULL));
	in_tx = 0;
	memset(created, 0, sizeof(*created));
	created->purpose = purpose;
	created->version = version;
	created->key_id = key_id;
	created->state = GMS_STATE_CURRENT;
	created->created = now;
	r = MCX_OK;
out:
	PQclear(res);
	if (in_tx)
		pg_rollback(s, &s->conn);
	pthread_mutex_unlock(&s->lock);
	mcx_buf_free(sealed);
	mcx_buf_free(hex);
	return r;
}

static int pg_gms_get(struct mcx_store *base, const char *domain, const char *owner, unsigned purpose,
                      uint32_t key_id, struct gms_key *meta, struct mcx_buf *sealed)
{
	struct pg_store *s = (struct pg_store *)base;
	int r = MCX_ERR_INTERNAL;
	PGresult *res = NULL;
	char p[16], id[16];
	const char *params[4] = { domain, owner, p, id };
	const char *blob;

	snprintf(p, sizeof(p), "%u", purpose);
	snprintf(id, sizeof(id), "%" PRIu32, key_id);
	pthread_mutex_lock(&s->lock);
	MCX_GUARD(pg_ready(s, &s->conn, "request"));
	MCX_GUARD(pg_run(s, &s->conn, "gms get",
	                 key_id == 0 ? "SELECT " KEY_COLUMNS ", encode(sealed, 'hex') FROM gms_keys WHERE domain=$1"
	                               " AND owner=$2 AND purpose=$3::integer AND $4::bigint = 0"
	                               " ORDER BY (state='current') DESC, version DESC LIMIT 1"
	                             : "SELECT " KEY_COLUMNS ", encode(sealed, 'hex') FROM gms_keys WHERE domain=$1"
	                               " AND owner=$2 AND purpose=$3::integer AND key_id=$4::bigint",
	                 4, params, PGRES_TUPLES_OK, &res));
	MCX_ENSURE(PQntuples(res) == 1, MCX_ERR_NOT_FOUND);
	key_from_row(res, 0, 0, meta);
	MCX_ENSURE(meta->state != GMS_STATE_REVOKED, MCX_ERR_REVOKED);
	MCX_ENSURE(meta->state != GMS_STATE_EXPIRED, MCX_ERR_EXPIRED);
	MCX_ENSURE(key_id != 0 || meta->state == GMS_STATE_CURRENT, MCX_ERR_KEY_STATE);
	MCX_ENSURE(!PQgetisnull(res, 0, 7), MCX_ERR_KEY_STATE);
	blob = PQgetvalue(res, 0, 7);
	MCX_GUARD(mcx_hex_decode(sealed, blob, strlen(blob)));
	r = MCX_OK;
out:
	PQclear(res);
	pthread_mutex_unlock(&s->lock);
	return r;
}

static int pg_gms_expire(struct mcx_store *base, const char *domain, int64_t cutoff)
{
	struct pg_store *s = (struct pg_store *)base;
	int r = MCX_ERR_INTERNAL;
	PGresult *res = NULL;
	char c[24];
	const char *params[2] = { domain, c };
	const char *changed;

	snprintf(c, sizeof(c), "%" PRId64, cutoff);
	pthread_mutex_lock(&s->lock);
	MCX_GUARD(pg_ready(s, &s->conn, "request"));
	MCX_GUARD(pg_run(s, &s->conn, "gms expire",
	                 "UPDATE gms_keys SET state='expired', sealed=NULL, destroyed=$2::bigint"
	                 " WHERE domain=$1 AND state='previous' AND superseded<=$2::bigint",
	                 2, params, PGRES_COMMAND_OK, &res));
	changed = PQcmdTuples(res);
	if (changed != NULL && atoi(changed) > 0)
		vault_info("gms: %s superseded key(s) of %s past their overlap destroyed", changed, domain);
	r = MCX_OK;
out:
	PQclear(res);
	pthread_mutex_unlock(&s->lock);
	return r;
}

static int pg_gms_revoke(struct mcx_store *base, const char *domain, const char *owner, unsigned purpose,
                         uint32_t key_id, int64_t now, unsigned *count)
{
	struct pg_store *s = (struct pg_store *)base;
	int r = MCX_ERR_INTERNAL, in_tx = 0;
	PGresult *res = NULL;
	char p[16], id[16], t[24];
	const char *params[5] = { domain, owner, p, id, t };

	*count = 0;
	snprintf(p, sizeof(p), "%u", purpose);
	snprintf(id, sizeof(id), "%" PRIu32, key_id);
	snprintf(t, sizeof(t), "%" PRId64, now);
	pthread_mutex_lock(&s->lock);
	MCX_GUARD(pg_ready(s, &s->conn, "request"));
	MCX_GUARD(pg_run(s, &s->conn, "gms revoke", "BEGIN", 0, NULL, PGRES_COMMAND_OK, NULL));
	in_tx = 1;
	MCX_GUARD(pg_run(s, &s->conn, "gms revoke count",
	                 "SELECT count(*) FROM gms_keys WHERE domain=$1 AND owner=$2 AND purpose=$3::integer"
	                 " AND ($4::bigint=0 OR key_id=$4::bigint)",
	                 4, params, PGRES_TUPLES_OK, &res));
	MCX_ENSURE(strtoll(PQgetvalue(res, 0, 0), NULL, 10) > 0, MCX_ERR_NOT_FOUND);
	PQclear(res);
	res = NULL;
	MCX_GUARD(pg_run(s, &s->conn, "gms revoke",
	                 "UPDATE gms_keys SET state='revoked', sealed=NULL, destroyed=$5::bigint"
	                 " WHERE domain=$1 AND owner=$2 AND purpose=$3::integer AND ($4::bigint=0 OR key_id=$4::bigint)"
	                 " AND state<>'revoked'",
	                 5, params, PGRES_COMMAND_OK, &res));
	*count = (unsigned)strtoul(PQcmdTuples(res), NULL, 10);
	MCX_GUARD(pg_run(s, &s->conn, "gms revoke commit", "COMMIT", 0, NULL, PGRES_COMMAND_OK, NULL));
	in_tx = 0;
	r = MCX_OK;
out:
	PQclear(res);
	if (in_tx)
		pg_rollback(s, &s->conn);
	pthread_mutex_unlock(&s->lock);
	return r;
}

static int pg_gms_list(struct mcx_store *base, const char *domain, int servers, const char *owner, int purpose,
                       const char *after, unsigned limit, gms_store_row_fn fn, void *ctx, int *more)
{
	struct pg_store *s = (struct pg_store *)base;
	int r = MCX_ERR_INTERNAL, rows;
	PGresult *res = NULL;
	char sv[4], p[16], l[16];
	const char *params[6] = { domain, sv, owner, p, after, limit > 0 ? l : NULL };
	const char *last = NULL;
	unsigned owners = 0;
	struct gms_key k;

	snprintf(sv, sizeof(sv), "%d", servers != 0);
	snprintf(p, sizeof(p), "%d", purpose);
	snprintf(l, sizeof(l), "%u", limit + 1);
	pthread_mutex_lock(&s->lock);
	MCX_GUARD(pg_ready(s, &s->conn, "request"));
	/* a page is whole owners: limit + 1 of them after the cursor (the extra
	 * one only says that more follow); LIMIT NULL is no limit */
	MCX_GUARD(pg_run(s, &s->conn, "gms list",
	                 "SELECT owner, " KEY_COLUMNS " FROM gms_keys WHERE domain=$1"
	                 " AND (CASE WHEN $2::integer=1 THEN purpose<>0 ELSE purpose=0 END)"
	                 " AND ($3::text IS NULL OR owner=$3) AND ($4::integer<0 OR purpose=$4::integer)"
	                 " AND owner IN (SELECT DISTINCT owner FROM gms_keys WHERE domain=$1"
	                 "  AND (CASE WHEN $2::integer=1 THEN purpose<>0 ELSE purpose=0 END)"
	                 "  AND ($5::text IS NULL OR owner>$5) ORDER BY owner LIMIT $6::bigint)"
	                 " ORDER BY owner, purpose, version",
	                 6, params, PGRES_TUPLES_OK, &res));
	rows = PQntuples(res);
	for (int i = 0; i < rows; i++) {
		const char *this_owner = PQgetvalue(res, i, 0);
		if (last == NULL || strcmp(last, this_owner) != 0) {
			if (limit > 0 && owners == limit) {
				*more = 1;
				break;
			}
			owners++;
			last = this_owner;
		}
		key_from_row(res, i, 1, &k);
		k.owner = this_owner;
		MCX_GUARD(fn(ctx, &k));
	}
	r = MCX_OK;
out:
	PQclear(res);
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* --- the replay cache ---------------------------------------------------------------- */

/* In a transaction: the entry for key, created if new and the domain is
 * within its quota; *state receives its state (0 for a new or expired one).
 * The upsert keeps the row locked until the caller's COMMIT. */
static int replay_slot(struct pg_store *s, const char *domain, size_t quota, const char *key, int64_t expires,
                       int64_t now, int *state)
{
	int r = MCX_ERR_INTERNAL;
	PGresult *res = NULL;
	char e[24], n[24];
	const char *params[4] = { key, domain, n, e };
	const char *sweep[1] = { n };

	snprintf(e, sizeof(e), "%" PRId64, expires);
	snprintf(n, sizeof(n), "%" PRId64, now);
	if (now - s->replay_swept >= PG_REPLAY_SWEEP) {
		MCX_GUARD(pg_run(s, &s->conn, "replay sweep", "DELETE FROM replay_cache WHERE expires < $1::bigint", 1,
		                 sweep, PGRES_COMMAND_OK, NULL));
		s->replay_swept = now;
	}
	MCX_GUARD(pg_run(s, &s->conn, "replay quota",
	                 "SELECT count(*) FILTER (WHERE key=$1), count(*) FROM replay_cache"
	                 " WHERE domain=$2 AND expires >= $3::bigint",
	                 3, params, PGRES_TUPLES_OK, &res));
	MCX_ENSURE(strtoll(PQgetvalue(res, 0, 0), NULL, 10) > 0 || strtoull(PQgetvalue(res, 0, 1), NULL, 10) < quota,
	           MCX_ERR_BUSY);
	PQclear(res);
	res = NULL;
	MCX_GUARD(pg_run(s, &s->conn, "replay claim",
	                 "INSERT INTO replay_cache (key, domain, state, expires) VALUES ($1, $2, 0, $4::bigint)"
	                 " ON CONFLICT (key) DO UPDATE SET"
	                 " state = CASE WHEN replay_cache.expires < $3::bigint THEN 0 ELSE replay_cache.state END,"
	                 " expires = CASE WHEN replay_cache.expires < $3::bigint THEN EXCLUDED.expires"
	                 "  ELSE greatest(replay_cache.expires, EXCLUDED.expires) END"
	                 " RETURNING state",
	                 4, params, PGRES_TUPLES_OK, &res));
	MCX_ENSURE(PQntuples(res) == 1, MCX_ERR_INTERNAL);
	*state = atoi(PQgetvalue(res, 0, 0));
	r = MCX_OK;
out:
	PQclear(res);
	return r;
}

static void replay_key_hex(const uint8_t key[32], char out[65])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < 32; i++) {
		out[2 * i] = digits[key[i] >> 4];
		out[2 * i + 1] = digits[key[i] & 15];
	}
	out[64] = '\0';
}

static int replay_set(struct pg_store *s, const char *key, int state)
{
	char st[8];
	const char *params[2] = { key, st };

	snprintf(st, sizeof(st), "%d", state);
	return pg_run(s, &s->conn, "replay update", "UPDATE replay_cache SET state=$2::integer WHERE key=$1", 2, params,
	              PGRES_COMMAND_OK, NULL);
}

static int pg_replay_claim(struct mcx_store *base, const char *domain, size_t quota, const uint8_t key[32],
                           int64_t expires, int hold, int64_t now, int *previous, int *now_state)
{
	struct pg_store *s = (struct pg_store *)base;
	int r = MCX_ERR_INTERNAL, in_tx = 0, state = 0;
	char hex[65];

	replay_key_hex(key, hex);
	pthread_mutex_lock(&s->lock);
	MCX_GUARD(pg_ready(s, &s->conn, "request"));
	MCX_GUARD(pg_run(s, &s->conn, "replay", "BEGIN", 0, NULL, PGRES_COMMAND_OK, NULL));
	in_tx = 1;
	MCX_GUARD(replay_slot(s, domain, quota, hex, expires, now, &state));
	*previous = state;
	*now_state = mcx_store_replay_next(state, hold);
	if (*now_state != state)
		MCX_GUARD(replay_set(s, hex, *now_state));
	MCX_GUARD(pg_run(s, &s->conn, "replay commit", "COMMIT", 0, NULL, PGRES_COMMAND_OK, NULL));
	in_tx = 0;
	r = MCX_OK;
out:
	if (in_tx)
		pg_rollback(s, &s->conn);
	pthread_mutex_unlock(&s->lock);
	return r;
}

static int pg_replay_accept(struct mcx_store *base, const char *domain, size_t quota, const uint8_t key[32],
                            int64_t expires, int64_t now)
{
	struct pg_store *s = (struct pg_store *)base;
	int r = MCX_ERR_INTERNAL, in_tx = 0, state = 0;
	char hex[65];

	replay_key_hex(key, hex);
	pthread_mutex_lock(&s->lock);
	MCX_GUARD(pg_ready(s, &s->conn, "request"));
	MCX_GUARD(pg_run(s, &s->conn, "replay", "BEGIN", 0, NULL, PGRES_COMMAND_OK, NULL));
	in_tx = 1;
	MCX_GUARD(replay_slot(s, domain, quota, hex, expires, now, &state));
	MCX_ENSURE(state != 3, MCX_ERR_EXISTS);
	MCX_GUARD(replay_set(s, hex, 2));
	MCX_GUARD(pg_run(s, &s->conn, "replay commit", "COMMIT", 0, NULL, PGRES_COMMAND_OK, NULL));
	in_tx = 0;
	r = MCX_OK;
out:
	if (in_tx)
		pg_rollback(s, &s->conn);
	pthread_mutex_unlock(&s->lock);
	return r;
}

static int pg_replay_peek(struct mcx_store *base, const uint8_t key[32], int64_t now, int *state)
{
	struct pg_store *s = (struct pg_store *)base;
	int r = MCX_ERR_INTERNAL;
	PGresult *res = NULL;
	char hex[65], n[24];
	const char *params[2] = { hex, n };

	replay_key_hex(key, hex);
	snprintf(n, sizeof(n), "%" PRId64, now);
	pthread_mutex_lock(&s->lock);
	MCX_GUARD(pg_ready(s, &s->conn, "request"));
	MCX_GUARD(pg_run(s, &s->conn, "replay peek", "SELECT state FROM replay_cache WHERE key=$1 AND expires >= $2::bigint",
	                 2, params, PGRES_TUPLES_OK, &res));
	*state = PQntuples(res) == 1 ? atoi(PQgetvalue(res, 0, 0)) : 0;
	r = MCX_OK;
out:
	PQclear(res);
	pthread_mutex_unlock(&s->lock);
	return r;
}

static const struct mcx_store_ops pg_ops = {
	.kind = "postgresql",
	.shared = 1,
	.close = pg_close,
	.reachable = pg_reachable,
	.following = pg_following,
	.gms_add = pg_gms_add,
	.gms_get = pg_gms_get,
	.gms_expire = pg_gms_expire,
	.gms_revoke = pg_gms_revoke,
	.gms_list = pg_gms_list,
	.replay_peek = pg_replay_peek,
	.replay_claim = pg_replay_claim,
	.replay_accept = pg_replay_accept,
	.keys_lock = pg_keys_lock,
	.keys_unlock = pg_keys_unlock,
	.keys_observed = pg_keys_observed,
};
