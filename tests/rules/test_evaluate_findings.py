"""Rule evaluation at its edges: exact thresholds, what a finding reports, which rows it holds.

Complements test_kinds.py (every kind passing and failing) with boundaries and the exact
numbers, details and samples a finding carries.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import polars as pl
import pytest

from lineflow.core.schema import PROP_LINES
from lineflow.rules import Circumstances, RuleFile, evaluate
from lineflow.rules.evaluate import (
    RESULT_SCHEMA,
    SAMPLES,
    Evaluation,
    Finding,
    _together,
    evaluate_rule,
)
from tests.rules.lines import SNAP, TIP, books, frame, pair, quote


def rule(**spec: Any) -> Any:
    spec.setdefault("id", "the_rule")
    return RuleFile.model_validate({"table": "prop_lines", "checks": [spec]}).rules()[0]


def judge(spec: dict[str, Any], rows: pl.DataFrame, facts: Circumstances | None = None) -> Finding:
    return evaluate_rule(rule(**spec), rows, facts or Circumstances(games=8))


def counts(found: Finding) -> tuple[str, int, int]:
    return found.outcome, found.checked, found.failed


# -- judging a fraction ---------------------------------------------------------------------------


def test_exactly_max_fraction_failing_still_passes() -> None:
    rows = frame(pair(), pair(bookmaker="b"), quote(bookmaker="c", price_decimal=1.0))
    at_limit = judge({"kind": "decimal_odds", "max_fraction": 0.2}, rows)
    assert counts(at_limit) == ("pass", 5, 1)
    assert at_limit.detail == "1 of 5 rows fail (20.0%; at most 20.0%)"
    assert at_limit.fraction == 0.2 and at_limit.passed is True
    over = judge({"kind": "decimal_odds", "max_fraction": 0.19}, rows)
    assert counts(over) == ("fail", 5, 1) and over.passed is False


def test_nothing_to_check_passes_and_says_so() -> None:
    found = judge({"kind": "not_null", "column": "line"}, frame(pair()).head(0))
    assert counts(found) == ("pass", 0, 0)
    assert (found.detail, found.fraction, found.samples) == ("no rows to check", 0.0, ())


def test_outcomes_that_cannot_judge_have_no_verdict() -> None:
    the_rule = rule(kind="not_null", column="line")
    assert [
        Finding(the_rule, o).passed for o in ("pass", "empty", "fail", "blocked", "skipped")
    ] == [
        True,
        True,
        False,
        None,
        None,
    ]
    assert Finding(the_rule, "fail", checked=4, failed=1).fraction == 0.25
    bare = Finding(the_rule, "pass")  # judged nothing: 0 of 0, no detail, no rows
    assert (bare.checked, bare.failed, bare.fraction, bare.detail) == (0, 0, 0.0, "")
    assert (bare.samples, bare.failing_rows) == ((), None)


# -- row kinds ------------------------------------------------------------------------------------


def test_between_with_one_bound_checks_only_that_bound() -> None:
    rows = frame(pair(line=0.5), pair(bookmaker="b", line=99.5))
    assert counts(judge({"kind": "between", "column": "line", "min": 1}, rows)) == ("fail", 4, 2)
    assert counts(judge({"kind": "between", "column": "line", "max": 99}, rows)) == ("fail", 4, 2)
    assert counts(judge({"kind": "between", "column": "line", "min": 0.5, "max": 99.5}, rows)) == (
        "pass",
        4,
        0,
    )


def test_a_regex_is_matched_against_the_value_as_text() -> None:
    rows = frame(pair(line=20.5), pair(bookmaker="b", line=20.0))
    found = judge({"kind": "regex", "column": "line", "pattern": r"\.5$"}, rows)
    assert counts(found) == ("fail", 4, 2)


def test_in_set_fails_values_outside_and_missing_ones() -> None:
    rows = frame(pair(), quote(side="push"), quote(side=None))
    found = judge({"kind": "in_set", "column": "side", "values": ["over", "under"]}, rows)
    assert counts(found) == ("fail", 4, 2)


def test_freshness_at_exactly_the_age_passes() -> None:
    spec = {"kind": "freshness", "max_age_hours": 1.5}
    exact = frame(pair(last_update=SNAP - timedelta(minutes=90)))
    assert counts(judge(spec, exact)) == ("pass", 2, 0)
    late = frame(pair(last_update=SNAP - timedelta(minutes=90, seconds=1)))
    assert counts(judge(spec, late)) == ("fail", 2, 2)
    tip = {"kind": "freshness", "relative_to": "commence_time", "max_age_hours": 1}
    assert counts(judge(tip, frame(pair(last_update=TIP - timedelta(minutes=61))))) == (
        "fail",
        2,
        2,
    )


def test_american_odds_from_100_to_max_abs_in_size() -> None:
    rows = frame(
        quote(price_american=100),
        quote(price_american=-100),
        quote(price_american=500),
        quote(price_american=-500),
        quote(price_american=99),
        quote(price_american=-99),
        quote(price_american=501),
        quote(price_american=-501),
    )
    found = judge({"kind": "american_odds", "max_abs": 500}, rows)
    assert counts(found) == ("fail", 8, 4)
    assert found.failing_rows["price_american"].to_list() == [99, -99, 501, -501]  # type: ignore[index]


def test_decimal_odds_must_exceed_one() -> None:
    rows = frame(quote(price_decimal=1.0001), quote(price_decimal=1.0), quote(price_decimal=None))
    assert counts(judge({"kind": "decimal_odds"}, rows)) == ("fail", 3, 2)


def test_line_range_checks_only_its_markets_with_inclusive_bounds() -> None:
    rows = frame(
        quote(line=5.5),
        quote(line=50.5),
        quote(line=5.4),
        quote(line=50.6),
        quote(market="player_threes", line=0.5),
    )
    found = judge({"kind": "line_range", "markets": {"player_points": [5.5, 50.5]}}, rows)
    assert counts(found) == ("fail", 4, 2)


def test_the_placeholder_needs_the_value_and_an_estimating_source() -> None:
    rows = frame(
        quote(line=20.0),
        quote(source="estimated", line=19.5),
        quote(source="estimated", line=20.0),
    )
    found = judge({"kind": "placeholder_line", "value": 20.0, "sources": ["estimated"]}, rows)
    assert counts(found) == ("fail", 3, 1)


def test_granularity_by_market_and_default() -> None:
    whole_only = {"kind": "line_granularity", "default": ["whole"]}
    rows = frame(quote(line=20.0), quote(line=20.5), quote(line=20.25))
    assert counts(judge(whole_only, rows)) == ("fail", 3, 2)
    half_only = {"kind": "line_granularity", "default": ["half"]}
    assert counts(judge(half_only, rows)) == ("fail", 3, 2)
    per_market = {
        "kind": "line_granularity",
        "default": ["whole"],
        "markets": {"player_threes": ["half", "whole"]},
    }
    threes = frame(quote(market="player_threes", line=1.5), quote(line=1.5))
    found = judge(per_market, threes)
    assert counts(found) == ("fail", 2, 1)
    assert found.failing_rows["market"].to_list() == ["player_points"]  # type: ignore[index]


def test_a_row_check_as_sql_or_polars_treats_missing_as_failing() -> None:
    rows = frame(quote(implied_prob=0.5), quote(implied_prob=1.5), quote(implied_prob=None))
    sql = judge({"kind": "row", "sql": "implied_prob < 1"}, rows)
    assert counts(sql) == ("fail", 3, 2)
    expr = judge({"kind": "row", "polars": "pl.col('implied_prob') < 1"}, rows)
    assert counts(expr) == ("fail", 3, 2)


def test_where_applies_before_every_kind() -> None:
    rows = frame(pair(source="bettingpros"), pair(source="odds_api", player_key="b"))
    spec = {"kind": "completeness", "source": "bettingpros", "min": 2, "where": "side = 'over'"}
    assert counts(judge(spec, rows)) == ("fail", 1, 1)


def test_samples_are_at_most_five_sorted_unique_keys_and_nulls_show() -> None:
    rows = frame(*[quote(player_key=f"p{i}", price_decimal=1.0) for i in (7, 3, 9, 1, 5, 8, 2)])
    found = judge({"kind": "decimal_odds"}, rows)
    assert len(found.samples) == SAMPLES == 5
    assert found.samples == tuple(
        f"player_points p{i} draftkings over 18.5" for i in (1, 2, 3, 5, 7)
    )
    missing = judge(
        {"kind": "not_null", "column": "player_key"},
        frame(quote(player_key=None), quote(player_key=None, file_id="f2")),  # one key twice
    )
    assert missing.samples == ("player_points ∅ draftkings over 18.5",)


# -- group kinds -----------------------------------------------------------------------------


def test_min_count_counts_groups_and_holds_the_short_groups_rows() -> None:
    rows = frame(
        books("draftkings", "fanduel"),
        books("draftkings", player_key="lonely"),
        books("draftkings", player_key=None),
    )
    spec = {
        "kind": "min_count",
        "group_by": ["player_key"],
        "count_distinct": "bookmaker",
        "min": 2,
    }
    found = judge(spec, rows)
    assert counts(found) == ("fail", 3, 2)
    assert found.detail == "2 of 3 groups fail (66.7%; at most 0.0%)"
    assert found.samples == ("lonely", "∅")
    held = found.failing_rows
    assert held is not None
    assert sorted(map(str, held["player_key"].to_list())) == ["None", "None", "lonely", "lonely"]
    exactly = judge({**spec, "min": 1}, rows)
    assert counts(exactly) == ("pass", 3, 0)


def test_pair_sums_with_inclusive_bounds_and_one_sided_quotes_left_out() -> None:
    rows = frame(
        quote(bookmaker="a", implied_prob=0.5),
        quote(bookmaker="a", side="under", implied_prob=0.5),  # 1.0: at the bound
        quote(bookmaker="b", implied_prob=0.6),
        quote(bookmaker="b", side="under", implied_prob=0.65),  # 1.25: at the bound
        quote(bookmaker="c", implied_prob=0.49),
        quote(bookmaker="c", side="under", implied_prob=0.4812),  # 0.9712: under
        quote(bookmaker="e", side="under", implied_prob=0.45),  # under first in the frame:
        quote(bookmaker="e", implied_prob=0.6),  # 1.05, a good pair
        quote(bookmaker="d", implied_prob=0.7),  # one-sided: no pair
        quote(bookmaker="a", implied_prob=0.7, snapshot_at=SNAP - timedelta(hours=1)),
        quote(bookmaker="a", side="under", implied_prob=0.6, snapshot_at=SNAP - timedelta(hours=1)),
    )
    found = judge({"kind": "pair_sum", "min": 1.0, "max": 1.25}, rows)
    assert counts(found) == ("fail", 5, 2)
    assert found.samples == (
        "player_points test_player a 18.5 1.3",
        "player_points test_player c 18.5 0.971",
    )
    assert found.detail == "2 of 5 over/under pairs fail (40.0%; at most 0.0%)"
    held = found.failing_rows
    assert held is not None and held.height == 4
    # a pair whose key has a NULL (no event id) is still a pair, and its rows are still held
    keyless = frame(
        quote(event_id=None, implied_prob=0.7), quote(event_id=None, side="under", implied_prob=0.7)
    )
    found = judge({"kind": "pair_sum", "min": 1.0, "max": 1.25}, keyless)
    assert counts(found) == ("fail", 1, 1)
    assert found.failing_rows is not None and found.failing_rows.height == 2


def test_cross_source_compares_each_sources_median_line() -> None:
    rows = frame(
        pair(line=18.5),
        pair(bookmaker="fd", line=19.5),  # odds_api median 19.0
        pair(source="bettingpros", line=20.5),  # 1.5 apart: at the limit
        pair(player_key="b", line=10.5),
        pair(player_key="b", source="bettingpros", line=12.5),  # 2.0 apart
        pair(player_key="c", line=30.5),  # one source: not compared
    )
    found = judge({"kind": "cross_source", "max_diff": 1.5}, rows)
    assert counts(found) == ("fail", 2, 1)
    assert found.samples == ("player_points b 2.0",)
    assert found.detail == (
        "1 of 2 player markets quoted by two or more sources differ by more than 1.5 "
        "(50.0%; at most 0.0%)"
    )
    tolerant = judge({"kind": "cross_source", "max_diff": 1.5, "max_fraction": 0.5}, rows)
    assert counts(tolerant) == ("pass", 2, 1)
    one_source = judge({"kind": "cross_source", "max_diff": 1.5}, frame(pair()))
    assert counts(one_source) == ("pass", 0, 0)


@pytest.mark.parametrize(
    ("measure", "measured"), [("rows", 6), ("players", 2), ("events", 3), ("bookmakers", 1)]
)
def test_completeness_measures(measure: str, measured: int) -> None:
    rows = frame(
        pair(source="bp", event_id="e1"),
        pair(source="bp", event_id="e2", player_key="b"),
        pair(source="bp", event_id="e3"),
        pair(event_id="e4", player_key="z", bookmaker="fd"),
    )
    spec = {"kind": "completeness", "source": "bp", "measure": measure}
    exactly = judge({**spec, "min": measured}, rows)
    assert counts(exactly) == ("pass", 1, 0)
    assert exactly.detail == f"{measured} {measure} from bp (at least {measured})"
    short = judge({**spec, "min": measured + 1}, rows, Circumstances())
    assert counts(short) == ("fail", 1, 1)
    assert short.detail == f"only {measured} {measure} from bp (at least {measured + 1})"
    assert short.samples == ("bp",)


def test_completeness_blocked_and_skipped_only_when_they_explain_it() -> None:
    spec = {"kind": "completeness", "source": "bp", "min": 5}
    some = frame(pair(source="bp"))
    other_blocked = Circumstances(games=3, blocked={"odds_api": "HTTP 403"})
    assert judge(spec, some, other_blocked).outcome == "fail"
    blocked = judge(spec, some, Circumstances(games=3, blocked={"bp": "HTTP 403"}))
    assert (blocked.outcome, blocked.detail) == ("blocked", "bp blocked: HTTP 403")
    not_scraped = Circumstances(games=3, scraped=frozenset({"odds_api"}))
    assert judge(spec, frame(pair()), not_scraped).detail == "bp was not scraped for the date"
    assert judge(spec, some, not_scraped).outcome == "fail"  # rows came: it was scraped
    scraped = Circumstances(games=3, scraped=frozenset({"bp"}))
    assert judge(spec, frame(pair()), scraped).outcome == "fail"
    empty = judge(spec, frame(pair()), Circumstances(games=0))
    assert (empty.outcome, empty.detail) == ("empty", "no games on the schedule: empty is expected")
    assert counts(empty) == ("empty", 1, 0)
    assert counts(blocked) == ("blocked", 1, 0)
    assert counts(judge(spec, frame(pair()), not_scraped)) == ("skipped", 1, 0)


# -- an evaluation ---------------------------------------------------------------------------


RULES = RuleFile.model_validate(
    {
        "table": "prop_lines",
        "checks": [
            {"id": "odds", "kind": "decimal_odds", "severity": "quarantine", "max_fraction": 0.5},
            {"id": "range", "kind": "between", "column": "line", "max": 10, "severity": "warn"},
            {"id": "keys", "kind": "not_null", "column": "player_key", "blocking": True},
            {"id": "books", "kind": "min_count", "group_by": ["player_key"],
             "count_distinct": "bookmaker", "min": 1, "blocking": True},
            {"id": "feed", "kind": "completeness", "source": "bp", "min": 1,
             "severity": "error"},
        ],
    }
).rules()  # fmt: skip


def test_an_evaluation_reports_results_quarantine_and_failures() -> None:
    rows = frame(pair(), quote(player_key="x", price_decimal=0.5))
    evaluation = evaluate(RULES, rows)
    assert [f.outcome for f in evaluation.findings] == ["pass", "fail", "pass", "pass", "fail"]
    held = evaluation.quarantine(PROP_LINES)
    assert held.columns == ["rule_id", *PROP_LINES]
    assert held.select("rule_id", "player_key").rows() == [("odds", "x")]  # under threshold, held
    assert [f.rule.id for f in evaluation.failures("warn")] == ["range"]
    assert [f.rule.id for f in evaluation.failures("warn", "error")] == ["range", "feed"]
    assert evaluation.blocking_failures() == []
    keyless = evaluate(RULES, frame(pair(), quote(player_key=None)))
    assert [f.rule.id for f in keyless.blocking_failures()] == ["keys"]
    results = evaluation.results()
    assert results.schema == pl.Schema(RESULT_SCHEMA)
    assert results.row(0, named=True) == {
        "rule_id": "odds",
        "kind": "decimal_odds",
        "table_name": "prop_lines",
        "severity": "quarantine",
        "blocking": False,
        "outcome": "pass",
        "checked": 3,
        "failed": 1,
        "failed_fraction": pytest.approx(1 / 3),
        "passed": True,
        "sample_keys": ["player_points x draftkings over 18.5"],
        "detail": "1 of 3 rows fail (33.3%; at most 50.0%)",
    }
    assert results.row(4, named=True)["detail"] == "only 0 rows from bp (at least 1)"


def test_an_evaluation_without_quarantine_findings_holds_nothing() -> None:
    empty = Evaluation([]).quarantine(PROP_LINES)
    assert empty.height == 0 and empty.columns == ["rule_id", *PROP_LINES]
    assert Evaluation([]).results().schema == pl.Schema(RESULT_SCHEMA)


# -- judged together ----------------------------------------------------------------------------


def test_rules_judged_together_treat_missing_values_as_each_rule_alone() -> None:
    rows = frame(
        pair(),
        quote(line=None),
        quote(side=None, price_decimal=None, price_american=None),
        quote(player_key=None, implied_prob=None, last_update=None),
        quote(market=None, line=60.25),
        quote(market="player_threes", line=None, is_main_line=None),
    )
    rules = RuleFile.model_validate(
        {
            "table": "prop_lines",
            "checks": [
                {"id": "a", "kind": "not_null", "column": "line"},
                {"id": "b", "kind": "between", "column": "line", "min": 1, "max": 50},
                {"id": "c", "kind": "in_set", "column": "side", "values": ["over", "under"]},
                {"id": "d", "kind": "decimal_odds"},
                {"id": "e", "kind": "american_odds"},
                {"id": "f", "kind": "row", "sql": "implied_prob < 1"},
                {"id": "g", "kind": "row", "polars": "pl.col('implied_prob') < 1"},
                {"id": "h", "kind": "line_range", "markets": {"player_points": [5.5, 50.5]}},
                {"id": "i", "kind": "line_granularity", "where": "is_main_line"},
                {"id": "j", "kind": "freshness", "max_age_hours": 4},
                {"id": "k", "kind": "regex", "column": "market", "pattern": "^player_"},
                {"id": "l", "kind": "placeholder_line", "value": 60.25, "sources": ["odds_api"]},
            ],
        }
    ).rules()
    alone = Evaluation([evaluate_rule(rule, rows, Circumstances()) for rule in rules])
    together = evaluate(rules, rows)
    assert together.results().equals(alone.results())
    assert together.quarantine(PROP_LINES).equals(alone.quarantine(PROP_LINES))
    assert all(f.failed for f in together.findings), "each rule fails a row with a missing value"


@pytest.mark.parametrize(
    "check",
    [
        {"kind": "row", "sql": "CAST(player_key AS INTEGER) > 0"},
        {"kind": "row", "polars": "pl.col('player_key').str.to_integer() > 0"},
        {"kind": "decimal_odds", "where": "CAST(player_key AS INTEGER) > 0"},
    ],
)
def test_a_rule_that_fails_on_the_rows_raises_its_own_error_judged_together(check) -> None:
    """An expression that cannot be computed over these rows (valid on an empty table, as the
    configuration checks it) raises what it raises alone, whichever rules are judged with it."""
    rows = frame(pair(), quote(player_key="p12"))
    bad = rule(**check)
    with pytest.raises(Exception) as alone:
        evaluate_rule(bad, rows, Circumstances())
    others = [rule(id="odds", kind="decimal_odds"), rule(id="sane", kind="row", sql="line > 0")]
    with pytest.raises(type(alone.value)) as together:
        evaluate([*others, bad], rows)
    assert str(together.value) == str(alone.value)


def test_scoped_and_group_rules_judged_together_conclude_what_each_alone_does() -> None:
    """Rules with a `where` (row and group kinds, two sharing one), a row check judged alone
    (a `where` with its own SQL), group kinds without a scope, and rules that pass: judged in
    one pass, each concludes what it does alone, and the counts are the rows' own. The one pass
    itself (`_together`) is held to it: `evaluate` falls back to rule by rule when it raises,
    which would hide a broken pass behind the same results, at the cost of every rule's own
    query."""
    rows = frame(
        pair(),  # draftkings, sane
        books("fanduel", "betmgm"),  # three books on the main line
        pair(player_key="two_books", bookmaker="fanduel"),
        pair(player_key="two_books", bookmaker="betmgm", price_american=-250, implied_prob=0.71),
        quote(player_key="one_sided", side="over"),
        pair(player_key="alt", line=23.25, is_main_line=False),  # a quarter line, off main
        pair(player_key="big", line=61.5, market="player_rebounds"),
    )
    rules = RuleFile.model_validate(
        {
            "table": "prop_lines",
            "checks": [
                {
                    "id": "main_books",
                    "kind": "min_count",
                    "group_by": ["player_key", "market"],
                    "count_distinct": "bookmaker",
                    "min": 3,
                    "where": "is_main_line",
                },
                {
                    "id": "all_books",
                    "kind": "min_count",
                    "group_by": ["player_key"],
                    "count_distinct": "bookmaker",
                    "min": 2,
                },
                {"id": "vig", "kind": "pair_sum", "min": 1.0, "max": 1.1},
                {
                    "id": "main_vig",
                    "kind": "pair_sum",
                    "min": 1.0,
                    "max": 1.1,
                    "where": "is_main_line",
                },
                {"id": "halves", "kind": "line_granularity", "where": "NOT is_main_line"},
                {
                    "id": "main_lines",
                    "kind": "between",
                    "column": "line",
                    "min": 0.5,
                    "max": 60,
                    "where": "is_main_line",
                },
                {"id": "points", "kind": "line_range", "markets": {"player_points": [5.5, 30]}},
                {
                    "id": "alone",
                    "kind": "row",
                    "sql": "implied_prob < 0.6",
                    "where": "is_main_line",
                },
                {"id": "sql_row", "kind": "row", "sql": "line > 0"},
                {"id": "fine", "kind": "not_null", "column": "player_key"},
            ],
        }
    ).rules()
    alone = Evaluation([evaluate_rule(rule, rows, Circumstances()) for rule in rules])
    together = Evaluation(_together(rules, rows, Circumstances()))
    assert evaluate(rules, rows).results().equals(alone.results())
    assert together.results().equals(alone.results())
    assert together.quarantine(PROP_LINES).equals(alone.quarantine(PROP_LINES))
    found = {f.rule.id: f for f in together.findings}
    # (checked, failed) as a user reads them in the run's rule table
    assert (found["main_books"].checked, found["main_books"].failed) == (4, 3)  # one of 4 has 3
    assert (found["all_books"].checked, found["all_books"].failed) == (5, 3)
    assert (found["vig"].checked, found["vig"].failed) == (7, 1)  # two_books at betmgm
    assert (found["main_vig"].checked, found["main_vig"].failed) == (6, 1)
    assert (found["halves"].checked, found["halves"].failed) == (2, 2)  # 23.25 is no half
    assert (found["main_lines"].checked, found["main_lines"].failed) == (13, 2)  # 61.5
    assert (found["points"].checked, found["points"].failed) == (13, 0)
    assert (found["alone"].checked, found["alone"].failed) == (13, 2)  # both sides at 0.71
    assert not found["sql_row"].failed and not found["fine"].failed
    assert found["fine"].checked == rows.height
