# mcxvault — shell test harness: a fresh SoftHSM token and a real vaultd.
#
#   . tests/lib/harness.sh
#   harness_setup            # $HARNESS_DIR, token "mcx-vault", vault.conf
#   harness_start            # starts $B/vaultd -f, exports MCXVAULT_SOCKET
#   ...                      # vaultctl / clients against the real daemon
#   harness_stop; harness_cleanup
#
#   harness_restart [KILL]   # SIGTERM (or SIGKILL) and start again: same token, store, log
#   harness_audit_verify     # vaultctl audit verify of the live log (exit status)
#
# Environment: B (build directory, default build), HARNESS_EXTRA_ACCESS
# (extra libconfig access entries), HARNESS_DOMAINS (extra domain groups),
# HARNESS_AUDIT (the audit log; on by default, as in production, at
# $HARNESS_DIR/audit.jsonl; "off" for none), HARNESS_AUDIT_BATCH,
# HARNESS_AUDIT_INTERVAL, HARNESS_AUDIT_GROUP, HARNESS_GMS_STORE (a gms.store path; default none),
# HARNESS_SERVER_EXTRA (more settings for the server group).
#
# SPDX-License-Identifier: Apache-2.0

: "${B:=build}"
HARNESS_ROOT=$(cd "$(dirname "${BASH_SOURCE:-$0}")/../.." 2>/dev/null && pwd)
[ -f "$HARNESS_ROOT/Makefile" ] || HARNESS_ROOT=$(pwd)
case "$B" in /*) ;; *) B="$HARNESS_ROOT/$B" ;; esac
export B

harness_setup() {
	HARNESS_DIR=$(mktemp -d /tmp/mcxvault-test.XXXXXX)
	chmod 755 "$HARNESS_DIR"
	mkdir -p "$HARNESS_DIR/tokens"
	cat > "$HARNESS_DIR/softhsm2.conf" <<EOT
directories.tokendir = $HARNESS_DIR/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOT
	export SOFTHSM2_CONF="$HARNESS_DIR/softhsm2.conf"
	softhsm2-util --init-token --free --label mcx-vault --pin 1234 --so-pin 5678 >/dev/null || return 1
	printf '1234\n' > "$HARNESS_DIR/pin"
	chmod 600 "$HARNESS_DIR/pin"
	harness_write_config
}

harness_write_config() {
	cat > "$HARNESS_DIR/vault.conf" <<EOT
server = {
  socket = "$HARNESS_DIR/vaultd.sock";
  socket_mode = "${HARNESS_SOCKET_MODE:-0660}";
  max_request_bytes = ${HARNESS_MAX_REQUEST:-1048576};
  workers = ${HARNESS_WORKERS:-2};
  idle_timeout = ${HARNESS_IDLE_TIMEOUT:-300};${HARNESS_SERVER_EXTRA:-}
};
log = { level = "${HARNESS_LOG_LEVEL:-info}"; };
hsm = {
  module = "${HARNESS_MODULE:-softhsm2}";
  token = "pkcs11:token=mcx-vault";
  pin_file = "$HARNESS_DIR/pin";
  sync_path = "$HARNESS_DIR/tokens";
};
access = (
  { uid = $(id -u); roles = [ "admin", "kms", "gms", "signer", "auditor" ]; }${HARNESS_EXTRA_ACCESS:-}
);
domains = (
  { name = "a.example"; kms_uri = "kms.a.example"; },
  { name = "b.example"; kms_uri = "kms.b.example"; }${HARNESS_DOMAINS:-}
);
EOT
	HARNESS_AUDIT_FILE=
	if [ "${HARNESS_AUDIT:-on}" != off ]; then
		HARNESS_AUDIT_GROUP_SETTING=
		[ -n "${HARNESS_AUDIT_GROUP:-}" ] && HARNESS_AUDIT_GROUP_SETTING=" group = \"$HARNESS_AUDIT_GROUP\";"
		case "${HARNESS_AUDIT:-on}" in on) HARNESS_AUDIT_FILE="$HARNESS_DIR/audit.jsonl" ;; *) HARNESS_AUDIT_FILE=$HARNESS_AUDIT ;; esac
		cat >> "$HARNESS_DIR/vault.conf" <<EOT
audit = { file = "$HARNESS_AUDIT_FILE"; batch = ${HARNESS_AUDIT_BATCH:-64}; checkpoint_interval = ${HARNESS_AUDIT_INTERVAL:-1};$HARNESS_AUDIT_GROUP_SETTING };
EOT
	fi
	if [ -n "${HARNESS_GMS_STORE:-}" ]; then
		echo "gms = { store = \"$HARNESS_GMS_STORE\"; };" >> "$HARNESS_DIR/vault.conf"
	fi
}

# Starts vaultd in the foreground, logging to $HARNESS_DIR/vaultd.log.
harness_start() {
	export MCXVAULT_SOCKET="$HARNESS_DIR/vaultd.sock"
	"$B/vaultd" -f -c "$HARNESS_DIR/vault.conf" >>"$HARNESS_DIR/vaultd.log" 2>&1 &
	HARNESS_PID=$!
	# ready means answering: a socket file may be a dead vaultd's leftover
	i=0
	until [ -S "$MCXVAULT_SOCKET" ] && "$B/vaultctl" -s "$MCXVAULT_SOCKET" -t 2 status >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -gt 300 ] || ! kill -0 "$HARNESS_PID" 2>/dev/null; then
			echo "harness: vaultd did not start; log follows" >&2
			cat "$HARNESS_DIR/vaultd.log" >&2
			return 1
		fi
		sleep 0.05
	done
}

harness_stop() {
	if [ -n "${HARNESS_PID:-}" ]; then
		kill -TERM "$HARNESS_PID" 2>/dev/null
		wait "$HARNESS_PID" 2>/dev/null
		HARNESS_PID=
	fi
}

# Stops vaultd with SIGTERM (or the signal given, e.g. KILL) and starts it
# again over the same token, store and audit log.  Non-zero when it does not
# start, or when it did not exit 0 on SIGTERM (it is started all the same).
harness_restart() {
	harness_rc=0
	if [ -n "${HARNESS_PID:-}" ]; then
		kill -"${1:-TERM}" "$HARNESS_PID" 2>/dev/null
		wait "$HARNESS_PID" 2>/dev/null
		harness_rc=$?
		HARNESS_PID=
		if [ "${1:-TERM}" = TERM ] && [ "$harness_rc" -ne 0 ]; then
			echo "harness: vaultd exited $harness_rc on SIGTERM; log follows" >&2
			tail -n 30 "$HARNESS_DIR/vaultd.log" >&2
		else
			harness_rc=0
		fi
	fi
	harness_start || return 1
	return "$harness_rc"
}

# vaultctl audit verify over the live log (waits for a checkpoint first).
harness_audit_verify() {
	[ -n "${HARNESS_AUDIT_FILE:-}" ] || return 0
	"$B/vaultctl" -s "$MCXVAULT_SOCKET" audit verify "$@"
}

harness_cleanup() {
	harness_stop
	[ -n "${HARNESS_DIR:-}" ] && rm -rf "$HARNESS_DIR"
	HARNESS_DIR=
}
