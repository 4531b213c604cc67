"""Real etcd for end-to-end tests: Debian's etcd-server on 127.0.0.1, one member or a cluster.

Each member gets free ports of its own (harness.free_port()) and a data directory under a
temporary one; every wait is bounded; members are stopped by PID (SIGTERM, then SIGKILL: stop(),
or leaving the `with`), and die with the test process if it dies first (PR_SET_PDEATHSIG).
ETCD_BIN overrides the binary ("etcd").
"""
import base64
import ctypes
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

from harness import free_port

ETCD_BIN = os.environ.get("ETCD_BIN", "etcd")
READY_S = 20
STOP_S = 5


def _die_with_parent():
    """In the child before exec: SIGKILL when the process that started it exits."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _b64(s):
    return base64.b64encode(s.encode()).decode()


class Member:
    def __init__(self, cluster, name):
        self.cluster, self.name = cluster, name
        self.client_port, self.peer_port = free_port(), free_port()
        self.url = "http://127.0.0.1:%d" % self.client_port
        self.peer_url = "http://127.0.0.1:%d" % self.peer_port
        self.proc = None

    def start(self):
        log = open(os.path.join(self.cluster.dir, self.name + ".log"), "ab")
        # Short heartbeats and elections: a cluster that lost its leader recovers in a second.
        self.proc = subprocess.Popen([
            ETCD_BIN, "--name", self.name,
            "--data-dir", os.path.join(self.cluster.dir, self.name + ".etcd"),
            "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
            "--listen-peer-urls", self.peer_url, "--initial-advertise-peer-urls", self.peer_url,
            "--initial-cluster", self.cluster.initial, "--initial-cluster-state", "new",
            "--initial-cluster-token", self.cluster.dir, "--heartbeat-interval", "50",
            "--election-timeout", "500", "--logger", "zap", "--log-outputs", "stderr"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        log.close()

    def healthy(self):
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                return json.load(r).get("health") == "true"
        except (OSError, ValueError):
            return False

    def wait_ready(self, deadline):
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("etcd %s exited with %s: see %s" % (
                    self.name, self.proc.returncode, self.cluster.dir))
            if self.healthy():
                return
            time.sleep(0.05)
        raise RuntimeError("etcd %s: not healthy within %d s" % (self.name, READY_S))

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(STOP_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(STOP_S)
        self.proc = None

    def restart(self):
        """Start again on the same data directory and ports; wait until healthy."""
        self.start()
        self.wait_ready(time.monotonic() + READY_S)

    def call(self, path, body, timeout=5):
        """POST a gateway call (keys and values as str, base64'd here); the answer's JSON."""
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.load(r)

    def put(self, key, value):
        return int(self.call("/v3/kv/put", {"key": _b64(key), "value": _b64(value)})
                   ["header"]["revision"])

    def get(self, key):
        kvs = self.call("/v3/kv/range", {"key": _b64(key)}).get("kvs", [])
        return base64.b64decode(kvs[0]["value"]).decode() if kvs else None


class Cluster:
    """n members (1 or 3) started together; the endpoints to give gaapd in `endpoints`."""

    def __init__(self, n=1):
        self.dir = tempfile.mkdtemp(prefix="gaapd-etcd-")
        self.members = [Member(self, "m%d" % i) for i in range(n)]
        self.initial = ",".join("%s=%s" % (m.name, m.peer_url) for m in self.members)
        self.endpoints = [m.url for m in self.members]

    def start(self):
        try:
            for m in self.members:
                m.start()
            deadline = time.monotonic() + READY_S
            for m in self.members:
                m.wait_ready(deadline)
        except Exception:
            self.stop()
            raise
        return self

    def leader(self):
        """The member that is the leader now, or None."""
        for m in self.members:
            if m.proc is None:
                continue
            try:
                st = m.call("/v3/maintenance/status", {}, timeout=1)
            except OSError:
                continue
            if st.get("leader") == st["header"]["member_id"]:
                return m
        return None

    def stop(self):
        for m in self.members:
            m.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
