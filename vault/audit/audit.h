/*
 * The audit log (TR 33.880: use of external domains is logged so that
 * impersonation and misuse can be detected).
 *
 * One JSON object per line.  Every record carries "prev", the SHA-256 of the
 * previous line (a hash chain across restarts and rotated files).  A
 * checkpoint record seals the chain head with HMAC-SHA-256 computed by a
 * non-extractable token key, and binds the time window and sequence range it
 * covers.  Checkpoints are written every `audit.batch` records and at least
 * every `audit.checkpoint_interval` seconds while records arrive, by a
 * background thread, and followed by fdatasync: the HSM's HMAC (≈25 µs, and
 * serialised inside SoftHSM) and the disk flush stay off the request path.
 *
 * Fail closed: a record is written with write(2) before the request is
 * answered; if it cannot be written (disk full, read-only file system) the
 * request is refused with MCX_ERR_AUDIT_UNAVAILABLE and nothing partial is
 * left in the file.  The next record tries again, so the vault recovers by
 * itself when the log is writable again.
 *
 * Records never contain key bytes, PINs or payloads.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef VAULT_AUDIT_H
#define VAULT_AUDIT_H

#include <stdint.h>
#include <sys/types.h>

#include "mcx/safety.h"

struct hsm;
struct audit_log;

#define AUDIT_MAC_KEY_LABEL "mcxvault-audit/1"
#define AUDIT_EXTERNAL_MAX 8
#define AUDIT_MAC_INPUT_LEN 80   /* "MCXAUDIT" || seq || prev || first || last || from || to */

/* What a request leaves in the log. */
struct audit_event {
	uid_t uid;
	pid_t pid;
	unsigned roles;                     /* the caller's roles (VAULT_ROLE_* bits) */
	const char *method;
	const char *domain;                 /* may be NULL */
	const char *key_purpose;            /* may be NULL */
	uint32_t key_version;               /* 0: none */
	const char *subject;                /* e.g. a group or user URI; may be NULL (never a secret) */
	const char *external_kms[AUDIT_EXTERNAL_MAX];
	size_t external_count;
	int error;                          /* 0 or MCX_ERR_* */
};

struct audit_status {
	char path[512];
	uint64_t seq;                       /* last record written */
	uint64_t sealed_seq;                /* last record covered by a checkpoint */
	char head[65];                      /* hex SHA-256 of the last line */
	int healthy;                        /* the last write succeeded */
	uint64_t failures;                  /* writes refused since start */
};

/* Opens (creating if needed) the file and the MAC key, continues the chain
 * from the file's last line, writes a "start" record, starts the checkpointer. */
MCX_RESULT audit_open(struct hsm *hsm, const char *path, unsigned batch, unsigned interval_seconds,
                      struct audit_log **out);
/* Writes a final checkpoint ("stop") and closes. */
void audit_close(struct audit_log *log);
/* Appends one record; MCX_ERR_AUDIT_UNAVAILABLE if it could not be written. */
MCX_RESULT audit_append(struct audit_log *log, const struct audit_event *event);
/* Checkpoint, then reopen the path (after logrotate moved the file): the chain continues. */
MCX_RESULT audit_reopen(struct audit_log *log);
void audit_status_get(struct audit_log *log, struct audit_status *status);
/* 0 when the last write failed and the file system still looks read-only or
 * full (statvfs): the request is refused before anything is done.  Otherwise
 * 1, and audit_append will tell. */
int audit_writable(struct audit_log *log);
/* Recomputes a checkpoint's MAC in the HSM: MCX_OK, or MCX_ERR_SIGNATURE_INVALID. */
MCX_RESULT audit_checkpoint_check(struct audit_log *log, uint64_t seq, const char *prev_hex, uint64_t first_seq,
                                  uint64_t last_seq, int64_t from, int64_t to, const char *mac_hex);
/* The MAC input of a checkpoint (shared with the verifier). */
MCX_RESULT audit_checkpoint_input(uint64_t seq, const char *prev_hex, uint64_t first_seq, uint64_t last_seq,
                                  int64_t from, int64_t to, uint8_t out[AUDIT_MAC_INPUT_LEN]);

#endif
