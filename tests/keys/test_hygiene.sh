#!/bin/bash
# mcxvault: key hygiene (issue 13) against a real vaultd with
#   keys = { destroy_delay = 3; warn_age = 1; cert_warn = <10 years>; };
#   - key.retire schedules the destruction: the version stays verify-only,
#     its private key stays in the token (pkcs11-tool), its signatures verify;
#   - key.cancel_retire keeps it; a repeated key.retire keeps the first date;
#   - a schedule is carried out by vaultd itself after the delay: retired,
#     private key gone, public key still served, old signatures still verify,
#     intent and outcome records in the audit log, which verifies intact;
#   - a schedule survives SIGTERM and SIGKILL (read from the token's meta
#     object with vaultd stopped) and fires after the restart;
#   - key.retire --now destroys at once;
#   - while the audit log cannot be written, a due destruction waits;
#   - errors: -32006 (cancel of an unscheduled or retired version), -32002
#     (unknown version), -32001 (a caller without admin);
#   - warnings in the log for old keys and the KMS certificate; vaultctl
#     health takes its limits from the vault.
#
#   B=build bash tests/keys/test_hygiene.sh
#
# SPDX-License-Identifier: Apache-2.0
. "$(dirname "$0")/../lib/harness.sh"

pass=0
failed=0
skip=0
ok() { echo "ok - $1"; pass=$((pass + 1)); }
not_ok() { echo "FAIL - $1"; failed=$((failed + 1)); }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }
finish() {
	if [ "$skip" -gt 0 ]; then
		echo "hygiene: $pass passed, $failed failed, $skip skipped"
	else
		echo "hygiene: $pass passed, $failed failed"
	fi
	[ "$failed" -eq 0 ]
	exit $?
}

trap harness_cleanup EXIT

D=a.example
V="$B/vaultctl"
P11="pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so --token-label mcx-vault --login --pin 1234"

harness_setup || { not_ok "harness set-up"; finish; }
# a caller with only the signer role, for the permission check (it runs
# with vaultd's gid, so the 0660 socket lets it connect)
HARNESS_EXTRA_ACCESS=", { user = \"nobody\"; roles = [ \"signer\" ]; domains = [ \"$D\" ]; }"
harness_write_config
export MCXVAULT_TEST_AUDIT_READONLY="$HARNESS_DIR/audit-readonly"   # exists: audit writes fail
echo "keys = { destroy_delay = 3; warn_age = 1; cert_warn = $((3650 * 86400)); };" >> "$HARNESS_DIR/vault.conf"
harness_start || { not_ok "vaultd starts with a keys group"; finish; }
ok "vaultd starts with a keys group"
T="$HARNESS_DIR"
AUDIT="$HARNESS_AUDIT_FILE"

# helpers ------------------------------------------------------------------------
# the token's private key labels, read from outside vaultd
private_keys() { $P11 --list-objects --type privkey 2>/dev/null | sed -n "s/^  label: *//p" | tr -d "'"; }
has_private() { private_keys | grep -qx "mcxvault/$D/sign/$1"; }
# a field (state or destroy_at; "null": none) of sign version $1, from
# `vaultctl key list`: PURPOSE VERSION STATE CREATED KID [DESTROY AT]
field() {
	"$V" key list $D | awk -v v="$1" -v f="$2" '$1 == "sign" && $2 == v {
		if (f == "state") print $3
		else print (NF >= 6 && $6 != "-") ? $6 : "null"
	}'
}
# how many meta objects the token holds for a version
meta_count() { $P11 --list-objects --type data 2>/dev/null | sed -n "s/^  label: *//p" | tr -d "'" | grep -cx "mcxvault/$D/sign/$1/meta"; }
# the meta object of a version as the token holds it
meta() { $P11 --read-object --type data --label "mcxvault/$D/sign/$1/meta" 2>/dev/null; }
# waits up to $2 seconds (default 15) for version $1 to become retired, making no call
wait_retired() {
	i=0
	until grep -q "$D/sign/$1 destroyed as scheduled" "$T/vaultd.log"; do
		i=$((i + 1))
		[ $i -gt $((${2:-15} * 10)) ] && return 1
		sleep 0.1
	done
}
# the RPC code vaultctl reports on stderr for a failed call
rpc_code() { "$@" 2>&1 >/dev/null | sed -n 's/.*code \(-[0-9]*\)).*/\1/p'; }

printf 'hygiene test data\n' > "$T/data"
"$V" domain init $D >/dev/null || not_ok "domain init"
sig1=$("$V" sign $D "$T/data" | awk '{ print $2 }')
"$V" key rotate $D >/dev/null || not_ok "rotate to version 2"

# --- scheduling ------------------------------------------------------------------
out=$("$V" key retire $D sign 1 2>&1)
check "key retire prints the schedule" "echo \"\$out\" | grep -Eq 'version 1 is verify-only; its destruction is scheduled for [0-9T:-]+Z'"
check "key.retire's result: verify-only with destroy_at" \
	"[ \"\$(field 1 state)\" = verify-only ] && [ \"\$(field 1 destroy_at)\" != null ]"
check "key list shows a DESTROY AT column for the scheduled version" \
	"\"\$V\" key list $D | grep -q 'DESTROY AT' && \"\$V\" key list $D | grep -Eq '^sign +1 +verify-only .* [0-9T:-]+Z\$'"
check "domain show shows destroy_at" \
	"\"\$V\" --json domain show $D | tr -d ' \n' | grep -Eq '\"kid\":\"$D/sign/1\",\"destroy_at\":\"[0-9T:-]+Z\"'"
check "the scheduled version's private key is still in the token" "has_private 1"
check "a signature of the scheduled version still verifies" \
	"\"\$V\" verify $D --kid $D/sign/1 -- '$sig1' '$T/data' | grep -q '^valid $D/sign/1\$'"
first=$(field 1 destroy_at)
sleep 1
"$V" key retire $D sign 1 >/dev/null 2>&1
check "a repeated key retire keeps the first date (no postponement)" "[ \"\$(field 1 destroy_at)\" = '$first' ]"

# --- cancel ----------------------------------------------------------------------
check "key cancel-retire" "\"\$V\" key cancel-retire $D sign 1 | grep -q 'scheduled destruction is cancelled'"
check "after the cancel: verify-only, no destroy_at" \
	"[ \"\$(field 1 state)\" = verify-only ] && [ \"\$(field 1 destroy_at)\" = null ]"
check "key list without schedules has no DESTROY AT column" "! \"\$V\" key list $D | grep -q 'DESTROY AT'"
sleep 5
check "5 s after the cancel: still verify-only" "[ \"\$(field 1 state)\" = verify-only ]"
check "5 s after the cancel: the private key is still in the token" "has_private 1"
check "5 s after the cancel: the signature still verifies" \
	"\"\$V\" verify $D --kid $D/sign/1 -- '$sig1' '$T/data' | grep -q '^valid'"

# --- a schedule carried out by vaultd itself -------------------------------------
"$V" key retire $D sign 1 >/dev/null || not_ok "second schedule of version 1"
check "vaultd destroyed version 1 after the delay, without any call" "wait_retired 1"
check "key list: version 1 retired, no destroy_at" \
	"[ \"\$(field 1 state)\" = retired ] && [ \"\$(field 1 destroy_at)\" = null ]"
check "version 1's private key is gone from the token" "! has_private 1 && private_keys | grep -qx mcxvault/$D/sign/2"
check "version 1's public key is still served" "\"\$V\" pubkey $D --version 1 | grep -q 'BEGIN PUBLIC KEY'"
check "version 1's old signature still verifies" \
	"\"\$V\" verify $D --kid $D/sign/1 -- '$sig1' '$T/data' | grep -q '^valid $D/sign/1\$'"
intent=$(grep '"type":"intent"' "$AUDIT" | grep '"method":"key.retire"' | grep '"destroy_at":' | tail -n 1)
check "audit: an intent record of the automatic destruction (vaultd's pid, no role)" \
	"echo '$intent' | grep -q '\"caller\":{\"pid\":$HARNESS_PID,\"roles\":\[\]'"
seq=$(echo "$intent" | sed -n 's/.*"seq":\([0-9]*\).*/\1/p')
check "audit: its outcome record, ok, naming the intent ($seq)" \
	"grep '\"subject\":\"vaultd: scheduled destruction' '$AUDIT' | grep '\"intent\":$seq,' | grep '\"outcome\":\"ok\"' | grep -q '\"purpose\":\"sign\",\"version\":1}'"
check "audit verify: intact" "harness_audit_verify >/dev/null"

# --- a schedule survives SIGTERM and fires after the restart ---------------------
"$V" key rotate $D >/dev/null   # 3 active, 2 verify-only
"$V" key retire $D sign 2 >/dev/null || not_ok "schedule version 2"
kill -TERM "$HARNESS_PID"; wait "$HARNESS_PID"; rc=$?; HARNESS_PID=
check "SIGTERM right after scheduling: vaultd exits 0" "[ $rc -eq 0 ]"
check "the token's meta of version 2 holds the schedule (rev, destroy_at)" \
	"meta 2 | grep -q '\"state\":\"verify-only\"' && meta 2 | grep -q '\"destroy_at\":' && meta 2 | grep -q '\"rev\":'"
check "version 2's private key is still there while vaultd is stopped" "has_private 2"
sleep 4
harness_start || { not_ok "restart after SIGTERM"; finish; }
check "after the SIGTERM restart the overdue schedule fires" "wait_retired 2"
check "... version 2 retired, its private key gone" "[ \"\$(field 2 state)\" = retired ] && ! has_private 2"

# --- ... and SIGKILL -------------------------------------------------------------
"$V" key rotate $D >/dev/null   # 4 active, 3 verify-only
sig3=$("$V" sign $D "$T/data" | awk '{ print $2 }')   # by version 4
"$V" key rotate $D >/dev/null   # 5 active, 4 verify-only
"$V" key retire $D sign 4 >/dev/null || not_ok "schedule version 4"
kill -KILL "$HARNESS_PID"; wait "$HARNESS_PID" 2>/dev/null; HARNESS_PID=
# the metas a change replaced are destroyed by vaultd's housekeeping once
# changes are quiet for 0.5 s, off the request path (vault/keys/keystore.c):
# killed right after the demotion and the schedule, the token may hold up to
# three metas of version 4; start-up keeps the highest state and rev
check "after SIGKILL the token holds version 4's metas (the new one and up to two it replaced)" \
	"n=\$(meta_count 4); [ \"\$n\" -ge 1 ] && [ \"\$n\" -le 3 ]"
harness_start || { not_ok "restart after SIGKILL"; finish; }
check "after the SIGKILL restart version 4 is still verify-only with its schedule" \
	"[ \"\$(field 4 state)\" = verify-only ] && [ \"\$(field 4 destroy_at)\" != null ] || grep -q '$D/sign/4 destroyed as scheduled' '$T/vaultd.log'"
check "... and the schedule fires" "wait_retired 4"
# the metas replaced by the schedule and the destruction: gone within a few seconds
meta_settles() { i=0; until [ "$(meta_count 4)" -eq 1 ]; do i=$((i + 1)); [ $i -gt 50 ] && return 1; sleep 0.1; done; }
check "exactly one meta object for version 4 once vaultd's housekeeping ran" "meta_settles"
check "... version 4's signature still verifies after its destruction" \
	"\"\$V\" verify $D --kid $D/sign/4 -- '$sig3' '$T/data' | grep -q '^valid $D/sign/4\$'"

# --- --now -----------------------------------------------------------------------
out=$("$V" key retire $D sign 3 --now 2>&1)
check "key retire --now destroys at once" "echo \"\$out\" | grep -q 'version 3 is retired'"
check "... retired, private key gone, no schedule" \
	"[ \"\$(field 3 state)\" = retired ] && [ \"\$(field 3 destroy_at)\" = null ] && ! has_private 3"
check "... its intent record says the delay was bypassed (now)" \
	"grep '\"type\":\"intent\"' '$AUDIT' | grep '\"method\":\"key.retire\"' | grep '\"now\":1' | grep -q '\"version\":3'"

# --- errors ----------------------------------------------------------------------
"$V" key rotate $D >/dev/null   # 6 active, 5 verify-only, unscheduled
check "cancel of an unscheduled version: -32006" "[ \"\$(rpc_code \"\$V\" key cancel-retire $D sign 5)\" = -32006 ]"
check "cancel of a retired version: -32006" "[ \"\$(rpc_code \"\$V\" key cancel-retire $D sign 1)\" = -32006 ]"
check "cancel of the active version: -32006" "[ \"\$(rpc_code \"\$V\" key cancel-retire $D sign 6)\" = -32006 ]"
check "cancel of an unknown version: -32002" "[ \"\$(rpc_code \"\$V\" key cancel-retire $D sign 99)\" = -32002 ]"
check "retire of an unknown version: -32002" "[ \"\$(rpc_code \"\$V\" key retire $D sign 99)\" = -32002 ]"
check "retire of the active version: -32006" "[ \"\$(rpc_code \"\$V\" key retire $D sign 6)\" = -32006 ]"
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	"$V" key retire $D sign 5 >/dev/null   # scheduled: the denied cancel must not touch it
	code=$(rpc_code setpriv --reuid=nobody --regid="$(id -g)" --clear-groups "$V" key cancel-retire $D sign 5)
	check "cancel by a caller without admin: -32001" "[ '$code' = -32001 ]"
	code=$(rpc_code setpriv --reuid=nobody --regid="$(id -g)" --clear-groups "$V" key retire $D sign 5 --now)
	check "retire --now by a caller without admin: -32001" "[ '$code' = -32001 ]"
	check "... the schedule of version 5 is untouched" "[ \"\$(field 5 destroy_at)\" != null ] || grep -q '$D/sign/5 destroyed as scheduled' '$T/vaultd.log'"
else
	echo "skipped - the permission checks need root to run a client as nobody"
	skip=$((skip + 1))
fi

# --- an unwritable audit log holds a due destruction back -----------------------
"$V" key rotate $D >/dev/null   # 7 active, 6 verify-only
"$V" key retire $D sign 6 >/dev/null || not_ok "schedule version 6"
touch "$T/audit-readonly"   # version 5 may be due too (scheduled in the permission checks)
sleep 6
check "audit log unwritable: the due version 6 is not destroyed" "[ \"\$(field 6 state)\" = verify-only ] && has_private 6"
check "... and vaultd says why" \
	"grep -Eq 'cannot destroy $D/sign/[56] as scheduled: the audit log cannot be written' '$T/vaultd.log'"
rm -f "$T/audit-readonly"
harness_restart || not_ok "restart once the audit log is writable"
check "... once the log is writable again it is carried out" "wait_retired 6"
check "... with its intent and outcome records" \
	"grep '\"type\":\"intent\"' '$AUDIT' | grep '\"method\":\"key.retire\"' | grep '\"destroy_at\":' | grep -q '\"version\":6' &&
	 grep '\"subject\":\"vaultd: scheduled destruction' '$AUDIT' | grep '\"outcome\":\"ok\"' | grep -q '\"version\":6}'"

# --- warnings and health ---------------------------------------------------------
sleep 2   # keys.warn_age = 1: version 7 (rotated just now) must be older than that
harness_restart || not_ok "restart for the warnings"
i=0
until grep -q 'older than keys.warn_age' "$T/vaultd.log" || [ $i -gt 50 ]; do sleep 0.1; i=$((i + 1)); done
check "vaultd warns about active keys older than keys.warn_age" \
	"grep -q 'key $D/sign/7 is active since .*older than keys.warn_age' '$T/vaultd.log'"
check "vaultd warns about the KMS certificate within keys.cert_warn" \
	"grep -q 'KMS certificate of $D (generation 1) expires .*within keys.cert_warn' '$T/vaultd.log'"
check "the warnings are not repeated per request" \
	"n=\$(grep -c 'key $D/sign/7 is active since' '$T/vaultd.log'); \"\$V\" key list $D >/dev/null; sleep 3; [ \$(grep -c 'key $D/sign/7 is active since' '$T/vaultd.log') -eq \$n ]"
check "key.list exposes the vault's limits (hygiene)" \
	"\"\$V\" --json key list $D | tr -d ' \n' | grep -q '\"hygiene\":{\"destroy_delay\":3,\"warn_age\":1,\"cert_warn\":$((3650 * 86400))}'"
"$V" health > "$T/health" 2>&1; rc=$?
check "vaultctl health takes warn_age from the vault: warning (exit 3)" \
	"[ $rc -eq 3 ] && grep -q 'sign key version 7 is 0 days old (rotate it' '$T/health'"
check "... and cert_warn: the certificate is within it" "grep -q 'KMS certificate valid for .*(rotate' '$T/health'"
"$V" health --key-age 365 --cert-days 1 > "$T/health" 2>&1
check "explicit --key-age/--cert-days override the vault's limits" "! grep -q '(rotate' '$T/health'"

check "audit verify: intact at the end" "harness_audit_verify >/dev/null"
finish
