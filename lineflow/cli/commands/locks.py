"""`lineflow locks [release KEY | release stale=true]`: see and free stage locks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lineflow.cli.keys import Command, Key, boolean, output_format

if TYPE_CHECKING:
    from lineflow.cli.keys import Parsed
    from lineflow.state.locks import Locks

COMMAND = Command(
    name="locks",
    summary="list stage locks with age and owner; release one, or every stale one",
    usage=("[key=value ...]", "release KEY [key=value ...]", "release stale=true [key=value ...]"),
    about="""\
Locks are held per (pipeline, stage, partition), e.g. nba_props:process:2026-01-23, in
{home}/state.sqlite. A lock is stale when its expiry passed or its owner process is gone from
this host; runs take stale locks over by themselves. `release KEY` frees a lock whoever holds
it (use it only when that run is really gone); `release stale=true` frees the stale ones.""",
    keys=(
        Key("stale", boolean, False, "with `release`: free every stale lock", "true"),
        output_format(),
    ),
    config=(("locks.alert_minutes=N", "age at which a listed lock shows ALERT"),),
    actions=("release",),
    exit_codes="0 done, 2 bad input (unknown lock, bad words)",
    examples=("lineflow locks home=/tmp/lf", "lineflow locks release stale=true home=/tmp/lf"),
)


def main(args: Parsed) -> int:
    import time

    from lineflow.config import compose
    from lineflow.core.errors import ConfigError
    from lineflow.reporting.output import emit
    from lineflow.state import open_state
    from lineflow.state.locks import Locks

    words = args.words
    json_out = args.values["format"] == "json"
    settings = compose(args.overrides)
    locks = Locks(open_state(settings, create=False), settings.locks)
    if not words:
        if args.given - {"format"}:
            raise ConfigError("stale: only with `lineflow locks release`")
        rows = _rows(locks, time.time(), settings.locks.alert_minutes)
        if json_out:
            emit({"locks": rows})
        else:
            _list(rows)
        return 0
    if words[0] != "release":
        raise ConfigError(f"unknown action {words[0]!r} (expected: release)")
    stale = args.values["stale"]
    if stale and len(words) == 1:
        freed = [(lock.key, lock.owner(), reason) for lock, reason in locks.release_stale()]
    elif len(words) != 2 or stale:
        raise ConfigError("expected `lineflow locks release KEY` or `release stale=true`")
    else:
        forced = locks.force_release(words[1])
        if forced is None:
            raise ConfigError(f"no lock {words[1]!r} (see `lineflow locks`)")
        freed = [(forced.key, forced.owner(), "released by hand")]
    if json_out:
        emit({"released": [{"key": k, "owner": o, "reason": r} for k, o, r in freed]})
        return 0
    for key, owner, reason in freed:
        print(f"released {key} (held by {owner}): {reason}")
    if stale:
        print(f"{len(freed)} stale locks released")
    return 0


def _rows(locks: Locks, now: float, alert_minutes: float) -> list[dict[str, object]]:
    """Every lock held: key, owner, age and heartbeat age (seconds), state (held or stale:
    why, with an ALERT past locks.alert_minutes)."""
    rows: list[dict[str, object]] = []
    for lock in locks.held():
        reason = locks.stale_reason(lock, now)
        state = f"stale: {reason}" if reason else "held"
        if lock.age_s(now) > alert_minutes * 60:
            state += f" (ALERT: older than {alert_minutes:g} min)"
        rows.append(
            {
                "key": lock.key,
                "owner": lock.owner(),
                "age_s": round(lock.age_s(now), 1),
                "heartbeat_age_s": round(now - lock.heartbeat_at, 1),
                "state": state,
            }
        )
    return rows


def _list(held: list[dict[str, object]]) -> None:
    if not held:
        print("no locks held")
        return
    rows = [("key", "owner", "age", "last heartbeat", "state")]
    rows += [
        (
            str(r["key"]),
            str(r["owner"]),
            _ago(float(r["age_s"])),  # type: ignore[arg-type]
            _ago(float(r["heartbeat_age_s"])),  # type: ignore[arg-type]
            str(r["state"]),
        )
        for r in held
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1])


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
