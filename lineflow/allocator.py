"""Handing freed memory back to the system during long jobs (a backfill and its workers).

glibc keeps memory freed into its heaps for the process, and serves large allocations from a
heap once its dynamic mmap threshold has risen (to 32 MB) past their size. A backfill
allocates and frees many blocks of a few megabytes per partition (DuckDB's row groups and
query results, polars frames, the bodies of landed files), so its footprint grew with every
partition: from 1 to 30 dates the main process went from 180 to 390 MB. Trimming the heaps
after each partition (and a worker's after each batch it parses) keeps it at 280 MB, for a
few milliseconds a time (docs/benchmarks.md). Other C libraries: nothing to do.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


def give_back_freed_memory() -> bool:
    """Return the free memory of this process's heaps to the system; False where the C
    library cannot (not glibc)."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
