"""The command line as a user types it: help, keys, bad input, log levels, completion."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lineflow.cli import main
from lineflow.cli.commands import COMMANDS
from tests.conftest import run_cli

RUN_KEYS = {"date", "refresh", "strict", "now", "snapshot", "only"}
BACKFILL = {
    "start", "end", "sources", "reprocess", "snapshot", "fallback_snapshots",
    "minutes_before_tip", "max_parallel", "local_parallel", "parse_workers", "dry_run", "order",
    "games_per_day",
    "executor", "address",
}  # fmt: skip
#: The keys each command reads: what its help lists, and all it accepts besides config overrides.
KEYS = {
    "run": RUN_KEYS | {"format"},
    "backfill": BACKFILL | {"format"},
    "heal": {"date", "now", "dry_run", "format"},
    "status": {"date", "now", "format"},
    "health": {"date", "now", "days", "format", "out", "email"},
    "doctor": {"date", "now", "fix", "format"},
    "validate": {"date", "strict", "refresh", "format"},
    "players": {"date", "format"},
    "rules": {"format"},
    "proxies": {"now", "format"},
    "serve": {"host", "port"},
    "locks": {"stale", "format"},
    "dlq": {"replayed", "all", "format"},
    "init": {"format"},
    "query": {"format", "out", "at"},
    "maintain": {"format"},
}
VALUES = {
    "date": "2026-01-23",
    "refresh": "true",
    "strict": "true",
    "now": "2026-01-23T18:00:00Z",
    "snapshot": "18:00Z",
    "only": "[odds_api]",
}


def lineflow(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "lineflow", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_help_lists_commands_and_each_command_its_keys():
    out = lineflow("--help")
    assert out.returncode == 0
    listed = re.findall(r"^  (\w+)  ", out.stdout.split("commands:")[1], re.M)
    assert listed == list(COMMANDS)
    run_help = lineflow("run", "--help")
    assert run_help.returncode == 0
    for key in ("date=", "home=", "refresh=", "strict=", "env="):
        assert key in run_help.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["date=2026-13-45"], "date: '2026-13-45' is not a calendar date"),
        (["date=2026-02-30"], "date: '2026-02-30' is not a calendar date"),
        (["date=tomorrow"], "date: expected YYYY-MM-DD, today or yesterday, got 'tomorrow'"),
        (["date=2026-01-23", "foo=1"], "foo: unknown key"),
        (["date=2026-01-23", "+foo=1"], "foo: unknown key"),
        (["date=2026-01-23", "strict=perhaps"], "strict: expected true or false, got 'perhaps'"),
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


def test_every_command_is_declared_in_this_table():
    assert set(KEYS) == set(COMMANDS)


@pytest.mark.parametrize(
    ("command", "key"),
    [(c, k) for c in KEYS for k in sorted(RUN_KEYS - KEYS[c])],
)
def test_a_run_key_the_command_does_not_use_is_exit_2_one_line(tmp_path, capsys, command, key):
    home = tmp_path / "home"
    code = main([command, f"{key}={VALUES[key]}", f"home={home}"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.splitlines() == [
        f"lineflow: error: {command}: {key} is not a key of this command (its keys: "
        f"{', '.join(_declared(command)) or 'none'}; see lineflow {command} --help)"
    ]
    assert not home.exists()


def _declared(command):
    from lineflow.cli import command as module

    return module(command).COMMAND.key_names()


def test_help_wins_over_the_rest_of_the_line(capsys):
    assert main(["locks", "strict=true", "--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: lineflow locks")


def test_the_issue_example_locks_strict_refresh_exits_2(tmp_path):
    out = run_cli("locks", "strict=true", "refresh=true", f"home={tmp_path / 'h'}")
    assert out.code == 2
    assert out.stderr.startswith("lineflow: error: locks: strict is not a key of this command")
    assert not (tmp_path / "h").exists()


@pytest.mark.parametrize("command", sorted(KEYS))
def test_help_lists_exactly_the_commands_keys(capsys, command):
    assert main([command, "--help"]) == 0
    text = capsys.readouterr().out
    section = text.split("\nkeys:\n", 1)[1].split("\n\n", 1)[0]
    listed = set(re.findall(r"^  (\w+)=", section, re.M))
    assert listed == KEYS[command], section
    if command == "init":  # it reads no config
        assert "config overrides" not in text and "\n  --cfg job|all" not in text
    else:
        config = text.split("config overrides", 1)[1].split("\n\n", 1)[0]
        assert "home=DIR" in config and "env=local|prod" in config
    assert text.startswith(f"usage: lineflow {command} ") and "exit codes: 0" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["status", "format=xml"], "format: expected one of table, json, got 'xml'"),
        (["health", "days=0"], "days: expected a whole number of days from 1 to 366, got '0'"),
        (["doctor", "fix=maybe"], "fix: expected true or false, got 'maybe'"),
        (["run", "date=2026-01-23", "now=noon"], "now: expected an ISO 8601 time, got 'noon'"),
        (["run", "date=2026-01-23", "snapshot=teatime"], "snapshot: expected HH:MMZ"),
        (["run", "date=2026-01-23", "only=odds_api"], "only: expected a list of source names"),
        (["run", "date=2026-01-23", "--frobnicate"], "run: unknown option '--frobnicate'"),
        (["rules", "-m"], "rules: -m (multirun) is only for `run`"),
        (["status", "2026-01-23"], "status: unexpected word '2026-01-23'"),
        (["backfill", "resume", "bf-x", "start=2026-01-01"], "backfill resume: start is a key"),
        (["backfill", "status", "max_parallel=2"], "backfill status: max_parallel is a key"),
        (["backfill", "refill"], "backfill: unexpected word 'refill'"),
        (
            ["init", "proj", "env=prod"],
            "init: env is not a key of this command (it reads no config)",
        ),
        (["serve", "port=http"], "port: expected a whole number from 0 to 65535, got 'http'"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_key(tmp_path, capsys, args, message):
    home = tmp_path / "home"
    assert main([*args, f"home={home}"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not home.exists()


def _log(home: Path) -> list[dict]:
    (path,) = (home / "logs").glob("*.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_quiet_silences_info_lines_and_verbose_adds_debug_lines(tmp_path):
    run = ("run", "date=2026-01-23", "only=[odds_api]", "pipeline.stages=[scrape,process]")
    normal = run_cli(*run, f"home={tmp_path / 'normal'}")
    assert normal.code == 0, normal.stderr
    assert "lineflow run" in normal.stdout and "completed" in normal.stdout
    assert {e["level"] for e in _log(tmp_path / "normal")} == {"info"}
    assert "debug" not in normal.stderr

    quiet = run_cli(*run, f"home={tmp_path / 'quiet'}", "-q")
    assert quiet.code == 0, quiet.stderr
    assert quiet.stdout == "" and quiet.stderr == ""
    assert [e for e in _log(tmp_path / "quiet") if e["level"] == "info"] == []

    verbose = run_cli(*run, f"home={tmp_path / 'verbose'}", "verbose=true")
    assert verbose.code == 0, verbose.stderr
    levels = [e["level"] for e in _log(tmp_path / "verbose")]
    assert "debug" in levels and "info" in levels
    assert "lineflow: debug: scrape: started" in verbose.stderr
    assert "lineflow: info: run started" in verbose.stderr
    assert "lineflow run" in verbose.stdout  # the summary as usual


def _bash_complete(line: str, words: list[str]) -> list[str]:
    script = run_cli("--shell-completion", "install=bash")
    assert script.code == 0
    bin_dir = str(Path(shutil.which("lineflow", path=str(Path(sys.executable).parent))).parent)
    program = (
        script.stdout
        + f"COMP_LINE={line!r}; COMP_POINT=${{#COMP_LINE}}; "
        + "COMP_WORDS=("
        + " ".join(repr(w) for w in words)
        + f"); COMP_CWORD={len(words) - 1}; "
        + '_lineflow_complete; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    out = subprocess.run(
        ["bash", "--norc", "-c", program], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return [w for w in out.stdout.splitlines() if w]


def test_bash_completion_offers_commands_keys_choices_and_config_keys():
    assert _bash_complete("lineflow r", ["lineflow", "r"]) == ["run", "rules"]
    keys = _bash_complete("lineflow status ", ["lineflow", "status", ""])
    assert {"date=", "now=", "format=", "home=", "env=", "locks."} <= set(keys)
    assert "refresh=" not in keys and "fix=" not in keys
    assert _bash_complete("lineflow locks re", ["lineflow", "locks", "re"]) == ["release"]
    # bash splits `format=j` at '=': the candidate is what follows it
    assert _bash_complete(
        "lineflow status format=j", ["lineflow", "status", "format", "=", "j"]
    ) == ["json"]
    dotted = _bash_complete("lineflow run locks.w", ["lineflow", "run", "locks.w"])
    assert dotted == ["locks.wait_s="]
    assert _bash_complete("lineflow run -", ["lineflow", "run", "-"])[:1] == ["--help"]
    envs = _bash_complete("lineflow run env=", ["lineflow", "run", "env", "=", ""])
    assert envs == ["local", "prod"]


def test_env_completion_offers_the_environments_of_every_config_layer(tmp_path):
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "staging.yaml").write_text("{}\n")
    out = run_cli("__complete", "lineflow status env=", env={"LINEFLOW_CONFIG_DIR": str(tmp_path)})
    assert out.code == 0, out.stderr
    assert out.stdout.split() == ["env=local", "env=prod", "env=staging"]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_completion_scripts_for_other_shells_call_the_same_entry_point(shell):
    out = run_cli("--shell-completion", f"install={shell}")
    assert out.code == 0 and "lineflow __complete" in out.stdout
    bad = run_cli("--shell-completion", "install=tcsh")
    assert bad.code == 2 and len(bad.stderr.strip().splitlines()) == 1
