"""Shared test helpers: run the real CLI, read the real DuckDB file."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

#: The stand-in provider plus real forward proxies (fixtures `world`, `clean`).
pytest_plugins = ["tests.proxied"]

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "cassettes"
INCIDENT = "2026-01-23"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> Result:
    """`lineflow ARGS` in a subprocess, as a user runs it (the network is never needed)."""
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    out = subprocess.run(
        [sys.executable, "-m", "lineflow", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=ROOT,
        timeout=timeout,
    )
    return Result(out.returncode, out.stdout, out.stderr)


def query(home: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(home / "lineflow.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def table_checksum(home: Path, table: str, where: str = "true") -> tuple[int, str]:
    ((count, digest),) = query(
        home,
        f"SELECT count(*), md5(coalesce(string_agg(t::VARCHAR, '\n' ORDER BY t::VARCHAR), '')) "
        f"FROM {table} t WHERE {where}",
    )
    return count, digest


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"
