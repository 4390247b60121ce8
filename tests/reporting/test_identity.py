"""Unresolved names: what one source has and no other, with its closest candidates, from
`lineflow players unresolved date=D` (text and JSON) and in status and health."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from lineflow.config import IdentityConfig, compose
from lineflow.core.identity import resolve
from lineflow.reporting.identity import unresolved
from tests.conftest import run_cli
from tests.rules.lines import frame, quote

DAY = date(2026, 1, 23)
BARE = IdentityConfig().compiled()  # normalisation only, no aliases
PACKAGED = compose([]).identity.compiled()


def board(identity, *rows: tuple[str, str, str, str]) -> pl.DataFrame:
    """(source, player name, home team, away team) rows, resolved as `process` would."""
    lines = frame(
        *[quote(source=s, player_name=p, home_team=h, away_team=a) for s, p, h, a in rows]
    )
    return resolve(lines, identity)


NETS_KNICKS = [
    ("odds_api", "Nic Claxton", "New York Knicks", "Brooklyn Nets"),
    ("odds_api", "Jalen Brunson", "New York Knicks", "Brooklyn Nets"),
    ("odds_api", "Cam Thomas", "New York Knicks", "Brooklyn Nets"),
    ("draftkings", "Nicolas Claxton (Q)", "NY Knicks", "BKN Nets"),
    ("draftkings", "Jalen Brunson", "NY Knicks", "BKN Nets"),
    ("draftkings", "Nicolas Batum", "LA Clippers", "PHO Suns"),
]


def test_without_the_alias_one_player_split_in_two_is_reported_with_his_other_half():
    report = unresolved(DAY, board(BARE, *NETS_KNICKS))
    found = {(u.kind, u.source, u.name): u for u in report.unresolved}
    # Nicolas Claxton and Nic Claxton key apart; Cam Thomas has no counterpart at all
    claxton = found[("player", "draftkings", "Nicolas Claxton (Q)")]
    assert claxton.key == "nicolas_claxton"
    assert claxton.game == "BKN Nets @ NY Knicks"
    # without team aliases DraftKings' game is not the Odds API's: all its names are candidates
    assert [c.name for c in claxton.candidates][0] == "Nic Claxton"
    assert claxton.candidates[0].source == "odds_api"
    assert claxton.candidates[0].score > 80
    # Jalen Brunson is in both sources: never a candidate, never unresolved
    assert all(c.name != "Jalen Brunson" for u in report.unresolved for c in u.candidates)
    assert ("player", "odds_api", "Jalen Brunson") not in found
    # the teams are unresolved too, each with its full name first
    knicks = found[("team", "draftkings", "NY Knicks")]
    assert knicks.candidates[0].name == "New York Knicks"
    # players: Nic Claxton, Cam Thomas | Nicolas Claxton, Nicolas Batum; teams: 2 + 4
    assert report.summary() == {"sources": ["draftkings", "odds_api"], "players": 4, "teams": 6}


def test_with_the_packaged_aliases_only_the_players_one_source_quotes_remain():
    report = unresolved(DAY, board(PACKAGED, *NETS_KNICKS))
    left = [(u.source, u.name, u.game) for u in report.unresolved]
    assert left == [
        ("draftkings", "Nicolas Batum", "Phoenix Suns @ Los Angeles Clippers"),
        ("odds_api", "Cam Thomas", "Brooklyn Nets @ New York Knicks"),
        ("draftkings", "Los Angeles Clippers", None),
        ("draftkings", "Phoenix Suns", None),
    ]
    # within the Nets' game DraftKings has no name the Odds API lacks: no candidate for Thomas
    assert report.unresolved[1].candidates == ()


def test_one_source_has_nothing_to_compare():
    report = unresolved(DAY, board(PACKAGED, *[r for r in NETS_KNICKS if r[0] == "odds_api"]))
    assert report.summary() == {"sources": ["odds_api"], "players": 0, "teams": 0}


@pytest.fixture(scope="module")
def split_home(tmp_path_factory) -> Path:
    """2026-01-21: BettingPros and DraftKings processed while a project misspelt one player as
    'Xavier Cromarty', the Odds API's snapshot after the alias was gone: one person, two keys,
    xavier_cromarty in two sources and xavier_cromartie in the third."""
    root = tmp_path_factory.mktemp("split")
    home = root / "home"
    project = root / "conf" / "project"
    project.mkdir(parents=True)
    (project / "default.yaml").write_text(
        "identity:\n  players:\n    Xavier Cromarty: [Xavier Cromartie]\n"
    )
    typo = {"LINEFLOW_CONFIG_DIR": str(root / "conf")}
    for env, extra in ((typo, []), (None, ["snapshot=18:00Z"])):
        result = run_cli("run", "date=2026-01-21", f"home={home}", *extra, env=env)
        assert result.code == 0, result.stdout
    return home


def test_the_command_lists_the_split_player_with_his_candidates(split_home):
    out = run_cli("players", "unresolved", "date=2026-01-21", f"home={split_home}")
    assert out.code == 0, out.stderr
    lines = out.stdout.splitlines()
    # Three sources; the seven names only one of them has are the Odds API's 18:00Z board:
    # six players neither BettingPros nor DraftKings quote, and the split player's half.
    assert lines[0].startswith("identity: 7 players and 0 teams only one of 3 sources has")
    # The typo's key is in two sources, so it is not one source's; the Odds API's half is,
    # and his other half is the closest name in each of the other two.
    i = lines.index(
        "player 'Xavier Cromartie' (key xavier_cromartie) only in odds_api "
        "(Boston Celtics @ New Orleans Pelicans)"
    )
    found = [lines[j].strip().split("  ", 1) for j in (i + 1, i + 2)]
    assert all(float(score) > 85 for score, _ in found)
    assert {candidate for _, candidate in found} == {
        "'Xavier Cromartie' in bettingpros",
        "'Xavier Cromartie (Q)' in draftkings",
    }


def test_the_command_as_json(split_home):
    out = run_cli("players", "unresolved", "date=2026-01-21", f"home={split_home}", "format=json")
    assert out.code == 0, out.stderr
    report = json.loads(out.stdout)
    assert (report["partition"], report["sources"]) == (
        "2026-01-21",
        ["bettingpros", "draftkings", "odds_api"],
    )
    split = {u["key"]: u for u in report["unresolved"]}
    assert "xavier_cromarty" not in split, "BettingPros and DraftKings share the typo's key"
    assert split["xavier_cromartie"]["source"] == "odds_api"
    best = split["xavier_cromartie"]["candidates"][:2]
    assert {(c["source"], c["name"]) for c in best} == {
        ("bettingpros", "Xavier Cromartie"),
        ("draftkings", "Xavier Cromartie (Q)"),
    }
    assert all(c["score"] >= 90 for c in best)


def test_status_and_health_say_it_in_one_line(split_home):
    want = (
        "identity: 7 players and 0 teams only one of 3 sources has "
        "(lineflow players unresolved date=2026-01-21)"
    )
    status = run_cli("status", "date=2026-01-21", f"home={split_home}")
    assert want in status.stdout.splitlines()
    health = run_cli("health", "date=2026-01-21", f"home={split_home}", "format=markdown")
    assert f"- {want}" in health.stdout.splitlines()
    as_json = json.loads(
        run_cli("status", "date=2026-01-21", f"home={split_home}", "format=json").stdout
    )
    assert as_json["identity"] == {
        "sources": ["bettingpros", "draftkings", "odds_api"],
        "players": 7,
        "teams": 0,
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["players"], "players: expected `lineflow players unresolved date=...`, got nothing"),
        (["players", "resolved", "date=2026-01-21"], "got resolved"),
        (["players", "unresolved"], "date: required (pass date=YYYY-MM-DD)"),
        (["players", "unresolved", "date=2026-01-21", "format=xml"], "format: expected one of"),
        (["players", "unresolved", "date=2026-02-30"], "date: '2026-02-30' is not a calendar date"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    out = run_cli(*args, f"home={tmp_path / 'home'}")
    assert out.code == 2
    assert len(out.stderr.strip().splitlines()) == 1 and message in out.stderr
    assert "Traceback" not in out.stderr


def test_a_home_where_nothing_ran_is_one_line(tmp_path):
    out = run_cli("players", "unresolved", "date=2026-01-21", f"home={tmp_path / 'home'}")
    assert out.code == 2 and len(out.stderr.strip().splitlines()) == 1
