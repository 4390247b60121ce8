"""`lineflow` command line: subcommands with Hydra-style overrides.

Kept light at import time: heavy libraries load only when a command runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

MAIN_KEYS = """\
main keys (override as key=value):
  date=YYYY-MM-DD        partition to run (required): the games' US/Eastern date
  env=local|prod         local replays recorded fixtures offline (default); prod goes live
  home=DIR               all local state: landing zone, DuckDB warehouse, logs (default var)
  refresh=true           re-fetch the plan even where it landed (no duplicate rows either way)
  strict=true            exit 3 when a completed run had a blocked source or failed files
  http.mode=live|record|replay
  only=[odds_api]        run only these sources
  snapshot=18:00Z        historical snapshot (sources with a historical endpoint)
  now=ISO8601            clock override for scrape passes (UTC)
  sources.NAME.KEY=...   any source setting, e.g. sources.odds_api.base_url=http://127.0.0.1:8000
exit codes: 0 completed, 1 a stage failed, 2 bad input, 3 strict and degraded
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lineflow",
        description="Declarative batch pipelines for sports-betting lines.",
        epilog=MAIN_KEYS + "\nexample: lineflow run date=2026-01-23",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="command")
    run = commands.add_parser(
        "run",
        help="run the pipeline's stages (scrape, process, consolidate) for one date",
        description="Run every stage of the pipeline for one partition, idempotently.",
        epilog=MAIN_KEYS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().print_help()
        return 2
    return _dispatch(args)


def _dispatch(args: argparse.Namespace) -> int:
    from rich.console import Console

    from lineflow.errors import LineflowError

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        if args.command == "run":
            return _run(args.overrides)
    except LineflowError as exc:
        err.print(f"lineflow: error: {exc}", markup=False)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("lineflow: interrupted")
        return 130
    raise AssertionError(args.command)


def _run(overrides: list[str]) -> int:
    from rich.console import Console

    from lineflow.config import compose
    from lineflow.reporting.summary import render
    from lineflow.runner import run_partition

    settings = compose(overrides)
    report = run_partition(settings)
    render(report, Console(highlight=False))
    return report.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
