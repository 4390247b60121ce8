"""lineflow from Python: the README's example runs as written, results are typed and agree
with the warehouse, errors are lineflow's own, and `import lineflow` stays cheap."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import lineflow
from tests.conftest import INCIDENT, ROOT, query, run_cli


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## From Python") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README's From Python section has a python block"
    return match[1]


def test_the_readme_example_runs_and_prints_the_warehouse_figures(tmp_path):
    home = tmp_path / "home"
    code = readme_example()
    assert '"/tmp/lf"' in code
    script = tmp_path / "example.py"
    script.write_text(code.replace('"/tmp/lf"', repr(str(home))))
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "completed 0"
    ((rows,),) = query(home, f"SELECT count(*) FROM prop_lines WHERE slate_date = '{INCIDENT}'")
    assert f"{rows} rows in prop_lines" in lines
    assert "scrape:bettingpros blocked 0 0 3" in lines  # three links asked, every one refused
    # one component per configured source (DraftKings the third), then the predictions'
    assert lines[-1] == (
        "{'odds_api props': 'ok', 'bettingpros props': 'blocked', 'draftkings props': 'ok', "
        "'predictions staging': 'ok', 'predictions main': 'ok'}"
    )


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> tuple[Path, lineflow.RunResult]:
    home = tmp_path_factory.mktemp("api") / "home"
    return home, lineflow.run(date=INCIDENT, home=home, strict=True)


def test_a_run_result_holds_the_summarys_figures(ran):
    home, result = ran
    assert isinstance(result, lineflow.RunResult)
    # strict=true and a blocked source: the command's exit 3, in the result, not raised
    assert (result.exit_code, result.ok) == (3, False)
    ((rows, run_id),) = query(
        home,
        "SELECT rows, run_id FROM run_history WHERE processor = 'consolidate' "
        f"AND slate_date = '{INCIDENT}'",
    )
    assert (result.stage("consolidate").rows, result.run_id) == (rows, run_id)
    assert result.stage("scrape:bettingpros").status == "blocked"
    assert result.log_path is not None and result.log_path.is_file()
    with pytest.raises(lineflow.RunFailed) as raised:
        result.raise_for_status()
    assert raised.value.exit_code == 3
    assert str(raised.value).startswith(f"run {run_id}: completed with problems (strict): ")
    assert "scrape:bettingpros blocked: blocked via decodo (403)" in str(raised.value)


def test_status_is_the_commands_report(ran):
    home, _ = ran
    report = lineflow.status(date=INCIDENT, home=home)
    command = run_cli("status", f"date={INCIDENT}", f"home={home}", "format=json")
    assert command.code == 0
    import json

    shown = json.loads(command.stdout)
    assert [(c.name, c.actual, c.status) for c in report.components] == [
        (c["name"], c["actual"], c["status"]) for c in shown["components"]
    ]


def test_a_backfill_returns_each_partitions_figures_as_its_manifest_has_them(ran):
    home, _ = ran
    done = lineflow.backfill(
        start=INCIDENT,
        end=INCIDENT,
        home=home,
        sources=["odds_api", "bettingpros"],
        parse_workers=0,  # parse in the partition's thread: no process spawned from pytest
        pipeline__stages=["process", "validate", "consolidate"],
    )
    assert isinstance(done, lineflow.BackfillResult)
    assert (done.status, done.ok, [str(p.date) for p in done.partitions]) == (
        "complete",
        True,
        [INCIDENT],
    )
    with sqlite3.connect(home / "state.sqlite") as con:
        manifest = con.execute(
            "SELECT status, attempts, requests, rows FROM backfill_partitions "
            "WHERE backfill_id = ?",
            (done.backfill_id,),
        ).fetchall()
    (partition,) = done.partitions
    assert manifest == [(partition.status, partition.attempts, partition.requests, partition.rows)]
    assert partition.requests == 0, "a reprocessing backfill asks nothing"
    status = run_cli("backfill", "status", done.backfill_id, f"home={home}")
    assert f"backfill {done.backfill_id}: complete" in status.stdout


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda h: lineflow.run(date="2026-13-01", home=h), "date: "),
        (lambda h: lineflow.run(date=INCIDENT, home=h, no_such_key=1), "no_such_key"),
        (lambda h: lineflow.status(date=INCIDENT, home=h), "no warehouse at"),
        (lambda h: lineflow.backfill(start="2026-01-22", end="2026-01-19", home=h), "end"),
    ],
)
def test_bad_input_raises_a_config_error_not_system_exit(tmp_path, call, message):
    home = tmp_path / "home"
    with pytest.raises(lineflow.ConfigError) as raised:
        call(home)
    assert message in str(raised.value) and "\n" not in str(raised.value)
    assert raised.value.exit_code == 2
    assert not home.exists() or not any(home.iterdir()), "bad input writes nothing"


def test_overrides_are_one_value_each_whatever_they_contain():
    from lineflow.api import as_overrides

    assert as_overrides(
        {"home": "/tmp/a b's", "strict": True, "only": ["odds_api"], "http__mode": "replay"},
        ["+x=1"],
    ) == ["home='/tmp/a b\\'s'", "strict=true", "only=['odds_api']", "http.mode='replay'", "+x=1"]


def test_import_lineflow_loads_no_pipeline_library():
    code = (
        "import sys, lineflow; v = lineflow.__version__; "
        "print(sorted(m for m in ('polars', 'duckdb', 'hydra', 'pydantic', 'lineflow.api') "
        "if m in sys.modules)); print(v)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded, version = out.stdout.splitlines()
    assert loaded == "[]"
    from importlib.metadata import version as installed

    assert version == installed("lineflow") == lineflow.__version__
