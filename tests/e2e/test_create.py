"""CreateHTTPListener end to end: the published contract, each documented error code provoked by
its real cause, and the new port serving proxied traffic as soon as the call returns."""
import os
import resource
import shutil
import socket
import unittest
from concurrent.futures import ThreadPoolExecutor

from harness import (LISTENER_ID, PROXY, Gaapd, GaapdTest, error_code, fail_file_writes, free_port,
                     http_get, port_accepts)


class CreateSucceeds(GaapdTest):
    def test_answer_is_the_published_shape_and_the_port_serves_at_once(self):
        port = free_port()
        resp = self.gaapd.create(port, name="listener-1")
        self.assertEqual(set(resp), {"ListenerId", "RequestId"})
        self.assertRegex(resp["ListenerId"], LISTENER_ID)
        status, _, body = http_get(port, "/anything?x=1")
        self.assertEqual(status, 200)
        self.assertIn(b'"path": "/anything?x=1"', body)

    def test_port_as_a_decimal_string_like_the_documented_example(self):
        port = free_port()
        resp = self.gaapd.create(str(port))
        self.assertRegex(resp["ListenerId"], LISTENER_ID)
        self.assertTrue(port_accepts(port))

    def test_proxy_id_may_be_omitted_when_the_node_has_one_proxy(self):
        port = free_port()
        resp = self.gaapd.create(port, proxy=None)
        self.assertRegex(resp["ListenerId"], LISTENER_ID)

    def test_each_create_gets_a_fresh_request_id_and_listener_id(self):
        a = self.gaapd.create(free_port(), name="a")
        b = self.gaapd.create(free_port(), name="b")
        self.assertNotEqual(a["RequestId"], b["RequestId"])
        self.assertNotEqual(a["ListenerId"], b["ListenerId"])

    def test_name_may_use_other_scripts_within_thirty_characters(self):
        resp = self.gaapd.create(free_port(), name="监听器-" + "a" * 26)
        self.assertRegex(resp["ListenerId"], LISTENER_ID)


class ProxiedTraffic(GaapdTest):
    def setUp(self):
        super().setUp()
        self.port = free_port()
        self.gaapd.create(self.port)

    def test_post_with_content_length_reaches_the_origin_intact(self):
        status, _, body = http_get(self.port, "/submit", "POST", b"x" * 5000,
                                   {"Content-Type": "text/plain"})
        self.assertEqual(status, 200)
        seen = self.origin.requests[-1]
        self.assertEqual((seen["method"], seen["path"], len(seen["body"])), ("POST", "/submit", 5000))
        self.assertEqual(seen["headers"]["x-real-ip"], "127.0.0.1")
        self.assertIn("127.0.0.1", seen["headers"]["x-forwarded-for"])

    def test_chunked_request_and_response_bodies(self):
        def chunks():
            yield b"first,"
            yield b"second"
        status, _, _ = http_get(self.port, "/up", "POST", chunks(),
                                {"Transfer-Encoding": "chunked"}, chunked=True)
        self.assertEqual(status, 200)
        self.assertEqual(self.origin.requests[-1]["body"], "first,second")
        status, _, body = http_get(self.port, "/chunked")
        self.assertEqual((status, body), (200, b"hello chunked world"))

    def test_keep_alive_reuses_one_origin_connection(self):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        before = self.origin.connections
        for i in range(3):
            conn.request("GET", f"/k{i}")
            r = conn.getresponse()
            self.assertEqual(r.status, 200)
            r.read()
        conn.close()
        self.assertEqual(self.origin.connections - before, 1)

    def test_origin_down_answers_502_not_a_hang(self):
        self.origin.close()
        status, _, _ = http_get(self.port, "/down", timeout=10)
        self.assertEqual(status, 502)


class MissingAndInvalidParameters(GaapdTest):
    def test_missing_listener_name_or_port(self):
        self.assertCode(self.gaapd.call("CreateHTTPListener", {"Port": free_port(), "ProxyId": PROXY}),
                        "MissingParameter")
        self.assertCode(self.gaapd.call("CreateHTTPListener", {"ListenerName": "a", "ProxyId": PROXY}),
                        "MissingParameter")

    def test_wrong_types_and_malformed_json(self):
        for port in ("80a", 80.5, True, [80], "", "-1", -1):
            with self.subTest(port=port):
                self.assertCode(self.gaapd.create(port), "InvalidParameter")
        self.assertCode(self.gaapd.call("CreateHTTPListener", None, body=b'{"Port": 1'),
                        "InvalidParameter")
        self.assertCode(self.gaapd.call("CreateHTTPListener", None, body=b'[1]'), "InvalidParameter")
        self.assertCode(self.gaapd.call("CreateHTTPListener", {"ListenerName": 5, "Port": 80}),
                        "InvalidParameter")

    def test_proxy_id_together_with_group_id(self):
        resp = self.gaapd.call("CreateHTTPListener", {"ListenerName": "a", "Port": free_port(),
                                                      "ProxyId": PROXY, "GroupId": "lg-qz6ntod5"})
        self.assertCode(resp, "InvalidParameter")

    def test_unknown_parameter(self):
        resp = self.gaapd.call("CreateHTTPListener", {"ListenerName": "a", "Port": free_port(),
                                                      "Colour": "blue"})
        self.assertCode(resp, "UnknownParameter")

    def test_bad_listener_names_and_malformed_proxy_id(self):
        for name in ("", "a" * 31, "has space", "semi;colon", "new\nline"):
            with self.subTest(name=name):
                self.assertCode(self.gaapd.create(free_port(), name=name), "InvalidParameterValue")
        self.assertCode(self.gaapd.create(free_port(), proxy="link-BAD!"), "InvalidParameterValue")
        self.assertCode(self.gaapd.create(free_port(), proxy="proxy-1"), "InvalidParameterValue")

    def test_unknown_proxy_is_resource_not_found(self):
        self.assertCode(self.gaapd.create(free_port(), proxy="link-zzzzzzzz"), "ResourceNotFound")


class Ports(GaapdTest):
    config = {"extra_control": "reserved_ports: [9999]"}

    def test_out_of_range_reserved_and_control_ports(self):
        for port in (0, 65536, 70000, 9999, self.gaapd.port):
            with self.subTest(port=port):
                self.assertCode(self.gaapd.create(port), "InvalidParameterValue.InvalidListenerPort")

    def test_port_held_by_another_process_socket(self):
        holder = socket.socket()
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        self.addCleanup(holder.close)
        resp = self.gaapd.create(holder.getsockname()[1])
        self.assertCode(resp, "InvalidParameterValue.InvalidListenerPort")
        self.assertIn("in use", resp["Error"]["Message"])

    def test_duplicate_port_on_the_same_proxy(self):
        port = free_port()
        self.gaapd.create(port)
        self.assertCode(self.gaapd.create(port, name="again"), "InvalidParameterValue.DuplicatedListenerPort")

    def test_concurrent_creates_of_one_port_exactly_one_wins(self):
        port = free_port()
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda i: self.gaapd.create(port, name=f"n{i}"), range(16)))
        codes = sorted(error_code(a) or "OK" for a in answers)
        self.assertEqual(codes, ["InvalidParameterValue.DuplicatedListenerPort"] * 15 + ["OK"])


class ListenerLimit(GaapdTest):
    def setUp(self):
        self.config = {"proxies": [{"id": PROXY, "max_listeners": 2, "origins": ["127.0.0.1:1"]}]}
        super().setUp()

    def test_the_proxy_limit_is_enforced(self):
        self.gaapd.create(free_port(), name="one")
        self.gaapd.create(free_port(), name="two")
        port = free_port()
        self.assertCode(self.gaapd.create(port, name="three"), "FailedOperation.LimitNumofListener")
        self.assertFalse(port_accepts(port))


class ProxyStatusAndGroups(GaapdTest):
    def setUp(self):
        self.config = {
            "proxies": [{"id": PROXY, "origins": ["127.0.0.1:1"]},
                        {"id": "link-closed01", "status": "CLOSED", "origins": ["127.0.0.1:1"]},
                        {"id": "link-ingroup1", "origins": ["127.0.0.1:1"]}],
            "groups": [{"id": "lg-qz6ntod5", "proxies": ["link-ingroup1"]}]}
        super().setUp()

    def test_a_proxy_that_is_not_running(self):
        self.assertCode(self.gaapd.create(free_port(), proxy="link-closed01"),
                        "FailedOperation.ProxyStatusNotInRuning")

    def test_group_ids_and_grouped_proxies(self):
        self.assertCode(self.gaapd.create(free_port(), proxy="lg-qz6ntod5"),
                        "FailedOperation.NotSupportProxyGroup")
        self.assertCode(self.gaapd.create(free_port(), proxy="link-ingroup1"),
                        "FailedOperation.NotSupportProxyGroup")

    def test_a_group_id_creates_the_listener_on_its_proxies(self):
        port = free_port()
        resp = self.gaapd.call("CreateHTTPListener", {"ListenerName": "a", "Port": port,
                                                      "GroupId": "lg-qz6ntod5"})
        self.assertRegex(resp["ListenerId"], LISTENER_ID)
        self.assertTrue(port_accepts(port))

    def test_proxy_id_is_required_when_the_node_has_several(self):
        self.assertCode(self.gaapd.create(free_port(), proxy=None), "MissingParameter")


class Authorization(GaapdTest):
    config = {"credentials": "[ops]\nsecret_id = AKIDLIMITED\nsecret_key = limitedkey\n"
                             "proxies = link-other001\n"}

    def test_a_key_limited_to_other_proxies(self):
        resp = self.gaapd.create(free_port(), secret_id="AKIDLIMITED", secret_key="limitedkey")
        self.assertCode(resp, "UnauthorizedOperation")


class StateStoreFailures(GaapdTest):
    allowed_errors = ("create rolled back",)

    def test_state_directory_gone_refuses_and_leaves_the_port_free(self):
        shutil.rmtree(os.path.join(self.gaapd.dir, "state"))
        port = free_port()
        resp = self.gaapd.create(port)
        self.assertCode(resp, "FailedOperation.InstanceStatusNotInRuning")
        self.assertFalse(port_accepts(port))

    def test_unexpected_store_failure_is_internal_error_and_rolled_back(self):
        writes_again = fail_file_writes(self.gaapd)     # the journal's write fails: EFBIG
        port = free_port()
        self.assertCode(self.gaapd.create(port), "InternalError")
        self.assertFalse(port_accepts(port))
        writes_again()
        resp = self.gaapd.create(port)
        self.assertRegex(resp["ListenerId"], LISTENER_ID)
        self.gaapd.stop()
        self.gaapd.start()
        self.assertTrue(port_accepts(port))
        self.assertCode(self.gaapd.create(port), "InvalidParameterValue.DuplicatedListenerPort")


class OutOfDescriptors(unittest.TestCase):
    """With a low RLIMIT_NOFILE the socket or the state file cannot be opened: FailedOperation,
    and the refused creates leave nothing behind, neither a bound port nor a record."""

    def test_emfile_is_failed_operation(self):
        def low_limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))
        g = Gaapd(workers=1, preexec_fn=low_limit,
                  proxies=[{"id": PROXY, "max_listeners": 200, "origins": ["127.0.0.1:1"]}])
        self.addCleanup(g.cleanup)
        g.start()
        created = 0
        for i in range(60):
            resp = g.create(free_port(), name=f"l{i}")
            if error_code(resp) is not None:
                break
            created += 1
        self.assertEqual(error_code(resp), "FailedOperation", resp)
        self.assertIn("Too many open files", resp["Error"]["Message"])
        port = free_port()
        self.assertEqual(error_code(g.create(port, name="late")), "FailedOperation")
        self.assertFalse(port_accepts(port))
        g.stop()
        g.start()
        self.assertIn(f"restored listeners={created}\n", g.log_text()[g.log_from:])
        g.stop()


class Restart(GaapdTest):
    def test_listeners_survive_a_restart(self):
        port = free_port()
        self.gaapd.create(port)
        self.gaapd.stop()
        self.assertFalse(port_accepts(port))
        self.gaapd.start()
        status, _, _ = http_get(port, "/after-restart")
        self.assertEqual(status, 200)


if __name__ == "__main__":
    unittest.main()
