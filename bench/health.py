#!/usr/bin/env python3
"""Workload a. with and without 1,000 health-checked bindings (issue 14), gaapd only, in one run.

Two gaapd processes run for the whole bench, the same build and the same config as bench/run's
(workers: 1, pinned to the proxy CPU), each with bench/run's listener forwarding to the origin:
  - gaapd:        nothing else;
  - gaapd+checks: a second listener with one domain and 10 rules x 100 bindings, HealthCheck 1,
                  CheckParams {DelayLoop: 1, ConnectTimeout: 1} (HEAD /), bound to one real
                  server (127.0.0.1) on 1,000 ports: 1,000 targets probed every second by the
                  checker thread of that gaapd. The 1,000 ports are `build/bench_health --serve`
                  (an epoll loop answering 200 and closing), pinned to the load CPU. No request
                  is ever routed to that listener: its only cost is the checker's.
Workload a. (GET /small, keep-alive, wrk 1 thread, BENCH_CONNECTIONS connections) runs against
the first listener of each, repetitions interleaved (gaapd, gaapd+checks, gaapd, ...), after a
warm-up per target. Figures per run: req/s, gaapd's CPU seconds (utime + stime of the whole
process, the checker's thread included), req per CPU-second; median [min-max]; and the ratio
gaapd+checks / gaapd of the medians (the issue's "within 5 %"). Also measured, in the same run:
the checks' probes/s (gaapd_health_probes_total) and gaapd+checks' CPU while idle (the checker's
cost alone, BENCH_IDLE_S seconds between repetitions).

Usage: bench/health.py [--smoke]   (environment as bench/run: GAAPD, BENCH_DURATION,
BENCH_REPEAT, BENCH_CONNECTIONS, BENCH_WARMUP; BENCH_CHECKED (default 1000), BENCH_BENCH_HEALTH
(build/bench_health)). --smoke: 100 bindings, one 1 s repetition, Python origin; checks that the
probes run and pass and that wrk's requests succeed, never a time.
"""
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import load  # noqa: E402
import targets as tg  # noqa: E402
from targets import harness  # noqa: E402

ROOT = os.path.dirname(HERE)
PER_RULE = 100                  # node.max_bindings_per_rule's default


def log(msg):
    print(f"[health] {msg}", file=sys.stderr, flush=True)


def env(name, default, conv=int):
    v = os.environ.get(name)
    return conv(v) if v else default


def seconds(text):
    return int(str(text).rstrip("s"))


class CheckOrigins:
    """build/bench_health --serve N: N ports answering 200, until its stdin closes; keeping
    connections (--keepalive) as most servers do, unless BENCH_CHECK_KEEPALIVE=0."""

    def __init__(self, binary, n, cpu):
        keep = ["--keepalive"] if os.environ.get("BENCH_CHECK_KEEPALIVE", "1") != "0" else []
        self.proc = subprocess.Popen(tg.taskset(cpu, [binary] + keep + ["--serve", str(n)]),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.ports = [int(self.proc.stdout.readline()) for _ in range(n)]

    def stop(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class CheckedGaapd(tg.GaapdTarget):
    """bench/run's gaapd plus a listener whose rules check `ports` every second."""
    name = "gaapd-checks"
    label = "gaapd+checks"

    def __init__(self, workdir, cpu, binary, origin_port, ports):
        super().__init__(workdir, cpu, binary, origin_port)
        self.ports = ports

    def ok(self, action, params):
        resp = self.g.call(action, params)
        if harness.error_code(resp):
            raise RuntimeError(f"{action}: {resp}")
        return resp

    def start(self):
        super().start()
        lid = self.g.create(tg.free_port(), name="checks")["ListenerId"]
        rs = self.ok("AddRealServers", {"ProjectId": 0, "RealServerIP": ["127.0.0.1"],
                                        "RealServerName": "checked"})["RealServerSet"][0][
            "RealServerId"]
        self.ok("CreateDomain", {"ListenerId": lid, "Domain": "checks.example"})
        for i in range(0, len(self.ports), PER_RULE):
            rid = self.ok("CreateRule", {
                "ListenerId": lid, "Domain": "checks.example", "Path": f"/r{i // PER_RULE}",
                "RealServerType": "IP", "Scheduler": "rr", "HealthCheck": 1,
                "CheckParams": {"DelayLoop": 1, "ConnectTimeout": 1}})["RuleId"]
            self.ok("BindRuleRealServers", {"RuleId": rid, "RealServerBindSet": [
                {"RealServerId": rs, "RealServerIP": "127.0.0.1", "RealServerPort": p,
                 "RealServerWeight": 1} for p in self.ports[i:i + PER_RULE]]})
        return self

    def health(self):
        """(probes ok, probes failed, targets up, targets) from /metrics."""
        _, _, body = self.g.raw("GET", target="/metrics")
        text = body.decode()
        total = {"ok": 0, "failed": 0}
        for m in re.finditer(r'^gaapd_health_probes_total\{[^}]*result="(ok|failed)"\} (\d+)',
                             text, re.M):
            total[m.group(1)] += int(m.group(2))
        ups = [int(v) for v in re.findall(r'^gaapd_health_up\{[^}]*\} (\d+)', text, re.M)]
        return total["ok"], total["failed"], sum(ups), len(ups)


def med(xs, fmt="{:,.0f}"):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    return f"{fmt.format(statistics.median(xs))} [{fmt.format(min(xs))}–{fmt.format(max(xs))}]"


class Run:
    def __init__(self, smoke):
        self.smoke = smoke
        self.duration = seconds(os.environ.get("BENCH_DURATION") or ("1s" if smoke else "5s"))
        self.warmup = seconds(os.environ.get("BENCH_WARMUP") or ("0" if smoke else "1s"))
        self.repeat = env("BENCH_REPEAT", 1 if smoke else 5)
        self.conns = env("BENCH_CONNECTIONS", 16 if smoke else 64)
        self.checked = env("BENCH_CHECKED", 100 if smoke else 1000)
        self.idle_s = env("BENCH_IDLE_S", 1 if smoke else 3)
        self.gaapd = os.path.abspath(os.environ.get("GAAPD") or os.path.join(ROOT, "build",
                                                                             "gaapd"))
        self.bench_health = os.environ.get("BENCH_BENCH_HEALTH") or os.path.join(
            os.path.dirname(self.gaapd), "bench_health")
        affinity = os.sched_getaffinity(0)
        self.proxy_cpu, self.load_cpu = (0, 1) if {0, 1} <= affinity else (None, None)
        self.runs = {"gaapd": [], "gaapd+checks": []}
        self.idle = []              # (CPU s per s of gaapd+checks idle, probes/s)
        self.failures = []

    def one(self, t, rep):
        before = t.cpu_snapshot()
        r = load.run_wrk(f"http://127.0.0.1:{t.port}/small", self.duration, self.conns,
                         cpu=self.load_cpu)
        after = t.cpu_snapshot()
        cpu = t.cpu_seconds(before, after)
        r["rps"] = r["requests"] / r["seconds"]
        r["cpu_s"] = cpu
        r["req_per_cpu_s"] = r["requests"] / cpu if cpu > 0 else None
        log(f"{t.label:>13} rep {rep}: {r['rps']:>9,.0f} req/s cpu {cpu:5.2f} s "
            f"req/CPU-s {r['req_per_cpu_s'] or 0:>9,.0f} errors {r['errors']}")
        if r["requests"] == 0 or r["errors"]:
            self.failures.append(f"{t.label} rep {rep}: {r['requests']} requests, "
                                 f"{r['errors']} errors")
        self.runs[t.label].append(r)

    def idle_cpu(self, checked):
        """gaapd+checks with no request: its CPU per second and the probes per second."""
        ok0, bad0, _, _ = checked.health()
        c0, t0 = checked.cpu_snapshot(), time.monotonic()
        time.sleep(self.idle_s)
        c1, t1 = checked.cpu_snapshot(), time.monotonic()
        ok1, bad1, up, n = checked.health()
        self.idle.append((checked.cpu_seconds(c0, c1) / (t1 - t0), (ok1 - ok0) / (t1 - t0),
                          bad1 - bad0, up, n))

    def matrix(self, plain, checked):
        for t in (plain, checked):
            if self.warmup:
                load.run_wrk(f"http://127.0.0.1:{t.port}/small", self.warmup, self.conns,
                             cpu=self.load_cpu)
        for rep in range(1, self.repeat + 1):
            self.idle_cpu(checked)
            for t in (plain, checked):
                time.sleep(0.3)
                self.one(t, rep)

    def report(self, origin_label):
        p, c = self.runs["gaapd"], self.runs["gaapd+checks"]
        out = [f"## Workload a. with and without {self.checked:,} health-checked bindings "
               f"(DelayLoop 1)", "",
               f"gaapd {self.gaapd}; workers: 1; origin: {origin_label}; wrk 1 thread, "
               f"{self.conns} connections, {self.duration} s x {self.repeat} interleaved; "
               f"pinning: " + ("proxy CPU 0, wrk, origin and check origins CPU 1" if
                               self.proxy_cpu is not None else "none"), "",
               "| target | req/s | gaapd CPU s | req per CPU-s | errors |", "|---|---|---|---|---|"]
        for name, rs in self.runs.items():
            out.append(f"| {name} | {med([r['rps'] for r in rs])} | "
                       f"{med([r['cpu_s'] for r in rs], '{:.2f}')} | "
                       f"{med([r['req_per_cpu_s'] for r in rs])} | "
                       f"{sum(r['errors'] for r in rs)} |")
        out.append("")
        if p and c:
            def ratio(key):
                a = statistics.median(r[key] for r in p if r[key])
                b = statistics.median(r[key] for r in c if r[key])
                return b / a
            pairs = [b["req_per_cpu_s"] / a["req_per_cpu_s"] for a, b in zip(p, c)
                     if a["req_per_cpu_s"] and b["req_per_cpu_s"]]
            out.append(f"- **gaapd+checks ÷ gaapd, req per CPU-s: {ratio('req_per_cpu_s'):.3f}** "
                       f"(medians; per repetition {med(pairs, '{:.3f}')}); req/s "
                       f"{ratio('rps'):.3f}")
        if self.idle:
            out.append(f"- gaapd+checks idle (between repetitions, {self.idle_s} s each): CPU "
                       f"{med([i[0] * 1000 for i in self.idle], '{:.1f}')} ms per s, probes/s "
                       f"{med([i[1] for i in self.idle])}, failed probes "
                       f"{sum(i[2] for i in self.idle)}, targets up at the end "
                       f"{self.idle[-1][3]} of {self.idle[-1][4]}")
            per = [i[0] * 1e6 / i[1] for i in self.idle if i[1]]
            out.append(f"- that is {med(per, '{:.1f}')} µs of gaapd CPU per probe (its checker "
                       f"thread, and whatever else an idle gaapd does)")
        if c and self.idle:
            load_cpu = statistics.median(r["cpu_s"] for r in c) / self.duration
            fixed = statistics.median(i[0] for i in self.idle)
            out.append(f"- the checks are a fixed cost ({fixed * 1000:.0f} ms of CPU per s, idle), "
                       f"so their share depends on the load: gaapd+checks used {load_cpu:.2f} "
                       f"CPU-s per s under wrk here, of which the checks are "
                       f"{fixed / load_cpu * 100:.1f} % (expected ratio "
                       f"{1 - fixed / load_cpu:.3f}); with a full core of requests, "
                       f"{fixed * 100:.1f} %")
        if self.failures:
            out += ["", "Failures:"] + [f"- {f}" for f in self.failures]
        return "\n".join(out) + "\n"

    def check_smoke(self):
        problems = list(self.failures)
        if not self.idle or self.idle[-1][1] <= 0 or self.idle[-1][2]:
            problems.append(f"checks: {self.idle}")
        elif self.idle[-1][3] != self.idle[-1][4] or self.idle[-1][4] != self.checked:
            problems.append(f"targets up {self.idle[-1][3]} of {self.idle[-1][4]}, "
                            f"want {self.checked}")
        return problems


def wait_checks(checked, n, timeout=20):
    """Until every target has made a probe and is up (their first probes are jittered)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ok, bad, up, targets = checked.health()
        if targets == n and up == n and ok >= n:
            return
        time.sleep(0.2)
    raise RuntimeError(f"checks not running: {checked.health()} (want {n} targets)")


def main():
    smoke = "--smoke" in sys.argv[1:]
    run = Run(smoke)
    load.raise_nofile(run.checked * 2 + 1000)
    with tempfile.TemporaryDirectory(prefix="gaapd-bench-health-") as work:
        os.chmod(work, 0o755)               # nginx workers run as nobody: they read www/
        origin = (tg.PyOrigin if smoke or not shutil.which("nginx") else
                  tg.NginxOrigin)(work, run.load_cpu)
        checks = plain = checked = None
        try:
            origin.start()
            checks = CheckOrigins(run.bench_health, run.checked, run.load_cpu)
            plain = tg.GaapdTarget(work, run.proxy_cpu, run.gaapd, origin.port)
            plain.start()
            checked = CheckedGaapd(work, run.proxy_cpu, run.gaapd, origin.port, checks.ports)
            checked.start()
            log(f"gaapd pid {plain.proc.pid}, gaapd+checks pid {checked.proc.pid}, "
                f"{run.checked} check ports")
            wait_checks(checked, run.checked)
            run.matrix(plain, checked)
        finally:
            for d in (checked, plain):
                if d is not None:
                    d.stop()
            if checks is not None:
                checks.stop()
            origin.stop()
    print(run.report(origin.label))
    if smoke:
        problems = run.check_smoke()
        for p in problems:
            print(f"smoke: {p}", file=sys.stderr)
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
