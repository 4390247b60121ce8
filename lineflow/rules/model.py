"""Rule definitions: plain, validated data read from conf/rules/*.yaml.

A rule file names a table of the partition and lists checks, Soda-contract style: column checks
under `columns[].checks[]`, the others under `checks[]`. Every check has an id, a kind, a
severity (warn | error | quarantine), an optional `blocking` flag and a threshold (the largest
failing fraction still accepted). Everything a rule refers to (columns, SQL, polars expressions)
is checked when the configuration loads, so a bad rule fails before any run starts.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from lineflow.core.schema import PROP_LINES

Severity = Literal["warn", "error", "quarantine"]

#: Tables rules can be declared for: the partition's staging rows of each.
TABLES: dict[str, dict[str, Any]] = {"prop_lines": dict(PROP_LINES)}

#: The validation context's key saying the rules' expressions are known to run on their table
#: (`lineflow.config.compose`, from its cache): only their text's references are checked.
EXPRESSIONS_CHECKED = "expressions_checked"

#: Columns a row's sample key is made of (what a user needs to find the line).
ROW_KEY = ("market", "player_key", "bookmaker", "side", "line")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleBase(_Model):
    """What every rule has. `where` (DuckDB SQL) narrows the rows the rule looks at."""

    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    description: str = ""
    severity: Severity = "error"
    blocking: bool = False
    #: The largest failing fraction (of rows, groups or pairs) at which the rule still passes.
    max_fraction: float = Field(default=0.0, ge=0.0, le=1.0)
    where: str | None = None
    #: Filled in from the rule file.
    table: str = "prop_lines"

    #: False for kinds that judge a whole partition or disagreements between sources: there is
    #: no row to quarantine.
    row_level: ClassVar[bool] = True

    def columns_used(self) -> list[str]:
        return []

    def thresholds(self) -> dict[str, Any]:
        """The kind's parameters, for `lineflow rules`."""
        skip = {"id", "description", "severity", "blocking", "table", "kind"}
        return {k: v for k, v in self.model_dump().items() if k not in skip and v is not None}

    @model_validator(mode="after")
    def _quarantine_needs_rows(self) -> RuleBase:
        if self.severity == "quarantine" and not self.row_level:
            raise ValueError(
                f"severity quarantine needs rows to quarantine; kind "
                f"{getattr(self, 'kind', '?')!r} judges the partition (use warn or error)"
            )
        return self


class ColumnRule(RuleBase):
    column: str

    def columns_used(self) -> list[str]:
        return [self.column]


class NotNull(ColumnRule):
    kind: Literal["not_null"]


class Between(ColumnRule):
    kind: Literal["between"]
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Between:
        if self.min is None and self.max is None:
            raise ValueError("between needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"between: min {self.min} is above max {self.max}")
        return self


class InSet(ColumnRule):
    kind: Literal["in_set"]
    values: list[str | int | float | bool] = Field(min_length=1)


class Regex(ColumnRule):
    kind: Literal["regex"]
    pattern: str

    @model_validator(mode="after")
    def _compiles(self) -> Regex:
        try:
            re.compile(self.pattern)
        except re.error as exc:
            raise ValueError(f"regex: bad pattern {self.pattern!r}: {exc}") from None
        return self


class RowCheck(RuleBase):
    """A condition every row must meet, as DuckDB SQL or a polars expression (`pl.col(...)`)."""

    kind: Literal["row"]
    sql: str | None = None
    polars: str | None = None

    @model_validator(mode="after")
    def _one_expression(self) -> RowCheck:
        if (self.sql is None) == (self.polars is None):
            raise ValueError("row needs exactly one of sql or polars")
        return self


class MinCount(RuleBase):
    """At least `min` distinct values of `count_distinct` in every group."""

    kind: Literal["min_count"]
    group_by: list[str] = Field(min_length=1)
    count_distinct: str
    min: int = Field(ge=1)

    def columns_used(self) -> list[str]:
        return [*self.group_by, self.count_distinct]


class Freshness(RuleBase):
    """`column` (a timestamp) at most `max_age_hours` before `relative_to`."""

    kind: Literal["freshness"]
    column: str = "last_update"
    relative_to: Literal["snapshot_at", "commence_time"] = "snapshot_at"
    max_age_hours: float = Field(gt=0)

    def columns_used(self) -> list[str]:
        return [self.column, self.relative_to]


class CrossSource(RuleBase):
    """Per group, the sources' consensus (median) values differ by at most `max_diff`."""

    kind: Literal["cross_source"]
    group_by: list[str] = ["market", "player_key"]
    column: str = "line"
    max_diff: float = Field(ge=0)
    row_level: ClassVar[bool] = False

    def columns_used(self) -> list[str]:
        return [*self.group_by, self.column, "source"]


class Completeness(RuleBase):
    """At least `min` rows (or distinct players, events, bookmakers) from `source`.

    Judged against the day's schedule: with no games the partition is legitimately empty, and a
    source that was blocked is reported as blocked, not as failed.
    """

    kind: Literal["completeness"]
    source: str
    measure: Literal["rows", "players", "events", "bookmakers"] = "rows"
    min: int = Field(ge=1)
    row_level: ClassVar[bool] = False


class AmericanOdds(RuleBase):
    """American prices are at least 100 in size and at most `max_abs` (+-10000)."""

    kind: Literal["american_odds"]
    column: str = "price_american"
    max_abs: int = Field(default=10000, ge=100)

    def columns_used(self) -> list[str]:
        return [self.column]


class DecimalOdds(RuleBase):
    """Decimal prices are above 1."""

    kind: Literal["decimal_odds"]
    column: str = "price_decimal"

    def columns_used(self) -> list[str]:
        return [self.column]


class PairSum(RuleBase):
    """The implied probabilities of an over/under pair sum to within [min, max]."""

    kind: Literal["pair_sum"]
    min: float = 1.0
    max: float = 1.25

    def columns_used(self) -> list[str]:
        return ["side", "implied_prob"]


class LineRange(RuleBase):
    """The line of each listed market lies within its [low, high]; other markets are not checked."""

    kind: Literal["line_range"]
    markets: dict[str, tuple[float, float]] = Field(min_length=1)

    @model_validator(mode="after")
    def _ranges(self) -> LineRange:
        for market, (low, high) in self.markets.items():
            if low > high:
                raise ValueError(f"line_range: {market}: low {low} is above high {high}")
        return self


class PlaceholderLine(RuleBase):
    """A line equal to the placeholder value (20.0) from a source that estimates lines."""

    kind: Literal["placeholder_line"]
    value: float = 20.0
    sources: list[str] = Field(min_length=1)


Granularity = Literal["half", "whole"]


class LineGranularity(RuleBase):
    """The line's step is one the market allows: `half` (x.5) and/or `whole` (integers)."""

    kind: Literal["line_granularity"]
    default: list[Granularity] = ["half", "whole"]
    markets: dict[str, list[Granularity]] = {}


Rule = Annotated[
    NotNull
    | Between
    | InSet
    | Regex
    | RowCheck
    | MinCount
    | Freshness
    | CrossSource
    | Completeness
    | AmericanOdds
    | DecimalOdds
    | PairSum
    | LineRange
    | PlaceholderLine
    | LineGranularity,
    Field(discriminator="kind"),
]

#: Every rule kind, by the `kind` a rule file writes.
KINDS = (
    "not_null",
    "between",
    "in_set",
    "regex",
    "row",
    "min_count",
    "freshness",
    "cross_source",
    "completeness",
    "american_odds",
    "decimal_odds",
    "pair_sum",
    "line_range",
    "placeholder_line",
    "line_granularity",
)

#: Kinds that sit under `columns[].checks[]` (their column comes from the entry's name).
COLUMN_KINDS = ("not_null", "between", "in_set", "regex")


class RuleFile(_Model):
    """One conf/rules/*.yaml: checks on one table of the partition."""

    table: str
    description: str = ""
    columns: list[ColumnChecks] = []
    checks: list[Rule] = []

    @model_validator(mode="before")
    @classmethod
    def _fill_in_table_and_columns(cls, data: Any) -> Any:
        """Each check learns its table, and a column check its column, from where it sits."""
        if not isinstance(data, dict):
            return data
        table = data.get("table")
        extra = {"table": table} if isinstance(table, str) else {}

        def fill(checks: Any, **more: Any) -> Any:
            if not isinstance(checks, list):
                return checks
            return [{**extra, **more, **c} if isinstance(c, dict) else c for c in checks]

        columns = [
            {**e, "checks": fill(e.get("checks"), column=e.get("name"))}
            if isinstance(e, dict)
            else e
            for e in data.get("columns") or []
        ]
        for entry in columns:
            for check in entry.get("checks") or [] if isinstance(entry, dict) else []:
                kind = check.get("kind") if isinstance(check, dict) else None
                if kind in KINDS and kind not in COLUMN_KINDS:
                    raise ValueError(
                        f"rule {check.get('id')!r}: kind {kind!r} is not a column check "
                        f"(column checks: {', '.join(COLUMN_KINDS)}); list it under checks"
                    )
        return {**data, "columns": columns, "checks": fill(data.get("checks") or [])}

    @model_validator(mode="after")
    def _refers_to_known_things(self, info: ValidationInfo) -> RuleFile:
        if self.table not in TABLES:
            raise ValueError(f"table: unknown table {self.table!r} (known: {', '.join(TABLES)})")
        schema = TABLES[self.table]
        for rule in self.rules():
            for column in rule.columns_used():
                if column not in schema:
                    raise ValueError(
                        f"rule {rule.id!r}: unknown column {column!r} of {self.table} "
                        f"(columns: {', '.join(schema)})"
                    )
            if (info.context or {}).get(EXPRESSIONS_CHECKED):
                continue
            from lineflow.rules.expressions import check_polars, check_sql

            problem = None
            if rule.where is not None:
                problem = check_sql(rule.where, schema, "where")
            if problem is None and isinstance(rule, RowCheck):
                if rule.sql is not None:
                    problem = check_sql(rule.sql, schema, "sql")
                elif rule.polars is not None:
                    problem = check_polars(rule.polars, schema)
            if problem is not None:
                raise ValueError(f"rule {rule.id!r}: {problem}")
        return self

    def rules(self) -> list[Any]:
        """Every check of the file, column checks first."""
        return [c for entry in self.columns for c in entry.checks] + list(self.checks)


class ColumnChecks(_Model):
    name: str
    checks: list[Rule] = Field(min_length=1)


RuleFile.model_rebuild()


class LineQualityConfig(_Model):
    """Thresholds of the line-quality gate (conf/line_quality/*.yaml)."""

    #: A book's line is stale when last updated more than this before its snapshot.
    max_age_hours: float = Field(default=4.0, gt=0)
    #: Usable books a player needs in a market.
    min_books: int = Field(default=2, ge=1)
    #: The implied probabilities of the main over/under pair sum to within this range.
    pair_sum: tuple[float, float] = (1.0, 1.25)
    #: Sane main lines per market; markets not listed are not range-checked.
    line_range: dict[str, tuple[float, float]] = {"player_points": (5.5, 50.5)}
    #: The old placeholder line and the sources that estimate lines (their 20.0 is no line).
    placeholder_line: float = 20.0
    estimating_sources: list[str] = []
    #: Markets the gate judges; empty = every market in the partition.
    markets: list[str] = []
