#!/usr/bin/python3
"""Workload g of bench/run: one listener with many domains x 10 rules (issue 13).

The table is the same for every target:
  domains  d0000.example ... d0999.example (ndomains of them)
  rules    10 per domain, path prefixes of different lengths sharing their beginnings:
           /  /a  /a/b  /api  /api/v1  /api/v10  /static  /static/img  and two of the
           domain's own, /d0042 and /x/42/y
  requests REQUESTS (Host, path) pairs, the Host at random over the domains, the rule at random
           over its 10; the path is the rule's path + "/item/42?x=1" (for "/": "/item/42?x=1"),
           so 9 requests in 10 are decided by a rule other than "/", and the longest prefix is
           always the intended rule (e.g. "/api/v1/item/42" is /api/v1's, not /api/v10's).
The origin answers every one of these paths with the 64-byte body of GET /small (its catch-all
location; bench/origin.py likewise), so g moves the same bytes as a. and differs from it only
in the route lookup.

gaapd: CreateDomain x ndomains, CreateRule x 10 ndomains, AddRealServers once (127.0.0.1),
BindRuleRealServers x 10 ndomains (the origin's port), signed TC3 calls over one kept
connection (provision.KeepAliveClient), one at a time; provision() times each phase.
nginx: one server block per domain (server_name), one prefix location per rule, all proxying to
the same upstream as the one-route nginx. HAProxy: one map_beg lookup of "Host/path" (HAProxy's
`base`) in a map of the domain/rule pairs (a prefix tree, longest match) choosing the backend.

As a script (provisioning alone, no load):
  bench/routes.py [--gaapd build/gaapd] [--domains 1000] [--depth 1]
starts a gaapd with a Python origin, provisions the table, checks one request per rule of a few
domains, prints the timings.
"""
import argparse
import os
import random
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))

RULES = 10
REQUESTS = 4096
SUFFIX = "/item/42?x=1"
EDGE = 100


def domain(i):
    return f"d{i:04d}.example"


def paths(i):
    """The 10 rule paths of domain i."""
    return ["/", "/a", "/a/b", "/api", "/api/v1", "/api/v10", "/static", "/static/img",
            f"/d{i:04d}", f"/x/{i}/y"]


def request_path(rule_path):
    return (rule_path.rstrip("/") or "") + SUFFIX


def requests(ndomains, count=REQUESTS, seed=13):
    """[(host, path, rule path)]: the same list every run."""
    rnd = random.Random(seed)
    out = []
    for _ in range(count):
        i = rnd.randrange(ndomains)
        rule = paths(i)[rnd.randrange(RULES)]
        out.append((domain(i), request_path(rule), rule))
    return out


def write_requests(path, ndomains):
    """The file bench/wrk.lua reads ("routes FILE"): one "HOST PATH" per line."""
    with open(path, "w") as f:
        for host, p, _ in requests(ndomains):
            f.write(f"{host} {p}\n")
    return path


def share_not_root(ndomains):
    reqs = requests(ndomains)
    return sum(1 for _, _, r in reqs if r != "/") / len(reqs)


# --- gaapd -----------------------------------------------------------------------------------

class ProvisionError(RuntimeError):
    pass


def _ok(resp, action):
    err = resp.get("Error")
    if err:
        raise ProvisionError(f"{action}: {err.get('Code')}: {err.get('Message')}")
    return resp


def provision(client, listener_id, ndomains, origin_port, depth=1, log=None):
    """Domains, rules, one real server and the bindings on listener_id through the signed API on
    client (a KeepAliveClient): one call at a time (depth 1), or depth calls pipelined per write
    on the same connection. Returns the timings (seconds) and counts, and each phase's ms per
    call over its first and last EDGE calls (CreateRule_first_ms ...)."""
    t = {"domains": ndomains, "rules": ndomains * RULES, "depth": depth}

    def run(calls, what):
        out, took = [], []
        for k in range(0, len(calls), depth):
            chunk = calls[k:k + depth]
            c0 = time.perf_counter()
            answers = ([client.call(*chunk[0])] if len(chunk) == 1 else
                       client.call_pipelined(chunk))
            took += [(time.perf_counter() - c0) / len(chunk)] * len(chunk)
            out += [_ok(a, what) for a in answers]
        # ms per call over the phase's first and last EDGE calls: how the cost grows
        edge = min(EDGE, len(took))
        t[what + "_first_ms"] = sum(took[:edge]) / max(edge, 1) * 1000
        t[what + "_last_ms"] = sum(took[-edge:]) / max(edge, 1) * 1000
        return out

    t0 = time.perf_counter()
    run([("CreateDomain", {"ListenerId": listener_id, "Domain": domain(i)})
         for i in range(ndomains)], "CreateDomain")
    t1 = time.perf_counter()
    rules = [("CreateRule", {"ListenerId": listener_id, "Domain": domain(i), "Path": p,
                             "RealServerType": "IP", "Scheduler": "rr", "HealthCheck": 0})
             for i in range(ndomains) for p in paths(i)]
    rule_ids = [r["RuleId"] for r in run(rules, "CreateRule")]
    t2 = time.perf_counter()
    if log:
        log(f"g: {ndomains:,} domains and {len(rule_ids):,} rules in {t2 - t0:.2f} s")
    r = _ok(client.call("AddRealServers", {"ProjectId": 0, "RealServerIP": ["127.0.0.1"],
                                           "RealServerName": "bench-origin"}), "AddRealServers")
    rs = r["RealServerSet"][0]["RealServerId"]
    t3 = time.perf_counter()
    bind = [{"RealServerId": rs, "RealServerIP": "127.0.0.1", "RealServerPort": origin_port,
             "RealServerWeight": 1}]
    run([("BindRuleRealServers", {"RuleId": rid, "RealServerBindSet": bind})
         for rid in rule_ids], "BindRuleRealServers")
    t4 = time.perf_counter()
    t.update(domains_s=t1 - t0, rules_s=t2 - t1, add_rs_s=t3 - t2, bind_s=t4 - t3,
             total_s=t4 - t0, calls=ndomains + 2 * len(rule_ids) + 1,
             connects=getattr(client, "connects", None))
    t["per_call_ms"] = t["total_s"] / t["calls"] * 1000
    return t


def check_routes(port, ndomains, sample=3):
    """One GET per rule of `sample` domains (first, last, middle): 200 with the small body."""
    import http.client
    from targets import SMALL_BODY
    for i in sorted({0, ndomains - 1, ndomains // 2})[:sample]:
        for p in paths(i):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                c.request("GET", request_path(p), headers={"Host": domain(i)})
                r = c.getresponse()
                body = r.read()
            finally:
                c.close()
            if r.status != 200 or body != SMALL_BODY:
                raise ProvisionError(f"GET {domain(i)}{request_path(p)} on {port}: {r.status}, "
                                     f"{len(body)} bytes")


# --- nginx and HAProxy ---------------------------------------------------------------------

def nginx_servers(port, ndomains, proxy_block):
    """ndomains server blocks on one port, each with its 10 prefix locations; proxy_block is
    the body of every location (proxy_pass and its settings)."""
    out = []
    inner = "".join("            " + line.strip() + "\n"
                    for line in proxy_block.strip().splitlines())
    for i in range(ndomains):
        opts = " backlog=4096" if i == 0 else ""       # the socket's options, once
        out.append(f"    server {{\n        listen 127.0.0.1:{port}{opts};\n"
                   f"        server_name {domain(i)};\n")
        for p in paths(i):
            out.append(f"        location {p} {{\n{inner}        }}\n")
        out.append("    }\n")
    return "".join(out)


def haproxy_map(path, ndomains):
    """HAProxy's map for `base,map_beg(...)`: "host/path-prefix backend" per rule."""
    with open(path, "w") as f:
        for i in range(ndomains):
            for p in paths(i):
                f.write(f"{domain(i)}{p} origin\n")
    return path


# --- as a script ------------------------------------------------------------------------------

def main():
    import tempfile
    import shutil
    import targets as tg
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gaapd", default=os.path.join(HERE, "..", "build", "gaapd"))
    ap.add_argument("--domains", type=int, default=1000)
    ap.add_argument("--depth", type=int, default=1, help="API calls pipelined per write")
    a = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="gaapd-routes-")
    origin = tg.PyOrigin(workdir, None)
    g = None
    try:
        origin.start()
        g = tg.GaapdRoutes(workdir, None, os.path.abspath(a.gaapd), origin.port, a.domains,
                           a.depth)
        g.say = lambda m: print(m, file=sys.stderr)
        g.start()                   # provisions, then checks a few domains' rules
        t = g.timings
        print(f"{t['domains']:,} domains, {t['rules']:,} rules: {t['calls']:,} calls "
              f"({t['depth']} per write) in "
              f"{t['total_s']:.2f} s, {t['per_call_ms']:.3f} ms per call (CreateDomain "
              f"{t['domains_s']:.2f} s, CreateRule {t['rules_s']:.2f} s, BindRuleRealServers "
              f"{t['bind_s']:.2f} s; {t['connects']} connection(s)); gaapd RSS "
              f"{g.rss_kib() / 1024:.1f} MiB")
        print("ms per call, first / last %d: " % EDGE + ", ".join(
            f"{w} {t[w + '_first_ms']:.2f} / {t[w + '_last_ms']:.2f}"
            for w in ("CreateDomain", "CreateRule", "BindRuleRealServers")))
    finally:
        if g is not None:
            g.stop()
        origin.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
