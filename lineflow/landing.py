"""The landing zone: every response body as received, written once, under a fixed layout.

    {root}/{source}/{endpoint}/{slate_date}/{pass_id}/{stem}.json

`pass_id` is `live-YYYYMMDDTHHMMSSZ` or `history-YYYYMMDDTHHMMSSZ` (UTC). A file put there by
hand in this layout is picked up by the next run of its partition.

`Landing` is the protocol every stage uses; `LandingZone` keeps it on a local disk and
`lineflow.landing_gcs.GcsLanding` in a bucket (`landing.url=gs://BUCKET/PREFIX`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lineflow.errors import ConfigError, LineflowError

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


if TYPE_CHECKING:
    from lineflow.config import LandingConfig


def open_landing(config: LandingConfig) -> Landing:
    """The bucket when `landing.url` is set, else the local directory `landing.root`."""
    if config.url:
        try:
            from lineflow.landing_gcs import GcsLanding
        except ImportError:
            raise ConfigError(
                "landing.url: a bucket needs gcsfs (pip install 'lineflow[prod]')"
            ) from None

        return GcsLanding(config.url)
    return LandingZone(config.root)


class LandingZone:
    """The landing zone on a local disk (or any POSIX mount)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, where: LandingPath, body: bytes, meta: dict[str, Any] | None = None) -> str:
        """Write `body` at `where` once; return its file id. Same bytes again is a no-op.

        `meta` (how the body was fetched: masked URL, status, time) goes to a hidden sidecar
        before the body appears, so a run killed between landing and its manifest row leaves
        what the next run needs to write that row exactly as the first would have.
        """
        target = self.root / str(where)
        fid = file_id(body)
        if target.exists():
            if file_id(target.read_bytes()) != fid:
                raise LandingConflict(f"{where}: a different body already landed there")
            return fid
        target.parent.mkdir(parents=True, exist_ok=True)
        if meta is not None:
            side = self._meta_path(where)
            side_tmp = side.with_name(f"{side.name}.{os.getpid()}.tmp")
            side_tmp.write_text(json.dumps(meta, default=str))
            os.replace(side_tmp, side)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(body)
        try:
            os.link(tmp, target)  # atomic create-if-absent: a reader never sees half a file
        except FileExistsError:
            if file_id(target.read_bytes()) != fid:
                raise LandingConflict(f"{where}: a different body already landed there") from None
        finally:
            tmp.unlink(missing_ok=True)
        return fid

    def _meta_path(self, where: LandingPath) -> Path:
        target = self.root / str(where)
        return target.with_name(f".{target.name}.meta")

    def read_meta(self, where: LandingPath) -> dict[str, Any] | None:
        """The sidecar written with a body, or None (a file put there by hand has none)."""
        try:
            meta: dict[str, Any] = json.loads(self._meta_path(where).read_text())
        except (OSError, ValueError):
            return None
        return meta

    def read(self, where: LandingPath | str) -> bytes:
        return (self.root / str(where)).read_bytes()

    def exists(self, where: LandingPath) -> bool:
        return (self.root / str(where)).is_file()

    def discover(self, source: str, slate_date: date) -> Iterator[LandingPath]:
        """Every file of a source's partition on disk that follows the layout."""
        base = self.root / source
        if not base.is_dir():
            return
        for path in sorted(base.glob(f"*/{slate_date}/*/*.json")):
            try:
                yield LandingPath.parse(path.relative_to(self.root).as_posix())
            except ValueError:
                continue
