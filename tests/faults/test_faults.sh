#!/bin/bash
# mcxvault — fault injection under a running vaultd: vaultd loads
# libp11fault.so (a PKCS#11 module that forwards to SoftHSM) and the driver
# tests/faults/faults.py fails each call of each key-changing method in turn
# (after counting them), and C_Initialize at start-up.
#
#   B=build bash tests/faults/test_faults.sh
#
# SPDX-License-Identifier: Apache-2.0
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/lib/harness.sh"
SUITE=faults
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
# a partner vault (c.example) whose KMS certificate and signing key
# external.import takes; stopped before the vault under test starts
HARNESS_AUDIT=off HARNESS_DOMAINS= harness_setup || { echo "FAIL - harness_setup"; echo "$SUITE: 0 passed, 1 failed"; exit 1; }
PARTNER_DIR=$HARNESS_DIR
sed -i 's/a\.example/c.example/g; s/b\.example/e.example/g' "$HARNESS_DIR/vault.conf"
if ! HARNESS_AUDIT=off harness_start; then
	echo "FAIL - the partner vault starts"
	echo "$SUITE: 0 passed, 1 failed"
	exit 1
fi
"$B/vaultctl" domain init c.example >/dev/null &&
	"$B/vaultctl" cert show c.example --xml > "$PARTNER_DIR/c.xml" &&
	"$B/vaultctl" pubkey c.example --purpose cert > "$PARTNER_DIR/c.pem" || echo "# the partner vault did not give its certificate"
harness_stop
export PARTNER_CERT="$PARTNER_DIR/c.xml" PARTNER_KEY="$PARTNER_DIR/c.pem"
cleanup() {
	harness_cleanup
	[ -n "${PARTNER_DIR:-}" ] && rm -rf "$PARTNER_DIR"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

# the domains the domain.init cases create, one per case
extra=
for i in $(seq 1 60); do extra="$extra, { name = \"d$i.example\"; kms_uri = \"kms.d$i.example\"; }"; done
# the checkpointer stays out of the call counts: no periodic checkpoint during the run
export HARNESS_MODULE="$B/tests/libp11fault.so" HARNESS_AUDIT_BATCH=4096 HARNESS_AUDIT_INTERVAL=3600
export HARNESS_DOMAINS="$extra"
harness_setup || { echo "FAIL - harness_setup"; echo "$SUITE: 0 passed, 1 failed"; exit 1; }
HARNESS_GMS_STORE="$HARNESS_DIR/gms.sqlite" harness_write_config
export HARNESS_DIR SOFTHSM2_CONF
python3 "$ROOT/tests/faults/faults.py"
rc=$?
[ $rc -eq 0 ] || tail -40 "$HARNESS_DIR/vaultd.log" | sed 's/^/  # /'
exit $rc
