# mcxvault tests — shared by tests/faults/*.py: a real vaultd over a SoftHSM
# token (made by tests/lib/harness.sh), started with the fault module
# libp11fault.so as its PKCS#11 module, and a plain JSON-RPC client.
#
# Each check prints "ok - ..." or "FAIL - ..."; Suite.end() prints
# "<suite>: N passed, N failed" and gives the exit status.
#
# SPDX-License-Identifier: Apache-2.0
import json
import os
import signal
import socket
import subprocess
import sys
import time


class RpcError(Exception):
    def __init__(self, code, message):
        super().__init__("%d %s" % (code, message))
        self.code = code
        self.message = message


class Client:
    """One connection; call() returns the result or raises RpcError."""

    def __init__(self, path, timeout=20.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.next_id = 1

    def call(self, method, params=None):
        req = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        self.next_id += 1
        if params is not None:
            req["params"] = params
        self.sock.sendall((json.dumps(req) + "\n").encode())
        while b"\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("vaultd closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        resp = json.loads(line)
        if "error" in resp:
            raise RpcError(resp["error"]["code"], resp["error"]["message"])
        return resp["result"]

    def code(self, method, params=None):
        """0 on success, else the JSON-RPC error code."""
        try:
            self.call(method, params)
            return 0
        except RpcError as e:
            return e.code

    def close(self):
        self.sock.close()


def spawn_vaultd(b, conf, sock, log, env=None, wait=True):
    """Starts b/vaultd -f -c conf, output appended to log; with wait, until
    it answers vault.status on sock (30 s).  (proc, ready)."""
    logf = open(log, "ab")
    proc = subprocess.Popen([os.path.join(b, "vaultd"), "-f", "-c", conf], stdout=logf, stderr=logf, env=env)
    logf.close()
    if not wait:
        return proc, True
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return proc, False
        try:
            c = Client(sock, 2)
            c.call("vault.status")
            c.close()
            return proc, True
        except (OSError, RpcError, ConnectionError, ValueError):
            time.sleep(0.05)
    return proc, False


def stop_vaultd(proc, sig=signal.SIGTERM):
    """Stops vaultd with sig (SIGKILL after 30 s); its exit status (negative:
    killed by a signal), None when there was none."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


class Suite:
    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.t0 = time.monotonic()

    def check(self, what, cond, detail=None):
        if cond:
            self.passed += 1
            print("ok - %s" % what, flush=True)
        else:
            self.failed += 1
            print("FAIL - %s" % what, flush=True)
            if detail is not None:
                print("  # %s" % detail, flush=True)
        return cond

    def skip(self, what):
        self.skipped += 1
        print("skipped - %s" % what, flush=True)

    def end(self):
        print("# %s took %.1f s" % (self.name, time.monotonic() - self.t0))
        if self.skipped:
            print("%s: %d passed, %d failed, %d skipped" % (self.name, self.passed, self.failed, self.skipped),
                  flush=True)
        else:
            print("%s: %d passed, %d failed" % (self.name, self.passed, self.failed), flush=True)
        return 0 if self.failed == 0 else 1


class Vault:
    """vaultd -f over $HARNESS_DIR/vault.conf, with the fault module's
    control file and call log in $HARNESS_DIR."""

    def __init__(self):
        self.b = os.environ["B"]
        self.dir = os.environ["HARNESS_DIR"]
        self.sock = os.path.join(self.dir, "vaultd.sock")
        self.control = os.path.join(self.dir, "fault.control")
        self.calls = os.path.join(self.dir, "fault.calls")
        self.log = os.path.join(self.dir, "vaultd.log")
        self.proc = None
        self.epoch = 0
        os.environ["MCX_FAULT_CONTROL"] = self.control
        os.environ["MCX_FAULT_LOG"] = self.calls
        os.environ["MCXVAULT_SOCKET"] = self.sock
        self.faults()

    # --- the fault module --------------------------------------------------
    def faults(self, *lines):
        """Replaces the control file (atomically) with a new epoch and the
        directives given; the call counters start from 0 again."""
        self.epoch += 1
        tmp = self.control + ".tmp"
        with open(tmp, "w") as f:
            f.write("epoch %d\n" % self.epoch)
            for line in lines:
                f.write(line + "\n")
        os.rename(tmp, self.control)
        return self.epoch

    def calls_of(self, epoch):
        """The calls the module saw in an epoch: [(function, rv)]."""
        out = []
        try:
            with open(self.calls) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 4 and parts[0] == str(epoch):
                        out.append((parts[2], int(parts[3], 16)))
        except FileNotFoundError:
            pass
        return out

    # --- vaultd ------------------------------------------------------------
    def start(self, wait=True):
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        self.proc, ready = spawn_vaultd(self.b, os.path.join(self.dir, "vault.conf"), self.sock, self.log,
                                        wait=wait)
        return ready

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM):
        """Stops vaultd; its exit status (negative: killed by a signal)."""
        rc = stop_vaultd(self.proc, sig)
        self.proc = None
        return rc

    def client(self):
        return Client(self.sock)

    def sanitizer_report(self):
        try:
            with open(self.log, errors="replace") as f:
                text = f.read()
        except FileNotFoundError:
            return None
        for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            i = text.find(marker)
            if i >= 0:
                return text[max(0, i - 200):i + 2000]
        return None

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


def reachable(c):
    try:
        return bool(c.call("vault.status")["hsm"]["reachable"])
    except (RpcError, KeyError):
        return False


def wait_for(pred, timeout):
    """Polls pred() every 50 ms; the seconds it took, or None."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return time.monotonic() - t0
        time.sleep(0.05)
    return None


def active_counts(c, domain):
    """{purpose: number of active versions} from key.list."""
    counts = {}
    for k in c.call("key.list", {"domain": domain})["keys"]:
        counts.setdefault(k["purpose"], 0)
        if k["state"] == "active":
            counts[k["purpose"]] += 1
    return counts


def main_guard(fn, suite):
    """Runs fn; an exception is one more failure of the suite."""
    try:
        sys.exit(fn())
    except Exception:
        import traceback
        traceback.print_exc()
        suite.check("the test driver ran to its end", False)
        sys.exit(suite.end() or 1)
