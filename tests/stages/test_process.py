"""process: every landed file not yet in the ledger; a bad file is recorded, the others go on."""

from __future__ import annotations

from tests.conftest import INCIDENT, query, run_cli

PASS = "live-20260123T150000Z"


def test_a_corrupt_file_is_recorded_with_its_reason_and_the_rest_load(tmp_path):
    home = tmp_path / "home"
    assert run_cli("run", f"date={INCIDENT}", f"home={home}", "only=[odds_api]").code == 0
    good = sorted((home / "landing/odds_api/player_props" / INCIDENT).rglob("*.json"))[0]
    dropped = home / "landing/odds_api/player_props" / INCIDENT / PASS
    dropped.mkdir(parents=True)
    body = good.read_bytes()
    (dropped / "truncated.json").write_bytes(body[: len(body) // 2])
    (dropped / "copy.json").write_bytes(body.replace(b'"point":', b'"point": ', 1))

    result = run_cli("run", f"date={INCIDENT}", f"home={home}", "only=[odds_api]")
    assert result.code == 0, result.stdout
    assert "partial" in result.stdout and "truncated.json" in result.stdout
    ledger = dict(
        query(
            home,
            "SELECT l.path, p.status || ':' || coalesce(p.error, '') FROM landed_files l "
            "JOIN processed_files p USING (file_id) WHERE l.pass_id = ?",
            [PASS],
        )
    )
    bad = ledger[f"odds_api/player_props/{INCIDENT}/{PASS}/truncated.json"]
    assert bad.startswith("failed:odds_api event odds: invalid JSON")
    assert ledger[f"odds_api/player_props/{INCIDENT}/{PASS}/copy.json"] == "ok:"
    assert query(home, "SELECT count(DISTINCT file_id) FROM prop_lines") == [(17,)]

    strict = run_cli("run", f"date={INCIDENT}", f"home={home}", "only=[odds_api]", "strict=true")
    assert strict.code == 0, "the failure is recorded once; a rerun has nothing new to judge"
