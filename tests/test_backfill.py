"""`lineflow backfill`: the Odds API props of 2026-01-19..22 from the historical snapshots."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT, query, run_cli, table_checksum
from tests.support.state import StateTarget

RANGE = ("start=2026-01-19", "end=2026-01-22")


def lines_without_run_ids(home):
    return query(
        home,
        "SELECT count(*), md5(string_agg(t::VARCHAR, ',' ORDER BY t::VARCHAR)) "
        "FROM (SELECT * EXCLUDE (run_id) FROM prop_lines) t",
    )


def test_dry_run_prints_the_cost_and_touches_nothing(home):
    result = run_cli("backfill", *RANGE, f"home={home}", "dry_run=true")
    assert result.code == 0, result.stderr
    assert "4 partitions, about 44 requests and 1,604 Odds API credits" in result.stdout
    assert not home.exists()


def test_backfill_fills_the_four_days_then_a_second_run_asks_nothing(home):
    first = run_cli("backfill", *RANGE, f"home={home}")
    assert first.code == 0, first.stdout + first.stderr
    per_day = query(
        home,
        "SELECT slate_date::VARCHAR, count(*), min(hour(snapshot_at)), "
        "count(DISTINCT player_key) FILTER (market = 'player_points') "
        "FROM prop_lines GROUP BY 1 ORDER BY 1",
    )
    assert [d for d, *_ in per_day] == ["2026-01-19", "2026-01-20", "2026-01-21", "2026-01-22"]
    assert all(rows > 0 and hour == 17 and players >= 70 for _, rows, hour, players in per_day)
    assert "complete" in first.stdout

    before = table_checksum(home, "prop_lines")
    second = run_cli("backfill", *RANGE, f"home={home}", "reprocess=missing")
    assert second.code == 0
    assert "0 partitions to run, 4 skipped" in second.stdout
    assert table_checksum(home, "prop_lines") == before
    assert query(home, "SELECT count(DISTINCT run_id) FROM run_history") == [(4,)], (
        "the second backfill ran nothing"
    )

    status = run_cli("backfill", "status", f"home={home}")
    assert status.code == 0 and "4/4" in status.stdout


def test_bad_keys_are_one_line_and_exit_2(home):
    for args, message in [
        (("start=2026-01-22", "end=2026-01-19"), "end 2026-01-19 is before start 2026-01-22"),
        (("start=2026-01-19",), "end: required"),
        ((*RANGE, "reprocess=sometimes"), "reprocess: Input should be 'missing', 'failed'"),
        ((*RANGE, "sources=[bettingpros]"), "bettingpros has no historical endpoint"),
    ]:
        result = run_cli("backfill", *args, f"home={home}")
        assert result.code == 2, (args, result.stdout, result.stderr)
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (home / "lineflow.duckdb").exists()


def test_a_backfill_killed_half_way_resumes_where_it_stopped(tmp_path):
    home, clean = tmp_path / "home", tmp_path / "clean"
    assert run_cli("backfill", *RANGE, f"home={clean}", "max_parallel=1").code == 0

    proc = subprocess.Popen(
        [sys.executable, "-m", "lineflow", "backfill", *RANGE, f"home={home}", "max_parallel=1"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    done = wait_for_complete(proc, home, 2)
    workers = descendants(proc.pid)
    assert workers, "the backfill parses in worker processes"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert 2 <= done < 4, f"killed after {done} partitions"
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)  # polling other processes' exit; the condition is what we wait on
    assert not [pid for pid in workers if alive(pid)], "the killed backfill's workers exit"

    con = sqlite3.connect(home / "state.sqlite")
    (backfill_id,) = con.execute("SELECT id FROM backfills").fetchone()
    con.close()
    resumed = run_cli("backfill", "resume", backfill_id, f"home={home}")
    assert resumed.code == 0, resumed.stdout + resumed.stderr
    attempts = dict(query_state(home, "SELECT slate_date, attempts FROM backfill_partitions"))
    assert sum(attempts.values()) <= 5, "completed partitions are not run again"
    assert lines_without_run_ids(home) == lines_without_run_ids(clean)


def wait_for_complete(proc: subprocess.Popen, home: Path, count: int, timeout: float = 120) -> int:
    """The complete partitions of the backfill `proc` runs in `home`, once there are `count`
    (or `proc` ended, or `timeout` passed)."""
    deadline = time.monotonic() + timeout
    done = 0
    while done < count and time.monotonic() < deadline and proc.poll() is None:
        try:
            con = sqlite3.connect(home / "state.sqlite", timeout=5)
            done = con.execute(
                "SELECT count(*) FROM backfill_partitions WHERE status = 'complete'"
            ).fetchone()[0]
            con.close()
        except sqlite3.OperationalError:
            done = 0  # the store is not created yet
        time.sleep(0.05)  # polling another process's progress; the condition is what we wait on
    return done


def descendants(pid: int) -> list[int]:
    """A process's children and theirs, from /proc."""
    found, todo = [], [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").iterdir():
            children = [int(c) for c in (task / "children").read_text().split()]
            found += children
            todo += children
    return found


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie, dead but not yet reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def query_state(home, sql):
    con = sqlite3.connect(home / "state.sqlite")
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_minutes_before_tip_takes_each_slate_at_its_first_tip_off(tmp_path):
    """Live against the stand-in: the snapshot is learned from the events list, per date."""
    from tests.support.standin import StandIn

    home = tmp_path / "home"
    with StandIn() as standin:
        result = run_cli(
            "backfill",
            "start=2026-01-20",
            "end=2026-01-21",
            "minutes_before_tip=60",
            f"home={home}",
            "http.mode=live",
            f"sources.odds_api.base_url={standin.url}",
            env={"ODDS_API_KEY": "standin-odds-key"},
        )
    assert result.code == 0, result.stdout + result.stderr
    assert "first tip-off" in result.stdout
    gaps = query(
        home,
        "SELECT slate_date::VARCHAR, min(commence_time) - max(snapshot_at) FROM prop_lines "
        "GROUP BY 1 ORDER BY 1",
    )
    assert [d for d, _ in gaps] == ["2026-01-20", "2026-01-21"]
    for _, gap in gaps:
        # The archive's snapshot is at or before the asked time (5-minute steps).
        assert 60 * 60 <= gap.total_seconds() < 65 * 60 + 60, gap
    again = run_cli(
        "backfill", "start=2026-01-20", "end=2026-01-21", "minutes_before_tip=60", f"home={home}"
    )
    assert "0 partitions to run, 2 skipped" in again.stdout


def test_a_backfill_without_scrape_reprocesses_the_landed_files_of_every_source(tmp_path):
    """`pipeline.stages=[process,validate,consolidate]`: a season of landed files (BettingPros
    has no historical endpoint, so only this can redo it) processed again, partition by
    partition, with the backfill's manifest; the tables equal the daily runs'."""
    days = ("2026-01-19", "2026-01-20")
    daily, landed = tmp_path / "daily", tmp_path / "landed"
    for day in days:
        assert run_cli("run", f"date={day}", f"home={daily}").code == 0
        scraped = run_cli("run", f"date={day}", f"home={landed}", "pipeline.stages=[scrape]")
        assert scraped.code == 0, scraped.stderr
    assert query(landed, "SELECT count(*) FROM prop_lines") == [(0,)]

    local = "pipeline.stages=[process,validate,consolidate]"
    refill = run_cli(
        "backfill", f"start={days[0]}", f"end={days[1]}", f"home={landed}",
        "sources=[odds_api,bettingpros,draftkings]", local,
    )  # fmt: skip
    assert refill.code == 0, refill.stdout + refill.stderr
    assert "2 partitions to run" in refill.stdout and "complete" in refill.stdout
    assert "18:00Z" not in refill.stdout, "no snapshot was used: nothing was fetched"
    processed = "SELECT source, count(*) FROM processed_files GROUP BY 1 ORDER BY 1"
    assert [s for s, n in query(landed, processed) if n > 0] == [
        "bettingpros",
        "draftkings",
        "odds_api",
    ]
    assert query(landed, "SELECT count(*) > 1000 FROM prop_lines WHERE source = 'bettingpros'") == [
        (True,)
    ]
    assert lines_without_run_ids(landed) == lines_without_run_ids(daily)

    scraping = run_cli("backfill", f"start={days[0]}", f"end={days[1]}", f"home={landed}",
                       "sources=[bettingpros]")  # fmt: skip
    assert scraping.code == 2
    assert f"(to reprocess its landed files only: {local})" in scraping.stderr


def test_a_reprocessing_backfill_registers_and_parses_restored_files_in_its_workers(tmp_path):
    """Files restored by hand (a bucket synced into the landing zone, no manifest rows) are
    registered, read and parsed by the backfill's parse workers: the same prop_lines as the
    daily run, a copy of a file processed once, and a truncated file is reported by name with
    its parse error, not lost."""
    day = "2026-01-20"
    daily, restored = tmp_path / "daily", tmp_path / "restored"
    assert run_cli("run", f"date={day}", f"home={daily}").code == 0
    shutil.copytree(daily / "landing", restored / "landing")
    some_pass = sorted((restored / "landing" / "odds_api" / "player_props" / day).iterdir())[0]
    broken = some_pass / "zz-truncated.json"
    broken.write_bytes(b'{"id": "e1", "bookmakers": [{"key": "fanduel", "mark')
    # Identical bodies are processed once, whichever batch and worker read them.
    copied = sorted(some_pass.glob("*.json"))[0]
    (some_pass / "zz-copy.json").write_bytes(copied.read_bytes())

    refill = run_cli(
        "backfill", f"start={day}", f"end={day}", f"home={restored}",
        "sources=[odds_api,bettingpros,draftkings]",
        "pipeline.stages=[process,validate,consolidate]",
    )  # fmt: skip
    assert lines_without_run_ids(restored) == lines_without_run_ids(daily)
    landed = "SELECT count(*) FROM landed_files"
    assert query(restored, landed) == [(query(daily, landed)[0][0] + 2,)]
    processed = "SELECT count(*) FROM processed_files"
    assert query(restored, processed) == [(query(daily, processed)[0][0] + 1,)]
    failed = query(
        restored,
        "SELECT l.path, p.status, p.error FROM processed_files p "
        "JOIN landed_files l USING (file_id, slate_date) WHERE p.status <> 'ok'",
    )
    assert len(failed) == 1
    path, status, error = failed[0]
    assert path.endswith("zz-truncated.json") and status == "failed"
    assert "truncated" in error, error
    assert "zz-truncated.json" in refill.stdout + refill.stderr


def test_status_names_a_killed_backfill_interrupted_and_resume_completes_it(
    home, state_target: StateTarget
):
    def cli(*args: str, env: dict[str, str] | None = None):
        return run_cli(*args, *state_target.overrides(), env={**state_target.env, **(env or {})})

    def state(sql: str) -> list[tuple]:
        with state_target.store().connect() as con:
            return [tuple(r) for r in con.execute(sql).fetchall()]

    days = ("start=2026-01-19", "end=2026-01-19")
    killed = cli("backfill", *days, f"home={home}", env={"LINEFLOW_KILL_AT": "after_lock_acquire"})
    assert killed.code == -signal.SIGKILL, killed.stdout + killed.stderr
    (backfill_id, pid) = state("SELECT backfill_id, pid FROM backfill_owners")[0]
    assert state("SELECT status FROM backfills") == [("running",)]  # as it was left

    listed = cli("backfill", "status", f"home={home}")
    assert listed.code == 0, listed.stderr
    said = f"interrupted (owner {pid} is gone; resume with lineflow backfill resume {backfill_id})"
    assert said in " ".join(listed.stdout.split()) and "running" not in listed.stdout
    one = cli("backfill", "status", backfill_id, f"home={home}")
    assert one.stdout.strip().endswith(f"backfill {backfill_id}: {said}"), one.stdout

    assert cli("backfill", "resume", backfill_id, f"home={home}").code == 0
    done = cli("backfill", "status", backfill_id, f"home={home}")
    assert done.stdout.strip().endswith(f"backfill {backfill_id}: complete"), done.stdout


def test_the_manifest_records_partitions_outcomes_and_what_later_backfills_skip(
    state_target: StateTarget,
):
    from lineflow.pipeline.backfill import BackfillRequest, Manifest, to_skip

    manifest = Manifest(state_target.store())
    request = BackfillRequest(start="2026-01-19", end="2026-01-21")
    first = manifest.create(request)
    manifest.own(first)
    manifest.start_attempt(first, request.start)
    manifest.update(first, request.start, status="complete", rows=120, credits=40)
    manifest.update(first, request.end, status="failed", last_error="HTTP 500")
    assert manifest.finish(first) == "failed"
    assert [(p["slate_date"], p["status"], p["attempts"]) for p in manifest.partitions(first)] == [
        ("2026-01-19", "complete", 1),
        ("2026-01-20", "pending", 0),
        ("2026-01-21", "failed", 0),
    ]
    earlier = manifest.earlier_outcomes(request)
    assert earlier == {"2026-01-19": "complete", "2026-01-21": "failed"}
    assert set(to_skip(request, earlier)) == {"2026-01-19", "2026-01-21"}
    second = manifest.create(request)
    manifest.own(second)
    manifest.own(second)  # a resume: the owner row is replaced, not doubled
    listed = {b["id"]: b for b in manifest.list()}
    assert (listed[first]["complete"], listed[first]["total"]) == (1, 3)
    assert listed[first]["status"] == "failed"
    assert listed[second]["status"] == "running" and listed[second]["owner_pid"] == os.getpid()
    assert manifest.request(second) == request


def test_a_backfill_parses_restored_partitions_ahead_of_their_runs_as_their_own(tmp_path):
    """Restored files of several partitions, one partition at a time: the next partitions'
    files are sent to the parse worker while the earlier ones store (`process.Parsers`), and
    every partition's rows, manifest rows and ledger rows are its own run's, the lines those
    of the daily runs."""
    days = ("2026-01-19", "2026-01-20", "2026-01-21")
    daily, restored = tmp_path / "daily", tmp_path / "restored"
    for day in days:
        assert run_cli("run", f"date={day}", f"home={daily}").code == 0
    shutil.copytree(daily / "landing", restored / "landing")

    refill = run_cli(
        "backfill", f"start={days[0]}", f"end={days[-1]}", f"home={restored}", "max_parallel=1",
        "sources=[odds_api,bettingpros,draftkings]",
        "pipeline.stages=[process,validate,consolidate]",
    )  # fmt: skip
    assert refill.code == 0, refill.stdout + refill.stderr
    assert lines_without_run_ids(restored) == lines_without_run_ids(daily)
    runs = dict(
        query(restored, "SELECT slate_date, run_id FROM run_history WHERE phase = 'process'")
    )
    assert sorted(map(str, runs)) == list(days)
    for table in ("stg_prop_lines", "landed_files", "processed_files"):
        stored = query(restored, f"SELECT DISTINCT slate_date, run_id FROM {table}")
        assert dict(stored) == runs and len(stored) == len(days), table


def test_local_parallel_limits_the_partitions_processing_at_once(tmp_path):
    """`local_parallel=1` beside `max_parallel=3`: three partitions in flight, one at a time in
    its local stages (process, validate, consolidate), whose spans in `run_history` then never
    overlap; the lines are the daily runs'. 0 is bad input."""
    days = ("2026-01-19", "2026-01-20", "2026-01-21")
    daily, restored = tmp_path / "daily", tmp_path / "restored"
    for day in days:
        assert run_cli("run", f"date={day}", f"home={daily}").code == 0
    shutil.copytree(daily / "landing", restored / "landing")
    args = (
        "backfill", f"start={days[0]}", f"end={days[-1]}", f"home={restored}",
        "sources=[odds_api,bettingpros,draftkings]",
        "pipeline.stages=[process,validate,consolidate]", "max_parallel=3",
    )  # fmt: skip
    bad = run_cli(*args, "local_parallel=0")
    assert bad.code == 2 and "local_parallel" in bad.stderr and len(bad.stderr.splitlines()) == 1
    refill = run_cli(*args, "local_parallel=1")
    assert refill.code == 0, refill.stdout + refill.stderr
    assert lines_without_run_ids(restored) == lines_without_run_ids(daily)
    spans = query(
        restored,
        "SELECT slate_date, min(started_at), max(finished_at) FROM run_history "
        "WHERE phase IN ('process', 'validate', 'consolidate') GROUP BY 1 ORDER BY 2",
    )
    assert len(spans) == len(days)
    for (_, _, ended), (_, started, _) in zip(spans, spans[1:], strict=False):
        assert ended <= started, spans
