"""A test origin that misbehaves on command, for the proxy end-to-end tests.

Plain sockets (no http.server) so that it can send exactly the bytes a test names, ambiguous
ones included. Every request is parsed strictly enough for the tests (Content-Length or chunked
bodies), recorded raw, and answered according to its path:

  /conn            200, body = "NAME conn=N" (N numbers this origin's connections from 1)
  /echo            200, body = the request body (decoded if chunked)
  /headers         200, body = the request head as received
  /chunked         200, chunked body "hello chunked world"
  /chunked-tab     200, chunked body "hello", sent under "Transfer-Encoding:<HTAB>chunked<HTAB>"
  /close           200 without a length: the body ends when the origin closes
  /big?n=N         200, N bytes of body, Content-Length
  /204cl, /304cl   204 / 304 carrying a Content-Length: 5 (and no body)
  /continue        "100 Continue" first, then 200 with the body echoed
  /hang            no answer at all (the connection stays open)
  /close-now       the connection is closed without an answer
  /close-mid       a head promising 100 bytes, 10 of them, then close
  /drop-next       200; the next request on this connection gets a close instead of an answer
                   (as if the origin had closed the idle connection a moment earlier)
  /delay?ms=N      200 after N milliseconds
  /bad/NAME        one of BAD_RESPONSES, byte for byte, then close
  anything else    404
A HEAD request gets the head of what a GET would get.
"""
import socket
import threading
import time
from urllib.parse import parse_qs, urlsplit

BAD_RESPONSES = {
    "dup-cl": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "cl-te": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"0\r\n\r\n",
    "te-gzip": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nhello",
    "te-chunked-gzip": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"
                       b"5\r\nhello\r\n0\r\n\r\n",
    "bare-lf": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\nhello",
    "fold": b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 5\r\n\r\nhello",
    "bad-cl": b"HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello",
    "http2": b"HTTP/2.0 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    "garbage": b"this is not http\r\n\r\n",
    "101": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n",
}


class Request:
    def __init__(self, head, body):
        self.head = head                    # bytes, up to and including the blank line
        lines = head.decode("latin-1").split("\r\n")
        self.method, self.target, self.version = lines[0].split(" ", 2)
        self.headers = [tuple(x.strip() for x in l.split(":", 1)) for l in lines[1:] if l]
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


class HeadOnly:
    """A socket for answering HEAD: what would follow the head is not sent."""

    def __init__(self, c):
        self.c = c
        self.head_done = False

    def sendall(self, data):
        if not self.head_done:
            end = data.find(b"\r\n\r\n")
            self.head_done = end >= 0
            self.c.sendall(data[:end + 4] if end >= 0 else data)

    def recv(self, n):
        return self.c.recv(n)


class BadOrigin:
    """One origin on 127.0.0.1:port; name tags its /conn answers."""

    def __init__(self, name="origin", port=0):
        self.name = name
        self.lock = threading.Lock()
        self.connections = 0
        self.requests = []                  # Request objects, in arrival order
        self.raw = bytearray()              # every byte received
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        """Stops it as a process exit would: the port refuses, open connections are closed.
        shutdown() first: close() alone wakes no thread blocked in accept() or recv(), and the
        kernel keeps such a socket open (and accepting) until that call returns."""
        self.closed = True
        with self.lock:
            socks = [self.sock] + self.conns
        for c in socks:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def seen(self):
        with self.lock:
            return bytes(self.raw)

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                n = self.connections
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c, n), daemon=True).start()

    # ---- reading requests ----
    def _recv(self, c, buf):
        data = c.recv(65536)
        if not data:
            raise EOFError
        with self.lock:
            self.raw += data
        buf += data

    def _read_request(self, c, buf):
        while b"\r\n\r\n" not in buf:
            self._recv(c, buf)
        end = buf.index(b"\r\n\r\n") + 4
        head = bytes(buf[:end])
        del buf[:end]
        req = Request(head, b"")
        if (req.header("transfer-encoding") or "").lower() == "chunked":
            req.body = self._read_chunked(c, buf)
        else:
            n = int(req.header("content-length") or 0)
            if req.header("expect") and req.target == "/continue":
                c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            while len(buf) < n:
                self._recv(c, buf)
            req.body = bytes(buf[:n])
            del buf[:n]
        return req

    def _read_chunked(self, c, buf):
        body = b""
        while True:
            while b"\r\n" not in buf:
                self._recv(c, buf)
            line_end = buf.index(b"\r\n")
            size = int(bytes(buf[:line_end]).split(b";")[0], 16)
            del buf[:line_end + 2]
            if size == 0:
                while b"\r\n" not in buf:
                    self._recv(c, buf)
                while not buf.startswith(b"\r\n"):      # trailers
                    del buf[:buf.index(b"\r\n") + 2]
                    while b"\r\n" not in buf:
                        self._recv(c, buf)
                del buf[:2]
                return body
            while len(buf) < size + 2:
                self._recv(c, buf)
            body += bytes(buf[:size])
            del buf[:size + 2]

    # ---- answering ----
    def _serve(self, c, n):
        buf = bytearray()
        drop_next = False
        try:
            while True:
                req = self._read_request(c, buf)
                with self.lock:
                    self.requests.append(req)
                if drop_next:
                    return
                more = self._answer(HeadOnly(c) if req.method == "HEAD" else c, n, req)
                if more is None:
                    return
                drop_next = more == "drop-next"
        except (EOFError, OSError, ValueError):
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    @staticmethod
    def _ok(c, body, extra=b""):
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body))

    def _answer(self, c, n, req):
        """Sends the answer; returns None to close, "drop-next", or True to keep going."""
        url = urlsplit(req.target)
        path, query = url.path, parse_qs(url.query)
        if path == "/conn":
            self._ok(c, f"{self.name} conn={n}".encode())
        elif path == "/echo":
            self._ok(c, req.body)
        elif path == "/continue":
            self._ok(c, req.body)
        elif path == "/headers":
            self._ok(c, req.head)
        elif path == "/chunked":
            c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"6\r\nhello \r\n8\r\nchunked \r\n5\r\nworld\r\n0\r\n\r\n")
        elif path == "/chunked-tab":
            c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding:\tchunked\t\r\n\r\n"
                      b"5\r\nhello\r\n0\r\n\r\n")
        elif path == "/close":
            c.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
            return None
        elif path == "/big":
            size = int(query.get("n", ["1048576"])[0])
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
            block = b"x" * 65536
            while size > 0:
                c.sendall(block[:min(size, len(block))])
                size -= min(size, len(block))
        elif path == "/204cl":
            c.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n")
        elif path == "/304cl":
            c.sendall(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n")
        elif path == "/hang":
            while c.recv(65536):
                pass
            return None
        elif path == "/close-now":
            return None
        elif path == "/close-mid":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
            return None
        elif path == "/drop-next":
            self._ok(c, b"ok")
            return "drop-next"
        elif path == "/delay":
            time.sleep(int(query.get("ms", ["100"])[0]) / 1000)
            self._ok(c, b"late")
        elif path.startswith("/bad/"):
            c.sendall(BAD_RESPONSES[path[5:]])
            return None
        else:
            c.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        return True
