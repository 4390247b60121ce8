"""The landing zone's layout, file ids, passes and the `Landing` protocol every stage uses."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from lineflow.core.errors import ConfigError, LineflowError, ParseError


def split_bucket_url(url: str) -> tuple[str, str]:
    """`gs://BUCKET[/PREFIX]` as (BUCKET, PREFIX without slashes at either end)."""
    if not url.startswith("gs://") or len(url) <= len("gs://"):
        raise ConfigError(f"landing.url: expected gs://BUCKET[/PREFIX], got {url!r}")
    bucket, _, prefix = url[len("gs://") :].partition("/")
    if not bucket:
        raise ConfigError(f"landing.url: expected gs://BUCKET[/PREFIX], got {url!r}")
    return bucket, prefix.strip("/")


PASS_RE = re.compile(r"^(live|history)-(\d{8}T\d{6}Z)$")
LAYOUT_RE = re.compile(
    r"^(?P<source>[a-z0-9_]+)/(?P<endpoint>[a-z0-9_]+)/(?P<slate_date>\d{4}-\d{2}-\d{2})/"
    r"(?P<pass_id>(?:live|history)-\d{8}T\d{6}Z)/(?P<stem>[A-Za-z0-9_.-]+)\.json$"
)


class LandingConflict(LineflowError):
    """A different body already sits at a path: landed files are never overwritten."""


class BadSidecar(ParseError):
    """A sidecar that does not say how its body was fetched: permanent for that file."""


@dataclass(frozen=True)
class Sidecar:
    """How a landed body was fetched, from its sidecar (or its pass, for a file without one)."""

    url: str | None
    http_status: int | None
    fetched_at: datetime


def check_sidecar(meta: Any, where: LandingPath) -> Sidecar:
    """A sidecar's content checked: an object with an ISO `fetched_at`, an optional string
    `url` and integer `http_status`; None (no sidecar) dates the body by its pass. Anything
    else raises BadSidecar naming the file and the fault (the sidecar may be hand-edited or
    synced from elsewhere; it must not stop the partition)."""
    if meta is None:
        return Sidecar(None, None, pass_time(where.pass_id))
    what = f"{where}: sidecar"
    if not isinstance(meta, dict):
        raise BadSidecar(f"{what} is not a JSON object")
    url, status, at = meta.get("url"), meta.get("http_status"), meta.get("fetched_at")
    if url is not None and not isinstance(url, str):
        raise BadSidecar(f"{what}: url is not a string")
    if status is not None and (type(status) is not int):
        raise BadSidecar(f"{what}: http_status is not an integer")
    if at is None:
        return Sidecar(url, status, pass_time(where.pass_id))
    try:
        moment = datetime.fromisoformat(at)
    except (TypeError, ValueError):
        raise BadSidecar(f"{what}: fetched_at {str(at)[:40]!r} is not an ISO time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return Sidecar(url, status, moment)


def aside_name(where: LandingPath, at: datetime, n: int = 0) -> str:
    """The name a corrupt file is set aside under: outside the layout (not `*.json`)."""
    suffix = f"-{n}" if n else ""
    return f"{where.stem}.json.corrupt-{at.astimezone(UTC):%Y%m%dT%H%M%SZ}{suffix}"


def file_id(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def pass_id(kind: str, at: datetime) -> str:
    return f"{kind}-{at.astimezone(UTC):%Y%m%dT%H%M%SZ}"


@functools.lru_cache(maxsize=256)
def pass_time(pid: str) -> datetime:
    """The time a pass id names (cached: a partition's files share a few passes, and
    `strptime` cost a restored file more than hashing it)."""
    match = PASS_RE.fullmatch(pid)
    if not match:
        raise ValueError(f"not a pass id: {pid!r}")
    return datetime.strptime(match[2], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


@dataclass(frozen=True)
class LandingPath:
    source: str
    endpoint: str
    slate_date: date
    pass_id: str
    stem: str

    def __str__(self) -> str:
        return f"{self.source}/{self.endpoint}/{self.slate_date}/{self.pass_id}/{self.stem}.json"

    @classmethod
    def parse(cls, relative: str) -> LandingPath:
        match = LAYOUT_RE.fullmatch(relative)  # whole name: `$` let "...json\n" through
        if not match:
            raise ValueError(f"{relative!r} does not follow the landing layout")
        return cls(
            match["source"],
            match["endpoint"],
            date.fromisoformat(match["slate_date"]),
            match["pass_id"],
            match["stem"],
        )


class Landing(Protocol):
    """Where raw bodies land: written once, read back, found again by partition."""

    def write(self, where: LandingPath, body: bytes, meta: dict[str, Any] | None = None) -> str:
        """Write `body` at `where` once; return its file id. Same bytes again is a no-op;
        different bytes raise `LandingConflict`. `meta` (how it was fetched) lands first, in a
        hidden sidecar, so a run killed before its manifest row loses nothing."""
        ...

    def read_meta(self, where: LandingPath | str) -> Any:
        """The sidecar written with a body as decoded JSON (check it with `check_sidecar`), or
        None (files put there by hand have none)."""
        ...

    def read(self, where: LandingPath | str) -> bytes: ...

    def set_aside(self, where: LandingPath, at: datetime) -> str:
        """Move the file at `where` out of the layout (`NAME.json.corrupt-YYYYMMDDTHHMMSSZ`,
        beside it) so that a new body can land there; return the new name. For a corrupt file
        only: nothing reads it again, and it is kept for whoever wants to know what it was."""
        ...

    def exists(self, where: LandingPath) -> bool: ...

    def discover(self, source: str, slate_date: date) -> Iterator[LandingPath]:
        """Every file of a source's partition that follows the layout."""
        ...
