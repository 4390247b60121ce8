"""Compose conf/ with Hydra, then validate the result with pydantic (unknown keys forbidden)."""

from __future__ import annotations

import contextlib
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

from lineflow.core.errors import ConfigError
from lineflow.core.identity import Identity
from lineflow.core.slate import RELATIVE_DAYS, relative_partition
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
    """One line provider: base URL, auth, markets, books; `options` belong to its module. A
    source is a Python module (`module:`) or declared in YAML alone (`rest:`, a
    `sources.declarative.spec.RestSpec`)."""

    name: str
    module: str = ""
    rest: Any = None
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

    @field_validator("rest")
    @classmethod
    def _rest(cls, value: Any) -> Any:
        if value is None:
            return None
        # Imported here: the spec sits in the config layer, but inside the sources package,
        # whose __init__ imports this module.
        from lineflow.sources.declarative.spec import validate_spec

        return validate_spec(value)

    @model_validator(mode="after")
    def _module_or_rest(self) -> SourceConfig:
        if bool(self.module) == (self.rest is not None):
            raise ValueError(
                "give either module (a Python source) or rest (a declared one), not both or neither"
            )
        return self


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


#: Object stores a DuckLake's data files can live in (DuckDB's httpfs extension reads them).
LAKE_URL_SCHEMES = ("s3", "gs", "gcs", "r2", "az", "azure", "abfss")


class WarehouseConfig(Model):
    """Where the tables live: one DuckDB file (`kind: duckdb`, the default), or a DuckLake
    (`kind: ducklake`) whose catalog is a DuckDB file on this machine (`catalog`) or a Postgres
    database shared by several (`catalog_env`), and whose data files lie under `data_path`."""

    kind: Literal["duckdb", "ducklake"] = "duckdb"
    path: Path
    #: DuckDB's buffer pool and worker threads per connection. A partition's warehouse work is
    #: small (polars does the parsing); without a cap DuckDB's buffers, and the memory its
    #: allocator keeps, grew with the warehouse, and a connection held over a backfill keeps
    #: its buffers up to the cap (128MB: peak memory 1.64x over a season, 64MB: 1.38x;
    #: docs/benchmarks.md, memory). Raise both for partitions of millions of rows; DuckDB
    #: spills to `<path>.tmp` past the limit.
    memory_limit: str = Field("64MB", pattern=r"^\d+(\.\d+)?\s*[KMGT]i?B$")
    threads: int = Field(1, ge=1, le=256)
    #: kind=ducklake: the catalog as a DuckDB file (one machine; its processes take turns), ...
    catalog: Path | None = None
    #: ... or the environment variable holding a Postgres conninfo / URL for the catalog
    #: (several machines); it wins over `catalog`. The value, with its password, is only ever
    #: read from the environment.
    catalog_env: str | None = None
    #: kind=ducklake: the folder, or object-store URL (gs://, s3://, ...), of the data files.
    data_path: str | None = None
    #: kind=ducklake: how long snapshots stay queryable (`lineflow query ... at=`) before
    #: `lineflow maintain` expires them and deletes the files only they used.
    keep_snapshots_days: float = Field(30, ge=0)

    @field_validator("catalog_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError(
                "expected the name of an environment variable holding the catalog's conninfo "
                "(the conninfo itself never goes in the config)"
            )
        return value

    @field_validator("data_path")
    @classmethod
    def _data_path(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", value)
        if scheme and scheme[1].lower() not in LAKE_URL_SCHEMES:
            raise ValueError(
                f"expected a folder or an object-store URL ({', '.join(LAKE_URL_SCHEMES)}://...)"
                f", got a {scheme[1]}:// URL"
            )
        if scheme and not re.fullmatch(r"[A-Za-z0-9+.-]+://[^/\s]+(/\S*)?", value):
            raise ValueError("expected SCHEME://BUCKET[/PREFIX]")
        if not value.strip():
            raise ValueError("expected a folder or an object-store URL, got nothing")
        return value if value.endswith("/") else value + "/"

    @model_validator(mode="after")
    def _lake_complete(self) -> WarehouseConfig:
        if self.kind == "ducklake":
            if self.data_path is None:
                raise ValueError("kind=ducklake needs warehouse.data_path (a folder or URL)")
            if self.catalog is None and self.catalog_env is None:
                raise ValueError(
                    "kind=ducklake needs warehouse.catalog (a DuckDB file) or "
                    "warehouse.catalog_env (the variable holding a Postgres conninfo)"
                )
        return self

    @property
    def data_url(self) -> bool:
        """Whether the lake's data files are in an object store rather than a folder."""
        return self.data_path is not None and "://" in self.data_path


class LandingConfig(Model):
    root: Path
    #: `gs://BUCKET/PREFIX`: land in a bucket instead of under `root`.
    url: str | None = None

    @field_validator("url")
    @classmethod
    def _gs(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith("gs://"):
            raise ValueError(f"expected gs://BUCKET[/PREFIX], got {value!r}")
        bucket = value[len("gs://") :].partition("/")[0]
        problem = bucket_problem(bucket)
        if problem:
            raise ValueError(f"{value!r}: {problem} (expected gs://BUCKET[/PREFIX])")
        return value.rstrip("/")


def bucket_problem(bucket: str) -> str | None:
    """What is wrong with a Cloud Storage bucket name, None when nothing is (GCS's naming rules:
    https://cloud.google.com/storage/docs/buckets#naming)."""
    if not bucket:
        return "no bucket name"
    if bucket != bucket.lower():
        return f"bucket names must be lowercase ({bucket!r} has capitals)"
    if not re.fullmatch(r"[a-z0-9._-]+", bucket):
        return "bucket names hold only lowercase letters, digits, '-', '_' and '.'"
    if not (bucket[0].isalnum() and bucket[-1].isalnum()):
        return "bucket names start and end with a letter or a digit"
    if not 3 <= len(bucket) <= 63 and "." not in bucket:
        return f"bucket names have 3 to 63 characters, {bucket!r} has {len(bucket)}"
    return None


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


class StateConfig(Model):
    """Where locks, work items, dead letters, proxy health, quota and backfill manifests live:
    `sqlite` ({home}/state.sqlite, one machine) or `postgres` (shared by several instances)."""

    backend: Literal["sqlite", "postgres"] = "sqlite"
    #: The environment variable holding the Postgres DSN (`postgresql://user:pass@host/db` or
    #: `host=... dbname=...`): a password never sits in the config or its dumps.
    dsn_env: str = Field(default="LINEFLOW_STATE_DSN", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    @model_validator(mode="after")
    def _dsn_set(self) -> StateConfig:
        if self.backend == "postgres" and not os.environ.get(self.dsn_env, "").strip():
            raise ValueError(
                f"environment variable {self.dsn_env} not set (state.backend=postgres reads "
                "the Postgres DSN from the variable state.dsn_env names)"
            )
        return self


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
    #: Environment variable holding the dashboard's read-only token (unset: the trigger token
    #: opens the dashboard too). It reads `GET /dashboard`; it cannot trigger anything.
    read_token_env: str = "LINEFLOW_READ_TOKEN"
    #: The dashboard's grid: this many dates, ending at the newest partition that ran.
    dashboard_days: int = Field(default=7, ge=1, le=62)
    #: How often the dashboard page asks for new figures.
    dashboard_refresh_s: float = Field(default=10, ge=1)


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


class IdentityConfig(Model):
    """The alias table (conf/identity/*.yaml): per kind, canonical name -> other spellings."""

    players: dict[str, list[str]] = {}
    teams: dict[str, list[str]] = {}
    bookmakers: dict[str, list[str]] = {}

    @model_validator(mode="after")
    def _one_canonical_per_spelling(self) -> IdentityConfig:
        self.compiled()
        return self

    def compiled(self) -> Identity:
        """The table as lookups (`lineflow.core.identity`); a spelling claimed twice raises."""
        return Identity.from_aliases(self.players, self.teams, self.bookmakers)


class Settings(Model):
    """The validated, composed configuration of one lineflow invocation."""

    env: str
    #: Run keys (date, refresh, strict, now, snapshot, only) are composed here so that Hydra
    #: can override and sweep them; a run reads them from its `RunRequest`
    #: (lineflow/pipeline/request.py), built from these at the command's edge.
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
    identity: IdentityConfig = IdentityConfig()

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

    state: StateConfig = StateConfig()
    locks: LocksConfig = LocksConfig()
    work: WorkConfig = WorkConfig()
    triggers: TriggersConfig = TriggersConfig()

    @property
    def state_path(self) -> Path:
        """The SQLite state store shared by every lineflow process of this home."""
        return self.home / "state.sqlite"

    @field_validator("home", mode="before")
    @classmethod
    def _home_given(cls, value: Any) -> Any:
        if value is None or not str(value).strip():
            raise ValueError("empty: name the folder for all state, e.g. home=var")
        return value

    @field_validator("home")
    @classmethod
    def _home_usable(cls, value: Path) -> Path:
        problem = home_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="before")
    @classmethod
    def _relative_date(cls, values: Any) -> Any:
        """`date=today`/`yesterday` resolved here, against `now=` when given (a run as of that
        moment), so that the request, its locks and its records carry the real date."""
        if not isinstance(values, dict) or str(values.get("date")) not in RELATIVE_DAYS:
            return values
        moment = None
        if isinstance(values.get("now"), dt.datetime):
            moment = values["now"]
        elif values.get("now") is not None:
            with contextlib.suppress(ValueError):  # `now`'s own check says what is wrong
                moment = dt.datetime.fromisoformat(str(values["now"]).replace("Z", "+00:00"))
        return {**values, "date": partition_date(values["date"], moment)}

    @field_validator("date", mode="before")
    @classmethod
    def _date(cls, value: Any) -> Any:
        return None if value is None else partition_date(value)

    @field_validator("now", mode="after")
    @classmethod
    def _utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return None if value is None else in_range(value)

    @field_validator("only")
    @classmethod
    def _only(cls, value: list[str] | None) -> list[str] | None:
        return value


#: The partitions lineflow accepts. A slate's window ends the next day and timestamps go
#: through epoch seconds: beyond these the arithmetic overflows (9999-12-31 did, mid-run).
FIRST_PARTITION = dt.date(1970, 1, 1)
LAST_PARTITION = dt.date(2999, 12, 31)


def partition_date(value: Any, now: dt.datetime | None = None) -> dt.date:
    """A partition's date from `YYYY-MM-DD` text (or a date), or `today`/`yesterday` (the
    US/Eastern date at `now`, default the wall clock), inside the accepted range; else
    ValueError with a message that reads after "KEY: ". The one check of every way a date
    comes in: the command line, a composed config, a backfill's range, a trigger message."""
    if isinstance(value, dt.datetime):
        raise ValueError(f"expected a date YYYY-MM-DD, got the time {value.isoformat()!r}")
    if isinstance(value, dt.date):
        parsed = value
    elif (relative := relative_partition(str(value), now or dt.datetime.now(dt.UTC))) is not None:
        parsed = relative
    else:
        text = str(value)
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError(f"expected YYYY-MM-DD, today or yesterday, got {text!r}")
        try:
            parsed = dt.date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a calendar date") from None
    if not FIRST_PARTITION <= parsed <= LAST_PARTITION:
        raise ValueError(f"{parsed} is outside {FIRST_PARTITION}..{LAST_PARTITION}")
    return parsed


def in_range(moment: dt.datetime) -> dt.datetime:
    """`moment` (now=, snapshot=) when its date is a partition lineflow accepts; else ValueError."""
    if not FIRST_PARTITION <= moment.date() <= LAST_PARTITION:
        raise ValueError(f"{moment.isoformat()} is outside {FIRST_PARTITION}..{LAST_PARTITION}")
    return moment


#: The packaged defaults (the repository's top-level conf/), as a Hydra search-path entry.
PACKAGED_CONF = "pkg://lineflow.conf"
#: A project's overrides, merged key by key over the packaged config.yaml (its defaults list
#: ends with `optional project@_global_: default`).
PROJECT_CONFIG = "project/default.yaml"


def home_problem(home: Path) -> str | None:
    """Why `home` cannot hold lineflow's state (None when it can), found without writing.

    home is one folder: an existing writable folder, or one that can be created because its
    nearest existing ancestor is a writable folder.
    """
    path = Path(os.path.abspath(home))
    if path.exists() and not path.is_dir():
        return "is a file, not a folder"
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"cannot be created: {existing} is a file"
    # The folder itself, or the ancestor its creation needs.
    prefix = "" if existing == path else f"cannot be created: {existing} "
    if os.statvfs(existing).f_flag & os.ST_RDONLY:  # first: the cause, not its symptom
        return prefix + "is on a read-only file system"
    if not os.access(existing, os.W_OK | os.X_OK):
        return prefix + "is not writable"
    return None


def config_search_path() -> list[tuple[str, str]]:
    """Where a config file is looked up, first match wins: `$LINEFLOW_CONFIG_DIR`, the project's
    `./conf`, then the packaged defaults. As (provider, location) pairs, in Hydra's terms.

    Layers, later wins: the packaged defaults, the project's conf/, `$LINEFLOW_CONFIG_DIR`, the
    command line. A file in a later layer replaces the same file of an earlier one; the first
    `project/default.yaml` found is merged over the packaged config.yaml key by key.
    """
    packaged = _packaged_dir("lineflow.conf")  # a clear error when the install lacks it
    entries: list[tuple[str, str]] = []
    env = os.environ.get(CONFIG_DIR_ENV)
    if env:
        folder = Path(env).resolve()
        if not folder.is_dir():
            raise ConfigError(f"{CONFIG_DIR_ENV}: no such folder {folder}")
        entries.append((f"${CONFIG_DIR_ENV}", f"file://{folder}"))
    project = (Path.cwd() / "conf").resolve()
    if project.is_dir() and project != packaged:  # a checkout's conf/ is the packaged one
        entries.append(("project", f"file://{project}"))
    entries.append(("lineflow", PACKAGED_CONF))
    return entries


def config_folders() -> list[Path]:
    """The folders of `config_search_path`, in its order."""
    return [_folder(location) for _provider, location in config_search_path()]


def _folder(location: str) -> Path:
    if location == PACKAGED_CONF:
        return _packaged_dir("lineflow.conf")
    return Path(location.removeprefix("file://"))


def _packaged_dir(package: str) -> Path:
    """The folder of an installed data package (lineflow.conf, lineflow.fixtures)."""
    from importlib.resources import files

    try:
        return Path(str(files(package))).resolve()
    except ModuleNotFoundError:
        raise ConfigError(
            f"{package} is not installed: reinstall lineflow (pip install lineflow)"
        ) from None


def hydra_search_path() -> Any:
    """Hydra's ConfigSearchPath: its own configs, lineflow's layers, plugins, structured configs."""
    from hydra._internal.utils import create_config_search_path
    from hydra.core.config_search_path import SearchPathQuery

    search_path = create_config_search_path(None)
    for provider, location in reversed(config_search_path()):
        # After Hydra's own pkg://hydra.conf, before the plugins' entries and structured://.
        search_path.append(provider, location, anchor=SearchPathQuery("hydra"))
    return search_path


def open_hydra() -> Any:
    """Hydra with lineflow's search path, made global (the caller clears GlobalHydra after)."""
    from hydra import version
    from hydra._internal.hydra import Hydra
    from hydra.core.global_hydra import GlobalHydra

    register_resolvers()
    version.setbase("1.3")
    GlobalHydra.instance().clear()
    return Hydra.create_main_hydra2("lineflow", hydra_search_path())


def compose(overrides: list[str]) -> Settings:
    """Hydra-compose the config layers with command-line overrides and validate the result.

    A composition the cache holds is validated again on every use; only the rules' SQL and
    polars expressions are not run again once a validation ran them with the DuckDB and
    polars this process has (`rules.expressions.checked_by`): their verdict is a function of
    the text, the table's columns (the lineflow version, in the key) and those engines, and
    running them costs a command an in-memory DuckDB of its own (13 ms of `lineflow status`'s
    CPU, docs/benchmarks.md)."""
    from lineflow.rules.expressions import checked_by

    key, entry = _composed(overrides)
    engines = checked_by()
    checked = entry["expressions_checked_by"] == engines
    settings = validate(entry["container"], expressions_checked=checked)
    if key is not None and not checked:
        _cache_store(key, entry | {"expressions_checked_by": engines})
    return settings


def compose_raw(overrides: list[str]) -> dict[str, Any]:
    """The composed, resolved config as a plain dict, not validated."""
    return _composed(overrides)[1]["container"]


def _composed(overrides: list[str]) -> tuple[str | None, dict[str, Any]]:
    """The composition's cache entry (`container`, and `expressions_checked_by`: the engines
    that ran its rules' expressions, or None), from the cache or composed now; and its cache
    key, None when the composition cannot be kept (it read something outside the key)."""
    key = _compose_key(overrides)
    cached = _cache_read(key)
    if cached is not None:
        return key, cached
    cfg = _compose_hydra(overrides)
    entry = {"container": to_settings_dict(cfg), "expressions_checked_by": None}
    return (key if _cache_write(key, cfg, entry) else None), entry


#: Composed configs kept in the cache folder; the oldest go beyond this.
COMPOSE_CACHE_SIZE = 256
#: The form of a cache entry, part of its key: an entry of another form is never read.
COMPOSE_CACHE_FORM = 2
#: Interpolations whose value the cache key fixes: another key of the config, the installed
#: fixtures. A config with any other (`${oc.env:...}`, `${now:...}`) is composed every time.
_FIXED_INTERPOLATION = re.compile(r"lineflow_fixtures:|[\w.]+")


def compose_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lineflow" / "compose"


def _compose_key(overrides: list[str]) -> str:
    """What a composition is a function of: the lineflow version, the search path, the content
    of every YAML file on it, the overrides and the installed fixtures' folder."""
    import hashlib
    import json

    from lineflow.core.version import __version__

    digest = hashlib.sha256()
    entries = config_search_path()
    fixtures = str(_packaged_dir("lineflow.fixtures"))
    header = [COMPOSE_CACHE_FORM, __version__, fixtures, entries, list(overrides)]
    digest.update(json.dumps(header).encode())
    for _provider, location in entries:
        folder = _folder(location)
        for path in sorted(folder.rglob("*.yaml")):
            digest.update(f"\0{path.relative_to(folder)}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _cache_read(key: str) -> dict[str, Any] | None:
    import json

    try:
        raw = json.loads((compose_cache_dir() / f"{key}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # not composed yet, or a file a crash cut short: compose
    if not isinstance(raw, dict) or not isinstance(raw.get("container"), dict):
        return None
    return {
        "container": raw["container"],
        "expressions_checked_by": raw.get("expressions_checked_by"),
    }


def _cache_write(key: str, cfg: Any, entry: dict[str, Any]) -> bool:
    """Keep the composed, resolved config for the next command with the same inputs (Hydra's
    composition is most of a quick command's own time) when nothing outside the key went into
    it; whether it was kept (a cache that cannot be written is no error)."""
    import json

    from omegaconf import OmegaConf

    unresolved = json.dumps(OmegaConf.to_container(cfg, resolve=False))
    used = re.findall(r"\$\{([^}]*)\}", unresolved)
    if not all(_FIXED_INTERPOLATION.fullmatch(u) for u in used):
        return False
    return _cache_store(key, entry)


def _cache_store(key: str, entry: dict[str, Any]) -> bool:
    """Write one cache entry whole (written aside, then renamed over the old one) and drop the
    oldest beyond `COMPOSE_CACHE_SIZE`; whether it was written."""
    import json

    folder = compose_cache_dir()
    try:
        text = json.dumps(entry)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{key}.{os.getpid()}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, folder / f"{key}.json")
        kept = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
        for old in kept[:-COMPOSE_CACHE_SIZE]:
            old.unlink(missing_ok=True)
    except (OSError, TypeError):  # TypeError: a value JSON does not hold
        return False
    return True


def compose_sweep(overrides: list[str]) -> Settings:
    """What the jobs of `lineflow run -m` share (the sweep's own `a,b` overrides left out),
    validated: a bad home or key fails before Hydra creates the sweep folder under home."""
    return validate(to_settings_dict(_compose_hydra(overrides, sweep=True)))


def _compose_hydra(overrides: list[str], with_hydra: bool = False, sweep: bool = False) -> Any:
    import yaml
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from hydra.types import RunMode
    from omegaconf import open_dict
    from omegaconf.errors import OmegaConfBaseException

    try:
        cfg = open_hydra().compose_config(
            config_name="config",
            overrides=list(overrides),
            run_mode=RunMode.MULTIRUN if sweep else RunMode.RUN,
            from_shell=False,
        )
        if not with_hydra:
            with open_dict(cfg):
                del cfg["hydra"]
        return cfg
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(_hydra_message(exc)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_message(exc)) from None
    finally:
        GlobalHydra.instance().clear()


def yaml_message(exc: Exception) -> str:
    """A conf file's YAML syntax error in one line: `FILE: line L, column C: problem`."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or str(exc)
    problem = " ".join(str(problem).split())
    if mark is None:
        return f"YAML syntax error: {problem}"
    where = f"line {mark.line + 1}, column {mark.column + 1}"
    return f"{mark.name}: YAML syntax error at {where}: {problem}"


def render_config(overrides: list[str], which: Literal["job", "all"], resolve: bool = False) -> str:
    """The composed config as YAML, like Hydra's `--cfg job|all`; it is validated first.

    Secrets never appear: lineflow's config names the environment variables that hold them.
    """
    from omegaconf import OmegaConf

    cfg = _compose_hydra(overrides, with_hydra=which == "all")
    job = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
    validate(to_settings_dict(job))
    text = OmegaConf.to_yaml(job, resolve=resolve)
    if which == "all":  # Hydra's node as composed: its sweep keys resolve only inside a job
        text += OmegaConf.to_yaml(OmegaConf.masked_copy(cfg, ["hydra"]))
    return text


def render_search_path() -> str:
    """The config search path for `--info`: lookup order, the first file found wins."""
    rows = config_search_path()
    width = max(len(provider) for provider, _ in rows) + 2
    lines = ["Config search path (a file is taken from the first entry that has it):"]
    lines += [f"  {provider:<{width}}{location}" for provider, location in rows]
    lines.append(f"then command-line overrides; {PROJECT_CONFIG} is merged over config.yaml")
    return "\n".join(lines) + "\n"


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


def register_resolvers() -> None:
    """`${lineflow_fixtures:}`: the installed fixtures (the recorded incident week)."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("lineflow_fixtures"):
        OmegaConf.register_new_resolver(
            "lineflow_fixtures", lambda: str(_packaged_dir("lineflow.fixtures"))
        )


def validate(container: dict[str, Any], expressions_checked: bool = False) -> Settings:
    """The settings of a composed container, every key checked; `expressions_checked`: the
    rules' SQL and polars expressions are known to run (`compose`), so they are not run."""
    from lineflow.rules.model import EXPRESSIONS_CHECKED

    try:
        return Settings.model_validate(
            container, context={EXPRESSIONS_CHECKED: expressions_checked}
        )
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
