#!/bin/bash
# tests/ct: the SAKKE and ECCSI secret paths under valgrind memcheck with the
# secrets marked undefined (tests/ct/ct_secrets.c, docs/crypto.md "Constant
# time").  Any secret-dependent branch or memory index outside the documented
# public checks fails the run.  Normal build only (valgrind cannot run ASan
# binaries); skipped, visibly, without valgrind.
# SPDX-License-Identifier: Apache-2.0
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
B=${B:-build}
prog="$root/$B/tests/ct/ct_secrets"
supp="$root/tests/ct/ct.supp"

if [ "$B" != "build" ] && [ "$B" != "$root/build" ]; then
	echo "skipped - ct: constant-time check runs on the normal build only (valgrind cannot run $B)"
	echo "ct: 0 passed, 0 failed, 1 skipped"
	exit 0
fi
if ! command -v valgrind >/dev/null 2>&1; then
	echo "skipped - ct: valgrind is not installed (apt-get install valgrind)"
	echo "ct: 0 passed, 0 failed, 1 skipped"
	exit 0
fi
if [ ! -x "$prog" ]; then
	echo "FAIL - ct: $prog not built (valgrind's memcheck.h missing at build time?)"
	echo "ct: 0 passed, 1 failed"
	exit 1
fi

pass=0 fail=0
log=$(mktemp /tmp/mcx-ct.XXXXXX)
trap 'rm -f "$log"' EXIT
vg=(valgrind --tool=memcheck --error-exitcode=99 --track-origins=yes --num-callers=30
    --suppressions="$supp" --leak-check=no)

# 1. The harness itself: a deliberate secret branch and index must be caught.
"${vg[@]}" "$prog" --canary >"$log" 2>&1
rc=$?
if [ "$rc" -eq 99 ] && grep -q 'Conditional jump or move depends on uninitialised' "$log" &&
   grep -q 'Use of uninitialised value' "$log"; then
	echo "ok - memcheck catches a secret-dependent branch and table index (canary)"
	pass=$((pass + 1))
else
	echo "FAIL - canary: memcheck did not report the deliberate leak (exit $rc)"
	cat "$log"
	fail=$((fail + 1))
fi

# 2. The secret paths: every test must pass and memcheck must report nothing.
# valgrind's virtual CPU hides ADX from the CPU check, so the plain run takes
# the portable kernels; where this CPU has ADX the run is repeated with the
# ADX kernels forced (valgrind executes them), so both are checked.
paths="auto"
grep -qw adx /proc/cpuinfo 2>/dev/null && grep -qw bmi2 /proc/cpuinfo 2>/dev/null && paths="auto adx"
for path in $paths; do
	if [ "$path" = adx ]; then
		MCX_MONT16=adx "${vg[@]}" "$prog" >"$log" 2>&1
	else
		"${vg[@]}" "$prog" >"$log" 2>&1
	fi
	rc=$?
	sed "s/^/[$path] /" "$log"
	summary=$(grep -E '^ct: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	p=$(echo "$summary" | sed -n 's/^ct: \([0-9]*\) passed.*/\1/p')
	f=$(echo "$summary" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
	pass=$((pass + ${p:-0})); fail=$((fail + ${f:-0}))
	if [ -z "$summary" ]; then
		echo "FAIL - ct_secrets ($path kernels) ended without a summary (exit $rc)"
		fail=$((fail + 1))
	elif [ "$rc" -ne 0 ]; then
		echo "FAIL - memcheck ($path kernels): exit $rc, $(grep -E 'ERROR SUMMARY' "$log" | tail -n 1)"
		fail=$((fail + 1))
	else
		echo "ok - memcheck: no unsuppressed error on the secret paths ($path kernels)"
		pass=$((pass + 1))
	fi
done
echo "ct: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
