"""`lineflow players unresolved date=YYYY-MM-DD [format=table|json]`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lineflow.cli.keys import Command, output_format

if TYPE_CHECKING:
    from lineflow.cli.keys import Parsed

COMMAND = Command(
    name="players",
    summary="names only one source has for a date, with their closest candidates",
    usage=("unresolved date=YYYY-MM-DD [format=table|json] [key=value ...]",),
    about="""\
After the alias table (conf/identity) and normalisation, a player quoted by several sources has
one key. `unresolved` lists each player and team of the date that exactly one source has, with
the closest names (score 0-100) the other sources have and it lacks: a player only one source
quotes, or one person split in two by a spelling to add to `identity.players`
(docs/identity.md). Computed from prop_lines; nothing is written.""",
    keys=(output_format(),),
    run_keys=("date",),
    notes={"date": "partition to look at (required)"},
    config=(("+identity.players.NAME=[SPELLING]", "an alias, for this command only"),),
    actions=("unresolved",),
    exit_codes="0 shown, 2 bad input or nothing has run under home",
    examples=("lineflow players unresolved date=2026-01-23 home=/tmp/lf",),
)


def main(args: Parsed) -> int:
    import json
    import sys

    from lineflow.config import compose
    from lineflow.core.errors import ConfigError
    from lineflow.reporting import identity
    from lineflow.reporting.recorded import open_stores

    if args.words != ["unresolved"]:
        got = " ".join(args.words) or "nothing"
        raise ConfigError(f"players: expected `lineflow players unresolved date=...`, got {got}")
    settings = compose(args.overrides)
    if settings.date is None:
        raise ConfigError("date: required (pass date=YYYY-MM-DD)")
    stores = open_stores(settings)
    with stores.warehouse.session():
        report = identity.read(stores, settings.date)
    if args.values["format"] == "json":
        sys.stdout.write(json.dumps(report.to_json(), indent=2) + "\n")
        return 0
    print(identity.line(report.summary(), settings.date))
    for u in report.unresolved:
        where = f" ({u.game})" if u.game else ""
        key = f" (key {u.key})" if u.kind == "player" else ""
        print(f"{u.kind} {u.name!r}{key} only in {u.source}{where}")
        for c in u.candidates:
            print(f"    {c.score:5.1f}  {c.name!r} in {c.source}")
        if not u.candidates:
            print("    no close name in the other sources")
    return 0
