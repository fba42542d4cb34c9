#!/bin/bash
# Audit that fails closed *before* acting (issue 9, part 3): with the audit
# log on a full file system, every audited state-changing method answers
# -32008 and changes nothing, in the token or in the GMS store; on a nearly
# full one each call either succeeds with its intent record on disk, or
# answers -32008 and changes nothing.  Space freed: the vault serves again,
# a restart re-reads the same state from the token and store, and the log
# verifies.  Needs root (a small tmpfs); skipped otherwise.
# Ends with "audit-full-disk: N passed, N failed".
#
# SPDX-License-Identifier: Apache-2.0
set -u
. "$(dirname "$0")/../lib/harness.sh"

. "$(dirname "$0")/../lib/checks.sh"

FS= C_DIR= C_PID= A_DIR= A_PID=
cleanup() {
	if [ -n "$C_DIR" ]; then HARNESS_DIR=$C_DIR HARNESS_PID=$C_PID harness_cleanup; fi
	HARNESS_DIR=$A_DIR HARNESS_PID=$A_PID
	harness_stop
	[ -n "$FS" ] && mountpoint -q "$FS" 2>/dev/null && umount "$FS"
	harness_cleanup
}
trap cleanup EXIT

if [ "$(id -u)" -ne 0 ]; then
	echo "skipped - the full-disk tests need root to mount a small tmpfs"
	echo "audit-full-disk: 0 passed, 0 failed, 1 skipped"
	exit 0
fi
V="$B/vaultctl"

# vault C (domain c.example, no audit): a partner whose KMS certificate a.example imports
HARNESS_AUDIT=off harness_setup || { echo "audit-full-disk: 0 passed, 1 failed"; exit 1; }
C_DIR=$HARNESS_DIR
sed -i 's/a\.example/c.example/g; s/b\.example/d.example/g' "$HARNESS_DIR/vault.conf"
HARNESS_AUDIT=off harness_start || { echo "audit-full-disk: 0 passed, 1 failed"; exit 1; }
C_PID=$HARNESS_PID C_SOCK=$MCXVAULT_SOCKET
$V -s "$C_SOCK" domain init c.example >/dev/null
$V -s "$C_SOCK" cert show c.example --xml > "$C_DIR/c.xml"
$V -s "$C_SOCK" pubkey c.example --purpose cert > "$C_DIR/c.pem"
$V -s "$C_SOCK" pubkey c.example --purpose token > "$C_DIR/c-token.pem"

# vault A: the audit log alone on a 256 KiB tmpfs, the GMS store and token on the disk
HARNESS_DIR=
harness_setup || { echo "audit-full-disk: 0 passed, 1 failed"; exit 1; }
A_DIR=$HARNESS_DIR
FS="$HARNESS_DIR/auditfs"
mkdir -p "$FS"
if ! mount -t tmpfs -o size=256k,mode=0755 tmpfs "$FS" 2>/dev/null; then
	FS=
	echo "skipped - cannot mount a tmpfs here"
	echo "audit-full-disk: 0 passed, 0 failed, 1 skipped"
	exit 0
fi
HARNESS_AUDIT="$FS/audit.jsonl" HARNESS_GMS_STORE="$HARNESS_DIR/gms.sqlite" harness_write_config
harness_start || { echo "audit-full-disk: 0 passed, 1 failed"; exit 1; }
A_PID=$HARNESS_PID
AUDIT="$FS/audit.jsonl"

# raw JSON-RPC for the methods vaultctl has no command for; prints the result
# or "error CODE message", exits 1 on an error
rpc() {   # METHOD JSON-PARAMS
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

# Everything the methods below can change: the token's keys (through the
# vault's index), external trust, groups and server keys in the store.
state() {
	$V key list a.example; $V key list b.example
	$V external list a.example | cut -d' ' -f1
	rpc external.list '{"domain":"a.example"}'   # with the revocation state
	$V gmk show a.example sip:g1@a.example --json 2>&1 | grep -v '"created"'
	$V gmk list a.example 2>&1
	rpc server_key.list '{"domain":"a.example"}' | sed 's/"created": "[^"]*"//g'
}
# Every object in the token, listed by an outside PKCS#11 client.
token_objects() {
	pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so \
		--token-label mcx-vault --login --pin 1234 --list-objects 2>/dev/null | grep -E '^ *label:' | sort
}
SK='"domain":"a.example","server_uri":"sip:mcptt@a.example","purpose":"csk"'

$V domain init a.example >/dev/null
# version 1 of every purpose verify-only, so that each can be retired
for p in sign cert token; do $V key rotate a.example $p >/dev/null; done
$V gmk create a.example sip:g1@a.example >/dev/null
$V external import a.example "$C_DIR/c.xml" "$C_DIR/c.pem" --token-key "$C_DIR/c-token.pem" >/dev/null
rpc server_key.create "{$SK}" >/dev/null
check "setup: a domain with keys, a group, a trusted partner and a server key" \
	"$V external list a.example | grep -q kms.c.example && rpc server_key.list '{\"domain\":\"a.example\"}' | grep -q csk"

# Each state-changing method once: NAME and the command that calls it.
calls() {
	cat <<'EOT'
domain.init|$V domain init b.example
domain.upgrade|$V domain upgrade a.example
key.rotate sign|$V key rotate a.example sign
key.rotate cert|$V key rotate a.example cert
key.rotate token|$V key rotate a.example token
key.rotate kms|$V key rotate a.example kms
key.retire sign|$V key retire a.example sign 1
key.retire cert|$V key retire a.example cert 1
key.retire token|$V key retire a.example token 1
external.revoke|rpc external.revoke '{"domain":"a.example","kms_uri":"kms.c.example","reason":"superseded"}'
external.remove|$V external remove a.example kms.c.example
external.import|$V external import b.example "$C_DIR/c.xml" "$C_DIR/c.pem" --token-key "$C_DIR/c-token.pem"
gmk.create|$V gmk create a.example sip:g2@a.example
gmk.rekey|$V gmk rekey a.example sip:g1@a.example
gmk.revoke|$V gmk revoke a.example sip:g1@a.example
server_key.create|rpc server_key.create '{"domain":"a.example","server_uri":"sip:mcdata@a.example","purpose":"csk"}'
server_key.rekey|rpc server_key.rekey "{$SK}"
server_key.revoke|rpc server_key.revoke "{$SK}"
EOT
}

fill_disk() { dd if=/dev/zero of="$FS/fill.$1" bs=4k 2>/dev/null; sync; }

# --- a full file system: -32008 and nothing changed ---------------------------------
sleep 1.2                                   # let the setup records be sealed
dd if=/dev/zero of="$FS/pad" bs=4k count=2 2>/dev/null
fill_disk 1
# the log's last page still has room: sign (no state change) until it is gone
printf 'm' > "$A_DIR/m"
for i in $(seq 1 100); do $V sign a.example "$A_DIR/m" >/dev/null 2>&1 || break; done
check "a full file system refuses sign.sign (after $i calls used the log's last page)" "! $V sign a.example '$A_DIR/m' >/dev/null 2>&1"
before_state=$(state); before_objects=$(token_objects)
check "the outside look lists the token's objects ($(echo "$before_objects" | grep -c label))" \
	"echo \"\$before_objects\" | grep -q 'mcxvault/a.example/token/2'"
while IFS='|' read -r name cmd; do
	out=$(eval "$cmd" 2>&1); rc=$?
	check "full disk: $name answers -32008" "[ $rc -eq 1 ] && echo '$out' | grep -q '32008'"
	check "full disk: $name changed nothing" "[ \"\$(state)\" = \"\$before_state\" ]"
done <<EOT
$(calls)
EOT
check "full disk: the token holds exactly the objects it held before" "[ \"\$(token_objects)\" = \"\$before_objects\" ]"

# --- nearly full: each call is either done and written ahead, or refused and undone ---
rm -f "$FS/pad"                             # 8 KiB free: room for some records, not all
done_calls=0 refused=0 inconsistent=0
for round in 1 2 3; do
	while IFS='|' read -r name cmd; do
		seen_before=$(grep -c '"type":"intent"' "$AUDIT")
		before=$(state)
		out=$(eval "$cmd" 2>&1); rc=$?
		if [ $rc -eq 0 ]; then
			done_calls=$((done_calls + 1))
			[ "$(grep -c '"type":"intent"' "$AUDIT")" -gt "$seen_before" ] || inconsistent=$((inconsistent + 1))
		elif echo "$out" | grep -q 32008; then
			refused=$((refused + 1))
			[ "$(state)" = "$before" ] || inconsistent=$((inconsistent + 1))
		fi
	done <<EOT
$(calls)
EOT
done
check "nearly full: some calls were done ($done_calls) and the rest refused ($refused)" "[ $done_calls -gt 0 ] && [ $refused -gt 0 ]"
check "nearly full: every call done had its intent on disk first, every refusal changed nothing" "[ $inconsistent -eq 0 ]"
intents=$(grep -c '"type":"intent"' "$AUDIT")
outcomes=$(grep '"type":"call"' "$AUDIT" | grep -c '"intent":')
check "every outcome names its intent record ($outcomes of $intents intents have one)" "[ $outcomes -le $intents ] && [ $outcomes -gt 0 ]"

# --- space again: service, restart, the same state from the token and store ----------
rm -f "$FS"/fill.*
check "with space again the vault serves state changes" "$V key rotate a.example >/dev/null"
sleep 1.2
after_state=$(state)
harness_restart TERM
A_PID=$HARNESS_PID
check "after a restart the token and store hold what the vault said" "[ \"\$(state)\" = \"\$after_state\" ]"
out=$($V audit verify 2>&1); rc=$?
check "the log written around the full disk verifies: $out" "[ $rc -eq 0 ]"

harness_stop
check "no sanitizer report in vaultd's log" "! grep -qE 'Sanitizer|runtime error' '$HARNESS_DIR/vaultd.log'"
echo "audit-full-disk: $pass passed, $fail failed${skip:+, $skip skipped}"
[ "$fail" -eq 0 ]
