"""Player-name normalisation: one key per person across sources."""

from __future__ import annotations

import re
import unicodedata

import polars as pl

_SUFFIXES = ("jr", "sr", "ii", "iii", "iv", "v")
_SUFFIX_RE = r"\s+(?:" + "|".join(_SUFFIXES) + r")$"


def player_key(name: str) -> str:
    """'De'Aaron Fox' -> 'deaaron_fox'; 'Wendell Carter Jr.' -> 'wendell_carter'."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9\s-]", "", ascii_name.lower().replace("-", " "), flags=re.ASCII)
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(_SUFFIX_RE, "", text)
    return text.replace(" ", "_")


def player_key_expr(name: pl.Expr) -> pl.Expr:
    """The same normalisation as `player_key`, over a column."""
    text = (
        name.str.normalize("NFKD")
        .str.replace_all(r"[^\x00-\x7F]", "")
        .str.to_lowercase()
        .str.replace_all("-", " ")
        .str.replace_all(r"[^a-z0-9\s]", "")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
        .str.replace(_SUFFIX_RE, "")
    )
    return text.str.replace_all(" ", "_")


def with_player_key(rows: pl.LazyFrame) -> pl.LazyFrame:
    """Add `player_key` from `player_name`, normalising each distinct name once."""
    names = rows.select(pl.col("player_name").unique())
    keys = names.with_columns(player_key=player_key_expr(pl.col("player_name")))
    return rows.join(keys, on="player_name", how="left", maintain_order="left")
