"""Real servers through the API (l7-and-https.md §2): AddRealServers, DescribeRealServers,
RemoveRealServers, ModifyRealServerName, DescribeRealServersStatus; each action's success and
every documented error, all-or-nothing changes, and what survives a restart or kill -9."""
import re
import signal
import unittest

from harness import Gaapd, call_v1, error_code

RS_ID = re.compile(r"^rs-[0-9a-z]{8}$")


class RealServers(unittest.TestCase):
    config = {"max_real_servers": 6}

    def setUp(self):
        self.g = Gaapd(**self.config)
        self.addCleanup(self.g.cleanup)
        self.g.start()

    def add(self, addrs, name="origin-1", project=0, **extra):
        return self.g.call("AddRealServers", dict({"ProjectId": project, "RealServerIP": addrs,
                                                    "RealServerName": name}, **extra))

    def describe(self, project=-1, **extra):
        return self.g.call("DescribeRealServers", dict({"ProjectId": project}, **extra))

    def ips(self, **extra):
        return [r["RealServerIP"] for r in self.describe(Limit=50, **extra)["RealServerSet"]]

    def assertCode(self, resp, code, text=None):
        self.assertEqual(error_code(resp), code, resp)
        if text is not None:
            self.assertIn(text, resp["Error"]["Message"])

    # ---- AddRealServers ----

    def test_add_answers_an_id_per_address_in_request_order(self):
        resp = self.add(["10.0.0.1", "2001:db8::1", "origin.Example.com\n"])
        got = resp["RealServerSet"]
        self.assertEqual([r["RealServerIP"] for r in got],
                         ["10.0.0.1", "2001:db8::1", "origin.Example.com"])   # trimmed
        self.assertTrue(all(RS_ID.match(r["RealServerId"]) for r in got), got)
        self.assertEqual(len({r["RealServerId"] for r in got}), 3)
        listed = self.describe(Limit=50)
        self.assertEqual(listed["TotalCount"], 3)
        self.assertEqual(listed["RealServerSet"][0], {
            "RealServerId": got[0]["RealServerId"], "RealServerIP": "10.0.0.1",
            "RealServerName": "origin-1", "ProjectId": 0, "TagSet": []})

    def test_an_address_already_registered_adds_none(self):
        self.add(["10.0.0.1", "::1", "a.example"])
        for dup in ("10.0.0.1", "0:0::1", "A.EXAMPLE"):        # by value, case-insensitively
            with self.subTest(dup=dup):
                self.assertCode(self.add(["10.0.0.9", dup]), "InvalidParameterValue.DuplicateRS",
                                dup)
        self.assertCode(self.add(["10.0.0.7", "10.0.0.7"]), "InvalidParameterValue.DuplicateRS")
        self.assertEqual(self.describe()["TotalCount"], 3)

    def test_malformed_addresses_names_and_counts_are_refused(self):
        for addr in ("", "-a.example", "a_b.example", "a..example", "[::1]", "10.0.0.1:80",
                     "x" * 64 + ".example", "a.example-"):
            with self.subTest(addr=addr):
                self.assertCode(self.add([addr]), "InvalidParameterValue")
        self.assertCode(self.add([]), "InvalidParameterValue", "1 to 100")
        self.assertCode(self.add([f"10.0.1.{i}" for i in range(101)]), "InvalidParameterValue")
        self.assertCode(self.add(["10.0.0.1"], name="bad\u202ename"), "InvalidParameterValue",
                        "RealServerName")
        self.assertCode(self.g.call("AddRealServers", {"ProjectId": 0, "RealServerIP": ["a.b"]}),
                        "MissingParameter")
        self.assertEqual(self.describe()["TotalCount"], 0)

    def test_tags_are_kept_and_checked(self):
        tags = [{"TagKey": "env", "TagValue": "prod"}, {"TagKey": "team", "TagValue": ""}]
        self.add(["10.0.0.1"], TagSet=tags)
        self.assertEqual(self.describe()["RealServerSet"][0]["TagSet"], tags)
        self.assertCode(self.add(["10.0.0.2"], TagSet=[{"TagKey": "", "TagValue": "x"}]),
                        "InvalidParameterValue.InvalidTags")
        self.assertCode(self.add(["10.0.0.2"], TagSet=[{"TagKey": "k", "TagValue": "1"},
                                                       {"TagKey": "k", "TagValue": "2"}]),
                        "InvalidParameterValue.InvalidTags")
        many = [{"TagKey": f"k{i}", "TagValue": "v"} for i in range(51)]
        self.assertCode(self.add(["10.0.0.2"], TagSet=many), "LimitExceeded.TagQuota")
        self.assertCode(self.add(["10.0.0.2"], TagSet=[{"TagKey": "k"}]), "InvalidParameter")

    def test_the_node_limit_refuses_the_whole_call(self):
        self.add([f"10.0.0.{i}" for i in range(1, 5)])
        self.assertCode(self.add(["10.0.1.1", "10.0.1.2", "10.0.1.3"]), "LimitExceeded",
                        "node.max_real_servers")
        self.assertEqual(self.describe()["TotalCount"], 4)
        self.add(["10.0.1.1", "10.0.1.2"])                     # exactly up to it

    def test_get_form_with_nested_tags(self):
        resp = call_v1(self.g, "AddRealServers", {"ProjectId": 3, "RealServerIP": ["10.9.9.9"],
                                                  "RealServerName": "v1",
                                                  "TagSet": [{"TagKey": "a", "TagValue": "b"}]})
        self.assertTrue(RS_ID.match(resp["RealServerSet"][0]["RealServerId"]), resp)
        got = self.describe(project=3)["RealServerSet"][0]
        self.assertEqual((got["ProjectId"], got["TagSet"]), (3, [{"TagKey": "a", "TagValue": "b"}]))

    # ---- DescribeRealServers ----

    def test_describe_filters_page_and_refuses_what_it_does_not_know(self):
        self.add(["10.0.0.1", "web.example"], name="web", project=1,
                 TagSet=[{"TagKey": "env", "TagValue": "prod"}])
        self.add(["10.0.0.2", "db.example"], name="db", project=2)
        self.assertEqual(self.ips(), ["10.0.0.1", "web.example", "10.0.0.2", "db.example"])
        self.assertEqual(self.ips(project=2), ["10.0.0.2", "db.example"])
        self.assertEqual(self.ips(SearchValue="EXAMPLE"), ["web.example", "db.example"])
        self.assertEqual(self.ips(TagSet=[{"TagKey": "env", "TagValue": "prod"},
                                          {"TagKey": "x", "TagValue": "y"}]),
                         ["10.0.0.1", "web.example"])
        self.assertEqual(self.ips(Filters=[{"Name": "RealServerName", "Values": ["db", "z"]},
                                           {"Name": "RealServerIP", "Values": ["10.0.0.2"]}]),
                         ["10.0.0.2"])
        page = self.describe(Offset=1, Limit=2)
        self.assertEqual((page["TotalCount"], [r["RealServerIP"] for r in page["RealServerSet"]]),
                         (4, ["web.example", "10.0.0.2"]))
        none = self.describe(project=9)
        self.assertEqual((none["TotalCount"], none["RealServerSet"]), (0, []))
        self.assertCode(self.describe(project=-2), "InvalidParameterValue")
        self.assertCode(self.describe(Limit=51), "InvalidParameterValue")
        self.assertCode(self.describe(Filters=[{"Name": "ProjectId", "Values": ["1"]}]),
                        "InvalidParameterValue")
        self.assertCode(self.describe(TagSet=[{"TagKey": f"k{i}", "TagValue": "v"}
                                              for i in range(6)]), "InvalidParameterValue")

    # ---- RemoveRealServers, ModifyRealServerName, DescribeRealServersStatus ----

    def test_remove_is_all_or_nothing(self):
        ids = [r["RealServerId"] for r in self.add(["10.0.0.1", "10.0.0.2"])["RealServerSet"]]
        self.assertCode(self.g.call("RemoveRealServers", {"RealServerIds": [ids[0], "rs-nosuch00"]}),
                        "ResourceNotFound", "RealServerId(rs-nosuch00) Not Exist.")
        self.assertEqual(self.describe()["TotalCount"], 2)
        self.g.call("RemoveRealServers", {"RealServerIds": [ids[0], ids[0]]})
        self.assertEqual(self.ips(), ["10.0.0.2"])
        self.add(["10.0.0.1"])                                  # its address is free again
        self.assertCode(self.g.call("RemoveRealServers", {"RealServerIds": []}),
                        "InvalidParameterValue")

    def test_rename(self):
        rid = self.add(["10.0.0.1"])["RealServerSet"][0]["RealServerId"]
        self.g.call("ModifyRealServerName", {"RealServerId": rid, "RealServerName": "renamed"})
        self.assertEqual(self.describe()["RealServerSet"][0]["RealServerName"], "renamed")
        self.assertCode(self.g.call("ModifyRealServerName", {"RealServerId": "rs-nosuch00",
                                                             "RealServerName": "x"}),
                        "InvalidParameterValue", "RealServerId(rs-nosuch00) Not Exist.")
        self.assertCode(self.g.call("ModifyRealServerName", {"RealServerId": rid,
                                                             "RealServerName": "a b"}),
                        "InvalidParameterValue")

    def test_status_is_binding_not_health(self):
        ids = [r["RealServerId"] for r in self.add(["10.0.0.1", "10.0.0.2"])["RealServerSet"]]
        resp = self.g.call("DescribeRealServersStatus", {"RealServerIds": ids[::-1]})
        self.assertEqual(resp["TotalCount"], 2)
        self.assertEqual(resp["RealServerStatusSet"], [
            {"RealServerId": i, "BindStatus": 0, "ProxyId": "", "GroupId": ""} for i in ids[::-1]])
        self.assertCode(self.g.call("DescribeRealServersStatus",
                                    {"RealServerIds": [ids[0], "rs-nosuch00"]}),
                        "ResourceNotFound")

    # ---- durability ----

    def test_what_was_answered_survives_a_restart_and_kill_9(self):
        a = self.add(["10.0.0.1"], name="kept")["RealServerSet"][0]["RealServerId"]
        b = self.add(["b.example"])["RealServerSet"][0]["RealServerId"]
        self.g.call("ModifyRealServerName", {"RealServerId": b, "RealServerName": "renamed"})
        self.g.stop()
        self.g.start()
        self.assertEqual([(r["RealServerId"], r["RealServerName"])
                          for r in self.describe()["RealServerSet"]], [(a, "kept"), (b, "renamed")])
        self.g.call("RemoveRealServers", {"RealServerIds": [a]})
        c = self.add(["10.0.0.3"])["RealServerSet"][0]["RealServerId"]
        self.g.proc.send_signal(signal.SIGKILL)
        self.g.proc.wait(10)
        self.g.log.close()
        self.g.start()
        self.assertEqual([r["RealServerId"] for r in self.describe()["RealServerSet"]], [b, c])
        self.assertCode(self.add(["B.example"]), "InvalidParameterValue.DuplicateRS")


if __name__ == "__main__":
    unittest.main()
