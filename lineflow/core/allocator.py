"""Handing freed memory back to the system during long jobs (a backfill and its workers).

glibc keeps memory freed into its heaps for the process, and serves large allocations from a
heap once its dynamic mmap threshold has risen (to 32 MB) past their size. A backfill
allocates and frees many blocks of a few megabytes per partition (DuckDB's row groups and
query results, polars frames, the bodies of landed files), so its footprint grew with every
partition: from 1 to 30 dates the main process went from 180 to 390 MB. Trimming the heaps
after each partition keeps it at 280 MB, for a few milliseconds a time. A parse worker does
not trim: it allocates as much for every batch, and trimming after each made the next fault
the same pages in again, for no lower peak (docs/benchmarks.md).

DuckDB and polars bring their own allocator (jemalloc, one copy each), which by default keeps
several arenas, each holding pages freed into it for ten seconds. One arena each
(`configure`) kept a 30-date backfill's processes 50 MB smaller and a one-date run 15 MB
smaller, at the same speed (docs/benchmarks.md). jemalloc reads its settings once, when the
library loads: the `lineflow` command sets them before it imports either, and a backfill's
workers inherit them. The variables may already be set when lineflow starts: by the user, or
by a parent process that imported polars (polars writes its own defaults into
`_RJEM_MALLOC_CONF` as it loads, and every process started after inherits them: an
orchestrator's worker, a notebook, the benchmark's harness). lineflow's settings then go
first and the value found after them: jemalloc takes the last of each setting, so whatever
was set wins, and lineflow's apply where it said nothing.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable

#: jemalloc's settings per library, by the variable each copy reads, put before what the
#: variable already holds (which wins where it says otherwise); a variable set after the
#: library loaded changes nothing.
JEMALLOC_SETTINGS = {"DUCKDB_JE_MALLOC_CONF": "narenas:1", "_RJEM_MALLOC_CONF": "narenas:1"}


def configure() -> list[str]:
    """Sets DuckDB's and polars' allocator settings for this process and the processes it
    starts, under any already in the variables (see the module docstring). Returns the
    libraries already loaded, which keep what they read (empty from the `lineflow` command)."""
    for variable, ours in JEMALLOC_SETTINGS.items():
        found = os.environ.get(variable, "")
        if found != ours and not found.startswith(f"{ours},"):  # else configured already
            os.environ[variable] = f"{ours},{found}" if found else ours
    return [name for name in ("duckdb", "polars") if name in sys.modules]


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    # Imported here: every command calls `configure` first, and only long jobs trim.
    import ctypes
    import ctypes.util

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
