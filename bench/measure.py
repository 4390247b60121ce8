"""Run measured jobs in child processes: wall time, peak memory, and the job's own JSON report."""

from __future__ import annotations

import json
import os
import resource
import selectors
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class JobFailed(RuntimeError):
    """A measured child process exited non-zero; the message carries the end of its stderr."""


@dataclass(frozen=True)
class Measured:
    result: dict[str, Any]
    wall_seconds: float
    peak_rss_bytes: int


def run_job(job: str, args: dict[str, Any], env: dict[str, str] | None = None) -> Measured:
    """`python -m bench.worker JOB ARGS` in a child; its peak memory is its process tree's."""
    run = _spawn([sys.executable, "-m", "bench.worker", job, json.dumps(args)], env or {})
    if run.code != 0:
        tail = run.stderr.decode("utf-8", "replace").strip().splitlines()[-15:]
        raise JobFailed(f"bench job {job!r} exited {run.code}:\n" + "\n".join(tail))
    lines = [line for line in run.stdout.decode().splitlines() if line.startswith("{")]
    if not lines:
        raise JobFailed(f"bench job {job!r} printed no result")
    return Measured(json.loads(lines[-1]), run.wall_seconds, run.peak_rss_bytes)


@dataclass(frozen=True)
class _Run:
    code: int
    stdout: bytes
    stderr: bytes
    wall_seconds: float
    #: when the first stdout line starting with the marker arrived (None: never, or no marker)
    marker_seconds: float | None
    peak_rss_bytes: int


class _TreeMemory(threading.Thread):
    """Samples the memory of a process and all its descendants (a backfill's parse workers)
    every 50 ms: their private memory summed (resident anonymous and shared-memory pages:
    after a spawn nothing anonymous is shared) plus the largest process's resident file pages
    (libraries mapped by several processes count once). The child's own `ru_maxrss` is the
    largest single process only.

    Sampling stays light, since it shares the 2 cores with the job it measures: it reads each
    process's `status` counters (0.2 ms) and walks the tree through /proc's `children` lists
    twice a second. Proportional set sizes from `smaps_rollup` came within 2 % of this but
    took 15 ms a read under load, and sampling them every 20 ms slowed the job by 15 %
    (docs/benchmarks.md)."""

    INTERVAL_S = 0.05
    TREE_EVERY = 10  # samples between walks of the process tree

    def __init__(self, pid: int) -> None:
        super().__init__(name="bench-tree-memory", daemon=True)
        self.pid = pid
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        tree: list[int] = []
        samples = 0
        while not self.done.wait(self.INTERVAL_S):
            if samples % self.TREE_EVERY == 0:
                tree = _tree(self.pid)
            samples += 1
            counts = [_resident(pid) for pid in tree]
            private = sum(anon + shmem for anon, _, shmem in counts)
            self.peak = max(self.peak, private + max((file for _, file, _ in counts), default=0))


def _tree(root: int) -> list[int]:
    """`root` and its descendants, from the `children` list of each of their threads."""
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue  # exited meanwhile
        for task in tasks:
            try:
                children = Path(f"/proc/{pid}/task/{task}/children").read_text()
            except OSError:
                continue
            todo += [int(child) for child in children.split()]
    return tree


_RESIDENT = ("RssAnon:", "RssFile:", "RssShmem:")


def _resident(pid: int) -> tuple[int, int, int]:
    """A process's resident anonymous, file and shared-memory bytes (0s once it exited)."""
    found = dict.fromkeys(_RESIDENT, 0)
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(_RESIDENT):
                name, kib, _ = line.split()
                found[name] = int(kib) * 1024
    except (OSError, ValueError):
        pass  # exited meanwhile
    anon, file, shmem = (found[name] for name in _RESIDENT)
    return anon, file, shmem


def _spawn(command: Sequence[str], env: dict[str, str], marker: str | None = None) -> _Run:
    """Run `command`, reading both pipes to EOF without reaping it, then `os.wait4` for its own
    rusage (getrusage(RUSAGE_CHILDREN) would be the max so far); optionally timestamp the
    first stdout line that starts with `marker`. Peak memory: the larger of the sampled
    process tree's (`_TreeMemory`) and the largest single process's (`ru_maxrss`)."""
    started = time.perf_counter()
    child = subprocess.Popen(
        list(command),
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    memory = _TreeMemory(child.pid)
    memory.start()
    out_fd, err_fd = child.stdout.fileno(), child.stderr.fileno()
    out, err = bytearray(), bytearray()
    marker_at: float | None = None
    needle = marker.encode() if marker is not None else None
    with selectors.DefaultSelector() as selector:
        selector.register(out_fd, selectors.EVENT_READ)
        selector.register(err_fd, selectors.EVENT_READ)
        while selector.get_map():
            for key, _ in selector.select():
                data = os.read(key.fd, 65536)
                if not data:
                    selector.unregister(key.fd)
                elif key.fd == err_fd:
                    err += data
                else:
                    out += data
                    if (
                        needle is not None
                        and marker_at is None
                        and any(line.startswith(needle) for line in bytes(out).splitlines())
                    ):
                        marker_at = time.perf_counter() - started
    child.stdout.close()
    child.stderr.close()
    memory.done.set()  # the pipes closed: the job and its workers have finished
    memory.join()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    # Linux reports ru_maxrss in KiB.
    return _Run(
        code, bytes(out), bytes(err), wall, marker_at, max(memory.peak, usage.ru_maxrss * 1024)
    )


def lineflow_command() -> list[str]:
    """The `lineflow` console script of this interpreter, else `python -m lineflow`."""
    script = Path(sys.executable).parent / "lineflow"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "lineflow"]


@dataclass(frozen=True)
class Timed:
    """A command's wall time (spawn to exit), when its first output line matching `marker`
    arrived, its output, and its peak RSS."""

    wall_seconds: float
    marker_seconds: float | None
    stdout: str
    peak_rss_bytes: int


def run_command(command: Sequence[str], env: dict[str, str], marker: str) -> Timed:
    """Run `command`, timestamping its stdout lines as they arrive; non-zero exit raises."""
    run = _spawn(command, env, marker)
    if run.code != 0:
        tail = (run.stdout + run.stderr).decode("utf-8", "replace").strip().splitlines()[-15:]
        raise JobFailed(f"{' '.join(command[:3])} ... exited {run.code}:\n" + "\n".join(tail))
    stdout = run.stdout.decode("utf-8", "replace")
    return Timed(run.wall_seconds, run.marker_seconds, stdout, run.peak_rss_bytes)


def startup_seconds(args: Sequence[str], repeats: int) -> dict[str, Any]:
    """Median wall time of `lineflow ARGS` over `repeats` runs (after one warm-up run)."""
    command = [*lineflow_command(), *args]
    times = []
    for attempt in range(repeats + 1):
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, timeout=60)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise JobFailed(f"{' '.join(command)} exited {done.returncode}")
        if attempt:  # the first run warms the page cache and .pyc files
            times.append(elapsed)
    return {
        "command": " ".join(["lineflow", *args]),
        "median_seconds": statistics.median(times),
        "min_seconds": min(times),
        "runs": len(times),
    }


#: The import floor: the libraries every lineflow command loads, imported, and nothing else.
FLOOR_IMPORTS = "import polars, duckdb, pydantic, httpx, rich, hydra"


def _timed_process(command: Sequence[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, its waited-for children included) of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(list(command), cwd=cwd, env=env, capture_output=True, timeout=300)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-5:]
        raise JobFailed(f"{' '.join(command)} exited {done.returncode}:\n" + "\n".join(tail))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def against_floor(
    label: str,
    command_in: Callable[[int], tuple[list[str], Path]],
    repeats: int,
    where: str = "",
) -> dict[str, Any]:
    """A lineflow command against the import floor, as a user feels both: whole processes run
    pair by pair (floor, then the command; `command_in(i)` gives the i-th run's arguments and
    working folder), after one warm-up pair, with bytecode written as an installed package has
    it. A pair shares the machine's load of its moment, so the ratio is the median of the
    pairs' ratios, in wall and in CPU seconds (steadier on a machine others load)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    floor = [sys.executable, "-c", FLOOR_IMPORTS]
    pairs = []
    for attempt in range(repeats + 1):
        base = _timed_process(floor, ROOT, env)
        args, cwd = command_in(attempt)
        mine = _timed_process([*lineflow_command(), *args], cwd, env)
        if attempt:  # the first pair warms the page cache, the bytecode and the compose cache
            pairs.append((base, mine))
    return {
        "command": " ".join(["lineflow", label]),
        "where": where,  # what the command runs on, when it matters (a fresh home)
        "median_seconds": statistics.median(m[0] for _, m in pairs),
        "min_seconds": min(m[0] for _, m in pairs),
        "cpu_seconds": statistics.median(m[1] for _, m in pairs),
        "floor_seconds": statistics.median(b[0] for b, _ in pairs),
        "floor_cpu_seconds": statistics.median(b[1] for b, _ in pairs),
        "over_floor": statistics.median(m[0] / b[0] for b, m in pairs),
        "over_floor_range": [
            min(m[0] / b[0] for b, m in pairs),
            max(m[0] / b[0] for b, m in pairs),
        ],
        "cpu_over_floor": statistics.median(m[1] / b[1] for b, m in pairs),
        "runs": len(pairs),
    }


@contextmanager
def standin_process(delay_ms: int, env: dict[str, str]) -> Iterator[str]:
    """`python -m tests.support.standin --port 0` with a delay on every path; yields its URL."""
    import httpx

    child = subprocess.Popen(
        [sys.executable, "-m", "tests.support.standin", "--port", "0"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        # The stand-in prints one line once it listens; wait for it, bounded.
        with selectors.DefaultSelector() as selector:
            selector.register(child.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=30):
                raise JobFailed("the stand-in did not start listening within 30 s")
        line = child.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise JobFailed(f"the stand-in did not start: {line or child.stderr.read()}")  # type: ignore[union-attr]
        url = line.removeprefix("listening on ")
        if delay_ms:
            rule = {"fault": {"path": ".", "times": -1, "delay_ms": delay_ms}}
            httpx.post(f"{url}/__standin__/control", json=rule, timeout=10).raise_for_status()
        yield url
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
