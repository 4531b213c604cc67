"""End-to-end harness: the real gaapd binary on loopback, a test origin, and a TC3 client.

Everything binds 127.0.0.1 on ports the kernel picks; every wait is bounded.
The TC3 signer here is written from the spec (tencent-api.md 1.2), independently of the C code,
so the two check each other.
"""
import hashlib
import hmac
import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GAAPD = os.environ.get("GAAPD", "../../build/gaapd")
GAAPCTL = os.environ.get("GAAPCTL", "../../build/gaapctl")
SECRET_ID = "AKIDE2ETESTKEY000000000000000000"
SECRET_KEY = "e2etestsecretkey0123456789abcdef"
PROXY = "link-cuxw2rm0"
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
LISTENER_ID = re.compile(r"^listener-[0-9a-z]{8}$")


def _port_window():
    """Ports for listeners come from below the kernel's ephemeral range: a port the kernel handed
    out as "free" may become some connection's local port a moment later, which would make the
    create that wanted it fail. Each test process walks its own stretch of the window."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    base, size = 10000, max(1000, low - 10000)
    start = random.Random(os.getpid() ^ time.time_ns()).randrange(size)
    return base, size, start


_window = None


def free_port():
    """A loopback port that is free now, not in the ephemeral range, not handed out before here."""
    global _window
    if _window is None:
        _window = list(_port_window())
    base, size, _ = _window
    for _ in range(size):
        port = base + _window[2]
        _window[2] = (_window[2] + 1) % size
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port below the ephemeral range")


def sign_tc3(secret_key, secret_id, action, body, host, timestamp, service="gaap",
             content_type="application/json", method="POST", query=""):
    """Headers for a TC3-HMAC-SHA256 request, computed from the spec."""
    date = datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d")
    payload = hashlib.sha256(body).hexdigest()
    canonical = "\n".join([method, "/", query, f"content-type:{content_type}\nhost:{host}\n",
                           "content-type;host", payload])
    scope = f"{date}/{service}/tc3_request"
    to_sign = "\n".join(["TC3-HMAC-SHA256", str(timestamp), scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])

    def h(key, msg):
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()
    k = h(h(h(("TC3" + secret_key).encode(), date), service), "tc3_request")
    sig = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        "Authorization": f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, "
                         f"SignedHeaders=content-type;host, Signature={sig}",
        "Content-Type": content_type, "X-TC-Action": action, "X-TC-Version": "2018-05-29",
        "X-TC-Timestamp": str(timestamp),
    }


class Origin:
    """An HTTP/1.1 origin that echoes each request as JSON and numbers its connections."""

    def __init__(self):
        origin = self
        self.connections = 0
        self.requests = []
        self.lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                # the head and the body go out in two writes: without this, Nagle holds the
                # body until gaapd's delayed ACK (40 ms a request on a kept connection)
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with origin.lock:
                    origin.connections += 1

            def log_message(self, *args):
                pass

            def _body(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b""):
                                pass
                            return data
                        data += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def _answer(self):
                body = self._body()
                seen = {"method": self.command, "path": self.path, "body": body.decode("latin-1"),
                        "headers": {k.lower(): v for k, v in self.headers.items()}}
                with origin.lock:
                    origin.requests.append(seen)
                if self.path.startswith("/chunked"):
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for part in (b"hello ", b"chunked ", b"world"):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.write(b"0\r\n\r\n")
                    return
                out = json.dumps(seen).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class HeldOrigin:
    """An origin that reads one request, says it arrived, and answers only once released: a
    request in flight on command (deletes and shutdowns must let it finish)."""

    BODY = b"slow and complete"

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            self.arrived.set()
            self.release.wait(20)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(self.BODY), self.BODY))

    def close(self):
        self.release.set()
        self.sock.close()


def yaml_config(control_port=0, state_dir="state", credentials="credentials", auth="signature",
                proxies=None, groups=None, extra_control="", workers=2, log_level="info",
                rate_limit=1000000, log_file=None, log_rate_burst=None, state_compact_bytes=None,
                max_real_servers=None):
    proxies = proxies if proxies is not None else [
        {"id": PROXY, "status": "RUNNING", "max_listeners": 50, "origins": ["127.0.0.1:1"]}]
    lines = ["node:", f"  workers: {workers}", f"  state_dir: {state_dir}",
             f"  log_level: {log_level}"] + ([f"  log_file: {log_file}"] if log_file else []) + (
             [f"  log_rate_burst: {log_rate_burst}"] if log_rate_burst is not None else []) + (
             [f"  state_compact_bytes: {state_compact_bytes}"] if state_compact_bytes else []) + (
             [f"  max_real_servers: {max_real_servers}"] if max_real_servers else []) + [
             "control:",
             f"  listen: 127.0.0.1:{control_port}", f"  auth: {auth}",
             f"  credentials_file: {credentials}", f"  rate_limit: {rate_limit}"]
    lines += ["  " + l for l in extra_control.splitlines() if l]
    lines.append("proxies:" if proxies else "proxies: []")
    for p in proxies:
        lines.append(f"  - id: {p['id']}")
        for key in ("status", "bind", "max_listeners"):
            if key in p:
                lines.append(f"    {key}: {p[key]}")
        lines.append("    origins: [" + ", ".join(p["origins"]) + "]")
    if groups:
        lines.append("groups:")
        for g in groups:
            lines.append(f"  - id: {g['id']}")
            lines.append("    proxies: [" + ", ".join(g["proxies"]) + "]")
    return "\n".join(lines) + "\n"


class Gaapd:
    """One gaapd process with its own directory (config, credentials, state, log)."""

    def __init__(self, config_text=None, directory=None, credentials=True, preexec_fn=None, **kw):
        self.tmp = None if directory else tempfile.TemporaryDirectory(prefix="gaapd-e2e-")
        self.dir = directory or self.tmp.name
        self.conf = os.path.join(self.dir, "gaapd.yaml")
        with open(self.conf, "w") as f:
            f.write(config_text if config_text is not None else yaml_config(**kw))
        cred_path = os.path.join(self.dir, "credentials")
        if credentials and not os.path.exists(cred_path):
            with open(cred_path, "w") as f:
                f.write(f"[default]\nsecret_id = {SECRET_ID}\nsecret_key = {SECRET_KEY}\n")
                if isinstance(credentials, str):
                    f.write(credentials)
            os.chmod(cred_path, 0o600)
        # gaapd's own log: its stderr, or node.log_file when the test sets one
        self.log_path = os.path.join(self.dir, kw.get("log_file") or "gaapd.log")
        self.preexec_fn = preexec_fn
        self.proc = None
        self.port = None

    def start(self, timeout=10):
        self.log = open(self.log_path, "ab")
        self.log_from = self.log.tell()     # a restart appends: read only this run's lines
        self.proc = subprocess.Popen([GAAPD, "-c", self.conf], stdout=self.log, stderr=self.log,
                                     preexec_fn=self.preexec_fn)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(r"gaapd started .* port=(\d+)", self.log_text()[self.log_from:])
            if m:
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None:
                raise AssertionError(f"gaapd exited {self.proc.returncode}:\n{self.log_text()}")
            time.sleep(0.02)
        self.kill()
        raise AssertionError("gaapd did not start:\n" + self.log_text())

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("latin-1")

    def stop(self, timeout=20):
        """SIGTERM, expect exit 0 (under ASan: no leaks)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("gaapd did not stop on SIGTERM:\n" + self.log_text())
        self.log.close()
        if rc != 0:
            raise AssertionError(f"gaapd exited {rc}:\n{self.log_text()}")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc:
            self.log.close()

    def cleanup(self):
        self.kill()
        if self.tmp:
            self.tmp.cleanup()

    def reload(self, outcome="reload ", timeout=10):
        """SIGHUP, then wait for one more log line containing outcome ("reload applied",
        "reload refused", or either); returns the log's last line."""
        before = self.log_text().count(outcome)
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while self.log_text().count(outcome) == before:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {outcome!r} logged after SIGHUP:\n{self.log_text()}")
            time.sleep(0.01)
        return self.log_text().splitlines()[-1]

    # --- the API ---
    def raw(self, method, body=b"", headers=None, target="/"):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, target, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, r.getheader("Content-Type"), r.read()
        finally:
            conn.close()

    def call(self, action, params, secret_id=SECRET_ID, secret_key=SECRET_KEY, timestamp=None,
             service="gaap", host_with_port=True, extra_headers=None, body=None):
        """A signed POST JSON call; returns the "Response" object after checking the envelope."""
        body = body if body is not None else json.dumps(params).encode()
        host = f"127.0.0.1:{self.port}"
        headers = sign_tc3(secret_key, secret_id, action, body,
                           host if host_with_port else "127.0.0.1",
                           timestamp if timestamp is not None else int(time.time()), service)
        headers["Host"] = host
        headers.update(extra_headers or {})
        status, ctype, data = self.raw("POST", body, headers)
        return check_envelope(status, ctype, data)

    def pipeline(self, calls):
        """Send signed (action, params) calls in one write on one connection; the answers in order."""
        host = f"127.0.0.1:{self.port}"
        requests = []
        for action, params in calls:
            body = json.dumps(params).encode()
            h = sign_tc3(SECRET_KEY, SECRET_ID, action, body, host, int(time.time()))
            h["Host"] = host
            requests.append(raw_request("POST", "/", body, h))
        return send_batch(self.port, requests)

    def create(self, port, name="listener-1", proxy=PROXY, **kw):
        params = {"ListenerName": name, "Port": port}
        if proxy is not None:
            params["ProxyId"] = proxy
        return self.call("CreateHTTPListener", params, **kw)


def dump_state(gaapd):
    """gaapd --dump-state of this gaapd's configuration (read-only, safe while it runs): the
    state store as {"seq": N, "records": [{"kind", "id", "fields"}, ...]}."""
    out = subprocess.run([GAAPD, "--dump-state", "-c", gaapd.conf], capture_output=True,
                         timeout=60)
    if out.returncode != 0:
        raise AssertionError(f"gaapd --dump-state exited {out.returncode}: {out.stderr!r}")
    return json.loads(out.stdout)


def fail_file_writes(gaapd):
    """From now on every write gaapd makes to a file fails with EFBIG: RLIMIT_FSIZE of one byte
    (gaapd ignores SIGXFSZ), so its state store's next write fails as an unexpected error. Its
    log lines are lost meanwhile. Returns the function that lifts the limit again."""
    import resource
    soft, hard = resource.prlimit(gaapd.proc.pid, resource.RLIMIT_FSIZE)
    resource.prlimit(gaapd.proc.pid, resource.RLIMIT_FSIZE, (1, hard))
    return lambda: resource.prlimit(gaapd.proc.pid, resource.RLIMIT_FSIZE, (soft, hard))


def check_envelope(status, ctype, data):
    assert status == 200, (status, data)
    assert ctype == "application/json", ctype
    doc = json.loads(data)
    assert list(doc) == ["Response"], doc
    resp = doc["Response"]
    assert UUID4.match(resp["RequestId"]), resp
    return resp


def error_code(resp):
    return resp.get("Error", {}).get("Code")


def http_get(port, path="/", method="GET", body=None, headers=None, timeout=10, chunked=False):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def port_accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


class GaapdTest(unittest.TestCase):
    """Starts an origin and gaapd per test; checks a clean SIGTERM exit and no error lines."""
    config = {}
    allowed_errors = ()

    def setUp(self):
        self.origin = Origin()
        self.addCleanup(self.origin.close)
        kw = dict(self.config)
        kw.setdefault("proxies", [{"id": PROXY, "status": "RUNNING", "max_listeners": 50,
                                   "origins": [f"127.0.0.1:{self.origin.port}"]}])
        self.gaapd = Gaapd(**kw)
        self.addCleanup(self.gaapd.cleanup)
        self.gaapd.start()

    def tearDown(self):
        if self.gaapd.proc.poll() is None:
            self.gaapd.stop()
        errors = [l for l in self.gaapd.log_text().splitlines()
                  if l.startswith("<3>") and not any(a in l for a in self.allowed_errors)]
        self.assertEqual(errors, [], "unexpected error lines in the gaapd log")

    def assertCode(self, resp, code):
        self.assertEqual(error_code(resp), code, resp)


# --- Legacy v1 signatures (tencent-api.md 1.3) and raw request batches, added for test_wire.py.
# Written from the spec, like sign_tc3 above, so that they check the C code rather than mirror it.
import base64  # noqa: E402
import urllib.parse  # noqa: E402

API_VERSION = "2018-05-29"


def flatten_params(params, prefix=""):
    """Nested params as the SDKs send them in GET and form style (spec 1.1): lists become
    `Name.0=…`, objects `Name.Key=…`; every value a string."""
    out = {}
    items = params.items() if isinstance(params, dict) else enumerate(params)
    for key, value in items:
        name = f"{prefix}{key}"
        if isinstance(value, (dict, list, tuple)):
            out.update(flatten_params(value, name + "."))
        else:
            out[name] = str(value)
    return out


def sign_v1(secret_key, method, host, params, sig_method="HmacSHA1"):
    """base64 HMAC over METHOD + host + "/?" + the raw params sorted by key, Signature left out."""
    text = method + host + "/?" + "&".join(
        f"{k}={params[k]}" for k in sorted(params, key=lambda k: k.encode()) if k != "Signature")
    digest = hashlib.sha256 if sig_method == "HmacSHA256" else hashlib.sha1
    mac = hmac.new(secret_key.encode(), text.encode(), digest).digest()
    return base64.b64encode(mac).decode()


def v1_params(action, params, host, method="GET", secret_id=SECRET_ID, secret_key=SECRET_KEY,
              timestamp=None, nonce=None, sig_method="HmacSHA1", extra=None, omit=()):
    """Every param of a signed v1 call: the common ones, the flattened business ones, extra (signed
    too), minus omit, then Signature."""
    p = {"Action": action, "Version": API_VERSION, "SecretId": secret_id,
         "Timestamp": str(int(time.time()) if timestamp is None else timestamp),
         "Nonce": str(nonce if nonce is not None else random.randint(1, 2**31 - 1)),
         "SignatureMethod": sig_method}
    p.update(flatten_params(params))
    p.update(extra or {})
    for k in omit:
        p.pop(k, None)
    if "Signature" not in omit:
        p["Signature"] = sign_v1(secret_key, method, host, p, sig_method)
    return p


def v1_encode(params):
    """The wire form the doc asks for: every key and value URL-encoded, upper-case hex."""
    return urllib.parse.urlencode(params, quote_via=urllib.parse.quote)


def v1_request(action, params, host, method="GET", **kw):
    """(method, target, body, headers) of a signed v1 call: GET query or POST form."""
    wire = v1_encode(v1_params(action, params, host, method=method, **kw))
    if method == "GET":
        return "GET", "/?" + wire, b"", {"Host": host}
    return method, "/", wire.encode(), {"Host": host,
                                        "Content-Type": "application/x-www-form-urlencoded"}


def call_v1(gaapd, action, params, method="GET", **kw):
    """A signed v1 call to gaapd; the "Response" object after checking the envelope."""
    method, target, body, headers = v1_request(action, params, f"127.0.0.1:{gaapd.port}",
                                               method=method, **kw)
    status, ctype, data = gaapd.raw(method, body, headers, target=target)
    return check_envelope(status, ctype, data)


def raw_request(method, target, body=b"", headers=None):
    """HTTP/1.1 request bytes with a Content-Length, headers in the order given."""
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    return head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def send_batch(port, requests, source=None):
    """Send raw requests in one write on one connection (from the source address, if given) and
    return each answer's envelope, in order."""
    with socket.create_connection(("127.0.0.1", port), timeout=10,
                                  source_address=(source, 0) if source else None) as s:
        s.sendall(b"".join(requests))
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    answers = []
    while data:
        head, rest = data.split(b"\r\n\r\n", 1)
        length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
        ctype = re.search(rb"Content-Type: ([^\r]*)", head).group(1).decode()
        answers.append(check_envelope(int(head.split()[1]), ctype, rest[:length]))
        data = rest[length:]
    return answers
