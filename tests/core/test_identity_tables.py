"""The alias table's errors name where the clash is; resolving nothing returns nothing; a
book's freshest quote is the dated one when another carries no last_update."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lineflow.core.identity import Identity, resolve
from lineflow.core.quotes import book_quotes
from tests.rules.lines import SNAP, frame, quote


@pytest.mark.parametrize("kind", ["players", "teams", "bookmakers"])
def test_a_clash_names_its_table_and_entry(kind: str) -> None:
    table = {"Nic Claxton": ["Claxton N"], "N C": ["Claxton N"]}
    tables = {"players": {}, "teams": {}, "bookmakers": {}} | {kind: table}
    with pytest.raises(ValueError, match=rf"^{kind}\.N C: 'Claxton N' is already a spelling"):
        Identity.from_aliases(**tables)
    with pytest.raises(ValueError, match=rf"^{kind}\.X: '!!' has no letters or digits$"):
        Identity.from_aliases(
            **({"players": {}, "teams": {}, "bookmakers": {}} | {kind: {"X": ["!!"]}})
        )


def test_resolving_no_rows_returns_them() -> None:
    empty = frame(quote()).head(0)
    identity = Identity.from_aliases({}, {}, {})
    out = resolve(empty, identity)
    assert out.height == 0 and out.columns == empty.columns


def test_an_undated_quote_is_older_than_a_dated_one() -> None:
    rows = frame(
        quote(line=21.5, last_update=SNAP - timedelta(minutes=5)),
        quote(line=20.5, last_update=None),
        quote(side="under", line=21.5),
    )
    chosen = book_quotes(rows)
    assert chosen.select("side", "line").rows() == [("over", 21.5), ("under", 21.5)]


def test_a_book_s_lead_line_is_its_dated_quote_not_an_undated_one() -> None:
    # over at 21.5 changed 5 minutes ago, under at 20.5 never dated: the dated quote is the
    # book's freshest, so its line leads and the undated under (a stale half) is dropped
    rows = frame(
        quote(side="over", line=21.5, last_update=SNAP - timedelta(minutes=5)),
        quote(side="under", line=20.5, last_update=None),
    )
    assert book_quotes(rows).select("side", "line").rows() == [("over", 21.5)]


def test_an_unknown_team_or_book_keeps_its_spelling_and_a_known_one_is_canonical() -> None:
    identity = Identity.from_aliases(
        {}, {"Boston Celtics": ["BOS Celtics"]}, {"draftkings": ["DraftKings Sportsbook"]}
    )
    rows = frame(
        quote(home_team="BOS  Celtics", away_team="NY Knicks", bookmaker="DraftKings Sportsbook"),
        quote(home_team="LA Clippers", away_team=None, bookmaker="Fan-Duel"),
    )
    out = resolve(rows, identity)
    assert out.select("home_team", "away_team", "bookmaker").rows() == [
        ("Boston Celtics", "NY Knicks", "draftkings"),
        ("LA Clippers", None, "Fan-Duel"),
    ]
