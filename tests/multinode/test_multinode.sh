#!/bin/bash
# mcxvault — several vaultd over one SoftHSM token sharing a real PostgreSQL
# (store = "postgresql://…"): a throw-away cluster (tests/multinode/pg.sh,
# Unix socket only) and the scenarios of tests/multinode/multinode.py.
# Skipped, visibly, when PostgreSQL is not installed.
#
#   B=build bash tests/multinode/test_multinode.sh
#
# SPDX-License-Identifier: Apache-2.0
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/lib/harness.sh"
. "$ROOT/tests/multinode/pg.sh"
SUITE=multinode
cleanup() { pg_cleanup; harness_cleanup; }
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

if ! pg_find; then
	echo "skipped - PostgreSQL is not installed (Debian: apt-get install postgresql; make check installs it)"
	echo "$SUITE: 0 passed, 0 failed, 1 skipped"
	exit 0
fi
for f in vaultd vaultctl; do
	if [ ! -e "$B/$f" ]; then
		echo "FAIL - $B/$f is not built"
		echo "$SUITE: 0 passed, 1 failed"
		exit 1
	fi
done
harness_setup || { echo "FAIL - harness_setup"; echo "$SUITE: 0 passed, 1 failed"; exit 1; }
# a second token, for the vault alone on the SQLite store
mkdir -p "$HARNESS_DIR/tokens3"
sed "s|$HARNESS_DIR/tokens|$HARNESS_DIR/tokens3|" "$HARNESS_DIR/softhsm2.conf" > "$HARNESS_DIR/softhsm2-n3.conf"
SOFTHSM2_CONF="$HARNESS_DIR/softhsm2-n3.conf" softhsm2-util --init-token --free --label mcx-vault --pin 1234 \
	--so-pin 5678 >/dev/null || { echo "FAIL - second token"; echo "$SUITE: 0 passed, 1 failed"; exit 1; }
if ! pg_setup "$HARNESS_DIR" || ! pg_start; then
	echo "FAIL - a PostgreSQL cluster for the test (log follows)"
	sed 's/^/  # /' "$HARNESS_DIR/postgres.log" "$HARNESS_DIR/initdb.log" 2>/dev/null | tail -20
	echo "$SUITE: 0 passed, 1 failed"
	exit 1
fi
export HARNESS_DIR SOFTHSM2_CONF B
python3 "$ROOT/tests/multinode/multinode.py"
rc=$?
if [ $rc -ne 0 ]; then
	for n in n1 n2 n3; do
		[ -f "$HARNESS_DIR/$n.log" ] && { echo "  # --- $n.log"; tail -25 "$HARNESS_DIR/$n.log" | sed 's/^/  # /'; }
	done
fi
exit $rc
