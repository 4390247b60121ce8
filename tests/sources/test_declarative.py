"""Declarative sources (`rest:`): the spec is checked when the config loads, the request plan
fans out and pages, and the mapping reads flat arrays joined by id and nested lists alike."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
import pytest
from pydantic import ValidationError

from lineflow import sources
from lineflow.config import SourceConfig
from lineflow.core.errors import ConfigError, ParseError, ProviderOutage, SourceFailed
from lineflow.sources.base import Call, Fetch, Fetched, FileMeta, ParseContext
from tests.conftest import run_cli

DAY = date(2026, 1, 23)
FETCHED = datetime(2026, 1, 23, 14, 8, tzinfo=UTC)
META = FileMeta("f1", "acme", "props", DAY, FETCHED)

#: A flat-array provider (DraftKings' shape): selections -> markets -> events, joined by id.
FLAT_SPEC: dict[str, Any] = {
    "vars": {"league": "7"},
    "requests": [
        {
            "endpoint": "props",
            "for_each": "market",
            "path": "/leagues/{league}/markets",
            "query": {"sub": "{market}"},
        }
    ],
    "props": {
        "endpoints": ["props"],
        "outage_when": [{"when": "error.code == 'DOWN'", "message": "provider down"}],
        "rows": {"selection": "doc.selections"},
        "lookups": {
            "market": {"list": "doc.markets", "key": "id", "match": "selection.marketId"},
            "event": {"list": "doc.events", "key": "id", "match": "market.eventId"},
        },
        "fields": {
            "event_id": {"path": "event.id"},
            "commence_time": {"path": "event.start"},
            "home_team": {"path": "event.name", "split": " @ ", "part": 1},
            "away_team": {"path": "event.participants[venueRole=Away].name"},
            "bookmaker": {"value": "acmebook"},
            "market": {"path": "market.sub", "map": "markets", "unmapped": "drop"},
            "player_name": {"path": "selection.participants[0].name"},
            "side": {"path": "selection.outcomeType"},
            "line": {"path": "selection.points"},
            "price": {"path": "selection.odds.american", "format": "american"},
        },
        "keep": [
            {"field": "market.isSuspended", "not_equals": True},
            {"field": "event.status", "not_in": ["STARTED"]},
        ],
        "slate": "partition",
    },
}


def source_config(spec: dict[str, Any], **extra: Any) -> SourceConfig:
    return SourceConfig.model_validate(
        {
            "name": "acme",
            "base_url": "https://acme.example",
            "markets": {"12": "player_points", "13": "player_rebounds"},
            "rest": spec,
            **extra,
        }
    )


def event(eid: str, start: str, status: str = "NOT_STARTED") -> dict[str, Any]:
    return {
        "id": eid,
        "name": "NY Knicks @ BOS Celtics",
        "start": start,
        "status": status,
        "participants": [
            {"name": "BOS Celtics", "venueRole": "Home"},
            {"name": "NY Knicks", "venueRole": "Away"},
        ],
    }


def selection(market: str, side: str, price: str, points: float = 20.5, name: str = "Jo Doe"):
    return {
        "marketId": market,
        "outcomeType": side,
        "points": points,
        "odds": {"american": price},
        "participants": [{"name": name, "type": "Player"}],
    }


def flat_body(**changes: Any) -> bytes:
    doc = {
        "events": [
            event("e1", "2026-01-24T00:30:00.0000000Z"),
            event("e2", "2026-01-23T17:00:00.0000000Z", status="STARTED"),
            event("e3", "2026-01-25T00:30:00.0000000Z"),  # the next slate
        ],
        "markets": [
            {"id": "m1", "eventId": "e1", "sub": "12"},
            {"id": "m2", "eventId": "e1", "sub": "12", "isSuspended": True},
            {"id": "m3", "eventId": "e2", "sub": "12"},
            {"id": "m4", "eventId": "e3", "sub": "12"},
            {"id": "m5", "eventId": "e1", "sub": "99"},  # a milestone market: not mapped
        ],
        "selections": [
            selection("m1", "Over", "\u2212115"),
            selection("m1", "Under", "+105"),
            selection("m2", "Over", "\u2212110", name="Suspended Sam"),
            selection("m3", "Over", "\u2212110", name="Started Stan"),
            selection("m4", "Over", "\u2212110", name="Tomorrow Tom"),
            selection("m5", "Over", "+300", name="Milestone Mo"),
        ],
    }
    doc.update(changes)
    return json.dumps(doc).encode()


def parse(spec: dict[str, Any], body: bytes) -> pl.DataFrame:
    config = source_config(spec)
    source = sources.load(config)
    return source.prop_parsers["props"](body, META, ParseContext(markets=config.markets))


# -- the mapping ------------------------------------------------------------------------------


def test_flat_arrays_are_joined_by_id_and_the_traps_are_filtered():
    rows = parse(FLAT_SPEC, flat_body())
    assert rows.select("player_name", "side", "line", "price_american").rows() == [
        ("Jo Doe", "over", 20.5, -115),
        ("Jo Doe", "under", 20.5, 105),
    ]
    first = rows.row(0, named=True)
    assert first["event_id"] == "e1"
    assert first["home_team"] == "BOS Celtics" and first["away_team"] == "NY Knicks"
    assert first["commence_time"] == datetime(2026, 1, 24, 0, 30, tzinfo=UTC)
    assert first["slate_date"] == DAY
    assert first["market"] == "player_points" and first["bookmaker"] == "acmebook"
    assert first["snapshot_at"] == FETCHED and first["source"] == "acme"
    assert first["player_key"] == "jo_doe"
    assert first["price_decimal"] == pytest.approx(1 + 100 / 115)


def test_prices_in_each_format_and_timestamps_with_any_fraction():
    spec = json.loads(json.dumps(FLAT_SPEC))
    body = flat_body(
        selections=[
            selection("m1", "Over", "\\u2212115"),  # escaped in the file, same minus
            selection("m1", "Under", "EVEN"),
        ]
    )
    rows = parse(spec, body.replace(b"\\\\u2212", b"\\u2212"))
    assert rows["price_american"].to_list() == [-115, 100]
    spec["props"]["fields"]["price"] = {"path": "selection.odds.american", "format": "fractional"}
    rows = parse(spec, flat_body(selections=[selection("m1", "Over", "10/13")]))
    assert rows["price_decimal"].to_list() == [pytest.approx(1 + 10 / 13)]
    spec["props"]["fields"]["price"] = {"path": "selection.odds.american", "format": "decimal"}
    rows = parse(spec, flat_body(selections=[selection("m1", "Over", "1.87")]))
    assert rows["price_decimal"].to_list() == [1.87]
    assert rows["price_american"].to_list() == [-115]
    for start in ("2026-01-24T00:30:00Z", "2026-01-24T00:30:00.1234567Z"):
        body = flat_body(events=[event("e1", start)], selections=[selection("m1", "Over", "+100")])
        commence = parse(FLAT_SPEC, body)["commence_time"][0]
        assert commence.replace(microsecond=0) == datetime(2026, 1, 24, 0, 30, tzinfo=UTC)


def test_a_sentinel_body_is_an_outage_and_a_bad_shape_a_parse_error():
    with pytest.raises(ProviderOutage, match="acme props: provider down"):
        parse(FLAT_SPEC, json.dumps({"error": {"code": "DOWN"}}).encode())
    with pytest.raises(ParseError, match="rows 'selection' should be a list"):
        parse(FLAT_SPEC, flat_body(selections={"oops": 1}))
    with pytest.raises(ParseError, match="invalid JSON"):
        parse(FLAT_SPEC, b'{"selections": [')


def test_nested_lists_with_the_main_line_closest_to_even():
    spec = {
        "requests": [{"endpoint": "odds", "path": "/odds"}],
        "props": {
            "endpoints": ["odds"],
            "rows": {"book": "doc.books", "outcome": "book.outcomes"},
            "fields": {
                "event_id": {"path": "doc.id"},
                "commence_time": {"path": "doc.tip", "format": "unix"},
                "bookmaker": {"path": "book.key"},
                "market": {"value": "player_points"},
                "player_name": {"path": "outcome.player"},
                "side": {"path": "outcome.side"},
                "line": {"path": "outcome.line"},
                "price": {"path": "outcome.price", "format": "auto"},
                "last_update": {"path": "book.updated", "format": "%Y-%m-%d %H:%M:%S"},
            },
            "main_line": "closest_to_even",
        },
    }
    outcomes = [
        {"player": "Al B", "side": "Over", "line": 9.5, "price": -300},
        {"player": "Al B", "side": "Under", "line": 9.5, "price": 220},
        {"player": "Al B", "side": "Over", "line": 11.5, "price": 1.91},  # decimal
        {"player": "Al B", "side": "Under", "line": 11.5, "price": 1.91},
    ]
    body = json.dumps(
        {
            "id": "g1",
            "tip": 1769214600,
            "books": [{"key": "b1", "updated": "2026-01-23 14:00:00", "outcomes": outcomes}],
        }
    ).encode()
    config = SourceConfig.model_validate(
        {"name": "acme", "base_url": "https://acme.example", "rest": spec}
    )
    rows = sources.load(config).prop_parsers["odds"](body, META, ParseContext())
    assert rows.select("line", "price_american", "is_main_line").rows() == [
        (9.5, -300, False),
        (9.5, 220, False),
        (11.5, -110, True),
        (11.5, -110, True),
    ]
    assert rows["commence_time"][0] == datetime(2026, 1, 24, 0, 30, tzinfo=UTC)
    assert rows["last_update"][0] == datetime(2026, 1, 23, 14, tzinfo=UTC)


# -- the spec, checked when the config loads --------------------------------------------------


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (("props", "fields", "price", "format"), "props.fields: price.format: one of"),
        (("props", "fields", "line", "path"), "fields.line: path 'nowhere.points' starts at"),
        (("requests", 0, "path"), "requests.0: template field {season} is not known"),
        (("props", "outage_when", 0, "when"), "not a JMESPath expression"),
        (("props", "rows", "selection"), "props: empty or padded path ''"),
        (("props", "colour"), "props.colour: unknown key"),
        (
            ("props", "lookups", "market", "list"),
            "props: lookups.market.list: 'selection.markets' starts at 'selection', read per "
            "row; a lookup's list is read once per body: start it at doc, root or a lookup "
            "matched there",
        ),
        (("props", "lookups", "event", "match"), "lookups.event.match: path 'game.id' starts at"),
    ],
)
def test_a_malformed_spec_is_one_line_naming_the_key(change, said):
    spec = json.loads(json.dumps(FLAT_SPEC))
    values = {
        ("props", "fields", "price", "format"): "roman",
        ("props", "fields", "line", "path"): "nowhere.points",
        ("requests", 0, "path"): "/leagues/{season}",
        ("props", "outage_when", 0, "when"): "error.[",
        ("props", "rows", "selection"): "",
        ("props", "colour"): "red",
        ("props", "lookups", "market", "list"): "selection.markets",
        ("props", "lookups", "event", "match"): "game.id",
    }
    node = spec
    for key in change[:-1]:
        node = node[key]
    node[change[-1]] = values[change]
    with pytest.raises(ValidationError) as raised:
        source_config(spec)
    [error] = raised.value.errors()
    assert error["loc"] == ("rest",)
    assert said in error["msg"]
    assert "\n" not in error["msg"]


def test_a_malformed_spec_stops_the_command_with_exit_2_before_anything_is_written(tmp_path):
    home = tmp_path / "home"
    result = run_cli(
        "run",
        "date=2026-01-23",
        f"home={home}",
        "source@sources.odds_api=odds_api_rest",
        "sources.odds_api.rest.props.fields.price.format=roman",
    )
    assert result.code == 2, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        "lineflow: error: sources.odds_api.rest: props.fields: price.format: one of "
        "american, decimal, fractional, auto (got 'roman')"
    ]
    assert not home.exists()


def test_a_lookup_list_read_per_row_stops_the_command_with_exit_2(tmp_path):
    home = tmp_path / "home"
    result = run_cli(
        "run",
        "date=2026-01-23",
        f"home={home}",
        "sources.draftkings.rest.props.lookups.market.list=selection.markets",
    )
    assert result.code == 2, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        "lineflow: error: sources.draftkings.rest: props: lookups.market.list: "
        "'selection.markets' starts at 'selection', read per row; a lookup's list is read once "
        "per body: start it at doc, root or a lookup matched there"
    ]
    assert not home.exists()


def test_a_source_is_a_module_or_declared_not_both():
    with pytest.raises(ValueError, match="give either module"):
        source_config(FLAT_SPEC, module="lineflow.sources.odds_api")
    with pytest.raises(ConfigError):
        sources.load(
            SourceConfig.model_validate(
                {"name": "x", "module": "no.such.module", "base_url": "https://x.example"}
            )
        )


# -- the request plan -------------------------------------------------------------------------


class Recorder(Fetch):
    """A provider in a dict: path + sorted query -> body; records what was asked."""

    def __init__(self, answers: dict[tuple[str, tuple[tuple[str, str], ...]], Any]) -> None:
        self.answers = answers
        self.asked: list[Call] = []
        self.notes: list[str] = []

    def get(self, call: Call) -> Fetched:
        return self.get_many([call])[0]

    def get_many(self, calls: list[Call]) -> list[Fetched]:
        out = []
        for call in calls:
            self.asked.append(call)
            body = self.answers.get((call.path, tuple(sorted(call.params))))
            if body is None:
                out.append(Fetched(call, 404, b'{"message": "Not Found"}', False, False))
            else:
                out.append(Fetched(call, 200, json.dumps(body).encode(), True, False))
        return out

    def note(self, message: str) -> None:
        self.notes.append(message)


def plan_spec(paginate: dict[str, Any]) -> dict[str, Any]:
    return {
        "requests": [
            {
                "endpoint": "props",
                "path": "/items",
                "query": {"day": "{date}"},
                "paginate": paginate,
            }
        ],
        "props": FLAT_SPEC["props"],
    }


def scrape(spec: dict[str, Any], fetch: Recorder) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    sources.load(source_config(spec)).scrape(fetch, DAY, None)
    return [(c.stem, c.params) for c in fetch.asked]


def test_page_numbers_up_to_the_total_the_first_page_gives():
    day = (("day", "2026-01-23"),)
    answers = {
        ("/items", tuple(sorted((*day, ("page", str(n)))))): {
            "meta": {"pages": 3},
            "selections": [],
        }
        for n in (1, 2, 3)
    }
    spec = plan_spec({"kind": "page_number", "total_pages": "meta.pages"})
    assert [stem for stem, _ in scrape(spec, Recorder(answers))] == [
        "props-p1",
        "props-p2",
        "props-p3",
    ]


def test_a_cursor_is_followed_until_a_page_has_none():
    day = ("day", "2026-01-23")
    answers = {
        ("/items", (day,)): {"next": "abc", "selections": []},
        ("/items", tuple(sorted((day, ("cursor", "abc"))))): {"next": "def"},
        ("/items", tuple(sorted((day, ("cursor", "def"))))): {"next": None},
    }
    spec = plan_spec({"kind": "cursor", "next": "next"})
    asked = scrape(spec, Recorder(answers))
    assert [dict(params).get("cursor") for _, params in asked] == [None, "abc", "def"]


def test_offsets_up_to_a_total_or_until_a_short_page():
    day = ("day", "2026-01-23")

    def page(offset: int, n: int, total: int | None = None) -> tuple[Any, Any]:
        key = ("/items", tuple(sorted((day, ("limit", "2"), ("offset", str(offset))))))
        body = {"items": list(range(n)), **({"total": total} if total is not None else {})}
        return key, body

    totals = dict([page(0, 2, 5), page(2, 2, 5), page(4, 1, 5)])
    spec = plan_spec({"kind": "offset", "limit": 2, "total": "total", "items": "items"})
    assert [dict(p)["offset"] for _, p in scrape(spec, Recorder(totals))] == ["0", "2", "4"]
    short = dict([page(0, 2), page(2, 2), page(4, 1)])
    spec = plan_spec({"kind": "offset", "limit": 2, "items": "items"})
    assert [dict(p)["offset"] for _, p in scrape(spec, Recorder(short))] == ["0", "2", "4"]


def test_fan_out_over_markets_and_over_ids_an_earlier_request_lists():
    answers = {("/leagues/7/markets", (("sub", sub),)): {"selections": []} for sub in ("12", "13")}
    fetch = Recorder(answers)
    assert [(stem, dict(p)["sub"]) for stem, p in scrape(FLAT_SPEC, fetch)] == [
        ("12", "12"),
        ("13", "13"),
    ]
    listing = {
        "requests": [
            {"endpoint": "events", "path": "/events", "lists": "game"},
            {"endpoint": "props", "for_each": "game", "path": "/games/{game}/props"},
        ],
        "events": {
            "endpoints": ["events"],
            "rows": {"event": "doc"},
            "fields": {"event_id": {"path": "event.id"}, "commence_time": {"path": "event.start"}},
        },
        "props": FLAT_SPEC["props"],
    }
    events = [
        {"id": "g1", "start": "2026-01-24T00:30:00Z"},
        {"id": "g2", "start": "2026-01-24T03:00:00Z"},
        {"id": "g0", "start": "2026-01-23T01:00:00Z"},  # yesterday's slate: not asked
    ]
    answers = {("/events", ()): events} | {
        (f"/games/{g}/props", ()): {"selections": []} for g in ("g1", "g2")
    }
    fetch = Recorder(answers)
    assert [stem for stem, _ in scrape(listing, fetch)] == ["events", "g1", "g2"]
    fetch = Recorder({("/events", ()): []})
    assert [stem for stem, _ in scrape(listing, fetch)] == ["events"]
    assert fetch.notes == ["no events"]
    fetch = Recorder({("/events", ()): events})  # no props for g1: HTTP 404
    with pytest.raises(SourceFailed, match="acme props g1: HTTP 404"):
        scrape(listing, fetch)
