"""`DeclarativeSource`: a `Source` whose plan and parsers are its YAML's `rest:` block.

The stages, the backfill and the reports hold it like any `Source`; nothing downstream knows
it was declared rather than written. The spec was validated when the config loaded; here it is
compiled once per process (a parse pool's worker compiles its own from the config it is sent).
"""

from __future__ import annotations

from datetime import date, datetime
from types import MappingProxyType

import polars as pl

from lineflow.config import SourceConfig
from lineflow.sources.base import EVENT_COLUMNS, Fetch, FileMeta, ParseContext, parse_one
from lineflow.sources.contract import Cost, Pricing, Source
from lineflow.sources.declarative.finish import Parser
from lineflow.sources.declarative.plan import run_plan
from lineflow.sources.declarative.spec import RestSpec


class DeclarativeSource(Source):
    """A line source declared in YAML (`rest:`)."""

    def __init__(self, config: SourceConfig) -> None:
        super().__init__(config)
        spec: RestSpec = config.rest
        self.spec = spec
        self.supports_history = bool(spec.history)
        self.props = Parser(spec.props, f"{config.name} props")
        self.events = Parser(spec.events, f"{config.name} events") if spec.events else None
        if self.events is not None:
            self.event_parsers = MappingProxyType(
                dict.fromkeys(spec.events.endpoints, self.events.parse_events)  # type: ignore[union-attr]
            )
        self.prop_batch_parsers = MappingProxyType(
            dict.fromkeys(spec.props.endpoints, self.props.parse_batch)
        )
        self.prop_parsers = MappingProxyType(dict.fromkeys(spec.props.endpoints, self._parse_one))
        self.lists_events = spec.requests[0].lists is not None
        if spec.pricing is not None:
            p = spec.pricing
            self.pricing = Pricing(
                unit=p.unit,
                per_partition=Cost(p.per_partition.requests, p.per_partition.credits),
                per_game=Cost(p.per_game.requests, p.per_game.credits),
                basis=p.basis,
            )

    def _parse_one(self, body: bytes, meta: FileMeta, ctx: ParseContext) -> pl.DataFrame:
        return parse_one(self.props.parse_batch, body, meta, ctx)

    def _plan(self, snapshot: datetime | None) -> list:
        return list(self.spec.history if snapshot is not None else self.spec.requests)

    def scrape(self, fetch: Fetch, partition: date, snapshot: datetime | None) -> None:
        run_plan(fetch, self.config, self._plan(snapshot), partition, snapshot, self._listing)

    def list_events(self, fetch: Fetch, partition: date, snapshot: datetime | None) -> pl.DataFrame:
        if not self.lists_events:
            return super().list_events(fetch, partition, snapshot)
        plan = self._plan(snapshot)[:1]
        listed = run_plan(
            fetch, self.config, plan, partition, snapshot, self._listing, stop_after_listing=True
        )
        return listed if listed is not None else pl.DataFrame(schema=EVENT_COLUMNS)

    def _listing(self, body: bytes) -> pl.DataFrame:
        assert self.events is not None  # the spec has an events mapping for listing requests
        return self.events.parse_events(body)
