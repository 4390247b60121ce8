"""The five benchmark parts. Each returns a JSON-ready dict; `say_*` gives its one-line summary."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

from bench.measure import Measured, run_job, standin_process, startup_seconds
from bench.season import generate, season_dates

#: The stand-in's keys (its defaults); lineflow reads them from these variables in live mode.
STANDIN_KEYS = {"ODDS_API_KEY": "standin-odds-key", "BETTINGPROS_API_KEY": "standin-bp-key"}
#: Fetched dates get a live pass at this UTC hour, before any tip-off.
FETCH_HOUR = 16
MEMORY_SIZES = (1, 30, 160)
MB = 1024 * 1024


def _fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _rate(rows: int, seconds: float) -> float:
    return rows / seconds if seconds > 0 else 0.0


# -- the season -----------------------------------------------------------------------------


def season(out: Path, dates: int, passes: int, games: int | None, reuse: bool) -> dict[str, Any]:
    """Generate the synthetic season under out/season/landing (or reuse an identical one)."""
    root = out / "season"
    stamp = root / "season.json"
    wanted = {"dates": dates, "passes": passes, "games": games}
    if reuse and stamp.is_file():
        known = json.loads(stamp.read_text())
        if known.get("config") == wanted:
            return {**known["stats"], "reused": True}
    landing = _fresh(root) / "landing"
    started = time.perf_counter()
    stats = generate(landing, season_dates(dates), passes, games)
    seconds = time.perf_counter() - started
    summary = {
        "landing": str(landing),
        "dates": [d.isoformat() for d in stats.dates],
        "passes": passes,
        "games": stats.games,
        "games_per_date": stats.games / max(1, len(stats.dates)),
        "files": stats.files,
        "total_files": stats.total_files,
        "total_bytes": stats.total_bytes,
        "generate_seconds": seconds,
    }
    stamp.write_text(json.dumps({"config": wanted, "stats": summary}))
    return {**summary, "reused": False}


def say_season(s: dict[str, Any]) -> str:
    return (
        f"season: {len(s['dates'])} dates x {s['passes']} passes, {s['games']} games, "
        f"{s['total_files']:,} files, {s['total_bytes'] / MB:,.0f} MB"
        + (" (reused)" if s["reused"] else f" in {s['generate_seconds']:.0f} s")
    )


# -- 1. processing throughput ---------------------------------------------------------------


def throughput(out: Path, s: dict[str, Any], with_dlt: bool) -> dict[str, Any]:
    """lineflow's processing stages, the DuckDB floor and dlt over the same landed files."""
    homes = out / "homes"
    lineflow = run_job(
        "lineflow",
        {"home": str(_fresh(homes / "season")), "landing": s["landing"], "dates": s["dates"]},
    )
    rows = int(lineflow.result["rows"])
    floor = run_job(
        "floor", {"landing": s["landing"], "db": str(_fresh(homes / "floor") / "floor.duckdb")}
    )
    result: dict[str, Any] = {
        "canonical_rows": rows,
        "staged_rows": lineflow.result["staged_rows"],
        "lineflow": _tool(lineflow, rows) | {"stages": lineflow.result["stages"]},
        "floor": _tool(floor, rows) | {"tables": floor.result["tables"]},
    }
    result["lineflow_over_floor"] = lineflow.result["seconds"] / floor.result["seconds"]
    if not with_dlt:
        result["dlt"] = {"skipped": "--no-dlt given"}
    elif importlib.util.find_spec("dlt") is None:
        result["dlt"] = {"skipped": "dlt is not installed (pip install -e '.[bench]')"}
    else:
        dlt = run_job("dlt", {"landing": s["landing"], "dir": str(_fresh(homes / "dlt"))})
        result["dlt"] = _tool(dlt, rows) | {
            "version": dlt.result["version"],
            "tables": dlt.result["tables"],
        }
        result["dlt_over_lineflow"] = dlt.result["seconds"] / lineflow.result["seconds"]
    result["_lineflow_per_date"] = lineflow.result["per_date"]
    return result


def _tool(measured: Measured, rows: int) -> dict[str, Any]:
    seconds = float(measured.result["seconds"])
    return {
        "seconds": seconds,
        "rows_per_second": _rate(rows, seconds),
        "process_wall_seconds": measured.wall_seconds,
        "peak_rss_bytes": measured.peak_rss_bytes,
    }


def say_throughput(t: dict[str, Any]) -> str:
    parts = [f"throughput over {t['canonical_rows']:,} canonical rows:"]
    for name in ("floor", "lineflow", "dlt"):
        tool = t[name]
        if "skipped" in tool:
            parts.append(f"{name} skipped ({tool['skipped']})")
        else:
            parts.append(f"{name} {tool['seconds']:.1f} s ({tool['rows_per_second']:,.0f} rows/s)")
    return " ".join(parts)


# -- 2. fetch, live against the stand-in ----------------------------------------------------


def fetch(out: Path, dates: int, latency_ms: int) -> dict[str, Any]:
    """Full live `lineflow run`s against a stand-in process that delays every answer."""
    home = _fresh(out / "homes" / "fetch")
    days = [d.isoformat() for d in season_dates(dates)]
    with standin_process(latency_ms, STANDIN_KEYS) as url:
        measured = run_job(
            "pipeline",
            {"home": str(home), "standin": url, "dates": days, "hour": FETCH_HOUR},
            env=STANDIN_KEYS,
        )
    latency = latency_ms / 1000
    first = measured.result["first"]
    limits = _rate_limits()
    for run in first:
        # Per source, whichever is larger: requests x latency / concurrency, or the configured
        # rate limit (requests beyond the burst at `per_second`); sources run one after another.
        run["bound_seconds"] = sum(
            max(
                src["requests"] * latency / src["concurrency"],
                _rate_bound(src["requests"], *limits.get(name, (None, 0))),
            )
            for name, src in run["scrape"].items()
        )
        run["plan_bound_seconds"] = _plan_bound(run, latency)
        run["scrape_seconds"] = sum(src["seconds"] for src in run["scrape"].values())
    requests = sum(r["requests"] for r in first)
    scrape = sum(r["scrape_seconds"] for r in first)
    bound = sum(r["bound_seconds"] for r in first)
    plan_bound = sum(r["plan_bound_seconds"] for r in first)
    wall = sum(r["seconds"] for r in first)
    return {
        "dates": days,
        "latency_ms": latency_ms,
        "requests": requests,
        "scrape_seconds": scrape,
        "run_seconds": wall,
        "bound_seconds": bound,
        "plan_bound_seconds": plan_bound,
        "scrape_over_bound": scrape / bound if bound else None,
        "scrape_over_plan_bound": scrape / plan_bound if plan_bound else None,
        "runs": first,
        "_second": measured.result["second"],
    }


def _rate_limits() -> dict[str, tuple[float | None, int]]:
    """Each source's configured requests per second and burst."""
    from lineflow.config import compose

    settings = compose([])
    limits: dict[str, tuple[float | None, int]] = {}
    for name, source in settings.sources.items():
        limit = getattr(source, "rate_limit", None)
        limits[name] = (getattr(limit, "per_second", None), int(getattr(limit, "burst", 0) or 0))
    return limits


def _rate_bound(requests: int, per_second: float | None, burst: int) -> float:
    if not per_second:
        return 0.0
    return max(0, requests - burst) / per_second


def _plan_bound(run: dict[str, Any], latency: float) -> float:
    """The plan's own floor: a call waits for the one it depends on (events, then pages)."""
    shape, scrape = run["plan"], run["scrape"]
    total = 0.0
    if "odds_api" in scrape:
        c = scrape["odds_api"]["concurrency"]
        total += (shape["odds_api_events"] + math.ceil(shape["odds_api_props"] / c)) * latency
    if "bettingpros" in scrape:
        c = scrape["bettingpros"]["concurrency"]
        rounds = shape["bettingpros_events"] + sum(
            1 + math.ceil((pages - 1) / c) for pages in shape["bettingpros_pages"].values()
        )
        total += rounds * latency
    return total


def ratio_text(value: float | None) -> str:
    return "n/a" if value is None else f"x{value:.2f}"


def say_fetch(f: dict[str, Any]) -> str:
    return (
        f"fetch: {len(f['dates'])} dates, {f['requests']} requests at {f['latency_ms']} ms: "
        f"scrape {f['scrape_seconds']:.2f} s, bound {f['bound_seconds']:.2f} s "
        f"({ratio_text(f['scrape_over_bound'])}), plan bound {f['plan_bound_seconds']:.2f} s "
        f"({ratio_text(f['scrape_over_plan_bound'])}); whole runs {f['run_seconds']:.2f} s"
    )


# -- 3. rerun cost --------------------------------------------------------------------------


def rerun(out: Path, s: dict[str, Any], t: dict[str, Any], f: dict[str, Any]) -> dict[str, Any]:
    """Second runs: one complete partition, the fetched range, and the processed season."""
    first, second = f["runs"], f["_second"]
    season_first = t["lineflow"]["seconds"]
    again = run_job(
        "lineflow",
        {"home": str(out / "homes" / "season"), "landing": s["landing"], "dates": s["dates"]},
    )
    if again.result["rows"] != t["canonical_rows"]:
        raise RuntimeError(
            f"the season rerun left {again.result['rows']} rows, not {t['canonical_rows']}"
        )
    return {
        "partition": _compare(first[:1], second[:1]),
        "range": _compare(first, second),
        "season_processing": {
            "first_seconds": season_first,
            "second_seconds": again.result["seconds"],
            "ratio": again.result["seconds"] / season_first,
            "requests": 0,
            "files_processed_again": again.result["files"],
        },
    }


def _compare(first: list[dict[str, Any]], second: list[dict[str, Any]]) -> dict[str, Any]:
    a = sum(r["seconds"] for r in first)
    b = sum(r["seconds"] for r in second)
    return {
        "dates": [r["date"] for r in first],
        "first_seconds": a,
        "second_seconds": b,
        "ratio": b / a,
        "first_requests": sum(r["requests_seen_by_standin"] for r in first),
        "requests": sum(r["requests_seen_by_standin"] for r in second),
        "rows_equal": [r["rows"] for r in first] == [r["rows"] for r in second],
    }


def say_rerun(r: dict[str, Any]) -> str:
    p, g, s = r["partition"], r["range"], r["season_processing"]
    return (
        f"rerun: partition {p['second_seconds'] * 1000:.0f} ms = {p['ratio']:.1%} of "
        f"{p['first_seconds']:.2f} s, {p['requests']} requests; range {g['ratio']:.1%}, "
        f"{g['requests']} requests; season processing {s['second_seconds']:.2f} s = "
        f"{s['ratio']:.1%} of {s['first_seconds']:.1f} s"
    )


# -- 4. memory ------------------------------------------------------------------------------


def memory(out: Path, s: dict[str, Any], t: dict[str, Any]) -> dict[str, Any]:
    """Peak RSS of the processing stages over 1, 30 and all dates, each in its own process."""
    dates = s["dates"]
    sizes = sorted({min(n, len(dates)) for n in MEMORY_SIZES})
    points = []
    for n in sizes:
        if n == len(dates):  # the throughput run was exactly this job
            peak, seconds = t["lineflow"]["peak_rss_bytes"], t["lineflow"]["seconds"]
        else:
            home = _fresh(out / "homes" / f"memory-{n}")
            job = run_job(
                "lineflow", {"home": str(home), "landing": s["landing"], "dates": dates[:n]}
            )
            peak, seconds = job.peak_rss_bytes, job.result["seconds"]
        points.append({"dates": n, "peak_rss_bytes": peak, "seconds": seconds})
    return {"points": points, "growth": points[-1]["peak_rss_bytes"] / points[0]["peak_rss_bytes"]}


def say_memory(m: dict[str, Any]) -> str:
    shown = ", ".join(f"{p['dates']} dates {p['peak_rss_bytes'] / MB:.0f} MB" for p in m["points"])
    return f"memory: {shown} (x{m['growth']:.2f})"


# -- 5. startup -----------------------------------------------------------------------------


def startup(runs: int) -> dict[str, Any]:
    return {
        "help": startup_seconds(["--help"], runs),
        "run_help": startup_seconds(["run", "--help"], runs),
    }


def say_startup(s: dict[str, Any]) -> str:
    return "startup: " + ", ".join(
        f"`{v['command']}` {v['median_seconds'] * 1000:.0f} ms" for v in s.values()
    )
