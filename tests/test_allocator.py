"""Long jobs hand memory they freed back to the system (glibc's heaps keep it otherwise)."""

from __future__ import annotations

import platform

import pytest

from lineflow.allocator import give_back_freed_memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a glibc function")
def test_freed_heap_memory_goes_back_on_glibc():
    assert give_back_freed_memory() is True
