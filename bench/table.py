#!/usr/bin/env python3
"""Render bench/load.sh results as a markdown table (standard library only).

Reads RESULTS/<target>/{status,seed_seconds,<endpoint>} written by bench/load.sh, prints the
report and writes it to --out. Exits 1 when a row failed (any non-2xx answer or socket error)
or a target failed; a skipped target (e.g. PostgreSQL unreachable) is not a failure. Missing a
performance target is reported, not treated as a failure.
"""
import argparse
import datetime
import os
import platform
import subprocess
import sys

TARGETS = [("sqlite", "MarketScout SQLite"), ("postgres", "MarketScout PostgreSQL"), ("reference", "reference")]
ENDPOINTS = [
    ("products_list", "GET /products?limit=20"),
    ("product_get", "GET /products/{id}"),
    ("trending", "GET /trending?limit=10"),
    ("heat_map", "GET /heat-map"),
    ("scan_ads", "GET /scan-ads"),
    ("watchlists", "GET /watchlists (auth)"),
]
MIN_RATIO = 20.0
MIN_RPS_SQLITE = 15_000.0
MAX_P99_MS = 10.0


def read(path):
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()
    except FileNotFoundError:
        return None


def parse_result(line):
    fields = dict(part.split("=", 1) for part in line.split()[1:] if "=" in part)
    r = {k.removesuffix("_ms"): float(v) for k, v in fields.items()}
    r["socket_errors"] = int(r.get("connect", 0) + r.get("read", 0) + r.get("write", 0) + r.get("timeout", 0))
    r["non2xx"] = int(r.get("non2xx", 0))
    r["failed"] = bool(r.get("wrkfailed", 0)) or r["non2xx"] > 0 or r["socket_errors"] > 0
    return r


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def git_rev(repo):
    try:
        out = subprocess.run(["git", "-C", repo, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "-C", repo, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return out.stdout.strip() + (" (with uncommitted changes)" if dirty else "")
    except (subprocess.CalledProcessError, OSError):
        return "no commit yet"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--out", required=True)
    ap.add_argument("--duration", type=int, required=True)
    ap.add_argument("--connections", type=int, required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--seed-counts", required=True, help="products,ads,watchlist,scores")
    args = ap.parse_args()

    status, seed_s, res = {}, {}, {}
    for key, _ in TARGETS:
        status[key] = read(os.path.join(args.results, key, "status")) or "not run"
        seed_s[key] = read(os.path.join(args.results, key, "seed_seconds"))
        for ep, _ in ENDPOINTS:
            line = read(os.path.join(args.results, key, ep))
            if line and status[key] != "not run" and not status[key].startswith("skipped"):
                res[key, ep] = parse_result(line)

    def cell(key, ep):
        r = res.get((key, ep))
        if r is None:
            s = status[key]
            return "failed" if s.startswith("failed") else ("skipped" if s.startswith("skipped") else "not run")
        text = f"{r['rps']:,.0f} · {r['p50']:.2f} ms · {r['p99']:.2f} ms"
        if r.get("wrkfailed"):
            return "**FAIL** (wrk gave no result)"
        if r["failed"]:
            return f"**FAIL** ({r['non2xx']} non-2xx, {r['socket_errors']} socket errors) {text}"
        return text

    def ratio(key, ep):
        a, b = res.get((key, ep)), res.get(("reference", ep))
        if a is None or b is None or not b["rps"]:
            return "n/a"
        flag = " (failed row)" if a["failed"] or b["failed"] else ""
        return f"{a['rps'] / b['rps']:,.1f}x{flag}"

    products, ads, watch, scores = args.seed_counts.split(",")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    lines = [
        "# MarketScout load benchmark",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; commit: {git_rev(repo)}",
        f"- machine: {os.cpu_count()} cores ({cpu_model()}), wrk on the same cores; load average when the run "
        f"started: {read(os.path.join(args.results, 'loadavg')) or 'unknown'} (1/5/15 min; near 0 = idle)",
        f"- load: wrk -t{args.threads} -c{args.connections} -d{args.duration}s per endpoint, 127.0.0.1",
        f"- data: {products} products, {ads} ads, {watch} watchlist entries, {scores} trend scores, seeded over HTTP",
    ]
    for key, name in TARGETS:
        extra = f", seeding took {float(seed_s[key]):.1f} s" if seed_s[key] else ""
        lines.append(f"- {name}: {status[key]}{extra}")
    lines += [
        "",
        "Cells: requests/s · p50 · p99.",
        "",
        "| endpoint | " + " | ".join(f"{name} req/s · p50 · p99" for _, name in TARGETS)
        + " | ratio SQLite/reference | ratio PostgreSQL/reference |",
        "|---|" + "---:|" * (len(TARGETS) + 2),
    ]
    for ep, label in ENDPOINTS:
        lines.append(f"| `{label}` | " + " | ".join(cell(k, ep) for k, _ in TARGETS)
                     + f" | {ratio('sqlite', ep)} | {ratio('postgres', ep)} |")

    # Targets (reported, not enforced)
    checks = []

    def check(title, key, test, show):
        if not any((key, ep) in res for ep, _ in ENDPOINTS):
            return
        missed = [f"`{label}` ({show(ep)})" for ep, label in ENDPOINTS
                  if (key, ep) in res and not test(ep)]
        checked = sum(1 for ep, _ in ENDPOINTS if (key, ep) in res)
        mark = "met" if not missed else "MISSED"
        checks.append(f"- {mark}: {title}" + (f" on all {checked} endpoints" if not missed else ": " + ", ".join(missed)))

    for key, name in (("sqlite", "SQLite"), ("postgres", "PostgreSQL")):
        if ("reference", "products_list") in res or any(("reference", ep) in res for ep, _ in ENDPOINTS):
            check(f"{name} >= {MIN_RATIO:.0f}x the reference's req/s", key,
                  lambda ep, k=key: ("reference", ep) in res and res["reference", ep]["rps"] > 0
                  and res[k, ep]["rps"] >= MIN_RATIO * res["reference", ep]["rps"],
                  lambda ep, k=key: ratio(k, ep))
        if key == "sqlite":
            check(f"{name} >= {MIN_RPS_SQLITE:,.0f} req/s", key,
                  lambda ep, k=key: res[k, ep]["rps"] >= MIN_RPS_SQLITE,
                  lambda ep, k=key: f"{res[k, ep]['rps']:,.0f} req/s")
        check(f"{name} p99 < {MAX_P99_MS:.0f} ms", key,
              lambda ep, k=key: res[k, ep]["p99"] < MAX_P99_MS,
              lambda ep, k=key: f"{res[k, ep]['p99']:.2f} ms")
        check(f"{name} no errors", key, lambda ep, k=key: not res[k, ep]["failed"],
              lambda ep, k=key: f"{res[k, ep]['non2xx']} non-2xx, {res[k, ep]['socket_errors']} socket errors")
    if checks:
        lines += ["", "Targets (bench/README.md):", ""] + checks

    failed_rows = [(name, label) for key, name in TARGETS for ep, label in ENDPOINTS
                   if (key, ep) in res and res[key, ep]["failed"]]
    failed_targets = [name for key, name in TARGETS if status[key].startswith("failed")]
    if failed_rows or failed_targets:
        lines += ["", "**FAILURES**:", ""]
        lines += [f"- {name} `{label}`: non-2xx answers or socket errors" for name, label in failed_rows]
        lines += [f"- {name}: {status[key]}" for key, name in TARGETS if status[key].startswith("failed")]

    report = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        fh.write(report)
    sys.stdout.write(report)
    print(f"\n(written to {os.path.relpath(os.path.abspath(args.out), repo)})")
    if failed_rows or failed_targets:
        print(f"\nload.sh: {len(failed_rows)} failed row(s), {len(failed_targets)} failed target(s)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
