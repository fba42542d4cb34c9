#!/bin/sh
# mcxvault — `make demo`: the main job, end to end, on a fresh SoftHSM token
# under ./var.  Every step prints what it does; nothing here is faked.
#
# SPDX-License-Identifier: Apache-2.0
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
B=${B:-build}
VAR="$root/var"
VAULTCTL="$root/$B/vaultctl"
VAULTD="$root/$B/vaultd"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

cleanup() {
	if [ -n "${vaultd_pid:-}" ] && kill -0 "$vaultd_pid" 2>/dev/null; then
		kill -TERM "$vaultd_pid"
		wait "$vaultd_pid" 2>/dev/null || true
	fi
}
trap cleanup EXIT INT TERM

step "A fresh SoftHSM token under ./var (label mcx-vault, user PIN in ./var/pin, mode 0600)"
rm -rf "$VAR"
mkdir -p "$VAR/tokens"
cat > "$VAR/softhsm2.conf" <<EOT
directories.tokendir = $VAR/tokens
objectstore.backend = file
log.level = ERROR
EOT
export SOFTHSM2_CONF="$VAR/softhsm2.conf"
umask 077
printf '%s\n' "demo-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')" > "$VAR/pin"
# the PINs are passed on the command line only here, and never printed
printf '$ softhsm2-util --init-token --free --label mcx-vault --so-pin <so-pin> --pin <pin>\n'
softhsm2-util --init-token --free --label mcx-vault --so-pin "$(cat "$VAR/pin")-so" --pin "$(cat "$VAR/pin")"

step "A vaultd configuration: one security domain, an audit log, a GMS store, and you ($(id -un)) holding every role"
cat > "$VAR/vault.conf" <<EOT
server = { socket = "$VAR/vaultd.sock"; socket_mode = "0660"; workers = 2; };
log = { level = "info"; };
hsm = { module = "softhsm2"; token = "pkcs11:token=mcx-vault"; pin_file = "$VAR/pin"; };
audit = { file = "$VAR/audit.jsonl"; };
gms = { store = "$VAR/gms.sqlite"; };
access = ( { uid = $(id -u); roles = [ "admin", "signer", "kms", "gms", "auditor" ]; } );
domains = ( { name = "police.example"; kms_uri = "kms.police.example"; } );
EOT
cat "$VAR/vault.conf"
run "$VAULTD" -t -c "$VAR/vault.conf"

# starts vaultd in the background and waits until it answers
start_vaultd() {
	"$VAULTD" -f -c "$VAR/vault.conf" >>"$VAR/vaultd.log" 2>&1 &
	vaultd_pid=$!
	i=0
	until [ -S "$VAR/vaultd.sock" ] && "$VAULTCTL" -s "$VAR/vaultd.sock" -t 2 status >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 "$vaultd_pid" 2>/dev/null; then
			echo "vaultd did not start:" >&2
			cat "$VAR/vaultd.log" >&2
			exit 1
		fi
		sleep 0.1
	done
}

step "Start vaultd (log in ./var/vaultd.log)"
: > "$VAR/vaultd.log"
start_vaultd
export MCXVAULT_SOCKET="$VAR/vaultd.sock"
run "$VAULTCTL" status

step "Initialise the domain: its sign, cert and token keys and KMS master secrets are generated inside the HSM"
run "$VAULTCTL" domain init police.example

step "Sign a message with the domain key (ECDSA P-256 computed by the HSM)"
printf 'Security Domain Redirect Response for sip:alice@police.example\n' > "$VAR/message.txt"
printf '$ %s\n' "$VAULTCTL sign police.example $VAR/message.txt"
"$VAULTCTL" sign police.example "$VAR/message.txt" | tee "$VAR/signature.txt"
kid=$(cut -d' ' -f1 "$VAR/signature.txt")
signature=$(cut -d' ' -f2 "$VAR/signature.txt")

step "Verify it through the vault, and independently with openssl and the public key"
run "$VAULTCTL" verify police.example -- "$signature" "$VAR/message.txt"
run "$VAULTCTL" pubkey police.example > "$VAR/police.pem"
cat "$VAR/police.pem"
"$VAULTCTL" sign police.example "$VAR/message.txt" --der > "$VAR/signature.der"
run openssl dgst -sha256 -verify "$VAR/police.pem" -signature "$VAR/signature.der" "$VAR/message.txt"

step "A tampered message does not verify"
printf 'Security Domain Redirect Response for sip:mallory@police.example\n' > "$VAR/tampered.txt"
if "$VAULTCTL" verify police.example -- "$signature" "$VAR/tampered.txt"; then
	echo "unexpected: the tampered message verified" >&2
	exit 1
fi

step "Rotate the key: version 2 becomes active, version 1 verify-only"
run "$VAULTCTL" key rotate police.example
run "$VAULTCTL" sign police.example "$VAR/message.txt"
printf '%s\n' "(the signature made by $kid before the rotation still verifies:)"
run "$VAULTCTL" verify police.example -- "$signature" "$VAR/message.txt"

step "Retire version 1: its private key is destroyed, its public key stays"
run "$VAULTCTL" key retire police.example sign 1
run "$VAULTCTL" key list police.example

step "The domain's KMS certificate (TS 33.180 Annex D), signed with the domain's cert key (never the sign key)"
run "$VAULTCTL" cert show police.example
echo "(partners import it with the cert and token public keys:)"
run "$VAULTCTL" pubkey police.example --purpose cert --jwk
run "$VAULTCTL" pubkey police.example --purpose token --jwk

step "The KMS provisions a user: UID, RSK (SAKKE) and SSK/PVT (ECCSI) for the current key period"
"$VAULTCTL" --json kms user-keys police.example sip:alice@police.example > "$VAR/alice.json"
python3 - "$VAR/alice.json" <<'PY' 2>/dev/null || sed 's/"\(rsk\|ssk\)": *"[^"]*"/"\1": "…"/' "$VAR/alice.json"
import json, sys
k = json.load(open(sys.argv[1]))
print("user %s, UID %s…, key period %d (%s .. %s)" % (k["user_uri"], k["user_id"][:16], k["key_period_no"], k["valid_from"], k["valid_to"]))
print("RSK %d octets, SSK %d octets, PVT %d octets (base64url in the JSON answer; the vault validated them before answering)" % (
    len(k["rsk"]) * 3 // 4, len(k["ssk"]) * 3 // 4, len(k["pvt"]) * 3 // 4))
PY

step "A group master key for a talk group, distributed as MIKEY-SAKKE I_MESSAGEs (one per member)"
run "$VAULTCTL" gmk create police.example sip:patrol-north@police.example
printf 'sip:alice@police.example\nsip:bob@police.example\nsip:carol@partner.example kms.partner.example\n' > "$VAR/members.txt"
cat "$VAR/members.txt"
printf '$ %s\n' "$VAULTCTL gmk distribute police.example sip:patrol-north@police.example --sender sip:gms@police.example --members $VAR/members.txt"
"$VAULTCTL" gmk distribute police.example sip:patrol-north@police.example --sender sip:gms@police.example \
	--members "$VAR/members.txt" | cut -c1-110 || true
echo "(carol's KMS is not a trusted external domain: her member fails alone, the others are served)"

step "Look at the token from outside with pkcs11-tool: private keys are sensitive and never extractable"
if command -v pkcs11-tool >/dev/null 2>&1; then
	pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so --token-label mcx-vault --login \
		--pin "$(cat "$VAR/pin")" --list-objects --type privkey 2>/dev/null |
		grep -E 'Private Key|label|Usage|Access' || true
else
	echo "(pkcs11-tool not installed: apt-get install opensc)"
fi

step "A caller without the admin role is refused (default deny)"
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null 2>&1; then
	# reach the socket through its group, never by making it world-writable
	chgrp nogroup "$VAR" "$VAR/vaultd.sock" && chmod 0710 "$VAR"
	printf '$ setpriv --reuid=nobody --regid=nogroup --clear-groups vaultctl key rotate police.example\n'
	if setpriv --reuid=nobody --regid=nogroup --clear-groups "$VAULTCTL" -s "$VAR/vaultd.sock" key rotate police.example; then
		echo "unexpected: nobody could rotate" >&2
		exit 1
	fi
	chgrp "$(id -g)" "$VAR" "$VAR/vaultd.sock"; chmod 0700 "$VAR"
else
	echo "(needs root and setpriv to run a client as another user; skipped)"
fi

step "Every key operation, change and denial is in the audit log: the auditor checks it"
run "$VAULTCTL" audit tail -n 3 | cut -c1-150
sleep 1.2   # let the next checkpoint seal the last records
run "$VAULTCTL" audit verify

step "Restart vaultd (SIGTERM, then start again over the same token and audit log): keys, groups and the log carry on"
"$VAULTCTL" key list police.example > "$VAR/keys.before"
printf '$ kill -TERM %s; vaultd -f -c %s\n' "$vaultd_pid" "$VAR/vault.conf"
kill -TERM "$vaultd_pid"
wait "$vaultd_pid" 2>/dev/null || true
start_vaultd
grep -E 'audit log .*continuing at record' "$VAR/vaultd.log" | tail -n 1
run "$VAULTCTL" key list police.example
if ! "$VAULTCTL" key list police.example | cmp -s - "$VAR/keys.before"; then
	echo "unexpected: the keys changed across the restart" >&2
	exit 1
fi
run "$VAULTCTL" gmk list police.example
printf '%s\n' "(the signature made by $kid before the restart still verifies:)"
run "$VAULTCTL" verify police.example -- "$signature" "$VAR/message.txt"
run "$VAULTCTL" sign police.example "$VAR/message.txt"
sleep 1.2   # let the next checkpoint seal the new records
printf '%s\n' "(one hash chain across both runs of vaultd, anchored in the HSM:)"
run "$VAULTCTL" audit verify

step "Stop vaultd"
kill -TERM "$vaultd_pid"
wait "$vaultd_pid" 2>/dev/null || true
vaultd_pid=
tail -n 8 "$VAR/vaultd.log"

printf '\n\033[1mDemo complete.\033[0m  The token, configuration and log are in ./var; run `make check` for the tests.\n'
