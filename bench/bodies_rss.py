#!/usr/bin/env python3
"""1 GiB through gaapd in each direction, and what it does to gaapd's memory.

A download (Content-Length) and a chunked upload of 1 GiB pass through one listener to a local
origin; prints gaapd's VmRSS and VmHWM before and after. Streaming with back-pressure keeps the
peak within a few MiB of the idle figure whatever the body size. Loopback only; needs curl.

Usage: bench/bodies_rss.py [path/to/gaapd]   (default: build/gaapd)
"""
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import harness  # noqa: E402
from harness import PROXY, Gaapd, free_port  # noqa: E402

harness.GAAPD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/gaapd")
GIB = 1 << 30
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(8)
oport = srv.getsockname()[1]
def handle(c):
    f = c.makefile("rb")
    line = f.readline(); hdrs = {}
    while True:
        l = f.readline()
        if l in (b"\r\n", b""): break
        k, v = l.decode().split(":", 1); hdrs[k.strip().lower()] = v.strip()
    if line.startswith(b"GET"):
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % GIB)
        buf = b"x" * (1 << 20)
        for _ in range(1024): c.sendall(buf)
    else:
        n = 0
        if hdrs.get("transfer-encoding") == "chunked":
            while True:
                size = int(f.readline().split(b";")[0], 16)
                if size == 0: f.readline(); break
                left = size
                while left:
                    d = f.read(min(left, 1 << 20)); left -= len(d); n += len(d)
                f.readline()
        else:
            left = int(hdrs.get("content-length", 0))
            while left:
                d = f.read(min(left, 1 << 20)); left -= len(d); n += len(d)
        body = str(n).encode()
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    c.close()
def serve():
    while True:
        c, _ = srv.accept(); threading.Thread(target=handle, args=(c,), daemon=True).start()
threading.Thread(target=serve, daemon=True).start()
g = Gaapd(workers=1, proxies=[{"id": PROXY, "origins": [f"127.0.0.1:{oport}"]}])
g.start(); p = free_port(); g.create(p)
def hwm():
    for l in open(f"/proc/{g.proc.pid}/status"):
        if l.startswith("VmHWM"): return int(l.split()[1])
def rss():
    for l in open(f"/proc/{g.proc.pid}/status"):
        if l.startswith("VmRSS"): return int(l.split()[1])
print("before: rss %d KiB hwm %d KiB" % (rss(), hwm()))
t = time.time()
r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", f"http://127.0.0.1:{p}/big"], capture_output=True, text=True)
print("download:", r.stdout, "%.1fs" % (time.time() - t), "rss %d hwm %d KiB" % (rss(), hwm()))
t = time.time()
r = subprocess.run("head -c 1073741824 /dev/zero | curl -s -T - -H 'Expect:' -X POST http://127.0.0.1:%d/up" % p, shell=True, capture_output=True, text=True)
print("upload (chunked):", r.stdout, "%.1fs" % (time.time() - t), "rss %d hwm %d KiB" % (rss(), hwm()))
g.stop(); g.cleanup()
