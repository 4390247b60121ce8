"""Named kill points for crash-safety tests: `LINEFLOW_KILL_AT=NAME[:N]` SIGKILLs the process.

The process kills itself with SIGKILL (no `finally`, no atexit, no flush) the N-th time (default
the first) it passes the point NAME, exactly as `kill -9` or the OOM killer would. When the
variable is unset a kill point is one dictionary lookup. The names are listed in `KILL_POINTS`
and docs/operations.md.
"""

from __future__ import annotations

import os
import signal
import threading

ENV = "LINEFLOW_KILL_AT"

#: Every kill point, in pipeline order, with where it sits.
KILL_POINTS: dict[str, str] = {
    "after_lock_acquire": "a stage's lock is held, before the stage starts",
    "after_response": "scrape: a response arrived, before its body is landed",
    "after_landing_write": "scrape: the body is in the landing zone, before its manifest row",
    "after_manifest_write": "scrape: the manifest row is written",
    "before_stage_file": "process: a file is parsed, before its staging transaction",
    "after_stage_file": "process: a file's rows and ledger row are committed",
    "mid_consolidate": "consolidate: inside the transaction, after the partition was deleted",
    "after_consolidate": "consolidate: committed, before run history is written",
    "before_lock_release": "a stage finished and its run history is written; lock still held",
}

_hits: dict[str, int] = {}
_guard = threading.Lock()


def kill_point(name: str) -> None:
    """Die here with SIGKILL when `LINEFLOW_KILL_AT` names this point (and its hit count)."""
    target = os.environ.get(ENV)
    if not target:
        return
    point, _, nth = target.partition(":")
    if point != name:
        return
    with _guard:
        _hits[name] = _hits.get(name, 0) + 1
        hit = _hits[name]
    if hit >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
