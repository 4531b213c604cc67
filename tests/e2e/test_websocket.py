"""WebSocket through gaapd end to end: real RFC 6455 exchanges (ws_origin.py) between raw-socket
clients and an origin, through the real gaapd. The upgrade and the 101, frames both ways, bytes
sent behind either head, a large message, back-pressure each way with gaapd's memory bounded,
the close handshake and half-closes, the tunnel's idle timeout, answers other than a WebSocket
101, and Upgrade offers gaapd does not tunnel (h2c) served as HTTP/1.1.

Waits are bounded (WAIT); nothing asserts on durations.
"""
import os
import re
import socket
import threading
import time

from test_proxy import WAIT, ProxyCase, connect, parse_responses, read_all
from ws_origin import (BINARY, CLOSE, PING, PONG, TEXT, Frames, WsOrigin, accept_key, frame,
                       header, new_key, read_head, upgrade_request)

MiB = 1 << 20


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))


class Tunnels(ProxyCase):
    """Shared by the two classes below: one gaapd, one WebSocket origin."""
    origin_buffers = 65536          # small kernel buffers at the origin: gaapd must hold back

    @classmethod
    def origins(cls):
        return {"ws": WsOrigin(rcvbuf=cls.origin_buffers)}

    @classmethod
    def proxies(cls, o):
        return [("link-ws", [f"127.0.0.1:{o['ws'].port}"], "rr")]

    def port(self, pid="link-ws"):
        return self.ports[pid]

    def open(self, path, extra="", behind=b"", sndbuf=None):
        """A client socket after the 101: (socket, Frames with what came behind the head, the
        101 head, the key sent)."""
        key = new_key()
        s = socket.socket()
        if sndbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        s.settimeout(WAIT)
        s.connect(("127.0.0.1", self.port()))
        self.addCleanup(s.close)
        s.sendall(upgrade_request(path, key, extra=extra) + behind)
        head, rest = read_head(s)
        self.assertTrue(head.startswith(b"HTTP/1.1 101 "), head)
        return s, Frames(s, rest), head, key

    def metric(self, name):
        _, _, body = self.g.raw("GET", target="/metrics")
        m = re.search(re.escape(name) + r'\{listener="[^"]+"\} (\d+)', body.decode())
        return int(m.group(1)) if m else None

    def origin_heads(self):
        with self.o["ws"].lock:
            return list(self.o["ws"].heads)

    def access_log(self):
        path = os.path.join(self.g.dir, "access.log")
        if not os.path.exists(path):
            return ""
        with open(path) as f:
            return f.read()


class WebSocket(Tunnels):
    http = {"tunnel_idle_timeout": 10000}

    def test_frames_both_ways_and_the_close_handshake(self):
        upgraded = self.metric("gaapd_connections_upgraded_total")
        s, frames, head, key = self.open("/ws?room=1", extra="Sec-WebSocket-Protocol: chat\r\n")
        self.assertEqual(header(head, "sec-websocket-accept"), accept_key(key))
        self.assertEqual(header(head, "upgrade"), "websocket")
        self.assertEqual(header(head, "connection"), "Upgrade")
        seen = self.origin_heads()[-1]
        self.assertTrue(seen.startswith(b"GET /ws?room=1 HTTP/1.1\r\n"), seen)
        for name, value in (("upgrade", "websocket"), ("connection", "Upgrade"),
                            ("sec-websocket-key", key), ("sec-websocket-version", "13"),
                            ("sec-websocket-protocol", "chat"), ("x-forwarded-for", "127.0.0.1")):
            self.assertEqual(header(seen, name), value, seen)
        s.sendall(frame(TEXT, "héllo".encode(), masked=True))
        self.assertEqual(frames.read_message(), (TEXT, "héllo".encode()))
        s.sendall(frame(BINARY, b"\x00\x01", masked=True, fin=False)
                  + frame(0, b"\x02", masked=True, fin=False) + frame(0, b"\x03", masked=True))
        self.assertEqual(frames.read_message(), (BINARY, b"\x00\x01\x02\x03"))
        s.sendall(frame(PING, b"p", masked=True))
        self.assertEqual(frames.read_message(), (PONG, b"p"))
        s.sendall(frame(CLOSE, b"\x03\xe8bye", masked=True))
        self.assertEqual(frames.read_message(), (CLOSE, b"\x03\xe8bye"))
        rest, closed = read_all(s)          # the origin closed: gaapd passes its FIN on
        self.assertEqual((rest, closed), (b"", True))
        s.close()
        self.assertTrue(self.wait_for(lambda: self.metric("gaapd_connections_open") == 0))
        self.assertEqual(self.metric("gaapd_connections_upgraded_total"), upgraded + 1)
        self.assertTrue(self.wait_for(lambda: re.search(
            r'method=GET target="/ws\?room=1" status=101 bytes=\d+ ', self.access_log())),
            self.access_log())

    def test_bytes_behind_either_head_go_through(self):
        # frames the client sent right behind its request, before any 101
        s, frames, _, _ = self.open("/ws", behind=frame(TEXT, b"early", masked=True)
                                    + frame(TEXT, b"bird", masked=True))
        self.assertEqual(frames.read_message(), (TEXT, b"early"))
        self.assertEqual(frames.read_message(), (TEXT, b"bird"))
        # a frame the origin sent in the same write as its 101
        s, frames, _, _ = self.open("/ws-push")
        self.assertEqual(frames.read_message(), (TEXT, b"hello"))
        s.sendall(frame(TEXT, b"and back", masked=True))
        self.assertEqual(frames.read_message(), (TEXT, b"and back"))

    def test_a_large_message_both_ways(self):
        payload = os.urandom(4 * MiB)
        s, frames, _, _ = self.open("/ws")
        sender = threading.Thread(target=s.sendall, args=(frame(BINARY, payload, masked=True),))
        sender.start()                      # the echo comes back while it is still being sent
        opcode, echo = frames.read_message()
        sender.join(WAIT)
        self.assertEqual((opcode, len(echo)), (BINARY, len(payload)))
        self.assertTrue(echo == payload)

    def test_client_held_back_while_the_origin_reads_nothing(self):
        """gaapd stops reading from the client while the origin takes nothing, so the client
        cannot send what it offers and gaapd's memory stays flat; nothing is lost."""
        offered = 64 * MiB
        origin = self.o["ws"]
        origin.stall_done.clear()
        origin.released.clear()
        s, _, _, _ = self.open("/ws-stall", sndbuf=65536)
        before = rss_kib(self.g.proc.pid)
        s.settimeout(1)
        block, sent = b"s" * 65536, 0
        try:
            while sent < offered:
                sent += s.send(block)
        except socket.timeout:
            pass
        grown = rss_kib(self.g.proc.pid) - before
        self.assertLess(sent, offered)
        self.assertLess(grown, 16 * 1024, f"gaapd grew {grown} KiB holding {sent} bytes")
        origin.release()
        s.settimeout(WAIT)
        s.sendall(block)
        s.shutdown(socket.SHUT_WR)
        self.assertTrue(origin.stall_done.wait(WAIT))
        self.assertEqual(origin.read_total, sent + len(block))
        self.assertEqual(read_all(s), (b"", True))

    def test_origin_held_back_while_the_client_reads_nothing(self):
        n = 64 * MiB
        origin = self.o["ws"]
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.settimeout(WAIT)
        s.connect(("127.0.0.1", self.port()))
        self.addCleanup(s.close)
        before = rss_kib(self.g.proc.pid)
        s.sendall(upgrade_request(f"/ws-flood?n={n}", new_key()))
        last, deadline = -1, time.monotonic() + WAIT
        while time.monotonic() < deadline:  # until the origin makes no more progress
            time.sleep(0.5)
            with origin.lock:
                now = origin.flood_sent
            if now == last:
                break
            last = now
        grown = rss_kib(self.g.proc.pid) - before
        self.assertLess(last, n)
        self.assertLess(grown, 16 * 1024, f"gaapd grew {grown} KiB with {last} bytes sent")
        head, rest = read_head(s)
        self.assertTrue(head.startswith(b"HTTP/1.1 101 "), head)
        opcode, payload = Frames(s, rest).read_message()
        self.assertEqual((opcode, len(payload)), (BINARY, n))
        self.assertTrue(payload == (bytes(range(256)) * (n // 256)))
        self.assertEqual(read_all(s), (b"", True))

    def test_the_clients_half_close_reaches_the_origin(self):
        s, frames, _, _ = self.open("/ws")
        s.sendall(frame(TEXT, b"last words", masked=True))
        s.shutdown(socket.SHUT_WR)
        self.assertEqual(frames.read_message(), (TEXT, b"last words"))
        self.assertEqual(frames.read_message(), (TEXT, b"eof"))    # the origin saw the EOF
        self.assertEqual(read_all(s), (b"", True))

    def test_an_answer_other_than_101_leaves_the_connection_http(self):
        upgraded = self.metric("gaapd_connections_upgraded_total")
        with connect(self.port()) as s:
            s.sendall(upgrade_request("/ws-refuse", new_key()))
            s.sendall(b"GET /after HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            got, closed = read_all(s)
        rs = parse_responses(got)
        self.assertEqual([r.status for r in rs], [403, 200], rs)
        self.assertEqual(rs[0].body, b"no websocket here")
        self.assertTrue(rs[1].body.startswith(b"GET /after HTTP/1.1\r\n"), rs[1].body)
        self.assertTrue(closed)
        self.assertEqual(self.metric("gaapd_connections_upgraded_total"), upgraded)

    def test_a_101_that_is_not_a_websocket_switch_is_502(self):
        for req in (upgrade_request("/ws-bad", new_key()),        # the origin switched to h2c
                    b"GET /ws HTTP/1.1\r\nHost: t\r\n\r\n"):        # nobody asked it to switch
            with self.subTest(req=req), connect(self.port()) as s:
                s.sendall(req)
                got, closed = read_all(s)
                self.assertTrue(got.startswith(b"HTTP/1.1 502 "), got)
                self.assertTrue(closed)

    def test_other_requests_for_websocket_are_400_and_never_reach_the_origin(self):
        heads = len(self.origin_heads())
        key = new_key()
        for req in (
                f"POST /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nContent-Length: 0\r\n\r\n",
                f"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Content-Length: 2\r\n\r\nhi",
                f"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nSec-WebSocket-Key: {key}"
                f"\r\n\r\n",
                "GET /ws HTTP/1.0\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"):
            with self.subTest(req=req), connect(self.port()) as s:
                s.sendall(req.encode())
                got, closed = read_all(s)
                self.assertTrue(got.startswith(b"HTTP/1.1 400 "), got)
                self.assertTrue(closed)
        self.assertEqual(len(self.origin_heads()), heads)

    def test_h2c_and_other_upgrade_offers_are_served_as_http11(self):
        upgraded = self.metric("gaapd_connections_upgraded_total")
        with connect(self.port()) as s:
            s.sendall(b"GET /plain HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                      b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
                      b"POST /plain HTTP/1.1\r\nHost: t\r\nUpgrade: foo/2, bar\r\n"
                      b"Connection: upgrade\r\nHTTP2-Settings: x\r\nContent-Length: 3\r\n\r\nabc"
                      b"GET /last HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            got, closed = read_all(s)
        rs = parse_responses(got)
        self.assertEqual([r.status for r in rs], [200, 200, 200], rs)
        self.assertTrue(closed)
        for r in rs:
            self.assertIsNone(r.header("upgrade"), r)
        seen = self.origin_heads()[-3:]
        self.assertTrue(seen[0].startswith(b"GET /plain HTTP/1.1\r\n"), seen)
        self.assertTrue(seen[1].startswith(b"POST /plain HTTP/1.1\r\n"), seen)
        for h in seen[:2]:
            for name in ("upgrade", "http2-settings", "connection"):
                self.assertIsNone(header(h, name), h)
        self.assertEqual(header(seen[1], "content-length"), "3")
        self.assertEqual(self.metric("gaapd_connections_upgraded_total"), upgraded)


class TunnelIdle(Tunnels):
    http = {"tunnel_idle_timeout": 500}

    def test_a_silent_tunnel_is_closed_after_the_idle_timeout(self):
        s, frames, _, _ = self.open("/ws")
        s.sendall(frame(TEXT, b"one", masked=True))
        self.assertEqual(frames.read_message(), (TEXT, b"one"))
        self.assertEqual(read_all(s), (b"", True))      # then nothing moves: closed
        self.assertTrue(self.wait_for(lambda: self.metric("gaapd_connections_open") == 0))
        self.assertTrue(self.wait_for(lambda: re.search(
            r'target="/ws" status=101 ', self.access_log())), self.access_log())

    def test_traffic_one_way_keeps_it_open(self):
        """The origin ticks every 200 ms for 2 s while the client says nothing: far longer than
        the 500 ms idle timeout, and every tick arrives."""
        s, frames, _, _ = self.open("/ws-tick")
        for i in range(10):
            self.assertEqual(frames.read_message(), (TEXT, b"tick %d" % i))


if __name__ == "__main__":
    import unittest
    unittest.main()
