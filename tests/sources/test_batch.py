"""Batch parsing: many bodies in one polars pass give exactly what parsing each alone gives,
and a bad body is that body's problem only."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import msgspec
import polars as pl
import pytest

from lineflow.sources import bettingpros, odds_api
from lineflow.sources.base import (
    FileMeta,
    Flat,
    ParseContext,
    ParseError,
    ProviderOutage,
    Typed,
    one_by_one,
    parse_batch,
)

SAMPLES = Path(__file__).parent / "samples"
FETCHED_AT = datetime(2024, 2, 22, 18, 0, tzinfo=UTC)


def meta(source: str, n: int) -> FileMeta:
    return FileMeta(f"{n:064d}", source, "props", date(2024, 2, 22), FETCHED_AT)


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


@pytest.mark.parametrize(
    ("source", "batch", "single", "good", "bad"),
    [
        (
            "odds_api",
            odds_api.parse_event_odds_batch,
            odds_api.parse_event_odds,
            [
                "odds_api_event_odds_live.json",
                "odds_api_event_odds_historical.json",
                "odds_api_event_odds_unix.json",
                "odds_api_event_odds_prices.json",
                "odds_api_event_odds_last_update.json",
            ],
            {"odds_api_error_invalid_key.json": ParseError},
        ),
        (
            "bettingpros",
            bettingpros.parse_offers_batch,
            bettingpros.parse_offers,
            ["bettingpros_offers_page1.json", "bettingpros_offers_page2.json"],
            {
                "bettingpros_offers_outage_sentinel.json": ProviderOutage,
                "bettingpros_forbidden.json": ProviderOutage,
            },
        ),
    ],
)
def test_a_batch_equals_its_files_parsed_one_by_one(source, batch, single, good, bad):
    ctx = ParseContext(markets={"player_points": "points", "156": "player_points"})
    names = [*good, *bad, b"{not json"]
    items = [
        (name if isinstance(name, bytes) else sample(name), meta(source, i))
        for i, name in enumerate(names)
    ]
    parsed = batch(items, ctx)
    assert sorted(parsed.errors) == list(range(len(good), len(names)))
    for i, kind in enumerate(bad.values(), start=len(good)):
        assert isinstance(parsed.errors[i], kind)
    assert isinstance(parsed.errors[len(names) - 1], ParseError)
    for i, (body, file) in enumerate(items[: len(good)]):
        alone = single(body, file, ctx)
        mine = parsed.frame.filter(pl.col("file_idx") == i).drop("file_idx")
        assert mine.equals(alone), names[i]
    assert parsed.frame.height == sum(
        single(body, file, ctx).height for body, file in items[: len(good)]
    )


def _flatten(body: bytes, meta: FileMeta) -> Flat:
    return Flat({"x": [int(v) for v in body.split()]}, {"name": meta.file_id})


def _finish(rows: pl.DataFrame, ctx: ParseContext) -> pl.DataFrame:
    if (rows["x"] == 13).any():  # something only the batch as a whole runs into
        raise ValueError("unlucky row")
    return rows.select("x", "file_idx")


def test_when_finishing_the_batch_fails_only_the_file_at_fault_is_reported():
    items = [(b"1 2", meta("s", 0)), (b"3 13", meta("s", 1)), (b"4", meta("s", 2))]
    parsed = parse_batch(
        items,
        ParseContext(),
        flatten=_flatten,
        row_schema={"x": pl.Int64()},
        file_schema={"name": pl.String()},
        finish=_finish,
    )
    assert list(parsed.errors) == [1]
    assert isinstance(parsed.errors[1], ValueError), "a bug is retried, not dead-lettered"
    assert parsed.frame.sort("x")["x"].to_list() == [1, 2, 4]
    assert parsed.frame.sort("x")["file_idx"].to_list() == [0, 0, 2]


def test_a_per_file_parser_works_as_a_batch_parser():
    def parser(body: bytes, meta: FileMeta, ctx: ParseContext) -> pl.DataFrame:
        if body == b"bad":
            raise ParseError("bad body")
        return pl.DataFrame({"source": [meta.source], "line": [float(body)]})

    parsed = one_by_one(parser)([(b"20.5", meta("s", 0)), (b"bad", meta("s", 1))], ParseContext())
    assert list(parsed.errors) == [1]
    assert parsed.frame.select("source", "line", "file_idx").rows() == [("s", 20.5, 0)]


def _typed_rows(doc: dict, meta: FileMeta, columns: dict[str, list]) -> dict | None:
    columns["x"] += doc["x"]  # appended before it decides: a body with a 13 is not its own
    return None if 13 in doc["x"] else {"name": meta.file_id}


TYPED = Typed(msgspec.json.Decoder(dict[str, list[int]]), _typed_rows)


def test_a_body_the_typed_path_gives_up_on_is_parsed_the_general_way_only():
    items = [(b'{"x": [1, 2]}', meta("s", 0)), (b'{"x": [3, 13]}', meta("s", 1))]
    items += [(b"4 5", meta("s", 2)), (b'{"x": [6]}', meta("s", 3))]

    def general(body: bytes, file: FileMeta) -> Flat:
        if body.startswith(b"{"):
            return Flat({"x": [-v for v in msgspec.json.decode(body)["x"]]}, {"name": "g"})
        return _flatten(body, file)

    parsed = parse_batch(
        items,
        ParseContext(),
        flatten=general,
        row_schema={"x": pl.Int64()},
        file_schema={"name": pl.String()},
        finish=lambda rows, ctx: rows.select("x", "name", "file_idx"),
        typed=TYPED,
    )
    assert parsed.errors == {}
    typed, other = f"{0:064d}", f"{2:064d}"
    assert parsed.frame.rows() == [
        (1, typed, 0),
        (2, typed, 0),
        (-3, "g", 1),  # the general way's rows only: not 3 and 13 as well
        (-13, "g", 1),
        (4, other, 2),
        (5, other, 2),
        (6, f"{3:064d}", 3),
    ]
