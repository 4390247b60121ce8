"""process: a bad value is a row problem, an unparseable body a permanent one.

A price of NaN, Infinity or 1e400 (JSON that Python's decoder accepts), or one past any price
column's range (an integer of 2**63 or more, a number with a huge exponent), loses no file: the
row is loaded with no price and quarantined by the odds rules, like a price of 0 or "abc". A body
nested past any parser's depth is dead-lettered on its first attempt, not retried. Every
message is one line."""

from __future__ import annotations

import re

import pytest

from tests.conftest import INCIDENT, query, run_cli

PASS = "live-20260123T150000Z"
ARGS = ("run", f"date={INCIDENT}", "only=[odds_api]")


def drop(home, name: str, body: bytes) -> str:
    """Put `body` into the landing zone by hand under a new pass; its landing path."""
    folder = home / "landing/odds_api/player_props" / INCIDENT / PASS
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(body)
    return f"odds_api/player_props/{INCIDENT}/{PASS}/{name}"


def a_landed_body(home) -> bytes:
    return sorted((home / "landing/odds_api/player_props" / INCIDENT).rglob("*.json"))[
        0
    ].read_bytes()


@pytest.mark.parametrize(
    "value",
    [
        *("NaN", "Infinity", "1e400"),
        *("9223372036854775808", "-9223372036854775809", "123456789012345678901234567890"),
        *("-1e99999", "1e300"),
    ],
)
def test_a_non_finite_or_out_of_range_price_quarantines_its_row_and_loads_the_rest(tmp_path, value):
    home = tmp_path / "home"
    assert run_cli(*ARGS, f"home={home}").code == 0
    body = a_landed_body(home)
    rows_in_file = len(re.findall(rb'"price":', body))
    bad = re.sub(rb'"price":\s*-?[0-9.]+', f'"price": {value}'.encode(), body, count=1)
    path = drop(home, "bad_price.json", bad)

    result = run_cli(*ARGS, f"home={home}")
    assert result.code == 0, result.stdout
    assert "retry" not in result.stdout and "polars" not in result.stdout.lower()
    [(status, error, rows)] = query(
        home,
        "SELECT p.status, p.error, p.rows FROM processed_files p JOIN landed_files l "
        "USING (file_id) WHERE l.path = ?",
        [path],
    )
    assert (status, error) == ("ok", None)
    assert rows == rows_in_file, "every row of the file is staged"
    quarantined = query(
        home,
        "SELECT count(*) FROM quarantine q JOIN landed_files l USING (file_id) "
        "WHERE l.path = ? AND q.price_american IS NULL AND q.rule_id = 'american_odds_valid'",
        [path],
    )
    assert quarantined == [(1,)], "the row without a price is quarantined"
    assert "no dead letters" in run_cli("dlq", f"home={home}").stdout


def test_a_body_nested_too_deeply_is_dead_lettered_at_once(tmp_path):
    home = tmp_path / "home"
    assert run_cli(*ARGS, f"home={home}").code == 0
    path = drop(home, "deep.json", b"[" * 100_000 + b"]" * 100_000)

    result = run_cli(*ARGS, f"home={home}")
    assert result.code == 0, result.stdout
    assert "RecursionError" not in result.stdout
    assert "odds_api event odds: JSON nested too deeply to parse" in " ".join(result.stdout.split())
    [(status,)] = query(
        home,
        "SELECT p.status FROM processed_files p JOIN landed_files l USING (file_id) "
        "WHERE l.path = ?",
        [path],
    )
    assert status == "failed"
    letters = run_cli("dlq", f"home={home}").stdout
    assert f"landing:{path}" in letters and "attempts 1" in letters
