"""Evaluate rules over the partition's rows: pure functions from frames to findings.

Each kind is a polars expression or a DuckDB query over the whole frame. A finding says how many
units (rows, groups, pairs or the partition) were checked, how many failed, which (a few sample
keys) and, for row-level kinds, the failing rows themselves, so quarantine can hold them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from lineflow.rules import model as m
from lineflow.rules.expressions import polars_expr, sql_holds

#: How many failing keys a finding keeps as samples.
SAMPLES = 5

#: One row per rule and partition in `validation_results` (run_id and slate_date added on write).
RESULT_SCHEMA: dict[str, pl.DataType] = {
    "rule_id": pl.String(),
    "kind": pl.String(),
    "table_name": pl.String(),
    "severity": pl.String(),
    "blocking": pl.Boolean(),
    "outcome": pl.String(),  # pass | fail | empty | blocked | skipped
    "checked": pl.Int64(),
    "failed": pl.Int64(),
    "failed_fraction": pl.Float64(),
    "passed": pl.Boolean(),  # NULL when the rule could not judge (blocked, skipped)
    "sample_keys": pl.List(pl.String()),
    "detail": pl.String(),
}


@dataclass(frozen=True)
class Circumstances:
    """What the partition's rows cannot tell: the day's schedule and which sources were blocked."""

    #: Games on the partition's schedule; None when no schedule was landed.
    games: int | None = None
    #: source -> what its block said, for sources blocked on this partition.
    blocked: Mapping[str, str] = field(default_factory=dict)
    #: Sources with a scrape recorded for the partition; None = assume all were scraped.
    scraped: frozenset[str] | None = None


@dataclass(frozen=True)
class Finding:
    rule: Any  # one of the rule models
    outcome: str
    checked: int = 0
    failed: int = 0
    samples: tuple[str, ...] = ()
    detail: str = ""
    failing_rows: pl.DataFrame | None = None

    @property
    def passed(self) -> bool | None:
        return {"pass": True, "empty": True, "fail": False}.get(self.outcome)

    @property
    def fraction(self) -> float:
        return self.failed / self.checked if self.checked else 0.0


@dataclass(frozen=True)
class Evaluation:
    findings: list[Finding]

    def results(self) -> pl.DataFrame:
        rows = [
            {
                "rule_id": f.rule.id,
                "kind": f.rule.kind,
                "table_name": f.rule.table,
                "severity": f.rule.severity,
                "blocking": f.rule.blocking,
                "outcome": f.outcome,
                "checked": f.checked,
                "failed": f.failed,
                "failed_fraction": f.fraction,
                "passed": f.passed,
                "sample_keys": list(f.samples),
                "detail": f.detail,
            }
            for f in self.findings
        ]
        return pl.DataFrame(rows, schema=RESULT_SCHEMA)

    def quarantine(self, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
        """The rows failing quarantine rules, each with the id of the rule it failed."""
        frames = [
            f.failing_rows.select(pl.lit(f.rule.id).alias("rule_id"), *schema)
            for f in self.findings
            if f.rule.severity == "quarantine" and f.failing_rows is not None
        ]
        empty = pl.DataFrame(schema={"rule_id": pl.String(), **schema})
        return pl.concat([empty, *frames]) if frames else empty

    def blocking_failures(self) -> list[Finding]:
        return [f for f in self.findings if f.rule.blocking and f.outcome == "fail"]

    def failures(self, *severities: str) -> list[Finding]:
        return [f for f in self.findings if f.outcome == "fail" and f.rule.severity in severities]


def evaluate(
    rules: Iterable[Any], frame: pl.DataFrame, facts: Circumstances | None = None
) -> Evaluation:
    """Every rule over `frame` (the partition's rows of the rules' table)."""
    facts = facts or Circumstances()
    return Evaluation([evaluate_rule(rule, frame, facts) for rule in rules])


def evaluate_rule(rule: Any, frame: pl.DataFrame, facts: Circumstances) -> Finding:
    rows = frame if rule.where is None else frame.filter(sql_holds(frame, rule.where))
    if isinstance(rule, m.Completeness):
        return _completeness(rule, rows, facts)
    if isinstance(rule, m.CrossSource):
        return _cross_source(rule, rows)
    if isinstance(rule, m.MinCount):
        return _min_count(rule, rows)
    if isinstance(rule, m.PairSum):
        return _pair_sum(rule, rows)
    if isinstance(rule, m.LineRange):
        rows = rows.filter(pl.col("market").is_in(list(rule.markets)))
    failing = _row_failures(rule, rows)
    bad = rows.filter(failing)
    return _judge(rule, rows.height, bad.height, _samples(bad, m.ROW_KEY), bad, "rows")


def _judge(
    rule: Any, checked: int, failed: int, samples: tuple[str, ...], bad: Any, unit: str
) -> Finding:
    fraction = failed / checked if checked else 0.0
    outcome = "fail" if fraction > rule.max_fraction else "pass"
    if checked == 0:
        detail = f"no {unit} to check"
    else:
        detail = (
            f"{failed} of {checked} {unit} fail ({fraction:.1%}; at most {rule.max_fraction:.1%})"
        )
    return Finding(rule, outcome, checked, failed, samples, detail, bad)


# -- row kinds -----------------------------------------------------------------------------------


def _row_failures(rule: Any, rows: pl.DataFrame) -> pl.Series:
    """Per row, whether it fails the rule (a missing value fails every value check)."""
    if isinstance(rule, m.RowCheck):
        if rule.sql is not None:
            return ~sql_holds(rows, rule.sql)
        return rows.select((~polars_expr(rule.polars or "").fill_null(False)).alias("f"))["f"]
    return rows.select(_failing_expr(rule).fill_null(True).alias("f"))["f"]


def _failing_expr(rule: Any) -> pl.Expr:
    if isinstance(rule, m.NotNull):
        return pl.col(rule.column).is_null()
    if isinstance(rule, m.Between):
        value = pl.col(rule.column)
        low = value >= rule.min if rule.min is not None else pl.lit(True)
        high = value <= rule.max if rule.max is not None else pl.lit(True)
        return ~(low & high)
    if isinstance(rule, m.InSet):
        return ~pl.col(rule.column).is_in(rule.values)
    if isinstance(rule, m.Regex):
        return ~pl.col(rule.column).cast(pl.String).str.contains(rule.pattern)
    if isinstance(rule, m.Freshness):
        age = pl.col(rule.relative_to) - pl.col(rule.column)
        return age > pl.duration(seconds=rule.max_age_hours * 3600)
    if isinstance(rule, m.AmericanOdds):
        size = pl.col(rule.column).cast(pl.Int64).abs()
        return ~((size >= 100) & (size <= rule.max_abs))
    if isinstance(rule, m.DecimalOdds):
        return ~(pl.col(rule.column) > 1.0)
    if isinstance(rule, m.LineRange):
        low = pl.col("market").replace_strict({k: v[0] for k, v in rule.markets.items()})
        high = pl.col("market").replace_strict({k: v[1] for k, v in rule.markets.items()})
        return ~pl.col("line").is_between(low, high)
    if isinstance(rule, m.PlaceholderLine):
        return (pl.col("line") == rule.value) & pl.col("source").is_in(rule.sources)
    if isinstance(rule, m.LineGranularity):
        return ~_granularity_ok(rule)
    raise TypeError(f"no row check for kind {rule.kind!r}")


def _granularity_ok(rule: m.LineGranularity) -> pl.Expr:
    def allows(step: str) -> pl.Expr:
        per_market = {market: step in steps for market, steps in rule.markets.items()}
        return pl.col("market").replace_strict(
            per_market, default=step in rule.default, return_dtype=pl.Boolean
        )

    line = pl.col("line")
    whole = line == line.floor()
    half = line - line.floor() == 0.5
    return (whole & allows("whole")) | (half & allows("half"))


# -- group kinds -----------------------------------------------------------------------------------


def _min_count(rule: m.MinCount, rows: pl.DataFrame) -> Finding:
    groups = rows.group_by(rule.group_by).agg(pl.col(rule.count_distinct).n_unique().alias("n"))
    short = groups.filter(pl.col("n") < rule.min)
    bad = rows.join(short.select(rule.group_by), on=rule.group_by, nulls_equal=True)
    samples = _samples(short, rule.group_by)
    return _judge(rule, groups.height, short.height, samples, bad, "groups")


_PAIR = ("slate_date", "source", "event_id", "bookmaker", "market", "player_key", "line")


def _pair_sum(rule: m.PairSum, rows: pl.DataFrame) -> Finding:
    pair = [*_PAIR, "snapshot_at"]
    pairs = (
        rows.filter(pl.col("side").is_in(["over", "under"]))
        .group_by(pair)
        .agg(
            pl.col("implied_prob").filter(pl.col("side") == "over").first().alias("over"),
            pl.col("implied_prob").filter(pl.col("side") == "under").first().alias("under"),
        )
        .drop_nulls(["over", "under"])  # a one-sided quote is not a pair
        .with_columns(total=pl.col("over") + pl.col("under"))
    )
    off = pairs.filter(~pl.col("total").is_between(rule.min, rule.max))
    bad = rows.join(off.select(pair), on=pair, nulls_equal=True)
    shown = off.with_columns(pl.col("total").round(3))
    samples = _samples(shown, ("market", "player_key", "bookmaker", "line", "total"))
    return _judge(rule, pairs.height, off.height, samples, bad, "over/under pairs")


def _cross_source(rule: m.CrossSource, rows: pl.DataFrame) -> Finding:
    consensus = rows.group_by([*rule.group_by, "source"]).agg(pl.col(rule.column).median())
    groups = (
        consensus.group_by(rule.group_by)
        .agg(
            pl.col("source").n_unique().alias("sources"),
            (pl.col(rule.column).max() - pl.col(rule.column).min()).alias("spread"),
        )
        .filter(pl.col("sources") >= 2)
    )
    apart = groups.filter(pl.col("spread") > rule.max_diff)
    unit = "player markets quoted by two or more sources"
    if groups.height == 0:
        return Finding(rule, "pass", 0, 0, (), f"no {unit} to compare")
    fraction = apart.height / groups.height
    outcome = "fail" if fraction > rule.max_fraction else "pass"
    detail = (
        f"{apart.height} of {groups.height} {unit} differ by more than {rule.max_diff} "
        f"({fraction:.1%}; at most {rule.max_fraction:.1%})"
    )
    samples = _samples(apart, [*rule.group_by, "spread"])
    return Finding(rule, outcome, groups.height, apart.height, samples, detail)


def _completeness(rule: m.Completeness, rows: pl.DataFrame, facts: Circumstances) -> Finding:
    mine = rows.filter(pl.col("source") == rule.source)
    column = {"players": "player_key", "events": "event_id", "bookmakers": "bookmaker"}
    measured = mine.height if rule.measure == "rows" else mine[column[rule.measure]].n_unique()
    enough = f"{measured} {rule.measure} from {rule.source} (at least {rule.min})"
    if measured >= rule.min:
        return Finding(rule, "pass", 1, 0, (), enough)
    if facts.games == 0:
        return Finding(rule, "empty", 1, 0, (), "no games on the schedule: empty is expected")
    if rule.source in facts.blocked:
        detail = f"{rule.source} blocked: {facts.blocked[rule.source]}"
        return Finding(rule, "blocked", 1, 0, (), detail)
    if facts.scraped is not None and rule.source not in facts.scraped and measured == 0:
        return Finding(rule, "skipped", 1, 0, (), f"{rule.source} was not scraped for the date")
    games = "" if facts.games is None else f" with {facts.games} games scheduled"
    return Finding(rule, "fail", 1, 1, (rule.source,), f"only {enough}{games}")


def _samples(frame: pl.DataFrame, columns: Sequence[str]) -> tuple[str, ...]:
    if frame.height == 0:
        return ()
    keys = frame.select(
        pl.concat_str(
            [pl.col(c).cast(pl.String).fill_null("∅") for c in columns], separator=" "
        ).alias("k")
    )["k"]
    return tuple(keys.unique().sort().head(SAMPLES).to_list())
