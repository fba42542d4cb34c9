# mcxvault — a throw-away PostgreSQL cluster for the tests of several vaults
# sharing state (tests/multinode):
#
#   . tests/multinode/pg.sh
#   pg_find || skip            # $PG_BIN: initdb, pg_ctl, postgres (Debian postgresql-NN)
#   pg_setup DIR               # initdb into DIR/pg; $PG_URL for vault.conf's store
#   pg_start / pg_stop         # the server (Unix socket only, in DIR/pgsock)
#   pg_cleanup                 # stops it
#
# PostgreSQL refuses to run as root: when we are root, the cluster belongs to
# "nobody" and every server command runs as that user (setpriv).  The server
# listens on no TCP port (listen_addresses = ''), only on its socket in the
# test directory, and trusts local connections: nothing outside the test can
# reach it.
#
# SPDX-License-Identifier: Apache-2.0

pg_find() {
	PG_BIN=
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && PG_BIN=$d
	done
	[ -n "$PG_BIN" ]
}

# Runs a PostgreSQL command as the cluster's owner.
pg_as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
	else
		"$@"
	fi
}

pg_setup() {
	PG_DIR=$1/pg
	PG_SOCK=$1/pgsock
	PG_LOG=$1/postgres.log
	mkdir -p "$PG_DIR" "$PG_SOCK"
	touch "$PG_LOG"
	PG_USER=$(id -un)
	if [ "$(id -u)" -eq 0 ]; then
		chown nobody:nogroup "$PG_DIR" "$PG_SOCK" "$PG_LOG"
		PG_USER=nobody
	fi
	chmod 700 "$PG_DIR"
	pg_as_owner "$PG_BIN/initdb" -D "$PG_DIR" -U "$PG_USER" --auth=trust --no-sync -E UTF8 \
		--locale=C >"$1/initdb.log" 2>&1 || { cat "$1/initdb.log" >&2; return 1; }
	# a libpq connection URI: the socket directory is the host
	PG_URL="postgresql:///postgres?host=$PG_SOCK&user=$PG_USER"
	export PG_BIN PG_DIR PG_SOCK PG_LOG PG_URL
}

pg_start() {
	pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR" -l "$PG_LOG" -w -t 30 \
		-o "-c listen_addresses='' -k $PG_SOCK -c fsync=off -c max_connections=50" start >/dev/null
}

# pg_stop [MODE]: fast (default) disconnects every client at once.
pg_stop() {
	pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR" -m "${1:-fast}" -w -t 30 stop >/dev/null 2>&1
}

pg_cleanup() {
	[ -n "${PG_DIR:-}" ] && [ -f "$PG_DIR/postmaster.pid" ] && pg_stop immediate
	PG_DIR=
}
