#!/usr/bin/env python3
# mcxvault — an independent computation of the MIKEY PRF (RFC 3830 s.4.1.2,
# RFC 6043 s.6.1 for HMAC-SHA-256), the RFC 3830 s.4.1.3 TGK derivation, the
# TS 33.180 F.1.3 GUK-ID and the vault's group RAND, with nothing but Python's
# hmac/hashlib and the RFC text.  It prints the values that
# tests/mikey/media_vectors.h and tests/mikey/test_mikey.c hold as NAME=hex;
# tests/mikey/test_media_vectors.sh checks that they are the same, so the C
# tests compare crypto/mikey_media.c with this code.
#
# SPDX-License-Identifier: Apache-2.0
import hashlib
import hmac


def p_func(s, label, m, h):
    """P(s, label, m) = HMAC(s, A_1 || label) || ... || HMAC(s, A_m || label)."""
    out, a = b"", label
    for _ in range(m):
        a = hmac.new(s, a, h).digest()
        out += hmac.new(s, a + label, h).digest()
    return out


def prf(inkey, label, outlen, h=hashlib.sha256):
    """XOR of P over the 256-bit pieces of inkey, cut to outlen octets."""
    m = -(-outlen // h().digest_size)
    out = bytes(outlen)
    for i in range(0, len(inkey), 32):
        p = p_func(inkey[i:i + 32], label, m, h)[:outlen]
        out = bytes(x ^ y for x, y in zip(out, p))
    return out


def tgk_key(constant, cs_id, csb_id, rand, tgk, outlen, h=hashlib.sha256):
    label = constant.to_bytes(4, "big") + bytes([cs_id]) + csb_id.to_bytes(4, "big") + rand
    return prf(tgk, label, outlen, h)


def guk_id(gmk, gmk_id, uri):
    u = uri.encode()
    k = hmac.new(gmk, bytes([0x50]) + u + len(u).to_bytes(2, "big"), hashlib.sha256).digest()
    salt = int.from_bytes(k[28:], "big") & 0x0FFFFFFF
    return (gmk_id & 0xF0000000) | ((gmk_id ^ salt) & 0x0FFFFFFF)


TEK, SALT, ENCR = 0x2AD01C64, 0x39A2C14B, 0x15798CEF
GMK = bytes.fromhex("07d1a1677ac36d8e81620484689b3c2d")   # published (Streamwide v5)
GMK_ID = 0x0DF9BC39
RAND = bytes.fromhex("ca2f5d51ff0866362c1d85a56f84651e")
ALICE = "sip:alice@streamwide.com"

inkey, label = bytes(range(1, 41)), bytes(range(0x80, 0x80 + 25))
print("PY_PRF_SHA256_LONG=" + prf(inkey, label, 64).hex())
print("PY_PRF_SHA1_LONG=" + prf(inkey, label, 64, hashlib.sha1).hex())
g = guk_id(GMK, GMK_ID, ALICE)
assert g == 0x06A12AEA, hex(g)                              # F.1.3, as published
print("PY_ALICE_KEY_SHA256=" + tgk_key(TEK, 4, g, RAND, GMK, 16).hex())
print("PY_ALICE_SALT_SHA256=" + tgk_key(SALT, 4, g, RAND, GMK, 12).hex())
print("PY_ALICE_KEY_SHA1=" + tgk_key(TEK, 4, g, RAND, GMK, 16, hashlib.sha1).hex())
print("PY_ALICE_SALT_SHA1=" + tgk_key(SALT, 4, g, RAND, GMK, 12, hashlib.sha1).hex())
ssv, srand = bytes.fromhex("a27b7d578eeb9b1ee7705e385996d300"), bytes.fromhex("4339f62f55aac86348846a482c893802")
print("SWUT_TEK_SALT=" + (tgk_key(TEK, 4, 0x0633F457, srand, ssv, 16) + tgk_key(SALT, 4, 0x0633F457, srand, ssv, 12)).hex())
print("SWUT_ENCR_SALT=" + (tgk_key(ENCR, 4, 0x05A85C16, srand, ssv, 16) + tgk_key(SALT, 4, 0x05A85C16, srand, ssv, 12)).hex())
print("expect_sw=" + hmac.new(GMK, b"mcxvault group RAND v1" + GMK_ID.to_bytes(4, "big"), hashlib.sha256).digest()[:16].hex())
seen, first = {}, None
for i in range(40000):
    gid = guk_id(GMK, GMK_ID, "sip:member%05d@example.org" % i)
    if gid in seen:
        first = (seen[gid], i, gid)
        break
    seen[gid] = i
print("COLLIDE=%d,%d,%08x" % first)
print("DISTINCT_10000=%s" % (first[1] >= 10000))
