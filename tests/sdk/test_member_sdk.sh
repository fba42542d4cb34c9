#!/bin/bash
# The member's SDK as installed (make install-member-sdk into a temporary
# root): a program that includes only <mcx/mikey.h>, builds with
# `pkg-config mcxcrypto` alone and derives per-sender SRTP keys (TS 33.180
# 7.4.2) — the same key for a sender whoever derives it, another key for
# another sender — and decodes an MKI; a bad MKI is refused.
# Ends with "member-sdk: N passed, N failed, N skipped".
#
# SPDX-License-Identifier: Apache-2.0
set -u
. "$(dirname "$0")/../lib/checks.sh"
B=${B:-build}
T=$(mktemp -d /tmp/mcx-sdk.XXXXXX)
trap 'rm -rf "$T"' EXIT

if ! command -v pkg-config >/dev/null || ! command -v cc >/dev/null; then
	skipped "member SDK: needs cc and pkg-config"
	checks_summary member-sdk
	exit $?
fi
SAN_MAKE="" SAN_CC=""
case "$B" in *asan*) SAN_MAKE="SAN=1" SAN_CC="-fsanitize=address,undefined" ;; esac
make -s --no-print-directory install-member-sdk $SAN_MAKE B="$B" DESTDIR="$T/root" PREFIX=/usr LIBDIR=/usr/lib \
	>"$T/install.out" 2>&1
check "make install-member-sdk installs the archive, the headers and mcxcrypto.pc" \
	"[ -f '$T/root/usr/lib/libmcxcrypto.a' ] && [ -f '$T/root/usr/include/mcx/mikey.h' ] &&
	 [ -f '$T/root/usr/lib/pkgconfig/mcxcrypto.pc' ]"
cat >"$T/member.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <mcx/mikey.h>

int main(void)
{
	uint8_t gmk[MCX_MIKEY_GMK_LEN], rand[16];
	uint32_t gmk_id = 0x0a0271a7, alice, bob, g, u;
	struct mcx_mikey_srtp_keys a1, a2, b1;

	memset(gmk, 0x42, sizeof(gmk));
	memset(rand, 0x17, sizeof(rand));
	if (mcx_mikey_guk_id(gmk, gmk_id, "sip:alice@a.example", &alice) != MCX_OK ||
	    mcx_mikey_guk_id(gmk, gmk_id, "sip:bob@a.example", &bob) != MCX_OK)
		return 10;
	if (mcx_mikey_media_keys(1 /* PRF-HMAC-SHA-256 */, gmk, gmk_id, alice, MCX_MIKEY_CS_MCPTT_GROUP, rand,
				 sizeof(rand), &a1) != MCX_OK ||
	    mcx_mikey_media_keys(1 /* PRF-HMAC-SHA-256 */, gmk, gmk_id, alice, MCX_MIKEY_CS_MCPTT_GROUP, rand,
				 sizeof(rand), &a2) != MCX_OK ||
	    mcx_mikey_media_keys(1 /* PRF-HMAC-SHA-256 */, gmk, gmk_id, bob, MCX_MIKEY_CS_MCPTT_GROUP, rand,
				 sizeof(rand), &b1) != MCX_OK)
		return 11;
	if (memcmp(&a1, &a2, sizeof(a1)) != 0)
		return 12;   /* one sender, one key */
	if (memcmp(a1.master_key, b1.master_key, sizeof(a1.master_key)) == 0 ||
	    memcmp(a1.master_salt, b1.master_salt, sizeof(a1.master_salt)) == 0)
		return 13;   /* two senders, two keys */
	if (mcx_mikey_mki_parse(a1.mki, sizeof(a1.mki), &g, &u) != MCX_OK || g != gmk_id || u != alice)
		return 14;
	if (mcx_mikey_mki_parse(a1.mki, 7, &g, &u) == MCX_OK)
		return 15;
	printf("ok %08x %08x\n", alice, bob);
	return 0;
}
C
export PKG_CONFIG_PATH="$T/root/usr/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$T/root"
check "a member program builds with pkg-config mcxcrypto alone" \
	"cc -std=c11 -Wall -Wextra -Werror $SAN_CC \$(pkg-config --cflags mcxcrypto) -o '$T/member' '$T/member.c' \
	    \$(pkg-config --static --libs mcxcrypto) >'$T/cc.out' 2>&1 || { cat '$T/cc.out'; false; }"
check "it derives one key per sender, the same for every receiver, and parses its MKI" \
	"'$T/member' >'$T/run.out' 2>&1 && grep -Eq '^ok [0-9a-f]{8} [0-9a-f]{8}$' '$T/run.out'"
checks_summary member-sdk
