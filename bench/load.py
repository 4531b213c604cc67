#!/usr/bin/python3
"""Load for bench/run: wrk runs (with bench/wrk.lua) and the idle keep-alive connection holder.

As a script: bench/load.py idle PORT COUNT
  opens COUNT connections to 127.0.0.1:PORT (200 at a time), makes one GET /small on each, and
  keeps them open and idle (keep-alive); prints "ready OPEN FAILED" once done, then holds them
  until its stdin closes (or SIGTERM), and closes them all. Raises its RLIMIT_NOFILE as needed.
"""
import errno
import json
import os
import re
import resource
import selectors
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WRK_LUA = os.path.join(HERE, "wrk.lua")
WRK_ROUTES_LUA = os.path.join(HERE, "wrk_routes.lua")


class LoadError(RuntimeError):
    pass


def run_wrk(url, duration_s, connections, cpu=None, upload=None, close=False, timeout_s=10,
            routes=None):
    """One wrk run (1 thread); the figures of bench/wrk.lua's done() as a dict. routes: a file
    of "HOST PATH" lines to cycle through (bench/wrk_routes.lua) instead of url's path."""
    duration_s = max(1, round(duration_s))         # wrk takes whole seconds
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{duration_s}s", f"--timeout={timeout_s}s",
            "--latency", "-s", WRK_ROUTES_LUA if routes else WRK_LUA]
    if close:
        argv += ["-H", "Connection: close"]
    argv.append(url)
    if upload:
        argv += ["--", "upload", str(upload)]
    elif routes:
        argv += ["--", routes]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu)] + argv
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + timeout_s + 30)
    except subprocess.TimeoutExpired as e:
        raise LoadError(f"wrk did not finish: {' '.join(argv)}") from e
    if p.returncode != 0:
        raise LoadError(f"wrk exited {p.returncode}: {' '.join(argv)}: {p.stderr.strip()[-300:]}")
    for line in p.stdout.splitlines():
        if line.startswith("BENCH "):
            r = json.loads(line[6:])
            break
    else:
        # bench/wrk.lua's done() said nothing (seen once in a few hundred runs, with exit 0):
        # the same figures from wrk's own report, to within its rounding.
        r = parse_text(p.stdout)
        if r is None:
            raise LoadError(f"wrk printed no figures: {' '.join(argv)}: stdout "
                            f"{p.stdout.strip()[-300:]!r} stderr {p.stderr.strip()[-300:]!r}")
        r["from_text"] = p.stderr.strip()[-300:] or "no stderr"
    r["errors"] = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    r["socket_errors"] = r["errors"] - r["status"]
    r["seconds"] = r["duration_us"] / 1e6
    return r


UNITS = {"us": 1, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}
SIZES = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4}


def parse_text(out):
    """wrk's text report (with --latency) as the dict bench/wrk.lua's done() prints; None
    when it is not there."""
    def us(text):
        m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
        return float(m.group(1)) * UNITS[m.group(2)] if m else None
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    lat = re.search(r"^\s+Latency\s+(\S+)\s+\S+\s+(\S+)", out, re.M)
    tot = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h), ([\d.]+)([KMGT]?B) read", out)
    if not (tot and lat and "50" in pct and "99" in pct):
        return None
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    c, rd, wr, to = (int(x) for x in sock.groups()) if sock else (0, 0, 0, 0)
    return {"duration_us": float(tot.group(2)) * UNITS[tot.group(3)],
            "requests": int(tot.group(1)),
            "bytes": int(float(tot.group(4)) * SIZES[tot.group(5)]),
            "connect": c, "read": rd, "write": wr, "timeout": to,
            "status": int(non2xx.group(1)) if non2xx else 0,
            "p50_us": us(pct["50"]), "p99_us": us(pct["99"]), "max_us": us(lat.group(2)),
            "mean_us": us(lat.group(1))}


def raise_nofile(want):
    """Soft (and, as root, hard) RLIMIT_NOFILE up to want; returns the soft limit reached."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return soft
    if hard < want:
        try:
            with open("/proc/sys/fs/nr_open") as f:
                cap = int(f.read())
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, cap), min(want, cap)))
            return min(want, cap)
        except (OSError, ValueError):
            pass
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    return min(want, hard)


class IdleHolder:
    """bench/load.py idle as a child process; pinned to cpu."""

    def __init__(self, port, count, cpu=None, timeout=120, argv=None):
        argv = argv or [sys.executable, os.path.abspath(__file__), "idle", str(port), str(count)]
        if cpu is not None:
            argv = ["taskset", "-c", str(cpu)] + argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        line = self._readline(timeout)
        if not line.startswith("ready "):
            self.close()
            raise LoadError(f"idle holder: {line!r}")
        self.open, self.failed = (int(x) for x in line.split()[1:3])

    def _readline(self, timeout):
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            return "timeout"
        return self.proc.stdout.readline().strip() or f"exited {self.proc.wait()}"

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def tlsload_path():
    """build/bench_tlsload (bench/tlsload.c), or $BENCH_TLSLOAD."""
    path = os.environ.get("BENCH_TLSLOAD") or os.path.join(HERE, "..", "build", "bench_tlsload")
    if not os.access(path, os.X_OK):
        raise LoadError(f"no TLS load client at {path} (cmake --build build, or set "
                        "BENCH_TLSLOAD)")
    return os.path.abspath(path)


def run_tlsload(port, mode, duration_s, connections, cpu=None, path="/small", resume=False,
                warm=None):
    """One bench_tlsload run (conn: a TLS connection per request, full handshakes unless resume;
    keep: keep-alive); its BENCH line as a dict with run_wrk's keys, plus handshakes, resumed,
    proto, suite and group. warm: (seconds, hook): a warm-up on the same connections first, and
    hook() called between it and the measured run (bench/profile zeroes its counters)."""
    duration_s = max(1, round(duration_s))
    argv = [tlsload_path(), mode, "-p", str(port), "-c", str(connections), "-d",
            str(duration_s), "-P", path] + (["-r"] if resume else [])
    if warm:
        argv += ["-W", str(warm[0])]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu)] + argv
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        if warm:
            if p.stdout.readline().strip() != "warm":
                raise LoadError(f"bench_tlsload: no warm-up: {' '.join(argv)}")
            warm[1]()
        out, err = p.communicate("go\n", timeout=duration_s + 40)
    except subprocess.TimeoutExpired as e:
        p.kill()
        p.wait()
        raise LoadError(f"bench_tlsload did not finish: {' '.join(argv)}") from e
    line = next((l for l in out.splitlines() if l.startswith("BENCH ")), None)
    if p.returncode != 0 or line is None:
        raise LoadError(f"bench_tlsload exited {p.returncode}: {' '.join(argv)}: "
                        f"{err.strip()[-300:]}")
    r = json.loads(line[6:])
    r["errors"] = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    r["socket_errors"] = r["errors"] - r["status"]
    r["seconds"] = r["duration_us"] / 1e6
    return r


def tls_idle_holder(port, count, cpu=None):
    """COUNT idle TLS connections (bench_tlsload idle), each after one GET /small."""
    argv = [tlsload_path(), "idle", "-p", str(port), "-n", str(count)]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu)] + argv
    return IdleHolder(port, count, argv=argv)


def hold_idle(port, count, batch=200, deadline_s=90):
    raise_nofile(count + 100)
    request = b"GET /small HTTP/1.1\r\nHost: bench\r\n\r\n"
    held, failed = [], 0
    deadline = time.monotonic() + deadline_s
    sel = selectors.DefaultSelector()
    started = 0
    while started < count and time.monotonic() < deadline:
        pending = {}
        for _ in range(min(batch, count - started)):
            started += 1
            s = socket.socket()
            s.setblocking(False)
            rc = s.connect_ex(("127.0.0.1", port))
            if rc not in (0, errno.EINPROGRESS):
                s.close()
                failed += 1
                continue
            pending[s] = [b"", False]                # bytes read, request sent
            sel.register(s, selectors.EVENT_WRITE)
        while pending and time.monotonic() < deadline:
            for key, ev in sel.select(1):
                s = key.fileobj
                buf, sent = pending[s]
                try:
                    if not sent:
                        if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                            raise OSError("connect")
                        s.sendall(request)
                        pending[s][1] = True
                        sel.modify(s, selectors.EVENT_READ)
                        continue
                    data = s.recv(4096)
                    if not data:
                        raise OSError("closed")
                    buf += data
                    pending[s][0] = buf
                    head, sep, body = buf.partition(b"\r\n\r\n")
                    if sep:
                        length = 0
                        for line in head.split(b"\r\n")[1:]:
                            k, _, v = line.partition(b":")
                            if k.strip().lower() == b"content-length":
                                length = int(v)
                        if len(body) >= length:
                            if not head.startswith(b"HTTP/1.1 200"):
                                raise OSError(head.split(b"\r\n")[0].decode("latin-1"))
                            sel.unregister(s)
                            del pending[s]
                            held.append(s)
                except OSError:
                    sel.unregister(s)
                    del pending[s]
                    s.close()
                    failed += 1
        for s in list(pending):
            sel.unregister(s)
            s.close()
            failed += 1
    print(f"ready {len(held)} {failed}", flush=True)
    try:
        sys.stdin.read()                            # until bench/run closes our stdin
    except KeyboardInterrupt:
        pass
    for s in held:
        s.close()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "idle":
        hold_idle(int(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit(__doc__)
