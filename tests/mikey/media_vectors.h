/*
 * mcxvault mikey media-key tests — expected values and where they come from.
 *
 * There is no official test vector for the MIKEY PRF (RFC 3830 s.4.1.2,
 * RFC 6043 s.6.1) or for the TS 33.180 7.4.2 media-key derivation.  So:
 *
 *   PY_*   computed for this project with Python 3's hmac/hashlib from the
 *          RFC text (P function, 256-bit inkey pieces XORed, label =
 *          constant || CS ID || CSB ID || RAND), independently of
 *          crypto/mikey_media.c: tests/mikey/media_vectors.py, which
 *          tests/mikey/test_media_vectors.sh runs and compares with this
 *          file.  The same Python reproduces the two SWUT_* values below,
 *          so three implementations agree.
 *   SWUT_* the expected values of a unit test of Streamwide's libmikey
 *          (KeyAgreement::keyDeriv2, tests "test_key_deriv.tek_and_salt" and
 *          "encr_and_salt", in the sw_mikey_sakke code base, LGPL-2.1): a
 *          vendor's implementation, not a standard.
 *   The GMK, GMK-ID, RAND and Alice's GUK-ID are the published Streamwide
 *   interop values (tests/mikey/vectors.h, StreamwideTestVectors.md v5,
 *   TS 33.180 F.1.3); the SRTP key and salt derived from them are PY_*
 *   values (Streamwide publishes none).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef MCX_TESTS_MIKEY_MEDIA_VECTORS_H
#define MCX_TESTS_MIKEY_MEDIA_VECTORS_H

/* PRF(inkey = 01 02 .. 28 (40 octets: two pieces), label = 80 81 .. 98
 * (25 octets), 64 octets out): two and three hash blocks. */
static const char PY_PRF_SHA256_LONG[] =
	"10b3f73491698c41c991f508ef798d626db6eccb368fac1a639a4e1df0eab043"
	"c63fb89c677e112ea9f76b0a3d505a001734b4abe79fee3f0cbd665ecaae8be5";
static const char PY_PRF_SHA1_LONG[] =
	"b18cfaa536c4f0673872332c20f89a1c40449fb0c2790a45bdd968794969dae1"
	"92780c9afe91d7db174d81cc331192cc28dd8d74f6b0fbe09f92d27e35c19efd";

/* Alice's own SRTP context for the published GMK I_MESSAGE: TGK = GMK,
 * CS ID 4 (MCPTT group call), CSB ID = GUK-ID 06a12aea, RAND as published. */
static const char PY_ALICE_KEY_SHA256[] = "acb1b4e2b2dca12291e1794a8ef84947";
static const char PY_ALICE_SALT_SHA256[] = "ee2f78e5ef16939d4a938327";
/* the same with the header's PRF func set to 0 (MIKEY-1, HMAC-SHA-1) */
static const char PY_ALICE_KEY_SHA1[] = "a4b67b92a7a2f98636734f9740c1e8f0";
static const char PY_ALICE_SALT_SHA1[] = "6760f4861960b860b1de4563";

/* Streamwide libmikey unit test: SSV (TGK), RAND, CS ID 4. */
static const char SWUT_SSV[] = "a27b7d578eeb9b1ee7705e385996d300";
static const char SWUT_RAND[] = "4339f62f55aac86348846a482c893802";
/* CSB ID 0633f457: TEK (0x2AD01C64, 16) || salt (0x39A2C14B, 12) */
#define SWUT_TEK_CSB 0x0633f457u
static const char SWUT_TEK_SALT[] = "59aaa49ebb54813602b7cc165961b4e8745eb4df7d155c473114a799";
/* CSB ID 05a85c16: encryption key (0x15798CEF, 16) || salt (0x39A2C14B, 12) */
#define SWUT_ENCR_CSB 0x05a85c16u
static const char SWUT_ENCR_SALT[] = "3924935940c154ccbc3c2ad05c8f51811725869b80f370cc9f24e13b";

/* With the published GMK and GMK-ID, the URIs sip:member%05d@example.org
 * 0..9999 have 10,000 distinct GUK-IDs; members 06704 and 13564 share
 * GUK-ID 01e57734 (the first repeat, by Python: a 28-bit birthday). */
#define COLLIDE_A 6704
#define COLLIDE_B 13564
#define COLLIDE_GUK 0x01e57734u

#endif
