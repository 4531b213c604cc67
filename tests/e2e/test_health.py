"""Active health checks end to end (issue 14; l7-and-https.md §4.1, §4.5, §9.4.2): rules with
HealthCheck 1 probe their real servers every DelayLoop seconds; a server that refuses, never
answers, or answers with a status outside StatusCode's classes is taken out after 3 failed probes
(RealServerStatus 1, BindStatus 0) and gets traffic again after 2 good ones; probes carry
CheckParams.Domain as Host and are never requests of the listener (access log, request metrics);
HealthCheck 0 shows every binding normal at once; a CheckParams change restarts only that rule's
probes. Real origins on loopback, bound as one real server (127.0.0.1) on each origin's port."""
import http.client
import os
import re
import socket
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import PROXY, Gaapd, free_port

DELAY, TIMEOUT = 1, 1
# 3 failed probes (the first jittered within one DelayLoop), each up to ConnectTimeout, and slack
DOWN_WITHIN = DELAY * 3 + TIMEOUT + DELAY + 2
UP_WITHIN = DELAY * 2 + TIMEOUT + 2


def config():
    return "\n".join([
        "node:", "  workers: 2", "  state_dir: state", "  log_level: info",
        "control:", "  listen: 127.0.0.1:0", "  auth: signature", "  credentials_file: credentials",
        "  rate_limit: 1000000",
        # passive health forgets quickly: what these tests see is the active checks' doing
        "http:", "  access_log: access.log", "  origin_connect_timeout: 1000",
        "  origin_fail_timeout: 300",
        "proxies:", f"  - id: {PROXY}", "    origins: [127.0.0.1:1]"]) + "\n"


class CheckedOrigin:
    """An HTTP/1.1 origin on a fixed port that can stop and start again on it; answers `status`
    (per path prefix in `statuses`, else 200) to GET and HEAD, and records every request. It keeps
    connections (the checker's probes reuse one); stop() is the server's death: the listening
    socket and every connection close."""

    def __init__(self, port=0):
        self.requests = []
        self.statuses = {}
        self.conns = set()
        self.lock = threading.Lock()
        self.server = None
        self.port = port
        self.start()

    def start(self):
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                with origin.lock:
                    origin.conns.add(self.connection)

            def finish(self):
                with origin.lock:
                    origin.conns.discard(self.connection)
                super().finish()

            def _answer(self):
                n = int(self.headers.get("Content-Length", 0))
                if n:
                    self.rfile.read(n)
                with origin.lock:
                    origin.requests.append({"method": self.command, "path": self.path,
                                            "headers": {k.lower(): v for k, v in
                                                        self.headers.items()}})
                status = next((s for p, s in origin.statuses.items()
                               if self.path.startswith(p)), 200)
                body = b"" if self.command == "HEAD" else b"ok"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_HEAD = do_POST = _answer

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        with self.lock:
            conns, self.conns = self.conns, set()
        for c in conns:                 # a handler thread may still be reading on it
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def traffic(self):
        """Requests that are not probes."""
        with self.lock:
            return [r for r in self.requests if r["headers"].get("user-agent") != "gaapd-health"]

    def probes(self):
        with self.lock:
            return [r for r in self.requests if r["headers"].get("user-agent") == "gaapd-health"]


class SilentOrigin:
    """Accepts connections and reads, never answers: a probe must time out."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.held = []
        self.done = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.done.is_set():
            try:
                c, _ = self.sock.accept()
                self.held.append(c)
            except OSError:
                continue

    def close(self):
        self.done.set()
        self.sock.close()
        for c in self.held:
            c.close()


class Health(unittest.TestCase):
    def setUp(self):
        self.g = Gaapd(config_text=config())
        self.addCleanup(self.g.cleanup)
        self.g.start()
        self.port = free_port()
        self.lid = self.g.create(self.port)["ListenerId"]
        self.rs = self.ok("AddRealServers", {"ProjectId": 0, "RealServerIP": ["127.0.0.1"],
                                             "RealServerName": "loopback"})["RealServerSet"][0][
            "RealServerId"]
        self.ok("CreateDomain", {"ListenerId": self.lid, "Domain": "app.example",
                                 "IsDefaultServer": True})

    def ok(self, action, params):
        resp = self.g.call(action, params)
        self.assertNotIn("Error", resp, (action, params, resp))
        return resp

    def origin(self, cls=CheckedOrigin):
        o = cls()
        self.addCleanup(o.stop if cls is CheckedOrigin else o.close)
        return o

    def rule(self, path, origins, check=None, health=1):
        params = dict({"DelayLoop": DELAY, "ConnectTimeout": TIMEOUT, "Path": "/health"},
                      **(check or {}))
        rid = self.ok("CreateRule", {"ListenerId": self.lid, "Domain": "app.example",
                                     "Path": path, "RealServerType": "IP", "Scheduler": "rr",
                                     "HealthCheck": health, "CheckParams": params})["RuleId"]
        self.ok("BindRuleRealServers", {"RuleId": rid, "RealServerBindSet": [
            {"RealServerId": self.rs, "RealServerIP": "127.0.0.1", "RealServerPort": o.port,
             "RealServerWeight": 1} for o in origins]})
        return rid

    def rule_info(self, rid):
        got = self.ok("DescribeRulesByRuleIds", {"RuleIds": [rid]})
        return got["RuleSet"][0]

    def statuses(self, rid):
        """(BindStatus, [RealServerStatus per binding]) as DescribeRules shows them."""
        sets = self.ok("DescribeRules", {"ListenerId": self.lid})["DomainRuleSet"]
        rule = next(r for d in sets for r in d["RuleSet"] if r["RuleId"] == rid)
        return rule["BindStatus"], [b["RealServerStatus"] for b in rule["RealServerSet"]]

    def wait_for(self, what, timeout, msg=""):
        deadline = time.monotonic() + timeout
        while True:
            got = what()
            if got:
                return got
            if time.monotonic() > deadline:
                self.fail(f"not within {timeout} s: {msg}")
            time.sleep(0.1)

    def get(self, n, path="/"):
        for _ in range(n):
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                c.request("GET", path, headers={"Host": "app.example"})
                r = c.getresponse()
                r.read()
                self.assertEqual(r.status, 200)
            finally:
                c.close()

    def metrics(self):
        status, _, body = self.g.raw("GET", target="/metrics")
        self.assertEqual(status, 200)
        return body.decode()

    def probes_total(self, port, path):
        m = re.search(r'gaapd_health_probes_total\{origin="127\.0\.0\.1:%d",check="[A-Z]+ %s '
                      r'[^"]*",result="ok"\} (\d+)' % (port, re.escape(path)), self.metrics())
        return int(m.group(1)) if m else None

    # ---- tests ----

    def test_a_dead_server_is_taken_out_and_comes_back_on_the_same_port(self):
        a, b = self.origin(), self.origin()
        rid = self.rule("/", [a, b])
        self.assertEqual(self.statuses(rid), (1, [0, 0]))
        self.wait_for(lambda: a.probes() and b.probes(), DELAY + 2, "first probes")
        a.stop()
        self.wait_for(lambda: self.statuses(rid) == (0, [1, 0]), DOWN_WITHIN, "a shown down")
        before = len(b.traffic())
        self.get(6)
        self.assertEqual(len(b.traffic()) - before, 6)       # every request to b, none lost
        a.start()                                             # the same port again
        self.wait_for(lambda: self.statuses(rid) == (1, [0, 0]), UP_WITHIN, "a shown up")
        self.wait_for(lambda: (self.get(2), a.traffic())[1], 3, "traffic to a again")
        info = self.rule_info(rid)
        self.assertEqual((info["BindStatus"], [s["RealServerStatus"] for s in
                                                info["RealServerSet"]]), (1, [0, 0]))

    def test_a_server_that_never_answers_is_caught_by_the_timeout(self):
        good, silent = self.origin(), self.origin(SilentOrigin)
        rid = self.rule("/", [good, silent])
        self.wait_for(lambda: self.statuses(rid) == (0, [0, 1]), DOWN_WITHIN + TIMEOUT * 2,
                      "silent shown down")
        m = self.metrics()
        self.assertRegex(m, r'gaapd_health_up\{origin="127\.0\.0\.1:%d",check="HEAD /health '
                         r'app\.example"\} 0' % silent.port)
        self.assertRegex(m, r'gaapd_health_up\{origin="127\.0\.0\.1:%d",check="HEAD /health '
                         r'app\.example"\} 1' % good.port)
        self.get(4)                                           # none waits on the silent one
        self.assertEqual(len(good.traffic()), 4)

    def test_a_status_outside_the_classes_is_down_and_the_host_is_the_check_domain(self):
        a, b = self.origin(), self.origin()
        a.statuses["/health"] = 404
        rid = self.rule("/", [a, b], {"StatusCode": [200], "Domain": "probe.example",
                                      "Method": "HEAD"})
        self.wait_for(lambda: self.statuses(rid) == (0, [1, 0]), DOWN_WITHIN, "404 shown down")
        probe = b.probes()[-1]
        self.assertEqual((probe["method"], probe["path"], probe["headers"]["host"]),
                         ("HEAD", "/health", "probe.example"))
        # the same origin's 404 is healthy when 4xx counts
        self.ok("ModifyRuleAttribute", {"ListenerId": self.lid, "RuleId": rid,
                                         "CheckParams": {"StatusCode": [200, 400]}})
        self.wait_for(lambda: self.statuses(rid) == (1, [0, 0]), UP_WITHIN, "4xx accepted")

    def test_probes_are_not_requests_of_the_listener(self):
        a = self.origin()
        self.rule("/", [a])
        self.get(3)
        self.wait_for(lambda: len(a.probes()) >= 3, DELAY * 3 + 2, "three probes")
        m = self.metrics()
        served = sum(int(n) for n in re.findall(
            r'gaapd_http_requests_total\{listener="%s",class="\dxx"\} (\d+)' % self.lid, m))
        self.assertEqual(served, 3)
        with open(os.path.join(self.g.dir, "access.log")) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 3, lines)
        self.assertFalse([l for l in lines if "/health" in l or "gaapd-health" in l])
        for fam in ("gaapd_health_up", "gaapd_health_probes_total",
                    "gaapd_health_transitions_total", "gaapd_health_probe_duration_seconds"):
            self.assertIn(f"# TYPE {fam} ", m)
        self.assertRegex(m, r'gaapd_health_probe_duration_seconds_bucket\{origin="127\.0\.0\.1:'
                         r'%d",check="HEAD /health app\.example",le="\+Inf"\} [1-9]' % a.port)
        self.assertRegex(m, r'gaapd_health_probes_total\{origin="127\.0\.0\.1:%d",check="HEAD '
                         r'/health app\.example",result="failed"\} 0' % a.port)

    def test_health_check_off_shows_normal_at_once_and_probing_stops(self):
        a, b = self.origin(), self.origin()
        rid = self.rule("/", [a, b])
        a.stop()
        self.wait_for(lambda: self.statuses(rid) == (0, [1, 0]), DOWN_WITHIN, "a shown down")
        self.ok("ModifyRuleAttribute", {"ListenerId": self.lid, "RuleId": rid, "HealthCheck": 0})
        self.assertEqual(self.statuses(rid), (1, [0, 0]))
        self.assertEqual(self.rule_info(rid)["HealthCheck"], 0)
        n = len(b.probes())
        time.sleep(DELAY * 2 + 0.5)
        self.assertEqual(len(b.probes()), n)                  # no more probes
        self.assertNotIn('origin="127.0.0.1:%d"' % b.port,
                         "\n".join(l for l in self.metrics().splitlines()
                                   if l.startswith("gaapd_health_up")))

    def test_changing_one_rules_check_does_not_restart_another_rules_probes(self):
        a, b = self.origin(), self.origin()
        r1 = self.rule("/one", [a], {"Path": "/one-health"})
        self.rule("/two", [b], {"Path": "/two-health"})
        self.wait_for(lambda: (self.probes_total(b.port, "/two-health") or 0) >= 2,
                      DELAY * 3 + 2, "rule two probed")
        before = self.probes_total(b.port, "/two-health")
        self.ok("ModifyRuleAttribute", {"ListenerId": self.lid, "RuleId": r1,
                                         "CheckParams": {"Path": "/one-changed"}})
        # the same target, found again by the rebuilt routing: its counters go on
        self.assertGreaterEqual(self.probes_total(b.port, "/two-health"), before)
        self.wait_for(lambda: [p for p in a.probes() if p["path"] == "/one-changed"],
                      DELAY + 2, "the changed check probes")
        self.assertIsNone(self.probes_total(a.port, "/one-health"))

    def test_a_restart_checks_the_restored_rules(self):
        a, b = self.origin(), self.origin()
        rid = self.rule("/", [a, b])
        self.wait_for(lambda: a.probes() and b.probes(), DELAY + 2, "first probes")
        self.g.stop()                   # SIGTERM with targets probing: exit 0
        a.stop()
        self.g.start()
        self.wait_for(lambda: self.statuses(rid) == (0, [1, 0]), DOWN_WITHIN, "a shown down")
        self.get(3)
        self.assertEqual(len(b.traffic()), 3)


if __name__ == "__main__":
    unittest.main()
