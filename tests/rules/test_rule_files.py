"""Rule files as a user writes them: listed by `lineflow rules`, refused when malformed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lineflow.config import compose
from lineflow.core.errors import ConfigError
from lineflow.rules import expressions
from lineflow.rules.expressions import checked_by
from tests.conftest import ROOT, run_cli


def conf_with_rules(tmp_path: Path, name: str, text: str) -> dict[str, str]:
    """A copy of conf/ with one more rule file in the defaults list; the env that selects it."""
    conf = tmp_path / "conf"
    shutil.copytree(ROOT / "conf", conf)
    (conf / "rules" / f"{name}.yaml").write_text(text)
    config = conf / "config.yaml"
    config.write_text(
        config.read_text().replace(
            "  - line_quality: default\n",
            f"  - rules@rules.{name}: {name}\n  - line_quality: default\n",
        )
    )
    return {"LINEFLOW_CONFIG_DIR": str(conf)}


def test_rules_lists_every_configured_rule_with_its_thresholds():
    out = run_cli("rules")
    assert out.code == 0, out.stderr
    for rule_id, kind, severity in [
        ("american_odds_valid", "american_odds", "quarantine"),
        ("over_under_pair_consistent", "pair_sum", "quarantine"),
        ("points_line_in_range", "line_range", "quarantine"),
        ("lines_fresh", "freshness", "warn"),
        ("ten_players_per_game", "min_count", "error"),
        ("bettingpros_players", "completeness", "error"),
    ]:
        line = next(x for x in out.stdout.splitlines() if x.startswith(rule_id + " "))
        assert line.split() == [rule_id, kind, "prop_lines", severity]
    assert "markets={player_points:[5.5,50.5]}" in out.stdout
    assert "min_books=2" in out.stdout and "max_age_hours=4.0" in out.stdout


def test_a_blocking_rule_is_listed_as_blocking(tmp_path):
    env = conf_with_rules(
        tmp_path,
        "gate",
        "table: prop_lines\nchecks:\n"
        "  - {id: must_have_odds, kind: completeness, source: odds_api, min: 1, blocking: true}\n",
    )
    out = run_cli("rules", env=env)
    assert out.code == 0, out.stderr
    assert "must_have_odds" in out.stdout and "error blocking" in out.stdout


BAD = [
    (
        "checks:\n  - {id: r1, kind: betwixt, column: line}\n",
        "rules.extra: rule 'r1': unknown kind 'betwixt'",
    ),
    (
        "checks:\n  - {id: r2, kind: between, column: line}\n",
        "rules.extra: rule 'r2': between needs min, max or both",
    ),
    (
        "checks:\n  - {id: r3, kind: not_null, column: playr_key}\n",
        "rules.extra: rule 'r3': unknown column 'playr_key' of prop_lines",
    ),
    (
        "checks:\n  - {id: r4, kind: row, sql: 'line >>> 2'}\n",
        "rules.extra: rule 'r4': sql: bad SQL 'line >>> 2'",
    ),
    (
        "checks:\n  - {id: r5, kind: row, polars: \"pl.col('line') + 1\"}\n",
        "rules.extra: rule 'r5': polars: \"pl.col('line') + 1\" gives Float64, not booleans",
    ),
    (
        "checks:\n  - {id: r6, kind: completeness, source: odds_api, min: 1,"
        " severity: quarantine}\n",
        "rules.extra: rule 'r6': severity quarantine needs rows to quarantine",
    ),
    (
        "checks:\n  - {id: r7, kind: decimal_odds, severity: fatal}\n",
        "rules.extra: rule 'r7': severity: Input should be 'warn', 'error' or 'quarantine'",
    ),
    (
        "checks:\n  - {id: r8, kind: decimal_odds, max_fraction: 2}\n",
        "rules.extra: rule 'r8': max_fraction: Input should be less than or equal to 1",
    ),
    (
        "checks:\n  - {id: r9, kind: freshness, max_age_hours: 4, colour: red}\n",
        "rules.extra: rule 'r9': colour: unknown key",
    ),
    (
        "columns:\n  - name: line\n    checks:\n      - {id: r10, kind: pair_sum}\n",
        "rules.extra: rule 'r10': kind 'pair_sum' is not a column check",
    ),
    (
        "checks:\n  - {id: american_odds_valid, kind: decimal_odds}\n",
        "rule 'american_odds_valid': id used twice",
    ),
    ("checks:\n  - {kind: decimal_odds}\n", "rules.extra.checks.0: id: required key is missing"),
]


@pytest.mark.parametrize(("body", "message"), BAD, ids=[m for _, m in BAD])
def test_a_malformed_rule_file_fails_at_load_with_the_rule_id_and_the_problem(
    tmp_path, body, message
):
    env = conf_with_rules(tmp_path, "extra", "table: prop_lines\n" + body)
    out = run_cli("rules", env=env)
    assert out.code == 2, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("lineflow: error: ")
    assert message in lines[0]


def test_a_run_with_a_malformed_rule_file_writes_nothing(tmp_path):
    env = conf_with_rules(tmp_path, "extra", "table: prop_lines\n" + BAD[1][0])
    home = tmp_path / "home"
    out = run_cli("run", "date=2026-01-23", f"home={home}", env=env)
    assert out.code == 2
    assert out.stderr.strip() == f"lineflow: error: {BAD[1][1]}"
    assert not home.exists(), "a bad rule file stops the run before anything is written"


def test_an_unknown_table_is_refused(tmp_path):
    env = conf_with_rules(tmp_path, "extra", "table: props\nchecks: []\n")
    out = run_cli("rules", env=env)
    assert out.code == 2
    assert "rules.extra: table: unknown table 'props' (known: prop_lines)" in out.stderr


@pytest.mark.parametrize("bad", [BAD[3], BAD[4]], ids=["sql", "polars"])
def test_a_bad_expression_is_refused_every_time_the_composition_comes_from_the_cache(tmp_path, bad):
    body, message = bad
    cache = tmp_path / "cache"
    env = conf_with_rules(tmp_path, "extra", "table: prop_lines\n" + body)
    env["XDG_CACHE_HOME"] = str(cache)
    for attempt in ("composed", "from the cache"):
        out = run_cli("rules", env=env)
        assert out.code == 2, attempt
        assert message in out.stderr, attempt
        entries = list((cache / "lineflow" / "compose").glob("*.json"))
        assert len(entries) == 1, "the composition is kept, so the second attempt reads it"
        assert json.loads(entries[0].read_text())["expressions_checked_by"] is None


def test_a_cached_composition_runs_its_rules_expressions_only_with_new_engines(
    tmp_path, monkeypatch
):
    """The expressions' verdict is recorded with the engines that ran them: the next compose
    validates everything else again and runs no expression (no private DuckDB is made), until
    the recorded engines are not this process's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    args = ["date=2026-01-23", f"home={tmp_path / 'home'}"]
    first = compose(args)
    (entry,) = (tmp_path / "lineflow" / "compose").glob("*.json")
    assert json.loads(entry.read_text())["expressions_checked_by"] == checked_by()
    assert any(getattr(rule, "sql", None) or rule.where for rule in first.rule_list())

    monkeypatch.setattr(expressions, "_db", None)
    assert compose(args) == first
    assert expressions._db is None, "the recorded verdict stands: no expression ran"

    entry.write_text(json.dumps(json.loads(entry.read_text()) | {"expressions_checked_by": "x"}))
    assert compose(args) == first
    assert expressions._db is not None, "other engines: the expressions ran again"
    assert json.loads(entry.read_text())["expressions_checked_by"] == checked_by()


def test_a_home_that_became_unusable_is_refused_from_the_cache_too(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    home = tmp_path / "home"
    compose(["date=2026-01-23", f"home={home}"])
    home.write_text("a file where the home folder was")
    with pytest.raises(ConfigError, match="^home: "):
        compose(["date=2026-01-23", f"home={home}"])
