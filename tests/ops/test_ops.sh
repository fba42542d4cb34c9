#!/bin/bash
# What an operator installs beside vaultd (issue 13), tested here:
#   - the man pages render with `man -l` without a warning;
#   - `make install-ops` lays out man pages, units, sysusers/tmpfiles, logrotate;
#   - vaultd.service and vaultd.socket pass `systemd-analyze verify`, and the
#     service's exposure (`systemd-analyze security`) is at most 2.0;
#   - readiness: a real vaultd tells $NOTIFY_SOCKET READY, RELOADING/READY
#     around SIGHUP, STOPPING; socket activation: it serves on a passed socket;
#   - log rotation: logrotate with config/logrotate/mcxvault (paths adapted)
#     renames the audit log, `vaultctl audit rotate` continues the chain, and
#     `vaultctl audit verify` passes over the rotated set.
# Ends with "ops: N passed, N failed[, N skipped]".
#
# SPDX-License-Identifier: Apache-2.0
set -u
. "$(dirname "$0")/../lib/harness.sh"

. "$(dirname "$0")/../lib/checks.sh"

trap 'harness_cleanup; [ -n "${T:-}" ] && rm -rf "$T"' EXIT
T=$(mktemp -d /tmp/mcxvault-ops.XXXXXX)
cd "$HARNESS_ROOT" || exit 1
V="$B/vaultctl"

# --- man pages ------------------------------------------------------------------
for page in docs/man/*.[1-8]; do
	if command -v man >/dev/null; then
		warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >"$T/page.txt")
		check "man -l $(basename "$page"): renders without warnings${warnings:+: $warnings}" \
			"[ -z \"\$warnings\" ] && grep -q '^NAME' '$T/page.txt' && [ \$(wc -l < '$T/page.txt') -gt 20 ]"
	else
		skipped "man -l $(basename "$page") (man is not installed)"
	fi
done

# --- install layout ---------------------------------------------------------------
make -s --no-print-directory install-ops DESTDIR="$T/root" PREFIX=/usr >/dev/null 2>"$T/install.err"
for f in usr/share/man/man8/vaultd.8 usr/share/man/man1/vaultctl.1 usr/share/man/man5/vault.conf.5 \
         usr/share/man/man3/libmcxvault.3 usr/share/man/man7/mcxvault-provider.7 \
         usr/lib/systemd/system/vaultd.service usr/lib/systemd/system/vaultd.socket \
         usr/lib/sysusers.d/mcxvault.conf usr/lib/tmpfiles.d/mcxvault.conf etc/logrotate.d/mcxvault; do
	check "make install-ops installs /$f (mode 644)" "[ \"\$(stat -c %a '$T/root/$f' 2>/dev/null)\" = 644 ]"
done
check "the installed unit runs /usr/sbin/vaultd, logrotate /usr/bin/vaultctl" \
	"grep -q '^ExecStart=/usr/sbin/vaultd -f' '$T/root/usr/lib/systemd/system/vaultd.service' && grep -q '/usr/bin/vaultctl' '$T/root/etc/logrotate.d/mcxvault'"

# --- systemd-analyze ------------------------------------------------------------------
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$T/units"
	# the unit as installed, pointing at the vaultd of this build
	sed "s|@SBINDIR@|$B|g" config/systemd/vaultd.service > "$T/units/vaultd.service"
	cp config/systemd/vaultd.socket "$T/units/"
	out=$(MANPATH="$T/root/usr/share/man" systemd-analyze verify "$T/units/vaultd.service" "$T/units/vaultd.socket" 2>&1)
	check "systemd-analyze verify: vaultd.service and vaultd.socket are clean${out:+: $out}" "[ -z \"\$out\" ]"
	exposure=$(systemd-analyze security --offline=yes "$T/units/vaultd.service" 2>/dev/null |
		sed -n 's/.*Overall exposure level for vaultd.service: \([0-9.]*\).*/\1/p')
	check "systemd-analyze security: exposure ${exposure:-?} <= 2.0" \
		"[ -n '$exposure' ] && awk 'BEGIN { exit !($exposure <= 2.0) }'"
else
	skipped "systemd-analyze verify/security (systemd is not installed)"
fi

# --- readiness and socket activation with a real vaultd ---------------------------------
harness_setup || { echo "ops: $pass passed, $((fail + 1)) failed"; exit 1; }
A="$HARNESS_DIR/audit.jsonl"
python3 - "$HARNESS_DIR/notify.sock" "$HARNESS_DIR/notify.out" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); s.settimeout(30)
with open(sys.argv[2], "w", buffering=1) as out:
    end = time.time() + 30
    while time.time() < end:
        try:
            msg = s.recv(4096).decode()
        except socket.timeout:
            break
        out.write(msg.replace("\n", " | ") + "\n")
        if "STOPPING=1" in msg:
            break
PY
listener=$!
sleep 0.3
NOTIFY_SOCKET="$HARNESS_DIR/notify.sock" harness_start
check "under Type=notify vaultd says READY=1 with a STATUS once it serves" \
	"grep -q 'READY=1 | STATUS=serving 2 domains' '$HARNESS_DIR/notify.out'"
kill -HUP "$HARNESS_PID"; sleep 0.5
check "SIGHUP: RELOADING=1, then READY=1 again" \
	"grep -q 'RELOADING=1' '$HARNESS_DIR/notify.out' && [ \$(grep -c 'READY=1' '$HARNESS_DIR/notify.out') -ge 2 ]"
harness_stop
wait $listener 2>/dev/null
check "SIGTERM: STOPPING=1" "grep -q 'STOPPING=1' '$HARNESS_DIR/notify.out'"
check "vaultd does not hand NOTIFY_SOCKET to anything it runs (removed from its environment)" \
	"! grep -q 'NOTIFY_SOCKET' '$HARNESS_DIR/vaultd.log'"

if command -v systemd-socket-activate >/dev/null; then
	export MCXVAULT_SOCKET="$HARNESS_DIR/activated.sock"
	# it passes on only the variables named (-E)
	systemd-socket-activate -l "$MCXVAULT_SOCKET" -E SOFTHSM2_CONF -E ASAN_OPTIONS -E LSAN_OPTIONS -E UBSAN_OPTIONS \
		"$B/vaultd" -f -c "$HARNESS_DIR/vault.conf" \
		>>"$HARNESS_DIR/vaultd.log" 2>&1 &
	act=$!
	i=0; until [ -S "$MCXVAULT_SOCKET" ] || [ $i -gt 50 ]; do i=$((i + 1)); sleep 0.1; done
	# the first connection starts vaultd (systemd-socket-activate execs it on accept)
	check "socket activation: vaultd serves on the socket it was passed" "$V -t 20 status >/dev/null"
	check "and says so in its log" "grep -q 'listening on the socket passed by the service manager' '$HARNESS_DIR/vaultd.log'"
	check "and does not bind server.socket as well" "[ ! -e '$HARNESS_DIR/vaultd.sock' ]"
	kill -TERM $act 2>/dev/null; wait $act 2>/dev/null
else
	skipped "socket activation (systemd-socket-activate is not installed)"
fi

# --- log rotation -------------------------------------------------------------------------
export MCXVAULT_SOCKET="$HARNESS_DIR/vaultd.sock"
harness_start
$V domain init a.example >/dev/null
printf 'm' > "$HARNESS_DIR/m"
$V sign a.example "$HARNESS_DIR/m" >/dev/null
if command -v logrotate >/dev/null; then
	# the shipped configuration with this test's paths
	sed -e "s|/var/log/mcxvault/audit.jsonl|$A|" \
	    -e "s|@BINDIR@/vaultctl -c /etc/mcxvault/vault.conf|$V -s $MCXVAULT_SOCKET|" config/logrotate/mcxvault > "$T/logrotate.conf"
	logrotate -f -s "$T/logrotate.state" "$T/logrotate.conf" 2>"$T/logrotate.err"
	check "logrotate renames the audit log and its postrotate runs vaultctl audit rotate" \
		"[ -s '$A.1' ] && [ -s '$A' ] && grep -q '\"type\":\"reopen\"' '$A'"
else
	mv "$A" "$A.1"
	$V audit rotate >/dev/null
	check "vaultctl audit rotate after the file was moved (logrotate is not installed)" \
		"[ -s '$A.1' ] && grep -q '\"type\":\"reopen\"' '$A'"
fi
check "the old file ends with the rotate checkpoint" "tail -n 1 '$A.1' | grep -q '\"kind\":\"rotate\"'"
$V sign a.example "$HARNESS_DIR/m" >/dev/null
harness_restart TERM
# a second rotation, as logrotate's next run would do it
mv "$A.1" "$A.2" && mv "$A" "$A.1"
$V audit rotate >/dev/null
$V sign a.example "$HARNESS_DIR/m" >/dev/null
rotated="$A.2 $A.1"
out=$($V audit verify $rotated "$A" 2>&1); rc=$?
check "vaultctl audit verify over the rotated set, oldest first: $out" "[ $rc -eq 0 ] && echo '$out' | grep -q '^intact'"
out=$($V audit verify "$A" 2>&1); rc=$?
check "the live file on its own verifies from its first link" "[ $rc -eq 0 ]"
harness_restart TERM
check "vaultd starts again over the rotated log" "$V status >/dev/null"

# --- health and metrics ----------------------------------------------------------------
$V domain init b.example >/dev/null
out=$($V health 2>&1); rc=$?
check "vaultctl health: everything fine exits 0: $(echo "$out" | tail -n 1)" "[ $rc -eq 0 ] && echo '$out' | grep -q '^OK *HSM reachable'"
sleep 1.1
out=$($V health --key-age 0.00001 --cert-days 1000 2>&1); rc=$?
check "keys older than --key-age and certificates within --cert-days: WARNING, exit 3" \
	"[ $rc -eq 3 ] && echo '$out' | grep -q '^WARNING.*sign key version 1 is' && echo '$out' | grep -q '^WARNING.*KMS certificate valid for'"
harness_stop
export MCXVAULT_TEST_AUDIT_READONLY="$HARNESS_DIR/readonly"
harness_start
touch "$HARNESS_DIR/readonly"
$V sign a.example "$HARNESS_DIR/m" >/dev/null 2>&1
out=$($V health 2>&1); rc=$?
check "an audit log that cannot be written: CRITICAL, exit 1" "[ $rc -eq 1 ] && echo '$out' | grep -q '^CRITICAL.*audit log unhealthy'"
rm -f "$HARNESS_DIR/readonly"
unset MCXVAULT_TEST_AUDIT_READONLY
harness_restart TERM
out=$($V metrics 2>&1); rc=$?
check "vaultctl metrics: Prometheus text with HELP/TYPE and samples" \
	"[ $rc -eq 0 ] && echo '$out' | grep -q '^# TYPE mcxvault_requests_total counter' && echo '$out' | grep -q '^mcxvault_hsm_up 1'"
$V sign a.example "$HARNESS_DIR/m" >/dev/null
out=$($V metrics 2>&1)
check "requests are counted per method and role, with a latency histogram" \
	"echo '$out' | grep -q 'mcxvault_requests_total{method=\"sign.sign\",role=\"signer\"} 1' &&
	 echo '$out' | grep -q 'mcxvault_request_duration_seconds_count{method=\"sign.sign\"} 1' &&
	 echo '$out' | grep -q 'mcxvault_audit_healthy 1'"
bad=$(echo "$out" | grep -v '^#' | grep -cvE '^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+]+$')
check "every sample line is in the text exposition format ($bad not)" "[ $bad -eq 0 ]"
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	chgrp nogroup "$MCXVAULT_SOCKET" "$HARNESS_DIR" && chmod g+rx "$HARNESS_DIR"
	out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups $V metrics 2>&1); rc=$?
	check "a caller without a role gets no metrics (-32001)" "[ $rc -eq 1 ] && echo '$out' | grep -q 32001"
fi

harness_stop
check "no sanitizer report in vaultd's log" "! grep -qE 'Sanitizer|runtime error' '$HARNESS_DIR/vaultd.log'"
echo "ops: $pass passed, $fail failed${skip:+, $skip skipped}"
[ "$fail" -eq 0 ]
