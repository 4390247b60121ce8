"""`lineflow doctor date=YYYY-MM-DD [fix=true]`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lineflow.cli.keys import Command, Key, boolean, output_format

if TYPE_CHECKING:
    from lineflow.cli.keys import Parsed
    from lineflow.reporting.doctor import Outcome

COMMAND = Command(
    name="doctor",
    summary="find known failure modes of one date and (fix=true) repair them with recovery "
    "playbooks",
    usage=("date=YYYY-MM-DD [fix=true] [key=value ...]",),
    about="""\
Run the recovery playbooks of conf/doctor/default.yaml over one partition: stale locks ->
release; landed files not processed -> process and consolidate; a stuck prediction batch ->
resume; dead letters -> replay; a source missing from a day with games -> backfill from its
historical endpoint; blocked proxies past cooldown -> probe. Without fix=true it prints what it
found and what it would do; with it, it acts and reports what changed. Every finding and action
is logged in the warehouse table doctor_actions.""",
    keys=(Key("fix", boolean, False, "act (default: only report)", "true"), output_format()),
    run_keys=("date", "now"),
    notes={"date": "partition to examine (required)", "now": "judge ages at this time (UTC)"},
    exit_codes="0 nothing wrong or all fixed, 1 an action failed, 2 bad input, 3 problems found "
    "and left (no fix=true, no action available, or still there after it)",
    examples=("lineflow doctor date=2026-01-23 home=/tmp/lf fix=true",),
)


def main(args: Parsed) -> int:
    from lineflow.cli.keys import now
    from lineflow.config import compose
    from lineflow.core.errors import ConfigError
    from lineflow.ops import repairs
    from lineflow.reporting.recorded import open_stores

    COMMAND.no_words(args)
    settings = compose(args.overrides)
    if settings.date is None:
        raise ConfigError("date: required (pass date=YYYY-MM-DD)")
    repairs.check_playbooks(settings.doctor.playbooks)
    fix = args.values["fix"]
    outcomes = repairs.examine(settings, open_stores(settings), settings.date, now(settings), fix)
    code = _exit_code(outcomes)
    if args.values["format"] == "json":
        from lineflow.reporting.output import emit

        emit(
            {
                "partition": settings.date,
                "fix": fix,
                "exit_code": code,
                "playbooks": [
                    {
                        "playbook": o.playbook,
                        "state": o.state,
                        "findings": [
                            {"subject": f.subject, "detail": f.detail} for f in o.findings
                        ],
                        "plan": o.plan or None,
                        "changes": o.changes,
                        "error": o.error,
                    }
                    for o in outcomes
                ],
            }
        )
        return code
    for o in outcomes:
        print(f"{o.playbook}: {o.state}")
        for f in o.findings:
            print(f"  found {f.subject}: {f.detail}")
        if o.state == "found":
            print(f"  fix=true would {o.plan}")
        for change in o.changes:
            print(f"  {change}")
        if o.error:
            print(f"  {o.error}")
    return code


def _exit_code(outcomes: list[Outcome]) -> int:
    states = {o.state for o in outcomes}
    if "failed" in states:
        return 1
    return 3 if states & {"found", "unresolved", "no action"} else 0
