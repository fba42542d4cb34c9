#!/usr/bin/env python3
"""Generates crypto/mont16_adx.inc: x86-64 BMI2+ADX (mulx/adcx/adox) kernels
for the 1024-bit (16-limb) Montgomery multiplication in crypto/mont16.c.
Run from the repository root:  python3 crypto/gen_mont16.py

Every kernel is a sequence of rows over an 8-limb operand X: row k multiplies
X by one 64-bit multiplier y_k and adds the 9-limb product into an 8-limb
window of the accumulator held in r8..r15.  Per row the window slides up one
limb: the bottom limb leaves (it is stored, or it is the zero a reduction row
makes), the new top limb enters (zero, or the accumulator's limb loaded from
memory).  Two carry chains run through a row (OF: low halves, CF: high
halves), so a row is mulx + adox + adcx per limb and nothing else.

When the new top limb comes from memory (an accumulating row), the window
plus the product can carry out of the top limb: that carry (CF + OF, at most
2) is kept in rbx (the reduction) or the memory word CY (the products, which
need three pointer registers) and added into the next row's top limb by the
row's last adox, so the sum is exact without a separate addition pass.  The
word Z of the buffer is zero (the adox/adcx source that only adds a flag).

The buffer (uint64_t[52]): t[0..32] the accumulator, CY (byte 264), n0 (272),
mu[0..15] (280..407), Z (408).

  MCX_ADX_MUL8x16      t[0..23] = X[0..7] * Y[0..15]         (%0 t, %1 X, %2 Y)
  MCX_ADX_SQR8         t[0..15] = X[0..7]^2 (%0 t, %1 X): the 28 products
                       X_i X_j (i < j) by shrinking rows, then doubled and the
                       8 squares added in one pass (36 mulx instead of 64);
                       MCX_ADX_SQR8_16 the same at buffer + 16 limbs
  MCX_ADX_MULACC8x16   t[0..24] += X[0..7] * Y[0..15], t[0..15] on entry (the
                       rest taken as zero), t at buffer + 8 limbs
  MCX_ADX_MULACC8x9    t[0..24] += X[0..7] * Y[0..8], t[0..24] on entry (the
                       final carry rippled up to t[24]), t at buffer + 8 limbs
  MCX_ADX_REDC         the Montgomery reduction of T (33 limbs, %0, T < m 2^1024,
                       T[32] = 0) by m (%1): (T + mu m) / 2^1024 < 2m, then m
                       subtracted unless that is < m (cmov, no branch):
                       T[16..31] = T m^-1 2^-1024 mod m (carries in rbx:
                       MCX_ADX_REDC_CLOBBERS).
                       Two stages of eight rows: reduction rows with m[0..7]
                       (mu_k = w0 n0), then accumulating rows mu_k * m[8..15]
                       continuing the same window.

No branch and no value-dependent address (the final selection is cmov).

SPDX-License-Identifier: Apache-2.0
"""

W0 = ["%%r8", "%%r9", "%%r10", "%%r11", "%%r12", "%%r13", "%%r14", "%%r15"]
LO, HI = "%%rax", "%%rcx"


class Gen:
    def __init__(self, zoff):
        self.out = []
        self.z = f"{zoff}(%0)"                # a zero word (memory operand)
        self.w = list(W0)
        self.flags_clear = False

    def e(self, s):
        self.out.append(s)

    def load_window(self, base, off):
        for j in range(8):
            self.e(f"movq {off + 8*j}({base}), {self.w[j]}")

    def zero_window(self):
        for j in range(8):
            self.e(f"movq $0, {self.w[j]}")

    def store_window(self, base, off):
        for j in range(8):
            self.e(f"movq {self.w[j]}, {off + 8*j}({base})")

    def row(self, xbase, xoff, y, store, top, cy):
        """y: ("mem", base, off) multiplier, or ("mu", base, n0off, muoff) a
        reduction row; store: (base, off) for the bottom limb or None; top:
        (base, off) for the new top limb or None (zero); cy: None (fresh top),
        or (base, off, pending) for an accumulating row."""
        e, w = self.e, self.w
        if y[0] == "mem":
            e(f"movq {y[2]}({y[1]}), %%rdx")
        else:
            # mu = w0 n0 mod 2^64 by mulx (low half to rdx): unlike imul it
            # leaves the flags alone
            e(f"movq {w[0]}, %%rdx")
            e(f"mulxq {y[2]}({y[1]}), %%rdx, {LO}")
            e(f"movq %%rdx, {y[3]}({y[1]})")
        if not self.flags_clear:
            e("xorl %%eax, %%eax")          # CF = OF = 0
        for j in range(8):
            e(f"mulxq {xoff + 8*j}({xbase}), {LO}, {HI}")
            e(f"adoxq {LO}, {w[j]}")
            if j == 0:
                if store is not None:
                    e(f"movq {w[0]}, {store[1]}({store[0]})")
                if top is not None:
                    e(f"movq {top[1]}({top[0]}), {w[0]}")   # mov keeps flags
                else:
                    e(f"movq $0, {w[0]}")
            dst = w[j + 1] if j < 7 else w[0]
            e(f"adcxq {HI}, {dst}")
        if cy is None:
            # A fresh top limb cannot carry out: CF = 0 here, and after the
            # last adox OF = 0 (window + X y < 2^576).
            e(f"adoxq {self.z}, {w[0]}")
        else:
            # cy: a register or a memory word; pending: it holds the carry
            # into this row's top limb
            reg, pending = cy
            e(f"adoxq {reg if pending else self.z}, {w[0]}")
            # cy = CF + OF (the carries out of the top limb); clears both.
            r = reg if reg.startswith("%%") else LO
            e(f"movq $0, {r}")
            e(f"adcxq {r}, {r}")
            e(f"adoxq {self.z}, {r}")
            if r != reg:
                e(f"movq {r}, {reg}")
        self.flags_clear = True
        self.w = w[1:] + w[:1]


def mul_fresh(rows, zoff):
    g = Gen(zoff)
    g.zero_window()
    for k in range(rows):
        g.row("%1", 0, ("mem", "%2", 8*k), ("%0", 8*k), None, None)
    g.store_window("%0", 8*rows)
    return g.out


def sqr_fresh(zoff):
    """t[0..15] = X[0..7]^2 (%0 t, %1 X): the triangle X_i X_j (i < j) by
    rows of 7 - i products in the window, then 2 triangle + the squares X_i^2
    (CF chain doubles, OF chain adds); uses rbx."""
    g = Gen(zoff)
    e, T = g.e, "%%rbx"
    g.zero_window()
    e("xorl %%eax, %%eax")
    for i in range(8):
        w = g.w
        e(f"movq {w[0]}, {8*i}(%0)")          # limb i: no product of row i
        e(f"movq $0, {w[0]}")
        if i < 7:
            e(f"movq {8*i}(%1), %%rdx")
            for j in range(i + 1, 8):
                e(f"mulxq {8*j}(%1), {LO}, {HI}")
                e(f"adoxq {LO}, {w[j]}")
                e(f"adcxq {HI}, {w[j + 1] if j < 7 else w[0]}")
            e(f"adoxq {g.z}, {w[0]}")         # CF = OF = 0 (fresh top)
        g.w = w[1:] + w[:1]
    # limbs 0..7 in memory, 8..15 in the window (g.w[0] = limb 8)
    for i in range(8):
        e(f"movq {8*i}(%1), %%rdx")
        e(f"mulxq %%rdx, {LO}, {HI}")
        for limb, add in ((2*i, LO), (2*i + 1, HI)):
            if limb < 8:
                e(f"movq {8*limb}(%0), {T}")
                e(f"adcxq {T}, {T}")
                e(f"adoxq {add}, {T}")
                e(f"movq {T}, {8*limb}(%0)")
            else:
                r = g.w[limb - 8]
                e(f"adcxq {r}, {r}")
                e(f"adoxq {add}, {r}")
    g.store_window("%0", 64)
    return g.out


def mul_acc(rows, tlimbs, cyoff, zoff):
    """t[0..] += X * Y[0..rows-1]; t has tlimbs valid limbs (the rest zero);
    the result has rows + 9 limbs (the last one the final carry)."""
    g = Gen(zoff)
    g.load_window("%0", 0)
    for k in range(rows):
        top = ("%0", 8*(8 + k)) if 8 + k < tlimbs else None
        g.row("%1", 0, ("mem", "%2", 8*k), ("%0", 8*k), top, (f"{cyoff}(%0)", k > 0))
    g.store_window("%0", 8*rows)
    g.e(f"movq {cyoff}(%0), {LO}")
    if rows + 8 < tlimbs:                    # ripple into the limbs above
        g.e(f"addq {LO}, {8*(rows + 8)}(%0)")
        for i in range(rows + 9, tlimbs):
            g.e(f"adcq $0, {8*i}(%0)")
    else:
        g.e(f"movq {LO}, {8*(rows + 8)}(%0)")
    return g.out


CY, N0, MU, Z = 264, 272, 280, 408
CYR = "%%rbx"                                # the reduction's carry register


def redc():
    g = Gen(Z)
    for s in range(2):
        b = 8 * s                            # limb offset of this stage
        g.load_window("%0", 8*b)
        pending = False
        for k in range(8):                   # rows mu_k * m[0..7]
            g.row("%1", 0, ("mu", "%0", N0, MU + 8*(b + k)), None,
                  ("%0", 8*(b + 8 + k)), (CYR, pending))
            pending = True
        for k in range(8):                   # rows mu_k * m[8..15]
            g.row("%1", 64, ("mem", "%0", MU + 8*(b + k)), ("%0", 8*(b + 8 + k)),
                  ("%0", 8*(b + 16 + k)), (CYR, True))
        if s == 0:
            g.store_window("%0", 8*(b + 16))
        # the carry out of limb b+23 into limbs b+24 .. 32
        g.e(f"addq {CYR}, {8*(b + 24)}(%0)")
        for i in range(b + 25, 33):
            g.e(f"adcq $0, {8*i}(%0)")
        g.flags_clear = False
    # T[16..32] < 2m, T[24..31] in the window: S = T[16..31] - m (into the
    # mu words, no longer needed), then T[16..31] = S unless T < m, by cmov
    w = g.w
    for j in range(16):
        src = f"{8*(16 + j)}(%0)" if j < 8 else w[j - 8]
        g.e(f"movq {src}, {LO}")
        g.e(f"{'subq' if j == 0 else 'sbbq'} {8*j}(%1), {LO}")
        g.e(f"movq {LO}, {MU + 8*j}(%0)")
    g.e(f"movq {8*32}(%0), {LO}")
    g.e(f"sbbq $0, {LO}")                    # CF: T[16..32] < m, keep T
    for j in range(8):
        g.e(f"movq {8*(16 + j)}(%0), {LO}")
        g.e(f"cmovncq {MU + 8*j}(%0), {LO}")
        g.e(f"movq {LO}, {8*(16 + j)}(%0)")
    for j in range(8):
        g.e(f"cmovncq {MU + 8*(8 + j)}(%0), {w[j]}")
    g.store_window("%0", 8*24)
    return g.out


def block(name, lines):
    return f"#define {name} \\\n" + " \\\n".join('\t"' + s + '\\n\\t"' for s in lines) + "\n"


text = ("/* Generated by crypto/gen_mont16.py; do not edit.\n"
        " * SPDX-License-Identifier: Apache-2.0 */\n")
text += f"#define MCX_ADX_CY {CY}\n#define MCX_ADX_N0 {N0}\n#define MCX_ADX_MU {MU}\n"
text += f"#define MCX_ADX_Z {Z}\n"
text += block("MCX_ADX_MUL8x16", mul_fresh(16, Z))            # at buf
text += block("MCX_ADX_SQR8", sqr_fresh(Z))                   # at buf
text += block("MCX_ADX_SQR8_16", sqr_fresh(Z - 128))          # at buf + 16
# mul: t = aL b (24 limbs), then t[8..] += aH b with t[8..23] valid, CY = t[33]
text += block("MCX_ADX_MULACC8x16", mul_acc(16, 16, CY - 64, Z - 64))  # at buf + 8
# sqr: t = aL^2 | aH^2 (32 limbs), then t[8..] += aL (2 aH) with t[8..32] valid
text += block("MCX_ADX_MULACC8x9", mul_acc(9, 25, CY - 64, Z - 64))    # at buf + 8
text += block("MCX_ADX_REDC", redc())
text += "#define MCX_ADX_CLOBBERS \"rax\", \"rcx\", \"rdx\", \"r8\", \"r9\", \"r10\", \"r11\", \\\n" \
        "\t\"r12\", \"r13\", \"r14\", \"r15\", \"cc\", \"memory\"\n"
text += "#define MCX_ADX_REDC_CLOBBERS MCX_ADX_CLOBBERS, \"rbx\"\n"
open("crypto/mont16_adx.inc", "w").write(text)
