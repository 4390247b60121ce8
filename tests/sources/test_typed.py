"""The typed path (`sources.base.Typed`: msgspec Structs of the fields a parser reads) gives
exactly the rows and errors of the general path (orjson dicts): over every recorded body, the
bodies the benchmark's season is made of, and odd bodies (the providers' traps: wrong types,
missing keys, nulls, NaN, numbers past 64 bits, duplicate keys, sentinels, outages, error
bodies), fixed and fuzzed. Usual bodies must take the typed path, or it would prove nothing."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.season import date_bodies, games_of, pass_times
from lineflow.config import compose
from lineflow.http.cassette import Cassette
from lineflow.sources import bettingpros, load, odds_api
from lineflow.sources.base import (
    FileMeta,
    ParseContext,
    ParsedBatch,
    ParseError,
    ProviderOutage,
    Typed,
)
from tests.conftest import FIXTURES
from tests.fuzz.test_parsers import FUZZ, mutated

SAMPLES = Path(__file__).parent / "samples"
CONFIG = compose([])

Batch = Callable[[Sequence[tuple[bytes, FileMeta]], ParseContext, Typed | None], ParsedBatch]
#: source -> (its batch parser taking a typed reading or None, its typed reading, the
#: recorded URIs of its props bodies, its props endpoint in the season)
SOURCES: dict[str, tuple[Batch, Typed, str, str]] = {
    "odds_api": (odds_api.event_odds_batch, odds_api._TYPED, "/odds?", "player_props"),
    "bettingpros": (bettingpros.offers_batch, bettingpros._TYPED, "/v3/offers", "offers"),
}


def ctx_of(source: str) -> ParseContext:
    config = CONFIG.sources[source]
    listing = (SAMPLES / f"{source}_events.json").read_bytes()
    events = load(config).event_parsers["events"](listing)
    return ParseContext(config.markets, config.books, events)


def meta(source: str, n: int) -> FileMeta:
    return FileMeta(f"{n:064d}", source, "x", date(2026, 1, 23), datetime(2026, 1, 23, tzinfo=UTC))


def same_both_ways(source: str, bodies: list[bytes], ctx: ParseContext | None = None) -> None:
    """All bodies as one batch, typed and general: the same frame, the same errors."""
    batch, typed, _, _ = SOURCES[source]
    ctx = ctx or ctx_of(source)
    items = [(body, meta(source, i)) for i, body in enumerate(bodies)]
    fast, general = batch(items, ctx, typed), batch(items, ctx, None)
    assert fast.frame.equals(general.frame)
    assert fast.frame.schema == general.frame.schema
    assert _worded(fast.errors) == _worded(general.errors)


def _worded(errors: dict[int, Exception]) -> dict[int, tuple[type, str]]:
    """Each error's type, and its words for the parser's own (polars words its errors with
    names of subexpressions that change from run to run)."""
    return {
        i: (type(e), str(e) if isinstance(e, ParseError | ProviderOutage) else "")
        for i, e in errors.items()
    }


def typed_takes(source: str, body: bytes) -> bool:
    """Whether the source's typed path parses `body` (rather than leaving it to the general)."""
    schema = {"odds_api": odds_api._OUTCOME_SCHEMA, "bettingpros": bettingpros._LINE_SCHEMA}
    columns: dict[str, list[Any]] = {name: [] for name in schema[source]}
    return SOURCES[source][1].walk(body, meta(source, 0), columns) is not None


def recorded(source: str) -> list[bytes]:
    _, _, uri, _ = SOURCES[source]
    bodies = []
    for path in sorted((FIXTURES / source).rglob("*.json.gz")):
        for item in Cassette.load(path)._interactions:
            if uri in item["request"]["uri"]:
                bodies.append(item["response"]["body"]["string"].encode())
    return bodies


def samples(source: str) -> list[bytes]:
    names = {
        "odds_api": ["odds_api_event_odds_*.json", "odds_api_error_*.json"],
        "bettingpros": ["bettingpros_offers_*.json", "bettingpros_props_*.json", "*forbidden*"],
    }[source]
    return [p.read_bytes() for name in names for p in sorted(SAMPLES.glob(name))]


def season(source: str) -> list[bytes]:
    """Two dates of two passes of the benchmark's season, as it writes them."""
    endpoint = SOURCES[source][3]
    bodies = []
    for day in (date(2025, 10, 22), date(2025, 11, 3)):
        for at in pass_times(day, 2):
            for where, body in date_bodies(day, at, games_of(day, 2)):
                if (where.source, where.endpoint) == (source, endpoint):
                    bodies.append(body)
    return bodies


def usual(source: str) -> list[bytes]:
    return samples(source) + recorded(source) + season(source)


@pytest.mark.parametrize("source", SOURCES)
def test_every_recorded_and_season_body_parses_the_same_both_ways(source):
    same_both_ways(source, usual(source))


@pytest.mark.parametrize("source", SOURCES)
def test_usual_bodies_take_the_typed_path(source):
    taken = [typed_takes(source, body) for body in season(source)]
    assert taken and all(taken), "the season's bodies are what the typed path is for"
    live = [b for b in recorded(source) if b'"bookmakers":[{' in b or b'"books":[{' in b]
    assert live and all(typed_takes(source, body) for body in live)


def _objects(doc: Any, marker: str) -> list[dict[str, Any]]:
    """The objects in `doc` that have the key `marker` (offers: "selections"), depth first."""
    found = []
    if isinstance(doc, dict):
        found += [doc] if marker in doc else []
        children = list(doc.values())
    else:
        children = doc if isinstance(doc, list) else []
    for child in children:
        found += _objects(child, marker)
    return found


def _set(body: bytes, marker: str, key: str, raw: str, every: bool) -> bytes:
    """`body` with `key` set to the JSON text `raw` (NaN, 1e400, a number past 64 bits) in
    the first object that has `marker`, or in every one."""
    doc = json.loads(body)
    objects = _objects(doc, marker)
    assert objects, marker
    for holder in objects if every else objects[:1]:
        holder[key] = "\u0000marker"
    return json.dumps(doc).replace('"\\u0000marker"', raw).encode()


#: source -> objects (by a key they have) -> a key the parser reads there -> JSON texts that
#: are odd there, or change what is kept (a key missing from the samples is added).
TRAPS: dict[str, dict[str, dict[str, list[str]]]] = {
    "odds_api": {
        "bookmakers": {
            "id": ["null", "5", '""'],
            "commence_time": ["null", '"garbage"', "1761177600", "1761177600.5", "true", "1e400"],
            "home_team": ["null", "5", '""'],
            "bookmakers": ["null", "[]", "{}", '"x"'],
            "timestamp": ["null", '"garbage"', "5"],
            "data": ["null", "[]", "{}"],
        },
        "markets": {
            "key": ["null", "5", '"\\u0061bc"', '"draftkings"'],
            "last_update": ["null", '""', "0", "1761177600", '"2026-01-23"', "false", "[1]"],
            "markets": ["null", "[]", "[1]", "{}"],
        },
        "outcomes": {
            "key": ["null", '"player_points"', '"player_assists"', "7"],
            "last_update": ["null", '""', "0", '"garbage"', "1e400"],
            "outcomes": ["null", "[]", "[{}]", '[{"name": "Over"}]', "[null]"],
        },
        "price": {
            "name": ["null", '" Over "', '"OVER"', '"Yes"', "5", '"\\ud800"', '"over\\u0000"'],
            "description": ['""', "null", "7", '"\\u00e9mile \\ud83c\\udfc0"', '" "'],
            "price": [
                *("NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e308", "null", "true"),
                *("18446744073709551616", "18446744073709551615", "9223372036854775808"),
                *("9223372036854775807", "-9223372036854775809", "2e0", "-0", "-0.0", "100"),
                *("-100", "99", "1.0", "1.5", "1", "0", '"-110"', "[]", "150.0", "-110.0"),
                *("1e2", "-1E2", "100.5"),
            ],
            "point": ["null", "NaN", "1e400", "22", "-0.0", '"22.5"', "[]", "1e-400"],
        },
    },
    "bettingpros": {
        "offers": {
            "offers": ["null", "[]", '["error"]', "{}", "[null]"],
            "_pagination": ["null", "[]", '{"page": "2"}', '{"total_items": 1e400}', "5"],
            "props": ["[]", '["error"]'],
            "message": ['"Forbidden"'],
        },
        "selections": {
            "event_id": ["null", '"12345"', "1.5", "99999999999999999999999", "true", "0"],
            "market_id": ["null", '"156"', "156.0", "true", "157", "999"],
            "active": ["null", "false", "true", "0", '"false"'],
            "participants": ["null", "[]", '[{"name": ""}]', '["x"]', '{"name": "A"}', "[null]"],
            "player": ['{"first_name": "Ann", "last_name": "Bo"}', "null", "5"],
            "selections": ["null", "[]", '[{"books": []}]', '["x"]'],
        },
        "player": {"name": ["null", '""', "5", '"  Zed (Q)  "', '"\\ud800"']},
        "books": {
            "selection": ["null", '"OVER"', '"Under "', '" over"', "0", '"yes"', '"UNDER"'],
            "active": ["null", "false", "true", "1"],
            "books": ["null", "[]", '[{"id": 10}]', '[{"id": 10, "lines": {}}]'],
        },
        "lines": {
            "id": ["null", "0", '"0"', '"00"', "10", '"10"', "99", "18446744073709551616"],
            "lines": ["null", "[]", "[null]", '"x"', "[{}]"],
        },
        "cost": {
            "cost": ["NaN", "-Infinity", "1e400", "9223372036854775808", "1.5", "null", '"x"'],
            "line": ["null", "NaN", "20", "-0.0", '"20.5"', "{}", "1e400"],
            "main": ["null", "false", "true", "1"],
            "updated": ["null", '"2026-01-23T10:00:00"', '"garbage"', "5"],
            "active": ["null", "false", "true", "0"],
            "is_off": ["null", "true", "false", "1"],
            "replaced": ["null", "true", "false", '"yes"'],
        },
    },
}
BASES = [
    ("odds_api", "odds_api_event_odds_live.json"),
    ("odds_api", "odds_api_event_odds_historical.json"),
    ("bettingpros", "bettingpros_offers_page2.json"),
]


@pytest.mark.parametrize(("source", "sample"), BASES)
def test_odd_values_parse_the_same_both_ways(source, sample):
    """Each trap in a recorded body, in the first object of its kind and in every one; all
    of them in one batch with the body unchanged."""
    base = (SAMPLES / sample).read_bytes()
    assert typed_takes(source, base), "a typed body to spoil"
    bodies = [base]
    for marker, keys in TRAPS[source].items():
        if not _objects(json.loads(base), marker):
            continue  # a historical wrapper's keys in a live body, say
        for key, values in keys.items():
            for raw in values:
                bodies += [_set(base, marker, key, raw, every) for every in (False, True)]
    assert len(bodies) > 100
    same_both_ways(source, bodies)


@pytest.mark.parametrize("source", SOURCES)
def test_odd_documents_parse_the_same_both_ways(source):
    good = season(source)[0]
    odd = [
        good.replace(b"{", b'{"message": "busy", ', 1),
        good.replace(b"{", b'{"error_code": "X", ', 1),
        good.replace(b"{", b'{"data": [], ', 1),
        b'{"data": ' + good + b', "timestamp": "2026-01-23T17:55:00Z"}',
        b'{"data": ' + good + b"}",
        b'{"data": ' + good + b', "timestamp": null, "bookmakers": []}',
        b'{"props": [], "offers": ' + good[good.find(b"[") : good.rfind(b"]") + 1] + b"}",
        good.replace(b'"Over"', b'"Over", "name": "Under"'),  # a duplicate key: the last wins
        good.replace(b'"over"', b'"over", "selection": "under"'),
        b"\xef\xbb\xbf" + good,  # a byte-order mark
        good + b"\n",
        good[: len(good) // 2],  # truncated
        b'{"message": "Forbidden"}',
        b"[" * 5000 + b"]" * 5000,
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        b"",
        b"null",
        b"[]",
    ]
    same_both_ways(source, [good, *odd])


@pytest.mark.parametrize("source", SOURCES)
def test_fuzzed_bodies_parse_the_same_both_ways(source):
    names = {
        "odds_api": ["odds_api_event_odds_live.json", "odds_api_event_odds_historical.json"],
        "bettingpros": ["bettingpros_offers_page1.json", "bettingpros_offers_page2.json"],
    }[source]
    ctx = ctx_of(source)

    @FUZZ
    @given(st.sampled_from(names).flatmap(mutated))
    def check(body: bytes) -> None:
        same_both_ways(source, [(SAMPLES / names[0]).read_bytes(), body], ctx)

    check()


def test_the_typed_path_sees_the_season_as_the_general_path_does():
    """A date of the season whole: both sources, one batch each, the same rows."""
    day = date(2025, 11, 3)
    for source in SOURCES:
        endpoint = SOURCES[source][3]
        bodies = [
            body
            for where, body in date_bodies(day, pass_times(day, 1)[0], games_of(day, None))
            if (where.source, where.endpoint) == (source, endpoint)
        ]
        same_both_ways(source, bodies, ParseContext(*_mappings(source), events=None))


def _mappings(source: str) -> tuple[dict[str, str], dict[str, str]]:
    config = CONFIG.sources[source]
    return dict(config.markets), dict(config.books)


@pytest.mark.parametrize("source", SOURCES)
def test_no_bodies_give_the_same_empty_frame_both_ways(source):
    same_both_ways(source, [])


#: JSON numbers no price column can hold: integers past 32 bits (past 64, signed and
#: unsigned, and any size), exponents past a double's range (1e400 -> inf) and, for a decimal
#: price, ones whose American form is past 32 bits (1e300, 1.0000000001).
OUT_OF_RANGE = st.one_of(
    st.sampled_from(
        [
            *("9223372036854775808", "-9223372036854775809", "18446744073709551616"),
            *("-18446744073709551617", "2147483648", "-2147483649", "1e400", "-1e400"),
            *("1e99999", "-1E+99999", "123456789012345678901234567890"),
        ]
    ),
    st.integers(min_value=2**31).map(str),
    st.integers(max_value=-(2**31) - 1).map(str),
    st.builds("{}{}e{}".format, st.sampled_from(["", "-"]), st.integers(1, 9), st.integers(309)),
)
#: Where a price sits in each source's body: (the object holding it, by a key, and its key).
PRICE_AT = {"odds_api": ("price", "price"), "bettingpros": ("cost", "cost")}


@pytest.mark.parametrize(("source", "sample"), BASES)
def test_an_out_of_range_price_is_a_bad_value_both_ways(source, sample):
    """A price past any column's range loses its row's price, as a price that is no number
    does (the odds rules quarantine the row): the file parses, the same both ways."""
    base = (SAMPLES / sample).read_bytes()
    marker, key = PRICE_AT[source]
    batch, typed, _, _ = SOURCES[source]
    ctx = ctx_of(source)
    not_a_number = batch([(_set(base, marker, key, '"abc"', False), meta(source, 0))], ctx, None)
    assert not not_a_number.errors and not_a_number.frame["price_american"].null_count() > 0
    numbers = OUT_OF_RANGE
    if source == "odds_api":  # a decimal price whose American price is past 32 bits
        numbers |= st.sampled_from(["1e300", "50000000.5", "1.0000000001", "1e12"])

    @FUZZ
    @given(numbers, st.booleans())
    def check(raw: str, every: bool) -> None:
        body = _set(base, marker, key, raw, every)
        wanted = batch([(_set(base, marker, key, '"abc"', every), meta(source, 0))], ctx, None)
        for way in (typed, None):
            parsed = batch([(body, meta(source, 0))], ctx, way)
            assert parsed.errors == {}, raw
            assert parsed.frame.equals(wanted.frame), raw

    check()
