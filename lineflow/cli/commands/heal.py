"""`lineflow heal date=D [dry_run=true]`: regenerate predictions whose lines changed or healed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lineflow.cli.keys import Command, Key, boolean, output_format

if TYPE_CHECKING:
    from lineflow.cli.keys import Parsed

COMMAND = Command(
    name="heal",
    summary="regenerate predictions of players whose lines were repaired or changed (self-heal)",
    usage=("date=YYYY-MM-DD [dry_run=true] [key=value ...]",),
    about="""\
Looks at the partitions from date - pipeline.predict.heal.lookback_days to date. A player and
market is healed when good lines arrived after it was excluded by the line-quality gate
(`repaired`), or when the lines behind its active predictions changed (`lines_changed`, for
predictions older than heal.min_age_minutes). Its predictions are regenerated; the ones they
replace are marked inactive, never deleted; self_heal_log records what was done.""",
    keys=(
        Key("dry_run", boolean, False, "print what would be regenerated, change nothing", "true"),
        output_format(),
    ),
    run_keys=("date", "now"),
    notes={"date": "the last partition to heal (required)", "now": "the clock (UTC)"},
    config=(("pipeline.predict.heal.lookback_days=N", "partitions before date to look at"),),
    exit_codes="0 healed (or nothing to heal), 2 bad input",
    examples=("lineflow heal date=2026-01-23 dry_run=true",),
)


def main(args: Parsed) -> int:
    from datetime import timedelta

    from rich.table import Table

    from lineflow.config import compose
    from lineflow.core.errors import ConfigError
    from lineflow.pipeline.request import RunRequest
    from lineflow.pipeline.runner import heal_partition
    from lineflow.reporting.output import console, emit

    COMMAND.no_words(args)
    dry_run = args.values["dry_run"]
    settings = compose(args.overrides)
    if settings.date is None:
        raise ConfigError("date: required (lineflow heal date=YYYY-MM-DD)")
    if settings.pipeline.predict is None:
        raise ConfigError("pipeline.predict: no predict section, nothing to heal")
    lookback = settings.pipeline.predict.heal.lookback_days
    action = "would regenerate" if dry_run else "regenerated"
    healed = []
    for offset in range(lookback, -1, -1):
        day = settings.date - timedelta(days=offset)
        request = RunRequest.from_settings(settings, date=day)
        for unit in heal_partition(settings, request, dry_run=dry_run):
            healed.append(
                {
                    "date": day,
                    "player": unit["player_name"] or unit["player_key"],
                    "market": unit["market"],
                    "reason": unit["reason"],
                    "action": action,
                }
            )
    if args.values["format"] == "json":
        emit({"dry_run": dry_run, "player_markets": len(healed), "healed": healed})
        return 0
    out = console()
    if healed:  # no table skeleton when there is nothing to list
        table = Table(title="self-heal" + (" (dry run: nothing changed)" if dry_run else ""))
        for column in ("date", "player", "market", "reason", "action"):
            table.add_column(column, no_wrap=True)
        for row in healed:
            table.add_row(*(str(v) for v in row.values()))
        out.print(table)
    out.print(f"{len(healed)} player markets {'to heal' if dry_run else 'healed'}")
    return 0
