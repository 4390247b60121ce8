"""`lineflow init DIR`: scaffold a project whose conf/ holds only overrides of the defaults.

The template lives in the package (lineflow/templates/project); nothing is overwritten: DIR must
be new or empty, and every check happens before the first file is written.
"""

from __future__ import annotations

from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING

from lineflow.cli.keys import Command, output_format

if TYPE_CHECKING:
    from lineflow.cli.keys import Parsed

COMMAND = Command(
    name="init",
    summary="scaffold a project: conf/ overrides over the packaged defaults, .gitignore, README",
    usage=("DIR",),
    about="""\
Create DIR (new or empty) with a project layered over lineflow's packaged defaults:
  conf/project/default.yaml  overrides merged key by key (an example source override)
  conf/rules/house.yaml      an extra rule file
  conf/env/dev.yaml          an env of the project, built on the packaged env/local
  .gitignore, README.md
Inside DIR, `lineflow run date=2026-01-23` runs with the project's conf/ over the defaults and
`lineflow run date=2026-01-23 --cfg job` shows the merge. Config layers, later wins: packaged
defaults, DIR/conf, $LINEFLOW_CONFIG_DIR, the command line.""",
    keys=(output_format(),),
    composes=False,
    exit_codes="0 created, 2 DIR is not empty, not a folder, or cannot be created",
    examples=("lineflow init myproject && cd myproject && lineflow run date=2026-01-23",),
)

#: Template file names that a wheel cannot carry under their real names.
RENAMED = {"gitignore": ".gitignore"}


def main(args: Parsed) -> int:
    from lineflow.core.errors import ConfigError

    if len(args.words) != 1:
        raise ConfigError("init: expected one folder name: lineflow init DIR")
    target = Path(args.words[0])
    files = _template_files()
    _check_target(target)
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("{name}", target.resolve().name), encoding="utf-8")
    next_step = f"cd {target} && lineflow run date=2026-01-23"
    if args.values["format"] == "json":
        from lineflow.reporting.output import emit

        emit({"created": target, "files": sorted(files), "next": next_step})
        return 0
    print(f"created {target}/")
    for relative in sorted(files):
        print(f"  {relative}")
    print(f"next: {next_step}")
    return 0


def _template_files() -> dict[str, str]:
    """Relative path in the new project -> text, read from the packaged template."""
    from importlib.resources import files

    root = files("lineflow.templates") / "project"
    found: dict[str, str] = {}

    def walk(node: Traversable, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.name == "__pycache__":
                continue
            if child.is_dir():
                walk(child, f"{prefix}{child.name}/")
            else:
                found[prefix + RENAMED.get(child.name, child.name)] = child.read_text("utf-8")

    walk(root, "")
    return found


def _check_target(target: Path) -> None:
    """DIR must be new or an empty folder that can be written; otherwise one line, exit 2."""
    from lineflow.config import home_problem
    from lineflow.core.errors import ConfigError

    if target.is_dir() and any(target.iterdir()):
        raise ConfigError(f"init: {target} is not empty (choose a new folder)")
    problem = home_problem(target)
    if problem:
        raise ConfigError(f"init: {target} {problem}")
