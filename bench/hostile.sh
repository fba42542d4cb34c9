#!/bin/bash
# mcxvault — a role holder's sign.sign latency while a caller without a role
# attacks the socket (issue 10 goal: p99 within 2x of idle, and the audit log
# growing < 1 MB per minute of denial flood).  Baseline measured in the same
# run: the same client on the same vault, idle.  Needs root (the attacker
# runs as nobody); prints SKIP otherwise.
#
#   B=build bash bench/hostile.sh      (bench/run.sh runs it)
#
# SPDX-License-Identifier: Apache-2.0
set -u
. "$(dirname "$0")/../tests/lib/harness.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null; then
	echo "SKIP: needs root and setpriv to run the attacker as nobody"
	exit 0
fi
N=${MCX_BENCH_HOSTILE_CALLS:-3000}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
trap 'harness_cleanup' EXIT
harness_setup >/dev/null && harness_start || exit 1
chgrp nogroup "$MCXVAULT_SOCKET" "$HARNESS_DIR" && chmod g+rx "$HARNESS_DIR"
cp "$(dirname "$0")/../tests/hostile/flood.py" "$HARNESS_DIR/" && chmod 755 "$HARNESS_DIR/flood.py"
"$B/vaultctl" domain init a.example >/dev/null
flood() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$PY" "$HARNESS_DIR/flood.py" "$MCXVAULT_SOCKET" "$@"; }
latency() { "$PY" "$HARNESS_DIR/flood.py" "$MCXVAULT_SOCKET" latency "$N" a.example; }
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

idle=$(latency)
flood deny 600 > "$HARNESS_DIR/deny.out" & fpid=$!
sleep 1
size0=$(stat -c %s "$HARNESS_DIR/audit.jsonl"); t0=$(date +%s.%N)
busy=$(latency)
kill $fpid 2>/dev/null; wait $fpid 2>/dev/null
t1=$(date +%s.%N)
sleep 11                            # the denial window's summary record
# only the attacker's records: the admin's own signatures are audited too
growth=$(tail -c +$((size0 + 1)) "$HARNESS_DIR/audit.jsonl" | grep '"uid":65534' | wc -c)
flood conns 1100 30 > /dev/null & fpid=$!
sleep 2
conns=$(latency)
kill $fpid 2>/dev/null; wait $fpid 2>/dev/null

printf '%-44s %s\n' "sign.sign, admin, idle" "$idle"
printf '%-44s %s\n' "sign.sign, admin, during a no-role denial flood" "$busy"
printf '%-44s %s\n' "sign.sign, admin, during 1,100 no-role conns" "$conns"
awk -v i="$(field "$idle" p99_ms)" -v d="$(field "$busy" p99_ms)" -v c="$(field "$conns" p99_ms)" \
    -v g="$growth" -v t0="$t0" -v t1="$t1" 'BEGIN {
	printf "ratio p99 denial flood / idle:      %.2f (goal <= 2.0) %s\n", d / i, (d / i <= 2.0 ? "PASS" : "MISS")
	printf "ratio p99 connection flood / idle:  %.2f (goal <= 2.0) %s\n", c / i, (c / i <= 2.0 ? "PASS" : "MISS")
	rate = g / (t1 - t0 + 11) * 60
	printf "audit log growth under the flood:   %.0f bytes per minute (goal < 1 MB) %s\n", rate, (rate < 1000000 ? "PASS" : "MISS")
}'
