#!/bin/bash
# mcxvault — the expected values of the media-key tests are what an
# independent Python implementation computes (tests/mikey/media_vectors.py):
# every NAME=hex it prints must be the value tests/mikey/media_vectors.h (or,
# for the group RAND, tests/mikey/test_mikey.c) holds.  The C tests
# (test_mikey_media, test_mikey) check crypto/ against those same values.
# Needs python3 only; no vaultd.
#
# SPDX-License-Identifier: Apache-2.0
set -u
cd "$(dirname "$0")/../.." || exit 2
. tests/lib/checks.sh

if ! command -v python3 >/dev/null 2>&1; then
	skipped "python3 not installed"
	checks_summary mikey-py-vectors
	exit $?
fi
out=$(python3 tests/mikey/media_vectors.py) || { not_ok "media_vectors.py ran"; checks_summary mikey-py-vectors; exit 1; }
ok "media_vectors.py ran (GUK-ID of the published GMK for Alice = 06a12aea)"
# the header splits long strings in 64-digit pieces: join them first
header=$(tr -d ' \t\n"' < tests/mikey/media_vectors.h)
while IFS='=' read -r name value; do
	case $name in
	expect_sw)
		check "group RAND $value in test_mikey.c" "grep -q 'expect_sw\[\] = \"$value\"' tests/mikey/test_mikey.c" ;;
	COLLIDE)
		IFS=, read -r a b g <<<"$value"
		check "first GUK-ID collision: members $a and $b share $g" \
			"grep -q 'define COLLIDE_A $a\$' tests/mikey/media_vectors.h && grep -q 'define COLLIDE_B $b\$' tests/mikey/media_vectors.h && grep -q 'define COLLIDE_GUK 0x${g}u' tests/mikey/media_vectors.h" ;;
	DISTINCT_10000)
		check "members 0..9999 have distinct GUK-IDs" "[ '$value' = True ]" ;;
	*)
		check "$name = ${value:0:16}..." "grep -q 'constchar${name}\[\]=${value};' <<<\"\$header\"" ;;
	esac
done <<<"$out"
checks_summary mikey-py-vectors
