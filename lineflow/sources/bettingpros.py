"""BettingPros v3: parsers from response bodies to canonical frames.

Parsers are pure (bytes in, polars frame out). Decoding walks the JSON once to build flat
columns; filters and conversions are polars expressions over whole columns. BettingPros
answers outages with HTTP 200 and a sentinel body; those raise `ProviderOutage`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, TypeVar

import msgspec
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from lineflow.config import SourceConfig
from lineflow.core.names import with_player_key
from lineflow.core.odds import american_to_decimal, implied_probability
from lineflow.core.schema import UTC_TS
from lineflow.core.slate import EASTERN
from lineflow.sources.base import (
    EVENT_COLUMNS,
    Call,
    Fetch,
    Fetched,
    FileMeta,
    Flat,
    Int,
    Number,
    ParseContext,
    ParsedBatch,
    ParseError,
    ProviderOutage,
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
)

#: Book 0 is the BettingPros consensus line, not a bookmaker.
CONSENSUS_BOOK_ID = "0"
#: BettingPros timestamps: "2026-06-01 22:40:00", no zone, UTC.
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"

_Column = TypeVar("_Column", pl.Series, pl.Expr)

_EVENTS = "bettingpros events"
_OFFERS = "bettingpros offers"
_PAGE = "bettingpros page"
_LIST_KEYS = ("offers", "props", "events")


# --- parsers -------------------------------------------------------------------------------


def parse_events(body: bytes) -> pl.DataFrame:
    """`{"events": [...]}` -> one row per event, `EVENT_COLUMNS`, teams as "City Name"."""
    doc = decode_json(body, _EVENTS)
    events = _page_items(doc, "events", _EVENTS, outage=ParseError)
    ids: list[Any] = []
    scheduled: list[Any] = []
    home: list[Any] = []
    away: list[Any] = []
    for i, event in enumerate(events):
        if "id" not in event:
            raise ParseError(f"{_EVENTS}: item {i} has no 'id'")
        teams = _team_names(event.get("participants"))
        ids.append(event["id"])
        scheduled.append(event.get("scheduled"))
        home.append(teams.get(str(event.get("home")), event.get("home")))
        away.append(teams.get(str(event.get("visitor")), event.get("visitor")))  # away = visitor
    raw_scheduled = column(scheduled, pl.String())
    commence = _parse_utc(raw_scheduled)
    unreadable = raw_scheduled.filter(commence.is_null() & raw_scheduled.is_not_null())
    if len(unreadable) > 0:
        raise ParseError(
            one_line(f"{_EVENTS}: scheduled {unreadable[0]!r} is not '{TIMESTAMP_FORMAT}'")
        )
    frame = pl.DataFrame(
        {
            "event_id": column(ids, pl.String()),
            "commence_time": commence,
            "home_team": column(home, pl.String()),
            "away_team": column(away, pl.String()),
        }
    )
    return frame.select(pl.col(name).cast(dtype) for name, dtype in EVENT_COLUMNS.items())


def parse_offers(body: bytes, meta: FileMeta, ctx: ParseContext) -> pl.DataFrame:
    """One `/v3/offers` page -> prop lines, `PARSED_COLUMNS`.

    offers -> selections (over/under) -> books -> lines. Skips the consensus book, pulled or
    replaced lines and inactive offers or selections. Teams and commence time come from
    `ctx.events`; an unknown event leaves them null and the slate falls back to `meta`.
    """
    return parse_one(parse_offers_batch, body, meta, ctx)


def parse_offers_batch(items: Sequence[tuple[bytes, FileMeta]], ctx: ParseContext) -> ParsedBatch:
    """Many offers pages at once: each walked on its own, then one polars pass over all."""
    return offers_batch(items, ctx, _TYPED)


def offers_batch(
    items: Sequence[tuple[bytes, FileMeta]], ctx: ParseContext, typed: Typed | None
) -> ParsedBatch:
    """`parse_offers_batch` with the pages its `typed` reading takes walked that way (None:
    every page the general way, which the tests hold the typed way's rows to)."""
    return parse_batch(
        items,
        ctx,
        flatten=_flatten_page,
        row_schema=_LINE_SCHEMA,
        file_schema=_FILE_SCHEMA,
        finish=_finish_offers,
        typed=typed,
    )


def _flatten_page(body: bytes, meta: FileMeta) -> Flat:
    doc = decode_json(body, _OFFERS)
    key = "props" if isinstance(doc, dict) and "props" in doc and "offers" not in doc else "offers"
    offers = _page_items(doc, key, _OFFERS)
    if key == "props" and offers:
        raise ParseError(f"{_OFFERS}: body is a /v3/props page ('props'), not offers")
    return Flat(_flatten_offers(offers), _page_file(meta))


def _page_file(meta: FileMeta) -> dict[str, Any]:
    """A page's `_FILE_SCHEMA` values."""
    return {
        "meta_slate_date": meta.slate_date,
        "source": meta.source,
        "snapshot_at": as_utc(meta.fetched_at),
    }


def _finish_offers(rows: pl.DataFrame, ctx: ParseContext) -> pl.DataFrame:
    price_american = pl.col("cost").round().cast(pl.Int32, strict=False)
    price_decimal = american_to_decimal(price_american)
    lines = (
        rows.lazy()
        .with_columns(side=pl.col("selection").str.to_lowercase())
        .filter(_is_live_line())
        .join(_event_lookup(ctx.events), on="event_id", how="left", maintain_order="left")
    )
    frame = (
        with_player_key(lines)
        .select(
            pl.coalesce(
                pl.col("commence_time").dt.convert_time_zone(EASTERN.key).dt.date(),
                pl.col("meta_slate_date"),
            ).alias("slate_date"),
            "source",
            "event_id",
            "commence_time",
            "home_team",
            "away_team",
            pl.col("book_id")
            .replace_strict(
                dict(ctx.books),
                default=pl.lit("bettingpros_book_") + pl.col("book_id"),
                return_dtype=pl.String,
            )
            .alias("bookmaker"),
            pl.col("market_id").replace(dict(ctx.markets)).alias("market"),
            "player_name",
            "player_key",
            "side",
            "line",
            price_american.alias("price_american"),
            price_decimal.alias("price_decimal"),
            implied_probability(price_decimal).alias("implied_prob"),
            pl.col("main").alias("is_main_line"),
            _parse_utc(pl.col("updated")).alias("last_update"),
            "snapshot_at",
            "file_idx",
        )
        .collect()
    )
    return as_parsed(frame)


def pagination(body: bytes) -> tuple[int, int, int]:
    """(page, total_pages, total_items) from `_pagination`; missing -> (1, 1, items on the page)."""
    doc = decode_json(body, _PAGE)
    if not isinstance(doc, dict):
        raise ParseError(f"{_PAGE}: expected an object, got {kind_of(doc)}")
    items: list[Any] = next((doc[k] for k in _LIST_KEYS if isinstance(doc.get(k), list)), [])
    return _pagination(doc, len(items), _PAGE)


# --- rules ---------------------------------------------------------------------------------


def _is_live_line() -> pl.Expr:
    """A bookmaker's current over/under line: not consensus, pulled, replaced or inactive."""
    return (
        (pl.col("book_id") != CONSENSUS_BOOK_ID)
        & pl.col("offer_active").fill_null(True)
        & pl.col("selection_active").fill_null(True)
        & pl.col("active").fill_null(True)
        & pl.col("is_off").fill_null(False).not_()
        & pl.col("replaced").fill_null(False).not_()
        & pl.col("side").is_in(("over", "under"))
        & pl.col("line").is_not_null()
        & pl.col("player_name").is_not_null()
    )


def _event_lookup(events: pl.DataFrame | None) -> pl.LazyFrame:
    if events is None:
        return pl.LazyFrame(schema=EVENT_COLUMNS)
    return (
        events.lazy()
        .select(pl.col(name).cast(dtype) for name, dtype in EVENT_COLUMNS.items())
        .unique("event_id", keep="first", maintain_order=True)
    )


# --- decoding ------------------------------------------------------------------------------


def _page_items(
    doc: Any, key: str, what: str, outage: type[Exception] = ProviderOutage
) -> list[dict[str, Any]]:
    """The page's list under `key`, after the outage checks (providers.md §2.3).

    An outage raises `outage`: events parsers report one as a ParseError, because the
    process stage expects nothing else from them.
    """
    if not isinstance(doc, dict):
        raise ParseError(f"{what}: expected an object with '{key}', got {kind_of(doc)}")
    if key not in doc:
        if "message" in doc:  # API Gateway refusal, e.g. 403 {"message": "Forbidden"}
            raise outage(one_line(f"{what}: provider says {doc['message']!r}"))
        raise ParseError(f"{what}: expected an object with '{key}', got keys {sorted(doc)[:8]}")
    items = doc[key]
    if not isinstance(items, list):
        raise ParseError(f"{what}: '{key}' should be an array, got {kind_of(items)}")
    page, total_pages, total_items = _pagination(doc, len(items), what)
    sentinels = [item for item in items if isinstance(item, str)]
    if sentinels:
        raise outage(
            one_line(
                f"{what}: outage sentinel {sentinels[0]!r} in '{key}' "
                f"(page {page}, total_items {total_items})"
            )
        )
    if not items and total_items > 0 and page <= total_pages:
        raise outage(
            f"{what}: '{key}' is empty on page {page} of {total_pages} "
            f"while total_items is {total_items}"
        )
    bad = next((i for i, item in enumerate(items) if not isinstance(item, dict)), None)
    if bad is not None:
        raise ParseError(f"{what}: {key}[{bad}] is {kind_of(items[bad])}, not an object")
    return items


def _pagination(doc: dict[str, Any], n_items: int, what: str) -> tuple[int, int, int]:
    envelope = doc.get("_pagination")
    if not isinstance(envelope, dict):
        return 1, 1, n_items
    try:
        return (
            int(envelope.get("page") or 1),
            int(envelope.get("total_pages") or 1),
            int(envelope.get("total_items", n_items) or 0),
        )
    except (TypeError, ValueError, OverflowError) as exc:  # Infinity, 1e400: no page number
        raise ParseError(one_line(f"{what}: unreadable _pagination {envelope!r}")) from exc


#: The columns one offers page is walked into, one row per book line.
_LINE_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "market_id": pl.String(),
    "player_name": pl.String(),
    "offer_active": pl.Boolean(),
    "selection": pl.String(),
    "selection_active": pl.Boolean(),
    "book_id": pl.String(),
    "cost": pl.Float64(),
    "line": pl.Float64(),
    "main": pl.Boolean(),
    "updated": pl.String(),
    "active": pl.Boolean(),
    "is_off": pl.Boolean(),
    "replaced": pl.Boolean(),
}
#: Per page: what the manifest says about it.
_FILE_SCHEMA: dict[str, pl.DataType] = {
    "meta_slate_date": pl.Date(),
    "source": pl.String(),
    "snapshot_at": UTC_TS,
}


def _flatten_offers(offers: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """One pass over offers -> line columns (`_LINE_SCHEMA`), offer values repeated per line.

    Each line is one tuple of its columns' values, the tuples turned into columns at the end
    (`zip`): a book has one line, mostly, and extending fourteen lists per book and line took
    twice as long."""
    rows: list[tuple[Any, ...]] = []
    append = rows.append
    o = 0  # where we are, for the error message
    try:
        for o, offer in enumerate(offers):  # noqa: B007
            event_id, market_id = offer.get("event_id"), offer.get("market_id")
            player, offer_on = _player_name(offer), offer.get("active")
            for selection in offer["selections"]:
                side, selection_on = selection.get("selection"), selection.get("active")
                for book in selection["books"]:
                    book_lines = book["lines"]
                    len(book_lines)  # a line list that is not one fails here, as it always has
                    book_id = book.get("id")
                    for line in book_lines:
                        get = line.get
                        append(
                            (
                                event_id,
                                market_id,
                                player,
                                offer_on,
                                side,
                                selection_on,
                                book_id,
                                get("cost"),
                                get("line"),
                                get("main"),
                                get("updated"),
                                get("active"),
                                get("is_off"),
                                get("replaced"),
                            )
                        )
    except (KeyError, TypeError, AttributeError) as exc:
        detail = f"missing key {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
        raise ParseError(one_line(f"{_OFFERS}: unexpected shape in offers[{o}]: {detail}")) from exc
    return _columns(rows)


def _columns(rows: list[tuple[Any, ...]]) -> dict[str, list[Any]]:
    """Line tuples (`_LINE_SCHEMA` order) as columns."""
    columns = zip(*rows, strict=True) if rows else ([] for _ in _LINE_SCHEMA)
    return {name: list(values) for name, values in zip(_LINE_SCHEMA, columns, strict=True)}


# An offers page as it usually comes, typed (`Typed`): only the fields `_flatten_offers` reads.


class _Line(msgspec.Struct, gc=False):
    cost: Number | None = None
    line: Number | None = None
    main: bool | None = None
    updated: str | None = None
    active: bool | None = None
    is_off: bool | None = None
    replaced: bool | None = None


class _Book(msgspec.Struct, gc=False):
    lines: list[_Line]
    id: Int | str | None = None


class _Selection(msgspec.Struct, gc=False):
    books: list[_Book]
    selection: str | None = None
    active: bool | None = None


class _Participant(msgspec.Struct, gc=False):
    name: str | None = None


class _Offer(msgspec.Struct, gc=False):
    selections: list[_Selection]
    event_id: Int | str | None = None
    market_id: Int | str | None = None
    active: bool | None = None
    participants: list[_Participant] | None = None


class _Pagination(msgspec.Struct, gc=False):
    page: Int | None = None
    total_pages: Int | None = None
    total_items: Int | None = None


class _Page(msgspec.Struct, gc=False):
    offers: list[_Offer]
    pagination: _Pagination | None = msgspec.field(default=None, name="_pagination")


def _typed_page(
    page: _Page, meta: FileMeta, columns: dict[str, list[Any]]
) -> dict[str, Any] | None:
    """A typed page's lines, as `_flatten_offers` walks them, less the lines `_is_live_line`
    drops for what the walk sees: the consensus book, inactive, pulled or replaced lines and
    lines without a number (a third of a page's lines). The lines it keeps pass the tests of
    the columns only `_is_live_line` reads, so those are null. None for an empty page (an
    outage may look like one: `_page_items` judges it) or an offer without
    `participants[0].name` (`_player_name` looks further)."""
    offers = page.offers
    if not offers or not all(o.participants and o.participants[0].name for o in offers):
        return None
    event_ids, market_ids = columns["event_id"].append, columns["market_id"].append
    players, sides = columns["player_name"].append, columns["selection"].append
    book_ids, costs = columns["book_id"].append, columns["cost"].append
    numbers, mains = columns["line"].append, columns["main"].append
    updates = columns["updated"].append
    start = len(columns["line"])
    for offer in offers:
        if offer.active is False:
            continue
        event_id, market_id = offer.event_id, offer.market_id
        player = offer.participants[0].name  # type: ignore[index]
        for selection in offer.selections:
            side = selection.selection
            if side is None or selection.active is False:
                continue
            for book in selection.books:
                book_id = book.id
                if book_id is None or book_id == 0 or book_id == CONSENSUS_BOOK_ID:
                    continue
                for line in book.lines:
                    if line.active is False or line.is_off or line.replaced or line.line is None:
                        continue
                    event_ids(event_id)
                    market_ids(market_id)
                    players(player)
                    sides(side)
                    book_ids(book_id)
                    costs(line.cost)
                    numbers(line.line)
                    mains(line.main)
                    updates(line.updated)
    kept = [None] * (len(columns["line"]) - start)
    for name in _FILTER_ONLY:
        columns[name] += kept
    return _page_file(meta)


#: The columns only `_is_live_line` reads.
_FILTER_ONLY = ("offer_active", "selection_active", "active", "is_off", "replaced")
_TYPED = Typed(msgspec.json.Decoder(_Page), _typed_page)


def _player_name(offer: dict[str, Any]) -> str | None:
    """`participants[0].name`, else the player's first and last name."""
    participants = offer.get("participants") or [{}]
    first = participants[0] if isinstance(participants[0], dict) else {}
    if first.get("name"):
        return str(first["name"])
    player = first.get("player") or offer.get("player") or {}
    parts = [str(player[k]) for k in ("first_name", "last_name") if player.get(k)]
    return " ".join(parts) or None


def _team_names(participants: Any) -> dict[str, str]:
    """Team abbreviation -> "City Name" (e.g. "TB" -> "Tampa Bay Rays")."""
    names: dict[str, str] = {}
    for participant in participants if isinstance(participants, list) else []:
        if not isinstance(participant, dict):
            continue
        team = participant.get("team")
        team = team if isinstance(team, dict) else {}
        city, name = team.get("city"), participant.get("name")
        if not (city and name):
            continue
        for abbreviation in (participant.get("id"), team.get("abbreviation")):
            if abbreviation:
                names.setdefault(str(abbreviation), f"{city} {name}")
    return names


# --- timestamps and messages ---------------------------------------------------------------


def _parse_utc(raw: _Column) -> _Column:
    """BettingPros "YYYY-MM-DD HH:MM:SS" (UTC) -> UTC datetime; anything else -> null."""
    return raw.str.to_datetime(TIMESTAMP_FORMAT, time_unit="us", time_zone="UTC", strict=False)


# -- request plan -----------------------------------------------------------------------------

SUPPORTS_HISTORY = False
EVENT_PARSERS = {"events": parse_events}
PROP_PARSERS = {"offers": parse_offers}
PROP_BATCH_PARSERS = {"offers": parse_offers_batch}


class Options(BaseModel):
    """`options:` of a BettingPros source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sport: str = "NBA"
    location: str = "ALL"
    page_limit: int = Field(10, ge=1, le=10)  # the API caps offers pages at 10
    max_pages: int = Field(50, ge=1)


def scrape(fetch: Fetch, source: SourceConfig, partition: date, snapshot: datetime | None) -> None:
    """The day's events, then every offers page of each market for those events."""
    options = Options.model_validate(source.options)
    listing = fetch.get(
        Call("events", "events", "/v3/events", (("sport", options.sport), ("date", str(partition))))
    )
    if listing.deferred:
        return
    if not listing.landed:
        raise SourceFailed(_error("events", listing))
    event_ids = parse_events(listing.body)["event_id"].to_list()
    if not event_ids:
        fetch.note("no events")
        return
    for market in source.markets:
        query = (
            ("sport", options.sport),
            ("market_id", market),
            ("event_id", ":".join(event_ids)),
            ("location", options.location),
            ("limit", str(options.page_limit)),
        )
        first = fetch.get(Call("offers", f"m{market}-p1", "/v3/offers", (*query, ("page", "1"))))
        if first.deferred:
            continue
        if not first.landed:
            raise SourceFailed(_error(f"offers market {market}", first))
        try:
            _, total_pages, _ = pagination(first.body)
        except ParseError as exc:
            fetch.note(f"market {market}: {exc}")
            continue
        if total_pages > options.max_pages:
            fetch.note(
                f"market {market}: {total_pages} pages, fetching the first {options.max_pages}"
            )
        rest = [
            Call("offers", f"m{market}-p{page}", "/v3/offers", (*query, ("page", str(page))))
            for page in range(2, min(total_pages, options.max_pages) + 1)
        ]
        for fetched in fetch.get_many(rest):
            if not fetched.landed and not fetched.deferred:
                raise SourceFailed(_error(f"offers {fetched.call.stem}", fetched))


def _error(what: str, fetched: Fetched) -> str:
    return (
        f"bettingpros {what}: HTTP {fetched.status} {fetched.body[:120].decode('utf-8', 'replace')}"
    )
