"""The fault matrix of docs/operations.md cannot go stale: every test a row names exists (the
suite is collected and the names looked up), and a fault no other module shows is shown here:
a provider that never answers in time."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import ROOT, query, run_cli
from tests.proxied import DAY, ENV, World

OPERATIONS = ROOT / "docs" / "operations.md"
#: A row's test cell: `tests/FILE.py::NAME`, several separated by commas or "and".
NAMED = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")
#: The rows the lead fills in once the branch fixing them is merged.


def matrix_rows() -> list[str]:
    text = OPERATIONS.read_text()
    section = text.split("## Fault matrix", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| ") and "---" not in line][
        1:
    ]


def collected() -> set[tuple[str, str]]:
    """(file, test function) of every test pytest collects, parametrised ones once."""
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    ids = re.findall(r"^(tests/\S+?\.py)::(\w+)", out.stdout, re.M)
    return set(ids)


def test_every_row_of_the_fault_matrix_names_tests_that_exist():
    rows = matrix_rows()
    assert len(rows) >= 20, "the matrix lists every fault of the issue"
    known = collected()
    for row in rows:
        names = NAMED.findall(row)
        assert names, f"a row without a test: {row}"
        missing = [f"{file}::{name}" for file, name in names if (file, name) not in known]
        assert not missing, f"{row.split('|')[1].strip()}: no such test {missing}"


def test_a_provider_that_never_answers_in_time_fails_its_source_and_the_others_go_on(
    clean: World, tmp_path
):
    clean.standin.add_fault("^/v3/", times=-1, delay_ms=3000)  # every BettingPros request
    home = tmp_path / "home"
    slow = ("http.timeout_s=0.3", "http.max_attempts=2")
    result = run_cli("run", *clean.overrides(home), *slow, env=ENV)
    assert result.code == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    summary = " ".join(result.stdout.split())
    assert re.search(r"scrape:bettingpros failed: GET \S+ failed via .*timed out", summary), summary
    status = dict(
        query(home, f"SELECT processor, status FROM run_history WHERE slate_date = DATE '{DAY}'")
    )
    assert status["scrape:bettingpros"] == "failed"
    assert status["scrape:odds_api"] == "success"
