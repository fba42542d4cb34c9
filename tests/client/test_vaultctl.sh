#!/bin/bash
# vaultctl against a real vaultd (tests/lib/harness.sh): every command, the
# exit codes 0/1/2, --json, -s, -c, and that `vaultctl sign --der` verifies
# with `openssl dgst -sha256 -verify` and the key from `vaultctl pubkey`.
#
#   B=build bash tests/client/test_vaultctl.sh
#
# Prints "ok - ..." / "FAIL - ..." per check and ends with
# "client-cli: N passed, N failed"; exits non-zero when anything failed.
#
# SPDX-License-Identifier: Apache-2.0
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/harness.sh"

passed=0 failed=0 skipped=0
V="${VAULTCTL:-$B/vaultctl}"   # VAULTCTL: e.g. the ASan build against a normal vaultd
D=a.example

summary() {
	if [ "$skipped" -gt 0 ]; then
		echo "client-cli: $passed passed, $failed failed, $skipped skipped"
	else
		echo "client-cli: $passed passed, $failed failed"
	fi
	[ "$failed" -eq 0 ]
}

if [ ! -x "$B/vaultd" ] || [ ! -x "$V" ] || ! command -v softhsm2-util >/dev/null; then
	echo "skipped - vaultctl: needs $B/vaultd, $V and softhsm2-util"
	skipped=1
	summary
	exit $?
fi

ok() { passed=$((passed + 1)); echo "ok - $1"; }
fail() {
	failed=$((failed + 1))
	echo "FAIL - $1"
	shift
	for f in "$@"; do sed 's/^/    | /' "$f" | head -n 20; done
}

# run NAME RC ARGS...: runs vaultctl, keeps stdout in $out and stderr in $err,
# checks the exit code.
run() {
	name=$1 want=$2
	shift 2
	"$V" "$@" >"$out" 2>"$err"
	rc=$?
	if [ "$rc" -eq "$want" ]; then
		return 0
	fi
	fail "$name (exit $rc, expected $want)" "$out" "$err"
	return 1
}

# check NAME RC GREP-PATTERN FILE ARGS...: run, then the file must match.
check() {
	name=$1 want=$2 pattern=$3 file=$4
	shift 4
	run "$name" "$want" "$@" || return 1
	if grep -Eq -- "$pattern" "$file"; then
		ok "$name"
	else
		fail "$name: no line matches /$pattern/" "$out" "$err"
		return 1
	fi
}

json_ok() {   # FILE: parses as JSON
	if command -v python3 >/dev/null; then
		python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$1" 2>/dev/null
	else
		head -c1 "$1" | grep -q '{'
	fi
}

harness_setup || { echo "FAIL - harness_setup"; failed=1; summary; exit 1; }
trap harness_cleanup EXIT
harness_start || { echo "FAIL - harness_start"; failed=1; summary; exit 1; }
T=$HARNESS_DIR
out=$T/out err=$T/err
printf 'hello, mission critical\n' > "$T/data"
printf 'something else\n' > "$T/other"

# --- usage: exit 2, help on stdout for -h ---------------------------------
check "help" 0 '^commands:' "$out" --help
check "help lists every command" 0 '^  pubkey DOMAIN' "$out" help
check "version" 0 '^vaultctl [0-9]' "$out" --version
check "no command is usage" 2 '^usage: vaultctl' "$err"
check "unknown command is usage" 2 "unknown command 'frobnicate'" "$err" frobnicate
check "group without subcommand is usage" 2 '^  domain init DOMAIN' "$err" domain
check "missing argument is usage" 2 '^usage: vaultctl \[options\] key list DOMAIN' "$err" key list
check "extra argument is usage" 2 'too many arguments' "$err" status extra
check "unknown option is usage" 2 'unknown option --frob' "$err" sign $D --frob
check "bad --digest is usage" 2 'hex digits' "$err" sign $D --digest abc
check "bad signature is usage" 2 'SIGNATURE must be 64 octets' "$err" verify $D 'not+base64url' "$T/data"
check "bad version is usage" 2 'invalid version' "$err" key retire $D sign one
check "-s with -c is usage" 2 'either -s or -c' "$err" -s /x -c /y status
check "--der with --json is usage" 2 'exclude each other' "$err" --json sign --der $D "$T/data"

# --- status, domains ------------------------------------------------------
check "status" 0 '^hsm: .*reachable$' "$out" status
check "status shows the caller's roles" 0 '^roles: +admin' "$out" status
if run "status --json" 0 --json status && json_ok "$out" && grep -q '"token_label": "mcx-vault"' "$out"; then
	ok "status --json"
else
	fail "status --json" "$out" "$err"
fi
check "domain list" 0 "^$D +kms\.$D +no" "$out" domain list
check "domain init" 0 "^sign +1 +active +[0-9TZ:-]+ +$D/sign/1$" "$out" domain init $D
check "domain init twice: exit 1, message" 1 \
	"^vaultctl: domain\.init: .* \(MCX_ERR_EXISTS, code -32003\)$" "$err" domain init $D
check "domain init unknown domain" 1 '\(MCX_ERR_NOT_FOUND, code -32002\)$' "$err" domain init zz.example
check "domain list after init" 0 "^$D +kms\.$D +yes +1$" "$out" domain list
check "domain show" 0 "^kms_uri: +kms\.$D$" "$out" domain show $D
check "domain show unknown: exit 1" 1 "^vaultctl: domain\.show: .*zz\.example.* \(MCX_ERR_NOT_FOUND, code -32002\)$" \
	"$err" domain show zz.example
if run "domain show --json" 0 domain show $D --json && json_ok "$out" && grep -q "\"kid\": \"$D/sign/1\"" "$out"; then
	ok "domain show --json (option after the command)"
else
	fail "domain show --json" "$out" "$err"
fi
check "key list header" 0 '^PURPOSE +VERSION +STATE +CREATED +KID$' "$out" key list $D
check "key list row" 0 "^sign +1 +active +[0-9TZ:-]+ +$D/sign/1$" "$out" key list $D

# --- sign and verify ------------------------------------------------------
check "sign FILE" 0 "^$D/sign/1 [A-Za-z0-9_-]{86}$" "$out" sign $D "$T/data"
sig1=$(cut -d' ' -f2 "$out")
if "$V" sign $D <"$T/data" >"$out" 2>"$err" && grep -Eq "^$D/sign/1 [A-Za-z0-9_-]{86}$" "$out" &&
   "$V" sign $D - <"$T/data" >"$T/out2" 2>>"$err" && grep -Eq "^$D/sign/1 " "$T/out2"; then
	ok "sign stdin (no FILE and -)"
else
	fail "sign stdin" "$out" "$err"
fi
check "verify" 0 "^valid $D/sign/1$" "$out" verify $D "$sig1" "$T/data"
check "verify stdin" 0 "^valid $D/sign/1$" "$out" verify $D "$sig1" - <"$T/data"
check "verify wrong data: invalid, exit 1" 1 '^invalid$' "$out" verify $D "$sig1" "$T/other"
check "verify --kid" 0 "^valid $D/sign/1$" "$out" verify $D "$sig1" "$T/data" --kid $D/sign/1
check "verify unknown --kid: exit 1" 1 '\(MCX_ERR_NOT_FOUND, code -32002\)$' "$err" \
	verify $D "$sig1" "$T/data" --kid $D/sign/9
if run "verify --json" 0 --json verify $D "$sig1" "$T/data" && json_ok "$out" && grep -q '"valid": true' "$out"; then
	ok "verify --json"
else
	fail "verify --json" "$out" "$err"
fi
digest=$(sha256sum "$T/data" | cut -d' ' -f1)
check "sign --digest" 0 "^$D/sign/1 [A-Za-z0-9_-]{86}$" "$out" sign $D --digest "$digest"
sigd=$(cut -d' ' -f2 "$out")
check "a digest signature verifies over the data" 0 "^valid $D/sign/1$" "$out" verify $D "$sigd" "$T/data"
check "verify --digest" 0 "^valid $D/sign/1$" "$out" verify $D "$sig1" --digest "$digest"
if run "sign --json" 0 sign $D "$T/data" --json && json_ok "$out" && grep -q '"alg": "ES256"' "$out"; then
	ok "sign --json"
else
	fail "sign --json" "$out" "$err"
fi
check "sign unknown domain: exit 1" 1 '^vaultctl: sign\.sign: .*\(MCX_ERR_NOT_FOUND, code -32002\)$' "$err" \
	sign zz.example "$T/data"
check "sign missing FILE: exit 1" 1 'No such file' "$err" sign $D "$T/nonexistent"

# --- public keys, and OpenSSL agrees --------------------------------------
check "pubkey PEM" 0 '^-----BEGIN PUBLIC KEY-----$' "$out" pubkey $D
cp "$out" "$T/pub1.pem"
check "pubkey --jwk" 0 '"crv": "P-256"' "$out" pubkey $D --jwk
check "pubkey --json" 0 '"pem": "-----BEGIN PUBLIC KEY-----' "$out" --json pubkey $D
check "pubkey unknown version: exit 1" 1 '\(MCX_ERR_NOT_FOUND, code -32002\)$' "$err" pubkey $D --version 9
if "$V" sign --der $D "$T/data" >"$T/sig1.der" 2>"$err" &&
   openssl dgst -sha256 -verify "$T/pub1.pem" -signature "$T/sig1.der" "$T/data" >"$out" 2>&1; then
	ok "sign --der verifies with openssl dgst -sha256 -verify"
else
	fail "sign --der + openssl" "$out" "$err"
fi
if ! openssl dgst -sha256 -verify "$T/pub1.pem" -signature "$T/sig1.der" "$T/other" >/dev/null 2>&1; then
	ok "openssl rejects the signature over other data"
else
	fail "openssl accepted a signature over other data"
fi

# --- rotation and retirement ----------------------------------------------
check "key rotate" 0 "^$D: sign version 2 is active \($D/sign/2\); version 1 is verify-only$" "$out" \
	key rotate $D
check "key rotate unknown purpose: exit 1" 1 '\(MCX_ERR_INVALID_PARAMS, code -32602\)$' "$err" key rotate $D frob
check "key list after rotate" 0 "^sign +1 +verify-only " "$out" key list $D
check "sign uses the new key" 0 "^$D/sign/2 " "$out" sign $D "$T/data"
check "old signature still verifies" 0 "^valid $D/sign/1$" "$out" verify $D "$sig1" "$T/data"
check "key retire the active version: exit 1" 1 '\(MCX_ERR_KEY_STATE, code -32006\)$' "$err" key retire $D sign 2
check "key retire" 0 "^$D: sign version 1 is retired$" "$out" key retire $D sign 1
check "key retire twice: exit 1" 1 '\(MCX_ERR_KEY_STATE, code -32006\)$' "$err" key retire $D sign 1
check "key retire --json" 1 'MCX_ERR_NOT_FOUND' "$err" --json key retire $D sign 7
check "retired signature still verifies" 0 "^valid $D/sign/1$" "$out" verify $D "$sig1" "$T/data"
check "pubkey --version 1 of a retired key" 0 '^-----BEGIN PUBLIC KEY-----$' "$out" pubkey $D --version 1
if cmp -s "$out" "$T/pub1.pem" &&
   openssl dgst -sha256 -verify "$out" -signature "$T/sig1.der" "$T/data" >/dev/null 2>&1; then
	ok "retired version's public key is unchanged and verifies with openssl"
else
	fail "retired version's public key" "$out" "$err"
fi

# --- where the socket comes from ------------------------------------------
sock=$MCXVAULT_SOCKET
unset MCXVAULT_SOCKET
check "-s SOCKET" 0 '^version:' "$out" -s "$sock" status
check "-c CONFIG" 0 '^version:' "$out" -c "$T/vault.conf" status
check "-c unreadable config: exit 1" 1 'vaultctl: .*nonexistent.conf' "$err" -c "$T/nonexistent.conf" status
check "-s to no vault: exit 1" 1 \
	"^vaultctl: connect: $T/nosock: No such file or directory \(MCX_ERR_CONNECTION, code -24\)$" "$err" \
	-s "$T/nosock" status
MCXVAULT_SOCKET=$T/nosock
export MCXVAULT_SOCKET
check "\$MCXVAULT_SOCKET is used" 1 "connect: $T/nosock" "$err" status
check "-s wins over \$MCXVAULT_SOCKET" 0 '^version:' "$out" -s "$sock" status
MCXVAULT_SOCKET=$sock

harness_stop
check "vault gone: exit 1" 1 '\(MCX_ERR_CONNECTION, code -24\)$' "$err" status

summary
