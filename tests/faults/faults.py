# mcxvault tests — the driver of tests/faults/test_faults.sh (which makes the
# token, the configuration and a partner's KMS certificate).
#
# For each key-changing method: count the PKCS#11 calls it makes (the fault
# module in counting mode), then fail each of those calls in turn —
#   once   CKR_DEVICE_REMOVED at call i only: the layer recovers the session
#          and re-runs the operation, the method succeeds;
#   after  a device/token error at call i and every call after (a dead
#          token): the method answers -32004, vault.status says unreachable,
#          and once the faults stop vaultd re-initialises the module by
#          itself and serves again;
#   retry  CKR_GENERAL_ERROR at call i only: retried once inside, success —
# (C_GenerateKey, which only the first start calls, is failed there)
# and after every case: vaultd still answers, exactly one active version per
# purpose (key.list), no version lost or moved back.  Then stale handles,
# C_Initialize failing at start-up and during recovery.
#
# SPDX-License-Identifier: Apache-2.0
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faultlib import (RpcError, Suite, Vault, active_counts, main_guard, reachable,  # noqa: E402
                      wait_for)

HOME = "a.example"
GROUP = "sip:units@a.example"
STATE_ORDER = {"active": 0, "verify-only": 1, "retired": 2}
RV = {"CKR_DEVICE_REMOVED": 0x32, "CKR_TOKEN_NOT_PRESENT": 0xe0, "CKR_DEVICE_ERROR": 0x30,
      "CKR_SESSION_HANDLE_INVALID": 0xb3, "CKR_GENERAL_ERROR": 0x5}
STICKY = ["CKR_DEVICE_REMOVED", "CKR_TOKEN_NOT_PRESENT", "CKR_DEVICE_ERROR", "CKR_SESSION_HANDLE_INVALID"]

S = Suite("faults")
V = Vault()


def versions(c, domain):
    return {(k["purpose"], k["version"]): k["state"] for k in c.call("key.list", {"domain": domain})["keys"]}


def keys_consistent(c, domains, before):
    """'' when every domain has exactly one active version per purpose and
    no version of `before` is lost or moved back; else what is wrong."""
    for d in domains:
        counts = active_counts(c, d)
        bad = {p: n for p, n in counts.items() if n != 1}
        if bad:
            return "%s: active versions per purpose %s" % (d, bad)
        now = versions(c, d)
        for key, state in before.get(d, {}).items():
            if key not in now:
                return "%s: version %s lost" % (d, key)
            if STATE_ORDER[now[key]] < STATE_ORDER[state]:
                return "%s: version %s went back from %s to %s" % (d, key, state, now[key])
    return ""


def token_objects(kind):
    """Labels of the token's objects of a kind (privkey, secrkey), listed by
    pkcs11-tool from outside."""
    out = subprocess.run(["pkcs11-tool", "--module", "/usr/lib/softhsm/libsofthsm2.so", "--token-label",
                          "mcx-vault", "--login", "--pin", "1234", "--list-objects", "--type", kind],
                         capture_output=True, text=True).stdout
    return [ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.strip().startswith("label:")]


def token_private_keys():
    return token_objects("privkey")


def snapshot(c, domains):
    return {d: versions(c, d) for d in domains}


def sign_ok(c):
    try:
        c.call("sign.sign", {"domain": HOME, "data": "aGVsbG8"})
        return True
    except RpcError:
        return False


class Method:
    def __init__(self, name, params, domains=lambda: [HOME], undo=None):
        self.name = name
        self.params = params      # () -> params of the next call
        self.domains = domains    # () -> the domains whose keys the call may change
        self.undo = undo          # (client) -> None: puts things back after a success


def run_case(c, m, fn, nth, last, label, rv, mode):
    """One call of m with the nth call of fn failing with rv (mode: "" once,
    "dead" and every call after).  How often a method draws random numbers
    varies (rejection sampling), so the fault names the function and its
    occurrence, and a case whose call was not reached is run again."""
    sticky = mode == "dead"
    for attempt in range(6):
        params = m.params()
        domains = m.domains()
        before = snapshot(c, [d for d in domains if d == HOME])
        epoch = V.faults("fail %s %d %s %s" % (fn, nth, rv, mode))
        code = c.code(m.name, params)
        injected = [f for f, got in V.calls_of(epoch) if f == fn and got == RV[rv]]
        if injected or not V.alive():
            break
        V.faults()
        if code == 0 and m.undo is not None:
            m.undo(c)
    unreachable = not reachable(c) if sticky else None
    V.faults()
    problems = []
    if not injected and V.alive():
        S.skip("%s: the call was not reached in 6 tries (a random draw fewer than when counted)" % label)
        return True
    if not V.alive():
        S.check("%s %s: vaultd still runs" % (m.name, label), False)
        return False
    if sticky:
        # the one call that may fail and still leave a complete change: the
        # removal of superseded metadata at the very end of a rotation (the
        # next index rebuild removes it)
        complete = code == 0 and last and fn == "C_DestroyObject"
        if code != -32004 and not complete:
            problems.append("answered %s, not -32004" % code)
        if not unreachable:
            problems.append("vault.status still said reachable")
        took = wait_for(lambda: reachable(c) and sign_ok(c), 5.0)
        if took is None:
            problems.append("no service 5 s after the faults stopped")
        # the first use of each cached handle after the re-initialisation
        # looks it up again (extra calls): done here, so that the next case
        # counts the same calls as the counting run
        c.code("kms.user_keys", {"domain": HOME, "user_uri": "sip:warm@a.example"})
        c.code("key.list", {"domain": HOME})
    elif code != 0:
        problems.append("answered %s, not success after the retry" % code)
    if code == 0 and m.undo is not None:
        m.undo(c)
    wrong = keys_consistent(c, domains, before)
    if wrong:
        problems.append(wrong)
    return S.check("%s %s: %s" % (m.name, label, "; ".join(problems) if problems else
                                  ("-32004, unreachable, back after the faults" if sticky else "success")) +
                   ", keys consistent" * (not wrong), not problems, "; ".join(problems) or None)


def fault_every_call(c, m):
    # the shortest of three runs: an extra random draw (rejection sampling)
    # is the rare path
    calls, code = None, None
    for _ in range(3):
        e = V.faults()
        code = c.code(m.name, m.params())
        seen = [f for f, _ in V.calls_of(e)]
        if code == 0 and m.undo is not None:
            m.undo(c)
        if code != 0:
            break
        if calls is None or len(seen) < len(calls):
            calls = seen
    calls = calls or []
    if not S.check("%s makes %d PKCS#11 calls when nothing fails: %s" % (m.name, len(calls), " ".join(calls)),
                   code == 0 and len(calls) > 0, "answered %s" % code):
        return
    for i, fn in enumerate(calls, 1):
        last = i == len(calls)
        nth = calls[:i].count(fn)
        what = "call %d/%d (%s #%d)" % (i, len(calls), fn, nth)
        run_case(c, m, fn, nth, last, what + " fails once with CKR_DEVICE_REMOVED", "CKR_DEVICE_REMOVED", "")
        rv = STICKY[i % len(STICKY)]
        run_case(c, m, fn, nth, last, what + " and every call after fail with " + rv, rv, "dead")
        if fn != "C_Decrypt":   # there CKR_GENERAL_ERROR is SoftHSM's word for a wrong tag
            run_case(c, m, fn, nth, last, what + " fails once with CKR_GENERAL_ERROR", "CKR_GENERAL_ERROR", "")


def main():
    # --- first start on a fresh token: the audit MAC key and the KEK are
    # made (C_GenerateKey, the only calls that make them) --------------------
    epoch = V.faults("fail C_GenerateKey 2 CKR_DEVICE_ERROR dead")
    started = V.start()
    rc = V.proc.wait(30) if V.proc is not None and not started else None
    if started:
        V.stop()
    V.proc = None
    S.check("first start, the device dies at the second C_GenerateKey (the KEK): vaultd refuses to start, "
            "exit status 1", not started and rc == 1 and
            ("C_GenerateKey", RV["CKR_DEVICE_ERROR"]) in V.calls_of(epoch), "started=%s rc=%s" % (started, rc))
    epoch = V.faults("fail C_GenerateKey 1 CKR_DEVICE_REMOVED")
    if not S.check("next start, C_GenerateKey (the KEK) fails once: retried, vaultd starts through libp11fault.so",
                   V.start() and [f for f, _ in V.calls_of(epoch) if f == "C_GenerateKey"] == ["C_GenerateKey"] * 2):
        print(V.log_text()[-3000:])
        return S.end()
    secrets = token_objects("secrkey")
    S.check("one audit MAC key and one KEK in the token (%s)" % ", ".join(secrets),
            sorted(secrets) == ["mcxvault-audit/1", "mcxvault-kek/1"])
    c = V.client()
    c.call("domain.init", {"domain": HOME})
    c.call("gmk.create", {"domain": HOME, "group": GROUP})
    with open(os.environ["PARTNER_CERT"]) as f:
        cert = f.read()
    with open(os.environ["PARTNER_KEY"]) as f:
        pem = f.read()
    sign_pub = c.call("sign.public_key", {"domain": HOME})["pem"]
    gmk_before = c.call("gmk.show", {"domain": HOME, "group": GROUP})

    counter = {"domain": 0, "sender": 0}

    def next_domain():
        counter["domain"] += 1
        return "d%d.example" % counter["domain"]

    def next_sender():
        counter["sender"] += 1   # a new sender: its keys are derived (KMS secrets unsealed) each time
        return "sip:gms%d@a.example" % counter["sender"]

    last_domain = {"name": None}

    def domain_params():
        last_domain["name"] = next_domain()
        return {"domain": last_domain["name"]}

    methods = [
        Method("domain.init", domain_params, domains=lambda: [HOME] + ([last_domain["name"]] if last_domain["name"]
                                                                        else [])),
        Method("key.rotate", lambda: {"domain": HOME, "purpose": "sign"}),
        Method("key.rotate", lambda: {"domain": HOME, "purpose": "kms"}),
        Method("kms.user_keys", lambda: {"domain": HOME, "user_uri": "sip:alice@a.example"}),
        Method("gmk.rekey", lambda: {"domain": HOME, "group": GROUP}),
        Method("gmk.distribute", lambda: {"domain": HOME, "group": GROUP, "sender_uri": next_sender(),
                                          "members": [{"uri": "sip:alice@a.example"}]}),
        Method("external.import", lambda: {"domain": HOME, "certificate": cert, "signing_key": pem},
               undo=lambda cl: cl.call("external.remove", {"domain": HOME, "kms_uri": "kms.c.example"})),
    ]
    # domain.init's "domains" must name the domain of the call being made:
    # params() runs first in run_case, so the lambda above sees it
    for m in methods:
        fault_every_call(c, m)

    # the same keys after all that: rotations made new versions, none replaced an old one
    S.check("sign version 1's public key is unchanged",
            c.call("sign.public_key", {"domain": HOME, "version": 1})["pem"] == sign_pub)
    gmk_after = c.call("gmk.show", {"domain": HOME, "group": GROUP})
    first = {k["version"]: k["gmk_id"] for k in gmk_before["keys"]}
    now = {k["version"]: k["gmk_id"] for k in gmk_after["keys"]}
    S.check("the group's GMK versions of before keep their GMK-IDs (%d versions now)" % len(now),
            first and all(now.get(v) == gid for v, gid in first.items()), "%s then, %s now" % (first, now))

    # --- stale handles: the index finds its keys again by label ------------
    V.faults("stale 1")
    S.check("stale handles: sign.sign finds its key again", sign_ok(c))
    S.check("stale handles: kms.user_keys finds the KEK again",
            c.code("kms.user_keys", {"domain": HOME, "user_uri": "sip:bob@a.example"}) == 0)
    S.check("stale handles: gmk.rekey", c.code("gmk.rekey", {"domain": HOME, "group": GROUP}) == 0)
    before = snapshot(c, [HOME])
    S.check("stale handles: key.rotate sign", c.code("key.rotate", {"domain": HOME, "purpose": "sign"}) == 0)
    V.faults("stale 2")
    S.check("stale again: sign.sign and gmk.distribute", sign_ok(c) and c.code(
        "gmk.distribute", {"domain": HOME, "group": GROUP, "sender_uri": next_sender(),
                           "members": [{"uri": "sip:alice@a.example"}]}) == 0)
    wrong = keys_consistent(c, [HOME], before)
    S.check("stale handles: keys consistent", not wrong, wrong)
    # a retirement must destroy the private key even though its handle is stale
    S.check("stale handles: key.retire sign 2", c.code("key.retire", {"domain": HOME, "purpose": "sign",
                                                                      "version": 2}) == 0)
    V.faults()
    S.check("... and the private key of sign version 2 is gone from the token (pkcs11-tool)",
            "mcxvault/a.example/sign/2" not in token_private_keys() and
            "mcxvault/a.example/sign/3" in token_private_keys())

    # --- C_Initialize fails during recovery, then at start-up ---------------
    V.faults("gone", "fail C_Initialize 1 CKR_GENERAL_ERROR after")
    S.check("token gone: sign.sign -32004", c.code("sign.sign", {"domain": HOME, "data": "aGk"}) == -32004)
    S.check("token gone: vault.status unreachable", not reachable(c))
    V.faults("fail C_Initialize 1 CKR_GENERAL_ERROR after")
    time.sleep(0.5)
    S.check("token back but C_Initialize failing: still -32004 and unreachable",
            c.code("sign.sign", {"domain": HOME, "data": "aGk"}) == -32004 and not reachable(c))
    V.faults()
    took = wait_for(lambda: reachable(c) and sign_ok(c), 5.0)
    S.check("C_Initialize works again: service back by itself (%.1f s)" % (took or -1), took is not None)

    # --- C_SetAttributeValue: the audit anchor, updated when vaultd stops -----
    # (SoftHSM refuses to change a data object's value, so the layer then
    # replaces the object: C_SetAttributeValue, C_CreateObject, C_DestroyObject)
    before = snapshot(c, [HOME])
    c.close()
    epoch = V.faults("fail C_SetAttributeValue 1 CKR_DEVICE_REMOVED")
    rc = V.stop()
    seen = V.calls_of(epoch)
    S.check("vaultd stops cleanly with C_SetAttributeValue failing once at the anchor update (exit status %s)" % rc,
            rc == 0 and ("C_SetAttributeValue", RV["CKR_DEVICE_REMOVED"]) in seen and
            ("C_SetAttributeValue", 0x10) in seen, seen[-12:])   # retried: CKR_ATTRIBUTE_READ_ONLY from SoftHSM
    S.check("... and starts again over that anchor", V.start())
    epoch = V.faults("fail C_SetAttributeValue 1 CKR_DEVICE_ERROR dead")
    rc = V.stop()
    seen = V.calls_of(epoch)
    S.check("vaultd stops with the device dying at the anchor update: exit status %s (0), no crash" % rc,
            rc == 0 and ("C_SetAttributeValue", RV["CKR_DEVICE_ERROR"]) in seen, seen[-8:])
    V.faults()
    S.check("... and starts again (the anchor a step behind the log is fine)", V.start())
    rc = V.stop()
    S.check("vaultd stops cleanly (exit status %s)" % rc, rc == 0)
    V.faults("fail C_Initialize 1 CKR_DEVICE_ERROR")
    started = V.start()
    rc = V.proc.wait(30) if V.proc is not None and not started else None
    if started:
        V.stop()
    S.check("C_Initialize fails at start-up: vaultd refuses to start, exit status 1 (no crash)",
            not started and rc == 1, "started=%s rc=%s" % (started, rc))
    S.check("... and says why", "C_Initialize failed" in V.log_text())
    V.proc = None
    V.faults()
    S.check("vaultd starts once C_Initialize works", V.start())
    c = V.client()
    wrong = keys_consistent(c, [HOME], before)
    S.check("after the restart: the same key versions, one active per purpose", not wrong and
            snapshot(c, [HOME]) == before, wrong)
    S.check("after the restart: sign version 1's public key is unchanged",
            c.call("sign.public_key", {"domain": HOME, "version": 1})["pem"] == sign_pub)
    c.close()
    rc = V.stop()
    S.check("vaultd stops cleanly at the end (exit status %s)" % rc, rc == 0)
    report = V.sanitizer_report()
    S.check("no sanitizer report in vaultd's log", report is None, report)
    return S.end()


main_guard(main, S)
