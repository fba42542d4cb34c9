# mcxvault — shared by the integration test scripts (tests/integration/test_*.sh).
#
#   . "$(dirname "$0")/lib.sh"
#   it_begin integration-rpc      # a token, a vault.conf, a cleanup trap
#   it_start                      # vaultd (harness_start), checked
#   check "what" command args...  # ok/FAIL by the command's exit status
#   it_run_c "$IT/itest_rpc" methods  # a C helper suite, counts folded in
#   it_restart [KILL]             # SIGTERM (or SIGKILL) and start again: same token, store, log
#   it_state FILE; it_same_state DESC FILE  # what the vault holds, before/after a restart
#   it_audit_intact DESC          # vaultctl audit verify says intact
#   it_end                        # stops vaultd, prints "<suite>: N passed, N failed"
#
# Every vaultd this suite starts is killed on exit (trap), its log is checked
# for sanitizer reports, and the temporary directory is removed.
#
# SPDX-License-Identifier: Apache-2.0

IT_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE:-$0}")" && pwd)
. "$IT_LIB_DIR/../lib/harness.sh"

IT="$B/tests/integration"
IT_PASS=0
IT_FAIL=0
IT_SKIP=0
IT_SUITE=integration
IT_EXTRA_PIDS=
IT_STARTS=0     # vaultds started by it_start, and stopped cleanly by it_stop
IT_STOPS=0

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
if [ -f "$HARNESS_ROOT/tests/lsan.supp" ]; then
	export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$HARNESS_ROOT/tests/lsan.supp}"
fi
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"

# Results go to fd 3 (the suite's stdout), so "check ... cmd >/dev/null" only
# silences the command.
exec 3>&1
ok() { IT_PASS=$((IT_PASS + 1)); echo "ok - $*" >&3; }
fail() { IT_FAIL=$((IT_FAIL + 1)); echo "FAIL - $*" >&3; }
skip() { IT_SKIP=$((IT_SKIP + 1)); echo "skipped - $*" >&3; }

# check DESCRIPTION COMMAND [ARGS...]: passes when the command succeeds.
check() {
	it_desc=$1
	shift
	if "$@"; then ok "$it_desc"; else fail "$it_desc"; fi
}

# check_not DESCRIPTION COMMAND [ARGS...]: passes when the command fails.
check_not() {
	it_desc=$1
	shift
	if "$@"; then fail "$it_desc"; else ok "$it_desc"; fi
}

# Registers a pid to kill (SIGKILL) on exit.
it_track() { IT_EXTRA_PIDS="$IT_EXTRA_PIDS $1"; }

it_cleanup() {
	for p in $IT_EXTRA_PIDS; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	IT_EXTRA_PIDS=
	if [ -n "${HARNESS_PID:-}" ]; then
		kill -KILL "$HARNESS_PID" 2>/dev/null
		wait "$HARNESS_PID" 2>/dev/null
		HARNESS_PID=
	fi
	if [ -n "${HARNESS_DIR:-}" ] && [ -z "${IT_KEEP:-}" ]; then
		rm -rf "$HARNESS_DIR"
		HARNESS_DIR=
	fi
}

it_begin() {
	IT_SUITE=$1
	IT_T0=$(date +%s)
	trap 'it_cleanup' EXIT
	trap 'it_cleanup; exit 130' INT TERM
	for f in vaultd vaultctl tests/integration/itest_rpc tests/integration/itest_keys; do
		if [ ! -x "$B/$f" ]; then
			echo "FAIL - $B/$f is not built"
			echo "$IT_SUITE: 0 passed, 1 failed"
			exit 1
		fi
	done
	harness_setup || { echo "FAIL - harness_setup"; echo "$IT_SUITE: 0 passed, 1 failed"; exit 1; }
}

# Fails the suite on any sanitizer report in vaultd's log so far.
it_check_log() {
	[ -f "$HARNESS_DIR/vaultd.log" ] || return 0
	if grep -q -e 'AddressSanitizer' -e 'LeakSanitizer' -e 'runtime error:' "$HARNESS_DIR/vaultd.log"; then
		fail "sanitizer report in vaultd's log"
		grep -A 30 -e 'AddressSanitizer' -e 'LeakSanitizer' -e 'runtime error:' "$HARNESS_DIR/vaultd.log" |
			head -60 | sed 's/^/  # /'
		mv "$HARNESS_DIR/vaultd.log" "$HARNESS_DIR/vaultd.log.$$.$IT_FAIL"
		return 1
	fi
	return 0
}

# Starts vaultd (the harness's way) and fails the suite when it does not come up.
# harness_start returns as soon as the socket file exists, which after a crash
# is the stale file of the dead vaultd: also wait until the new one answers.
it_start() {
	if harness_start; then
		it_i=0
		while [ $it_i -lt 200 ] && kill -0 "$HARNESS_PID" 2>/dev/null; do
			if "$B/vaultctl" -t 2 status >/dev/null 2>&1; then
				IT_STARTS=$((IT_STARTS + 1))
				return 0
			fi
			sleep 0.05
			it_i=$((it_i + 1))
		done
	fi
	fail "vaultd starts${1:+ ($1)}"
	tail -20 "$HARNESS_DIR/vaultd.log" | sed 's/^/  # /'
	return 1
}

# Stops vaultd with SIGTERM and checks it exits 0 without sanitizer reports.
it_stop() {
	if [ -n "${HARNESS_PID:-}" ]; then
		kill -TERM "$HARNESS_PID" 2>/dev/null
		wait "$HARNESS_PID"
		it_rc=$?
		HARNESS_PID=
		if [ "$it_rc" -ne 0 ]; then
			fail "vaultd exits 0 on SIGTERM (exit status $it_rc)"
			tail -20 "$HARNESS_DIR/vaultd.log" | sed 's/^/  # /'
		else
			IT_STOPS=$((IT_STOPS + 1))
		fi
	fi
	it_check_log
}

# Kills vaultd with SIGKILL (a crash) and reaps it.
it_kill() {
	if [ -n "${HARNESS_PID:-}" ]; then
		kill -KILL "$HARNESS_PID" 2>/dev/null
		wait "$HARNESS_PID" 2>/dev/null
		HARNESS_PID=
	fi
}

# it_restart [KILL]: stops vaultd with SIGTERM (checked as by it_stop) or
# kills it with SIGKILL, and starts it again over the same token, store and
# audit log (as production does); fails the suite when it does not come up.
it_restart() {
	if [ "${1:-TERM}" = KILL ]; then
		it_kill
	else
		it_stop
	fi
	it_start "again after SIG${1:-TERM}"
}

# it_state FILE: what the vault holds, as vaultctl prints it: the domains, and
# for each initialised one its keys (versions, states, kids), its active public
# key, its external trust and its groups (or the refusal when GMS is off).
it_state() {
	{
		vctl domain list
		for it_d in $(vctl domain list | awk 'NR > 1 && $3 == "yes" { print $1 }'); do
			echo "== $it_d"
			vctl key list "$it_d"
			vctl pubkey "$it_d"
			vctl external list "$it_d"
			vctl gmk list "$it_d"
		done
	} > "$1" 2>&1
}

# it_same_state DESCRIPTION FILE: the vault holds what it_state saved in FILE.
it_same_state() {
	it_state "$2.now"
	if cmp -s "$2" "$2.now"; then
		ok "$1"
	else
		fail "$1"
		diff "$2" "$2.now" | head -20 | sed 's/^/  # /'
	fi
}

# it_audit_intact DESCRIPTION: vaultctl audit verify of the live log says intact.
it_audit_intact() {
	if [ -z "${HARNESS_AUDIT_FILE:-}" ]; then
		skip "$1 (HARNESS_AUDIT=off)"
		return 0
	fi
	if harness_audit_verify > "$HARNESS_DIR/audit-verify.out" 2>&1 &&
		grep -q '^intact:' "$HARNESS_DIR/audit-verify.out"; then
		ok "$1 ($(head -n 1 "$HARNESS_DIR/audit-verify.out" | cut -d, -f1-2))"
	else
		fail "$1"
		sed 's/^/  # /' "$HARNESS_DIR/audit-verify.out"
		return 1
	fi
}

# it_run_c [--as USER] PROGRAM ARGS...: runs a C helper suite, echoes its
# output and folds its "<suite>: N passed, N failed[, N skipped]" line in.
it_run_c() {
	it_as=
	if [ "$1" = --as ]; then
		it_as=$2
		shift 2
	fi
	it_out="$HARNESS_DIR/c-suite.out"
	if [ -n "$it_as" ]; then
		setpriv --reuid="$it_as" --regid=nogroup --clear-groups -- "$@" > "$it_out" 2>&1
	else
		"$@" > "$it_out" 2>&1
	fi
	it_rc=$?
	it_summary=$(grep -E '^[A-Za-z0-9_-]+: [0-9]+ passed, [0-9]+ failed' "$it_out" | tail -1)
	grep -v -E '^[A-Za-z0-9_-]+: [0-9]+ passed, [0-9]+ failed' "$it_out"
	if [ -z "$it_summary" ]; then
		fail "$* (no summary line; exit status $it_rc)"
		return 1
	fi
	echo "# $it_summary"
	it_p=$(printf '%s\n' "$it_summary" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
	it_f=$(printf '%s\n' "$it_summary" | sed -E 's/.* ([0-9]+) failed.*/\1/')
	it_s=$(printf '%s\n' "$it_summary" | sed -E -n 's/.* ([0-9]+) skipped.*/\1/p')
	IT_PASS=$((IT_PASS + it_p))
	IT_FAIL=$((IT_FAIL + it_f))
	IT_SKIP=$((IT_SKIP + ${it_s:-0}))
	if [ "$it_rc" -ne 0 ] && [ "$it_f" -eq 0 ]; then
		fail "$* exited with status $it_rc"
	fi
}

it_end() {
	it_stop
	it_cleanup
	trap - EXIT INT TERM
	echo "# $IT_SUITE took $(( $(date +%s) - IT_T0 )) s"
	if [ "$IT_SKIP" -gt 0 ]; then
		echo "$IT_SUITE: $IT_PASS passed, $IT_FAIL failed, $IT_SKIP skipped"
	else
		echo "$IT_SUITE: $IT_PASS passed, $IT_FAIL failed"
	fi
	[ "$IT_FAIL" -eq 0 ]
	exit $?
}

# vaultctl against the running vaultd.
vctl() { "$B/vaultctl" "$@"; }

# The token's objects as "CLASS LABEL" lines (priv, pub, data), read with
# pkcs11-tool from outside vaultd.
P11_MODULE=/usr/lib/softhsm/libsofthsm2.so
it_token_objects() {
	pkcs11-tool --module "$P11_MODULE" --token-label mcx-vault --login --pin 1234 --list-objects 2>/dev/null |
		awk '
		/^Private Key Object/ { c = "priv"; next }
		/^Public Key Object/  { c = "pub"; next }
		/^Data object/        { c = "data"; next }
		/^Secret Key Object/  { c = "secret"; next }
		/^Certificate Object/ { c = "cert"; next }
		/^[A-Za-z]/           { c = "other"; next }
		/^  label:/ { sub(/^  label: */, ""); gsub(/'"'"'/, ""); print c, $0 }'
}
