#!/usr/bin/env python3
"""Provisioning benchmark: how fast a CreateHTTPListener call turns into a serving port.

Measures, against a freshly started gaapd on loopback (signed TC3 calls, as a client would send):
  1. create-to-serve latency: from sending CreateHTTPListener to the first proxied 200 on the
     new port (N_FIRST samples, default 200);
  2. N_CREATES creates one call at a time (default 1000): total, per call, and gaapd's RSS growth
     per listener.
Bounded: every socket has a timeout, the counts are fixed, gaapd is stopped at the end.

Usage: bench/provision.py [--gaapd build/gaapd] [--first 200] [--creates 1000]
"""
import argparse
import os
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from harness import PROXY, Gaapd, Origin, error_code  # noqa: E402


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def ports(count, start=20000):
    """Free loopback ports, in a range away from the ephemeral one."""
    found = []
    port = start
    while len(found) < count and port < 65000:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                found.append(port)
            except OSError:
                pass
        port += 1
    return found


def first_response(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /probe HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        data = s.recv(64)
    if not data.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"port {port}: {data!r}")


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gaapd", default=os.environ.get("GAAPD", "build/gaapd"))
    ap.add_argument("--first", type=int, default=int(os.environ.get("N_FIRST", 200)))
    ap.add_argument("--creates", type=int, default=int(os.environ.get("N_CREATES", 1000)))
    args = ap.parse_args()
    os.environ["GAAPD"] = os.path.abspath(args.gaapd)
    import harness
    harness.GAAPD = os.environ["GAAPD"]

    origin = Origin()
    total = args.first + args.creates
    g = Gaapd(workers=1, proxies=[{
        "id": PROXY, "max_listeners": total + 10, "origins": [f"127.0.0.1:{origin.port}"]}])
    try:
        g.start()
        free = ports(total)
        latencies = []
        for i in range(args.first):
            t0 = time.perf_counter()
            resp = g.create(free[i], name=f"first-{i}")
            if error_code(resp):
                raise RuntimeError(resp)
            first_response(free[i])
            latencies.append((time.perf_counter() - t0) * 1000)
        rss_before = rss_kib(g.proc.pid)
        t0 = time.perf_counter()
        for i in range(args.creates):
            resp = g.create(free[args.first + i], name=f"bulk-{i}")
            if error_code(resp):
                raise RuntimeError(resp)
        elapsed = time.perf_counter() - t0
        rss_after = rss_kib(g.proc.pid)
        g.stop()
    finally:
        g.cleanup()
        origin.close()

    print(f"# gaapd provisioning ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, 1 worker,"
          f" file state store, signed TC3 calls from Python)\n")
    print("| figure | value |\n|---|---|")
    print(f"| create-to-first-proxied-200, p50 ({args.first} samples) | {statistics.median(latencies):.2f} ms |")
    print(f"| create-to-first-proxied-200, p99 | {percentile(latencies, 99):.2f} ms |")
    print(f"| {args.creates} creates one call at a time | {elapsed:.2f} s ({elapsed / args.creates * 1000:.2f} ms/call) |")
    print(f"| RSS growth per idle listener | {(rss_after - rss_before) / args.creates:.1f} KiB "
          f"({rss_before} -> {rss_after} KiB) |")


if __name__ == "__main__":
    main()
