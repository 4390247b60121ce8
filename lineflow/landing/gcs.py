"""The landing zone in a Google Cloud Storage bucket: `landing.url=gs://BUCKET/PREFIX`.

Same layout and guarantees as the local zone. Write-once holds across machines because every
object is created with `ifGenerationMatch=0`: a second writer of the same object gets a
precondition failure from GCS, never an overwrite, and then compares bodies.

Credentials: Application Default Credentials; with `STORAGE_EMULATOR_HOST` set (an emulator),
anonymous ones.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from lineflow.landing.base import (
    LandingConflict,
    LandingPath,
    aside_name,
    file_id,
    split_bucket_url,
)

# gcsfs >= 2026.10 probes every bucket over gRPC for "zonal/HNS" support at import time unless
# told not to; against an emulator (and most buckets) that costs a minute per lookup.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

import gcsfs  # noqa: E402  (after the setting above, which gcsfs reads at import)


class GcsLanding:
    """The landing zone under `gs://BUCKET/PREFIX`, through gcsfs."""

    def __init__(self, url: str, fs: Any | None = None) -> None:
        self.bucket, self.prefix = split_bucket_url(url)
        self.url = url
        self.fs = fs if fs is not None else _filesystem()

    def _path(self, where: LandingPath | str) -> str:
        base = f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket
        return f"{base}/{where}"

    def write(self, where: LandingPath, body: bytes, meta: dict[str, Any] | None = None) -> str:
        fid = file_id(body)
        path = self._path(where)
        if meta is not None and not self.fs.exists(path):
            self.fs.pipe_file(self._meta_path(where), json.dumps(meta, default=str).encode())
        try:
            self.fs.pipe_file(path, body, mode="create")  # ifGenerationMatch=0
        except FileExistsError:  # gcsfs's name for GCS's 412 Precondition Failed
            if file_id(self.fs.cat_file(path)) != fid:
                raise LandingConflict(f"{where}: a different body already landed there") from None
        return fid

    def _meta_path(self, where: LandingPath | str) -> str:
        directory, _, name = self._path(where).rpartition("/")
        return f"{directory}/.{name}.meta"

    def read_meta(self, where: LandingPath | str) -> Any:
        try:
            meta: Any = json.loads(self.fs.cat_file(self._meta_path(where)))
        except (OSError, ValueError):
            return None
        return meta

    def read(self, where: LandingPath | str) -> bytes:
        return bytes(self.fs.cat_file(self._path(where)))

    def set_aside(self, where: LandingPath, at: datetime) -> str:
        path = self._path(where)
        n = 0
        while self.fs.exists(aside := f"{path.rsplit('/', 1)[0]}/{aside_name(where, at, n)}"):
            n += 1
        self.fs.mv(path, aside)
        return aside.rsplit("/", 1)[1]

    def exists(self, where: LandingPath) -> bool:
        return bool(self.fs.exists(self._path(where)))

    def discover(self, source: str, slate_date: date) -> Iterator[LandingPath]:
        base = self._path("")
        self.fs.invalidate_cache()  # another process may have landed files since the last look
        for path in sorted(self.fs.glob(f"{base}{source}/*/{slate_date}/*/*.json")):
            try:
                yield LandingPath.parse(str(path)[len(base) :])
            except ValueError:
                continue


def _filesystem() -> Any:
    token = "anon" if os.environ.get("STORAGE_EMULATOR_HOST") else "google_default"
    # The cache would hide objects another writer landed after our first listing.
    return gcsfs.GCSFileSystem(token=token, cache_timeout=0)
