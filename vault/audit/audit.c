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

struct audit_log {
	struct hsm *hsm;
	char *path;
	int fd;
	off_t good_size;              /* file size after the last complete line */
	pthread_mutex_t lock;         /* the chain: seq, head, writes */
	uint64_t seq;
	uint8_t head[32];             /* SHA-256 of the last line */
	uint64_t sealed_seq;          /* last seq covered by a checkpoint */
	int64_t window_from;          /* time of the first unsealed record */
	int healthy;
	uint64_t failures;
	unsigned batch;
	unsigned interval;
	hsm_handle_t mac_key;
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
	char prev[65], when[21], tail[160];
	struct mcx_buf *line = NULL;
	int n;

	hex32(log->head, prev);
	mcx_time_format(now, when);
	n = snprintf(tail, sizeof(tail), "%s\"prev\":\"%s\",\"seq\":%" PRIu64 ",\"time\":\"%s\"}", body_len > 1 ? "," : "",
	             prev, log->seq + 1, when);
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

/* Seals everything written so far; the caller holds log->lock. */
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
	MCX_GUARD(hsm_hmac_sha256(log->hsm, log->mac_key, input, sizeof(input), mac));
	hex32(mac, mac_hex);
	MCX_ENSURE_ALLOC(record = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:s}", "type", "checkpoint", "kind",
	                                    kind, "first_seq", (json_int_t)first, "last_seq", (json_int_t)last,
	                                    "from", (json_int_t)from, "to", (json_int_t)now, "mac_key",
	                                    AUDIT_MAC_KEY_LABEL, "mac", mac_hex));
	MCX_GUARD(audit_emit(log, record, now));
	log->sealed_seq = log->seq;
	log->window_from = 0;
	r = MCX_OK;
out:
	json_decref(record);
	return r;
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
		if (!log->stopping)
			audit_check_file(log);
		if (log->stopping || log->seq == log->sealed_seq)
			continue;
		if (audit_checkpoint_locked(log, "periodic") == MCX_OK) {
			int fd = log->fd;
			/* flush outside the lock: requests keep appending meanwhile */
			pthread_mutex_unlock(&log->lock);
			if (fd >= 0 && fdatasync(fd) != 0)
				vault_error("audit: fdatasync %s: %s", log->path, strerror(errno));
			pthread_mutex_lock(&log->lock);
		}
	}
	pthread_mutex_unlock(&log->lock);
	return NULL;
}

/* Continues the chain from the last complete line of an existing file. */
static int audit_resume(struct audit_log *log)
{
	int r = MCX_ERR_INTERNAL;
	struct stat st;
	off_t size, start;
	char *tail = NULL, *line, *end;
	ssize_t n;
	json_t *record = NULL, *seq;
	size_t want;

	MCX_ENSURE(fstat(log->fd, &st) == 0, MCX_ERR_SYSTEM);
	size = st.st_size;
	log->good_size = size;
	if (size == 0)
		return MCX_OK;
	want = size > (off_t)AUDIT_LINE_MAX ? AUDIT_LINE_MAX : (size_t)size;
	start = size - (off_t)want;
	MCX_ENSURE_ALLOC(tail = malloc(want + 1));
	MCX_ENSURE((n = pread(log->fd, tail, want, start)) == (ssize_t)want, MCX_ERR_SYSTEM);
	tail[want] = '\0';
	if (tail[want - 1] != '\n') {
		/* a torn last line (power loss mid-write): cut it off, and say so */
		end = strrchr(tail, '\n');
		log->good_size = end != NULL ? start + (end - tail) + 1 : start;
		vault_warning("audit: %s ends in a partial record: removing it", log->path);
		MCX_ENSURE(ftruncate(log->fd, log->good_size) == 0, MCX_ERR_SYSTEM);
		if (end == NULL)
			MCX_BAIL(MCX_ERR_PARSE);
		end[1] = '\0';
		want = (size_t)(end - tail) + 1;
	}
	tail[want - 1] = '\0';
	line = strrchr(tail, '\n');
	line = line != NULL ? line + 1 : tail;
	MCX_ENSURE((record = json_loads(line, 0, NULL)) != NULL, MCX_ERR_PARSE);
	MCX_ENSURE(json_is_integer(seq = json_object_get(record, "seq")), MCX_ERR_PARSE);
	log->seq = (uint64_t)json_integer_value(seq);
	SHA256((const uint8_t *)line, strlen(line), log->head);
	log->sealed_seq = log->seq;   /* what is on disk from before is sealed or lost to us */
	r = MCX_OK;
out:
	if (r != MCX_OK)
		vault_error("audit: cannot continue the chain of %s (%s): move the file away to start a new one",
		            log->path, mcx_strerror(r));
	json_decref(record);
	free(tail);
	return r;
}

static int audit_open_file(struct audit_log *log)
{
	log->fd = open(log->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (log->fd < 0) {
		vault_error("audit: cannot open %s: %s", log->path, strerror(errno));
		return MCX_ERR_AUDIT_UNAVAILABLE;
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

MCX_RESULT audit_open(struct hsm *hsm, const char *path, unsigned batch, unsigned interval_seconds,
                      struct audit_log **out)
{
	int r = MCX_ERR_INTERNAL;
	struct audit_log *log = NULL;

	*out = NULL;
	MCX_ENSURE_ALLOC(log = calloc(1, sizeof(*log)));
	log->fd = -1;
	log->hsm = hsm;
	log->batch = batch > 0 ? batch : 64;
	log->interval = interval_seconds > 0 ? interval_seconds : 1;
	log->healthy = 1;
	{
		/* the chain step is a few microseconds: spin briefly on contention
		 * instead of a futex sleep and wake-up, which cost more here */
		pthread_mutexattr_t attr;
		pthread_mutexattr_init(&attr);
		pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
		pthread_mutex_init(&log->lock, &attr);
		pthread_mutexattr_destroy(&attr);
	}
	pthread_cond_init(&log->wake, NULL);
	MCX_ENSURE_ALLOC(log->path = strdup(path));
	r = hsm_find_by_label(hsm, HSM_CLASS_SECRET_KEY, AUDIT_MAC_KEY_LABEL, &log->mac_key);
	if (r == MCX_ERR_NOT_FOUND) {
		vault_info("creating the audit MAC key %s in the token", AUDIT_MAC_KEY_LABEL);
		MCX_GUARD(hsm_hmac_generate(hsm, AUDIT_MAC_KEY_LABEL, &log->mac_key));
		MCX_GUARD(hsm_sync(hsm));
	} else {
		MCX_GUARD(r);
	}
	MCX_GUARD(audit_open_file(log));
	MCX_GUARD(audit_resume(log));
	pthread_mutex_lock(&log->lock);
	r = audit_note(log, "start");
	pthread_mutex_unlock(&log->lock);
	MCX_GUARD(r);
	MCX_ENSURE(pthread_create(&log->checkpointer, NULL, audit_checkpointer, log) == 0, MCX_ERR_SYSTEM);
	log->checkpointer_started = 1;
	vault_info("audit log %s: continuing at record %" PRIu64, path, log->seq);
	*out = log;
	log = NULL;
	r = MCX_OK;
out:
	audit_close(log);
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
	if (log->fd >= 0) {
		pthread_mutex_lock(&log->lock);
		if (audit_note(log, "stop") != MCX_OK || audit_checkpoint_locked(log, "stop") != MCX_OK)
			vault_error("audit: could not seal %s at shutdown", log->path);
		pthread_mutex_unlock(&log->lock);
		if (fdatasync(log->fd) != 0)
			vault_error("audit: fdatasync %s: %s", log->path, strerror(errno));
		close(log->fd);
	}
	pthread_mutex_destroy(&log->lock);
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
 * The record of a call, formatted straight into a bounded buffer: this runs
 * for every audited request, so no JSON tree is built.  Keys in sorted order
 * (caller, domain, error, external_kms, key, method, outcome, subject, type);
 * audit_emit_body then adds prev, seq and time.
 */
static int audit_call_body(const struct audit_event *ev, struct mcx_buf *b)
{
	int r = MCX_ERR_INTERNAL, first = 1;

	MCX_GUARD(mcx_buf_putf(b, "{\"caller\":{\"pid\":%ld,\"roles\":[", (long)ev->pid));
	for (unsigned bit = 1; bit <= VAULT_ROLE_AUDITOR; bit <<= 1)
		if (ev->roles & bit) {
			MCX_GUARD(mcx_buf_putf(b, "%s\"%s\"", first ? "" : ",", vault_role_name(bit)));
			first = 0;
		}
	MCX_GUARD(mcx_buf_putf(b, "],\"uid\":%lu}", (unsigned long)ev->uid));
	if (ev->domain != NULL) {
		MCX_GUARD(mcx_buf_put(b, ",\"domain\":", 10));
		MCX_GUARD(audit_put_string(b, ev->domain));
	}
	if (ev->error != 0)
		MCX_GUARD(mcx_buf_putf(b, ",\"error\":{\"code\":%d,\"name\":\"%s\"}", mcx_error_rpc_code(ev->error),
		                       mcx_error_name(ev->error)));
	if (ev->external_count > 0) {
		MCX_GUARD(mcx_buf_put(b, ",\"external_kms\":[", 17));
		for (size_t i = 0; i < ev->external_count && i < AUDIT_EXTERNAL_MAX; i++) {
			if (i > 0)
				MCX_GUARD(mcx_buf_put_u8(b, ','));
			MCX_GUARD(audit_put_string(b, ev->external_kms[i]));
		}
		MCX_GUARD(mcx_buf_put_u8(b, ']'));
	}
	if (ev->key_purpose != NULL) {
		MCX_GUARD(mcx_buf_put(b, ",\"key\":{\"purpose\":", 18));
		MCX_GUARD(audit_put_string(b, ev->key_purpose));
		MCX_GUARD(mcx_buf_putf(b, ",\"version\":%lu}", (unsigned long)ev->key_version));
	}
	MCX_GUARD(mcx_buf_put(b, ",\"method\":", 10));
	MCX_GUARD(audit_put_string(b, ev->method));
	MCX_GUARD(mcx_buf_putf(b, ",\"outcome\":\"%s\"", ev->error == 0 ? "ok" : "error"));
	if (ev->subject != NULL) {
		MCX_GUARD(mcx_buf_put(b, ",\"subject\":", 11));
		MCX_GUARD(audit_put_string(b, ev->subject));
	}
	MCX_GUARD(mcx_buf_put(b, ",\"type\":\"call\"", 14));
	r = MCX_OK;
out:
	return r;
}

MCX_RESULT audit_append(struct audit_log *log, const struct audit_event *ev)
{
	int r = MCX_ERR_INTERNAL;
	struct mcx_buf *body = NULL;

	MCX_ENSURE_ALLOC(body = mcx_buf_new(AUDIT_LINE_MAX));
	MCX_GUARD(audit_call_body(ev, body));
	/* only the chain step is serialised */
	pthread_mutex_lock(&log->lock);
	r = audit_emit_body(log, (const char *)mcx_buf_ptr(body), mcx_buf_len(body), mcx_time_now());
	if (r == MCX_OK && log->seq - log->sealed_seq >= log->batch)
		pthread_cond_signal(&log->wake);
	pthread_mutex_unlock(&log->lock);
out:
	if (r != MCX_OK && r != MCX_ERR_AUDIT_UNAVAILABLE)
		r = MCX_ERR_AUDIT_UNAVAILABLE;
	mcx_buf_free(body);
	return r;
}

MCX_RESULT audit_reopen(struct audit_log *log)
{
	int r = MCX_ERR_INTERNAL, old;

	pthread_mutex_lock(&log->lock);
	if (log->fd >= 0 && audit_checkpoint_locked(log, "rotate") != MCX_OK)
		vault_warning("audit: could not seal %s before reopening", log->path);
	old = log->fd;
	if (old >= 0 && fdatasync(old) != 0)
		vault_error("audit: fdatasync %s: %s", log->path, strerror(errno));
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
	status->healthy = log->healthy;
	status->failures = log->failures;
	pthread_mutex_unlock(&log->lock);
}

int audit_writable(struct audit_log *log)
{
	struct statvfs vfs;
	int healthy, fd;
	const char *seam = getenv("MCXVAULT_TEST_AUDIT_READONLY");

	if (seam != NULL && access(seam, F_OK) == 0)
		return 0;

	pthread_mutex_lock(&log->lock);
	healthy = log->healthy;
	fd = log->fd;
	pthread_mutex_unlock(&log->lock);
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
	MCX_GUARD(hsm_hmac_sha256(log->hsm, log->mac_key, input, sizeof(input), mac));
	r = mcx_memcmp_consttime(mac, mcx_buf_ptr(given), 32) == 0 ? MCX_OK : MCX_ERR_SIGNATURE_INVALID;
out:
	mcx_buf_free(given);
	return r;
}
