"""scrape: a corrupt file at a path the plan writes is set aside and fetched again.

Corrupt means its bytes are not what landed there (its content id is not the manifest's), or,
with no manifest row, that it is not JSON. It is renamed out of the layout, never overwritten
and never deleted, with or without refresh=true."""

from __future__ import annotations

import pytest

from tests.conftest import INCIDENT, query, run_cli

ARGS = ("run", f"date={INCIDENT}", "only=[odds_api]")


def landed(home) -> dict[str, str]:
    return dict(query(home, "SELECT path, file_id FROM landed_files ORDER BY path"))


@pytest.mark.parametrize("refresh", [False, True], ids=["rerun", "refresh"])
def test_a_truncated_landed_file_is_set_aside_and_fetched_again(tmp_path, refresh):
    home = tmp_path / "home"
    assert run_cli(*ARGS, f"home={home}").code == 0
    before = landed(home)
    lines = query(home, "SELECT count(*) FROM prop_lines")
    path = next(p for p in before if "/player_props/" in p)
    target = home / "landing" / path
    body = target.read_bytes()
    target.write_bytes(body[: len(body) // 2])

    result = run_cli(*ARGS, f"home={home}", *(["refresh=true"] if refresh else []))
    assert result.code == 0, result.stdout + result.stderr
    out = " ".join(result.stdout.split())
    assert f"set aside corrupt {path} as {target.name}.corrupt-" in out
    assert target.read_bytes() == body, "the body landed again"
    [aside] = target.parent.glob(f"{target.name}.corrupt-*")
    assert aside.read_bytes() == body[: len(body) // 2], "kept, not overwritten"
    assert landed(home) == before
    assert query(home, "SELECT count(*) FROM prop_lines") == lines


def test_a_dropped_file_that_is_not_json_is_set_aside_before_the_plan_uses_it(tmp_path):
    home = tmp_path / "home"
    assert run_cli(*ARGS, f"home={home}").code == 0
    before = landed(home)
    lines = query(home, "SELECT count(*) FROM prop_lines")
    fresh = tmp_path / "fresh"
    path = next(p for p in before if "/player_props/" in p)
    target = fresh / "landing" / path
    target.parent.mkdir(parents=True)
    target.write_bytes(b'{"id": "cut off')

    result = run_cli(*ARGS, f"home={fresh}")
    assert result.code == 0, result.stdout + result.stderr
    assert "invalid JSON" in " ".join(result.stdout.split())
    assert target.read_bytes() == (home / "landing" / path).read_bytes()
    assert landed(fresh) == before
    assert query(fresh, "SELECT count(*) FROM prop_lines") == lines
