"""One identity per player, team and bookmaker, whichever source wrote the row.

Providers spell the same person, team and bookmaker differently ("Nic Claxton" / "Nicolas
Claxton (Q)", "LA Clippers" / "Los Angeles Clippers", "williamhill_us" / "Caesars").
Normalisation (`lineflow.core.names`) settles case, accents, punctuation, lineup statuses and
generational suffixes; the declared alias table (conf/identity/*.yaml) settles the rest. An
`Identity` is that table compiled to lookups; `resolve` applies it to parsed rows in one pass:
each distinct name is keyed once and joined against the table, never a Python call per row.

Invariants: `player_key` is the canonical name's key whenever the table knows the name, and the
name's own key otherwise; `home_team`/`away_team` and `bookmaker` become the canonical name when
the table knows them and are left as the provider wrote them otherwise; `player_name` stays the
provider's spelling (lineage). Resolving twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from lineflow.core.names import name_key, name_key_expr, player_key, player_key_expr


@dataclass(frozen=True)
class Identity:
    """The alias table compiled: normalised spelling -> canonical key or name."""

    players: Mapping[str, str]  # player_key of any spelling -> the canonical player_key
    teams: Mapping[str, str]  # name_key of any spelling -> the canonical team name
    bookmakers: Mapping[str, str]  # name_key of any spelling -> the canonical bookmaker key

    @classmethod
    def from_aliases(
        cls,
        players: Mapping[str, Sequence[str]],
        teams: Mapping[str, Sequence[str]],
        bookmakers: Mapping[str, Sequence[str]],
    ) -> Identity:
        """Canonical name -> its other spellings, per kind. Raises ValueError naming the first
        spelling claimed by two canonical names (after normalisation)."""
        return cls(
            players=_compile("players", players, player_key, canonical=player_key),
            teams=_compile("teams", teams, name_key, canonical=str),
            bookmakers=_compile("bookmakers", bookmakers, name_key, canonical=str),
        )


def _compile(
    where: str,
    table: Mapping[str, Sequence[str]],
    key: Callable[[str], str],
    canonical: Callable[[str], str],
) -> dict[str, str]:
    compiled: dict[str, str] = {}
    for name, aliases in table.items():
        target = canonical(name)
        for spelling in (name, *aliases):
            normal = key(spelling)
            if not normal:
                raise ValueError(f"{where}.{name}: {spelling!r} has no letters or digits")
            if compiled.get(normal, target) != target:
                raise ValueError(
                    f"{where}.{name}: {spelling!r} is already a spelling of {compiled[normal]!r}"
                )
            compiled[normal] = target
    return compiled


def resolve(rows: pl.DataFrame, identity: Identity) -> pl.DataFrame:
    """Parsed prop_lines rows with canonical `player_key`, teams and bookmaker."""
    if rows.is_empty():
        return rows
    players = _lookup(rows["player_name"], player_key_expr, identity.players, keyed=True)
    both = pl.concat([rows["home_team"], rows["away_team"]])
    teams = _lookup(both, name_key_expr, identity.teams, keyed=False)
    books = _lookup(rows["bookmaker"], name_key_expr, identity.bookmakers, keyed=False)
    # A team or bookmaker already written canonically maps to itself: replacing with the
    # other names only (none, usually) leaves each column as it was without a pass over it.
    teams = {name: to for name, to in teams.items() if name != to}
    books = {name: to for name, to in books.items() if name != to}
    renamed = {
        column: rows[column].replace(table)
        for column, table in (("home_team", teams), ("away_team", teams), ("bookmaker", books))
        if table
    }
    return rows.with_columns(
        player_key=rows["player_name"].replace_strict(players, default=None), **renamed
    )


def _lookup(
    names: pl.Series,
    key_expr: Callable[[pl.Expr], pl.Expr],
    table: Mapping[str, str],
    keyed: bool,
) -> dict[str, str]:
    """Each distinct name -> its canonical form: the table's entry for its normalised key,
    else the key itself (`keyed`: players) or the name as written (teams, bookmakers)."""
    distinct = names.drop_nulls().unique().to_frame("name")
    known = pl.DataFrame(
        {"key": list(table), "canonical": list(table.values())},
        schema={"key": pl.String, "canonical": pl.String},
    )
    joined = distinct.with_columns(key=key_expr(pl.col("name"))).join(known, on="key", how="left")
    fallback = pl.col("key") if keyed else pl.col("name")
    resolved = joined.select("name", pl.coalesce("canonical", fallback))
    return dict(resolved.iter_rows())
