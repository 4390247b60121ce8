"""Status and health as text: terminal (rich), Markdown, plain text, self-contained HTML, JSON."""

from __future__ import annotations

import json
from html import escape
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from lineflow.reporting.identity import line as identity_line
from lineflow.reporting.output import figures_text
from lineflow.reporting.recorded import NOT_RECORDED
from lineflow.reporting.status import StatusReport

if TYPE_CHECKING:  # health's report and charts load with `lineflow health`, not with `status`
    from lineflow.reporting import charts
    from lineflow.reporting.health import HealthReport

STYLE = {
    "ok": "green",
    "complete": "green",
    "healthy": "bold green",
    "success": "green",
    "short": "yellow",
    "partial": "yellow",
    "blocked": "bold yellow",
    "missing": "bold red",
    "failed": "bold red",
    "empty-day": "dim",
    "skipped": "dim",
    NOT_RECORDED: "dim",
}


def num(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _styled(word: str) -> str:
    style = STYLE.get(word)
    return f"[{style}]{word}[/]" if style else word


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        last = i == len(columns) - 1  # free text (note, error) wraps; the figures never do
        table.add_column(column, overflow="fold", no_wrap=not last)
    for row in rows:
        table.add_row(*[_styled(v) if isinstance(v, str) else num(v) for v in row])
    return table


# -- sections shared by every format ----------------------------------------------------------


COMPONENT_COLUMNS = ["component", "expected", "actual", "unit", "status", "note"]


def component_rows(report: StatusReport, noted: set[str] | None = None) -> list[list[Any]]:
    """One row per component; a note that `noted` holds (printed once under problems) is
    referred to, not repeated."""
    return [
        [
            c.name,
            c.expected,
            c.actual,
            c.unit,
            c.status,
            "see problems" if noted and c.note in noted else c.note,
        ]
        for c in report.components
    ]


def figure_rows(report: StatusReport) -> list[list[Any]]:
    return [[name, figures_text(f) or "—"] for name, f in report.figures.items()]


def file_rows(report: StatusReport) -> list[list[Any]]:
    return [[f.source, f.landed, f.processed, f.failed, f.unprocessed] for f in report.files]


def run_rows(report: StatusReport) -> list[list[Any]]:
    return [
        [
            r["processor"],
            r["status"],
            f"{r['started_at']:%m-%d %H:%M:%S}Z",
            f"{r['seconds']:.2f}s",
            r["error"] or "",
        ]
        for r in report.last_runs
    ]


def extra_lines(report: StatusReport) -> list[str]:
    """Locks, dead letters, proxy health, prediction batch, line quality: one line each."""
    out = []
    if report.locks is None:
        out.append(f"locks: {NOT_RECORDED}")
    else:
        held = ", ".join(
            f"{lock['key']} (owner {lock.get('owner')}, since "
            f"{lock['acquired_at']:%H:%M}Z, expires {lock['expires_at']:%H:%M}Z)"
            for lock in report.locks
        )
        out.append(f"locks held: {len(report.locks)}" + (f": {held}" if held else ""))
    dead = report.dead_letters
    out.append(f"dead letters: {NOT_RECORDED if dead is None else f'{len(dead)} waiting'}")
    if report.proxy_health is None:
        out.append(f"proxy health: {NOT_RECORDED}")
    else:
        parts = [
            f"{p.get('provider')}@{p.get('host')} {p.get('state')}" for p in report.proxy_health
        ]
        out.append("proxy health: " + (", ".join(parts) or "no proxies used"))
    batch = report.prediction_batch
    if batch is None:
        out.append(f"prediction batch: {NOT_RECORDED}")
    elif not batch:
        out.append("prediction batch: none for this date")
    else:
        out.append(
            f"prediction batch {batch.get('batch_id')}: {batch.get('status')}, "
            f"{batch.get('completed')}/{batch.get('expected')} player markets, "
            f"{batch.get('failed') or 0} failed, {batch.get('excluded') or 0} excluded"
        )
    quality = report.line_quality
    out.append(
        f"line quality: {NOT_RECORDED}"
        if quality is None
        else f"line quality: {quality['passed']} of {quality['passed'] + quality['failed']} "
        f"player markets passed, {quality['failed']} failed"
    )
    out.append(identity_line(report.identity, report.partition))
    return out


# -- status ------------------------------------------------------------------------------------


def status_terminal(report: StatusReport, console: Console) -> None:
    games = "unknown schedule" if report.games is None else f"{report.games} games"
    console.print(f"[bold]lineflow status {report.partition}[/] · {games}", highlight=False)
    console.print(_table("data state", COMPONENT_COLUMNS, component_rows(report)))
    console.print(
        _table(
            "figures (docs/health.md: what they count)",
            ["processor", "figures"],
            figure_rows(report),
        )
    )
    console.print(
        _table(
            "files per source",
            ["source", "landed", "processed", "failed", "unprocessed"],
            file_rows(report),
        )
    )
    console.print(
        _table(
            "last run of each stage",
            ["processor", "status", "started", "time", "error"],
            run_rows(report),
        )
    )
    for line in extra_lines(report):
        console.print(line, highlight=False, soft_wrap=True)


def as_json(report: StatusReport | HealthReport) -> str:
    return json.dumps(report.to_json(), indent=2, default=str) + "\n"


PHASE_COLUMNS = ["phase", "processors", "status", "runs", "figures", "time"]


# -- health: text formats ---------------------------------------------------------------------


def phase_rows(report: HealthReport) -> list[list[Any]]:
    return [
        [
            f"phase {p.number} {p.stage}",
            p.completion,
            p.status,
            p.runs,
            figures_text(p.figures) or "—",
            f"{p.seconds:.1f}s",
        ]
        for p in report.phases
    ]


def problems(report: HealthReport) -> dict[str, list[str]]:
    """Failures and alerts grouped by their reason: reason -> what it stands for. A blocked
    source's 403 is one reason for its failed scrape, its blocked component and its alert;
    it is printed once, with a count."""
    grouped: dict[str, list[str]] = {}
    for p in report.phases:
        for f in p.failures:
            grouped.setdefault(f["error"] or "no detail", []).append(
                f"{f['processor']} {f['status']}"
            )
    for a in report.alerts:
        grouped.setdefault(a.detail, []).append(f"[{a.level}] {a.message}")
    return grouped


def problem_lines(report: HealthReport) -> list[str]:
    lines = []
    for reason, places in problems(report).items():
        if not reason:
            lines += places  # an alert that is its own reason
        else:
            count = f" (x{len(places)})" if len(places) > 1 else ""
            lines.append(f"{'; '.join(places)}{count}: {reason}")
    return lines or ["none"]


def noted(report: HealthReport) -> set[str]:
    """Reasons printed under problems, which the completeness table refers to."""
    return {reason for reason in problems(report) if reason}


def health_terminal(report: HealthReport, console: Console) -> None:
    console.print(
        f"[bold]lineflow health {report.partition}[/]: {_styled(report.grade)}", highlight=False
    )
    console.print(
        _table(
            "phases (distinct processors that succeeded / configured)",
            PHASE_COLUMNS,
            phase_rows(report),
        )
    )
    console.print(
        _table(
            "completeness",
            COMPONENT_COLUMNS,
            component_rows(report.status, noted(report)),
        )
    )
    console.print("[bold]problems (failures and alerts, by reason)[/]", highlight=False)
    for line in problem_lines(report):
        console.print(f"  {line}", highlight=False, soft_wrap=True, markup=False)
    for line in extra_lines(report.status):
        console.print(line, highlight=False, soft_wrap=True)


def _md_table(columns: list[str], rows: list[list[Any]]) -> list[str]:
    def cell(v: Any) -> str:
        return num(v).replace("|", "\\|").replace("\n", " ")

    return [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
        *("| " + " | ".join(cell(v) for v in row) + " |" for row in rows),
    ]


def health_markdown(report: HealthReport) -> str:
    lines = [
        f"# lineflow health {report.partition}: {report.grade}",
        "",
        "## Phases (distinct processors that succeeded / configured)",
        "",
        *_md_table(PHASE_COLUMNS, phase_rows(report)),
        "",
        "## Completeness",
        "",
        *_md_table(COMPONENT_COLUMNS, component_rows(report.status, noted(report))),
        "",
        "## Problems (failures and alerts, by reason)",
        "",
        *[f"- {line}" for line in problem_lines(report)],
        "",
        "## State",
        "",
        *[f"- {line}" for line in extra_lines(report.status)],
        "",
    ]
    return "\n".join(lines)


def health_text(report: HealthReport) -> str:
    """The plain-text part of the e-mail: the same figures as the HTML, no markup."""
    lines = [f"lineflow health {report.partition}: {report.grade}", "", "Phases:"]
    lines += [
        f"  Phase {p.number} {p.stage}: {p.completion} processors ({p.status}; {p.runs} runs, "
        f"{figures_text(p.figures) or 'no figures'}; {p.seconds:.1f}s)"
        for p in report.phases
    ]
    lines += ["", "Completeness:"]
    said = noted(report)
    lines += [
        f"  {c.name}: {c.status}, {num(c.actual)} of {num(c.expected)} {c.unit}"
        + (f" ({'see problems' if c.note in said else c.note})" if c.note else "")
        for c in report.completeness
    ]
    lines += ["", "Problems (failures and alerts, by reason):"]
    lines += [f"  {x}" for x in problem_lines(report)]
    lines += ["", *extra_lines(report.status), ""]
    return "\n".join(lines)


# -- health: HTML -----------------------------------------------------------------------------

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1340px}
h1 .grade{padding:2px 10px;border-radius:4px;color:#fff}
.healthy{background:#1a7f37}.partial{background:#b7791f}.failed{background:#c62828}
table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f3f3f3}.charts{display:flex;flex-wrap:wrap;
gap:16px}.chart{border:1px solid #ddd}.chart-note{color:#555}.st-ok,.st-complete{color:#1a7f37}
.st-short,.st-partial,.st-blocked{color:#b7791f;font-weight:600}
.st-missing,.st-failed{color:#c62828;font-weight:600}
"""


def _html_table(columns: list[str], rows: list[list[Any]], status_col: int | None) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            cls = f' class="st-{escape(str(v))}"' if i == status_col else ""
            cells.append(f"<td{cls}>{escape(num(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def health_charts(report: HealthReport) -> list[str | charts.NoData]:
    """The report's three charts; one with nothing to draw is `NoData` (a line, not a box)."""
    from lineflow.reporting import charts

    days = sorted({r["day"] for r in report.rows_history})
    labels = [f"{d:%m-%d}" for d in days]
    names = list(dict.fromkeys(r["source"] for r in report.rows_history))
    by = {(r["day"], r["source"]): r["rows"] for r in report.rows_history}
    rows_chart = charts.bar_chart(
        "chart-rows",
        f"prop_lines rows per source, last {report.days} days",
        labels,
        {name: [by[(d, name)] for d in days] for name in names},
        empty="no source enabled",
    )
    completion = {r["day"]: r for r in report.phase_history}
    phase_chart = charts.bar_chart(
        "chart-phases",
        "phase completion (distinct processors that succeeded / configured)",
        labels,
        {
            "processors succeeded": [
                completion[d]["succeeded"] / completion[d]["configured"]
                if completion[d]["configured"]
                else 0.0
                for d in days
            ]
        },
        fmt=lambda v: f"{v:.0%}",
        ticks=charts.QUARTERS,
    )
    title = "proxy success rate"
    if report.proxy_history is None:
        proxy_chart: str | charts.NoData = charts.NoData(
            "chart-proxy", title, f"proxy health {NOT_RECORDED}"
        )
    else:
        rates = {
            (r["day"], r["provider"]): r["ok"] / r["requests"] if r["requests"] else None
            for r in report.proxy_history
        }
        providers = list(dict.fromkeys(r["provider"] for r in report.proxy_history))
        proxy_chart = charts.line_chart(
            "chart-proxy",
            title,
            labels,
            {p: [rates.get((d.isoformat(), p)) for d in days] for p in providers},
            empty=f"no proxied requests in the last {report.days} days",
        )
    return [rows_chart, phase_chart, proxy_chart]


def health_html(report: HealthReport) -> str:
    """One self-contained page: inline CSS and SVG, no script, nothing fetched."""
    from lineflow.reporting import charts

    lists = {
        "Problems (failures and alerts, by reason)": problem_lines(report),
        "State": extra_lines(report.status),
    }
    sections = "".join(
        f"<h2>{title}</h2><ul>{''.join(f'<li>{escape(x)}</li>' for x in items)}</ul>"
        for title, items in lists.items()
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>lineflow health {report.partition}: {report.grade}</title>"
        f"<style>{_CSS}</style></head><body>"
        f'<h1>lineflow health {report.partition} <span class="grade {report.grade}">'
        f"{report.grade}</span></h1>"
        f"<p>generated {report.generated_at:%Y-%m-%d %H:%M}Z · last {report.days} days</p>"
        f"{charts.gallery(health_charts(report))}"
        "<h2>Phases (distinct processors that succeeded / configured)</h2>"
        + _html_table(PHASE_COLUMNS, phase_rows(report), 2)
        + "<h2>Completeness</h2>"
        + _html_table(
            COMPONENT_COLUMNS,
            component_rows(report.status, noted(report)),
            4,
        )
        + sections
        + "</body></html>\n"
    )
