"""`LandingZone`: the landing zone on a local disk (or any POSIX mount)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from lineflow.landing.base import LandingConflict, LandingPath, aside_name, file_id


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

    def read_meta(self, where: LandingPath | str) -> Any:
        """The sidecar written with a body, or None (a file put there by hand has none)."""
        directory, _, name = f"{self.root}/{where}".rpartition("/")
        try:
            meta: Any = json.loads(_read(f"{directory}/.{name}.meta"))
        except (OSError, ValueError):
            return None
        return meta

    def read(self, where: LandingPath | str) -> bytes:
        return _read(f"{self.root}/{where}")

    def set_aside(self, where: LandingPath, at: datetime) -> str:
        target = self.root / str(where)
        n = 0
        while (aside := target.with_name(aside_name(where, at, n))).exists():
            n += 1  # never replace an earlier one set aside the same second
        os.rename(target, aside)
        return aside.name

    def exists(self, where: LandingPath) -> bool:
        return (self.root / str(where)).is_file()

    def discover(self, source: str, slate_date: date) -> Iterator[LandingPath]:
        """Every file of a source's partition on disk that follows the layout, in path order.

        Walked as text (`source/*/date/*/*.json`, what `Path.glob` matched): globbing `Path`s
        and making each relative cost 2.6 ms for a partition's 240 files, strings 0.9 ms
        (docs/benchmarks.md). Layout names sort as text the way their paths sort."""
        found = []
        day = str(slate_date)
        base = f"{self.root}/{source}"
        for endpoint in _entries(base, dirs=True):
            for pass_id in _entries(f"{base}/{endpoint}/{day}", dirs=True):
                for name in _entries(f"{base}/{endpoint}/{day}/{pass_id}", dirs=False):
                    if name.endswith(".json"):
                        found.append(f"{source}/{endpoint}/{day}/{pass_id}/{name}")
        for relative in sorted(found):
            try:
                yield LandingPath.parse(relative)
            except ValueError:
                continue


def _entries(folder: str, *, dirs: bool) -> list[str]:
    """The names in `folder` (only its folders, with `dirs`); none when it is not a readable
    folder."""
    try:
        with os.scandir(folder) as entries:
            return [e.name for e in entries if not dirs or e.is_dir()]
    except OSError:  # absent, not a folder, unreadable: nothing of the partition there
        return []


def _read(path: str) -> bytes:
    """The whole file at `path`, through the os module: a parse worker reads every file of a
    season, and pathlib's objects and buffered file took as long as the reads themselves
    (23 us a file against 10 us, docs/benchmarks.md). One read of the file's size (and a byte
    more, so that a file that grew is read to its end), then reads until end of file (a mount
    may answer a read in parts). A directory raises IsADirectoryError, as `open` does."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        body = os.read(fd, os.fstat(fd).st_size + 1)
        more = os.read(fd, 1 << 16) if body else b""
        if not more:
            return body
        parts = [body, more]
        while more := os.read(fd, 1 << 20):
            parts.append(more)
        return b"".join(parts)
    finally:
        os.close(fd)
