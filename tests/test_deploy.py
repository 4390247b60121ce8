"""The container image's recipe (Dockerfile): what it copies, who it runs as, what it starts.

No Docker engine runs here, so the image is not built; what can be checked without one is: the
build context keeps everything the wheel is built from, the final stage runs as an unprivileged
user, and the command the container starts is a valid `lineflow serve` command line in prod.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.test_install import SOURCES

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _final_stage() -> list[str]:
    """The instructions of the last stage, continuation lines joined."""
    text = DOCKERFILE.replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    last_from = max(i for i, line in enumerate(lines) if line.upper().startswith("FROM "))
    return lines[last_from:]


def test_the_build_context_keeps_what_the_wheel_is_built_from() -> None:
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for name in SOURCES:
        assert not any(fnmatch.fnmatch(name, pattern) for pattern in ignored), name
    assert {".venv", ".git"} <= set(ignored)  # no virtualenv or history in the context


def test_the_image_runs_as_an_unprivileged_user_after_installing() -> None:
    stage = _final_stage()
    users = [i for i, line in enumerate(stage) if line.upper().startswith("USER ")]
    assert users, "the final stage sets no USER: the container would run as root"
    user = stage[users[-1]].split()[1]
    assert user not in ("root", "0")
    installs = [i for i, line in enumerate(stage) if "pip install" in line]
    assert installs and max(installs) < users[-1]
    extras = re.search(r"lineflow\[([a-z,]+)\]", stage[installs[-1]])
    # BigQuery and bucket landing; the shared state store and warehouse of several instances
    assert extras and {"prod", "postgres", "lake"} <= set(extras.group(1).split(","))


def _container_command(port: str | None) -> list[str]:
    """The CMD as the container's shell would run it, with Cloud Run's $PORT or without."""
    (cmd,) = [line for line in _final_stage() if line.upper().startswith("CMD ")]
    argv = json.loads(cmd[4:])
    assert argv[:2] == ["sh", "-c"]
    env = {"PATH": os.environ["PATH"]} | ({"PORT": port} if port else {})
    script = f"for a in {argv[2].removeprefix('exec ')}; do printf '%s\\n' \"$a\"; done"
    words = subprocess.run(
        ["sh", "-c", script], env=env, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    return words


def test_the_container_command_is_a_valid_serve_command(tmp_path: Path) -> None:
    for port, expected in (("9090", 9090), (None, 8080)):
        words = _container_command(port)
        assert words[:2] == ["lineflow", "serve"] and "env=prod" in words
        # The container's home is its own; here it is a temporary folder.
        args = [w if not w.startswith("home=") else f"home={tmp_path / 'home'}" for w in words]
        out = subprocess.run(
            [sys.executable, "-m", "lineflow", *args[1:], "--cfg", "job"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, shlex.join(args) + "\n" + out.stderr
        assert f"  port: {expected}\n" in out.stdout and "  host: 0.0.0.0\n" in out.stdout
