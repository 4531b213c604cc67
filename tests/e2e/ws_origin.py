"""A WebSocket origin and client framing for the proxy end-to-end tests, Python stdlib only.

The RFC 6455 handshake (4.1, 4.2.2) and framing (5.2) are written out here from the RFC,
independently of gaapd, which parses neither. Plain sockets, one thread per connection. Every
request head is recorded as received. Answers by path (any query string is ignored):

  /ws           101 (whatever the request asked: a plain GET to it tests the proxy's 502), then
                echoes each message back (fragments joined, unmasked); ping gets pong; a close
                frame is answered with a close frame with the same payload, then the origin
                closes; the client's EOF is answered with a text frame "eof", then close
  /ws-push      101 and, in the same write, a text frame "hello" (bytes behind the head)
  /ws-tick      101, then a text frame "tick N" every 200 ms for 2 s, reading nothing
  /ws-stall     101, then nothing is read until release() (the proxy must hold the client
                back); then every byte is counted (read_total) until the client's EOF
  /ws-flood?n=N 101, then one binary message of N bytes (byte i is i % 256), as fast as the
                proxy takes it (flood_sent counts what the socket took); then close
  /ws-bad       101 whose Upgrade is h2c, not websocket
  /ws-refuse    403 with a body and a Content-Length, keep-alive (no switch)
  anything else 200, body = the request head as received
"""
import base64
import hashlib
import os
import socket
import struct
import threading
import time
from urllib.parse import parse_qs, urlsplit

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA


def accept_key(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 4.2.2)."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def new_key():
    return base64.b64encode(os.urandom(16)).decode()


def frame(opcode, payload=b"", masked=False, fin=True):
    """One frame; clients mask (RFC 6455 5.3), servers do not."""
    head = bytes([(0x80 if fin else 0) | opcode])
    bit = 0x80 if masked else 0
    n = len(payload)
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + mask_bytes(payload, mask)


def mask_bytes(data, mask):
    """XOR with the 4-byte mask, repeated (fast enough for megabytes: one big-int XOR)."""
    if not data:
        return b""
    key = (mask * (len(data) // 4 + 1))[:len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(len(data), "big")


class Frames:
    """Reads frames from a socket; bytes that came before (behind a head) are given first."""

    def __init__(self, sock, pending=b""):
        self.sock = sock
        self.buf = bytearray(pending)

    def _need(self, n):
        while len(self.buf) < n:
            data = self.sock.recv(1 << 20)
            if not data:
                raise EOFError
            self.buf += data

    def _take(self, n):
        self._need(n)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_frame(self):
        """(fin, opcode, payload), unmasked."""
        b0, b1 = self._take(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._take(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._take(8))[0]
        mask = self._take(4) if b1 & 0x80 else None
        payload = self._take(n)
        return bool(b0 & 0x80), b0 & 0x0F, mask_bytes(payload, mask) if mask else payload

    def read_message(self):
        """(opcode, payload) of the next message, fragments joined; control frames as they come."""
        fin, opcode, payload = self.read_frame()
        while not fin:
            fin, _, more = self.read_frame()
            payload += more
        return opcode, payload


def upgrade_request(path, key, host="t", extra=""):
    """A client's opening handshake (RFC 6455 4.1)."""
    return (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n{extra}\r\n").encode()


def read_head(sock, buf=b""):
    """(head up to the blank line, the bytes read behind it)."""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise EOFError(buf)
        buf += data
    end = buf.index(b"\r\n\r\n") + 4
    return buf[:end], buf[end:]


def header(head, name):
    for line in head.decode("latin-1").split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            return v.strip()
    return None


class WsOrigin:
    """One origin on 127.0.0.1:port (see the module doc)."""

    def __init__(self, rcvbuf=None):
        self.lock = threading.Lock()
        self.heads = []                 # every request head, as received
        self.read_total = 0             # /ws-stall: bytes read after release
        self.flood_sent = 0             # /ws-flood: bytes the socket took
        self.stall_done = threading.Event()
        self.released = threading.Event()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if rcvbuf:                      # inherited by accepted sockets: small kernel buffers
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, rcvbuf)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.closed = True
        self.released.set()
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.close()
                except OSError:
                    pass

    def release(self):
        self.released.set()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            rest = b""
            while True:
                head, rest = read_head(c, rest)
                with self.lock:
                    self.heads.append(head)
                path = urlsplit(head.split(b" ")[1].decode()).path
                if not path.startswith("/ws") or path == "/ws-refuse":
                    self._plain(c, head, path)
                    continue
                self._switch(c, head, path, rest)
                return
        except (EOFError, OSError):
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    @staticmethod
    def _plain(c, head, path):
        status, body = (b"403 Forbidden", b"no websocket here") if path == "/ws-refuse" \
            else (b"200 OK", head)
        c.sendall(b"HTTP/1.1 %s\r\nContent-Length: %d\r\n\r\n%s" % (status, len(body), body))

    def _switch(self, c, head, path, rest):
        key = header(head, "sec-websocket-key") or "none"
        proto = b"h2c" if path == "/ws-bad" else b"websocket"
        out = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: %s\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Accept: %s\r\n\r\n" % (proto, accept_key(key).encode()))
        if path == "/ws-push":
            out += frame(TEXT, b"hello")
        c.sendall(out)
        query = parse_qs(urlsplit(head.split(b" ")[1].decode()).query)
        if path == "/ws-tick":
            for i in range(10):
                time.sleep(0.2)
                c.sendall(frame(TEXT, b"tick %d" % i))
        elif path == "/ws-stall":
            self._stall(c, rest)
        elif path == "/ws-flood":
            self._flood(c, int(query["n"][0]))
        elif path in ("/ws", "/ws-push"):
            self._echo(c, Frames(c, rest))

    def _echo(self, c, frames):
        while True:
            try:
                opcode, payload = frames.read_message()
            except EOFError:
                c.sendall(frame(TEXT, b"eof"))
                return
            if opcode == CLOSE:
                c.sendall(frame(CLOSE, payload))
                return
            c.sendall(frame(PONG if opcode == PING else opcode, payload))

    def _stall(self, c, rest):
        self.released.wait(30)
        total = len(rest)
        while data := c.recv(1 << 20):
            total += len(data)
        with self.lock:
            self.read_total = total
        self.stall_done.set()

    def _flood(self, c, n):
        head = frame(BINARY, b"")[:1] + bytes([127]) + struct.pack("!Q", n)
        c.sendall(head)
        block = bytes(range(256)) * 257     # byte i of the payload is i % 256
        sent = 0
        while sent < n:
            start = sent % 256
            sent += c.send(block[start:start + min(65536, n - sent)])
            with self.lock:
                self.flood_sent = sent
