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
 * State changes are written ahead: an "intent" record naming the method and
 * what it will change is written and fdatasync'ed before the change is made,
 * and an outcome record (type "call", "intent": <its seq>) follows.  So
 * MCX_ERR_AUDIT_UNAVAILABLE always means that nothing happened; an intent
 * without an outcome means the outcome could not be recorded (a crash, or
 * the disk filled up in between) and the key list shows what happened.
 *
 * Anchor: after each checkpoint is on disk, its seq and line hash are stored
 * in a private token object (AUDIT_ANCHOR_LABEL, or AUDIT_ANCHOR_LABEL "/"
 * node id when several vaults share the token: each anchors its own log,
 * else each would refuse the other's), at most once per
 * checkpoint interval and always at rotation and stop.  At start the log
 * must still hold that checkpoint, unchanged, and a chain from it to its
 * last line; otherwise the log was truncated, deleted, replaced or
 * rewritten, and vaultd refuses to start until the administrator accepts
 * the break (vaultd --accept-audit-break), which is recorded in the log.
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
#define AUDIT_ANCHOR_LABEL "mcxvault-audit/anchor"
#define AUDIT_EXTERNAL_MAX 8
#define AUDIT_MAC_INPUT_LEN 80   /* "MCXAUDIT" || seq || prev || first || last || from || to */
#define AUDIT_PARAMS_MAX 8

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
	uint64_t intent;                    /* outcome of a state change: the seq of its intent record */
	uint64_t count;                     /* > 1: this record stands for that many identical calls */
	/* intent records: the names and values (strings or integers, never
	 * secrets) that say what is about to change */
	const char *param_names[AUDIT_PARAMS_MAX];
	const char *param_strings[AUDIT_PARAMS_MAX];   /* NULL: use param_ints */
	long long param_ints[AUDIT_PARAMS_MAX];
	size_t param_count;
};

struct audit_status {
	char path[512];
	uint64_t seq;                       /* last record written */
	uint64_t sealed_seq;                /* last record covered by a checkpoint */
	char head[65];                      /* hex SHA-256 of the last line */
	int healthy;                        /* writes succeed and the last checkpoint was sealed */
	int writable;                       /* the last write succeeded */
	int sealing;                        /* the last checkpoint MAC succeeded */
	uint64_t failures;                  /* writes refused since start */
	uint64_t seal_failures;             /* checkpoints the HSM could not MAC since start */
	uint64_t anchor_seq;                /* the checkpoint the token's anchor names (0: none yet) */
	char anchor_hash[65];               /* hex SHA-256 of that checkpoint line */
	int64_t anchor_time;
	char node[65];                      /* this vault's node id ("" without one) */
	char anchor_label[256];             /* the token object holding the anchor */
};

struct audit_options {
	const char *path;
	unsigned batch;                     /* records per checkpoint */
	unsigned interval_seconds;          /* a checkpoint at least this often while records arrive */
	int accept_break;                   /* vaultd --accept-audit-break: start over a broken history, recorded */
	long group;                         /* gid given to a new log file; -1: the creator's */
	const char *node_id;                /* "node" of every record (config node_id); NULL: none */
	int node_anchor;                    /* several vaults on the token: the anchor is AUDIT_ANCHOR_LABEL/<node_id> */
};

/*
 * Opens the file and the MAC key and checks the log against the token's
 * anchor; writes nothing (a start that fails leaves the log as it was).
 * MCX_ERR_SIGNATURE_INVALID when the log was truncated, deleted, replaced or
 * rewritten since the anchored checkpoint (the reason is logged), unless
 * accept_break is set: then audit_begin records the break.
 */
MCX_RESULT audit_open(struct hsm *hsm, const struct audit_options *options, struct audit_log **out);
/* Once vaultd is about to serve: the "start" record (and an "audit-break"
 * record if one was accepted), a checkpoint, the anchor, the checkpointer. */
MCX_RESULT audit_begin(struct audit_log *log);
/* Writes a final checkpoint ("stop") if audit_begin ran, and closes. */
void audit_close(struct audit_log *log);
/* Appends one record; MCX_ERR_AUDIT_UNAVAILABLE if it could not be written. */
MCX_RESULT audit_append(struct audit_log *log, const struct audit_event *event);
/* Write-ahead record of a state change, flushed to disk before the change
 * is made; *seq receives its number for the outcome record.
 * MCX_ERR_AUDIT_UNAVAILABLE: nothing may be done. */
MCX_RESULT audit_intent(struct audit_log *log, const struct audit_event *event, uint64_t *seq);
/* Checkpoint, then reopen the path (after logrotate moved the file): the chain continues. */
MCX_RESULT audit_reopen(struct audit_log *log);
void audit_status_get(struct audit_log *log, struct audit_status *status);
/* 0 when audited requests must be refused before anything is done: the last
 * write failed and the file system still looks read-only or full
 * (statvfs), or the last checkpoint could not be sealed by the HSM.
 * Otherwise 1, and audit_append will tell. */
int audit_writable(struct audit_log *log);
/* Another vault's anchor on the same token (several vaults, node ids): only
 * the anchor fields, node and anchor_label of *status are set; anchor_seq 0
 * when that node has none.  MCX_ERR_INVALID_ARGUMENT for a bad node id. */
MCX_RESULT audit_anchor_of(struct audit_log *log, const char *node, struct audit_status *status);
/* Recomputes a checkpoint's MAC in the HSM: MCX_OK, or MCX_ERR_SIGNATURE_INVALID. */
MCX_RESULT audit_checkpoint_check(struct audit_log *log, uint64_t seq, const char *prev_hex, uint64_t first_seq,
                                  uint64_t last_seq, int64_t from, int64_t to, const char *mac_hex);
/* The MAC input of a checkpoint (shared with the verifier). */
MCX_RESULT audit_checkpoint_input(uint64_t seq, const char *prev_hex, uint64_t first_seq, uint64_t last_seq,
                                  int64_t from, int64_t to, uint8_t out[AUDIT_MAC_INPUT_LEN]);

#endif
