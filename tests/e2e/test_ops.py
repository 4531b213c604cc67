"""Operations: the notify protocol, SIGHUP reload, SIGTERM drain, SIGUSR1 log reopen, metrics,
and the systemd unit."""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import (GAAPD, PROXY, SECRET_ID, SECRET_KEY, Gaapd, GaapdTest, HeldOrigin, Origin,
                     check_envelope, error_code, free_port, http_get, port_accepts, raw_request,
                     sign_tc3, yaml_config)

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def serving(test, origin):
    """A started gaapd with one listener forwarding to origin (both cleaned up after test);
    returns it and the listener's port."""
    test.addCleanup(origin.close)
    g = Gaapd(proxies=[{"id": PROXY, "origins": [f"127.0.0.1:{origin.port}"]}])
    test.addCleanup(g.cleanup)
    g.start()
    port = free_port()
    g.create(port)
    return g, port


def read_answer(sock):
    """One API answer (Content-Length framed) from a keep-alive connection: its envelope."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed after {data!r}")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
    while len(body) < length:
        body += sock.recv(65536)
    ctype = re.search(rb"Content-Type: ([^\r]*)", head).group(1).decode()
    return check_envelope(int(head.split()[1]), ctype, body[:length])


class KeyRevocation(unittest.TestCase):
    """Once kill -HUP has returned, a call read after it is decided with the new keys, even on
    connections that were open and busy before, and even when it is sent at once."""
    DOOMED_ID, DOOMED_KEY = "AKIDE2EDOOMEDKEY0000000000000000", "doomedsecretkey0123456789abcdef0"
    CONNS, ROUNDS = 20, 8

    def credentials(self, with_doomed):
        text = f"[default]\nsecret_id = {SECRET_ID}\nsecret_key = {SECRET_KEY}\n"
        if with_doomed:
            text += f"[doomed]\nsecret_id = {self.DOOMED_ID}\nsecret_key = {self.DOOMED_KEY}\n"
        path = os.path.join(self.g.dir, "credentials")
        with open(path + ".new", "w") as f:
            f.write(text)
        os.chmod(path + ".new", 0o600)
        os.replace(path + ".new", path)

    def call_bytes(self):
        host = f"127.0.0.1:{self.g.port}"
        body = json.dumps({"ProxyId": PROXY}).encode()
        h = sign_tc3(self.DOOMED_KEY, self.DOOMED_ID, "DescribeHTTPListeners", body, host,
                     int(time.time()))
        h["Host"] = host
        return raw_request("POST", "/", body, h)


    def test_calls_sent_right_after_sighup_use_the_new_keys(self):
        self.g = Gaapd(credentials=False)
        self.addCleanup(self.g.cleanup)
        self.credentials(True)
        self.g.start()
        socks = [socket.create_connection(("127.0.0.1", self.g.port), timeout=10)
                 for _ in range(self.CONNS)]
        for s in socks:
            self.addCleanup(s.close)
        accepted = 0
        for _ in range(self.ROUNDS):
            for s in socks:                     # every connection works with the key, and is warm
                s.sendall(self.call_bytes())
            for s in socks:
                self.assertNotIn("Error", read_answer(s))
            calls = [self.call_bytes() for _ in socks]
            self.credentials(False)
            os.kill(self.g.proc.pid, signal.SIGHUP)
            for s, c in zip(socks, calls):      # all at once, right after kill() returned
                s.sendall(c)
            for s in socks:
                resp = read_answer(s)
                if "Error" not in resp:
                    accepted += 1
                else:
                    self.assertEqual(error_code(resp), "AuthFailure.SecretIdNotFound")
            self.credentials(True)
            self.g.reload("reload applied")
        self.assertEqual(accepted, 0, f"{accepted} of {self.CONNS * self.ROUNDS} calls sent "
                         "after kill -HUP returned were decided with the revoked key")
        self.g.stop()


class NotifyProtocol(unittest.TestCase):
    def test_ready_arrives_only_after_the_listeners_are_bound(self):
        origin = Origin()
        g, port = serving(self, origin)
        g.stop()
        path = os.path.join(g.dir, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(10)
        self.addCleanup(sock.close)
        os.environ["NOTIFY_SOCKET"] = path
        try:
            g.start()
        finally:
            del os.environ["NOTIFY_SOCKET"]
        message = sock.recv(4096).decode()
        self.assertIn("READY=1", message)
        self.assertIn("STATUS=serving 1 listeners", message)
        self.assertTrue(port_accepts(port))
        g.stop()
        self.assertIn("STOPPING=1", sock.recv(4096).decode())


class Reload(GaapdTest):
    allowed_errors = ("reload refused",)

    def reload(self, text):
        with open(self.gaapd.conf, "w") as f:
            f.write(text)
        return self.gaapd.reload()

    def new_config(self, **kw):
        kw.setdefault("proxies", [{"id": PROXY, "origins": [f"127.0.0.1:{self.origin.port}"]}])
        return yaml_config(**kw)

    def test_a_valid_change_applies_without_closing_listeners_or_connections(self):
        port = free_port()
        self.gaapd.create(port)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/before")
        conn.getresponse().read()
        closed = [{"id": PROXY, "status": "CLOSED", "origins": [f"127.0.0.1:{self.origin.port}"]}]
        self.assertIn("reload applied", self.reload(self.new_config(proxies=closed)))
        conn.request("GET", "/after")                   # the same connection still works
        self.assertEqual(conn.getresponse().status, 200)
        conn.close()
        self.assertCode(self.gaapd.create(free_port()), "FailedOperation.ProxyStatusNotInRuning")

    def test_new_origins_take_new_requests(self):
        port = free_port()
        self.gaapd.create(port)
        other = Origin()
        self.addCleanup(other.close)
        moved = [{"id": PROXY, "origins": [f"127.0.0.1:{other.port}"]}]
        self.assertIn("reload applied", self.reload(self.new_config(proxies=moved)))
        http_get(port, "/moved")
        self.assertEqual(other.requests[-1]["path"], "/moved")

    def test_an_invalid_file_is_refused_and_gaapd_serves_as_before(self):
        port = free_port()
        self.gaapd.create(port)
        line = self.reload("node:\n  workers: lots\n")
        self.assertIn("reload refused", line)
        self.assertIn(":2:", line)
        self.assertEqual(http_get(port, "/still")[0], 200)
        self.assertIsNone(error_code(self.gaapd.create(free_port(), name="after")))

    def test_the_store_and_the_node_name_need_a_restart(self):
        port = free_port()
        self.gaapd.create(port)
        renamed = self.new_config().replace("node:\n", "node:\n  name: renamed-node\n", 1)
        line = self.reload(renamed)
        self.assertIn("reload refused", line)
        self.assertIn("node.name changed: it needs a restart", line)
        fleet = self.new_config() + (
            "store:\n  backend: etcd\n  etcd: {endpoints: [http://127.0.0.1:1]}\n")
        self.assertIn("store.backend changed: it needs a restart", self.reload(fleet))
        # the etcd section alone, under the file backend, is no change of store
        unused = self.new_config() + "store:\n  etcd: {endpoints: [http://127.0.0.1:1]}\n"
        self.assertIn("reload applied", self.reload(unused))
        self.assertEqual(http_get(port, "/still")[0], 200)

    def test_removing_a_proxy_that_has_listeners_is_refused(self):
        self.gaapd.create(free_port())
        other = [{"id": "link-other001", "origins": [f"127.0.0.1:{self.origin.port}"]}]
        self.assertIn("reload refused", self.reload(self.new_config(proxies=other)))


class Drain(unittest.TestCase):
    def test_sigterm_lets_the_request_in_flight_finish(self):
        origin = HeldOrigin()
        g, port = serving(self, origin)
        result = {}
        t = threading.Thread(target=lambda: result.update(r=http_get(port, "/slow")))
        t.start()
        self.assertTrue(origin.arrived.wait(10))
        g.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        while port_accepts(port):
            self.assertLess(time.monotonic(), deadline, "still accepting while draining")
            time.sleep(0.02)
        self.assertIsNone(g.proc.poll(), "exited with a request in flight")
        origin.release.set()
        t.join(20)
        self.assertEqual(result["r"][0], 200)
        self.assertEqual(result["r"][2], HeldOrigin.BODY)
        self.assertEqual(g.proc.wait(20), 0)


class LogReopen(unittest.TestCase):
    def test_sigusr1_in_a_loop_under_load_sends_no_log_line_to_a_client(self):
        """Workers log a warning per request (the origin refuses) while the log is rotated and
        reopened 200 times: every client gets HTTP only, and no descriptor is left behind. A
        reopen that closed the descriptor while a worker was about to write to it would let an
        accepted client take its number; that window is nanoseconds wide, so gaapd runs with
        slow_append.c preloaded (CTest sets SLOW_APPEND): each log write waits 200 us after the
        writer picked its descriptor."""
        # every refused connection's warning written (no per-site limit): writes to race with
        g = Gaapd(log_file="gaapd-events.log", log_rate_burst=0)
        self.addCleanup(g.cleanup)
        saved = dict(os.environ)
        if os.environ.get("SLOW_APPEND"):
            os.environ["LD_PRELOAD"] = os.environ["SLOW_APPEND"]
            # under ASan its runtime must come first, unless told the order is fine
            os.environ["ASAN_OPTIONS"] = os.environ.get("ASAN_OPTIONS", "") + \
                ":verify_asan_link_order=0"
        try:
            g.start()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        port = free_port()
        g.create(port)
        events = os.path.join(g.dir, "gaapd-events.log")
        fds = lambda: len(os.listdir(f"/proc/{g.proc.pid}/fd"))
        before, stop, bad, answered = fds(), threading.Event(), [], [0]

        def client():
            while not stop.is_set():
                with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                    s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                    got = b""
                    while (chunk := s.recv(65536)):
                        got += chunk
                if not got.startswith(b"HTTP/1.1 502 ") or b"warn" in got:
                    bad.append(got[:200])
                answered[0] += 1
        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        def reopened():
            deadline = time.monotonic() + 10
            while not os.path.exists(events):
                self.assertLess(time.monotonic(), deadline, "log not reopened")
                time.sleep(0.005)
        try:
            for i in range(200):
                reopened()                                  # the last signal's reopen is done
                os.replace(events, f"{events}.{i % 2}")     # what logrotate does
                g.proc.send_signal(signal.SIGUSR1)
                time.sleep(0.005)                           # let requests log in between
        finally:
            stop.set()
            for t in threads:
                t.join(10)
        self.assertEqual(bad, [])
        self.assertGreater(answered[0], 100)
        reopened()
        deadline = time.monotonic() + 10
        while fds() > before:                           # connections still closing
            self.assertLess(time.monotonic(), deadline, f"{fds()} descriptors, {before} before")
            time.sleep(0.02)
        g.create(free_port(), name="after-rotation")
        with open(events) as f:
            self.assertIn("CreateHTTPListener", f.read())
        g.stop()


    def test_sigusr1_reopens_the_log_file(self):
        g = Gaapd(log_file="gaapd-events.log")
        self.addCleanup(g.cleanup)
        g.start()
        events = os.path.join(g.dir, "gaapd-events.log")
        self.assertTrue(os.path.exists(events))
        os.rename(events, events + ".1")            # what logrotate does
        g.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while not os.path.exists(events):
            self.assertLess(time.monotonic(), deadline, "log not reopened")
            time.sleep(0.02)
        g.create(free_port())
        with open(events) as f:
            self.assertIn("CreateHTTPListener", f.read())
        g.stop()


def scrape(port, target="/metrics"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", target)
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type"), r.read()
    finally:
        conn.close()


def samples(text):
    """The exposition as {'name{labels}': value}, checking its layout on the way: every family has
    HELP then TYPE, and all of its samples follow them in one block."""
    out, family, kind, seen = {}, None, None, set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            family = line.split()[2]
            assert family not in seen, f"family {family} twice"
            seen.add(family)
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert name == family, line
        else:
            key, value = line.rsplit(" ", 1)
            base = key.split("{")[0]
            if kind == "histogram":
                base = re.sub(r"_(bucket|sum|count)$", "", base)
            assert base == family, line
            assert key not in out, f"sample {key} twice"
            out[key] = float(value)
    return out


def exchange(port, request):
    """One raw request on its own connection; everything the proxy sent until it closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


class Metrics(GaapdTest):
    def metrics(self, port=None):
        status, ctype, body = scrape(port or self.gaapd.port)
        self.assertEqual(status, 200)
        self.assertEqual(ctype, "text/plain; version=0.0.4; charset=utf-8")
        return samples(body.decode())

    def other_gaapd(self, **kw):
        g = Gaapd(**kw)
        self.addCleanup(g.cleanup)
        g.start()
        return g

    def test_prometheus_text_without_a_signature(self):
        port = free_port()
        self.gaapd.create(port)
        http_get(port, "/m")
        self.gaapd.create(port)                     # a DuplicatedListenerPort
        status, ctype, body = self.gaapd.raw("GET", target="/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(ctype.startswith("text/plain; version=0.0.4"), ctype)
        text = body.decode()
        self.assertIn(f'gaapd_listeners{{proxy="{PROXY}",status="0"}} 1', text)
        self.assertIn('gaapd_api_calls_total{action="CreateHTTPListener",code="OK"} 1', text)
        self.assertIn('code="InvalidParameterValue.DuplicatedListenerPort"} 1', text)
        self.assertIn("gaapd_http_requests_total{", text)
        self.assertIn("gaapd_connections_open", text)
        samples(text)
        self.assertGreater(samples(text)["gaapd_start_time_seconds"], 1.6e9)

    def test_counts_match_the_traffic(self):
        port = free_port()
        lid = self.gaapd.create(port)["ListenerId"]
        request = b"GET /m HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        answers = [exchange(port, request) for _ in range(3)]
        for a in answers:
            self.assertTrue(a.startswith(b"HTTP/1.1 200 "), a)
        m = self.metrics()
        lab = f'listener="{lid}"'
        self.assertEqual(m[f'gaapd_http_requests_total{{{lab},class="2xx"}}'], 3)
        for c in ("1xx", "3xx", "4xx", "5xx"):
            self.assertEqual(m[f'gaapd_http_requests_total{{{lab},class="{c}"}}'], 0)
        self.assertEqual(m[f"gaapd_http_bytes_received_total{{{lab}}}"], 3 * len(request))
        self.assertEqual(m[f"gaapd_http_bytes_sent_total{{{lab}}}"], sum(map(len, answers)))
        self.assertEqual(m[f"gaapd_connections_open{{{lab}}}"], 0)
        self.assertEqual(m[f"gaapd_http_request_duration_seconds_count{{{lab}}}"], 3)
        self.assertGreater(m[f"gaapd_http_request_duration_seconds_sum{{{lab}}}"], 0)
        buckets = [(k, v) for k, v in m.items()
                   if k.startswith(f"gaapd_http_request_duration_seconds_bucket{{{lab},")]
        self.assertEqual(len(buckets), 13)
        self.assertEqual(buckets[-1], (f'gaapd_http_request_duration_seconds_bucket{{{lab},'
                                       f'le="+Inf"}}', 3))
        self.assertEqual([v for _, v in buckets], sorted(v for _, v in buckets))   # cumulative
        self.assertEqual(m[f'gaapd_origin_errors_total{{{lab},kind="connect"}}'], 0)

    def test_counts_carry_over_a_reload(self):
        """A reload gives the listener new routes; connections open on the old one and new ones
        on the new one all count towards the one listener."""
        port = free_port()
        lid = self.gaapd.create(port)["ListenerId"]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/before")
        conn.getresponse().read()
        other = Origin()
        self.addCleanup(other.close)
        with open(self.gaapd.conf, "w") as f:
            f.write(yaml_config(proxies=[{"id": PROXY, "origins": [f"127.0.0.1:{other.port}"]}]))
        self.gaapd.reload("reload applied")
        conn.request("GET", "/old-route")
        conn.getresponse().read()
        self.assertEqual(http_get(port, "/new-route")[0], 200)
        self.assertEqual(other.requests[-1]["path"], "/new-route")
        m = self.metrics()
        self.assertEqual(m[f'gaapd_http_requests_total{{listener="{lid}",class="2xx"}}'], 3)
        # /new-route's connection is closed by the client; gaapd sees that a moment later.
        deadline = time.monotonic() + 5
        while m[f'gaapd_connections_open{{listener="{lid}"}}'] != 1 and time.monotonic() < deadline:
            time.sleep(0.02)
            m = self.metrics()
        self.assertEqual(m[f'gaapd_connections_open{{listener="{lid}"}}'], 1)
        conn.close()

    def test_an_open_connection_is_counted_until_it_closes(self):
        port = free_port()
        lid = self.gaapd.create(port)["ListenerId"]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/keep")
        conn.getresponse().read()
        self.assertEqual(self.metrics()[f'gaapd_connections_open{{listener="{lid}"}}'], 1)
        conn.close()
        deadline = time.monotonic() + 5
        while self.metrics()[f'gaapd_connections_open{{listener="{lid}"}}'] != 0:
            self.assertLess(time.monotonic(), deadline, "the closed connection is still counted")
            time.sleep(0.05)

    def test_origin_errors_by_kind(self):
        g = self.other_gaapd(proxies=[{"id": PROXY, "origins": ["127.0.0.1:1"]}])
        port = free_port()
        lid = g.create(port)["ListenerId"]
        status, _, _ = http_get(port, "/down")
        self.assertEqual(status, 502)
        m = self.metrics(g.port)
        lab = f'listener="{lid}"'
        self.assertEqual(m[f'gaapd_origin_errors_total{{{lab},kind="connect"}}'], 1)
        for kind in ("connect_timeout", "timeout", "closed", "stale", "malformed", "unavailable"):
            self.assertEqual(m[f'gaapd_origin_errors_total{{{lab},kind="{kind}"}}'], 0)
        self.assertEqual(m[f'gaapd_http_requests_total{{{lab},class="5xx"}}'], 1)
        g.stop()

    def test_unknown_actions_share_one_label_value(self):
        for action in ("NoSuchAction", "AnotherMadeUpAction"):
            self.assertCode(self.gaapd.call(action, {}), "InvalidAction")
        self.assertCode(self.gaapd.call("DescribeProxies", {}, secret_key="x" * 32),
                        "AuthFailure.SignatureFailure")
        m = self.metrics()
        self.assertEqual(m['gaapd_api_calls_total{action="(invalid)",code="InvalidAction"}'], 2)
        self.assertEqual(m['gaapd_api_calls_total{action="DescribeProxies",'
                           'code="AuthFailure.SignatureFailure"}'], 1)
        self.assertFalse([k for k in m if "MadeUp" in k or "NoSuch" in k])

    def test_a_metrics_address_serves_metrics_and_only_there(self):
        mport = free_port()
        g = self.other_gaapd(extra_control=f"metrics_listen: 127.0.0.1:{mport}")
        self.assertEqual(self.metrics(mport)[f'gaapd_listeners{{proxy="{PROXY}",status="0"}}'], 0)
        status, _, _ = scrape(mport, "/")
        self.assertEqual(status, 404)
        status, ctype, body = g.raw("GET", target="/metrics")      # the API's, like any request
        self.assertEqual((status, ctype), (200, "application/json"))
        self.assertIn("Error", json.loads(body)["Response"])
        g.stop()


class Unit(unittest.TestCase):
    @unittest.skipUnless(shutil.which("systemd-analyze"), "systemd-analyze not installed")
    def test_the_unit_file_verifies(self):
        with open(os.path.join(SOURCE, "systemd", "gaapd.service.in")) as f:
            text = f.read()
        with tempfile.TemporaryDirectory() as d:
            bindir = os.path.dirname(os.path.abspath(GAAPD))
            text = text.replace("@CMAKE_INSTALL_FULL_BINDIR@", bindir)
            text = text.replace("@GAAPD_SYSCONFDIR@", d).replace("@CMAKE_INSTALL_FULL_DOCDIR@", d)
            unit = os.path.join(d, "gaapd.service")
            with open(unit, "w") as f:
                f.write(text)
            r = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True,
                               timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertNotIn("gaapd.service", r.stderr)


if __name__ == "__main__":
    unittest.main()
