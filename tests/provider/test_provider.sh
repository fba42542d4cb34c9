#!/bin/bash
# The OpenSSL provider $B/mcxvault.so against a real vaultd
# (tests/lib/harness.sh), through stock openssl commands:
#   pkey -pubout, pkeyutl -sign, dgst -sha256 -sign, req -new -x509,
#   x509 -req -CA/-CAkey, a TLS 1.3 handshake s_server <-> s_client,
#   loading from an openssl.cnf section (socket, timeout),
# and the failures: vault not running, vault hung (timeout), caller without
# the signer role, unknown domain, malformed URI, retired version, digests
# other than SHA-256, private key export.  Then, with the audit log on as
# in production, vaultd is restarted (SIGTERM) and killed (SIGKILL) under a
# running s_server whose key is the vault's: it must serve handshakes again
# without a restart of its own; the keys are unchanged and the log verifies.
# Then the EVP-level C test $B/tests/provider/test_provider_api against the
# same vault.
#
#   B=build bash tests/provider/test_provider.sh
#
# Ends with "provider: N passed, N failed[, N skipped]"; exits non-zero when
# anything failed.  In an ASan build the openssl-CLI checks are skipped
# (the system openssl cannot load an ASan-instrumented module); the C test
# still runs there.
#
# SPDX-License-Identifier: Apache-2.0
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/harness.sh"

passed=0 failed=0 skipped=0
SO="$B/mcxvault.so"
API="$B/tests/provider/test_provider_api"
VCTL="$B/vaultctl"
OSSL=${OPENSSL:-openssl}

summary() {
	if [ "$skipped" -gt 0 ]; then
		echo "provider: $passed passed, $failed failed, $skipped skipped"
	else
		echo "provider: $passed passed, $failed failed"
	fi
	[ "$failed" -eq 0 ]
}

ok() { passed=$((passed + 1)); echo "ok - $1"; }
skip() { skipped=$((skipped + 1)); echo "skipped - $1"; }
fail() {
	failed=$((failed + 1))
	echo "FAIL - $1"
	shift
	for f in "$@"; do [ -f "$f" ] && sed 's/^/    | /' "$f" | head -n 20; done
}

if [ ! -f "$SO" ] || [ ! -x "$B/vaultd" ] || [ ! -x "$VCTL" ] || ! command -v softhsm2-util >/dev/null ||
	! command -v "$OSSL" >/dev/null; then
	echo "skipped - provider: needs $SO, $B/vaultd, $VCTL, softhsm2-util and openssl"
	skipped=1
	summary
	exit $?
fi

# The system openssl cannot dlopen a module built with -fsanitize=address.
cli=1
if ldd "$SO" 2>/dev/null | grep -q 'libasan'; then
	cli=0
fi

export HARNESS_EXTRA_ACCESS=',
  { user = "nobody"; roles = [ "auditor" ]; }'
harness_setup || { echo "FAIL - harness_setup"; failed=1; summary; exit 1; }
srv_pid=
cleanup() {
	[ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null
	[ -n "${HARNESS_PID:-}" ] && kill -CONT "$HARNESS_PID" 2>/dev/null
	harness_cleanup
}
trap cleanup EXIT
harness_start || { echo "FAIL - harness_start"; failed=1; summary; exit 1; }
# Lets `nobody` (group nogroup) reach the 0660 socket: who may do what is
# vaultd's decision (roles), which is what the test is about.
[ "$(id -u)" -eq 0 ] && chgrp nogroup "$MCXVAULT_SOCKET" 2>/dev/null

W="$HARNESS_DIR/work"
mkdir -p "$W" && chmod 777 "$W"
out="$W/out" err="$W/err"
P=(-provider-path "$(cd "$(dirname "$SO")" && pwd)" -provider mcxvault -provider default)
UA="mcxvault:domain=a.example;purpose=sign"
UB="mcxvault:domain=b.example;purpose=sign"
R=(-provider-path "${P[1]}" -provider default -provider mcxvault)   # mcxvault loaded last

"$VCTL" domain init a.example >/dev/null 2>&1 && "$VCTL" domain init b.example >/dev/null 2>&1 &&
	"$VCTL" pubkey a.example >"$W/a.pub.pem" && "$VCTL" pubkey b.example >"$W/b.pub.pem" ||
	{ fail "domain init a.example b.example"; summary; exit 1; }
head -c 32 /dev/urandom >"$W/digest.bin"
printf 'MCPTT group call setup\n' >"$W/msg.txt"

# expect_fail NAME PATTERN CMD...: CMD must fail quickly (< 10 s) with an
# error line matching PATTERN.
expect_fail() {
	name=$1 pattern=$2
	shift 2
	start=$(date +%s)
	timeout 20 "$@" >"$out" 2>"$err"
	rc=$?
	secs=$(( $(date +%s) - start ))
	if [ "$rc" -eq 0 ]; then
		fail "$name: succeeded" "$out" "$err"
	elif [ "$rc" -eq 124 ]; then
		fail "$name: hung (killed after 20 s)" "$err"
	elif [ "$secs" -ge 10 ]; then
		fail "$name: took $secs s" "$err"
	elif ! grep -Eq -- "$pattern" "$err"; then
		fail "$name: no error matches /$pattern/" "$err"
	else
		ok "$name"
	fi
}

if [ "$cli" -eq 1 ]; then
	# --- loading --------------------------------------------------------------
	if "$OSSL" list "${P[@]}" -providers >"$out" 2>"$err" && grep -q 'mcxvault' "$out"; then
		ok "openssl list -providers shows mcxvault"
	else
		fail "openssl list -providers" "$out" "$err"
	fi

	if "$OSSL" pkey "${P[@]}" -in "$UA" -pubout -out "$W/a.pkey.pem" 2>"$err" &&
		cmp -s "$W/a.pkey.pem" "$W/a.pub.pem"; then
		ok "pkey -in mcxvault:... -pubout is the vault's public key"
	else
		fail "pkey -pubout" "$err" "$W/a.pkey.pem"
	fi

	if "$OSSL" pkey "${P[@]}" -in "$UA" -text_pub -noout >"$out" 2>"$err" && grep -q 'P-256' "$out"; then
		ok "pkey -text_pub names the curve"
	else
		fail "pkey -text_pub" "$out" "$err"
	fi

	# --- signing --------------------------------------------------------------
	if "$OSSL" pkeyutl "${P[@]}" -sign -inkey "$UA" -in "$W/digest.bin" -out "$W/digest.sig" 2>"$err" &&
		"$OSSL" pkeyutl -verify -pubin -inkey "$W/a.pub.pem" -in "$W/digest.bin" \
			-sigfile "$W/digest.sig" >"$out" 2>&1; then
		ok "pkeyutl -sign over a 32-octet digest verifies with the vault's PEM"
	else
		fail "pkeyutl -sign" "$err" "$out"
	fi

	if "$OSSL" dgst "${P[@]}" -sha256 -sign "$UA" -out "$W/msg.sig" "$W/msg.txt" 2>"$err" &&
		"$OSSL" dgst -sha256 -verify "$W/a.pub.pem" -signature "$W/msg.sig" "$W/msg.txt" >"$out" 2>&1; then
		ok "dgst -sha256 -sign verifies with dgst -verify and the vault's PEM"
	else
		fail "dgst -sha256 -sign" "$err" "$out"
	fi

	# The provider verifies too (in software, with the public key it holds).
	if "$OSSL" dgst "${P[@]}" -sha256 -prverify "$UA" -signature "$W/msg.sig" "$W/msg.txt" >"$out" 2>&1 &&
		grep -q 'Verified OK' "$out"; then
		ok "dgst -prverify mcxvault:... verifies"
	else
		fail "dgst -prverify" "$out"
	fi

	# Two signatures of the same input differ (ECDSA in the HSM, random k) and both verify.
	"$OSSL" dgst "${P[@]}" -sha256 -sign "$UA" -out "$W/msg2.sig" "$W/msg.txt" 2>"$err"
	if ! cmp -s "$W/msg.sig" "$W/msg2.sig" &&
		"$OSSL" dgst -sha256 -verify "$W/a.pub.pem" -signature "$W/msg2.sig" "$W/msg.txt" >/dev/null 2>&1; then
		ok "a second signature is fresh and verifies"
	else
		fail "second signature" "$err"
	fi

	# --- certificates ---------------------------------------------------------
	# A self-signed certificate for a.example's interconnect endpoint.
	if "$OSSL" req "${P[@]}" -new -x509 -key "$UA" -sha256 -days 30 \
		-subj "/O=a.example/CN=interconnect.a.example" \
		-addext "subjectAltName=DNS:interconnect.a.example" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,digitalSignature" \
		-out "$W/a.crt" 2>"$err" &&
		"$OSSL" verify -CAfile "$W/a.crt" "$W/a.crt" >"$out" 2>&1 &&
		"$OSSL" x509 -in "$W/a.crt" -noout -pubkey | cmp -s - "$W/a.pub.pem"; then
		ok "req -new -x509 -key mcxvault:... self-signed certificate verifies"
	else
		fail "req -new -x509" "$err" "$out"
	fi

	# a.example as a CA issues a certificate for a key made here.
	"$OSSL" req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/leaf.key" \
		-subj "/O=a.example/CN=mcptt.a.example" -out "$W/leaf.csr" >/dev/null 2>&1
	if "$OSSL" x509 "${P[@]}" -req -in "$W/leaf.csr" -CA "$W/a.crt" -CAkey "$UA" -CAcreateserial \
		-days 10 -sha256 -out "$W/leaf.crt" >"$out" 2>"$err" &&
		"$OSSL" verify -CAfile "$W/a.crt" "$W/leaf.crt" >"$out" 2>&1; then
		ok "x509 -req -CA -CAkey mcxvault:... issues a certificate that verifies"
	else
		fail "x509 -req -CAkey" "$err" "$out"
	fi

	# The CA key must match the CA certificate: b.example's key is refused.
	expect_fail "x509 -req with another domain's key as CA key is refused" 'private key does not match|key values mismatch|mismatch' \
		"$OSSL" x509 "${P[@]}" -req -in "$W/leaf.csr" -CA "$W/a.crt" -CAkey "$UB" -CAcreateserial \
		-days 10 -out "$W/bad.crt"

	# --- TLS 1.3 ----------------------------------------------------------------
	"$OSSL" req "${P[@]}" -new -x509 -key "$UB" -days 30 -subj "/CN=localhost" \
		-addext "subjectAltName=DNS:localhost" -out "$W/b.crt" 2>"$err" ||
		fail "req for the TLS server certificate" "$err"
	# tls NAME SERVER-PROVIDER-OPTS... -- CLIENT-EXTRA-OPTS...
	tls() {
		tls_name=$1
		shift
		sopts=() copts=()
		while [ $# -gt 0 ] && [ "$1" != -- ]; do sopts+=("$1"); shift; done
		[ $# -gt 0 ] && shift
		copts=("$@")
		tls_ok=0 rc=
		for attempt in 1 2 3; do
			port=$((20000 + RANDOM % 30000))
			timeout 30 "$OSSL" s_server "${sopts[@]}" -key "$UB" -cert "$W/b.crt" -accept "127.0.0.1:$port" \
				-tls1_3 -naccept 1 -www >"$W/srv.log" 2>&1 &
			srv_pid=$!
			i=0
			while [ $i -lt 100 ] && ! grep -q '^ACCEPT' "$W/srv.log" && kill -0 "$srv_pid" 2>/dev/null; do
				sleep 0.1
				i=$((i + 1))
			done
			if ! grep -q '^ACCEPT' "$W/srv.log"; then
				kill "$srv_pid" 2>/dev/null; wait "$srv_pid" 2>/dev/null; srv_pid=
				continue   # port taken: another one
			fi
			printf 'GET / HTTP/1.0\r\n\r\n' | timeout 15 "$OSSL" s_client "${copts[@]}" -connect "127.0.0.1:$port" \
				-tls1_3 -verify_return_error -CAfile "$W/b.crt" -verify_hostname localhost \
				-servername localhost -ign_eof >"$out" 2>"$err"
			rc=$?
			kill "$srv_pid" 2>/dev/null; wait "$srv_pid" 2>/dev/null; srv_pid=
			if [ "$rc" -eq 0 ] && grep -q 'Protocol *: TLSv1.3' "$out" &&
				grep -q 'Verify return code: 0 (ok)' "$out" && grep -q 'Peer signature type: ECDSA' "$out"; then
				tls_ok=1
			fi
			break
		done
		if [ "$tls_ok" -eq 1 ]; then
			ok "$tls_name"
		else
			fail "$tls_name (client rc ${rc:-?})" "$err" "$out" "$W/srv.log"
		fi
	}
	tls "TLS 1.3 handshake: s_server -key mcxvault:... <-> s_client -verify_return_error" "${P[@]}"
	tls "TLS 1.3 with ECDHE P-256, mcxvault loaded after default on both sides" \
		"${R[@]}" -groups P-256 -- "${R[@]}" -groups P-256

	# --- provider order -------------------------------------------------------------
	# mcxvault's KEYMGMT answers to "EC" like the default provider's; loaded
	# after it, libcrypto may pick mcxvault's for keys that are not the
	# vault's.  Those are then software keys handled by the default provider.
	if "$OSSL" genpkey "${R[@]}" -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$W/soft.key" 2>"$err" &&
		"$OSSL" dgst "${R[@]}" -sha384 -sign "$W/soft.key" -out "$W/soft.sig" "$W/msg.txt" 2>>"$err" &&
		"$OSSL" pkey -in "$W/soft.key" -pubout -out "$W/soft.pub" 2>>"$err" &&
		"$OSSL" dgst -sha384 -verify "$W/soft.pub" -signature "$W/soft.sig" "$W/msg.txt" >/dev/null 2>>"$err" &&
		"$OSSL" req "${R[@]}" -new -x509 -key "$W/soft.key" -subj /CN=soft -out "$W/soft.crt" 2>>"$err" &&
		"$OSSL" verify -CAfile "$W/soft.crt" "$W/soft.crt" >/dev/null 2>>"$err"; then
		ok "default then mcxvault: software EC keys (genpkey P-384, dgst -sha384, req) still work"
	else
		fail "software EC keys with mcxvault loaded after default" "$err"
	fi
	if "$OSSL" dgst "${R[@]}" -sha256 -sign "$UA" -out "$W/r.sig" "$W/msg.txt" 2>"$err" &&
		"$OSSL" dgst -sha256 -verify "$W/a.pub.pem" -signature "$W/r.sig" "$W/msg.txt" >/dev/null 2>&1; then
		ok "default then mcxvault: vault key signs"
	else
		fail "vault key with mcxvault loaded after default" "$err"
	fi

	# --- configuration file ------------------------------------------------------
	cat >"$W/openssl.cnf" <<EOT
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
mcxvault = mcxvault_sect
[default_sect]
activate = 1
[mcxvault_sect]
module = $(cd "$(dirname "$SO")" && pwd)/mcxvault.so
socket = $MCXVAULT_SOCKET
timeout = 2
activate = 1
EOT
	if env -u MCXVAULT_SOCKET OPENSSL_CONF="$W/openssl.cnf" "$OSSL" dgst -sha256 -sign "$UA" \
		-out "$W/cnf.sig" "$W/msg.txt" 2>"$err" &&
		"$OSSL" dgst -sha256 -verify "$W/a.pub.pem" -signature "$W/cnf.sig" "$W/msg.txt" >/dev/null 2>&1; then
		ok "openssl.cnf [mcxvault_sect] with socket = ... (no MCXVAULT_SOCKET)"
	else
		fail "openssl.cnf section" "$err"
	fi
	sed "s|^socket = .*|socket = $W/nonexistent.sock|" "$W/openssl.cnf" >"$W/openssl-bad.cnf"
	expect_fail "the config's socket wins over MCXVAULT_SOCKET" 'vault unreachable.*nonexistent\.sock' \
		env OPENSSL_CONF="$W/openssl-bad.cnf" "$OSSL" pkeyutl -sign -inkey "$UA" -in "$W/digest.bin" -out "$W/x"

	# --- failures -----------------------------------------------------------------
	expect_fail "unknown domain: vault key not found" "vault key not found.*c\.example" \
		"$OSSL" pkeyutl "${P[@]}" -sign -inkey "mcxvault:domain=c.example;purpose=sign" -in "$W/digest.bin" -out "$W/x"
	expect_fail "misspelt URI attribute: invalid mcxvault key URI" "invalid mcxvault key URI" \
		"$OSSL" pkeyutl "${P[@]}" -sign -inkey "mcxvault:domain=a.example;purpse=sign" -in "$W/digest.bin" -out "$W/x"
	expect_fail "purpose other than sign is refused" "only purpose=sign" \
		"$OSSL" pkey "${P[@]}" -in "mcxvault:domain=a.example;purpose=sakke" -pubout
	expect_fail "SHA-384 is refused (ES256 keys)" "SHA-256 digests only" \
		"$OSSL" dgst "${P[@]}" -sha384 -sign "$UA" -out "$W/x" "$W/msg.txt"
	head -c 31 /dev/urandom >"$W/short.bin"
	expect_fail "pkeyutl -sign over 31 octets is refused" "32-octet SHA-256 digest" \
		"$OSSL" pkeyutl "${P[@]}" -sign -inkey "$UA" -in "$W/short.bin" -out "$W/x"
	if "$OSSL" pkey "${P[@]}" -in "$UA" -out "$W/priv.pem" >/dev/null 2>&1 ||
		grep -q 'PRIVATE KEY' "$W/priv.pem" 2>/dev/null; then
		fail "the private key was written out"
	else
		ok "pkey without -pubout: the private key cannot be exported"
	fi

	if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
		expect_fail "caller with only the auditor role: vault permission denied" \
			"vault permission denied.*sign\.sign" \
			setpriv --reuid=nobody --regid=nogroup --clear-groups \
			"$OSSL" pkeyutl "${P[@]}" -sign -inkey "$UA" -in "$W/digest.bin" -out "$W/nobody.sig"
	else
		skip "caller without the signer role: needs root and setpriv to run as nobody"
	fi

	# Rotate, retire version 1: it still loads (public key), it no longer signs.
	if "$VCTL" key rotate a.example >/dev/null 2>&1 && "$VCTL" key retire a.example sign 1 >/dev/null 2>&1; then
		expect_fail "retired version 1: key state forbids signing" "a\.example/sign/1 is retired" \
			"$OSSL" pkeyutl "${P[@]}" -sign -inkey "$UA;version=1" -in "$W/digest.bin" -out "$W/x"
		if "$OSSL" pkey "${P[@]}" -in "$UA;version=1" -pubout 2>"$err" | cmp -s - "$W/a.pub.pem"; then
			ok "retired version 1 still gives its public key"
		else
			fail "pkey -pubout of a retired version" "$err"
		fi
		"$VCTL" pubkey a.example >"$W/a2.pub.pem"
		if "$OSSL" dgst "${P[@]}" -sha256 -sign "$UA;version=2" -out "$W/v2.sig" "$W/msg.txt" 2>"$err" &&
			"$OSSL" dgst -sha256 -verify "$W/a2.pub.pem" -signature "$W/v2.sig" "$W/msg.txt" >/dev/null 2>&1; then
			ok "version=2 (active after rotation) signs"
		else
			fail "version=2 signs" "$err"
		fi
	else
		fail "key rotate / retire"
	fi
else
	skip "openssl CLI checks: $SO is built with ASan; the system openssl cannot load it"
fi

# --- restarts: the same token and audit log, a long-lived provider user ------------
"$VCTL" key list a.example >"$W/keys.before" 2>&1
if [ "$cli" -eq 1 ]; then
	# one s_server for three handshakes: before, after SIGTERM, after SIGKILL
	for attempt in 1 2 3; do
		port=$((20000 + RANDOM % 30000))
		timeout 60 "$OSSL" s_server "${P[@]}" -key "$UB" -cert "$W/b.crt" -accept "127.0.0.1:$port" \
			-tls1_3 -naccept 3 -www >"$W/srv-restart.log" 2>&1 &
		srv_pid=$!
		i=0
		while [ $i -lt 100 ] && ! grep -q '^ACCEPT' "$W/srv-restart.log" && kill -0 "$srv_pid" 2>/dev/null; do
			sleep 0.1
			i=$((i + 1))
		done
		grep -q '^ACCEPT' "$W/srv-restart.log" && break
		kill "$srv_pid" 2>/dev/null; wait "$srv_pid" 2>/dev/null; srv_pid=
	done
	handshake() { # NAME
		if [ -n "$srv_pid" ] &&
			printf 'GET / HTTP/1.0\r\n\r\n' | timeout 15 "$OSSL" s_client -connect "127.0.0.1:$port" -tls1_3 \
				-verify_return_error -CAfile "$W/b.crt" -verify_hostname localhost -servername localhost \
				-ign_eof >"$out" 2>"$err" &&
			grep -q 'Verify return code: 0 (ok)' "$out" && grep -q 'Peer signature type: ECDSA' "$out"; then
			ok "$1"
		else
			fail "$1" "$err" "$W/srv-restart.log"
		fi
	}
	handshake "a running s_server with the vault's key: handshake before the restarts"
fi
for sig in TERM KILL; do
	if harness_restart $sig 2>"$err"; then
		ok "vaultd starts again after SIG$sig (same token and audit log)"
	else
		fail "vaultd starts again after SIG$sig" "$err"
	fi
	[ "$(id -u)" -eq 0 ] && chgrp nogroup "$MCXVAULT_SOCKET" 2>/dev/null
	if "$VCTL" key list a.example >"$W/keys.after" 2>&1 && cmp -s "$W/keys.before" "$W/keys.after" &&
		"$VCTL" pubkey a.example --version 1 | cmp -s - "$W/a.pub.pem"; then
		ok "after SIG$sig: a.example's keys and public keys unchanged"
	else
		fail "after SIG$sig: a.example's keys changed" "$W/keys.before" "$W/keys.after"
	fi
	if [ "$cli" -eq 1 ]; then
		handshake "after SIG$sig: the same s_server signs its next handshake through the new vaultd"
		if "$OSSL" dgst "${P[@]}" -sha256 -sign "$UB" -out "$W/r-$sig.sig" "$W/msg.txt" 2>"$err" &&
			"$OSSL" dgst -sha256 -verify "$W/b.pub.pem" -signature "$W/r-$sig.sig" "$W/msg.txt" >/dev/null 2>&1; then
			ok "after SIG$sig: dgst -sign with mcxvault:... verifies with the PEM from before"
		else
			fail "after SIG$sig: dgst -sign" "$err"
		fi
	fi
done
if [ "$cli" -eq 1 ]; then
	wait "$srv_pid" 2>/dev/null
	srv_pid=
fi
if [ -z "${HARNESS_AUDIT_FILE:-}" ]; then
	skip "audit verify (HARNESS_AUDIT=off)"
elif "$VCTL" audit verify >"$out" 2>"$err" && grep -q '^intact: ' "$out"; then
	ok "audit verify: intact after a SIGTERM restart and a SIGKILL"
else
	fail "audit verify after the restarts" "$out" "$err"
fi

# --- the EVP-level C test against the same vault ---------------------------------
if [ -x "$API" ]; then
	if MCXVAULT_PROVIDER_DIR="$(cd "$(dirname "$SO")" && pwd)" "$API" >"$out" 2>&1; then
		ok "test_provider_api: $(grep -E '^provider-api:' "$out")"
	else
		fail "test_provider_api" "$out"
	fi
	sed -n 's/^/    /p' "$out" | grep -E 'ok - |FAIL|skipped' | head -n 40
else
	skip "test_provider_api: $API not built"
fi

# --- vault not running / hung ---------------------------------------------------------
if [ "$cli" -eq 1 ]; then
	kill -STOP "$HARNESS_PID"
	expect_fail "vault hung: the call times out (timeout = 2 in openssl.cnf)" "vault unreachable.*(time|Timed)" \
		env -u MCXVAULT_SOCKET OPENSSL_CONF="$W/openssl.cnf" "$OSSL" pkeyutl -sign -inkey "$UA" \
		-in "$W/digest.bin" -out "$W/x"
	kill -CONT "$HARNESS_PID"
	harness_stop
	expect_fail "vault not running: vault unreachable, at once" "vault unreachable.*cannot connect" \
		"$OSSL" pkeyutl "${P[@]}" -sign -inkey "$UA" -in "$W/digest.bin" -out "$W/x"
fi

summary
