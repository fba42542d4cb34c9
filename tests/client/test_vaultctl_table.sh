#!/bin/bash
# The surfaces that must not drift from vault/rpc/rpc_table.c, checked
# without a vault (a second or so):
#   - every method of the RPC table has a vaultctl command, and every method
#     a command names is in the table (`vaultctl --commands`);
#   - a table-driven command has an argument row for every param its method
#     accepts in rpc_table.c (and none it does not accept);
#   - a command's options (its ARGS rows) are the ones its usage shows;
#   - docs/vaultctl.md has a section with an example for every command;
#   - the bash completion (config/bash-completion/vaultctl) completes every
#     command, word by word, and every option of every command;
#   - every method has a typed helper in include/mcxvault.h (named in the
#     comment above it), and the library's surface agrees everywhere: the
#     functions the header declares = those libmcxvault.so.0 exports = the
#     symbols of debian/libmcxvault0.symbols = those libmcxvault(3) names.
# Ends with "vaultctl-table: N passed, N failed, N skipped".
#
# SPDX-License-Identifier: Apache-2.0
set -u
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/checks.sh"
cd "$HARNESS_ROOT" || exit 1
V="${VAULTCTL:-$B/vaultctl}"
T=$(mktemp -d /tmp/mcxvault-table.XXXXXX)
trap 'rm -rf "$T"' EXIT

if [ ! -x "$V" ]; then
	skipped "vaultctl table: needs $V"
	checks_summary vaultctl-table
	exit $?
fi

# --- methods ----------------------------------------------------------------------
# a method row: { "name", ROLE ... (a row of parameter names goes on with a string)
sed -En 's/^[[:space:]]*\{ "([a-z_]+(\.[a-z_]+)?)",[[:space:]]+[A-Z].*/\1/p' vault/rpc/rpc_table.c | sort -u >"$T/rpc"
"$V" --commands >"$T/table" 2>"$T/err"
check "vaultctl --commands lists the table" "[ \$(wc -l <'$T/table') -gt 30 ]"
check "rpc_table.c parsed ($(wc -l <"$T/rpc") methods)" "[ \$(wc -l <'$T/rpc') -gt 30 ] && grep -qx vault.status '$T/rpc' && grep -qx metrics '$T/rpc'"
cut -f2 "$T/table" | tr ' ' '\n' | sed '/^-\?$/d' | sort -u >"$T/cli"
missing=$(comm -23 "$T/rpc" "$T/cli" | tr '\n' ' ')
check "every method of rpc_table.c has a vaultctl command${missing:+ (missing: $missing; add a row to commands[] in vault/vaultctl/vaultctl.c)}" "[ -z '$missing' ]"
unknown=$(comm -13 "$T/rpc" "$T/cli" | tr '\n' ' ')
check "every method vaultctl calls is in rpc_table.c${unknown:+ (unknown: $unknown)}" "[ -z '$unknown' ]"

# --- params: a table-driven command can send every param its method accepts ----------
# (members: the distribute commands read them from --members FILE)
if command -v python3 >/dev/null; then
	python3 - vault/rpc/rpc_table.c "$T/table" >"$T/paramdiff" <<'PY'
import re, sys
src = open(sys.argv[1]).read()
accepted = {m.group(1): set(re.findall(r'"([a-z_]+)"', m.group(2)))
            for m in re.finditer(r'\{ "([a-z_.]+)",\s+[A-Z][^{]*\{([^}]*)\}', src)}
for line in open(sys.argv[2]):
    name, methods, _, _, params = line.rstrip("\n").split("\t")
    if params == "-" or " " in methods or methods not in accepted:
        continue
    mine = set(params.split()) | ({"members"} if methods.endswith(".distribute") else set())
    for p in sorted(accepted[methods] - mine):
        print(f"{name}: no argument row sends {methods}'s '{p}'")
    for p in sorted(mine - accepted[methods]):
        print(f"{name}: sends '{p}', which {methods} does not accept")
PY
	check "every param of a table-driven command's method has an argument row, and no other$(head -n 3 "$T/paramdiff" | tr '\n' ';' | sed 's/./: &/')" \
		"[ ! -s '$T/paramdiff' ]"
else
	skipped "params of table-driven commands (needs python3)"
fi

# --- options: the rows and the usage agree ------------------------------------
while IFS=$'\t' read -r name methods opts usage_opts _; do
	a=$(tr ' ' '\n' <<<"$opts" | sort -u | tr '\n' ' ')
	b=$(tr ' ' '\n' <<<"$usage_opts" | sort -u | tr '\n' ' ')
	[ "$a" = "$b" ] || echo "$name: options [$a] usage [$b]"
done <"$T/table" >"$T/optdiff"
check "every command's usage shows exactly its options$(head -n 3 "$T/optdiff" | tr '\n' ';')" "[ ! -s '$T/optdiff' ]"

# --- docs/vaultctl.md: a section with an example for every command ---------------
: >"$T/nodoc"
while IFS=$'\t' read -r name _; do
	grep -Eq "^### .*\`$name( [^\`]*)?\`" docs/vaultctl.md || echo "$name" >>"$T/nodoc"
done <"$T/table"
check "docs/vaultctl.md has a section for every command$(head -n 5 "$T/nodoc" | tr '\n' ',' | sed 's/./ (none for: &/;s/$/)/;s/^ ()$//')" \
	"[ ! -s '$T/nodoc' ]"
# the sections between "## Commands" and the next "## " without a code block
awk '/^## /{ if (sec != "" && !fence) print sec; sec = ""; on = ($0 == "## Commands"); next }
     on && /^### /{ if (sec != "" && !fence) print sec; sec = $0; fence = 0; next }
     on && /^```/{ fence = 1 }
     END { if (sec != "" && !fence) print sec }' docs/vaultctl.md >"$T/noexample"
check "every command section of docs/vaultctl.md has an example$(head -n 3 "$T/noexample" | tr '\n' ' ' | sed 's/./ (none in: &/;s/$/)/;s/^ ()$//')" \
	"[ ! -s '$T/noexample' ]"

# --- the bash completion ---------------------------------------------------------
comp=config/bash-completion/vaultctl
check "$comp is a bash script" "bash -n '$comp'"
# complete WORDS...: the completions of the last word (COMPREPLY, one per line)
complete_words() {
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _vaultctl; printf "%s\n" "${COMPREPLY[@]}"' \
		_ "$comp" "$@"
}
: >"$T/compmiss"
while IFS=$'\t' read -r name methods opts usage_opts _; do
	read -ra w <<<"$name"
	prefix=()
	for word in "${w[@]}"; do
		complete_words "$V" "${prefix[@]}" "" | grep -qx -- "$word" || echo "$name: '$word' after '${prefix[*]}'" >>"$T/compmiss"
		prefix+=("$word")
	done
	for o in $opts; do
		complete_words "$V" "${w[@]}" X "${o:0:3}" | grep -qx -- "$o" || echo "$name: option $o" >>"$T/compmiss"
	done
done <"$T/table"
check "the completion completes every command word by word$(grep -v option "$T/compmiss" | head -n 3 | tr '\n' ';')" \
	"! grep -qv option '$T/compmiss'"
check "the completion completes every option of every command$(grep option "$T/compmiss" | head -n 3 | tr '\n' ';')" \
	"! grep -q option '$T/compmiss'"
check "the completion completes a partial command (serv -> server-key)" \
	"[ \"\$(complete_words '$V' serv)\" = server-key ]"

make -s --no-print-directory install-ops DESTDIR="$T/root" PREFIX=/usr >/dev/null 2>"$T/install.err"
installed=$T/root/usr/share/bash-completion/completions/vaultctl
check "make install-ops installs the completion (mode 644) and it registers _vaultctl" \
	"[ \"\$(stat -c %a '$installed' 2>/dev/null)\" = 644 ] && bash -c \". '$installed' && complete -p vaultctl\" | grep -q _vaultctl"
check "the Debian package ships the completion" "grep -qx usr/share/bash-completion/completions/vaultctl debian/mcxvault.install"

# --- the library -----------------------------------------------------------------
h=include/mcxvault.h
sed -n 's/^MCXVAULT_API .*[ *]\(mcxvault_[a-z0-9_]*\)(.*/\1/p' "$h" | sort -u >"$T/header"
check "the header declares the API ($(wc -l <"$T/header") functions)" "[ \$(wc -l <'$T/header') -gt 40 ]"
: >"$T/nohelper"
while read -r m; do
	grep -Eq "^(/\*| \*) ?$m[: ]" "$h" || echo "$m" >>"$T/nohelper"
done <"$T/rpc"
check "every method has a typed helper in mcxvault.h$(tr '\n' ' ' <"$T/nohelper" | sed 's/./ (none for: &/;s/$/)/;s/^ ()$//')" \
	"[ ! -s '$T/nohelper' ]"
sed -n 's/^ \(mcxvault_[a-z0-9_]*\)@MCXVAULT_0 .*/\1/p' debian/libmcxvault0.symbols | sort -u >"$T/symbols"
d=$(diff "$T/header" "$T/symbols" | grep '^[<>]' | tr '\n' ' ')
check "debian/libmcxvault0.symbols lists exactly the header's functions${d:+: $d}" "[ -z '$d' ]"
check "debian/libmcxvault0.symbols is only symbol lines" \
	"! grep -Evq '^(libmcxvault\.so\.0 libmcxvault0 #MINVER#| [A-Za-z0-9_]+@MCXVAULT_0 [0-9.]+)$' debian/libmcxvault0.symbols"
if [ -f "$B/libmcxvault.so.0" ] && command -v nm >/dev/null; then
	nm -D --defined-only "$B/libmcxvault.so.0" | awk '$2 == "T" { print $3 }' | sed 's/@.*//' | sort -u >"$T/so"
	d=$(diff "$T/header" "$T/so" | grep '^[<>]' | tr '\n' ' ')
	check "libmcxvault.so.0 exports exactly the header's functions${d:+: $d}" "[ -z '$d' ]"
else
	skipped "libmcxvault.so.0 exports (needs $B/libmcxvault.so.0 and nm)"
fi
: >"$T/noman"
while read -r f; do
	grep -qw -- "$f" docs/man/libmcxvault.3 || echo "$f" >>"$T/noman"
done <"$T/header"
check "libmcxvault(3) names every function$(head -n 5 "$T/noman" | tr '\n' ' ' | sed 's/./ (missing: &/;s/$/)/;s/^ ()$//')" "[ ! -s '$T/noman' ]"

checks_summary vaultctl-table
