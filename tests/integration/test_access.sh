#!/bin/sh
# mcxvault integration: who may call what, configuration reload and checking,
# and the socket's ownership — against a real vaultd on a fresh SoftHSM token.
#
#   - callers without an entry, limited to one domain, signer only (run as
#     other users with setpriv; needs root, skipped visibly otherwise)
#   - SIGHUP: a changed access list takes effect; a broken file is refused,
#     the running configuration kept and the error logged
#   - vaultd -t -c FILE reports FILE:LINE: reason for each kind of mistake
#   - a second vaultd on the same socket is refused; a stale socket file left
#     by a killed vaultd is replaced
#   - with the audit log on (production): a SIGTERM restart applies the access
#     list of the file; after the SIGTERM restart, the refused second vaultd
#     and the SIGKILL the domains and keys are unchanged and the log verifies
#
#   B=build sh tests/integration/test_access.sh
#
# SPDX-License-Identifier: Apache-2.0
. "$(dirname "$0")/lib.sh"

it_begin integration-access

# nobody: signer+auditor on b.example only; uid 2 (bin): signer everywhere;
# uid 1 (daemon) matches no entry.
NOBODY_ROLES='"signer", "auditor"'
access_entries() {
	HARNESS_EXTRA_ACCESS=",
  { user = \"nobody\"; roles = [ $NOBODY_ROLES ]; domains = [ \"b.example\" ]; },
  { uid = 2; roles = [ \"signer\" ]; }"
	export HARNESS_EXTRA_ACCESS
}
access_entries
harness_write_config
it_start || it_end
check "domain.init a.example" vctl domain init a.example >/dev/null
check "domain.init b.example" vctl domain init b.example >/dev/null

is_root=0
[ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null 2>&1 && is_root=1

# Other users reach the socket through its group (0660, group nogroup) — never
# by making it world-writable, which vaultd refuses.
as_user() { # USER COMMAND...
	it_u=$1
	shift
	setpriv --reuid="$it_u" --regid=nogroup --clear-groups -- "$@"
}
if [ $is_root -eq 1 ]; then
	chgrp nogroup "$MCXVAULT_SOCKET"
	echo "data signed by nobody" > "$HARNESS_DIR/nobody.txt"
	chmod 644 "$HARNESS_DIR/nobody.txt"

	it_run_c --as daemon "$IT/itest_rpc" unknown
	it_run_c --as nobody "$IT/itest_rpc" limited
	it_run_c --as bin "$IT/itest_rpc" signer
	check "vaultctl as an unknown caller: status works" as_user daemon "$B/vaultctl" status >/dev/null
	as_user daemon "$B/vaultctl" domain list >/dev/null 2>"$HARNESS_DIR/err"
	check "vaultctl as an unknown caller: domain list is -32001" grep -q 'code -32001' "$HARNESS_DIR/err"
else
	skip "permission tests: not root, cannot run clients as other users"
fi

# --- SIGHUP reload ---------------------------------------------------------
# wait_for SECONDS COMMAND...: until the command succeeds
wait_for() {
	it_w=$(( $1 * 10 ))
	shift
	while [ $it_w -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		it_w=$((it_w - 1))
	done
	return 1
}
nobody_signs() { as_user nobody "$B/vaultctl" sign b.example "$HARNESS_DIR/nobody.txt" >/dev/null 2>&1; }
nobody_denied() {
	as_user nobody "$B/vaultctl" sign b.example "$HARNESS_DIR/nobody.txt" >/dev/null 2>"$HARNESS_DIR/err"
	[ $? -ne 0 ] && grep -q 'code -32001' "$HARNESS_DIR/err"
}
log_has() { grep -q -- "$1" "$HARNESS_DIR/vaultd.log"; }
reloads() { grep -c 'configuration reloaded' "$HARNESS_DIR/vaultd.log"; }
failures() { grep -c 'reload failed' "$HARNESS_DIR/vaultd.log"; }

if [ $is_root -eq 1 ]; then
	check "before reload: nobody may sign in b.example" nobody_signs

	# remove nobody's signer role
	NOBODY_ROLES='"auditor"'
	access_entries
	harness_write_config
	n=$(reloads)
	kill -HUP "$HARNESS_PID"
	check "SIGHUP: vaultd logs the reload" wait_for 5 eval '[ "$(reloads)" -gt "$n" ]'
	check "SIGHUP: the removed role takes effect (sign -> -32001)" wait_for 5 nobody_denied
	check "SIGHUP: the remaining role still works" as_user nobody "$B/vaultctl" domain list >/dev/null
	check "SIGHUP: the socket keeps its group" [ "$(stat -c %G "$MCXVAULT_SOCKET")" = nogroup ]

	# a broken file (syntax error) that would give the role back: refused, logged
	NOBODY_ROLES='"signer", "auditor"'
	access_entries
	harness_write_config
	cp "$HARNESS_DIR/vault.conf" "$HARNESS_DIR/good.conf"
	printf 'server = {\n  workers = ;\n' > "$HARNESS_DIR/vault.conf"
	n=$(failures)
	kill -HUP "$HARNESS_PID"
	check "broken reload (syntax): error logged" wait_for 5 eval '[ "$(failures)" -gt "$n" ]'
	check "broken reload (syntax): the log names FILE:LINE" log_has "vault.conf:2: "
	check "broken reload (syntax): old configuration kept (nobody still denied)" nobody_denied
	check "broken reload (syntax): vaultd still serves" vctl status >/dev/null

	# a valid-looking file with an unknown role: refused as a whole
	sed 's/"auditor" \]; domains/"auditor", "wizard" ]; domains/' "$HARNESS_DIR/good.conf" > "$HARNESS_DIR/vault.conf"
	n=$(failures)
	kill -HUP "$HARNESS_PID"
	check "broken reload (unknown role): error logged" wait_for 5 eval '[ "$(failures)" -gt "$n" ]'
	check "broken reload (unknown role): the log names the role" log_has "unknown role 'wizard'"
	check "broken reload (unknown role): old configuration kept" nobody_denied

	# and a good file afterwards is taken
	cp "$HARNESS_DIR/good.conf" "$HARNESS_DIR/vault.conf"
	kill -HUP "$HARNESS_PID"
	check "reload after failed ones: the role is back" wait_for 5 nobody_signs
else
	skip "SIGHUP role change: not root, cannot run clients as other users"
	n=$(failures)
	printf 'server = {\n  workers = ;\n' > "$HARNESS_DIR/vault.conf"
	kill -HUP "$HARNESS_PID"
	check "broken reload (syntax): error logged" wait_for 5 eval '[ "$(failures)" -gt "$n" ]'
	check "broken reload (syntax): vaultd still serves" vctl status >/dev/null
	harness_write_config
fi
check "vaultd survived every reload" kill -0 "$HARNESS_PID"

# --- SIGTERM restart: the file's access list, the same keys ---------------------
it_state "$HARNESS_DIR/state"
it_restart || it_end
it_same_state "SIGTERM restart: domains and keys unchanged" "$HARNESS_DIR/state"
if [ $is_root -eq 1 ]; then
	chgrp nogroup "$MCXVAULT_SOCKET"   # a new socket file: its group again
	check "after the restart the file's access list holds: nobody signs in b.example" nobody_signs
	as_user nobody "$B/vaultctl" sign a.example "$HARNESS_DIR/nobody.txt" >/dev/null 2>"$HARNESS_DIR/err"
	check "... and is refused in a.example (-32001)" grep -q 'code -32001' "$HARNESS_DIR/err"
else
	skip "access list after the restart: not root, cannot run clients as other users"
fi

# --- vaultd -t ---------------------------------------------------------------
# bad_conf FILE: a small valid configuration with knobs for one mistake each:
#   line 3 socket_mode ($MODE), line 4 a server setting ($SERVER_LINE),
#   line 12 the access entry ($ROLE, $ADOM)
bad_conf() {
	cat > "$1" <<EOT
server = {
  socket = "$HARNESS_DIR/check.sock";
  socket_mode = "${MODE:-0660}";
  ${SERVER_LINE:-workers = 2;}
};
hsm = {
  module = "softhsm2";
  token = "pkcs11:token=mcx-vault";
  pin_file = "$HARNESS_DIR/pin";
};
access = (
  { uid = 0; roles = [ "${ROLE:-admin}" ]; ${ADOM:-} }
);
domains = (
  { name = "a.example"; kms_uri = "kms.a.example"; }
);
EOT
}
# conf_error NAME LINE WORD: vaultd -t fails with "FILE:LINE: ...WORD..."
conf_error() {
	it_f="$HARNESS_DIR/$1.conf"
	"$B/vaultd" -t -c "$it_f" > "$HARNESS_DIR/t.out" 2>&1
	it_rc=$?
	if grep -q 'Sanitizer\|runtime error:' "$HARNESS_DIR/t.out"; then
		echo "  # sanitizer report from vaultd -t:"
		sed 's/^/  # /' "$HARNESS_DIR/t.out" | head -40
		return 1
	fi
	if [ $it_rc -eq 1 ] && grep -F "$it_f:$2: " "$HARNESS_DIR/t.out" | grep -q -F -- "$3"; then
		return 0
	fi
	echo "  # vaultd -t exit $it_rc: $(cat "$HARNESS_DIR/t.out")"
	return 1
}

bad_conf "$HARNESS_DIR/good-t.conf"
check "vaultd -t: a good file passes" "$B/vaultd" -t -c "$HARNESS_DIR/good-t.conf" >/dev/null
check "vaultd -t: the sample config/vault.conf passes" "$B/vaultd" -t -c "$HARNESS_ROOT/config/vault.conf" >/dev/null
SERVER_LINE='workers = ;' bad_conf "$HARNESS_DIR/syntax.conf"
check "vaultd -t: syntax error -> FILE:4:" conf_error syntax 4 ""
SERVER_LINE='bogus = 1;' bad_conf "$HARNESS_DIR/unknown.conf"
check "vaultd -t: unknown setting -> FILE:4: names it" conf_error unknown 4 bogus
MODE=0666 bad_conf "$HARNESS_DIR/world.conf"
check "vaultd -t: world-writable socket_mode 0666 -> FILE:3:" conf_error world 3 world-writable
MODE=0602 bad_conf "$HARNESS_DIR/world2.conf"
check "vaultd -t: world-writable socket_mode 0602 -> FILE:3:" conf_error world2 3 world-writable
ROLE=wizard bad_conf "$HARNESS_DIR/role.conf"
check "vaultd -t: unknown role -> FILE:12: names it" conf_error role 12 wizard
ADOM='domains = [ "z.example" ];' bad_conf "$HARNESS_DIR/domain.conf"
check "vaultd -t: unknown domain in an access entry -> FILE:12: names it" conf_error domain 12 z.example
check_not "vaultd -t: a missing file fails" "$B/vaultd" -t -c "$HARNESS_DIR/none.conf" 2>/dev/null
check "vaultd -t left no socket behind" [ ! -e "$HARNESS_DIR/check.sock" ]

# --- one vaultd per socket -----------------------------------------------------
harness_write_config
"$B/vaultd" -f -c "$HARNESS_DIR/vault.conf" > "$HARNESS_DIR/second.log" 2>&1 &
second=$!
it_track "$second"
second_gone() { ! kill -0 "$second" 2>/dev/null; }
check "a second vaultd on the same socket exits" wait_for 10 second_gone
wait "$second"
second_rc=$?
IT_EXTRA_PIDS=
check "... with a non-zero status" [ $second_rc -ne 0 ]
check "... saying another vaultd listens there" grep -q 'another vaultd is listening' "$HARNESS_DIR/second.log"
check_not "... without sanitizer reports" grep -q 'Sanitizer\|runtime error:' "$HARNESS_DIR/second.log"
check "... and the first keeps serving on its socket" vctl status >/dev/null
check "... new connections still reach the first" "$B/vaultctl" domain list >/dev/null

# a killed vaultd leaves its socket file; the next one replaces it
old_pid=$HARNESS_PID
it_kill
check "SIGKILL leaves a stale socket file" [ -S "$MCXVAULT_SOCKET" ]
check_not "nobody listens on the stale socket" vctl -t 2 status >/dev/null 2>&1
it_start "over a stale socket"
new_daemon() { [ -n "$HARNESS_PID" ] && [ "$HARNESS_PID" != "$old_pid" ] && kill -0 "$HARNESS_PID"; }
check "vaultd starts over a stale socket" new_daemon
check "... and serves" vctl status >/dev/null
check "... with the keys made before the crash" vctl pubkey b.example >/dev/null
it_same_state "SIGKILL restart: domains and keys unchanged" "$HARNESS_DIR/state"
it_audit_intact "audit log intact after a SIGTERM restart, a refused second vaultd and a SIGKILL"

it_end
