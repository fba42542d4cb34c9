#!/bin/bash
# Revocation markers in the token, seen and written from outside the vault
# (vault/kms/external.c: a revocation is one object "<entry label>/revoked"
# naming the SHA-256 of the certificate it revokes).  With vaultd stopped,
# pkcs11-tool writes what a crash can leave behind, and vaultd must start
# from it as documented:
#   - a marker for the stored certificate (vaultd killed after the marker was
#     synced, before it answered): the entry is revoked;
#   - a marker for another certificate of that KMS (a remove interrupted
#     before its marker went, then a new import): ignored, trusted;
#   - a marker for a KMS no longer imported: ignored, and the next import of
#     that KMS deletes it, so it never revokes the new certificate;
#   - an unreadable marker: logged, ignored;
# and external.remove of a revoked entry deletes both objects.  The audit
# log verifies at the end.  Ends with "kms-revoke-token: N passed, N failed".
#
# SPDX-License-Identifier: Apache-2.0
set -u
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/checks.sh"

C_DIR= C_PID= A_DIR= A_PID=
cleanup() {
	if [ -n "$C_DIR" ]; then HARNESS_DIR=$C_DIR HARNESS_PID=$C_PID harness_cleanup; fi
	HARNESS_DIR=$A_DIR HARNESS_PID=$A_PID
	harness_cleanup
}
trap cleanup EXIT

if ! command -v pkcs11-tool >/dev/null; then
	echo "skipped - pkcs11-tool (opensc) is not installed"
	echo "kms-revoke-token: 0 passed, 0 failed, 1 skipped"
	exit 0
fi
MODULE=/usr/lib/softhsm/libsofthsm2.so
V="$B/vaultctl"

# vault C (c.example, no audit): the partner
HARNESS_AUDIT=off harness_setup || { echo "kms-revoke-token: 0 passed, 1 failed"; exit 1; }
C_DIR=$HARNESS_DIR
sed -i 's/a\.example/c.example/g; s/b\.example/d.example/g' "$HARNESS_DIR/vault.conf"
HARNESS_AUDIT=off harness_start || { echo "kms-revoke-token: 0 passed, 1 failed"; exit 1; }
C_PID=$HARNESS_PID C_SOCK=$MCXVAULT_SOCKET
$V -s "$C_SOCK" domain init c.example >/dev/null
$V -s "$C_SOCK" cert show c.example --xml > "$C_DIR/c.xml"
$V -s "$C_SOCK" pubkey c.example --purpose cert > "$C_DIR/c.pem"

# vault A (a.example, audit on): trusts C
HARNESS_DIR=
harness_setup || { echo "kms-revoke-token: 0 passed, 1 failed"; exit 1; }
A_DIR=$HARNESS_DIR
harness_start || { echo "kms-revoke-token: 0 passed, 1 failed"; exit 1; }
A_PID=$HARNESS_PID
P11="pkcs11-tool --module $MODULE --token-label mcx-vault --login --pin 1234"

rpc() {   # METHOD JSON-PARAMS: the result, or "error CODE message" (exit 1)
	python3 - "$MCXVAULT_SOCKET" "$1" "$2" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall((json.dumps({"jsonrpc": "2.0", "id": 1, "method": sys.argv[2], "params": json.loads(sys.argv[3])}) + "\n").encode())
buf = b""
while not buf.endswith(b"\n"):
    chunk = s.recv(65536)
    if not chunk: break
    buf += chunk
r = json.loads(buf)
if "error" in r:
    print("error", r["error"]["code"], r["error"]["message"]); sys.exit(1)
print(json.dumps(r["result"], sort_keys=True))
PY
}
# the state of kms.c.example in a.example's external.list ("absent" when not listed)
state() {
	rpc external.list '{"domain":"a.example"}' | python3 -c '
import json, sys
e = [x for x in json.load(sys.stdin)["external"] if x["kms_uri"] == "kms.c.example"]
print(e[0]["state"] if e else "absent")'
}
LABEL="mcxvault-external/a.example/$(printf 'kms.c.example' | sha256sum | cut -c1-16)"
MARKER="$LABEL/revoked"
CERT_SHA=$(python3 -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$C_DIR/c.xml")
markers() { $P11 --list-objects --type data 2>/dev/null | grep -c "label: *'$MARKER'\$"; }
# writes a marker object (vaultd stopped): JSON value
write_marker() {
	printf '%s' "$1" > "$A_DIR/marker.json"
	$P11 --write-object "$A_DIR/marker.json" --type data --label "$MARKER" --private >/dev/null 2>&1
}
stop_a() { HARNESS_PID=$A_PID; harness_stop; A_PID=; }
start_a() { harness_start && A_PID=$HARNESS_PID; }
import_c() { $V external import a.example "$C_DIR/c.xml" "$C_DIR/c.pem" >/dev/null; }

import_c
check "setup: a.example trusts kms.c.example" "[ \"\$(state)\" = trusted ]"
xml_sha=$CERT_SHA

# --- a marker for the stored certificate: revoked at start ---------------------------
stop_a
write_marker "{\"kms_uri\":\"kms.c.example\",\"revoked_at\":1795455840,\"reason\":\"cessationOfOperation\",\"cert_sha256\":\"$xml_sha\"}"
check "pkcs11-tool wrote one marker" "[ \"\$(markers)\" = 1 ]"
start_a
check "a marker for the stored certificate: revoked at start" "[ \"\$(state)\" = revoked ]"
out=$(rpc external.list '{"domain":"a.example"}')
check "… with its time and reason" "echo '$out' | grep -q '\"revocation_reason\": \"cessationOfOperation\"' && echo '$out' | grep -q '\"revoked_at\": \"2026-11-23T17:44:00Z\"'"
out=$(rpc external.revoke '{"domain":"a.example","kms_uri":"kms.c.example","reason":"superseded"}'); rc=$?
check "revoking it again is -32003 and names the first revocation" "[ $rc -eq 1 ] && echo '$out' | grep -q -- '-32003.*2026-11-23T17:44:00Z (cessationOfOperation)'"

# --- external.remove deletes the entry and its marker --------------------------------
check "external.remove of a revoked entry" "rpc external.remove '{\"domain\":\"a.example\",\"kms_uri\":\"kms.c.example\"}' | grep -q '\"removed\": true'"
check "… deletes its marker from the token" "[ \"\$(markers)\" = 0 ]"
check "… and the KMS is unknown" "[ \"\$(state)\" = absent ]"

# --- a marker of another certificate: ignored -----------------------------------------
import_c
stop_a
write_marker '{"kms_uri":"kms.c.example","revoked_at":1795455840,"reason":"keyCompromise","cert_sha256":"00000000000000000000000000000000000000000000000000000000000000ff"}'
ignored_before=$(grep -c 'revokes no stored certificate: ignored' "$A_DIR/vaultd.log")
start_a
check "a marker of another certificate of the KMS revokes nothing" "[ \"\$(state)\" = trusted ]"
check "… and says so in the log" "[ \$(grep -c 'revokes no stored certificate: ignored' '$A_DIR/vaultd.log') -gt $ignored_before ]"

# --- a leftover of an interrupted remove: the next import deletes it ------------------
rpc external.remove '{"domain":"a.example","kms_uri":"kms.c.example"}' >/dev/null
check "the stale marker stays while the KMS is not imported" "[ \"\$(markers)\" = 1 ]"
stop_a
$P11 --delete-object --type data --label "$MARKER" >/dev/null 2>&1
write_marker "{\"kms_uri\":\"kms.c.example\",\"revoked_at\":1795455840,\"reason\":\"keyCompromise\",\"cert_sha256\":\"$xml_sha\"}"
start_a
check "a leftover marker for a KMS not imported: vaultd starts, the KMS is unknown" "[ \"\$(state)\" = absent ]"
import_c
check "importing the same certificate again deletes the leftover marker" "[ \"\$(markers)\" = 0 ]"
HARNESS_PID=$A_PID
harness_restart KILL && A_PID=$HARNESS_PID
check "… so it is trusted after a restart too" "[ \"\$(state)\" = trusted ]"

# --- an unreadable marker: logged, ignored ---------------------------------------------
stop_a
write_marker '{"kms_uri":"kms.c.example","reason":"keyCompromise"}'
start_a
check "an unreadable marker is ignored (trusted)" "[ \"\$(state)\" = trusted ]"
check "… with an error in the log" "grep -q 'revocation marker .* is unreadable' '$A_DIR/vaultd.log'"
out=$(rpc external.revoke '{"domain":"a.example","kms_uri":"kms.c.example","reason":"keyCompromise"}'); rc=$?
check "revoking again works over it" "[ $rc -eq 0 ] && [ \"\$(state)\" = revoked ]"
HARNESS_PID=$A_PID
harness_restart TERM && A_PID=$HARNESS_PID
check "… and survives a restart (the readable marker wins)" "[ \"\$(state)\" = revoked ]"

out=$($V audit verify 2>&1); rc=$?
check "the audit log verifies: $out" "[ $rc -eq 0 ]"
HARNESS_PID=$A_PID
harness_stop
A_PID=
check "no sanitizer report in vaultd's log" "! grep -qE 'Sanitizer|runtime error' '$A_DIR/vaultd.log'"
checks_summary kms-revoke-token
