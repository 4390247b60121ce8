"""The C allocator's settings for long jobs (a backfill and its worker processes).

glibc serves a large allocation from its heap once its dynamic mmap threshold has risen past
the allocation's size (it rises to 32 MB as large blocks are freed), and memory freed back to
a heap stays with the process. A backfill allocates and frees many blocks of a few megabytes
(DuckDB's row groups and query results, polars frames, the bodies of landed files), so its
footprint grew with every partition: from 1 to 30 dates the main process went from 170 to
360 MB. With a fixed 1 MB threshold such blocks are mapped and unmapped on their own and the
footprint stays flat (258 MB at 30 dates; docs/benchmarks.md). Other C libraries: no change.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

#: mallopt(3) parameter: the size from which allocations are mapped on their own.
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 1024 * 1024


@functools.cache
def keep_footprint_flat() -> bool:
    """Fix glibc's mmap threshold at MMAP_THRESHOLD for this process; True if it took."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to set
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
