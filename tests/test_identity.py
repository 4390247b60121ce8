"""One identity per player, team and bookmaker: the declared alias table, resolved in one pass
over parsed rows, layered by a project, and applied by `process` to every source."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from lineflow.config import IdentityConfig, compose
from lineflow.core.errors import ConfigError
from lineflow.core.identity import Identity, resolve
from tests.conftest import query, run_cli
from tests.rules.lines import frame, quote

PACKAGED = compose([]).identity.compiled()

#: The DraftKings spellings (lineup statuses included) -> what the other sources' rows key as.
PLAYER_PAIRS = [
    ("Nicolas Claxton (Q)", "Nic Claxton", "nic_claxton"),
    ("Herbert Jones (GTD)", "Herb Jones", "herbert_jones"),
    ("Cameron Johnson", "Cam Johnson", "cameron_johnson"),
    ("Moritz Wagner (O)", "Moe Wagner", "moritz_wagner"),
]

DRAFTKINGS_TEAMS = {
    "ATL Hawks": "Atlanta Hawks",
    "BOS Celtics": "Boston Celtics",
    "BKN Nets": "Brooklyn Nets",
    "CHA Hornets": "Charlotte Hornets",
    "CHI Bulls": "Chicago Bulls",
    "CLE Cavaliers": "Cleveland Cavaliers",
    "DAL Mavericks": "Dallas Mavericks",
    "DEN Nuggets": "Denver Nuggets",
    "DET Pistons": "Detroit Pistons",
    "GS Warriors": "Golden State Warriors",
    "HOU Rockets": "Houston Rockets",
    "IND Pacers": "Indiana Pacers",
    "LA Clippers": "Los Angeles Clippers",
    "LA Lakers": "Los Angeles Lakers",
    "MEM Grizzlies": "Memphis Grizzlies",
    "MIA Heat": "Miami Heat",
    "MIL Bucks": "Milwaukee Bucks",
    "MIN Timberwolves": "Minnesota Timberwolves",
    "NO Pelicans": "New Orleans Pelicans",
    "NY Knicks": "New York Knicks",
    "OKC Thunder": "Oklahoma City Thunder",
    "ORL Magic": "Orlando Magic",
    "PHI 76ers": "Philadelphia 76ers",
    "PHO Suns": "Phoenix Suns",
    "POR Trail Blazers": "Portland Trail Blazers",
    "SAC Kings": "Sacramento Kings",
    "SA Spurs": "San Antonio Spurs",
    "TOR Raptors": "Toronto Raptors",
    "UTA Jazz": "Utah Jazz",
    "WAS Wizards": "Washington Wizards",
}


def rows_named(*names: str, **changes) -> pl.DataFrame:
    return frame(*[quote(player_name=name, player_key="parser's key", **changes) for name in names])


@pytest.mark.parametrize(("draftkings", "other", "key"), PLAYER_PAIRS)
def test_each_listed_pair_resolves_to_one_key(draftkings, other, key):
    out = resolve(rows_named(draftkings, other, key.replace("_", " ").title()), PACKAGED)
    assert out["player_key"].to_list() == [key, key, key]
    # the provider's spelling stays, for lineage
    assert out["player_name"].to_list()[:2] == [draftkings, other]


def test_a_name_the_table_does_not_know_keys_as_itself():
    out = resolve(rows_named("Xavier Cromartie (Q)", "Wendell Carter Jr."), PACKAGED)
    assert out["player_key"].to_list() == ["xavier_cromartie", "wendell_carter"]


def test_every_draftkings_team_and_every_full_name_is_one_team():
    games = list(DRAFTKINGS_TEAMS.items())
    rows = frame(*[quote(home_team=dk, away_team=full) for dk, full in games])
    out = resolve(rows, PACKAGED)
    assert out["home_team"].to_list() == [full for _, full in games]
    assert out["away_team"].to_list() == [full for _, full in games]


def test_a_team_the_table_does_not_know_stays_as_written():
    out = resolve(
        frame(quote(home_team="Toronto Tempo", away_team="los angeles clippers")), PACKAGED
    )
    assert out.select("home_team", "away_team").row(0) == ("Toronto Tempo", "Los Angeles Clippers")


def test_bookmaker_spellings_become_the_canonical_key():
    books = ["Caesars", "williamhill_us", "DraftKings", "draftkings", "BetOnline.ag", "newbook"]
    out = resolve(frame(*[quote(bookmaker=b) for b in books]), PACKAGED)
    assert out["bookmaker"].to_list() == [
        "williamhill_us",
        "williamhill_us",
        "draftkings",
        "draftkings",
        "betonlineag",
        "newbook",
    ]


def test_every_sources_books_map_writes_canonical_bookmakers():
    settings = compose([])
    canonical = set(PACKAGED.bookmakers.values())
    for name, source in settings.sources.items():
        for book in source.books.values():
            assert book in canonical, f"{name} writes {book!r}, not a canonical bookmaker"


def test_resolving_twice_changes_nothing():
    once = resolve(
        rows_named(*[dk for dk, _, _ in PLAYER_PAIRS], home_team="LA Clippers"), PACKAGED
    )
    assert resolve(once, PACKAGED).equals(once)


def test_a_spelling_claimed_by_two_players_is_a_config_error():
    with pytest.raises(
        ValueError, match="'Nicolas Claxton' is already a spelling of 'nic_claxton'"
    ):
        Identity.from_aliases(
            {"Nic Claxton": ["Nicolas Claxton"], "N C": ["Nicolas Claxton"]}, {}, {}
        )
    with pytest.raises(ConfigError, match="one line|already a spelling") as caught:
        compose(["+identity.players.Other=[Nic Claxton]"])
    assert "\n" not in str(caught.value)


def test_normalisation_alone_never_needs_an_alias():
    # 'Nic Claxton (Q)' and 'nic claxton' are the same key without the table
    bare = IdentityConfig().compiled()
    out = resolve(rows_named("Nic Claxton (Q)", "nic  claxton", "Nic Claxton Jr."), bare)
    assert out["player_key"].n_unique() == 1


def test_a_project_adds_its_own_aliases_over_the_packaged_table(tmp_path, monkeypatch):
    conf = tmp_path / "conf" / "project"
    conf.mkdir(parents=True)
    (conf / "default.yaml").write_text(
        "identity:\n  players:\n    Jaren Jackson: [Triple J]\n  teams:\n    Seattle Storm: [SEA]\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LINEFLOW_CONFIG_DIR", raising=False)
    identity = compose([]).identity.compiled()
    out = resolve(
        rows_named("Triple J", "Jaren Jackson Jr.", "Nicolas Claxton", home_team="SEA"), identity
    )
    assert out["player_key"].to_list() == ["jaren_jackson", "jaren_jackson", "nic_claxton"]
    assert out["home_team"].unique().to_list() == ["Seattle Storm"]


def test_process_applies_the_table_to_every_source(tmp_path: Path):
    """Both sources' rows of a player are keyed by the alias a project declares for him."""
    home = tmp_path / "home"
    alias = "+identity.players.XavierCanonical=[Xavier Cromartie]"
    # the fixtures: BettingPros live, the Odds API's props at the 18:00Z snapshot
    for snapshot in ([], ["snapshot=18:00Z"]):
        args = ("run", "date=2026-01-21", f"home={home}", "pipeline.stages=[scrape,process]")
        result = run_cli(*args, alias, *snapshot)
        assert result.code == 0, result.stdout
    keyed = query(
        home,
        "SELECT source, list(DISTINCT player_key) FROM stg_prop_lines "
        "WHERE player_name = 'Xavier Cromartie' GROUP BY source ORDER BY source",
    )
    assert keyed == [("bettingpros", ["xaviercanonical"]), ("odds_api", ["xaviercanonical"])]
