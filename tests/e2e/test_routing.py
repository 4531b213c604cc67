"""Layer-7 routing end to end (l7-and-https.md §9): a listener built only through the API
(AddRealServers, CreateDomain, CreateRule, BindRuleRealServers, CreateCustomHeader) sends each
request to the real servers of the rule its Host and path select, in the proportions the rule's
scheduler gives; changes reach the next request on an open connection; a restart (kill -9)
serves the same routes. Real origins on loopback, one real server (127.0.0.1) bound on each
origin's port."""
import http.client
import signal
import socket
import threading
import time
import unittest

from harness import PROXY, Gaapd, Origin, error_code, free_port


def get(conn, path, host, headers=None):
    h = {"Host": host} if host is not None else {}
    h.update(headers or {})
    conn.request("GET", path, headers=h)
    r = conn.getresponse()
    return r.status, r.read(), dict(r.getheaders())


class Routing(unittest.TestCase):
    def setUp(self):
        self.origins = [Origin() for _ in range(4)]
        self.addCleanup(self.close_origins)
        self.g = Gaapd()
        self.addCleanup(self.g.cleanup)
        self.g.start()
        self.port = free_port()
        self.lid = self.g.create(self.port)["ListenerId"]
        self.rs = self.ok("AddRealServers", {"ProjectId": 0, "RealServerIP": ["127.0.0.1"],
                                             "RealServerName": "loopback"})["RealServerSet"][0][
            "RealServerId"]

    def close_origins(self):
        # each shutdown waits for its serve_forever poll (0.5 s): all four at once
        threads = [threading.Thread(target=o.close) for o in self.origins]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def ok(self, action, params):
        resp = self.g.call(action, params)
        self.assertNotIn("Error", resp, (action, params, resp))
        return resp

    def domain(self, name, default=False):
        self.ok("CreateDomain", {"ListenerId": self.lid, "Domain": name,
                                 "IsDefaultServer": default})

    def rule(self, domain, path, origins, scheduler="rr", weights=None, **extra):
        rid = self.ok("CreateRule", dict({"ListenerId": self.lid, "Domain": domain, "Path": path,
                                          "RealServerType": "IP", "Scheduler": scheduler,
                                          "HealthCheck": 0}, **extra))["RuleId"]
        self.bind(rid, origins, weights)
        return rid

    def bind(self, rid, origins, weights=None):
        weights = weights or [1] * len(origins)
        self.ok("BindRuleRealServers", {"RuleId": rid, "RealServerBindSet": [
            {"RealServerId": self.rs, "RealServerIP": "127.0.0.1", "RealServerPort": o.port,
             "RealServerWeight": w} for o, w in zip(origins, weights)]})

    def conn(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        self.addCleanup(c.close)
        return c

    def counts(self):
        return [len(o.requests) for o in self.origins]

    def which(self, path, host, conn=None):
        """The index of the origin that received the request (exactly one must have)."""
        before = self.counts()
        status, _, _ = get(conn or self.conn(), path, host)
        self.assertEqual(status, 200, (path, host))
        moved = [i for i, (a, b) in enumerate(zip(before, self.counts())) if b != a]
        self.assertEqual(len(moved), 1, (path, host, moved))
        return moved[0]

    def test_host_then_longest_prefix_picks_the_rule(self):
        a, b, c, d = self.origins
        self.domain("api.example.com")
        self.domain("www.example.com", default=True)
        self.rule("api.example.com", "/api", [a])
        self.rule("api.example.com", "/api/", [b])
        self.rule("api.example.com", "/", [c])
        self.rule("www.example.com", "/", [d])
        cases = [("/api", "api.example.com", 0), ("/api/v1", "api.example.com", 1),
                 ("/a%70i/v1", "api.example.com", 1), ("/apix", "api.example.com", 0),
                 ("/api.json", "api.example.com", 0), ("/api?x=1", "API.Example.COM:80", 0),
                 ("/API", "api.example.com", 2), ("/other", "api.example.com.", 2),
                 ("/api", "www.example.com", 3), ("/api", "unknown.example", 3),
                 ("/x", "127.0.0.1", 3)]
        for path, host, want in cases:
            self.assertEqual(self.which(path, host), want, (path, host))
        # the origin receives the request-target as sent, not the normalized path
        self.which("/a%70i/v1?q=1", "api.example.com")
        self.assertEqual(b.requests[-1]["path"], "/a%70i/v1?q=1")
        # an absolute-form target's authority selects the domain, not the Host header
        self.assertEqual(self.which("http://api.example.com/api/x", "www.example.com"), 1)

    def test_no_default_domain_and_no_rule_are_404_from_gaapd(self):
        a = self.origins[0]
        self.domain("only.example")
        self.rule("only.example", "/api", [a])
        c = self.conn()                         # gaapd's 404s keep the connection
        for path, host in (("/api", "other.example"), ("/", "only.example"),
                           ("/ap", "only.example")):
            status, _, headers = get(c, path, host)
            self.assertEqual(status, 404, (path, host))
            self.assertEqual(headers.get("Connection"), "keep-alive")
        self.assertEqual(self.which("/api", "only.example", c), 0)
        self.assertEqual(a.connections, 1)
        a.requests.clear()
        status, _, _ = get(self.conn(), "/api/../../x", "only.example")
        self.assertEqual(status, 400)
        self.assertEqual(self.counts(), [0, 0, 0, 0])

    def test_a_rule_without_bindings_is_503_and_a_redirect_is_301(self):
        self.domain("a.example", default=True)
        self.ok("CreateRule", {"ListenerId": self.lid, "Domain": "a.example", "Path": "/empty",
                               "RealServerType": "IP", "Scheduler": "rr", "HealthCheck": 0})
        self.ok("CreateRule", {"ListenerId": self.lid, "Domain": "a.example", "Path": "/secure",
                               "RealServerType": "IP", "Scheduler": "rr", "HealthCheck": 0,
                               "ForcedRedirect": "https:"})
        status, _, _ = get(self.conn(), "/empty/x", "a.example")
        self.assertEqual(status, 503)
        status, _, headers = get(self.conn(), "/secure/p?q=1", "a.example:8080")
        self.assertEqual(status, 301)
        self.assertEqual(headers.get("Location"), "https://a.example/secure/p?q=1")

    def test_wrr_sends_requests_in_the_weights_proportions(self):
        a, b = self.origins[:2]
        self.domain("w.example", default=True)
        self.rule("w.example", "/", [a, b], scheduler="wrr", weights=[3, 1])
        c = self.conn()
        for _ in range(400):
            status, _, _ = get(c, "/small", "w.example")
            self.assertEqual(status, 200)
        self.assertEqual((len(a.requests), len(b.requests)), (300, 100))

    def test_rr_ignores_weights(self):
        a, b = self.origins[:2]
        self.domain("r.example", default=True)
        self.rule("r.example", "/", [a, b], scheduler="rr", weights=[9, 1])
        c = self.conn()
        for _ in range(100):
            get(c, "/", "r.example")
        self.assertEqual((len(a.requests), len(b.requests)), (50, 50))

    def test_forward_host_and_custom_headers_reach_the_origin(self):
        a = self.origins[0]
        self.domain("h.example", default=True)
        rid = self.rule("h.example", "/", [a], ForwardHost="origin.internal")
        self.ok("CreateCustomHeader", {"RuleId": rid, "Headers": [
            {"HeaderName": "X-Tenant", "HeaderValue": "blue"},
            {"HeaderName": "X-Client", "HeaderValue": "$remote_addr"},
            {"HeaderName": "X-Literal", "HeaderValue": "ip=$remote_addr"}]})
        status, _, _ = get(self.conn(), "/", "h.example", {"X-Tenant": "spoofed"})
        self.assertEqual(status, 200)
        seen = a.requests[-1]["headers"]
        self.assertEqual(seen["host"], "origin.internal")
        self.assertEqual(seen["x-tenant"], "blue")
        self.assertEqual(seen["x-client"], "127.0.0.1")
        self.assertEqual(seen["x-literal"], "ip=$remote_addr")
        # without ForwardHost the client's Host goes through unchanged
        self.ok("ModifyRuleAttribute", {"ListenerId": self.lid, "RuleId": rid,
                                        "ForwardHost": "default"})
        get(self.conn(), "/", "H.example:81")
        self.assertEqual(a.requests[-1]["headers"]["host"], "H.example:81")

    def test_a_change_reaches_the_next_request_on_an_open_connection(self):
        a, b = self.origins[:2]
        self.domain("c.example", default=True)
        rid = self.rule("c.example", "/", [a])
        c = self.conn()
        self.assertEqual(self.which("/", "c.example", c), 0)
        self.bind(rid, [b])
        self.assertEqual(self.which("/", "c.example", c), 1)
        # deleting the last domain: the listener forwards to its proxy's origins again
        self.ok("DeleteDomain", {"ListenerId": self.lid, "Domain": "c.example", "Force": 1})
        status, _, _ = get(c, "/", "c.example")
        self.assertEqual(status, 502)           # the test proxy's configured origin is :1

    def test_a_dns_real_server_is_resolved_and_a_bad_name_fails_fast(self):
        a = self.origins[0]
        added = self.ok("AddRealServers", {"ProjectId": 0, "RealServerName": "names",
                                           "RealServerIP": ["localhost", "no-such.invalid"]})
        ids = {r["RealServerIP"]: r["RealServerId"] for r in added["RealServerSet"]}
        self.domain("n.example", default=True)
        for path, name in (("/good", "localhost"), ("/bad", "no-such.invalid")):
            rid = self.ok("CreateRule", {"ListenerId": self.lid, "Domain": "n.example",
                                         "Path": path, "RealServerType": "DOMAIN",
                                         "Scheduler": "rr", "HealthCheck": 0})["RuleId"]
            self.ok("BindRuleRealServers", {"RuleId": rid, "RealServerBindSet": [
                {"RealServerId": ids[name], "RealServerIP": name, "RealServerPort": a.port}]})
        status = None
        for _ in range(100):                    # the resolver's first answer: bounded wait
            status, _, _ = get(self.conn(), "/good", "n.example")
            if status == 200:
                break
            time.sleep(0.05)
        self.assertEqual(status, 200)
        started = time.monotonic()
        status, _, _ = get(self.conn(), "/bad", "n.example")
        self.assertEqual(status, 502)
        self.assertLess(time.monotonic() - started, 5)      # a failed origin, not a hang

    def test_routes_survive_kill_9(self):
        a, b = self.origins[:2]
        self.domain("k.example")
        self.rule("k.example", "/api", [a])
        self.rule("k.example", "/", [b])
        self.g.proc.send_signal(signal.SIGKILL)
        self.g.proc.wait()
        self.g.start()
        self.assertEqual(self.which("/api/x", "k.example"), 0)
        self.assertEqual(self.which("/x", "k.example"), 1)

    def test_kill_9_during_a_burst_loses_no_answered_change(self):
        """Four clients create rules and bind them as fast as they can; kill -9 lands in the
        middle. Every rule and binding that was answered is there after the restart, and serves."""
        a, b = self.origins[:2]
        self.domain("burst.example", default=True)
        answered, lock, stop = [], threading.Lock(), threading.Event()

        def client(k):
            g = self.g                          # each call is a connection of its own
            for i in range(1000):
                if stop.is_set():
                    return
                try:
                    resp = g.call("CreateRule", {
                        "ListenerId": self.lid, "Domain": "burst.example", "Path": f"/c{k}/r{i}",
                        "RealServerType": "IP", "Scheduler": "rr", "HealthCheck": 0})
                    rid = resp["RuleId"]
                    port = (a, b)[i % 2].port
                    resp = g.call("BindRuleRealServers", {"RuleId": rid, "RealServerBindSet": [
                        {"RealServerId": self.rs, "RealServerIP": "127.0.0.1",
                         "RealServerPort": port}]})
                    if "Error" in resp:
                        return
                    with lock:
                        answered.append((f"/c{k}/r{i}", rid, port))
                except (OSError, http.client.HTTPException, KeyError):
                    return

        threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while len(answered) < 40 and time.monotonic() < deadline:
            time.sleep(0.01)
        self.g.proc.send_signal(signal.SIGKILL)
        self.g.proc.wait()
        stop.set()
        for t in threads:
            t.join()
        self.assertGreaterEqual(len(answered), 40)
        self.g.start()
        got = self.ok("DescribeRules", {"ListenerId": self.lid})["DomainRuleSet"][0]["RuleSet"]
        bound = {r["RuleId"]: [s["RealServerPort"] for s in r["RealServerSet"]] for r in got}
        for path, rid, port in answered:
            self.assertEqual(bound.get(rid), [port], (path, rid))
        for path, rid, port in answered[:: max(1, len(answered) // 10)]:
            self.assertEqual(self.which(path + "/x", "burst.example"), 0 if port == a.port else 1)

    def test_deleting_the_listener_frees_the_port_and_its_objects(self):
        a = self.origins[0]
        self.domain("d.example", default=True)
        rid = self.rule("d.example", "/", [a])
        resp = self.g.call("DeleteListeners", {"ProxyId": PROXY,
                                               "ListenerIds": [self.lid], "Force": 0})
        self.assertEqual(error_code(resp), "FailedOperation.RealServerAlreadyBound", resp)
        self.ok("DeleteListeners", {"ProxyId": PROXY, "ListenerIds": [self.lid],
                                    "Force": 1})
        got = self.g.call("DescribeRulesByRuleIds", {"RuleIds": [rid]})
        self.assertEqual(got.get("TotalCount"), 0, got)
        self.ok("RemoveRealServers", {"RealServerIds": [self.rs]})     # nothing binds it now
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", self.port), timeout=2).close()


if __name__ == "__main__":
    unittest.main()
