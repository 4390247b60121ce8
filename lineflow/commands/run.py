"""`lineflow run date=YYYY-MM-DD [key=value ...]`."""

from __future__ import annotations

from lineflow.commands import MAIN_KEYS
from lineflow.commands._show import SHOW_KEYS

HELP = "run every stage for one date (scrape, process, validate, consolidate)"

USAGE = f"""\
usage: lineflow run date=YYYY-MM-DD [key=value ...]
       lineflow run -m date=D1,D2,... [key=value ...]
       lineflow run [key=value ...] --cfg job|all | --info

Run every stage of the pipeline for one partition, idempotently: a rerun leaves the same tables
and makes no HTTP request for what already landed.

{MAIN_KEYS}\
  http.mode=live|record|replay
  only=[odds_api]        run only these sources
  snapshot=18:00Z        historical snapshot (sources with a historical endpoint)
  now=ISO8601            clock override for scrape passes (UTC)
  env=prod               live HTTP + publish to BigQuery: bigquery.project=P bigquery.dataset=D
  landing.url=gs://B/P   land raw responses in a bucket
  sources.NAME.KEY=...   any source setting, e.g. sources.odds_api.base_url=http://127.0.0.1:8000

  -m date=D1,D2,...      Hydra multirun: each partition its own job, in parallel processes
                         (joblib launcher; hydra.launcher.n_jobs=N)
{SHOW_KEYS}
exit codes: 0 completed, 1 a stage failed (or a blocking rule), 2 bad input, 3 strict and degraded
example: lineflow run date=2026-01-23 home=/tmp/lf
"""


def main(args: list[str]) -> int:
    from rich.console import Console

    from lineflow.config import compose
    from lineflow.reporting.summary import render
    from lineflow.runner import run_partition

    if args and args[0] in ("-m", "--multirun"):
        from lineflow.multirun import multirun

        return multirun(args[1:])
    from lineflow.commands._show import show

    text, args = show(args)
    if text is not None:
        print(text, end="")
        return 0
    settings = compose(args)
    report = run_partition(settings)
    render(report, Console(highlight=False))
    return report.exit_code
