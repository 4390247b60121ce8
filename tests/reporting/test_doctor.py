"""`lineflow doctor`: finds and fixes a seeded stale lock and unprocessed landed files."""

from __future__ import annotations

from datetime import UTC, datetime

from lineflow.state import SqliteStore
from tests.conftest import INCIDENT, query, run_cli

LOCK = f"nba_props:process:{INCIDENT}"
OWNER = "batch-host pid 999999 run exec-early"


def seed_stale_lock(home):
    """The incident's lock: taken at 14:08 by a batch on another host, never freed."""
    store = SqliteStore(home / "state.sqlite")
    store.ensure("locks")
    taken = datetime(2026, 1, 23, 14, 8, tzinfo=UTC).timestamp()
    with store.transaction() as con:
        con.execute(
            "INSERT INTO locks VALUES (?, 'nba_props', 'process', ?, 'batch-host', 999999, "
            "'exec-early', ?, ?, ?)",
            (LOCK, INCIDENT, taken, taken, taken + 30 * 60),
        )


def locks(home):
    with SqliteStore(home / "state.sqlite").connect() as con:
        return [r[0] for r in con.execute("SELECT key FROM locks").fetchall()]


def test_finds_then_fixes_a_stale_lock_and_unprocessed_files(tmp_path):
    home = tmp_path / "home"
    # The 2026-01-23 shape: files landed, the batch never processed them, a lock never freed.
    landed = run_cli("run", f"date={INCIDENT}", f"home={home}", "pipeline.stages=[scrape]")
    assert landed.code == 0, landed.stderr
    seed_stale_lock(home)
    now = "now=2026-01-23T16:00:00Z"

    found = run_cli("doctor", f"date={INCIDENT}", f"home={home}", now)
    assert found.code == 3, found.stdout + found.stderr
    assert f"found lock {LOCK}: held by {OWNER} since 2026-01-23 14:08Z, expired" in found.stdout
    assert "fix=true would release each stale lock" in found.stdout
    assert "found odds_api files: 17 landed and not processed" in found.stdout
    assert "found draftkings files: 4 landed and not processed" in found.stdout
    assert "stuck-prediction-batch: not applicable (no data)" in found.stdout
    assert locks(home) == [LOCK], "without fix=true nothing changes"
    assert query(home, "SELECT count(*) FROM prop_lines") == [(0,)]

    fixed = run_cli("doctor", f"date={INCIDENT}", f"home={home}", now, "fix=true")
    assert "stale-locks: fixed" in fixed.stdout
    assert f"released lock {LOCK}" in fixed.stdout
    assert "unprocessed-files: fixed" in fixed.stdout
    # The Odds API's 6268 rows and DraftKings' 564.
    assert "prop_lines 0 -> 6832 rows" in fixed.stdout
    assert locks(home) == []
    assert query(home, f"SELECT count(*) FROM prop_lines WHERE slate_date = '{INCIDENT}'") == [
        (6832,)
    ]
    # Still blocked, nothing to backfill BettingPros from: said, not hidden.
    assert "missing-source: unresolved" in fixed.stdout
    assert "left bettingpros: no historical endpoint" in fixed.stdout
    assert fixed.code == 3

    logged = query(
        home,
        "SELECT playbook, mode, outcome, detail FROM doctor_actions "
        "WHERE mode = 'fix' AND outcome = 'fixed' ORDER BY playbook, detail",
    )
    assert ("stale-locks", "fix", "fixed", f"released lock {LOCK}") in logged
    assert any(p == "unprocessed-files" and "6832 rows" in (d or "") for p, _, _, d in logged)

    again = run_cli("doctor", f"date={INCIDENT}", f"home={home}", now)
    assert "stale-locks: healthy" in again.stdout
    assert "unprocessed-files: healthy" in again.stdout


def test_a_day_missing_a_source_is_backfilled_from_the_historical_endpoint(week_copy):
    before = run_cli("doctor", "date=2026-01-20", f"home={week_copy}")
    assert "found odds_api on 2026-01-20: missing" in before.stdout
    fixed = run_cli("doctor", "date=2026-01-20", f"home={week_copy}", "fix=true")
    assert fixed.code == 0, fixed.stdout + fixed.stderr
    assert "missing-source: fixed" in fixed.stdout
    assert "backfilled odds_api at 18:00Z" in fixed.stdout
    status = run_cli("status", "date=2026-01-20", f"home={week_copy}")
    assert "missing" not in status.stdout


def test_an_unknown_detector_is_bad_input(tmp_path):
    result = run_cli(
        "doctor",
        f"date={INCIDENT}",
        f"home={tmp_path}",
        "doctor.playbooks=[{name: x, detector: nope, action: release_locks}]",
    )
    assert result.code == 2
    assert "doctor.playbooks.0.detector: unknown detector 'nope'" in result.stderr
