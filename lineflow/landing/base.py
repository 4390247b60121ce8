"""The landing zone's layout, file ids, passes and the `Landing` protocol every stage uses."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from lineflow.core.errors import LineflowError

PASS_RE = re.compile(r"^(live|history)-(\d{8}T\d{6}Z)$")
LAYOUT_RE = re.compile(
    r"^(?P<source>[a-z0-9_]+)/(?P<endpoint>[a-z0-9_]+)/(?P<slate_date>\d{4}-\d{2}-\d{2})/"
    r"(?P<pass_id>(?:live|history)-\d{8}T\d{6}Z)/(?P<stem>[A-Za-z0-9_.-]+)\.json$"
)


class LandingConflict(LineflowError):
    """A different body already sits at a path: landed files are never overwritten."""


def file_id(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def pass_id(kind: str, at: datetime) -> str:
    return f"{kind}-{at.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def pass_time(pid: str) -> datetime:
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

    def read_meta(self, where: LandingPath) -> dict[str, Any] | None:
        """The sidecar written with a body, or None (files put there by hand have none)."""
        ...

    def read(self, where: LandingPath | str) -> bytes: ...

    def exists(self, where: LandingPath) -> bool: ...

    def discover(self, source: str, slate_date: date) -> Iterator[LandingPath]:
        """Every file of a source's partition that follows the layout."""
        ...
