"""The daily health summary: phase completion, completeness, alerts and an overall grade.

Phase completion is DISTINCT processors that succeeded over processors configured, scrapers
included: a processor that ran 70 times counts once, and rows are never counted as processors
(the original e-mail's "Phase 2: 1530/21").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl

from lineflow.config import Settings
from lineflow.reporting import recorded
from lineflow.reporting.recorded import NOT_RECORDED, Stores
from lineflow.reporting.status import Component, StatusReport, _plain
from lineflow.reporting.status import gather as gather_status

GRADES = ("healthy", "partial", "failed")


@dataclass
class Phase:
    number: int
    stage: str
    configured: list[str]
    succeeded: list[str]
    runs: int
    #: rows written by the latest run of each processor of the phase (run_history)
    rows: int
    seconds: float
    failures: list[dict[str, Any]] = field(default_factory=list)
    #: the phase's figures for the partition: its processors' figures in `status`, summed
    figures: dict[str, int] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """complete, partial, failed (a processor only failed, or nothing ran)."""
        if set(self.configured) <= set(self.succeeded):
            return "complete"
        failed = {f["processor"] for f in self.failures if f["status"] == "failed"}
        if self.runs == 0 or (failed - set(self.succeeded)):
            return "failed"
        return "partial"

    @property
    def completion(self) -> str:
        return f"{len(set(self.succeeded) & set(self.configured))}/{len(self.configured)}"


@dataclass
class Alert:
    level: str  # warn | critical
    kind: str
    message: str
    #: the reason behind it when another section says it too (a blocked source's 403):
    #: reports print each reason once, with the places it stands for
    detail: str = ""


@dataclass
class HealthReport:
    partition: date
    days: int
    generated_at: datetime
    phases: list[Phase]
    status: StatusReport
    alerts: list[Alert]
    grade: str
    #: day, source, rows: the rows-per-source chart over the last `days` days
    rows_history: list[dict[str, Any]]
    #: day, succeeded, configured: the phase-completion chart
    phase_history: list[dict[str, Any]]
    #: day, provider, requests, ok; None when proxies are not recorded
    proxy_history: list[dict[str, Any]] | None
    quota: dict[str, int] | None

    @property
    def completeness(self) -> list[Component]:
        return self.status.components

    def to_json(self) -> dict[str, Any]:
        return _plain(
            {
                "partition": self.partition,
                "days": self.days,
                "generated_at": self.generated_at,
                "grade": self.grade,
                "phases": [
                    asdict(p) | {"status": p.status, "completion": p.completion}
                    for p in self.phases
                ],
                "completeness": [asdict(c) for c in self.completeness],
                "alerts": [asdict(a) for a in self.alerts],
                "rows_history": self.rows_history,
                "phase_history": self.phase_history,
                "proxy_history": NOT_RECORDED if self.proxy_history is None else self.proxy_history,
                "quota": NOT_RECORDED if self.quota is None else self.quota,
                "status": self.status.to_json(),
            }
        )


def configured_processors(settings: Settings) -> dict[str, list[str]]:
    """stage -> the processors the pipeline and sources config declare for it."""
    enabled = [s.name for s in settings.sources.values() if s.enabled]
    return {
        stage: [f"{stage}:{name}" for name in enabled]
        if stage in settings.health.per_source_stages
        else [stage]
        for stage in settings.pipeline.stages
    }


def phases(configured: dict[str, list[str]], runs: pl.DataFrame) -> list[Phase]:
    """Per stage: distinct processors that succeeded vs configured, from run-history rows.

    `runs` has processor, phase, status, rows, seconds, error, started_at: every run of the
    partition. Rows and processors are different things and stay apart.
    """
    result = []
    for number, (stage, names) in enumerate(configured.items(), start=1):
        mine = runs.filter(pl.col("phase") == stage).sort("started_at")
        latest = mine.unique("processor", keep="last")
        succeeded = sorted(set(mine.filter(pl.col("status") == "success")["processor"]))
        failures = [
            {k: r[k] for k in ("processor", "status", "error", "started_at")}
            for r in mine.filter(pl.col("status").is_in(["failed", "blocked", "partial"]))
            .unique(["processor", "status", "error"], keep="last", maintain_order=True)
            .iter_rows(named=True)
        ]
        result.append(
            Phase(
                number=number,
                stage=stage,
                configured=list(names),
                succeeded=succeeded,
                runs=mine.height,
                rows=int(latest["rows"].sum() or 0),
                seconds=float(mine["seconds"].sum() or 0.0),
                failures=failures,
            )
        )
    return result


def summed(figures: list[dict[str, int]]) -> dict[str, int]:
    """Figures of several processors (a phase's sources) added key by key, in order."""
    total: dict[str, int] = {}
    for one in figures:
        for key, n in one.items():
            total[key] = total.get(key, 0) + n
    return total


def grade(phase_list: list[Phase], components: list[Component]) -> str:
    """All phases complete -> healthy; any failed -> failed; else partial (domain rule).

    A day whose phases all completed but whose data is short, missing or blocked is partial:
    every processor succeeding on nothing is not a healthy day.
    """
    statuses = {p.status for p in phase_list}
    if "failed" in statuses:
        return "failed"
    if statuses != {"complete"}:
        return "partial"
    if any(c.status in ("short", "missing", "blocked") for c in components):
        return "partial"
    return "healthy"


def alerts(
    settings: Settings,
    status: StatusReport,
    now: datetime,
    quota: dict[str, int] | None,
    proxy_day: list[dict[str, Any]] | None,
) -> list[Alert]:
    """What needs a person's attention today (pure over what was read)."""
    limits = settings.health.alerts
    found: list[Alert] = []
    for lock in status.locks or []:
        acquired = lock.get("acquired_at")
        if acquired is not None and now - acquired > timedelta(minutes=limits.lock_age_minutes):
            minutes = (now - acquired).total_seconds() / 60
            found.append(Alert("warn", "lock", f"lock {lock['key']} held for {minutes:.0f} min"))
    if status.dead_letters:
        found.append(
            Alert("warn", "dead-letters", f"{len(status.dead_letters)} dead letters waiting")
        )
    for c in status.components:
        if c.status == "blocked":
            found.append(Alert("critical", "blocked", f"{c.name}: source blocked", c.note))
        elif c.status in ("short", "missing"):
            found.append(
                Alert("warn", "completeness", f"{c.name}: {c.status}, {c.actual} of {c.expected}")
            )
    for source, remaining in (quota or {}).items():
        if remaining < limits.quota_min_remaining:
            found.append(Alert("warn", "quota", f"{source}: {remaining} requests left this month"))
    batch = status.prediction_batch
    if batch and batch.get("status") != "complete":
        done, expected = batch.get("completed"), batch.get("expected")
        found.append(
            Alert(
                "warn",
                "prediction-batch",
                f"prediction batch {batch.get('batch_id')} {batch.get('status')}: "
                f"{done}/{expected} player markets",
            )
        )
    for row in proxy_day or []:
        rate = row["ok"] / row["requests"] if row["requests"] else 1.0
        level = (
            "critical"
            if rate < limits.proxy_success_critical
            else "warn"
            if rate < limits.proxy_success_warn
            else None
        )
        if level:
            found.append(Alert(level, "proxy", f"proxy {row['provider']}: {rate:.0%} success"))
    return found


def _runs(stores: Stores, first: date, last: date) -> pl.DataFrame:
    return stores.warehouse.query(
        "SELECT slate_date, processor, phase, status, rows, error, started_at, "
        "epoch(finished_at) - epoch(started_at) AS seconds FROM run_history "
        "WHERE slate_date BETWEEN ? AND ? ORDER BY started_at",
        [first, last],
    )


def gather(
    settings: Settings, stores: Stores, partition: date, days: int, now: datetime
) -> HealthReport:
    """Everything `lineflow health` shows for a partition and the days before it."""
    first = partition - timedelta(days=days - 1)
    configured = configured_processors(settings)
    status = gather_status(settings, stores, partition, now)
    with stores.warehouse.session():
        runs = _runs(stores, first, partition)
        rows = stores.warehouse.query(
            "SELECT slate_date AS day, source, count(*) AS rows FROM prop_lines "
            "WHERE slate_date BETWEEN ? AND ? GROUP BY ALL ORDER BY ALL",
            [first, partition],
        )
    day_phases = {
        first + timedelta(days=i): phases(
            configured, runs.filter(pl.col("slate_date") == first + timedelta(days=i))
        )
        for i in range(days)
    }
    enabled = [s.name for s in settings.sources.values() if s.enabled]
    found = {(r["day"], r["source"]): r["rows"] for r in rows.iter_rows(named=True)}
    rows_history = [
        {"day": day, "source": name, "rows": int(found.get((day, name), 0))}
        for day in day_phases
        for name in enabled
    ]
    phase_history = [
        {
            "day": day,
            "succeeded": sum(len(set(p.succeeded) & set(p.configured)) for p in plist),
            "configured": sum(len(p.configured) for p in plist),
        }
        for day, plist in day_phases.items()
    ]
    proxy = recorded.read_proxy_success(stores, first, partition)
    proxy_history = None if proxy is None else list(proxy.iter_rows(named=True))
    proxy_day = (
        None
        if proxy_history is None
        else [r for r in proxy_history if r["day"] == partition.isoformat()]
    )
    quota = recorded.read_quota(stores)
    today = day_phases[partition]
    for phase in today:
        phase.figures = summed([status.figures.get(name, {}) for name in phase.configured])
    return HealthReport(
        partition=partition,
        days=days,
        generated_at=now,
        phases=today,
        status=status,
        alerts=alerts(settings, status, now, quota, proxy_day),
        grade=grade(today, status.components),
        rows_history=rows_history,
        phase_history=phase_history,
        proxy_history=proxy_history,
        quota=quota,
    )
