"""Where configuration comes from: packaged defaults, the project's conf/, $LINEFLOW_CONFIG_DIR,
the command line (later wins); `lineflow init`; home as one folder checked before any write."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lineflow.config import compose
from lineflow.core.errors import ConfigError
from tests.conftest import INCIDENT, run_cli
from tests.support.sandbox import mounted, shared_folder, unprivileged

PACKAGED_WAIT_S = 120.0  # conf/config.yaml locks.wait_s


def overlay(conf: Path, text: str, name: str = "project/default.yaml") -> Path:
    path = conf / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return conf


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder as the working directory, with no $LINEFLOW_CONFIG_DIR."""
    folder = tmp_path / "project"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.delenv("LINEFLOW_CONFIG_DIR", raising=False)
    return folder


def test_without_a_project_the_packaged_defaults_compose(project):
    settings = compose([f"date={INCIDENT}"])
    assert settings.locks.wait_s == PACKAGED_WAIT_S
    assert sorted(settings.rules) == ["completeness", "prop_lines"]
    assert (settings.http.cassettes / "odds_api" / INCIDENT).is_dir()


def test_the_projects_conf_is_merged_over_the_packaged_defaults(project):
    overlay(
        project / "conf",
        "defaults:\n  - /rules@rules.extra: extra\n"
        "locks: {wait_s: 7}\nsources: {odds_api: {concurrency: 2}}\n",
    )
    overlay(
        project / "conf",
        "table: prop_lines\nchecks:\n"
        "  - {id: extra_rule, kind: row, sql: 'line > 0', severity: warn}\n",
        "rules/extra.yaml",
    )
    settings = compose([])
    assert settings.locks.wait_s == 7
    # Key by key: the rest of the packaged source and lock settings stay.
    assert settings.sources["odds_api"].concurrency == 2
    assert settings.sources["odds_api"].base_url == "https://api.the-odds-api.com"
    assert settings.locks.ttl_minutes == 30
    assert sorted(settings.rules) == ["completeness", "extra", "prop_lines"]


def test_config_dir_from_the_environment_wins_over_the_project(project, tmp_path, monkeypatch):
    overlay(project / "conf", "locks: {wait_s: 7, ttl_minutes: 5}\n")
    env_conf = overlay(tmp_path / "ops", "locks: {wait_s: 9}\n")
    monkeypatch.setenv("LINEFLOW_CONFIG_DIR", str(env_conf))
    settings = compose([])
    assert settings.locks.wait_s == 9
    # A file of a later layer replaces the same file of an earlier one, whole.
    assert settings.locks.ttl_minutes == 30


def test_the_command_line_wins_over_every_file(project, tmp_path, monkeypatch):
    overlay(project / "conf", "locks: {wait_s: 7}\n")
    monkeypatch.setenv("LINEFLOW_CONFIG_DIR", str(overlay(tmp_path / "ops", "locks: {}\n")))
    assert compose(["locks.wait_s=11"]).locks.wait_s == 11


def test_a_config_dir_that_does_not_exist_is_one_line(project, tmp_path, monkeypatch):
    monkeypatch.setenv("LINEFLOW_CONFIG_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match=r"^LINEFLOW_CONFIG_DIR: no such folder .*nowhere$"):
        compose([])


def test_info_lists_the_search_path_in_lookup_order(project, tmp_path):
    (project / "conf").mkdir()
    ops = tmp_path / "ops"
    ops.mkdir()
    out = run_cli("run", "--info", cwd=project, env={"LINEFLOW_CONFIG_DIR": str(ops)})
    assert out.code == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines() if line.startswith("  ")]
    assert rows == [
        ["$LINEFLOW_CONFIG_DIR", f"file://{ops}"],
        ["project", f"file://{project / 'conf'}"],
        ["lineflow", "pkg://lineflow.conf"],
    ]


# -- lineflow init ------------------------------------------------------------------------------


def test_init_scaffolds_a_project_whose_overrides_take_effect(project):
    out = run_cli("init", "proj", cwd=project)
    assert out.code == 0, out.stderr
    made = sorted(str(p.relative_to(project / "proj")) for p in (project / "proj").rglob("*"))
    assert [m for m in made if not (project / "proj" / m).is_dir()] == [
        ".gitignore",
        "README.md",
        "conf/env/dev.yaml",
        "conf/project/default.yaml",
        "conf/rules/house.yaml",
    ]
    assert "next: cd proj && lineflow run date=2026-01-23" in out.stdout
    os.chdir(project / "proj")
    settings = compose([f"date={INCIDENT}"])
    assert settings.sources["odds_api"].concurrency == 2  # packaged: 4
    assert "house_points_line_in_range" in [rule.id for rule in settings.rule_list()]
    assert settings.home == Path("var")
    dev = compose(["env=dev"])
    assert (dev.env, dev.http.timeout_s, dev.http.mode) == ("dev", 10, "replay")


def test_init_takes_an_existing_empty_folder(project):
    (project / "proj").mkdir()
    out = run_cli("init", "proj", cwd=project)
    assert out.code == 0, out.stderr
    assert (project / "proj" / "conf" / "project" / "default.yaml").is_file()


@pytest.mark.parametrize("existing", ["a non-empty folder", "a file"])
def test_init_refuses_what_exists(project, existing):
    target = project / "proj"
    if existing == "a file":
        target.write_text("mine")
    else:
        target.mkdir()
        (target / "notes.txt").write_text("mine")
    out = run_cli("init", "proj", cwd=project)
    assert out.code == 2
    assert len(out.stderr.splitlines()) == 1 and "lineflow: error: init: proj " in out.stderr
    assert sorted(p.name for p in project.rglob("*")) == sorted(
        ["proj"] if existing == "a file" else ["proj", "notes.txt"]
    )


# -- home ---------------------------------------------------------------------------------------

COMMANDS = [
    ("run", f"date={INCIDENT}"),
    ("run", "-m", f"date=2026-01-22,{INCIDENT}"),
    ("status", f"date={INCIDENT}"),
    ("health", f"date={INCIDENT}"),
    ("doctor", f"date={INCIDENT}"),
    ("locks",),
    ("dlq",),
    ("backfill", "start=2026-01-22", "end=2026-01-23"),
]


def _bad_home(kind: str, root: Path) -> tuple[str, str]:
    """(home=..., what the error names) for each way home can be unusable."""
    if kind == "empty":
        return "", "home: empty"
    (root / "taken").write_text("a file")
    if kind == "a file":
        return str(root / "taken"), "home: is a file, not a folder"
    return str(root / "taken" / "home"), f"home: cannot be created: {root / 'taken'} is a file"


# Every kind with `run` and `run -m`; every command that opens home with a file for home.
CASES = [(command, kind) for command in COMMANDS[:2] for kind in ("empty", "under a file")] + [
    (command, "a file") for command in COMMANDS
]


@pytest.mark.parametrize(
    ("command", "kind"), CASES, ids=lambda c: " ".join(c[:2]) if isinstance(c, tuple) else c
)
def test_an_unusable_home_is_one_line_and_nothing_is_written(tmp_path, kind, command):
    work = tmp_path / "work"
    work.mkdir()
    home, message = _bad_home(kind, tmp_path)
    root_before = {p.name for p in Path("/").iterdir()}
    out = run_cli(*command, f"home={home}", cwd=work)
    assert out.code == 2, out.stdout + out.stderr
    assert out.stderr.startswith(f"lineflow: error: {message}") and out.stderr.count("\n") == 1
    assert list(work.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["work"] if kind == "empty" else ["work", "taken"]
    )
    assert {p.name for p in Path("/").iterdir()} == root_before


def test_a_read_only_home_is_one_line():
    # As an unprivileged user: root ignores the permission bits this is about.
    with shared_folder() as shared:
        locked = shared / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        out = subprocess.run(
            [*unprivileged(), sys.executable, "-m", "lineflow", "run", f"date={INCIDENT}"]
            + [f"home={locked / 'home'}"],
            capture_output=True,
            text=True,
            cwd=shared,
            timeout=300,
        )
        assert out.returncode == 2, out.stdout + out.stderr
        expected = f"home: cannot be created: {locked} is not writable (got '{locked / 'home'}')"
        assert out.stderr == f"lineflow: error: {expected}\n"
        assert list(locked.iterdir()) == []


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_home_on_a_read_only_file_system_is_one_line_for_every_command(tmp_path, command):
    with mounted(tmp_path / "ro", "ro,size=64k") as home:
        out = run_cli(*command, f"home={home}", cwd=tmp_path)
        assert out.code == 2, out.stdout + out.stderr
        said = f"home: is on a read-only file system (got '{home}')"
        assert out.stderr == f"lineflow: error: {said}\n"


def test_all_state_lives_under_home(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    home = tmp_path / "home"
    out = run_cli("run", f"date={INCIDENT}", f"home={home}", "only=[odds_api]", cwd=work)
    assert out.code == 0, out.stdout + out.stderr
    assert list(work.iterdir()) == []
    assert {"landing", "lineflow.duckdb", "logs", "state.sqlite"} <= {
        p.name for p in home.iterdir()
    }


# -- --cfg, --version ---------------------------------------------------------------------------


def test_cfg_prints_the_composed_config_with_secrets_as_names_only(project):
    secret = "sk-live-0123456789abcdef"
    job = run_cli(
        "run",
        f"date={INCIDENT}",
        "locks.wait_s=5",
        "--cfg",
        "job",
        cwd=project,
        env={"ODDS_API_KEY": secret},
    )
    assert job.code == 0, job.stderr
    assert "\n  wait_s: 5\n" in job.stdout and "\nhydra:" not in job.stdout
    assert "env: ODDS_API_KEY" in job.stdout and secret not in job.stdout
    every = run_cli("run", "--cfg", "all", cwd=project, env={"ODDS_API_KEY": secret})
    assert every.code == 0, every.stderr
    assert "\nhydra:\n" in every.stdout and secret not in every.stdout
    assert list(project.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("--cfg", "yaml"), "--cfg: expected job or all, got 'yaml'"),
        (("--cfg", "job", "locks.nope=1"), "locks.nope: unknown key"),
    ],
)
def test_cfg_refuses_bad_input_in_one_line(project, args, error):
    out = run_cli("run", *args, cwd=project)
    assert (out.code, out.stdout, out.stderr) == (2, "", f"lineflow: error: {error}\n")


def test_version_is_the_installed_distributions():
    from importlib.metadata import version

    out = run_cli("--version")
    assert (out.code, out.stdout) == (0, f"lineflow {version('lineflow')}\n")
