"""The API 3.0 front end over the wire: signatures as each SDK computes them, the common errors,
the envelope, rate limits, request size limits, and gaapctl."""
import json
import os
import socket
import stat
import subprocess
import time
import unittest

from harness import (GAAPCTL, LISTENER_ID, PROXY, SECRET_ID, SECRET_KEY, Gaapd, GaapdTest,
                     check_envelope, error_code, free_port, sign_tc3)

SPEC = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "spec", "vectors")


class ApiTest(GaapdTest):
    """GaapdTest without the origin: these calls never proxy, and an origin's shutdown costs half
    a second per test."""

    def setUp(self):
        self.gaapd = Gaapd(**self.config)
        self.addCleanup(self.gaapd.cleanup)
        self.gaapd.start()


class Signatures(ApiTest):
    def params(self):
        return {"ProxyId": PROXY, "ListenerName": "l", "Port": free_port()}

    def test_python_and_go_sdk_style_host_with_port_and_service_gaap(self):
        resp = self.gaapd.call("CreateHTTPListener", self.params())
        self.assertRegex(resp["ListenerId"], LISTENER_ID)

    def test_node_sdk_style_host_without_port_and_service_from_the_endpoint(self):
        resp = self.gaapd.call("CreateHTTPListener", self.params(), host_with_port=False,
                               service="127")
        self.assertRegex(resp["ListenerId"], LISTENER_ID)

    def test_wrong_key_is_signature_failure(self):
        resp = self.gaapd.call("CreateHTTPListener", self.params(), secret_key="not-the-key")
        self.assertCode(resp, "AuthFailure.SignatureFailure")

    def test_tampered_body_is_signature_failure(self):
        body = json.dumps(self.params()).encode()
        host = f"127.0.0.1:{self.gaapd.port}"
        headers = sign_tc3(SECRET_KEY, SECRET_ID, "CreateHTTPListener", body, host, int(time.time()))
        headers["Host"] = host
        status, ctype, data = self.gaapd.raw("POST", body.replace(b'"l"', b'"m"'), headers)
        self.assertCode(check_envelope(status, ctype, data), "AuthFailure.SignatureFailure")

    def test_unknown_secret_id(self):
        resp = self.gaapd.call("CreateHTTPListener", self.params(), secret_id="AKIDNOSUCHKEY")
        self.assertCode(resp, "AuthFailure.SecretIdNotFound")

    def test_timestamps_more_than_five_minutes_off_are_expired(self):
        for skew in (-301, 301, -3600):
            with self.subTest(skew=skew):
                resp = self.gaapd.call("CreateHTTPListener", self.params(),
                                       timestamp=int(time.time()) + skew)
                self.assertCode(resp, "AuthFailure.SignatureExpire")

    def test_recorded_node_sdk_request_verifies_and_is_expired(self):
        """The spec's vector C: byte for byte what the Node SDK sent; its timestamp is old."""
        with open(os.path.join(SPEC, "node-sdk-create-http-listener.http"), "rb") as f:
            raw = f.read()
        g = Gaapd(credentials=False)
        self.addCleanup(g.cleanup)
        with open(os.path.join(g.dir, "credentials"), "w") as f:
            f.write("[default]\nsecret_id = AKIDEXAMPLELOCALTEST\n"
                    "secret_key = localtestsecretkey0123456789abcdef\n")
        g.start()
        with socket.create_connection(("127.0.0.1", g.port), timeout=10) as s:
            s.sendall(raw)
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
        head, body = answer.split(b"\r\n\r\n", 1)
        self.assertTrue(head.startswith(b"HTTP/1.1 200 "))
        self.assertIn(b"\r\nContent-Type: application/json\r\n", head)
        self.assertEqual(error_code(json.loads(body)["Response"]), "AuthFailure.SignatureExpire")
        g.stop()

    def test_malformed_or_skipped_authorization(self):
        for authz in ("SKIP", "TC3-HMAC-SHA256 Credential=x", "Basic dXNlcjpwYXNz"):
            with self.subTest(authz=authz):
                resp = self.gaapd.call("CreateHTTPListener", self.params(),
                                       extra_headers={"Authorization": authz})
                self.assertCode(resp, "AuthFailure.InvalidAuthorization")

    def test_a_token_where_none_is_issued(self):
        resp = self.gaapd.call("CreateHTTPListener", self.params(),
                               extra_headers={"X-TC-Token": "sometoken"})
        self.assertCode(resp, "AuthFailure.TokenFailure")


class CommonErrors(ApiTest):
    def test_unknown_action_and_version(self):
        self.assertCode(self.gaapd.call("CreateUnicorn", {}), "InvalidAction")
        resp = self.gaapd.call("CreateHTTPListener", {"ListenerName": "a", "Port": free_port()},
                               extra_headers={"X-TC-Version": "2017-01-01"})
        self.assertCode(resp, "NoSuchVersion")

    def test_methods_other_than_get_and_post(self):
        for method in ("PUT", "DELETE", "PATCH"):
            with self.subTest(method=method):
                status, ctype, data = self.gaapd.raw(method, b"{}", {"Content-Type": "application/json"})
                self.assertCode(check_envelope(status, ctype, data), "UnsupportedProtocol")

    def test_unsigned_request_is_missing_authorization(self):
        status, ctype, data = self.gaapd.raw("POST", b"{}", {
            "Content-Type": "application/json", "X-TC-Action": "CreateHTTPListener",
            "X-TC-Version": "2018-05-29", "X-TC-Timestamp": str(int(time.time()))})
        self.assertCode(check_envelope(status, ctype, data), "MissingParameter")

    def test_body_over_the_limit_is_refused_before_it_is_read(self):
        body = json.dumps({"ListenerName": "x" * (2 << 20), "Port": 1}).encode()
        resp = self.gaapd.call("CreateHTTPListener", None, body=body)
        self.assertCode(resp, "RequestSizeLimitExceeded")

    def test_malformed_http_gets_a_json_error_and_close(self):
        with socket.create_connection(("127.0.0.1", self.gaapd.port), timeout=10) as s:
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
        head, body = answer.split(b"\r\n\r\n", 1)
        self.assertIn(b"Content-Type: application/json", head)
        self.assertEqual(error_code(json.loads(body)["Response"]), "InvalidParameter")

    def test_keep_alive_and_pipelined_calls_are_answered_in_order(self):
        answers = self.gaapd.pipeline([("CreateUnicorn", {}), ("CreateHTTPListener", {}),
                                       ("DescribeUnicorns", {})])
        self.assertEqual([error_code(a) for a in answers],
                         ["InvalidAction", "MissingParameter", "InvalidAction"])


class RateLimit(ApiTest):
    config = {"rate_limit": 20}

    def test_calls_past_twenty_in_a_second_are_refused_and_change_nothing(self):
        ports = [free_port() for _ in range(5)]
        calls = [("CreateHTTPListener", {"ListenerName": "x"})] * 20
        calls += [("CreateHTTPListener", {"ListenerName": f"p{p}", "Port": p}) for p in ports]
        codes = [error_code(a) for a in self.gaapd.pipeline(calls)]
        self.assertEqual(codes[:20], ["MissingParameter"] * 20)
        # The bucket refills at 20/s while the burst is processed: at most one more may pass.
        self.assertGreaterEqual(codes[20:].count("RequestLimitExceeded"), 4, codes)
        for port, code in zip(ports, codes[20:]):
            if code == "RequestLimitExceeded":     # gaapd is asked: other tests may bind the port
                resp = self.gaapd.call("DescribeHTTPListeners", {"ProxyId": PROXY, "Port": port})
                self.assertEqual(resp["TotalCount"], 0, resp)
        self.assertEqual(error_code(self.gaapd.call("CreateUnicorn", {})), "InvalidAction")


class Gaapctl(ApiTest):
    def run_ctl(self, *args, env_extra=None):
        env = dict(os.environ, GAAPD_ENDPOINT=f"127.0.0.1:{self.gaapd.port}",
                   GAAPD_CREDENTIALS=os.path.join(self.gaapd.dir, "credentials"))
        env.update(env_extra or {})
        return subprocess.run([GAAPCTL, *args], capture_output=True, text=True, env=env, timeout=30)

    def test_create_prints_the_response_and_exits_zero(self):
        r = self.run_ctl("CreateHTTPListener", "--ProxyId", PROXY, "--ListenerName", "listener-1",
                         "--Port", str(free_port()))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(json.loads(r.stdout)["Response"]["ListenerId"], LISTENER_ID)

    def test_json_parameters(self):
        params = json.dumps({"ProxyId": PROXY, "ListenerName": "j", "Port": free_port()})
        r = self.run_ctl("CreateHTTPListener", "--json", params)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_an_api_error_exits_one_with_the_code_on_stderr(self):
        r = self.run_ctl("CreateHTTPListener", "--ProxyId", "link-zzzzzzzz", "--ListenerName", "x",
                         "--Port", "8081")
        self.assertEqual(r.returncode, 1)
        self.assertIn("ResourceNotFound", r.stderr)

    def test_keys_from_the_environment_come_before_the_file(self):
        r = self.run_ctl("CreateUnicorn", env_extra={"TENCENTCLOUD_SECRET_ID": "AKIDNOSUCH",
                                                     "TENCENTCLOUD_SECRET_KEY": "x"})
        self.assertEqual(r.returncode, 1)
        self.assertIn("AuthFailure.SecretIdNotFound", r.stderr)

    def test_no_server_exits_two(self):
        r = self.run_ctl("CreateUnicorn", env_extra={"GAAPD_ENDPOINT": f"127.0.0.1:{free_port()}"})
        self.assertEqual(r.returncode, 2)


class FirstStart(unittest.TestCase):
    def test_credentials_are_created_0600_and_work_with_gaapctl(self):
        g = Gaapd(credentials=False)
        self.addCleanup(g.cleanup)
        g.start()
        path = os.path.join(g.dir, "credentials")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        self.assertIn(path, g.log_text())
        env = dict(os.environ, GAAPD_ENDPOINT=f"127.0.0.1:{g.port}", GAAPD_CREDENTIALS=path)
        r = subprocess.run([GAAPCTL, "CreateHTTPListener", "--ListenerName", "first",
                            "--Port", str(free_port())], capture_output=True, text=True, env=env,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        g.stop()

    def test_auth_none_needs_no_signature(self):
        g = Gaapd(auth="none")
        self.addCleanup(g.cleanup)
        g.start()
        status, ctype, data = g.raw("POST", json.dumps({"ListenerName": "n", "Port": free_port()}).encode(),
                                    {"Content-Type": "application/json",
                                     "X-TC-Action": "CreateHTTPListener", "X-TC-Version": "2018-05-29"})
        self.assertRegex(check_envelope(status, ctype, data)["ListenerId"], LISTENER_ID)
        g.stop()


if __name__ == "__main__":
    unittest.main()
