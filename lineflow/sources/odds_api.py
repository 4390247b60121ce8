"""The Odds API v4: parsers from response bodies to canonical frames.

Parsers are pure (bytes in, polars frame out). Decoding walks the JSON once to build flat
columns; every conversion after that is a polars expression over whole columns.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import msgspec
import polars as pl
from pydantic import BaseModel, ConfigDict

from lineflow.config import SourceConfig
from lineflow.core.names import with_player_key
from lineflow.core.schema import UTC_TS
from lineflow.core.slate import EASTERN, iso_z, slate_window
from lineflow.sources.base import (
    EVENT_COLUMNS,
    Call,
    Fetch,
    Fetched,
    FileMeta,
    Flat,
    Number,
    ParseContext,
    ParsedBatch,
    ParseError,
    SourceFailed,
    Typed,
    as_parsed,
    as_utc,
    column,
    decode_json,
    kind_of,
    one_line,
    parse_batch,
    parse_one,
    price_columns,
    with_main_line,
)
from lineflow.sources.contract import Cost, Pricing

_EVENTS = "odds_api events"
_EVENT_ODDS = "odds_api event odds"


# --- parsers -------------------------------------------------------------------------------


def parse_events(body: bytes) -> pl.DataFrame:
    """Events list (live array or historical wrapper) -> one row per event, `EVENT_COLUMNS`."""
    doc = decode_json(body, _EVENTS)
    _raise_for_error_body(doc, _EVENTS)
    events = doc["data"] if isinstance(doc, dict) and "data" in doc else doc
    if not isinstance(events, list):
        raise ParseError(
            f"{_EVENTS}: expected an array of events or a historical wrapper with a 'data' array, "
            f"got {kind_of(events)}"
        )
    ids: list[Any] = []
    commence: list[Any] = []
    home: list[Any] = []
    away: list[Any] = []
    for i, event in enumerate(events):
        if not isinstance(event, dict) or "id" not in event or "commence_time" not in event:
            raise ParseError(f"{_EVENTS}: item {i} is not an event with 'id' and 'commence_time'")
        ids.append(event["id"])
        commence.append(event["commence_time"])
        home.append(event.get("home_team"))
        away.append(event.get("away_team"))
    frame = pl.DataFrame(
        {
            "event_id": column(ids, pl.String()),
            "commence_time": _require_utc(commence, f"{_EVENTS}: commence_time"),
            "home_team": column(home, pl.String()),
            "away_team": column(away, pl.String()),
        }
    )
    return frame.select(pl.col(name).cast(dtype) for name, dtype in EVENT_COLUMNS.items())


def parse_event_odds(body: bytes, meta: FileMeta, ctx: ParseContext) -> pl.DataFrame:
    """Event odds (live object or historical wrapper) -> prop lines, `PARSED_COLUMNS`.

    One row per (bookmaker, market, player, side, line). Only Over/Under outcomes that name a
    player (`description`) and carry a `point` become rows; Yes/No and scorer markets are skipped.
    """
    return parse_one(parse_event_odds_batch, body, meta, ctx)


def parse_event_odds_batch(
    items: Sequence[tuple[bytes, FileMeta]], ctx: ParseContext
) -> ParsedBatch:
    """Many event-odds bodies at once: each walked on its own, then one polars pass over all."""
    return event_odds_batch(items, ctx, _TYPED)


def event_odds_batch(
    items: Sequence[tuple[bytes, FileMeta]], ctx: ParseContext, typed: Typed | None
) -> ParsedBatch:
    """`parse_event_odds_batch` with the bodies its `typed` reading takes walked that way
    (None: every body the general way, which the tests hold the typed way's rows to)."""
    return parse_batch(
        items,
        ctx,
        flatten=_flatten_event_odds,
        row_schema=_OUTCOME_SCHEMA,
        file_schema=_FILE_SCHEMA,
        finish=_finish_event_odds,
        typed=typed,
    )


#: The columns one event-odds body is walked into, one row per outcome.
_OUTCOME_SCHEMA: dict[str, pl.DataType] = {
    "bookmaker": pl.String(),
    "market": pl.String(),
    # microseconds since the epoch (`_utc_us`): a timestamp repeats per outcome of a market,
    # and polars builds a column of 1M ints in 11 ms, of 1M datetimes in 160 ms
    "last_update": pl.Int64(),
    "name": pl.String(),
    "description": pl.String(),
    "price": pl.Float64(),
    # The JSON number type tells an American price (int) from a decimal one (float).
    "price_is_int": pl.Boolean(),
    "point": pl.Float64(),
}
#: Per body: the event and the snapshot.
_FILE_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "event_id": pl.String(),
    "commence_time": UTC_TS,
    "slate_date": pl.Date(),
    "home_team": pl.String(),
    "away_team": pl.String(),
    "snapshot_at": UTC_TS,
}


def _flatten_event_odds(body: bytes, meta: FileMeta) -> Flat:
    doc = decode_json(body, _EVENT_ODDS)
    _raise_for_error_body(doc, _EVENT_ODDS)
    event, snapshot_raw = _unwrap_event(doc)
    commence_time = _utc_one(event["commence_time"])
    if commence_time is None:
        raise ParseError(one_line(f"{_EVENT_ODDS}: bad commence_time {event['commence_time']!r}"))
    if snapshot_raw is None:
        snapshot_at = as_utc(meta.fetched_at)
    else:
        parsed = _utc_one(snapshot_raw)
        if parsed is None:
            raise ParseError(one_line(f"{_EVENT_ODDS}: bad historical timestamp {snapshot_raw!r}"))
        snapshot_at = parsed
    return Flat(
        _flatten_bookmakers(event["bookmakers"]),
        _event_file(
            meta,
            str(event["id"]),
            commence_time,
            _text(event.get("home_team")),
            _text(event.get("away_team")),
            snapshot_at,
        ),
    )


def _event_file(
    meta: FileMeta,
    event_id: str,
    commence_time: datetime,
    home_team: str | None,
    away_team: str | None,
    snapshot_at: datetime,
) -> dict[str, Any]:
    """A body's `_FILE_SCHEMA` values."""
    return {
        "source": meta.source,
        "event_id": event_id,
        "commence_time": commence_time,
        "slate_date": _slate_date(commence_time),
        "home_team": home_team,
        "away_team": away_team,
        "snapshot_at": snapshot_at,
    }


def _finish_event_odds(rows: pl.DataFrame, ctx: ParseContext) -> pl.DataFrame:
    outcomes = (
        rows.lazy()
        .with_columns(side=pl.col("name").str.strip_chars().str.to_lowercase())
        .filter(
            pl.col("side").is_in(("over", "under"))
            & (pl.col("description").str.len_bytes() > 0)
            & pl.col("point").is_not_null()
        )
        .select(
            "source",
            "event_id",
            "commence_time",
            "slate_date",
            "home_team",
            "away_team",
            pl.col("bookmaker").replace(dict(ctx.books)),
            pl.col("market").replace(dict(ctx.markets)),
            pl.col("description").alias("player_name"),
            "side",
            pl.col("point").alias("line"),
            *price_columns(pl.col("price"), pl.col("price_is_int")),
            pl.col("last_update").cast(UTC_TS),
            "snapshot_at",
            "file_idx",
        )
    )
    group = ("file_idx", "bookmaker", "market", "player_name")
    return as_parsed(with_main_line(with_player_key(outcomes), group).collect())


# --- decoding --------------------------------------------------------------------------------


def _unwrap_event(doc: Any) -> tuple[dict[str, Any], Any]:
    """The event object and the historical snapshot timestamp (None for live bodies)."""
    if isinstance(doc, dict) and "data" in doc and "bookmakers" not in doc:
        event, snapshot_raw = doc["data"], doc.get("timestamp")
        if isinstance(event, list):
            raise ParseError(
                f"{_EVENT_ODDS}: historical 'data' is an array (an events list?), not one event"
            )
    else:
        event, snapshot_raw = doc, None
    if not isinstance(event, dict):
        raise ParseError(f"{_EVENT_ODDS}: expected an event object, got {kind_of(event)}")
    missing = [k for k in ("id", "commence_time", "bookmakers") if k not in event]
    if missing:
        raise ParseError(f"{_EVENT_ODDS}: event object lacks {', '.join(missing)}")
    if not isinstance(event["bookmakers"], list):
        raise ParseError(
            f"{_EVENT_ODDS}: 'bookmakers' should be an array, got {kind_of(event['bookmakers'])}"
        )
    return event, snapshot_raw


def _flatten_bookmakers(bookmakers: list[Any]) -> dict[str, list[Any]]:
    """One pass over bookmakers -> outcome columns (`_OUTCOME_SCHEMA`).

    A market without `last_update` takes its bookmaker's: the docs put it on markets,
    historical bodies carry it on bookmakers too. Unreadable timestamps become null.
    """
    books: list[Any] = []
    markets: list[Any] = []
    updates: list[Any] = []
    names: list[Any] = []
    players: list[Any] = []
    prices: list[Any] = []
    price_is_int: list[bool] = []
    points: list[Any] = []
    moments: dict[Any, int | None] = {}
    b, m = 0, -1  # where we are, for the error message
    try:
        for b, book in enumerate(bookmakers):  # noqa: B007
            book_key, book_update, m = book["key"], book.get("last_update"), -1
            for m, market in enumerate(book["markets"]):  # noqa: B007
                outcomes = market["outcomes"]
                n = len(outcomes)
                raw = market.get("last_update") or book_update
                if raw not in moments:
                    moments[raw] = _utc_us(raw)
                books += [book_key] * n
                markets += [market["key"]] * n
                updates += [moments[raw]] * n
                for outcome in outcomes:
                    price = outcome.get("price")
                    names.append(outcome.get("name"))
                    players.append(outcome.get("description"))
                    prices.append(price)
                    price_is_int.append(type(price) is int)
                    points.append(outcome.get("point"))
    except (KeyError, TypeError, AttributeError) as exc:
        where = f"bookmakers[{b}]" + (f".markets[{m}]" if m >= 0 else "")
        raise ParseError(f"{_EVENT_ODDS}: unexpected shape at {where}: {_describe(exc)}") from exc
    return {
        "bookmaker": books,
        "market": markets,
        "last_update": updates,
        "name": names,
        "description": players,
        "price": prices,
        "price_is_int": price_is_int,
        "point": points,
    }


# An event-odds body as it usually comes, typed (`Typed`): only the fields the walk reads.

_Moment = str | Number  # what `_utc_one` reads: ISO 8601 or unix seconds


class _Outcome(msgspec.Struct, gc=False):
    name: str | None = None
    description: str | None = None
    price: Number | None = None
    point: Number | None = None


class _Market(msgspec.Struct, gc=False):
    key: str
    outcomes: list[_Outcome]
    last_update: _Moment | None = None


class _Bookmaker(msgspec.Struct, gc=False):
    key: str
    markets: list[_Market]
    last_update: _Moment | None = None


class _Event(msgspec.Struct, gc=False):
    id: str
    commence_time: _Moment
    bookmakers: list[_Bookmaker]
    home_team: str | None = None
    away_team: str | None = None


class _Body(msgspec.Struct, gc=False):
    """A live event, or a historical wrapper of one (`data`, `timestamp`)."""

    id: str | msgspec.UnsetType = msgspec.UNSET
    commence_time: _Moment | msgspec.UnsetType = msgspec.UNSET
    bookmakers: list[_Bookmaker] | msgspec.UnsetType = msgspec.UNSET
    home_team: str | None = None
    away_team: str | None = None
    data: _Event | msgspec.UnsetType = msgspec.UNSET
    timestamp: _Moment | None = None
    # present in error bodies only: such a body is the general path's to word
    error_code: Any = msgspec.UNSET
    message: Any = msgspec.UNSET


def _typed_event_odds(
    body: _Body, meta: FileMeta, columns: dict[str, list[Any]]
) -> dict[str, Any] | None:
    """A typed body's outcomes, as `_flatten_event_odds` walks them; None for an error body,
    an event lacking its id or start, or a timestamp `_utc_one` cannot read: the general
    path raises their ParseError."""
    if body.error_code is not msgspec.UNSET or body.message is not msgspec.UNSET:
        return None
    if not isinstance(body.bookmakers, msgspec.UnsetType):  # a live event
        if isinstance(body.id, msgspec.UnsetType):
            return None
        if isinstance(body.commence_time, msgspec.UnsetType):
            return None
        event = _Event(body.id, body.commence_time, body.bookmakers, body.home_team, body.away_team)
        snapshot_raw = None
    elif not isinstance(body.data, msgspec.UnsetType):  # a historical snapshot
        event, snapshot_raw = body.data, body.timestamp
    else:
        return None
    commence_time = _utc_one(event.commence_time)
    snapshot_at = as_utc(meta.fetched_at) if snapshot_raw is None else _utc_one(snapshot_raw)
    if commence_time is None or snapshot_at is None:
        return None
    books, markets, updates = columns["bookmaker"], columns["market"], columns["last_update"]
    names, players = columns["name"].append, columns["description"].append
    prices, price_is_int = columns["price"].append, columns["price_is_int"].append
    points = columns["point"].append
    moments: dict[Any, int | None] = {}
    for book in event.bookmakers:
        book_key, book_update = book.key, book.last_update
        for market in book.markets:
            outcomes = market.outcomes
            n = len(outcomes)
            raw = market.last_update or book_update
            if raw not in moments:
                moments[raw] = _utc_us(raw)
            books += [book_key] * n
            markets += [market.key] * n
            updates += [moments[raw]] * n
            for outcome in outcomes:
                price = outcome.price
                names(outcome.name)
                players(outcome.description)
                prices(price)
                price_is_int(type(price) is int)
                points(outcome.point)
    return _event_file(meta, event.id, commence_time, event.home_team, event.away_team, snapshot_at)


_TYPED = Typed(msgspec.json.Decoder(_Body), _typed_event_odds)


def _raise_for_error_body(doc: Any, what: str) -> None:
    """`{"message", "error_code"[, "details_url"]}` bodies become a ParseError naming the code."""
    if not isinstance(doc, dict):
        return
    if "error_code" in doc or ("message" in doc and "id" not in doc and "data" not in doc):
        code = doc.get("error_code", "without error_code")
        message = doc.get("message", "")
        raise ParseError(one_line(f"{what}: error body {code}: {message}".rstrip(": ")))


# --- timestamps ------------------------------------------------------------------------------


def _utc(values: list[Any]) -> pl.Series:
    """ISO 8601 strings or unix seconds (`dateFormat=unix`) -> UTC datetimes; unreadable -> null."""
    return pl.Series([_utc_one(v) for v in values], dtype=UTC_TS)


def _utc_us(value: Any) -> int | None:
    """`_utc_one` as microseconds since the epoch (exact: a datetime's own microseconds)."""
    moment = _utc_one(value)
    return None if moment is None else (moment - _EPOCH) // _MICROSECOND


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _utc_one(value: Any) -> datetime | None:
    """One ISO 8601 string (a zone-less one is UTC) or unix seconds -> UTC; unreadable -> None."""
    if value is None or isinstance(value, bool):
        return None
    seconds: float | None
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip()
        try:
            seconds = float(text)
        except ValueError:
            seconds = None
    if seconds is not None:
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        return as_utc(datetime.fromisoformat(text))
    except ValueError:
        return None


def _require_utc(values: list[Any], what: str) -> pl.Series:
    parsed = _utc(values)
    bad = column(values, pl.String()).filter(parsed.is_null())
    if len(bad) > 0:
        raise ParseError(one_line(f"{what} {bad[0]!r} is not ISO 8601 or unix seconds"))
    return parsed


def _slate_date(commence_time: datetime) -> date:
    return commence_time.astimezone(EASTERN).date()


# --- messages --------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing key {exc.args[0]!r}"
    return one_line(str(exc))


# -- request plan -----------------------------------------------------------------------------

SUPPORTS_HISTORY = True
EVENT_PARSERS = {"events": parse_events, "events_history": parse_events}
PROP_PARSERS = {"player_props": parse_event_odds, "player_props_history": parse_event_odds}
PROP_BATCH_PARSERS = {
    "player_props": parse_event_odds_batch,
    "player_props_history": parse_event_odds_batch,
}


class Options(BaseModel):
    """`options:` of an Odds API source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sport: str = "basketball_nba"
    regions: str = "us"
    odds_format: Literal["american", "decimal"] = "american"


def pricing(source: SourceConfig) -> Pricing:
    """A historical partition: one events call (1 credit), then one odds call per game at
    10 credits per market and region (the Odds API's price for historical event odds)."""
    markets = len(source.markets)
    regions = len(Options.model_validate(source.options).regions.split(","))
    return Pricing(
        unit="Odds API credits",
        per_partition=Cost(requests=1, credits=1),
        per_game=Cost(requests=1, credits=10 * markets * regions),
        basis=(
            f"{markets} markets x {regions} region(s); "
            "10 x markets x regions per event-odds call, 1 per events call"
        ),
    )


def list_events(
    fetch: Fetch, source: SourceConfig, partition: date, snapshot: datetime | None
) -> pl.DataFrame:
    """The partition's events (live, or as of a snapshot), landed like every response."""
    options = Options.model_validate(source.options)
    start, end = slate_window(partition)
    prefix = _prefix(options, snapshot)
    suffix = "_history" if snapshot is not None else ""
    at = (("date", iso_z(snapshot)),) if snapshot is not None else ()
    listing = fetch.get(
        Call(
            f"events{suffix}",
            "events",
            f"{prefix}/events",
            (
                ("commenceTimeFrom", iso_z(start)),
                ("commenceTimeTo", iso_z(end)),
                ("dateFormat", "iso"),
                *at,
            ),
        )
    )
    if listing.deferred:
        return pl.DataFrame(schema=EVENT_COLUMNS)
    if not listing.landed:
        raise SourceFailed(_error("events", listing))
    return parse_events(listing.body).filter(
        (pl.col("commence_time") >= start) & (pl.col("commence_time") < end)
    )


def _prefix(options: Options, snapshot: datetime | None) -> str:
    if snapshot is not None:
        return f"/v4/historical/sports/{options.sport}"
    return f"/v4/sports/{options.sport}"


def scrape(fetch: Fetch, source: SourceConfig, partition: date, snapshot: datetime | None) -> None:
    """Events of the partition, then one event-odds call per event (live, or at a snapshot)."""
    options = Options.model_validate(source.options)
    prefix = _prefix(options, snapshot)
    suffix = "_history" if snapshot is not None else ""
    at = (("date", iso_z(snapshot)),) if snapshot is not None else ()
    events = list_events(fetch, source, partition, snapshot)
    if events.is_empty():
        fetch.note("no events" + (f" at snapshot {iso_z(snapshot)}" if snapshot else ""))
        return
    query = (
        ("regions", options.regions),
        ("markets", ",".join(source.markets)),
        ("oddsFormat", options.odds_format),
        ("dateFormat", "iso"),
        *at,
    )
    calls = [
        Call(f"player_props{suffix}", event_id, f"{prefix}/events/{event_id}/odds", query)
        for event_id in events["event_id"].to_list()
    ]
    for fetched in fetch.get_many(calls):
        if fetched.landed or fetched.deferred:
            continue
        if fetched.status == 404:
            fetch.note(f"event {fetched.call.stem}: not found (started or removed)")
            continue
        raise SourceFailed(_error(f"event {fetched.call.stem} odds", fetched))


def _error(what: str, fetched: Fetched) -> str:
    """One line from an Odds API error body: status, error_code and message."""
    try:
        body = json.loads(fetched.body)
        detail = f"{body.get('error_code', '?')}: {body.get('message', '')}".strip()
    except (ValueError, AttributeError, RecursionError):
        detail = fetched.body[:120].decode("utf-8", "replace")
    return f"odds_api {what}: HTTP {fetched.status} {detail}"
