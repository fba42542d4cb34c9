/*
 * Verifying an audit log from its files: the hash chain is checked here, the
 * checkpoint MACs by a callback (the vault recomputes them in the HSM).
 * Used by `vaultctl audit verify` and by the tests; needs no HSM.
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef VAULT_AUDIT_CHAIN_H
#define VAULT_AUDIT_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "mcx/safety.h"

struct audit_checkpoint_fields {
	uint64_t seq, first_seq, last_seq;
	int64_t from, to;
	char prev[65];
	char mac[65];
};

/* Returns 0 if the MAC is valid, MCX_ERR_SIGNATURE_INVALID if not, another error if it cannot tell. */
typedef int (*audit_mac_check_fn)(void *context, const struct audit_checkpoint_fields *checkpoint);

struct audit_chain_state {
	/* carried from one file to the next (rotation keeps the chain) */
	int started;
	uint64_t seq;                 /* last record seen */
	char head[65];                /* SHA-256 hex of the last line */
	uint64_t sealed_seq;          /* last record covered by a verified checkpoint */
	/* set before the first file: the checkpoint the token's anchor names
	 * (audit.status "anchor"); 0: none */
	uint64_t anchor_seq;
	char anchor_hash[65];
	int anchor_seen;              /* the anchored record was found and matched */
	/* totals */
	size_t records;
	size_t checkpoints;
	size_t breaks;                /* "audit-break" records: breaks an administrator accepted */
	uint64_t break_seq;           /* the first of them */
	char break_reason[384];
	/* the first problem, if any */
	int failed;
	char file[512];
	size_t line;
	uint64_t problem_seq;
	char problem[512];
};

/* Verifies one file, continuing the state of the previous one (zero the state
 * before the first file).  Returns 0 when the file is intact so far;
 * MCX_ERR_SIGNATURE_INVALID with state->problem naming the first record that
 * was changed, removed, reordered or truncated; another error if the file
 * cannot be read or the MAC callback fails. */
MCX_RESULT audit_chain_verify_file(const char *path, struct audit_chain_state *state, audit_mac_check_fn mac_check,
                                   void *context);

#endif
