"""tests/e2e/etcd.py itself: one member that keeps its data across a restart, and a 3-member
cluster that elects a new leader when its leader is stopped."""
import time
import unittest

from etcd import Cluster


class EtcdHarnessTest(unittest.TestCase):
    def test_one_member_restart_keeps_data(self):
        with Cluster(1) as cl:
            m = cl.members[0]
            m.put("/gaapd/x", "1")
            m.stop()
            self.assertFalse(m.healthy())
            m.restart()
            self.assertEqual(m.get("/gaapd/x"), "1")

    def test_cluster_survives_its_leader(self):
        with Cluster(3) as cl:
            old = cl.leader()
            self.assertIsNotNone(old)
            rest = [m for m in cl.members if m is not old]
            rest[0].put("/gaapd/y", "before")
            old.stop()
            deadline, new = time.monotonic() + 15, None
            while new is None and time.monotonic() < deadline:
                new = cl.leader()
                time.sleep(0.05)
            self.assertIn(new, rest)
            rest[1].put("/gaapd/y", "after")
            self.assertEqual(rest[0].get("/gaapd/y"), "after")


if __name__ == "__main__":
    unittest.main()
