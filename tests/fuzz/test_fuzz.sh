#!/bin/bash
# tests/fuzz: each libFuzzer target (fuzz/fuzz.mk, fuzz/mikey.mk) for a few
# seconds on its seed corpus, as part of `make check`.  A crash, a sanitizer
# report, a leak, a timeout or a harness assertion is a FAIL naming the
# target and the saved input.  Built and run only with clang installed, and
# only once (for the normal build: the targets carry their own ASan/UBSan).
#   MCX_FUZZ_SECONDS   seconds per target (default 5)
# SPDX-License-Identifier: Apache-2.0
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 2
B=${B:-build}
secs=${MCX_FUZZ_SECONDS:-5}
targets="rpc jose kms_cert ec_public config mikey"

if [ "$B" != "build" ]; then
	echo "skipped - fuzz: runs once, with the normal build (the targets have their own sanitizers)"
	echo "fuzz: 0 passed, 0 failed, 1 skipped"
	exit 0
fi
if ! command -v clang >/dev/null 2>&1; then
	echo "skipped - fuzz: clang is not installed (apt-get install clang)"
	echo "fuzz: 0 passed, 0 failed, 1 skipped"
	exit 0
fi

pass=0 fail=0
log=$(mktemp /tmp/mcx-fuzz.XXXXXX)
work=$(mktemp -d /tmp/mcx-fuzz-work.XXXXXX)
trap 'rm -rf "$log" "$work"' EXIT

if ! make --no-print-directory -j2 B="$B" fuzz-build >"$log" 2>&1; then
	echo "FAIL - fuzz: the targets do not build"
	tail -n 30 "$log"
	echo "fuzz: 0 passed, 1 failed"
	exit 1
fi
export LSAN_OPTIONS="suppressions=$root/fuzz/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
for t in $targets; do
	bin="$B/fuzz/fuzz_$t"
	if [ "$t" = mikey ]; then corpus="$B/fuzz/mikey-corpus"; else corpus="fuzz/corpus/$t"; fi
	if [ ! -x "$bin" ] || [ -z "$(ls -A "$corpus" 2>/dev/null)" ]; then
		echo "FAIL - fuzz_$t: no binary or empty seed corpus ($corpus)"
		fail=$((fail + 1))
		continue
	fi
	mkdir -p "$work/$t"
	timeout $((secs + 60)) "$bin" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$work/crash-$t-" "$work/$t" "$corpus" >"$log" 2>&1
	rc=$?
	runs=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | sed -E 's/^#([0-9]+).*/\1/' | tail -n 1)
	if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
		echo "ok - fuzz_$t: $runs inputs in ${secs} s, no crash or sanitizer report"
		pass=$((pass + 1))
	else
		echo "FAIL - fuzz_$t (exit $rc)"
		grep -E 'ERROR|SUMMARY|runtime error|deadly|Test unit written' "$log" | head -n 10
		for a in "$work"/crash-"$t"-*; do
			[ -f "$a" ] || continue
			mkdir -p "$B/fuzz" && cp "$a" "$B/fuzz/" && echo "  input kept: $B/fuzz/$(basename "$a")"
		done
		fail=$((fail + 1))
	fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
