"""Re-recording fixtures: lineflow in record mode against the stand-in, then replayed."""

from __future__ import annotations

from datetime import date

from tests.conftest import FIXTURES, INCIDENT, query, run_cli
from tests.support.record import incident_week, record


def test_recorded_cassettes_replay_to_the_same_tables(tmp_path):
    cassettes = tmp_path / "cassettes"
    passes = [p for p in incident_week() if p.partition == date(2026, 1, 23)]
    record(passes, cassettes)
    recorded = sorted(p.relative_to(cassettes).as_posix() for p in cassettes.rglob("*.json.gz"))
    shipped = sorted(
        p.relative_to(FIXTURES).as_posix() for p in FIXTURES.rglob(f"*/{INCIDENT}/*.json.gz")
    )
    assert recorded == shipped

    def lines(home):
        return query(
            home,
            "SELECT md5(string_agg(t::VARCHAR, ',' ORDER BY t::VARCHAR)), count(*) FROM "
            "(SELECT * EXCLUDE (run_id) FROM prop_lines) t",
        )

    fresh, shipped_home = tmp_path / "fresh", tmp_path / "shipped"
    assert (
        run_cli("run", f"date={INCIDENT}", f"home={fresh}", f"http.cassettes={cassettes}").code == 0
    )
    assert run_cli("run", f"date={INCIDENT}", f"home={shipped_home}").code == 0
    assert lines(fresh) == lines(shipped_home)
