#!/bin/sh
# mcxvault integration: the JSON-RPC protocol of docs/protocol.md over the real
# socket of a real vaultd on a fresh SoftHSM token — every method (success and
# failure), malformed input, stalled and non-reading clients, 50 concurrent
# clients, the idle timeout.
#
#   B=build sh tests/integration/test_rpc.sh
#
# SPDX-License-Identifier: Apache-2.0
. "$(dirname "$0")/lib.sh"

it_begin integration-rpc

it_start || it_end
it_run_c "$IT/itest_rpc" methods
it_run_c "$IT/itest_rpc" malformed
it_run_c "$IT/itest_rpc" slow
it_run_c "$IT/itest_rpc" concurrent
check "vaultd logs the oversized request" grep -q 'sent a request over' "$HARNESS_DIR/vaultd.log"
check "vaultd is still running after all of it" kill -0 "$HARNESS_PID"
it_stop

# server.idle_timeout = 2: an idle connection is closed after ~2-3 s
HARNESS_IDLE_TIMEOUT=2 harness_write_config
it_start "idle_timeout 2" || it_end
it_run_c "$IT/itest_rpc" idle
check "vaultd logs the idle close" grep -q 'idle connection' "$HARNESS_DIR/vaultd.log"

it_end
