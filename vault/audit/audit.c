/*
 * The audit log (see audit.h for the design).
 * SPDX-License-Identifier: Apache-2.0
 */
#include "vault/audit/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "mcx/buf.h"
#include "mcx/util.h"
#include "pkcs11/hsm.h"
#include "vault/daemon/config.h"
#include "vault/daemon/log.h"

#define AUDIT_LINE_MAX (64u * 1024u)
#define AUDIT_ANCHOR_STALE_MAX 4

struct audit_log {
	struct hsm *hsm;
	char *path;
	int fd;                       /* -1 until audit_begin when the file does not exist yet */
	off_t good_size;              /* file size after the last complete line */
	pthread_mutex_t lock;         /* the chain: seq, head, writes */
	uint64_t seq;
	uint8_t head[32];             /* SHA-256 of the last line */
	uint64_t sealed_seq;          /* last seq covered by a checkpoint */
	int64_t window_from;          /* time of the first unsealed record */
	int healthy;                  /* the last write succeeded */
	int sealing;                  /* the last checkpoint MAC succeeded */
	uint64_t seal_failed_generation; /* hsm_generation() when it failed */
	int64_t seal_retry_at;        /* after a failed MAC: not before this time */
	uint64_t failures;
	uint64_t seal_failures;
	unsigned batch;
	unsigned interval;
	long group;
	hsm_handle_t mac_key;
	char node[65];                /* "node" of every record; "" without one */
	char anchor_label[HSM_LABEL_MAX + 1];   /* AUDIT_ANCHOR_LABEL, or …/<node> with several vaults */
	/* the last checkpoint written (under lock): what the anchor should name */
	uint64_t checkpoint_seq;
	uint8_t checkpoint_hash[32];
	/* the anchor in the token (under anchor_lock) */
	pthread_mutex_t anchor_lock;
	hsm_handle_t anchor;
	hsm_handle_t anchor_stale[AUDIT_ANCHOR_STALE_MAX]; /* duplicates a crash inside an update left */
	size_t anchor_stale_count;
	uint64_t anchor_seq;
	uint8_t anchor_hash[32];
	int64_t anchor_time;
	/* what audit_open found, for audit_begin */
	int torn_tail;
	int last_was_stop;
	int break_accepted;
	char break_reason[384];
	int begun;
	pthread_t checkpointer;
	int checkpointer_started;
	int stopping;
	pthread_cond_t wake;
};

static void hex32(const uint8_t in[32], char out[65])
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < 32; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[64] = '\0';
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

MCX_RESULT audit_checkpoint_input(uint64_t seq, const char *prev_hex, uint64_t first_seq, uint64_t last_seq,
                                  int64_t from, int64_t to, uint8_t out[AUDIT_MAC_INPUT_LEN])
{
	int r = MCX_ERR_INTERNAL;
	struct mcx_buf *prev = NULL;

	MCX_ENSURE(prev_hex != NULL && strlen(prev_hex) == 64, MCX_ERR_PARSE);
	MCX_ENSURE_ALLOC(prev = mcx_buf_new(32));
	MCX_GUARD(mcx_hex_decode(prev, prev_hex, 64));
	memcpy(out, "MCXAUDIT", 8);
	put_be64(out + 8, seq);
	memcpy(out + 16, mcx_buf_ptr(prev), 32);
	put_be64(out + 48, first_seq);
	put_be64(out + 56, last_seq);
	put_be64(out + 64, (uint64_t)from);
	put_be64(out + 72, (uint64_t)to);
	r = MCX_OK;
out:
	mcx_buf_free(prev);
	return r;
}

/* Writes one complete line or nothing: a short write is cut back off. */
static int audit_write_line(struct audit_log *log, const char *line, size_t len)
{
	size_t done = 0;

	if (log->fd < 0)
		return MCX_ERR_AUDIT_UNAVAILABLE;
	/* Test seam: a read-only file system cannot be staged under a running
	 * vaultd (remount refuses while the file is open for writing), so the
	 * tests make writes fail with EROFS while this file exists. */
	{
		const char *seam = getenv("MCXVAULT_TEST_AUDIT_READONLY");
		if (seam != NULL && access(seam, F_OK) == 0) {
			errno = EROFS;
			if (log->healthy)
				vault_error("audit: cannot write %s: %s: refusing audited requests until it can", log->path,
				            strerror(errno));
			log->healthy = 0;
			log->failures++;
			return MCX_ERR_AUDIT_UNAVAILABLE;
		}
	}
	while (done < len) {
		ssize_t n = write(log->fd, line + done, len - done);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (done > 0 && ftruncate(log->fd, log->good_size) != 0)
			vault_error("audit: cannot cut a partial record off %s: %s", log->path, strerror(errno));
		if (log->healthy)
			vault_error("audit: cannot write %s: %s: refusing audited requests until it can",
			            log->path, n < 0 ? strerror(errno) : "short write");
		log->healthy = 0;
		log->failures++;
		return MCX_ERR_AUDIT_UNAVAILABLE;
	}
	log->good_size += (off_t)len;
	if (!log->healthy)
		vault_info("audit: %s is writable again", log->path);
	log->healthy = 1;
	return MCX_OK;
}

/* Appends the chain fields to a serialised record body ("{...", without its
 * closing brace), writes the line, advances the chain.  The caller holds
 * log->lock: only this short step is serialised, the JSON of the body is
 * built before. */
static int audit_emit_body(struct audit_log *log, const char *body, size_t body_len, int64_t now)
{
	int r = MCX_ERR_INTERNAL;
	char prev[65], when[21], tail[256], node[80] = "";
	struct mcx_buf *line = NULL;
	int n;

	hex32(log->head, prev);
	mcx_time_format(now, when);
	/* which vault wrote it: with several vaults their logs are verified
	 * together, each chain by its node (keys stay sorted: node < prev) */
	if (log->node[0] != '\0')
		snprintf(node, sizeof(node), "\"node\":\"%s\",", log->node);
	n = snprintf(tail, sizeof(tail), "%s%s\"prev\":\"%s\",\"seq\":%" PRIu64 ",\"time\":\"%s\"}",
	             body_len > 1 ? "," : "", node, prev, log->seq + 1, when);
	MCX_ENSURE(n > 0 && (size_t)n < sizeof(tail), MCX_ERR_INTERNAL);
	MCX_ENSURE(body_len + (size_t)n + 1 < AUDIT_LINE_MAX, MCX_ERR_NO_BUFFER_SPACE);
	MCX_ENSURE_ALLOC(line = mcx_buf_new(body_len + (size_t)n + 1));
	MCX_GUARD(mcx_buf_put(line, body, body_len));
	MCX_GUARD(mcx_buf_put(line, tail, (size_t)n));
	MCX_GUARD(mcx_buf_put_u8(line, '\n'));
	MCX_GUARD(audit_write_line(log, (const char *)mcx_buf_ptr(line), mcx_buf_len(line)));
	/* written: the chain head is this line (without its newline) */
	SHA256(mcx_buf_ptr(line), mcx_buf_len(line) - 1, log->head);
	log->seq++;
	if (log->window_from == 0)
		log->window_from = now;
	r = MCX_OK;
out:
	mcx_buf_free(line);
	return r;
}

/* Serialises record ("{" ... without the closing brace) for audit_emit_body. */
static char *audit_body(json_t *record, size_t *len)
{
	char *text = json_dumps(record, JSON_COMPACT | JSON_SORT_KEYS);

	if (text == NULL)
		return NULL;
	*len = strlen(text);
	if (*len < 2 || text[*len - 1] != '}') {
		free(text);
		return NULL;
	}
	text[--(*len)] = '\0';   /* drop "}": the chain fields close the object */
	return text;
}

/* Writes a record built under the lock (start, stop, checkpoints). */
static int audit_emit(struct audit_log *log, json_t *record, int64_t now)
{
	int r = MCX_ERR_INTERNAL;
	size_t len = 0;
	char *body = audit_body(record, &len);

	MCX_ENSURE_ALLOC(body);
	MCX_GUARD(audit_emit_body(log, body, len, now));
	r = MCX_OK;
out:
	free(body);
	return r;
}

/* HMAC with the token's audit key.  After the token was re-initialised
 * (it went away and came back) the key has a new handle: the old one is
 * stale, and the key is looked up again by label, once.  The checkpointer
 * and audit.check_checkpoint requests share the handle, hence the atomics. */
static int audit_hmac(struct audit_log *log, const uint8_t *input, size_t len, uint8_t mac[32])
{
	hsm_handle_t key = __atomic_load_n(&log->mac_key, __ATOMIC_ACQUIRE);
	int r = hsm_hmac_sha256(log->hsm, key, input, len, mac);

	if (r == MCX_ERR_HSM_STALE_HANDLE &&
	    (r = hsm_find_by_label(log->hsm, HSM_CLASS_SECRET_KEY, AUDIT_MAC_KEY_LABEL, &key)) == MCX_OK) {
		__atomic_store_n(&log->mac_key, key, __ATOMIC_RELEASE);
		r = hsm_hmac_sha256(log->hsm, key, input, len, mac);
	}
	return r;
}

/* Test seam: the HSM cannot be made to fail one HMAC on demand under a
 * running vaultd, so while the file named by MCXVAULT_TEST_AUDIT_MAC_FAIL
 * exists the checkpoint MAC fails as if the token were gone. */
static int audit_mac(struct audit_log *log, const uint8_t *input, size_t len, uint8_t mac[32])
{
	const char *seam = getenv("MCXVAULT_TEST_AUDIT_MAC_FAIL");

	if (seam != NULL && access(seam, F_OK) == 0)
		return MCX_ERR_HSM_UNAVAILABLE;
	return audit_hmac(log, input, len, mac);
}

/* Seals everything written so far; the caller holds log->lock.  A MAC the
 * HSM cannot compute is not silent: the log turns unhealthy and audited
 * requests are refused until a checkpoint succeeds again. */
static int audit_checkpoint_locked(struct audit_log *log, const char *kind)
{
	int r = MCX_ERR_INTERNAL;
	uint8_t input[AUDIT_MAC_INPUT_LEN], mac[32];
	char prev[65], mac_hex[65];
	json_t *record = NULL;
	int64_t now = mcx_time_now(), from = log->window_from ? log->window_from : now;
	uint64_t first = log->sealed_seq + 1, last = log->seq;

	hex32(log->head, prev);
	MCX_GUARD(audit_checkpoint_input(log->seq + 1, prev, first, last, from, now, input));
	r = audit_mac(log, input, sizeof(input), mac);
	if (r != MCX_OK) {
		if (log->sealing)
			vault_error("audit: the HSM cannot seal %s (%s): refusing audited requests until a checkpoint succeeds",
			            log->path, mcx_strerror(r));
		log->sealing = 0;
		log->seal_failures++;
		log->seal_retry_at = now + log->interval;
		log->seal_failed_generation = hsm_generation(log->hsm);
		MCX_BAIL(r);
	}
	hex32(mac, mac_hex);
	MCX_ENSURE_ALLOC(record = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:s}", "type", "checkpoint", "kind",
	                                    kind, "first_seq", (json_int_t)first, "last_seq", (json_int_t)last,
	                                    "from", (json_int_t)from, "to", (json_int_t)now, "mac_key",
	                                    AUDIT_MAC_KEY_LABEL, "mac", mac_hex));
	MCX_GUARD(audit_emit(log, record, now));
	if (!log->sealing)
		vault_info("audit: %s is sealed again (checkpoint %" PRIu64 ")", log->path, log->seq);
	log->sealing = 1;
	log->sealed_seq = log->seq;
	log->window_from = 0;
	log->checkpoint_seq = log->seq;
	memcpy(log->checkpoint_hash, log->head, 32);
	r = MCX_OK;
out:
	json_decref(record);
	return r;
}

/* --- the anchor in the token ------------------------------------------------- */

static int anchor_encode(uint64_t seq, const uint8_t hash[32], int64_t when, char *out, size_t cap)
{
	char hex[65];
	int n;

	hex32(hash, hex);
	n = snprintf(out, cap, "{\"hash\":\"%s\",\"seq\":%" PRIu64 ",\"time\":%lld}", hex, seq, (long long)when);
	return n > 0 && (size_t)n < cap ? MCX_OK : MCX_ERR_INTERNAL;
}

static int anchor_decode(const uint8_t *value, size_t len, uint64_t *seq, uint8_t hash[32], int64_t *when)
{
	int r = MCX_ERR_PARSE;
	json_t *root = json_loadb((const char *)value, len, 0, NULL);
	json_int_t s = 0, t = 0;
	const char *h = NULL;
	struct mcx_buf *raw = NULL;

	if (root == NULL || json_unpack(root, "{s:s, s:I, s:I}", "hash", &h, "seq", &s, "time", &t) != 0 || s <= 0 ||
	    strlen(h) != 64 || (raw = mcx_buf_new(32)) == NULL || mcx_hex_decode(raw, h, 64) != MCX_OK)
		goto out;
	*seq = (uint64_t)s;
	memcpy(hash, mcx_buf_ptr(raw), 32);
	*when = t;
	r = MCX_OK;
out:
	mcx_buf_free(raw);
	json_decref(root);
	return r;
}

struct anchor_peek {
	const char *label;
	uint64_t seq;
	uint8_t hash[32];
	int64_t when;
};

/* hsm_object_fn of audit_anchor_of: the highest readable anchor of a label. */
static int anchor_peek_visit(void *context, const struct hsm_object *object)
{
	struct anchor_peek *p = context;
	uint64_t seq = 0;
	uint8_t hash[32];
	int64_t when = 0;

	if (object->object_class == HSM_CLASS_DATA && strcmp(object->label, p->label) == 0 &&
	    anchor_decode(object->value, object->value_len, &seq, hash, &when) == MCX_OK && seq > p->seq) {
		p->seq = seq;
		memcpy(p->hash, hash, 32);
		p->when = when;
	}
	return MCX_OK;
}

MCX_RESULT audit_anchor_of(struct audit_log *log, const char *node, struct audit_status *status)
{
	int r = MCX_ERR_INTERNAL;
	char label[HSM_LABEL_MAX + 1];
	struct anchor_peek p;

	memset(status, 0, sizeof(*status));
	memset(&p, 0, sizeof(p));
	MCX_ENSURE(node != NULL && *node != '\0' && strlen(node) <= 64 && strchr(node, '/') == NULL,
	           MCX_ERR_INVALID_ARGUMENT);
	snprintf(label, sizeof(label), "%s/%s", AUDIT_ANCHOR_LABEL, node);
	p.label = label;
	/* the exact label: the prefix walk also meets longer node names */
	MCX_GUARD(hsm_objects_walk(log->hsm, label, anchor_peek_visit, &p));
	status->anchor_seq = p.seq;
	if (p.seq > 0)
		hex32(p.hash, status->anchor_hash);
	status->anchor_time = p.when;
	snprintf(status->node, sizeof(status->node), "%s", node);
	snprintf(status->anchor_label, sizeof(status->anchor_label), "%s", label);
	r = MCX_OK;
out:
	return r;
}

/* hsm_object_fn: keeps the anchor with the highest seq; the others are
 * duplicates from a crash between create and destroy inside an update. */
static int anchor_visit(void *context, const struct hsm_object *object)
{
	struct audit_log *log = context;
	uint64_t seq = 0;
	uint8_t hash[32];
	int64_t when = 0;
	hsm_handle_t loser;

	if (object->object_class != HSM_CLASS_DATA || strcmp(object->label, log->anchor_label) != 0)
		return MCX_OK;
	if (anchor_decode(object->value, object->value_len, &seq, hash, &when) != MCX_OK) {
		vault_error("audit: the HSM audit anchor cannot be read: treating it as a broken history");
		snprintf(log->break_reason, sizeof(log->break_reason),
		         "the HSM audit anchor is unreadable (changed outside vaultd)");
		loser = object->handle;
	} else if (seq > log->anchor_seq) {
		loser = log->anchor;
		log->anchor = object->handle;
		log->anchor_seq = seq;
		memcpy(log->anchor_hash, hash, 32);
		log->anchor_time = when;
	} else {
		loser = object->handle;
	}
	if (loser != HSM_HANDLE_INVALID && log->anchor_stale_count < AUDIT_ANCHOR_STALE_MAX)
		log->anchor_stale[log->anchor_stale_count++] = loser;
	return MCX_OK;
}

/* Names the checkpoint (seq, hash) in the token.  Called after the
 * checkpoint line is on disk (fdatasync), so the anchor is never ahead of
 * the log.  Unless force, at most once per checkpoint interval: an update
 * replaces a token object (SoftHSM cannot change CKA_VALUE in place), which
 * costs milliseconds and the object lock. */
static int audit_anchor_store(struct audit_log *log, uint64_t seq, const uint8_t hash[32], int force)
{
	int r = MCX_ERR_INTERNAL;
	char value[160];
	int64_t now = mcx_time_now();

	pthread_mutex_lock(&log->anchor_lock);
	if (seq == 0 || seq <= log->anchor_seq ||
	    (!force && now - log->anchor_time < (int64_t)log->interval && now >= log->anchor_time)) {
		r = MCX_OK;
		goto out;
	}
	MCX_GUARD(anchor_encode(seq, hash, now, value, sizeof(value)));
	if (log->anchor != HSM_HANDLE_INVALID) {
		r = hsm_data_set_value(log->hsm, log->anchor, value, strlen(value), &log->anchor);
		if (r == MCX_ERR_HSM_STALE_HANDLE)   /* the token was re-inserted: find it again, once */
			r = hsm_find_by_label(log->hsm, HSM_CLASS_DATA, log->anchor_label, &log->anchor) == MCX_OK
			            ? hsm_data_set_value(log->hsm, log->anchor, value, strlen(value), &log->anchor)
			            : MCX_ERR_HSM_STALE_HANDLE;
		MCX_GUARD(r);
	} else {
		MCX_GUARD(hsm_data_create(log->hsm, log->anchor_label, value, strlen(value), &log->anchor));
	}
	log->anchor_seq = seq;
	memcpy(log->anchor_hash, hash, 32);
	log->anchor_time = now;
	while (log->anchor_stale_count > 0)
		if (hsm_object_destroy(log->hsm, log->anchor_stale[--log->anchor_stale_count]) != MCX_OK)
			vault_warning("audit: cannot remove a superseded anchor object from the token");
	r = MCX_OK;
out:
	if (r != MCX_OK)
		vault_error("audit: cannot update the anchor of %s in the token: %s", log->path, mcx_strerror(r));
	pthread_mutex_unlock(&log->anchor_lock);
	return r;
}

/* Anchors the last checkpoint written; the caller does not hold log->lock. */
static int audit_anchor_latest(struct audit_log *log, int force)
{
	uint64_t seq;
	uint8_t hash[32];

	pthread_mutex_lock(&log->lock);
	seq = log->checkpoint_seq;
	memcpy(hash, log->checkpoint_hash, 32);
	pthread_mutex_unlock(&log->lock);
	return audit_anchor_store(log, seq, hash, force);
}

static int audit_open_file(struct audit_log *log);
static int audit_note(struct audit_log *log, const char *type);

/* The path no longer names the file we write (deleted or replaced): records
 * would go to an inode nobody can read.  Continue the chain in a new file at
 * the path; the caller holds log->lock. */
static void audit_check_file(struct audit_log *log)
{
	struct stat by_fd, by_path;
	int old = log->fd;

	if (old < 0 || fstat(old, &by_fd) != 0)
		return;
	if (by_fd.st_nlink > 0 && stat(log->path, &by_path) == 0 && by_path.st_ino == by_fd.st_ino &&
	    by_path.st_dev == by_fd.st_dev)
		return;
	vault_error("audit: %s was removed or replaced behind vaultd's back: continuing the chain in a new file",
	            log->path);
	if (audit_open_file(log) != MCX_OK) {
		log->fd = old;
		return;
	}
	close(old);
	log->good_size = fstat(log->fd, &by_fd) == 0 ? by_fd.st_size : 0;
	if (audit_note(log, "file-replaced") != MCX_OK)
		vault_error("audit: cannot write to the new %s", log->path);
}

static void *audit_checkpointer(void *arg)
{
	struct audit_log *log = arg;
	struct timespec deadline;

	pthread_mutex_lock(&log->lock);
	while (!log->stopping) {
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += log->interval;
		pthread_cond_timedwait(&log->wake, &log->lock, &deadline);
		if (log->stopping)
			break;
		audit_check_file(log);
		if (log->seq != log->sealed_seq && (log->sealing || mcx_time_now() >= log->seal_retry_at) &&
		    audit_checkpoint_locked(log, "periodic") == MCX_OK) {
			int fd = log->fd;
			/* flush and anchor outside the lock: requests keep appending meanwhile */
			pthread_mutex_unlock(&log->lock);
			if (fd >= 0 && fdatasync(fd) != 0)
				vault_error("audit: fdatasync %s: %s", log->path, strerror(errno));
			else
				if (audit_anchor_latest(log, 0) != MCX_OK) { /* logged; tried again at the next checkpoint */ }
			pthread_mutex_lock(&log->lock);
		} else if (log->checkpoint_seq > log->anchor_seq) {
			/* idle after a checkpoint the rate limit did not anchor */
			pthread_mutex_unlock(&log->lock);
			if (audit_anchor_latest(log, 0) != MCX_OK) { /* logged; tried again at the next checkpoint */ }
			pthread_mutex_lock(&log->lock);
		}
	}
	pthread_mutex_unlock(&log->lock);
	return NULL;
}

/* --- start: read the log, check it against the anchor ---------------------- */

struct scan_line {
	uint64_t seq;
	uint8_t hash[32];
	char prev[65];
	int is_stop;
};

/* Parses the complete lines of text[0..len) (each ends in '\n'). */
static int scan_lines(char *text, size_t len, struct scan_line **lines, size_t *count)
{
	int r = MCX_ERR_INTERNAL;
	size_t cap = 0, n = 0;
	struct scan_line *v = NULL, *grown;
	char *p = text, *end = text + len;
	json_t *record = NULL;

	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		json_t *jseq, *jprev, *jtype, *jkind;
		MCX_ENSURE(nl != NULL, MCX_ERR_INTERNAL);
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			MCX_ENSURE_ALLOC(grown = realloc(v, cap * sizeof(*v)));
			v = grown;
		}
		json_decref(record);
		record = json_loadb(p, (size_t)(nl - p), 0, NULL);
		jseq = json_object_get(record, "seq");
		jprev = json_object_get(record, "prev");
		memset(&v[n], 0, sizeof(v[n]));
		if (json_is_integer(jseq) && json_integer_value(jseq) > 0)
			v[n].seq = (uint64_t)json_integer_value(jseq);
		if (json_is_string(jprev) && json_string_length(jprev) == 64)
			memcpy(v[n].prev, json_string_value(jprev), 65);
		jtype = json_object_get(record, "type");
		jkind = json_object_get(record, "kind");
		v[n].is_stop = json_is_string(jtype) && strcmp(json_string_value(jtype), "checkpoint") == 0 &&
		               json_is_string(jkind) && strcmp(json_string_value(jkind), "stop") == 0;
		SHA256((const uint8_t *)p, (size_t)(nl - p), v[n].hash);
		n++;
		p = nl + 1;
	}
	*lines = v;
	*count = n;
	v = NULL;
	r = MCX_OK;
out:
	json_decref(record);
	free(v);
	return r;
}

#define audit_break(log, ...) snprintf((log)->break_reason, sizeof((log)->break_reason), __VA_ARGS__)

/* Reads the end of the log (back to the anchored checkpoint), sets the chain
 * state, and names in log->break_reason anything the anchor contradicts.
 * Reads only: a torn last line is noted here and cut off in audit_begin. */
static int audit_scan(struct audit_log *log)
{
	int r = MCX_ERR_INTERNAL;
	struct stat st;
	size_t window = 4 * AUDIT_LINE_MAX, want = 0, count = 0, first = 0, found = SIZE_MAX;
	off_t start = 0;
	char *text = NULL, *cut;
	struct scan_line *lines = NULL;
	char hex[65];

	if (log->fd < 0 || (fstat(log->fd, &st) == 0 && st.st_size == 0)) {
		log->good_size = 0;
		if (log->anchor_seq > 0)
			audit_break(log, "%s is %s, but the HSM anchor seals record %" PRIu64 ": the log was deleted",
			            log->path, log->fd < 0 ? "missing" : "empty", log->anchor_seq);
		return MCX_OK;
	}
	MCX_ENSURE(fstat(log->fd, &st) == 0, MCX_ERR_SYSTEM);
	for (;;) {
		free(text);
		free(lines);
		text = NULL;
		lines = NULL;
		want = (size_t)st.st_size < window ? (size_t)st.st_size : window;
		start = st.st_size - (off_t)want;
		MCX_ENSURE_ALLOC(text = malloc(want + 1));
		MCX_ENSURE(pread(log->fd, text, want, start) == (ssize_t)want, MCX_ERR_SYSTEM);
		text[want] = '\0';
		cut = memrchr(text, '\n', want);
		first = 0;
		if (start > 0) {
			char *nl = memchr(text, '\n', want);
			first = nl != NULL ? (size_t)(nl - text) + 1 : want;
		}
		if (cut != NULL && (size_t)(cut - text) + 1 > first)
			MCX_GUARD(scan_lines(text + first, (size_t)(cut - text) + 1 - first, &lines, &count));
		else
			count = 0;
		/* enough: the window starts at the file's start, or reaches back to the anchor */
		if (start == 0 || (count > 0 && (log->anchor_seq == 0 || lines[0].seq <= log->anchor_seq)))
			break;
		window *= 4;
	}
	log->good_size = cut != NULL ? start + (cut - text) + 1 : start;
	log->torn_tail = log->good_size != st.st_size;
	if (count == 0) {
		if (log->anchor_seq > 0)
			audit_break(log, "%s holds no complete record, but the HSM anchor seals record %" PRIu64,
			            log->path, log->anchor_seq);
		r = MCX_OK;
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		if (lines[i].seq == 0) {
			audit_break(log, "a line of %s near record %" PRIu64 " is not an audit record: the log was changed",
			            log->path, i > 0 ? lines[i - 1].seq + 1 : 0);
			break;
		}
		if (i > 0) {
			hex32(lines[i - 1].hash, hex);
			if (lines[i].seq != lines[i - 1].seq + 1 || strcmp(lines[i].prev, hex) != 0) {
				audit_break(log, "record %" PRIu64 " of %s does not follow record %" PRIu64
				            ": records were changed, removed or reordered",
				            lines[i].seq, log->path, lines[i - 1].seq);
				break;
			}
		}
		if (lines[i].seq == log->anchor_seq)
			found = i;
	}
	if (log->break_reason[0] == '\0' && log->anchor_seq > 0) {
		hex32(log->anchor_hash, hex);
		if (found != SIZE_MAX) {
			if (memcmp(lines[found].hash, log->anchor_hash, 32) != 0)
				audit_break(log, "record %" PRIu64 " of %s is not the checkpoint the HSM anchor sealed: "
				            "the log was rewritten or replaced", log->anchor_seq, log->path);
		} else if (lines[count - 1].seq < log->anchor_seq) {
			audit_break(log, "%s ends at record %" PRIu64 ", but the HSM anchor seals record %" PRIu64
			            ": the log was truncated", log->path, lines[count - 1].seq, log->anchor_seq);
		} else if (!(start == 0 && lines[0].seq == log->anchor_seq + 1 && strcmp(lines[0].prev, hex) == 0)) {
			/* not the file that follows a rotation either */
			audit_break(log, "%s begins at record %" PRIu64 " and does not continue the anchored checkpoint %" PRIu64
			            ": the log was replaced", log->path, lines[0].seq, log->anchor_seq);
		}
	}
	log->seq = lines[count - 1].seq;
	memcpy(log->head, lines[count - 1].hash, 32);
	log->sealed_seq = log->seq;   /* what is on disk from before is sealed or lost to us */
	log->checkpoint_seq = 0;
	log->last_was_stop = lines[count - 1].is_stop;
	r = MCX_OK;
out:
	free(lines);
	free(text);
	return r;
}

/* Opens the log for appending (and reading, for the scan); created 0640
 * whatever the umask, for an auditor group (audit.group). */
static int audit_open_file(struct audit_log *log)
{
	struct stat st;

	log->fd = open(log->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (log->fd < 0) {
		vault_error("audit: cannot open %s: %s", log->path, strerror(errno));
		return MCX_ERR_AUDIT_UNAVAILABLE;
	}
	if (fstat(log->fd, &st) == 0 && st.st_size == 0) {
		if (fchmod(log->fd, 0640) != 0)
			vault_warning("audit: chmod 0640 %s: %s", log->path, strerror(errno));
		if (log->group >= 0 && fchown(log->fd, (uid_t)-1, (gid_t)log->group) != 0)
			vault_warning("audit: chgrp %ld %s: %s", log->group, log->path, strerror(errno));
	}
	return MCX_OK;
}

static int audit_note(struct audit_log *log, const char *type)
{
	int r = MCX_ERR_INTERNAL;
	json_t *record = json_pack("{s:s, s:s, s:i}", "type", type, "version", MCXVAULT_VERSION, "pid", (int)getpid());

	MCX_ENSURE_ALLOC(record);
	MCX_GUARD(audit_emit(log, record, mcx_time_now()));
	r = MCX_OK;
out:
	json_decref(record);
	return r;
}

MCX_RESULT audit_open(struct hsm *hsm, const struct audit_options *options, struct audit_log **out)
{
	int r = MCX_ERR_INTERNAL;
	struct audit_log *log = NULL;

	*out = NULL;
	MCX_ENSURE_ALLOC(log = calloc(1, sizeof(*log)));
	log->fd = -1;
	log->hsm = hsm;
	log->batch = options->batch > 0 ? options->batch : 64;
	log->interval = options->interval_seconds > 0 ? options->interval_seconds : 1;
	log->group = options->group;
	log->healthy = 1;
	log->sealing = 1;
	if (options->node_id != NULL)
		snprintf(log->node, sizeof(log->node), "%s", options->node_id);
	if (options->node_anchor && log->node[0] != '\0')
		snprintf(log->anchor_label, sizeof(log->anchor_label), "%s/%s", AUDIT_ANCHOR_LABEL, log->node);
	else
		snprintf(log->anchor_label, sizeof(log->anchor_label), "%s", AUDIT_ANCHOR_LABEL);
	{
		/* the chain step is a few microseconds: spin briefly on contention
		 * instead of a futex sleep and wake-up, which cost more here */
		pthread_mutexattr_t attr;
		pthread_mutexattr_init(&attr);
		pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
		pthread_mutex_init(&log->lock, &attr);
		pthread_mutexattr_destroy(&attr);
	}
	pthread_mutex_init(&log->anchor_lock, NULL);
	pthread_cond_init(&log->wake, NULL);
	MCX_ENSURE_ALLOC(log->path = strdup(options->path));
	r = hsm_find_by_label(hsm, HSM_CLASS_SECRET_KEY, AUDIT_MAC_KEY_LABEL, &log->mac_key);
	if (r == MCX_ERR_NOT_FOUND) {
		vault_info("creating the audit MAC key %s in the token", AUDIT_MAC_KEY_LABEL);
		MCX_GUARD(hsm_hmac_generate(hsm, AUDIT_MAC_KEY_LABEL, &log->mac_key));
		MCX_GUARD(hsm_sync(hsm));
	} else {
		MCX_GUARD(r);
	}
	MCX_GUARD(hsm_objects_walk(hsm, log->anchor_label, anchor_visit, log));
	log->fd = open(log->path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (log->fd < 0 && errno != ENOENT) {
		vault_error("audit: cannot open %s: %s", log->path, strerror(errno));
		MCX_BAIL(MCX_ERR_AUDIT_UNAVAILABLE);
	}
	r = audit_scan(log);
	if (r != MCX_OK) {
		vault_error("audit: cannot read %s (%s)", log->path, mcx_strerror(r));
		goto out;
	}
	if (log->break_reason[0] != '\0') {
		if (!options->accept_break) {
			vault_error("audit: %s. vaultd does not start over a broken audit history: put the log back as "
			            "it was, or start once with --accept-audit-break to continue anyway (the break is "
			            "recorded in the log)", log->break_reason);
			MCX_BAIL(MCX_ERR_SIGNATURE_INVALID);
		}
		vault_warning("audit: %s; accepted by --accept-audit-break: it is recorded in the log", log->break_reason);
		log->break_accepted = 1;
	}
	*out = log;
	log = NULL;
	r = MCX_OK;
out:
	audit_close(log);
	return r;
}

MCX_RESULT audit_begin(struct audit_log *log)
{
	int r = MCX_ERR_INTERNAL;
	json_t *record = NULL;
	char anchor_hex[65];

	pthread_mutex_lock(&log->lock);
	if (log->fd < 0)
		MCX_GUARD(audit_open_file(log));
	if (log->torn_tail) {
		/* a torn last line (power loss mid-write): cut it off, and say so */
		vault_warning("audit: %s ends in a partial record: removing it", log->path);
		MCX_ENSURE(ftruncate(log->fd, log->good_size) == 0, MCX_ERR_SYSTEM);
	}
	if (log->break_accepted) {
		hex32(log->anchor_hash, anchor_hex);
		MCX_ENSURE_ALLOC(record = json_pack("{s:s, s:s, s:I, s:s, s:I, s:s, s:i}", "type", "audit-break", "reason",
		                                    log->break_reason, "anchor_seq", (json_int_t)log->anchor_seq,
		                                    "anchor_hash", anchor_hex, "found_seq", (json_int_t)log->seq,
		                                    "accepted_by", "vaultd --accept-audit-break", "uid", (int)getuid()));
		MCX_GUARD(audit_emit(log, record, mcx_time_now()));
		/* the anchor moves to the new history below, whatever its seq */
		pthread_mutex_lock(&log->anchor_lock);
		log->anchor_seq = 0;
		pthread_mutex_unlock(&log->anchor_lock);
	}
	json_decref(record);
	MCX_ENSURE_ALLOC(record = json_pack("{s:s, s:s, s:i, s:s}", "type", "start", "version", MCXVAULT_VERSION, "pid",
	                                    (int)getpid(), "previous",
	                                    log->seq == 0 ? "new-log" : log->last_was_stop ? "clean-stop" : "no-stop-record"));
	MCX_GUARD(audit_emit(log, record, mcx_time_now()));
	MCX_GUARD(audit_checkpoint_locked(log, "start"));
	MCX_ENSURE(fdatasync(log->fd) == 0, MCX_ERR_AUDIT_UNAVAILABLE);
	pthread_mutex_unlock(&log->lock);
	r = audit_anchor_latest(log, 1);
	pthread_mutex_lock(&log->lock);
	MCX_GUARD(r);
	MCX_ENSURE(pthread_create(&log->checkpointer, NULL, audit_checkpointer, log) == 0, MCX_ERR_SYSTEM);
	log->checkpointer_started = 1;
	log->begun = 1;
	vault_info("audit log %s: continuing at record %" PRIu64 ", anchored in the token", log->path, log->seq);
	r = MCX_OK;
out:
	pthread_mutex_unlock(&log->lock);
	json_decref(record);
	return r;
}

void audit_close(struct audit_log *log)
{
	if (log == NULL)
		return;
	pthread_mutex_lock(&log->lock);
	log->stopping = 1;
	pthread_cond_signal(&log->wake);
	pthread_mutex_unlock(&log->lock);
	if (log->checkpointer_started)
		pthread_join(log->checkpointer, NULL);
	if (log->fd >= 0 && log->begun) {
		int sealed;
		pthread_mutex_lock(&log->lock);
		sealed = audit_note(log, "stop") == MCX_OK && audit_checkpoint_locked(log, "stop") == MCX_OK;
		pthread_mutex_unlock(&log->lock);
		if (!sealed)
			vault_error("audit: could not seal %s at shutdown", log->path);
		if (fdatasync(log->fd) != 0)
			vault_error("audit: fdatasync %s: %s", log->path, strerror(errno));
		else if (sealed)
			if (audit_anchor_latest(log, 1) != MCX_OK) { /* logged */ }
	}
	if (log->fd >= 0)
		close(log->fd);
	pthread_mutex_destroy(&log->lock);
	pthread_mutex_destroy(&log->anchor_lock);
	pthread_cond_destroy(&log->wake);
	free(log->path);
	free(log);
}

/* Appends s as a JSON string: quotes, backslashes and control characters
 * escaped (RFC 8259 section 7); the text is valid UTF-8 already (it came
 * through the JSON-RPC parser or from our own tables). */
static int audit_put_string(struct mcx_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	int r = MCX_ERR_INTERNAL;

	MCX_GUARD(mcx_buf_put_u8(b, '"'));
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			MCX_GUARD(mcx_buf_put_u8(b, '\\'));
			MCX_GUARD(mcx_buf_put_u8(b, c));
		} else if (c < 0x20) {
			char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			MCX_GUARD(mcx_buf_put(b, esc, sizeof(esc)));
		} else {
			MCX_GUARD(mcx_buf_put_u8(b, c));
		}
	}
	MCX_GUARD(mcx_buf_put_u8(b, '"'));
	r = MCX_OK;
out:
	return r;
}

/*
 * The record of a call or of an intent, formatted straight into a bounded
 * buffer: this runs for every audited request, so no JSON tree is built.
 * Keys in sorted order (caller, count, domain, error, external_kms, intent,
 * key, method, outcome, params, subject, type); audit_emit_body then adds
 * prev, seq and time.
 */
static int audit_record_body(const struct audit_event *ev, const char *type, struct mcx_buf *b)
{
	int r = MCX_ERR_INTERNAL, first = 1, is_intent = strcmp(type, "intent") == 0;

	MCX_GUARD(mcx_buf_putf(b, "{\"caller\":{\"pid\":%ld,\"roles\":[", (long)ev->pid));
	for (unsigned bit = 1; bit <= VAULT_ROLE_AUDITOR; bit <<= 1)
		if (ev->roles & bit) {
			MCX_GUARD(mcx_buf_putf(b, "%s\"%s\"", first ? "" : ",", vault_role_name(bit)));
			first = 0;
		}
	MCX_GUARD(mcx_buf_putf(b, "],\"uid\":%lu}", (unsigned long)ev->uid));
	if (ev->count > 1)
		MCX_GUARD(mcx_buf_putf(b, ",\"count\":%llu", (unsigned long long)ev->count));
	if (ev->domain != NULL) {
		MCX_GUARD(mcx_buf_put(b, ",\"domain\":", 10));
		MCX_GUARD(audit_put_string(b, ev->domain));
	}
	if (ev->error != 0 && !is_intent)
		MCX_GUARD(mcx_buf_putf(b, ",\"error\":{\"code\":%d,\"name\":\"%s\"}", mcx_error_rpc_code(ev->error),
		                       mcx_error_name(ev->error)));
	if (ev->external_count > 0 && !is_intent) {
		MCX_GUARD(mcx_buf_put(b, ",\"external_kms\":[", 17));
		for (size_t i = 0; i < ev->external_count && i < AUDIT_EXTERNAL_MAX; i++) {
			if (i > 0)
				MCX_GUARD(mcx_buf_put_u8(b, ','));
			MCX_GUARD(audit_put_string(b, ev->external_kms[i]));
		}
		MCX_GUARD(mcx_buf_put_u8(b, ']'));
	}
	if (ev->intent != 0 && !is_intent)
		MCX_GUARD(mcx_buf_putf(b, ",\"intent\":%llu", (unsigned long long)ev->intent));
	if (ev->key_purpose != NULL && !is_intent) {
		MCX_GUARD(mcx_buf_put(b, ",\"key\":{\"purpose\":", 18));
		MCX_GUARD(audit_put_string(b, ev->key_purpose));
		MCX_GUARD(mcx_buf_putf(b, ",\"version\":%lu}", (unsigned long)ev->key_version));
	}
	MCX_GUARD(mcx_buf_put(b, ",\"method\":", 10));
	MCX_GUARD(audit_put_string(b, ev->method));
	if (!is_intent)
		MCX_GUARD(mcx_buf_putf(b, ",\"outcome\":\"%s\"", ev->error == 0 ? "ok" : "error"));
	if (is_intent) {
		MCX_GUARD(mcx_buf_put(b, ",\"params\":{", 11));
		for (size_t i = 0; i < ev->param_count && i < AUDIT_PARAMS_MAX; i++) {
			if (i > 0)
				MCX_GUARD(mcx_buf_put_u8(b, ','));
			MCX_GUARD(audit_put_string(b, ev->param_names[i]));
			MCX_GUARD(mcx_buf_put_u8(b, ':'));
			if (ev->param_strings[i] != NULL)
				MCX_GUARD(audit_put_string(b, ev->param_strings[i]));
			else
				MCX_GUARD(mcx_buf_putf(b, "%lld", ev->param_ints[i]));
		}
		MCX_GUARD(mcx_buf_put_u8(b, '}'));
	}
	if (ev->subject != NULL && !is_intent) {
		MCX_GUARD(mcx_buf_put(b, ",\"subject\":", 11));
		MCX_GUARD(audit_put_string(b, ev->subject));
	}
	MCX_GUARD(mcx_buf_putf(b, ",\"type\":\"%s\"", type));
	r = MCX_OK;
out:
	return r;
}

/* Formats and chains one record; *seq (if not NULL) receives its number. */
static int audit_record(struct audit_log *log, const struct audit_event *ev, const char *type, uint64_t *seq,
                        int *fd)
{
	int r = MCX_ERR_INTERNAL;
	struct mcx_buf *body = NULL;

	MCX_ENSURE_ALLOC(body = mcx_buf_new(AUDIT_LINE_MAX));
	MCX_GUARD(audit_record_body(ev, type, body));
	/* only the chain step is serialised */
	pthread_mutex_lock(&log->lock);
	r = audit_emit_body(log, (const char *)mcx_buf_ptr(body), mcx_buf_len(body), mcx_time_now());
	if (r == MCX_OK && log->seq - log->sealed_seq >= log->batch)
		pthread_cond_signal(&log->wake);
	if (seq != NULL)
		*seq = log->seq;
	if (fd != NULL)
		*fd = log->fd;
	pthread_mutex_unlock(&log->lock);
out:
	if (r != MCX_OK && r != MCX_ERR_AUDIT_UNAVAILABLE)
		r = MCX_ERR_AUDIT_UNAVAILABLE;
	mcx_buf_free(body);
	return r;
}

MCX_RESULT audit_append(struct audit_log *log, const struct audit_event *ev)
{
	return audit_record(log, ev, "call", NULL, NULL);
}

MCX_RESULT audit_intent(struct audit_log *log, const struct audit_event *ev, uint64_t *seq)
{
	int r = MCX_ERR_INTERNAL, fd = -1;

	MCX_GUARD(audit_record(log, ev, "intent", seq, &fd));
	/* durable before the change is made, not only written */
	if (fd < 0 || fdatasync(fd) != 0) {
		vault_error("audit: fdatasync %s: %s: the change is not made", log->path, strerror(errno));
		MCX_BAIL(MCX_ERR_AUDIT_UNAVAILABLE);
	}
	r = MCX_OK;
out:
	return r;
}

MCX_RESULT audit_reopen(struct audit_log *log)
{
	int r = MCX_ERR_INTERNAL, old, sealed = 0;

	pthread_mutex_lock(&log->lock);
	if (log->fd >= 0) {
		sealed = audit_checkpoint_locked(log, "rotate") == MCX_OK;
		if (!sealed)
			vault_warning("audit: could not seal %s before reopening", log->path);
	}
	old = log->fd;
	if (old >= 0 && fdatasync(old) != 0) {
		vault_error("audit: fdatasync %s: %s", log->path, strerror(errno));
		sealed = 0;
	}
	r = audit_open_file(log);
	if (r == MCX_OK) {
		struct stat st;
		log->good_size = fstat(log->fd, &st) == 0 ? st.st_size : 0;
		if (old >= 0)
			close(old);
		/* the chain goes on in the new file: its first record's prev is the old head */
		r = audit_note(log, "reopen");
	} else {
		log->fd = old;   /* keep writing where we were */
	}
	pthread_mutex_unlock(&log->lock);
	/* the anchor names the old file's last checkpoint, which the new file continues */
	if (sealed)
		if (audit_anchor_latest(log, 1) != MCX_OK) { /* logged */ }
	return r;
}

void audit_status_get(struct audit_log *log, struct audit_status *status)
{
	memset(status, 0, sizeof(*status));
	pthread_mutex_lock(&log->lock);
	snprintf(status->path, sizeof(status->path), "%s", log->path);
	status->seq = log->seq;
	status->sealed_seq = log->sealed_seq;
	hex32(log->head, status->head);
	status->writable = log->healthy;
	status->sealing = log->sealing;
	status->healthy = log->healthy && log->sealing;
	status->failures = log->failures;
	status->seal_failures = log->seal_failures;
	pthread_mutex_unlock(&log->lock);
	pthread_mutex_lock(&log->anchor_lock);
	status->anchor_seq = log->anchor_seq;
	hex32(log->anchor_hash, status->anchor_hash);
	status->anchor_time = log->anchor_time;
	pthread_mutex_unlock(&log->anchor_lock);
	snprintf(status->node, sizeof(status->node), "%s", log->node);
	snprintf(status->anchor_label, sizeof(status->anchor_label), "%s", log->anchor_label);
}

int audit_writable(struct audit_log *log)
{
	struct statvfs vfs;
	int healthy, sealing, fd;
	const char *seam = getenv("MCXVAULT_TEST_AUDIT_READONLY");

	if (seam != NULL && access(seam, F_OK) == 0) {
		/* as a write would have failed: the log says unhealthy too */
		pthread_mutex_lock(&log->lock);
		if (log->healthy)
			vault_error("audit: cannot write %s: %s: refusing audited requests until it can", log->path,
			            strerror(EROFS));
		log->healthy = 0;
		pthread_mutex_unlock(&log->lock);
		return 0;
	}

	pthread_mutex_lock(&log->lock);
	healthy = log->healthy;
	sealing = log->sealing;
	fd = log->fd;
	if (!sealing && hsm_generation(log->hsm) != log->seal_failed_generation && log->begun) {
		/* the token came back (re-initialised) since the seal failed:
		 * seal now, so the first request after the return is served */
		sealing = audit_checkpoint_locked(log, "periodic") == MCX_OK;
	} else if (!sealing && mcx_time_now() >= log->seal_retry_at) {
		pthread_cond_signal(&log->wake);   /* the checkpointer tries again now */
	}
	pthread_mutex_unlock(&log->lock);
	if (!sealing)
		return 0;
	if (healthy)
		return 1;
	if (fd < 0 || fstatvfs(fd, &vfs) != 0)
		return 0;
	return !(vfs.f_flag & ST_RDONLY) && vfs.f_bavail > 0;
}

MCX_RESULT audit_checkpoint_check(struct audit_log *log, uint64_t seq, const char *prev_hex, uint64_t first_seq,
                                  uint64_t last_seq, int64_t from, int64_t to, const char *mac_hex)
{
	int r = MCX_ERR_INTERNAL;
	uint8_t input[AUDIT_MAC_INPUT_LEN], mac[32];
	struct mcx_buf *given = NULL;

	MCX_GUARD(audit_checkpoint_input(seq, prev_hex, first_seq, last_seq, from, to, input));
	MCX_ENSURE_ALLOC(given = mcx_buf_new(32));
	MCX_ENSURE(mac_hex != NULL && strlen(mac_hex) == 64 && mcx_hex_decode(given, mac_hex, 64) == MCX_OK,
	           MCX_ERR_PARSE);
	MCX_GUARD(audit_hmac(log, input, sizeof(input), mac));
	r = mcx_memcmp_consttime(mac, mcx_buf_ptr(given), 32) == 0 ? MCX_OK : MCX_ERR_SIGNATURE_INVALID;
out:
	mcx_buf_free(given);
	return r;
}
