"""The daemons bench/run starts: the origin, gaapd, nginx and HAProxy.

Every daemon runs in the foreground as a child of bench/run, with its configuration, pid file,
logs and temporary files in its own directory under one temporary directory; nothing in /etc or
any system service is read or touched. Each is pinned with taskset and stopped by the PIDs this
script started (the nginx master, which takes its worker with it; then any of those PIDs left).

All proxies get the same timeouts (TIMEOUTS), one worker (thread or process), access logs off,
the same headers added towards the origin (X-Forwarded-For, X-Real-IP) and the same listen
backlog as gaapd (4096).
"""
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
import harness  # noqa: E402  (gaapd with a temporary config, signed API calls)
import routes  # noqa: E402  (workload g's table)

CLK_TCK = os.sysconf("SC_CLK_TCK")
SMALL_BODY = b"gaapd bench: a small response body of sixty-four bytes.........\n"
assert len(SMALL_BODY) == 64
MIB = 1024 * 1024
BACKLOG = 4096

# Seconds; the same for every proxy (gaapd's http: keys, nginx's and HAProxy's equivalents).
TIMEOUTS = {
    "client_header": 60,        # a complete request head (gaapd client_header_timeout)
    "client_keepalive": 75,     # an idle keep-alive client connection (client_keepalive_timeout)
    "origin_connect": 5,        # connecting to the origin (origin_connect_timeout)
    "origin_response": 60,      # the origin silent (origin_response_timeout), a peer not reading
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def taskset(cpu, argv):
    return argv if cpu is None else ["taskset", "-c", str(cpu)] + argv


def pin_self(cpu):
    """preexec_fn pinning a child to cpu (what taskset does), for children started elsewhere."""
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def children(pid):
    """PIDs whose parent is pid."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(entry))
    return out


def start_time(pid):
    """When pid started (clock ticks since boot): with the PID, names one process for good."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def cpu_ticks(pid):
    """(utime, stime) of a whole process (every thread), in clock ticks: user space and the
    kernel working for it; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]), int(fields[12])


def status_kib(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def reset_peak_rss(pid):
    """VmHWM := the current VmRSS (clear_refs 5, Linux >= 4.0); False when refused."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def wait_port(port, proc=None, timeout=10, what="daemon", log=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited {proc.returncode}" + tail(log))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"{what} not listening on {port} after {timeout} s" + tail(log))


def tail(path, lines=20):
    if not path or not os.path.exists(path):
        return ""
    with open(path, "rb") as f:
        text = f.read().decode("latin-1").splitlines()[-lines:]
    return "\n" + "\n".join(text)


def check_get(port, path, length):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        body = r.read()
    if r.status != 200 or len(body) != length:
        raise RuntimeError(f"GET {path} on {port}: {r.status}, {len(body)} bytes, not {length}")


class Daemon:
    """One started daemon: its processes, CPU and memory accounting, and stopping by PID."""
    name = "?"
    label = "?"

    def __init__(self, workdir, cpu):
        self.dir = os.path.join(workdir, self.name)
        os.makedirs(self.dir, exist_ok=True)
        self.cpu = cpu
        self.proc = None
        self.port = None
        self.log = os.path.join(self.dir, "stderr.log")
        self.known = {}             # pid -> start time, of every process seen as ours
        self.prefix = []            # e.g. valgrind and its options (bench/profile)

    def spawn(self, argv):
        if self.prefix and argv[0] == "nginx":
            argv = argv + ["-g", "master_process off;"]    # one process to profile
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(taskset(self.cpu, self.prefix + argv),
                                         stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, cwd=self.dir)

    def pids(self):
        """The main process and its children (nginx: master and worker)."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        found = [self.proc.pid] + children(self.proc.pid)
        for pid in found:
            self.known.setdefault(pid, start_time(pid))
        return found

    def cpu_snapshot(self):
        return {pid: cpu_ticks(pid) for pid in self.pids()}

    @staticmethod
    def cpu_user_sys(before, after):
        """(user, kernel) CPU seconds of the processes between two cpu_snapshot()s."""
        user = kernel = 0
        for pid, t in after.items():
            if t is not None:
                u0, s0 = before.get(pid) or (0, 0)
                user += t[0] - u0
                kernel += t[1] - s0
        return user / CLK_TCK, kernel / CLK_TCK

    @staticmethod
    def cpu_seconds(before, after):
        return sum(Daemon.cpu_user_sys(before, after))

    def reset_peak(self):
        return all(reset_peak_rss(pid) for pid in self.pids())

    def peak_rss_kib(self):
        return sum(status_kib(pid, "VmHWM") for pid in self.pids())

    def rss_kib(self):
        return sum(status_kib(pid, "VmRSS") for pid in self.pids())

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.pids()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid, started in self.known.items():    # a worker its master left behind
            if pid != self.proc.pid and started is not None and start_time(pid) == started:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        self.proc = None


class NginxOrigin(Daemon):
    """The origin: nginx, one worker. /small answers 64 bytes (return 200), /1m is a 1 MiB static
    file (sendfile), POST /upload reads the whole body (up to 2 MiB, in memory) before it
    answers 200 "ok": the mirror module reads the body, the static handler refuses the POST with
    405, and error_page turns that into the 200. Every other path answers as /small (workload
    g's paths, bench/routes.py)."""
    name = "origin"
    label = "origin"

    def start(self):
        self.port = free_port()
        www = os.path.join(self.dir, "www")
        os.makedirs(www, exist_ok=True)
        with open(os.path.join(www, "1m"), "wb") as f:
            f.write(os.urandom(MIB))
        open(os.path.join(www, "upload"), "wb").close()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(nginx_prologue(self.dir) + f"""    sendfile on;
    keepalive_timeout 600s;
    keepalive_requests 100000000;
    server {{
        listen 127.0.0.1:{self.port} backlog={BACKLOG};
        root {www};
        location = /small {{ default_type text/plain; return 200 "{SMALL_BODY.decode().strip()}\\n"; }}
        location = /1m {{ default_type application/octet-stream; }}
        location = /upload {{
            client_max_body_size 2m;
            client_body_buffer_size 2m;
            mirror /sink;
            error_page 405 =200 @ok;
        }}
        location = /sink {{ internal; return 204; }}
        location @ok {{ default_type text/plain; return 200 "ok\\n"; }}
        location / {{ default_type text/plain; return 200 "{SMALL_BODY.decode().strip()}\\n"; }}
    }}
}}
""")
        self.spawn(["nginx", "-p", self.dir + "/", "-c", conf])
        wait_port(self.port, self.proc, what="origin nginx", log=self.log)
        check_get(self.port, "/small", len(SMALL_BODY))
        check_get(self.port, "/1m", MIB)
        return self


class PyOrigin(Daemon):
    """The smoke-mode origin: bench/origin.py (Python stdlib, asyncio), the same three paths."""
    name = "origin"
    label = "origin (python)"

    def start(self):
        self.port = free_port()
        self.spawn([sys.executable, os.path.join(HERE, "origin.py"), str(self.port)])
        wait_port(self.port, self.proc, what="origin.py", log=self.log)
        check_get(self.port, "/small", len(SMALL_BODY))
        return self


def nofile():
    """The RLIMIT_NOFILE the daemons inherit (bench/run raises it as far as it may)."""
    import resource
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def nginx_limits():
    """16384 connections (10,000 idle + wrk's + upstream ones, with room), within the limit."""
    n = nofile()
    return f"worker_rlimit_nofile {n};\nevents {{ worker_connections {min(16384, n - 100)}; }}"


def nginx_prologue(d):
    """What every nginx instance here shares: one worker in the foreground, its files under d,
    the descriptor limits, and the opening of an http block without access logs."""
    return f"""worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
{nginx_limits()}
http {{
    access_log off;
    {temp_paths(d)}
"""


def temp_paths(d):
    os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
    return " ".join(f"{k}_temp_path {d}/tmp/{k};" for k in
                    ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))


class GaapdTarget(Daemon):
    """gaapd, workers: 1, the same timeouts; one listener created with a signed
    CreateHTTPListener call (tests/e2e/harness.py), forwarding to the origin."""
    name = "gaapd"
    label = "gaapd"

    def __init__(self, workdir, cpu, binary, origin_port):
        super().__init__(workdir, cpu)
        self.binary = binary
        self.origin_port = origin_port
        self.g = None

    # http: keys newer than some gaapd builds; a build that does not know one runs without it
    # (bench/run says so), so the bench keeps working across the daemon's development.
    OPTIONAL_HTTP = ("client_send_timeout", "origin_keepalive", "origin_keepalive_timeout",
                     "max_body_size", "max_connections_per_listener",
                     "max_connections_per_worker", "access_log")

    def config(self, drop=()):
        t = {k: v * 1000 for k, v in TIMEOUTS.items()}
        http = {
            "client_header_timeout": t["client_header"],
            "client_keepalive_timeout": t["client_keepalive"],
            "origin_connect_timeout": t["origin_connect"],
            "origin_response_timeout": t["origin_response"],
            "client_send_timeout": t["origin_response"],       # nginx send_timeout
            "origin_keepalive": 64,                             # nginx upstream keepalive 64
            "origin_keepalive_timeout": t["client_keepalive"],  # nginx upstream keepalive_timeout
            "max_body_size": 0,                                 # nginx client_max_body_size 0
            "max_connections_per_listener": 0,                  # workload e: 10,000 and more
            "max_connections_per_worker": 1000000,
            "access_log": "off",
        }
        lines = "".join(f"  {k}: {v}\n" for k, v in http.items() if k not in drop)
        return f"""node:
  workers: 1
  state_dir: state
  log_level: info
control:
  listen: 127.0.0.1:0
  auth: signature
  credentials_file: credentials
  rate_limit: 1000000
http:
{lines}proxies:
  - id: {harness.PROXY}
    max_listeners: 10
    origins: [127.0.0.1:{self.origin_port}]
"""

    def checked_config(self):
        """The config this gaapd build accepts (gaapd -t), dropping optional keys it does not
        know; self.dropped lists them."""
        self.dropped = []
        path = os.path.join(self.dir, "check.yaml")
        for _ in range(len(self.OPTIONAL_HTTP) + 1):
            text = self.config(self.dropped)
            with open(path, "w") as f:
                f.write(text)
            p = subprocess.run([self.binary, "-t", "-c", path], capture_output=True, text=True)
            if p.returncode == 0:
                return text
            bad = [k for k in self.OPTIONAL_HTTP if f"http.{k}:" in p.stderr and k not in self.dropped]
            if not bad:
                raise RuntimeError(f"gaapd -t rejects the bench config: {p.stderr.strip()}")
            self.dropped.append(bad[0])
        raise RuntimeError("gaapd -t: no config accepted")

    def spawn_gaapd(self):
        """gaapd started (harness.Gaapd) with the checked config, under self.prefix if any."""
        harness.GAAPD = self.binary
        if self.prefix:             # harness runs one executable: a wrapper with the prefix
            harness.GAAPD = os.path.join(self.dir, "gaapd-wrapped")
            with open(harness.GAAPD, "w") as f:
                f.write("#!/bin/sh\nexec " + " ".join(f"'{a}'" for a in self.prefix) +
                        f" '{self.binary}' \"$@\"\n")
            os.chmod(harness.GAAPD, 0o755)
        self.g = harness.Gaapd(config_text=self.checked_config(), directory=self.dir,
                               preexec_fn=pin_self(self.cpu))
        self.g.start(timeout=60 if self.prefix else 10)
        self.proc = self.g.proc
        self.log = self.g.log_path

    def start(self):
        self.spawn_gaapd()
        self.port = free_port()
        resp = self.g.create(self.port, name="bench")
        if harness.error_code(resp):
            raise RuntimeError(f"CreateHTTPListener: {resp}")
        wait_port(self.port, self.proc, what="gaapd listener", log=self.log)
        check_get(self.port, "/small", len(SMALL_BODY))
        return self

    def stop(self):
        if self.g is not None:
            self.g.kill() if self.proc.poll() is not None else self.g.stop()
            self.g = None
        self.proc = None

    def errors(self):
        """gaapd's error and warning lines (<3>, <4>) so far."""
        return [l for l in harness.Gaapd.log_text(self.g).splitlines()
                if l.startswith(("<3>", "<4>"))] if self.g else []


class NginxProxy(Daemon):
    """nginx as the reverse proxy: worker_processes 1, an upstream with keepalive 64, access log
    off, bodies streamed both ways in memory (proxy_request_buffering off, no temp files), the
    Host header passed through as gaapd does."""
    name = "nginx"
    label = "nginx"

    def __init__(self, workdir, cpu, origin_port):
        super().__init__(workdir, cpu)
        self.origin_port = origin_port

    @staticmethod
    def location_body():
        """What every proxying location holds."""
        t = TIMEOUTS
        return f"""proxy_pass http://origin;
proxy_http_version 1.1;
proxy_set_header Connection "";
proxy_set_header Host $http_host;
proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
proxy_set_header X-Real-IP $remote_addr;
proxy_connect_timeout {t['origin_connect']}s;
proxy_read_timeout {t['origin_response']}s;
proxy_send_timeout {t['origin_response']}s;
proxy_request_buffering off;
proxy_max_temp_file_size 0;
"""

    def servers(self):
        """The server block(s): one, with `location /`."""
        inner = "".join("            " + l + "\n" for l in self.location_body().splitlines())
        return (f"    server {{\n        listen 127.0.0.1:{self.port} backlog={BACKLOG};\n"
                f"        location / {{\n{inner}        }}\n    }}\n")

    def start(self):
        self.port = free_port()
        t = TIMEOUTS
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(nginx_prologue(self.dir) + f"""    client_header_timeout {t['client_header']}s;
    client_body_timeout {t['origin_response']}s;
    send_timeout {t['origin_response']}s;
    keepalive_timeout {t['client_keepalive']}s;
    keepalive_requests 100000000;
    client_max_body_size 0;
    upstream origin {{
        server 127.0.0.1:{self.origin_port};
        keepalive 64;
        keepalive_requests 100000000;
        keepalive_timeout {t['client_keepalive']}s;
    }}
{self.servers()}}}
""")
        self.spawn(["nginx", "-p", self.dir + "/", "-c", conf])
        wait_port(self.port, self.proc, what="nginx", log=self.log)
        self.check()
        return self

    def check(self):
        check_get(self.port, "/small", len(SMALL_BODY))


class HAProxy(Daemon):
    """HAProxy: mode http, nbthread 1, http-reuse always, no logs, option forwardfor and
    X-Real-IP like gaapd; foreground (-db), one process.
    maxconn 30000, with no strict-limits so that it starts under a lower descriptor limit
    (HAProxy asks for 2 x maxconn descriptors; the bench opens about 10,100). Sized closer to
    what the bench needs, HAProxy counts the 10,000 idle clients as more than a quarter of its
    descriptors and stops keeping idle server connections (tune.pool-high-fd-ratio, 25 %): a
    connect() per request, a third of its throughput in workload e.
    """
    name = "haproxy"
    label = "HAProxy"

    def __init__(self, workdir, cpu, origin_port, maxconn=30000):
        super().__init__(workdir, cpu)
        self.origin_port = origin_port
        self.maxconn = maxconn

    def routing(self):
        """Frontend lines before default_backend: none for the one route."""
        return ""

    def start(self):
        self.port = free_port()
        t = TIMEOUTS
        conf = os.path.join(self.dir, "haproxy.cfg")
        with open(conf, "w") as f:
            f.write(f"""global
    nbthread 1
    maxconn {self.maxconn}
    no strict-limits
    pidfile {self.dir}/haproxy.pid

defaults
    mode http
    option http-keep-alive
    option forwardfor
    http-reuse always
    timeout http-request {t['client_header']}s
    timeout http-keep-alive {t['client_keepalive']}s
    timeout client {t['origin_response']}s
    timeout connect {t['origin_connect']}s
    timeout server {t['origin_response']}s

frontend bench
{self.binds()}    maxconn {self.maxconn}
    http-request set-header X-Real-IP %[src]
{self.routing()}    default_backend origin

backend origin
    server origin 127.0.0.1:{self.origin_port}
""")
        check = subprocess.run(["haproxy", "-c", "-q", "-f", conf], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError("haproxy -c: " + check.stdout + check.stderr)
        self.spawn(["haproxy", "-db", "-f", conf])
        wait_port(self.port, self.proc, what="haproxy", log=self.log)
        self.check()
        return self

    def check(self):
        check_get(self.port, "/small", len(SMALL_BODY))

    def binds(self):
        """The frontend's bind line(s)."""
        return f"    bind 127.0.0.1:{self.port} backlog {BACKLOG}\n"


class GaapdRoutes(GaapdTarget):
    """Workload g: a gaapd of its own (the one of a.-e. keeps one route, and its RSS figures
    stay those of one listener), the same configuration with the node's domain and rule limits
    raised; one listener, and on it ndomains domains x 10 rules, each rule bound to the
    origin, provisioned through the signed API over one kept connection (routes.provision());
    self.timings says how long that took."""
    label = "gaapd"

    def __init__(self, workdir, cpu, binary, origin_port, ndomains, depth=1):
        self.name = "gaapd-g"       # its directory; runs are recorded under "gaapd"
        super().__init__(workdir, cpu, binary, origin_port)
        self.name = "gaapd"
        self.ndomains = ndomains
        self.depth = depth          # API calls pipelined per write (1: one at a time)
        self.timings = None

    say = None                      # a progress logger (bench/run's log)

    def config(self, drop=()):
        """node: limits for ndomains domains x 10 rules on one listener (gaapd's defaults are
        100 and 1,000)."""
        limits = (f"  max_domains_per_listener: {max(self.ndomains, 100)}\n"
                  f"  max_rules_per_listener: {max(self.ndomains * routes.RULES, 1000)}\n")
        return super().config(drop).replace("node:\n", "node:\n" + limits, 1)

    def start(self):
        harness.GAAPD = self.binary
        from provision import KeepAliveClient
        self.g = harness.Gaapd(config_text=self.checked_config(), directory=self.dir,
                               preexec_fn=pin_self(self.cpu))
        self.g.start()
        self.proc = self.g.proc
        self.log = self.g.log_path
        self.port = free_port()
        resp = self.g.create(self.port, name="routes")
        if harness.error_code(resp):
            raise RuntimeError(f"CreateHTTPListener: {resp}")
        client = KeepAliveClient(self.g.port)
        try:
            self.timings = routes.provision(client, resp["ListenerId"], self.ndomains,
                                            self.origin_port, depth=self.depth, log=self.say)
        finally:
            client.close()
        wait_port(self.port, self.proc, what="gaapd listener", log=self.log)
        routes.check_routes(self.port, self.ndomains)
        return self


class NginxRoutes(NginxProxy):
    """Workload g: an nginx of its own with ndomains server blocks (server_name) on one port,
    10 prefix locations each (routes.paths()), every location `proxy_pass http://origin` with
    the one-route nginx's settings inherited from the http block (as one would write it: the
    same per-request work, one compiled header set)."""
    label = "nginx"

    def __init__(self, workdir, cpu, origin_port, ndomains):
        self.name = "nginx-g"
        super().__init__(workdir, cpu, origin_port)
        self.name = "nginx"
        self.ndomains = ndomains

    def servers(self):
        body = self.location_body().splitlines()
        shared = "".join("    " + l + "\n" for l in body if not l.startswith("proxy_pass "))
        return ("    server_names_hash_max_size 4096;\n    server_names_hash_bucket_size 64;\n"
                + shared + routes.nginx_servers(self.port, self.ndomains,
                                                "proxy_pass http://origin;"))

    def start(self):
        super().start()
        routes.check_routes(self.port, self.ndomains)
        return self


class HAProxyRoutes(HAProxy):
    """Workload g: a HAProxy of its own whose frontend looks up "Host/path" (`base`) in a map
    of the ndomains x 10 domain/rule prefixes (`map_beg`: a prefix tree, the longest match) to
    choose the backend, the one origin for every rule."""
    label = "HAProxy"

    def __init__(self, workdir, cpu, origin_port, ndomains):
        self.name = "haproxy-g"
        super().__init__(workdir, cpu, origin_port)
        self.name = "haproxy"
        self.ndomains = ndomains

    def routing(self):
        m = routes.haproxy_map(os.path.join(self.dir, "routes.map"), self.ndomains)
        return f"    use_backend %[base,map_beg({m})]\n"

    def start(self):
        super().start()
        routes.check_routes(self.port, self.ndomains)
        return self


class OriginDirect:
    """The origin measured directly (no proxy): the physical limit. Its 'proxy' figures (CPU,
    RSS) are the origin's own."""
    name = "origin"
    label = "origin direct"

    def __init__(self, origin):
        self.o = origin
        self.port = origin.port
        self.cpu = origin.cpu

    def __getattr__(self, attr):
        return getattr(self.o, attr)


# --- TLS (workloads h-m) ----------------------------------------------------------------------

# What every TLS target serves: TLS 1.2 and 1.3; for TLS <= 1.2 gaapd's GAAP_TLS_CIPHERS_STRICT
# (its default package, daemon/tls/srv.c); TLS 1.3 with OpenSSL's three standard suites (gaapd
# cannot narrow them). bench_tlsload offers one suite and one group, so every handshake of the
# bench negotiates TLS_AES_128_GCM_SHA256 over X25519 on all three (bench/run checks it).
TLS_CIPHERS12 = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                 "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                 "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:HIGH:!aNULL:!eNULL")
TLS_SUITES13 = "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"
TLS_OFFER = {"suite": "TLS_AES_128_GCM_SHA256", "group": "X25519"}
TLS_SNI = "bench.test"
TLS_SESSION_TIMEOUT = 300       # gaapd's tls.session_timeout default; nginx's and HAProxy's too


class TlsFiles:
    """The certificates every TLS target serves, made once per run with the openssl CLI:
    self-signed, CN and SAN bench.test, one ECDSA P-256 and one RSA 2048 (SHA-256). Each key
    type: .crt, .key, and .pem (certificate then key: HAProxy's crt)."""
    KINDS = {"ecdsa": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
             "rsa": ["-newkey", "rsa:2048"]}

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "certs")
        os.makedirs(self.dir, exist_ok=True)
        for kind, newkey in self.KINDS.items():
            crt, key = self.crt(kind), self.key(kind)
            subprocess.run(["openssl", "req", "-x509", "-sha256", "-nodes", "-days", "30",
                            "-subj", f"/CN={TLS_SNI}", "-addext",
                            f"subjectAltName=DNS:{TLS_SNI}", "-keyout", key, "-out", crt]
                           + newkey, check=True, capture_output=True, timeout=60)
            with open(self.pem(kind), "w") as f:
                f.write(open(crt).read() + open(key).read())
            os.chmod(key, 0o644)    # nginx workers (nobody) never read it; the master does

    def crt(self, kind):
        return os.path.join(self.dir, kind + ".crt")

    def key(self, kind):
        return os.path.join(self.dir, kind + ".key")

    def pem(self, kind):
        return os.path.join(self.dir, kind + ".pem")


def check_get_tls(port, path, length):
    """One GET over TLS (no verification: the bench's certificates are self-signed)."""
    import http.client
    import ssl
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=ctx)
    try:
        conn.request("GET", path, headers={"Host": TLS_SNI})
        r = conn.getresponse()
        body = r.read()
    finally:
        conn.close()
    if r.status != 200 or len(body) != length:
        raise RuntimeError(f"GET {path} over TLS on {port}: {r.status}, {len(body)} bytes, "
                           f"not {length}")


class TlsPorts:
    """A TLS target's two ports: self.port serves the ECDSA certificate, self.port_rsa the RSA
    one; ports[kind] for either."""
    tls = True

    def __init__(self, *args):
        """The plain target's arguments, then the TlsFiles: its set-up runs under
        "<name>-tls" (its work directory), then it takes its own name back."""
        *plain, self.files = args
        self.name = self.proxy_name + "-tls"
        super().__init__(*plain)
        self.name = self.proxy_name
        self.port_rsa = free_port()

    def tls_ports(self):
        return {"ecdsa": self.port, "rsa": self.port_rsa}

    def check(self):
        for p in self.tls_ports().values():
            check_get_tls(p, "/small", len(SMALL_BODY))


class NginxTLS(TlsPorts, NginxProxy):
    """nginx as above, terminating TLS: one server block per certificate, TLSv1.2 TLSv1.3,
    the same ciphers as gaapd, X25519 and P-256 offered, session tickets (nginx's default,
    keys of its own), no session cache (as gaapd: tickets only), ALPN http/1.1 (nginx's own)."""
    label = "nginx"
    proxy_name = "nginx"

    def servers(self):
        inner = "".join("            " + l + "\n" for l in self.location_body().splitlines())
        out = ""
        for kind, port in self.tls_ports().items():
            out += f"""    server {{
        listen 127.0.0.1:{port} ssl backlog={BACKLOG};
        ssl_certificate {self.files.crt(kind)};
        ssl_certificate_key {self.files.key(kind)};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers {TLS_CIPHERS12};
        ssl_conf_command Ciphersuites {TLS_SUITES13};
        ssl_prefer_server_ciphers on;
        ssl_ecdh_curve X25519:prime256v1;
        ssl_session_tickets on;
        ssl_session_cache off;
        ssl_session_timeout {TLS_SESSION_TIMEOUT}s;
        location / {{
{inner}        }}
    }}
"""
        return out

    def start(self):
        self.port = free_port()
        return super().start()


class HAProxyTLS(TlsPorts, HAProxy):
    """HAProxy as above, terminating TLS on two binds (one per certificate) with the same
    versions, ciphers and groups, ALPN http/1.1; session tickets (its default) and its default
    session cache (tune.ssl.cachesize 20,000 entries, shared memory)."""
    label = "HAProxy"
    proxy_name = "haproxy"

    def binds(self):
        return "".join(f"    bind 127.0.0.1:{port} backlog {BACKLOG} ssl crt "
                       f"{self.files.pem(kind)} alpn http/1.1 ssl-min-ver TLSv1.2 "
                       f"ciphers {TLS_CIPHERS12} ciphersuites {TLS_SUITES13} "
                       f"curves X25519:P-256\n"
                       for kind, port in self.tls_ports().items())

    def start(self):
        self.port = free_port()
        return super().start()


class GaapdTLS(TlsPorts, GaapdTarget):
    """gaapd as above, terminating TLS: two certificates (CreateCertificate, type 2, the PEM
    files of TlsFiles) and an HTTPS listener for each (CreateHTTPSListener, ForwardProtocol
    HTTP), provisioned through the signed API; the node's TLS defaults (TLSv1.2 + TLSv1.3,
    GAAP_TLS_CIPHERS_STRICT, session tickets with a node-wide key ring, session_timeout 300 s)."""
    label = "gaapd"
    proxy_name = "gaapd"

    def https_listener(self, kind, port):
        with open(self.files.crt(kind)) as f:
            crt = f.read()
        with open(self.files.key(kind)) as f:
            key = f.read()
        resp = self.g.call("CreateCertificate", {"CertificateType": 2, "CertificateContent": crt,
                                                 "CertificateKey": key,
                                                 "CertificateAlias": f"bench-{kind}"})
        if harness.error_code(resp):
            raise RuntimeError(f"CreateCertificate {kind}: {resp}")
        resp = self.g.call("CreateHTTPSListener", {
            "ListenerName": f"bench-{kind}", "Port": port, "ProxyId": harness.PROXY,
            "CertificateId": resp["CertificateId"], "ForwardProtocol": "HTTP"})
        if harness.error_code(resp):
            raise RuntimeError(f"CreateHTTPSListener {kind}: {resp}")
        wait_port(port, self.proc, what=f"gaapd HTTPS listener ({kind})", log=self.log)

    def start(self):
        self.spawn_gaapd()
        self.port, self.port_rsa = free_port(), free_port()
        for kind, port in self.tls_ports().items():
            self.https_listener(kind, port)
        self.check()
        return self
