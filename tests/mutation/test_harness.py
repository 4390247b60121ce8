"""The mutation harness judged on a tiny module: it kills what the tests check, reports what
they do not check as survivors, counts an endless loop as timed out, honours declared
equivalents, and never changes the module's file."""

from __future__ import annotations

import hashlib

from tests.mutation.__main__ import ROOT, Equivalent, Target, run, stale_declarations, table
from tests.mutation.operators import mutants

SAMPLE = "tests/mutation/sample/fares.py"
# --noconftest: the sample needs none of the suite's fixtures, and starts twice as fast
TARGET = Target(SAMPLE, ("tests/mutation/sample/check_fares.py", "--noconftest"))


def test_the_harness_kills_tested_code_and_reports_untested_code() -> None:
    before = hashlib.sha256((ROOT / SAMPLE).read_bytes()).hexdigest()
    declared = Equivalent(SAMPLE, 13, "constant", "0.9 -> 1.9", "an example declaration")
    (result,) = run([TARGET], [declared], timeout_s=3, jobs=2)
    assert result.error is None
    by_function = {
        outcome: sorted({_function(m.line) for m in found})
        for outcome, found in result.outcomes.items()
    }
    assert by_function["killed"] == ["countdown", "fare"]
    assert by_function["survived"] == ["member_price"]  # no test calls it
    assert by_function["equivalent"] == ["member_price"]
    timed_out = [m.description for m in result.outcomes["timeout"]]
    assert "n -= 1 -> n += 1" in timed_out  # an endless loop, stopped by the timer
    assert result.count("equivalent") == 1
    judged = result.total - 1
    assert result.score == 100 * (result.count("killed") + result.count("timeout")) / judged
    assert f"| `{SAMPLE}` | {result.total} |" in table([result])
    assert hashlib.sha256((ROOT / SAMPLE).read_bytes()).hexdigest() == before
    stale = Equivalent(SAMPLE, 99, "constant", "0.9 -> 1.9", "the code moved")
    assert stale_declarations([TARGET], [declared, stale]) == [stale]


def _function(line: int) -> str:
    return "fare" if line < 11 else "member_price" if line < 16 else "countdown"


def test_operators_plant_the_bugs_that_cost_money() -> None:
    source = '''
"""Docstrings are never mutated."""
def newest(rows):
    """Nor are function docstrings."""
    rows = rows.sort("snapshot_at", descending=True).group_by("book").last()
    if not rows.is_empty() and rows.height >= 2:
        return rows.filter(~pl.col("stale") & (pl.col("line") - 0.5 > 5))
    raise ValueError("no rows")
'''
    found = {(m.operator, m.description) for m in mutants(source)}
    expected = {
        ("method", ".last() -> .first()"),
        ("keyword", "True -> False"),
        ("call", ".sort('snapshot_at', descending=True) removed"),
        ("negation", "not rows.is_empty() -> rows.is_empty()"),
        (
            "boolean",
            "not rows.is_empty() and rows.height >= 2 -> not rows.is_empty() or rows.height >= 2",
        ),
        ("compare", "rows.height >= 2 -> rows.height > 2"),
        ("constant", "2 -> 3"),
        ("negation", "~pl.col('stale') -> pl.col('stale')"),
        (
            "arithmetic",
            "~pl.col('stale') & (pl.col('line') - 0.5 > 5) -> "
            "~pl.col('stale') | (pl.col('line') - 0.5 > 5)",
        ),
        ("arithmetic", "pl.col('line') - 0.5 -> pl.col('line') + 0.5"),
        ("string", "'snapshot_at' -> 'snapshot_atx'"),
        (
            "return",
            "return rows.filter(~pl.col('stale') & (pl.col('line') - 0.5 > 5)) -> return None",
        ),
    }
    assert expected <= found
    texts = " ".join(d for _, d in found)
    assert "Docstrings" not in texts and "function docstrings" not in texts
    assert "no rows" not in texts  # exception messages are left alone
