"""The proof that the `rest:` form is general: The Odds API re-expressed in YAML alone
(conf/source/odds_api_rest.yaml) gives exactly the module's rows on the recorded fixtures, and
its request plan asks exactly what the module asks (the module's cassettes replay it)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from lineflow import sources
from lineflow.config import compose
from lineflow.http.cassette import Cassette
from lineflow.landing import pass_time
from lineflow.sources.base import FileMeta, ParseContext
from tests.conftest import FIXTURES, query, run_cli

MODULE = compose(["home=var"]).sources["odds_api"]
DECLARED = compose(["home=var", "source@sources.odds_api=odds_api_rest"]).sources["odds_api"]
#: What a run's rows are, lineage (run_id) aside.
COLUMNS = "* EXCLUDE (run_id)"


def recorded(suffix: str) -> list[tuple[bytes, FileMeta]]:
    """Every recorded Odds API body whose path ends with `suffix`, with its pass's meta."""
    items = []
    for path in sorted(Path(FIXTURES / "odds_api").rglob("*.json.gz")):
        pid = path.name.removesuffix(".json.gz")
        day = date.fromisoformat(path.parent.name)
        for item in Cassette.load(path)._interactions:
            uri = item["request"]["uri"].split("?")[0]
            if uri.endswith(suffix) and item["response"]["status"]["code"] == 200:
                body = item["response"]["body"]["string"].encode()
                items.append((body, FileMeta(path.name, "odds_api", "x", day, pass_time(pid))))
    return items


def test_the_declared_source_is_not_the_module():
    assert DECLARED.module == "" and DECLARED.rest is not None
    assert type(sources.load(DECLARED)).__name__ == "DeclarativeSource"


def test_props_rows_equal_the_modules_on_every_recorded_body():
    items = recorded("/odds")
    assert len(items) == 78, "16 live bodies of 2026-01-23, 30 empty live ones, 32 historical"
    ctx = ParseContext(markets=MODULE.markets, books=MODULE.books)
    module = sources.load(MODULE).prop_batch_parsers["player_props"](items, ctx)
    declared = sources.load(DECLARED).prop_batch_parsers["player_props"](items, ctx)
    assert module.errors == declared.errors == {}
    assert module.frame.height == 20334
    assert_frame_equal(declared.frame, module.frame)
    for k in (0, 40):  # the per-body parsers too, on a live and a historical body
        body, meta = items[k]
        assert_frame_equal(
            sources.load(DECLARED).prop_parsers["player_props_history"](body, meta, ctx),
            sources.load(MODULE).prop_parsers["player_props_history"](body, meta, ctx),
        )


def test_event_listings_equal_the_modules():
    module, declared = sources.load(MODULE), sources.load(DECLARED)
    bodies = [body for body, _ in recorded("/events")]
    assert len(bodies) == 10  # a live and a historical listing a day, two live on the 23rd
    for body in bodies:
        assert_frame_equal(
            declared.event_parsers["events"](body), module.event_parsers["events"](body)
        )


def test_it_declares_the_modules_history_listing_and_price():
    module, declared = sources.load(MODULE), sources.load(DECLARED)
    assert declared.supports_history == module.supports_history is True
    assert declared.lists_events == module.lists_events is True
    assert declared.pricing == module.pricing


@pytest.mark.parametrize(
    ("day", "extra"),
    [("2026-01-23", ()), ("2026-01-22", ("snapshot=18:00Z",))],
    ids=["live-two-passes", "historical-snapshot"],
)
def test_a_run_replays_the_modules_cassettes_into_the_same_prop_lines(tmp_path, day, extra):
    homes = {}
    for name, override in (
        ("module", ()),
        ("declared", ("source@sources.odds_api=odds_api_rest",)),
    ):
        home = tmp_path / name
        result = run_cli(
            "run",
            f"date={day}",
            f"home={home}",
            "only=[odds_api]",
            "pipeline.stages=[scrape,process,validate,consolidate]",
            *extra,
            *override,
        )
        assert result.code == 0, result.stdout + result.stderr
        homes[name] = home
    rows = {
        name: pl.DataFrame(
            query(home, f"SELECT {COLUMNS} FROM prop_lines ORDER BY ALL"), orient="row"
        )
        for name, home in homes.items()
    }
    assert rows["declared"].height > 1000
    assert_frame_equal(rows["declared"], rows["module"])
    landed = {
        name: query(home, "SELECT path, file_id FROM landed_files ORDER BY path")
        for name, home in homes.items()
    }
    assert landed["declared"] == landed["module"], "the same calls, landed under the same names"
