#!/usr/bin/env python3
# mcxvault — the attacker of tests/hostile/test_hostile.sh: a local caller
# (normally without any role) misusing the vault's socket.  Every loop is
# bounded in count and time and stops by itself; it talks only to the Unix
# socket given.
#
#   flood.py SOCKET conns N HOLD_S          open N connections, hold them HOLD_S s
#   flood.py SOCKET slowloris N EVERY_S S   N connections trickling one byte every EVERY_S s for S s
#   flood.py SOCKET bigline N BYTES HOLD_S  N connections each sending BYTES of one unended line
#   flood.py SOCKET deny SECONDS            pipelined calls the caller may not make, as fast as it can
#   flood.py SOCKET latency N DOMAIN        N sign.sign calls one after another: p50/p99/max in ms
#   flood.py SOCKET replay N DOMAIN KMS     N redirect responses signed and then evaluated by a
#                                            signer of DOMAIN (fills DOMAIN's share of the replay cache)
#
# Prints one line "key=value ..." with what it saw, for the shell to check.
#
# SPDX-License-Identifier: Apache-2.0
import json
import os
import socket
import sys
import time


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    return s


def refused_now(s):
    """True if the vault answered at once with -32010 and hung up."""
    s.settimeout(0.05)
    try:
        data = s.recv(4096)
    except (socket.timeout, BlockingIOError):
        return False
    except OSError:
        return True
    finally:
        s.settimeout(5)
    return data == b"" or b"-32010" in data


def conns(path, n, hold):
    held, refused, failed = [], 0, 0
    for _ in range(n):
        try:
            s = connect(path)
        except OSError:
            failed += 1
            continue
        if refused_now(s):
            refused += 1
            s.close()
        else:
            held.append(s)
    time.sleep(hold)
    alive = 0
    for s in held:
        try:
            s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"vault.status"}\n')
            if b'"result"' in s.recv(65536):
                alive += 1
        except OSError:
            pass
        s.close()
    print(f"accepted={len(held)} refused={refused} failed={failed} answered={alive}")


def slowloris(path, n, every, seconds):
    socks = []
    for _ in range(n):
        try:
            socks.append(connect(path))
        except OSError:
            pass
    start, closed_at = time.time(), {}
    while time.time() - start < seconds and len(closed_at) < len(socks):
        for i, s in enumerate(socks):
            if i in closed_at:
                continue
            try:
                s.sendall(b" ")
                s.setblocking(False)
                try:
                    if s.recv(4096) == b"":
                        closed_at[i] = time.time() - start
                except BlockingIOError:
                    pass
                s.setblocking(True)
            except OSError:
                closed_at[i] = time.time() - start
        time.sleep(every)
    for s in socks:
        s.close()
    latest = max(closed_at.values()) if closed_at else -1
    print(f"opened={len(socks)} closed={len(closed_at)} latest_close_s={latest:.1f}")


def bigline(path, n, size, hold):
    socks, cut_off, sent_total = [], 0, 0
    chunk = b"x" * 65536
    for _ in range(n):
        try:
            s = connect(path)
        except OSError:
            continue
        s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"vault.status","params":{"pad":"')
        sent = 0
        try:
            while sent < size:
                k = min(len(chunk), size - sent)
                s.sendall(chunk[:k])
                sent += k
        except OSError:
            cut_off += 1
        sent_total += sent
        socks.append(s)
    time.sleep(hold)
    for s in socks:
        s.close()
    print(f"opened={len(socks)} cut_off={cut_off} sent_mib={sent_total / 1048576:.1f}")


def deny(path, seconds):
    req = b'{"jsonrpc":"2.0","id":1,"method":"key.rotate","params":{"domain":"a.example"}}\n'
    batch = req * 64
    sent = denied = 0
    start = time.time()
    s = connect(path)
    buf = b""
    while time.time() - start < seconds:
        try:
            s.sendall(batch)
            sent += 64
            while buf.count(b"\n") < 64:
                data = s.recv(1 << 20)
                if not data:
                    raise OSError("closed")
                buf += data
            denied += buf.count(b"-32001")
            buf = b""
        except OSError:
            s.close()
            try:
                s = connect(path)
            except OSError:   # the vault is gone (stopped at the end of a run)
                s = None
                break
            buf = b""
    if s is not None:
        s.close()
    print(f"sent={sent} denied={denied} rate={sent / seconds:.0f}")


def denysign(path, batches):
    """A caller without a role pipelines runs of sign.sign: every line is
    answered, in order, with the role denial (-32001); vaultd answers such a
    caller's runs in turn (no helper thread's time)."""
    s = connect(path)
    next_id = answered = denied = inorder = 0
    buf = b""
    for _ in range(batches):
        lines = b"".join(
            json.dumps({"jsonrpc": "2.0", "id": next_id + i, "method": "sign.sign",
                        "params": {"domain": "a.example", "data": "eA"}}).encode() + b"\n"
            for i in range(64))
        s.sendall(lines)
        while buf.count(b"\n") < 64:
            data = s.recv(1 << 20)
            if not data:
                raise SystemExit("closed")
            buf += data
        for i in range(64):
            line, buf = buf.split(b"\n", 1)
            answer = json.loads(line)
            answered += 1
            inorder += answer.get("id") == next_id + i
            denied += answer.get("error", {}).get("code") == -32001
        next_id += 64
    s.close()
    print(f"answered={answered} inorder={inorder} denied={denied}")


def latency(path, n, domain):
    s = connect(path)
    req = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "sign.sign",
                      "params": {"domain": domain, "digest": "A" * 43}}).encode() + b"\n"
    times, errors = [], 0
    for _ in range(n):
        t0 = time.perf_counter()
        s.sendall(req)
        buf = b""
        while not buf.endswith(b"\n"):
            data = s.recv(65536)
            if not data:
                break
            buf += data
        times.append((time.perf_counter() - t0) * 1000)
        if b'"result"' not in buf:
            errors += 1
    s.close()
    times.sort()
    p = lambda q: times[min(len(times) - 1, int(q * len(times)))]
    print(f"n={n} errors={errors} p50_ms={p(0.5):.2f} p99_ms={p(0.99):.2f} max_ms={times[-1]:.2f}")


def pipelined(s, requests, batch=256):
    """Sends requests in batches on one connection; returns the responses in order."""
    out = []
    for i in range(0, len(requests), batch):
        chunk = requests[i:i + batch]
        s.sendall(b"".join(json.dumps(r).encode() + b"\n" for r in chunk))
        buf = b""
        while buf.count(b"\n") < len(chunk):
            data = s.recv(1 << 20)
            if not data:
                raise OSError("the vault closed the connection")
            buf += data
        out.extend(json.loads(line) for line in buf.split(b"\n")[:len(chunk)])
    return out


def replay(path, n, domain, kms):
    s = connect(path)
    s.settimeout(60)
    sign = [{"jsonrpc": "2.0", "id": i, "method": "redirect.sign",
             "params": {"domain": domain, "originating_id": f"sip:u{i}@{domain}", "receiving_id": f"sip:r{i}@{domain}",
                        "originating_kms_uri": kms, "acceptable_initiating_kms": [kms],
                        "acceptable_receiving_kms": [kms]}} for i in range(n)]
    signed = [r["result"]["response"] for r in pipelined(s, sign) if "result" in r]
    evaluate = [{"jsonrpc": "2.0", "id": i, "method": "redirect.evaluate",
                 "params": {"domain": domain, "response": resp}} for i, resp in enumerate(signed)]
    answers = pipelined(s, evaluate)
    busy = sum(1 for r in answers if r.get("error", {}).get("code") == -32010)
    evaluated = sum(1 for r in answers if "result" in r)
    s.close()
    print(f"signed={len(signed)} evaluated={evaluated} busy={busy}")


def main():
    path, mode, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    if mode == "conns":
        conns(path, int(args[0]), float(args[1]))
    elif mode == "slowloris":
        slowloris(path, int(args[0]), float(args[1]), float(args[2]))
    elif mode == "bigline":
        bigline(path, int(args[0]), int(args[1]), float(args[2]))
    elif mode == "deny":
        deny(path, float(args[0]))
    elif mode == "denysign":
        denysign(path, int(args[0]))
    elif mode == "latency":
        latency(path, int(args[0]), args[1])
    elif mode == "replay":
        replay(path, int(args[0]), args[1], args[2])
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
