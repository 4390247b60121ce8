"""Player keys: one key per person whatever a source's spelling, the same from both APIs."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lineflow.core.names import player_key, player_key_expr, with_player_key

SPELLINGS = [
    ("LeBron James", "lebron_james"),
    ("De'Aaron Fox", "deaaron_fox"),
    ("Shai Gilgeous-Alexander", "shai_gilgeous_alexander"),
    ("Shai Gilgeous - Alexander", "shai_gilgeous_alexander"),
    ("LeBron  James", "lebron_james"),
    ("  LeBron \t James  ", "lebron_james"),
    ("Luka Dončić", "luka_doncic"),
    ("Nikola Jokić", "nikola_jokic"),
    ("Wendell Carter Jr.", "wendell_carter"),
    ("Wendell Carter Jr", "wendell_carter"),
    ("Gary Payton II", "gary_payton"),
    ("Marvin Bagley III", "marvin_bagley"),
    ("Jaren Jackson Jr.", "jaren_jackson"),
    ("Tim Hardaway Sr.", "tim_hardaway"),
    ("John Smith IV", "john_smith"),
    ("John Smith V", "john_smith"),
    # a suffix-like word inside the name is part of the name
    ("Jr Smith", "jr_smith"),
    ("Iv Jones Smith", "iv_jones_smith"),
    ("Chris Vance", "chris_vance"),
    ("Kevin Porter Junior", "kevin_porter_junior"),
    ("P.J. Washington", "pj_washington"),
    ("Karl-Anthony Towns", "karl_anthony_towns"),
    ("R2 D2", "r2_d2"),
]


@pytest.mark.parametrize(("name", "key"), SPELLINGS)
def test_player_key(name: str, key: str) -> None:
    assert player_key(name) == key


def test_expression_gives_the_same_keys() -> None:
    names = [n for n, _ in SPELLINGS]
    keys = pl.DataFrame({"n": names}).select(player_key_expr(pl.col("n")))["n"].to_list()
    assert keys == [k for _, k in SPELLINGS]


_pieces = st.sampled_from(
    ["LeBron", "José", "Jokić", "jr", "Jr.", "ii", "III", "v", "iv", "sr", "-", " ", "\t", "'", "."]
)
_names = st.one_of(st.text(max_size=40), st.lists(_pieces, max_size=8).map("".join))


@given(_names)
def test_scalar_and_expression_agree_on_any_string(name: str) -> None:
    (key,) = pl.DataFrame({"n": [name]}).select(player_key_expr(pl.col("n")))["n"].to_list()
    assert key == player_key(name)


def test_with_player_key_keeps_rows_and_their_order() -> None:
    rows = pl.DataFrame(
        {
            "player_name": ["Luka Dončić", "LeBron James", "Luka Doncic", "LeBron James", None],
            "row": [0, 1, 2, 3, 4],
        }
    )
    out = with_player_key(rows.lazy()).collect()
    assert out["row"].to_list() == [0, 1, 2, 3, 4]
    assert out["player_key"].to_list() == [
        "luka_doncic",
        "lebron_james",
        "luka_doncic",
        "lebron_james",
        None,
    ]
