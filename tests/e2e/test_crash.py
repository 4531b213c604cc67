"""kill -9 at any moment of a burst of creates and deletes: after a restart, every listener the
API confirmed is there and serving, none that it refused or never confirmed to exist is, and no
port is listed twice."""
import random
import signal
import threading
import time
import unittest

from harness import PROXY, Gaapd, Origin, error_code, free_port, http_get

ROUNDS = 12
CALLS_PER_ROUND = 60


class Ledger:
    """What the client knows: for each listener id, confirmed alive, confirmed gone, or unknown."""

    def __init__(self):
        self.alive = {}         # id -> port: created, and no delete was sent since
        self.unknown = {}       # id -> port: a delete was sent and not answered
        self.refused_ports = set()
        self.lock = threading.Lock()


def burst(g, ledger, ports, stop):
    rng = random.Random()
    for _ in range(CALLS_PER_ROUND):
        if stop.is_set():
            return
        try:
            if ledger.alive and rng.random() < 0.4:
                lid, port = rng.choice(sorted(ledger.alive.items()))
                with ledger.lock:
                    del ledger.alive[lid]
                    ledger.unknown[lid] = port
                resp = g.call("DeleteListeners", {"ListenerIds": [lid], "ProxyId": PROXY, "Force": 1})
                if lid in resp.get("OperationSucceedListenerSet", []):
                    with ledger.lock:
                        del ledger.unknown[lid]
            else:
                port = ports.pop()
                resp = g.create(port, name=f"p{port}")
                if error_code(resp) is None:
                    with ledger.lock:
                        ledger.alive[resp["ListenerId"]] = port
                else:
                    ledger.refused_ports.add(port)
        except OSError:
            return          # the daemon died under us: this call's outcome is unknown


def describe_all(g):
    items, offset = [], 0
    while True:
        resp = g.call("DescribeHTTPListeners", {"ProxyId": PROXY, "Offset": offset, "Limit": 50})
        items += resp["ListenerSet"]
        offset += 50
        if offset >= resp["TotalCount"]:
            return items


class KillNine(unittest.TestCase):
    def test_confirmed_listeners_survive_kill_9_at_random_moments(self):
        origin = Origin()
        self.addCleanup(origin.close)
        g = Gaapd(workers=2, proxies=[{"id": PROXY, "max_listeners": 5000,
                                       "origins": [f"127.0.0.1:{origin.port}"]}])
        self.addCleanup(g.cleanup)
        ledger = Ledger()
        rng = random.Random(9)
        for _ in range(ROUNDS):
            g.start()
            # Created before the previous kill but unconfirmed: the create may or may not have
            # landed; it is never a listener the API refused.
            ports = [free_port() for _ in range(CALLS_PER_ROUND)]
            stop = threading.Event()
            t = threading.Thread(target=burst, args=(g, ledger, ports, stop))
            t.start()
            time.sleep(rng.uniform(0.005, 0.15))
            g.proc.send_signal(signal.SIGKILL)
            g.proc.wait()
            stop.set()
            t.join(30)
            g.log.close()
        g.start()
        listed = describe_all(g)
        by_id = {l["ListenerId"]: l for l in listed}
        ports = [l["Port"] for l in listed]
        self.assertEqual(len(ports), len(set(ports)), "a port is listed twice")
        for lid, port in ledger.alive.items():
            self.assertIn(lid, by_id, f"confirmed listener {lid} lost")
            self.assertEqual(by_id[lid]["Port"], port)
            self.assertEqual(by_id[lid]["ListenerStatus"], 0)
            status, _, _ = http_get(port, "/after-crash")
            self.assertEqual(status, 200)
        allowed = set(ledger.alive) | set(ledger.unknown)
        for l in listed:
            if l["ListenerId"] not in allowed:
                # Only a create cut by the kill before its answer may have landed unconfirmed.
                self.assertNotIn(l["Port"], ledger.refused_ports)
        g.stop()


if __name__ == "__main__":
    unittest.main()
