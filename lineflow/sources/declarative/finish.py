"""A declarative mapping's columns, converted in one polars pass over a batch of bodies.

`Parser` compiles a mapping into a `Walker` (per body) and the expressions that turn its raw
columns into `PARSED_COLUMNS` (or `EVENT_COLUMNS`): maps, splits, price formats, timestamps,
filters, the slate, the main line. The conversions are the module sources' own
(`core.odds`, `core.names`, `sources.base.price_columns` and `with_main_line`), so a source
declared in YAML and one written as a module give the same rows for the same body.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from lineflow.core.names import with_player_key
from lineflow.core.schema import UTC_TS
from lineflow.core.slate import EASTERN
from lineflow.sources.base import (
    EVENT_COLUMNS,
    FileMeta,
    ParseContext,
    ParsedBatch,
    ParseError,
    as_parsed,
    parse_batch,
    price_columns,
    with_main_line,
)
from lineflow.sources.declarative.spec import (
    TIME_FIELDS,
    Column,
    MainLine,
    Props,
    RowMapping,
    parse_path,
)
from lineflow.sources.declarative.walk import Walker, text

#: What `iso` timestamps may look like: any number of fraction digits (DraftKings sends seven),
#: `Z`, an offset or no zone (UTC).
_ISO_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.fZ",
    "%Y-%m-%dT%H:%M:%S%.f%:z",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
)
_META = {"fetched_at": UTC_TS, "slate_date": pl.Date(), "source": pl.String()}
_NUMERIC_ROLES = ("line",)
_MAIN_GROUP = ("file_idx", "bookmaker", "market", "player_name")


class Parser:
    """One mapping (props or events) of a declarative source, compiled."""

    def __init__(self, mapping: RowMapping, what: str) -> None:
        self.mapping = mapping
        self.what = what
        self.fields: dict[str, Column] = dict(mapping.fields)
        numeric: set[str] = set()
        int_flags: set[str] = set()
        paths: list[str] = []
        for role, column in self.fields.items():
            for path in column.paths():
                paths.append(path)
                if role in _NUMERIC_ROLES or (
                    role == "price" and column.format in ("decimal", "auto")
                ):
                    numeric.add(path)
                if role in TIME_FIELDS and column.format == "unix":
                    numeric.add(path)
                if role == "price" and column.format == "auto":
                    int_flags.add(path)
        paths += [keep.field for keep in mapping.keep]
        if isinstance(mapping.main_line, MainLine):
            paths.append(mapping.main_line.field)
        walked = [p for p in paths if parse_path(p)[0] != "meta"]
        self.walker = Walker(mapping, what, walked, int_flags)
        columns = self.walker.columns
        dtype = {p: pl.Float64() if p in numeric else pl.String() for p in columns}
        file_names = {name for name, _ in self.walker.file_paths}
        self.row_schema: dict[str, pl.DataType] = {}
        self.file_schema: dict[str, pl.DataType] = {f"meta_{k}": v for k, v in _META.items()}
        for path, name in columns.items():
            target = self.file_schema if name in file_names else self.row_schema
            target[name] = dtype[path]
            if name in self.walker.int_flags:
                target[f"{name}_int"] = pl.Boolean()

    # -- the per-body walk, with the meta columns every batch needs ---------------------------

    def flatten(self, body: bytes, meta: FileMeta) -> Any:
        flat = self.walker.flatten(body, meta)
        flat.file.update(
            meta_fetched_at=meta.fetched_at,
            meta_slate_date=meta.slate_date,
            meta_source=meta.source,
        )
        return flat

    def parse_batch(
        self, items: Sequence[tuple[bytes, FileMeta]], ctx: ParseContext
    ) -> ParsedBatch:
        return parse_batch(
            items,
            ctx,
            flatten=self.flatten,
            row_schema=self.row_schema,
            file_schema=self.file_schema,
            finish=self.finish_props if isinstance(self.mapping, Props) else self.finish_events,
        )

    # -- expressions ----------------------------------------------------------------------------

    def _raw(self, path: str) -> pl.Expr:
        anchor, steps = parse_path(path)
        if anchor == "meta":
            return pl.col(f"meta_{steps[0][1]}")
        return pl.col(self.walker.columns[path])

    def _value(self, role: str, column: Column, ctx: ParseContext) -> pl.Expr:
        """The column's value: its first non-null path, each split, mapped and converted."""
        if column.value is not None:
            constant = text(column.value) if role not in _NUMERIC_ROLES else column.value
            return _convert(role, column, pl.lit(constant))
        parts = []
        for path in column.paths():
            expr = self._raw(path)
            if column.split is not None:
                expr = (
                    expr.cast(pl.String)
                    .str.split(column.split)
                    .list.get(column.part, null_on_oob=True)
                    .str.strip_chars()
                )
            if column.map is not None:
                mapping = _mapping(column.map, ctx)
                expr = expr.cast(pl.String).replace_strict(
                    mapping,
                    default=expr.cast(pl.String) if column.unmapped == "keep" else None,
                    return_dtype=pl.String,
                )
            parts.append(_convert(role, column, expr, path.startswith("meta.")))
        return parts[0] if len(parts) == 1 else pl.coalesce(parts)

    def _keep(self) -> pl.Expr:
        condition = pl.lit(True)
        for keep in self.mapping.keep:
            value = self._raw(keep.field).cast(pl.String)
            if keep.equals is not None:
                condition &= (value == text(keep.equals)).fill_null(False)
            if keep.not_equals is not None:
                condition &= (value != text(keep.not_equals)).fill_null(True)
            if keep.in_ is not None:
                condition &= value.is_in([text(v) for v in keep.in_]).fill_null(False)
            if keep.not_in is not None:
                condition &= value.is_in([text(v) for v in keep.not_in]).not_().fill_null(True)
            if keep.present is not None:
                condition &= value.is_not_null() if keep.present else value.is_null()
        return condition

    def _required(self, frame: pl.DataFrame) -> None:
        for role, column in self.fields.items():
            if column.required and role in frame.columns and frame[role].null_count():
                raise ParseError(f"{self.what}: {role} missing or unreadable in a row")

    # -- props ----------------------------------------------------------------------------------

    def _times_parsed(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Timestamp columns parsed in place, trying `iso`'s formats only while values are
        left unread (one format reads a provider's whole column: a pass, not four)."""
        parsed = {}
        for role in TIME_FIELDS:
            column = self.fields.get(role)
            if column is None or column.format == "unix":
                continue
            formats = _ISO_FORMATS if (column.format or "iso") == "iso" else (column.format,)
            for path in column.paths():
                name = self.walker.columns.get(path)
                if name is None or name in parsed:
                    continue
                raw = rows[name].cast(pl.String).str.strip_chars()
                wanted = raw.len() - raw.null_count()
                result = pl.Series(name, [None] * raw.len(), dtype=UTC_TS)
                for fmt in formats:
                    if result.len() - result.null_count() == wanted:
                        break
                    attempt = raw.str.to_datetime(
                        fmt, time_unit="us", time_zone="UTC", strict=False
                    )
                    result = result.fill_null(attempt)
                parsed[name] = result
        return rows.with_columns(*parsed.values()) if parsed else rows

    def finish_props(self, rows: pl.DataFrame, ctx: ParseContext) -> pl.DataFrame:
        rows = self._times_parsed(rows)
        fields = self.fields
        values = {
            role: self._value(role, column, ctx).alias(role)
            for role, column in fields.items()
            if role != "price"
        }
        price, is_int = self._price(fields["price"], ctx)
        frame = rows.with_columns(
            *values.values(),
            _price=price,
            _price_int=is_int,
            _keep=self._keep(),
        )
        self._required(frame)
        dropped = [
            pl.col(role).is_not_null()
            for role, column in fields.items()
            if column.map is not None and column.unmapped == "drop"
        ]
        lines = (
            frame.lazy()
            .with_columns(side=pl.col("side").str.strip_chars().str.to_lowercase())
            .join(_slate_dates(frame["commence_time"]), on="commence_time", how="left")
            .with_columns(slate_date=pl.coalesce("slate_date", "meta_slate_date"))
            .filter(
                pl.col("_keep")
                & pl.col("side").is_in(("over", "under"))
                & (pl.col("player_name").str.len_bytes() > 0)
                & pl.col("line").is_not_null(),
                *dropped,
            )
        )
        if self.mapping.slate == "partition":
            lines = lines.filter(pl.col("slate_date") == pl.col("meta_slate_date"))
        # Optional columns a mapping leaves out: no teams, no last update, the pass time as
        # the snapshot (`as_parsed` puts every column in its place).
        optional = {
            "home_team": pl.lit(None, pl.String),
            "away_team": pl.lit(None, pl.String),
            "last_update": pl.lit(None, UTC_TS),
            "snapshot_at": pl.col("meta_fetched_at"),
        }
        lines = lines.select(
            "slate_date",
            pl.col("meta_source").alias("source"),
            "event_id",
            "commence_time",
            "bookmaker",
            "market",
            "player_name",
            "side",
            "line",
            *price_columns(pl.col("_price"), pl.col("_price_int")),
            *(
                pl.col(name) if name in fields else value.alias(name)
                for name, value in optional.items()
            ),
            "file_idx",
            # read here: the raw columns are gone after this select (`all`: every line)
            is_main_line=self._main_flag(),
        )
        if self.mapping.main_line == "closest_to_even":
            lines = with_main_line(lines, _MAIN_GROUP)
        return as_parsed(with_player_key(lines).collect())

    def _main_flag(self) -> pl.Expr:
        """A declared main-line flag: true where the body says true, false where it says
        anything else or nothing."""
        main = self.mapping.main_line
        if not isinstance(main, MainLine):
            return pl.lit(True)
        return (self._raw(main.field).cast(pl.String) == "true").fill_null(False)

    def _price(self, column: Column, ctx: ParseContext) -> tuple[pl.Expr, pl.Expr]:
        """(price, whether it is a JSON int) for `price_columns`, by the declared format."""
        fmt = column.format
        if fmt == "auto":
            path = column.paths()[0]
            name = self.walker.columns[path]
            return pl.col(name).cast(pl.Float64), pl.col(f"{name}_int")
        raw = self._raw(column.paths()[0]) if column.path is not None else pl.lit(column.value)
        if fmt == "decimal":
            return raw.cast(pl.Float64, strict=False), pl.lit(False)
        if fmt == "fractional":
            parts = raw.cast(pl.String).str.split("/")
            numerator = parts.list.get(0, null_on_oob=True).cast(pl.Float64, strict=False)
            denominator = parts.list.get(1, null_on_oob=True).cast(pl.Float64, strict=False)
            return numerator / denominator + 1, pl.lit(False)
        # American: ints, or text with a U+2212 minus, a plus sign, "EVEN".
        american = (
            raw.cast(pl.String)
            .str.strip_chars()
            .str.replace("\u2212", "-", literal=True)
            .str.replace("^\\+", "")
            .str.replace("(?i)^even$", "100")
        )
        return american.cast(pl.Float64, strict=False).round(), pl.lit(True)

    # -- events ---------------------------------------------------------------------------------

    def finish_events(self, rows: pl.DataFrame, ctx: ParseContext) -> pl.DataFrame:
        rows = self._times_parsed(rows)
        fields = self.fields
        frame = rows.with_columns(
            *(self._value(role, column, ctx).alias(role) for role, column in fields.items()),
            _keep=self._keep(),
        )
        self._required(frame)
        frame = frame.filter(pl.col("_keep"))
        return frame.select(
            (pl.col(name) if name in fields else pl.lit(None)).cast(dtype).alias(name)
            for name, dtype in EVENT_COLUMNS.items()
        ).with_columns(file_idx=frame["file_idx"])

    def parse_events(self, body: bytes) -> pl.DataFrame:
        """One listing body -> its events (`EVENT_COLUMNS`), or its ParseError."""
        from datetime import UTC, date, datetime

        meta = FileMeta("", "", "", date(1970, 1, 1), datetime(1970, 1, 1, tzinfo=UTC))
        parsed = self.parse_batch([(body, meta)], ParseContext())
        if parsed.errors:
            error = parsed.errors[0]
            raise error if isinstance(error, ParseError) else ParseError(f"{self.what}: {error}")
        return parsed.frame.drop("file_idx")


def _slate_dates(commence: pl.Series) -> pl.LazyFrame:
    """Tip-off -> US/Eastern date, converted once per distinct tip-off (a zone conversion per
    row was a tenth of a parse)."""
    tips = commence.unique().to_frame("commence_time").lazy()
    return tips.with_columns(
        slate_date=pl.col("commence_time").dt.convert_time_zone(EASTERN.key).dt.date()
    )


def _convert(role: str, column: Column, expr: pl.Expr, is_meta: bool = False) -> pl.Expr:
    if role in TIME_FIELDS:
        if is_meta or (column.format or "iso") != "unix":
            return expr  # the pass time, or parsed already (`Parser._times_parsed`)
        micros = (expr.cast(pl.Float64, strict=False) * 1_000_000).cast(pl.Int64, strict=False)
        return pl.from_epoch(micros, time_unit="us").dt.replace_time_zone("UTC")
    if role in _NUMERIC_ROLES:
        return expr.cast(pl.Float64, strict=False)
    return expr.cast(pl.String)


def _mapping(spec: Any, ctx: ParseContext) -> Mapping[str, str]:
    if spec == "markets":
        return dict(ctx.markets)
    if spec == "books":
        return dict(ctx.books)
    return dict(spec)
