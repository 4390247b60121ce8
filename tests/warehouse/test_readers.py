"""Readers of the warehouse never break a run: another program holding the file makes lineflow
wait (`locks.wait_s`) and then exit 4 in one line; `lineflow query` reads in turn with runs.

Every other party here is a real process (a notebook's read-only DuckDB connection, a lineflow
process holding the warehouse), released by the test when it decides, never by a timer.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lineflow.warehouse import DuckDBWarehouse
from tests.conftest import INCIDENT, ROOT, copy_home, first_line, run_cli

PROGRAM = Path(sys.executable).resolve().name  # as DuckDB names the holder

#: A notebook: `duckdb.connect(path, read_only=True)`, left open until told to close.
NOTEBOOK = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print(con.execute("SELECT count(*) FROM prop_lines").fetchone()[0], flush=True)
sys.stdin.readline()
con.close()
"""

#: A lineflow process in the middle of a session: it writes one landed row once a reader waits
#: for the warehouse (it sees the reader's mark on `<path>.wait`), then ends the session.
IN_SESSION = """
import sys, threading
from datetime import UTC, date, datetime
from pathlib import Path
from lineflow.warehouse.duckdb import DuckDBWarehouse, LandedRow
wh = DuckDBWarehouse(Path(sys.argv[1]))
with wh.session():
    print("in session", flush=True)
    while not wh._others_wait():  # the reader's mark: no notification exists for a flock
        threading.Event().wait(0.01)
    wh.record_landed_many([LandedRow("late.json", "late", "odds_api", "events",
        date(2026, 1, 23), "p1", 1, None, None, datetime(2026, 1, 23, tzinfo=UTC), "r9")])
print("done", flush=True)
"""

#: A backfill between partitions: the connection kept open by `hold()`, no session running.
HOLDING = """
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from lineflow.warehouse.duckdb import DuckDBWarehouse, LandedRow
wh = DuckDBWarehouse(Path(sys.argv[1]))
with wh.hold():
    with wh.session():
        wh.record_landed_many([LandedRow("first.json", "first", "odds_api", "events",
            date(2026, 1, 23), "p1", 1, None, None, datetime(2026, 1, 23, tzinfo=UTC), "r9")])
    print("holding", flush=True)
    sys.stdin.readline()
    with wh.session():
        wh.record_landed_many([LandedRow("second.json", "second", "odds_api", "events",
            date(2026, 1, 23), "p1", 1, None, None, datetime(2026, 1, 23, tzinfo=UTC), "r9")])
        print(wh.query("SELECT count(*) AS n FROM landed_files").item(), flush=True)
"""


class Process:
    """A real child process whose first printed line says it is ready."""

    def __init__(self, script: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", script, *args],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.first = first_line(self.proc)
        assert self.first, self.proc.stderr.read()

    def release(self) -> str:
        """Tell it to go on; what it printed after its first line."""
        out, err = self.proc.communicate("go\n", timeout=60)
        assert self.proc.returncode == 0, err
        return out


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> Path:
    """A home after a clean run of the incident day (Odds API only)."""
    home = tmp_path_factory.mktemp("loaded") / "home"
    result = run_cli("run", f"date={INCIDENT}", f"home={home}", "only=[odds_api]")
    assert result.code == 0, result.stderr
    return home


@pytest.fixture
def home(loaded: Path, tmp_path: Path) -> Path:
    return copy_home(loaded, tmp_path)


def last_log_entry(home: Path) -> dict:
    newest = max((home / "logs").glob("*.jsonl"), key=lambda p: p.stat().st_mtime_ns)
    return json.loads(newest.read_text().splitlines()[-1])


def run(home: Path, *extra: str):
    return run_cli("run", f"date={INCIDENT}", f"home={home}", "only=[odds_api]", *extra)


def test_a_notebook_holding_the_file_makes_a_run_wait_then_exit_4_in_one_line(home):
    notebook = Process(NOTEBOOK, str(home / "lineflow.duckdb"))
    try:
        blocked = run(home, "locks.wait_s=0.5")
        status = run_cli("status", f"date={INCIDENT}", f"home={home}", "locks.wait_s=0.2")
    finally:
        notebook.release()
    assert blocked.code == 4, blocked.stderr
    pid = notebook.proc.pid
    assert blocked.stderr.splitlines() == [
        f"lineflow: warehouse {home}/lineflow.duckdb is open in another program "
        f"(pid {pid}, {PROGRAM}); waiting up to 0.5s for it to close",
        f"lineflow: error: warehouse {home}/lineflow.duckdb is open in another program "
        f"(pid {pid}, {PROGRAM}), which keeps lineflow out; waited 0.5s "
        "(close it, and read the warehouse with `lineflow query`)",
    ]
    assert last_log_entry(home)["exit_code"] == 4, "the log records the real exit code"
    # status only reads, read-only as the notebook does: both read the file at once
    assert status.code == 0, status.stderr
    assert "odds_api props" in status.stdout and "6,268" in status.stdout

    again = run(home)  # the notebook closed its connection
    assert again.code == 0, again.stderr
    assert last_log_entry(home)["exit_code"] == 0


#: A program with the file open read-write (a notebook that writes): it keeps readers out too.
WRITER = NOTEBOOK.replace("read_only=True", "read_only=False")


def test_a_program_writing_the_file_makes_status_wait_then_exit_4_in_one_line(home):
    notebook = Process(WRITER, str(home / "lineflow.duckdb"))
    try:
        status = run_cli("status", f"date={INCIDENT}", f"home={home}", "locks.wait_s=0.2")
    finally:
        notebook.release()
    assert status.code == 4 and "Traceback" not in status.stderr
    assert status.stderr.splitlines()[-1].startswith("lineflow: error: warehouse ")
    assert "is open in another program" in status.stderr


def test_a_waiting_run_goes_on_once_the_notebook_closes(home):
    notebook = Process(NOTEBOOK, str(home / "lineflow.duckdb"))
    waiter = subprocess.Popen(
        [sys.executable, "-m", "lineflow", "run", f"date={INCIDENT}", f"home={home}",
         "only=[odds_api]", "locks.wait_s=120"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        said = waiter.stderr.readline()  # the run says it waits: the notebook may close now
        assert "is open in another program" in said and "waiting up to 120s" in said, said
    finally:
        notebook.release()
    out, err = waiter.communicate(timeout=120)
    assert waiter.returncode == 0, out + err
    assert last_log_entry(home)["exit_code"] == 0


def test_query_waits_for_a_session_and_sees_what_it_committed(home):
    before = int(
        DuckDBWarehouse(home / "lineflow.duckdb").read("SELECT count(*) FROM landed_files").item()
    )
    writer = Process(IN_SESSION, str(home / "lineflow.duckdb"))
    assert writer.first == "in session\n"
    result = run_cli(
        "query", "SELECT count(*) AS n FROM landed_files", f"home={home}", "format=csv"
    )
    assert writer.release() == "done\n"
    assert result.code == 0, result.stderr
    assert result.stdout == f"n\n{before + 1}\n", "it read after the session, not during it"


def test_query_gets_in_between_the_sessions_of_a_hold_and_the_holder_goes_on(home):
    holder = Process(HOLDING, str(home / "lineflow.duckdb"))
    assert holder.first == "holding\n"
    result = run_cli(
        "query", "SELECT path FROM landed_files WHERE run_id = 'r9'", f"home={home}", "format=json"
    )
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout) == [{"path": "first.json"}]
    total = int(holder.release())  # its next session reconnects and writes
    assert total == len(list((home / "landing").rglob("*.json"))) + 2


def test_query_writes_csv_json_parquet_and_a_table(home, tmp_path):
    sql = (
        "SELECT source, count(*) AS n FROM prop_lines "
        f"WHERE slate_date = DATE '{INCIDENT}' GROUP BY ALL"
    )
    as_json = run_cli("query", sql, f"home={home}", "format=json")
    assert as_json.code == 0, as_json.stderr
    assert json.loads(as_json.stdout) == [{"source": "odds_api", "n": 6268}]
    table = run_cli("query", sql, f"home={home}")
    assert "odds_api" in table.stdout and "6268" in table.stdout and "1 row" in table.stdout
    out = tmp_path / "lines.parquet"
    written = run_cli("query", "SELECT * FROM prop_lines", f"home={home}", f"out={out}")
    assert written.code == 0 and written.stdout == ""
    import polars as pl

    assert pl.read_parquet(out).height == 6268
    piped = subprocess.run(
        [sys.executable, "-m", "lineflow", "query", "-", f"home={home}", "format=csv"],
        input="SELECT 6268 AS n", capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert piped.stdout == "n\n6268\n"


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("DELETE FROM landed_files", 'Cannot execute statement of type "DELETE"'),
        ("CREATE TABLE mine AS SELECT 1", 'Cannot execute statement of type "CREATE"'),
        ("SELEC 1", "syntax error"),
        ("SELECT * FROM nowhere", "nowhere"),
    ],
)
def test_query_refuses_writes_and_bad_sql_in_one_line(home, sql, reason):
    before = (home / "lineflow.duckdb").read_bytes()
    result = run_cli("query", sql, f"home={home}")
    assert result.code == 2
    assert result.stderr.startswith("lineflow: error: query: ") and reason in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert (home / "lineflow.duckdb").read_bytes() == before, "nothing was written"


def test_query_without_a_warehouse_or_sql_is_bad_input(tmp_path):
    missing = run_cli("query", "SELECT 1", f"home={tmp_path}")
    assert missing.code == 2 and "no warehouse at" in missing.stderr
    assert not (tmp_path / "lineflow.duckdb").exists()
    none = run_cli("query", f"home={tmp_path}")
    assert none.code == 2 and "expected one SQL statement" in none.stderr
