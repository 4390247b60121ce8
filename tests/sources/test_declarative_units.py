"""The declarative engine's row decisions on small in-memory bodies, hand-computed: which
objects a walk makes rows, what each path reads, how prices and timestamps convert, which rows
the filters keep, and which pages the request plan asks for."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from lineflow import sources
from lineflow.config import SourceConfig
from lineflow.core.errors import ParseError, ProviderOutage, SourceFailed
from lineflow.sources.base import Call, Fetched, ParseContext
from lineflow.sources.declarative.walk import follow, text
from tests.sources.test_declarative import DAY, META, Recorder, plan_spec, scrape

# -- paths ------------------------------------------------------------------------------------


def test_a_path_reads_keys_indexes_and_matches_and_none_where_it_leads_nowhere():
    doc = {
        "a": [{"k": 1, "v": "one"}, {"k": True, "v": "yes"}, {"k": 2.0, "v": "two"}, "junk"],
        "b": {"c": 0},
    }
    assert follow(doc, ()) is doc
    assert follow(doc, (("key", "a"), ("index", 0), ("key", "v"))) == "one"
    assert follow(doc, (("key", "a"), ("index", 3))) == "junk"
    assert follow(doc, (("key", "a"), ("index", -1))) == "junk"
    assert follow(doc, (("key", "a"), ("index", -4), ("key", "v"))) == "one"
    assert follow(doc, (("key", "a"), ("index", 4))) is None
    assert follow(doc, (("key", "a"), ("index", -5))) is None
    assert follow(doc, (("key", "b"), ("index", 0))) is None
    assert follow(doc, (("key", "a"), ("key", "k"))) is None
    assert follow(doc, (("key", "b"), ("key", "c"))) == 0  # falsy is a value, not nowhere
    assert follow(doc, (("key", "x"), ("key", "c"))) is None
    assert follow(doc, (("key", "a"), ("match", "k", "1"), ("key", "v"))) == "one"
    assert follow(doc, (("key", "a"), ("match", "k", "true"), ("key", "v"))) == "yes"
    assert follow(doc, (("key", "a"), ("match", "k", "2"), ("key", "v"))) == "two"
    assert follow(doc, (("key", "a"), ("match", "k", "3"))) is None
    assert follow(doc, (("key", "b"), ("match", "c", "0"))) is None


def test_scalars_compare_as_text():
    assert text("x") == "x"
    assert text("") == ""
    assert [text(v) for v in (None, {}, [], {"a": 1}, [1])] == [None] * 5
    assert (text(True), text(False)) == ("true", "false")
    assert (text(2.0), text(-3.0), text(2.5), text(3), text(0)) == ("2", "-3", "2.5", "3", "0")


# -- the walk over nested levels --------------------------------------------------------------

NESTED: dict[str, Any] = {
    "requests": [{"endpoint": "odds", "path": "/odds"}],
    "props": {
        "endpoints": ["odds"],
        "rows": {"game": "doc.games", "book": "game.books", "outcome": "book.outcomes"},
        "fields": {
            "event_id": {"path": "game.id"},
            "commence_time": {"path": "game.tip", "format": "unix"},
            "home_team": {"path": "game.teams[side=home].name"},
            "away_team": {"path": "game.teams[-1].name"},
            "bookmaker": {"path": "book.key"},
            "market": {"path": "doc.market"},
            "player_name": {"path": "outcome.who[0]"},
            "side": {"path": "outcome.side"},
            "line": {"path": "outcome.line"},
            "price": {"path": "outcome.price", "format": "american"},
        },
    },
}
TIP = 1769214600  # 2026-01-24T00:30:00Z


def outcome(who: str, side: str, line: Any, price: Any) -> dict[str, Any]:
    return {"who": [who, "ignored"], "side": side, "line": line, "price": price}


def game(gid: str, books: Any, tip: int = TIP) -> dict[str, Any]:
    teams = [{"side": "home", "name": f"H{gid}"}, {"side": "away", "name": f"A{gid}"}]
    return {"id": gid, "tip": tip, "teams": teams, "books": books}


def parse_with(spec: dict[str, Any], doc: Any, **config: Any) -> Any:
    source = sources.load(
        SourceConfig.model_validate(
            {"name": "acme", "base_url": "https://acme.example", "rest": spec, **config}
        )
    )
    ctx = ParseContext(markets=dict(config.get("markets", {})), books=dict(config.get("books", {})))
    endpoint = spec["props"]["endpoints"][0]
    return source.prop_parsers[endpoint](json.dumps(doc).encode(), META, ctx)


COLUMNS = ("event_id", "home_team", "away_team", "bookmaker", "market", "player_name", "side")


def test_every_level_s_values_repeat_over_the_rows_below_it():
    doc = {
        "market": "player_points",
        "games": [
            game(
                "g1",
                [
                    {"key": "b1", "outcomes": [outcome("Al", "Over", 9.5, "-120")]},
                    {"key": "b2"},  # no outcomes: no rows, no error
                    {
                        "key": "b3",
                        "outcomes": [
                            outcome("Al", "Over", 9.5, "+100"),
                            outcome("Al", "Under", 9.5, "-130"),
                        ],
                    },
                ],
            ),
            game("g2", None),  # no books
            game("g3", [{"key": "b1", "outcomes": [outcome("Cy", "Under", 3.5, "+150")]}]),
        ],
    }
    rows = parse_with(NESTED, doc)
    assert rows.select(*COLUMNS, "line", "price_american").rows() == [
        ("g1", "Hg1", "Ag1", "b1", "player_points", "Al", "over", 9.5, -120),
        ("g1", "Hg1", "Ag1", "b3", "player_points", "Al", "over", 9.5, 100),
        ("g1", "Hg1", "Ag1", "b3", "player_points", "Al", "under", 9.5, -130),
        ("g3", "Hg3", "Ag3", "b1", "player_points", "Cy", "under", 3.5, 150),
    ]
    assert rows["commence_time"].to_list() == [datetime(2026, 1, 24, 0, 30, tzinfo=UTC)] * 4
    assert rows["slate_date"].to_list() == [DAY] * 4  # 19:30 in New York on the 23rd


def test_a_body_without_the_first_level_has_no_rows_and_a_level_of_another_shape_fails():
    assert parse_with(NESTED, {"market": "player_points"}).height == 0
    with pytest.raises(ParseError, match="rows 'book' should be a list, not dict"):
        parse_with(NESTED, {"market": "m", "games": [game("g1", {"b": 1})]})
    with pytest.raises(ParseError, match="rows 'game' should be a list, not str"):
        parse_with(NESTED, {"market": "m", "games": "none"})


def test_a_match_step_compares_numbers_and_booleans_as_text():
    spec = json.loads(json.dumps(NESTED))
    spec["props"]["fields"]["home_team"] = {"path": "game.teams[home=true].name"}
    spec["props"]["fields"]["away_team"] = {"path": "game.teams[seat=2].name"}
    doc = {
        "market": "m",
        "games": [
            {
                "id": "g1",
                "tip": TIP,
                "teams": [
                    {"home": "true", "seat": 2.0, "name": "Text true"},
                    {"home": True, "seat": "1", "name": "Bool true"},
                ],
                "books": [{"key": "b", "outcomes": [outcome("Al", "over", 1.5, "+100")]}],
            }
        ],
    }
    rows = parse_with(spec, doc)
    assert rows.select("home_team", "away_team").rows() == [("Text true", "Text true")]
    doc["games"][0]["teams"] = [
        {"home": False, "seat": 3, "name": "x"},
        {"home": True, "seat": 2, "name": "Bool true"},
        "not an object",
    ]
    rows = parse_with(spec, doc)
    assert rows.select("home_team", "away_team").rows() == [("Bool true", "Bool true")]
    doc["games"][0]["teams"] = {"home": True}
    rows = parse_with(spec, doc)
    assert rows.select("home_team", "away_team").rows() == [(None, None)]


def test_an_index_out_of_range_in_the_walk_reads_nothing():
    spec = json.loads(json.dumps(NESTED))
    spec["props"]["fields"]["away_team"] = {"path": "game.teams[2].name"}
    spec["props"]["fields"]["home_team"] = {"path": "game.teams[-2].name"}
    doc = {
        "market": "m",
        "games": [game("g1", [{"key": "b", "outcomes": [outcome("Al", "over", 1.5, "+100")]}])],
    }
    assert parse_with(spec, doc).select("home_team", "away_team").rows() == [("Hg1", None)]
    doc["games"][0]["teams"] = [{"name": "only"}]
    assert parse_with(spec, doc).select("home_team", "away_team").rows() == [(None, None)]
    doc["games"][0]["teams"] = {"name": "not a list"}
    assert parse_with(spec, doc).select("home_team", "away_team").rows() == [(None, None)]


# -- a flat body: lookups, file-level values, checks ------------------------------------------

FLAT: dict[str, Any] = {
    "requests": [{"endpoint": "props", "path": "/props"}],
    "props": {
        "endpoints": ["props"],
        "unwrap": "data",
        "require": ["doc.selections"],
        "error_when": [{"when": "error", "message": "provider says no"}],
        "outage_when": [{"when": "maintenance", "message": "down for maintenance"}],
        "rows": {"sel": "doc.selections"},
        "lookups": {"market": {"list": "doc.markets", "key": "id", "match": "sel.m"}},
        "fields": {
            "event_id": {"path": "doc.event"},
            "commence_time": {"path": "doc.tip"},
            "bookmaker": {"value": "acmebook"},
            "market": {"path": "market.kind"},
            "player_name": {"path": "sel.name"},
            "side": {"path": "sel.side"},
            "line": {"path": "sel.line"},
            "price": {"path": "sel.price", "format": "american"},
        },
    },
}


def flat(selections: Any, markets: Any = None, **extra: Any) -> dict[str, Any]:
    if markets is None:
        markets = [{"id": 1, "kind": "points"}, {"id": "2", "kind": "rebounds"}, "junk"]
    data = {
        "event": "e1",
        "tip": "2026-01-24T00:30:00Z",
        "markets": markets,
        "selections": selections,
    }
    return {"data": data, **extra}


def sel(m: Any, side: str = "over", line: Any = 20.5, price: Any = "-110", name: str = "Jo"):
    return {"m": m, "name": name, "side": side, "line": line, "price": price}


def test_rows_join_their_lookup_by_key_as_text_and_read_file_values():
    rows = parse_with(FLAT, flat([sel(1), sel(2.0, "under"), sel("1", line=21.5), sel(3)]))
    assert rows.select("event_id", "market", "side", "line").rows() == [
        ("e1", "points", "over", 20.5),
        ("e1", "rebounds", "under", 20.5),
        ("e1", "points", "over", 21.5),
        ("e1", None, "over", 20.5),
    ]
    rows = parse_with(FLAT, flat([sel(1)], markets={"id": 1}))
    assert rows["market"].to_list() == [None]


def test_a_lookup_matched_at_the_file_joins_once_per_body():
    lookups = {
        **FLAT["props"]["lookups"],
        "game": {"list": "doc.games", "key": "id", "match": "doc.event"},
        "team": {"list": "doc.teams", "key": "code", "match": "game.away"},
        "book": {"list": "doc.books", "key": "src", "match": "meta.source"},
        "player": {"list": "game.players", "key": "id", "match": "sel.pid"},
    }
    spec = with_fields(
        FLAT,
        lookups=lookups,
        fields={
            "commence_time": {"path": "game.tip"},
            "home_team": {"path": "game.home"},
            "away_team": {"path": "team.name"},
            "bookmaker": {"path": "book.title"},
            "player_name": {"path": "player.name"},
        },
    )
    doc = flat([{**sel(1), "pid": 7}, {**sel(2, "under"), "pid": "8"}])
    doc["data"].update(
        games=[
            {"home": "Nobody", "players": [{"name": "Keyless"}]},  # no id: joins nothing
            {"id": "e1", "tip": "2026-01-24T00:30:00Z", "home": "Celtics", "away": "NYK"},
        ],
        teams=[{"code": "NYK", "name": "Knicks"}],
        books=[{"src": "other", "title": "Other"}, {"src": "acme", "title": "Acme Book"}],
    )
    doc["data"]["games"][1]["players"] = [{"id": "7", "name": "Al"}, {"id": 8, "name": "Bo"}]
    rows = parse_with(spec, doc)
    assert rows.select("home_team", "away_team", "bookmaker", "player_name").rows() == [
        ("Celtics", "Knicks", "Acme Book", "Al"),
        ("Celtics", "Knicks", "Acme Book", "Bo"),
    ]
    assert rows["commence_time"].to_list() == [datetime(2026, 1, 24, 0, 30, tzinfo=UTC)] * 2
    doc["data"]["event"] = "e9"  # no such game: its values and those joined through it are null
    rows = parse_with(with_fields(spec, fields={"player_name": {"path": "sel.name"}}), doc)
    no_game = (None, None, "Acme Book")
    assert rows.select("home_team", "away_team", "bookmaker").rows() == [no_game, no_game]
    assert parse_with(spec, doc).height == 0  # no player name: no line
    del doc["data"]["event"]  # nothing to match: not the game without an id
    rows = parse_with(with_fields(spec, fields={"player_name": {"path": "sel.name"}}), doc)
    assert rows["home_team"].to_list() == [None, None]


def test_a_row_without_a_value_to_match_joins_no_object_without_the_key():
    markets = [{"kind": "keyless"}, {"id": 1, "kind": "points"}]
    without = {key: value for key, value in sel(1).items() if key != "m"}
    rows = parse_with(FLAT, flat([sel(1), without, sel(None)], markets))
    assert rows["market"].to_list() == ["points", None, None]


def test_a_body_without_the_wrapper_is_read_as_it_is():
    spec = json.loads(json.dumps(FLAT))
    del spec["props"]["error_when"]
    rows = parse_with(spec, flat([sel(1)])["data"])
    assert rows.select("event_id", "market").rows() == [("e1", "points")]
    rows = parse_with(spec, flat([sel(1)]))
    assert rows.select("event_id", "market").rows() == [("e1", "points")]


def test_a_required_path_an_error_and_an_outage_are_told_apart():
    with pytest.raises(ParseError, match="^acme props: body lacks selections$"):
        parse_with(FLAT, {"data": {"event": "e1"}})
    with pytest.raises(ParseError, match="provider says no"):
        parse_with(FLAT, flat([], error="quota"))
    assert parse_with(FLAT, flat([], error="")).height == 0  # "" is false in JMESPath
    with pytest.raises(ProviderOutage, match="^acme props: down for maintenance$"):
        parse_with(FLAT, flat([], maintenance=True))
    for falsy in (False, None, "", [], {}):
        assert parse_with(FLAT, flat([sel(1)], maintenance=falsy)).height == 1
    for truthy in (0, 0.0, "no", [0], {"a": None}):  # JMESPath: numbers are true, zero too
        with pytest.raises(ProviderOutage):
            parse_with(FLAT, flat([sel(1)], maintenance=truthy))


# -- conversions and filters ------------------------------------------------------------------


def with_fields(base: dict[str, Any], **props: Any) -> dict[str, Any]:
    spec = json.loads(json.dumps(base))
    fields = props.pop("fields", {})
    spec["props"]["fields"].update(fields)
    spec["props"].update(props)
    return spec


def test_american_prices_as_text_or_numbers():
    prices = [" \u2212115 ", "+105", "even", "EVEN", -250, "+149.6", "n/a"]
    rows = parse_with(FLAT, flat([sel(1, price=p) for p in prices]))
    assert rows["price_american"].to_list() == [-115, 105, 100, 100, -250, 150, None]
    assert rows["price_decimal"][0] == pytest.approx(1 + 100 / 115)
    assert rows["price_decimal"][1] == pytest.approx(2.05)


def test_fractional_and_decimal_prices():
    spec = with_fields(FLAT, fields={"price": {"path": "sel.price", "format": "fractional"}})
    rows = parse_with(spec, flat([sel(1, price=p) for p in ("10/13", "5/2", "1/1", "3")]))
    assert rows["price_decimal"].to_list()[:3] == [pytest.approx(1 + 10 / 13), 3.5, 2.0]
    assert rows["price_american"].to_list()[:3] == [-130, 250, 100]
    assert rows["price_decimal"][3] is None
    spec = with_fields(FLAT, fields={"price": {"path": "sel.price", "format": "decimal"}})
    rows = parse_with(spec, flat([sel(1, price=p) for p in (2.5, "1.8")]))
    assert rows["price_decimal"].to_list() == [2.5, 1.8]
    assert rows["price_american"].to_list() == [150, -125]


def test_auto_prices_take_a_json_int_as_american_and_a_float_as_decimal():
    spec = with_fields(FLAT, fields={"price": {"path": "sel.price", "format": "auto"}})
    rows = parse_with(spec, flat([sel(1, price=p) for p in (150, -120, 2.5, 1.8, "n/a")]))
    assert rows["price_american"].to_list() == [150, -120, 150, -125, None]
    assert rows["price_decimal"].to_list()[:3] == [2.5, pytest.approx(1 + 100 / 120), 2.5]


def test_timestamps_in_iso_with_any_zone_unix_and_a_declared_format():
    tips = [
        "2026-01-24T00:30:00Z",
        "2026-01-24T00:30:00.5Z",
        "2026-01-23T19:30:00-05:00",
        "2026-01-24T00:30:00",
        " 2026-01-24 00:30:00 ",
    ]
    for tip in tips:
        doc = flat([sel(1)])
        doc["data"]["tip"] = tip
        commence = parse_with(FLAT, doc)["commence_time"][0]
        assert commence.replace(microsecond=0) == datetime(2026, 1, 24, 0, 30, tzinfo=UTC), tip
    spec = with_fields(
        FLAT,
        fields={
            "commence_time": {"path": "doc.tip", "format": "%d/%m/%Y %H:%M"},
            "last_update": {"path": "sel.at", "format": "unix"},
        },
    )
    doc = flat([{**sel(1), "at": 1769212800.5}])
    doc["data"]["tip"] = "24/01/2026 00:30"
    row = parse_with(spec, doc).row(0, named=True)
    assert row["commence_time"] == datetime(2026, 1, 24, 0, 30, tzinfo=UTC)
    assert row["last_update"] == datetime(2026, 1, 24, 0, 0, 0, 500000, tzinfo=UTC)


def test_sides_names_and_lines_decide_which_rows_are_lines():
    sels = [
        sel(1, " OVER "),
        sel(1, "Under"),
        sel(1, "push"),
        sel(1, "over", name=""),
        sel(1, "over", line=None),
        sel(1, "over", line="x"),
        sel(1, "over", line=0.5),
    ]
    rows = parse_with(FLAT, flat(sels))
    assert rows.select("side", "line").rows() == [("over", 20.5), ("under", 20.5), ("over", 0.5)]


def test_keep_rules_read_values_as_text_and_missing_values_by_rule():
    def kept(rule: dict[str, Any]) -> list[Any]:
        spec = with_fields(FLAT, keep=[{"field": "sel.flag", **rule}])
        values = [True, False, "open", 1, None]
        doc = flat([{**sel(1, line=float(i)), "flag": v} for i, v in enumerate(values)])
        return [values[int(x)] for x in parse_with(spec, doc)["line"]]

    assert kept({"equals": True}) == [True]
    assert kept({"equals": "open"}) == ["open"]
    assert kept({"equals": 1}) == [1]
    assert kept({"not_equals": False}) == [True, "open", 1, None]
    assert kept({"in": ["open", 1]}) == ["open", 1]
    assert kept({"not_in": [True, "open"]}) == [False, 1, None]
    assert kept({"present": True}) == [True, False, "open", 1]
    assert kept({"present": False}) == [None]
    both = [{"field": "sel.flag", "not_equals": False}, {"field": "sel.side", "equals": "over"}]
    spec = with_fields(FLAT, keep=both)
    doc = flat([{**sel(1, s), "flag": f} for s, f in (("over", True), ("under", True))])
    assert parse_with(spec, doc)["side"].to_list() == ["over"]


def test_maps_splits_constants_and_the_first_path_with_a_value():
    spec = with_fields(
        FLAT,
        fields={
            "market": {
                "path": "market.kind",
                "map": {"points": "player_points"},
                "unmapped": "drop",
            },
            "bookmaker": {"path": ["sel.book", "doc.book"], "map": "books"},
            "home_team": {"path": "doc.matchup", "split": " @ ", "part": 1},
            "away_team": {"path": "doc.matchup", "split": " @ "},
        },
    )
    doc = flat(
        [
            {**sel(1), "book": "DK"},
            {**sel(2), "book": "DK"},  # rebounds: not in the map, dropped
            {**sel(1), "book": None},
            {**sel(1), "book": "Nowhere"},
        ]
    )
    doc["data"].update(book="FD", matchup="NY Knicks @  BOS Celtics")
    books = {"DK": "draftkings", "FD": "fanduel"}
    rows = parse_with(spec, doc, books=books)
    assert rows.select("market", "bookmaker", "home_team", "away_team").rows() == [
        ("player_points", "draftkings", "BOS Celtics", "NY Knicks"),
        ("player_points", "fanduel", "BOS Celtics", "NY Knicks"),
        ("player_points", "Nowhere", "BOS Celtics", "NY Knicks"),
    ]
    doc["data"]["matchup"] = "no separator"
    rows = parse_with(spec, doc, books=books)
    assert rows.select("home_team", "away_team").rows()[0] == (None, "no separator")
    keep_none = with_fields(spec, fields={"market": {"path": "market.kind", "map": {"a": "b"}}})
    keep_none["props"]["fields"]["market"]["unmapped"] = "keep"
    assert parse_with(keep_none, doc, books=books)["market"].to_list()[:2] == [
        "points",
        "rebounds",
    ]


def test_a_required_column_missing_in_a_row_fails_the_body():
    spec = with_fields(FLAT, fields={"event_id": {"path": "sel.event", "required": True}})
    with pytest.raises(ParseError, match="event_id missing or unreadable in a row"):
        parse_with(spec, flat([{**sel(1), "event": "e1"}, sel(1)]))
    rows = parse_with(spec, flat([{**sel(1), "event": "e9"}]))
    assert rows["event_id"].to_list() == ["e9"]


def test_the_slate_and_the_main_line():
    tips = ("2026-01-24T04:59:00Z", "2026-01-24T05:00:00Z")  # 23:59 and 00:00 in New York
    spec = with_fields(FLAT, fields={"commence_time": {"path": "sel.tip"}}, slate="partition")
    doc = flat([{**sel(1, line=i + 0.5), "tip": t} for i, t in enumerate(tips)])
    rows = parse_with(spec, doc)
    assert rows.select("line", "slate_date").rows() == [(0.5, DAY)]
    rows = parse_with(with_fields(spec, slate="any"), doc)
    assert rows["slate_date"].to_list() == [DAY, date(2026, 1, 24)]
    assert rows["is_main_line"].to_list() == [True, True]  # main_line: all
    flagged = with_fields(FLAT, main_line={"field": "sel.main"})
    doc = flat([{**sel(1), "main": m} for m in (True, False, None, "true")])
    assert parse_with(flagged, doc)["is_main_line"].to_list() == [True, False, False, True]
    even = with_fields(FLAT, main_line="closest_to_even")
    doc = flat(
        [
            sel(1, "over", 19.5, "-150"),
            sel(1, "under", 19.5, "+120"),
            sel(1, "over", 20.5, "-105"),
            sel(1, "under", 20.5, "-115"),
        ]
    )
    assert parse_with(even, doc)["is_main_line"].to_list() == [False, False, True, True]


def test_an_event_listing_keeps_its_filtered_events():
    spec = {
        "requests": [{"endpoint": "events", "path": "/events", "lists": "game"}],
        "events": {
            "endpoints": ["events"],
            "rows": {"event": "doc"},
            "keep": [{"field": "event.state", "not_equals": "off"}],
            "fields": {
                "event_id": {"path": "event.id"},
                "commence_time": {"path": "event.start"},
                "home_team": {"path": "event.home"},
            },
        },
        "props": FLAT["props"],
    }
    source = sources.load(
        SourceConfig.model_validate({"name": "acme", "base_url": "https://a.example", "rest": spec})
    )
    body = json.dumps(
        [
            {"id": "g1", "start": "2026-01-24T00:30:00Z", "home": "BOS", "state": "on"},
            {"id": "g2", "start": "2026-01-24T01:00:00Z", "state": "off"},
            {"id": "g3", "start": "2026-01-24T02:00:00Z"},
        ]
    ).encode()
    events = source._listing(body)
    assert events.select("event_id", "home_team", "away_team").rows() == [
        ("g1", "BOS", None),
        ("g3", None, None),
    ]
    assert events["commence_time"][1] == datetime(2026, 1, 24, 2, tzinfo=UTC)
    with pytest.raises(ParseError, match="invalid JSON"):
        source._listing(b"[")


# -- the request plan -------------------------------------------------------------------------


def plan_source(spec: dict[str, Any]) -> Any:
    return sources.load(
        SourceConfig.model_validate(
            {
                "name": "acme",
                "base_url": "https://acme.example",
                "markets": {"12": "player_points", "13": "player_rebounds"},
                "rest": spec,
            }
        )
    )


def test_template_fields_name_the_day_its_window_the_snapshot_and_the_markets():
    spec = {
        "vars": {"league": "nba"},
        "requests": [
            {
                "endpoint": "props",
                "path": "/{league}/{date}",
                "stem": "{date}-{league}",
                "query": {
                    "from": "{window_start}",
                    "to": "{window_end}",
                    "at": "{snapshot}",
                    "m": "{markets}",
                },
            }
        ],
        "props": FLAT["props"],
    }
    spec["history"] = spec["requests"]  # `snapshot=...` runs use the history plan
    fetch = Recorder({})
    with pytest.raises(SourceFailed, match="^acme props 2026-01-23-nba: HTTP 404 "):
        plan_source(spec).scrape(fetch, DAY, None)
    [call] = fetch.asked
    assert call.path == "/nba/2026-01-23"
    assert dict(call.params) == {
        "from": "2026-01-23T05:00:00Z",  # midnight to midnight in New York
        "to": "2026-01-24T05:00:00Z",
        "at": "",
        "m": "12,13",
    }
    fetch = Recorder({})
    snap = datetime(2026, 1, 23, 18, 5, tzinfo=UTC)
    with pytest.raises(SourceFailed):
        plan_source(spec).scrape(fetch, DAY, snap)
    assert dict(fetch.asked[0].params)["at"] == "2026-01-23T18:05:00Z"


def test_a_skipped_status_is_noted_and_a_deferred_answer_is_not_a_failure():
    spec = {
        "requests": [{"endpoint": "props", "path": "/p", "skip_statuses": [404]}],
        "props": FLAT["props"],
    }
    fetch = Recorder({})
    plan_source(spec).scrape(fetch, DAY, None)
    assert fetch.notes == ["props props: HTTP 404, passed over"]

    class Deferred(Recorder):
        def get_many(self, calls: list[Call]) -> list[Fetched]:
            self.asked += calls
            return [Fetched(c, 0, b"", False, False, deferred=True) for c in calls]

    fetch = Deferred({})
    spec["requests"][0]["skip_statuses"] = []
    plan_source(spec).scrape(fetch, DAY, None)
    assert fetch.notes == [] and len(fetch.asked) == 1


def test_page_numbers_are_capped_and_a_first_page_without_a_total_is_the_only_one():
    def pages(first: dict[str, Any], **paging: Any) -> tuple[list[str], list[str]]:
        answers = {("/items", (("day", "2026-01-23"), ("page", "1"))): first}
        for n in range(2, 9):
            answers[("/items", (("day", "2026-01-23"), ("page", str(n))))] = {"x": n}
        fetch = Recorder(answers)
        spec = plan_spec({"kind": "page_number", "total_pages": "meta.pages", **paging})
        return [stem for stem, _ in scrape(spec, fetch)], fetch.notes

    assert pages({"meta": {"pages": 2}}) == (["props-p1", "props-p2"], [])
    assert pages({"meta": {"pages": "3"}})[0] == ["props-p1", "props-p2", "props-p3"]
    assert pages({"meta": {}}) == (["props-p1"], [])
    assert pages({"meta": {"pages": "many"}}) == (["props-p1"], [])
    assert pages({"meta": {"pages": 0}}) == (["props-p1"], [])
    assert pages({"meta": {"pages": 5}}, max_pages=3) == (
        ["props-p1", "props-p2", "props-p3"],
        ["props: 5 pages, fetching the first 3"],
    )
    assert pages({"meta": {"pages": 3}}, max_pages=3)[1] == []
    doc_anchored = plan_spec({"kind": "page_number", "total_pages": "doc.meta.pages"})
    answers = {
        ("/items", (("day", "2026-01-23"), ("page", str(n)))): {"meta": {"pages": 2}}
        for n in (1, 2)
    }
    assert [s for s, _ in scrape(doc_anchored, Recorder(answers))] == ["props-p1", "props-p2"]


def test_an_unreadable_or_missing_first_page_asks_no_further_pages():
    class Raw(Recorder):
        def get_many(self, calls: list[Call]) -> list[Fetched]:
            self.asked += calls
            return [Fetched(c, 200, b"{not json", True, False) for c in calls]

    fetch = Raw({})
    spec = plan_spec({"kind": "page_number", "total_pages": "meta.pages"})
    sources.load(
        SourceConfig.model_validate(
            {"name": "acme", "base_url": "https://acme.example", "rest": spec}
        )
    ).scrape(fetch, DAY, None)
    assert len(fetch.asked) == 1 and "invalid JSON" in fetch.notes[0]
    spec["requests"][0]["skip_statuses"] = [404]
    fetch = Recorder({})
    assert [s for s, _ in scrape(spec, fetch)] == ["props-p1"]
    cursor = plan_spec({"kind": "cursor", "next": "next"})
    cursor["requests"][0]["skip_statuses"] = [404]
    fetch = Raw({})
    assert [s for s, _ in scrape(cursor, fetch)] == ["props-p1"]
    assert len(fetch.notes) == 1 and "invalid JSON" in fetch.notes[0]
    fetch = Recorder({})
    assert [s for s, _ in scrape(cursor, fetch)] == ["props-p1"]
    assert fetch.notes == ["props props-p1: HTTP 404, passed over"]


def test_a_failed_call_names_the_source_the_call_and_the_body_s_start():
    class Broken(Recorder):
        def get_many(self, calls: list[Call]) -> list[Fetched]:
            self.asked += calls
            return [Fetched(c, 500, b"\xff" + b"a" * 200, False, False) for c in calls]

    spec = {"requests": [{"endpoint": "props", "path": "/p"}], "props": FLAT["props"]}
    with pytest.raises(SourceFailed) as raised:
        plan_source(spec).scrape(Broken({}), DAY, None)
    assert str(raised.value) == "acme props props: HTTP 500 \ufffd" + "a" * 119


def test_offsets_round_the_total_up_and_a_cursor_stops_at_its_page_cap():
    day = ("day", "2026-01-23")

    def key(offset: int) -> tuple[str, tuple[tuple[str, str], ...]]:
        return ("/items", tuple(sorted((day, ("n", "3"), ("at", str(offset))))))

    answers = {key(o): {"total": 7, "items": [1, 2, 3]} for o in (0, 3, 6, 9)}
    spec = plan_spec(
        {
            "kind": "offset",
            "param": "at",
            "limit_param": "n",
            "limit": 3,
            "total": "total",
            "items": "items",
        }
    )
    assert [dict(p)["at"] for _, p in scrape(spec, Recorder(answers))] == ["0", "3", "6"]
    answers = {key(o): {"total": 0, "items": []} for o in (0,)}
    assert [dict(p)["at"] for _, p in scrape(spec, Recorder(answers))] == ["0"]
    # without a total: a full page asks for the next, a body without items ends
    spec["requests"][0]["paginate"].pop("total")
    answers = {key(0): {"items": [1, 2, 3]}, key(3): {"items": {"a": 1}}}
    assert [dict(p)["at"] for _, p in scrape(spec, Recorder(answers))] == ["0", "3"]
    answers = {key(o): {"items": [1, 2, 3]} for o in range(0, 30, 3)}
    spec["requests"][0]["paginate"]["max_pages"] = 2
    fetch = Recorder(answers)
    assert [dict(p)["at"] for _, p in scrape(spec, fetch)] == ["0", "3"]
    assert fetch.notes == ["props: more than 2 pages, fetched the first"]
    cursor = plan_spec({"kind": "cursor", "next": "next", "param": "c", "max_pages": 2})
    answers = {
        ("/items", (day,)): {"next": 5},
        ("/items", (("c", "5"), day)): {"next": "b"},
        ("/items", (("c", "b"), day)): {"next": "c"},
    }
    fetch = Recorder(answers)
    assert [dict(p).get("c") for _, p in scrape(cursor, fetch)] == [None, "5"]
    assert fetch.notes == ["props: more than 2 pages, fetched the first"]
    answers = {("/items", (day,)): {"next": ""}}
    fetch = Recorder(answers)
    assert len(scrape(cursor, fetch)) == 1 and fetch.notes == []


def test_a_listing_keeps_the_slate_s_window_and_says_when_there_is_nothing():
    listing = {
        "requests": [
            {"endpoint": "events", "path": "/events", "lists": "game"},
            {"endpoint": "props", "for_each": "game", "path": "/games/{game}"},
        ],
        "events": {
            "endpoints": ["events"],
            "rows": {"event": "doc"},
            "fields": {"event_id": {"path": "event.id"}, "commence_time": {"path": "event.start"}},
        },
        "props": FLAT["props"],
    }
    listing["history"] = listing["requests"]
    events = [
        {"id": "early", "start": "2026-01-23T04:59:59Z"},
        {"id": "first", "start": "2026-01-23T05:00:00Z"},
        {"id": "last", "start": "2026-01-24T04:59:59Z"},
        {"id": "next", "start": "2026-01-24T05:00:00Z"},
    ]
    answers = {("/events", ()): events} | {(f"/games/{g}", ()): flat([]) for g in ("first", "last")}
    source = plan_source(listing)
    fetch = Recorder(answers)
    source.scrape(fetch, DAY, None)
    assert [c.stem for c in fetch.asked] == ["events", "first", "last"]
    listed = source.list_events(Recorder(answers), DAY, None)
    assert listed["event_id"].to_list() == ["first", "last"]
    fetch = Recorder({("/events", ()): events[:1]})
    source.scrape(fetch, DAY, datetime(2026, 1, 23, 18, tzinfo=UTC))
    assert fetch.notes == ["no events at snapshot 2026-01-23T18:00:00Z"]
    assert [c.stem for c in fetch.asked] == ["events"]


def test_the_wrapper_root_and_file_level_values_are_read_once_per_body():
    spec = with_fields(
        FLAT,
        fields={
            "event_id": {"path": "root.id"},
            "price": {"path": "doc.price", "format": "auto"},
        },
    )
    doc = flat([sel(1), sel(2, "under")], id="r1")
    doc["data"]["price"] = 150  # a JSON int: American
    rows = parse_with(spec, doc)
    assert rows.select("event_id", "price_american").rows() == [("r1", 150), ("r1", 150)]
    doc["data"]["price"] = 2.5  # a float: decimal
    assert parse_with(spec, doc)["price_american"].to_list() == [150, 150]
    doc["data"]["price"] = 150.0  # not a JSON int: decimal 150, +14900
    assert parse_with(spec, doc)["price_american"].to_list() == [14900, 14900]
    with pytest.raises(ParseError, match="body lacks selections"):
        parse_with(spec, [doc])  # a list body has no wrapper to unwrap


def test_rows_may_start_at_the_root_and_a_level_without_values_still_counts_rows():
    spec = {
        "requests": [{"endpoint": "odds", "path": "/odds"}],
        "props": {
            "endpoints": ["odds"],
            "unwrap": "inner",
            "rows": {"player": "root.players", "line": "player.lines"},
            "fields": {
                "event_id": {"value": "e1"},
                "commence_time": {"path": "root.tip"},
                "bookmaker": {"value": "b"},
                "market": {"value": "m"},
                "player_name": {"path": "player.name"},
                "side": {"path": "player.side"},
                "line": {"path": "player.line"},
                "price": {"value": "+100", "format": "american"},
            },
        },
    }
    doc = {
        "tip": "2026-01-24T00:30:00Z",
        "inner": {},
        "players": [
            {"name": "Al", "side": "over", "line": 5.5, "lines": [1, 2, 3]},
            {"name": "Bo", "side": "under", "line": 6.5, "lines": []},
            {"name": "Cy", "side": "under", "line": 7.5, "lines": [1]},
        ],
    }
    rows = parse_with(spec, doc)
    assert rows.select("player_name", "line").rows() == [
        ("Al", 5.5),
        ("Al", 5.5),
        ("Al", 5.5),
        ("Cy", 7.5),
    ]


def test_edge_values_of_each_conversion():
    spec = with_fields(
        FLAT,
        fields={
            "event_id": {"value": 7},
            "commence_time": {"path": "sel.tip"},
            "market": {"path": "market.kind", "map": {"points": "player_points"}},
            "bookmaker": {"path": "meta.source"},
            "snapshot_at": {"path": "meta.fetched_at"},
            "last_update": {"path": "sel.at", "format": "unix"},
        },
    )
    sels = [
        {**sel(1, name="X"), "tip": "2026-01-24T00:30:00Z", "at": 1769212800},
        {**sel(3), "tip": "2026-01-24T00:30:00", "at": "soon"},  # no market: kept, NULL
        {**sel(1, line="21.5"), "tip": "2026-01-23T19:30:00.25-05:00", "at": None},
        {**sel(1, line=0.5), "tip": "2026-01-24T00:30:00Z", "at": 1e300},  # past any date
    ]
    rows = parse_with(spec, flat(sels))
    assert rows.select("event_id", "player_name", "market", "line", "bookmaker").rows() == [
        ("7", "X", "player_points", 20.5, "acme"),
        ("7", "Jo", None, 20.5, "acme"),
        ("7", "Jo", "player_points", 21.5, "acme"),
        ("7", "Jo", "player_points", 0.5, "acme"),
    ]
    tip = datetime(2026, 1, 24, 0, 30, tzinfo=UTC)
    assert rows["commence_time"].to_list() == [tip, tip, tip.replace(microsecond=250000), tip]
    assert rows["last_update"].to_list() == [datetime(2026, 1, 24, tzinfo=UTC), None, None, None]
    assert rows["snapshot_at"].to_list() == [META.fetched_at] * 4


def test_prices_that_do_not_read_are_null_and_large_ones_keep_their_format():
    spec = with_fields(FLAT, fields={"price": {"path": "sel.price", "format": "decimal"}})
    rows = parse_with(spec, flat([sel(1, price=p) for p in ("n/a", 150)]))
    assert rows["price_decimal"].to_list() == [None, 150.0]
    assert rows["price_american"].to_list() == [None, 14900]
    spec = with_fields(FLAT, fields={"price": {"path": "sel.price", "format": "fractional"}})
    rows = parse_with(spec, flat([sel(1, price=p) for p in ("a/b", "100/1", "")]))
    assert rows["price_decimal"].to_list() == [None, 101.0, None]
    assert rows["price_american"].to_list() == [None, 10000, None]


def test_an_event_listing_fails_on_a_required_column_missing():
    spec = {
        "requests": [{"endpoint": "events", "path": "/events", "lists": "game"}],
        "events": {
            "endpoints": ["events"],
            "rows": {"event": "doc"},
            "fields": {
                "event_id": {"path": "event.id", "required": True},
                "commence_time": {"path": "event.start"},
            },
        },
        "props": FLAT["props"],
    }
    source = sources.load(
        SourceConfig.model_validate({"name": "acme", "base_url": "https://a.example", "rest": spec})
    )
    body = json.dumps([{"id": "g1", "start": "2026-01-24T00:30:00Z"}, {"start": "x"}]).encode()
    with pytest.raises(ParseError, match="event_id missing or unreadable in a row"):
        source._listing(body)


@pytest.mark.parametrize(
    ("field", "kind"), [("source", "str"), ("fetched_at", "datetime"), ("slate_date", "date")]
)
def test_rows_at_a_scalar_of_the_file_are_a_parse_error(field, kind):
    spec = with_fields(FLAT, rows={"sel": f"meta.{field}"}, lookups={})
    spec["props"]["fields"]["market"] = {"value": "m"}
    with pytest.raises(ParseError, match=f"rows 'sel' should be a list, not {kind}"):
        parse_with(spec, flat([]))


def test_a_unix_time_falls_back_to_the_pass_time_and_may_be_a_constant():
    spec = with_fields(
        FLAT,
        fields={
            "last_update": {"path": ["sel.at", "meta.fetched_at"], "format": "unix"},
            "snapshot_at": {"value": 1769212800, "format": "unix"},
        },
    )
    rows = parse_with(spec, flat([{**sel(1), "at": 1769212860}, sel(1)]))
    assert rows["last_update"].to_list() == [
        datetime(2026, 1, 24, 0, 1, tzinfo=UTC),
        META.fetched_at,
    ]
    assert rows["snapshot_at"].to_list() == [datetime(2026, 1, 24, tzinfo=UTC)] * 2
