"""The source contract: everything lineflow asks of a line provider, as one type.

`Source` is the base class a source implements (as httpx's transports implement
`BaseTransport`): the stages, the backfill and the reports hold a `Source`, never a module, and
never probe for what it has. A source written as a module (docs/sources.md) is adapted by
`ModuleSource`, which checks the module when it loads and names, in one line, what it lacks or
has of the wrong kind. A source built another way (a declarative one, say) subclasses `Source`.

Optional capabilities are declared, not discovered: `lists_events` says whether `list_events`
works, `pricing` is None for a provider that charges no credits, `prop_batch_parsers` may be
empty (the per-body parsers then run one by one).
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType, ModuleType
from typing import Any

import polars as pl
from pydantic import BaseModel, ValidationError

from lineflow.config import SourceConfig
from lineflow.core.errors import ConfigError
from lineflow.sources.base import BatchParser, Fetch, FileMeta, ParseContext, one_by_one

#: A body that lists events -> one row per event (`EVENT_COLUMNS`).
EventParser = Callable[[bytes], pl.DataFrame]
#: A props body, its manifest facts and the source's maps -> prop lines (`PARSED_COLUMNS`).
PropParser = Callable[[bytes, FileMeta, ParseContext], pl.DataFrame]


@dataclass(frozen=True)
class Cost:
    """Calls to a provider and the credits it charges for them."""

    requests: int = 0
    credits: int = 0


@dataclass(frozen=True)
class Pricing:
    """What the provider charges for a partition's historical plan (what a backfill spends),
    declared by the source so that the backfill can say it before anything is spent: the calls
    made once a partition (an events list, say) and once per game (its odds), with their
    credits."""

    #: what the credits are called, e.g. "Odds API credits"
    unit: str
    per_partition: Cost
    per_game: Cost
    #: how the numbers come about, for the estimate's line
    basis: str = ""

    def partition(self, games: int) -> Cost:
        """One partition of `games` games."""
        return Cost(
            self.per_partition.requests + games * self.per_game.requests,
            self.per_partition.credits + games * self.per_game.credits,
        )


_NONE: Mapping[str, Any] = MappingProxyType({})


class Source(ABC):
    """One configured line provider: its request plan, its parsers and what it declares."""

    #: Whether `snapshot=...` runs have a historical plan.
    supports_history: bool = False
    #: endpoint -> parser of bodies that list events (their teams and tip-offs).
    event_parsers: Mapping[str, EventParser] = _NONE
    #: endpoint -> parser of bodies with prop lines.
    prop_parsers: Mapping[str, PropParser] = _NONE
    #: endpoint -> parser of many props bodies at once (`sources.base.parse_batch`), preferred.
    prop_batch_parsers: Mapping[str, BatchParser] = _NONE
    #: The pydantic model of the YAML's `options:` block (None: the source takes none).
    options: type[BaseModel] | None = None
    #: Whether `list_events` lists a partition's events apart from the plan (the backfill learns
    #: a slate's first tip-off from it).
    lists_events: bool = False
    #: What the provider charges for a historical partition; None: no credits.
    pricing: Pricing | None = None

    def __init__(self, config: SourceConfig) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return self.config.name

    @abstractmethod
    def scrape(self, fetch: Fetch, partition: date, snapshot: datetime | None) -> None:
        """Run the request plan of one pass through `fetch`, which lands every 2xx body and
        raises `Blocked`; raise `SourceFailed` for an error retrying cannot fix. `snapshot` is
        None for a live pass."""

    def list_events(self, fetch: Fetch, partition: date, snapshot: datetime | None) -> pl.DataFrame:
        """The partition's events (`EVENT_COLUMNS`), landed like every response; only when
        `lists_events`."""
        raise NotImplementedError(f"source {self.name} does not list events")

    def batch_parser(self, endpoint: str) -> BatchParser | None:
        """The parser of the endpoint's props bodies: the batch one, else the per-body one run
        body by body; None when the endpoint has no props parser."""
        batch = self.prop_batch_parsers.get(endpoint)
        if batch is not None:
            return batch
        parser = self.prop_parsers.get(endpoint)
        return None if parser is None else one_by_one(parser)


#: A check of one name a module provides: None when it is what it should be, else what it is.
Check = Callable[[Any], str | None]


def _function(*params: str) -> Check:
    """A function taking these positional parameters."""

    def check(value: Any) -> str | None:
        if not callable(value):
            return _kind(value)
        try:
            inspect.signature(value).bind(*params)
        except TypeError:
            return f"a function {_signature(value)}"
        except ValueError:  # no signature to read (a builtin): trust it
            pass
        return None

    return check


def _parsers(*params: str) -> Check:
    """A dict of endpoint names to functions taking these parameters."""
    function = _function(*params)

    def check(value: Any) -> str | None:
        if not isinstance(value, Mapping):
            return _kind(value)
        for endpoint, parser in value.items():
            if not isinstance(endpoint, str):
                return f"a dict with the key {endpoint!r}"
            problem = function(parser)
            if problem is not None:
                return f"a dict whose {endpoint!r} is {problem}"
        return None

    return check


def _bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else _kind(value)


def _model(value: Any) -> str | None:
    return None if isinstance(value, type) and issubclass(value, BaseModel) else _kind(value)


#: What a source module provides: name -> (required, what it should be, its check).
MODULE_CONTRACT: dict[str, tuple[bool, str, Check]] = {
    "scrape": (
        True,
        "a function (fetch, source, partition, snapshot)",
        _function("fetch", "source", "partition", "snapshot"),
    ),
    "SUPPORTS_HISTORY": (True, "a bool", _bool),
    "EVENT_PARSERS": (True, "a dict of endpoint -> function (body)", _parsers("body")),
    "PROP_PARSERS": (
        True,
        "a dict of endpoint -> function (body, meta, ctx)",
        _parsers("body", "meta", "ctx"),
    ),
    "PROP_BATCH_PARSERS": (
        False,
        "a dict of endpoint -> function (items, ctx)",
        _parsers("items", "ctx"),
    ),
    "Options": (False, "a pydantic model class", _model),
    "list_events": (
        False,
        "a function (fetch, source, partition, snapshot)",
        _function("fetch", "source", "partition", "snapshot"),
    ),
    "pricing": (False, "a function (source) -> Pricing", _function("source")),
}


class ModuleSource(Source):
    """A source written as a module: the names of `MODULE_CONTRACT`, checked when it loads."""

    def __init__(self, config: SourceConfig, module: ModuleType) -> None:
        super().__init__(config)
        names = vars(module)
        where = f"sources.{config.name}.module: {config.module}"
        missing = [n for n, (required, _, _) in MODULE_CONTRACT.items() if required]
        missing = [n for n in missing if n not in names]
        wrong = [
            f"{config.module}.{n} should be {what}, not {problem}"
            for n, (_, what, check) in MODULE_CONTRACT.items()
            if n in names and (problem := check(names[n])) is not None
        ]
        if missing or wrong:
            lacks = [f"lacks {', '.join(missing)}"] if missing else []
            raise ConfigError(f"{where} {'; '.join(lacks + wrong)} (see docs/sources.md)")
        self.module = module
        self._scrape = names["scrape"]
        self._list_events = names.get("list_events")
        self.supports_history = names["SUPPORTS_HISTORY"]
        self.event_parsers = MappingProxyType(dict(names["EVENT_PARSERS"]))
        self.prop_parsers = MappingProxyType(dict(names["PROP_PARSERS"]))
        self.prop_batch_parsers = MappingProxyType(dict(names.get("PROP_BATCH_PARSERS", {})))
        self.options = names.get("Options")
        check_options(config, self.options)  # before anything reads them (pricing does)
        self.lists_events = self._list_events is not None
        if "pricing" in names:
            pricing = names["pricing"](config)
            if not isinstance(pricing, Pricing):
                raise ConfigError(
                    f"{where}.pricing(source) should return a Pricing, not {_kind(pricing)} "
                    "(see docs/sources.md)"
                )
            self.pricing = pricing

    def scrape(self, fetch: Fetch, partition: date, snapshot: datetime | None) -> None:
        self._scrape(fetch, self.config, partition, snapshot)

    def list_events(self, fetch: Fetch, partition: date, snapshot: datetime | None) -> pl.DataFrame:
        if self._list_events is None:
            return super().list_events(fetch, partition, snapshot)
        return self._list_events(fetch, self.config, partition, snapshot)  # type: ignore[no-any-return]


def check_options(config: SourceConfig, model: type[BaseModel] | None) -> None:
    """The YAML's `options:` block against the source's model: one line naming the first
    key that is wrong."""
    if model is None:
        return
    try:
        model.model_validate(config.options)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        problem = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        raise ConfigError(f"sources.{config.name}.options.{key}: {problem}") from None


def _kind(value: Any) -> str:
    """What a value is, in a few words: "a str", "the class Options"."""
    if isinstance(value, type):
        return f"the class {value.__name__}"
    return f"a {type(value).__name__}"


def _signature(function: Any) -> str:
    try:
        return str(inspect.signature(function))
    except ValueError:
        return "()"
