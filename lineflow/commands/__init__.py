"""One module per `lineflow` subcommand.

Each module declares `COMMAND` (a `keys.Command`: its keys, the run keys it uses, its help)
and `main(parsed: keys.Parsed) -> int`. Modules import heavy libraries inside `main`, so
`lineflow --help` and shell completion, which import every declaration, stay fast.
"""

#: command name -> module; the order is the order of `lineflow --help`.
COMMANDS: dict[str, str] = {
    "run": "lineflow.commands.run",
    "backfill": "lineflow.commands.backfill",
    "heal": "lineflow.commands.heal",
    "status": "lineflow.commands.status",
    "health": "lineflow.commands.health",
    "doctor": "lineflow.commands.doctor",
    "validate": "lineflow.commands.validate",
    "rules": "lineflow.commands.rules",
    "proxies": "lineflow.commands.proxies",
    "serve": "lineflow.commands.serve",
    "locks": "lineflow.commands.locks",
    "dlq": "lineflow.commands.dlq",
    "init": "lineflow.commands.init",
}
