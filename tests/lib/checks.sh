# mcxvault — the check helpers of the shell suites that count by themselves:
#   ok TEXT / not_ok TEXT / skipped TEXT     one result line, counted
#   check TEXT 'SHELL CONDITION'             ok or not_ok by the condition (eval'd)
#   checks_summary SUITE                     "SUITE: N passed, N failed, N skipped"; exit status
#
# SPDX-License-Identifier: Apache-2.0
pass=0 fail=0 skip=0
ok() { echo "ok - $1"; pass=$((pass + 1)); }
not_ok() { echo "FAIL - $1"; fail=$((fail + 1)); }
skipped() { echo "skipped - $1"; skip=$((skip + 1)); }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }
checks_summary() { echo "$1: $pass passed, $fail failed, $skip skipped"; [ "$fail" -eq 0 ]; }
