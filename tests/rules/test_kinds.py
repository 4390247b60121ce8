"""Every rule kind, with data that passes and data that fails."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from lineflow.core.schema import PROP_LINES
from lineflow.rules import Circumstances, RuleFile, evaluate
from lineflow.rules.evaluate import evaluate_rule
from tests.rules.lines import SNAP, TIP, books, frame, pair, quote


def rule(**spec: Any) -> Any:
    spec.setdefault("id", "the_rule")
    return RuleFile.model_validate({"table": "prop_lines", "checks": [spec]}).rules()[0]


def judge(spec: dict[str, Any], rows: Any, facts: Circumstances | None = None) -> Any:
    return evaluate_rule(rule(**spec), rows, facts or Circumstances(games=8))


CASES: list[tuple[str, dict[str, Any], Any, Any]] = [
    # (name, rule, passing data, failing data)
    (
        "not_null",
        {"kind": "not_null", "column": "player_key"},
        frame(pair()),
        frame(pair(), quote(player_key=None)),
    ),
    (
        "between",
        {"kind": "between", "column": "line", "min": 0.5, "max": 99.5},
        frame(pair(line=0.5), pair(line=99.5)),
        frame(pair(), quote(line=150.5)),
    ),
    (
        "in_set",
        {"kind": "in_set", "column": "side", "values": ["over", "under"]},
        frame(pair()),
        frame(pair(), quote(side="yes")),
    ),
    (
        "regex",
        {"kind": "regex", "column": "market", "pattern": "^player_[a-z_]+$"},
        frame(pair(market="player_threes")),
        frame(pair(), quote(market="Points (Player)")),
    ),
    (
        "row as SQL",
        {"kind": "row", "sql": "implied_prob > 0 AND implied_prob < 1"},
        frame(pair()),
        frame(pair(), quote(implied_prob=1.4)),
    ),
    (
        "row as a polars expression",
        {"kind": "row", "polars": "pl.col('price_decimal') > 1"},
        frame(pair()),
        frame(pair(), quote(price_decimal=0.95)),
    ),
    (
        "min_count: two books per player and market",
        {
            "kind": "min_count",
            "group_by": ["market", "player_key"],
            "count_distinct": "bookmaker",
            "min": 2,
        },
        frame(books("draftkings", "fanduel")),
        frame(books("draftkings", "fanduel"), books("draftkings", player_key="lonely")),
    ),
    (
        "min_count: ten players per game",
        {"kind": "min_count", "group_by": ["event_id"], "count_distinct": "player_key", "min": 10},
        frame(*[pair(player_key=f"p{i}") for i in range(10)]),
        frame(*[pair(player_key=f"p{i}") for i in range(9)]),
    ),
    (
        "freshness against the snapshot",
        {"kind": "freshness", "max_age_hours": 4},
        frame(pair(last_update=SNAP - timedelta(hours=3, minutes=59))),
        frame(pair(), pair(bookmaker="bovada", last_update=SNAP - timedelta(hours=5))),
    ),
    (
        "freshness against tip-off",
        {"kind": "freshness", "relative_to": "commence_time", "max_age_hours": 12},
        frame(pair(last_update=TIP - timedelta(hours=11))),
        frame(pair(last_update=TIP - timedelta(hours=13))),
    ),
    (
        "cross_source",
        {"kind": "cross_source", "max_diff": 1.5},
        frame(pair(), pair(source="bettingpros", line=19.5)),
        frame(pair(), pair(source="bettingpros", line=21.5)),
    ),
    (
        "american_odds",
        {"kind": "american_odds"},
        frame(pair(price_american=100), pair(bookmaker="b", price_american=-10000)),
        frame(pair(), quote(price_american=-99), quote(price_american=12000)),
    ),
    (
        "decimal_odds",
        {"kind": "decimal_odds"},
        frame(pair(price_decimal=1.01)),
        frame(pair(), quote(price_decimal=1.0)),
    ),
    (
        "pair_sum",
        {"kind": "pair_sum", "min": 1.0, "max": 1.25},
        frame(pair()),
        frame(
            pair(),
            quote(bookmaker="x", implied_prob=0.49),
            quote(bookmaker="x", side="under", implied_prob=0.48),
        ),
    ),
    (
        "line_range",
        {"kind": "line_range", "markets": {"player_points": [5.5, 50.5]}},
        frame(pair(line=5.5), pair(line=50.5), pair(market="player_threes", line=0.5)),
        frame(pair(), pair(player_key="bench", line=4.5)),
    ),
    (
        "placeholder_line",
        {"kind": "placeholder_line", "value": 20.0, "sources": ["estimated"]},
        frame(pair(line=20.0), pair(source="estimated", line=19.5)),
        frame(pair(), pair(source="estimated", line=20.0)),
    ),
    (
        "line_granularity",
        {
            "kind": "line_granularity",
            "default": ["half", "whole"],
            "markets": {"player_threes": ["half"]},
        },
        frame(pair(line=20.0), pair(line=20.5), pair(market="player_threes", line=1.5)),
        frame(pair(), pair(line=20.25), pair(market="player_threes", line=2.0)),
    ),
]


@pytest.mark.parametrize(("name", "spec", "good", "bad"), CASES, ids=[c[0] for c in CASES])
def test_every_kind_passes_good_data_and_fails_bad_data(name, spec, good, bad):
    passed = judge(spec, good)
    assert passed.outcome == "pass", passed.detail
    assert passed.failed == 0 and passed.checked > 0
    failed = judge(spec, bad)
    assert failed.outcome == "fail", failed.detail
    assert 0 < failed.failed <= failed.checked
    assert failed.samples, "a failure names what failed"


def test_row_failures_point_at_the_failing_rows_only():
    rows = frame(pair(), pair(player_key="bench", line=4.5, file_id="f2"))
    found = judge({"kind": "line_range", "markets": {"player_points": [5.5, 50.5]}}, rows)
    assert found.failing_rows is not None
    assert found.failing_rows["player_key"].to_list() == ["bench", "bench"]
    assert set(found.failing_rows["file_id"]) == {"f2"}
    assert found.samples == (
        "player_points bench draftkings over 4.5",
        "player_points bench draftkings under 4.5",
    )


def test_the_failing_fraction_threshold_decides_pass_or_fail():
    rows = frame(*[pair(player_key=f"p{i}") for i in range(19)], quote(price_decimal=0.9))
    spec = {"kind": "decimal_odds"}  # 1 bad row of 39
    assert judge(spec, rows).outcome == "fail"
    tolerant = judge({**spec, "max_fraction": 0.05}, rows)
    assert tolerant.outcome == "pass"
    assert tolerant.failed == 1, "rows are still counted (and quarantined) under the threshold"


def test_where_narrows_the_rows_a_rule_checks():
    rows = frame(pair(), pair(is_main_line=False, line=3.5, player_key="alt"))
    spec = {"kind": "line_range", "markets": {"player_points": [5.5, 50.5]}}
    assert judge(spec, rows).outcome == "fail"
    main_only = judge({**spec, "where": "is_main_line"}, rows)
    assert (main_only.outcome, main_only.checked) == ("pass", 2)


def test_a_missing_value_fails_value_checks():
    found = judge({"kind": "american_odds"}, frame(pair(), quote(price_american=None)))
    assert (found.failed, found.outcome) == (1, "fail")


def test_cross_source_needs_two_sources_to_compare():
    found = judge({"kind": "cross_source", "max_diff": 1.5}, frame(pair(), pair(line=30.5)))
    assert (found.outcome, found.checked) == ("pass", 0)
    assert "no player markets quoted by two or more sources" in found.detail


class TestCompleteness:
    spec = {"kind": "completeness", "source": "bettingpros", "measure": "players", "min": 2}

    def test_enough_players_pass(self):
        rows = frame(pair(source="bettingpros"), pair(source="bettingpros", player_key="b"))
        assert judge(self.spec, rows).outcome == "pass"

    def test_too_few_on_a_day_with_games_fails(self):
        found = judge(self.spec, frame(pair(source="bettingpros")), Circumstances(games=8))
        assert (found.outcome, found.passed) == ("fail", False)
        assert "only 1 players from bettingpros (at least 2) with 8 games scheduled" in (
            found.detail
        )

    def test_a_day_without_games_is_legitimately_empty(self):
        found = judge(self.spec, frame(), Circumstances(games=0))
        assert (found.outcome, found.passed) == ("empty", True)

    def test_a_blocked_source_is_blocked_not_failed(self):
        facts = Circumstances(games=8, blocked={"bettingpros": "HTTP 403 Forbidden"})
        found = judge(self.spec, frame(pair()), facts)
        assert (found.outcome, found.passed) == ("blocked", None)
        assert "HTTP 403" in found.detail

    def test_a_source_never_scraped_is_skipped(self):
        facts = Circumstances(games=8, scraped=frozenset({"odds_api"}))
        assert judge(self.spec, frame(pair()), facts).outcome == "skipped"


def test_only_quarantine_rules_fill_quarantine():
    rules = RuleFile.model_validate(
        {
            "table": "prop_lines",
            "checks": [
                {"id": "bad_odds", "kind": "decimal_odds", "severity": "quarantine"},
                {"id": "range", "kind": "between", "column": "line", "max": 10, "severity": "warn"},
                {"id": "prob", "kind": "row", "sql": "implied_prob < 0.5", "severity": "error"},
            ],
        }
    ).rules()
    rows = frame(pair(), quote(player_key="x", price_decimal=0.5))
    evaluation = evaluate(rules, rows)
    assert [f.outcome for f in evaluation.findings] == ["fail", "fail", "fail"]
    held = evaluation.quarantine(PROP_LINES)
    assert held["rule_id"].to_list() == ["bad_odds"]
    assert held["player_key"].to_list() == ["x"]
    assert [f.rule.id for f in evaluation.failures("error")] == ["prob"]
    assert evaluation.blocking_failures() == []
    results = evaluation.results()
    assert results["passed"].to_list() == [False, False, False]
    assert results["failed"].to_list() == [1, 3, 3]
