"""What a trigger message may say, validated with pydantic; and the work it names.

Accepted bodies: a Pub/Sub push envelope `{message: {data: <base64 JSON>, messageId,
publishTime, attributes}, subscription, deliveryAttempt}`, or the JSON payload itself. Payloads
(domain.md, "Trigger messages"):

- storage notification `{bucket, name}`: an object landed; `name` follows the landing layout
- scraper completion `{scraper_name, gcs_path, ...}`: `gcs_path` is `gs://bucket/<landing path>`
- processor request `{processor, date}`: run one stage (`process` or `process:odds_api`) for a
  date `YYYY-MM-DD`, `today` or `yesterday` (US/Eastern, at the message's publish time)

Everything here is pure: bytes in, a `Message` and a `Work` out, or `Malformed` with the reason.
Every pattern is matched against the whole value (`fullmatch`): `$` also matches before a
trailing newline, which let "name.json\n" through.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from lineflow.config import Settings, partition_date
from lineflow.core.errors import LineflowError, PermanentError
from lineflow.landing import LandingPath
from lineflow.landing.base import split_bucket_url

BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")
GCS_PATH_RE = re.compile(r"gs://(?P<bucket>[^/\s]+)/(?P<name>\S+)")
PROCESSOR_RE = re.compile(r"(?P<stage>[a-z_]+)(?::(?P<source>[a-z0-9_]+))?")


class Malformed(PermanentError):
    """A message that can never succeed, with the reason (it is dead-lettered at once)."""


class Ignored(LineflowError):
    """A notification of an object lineflow writes beside a landed file (a sidecar
    `.NAME.json.meta`, a set-aside `NAME.json.corrupt-...`): acknowledged, nothing to run.
    A bucket landing zone notifies of those as of every other object it holds."""


#: Objects the landing zone writes beside landed files (lineflow.landing.base.aside_name,
#: the gcs and local zones' sidecars).
COMPANION_RE = re.compile(r"(?:.*/)?(?:\.[^/]+\.json\.meta|[^/]+\.json\.corrupt-[^/]+)")


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class PushMessage(_Shape):
    data: str
    messageId: str = Field(min_length=1)
    publishTime: dt.datetime | None = None
    attributes: dict[str, str] = {}
    deliveryAttempt: int | None = None


class PushEnvelope(_Shape):
    message: PushMessage
    subscription: str | None = None
    deliveryAttempt: int | None = None


def _landing_name(name: str) -> str:
    try:
        LandingPath.parse(name)
    except ValueError:
        raise ValueError(
            f"{name!r} does not follow the landing layout "
            "{source}/{endpoint}/{YYYY-MM-DD}/{live|history}-{YYYYMMDDTHHMMSSZ}/{stem}.json"
        ) from None
    return name


class StorageNotification(_Shape):
    bucket: str
    name: str

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if not BUCKET_RE.fullmatch(value):
            raise ValueError(f"not a bucket name: {value!r}")
        return value


class ScraperCompletion(_Shape):
    scraper_name: str
    gcs_path: str
    execution_id: str | None = None
    status: str | None = None
    record_count: int | None = None

    @field_validator("gcs_path")
    @classmethod
    def _gcs_path(cls, value: str) -> str:
        match = GCS_PATH_RE.fullmatch(value)
        if not match or not BUCKET_RE.fullmatch(match["bucket"]):
            raise ValueError(f"not gs://bucket/object: {value!r}")
        return value

    @property
    def bucket(self) -> str:
        match = GCS_PATH_RE.fullmatch(self.gcs_path)
        assert match is not None
        return match["bucket"]

    @property
    def name(self) -> str:
        match = GCS_PATH_RE.fullmatch(self.gcs_path)
        assert match is not None
        return match["name"]


class ProcessorRequest(_Shape):
    processor: str
    date: dt.date

    @field_validator("processor")
    @classmethod
    def _processor(cls, value: str) -> str:
        if not PROCESSOR_RE.fullmatch(value):
            raise ValueError(f"expected STAGE or STAGE:SOURCE, got {value!r}")
        return value

    @field_validator("date", mode="before")
    @classmethod
    def _date(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            raise ValueError(f"expected YYYY-MM-DD, today or yesterday, got {value!r}")
        now = (info.context or {}).get("now")
        # `run date=`'s check: a date it refuses is malformed; `today` is the Eastern date at `now`
        return partition_date(value, now)


@dataclass(frozen=True)
class Message:
    """One received message: its id (for dedup), when it was published, and its payload."""

    id: str
    published_at: dt.datetime | None
    delivery_attempt: int
    payload: dict[str, Any]


@dataclass(frozen=True)
class Work:
    """What a message asks for: these stages of this pipeline over one partition."""

    partition: dt.date
    stages: tuple[str, ...]
    only: tuple[str, ...] | None
    what: str = field(compare=False)
    #: The landing path a file notification names (it must exist before the work runs). Not
    #: part of the work's identity: notifications of files of one partition share their runs.
    landed: str | None = field(default=None, compare=False)


def body_key(body: bytes) -> str:
    """An id for a body that carries none (dedup of identical malformed deliveries)."""
    return "sha256:" + hashlib.sha256(body).hexdigest()[:32]


def envelope_id(body: bytes) -> str | None:
    """The messageId of a body that looks like an envelope, even when the rest is malformed."""
    try:
        raw = json.loads(body)
        mid = raw["message"]["messageId"]
    except (ValueError, TypeError, KeyError, RecursionError):
        return None
    return mid if isinstance(mid, str) and mid else None


def read_message(body: bytes, header_id: str | None = None) -> Message:
    """Decode a push envelope or a plain JSON payload; raise `Malformed` with the reason."""
    try:
        raw = json.loads(body)
    except ValueError as exc:
        raise Malformed(f"body is not JSON: {exc}") from None
    except RecursionError:  # nested past the decoder's depth: as malformed as any other
        raise Malformed("body is not JSON: nested too deeply") from None
    if not isinstance(raw, dict):
        raise Malformed(f"body is a JSON {type(raw).__name__}, expected an object")
    if "message" not in raw:
        return Message(header_id or body_key(body), None, 1, raw)
    try:
        envelope = PushEnvelope.model_validate(raw)
    except ValidationError as exc:
        raise Malformed(f"push envelope: {_first_error(exc)}") from None
    msg = envelope.message
    try:
        decoded = json.loads(base64.b64decode(msg.data, validate=True))
    except (binascii.Error, ValueError, RecursionError):
        raise Malformed("message.data is not base64-encoded JSON") from None
    if not isinstance(decoded, dict):
        raise Malformed(f"message.data holds a JSON {type(decoded).__name__}, expected an object")
    published = msg.publishTime
    if published is not None and published.tzinfo is None:
        published = published.replace(tzinfo=dt.UTC)
    attempt = envelope.deliveryAttempt or msg.deliveryAttempt or 1
    return Message(msg.messageId, published, attempt, decoded)


def to_work(payload: dict[str, Any], settings: Settings, now: dt.datetime | None = None) -> Work:
    """The work a payload names, checked against the configured pipeline and sources.

    A processor request's `date` may be `today` or `yesterday`: the US/Eastern date at `now`
    (the handler passes the message's publish time, else its receipt; default the wall clock),
    resolved here so the work, its locks and its records carry the real date."""
    shape: type[_Shape]
    if "processor" in payload:
        shape = ProcessorRequest
    elif "gcs_path" in payload:
        shape = ScraperCompletion
    elif "bucket" in payload or "name" in payload:
        shape = StorageNotification
    else:
        keys = ", ".join(sorted(payload)) or "none"
        raise Malformed(
            f"payload matches no trigger shape ({{bucket, name}}, {{scraper_name, gcs_path}}, "
            f"{{processor, date}}); keys: {keys}"
        )
    try:
        parsed = shape.model_validate(payload, context={"now": now})
    except ValidationError as exc:
        raise Malformed(f"{shape.__name__}: {_first_error(exc)}") from None
    if isinstance(parsed, ProcessorRequest):
        return _processor_work(parsed, settings)
    assert isinstance(parsed, StorageNotification | ScraperCompletion)
    relative = landed_name(parsed.bucket, parsed.name, settings)
    if COMPANION_RE.fullmatch(relative):
        raise Ignored(f"{relative}: written beside a landed file by the landing zone, not one")
    try:
        where = LandingPath.parse(_landing_name(relative))
    except ValueError as exc:
        raise Malformed(f"{shape.__name__}: name: {exc}") from None
    try:
        partition_date(where.slate_date)
    except ValueError as exc:
        raise Malformed(f"landed file {parsed.name!r}: {exc}") from None
    if where.source not in settings.sources:
        raise Malformed(f"landed file {parsed.name!r}: unknown source {where.source!r}")
    stages = tuple(s for s in settings.triggers.file_stages if s in settings.pipeline.stages)
    return Work(where.slate_date, stages, (where.source,), f"landed {where}", str(where))


def landed_name(bucket: str, name: str, settings: Settings) -> str:
    """The landing path a notified object names, relative to the configured landing zone.

    With a bucket landing zone (`landing.url=gs://BUCKET/PREFIX`) the object must be in that
    bucket under PREFIX, and its name in the bucket carries PREFIX: it is taken off. With a local
    zone the name is already relative to `landing.root` (a scraper outside lineflow names the
    layout path, whichever bucket it wrote to), as before.
    """
    if not settings.landing.url:
        return name
    ours, prefix = split_bucket_url(settings.landing.url)
    where = f"gs://{bucket}/{name}"
    if bucket != ours:
        raise Malformed(f"{where} is not in the landing bucket {settings.landing.url}")
    if not prefix:
        return name
    if not name.startswith(prefix + "/"):
        raise Malformed(f"{where} is not under the landing zone {settings.landing.url}")
    return name[len(prefix) + 1 :]


def _processor_work(request: ProcessorRequest, settings: Settings) -> Work:
    match = PROCESSOR_RE.fullmatch(request.processor)
    assert match is not None
    stage, source = match["stage"], match["source"]
    if stage not in settings.pipeline.stages:
        known = ", ".join(settings.pipeline.stages)
        raise Malformed(f"processor {request.processor!r}: unknown stage {stage!r} ({known})")
    if source is not None and source not in settings.sources:
        raise Malformed(f"processor {request.processor!r}: unknown source {source!r}")
    only = (source,) if source else None
    return Work(request.date, (stage,), only, f"{request.processor} for {request.date}")


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "body"
    msg = str(err["msg"]).removeprefix("Value error, ")
    return f"{where}: {msg}"
