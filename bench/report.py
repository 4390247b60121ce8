"""Results: machine facts, the targets, and the files (JSON, a Markdown block, a chart)."""

from __future__ import annotations

import json
import os
import platform
import re
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.measure import FLOOR_IMPORTS, ROOT
from bench.parts import percent_text, ratio_text, share
from bench.scaling import WORKERS, markdown_lines

MB = 1024 * 1024
DOCS = ROOT / "docs"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
#: Every part, in order (bench/__main__.py's PARTS); a run of fewer says which.
ALL_PARTS = (
    "throughput",
    "fetch",
    "backfill",
    "rerun",
    "memory",
    "seasons",
    "startup",
    "declarative",
    "scaling",
)
#: Parts run only when `--parts` names them: scaling starts a Postgres and a Ray cluster and runs
#: the season seven times (docs/benchmarks.md, scaling).
OPT_IN_PARTS = ("scaling",)
DEFAULT_PARTS = tuple(p for p in ALL_PARTS if p not in OPT_IN_PARTS)
_PACKAGES = ("lineflow", "duckdb", "polars", "pyarrow", "httpx", "hydra-core", "dlt")


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        text = Path("/proc/cpuinfo").read_text()
        match = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
        cpu = match[1].strip() if match else ""
    except OSError:
        pass
    memory = 0
    try:
        match = re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
        memory = int(match[1]) * 1024 if match else 0
    except OSError:
        pass
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_bytes": memory,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "versions": versions,
        "load_before": load_average(),
    }


# -- targets --------------------------------------------------------------------------------


#: Round two's rows that the startup part measures, each a command against the import floor
#: (a `python -c` importing the same libraries): the key under results["startup"] and the
#: issue's target. The part stores under each key `over_import_floor` (the median of its
#: paired ratios) and, if it has one, `over_import_floor_range` ([min, max]); a key that is
#: absent (or without the ratio) makes the row "not measured".
STARTUP_TARGETS = (
    ("complete", "`lineflow run` on a complete partition vs the import floor", 1.4),
    ("demo", "the offline demo on a fresh home vs the import floor", 3.0),
    ("status", "`lineflow status` vs the import floor", 1.4),
)
#: The season size round two's processing targets are stated at.
SEASON_SIZE = (160, 7)


def round_two(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Every row of issue #23's table, measured or "not measured": what it asks, the value."""
    out: list[dict[str, Any]] = []

    def add(name: str, wanted: str, value: float | None, text: str, met: bool | None) -> None:
        row = {"target": name, "wanted": wanted, "value": value, "shown": text, "met": met}
        out.append(row | {"issue": 23})

    def missing(name: str, wanted: str, why: str) -> None:
        add(name, wanted, None, f"not measured ({why})", None)

    t, s = r.get("throughput"), r.get("season")
    name, wanted = "season processing vs the DuckDB `read_json` floor", "lineflow/floor <= 1.5x"
    if t:
        x, (low, high) = t["lineflow_over_floor"], t["lineflow_over_floor_range"]
        size = _size_note(s)
        add(
            name,
            wanted,
            x,
            f"{x:.2f}x (median of {t['repeats']} paired runs, {low:.2f}-{high:.2f}x{size})",
            x <= 1.5,
        )
    else:
        missing(name, wanted, "part throughput not run")
    name, wanted = "dlt / lineflow on the same files", "dlt/lineflow >= 30x"
    if t and "dlt_over_lineflow" in t:
        y = t["dlt_over_lineflow"]
        add(name, wanted, y, f"{y:.2f}x (dlt once, lineflow's median run)", y >= 30)
    else:
        missing(name, wanted, t["dlt"]["skipped"] if t else "part throughput not run")
    b = r.get("backfill")
    name, wanted = "predict, per partition, in the backfill", "<= 0.1 s, same predictions"
    if b and b.get("partitions") and "predict" in b.get("stage_seconds", {}):
        x = b["stage_seconds"]["predict"] / b["partitions"]
        add(
            name,
            wanted,
            x,
            f"{x:.3f} s ({b['stage_seconds']['predict']:.1f} s / {b['partitions']} partitions)",
            x <= 0.1,
        )
    else:
        missing(name, wanted, "part backfill not run" if not b else "no predict stage timed")
    rr = r.get("rerun")
    name, wanted = "the date-by-date rerun of a processed season", "<= 10 % of the first run"
    ratio = rr["season_processing"]["ratio"] if rr else None
    if ratio is not None:
        add(name, wanted, ratio, percent_text(ratio), ratio <= 0.10)
    else:
        missing(name, wanted, "part rerun not run" if not rr else "nothing to compare")
    startup = r.get("startup") or {}
    for key, name, limit in STARTUP_TARGETS:
        wanted = f"<= {limit:g}x"
        v = startup.get(key)
        x = v.get("over_floor") if isinstance(v, dict) else None
        if not isinstance(v, dict) or x is None:
            missing(name, wanted, "the startup part does not measure it yet")
            continue
        spread = v.get("over_floor_range")
        shown = (
            f"{x:.2f}x"
            + (f" ({spread[0]:.2f}-{spread[1]:.2f}x)" if spread else "")
            + f", CPU {v['cpu_over_floor']:.2f}x"
        )
        add(name, wanted, x, shown, x <= limit)
    z = r.get("seasons")
    names = (
        "three seasons: time per row, {} dates vs {}",
        "three seasons: peak memory, 1 -> {} dates",
    )
    if z:
        x, (low, high) = z["per_row_ratio"], z["per_row_ratio_range"] or (None, None)
        add(
            names[0].format(z["dates"], z["reference_dates"]),
            "<= 1.1x",
            x,
            f"{ratio_text(x)} (median of {z['repeats']}, {ratio_text(low)}-{ratio_text(high)})",
            None if x is None else x <= 1.1,
        )
        x, (low, high) = z["memory_growth"], z["memory_growth_range"]
        add(
            names[1].format(z["dates"]),
            "<= 1.3x",
            x,
            f"x{x:.2f} (median of {z['repeats']}, x{low:.2f}-x{high:.2f})",
            x <= 1.3,
        )
    else:
        missing(names[0].format(480, 160), "<= 1.1x", "part seasons not run")
        missing(names[1].format(480), "<= 1.3x", "part seasons not run")
    return out


def _size_note(s: dict[str, Any] | None) -> str:
    """ ", at N dates x P passes" when the season is not the size the targets are stated at."""
    if not s or (len(s["dates"]), s["passes"]) == SEASON_SIZE:
        return ""
    dates, passes = SEASON_SIZE
    return f"; {len(s['dates'])} dates x {s['passes']} passes, not {dates} x {passes}"


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Round two's targets (issue #23, every row), then each target of issue #10 this run
    measured: what it asks, what was measured, met or not."""
    out: list[dict[str, Any]] = round_two(r)

    def add(name: str, wanted: str, value: float | None, text: str, met: bool | None) -> None:
        out.append({"target": name, "wanted": wanted, "value": value, "shown": text, "met": met})

    t = r.get("throughput")
    if t:
        x = t["lineflow_over_floor"]
        add("processing vs floor", "lineflow/floor <= 3", x, f"{x:.2f}x", x <= 3)
        if "dlt_over_lineflow" in t:
            y = t["dlt_over_lineflow"]
            add("processing vs dlt", "dlt/lineflow >= 5", y, f"{y:.2f}x", y >= 5)
        else:
            add("processing vs dlt", "dlt/lineflow >= 5", None, t["dlt"]["skipped"], None)
    f = r.get("fetch")
    if f:
        add(
            "live fetch vs bound (informational)",
            "scrape/bound (the target is the backfill's)",
            f["scrape_over_bound"],
            f"{ratio_text(f['scrape_over_bound'])} (plan bound "
            f"{ratio_text(f['scrape_over_plan_bound'])})",
            None,
        )
    b = r.get("backfill")
    if b:
        x = b["wall_over_bound"]
        add(
            f"backfill of {len(b['dates'])} dates vs bound",
            "wall/bound <= 1.2",
            x,
            f"{ratio_text(x)} ({b['requests']} requests; "
            f"fetching {ratio_text(b['fetch_over_bound'])})",
            None if x is None else x <= 1.2,
        )
    rr = r.get("rerun")
    if rr:
        for key, label in (("partition", "rerun of a partition"), ("range", "rerun of the range")):
            v = rr[key]
            ok = None if v["ratio"] is None else v["ratio"] <= 0.02 and v["requests"] == 0
            add(
                label,
                "<= 2 % of the first run, 0 requests",
                v["ratio"],
                f"{percent_text(v['ratio'])}, {v['requests']} requests",
                ok,
            )
        v = rr["season_processing"]
        add(
            "rerun of the season's processing, date by date (informational)",
            "each partition checked again through the runner",
            v["ratio"],
            percent_text(v["ratio"]),
            None,
        )
    if b:
        x = season_rerun_ratio(b)
        add(
            f"rerun of the season ({len(b['dates'])} dates: the backfill again)",
            "<= 2 % of the first run, 0 requests",
            x,
            f"{percent_text(x)}, {b['again']['requests']} requests",
            None if x is None else x <= 0.02 and b["again"]["requests"] == 0,
        )
    m = r.get("memory")
    if m:
        x = m["growth"]
        first, last = m["points"][0]["dates"], m["points"][-1]["dates"]
        add(
            f"memory {first} -> {last} dates",
            "peak memory growth <= 1.5x",
            x,
            f"{x:.2f}x",
            x <= 1.5,
        )
    s = r.get("startup")
    if s:
        for v in s.values():
            if "over_floor" in v:  # issue #23's, in round two's table (round_two)
                continue
            x = v["median_seconds"]
            add(f"`{v['command']}`", "<= 0.5 s", x, f"{x * 1000:.0f} ms", x <= 0.5)
    d = r.get("declarative")
    if d:
        x = d["declared_over_module"]
        add("declarative parser vs module", "declared/module <= 1.5", x, f"{x:.2f}x", x <= 1.5)
    return out


def target_lines(rows: list[dict[str, Any]]) -> list[str]:
    mark = {True: "met", False: "MISSED", None: "-"}
    return [f"{mark[t['met']]:>6}  {t['target']}: {t['shown']} ({t['wanted']})" for t in rows]


# -- files ----------------------------------------------------------------------------------


def public(value: Any, out: Path) -> Any:
    """The results without working detail (keys starting with `_`) for the JSON file, and
    without this machine's paths: one in the checkout relative to it, one under `out`
    elsewhere as `<out>/...` (the file is published and compared across machines)."""
    if isinstance(value, dict):
        return {k: public(v, out) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [public(v, out) for v in value]
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, str) and value.startswith("/"):
        path, out = Path(value), out.resolve()
        if path.is_relative_to(ROOT):
            return path.relative_to(ROOT).as_posix()
        if path.is_relative_to(out):
            return f"<out>/{path.relative_to(out).as_posix()}"
    return value


def write(results: dict[str, Any], out: Path, publish: bool) -> list[Path]:
    written = []
    data = json.dumps(public(results, out), indent=2) + "\n"
    (out / "results.json").write_text(data)
    written.append(out / "results.json")
    chart = out / "chart.png"
    chart_made = render_chart(results, chart)
    if chart_made:
        written.append(chart)
    block = markdown(results, "benchmarks.png" if chart_made else None)
    (out / "results.md").write_text(block)
    written.append(out / "results.md")
    if publish:
        (DOCS / "benchmarks.json").write_text(data)
        written.append(DOCS / "benchmarks.json")
        if chart_made:
            (DOCS / "benchmarks.png").write_bytes(chart.read_bytes())
            written.append(DOCS / "benchmarks.png")
        page = DOCS / "benchmarks.md"
        text = page.read_text()
        start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
        page.write_text(text[:start] + "\n" + block + text[end:])
        written.append(page)
    return written


def markdown(r: dict[str, Any], chart: str | None) -> str:
    m = r["machine"]
    v = m["versions"]
    lines = [
        f"Run {r['started_at']} .. {r['finished_at']}: `python -m bench "
        + _flags(r["config"])
        + "`",
        "",
        f"Machine: {m['nproc']} cores ({m['cpu'] or 'unknown CPU'}), "
        f"{m['memory_bytes'] / 1024**3:.0f} GB RAM, {m['platform']}; load average (1, 5, 15 min) "
        f"{_load(m['load_before'])} before, {_load(m.get('load_after', []))} after. "
        f"Python {m['python']}, " + ", ".join(f"{k} {x}" for k, x in v.items() if x) + ".",
    ]
    two = [t for t in r["targets"] if t.get("issue") == 23]
    lines += _target_table("Targets, round two (issue #23)", two)
    lines += _target_table(
        "Issue #10's targets (round one), still checked",
        [t for t in r["targets"] if t.get("issue") != 23],
    )
    if chart:
        lines += ["", f"![throughput and memory]({chart})"]
    s = r.get("season")
    if s:
        lines += [
            "",
            f"**Season**: {len(s['dates'])} dates ({s['dates'][0]} .. {s['dates'][-1]}), "
            f"{s['games']} games ({s['games_per_date']:.1f} a date), {s['passes']} live passes a "
            f"date, {s['total_files']:,} files, {s['total_bytes'] / MB:,.0f} MB.",
        ]
    t = r.get("throughput")
    if t:
        lines += _processing_lines(t)
    f = r.get("fetch")
    if f:
        lines += [
            "",
            f"**2. Fetch** (live, no backfill): {len(f['dates'])} dates, {f['requests']} requests, "
            f"{f['latency_ms']} ms added to every answer. Scrape stages "
            f"{f['scrape_seconds']:.2f} s; bound requests x latency / concurrency "
            f"{f['bound_seconds']:.2f} s ({ratio_text(f['scrape_over_bound'])}); the plan's own "
            f"bound, where a call waits for the one it depends on, {f['plan_bound_seconds']:.2f} s "
            f"({ratio_text(f['scrape_over_plan_bound'])}). Whole runs {f['run_seconds']:.2f} s.",
        ]
    b = r.get("backfill")
    if b:
        lines += ["", *_backfill_lines(b)]
    rr = r.get("rerun")
    if rr:
        p, g, ss = rr["partition"], rr["range"], rr["season_processing"]
        lines += [
            "",
            "**3. Rerun**",
            "",
            "| second run of | first | second | ratio | requests (first, second) |",
            "|---|---:|---:|---:|---:|",
            _rerun_row(f"a complete partition ({', '.join(p['dates']) or 'none'}, full run)", p, 3),
            _rerun_row(f"the fetched range ({len(g['dates'])} dates, full runs)", g, 3),
            _rerun_row(
                f"the season's processing, date by date ({len(s['dates']) if s else '?'} dates)",
                ss,
                2,
            ),
        ]
        if b:
            season = {
                "first_seconds": b["wall_seconds"],
                "second_seconds": b["again"]["wall_seconds"],
                "ratio": season_rerun_ratio(b),
                "first_requests": b["requests"],
                "requests": b["again"]["requests"],
            }
            label = f"the season: `lineflow backfill` of {len(b['dates'])} dates again"
            lines.append(_rerun_row(label, season, 2))
    mm = r.get("memory")
    if mm:
        lines += [
            "",
            "**4. Memory** (peak memory of the processing stages: the job's process and its "
            "parse worker, each size in its own job)",
            "",
            "| dates | peak memory | seconds |",
            "|---:|---:|---:|",
        ]
        lines += [
            f"| {p['dates']} | {p['peak_rss_bytes'] / MB:,.0f} MB | {p['seconds']:.1f} |"
            for p in mm["points"]
        ]
    z = r.get("seasons")
    if z:
        lines += _seasons_lines(z)
    st = r.get("startup")
    if st:
        lines += [
            "",
            "**5. Startup** (median of the runs after a warm-up; against the import floor "
            f"`python -c '{FLOOR_IMPORTS}'`, run pair by pair: the median of the pairs' ratios)",
            "",
            "| command | median | min | runs | vs import floor (wall, CPU) |",
            "|---|---:|---:|---:|---:|",
        ]
        lines += [
            f"| `{x['command']}`{' ' + x['where'] if x.get('where') else ''} | "
            f"{x['median_seconds'] * 1000:.0f} ms | "
            f"{x['min_seconds'] * 1000:.0f} ms | {x['runs']} | "
            + (
                f"{x['over_floor']:.2f}x, {x['cpu_over_floor']:.2f}x |"
                if "over_floor" in x
                else "- |"
            )
            for x in st.values()
        ]
    sc = r.get("scaling")
    if sc:
        lines += ["", *markdown_lines(sc)]
    return "\n".join(lines) + "\n"


def _target_table(title: str, rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    mark = {True: "met", False: "**missed**", None: ""}
    return [
        "",
        f"**{title}**",
        "",
        "| target | wanted | measured | |",
        "|---|---|---|---|",
        *(f"| {t['target']} | {t['wanted']} | {t['shown']} | {mark[t['met']]} |" for t in rows),
    ]


def _processing_lines(t: dict[str, Any]) -> list[str]:
    """The processing table (each tool's median run, the spread, runs) and the pairs."""
    lines = [
        "",
        f"**1. Processing** ({t['canonical_rows']:,} canonical rows in `prop_lines`, "
        f"{t['staged_rows']:,} staged; lineflow stages: {', '.join(t['lineflow']['stages'])}). "
        f"The floor and lineflow ran {t['repeats']} times each, interleaved, each into a fresh "
        "warehouse; each figure is the tool's median run, its spread is the fastest and "
        "slowest run; dlt ran once.",
        "",
        "| tool | seconds (median) | spread | canonical rows/s | peak memory | runs |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, label in (
        ("floor", "floor: DuckDB `read_json`, one table per endpoint, any order"),
        (
            "lineflow",
            f"lineflow: {' + '.join(t['lineflow']['stages'])}, "
            + (
                "a reprocessing backfill"
                if t["lineflow"].get("via", "backfill") == "backfill"
                else "date by date"
            ),
        ),
        ("dlt", "dlt to DuckDB, default normalisation"),
        (
            "storage",
            "(informational) DuckDB storing lineflow's rows: each date's canonical rows "
            "stored once in staging with the consolidation's file list (`prop_lines` is a "
            "view), a transaction a date, lineflow's settings",
        ),
    ):
        if name not in t:
            continue
        tool = t[name]
        if "skipped" in tool:
            lines.append(f"| {label} | skipped: {tool['skipped']} | | | | |")
            continue
        spread = tool.get("seconds_range")
        lines.append(
            f"| {label} | {tool['seconds']:.1f} | "
            + (f"{spread[0]:.1f}-{spread[1]:.1f}" if spread else "-")
            + f" | {tool['rows_per_second']:,.0f} | {tool['peak_rss_bytes'] / MB:,.0f} MB | "
            f"{len(tool.get('runs', [])) or 1} |"
        )
    pairs = "; ".join(
        f"{p['floor_seconds']:.1f} s, {p['lineflow_seconds']:.1f} s: {p['ratio']:.2f}x"
        for p in t["pairs"]
    )
    low, high = t["lineflow_over_floor_range"]
    lines += [
        "",
        f"Pairs (floor, lineflow: lineflow/floor), in the order run: {pairs}. lineflow/floor is "
        f"the median of the pair ratios, **{t['lineflow_over_floor']:.2f}x** "
        f"({low:.2f}-{high:.2f}x).",
    ]
    return lines


def _seasons_lines(z: dict[str, Any]) -> list[str]:
    made = "earlier" if z["reused"] else f"in {z['generate_seconds']:.0f} s"
    lines = [
        "",
        f"**4b. Three seasons** ({z['dates']} consecutive dates, {z['first_date']} .. "
        f"{z['last_date']}, {z['passes']} live passes a date, {z['games']} games, "
        f"{z['total_files']:,} files, {z['total_bytes'] / MB:,.0f} MB, generated {made}"
        "): lineflow's processing job over the first date, the first "
        f"{z['reference_dates']} and all {z['dates']}, each into a fresh warehouse, "
        f"{z['repeats']} times in that order; medians. Time per row {z['dates']} vs "
        f"{z['reference_dates']} dates: {ratio_text(z['per_row_ratio'])}; peak memory 1 -> "
        f"{z['dates']} dates: x{z['memory_growth']:.2f} (each the median of the repeats' "
        "ratios).",
        "",
        "| dates | canonical rows | seconds | seconds per million rows | peak memory |",
        "|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {p['dates']} | {p['rows']:,} | {p['seconds']:.1f} | "
        + (f"{p['seconds'] / p['rows'] * 1e6:.2f}" if p["rows"] else "-")
        + f" | {p['peak_rss_bytes'] / MB:,.0f} MB |"
        for p in z["points"]
    ]
    return lines


def _backfill_lines(b: dict[str, Any]) -> list[str]:
    limits = "; ".join(
        f"{name}: {src['per_second']:g}/s, burst {src['burst']}, concurrency {src['concurrency']}"
        for name, src in b["sources"].items()
    )
    lines = [
        f"**2b. Backfill** (`{b['command']}`): {len(b['dates'])} dates "
        f"({b['dates'][0]} .. {b['dates'][-1]}), max_parallel={b['max_parallel']}, snapshot "
        f"{b['snapshot']}, {b['latency_ms']} ms added to every answer; rate limits of "
        f"{b['rate_limits_from']} ({limits}). {b['complete']}/{b['partitions']} partitions "
        f"complete, {b['rows']:,} rows.",
        "",
        "| source | requests | rate bound | latency bound | bound |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {name} | {src['requests']:,} | {src['rate_bound_seconds']:.2f} s | "
        f"{src['latency_bound_seconds']:.2f} s | {src['bound_seconds']:.2f} s |"
        for name, src in b["sources"].items()
    ]
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in b["stage_seconds"].items())
    startup = b["startup_seconds"]
    lines += [
        "",
        f"Wall time of the command {b['wall_seconds']:.2f} s = "
        f"{ratio_text(b['wall_over_bound'])} the bound of {b['bound_seconds']:.2f} s"
        + (f" (of which {startup:.2f} s before its first line)" if startup is not None else "")
        + f"; some partition was fetching for {b['fetch_busy_seconds']:.2f} s "
        f"({ratio_text(b['fetch_over_bound'])}). Stage seconds summed over partitions (they "
        f"overlap): {stages}. The same command again: {b['again']['wall_seconds']:.2f} s, "
        f"{b['again']['requests']} requests"
        + (" (every partition skipped)." if b["again"]["skipped_all"] else "."),
    ]
    return lines


def season_rerun_ratio(b: dict[str, Any]) -> float | None:
    """The second backfill of the season (every partition complete) over the first."""
    return share(float(b["again"]["wall_seconds"]), float(b["wall_seconds"]))


def _rerun_row(label: str, v: dict[str, Any], digits: int) -> str:
    requests = f"{v['first_requests']}, {v['requests']}" if "first_requests" in v else "-"
    return (
        f"| {label} | {v['first_seconds']:.{digits}f} s | {v['second_seconds']:.{digits}f} s | "
        f"{percent_text(v['ratio'])} | {requests} |"
    )


def _flags(config: dict[str, Any]) -> str:
    words = [f"--dates {config['dates']}", f"--passes {config['passes']}"]
    if config.get("games"):
        words.append(f"--games {config['games']}")
    words.append(f"--fetch-dates {config['fetch_dates']}")
    if "repeats" in config:
        words.append(f"--repeats {config['repeats']}")
    if "seasons" in config.get("parts", []):
        words.append(f"--seasons-dates {config['seasons_dates']}")
    if "backfill" in config.get("parts", []):
        words.append(f"--backfill-dates {config['backfill_dates']}")
        if config.get("backfill_parallel"):
            words.append(f"--backfill-parallel {config['backfill_parallel']}")
    if "scaling" in config.get("parts", []) and tuple(config.get("workers", WORKERS)) != WORKERS:
        words.append(f"--workers {','.join(map(str, config['workers']))}")
    if config.get("parts") and tuple(config["parts"]) != DEFAULT_PARTS:
        words.append(f"--parts {','.join(config['parts'])}")
    return " ".join(words)


def _load(values: list[float]) -> str:
    return " / ".join(f"{x:.2f}" for x in values) or "?"


#: The processing chart's bars, in order: colour and the label each bar carries (every bar says
#: what it measured; "storage" alone told a reader nothing).
CHART_BARS = {
    "floor": ("#999999", "floor: DuckDB read_json"),
    "storage": ("#c8c8c8", "DuckDB storing lineflow's rows\n(informational)"),
    "lineflow": ("#2a6fdb", "lineflow: process, validate,\nconsolidate"),
    "dlt": ("#d9822b", "dlt to DuckDB"),
}


def render_chart(r: dict[str, Any], path: Path) -> bool:
    """Rows/s of the tools and peak memory by dates in one small PNG (False: no matplotlib).

    Axes are marked at round numbers (1, 2 or 5 times a power of ten, with thousands
    separators) and every bar and line is labelled; a tool that ran more than once has a line
    across its bar's end from its slowest to its fastest run."""
    panels = chart_panels(r)
    if not panels:
        return False
    t, m = r.get("throughput"), r.get("memory")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter, MaxNLocator
    except ImportError:
        return False
    thousands = FuncFormatter(lambda v, _pos: f"{v:,.0f}")
    widths = {"throughput": 1.25, "memory": 1.0}
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(4.5 * sum(widths[p] for p in panels), 3.6),
        dpi=90,
        width_ratios=[widths[p] for p in panels],
        squeeze=False,
    )
    panel = dict(zip(panels, axes[0], strict=True))
    if t:
        left = panel["throughput"]
        names = [n for n in CHART_BARS if n in t and "skipped" not in t[n]]
        values = [t[n]["rows_per_second"] for n in names]
        bars = left.barh(
            [CHART_BARS[n][1] for n in names],
            values,
            color=[CHART_BARS[n][0] for n in names],
            xerr=_rate_spread(t, names),
            # no caps: a tool that ran once has a zero-length bar, which then draws nothing
            error_kw={"ecolor": "#333333", "capsize": 0, "linewidth": 1.5},
        )
        left.bar_label(bars, labels=[f"{v:,.0f}" for v in values], padding=3, fontsize=8)
        # room for the labels, past the fastest run's end of an error bar
        left.set_xlim(
            0, max(v + e for v, e in zip(values, _rate_spread(t, names)[1], strict=True)) * 1.3
        )
        left.xaxis.set_major_locator(MaxNLocator(nbins=4, steps=[1, 2, 5, 10]))
        left.xaxis.set_major_formatter(thousands)
        left.tick_params(axis="y", labelsize=8)
        left.set_xlabel("canonical rows per second")
        left.set_title(f"processing {t['canonical_rows']:,} rows", fontsize=10)
        left.invert_yaxis()
    if m:
        right = panel["memory"]
        xs = [p["dates"] for p in m["points"]]
        ys = [p["peak_rss_bytes"] / MB for p in m["points"]]
        right.plot(xs, ys, marker="o", color="#2a6fdb", label="lineflow peak memory")
        right.axhline(
            ys[0] * 1.5,
            color="#d9822b",
            linestyle="--",
            linewidth=1,
            label="target: 1.5x of 1 date",
        )
        right.set_ylim(0, max(max(ys), ys[0] * 1.5) * 1.15)
        right.xaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 5, 10], integer=True))
        right.yaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 5, 10]))
        right.yaxis.set_major_formatter(thousands)
        right.set_xlabel("dates processed")
        right.set_ylabel("peak memory (MB)")
        right.set_title("lineflow memory", fontsize=10)
        right.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def chart_panels(r: dict[str, Any]) -> list[str]:
    """The chart's panels, left to right: the parts of the run that have something to draw
    (`--parts throughput` alone draws the processing panel only, not an empty second one)."""
    return [part for part in ("throughput", "memory") if r.get(part)]


def _rate_spread(t: dict[str, Any], names: list[str]) -> list[list[float]]:
    """Error bars from each tool's slowest to its fastest run, in rows/s around its median
    (0 for a tool that ran once)."""
    below, above = [], []
    for name in names:
        tool = t[name]
        low, high = tool.get("seconds_range") or (tool["seconds"], tool["seconds"])
        rate = tool["rows_per_second"]
        # max(0, ...): the saved results are rounded, so a single run may land a hair off
        below.append(max(0.0, rate - t["canonical_rows"] / high) if high > 0 else 0.0)
        above.append(max(0.0, t["canonical_rows"] / low - rate) if low > 0 else 0.0)
    return [below, above]


def redraw(results: Path, chart: Path) -> bool:
    """Draw the chart again from saved results (docs/benchmarks.json), measuring nothing."""
    return render_chart(json.loads(results.read_text()), chart)
