"""Fleets (issue 16): three gaapd nodes of one proxy share their state through a real etcd.

Nodes A, B, C (tests/e2e/fleet.py) control and bind on 127.0.0.1, .2, .3; each test has its own
etcd (one member, three for the leader test), prefix and state directories. Every wait is bounded.
Skipped only when etcd is not installed.
"""
import concurrent.futures
import http.client
import os
import random
import shutil
import signal
import socket
import threading
import time
import unittest

import etcd
import fleet as F
from harness import free_port

HAVE_ETCD = shutil.which(etcd.ETCD_BIN) is not None


def ports(n):
    return [free_port() for _ in range(n)]


def burst(calls, workers=16, timeout=10):
    """Run (node, port) creates concurrently; [(node, port, code, id or None)] in call order.
    A call that got no answer (connection refused or broken, timeout) has code "NO_ANSWER"."""
    def one(call):
        node, port = call
        try:
            r = node.create(port, timeout=timeout)
        except (OSError, http.client.HTTPException, AssertionError):
            return node, port, "NO_ANSWER", None
        return node, port, F.error_of(r), r.get("ListenerId")
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        return list(ex.map(one, calls))


@unittest.skipUnless(HAVE_ETCD, "etcd is not installed (Debian: etcd-server)")
class FleetTest(unittest.TestCase):
    members = 1
    max_listeners = 100
    relay_for = ()
    allowed_errors = None     # None: no error line allowed in any node's log

    def setUp(self):
        self.fleet = F.Fleet(self.members, self.max_listeners, relay_for=self.relay_for)
        self.fleet.start()
        self.addCleanup(self.fleet.stop)
        self.a, self.b, self.c = self.fleet["a"], self.fleet["b"], self.fleet["c"]

    def tearDown(self):
        if self.allowed_errors is None:
            for n in (self.a, self.b, self.c):
                self.assertEqual(n.errors(), [], f"error lines in node {n.name}'s log")

    def same_everywhere(self, ids, timeout=15, nodes=None):
        """Every node describes exactly ids (a set), each port once, and serves every port."""
        nodes = nodes or (self.a, self.b, self.c)
        for n in nodes:
            got = F.wait_for(f"node {n.name} describes the {len(ids)} listeners",
                             lambda n=n: (lambda l: l if set(l) == ids else None)(n.listeners()),
                             timeout, step=0.1)
            ports_ = [l["Port"] for l in got.values()]
            self.assertEqual(len(ports_), len(set(ports_)), f"a port twice on node {n.name}")
            for p in ports_:
                F.wait_for(f"node {n.name} accepts on port {p}", lambda n=n, p=p: n.accepts(p),
                           5)
        return got


class TestCreateDelete(FleetTest):
    def test_create_on_a_is_served_by_b_and_c_and_delete_on_b_is_gone_everywhere(self):
        port = free_port()
        r = self.a.create(port, "fleet-1")
        self.assertNotIn("Error", r)
        lid = r["ListenerId"]
        for n in (self.a, self.b, self.c):
            F.wait_for(f"HTTP 200 through node {n.name}", lambda n=n: n.get(port) == 200, 5)
            self.assertIn(lid, n.listeners())
        for n in (self.a, self.b, self.c):
            F.wait_for(f"ListenerStatus 0 on node {n.name}",
                       lambda n=n: n.listeners()[lid]["ListenerStatus"] == 0, 10, step=0.05)
        d = self.b.delete([lid])
        self.assertEqual(d.get("OperationSucceedListenerSet"), [lid], d)
        for n in (self.a, self.b, self.c):
            F.wait_for(f"port closed on node {n.name}", lambda n=n: not n.accepts(port), 5)
            F.wait_for(f"node {n.name} describes nothing", lambda n=n: n.listeners() == {}, 5)


def burst_with_fault(calls, after, fault, timeout=10):
    """The calls, 8 at a time, and fault() on a thread of its own once `after` of them were
    answered: every call's outcome as burst() gives it, in the order of calls."""
    done = []

    def fault_when_due():
        F.wait_for(f"{after} answers before the fault", lambda: len(done) >= after, 20,
                   step=0.005)
        fault()

    def one(call):
        res = burst([call], workers=1, timeout=timeout)[0]
        done.append(res)
        return res
    t = threading.Thread(target=fault_when_due)
    t.start()
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        out = list(ex.map(one, calls))
    t.join(25)
    return out


def race(a, b, seed):
    """100 ports, each created once on a and once on b, the 200 calls at once in a shuffled
    order: the ports, every answer's code, and the winners {listener id: port}."""
    ps = ports(100)
    calls = [(a, p) for p in ps] + [(b, p) for p in ps]
    random.Random(seed).shuffle(calls)
    out = burst(calls)
    return ps, [c for _, _, c, _ in out], {lid: p for _, p, c, lid in out if c == "OK"}


class TestConcurrentPorts(FleetTest):
    def test_200_creates_of_100_ports_over_a_and_b_exactly_100_win(self):
        ps, codes, won = race(self.a, self.b, 16)
        self.assertEqual(len(won), 100, sorted(set(codes)))
        self.assertEqual(sorted(won.values()), sorted(ps), "a port won twice or not at all")
        self.assertEqual(set(codes), {"OK", F.DUPLICATED}, codes)
        self.same_everywhere(set(won))


class TestConcurrentLimit(FleetTest):
    max_listeners = 50

    def test_200_creates_with_max_listeners_50_exactly_50_win(self):
        _, codes, won = race(self.a, self.b, 50)
        self.assertEqual(len(won), 50, sorted(set(codes)))
        self.assertEqual(len(set(won.values())), 50, "a port won twice")
        self.assertLessEqual(set(codes), {"OK", F.DUPLICATED, F.LIMIT}, codes)
        self.assertIn(F.LIMIT, codes)
        self.same_everywhere(set(won))


class TestLeaderFailure(FleetTest):
    members = 3
    allowed_errors = ()       # etcd's leader dies: the nodes may log it

    def test_killing_the_leader_during_a_burst_loses_no_answered_create(self):
        ps = ports(90)
        calls = [(self.a if i % 2 else self.b, p) for i, p in enumerate(ps)]
        killer_out = {}

        def kill_leader():
            leader = self.fleet.cluster.leader()
            killer_out["leader"] = leader
            if leader is not None:
                leader.stop(signal.SIGKILL)
        out = burst_with_fault(calls, 30, kill_leader, timeout=15)
        self.assertIsNotNone(killer_out.get("leader"), "no leader found to kill")
        codes = {c for _, _, c, _ in out}
        # documented: the store unavailable while a new leader is elected, or a stale view
        self.assertLessEqual(codes, {"OK", F.NOT_RUNNING, "FailedOperation"}, codes)
        won = {lid: p for _, p, c, lid in out if c == "OK"}
        self.assertGreater(len(won), 0)
        unknown = {p for _, p, c, _ in out if c == "NO_ANSWER"}
        # every answered success on every node; anything else there only from an unanswered call
        for n in (self.a, self.b, self.c):
            got = F.wait_for(f"node {n.name} has every answered create",
                             lambda n=n: (lambda l: l if set(won) <= set(l) else None)(
                                 n.listeners()), 20, step=0.1)
            extra = {l["Port"] for lid, l in got.items() if lid not in won}
            self.assertLessEqual(extra, unknown, f"node {n.name}: refused creates exist")
        ids = set(self.a.listeners())
        self.same_everywhere(ids)


class TestEtcdDown(FleetTest):
    allowed_errors = ()

    def refused(self, node, timeout=15):
        r = F.wait_for(f"node {node.name} refuses creates", lambda: (
            lambda r: r if F.error_of(r) == F.NOT_RUNNING else None)(node.create(free_port())),
            timeout, step=0.1)
        self.assertIn("state store is unavailable", r["Error"]["Message"])

    def test_etcd_down_serves_and_refuses_then_converges(self):
        p1 = free_port()
        l1 = self.a.create(p1)["ListenerId"]
        for n in (self.b, self.c):
            F.wait_for(f"node {n.name} serves", lambda n=n: n.get(p1) == 200, 5)
        m = self.fleet.cluster.members[0]
        m.stop()
        for n in (self.a, self.b):
            self.refused(n)
        for n in (self.a, self.b, self.c):
            self.assertEqual(n.get(p1), 200, f"node {n.name} stopped serving")
            self.assertIn(l1, n.listeners(), "Describe answers from the local view")
        m.restart()
        p2 = free_port()
        r = F.wait_for("a create on B once etcd is back", lambda: (
            lambda r: r if F.error_of(r) == "OK" else None)(self.b.create(p2)), 20, step=0.1)
        for n in (self.a, self.c):
            F.wait_for(f"node {n.name} serves the new one", lambda n=n: n.get(p2) == 200, 10)
        self.same_everywhere({l1, r["ListenerId"]})

    def test_a_node_started_with_etcd_down_serves_its_cache_and_refuses(self):
        p1 = free_port()
        l1 = self.a.create(p1)["ListenerId"]
        F.wait_for("node C serves", lambda: self.c.get(p1) == 200, 5)
        self.c.stop()
        m = self.fleet.cluster.members[0]
        m.stop()
        path = os.path.join(self.c.dir, "notify.sock")
        note = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(note.close)
        note.bind(path)
        note.settimeout(10)
        os.environ["NOTIFY_SOCKET"] = path
        try:
            self.c.start()
        finally:
            del os.environ["NOTIFY_SOCKET"]
        self.assertIn("READY=1", note.recv(4096).decode())
        self.assertEqual(self.c.get(p1), 200, "C serves its cached listener")
        self.assertIn(l1, self.c.listeners())
        r = self.c.create(free_port())
        self.assertEqual(F.error_of(r), F.NOT_RUNNING, r)
        m.restart()
        self.fleet.wait_connected(self.c, 20)
        p2 = free_port()
        r = F.wait_for("a create on C once etcd is back", lambda: (
            lambda r: r if F.error_of(r) == "OK" else None)(self.c.create(p2)), 20, step=0.1)
        self.same_everywhere({l1, r["ListenerId"]})


class TestCompaction(FleetTest):
    relay_for = ("c",)
    allowed_errors = ()

    def test_compaction_while_cut_off_resyncs_and_keeps_unchanged_connections(self):
        p1, p3 = free_port(), free_port()
        l1 = self.a.create(p1)["ListenerId"]
        l3 = self.a.create(p3)["ListenerId"]
        for p in (p1, p3):
            F.wait_for("node C serves", lambda p=p: self.c.get(p) == 200, 5)
        conn = http.client.HTTPConnection(self.c.addr, p1, timeout=5)
        conn.request("GET", "/before")
        self.assertEqual(conn.getresponse().read() and 200, 200)
        sock = conn.sock
        resyncs = self.c.metrics()["gaapd_store_etcd_resyncs_total"]
        relay = self.fleet.relays["c"]
        relay.cut()
        F.wait_for("node C sees etcd gone",
                   lambda: self.c.metrics()["gaapd_store_etcd_connected"] == 0, 15)
        p2 = free_port()
        l2 = self.a.create(p2)["ListenerId"]
        self.assertEqual(self.a.delete([l3]).get("OperationSucceedListenerSet"), [l3])
        self.fleet.compact()
        relay.restore()
        self.fleet.wait_connected(self.c, 20)
        F.wait_for("node C serves the one created while cut off",
                   lambda: self.c.get(p2) == 200, 10)
        F.wait_for("node C dropped the one deleted while cut off",
                   lambda: not self.c.accepts(p3), 10)
        self.assertGreater(self.c.metrics()["gaapd_store_etcd_resyncs_total"], resyncs)
        conn.request("GET", "/after")
        resp = conn.getresponse()
        resp.read()
        self.assertEqual(resp.status, 200)
        self.assertIs(conn.sock, sock, "the keep-alive connection was replaced")
        conn.close()
        self.same_everywhere({l1, l2})


    def test_a_short_cut_resumes_the_watch_without_a_resync(self):
        p1 = free_port()
        l1 = self.a.create(p1)["ListenerId"]
        F.wait_for("node C serves", lambda: self.c.get(p1) == 200, 5)
        resyncs = self.c.metrics()["gaapd_store_etcd_resyncs_total"]
        relay = self.fleet.relays["c"]
        relay.cut()
        F.wait_for("node C sees etcd gone",
                   lambda: self.c.metrics()["gaapd_store_etcd_connected"] == 0, 15)
        p2 = free_port()
        l2 = self.a.create(p2)["ListenerId"]
        relay.restore()
        self.fleet.wait_connected(self.c, 20)
        F.wait_for("node C serves the one created while cut off",
                   lambda: self.c.get(p2) == 200, 10)
        self.assertEqual(self.c.metrics()["gaapd_store_etcd_resyncs_total"], resyncs,
                         "no compaction: the watch resumes from the last revision seen")
        self.same_everywhere({l1, l2})


class TestNodeKill(FleetTest):
    allowed_errors = ()

    def test_kill_9_of_a_node_during_a_burst_restarts_and_converges(self):
        ps = ports(80)
        calls = [(self.a if i % 2 else self.c, p) for i, p in enumerate(ps)]
        out = burst_with_fault(calls, 20, lambda: self.b.proc.send_signal(signal.SIGKILL))
        self.b.proc.wait(5)
        self.b.kill()
        won = {lid for _, _, c, lid in out if c == "OK"}
        self.assertEqual(len(won), 80, {c for _, _, c, _ in out})
        self.b.start()
        self.fleet.wait_connected(self.b, 20)
        self.same_everywhere(won)


class TestPortTakenOnOneNode(FleetTest):
    allowed_errors = ()

    def test_a_node_that_cannot_bind_keeps_the_status_creating_and_says_why(self):
        port = free_port()
        hold = socket.socket()
        self.addCleanup(hold.close)
        hold.bind((self.c.addr, port))
        hold.listen(1)
        r = self.a.create(port)
        self.assertNotIn("Error", r)
        lid = r["ListenerId"]
        for n in (self.a, self.b):
            F.wait_for(f"node {n.name} serves", lambda n=n: n.get(port) == 200, 5)
        F.wait_for("node C describes it", lambda: lid in self.c.listeners(), 5)
        F.wait_for("node C's log says why", lambda: any(
            str(port) in line and lid in line for line in self.c.log_text().splitlines()
            if line.startswith(("<3>", "<4>"))), 5)
        why = F.wait_for("node C's status key in etcd says why", lambda: self.fleet.etcd_get(
            f"{self.fleet.prefix}/status/{lid}/node-c"), 5)
        self.assertIn("Address already in use", why)
        self.assertEqual(self.fleet.etcd_get(f"{self.fleet.prefix}/status/{lid}/node-a"), "bound")
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            for n in (self.a, self.b, self.c):
                self.assertEqual(n.listeners()[lid]["ListenerStatus"], 1, n.name)
            time.sleep(0.2)


if __name__ == "__main__":
    unittest.main()
