"""process: a bad entry dropped into the landing zone is that entry's failure, never the
partition's: the other files load, the later stages run, and the entry is dead-lettered once."""

from __future__ import annotations

import json
import re

from tests.conftest import INCIDENT, query, run_cli

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
