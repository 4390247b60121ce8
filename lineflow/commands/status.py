"""`lineflow status date=YYYY-MM-DD [format=terminal|json]`."""

from __future__ import annotations

from lineflow.commands import MAIN_KEYS

HELP = "the state of one date's data: expected vs actual per source, files, locks, runs"

USAGE = f"""\
usage: lineflow status date=YYYY-MM-DD [format=terminal|json] [key=value ...]

The data-state table of one partition: per component (each source's props, predictions staging,
predictions main) expected, actual and a status: ok, short, blocked (the provider refused us),
missing (nothing although games were scheduled) or empty-day (no games). Then landed vs processed
files per source, locks held, dead letters, proxy health, the prediction batch and the last run of
each stage. Sections whose data no feature has recorded yet say "not recorded yet".

{MAIN_KEYS}\
  format=terminal|json   output (default terminal)

exit codes: 0 shown, 2 bad input or nothing has run under home
example: lineflow status date=2026-01-23 home=/tmp/lf
"""


def main(args: list[str]) -> int:
    import sys

    from rich.console import Console

    from lineflow.commands import _keys
    from lineflow.config import compose
    from lineflow.errors import ConfigError
    from lineflow.reporting import render, status
    from lineflow.reporting.recorded import open_stores

    own, rest = _keys.split(args, {"format": (_keys.choice("terminal", "json"), "terminal")})
    settings = compose(rest)
    if settings.date is None:
        raise ConfigError("date: required (pass date=YYYY-MM-DD)")
    report = status.gather(settings, open_stores(settings), settings.date, _keys.now(settings))
    if own["format"] == "json":
        sys.stdout.write(render.as_json(report))
    else:
        render.status_terminal(report, Console(highlight=False))
    return 0
