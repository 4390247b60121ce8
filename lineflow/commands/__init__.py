"""One module per `lineflow` subcommand.

Each module has `HELP` (one line for `lineflow --help`), `USAGE` (the text of `lineflow CMD
--help`) and `main(args: list[str]) -> int`, where `args` are the words after the command
(Hydra-style `key=value` overrides and any positional words). Modules import heavy libraries
inside `main`, so `lineflow --help` stays fast.
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
    "query": "lineflow.commands.query",
    "init": "lineflow.commands.init",
}

#: The keys most runs touch; every command's help shows them.
MAIN_KEYS = """\
main keys (override as key=value):
  date=YYYY-MM-DD        partition to run (required): the games' US/Eastern date
  env=local|prod         local replays recorded fixtures offline (default); prod goes live
  home=DIR               all local state: landing zone, DuckDB warehouse, logs (default var)
  refresh=true           re-fetch the plan even where it landed (no duplicate rows either way)
  strict=true            exit 3 when a completed run had a blocked source or failed files
"""
