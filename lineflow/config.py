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
from lineflow.rules.model import LineQualityConfig, RuleFile

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
    #: DuckDB's buffer pool and worker threads per connection. A partition's warehouse work is
    #: small (polars does the parsing); without a cap DuckDB's buffers, and the memory its
    #: allocator keeps, grew with the warehouse, and a connection held over a backfill keeps
    #: its buffers up to the cap (128MB: peak memory 1.64x over a season, 64MB: 1.38x;
    #: docs/benchmarks.md, memory). Raise both for partitions of millions of rows; DuckDB
    #: spills to `<path>.tmp` past the limit.
    memory_limit: str = Field("64MB", pattern=r"^\d+(\.\d+)?\s*[KMGT]i?B$")
    threads: int = Field(1, ge=1, le=256)


class LandingConfig(Model):
    root: Path
    #: `gs://BUCKET/PREFIX`: land in a bucket instead of under `root`.
    url: str | None = None

    @field_validator("url")
    @classmethod
    def _gs(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"gs://[a-z0-9][a-z0-9._-]*(/.*)?", value):
            raise ValueError(f"expected gs://BUCKET[/PREFIX], got {value!r}")
        return value.rstrip("/") if value else None


class BigQueryConfig(Model):
    """Where the publish stage writes. Credentials: ADC, or a key file named by `key_file_env`."""

    project: str | None = None
    dataset: str = "lineflow"
    location: str | None = None
    #: An emulator's `http://127.0.0.1:PORT`; anonymous credentials are used with it.
    api_endpoint: str | None = None
    #: Environment variable holding a service-account key file path (the path, never the key,
    #: is read from the environment).
    key_file_env: str = "GOOGLE_APPLICATION_CREDENTIALS"

    @field_validator("project", "dataset")
    @classmethod
    def _identifier(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_.:-]+", value):
            raise ValueError(f"not a BigQuery identifier: {value!r}")
        return value

    @field_validator("api_endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"not an http(s) URL: {value!r}")
        return value.rstrip("/") if value else None


class PublishTable(Model):
    cluster_by: list[str] = []


class PublishConfig(Model):
    """The warehouse tables the publish stage copies, partition by partition, to BigQuery."""

    tables: dict[str, PublishTable] = {}


class ModelConfig(Model):
    """A prediction model: import path `module:Class` plus its parameters."""

    name: str
    path: str
    params: dict[str, Any] = {}


class HealConfig(Model):
    lookback_days: int = Field(3, ge=0, le=60)
    min_age_minutes: float = Field(0, ge=0)


class PredictConfig(Model):
    markets: list[str] = ["player_points"]
    workers: int = Field(1, ge=1, le=32)
    heartbeat_s: float = Field(5, gt=0)
    #: A running batch whose heartbeat is older than this belongs to a dead process.
    stale_after_s: float = Field(60, gt=0)
    models: list[ModelConfig]
    heal: HealConfig = HealConfig(lookback_days=3, min_age_minutes=0)


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
    file_stages: list[str] = ["process", "validate", "consolidate", "predict"]
    #: Larger request bodies are refused (413) unread; a push envelope is a few KB.
    max_body_bytes: int = Field(default=1 << 20, ge=1)


class PipelineConfig(Model):
    name: str
    stages: list[str]
    predict: PredictConfig | None = None


class SourceExpectation(Model):
    """What a complete day of one source looks like, per scheduled game."""

    rows_per_game: int = Field(default=0, ge=0)
    players_per_game: int = Field(default=0, ge=0)


class AlertThresholds(Model):
    lock_age_minutes: float = Field(default=15, gt=0)
    quota_min_remaining: int = Field(default=500, ge=0)
    proxy_success_warn: float = Field(default=0.8, ge=0, le=1)
    proxy_success_critical: float = Field(default=0.5, ge=0, le=1)


class EmailConfig(Model):
    """SMTP delivery of the health summary; user and password come from the environment."""

    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    starttls: bool = False
    #: PEM bundle to trust for STARTTLS (a private relay's own CA); null = the system's.
    ca_file: Path | None = None
    user_env: str = ""
    password_env: str = ""
    sender: str = "lineflow@localhost"
    recipients: list[str] = []
    subject: str = "lineflow health {date}: {grade}"
    timeout_s: float = Field(default=30, gt=0)


class HealthConfig(Model):
    """Expectations, alert thresholds and delivery of `lineflow status` and `lineflow health`."""

    #: Stages whose processors run once per source (`scrape:odds_api`); others run once.
    per_source_stages: list[str] = ["scrape", "process"]
    expectations: dict[str, SourceExpectation] = {}
    alerts: AlertThresholds = AlertThresholds()
    email: EmailConfig = EmailConfig()


class Playbook(Model):
    """A recovery playbook: a detector names what is wrong, an action repairs it."""

    name: str
    detector: str
    action: str
    description: str = ""
    params: dict[str, Any] = {}


class DoctorConfig(Model):
    playbooks: list[Playbook] = []


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
    bigquery: BigQueryConfig = BigQueryConfig()
    publish: PublishConfig = PublishConfig()
    pipeline: PipelineConfig
    sources: dict[str, SourceConfig]
    health: HealthConfig = HealthConfig()
    doctor: DoctorConfig = DoctorConfig()
    #: conf/rules/*.yaml, by file name.
    rules: dict[str, RuleFile] = {}
    line_quality: LineQualityConfig = LineQualityConfig()

    @model_validator(mode="after")
    def _unique_rule_ids(self) -> Settings:
        seen: dict[str, str] = {}
        for name, rule_file in self.rules.items():
            for rule in rule_file.rules():
                if rule.id in seen:
                    raise ValueError(
                        f"rule {rule.id!r}: id used twice (rules.{seen[rule.id]} and rules.{name})"
                    )
                seen[rule.id] = name
        return self

    def rule_list(self) -> list[Any]:
        """Every configured rule, file by file in name order."""
        return [rule for name in sorted(self.rules) for rule in self.rules[name].rules()]

    def rules_version(self) -> str:
        """A digest of the rules and gate thresholds: it changes whenever either does."""
        import hashlib
        import json

        payload = {
            "rules": {k: v.model_dump(mode="json") for k, v in sorted(self.rules.items())},
            "line_quality": self.line_quality.model_dump(mode="json"),
        }
        text = json.dumps(payload, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    proxy: ProxyConfig = ProxyConfig()

    @model_validator(mode="after")
    def _chains_name_sources(self) -> Settings:
        unknown = sorted(set(self.proxy.chains) - set(self.sources))
        if unknown:
            known = ", ".join(sorted(self.sources))
            raise ValueError(f"proxy.chains.{unknown[0]}: unknown source (known: {known})")
        return self

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
    from omegaconf.errors import OmegaConfBaseException

    conf = (config_dir or default_config_dir()).resolve()
    if not (conf / "config.yaml").is_file():
        raise ConfigError(f"no config.yaml in {conf} (set {CONFIG_DIR_ENV} or run from a project)")
    register_resolvers(str(conf.parent))
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
            cfg = hydra_compose(config_name="config", overrides=list(overrides))
        return to_settings_dict(cfg)
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(_hydra_message(exc)) from None
    finally:
        GlobalHydra.instance().clear()


def to_settings_dict(cfg: Any) -> dict[str, Any]:
    """A composed (Dict)Config as the plain dict `Settings` validates; sources learn their name."""
    from omegaconf import OmegaConf

    raw = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(raw, dict)
    container: dict[str, Any] = {str(k): v for k, v in raw.items() if k != "hydra"}
    for name, source in (container.get("sources") or {}).items():
        if isinstance(source, dict):
            source.setdefault("name", name)
    return container


_PROJECT_ROOT = [""]


def register_resolvers(project_root: str) -> None:
    """`${project_root:}`: the folder holding conf/ (fixtures/ sits beside it)."""
    from omegaconf import OmegaConf

    _PROJECT_ROOT[0] = project_root
    if not OmegaConf.has_resolver("project_root"):
        OmegaConf.register_new_resolver("project_root", lambda: _PROJECT_ROOT[0])


def validate(container: dict[str, Any]) -> Settings:
    try:
        return Settings.model_validate(container)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "config"
        if err["loc"][:1] == ("rules",) or key == "config":
            raise ConfigError(_rule_message(container, err)) from None
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


def _rule_message(container: dict[str, Any], err: Any) -> str:
    """`rules.FILE: rule 'ID': problem`, naming the rule the error sits in."""
    loc = list(err["loc"])
    node: Any = container
    rule_id = None
    depth = 0
    for depth, part in enumerate(loc, start=1):
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            depth -= 1
            break
        if isinstance(node, dict) and isinstance(node.get("id"), str):
            rule_id = node["id"]
    kept = loc[:2] if rule_id is not None else loc[:depth]
    where = ".".join(str(p) for p in kept) if kept else "rules"
    field = ".".join(str(p) for p in loc[depth:] if not _is_kind(p))
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "missing":
        msg = "required key is missing"
    elif err["type"] == "union_tag_invalid":
        msg = f"unknown kind {err['ctx']['tag']!r} (kinds: {err['ctx']['expected_tags']})"
    elif err["type"] == "union_tag_not_found":
        msg = "kind is missing"
    detail = f"{field}: {msg}" if field else msg
    if rule_id is not None and not msg.startswith("rule "):
        return f"{where}: rule {rule_id!r}: {detail}"
    return f"{where}: {detail}"


def _is_kind(part: Any) -> bool:
    # Pydantic puts the discriminator's value in the error location; the user never wrote it.
    from lineflow.rules.model import KINDS

    return part in KINDS


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
