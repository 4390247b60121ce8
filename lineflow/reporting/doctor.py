"""`lineflow doctor`'s detectors: what is wrong on a home, read from what it recorded.

Playbooks (conf/doctor/default.yaml) pair a detector named here with an action named in
lineflow/ops/repairs.py, which runs them. A detector only reads; it returns None when the data it
reads is not recorded on this home ("not applicable (no data)"). Reports never run the
pipeline: the actions that do (through the runner, like any run) live outside reporting/.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from lineflow.config import Settings
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


#: name -> detector; playbooks in YAML name them
DETECTORS: dict[str, Detector] = {
    "stale_locks": stale_locks,
    "unprocessed_files": unprocessed_files,
    "stuck_prediction_batches": stuck_prediction_batches,
    "dead_letters": dead_letters,
    "missing_sources": missing_sources,
    "blocked_proxies": blocked_proxies,
}
