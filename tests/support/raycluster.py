"""A real local Ray cluster for the tests: a head node and a worker node on this machine.

Each node is a `ray start --block` process in a session of its own, so stopping the cluster
ends exactly its processes (`ray stop` would end every Ray process on the machine): SIGTERM to
the two `ray start` processes, which stop their daemons and workers, then SIGKILL to whatever
of their sessions is left. The test process never joins the cluster itself (its sockets are
limited to loopback, and Ray nodes advertise the machine's address): drivers are subprocesses
(`lineflow backfill ... executor=ray`, `driver()`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

READY = "Ray runtime started"
START_TIMEOUT_S = 120
STOP_TIMEOUT_S = 5


@dataclass
class RayCluster:
    address: str
    nodes: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ray_command() -> str:
    return str(Path(sys.executable).with_name("ray"))


def _start(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`ray start ARGS --block`, returned once the node says it runs (its log is `log`)."""
    out = log.open("wb")
    proc = subprocess.Popen(
        [_ray_command(), "start", *args, "--disable-usage-stats", "--block"],
        stdout=out,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    out.close()
    deadline = time.monotonic() + START_TIMEOUT_S
    while READY not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop([proc])
            raise RuntimeError(f"ray start {' '.join(args)} failed:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)  # polling the node's own log: the line is what we wait for
    return proc


def _sessions(sids: set[int]) -> list[int]:
    """The live processes of these sessions (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[3]) in sids:
            found.append(int(entry.name))
    return found


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM, then SIGKILL for what is left after STOP_TIMEOUT_S (a head node drains for
    up to 30 s on SIGTERM; nothing of a test cluster needs draining)."""
    sids = {p.pid for p in procs}  # each `ray start` leads its own session
    for proc in reversed(procs):  # workers first, the head last
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for proc in procs:
        with suppress(subprocess.TimeoutExpired):
            proc.wait(max(0.0, deadline - time.monotonic()))
    for pid in _sessions(sids):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for proc in procs:
        proc.wait(STOP_TIMEOUT_S)


@contextmanager
def ray_cluster(env: dict[str, str] | None = None, cpus: int = 1) -> Iterator[RayCluster]:
    """A head and a worker node, `cpus` task slots each (one by default), their logs and
    sockets in a temp dir (short: Ray's socket paths must fit 107 bytes); `env` is the nodes'
    environment, which their tasks see (provider keys, as on a real node)."""
    temp = Path(tempfile.mkdtemp(prefix="lf-ray-"))
    port = free_port()
    node_env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", **(env or {})}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(
            _start(
                [
                    "--head",
                    f"--port={port}",
                    f"--ray-client-server-port={free_port()}",
                    f"--num-cpus={cpus}",
                    "--include-dashboard=false",
                    f"--temp-dir={temp}",
                ],
                temp / "head.log",
                node_env,
            )
        )
        address = f"127.0.0.1:{port}"
        procs.append(
            _start([f"--address={address}", f"--num-cpus={cpus}"], temp / "worker.log", node_env)
        )
        yield RayCluster(address, nodes=2)
    finally:
        _stop(procs)
        shutil.rmtree(temp, ignore_errors=True)


DRIVER = """
import json, logging, sys
import ray
ray.init(address=sys.argv[1], namespace="lineflow", logging_level=logging.ERROR,
         log_to_driver=False)
actor = ray.get_actor(sys.argv[2])
print(json.dumps(ray.get(actor.grants.remote())))
ray.kill(actor)
"""


def limiter_grants(cluster: RayCluster, name: str) -> dict:
    """The grants of the cluster's rate limiter `name`, read by a driver subprocess, which
    then ends the limiter (the next test starts from a full bucket)."""
    import json

    out = subprocess.run(
        [sys.executable, "-c", DRIVER, cluster.address, name],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])
