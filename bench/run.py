"""``make bench``: the five figures of issue 6, the slow-bodies figure of issue 10, the mail
timing and the peer comparison of issue 17 (figure 8, portal beside Flask-Security): a
table on stdout and ``bench/results.json``.

Each figure is a ratio (or, for memory, a peak checked against its model)
measured within one run, the two sides interleaved and repeated, so it holds
on a busy machine. ``BENCH_QUICK=1`` runs smaller sizes and fewer rounds
(development). ``python -m bench.run 2 4`` runs only figures 2 and 4. A quick
or partial run writes ``bench/results-dev.json`` instead, so ``results.json``
always holds a whole, full-size run.
Exit status: 0 when every figure was measured (whether or not it met its
goal), 1 when one could not be measured.
"""

from __future__ import annotations

import json
import sys
import time
import traceback

from .common import QUICK, ROOT, clean_environment, machine, need_services

RESULTS = ROOT / "bench" / "results.json"
DEV_RESULTS = ROOT / "bench" / "results-dev.json"
FIGURES = {
    1: ("Sign-in overhead", "signin"),
    2: ("Page cost", "page_cost"),
    3: ("HTMX payload", "payload"),
    4: ("Scale", "scale"),
    5: ("Memory", "memory"),
    6: ("Slow bodies", "slow_bodies"),
    7: ("Mail timing", "mail_timing"),
    8: ("Peer comparison", "peer"),
}


def _value(result: dict) -> str:
    value = result.get("value")
    if value is None:
        return "-"
    return f"{value:.0f} {result['unit']}" if result.get("unit") else f"{value:.3f}"


def table(results: dict[int, dict], info: dict) -> str:
    lines = [
        f"hubweb benchmarks{' (BENCH_QUICK=1)' if QUICK else ''}: {info['nproc']} x "
        f"{info['cpu']}, {info['ram_gib']} GiB, Python {info['python']}, "
        f"PostgreSQL {info['postgresql']}",
        "",
        f"{'#':<2} {'figure':<17} {'value':>9}  {'goal':<27} {'result':<6}",
        f"{'-' * 2} {'-' * 17} {'-' * 9}  {'-' * 27} {'-' * 6}",
    ]
    for number in sorted(results):
        r = results[number]
        # A figure of several comparisons (8: the peer) has a row for each part.
        for label, part in ([(f"{number}{'abc'[i]}", p) for i, p in enumerate(r["parts"])]
                            if "parts" in r and "error" not in r else [(str(number), r)]):
            verdict = "ERROR" if "error" in part else ("PASS" if part["pass"] else "FAIL")
            lines.append(f"{label:<2} {part['figure']:<17} {_value(part):>9}  "
                         f"{part.get('goal', ''):<27} {verdict:<6}")
    lines.append("")
    for number in sorted(results):
        r = results[number]
        lines.append(f"{number}. {r['figure']}: {r.get('detail') or r.get('error')}")
        for line in r.get("table") or ():
            lines.append(f"   {line}")
        if r.get("measured"):
            lines.append(f"   measured: {r['measured']}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    clean_environment()
    need_services()
    wanted = [int(a) for a in argv] or sorted(FIGURES)
    info = machine()
    results: dict[int, dict] = {}
    started = time.monotonic()
    out = RESULTS if not QUICK and wanted == sorted(FIGURES) else DEV_RESULTS
    for number in wanted:
        name, module = FIGURES[number]
        print(f"[{number}/{len(FIGURES)}] {name} ...", flush=True)
        t0 = time.monotonic()
        try:
            mod = __import__(f"bench.{module}", fromlist=["run"])
            results[number] = mod.run()
        except Exception as exc:  # noqa: BLE001 - report it and go on with the others
            traceback.print_exc()
            results[number] = {"figure": name, "error": f"{type(exc).__name__}: {exc}",
                               "pass": False}
        results[number]["seconds"] = round(time.monotonic() - t0, 1)
        if "error" not in results[number]:
            print(f"      {_value(results[number])} ({results[number]['detail']})", flush=True)
    if 4 in results and "plans" in results[4]:
        from .scale import print_plans

        print_plans(results[4])
    print()
    print(table(results, info))
    print(f"\n{time.monotonic() - started:.0f} s in all; written to {out.relative_to(ROOT)}")
    payload = {"machine": info, "quick": QUICK,
               "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "figures": {str(k): v for k, v in results.items()}}
    out.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
