#!/bin/sh
# mcxvault integration: the JSON-RPC protocol of docs/protocol.md over the real
# socket of a real vaultd on a fresh SoftHSM token — every method (success and
# failure), malformed input, stalled and non-reading clients, 50 concurrent
# clients, the idle timeout.  As in production the audit log is on, and vaultd
# is restarted (SIGTERM) and killed (SIGKILL) after the protocol checks: what
# the methods made is still there and served, and the log verifies intact.
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

# --- restarts: the same token, store and audit log --------------------------------
it_state "$HARNESS_DIR/state"
check "the methods left initialised domains to compare" grep -q '^== ' "$HARNESS_DIR/state"
printf 'signed before the restarts\n' > "$HARNESS_DIR/before.txt"
sig_before=$(vctl sign a.example "$HARNESS_DIR/before.txt" | cut -d' ' -f2)
it_restart || it_end
it_same_state "SIGTERM restart: domains, keys, public keys and trust unchanged" "$HARNESS_DIR/state"
it_restart KILL || it_end
it_same_state "SIGKILL restart: domains, keys, public keys and trust unchanged" "$HARNESS_DIR/state"
check "a signature made before both restarts still verifies" \
	sh -c "'$B/vaultctl' verify a.example -- '$sig_before' '$HARNESS_DIR/before.txt' | grep -q '^valid '"
check "the restarted vaultd signs" vctl sign a.example "$HARNESS_DIR/before.txt" >/dev/null
it_run_c "$IT/itest_rpc" concurrent
it_audit_intact "audit log intact across a SIGTERM restart and a SIGKILL"

# SIGKILL while a client pipelines runs of sign.sign (answered in parallel by
# a worker and a helper, each audited): the chain stays intact, vaultd comes back
python3 - "$HARNESS_DIR/vaultd.sock" "$HARNESS_DIR/pipelined.count" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
line = b'{"jsonrpc":"2.0","id":1,"method":"sign.sign","params":{"domain":"a.example","data":"cGlwZQ"}}\n'
answered = 0
try:
    while True:
        s.sendall(line * 16)
        got = 0
        while got < 16:
            d = s.recv(65536)
            if not d:
                raise OSError("closed")
            got += d.count(b"\n")
            answered += d.count(b'"signature"')
except OSError:
    pass
open(sys.argv[2], "w").write(str(answered))
PY
flood=$!
sleep 1
it_restart KILL || it_end
wait "$flood"
check "pipelined sign.sign runs were answered before the SIGKILL" \
	sh -c "test \"\$(cat '$HARNESS_DIR/pipelined.count')\" -gt 100"
check "the restarted vaultd signs" vctl sign a.example "$HARNESS_DIR/before.txt" >/dev/null
it_audit_intact "audit log intact after a SIGKILL under pipelined sign.sign runs"
it_stop

# server.idle_timeout = 2: an idle connection is closed after ~2-3 s
HARNESS_IDLE_TIMEOUT=2 harness_write_config
it_start "idle_timeout 2" || it_end
it_run_c "$IT/itest_rpc" idle
check "vaultd logs the idle close" grep -q 'idle connection' "$HARNESS_DIR/vaultd.log"
it_same_state "a third start (new configuration): state unchanged" "$HARNESS_DIR/state"
it_audit_intact "audit log intact over three starts"

it_end
