#!/usr/bin/env python3
"""Provisioning benchmark: how fast a CreateHTTPListener call turns into a serving port.

Measures, against a freshly started gaapd on loopback (signed TC3 calls, as a client would send):
  1. create-to-serve latency: from sending CreateHTTPListener to the first proxied 200 on the
     new port (N_FIRST samples, default 200);
  2. N_CREATES creates one call at a time (default 1000): total, per call, and gaapd's RSS growth
     per listener.
Bounded: every socket has a timeout, the counts are fixed, gaapd is stopped at the end.

Usage: bench/provision.py [--gaapd build/gaapd] [--first 200] [--creates 1000]
bench/run calls measure() for its workload (f).
"""
import argparse
import os
import socket
import statistics
import sys
import time

sys.dont_write_bytecode = True
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
        s.sendall(b"GET /small HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        data = s.recv(64)
    if not data.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"port {port}: {data!r}")


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def measure(gaapd, first=200, creates=1000, origin_port=None, proxy_cpu=None, client_cpu=None):
    """One measurement against a fresh gaapd (workers: 1, file state store); the figures as a dict.
    origin_port: an origin already running (else a Python one is started); proxy_cpu pins gaapd,
    client_cpu this process while it measures."""
    import harness
    harness.GAAPD = os.path.abspath(gaapd)
    origin = Origin() if origin_port is None else None
    port = origin.port if origin else origin_port
    total = first + creates
    pin = (lambda: os.sched_setaffinity(0, {proxy_cpu})) if proxy_cpu is not None else None
    g = Gaapd(workers=1, preexec_fn=pin, proxies=[{
        "id": PROXY, "max_listeners": total + 10, "origins": [f"127.0.0.1:{port}"]}])
    affinity = os.sched_getaffinity(0)
    try:
        if client_cpu is not None:
            os.sched_setaffinity(0, {client_cpu})
        g.start()
        free = ports(total)
        latencies = []
        for i in range(first):
            t0 = time.perf_counter()
            resp = g.create(free[i], name=f"first-{i}")
            if error_code(resp):
                raise RuntimeError(resp)
            first_response(free[i])
            latencies.append((time.perf_counter() - t0) * 1000)
        # The client's own floor: a signed call that changes nothing, and a first request on a
        # port that already serves (each a new connection from Python, as above).
        call_floor, get_floor = [], []
        for i in range(min(first, 100)):
            t0 = time.perf_counter()
            g.call("DescribeHTTPListeners", {"ProxyId": PROXY, "Limit": 1})
            t1 = time.perf_counter()
            first_response(free[i])
            call_floor.append((t1 - t0) * 1000)
            get_floor.append((time.perf_counter() - t1) * 1000)
        rss_before = rss_kib(g.proc.pid)
        cpu_before = cpu_ticks(g.proc.pid)
        per_call = []
        t0 = time.perf_counter()
        for i in range(creates):
            t1 = time.perf_counter()
            resp = g.create(free[first + i], name=f"bulk-{i}")
            per_call.append((time.perf_counter() - t1) * 1000)
            if error_code(resp):
                raise RuntimeError(resp)
        elapsed = time.perf_counter() - t0
        cpu_s = (cpu_ticks(g.proc.pid) - cpu_before) / os.sysconf("SC_CLK_TCK")
        rss_after = rss_kib(g.proc.pid)
        g.stop()
    finally:
        os.sched_setaffinity(0, affinity)
        g.cleanup()
        if origin:
            origin.close()
    return {
        "first": first, "creates": creates, "latencies_ms": latencies,
        "first_p50_ms": statistics.median(latencies) if latencies else None,
        "first_p99_ms": percentile(latencies, 99) if latencies else None,
        "call_floor_ms": statistics.median(call_floor) if call_floor else None,
        "get_floor_ms": statistics.median(get_floor) if get_floor else None,
        "creates_s": elapsed, "per_call_ms": elapsed / creates * 1000 if creates else None,
        "first100_ms": statistics.mean(per_call[:100]) if per_call else None,
        "last100_ms": statistics.mean(per_call[-100:]) if per_call else None,
        "gaapd_cpu_s": cpu_s, "rss_before_kib": rss_before, "rss_after_kib": rss_after,
        "rss_per_listener_kib": (rss_after - rss_before) / creates if creates else None,
    }


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gaapd", default=os.environ.get("GAAPD", "build/gaapd"))
    ap.add_argument("--first", type=int, default=int(os.environ.get("N_FIRST", 200)))
    ap.add_argument("--creates", type=int, default=int(os.environ.get("N_CREATES", 1000)))
    args = ap.parse_args()
    m = measure(args.gaapd, args.first, args.creates)

    def f(key, fmt="{:.2f}"):
        return "–" if m.get(key) is None else fmt.format(m[key])
    print(f"# gaapd provisioning ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, 1 worker,"
          f" file state store, signed TC3 calls from Python)\n")
    print("| figure | value |\n|---|---|")
    print(f"| create-to-first-proxied-200, p50 ({args.first} samples) | {f('first_p50_ms')} ms |")
    print(f"| create-to-first-proxied-200, p99 | {f('first_p99_ms')} ms |")
    print(f"| client floor, p50: a signed DescribeHTTPListeners + a GET on a serving port | "
          f"{f('call_floor_ms')} + {f('get_floor_ms')} ms |")
    print(f"| {args.creates} creates one call at a time | {f('creates_s')} s "
          f"({f('per_call_ms')} ms/call: first 100 {f('first100_ms')}, last 100 "
          f"{f('last100_ms')}; gaapd CPU {f('gaapd_cpu_s')} s) |")
    print(f"| RSS growth per idle listener | {f('rss_per_listener_kib', '{:.1f}')} KiB "
          f"({m['rss_before_kib']} -> {m['rss_after_kib']} KiB) |")


if __name__ == "__main__":
    main()
