"""Recorded HTTP interactions: one gzip-compressed JSON cassette per (source, partition, pass).

The layout of an interaction follows VCR.py's (request method/uri; response status, headers,
body string), so the files read like any other cassette. URIs are stored relative to the
source's base URL, with secrets masked, so a cassette recorded against the stand-in provider
replays against the configured production host. A request that went through a proxy pool
carries `via` (the pool's name, never its address or credentials), so a replay walks the
proxy chain exactly as it was recorded; no `via` means direct.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import threading
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

FORMAT_VERSION = 1
#: Response headers worth keeping: the rest is noise that bloats fixtures.
KEPT_HEADERS = frozenset(
    {
        "content-type",
        "date",
        "retry-after",
        "x-requests-remaining",
        "x-requests-used",
        "x-requests-last",
    }
)


@dataclass(frozen=True)
class Recorded:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes


DIRECT = "direct"


def request_key(
    method: str, uri: str, via: str = DIRECT
) -> tuple[str, str, tuple[tuple[str, str], ...], str]:
    """What a replayed request must match: method, path, the query as a sorted multiset, link."""
    parts = urlsplit(uri)
    query = tuple(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    return method.upper(), parts.path, query, via


class Cassette:
    """Interactions of one scrape pass. Identical requests replay in the order recorded."""

    def __init__(self, path: Path, interactions: list[dict] | None = None) -> None:
        self.path = path
        self._interactions = interactions or []
        self._played: defaultdict[tuple, int] = defaultdict(int)
        self._lock = threading.Lock()
        self.dirty = False

    @classmethod
    def load(cls, path: Path) -> Cassette:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            data = json.load(fh)
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"{path}: unsupported cassette version {data.get('version')!r}")
        return cls(path, data["interactions"])

    def __len__(self) -> int:
        return len(self._interactions)

    def play(self, method: str, uri: str, via: str = DIRECT) -> Recorded | None:
        key = request_key(method, uri, via)
        with self._lock:
            matches = [
                i
                for i in self._interactions
                if request_key(
                    i["request"]["method"], i["request"]["uri"], i["request"].get("via", DIRECT)
                )
                == key
            ]
            if not matches:
                return None
            index = self._played[key]
            # Past the recorded sequence, the last answer stands (a rerun of the same pass).
            interaction = matches[min(index, len(matches) - 1)]
            self._played[key] += 1
        response = interaction["response"]
        body = response["body"]
        raw = base64.b64decode(body["base64"]) if "base64" in body else body["string"].encode()
        headers = {k: v[0] for k, v in response["headers"].items() if v}
        return Recorded(response["status"]["code"], response["status"]["message"], headers, raw)

    def record(self, method: str, uri: str, recorded: Recorded, via: str = DIRECT) -> None:
        try:
            body: dict[str, str] = {"string": recorded.body.decode("utf-8")}
        except UnicodeDecodeError:
            body = {"base64": base64.b64encode(recorded.body).decode()}
        headers = {k.lower(): [v] for k, v in recorded.headers.items() if k.lower() in KEPT_HEADERS}
        request = {"method": method.upper(), "uri": uri}
        if via != DIRECT:
            request["via"] = via
        interaction = {
            "request": request,
            "response": {
                "status": {"code": recorded.status, "message": recorded.reason},
                "headers": headers,
                "body": body,
            },
        }
        with self._lock:
            self._interactions.append(interaction)
            self.dirty = True

    def save(self) -> None:
        """Write atomically: a crash mid-save leaves the previous cassette intact."""
        if not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        payload = {"version": FORMAT_VERSION, "interactions": self._interactions}
        with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
            fh.write(json.dumps(payload, indent=None, separators=(",", ":")).encode())
        os.replace(tmp, self.path)
        self.dirty = False
