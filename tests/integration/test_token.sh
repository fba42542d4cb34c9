#!/bin/sh
# mcxvault integration: outside views of what vaultd made.
#   - the token, listed with pkcs11-tool (opensc): every signing private key
#     is sensitive, never extractable, generated in the token, sign-only,
#     and private (invisible without login);
#   - a signature from sign.sign verifies with `openssl dgst -sha256 -verify`
#     against the PEM from sign.public_key (r||s converted to DER with
#     `openssl asn1parse -genconf`, independently of vaultctl's --der);
#   - with the audit log on (production), vaultd restarted with SIGTERM and
#     killed with SIGKILL: the same keys, signatures from before verify with
#     openssl against the PEM served after, the log verifies intact, and the
#     token holds the audit key and anchor as private objects.
#
#   B=build sh tests/integration/test_token.sh
#
# SPDX-License-Identifier: Apache-2.0
. "$(dirname "$0")/lib.sh"

it_begin integration-token
W="$HARNESS_DIR/work"
mkdir -p "$W"

it_start || it_end
check "domain.init a.example" vctl domain init a.example >/dev/null
check "domain.init b.example" vctl domain init b.example >/dev/null
check "key.rotate a.example" vctl key rotate a.example >/dev/null

# --- openssl -------------------------------------------------------------------
# b64url_hex TEXT: the octets of base64url TEXT as lower-case hex
b64url_hex() {
	printf '%s' "$1" | tr '_-' '/+' | awk '{ s = $0; while (length(s) % 4) s = s "="; print s }' |
		openssl base64 -d -A | od -An -tx1 -v | tr -d ' \n'
}
# sig_der B64URL_RS OUT: r||s to a DER ECDSA-Sig-Value with openssl's genconf
sig_der() {
	it_hex=$(b64url_hex "$1")
	[ ${#it_hex} -eq 128 ] || { echo "  # signature is not 64 octets: $it_hex"; return 1; }
	cat > "$W/sig.cnf" <<EOT
asn1 = SEQUENCE:sig
[sig]
r = INTEGER:0x$(printf '%s' "$it_hex" | cut -c1-64)
s = INTEGER:0x$(printf '%s' "$it_hex" | cut -c65-128)
EOT
	openssl asn1parse -genconf "$W/sig.cnf" -out "$2" -noout
}
ossl_verify() { # PEM SIG.DER DATA
	openssl dgst -sha256 -verify "$1" -signature "$2" "$3" > "$W/ossl.out" 2>&1 &&
		grep -q 'Verified OK' "$W/ossl.out"
}

head -c 1000 /dev/urandom > "$W/data"
printf 'tampered' | cat "$W/data" - > "$W/tampered"
vctl sign a.example "$W/data" > "$W/sign.out"
kid=$(cut -d' ' -f1 "$W/sign.out")
sig=$(cut -d' ' -f2 "$W/sign.out")
check "sign.sign by the active version" [ "$kid" = a.example/sign/2 ]
vctl pubkey a.example > "$W/pub2.pem"
check "sign.public_key PEM is a P-256 public key for openssl" \
	sh -c "openssl pkey -pubin -in '$W/pub2.pem' -noout -text | grep -q -e prime256v1 -e P-256"
check "r||s converts to DER" sig_der "$sig" "$W/sig.der"
check "openssl dgst -sha256 -verify accepts the signature" ossl_verify "$W/pub2.pem" "$W/sig.der" "$W/data"
check_not "openssl rejects it over tampered data" ossl_verify "$W/pub2.pem" "$W/sig.der" "$W/tampered"
# "--": a base64url signature may begin with "-"
check "vaultctl verify agrees" sh -c "'$B/vaultctl' verify a.example -- '$sig' '$W/data' | grep -q '^valid a.example/sign/2'"

# vaultctl's own DER output, and a signature over a digest
vctl sign a.example "$W/data" --der > "$W/sig-ctl.der"
check "vaultctl sign --der verifies with openssl" ossl_verify "$W/pub2.pem" "$W/sig-ctl.der" "$W/data"
digest=$(openssl dgst -sha256 -r "$W/data" | cut -c1-64)
vctl sign a.example --digest "$digest" > "$W/sign-digest.out"
sig_der "$(cut -d' ' -f2 "$W/sign-digest.out")" "$W/sig-digest.der"
check "sign.sign over a digest verifies with openssl over its data" ossl_verify "$W/pub2.pem" "$W/sig-digest.der" "$W/data"

# an old version's PEM verifies its old signatures, not the new ones
vctl pubkey a.example --version 1 > "$W/pub1.pem"
check_not "version 1's PEM differs from version 2's" cmp -s "$W/pub1.pem" "$W/pub2.pem"
check_not "version 1's key does not verify version 2's signature" ossl_verify "$W/pub1.pem" "$W/sig.der" "$W/data"
vctl pubkey b.example > "$W/pubb.pem"
vctl sign b.example "$W/data" > "$W/sign-b.out"
sig_der "$(cut -d' ' -f2 "$W/sign-b.out")" "$W/sig-b.der"
check "b.example's signature verifies with b.example's PEM" ossl_verify "$W/pubb.pem" "$W/sig-b.der" "$W/data"
check_not "... and not with a.example's" ossl_verify "$W/pub2.pem" "$W/sig-b.der" "$W/data"

# --- restarts: the same token and audit log --------------------------------------------
it_state "$W/state"
it_restart || it_end
it_same_state "SIGTERM restart: the same keys and public keys" "$W/state"
vctl pubkey a.example > "$W/pub2-after-term.pem"
check "the PEM served after the restart is the one from before" cmp -s "$W/pub2.pem" "$W/pub2-after-term.pem"
it_restart KILL || it_end
it_same_state "SIGKILL restart: the same keys and public keys" "$W/state"
vctl sign a.example "$W/data" > "$W/sign-after.out"
sig_der "$(cut -d' ' -f2 "$W/sign-after.out")" "$W/sig-after.der"
check "a signature after the crash verifies with openssl and the PEM from before" \
	ossl_verify "$W/pub2.pem" "$W/sig-after.der" "$W/data"
check "a signature from before the crash still verifies (vaultctl)" \
	sh -c "'$B/vaultctl' verify a.example -- '$sig' '$W/data' | grep -q '^valid a.example/sign/2'"
it_audit_intact "audit log intact after a SIGTERM restart and a SIGKILL"

# --- pkcs11-tool ---------------------------------------------------------------------
vctl key retire a.example sign 1 >/dev/null || fail "key.retire a.example sign 1"
it_stop
P11="pkcs11-tool --module $P11_MODULE --token-label mcx-vault"
$P11 --login --pin 1234 --list-objects > "$W/objects" 2>"$W/objects.err"   # warnings on stderr would cut into the listing
check "pkcs11-tool lists the token" grep -q 'Private Key Object' "$W/objects"
# "label|usage|access" per private key object
awk '
/^[A-Za-z]/ { if (c == "priv") print label "|" usage "|" access; c = ""; label = usage = access = "" }
/^Private Key Object/ { c = "priv" }
/^  label:/  { sub(/^  label: */, ""); label = $0 }
/^  Usage:/  { sub(/^  Usage: */, ""); usage = $0 }
/^  Access:/ { sub(/^  Access: */, ""); access = $0 }
END { if (c == "priv") print label "|" usage "|" access }' "$W/objects" > "$W/privs"
sed 's/^/  # /' "$W/privs"
check "the signing keys in the token: a.example/sign/2 and b.example/sign/1" \
	[ "$(grep -c -e '^mcxvault/a.example/sign/2|' -e '^mcxvault/b.example/sign/1|' "$W/privs")" -eq 2 ]
check "retired a.example/sign/1 has no private key left" [ "$(grep -c '^mcxvault/a.example/sign/1|' "$W/privs")" -eq 0 ]
all_sign_keys() { # every mcxvault signing private key satisfies "$1" on field $2
	awk -F'|' -v want="$1" -v f="$2" '$1 ~ /^mcxvault\/.*\/sign\// { n++; if ($f != want) { print "  # " $0; bad = 1 } }
		END { exit bad || n == 0 }' "$W/privs"
}
check "private keys: sensitive, always sensitive, never extractable, local" \
	all_sign_keys "sensitive, always sensitive, never extractable, local" 3
check "private keys: usage sign only" all_sign_keys "sign" 2
check "public keys: usage verify only" \
	awk '/^Public Key Object/ { p = 1; next } /^[A-Za-z]/ { p = 0 } p && /^  Usage:/ { n++; if ($0 !~ /Usage: *verify$/) bad = 1 }
		END { exit bad || n == 0 }' "$W/objects"
$P11 --list-objects > "$W/objects-nologin" 2>&1
check "private keys are invisible without login (CKA_PRIVATE)" sh -c "! grep -q 'Private Key Object' '$W/objects-nologin'"
check "key metadata is private too" sh -c "! grep -q 'mcxvault/a.example/sign/2/meta' '$W/objects-nologin'"
if [ -n "${HARNESS_AUDIT_FILE:-}" ]; then
	check "the audit log's anchor is in the token" grep -q 'mcxvault-audit/anchor' "$W/objects"
	check "... as a private object (invisible without login)" sh -c "! grep -q 'mcxvault-audit' '$W/objects-nologin'"
	check "the audit MAC key: sensitive, never extractable" \
		sh -c "grep -A8 'mcxvault-audit/1' '$W/objects' | grep -q 'sensitive, always sensitive, never extractable'"
fi
it_end
