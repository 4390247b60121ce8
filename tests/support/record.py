"""Re-record fixtures/cassettes by running lineflow itself in record mode against the stand-in.

    python -m tests.support.record            # the incident week, 2026-01-19..23
    python -m tests.support.record --dates 2026-01-23
    python -m tests.support.record --sources draftkings

Each pass below is one `lineflow run` with `http.mode=record`, its clock set to the pass time
and every source's base URL pointed at a stand-in provider on loopback. Every proxy pool of
conf/proxy points at its own real forward proxy (proxy.py, with basic auth), so cassettes
record the chain as a live run walks it: on 2026-01-23 the stand-in refuses BettingPros on
every path, and the cassette holds decodo's, proxyfuel's and the direct path's 403, while
DraftKings answers on its chain's first link (direct).
Rate limits are lifted (the stand-in does not mind). State goes to a temporary home that is
thrown away; only the cassettes are kept. Needs the `test` extra (proxy.py).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path

from lineflow.config import compose
from lineflow.pipeline.request import RunRequest
from lineflow.pipeline.runner import run_partition
from tests.support.forward_proxy import ForwardProxy
from tests.support.standin import StandIn

SOURCES = ("odds_api", "bettingpros", "draftkings")
ODDS_KEY = "standin-odds-key"
BP_KEY = "standin-bp-key"
#: Throwaway proxy credentials, with the characters that must be URL-encoded.
PROXY_USER = "standin-user"
PROXY_PASSWORD = "p+ss@w:rd/standin"


@dataclass(frozen=True)
class Pass:
    partition: date
    now: datetime  # the stand-in's clock and lineflow's
    sources: tuple[str, ...]
    snapshot: str | None = None


def incident_week() -> Iterator[Pass]:
    """What the original pipeline saw, 2026-01-19..23 (see fixtures/README.md)."""
    for day in (19, 20, 21, 22):
        partition = date(2026, 1, day)
        yield Pass(
            partition,
            datetime.fromisoformat(f"2026-01-{day}T16:00:00+00:00"),
            ("odds_api", "bettingpros", "draftkings"),
        )
        yield Pass(
            partition,
            datetime.fromisoformat(f"2026-01-{day + 1}T12:00:00+00:00"),
            ("odds_api",),
            snapshot="18:00Z",
        )
    partition = date(2026, 1, 23)
    yield Pass(
        partition,
        datetime.fromisoformat("2026-01-23T14:08:00+00:00"),
        ("odds_api", "bettingpros", "draftkings"),
    )
    yield Pass(partition, datetime.fromisoformat("2026-01-23T14:33:00+00:00"), ("odds_api",))


def start_pool_proxies(stack: ExitStack, overrides: list[str]) -> list[str]:
    """A forward proxy per configured pool; returns the overrides pointing the pools at them."""
    pools = compose(overrides).proxy.pools
    result = []
    for name, pool in pools.items():
        proxy = stack.enter_context(ForwardProxy(name, PROXY_USER, PROXY_PASSWORD))
        for var, value in ((pool.username_env, PROXY_USER), (pool.password_env, PROXY_PASSWORD)):
            if var:
                os.environ[var] = value
        result.append(f"proxy.pools.{name}.proxies=[{proxy.url}]")
    return result


def record(passes: list[Pass], cassettes: Path | None = None) -> None:
    os.environ["ODDS_API_KEY"] = ODDS_KEY
    os.environ["BETTINGPROS_API_KEY"] = BP_KEY
    with (
        StandIn(odds_api_key=ODDS_KEY, bettingpros_key=BP_KEY) as server,
        tempfile.TemporaryDirectory(prefix="lineflow-record-") as home,
        ExitStack() as stack,
    ):
        pool_overrides = start_pool_proxies(stack, [])
        for item in passes:
            server.set_now(item.now)
            overrides = [
                f"date={item.partition}",
                "http.mode=record",
                f"now={item.now.isoformat()}",
                f"home={home}/{item.partition}",
                f"only=[{','.join(item.sources)}]",
                *(f"sources.{name}.base_url={server.url}" for name in SOURCES),
                *(f"sources.{name}.rate_limit.per_second=0" for name in SOURCES),
                *pool_overrides,
            ]
            if item.snapshot:
                overrides.append(f"snapshot={item.snapshot}")
            if cassettes is not None:
                overrides.append(f"http.cassettes={cassettes}")
            settings = compose(overrides)
            report = run_partition(settings, RunRequest.from_settings(settings))
            summary = ", ".join(f"{r.processor}={r.status}" for r in report.results)
            print(f"{item.partition} {item.now:%H:%MZ} {item.snapshot or 'live'}: {summary}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dates", nargs="*", help="only these partitions (YYYY-MM-DD)")
    parser.add_argument("--cassettes", type=Path, help="write here instead of fixtures/cassettes")
    parser.add_argument("--sources", nargs="*", choices=SOURCES, help="only these sources")
    args = parser.parse_args()
    passes = list(incident_week())
    if args.dates:
        wanted = {date.fromisoformat(d) for d in args.dates}
        passes = [p for p in passes if p.partition in wanted]
    if args.sources:
        passes = [
            replace(p, sources=tuple(s for s in p.sources if s in args.sources)) for p in passes
        ]
        passes = [p for p in passes if p.sources]
    record(passes, args.cassettes)


if __name__ == "__main__":
    main()
