"""What an operator reads: figures that add up, JSON for every report, whole lines in a pipe,
empty states that say what is true, and promises that are kept.

One offline run of the incident date (2026-01-23, BettingPros blocked) in JSON is shared by
the tests of this module; the commands that change a home run on a copy of it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lineflow.cli import command
from lineflow.cli.commands import COMMANDS
from lineflow.reporting.output import figures_text
from tests.conftest import INCIDENT, ROOT, copy_home, query, run_cli

D = f"slate_date = DATE '{INCIDENT}'"

#: The only command without format=json, and why.
NO_REPORT = {"serve": "a server: it prints where it listens, then answers HTTP"}


@pytest.fixture(scope="module")
def incident(tmp_path_factory):
    """`lineflow run format=json` of the incident date on a fresh home: (home, its document)."""
    home = tmp_path_factory.mktemp("output") / "home"
    result = run_cli("run", f"date={INCIDENT}", f"home={home}", "format=json")
    assert result.code == 0, result.stderr
    return home, json.loads(result.stdout)


def json_of(*args: str) -> dict | list:
    result = run_cli(*args, "format=json")
    assert result.code == 0, (args, result.stderr)
    return json.loads(result.stdout)  # the whole of stdout is one JSON document


# -- 1. figures that add up -------------------------------------------------------------------


def test_run_status_and_health_show_the_same_figures_for_the_incident_date(incident):
    home, run = incident
    status = json_of("status", f"date={INCIDENT}", f"home={home}")
    health = json_of("health", f"date={INCIDENT}", f"home={home}")
    ran = {p["processor"]: p["figures"] for p in run["processors"]}
    assert ran == status["figures"]
    assert health["status"]["figures"] == status["figures"]
    for phase in health["phases"]:
        summed: dict[str, int] = {}
        for processor in phase["configured"]:
            for key, n in ran[processor].items():
                summed[key] = summed.get(key, 0) + n
        assert phase["figures"] == summed, phase["stage"]
    # ... and they are what the warehouse holds, whatever the day's counts are.
    figures = status["figures"]
    ((landed, processed),) = query(
        home,
        "SELECT count(DISTINCT l.file_id), count(DISTINCT p.file_id) FROM landed_files l "
        f"LEFT JOIN processed_files p USING (file_id) WHERE l.source = 'odds_api' AND l.{D}",
    )
    assert figures["scrape:odds_api"] == {"files_landed": landed}
    assert figures["process:odds_api"]["files_processed"] == processed
    ((rows, files),) = query(
        home, f"SELECT count(*), count(DISTINCT file_id) FROM prop_lines WHERE {D}"
    )
    assert figures["consolidate"] == {"files_consolidated": files, "rows_consolidated": rows}
    ((predictions, units),) = query(
        home,
        "SELECT count(*), count(DISTINCT (player_key, market)) FROM predictions "
        f"WHERE is_active AND {D}",
    )
    assert figures["predict"]["predictions"] == predictions
    assert figures["predict"]["player_markets_predicted"] == units
    ((judged, failing),) = query(
        home, f"SELECT count(*), count(*) FILTER (NOT passed) FROM line_quality WHERE {D}"
    )
    assert figures["validate"]["player_markets_judged"] == judged
    assert figures["validate"]["player_markets_failing"] == failing
    main = next(c for c in status["components"] if c["name"] == "predictions main")
    assert (main["actual"], main["unit"]) == (units, "player markets")
    assert status["line_quality"] == {"passed": judged - failing, "failed": failing}


def test_the_summary_names_every_unit_the_replay_and_the_warehouse(incident, tmp_path):
    home, run = incident
    assert run["http_mode"] == "replay"
    assert run["warehouse"] == str(home / "lineflow.duckdb")
    result = run_cli("run", f"date={INCIDENT}", f"home={copy_home(home, tmp_path)}")
    assert result.code == 0, result.stderr
    assert "replayed from recorded cassettes (nothing sent)" in result.stdout
    assert f"warehouse {tmp_path}" in result.stdout
    for p in run["processors"]:  # the first run's figures, each with its unit, on its row
        assert p["figures"], p["processor"]
        shown = figures_text(p["figures"])
        assert all(re.search(r"\d [a-z]", part) for part in shown.split(", "))
    text = run_cli("status", f"date={INCIDENT}", f"home={home}").stdout
    assert "players passed" not in text and "player markets passed" in text


# -- 2. format=json everywhere ----------------------------------------------------------------


def documented_keys() -> dict[str, list[str] | None]:
    """docs/output.md's table: command form -> its top-level keys (None: an array of rows)."""
    text = (ROOT / "docs" / "output.md").read_text()
    found = {}
    for form, keys in re.findall(r"^\| `([^`]+)` \| (.+) \|$", text, re.M):
        found[form] = re.findall(r"`(\w+)`", keys) if "`" in keys else None
    return found


#: How each command is run for its JSON document (words and keys after the command).
FORMS = {
    "run": ["date=2026-01-23"],  # on a copy of the incident home
    "backfill": [
        "start=2026-01-23",
        "end=2026-01-23",
        "sources=[odds_api,bettingpros]",
        "pipeline.stages=[process,validate,consolidate]",
    ],
    "heal": ["date=2026-01-23", "dry_run=true"],
    "status": ["date=2026-01-23"],
    "health": ["date=2026-01-23"],
    "doctor": ["date=2026-01-23"],
    "validate": ["date=2026-01-23"],
    "rules": [],
    "players": ["unresolved", "date=2026-01-23"],
    "proxies": [],
    "locks": [],
    "dlq": [],
    "query": ["SELECT source, count(*) AS n FROM prop_lines GROUP BY ALL"],
    "init": [],  # DIR added below
}
#: Further forms with their own documented keys.
ACTIONS = {
    "run -m": ["-m", "date=2026-01-23"],
    "backfill status": ["status"],
    "backfill dry_run=true": ["start=2026-01-19", "end=2026-01-20", "dry_run=true"],
    "proxies reset": ["reset"],
    "locks release": ["release", "stale=true"],
    "dlq replay": ["replay", "all=true"],
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_that_prints_a_report_takes_format_json(name):
    declared = command(name).COMMAND
    if name in NO_REPORT:
        assert not declared.reports(), f"{name} now prints a report: give it format=json"
        return
    assert declared.reports(), f"{name}: declare output_format() among its keys"
    key = next(k for k in declared.keys if k.name == "format")
    assert key.parse("json") == "json" and "format=" in declared.help()
    assert name in documented_keys(), f"{name}: list its JSON keys in docs/output.md"


@pytest.mark.parametrize("form", [*FORMS, *ACTIONS])
def test_json_of_each_command_parses_and_has_the_documented_keys(form, incident, tmp_path):
    home = copy_home(incident[0], tmp_path)  # some forms change a home
    name, *_ = form.split()
    args = [*FORMS.get(form, ACTIONS.get(form, []))]
    if name == "init":
        args = [str(tmp_path / "project")]
    else:
        args.append(f"home={home}")
    result = run_cli(name, *args, "format=json")
    assert result.code in (0, 3), (form, result.stderr)  # 3: doctor found the blocked source
    document = json.loads(result.stdout)
    expected = documented_keys()[form]
    if expected is None:
        assert isinstance(document, list) and all(isinstance(r, dict) for r in document)
    else:
        assert list(document) == expected, form


def test_in_json_mode_an_error_is_one_line_on_stderr_and_stdout_stays_empty(incident):
    home, _ = incident
    for args, code in (
        (["status", f"home={home}"], 2),
        (["doctor", f"date={INCIDENT}", f"home={home}", "fix=maybe"], 2),
        (["backfill", "status", "bf-none", f"home={home}"], 2),
        (["rules", "rules.nonsense=1", f"home={home}"], 2),
    ):
        result = run_cli(*args, "format=json")
        assert result.code == code, (args, result.stderr)
        assert result.stdout == ""
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


# -- 3. pipes, CI logs and the run log --------------------------------------------------------


def piped(*args: str) -> str:
    """A command's stdout through a pipe at 80 columns, as a CI log has it."""
    result = run_cli(*args, env={"COLUMNS": "80"})
    assert result.code in (0, 3), (args, result.stderr)
    return result.stdout


def test_tables_in_a_pipe_at_80_columns_are_whole_lines(incident, tmp_path):
    home = copy_home(incident[0], tmp_path)
    started = json.loads(
        run_cli("backfill", *FORMS["backfill"], f"home={home}", "format=json").stdout
    )
    outputs = {
        "status": piped("status", f"date={INCIDENT}", f"home={home}"),
        "health": piped("health", f"date={INCIDENT}", f"home={home}"),
        "validate": piped("validate", f"date={INCIDENT}", f"home={home}"),
        "backfill status": piped("backfill", "status", f"home={home}"),
        "backfill status ID": piped("backfill", "status", started["backfill"], f"home={home}"),
        "query": piped("query", "SELECT * FROM prediction_batches", f"home={home}"),
    }
    for name, text in outputs.items():
        assert "…" not in text, name
    lines = {name: text.splitlines() for name, text in outputs.items()}
    blocked = "https://api.bettingpros.com/v3/events?sport=NBA&date=2026-01-23"
    assert any(blocked in line for line in lines["status"])
    for row in json_of("status", f"date={INCIDENT}", f"home={home}")["last_runs"]:
        line = next(
            x for x in lines["status"] if f" {row['processor']} " in x and row["status"] in x
        )
        assert (row["error"] or "") in line  # the whole error on the processor's line
    failing = json_of("validate", f"date={INCIDENT}", f"home={home}")["line_quality"]["failing"]
    assert failing
    for unit in failing:  # every player name whole on one line, with its reasons
        assert any(
            unit["player_name"] in line and ", ".join(unit["reasons"]) in line
            for line in lines["validate"]
        )
    for p in started["partitions"]:
        assert any(p["slate_date"] in x and p["status"] in x for x in lines["backfill status ID"])
    header = next(x for x in lines["query"] if "batch_id" in x)
    for column in ("status", "expected", "completed", "excluded", "exclusions"):
        assert f" {column} " in header


def test_the_run_log_records_warnings_as_warnings_with_the_notes(incident):
    home, run = incident
    records = [json.loads(line) for line in Path(run["log"]).read_text().splitlines()]
    outcome = {r["processor"]: r for r in records if "processor" in r}
    assert outcome["scrape:bettingpros"]["level"] == "warning"
    assert "403" in outcome["scrape:bettingpros"]["error"]
    assert outcome["scrape:odds_api"]["level"] == "info"
    ((quarantined,),) = query(home, f"SELECT count(*) FROM quarantine WHERE {D}")
    assert f"quarantined {quarantined} rows" in " ".join(outcome["validate"]["notes"])
    ((excluded,),) = query(
        home,
        f"SELECT count(*) FROM line_quality WHERE NOT passed AND market = 'player_points' AND {D}",
    )
    predict_notes = " ".join(outcome["predict"]["notes"])
    assert f"{excluded} excluded by the line-quality gate" in predict_notes
    assert outcome["predict"]["figures"]["player_markets_excluded"] == excluded


# -- 4. empty states and promises -------------------------------------------------------------


def test_proxies_after_a_replay_lists_the_configured_pools(incident):
    home, _ = incident
    text = run_cli("proxies", f"home={home}").stdout
    assert "no observations yet (replayed runs do not use proxies)" in text
    pools = json_of("proxies", f"home={home}")["pools"]
    assert {p["pool"] for p in pools} >= {"decodo", "proxyfuel"}
    for pool in pools:
        for proxy in pool["proxies"]:
            assert any(pool["pool"] in line and proxy in line for line in text.splitlines())
    assert "proxy health" not in text  # no empty health table


def test_heal_with_nothing_to_heal_prints_no_empty_table(incident):
    home, _ = incident
    result = run_cli("heal", f"date={INCIDENT}", "dry_run=true", f"home={home}")
    assert result.code == 0, result.stderr
    assert result.stdout == "0 player markets to heal\n"


def test_doctors_dry_run_says_what_fix_true_then_does(incident, tmp_path):
    home = copy_home(incident[0], tmp_path)
    dry = json_of_code("doctor", f"date={INCIDENT}", f"home={home}")
    missing = next(p for p in dry["playbooks"] if p["playbook"] == "missing-source")
    assert missing["state"] == "found"
    fixed = json_of_code("doctor", f"date={INCIDENT}", f"home={home}", "fix=true")
    done = next(p for p in fixed["playbooks"] if p["playbook"] == "missing-source")
    # BettingPros has no historical endpoint: fix=true leaves it, and the dry run said so.
    assert done["changes"] == ["left bettingpros: no historical endpoint to backfill from"]
    assert missing["plan"] == "leave bettingpros: no historical endpoint to backfill from"
    text = run_cli("doctor", f"date={INCIDENT}", f"home={home}").stdout
    assert "fix=true would leave bettingpros: no historical endpoint to backfill from" in text
    assert "historical snapshot" not in text


def json_of_code(*args: str) -> dict:
    result = run_cli(*args, "format=json")
    assert result.code in (0, 3), result.stderr
    return json.loads(result.stdout)


def test_health_prints_the_403_once_with_a_count(incident):
    home, _ = incident
    text = run_cli("health", f"date={INCIDENT}", f"home={home}").stdout
    reason = next(
        c["note"]
        for c in json_of("status", f"date={INCIDENT}", f"home={home}")["components"]
        if c["status"] == "blocked"
    )
    assert text.count(reason) == 1
    line = next(x for x in text.splitlines() if reason in x)
    assert "scrape:bettingpros blocked" in line and "(x2)" in line
    assert "see problems" in text


def test_the_readmes_prod_example_validates_and_a_bad_bucket_says_why(tmp_path):
    readme = (ROOT / "README.md").read_text()
    example = next(x for x in readme.splitlines() if "env=prod" in x and "landing.url=" in x)
    words = example.split("#")[0].split()[2:]  # after `lineflow run`
    result = run_cli("run", *words, f"home={tmp_path / 'home'}", "--cfg", "job")
    assert result.code == 0, result.stderr
    bad = run_cli("run", *words[:-1], "landing.url=gs://B/landing", "--cfg", "job")
    assert bad.code == 2
    assert "bucket names must be lowercase" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
