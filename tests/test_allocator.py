"""A backfill fixes glibc's mmap threshold so that freed blocks go back to the system."""

from __future__ import annotations

import platform

import pytest

from lineflow.allocator import keep_footprint_flat


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a glibc setting")
def test_the_threshold_takes_on_glibc():
    assert keep_footprint_flat() is True
