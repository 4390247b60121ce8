"""A backfill's parse worker: it describes and parses files dropped into the landing zone as
this process would, and it loads what parsing needs only (not DuckDB, not the HTTP layer:
their imports were a third of the worker's start, docs/benchmarks.md)."""

from __future__ import annotations

import shutil
from datetime import date

import polars as pl
from polars.testing import assert_frame_equal

from lineflow.config import compose
from lineflow.landing import LandingZone, file_id, pass_time
from lineflow.pipeline.backfill import _parse_pool
from lineflow.pipeline.stages import process
from lineflow.sources.base import ParseContext
from tests.conftest import INCIDENT, query
from tests.support.modules import loaded_modules

#: What parsing has no use for: the warehouse's engine, the HTTP layer, the runner.
NOT_FOR_PARSING = ("duckdb", "httpx", "lineflow.http", "lineflow.pipeline.runner")


def test_the_worker_describes_and_parses_dropped_files_as_this_process_does(daily, tmp_path):
    restored = tmp_path / "restored"
    shutil.copytree(daily / "landing", restored / "landing")
    # A file dropped by hand, with no sidecar: dated by its pass.
    some_pass = sorted((restored / "landing/odds_api/player_props" / INCIDENT).iterdir())[0]
    copied = sorted(some_pass.glob("*.json"))[0]
    (some_pass / "zz-by-hand.json").write_bytes(copied.read_bytes())
    settings = compose([f"home={restored}", "pipeline.stages=[process]"])
    config, day = settings.sources["odds_api"], date.fromisoformat(INCIDENT)
    landing = LandingZone(settings.landing.root)
    found = list(landing.discover("odds_api", day))
    listings = [w for w in found if w.endpoint == "events"]
    others = [w for w in found if w.endpoint != "events"]
    identity = settings.identity.compiled()

    def trips(pool):
        listed = [(config, landing, (), listings, day, "run-1")]
        (landed, unreadable, outcomes, events), *_ = process._trips(
            pool, process._land_listings, listed
        )
        parse_ctx = ParseContext(markets=config.markets, books=config.books, events=events.frame)
        batch = [(config, landing, others, day, "run-1", parse_ctx, identity)]
        ((more, failed, parsed, rows),) = process._trips(pool, process._land_batch, batch)
        return pl.concat([landed, more]), [*unreadable, *failed], [*outcomes, *parsed], rows

    here = trips(None)
    with _parse_pool(settings, 1) as pool:
        there = trips(pool)
        modules = pool.submit(loaded_modules).result()

    assert_frame_equal(there[0], here[0])
    assert there[1:3] == here[1:3] and not here[1]
    assert_frame_equal(there[3], here[3])
    assert here[3].height > 1000
    assert [m for m in modules if m.partition(".")[0] == "polars"], "the worker parsed"
    assert [m for m in modules if m.startswith(NOT_FOR_PARSING)] == []

    # The manifest rows are the scrape's own (its sidecars say how each body was fetched),
    # and the file dropped by hand is dated by its pass.
    columns = "path, file_id, source, endpoint, slate_date, pass_id, bytes, url, http_status"
    scraped = query(daily, f"SELECT {columns}, fetched_at FROM landed_files ORDER BY path")
    described = here[0].drop("run_id").sort("path")
    by_hand = described.filter(pl.col("path").str.ends_with("zz-by-hand.json"))
    assert described.filter(~pl.col("path").str.ends_with("zz-by-hand.json")).rows() == scraped
    (row,) = by_hand.rows(named=True)
    assert row["url"] is None and row["http_status"] is None
    assert row["file_id"] == file_id(copied.read_bytes())
    assert row["fetched_at"] == pass_time(some_pass.name)
