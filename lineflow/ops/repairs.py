"""Repairs: `lineflow doctor`'s actions and the dead-letter replay, which change a home.

Detection lives in lineflow/reporting/doctor.py and only reads; the actions here change things
and run stages through the runner's API (`run_partition(settings, RunRequest)`), as any run does,
so a repair takes the same locks and leaves the same run_history rows. `examine` runs every
playbook's detector and, with fix=true, its action; every finding and every action is logged in
the warehouse table `doctor_actions`. Without fix=true nothing changes.
`replay_dead_letter` is shared by `lineflow dlq replay` and the `replay_dead_letters` action.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from lineflow import sources
from lineflow.config import Playbook, Settings
from lineflow.pipeline.request import RunRequest
from lineflow.reporting import recorded
from lineflow.reporting.doctor import DETECTORS, NOT_APPLICABLE, Context, Finding, Outcome
from lineflow.reporting.recorded import Stores
from lineflow.state.work import DeadLetter, WorkQueue
from lineflow.warehouse import open_warehouse

if TYPE_CHECKING:
    from lineflow.pipeline.runner import RunReport

Action = Callable[[Context, list[Finding]], list[str]]


# -- actions ----------------------------------------------------------------------------------


def release_locks(ctx: Context, findings: list[Finding]) -> list[str]:
    changes = []
    for f in findings:
        if recorded.release_lock(ctx.stores, f.data["key"], f.data["acquired_at"]):
            changes.append(f"released {f.subject}")
        else:
            changes.append(f"left {f.subject}: retaken or released meanwhile")
    return changes


def _run(ctx: Context, **changes: Any) -> RunReport:
    """Run the partition through the runner, like any run: the request says what differs."""
    from lineflow.pipeline.runner import (
        run_partition,  # the runner imports every stage: load on use
    )

    request = RunRequest.from_settings(ctx.settings, date=ctx.partition, **changes)
    return run_partition(ctx.settings, request)


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
    report = _run(ctx, stages=tuple(stages))
    files = sum(r.files for r in report.results if r.phase == "process")
    failed = [f"{r.processor}: {r.error}" for r in report.results if r.status == "failed"]
    if failed:
        raise RuntimeError("; ".join(failed))
    return [
        f"processed {files} files ({', '.join(stages)}, run {report.run_id}); "
        f"prop_lines {before} -> {_prop_rows(ctx)} rows"
    ]


def _no_history(ctx: Context, name: str) -> str | None:
    """Why `backfill_history` leaves a source alone, None when it can backfill it."""
    if sources.load(ctx.settings.sources[name]).supports_history:
        return None
    return f"{name}: no historical endpoint to backfill from"


def _backfill_plan(ctx: Context, findings: list[Finding]) -> str:
    """What `backfill_history` will do with these findings, source by source."""
    snapshot = str(ctx.params.get("snapshot", "18:00Z"))
    steps = []
    for f in findings:
        name, why = f.data["source"], _no_history(ctx, f.data["source"])
        steps.append(f"leave {why}" if why else f"run {name} alone at its {snapshot} snapshot")
    return "; ".join(steps)


def backfill_history(ctx: Context, findings: list[Finding]) -> list[str]:
    """Run the source alone at the historical snapshot; sources without one are said so."""
    snapshot = str(ctx.params.get("snapshot", "18:00Z"))
    changes = []
    for f in findings:
        name = f.data["source"]
        why = _no_history(ctx, name)
        if why:
            changes.append(f"left {why}")
            continue
        before = _prop_rows(ctx, name)
        report = _run(ctx, only=(name,), snapshot=snapshot)
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
    report = _run(ctx, stages=("predict",))
    failed = [f"{r.processor}: {r.error}" for r in report.results if r.status == "failed"]
    if failed:
        raise RuntimeError("; ".join(failed))
    notes = [n for r in report.results for n in r.notes]
    return [f"predict (run {report.run_id}): {'; '.join(notes) or 'done'}"]


def replay_dead_letters(ctx: Context, findings: list[Finding]) -> list[str]:
    """Re-queue every open dead letter (as `lineflow dlq replay all=true`), then run the
    partition's stages after scrape so re-queued files are processed now."""
    from lineflow.state import open_state

    queue = WorkQueue(open_state(ctx.settings), ctx.settings.work)
    letters = queue.dead_letters()
    replayed = [replay_dead_letter(ctx.settings, queue, letter) for letter in letters]
    again = sum(not ok for ok, _ in replayed)
    changes = [said for _, said in replayed]
    changes.append(f"replayed {len(letters)} dead letters, {again} failed again")
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
    report = _run(ctx, only=tuple(names), stages=tuple(stages))
    return [
        f"{r.processor}: {r.status}" + (f" ({r.error})" if r.error else "")
        for r in report.results
        if r.phase == "scrape"
    ]


#: What an action will do with the findings, said before it runs (doctor without fix=true).
Plan = Callable[[Context, list[Finding]], str]

#: name -> (what it would do: a sentence, or a Plan when that depends on the findings; the
#: function, or None when this build has no such action yet)
ACTIONS: dict[str, tuple[str | Plan, Action | None]] = {
    "release_locks": ("release each stale lock", release_locks),
    "process_partition": ("run the stages after scrape for the partition", process_partition),
    "backfill_history": (_backfill_plan, backfill_history),
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
        outcome = Outcome(playbook.name, "healthy")
        if findings is None:
            outcome.state = NOT_APPLICABLE
        elif findings:
            outcome.findings = findings
            outcome.state = "found"
            outcome.plan = plan if isinstance(plan, str) else plan(ctx, findings)
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


def replay_dead_letter(
    settings: Settings, queue: WorkQueue, letter: DeadLetter
) -> tuple[bool, str]:
    """Put one dead letter's work back (`lineflow dlq replay` and doctor's replay both do it
    here): False when a replayed message failed again, and one line saying what happened
    (the caller prints it, or puts it in its JSON document)."""
    queue.requeue(letter)
    if letter.kind == "file":
        partition, _, file_id = letter.key.partition("/")
        open_warehouse(settings.warehouse).forget_processed(
            file_id, dt.date.fromisoformat(partition)
        )
        return (
            True,
            f"{letter.id}: re-queued {letter.payload_ref}; the next run of {partition} takes it",
        )
    if letter.kind == "request":
        return True, (
            f"{letter.id}: re-queued {letter.payload_ref}; the next run of "
            f"{letter.partition} asks it again"
        )
    from lineflow.ops.triggers.handler import TriggerHandler

    answer = TriggerHandler(settings).handle(
        (letter.payload or "").encode(), letter.key, check_age=False
    )
    said = f"{letter.id}: {letter.payload_ref}: {answer.body.get('status')} {answer.body}"
    return answer.status < 300 and answer.body.get("status") == "processed", said
