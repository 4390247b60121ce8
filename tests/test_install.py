"""The wheel as a user gets it: built, installed into a fresh venv, run from an empty folder.

One venv per session (building and installing takes ~30 s); dependencies come from the
configured package index or pip's cache, lineflow itself only from the wheel.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import INCIDENT, ROOT, query

pytestmark = pytest.mark.slow

#: What the wheel is built from; a copy, so no stale build/ output of the checkout gets in.
SOURCES = ["pyproject.toml", "setup.py", "README.md", "lineflow", "conf", "fixtures"]


@pytest.fixture(scope="session")
def installed(tmp_path_factory) -> Path:
    """The bin/ folder of a fresh venv with the built wheel installed (not editable)."""
    base = tmp_path_factory.mktemp("install")
    source = base / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(ROOT / name, source / name)
    dist = base / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    _ok(pip + ["wheel", str(source), "--no-deps", "-w", str(dist)], cwd=base)
    (wheel,) = dist.glob("lineflow-*.whl")
    venv.create(base / "venv", with_pip=True)
    bin_dir = base / "venv" / "bin"
    _ok(
        [str(bin_dir / "pip"), "--disable-pip-version-check", "-q", "install", str(wheel)], cwd=base
    )
    return bin_dir


def _ok(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, f"{cmd}: {out.stdout}{out.stderr}"
    return out


def _lineflow(bin_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # The user's home is not the folder they run in: lineflow keeps its compose cache there
    # (~/.cache/lineflow), and nothing but `var/` may appear in the working folder.
    user_home = bin_dir.parent.parent / "user-home"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "COLUMNS": "200", "HOME": str(user_home)}
    return subprocess.run(
        [str(bin_dir / "lineflow"), *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def _odds_api_files(home: Path) -> list[tuple[int, int]]:
    """Odds API props files of the incident date: landed, and reaching prop_lines."""
    return query(
        home,
        "SELECT (SELECT count(DISTINCT file_id) FROM landed_files WHERE source = 'odds_api' "
        "AND endpoint = 'player_props'), (SELECT count(DISTINCT file_id) FROM prop_lines "
        "WHERE source = 'odds_api')",
    )


def test_the_wheel_runs_the_demo_and_a_scaffolded_project_from_an_empty_folder(installed, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    version = _lineflow(installed, work, "--version")
    assert version.returncode == 0 and version.stdout.startswith("lineflow 0.")

    demo = _lineflow(installed, work, "run", f"date={INCIDENT}")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "exit 0" in demo.stdout
    assert sorted(p.name for p in work.iterdir()) == ["var"]
    assert _odds_api_files(work / "var") == [(16, 16)]

    init = _lineflow(installed, work, "init", "proj")
    assert init.returncode == 0, init.stderr
    proj = work / "proj"
    shown = _lineflow(installed, proj, "run", f"date={INCIDENT}", "--cfg", "job")
    assert shown.returncode == 0, shown.stderr
    # The project's source override and extra rule, merged over the packaged defaults.
    odds_api = shown.stdout.split("\n  odds_api:\n", 1)[1].split("\n  bettingpros:\n")[0]
    assert "\n    concurrency: 2\n" in odds_api
    assert "\n    base_url: https://api.the-odds-api.com\n" in odds_api
    assert "id: house_points_line_in_range" in shown.stdout

    run = _lineflow(installed, proj, "run", f"date={INCIDENT}")
    assert run.returncode == 0, run.stdout + run.stderr
    assert _odds_api_files(proj / "var") == [(16, 16)]
    house = "SELECT count(*) FROM validation_results WHERE rule_id = 'house_points_line_in_range'"
    assert query(proj / "var", house) == [(1,)]


def test_the_wheel_holds_no_test_tooling(installed):
    # The stand-in provider, emulators, recorder and forward proxy live in tests/support/.
    (record,) = installed.parent.glob("lib/python*/site-packages/lineflow-*.dist-info/RECORD")
    files = [line.split(",")[0] for line in record.read_text().splitlines()]
    assert "lineflow/cli/__init__.py" in files
    top = {f.split("/")[0] for f in files if not f.startswith("..")}  # `..`: bin/lineflow
    assert {t for t in top if t != "lineflow" and not t.startswith("lineflow-")} == set()
    tooling = ("standin", "emulators", "forward_proxy", "/testing/", "/record.py")
    assert [f for f in files if any(word in f for word in tooling)] == []
