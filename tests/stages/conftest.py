"""Fixtures shared by the stage tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import INCIDENT, run_cli


@pytest.fixture(scope="module")
def daily(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose run scraped the incident day's Odds API files (each with its sidecar)."""
    home = tmp_path_factory.mktemp("daily") / "home"
    result = run_cli("run", f"date={INCIDENT}", "only=[odds_api]", f"home={home}")
    assert result.code == 0, result.stdout + result.stderr
    return home
