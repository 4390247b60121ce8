"""Bad input is one line and exit 2, and writes nothing: a conf file that is not YAML, a date
or time outside what the slate arithmetic holds (from the command line, a backfill's range or a
trigger message: one check), a backfill date in a form `run` refuses; and the read-only paths
(`locks`, `dlq`, `backfill status`, `backfill resume` of an unknown id) never create the state
store of a home that never ran."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lineflow.ops.triggers.handler import TriggerHandler
from tests.conftest import INCIDENT, run_cli

RANGE = "1970-01-01..2999-12-31"


def one_line_exit_2(out, starts: str) -> None:
    assert out.code == 2, out.stdout + out.stderr
    assert out.stderr.startswith(f"lineflow: error: {starts}"), out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("config.yaml", "home: [unclosed\n", "line 2, column 1: expected ',' or ']'"),
        ("rules/completeness.yaml", "rules:\n  - id: [x\n", "line 3, column 1"),
        ("source/odds_api.yaml", "a: {b\n", "line 2, column 1: expected ',' or '}'"),
        ("project/default.yaml", "x: : y\n", "line 1, column 4: mapping values"),
    ],
)
def test_a_conf_file_that_is_not_yaml_is_one_line_naming_it(tmp_path, name, text, where):
    conf = tmp_path / "conf"
    (conf / name).parent.mkdir(parents=True)
    (conf / name).write_text(text)
    home = tmp_path / "home"
    out = run_cli("run", f"date={INCIDENT}", f"home={home}", cwd=tmp_path)
    one_line_exit_2(out, f"{conf / name}: YAML syntax error at {where}")
    assert not home.exists()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["run", "date=9999-12-31"], f"date: 9999-12-31 is outside {RANGE}"),
        (["run", "date=1969-12-31"], f"date: 1969-12-31 is outside {RANGE}"),
        (["run", f"date={INCIDENT}", "now=9999-12-31T23:59:59Z"], "now: 9999-12-31T23:59:59+00"),
        (["run", f"date={INCIDENT}", "snapshot=9999-12-31T10:00Z"], "snapshot: 9999-12-31T10"),
        (
            ["run", f"date={INCIDENT}", "snapshot=25:00Z"],
            "snapshot: expected HH:MMZ or an ISO time, got '25:00Z'",
        ),
        (["run", f"date={INCIDENT}", "snapshot=abc"], "snapshot: expected HH:MMZ"),
        (["run", "date=20260123"], "date: expected YYYY-MM-DD, today or yesterday, got '20260123'"),
        (
            ["backfill", "start=20260101", "end=2026-01-02"],
            "start: expected YYYY-MM-DD, today or yesterday, got '20260101'",
        ),
        (["backfill", "start=2026-01-01", "end=9999-12-31"], f"end: 9999-12-31 is outside {RANGE}"),
    ],
)
def test_a_date_or_time_out_of_range_is_refused_before_anything_is_written(tmp_path, args, said):
    home = tmp_path / "home"
    out = run_cli(*args, f"home={home}", cwd=tmp_path)
    one_line_exit_2(out, said)
    assert not home.exists()


def test_a_trigger_for_a_date_out_of_range_is_dead_lettered_not_retried(tmp_path):
    from lineflow.config import compose

    ran = []
    settings = compose([f"home={tmp_path / 'home'}"])
    trigger = TriggerHandler(settings, clock=lambda: 1000.0, runner=lambda s, w: ran.append(w))
    body = json.dumps({"processor": "consolidate", "date": "9999-12-31"}).encode()
    answer = trigger.handle(body, header_id="m-9999", check_age=False)
    assert (answer.status, answer.body["status"]) == (200, "dead_lettered")
    assert f"9999-12-31 is outside {RANGE}" in answer.body["reason"]
    assert ran == []
    (letter,) = trigger.queue.dead_letters()
    assert (letter.key, letter.permanent) == ("m-9999", 1)


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (["locks"], 0, "no locks held"),
        (["dlq"], 0, "no dead letters"),
        (["backfill", "status"], 0, "backfills"),
        (["backfill", "resume", "999"], 2, "backfill '999': no such backfill"),
        (["backfill", "status", "999"], 2, "backfill '999': no such backfill"),
        (["backfill", "start=2026-01-19", "end=2026-01-20", "dry_run=true"], 0, "dry run"),
    ],
)
def test_read_only_commands_on_a_fresh_home_create_nothing(tmp_path, args, code, said):
    home = tmp_path / "home"
    out = run_cli(*args, f"home={home}", cwd=tmp_path)
    assert out.code == code, out.stdout + out.stderr
    assert said in out.stdout + out.stderr
    assert not home.exists() and sorted(p.name for p in Path(tmp_path).iterdir()) == []
