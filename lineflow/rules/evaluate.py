"""Evaluate rules over the partition's rows: pure functions from frames to findings.

Each kind is a polars expression or a DuckDB query over the whole frame. A finding says how many
units (rows, groups, pairs or the partition) were checked, how many failed, which (a few sample
keys) and, for row-level kinds, the failing rows themselves, so quarantine can hold them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from lineflow.rules import model as m
from lineflow.rules.expressions import polars_expr, sql_holds, sql_holds_each

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
    #: The failing rows (row-level kinds), or the query that reads them: only quarantine rules'
    #: are kept, so the others' are read only if asked for (`failing_rows`).
    failing: pl.DataFrame | pl.LazyFrame | None = None

    @functools.cached_property
    def failing_rows(self) -> pl.DataFrame | None:
        return self.failing.collect() if isinstance(self.failing, pl.LazyFrame) else self.failing

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
            if f.rule.severity == "quarantine"
            and f.failing_rows is not None
            and f.failing_rows.height
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
    """Every rule over `frame` (the partition's rows of the rules' table).

    In one pass (`_together`): every SQL condition in one DuckDB query, every row kind's mask in
    one polars select. When that fails, some rule's expression fails on these rows: the rules
    are judged one by one (`evaluate_rule`), so that the error raised is that rule's own, the
    same as when nothing was evaluated together."""
    facts = facts or Circumstances()
    rules = list(rules)
    try:
        return Evaluation(_together(rules, frame, facts))
    except Exception:  # noqa: BLE001 - re-raised, as its rule's own, by the loop below
        return Evaluation([evaluate_rule(rule, frame, facts) for rule in rules])


def evaluate_rule(rule: Any, frame: pl.DataFrame, facts: Circumstances) -> Finding:
    """One rule over `frame`, alone: its own `where` query, its own pass over the rows."""
    rows = frame if rule.where is None else frame.filter(sql_holds(frame, rule.where))
    if isinstance(rule, _GROUP_KINDS):
        plan = _group_plan(rule, rows.lazy())
        return _group_finding(rule, rows.lazy(), pl.collect_all(plan), facts)
    if isinstance(rule, m.LineRange):
        rows = rows.filter(pl.col("market").is_in(list(rule.markets)))
    failing = _row_failures(rule, rows)
    bad = rows.filter(failing)
    return _judge(rule, rows.height, bad.height, _samples(bad, m.ROW_KEY), bad, "rows")


#: Kinds that judge groups, pairs or the partition, each its own query over the rule's rows.
_GROUP_KINDS = (m.Completeness, m.CrossSource, m.MinCount, m.PairSum)


def _group_plan(rule: Any, rows: pl.LazyFrame) -> list[pl.LazyFrame]:
    """The queries a group kind judges by, over the rule's rows, lazily: each reads only the
    columns it needs, and a partition's are collected at once (`_together`)."""
    if isinstance(rule, m.Completeness):
        return [_completeness_plan(rule, rows)]
    if isinstance(rule, m.CrossSource):
        return [_cross_source_plan(rule, rows)]
    if isinstance(rule, m.MinCount):
        return [_min_count_plan(rule, rows)]
    return _pair_sum_plan(rows)


def _group_finding(
    rule: Any, rows: pl.LazyFrame, found: list[pl.DataFrame], facts: Circumstances
) -> Finding:
    """The finding of a group kind from what its plan (`_group_plan`) found; the failing
    rows, if any, are read from `rows` only then."""
    if isinstance(rule, m.Completeness):
        return _completeness(rule, found[0], facts)
    if isinstance(rule, m.CrossSource):
        return _cross_source(rule, found[0])
    if isinstance(rule, m.MinCount):
        return _min_count(rule, rows, found[0])
    return _pair_sum(rule, rows, *found)


def _alone(rule: Any) -> bool:
    """A row check with a `where` judges its expression over the `where` rows only, as an
    expression that looks past its row (a mean, a window) would see them: it is judged alone."""
    return isinstance(rule, m.RowCheck) and rule.where is not None


def _together(rules: list[Any], frame: pl.DataFrame, facts: Circumstances) -> list[Finding]:
    """What `evaluate_rule` finds of each rule, every SQL condition answered in one query, every
    row kind's rows counted in one select, and those and the group kinds' queries collected
    at once (one `collect_all`: polars shares what the plans have in common)."""
    together = [rule for rule in rules if not _alone(rule)]
    # every `where` (over the whole frame, as alone) and the row checks' SQL without one
    conditions = [rule.where for rule in together if rule.where is not None]
    conditions += [r.sql for r in together if isinstance(r, m.RowCheck) and r.sql is not None]
    holds = sql_holds_each(frame, conditions)
    row_rules = [rule for rule in together if not isinstance(rule, _GROUP_KINDS)]
    group_rules = [rule for rule in together if isinstance(rule, _GROUP_KINDS)]
    lazy = frame.lazy()
    wheres = {r.where for r in group_rules if r.where is not None}
    scoped: dict[str | None, pl.LazyFrame] = {w: lazy.filter(holds[w]) for w in wheres}
    scoped[None] = lazy  # rules sharing a where share its rows
    plans = [_group_plan(rule, scoped[rule.where]) for rule in group_rules]
    collected = iter(
        pl.collect_all([_row_masks(row_rules, frame, holds), *(p for ps in plans for p in ps)])
    )
    counted = iter(_row_counts(row_rules, next(collected)))
    found = iter(plans)
    findings = []
    for rule in rules:
        if _alone(rule):
            findings.append(evaluate_rule(rule, frame, facts))
        elif isinstance(rule, _GROUP_KINDS):
            mine = [next(collected) for _ in next(found)]
            findings.append(_group_finding(rule, scoped[rule.where], mine, facts))
        else:
            checked, failed, mask = next(counted)
            samples = _samples(frame.select(m.ROW_KEY).filter(mask), m.ROW_KEY) if failed else ()
            bad = frame.lazy().filter(pl.lit(mask)) if failed else frame.clear()
            findings.append(_judge(rule, checked, failed, samples, bad, "rows"))
    return findings


def _row_masks(rules: list[Any], frame: pl.DataFrame, holds: dict[str, pl.Expr]) -> pl.LazyFrame:
    """Per row rule, two masks over the frame: the rows it checks (those of its `where` and, for
    line_range, its markets), and those of them that fail the check."""
    scopes, fails = [], []
    for rule in rules:
        scope = pl.lit(True) if rule.where is None else holds[rule.where]
        if isinstance(rule, m.LineRange):
            scope = scope & pl.col("market").is_in(list(rule.markets)).fill_null(False)
        sql = rule.sql if isinstance(rule, m.RowCheck) else None
        scopes.append(scope)
        fails.append(scope & _failing_row(rule, None if sql is None else holds[sql]))
    # with_columns, not select: a rule's expression of one value holds for every row, as a
    # filter by it does alone; each expression reads the frame's columns only.
    names = [f"{kind}{i}" for kind in ("s", "f") for i in range(len(rules))]
    exprs = [e.alias(n) for e, n in zip([*scopes, *fails], names, strict=True)]
    return frame.lazy().with_columns(exprs).select(names)


def _row_counts(rules: list[Any], masks: pl.DataFrame) -> list[tuple[int, int, pl.Series]]:
    """Per row rule, from its masks (`_row_masks`): how many rows it checks, how many fail, and
    which."""
    if not rules:
        return []
    sums = masks.sum().row(0)
    n = len(rules)
    return [(int(sums[i]), int(sums[n + i]), masks.get_column(f"f{i}")) for i in range(n)]


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
    """Per row, whether it fails the rule, the rule alone over `rows`."""
    sql = rule.sql if isinstance(rule, m.RowCheck) else None
    holds = None if sql is None else pl.lit(sql_holds(rows, sql))
    return rows.select(_failing_row(rule, holds).alias("f"))["f"]


def _failing_row(rule: Any, holds: pl.Expr | None) -> pl.Expr:
    """Whether a row fails a row rule (a missing value fails every value check; a row check's
    expression that gives none passes). `holds`: a SQL row check's condition, answered per row
    beforehand (`sql_holds` alone, or `sql_holds_each` with the partition's other conditions).
    """
    if isinstance(rule, m.RowCheck):
        if holds is not None:
            return ~holds
        return ~polars_expr(rule.polars or "").fill_null(False)
    return _failing_expr(rule).fill_null(True)


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
        # other markets' rows are no line_range's to check: no bound (None), never counted
        low = pl.col("market").replace_strict(
            {k: v[0] for k, v in rule.markets.items()}, default=None, return_dtype=pl.Float64
        )
        high = pl.col("market").replace_strict(
            {k: v[1] for k, v in rule.markets.items()}, default=None, return_dtype=pl.Float64
        )
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


def _min_count_plan(rule: m.MinCount, rows: pl.LazyFrame) -> pl.LazyFrame:
    return rows.group_by(rule.group_by).agg(pl.col(rule.count_distinct).n_unique().alias("n"))


def _min_count(rule: m.MinCount, rows: pl.LazyFrame, groups: pl.DataFrame) -> Finding:
    short = groups.filter(pl.col("n") < rule.min)
    bad = _rows_of(rows, short.select(rule.group_by))
    samples = _samples(short, rule.group_by)
    return _judge(rule, groups.height, short.height, samples, bad, "groups")


def _rows_of(rows: pl.LazyFrame, keys: pl.DataFrame) -> pl.LazyFrame:
    """The rows whose key columns are one of `keys`' rows (NULL matching NULL), lazily."""
    if keys.height == 0:
        return rows.clear()
    return rows.join(keys.lazy(), on=keys.columns, nulls_equal=True)


_PAIR = ("slate_date", "source", "event_id", "bookmaker", "market", "player_key", "line")
_PAIR_AT = [*_PAIR, "snapshot_at"]


def _pair_sum_plan(rows: pl.LazyFrame) -> list[pl.LazyFrame]:
    """Per pair, the positions of its first over and first under row, and the rows' implied
    probabilities: a side's probability is the one at its position (`_pair_sum`). The first
    position is a plain `min` per group; taking the probability as the first of the rows
    filtered to a side cost twice the group-by (6.6 against 11 ms a partition of 33k rows)."""
    at = pl.int_range(pl.len(), dtype=pl.UInt32)
    side = pl.col("side")
    positions = (
        rows.select(
            *_PAIR_AT, o=pl.when(side == "over").then(at), u=pl.when(side == "under").then(at)
        )
        .group_by(_PAIR_AT)
        .agg(pl.col("o").min(), pl.col("u").min())
        .drop_nulls(["o", "u"])  # a one-sided quote is not a pair
    )
    return [positions, rows.select("implied_prob")]


def _pair_sum(
    rule: m.PairSum, rows: pl.LazyFrame, positions: pl.DataFrame, probs: pl.DataFrame
) -> Finding:
    prob = probs.get_column("implied_prob")
    pairs = (
        positions.select(
            *_PAIR_AT, over=prob.gather(positions["o"]), under=prob.gather(positions["u"])
        )
        .drop_nulls(["over", "under"])  # a side without a probability makes no pair either
        .with_columns(total=pl.col("over") + pl.col("under"))
    )
    off = pairs.filter(~pl.col("total").is_between(rule.min, rule.max))
    bad = _rows_of(rows, off.select(_PAIR_AT))
    shown = off.with_columns(pl.col("total").round(3))
    samples = _samples(shown, ("market", "player_key", "bookmaker", "line", "total"))
    return _judge(rule, pairs.height, off.height, samples, bad, "over/under pairs")


def _cross_source_plan(rule: m.CrossSource, rows: pl.LazyFrame) -> pl.LazyFrame:
    consensus = rows.group_by([*rule.group_by, "source"]).agg(pl.col(rule.column).median())
    return (
        consensus.group_by(rule.group_by)
        .agg(
            pl.col("source").n_unique().alias("sources"),
            (pl.col(rule.column).max() - pl.col(rule.column).min()).alias("spread"),
        )
        .filter(pl.col("sources") >= 2)
    )


def _cross_source(rule: m.CrossSource, groups: pl.DataFrame) -> Finding:
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


_MEASURED = {"players": "player_key", "events": "event_id", "bookmakers": "bookmaker"}


def _completeness_plan(rule: m.Completeness, rows: pl.LazyFrame) -> pl.LazyFrame:
    mine = rows.filter(pl.col("source") == rule.source)
    measure = pl.len() if rule.measure == "rows" else pl.col(_MEASURED[rule.measure]).n_unique()
    return mine.select(measure.alias("measured"))


def _completeness(rule: m.Completeness, found: pl.DataFrame, facts: Circumstances) -> Finding:
    measured = int(found.item())
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
