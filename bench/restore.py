#!/usr/bin/env python3
"""Restore benchmark: how long gaapd takes from exec to READY (its "gaapd started" line) with N
listeners in its state directory, every one of them bound again before READY.

The state is written as a v1 listeners.json (what gaapd wrote before the journal), so the first
start migrates it into the journal (a snapshot); the next starts restore from that snapshot.
N listeners (default 15,000: with one worker each takes a descriptor, and this machine's hard
RLIMIT_NOFILE is 20,000, which gaapd raises its soft limit to) are spread over four proxies
binding 127.0.0.1-4 on ports from 20000 up. Reported: the first start
(migration + binding), then RUNS restarts (snapshot + binding), min/median/max, and the state
directory's size. Bounded: fixed counts, a 120 s deadline per start, gaapd stopped by its PID.

Usage: bench/restore.py [--gaapd build/gaapd] [--listeners 15000] [--runs 3]
bench_store (store.c) measures the store's part alone: open + decode of 100,000 records.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import harness  # noqa: E402
from harness import Gaapd  # noqa: E402

PROXIES = [(f"link-rst{i}", f"127.0.0.{i + 1}") for i in range(4)]


def v1_state(n):
    recs = []
    per = (n + len(PROXIES) - 1) // len(PROXIES)
    for i in range(n):
        proxy = PROXIES[i // per][0]
        recs.append({"ListenerId": f"listener-r{i:07d}", "ListenerName": f"r{i}", "Protocol": "HTTP",
                     "ProxyId": proxy, "GroupId": "", "Port": 20000 + i % per,
                     "CreateTime": 1795833763})
    return '{"version":1,"listeners":[\n' + ",\n".join(
        json.dumps(r, separators=(",", ":")) for r in recs) + "\n]}\n"


def start_ms(g):
    t0 = time.perf_counter()
    g.start(timeout=120)
    return (time.perf_counter() - t0) * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gaapd", default=os.environ.get("GAAPD", "build/gaapd"))
    ap.add_argument("--listeners", type=int, default=15000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    harness.GAAPD = os.path.abspath(args.gaapd)
    n = args.listeners
    per = (n + len(PROXIES) - 1) // len(PROXIES)
    g = Gaapd(workers=1, proxies=[
        {"id": p, "bind": addr, "max_listeners": per, "origins": ["127.0.0.1:1"]}
        for p, addr in PROXIES])
    try:
        state = os.path.join(g.dir, "state")
        os.makedirs(state, mode=0o750)
        with open(os.path.join(state, "listeners.json"), "w") as f:
            f.write(v1_state(n))
        first = start_ms(g)
        log = g.log_text()[g.log_from:]
        restored = int(re.search(r"restored listeners=(\d+)", log).group(1))
        not_serving = log.count("not serving")
        g.stop()
        runs = []
        for _ in range(args.runs):
            runs.append(start_ms(g))
            g.stop()
        size = sum(os.path.getsize(os.path.join(state, f)) for f in os.listdir(state))
    finally:
        g.cleanup()
    print(f"# gaapd restore ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, 1 worker)\n")
    print("| figure | value |\n|---|---|")
    print(f"| listeners in the state (restored, of them not serving) | {n:,} ({restored:,}, "
          f"{not_serving:,}) |")
    print(f"| first start: migrate the v1 file, bind every listener, READY | {first:,.0f} ms |")
    print(f"| restart from the snapshot, bind every listener, READY: min / median / max of "
          f"{args.runs} | {min(runs):,.0f} / {statistics.median(runs):,.0f} / {max(runs):,.0f} ms |")
    print(f"| state directory after the runs | {size / 1e6:.1f} MB |")


if __name__ == "__main__":
    main()
