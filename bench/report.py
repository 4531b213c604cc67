"""Figures to text for bench/run: medians and spreads, the Markdown report, the TSVs, the charts.

A run is a list of dicts, one per wrk run (workload, target, rep and the figures of FIGURES);
summaries are medians over the repetitions with their min and max.
"""
import os
import shutil
import statistics
import subprocess

# key, heading, unit format
FIGURES = [
    ("rps", "req/s", "{:,.0f}"),
    ("mibps", "MiB/s", "{:,.0f}"),
    ("p50_ms", "p50 ms", "{:.3g}"),
    ("p99_ms", "p99 ms", "{:.3g}"),
    ("max_ms", "max ms", "{:.3g}"),
    ("errors", "errors", "{:,.0f}"),
    ("cpu_s", "proxy CPU s", "{:.2f}"),
    ("req_per_cpu_s", "req per CPU-s", "{:,.0f}"),
    ("user_us", "user µs/req", "{:.2f}"),
    ("kernel_us", "kernel µs/req", "{:.2f}"),
    ("peak_rss_mib", "peak RSS MiB", "{:.1f}"),
    ("rss_idle_mib", "RSS idle-held MiB", "{:.1f}"),
]
FMT = {k: f for k, _, f in FIGURES}
HEAD = {k: h for k, h, _ in FIGURES}


def summarize(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def fmt(key, v):
    return "–" if v is None else FMT.get(key, "{:.3g}").format(v)


def cell(key, s):
    if s is None:
        return "–"
    if s["n"] == 1 or s["min"] == s["max"]:
        return fmt(key, s["median"])
    return f"{fmt(key, s['median'])} [{fmt(key, s['min'])}–{fmt(key, s['max'])}]"


def ratio(a, b):
    if a is None or b is None or not b["median"]:
        return None
    return a["median"] / b["median"]


def fr(x):
    return "–" if x is None else f"{x:.2f}×"


class Report:
    def __init__(self, workloads, targets, runs):
        self.workloads = workloads          # [(key, title, ...)]
        self.targets = targets              # [(name, label)]
        self.runs = runs
        self.s = {}
        for w in workloads:
            for t, _ in targets:
                rs = [r for r in runs if r["workload"] == w.key and r["target"] == t]
                self.s[w.key, t] = {k: summarize(rs, k) for k, _, _ in FIGURES}
                self.s[w.key, t]["errors_total"] = sum(r["errors"] for r in rs) if rs else None
                self.s[w.key, t]["n"] = len(rs)

    def get(self, w, t, key):
        return self.s.get((w, t), {}).get(key)

    def load_table(self):
        cols = ["rps", "mibps", "p50_ms", "p99_ms", "max_ms", "errors", "cpu_s", "req_per_cpu_s",
                "peak_rss_mib"]
        out = ["| workload | target | " + " | ".join(HEAD[c] for c in cols) + " |",
               "|---|---|" + "---:|" * len(cols)]
        for w in self.workloads:
            for t, label in self.targets:
                if self.get(w.key, t, "n") == 0:
                    continue
                row = []
                for c in cols:
                    if c == "mibps" and not w.mib:
                        row.append("")
                    elif c == "errors":
                        row.append(fmt("errors", self.get(w.key, t, "errors_total")))
                    else:
                        row.append(cell(c, self.get(w.key, t, c)))
                out.append(f"| {w.key}. {w.title} | {label} | " + " | ".join(row) + " |")
        return "\n".join(out)

    def ratio_table(self):
        names = [t for t, _ in self.targets]
        peers = [(t, l) for t, l in self.targets if t in ("nginx", "haproxy")]
        if "gaapd" not in names or not peers:
            return ""
        cols = ["rps", "mibps", "p50_ms", "p99_ms", "max_ms", "cpu_s", "req_per_cpu_s",
                "peak_rss_mib"]
        head = []
        for c in cols:
            for _, l in peers:
                head.append(f"{HEAD[c]} ÷ {l}")
        out = ["| workload | " + " | ".join(head) + " |", "|---|" + "---:|" * len(head)]
        for w in self.workloads:
            row = []
            for c in cols:
                for p, _ in peers:
                    row.append("" if c == "mibps" and not w.mib else
                               fr(ratio(self.get(w.key, "gaapd", c), self.get(w.key, p, c))))
            out.append(f"| {w.key}. {w.title} | " + " | ".join(row) + " |")
        return "\n".join(out)

    def cpu_table(self):
        """User and kernel µs per request by workload and target (not origin direct: its row
        would be the origin's own CPU)."""
        out = ["| workload | target | user µs/req | kernel µs/req | total µs/req | kernel share |",
               "|---|---|---:|---:|---:|---:|"]
        for w in self.workloads:
            for t, label in self.targets:
                u, k = self.get(w.key, t, "user_us"), self.get(w.key, t, "kernel_us")
                if t == "origin" or u is None or k is None or u["median"] + k["median"] <= 0:
                    continue
                total = u["median"] + k["median"]
                out.append(f"| {w.key}. {w.title} | {label} | {cell('user_us', u)} | "
                           f"{cell('kernel_us', k)} | {total:.2f} | {k['median'] / total:.0%} |")
        return "\n".join(out)

    def idle_table(self, idle_key, base_key):
        out = ["| target | idle connections held | RSS with them held, before load (MiB) "
               f"| peak RSS under load (MiB) | p99 ms with them | p99 ms without ({base_key}) "
               "| ratio |",
               "|---|---:|---:|---:|---:|---:|---:|"]
        for t, label in self.targets:
            rs = [r for r in self.runs if r["workload"] == idle_key and r["target"] == t]
            if not rs:
                continue
            held = summarize(rs, "idle_open")
            e99, a99 = self.get(idle_key, t, "p99_ms"), self.get(base_key, t, "p99_ms")
            out.append(f"| {label} | {cell('errors', held)} | "
                       f"{cell('rss_idle_mib', self.get(idle_key, t, 'rss_idle_mib'))} | "
                       f"{cell('peak_rss_mib', self.get(idle_key, t, 'peak_rss_mib'))} | "
                       f"{cell('p99_ms', e99)} | {cell('p99_ms', a99)} | {fr(ratio(e99, a99))} |")
        return "\n".join(out)

    def tsv(self):
        keys = [k for k, _, _ in FIGURES]
        lines = ["\t".join(["workload", "target", "reps"] +
                           [f"{k}_{s}" for k in keys for s in ("median", "min", "max")])]
        for w in self.workloads:
            for t, _ in self.targets:
                if self.get(w.key, t, "n") == 0:
                    continue
                row = [w.key, t, str(self.get(w.key, t, "n"))]
                for k in keys:
                    s = self.get(w.key, t, k)
                    row += ["" if s is None else f"{s[x]:.6g}" for x in ("median", "min", "max")]
                lines.append("\t".join(row))
        return "\n".join(lines) + "\n"


def runs_tsv(runs):
    keys = ["workload", "target", "rep", "seconds", "requests", "bytes", "rps", "mibps", "p50_ms",
            "p99_ms", "max_ms", "errors", "status_errors", "socket_errors", "cpu_s",
            "req_per_cpu_s", "user_us", "kernel_us", "peak_rss_mib", "rss_idle_mib", "idle_open",
            "idle_failed", "handshakes", "resumed", "proto", "suite", "group", "proxy_busy",
            "client_busy", "client_us"]
    lines = ["\t".join(keys)]
    for r in runs:
        lines.append("\t".join("" if r.get(k) is None else
                               (f"{r[k]:.6g}" if isinstance(r[k], float) else str(r[k]))
                               for k in keys))
    return "\n".join(lines) + "\n"


def charts(report, outdir, title):
    """PNG charts with gnuplot: clustered bars (median) with min–max error bars. Returns the
    files written, [] without gnuplot."""
    if shutil.which("gnuplot") is None:
        return []
    specs = [
        ("req_per_cpu_s", "requests per proxy CPU-second", ["a", "b", "e"], False,
         lambda t: t != "origin"),
        ("req_per_cpu_s", "MiB (= requests) per proxy CPU-second", ["c", "d"], False,
         lambda t: t != "origin"),
        ("rps", "requests/s", ["a", "b", "e"], False, None),
        ("mibps", "MiB/s", ["c", "d"], False, None),
        ("p99_ms", "p99 latency, ms (log scale)", ["a", "b", "c", "d", "e"], True, None),
        ("peak_rss_mib", "peak RSS, MiB (log scale)", ["a", "b", "c", "d", "e"], True,
         lambda t: t != "origin"),
        ("req_per_cpu_s", "requests per proxy CPU-second (ga: one route, g: the big table)",
         ["ga", "g"], False, lambda t: t != "origin"),
        ("req_per_cpu_s", "TLS handshakes (= requests) per proxy CPU-second",
         ["h", "i", "j"], False, lambda t: t != "origin"),
        ("req_per_cpu_s", "TLS keep-alive requests per proxy CPU-second", ["k", "m"], False,
         lambda t: t != "origin"),
        ("mibps", "MiB/s over TLS", ["l"], False, None),
        ("peak_rss_mib", "peak RSS over TLS, MiB (log scale)", ["h", "i", "j", "k", "l", "m"],
         True, lambda t: t != "origin"),
    ]
    titles = {w.key: f"{w.key}. {w.short}" for w in report.workloads}
    written = []
    script = ["set terminal pngcairo size 1000,520 font 'DejaVu Sans,10'",
              "set style data histograms", "set style histogram errorbars gap 2 lw 1",
              "set style fill solid 0.8 border -1", "set key top right", "set grid ytics",
              "set yrange [0:*]", "set datafile missing 'NaN'", "set bars 0.5"]
    for n, (key, ylabel, wl, logy, keep) in enumerate(specs):
        targets = [(t, l) for t, l in report.targets if keep is None or keep(t)]
        wl = [w for w in wl if w in titles]
        if not wl or not targets:
            continue
        name = key if key not in [k for k, *_ in specs[:n]] else f"{key}_{'_'.join(wl)}"
        dat = os.path.join(outdir, f"{name}.dat")
        with open(dat, "w") as f:
            for w in wl:
                row = [f'"{titles[w]}"']
                for t, _ in targets:
                    s = report.get(w, t, key)
                    row += ["NaN"] * 3 if s is None else \
                        [f"{s['median']:.6g}", f"{s['min']:.6g}", f"{s['max']:.6g}"]
                f.write(" ".join(row) + "\n")
        png = os.path.join(outdir, f"{name}.png")
        script += [f"set output '{png}'", f"set title \"{title}: {ylabel}\"",
                   f"set ylabel \"{ylabel}\"",
                   "set logscale y; set yrange [*:*]" if logy else "unset logscale y; set yrange [0:*]"]
        plots = []
        for i, (t, l) in enumerate(targets):
            c = 2 + 3 * i
            src = f"'{dat}'" if i == 0 else "''"
            plots.append(f"{src} using {c}:{c + 1}:{c + 2}" + (":xtic(1)" if i == 0 else "") +
                         f" title '{l}'")
        script.append("plot " + ", ".join(plots))
        written.append(png)
    gp = os.path.join(outdir, "charts.gp")
    with open(gp, "w") as f:
        f.write("\n".join(script) + "\n")
    p = subprocess.run(["gnuplot", gp], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("gnuplot: " + p.stderr)
    return written
