"""The command line as a user types it: help, bad input, exit codes."""

import subprocess
import sys

import pytest

from lineflow.cli import main


def lineflow(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "lineflow", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_help_lists_commands_and_main_keys():
    out = lineflow("--help")
    assert out.returncode == 0
    assert "run" in out.stdout and "date=YYYY-MM-DD" in out.stdout
    run_help = lineflow("run", "--help")
    assert run_help.returncode == 0
    for key in ("date=", "home=", "refresh=", "strict=", "env="):
        assert key in run_help.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["date=2026-13-45"], "date: '2026-13-45' is not a calendar date"),
        (["date=2026-02-30"], "date: '2026-02-30' is not a calendar date"),
        (["date=yesterday"], "date: expected YYYY-MM-DD, got 'yesterday'"),
        (["date=2026-01-23", "foo=1"], "foo: unknown key"),
        (["date=2026-01-23", "+foo=1"], "foo: unknown key"),
        (["date=2026-01-23", "strict=perhaps"], "strict: Input should be a valid boolean"),
        (["date=2026-01-23", "env=staging"], "env: no option 'staging' (available: local, prod)"),
        (["date=2026-01-23", "http.mode=tape"], "http.mode: Input should be 'live', 'record'"),
        (["date=2026-01-23", "only=[nope]"], "only: unknown source 'nope'"),
        (
            ["date=2026-01-23", "sources.odds_api.options.odds_format=fractional"],
            "sources.odds_api.options.odds_format:",
        ),
        (["date=2026-01-23", "warehouse.memory_limit=lots"], "warehouse.memory_limit: String"),
        (["date=2026-01-23", "warehouse.threads=0"], "warehouse.threads: Input should be"),
        (["home=x"], "date: required"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, args, message):
    home = tmp_path / "home"
    code = main(
        ["run", f"home={home}", *args]
        if not args[0].startswith("home")
        else ["run", f"home={home}"]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith("lineflow: error: ")
    assert message in err
    assert not home.exists(), "bad input must not write anything"


def test_the_installed_command_exits_2_on_bad_input(tmp_path):
    out = lineflow("run", "date=2026-13-45", f"home={tmp_path / 'h'}")
    assert out.returncode == 2
    assert out.stderr.strip() == "lineflow: error: date: '2026-13-45' is not a calendar date"
    assert "Traceback" not in out.stderr
