#!/usr/bin/env python3
"""How fast health checks take a dead real server out and bring it back (issue 14), gaapd only.

One gaapd (workers: 1) with one listener, one rule "/" (Scheduler rr, HealthCheck 1) bound to two
origins on 127.0.0.1 (this script's, one thread each), and a steady request stream through it
(BENCH_RATE, default 200 req/s, from 4 client threads on kept connections). Repeatedly, origin A
dies: it closes its listening socket and every connection it has (a process killed: connects are
refused from then on), at a random point of the probe period; once the checks have taken it out
(gaapd_health_up 0) and a margin later, it comes back on the same port. Per kill:

  death -> last request: from the kill to the last connect() a worker of gaapd made to A's port
      before A came back, i.e. the last client request gaapd still sent towards the dead server
      (each one a refused connect, then a failover to B: the client still gets its 200, a little
      later). A dead server refuses, so A itself sees none of them: the connects are recorded by
      running gaapd under `strace -f --seccomp-bpf -e trace=connect -ttt` (only connect(2)
      stops the process). Probes also connect: the checker's thread is the one thread that
      connects to A's or B's port before any request is sent, and its connects are left out.
  return -> first request: from A listening again to the first request (not a probe: User-Agent
      gaapd-health) that A receives.

Both with passive health off (http.origin_max_fails: 0: what the active checks do alone) and on
(gaapd's defaults, origin_max_fails 1, origin_fail_timeout 10 s: the first failed connect takes
the server out for 10 s, and a server passive health took out comes back only once that timeout
has passed and the checks say up), for DelayLoop 1 (ConnectTimeout 1) and DelayLoop 5
(the default, ConnectTimeout 2, the default). Printed: p50 / p99 / max per case (with 20 kills,
p99 is the largest but one... a nearest-rank percentile: with n <= 100, it is the max), the
requests per kill that went to the dead server, and the client's errors (non-200 or failed).

Usage: bench/health_failover.py [--gaapd build/gaapd] [--kills1 20] [--kills5 6]
           [--passive off,on] [--delays 1,5] [--quick]
--quick: DelayLoop 1, passive off, 3 kills (a check that it runs, ~40 s).
Needs strace (apt-get install strace) for death -> last request; without it that column is "-".
Bounded: every wait has a deadline; gaapd and the origins are stopped at the end.
"""
import argparse
import http.client
import math
import os
import random
import re
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
import harness  # noqa: E402

ROOT = os.path.dirname(HERE)
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"


def log(msg):
    print(f"[failover] {msg}", file=sys.stderr, flush=True)


class KillableOrigin:
    """An HTTP/1.1 keep-alive origin on a fixed port, in one thread (selectors): 200 "ok" to
    every request. kill() closes its listening socket and every connection; revive() listens on
    the same port again. Records the time of every request that is not a probe."""

    def __init__(self):
        self.sel = selectors.DefaultSelector()
        self.lock = threading.Lock()
        self.requests = []          # time.time() of each non-probe request
        self.probes = 0
        self.want = None            # "kill" / "revive", done by the thread
        self.done_at = None
        self.stop_flag = False
        self.lsock = None
        self.port = 0
        self._listen()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _listen(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(1024)
        s.setblocking(False)
        self.port = s.getsockname()[1]
        self.lsock = s
        self.sel.register(s, selectors.EVENT_READ, None)

    def _kill(self):
        for key in list(self.sel.get_map().values()):
            self.sel.unregister(key.fileobj)
            key.fileobj.close()
        self.lsock = None

    def _serve(self, conn, buf):
        try:
            data = conn.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.sel.unregister(conn)
            conn.close()
            return
        buf += data
        while b"\r\n\r\n" in buf:
            head, _, rest = buf.partition(b"\r\n\r\n")
            buf[:] = rest
            if b"user-agent: gaapd-health" in head.lower():
                self.probes += 1
            else:
                with self.lock:
                    self.requests.append(time.time())
            try:
                conn.sendall(OK_HEAD if head.startswith(b"HEAD ") else OK)
            except OSError:
                pass

    def _loop(self):
        while not self.stop_flag:
            if self.want is not None:
                self._kill() if self.want == "kill" else self._listen()
                self.done_at, self.want = time.time(), None
            for key, _ in self.sel.select(0.002):
                if key.data is None:
                    try:
                        c, _ = key.fileobj.accept()
                    except OSError:
                        continue
                    c.setblocking(True)
                    c.settimeout(1)
                    self.sel.register(c, selectors.EVENT_READ, bytearray())
                else:
                    self._serve(key.fileobj, key.data)
        self._kill()

    def _ask(self, what):
        self.done_at = None
        self.want = what
        deadline = time.monotonic() + 5
        while self.done_at is None and time.monotonic() < deadline:
            time.sleep(0.001)
        return self.done_at

    def kill(self):
        return self._ask("kill")

    def revive(self):
        return self._ask("revive")

    def first_request_after(self, t):
        with self.lock:
            return next((x for x in self.requests if x >= t), None)

    def close(self):
        self.stop_flag = True
        self.thread.join(5)


class Load:
    """rate req/s of GET / through gaapd's port, from `threads` threads on kept connections,
    paced on the clock; counts the answers that were not 200 and the failures."""

    def __init__(self, port, rate, threads=4):
        self.port, self.per = port, rate / threads
        self.stop_flag = False
        self.sent = self.errors = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _one(self, conn):
        try:
            conn.request("GET", "/", headers={"Host": "app.example"})
            r = conn.getresponse()
            r.read()
            return r.status == 200
        except (OSError, http.client.HTTPException):
            conn.close()
            return False

    def _run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        t0, n = time.monotonic(), 0
        while not self.stop_flag:
            ok = self._one(conn)
            n += 1
            with self.lock:
                self.sent += 1
                self.errors += not ok
            delay = t0 + n / self.per - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        conn.close()

    def stop(self):
        self.stop_flag = True
        for t in self.threads:
            t.join(15)


def config(passive):
    http_keys = ["  access_log: off", "  origin_connect_timeout: 1000", "  origin_keepalive: 64"]
    if not passive:
        http_keys.append("  origin_max_fails: 0")
    return "\n".join([
        "node:", "  workers: 1", "  state_dir: state", "  log_level: info",
        "control:", "  listen: 127.0.0.1:0", "  auth: signature",
        "  credentials_file: credentials", "  rate_limit: 1000000",
        "http:"] + http_keys + [
        "proxies:", f"  - id: {harness.PROXY}", "    origins: [127.0.0.1:1]"]) + "\n"


def strace_wrapper(directory, binary):
    """A script running binary under strace (connect(2) only), its trace in directory."""
    trace = os.path.join(directory, "connect.trace")
    path = os.path.join(directory, "gaapd-traced")
    with open(path, "w") as f:
        f.write(f"#!/bin/sh\nexec strace -f --seccomp-bpf -qq -e trace=connect -e signal=none "
                f"-ttt -o '{trace}' '{binary}' \"$@\"\n")
    os.chmod(path, 0o755)
    return path, trace


CONNECT = re.compile(r"^(\d+)\s+([\d.]+) connect\(\d+, \{sa_family=AF_INET, "
                     r"sin_port=htons\((\d+)\)")


def connects(trace):
    """[(tid, time, port)] of every AF_INET connect() in the trace."""
    out = []
    try:
        with open(trace) as f:
            for line in f:
                m = CONNECT.match(line)
                if m:
                    out.append((int(m.group(1)), float(m.group(2)), int(m.group(3))))
    except FileNotFoundError:
        pass
    return out


class Case:
    """One gaapd, two origins, one rule; `kills` deaths and returns of origin A."""

    def __init__(self, args, delay, passive, kills, work):
        self.delay, self.passive, self.kills = delay, passive, kills
        self.timeout = 1 if delay == 1 else 2       # ConnectTimeout: <= DelayLoop; default 2
        self.dir = os.path.join(work, f"d{delay}-{'passive' if passive else 'active'}")
        os.makedirs(self.dir)
        self.traced = bool(shutil.which("strace")) and not args.no_strace
        harness.GAAPD = os.path.abspath(args.gaapd)
        if self.traced:
            harness.GAAPD, self.trace = strace_wrapper(self.dir, harness.GAAPD)
        self.g = harness.Gaapd(config_text=config(passive), directory=self.dir)
        self.a, self.b = KillableOrigin(), KillableOrigin()
        self.samples = []           # per kill: dict

    def ok(self, action, params):
        resp = self.g.call(action, params)
        if harness.error_code(resp):
            raise RuntimeError(f"{action}: {resp}")
        return resp

    def setup(self):
        self.g.start(timeout=30)
        self.port = harness.free_port()
        lid = self.g.create(self.port)["ListenerId"]
        rs = self.ok("AddRealServers", {"ProjectId": 0, "RealServerIP": ["127.0.0.1"],
                                        "RealServerName": "loopback"})["RealServerSet"][0][
            "RealServerId"]
        self.ok("CreateDomain", {"ListenerId": lid, "Domain": "app.example",
                                 "IsDefaultServer": True})
        rid = self.ok("CreateRule", {
            "ListenerId": lid, "Domain": "app.example", "Path": "/", "RealServerType": "IP",
            "Scheduler": "rr", "HealthCheck": 1,
            "CheckParams": {"DelayLoop": self.delay, "ConnectTimeout": self.timeout}})["RuleId"]
        self.ok("BindRuleRealServers", {"RuleId": rid, "RealServerBindSet": [
            {"RealServerId": rs, "RealServerIP": "127.0.0.1", "RealServerPort": o.port,
             "RealServerWeight": 1} for o in (self.a, self.b)]})
        # the checker's thread: the one connecting to the origins before any request is sent
        self.wait(lambda: self.a.probes >= 2 and self.b.probes >= 2, 3 * self.delay + 5,
                  "first probes")
        self.checker = {tid for tid, _, port in connects(self.trace)
                        if port in (self.a.port, self.b.port)} if self.traced else set()
        if self.traced and len(self.checker) != 1:
            raise RuntimeError(f"checker thread not found: {self.checker}")

    def stop_gaapd(self):
        """SIGTERM to gaapd itself (under strace, the child of the process started), then wait
        for the process started; killed after 20 s."""
        pid = self.g.proc.pid
        if self.traced:
            kids = [int(d) for d in os.listdir("/proc") if d.isdigit() and
                    ppid(int(d)) == pid]
            pid = kids[0] if kids else pid
        try:
            os.kill(pid, signal.SIGTERM)
            self.g.proc.wait(20)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.g.kill()

    def up(self):
        """gaapd_health_up of A, from /metrics (None if absent)."""
        _, _, body = self.g.raw("GET", target="/metrics")
        m = re.search(r'^gaapd_health_up\{origin="127\.0\.0\.1:%d"[^}]*\} (\d)' % self.a.port,
                      body.decode(), re.M)
        return int(m.group(1)) if m else None

    @staticmethod
    def wait(cond, timeout, what):
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                raise RuntimeError(f"not within {timeout} s: {what}")
            time.sleep(0.02)

    def cycle(self, i):
        d = self.delay
        t0 = time.time()
        self.wait(lambda: self.up() == 1 and self.a.first_request_after(t0) is not None,
                  3 * d + 15, "A up and served")
        time.sleep(random.uniform(0, d))             # a random point of the probe period
        kill = self.a.kill()
        self.wait(lambda: self.up() == 0, 4 * d + self.timeout + 5, "A checked out")
        down = time.time()
        # late requests would show here; then a random point of the probe period again
        time.sleep(max(2, d) + random.uniform(0, d))
        rev = self.a.revive()
        self.wait(lambda: self.a.first_request_after(rev) is not None,
                  3 * d + self.timeout + 5 + (12 if self.passive else 0), "A back")
        s = {"kill": kill, "down": down, "rev": rev, "first": self.a.first_request_after(rev)}
        self.samples.append(s)
        log(f"DelayLoop {d} passive {'on' if self.passive else 'off'} kill {i + 1}/{self.kills}: "
            f"checked out after {(down - kill) * 1000:.0f} ms, first request "
            f"{(s['first'] - rev) * 1000:.0f} ms after return")

    def attempts(self):
        """Per kill, from the trace: the workers' connects to A while dead, and the first after
        its return."""
        port = self.a.port
        mine = [(t, tid) for tid, t, p in connects(self.trace) if p == port
                and tid not in self.checker]
        for s in self.samples:
            dead = [t for t, _ in mine if s["kill"] <= t < s["rev"]]
            s["dead_attempts"] = len(dead)
            s["last"] = max(dead) if dead else None
            s["first_connect"] = next((t for t, _ in mine if t >= s["rev"]), None)

    def run(self, rate):
        self.setup()
        load = Load(self.port, rate)
        try:
            for i in range(self.kills):
                self.cycle(i)
        finally:
            load.stop()
            self.sent, self.errors = load.sent, load.errors
            self.stop_gaapd()
            self.a.close()
            self.b.close()
        if self.traced:
            self.attempts()


def ppid(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def pct(xs, q):
    """Nearest-rank percentile (q in 0..1) of xs, or None."""
    xs = sorted(x for x in xs if x is not None)
    return xs[max(0, math.ceil(q * len(xs)) - 1)] if xs else None


def ms3(xs):
    if not [x for x in xs if x is not None]:
        return "-"
    return " / ".join(f"{pct(xs, q) * 1000:,.0f}" for q in (0.5, 0.99, 1.0))


def med(xs):
    return f"{statistics.median(xs):g} [{min(xs)}–{max(xs)}]" if xs else "-"


def report(cases, rate):
    out = ["## Health checks: a dead real server out, and back", "",
           f"gaapd workers: 1; rule `/` rr over two origins on 127.0.0.1; {rate} req/s "
           f"(4 threads, kept connections); ms, p50 / p99 / max (nearest rank)", "",
           "| DelayLoop | passive health | kills | death → last request | requests sent to "
           "the dead server per kill | death → checks say down | return → first request | "
           "return → first connect | client errors |", "|---|---|---|---|---|---|---|---|---|"]
    for c in cases:
        ss = c.samples
        dead = [s["dead_attempts"] for s in ss if s.get("dead_attempts") is not None]
        # no request tried the dead server at all: 0 (when traced; unknown otherwise)
        last = [s["last"] - s["kill"] if s.get("last") else (0 if c.traced else None)
                for s in ss]
        first_connect = [s["first_connect"] - s["rev"] if s.get("first_connect") else None
                         for s in ss]
        out.append(
            f"| {c.delay} | {'on (max_fails 1, 10 s)' if c.passive else 'off (max_fails 0)'} "
            f"| {len(ss)} | {ms3(last)} "
            f"| {med(dead)} "
            f"| {ms3([s['down'] - s['kill'] for s in ss])} "
            f"| {ms3([s['first'] - s['rev'] for s in ss])} "
            f"| {ms3(first_connect)} "
            f"| {c.errors} of {c.sent} |")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gaapd", default=os.environ.get("GAAPD") or os.path.join(ROOT, "build",
                                                                               "gaapd"))
    ap.add_argument("--kills1", type=int, default=20)
    ap.add_argument("--kills5", type=int, default=6)
    ap.add_argument("--delays", default="1,5")
    ap.add_argument("--passive", default="off,on")
    ap.add_argument("--rate", type=int, default=200)
    ap.add_argument("--no-strace", action="store_true")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.delays, args.passive, args.kills1 = "1", "off", 3
    cases = []
    with tempfile.TemporaryDirectory(prefix="gaapd-bench-failover-") as work:
        for d in [int(x) for x in args.delays.split(",")]:
            for p in args.passive.split(","):
                c = Case(args, d, p == "on", args.kills1 if d == 1 else args.kills5, work)
                try:
                    c.run(args.rate)
                finally:
                    c.g.cleanup()
                cases.append(c)
    print(report(cases, args.rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
