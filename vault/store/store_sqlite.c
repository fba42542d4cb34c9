/*
 * The SQLite backend of the state store (store.h): the embedded default for
 * one host.  Holds the GMS keys only; the replay cache stays in memory
 * (redirect.c) and there is no other vault to tell about key changes.
 *
 *   gms_keys(domain, owner, purpose, version, key_id, state, created,
 *            superseded, destroyed, sealed)
 *
 * One connection behind one mutex: GMS work is crypto-bound, the store sees
 * a handful of statements per request.  journal_mode=WAL, synchronous=FULL
 * (a committed create/rekey/revoke survives a power cut), secure_delete=ON
 * (a deleted blob is overwritten in the file), and after a revocation the
 * WAL is checkpointed and truncated so no old page with the blob survives in
 * it.  The blobs are sealed under the token KEK anyway (gms.h).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "vault/daemon/log.h"
#include "vault/store/store_internal.h"

#define GMS_SEALED_MAX 256
#define GMS_KEY_ID_DRAWS 8

struct sqlite_store {
	struct mcx_store base;
	pthread_mutex_t lock;
	sqlite3 *db;
	char *path;
};

static void sqlite_close(struct mcx_store *base);
static const struct mcx_store_ops sqlite_ops;

static int store_fail(struct sqlite_store *store, const char *what)
{
	vault_error("gms store %s: %s: %s", store->path, what, sqlite3_errmsg(store->db));
	return MCX_ERR_SYSTEM;
}

static int store_exec(struct sqlite_store *store, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(store->db, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK) {
		vault_error("gms store %s: %s: %s", store->path, sql, msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return MCX_ERR_SYSTEM;
	}
	return MCX_OK;
}

MCX_RESULT mcx_store_sqlite_open(const char *path, struct mcx_store **out)
{
	int r = MCX_ERR_INTERNAL;
	struct sqlite_store *store = NULL;
	sqlite3_stmt *st = NULL;

	MCX_ENSURE_REF(path);
	MCX_ENSURE_ALLOC(store = calloc(1, sizeof(*store)));
	store->base.ops = &sqlite_ops;
	pthread_mutex_init(&store->lock, NULL);
	MCX_ENSURE_ALLOC(store->path = strdup(path));
	/* a symlink planted at the store's path would redirect wrapped group keys
	 * (and the -wal/-shm files) wherever its owner likes: refused, as the
	 * PIN file and the audit log are opened O_NOFOLLOW */
	if (sqlite3_open_v2(path, &store->db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_NOFOLLOW,
	                    NULL) != SQLITE_OK) {
		vault_error("cannot open gms.store '%s': %s", path,
		            store->db ? sqlite3_errmsg(store->db) : "out of memory");
		MCX_BAIL(MCX_ERR_SYSTEM);
	}
	sqlite3_busy_timeout(store->db, 5000);
	/* journal_mode answers with a row: check that WAL was really chosen */
	MCX_ENSURE(sqlite3_prepare_v2(store->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) == SQLITE_OK,
	           store_fail(store, "journal_mode"));
	MCX_ENSURE(sqlite3_step(st) == SQLITE_ROW &&
	                   strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0,
	           store_fail(store, "journal_mode=WAL refused"));
	MCX_GUARD(store_exec(store, "PRAGMA synchronous=FULL; PRAGMA secure_delete=ON; PRAGMA foreign_keys=ON;"
	                            "CREATE TABLE IF NOT EXISTS gms_keys ("
	                            " domain TEXT NOT NULL, owner TEXT NOT NULL, purpose INTEGER NOT NULL,"
	                            " version INTEGER NOT NULL, key_id INTEGER NOT NULL, state TEXT NOT NULL,"
	                            " created INTEGER NOT NULL, superseded INTEGER NOT NULL DEFAULT 0,"
	                            " destroyed INTEGER NOT NULL DEFAULT 0, sealed BLOB,"
	                            " PRIMARY KEY (domain, owner, purpose, version),"
	                            " UNIQUE (domain, owner, purpose, key_id));"
	                            "CREATE INDEX IF NOT EXISTS gms_keys_state ON gms_keys (domain, state);"));
	*out = &store->base;
	store = NULL;
	r = MCX_OK;
out:
	sqlite3_finalize(st);
	sqlite_close(store != NULL ? &store->base : NULL);
	return r;
}

static void sqlite_close(struct mcx_store *base)
{
	struct sqlite_store *store = (struct sqlite_store *)base;

	if (store == NULL)
		return;
	if (store->db != NULL)
		sqlite3_close(store->db);
	pthread_mutex_destroy(&store->lock);
	free(store->path);
	free(store);
}

static void key_from_row(sqlite3_stmt *st, int first, struct gms_key *k)
{
	memset(k, 0, sizeof(*k));
	k->purpose = (unsigned)sqlite3_column_int(st, first);
	k->version = (uint32_t)sqlite3_column_int64(st, first + 1);
	k->key_id = (uint32_t)sqlite3_column_int64(st, first + 2);
	k->state = mcx_store_gms_state_parse((const char *)sqlite3_column_text(st, first + 3));
	k->created = sqlite3_column_int64(st, first + 4);
	k->superseded = sqlite3_column_int64(st, first + 5);
	k->destroyed = sqlite3_column_int64(st, first + 6);
}

#define KEY_COLUMNS "purpose, version, key_id, state, created, superseded, destroyed"

static int bind_owner(sqlite3_stmt *st, const char *domain, const char *owner, unsigned purpose)
{
	if (sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int(st, 3, (int)purpose) != SQLITE_OK)
		return MCX_ERR_SYSTEM;
	return MCX_OK;
}

/* Called with the lock held, inside a transaction. */
static int store_key_id_used(struct sqlite_store *store, const char *domain, const char *owner, unsigned purpose,
                             uint32_t key_id, int *used)
{
	int r = MCX_ERR_INTERNAL;
	sqlite3_stmt *st = NULL;

	MCX_ENSURE(sqlite3_prepare_v2(store->db,
	                              "SELECT 1 FROM gms_keys WHERE domain=?1 AND owner=?2 AND purpose=?3 AND key_id=?4",
	                              -1, &st, NULL) == SQLITE_OK,
	           store_fail(store, "prepare"));
	MCX_GUARD(bind_owner(st, domain, owner, purpose));
	MCX_ENSURE(sqlite3_bind_int64(st, 4, key_id) == SQLITE_OK, MCX_ERR_SYSTEM);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW: *used = 1; break;
	case SQLITE_DONE: *used = 0; break;
	default: MCX_BAIL(store_fail(store, "select key id"));
	}
	r = MCX_OK;
out:
	sqlite3_finalize(st);
	return r;
}

static int sqlite_gms_add(struct mcx_store *base, const char *domain, const char *owner, unsigned purpose,
                         int rekey, int64_t now, gms_store_make_fn make, void *ctx, struct gms_key *created)
{
	struct sqlite_store *store = (struct sqlite_store *)base;
	int r = MCX_ERR_INTERNAL, in_tx = 0, used = 1, locked = 0;
	sqlite3_stmt *st = NULL;
	struct mcx_buf *sealed = NULL;
	uint32_t version = 1, key_id = 0;
	int64_t rows = 0;

	MCX_ENSURE_ALLOC(sealed = mcx_buf_new(GMS_SEALED_MAX));
	pthread_mutex_lock(&store->lock);
	locked = 1;
	MCX_GUARD(store_exec(store, "BEGIN IMMEDIATE"));
	in_tx = 1;
	MCX_ENSURE(sqlite3_prepare_v2(store->db,
	                              "SELECT count(*), coalesce(max(version), 0) FROM gms_keys"
	                              " WHERE domain=?1 AND owner=?2 AND purpose=?3",
	                              -1, &st, NULL) == SQLITE_OK,
	           store_fail(store, "prepare"));
	MCX_GUARD(bind_owner(st, domain, owner, purpose));
	MCX_ENSURE(sqlite3_step(st) == SQLITE_ROW, store_fail(store, "select versions"));
	rows = sqlite3_column_int64(st, 0);
	version = (uint32_t)sqlite3_column_int64(st, 1) + 1;
	sqlite3_finalize(st);
	st = NULL;
	MCX_ENSURE(rekey || rows == 0, MCX_ERR_EXISTS);
	MCX_ENSURE(!rekey || rows > 0, MCX_ERR_NOT_FOUND);
	MCX_ENSURE(version > 0 && version < INT32_MAX, MCX_ERR_KEY_STATE);
	if (rekey)
		mcx_store_test_delay();

	for (int draw = 0; used && draw < GMS_KEY_ID_DRAWS; draw++) {
		mcx_buf_reset(sealed);
		MCX_GUARD(make(ctx, version, &key_id, sealed));
		MCX_GUARD(store_key_id_used(store, domain, owner, purpose, key_id, &used));
	}
	MCX_ENSURE(!used, MCX_ERR_INTERNAL);

	if (rekey) {
		MCX_ENSURE(sqlite3_prepare_v2(store->db,
		                              "UPDATE gms_keys SET state='previous', superseded=?4"
		                              " WHERE domain=?1 AND owner=?2 AND purpose=?3 AND state='current'",
		                              -1, &st, NULL) == SQLITE_OK,
		           store_fail(store, "prepare"));
		MCX_GUARD(bind_owner(st, domain, owner, purpose));
		MCX_ENSURE(sqlite3_bind_int64(st, 4, now) == SQLITE_OK, MCX_ERR_SYSTEM);
		MCX_ENSURE(sqlite3_step(st) == SQLITE_DONE, store_fail(store, "supersede"));
		sqlite3_finalize(st);
		st = NULL;
	}
	MCX_ENSURE(sqlite3_prepare_v2(store->db,
	                              "INSERT INTO gms_keys (domain, owner, purpose, version, key_id, state, created,"
	                              " sealed) VALUES (?1, ?2, ?3, ?4, ?5, 'current', ?6, ?7)",
	                              -1, &st, NULL) == SQLITE_OK,
	           store_fail(store, "prepare"));
	MCX_GUARD(bind_owner(st, domain, owner, purpose));
	MCX_ENSURE(sqlite3_bind_int64(st, 4, version) == SQLITE_OK && sqlite3_bind_int64(st, 5, key_id) == SQLITE_OK &&
	                   sqlite3_bind_int64(st, 6, now) == SQLITE_OK &&
	                   sqlite3_bind_blob(st, 7, mcx_buf_ptr(sealed), (int)mcx_buf_len(sealed), SQLITE_STATIC) ==
	                           SQLITE_OK,
	           MCX_ERR_SYSTEM);
	MCX_ENSURE(sqlite3_step(st) == SQLITE_DONE, store_fail(store, "insert"));
	sqlite3_finalize(st);
	st = NULL;
	MCX_GUARD(store_exec(store, "COMMIT"));
	in_tx = 0;
	memset(created, 0, sizeof(*created));
	created->purpose = purpose;
	created->version = version;
	created->key_id = key_id;
	created->state = GMS_STATE_CURRENT;
	created->created = now;
	r = MCX_OK;
out:
	sqlite3_finalize(st);
	if (in_tx && store_exec(store, "ROLLBACK") != MCX_OK)
		vault_error("gms store %s: rollback failed", store->path);
	if (locked)
		pthread_mutex_unlock(&store->lock);
	mcx_buf_free(sealed);
	return r;
}

static int sqlite_gms_get(struct mcx_store *base, const char *domain, const char *owner, unsigned purpose,
                         uint32_t key_id, struct gms_key *meta, struct mcx_buf *sealed)
{
	struct sqlite_store *store = (struct sqlite_store *)base;
	int r = MCX_ERR_INTERNAL, rc;
	sqlite3_stmt *st = NULL;
	const char *sql = key_id == 0
	                          ? "SELECT " KEY_COLUMNS ", sealed FROM gms_keys WHERE domain=?1 AND owner=?2"
	                            " AND purpose=?3 ORDER BY (state='current') DESC, version DESC LIMIT 1"
	                          : "SELECT " KEY_COLUMNS ", sealed FROM gms_keys WHERE domain=?1 AND owner=?2"
	                            " AND purpose=?3 AND key_id=?4";

	pthread_mutex_lock(&store->lock);
	MCX_ENSURE(sqlite3_prepare_v2(store->db, sql, -1, &st, NULL) == SQLITE_OK, store_fail(store, "prepare"));
	MCX_GUARD(bind_owner(st, domain, owner, purpose));
	if (key_id != 0)
		MCX_ENSURE(sqlite3_bind_int64(st, 4, key_id) == SQLITE_OK, MCX_ERR_SYSTEM);
	rc = sqlite3_step(st);
	MCX_ENSURE(rc == SQLITE_ROW || rc == SQLITE_DONE, store_fail(store, "select key"));
	MCX_ENSURE(rc == SQLITE_ROW, MCX_ERR_NOT_FOUND);
	key_from_row(st, 0, meta);
	MCX_ENSURE(meta->state != GMS_STATE_REVOKED, MCX_ERR_REVOKED);
	MCX_ENSURE(meta->state != GMS_STATE_EXPIRED, MCX_ERR_EXPIRED);
	/* without key_id the newest row is current unless every version is gone */
	MCX_ENSURE(key_id != 0 || meta->state == GMS_STATE_CURRENT, MCX_ERR_KEY_STATE);
	MCX_ENSURE(sqlite3_column_type(st, 7) == SQLITE_BLOB, MCX_ERR_KEY_STATE);
	MCX_GUARD(mcx_buf_put(sealed, sqlite3_column_blob(st, 7), (size_t)sqlite3_column_bytes(st, 7)));
	r = MCX_OK;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&store->lock);
	return r;
}

static int sqlite_gms_expire(struct mcx_store *base, const char *domain, int64_t cutoff)
{
	struct sqlite_store *store = (struct sqlite_store *)base;
	int r = MCX_ERR_INTERNAL;
	sqlite3_stmt *st = NULL;

	pthread_mutex_lock(&store->lock);
	MCX_ENSURE(sqlite3_prepare_v2(store->db,
	                              "UPDATE gms_keys SET state='expired', sealed=NULL, destroyed=?2"
	                              " WHERE domain=?1 AND state='previous' AND superseded<=?2",
	                              -1, &st, NULL) == SQLITE_OK,
	           store_fail(store, "prepare"));
	MCX_ENSURE(sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC) == SQLITE_OK &&
	                   sqlite3_bind_int64(st, 2, cutoff) == SQLITE_OK,
	           MCX_ERR_SYSTEM);
	MCX_ENSURE(sqlite3_step(st) == SQLITE_DONE, store_fail(store, "expire"));
	if (sqlite3_changes(store->db) > 0)
		vault_info("gms: %d superseded key(s) of %s past their overlap destroyed", sqlite3_changes(store->db),
		           domain);
	r = MCX_OK;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&store->lock);
	return r;
}

static int sqlite_gms_revoke(struct mcx_store *base, const char *domain, const char *owner, unsigned purpose,
                            uint32_t key_id, int64_t now, unsigned *count)
{
	struct sqlite_store *store = (struct sqlite_store *)base;
	int r = MCX_ERR_INTERNAL, rc;
	sqlite3_stmt *st = NULL;
	int64_t rows = 0;

	*count = 0;
	pthread_mutex_lock(&store->lock);
	MCX_ENSURE(sqlite3_prepare_v2(store->db,
	                              "SELECT count(*) FROM gms_keys WHERE domain=?1 AND owner=?2 AND purpose=?3"
	                              " AND (?4=0 OR key_id=?4)",
	                              -1, &st, NULL) == SQLITE_OK,
	           store_fail(store, "prepare"));
	MCX_GUARD(bind_owner(st, domain, owner, purpose));
	MCX_ENSURE(sqlite3_bind_int64(st, 4, key_id) == SQLITE_OK, MCX_ERR_SYSTEM);
	MCX_ENSURE(sqlite3_step(st) == SQLITE_ROW, store_fail(store, "count"));
	rows = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	MCX_ENSURE(rows > 0, MCX_ERR_NOT_FOUND);
	MCX_ENSURE(sqlite3_prepare_v2(store->db,
	                              "UPDATE gms_keys SET state='revoked', sealed=NULL, destroyed=?5"
	                              " WHERE domain=?1 AND owner=?2 AND purpose=?3 AND (?4=0 OR key_id=?4)"
	                              " AND state<>'revoked'",
	                              -1, &st, NULL) == SQLITE_OK,
	           store_fail(store, "prepare"));
	MCX_GUARD(bind_owner(st, domain, owner, purpose));
	MCX_ENSURE(sqlite3_bind_int64(st, 4, key_id) == SQLITE_OK && sqlite3_bind_int64(st, 5, now) == SQLITE_OK,
	           MCX_ERR_SYSTEM);
	rc = sqlite3_step(st);
	MCX_ENSURE(rc == SQLITE_DONE, store_fail(store, "revoke"));
	*count = (unsigned)sqlite3_changes(store->db);
	sqlite3_finalize(st);
	st = NULL;
	/* no old page image with the blob may survive in the WAL */
	rc = sqlite3_wal_checkpoint_v2(store->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	if (rc != SQLITE_OK)
		vault_warning("gms store %s: WAL checkpoint after revoke: %s", store->path, sqlite3_errstr(rc));
	r = MCX_OK;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&store->lock);
	return r;
}

static int sqlite_gms_list(struct mcx_store *base, const char *domain, int servers, const char *owner, int purpose,
                           const char *after, unsigned limit, gms_store_row_fn fn, void *ctx, int *more)
{
	struct sqlite_store *store = (struct sqlite_store *)base;
	int r = MCX_ERR_INTERNAL, rc;
	sqlite3_stmt *st = NULL;
	struct gms_key k;
	const char *owner_now;
	char *last = NULL;
	unsigned owners = 0;

	pthread_mutex_lock(&store->lock);
	/* a page is whole owners: limit + 1 owners after ?5 (the extra one only
	 * says that more follow; -1 is no limit), in BINARY collation — bytewise,
	 * like the PostgreSQL backend's COLLATE "C" */
	MCX_ENSURE(sqlite3_prepare_v2(store->db,
	                              "SELECT owner, " KEY_COLUMNS " FROM gms_keys WHERE domain=?1"
	                              " AND (CASE WHEN ?2 THEN purpose<>0 ELSE purpose=0 END)"
	                              " AND (?3 IS NULL OR owner=?3) AND (?4<0 OR purpose=?4)"
	                              " AND owner IN (SELECT DISTINCT owner FROM gms_keys WHERE domain=?1"
	                              "  AND (CASE WHEN ?2 THEN purpose<>0 ELSE purpose=0 END)"
	                              "  AND (?5 IS NULL OR owner>?5) ORDER BY owner LIMIT ?6)"
	                              " ORDER BY owner, purpose, version",
	                              -1, &st, NULL) == SQLITE_OK,
	           store_fail(store, "prepare"));
	MCX_ENSURE(sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC) == SQLITE_OK &&
	                   sqlite3_bind_int(st, 2, servers != 0) == SQLITE_OK &&
	                   (owner != NULL ? sqlite3_bind_text(st, 3, owner, -1, SQLITE_STATIC) : sqlite3_bind_null(st, 3)) ==
	                           SQLITE_OK &&
	                   sqlite3_bind_int(st, 4, purpose) == SQLITE_OK &&
	                   (after != NULL ? sqlite3_bind_text(st, 5, after, -1, SQLITE_STATIC) : sqlite3_bind_null(st, 5)) ==
	                           SQLITE_OK &&
	                   sqlite3_bind_int64(st, 6, limit > 0 ? (sqlite3_int64)limit + 1 : -1) == SQLITE_OK,
	           MCX_ERR_SYSTEM);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		owner_now = (const char *)sqlite3_column_text(st, 0);
		MCX_ENSURE(owner_now != NULL, store_fail(store, "list"));
		if (last == NULL || strcmp(last, owner_now) != 0) {
			if (limit > 0 && owners == limit) {
				*more = 1;
				break;
			}
			owners++;
			free(last);
			MCX_ENSURE_ALLOC(last = strdup(owner_now));
		}
		key_from_row(st, 1, &k);
		k.owner = owner_now;
		MCX_GUARD(fn(ctx, &k));
	}
	MCX_ENSURE(rc == SQLITE_DONE || rc == SQLITE_ROW, store_fail(store, "list"));
	r = MCX_OK;
out:
	free(last);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&store->lock);
	return r;
}

static int sqlite_reachable(const struct mcx_store *base)
{
	return 1;
}

static const struct mcx_store_ops sqlite_ops = {
	.kind = "sqlite",
	.shared = 0,
	.close = sqlite_close,
	.reachable = sqlite_reachable,
	.gms_add = sqlite_gms_add,
	.gms_get = sqlite_gms_get,
	.gms_expire = sqlite_gms_expire,
	.gms_revoke = sqlite_gms_revoke,
	.gms_list = sqlite_gms_list,
};
