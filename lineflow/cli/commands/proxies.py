"""`lineflow proxies [reset [POOL]] [key=value ...]`: proxy health, and closing breakers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lineflow.cli.keys import Command

if TYPE_CHECKING:
    from datetime import datetime

    from rich.console import Console

    from lineflow.cli.keys import Parsed
    from lineflow.http.health import ProxyHealth

COMMAND = Command(
    name="proxies",
    summary="show proxy health per pool, proxy and target host; `reset [POOL]` closes breakers",
    usage=("[key=value ...]", "reset [POOL] [key=value ...]"),
    about="""\
Show what live runs under `home` have seen through each proxy, per target host: breaker state
(closed, open, half_open), success rate, requests, last status, mean latency and last error.
Health lives in {home}/state.sqlite and is shared by every run on the machine; replays do not
touch it. `reset` closes the breakers of POOL (a pool name from conf/proxy, or `direct`), or
of every pool; counts are kept.""",
    run_keys=("now",),
    notes={"now": "judge breakers at this time instead of the wall clock (UTC)"},
    config=(("proxy.breaker.KEY=...", "breaker settings (conf/proxy)"),),
    actions=("reset",),
    exit_codes="0 done, 2 bad input (unknown pool or key)",
    examples=("lineflow proxies home=/tmp/lf", "lineflow proxies reset decodo home=/tmp/lf"),
)


def main(args: Parsed) -> int:
    from datetime import UTC, datetime

    from rich.console import Console

    from lineflow.config import DIRECT, compose
    from lineflow.core.errors import ConfigError
    from lineflow.http.health import ProxyHealth
    from lineflow.http.quota import stored_quotas
    from lineflow.http.session import state_store

    words = args.words
    settings = compose(args.overrides)
    console = Console(highlight=False)
    if words and words[0] != "reset":
        raise ConfigError(f"proxies: unknown action {words[0]!r} (expected: reset [POOL])")
    if len(words) > 2:
        raise ConfigError(f"proxies reset: one pool at most, got {' '.join(words[1:])}")
    store = state_store(settings)
    if words:
        pool = words[1] if len(words) == 2 else None
        known = [*settings.proxy.pools, DIRECT]
        if pool is not None and pool not in known:
            raise ConfigError(f"proxies reset: unknown pool {pool!r} (known: {', '.join(known)})")
        if not store.path.is_file():
            console.print(f"no proxy health under {store.path}: nothing to reset")
            return 0
        health = ProxyHealth(store, settings.proxy.breaker)
        count = health.reset(pool)
        console.print(f"closed {count} breaker{'s' if count != 1 else ''} ({pool or 'all pools'})")
        return 0
    if not store.path.is_file():
        console.print(f"no proxy health recorded under {store.path} yet (live runs record it)")
        return 0
    now = settings.now or datetime.now(UTC)
    render(ProxyHealth(store, settings.proxy.breaker), stored_quotas(store), console, now)
    return 0


def render(
    health: ProxyHealth, quotas: list[dict[str, object]], console: Console, now: datetime
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
    for h in health.all():
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
        console.print(
            f"quota {q['source']}: {q['remaining']} remaining, {q['used']} used "
            f"(last call cost {q['last']}) at {q['seen_at']}",
            soft_wrap=True,
        )
