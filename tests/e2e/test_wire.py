"""The API 3.0 wire protocol end to end (tencent-api.md 1.1-1.4): every request style with TC3 and
v1 signatures, each common error from its real cause in both styles, the message language, v1
replay protection, rate limits per SecretId (or per client IP without auth), and the envelope."""
import json
import os
import re
import socket
import time
import unittest
import urllib.parse

from harness import (LISTENER_ID, PROXY, SECRET_ID, SECRET_KEY, Gaapd, GaapdTest, call_v1,
                     check_envelope, error_code, free_port, port_accepts, raw_request, send_batch,
                     sign_tc3, v1_request)

LIMITED_ID = "AKIDE2ELIMITEDKEY000000000000000"
LIMITED_KEY = "e2elimitedsecretkey0123456789abc"
REPLAY_LIMIT = 200

SIZE_MESSAGE = ("The provided credentials could not be validated because of exceeding request size "
                "limit, please use new signature method `TC3-HMAC-SHA256`.")


def node_query(params):
    """Node's querystring.stringify: a space is %20."""
    return urllib.parse.urlencode(params, quote_via=urllib.parse.quote)


def python_query(params):
    """Python's urlencode: a space is +."""
    return urllib.parse.urlencode(params)


class WireTest(GaapdTest):
    """GaapdTest without the origin: these calls never proxy, and an origin's shutdown costs half
    a second per test."""

    def setUp(self):
        self.gaapd = Gaapd(**self.config)
        self.addCleanup(self.gaapd.cleanup)
        self.gaapd.start()

    @property
    def host(self):
        return f"127.0.0.1:{self.gaapd.port}"

    def tc3(self, action, params=None, body=None, headers=None, content_type="application/json",
            signed_content_type=None, secret_key=SECRET_KEY, timestamp=None, method="POST"):
        """A TC3 POST JSON call, with headers added or replaced after signing."""
        body = body if body is not None else json.dumps(params or {}).encode()
        h = sign_tc3(secret_key, SECRET_ID, action, body, self.host,
                     int(time.time()) if timestamp is None else timestamp,
                     content_type=signed_content_type or content_type, method=method)
        h.update({"Host": self.host, "Content-Type": content_type})
        h.update(headers or {})
        h = {k: v for k, v in h.items() if v is not None}
        return check_envelope(*self.gaapd.raw(method, body, h))

    def tc3_get(self, action, query, signed_query=None, headers=None):
        """A TC3 GET call as the Node SDK makes it: params in the query, form content type."""
        h = sign_tc3(SECRET_KEY, SECRET_ID, action, b"", self.host, int(time.time()),
                     content_type="application/x-www-form-urlencoded", method="GET",
                     query=query if signed_query is None else signed_query)
        h["Host"] = self.host
        h.update(headers or {})
        return check_envelope(*self.gaapd.raw("GET", b"", h, target="/?" + query))

    def v1(self, action, params, method="GET", **kw):
        return call_v1(self.gaapd, action, params, method=method, **kw)

    def v1_raw(self, method, wire, headers=None):
        """A v1 request whose query (GET or other) or form body (POST) is sent exactly as given."""
        h = {"Host": self.host}
        if method == "POST":
            h["Content-Type"] = "application/x-www-form-urlencoded"
        h.update(headers or {})
        if method == "POST":
            return check_envelope(*self.gaapd.raw(method, wire.encode(), h))
        return check_envelope(*self.gaapd.raw(method, b"", h, target="/?" + wire))

    def create_params(self, port=None, name="l"):
        return {"ProxyId": PROXY, "ListenerName": name, "Port": port or free_port()}


class RequestStyles(WireTest):
    def test_post_json_tc3_with_a_charset_and_any_case_in_the_content_type(self):
        for ctype in ("application/json; charset=utf-8", "Application/JSON; charset=UTF-8"):
            with self.subTest(content_type=ctype):
                resp = self.tc3("CreateHTTPListener", self.create_params(), content_type=ctype,
                                signed_content_type=ctype.lower())
                self.assertRegex(resp["ListenerId"], LISTENER_ID)

    def test_get_query_tc3_as_node_and_python_encode_it(self):
        for encode in (node_query, python_query):
            with self.subTest(encoding=encode.__name__):
                resp = self.tc3_get("CreateHTTPListener",
                                    encode(self.create_params(name="监听器-1")))
                self.assertRegex(resp["ListenerId"], LISTENER_ID)

    def test_get_query_tc3_is_hashed_exactly_as_received(self):
        params = self.create_params(name="a b")
        node, python = node_query(params), python_query(params)
        self.assertNotEqual(node, python)
        # Both encodings verify; the name is then refused for its space, so the action read "a b".
        self.assertCode(self.tc3_get("CreateHTTPListener", node), "InvalidParameterValue")
        self.assertCode(self.tc3_get("CreateHTTPListener", python), "InvalidParameterValue")
        # Signed in one encoding and sent in the other, the query is not the one signed.
        self.assertCode(self.tc3_get("CreateHTTPListener", python, signed_query=node),
                        "AuthFailure.SignatureFailure")

    def test_v1_get_query_and_post_form_with_hmac_sha1_and_sha256(self):
        for method in ("GET", "POST"):
            for sig_method in ("HmacSHA1", "HmacSHA256"):
                with self.subTest(method=method, sig_method=sig_method):
                    port = free_port()
                    resp = self.v1("CreateHTTPListener", self.create_params(port), method=method,
                                   sig_method=sig_method)
                    self.assertRegex(resp["ListenerId"], LISTENER_ID)
                    self.assertTrue(port_accepts(port))

    def test_v1_signs_raw_decoded_values_of_every_param(self):
        resp = self.v1("CreateHTTPListener", self.create_params(name="监听器.1"),
                       extra={"RequestClient": "SDK_PYTHON_3.0 a/b=c&d+e%", "Region": "ap-guangzhou",
                              "Language": "en-US"})
        self.assertRegex(resp["ListenerId"], LISTENER_ID)

    def test_v1_without_a_signature_method_is_hmac_sha1(self):
        resp = self.v1("CreateHTTPListener", self.create_params(), omit=("SignatureMethod",))
        self.assertRegex(resp["ListenerId"], LISTENER_ID)

    def test_flattened_arrays_reach_the_action_in_v1_and_tc3_get(self):
        ids = [self.gaapd.create(free_port(), name=f"l{i}")["ListenerId"] for i in range(4)]
        resp = self.v1("DeleteListeners", {"ListenerIds": ids[:2], "Force": 1, "ProxyId": PROXY})
        self.assertEqual(sorted(resp["OperationSucceedListenerSet"]), sorted(ids[:2]))
        query = node_query({"ListenerIds.0": ids[2], "ListenerIds.1": ids[3], "Force": 1,
                            "ProxyId": PROXY})
        resp = self.tc3_get("DeleteListeners", query)
        self.assertEqual(sorted(resp["OperationSucceedListenerSet"]), sorted(ids[2:]))

    def test_gzip_accepted_by_the_client_is_answered_uncompressed(self):
        body = json.dumps({}).encode()
        h = sign_tc3(SECRET_KEY, SECRET_ID, "CreateUnicorn", body, self.host, int(time.time()))
        h.update({"Host": self.host, "Accept-Encoding": "gzip,deflate"})
        with socket.create_connection(("127.0.0.1", self.gaapd.port), timeout=10) as s:
            s.sendall(raw_request("POST", "/", body, h))
            s.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
        head, data = answer.split(b"\r\n\r\n", 1)
        self.assertNotIn(b"content-encoding", head.lower())
        self.assertIn(b"\r\nContent-Type: application/json\r\n", head)
        self.assertCode(json.loads(data)["Response"], "InvalidAction")


class TC3Errors(WireTest):
    def test_authorization_not_in_the_tencent_format(self):
        for authz in ("SKIP", "TC3-HMAC-SHA256 Credential=x", "Basic dXNlcjpwYXNz"):
            with self.subTest(authz=authz):
                resp = self.tc3("CreateHTTPListener", self.create_params(),
                                headers={"Authorization": authz})
                self.assertCode(resp, "AuthFailure.InvalidAuthorization")

    def test_missing_authorization_timestamp_action_or_version(self):
        for header in ("Authorization", "X-TC-Timestamp", "X-TC-Action", "X-TC-Version"):
            with self.subTest(missing=header):
                resp = self.tc3("CreateHTTPListener", self.create_params(), headers={header: None})
                self.assertCode(resp, "MissingParameter")
                self.assertIn(header.replace("X-TC-", ""), resp["Error"]["Message"])

    def test_signature_expired_beyond_five_minutes(self):
        for skew in (-301, 301):
            with self.subTest(skew=skew):
                resp = self.tc3("CreateHTTPListener", self.create_params(),
                                timestamp=int(time.time()) + skew)
                self.assertCode(resp, "AuthFailure.SignatureExpire")

    def test_unknown_secret_id_and_wrong_signature(self):
        body = json.dumps(self.create_params()).encode()
        h = sign_tc3(SECRET_KEY, "AKIDNOSUCHKEY", "CreateHTTPListener", body, self.host,
                     int(time.time()))
        self.assertCode(self.tc3("CreateHTTPListener", body=body, headers=h),
                        "AuthFailure.SecretIdNotFound")
        self.assertCode(self.tc3("CreateHTTPListener", self.create_params(), secret_key="wrong"),
                        "AuthFailure.SignatureFailure")

    def test_a_token_where_none_is_issued(self):
        resp = self.tc3("CreateHTTPListener", self.create_params(), headers={"X-TC-Token": "t"})
        self.assertCode(resp, "AuthFailure.TokenFailure")

    def test_unknown_action_and_version(self):
        self.assertCode(self.tc3("CreateUnicorn", {}), "InvalidAction")
        self.assertCode(self.tc3("CreateHTTPListener", self.create_params(),
                                 headers={"X-TC-Version": "2017-03-12"}), "NoSuchVersion")

    def test_parameter_errors(self):
        self.assertCode(self.tc3("CreateHTTPListener", body=b'{"Port": 1,'), "InvalidParameter")
        self.assertCode(self.tc3("CreateHTTPListener", body=b'[1]'), "InvalidParameter")
        resp = self.tc3("CreateHTTPListener", dict(self.create_params(), Port="eighty"))
        self.assertCode(resp, "InvalidParameter")
        self.assertEqual(resp["Error"]["Message"], "Parameter `Port` type error.")
        self.assertCode(self.tc3("CreateHTTPListener", dict(self.create_params(), Colour="red")),
                        "UnknownParameter")
        self.assertCode(self.tc3("CreateHTTPListener", {"ProxyId": PROXY, "Port": free_port()}),
                        "MissingParameter")

    def test_methods_other_than_get_and_post(self):
        for method in ("PUT", "DELETE", "PATCH", "OPTIONS"):
            with self.subTest(method=method):
                self.assertCode(self.tc3("CreateHTTPListener", self.create_params(), method=method),
                                "UnsupportedProtocol")


class V1Errors(WireTest):
    def test_missing_common_params(self):
        for name in ("SecretId", "Signature", "Timestamp", "Nonce", "Action", "Version"):
            with self.subTest(missing=name):
                resp = self.v1("CreateHTTPListener", self.create_params(), omit=(name,))
                self.assertCode(resp, "MissingParameter")
                self.assertIn(f"`{name}`", resp["Error"]["Message"])

    def test_nonce_must_be_an_integer(self):
        for nonce in ("abc", "-1", "1.5", ""):
            with self.subTest(nonce=nonce):
                resp = self.v1("CreateHTTPListener", self.create_params(), nonce=nonce)
                self.assertCode(resp, "InvalidParameter")
                self.assertEqual(resp["Error"]["Message"], "Parameter `Nonce` type error.")
        # The doc says positive, but the Node SDK's Math.round(Math.random() * 65535) can be 0.
        self.assertRegex(self.v1("CreateHTTPListener", self.create_params(), nonce=0)["ListenerId"],
                         LISTENER_ID)

    def test_timestamp_must_be_an_integer_within_five_minutes(self):
        self.assertCode(self.v1("CreateHTTPListener", self.create_params(), timestamp="soon"),
                        "InvalidParameter")
        for skew in (-301, 301):
            with self.subTest(skew=skew):
                resp = self.v1("CreateHTTPListener", self.create_params(),
                               timestamp=int(time.time()) + skew)
                self.assertCode(resp, "AuthFailure.SignatureExpire")

    def test_unknown_secret_id(self):
        resp = self.v1("CreateHTTPListener", self.create_params(), secret_id="AKIDNOSUCHKEY")
        self.assertCode(resp, "AuthFailure.SecretIdNotFound")

    def test_wrong_key_tampered_value_or_host_without_its_port(self):
        self.assertCode(self.v1("CreateHTTPListener", self.create_params(), secret_key="wrong"),
                        "AuthFailure.SignatureFailure")
        method, target, body, headers = v1_request("CreateHTTPListener", self.create_params(),
                                                   self.host)
        tampered = target.replace("ListenerName=l", "ListenerName=m")
        self.assertCode(check_envelope(*self.gaapd.raw("GET", b"", headers, target=tampered)),
                        "AuthFailure.SignatureFailure")
        method, target, body, headers = v1_request("CreateHTTPListener", self.create_params(),
                                                   "127.0.0.1")
        self.assertCode(check_envelope(*self.gaapd.raw("GET", b"", {"Host": self.host},
                                                        target=target)),
                        "AuthFailure.SignatureFailure")

    def test_a_replayed_request_is_refused_and_changes_nothing(self):
        port = free_port()
        method, target, body, headers = v1_request("CreateHTTPListener", self.create_params(port),
                                                   self.host, method="POST")
        first = check_envelope(*self.gaapd.raw(method, body, headers, target=target))
        self.assertRegex(first["ListenerId"], LISTENER_ID)
        again = check_envelope(*self.gaapd.raw(method, body, headers, target=target))
        self.assertCode(again, "AuthFailure.SignatureFailure")
        self.assertIn("already received", again["Error"]["Message"])
        # Re-encoding the same params does not make it another request.
        again = check_envelope(*self.gaapd.raw(method, body.replace(b"Action=", b"Acti%6Fn="),
                                               headers, target=target))
        self.assertCode(again, "AuthFailure.SignatureFailure")

    def test_other_calls_may_share_a_nonce_and_timestamp(self):
        """The Node SDK draws Nonce from 0-65535: a busy client repeats one within a second."""
        now = int(time.time())
        for _ in range(3):
            resp = self.v1("CreateHTTPListener", self.create_params(), nonce=4242, timestamp=now)
            self.assertRegex(resp["ListenerId"], LISTENER_ID)

    def test_requests_over_32_kib_must_use_tc3(self):
        params = self.create_params(name="x" * 33000)
        for method in ("GET", "POST"):
            with self.subTest(method=method):
                resp = self.v1("CreateHTTPListener", params, method=method)
                self.assertCode(resp, "AuthFailure.SignatureFailure")
                self.assertEqual(resp["Error"]["Message"], SIZE_MESSAGE)
        # The same parameters signed with TC3 are only refused for the name's length.
        self.assertCode(self.tc3("CreateHTTPListener", params), "InvalidParameterValue")

    def test_a_token_where_none_is_issued(self):
        resp = self.v1("CreateHTTPListener", self.create_params(), extra={"Token": "t"})
        self.assertCode(resp, "AuthFailure.TokenFailure")

    def test_unknown_action_and_version(self):
        self.assertCode(self.v1("CreateUnicorn", {}), "InvalidAction")
        self.assertCode(self.v1("CreateHTTPListener", self.create_params(),
                                extra={"Version": "2017-03-12"}), "NoSuchVersion")

    def test_parameter_errors(self):
        self.assertCode(self.v1("CreateHTTPListener", dict(self.create_params(), Colour="red")),
                        "UnknownParameter")
        self.assertCode(self.v1("CreateHTTPListener", dict(self.create_params(), Port="eighty")),
                        "InvalidParameter")
        self.assertCode(self.v1("CreateHTTPListener", self.create_params(),
                                extra={"Port.0": "80"}), "InvalidParameter")
        self.assertCode(self.v1("DeleteListeners", {"Force": 1, "ProxyId": PROXY},
                                extra={"ListenerIds.1": "listener-abcdefgh"}), "InvalidParameter")
        self.assertCode(self.v1("CreateHTTPListener", {"ProxyId": PROXY, "Port": free_port()}),
                        "MissingParameter")

    def test_malformed_encoding_and_repeated_common_params(self):
        for wire in ("Action=%zz", "Action=CreateUnicorn&Nonce=1&Nonce=2", "=x"):
            for method in ("GET", "POST"):
                with self.subTest(wire=wire, method=method):
                    self.assertCode(self.v1_raw(method, wire), "InvalidParameter")

    def test_methods_other_than_get_and_post(self):
        method, target, body, headers = v1_request("CreateHTTPListener", self.create_params(),
                                                   self.host)
        for other in ("PUT", "DELETE"):
            with self.subTest(method=other):
                resp = check_envelope(*self.gaapd.raw(other, b"", headers, target=target))
                self.assertCode(resp, "UnsupportedProtocol")


class V1ReplayDefaultSize(WireTest):
    """The issue's flood as it was seen, at the default table size and without the new key (so
    that the old gaapd runs it too, and fails it): 16,385 calls stamped 290 s ahead from one key
    made every other key's v1 calls "already received"."""
    config = {"credentials": f"[limited]\nsecret_id = {LIMITED_ID}\nsecret_key = {LIMITED_KEY}\n"
                             f"proxies = {PROXY}\n"}

    def test_one_key_fills_its_table_and_no_other_key_notices(self):
        ahead = int(time.time()) + 290
        flood = [raw_request(*v1_request("DescribeProxies", {}, self.host, secret_id=LIMITED_ID,
                                         secret_key=LIMITED_KEY, nonce=n, timestamp=ahead))
                 for n in range(1, 16386)]
        answers = []
        for i in range(0, len(flood), 100):     # 100 answers stay under the 64 KiB unsent limit
            answers += send_batch(self.gaapd.port, flood[i:i + 100])
        for nonce in range(1, 4):
            resp = self.v1("DescribeProxies", {}, nonce=nonce, timestamp=int(time.time()))
            self.assertIsNone(error_code(resp), resp)
        self.assertEqual(sum(error_code(a) is None for a in answers), 16384)
        self.assertCode(answers[-1], "RequestLimitExceeded")


class V1ReplayPerKey(WireTest):
    """Issue 17: a key filling the v1 replay table with requests stamped 5 minutes ahead locked
    every other key's v1 calls out ("already received") for up to 5 minutes. Each key now has its
    own table (control.v1_replay_limit, small here so that the flood is short)."""
    config = {"extra_control": f"v1_replay_limit: {REPLAY_LIMIT}",
              "credentials": f"[limited]\nsecret_id = {LIMITED_ID}\nsecret_key = {LIMITED_KEY}\n"
                             f"proxies = {PROXY}\n"}

    def limited(self, nonce, timestamp):
        return raw_request(*v1_request("DescribeProxies", {}, self.host, secret_id=LIMITED_ID,
                                       secret_key=LIMITED_KEY, nonce=nonce, timestamp=timestamp))

    def test_a_key_filling_its_table_is_refused_and_locks_out_no_other_key(self):
        ahead = int(time.time()) + 290
        flood = [self.limited(n, ahead) for n in range(1, REPLAY_LIMIT + 1)]
        answers = send_batch(self.gaapd.port, flood + [self.limited(0, int(time.time()))])
        self.assertEqual([error_code(a) for a in answers[:-1]], [None] * REPLAY_LIMIT)
        self.assertCode(answers[-1], "RequestLimitExceeded")
        message = answers[-1]["Error"]["Message"]
        self.assertIn(f"already has {REPLAY_LIMIT} HmacSHA1/HmacSHA256-signed requests", message)
        wait = int(re.search(r"accepted in (\d+) s", message).group(1))
        self.assertTrue(570 <= wait <= 591, message)
        # The other keys' v1 calls are served, and the flooding key's replays still refused.
        for nonce in range(1, 4):
            resp = self.v1("DescribeProxies", {}, nonce=nonce, timestamp=ahead)
            self.assertIsNone(error_code(resp), resp)
        self.assertCode(check_envelope(*self.gaapd.raw("GET", b"", {"Host": self.host},
                                                        target=flood[0].split(b" ")[1].decode())),
                        "AuthFailure.SignatureFailure")
        # TC3 calls of the flooding key are not limited by it.
        body = b"{}"
        h = sign_tc3(LIMITED_KEY, LIMITED_ID, "DescribeProxies", body, self.host, int(time.time()))
        resp = check_envelope(*self.gaapd.raw("POST", body, dict(h, Host=self.host,
                                                                  **{"Content-Type": "application/json"})))
        self.assertIsNone(error_code(resp), resp)


    def reload_credentials(self, extra):
        with open(os.path.join(self.gaapd.dir, "credentials"), "w") as f:
            f.write(f"[default]\nsecret_id = {SECRET_ID}\nsecret_key = {SECRET_KEY}\n" + extra)
        self.gaapd.reload("reload applied")

    def test_a_reload_keeps_remaining_keys_tables_and_drops_removed_ones(self):
        now = int(time.time())
        method, target, body, headers = v1_request("DescribeProxies", {}, self.host, timestamp=now)
        self.assertIsNone(error_code(check_envelope(*self.gaapd.raw(method, body, headers,
                                                                     target=target))))
        flood = [self.limited(n, now) for n in range(1, REPLAY_LIMIT + 2)]
        self.assertCode(send_batch(self.gaapd.port, flood)[-1], "RequestLimitExceeded")
        self.reload_credentials("")
        self.assertCode(check_envelope(*self.gaapd.raw(method, body, headers, target=target)),
                        "AuthFailure.SignatureFailure")
        self.assertCode(send_batch(self.gaapd.port, flood[-1:])[0],
                        "AuthFailure.SecretIdNotFound")
        # Back again, the key starts with an empty table.
        self.reload_credentials(self.config["credentials"])
        self.assertIsNone(error_code(send_batch(self.gaapd.port, flood[-1:])[0]))


class Languages(WireTest):
    def test_zh_cn_gives_the_chinese_default_message(self):
        resp = self.tc3("CreateUnicorn", {}, headers={"X-TC-Language": "zh-CN"})
        self.assertCode(resp, "InvalidAction")
        self.assertEqual(resp["Error"]["Message"], "接口不存在。")
        resp = self.v1("CreateUnicorn", {}, extra={"Language": "zh-CN"})
        self.assertEqual(resp["Error"]["Message"], "接口不存在。")

    def test_zh_cn_keeps_the_precise_english_detail_in_parentheses(self):
        resp = self.tc3("CreateHTTPListener", dict(self.create_params(), Port="eighty"),
                        headers={"X-TC-Language": "zh-CN"})
        self.assertEqual(resp["Error"]["Message"],
                         "参数错误（包括参数格式、类型等错误）。(Parameter `Port` type error.)")

    def test_en_us_is_the_default_and_an_empty_header_means_it(self):
        for lang in ("en-US", "", None):
            with self.subTest(language=lang):
                resp = self.tc3("CreateUnicorn", {}, headers={"X-TC-Language": lang})
                self.assertEqual(resp["Error"]["Message"],
                                 "The request `Action` is invalid or not found.")

    def test_an_unsupported_language_is_an_invalid_value(self):
        self.assertCode(self.tc3("CreateUnicorn", {}, headers={"X-TC-Language": "fr-FR"}),
                        "InvalidParameterValue")
        self.assertCode(self.v1("CreateUnicorn", {}, extra={"Language": "fr-FR"}),
                        "InvalidParameterValue")

    def test_auth_errors_come_in_the_callers_language_too(self):
        resp = self.v1("CreateUnicorn", {}, secret_key="wrong", extra={"Language": "zh-CN"})
        self.assertCode(resp, "AuthFailure.SignatureFailure")
        self.assertEqual(resp["Error"]["Message"], "请求签名验证失败，请检查您的签名计算是否正确。")


class RequestSize(WireTest):
    config = {"extra_control": "max_request_size: 4096"}

    def test_a_body_over_the_configured_limit(self):
        params = self.create_params(name="x" * 5000)
        self.assertCode(self.tc3("CreateHTTPListener", params), "RequestSizeLimitExceeded")
        resp = self.tc3("CreateHTTPListener", params, headers={"X-TC-Language": "zh-CN"})
        self.assertCode(resp, "RequestSizeLimitExceeded")
        self.assertTrue(resp["Error"]["Message"].startswith("请求包超过限制大小。"), resp)
        self.assertCode(self.v1("CreateHTTPListener", params, method="POST"),
                        "RequestSizeLimitExceeded")


class RateLimit(WireTest):
    config = {"rate_limit": 20}

    def v1_wire(self, params):
        return raw_request(*v1_request("CreateHTTPListener", params, self.host, method="POST"))

    def assert_burst_refused(self, codes, ports):
        """The first 20 pass; of the ones after, at most one may pass (the bucket refills at
        20/s while the burst is processed) and a refused one changed nothing. gaapd itself is
        asked: other tests running in parallel may bind those ports."""
        self.assertEqual(codes[:20], ["MissingParameter"] * 20)
        self.assertGreaterEqual(codes[20:].count("RequestLimitExceeded"), len(ports) - 1, codes)
        for port, code in zip(ports, codes[20:]):
            if code == "RequestLimitExceeded":
                listeners = self.tc3("DescribeHTTPListeners", {"ProxyId": PROXY, "Port": port})
                self.assertEqual(listeners["TotalCount"], 0, listeners)

    def test_v1_calls_past_twenty_in_a_second_are_refused_and_change_nothing(self):
        ports = [free_port() for _ in range(5)]
        burst = [self.v1_wire({"ListenerName": "x"}) for _ in range(20)]
        burst += [self.v1_wire(self.create_params(p)) for p in ports]
        self.assert_burst_refused([error_code(a) for a in send_batch(self.gaapd.port, burst)], ports)

    def test_tc3_and_v1_calls_of_one_secret_id_share_its_bucket(self):
        ports = [free_port() for _ in range(5)]
        burst = []
        for i in range(20):
            if i % 2:
                burst.append(self.v1_wire({"ListenerName": "x"}))
            else:
                body = b'{"ListenerName": "x"}'
                h = sign_tc3(SECRET_KEY, SECRET_ID, "CreateHTTPListener", body, self.host,
                             int(time.time()))
                burst.append(raw_request("POST", "/", body, dict(h, Host=self.host)))
        burst += [self.v1_wire(self.create_params(p)) for p in ports]
        self.assert_burst_refused([error_code(a) for a in send_batch(self.gaapd.port, burst)], ports)


class RateLimitWithoutAuth(unittest.TestCase):
    def test_callers_are_counted_by_client_ip(self):
        g = Gaapd(auth="none", rate_limit=20)
        self.addCleanup(g.cleanup)
        g.start()
        host = f"127.0.0.1:{g.port}"
        call = raw_request("GET", "/?" + urllib.parse.urlencode(
            {"Action": "CreateHTTPListener", "Version": "2018-05-29", "ListenerName": "x"}),
            headers={"Host": host})
        codes = [error_code(a) for a in send_batch(g.port, [call] * 25)]
        self.assertEqual(codes[:20], ["MissingParameter"] * 20)
        self.assertGreaterEqual(codes[20:].count("RequestLimitExceeded"), 4, codes)
        # Another address has its own bucket.
        self.assertEqual([error_code(a) for a in send_batch(g.port, [call], source="127.0.0.2")],
                         ["MissingParameter"])
        g.stop()


class Envelope(WireTest):
    def test_every_answer_has_its_own_request_id(self):
        answers = send_batch(self.gaapd.port, [raw_request("GET", "/?Action=X", headers={
            "Host": self.host})] * 10)
        ids = [a["RequestId"] for a in answers]
        self.assertEqual(len(set(ids)), 10)

    def test_bytes_that_are_not_utf8_are_echoed_safely(self):
        resp = self.tc3("CreateHTTPListener", self.create_params(),
                        headers={"X-TC-Version": b"2018-\xff\xfe"})
        self.assertCode(resp, "NoSuchVersion")
        self.assertIn("2018-??", resp["Error"]["Message"])

    def test_a_head_request_gets_a_head_only(self):
        with socket.create_connection(("127.0.0.1", self.gaapd.port), timeout=10) as s:
            s.sendall(raw_request("HEAD", "/", headers={"Host": self.host}) +
                      raw_request("GET", "/?Action=X", headers={"Host": self.host}))
            s.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
        first, rest = answer.split(b"\r\n\r\n", 1)
        self.assertTrue(first.startswith(b"HTTP/1.1 200 "))
        self.assertTrue(rest.startswith(b"HTTP/1.1 200 "), rest)
        second, body = rest.split(b"\r\n\r\n", 1)
        self.assertCode(json.loads(body)["Response"], "MissingParameter")

    def test_connect_and_upgrade_get_one_answer_then_close(self):
        for request in (raw_request("CONNECT", "127.0.0.1:80", headers={"Host": "127.0.0.1:80"}),
                        raw_request("GET", "/?Action=X", headers={
                            "Host": self.host, "Connection": "Upgrade", "Upgrade": "websocket"})):
            with self.subTest(request=request.split(b"\r\n")[0]):
                with socket.create_connection(("127.0.0.1", self.gaapd.port), timeout=10) as s:
                    s.sendall(request + raw_request("GET", "/?Action=X", headers={"Host": self.host}))
                    answer = b""
                    while chunk := s.recv(65536):
                        answer += chunk
                self.assertEqual(answer.count(b"HTTP/1.1 "), 1, answer)
                self.assertIn(b"\r\nConnection: close\r\n", answer)


if __name__ == "__main__":
    unittest.main()
