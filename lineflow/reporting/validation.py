"""The results of one validate run: one line per rule, then the line-quality gate."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from lineflow.config import Settings
from lineflow.pipeline.runner import RunReport
from lineflow.warehouse import open_warehouse

_STYLE = {
    "pass": "green",
    "empty": "green",
    "fail": "bold red",
    "blocked": "bold yellow",
    "skipped": "dim",
}


def render_validation(report: RunReport, settings: Settings, console: Console) -> None:
    warehouse = open_warehouse(settings.warehouse, settings.locks.wait_s)
    results = warehouse.query(
        "SELECT * FROM validation_results WHERE run_id = ? ORDER BY rule_id", [report.run_id]
    )
    gate = warehouse.query(
        "SELECT market, player_name, reasons FROM line_quality "
        "WHERE slate_date = ? AND NOT passed ORDER BY market, player_key",
        [report.partition],
    )
    judged = warehouse.query(
        "SELECT count(*) AS n FROM line_quality WHERE slate_date = ?", [report.partition]
    ).item()
    console.print(
        f"lineflow validate {report.run_id} · partition {report.partition}", highlight=False
    )
    console.print(f"{'outcome':<9}{'rule':<30}{'severity':<20}{'failed/checked':>15}")
    for row in results.iter_rows(named=True):
        style = _STYLE.get(row["outcome"], "")
        severity = row["severity"] + (" blocking" if row["blocking"] else "")
        counts = f"{row['failed']:,}/{row['checked']:,}"
        console.print(
            f"[{style}]{row['outcome']:<9}[/]{escape(row['rule_id']):<30}{severity:<20}"
            f"{counts:>15}",
            highlight=False,
        )
        if row["outcome"] != "pass" or row["failed"]:
            sample = f"; e.g. {row['sample_keys'][0]}" if row["sample_keys"] else ""
            console.print(
                f"         {escape(row['detail'] + sample)}", highlight=False, soft_wrap=True
            )
    console.print(f"line quality: {gate.height} of {judged} player markets fail", highlight=False)
    for row in gate.iter_rows(named=True):
        console.print(
            escape(f"  {row['market']:<16} {row['player_name']}: {', '.join(row['reasons'])}"),
            highlight=False,
        )
    for result in report.results:
        if result.error:
            console.print(
                f"{result.processor} {result.status}: {escape(result.error)}",
                soft_wrap=True,
                highlight=False,
            )
    verdict = {0: "completed", 1: "failed", 3: "completed with problems (strict)"}
    console.print(
        f"validate {report.run_id}: {verdict[report.exit_code]}; exit {report.exit_code}",
        highlight=False,
    )
