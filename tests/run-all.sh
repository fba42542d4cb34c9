#!/bin/sh
# mcxvault — runs every test program of each build directory given and
# prints one pass/fail summary.  Called by `make check` as
#   sh tests/run-all.sh build build-asan
#
# A test program is any $B/tests/test_* executable and any tests/*/test_*.sh
# script (run with B=<build dir>).  Each prints "ok - ..." / "FAIL - ..." lines
# and ends with "<suite>: N passed, N failed[, N skipped]".  A program that
# exits non-zero counts as failed even if its summary line says otherwise.
#
# SPDX-License-Identifier: Apache-2.0
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
logdir=$(mktemp -d /tmp/mcxvault-check.XXXXXX)
total_pass=0 total_fail=0 total_skip=0 broken=""
test_timeout=${MCX_TEST_TIMEOUT:-600}

# Sanitizer settings for the ASan/UBSan build; harmless for the normal one.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=86:detect_stack_use_after_return=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
[ -f "$root/tests/lsan.supp" ] && export LSAN_OPTIONS="suppressions=$root/tests/lsan.supp:print_suppressions=0"

run_one() {   # build-dir name command...
	b=$1; name=$2; shift 2
	log="$logdir/$b-$(echo "$name" | tr '/' '_').log"
	start=$(date +%s)
	B="$b" timeout "$test_timeout" "$@" >"$log" 2>&1
	rc=$?
	secs=$(( $(date +%s) - start ))
	summary=$(grep -E '^[A-Za-z0-9_.-]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	pass=$(echo "$summary" | sed -n 's/.*: \([0-9]*\) passed.*/\1/p')
	fail=$(echo "$summary" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
	skip=$(echo "$summary" | sed -n 's/.* \([0-9]*\) skipped.*/\1/p')
	pass=${pass:-0}; fail=${fail:-0}; skip=${skip:-0}
	if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
		fail=1   # crashed, timed out or a sanitizer fired after the summary
	fi
	total_pass=$((total_pass + pass)); total_fail=$((total_fail + fail)); total_skip=$((total_skip + skip))
	if [ "$fail" -ne 0 ]; then
		status="FAIL"
		broken="$broken $b/$name"
		echo "---- $b/$name (exit $rc) ----"
		grep -E 'FAIL|ERROR|error|Sanitizer|runtime error|skipped' "$log" | head -n 40
		echo "---- (full log: $log)"
	else
		status="ok"
	fi
	printf '%-6s %-12s %-40s %4s passed %3s failed %3s skipped %4ss\n' "$status" "$b" "$name" "$pass" "$fail" "$skip" "$secs"
	grep -E '^skipped - ' "$log" | sed 's/^/         /'
}

for b in "$@"; do
	if [ ! -d "$b" ]; then
		echo "run-all: no build directory '$b'" >&2
		exit 2
	fi
	echo "==> tests of $b"
	for t in "$b"/tests/test_*; do
		[ -x "$t" ] && [ -f "$t" ] || continue
		run_one "$b" "$(basename "$t")" "$t"
	done
	for t in tests/*/test_*.sh; do
		[ -f "$t" ] || continue
		run_one "$b" "$t" bash "$t"
	done
done

echo
if [ "$total_fail" -eq 0 ]; then
	echo "make check: all tests passed (logs in $logdir)"
else
	echo "make check: FAILED:$broken (logs in $logdir)"
fi
echo "check: $total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ]
