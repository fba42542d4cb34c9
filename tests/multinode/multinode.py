# mcxvault tests — several vaultd over one SoftHSM token sharing a real
# PostgreSQL database (store = "postgresql://…"), driven from
# tests/multinode/test_multinode.sh, which made the token (harness_setup) and
# the database cluster (pg.sh) and exported HARNESS_DIR, SOFTHSM2_CONF, B,
# PG_URL, PG_BIN, PG_DIR, PG_SOCK.
#
# Two vaults, n1 and n2, each with its own socket and audit log, node ids n1
# and n2; a third, n3, alone on its own token with the SQLite store, for the
# paging of gmk.list on that backend.  What is checked (docs/architecture.md,
# "Several vaults over one HSM"):
#   - a rotation on n1 is what n2 signs with at once;
#   - gmk.create on n1, gmk.distribute of that GMK on n2;
#   - a redirect response accepted at n1 is a replay at n2;
#   - two gmk.rekey of one group on n1 and n2 at the same time: one new
#     version, the loser -32003; two key.rotate at once: one after the other,
#     one active version, both vaults agree;
#   - n1 SIGKILLed in the middle of a rotation (holding the key-change lock):
#     n2 keeps signing, rotates next, nothing acknowledged is lost, n1 starts
#     again and agrees;
#   - PostgreSQL stopped under load: clear -32011 errors for what needs it,
#     signing goes on, and both vaults recover by themselves when it is back;
#   - gmk.list paging on PostgreSQL and on SQLite;
#   - each node's audit log verifies, with its node id and its own anchor.
#
# SPDX-License-Identifier: Apache-2.0
import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "faults"))
from faultlib import Client, RpcError, Suite, spawn_vaultd, stop_vaultd  # noqa: E402

B = os.environ["B"]
DIR = os.environ["HARNESS_DIR"]
PG_URL = os.environ["PG_URL"]
DOM = "a.example"
STORE_UNAVAILABLE = -32011
CONFLICT = -32003


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def config(name, store_lines, audit=True, domains=""):
    uid = os.getuid()
    text = """server = {{ socket = "{dir}/{name}.sock"; workers = 2; }};
log = {{ level = "info"; }};
hsm = {{ module = "softhsm2"; token = "pkcs11:token=mcx-vault"; pin_file = "{dir}/pin"; sync_path = "{tokens}"; }};
access = ( {{ uid = {uid}; roles = [ "admin", "kms", "gms", "signer", "auditor" ]; }} );
domains = ( {{ name = "a.example"; kms_uri = "kms.a.example"; }}, {{ name = "b.example"; kms_uri = "kms.b.example"; }}{domains} );
{store}
""".format(dir=DIR, name=name, uid=uid, store=store_lines, domains=domains,
           tokens=os.path.join(DIR, "tokens" if name != "n3" else "tokens3"))
    if audit:
        text += 'audit = {{ file = "{dir}/{name}.audit.jsonl"; batch = 64; checkpoint_interval = 1; }};\n'.format(
            dir=DIR, name=name)
    path = os.path.join(DIR, name + ".conf")
    with open(path, "w") as f:
        f.write(text)
    return path


class Node:
    def __init__(self, name, store_lines, env=None, audit=True, domains=""):
        self.name = name
        self.conf = config(name, store_lines, audit, domains)
        self.sock = os.path.join(DIR, name + ".sock")
        self.log = os.path.join(DIR, name + ".log")
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.proc = None

    def start(self, extra_env=None):
        env = dict(self.env)
        env.update(extra_env or {})
        self.proc, ready = spawn_vaultd(B, self.conf, self.sock, self.log, env)
        return ready

    def stop(self, sig=signal.SIGTERM):
        rc = stop_vaultd(self.proc, sig)
        self.proc = None
        return rc

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def call(self, method, params=None):
        c = Client(self.sock, 30)
        try:
            return c.call(method, params)
        finally:
            c.close()

    def code(self, method, params=None):
        try:
            self.call(method, params)
            return 0
        except RpcError as e:
            return e.code

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def audit_verify(self):
        p = subprocess.run([os.path.join(B, "vaultctl"), "-s", self.sock, "audit", "verify"], capture_output=True,
                           text=True, timeout=60)
        return p.returncode, p.stdout + p.stderr


def active(node, purpose="sign"):
    keys = node.call("key.list", {"domain": DOM})["keys"]
    return sorted(k["version"] for k in keys if k["purpose"] == purpose and k["state"] == "active")


def versions(node, purpose="sign"):
    keys = node.call("key.list", {"domain": DOM})["keys"]
    return sorted((k["version"], k["state"]) for k in keys if k["purpose"] == purpose)


def sign(node, digest=b"\x11" * 32):
    return node.call("sign.sign", {"domain": DOM, "digest": b64(digest)})


def pages(node, limit):
    """Every group through gmk.list pages of limit; (names, page sizes, ok)."""
    names, sizes, after = [], [], None
    for _ in range(100):
        params = {"domain": DOM, "limit": limit}
        if after is not None:
            params["after"] = after
        res = node.call("gmk.list", params)
        page = [g["group"] for g in res["groups"]]
        names += page
        sizes.append(len(page))
        if "next" not in res:
            return names, sizes, True
        if res["next"] != page[-1]:
            return names, sizes, False
        after = res["next"]
    return names, sizes, False


def check_paging(s, node, backend):
    everything = [g["group"] for g in node.call("gmk.list", {"domain": DOM})["groups"]]
    names, sizes, ok = pages(node, 3)
    s.check("%s: gmk.list pages of 3 follow 'next' to the end" % backend, ok, sizes)
    s.check("%s: the pages hold every group once, in order" % backend,
            names == everything and len(set(names)) == len(names) and len(names) >= 7, (names, everything))
    s.check("%s: every page but the last is full, the last has no 'next'" % backend,
            all(n == 3 for n in sizes[:-1]) and 1 <= sizes[-1] <= 3, sizes)
    res = node.call("gmk.list", {"domain": DOM, "limit": 1, "after": names[-1]})
    s.check("%s: a page after the last group is empty, without 'next'" % backend,
            res["groups"] == [] and "next" not in res, res)
    s.check("%s: limit 0 and limit 1001 are -32602" % backend,
            node.code("gmk.list", {"domain": DOM, "limit": 0}) == -32602 and
            node.code("gmk.list", {"domain": DOM, "limit": 1001}) == -32602)
    first = node.call("gmk.list", {"domain": DOM, "limit": 2})
    s.check("%s: a page carries whole groups with their versions" % backend,
            len(first["groups"]) == 2 and all(g["versions"] >= 1 and g["current"] for g in first["groups"]), first)


def pg_ctl(*args):
    cmd = [os.path.join(os.environ["PG_BIN"], "pg_ctl"), "-D", os.environ["PG_DIR"], "-w", "-t", "30"] + list(args)
    if os.getuid() == 0:
        cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60).returncode


def main():
    s = Suite("multinode")
    plain_check = s.check
    s.check = lambda what, cond, detail=None: plain_check(what, cond, None if detail is None else repr(detail))
    store = 'store = "%s";' % PG_URL

    # the new settings, as vaultd -t sees them
    def conf_check(name, lines):
        p = subprocess.run([os.path.join(B, "vaultd"), "-t", "-c", config(name, lines, audit=False)],
                           capture_output=True, text=True, timeout=30)
        return p.returncode, p.stdout + p.stderr
    rc, out = conf_check("t1", 'store = "%s/x.sqlite";' % DIR)
    s.check("vaultd -t: store must be a PostgreSQL URI", rc != 0 and "must be a PostgreSQL URI" in out, out)
    rc, out = conf_check("t2", store + ' gms = { store = "%s/x.sqlite"; };' % DIR)
    s.check("vaultd -t: store and gms.store are exclusive", rc != 0 and "exclusive" in out, out)
    rc, out = conf_check("t3", store + ' node_id = "a/b";')
    s.check("vaultd -t: a node_id that cannot name a token object is refused",
            rc != 0 and "node_id" in out and ":6:" in out, out)
    rc, out = conf_check("t4", store + ' node_id = "vault-a.1";')
    s.check("vaultd -t: store and node_id accepted", rc == 0, out)
    # the seam holds a rekey's transaction open after it read the versions:
    # two rekeys started together then surely overlap
    seam = {"MCXVAULT_TEST_STORE_DELAY_MS": "800"}
    n1 = Node("n1", store + ' node_id = "n1";', seam)
    n2 = Node("n2", store + ' node_id = "n2";', seam)
    nodes = [n1, n2]
    try:
        if not (s.check("n1 starts on the shared PostgreSQL store", n1.start()) and
                s.check("n2 starts on the same token and database", n2.start())):
            return s.end()
        # a third vault that claims n1's node_id while n1 runs does not start
        dup = Node("n1dup", store + ' node_id = "n1";')
        started = dup.start()
        dup.stop()
        s.check("a vault with the node_id of a running one refuses to start, naming it",
                not started and "node_id 'n1' is in use by another running vault" in dup.log_text(),
                dup.log_text()[-600:])
        st = n1.call("audit.status")
        s.check("audit.status names the node and its own anchor object",
                st.get("node") == "n1" and st["anchor"]["label"] == "mcxvault-audit/anchor/n1", st)

        # --- a key change on one vault is the other's at once -----------------------------
        n1.call("domain.init", {"domain": DOM})
        s.check("domain.init on n1: n2 has sign v1 active at once", active(n2) == [1], versions(n2))
        r = n1.call("key.rotate", {"domain": DOM, "purpose": "sign"})
        used = sign(n2)
        s.check("rotation on n1 -> n2 signs with the new version at once",
                r["version"] == 2 and used["kid"] == "%s/sign/2" % DOM, (r, used))
        v = n1.call("sign.verify", {"domain": DOM, "digest": b64(b"\x11" * 32), "signature": used["signature"]})
        s.check("n1 verifies what n2 signed with the new version", v.get("valid") is True, v)
        old = n1.call("sign.sign", {"domain": DOM, "digest": b64(b"\x22" * 32)})

        # --- group keys: made on one vault, distributed by the other ---------------------
        g = n1.call("gmk.create", {"domain": DOM, "group": "sip:g1@a.example"})
        d = n2.call("gmk.distribute", {"domain": DOM, "group": "sip:g1@a.example", "sender_uri": "sip:gms@a.example",
                                       "members": [{"uri": "sip:alice@a.example"}]})
        s.check("gmk.create on n1 -> gmk.distribute on n2 with that GMK",
                d["distributed"] == 1 and d["gmk_id"] == g["gmk_id"] and d["members"][0].get("i_message"), d)

        # --- the replay cache is shared ----------------------------------------------------
        resp = n1.call("redirect.sign", {"domain": DOM, "originating_id": "sip:alice@a.example",
                                         "receiving_id": "sip:bob@a.example", "originating_kms_uri": "kms.a.example",
                                         "acceptable_initiating_kms": ["kms.a.example"],
                                         "acceptable_receiving_kms": ["kms.a.example"]})["response"]
        e1 = n1.call("redirect.evaluate", {"domain": DOM, "response": resp})
        e2 = n2.call("redirect.evaluate", {"domain": DOM, "response": resp})
        s.check("a redirect response accepted at n1 ...", e1["decision"] == "accept", e1)
        s.check("... is rejected as replayed at n2", e2["decision"] == "reject" and "replayed" in e2["reasons"], e2)
        s.check("redirect.accept of the used response at n2 is -32003",
                n2.code("redirect.accept", {"domain": DOM, "response": resp}) == CONFLICT)

        # --- races -------------------------------------------------------------------------
        results = {}
        barrier = threading.Barrier(2)

        def rekey(node):
            barrier.wait()
            try:
                results[node.name] = node.call("gmk.rekey", {"domain": DOM, "group": "sip:g1@a.example"})
            except RpcError as err:
                results[node.name] = err
        threads = [threading.Thread(target=rekey, args=(n,)) for n in nodes]
        [t.start() for t in threads]
        [t.join() for t in threads]
        wins = [r for r in results.values() if isinstance(r, dict)]
        losses = [r for r in results.values() if isinstance(r, RpcError)]
        s.check("two gmk.rekey of one group on n1 and n2 at once: exactly one wins",
                len(wins) == 1 and len(losses) == 1 and wins[0]["version"] == 2, results)
        s.check("the other gets -32003, saying it lost the race",
                len(losses) == 1 and losses[0].code == CONFLICT and "at the same time" in losses[0].message, results)
        shows = [n.call("gmk.show", {"domain": DOM, "group": "sip:g1@a.example"}) for n in nodes]
        s.check("both vaults see exactly one new version (2)",
                all(x["versions"] == 2 and len(x["keys"]) == 2 for x in shows), shows)

        results = {}
        barrier = threading.Barrier(2)

        def rotate(node):
            barrier.wait()
            try:
                results[node.name] = node.call("key.rotate", {"domain": DOM, "purpose": "sign"})
            except RpcError as err:
                results[node.name] = err
        threads = [threading.Thread(target=rotate, args=(n,)) for n in nodes]
        [t.start() for t in threads]
        [t.join() for t in threads]
        made = sorted(r["version"] for r in results.values() if isinstance(r, dict))
        s.check("two key.rotate on n1 and n2 at once run one after the other (v3, v4)", made == [3, 4], results)
        s.check("after the race exactly one active sign version, the same on both vaults",
                active(n1) == [4] and active(n2) == [4] and versions(n1) == versions(n2),
                (versions(n1), versions(n2)))

        # --- one vault killed in the middle of a rotation ----------------------------------
        n1.stop()
        s.check("n1 restarts with a crash point inside rotation",
                n1.start({"MCXVAULT_TEST_CRASH_POINT": "after-meta"}))
        stop_signing = threading.Event()
        sign_errors, signed = [], [0]

        def signer():
            while not stop_signing.is_set():
                try:
                    sign(n2)
                    signed[0] += 1
                except (RpcError, OSError, ConnectionError) as err:
                    sign_errors.append(repr(err))
                time.sleep(0.005)
        t = threading.Thread(target=signer)
        t.start()
        time.sleep(0.2)
        try:
            n1.call("key.rotate", {"domain": DOM, "purpose": "sign"})
            killed = False
        except (ConnectionError, OSError):
            killed = True
        time.sleep(0.3)
        s.check("n1 died (SIGKILL) inside its rotation, holding the key-change lock",
                killed and n1.proc.wait(10) == -signal.SIGKILL)
        n1.proc = None
        r = n2.call("key.rotate", {"domain": DOM, "purpose": "sign"})
        time.sleep(0.2)
        stop_signing.set()
        t.join()
        s.check("n2 kept signing all along (%d signatures, no error)" % signed[0],
                signed[0] > 10 and not sign_errors, sign_errors[:3])
        s.check("n2 rotates next: the lock died with n1's session, the half rotation is repaired",
                active(n2) == [r["version"]] and r["version"] == 6, versions(n2))
        v = n2.call("sign.verify", {"domain": DOM, "digest": b64(b"\x22" * 32), "signature": old["signature"]})
        s.check("nothing lost: an old version still verifies, the group is still there",
                v.get("valid") is True and
                n2.call("gmk.show", {"domain": DOM, "group": "sip:g1@a.example"})["versions"] == 2, v)
        s.check("n1 starts again and agrees with n2", n1.start() and versions(n1) == versions(n2),
                (versions(n1), versions(n2)))

        # --- the database restarted under load ---------------------------------------------
        codes, sign_codes = [], []
        stop_load = threading.Event()

        def load():
            while not stop_load.is_set():
                codes.append(n1.code("gmk.show", {"domain": DOM, "group": "sip:g1@a.example"}))
                try:
                    sign(n2)
                    sign_codes.append(0)
                except RpcError as err:
                    sign_codes.append(err.code)
                time.sleep(0.01)
        t = threading.Thread(target=load)
        t.start()
        time.sleep(0.3)
        pids = [n.proc.pid for n in nodes]
        s.check("PostgreSQL stops under load", pg_ctl("-m", "fast", "stop") == 0)
        time.sleep(0.5)
        outage = {n.name: n.code("gmk.show", {"domain": DOM, "group": "sip:g1@a.example"}) for n in nodes}
        try:
            n2.call("key.rotate", {"domain": DOM, "purpose": "sign"})
            rot = None
        except RpcError as err:
            rot = err
        down = n1.call("vault.status")["store"]
        s.check("vault.status while it is down: the store is unreachable", down["reachable"] is False, down)
        s.check("while it is down: group keys are -32011 on both vaults", all(c == STORE_UNAVAILABLE for c in
                                                                                outage.values()), outage)
        s.check("... and a key change is refused with -32011, saying why",
                rot is not None and rot.code == STORE_UNAVAILABLE and "store" in rot.message, rot)
        s.check("PostgreSQL starts again", pg_ctl("-l", os.path.join(DIR, "postgres.log"), "-o",
                                                  "-c listen_addresses='' -k %s -c fsync=off" % os.environ["PG_SOCK"],
                                                  "start") == 0)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(
                n.code("gmk.show", {"domain": DOM, "group": "sip:g1@a.example"}) != 0 or
                not n.call("vault.status").get("store", {}).get("following") for n in nodes):
            time.sleep(0.1)
        time.sleep(0.3)
        stop_load.set()
        t.join()
        sts = [n.call("vault.status")["store"] for n in nodes]
        s.check("vault.status: the store is reachable again and both vaults follow key changes",
                all(x == {"kind": "postgresql", "reachable": True, "following": True} for x in sts), sts)
        s.check("both vaults serve group keys again by themselves, same processes",
                all(n.code("gmk.show", {"domain": DOM, "group": "sip:g1@a.example"}) == 0 for n in nodes) and
                [n.proc.pid for n in nodes] == pids and all(n.alive() for n in nodes))
        s.check("under load: only successes and -32011, some of each",
                set(codes) <= {0, STORE_UNAVAILABLE} and STORE_UNAVAILABLE in codes and codes[-1] == 0,
                sorted(set(codes)))
        s.check("signing never stopped (the index is local)", sign_codes and set(sign_codes) == {0},
                sorted(set(sign_codes)))
        s.check("the outage was logged clearly", "PostgreSQL unavailable" in n1.log_text() or
                "cannot connect to PostgreSQL" in n1.log_text())
        r = n1.call("key.rotate", {"domain": DOM, "purpose": "sign"})
        used = sign(n2)
        s.check("after the outage a rotation on n1 is again n2's at once",
                used["kid"] == "%s/sign/%d" % (DOM, r["version"]), (r, used))

        # --- paging --------------------------------------------------------------------------
        for i in range(7):
            n1.call("gmk.create", {"domain": DOM, "group": "sip:p%d@a.example" % i})
        check_paging(s, n2, "PostgreSQL")
        # more groups than one page holds: vaultctl gmk list follows the pages
        c = Client(n1.sock, 30)
        t0 = time.monotonic()
        for i in range(1000):
            c.call("gmk.create", {"domain": DOM, "group": "sip:m%04d@a.example" % i})
        c.close()
        made = time.monotonic() - t0
        first = n2.call("gmk.list", {"domain": DOM})
        p = subprocess.run([os.path.join(B, "vaultctl"), "-s", n2.sock, "gmk", "list", DOM], capture_output=True,
                           text=True, timeout=60)
        rows = [line.split()[0] for line in p.stdout.splitlines()[1:] if line.strip()]
        s.check("gmk.list without limit: a page of 1000 of the 1008 groups, and 'next'",
                len(first["groups"]) == 1000 and first.get("next") == first["groups"][-1]["group"],
                (len(first["groups"]), first.get("next")))
        s.check("vaultctl gmk list shows all 1008 groups across pages (1000 made in %.1f s)" % made,
                p.returncode == 0 and len(rows) == 1008 and len(set(rows)) == 1008 and rows == sorted(rows),
                (len(rows), p.stderr))

        # --- a reload does not move a vault to another store or node id ------------------
        with open(n2.conf) as f:
            conf_text = f.read()
        with open(n2.conf, "w") as f:
            f.write(conf_text.replace('node_id = "n2"', 'node_id = "n2x"'))
        n2.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "node_id take effect at restart" not in n2.log_text():
            time.sleep(0.05)
        with open(n2.conf, "w") as f:
            f.write(conf_text)
        s.check("SIGHUP with another node_id: vaultd says it takes effect at restart, keeps serving as n2",
                "node_id take effect at restart" in n2.log_text() and
                n2.call("audit.status").get("node") == "n2")

        # --- the audit logs: one chain per node ------------------------------------------
        for n in nodes:
            rc, out = n.audit_verify()
            s.check("%s's audit log verifies (its own chain and anchor)" % n.name, rc == 0 and "intact" in out, out)
            with open(os.path.join(DIR, n.name + ".audit.jsonl")) as f:
                recs = [json.loads(line) for line in f]
            s.check("every record of %s's log names node %s" % (n.name, n.name),
                    recs and all(x.get("node") == n.name for x in recs))

        # several nodes' logs verified together, from one vault
        logs = [os.path.join(DIR, n.name + ".audit.jsonl") for n in nodes]
        vc = os.path.join(B, "vaultctl")
        p = subprocess.run([vc, "-s", n1.sock, "audit", "verify"] + logs, capture_output=True, text=True, timeout=60)
        lines = p.stdout.splitlines()
        s.check("audit verify of both nodes' logs from n1: one intact chain per node",
                p.returncode == 0 and len(lines) == 2 and lines[0].startswith("node n1: intact") and
                lines[1].startswith("node n2: intact") and "HSM anchor" in lines[1], p.stdout + p.stderr)
        with open(logs[1]) as f:
            n2_lines = f.readlines()
        forged = os.path.join(DIR, "forged-n2.jsonl")
        rec = json.loads(n2_lines[3])
        rec["outcome"] = "error" if rec.get("outcome") == "ok" else "ok"
        with open(forged, "w") as f:
            f.writelines(n2_lines[:3] + [json.dumps(rec, sort_keys=True, separators=(",", ":")) + "\n"] +
                         n2_lines[4:])
        p = subprocess.run([vc, "-s", n1.sock, "audit", "verify", logs[0], forged], capture_output=True, text=True,
                           timeout=60)
        s.check("a record changed in n2's log is found, named by node, from n1",
                p.returncode == 1 and "node n2: TAMPERED" in p.stdout and "line 4" in p.stdout, p.stdout + p.stderr)
        cut = os.path.join(DIR, "cut-n2.jsonl")
        with open(cut, "w") as f:
            f.writelines(n2_lines[:5])
        p = subprocess.run([vc, "-s", n1.sock, "audit", "verify", logs[0], cut], capture_output=True, text=True,
                           timeout=60)
        s.check("n2's log cut before its anchored checkpoint is found with n2's anchor, from n1",
                p.returncode == 1 and "node n2: TAMPERED" in p.stdout and "anchor" in p.stdout, p.stdout + p.stderr)
        st2 = n1.call("audit.status", {"node": "n2"})
        s.check("audit.status {node} gives another node's anchor from the token",
                st2["node"] == "n2" and st2["anchor"]["seq"] > 0 and
                st2["anchor"]["label"] == "mcxvault-audit/anchor/n2", st2)

        # --- the SQLite backend, one vault alone on its own token ------------------------
        n3 = Node("n3", 'gms = { store = "%s/n3.sqlite"; };' % DIR,
                  {"SOFTHSM2_CONF": os.path.join(DIR, "softhsm2-n3.conf")}, audit=False,
                  domains=', { name = "c.example"; kms_uri = "kms.c.example"; }')
        nodes.append(n3)
        if s.check("n3 starts with the SQLite store", n3.start()):
            n3.call("domain.init", {"domain": DOM})
            for i in range(8):
                n3.call("gmk.create", {"domain": DOM, "group": "sip:q%d@a.example" % i})
            check_paging(s, n3, "SQLite")

            # --- trust in an external KMS: imported at one vault, there at the other ----
            n3.call("domain.init", {"domain": "c.example"})
            files = {}
            for what, args in (("xml", ["cert", "show", "c.example", "--xml"]),
                               ("cert", ["pubkey", "c.example", "--purpose", "cert"]),
                               ("token", ["pubkey", "c.example", "--purpose", "token"])):
                files[what] = os.path.join(DIR, "c-" + what)
                with open(files[what], "w") as f:
                    subprocess.run([vc, "-s", n3.sock] + args, stdout=f, timeout=60, check=True)
            p = subprocess.run([vc, "-s", n1.sock, "external", "import", DOM, files["xml"], files["cert"],
                                "--token-key", files["token"]], capture_output=True, text=True, timeout=60)
            listed = n2.call("external.list", {"domain": DOM})
            s.check("external.import at n1: n2 trusts kms.c.example at once",
                    p.returncode == 0 and "kms.c.example" in json.dumps(listed), (p.stdout, p.stderr, listed))
            s.check("... and refuses to import it again (-32003)",
                    n2.code("external.import", {"domain": DOM, "certificate": open(files["xml"]).read(),
                                                "signing_key": open(files["cert"]).read()}) == CONFLICT)
            p = subprocess.run([vc, "-s", n2.sock, "external", "revoke", DOM, "kms.c.example", "--reason",
                                "keyCompromise"], capture_output=True, text=True, timeout=60)
            states = [e.get("state") for e in n1.call("external.list", {"domain": DOM})["external"]]
            s.check("external revoke at n2: n1 lists kms.c.example as revoked at once",
                    p.returncode == 0 and states == ["revoked"], (p.stdout, p.stderr, states))
            s.check("... and refuses to revoke it again (-32003)",
                    n1.code("external.revoke", {"domain": DOM, "kms_uri": "kms.c.example",
                                                "reason": "superseded"}) == CONFLICT)
            p = subprocess.run([vc, "-s", n2.sock, "external", "remove", DOM, "kms.c.example"], capture_output=True,
                               text=True, timeout=60)
            listed = n1.call("external.list", {"domain": DOM})
            s.check("external remove at n2: n1 no longer trusts it",
                    p.returncode == 0 and "kms.c.example" not in json.dumps(listed), (p.stdout, p.stderr, listed))
    finally:
        for n in nodes:
            n.stop()
        for n in nodes:
            for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
                text = n.log_text()
                if marker in text:
                    i = text.find(marker)
                    s.check("%s: no sanitizer report" % n.name, False, text[max(0, i - 200):i + 2000])
                    break
    return s.end()


if __name__ == "__main__":
    sys.exit(main())
