"""process: a bad entry dropped into the landing zone is that entry's failure, never the
partition's: the other files load, the later stages run, and the entry is dead-lettered once."""

from __future__ import annotations

import json
import re
import shutil
import signal

from tests.conftest import INCIDENT, query, run_cli, table_checksum

PASS = "live-20260123T150000Z"
ARGS = ("run", f"date={INCIDENT}", "only=[odds_api]")


def test_bad_sidecars_and_a_directory_are_dead_lettered_and_the_partition_goes_on(tmp_path):
    home = tmp_path / "home"
    assert run_cli(*ARGS, f"home={home}").code == 0
    good = sorted((home / "landing/odds_api/player_props" / INCIDENT).rglob("*.json"))[0]
    dropped = home / "landing/odds_api/player_props" / INCIDENT / PASS
    dropped.mkdir(parents=True)
    body = good.read_bytes()
    sidecars = {"garbage": {"fetched_at": "garbage"}, "array": [1]}
    for name, meta in sidecars.items():
        (dropped / f"{name}.json").write_bytes(body.replace(b'"point":', b'"point": ', 1))
        (dropped / f".{name}.json.meta").write_text(json.dumps(meta))
    (dropped / "x.json").mkdir()
    # A good file dropped beside them still loads.
    (dropped / "fine.json").write_bytes(body.replace(b'"point":', b'"point":  ', 1))

    result = run_cli(*ARGS, f"home={home}")
    assert result.code == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    out = " ".join(result.stdout.split())
    assert "fetched_at 'garbage' is not an ISO time" in out
    assert "sidecar is not a JSON object" in out
    assert "x.json: a directory, not a landed file" in out
    # This run's processors, by the id it printed (two runs in one second have ids that do not
    # sort by time: the second is their resolution).
    (run_id,) = re.findall(r"^run (\S+): ", result.stdout, re.M)
    status = dict(
        query(home, "SELECT processor, status FROM run_history WHERE run_id = ?", [run_id])
    )
    assert status["process:odds_api"] == "partial"
    assert {"validate", "consolidate", "predict"} <= {p.split(":")[0] for p in status}
    registered = {
        p for (p,) in query(home, "SELECT path FROM landed_files WHERE pass_id = ?", [PASS])
    }
    assert registered == {f"odds_api/player_props/{INCIDENT}/{PASS}/fine.json"}

    letters = run_cli("dlq", f"home={home}")
    assert letters.stdout.count(f"landing:odds_api/player_props/{INCIDENT}/{PASS}/") == 3
    assert "3 dead letters" in letters.stdout

    again = run_cli(*ARGS, f"home={home}")
    assert again.code == 0, again.stdout
    assert "3 dropped files waiting for a retry or in the dead letters" in again.stdout
    assert run_cli("dlq", f"home={home}").stdout.count("reason:") == 3, "dead-lettered once"

    # Fixed by hand and replayed, the file joins the manifest on the next run.
    (dropped / ".garbage.json.meta").write_text(json.dumps({"fetched_at": "2026-01-23T15:00:00Z"}))
    garbage = next(line for line in letters.stdout.splitlines() if "garbage.json" in line)
    assert run_cli("dlq", "replay", garbage.split()[0], f"home={home}").code == 0
    assert run_cli(*ARGS, f"home={home}").code == 0
    registered = {
        p for (p,) in query(home, "SELECT path FROM landed_files WHERE pass_id = ?", [PASS])
    }
    assert f"odds_api/player_props/{INCIDENT}/{PASS}/garbage.json" in registered


def test_identical_dropped_bodies_are_staged_once_and_a_copy_of_a_processed_file_not_again(
    tmp_path,
):
    home = tmp_path / "home"
    assert run_cli(*ARGS, f"home={home}").code == 0
    good = sorted((home / "landing/odds_api/player_props" / INCIDENT).rglob("*.json"))[0]
    before = query(home, "SELECT count(*), sum(rows) FROM processed_files")[0]
    staged = query(home, "SELECT count(*) FROM stg_prop_lines")[0][0]
    dropped = home / "landing/odds_api/player_props" / INCIDENT / PASS
    dropped.mkdir(parents=True)
    body = good.read_bytes()
    (dropped / "copy.json").write_bytes(body)  # content the ledger has
    twin = body.replace(b'"point":', b'"point": ', 1)  # new content, twice
    (dropped / "twin-a.json").write_bytes(twin)
    (dropped / "twin-b.json").write_bytes(twin)

    result = run_cli(*ARGS, f"home={home}")
    assert result.code == 0, result.stdout + result.stderr
    registered = {
        p.rsplit("/", 1)[1]
        for (p,) in query(home, "SELECT path FROM landed_files WHERE pass_id = ?", [PASS])
    }
    assert registered == {"copy.json", "twin-a.json", "twin-b.json"}
    ((files, rows),) = query(home, "SELECT count(*), sum(rows) FROM processed_files")
    ((twin_rows,),) = query(
        home,
        "SELECT rows FROM processed_files JOIN landed_files USING (file_id) WHERE path LIKE ?",
        ["%/twin-a.json"],
    )
    assert twin_rows > 0
    assert (files, rows) == (before[0] + 1, before[1] + twin_rows), "the twins' content once"
    assert query(home, "SELECT count(*) FROM stg_prop_lines") == [(staged + twin_rows,)]
    again = run_cli(*ARGS, f"home={home}")
    assert again.code == 0 and query(home, "SELECT count(*) FROM stg_prop_lines") == [
        (staged + twin_rows,)
    ]


#: What a run writes, less what names the run (run ids, times).
TABLES = {
    "prop_lines": "(SELECT * EXCLUDE (run_id) FROM prop_lines)",
    "stg_prop_lines": "(SELECT * EXCLUDE (run_id) FROM stg_prop_lines)",
    "landed_files": "(SELECT * EXCLUDE (run_id) FROM landed_files)",
    "processed_files": "(SELECT * EXCLUDE (run_id, processed_at) FROM processed_files)",
}


def test_dropped_files_killed_around_their_staging_then_rerun_leave_the_tables_of_a_clean_run(
    tmp_path,
):
    """A dropped file's manifest row is written with its staged rows and ledger row, in one
    transaction: a kill before it leaves the file unregistered (found again by the rerun), a
    kill after it leaves it processed."""
    scraped = tmp_path / "scraped"
    assert run_cli(*ARGS, f"home={scraped}", "pipeline.stages=[scrape]").code == 0
    local = (*ARGS, "pipeline.stages=[process,validate,consolidate]")
    tables = {}
    for name, points in {
        "clean": [],
        "killed": ["before_stage_file:4", "after_stage_file:3"],
    }.items():
        home = tmp_path / name
        shutil.copytree(scraped / "landing", home / "landing")
        for point in points:
            killed = run_cli(*local, f"home={home}", env={"LINEFLOW_KILL_AT": point})
            assert killed.code == -signal.SIGKILL, f"{point} was not reached: {killed.stderr}"
            unprocessed = (
                "SELECT count(*) FROM landed_files ANTI JOIN processed_files USING (file_id)"
            )
            assert query(home, unprocessed) == [(0,)], (
                f"a manifest row without its ledger row: {point}"
            )
        assert run_cli(*local, f"home={home}").code == 0
        tables[name] = {table: table_checksum(home, view) for table, view in TABLES.items()}
    assert tables["killed"] == tables["clean"]
    assert tables["clean"]["processed_files"][0] == 17
