"""Benchmarks: `python -m bench [--dates 160] [--passes 7] [--quick] [--publish]`.

One command runs every part and writes `results.json`, `results.md` and `chart.png` under
`--out` (default bench/out/, never committed); `--publish` also writes docs/benchmarks.json,
docs/benchmarks.png and the results block of docs/benchmarks.md; `--redraw` only draws
docs/benchmarks.png again from docs/benchmarks.json. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from bench import parts, report, scaling
from bench.measure import ROOT

PARTS = report.ALL_PARTS


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--dates", type=int, default=160, help="season length in dates (160)")
    parser.add_argument("--passes", type=int, default=7, help="live passes per date (7)")
    parser.add_argument("--games", type=int, help="games per date (default: the whole slate)")
    parser.add_argument("--fetch-dates", type=int, default=3, help="dates fetched live (3)")
    parser.add_argument(
        "--backfill-dates", type=int, default=160, help="dates of the backfill part (160)"
    )
    parser.add_argument(
        "--backfill-parallel",
        type=int,
        help="the backfill's max_parallel (default: the backfill command's own, 4)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=parts.REPEATS,
        help=f"runs of the floor and of lineflow, interleaved, in the processing part "
        f"({parts.REPEATS}); dlt runs once",
    )
    parser.add_argument(
        "--seasons-dates",
        type=int,
        default=480,
        help="dates of the seasons part, a multiple of 3: all of them against the first third "
        "(480: three seasons against one)",
    )
    parser.add_argument("--latency-ms", type=int, default=50, help="stand-in delay per request")
    parser.add_argument("--startup-runs", type=int, default=9, help="runs per startup command")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a small run to check the harness: 6 dates, 2 passes, 2 fetched dates, "
        "4 backfilled dates, 3 startups, seasons of 6 dates (3 x 2)",
    )
    parser.add_argument(
        "--workers",
        default=",".join(map(str, scaling.WORKERS)),
        help="the scaling part's worker counts (1,2,4)",
    )
    parser.add_argument(
        "--parts",
        default=",".join(report.DEFAULT_PARTS),
        help=f"subset of {','.join(PARTS)} (default: all but {','.join(report.OPT_IN_PARTS)})",
    )
    parser.add_argument("--no-dlt", action="store_true", help="skip dlt even when installed")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out", help="work directory")
    parser.add_argument("--reuse", action="store_true", help="reuse a season generated earlier")
    parser.add_argument("--publish", action="store_true", help="also write the results to docs/")
    parser.add_argument(
        "--redraw",
        action="store_true",
        help="measure nothing: draw docs/benchmarks.png again from docs/benchmarks.json",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.dates, args.passes, args.fetch_dates, args.startup_runs = 6, 2, 2, 3
        args.backfill_dates, args.seasons_dates = 4, 6
    if args.repeats < 1:
        parser.error(f"--repeats: at least 1, got {args.repeats}")
    if args.seasons_dates < parts.SEASONS or args.seasons_dates % parts.SEASONS:
        parser.error(f"--seasons-dates: a multiple of {parts.SEASONS}, got {args.seasons_dates}")
    chosen = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in chosen if p not in PARTS]
    if unknown:
        parser.error(f"--parts: unknown part {unknown[0]!r} (known: {', '.join(PARTS)})")
    if "rerun" in chosen and "fetch" not in chosen:
        chosen.append("fetch")  # the partition rerun is the second run of the fetched range
    args.parts = [p for p in PARTS if p in chosen]
    try:
        args.workers = scaling.parse_workers(args.workers)
    except ValueError as exc:
        parser.error(f"--workers: {exc}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return _run(args)
    except parts.BenchError as error:
        print(f"python -m bench: {error}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.redraw:  # a change to the chart's drawing, without an hour of measuring
        chart = report.DOCS / "benchmarks.png"
        if not report.redraw(report.DOCS / "benchmarks.json", chart):
            print("--redraw: needs matplotlib (pip install -e '.[bench]')", file=sys.stderr)
            return 2
        print(f"wrote {chart}")
        return 0
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "schema": 1,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": report.machine(),
        "config": {
            "dates": args.dates,
            "passes": args.passes,
            "games": args.games,
            "fetch_dates": args.fetch_dates,
            "backfill_dates": args.backfill_dates,
            "backfill_parallel": args.backfill_parallel,
            "latency_ms": args.latency_ms,
            "repeats": args.repeats,
            "seasons_dates": args.seasons_dates,
            "quick": args.quick,
            "parts": args.parts,
            "workers": list(args.workers),
        },
    }
    needs_season = {"throughput", "memory", "declarative", "scaling"} & set(
        args.parts
    ) or "rerun" in args.parts
    if needs_season:
        results["season"] = parts.season(out, args.dates, args.passes, args.games, args.reuse)
        print(parts.say_season(results["season"]), flush=True)
    if "throughput" in args.parts or "memory" in args.parts or "rerun" in args.parts:
        results["throughput"] = parts.throughput(
            out, results["season"], with_dlt=not args.no_dlt, repeats=args.repeats
        )
        print(parts.say_throughput(results["throughput"]), flush=True)
    if "fetch" in args.parts:
        results["fetch"] = parts.fetch(out, args.fetch_dates, args.latency_ms)
        print(parts.say_fetch(results["fetch"]), flush=True)
    if "backfill" in args.parts:
        results["backfill"] = parts.backfill(
            out, args.backfill_dates, args.latency_ms, args.backfill_parallel
        )
        print(parts.say_backfill(results["backfill"]), flush=True)
    if "rerun" in args.parts:
        results["rerun"] = parts.rerun(
            out, results["season"], results["throughput"], results["fetch"]
        )
        print(parts.say_rerun(results["rerun"]), flush=True)
    if "memory" in args.parts:
        results["memory"] = parts.memory(out, results["season"], results["throughput"])
        print(parts.say_memory(results["memory"]), flush=True)
    if "seasons" in args.parts:
        results["seasons"] = parts.seasons(
            out, args.seasons_dates, args.passes, args.games, args.reuse, args.repeats
        )
        print(parts.say_seasons(results["seasons"]), flush=True)
    if "startup" in args.parts:
        results["startup"] = parts.startup(args.startup_runs)
        print(parts.say_startup(results["startup"]), flush=True)
    if "declarative" in args.parts:
        results["declarative"] = parts.declarative(results["season"])
        print(parts.say_declarative(results["declarative"]), flush=True)
    if "scaling" in args.parts:
        results["scaling"] = scaling.scaling(out, results["season"], args.workers)
        print(scaling.say_scaling(results["scaling"]), flush=True)
    results["machine"]["load_after"] = report.load_average()
    results["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    results["targets"] = report.targets(results)
    written = report.write(results, out, publish=args.publish)
    for line in report.target_lines(results["targets"]):
        print(line)
    print("wrote " + ", ".join(str(p) for p in written))
    for scratch in ("homes",):
        shutil.rmtree(out / scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
