"""The run summary: per processor, status, files, rows, requests and time."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from lineflow.pipeline.runner import RunReport

_STYLE = {
    "success": "green",
    "partial": "yellow",
    "blocked": "bold yellow",
    "skipped": "dim",
    "failed": "bold red",
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
    verdict = {0: "completed", 1: "failed", 3: "completed with problems (strict)"}[report.exit_code]
    console.print(
        f"run {report.run_id}: {verdict}; {report.requests} HTTP requests; "
        f"exit {report.exit_code}; log {report.log_path}",
        highlight=False,
        soft_wrap=True,
    )


def _table(report: RunReport, console: Console) -> None:
    table = Table(title=f"lineflow run {report.run_id} · partition {report.partition}")
    for column, justify in (
        ("processor", "left"),
        ("status", "left"),
        ("files", "right"),
        ("rows", "right"),
        ("requests", "right"),
        ("time", "right"),
    ):
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for r in report.results:
        style = _STYLE.get(r.status, "")
        table.add_row(
            r.processor,
            f"[{style}]{r.status}[/]" if style else r.status,
            f"{r.files:,}",
            f"{r.rows:,}",
            f"{r.requests:,}",
            f"{r.seconds:.2f}s",
        )
    console.print(table)
