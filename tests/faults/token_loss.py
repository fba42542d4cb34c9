# mcxvault tests — the driver of tests/faults/test_token_loss.sh: the token
# goes away and comes back under a running vaultd.
#
# Part 1, SoftHSM itself (module "softhsm2"): the token directory is renamed
# away and back.  SoftHSM 2.6.1 keeps its sessions then but answers
# CKR_OBJECT_HANDLE_INVALID for every key, finds no objects and fails
# C_GetTokenInfo; it only sees the directory again after C_Finalize +
# C_Initialize.  While a client keeps calling sign.sign, kms.user_keys,
# gmk.rekey and gmk.distribute: during the outage every call answers -32004
# (never -32002 or -32603) and vault.status says unreachable; a few seconds
# after the return everything works again, without a restart, with the same
# keys (public keys, KMS certificate, GMK-IDs) and an audit log that verifies.
#
# Part 2, the same token through libp11fault.so: the token reported absent
# (CKR_TOKEN_NOT_PRESENT / CKR_DEVICE_REMOVED) and a device that dies
# (CKR_DEVICE_ERROR on every call, C_Initialize included), each while two
# clients call, then back.  A third client pipelines runs of sign.sign
# throughout (answered in parallel): every answer, in order, is a signature
# or -32004.
#
# SPDX-License-Identifier: Apache-2.0
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faultlib import RpcError, Suite, Vault, main_guard, reachable, wait_for  # noqa: E402

HOME = "a.example"
GROUP = "sip:units@a.example"
S = Suite("token-loss")
V = Vault()
TOKENS = os.path.join(V.dir, "tokens")


def calls(gmk_id):
    """The four methods of the issue: (name, params)."""
    return [
        ("sign.sign", {"domain": HOME, "data": "aGVsbG8"}),
        ("kms.user_keys", {"domain": HOME, "user_uri": "sip:alice@a.example"}),
        ("gmk.rekey", {"domain": HOME, "group": GROUP}),
        ("gmk.distribute", {"domain": HOME, "group": GROUP, "sender_uri": "sip:gms@a.example", "gmk_id": gmk_id,
                            "members": [{"uri": "sip:alice@a.example"}]}),
    ]


class Traffic(threading.Thread):
    """A client that calls sign.sign, kms.user_keys and gmk.distribute in a
    loop and keeps every answer code."""

    def __init__(self, gmk_id):
        super().__init__(daemon=True)
        self.c = V.client()
        self.gmk_id = gmk_id
        self.codes = {}
        self.stop = False
        self.error = None

    def run(self):
        repeated = [x for x in calls(self.gmk_id) if x[0] != "gmk.rekey"]
        try:
            while not self.stop:
                for name, params in repeated:
                    code = self.c.code(name, params)
                    self.codes.setdefault(code, 0)
                    self.codes[code] += 1
                time.sleep(0.01)
        except Exception as e:   # a connection vaultd dropped: a failure of its own
            self.error = repr(e)
        self.c.close()


class PipelinedSigns(threading.Thread):
    """A client that pipelines runs of 16 sign.sign lines (answered in
    parallel by vaultd's worker and helper) and checks that every answer
    comes, in order, with a signature or -32004."""

    def __init__(self):
        super().__init__(daemon=True)
        self.c = V.client()
        self.codes = {}
        self.stop = False
        self.error = None

    def run(self):
        next_id = 1
        try:
            while not self.stop:
                self.c.sock.sendall(b"".join(
                    (json.dumps({"jsonrpc": "2.0", "id": next_id + i, "method": "sign.sign",
                                 "params": {"domain": HOME, "data": "aGVsbG8"}}) + "\n").encode()
                    for i in range(16)))
                for i in range(16):
                    while b"\n" not in self.c.buf:
                        chunk = self.c.sock.recv(1 << 20)
                        if not chunk:
                            raise ConnectionError("vaultd closed the connection")
                        self.c.buf += chunk
                    line, self.c.buf = self.c.buf.split(b"\n", 1)
                    answer = json.loads(line)
                    if answer.get("id") != next_id + i:
                        raise AssertionError("answer %s where %d was due" % (answer.get("id"), next_id + i))
                    code = answer["error"]["code"] if "error" in answer else 0
                    self.codes[code] = self.codes.get(code, 0) + 1
                next_id += 16
                time.sleep(0.005)
        except Exception as e:
            self.error = repr(e)
        self.c.close()


def all_codes(c, gmk_id):
    return {name: c.code(name, params) for name, params in calls(gmk_id)}


def same_keys(c, before):
    """What differs; GMK versions made meanwhile (gmk.rekey) are new, but
    every version there was before keeps its GMK-ID."""
    now = state(c)
    diff = [k for k in before if k != "GMK-IDs by version" and before[k] != now.get(k)]
    old, new = before["GMK-IDs by version"], now["GMK-IDs by version"]
    if not old or any(v not in new or new[v] != gid for v, gid in old.items()):
        diff.append("GMK-IDs by version: %s then, %s now" % (old, new))
    return diff


def state(c):
    """What must survive the outage unchanged."""
    gmk = c.call("gmk.show", {"domain": HOME, "group": GROUP})
    return {
        "sign public key v1": c.call("sign.public_key", {"domain": HOME, "version": 1})["pem"],
        "KMS certificate v1": c.call("kms.certificate", {"domain": HOME, "version": 1})["xml"],
        "GMK-IDs by version": {k["version"]: k["gmk_id"] for k in gmk["keys"]},
        "key versions": sorted((k["purpose"], k["version"], k["state"])
                               for k in c.call("key.list", {"domain": HOME})["keys"]),
    }


def outage(c, label, go, back, gmk_id, before):
    """Takes the token away with go(), checks the outage, brings it back
    with back(), checks the return."""
    traffic = [Traffic(gmk_id), Traffic(gmk_id), PipelinedSigns()]
    for t in traffic:
        t.start()
    time.sleep(0.3)
    go()
    # the first call that meets the loss takes the token for gone
    took = wait_for(lambda: not reachable(c) or c.code("sign.sign", calls(gmk_id)[0][1]) == -32004 and
                    not reachable(c), 5.0)
    S.check("%s: vault.status says unreachable (after %.2f s)" % (label, took or -1), took is not None)
    codes = all_codes(c, gmk_id)
    S.check("%s: sign.sign, kms.user_keys, gmk.rekey, gmk.distribute all answer -32004" % label,
            all(v == -32004 for v in codes.values()), codes)
    time.sleep(1.2)   # recovery keeps failing while the token is away
    codes = all_codes(c, gmk_id)
    S.check("%s: 1 s later still -32004 everywhere, still unreachable" % label,
            all(v == -32004 for v in codes.values()) and not reachable(c), codes)
    st = c.call("vault.status")
    S.check("%s: vault.status itself answers (vaultd is up)" % label, st["hsm"]["reachable"] is False)
    t0 = time.monotonic()
    back()
    took = wait_for(lambda: reachable(c) and all(v == 0 for v in all_codes(c, gmk_id).values()), 10.0)
    S.check("%s: everything works again %.2f s after the token is back (limit 5 s), no restart" %
            (label, took if took is not None else time.monotonic() - t0),
            took is not None and took < 5.0 and V.alive())
    for t in traffic:
        t.stop = True
    for t in traffic:
        t.join(10)
    seen = {}
    for t in traffic:
        for k, n in t.codes.items():
            seen[k] = seen.get(k, 0) + n
    S.check("%s: the clients calling throughout (one pipelining sign.sign runs) got only success or -32004,"
            " in order (%s)" %
            (label, ", ".join("%s: %d" % kv for kv in sorted(seen.items()))),
            set(seen) <= {0, -32004} and seen.get(-32004, 0) > 0 and seen.get(0, 0) > 0 and
            not any(t.error for t in traffic), [t.error for t in traffic])
    diff = same_keys(c, before)
    S.check("%s: the same keys afterwards (public keys, KMS certificate, GMK-IDs, versions)" % label,
            not diff, diff)


def main():
    if not S.check("vaultd starts on SoftHSM", V.start()):
        print(V.log_text()[-3000:])
        return S.end()
    c = V.client()
    c.call("domain.init", {"domain": HOME})
    gmk_id = c.call("gmk.create", {"domain": HOME, "group": GROUP})["gmk_id"]
    before = state(c)
    S.check("all four methods work before", all(v == 0 for v in all_codes(c, gmk_id).values()))
    before = state(c)

    # --- part 1: SoftHSM's token directory goes away and comes back -------
    outage(c, "token directory moved away", lambda: os.rename(TOKENS, TOKENS + ".away"),
           lambda: os.rename(TOKENS + ".away", TOKENS), gmk_id, before)
    S.check("the move was noticed and recovered in the log",
            "the token or the module is gone" in V.log_text() and "the token is back" in V.log_text())
    time.sleep(1.2)   # a checkpoint seals what was written during and after the outage
    rc = subprocess.run([os.path.join(V.b, "vaultctl"), "audit", "verify"], capture_output=True, text=True)
    S.check("the audit log verifies across the outage (vaultctl audit verify)", rc.returncode == 0,
            (rc.stdout + rc.stderr)[-600:])
    before = state(c)
    c.close()
    rc = V.stop()
    S.check("vaultd stops cleanly (exit status %s)" % rc, rc == 0)

    # --- part 2: the same token through the fault module --------------------
    conf = os.path.join(V.dir, "vault.conf")
    with open(conf) as f:
        text = f.read()
    lines = [('  module = "%s";' % os.path.join(V.b, "tests", "libp11fault.so")) if ln.strip().startswith("module =")
             else ln for ln in text.split("\n")]
    with open(conf, "w") as f:
        f.write("\n".join(lines))
    if not S.check("vaultd starts through libp11fault.so over the same token", V.start()):
        return S.end()
    c = V.client()
    diff = same_keys(c, before)
    S.check("after the restart the same keys", not diff, diff)
    outage(c, "token reported absent (CKR_TOKEN_NOT_PRESENT, CKR_DEVICE_REMOVED)",
           lambda: V.faults("gone"), lambda: V.faults(), gmk_id, before)
    outage(c, "device dead (CKR_DEVICE_ERROR on every call, C_Initialize too)",
           lambda: V.faults("fail * 1 CKR_DEVICE_ERROR dead"), lambda: V.faults(), gmk_id, before)
    c.close()
    rc = V.stop()
    S.check("vaultd stops cleanly at the end (exit status %s)" % rc, rc == 0)
    report = V.sanitizer_report()
    S.check("no sanitizer report in vaultd's log", report is None, report)
    return S.end()


main_guard(main, S)
