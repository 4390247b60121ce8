"""docs/deploy.md cannot drift from the code: every `lineflow ...` command line in its code
blocks composes, every project file it shows composes to the values it shows, and every
LINEFLOW_* variable it names is one lineflow reads (or one the doc itself names in a `*_env`
key).

A command is checked as the doc writes it, after the shell expansions a unit or crontab makes
(today's date, Cloud Run's $PORT) are replaced by fixed values, with `--cfg job` added: the
command's own parser checks its keys and words, and Hydra and the settings check every
override. Nothing runs and nothing is contacted, so commands meant for a cluster or a server are
checked for their keys only. `home=` points into a temporary folder; `LINEFLOW_CONFIG_DIR=DIR`
before a command is honoured (./deploy is the doc's several-instances project file); the
secrets a layout needs are set to dummy values. Until `warehouse.kind=ducklake` is in the
code (branch `lake`), commands and files that use it are skipped with that reason.
"""

from __future__ import annotations

import re
import shlex
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml

from lineflow.cli import main
from lineflow.cli.commands import COMMANDS
from lineflow.config import WarehouseConfig
from tests.conftest import ROOT
from tests.support.postgres import url_dsn

DOC = ROOT / "docs" / "deploy.md"
TEXT = DOC.read_text()
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```", re.M | re.S)
#: `lineflow COMMAND` where a shell, a unit's ExecStart or a YAML string would start it: after
#: a line start, blank, quote or `/` (an absolute path to the executable).
INVOCATION = re.compile(r"(?:^|(?<=[\s'\"/`]))lineflow (?=[a-z])")
DATE = "2026-01-23"
#: The expansions the doc's units, crontab and job spec make, as they would come out.
EXPANSIONS = (
    (re.compile(r"\$\$\(TZ=America/New_York date \+%%F\)"), DATE),  # systemd: $$ and %%
    (re.compile(r"\$\(TZ=America/New_York date \+\\?%F\)"), DATE),  # sh; crontab's \%
    (re.compile(r"\$\{PORT:-8080\}"), "8080"),
)
SECRETS = {
    "LINEFLOW_TRIGGER_TOKEN": "t" * 24,
    "LINEFLOW_READ_TOKEN": "r" * 24,
    "ODDS_API_KEY": "dummy-odds-key",
    "BETTINGPROS_API_KEY": "dummy-bp-key",
    "LINEFLOW_STATE_DSN": url_dsn("made-up", "db.invalid", 5432, "lineflow"),
    "LINEFLOW_LAKE_CATALOG": "host=db.invalid dbname=lake user=lineflow password=pw",
}
LAKE_BUILT = "ducklake" in typing.get_args(WarehouseConfig.model_fields["kind"].annotation)
NO_LAKE = "warehouse.kind=ducklake is not in this build yet (branch lake)"


def code_blocks() -> list[tuple[str, str]]:
    """(language, text) of every fenced block, continuation lines joined."""
    return [(lang, body.replace("\\\n", " ")) for lang, body in FENCE.findall(TEXT)]


def project_files() -> list[str]:
    """The YAML blocks the doc presents as a project file (`.../project/default.yaml`)."""
    return [
        body
        for lang, body in code_blocks()
        if lang == "yaml" and "project/default.yaml" in body.splitlines()[0]
    ]


def commands() -> list[str]:
    """Every `lineflow ...` command line in the doc's code blocks, as written."""
    found = []
    for _lang, body in code_blocks():
        for line in body.splitlines():
            if line.lstrip().startswith("#"):
                continue
            found.extend(line.strip() for _ in INVOCATION.finditer(line))
    return found


def split(line: str) -> list[tuple[dict[str, str], list[str]]]:
    """Each `lineflow` invocation of a line: (environment assignments before it, its words
    after `lineflow`), with the expansions made and the line's quoting and shell syntax
    (`sh -c '...'`, `;`, `&&`, comments) taken off."""
    for pattern, value in EXPANSIONS:
        line = pattern.sub(value, line)
    out = []
    for match in INVOCATION.finditer(line):
        before, rest = line[: match.start()], line[match.end() :]
        for quote in "'\"":  # started inside a quoted string: it ends where the string does
            if before.count(quote) % 2:
                rest = rest.split(quote)[0]
        assert "$" not in rest and "`" not in rest, f"an expansion the test cannot make: {line}"
        lexer = shlex.shlex(rest, posix=True, punctuation_chars=";&|<>()")
        lexer.whitespace_split = True
        words = []
        for word in lexer:
            if word and set(word) <= set(";&|<>()"):
                break
            words.append(word)
        segment = re.split(r"&&|;|\|", before)[-1]
        env = dict(re.findall(r"(?:^|\s)([A-Z][A-Z0-9_]*)=(\S+)", segment))
        out.append((env, words))
    return out


def _lake_text(text: str) -> bool:
    return "ducklake" in text or "catalog_env" in text


@pytest.fixture
def deploy_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding ./deploy/project/default.yaml (the doc's several-instances
    project file), the secrets set to dummy values, no config dir of the caller's."""
    (several,) = [f for f in project_files() if "postgres" in f]
    conf = tmp_path / "deploy" / "project"
    conf.mkdir(parents=True)
    (conf / "default.yaml").write_text(several)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LINEFLOW_CONFIG_DIR", raising=False)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return tmp_path


def test_the_doc_shows_the_commands_an_operator_needs() -> None:
    shown = {words[0] for line in commands() for _env, words in split(line)}
    # the daily run, the service, dead letters, locks, the lake's compaction, a Ray backfill
    assert {"run", "serve", "dlq", "locks", "maintain", "backfill"} <= shown, shown


@pytest.mark.parametrize("line", commands())
def test_every_command_in_the_doc_composes(
    line: str, deploy_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    for env, words in split(line):
        command, args = words[0], words[1:]
        config_dir = env.get("LINEFLOW_CONFIG_DIR")
        uses_lake = command == "maintain" or _lake_text(" ".join(args))
        if config_dir:
            uses_lake |= _lake_text((deploy_dir / config_dir / "project/default.yaml").read_text())
        if uses_lake and not LAKE_BUILT:
            pytest.skip(NO_LAKE)
        assert command in COMMANDS, f"{line}: no command {command!r}"
        for name, value in env.items():
            monkeypatch.setenv(name, str(deploy_dir / value) if name.endswith("_DIR") else value)
        home = deploy_dir / "home"
        args = [f"home={home}" if a.startswith("home=") else a for a in args]
        capsys.readouterr()
        code = main([command, *args, "--cfg", "job"])
        out, err = capsys.readouterr()
        assert code == 0, f"{line}\n{err}"
        composed = yaml.safe_load(out)
        given = dict(a.split("=", 1) for a in args if re.fullmatch(r"[a-z_.]+=\S+", a))
        for key in ("env", "date"):
            if key in given:
                assert str(composed[key]) == given[key], (line, key)
        if "triggers.port" in given:  # serve's own keys land in triggers
            assert composed["triggers"]["port"] == int(given["triggers.port"])


def _leaves(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    leaves: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            leaves |= _leaves(value, f"{prefix}{key}.")
        else:
            leaves[f"{prefix}{key}"] = value
    return leaves


@pytest.mark.parametrize("text", project_files(), ids=lambda t: t.splitlines()[0][:40])
def test_every_project_file_composes_to_what_it_says(
    text: str, deploy_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    if _lake_text(text) and not LAKE_BUILT:
        pytest.skip(NO_LAKE)
    conf = deploy_dir / "conf-under-test"
    (conf / "project").mkdir(parents=True)
    (conf / "project" / "default.yaml").write_text(text)
    monkeypatch.setenv("LINEFLOW_CONFIG_DIR", str(conf))
    capsys.readouterr()
    code = main(["run", "env=prod", f"date={DATE}", "--cfg", "job"])
    out, err = capsys.readouterr()
    assert code == 0, err
    composed = _leaves(yaml.safe_load(out))
    for key, value in _leaves(yaml.safe_load(text)).items():
        assert key in composed, f"{key}: not a config key"
        # paths and URLs come back normalised (a folder URL ends in /, a bucket URL does not)
        assert str(composed[key]).rstrip("/") == str(value).rstrip("/"), key


def test_every_variable_the_doc_names_is_read_by_lineflow() -> None:
    named = set(re.findall(r"\bLINEFLOW_[A-Z_]+\b", TEXT))
    code = "\n".join(
        p.read_text()
        for folder in ("lineflow", "conf")
        for p in (ROOT / folder).rglob("*.*")
        if p.suffix in (".py", ".yaml")
    )
    read = {name for name in named if name in code}
    chosen = set(re.findall(r"catalog_env[:=]\s*(LINEFLOW_[A-Z_]+)", TEXT))  # a name you pick
    assert named - read - chosen == set()
    # the doc says where each secret comes from: lineflow's own and every provider key
    assert {name for name in SECRETS if name.startswith("LINEFLOW_")} <= named
    for source in (ROOT / "conf" / "source").glob("*.yaml"):
        auth = (yaml.safe_load(source.read_text()).get("auth") or {}).get("env")
        assert auth is None or auth in TEXT, f"{source.name}: {auth} is not in docs/deploy.md"
