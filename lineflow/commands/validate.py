"""`lineflow validate date=YYYY-MM-DD [key=value ...]`: the rules alone over one partition."""

from __future__ import annotations

from lineflow.commands import MAIN_KEYS

HELP = "run the validation rules and the line-quality gate alone for one date"

USAGE = f"""\
usage: lineflow validate date=YYYY-MM-DD [key=value ...]

Run the validate stage alone: every rule of conf/rules over the partition's staging, writing
validation_results, quarantine and line_quality (no HTTP request, nothing consolidated), then
print one line per rule. After changing a rule, `lineflow run date=D` (or this command followed
by `lineflow run date=D pipeline.stages=[consolidate]`) re-consolidates, releasing rows that now
pass.

{MAIN_KEYS}\
exit codes: 0 rules evaluated, 1 a blocking rule failed, 2 bad input, 3 strict and an error
or quarantine rule failed
example: lineflow validate date=2026-01-23
"""


def main(args: list[str]) -> int:
    from rich.console import Console

    from lineflow.config import PipelineConfig, compose
    from lineflow.reporting.validation import render_validation
    from lineflow.runner import run_partition

    settings = compose(args)
    alone = settings.model_copy(
        update={
            "pipeline": PipelineConfig(name=settings.pipeline.name, stages=["validate"]),
            # Validation reads only what landed: never ask a provider (or for its secret).
            "http": settings.http.model_copy(update={"mode": "replay"}),
            # Asked for by name: evaluate the rules even when no input changed since last time.
            "refresh": True,
        }
    )
    report = run_partition(alone)
    render_validation(report, alone, Console(highlight=False))
    return report.exit_code
