"""The event log and the access log: wire-controlled text is escaped (log_escape(), daemon/log.h),
and a flood of warnings leaves a bounded log with the count of what was left out."""
import os
import re
import socket
import time
import unittest

from harness import PROXY, Gaapd, Origin, call_v1, free_port

# U+2028 LINE SEPARATOR and U+202E RIGHT-TO-LEFT OVERRIDE, then a raw 0x85 (not UTF-8: a NEL
# to a Latin-1 reader)
NASTY = "a\u2028b\u202ec"
ESCAPED = "a\\u{2028}b\\u{202e}c"


def config(origin, extra_http="", extra_node=""):
    return "\n".join([
        "node:", "  workers: 1", "  state_dir: state", "  log_level: info", extra_node,
        "control:", "  listen: 127.0.0.1:0", "  auth: signature", "  credentials_file: credentials",
        "  rate_limit: 1000000",
        "http:", "  access_log: access.log", "  origin_connect_timeout: 1000", extra_http,
        "proxies:", f"  - id: {PROXY}", f"    origins: [{origin}]"]) + "\n"


def read(path):
    with open(path, "rb") as f:
        return f.read()


def raw_get(port, target):
    """One request with a raw target (bytes), on its own connection; the status line."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data.split(b"\r\n", 1)[0]


class LogCase(unittest.TestCase):
    def start(self, origin, **kw):
        g = Gaapd(config_text=config(origin, **kw))
        self.addCleanup(g.cleanup)
        g.start()
        port = free_port()
        self.assertIn("ListenerId", g.create(port))
        return g, port

    def wait_for(self, what, timeout=10):
        deadline = time.monotonic() + timeout
        while not what():
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.02)


class Escaping(LogCase):
    def test_a_wire_field_with_line_breaks_and_bidi_shows_escaped_in_the_event_log(self):
        origin = Origin()
        self.addCleanup(origin.close)
        g, _ = self.start(f"127.0.0.1:{origin.port}")
        call_v1(g, "Describe" + NASTY + "\\", {})          # decoded from %E2%80%A8...: logged
        g.stop()
        log = read(g.log_path)
        self.assertIn(b"action=Describe" + ESCAPED.encode() + b"\\\\ code=", log)
        for raw in ("\u2028", "\u202e", "\u0085"):
            self.assertNotIn(raw.encode(), log)

    def test_the_access_log_target_escapes_its_quote_and_backslash(self):
        # strict llhttp refuses targets with controls or bytes past 0x7f (400, target ""): the
        # quote and the backslash are what a target can bring
        origin = Origin()
        self.addCleanup(origin.close)
        g, port = self.start(f"127.0.0.1:{origin.port}")
        self.assertIn(b" 200 ", raw_get(port, b'/p"q\\'))
        self.assertIn(b" 400 ", raw_get(port, b"/p" + NASTY.encode()))
        path = os.path.join(g.dir, "access.log")
        self.wait_for(lambda: os.path.exists(path) and read(path).count(b"\n") == 2)
        self.assertIn(b' target="/p\\"q\\\\" status=200 ', read(path))
        g.stop()


SUPPRESSED = re.compile(r"<4>warn px: (\d+) more lines like this one suppressed in \d+ ms: "
                        r"conn=%l?u listener=%s client=%s origin=%s: %s%s%s\n")


class Flood(LogCase):
    """Each request to a listener whose origin refuses connections logs a warning that differs
    by its connection number: the per-call-site limit bounds them."""

    def flood(self, n, **kw):
        g, port = self.start(f"127.0.0.1:{free_port()}", **kw)   # nothing listens: refused
        for _ in range(n):
            self.assertIn(b" 502 ", raw_get(port, b"/"))
        g.stop()                                                  # writes the counts still held
        log = g.log_text()
        warned = [l for l in log.splitlines() if l.startswith("<4>warn px: conn=")]
        suppressed = [int(m.group(1)) for m in SUPPRESSED.finditer(log)]
        return log, warned, suppressed

    def test_a_flood_of_warnings_leaves_a_bounded_log_and_its_count(self):
        log, warned, suppressed = self.flood(1000)
        # 100 lines per 10 s by default: the flood takes one window, two on a slow machine
        self.assertLessEqual(len(warned), 200, log[-2000:])
        self.assertEqual(len(warned) + sum(suppressed), 1000, log[-2000:])
        self.assertLess(len(log), 40000)                     # 1000 lines are over 100 kB

    def test_the_limit_is_configured_per_node(self):
        log, warned, suppressed = self.flood(
            100, extra_node="  log_rate_burst: 20\n  log_rate_interval: 600000")
        self.assertEqual(len(warned), 20, log)
        self.assertEqual(suppressed, [80], log)


if __name__ == "__main__":
    unittest.main()
