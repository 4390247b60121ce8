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
