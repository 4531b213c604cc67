"""The listener lifecycle end to end: CreateHTTPListener on proxy groups, DescribeHTTPListeners,
ModifyHTTPListenerAttribute, DeleteListeners (with a request in flight), DescribeProxies and
DescribeProxyGroupList; restore after restarts and kill -9; concurrent creates against the state
file. Each documented error code is provoked by its real cause and checked by its exact string."""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

from harness import (GAAPCTL, LISTENER_ID, PROXY, SECRET_ID, SECRET_KEY, Gaapd, GaapdTest,
                     HeldOrigin, dump_state, error_code, fail_file_writes, free_port, http_get,
                     port_accepts, yaml_config)

OTHER = "link-other001"
GROUP = "lg-qz6ntod5"
LISTENER_KEYS = {"ListenerId", "ListenerName", "Port", "CreateTime", "Protocol", "ListenerStatus",
                 "ProxyId", "GroupId"}


def yaml_groups(groups):
    """A groups: section with each group's status (yaml_config leaves status to its default)."""
    lines = ["groups:"]
    for g in groups:
        lines += [f"  - id: {g['id']}", f"    status: {g.get('status', 'RUNNING')}",
                  "    proxies: [" + ", ".join(g["proxies"]) + "]"]
    return "\n".join(lines) + "\n"


def state_records(gaapd):
    """The listener records of the state store, read as an operator would (--dump-state)."""
    return [r["fields"] for r in dump_state(gaapd)["records"] if r["kind"] == "listener"]


def describe(gaapd, **params):
    return gaapd.call("DescribeHTTPListeners", params)


def describe_all(gaapd, **params):
    """Every page of DescribeHTTPListeners."""
    items, total = [], None
    while total is None or len(items) < total:
        resp = describe(gaapd, Offset=len(items), Limit=100, **params)
        total = resp["TotalCount"]
        if not resp["ListenerSet"]:
            break
        items += resp["ListenerSet"]
    return items


def delete(gaapd, ids, proxy=PROXY, force=0, key=None, **extra):
    params = {"ListenerIds": ids, "Force": force, **extra}
    if proxy is not None:
        params["ProxyId"] = proxy
    return gaapd.call("DeleteListeners", params, **(key or {}))


def ok(test, resp):
    test.assertNotIn("Error", resp)
    return resp


# ---- DescribeHTTPListeners ----

class Describe(GaapdTest):
    config = {"proxies": [{"id": PROXY, "origins": ["127.0.0.1:1"]},
                          {"id": OTHER, "origins": ["127.0.0.1:1"]}],
              "credentials": "[ops]\nsecret_id = AKIDLIMITED\nsecret_key = limitedkey\n"
                             f"proxies = {OTHER}\n"}

    def setUp(self):
        super().setUp()
        self.ports = sorted(free_port() for _ in range(3))
        self.ids = [self.gaapd.create(p, name=n)["ListenerId"]
                    for p, n in zip(self.ports, ("web-Alpha", "web-beta", "api"))]
        self.other_id = self.gaapd.create(free_port(), name="elsewhere", proxy=OTHER)["ListenerId"]

    def test_items_have_exactly_the_published_fields_and_types(self):
        before = int(time.time())
        resp = ok(self, describe(self.gaapd, ProxyId=PROXY, ListenerId=self.ids[0]))
        self.assertEqual(set(resp), {"TotalCount", "ListenerSet", "RequestId"})
        self.assertEqual(resp["TotalCount"], 1)
        item = resp["ListenerSet"][0]
        self.assertEqual(set(item), LISTENER_KEYS)
        self.assertEqual((item["ListenerId"], item["ListenerName"], item["Port"], item["Protocol"],
                          item["ListenerStatus"], item["ProxyId"], item["GroupId"]),
                         (self.ids[0], "web-Alpha", self.ports[0], "HTTP", 0, PROXY, None))
        self.assertIsInstance(item["CreateTime"], int)
        self.assertLessEqual(abs(item["CreateTime"] - before), 60)

    def test_proxy_filter_lists_only_that_proxy_in_creation_order(self):
        resp = ok(self, describe(self.gaapd, ProxyId=PROXY))
        self.assertEqual(resp["TotalCount"], 3)
        self.assertEqual([i["ListenerId"] for i in resp["ListenerSet"]], self.ids)
        resp = ok(self, describe(self.gaapd, ProxyId=OTHER))
        self.assertEqual([i["ListenerId"] for i in resp["ListenerSet"]], [self.other_id])

    def test_exact_filters(self):
        by_name = ok(self, describe(self.gaapd, ProxyId=PROXY, ListenerName="web-beta"))
        self.assertEqual([i["ListenerId"] for i in by_name["ListenerSet"]], [self.ids[1]])
        by_port = ok(self, describe(self.gaapd, ProxyId=PROXY, Port=str(self.ports[2])))
        self.assertEqual([i["ListenerId"] for i in by_port["ListenerSet"]], [self.ids[2]])
        self.assertEqual(ok(self, describe(self.gaapd, ProxyId=PROXY, ListenerName="web"))
                         ["TotalCount"], 0)
        by_id = ok(self, describe(self.gaapd, ListenerId=self.other_id))
        self.assertEqual(by_id["ListenerSet"][0]["ProxyId"], OTHER)

    def test_search_value_is_fuzzy_on_name_and_port(self):
        resp = ok(self, describe(self.gaapd, ProxyId=PROXY, SearchValue="WEB"))
        self.assertEqual([i["ListenerId"] for i in resp["ListenerSet"]], self.ids[:2])
        resp = ok(self, describe(self.gaapd, ProxyId=PROXY, SearchValue=str(self.ports[2])))
        self.assertIn(self.ids[2], [i["ListenerId"] for i in resp["ListenerSet"]])
        self.assertEqual(ok(self, describe(self.gaapd, ProxyId=PROXY, SearchValue="nomatch"))
                         ["ListenerSet"], [])

    def test_offset_and_limit_page_and_total_count_counts_all(self):
        pages = [ok(self, describe(self.gaapd, ProxyId=PROXY, Offset=o, Limit=2)) for o in (0, 2, 9)]
        self.assertEqual([p["TotalCount"] for p in pages], [3, 3, 3])
        self.assertEqual([[i["ListenerId"] for i in p["ListenerSet"]] for p in pages],
                         [self.ids[:2], self.ids[2:], []])
        self.assertEqual(len(ok(self, describe(self.gaapd, ProxyId=PROXY, Limit="100"))
                             ["ListenerSet"]), 3)

    def test_an_unknown_listener_id_is_an_empty_answer_not_an_error(self):
        for params in ({"ListenerId": "listener-zzzzzzzz"}, {"ListenerId": "nonsense"},
                       {"ProxyId": PROXY, "ListenerId": self.other_id}):
            with self.subTest(params=params):
                resp = ok(self, describe(self.gaapd, **params))
                self.assertEqual((resp["TotalCount"], resp["ListenerSet"]), (0, []))

    def test_parameter_errors(self):
        cases = [({}, "MissingParameter"),
                 ({"ListenerName": "api"}, "MissingParameter"),
                 ({"ProxyId": PROXY, "GroupId": GROUP}, "InvalidParameter"),
                 ({"ProxyId": PROXY, "SearchValue": "a", "Port": 80}, "InvalidParameter"),
                 ({"ProxyId": PROXY, "SearchValue": "a", "ListenerName": "a"}, "InvalidParameter"),
                 ({"ProxyId": PROXY, "Port": "eighty"}, "InvalidParameter"),
                 ({"ProxyId": PROXY, "Limit": 0}, "InvalidParameterValue"),
                 ({"ProxyId": PROXY, "Limit": 101}, "InvalidParameterValue"),
                 ({"ProxyId": PROXY, "Offset": -1}, "InvalidParameter"),
                 ({"ProxyId": "link-BAD!"}, "InvalidParameterValue"),
                 ({"ProxyId": "link-zzzzzzzz"}, "ResourceNotFound"),
                 ({"GroupId": "lg-zzzzzzzz"}, "ResourceNotFound"),
                 ({"ProxyId": PROXY, "Colour": "blue"}, "UnknownParameter")]
        for params, code in cases:
            with self.subTest(params=params):
                self.assertCode(describe(self.gaapd, **params), code)

    def test_a_key_limited_to_other_proxies(self):
        limited = {"secret_id": "AKIDLIMITED", "secret_key": "limitedkey"}
        self.assertCode(self.gaapd.call("DescribeHTTPListeners", {"ProxyId": PROXY}, **limited),
                        "UnauthorizedOperation")
        self.assertCode(self.gaapd.call("DescribeHTTPListeners", {"ListenerId": self.ids[0]},
                                        **limited), "UnauthorizedOperation")
        resp = ok(self, self.gaapd.call("DescribeHTTPListeners", {"ProxyId": OTHER}, **limited))
        self.assertEqual(resp["TotalCount"], 1)


# ---- ModifyHTTPListenerAttribute ----

class Modify(GaapdTest):
    config = {"proxies": [{"id": PROXY, "origins": ["127.0.0.1:1"]},
                          {"id": OTHER, "origins": ["127.0.0.1:1"]}],
              "credentials": "[ops]\nsecret_id = AKIDLIMITED\nsecret_key = limitedkey\n"
                             f"proxies = {OTHER}\n"}
    allowed_errors = ("rename not done",)

    def setUp(self):
        super().setUp()
        self.port = free_port()
        self.id = self.gaapd.create(self.port, name="before")["ListenerId"]

    def name(self):
        return describe(self.gaapd, ListenerId=self.id)["ListenerSet"][0]["ListenerName"]

    def test_rename_is_durable_and_keeps_serving(self):
        resp = ok(self, self.gaapd.call("ModifyHTTPListenerAttribute",
                                        {"ListenerId": self.id, "ListenerName": "after",
                                         "ProxyId": PROXY}))
        self.assertEqual(set(resp), {"RequestId"})
        self.assertEqual(self.name(), "after")
        self.assertEqual([r["ListenerName"] for r in state_records(self.gaapd)], ["after"])
        self.assertTrue(port_accepts(self.port))
        self.gaapd.stop()
        self.gaapd.start()
        self.assertEqual(self.name(), "after")

    def test_errors(self):
        other = self.gaapd.create(free_port(), proxy=OTHER)["ListenerId"]
        modify = lambda **p: self.gaapd.call("ModifyHTTPListenerAttribute", p)
        self.assertCode(modify(ListenerName="x"), "MissingParameter")
        self.assertCode(modify(ListenerId=self.id), "MissingParameter")
        self.assertCode(modify(ListenerId=self.id, ListenerName="a" * 31), "InvalidParameterValue")
        self.assertCode(modify(ListenerId=self.id, ListenerName="has space"), "InvalidParameterValue")
        self.assertCode(modify(ListenerId="listener-zzzzzzzz", ListenerName="x"), "ResourceNotFound")
        self.assertCode(modify(ListenerId=other, ListenerName="x", ProxyId=PROXY), "ResourceNotFound")
        self.assertCode(modify(ListenerId=self.id, ListenerName="x", ProxyId="link-zzzzzzzz"),
                        "ResourceNotFound")
        self.assertCode(modify(ListenerId=self.id, ListenerName="x", GroupId=GROUP),
                        "UnknownParameter")
        self.assertCode(self.gaapd.call("ModifyHTTPListenerAttribute",
                                        {"ListenerId": self.id, "ListenerName": "x"},
                                        secret_id="AKIDLIMITED", secret_key="limitedkey"),
                        "UnauthorizedOperation")
        self.assertEqual(self.name(), "before")

    def test_a_failed_store_write_changes_nothing(self):
        writes_again = fail_file_writes(self.gaapd)
        self.assertCode(self.gaapd.call("ModifyHTTPListenerAttribute",
                                        {"ListenerId": self.id, "ListenerName": "after"}),
                        "InternalError")
        self.assertEqual(self.name(), "before")
        self.assertEqual([r["ListenerName"] for r in state_records(self.gaapd)], ["before"])
        writes_again()
        shutil.rmtree(os.path.join(self.gaapd.dir, "state"))
        self.assertCode(self.gaapd.call("ModifyHTTPListenerAttribute",
                                        {"ListenerId": self.id, "ListenerName": "after"}),
                        "FailedOperation.InstanceStatusNotInRuning")
        self.assertEqual(self.name(), "before")


# ---- DeleteListeners ----

class Delete(GaapdTest):
    config = {"proxies": [{"id": PROXY, "origins": ["127.0.0.1:1"]},
                          {"id": OTHER, "origins": ["127.0.0.1:1"]}],
              "credentials": "[ops]\nsecret_id = AKIDLIMITED\nsecret_key = limitedkey\n"
                             f"proxies = {OTHER}\n"}
    allowed_errors = ("nothing deleted",)

    def setUp(self):
        super().setUp()
        self.port = free_port()
        self.id = self.gaapd.create(self.port)["ListenerId"]

    def test_delete_answers_the_three_sets_and_frees_the_port_at_once(self):
        resp = ok(self, delete(self.gaapd, [self.id]))
        self.assertEqual(set(resp), {"OperationFailedListenerSet", "OperationSucceedListenerSet",
                                     "InvalidStatusListenerSet", "RequestId"})
        self.assertEqual((resp["OperationFailedListenerSet"], resp["OperationSucceedListenerSet"],
                          resp["InvalidStatusListenerSet"]), ([], [self.id], []))
        self.assertFalse(port_accepts(self.port))
        self.assertEqual(describe(self.gaapd, ListenerId=self.id)["TotalCount"], 0)
        self.assertEqual(state_records(self.gaapd), [])
        again = self.gaapd.create(self.port, name="again")
        self.assertRegex(again["ListenerId"], LISTENER_ID)
        self.assertTrue(port_accepts(self.port))

    def test_unknown_foreign_and_repeated_ids_go_to_invalid_status(self):
        other = self.gaapd.create(free_port(), proxy=OTHER)["ListenerId"]
        second = self.gaapd.create(free_port(), name="second")["ListenerId"]
        resp = ok(self, delete(self.gaapd, [self.id, "listener-zzzzzzzz", other, self.id, second,
                                            "junk"], force=1))
        self.assertEqual(resp["OperationSucceedListenerSet"], [self.id, second])
        self.assertEqual(resp["InvalidStatusListenerSet"], ["listener-zzzzzzzz", other, "junk"])
        self.assertEqual(resp["OperationFailedListenerSet"], [])
        self.assertEqual([r["ListenerId"] for r in state_records(self.gaapd)], [other])
        gone = ok(self, delete(self.gaapd, [self.id]))
        self.assertEqual(gone["InvalidStatusListenerSet"], [self.id])

    def test_a_delete_survives_a_restart(self):
        keep_port = free_port()
        keep = self.gaapd.create(keep_port, name="keep")["ListenerId"]
        ok(self, delete(self.gaapd, [self.id]))
        self.gaapd.stop()
        self.gaapd.start()
        resp = describe(self.gaapd, ProxyId=PROXY)
        self.assertEqual([i["ListenerId"] for i in resp["ListenerSet"]], [keep])
        self.assertFalse(port_accepts(self.port))
        self.assertTrue(port_accepts(keep_port))

    def test_parameter_errors(self):
        cases = [({"Force": 0, "ProxyId": PROXY}, "MissingParameter"),
                 ({"ListenerIds": [self.id], "ProxyId": PROXY}, "MissingParameter"),
                 ({"ListenerIds": [self.id], "Force": 2, "ProxyId": PROXY}, "InvalidParameterValue"),
                 ({"ListenerIds": [self.id], "Force": "yes", "ProxyId": PROXY}, "InvalidParameter"),
                 ({"ListenerIds": [], "Force": 0, "ProxyId": PROXY}, "InvalidParameterValue"),
                 ({"ListenerIds": self.id, "Force": 0, "ProxyId": PROXY}, "InvalidParameter"),
                 ({"ListenerIds": [1], "Force": 0, "ProxyId": PROXY}, "InvalidParameter"),
                 ({"ListenerIds": [f"listener-{i:08d}" for i in range(101)], "Force": 0,
                   "ProxyId": PROXY}, "InvalidParameterValue"),
                 ({"ListenerIds": [self.id], "Force": 0}, "MissingParameter"),
                 ({"ListenerIds": [self.id], "Force": 0, "ProxyId": PROXY, "GroupId": GROUP},
                  "InvalidParameter"),
                 ({"ListenerIds": [self.id], "Force": 0, "ProxyId": "link-zzzzzzzz"},
                  "ResourceNotFound"),
                 ({"ListenerIds": [self.id], "Force": 0, "GroupId": "lg-zzzzzzzz"},
                  "ResourceNotFound")]
        for params, code in cases:
            with self.subTest(params=params):
                self.assertCode(self.gaapd.call("DeleteListeners", params), code)
        self.assertCode(delete(self.gaapd, [self.id], key={"secret_id": "AKIDLIMITED",
                                                           "secret_key": "limitedkey"}),
                        "UnauthorizedOperation")
        self.assertTrue(port_accepts(self.port))
        self.assertEqual(len(state_records(self.gaapd)), 1)

    def test_a_failed_store_write_refuses_and_keeps_the_listener(self):
        writes_again = fail_file_writes(self.gaapd)     # the journal's write fails: EFBIG
        self.assertCode(delete(self.gaapd, [self.id]), "InternalError")
        self.assertTrue(port_accepts(self.port))
        self.assertEqual([r["ListenerId"] for r in state_records(self.gaapd)], [self.id])
        writes_again()
        shutil.rmtree(os.path.join(self.gaapd.dir, "state"))
        self.assertCode(delete(self.gaapd, [self.id]), "FailedOperation.InstanceStatusNotInRuning")
        self.assertTrue(port_accepts(self.port))
        self.assertEqual(describe(self.gaapd, ListenerId=self.id)["TotalCount"], 1)

    def test_gaapctl_takes_listener_ids_as_a_comma_list(self):
        second = self.gaapd.create(free_port(), name="second")["ListenerId"]
        env = dict(os.environ, TENCENTCLOUD_SECRET_ID=SECRET_ID, TENCENTCLOUD_SECRET_KEY=SECRET_KEY)
        out = subprocess.run([GAAPCTL, "--endpoint", f"127.0.0.1:{self.gaapd.port}",
                              "DeleteListeners", "--ProxyId", PROXY, "--ListenerIds",
                              f"{self.id},{second}", "--Force", "0"],
                             capture_output=True, env=env, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        resp = json.loads(out.stdout)["Response"]
        self.assertEqual(resp["OperationSucceedListenerSet"], [self.id, second])


class DeleteDrains(GaapdTest):
    """A request in flight when its listener is deleted still gets its whole response."""

    def setUp(self):
        self.slow = HeldOrigin()
        self.addCleanup(self.slow.close)
        self.config = {"proxies": [{"id": PROXY, "origins": [f"127.0.0.1:{self.slow.port}"]}]}
        super().setUp()

    def test_in_flight_request_finishes_and_the_port_is_free_at_once(self):
        port = free_port()
        lid = self.gaapd.create(port)["ListenerId"]
        result = {}

        def client():
            result["answer"] = http_get(port, "/slow", timeout=20)
        t = threading.Thread(target=client, daemon=True)
        t.start()
        self.assertTrue(self.slow.arrived.wait(10), "the request never reached the origin")
        resp = ok(self, delete(self.gaapd, [lid]))
        self.assertEqual(resp["OperationSucceedListenerSet"], [lid])
        self.assertFalse(port_accepts(port))
        again = self.gaapd.create(port, name="reuse")      # the draining connection holds no port
        self.assertRegex(again["ListenerId"], LISTENER_ID)
        self.slow.release.set()
        t.join(20)
        self.assertFalse(t.is_alive())
        status, _, body = result["answer"]
        self.assertEqual((status, body), (200, HeldOrigin.BODY))


# ---- CreateHTTPListener on proxy groups ----

GROUP_PROXIES = [{"id": "link-member01", "origins": ["127.0.0.1:1"]},
                 {"id": "link-member02", "bind": "127.0.0.2", "origins": ["127.0.0.1:1"]},
                 {"id": "link-member03", "origins": ["127.0.0.1:1"]},
                 {"id": "link-closed01", "status": "CLOSED", "origins": ["127.0.0.1:1"]},
                 {"id": PROXY, "origins": ["127.0.0.1:1"]}]
GROUPS = [{"id": GROUP, "proxies": ["link-member01", "link-member02", "link-member03"]},
          {"id": "lg-stopped01", "status": "CLOSED", "proxies": []},
          {"id": "lg-hasclosed", "proxies": ["link-closed01"]},
          {"id": "lg-empty0001", "proxies": []}]


def group_config(proxies=GROUP_PROXIES, groups=GROUPS, **kw):
    return yaml_config(proxies=proxies, **kw) + yaml_groups(groups)


def create_in_group(gaapd, port, group=GROUP, name="grouped", **kw):
    return gaapd.call("CreateHTTPListener", {"ListenerName": name, "Port": port, "GroupId": group},
                      **kw)


def accepts_on(addr, port):
    try:
        socket.create_connection((addr, port), timeout=2).close()
        return True
    except OSError:
        return False


class GroupListeners(GaapdTest):
    allowed_errors = ("create rolled back",)

    def setUp(self):
        self.config = {"config_text": group_config()}
        super().setUp()

    def test_one_listener_on_every_member_address(self):
        port = free_port()
        lid = ok(self, create_in_group(self.gaapd, port))["ListenerId"]
        self.assertTrue(accepts_on("127.0.0.1", port))
        self.assertTrue(accepts_on("127.0.0.2", port))
        item = describe(self.gaapd, GroupId=GROUP)["ListenerSet"]
        self.assertEqual([(i["ListenerId"], i["ProxyId"], i["GroupId"], i["ListenerStatus"])
                          for i in item], [(lid, None, GROUP, 0)])
        self.assertEqual([(r["ListenerId"], r["ProxyId"], r["GroupId"])
                          for r in state_records(self.gaapd)], [(lid, "", GROUP)])
        self.assertEqual(describe(self.gaapd, ListenerId=lid)["TotalCount"], 1)
        self.gaapd.stop()
        self.gaapd.start()
        self.assertTrue(accepts_on("127.0.0.2", port))
        self.assertEqual(describe(self.gaapd, GroupId=GROUP)["ListenerSet"][0]["ListenerStatus"], 0)

    def test_ports_are_unique_across_the_group(self):
        port = free_port()
        ok(self, create_in_group(self.gaapd, port))
        self.assertCode(create_in_group(self.gaapd, port, name="again"),
                        "InvalidParameterValue.DuplicatedListenerPort")
        # Another proxy has its own port space, but this one binds the same address: the kernel
        # refuses, and the answer says so.
        self.assertCode(self.gaapd.create(port, name="own-proxy"),
                        "InvalidParameterValue.InvalidListenerPort")

    def test_a_member_that_cannot_bind_undoes_the_whole_create(self):
        holder = socket.socket()
        holder.bind(("127.0.0.2", 0))
        holder.listen()
        self.addCleanup(holder.close)
        port = holder.getsockname()[1]
        self.assertCode(create_in_group(self.gaapd, port),
                        "InvalidParameterValue.InvalidListenerPort")
        self.assertFalse(accepts_on("127.0.0.1", port))
        self.assertEqual(describe(self.gaapd, GroupId=GROUP)["TotalCount"], 0)
        self.assertEqual(state_records(self.gaapd), [])

    def test_group_errors(self):
        cases = [("lg-stopped01", "FailedOperation.GroupStatusNotInRuning"),
                 ("lg-hasclosed", "FailedOperation.ProxyStatusNotInRuning"),
                 ("lg-empty0001", "FailedOperation"),
                 ("lg-zzzzzzzz", "ResourceNotFound"),
                 ("link-member01", "InvalidParameterValue")]
        for group, code in cases:
            with self.subTest(group=group):
                self.assertCode(create_in_group(self.gaapd, free_port(), group=group), code)
        self.assertCode(self.gaapd.create(free_port(), proxy=GROUP),
                        "FailedOperation.NotSupportProxyGroup")
        self.assertCode(self.gaapd.create(free_port(), proxy="link-member02"),
                        "FailedOperation.NotSupportProxyGroup")
        self.assertCode(describe(self.gaapd, ProxyId="link-member01"),
                        "FailedOperation.NotSupportProxyGroup")

    def test_modify_refuses_and_delete_takes_the_group(self):
        port = free_port()
        lid = ok(self, create_in_group(self.gaapd, port))["ListenerId"]
        self.assertCode(self.gaapd.call("ModifyHTTPListenerAttribute",
                                        {"ListenerId": lid, "ListenerName": "x"}),
                        "FailedOperation.NotSupportProxyGroup")
        resp = ok(self, delete(self.gaapd, [lid], proxy=PROXY))
        self.assertEqual(resp["InvalidStatusListenerSet"], [lid])
        self.assertCode(delete(self.gaapd, [lid], proxy=None, GroupId="lg-stopped01"),
                        "FailedOperation.GroupStatusNotInRuning")
        resp = ok(self, delete(self.gaapd, [lid], proxy=None, GroupId=GROUP))
        self.assertEqual(resp["OperationSucceedListenerSet"], [lid])
        self.assertFalse(accepts_on("127.0.0.1", port))
        self.assertFalse(accepts_on("127.0.0.2", port))
        ok(self, create_in_group(self.gaapd, port, name="reuse"))


class GroupLimits(GaapdTest):
    def setUp(self):
        proxies = [{"id": "link-member01", "max_listeners": 5, "origins": ["127.0.0.1:1"]},
                   {"id": "link-member02", "max_listeners": 1, "origins": ["127.0.0.1:1"]}]
        self.config = {"config_text": group_config(
            proxies=proxies, groups=[{"id": GROUP, "proxies": ["link-member01", "link-member02"]}])}
        super().setUp()

    def test_the_fullest_member_limits_the_group(self):
        ok(self, create_in_group(self.gaapd, free_port()))
        port = free_port()
        self.assertCode(create_in_group(self.gaapd, port, name="two"),
                        "FailedOperation.LimitNumofListener")
        self.assertFalse(port_accepts(port))


class GroupAuthorization(GaapdTest):
    def setUp(self):
        self.config = {"config_text": group_config(), "credentials":
                       "[m1]\nsecret_id = AKIDMEMBER1\nsecret_key = member1key\n"
                       "proxies = link-member01\n"
                       "[all]\nsecret_id = AKIDMEMBERS\nsecret_key = memberskey\n"
                       "proxies = link-member01,link-member02,link-member03\n"
                       f"[grp]\nsecret_id = AKIDGROUP\nsecret_key = groupkey\nproxies = {GROUP}\n"}
        super().setUp()

    def test_a_group_needs_its_name_or_every_member(self):
        self.assertCode(create_in_group(self.gaapd, free_port(), secret_id="AKIDMEMBER1",
                                        secret_key="member1key"), "UnauthorizedOperation")
        ok(self, create_in_group(self.gaapd, free_port(), secret_id="AKIDMEMBERS",
                                 secret_key="memberskey"))
        ok(self, create_in_group(self.gaapd, free_port(), name="g2", secret_id="AKIDGROUP",
                                 secret_key="groupkey"))


# ---- restore ----

class Restore(GaapdTest):
    allowed_errors = ("not serving",)

    def test_a_listener_whose_port_is_taken_is_reported_not_dropped(self):
        port = free_port()
        lid = self.gaapd.create(port)["ListenerId"]
        self.gaapd.stop()
        holder = socket.socket()
        holder.bind(("127.0.0.1", port))
        holder.listen()
        self.addCleanup(holder.close)
        self.gaapd.start()
        self.assertIn(f"listener={lid}", self.gaapd.log_text()[self.gaapd.log_from:])
        self.assertIn("not serving", self.gaapd.log_text()[self.gaapd.log_from:])
        item = describe(self.gaapd, ListenerId=lid)["ListenerSet"][0]
        self.assertEqual(item["ListenerStatus"], 1)
        self.assertCode(self.gaapd.create(port, name="again"),
                        "InvalidParameterValue.DuplicatedListenerPort")
        resp = ok(self, delete(self.gaapd, [lid]))
        self.assertEqual(resp["OperationSucceedListenerSet"], [lid])
        holder.close()
        ok(self, self.gaapd.create(port, name="again"))
        self.assertTrue(port_accepts(port))

    def test_a_listener_whose_proxy_left_the_configuration_is_kept(self):
        lid = self.gaapd.create(free_port())["ListenerId"]
        self.gaapd.stop()
        with open(self.gaapd.conf, "w") as f:
            f.write(yaml_config(proxies=[{"id": OTHER, "origins": ["127.0.0.1:1"]}]))
        self.gaapd.start()
        self.assertIn("its proxy is not configured", self.gaapd.log_text()[self.gaapd.log_from:])
        item = describe(self.gaapd, ListenerId=lid)["ListenerSet"][0]
        self.assertEqual((item["ListenerStatus"], item["ProxyId"]), (1, PROXY))
        self.assertEqual([r["ListenerId"] for r in state_records(self.gaapd)], [lid])


# ---- DescribeProxies / DescribeProxyGroupList ----

class Proxies(GaapdTest):
    def setUp(self):
        self.config = {"config_text": group_config(), "credentials":
                       "[m1]\nsecret_id = AKIDMEMBER1\nsecret_key = member1key\n"
                       "proxies = link-member01\n"}
        super().setUp()

    def test_every_configured_proxy_with_the_model_types(self):
        resp = ok(self, self.gaapd.call("DescribeProxies", {"Limit": 100}))
        self.assertEqual(resp["TotalCount"], len(GROUP_PROXIES))
        self.assertEqual(resp["ProxySet"], resp["InstanceSet"])
        by_id = {p["ProxyId"]: p for p in resp["ProxySet"]}
        self.assertEqual(set(by_id), {p["id"] for p in GROUP_PROXIES})
        m2 = by_id["link-member02"]
        self.assertEqual((m2["InstanceId"], m2["ProxyName"], m2["Status"], m2["IP"], m2["Version"],
                          m2["SupportProtocols"], m2["GroupId"], m2["ProjectId"]),
                         ("link-member02", "link-member02", "RUNNING", "127.0.0.2", "3.0",
                          ["HTTP", "HTTPS"], GROUP, 0))
        self.assertEqual(m2["IsSupportTLSChoice"], 1)     # Terraform checks it (§8)
        self.assertIsInstance(m2["CreateTime"], int)
        self.assertGreater(m2["CreateTime"], 1500000000)
        self.assertEqual(by_id[PROXY]["GroupId"], None)
        self.assertEqual(by_id["link-closed01"]["Status"], "CLOSED")
        self.assertEqual(len({p["CreateTime"] for p in resp["ProxySet"]}), 1)

    def test_filters_and_paging(self):
        resp = ok(self, self.gaapd.call("DescribeProxies", {"ProxyIds": [PROXY, "link-zzzzzzzz"]}))
        self.assertEqual([p["ProxyId"] for p in resp["ProxySet"]], [PROXY])
        resp = ok(self, self.gaapd.call("DescribeProxies", {"InstanceIds": ["link-member01"]}))
        self.assertEqual(resp["TotalCount"], 1)
        resp = ok(self, self.gaapd.call("DescribeProxies", {"Independent": 1}))
        self.assertEqual({p["ProxyId"] for p in resp["ProxySet"]}, {PROXY})
        resp = ok(self, self.gaapd.call("DescribeProxies", {"Offset": 1, "Limit": 2}))
        self.assertEqual((resp["TotalCount"], len(resp["ProxySet"])), (len(GROUP_PROXIES), 2))
        for params, code in (({"ProxyIds": [PROXY], "InstanceIds": [PROXY]}, "InvalidParameter"),
                             ({"ProxyIds": PROXY}, "InvalidParameter"),
                             ({"Limit": 101}, "InvalidParameterValue"),
                             ({"Independent": 2}, "InvalidParameterValue"),
                             ({"TagSet": []}, "UnknownParameter")):
            with self.subTest(params=params):
                self.assertCode(self.gaapd.call("DescribeProxies", params), code)

    def test_filters(self):
        def ids(*filters):
            resp = ok(self, self.gaapd.call("DescribeProxies", {"Filters": list(filters),
                                                                "Limit": 100}))
            return sorted(p["ProxyId"] for p in resp["ProxySet"])
        f = lambda name, *values: {"Name": name, "Values": list(values)}
        members = ["link-member01", "link-member02", "link-member03"]
        self.assertEqual(ids(f("GroupId", GROUP)), members)
        self.assertEqual(ids(f("GroupId", GROUP, "lg-hasclosed")), sorted(members + ["link-closed01"]))
        self.assertEqual(ids(f("GroupId", GROUP), f("ProjectId", "0")), members)
        self.assertEqual(ids(f("ProjectId", "5")), [])
        self.assertEqual(len(ids(f("IPAddressVersion", "IPv4"))), len(GROUP_PROXIES))
        self.assertEqual(ids(f("AccessRegion", "Beijing")), [])     # no regions on one node
        self.assertEqual(len(ids()), len(GROUP_PROXIES))
        for filters, code in (([f("Colour", "blue")], "InvalidParameterValue"),
                              ([f("GroupId")], "InvalidParameterValue"),
                              ([f("GroupId", *"abcdef")], "InvalidParameterValue"),
                              ([f("GroupId", GROUP)] * 11, "InvalidParameterValue"),
                              ([{"Name": "GroupId", "Values": GROUP}], "InvalidParameter"),
                              ([{"Name": "GroupId"}], "InvalidParameter"),
                              ([{"Name": "GroupId", "Values": [GROUP], "X": 1}], "InvalidParameter"),
                              (["GroupId"], "InvalidParameter")):
            with self.subTest(filters=filters):
                self.assertCode(self.gaapd.call("DescribeProxies", {"Filters": filters}), code)
        self.assertCode(self.gaapd.call("DescribeProxies", {"InstanceIds": [PROXY],
                                                            "Filters": [f("GroupId", GROUP)]}),
                        "InvalidParameter")

    def test_a_limited_key_sees_only_its_proxies(self):
        key = {"secret_id": "AKIDMEMBER1", "secret_key": "member1key"}
        resp = ok(self, self.gaapd.call("DescribeProxies", {}, **key))
        self.assertEqual([p["ProxyId"] for p in resp["ProxySet"]], ["link-member01"])
        self.assertCode(self.gaapd.call("DescribeProxies", {"ProxyIds": [PROXY]}, **key),
                        "UnauthorizedOperation")
        resp = ok(self, self.gaapd.call("DescribeProxyGroupList",
                                        {"ProjectId": -1, "Offset": 0, "Limit": 20}, **key))
        self.assertEqual(resp["TotalCount"], 0)

    def groups(self, **params):
        return self.gaapd.call("DescribeProxyGroupList", {"Offset": 0, "Limit": 100, **params})

    def test_proxy_group_list(self):
        resp = ok(self, self.groups(ProjectId=-1))
        self.assertEqual(set(resp), {"TotalCount", "ProxyGroupList", "RequestId"})
        self.assertEqual(resp["TotalCount"], len(GROUPS))
        first = resp["ProxyGroupList"][0]
        self.assertEqual((first["GroupId"], first["GroupName"], first["Status"], first["ProjectId"]),
                         (GROUP, GROUP, "RUNNING", 0))
        self.assertIsInstance(first["CreateTime"], int)
        self.assertEqual(resp["ProxyGroupList"][1]["Status"], "CLOSED")
        self.assertEqual(ok(self, self.groups(ProjectId="0"))["TotalCount"], len(GROUPS))
        self.assertEqual(ok(self, self.groups(ProjectId=7))["ProxyGroupList"], [])
        page = ok(self, self.groups(ProjectId=-1, Offset=3, Limit=1))
        self.assertEqual([g["GroupId"] for g in page["ProxyGroupList"]], ["lg-empty0001"])
        region = ok(self, self.groups(ProjectId=-1, Filters=[{"Name": "RealServerRegion",
                                                              "Values": ["Beijing"]}]))
        self.assertEqual(region["TotalCount"], 0)

    def test_proxy_group_list_errors(self):
        call = lambda p: self.gaapd.call("DescribeProxyGroupList", p)
        full = {"ProjectId": -1, "Offset": 0, "Limit": 20}
        for missing in full:
            with self.subTest(missing=missing):
                self.assertCode(call({k: v for k, v in full.items() if k != missing}),
                                "MissingParameter")
        for params, code in (({"ProjectId": -2}, "InvalidParameterValue"),
                             ({"Offset": -1}, "InvalidParameterValue"),
                             ({"Limit": 0}, "InvalidParameterValue"),
                             ({"Limit": 101}, "InvalidParameterValue"),
                             ({"ProjectId": "x"}, "InvalidParameter"),
                             ({"Filters": [{"Name": "GroupId", "Values": [GROUP]}]},
                              "InvalidParameterValue"),
                             ({"Colour": "blue"}, "UnknownParameter")):
            with self.subTest(params=params):
                self.assertCode(call({**full, **params}), code)


# ---- concurrency ----

def distinct_free_ports(n):
    ports = set()
    while len(ports) < n:
        ports.add(free_port())
    return sorted(ports)


class ConcurrentCreates(unittest.TestCase):
    """200 simultaneous creates for 100 ports, each asked for twice: exactly the right ones win,
    and the state file agrees with DescribeHTTPListeners."""

    def run_burst(self, max_listeners):
        g = Gaapd(proxies=[{"id": PROXY, "max_listeners": max_listeners,
                            "origins": ["127.0.0.1:1"]}])
        self.addCleanup(g.cleanup)
        g.start()
        ports = distinct_free_ports(100)
        jobs = [(p, f"n{i}") for i, p in enumerate(ports + ports)]
        random.shuffle(jobs)
        with ThreadPoolExecutor(200) as pool:
            answers = list(pool.map(lambda j: g.create(j[0], name=j[1]), jobs))
        codes = [error_code(a) or "OK" for a in answers]
        created = {a["ListenerId"]: p for a, (p, _) in zip(answers, jobs) if "ListenerId" in a}
        listed = describe_all(g, ProxyId=PROXY)
        self.assertEqual({i["ListenerId"]: i["Port"] for i in listed}, created)
        self.assertEqual({r["ListenerId"]: r["Port"] for r in state_records(g)}, created)
        self.assertEqual(len(set(created.values())), len(created))
        for port in created.values():
            self.assertTrue(port_accepts(port))
        g.stop()
        return codes

    def test_100_ports_200_calls(self):
        codes = self.run_burst(1000)
        self.assertEqual(codes.count("OK"), 100, sorted(set(codes)))
        self.assertEqual(codes.count("InvalidParameterValue.DuplicatedListenerPort"), 100)

    def test_limit_50(self):
        codes = self.run_burst(50)
        self.assertEqual(codes.count("OK"), 50)
        self.assertEqual(len(codes), 200)
        self.assertEqual(set(codes) - {"OK"}, {"InvalidParameterValue.DuplicatedListenerPort",
                                               "FailedOperation.LimitNumofListener"})


# ---- migration of a v1 state file ----

class MigrateV1(unittest.TestCase):
    """A state directory written by the gaapd before the journal (listeners.json, version 1) is
    converted on the first start: every listener comes back, serving, under the same id and in
    the same order; the v1 file is kept aside; a restart finds them in the journal."""

    def test_listeners_json_v1_is_migrated(self):
        g = Gaapd(proxies=[{"id": PROXY, "max_listeners": 10, "origins": ["127.0.0.1:1"]}])
        self.addCleanup(g.cleanup)
        ports = [free_port(), free_port()]
        while ports[1] == ports[0]:
            ports[1] = free_port()
        recs = [{"ListenerId": f"listener-v1{i:06d}", "ListenerName": f"old-{i}",
                 "Protocol": "HTTP", "ProxyId": PROXY, "GroupId": "", "Port": p,
                 "CreateTime": 1795833763 + i} for i, p in enumerate(ports)]
        state = os.path.join(g.dir, "state")
        os.makedirs(state, mode=0o750)
        with open(os.path.join(state, "listeners.json"), "w") as f:    # as the v1 file store wrote it
            f.write('{"version":1,"listeners":[\n' +
                    ",\n".join(json.dumps(r, separators=(",", ":")) for r in recs) + "\n]}\n")
        g.start()
        self.assertIn("state: migrated 2 listeners from listeners.json (v1)",
                      g.log_text()[g.log_from:])
        listed = describe_all(g, ProxyId=PROXY)
        self.assertEqual([(i["ListenerId"], i["ListenerName"], i["Port"], i["CreateTime"])
                          for i in listed],
                         [(r["ListenerId"], r["ListenerName"], r["Port"], r["CreateTime"])
                          for r in recs])
        for port in ports:
            self.assertTrue(port_accepts(port))
        self.assertFalse(os.path.exists(os.path.join(state, "listeners.json")))
        self.assertTrue(os.path.exists(os.path.join(state, "listeners.json.v1-migrated")))
        self.assertEqual(state_records(g), recs)
        ok(self, delete(g, [recs[0]["ListenerId"]]))
        g.stop()
        g.start()
        self.assertNotIn("migrated", g.log_text()[g.log_from:])
        self.assertEqual([i["ListenerId"] for i in describe_all(g, ProxyId=PROXY)],
                         [recs[1]["ListenerId"]])
        g.stop()


# ---- group commit ----

def scrape_metrics(gaapd):
    """The unlabelled samples of /metrics: {name: value}."""
    status, _, body = gaapd.raw("GET", target="/metrics")
    assert status == 200, status
    return {l.split()[0]: float(l.split()[1]) for l in body.decode().splitlines()
            if l and not l.startswith("#") and "{" not in l}

class GroupCommit(unittest.TestCase):
    """Creates from 16 clients at once share fdatasyncs (calls read in one turn of the API's loop
    are answered after one sync), and every answer comes after its change is durable: kill -9
    loses none that was answered. gaapd runs with slow_sync.c preloaded (CTest sets SLOW_SYNC):
    each fdatasync takes 20 ms more, as on a slow disk, and is counted from outside."""
    CLIENTS, EACH = 16, 4

    def setUp(self):
        if not os.environ.get("SLOW_SYNC"):
            self.skipTest("needs tests/e2e/slow_sync.c (SLOW_SYNC, set by CTest)")
        self.g = Gaapd(proxies=[{"id": PROXY, "max_listeners": 1000, "origins": ["127.0.0.1:1"]}])
        self.addCleanup(self.g.cleanup)
        self.count = os.path.join(self.g.dir, "syncs")
        saved = dict(os.environ)
        os.environ.update(LD_PRELOAD=os.environ["SLOW_SYNC"], SLOW_SYNC_COUNT=self.count,
                          ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") +
                          ":verify_asan_link_order=0")
        try:
            self.g.start()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        ports = set()
        while len(ports) < self.CLIENTS * self.EACH * 2:
            ports.add(free_port())
        self.ports = sorted(ports)

    def syncs(self):
        return os.path.getsize(self.count) if os.path.exists(self.count) else 0

    def creates(self, first, answered, stop=None):
        """CLIENTS threads, each EACH creates one after another, all started together."""
        start = threading.Barrier(self.CLIENTS)

        def client(k):
            start.wait()
            for i in range(self.EACH):
                if stop is not None and stop.is_set():
                    return
                port = self.ports[first + k * self.EACH + i]
                try:
                    resp = self.g.create(port, name=f"gc-{k}-{i}")
                except Exception:           # killed: no answer
                    return
                answered.append(resp.get("ListenerId", resp.get("Error", {}).get("Code")))
        threads = [threading.Thread(target=client, args=(k,)) for k in range(self.CLIENTS)]
        for t in threads:
            t.start()
        return threads

    def test_concurrent_creates_share_syncs_and_none_answered_is_lost(self):
        answered, before = [], self.syncs()
        for t in self.creates(0, answered):
            t.join(60)
        n = self.CLIENTS * self.EACH
        self.assertEqual(len(answered), n)
        self.assertTrue(all(LISTENER_ID.match(a) for a in answered), answered)
        syncs = self.syncs() - before
        self.assertLessEqual(syncs, n // 2, f"{syncs} fdatasyncs for {n} creates")
        m = scrape_metrics(self.g)
        self.assertEqual(m["gaapd_state_changes_total"], n)
        self.assertLessEqual(m["gaapd_state_syncs_total"], n // 2)
        # kill -9 in the middle of a second round: whatever was answered is there after it
        stop, more = threading.Event(), []
        threads = self.creates(n, more, stop)
        time.sleep(0.1)
        self.g.proc.send_signal(signal.SIGKILL)
        self.g.proc.wait(10)
        stop.set()
        for t in threads:
            t.join(30)
        self.g.log.close()
        self.g.start()
        listed = {i["ListenerId"] for i in describe_all(self.g, ProxyId=PROXY)}
        confirmed = set(answered) | {a for a in more if LISTENER_ID.match(a)}
        self.assertEqual(confirmed - listed, set())
        self.assertLessEqual(len(listed - confirmed), self.CLIENTS)     # the calls in flight
        self.g.stop()


# ---- kill -9 ----

class KillNine(unittest.TestCase):
    """kill -9 at many points of a burst of creates and deletes: after each restart every
    confirmed listener is there and serving, every confirmed delete is gone, a listener nobody
    confirmed exists only for the one call that was in flight, and no port is listed twice."""

    def test_kill_during_a_burst(self):
        self.rounds(Gaapd(proxies=[{"id": PROXY, "max_listeners": 1000,
                                    "origins": ["127.0.0.1:1"]}]), random.Random(1234))

    def test_kill_during_a_burst_with_compactions(self):
        """The same with the journal compacted every few changes (node.state_compact_bytes), so
        that kills land before, during and after compactions."""
        g = Gaapd(proxies=[{"id": PROXY, "max_listeners": 1000, "origins": ["127.0.0.1:1"]}],
                  state_compact_bytes=1024)
        self.rounds(g, random.Random(4321), 8)
        self.assertGreater(g.log_text().count("state: compacted"), 3)

    def rounds(self, g, rng, n=6):
        self.addCleanup(g.cleanup)
        alive = {}                  # confirmed listener id -> port
        for _round in range(n):
            g.start()
            self.check(g, alive)
            in_flight = self.burst(g, alive, rng)
            self.check_after_kill(g, alive, in_flight)

    def burst(self, g, alive, rng):
        """Creates and deletes until killed (at most 40 calls); returns what was in flight."""
        stop = threading.Event()
        state = {"in_flight": None}

        def run():
            for _ in range(40):
                if stop.is_set():
                    return
                if alive and rng.random() < 0.4:
                    lid = rng.choice(sorted(alive))
                    state["in_flight"] = ("delete", lid)
                    try:
                        resp = delete(g, [lid])
                    except Exception:       # killed: no answer, the outcome is unknown
                        return
                    if lid in resp.get("OperationSucceedListenerSet", []):
                        del alive[lid]
                else:
                    port = free_port()
                    state["in_flight"] = ("create", port)
                    try:
                        resp = g.create(port)
                    except Exception:
                        return
                    if "ListenerId" in resp:
                        alive[resp["ListenerId"]] = port
                state["in_flight"] = None
        t = threading.Thread(target=run, daemon=True)
        t.start()
        time.sleep(rng.uniform(0.01, 0.2))
        g.proc.send_signal(signal.SIGKILL)
        g.proc.wait(10)
        stop.set()
        t.join(20)
        self.assertFalse(t.is_alive())
        g.log.close()
        return state["in_flight"]

    def check_after_kill(self, g, alive, in_flight):
        g.start()
        listed = {i["ListenerId"]: i["Port"] for i in describe_all(g, ProxyId=PROXY)}
        extra = set(listed) - set(alive)
        missing = set(alive) - set(listed)
        if in_flight and in_flight[0] == "create" and extra:
            self.assertEqual([listed[i] for i in extra], [in_flight[1]])
            alive.update({i: listed[i] for i in extra})
        else:
            self.assertEqual(extra, set())
        if in_flight and in_flight[0] == "delete" and missing:
            self.assertEqual(missing, {in_flight[1]})
            del alive[in_flight[1]]
        else:
            self.assertEqual(missing, set())
        self.check(g, alive)
        g.stop()

    def check(self, g, alive):
        listed = describe_all(g, ProxyId=PROXY)
        self.assertEqual({i["ListenerId"]: i["Port"] for i in listed}, alive)
        self.assertEqual({i["ListenerStatus"] for i in listed} - {0}, set())
        for port in alive.values():
            self.assertTrue(port_accepts(port), f"confirmed listener on {port} is not serving")
        self.assertEqual({r["ListenerId"]: r["Port"] for r in state_records(g)} if alive else {},
                         alive)
        self.assertEqual(len({i["Port"] for i in listed}), len(listed))
        for i in listed:
            self.assertEqual(i["ListenerStatus"], 0)
            self.assertTrue(port_accepts(i["Port"]))


if __name__ == "__main__":
    unittest.main()
