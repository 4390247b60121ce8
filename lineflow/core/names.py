"""Name normalisation: one key per person (and team) across sources.

`player_key` (one string) and `player_key_expr` (a column) are the same function and must agree
on every string (a property test holds them to it): accents folded to ASCII, case folded, a
trailing lineup status in parentheses (" (Q)", " (GTD)") dropped, hyphens made spaces, other
punctuation dropped, runs of whitespace collapsed, a generational suffix (Jr., Sr., II-V) at
the end dropped, words joined by "_". Whitespace is spelled out as ASCII characters rather than
`\\s`, whose meaning differs between Python's and Rust's regex engines on control characters.
Aliases between different spellings of one person are not a matter of normalisation: see
`lineflow.core.identity`.
"""

from __future__ import annotations

import re
import unicodedata

import polars as pl

_SUFFIXES = ("jr", "sr", "ii", "iii", "iv", "v")
_WS = r"[ \t\n\r\x0b\x0c]"
_SUFFIX_RE = " (?:" + "|".join(_SUFFIXES) + ")$"
#: One or more parenthesised groups at the end: a lineup status, never part of the name.
_STATUS_RE = rf"(?:{_WS}*\([^()]*\))+{_WS}*$"
_DROP_RE = r"[^a-z0-9 \t\n\r\x0b\x0c]"


def player_key(name: str) -> str:
    """'De'Aaron Fox' -> 'deaaron_fox'; 'Wendell Carter Jr.' -> 'wendell_carter';
    'Nicolas Claxton (Q)' -> 'nicolas_claxton'."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    text = re.sub(_STATUS_RE, "", text, count=1)
    text = re.sub(_DROP_RE, "", text.replace("-", " "))
    text = re.sub(f"{_WS}+", " ", text).strip(" ")
    text = re.sub(_SUFFIX_RE, "", text, count=1)
    return text.replace(" ", "_")


def player_key_expr(name: pl.Expr) -> pl.Expr:
    """The same normalisation as `player_key`, over a column."""
    text = (
        name.str.normalize("NFKD")
        .str.replace_all(r"[^\x00-\x7F]", "")
        .str.to_lowercase()
        .str.replace(_STATUS_RE, "")
        .str.replace_all("-", " ", literal=True)
        .str.replace_all(_DROP_RE, "")
        .str.replace_all(f"{_WS}+", " ")
        .str.strip_chars(" ")
        .str.replace(_SUFFIX_RE, "")
    )
    return text.str.replace_all(" ", "_", literal=True)


def name_key_expr(name: pl.Expr) -> pl.Expr:
    """A team's or bookmaker's name for matching: ASCII, lower case, letters and digits only
    ('LA Clippers' -> 'laclippers', 'williamhill_us' -> 'williamhillus')."""
    return (
        name.str.normalize("NFKD")
        .str.replace_all(r"[^\x00-\x7F]", "")
        .str.to_lowercase()
        .str.replace_all(r"[^a-z0-9]", "")
    )


def name_key(name: str) -> str:
    """`name_key_expr` for one string."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]", "", text)


def with_player_key(rows: pl.LazyFrame) -> pl.LazyFrame:
    """Add `player_key` from `player_name`, normalising each distinct name once."""
    names = rows.select(pl.col("player_name").unique())
    keys = names.with_columns(player_key=player_key_expr(pl.col("player_name")))
    return rows.join(keys, on="player_name", how="left", maintain_order="left")
