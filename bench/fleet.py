#!/usr/bin/env python3
"""Fleets (issue 16): how fast a change made on one node is served by the others, and what the
etcd store costs a create against the file store, on this machine, in the same run.

Uses tests/e2e/fleet.py (a real etcd of one member, gaapd nodes A, B, C on 127.0.0.1/.2/.3):
  1. convergence: --samples creates (default 200) on A, one at a time; for each, from the answer
     on A to the first proxied 200 through B's address, and through C's (a new connection per
     try, tried back to back; C is tried once B served, so its figure is an upper bound); p50,
     p90, p99, max. Then the same listeners deleted on B, 50 a call, to the last port closed on
     A and C.
  2. creates per second, --creates per round (default 300), --rounds times (default 3), the
     back ends interleaved: etcd (a fresh three-node fleet, creates sent to A) against file (a
     fresh single node, the journal), each one client one call at a time (sequential) and
     --clients clients at once (default 8, a thread each); each call a new connection (the
     harness's client). The median round.
Bounded: fixed counts, every wait has a deadline, everything stopped by PID at the end.

Usage: bench/fleet.py [--gaapd build/gaapd] [--samples 200] [--creates 300] [--clients 8]
       [--rounds 3] [--json FILE]
"""
import argparse
import concurrent.futures
import json
import os
import statistics
import sys
import time

sys.dont_write_bytecode = True
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def first_200(node, port, deadline_s=5):
    t_end = time.monotonic() + deadline_s
    while time.monotonic() < t_end:
        if node.get(port, timeout=1) == 200:
            return time.monotonic()
    raise RuntimeError(f"port {port} not served by node {node.name} within {deadline_s} s")


def convergence(F, free_port, samples):
    out = {"b": [], "c": [], "answer": []}
    with F.Fleet(max_listeners=samples + 10) as fl:
        a, b, c = fl["a"], fl["b"], fl["c"]
        ids, ports = [], []
        for _ in range(samples):
            port = free_port()
            t0 = time.monotonic()
            r = a.create(port)
            t1 = time.monotonic()
            if "Error" in r:
                raise RuntimeError(f"create failed: {r}")
            tb = first_200(b, port)
            tc = first_200(c, port)
            out["answer"].append(t1 - t0)
            out["b"].append(tb - t1)
            out["c"].append(tc - t1)
            ids.append(r["ListenerId"])
            ports.append(port)
        t0 = time.monotonic()
        for i in range(0, len(ids), 50):
            d = b.delete(ids[i:i + 50])
            assert len(d["OperationSucceedListenerSet"]) == len(ids[i:i + 50]), d
        t1 = time.monotonic()
        F.wait_for("the last port closed on A and C", lambda: not a.accepts(ports[-1])
                   and not c.accepts(ports[-1]), 10, step=0.001)
        out["delete_all_s"] = time.monotonic() - t0
        out["delete_answer_s"] = t1 - t0
    return out


def creates(F, free_port, backend, n, clients):
    names = "abc" if backend == "etcd" else "a"
    with F.Fleet(max_listeners=2 * n + 10, names=names, backend=backend) as fl:
        a = fl["a"]
        ps = [free_port() for _ in range(2 * n)]

        def one(port):
            r = a.create(port)
            if "Error" in r:
                raise RuntimeError(f"{backend}: create failed: {r}")
        rev0 = revision(fl) if backend == "etcd" else 0
        t0 = time.monotonic()
        for p in ps[:n]:
            one(p)
        seq = n / (time.monotonic() - t0)
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(clients) as ex:
            list(ex.map(one, ps[n:]))
        conc = n / (time.monotonic() - t0)
        if backend != "etcd":
            return seq, conc, 0, 0
        # the nodes' status reports land a moment after the answers: let them settle
        time.sleep(1)
        revs = (revision(fl) - rev0) / (2 * n)
        return seq, conc, a.metrics().get("gaapd_store_etcd_txn_retries_total", 0), revs


def revision(fl):
    return int(fl.etcd_call("/v3/kv/range", {"key": "Lw=="})["header"]["revision"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gaapd", default=os.path.join(ROOT, "build", "gaapd"))
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--creates", type=int, default=300)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    os.environ["GAAPD"] = os.path.abspath(args.gaapd)
    sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
    import fleet as F
    from harness import free_port

    ms = lambda v: round(v * 1000, 2)     # noqa: E731
    conv = convergence(F, free_port, args.samples)
    res = {"samples": args.samples, "convergence_ms": {}}
    for k in ("answer", "b", "c"):
        v = conv[k]
        res["convergence_ms"][k] = {"p50": ms(pct(v, 50)), "p90": ms(pct(v, 90)),
                                    "p99": ms(pct(v, 99)), "max": ms(max(v))}
    res["delete_ms"] = {"answer": ms(conv["delete_answer_s"]), "gone": ms(conv["delete_all_s"])}
    print(f"convergence over {args.samples} creates on A (ms): " + json.dumps(
        res["convergence_ms"]))
    print(f"delete of {args.samples} on B, {args.samples // 50 or 1} calls (ms): "
          + json.dumps(res["delete_ms"]))
    rounds = {"etcd": [], "file": []}
    for i in range(args.rounds):
        for backend in (("etcd", "file") if i % 2 == 0 else ("file", "etcd")):
            seq, conc, retries, revs = creates(F, free_port, backend, args.creates,
                                               args.clients)
            rounds[backend].append((seq, conc, retries))
            print(f"round {i + 1} {backend}: sequential {seq:.0f}/s, {args.clients} clients "
                  f"{conc:.0f}/s" + (f", txn retries {retries:.0f}, etcd revisions per create "
                                     f"{revs:.2f}" if backend == "etcd" else ""))
    med = statistics.median
    res["creates_per_s"] = {b: {"sequential": round(med(r[0] for r in v)),
                                f"clients_{args.clients}": round(med(r[1] for r in v)),
                                "rounds": [[round(x) for x in r] for r in v]}
                            for b, v in rounds.items()}
    print("creates per second (median of rounds): " + json.dumps(
        {b: {k: v for k, v in d.items() if k != "rounds"}
         for b, d in res["creates_per_s"].items()}))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
