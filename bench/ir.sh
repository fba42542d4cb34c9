#!/bin/bash
# mcxvault — instruction counts (callgrind Ir): libmcxcrypto's SAKKE/ECCSI
# operations beside wolfCrypt's (bench_crypto --ir), and vaultd per request:
# stable on a loaded machine where times are not (issue 11).  vaultd runs under
# callgrind on a fresh SoftHSM token twice, once answering N requests and once
# none; the difference divided by N is what one request costs inside vaultd
# (SoftHSM's own work included, it runs in vaultd's process).
#
#   B=build bash bench/ir.sh          (make bench-ir)
#   MCX_BENCH_IR_CALLS=N              requests per method (default 2000)
#   MCX_BENCH_IR_CRYPTO=N             SAKKE calls per crypto row (default 4; ECCSI 10 N)
#   MCX_BENCH_IR_CRYPTO_ONLY=1        the crypto rows only
#
# SPDX-License-Identifier: Apache-2.0
set -u
. "$(dirname "$0")/../tests/lib/harness.sh"

command -v valgrind >/dev/null || { echo "SKIP: valgrind is not installed"; exit 0; }
N=${MCX_BENCH_IR_CALLS:-2000}

# --- libmcxcrypto against wolfCrypt (bench_crypto --ir), per operation -------
# The ADX multiplication is forced (MCX_MONT16=adx): valgrind's virtual CPUID
# hides ADX, so without it callgrind would count the portable path, which
# production never runs on this CPU.  wolfCrypt is the library bench_crypto
# links (Debian's 5.5.4 here, no sp-asm SAKKE), counted in the same run.
crypto_ir() {
	local d; d=$(mktemp -d)
	MCX_MONT16=adx valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$d/cg.%p" \
		"$B/bench/bench_crypto" --ir "${MCX_BENCH_IR_CRYPTO:-4}" >"$d/log" 2>&1 ||
		{ cat "$d/log"; rm -rf "$d"; return 1; }
	for f in $(ls "$d"/cg.*.* | sort -t. -k3 -n); do
		printf '%s\t%s\n' "$(sed -n 's/^desc: Trigger: Client Request: //p' "$f")" \
			"$(sed -n 's/^summary: //p;s/^totals: //p' "$f" | head -1)"
	done
	rm -rf "$d"
}
if [ -x "$B/bench/bench_crypto" ]; then
	cir=$(mktemp)
	crypto_ir >"$cir" || { rm -f "$cir"; exit 1; }
	# rows: name, calls, goal (Ir per call of ours; "-" none)
	printf '%-30s %12s %12s %7s %12s\n' "crypto, Ir per call (ADX)" "mcxvault" "wolfCrypt" "ratio" "goal"
	while IFS=: read -r name calls goal; do
		o=$(awk -F'\t' -v n="ours $name" '$1 == n {print $2}' "$cir")
		w=$(awk -F'\t' -v n="wolf $name" '$1 == n {print $2}' "$cir")
		[ -n "$o" ] && [ -n "$w" ] || continue
		o=$((o / calls)); w=$((w / calls))
		verdict=""
		[ "$goal" != "-" ] && { [ "$o" -le "$goal" ] && verdict=" ok" || verdict=" MISS"; }
		printf '%-30s %12s %12s %7s %12s%s\n' "$name" "$o" "$w" \
			"$(awk -v a="$w" -v b="$o" 'BEGIN {printf "%.2f", a / b}')" "$goal" "$verdict"
	done <<-ROWS
	SAKKE RSK issue:${MCX_BENCH_IR_CRYPTO:-4}:-
	SAKKE RSK validate:${MCX_BENCH_IR_CRYPTO:-4}:-
	SAKKE encapsulate:${MCX_BENCH_IR_CRYPTO:-4}:-
	SAKKE encapsulate cold:8:30000000
	SAKKE decapsulate:${MCX_BENCH_IR_CRYPTO:-4}:-
	ECCSI SSK/PVT issue:$((10 * ${MCX_BENCH_IR_CRYPTO:-4})):-
	ECCSI sign:$((10 * ${MCX_BENCH_IR_CRYPTO:-4})):250000
	ECCSI verify:$((10 * ${MCX_BENCH_IR_CRYPTO:-4})):-
	ROWS
	rm -f "$cir"
	echo "  (ratio = wolfCrypt / mcxvault: > 1 means fewer instructions for us)"
	echo
fi
[ "${MCX_BENCH_IR_CRYPTO_ONLY:-0}" = 1 ] && exit 0
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
