"""`lineflow proxies [reset [POOL]] [key=value ...]`: proxy health, and closing breakers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lineflow.cli.keys import Command, output_format

if TYPE_CHECKING:
    from datetime import datetime

    from rich.console import Console

    from lineflow.cli.keys import Parsed
    from lineflow.config import Settings
    from lineflow.http.health import Health

COMMAND = Command(
    name="proxies",
    summary="show proxy health per pool, proxy and target host; `reset [POOL]` closes breakers",
    usage=("[key=value ...]", "reset [POOL] [key=value ...]"),
    about="""\
Show what live runs under `home` have seen through each proxy, per target host: breaker state
(closed, open, half_open), success rate, requests, last status, mean latency and last error.
Health lives in the state store ({home}/state.sqlite, shared by every run on the machine, or
Postgres with state.backend=postgres); replays do not touch it. `reset` closes the breakers
of POOL (a pool name from conf/proxy, or `direct`), or of every pool; counts are kept.""",
    keys=(output_format(),),
    run_keys=("now",),
    notes={"now": "judge breakers at this time instead of the wall clock (UTC)"},
    config=(("proxy.breaker.KEY=...", "breaker settings (conf/proxy)"),),
    actions=("reset",),
    exit_codes="0 done, 2 bad input (unknown pool or key)",
    examples=("lineflow proxies home=/tmp/lf", "lineflow proxies reset decodo home=/tmp/lf"),
)


#: What `proxies` says when no live run has gone through a proxy under this home yet.
NO_OBSERVATIONS = "no observations yet (replayed runs do not use proxies)"


def main(args: Parsed) -> int:
    from datetime import UTC, datetime

    from lineflow.config import DIRECT, compose
    from lineflow.core.errors import ConfigError
    from lineflow.http.health import ProxyHealth
    from lineflow.http.quota import stored_quotas
    from lineflow.http.session import state_store
    from lineflow.reporting.output import console, emit

    words = args.words
    json_out = args.values["format"] == "json"
    settings = compose(args.overrides)
    out = console()
    if words and words[0] != "reset":
        raise ConfigError(f"proxies: unknown action {words[0]!r} (expected: reset [POOL])")
    if len(words) > 2:
        raise ConfigError(f"proxies reset: one pool at most, got {' '.join(words[1:])}")
    store = state_store(settings)
    # Nothing recorded yet: no SQLite file under home, or a Postgres database no run has used.
    recorded = bool(store.tables())
    if words:
        pool = words[1] if len(words) == 2 else None
        known = [*settings.proxy.pools, DIRECT]
        if pool is not None and pool not in known:
            raise ConfigError(f"proxies reset: unknown pool {pool!r} (known: {', '.join(known)})")
        count = 0
        if recorded:
            count = ProxyHealth(store, settings.proxy.breaker).reset(pool)
        if json_out:
            emit({"pool": pool, "breakers_closed": count})
        elif not recorded:
            out.print(f"no proxy health under {store.where()}: nothing to reset")
        else:
            out.print(f"closed {count} breaker{'s' if count != 1 else ''} ({pool or 'all pools'})")
        return 0
    now = settings.now or datetime.now(UTC)
    health = ProxyHealth(store, settings.proxy.breaker).all() if recorded else []
    quotas = stored_quotas(store) if recorded else []
    pools = configured_pools(settings)
    if json_out:
        emit(
            {
                "pools": pools,
                "health": [_health_row(h, now) for h in health],
                "quotas": quotas,
                "note": None if health else NO_OBSERVATIONS,
            }
        )
        return 0
    if health:
        render(health, quotas, out, now)
        return 0
    render_pools(pools, out)
    out.print(NO_OBSERVATIONS)
    for q in quotas:
        out.print(_quota_line(q), soft_wrap=True)
    return 0


def configured_pools(settings: Settings) -> list[dict[str, object]]:
    """Every configured pool, its proxies and the sources whose chain goes through it."""
    return [
        {
            "pool": name,
            "provider": pool.provider,
            "kind": pool.kind,
            "rotation": pool.rotation,
            "proxies": pool.proxies,
            "sources": sorted(s for s, chain in settings.proxy.chains.items() if name in chain),
        }
        for name, pool in settings.proxy.pools.items()
    ]


def render_pools(pools: list[dict[str, object]], console: Console) -> None:
    from rich.table import Table

    table = Table(title="proxy pools (conf/proxy)")
    for column in ("pool", "provider", "kind", "rotation", "proxy", "used by"):
        table.add_column(column, no_wrap=True)
    for p in pools:
        for proxy in p["proxies"]:  # type: ignore[attr-defined]
            table.add_row(
                str(p["pool"]),
                str(p["provider"]),
                str(p["kind"]),
                str(p["rotation"]),
                proxy,
                ", ".join(p["sources"]) or "-",  # type: ignore[arg-type]
            )
    console.print(table)


def _health_row(h: Health, now: datetime) -> dict[str, object]:
    return {
        "pool": h.pool,
        "proxy": h.proxy,
        "host": h.host,
        "state": h.breaker.state(now),
        "success_rate": h.success_rate,
        "requests": h.requests,
        "last_status": h.last_status,
        "mean_latency_ms": h.mean_latency_ms,
        "retry_at": h.breaker.retry_at,
        "last_error": h.last_error,
    }


def _quota_line(q: dict[str, object]) -> str:
    return (
        f"quota {q['source']}: {q['remaining']} remaining, {q['used']} used "
        f"(last call cost {q['last']}) at {q['seen_at']}"
    )


def render(
    health: list[Health], quotas: list[dict[str, object]], console: Console, now: datetime
) -> None:
    """The health table, then why each unhealthy row is so, then each source's quota."""
    from rich.table import Table

    style = {"closed": "green", "half_open": "yellow", "open": "bold red"}
    table = Table(title="proxy health")
    for column in ("pool", "proxy", "host", "state", "success", "requests", "last", "latency"):
        right = column in ("success", "requests", "latency")
        wraps = column in ("proxy", "host")
        table.add_column(
            column,
            justify="right" if right else "left",
            no_wrap=not wraps,
            overflow="fold" if wraps else "ellipsis",
        )
    notes = []
    for h in health:
        state = h.breaker.state(now)
        rate = f"{h.success_rate:.0%}" if h.success_rate is not None else "-"
        latency = f"{h.mean_latency_ms:.0f} ms" if h.mean_latency_ms is not None else "-"
        table.add_row(
            h.pool,
            h.proxy,
            h.host,
            f"[{style[state]}]{state}[/]",
            rate,
            f"{h.requests:,}",
            h.last_status or "-",
            latency,
        )
        if state != "closed" and h.breaker.retry_at is not None:
            notes.append(
                f"{h.pool} {h.proxy} -> {h.host}: open until {h.breaker.retry_at:%Y-%m-%d %H:%M}Z"
            )
        if h.last_error and (state != "closed" or h.last_status != "200"):
            notes.append(f"{h.pool} {h.proxy} -> {h.host}: last error {h.last_error[:160]}")
    console.print(table)
    for note in notes:
        console.print(f"  {note}", soft_wrap=True)
    for q in quotas:
        console.print(_quota_line(q), soft_wrap=True)
