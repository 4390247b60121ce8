"""Compose conf/ with Hydra, then validate the result with pydantic (unknown keys forbidden)."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lineflow.errors import ConfigError

CONFIG_DIR_ENV = "LINEFLOW_CONFIG_DIR"


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthConfig(Model):
    """Where a source's secret goes. The value itself only ever lives in the environment."""

    kind: Literal["query", "header", "none"] = "none"
    name: str = ""
    env: str = ""


class SourceConfig(Model):
    """One line provider: base URL, auth, markets, books; `options` belong to its module."""

    name: str
    module: str
    enabled: bool = True
    base_url: str
    auth: AuthConfig = AuthConfig()
    headers: dict[str, str] = {}
    options: dict[str, Any] = {}
    markets: dict[str, str] = {}
    books: dict[str, str] = {}
    concurrency: int = Field(4, ge=1, le=64)
    snapshot_minutes: int = Field(15, ge=1, le=1440)
    #: After a block, later runs of the partition wait this long before asking again.
    blocked_cooldown_minutes: float = Field(30, ge=0)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"not an http(s) URL: {value!r}")
        return value.rstrip("/")


class HttpConfig(Model):
    mode: Literal["live", "record", "replay"] = "replay"
    cassettes: Path
    timeout_s: float = Field(30, gt=0)
    max_attempts: int = Field(4, ge=1, le=20)
    backoff_base_s: float = Field(0.5, ge=0)
    backoff_max_s: float = Field(15, ge=0)


class WarehouseConfig(Model):
    kind: Literal["duckdb"] = "duckdb"
    path: Path


class LandingConfig(Model):
    root: Path


class LocksConfig(Model):
    """Locks per (pipeline, stage, partition): how long they live and how long a run waits."""

    #: A lock whose holder stopped renewing is free this long after its last heartbeat.
    ttl_minutes: float = Field(default=30, gt=0)
    #: The holder renews its lock this often (must be well under the TTL).
    heartbeat_s: float = Field(default=60, gt=0)
    #: A run that finds its stage locked waits this long for the holder, then gives up.
    wait_s: float = Field(default=120, ge=0)
    #: A lock held longer than this is an alert for the health summary.
    alert_minutes: float = Field(default=15, gt=0)


class WorkConfig(Model):
    """Retries of units of work (landed files, trigger messages) before the dead-letter store."""

    max_attempts: int = Field(default=10, ge=1, le=1000)
    #: Exponential backoff between attempts: base * 2^(attempts-1), capped at max.
    backoff_base_s: float = Field(default=60, ge=0)
    backoff_max_s: float = Field(default=6 * 3600, ge=0)


class TriggersConfig(Model):
    """`lineflow serve`: where it listens and which messages it accepts."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    #: Messages published longer ago than this are dead-lettered as stale, not run.
    max_age_minutes: float = Field(default=60, gt=0)
    #: Environment variable holding the bearer token every request must carry.
    token_env: str = "LINEFLOW_TRIGGER_TOKEN"
    #: The stages a landed-file notification runs for the file's partition.
    file_stages: list[str] = ["process", "consolidate"]


class PipelineConfig(Model):
    name: str
    stages: list[str]


class Settings(Model):
    """The validated, composed configuration of one lineflow invocation."""

    env: str
    date: dt.date | None = None
    home: Path
    refresh: bool = False
    strict: bool = False
    now: dt.datetime | None = None
    snapshot: str | None = None
    only: list[str] | None = None
    http: HttpConfig
    warehouse: WarehouseConfig
    landing: LandingConfig
    pipeline: PipelineConfig
    sources: dict[str, SourceConfig]
    locks: LocksConfig = LocksConfig()
    work: WorkConfig = WorkConfig()
    triggers: TriggersConfig = TriggersConfig()

    @property
    def state_path(self) -> Path:
        """The SQLite state store shared by every lineflow process of this home."""
        return self.home / "state.sqlite"

    @field_validator("date", mode="before")
    @classmethod
    def _date(cls, value: Any) -> Any:
        if value is None or isinstance(value, dt.date):
            return value
        text = str(value)
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError(f"expected YYYY-MM-DD, got {text!r}")
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a calendar date") from None

    @field_validator("now", mode="after")
    @classmethod
    def _utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value

    @field_validator("only")
    @classmethod
    def _only(cls, value: list[str] | None) -> list[str] | None:
        return value

    def snapshot_at(self, partition: dt.date) -> dt.datetime | None:
        """The historical snapshot as a UTC instant, `18:00Z` read on the partition's date."""
        if self.snapshot is None:
            return None
        text = self.snapshot.strip().upper()
        match = re.fullmatch(r"(\d{1,2}):(\d{2})Z?", text)
        if match:
            hour, minute = int(match[1]), int(match[2])
            return dt.datetime.combine(partition, dt.time(hour, minute), tzinfo=dt.UTC)
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            message = f"snapshot: expected HH:MMZ or an ISO time, got {self.snapshot!r}"
            raise ConfigError(message) from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)

    def active_sources(self) -> list[SourceConfig]:
        if self.only is not None:
            unknown = sorted(set(self.only) - set(self.sources))
            if unknown:
                known = ", ".join(sorted(self.sources))
                raise ConfigError(f"only: unknown source {unknown[0]!r} (known: {known})")
        return [
            s
            for s in self.sources.values()
            if s.enabled and (self.only is None or s.name in self.only)
        ]


def default_config_dir() -> Path:
    """`$LINEFLOW_CONFIG_DIR`, else `./conf`, else the conf/ of the checkout lineflow runs from."""
    env = os.environ.get(CONFIG_DIR_ENV)
    if env:
        return Path(env).resolve()
    local = Path.cwd() / "conf"
    if (local / "config.yaml").is_file():
        return local.resolve()
    return (Path(__file__).resolve().parent.parent / "conf").resolve()


def compose(overrides: list[str], config_dir: Path | None = None) -> Settings:
    """Hydra-compose conf/ with command-line overrides and validate the result."""
    container = compose_raw(overrides, config_dir)
    return validate(container)


def compose_raw(overrides: list[str], config_dir: Path | None = None) -> dict[str, Any]:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    conf = (config_dir or default_config_dir()).resolve()
    if not (conf / "config.yaml").is_file():
        raise ConfigError(f"no config.yaml in {conf} (set {CONFIG_DIR_ENV} or run from a project)")
    root = str(conf.parent)
    if not OmegaConf.has_resolver("project_root"):
        OmegaConf.register_new_resolver("project_root", lambda: _project_root())
    _PROJECT_ROOT[0] = root
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
            cfg = hydra_compose(config_name="config", overrides=list(overrides))
        raw = OmegaConf.to_container(cfg, resolve=True)
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(_hydra_message(exc)) from None
    finally:
        GlobalHydra.instance().clear()
    assert isinstance(raw, dict)
    container: dict[str, Any] = {str(k): v for k, v in raw.items()}
    for name, source in (container.get("sources") or {}).items():
        if isinstance(source, dict):
            source.setdefault("name", name)
    return container


_PROJECT_ROOT = [""]


def _project_root() -> str:
    return _PROJECT_ROOT[0]


def validate(container: dict[str, Any]) -> Settings:
    try:
        return Settings.model_validate(container)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "config"
        if err["type"] == "extra_forbidden":
            raise ConfigError(f"{key}: unknown key") from None
        if err["type"] == "missing":
            raise ConfigError(f"{key}: required key is missing") from None
        msg = err["msg"].removeprefix("Value error, ")
        value = err.get("input")
        plain = isinstance(value, str | int | float | bool) and repr(value) not in msg
        shown = f" (got {value!r})" if plain else ""
        raise ConfigError(f"{key}: {msg}{shown}") from None


def _hydra_message(exc: Exception) -> str:
    text = str(exc).strip()
    match = re.search(r"Could not override '([^']+)'", text)
    if match:
        return f"{match[1]}: unknown key"
    match = re.search(r"Could not find '([^'/]+)/([^']+)'", text)
    if match:
        options = re.findall(r"^\t(\w[\w-]*)$", text.split("Config search path")[0], re.M)
        known = f" (available: {', '.join(options)})" if options else ""
        return f"{match[1]}: no option {match[2]!r}{known}"
    lines = [line for line in text.splitlines() if line and not line.startswith("See https")]
    return "bad override: " + "; ".join(lines) if lines else type(exc).__name__
