"""One module per `lineflow` subcommand.

Each module declares `COMMAND` (a `keys.Command`: its keys, the run keys it uses, its help)
and `main(parsed: keys.Parsed) -> int`. Modules import heavy libraries inside `main`, so
`lineflow --help` and shell completion, which import every declaration, stay fast.
"""

#: command name -> module; the order is the order of `lineflow --help`.
COMMANDS: dict[str, str] = {
    "run": "lineflow.cli.commands.run",
    "backfill": "lineflow.cli.commands.backfill",
    "heal": "lineflow.cli.commands.heal",
    "status": "lineflow.cli.commands.status",
    "health": "lineflow.cli.commands.health",
    "doctor": "lineflow.cli.commands.doctor",
    "validate": "lineflow.cli.commands.validate",
    "players": "lineflow.cli.commands.players",
    "rules": "lineflow.cli.commands.rules",
    "proxies": "lineflow.cli.commands.proxies",
    "serve": "lineflow.cli.commands.serve",
    "locks": "lineflow.cli.commands.locks",
    "dlq": "lineflow.cli.commands.dlq",
    "query": "lineflow.cli.commands.query",
    "maintain": "lineflow.cli.commands.maintain",
    "init": "lineflow.cli.commands.init",
}
