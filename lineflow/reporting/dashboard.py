"""The live dashboard's figures: a grid of dates x components, and what an operator watches.

`gather` returns plain JSON-able data for `lineflow serve`'s dashboard (`ops/dashboard.py`):

- `grid`: for each of the last `days` partitions (ending at the newest one that ran, or a given
  date) and each component (every enabled source, processing, validation, predictions), a cell
  with a status, a one-line summary, its figures and its detail (files, rows, runs, failures
  and exclusions with their reasons);
- `self_heal`: who was regenerated, when and why (predict's `self_heal_log`), and what doctor's
  repairs changed (`doctor_actions`, mode fix);
- `locks`, `dead_letters`, `proxy_breakers` and `backfills` (the progress of each backfill).

Invariants: read-only (nothing here writes to the warehouse or the state store, and a table a
feature never created reads as "not recorded yet"); a source's and the predictions' verdicts,
expected and actual figures are `status.gather`'s, and the file counts are `status`'s ledger
view, so the page and `lineflow status` agree for every date. The readers here add only what a
cell's detail shows beyond status: the file list, the rule results and the exclusions.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from lineflow.config import Settings
from lineflow.reporting import recorded
from lineflow.reporting.recorded import NOT_RECORDED, Stores, as_utc
from lineflow.reporting.status import StatusReport, _plain
from lineflow.reporting.status import gather as gather_status

#: The components after the sources, in the order the pipeline reaches them.
STAGE_COMPONENTS = ("processing", "validation", "predictions")
NOT_RUN = "not run"
#: A run's status as a cell's colour (a run that succeeded is `ok`, as in status).
RUN_STATUS = {"success": "ok", "skipped": "ok"}
#: Worst first: the status a cell takes when its runs disagree.
SEVERITY = ("failed", "missing", "blocked", "partial", "short", "ok", "empty-day", NOT_RUN)


def worst(statuses: list[str]) -> str:
    ranked = [s for s in SEVERITY if s in statuses]
    return ranked[0] if ranked else NOT_RUN


# -- readers: what a cell's detail shows beyond status ----------------------------------------


def partitions_run(stores: Stores) -> list[date]:
    """Every partition with a run_history row, newest first."""
    frame = stores.warehouse.query(
        "SELECT DISTINCT slate_date FROM run_history ORDER BY slate_date DESC"
    )
    return list(frame["slate_date"])


def read_files(stores: Stores, partition: date) -> list[dict[str, Any]]:
    """The partition's landed files with their processing outcome (status, rows, error)."""
    frame = stores.warehouse.query(
        "SELECT l.source, l.endpoint, l.pass_id, l.path, l.http_status, l.bytes, "
        "coalesce(p.status, 'unprocessed') AS status, p.rows, p.error "
        "FROM landed_files l LEFT JOIN processed_files p "
        "ON p.file_id = l.file_id AND p.slate_date = l.slate_date "
        "WHERE l.slate_date = ? ORDER BY l.source, l.pass_id, l.path",
        [partition],
    )
    return list(frame.iter_rows(named=True))


def read_rule_results(stores: Stores, partition: date) -> list[dict[str, Any]]:
    """The rules of the partition's latest validation, with the rows each one quarantined."""
    if "validation_results" not in stores.duck_tables():
        return []
    frame = stores.warehouse.query(
        """
        WITH latest AS (
            SELECT run_id FROM validation_results WHERE slate_date = ?
            ORDER BY validated_at DESC LIMIT 1),
        held AS (
            SELECT rule_id, validation_run_id, count(*) AS quarantined FROM quarantine
            WHERE slate_date = ? GROUP BY ALL)
        SELECT v.rule_id, v.severity, v.blocking, v.outcome, v.checked, v.failed, v.detail,
               coalesce(h.quarantined, 0) AS quarantined
        FROM validation_results v JOIN latest USING (run_id)
        LEFT JOIN held h ON h.rule_id = v.rule_id AND h.validation_run_id = v.run_id
        ORDER BY v.rule_id
        """,
        [partition, partition],
    )
    return list(frame.iter_rows(named=True))


def read_exclusions(stores: Stores, partition: date) -> list[dict[str, Any]] | None:
    """Player markets the line-quality gate held back, with its reasons."""
    if "line_quality" not in stores.duck_tables():
        return None
    frame = stores.warehouse.query(
        "SELECT player_name, player_key, market, reasons, books, usable_books, line "
        "FROM line_quality WHERE slate_date = ? AND NOT passed ORDER BY market, player_key",
        [partition],
    )
    return list(frame.iter_rows(named=True))


def read_self_heal(stores: Stores, first: date, last: date) -> list[dict[str, Any]] | None:
    """Regenerations (predict's self-heal) and doctor's repairs (what `fix=true` changed or
    tried to) of the window, newest first: at, date, what (self-heal | doctor PLAYBOOK), who,
    why, by."""
    tables = stores.duck_tables()
    if "self_heal_log" not in tables and "doctor_actions" not in tables:
        return None
    found: list[dict[str, Any]] = []
    if "self_heal_log" in tables:
        frame = stores.warehouse.query(
            "SELECT healed_at, slate_date, players, reason, triggered_by, batch_id "
            "FROM self_heal_log WHERE slate_date BETWEEN ? AND ?",
            [first, last],
        )
        found += [
            {
                "at": r["healed_at"],
                "date": r["slate_date"],
                "what": "self-heal",
                "who": ", ".join(r["players"]),
                "players": len(r["players"]),
                "why": r["reason"],
                "by": f"run {r['triggered_by']} (batch {r['batch_id']})",
            }
            for r in frame.iter_rows(named=True)
        ]
    if "doctor_actions" in tables:
        frame = stores.warehouse.query(
            "SELECT acted_at, slate_date, playbook, outcome, subject, detail FROM doctor_actions "
            "WHERE mode = 'fix' AND outcome IN ('fixed', 'unresolved', 'failed') "
            "AND slate_date BETWEEN ? AND ?",
            [first, last],
        )
        found += [
            {
                "at": r["acted_at"],
                "date": r["slate_date"],
                "what": f"doctor {r['playbook']}",
                "who": r["subject"] or "",
                "players": None,
                "why": r["detail"] or r["outcome"],
                "by": f"lineflow doctor fix=true ({r['outcome']})",
            }
            for r in frame.iter_rows(named=True)
        ]
    return sorted(found, key=lambda r: r["at"], reverse=True)


def read_backfills(stores: Stores) -> list[dict[str, Any]] | None:
    """Every backfill, newest first, with its partitions counted by status (the manifest's own
    reading, so a backfill whose process is gone says `interrupted`)."""
    if "backfills" not in stores.state_tables():
        return None
    from lineflow.pipeline.backfill import Manifest  # the backfill machinery: load on use

    manifest = Manifest(stores.store)
    out = []
    for b in manifest.list():
        parts = manifest.partitions(b["id"])
        counts: dict[str, int] = {}
        for p in parts:
            counts[p["status"]] = counts.get(p["status"], 0) + 1
        out.append(
            {
                "id": b["id"],
                "range": f"{b['start_date']}..{b['end_date']}",
                "sources": b["sources"],
                "status": b["status"],
                "partitions": len(parts),
                "done": counts.get("complete", 0) + counts.get("skipped", 0),
                "counts": counts,
                "rows": sum(p["rows"] for p in parts),
                "requests": sum(p["requests"] for p in parts),
            }
        )
    return out


# -- cells --------------------------------------------------------------------------------------


def _runs(report: StatusReport, *phases: str) -> list[dict[str, Any]]:
    return [
        {k: r[k] for k in ("processor", "status", "files", "rows", "error", "run_id")}
        | {"started_at": r["started_at"]}
        for r in report.last_runs
        if r["phase"] in phases
    ]


def _run_status(runs: list[dict[str, Any]]) -> str:
    return worst([RUN_STATUS.get(r["status"], r["status"]) for r in runs]) if runs else NOT_RUN


def source_cell(report: StatusReport, name: str, files: list[dict[str, Any]]) -> dict[str, Any]:
    """A source's props: status's verdict, its rows and its files (landed, processed, failed)."""
    component = report.component(f"{name} props")
    counts = next(f for f in report.files if f.source == name)
    mine = [f for f in files if f["source"] == name]
    runs = _runs(report, "scrape", "process")
    runs = [r for r in runs if r["processor"].endswith(f":{name}")]
    failures = [
        {"what": f["path"], "reason": f["error"] or f["status"]}
        for f in mine
        if f["status"] not in ("ok", "unprocessed")
    ] + [
        {"what": r["processor"], "reason": r["error"]}
        for r in runs
        if r["status"] != "success" and r["error"]
    ]
    rows = component.actual
    return {
        "status": component.status,
        "summary": f"{rows or 0:,} rows"
        + (f" (at least {component.expected:,} expected)" if component.expected else ""),
        "figures": {
            "rows": rows,
            "expected rows": component.expected,
            # the ledger counts a body once; the same body can land under two paths
            "landed paths": len(mine),
            "files landed": counts.landed,
            "files processed": counts.processed,
            "files failed": counts.failed,
            "files unprocessed": counts.unprocessed,
        },
        "detail": {"note": component.note, "runs": runs, "files": mine, "failures": failures},
    }


def processing_cell(report: StatusReport, files: list[dict[str, Any]]) -> dict[str, Any]:
    """process (every source) and consolidate: files parsed, rows staged and consolidated."""
    runs = _runs(report, "process", "consolidate")
    consolidated = next((r["rows"] for r in runs if r["processor"] == "consolidate"), None)
    staged = sum(r["rows"] for r in runs if r["processor"].startswith("process"))
    failed = [f for f in files if f["status"] not in ("ok", "unprocessed")]
    return {
        "status": _run_status(runs),
        "summary": f"{sum(f.processed for f in report.files):,} files, {consolidated or 0:,} rows",
        "figures": {
            "files processed": sum(f.processed for f in report.files),
            "files failed": sum(f.failed for f in report.files),
            "files unprocessed": sum(f.unprocessed for f in report.files),
            "rows staged": staged,
            "rows consolidated": consolidated,
        },
        "detail": {
            "runs": runs,
            "failures": [{"what": f["path"], "reason": f["error"] or f["status"]} for f in failed]
            + [
                {"what": r["processor"], "reason": r["error"]}
                for r in runs
                if r["status"] != "success" and r["error"]
            ],
        },
    }


def validation_cell(report: StatusReport, rules: list[dict[str, Any]]) -> dict[str, Any]:
    """The latest validation: rules failing or blocked, rows quarantined, the gate's verdicts."""
    runs = _runs(report, "validate")
    quality = report.line_quality or {"passed": 0, "failed": 0}
    failing = [r for r in rules if r["outcome"] not in ("pass", "empty")]
    return {
        "status": _run_status(runs),
        "summary": f"{len(failing)} of {len(rules)} rules failing, "
        f"{quality['failed']} player markets excluded",
        "figures": {
            "rules checked": len(rules),
            "rules failing": len(failing),
            "rows quarantined": sum(r["quarantined"] for r in rules),
            "player markets passed": quality["passed"],
            "player markets excluded": quality["failed"],
        },
        "detail": {
            "runs": runs,
            "rules": [r for r in rules if r["outcome"] not in ("pass", "empty") or r["failed"]],
            "failures": [
                {"what": r["rule_id"], "reason": r["detail"]} for r in failing if r["detail"]
            ],
        },
    }


def predictions_cell(
    report: StatusReport, exclusions: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """status's verdict on predictions main, the batch's figures and the gate's exclusions."""
    component = report.component("predictions main")
    batch = report.prediction_batch or {}
    runs = _runs(report, "predict")
    failures = [
        {"what": item.split(": ", 1)[0], "reason": item.split(": ", 1)[-1]}
        for item in (batch.get("failures") or "").split("; ")
        if item
    ]
    return {
        "status": component.status if component.status != NOT_RECORDED else NOT_RUN,
        "summary": f"{component.actual or 0} of {component.expected or 0} player markets",
        "figures": {
            "player markets predicted": component.actual,
            "player markets expected": component.expected,
            "player markets excluded": batch.get("excluded"),
            "player markets failed": batch.get("failed"),
            "player markets regenerated": batch.get("regenerated"),
        },
        "detail": {
            "note": component.note,
            "runs": runs,
            "batch": {k: batch.get(k) for k in ("batch_id", "status", "expected", "completed")},
            "exclusions": exclusions or [],
            "failures": failures,
        },
    }


def not_run_cell() -> dict[str, Any]:
    return {"status": NOT_RUN, "summary": "", "figures": {}, "detail": {}}


def day_cells(
    settings: Settings, stores: Stores, partition: date, now: datetime
) -> dict[str, dict[str, Any]]:
    """One date's row of the grid, from `status.gather` and the detail readers."""
    report = gather_status(settings, stores, partition, now)
    with stores.warehouse.session():
        files = read_files(stores, partition)
        rules = read_rule_results(stores, partition)
        exclusions = read_exclusions(stores, partition)
    cells = {f.source: source_cell(report, f.source, files) for f in report.files}
    cells["processing"] = processing_cell(report, files)
    cells["validation"] = validation_cell(report, rules)
    cells["predictions"] = predictions_cell(report, exclusions)
    return cells


def gather(
    settings: Settings, stores: Stores, now: datetime, end: date | None = None, days: int = 7
) -> dict[str, Any]:
    """Everything the dashboard shows, as plain JSON-able data."""
    enabled = [s.name for s in settings.sources.values() if s.enabled]
    components = [*enabled, *STAGE_COMPONENTS]
    with stores.warehouse.session():
        ran = partitions_run(stores)
    end = end or (ran[0] if ran else now.date())
    dates = [end - timedelta(days=i) for i in range(days)]
    grid: dict[str, dict[str, Any]] = {}
    for day in dates:
        if day in ran:
            cells = day_cells(settings, stores, day, now)
        else:
            cells = {c: not_run_cell() for c in components}
        grid[day.isoformat()] = cells
    with stores.warehouse.session():
        heal = read_self_heal(stores, dates[-1], dates[0])

    def section(value: Any) -> Any:
        return NOT_RECORDED if value is None else value

    return _plain(
        {
            "generated_at": now,
            "home": str(settings.home),
            "dates": dates,
            "components": components,
            "grid": grid,
            "self_heal": section(heal),
            "locks": section(recorded.read_locks(stores)),
            "dead_letters": section(_letters(recorded.read_dead_letters(stores))),
            "proxy_breakers": section(recorded.read_proxy_health(stores)),
            "backfills": section(read_backfills(stores)),
        }
    )


def _letters(letters: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Dead letters without their payload (a message body is not the dashboard's to show)."""
    if letters is None:
        return None
    return [
        {k: v for k, v in letter.items() if k != "payload"}
        | {"created_at": as_utc(letter.get("created_at"))}
        for letter in letters
    ]
