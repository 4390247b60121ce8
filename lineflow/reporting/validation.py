"""The results of one validate run: one line per rule, then the line-quality gate.

`validation_report` reads what the run recorded; `render_validation` prints it and
`lineflow validate format=json` writes it as is (docs/output.md)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from lineflow.config import Settings
from lineflow.pipeline.runner import RunReport
from lineflow.reporting.summary import VERDICTS
from lineflow.warehouse import open_warehouse

_STYLE = {
    "pass": "green",
    "empty": "green",
    "fail": "bold red",
    "blocked": "bold yellow",
    "skipped": "dim",
}


def validation_report(report: RunReport, settings: Settings) -> dict[str, Any]:
    """The run's rule results and the partition's line-quality verdicts (player markets)."""
    warehouse = open_warehouse(settings.warehouse, settings.locks.wait_s)
    with warehouse.session():
        results = warehouse.query(
            "SELECT rule_id, outcome, severity, blocking, failed, checked, detail, sample_keys "
            "FROM validation_results WHERE run_id = ? ORDER BY rule_id",
            [report.run_id],
        )
        gate = warehouse.query(
            "SELECT market, player_name, reasons FROM line_quality "
            "WHERE slate_date = ? AND NOT passed ORDER BY market, player_key",
            [report.partition],
        )
        judged = warehouse.query(
            "SELECT count(*) AS n FROM line_quality WHERE slate_date = ?", [report.partition]
        ).item()
    return {
        "run_id": report.run_id,
        "partition": report.partition,
        "verdict": VERDICTS[report.exit_code],
        "exit_code": report.exit_code,
        "rules": results.to_dicts(),
        "line_quality": {
            "player_markets_judged": int(judged),
            "player_markets_failing": gate.height,
            "failing": gate.to_dicts(),
        },
        "errors": [
            {"processor": r.processor, "status": r.status, "error": r.error}
            for r in report.results
            if r.error
        ],
    }


def render_validation(found: dict[str, Any], console: Console) -> None:
    console.print(
        f"lineflow validate {found['run_id']} · partition {found['partition']}", highlight=False
    )
    console.print(f"{'outcome':<9}{'rule':<30}{'severity':<20}{'failed/checked':>15}")
    for row in found["rules"]:
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
    gate = found["line_quality"]
    console.print(
        f"line quality: {gate['player_markets_failing']} of {gate['player_markets_judged']} "
        "player markets fail",
        highlight=False,
    )
    for row in gate["failing"]:
        console.print(
            escape(f"  {row['market']:<16} {row['player_name']}: {', '.join(row['reasons'])}"),
            highlight=False,
            soft_wrap=True,
        )
    for e in found["errors"]:
        console.print(
            f"{e['processor']} {e['status']}: {escape(e['error'])}", soft_wrap=True, highlight=False
        )
    console.print(
        f"validate {found['run_id']}: {found['verdict']}; exit {found['exit_code']}",
        highlight=False,
    )
