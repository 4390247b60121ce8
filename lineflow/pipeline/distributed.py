"""A backfill's partitions as tasks on a Ray cluster (`lineflow backfill ... executor=ray`).

The driver (the `lineflow backfill` process) connects to an existing cluster (`connect`), and
`backfill.execute` runs each partition through `Cluster.partitions`: one Ray task per partition,
`run_one` in a worker process on any node, at most `max_parallel` in flight. Invariants:

- The driver alone writes the manifest, as for a local backfill: a partition is marked
  running before its task is submitted and gets its outcome when the task returns, so
  `backfill status` and `resume` work unchanged, and a driver killed mid-run leaves running
  partitions that `resume` (local or on the cluster) runs again. Ray ends a dead driver's tasks.
- A task writes the partition's landing, state and warehouse itself, with the driver's settings
  (paths made absolute). On one machine the nodes share the home: the SQLite state in WAL
  mode, and the DuckDB file taken in turn through its flock hand-over, as parallel local runs
  do. Nodes on several machines need stores every machine reaches (`check_layout`): a shared
  state store, a shared warehouse and a bucket landing zone; anything else is refused before
  anything is written.
- One source's rate limit holds for the whole cluster: every task draws from one token bucket,
  a named Ray actor per (source, rate, burst) that reserves each request's slot
  (`TokenBucket.reserve`) while the task sleeps out its own wait (`lineflow.http.limits`).
  The actor is detached: resumed and concurrent backfills of the cluster share it.
- Nothing the tasks need is a secret the driver sends: a node reads provider keys from its own
  environment (the variables the sources' `auth.env` name), as `lineflow run` does.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from lineflow.core.errors import ConfigError, LineflowError
from lineflow.http.limits import Bucket, TokenBucket, shared_buckets

if TYPE_CHECKING:
    from lineflow.config import Settings
    from lineflow.pipeline.backfill import BackfillRequest, PartitionOutcome

#: The Ray namespace of lineflow's named actors (the rate limiters).
NAMESPACE = "lineflow"
#: How long the driver tries the head node's port before calling the address unreachable
#: (Ray itself retries an unreachable head for minutes, printing warnings).
CONNECT_TIMEOUT_S = 5.0
#: Grants a rate limiter remembers for `grants()` (what `lineflow` and the tests inspect).
GRANT_LOG = 10_000
INSTALL = "pip install 'lineflow[ray]'"


class ClusterUnreachable(LineflowError):
    """`address=` names no Ray cluster this machine can reach (exit 1: nothing was written)."""


def limiter_name(source: str, rate: float, burst: int) -> str:
    """The cluster-wide bucket of a source at a rate: its actor's name in `NAMESPACE`."""
    return f"rate:{source}:{rate:g}/s:{burst}"


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(f"executor=ray: Ray is not installed ({INSTALL})") from None
    return ray


def _host_port(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(
            f"address: expected the head node's HOST:PORT (e.g. 10.0.0.5:6379), got {address!r}"
        )
    return host, int(port)


def connect(address: str, settings: Settings) -> Cluster:
    """The Ray cluster at `address` (the head node's HOST:PORT), connected as this process's
    driver, checked to suit `settings` (`check_layout`). Ray missing is a ConfigError naming
    the extra; an address nothing listens on is `ClusterUnreachable`, found before Ray's own
    minutes of retries. Nothing is written either way."""
    ray = _ray()
    host, port = _host_port(address)
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise ClusterUnreachable(
            f"executor=ray: no Ray cluster at {address} ({exc.strerror or exc}); start one "
            "with `ray start --head --port=PORT` or name its head node's HOST:PORT"
        ) from None
    try:
        ray.init(
            address=f"{host}:{port}",
            namespace=NAMESPACE,
            logging_level=logging.ERROR,
            log_to_driver=False,  # a task's outcome comes back as its result, its log stays
        )
    except Exception as exc:  # Ray raises ConnectionError and RuntimeError alike  # noqa: BLE001
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ClusterUnreachable(
            f"executor=ray: cannot join the cluster at {address}: {first}"
        ) from None
    cluster = Cluster(ray, address)
    try:
        check_layout(settings, cluster.hosts())
    except ConfigError:
        ray.shutdown()
        raise
    return cluster


def local_stores(settings: Settings) -> list[str]:
    """The stores of these settings that live in files on one machine (a multi-machine
    cluster's tasks could not share them). Shared backends, where configured, are read by
    their config names (`state.backend`, `warehouse.kind`, `landing.url`)."""
    local = []
    if settings.state.backend == "sqlite":
        local.append(f"state ({settings.state_path})")
    if settings.warehouse.kind == "duckdb":
        local.append(f"warehouse ({settings.warehouse.path})")
    elif settings.warehouse.catalog_env is None:  # a lake whose catalog is a DuckDB file
        local.append(f"warehouse catalog ({settings.warehouse.catalog})")
    if settings.landing.url is None:
        local.append(f"landing ({settings.landing.root})")
    return local


def check_layout(settings: Settings, hosts: set[str]) -> None:
    """Nodes on more than one machine need every store shared: a one-line ConfigError
    otherwise. Nodes on one machine may share a home's files."""
    local = local_stores(settings)
    if len(hosts) > 1 and local:
        raise ConfigError(
            f"executor=ray: the cluster's nodes are on {len(hosts)} machines "
            f"({', '.join(sorted(hosts))}) but {local[0]} is a local file; a cluster of several "
            "machines needs state.backend=postgres, warehouse.kind=ducklake and "
            "landing.url=gs://... (docs/deploy.md, distributed backfill)"
        )


def absolute_paths(model: BaseModel, cwd: Path) -> BaseModel:
    """`model` with every relative path made absolute against `cwd`: a task's worker process
    has its own working directory."""
    update: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, Path) and not value.is_absolute():
            update[name] = cwd / value
        elif isinstance(value, BaseModel):
            fixed = absolute_paths(value, cwd)
            if fixed is not value:
                update[name] = fixed
    return model.model_copy(update=update) if update else model


class RateLimiter:
    """One source's token bucket for the whole cluster (a Ray actor: one request at a time).
    `reserve` takes a request's token and says how long its caller waits; the grants it made
    are kept (the slot's time, on this actor's clock, and the node it went to)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.bucket = TokenBucket(rate, burst, monotonic=self._clock)
        self.log: list[tuple[float, str]] = []
        self._read = 0.0

    def _clock(self) -> float:
        """The bucket's clock, its last reading kept: a grant's slot is that reading plus its
        wait, exactly as the bucket reckoned it."""
        import time

        self._read = time.monotonic()
        return self._read

    def reserve(self, node: str) -> float:
        wait = self.bucket.reserve()
        self.log.append((self._read + wait, node))
        del self.log[:-GRANT_LOG]
        return wait

    def grants(self) -> dict[str, Any]:
        """The rate, the burst and the remembered grants: (slot time, node), oldest first."""
        return {"rate": self.bucket.rate, "burst": self.bucket.burst, "grants": list(self.log)}


class RemoteBucket:
    """A task's view of the cluster's bucket for a source: reserve there, wait here."""

    def __init__(self, ray: Any, actor: Any, node: str) -> None:
        import time

        self._ray = ray
        self._actor = actor
        self._node = node
        self._sleep = time.sleep

    def acquire(self) -> float:
        wait = float(self._ray.get(self._actor.reserve.remote(self._node)))
        if wait > 0:
            self._sleep(wait)
        return wait


def _cluster_buckets(ray: Any) -> Callable[[str, float, int], Bucket]:
    node = ray.get_runtime_context().get_node_id()

    def bucket(source: str, rate: float, burst: int) -> Bucket:
        if rate <= 0:
            return TokenBucket(rate, burst)  # no limit: nothing to share
        actor = ray.get_actor(limiter_name(source, rate, burst), namespace=NAMESPACE)
        return RemoteBucket(ray, actor, node)

    return bucket


def run_task(
    settings: Settings, request: BackfillRequest, day: date, refresh: bool
) -> PartitionOutcome:
    """One partition in a Ray worker: `run_one` with the cluster's buckets, its outcome noting
    the node it ran on. A lineflow error is the partition's failure, as in a local backfill."""
    import ray

    from lineflow.pipeline.backfill import FAILED, PartitionOutcome, run_one

    shared_buckets(_cluster_buckets(ray))
    node = ray.get_runtime_context().get_node_id()
    try:
        outcome = run_one(settings, request, day, refresh, None)
    except LineflowError as exc:
        outcome = PartitionOutcome(day, FAILED, error=str(exc))
    outcome.notes.append(f"ran on node {node[:12]}")
    return outcome


def settle(
    ray: Any, day: date, done: Future[PartitionOutcome], outcome: Future[PartitionOutcome]
) -> None:
    """`outcome` from the task's `done`: its result; or, when Ray could not run it (its worker
    or node lost after Ray's retries, an error outside lineflow's), the partition failed with
    the error's one-line reason, and the backfill goes on with the other partitions."""
    from lineflow.pipeline.backfill import FAILED, PartitionOutcome

    try:
        outcome.set_result(done.result())
    except ray.exceptions.RayError as exc:
        cause = getattr(exc, "cause", None) or exc  # a task's own exception, else Ray's
        text = str(cause).strip().splitlines()
        reason = f"{type(cause).__name__}: {text[-1] if text else 'no message'}"
        outcome.set_result(PartitionOutcome(day, FAILED, error=f"ray task failed: {reason}"))
    except BaseException as exc:  # cancelled, or the driver lost the cluster: the caller's
        outcome.set_exception(exc)


class Cluster:
    """A connected Ray cluster: where a backfill's partitions run."""

    def __init__(self, ray: Any, address: str) -> None:
        self.ray = ray
        self.address = address

    def hosts(self) -> set[str]:
        """The machines of the cluster's live nodes (their advertised addresses)."""
        return {n["NodeManagerAddress"] for n in self.ray.nodes() if n.get("Alive")}

    def limiters(self, settings: Settings, request: BackfillRequest) -> list[str]:
        """The rate limiter actor of every limited source of the backfill, created when the
        cluster has none yet; their names."""
        made = []
        actor = self.ray.remote(num_cpus=0, max_restarts=-1)(RateLimiter)
        for name in request.sources:
            rate = settings.sources[name].rate_limit
            if rate.per_second <= 0:
                continue
            label = limiter_name(name, rate.per_second, rate.burst)
            actor.options(
                name=label, namespace=NAMESPACE, lifetime="detached", get_if_exists=True
            ).remote(rate.per_second, rate.burst)
            made.append(label)
        return made

    @contextmanager
    def partitions(
        self, settings: Settings, request: BackfillRequest, refresh: bool
    ) -> Iterator[Callable[[date], Future[PartitionOutcome]]]:
        """`submit(day)` -> the future outcome of the partition's task. Tasks still running
        when the block ends (Ctrl-C, an error) are cancelled; the driver disconnects."""
        self.limiters(settings, request)
        shipped = absolute_paths(settings, Path(os.getcwd()))
        settings_ref = self.ray.put(shipped)  # sent once, not once per partition
        # SPREAD: the partitions are independent, so use every node before doubling up on one.
        task = self.ray.remote(num_cpus=1, scheduling_strategy="SPREAD")(run_task)
        refs: list[Any] = []

        def submit(day: date) -> Future[PartitionOutcome]:
            ref = task.remote(settings_ref, request, day, refresh)
            refs.append(ref)
            outcome: Future[PartitionOutcome] = Future()
            ref.future().add_done_callback(lambda done: settle(self.ray, day, done, outcome))
            return outcome

        try:
            yield submit
        finally:
            if refs:
                _, running = self.ray.wait(refs, num_returns=len(refs), timeout=0)
                for ref in running:
                    self.ray.cancel(ref, force=True)
            self.ray.shutdown()
