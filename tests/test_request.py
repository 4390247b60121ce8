"""A RunRequest: one run's parameters, validated apart from the composed Settings."""

import ast
import datetime as dt
from pathlib import Path

import pytest
from pydantic import ValidationError

from lineflow.config import compose
from lineflow.core.errors import ConfigError
from lineflow.pipeline import runner
from lineflow.pipeline.request import STAGE_NAMES, RunRequest
from lineflow.pipeline.runner import run_partition
from tests.conftest import INCIDENT, query

REPORTING = Path(__file__).resolve().parents[1] / "lineflow" / "reporting"


@pytest.fixture
def settings(tmp_path):
    return compose([f"home={tmp_path / 'home'}", f"date={INCIDENT}"])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"stages": ("scrape", "grade")},
            "pipeline.stages: unknown stage 'grade' (known: scrape, process, validate, "
            "consolidate, predict, publish)",
        ),
        (
            {"only": ("nope",)},
            "only: unknown source 'nope' (known: bettingpros, draftkings, odds_api)",
        ),
        ({"snapshot": "teatime"}, "snapshot: expected HH:MMZ or an ISO time, got 'teatime'"),
        ({"snapshot": "25:00Z"}, "snapshot: expected HH:MMZ or an ISO time, got '25:00Z'"),
        ({"date": None}, "date: required (pass date=YYYY-MM-DD)"),
        ({"date": "2026-02-30"}, "date: "),
    ],
)
def test_a_bad_value_is_the_same_one_line_config_error(settings, changes, message):
    with pytest.raises(ConfigError) as raised:
        RunRequest.from_settings(settings, **changes)
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_a_request_is_built_from_the_composed_run_keys(tmp_path):
    settings = compose(
        [
            f"home={tmp_path / 'home'}",
            f"date={INCIDENT}",
            "only=[odds_api]",
            "snapshot=18:00Z",
            "now=2026-01-23T20:00:00",
            "refresh=true",
            "strict=true",
        ]
    )
    request = RunRequest.from_settings(settings)
    assert request.date == dt.date(2026, 1, 23)
    assert request.stages == tuple(settings.pipeline.stages)
    assert request.only == ("odds_api",)
    assert request.snapshot_at == dt.datetime(2026, 1, 23, 18, tzinfo=dt.UTC)
    assert request.now == dt.datetime(2026, 1, 23, 20, tzinfo=dt.UTC)
    assert request.refresh and request.strict
    assert [s.name for s in request.active_sources(settings)] == ["odds_api"]


def test_a_changed_request_is_validated_and_the_original_is_frozen(settings):
    request = RunRequest.from_settings(settings)
    with pytest.raises(ConfigError, match="pipeline.stages: unknown stage 'grade'"):
        request.replace(stages=("grade",))
    with pytest.raises(ConfigError, match="only: unknown source 'nope'"):
        request.model_copy(update={"only": ("nope",)})
    with pytest.raises(ValidationError, match="frozen"):
        request.stages = ("grade",)  # type: ignore[misc]
    later = request.replace(date=dt.date(2026, 1, 24), stages=("predict",))
    assert (later.date, later.stages) == (dt.date(2026, 1, 24), ("predict",))
    assert (request.date, request.stages) == (dt.date(2026, 1, 23), tuple(settings.pipeline.stages))


def test_the_runner_knows_every_stage_a_request_may_name():
    assert tuple(runner.STAGES) == STAGE_NAMES


def test_a_requests_stages_override_the_pipelines_without_touching_settings(settings):
    configured = list(settings.pipeline.stages)
    assert "validate" in configured and "consolidate" in configured
    request = RunRequest.from_settings(settings, stages=("scrape", "process"))
    report = run_partition(settings, request)
    assert report.exit_code == 0
    assert {r.phase for r in report.results} == {"scrape", "process"}
    assert settings.pipeline.stages == configured
    home = settings.home
    ((staged,),) = query(
        home, f"SELECT count(*) FROM stg_prop_lines WHERE slate_date = '{INCIDENT}'"
    )
    assert staged > 0, "process ran"
    stages_run = {phase for (phase,) in query(home, "SELECT DISTINCT phase FROM run_history")}
    assert stages_run == {"scrape", "process"}, "no validate, consolidate or predict row"


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names imported from it) for every import in the file, also inside functions
    and TYPE_CHECKING blocks."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [alias.name for alias in node.names]
            if node.module == "lineflow":  # `from lineflow import commands`: each is a module
                found += [(f"lineflow.{n}", []) for n in names]
            else:
                found.append((node.module, names))
    return found


def test_reporting_imports_no_command_and_no_run_function():
    """Reports read and never run the pipeline: no command, no repair, no runner function
    (plain record types such as RunReport may be imported)."""
    files = sorted(REPORTING.rglob("*.py"))
    assert any(p.name == "doctor.py" for p in files)
    record_types = {"RunReport", "EXIT_OK", "EXIT_FAILED", "EXIT_BAD_INPUT", "EXIT_STRICT"}
    bad = []
    for path in files:
        for module, names in _imports(path):
            top = module.split(".")
            if top[:2] in (["lineflow", "cli"], ["lineflow", "ops"]):
                bad.append(f"{path.name}: {module}")
            elif top[0] == "lineflow" and top[-1] == "runner" and not set(names) <= record_types:
                bad.append(f"{path.name}: {module} {sorted(set(names) - record_types)}")
    assert bad == []
