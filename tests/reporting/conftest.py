"""The replayed incident week, 2026-01-19..23, run once into one home for the reporting tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import copy_home, run_cli

WEEK = ["2026-01-19", "2026-01-20", "2026-01-21", "2026-01-22", "2026-01-23"]


@pytest.fixture(scope="session")
def week_home(tmp_path_factory) -> Path:
    """A home holding `lineflow run date=D` for each day of the week. Read it, do not change it."""
    home = tmp_path_factory.mktemp("week") / "home"
    for day in WEEK:
        result = run_cli("run", f"date={day}", f"home={home}")
        assert result.code == 0, result.stderr + result.stdout
    return home


@pytest.fixture
def week_copy(week_home: Path, tmp_path: Path) -> Path:
    """A private copy of the week's home, for tests that change it."""
    return copy_home(week_home, tmp_path)
