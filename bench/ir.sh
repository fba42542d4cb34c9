#!/bin/bash
# mcxvault — instruction counts (callgrind Ir) of vaultd per request: stable
# on a loaded machine where times are not (issue 11).  vaultd runs under
# callgrind on a fresh SoftHSM token twice, once answering N requests and once
# none; the difference divided by N is what one request costs inside vaultd
# (SoftHSM's own work included, it runs in vaultd's process).
#
#   B=build bash bench/ir.sh          (make bench-ir)
#   MCX_BENCH_IR_CALLS=N              requests per method (default 2000)
#
# SPDX-License-Identifier: Apache-2.0
set -u
. "$(dirname "$0")/../tests/lib/harness.sh"

command -v valgrind >/dev/null || { echo "SKIP: valgrind is not installed"; exit 0; }
N=${MCX_BENCH_IR_CALLS:-2000}
trap 'harness_cleanup' EXIT
HARNESS_AUDIT=off harness_setup >/dev/null || exit 1
export MCXVAULT_SOCKET="$HARNESS_DIR/vaultd.sock"
# the key exists before the measured runs: domain.init is not what is counted
"$B/vaultd" -f -c "$HARNESS_DIR/vault.conf" >>"$HARNESS_DIR/vaultd.log" 2>&1 & pid=$!
until "$B/vaultctl" -t 2 status >/dev/null 2>&1; do sleep 0.1; done
"$B/vaultctl" domain init a.example >/dev/null
kill -TERM $pid; wait $pid

# ir METHOD N: total Ir of a vaultd run that answered N calls of METHOD
ir() {
	rm -f "$HARNESS_DIR/cg.out"
	valgrind --tool=callgrind --callgrind-out-file="$HARNESS_DIR/cg.out" \
		"$B/vaultd" -f -c "$HARNESS_DIR/vault.conf" >>"$HARNESS_DIR/vaultd.log" 2>&1 & vpid=$!
	until "$B/vaultctl" -t 5 status >/dev/null 2>&1; do sleep 0.2; done
	python3 - "$MCXVAULT_SOCKET" "$1" "$2" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
params = {} if sys.argv[2] == "vault.status" else {"domain": "a.example", "digest": "A" * 43}
line = (json.dumps({"jsonrpc": "2.0", "id": 1, "method": sys.argv[2], "params": params}) + "\n").encode()
for _ in range(int(sys.argv[3])):
    s.sendall(line); b = b""
    while not b.endswith(b"\n"): b += s.recv(65536)
    assert b'"result"' in b, b
PY
	kill -TERM $vpid; wait $vpid
	callgrind_annotate "$HARNESS_DIR/cg.out" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,
}

# direct N: total Ir of ir_sign making N signatures itself (the baseline)
direct() {
	rm -f "$HARNESS_DIR/cg.out"
	valgrind --tool=callgrind --callgrind-out-file="$HARNESS_DIR/cg.out" \
		"$B/bench/ir_sign" "$HARNESS_DIR/tokens" "$1" >>"$HARNESS_DIR/vaultd.log" 2>&1 || return 1
	callgrind_annotate "$HARNESS_DIR/cg.out" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,
}

printf '%-40s %14s %10s\n' "per request" "Ir" "goal"
for method in vault.status sign.sign; do
	base=$(ir "$method" 0); total=$(ir "$method" "$N")
	per=$(( (total - base) / N ))
	case $method in vault.status) goal="<= 50000" ;; *) goal="-" ;; esac
	printf '%-40s %14s %10s\n' "vaultd $method" "$per" "$goal"
	[ "$method" = sign.sign ] && sign_per=$per
done
# the same signature made directly in one process (SoftHSM's ECDSA and the
# HSM layer): what sign.sign's ratios compare against, here without the
# machine's noise.  direct / vaultd is the ratio a CPU-bound line could reach.
if [ -x "$B/bench/ir_sign" ]; then
	base=$(direct 0); total=$(direct "$N")
	dper=$(( (total - base) / N ))
	printf '%-40s %14s %10s\n' "direct hsm_ecdsa_sign (baseline)" "$dper" "-"
	printf '%-40s %14s %10s\n' "direct / vaultd sign.sign (CPU bound)" \
		"$(awk -v d="$dper" -v v="$sign_per" 'BEGIN { printf "%.3f", d / v }')" "-"
fi
