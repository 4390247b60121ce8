"""The sample module's tests, run by the harness's own test (not collected by the suite)."""

from __future__ import annotations

import pytest

from tests.mutation.sample.fares import countdown, fare


def test_fare() -> None:
    assert fare(0) == 2.5
    assert fare(1) == 2.5
    assert fare(3) == pytest.approx(4.9)


def test_countdown() -> None:
    assert countdown(3) == 0
