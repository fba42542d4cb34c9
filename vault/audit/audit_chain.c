/*
 * Audit log verification (see audit_chain.h).
 *
 * What each kind of damage looks like, and how it is named:
 *   - a changed record k: record k+1's "prev" is not SHA-256(line k) while
 *     the sequence numbers run on — "record k was changed";
 *   - a removed record: the sequence jumps — "record k is missing";
 *   - swapped records: the sequence skips one and the next line holds it —
 *     "records k and k+1 were swapped (reordered)";
 *   - records changed and re-chained by someone without the HSM key: the next
 *     checkpoint's MAC does not verify;
 *   - a truncated file: it ends on records no checkpoint seals (the caller
 *     compares with the vault's own sequence number for the live file), or
 *     before the checkpoint the token's anchor names;
 *   - a rewritten, re-chained file: the anchored checkpoint's line differs.
 *
 * An "audit-break" record is a break an administrator accepted when vaultd
 * refused to start (vaultd --accept-audit-break); it continues the chain and
 * is counted and reported, not failed.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "vault/audit/audit_chain.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_BYTES (64u * 1024u)

static void hex32(const uint8_t in[32], char out[65])
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < 32; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[64] = '\0';
}

static int chain_fail(struct audit_chain_state *st, size_t line, uint64_t seq, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int chain_fail(struct audit_chain_state *st, size_t line, uint64_t seq, const char *fmt, ...)
{
	va_list ap;

	if (!st->failed) {
		st->failed = 1;
		st->line = line;
		st->problem_seq = seq;
		va_start(ap, fmt);
		vsnprintf(st->problem, sizeof(st->problem), fmt, ap);
		va_end(ap);
	}
	return MCX_ERR_SIGNATURE_INVALID;
}

static int checkpoint_fields(json_t *record, uint64_t seq, const char *prev, struct audit_checkpoint_fields *cp)
{
	json_int_t first = 0, last = 0, from = 0, to = 0;
	const char *mac = NULL;

	if (json_unpack(record, "{s:I, s:I, s:I, s:I, s:s}", "first_seq", &first, "last_seq", &last, "from", &from,
	                "to", &to, "mac", &mac) != 0 ||
	    strlen(mac) != 64)
		return MCX_ERR_PARSE;
	memset(cp, 0, sizeof(*cp));
	cp->seq = seq;
	cp->first_seq = (uint64_t)first;
	cp->last_seq = (uint64_t)last;
	cp->from = from;
	cp->to = to;
	snprintf(cp->prev, sizeof(cp->prev), "%s", prev);
	snprintf(cp->mac, sizeof(cp->mac), "%s", mac);
	return MCX_OK;
}

MCX_RESULT audit_chain_verify_file(const char *path, struct audit_chain_state *st, audit_mac_check_fn mac_check,
                                   void *context)
{
	int r = MCX_ERR_INTERNAL;
	FILE *f = NULL;
	char *line = NULL;
	size_t cap = 0, line_no = 0;
	ssize_t n;
	json_t *record = NULL;
	uint8_t digest[32];
	static const char zero[65] = "0000000000000000000000000000000000000000000000000000000000000000";

	snprintf(st->file, sizeof(st->file), "%s", path);
	MCX_ENSURE((f = fopen(path, "re")) != NULL, MCX_ERR_SYSTEM);
	while ((n = getline(&line, &cap, f)) > 0) {
		json_t *jseq, *jprev, *jtype;
		uint64_t seq;
		const char *prev, *type;

		line_no++;
		if (line[n - 1] != '\n')
			MCX_BAIL(chain_fail(st, line_no, st->seq + 1, "line %zu is incomplete: the file was truncated",
			                    line_no));
		line[--n] = '\0';
		MCX_ENSURE((size_t)n < LINE_MAX_BYTES,
		           chain_fail(st, line_no, st->seq + 1, "line %zu is too long to be a record", line_no));
		json_decref(record);
		record = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
		jseq = record ? json_object_get(record, "seq") : NULL;
		jprev = record ? json_object_get(record, "prev") : NULL;
		MCX_ENSURE(json_is_integer(jseq) && json_integer_value(jseq) > 0 && json_is_string(jprev) &&
		           strlen(json_string_value(jprev)) == 64,
		           chain_fail(st, line_no, st->seq + 1,
		                      "line %zu is not an audit record (changed, or not JSON)", line_no));
		seq = (uint64_t)json_integer_value(jseq);
		prev = json_string_value(jprev);
		if (!st->started) {
			/* the very first record of a chain links to nothing */
			MCX_ENSURE(seq != 1 || strcmp(prev, zero) == 0,
			           chain_fail(st, line_no, seq, "record 1 does not start a chain"));
			st->started = 1;
			if (seq != 1) {
				/* a rotated file verified on its own: trust its first link */
				snprintf(st->head, sizeof(st->head), "%s", prev);
				st->seq = seq - 1;
				st->sealed_seq = seq - 1;
			}
		} else {
			if (seq <= st->seq)
				MCX_BAIL(chain_fail(st, line_no, seq,
				                    "record %" PRIu64 " comes after record %" PRIu64 ": records were reordered",
				                    seq, st->seq));
			if (seq > st->seq + 1) {
				/* the next line tells a swap from a gap */
				uint64_t next_seq = 0;
				char *peek = NULL;
				size_t peek_cap = 0;
				if (getline(&peek, &peek_cap, f) > 0) {
					json_t *next = json_loads(peek, 0, NULL), *jn = json_object_get(next, "seq");
					next_seq = json_is_integer(jn) ? (uint64_t)json_integer_value(jn) : 0;
					json_decref(next);
				}
				free(peek);
				if (next_seq == st->seq + 1)
					MCX_BAIL(chain_fail(st, line_no, st->seq + 1,
					                    "records %" PRIu64 " and %" PRIu64 " were swapped (reordered): line %zu holds record %" PRIu64
					                    " and line %zu record %" PRIu64,
					                    next_seq, seq, line_no, seq, line_no + 1, next_seq));
				MCX_BAIL(chain_fail(st, line_no, st->seq + 1,
				                    "record %" PRIu64 " is missing (the file goes from %" PRIu64 " to %" PRIu64 ")",
				                    st->seq + 1, st->seq, seq));
			}
			if (strcmp(prev, st->head) != 0)
				MCX_BAIL(chain_fail(st, line_no - 1, st->seq,
				                    "record %" PRIu64 " was changed (record %" PRIu64 " does not link to it)",
				                    st->seq, seq));
		}
		jtype = json_object_get(record, "type");
		type = json_is_string(jtype) ? json_string_value(jtype) : "";
		if (strcmp(type, "checkpoint") == 0) {
			struct audit_checkpoint_fields cp;
			int mac_r;
			MCX_ENSURE(checkpoint_fields(record, seq, prev, &cp) == MCX_OK,
			           chain_fail(st, line_no, seq, "checkpoint %" PRIu64 " is malformed", seq));
			/* it seals everything before it through the chain; after a restart its
			 * first_seq may start later than the previous checkpoint's end */
			MCX_ENSURE(cp.last_seq == seq - 1 && cp.first_seq > st->sealed_seq && cp.first_seq <= seq &&
			           cp.from <= cp.to,
			           chain_fail(st, line_no, seq,
			                      "checkpoint %" PRIu64 " covers %" PRIu64 "..%" PRIu64 ", which does not end at %" PRIu64,
			                      seq, cp.first_seq, cp.last_seq, seq - 1));
			if (mac_check != NULL) {
				mac_r = mac_check(context, &cp);
				if (mac_r == MCX_ERR_SIGNATURE_INVALID)
					MCX_BAIL(chain_fail(st, line_no, seq,
					                    "checkpoint %" PRIu64 " does not verify: records %" PRIu64 "..%" PRIu64
					                    " or the checkpoint were forged",
					                    seq, cp.first_seq, cp.last_seq));
				MCX_GUARD(mac_r);
			}
			st->checkpoints++;
			st->sealed_seq = seq;
		} else if (strcmp(type, "audit-break") == 0) {
			json_t *reason = json_object_get(record, "reason");
			if (st->breaks++ == 0) {
				st->break_seq = seq;
				snprintf(st->break_reason, sizeof(st->break_reason), "%s",
				         json_is_string(reason) ? json_string_value(reason) : "(no reason given)");
			}
		}
		SHA256((const uint8_t *)line, (size_t)n, digest);
		hex32(digest, st->head);
		if (st->anchor_seq != 0 && seq == st->anchor_seq) {
			MCX_ENSURE(strcmp(st->head, st->anchor_hash) == 0,
			           chain_fail(st, line_no, seq,
			                      "record %" PRIu64 " is not the checkpoint the HSM anchor sealed: the log was "
			                      "rewritten or replaced", seq));
			st->anchor_seen = 1;
		}
		st->seq = seq;
		st->records++;
	}
	MCX_ENSURE(!ferror(f), MCX_ERR_SYSTEM);
	r = MCX_OK;
out:
	json_decref(record);
	free(line);
	if (f != NULL)
		fclose(f);
	return r;
}
