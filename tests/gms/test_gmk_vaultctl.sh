#!/bin/bash
# mcxvault — vaultctl gmk commands against a real vaultd with a GMS store
# (HARNESS_GMS_STORE) and the audit log on, as in production: vaultd is
# restarted (SIGTERM) and killed (SIGKILL) with the group in place; groups,
# GMK versions and ids survive, distribution goes on with the same GMK, and
# `vaultctl audit verify` finds the log intact.
# SPDX-License-Identifier: Apache-2.0
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/lib/harness.sh"
pass=0 fail=0
ok() { echo "ok - $1"; pass=$((pass + 1)); }
bad() { echo "FAIL - $1"; fail=$((fail + 1)); }
check() { name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
VC="$B/vaultctl"

trap 'harness_cleanup' EXIT INT TERM
harness_setup || { echo "gmk-vaultctl: 0 passed, 1 failed"; exit 1; }
HARNESS_GMS_STORE="$HARNESS_DIR/gms.sqlite"
harness_write_config
harness_start || { echo "gmk-vaultctl: 0 passed, 1 failed"; exit 1; }
"$VC" domain init a.example >/dev/null

out=$("$VC" gmk create a.example sip:g1@a.example)
check "gmk create prints the GMK-ID" grep -Eq '^group sip:g1@a.example: GMK-ID 0[0-9a-f]{7}, version 1' <<<"$out"
check "gmk create twice fails" bash -c "! '$VC' gmk create a.example sip:g1@a.example 2>/dev/null"
out=$("$VC" gmk rekey a.example sip:g1@a.example)
check "gmk rekey makes version 2" grep -q 'version 2 (current)' <<<"$out"
out=$("$VC" gmk list a.example)
check "gmk list shows the group" grep -Eq '^sip:g1@a.example +2 +0[0-9a-f]{7}' <<<"$out"
out=$("$VC" gmk show a.example sip:g1@a.example)
check "gmk show lists both versions" bash -c "grep -q previous <<<'$out' && grep -q current <<<'$out'"
printf '# members\nsip:alice@a.example\nsip:bob@x.example kms.x.example\n' > "$HARNESS_DIR/members"
out=$("$VC" gmk distribute a.example sip:g1@a.example sip:gms@a.example "$HARNESS_DIR/members")
rc=$?
check "gmk distribute: one I_MESSAGE line for alice" grep -Eq '^sip:alice@a.example kms.a.example [0-9a-f]{8} [A-Za-z0-9_-]{500,}$' <<<"$out"
check "gmk distribute: untrusted KMS reported per member" grep -q '^sip:bob@x.example kms.x.example error -32005' <<<"$out"
check "gmk distribute exits 1 when a member failed" test "$rc" -eq 1
out=$("$VC" --json gmk distribute a.example sip:g1@a.example sip:gms@a.example - <<<"sip:alice@a.example")
check "gmk distribute --json from stdin" grep -q '"distributed": 1' <<<"$out"
printf 'sip:m%d@a.example\n' 1 2 3 4 5 > "$HARNESS_DIR/five"
echo 'sip:x@x.example kms.x.example' >> "$HARNESS_DIR/five"
out=$("$VC" gmk distribute a.example sip:g1@a.example --sender sip:gms@a.example --members "$HARNESS_DIR/five" \
	--chunk 2 2>"$HARNESS_DIR/summary")
rc=$?
check "gmk distribute --sender/--members in chunks answers every member in order" \
	bash -c "[ \$(grep -c . <<<'$out') -eq 6 ] && head -n1 <<<'$out' | grep -q '^sip:m1@' && tail -n1 <<<'$out' | grep -q '^sip:x@'"
check "every chunk used the same GMK (GMK-ID pinned after the first chunk)" \
	grep -Eq '^gmk 0[0-9a-f]{7} of sip:g1@a.example: distributed 5 of 6 members, 1 failed' "$HARNESS_DIR/summary"
check "the summary counts failures by reason" grep -Eq '^ +1 +MCX_ERR_UNTRUSTED' "$HARNESS_DIR/summary"
check "a batch with a failed member exits 1" test "$rc" -eq 1

# --- restarts: the same token, store and audit log ------------------------------
"$VC" gmk list a.example > "$HARNESS_DIR/groups.before"
"$VC" gmk show a.example sip:g1@a.example > "$HARNESS_DIR/show.before"
gmk_id=$(awk '$1 == "sip:g1@a.example" { print $3 }' "$HARNESS_DIR/groups.before")
for sig in TERM KILL; do
	check "vaultd starts again after SIG$sig" harness_restart $sig
	"$VC" gmk list a.example > "$HARNESS_DIR/groups.after" 2>&1
	"$VC" gmk show a.example sip:g1@a.example > "$HARNESS_DIR/show.after" 2>&1
	check "after SIG$sig: gmk list and gmk show unchanged" \
		bash -c "cmp -s '$HARNESS_DIR/groups.before' '$HARNESS_DIR/groups.after' && cmp -s '$HARNESS_DIR/show.before' '$HARNESS_DIR/show.after'"
	out=$("$VC" gmk distribute a.example sip:g1@a.example sip:gms@a.example - <<<"sip:alice@a.example" \
		2>"$HARNESS_DIR/summary")
	check "after SIG$sig: distribution goes on with the same GMK ($gmk_id)" \
		bash -c "grep -Eq '^sip:alice@a.example kms.a.example [0-9a-f]{8} [A-Za-z0-9_-]{500,}$' <<<'$out' &&
			grep -q '^gmk $gmk_id of sip:g1@a.example: distributed 1 of 1' '$HARNESS_DIR/summary'"
done
if [ -n "${HARNESS_AUDIT_FILE:-}" ]; then
	out=$("$VC" audit verify)
	check "audit verify: intact after a SIGTERM restart and a SIGKILL" grep -q '^intact: ' <<<"$out"
	check "the audit log records the distributions" grep -q '"method":"gmk.distribute"' "$HARNESS_AUDIT_FILE"
fi

out=$("$VC" gmk revoke a.example sip:g1@a.example)
check "gmk revoke destroys both" grep -q '2 GMK(s) destroyed' <<<"$out"
check "gmk distribute after revoke fails" bash -c "! '$VC' gmk distribute a.example sip:g1@a.example sip:gms@a.example - <<<'sip:alice@a.example' >/dev/null 2>&1"

echo "gmk-vaultctl: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
