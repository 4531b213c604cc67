"""The data plane end to end: the real gaapd between raw-socket clients and origins that
misbehave on command (bad_origin.py). Framing and smuggling defences, forwarding headers,
keep-alive and pipelining, the origin pool and its stale-connection retry, failover, schedulers,
error statuses, limits, timeouts and the access log.

Timeouts in the configurations are small (hundreds of milliseconds) so that the tests are quick;
the tests wait generously and assert only on statuses and behaviour, never on durations.
"""
import os
import re
import socket
import time
import unittest

from bad_origin import BadOrigin
from harness import Gaapd, free_port

WAIT = 10       # seconds any single read may take before the test gives up


def proxy_config(proxies, http):
    """gaapd.yaml text: one worker (so that pooled origin connections are shared by every client
    connection), signature auth, the given http keys and proxies [(id, origins, scheduler)]."""
    lines = ["node:", "  workers: 1", "  state_dir: state", "  log_level: info",
             "control:", "  listen: 127.0.0.1:0", "  auth: signature",
             "  credentials_file: credentials", "  rate_limit: 1000000", "http:"]
    lines += [f"  {k}: {v}" for k, v in http.items()]
    lines.append("proxies:")
    for pid, origins, sched in proxies:
        lines += [f"  - id: {pid}", "    max_listeners: 50", f"    scheduler: {sched}",
                  "    origins: [" + ", ".join(origins) + "]"]
    return "\n".join(lines) + "\n"


def closed_port():
    """A loopback port nothing listens on: connections to it are refused."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def connect(port, rcvbuf=None):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(WAIT)
    s.connect(("127.0.0.1", port))
    return s


def read_all(s, limit=64 << 20):
    """Everything until the proxy closes; (data, closed). closed is False after a timeout."""
    data = b""
    try:
        while len(data) < limit:
            chunk = s.recv(65536)
            if not chunk:
                return data, True
            data += chunk
    except socket.timeout:
        return data, False
    except ConnectionResetError:
        return data, "reset"
    return data, False


def exchange(port, data, **kw):
    """data on a new connection; everything the proxy sends until it closes."""
    with connect(port, **kw) as s:
        s.sendall(data)
        return read_all(s)


class Response:
    def __init__(self, status, headers, body, complete):
        self.status, self.headers, self.body, self.complete = status, headers, body, complete

    def header(self, name):
        vals = [v for k, v in self.headers if k.lower() == name.lower()]
        return vals[0] if vals else None

    def __repr__(self):
        return f"<{self.status} {self.headers} {self.body[:60]!r} complete={self.complete}>"


def parse_chunked(data, i):
    body = b""
    while True:
        end = data.find(b"\r\n", i)
        if end < 0:
            return body, i, False
        size = int(data[i:end].split(b";")[0], 16)
        i = end + 2
        if size == 0:
            end = data.find(b"\r\n", i)
            return body, end + 2, end >= 0
        if len(data) < i + size + 2:
            return body + data[i:], len(data), False
        body += data[i:i + size]
        i += size + 2


def parse_responses(data, methods=()):
    """The responses in data, in order (1xx included); methods[i] of the i-th final one."""
    out, i, final = [], 0, 0
    while i < len(data):
        end = data.find(b"\r\n\r\n", i)
        if end < 0:
            out.append(Response(0, [], data[i:], False))
            break
        lines = data[i:end].decode("latin-1").split("\r\n")
        i = end + 4
        status = int(lines[0].split()[1])
        headers = [tuple(x.strip() for x in l.split(":", 1)) for l in lines[1:]]
        r = Response(status, headers, b"", True)
        method = methods[final] if final < len(methods) else "GET"
        if status >= 200:
            final += 1
        if status < 200 or status in (204, 304) or method == "HEAD":
            pass
        elif (r.header("transfer-encoding") or "").lower() == "chunked":
            r.body, i, r.complete = parse_chunked(data, i)
        elif r.header("content-length") is not None:
            n = int(r.header("content-length"))
            r.body, r.complete = data[i:i + n], len(data) >= i + n
            i += n
        else:
            r.body, i = data[i:], len(data)
        out.append(r)
    return out


def get(path, host="t", extra=""):
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()


class ProxyCase(unittest.TestCase):
    """One gaapd per class with its origins and listeners; SIGTERM exit 0 and no error lines."""
    http = {}
    allowed_errors = ()

    @classmethod
    def origins(cls):
        """{name: BadOrigin}; the proxies use them by name."""
        return {"main": BadOrigin("main")}

    @classmethod
    def proxies(cls, o):
        return [("link-main", [f"127.0.0.1:{o['main'].port}"], "rr")]

    @classmethod
    def setUpClass(cls):
        cls.o = cls.origins()
        base = {"client_header_timeout": 1000, "client_keepalive_timeout": 2000,
                "origin_connect_timeout": 1000, "origin_response_timeout": 500,
                "client_send_timeout": 500, "linger_timeout": 300,
                "origin_fail_timeout": 60000, "access_log": "access.log"}
        base.update(cls.http)
        cls.g = Gaapd(config_text=proxy_config(cls.proxies(cls.o), base))
        try:
            cls.g.start()
            cls.ports = {}
            for pid, _, _ in cls.proxies(cls.o):
                port = free_port()
                resp = cls.g.create(port, name=pid, proxy=pid)
                assert "ListenerId" in resp, resp
                cls.ports[pid] = port
        except Exception:
            cls.g.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.g.proc.poll() is None:
                cls.g.stop()
            errors = [l for l in cls.g.log_text().splitlines()
                      if l.startswith("<3>") and not any(a in l for a in cls.allowed_errors)]
            assert errors == [], f"error lines in the gaapd log: {errors}"
        finally:
            cls.g.cleanup()
            for o in cls.o.values():
                o.close()

    def port(self, pid="link-main"):
        return self.ports[pid]

    def one(self, data, pid="link-main", **kw):
        """The single response to data, and whether the proxy then closed."""
        got, closed = exchange(self.port(pid), data, **kw)
        rs = parse_responses(got)
        self.assertEqual(len(rs), 1, got)
        return rs[0], closed

    def wait_for(self, cond, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return True
            time.sleep(0.02)
        return cond()


AMBIGUOUS = [
    b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3\r\nabc\r\n0\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
    b"3\r\nabc\r\n0\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n"
    b"0\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:  xchunked\r\n\r\n0\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\tchunked\t,\tchunked\r\n\r\n0\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked;x\r\n\r\n0\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\tx\tchunked\r\n\r\n0\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\x0c\r\n\r\n0\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: identity\r\nContent-Length: 3\r\n\r\nabc",
    b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 3\r\n\r\nabc",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: +3\r\n\r\nabc",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0x3\r\n\r\nabc",
    b"GET / HTTP/1.1\nHost: t\n\n",
    b"GET / HTTP/1.1\r\nHost: t\r\n\n",
    b"GET / HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: t\r\nX: a\0b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: t\r\nX:\r\n b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: t\r\nX : y\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: t\r\n: y\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",             # Host: not a uri-host [":" port]
    b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a:\r\n\r\n",
    b"GET ftp://a.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n",   # absolute-form: http(s)
    b"GET http://u@a.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n",
    b"GET / HTTP/2.0\r\nHost: t\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    b"Content-Length: 0\r\n\r\n",
    b"CONNECT t:443 HTTP/1.1\r\nHost: t:443\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"ffffffffffffffffff\r\nabc\r\n0\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX0\r\n\r\n",
]


class Framing(ProxyCase):
    def test_ambiguous_requests_get_400_close_and_never_reach_the_origin(self):
        seen = self.o["main"].seen()
        for req in AMBIGUOUS:
            with self.subTest(req=req):
                r, closed = self.one(req)
                self.assertEqual(r.status, 400)
                self.assertTrue(closed)
        self.assertEqual(self.o["main"].seen(), seen)
        r, _ = self.one(get("/conn", extra="Connection: close\r\n"))
        self.assertEqual(r.status, 200)

    def test_absolute_form_target_forwards_its_authority_as_host(self):
        r, _ = self.one(b"GET http://a.example:81/headers?q=1 HTTP/1.1\r\nHost: b.example\r\n"
                        b"Connection: close\r\n\r\n")
        self.assertEqual(r.status, 200)
        head = r.body.decode("latin-1")
        self.assertTrue(head.startswith("GET /headers?q=1 HTTP/1.1\r\n"), head)
        self.assertIn("\r\nHost: a.example:81\r\n", head)
        self.assertNotIn("b.example", head)

    def test_chunked_between_tabs_is_chunked_both_ways(self):
        # HTAB is OWS (RFC 9110 5.5): the body is framed as chunked, and the connection carries
        # on with the next request
        got, closed = exchange(self.port(), b"POST /echo HTTP/1.1\r\nHost: t\r\n"
                               b"Transfer-Encoding:\tchunked\t\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                               + get("/chunked-tab") + get("/conn", extra="Connection: close\r\n"))
        rs = parse_responses(got)
        self.assertEqual([(r.status, r.body) for r in rs][:2], [(200, b"hello"), (200, b"hello")],
                         rs)
        self.assertEqual(len(rs), 3, rs)
        self.assertEqual(rs[2].status, 200)
        self.assertTrue(closed)

    def test_hop_by_hop_removed_forwarding_headers_set_target_byte_for_byte(self):
        target = "/headers?p=/%2F..;x/./a&q=1&r=%41&s=%zz&t=a+b"
        r, _ = self.one(
            f"GET {target} HTTP/1.1\r\nHost: example.test:8080\r\n"
            "Connection: keep-alive, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\n"
            "TE: trailers\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\nTrailer: X\r\n"
            "X-Forwarded-For: 192.0.2.1\r\nX-Real-IP: 192.0.2.99\r\nX-End: e \r\n"
            "Connection: close\r\n\r\n".encode())
        self.assertEqual(r.status, 200)
        head = r.body.decode("latin-1")
        self.assertTrue(head.startswith(f"GET {target} HTTP/1.1\r\n"), head)
        self.assertIn("\r\nHost: example.test:8080\r\n", head)
        for hop in ("X-Secret", "Keep-Alive", "TE:", "Proxy-Connection", "Upgrade", "Trailer"):
            self.assertNotIn(hop, head)
        self.assertIn("\r\nX-Forwarded-For: 192.0.2.1, 127.0.0.1\r\n", head)
        self.assertIn("\r\nX-Real-IP: 127.0.0.1\r\n", head)
        self.assertNotIn("192.0.2.99", head)
        self.assertIn("\r\nX-End: e\r\n", head)

    def test_pipelined_requests_answered_in_order_with_bodiless_responses(self):
        data = (get("/conn") + b"HEAD /big?n=10 HTTP/1.1\r\nHost: t\r\n\r\n" + get("/204cl")
                + get("/304cl") + b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked"
                b"\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n" + get("/chunked")
                + get("/echo", extra="Content-Length: 2\r\nConnection: close\r\n") + b"hi")
        got, closed = exchange(self.port(), data)
        rs = parse_responses(got, ["GET", "HEAD", "GET", "GET", "POST", "GET", "GET"])
        self.assertTrue(closed)
        self.assertEqual([r.status for r in rs], [200, 200, 204, 304, 200, 200, 200], rs)
        self.assertTrue(all(r.complete for r in rs), rs)
        self.assertEqual(rs[1].header("content-length"), "10")
        self.assertIsNone(rs[2].header("content-length"))
        self.assertEqual(rs[3].header("content-length"), "5")
        self.assertEqual(rs[4].body, b"abcde")
        self.assertEqual(rs[5].body, b"hello chunked world")
        self.assertEqual(rs[6].body, b"hi")
        self.assertEqual(rs[6].header("connection"), "close")

    def test_expect_100_continue(self):
        with connect(self.port()) as s:
            s.sendall(b"POST /continue HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                      b"Content-Length: 5\r\nConnection: close\r\n\r\n")
            first = s.recv(65536)
            self.assertTrue(first.startswith(b"HTTP/1.1 100 "), first)
            s.sendall(b"hello")
            rest, _ = read_all(s)
        rs = parse_responses(first + rest)
        self.assertEqual([r.status for r in rs], [100, 200])
        self.assertEqual(rs[1].body, b"hello")

    def test_http10_keep_alive_rules(self):
        r, closed = self.one(b"GET /conn HTTP/1.0\r\n\r\n")
        self.assertEqual((r.status, r.header("connection"), closed), (200, "close", True))
        with connect(self.port()) as s:
            s.sendall(b"GET /conn HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            s.sendall(b"GET /close HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            got, closed = read_all(s)
        rs = parse_responses(got)
        self.assertEqual(rs[0].header("connection"), "keep-alive")
        self.assertEqual(rs[1].body, b"until the end")      # no chunking for HTTP/1.0
        self.assertTrue(closed)

    def test_read_until_close_body_is_chunked_for_a_keep_alive_client(self):
        with connect(self.port()) as s:
            s.sendall(get("/close") + get("/conn", extra="Connection: close\r\n"))
            got, _ = read_all(s)
        rs = parse_responses(got)
        self.assertEqual(rs[0].header("transfer-encoding"), "chunked")
        self.assertEqual(rs[0].body, b"until the end")
        self.assertEqual(rs[1].status, 200)


class OriginErrors(ProxyCase):
    @classmethod
    def origins(cls):
        return {"main": BadOrigin("main"), "a": BadOrigin("a"), "b": BadOrigin("b"),
                "c": BadOrigin("c"), "d": BadOrigin("d"), "hang": BadOrigin("hang")}

    @classmethod
    def proxies(cls, o):
        down = f"127.0.0.1:{closed_port()}"
        return [("link-main", [f"127.0.0.1:{o['main'].port}"], "rr"),
                ("link-duo", [down, f"127.0.0.1:{o['main'].port}"], "rr"),
                ("link-dead", [down], "rr"),
                ("link-hang", [f"127.0.0.1:{o['hang'].port}"], "rr"),
                ("link-rr", [f"127.0.0.1:{o['a'].port}", f"127.0.0.1:{o['b'].port}"], "rr"),
                ("link-wrr", [f"127.0.0.1:{o['c'].port} weight=3",
                              f"127.0.0.1:{o['d'].port}"], "wrr")]

    def test_ambiguous_or_malformed_responses_are_502_and_the_connection_discarded(self):
        for name in ("dup-cl", "cl-te", "te-gzip", "te-chunked-gzip", "bare-lf", "fold",
                     "bad-cl", "http2", "garbage", "101"):
            with self.subTest(name=name):
                r, closed = self.one(get(f"/bad/{name}"))
                self.assertEqual((r.status, closed), (502, True))
        r, _ = self.one(get("/conn", extra="Connection: close\r\n"))
        self.assertEqual(r.status, 200)

    def test_no_answer_within_the_response_timeout_is_504(self):
        r, closed = self.one(get("/hang"), pid="link-hang")
        self.assertEqual((r.status, closed), (504, True))
        r, _ = self.one(get("/conn"), pid="link-hang")  # the only origin: never skipped
        self.assertEqual(r.status, 200)

    def test_closed_without_an_answer_is_502(self):
        r, closed = self.one(get("/close-now"))
        self.assertEqual((r.status, closed), (502, True))

    def test_origin_closing_mid_body_closes_the_client_connection(self):
        got, closed = exchange(self.port(), get("/close-mid") + get("/conn"))
        rs = parse_responses(got)
        self.assertEqual(len(rs), 1, rs)
        self.assertEqual(rs[0].status, 200)
        self.assertFalse(rs[0].complete)
        self.assertTrue(closed)

    def test_pool_is_shared_by_client_connections(self):
        bodies = set()
        for _ in range(4):
            r, _ = self.one(get("/conn", extra="Connection: close\r\n"))
            bodies.add(r.body)
        self.assertEqual(len(bodies), 1, bodies)     # one origin connection served all four

    def test_stale_pooled_connection_retried_once_for_idempotent_requests(self):
        def posts():
            return len([r for r in self.o["main"].requests if r.body == b"stale?"])
        with connect(self.port()) as s:
            s.sendall(get("/drop-next"))
            s.sendall(get("/conn"))             # meets the connection the origin closed
            s.sendall(get("/drop-next"))
            s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nstale?")
            got, closed = read_all(s)
        rs = parse_responses(got)
        self.assertEqual([r.status for r in rs], [200, 200, 200, 502], rs)
        self.assertTrue(closed)
        self.assertEqual(posts(), 1)        # it reached the origin once, and is never resent

    def test_a_refusing_origin_is_skipped(self):
        for _ in range(4):
            r, _ = self.one(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
                            b"Connection: close\r\n\r\nhi", pid="link-duo")
            self.assertEqual((r.status, r.body), (200, b"hi"))
        self.assertIn("down for 60000 ms", self.g.log_text())

    def test_a_dead_single_origin_is_tried_by_every_request(self):
        before = self.g.log_text().count("origin connect failed")
        for _ in range(3):
            r, closed = self.one(get("/conn"), pid="link-dead")
            self.assertEqual((r.status, closed), (502, True))
        self.assertGreaterEqual(self.g.log_text().count("origin connect failed") - before, 3)
        self.assertNotIn("no origin available", self.g.log_text())

    def test_rr_alternates(self):
        names = [self.one(get("/conn", extra="Connection: close\r\n"), pid="link-rr")[0]
                 .body.split()[0] for _ in range(6)]
        self.assertEqual(names.count(b"a"), 3, names)
        self.assertEqual(names.count(b"b"), 3, names)

    def test_wrr_follows_the_weights(self):
        names = [self.one(get("/conn", extra="Connection: close\r\n"), pid="link-wrr")[0]
                 .body.split()[0] for _ in range(8)]
        self.assertEqual(names.count(b"c"), 6, names)
        self.assertEqual(names.count(b"d"), 2, names)

    def test_access_log_has_one_line_per_request(self):
        self.one(get("/conn?log=%22me%22", extra="Connection: close\r\n"))
        path = os.path.join(self.g.dir, "access.log")
        pattern = (r"time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z listener=listener-[0-9a-z]+ "
                   r"client=127\.0\.0\.1:\d+ method=GET target=\"/conn\?log=%22me%22\" "
                   r"status=200 bytes=\d+ origin=127\.0\.0\.1:\d+ ttfb_ms=[\d.]+ total_ms=[\d.]+")
        def text():
            if not os.path.exists(path):
                return "no access log"
            with open(path) as f:
                return f.read()
        self.assertTrue(self.wait_for(lambda: re.search(pattern, text())), text())


class PassiveHealth(ProxyCase):
    """The defaults (origin_max_fails 1, origin_fail_timeout 10 s): an origin that refused once is
    skipped while another answers, but never when nothing else is left, and the first answer
    puts it back at once."""
    http = {"origin_fail_timeout": 10000}   # the default, over ProxyCase's 60 s

    @classmethod
    def origins(cls):
        cls.solo_port, cls.duo_ports = closed_port(), (closed_port(), closed_port())
        return {"main": BadOrigin("main")}

    @classmethod
    def proxies(cls, o):
        return [("link-main", [f"127.0.0.1:{o['main'].port}"], "rr"),
                ("link-solo", [f"127.0.0.1:{cls.solo_port}"], "rr"),
                ("link-duo", [f"127.0.0.1:{p}" for p in cls.duo_ports], "rr")]

    def get_conn(self, pid):
        return self.one(get("/conn", extra="Connection: close\r\n"), pid=pid)[0]

    def test_a_restarted_single_origin_answers_the_very_next_request(self):
        self.assertEqual(self.get_conn("link-solo").status, 502)       # stopped
        origin = BadOrigin("solo", port=self.solo_port)                # started again
        try:
            r = self.get_conn("link-solo")
            self.assertEqual((r.status, r.body.split()[0]), (200, b"solo"))
        finally:
            origin.close()

    def test_when_every_origin_is_down_they_are_still_tried(self):
        self.assertEqual(self.get_conn("link-duo").status, 502)        # both refuse: both out
        self.assertEqual(self.g.log_text().count("down for 10000 ms"), 2)
        origin = BadOrigin("second", port=self.duo_ports[1])
        try:
            r = self.get_conn("link-duo")
            self.assertEqual((r.status, r.body.split()[0]), (200, b"second"))
            self.assertIn("answering again, back in service", self.g.log_text())
            m = self.g.raw("GET", target="/metrics")[2].decode()
            first, second = (f'proxy="link-duo",origin="127.0.0.1:{p}"' for p in self.duo_ports)
            for labels, ejected, recovered in ((first, 1, 0), (second, 1, 1)):
                self.assertRegex(m, r'gaapd_origin_ejections_total\{listener="listener-[0-9a-z]+",'
                                 + re.escape(labels) + rf'\}} {ejected}\n')
                self.assertRegex(m, r'gaapd_origin_recoveries_total\{listener="listener-[0-9a-z]+",'
                                 + re.escape(labels) + rf'\}} {recovered}\n')
        finally:
            origin.close()


class SharedServers(ProxyCase):
    """Real servers are the node's (daemon/upstream/), not each listener's: an origin that one
    listener found refusing is skipped by every listener naming it, and a reload that keeps the
    origin keeps what was learnt. The transition counts on the listener that caused it."""

    @classmethod
    def origins(cls):
        cls.down = f"127.0.0.1:{closed_port()}"     # once: proxies() is called twice
        return {"main": BadOrigin("main")}

    @classmethod
    def proxies(cls, o):
        main = f"127.0.0.1:{o['main'].port}"
        return [("link-a", [cls.down, main], "rr"), ("link-b", [cls.down, main], "rr")]

    def refusals(self):
        return self.g.log_text().count("Connection refused; trying")

    def get_ok(self, pid):
        r, _ = self.one(get("/conn", extra="Connection: close\r\n"), pid=pid)
        self.assertEqual(r.status, 200)

    def test_one_listeners_failure_spares_the_others_and_survives_a_reload(self):
        for _ in range(2):          # rr: one of the two meets the refusing origin
            self.get_ok("link-a")
        self.assertEqual((self.refusals(), self.g.log_text().count("down for 60000 ms")), (1, 1))
        for _ in range(4):
            self.get_ok("link-b")   # never tries it: link-a took it out for the node
        self.g.reload("reload applied")
        for pid in ("link-a", "link-b", "link-a", "link-b"):
            self.get_ok(pid)        # the new routes find the server still out
        self.assertEqual((self.refusals(), self.g.log_text().count("down for 60000 ms")), (1, 1))
        m = self.g.raw("GET", target="/metrics")[2].decode()
        for pid, ejected in (("link-a", 1), ("link-b", 0)):
            self.assertRegex(m, r'gaapd_origin_ejections_total\{listener="listener-[0-9a-z]+",'
                             + re.escape(f'proxy="{pid}",origin="{self.down}"') + rf'\}} {ejected}\n')


class Limits(ProxyCase):
    http = {"client_header_timeout": 300, "client_keepalive_timeout": 300,
            "max_request_line": 256, "max_headers": 10, "max_header_size": 2048,
            "max_body_size": 1000, "max_connections_per_listener": 3}

    @classmethod
    def proxies(cls, o):
        return [("link-main", [f"127.0.0.1:{o['main'].port}"], "rr"),
                ("link-few", [f"127.0.0.1:{o['main'].port}"], "rr")]

    def test_request_line_header_and_body_limits(self):
        seen = self.o["main"].seen()
        cases = [(get("/" + "a" * 300), 414),
                 (get("/", extra="".join(f"X-{i}: v\r\n" for i in range(12))), 431),
                 (get("/", extra="X: " + "v" * 3000 + "\r\n"), 431),
                 (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n", 413)]
        for req, status in cases:
            with self.subTest(status=status):
                r, closed = self.one(req)
                self.assertEqual((r.status, closed), (status, True))
        self.assertEqual(self.o["main"].seen(), seen)     # refused before any origin saw it
        chunk = b"1f4\r\n" + b"z" * 500 + b"\r\n"
        r, closed = self.one(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                             b"\r\n" + chunk * 3 + b"0\r\n\r\n")
        self.assertEqual((r.status, closed), (413, True))
        r, _ = self.one(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n"
                        b"Connection: close\r\n\r\n" + b"k" * 1000)
        self.assertEqual((r.status, len(r.body)), (200, 1000))

    def test_error_reply_survives_an_upload_in_progress(self):
        with connect(self.port()) as s:
            s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\n")
            s.sendall(b"u" * 200000)
            got, _ = read_all(s)
        self.assertTrue(got.startswith(b"HTTP/1.1 413 "), got[:100])

    def test_slow_headers_get_408_and_idle_keep_alive_closes(self):
        with connect(self.port()) as s:
            for b in b"GET /conn HTTP/1.1\r\nHo":      # slowloris: a byte at a time
                try:
                    s.sendall(bytes([b]))
                except OSError:
                    break
                time.sleep(0.05)
            got, closed = read_all(s)
        self.assertTrue(got.startswith(b"HTTP/1.1 408 "), got)
        self.assertTrue(closed)
        with connect(self.port()) as s:
            s.sendall(get("/conn"))
            got, closed = read_all(s)          # the answer, then silence: closed when idle
        self.assertEqual(parse_responses(got)[0].status, 200)
        self.assertTrue(closed)

    def test_slow_reader_is_cut_after_the_send_timeout(self):
        with connect(self.port(), rcvbuf=4096) as s:
            s.sendall(get("/big?n=67108864"))
            time.sleep(3)                       # far past the 500 ms send timeout
            got, closed = read_all(s)
        self.assertTrue(closed)
        self.assertLess(len(got), 67108864)

    def test_connections_over_the_listener_limit_are_refused(self):
        held = [connect(self.port("link-few")) for _ in range(3)]
        try:
            for s in held:                      # each of them is served and kept alive
                s.sendall(get("/conn"))
                self.assertTrue(s.recv(65536).startswith(b"HTTP/1.1 200 "))
            got, closed = exchange(self.port("link-few"), get("/conn"))
            self.assertTrue(got.startswith(b"HTTP/1.1 503 ") or got == b"", got)
            self.assertTrue(closed)
        finally:
            for s in held:
                s.close()


if __name__ == "__main__":
    unittest.main()



class ClientsThatHangUp(ProxyCase):
    """A client that reads part of a response and closes (the kernel answers the rest with a
    reset) must not leave its connection behind: it once waited for ever for a flush libevent
    had already given up on."""

    def open_connections(self):
        status, _, body = self.g.raw("GET", target="/metrics")
        m = re.search(r'gaapd_connections_open\{listener="[^"]+"\} (\d+)', body.decode())
        return int(m.group(1)) if m else 0

    def test_a_reset_mid_response_frees_the_connection(self):
        for _ in range(30):
            with socket.create_connection(("127.0.0.1", self.port()), timeout=5) as s:
                s.sendall(b"GET /big?n=200000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                s.recv(64)
        self.assertTrue(self.wait_for(lambda: self.open_connections() == 0),
                        f"{self.open_connections()} connections still open")
