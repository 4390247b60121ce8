"""A declarative source's request plan, run through `Fetch` like a module's `scrape`.

Requests run in order. A request with `lists: NAME` is parsed with the events mapping and the
ids of the slate's events (tip-off inside the partition's window) become `{NAME}` for later
requests with `for_each: NAME`; `for_each: market` makes one call per configured market. Fan-out
calls and the pages after a first one go out together (`fetch.get_many`, up to the source's
concurrency); cursors are followed one page at a time. Everything the HTTP layer does (landing,
replay, proxies, breakers, rate limits, quota, Blocked) is `fetch`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import polars as pl

from lineflow.config import SourceConfig
from lineflow.core.slate import iso_z, slate_window
from lineflow.sources.base import Call, Fetch, Fetched, ParseError, SourceFailed, decode_json
from lineflow.sources.declarative.spec import Cursor, Offset, PageNumber, Request, parse_path
from lineflow.sources.declarative.walk import follow

#: One listing body -> its events (`EVENT_COLUMNS`).
ListEvents = Callable[[bytes], pl.DataFrame]


class _Fields(dict[str, str]):
    """Template values; a field the spec checked but this plan lacks names itself."""

    def __missing__(self, key: str) -> str:
        raise SourceFailed(f"request template field {{{key}}} has no value in this plan")


def run_plan(
    fetch: Fetch,
    source: SourceConfig,
    plan: list[Request],
    partition: date,
    snapshot: datetime | None,
    list_events: ListEvents,
    *,
    stop_after_listing: bool = False,
) -> pl.DataFrame | None:
    """Run `plan`; returns the events the first listing request found (None without one)."""
    start, end = slate_window(partition)
    fields = _Fields(
        {
            **source.rest.vars,
            "date": str(partition),
            "window_start": iso_z(start),
            "window_end": iso_z(end),
            "snapshot": iso_z(snapshot) if snapshot is not None else "",
            "markets": ",".join(source.markets),
        }
    )
    ids: dict[str, list[str]] = {}
    listed: pl.DataFrame | None = None
    for request in plan:
        if request.for_each is None:
            values: list[dict[str, str]] = [{}]
        elif request.for_each == "market":
            values = [{"market": market} for market in source.markets]
        else:
            values = [{request.for_each: value} for value in ids.get(request.for_each, [])]
            if not values:
                continue
        calls = [_call(request, _Fields({**fields, **value})) for value in values]
        answers = _paged(fetch, request, calls, fields)
        for fetched in answers:
            _check(fetch, source, request, fetched)
        if request.lists is not None:
            landed = [f for f in answers if f.landed]
            frames = [list_events(f.body) for f in landed]
            events = pl.concat(frames) if frames else None
            if events is not None:
                events = events.filter(
                    (pl.col("commence_time") >= start) & (pl.col("commence_time") < end)
                )
                ids[request.lists] = events["event_id"].to_list()
                listed = events if listed is None else listed
            if stop_after_listing:
                return listed
            if not ids.get(request.lists):
                what = f" at snapshot {iso_z(snapshot)}" if snapshot is not None else ""
                fetch.note(f"no events{what}")
                return listed
    return listed


def _call(request: Request, fields: _Fields) -> Call:
    stem_template = request.stem or (
        "{" + request.for_each + "}" if request.for_each else request.endpoint
    )
    return Call(
        request.endpoint,
        stem_template.format_map(fields),
        request.path.format_map(fields),
        tuple((name, value.format_map(fields)) for name, value in request.query.items()),
    )


def _paged(fetch: Fetch, request: Request, calls: list[Call], fields: _Fields) -> list[Fetched]:
    """The calls' answers, every page of each when the request is paginated."""
    paging = request.paginate
    if paging is None:
        return fetch.get_many(calls)
    answers: list[Fetched] = []
    if isinstance(paging, Cursor) or (isinstance(paging, Offset) and paging.total is None):
        for call in calls:
            answers += _one_page_at_a_time(fetch, call, paging)
        return answers
    firsts = fetch.get_many([_page(call, paging, 1, None) for call in calls])
    answers += firsts
    rest: list[Call] = []
    for call, first in zip(calls, firsts, strict=True):
        if not first.landed:
            continue
        try:
            doc = decode_json(first.body, f"{call.endpoint} {call.stem}")
        except ParseError as exc:
            fetch.note(str(exc))  # the file itself fails in process
            continue
        pages = _pages(fetch, call, paging, doc)
        rest += [_page(call, paging, n, None) for n in range(2, pages + 1)]
    return answers + fetch.get_many(rest)


def _pages(fetch: Fetch, call: Call, paging: PageNumber | Offset, doc: Any) -> int:
    """How many pages the first one says there are (capped at `max_pages`, with a note)."""
    if isinstance(paging, PageNumber):
        total = _number(follow_path(doc, paging.total_pages))
        pages = total if total is not None else 1
    else:
        total = _number(follow_path(doc, paging.total)) if paging.total else None
        pages = -(-total // paging.limit) if total is not None else 1
    if pages > paging.max_pages:
        fetch.note(f"{call.stem}: {pages} pages, fetching the first {paging.max_pages}")
        pages = paging.max_pages
    return max(1, pages)


def _one_page_at_a_time(fetch: Fetch, call: Call, paging: Cursor | Offset) -> list[Fetched]:
    """Cursor pages (each names the next), or offset pages without a total (until one comes
    back short)."""
    answers: list[Fetched] = []
    cursor: str | None = None
    for n in range(1, paging.max_pages + 1):
        fetched = fetch.get(_page(call, paging, n, cursor))
        answers.append(fetched)
        if not fetched.landed:
            break
        try:
            doc = decode_json(fetched.body, call.stem)
        except ParseError as exc:
            fetch.note(str(exc))
            break
        if isinstance(paging, Offset):
            items = follow_path(doc, paging.items)
            if not isinstance(items, list) or len(items) < paging.limit:
                break
            continue
        following = follow_path(doc, paging.next)
        if following in (None, ""):
            break
        cursor = str(following)
    else:
        fetch.note(f"{call.stem}: more than {paging.max_pages} pages, fetched the first")
    return answers


def _page(call: Call, paging: PageNumber | Cursor | Offset, n: int, cursor: str | None) -> Call:
    if isinstance(paging, PageNumber):
        extra: tuple[tuple[str, str], ...] = ((paging.param, str(n)),)
    elif isinstance(paging, Offset):
        extra = (
            (paging.limit_param, str(paging.limit)),
            (paging.param, str((n - 1) * paging.limit)),
        )
    else:
        extra = () if cursor is None else ((paging.param, cursor),)
    return Call(call.endpoint, f"{call.stem}-p{n}", call.path, call.params + extra)


def follow_path(doc: Any, path: str) -> Any:
    """A paging path (`_pagination.total_pages` or `doc._pagination.total_pages`) in a body."""
    anchor, steps = parse_path(path)
    if anchor == "doc":
        return follow(doc, steps)
    return follow(doc, (("key", anchor), *steps))


def _number(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _check(fetch: Fetch, source: SourceConfig, request: Request, fetched: Fetched) -> None:
    if fetched.landed or fetched.deferred:
        return
    if fetched.status in request.skip_statuses:
        fetch.note(f"{request.endpoint} {fetched.call.stem}: HTTP {fetched.status}, passed over")
        return
    snippet = fetched.body[:120].decode("utf-8", "replace")
    raise SourceFailed(
        f"{source.name} {request.endpoint} {fetched.call.stem}: HTTP {fetched.status} {snippet}"
    )
