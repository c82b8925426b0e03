#!/usr/bin/env python3
"""Turns the raw rows of perf/load/run.sh into the markdown results file.

usage: report.py META RAW_TSV STARTUP_TSV > results.md

Every figure is the median over the repetitions, with min-max in brackets when there is more than one.
Ratios to HAProxy are taken per repetition (the two runs closest in time) and then their median is shown.
"""
import statistics
import sys
from collections import defaultdict

NAMES = {
    "direct": "upstream direct (no proxy)",
    "haproxy": "HAProxy",
    "nginx": "nginx (proxy)",
    "sharpproxy": "SharpProxy",
    "sharpproxy-r2r": "SharpProxy ReadyToRun build (JIT; the image's settings before native AOT: `DOTNET_TC_CallCountingDelayMs=10`)",
    "sharpproxy-no-event-loop": "SharpProxy `SHARPPROXY_EVENT_LOOP=0` (fast path on .NET's socket engine; HTTP/2 on Kestrel)",
    "sharpproxy-h2-kestrel": "SharpProxy `SHARPPROXY_HTTP2_FAST_PATH=0` (HTTP/2 on Kestrel + HttpClient)",
    "sharpproxy-c2": "SharpProxy `--concurrency 2`",
    "sharpproxy-r2r-2cpu": "SharpProxy ReadyToRun, workstation GC, CPUs 0-1",
    "sharpproxy-r2r-gcserver-2cpu": "SharpProxy ReadyToRun, `DOTNET_gcServer=1`, CPUs 0-1",
    "sharpproxy-no-inline": "SharpProxy `DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=0`",
    "sharpproxy-kestrel": "SharpProxy `SHARPPROXY_HTTP1_FAST_PATH=0` (Kestrel + HttpClient)",
    "sharpproxy-tracing": "SharpProxy tracing every request (100 % sampled, OTLP/HTTP export; Kestrel path)",
    "sharpproxy-r2r-tiering-delay": "SharpProxy ReadyToRun with the runtime's default tiering delay (`DOTNET_TC_CallCountingDelayMs=100`, ×10 on one CPU)",
}
ORDER = ["direct", "haproxy", "nginx", "sharpproxy"]
VARIANTS = ["sharpproxy", "sharpproxy-r2r", "sharpproxy-no-event-loop", "sharpproxy-h2-kestrel", "sharpproxy-c2", "sharpproxy-no-inline", "sharpproxy-kestrel",
            "sharpproxy-tracing", "sharpproxy-r2r-tiering-delay", "sharpproxy-r2r-2cpu", "sharpproxy-r2r-gcserver-2cpu"]
FIELDS = ["rps", "p50", "p99", "cpu", "hwm", "up_cpu", "reqs", "errs", "up_conns"]


def num(text):
    try:
        value = float(text)
    except ValueError:
        return None
    return None if value != value else value  # NaN -> None


def load_meta(path):
    meta = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            meta[key] = value
    return meta


def load_raw(path):
    rows = defaultdict(lambda: defaultdict(dict))  # scenario -> target -> rep -> fields
    unavailable = set()
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            rep, target, scenario = parts[0], parts[1], parts[2]
            if len(parts) == 4 and parts[3] == "n/a":
                unavailable.add((scenario, target))
                continue
            values = dict(zip(FIELDS, (num(p) for p in parts[3:])))
            if values.get("hwm") is not None:
                values["hwm"] = values["hwm"] / 1024.0 if values["hwm"] > 0 else None  # kB -> MB
            rows[scenario][target][rep] = values
    return rows, unavailable


def load_startup(path):
    rows = defaultdict(dict)
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            rep, target = parts[0], parts[1]
            ready, idle, threads, svr = (num(p) if p else None for p in (parts[2:6] + [""] * 4)[:4])
            rows[target][rep] = {"ready": ready, "idle": idle / 1024.0 if idle else None, "threads": threads, "svr": svr}
    return rows


def fmt_number(value, digits):
    if value is None:
        return "—"
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def cell(values, digits, spread=True):
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    median = statistics.median(values)
    text = fmt_number(median, digits)
    if spread and len(values) > 1:
        text += f" ({fmt_number(min(values), digits)}–{fmt_number(max(values), digits)})"
    return text


def series(per_rep, field):
    return [per_rep[rep].get(field) for rep in sorted(per_rep, key=int)]


def ratio_series(per_rep, base_rep, field):
    out = []
    for rep, values in per_rep.items():
        base = base_rep.get(rep, {}).get(field)
        value = values.get(field)
        if value is not None and base:
            out.append(value / base)
    return out


def scenario_table(title, rows, unavailable, scenario, base="haproxy", targets=ORDER):
    lines = [f"### {title}", ""]
    lines.append(
        f"| Proxy | req/s | p50 ms | p99 ms | proxy CPU µs/req | peak RSS MB | upstream CPU µs/req | upstream conns "
        f"| ×{NAMES[base]} req/s | ×CPU/req | ×RSS | ×p99 | errors |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    base_rep = rows[scenario].get(base, {})
    for target in targets:
        if (scenario, target) in unavailable:
            lines.append(f"| {NAMES[target]} | n/a | | | | | | | | | | | |")
            continue
        per_rep = rows[scenario].get(target)
        if not per_rep:
            continue
        ratios = [cell(ratio_series(per_rep, base_rep, f), 2) for f in ("rps", "cpu", "hwm", "p99")]
        if target == base:
            ratios = ["1.00"] * 4
        errors = sum(v.get("errs") or 0 for v in per_rep.values())
        lines.append(
            f"| {NAMES[target]} | {cell(series(per_rep, 'rps'), 0)} | {cell(series(per_rep, 'p50'), 3)} "
            f"| {cell(series(per_rep, 'p99'), 3)} | {cell(series(per_rep, 'cpu'), 1)} | {cell(series(per_rep, 'hwm'), 1)} "
            f"| {cell(series(per_rep, 'up_cpu'), 1)} | {cell(series(per_rep, 'up_conns'), 0, spread=False)} "
            f"| {' | '.join(ratios)} | {errors:.0f} |")
    lines.append("")
    return lines


def main():
    meta = load_meta(sys.argv[1])
    rows, unavailable = load_raw(sys.argv[2])
    startup = load_startup(sys.argv[3])
    reps = meta.get("reps", "?")
    out = [f"# SharpProxy load lab — {meta.get('started_utc', '?')}", ""]
    if meta.get("quick") == "1":
        out += ["**Quick mode** (1 repetition, short runs): a smoke test of the lab, not a measurement to quote.", ""]
    out += [
        f"Medians over {reps} repetition(s), min–max in brackets. Ratios (×) are to HAProxy in the same repetition, "
        "then the median of those ratios. CPU µs/req = (utime+stime of the proxy's own process(es) during the run, "
        "from /proc/<pid>/stat) ÷ requests completed. Peak RSS = VmHWM of the proxy's process(es), reset before each run "
        "(`echo 5 > /proc/<pid>/clear_refs`). Proxy pinned to CPU 0; load generator and upstream nginx share CPU 1.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
    ]
    for key in ("cpu", "cores", "memory", "kernel", "dotnet", "build", "r2r_build", "git", "wrk", "h2load", "nginx", "haproxy",
                "loadavg_before", "loadavg_after", "durations", "shapes"):
        if key == "r2r_build" and key not in meta:
            continue  # no separate ReadyToRun build in this run
        out.append(f"| {key} | {meta.get(key, '?')} |")
    out.append("")

    rate = meta.get("shapes", "").rsplit("= ", 1)[-1]
    out += ["## Proxies side by side", ""]
    out += scenario_table("HTTP/1.1 keep-alive, 32 connections (wrk)", rows, unavailable, "h1")
    out += scenario_table("HTTP/2 h2c, 4 connections × 8 streams (h2load; upstream leg HTTP/1.1)", rows, unavailable, "h2")
    out += scenario_table("1 MB response body, 8 connections (wrk)", rows, unavailable, "big")
    out += scenario_table(f"Fixed rate, {rate}, HTTP/1.1, 16 connections (h2load --rps)", rows, unavailable, "rate")
    if rows.get("tls"):
        out += scenario_table("HTTPS: TLS termination (TLS 1.3, ECDSA P-256), HTTP/1.1 keep-alive, 32 connections (wrk); upstream leg plain HTTP/1.1", rows, unavailable, "tls")

    out += ["## SharpProxy settings (HTTP/1.1 keep-alive, 32 connections; pinned to CPU 0 unless the row says CPUs 0-1)", ""]
    out += ["| Variant | req/s | p50 ms | p99 ms | CPU µs/req | peak RSS MB | ×default CPU/req | ×default RSS | threads | server-GC threads |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    base_rep = rows["h1"].get("sharpproxy", {})
    for target in VARIANTS:
        per_rep = rows["h1"].get(target)
        if not per_rep:
            continue
        cpu_ratio = "1.00" if target == "sharpproxy" else cell(ratio_series(per_rep, base_rep, "cpu"), 2)
        rss_ratio = "1.00" if target == "sharpproxy" else cell(ratio_series(per_rep, base_rep, "hwm"), 2)
        st = startup.get(target, {})
        threads = cell([v["threads"] for v in st.values()], 0, spread=False)
        svr = cell([v["svr"] for v in st.values()], 0, spread=False)
        out.append(
            f"| {NAMES[target]} | {cell(series(per_rep, 'rps'), 0)} | {cell(series(per_rep, 'p50'), 3)} "
            f"| {cell(series(per_rep, 'p99'), 3)} | {cell(series(per_rep, 'cpu'), 1)} | {cell(series(per_rep, 'hwm'), 1)} "
            f"| {cpu_ratio} | {rss_ratio} | {threads} | {svr} |")
    h2_base = rows["h2"].get("sharpproxy", {})
    h2_rows = [t for t in VARIANTS if t != "sharpproxy" and rows["h2"].get(t)]
    if h2_rows:
        out += ["", "HTTP/2 h2c (4 connections × 8 streams) with the settings that change its path:", "",
                "| Variant | req/s | p50 ms | p99 ms | CPU µs/req | peak RSS MB | ×default CPU/req |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        for target in ["sharpproxy"] + h2_rows:
            per_rep = rows["h2"].get(target)
            if not per_rep:
                continue
            cpu_ratio = "1.00" if target == "sharpproxy" else cell(ratio_series(per_rep, h2_base, "cpu"), 2)
            out.append(
                f"| {NAMES[target]} | {cell(series(per_rep, 'rps'), 0)} | {cell(series(per_rep, 'p50'), 3)} "
                f"| {cell(series(per_rep, 'p99'), 3)} | {cell(series(per_rep, 'cpu'), 1)} | {cell(series(per_rep, 'hwm'), 1)} | {cpu_ratio} |")
    out += ["", f"Default = the build on the Machine table's build line ({meta.get('build', '?')}), `--concurrency 1`, "
            "workstation non-concurrent GC (the csproj setting), inline socket completions on "
            "(the proxy sets DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 unless the environment says otherwise), "
            "HTTP/1.1 and h2c on the fast path, on one epoll event loop per worker. "
            "ReadyToRun rows run with `DOTNET_TC_CallCountingDelayMs=10`, as the image did before it shipped native AOT. "
            "Server GC needs the ReadyToRun build (native AOT links the GC chosen at publish time and ignores "
            "`DOTNET_gcServer`), and more than one CPU: with one CPU in its affinity mask the runtime uses workstation GC even "
            "when `DOTNET_gcServer=1` is set (checked by thread names: no `.NET Server GC` threads), so the GC pair runs with "
            "CPUs 0-1, sharing CPU 1 with the load generator and the upstream; compare those two rows with each other only.", ""]

    out += ["## Startup and idle footprint", "",
            "| Process | start → ready ms | idle RSS MB (1 s after ready) |", "|---|---:|---:|"]
    for target in ["haproxy", "nginx"] + VARIANTS:
        st = startup.get(target)
        if not st:
            continue
        label = NAMES[target] + (" (admin `/ready` = 200)" if target.startswith("sharpproxy") else " (first proxied 200)")
        out.append(f"| {label} | {cell([v['ready'] for v in st.values()], 0)} | {cell([v['idle'] for v in st.values()], 1)} |")
    out += ["", "Ready is polled every 5 ms from the moment the process is launched (`taskset` exec included).", ""]
    print("\n".join(out))


if __name__ == "__main__":
    main()
