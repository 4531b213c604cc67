"""The control port under abuse (issue 17, item 1): no client, signed or not, makes gaapd hold
unbounded memory or descriptors, burn CPU or fill the log, or lock out another caller.

- a client that pipelines without reading stalls on its unsent answers; they all come, in order
- a body is admitted from its head: without credentials gaapd reads at most 32 KiB of it, and the
  bodies being received share one budget (control.max_buffered_bodies)
- a request's head and body each have a deadline (control.header_timeout, body_timeout)
- past control.max_connections the connection idle the longest makes room for a new caller
- out of descriptors, the control listener pauses instead of spinning, and logs a few lines
Every test runs a real gaapd on 127.0.0.1 with bounded counts and waits.
"""
import os
import re
import resource
import socket
import threading
import time
import unittest
from unittest import mock

from harness import SECRET_ID, Gaapd, GaapdTest, error_code, raw_request

MIB = 1 << 20


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1)) / 1024


def cpu_seconds(pid):
    """utime + stime of the process, seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def nofile(limit):
    """A preexec_fn giving gaapd a small descriptor limit."""
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))


def without_asan_quarantine():
    """Under ASan, freed memory waits in a quarantine (256 MiB) and stays resident: RSS would
    measure the quarantine, not what gaapd holds. Harmless for a build without ASan."""
    opts = os.environ.get("ASAN_OPTIONS", "")
    return mock.patch.dict(os.environ, {"ASAN_OPTIONS": (opts + ":" if opts else "") +
                                        "quarantine_size_mb=0"})


def read_answer(sock, timeout=5):
    """One HTTP answer (head and Content-Length body) from sock, or b"" if it closed first."""
    sock.settimeout(timeout)
    data = b""
    while True:
        if b"\r\n\r\n" in data:
            head, rest = data.split(b"\r\n\r\n", 1)
            m = re.search(rb"Content-Length: (\d+)", head)
            if m is None or len(rest) >= int(m.group(1)):
                return data
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def code_of(answer):
    m = re.search(rb'"Code":"([^"]*)"', answer)
    return m.group(1).decode() if m else None


def closed_by_peer(sock, timeout=5):
    """True once gaapd has closed sock (everything it still sent is read and dropped)."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


class CtlLimitTest(GaapdTest):
    """gaapd without an origin (these tests never proxy), one per test, its config from `config`."""

    def setUp(self):
        kw = dict(self.config)
        self.gaapd = Gaapd(**kw)
        self.addCleanup(self.gaapd.cleanup)
        if self.measures_rss:
            with without_asan_quarantine():
                self.gaapd.start()
        else:
            self.gaapd.start()
        self.pid = self.gaapd.proc.pid
        self.host = f"127.0.0.1:{self.gaapd.port}"

    measures_rss = False

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.gaapd.port), timeout=10)
        self.addCleanup(s.close)
        return s

    def call_ok(self, timeout=1):
        """A new caller's request is answered (an API envelope) within timeout seconds."""
        s = self.connect()
        s.sendall(raw_request("GET", "/?Action=X", headers={"Host": self.host}))
        answer = read_answer(s, timeout)
        self.assertEqual(code_of(answer), "MissingParameter", answer)


class PipelinedAnswers(CtlLimitTest):
    config = {"auth": "none"}
    measures_rss = True
    N = 15000

    def requests(self):
        """GET /metrics, and every tenth an API call that echoes its number (NoSuchVersion)."""
        out = []
        for i in range(self.N):
            target = f"/?Action=DescribeProxies&Version=v{i}" if i % 10 == 0 else "/metrics"
            out.append(f"GET {target} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        return b"".join(out)

    def test_a_client_that_pipelines_without_reading_holds_no_memory_then_gets_every_answer(self):
        s = self.connect()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        before = rss_mib(self.pid)
        sender = threading.Thread(target=s.sendall, args=(self.requests(),), daemon=True)
        sender.start()
        time.sleep(3)           # unbounded, gaapd had answered them all into memory by now
        grown = rss_mib(self.pid) - before
        self.assertLess(grown, 8, f"RSS grew {grown:.1f} MiB for a client that does not read")
        # Now it reads: every answer comes, in the order asked.
        s.settimeout(30)
        data, n = b"", 0
        while n < self.N:
            m = re.match(rb"HTTP/1.1 200 OK\r\n(.*?)\r\n\r\n", data, re.S)
            end = m and m.end() + int(re.search(rb"Content-Length: (\d+)", m.group(1)).group(1))
            if not m or len(data) < end:
                chunk = s.recv(1 << 20)
                self.assertTrue(chunk, f"closed after {n} answers")
                data += chunk
                continue
            body = data[m.end():end]
            if n % 10 == 0:
                self.assertIn(f"`v{n}`".encode(), body, f"answer {n} out of order")
            else:
                self.assertTrue(body.startswith(b"# HELP"), f"answer {n} out of order")
            data, n = data[end:], n + 1
        sender.join(10)
        self.assertEqual(data, b"")


class Bodies(CtlLimitTest):
    config = {"extra_control": "max_buffered_bodies: 4194304"}
    measures_rss = True

    def head(self, length, content_type="application/json", authorization=None, expect=False):
        h = f"POST / HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: {content_type}\r\n"
        if authorization:
            h += f"Authorization: {authorization}\r\nX-TC-Timestamp: {int(time.time())}\r\n"
        if expect:
            h += "Expect: 100-continue\r\n"
        return (h + f"Content-Length: {length}\r\n\r\n").encode()

    def known_key(self):
        """An Authorization naming the configured SecretId; its signature is wrong, which only
        the body's hash can tell."""
        return (f"TC3-HMAC-SHA256 Credential={SECRET_ID}/2024-01-01/gaap/tc3_request, "
                f"SignedHeaders=content-type;host, Signature={'0' * 64}")

    def test_bodies_without_credentials_are_refused_before_they_are_read(self):
        heads = [self.head(MIB), self.head(MIB, "application/x-www-form-urlencoded"),
                 self.head(MIB, authorization="TC3-HMAC-SHA256 Credential=AKIDNOBODY/2024-01-01/"
                           f"gaap/tc3_request, SignedHeaders=content-type;host, Signature={'0' * 64}")]
        expected = ["MissingParameter", "AuthFailure.SignatureFailure", "AuthFailure.SecretIdNotFound"]
        body = b"x" * (MIB - 1)       # one byte short: gaapd would wait for the rest
        before = rss_mib(self.pid)
        socks, threads = [], []

        def send(s, data):
            try:
                s.sendall(data)
            except OSError:
                pass                # gaapd answered and closed: it had no use for the rest
        for i in range(128):
            s = self.connect()
            socks.append(s)
            t = threading.Thread(target=send, args=(s, heads[i % 3] + body), daemon=True)
            t.start()
            threads.append(t)
        for t in threads:
            t.join(20)
        grown = rss_mib(self.pid) - before
        self.assertLess(grown, 8, f"RSS grew {grown:.1f} MiB for 128 bodies without credentials")
        for i, s in enumerate(socks):
            self.assertEqual(code_of(read_answer(s)), expected[i % 3], i)

    def test_a_v1_form_over_32_kib_gets_tencents_answer_without_being_read(self):
        s = self.connect()
        s.sendall(self.head(40000, "application/x-www-form-urlencoded"))
        answer = read_answer(s)
        self.assertEqual(code_of(answer), "AuthFailure.SignatureFailure", answer)
        self.assertIn(b"exceeding request size limit", answer)
        self.assertIn(b"Connection: close", answer)

    def test_bodies_with_a_known_secret_id_share_the_budget_and_the_newest_is_refused(self):
        admitted = []
        for i in range(8):
            s = self.connect()
            s.sendall(self.head(MIB, authorization=self.known_key(), expect=True))
            answer = read_answer(s)
            if i < 4:       # 4 MiB of budget: four 1 MiB bodies are let in ...
                self.assertEqual(answer, b"HTTP/1.1 100 Continue\r\n\r\n", i)
                s.sendall(b"x" * (MIB - 1))
                admitted.append(s)
            else:           # ... and the newest after them are refused unread
                self.assertEqual(code_of(answer), "ServiceUnavailable", (i, answer))
                self.assertIn(b"Connection: close", answer)
        # An admitted body is read whole and decided (its signature is wrong); its share of the
        # budget comes back, and the next body is let in again.
        admitted[0].sendall(b"x")
        self.assertEqual(code_of(read_answer(admitted[0])), "AuthFailure.SignatureFailure")
        s = self.connect()
        s.sendall(self.head(MIB, authorization=self.known_key(), expect=True))
        self.assertEqual(read_answer(s), b"HTTP/1.1 100 Continue\r\n\r\n")

    def test_a_chunked_body_without_credentials_is_cut_at_32_kib(self):
        s = self.connect()
        h = f"POST / HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n" \
            "Transfer-Encoding: chunked\r\n\r\n"
        s.sendall(h.encode())
        chunk = b"4000\r\n" + b"x" * 0x4000 + b"\r\n"
        try:
            for _ in range(8):      # 128 KiB, four times what may be buffered
                s.sendall(chunk)
        except OSError:
            pass
        self.assertEqual(code_of(read_answer(s)), "MissingParameter")


class Deadlines(CtlLimitTest):
    config = {"extra_control": "header_timeout: 1000\nbody_timeout: 1000"}

    def trickle(self, s, data, every=0.25, limit=4):
        """Send data a byte at a time until gaapd answers or limit seconds pass; the answer."""
        start = time.monotonic()
        s.settimeout(every)
        for byte in data:
            if time.monotonic() - start > limit:
                break
            try:
                s.send(bytes([byte]))
                got = s.recv(65536)
                return got + read_answer(s) if got else got
            except socket.timeout:
                continue
            except OSError:
                return b""
        return None

    def test_a_head_trickled_a_byte_at_a_time_is_cut_at_its_deadline(self):
        s = self.connect()
        start = time.monotonic()
        answer = self.trickle(s, b"GET /?Action=X HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100)
        self.assertIsNotNone(answer, "a head still open after 4 s of trickling")
        self.assertEqual(code_of(answer), "InvalidParameter", answer)
        self.assertIn(b"head did not arrive in full within 1000 ms", answer)
        self.assertTrue(closed_by_peer(s))
        self.assertLess(time.monotonic() - start, 3)

    def test_a_body_trickled_a_byte_at_a_time_is_cut_at_its_deadline(self):
        s = self.connect()
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n")
        answer = self.trickle(s, b"{" + b" " * 98 + b"}")
        self.assertIsNotNone(answer, "a body still open after 4 s of trickling")
        self.assertIn(b"body did not arrive in full within 1000 ms", answer)
        self.assertTrue(closed_by_peer(s))

    def test_a_keep_alive_connection_may_wait_between_requests_longer_than_the_deadline(self):
        s = self.connect()
        for _ in range(2):
            s.sendall(raw_request("GET", "/?Action=X", headers={"Host": self.host}))
            self.assertEqual(code_of(read_answer(s)), "MissingParameter")
            time.sleep(1.5)


class Connections(CtlLimitTest):
    config = {"extra_control": "max_connections: 64", "preexec_fn": nofile(256)}

    def test_idle_clients_cannot_lock_out_a_new_caller(self):
        # More idle clients than gaapd has descriptors: unbounded, the API stops answering.
        idle = [self.connect() for _ in range(300)]
        start = time.monotonic()
        self.call_ok(timeout=1)
        self.assertLess(time.monotonic() - start, 1)
        # The ones idle the longest went first; the newest are still served.
        self.assertTrue(closed_by_peer(idle[0], timeout=1))
        idle[-1].sendall(raw_request("GET", "/?Action=X", headers={"Host": self.host}))
        self.assertEqual(code_of(read_answer(idle[-1])), "MissingParameter")

    def test_a_connection_that_asked_recently_outlives_one_idle_longer(self):
        first, second = self.connect(), self.connect()
        for s in (first, second):     # both are accepted and have finished a request
            s.sendall(raw_request("GET", "/?Action=X", headers={"Host": self.host}))
            read_answer(s)
        first.sendall(raw_request("GET", "/?Action=X", headers={"Host": self.host}))
        read_answer(first)            # now `second` has been idle the longest
        others = [self.connect() for _ in range(62)]    # the limit, 64, is reached
        self.call_ok()
        self.assertTrue(closed_by_peer(second, timeout=2))
        first.sendall(raw_request("GET", "/?Action=X", headers={"Host": self.host}))
        self.assertEqual(code_of(read_answer(first)), "MissingParameter")
        del others


class BusyConnections(CtlLimitTest):
    config = {"extra_control": "max_connections: 4"}

    def test_when_every_connection_is_mid_request_a_new_caller_is_told_so(self):
        for _ in range(4):      # each waits for the body gaapd just said it would take
            s = self.connect()
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Expect: 100-continue\r\nContent-Length: 10\r\n\r\n")
            self.assertEqual(read_answer(s), b"HTTP/1.1 100 Continue\r\n\r\n")
        s = self.connect()
        answer = read_answer(s, timeout=1)
        self.assertEqual(code_of(answer), "ServiceUnavailable", answer)


class DescriptorShortage(CtlLimitTest):
    # max_connections over what the descriptors allow: the shortage is reached
    config = {"extra_control": "max_connections: 1000", "preexec_fn": nofile(64)}

    def test_out_of_descriptors_the_listener_pauses_instead_of_spinning(self):
        log_from = len(self.gaapd.log_text())
        idle = [self.connect() for _ in range(100)]
        time.sleep(0.3)
        cpu = cpu_seconds(self.pid)
        time.sleep(3)
        used = cpu_seconds(self.pid) - cpu
        self.assertLess(used, 0.3, f"gaapd used {used:.2f} s of CPU in 3 s out of descriptors")
        log = self.gaapd.log_text()[log_from:]
        accept_lines = [l for l in log.splitlines() if "accept:" in l]
        self.assertGreaterEqual(len(accept_lines), 1, log)
        self.assertLessEqual(len(accept_lines), 6, "\n".join(accept_lines[:20]))
        self.assertIn("Too many open files; pausing 500 ms (pause 1 of this shortage", log)
        # Once the idle clients go, a caller is answered after the pause at most.
        for s in idle:
            s.close()
        self.call_ok(timeout=2)


if __name__ == "__main__":
    unittest.main()
