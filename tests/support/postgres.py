"""A real Postgres server on loopback for tests: the shared state store and the lake's catalog.

`postgres_server(work)` creates a throwaway cluster with Debian's (or the PATH's) `initdb` and
runs `postgres` as a child process on a free 127.0.0.1 port, trusting local connections as the
superuser `postgres`; it is ready when a connection succeeds, and it is stopped (fast shutdown)
when the block ends. Postgres refuses to run as root, so under root the cluster is created and
run as `nobody` (tests.support.sandbox), in a folder `nobody` owns.

Fixtures (registered by tests/conftest.py):
- `postgres`: the session's server (skipped, with the reason, where no Postgres binaries exist);
- `postgres_db`: a fresh, empty database for one test, dropped after it.

    dsn = postgres_db.dsn   # "host=127.0.0.1 port=PORT user=postgres dbname=test_..."
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.emulators import _tail, free_port
from tests.support.sandbox import NOBODY

#: How long a fresh cluster may take to accept connections (a cold start here takes ~1 s).
READY_TIMEOUT = 60.0


class PostgresError(RuntimeError):
    """The test server could not be created or started; the message says why (with its log)."""


class PostgresUnavailable(Exception):
    """No server can exist on this machine (no binaries, or root without setpriv): the reason.
    The fixtures skip with it; the benchmark (`bench/scaling.py`) reports its part skipped."""


@dataclass(frozen=True)
class PostgresDatabase:
    """One database on the test server; `dsn` is a libpq conninfo string (psycopg, DuckDB)."""

    server: PostgresServer
    name: str

    @property
    def dsn(self) -> str:
        return self.server.dsn(self.name)


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    data_dir: Path

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host={self.host} port={self.port} user=postgres dbname={dbname}"

    @property
    def log(self) -> Path:
        """The server's log (its errors: what the benchmark counts DuckLake's retries from)."""
        return self.data_dir.parent / f"postgres-{self.port}.log"

    @contextmanager
    def database(self, prefix: str = "test") -> Iterator[PostgresDatabase]:
        """A fresh database, dropped (with any sessions still connected) when the block ends."""
        import psycopg

        name = f"{_identifier(prefix)}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.dsn(), autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}"')
        try:
            yield PostgresDatabase(self, name)
        finally:
            with psycopg.connect(self.dsn(), autocommit=True) as con:
                con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def binaries() -> Path | None:
    """The folder holding initdb and postgres: the newest Debian cluster version, else PATH's."""
    debian = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(re.sub(r"\D", "", Path(p).parts[-3]) or 0),
    )
    if debian:
        return Path(debian[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A running throwaway cluster; `PostgresUnavailable` where none can exist."""
    bindir = binaries()
    if bindir is None or not (bindir / "postgres").exists():
        raise PostgresUnavailable(
            "Postgres binaries not found (no /usr/lib/postgresql/*/bin/initdb, no initdb on "
            "PATH): apt-get install postgresql"
        )
    as_user = _unprivileged_prefix()
    # Not under pytest's tmp_path: that is root's alone, and `nobody` must reach the data folder.
    # Short, too: the Unix socket path inside it must stay under 108 bytes.
    work = Path(tempfile.mkdtemp(prefix="lineflow-pg-"))
    try:
        work.chmod(0o755)
        data = work / "data"
        data.mkdir(mode=0o700)
        if as_user:
            os.chown(data, NOBODY, NOBODY)
        init = subprocess.run(
            [*as_user, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
            capture_output=True,
            text=True,
            env={**os.environ, "LC_ALL": "C.UTF-8"},
        )
        if init.returncode != 0:
            raise PostgresError(f"initdb failed ({init.returncode}):\n{init.stderr[-2000:]}")
        # A free port can be taken between choosing and binding it: try another one then.
        for _attempt in range(3):
            port = free_port()
            proc, log = _start(as_user, bindir, data, work, port)
            try:
                _wait_ready(proc, log, port)
            except _PortTaken:
                _stop(proc)
                continue
            try:
                yield PostgresServer("127.0.0.1", port, data)
            finally:
                _stop(proc)
            return
        raise PostgresError("no free loopback port after 3 attempts")
    finally:
        shutil.rmtree(work, ignore_errors=True)


class _PortTaken(Exception):
    pass


def _unprivileged_prefix() -> list[str]:
    """`setpriv ...` to run as nobody when we are root (Postgres refuses root), else nothing."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise PostgresUnavailable(
            "Postgres cannot run as root and setpriv (util-linux) is not installed"
        )
    return [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


def _start(
    as_user: list[str], bindir: Path, data: Path, work: Path, port: int
) -> tuple[subprocess.Popen[bytes], Path]:
    log = work / f"postgres-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                *as_user,
                str(bindir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-k",
                str(data),
                "-c",
                "listen_addresses=127.0.0.1",
                # Tests create and drop a database each; durability on a throwaway is wasted I/O.
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            # In pytest's process group: a Ctrl-C or a `timeout` that ends the session before
            # its teardown reaches the server too, instead of leaving it running.
        )
    return proc, log


def _wait_ready(proc: subprocess.Popen[bytes], log: Path, port: int) -> None:
    """Return once a connection succeeds; fail with the server's log if it exits or hangs."""
    import psycopg

    dsn = f"host=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=2"
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = _tail(log)
            if "could not bind" in text or "Address already in use" in text:
                raise _PortTaken
            raise PostgresError(f"postgres exited ({proc.returncode}):\n{text}")
        try:
            with psycopg.connect(dsn) as con:
                con.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            pass
        # Postgres has no readiness signal but a connection; wait on the process meanwhile, so
        # an exit is noticed at once.
        with suppress(subprocess.TimeoutExpired):
            proc.wait(0.05)
    raise PostgresError(f"postgres on {port} not ready after {READY_TIMEOUT:.0f}s:\n{_tail(log)}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Fast shutdown (SIGINT: roll back sessions, exit), SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def _identifier(text: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", text.lower())[:40] or "test"


# -- pytest fixtures (registered by tests/conftest.py's pytest_plugins) -------------------------


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """The session's Postgres server on 127.0.0.1 (skipped, with the reason, without binaries)."""
    with ExitStack() as stack:
        try:
            server = stack.enter_context(postgres_server())
        except PostgresUnavailable as exc:
            pytest.skip(str(exc))
        yield server


@pytest.fixture
def postgres_db(
    postgres: PostgresServer, request: pytest.FixtureRequest
) -> Iterator[PostgresDatabase]:
    """A fresh, empty database for one test, dropped after it."""
    with postgres.database(request.node.name) as db:
        yield db


def url_dsn(password: str, host: str, port: int, db: str, user: str = "lineflow") -> str:
    """A libpq URL with a made-up password, for tests proving a password is never shown
    (built here so that no test file holds a credential-shaped literal)."""
    return "postgresql://" + "@".join((f"{user}:{password}", f"{host}:{port}/{db}"))
