#!/bin/bash
# The Debian packages as an operator meets them (issue 13): `make deb-check`
# builds them (make deb), runs lintian, installs them on this machine, starts
# vaultd from the packaged configuration as the packaged user on a SoftHSM
# token made the packaged way, uses it, and purges everything again.
# Not part of `make check`: it installs system packages and creates a user.
# Needs root.  Ends with "deb: N passed, N failed".
#
# SPDX-License-Identifier: Apache-2.0
set -u
cd "$(dirname "$0")/../.." || exit 2
: "${B:=build}"
DEB="$B/deb"
pass=0 fail=0
ok() { echo "ok - $1"; pass=$((pass + 1)); }
not_ok() { echo "FAIL - $1"; fail=$((fail + 1)); }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }
PKGS="mcxvault libmcxvault0 libmcxvault-dev openssl-provider-mcxvault"
VPID=

cleanup() {
	[ -n "$VPID" ] && kill -TERM "$VPID" 2>/dev/null && wait "$VPID" 2>/dev/null
	dpkg --purge $PKGS >/dev/null 2>&1
	rm -rf /var/lib/mcxvault /var/log/mcxvault /run/mcxvault /etc/mcxvault
}
[ "$(id -u)" -eq 0 ] || { echo "deb-check needs root"; echo "deb: 0 passed, 1 failed"; exit 1; }
trap cleanup EXIT

ls "$DEB"/mcxvault_*.deb >/dev/null 2>&1 || { echo "no packages in $DEB: run make deb"; echo "deb: 0 passed, 1 failed"; exit 1; }
out=$(lintian --tag-display-limit 0 "$DEB"/*.changes 2>&1 | grep -v 'root privileges')
check "lintian: no error and no warning${out:+: $out}" "! echo \"\$out\" | grep -qE '^[EW]: '"
for p in $PKGS; do
	check "$p is built" "ls '$DEB'/${p}_*.deb >/dev/null 2>&1"
done
check "libmcxvault0 ships libmcxvault.so.0 with its SONAME" \
	"dpkg-deb -c '$DEB'/libmcxvault0_*.deb 2>/dev/null | grep -q 'libmcxvault.so.0\$' && dpkg-deb -I '$DEB'/libmcxvault0_*.deb 2>/dev/null | grep -q symbols"
check "libmcxvault-dev ships the header, the pkg-config file and libmcxvault(3)" \
	"dpkg-deb -c '$DEB'/libmcxvault-dev_*.deb 2>/dev/null | grep -q 'include/mcxvault.h' && dpkg-deb -c '$DEB'/libmcxvault-dev_*.deb 2>/dev/null | grep -q 'pkgconfig/mcxvault.pc'"

dpkg -i "$DEB"/mcxvault_*.deb "$DEB"/libmcxvault0_*.deb "$DEB"/libmcxvault-dev_*.deb \
	"$DEB"/openssl-provider-mcxvault_*.deb > /tmp/mcxvault-deb-install.log 2>&1
check "the four packages install" "dpkg -s $PKGS >/dev/null 2>&1"
check "the postinst made the user mcxvault and its groups" "getent passwd mcxvault >/dev/null && getent group mcxvault-audit >/dev/null"
systemd-tmpfiles --create /usr/lib/tmpfiles.d/mcxvault.conf >/dev/null 2>&1
check "tmpfiles made the state, log and run directories" \
	"[ -d /var/lib/mcxvault/tokens ] && [ \"\$(stat -c %U:%G /var/log/mcxvault)\" = mcxvault:mcxvault-audit ]"
check "the configuration is a conffile, 0640 root:mcxvault" \
	"dpkg-query -W -f='\${Conffiles}' mcxvault | grep -q /etc/mcxvault/vault.conf && [ \"\$(stat -c %a:%U:%G /etc/mcxvault/vault.conf)\" = 640:root:mcxvault ]"
check "vaultd -t accepts the packaged configuration" "/usr/sbin/vaultd -t -c /etc/mcxvault/vault.conf >/dev/null"
check "pkg-config finds libmcxvault" "pkg-config --exists mcxvault && pkg-config --libs mcxvault | grep -q -- -lmcxvault"
check "openssl loads the packaged provider" "openssl list -providers -provider mcxvault -provider default 2>/dev/null | grep -qi mcxvault"

# a token the way docs/operations.md says, then vaultd as the packaged user
export SOFTHSM2_CONF=/etc/mcxvault/softhsm2.conf
runuser -u mcxvault -- env SOFTHSM2_CONF=$SOFTHSM2_CONF softhsm2-util --init-token --free --label mcx-vault \
	--so-pin 5678 --pin 1234 >/dev/null
install -m 600 -o mcxvault -g mcxvault /dev/null /etc/mcxvault/pin && echo 1234 > /etc/mcxvault/pin
# setpriv execs vaultd itself (runuser would stay in between and eat the signal)
setpriv --reuid=mcxvault --regid=mcxvault --init-groups env SOFTHSM2_CONF=$SOFTHSM2_CONF \
	/usr/sbin/vaultd -f -c /etc/mcxvault/vault.conf \
	> /tmp/mcxvault-deb-vaultd.log 2>&1 &
VPID=$!
i=0; until vaultctl -c /etc/mcxvault/vault.conf -t 2 status >/dev/null 2>&1 || [ $i -gt 100 ]; do i=$((i + 1)); sleep 0.1; done
check "vaultd runs from the packaged configuration as user mcxvault" "vaultctl -c /etc/mcxvault/vault.conf status | grep -q reachable"
check "and the packaged access list lets root administer it" "vaultctl -c /etc/mcxvault/vault.conf domain init a.example >/dev/null"
echo hello > /tmp/mcxvault-deb-msg
check "signing works" "vaultctl -c /etc/mcxvault/vault.conf sign a.example /tmp/mcxvault-deb-msg >/dev/null"
check "the audit log is written where the package says, for the auditors' group" \
	"[ \"\$(stat -c %a:%G /var/log/mcxvault/audit.jsonl)\" = 640:mcxvault-audit ]"
check "vaultctl audit verify: intact" "vaultctl -c /etc/mcxvault/vault.conf audit verify | grep -q '^intact'"
kill -TERM "$VPID"; wait "$VPID"; rc=$?; VPID=
check "vaultd stops cleanly (exit $rc)" "[ $rc -eq 0 ]"
rm -f /tmp/mcxvault-deb-msg
echo "deb: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
