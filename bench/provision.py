#!/usr/bin/env python3
"""Provisioning benchmark: how fast a CreateHTTPListener call turns into a serving port.

Measures, against a freshly started gaapd on loopback (signed TC3 calls, as a client would send):
  1. create-to-serve latency: from sending CreateHTTPListener to the first proxied 200 on the
     new port, N_FIRST samples (default 200) with each of two API clients, interleaved sample by
     sample (the order alternating, so that neither always meets the smaller state file; the
     state holds up to 2 x N_FIRST listeners by the end):
       - new connection: Gaapd.call (tests/e2e/harness.py), http.client with a new TCP connection
         per call;
       - keep-alive: KeepAliveClient below, one kept TCP connection for every call, as the
         official SDKs reuse theirs;
     the GET on the new port is a new connection either way (the port is new);
  2. the floors, interleaved, min(N_FIRST, 100) rounds: the client floor of each client (a
     signed DescribeHTTPListeners, which changes nothing, + a first GET on a port already
     serving) and the durability floor (what gaapd's state store must do before it answers a
     create: write one journal entry with pwrite into a preallocated segment, fdatasync; in a
     temporary directory beside gaapd's state directory, so on the same filesystem);
  3. N_CREATES creates one call at a time (default 1000, the new-connection client, on top of
     the 2 x N_FIRST listeners of 1.): total, per call, and gaapd's RSS growth per listener;
  4. group commit (--clients, default 16; a second fresh gaapd): 800 creates by one keep-alive
     client one at a time against the same by 16 clients at once, interleaved 3 times; creates
     per second and fdatasyncs per create (gaapd_state_syncs_total).
Bounded: every socket has a timeout, the counts are fixed, gaapd is stopped at the end.

Usage: bench/provision.py [--gaapd build/gaapd] [--first 200] [--creates 1000] [--clients 16]
bench/run calls measure() for its workload (f).
"""
import argparse
import json
import os
import select
import shutil
import socket
import statistics
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from harness import (PROXY, SECRET_ID, SECRET_KEY, Gaapd, Origin, check_envelope,  # noqa: E402
                     error_code, raw_request, sign_tc3)


class KeepAliveClient:
    """Signed TC3 calls to gaapd's control port over one kept HTTP/1.1 connection: the request as
    raw bytes with a fresh signature and the headers Gaapd.call sends, the response read by its
    Content-Length, its envelope checked. Before reusing the connection it checks that gaapd has
    not closed it (readable while idle = closed, as urllib3 does) and reconnects; a reused
    connection that dies before any byte of the answer arrived is retried once on a new one.
    connects counts the TCP connections opened."""

    def __init__(self, port, timeout=10):
        self.port = port
        self.host = f"127.0.0.1:{port}"
        self.timeout = timeout
        self.sock = None
        self.poll = None
        self.buf = b""
        self.connects = 0

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.sock = self.poll = None
        self.buf = b""

    def call(self, action, params):
        """The "Response" object, as Gaapd.call returns it."""
        body = json.dumps(params).encode()
        headers = sign_tc3(SECRET_KEY, SECRET_ID, action, body, self.host, int(time.time()))
        headers["Host"] = self.host
        request = raw_request("POST", "/", body, headers)
        reused = self._ready()
        try:
            self.sock.sendall(request)
            status, ctype, data, close = self._response()
        except (ConnectionError, EOFError):
            partial = bool(self.buf)
            self.close()
            if not reused or partial:
                raise
            self._ready()
            self.sock.sendall(request)
            status, ctype, data, close = self._response()
        if close:
            self.close()
        return check_envelope(status, ctype, data)

    def create(self, port, name="listener-1"):
        return self.call("CreateHTTPListener", {"ListenerName": name, "Port": port,
                                                "ProxyId": PROXY})

    def call_pipelined(self, calls):
        """[(action, params)] sent in one write on the kept connection, each signed; their
        "Response" objects in order (HTTP/1.1 pipelining: gaapd answers them in turn). No retry:
        a connection that closes before the last answer raises."""
        requests = []
        for action, params in calls:
            body = json.dumps(params).encode()
            headers = sign_tc3(SECRET_KEY, SECRET_ID, action, body, self.host, int(time.time()))
            headers["Host"] = self.host
            requests.append(raw_request("POST", "/", body, headers))
        self._ready()
        self.sock.sendall(b"".join(requests))
        out = []
        for i in range(len(requests)):
            status, ctype, data, close = self._response()
            out.append(check_envelope(status, ctype, data))
            if close:
                self.close()
                if i + 1 < len(requests):
                    raise EOFError(f"gaapd closed the connection after {i + 1} of "
                                   f"{len(requests)} pipelined calls")
        return out

    def _ready(self):
        """Connects if there is no usable connection; True if the one there is gets reused."""
        if self.sock is not None and self.poll.poll(0):
            self.close()                    # idle and readable: gaapd closed it
        if self.sock is not None:
            return True
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.poll = select.poll()
        self.poll.register(self.sock, select.POLLIN)
        self.connects += 1
        return False

    def _recv(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("gaapd closed the control connection")
        self.buf += chunk

    def _response(self):
        """(status, content type, body, close after it); gaapd always sends a Content-Length."""
        while b"\r\n\r\n" not in self.buf:
            self._recv()
        head, rest = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        length = int(fields["content-length"])
        self.buf = rest
        while len(self.buf) < length:
            self._recv()
        data, self.buf = self.buf[:length], self.buf[length:]
        return (int(lines[0].split()[1]), fields.get("content-type"), data,
                fields.get("connection", "").lower() == "close")


class DurabilityFloor:
    """What gaapd's state store does before it answers a change (daemon/state/journal.c,
    jr_commit()), from Python: write one journal entry's bytes with pwrite at the tail of a
    preallocated segment, then fdatasync. In its own temporary directory inside parent (the same
    filesystem as gaapd's state directory); close() removes it."""

    SEGMENT = 4 << 20               # JR_SEGMENT_SIZE

    def __init__(self, parent):
        self.dir = tempfile.mkdtemp(prefix="fsync-floor-", dir=parent)
        self.dir_fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.fd = os.open("journal.log", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600,
                          dir_fd=self.dir_fd)
        os.posix_fallocate(self.fd, 0, self.SEGMENT)
        os.fsync(self.fd)
        self.tail = 0

    def round(self, data):
        """One entry of data's bytes; its time in ms."""
        if self.tail + len(data) > self.SEGMENT:
            self.tail = 0
        t0 = time.perf_counter()
        view = memoryview(data)
        while view:
            n = os.pwrite(self.fd, view, self.tail)
            view, self.tail = view[n:], self.tail + n
        os.fdatasync(self.fd)
        return (time.perf_counter() - t0) * 1000

    def close(self):
        os.close(self.fd)
        os.close(self.dir_fd)
        shutil.rmtree(self.dir, ignore_errors=True)


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


def create_to_first(create, port, name):
    """ms from sending the create to the first proxied 200 on the new port."""
    t0 = time.perf_counter()
    resp = create(port, name=name)
    if error_code(resp):
        raise RuntimeError(resp)
    first_response(port)
    return (time.perf_counter() - t0) * 1000


def state_bytes(g):
    """The bytes of one journal entry creating one of gaapd's listeners as they are now (16-byte
    header + the change as compact JSON; daemon/state/jr_int.h), for the durability floor."""
    import harness
    recs = [r for r in harness.dump_state(g)["records"] if r["kind"] == "listener"]
    rec = recs[-1] if recs else {"kind": "listener", "id": "listener-xxxxxxxx", "fields": {
        "ListenerId": "listener-xxxxxxxx", "ListenerName": "first-0", "Protocol": "HTTP",
        "ProxyId": PROXY, "GroupId": "", "Port": 30000, "CreateTime": 1795833763}}
    change = {"seq": 1000, "ops": [{"op": "put", **rec}]}
    return b"\xc7JR\x01" + b"\0" * 12 + json.dumps(change, separators=(",", ":")).encode()


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def measure(gaapd, first=200, creates=1000, origin_port=None, proxy_cpu=None, client_cpu=None):
    """One measurement against a fresh gaapd (workers: 1, journal state store); the figures as a dict.
    origin_port: an origin already running (else a Python one is started); proxy_cpu pins gaapd,
    client_cpu this process while it measures.
    Keys without a prefix are the new-connection client's (and the bulk creates'); keepalive_* are
    the keep-alive client's (its floor's GET is get_floor_ms: the same GET); fsync_* the
    durability floor's."""
    import harness
    harness.GAAPD = os.path.abspath(gaapd)
    origin = Origin() if origin_port is None else None
    port = origin.port if origin else origin_port
    total = 2 * first + creates
    pin = (lambda: os.sched_setaffinity(0, {proxy_cpu})) if proxy_cpu is not None else None
    g = Gaapd(workers=1, preexec_fn=pin, proxies=[{
        "id": PROXY, "max_listeners": total + 10, "origins": [f"127.0.0.1:{port}"]}])
    affinity = os.sched_getaffinity(0)
    ka = floor = None
    try:
        if client_cpu is not None:
            os.sched_setaffinity(0, {client_cpu})
        g.start()
        free = ports(total)
        ka = KeepAliveClient(g.port)
        ka.call("DescribeHTTPListeners", {"ProxyId": PROXY, "Limit": 1})    # opened untimed
        latencies, ka_latencies = [], []
        for i in range(first):
            pair = [(g.create, latencies, free[2 * i], f"first-{i}"),
                    (ka.create, ka_latencies, free[2 * i + 1], f"first-ka-{i}")]
            for create, out, p, name in (pair if i % 2 == 0 else pair[::-1]):
                out.append(create_to_first(create, p, name))
        # The floors: what each client costs on its own (a signed call that changes nothing, and
        # a first request on a port that already serves), and the cost of the state store's
        # durability (one journal entry of a listener as large as gaapd's are now).
        floor = DurabilityFloor(g.dir)
        data = state_bytes(g)
        floor.round(data)                   # warm: the first write to a fresh extent
        call_floor, get_floor, ka_call_floor, fsync_floor = [], [], [], []
        for i in range(min(first, 100)):
            t0 = time.perf_counter()
            g.call("DescribeHTTPListeners", {"ProxyId": PROXY, "Limit": 1})
            t1 = time.perf_counter()
            first_response(free[i])
            t2 = time.perf_counter()
            ka.call("DescribeHTTPListeners", {"ProxyId": PROXY, "Limit": 1})
            call_floor.append((t1 - t0) * 1000)
            get_floor.append((t2 - t1) * 1000)
            ka_call_floor.append((time.perf_counter() - t2) * 1000)
            fsync_floor.append(floor.round(data))
        ka_connects = ka.connects
        ka.close()
        rss_before = rss_kib(g.proc.pid)
        cpu_before = cpu_ticks(g.proc.pid)
        per_call = []
        t0 = time.perf_counter()
        for i in range(creates):
            t1 = time.perf_counter()
            resp = g.create(free[2 * first + i], name=f"bulk-{i}")
            per_call.append((time.perf_counter() - t1) * 1000)
            if error_code(resp):
                raise RuntimeError(resp)
        elapsed = time.perf_counter() - t0
        cpu_s = (cpu_ticks(g.proc.pid) - cpu_before) / os.sysconf("SC_CLK_TCK")
        rss_after = rss_kib(g.proc.pid)
        g.stop()
    finally:
        os.sched_setaffinity(0, affinity)
        if ka:
            ka.close()
        if floor:
            floor.close()
        g.cleanup()
        if origin:
            origin.close()
    med = lambda v: statistics.median(v) if v else None  # noqa: E731
    return {
        "first": first, "creates": creates, "latencies_ms": latencies,
        "first_p50_ms": med(latencies),
        "first_p99_ms": percentile(latencies, 99) if latencies else None,
        "call_floor_ms": med(call_floor), "get_floor_ms": med(get_floor),
        "creates_s": elapsed, "per_call_ms": elapsed / creates * 1000 if creates else None,
        "tenth": max(1, creates // 10),
        "first100_ms": statistics.mean(per_call[:max(1, creates // 10)]) if per_call else None,
        "last100_ms": statistics.mean(per_call[-max(1, creates // 10):]) if per_call else None,
        "gaapd_cpu_s": cpu_s, "rss_before_kib": rss_before, "rss_after_kib": rss_after,
        "rss_per_listener_kib": (rss_after - rss_before) / creates if creates else None,
        "keepalive_latencies_ms": ka_latencies,
        "keepalive_first_p50_ms": med(ka_latencies),
        "keepalive_first_p99_ms": percentile(ka_latencies, 99) if ka_latencies else None,
        "keepalive_call_floor_ms": med(ka_call_floor),
        "keepalive_connects": ka_connects,
        "fsync_floor_ms": med(fsync_floor),
        "fsync_floor_p99_ms": percentile(fsync_floor, 99) if fsync_floor else None,
        "fsync_bytes": len(data) if first else None,
    }


def metric(g, name):
    status, _, body = g.raw("GET", target="/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise RuntimeError(f"no {name} in /metrics")


def concurrent(gaapd, clients=16, each=50, rounds=3):
    """Group commit through the API: the same number of creates (clients x each) made by one
    keep-alive client one call at a time, and by `clients` keep-alive clients at once (a thread
    each, started together), interleaved `rounds` times against one fresh gaapd. Creates per
    second of each, and the fdatasyncs they took (gaapd_state_syncs_total)."""
    import threading
    import harness
    harness.GAAPD = os.path.abspath(gaapd)
    n = clients * each
    g = Gaapd(workers=1, proxies=[{"id": PROXY, "max_listeners": 2 * n * rounds + 10,
                                   "origins": ["127.0.0.1:1"]}])
    out = {"one": [], "many": [], "one_syncs": 0, "many_syncs": 0, "n": n, "clients": clients}
    try:
        g.start()
        free = iter(ports(2 * n * rounds))

        def run(k, todo):
            c = KeepAliveClient(g.port)
            try:
                for port in todo:
                    if error_code(c.create(port, name=f"c{k}-{port}")):
                        raise RuntimeError("create refused")
            finally:
                c.close()
        for _ in range(rounds):
            for mode in ("one", "many"):
                todo = [next(free) for _ in range(n)]
                parts = [todo] if mode == "one" else [todo[k::clients] for k in range(clients)]
                threads = [threading.Thread(target=run, args=(k, part))
                           for k, part in enumerate(parts)]
                syncs = metric(g, "gaapd_state_syncs_total")
                t0 = time.perf_counter()
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(120)
                out[mode].append(n / (time.perf_counter() - t0))
                out[mode + "_syncs"] += metric(g, "gaapd_state_syncs_total") - syncs
        g.stop()
    finally:
        g.cleanup()
    return out


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gaapd", default=os.environ.get("GAAPD", "build/gaapd"))
    ap.add_argument("--first", type=int, default=int(os.environ.get("N_FIRST", 200)))
    ap.add_argument("--creates", type=int, default=int(os.environ.get("N_CREATES", 1000)))
    ap.add_argument("--clients", type=int, default=16,
                    help="concurrent API clients for the group commit figure (0: skip it)")
    args = ap.parse_args()
    m = measure(args.gaapd, args.first, args.creates)
    c = concurrent(args.gaapd, args.clients) if args.clients > 0 else None

    def f(key, fmt="{:.2f}"):
        return "–" if m.get(key) is None else fmt.format(m[key])
    print(f"# gaapd provisioning ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, 1 worker,"
          f" journal state store, signed TC3 calls from Python)\n")
    print("| figure | value |\n|---|---|")
    for client, p in (("new connection per call (http.client)", ""),
                      ("keep-alive, one connection", "keepalive_")):
        print(f"| create-to-first-proxied-200, {client}: p50 ({args.first} samples) | "
              f"{f(p + 'first_p50_ms')} ms |")
        print(f"| create-to-first-proxied-200, {client}: p99 | {f(p + 'first_p99_ms')} ms |")
        print(f"| client floor, {client}, p50: a signed DescribeHTTPListeners + a GET on a "
              f"serving port | {f(p + 'call_floor_ms')} + {f('get_floor_ms')} ms |")
    print(f"| durability floor, p50 (p99): pwrite a {f('fsync_bytes', '{:,}')}-byte journal entry "
          f"into a preallocated segment, fdatasync | {f('fsync_floor_ms')} "
          f"({f('fsync_floor_p99_ms')}) ms |")
    print(f"| {args.creates} creates one call at a time | {f('creates_s')} s "
          f"({f('per_call_ms')} ms/call: first {m['tenth']} {f('first100_ms')}, last {m['tenth']} "
          f"{f('last100_ms')}; gaapd CPU {f('gaapd_cpu_s')} s) |")
    print(f"| RSS growth per idle listener | {f('rss_per_listener_kib', '{:.1f}')} KiB "
          f"({m['rss_before_kib']} -> {m['rss_after_kib']} KiB) |")
    if c is not None:
        med = statistics.median
        print(f"| group commit: {c['n']} creates by one keep-alive client, one call at a time "
              f"(median of {len(c['one'])}) | {med(c['one']):,.0f} creates/s, "
              f"{c['one_syncs'] / (c['n'] * len(c['one'])):.2f} fdatasyncs per create |")
        print(f"| group commit: the same by {c['clients']} keep-alive clients at once | "
              f"{med(c['many']):,.0f} creates/s ({med(c['many']) / med(c['one']):.2f}x), "
              f"{c['many_syncs'] / (c['n'] * len(c['many'])):.2f} fdatasyncs per create |")
    print(f"\nThe keep-alive client opened {m['keepalive_connects']} connection(s).")

if __name__ == "__main__":
    main()
