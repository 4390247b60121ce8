"""`lineflow doctor`: recovery playbooks, each a detector (what is wrong) plus an action.

Playbooks are declared in conf/doctor/default.yaml by detector and action name; the functions
are registered here. A detector returns None when the data it reads is not recorded on this
home ("not applicable (no data)"). Without fix=true nothing changes; every finding and every
action is logged in the warehouse table `doctor_actions`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from lineflow import sources
from lineflow.config import Playbook, Settings
from lineflow.landing import open_landing
from lineflow.reporting import recorded
from lineflow.reporting.recorded import Stores
from lineflow.reporting.status import gather as gather_status

NOT_APPLICABLE = "not applicable (no data)"


@dataclass
class Context:
    settings: Settings
    stores: Stores
    partition: date
    now: datetime
    params: dict[str, Any]


@dataclass
class Finding:
    subject: str  # what is wrong, e.g. "lock oddsapi_player-props_batch_2026-01-23"
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """What one playbook found and, with fix=true, what it changed."""

    playbook: str
    #: healthy | found | fixed | unresolved | failed | no action | not applicable (no data)
    state: str
    findings: list[Finding] = field(default_factory=list)
    plan: str = ""  # what the action would do
    changes: list[str] = field(default_factory=list)
    error: str | None = None


Detector = Callable[[Context], list[Finding] | None]
Action = Callable[[Context, list[Finding]], list[str]]


# -- detectors --------------------------------------------------------------------------------


def stale_locks(ctx: Context) -> list[Finding] | None:
    """Locks past their expiry, or whose heartbeat stopped longer ago than the timeout."""
    locks = recorded.read_locks(ctx.stores)
    if locks is None:
        return None
    timeout = timedelta(minutes=float(ctx.params.get("heartbeat_timeout_minutes", 30)))
    found = []
    for lock in locks:
        beat = lock.get("heartbeat_at") or lock["acquired_at"]
        expired = lock["expires_at"] is not None and ctx.now > lock["expires_at"]
        silent = beat is not None and ctx.now - beat > timeout
        if expired or silent:
            why = "expired" if expired else f"no heartbeat for {timeout}"
            found.append(
                Finding(
                    f"lock {lock['key']}",
                    f"held by {lock.get('owner')} since {lock['acquired_at']:%Y-%m-%d %H:%M}Z, "
                    f"{why}",
                    {"key": lock["key"], "acquired_at": lock["acquired_at"]},
                )
            )
    return found


def unprocessed_files(ctx: Context) -> list[Finding]:
    """Landed files the ledger has not processed, and files on disk missing from the manifest."""
    landing = open_landing(ctx.settings.landing)
    found = []
    with ctx.stores.warehouse.session():
        for source in ctx.settings.sources.values():
            if not source.enabled:
                continue
            pending = ctx.stores.warehouse.unprocessed(ctx.partition, source.name).height
            known = ctx.stores.warehouse.landed_paths(source.name, ctx.partition)
            dropped = sum(
                1 for p in landing.discover(source.name, ctx.partition) if str(p) not in known
            )
            if pending or dropped:
                found.append(
                    Finding(
                        f"{source.name} files",
                        f"{pending} landed and not processed, {dropped} on disk not in manifest",
                        {"source": source.name, "files": pending + dropped},
                    )
                )
    return found


def missing_sources(ctx: Context) -> list[Finding]:
    """Sources with no rows (missing or blocked) on a day with games."""
    status = gather_status(ctx.settings, ctx.stores, ctx.partition, ctx.now)
    found = []
    for c in status.components:
        name = c.name.removesuffix(" props")
        if c.name.endswith(" props") and c.status in ("missing", "blocked") and not c.actual:
            found.append(Finding(f"{name} on {ctx.partition}", c.status, {"source": name}))
    return found


def stuck_prediction_batches(ctx: Context) -> list[Finding] | None:
    """A batch still `running` whose heartbeat stopped: its process died (state store)."""
    if "prediction_batch_state" not in ctx.stores.state_tables():
        return None
    idle = timedelta(minutes=float(ctx.params.get("idle_minutes", 30)))
    with ctx.stores.state() as con:
        rows = [
            dict(r)
            for r in con.execute(
                "SELECT * FROM prediction_batch_state WHERE slate_date = ? AND status = 'running'",
                (ctx.partition.isoformat(),),
            ).fetchall()
        ]
    return [
        Finding(
            f"prediction batch {r['batch_id']}",
            f"running, no heartbeat since {r['heartbeat_at']} (owner {r['owner']})",
            r,
        )
        for r in rows
        if (beat := recorded.as_utc(r["heartbeat_at"])) is None or ctx.now - beat >= idle
    ]


def dead_letters(ctx: Context) -> list[Finding] | None:
    letters = recorded.read_dead_letters(ctx.stores)
    if letters is None:
        return None
    return [Finding(f"{len(letters)} dead letters", "waiting for replay", {})] if letters else []


def blocked_proxies(ctx: Context) -> list[Finding] | None:
    """Breakers whose cooldown has passed (half-open): a probe can close them."""
    health = recorded.read_proxy_health(ctx.stores)
    if health is None:
        return None
    return [
        Finding(f"proxy {p['provider']} {p['proxy']} -> {p['host']}", "cooldown over", p)
        for p in health
        if p["cooldown_until"] is not None and p["cooldown_until"] <= ctx.now
    ]


# -- actions ----------------------------------------------------------------------------------


def release_locks(ctx: Context, findings: list[Finding]) -> list[str]:
    changes = []
    for f in findings:
        if recorded.release_lock(ctx.stores, f.data["key"], f.data["acquired_at"]):
            changes.append(f"released {f.subject}")
        else:
            changes.append(f"left {f.subject}: retaken or released meanwhile")
    return changes


def _run(settings: Settings) -> Any:
    from lineflow.pipeline.runner import (
        run_partition,  # the runner imports every stage: load on use
    )

    return run_partition(settings)


def _prop_rows(ctx: Context, source: str | None = None) -> int:
    sql = "SELECT count(*) AS n FROM prop_lines WHERE slate_date = ?"
    params: list[Any] = [ctx.partition]
    if source:
        sql += " AND source = ?"
        params.append(source)
    return int(ctx.stores.warehouse.query(sql, params)["n"][0])


def process_partition(ctx: Context, findings: list[Finding]) -> list[str]:
    """Run the pipeline's stages after scrape (process, validate, consolidate, ...)."""
    stages = [s for s in ctx.settings.pipeline.stages if s != "scrape"]
    before = _prop_rows(ctx)
    pipeline = ctx.settings.pipeline.model_copy(update={"stages": stages})
    report = _run(ctx.settings.model_copy(update={"date": ctx.partition, "pipeline": pipeline}))
    files = sum(r.files for r in report.results if r.phase == "process")
    failed = [f"{r.processor}: {r.error}" for r in report.results if r.status == "failed"]
    if failed:
        raise RuntimeError("; ".join(failed))
    return [
        f"processed {files} files ({', '.join(stages)}, run {report.run_id}); "
        f"prop_lines {before} -> {_prop_rows(ctx)} rows"
    ]


def backfill_history(ctx: Context, findings: list[Finding]) -> list[str]:
    """Run the source alone at the historical snapshot; sources without one are said so."""
    snapshot = str(ctx.params.get("snapshot", "18:00Z"))
    changes = []
    for f in findings:
        name = f.data["source"]
        if not sources.load(ctx.settings.sources[name]).supports_history:
            changes.append(f"left {name}: no historical endpoint to backfill from")
            continue
        before = _prop_rows(ctx, name)
        report = _run(
            ctx.settings.model_copy(
                update={"date": ctx.partition, "only": [name], "snapshot": snapshot}
            )
        )
        failed = [f"{r.processor}: {r.error}" for r in report.results if r.status == "failed"]
        if failed:
            raise RuntimeError("; ".join(failed))
        changes.append(
            f"backfilled {name} at {snapshot} (run {report.run_id}): "
            f"{before} -> {_prop_rows(ctx, name)} rows"
        )
    return changes


def resume_prediction_batch(ctx: Context, findings: list[Finding]) -> list[str]:
    """Run the predict stage for the partition: it adopts the dead batch and finishes it."""
    pipeline = ctx.settings.pipeline.model_copy(update={"stages": ["predict"]})
    report = _run(ctx.settings.model_copy(update={"date": ctx.partition, "pipeline": pipeline}))
    failed = [f"{r.processor}: {r.error}" for r in report.results if r.status == "failed"]
    if failed:
        raise RuntimeError("; ".join(failed))
    notes = [n for r in report.results for n in r.notes]
    return [f"predict (run {report.run_id}): {'; '.join(notes) or 'done'}"]


def replay_dead_letters(ctx: Context, findings: list[Finding]) -> list[str]:
    """Re-queue every open dead letter (as `lineflow dlq replay all=true`), then run the
    partition's stages after scrape so re-queued files are processed now."""
    from lineflow.cli.commands.dlq import _replay
    from lineflow.state import StateStore
    from lineflow.state.work import WorkQueue

    queue = WorkQueue(StateStore(ctx.settings.state_path), ctx.settings.work)
    letters = queue.dead_letters()
    again = sum(not _replay(ctx.settings, queue, letter) for letter in letters)
    changes = [f"replayed {len(letters)} dead letters, {again} failed again"]
    if any(letter.kind == "file" for letter in letters):
        changes += process_partition(ctx, findings)
    return changes


def probe_proxies(ctx: Context, findings: list[Finding]) -> list[str]:
    """Scrape again the sources whose chain uses a half-open link: success closes it."""
    pools = {f.data["provider"] for f in findings}
    names = sorted(name for name, chain in ctx.settings.proxy.chains.items() if pools & set(chain))
    if not names:
        return ["no source routes through those pools"]
    stages = [s for s in ctx.settings.pipeline.stages if s in ("scrape", "process", "consolidate")]
    pipeline = ctx.settings.pipeline.model_copy(update={"stages": stages})
    report = _run(
        ctx.settings.model_copy(update={"date": ctx.partition, "only": names, "pipeline": pipeline})
    )
    return [
        f"{r.processor}: {r.status}" + (f" ({r.error})" if r.error else "")
        for r in report.results
        if r.phase == "scrape"
    ]


#: name -> detector; playbooks in YAML name them
DETECTORS: dict[str, Detector] = {
    "stale_locks": stale_locks,
    "unprocessed_files": unprocessed_files,
    "stuck_prediction_batches": stuck_prediction_batches,
    "dead_letters": dead_letters,
    "missing_sources": missing_sources,
    "blocked_proxies": blocked_proxies,
}

#: name -> (what it would do, the function or None when this build has no such action yet)
ACTIONS: dict[str, tuple[str, Action | None]] = {
    "release_locks": ("release each stale lock", release_locks),
    "process_partition": ("run the stages after scrape for the partition", process_partition),
    "backfill_history": ("run the source alone at its historical snapshot", backfill_history),
    "resume_prediction_batch": (
        "finish the batch: the predict stage adopts it",
        resume_prediction_batch,
    ),
    "replay_dead_letters": ("replay the dead letters, then process", replay_dead_letters),
    "probe_proxies": ("scrape the sources behind those proxies again", probe_proxies),
}


def check_playbooks(playbooks: list[Playbook]) -> None:
    from lineflow.core.errors import ConfigError

    for i, p in enumerate(playbooks):
        if p.detector not in DETECTORS:
            known = ", ".join(DETECTORS)
            raise ConfigError(
                f"doctor.playbooks.{i}.detector: unknown detector {p.detector!r} (known: {known})"
            )
        if p.action not in ACTIONS:
            known = ", ".join(ACTIONS)
            raise ConfigError(
                f"doctor.playbooks.{i}.action: unknown action {p.action!r} (known: {known})"
            )


def examine(
    settings: Settings, stores: Stores, partition: date, now: datetime, fix: bool
) -> list[Outcome]:
    """Run every playbook's detector; with `fix`, its action too. Logs everything."""
    check_playbooks(settings.doctor.playbooks)
    outcomes = []
    for playbook in settings.doctor.playbooks:
        ctx = Context(settings, stores, partition, now, playbook.params)
        findings = DETECTORS[playbook.detector](ctx)
        plan, action = ACTIONS[playbook.action]
        outcome = Outcome(playbook.name, "healthy", plan=plan)
        if findings is None:
            outcome.state = NOT_APPLICABLE
        elif findings:
            outcome.findings = findings
            outcome.state = "found"
            if fix and action is None:
                outcome.state = "no action"
                outcome.error = f"action {playbook.action!r} is not available in this build"
            elif fix and action is not None:
                try:
                    outcome.changes = action(ctx, findings)
                except Exception as exc:  # reported per playbook; the others still run
                    outcome.state = "failed"
                    outcome.error = f"{type(exc).__name__}: {exc}"
                else:
                    # Fixed means the detector no longer finds it, not that the action ran.
                    outcome.state = "unresolved" if DETECTORS[playbook.detector](ctx) else "fixed"
        outcomes.append(outcome)
        _log(stores, partition, now, "fix" if fix else "dry-run", outcome)
    return outcomes


def _log(stores: Stores, partition: date, now: datetime, mode: str, outcome: Outcome) -> None:
    rows: list[tuple[datetime, date, str, str, str, str | None, str | None]] = [
        (now, partition, outcome.playbook, mode, outcome.state, f.subject, f.detail)
        for f in outcome.findings
    ]
    rows += [
        (now, partition, outcome.playbook, mode, outcome.state, None, change)
        for change in outcome.changes + ([outcome.error] if outcome.error else [])
    ]
    if not rows:
        rows = [(now, partition, outcome.playbook, mode, outcome.state, None, None)]
    with stores.warehouse.session():
        stores.warehouse.ensure_feature("doctor")
        stores.warehouse.con.executemany(
            "INSERT INTO doctor_actions VALUES (?, ?, ?, ?, ?, ?, ?)", rows
        )
