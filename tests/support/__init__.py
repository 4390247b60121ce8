"""Test tooling, kept out of the installed package: the stand-in provider, the Google Cloud
emulators, the fixture recorder and real forward proxies. Needs the `test` extra.

Imported as `tests.support`, so the repository root must be on the import path: pytest and
`python -m bench` run from there. A child process that imports this tooling (a proxy.py
process loading its plugin, the stand-in as its own process) gets the root on its PYTHONPATH
from `child_env`, so it works whatever directory the parent was started in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment plus `extra`, with the repository root first on PYTHONPATH."""
    env = {**os.environ, **(extra or {})}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env
