#!/bin/bash
# The crypto vectors (RFC 6507/6508, TS 33.180), the wolfCrypt differential
# tests and the MIKEY tests once per multiplication path of crypto/mont16.c,
# forced with MCX_MONT16 (issue 11: "the crypto vectors and differential
# tests still pass under every multiplication path"): run-all.sh runs the
# programs on the path the CPU picks, this script on the other one.
# Ends with "mul-paths: N passed, N failed, N skipped".
#
# SPDX-License-Identifier: Apache-2.0
set -u
. "$(dirname "$0")/../lib/checks.sh"
B=${B:-build}

# once, with the normal build: the sanitizer build runs the same programs
# on the CPU's path, and the kernels are compared path against path under
# ASan by test_crypto_fast
case "$B" in *asan*)
	skipped "mul-paths: runs with the normal build (test_crypto_fast compares the kernels under ASan)"
	checks_summary mul-paths
	exit $? ;;
esac
# run-all.sh runs these programs on the path the CPU picks (ADX where the CPU
# has ADX and BMI2); here the other one, forced
adx=0
grep -qw adx /proc/cpuinfo 2>/dev/null && grep -qw bmi2 /proc/cpuinfo 2>/dev/null && adx=1
if [ "$adx" -eq 0 ]; then
	skipped "MCX_MONT16=adx: this CPU has no ADX/BMI2 (the programs ran on the portable path already)"
	checks_summary mul-paths
	exit $?
fi
path=portable
for prog in test_crypto_vectors test_crypto_negative test_crypto_wolf test_mikey test_mikey_media; do
	if [ ! -x "$B/tests/$prog" ]; then
		skipped "$prog with MCX_MONT16=$path (not built)"
		continue
	fi
	out=$(MCX_MONT16=$path "$B/tests/$prog" 2>&1)
	rc=$?
	summary=$(printf '%s\n' "$out" | tail -n 1)
	if [ "$rc" -eq 0 ] && printf '%s\n' "$summary" | grep -Eq ': [1-9][0-9]* passed, 0 failed'; then
		ok "$prog with MCX_MONT16=$path ($summary)"
	else
		not_ok "$prog with MCX_MONT16=$path"
		printf '%s\n' "$out" | grep -E 'FAIL|error' | head -n 5
	fi
done
checks_summary mul-paths
