#!/bin/sh
# mcxvault integration: rotation, retirement, and the schedule and cancel of
# a delayed destruction (keys.destroy_delay), and vaultd's own destruction of
# a due version survive a vaultd killed with
# SIGKILL at every crash point of vault/keys/keystore.c, and at random times
# during a stream of rotations and retirements; a domain.init killed between
# its keys is completed by start-up and a second domain.init.  After each crash vaultd is
# restarted (start-up repair) and:
#   - exactly one version is active, the newest; versions 1..n, no gaps;
#   - every version acknowledged before the crash is there, with the same
#     public key; an acknowledged retirement stays retired;
#   - the active key signs; every signature made before still verifies;
#   - the token, listed from outside with pkcs11-tool, holds exactly the key
#     objects key.list accounts for: a public key and one meta object per
#     version, a private key unless retired, nothing else (no orphans);
#   - the audit log (on, as in production) verifies intact after each crash,
#     and holds one start record per start and one stop record per SIGTERM.
#
#   B=build sh tests/integration/test_crash.sh
#
# SPDX-License-Identifier: Apache-2.0
. "$(dirname "$0")/lib.sh"

it_begin integration-crash

D=a.example
SIGS="$HARNESS_DIR/signatures"
RETIRED=""      # "--retired N" for every acknowledged retirement

save_sig() { "$IT/itest_keys" save "$D" "$SIGS"; }
active() { "$IT/itest_keys" states "$D" | awk '$1 == "sign" && $3 == "active" { print $2 }'; }
# the active version when vaultd was last stopped (states saved then)
active_saved() { awk '$1 == "sign" && $3 == "active" { print $2 }' "$HARNESS_DIR/states"; }

# The token holds exactly what key.list says (checked with vaultd stopped):
# every object labelled mcxvault/<domain>/<purpose>/<version>[/...] belongs to
# a listed version; each listed version has one meta object; a signing
# version has one public key and, unless retired, one private key.  Objects
# outside mcxvault/<domain>/ (a vault-wide KEK, ...) are not this test's.
token_consistent() {
	it_token_objects > "$HARNESS_DIR/objects"
	if ! grep -q . "$HARNESS_DIR/objects"; then
		echo "  # pkcs11-tool listed nothing"
		return 1
	fi
	awk -v prefix="mcxvault/$D/" '
	FNR == NR { state[$1 "/" $2] = $3; next }
	{
		cls = $1; label = $2
		if (index(label, prefix) != 1) next
		rest = substr(label, length(prefix) + 1)       # purpose/version[/suffix]
		split(rest, part, "/")
		pv = part[1] "/" part[2]
		suffix = substr(rest, length(pv) + 2)
		kind = suffix == "" ? cls : suffix == "meta" ? cls "-meta" : "blob"
		n[pv, kind]++
		seen[pv] = 1
	}
	END {
		for (pv in seen)
			if (!(pv in state)) { print "  # orphan objects of unlisted version " pv; bad = 1 }
		for (pv in state) {
			if (n[pv, "data-meta"] != 1) { print "  # " pv ": " n[pv, "data-meta"] + 0 " meta objects"; bad = 1 }
			if (n[pv, "priv-meta"] + n[pv, "pub-meta"] + n[pv, "secret-meta"] != 0) { print "  # " pv ": stray meta"; bad = 1 }
			if (pv !~ /^sign\//) continue
			want_priv = state[pv] == "retired" ? 0 : 1
			if (n[pv, "pub"] != 1) { print "  # " pv ": " n[pv, "pub"] + 0 " public keys"; bad = 1 }
			if (n[pv, "priv"] != want_priv) { print "  # " pv " (" state[pv] "): " n[pv, "priv"] + 0 " private keys"; bad = 1 }
			if (n[pv, "data"] + n[pv, "blob"] != 0) { print "  # " pv ": stray objects"; bad = 1 }
		}
		exit bad
	}' "$HARNESS_DIR/states" "$HARNESS_DIR/objects"
}

# after_restart NAME ACKED [--active N]: the checks above, then a fresh
# signature to be checked after the next crash; leaves vaultd stopped.
after_restart() {
	it_name=$1
	shift
	# shellcheck disable=SC2086
	it_run_c "$IT/itest_keys" check "$it_name" "$D" "$SIGS" "$@" $RETIRED
	it_audit_intact "$it_name: audit log intact after the crash"
	"$IT/itest_keys" states "$D" > "$HARNESS_DIR/states"
	check "$it_name: a new rotation works after the repair" vctl key rotate "$D" >/dev/null
	"$IT/itest_keys" states "$D" > "$HARNESS_DIR/states"
	save_sig >/dev/null || fail "$it_name: sign after the restart"
	it_stop
	check "$it_name: the token holds no orphan or missing key objects" token_consistent
}

# crash_at POINT vaultctl-ARGS...: vaultd with the crash point set dies in the
# middle of the command; the client sees a failure, never a success.
crash_at() {
	it_point=$1
	shift
	it_stop
	MCXVAULT_TEST_CRASH_POINT=$it_point
	export MCXVAULT_TEST_CRASH_POINT
	it_start "crash point $it_point"
	unset MCXVAULT_TEST_CRASH_POINT
	vctl "$@" > "$HARNESS_DIR/crash.out" 2>&1
	it_client=$?
	wait "$HARNESS_PID"
	it_rc=$?
	HARNESS_PID=
	check "$it_point: vaultd killed itself there (SIGKILL)" [ "$it_rc" -eq 137 ]
	check "$it_point: vaultd logged the crash point" grep -q "test crash point '$it_point' reached" \
		"$HARNESS_DIR/vaultd.log"
	check "$it_point: the client saw a failure, not an acknowledgement" [ "$it_client" -ne 0 ]
	it_start "after crash at $it_point" || it_end
}

it_start || it_end
check "domain.init" vctl domain init "$D" >/dev/null
save_sig >/dev/null
vctl key rotate "$D" >/dev/null && save_sig >/dev/null
vctl key rotate "$D" >/dev/null && save_sig >/dev/null
check "set-up: version 3 active with signatures of 1..3" [ "$(active)" = 3 ]
"$IT/itest_keys" states "$D" > "$HARNESS_DIR/states"
it_stop
check "set-up: the token holds exactly the listed key objects" token_consistent

# --- every crash point of a rotation ---------------------------------------------
for point in after-keypair after-meta state-after-new-meta after-demote; do
	n=$(active_saved)
	crash_at "$point" key rotate "$D"
	case $point in
	after-keypair) want=$n ;;              # key pair without meta: discarded
	*) want=$((n + 1)) ;;                  # meta written: the new version wins
	esac
	after_restart "rotate-$point" "$n" --active "$want"
done

# --- crash points of a retirement ------------------------------------------------
for point in retire-after-meta state-after-new-meta; do
	n=$(active_saved)
	victim=$((n - 1))
	crash_at "$point" key retire "$D" sign "$victim"
	# the retired meta was written before the crash: retirement completes
	RETIRED="$RETIRED --retired $victim"
	after_restart "retire-$point" "$n" --active "$n"
done

# --- random-time SIGKILLs during rotations and retirements -----------------------
rounds=${CRASH_ROUNDS:-4}
r=0
while [ $r -lt $rounds ]; do
	r=$((r + 1))
	it_start "random kill round $r" || it_end
	: > "$HARNESS_DIR/acks"
	before=$(active)
	(
		while out=$("$B/vaultctl" key rotate "$D" 2>/dev/null); do
			v=$(printf '%s\n' "$out" | sed -n 's/.* sign version \([0-9]*\) is active.*/\1/p')
			echo "rotated $v" >> "$HARNESS_DIR/acks"
			"$B/vaultctl" key retire "$D" sign $((v - 1)) >/dev/null 2>&1 || break
			echo "retired $((v - 1))" >> "$HARNESS_DIR/acks"
		done
	) &
	loop=$!
	it_track "$loop"
	# once a first rotation is acknowledged, wait a random while: the kill lands
	# anywhere in a rotation or retirement (or between them); 0..600 ms
	i=0
	while ! grep -q rotated "$HARNESS_DIR/acks" && [ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	ms=$(( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 600 ))
	sleep "$(printf '0.%03d' "$ms")"
	it_kill
	wait "$loop"
	IT_EXTRA_PIDS=
	acked=$(awk -v v="$before" '$1 == "rotated" { v = $2 } END { print v + 0 }' "$HARNESS_DIR/acks")
	for v in $(awk '$1 == "retired" { print $2 }' "$HARNESS_DIR/acks"); do
		RETIRED="$RETIRED --retired $v"
	done
	echo "# random kill $r, ${ms} ms after the first acknowledgement: $(grep -c rotated "$HARNESS_DIR/acks") rotations," \
		"$(grep -c retired "$HARNESS_DIR/acks") retirements acknowledged"
	check "random kill $r: some rotation was acknowledged first" [ "$acked" -gt "$before" ]
	it_start "after random kill $r" || it_end
	after_restart "random-kill-$r" "$acked"
done

# --- crash points of a scheduled destruction and of its cancellation --------------
# keys.destroy_delay (long: nothing fires during the test) makes key.retire
# schedule.  A schedule or a cancellation is a new meta object with the same
# state (verify-only) and a higher rev, then the old one goes: killed between
# the two, start-up keeps the higher rev, so the change the crash interrupted
# wins, the other meta is removed, and the key is never lost.
echo 'keys = { destroy_delay = 3600; };' >> "$HARNESS_DIR/vault.conf"
n=$(active_saved)
victim=$((n - 1))
superseded() { grep -c 'removing superseded key metadata' "$HARNESS_DIR/vaultd.log"; }
before=$(superseded)
crash_at schedule-after-new-meta key retire "$D" sign "$victim"
check "schedule-after-new-meta: start-up found two metas and removed one" [ "$(superseded)" -gt "$before" ]
check "schedule-after-new-meta: the higher rev wins: version $victim is scheduled" sh -c \
	"'$B/vaultctl' key list $D | grep -Eq '^sign +$victim +verify-only +[^ ]+ +[^ ]+ +[0-9T:-]+Z\$'"
after_restart "schedule-after-new-meta" "$n" --active "$n"
n=$(active_saved)
before=$(superseded)
crash_at cancel-after-new-meta key cancel-retire "$D" sign "$victim"
check "cancel-after-new-meta: start-up found two metas and removed one" [ "$(superseded)" -gt "$before" ]
check "cancel-after-new-meta: the higher rev wins: version $victim is verify-only, not scheduled" sh -c \
	"'$B/vaultctl' key list $D | grep -Eq '^sign +$victim +verify-only ' &&
	 ! '$B/vaultctl' key list $D | grep -Eq '^sign +$victim +verify-only +[^ ]+ +[^ ]+ +[0-9T:-]+Z\$'"
after_restart "cancel-after-new-meta" "$n" --active "$n"

# --- a due destruction carried out by vaultd itself, killed half way ---------------
# keys.destroy_delay = 1: the schedule is acknowledged, then vaultd's own
# destruction (the reaper thread) dies between the "retired" meta and the
# destruction of the private key; start-up finishes the retirement.
sed -i 's/destroy_delay = 3600;/destroy_delay = 1;/' "$HARNESS_DIR/vault.conf"
n=$(active_saved)
victim=$((n - 1))
MCXVAULT_TEST_CRASH_POINT=retire-after-meta
export MCXVAULT_TEST_CRASH_POINT
it_start "crash point retire-after-meta in the scheduled destruction"
unset MCXVAULT_TEST_CRASH_POINT
check "auto-destroy: key retire schedules and is acknowledged" sh -c "'$B/vaultctl' key retire $D sign $victim | grep -q 'scheduled for'"
i=0
while kill -0 "$HARNESS_PID" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 "$HARNESS_PID" 2>/dev/null; then
	fail "auto-destroy: vaultd reached the crash point within 10 s"
	kill -KILL "$HARNESS_PID"
fi
wait "$HARNESS_PID"
it_rc=$?
HARNESS_PID=
check "auto-destroy: vaultd killed itself in its own destruction (SIGKILL)" [ "$it_rc" -eq 137 ]
if [ -n "${HARNESS_AUDIT_FILE:-}" ]; then
	check "auto-destroy: the intent record was written ahead" sh -c \
		"grep '\"type\":\"intent\"' '$HARNESS_AUDIT_FILE' | grep '\"method\":\"key.retire\"' | grep -q '\"destroy_at\":'"
fi
it_start "after the crash in the scheduled destruction" || it_end
RETIRED="$RETIRED --retired $victim"
after_restart "auto-destroy-retire-after-meta" "$n" --active "$n"

# --- a domain.init killed between its keys ------------------------------------------
# b.example: sign/1 is made, vaultd dies before cert/1.  Start-up's upgrade adds
# the cert and token keys; a second domain.init adds the KMS generation, whose
# certificate the cert key signs.
E=b.example
crash_at init-after-purpose domain init "$E"
check "init crash: start-up made cert/1 and token/1" sh -c \
	"'$B/vaultctl' key list $E | grep -Eq '^cert +1 +active' && '$B/vaultctl' key list $E | grep -Eq '^token +1 +active'"
check "init crash: a second domain.init completes the domain" sh -c "'$B/vaultctl' domain init $E >/dev/null"
check "init crash: the KMS certificate is signed by the cert key" sh -c \
	"'$B/vaultctl' --json cert show $E | grep -q '\"signed_by\": \"$E/cert/1\"'"
it_stop

# --- the audit log over every crash and restart ------------------------------------
it_start "after every crash" || it_end
it_audit_intact "audit log intact after every crash and restart"
if [ -n "${HARNESS_AUDIT_FILE:-}" ]; then
	n=$(grep -c '"type":"start"' "$HARNESS_AUDIT_FILE")
	check "the log holds one start record per start ($IT_STARTS, found $n)" [ "$n" -eq "$IT_STARTS" ]
	n=$(grep -c '"type":"stop"' "$HARNESS_AUDIT_FILE")
	check "... and one stop record per SIGTERM ($IT_STOPS, found $n): none for a SIGKILL" [ "$n" -eq "$IT_STOPS" ]
fi

it_end
