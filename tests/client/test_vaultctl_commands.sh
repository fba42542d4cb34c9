#!/bin/bash
# The vaultctl commands of the server key, redirect, ID token and audit
# checkpoint methods against a real vaultd (GMS store and audit log on): each
# once with good input and once with bad input, which must exit 1 (vault) or
# 2 (usage) with a message naming the method, the MCX_ERR name and code and
# a hint; --json parses; progress lines with --progress.  vaultd is
# restarted with SIGTERM and SIGKILL half way (server keys unchanged) and
# the audit log must be intact at the end.
# Ends with "vaultctl-commands: N passed, N failed, N skipped".
#
# SPDX-License-Identifier: Apache-2.0
set -u
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/checks.sh"
V="${VAULTCTL:-$B/vaultctl}"
D=a.example S=sip:mcptt-server@a.example

if [ ! -x "$B/vaultd" ] || [ ! -x "$V" ] || ! command -v softhsm2-util >/dev/null; then
	skipped "vaultctl commands: needs $B/vaultd, $V and softhsm2-util"
	checks_summary vaultctl-commands
	exit $?
fi
trap harness_cleanup EXIT
harness_setup || { not_ok harness_setup; checks_summary vaultctl-commands; exit 1; }
HARNESS_GMS_STORE=$HARNESS_DIR/gms.sqlite
# the test's uid may sign redirect responses as the dispatch identities (ECCSI)
HARNESS_EXTRA_ACCESS=", { uid = $(id -u); roles = [ \"signer\" ]; sign_as = [ \"sip:dispatch-*\" ]; }"
harness_write_config
harness_start || { not_ok harness_start; checks_summary vaultctl-commands; exit 1; }
T=$HARNESS_DIR out=$HARNESS_DIR/out err=$HARNESS_DIR/err

# vc RC ARGS...: vaultctl with stdout in $out and stderr in $err; true when it exits RC
vc() { want=$1; shift; "$V" "$@" >"$out" 2>"$err"; rc=$?; [ "$rc" -eq "$want" ]; }
# has PATTERN FILE: an extended regex matches a line
has() { grep -Eq -- "$1" "$2"; }
json() { python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$1" 2>/dev/null; }
# vault_err METHOD NAME CODE: the error line and its hint
vault_err() { has "^vaultctl: $1: .* \\($2, code $3\\)$" "$err" && has '^vaultctl: hint: ' "$err"; }

"$V" domain init $D >/dev/null 2>&1 || not_ok "domain init"

# --- server keys ------------------------------------------------------------------
check "server-key create" "vc 0 server-key create $D $S mkfc && has '^server $S mkfc: key-id 4[0-9a-f]{7}, version 1 \\(current\\)$' '$out'"
id1=$(sed -n 's/.*key-id \([0-9a-f]*\),.*/\1/p' "$out")
check "server-key create bad purpose: exit 1, method, code, hint" \
	"vc 1 server-key create $D $S bogus && vault_err server_key.create MCX_ERR_INVALID_PARAMS -32602"
check "server-key create twice: exit 1 (exists)" "vc 1 server-key create $D $S mkfc && vault_err server_key.create MCX_ERR_EXISTS -32003"
check "server-key create without PURPOSE: usage" "vc 2 server-key create $D $S && has 'missing arguments' '$err' && has '^usage: vaultctl \\[options\\] server-key create DOMAIN SERVER_URI PURPOSE$' '$err'"
check "server-key rekey" "vc 0 server-key rekey $D $S mkfc && has 'version 2 \\(current\\)$' '$out'"
check "server-key rekey unknown server: exit 1" "vc 1 server-key rekey $D sip:none@a.example mkfc && vault_err server_key.rekey MCX_ERR_NOT_FOUND -32002"
check "server-key list" "vc 0 server-key list $D && has '^$S +mkfc +2 +4[0-9a-f]{7} ' '$out'"
check "server-key list --json" "vc 0 server-key list $D --json && json '$out' && has '\"servers\": \\[' '$out'"
check "server-key list unknown domain: exit 1" "vc 1 server-key list zz.example && vault_err server_key.list MCX_ERR_NOT_FOUND -32002"
check "server-key show" "vc 0 server-key show $D $S && has '^mkfc +$id1 +1 +previous ' '$out' && has '^mkfc +4[0-9a-f]{7} +2 +current ' '$out'"
check "server-key show PURPOSE" "vc 0 server-key show $D $S mkfc"
check "server-key show unknown: exit 1" "vc 1 server-key show $D sip:none@a.example && vault_err server_key.show MCX_ERR_NOT_FOUND -32002"
printf '# two home members and one of an untrusted KMS\nsip:alice@a.example\nsip:bob@a.example\nsip:eve@x.example kms.x.example\n' >"$T/members"
check "server-key distribute --chunk 1 --progress: one line per member, progress per chunk" \
	"vc 1 server-key distribute $D $S mkfc --members '$T/members' --chunk 1 --progress &&
	 [ \$(grep -c . '$out') -eq 3 ] && has '^sip:alice@a.example kms.a.example [0-9a-f]{8} [A-Za-z0-9_-]{300,}$' '$out' &&
	 has '^sip:eve@x.example kms.x.example error -32005 ' '$out' &&
	 [ \$(grep -c '^progress: [0-9]/3 members$' '$err') -eq 3 ] &&
	 has '^server key 4[0-9a-f]{7} \\(mkfc\\) of $S: distributed 2 of 3 members, 1 failed$' '$err'"
check "server-key distribute --id (the previous key) --json from stdin" \
	"echo sip:alice@a.example | \"\$V\" server-key distribute $D $S mkfc --members - --id $id1 --json >'$out' 2>'$err' &&
	 json '$out' && has '\"key_id\": \"$id1\"' '$out' && has '\"distributed\": 1' '$out'"
check "server-key distribute --identities uri: URIs in the I_MESSAGEs" \
	"vc 1 server-key distribute $D $S mkfc --members '$T/members' --identities uri --json && json '$out' &&
	 has '\"identities\": \"uri\"' '$out'"
check "server-key distribute --identities bogus: exit 1, invalid params" \
	"vc 1 server-key distribute $D $S mkfc --members '$T/members' --identities bogus &&
	 vault_err server_key.distribute MCX_ERR_INVALID_PARAMS -32602"
check "server-key distribute without --members: usage" "vc 2 server-key distribute $D $S mkfc && has '--members is required' '$err'"
check "server-key distribute of a purpose without a key: exit 1" \
	"vc 1 server-key distribute $D $S csk --members '$T/members' && vault_err server_key.distribute MCX_ERR_NOT_FOUND -32002"
check "server-key revoke --id" "vc 0 server-key revoke $D $S mkfc --id $id1 && has '^server $S mkfc: 1 key\\(s\\) destroyed$' '$out'"
check "server-key revoke unknown server: exit 1" "vc 1 server-key revoke $D sip:none@a.example mkfc && vault_err server_key.revoke MCX_ERR_NOT_FOUND -32002"

# --- restarts: the same token, store and log -----------------------------------------
"$V" server-key show $D $S >"$T/show.before" 2>&1
for sig in TERM KILL; do
	check "vaultd starts again after SIG$sig" "harness_restart $sig"
	"$V" server-key show $D $S >"$T/show.after" 2>&1
	check "after SIG$sig: server-key show unchanged" "cmp -s '$T/show.before' '$T/show.after'"
done

# --- gmk list pages ------------------------------------------------------------------
for g in sip:g1@a.example sip:g2@a.example sip:g3@a.example; do "$V" gmk create $D $g >/dev/null 2>&1; done
check "gmk list --limit 2: one page of 2 and the next command on stderr" \
	"vc 0 gmk list $D --limit 2 && [ \$(grep -c '^sip:g' '$out') -eq 2 ] && has '^more: vaultctl gmk list $D --after sip:g2@a.example$' '$err'"
check "gmk list --after: the rest" \
	"vc 0 gmk list $D --after sip:g2@a.example && [ \$(grep -c '^sip:g' '$out') -eq 1 ] && has '^sip:g3@a.example ' '$out' && ! has '^more:' '$err'"
check "gmk list: every group" "vc 0 gmk list $D && [ \$(grep -c '^sip:g' '$out') -eq 3 ]"
check "gmk list --limit 0: exit 1, invalid params" "vc 1 gmk list $D --limit 0 && vault_err gmk.list MCX_ERR_INVALID_PARAMS -32602"

# --- redirects ------------------------------------------------------------------------
sign_args="--originating-id sip:alice@a.example --receiving-id sip:bob@a.example --originating-kms kms.a.example"
check "redirect sign: the JWS alone" \
	"vc 0 redirect sign $D $sign_args --initiating-kms kms.a.example --receiving-kms kms.a.example && has '^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]{86}$' '$out'"
cp "$out" "$T/resp"
check "redirect sign --json" \
	"vc 0 --json redirect sign $D $sign_args --initiating-kms kms.a.example --receiving-kms kms.a.example && json '$out' && has '\"kid\": \"$D/token/1\"' '$out'"
cp "$out" "$T/resp2.json"
check "redirect sign an untrusted KMS: exit 1, the KMS named" \
	"vc 1 redirect sign $D $sign_args --initiating-kms kms.a.example --initiating-kms kms.z.example --receiving-kms kms.a.example &&
	 vault_err redirect.sign MCX_ERR_POLICY_DENIED -32005 && has kms.z.example '$err'"
check "redirect sign --signer-id (ECCSI by an identity in sign_as)" \
	"vc 0 --json redirect sign $D $sign_args --initiating-kms kms.a.example --receiving-kms kms.a.example \
	   --signer-id sip:dispatch-1@a.example && json '$out' && has '\"signer_id\": \"sip:dispatch-1@a.example\"' '$out' &&
	 has '\"alg\": \"ECCSI\"' '$out'"
check "redirect sign --signer-id outside sign_as: exit 1, permission denied" \
	"vc 1 redirect sign $D $sign_args --initiating-kms kms.a.example --receiving-kms kms.a.example \
	   --signer-id sip:alice@a.example && vault_err redirect.sign MCX_ERR_PERMISSION_DENIED -32001"
check "redirect sign without --receiving-kms: usage names the option" \
	"vc 2 redirect sign $D $sign_args --initiating-kms kms.a.example && has '^vaultctl: --receiving-kms is required$' '$err'"
python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["response"])' "$T/resp2.json" >"$T/resp2"
check "redirect accept (@FILE) before evaluation" "vc 0 redirect accept $D @'$T/resp2' && has ' accepted$' '$out'"
check "redirect evaluate (@FILE): accept" "vc 0 redirect evaluate $D @'$T/resp' && has '^decision: +accept$' '$out' && has '^signature: +valid$' '$out'"
check "redirect evaluate again (stdin): reject, replayed, exit 1" \
	"\"\$V\" redirect evaluate $D - <'$T/resp' >'$out' 2>'$err'; [ \$? -eq 1 ] && has '^decision: +reject$' '$out' && has '^reason: +replayed$' '$out'"
check "redirect evaluate garbage: exit 1" "vc 1 redirect evaluate $D not-a-jws && vault_err redirect.evaluate MCX_ERR_INVALID_PARAMS -32602"
check "redirect evaluate a missing @FILE: exit 1" "vc 1 redirect evaluate $D @'$T/nonexistent' && has 'No such file' '$err'"
check "redirect accept a used response: exit 1" "vc 1 redirect accept $D \"\$(cat '$T/resp')\" && vault_err redirect.accept MCX_ERR_EXISTS -32003"
check "redirect report" "vc 0 redirect report $D @'$T/resp' sip:alice@a.example && has ' reported$' '$out'"
check "redirect report --json" "vc 0 redirect report $D @'$T/resp' sip:alice@a.example --json && json '$out' && has '\"recorded\": true' '$out'"
check "redirect report garbage: exit 1" "vc 1 redirect report $D a.b.c sip:alice@a.example && vault_err redirect.report MCX_ERR_INVALID_PARAMS -32602"

# --- ID tokens --------------------------------------------------------------------------
check "token sign --sub --aud: the JWT alone" "vc 0 token sign $D --sub sip:alice@a.example --aud idm.b.example && has '^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]{86}$' '$out'"
cp "$out" "$T/token"
check "token sign --claims @FILE --json" \
	"echo '{\"sub\":\"sip:bob@a.example\",\"aud\":\"idm.b.example\",\"role\":\"dispatcher\"}' >'$T/claims' &&
	 vc 0 token sign $D --claims @'$T/claims' --json && json '$out' && has '\"iss\": \"kms.a.example\"' '$out'"
check "token sign a reserved claim: exit 1" "vc 1 token sign $D --claims '{\"sub\":\"x\",\"aud\":\"y\",\"iss\":\"z\"}' && vault_err token.sign MCX_ERR_INVALID_PARAMS -32602"
check "token sign --claims that is not JSON: usage" "vc 2 token sign $D --claims '{nope' && has 'not JSON' '$err'"
check "token sign --exp that is not a number: usage" "vc 2 token sign $D --sub x --aud y --exp soon && has 'not a number' '$err'"
check "token verify" "vc 0 token verify $D @'$T/token' idm.b.example && has '^valid$' '$out' && has '^claims: .*\"sub\":\"sip:alice@a.example\"' '$out'"
check "token verify --json" "vc 0 --json token verify $D \"\$(cat '$T/token')\" idm.b.example && json '$out' && has '\"valid\": true' '$out'"
check "token verify for another audience: exit 1" "vc 1 token verify $D @'$T/token' idm.c.example && vault_err token.verify MCX_ERR_POLICY_DENIED -32005"
check "token verify later than exp: exit 1" "vc 1 token verify $D @'$T/token' idm.b.example --time 2099-01-01T00:00:00Z && vault_err token.verify MCX_ERR_EXPIRED -32009"
check "an option given twice: usage" "vc 2 token sign $D --sub a --sub b && has '^vaultctl: --sub given twice$' '$err'"

# --- audit checkpoints ---------------------------------------------------------------------
sleep 1.2   # a checkpoint every second
check "audit check-checkpoint: every checkpoint valid" "vc 0 audit check-checkpoint '$HARNESS_AUDIT_FILE' && has '^record [0-9]+ \\(line [0-9]+, records [0-9]+\\.\\.[0-9]+\\): valid$' '$out' && ! grep -q INVALID '$out'"
check "audit check-checkpoint --json" "vc 0 audit check-checkpoint '$HARNESS_AUDIT_FILE' --json && json '$out' && has '\"invalid\": 0' '$out'"
grep '"mac"' "$HARNESS_AUDIT_FILE" | head -n 1 | sed -E 's/"mac":"[0-9a-f]{8}/"mac":"00000000/' >"$T/forged"
check "audit check-checkpoint a changed MAC (stdin): INVALID MAC, exit 1" \
	"\"\$V\" audit check-checkpoint - <'$T/forged' >'$out' 2>'$err'; [ \$? -eq 1 ] && has 'INVALID MAC$' '$out'"
check "audit check-checkpoint a file without checkpoints: exit 1" "vc 1 audit check-checkpoint '$T/members' && has 'no checkpoint records' '$err'"
check "audit check-checkpoint without FILE: usage" "vc 2 audit check-checkpoint"

check "audit verify: intact after SIGTERM and SIGKILL" "harness_audit_verify >'$out' 2>&1 && has '^intact: ' '$out'"
checks_summary vaultctl-commands
