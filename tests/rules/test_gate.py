"""The line-quality gate as a function: pass, or every reason it did not."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from lineflow.rules import LineQualityConfig, line_quality
from tests.rules.lines import SNAP, books, frame, pair

GATE = LineQualityConfig(estimating_sources=["estimated"])


def verdict(rows: pl.DataFrame, player: str = "test_player") -> tuple[bool, list[str]]:
    out = line_quality(rows, GATE).filter(pl.col("player_key") == player)
    assert out.height == 1
    return out["passed"][0], out["reasons"][0].to_list()


def test_two_fresh_consistent_books_in_range_pass():
    assert verdict(frame(books("draftkings", "fanduel"))) == (True, [])


def test_one_book_is_too_few():
    assert verdict(frame(books("draftkings"))) == (False, ["too_few_books"])


def test_lines_older_than_4_hours_are_stale():
    old = SNAP - timedelta(hours=5)
    assert verdict(frame(books("bovada", "betonlineag", last_update=old))) == (False, ["stale"])


def test_one_stale_book_beside_two_fresh_ones_does_not_fail_the_player():
    old = SNAP - timedelta(hours=5)
    rows = frame(books("draftkings", "fanduel"), books("bovada", last_update=old))
    assert verdict(rows) == (True, [])


def test_a_points_line_outside_5_5_to_50_5_is_out_of_range():
    assert verdict(frame(books("draftkings", "fanduel", line=4.5))) == (False, ["out_of_range"])
    assert verdict(frame(books("draftkings", "fanduel", line=51.5))) == (False, ["out_of_range"])


def test_plus_money_on_both_sides_is_inconsistent():
    rows = frame(
        books("draftkings", "fanduel", implied_prob=0.49),  # the pair sums to 0.98
    )
    assert verdict(rows) == (False, ["inconsistent_prices"])


def test_the_placeholder_20_from_an_estimating_source_is_no_line():
    rows = frame(books("draftkings", "fanduel", source="estimated", line=20.0))
    assert verdict(rows) == (False, ["placeholder"])
    real = frame(books("draftkings", "fanduel", line=20.0))
    assert verdict(real) == (True, [])


def test_reasons_are_listed_together_and_sorted():
    old = SNAP - timedelta(hours=6)
    rows = frame(books("draftkings", line=4.5, last_update=old))
    assert verdict(rows) == (False, ["out_of_range", "stale", "too_few_books"])


def test_only_each_books_newest_main_line_counts():
    earlier = SNAP - timedelta(minutes=25)
    rows = frame(
        books("draftkings", "fanduel", snapshot_at=earlier, line=4.5),  # since corrected
        books("draftkings", "fanduel"),
        pair(bookmaker="betrivers", line=2.5, is_main_line=False),  # an alternate
    )
    assert verdict(rows) == (True, [])


def test_one_row_per_player_and_market_with_the_consensus_line():
    rows = frame(
        books("draftkings", "fanduel"),
        books("draftkings", "fanduel", market="player_rebounds", line=7.5),
        books("draftkings", "fanduel", player_key="other", line=10.5),
    )
    out = line_quality(rows, GATE)
    assert out.select("player_key", "market", "line").rows() == [
        ("other", "player_points", 10.5),
        ("test_player", "player_points", 18.5),
        ("test_player", "player_rebounds", 7.5),
    ]
    assert out.columns[:5] == ["slate_date", "player_key", "market", "passed", "reasons"]


def test_thresholds_come_from_the_settings():
    old = SNAP - timedelta(hours=5)
    rows = frame(books("draftkings", last_update=old))
    lenient = LineQualityConfig(max_age_hours=6, min_books=1)
    out = line_quality(rows, lenient)
    assert out["passed"].to_list() == [True]
