"""What every source module provides: parsers from response bytes to canonical frames.

Parsers are pure: bytes plus metadata in, a polars frame out. No I/O, no clock.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Annotated, Any

import msgspec
import orjson
import polars as pl

# The errors of a source, named here for source modules (the tree is drawn in lineflow.core.errors):
# a parser returns rows or raises ParseError (permanent) or ProviderOutage (transient); `scrape`
# raises SourceFailed, and its `fetch` raises Blocked.
from lineflow.core.errors import Blocked as Blocked
from lineflow.core.errors import ParseError as ParseError
from lineflow.core.errors import ProviderOutage as ProviderOutage
from lineflow.core.errors import SourceFailed as SourceFailed
from lineflow.core.odds import american_to_decimal, decimal_to_american, implied_probability
from lineflow.core.schema import PARSED_COLUMNS, conform, empty_prop_lines

#: Columns of the per-source events frame that props parsers join on.
EVENT_COLUMNS: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "commence_time": pl.Datetime("us", "UTC"),
    "home_team": pl.String(),
    "away_team": pl.String(),
}


@dataclass(frozen=True)
class FileMeta:
    """Manifest facts about one landed response that a parser may use."""

    file_id: str
    source: str
    endpoint: str
    slate_date: date
    fetched_at: datetime  # UTC; the snapshot time of live responses


@dataclass(frozen=True)
class ParseContext:
    """Source configuration and partition facts a parser needs beyond the body."""

    #: provider market key or id (as a string) -> canonical market, e.g. "156" -> "player_points"
    markets: Mapping[str, str] = field(default_factory=dict)
    #: provider book key or id (as a string) -> canonical bookmaker key, e.g. "10" -> "fanduel"
    books: Mapping[str, str] = field(default_factory=dict)
    #: the partition's events for this source (EVENT_COLUMNS), for bodies without team names
    events: pl.DataFrame | None = None


# -- parsing many files at once -----------------------------------------------------------------


@dataclass(frozen=True)
class Flat:
    """One body walked into flat columns (equal-length lists) and its per-file values.

    Walking JSON is Python work per file; everything after it (filters, joins, casts, derived
    columns) runs once over a whole batch of files, which is what makes `process` fast.
    """

    columns: dict[str, list[Any]]
    file: dict[str, Any]


@dataclass(frozen=True)
class ParsedBatch:
    """Rows of a batch of files (PARSED_COLUMNS + `file_idx`, the item's index) and, per item
    that could not be parsed, why: a ParseError or ProviderOutage, or any other exception (a
    bug, say) that the process stage retries later."""

    frame: pl.DataFrame
    errors: dict[int, Exception]


#: A batch parser: (body, meta) items and the context -> rows tagged with `file_idx`.
BatchParser = Callable[[Sequence[tuple[bytes, FileMeta]], ParseContext], ParsedBatch]

#: A JSON integer in a typed body: one that orjson gives as an int in every version (past 64
#: bits newer ones give a float, older ones leave it to the stdlib), in msgspec's bounds.
Int = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
#: A JSON number in a typed body: an int (`Int`) or a float, as written.
Number = Int | float


@dataclass(frozen=True)
class Typed:
    """A source's reading of the bodies it usually gets, beside its general `flatten`.

    `decoder` is a msgspec decoder to Structs holding only the fields the parser reads: the
    rest of a body is skipped, not built into dicts (a BettingPros page is three quarters
    links, metrics and opening lines), and the walk reads attributes. `rows` walks such a
    body straight into the batch's columns (lists per column: taking each body's own lists
    into the batch's touched every value again, 0.2 CPU s over a season) and returns its file
    values: the rows the general walk gives, except rows `finish` would drop, which it may
    leave out. Or it returns None, for a body it leaves to the general path (what it
    appended by then is taken back).

    A body the types do not fit (not JSON, a wrong type, a missing key, NaN or 1e400, an
    integer past 64 bits, a lone surrogate, nesting too deep) goes the general way too. So
    every odd body, the traps of the providers' docs included, gets exactly the handling it
    got before: its rows, or its ParseError or ProviderOutage.
    """

    decoder: msgspec.json.Decoder[Any]
    rows: Callable[[Any, FileMeta, dict[str, list[Any]]], dict[str, Any] | None]

    def walk(
        self, body: bytes, meta: FileMeta, columns: dict[str, list[Any]]
    ) -> dict[str, Any] | None:
        """Append the body's rows to `columns` and return its file values, or None: the
        general path's to parse (`columns` may then hold some of its rows: see
        `parse_batch`)."""
        try:
            doc = self.decoder.decode(body)
        except (msgspec.MsgspecError, RecursionError):
            return None
        return self.rows(doc, meta, columns)


def parse_batch(
    items: Sequence[tuple[bytes, FileMeta]],
    ctx: ParseContext,
    *,
    flatten: Callable[[bytes, FileMeta], Flat],
    row_schema: Mapping[str, pl.DataType],
    file_schema: Mapping[str, pl.DataType],
    finish: Callable[[pl.DataFrame, ParseContext], pl.DataFrame],
    typed: Typed | None = None,
) -> ParsedBatch:
    """Flatten each item (its errors stay its own), then `finish` all rows in one polars pass.
    An item the source's `typed` reading takes is walked that way, the others by `flatten`.

    `finish` gets the rows with the file values joined on (`file_idx`) and returns
    PARSED_COLUMNS + `file_idx` (`as_parsed` casts and orders them). Should it fail on the batch
    as a whole, the items are finished one by one, so that only the file at fault is reported.
    """
    errors: dict[int, Exception] = {}
    columns: dict[str, list[Any]] = {name: [] for name in row_schema}
    height = columns[next(iter(row_schema))]  # a column, for the number of rows so far
    file_idx: list[int] = []
    files: dict[str, list[Any]] = {name: [] for name in file_schema}
    files_idx: list[int] = []
    for i, (body, meta) in enumerate(items):
        start = len(height)
        file = typed.walk(body, meta, columns) if typed is not None else None
        if file is None:
            for values in columns.values():
                del values[start:]  # what a typed walk appended before it gave up
            try:
                flat = flatten(body, meta)
            except Exception as exc:  # noqa: BLE001 - that file's error, the others go on
                errors[i] = exc
                continue
            for name, values in flat.columns.items():
                columns[name] += values
            file = flat.file
        file_idx += [i] * (len(height) - start)
        for name in file_schema:
            files[name].append(file[name])
        files_idx.append(i)
    rows = pl.DataFrame(
        [_series(name, columns[name], dtype) for name, dtype in row_schema.items()]
    ).with_columns(file_idx=pl.Series(file_idx, dtype=pl.UInt32))
    per_file = pl.DataFrame(files, schema=dict(file_schema), strict=False).with_columns(
        file_idx=pl.Series(files_idx, dtype=pl.UInt32)
    )
    joined = rows.join(per_file, on="file_idx", how="left", maintain_order="left")
    try:
        return ParsedBatch(finish(joined, ctx), errors)
    except Exception:
        if len(files_idx) <= 1:
            raise
    frames = []
    for i in files_idx:  # one by one: find the file the batch failed on
        try:
            frames.append(finish(joined.filter(pl.col("file_idx") == i), ctx))
        except Exception as exc:  # noqa: BLE001 - that file's error, the others go on
            errors[i] = exc
    return ParsedBatch(pl.concat(frames) if frames else finish(joined.clear(), ctx), errors)


def _series(name: str, values: list[Any], dtype: pl.DataType) -> pl.Series:
    """A column of walked values. Timestamps repeat (one per market or offer, not per line),
    and polars converts Python datetimes one by one at ~1.5 us each, a third of a batch's
    parse: each distinct value is converted once and gathered."""
    if isinstance(dtype, pl.Datetime) and len(values) > 64:
        positions: dict[Any, int] = {}
        index = [positions.setdefault(v, len(positions)) for v in values]
        if len(positions) * 4 < len(values):
            distinct = column(list(positions), dtype, name)
            return distinct.gather(pl.Series(index, dtype=pl.UInt32))
    return column(values, dtype, name)


def column(values: list[Any], dtype: pl.DataType, name: str = "") -> pl.Series:
    """Walked JSON values as a column of `dtype`. A value that cannot be one (an object or an
    array where a scalar belongs, an integer past 64 bits) is a bad value, null, for the rules
    to catch, never the file's loss: polars refuses the whole column for one such value.

    Ids a provider writes as JSON integers (BettingPros' event, market and book ids) become
    text four times faster as 64-bit integers cast to text than value by value (the same
    digits; a bool is not taken for one: polars would make True 1, not "true"). Only a
    column whose first value is such an integer is looked at whole: looking at every value of
    every text column cost the parse worker 0.2 CPU s over 40 x 7 (docs/benchmarks.md)."""
    if dtype == pl.String():
        return _text(values, name)
    try:
        return pl.Series(name, values, dtype=dtype, strict=False)
    except _UNFIT:
        pass
    return pl.Series(name, [v if _fits(v, dtype) else None for v in values], dtype, strict=False)


_UNFIT = (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError)


def _text(values: list[Any], name: str) -> pl.Series:
    """A text column (`column`): text as it is; numbers and bools as the text the provider
    wrote; an object or an array null. Built strictly first, which takes text only (as fast
    as not strictly for a column of text): not strictly, polars wrote `{"id": 1}` as the
    text "{1}" and `[1, 2]` as "[1,2]"."""
    if _integer_ids(values):
        try:
            return pl.Series(name, values, dtype=pl.Int64).cast(pl.String)
        except _UNFIT:  # past 64 bits: value by value below
            pass
    try:
        return pl.Series(name, values, dtype=pl.String)
    except _UNFIT:
        pass
    scalars = [None if isinstance(v, list | dict) else v for v in values]
    try:
        return pl.Series(name, scalars, dtype=pl.String, strict=False)
    except _UNFIT:  # text polars cannot hold (a lone surrogate): value by value
        fit = [v if _fits(v, pl.String()) else None for v in scalars]
        return pl.Series(name, fit, dtype=pl.String, strict=False)


_INTEGERS = {int, type(None)}


def _integer_ids(values: list[Any]) -> bool:
    """Whether every value is an int or None, and one at least an int."""
    for value in values:
        if value is not None:
            return type(value) is int and set(map(type, values)) <= _INTEGERS
    return False


def _fits(value: Any, dtype: pl.DataType) -> bool:
    if isinstance(value, list | dict):
        return False
    try:
        pl.Series([value], dtype=dtype, strict=False)
    except _UNFIT:
        return False
    return True


def as_parsed(frame: pl.DataFrame) -> pl.DataFrame:
    """A `finish` result cast and ordered: PARSED_COLUMNS, then `file_idx`."""
    return conform(frame).select(PARSED_COLUMNS).with_columns(file_idx=frame["file_idx"])


# -- derived columns every parser computes the same way --------------------------------------


def with_main_line(rows: pl.LazyFrame, group: tuple[str, ...]) -> pl.LazyFrame:
    """Add `is_main_line`: per group, the line whose two sides are closest to even.

    A line quoted on both sides wins over a one-sided line; then the smallest
    |p_over - p_under| (a one-sided line counts as |2p - 1|, one without a probability comes
    last); ties go to the lower line. A group with a single line has it as main.

    `implied_prob` is a probability (`price_columns` makes it: 1/decimal, in [0, 1)), so a
    distance is in [0, 1]. That lets one number order the lines: the distance, plus 2 for a
    one-sided line, 4 for one without a probability. The main line is then the lowest line of
    those with the group's smallest number: two minimums over the group, where sorting each
    group took twice as long (0.64 against 0.34 s for the 1M rows of a 40-date season).
    """
    keys = list(group)
    prob, side = pl.col("implied_prob"), pl.col("side")
    p_over, p_under = pl.col("_p_over"), pl.col("_p_under")
    rank = pl.col("_rank")
    ranked = (
        rows.with_columns(
            _p_over=prob.filter(side == "over").first().over([*keys, "line"]),
            _p_under=prob.filter(side == "under").first().over([*keys, "line"]),
        )
        .with_columns(
            # Rounded so that mirror-image pairs (e.g. +100/-120 and -120/+100) tie exactly; the
            # offsets keep ties (x + 2 == y + 2 iff x == y) and order (distances 1e-9 apart stay
            # apart: 2 + x is exact to 4.4e-16).
            _rank=pl.when(p_over.is_not_null() & p_under.is_not_null())
            .then((p_over - p_under).abs().round(9))
            .otherwise(2 + (2 * prob - 1).abs().round(9).fill_null(2))
        )
        .with_columns(_best=rank.min().over(keys))
    )
    # A NaN line (a body's NaN) is never the minimum unless every candidate is NaN, as it sorted.
    main = pl.when(rank == pl.col("_best")).then(pl.col("line")).min().over(keys)
    return ranked.with_columns(is_main_line=pl.col("line") == main).drop(
        "_p_over", "_p_under", "_rank", "_best"
    )


def price_columns(price: pl.Expr, is_int: pl.Expr) -> list[pl.Expr]:
    """price_american, price_decimal, implied_prob from a raw price, deciding the format per value.

    Ints with |price| >= 100 are American; any other price above 1 is decimal (whole decimal
    prices such as 2 may arrive as JSON ints). Anything else is not a price: null, and so is a
    non-finite one (NaN, Infinity or 1e400 in the body) and one whose American form is out of
    `price_american`'s 32-bit range (an integer such as 2**63, a decimal such as 1e300 or
    1.0000000001), which the odds rules quarantine. A strict cast would fail the whole batch
    for one such value, and the file with it.
    """
    american_in = is_int & (price.abs() >= 100)
    decimal_in = american_in.not_() & price.is_finite() & (price > 1)
    american = (
        pl.when(american_in)
        .then(price.cast(pl.Int32, strict=False))
        .when(decimal_in)
        .then(decimal_to_american(price))
    )
    decimal = (
        pl.when(american.is_null())
        .then(None)
        .when(american_in)
        .then(american_to_decimal(price))
        .otherwise(price)
    )
    return [
        american.alias("price_american"),
        decimal.alias("price_decimal"),
        implied_probability(decimal).alias("implied_prob"),
    ]


_NO_IDX = pl.lit(None, pl.UInt32)


def one_by_one(
    parser: Callable[[bytes, FileMeta, ParseContext], pl.DataFrame],
) -> BatchParser:
    """A per-file parser (`PROP_PARSERS`) used as a batch parser."""

    def parse(items: Sequence[tuple[bytes, FileMeta]], ctx: ParseContext) -> ParsedBatch:
        frames = [empty_prop_lines().select(PARSED_COLUMNS).with_columns(file_idx=_NO_IDX)]
        errors: dict[int, Exception] = {}
        for i, (body, meta) in enumerate(items):
            try:
                frame = conform(parser(body, meta, ctx)).select(PARSED_COLUMNS)
            except Exception as exc:  # noqa: BLE001 - that file's error, the others go on
                errors[i] = exc
                continue
            frames.append(frame.with_columns(file_idx=pl.lit(i, pl.UInt32)))
        return ParsedBatch(pl.concat(frames), errors)

    return parse


def parse_one(parser: BatchParser, body: bytes, meta: FileMeta, ctx: ParseContext) -> pl.DataFrame:
    """A batch parser used on one body: its rows, or its ParseError / ProviderOutage raised."""
    parsed = parser([(body, meta)], ctx)
    if parsed.errors:
        raise parsed.errors[0]
    return parsed.frame.drop("file_idx")


# -- scraping ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request of a source's plan. `endpoint` and `stem` name where its body lands."""

    endpoint: str
    stem: str
    path: str
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Fetched:
    call: Call
    status: int
    body: bytes
    landed: bool  # the body is in the landing zone (2xx)
    from_landing: bool  # no request was made: the plan had already landed
    #: not asked this run: the request is dead-lettered or waiting for its next attempt
    deferred: bool = False


class Fetch:
    """What a source's `scrape` gets: run calls, landing each 2xx body. Implemented by the stage."""

    def get(self, call: Call) -> Fetched:
        raise NotImplementedError

    def get_many(self, calls: list[Call]) -> list[Fetched]:
        raise NotImplementedError

    def note(self, message: str) -> None:
        """Tell the run summary something worth knowing (a skipped event, an empty page)."""
        raise NotImplementedError


# -- helpers every parser uses ------------------------------------------------------------------


def decode_json(body: bytes, what: str) -> Any:
    """The body as JSON, or a `ParseError` saying in one line what is wrong with it.

    NaN, Infinity and numbers beyond a double's range (1e400) decode as non-finite floats: they
    are bad values of a row, which the parsers turn into nulls that a rule quarantines, not a
    reason to lose the file. A body nested deeper than the decoder's recursion limit is
    unparseable, a `ParseError` like any other (orjson stops at 1024 levels; the stdlib parser
    it falls back to raises RecursionError, which retrying cannot fix)."""
    if body[:2] == b"\x1f\x8b":
        raise ParseError(f"{what}: body is still gzip-compressed")
    if not body.strip():
        raise ParseError(f"{what}: empty body")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass  # the stdlib parser says where and what (or accepts what orjson does not: NaN)
    try:
        return json.loads(body)
    except RecursionError:
        raise ParseError(f"{what}: JSON nested too deeply to parse") from None
    except UnicodeDecodeError as exc:
        raise ParseError(f"{what}: body is not UTF-8 (bad byte at {exc.start})") from exc
    except json.JSONDecodeError as exc:
        at_byte = len(exc.doc[: exc.pos].encode())
        truncated = exc.pos >= len(exc.doc.rstrip()) or exc.msg.startswith("Unterminated")
        hint = " (truncated?)" if truncated else ""
        raise ParseError(f"{what}: invalid JSON at byte {at_byte}: {exc.msg}{hint}") from exc


def as_utc(moment: datetime) -> datetime:
    """Naive datetimes in metadata are UTC by convention."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def kind_of(value: Any) -> str:
    kinds: dict[type, str] = {dict: "an object", list: "an array", str: "a string"}
    return kinds.get(type(value), type(value).__name__)


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
