"""What one run is asked to do (`RunRequest`), apart from the composed configuration (`Settings`).

`Settings` is the project's configuration: where state lives, the sources, the pipeline's
default stages. A `RunRequest` is one run's parameters: the partition, the stages of this run,
the sources it is limited to, a historical snapshot, a frozen clock, whether to refresh, whether
degraded results fail the run, and an HTTP mode for this run only. Hydra composes and sweeps the
run keys with the configuration (`lineflow run -m date=a,b`), so the commands build the request
from the composed settings at the edge (`RunRequest.from_settings`); everything below them reads
run parameters from the request, never from `settings.date/only/snapshot/now/refresh/strict`.

Invariants: a request is frozen and always valid. Every way of making one (`build`,
`from_settings`, `replace`, `model_copy(update=...)`) validates, and a bad value is the same
one-line `ConfigError` a bad command-line key gives (date required, stages known, `only` names
configured sources, snapshot parsed).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from lineflow.core.errors import ConfigError

if TYPE_CHECKING:
    from lineflow.config import Settings, SourceConfig

#: The stages a pipeline can name, in the order a full run takes them (the runner maps each to
#: its function; a test holds the two equal).
STAGE_NAMES = ("scrape", "process", "validate", "consolidate", "predict", "publish")


def snapshot_instant(snapshot: str, partition: dt.date) -> dt.datetime:
    """A historical snapshot as a UTC instant: `18:00Z` is read on the partition's date, an ISO
    time as itself (UTC when it names no zone)."""
    text = snapshot.strip().upper()
    match = re.fullmatch(r"(\d{1,2}):(\d{2})Z?", text)
    if match:
        hour, minute = int(match[1]), int(match[2])
        try:
            return dt.datetime.combine(partition, dt.time(hour, minute), tzinfo=dt.UTC)
        except ValueError:
            pass  # 25:00: the same one-line error as any other bad spelling
    else:
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    raise ConfigError(f"snapshot: expected HH:MMZ or an ISO time, got {snapshot!r}")


def check_only(configured: Iterable[str], only: Iterable[str] | None) -> None:
    """`only` must name configured sources (the one-line error names the known ones)."""
    names = sorted(configured)
    unknown = sorted(set(only or ()) - set(names))
    if unknown:
        raise ConfigError(f"only: unknown source {unknown[0]!r} (known: {', '.join(names)})")


class RunRequest(BaseModel):
    """One run's parameters: which partition, which stages, which sources, at what snapshot."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    date: dt.date
    #: The stages of this run, in order: the pipeline's configured stages unless a caller (a
    #: repair, a trigger message, self-heal) asks for fewer.
    stages: tuple[str, ...]
    #: The configured source names `only` is checked against (not a run parameter itself).
    configured: tuple[str, ...] = Field(repr=False)
    only: tuple[str, ...] | None = None
    snapshot: str | None = None
    now: dt.datetime | None = None
    refresh: bool = False
    strict: bool = False
    #: This run's HTTP mode when it differs from `http.mode` (validation reads only what
    #: landed: `replay`, never asking a provider or for its secret).
    http_mode: Literal["live", "record", "replay"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _date_given(cls, values: Any) -> Any:
        if isinstance(values, dict) and values.get("date") is None:
            raise ConfigError("date: required (pass date=YYYY-MM-DD)")
        return values

    @field_validator("now")
    @classmethod
    def _utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        return value.replace(tzinfo=dt.UTC) if value and value.tzinfo is None else value

    @model_validator(mode="after")
    def _known(self) -> Self:
        unknown = [s for s in self.stages if s not in STAGE_NAMES]
        if unknown:
            raise ConfigError(
                f"pipeline.stages: unknown stage {unknown[0]!r} (known: {', '.join(STAGE_NAMES)})"
            )
        check_only(self.configured, self.only)
        if self.snapshot is not None:
            snapshot_instant(self.snapshot, self.date)
        return self

    @classmethod
    def build(cls, **values: Any) -> RunRequest:
        """A validated request; a wrong type is a one-line ConfigError naming the key."""
        try:
            return cls(**values)
        except ValidationError as exc:
            err = exc.errors()[0]
            key = ".".join(str(p) for p in err["loc"]) or "request"
            raise ConfigError(f"{key}: {err['msg'].removeprefix('Value error, ')}") from None

    @classmethod
    def from_settings(cls, settings: Settings, **changes: Any) -> RunRequest:
        """The request the composed run keys make (`date=`, `only=`, ...), with `changes` over
        them; the stages default to the pipeline's configured ones."""
        values: dict[str, Any] = {
            "date": settings.date,
            "stages": tuple(settings.pipeline.stages),
            "configured": tuple(settings.sources),
            "only": settings.only,
            "snapshot": settings.snapshot,
            "now": settings.now,
            "refresh": settings.refresh,
            "strict": settings.strict,
        }
        return cls.build(**(values | changes))

    def replace(self, **changes: Any) -> RunRequest:
        """A new request with `changes`, validated like any other."""
        return self.build(**(self.model_dump() | changes))

    def model_copy(self, *, update: Any = None, deep: bool = False) -> RunRequest:  # noqa: ARG002
        """Validated, unlike pydantic's own copy: a request is never patched unchecked."""
        return self.replace(**dict(update or {}))

    @property
    def snapshot_at(self) -> dt.datetime | None:
        """The historical snapshot as a UTC instant, or None for a live run."""
        return None if self.snapshot is None else snapshot_instant(self.snapshot, self.date)

    def active_sources(self, settings: Settings) -> list[SourceConfig]:
        """The enabled sources this run asks (all of them unless `only` names some)."""
        return [
            s
            for s in settings.sources.values()
            if s.enabled and (self.only is None or s.name in self.only)
        ]
