"""Prediction batches piece by piece: input fingerprints, running models per unit, the batch
state a worker reports into, and when a batch counts as abandoned."""

from __future__ import annotations

import json
import os
import socket
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from lineflow.models.base import one_unit
from lineflow.models.consensus import Consensus
from lineflow.pipeline.predictions import (
    COMPLETE,
    FAILED,
    RUNNING,
    STAGED_COLUMNS,
    WITH_EXCLUSIONS,
    BatchStore,
    Heartbeat,
    ModelSpec,
    Unit,
    _worker,
    exclusions_json,
    fingerprints,
    is_stale,
    minutes_before_tip,
    owner,
    predict_units,
)
from lineflow.state import SqliteStore
from lineflow.state.locks import host_mark

SNAP = datetime(2026, 1, 23, 18, 30, tzinfo=UTC)
TIP = datetime(2026, 1, 24, 0, 30, tzinfo=UTC)
D = date(2026, 1, 23)
CONSENSUS = ModelSpec("consensus", "lineflow.models.consensus:Consensus")


class Broken:
    """A model with a bug: every prediction raises."""

    def __init__(self, name: str) -> None:
        self.name = name

    def predict(self, lines: pl.DataFrame) -> dict[str, Any]:
        raise ZeroDivisionError("division by zero")


def line(**changes: Any) -> dict[str, Any]:
    row = {
        "player_key": "luka_doncic",
        "player_name": "Luka Doncic",
        "market": "player_points",
        "bookmaker": "dk",
        "side": "over",
        "line": 32.5,
        "price_american": -110,
        "price_decimal": 1 + 100 / 110,
        "is_main_line": True,
        "snapshot_at": SNAP,
        "last_update": SNAP,
        "source": "odds_api",
        "commence_time": TIP,
    }
    return row | changes


def pair(**changes: Any) -> list[dict[str, Any]]:
    return [line(**changes, side="over"), line(**changes, side="under")]


def frame(*rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame([r for group in rows for r in group])


def digest(lines: pl.DataFrame) -> str:
    (fp,) = fingerprints(lines)["fingerprint"].to_list()
    return fp


def test_a_repeated_snapshot_keeps_the_fingerprint_a_moved_line_or_price_changes_it() -> None:
    base = frame(pair(), pair(bookmaker="fd"))
    later = SNAP + timedelta(minutes=30)
    same_again = frame(pair(), pair(bookmaker="fd"), pair(snapshot_at=later))
    assert digest(same_again) == digest(base)
    assert digest(frame(pair(), pair(bookmaker="fd"), pair(snapshot_at=later, line=33.5))) != (
        digest(base)
    )
    moved_price = frame(pair(), pair(bookmaker="fd"), pair(snapshot_at=later, price_american=-120))
    assert digest(moved_price) != digest(base)
    assert digest(frame(pair(bookmaker="fd"), pair())[::-1]) == digest(base)  # row order


def test_the_fingerprint_reads_the_newest_main_lines_of_each_book() -> None:
    base = frame(pair(), pair(bookmaker="fd"))
    earlier = SNAP - timedelta(minutes=30)
    with_old = frame(
        pair(), pair(bookmaker="fd"), pair(bookmaker="fd", snapshot_at=earlier, line=1.5)
    )
    assert digest(with_old) == digest(base)
    alternates = frame(pair(), pair(bookmaker="fd"), pair(line=40.5, is_main_line=False))
    assert digest(alternates) == digest(base)
    unflagged = frame(pair(), pair(bookmaker="fd"), pair(line=40.5, is_main_line=None))
    assert digest(unflagged) == digest(base)
    one_side_moved = frame(
        pair(), [line(bookmaker="fd"), line(bookmaker="fd", side="under", line=33.5)]
    )
    assert digest(one_side_moved) != digest(base)


def test_fingerprints_one_row_per_player_and_market_sorted() -> None:
    lines = frame(
        pair(player_key="zion", player_name="Zion", commence_time=TIP + timedelta(hours=2)),
        pair(market="player_rebounds", line=8.5),
        pair(bookmaker="fd", commence_time=TIP - timedelta(hours=1)),
        pair(),
    )
    out = fingerprints(lines)
    assert out.columns == ["player_key", "market", "player_name", "fingerprint", "commence_time"]
    assert out.select("player_key", "market", "player_name", "commence_time").rows() == [
        ("luka_doncic", "player_points", "Luka Doncic", TIP - timedelta(hours=1)),
        ("luka_doncic", "player_rebounds", "Luka Doncic", TIP),
        ("zion", "player_points", "Zion", TIP + timedelta(hours=2)),
    ]


def test_a_players_name_does_not_depend_on_row_order() -> None:
    rows = frame(pair(player_name="Luka Dončić"), pair(bookmaker="fd"))
    names = {fingerprints(rows[order])["player_name"][0] for order in ([0, 1, 2, 3], [3, 2, 1, 0])}
    assert names == {"Luka Doncic"}  # the first spelling in sort order


def test_minutes_before_tip_are_from_the_newest_snapshot_to_the_earliest_tip() -> None:
    lines = frame(
        pair(snapshot_at=SNAP - timedelta(hours=2)),
        pair(),
        pair(commence_time=TIP + timedelta(hours=1)),
        pair(player_key="zion", snapshot_at=SNAP - timedelta(hours=1)),
    )
    minutes = minutes_before_tip(lines).sort("player_key")
    assert minutes.rows() == [
        ("luka_doncic", "player_points", 360.0),
        ("zion", "player_points", 420.0),
    ]
    no_tip = frame(pair()).with_columns(commence_time=pl.lit(None, pl.Datetime("us", "UTC")))
    assert minutes_before_tip(no_tip)["minutes_before_tip"].to_list() == [None]


def unit(key: str = "luka_doncic", fp: str = "fp1") -> Unit:
    return Unit(key, "player_points", "Luka Doncic", fp, "new")


def test_predict_units_stages_one_row_per_model_with_keys_and_lineage() -> None:
    lines = frame(pair(), pair(bookmaker="fd"))
    no_pair = frame([line(player_key="zion")])
    models = [CONSENSUS, ModelSpec("bp", "lineflow.models.best_price:BestPrice", {"edge": 0.5})]
    staged, failures = predict_units(
        models, [unit(), unit("zion", "fp2")], pl.concat([lines, no_pair], how="diagonal"), D
    )
    assert failures == {}
    assert tuple(staged.columns) == STAGED_COLUMNS
    assert staged.select("player_key", "model", "line", "recommendation", "line_source").rows() == [
        ("luka_doncic", "consensus", 32.5, "PASS", "actual_prop"),
        ("luka_doncic", "bp", 32.5, "PASS", "actual_prop"),
        ("zion", "consensus", None, "NO_LINE", "none"),
        ("zion", "bp", None, "NO_LINE", "none"),
    ]
    first = staged.row(0, named=True)
    assert (first["slate_date"], first["market"], first["player_name"]) == (
        D,
        "player_points",
        "Luka Doncic",
    )
    assert (first["minutes_before_tip"], first["input_fingerprint"], first["books"]) == (
        360.0,
        "fp1",
        2,
    )
    assert (first["prob_over"], first["confidence"]) == (0.5, 1.0)
    assert staged.schema["price_american"] == pl.Int32 and staged.schema["books"] == pl.Int32


def test_a_model_error_fails_its_unit_not_the_batch() -> None:
    broken = ModelSpec("broken", f"{__name__}:Broken")
    lines = frame(pair(), pair(bookmaker="fd"))
    staged, failures = predict_units([CONSENSUS, broken], [unit()], lines, D)
    assert staged.height == 0
    assert failures == {("luka_doncic", "player_points"): "ZeroDivisionError: division by zero"}
    both = pl.concat([lines, lines.with_columns(player_key=pl.lit("zion"))])
    ok, none_failed = predict_units([CONSENSUS], [unit(), unit("zion")], both, D)
    assert ok["player_key"].to_list() == ["luka_doncic", "zion"] and none_failed == {}


class Picky:
    """A partition model that cannot stand a line below zero: its pass over a partition fails
    on one player's bad line, and so does that player's own prediction."""

    passes: list[int] = []  # the player markets each partition pass was given

    def __init__(self, name: str) -> None:
        self.name = name

    def predict_partition(self, lines: pl.DataFrame) -> pl.DataFrame:
        Picky.passes.append(lines.select("player_key", "market").n_unique())
        if (lines["line"] < 0).any():
            raise ValueError(f"a line below zero: {lines['line'].min()}")
        return Consensus(name=self.name).predict_partition(lines)

    def predict(self, lines: pl.DataFrame) -> dict[str, Any]:
        return one_unit(self, lines)


PICKY = ModelSpec("picky", f"{__name__}:Picky")


def test_one_players_bad_data_fails_that_player_not_the_partition() -> None:
    good = frame(pair(), pair(bookmaker="fd"))
    bad = frame(pair(player_key="zion", line=-3.5))
    other = good.with_columns(player_key=pl.lit("ann"))
    units = [unit(), unit("zion", "fp2"), unit("ann", "fp3")]
    staged, failures = predict_units([CONSENSUS, PICKY], units, pl.concat([good, bad, other]), D)
    assert failures == {("zion", "player_points"): "ValueError: a line below zero: -3.5"}
    assert staged.select("player_key", "model").rows() == [
        ("luka_doncic", "consensus"),
        ("luka_doncic", "picky"),
        ("ann", "consensus"),
        ("ann", "picky"),
    ]
    without, _ = predict_units([CONSENSUS, PICKY], [unit()], good, D)
    alone, _ = predict_units([CONSENSUS, PICKY], [unit("ann", "fp3")], other, D)
    assert staged.equals(pl.concat([without, alone])), "the others' rows are as without him"


def test_a_partition_model_predicts_every_unit_in_one_pass() -> None:
    Picky.passes.clear()
    keys = ["a", "b", "c", "d", "e", "f"]
    lines = pl.concat(
        [frame(pair(), pair(bookmaker="fd")).with_columns(player_key=pl.lit(k)) for k in keys]
    )
    staged, failures = predict_units([PICKY], [unit(k) for k in keys], lines, D)
    assert failures == {} and staged["player_key"].to_list() == keys
    assert Picky.passes == [6], "one pass over the six units, none per unit"


def test_a_worker_stages_one_parquet_file_and_reports_each_unit(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    store = BatchStore(SqliteStore(state))
    store.create("b1", D, "run-1", SNAP)
    staging = tmp_path / "staging"
    staging.mkdir()
    broken = ModelSpec("broken", f"{__name__}:Broken")
    lines = frame(pair(), pair(bookmaker="fd"))
    failures = _worker(SqliteStore(state), "b1", str(staging), 7, [CONSENSUS], [unit()], lines, D)
    assert failures == {}
    assert sorted(p.name for p in staging.iterdir()) == ["worker-007.parquet"]
    assert pl.read_parquet(staging / "worker-007.parquet")["player_key"].to_list() == [
        "luka_doncic"
    ]
    zion = lines.with_columns(player_key=pl.lit("zion"))
    failures = _worker(SqliteStore(state), "b1", str(staging), 8, [broken], [unit("zion")], zion, D)
    assert failures == {("zion", "player_points"): "ZeroDivisionError: division by zero"}
    items = [(i["player_key"], i["status"], i["error"]) for i in store.items("b1")]
    assert items == [
        ("luka_doncic", "completed", None),
        ("zion", "failed", "ZeroDivisionError: division by zero"),
    ]


def test_batch_state_create_adopt_heartbeat_finish(tmp_path: Path) -> None:
    store = BatchStore(SqliteStore(tmp_path / "state.sqlite"))
    assert store.open_batch(D) is None
    store.create("old", D, "run-0", SNAP - timedelta(hours=1))
    store.create("b1", D, "run-1", SNAP)
    store.create("other-day", date(2026, 1, 24), "run-1", SNAP + timedelta(hours=1))
    batch = store.open_batch(D)
    assert batch is not None and batch["status"] == RUNNING
    assert batch == {
        "batch_id": "b1",
        "slate_date": "2026-01-23",
        "status": "running",
        "owner": owner(),
        "run_id": "run-1",
        "started_at": SNAP.isoformat(),
        "heartbeat_at": SNAP.isoformat(),
    }
    later = SNAP + timedelta(minutes=5)
    store.heartbeat("b1", later)
    assert store.open_batch(D)["heartbeat_at"] == later.isoformat()  # type: ignore[index]
    store.adopt("b1", "run-2", later + timedelta(minutes=1))
    adopted = store.open_batch(D)
    assert adopted is not None
    assert (adopted["run_id"], adopted["heartbeat_at"]) == (
        "run-2",
        (later + timedelta(minutes=1)).isoformat(),
    )
    assert store.open_batch(date(2026, 1, 24))["batch_id"] == "other-day"  # type: ignore[index]
    store.finish("b1", "complete")
    assert store.open_batch(D)["batch_id"] == "old"  # type: ignore[index]
    store.finish("old", "failed")
    assert store.open_batch(D) is None
    assert owner() == f"{socket.gethostname()}{host_mark()}:{os.getpid()}"


def test_a_batch_is_created_or_adopted_with_its_items_at_once(tmp_path: Path) -> None:
    store = BatchStore(SqliteStore(tmp_path / "state.sqlite"))
    store.create("b1", D, "run-1", SNAP, [("zion", "player_points", "pending", None, None)])
    assert [(i["player_key"], i["status"]) for i in store.items("b1")] == [("zion", "pending")]
    store.adopt("b1", "run-2", SNAP, [("zion", "player_points", "excluded", "stale", None)])
    assert [(i["status"], i["reasons"]) for i in store.items("b1")] == [("excluded", "stale")]
    assert store.open_batch(D)["run_id"] == "run-2"  # type: ignore[index]


def test_items_are_upserted_per_player_and_market(tmp_path: Path) -> None:
    store = BatchStore(SqliteStore(tmp_path / "state.sqlite"))
    store.set_items("b1", [("zion", "player_points", "excluded", '["stale"]', None)])
    store.set_items("b1", [("luka", "player_points", "failed", None, "boom")])
    store.set_items("b1", [("zion", "player_points", "completed", None, None)])
    store.set_items("b2", [("luka", "player_points", "completed", None, None)])
    got = [(i["player_key"], i["status"], i["reasons"], i["error"]) for i in store.items("b1")]
    assert got == [("luka", "failed", None, "boom"), ("zion", "completed", None, None)]


def test_a_batch_is_stale_only_after_more_than_stale_after() -> None:
    batch = {"heartbeat_at": SNAP.isoformat()}
    assert not is_stale(batch, SNAP + timedelta(minutes=5), timedelta(minutes=5))
    assert is_stale(batch, SNAP + timedelta(minutes=5, seconds=1), timedelta(minutes=5))


def test_the_heartbeat_beats_until_the_block_ends() -> None:
    beats: list[int] = []
    enough = threading.Event()

    def beat() -> None:
        beats.append(1)
        if len(beats) >= 3:
            enough.set()

    with Heartbeat(beat, 0.01) as heartbeat:
        assert enough.wait(10)
        (thread,) = [t for t in threading.enumerate() if t.name == "batch-heartbeat"]
        assert thread.daemon  # a worker that exits mid-batch is not kept alive by it
    assert not heartbeat._thread.is_alive()
    counted = len(beats)
    assert counted >= 3
    with Heartbeat(beat, 60):
        pass  # ends before the first beat is due
    assert len(beats) == counted


def test_exclusions_are_recorded_as_json_by_player_and_market() -> None:
    excluded = pl.DataFrame(
        {
            "player_key": ["zion", "luka"],
            "market": ["player_points", "player_rebounds"],
            "reasons": [["stale"], ["out_of_range", "too_few_books"]],
        }
    )
    assert json.loads(exclusions_json(excluded)) == {
        "luka:player_rebounds": ["out_of_range", "too_few_books"],
        "zion:player_points": ["stale"],
    }
    assert exclusions_json(excluded).index("luka") < exclusions_json(excluded).index("zion")


def test_batch_statuses_are_the_names_status_and_health_report() -> None:
    assert (RUNNING, COMPLETE, WITH_EXCLUSIONS, FAILED) == (
        "running",
        "complete",
        "complete_with_exclusions",
        "failed",
    )


@pytest.mark.parametrize("name", ["consensus", "best_price"])
def test_model_specs_default_to_no_parameters(name: str) -> None:
    assert ModelSpec(name, "x:y").params == {}
