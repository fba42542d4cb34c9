#!/bin/bash
# KMS master secrets seen from outside the vault (issue: "pkcs11-tool from
# outside must show no object whose value is a master secret in the clear"):
# every data object of the token is read with pkcs11-tool and scanned for the
# SAKKE z and ECCSI KSAK of each KMS generation (tests/kms/scan_secrets.c);
# the KEK and the audit key are sensitive and never extractable.  With the
# audit log on (the harness default, as in production) vaultd is restarted
# (SIGTERM) and killed (SIGKILL) first: both KMS generations keep their
# public values, a user's RSK is derived unchanged, and the log verifies.
# Ends with "kms-token: N passed, N failed".
#
# SPDX-License-Identifier: Apache-2.0
set -u
. "$(dirname "$0")/../lib/harness.sh"

pass=0 fail=0 skip=0
ok() { echo "ok - $1"; pass=$((pass + 1)); }
not_ok() { echo "FAIL - $1"; fail=$((fail + 1)); }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }
trap 'harness_cleanup' EXIT

if ! command -v pkcs11-tool >/dev/null; then
	echo "skipped - pkcs11-tool (opensc) is not installed"
	echo "kms-token: 0 passed, 0 failed, 1 skipped"
	exit 0
fi
MODULE=/usr/lib/softhsm/libsofthsm2.so
P11="pkcs11-tool --module $MODULE --token-label mcx-vault"
V="$B/vaultctl"

harness_setup || { echo "kms-token: 0 passed, 1 failed"; exit 1; }
harness_start || { echo "kms-token: 0 passed, 1 failed"; exit 1; }
$V domain init a.example >/dev/null
$V kms user-keys a.example sip:alice@a.example >/dev/null
$V key rotate a.example kms >/dev/null
publics=()
for version in 1 2; do
	json=$($V --json cert show a.example --version $version)
	z=$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["certificate"]["pub_enc_key"])')
	kpak=$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["certificate"]["pub_auth_key"])')
	publics+=("$z $kpak")
done

# --- restarts: the same token and audit log -------------------------------------
rsk() { $V --json kms user-keys a.example sip:alice@a.example --time 2027-01-15T00:00:00Z |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["rsk"])'; }
rsk_before=$(rsk)
for sig in TERM KILL; do
	check "vaultd starts again after SIG$sig" "harness_restart $sig"
	same=1
	for version in 1 2; do
		json=$($V --json cert show a.example --version $version)
		now=$(echo "$json" | python3 -c 'import json,sys; c = json.load(sys.stdin)["certificate"]; print(c["pub_enc_key"], c["pub_auth_key"])')
		[ "$now" = "${publics[$((version - 1))]}" ] || same=0
	done
	check "after SIG$sig: both KMS generations keep their public values (Z, KPAK)" "[ $same -eq 1 ]"
	check "after SIG$sig: alice's RSK is derived unchanged from the same master secret" "[ -n '$rsk_before' ] && [ \"\$(rsk)\" = '$rsk_before' ]"
done
if [ -n "${HARNESS_AUDIT_FILE:-}" ]; then
	out=$($V audit verify 2>&1)
	check "audit verify: intact after a SIGTERM restart and a SIGKILL" "echo '$out' | grep -q '^intact: '"
fi
harness_stop

check "the scanner finds a secret planted in noise (positive control)" "'$B/tests/kms/scan_secrets' --self-test >/dev/null"

objects="$HARNESS_DIR/objects"
mkdir -p "$objects"
$P11 --login --pin 1234 --list-objects --type data 2>/dev/null | sed -n "s/^ *label: *'\\(.*\\)'\$/\\1/p" > "$HARNESS_DIR/labels"
count=0
while read -r label; do
	count=$((count + 1))
	$P11 --login --pin 1234 --read-object --type data --label "$label" -o "$objects/$count" >/dev/null 2>&1 ||
		not_ok "pkcs11-tool cannot read data object '$label'"
done < "$HARNESS_DIR/labels"
check "pkcs11-tool sees the KMS data objects (sealed secrets, parameters, certificates)" \
	"grep -q 'mcxvault/a.example/kms/1/sealed' '$HARNESS_DIR/labels' && grep -q 'mcxvault/a.example/kms/2/cert' '$HARNESS_DIR/labels'"
for pair in "${publics[@]}"; do
	set -- $pair
	if out=$("$B/tests/kms/scan_secrets" "$1" "$2" "$objects"/* 2>&1); then
		ok "no data object holds a master secret (z or KSAK) in the clear, raw or as hex ($count objects)"
	else
		not_ok "master secret found in the clear: $out"
	fi
	if [ -z "${HARNESS_AUDIT_FILE:-}" ]; then
		:
	elif out=$("$B/tests/kms/scan_secrets" "$1" "$2" "$HARNESS_AUDIT_FILE" 2>&1); then
		ok "the audit log holds no master secret (z or KSAK), raw or as hex"
	else
		not_ok "master secret found in the audit log: $out"
	fi
done
check "without the PIN no KMS object is visible at all" \
	"! $P11 --list-objects 2>/dev/null | grep -q 'mcxvault/a.example/kms'"
listing=$($P11 --login --pin 1234 --list-objects --type secrkey 2>/dev/null)
check "the vault KEK is a secret key that is sensitive and never extractable" \
	"echo '$listing' | grep -A8 'mcxvault-kek/1' | grep -q 'sensitive, always sensitive, never extractable'"
if [ -n "${HARNESS_AUDIT_FILE:-}" ]; then
	check "the audit MAC key is sensitive and never extractable" \
		"echo '$listing' | grep -A8 'mcxvault-audit/1' | grep -q 'sensitive, always sensitive, never extractable'"
fi
check "the sealed secrets differ from one generation to the next" \
	"! cmp -s \"\$(grep -n 'kms/1/sealed' '$HARNESS_DIR/labels' | cut -d: -f1 | sed 's|^|$objects/|')\" \"\$(grep -n 'kms/2/sealed' '$HARNESS_DIR/labels' | cut -d: -f1 | sed 's|^|$objects/|')\""

echo "kms-token: $pass passed, $fail failed${skip:+, $skip skipped}"
[ "$fail" -eq 0 ]
