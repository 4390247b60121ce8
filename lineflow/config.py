"""Compose conf/ with Hydra, then validate the result with pydantic (unknown keys forbidden)."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from lineflow.errors import ConfigError

CONFIG_DIR_ENV = "LINEFLOW_CONFIG_DIR"


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthConfig(Model):
    """Where a source's secret goes. The value itself only ever lives in the environment."""

    kind: Literal["query", "header", "none"] = "none"
    name: str = ""
    env: str = ""


class RateLimitConfig(Model):
    """A token bucket per source, shared by all its concurrent requests in the process."""

    per_second: float = Field(0, ge=0)  # 0 = no limit
    burst: int = Field(1, ge=1)


class QuotaConfig(Model):
    """A paid API's usage credits, read from response headers (The Odds API's names by default)."""

    #: Stop making calls once this few credits are left (0 = spend down to the last one).
    floor: int = Field(0, ge=0)
    remaining_header: str = "x-requests-remaining"
    used_header: str = "x-requests-used"
    last_header: str = "x-requests-last"
    #: An error code in a 401 body meaning "no credits left": final, never retried.
    exhausted_code: str = "OUT_OF_USAGE_CREDITS"


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
    rate_limit: RateLimitConfig = Field(default_factory=lambda: RateLimitConfig.model_validate({}))
    quota: QuotaConfig | None = None

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
    #: A Retry-After longer than this is clamped to it (values <= 0 are ignored).
    retry_after_max_s: float = Field(120, gt=0)


DIRECT = "direct"


class PoolConfig(Model):
    """A proxy provider's pool. Credentials are named by environment variable, never written."""

    provider: str
    kind: Literal["datacenter", "residential"]
    rotation: Literal["round_robin", "random", "sticky"] = "round_robin"
    proxies: list[str] = Field(min_length=1)
    username_env: str = ""
    password_env: str = ""

    @field_validator("proxies")
    @classmethod
    def _proxy_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            match = re.fullmatch(r"(https?)://([^/\s:@]+):(\d{1,5})/?", url)
            if "@" in url:
                raise ValueError(
                    f"{url.split('@')[-1]!r}: no credentials in proxy URLs "
                    "(name them with username_env/password_env)"
                )
            if not match:
                raise ValueError(f"not a proxy URL http(s)://host:port: {url!r}")
        return [url.rstrip("/") for url in value]


class BreakerConfig(Model):
    """The circuit breaker per (proxy, target host)."""

    failures: int = Field(3, ge=1)  # consecutive failures that open it
    cooldown_s: float = Field(300, gt=0)  # open -> half-open after this long...
    cooldown_factor: float = Field(2, ge=1)  # ...times this for every repeated open...
    cooldown_max_s: float = Field(3600, gt=0)  # ...up to this


class ProxyConfig(Model):
    """Named pools and, per source, the ordered chain of pools to try (`direct` = no proxy)."""

    breaker: BreakerConfig = Field(default_factory=lambda: BreakerConfig.model_validate({}))
    pools: dict[str, PoolConfig] = {}
    chains: dict[str, list[str]] = {}

    @field_validator("pools")
    @classmethod
    def _pool_names(cls, value: dict[str, PoolConfig]) -> dict[str, PoolConfig]:
        if DIRECT in value:
            raise ValueError(f"{DIRECT!r} is reserved for the no-proxy link")
        return value

    @field_validator("chains")
    @classmethod
    def _chain_links(
        cls, value: dict[str, list[str]], info: ValidationInfo
    ) -> dict[str, list[str]]:
        known = [*(info.data.get("pools") or {}), DIRECT]
        for source, chain in value.items():
            if not chain:
                raise ValueError(f"{source}: empty chain (use [{DIRECT}] for no proxy)")
            for link in chain:
                if link not in known:
                    raise ValueError(f"{source}: unknown pool {link!r} (known: {', '.join(known)})")
            if len(set(chain)) != len(chain):
                raise ValueError(f"{source}: a pool appears twice in {chain}")
        return value

    def chain(self, source: str) -> list[str]:
        return self.chains.get(source, [DIRECT])


class WarehouseConfig(Model):
    kind: Literal["duckdb"] = "duckdb"
    path: Path


class LandingConfig(Model):
    root: Path


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
    proxy: ProxyConfig = ProxyConfig()

    @model_validator(mode="after")
    def _chains_name_sources(self) -> Settings:
        unknown = sorted(set(self.proxy.chains) - set(self.sources))
        if unknown:
            known = ", ".join(sorted(self.sources))
            raise ValueError(f"proxy.chains.{unknown[0]}: unknown source (known: {known})")
        return self

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
        if not err["loc"]:  # a check across sections names its own keys
            raise ConfigError(msg) from None
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
