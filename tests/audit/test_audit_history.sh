#!/bin/bash
# The audit log in its production shape (issue 9, parts 1 and 4), against a
# real vaultd on a fresh SoftHSM token:
#   - vaultd stops (SIGTERM), is killed (SIGKILL) and starts again over the
#     same token and log, and the chain stays verifiable; a start that fails
#     writes nothing into the log;
#   - the HSM anchor: a log truncated at a checkpoint, deleted, or rewritten
#     and re-chained offline is named at start and vaultd refuses to start,
#     until --accept-audit-break, which is recorded;
#   - `vaultctl audit verify` on the live file: unsealed records are vouched
#     for by the vault, a forged appended record is caught;
#   - a checkpoint the HSM cannot MAC turns the log unhealthy and refuses
#     audited calls until a checkpoint succeeds;
#   - audit.tail / audit.status honour domain scope; the file is 0640 and
#     takes audit.group.
# Ends with "audit-history: N passed, N failed".
#
# SPDX-License-Identifier: Apache-2.0
set -u
. "$(dirname "$0")/../lib/harness.sh"

. "$(dirname "$0")/../lib/checks.sh"

trap 'harness_cleanup' EXIT
# Checkpoints only at start, stop, SIGHUP and every 4,096 records: the tests
# decide when the log is sealed.
HARNESS_AUDIT_INTERVAL=3600 HARNESS_AUDIT_BATCH=4096
if [ "$(id -u)" -eq 0 ] && getent group nogroup >/dev/null; then HARNESS_AUDIT_GROUP=nogroup; fi
HARNESS_EXTRA_ACCESS=", { user = \"nobody\"; roles = [ \"auditor\" ]; domains = [ \"b.example\" ]; }"
harness_setup || { echo "audit-history: 0 passed, 1 failed"; exit 1; }
export MCXVAULT_TEST_AUDIT_MAC_FAIL="$HARNESS_DIR/mac-fails"
harness_start || { echo "audit-history: 0 passed, 1 failed"; exit 1; }
V="$B/vaultctl"
A="$HARNESS_DIR/audit.jsonl"
M="$HARNESS_DIR/msg"
printf 'message' > "$M"

# vaultd started by hand (a flag, or a start expected to fail); its exit status
vaultd_try() {   # args...
	timeout 20 "$B/vaultd" -f "$@" -c "$HARNESS_DIR/vault.conf" >>"$HARNESS_DIR/vaultd.log" 2>&1
}
log_says() { tail -n 5 "$HARNESS_DIR/vaultd.log" | grep -q "$1"; }

# --- part 1: start, records, SIGTERM, start, SIGKILL, start ------------------
check "the log is created 0640 whatever the umask" "[ \$(stat -c %a '$A') = 640 ]"
if [ -n "${HARNESS_AUDIT_GROUP:-}" ]; then
	check "and belongs to audit.group" "[ \$(stat -c %G '$A') = nogroup ]"
fi
$V domain init a.example >/dev/null && $V domain init b.example >/dev/null
$V sign a.example "$M" >/dev/null
$V key rotate a.example >/dev/null
harness_restart TERM
check "vaultd starts again over its own audit log after SIGTERM" "[ -n \"\${HARNESS_PID:-}\" ] && $V status >/dev/null"
check "the new start record says the previous run stopped cleanly" \
	"grep '\"type\":\"start\"' '$A' | tail -n 1 | grep -q '\"previous\":\"clean-stop\"'"
$V sign a.example "$M" >/dev/null
$V key rotate a.example >/dev/null
harness_restart KILL
check "vaultd starts again after SIGKILL" "$V status >/dev/null"
check "the new start record says there was no stop record" \
	"grep '\"type\":\"start\"' '$A' | tail -n 1 | grep -q '\"previous\":\"no-stop-record\"'"
check "every key version survived both restarts" "[ \$($V key list a.example | grep -c '^sign ') -eq 3 ]"
out=$($V sign a.example "$M" 2>&1)
check "signing works after the restarts" "echo '$out' | grep -q 'a.example/sign/3'"
harness_restart TERM
out=$($V audit verify 2>&1); rc=$?
check "after start, SIGTERM, start, SIGKILL, start the chain verifies: $out" "[ $rc -eq 0 ] && echo '$out' | grep -q 'HSM anchor at record [0-9]* matches'"
check "records are numbered once: no second chain was started" "[ \$(grep -c '\"seq\":1,' '$A') -eq 1 ]"

# a start that fails after the log was opened leaves it as it was
harness_stop
cp "$A" "$HARNESS_DIR/before"
sed -i "s|socket = \"$HARNESS_DIR/vaultd.sock\"|socket = \"$HARNESS_DIR/no/such/dir/vaultd.sock\"|" "$HARNESS_DIR/vault.conf"
vaultd_try; rc=$?
check "vaultd cannot start on a socket in a missing directory (exit $rc)" "[ $rc -ne 0 ]"
check "and that failed start wrote nothing into the log" "cmp -s '$A' '$HARNESS_DIR/before'"
sed -i "s|$HARNESS_DIR/no/such/dir/vaultd.sock|$HARNESS_DIR/vaultd.sock|" "$HARNESS_DIR/vault.conf"

# --- part 4: the HSM anchor ----------------------------------------------------
cp "$A" "$HARNESS_DIR/good"
# cut after the next-to-last checkpoint: a history that was sealed, then shortened
cut_at=$(grep -n '"type":"checkpoint"' "$HARNESS_DIR/good" | tail -n 2 | head -n 1 | cut -d: -f1)
head -n "$cut_at" "$HARNESS_DIR/good" > "$A"
cp "$A" "$HARNESS_DIR/cut"
vaultd_try; rc=$?
check "a log cut at an earlier checkpoint: vaultd refuses to start" "[ $rc -ne 0 ] && log_says 'the log was truncated'"
check "the refusal names the anchored record and the break" "log_says 'ends at record $(tail -n 1 "$HARNESS_DIR/cut" | sed 's/.*\"seq\":\([0-9]*\).*/\1/'), but the HSM anchor seals record'"
check "and writes nothing into the log" "cmp -s '$A' '$HARNESS_DIR/cut'"
rm -f "$A"
vaultd_try; rc=$?
check "a deleted log: vaultd refuses to start" "[ $rc -ne 0 ] && log_says 'the log was deleted'"
check "and does not create a new one" "[ ! -e '$A' ]"
python3 - "$HARNESS_DIR/good" "$A" <<'PY'
import sys, json, hashlib
src, dst = sys.argv[1], sys.argv[2]
lines = open(src).read().splitlines()
h = lambda s: hashlib.sha256(s.encode()).hexdigest()
for i, l in enumerate(lines):
    r = json.loads(l)
    if r.get("method") == "key.rotate" and r.get("type") == "call":
        r["caller"]["uid"] = 4242          # blame somebody else
        lines[i] = json.dumps(r, separators=(",", ":"), sort_keys=True)
        break
for k in range(i + 1, len(lines)):         # re-chain everything after it
    r = json.loads(lines[k]); r["prev"] = h(lines[k - 1])
    lines[k] = json.dumps(r, separators=(",", ":"), sort_keys=True)
open(dst, "w").write("\n".join(lines) + "\n")
PY
vaultd_try; rc=$?
check "a log rewritten and re-chained offline: vaultd refuses to start" "[ $rc -ne 0 ] && log_says 'the log was rewritten or replaced'"
cp "$HARNESS_DIR/good" "$A"
harness_start
check "the log put back as it was: vaultd starts" "$V status >/dev/null"
out=$($V audit verify 2>&1); rc=$?
check "and it verifies against the anchor: $out" "[ $rc -eq 0 ] && echo '$out' | grep -q 'HSM anchor at record'"

# accepting a break is explicit and recorded
harness_stop
cp "$A" "$HARNESS_DIR/good"
head -n "$cut_at" "$HARNESS_DIR/good" > "$A"
"$B/vaultd" -f --accept-audit-break -c "$HARNESS_DIR/vault.conf" >>"$HARNESS_DIR/vaultd.log" 2>&1 &
HARNESS_PID=$!
i=0; until $V -t 2 status >/dev/null 2>&1 || [ $i -gt 200 ]; do i=$((i + 1)); sleep 0.05; done
check "vaultd --accept-audit-break starts over the truncated log" "$V status >/dev/null"
check "an audit-break record names the reason, the anchor and the administrator's flag" \
	"grep '\"type\":\"audit-break\"' '$A' | grep '\"accepted_by\":\"vaultd --accept-audit-break\"' | grep -q 'the log was truncated'"
$V sign a.example "$M" >/dev/null
out=$($V audit verify 2>&1); rc=$?
check "verify passes and reports the accepted break: $out" "[ $rc -eq 0 ] && echo '$out' | grep -q 'accepted break'"
harness_restart TERM
check "the next start needs no flag: the anchor follows the new history" "$V status >/dev/null"

# --- verify on the live file ------------------------------------------------------
$V sign a.example "$M" >/dev/null
out=$($V audit verify "$HARNESS_DIR/./audit.jsonl" 2>&1); rc=$?
check "verify FILE on the live log (another spelling): unsealed records are not a truncation: $out" \
	"[ $rc -eq 0 ] && echo '$out' | grep -q 'not yet sealed'"
python3 - "$A" <<'PY'
import sys, json, hashlib
p = sys.argv[1]; last = open(p).read().splitlines()[-1]; r = json.loads(last)
forged = {"caller": {"pid": 1, "roles": ["admin"], "uid": 0}, "domain": "a.example", "method": "key.retire",
          "outcome": "ok", "type": "call", "prev": hashlib.sha256(last.encode()).hexdigest(),
          "seq": r["seq"] + 1, "time": r["time"]}
open(p, "a").write(json.dumps(forged, separators=(",", ":")) + "\n")
PY
out=$($V audit verify 2>&1); rc=$?
check "a forged record appended to the live log is caught: $out" "[ $rc -eq 1 ] && echo '$out' | grep -q 'not written by the vault'"
python3 - "$A" <<'PY'
import sys, os
p = sys.argv[1]; data = open(p, "rb").read()
cut = data.rstrip(b"\n").rfind(b"\n") + 1
os.truncate(p, cut)      # same inode: vaultd keeps writing to it
PY
check "with the forged record gone the live log verifies again" "$V audit verify >/dev/null"

# --- a checkpoint the HSM cannot MAC ------------------------------------------------
touch "$MCXVAULT_TEST_AUDIT_MAC_FAIL"
$V sign a.example "$M" >/dev/null
kill -HUP "$HARNESS_PID"; sleep 0.5            # SIGHUP seals (a "rotate" checkpoint)
out=$($V audit status 2>&1); rc=$?
check "audit status says unhealthy (not sealing) and exits 1" "[ $rc -eq 1 ] && echo '$out' | grep -q '^sealing: *NO'"
out=$($V sign a.example "$M" 2>&1); rc=$?
check "audited calls are refused with -32008 while the log cannot be sealed" "[ $rc -eq 1 ] && echo '$out' | grep -q 'code -32008'"
before=$($V key list a.example)
$V key rotate a.example >/dev/null 2>&1
check "and a refused rotation changed nothing" "[ \"\$($V key list a.example)\" = \"\$before\" ]"
check "read-only calls still answer" "$V key list a.example >/dev/null"
rm -f "$MCXVAULT_TEST_AUDIT_MAC_FAIL"
kill -HUP "$HARNESS_PID"; sleep 0.5
check "once a checkpoint succeeds the log is healthy again" "$V audit status >/dev/null"
check "and audited calls are served" "$V sign a.example '$M' >/dev/null"
check "the failure is in vaultd's log" "grep -q 'the HSM cannot seal' '$HARNESS_DIR/vaultd.log' && grep -q 'is sealed again' '$HARNESS_DIR/vaultd.log'"
check "the log still verifies" "$V audit verify >/dev/null"

# --- domain scope -----------------------------------------------------------------
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	chgrp nogroup "$MCXVAULT_SOCKET" "$HARNESS_DIR" && chmod g+rx "$HARNESS_DIR"
	$V sign b.example "$M" >/dev/null
	as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$V" "$@"; }
	out=$(as_nobody --json audit tail -n 200 2>&1)
	check "an auditor scoped to b.example sees b.example records" "echo '$out' | grep -q '\"domain\": \"b.example\"'"
	check "and no record of another domain, nor the file's name" \
		"! echo '$out' | grep -q 'a.example' && ! echo '$out' | grep -q '\"file\"'"
	check "and no record without a domain (start, checkpoints)" "! echo '$out' | grep -q '\"type\": \"checkpoint\"'"
	out=$(as_nobody --json audit status 2>&1)
	check "audit status for a scoped auditor: health only, no sequence, head or path" \
		"echo '$out' | grep -q '\"healthy\": true' && ! echo '$out' | grep -q '\"seq\"' && ! echo '$out' | grep -q '\"head\"'"
	out=$(as_nobody audit verify 2>&1); rc=$?
	check "a scoped auditor cannot verify the whole log: exit 1, with a reason" "[ $rc -eq 1 ] && echo '$out' | grep -q 'unscoped'"
else
	skipped "domain scope of audit.tail/audit.status (needs root to run a client as nobody)"
fi

harness_stop
check "no sanitizer report in vaultd's log" "! grep -qE 'Sanitizer|runtime error' '$HARNESS_DIR/vaultd.log'"
echo "audit-history: $pass passed, $fail failed${skip:+, $skip skipped}"
[ "$fail" -eq 0 ]
