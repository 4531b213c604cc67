"""A local fleet for end-to-end tests and bench/fleet.py: real etcd (tests/e2e/etcd.py), three
gaapd nodes A, B, C with control and the proxy's bind on 127.0.0.1, .2 and .3, one origin.

Every node shares one prefix (unique per fleet) and has its own state_dir (its local cache).
A node may reach etcd through a Relay, a loopback TCP forwarder the test can cut and restore, to
cut off that node alone. Every wait is bounded; processes are stopped by PID.
"""
import http.client
import json
import os
import re
import socket
import threading
import time
import urllib.request
import uuid

import etcd
from harness import (PROXY, SECRET_ID, SECRET_KEY, Gaapd, Origin, check_envelope, error_code,
                     sign_tc3)

ADDRS = {"a": "127.0.0.1", "b": "127.0.0.2", "c": "127.0.0.3"}
NOT_RUNNING = "FailedOperation.InstanceStatusNotInRuning"
DUPLICATED = "InvalidParameterValue.DuplicatedListenerPort"
LIMIT = "FailedOperation.LimitNumofListener"


def fleet_config(name, addr, endpoints, prefix, origin_port, max_listeners=100,
                 backend="etcd"):
    lines = ["node:", f"  name: node-{name}", "  workers: 2", "  state_dir: state",
             "  log_level: info",
             "control:", f"  listen: {addr}:0", "  auth: signature",
             "  credentials_file: credentials", "  rate_limit: 1000000"]
    if backend == "etcd":
        lines += ["store:", "  backend: etcd", "  etcd:",
                  "    endpoints: [" + ", ".join(endpoints) + "]",
                  f"    prefix: {prefix}", "    dial_timeout: 500"]
    lines += ["proxies:", f"  - id: {PROXY}", "    status: RUNNING", f"    bind: {addr}",
              f"    max_listeners: {max_listeners}", f"    origins: [127.0.0.1:{origin_port}]"]
    return "\n".join(lines) + "\n"


class Node(Gaapd):
    """A gaapd whose control listens on its own loopback address."""

    def __init__(self, name, addr, config_text):
        super().__init__(config_text=config_text)
        self.name, self.addr = name, addr

    def raw(self, method, body=b"", headers=None, target="/", timeout=10):
        conn = http.client.HTTPConnection(self.addr, self.port, timeout=timeout)
        try:
            conn.request(method, target, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, r.getheader("Content-Type"), r.read()
        finally:
            conn.close()

    def call(self, action, params, timeout=10):
        body = json.dumps(params).encode()
        host = f"{self.addr}:{self.port}"
        headers = sign_tc3(SECRET_KEY, SECRET_ID, action, body, host, int(time.time()))
        headers["Host"] = host
        return check_envelope(*self.raw("POST", body, headers, timeout=timeout))

    def create(self, port, name="l", timeout=10):
        return self.call("CreateHTTPListener", {"ListenerName": name, "Port": port,
                                                "ProxyId": PROXY}, timeout=timeout)

    def delete(self, ids):
        return self.call("DeleteListeners", {"ProxyId": PROXY, "ListenerIds": ids, "Force": 1})

    def listeners(self):
        """Every HTTP listener this node describes: {id: {"Port", "ListenerStatus", ...}}."""
        out, offset = {}, 0
        while True:
            r = self.call("DescribeHTTPListeners", {"ProxyId": PROXY, "Offset": offset,
                                                    "Limit": 100})
            assert "Error" not in r, r
            for l in r["ListenerSet"]:
                out[l["ListenerId"]] = l
            offset += len(r["ListenerSet"])
            if not r["ListenerSet"] or offset >= r["TotalCount"]:
                return out

    def metrics(self):
        status, _, body = self.raw("GET", target="/metrics")
        assert status == 200, status
        return {m.group(1): float(m.group(2)) for m in
                re.finditer(r"^(gaapd_store_etcd_\w+) ([0-9.e+-]+)$", body.decode(), re.M)}

    def get(self, port, path="/", timeout=2):
        """The status of a GET through this node's bind address, or None: nothing listens."""
        try:
            conn = http.client.HTTPConnection(self.addr, port, timeout=timeout)
            try:
                conn.request("GET", path)
                r = conn.getresponse()
                r.read()
                return r.status
            finally:
                conn.close()
        except OSError:
            return None

    def accepts(self, port):
        try:
            socket.create_connection((self.addr, port), timeout=1).close()
            return True
        except OSError:
            return False

    def errors(self, allowed=()):
        return [l for l in self.log_text().splitlines()
                if l.startswith("<3>") and not any(a in l for a in allowed)]


class Relay:
    """127.0.0.1:port -> target: forwards while open; cut() drops every connection and refuses
    new ones until restore()."""

    def __init__(self, target_port):
        self.target = ("127.0.0.1", target_port)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.open, self.conns, self.lock = True, [], threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            if not self.open:
                c.close()
                continue
            try:
                u = socket.create_connection(self.target, timeout=2)
            except OSError:
                c.close()
                continue
            u.settimeout(None)
            with self.lock:
                self.conns += [c, u]
            threading.Thread(target=self._pump, args=(c, u), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        self.open = False
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def restore(self):
        self.open = True

    def close(self):
        self.cut()
        self.sock.close()


def wait_for(what, fn, timeout=10, step=0.02):
    """fn() until truthy (its value returned) or the deadline (AssertionError naming what)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except (OSError, AssertionError) as e:
            last = e
        else:
            if last:
                return last
        time.sleep(step)
    raise AssertionError(f"{what}: not within {timeout} s (last: {last!r})")


class Fleet:
    """etcd (members) + origin + nodes a, b, c. relay_for: names of nodes that reach etcd
    through a Relay of their own (1 member only)."""

    def __init__(self, members=1, max_listeners=100, names="abc", relay_for=(),
                 backend="etcd"):
        self.cluster = etcd.Cluster(members) if backend == "etcd" else None
        self.max_listeners, self.names, self.backend = max_listeners, names, backend
        self.relay_for = relay_for
        self.prefix = "/gaapd-e2e-" + uuid.uuid4().hex[:12]
        self.relays, self.nodes, self.origin = {}, {}, None

    def start(self):
        try:
            if self.cluster:
                self.cluster.start()
            self.origin = Origin()
            for n in self.names:
                endpoints = self.cluster.endpoints if self.cluster else []
                if n in self.relay_for:
                    self.relays[n] = Relay(self.cluster.members[0].client_port)
                    endpoints = [self.relays[n].url]
                node = Node(n, ADDRS[n], fleet_config(n, ADDRS[n], endpoints, self.prefix,
                                                      self.origin.port, self.max_listeners,
                                                      self.backend))
                self.nodes[n] = node
                node.start()
            if self.cluster:
                for node in self.nodes.values():
                    self.wait_connected(node)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_connected(self, node, timeout=15):
        wait_for(f"node {node.name} connected to etcd",
                 lambda: node.metrics().get("gaapd_store_etcd_connected") == 1, timeout)

    def __getitem__(self, name):
        return self.nodes[name]

    def etcd_call(self, path, body):
        for m in self.cluster.members:
            if m.proc is not None:
                try:
                    return m.call(path, body)
                except OSError:
                    continue
        raise AssertionError("no etcd member answers")

    def etcd_get(self, key):
        for m in self.cluster.members:
            if m.proc is not None:
                return m.get(key)
        raise AssertionError("no etcd member runs")

    def compact(self):
        """Compact etcd at its current revision (physical): every older revision is gone."""
        rev = int(self.etcd_call("/v3/kv/range", {"key": etcd._b64("/")})["header"]["revision"])
        self.etcd_call("/v3/kv/compaction", {"revision": rev, "physical": True})
        return rev

    def stop(self):
        """Everything stopped by PID; a node that did not exit 0 on SIGTERM fails it, after."""
        failed = []
        for node in self.nodes.values():
            try:
                if node.proc is not None and node.proc.poll() is None:
                    node.stop()
            except AssertionError as e:
                failed.append(f"node {node.name}: {str(e)[-2000:]}")
            finally:
                node.cleanup()
        for r in self.relays.values():
            r.close()
        if self.origin:
            self.origin.close()
        if self.cluster:
            self.cluster.stop()
        self.nodes, self.relays, self.origin, self.cluster = {}, {}, None, None
        if failed:
            raise AssertionError("\n".join(failed))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def error_of(resp):
    return error_code(resp) or "OK"
