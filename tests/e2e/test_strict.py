"""Strict requests on the control API (issue 17): a header the API or the HTTP framing reads may come
once only, and a ListenerName is letters and digits of any script plus '-', '_', '.'.

A repeated header is where a proxy or a log in front (which may read the first copy) and gaapd
(which read the last) would disagree on who calls and what for. Each test below repeats one, with
the copy gaapd used to read last being the valid one, so that before the fix the call went through.
"""
import json
import socket
import time
import unittest

from harness import (LISTENER_ID, PROXY, SECRET_KEY, Gaapd, GaapdTest, check_envelope, error_code,
                     free_port, sign_tc3, v1_encode, v1_params)


def send_raw(port, head_lines, body=b""):
    """One request from (name, value) pairs sent as given (repeats kept), read until the server
    closes: (status, content type, JSON document)."""
    head = "POST / HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head_lines) + "\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head.encode() + body)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    head, rest = answer.split(b"\r\n\r\n", 1)
    status = int(head.split()[1])
    ctype = next(l.split(b":", 1)[1].strip().decode() for l in head.split(b"\r\n")
                 if l.lower().startswith(b"content-type:"))
    return status, ctype, rest


class StrictTest(GaapdTest):
    """Without an origin: nothing here proxies."""

    def setUp(self):
        self.gaapd = Gaapd(**self.config)
        self.addCleanup(self.gaapd.cleanup)
        self.gaapd.start()

    def listeners(self):
        resp = self.gaapd.call("DescribeHTTPListeners", {"ProxyId": PROXY})
        self.assertNotIn("Error", resp)
        return resp["ListenerSet"]


class RepeatedHeaders(StrictTest):
    def create_lines(self):
        """A correctly signed CreateHTTPListener as (name, value) pairs, and its body."""
        body = json.dumps({"ProxyId": PROXY, "ListenerName": "dup", "Port": free_port()}).encode()
        host = f"127.0.0.1:{self.gaapd.port}"
        signed = sign_tc3(SECRET_KEY, "AKIDE2ETESTKEY000000000000000000", "CreateHTTPListener",
                          body, host, int(time.time()))
        lines = [("Host", host)] + list(signed.items()) + [("Connection", "close"),
                                                           ("Content-Length", str(len(body)))]
        return lines, body

    def refused_with(self, name, first, code, spelled=None):
        """Send the signed create with `spelled: first` before the real `name` header; expect the
        JSON error code naming the header, a closed connection, and no listener."""
        lines, body = self.create_lines()
        at = next(i for i, (k, _) in enumerate(lines) if k == name)
        lines.insert(at, (spelled or name, first))
        status, ctype, data = send_raw(self.gaapd.port, lines, body)
        resp = check_envelope(status, ctype, data)
        self.assertEqual(error_code(resp), code, resp)
        self.assertIn(f"`{name.lower()}`", resp["Error"]["Message"].lower())
        self.assertIn("more than once", resp["Error"]["Message"])
        self.assertEqual(self.listeners(), [])

    def test_the_signed_create_alone_is_accepted(self):
        lines, body = self.create_lines()
        lines.append(("X-Custom", "a"))
        lines.append(("X-Custom", "b"))       # headers the API does not read may repeat
        resp = check_envelope(*send_raw(self.gaapd.port, lines, body))
        self.assertRegex(resp.get("ListenerId", ""), LISTENER_ID, resp)

    def test_two_authorization_headers(self):
        self.refused_with("Authorization", "TC3-HMAC-SHA256 Credential=AKIDSOMEONEELSE/"
                          "2020-01-01/gaap/tc3_request, SignedHeaders=content-type;host, "
                          "Signature=0", "AuthFailure.InvalidAuthorization")

    def test_two_host_headers(self):
        self.refused_with("Host", "evil.example", "InvalidParameter")

    def test_two_x_tc_action_headers(self):
        self.refused_with("X-TC-Action", "DescribeHTTPListeners", "InvalidParameter")

    def test_two_x_tc_timestamp_headers_in_another_case(self):
        self.refused_with("X-TC-Timestamp", "0", "InvalidParameter", spelled="x-tc-timestamp")

    def test_two_x_tc_version_headers(self):
        self.refused_with("X-TC-Version", "2017-03-12", "InvalidParameter")

    def test_two_content_type_headers(self):
        self.refused_with("Content-Type", "text/plain", "InvalidParameter")

    def test_two_content_length_headers(self):
        lines, body = self.create_lines()
        self.assertEqual(lines[-1][0], "Content-Length")
        lines.append(lines[-1])           # the same length twice: still refused
        resp = check_envelope(*send_raw(self.gaapd.port, lines, body))
        self.assertEqual(error_code(resp), "InvalidParameter", resp)
        self.assertIn("`Content-Length` is given more than once", resp["Error"]["Message"])
        self.assertEqual(self.listeners(), [])

    def test_content_length_with_transfer_encoding(self):
        lines, body = self.create_lines()
        lines.append(("Transfer-Encoding", "chunked"))
        chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
        resp = check_envelope(*send_raw(self.gaapd.port, lines, chunked))
        self.assertEqual(error_code(resp), "InvalidParameter", resp)
        self.assertIn("Transfer-Encoding", resp["Error"]["Message"])
        self.assertEqual(self.listeners(), [])

    def test_a_trailer_field_is_refused(self):
        # Authorization in the head, the action only in a trailer after the chunked body: a proxy
        # done with the head sees no action at all.
        lines, body = self.create_lines()
        lines = [(k, v) for k, v in lines if k not in ("X-TC-Action", "Content-Length")]
        lines.append(("Transfer-Encoding", "chunked"))
        chunked = (f"{len(body):x}\r\n".encode() + body +
                   b"\r\n0\r\nX-TC-Action: CreateHTTPListener\r\n\r\n")
        resp = check_envelope(*send_raw(self.gaapd.port, lines, chunked))
        self.assertEqual(error_code(resp), "InvalidParameter", resp)
        self.assertIn("Trailer", resp["Error"]["Message"])
        self.assertEqual(self.listeners(), [])

    def test_two_host_headers_on_a_v1_call(self):
        host = f"127.0.0.1:{self.gaapd.port}"
        params = v1_params("CreateHTTPListener", {"ProxyId": PROXY, "ListenerName": "dup",
                                                  "Port": free_port()}, host, method="POST")
        body = v1_encode(params).encode()
        lines = [("Host", "evil.example"), ("Host", host),
                 ("Content-Type", "application/x-www-form-urlencoded"),
                 ("Connection", "close"), ("Content-Length", str(len(body)))]
        resp = check_envelope(*send_raw(self.gaapd.port, lines, body))
        self.assertEqual(error_code(resp), "InvalidParameter", resp)
        self.assertIn("`Host` is given more than once", resp["Error"]["Message"])
        self.assertEqual(self.listeners(), [])


# U+2028, U+2029 (separators), U+202E, U+200B, U+FEFF (format), U+00A0 (space)
INVISIBLE = ["\u2028", "\u2029", "\u202e", "\u200b", "\ufeff", "\u00a0"]
# letters and digits of other scripts: CJK, Latin with diacritics, Arabic-Indic digits, Arabic
GOOD = ["监听器-1", "Ünïcode_2.0", "web-\u0661\u0662\u0663", "\u062e\u0627\u062f\u0645", "αβγ.δ"]


class ListenerNames(StrictTest):
    def create(self, name):
        return self.gaapd.create(free_port(), name=name)

    def test_invisible_and_separator_characters_are_refused(self):
        for ch in INVISIBLE:
            for name in (ch, f"web{ch}1", f"web{ch}"):
                with self.subTest(char=f"U+{ord(ch):04X}", name=repr(name)):
                    resp = self.create(name)
                    self.assertEqual(error_code(resp), "InvalidParameterValue", resp)
                    self.assertIn(f"U+{ord(ch):04X}", resp["Error"]["Message"])
        self.assertEqual(self.listeners(), [])

    def test_symbols_and_other_punctuation_are_refused(self):
        for name in ["web€", "a;b", "a\uff1bb", "smile\U0001F600", "e\u0301"]:
            with self.subTest(name=repr(name)):
                self.assertEqual(error_code(self.create(name)), "InvalidParameterValue")
        self.assertEqual(self.listeners(), [])

    def test_letters_and_digits_of_any_script_are_accepted(self):
        for name in GOOD:
            with self.subTest(name=name):
                resp = self.create(name)
                self.assertRegex(resp.get("ListenerId", ""), LISTENER_ID, resp)
        self.assertEqual(sorted(l["ListenerName"] for l in self.listeners()), sorted(GOOD))

    def test_rename_to_an_invisible_character_is_refused(self):
        lid = self.create("web-1")["ListenerId"]
        for ch in INVISIBLE:
            with self.subTest(char=f"U+{ord(ch):04X}"):
                resp = self.gaapd.call("ModifyHTTPListenerAttribute",
                                       {"ListenerId": lid, "ListenerName": f"web{ch}2"})
                self.assertEqual(error_code(resp), "InvalidParameterValue", resp)
        self.assertEqual([l["ListenerName"] for l in self.listeners()], ["web-1"])


if __name__ == "__main__":
    unittest.main()
