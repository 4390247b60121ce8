"""Every parser, fuzzed: arbitrary bytes, and real recorded bodies with values mutated, keys
dropped, types swapped and nesting deepened. A parser returns rows or raises its source's
ParseError or ProviderOutage, nothing else, and an adversarial body (nesting a million deep,
a huge string) costs no more than its size.

Bounded and deterministic (`derandomize=True`): the same examples every run, a few seconds.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lineflow import sources
from lineflow.config import compose
from lineflow.sources.base import FileMeta, ParseContext, ParseError, ProviderOutage, parse_one

SAMPLES = Path(__file__).parents[1] / "sources" / "samples"
FUZZ = settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CONFIG = compose([])


def _source(name: str) -> sources.Source:
    return sources.load(CONFIG.sources[name])


def _ctx(name: str) -> ParseContext:
    source = _source(name)
    listing = (SAMPLES / f"{name}_events.json").read_bytes()
    events = source.event_parsers["events"](listing)
    return ParseContext(source.config.markets, source.config.books, events)


def _meta(name: str, endpoint: str) -> FileMeta:
    return FileMeta("f" * 64, name, endpoint, date(2026, 1, 23), datetime(2026, 1, 23, tzinfo=UTC))


def _parser(name: str, endpoint: str) -> Callable[[bytes], Any]:
    """One body in, rows out (or the parser's error): an event or a props parser alike."""
    source = _source(name)
    if endpoint in source.event_parsers:
        return source.event_parsers[endpoint]
    batch = source.batch_parser(endpoint)
    assert batch is not None
    ctx, meta = _ctx(name), _meta(name, endpoint)
    return lambda body: parse_one(batch, body, meta, ctx)


#: (source, endpoint, recorded samples of its bodies)
PARSERS = [
    ("odds_api", "events", ["odds_api_events.json", "odds_api_events_unix.json"]),
    ("odds_api", "events_history", ["odds_api_events_historical.json"]),
    (
        "odds_api",
        "player_props",
        ["odds_api_event_odds_live.json", "odds_api_event_odds_prices.json"],
    ),
    ("odds_api", "player_props_history", ["odds_api_event_odds_historical.json"]),
    ("bettingpros", "events", ["bettingpros_events.json"]),
    (
        "bettingpros",
        "offers",
        ["bettingpros_offers_page1.json", "bettingpros_offers_outage_sentinel.json"],
    ),
]
IDS = [f"{name}-{endpoint}" for name, endpoint, _ in PARSERS]
PROPS = [parser for parser in PARSERS if not parser[1].startswith("events")]


def judge(parse: Callable[[bytes], Any], body: bytes) -> None:
    """The property: rows, or the source's own error with a one-line message."""
    try:
        rows = parse(body)
    except (ParseError, ProviderOutage) as exc:
        assert "\n" not in str(exc), str(exc)
        return
    assert isinstance(rows, pl.DataFrame)


# -- mutations of recorded bodies -----------------------------------------------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e400, -1e400, 0, -0.0, 100, -110, 1.5, 2**63]),
    st.text(max_size=12),
    st.sampled_from(["", "abc", "2026-01-23T00:00:00Z", "garbage", "156", "10", "NaN"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _places(doc: Any, at: tuple = ()) -> list[tuple]:
    """Every path into a JSON document (keys and indexes), the root included."""
    found = [at]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _places(value, (*at, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc[:3]):  # the first items stand for the rest
            found += _places(value, (*at, i))
    return found


def _mutate(doc: Any, at: tuple, how: str, value: Any) -> Any:
    if not at:
        return {"swap": value, "drop": {}, "deepen": [doc]}[how]
    parent = doc
    for step in at[:-1]:
        parent = parent[step]
    last = at[-1]
    if how == "drop" and isinstance(parent, dict):
        del parent[last]
    elif how == "deepen":
        parent[last] = [[parent[last]]]
    else:
        parent[last] = value
    return doc


@st.composite
def mutated(draw: st.DrawFn, sample: str) -> bytes:
    doc = json.loads((SAMPLES / sample).read_bytes())
    for _ in range(draw(st.integers(1, 3))):
        places = _places(doc)
        at = draw(st.sampled_from(places))
        how = draw(st.sampled_from(["swap", "drop", "deepen"]))
        doc = _mutate(doc, at, how, draw(VALUES))
    return json.dumps(doc, allow_nan=True).encode()


@pytest.mark.parametrize(("name", "endpoint", "samples"), PARSERS, ids=IDS)
def test_arbitrary_bytes_give_rows_or_the_parse_error(name, endpoint, samples):
    parse = _parser(name, endpoint)

    @FUZZ
    @given(st.binary(max_size=512) | st.text(max_size=200).map(str.encode))
    def check(body: bytes) -> None:
        judge(parse, body)

    check()


@pytest.mark.parametrize(("name", "endpoint", "samples"), PARSERS, ids=IDS)
def test_mutated_recorded_bodies_give_rows_or_the_parse_error(name, endpoint, samples):
    parse = _parser(name, endpoint)

    @FUZZ
    @given(st.sampled_from(samples).flatmap(mutated))
    def check(body: bytes) -> None:
        judge(parse, body)

    check()


@pytest.mark.parametrize(
    ("name", "endpoint", "samples"), PROPS, ids=lambda p: p if isinstance(p, str) else ""
)
def test_a_non_finite_price_is_a_row_problem_not_the_files(name, endpoint, samples):
    """NaN, Infinity, 1e400 in a body: the same rows as the recorded body, none lost."""
    parse = _parser(name, endpoint)
    body = (SAMPLES / samples[0]).read_bytes()
    clean = parse(body)
    key = b'"price":' if name == "odds_api" else b'"cost":'
    for value in (b"NaN", b"Infinity", b"-Infinity", b"1e400"):
        head, _, tail = body.partition(key)
        number = len(tail) - len(tail.lstrip(b" -0123456789."))
        rows = parse(head + key + value + tail[number:])
        assert rows.height == clean.height, value
        assert all(math.isfinite(p) for p in rows["price_decimal"].drop_nulls())


@pytest.mark.parametrize(("name", "endpoint", "samples"), PARSERS, ids=IDS)
def test_adversarial_bodies_cost_no_more_than_their_size(name, endpoint, samples):
    """Deep nesting is refused before any recursion; a huge string is read once. Each of these
    bodies is a few MB: a linear parser takes milliseconds, a quadratic one minutes."""
    parse = _parser(name, endpoint)
    bodies = [
        b"[" * 1_000_000 + b"]" * 1_000_000,
        b'{"a":' * 200_000 + b"1" + b"}" * 200_000,
        b"[" * 1_000_000,  # truncated as well
        json.dumps(["x" * 4_000_000]).encode(),
        json.dumps([{"id": str(i)} for i in range(100_000)]).encode(),
    ]
    for body in bodies:
        started = time.perf_counter()
        judge(parse, body)
        assert time.perf_counter() - started < 5, f"{len(body)} bytes took too long"
