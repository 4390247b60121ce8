"""Shared test helpers: run the real CLI, read the real DuckDB file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

#: The stand-in provider plus real forward proxies (fixtures `world`, `clean`); a real Postgres
#: on loopback (fixtures `postgres`, `postgres_db`); the state store on each backend
#: (`state_target`).
pytest_plugins = ["tests.proxied", "tests.support.postgres", "tests.support.state"]
# gcsfs reads this at import: without it every bucket lookup first tries a gRPC probe that an
# emulator never answers (a minute each). Set before any test module imports gcsfs.
os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "cassettes"
INCIDENT = "2026-01-23"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300, cwd: Path = ROOT
) -> Result:
    """`lineflow ARGS` in a subprocess, as a user runs it (the network is never needed)."""
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    out = subprocess.run(
        [sys.executable, "-m", "lineflow", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
    )
    return Result(out.returncode, out.stdout, out.stderr)


def first_line(proc: subprocess.Popen[str], timeout: float = 30) -> str:
    """The next line a child process prints (its first, on a fresh one), waiting at most
    `timeout` seconds ("" if none)."""
    line: list[str] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return line[0] if line else ""


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


def copy_home(home: Path, tmp_path: Path) -> Path:
    """A private copy of a prepared home, for a test that changes it."""
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    return copy


# -- Google Cloud emulators on loopback (started only by the tests that use them) --------------
#
# The BigQuery emulator's own venv is built under .emu/ on first use (see
# tests/support/emulators.py and docs/bigquery.md); later sessions reuse it.


@pytest.fixture(scope="session")
def gcs_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("gcs-root")


@pytest.fixture(scope="session")
def gcs_endpoint(gcs_root, tmp_path_factory):
    """fake-gcs-server on 127.0.0.1; STORAGE_EMULATOR_HOST points gcsfs and the CLI at it."""
    from tests.support.emulators import gcs_server

    with gcs_server(gcs_root, tmp_path_factory.mktemp("gcs-work")) as endpoint:
        previous = os.environ.get("STORAGE_EMULATOR_HOST")
        os.environ["STORAGE_EMULATOR_HOST"] = endpoint
        try:
            yield endpoint
        finally:
            if previous is None:
                os.environ.pop("STORAGE_EMULATOR_HOST", None)
            else:
                os.environ["STORAGE_EMULATOR_HOST"] = previous


@pytest.fixture
def bucket(gcs_endpoint, request) -> str:
    """A fresh, empty bucket for one test; its name."""
    import gcsfs

    name = "lf-" + "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:50]
    name = name.strip("-")
    gcsfs.GCSFileSystem(token="anon", cache_timeout=0).mkdir(name)
    return name


@pytest.fixture(scope="session")
def bq_endpoint(tmp_path_factory, gcs_root):
    """A BigQuery emulator process on 127.0.0.1 for the session: `http://127.0.0.1:PORT`."""
    from tests.support.emulators import bigquery_server

    with bigquery_server(tmp_path_factory.mktemp("bq-work"), gcs_root) as endpoint:
        yield endpoint


@dataclass
class BigQueryTarget:
    endpoint: str
    project: str
    dataset: str
    client: object
    emulator: str  # "local-bigquery" | "bqemulator"

    def needs(self, feature: str) -> None:
        """Skip where the fallback emulator lacks a BigQuery feature (docs/bigquery.md)."""
        if self.emulator != "local-bigquery":
            pytest.skip(f"{self.emulator} does not support {feature}; local-bigquery does")

    def overrides(self) -> list[str]:
        return [
            f"bigquery.project={self.project}",
            f"bigquery.dataset={self.dataset}",
            f"bigquery.api_endpoint={self.endpoint}",
        ]

    def count(self, table: str, partition: str = INCIDENT) -> int:
        rows = self.client.query_and_wait(  # type: ignore[attr-defined]
            f"SELECT count(*) AS n FROM `{self.project}.{self.dataset}.{table}` "
            f"WHERE slate_date = DATE '{partition}'"
        )
        return int(next(iter(rows))["n"])


@pytest.fixture
def bq(bq_endpoint, request):
    """The unmodified google-cloud-bigquery client on the emulator, and a dataset name of the
    test's own (created by what is under test, deleted afterwards)."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    client = bigquery.Client(
        project="test",
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=bq_endpoint),
    )
    dataset = "ds_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:60]
    client.delete_dataset(dataset, delete_contents=True, not_found_ok=True)
    from tests.support.emulators import ensure_emulator

    yield BigQueryTarget(bq_endpoint, "test", dataset, client, ensure_emulator().kind)
    client.delete_dataset(dataset, delete_contents=True, not_found_ok=True)
    client.close()
