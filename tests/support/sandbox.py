"""Real file-system faults for tests: a tiny tmpfs that fills up, a read-only mount, and a
command run as an unprivileged user (root ignores permission bits, so a read-only folder is
only read-only to someone else).

Each needs root (mounting; switching user). Where it is impossible the test is skipped with the
reason printed: not root, or the kernel refusing the mount (an unprivileged container).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

#: `nobody`: owns nothing the tests create.
NOBODY = 65534


def unprivileged() -> list[str]:
    """The command prefix that runs what follows as `nobody` (skips the test when impossible)."""
    if os.geteuid() != 0:
        pytest.skip("switching to an unprivileged user needs root")
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed")
    return [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


@contextmanager
def shared_folder() -> Iterator[Path]:
    """A scratch folder every user can reach (pytest's own tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="lineflow-shared-"))
    try:
        folder.chmod(0o755)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def mounted(where: Path, options: str) -> Iterator[Path]:
    """A fresh tmpfs at `where` with mount `options` (size=64k, ro, ...), unmounted after."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"mount refused: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def remount(where: Path, options: str) -> None:
    """Change a mount made by `mounted` in place (more room: `size=64m`)."""
    subprocess.run(["mount", "-o", f"remount,{options}", str(where)], check=True)
