#!/bin/bash
# Audit log tests against a real vaultd on a fresh SoftHSM token: what is
# recorded, tamper evidence (vaultctl audit verify names the spot), rotation
# keeping the chain across files, and fail-closed behaviour with recovery
# (a read-only log; the full disk is in test_audit_full_disk.sh).
# Ends with "audit: N passed, N failed".
#
# SPDX-License-Identifier: Apache-2.0
set -u
. "$(dirname "$0")/../lib/harness.sh"

. "$(dirname "$0")/../lib/checks.sh"

trap harness_cleanup EXIT

harness_setup || { echo "audit: 0 passed, 1 failed"; exit 1; }
AUDIT="$HARNESS_DIR/audit.jsonl"
HARNESS_EXTRA_ACCESS=", { user = \"nobody\"; roles = [ \"auditor\" ]; domains = [ \"b.example\" ]; }"
HARNESS_AUDIT_BATCH=4
harness_write_config
export MCXVAULT_TEST_AUDIT_READONLY="$HARNESS_DIR/audit-readonly"
harness_start || { echo "audit: 0 passed, 1 failed"; exit 1; }
V="$B/vaultctl"

# --- what is recorded ------------------------------------------------------------
$V domain init a.example >/dev/null
printf 'payload-0123456789' > "$HARNESS_DIR/msg"
$V sign a.example "$HARNESS_DIR/msg" > "$HARNESS_DIR/sig"
$V key rotate a.example >/dev/null
$V key list a.example >/dev/null
sleep 1.3
check "a start record opens the log" "head -n1 '$AUDIT' | grep -q '\"type\":\"start\"'"
check "domain.init is recorded" "grep -q '\"method\":\"domain.init\",\"outcome\":\"ok\"' '$AUDIT'"
check "sign.sign is recorded with the key purpose and version" \
	"grep '\"method\":\"sign.sign\"' '$AUDIT' | grep -q '\"key\":{\"purpose\":\"sign\",\"version\":1}'"
check "key.rotate is recorded with the new version" \
	"grep '\"method\":\"key.rotate\"' '$AUDIT' | grep -q '\"version\":2'"
check "records name the caller uid, pid and roles" \
	"grep '\"method\":\"sign.sign\"' '$AUDIT' | grep -q '\"caller\":{\"pid\":[0-9]*,\"roles\":\\[\"admin\"'"
check "read-only methods are not recorded" "! grep -q '\"method\":\"key.list\"' '$AUDIT'"
check "no payload or signature bytes in the log" \
	"! grep -q 'payload-0123456789' '$AUDIT' && ! grep -qF \"\$(cut -d' ' -f2 '$HARNESS_DIR/sig' | cut -c1-40)\" '$AUDIT'"
check "no PIN in the log" "! grep -q '1234' '$AUDIT' || ! grep -q '\"1234\"' '$AUDIT'"
check "checkpoints carry an HMAC and a time window" \
	"grep '\"type\":\"checkpoint\"' '$AUDIT' | head -n1 | grep -q '\"from\":[0-9]*.*\"mac\":\"[0-9a-f]\\{64\\}\".*\"to\":[0-9]*'"

if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	chgrp nogroup "$MCXVAULT_SOCKET" "$HARNESS_DIR" && chmod g+rx "$HARNESS_DIR"
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$V" key rotate a.example >/dev/null 2>&1
	sleep 0.2
	check "a denied request is recorded with its error" \
		"grep '\"method\":\"key.rotate\"' '$AUDIT' | grep '\"uid\":65534' | grep -q '\"domain\":\"a.example\",\"error\":{\"code\":-32001,\"name\":\"MCX_ERR_PERMISSION_DENIED\"}'"
else
	skipped "a denied request is recorded (needs root to run a client as nobody)"
fi

# --- tamper evidence ----------------------------------------------------------------
for i in 1 2 3 4 5 6; do $V sign a.example "$HARNESS_DIR/msg" >/dev/null; done
sleep 1.3
out=$($V audit verify); rc=$?
check "an untouched log verifies (chain and every checkpoint MAC)" "[ $rc -eq 0 ] && echo '$out' | grep -q '^intact:'"
cp "$AUDIT" "$HARNESS_DIR/orig"
# edits keep the file's inode (vaultd writes through an open descriptor; sed -i
# would swap the file, which vaultd notices and treats as a replaced log)
edit_in_place() { "$@" "$HARNESS_DIR/orig" > "$HARNESS_DIR/edited" && cat "$HARNESS_DIR/edited" > "$AUDIT"; }
verify_says() {   # description, expected text
	out=$($V audit verify 2>&1); rc=$?
	cat "$HARNESS_DIR/orig" > "$AUDIT"
	if [ $rc -eq 1 ] && echo "$out" | grep -q "$2"; then ok "$1"; else not_ok "$1: got: $out"; fi
}
edit_in_place sed '3s/"type":"/"type":"x/'
verify_says "one changed byte in record 3 is named" "line 3: record 3 was changed"
edit_in_place sed '4d'
verify_says "a deleted record 4 is named" "record 4 is missing"
edit_in_place awk 'NR==5{l=$0;next} NR==6{print;print l;next}{print}'
verify_says "two swapped records are reported as a reorder naming both" "records 5 and 6 were swapped (reordered)"
edit_in_place head -n -2
verify_says "a truncated live file is found" "truncated"
python3 - "$AUDIT" <<'PY'
import sys, json, hashlib
p = sys.argv[1]; lines = open(p).read().splitlines()
h = lambda s: hashlib.sha256(s.encode()).hexdigest()
r = json.loads(lines[2]); r["outcome"] = "error"; lines[2] = json.dumps(r, separators=(",", ":"), sort_keys=True)
for i in range(3, len(lines)):
    r = json.loads(lines[i]); r["prev"] = h(lines[i - 1]); lines[i] = json.dumps(r, separators=(",", ":"), sort_keys=True)
open(p, "r+").write("\n".join(lines) + "\n")   # same inode, same length
PY
verify_says "a record rewritten with a recomputed chain fails the HSM checkpoint MAC" "does not verify"
check "the restored log verifies again" "$V audit verify >/dev/null"

# --- rotation keeps the chain across files --------------------------------------------
mv "$AUDIT" "$AUDIT.1"
kill -HUP "$HARNESS_PID"
sleep 0.3
$V sign a.example "$HARNESS_DIR/msg" >/dev/null
sleep 1.3
out=$($V audit verify "$AUDIT.1" "$AUDIT" 2>&1); rc=$?
check "after logrotate + SIGHUP the old file ends sealed and the new file continues the chain: $out" "[ $rc -eq 0 ]"
check "the new file on its own verifies from its first link" "$V audit verify '$AUDIT' >/dev/null"
head -n -1 "$AUDIT.1" > "$HARNESS_DIR/cut" && mv "$HARNESS_DIR/cut" "$AUDIT.1"
out=$($V audit verify "$AUDIT.1" "$AUDIT" 2>&1)
check "a rotated file cut short is found" "echo '$out' | grep -q 'TAMPERED'"
rm "$AUDIT"
sleep 1.5
$V sign a.example "$HARNESS_DIR/msg" >/dev/null
check "a deleted live log is noticed and the chain goes on in a new file" \
	"[ -s '$AUDIT' ] && grep -q 'file-replaced' '$AUDIT' && grep -q 'removed or replaced' '$HARNESS_DIR/vaultd.log'"

# --- fail closed, and recovery --------------------------------------------------------
touch "$MCXVAULT_TEST_AUDIT_READONLY"
out=$($V sign a.example "$HARNESS_DIR/msg" 2>&1); rc=$?
check "a read-only log refuses sign.sign with -32008" "[ $rc -eq 1 ] && echo '$out' | grep -q 'code -32008'"
$V key rotate a.example >/dev/null 2>&1
check "a refused rotation changed nothing" "[ \$($V key list a.example | grep -c active) -eq 4 ] && $V key list a.example | grep -q 'sign *2 *active'"
check "read-only methods still work" "$V key list a.example >/dev/null && $V status | grep -q version"
rm -f "$MCXVAULT_TEST_AUDIT_READONLY"
check "the vault recovers when the log is writable again" "$V sign a.example '$HARNESS_DIR/msg' >/dev/null"

# a full disk: tests/audit/test_audit_full_disk.sh

harness_stop
check "no sanitizer report in vaultd's log" "! grep -qE 'Sanitizer|runtime error' '$HARNESS_DIR/vaultd.log'"
echo "audit: $pass passed, $fail failed${skip:+, $skip skipped}"
[ "$fail" -eq 0 ]
