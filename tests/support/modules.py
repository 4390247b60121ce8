"""What a process has imported, asked of a worker process (a function it can be sent)."""

from __future__ import annotations

import sys


def loaded_modules() -> list[str]:
    """The names of the modules this process has imported."""
    return sorted(sys.modules)
