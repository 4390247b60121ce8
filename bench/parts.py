"""The benchmark parts. Each returns a JSON-ready dict; `say_*` gives its one-line summary."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import statistics
import time
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

import httpx

from bench.measure import (
    Measured,
    against_floor,
    lineflow_command,
    run_command,
    run_job,
    standin_process,
    startup_seconds,
)
from bench.season import generate, season_dates

#: The stand-in's keys (its defaults); lineflow reads them from these variables in live mode.
STANDIN_KEYS = {"ODDS_API_KEY": "standin-odds-key", "BETTINGPROS_API_KEY": "standin-bp-key"}
#: Fetched dates get a live pass at this UTC hour, before any tip-off.
FETCH_HOUR = 16
MEMORY_SIZES = (1, 30, 160)
#: Runs of each of the floor and lineflow in the processing comparison (`--repeats`).
REPEATS = 3
MB = 1024 * 1024


class BenchError(RuntimeError):
    """A run the bench refuses before measuring anything (one line, exit 2)."""


def _fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _rate(rows: int, seconds: float) -> float:
    return rows / seconds if seconds > 0 else 0.0


# -- the season -----------------------------------------------------------------------------


def season(
    out: Path, dates: int, passes: int, games: int | None, reuse: bool, name: str = "season"
) -> dict[str, Any]:
    """Generate the synthetic season under out/NAME/landing (or reuse an identical one)."""
    root = out / name
    stamp = root / "season.json"
    wanted = {"dates": dates, "passes": passes, "games": games}
    if reuse and stamp.is_file():
        known = json.loads(stamp.read_text())
        if known.get("config") == wanted:
            return {**known["stats"], "reused": True}
    out.mkdir(parents=True, exist_ok=True)  # the disk check asks the folder's file system
    _check_room(out, dates, passes, games)
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


#: Landed bytes per date and live pass with the whole slate (160 x 7 passes: 1,355 MB).
BYTES_PER_DATE_PASS = 1.25 * MB
#: Games a date on a whole slate, at most (datagen: 7-9).
SLATE_GAMES = 9


def _check_room(out: Path, dates: int, passes: int, games: int | None) -> None:
    """Refuse to start a season the disk cannot hold: its files, and as much again for the
    warehouses built from them (a 160-date warehouse is about a sixth of its landed JSON)."""
    share_of_slate = min(games, SLATE_GAMES) / SLATE_GAMES if games else 1.0
    landed = dates * passes * BYTES_PER_DATE_PASS * share_of_slate
    free = shutil.disk_usage(out).free
    if free < 2 * landed:
        raise BenchError(
            f"{dates} dates x {passes} passes need about {2 * landed / 1024**3:.1f} GB "
            f"(landed files and warehouses), {out} has {free / 1024**3:.1f} GB free"
        )


def say_season(s: dict[str, Any]) -> str:
    return (
        f"season: {len(s['dates'])} dates x {s['passes']} passes, {s['games']} games, "
        f"{s['total_files']:,} files, {s['total_bytes'] / MB:,.0f} MB"
        + (" (reused)" if s["reused"] else f" in {s['generate_seconds']:.0f} s")
    )


# -- 1. processing throughput ---------------------------------------------------------------


def _read_once(landing: Path) -> None:
    """Every landed file read once, untimed, so that each measured run finds the season in the
    page cache: the first floor run of a pair sequence took 5.5 s against 3.6-3.9 s for the
    next ones (its pair's ratio 1.65x against 2.43-2.58x), after a job that had pushed the
    files out."""
    for path in landing.rglob("*"):
        if path.is_file():
            path.read_bytes()


def throughput(
    out: Path, s: dict[str, Any], with_dlt: bool, repeats: int = REPEATS
) -> dict[str, Any]:
    """lineflow's processing stages, the DuckDB floor and dlt over the same landed files.

    The floor and lineflow run `repeats` times each, interleaved (floor, lineflow, floor, ...),
    each run into a fresh warehouse: a load that comes and goes on a shared machine weighs on
    both of a pair alike. The ratio is taken per pair and the median of the pair ratios is the
    headline; each tool's figures are its median run's, every run is kept. dlt (most of an hour
    at 160 dates) runs once, against lineflow's median time. The last lineflow run's warehouse
    stays for the parts that build on it (storage, rerun)."""
    if repeats < 1:
        raise ValueError(f"repeats: at least 1, got {repeats}")
    homes = out / "homes"
    floors: list[Measured] = []
    lineflows: list[Measured] = []
    _read_once(Path(s["landing"]))
    for _ in range(repeats):
        floors.append(
            run_job(
                "floor",
                {"landing": s["landing"], "db": str(_fresh(homes / "floor") / "floor.duckdb")},
            )
        )
        lineflows.append(
            run_job(
                "lineflow",
                {
                    "home": str(_fresh(homes / "season")),
                    "landing": s["landing"],
                    "dates": s["dates"],
                },
            )
        )
    counted = {int(m.result["rows"]) for m in lineflows}
    if len(counted) != 1:
        raise RuntimeError(f"the processing runs left different row counts: {sorted(counted)}")
    rows = counted.pop()
    last = lineflows[-1].result
    pairs = [
        {
            "floor_seconds": float(f.result["seconds"]),
            "lineflow_seconds": float(lf.result["seconds"]),
            "ratio": float(lf.result["seconds"]) / float(f.result["seconds"]),
        }
        for f, lf in zip(floors, lineflows, strict=True)
    ]
    ratios = [p["ratio"] for p in pairs]
    result: dict[str, Any] = {
        "canonical_rows": rows,
        "staged_rows": last["staged_rows"],
        "repeats": repeats,
        "lineflow": _repeated(lineflows, rows) | {"stages": last["stages"], "via": last["via"]},
        "floor": _repeated(floors, rows) | {"tables": floors[-1].result["tables"]},
        "pairs": pairs,
        "lineflow_over_floor": statistics.median(ratios),
        "lineflow_over_floor_range": [min(ratios), max(ratios)],
    }
    lineflow_seconds = result["lineflow"]["seconds"]
    # Informational: what DuckDB alone takes to store lineflow's rows the way lineflow does.
    storage = run_job(
        "storage",
        {
            "source_db": str(homes / "season" / "lineflow.duckdb"),
            "home": str(_fresh(homes / "storage")),
            "dates": s["dates"],
        },
    )
    result["storage"] = _tool(storage, rows)
    result["lineflow_over_storage"] = lineflow_seconds / storage.result["seconds"]
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
        result["dlt_over_lineflow"] = dlt.result["seconds"] / lineflow_seconds
    result["_lineflow_per_date"] = last["per_date"]
    return result


def _repeated(runs: list[Measured], rows: int) -> dict[str, Any]:
    """A tool's median run (seconds, rate, memory) and every run's figures."""
    each = [_tool(m, rows) for m in runs]
    seconds = [t["seconds"] for t in each]
    return {
        "seconds": statistics.median(seconds),
        "seconds_range": [min(seconds), max(seconds)],
        "rows_per_second": _rate(rows, statistics.median(seconds)),
        "process_wall_seconds": statistics.median(t["process_wall_seconds"] for t in each),
        "peak_rss_bytes": int(statistics.median(t["peak_rss_bytes"] for t in each)),
        "runs": each,
    }


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
    for name in ("floor", "storage", "lineflow", "dlt"):
        if name not in t:
            continue
        tool = t[name]
        if "skipped" in tool:
            parts.append(f"{name} skipped ({tool['skipped']})")
        else:
            spread = tool.get("seconds_range")
            shown = f" [{spread[0]:.1f}-{spread[1]:.1f}]" if spread else ""
            parts.append(
                f"{name} {tool['seconds']:.1f} s{shown} ({tool['rows_per_second']:,.0f} rows/s)"
            )
    low, high = t["lineflow_over_floor_range"]
    parts.append(
        f"; lineflow/floor {t['lineflow_over_floor']:.2f}x (median of {t['repeats']} pairs, "
        f"{low:.2f}-{high:.2f}x)"
    )
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


def share(part: float, whole: float) -> float | None:
    """`part / whole`, or None where there is nothing to compare (no dates, nothing timed)."""
    return part / whole if whole > 0 else None


def percent_text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def say_fetch(f: dict[str, Any]) -> str:
    return (
        f"fetch: {len(f['dates'])} dates, {f['requests']} requests at {f['latency_ms']} ms: "
        f"scrape {f['scrape_seconds']:.2f} s, bound {f['bound_seconds']:.2f} s "
        f"({ratio_text(f['scrape_over_bound'])}), plan bound {f['plan_bound_seconds']:.2f} s "
        f"({ratio_text(f['scrape_over_plan_bound'])}); whole runs {f['run_seconds']:.2f} s"
    )


# -- 2b. a backfill against the rate-limit bound --------------------------------------------

#: Which stand-in paths belong to which source (the request log has paths, not sources).
SOURCE_PATHS = {"odds_api": "/v4/", "bettingpros": "/v3/"}
#: Stand-in credits for a backfill: a historical event-odds call costs 10 x markets x regions.
BACKFILL_QUOTA = 1_000_000_000


def backfill(out: Path, dates: int, latency_ms: int, max_parallel: int | None) -> dict[str, Any]:
    """`lineflow backfill` (the CLI, as a user runs it) of `dates` season dates, live against
    a stand-in process that delays every answer, with the default config's rate limits; then
    the same command again (every partition complete: nothing to ask)."""
    from lineflow.config import compose
    from lineflow.pipeline.backfill import BackfillRequest

    home = _fresh(out / "homes" / "backfill")
    days = season_dates(dates)
    defaults = BackfillRequest.model_validate({"start": days[0], "end": days[-1]})
    settings = compose([])
    limits: dict[str, dict[str, Any]] = {
        name: {
            "per_second": settings.sources[name].rate_limit.per_second,
            "burst": settings.sources[name].rate_limit.burst,
            "concurrency": settings.sources[name].concurrency,
        }
        for name in defaults.sources
    }
    # The stand-in's clock is past the range (its archive ends at its present).
    now = datetime.combine(days[-1] + timedelta(days=2), dtime(12), UTC)
    with standin_process(latency_ms, STANDIN_KEYS) as url:
        command = [
            *lineflow_command(),
            "backfill",
            f"start={days[0]}",
            f"end={days[-1]}",
            *([f"max_parallel={max_parallel}"] if max_parallel else []),
            f"home={home}",
            "http.mode=live",
            *(f"sources.{name}.base_url={url}" for name in defaults.sources),
        ]
        with httpx.Client(base_url=url, timeout=30) as control:
            control.post(
                "/__standin__/control",
                json={"now": now.isoformat(), "quota": BACKFILL_QUOTA, "clear_log": True},
            ).raise_for_status()
            first = run_command(command, STANDIN_KEYS, marker="backfill bf-")
            log = control.get("/__standin__/log").json()
            stages = _stage_times(home / "lineflow.duckdb")
            partitions = _partitions(home / "state.sqlite")
            control.post("/__standin__/control", json={"clear_log": True}).raise_for_status()
            again = run_command(command, STANDIN_KEYS, marker="backfill bf-")
            log_again = control.get("/__standin__/log").json()
    latency = latency_ms / 1000
    per_source: dict[str, Any] = {}
    for name, limit in limits.items():
        n = sum(entry["path"].startswith(SOURCE_PATHS[name]) for entry in log)
        by_rate = _rate_bound(n, limit["per_second"], limit["burst"])
        by_latency = n * latency / limit["concurrency"]
        per_source[name] = {
            **limit,
            "requests": n,
            "rate_bound_seconds": by_rate,
            "latency_bound_seconds": by_latency,
            "bound_seconds": max(by_rate, by_latency),
        }
    bound = sum(src["bound_seconds"] for src in per_source.values())
    wall = first.wall_seconds
    fetch = stages["fetch_busy_seconds"]
    return {
        "dates": [d.isoformat() for d in days],
        "latency_ms": latency_ms,
        "max_parallel": max_parallel or defaults.max_parallel,
        "snapshot": defaults.snapshot,
        "rate_limits_from": "the default config (conf/source/*.yaml), no override",
        "command": "lineflow backfill start={} end={}{} home=... http.mode=live "
        "sources.odds_api.base_url=STANDIN".format(
            days[0], days[-1], f" max_parallel={max_parallel}" if max_parallel else ""
        ),
        "requests": len(log),
        "requests_by_manifest": sum(p["requests"] for p in partitions),
        "partitions": len(partitions),
        "complete": sum(p["status"] == "complete" for p in partitions),
        "rows": sum(p["rows"] for p in partitions),
        "sources": per_source,
        "bound_seconds": bound,
        "wall_seconds": wall,
        "startup_seconds": first.marker_seconds,
        "wall_over_bound": wall / bound if bound else None,
        "fetch_busy_seconds": fetch,
        "fetch_over_bound": fetch / bound if bound else None,
        "stage_seconds": stages["stage_seconds"],
        "peak_rss_bytes": first.peak_rss_bytes,
        "again": {
            "wall_seconds": again.wall_seconds,
            "requests": len(log_again),
            "skipped_all": f"0 partitions to run, {len(partitions)} skipped" in again.stdout,
        },
    }


def _stage_times(warehouse: Path) -> dict[str, Any]:
    """From run_history: the time some partition was scraping (the union of the scrape
    stages' intervals) and the summed seconds of each stage."""
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            "SELECT phase, epoch(started_at), epoch(finished_at) FROM run_history ORDER BY 2"
        ).fetchall()
    finally:
        con.close()
    busy, end = 0.0, -math.inf
    seconds: dict[str, float] = {}
    for phase, start, finish in rows:
        seconds[phase] = seconds.get(phase, 0.0) + (finish - start)
        if phase == "scrape":
            busy += max(0.0, finish - max(start, end))
            end = max(end, finish)
    return {"fetch_busy_seconds": busy, "stage_seconds": seconds}


def _partitions(state: Path) -> list[dict[str, Any]]:
    import sqlite3

    con = sqlite3.connect(state)
    con.row_factory = sqlite3.Row
    try:
        rows = con.execute("SELECT * FROM backfill_partitions ORDER BY slate_date").fetchall()
    finally:
        con.close()
    return [dict(r) for r in rows]


def say_backfill(b: dict[str, Any]) -> str:
    return (
        f"backfill: {len(b['dates'])} dates, max_parallel={b['max_parallel']}, "
        f"{b['requests']} requests at {b['latency_ms']} ms: wall {b['wall_seconds']:.2f} s, "
        f"bound {b['bound_seconds']:.2f} s ({ratio_text(b['wall_over_bound'])}); fetching "
        f"{b['fetch_busy_seconds']:.2f} s ({ratio_text(b['fetch_over_bound'])}); again "
        f"{b['again']['wall_seconds']:.2f} s, {b['again']['requests']} requests"
    )


# -- 3. rerun cost --------------------------------------------------------------------------


def rerun(out: Path, s: dict[str, Any], t: dict[str, Any], f: dict[str, Any]) -> dict[str, Any]:
    """Second runs: one complete partition, the fetched range, and the processed season."""
    first, second = f["runs"], f["_second"]
    season_first = t["lineflow"]["seconds"]
    again = run_job(
        "lineflow",
        {
            "home": str(out / "homes" / "season"),
            "landing": s["landing"],
            "dates": s["dates"],
            "via": "runner",
        },
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
            "ratio": share(again.result["seconds"], season_first),
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
        "ratio": share(b, a),
        "first_requests": sum(r["requests_seen_by_standin"] for r in first),
        "requests": sum(r["requests_seen_by_standin"] for r in second),
        "rows_equal": [r["rows"] for r in first] == [r["rows"] for r in second],
    }


def say_rerun(r: dict[str, Any]) -> str:
    p, g, s = r["partition"], r["range"], r["season_processing"]
    return (
        f"rerun: partition {p['second_seconds'] * 1000:.0f} ms = {percent_text(p['ratio'])} of "
        f"{p['first_seconds']:.2f} s, {p['requests']} requests; range "
        f"{percent_text(g['ratio'])}, {g['requests']} requests; season processing "
        f"{s['second_seconds']:.2f} s = {percent_text(s['ratio'])} of {s['first_seconds']:.1f} s"
    )


# -- 4. memory ------------------------------------------------------------------------------


def memory(out: Path, s: dict[str, Any], t: dict[str, Any]) -> dict[str, Any]:
    """Peak RSS of the processing stages over 1, 30 and all dates, each in its own process."""
    dates = s["dates"]
    sizes = sorted({min(n, len(dates)) for n in MEMORY_SIZES})
    points = []
    for n in sizes:
        if n == len(dates):  # the throughput runs were exactly this job: their median
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


# -- 4b. three seasons ---------------------------------------------------------------------

#: Seasons in the scaling-in-size part: its dates against a third of them (480 vs 160).
SEASONS = 3


def seasons(
    out: Path, dates: int, passes: int, games: int | None, reuse: bool, repeats: int = REPEATS
) -> dict[str, Any]:
    """Processing three seasons' worth of dates against one season's: `dates` consecutive
    dates (480: from the 2025-26 opening night through February 2027, every date with a
    slate) generated under out/seasons/landing, then lineflow's processing job over the first
    date, the first third and all of them, each into a fresh warehouse in its own process,
    `repeats` times in that order. Per repeat: the time per canonical row of all the dates
    over the third's, and peak memory of all the dates over one date's; the medians are
    the figures, every run is kept."""
    if dates < SEASONS or dates % SEASONS:
        raise ValueError(f"seasons: dates a multiple of {SEASONS}, got {dates}")
    landed = season(out, dates, passes, games, reuse, name="seasons")
    days = landed["dates"]
    sizes = (1, dates // SEASONS, dates)
    repeats_run: list[dict[str, Any]] = []
    for _ in range(repeats):
        points = []
        for n in sizes:
            job = run_job(
                "lineflow",
                {
                    "home": str(_fresh(out / "homes" / "seasons")),
                    "landing": landed["landing"],
                    "dates": days[:n],
                },
            )
            seconds, rows = float(job.result["seconds"]), int(job.result["rows"])
            points.append(
                {"dates": n, "seconds": seconds, "rows": rows, "peak_rss_bytes": job.peak_rss_bytes}
            )
        one, third, whole = points
        repeats_run.append(
            {
                "points": points,
                "per_row_ratio": share(_per_row(whole), _per_row(third)),
                "memory_growth": whole["peak_rss_bytes"] / one["peak_rss_bytes"],
            }
        )
    per_row = [r["per_row_ratio"] for r in repeats_run if r["per_row_ratio"] is not None]
    growth = [r["memory_growth"] for r in repeats_run]
    return {
        "dates": dates,
        "reference_dates": dates // SEASONS,
        "first_date": days[0],
        "last_date": days[-1],
        "passes": passes,
        "games": landed["games"],
        "total_files": landed["total_files"],
        "total_bytes": landed["total_bytes"],
        "generate_seconds": landed["generate_seconds"],
        "reused": landed["reused"],
        "repeats": repeats,
        "per_row_ratio": statistics.median(per_row) if per_row else None,
        "per_row_ratio_range": [min(per_row), max(per_row)] if per_row else None,
        "memory_growth": statistics.median(growth),
        "memory_growth_range": [min(growth), max(growth)],
        "points": [
            {
                "dates": n,
                "rows": repeats_run[0]["points"][i]["rows"],
                "seconds": statistics.median(r["points"][i]["seconds"] for r in repeats_run),
                "peak_rss_bytes": int(
                    statistics.median(r["points"][i]["peak_rss_bytes"] for r in repeats_run)
                ),
            }
            for i, n in enumerate(sizes)
        ],
        "runs": repeats_run,
    }


def _per_row(point: dict[str, Any]) -> float:
    return point["seconds"] / point["rows"] if point["rows"] else 0.0


def say_seasons(z: dict[str, Any]) -> str:
    one, third, whole = z["points"]
    return (
        f"seasons: {z['dates']} dates ({z['total_bytes'] / MB:,.0f} MB"
        + (", reused" if z["reused"] else f", generated in {z['generate_seconds']:.0f} s")
        + f"), {whole['rows']:,} rows in {whole['seconds']:.1f} s; {third['dates']} dates "
        f"{third['rows']:,} rows in {third['seconds']:.1f} s: time per row "
        f"{ratio_text(z['per_row_ratio'])}; memory {one['peak_rss_bytes'] / MB:.0f} -> "
        f"{whole['peak_rss_bytes'] / MB:.0f} MB (x{z['memory_growth']:.2f}); medians of "
        f"{z['repeats']}"
    )


# -- 5. startup -----------------------------------------------------------------------------


#: The offline demo's partition (README: the first command a user runs).
DEMO_DATE = "2026-01-23"
#: Issue #23's targets for the quick commands, each against the import floor.
STATUS_OVER_FLOOR = 1.4
COMPLETE_OVER_FLOOR = 1.4
DEMO_OVER_FLOOR = 3.0


def startup(runs: int) -> dict[str, Any]:
    """The help screens' time, and `status` and the offline demo against the import floor
    (`against_floor`): the demo is README's first command, `lineflow run date=...` in an empty
    folder (a fresh home, `var/`, under it); `status` reads the home of one such run."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="lineflow-startup-") as scratch:
        folders = Path(scratch)

        def demo(i: int) -> tuple[list[str], Path]:
            fresh = folders / f"demo-{i}"
            fresh.mkdir()
            return ["run", f"date={DEMO_DATE}"], fresh

        def complete(_i: int) -> tuple[list[str], Path]:
            # The demo's first home again: every stage's work is done (its complete record).
            return ["run", f"date={DEMO_DATE}"], folders / "demo-0"

        def status(_i: int) -> tuple[list[str], Path]:
            return ["status", f"date={DEMO_DATE}"], folders / "demo-0"

        result = {
            "help": startup_seconds(["--help"], runs),
            "run_help": startup_seconds(["run", "--help"], runs),
            "demo": against_floor(f"run date={DEMO_DATE}", demo, runs, "on a fresh home"),
            "complete": against_floor(
                f"run date={DEMO_DATE}", complete, runs, "on a complete partition"
            ),
            "status": against_floor(f"status date={DEMO_DATE}", status, runs),
        }
    result["demo"]["target"] = DEMO_OVER_FLOOR
    result["complete"]["target"] = COMPLETE_OVER_FLOOR
    result["status"]["target"] = STATUS_OVER_FLOOR
    return result


def say_startup(s: dict[str, Any]) -> str:
    return "startup: " + ", ".join(
        f"`{v['command']}` {v['median_seconds'] * 1000:.0f} ms"
        + (
            f" ({v['over_floor']:.2f}x the import floor, CPU {v['cpu_over_floor']:.2f}x)"
            if "over_floor" in v
            else ""
        )
        for v in s.values()
    )


# -- 6. the declarative parser --------------------------------------------------------------

#: Files a batch parser gets at once, as the process stage hands them (BATCH_FILES).
PARSE_BATCH = 500
PARSE_REPEATS = 3


def declarative(s: dict[str, Any]) -> dict[str, Any]:
    """Parsing the season's Odds API event-odds files with the module parser and with the same
    source declared in YAML (conf/source/odds_api_rest.yaml), in this process, bodies already
    in memory, batches of 500 as `process` parses them; best of three. DraftKings (declared
    only) parses boards the stand-in renders for the season's dates, for scale."""
    from lineflow import sources
    from lineflow.config import compose
    from lineflow.landing import pass_time
    from lineflow.sources.base import FileMeta, ParseContext
    from tests.support.standin import draftkings

    module_cfg = compose(["home=var"]).sources["odds_api"]
    declared_cfg = compose(["home=var", "source@sources.odds_api=odds_api_rest"]).sources[
        "odds_api"
    ]
    landing = Path(s["landing"]) / "odds_api" / "player_props"
    items = []
    for path in sorted(landing.rglob("*.json")):
        day, pid = path.parent.parent.name, path.parent.name
        meta = FileMeta(path.name, "odds_api", "player_props", _date(day), pass_time(pid))
        items.append((path.read_bytes(), meta))
    ctx = ParseContext(markets=module_cfg.markets, books=module_cfg.books)
    module = sources.load(module_cfg).prop_batch_parsers["player_props"]
    declared = sources.load(declared_cfg).prop_batch_parsers["player_props"]
    # Alternated, best of three each: a load that comes and goes on a shared machine weighs on
    # both alike.
    timed: dict[str, dict[str, Any]] = {}
    for _ in range(PARSE_REPEATS):
        for name, parser in (("module", module), ("declared", declared)):
            once = _parse_time(parser, items, ctx, repeats=1)
            if name not in timed or once["seconds"] < timed[name]["seconds"]:
                timed[name] = once
    dk_cfg = compose(["home=var"]).sources["draftkings"]
    dk_items = []
    for day in s["dates"]:
        at = datetime.combine(_date(day), dtime(FETCH_HOUR), UTC)
        meta = FileMeta("dk", "draftkings", "props", _date(day), at)
        dk_items += [(draftkings.body(sub, at), meta) for sub in draftkings.SUBCATEGORIES]
    dk_parser = sources.load(dk_cfg).prop_batch_parsers["props"]
    dk = _parse_time(dk_parser, dk_items, ParseContext(markets=dk_cfg.markets))
    ratio = timed["declared"]["seconds"] / timed["module"]["seconds"]
    return {
        "files": len(items),
        "bytes": sum(len(b) for b, _ in items),
        "odds_api_module": timed["module"],
        "odds_api_declared": timed["declared"],
        "declared_over_module": ratio,
        "draftkings_declared": {**dk, "files": len(dk_items)},
    }


def _date(text: str) -> Any:
    from datetime import date

    return date.fromisoformat(text)


def _parse_time(
    parser: Any, items: list[Any], ctx: Any, repeats: int = PARSE_REPEATS
) -> dict[str, Any]:
    """Best of `repeats`: seconds and rows of parsing every item, a batch at a time."""
    best, rows = math.inf, 0
    for _ in range(repeats):
        started = time.perf_counter()
        rows = 0
        for i in range(0, len(items), PARSE_BATCH):
            parsed = parser(items[i : i + PARSE_BATCH], ctx)
            if parsed.errors:
                raise RuntimeError(f"parse errors in the season: {parsed.errors}")
            rows += parsed.frame.height
        best = min(best, time.perf_counter() - started)
    return {"seconds": best, "rows": rows, "rows_per_s": _rate(rows, best)}


def say_declarative(d: dict[str, Any]) -> str:
    m, y, k = d["odds_api_module"], d["odds_api_declared"], d["draftkings_declared"]
    return (
        f"declarative parser: the Odds API's {d['files']:,} files, module {m['rows_per_s']:,.0f}"
        f" rows/s, declared {y['rows_per_s']:,.0f} rows/s ({d['declared_over_module']:.2f}x the "
        f"module's time); DraftKings (declared) {k['rows_per_s']:,.0f} rows/s over "
        f"{k['files']} boards"
    )
