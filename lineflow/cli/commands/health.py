"""`lineflow health [date=D] [days=N] [format=...] [out=PATH] [email=true]`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lineflow.cli.keys import Command, Key, boolean, output_format, path, whole

if TYPE_CHECKING:
    from lineflow.cli.keys import Parsed

COMMAND = Command(
    name="health",
    summary="daily health summary: phases, completeness, alerts, grade (terminal, HTML, e-mail)",
    usage=(
        "[date=YYYY-MM-DD] [days=N] [format=table|markdown|html|json] [out=PATH] "
        "[email=true] [key=value ...]",
    ),
    about="""\
Per phase, the DISTINCT processors that succeeded over those configured (scrapers included),
with failures, rows and time; completeness per source against the expectations in
conf/health/default.yaml; alerts; and an overall grade: healthy, partial or failed. The HTML
report is one self-contained file with charts over the last N days.""",
    keys=(
        Key("days", whole(1, 366, "days"), 7, "days in the charts (default 7)", "N"),
        output_format("markdown", "html"),
        Key("out", path, None, "write the report to PATH instead of stdout", "PATH"),
        Key(
            "email",
            boolean,
            False,
            "also send the summary (HTML and text) per health.email",
            "true",
        ),
    ),
    run_keys=("date", "now"),
    notes={
        "date": "the date to grade (default: the latest date in run history)",
        "now": "judge ages at this time (UTC)",
    },
    config=(("health.email.recipients=[..]", "any health setting, e.g. the recipients"),),
    exit_codes="0 reported (whatever the grade), 1 the e-mail could not be sent, 2 bad input "
    "or nothing has run under home",
    examples=("lineflow health date=2026-01-23 format=html out=health.html",),
)


def main(args: Parsed) -> int:
    import sys
    from datetime import date

    from lineflow.cli.keys import now
    from lineflow.config import compose
    from lineflow.core.errors import ConfigError
    from lineflow.reporting import health, mail, render
    from lineflow.reporting.output import console
    from lineflow.reporting.recorded import open_stores

    COMMAND.no_words(args)
    own = args.values
    settings = compose(args.overrides)
    stores = open_stores(settings)
    partition = settings.date
    if partition is None:
        latest = stores.warehouse.query("SELECT max(slate_date) AS d FROM run_history")["d"][0]
        if latest is None:
            raise ConfigError("date: required (no run history to take the latest date from)")
        partition = latest if isinstance(latest, date) else date.fromisoformat(str(latest))
    if own["email"] and not settings.health.email.recipients:  # fail before any work
        raise ConfigError("health.email.recipients: no recipient configured")
    report = health.gather(settings, stores, partition, own["days"], now(settings))
    fmt = own["format"]
    if fmt == "table" and own["out"] is None:
        render.health_terminal(report, console())
    else:
        text = {
            "table": render.health_text,
            "markdown": render.health_markdown,
            "html": render.health_html,
            "json": render.as_json,
        }[fmt](report)
        if own["out"] is None:
            sys.stdout.write(text)
        else:
            out = own["out"]
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(f".{out.name}.tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(out)  # a reader never sees half a report
            print(f"health {partition}: {report.grade}; wrote {out}")
    if own["email"]:
        message = mail.compose_message(report, settings.health.email)
        mail.send(message, settings.health.email)
        # stdout holds the JSON document alone when it is printed there
        aside = sys.stderr if fmt == "json" and own["out"] is None else sys.stdout
        recipients = ", ".join(settings.health.email.recipients)
        print(f"health {partition}: e-mailed to {recipients}", file=aside)
    return 0
