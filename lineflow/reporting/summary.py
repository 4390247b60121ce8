"""The run summary: per processor, status, figures (each naming its unit), requests and time;
then problems and notes, and the verdict line saying how HTTP was asked and where the
warehouse and the log are. `summary_json` is the same report for `format=json`."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from lineflow.pipeline.runner import RunReport
from lineflow.reporting.output import figures_text

_STYLE = {
    "success": "green",
    "partial": "yellow",
    "blocked": "bold yellow",
    "skipped": "dim",
    "failed": "bold red",
}

VERDICTS = {0: "completed", 1: "failed", 3: "completed with problems (strict)"}

#: How each HTTP mode asked the providers, as the verdict line says it.
HTTP_MODES = {
    "replay": "replayed from recorded cassettes (nothing sent)",
    "record": "sent live and recorded",
    "live": "sent live",
}


def render(report: RunReport, console: Console, brief: bool = False) -> None:
    """The summary table, problems and notes, then the verdict line. `brief` (-q): only the
    problems, and the verdict line when the run did not complete cleanly."""
    if not brief:
        _table(report, console)
    for r in report.results:
        if r.status in ("blocked", "failed", "partial") and r.error:
            # "blocked via decodo (403), ..." already says the status.
            said = r.status if not r.error.startswith(r.status) else ""
            console.print(
                f"[{_STYLE[r.status]}]{r.processor}{' ' + said if said else ''}:[/] {r.error}",
                highlight=False,
                soft_wrap=True,
            )
        for note in [] if brief else r.notes:
            if r.status != "success" or not note.startswith(("nothing new", "unchanged")):
                console.print(f"  [dim]{r.processor}: {note}[/]", highlight=False, soft_wrap=True)
    if brief and report.exit_code == 0:
        return
    console.print(verdict_line(report), highlight=False, soft_wrap=True, markup=False)


def verdict_line(report: RunReport) -> str:
    http = HTTP_MODES.get(report.http_mode, report.http_mode)
    return (
        f"run {report.run_id}: {VERDICTS[report.exit_code]}; {report.requests} HTTP requests "
        f"{http}; exit {report.exit_code}; warehouse {report.warehouse}; log {report.log_path}"
    )


def summary_json(report: RunReport) -> dict[str, Any]:
    """`lineflow run format=json`: the keys docs/output.md lists."""
    return {
        "run_id": report.run_id,
        "partition": report.partition,
        "verdict": VERDICTS[report.exit_code],
        "exit_code": report.exit_code,
        "http_mode": report.http_mode,
        "requests": report.requests,
        "warehouse": report.warehouse,
        "log": report.log_path,
        "processors": [
            {
                "processor": r.processor,
                "phase": r.phase,
                "status": r.status,
                "figures": r.figures,
                "requests": r.requests,
                "seconds": round(r.seconds, 3),
                "error": r.error,
                "notes": r.notes,
            }
            for r in report.results
        ],
    }


def _table(report: RunReport, console: Console) -> None:
    table = Table(title=f"lineflow run {report.run_id} · partition {report.partition}")
    for column, justify in (
        ("processor", "left"),
        ("status", "left"),
        ("figures", "left"),
        ("requests", "right"),
        ("time", "right"),
    ):
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for r in report.results:
        style = _STYLE.get(r.status, "")
        table.add_row(
            r.processor,
            f"[{style}]{r.status}[/]" if style else r.status,
            figures_text(r.figures) or "—",
            f"{r.requests:,}",
            f"{r.seconds:.2f}s",
        )
    console.print(table)
