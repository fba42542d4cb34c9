#!/bin/bash
# mcxvault — the token goes away and comes back under a running vaultd: the
# SoftHSM token directory renamed away and back, then the token reported
# absent and a dead device through libp11fault.so (tests/faults/token_loss.py).
#
#   B=build bash tests/faults/test_token_loss.sh
#
# SPDX-License-Identifier: Apache-2.0
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/lib/harness.sh"
SUITE=token-loss
trap 'harness_cleanup' EXIT
trap 'harness_cleanup; exit 130' INT TERM
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"

for f in vaultd vaultctl tests/libp11fault.so; do
	if [ ! -e "$B/$f" ]; then
		echo "FAIL - $B/$f is not built"
		echo "$SUITE: 0 passed, 1 failed"
		exit 1
	fi
done
# SoftHSM itself first (the p11-kit registered module); the audit log on, as in production
export HARNESS_MODULE=softhsm2
harness_setup || { echo "FAIL - harness_setup"; echo "$SUITE: 0 passed, 1 failed"; exit 1; }
HARNESS_GMS_STORE="$HARNESS_DIR/gms.sqlite" harness_write_config
export HARNESS_DIR SOFTHSM2_CONF
python3 "$ROOT/tests/faults/token_loss.py"
rc=$?
[ $rc -eq 0 ] || tail -40 "$HARNESS_DIR/vaultd.log" | sed 's/^/  # /'
exit $rc
