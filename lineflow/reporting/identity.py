"""Unresolved names: a player or team one source has for a date and no other source has.

After aliases and normalisation (`lineflow.core.identity`) a person quoted by several sources
has one key. A key only one source has is either a player only that source quotes or one
person split in two by a spelling the alias table does not know yet; this report lists each
with its closest candidates among the names the other sources have and it lacks (rapidfuzz's
WRatio, 0-100), so that a person is never silently counted as two. Players are compared
within their game when the other sources have that game (teams resolved), else across the
date. Computed at read time from `prop_lines` (nothing stored): it always reflects the current
alias table's effect on the consolidated rows. A date with fewer than two sources has nothing
to compare and reports nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import polars as pl

from lineflow.reporting.recorded import Stores

#: Candidates shown per unresolved name, and the lowest score worth showing.
CANDIDATES = 3
MIN_SCORE = 50.0


@dataclass(frozen=True)
class Candidate:
    name: str
    source: str
    score: float


@dataclass(frozen=True)
class Unresolved:
    kind: str  # player | team
    source: str
    name: str
    key: str
    game: str | None
    candidates: tuple[Candidate, ...]

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"candidates": [asdict(c) for c in self.candidates]}


@dataclass(frozen=True)
class IdentityReport:
    partition: date
    sources: tuple[str, ...]
    unresolved: tuple[Unresolved, ...]

    def count(self, kind: str) -> int:
        return sum(1 for u in self.unresolved if u.kind == kind)

    def summary(self) -> dict[str, Any]:
        """The status/health section: sources compared and unresolved counts."""
        return {
            "sources": list(self.sources),
            "players": self.count("player"),
            "teams": self.count("team"),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "partition": self.partition.isoformat(),
            **self.summary(),
            "unresolved": [u.to_json() for u in self.unresolved],
        }


def unresolved(partition: date, lines: pl.DataFrame, candidates: bool = True) -> IdentityReport:
    """The report over a date's `prop_lines` rows (source, player_name, player_key, teams).
    `candidates=False`: the names alone, for a summary that only counts them."""
    sources = tuple(sorted(lines["source"].unique().drop_nulls().to_list()))
    if len(sources) < 2:
        return IdentityReport(partition, sources, ())
    game = pl.concat_str(pl.col("away_team"), pl.lit(" @ "), pl.col("home_team"))
    players = (
        lines.filter(pl.col("player_key").is_not_null())
        .with_columns(game=game)
        .group_by("source", key=pl.col("player_key"))
        .agg(
            pl.col("player_name").drop_nulls().mode().sort().first().alias("name"),
            pl.col("game").drop_nulls().mode().sort().first(),
        )
    )
    teams = (
        pl.concat([lines.select("source", key=pl.col(side)) for side in ("home_team", "away_team")])
        .drop_nulls()
        .unique()
        .with_columns(name=pl.col("key"), game=pl.lit(None, dtype=pl.String))
    )
    found = _one_source_only(players, "player", candidates) + _one_source_only(
        teams, "team", candidates
    )
    return IdentityReport(partition, sources, tuple(found))


def _one_source_only(names: pl.DataFrame, kind: str, candidates: bool) -> list[Unresolved]:
    """Keys (source, key, name, game) of exactly one source, each with the closest names the
    other sources have and it lacks (in the same game when the others have that game)."""
    names = names.sort("source", "key")
    alone = names.filter(pl.len().over("key") == 1)
    if not candidates:  # rapidfuzz and the scoring: a third of `status`'s warehouse reading
        return [
            Unresolved(kind, row["source"], row["name"], row["key"], row["game"], ())
            for row in alone.iter_rows(named=True)
        ]
    from rapidfuzz import fuzz, process, utils

    keys_of = {source: set(group["key"]) for (source,), group in names.group_by("source")}
    found = []
    for row in alone.iter_rows(named=True):
        theirs = names.filter(
            (pl.col("source") != row["source"]) & ~pl.col("key").is_in(keys_of[row["source"]])
        )
        same_game = theirs.filter(pl.col("game").eq_missing(row["game"]))
        pool = same_game if row["game"] is not None and not same_game.is_empty() else theirs
        # Players are compared by their keys (lineup statuses, accents and suffixes already
        # gone), teams by their names.
        text = pl.col("key").str.replace_all("_", " ") if kind == "player" else pl.col("name")
        best = process.extract(
            _text(row, kind),
            pool.select(text).to_series().to_list(),
            scorer=fuzz.WRatio,
            processor=utils.default_process,
            limit=CANDIDATES,
            score_cutoff=MIN_SCORE,
        )
        closest = tuple(
            Candidate(pool["name"][i], pool["source"][i], round(score, 1)) for _, score, i in best
        )
        found.append(Unresolved(kind, row["source"], row["name"], row["key"], row["game"], closest))
    return found


def _text(row: dict[str, Any], kind: str) -> str:
    return row["key"].replace("_", " ") if kind == "player" else row["name"]


def read(stores: Stores, partition: date, candidates: bool = True) -> IdentityReport:
    """The report for a date of the home's warehouse (`candidates`: see `unresolved`)."""
    lines = stores.warehouse.query(
        "SELECT DISTINCT source, player_name, player_key, home_team, away_team "
        "FROM prop_lines WHERE slate_date = ?",
        [partition],
    )
    return unresolved(partition, lines, candidates)


def line(summary: dict[str, Any] | None, partition: date) -> str:
    """The one line status and health print."""
    if summary is None:
        return "identity: not recorded yet"
    compared = len(summary["sources"])
    if compared < 2:
        return f"identity: {compared} source with lines, nothing to compare"
    if not summary["players"] and not summary["teams"]:
        return f"identity: every player and team matched across {compared} sources"
    return (
        f"identity: {summary['players']} players and {summary['teams']} teams only one of "
        f"{compared} sources has (lineflow players unresolved date={partition})"
    )
