"""The state store under test, on each backend: SQLite in the test's home, or a fresh database
on the session's real Postgres (tests/support/postgres.py).

Fixture (registered by tests/conftest.py): `state_target`, parametrised over both backends; a
test that takes it runs twice, `[sqlite]` and `[postgres]`.

    store = state_target.store()                       # a StateStore on the chosen backend
    run_cli(..., *state_target.overrides(), env=state_target.env)   # the CLI on it
    store_at(state_target.address)                     # the same store, in a child process
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lineflow.state import SqliteStore, StateStore
from lineflow.state.postgres import PostgresStore
from tests.support import ROOT, child_env

#: The environment variable the tests hand the DSN in (the config's default `state.dsn_env`).
DSN_ENV = "LINEFLOW_STATE_DSN"


def store_at(address: str, create: bool = True) -> StateStore:
    """A store from its address: a Postgres DSN (`host=...`), else a SQLite file's path."""
    if "=" in address or address.startswith("postgres"):
        return PostgresStore(address, create=create)
    return SqliteStore(Path(address), create=create)


def python_child(code: str, *args: str) -> subprocess.Popen[str]:
    """`python -c CODE ARGS` from the repository root (`tests` importable), its stdin, stdout and
    stderr piped as text: a second process on the same store, driven through its pipes."""
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=child_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@dataclass(frozen=True)
class StateTarget:
    backend: str  # "sqlite" | "postgres"
    home: Path
    dsn: str | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return self.dsn if self.dsn else str(self.home / "state.sqlite")

    def store(self, create: bool = True) -> StateStore:
        return store_at(self.address, create)

    def overrides(self) -> list[str]:
        return [f"state.backend={self.backend}"]


@pytest.fixture(params=["sqlite", "postgres"])
def state_target(request: pytest.FixtureRequest, home: Path) -> Iterator[StateTarget]:
    """The state store of the test's home, on SQLite and on Postgres."""
    if request.param == "sqlite":
        yield StateTarget("sqlite", home)
        return
    db = request.getfixturevalue("postgres_db")
    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv(DSN_ENV, db.dsn)  # for settings composed in this process
    yield StateTarget("postgres", home, db.dsn, {DSN_ENV: db.dsn})
