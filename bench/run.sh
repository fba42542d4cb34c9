#!/bin/sh
# mcxvault — runs every benchmark program of a build and prints its output.
#
#   B=build sh bench/run.sh        (what `make bench` does after building)
#
# Builds nothing: make does.  Each $B/bench/bench_* program sets up what it
# needs (bench_sign: its own SoftHSM token and vaultd) and prints its figures
# and ratios; MCX_BENCH_SECONDS sets the length of each measurement.  Exit
# status: non-zero when a program failed to run (a missed goal is not a
# failure; it is printed as MISS).  See docs/performance.md.
#
# SPDX-License-Identifier: Apache-2.0

B=${B:-build}
status=0
found=0

for prog in "$B"/bench/bench_*; do
	[ -f "$prog" ] && [ -x "$prog" ] || continue
	found=1
	echo "==> $(basename "$prog")"
	if ! "$prog"; then
		echo "==> $(basename "$prog") FAILED" >&2
		status=1
	fi
	echo
done

# the crypto rows again as instruction counts (callgrind: stable where the
# times above are not; ADX forced, wolfCrypt counted in the same run)
if [ -x "$B/bench/bench_crypto" ] && command -v valgrind >/dev/null; then
	echo "==> ir.sh (crypto rows)"
	MCX_BENCH_IR_CRYPTO_ONLY=1 B="$B" bash "$(dirname "$0")/ir.sh" || status=1
	echo
fi

# a role holder's latency while a caller without a role attacks (root only)
if [ "$found" -ne 0 ]; then
	echo "==> hostile.sh"
	B="$B" bash "$(dirname "$0")/hostile.sh" || status=1
	echo
fi

if [ "$found" -eq 0 ]; then
	echo "bench/run.sh: no benchmark programs in $B/bench (run make first)" >&2
	exit 1
fi
exit $status
