"""Shell completion: `lineflow --shell-completion install=bash|zsh|fish` prints a script to eval.

The script hands the command line up to the cursor to the hidden `lineflow __complete LINE`,
which answers one candidate a line: command names, then the command's actions (`locks
release`), keys (`date=`, `home=`, ...) and options, a key's choices (`format=json`), and
dotted config keys (`locks.wait_s=`) read from the composed default config. Completion never
fails loudly: a line it cannot read gets no candidates.
"""

from __future__ import annotations

import shlex
from typing import Any

from lineflow.cli.commands import COMMANDS
from lineflow.cli.keys import CONFIG_KEYS, RUN_KEYS
from lineflow.core.errors import ConfigError

BASH = """\
_lineflow_complete() {
    local line="${COMP_LINE:0:COMP_POINT}" cur="${COMP_LINE:0:COMP_POINT}" prefix=""
    cur="${cur##*[[:space:]]}"
    # bash splits words at '=': replace only what follows the last '=' of the word
    if [[ "$cur" == *=* && "$COMP_WORDBREAKS" == *=* ]]; then prefix="${cur%=*}="; fi
    local IFS=$'\\n'
    local candidates=( $(lineflow __complete "$line" 2>/dev/null) )
    COMPREPLY=( "${candidates[@]#"$prefix"}" )
    if [[ ${#COMPREPLY[@]} -gt 0 && "${COMPREPLY[0]}" == *[=.] ]]; then
        compopt -o nospace 2>/dev/null
    fi
}
complete -F _lineflow_complete lineflow
"""

ZSH = f"""\
autoload -Uz bashcompinit && bashcompinit
{BASH}"""

FISH = """\
function __lineflow_complete
    lineflow __complete (commandline -cp) 2>/dev/null
end
complete -c lineflow -f -a '(__lineflow_complete)'
"""

SCRIPTS = {"bash": BASH, "zsh": ZSH, "fish": FISH}
TOP_OPTIONS = ["--help", "--version", "--shell-completion"]
OPTIONS = ["--help", "-v", "-q", "--cfg", "--info"]


def script(args: list[str]) -> str:
    """The script for `install=SHELL` (Hydra's spelling)."""
    key, _, shell = (args[0] if len(args) == 1 else "").partition("=")
    if key != "install" or shell not in SCRIPTS:
        raise ConfigError(f"--shell-completion: expected install=bash|zsh|fish, got {args}")
    return SCRIPTS[shell]


def complete(args: list[str]) -> list[str]:
    """Candidates for the last word of the command line `args[0]` (up to the cursor)."""
    line = args[0] if args else ""
    try:
        words = shlex.split(line)
    except ValueError:
        return []
    if not line or line[-1].isspace():
        words.append("")
    words = words[1:]  # the program's name
    if len(words) <= 1:
        cur = words[0] if words else ""
        pool = TOP_OPTIONS if cur.startswith("-") else list(COMMANDS)
        return [w for w in pool if w.startswith(cur)]
    if words[0] not in COMMANDS:
        return []
    first = len(words) == 2  # the word right after the command: an action, or a key
    return [c for c in _for_command(words[0], words[-1], first) if c.startswith(words[-1])]


def _for_command(name: str, cur: str, first: bool) -> list[str]:
    from lineflow.cli import command

    declared = command(name).COMMAND
    keys = {k.name: k for k in declared.all_keys()}
    if cur.startswith("-"):
        return OPTIONS + (["-m"] if declared.multirun else [])
    key, eq, _ = cur.partition("=")
    if eq:
        if key == "env":
            return [f"env={option}" for option in _config_options("env")]
        choices = getattr(keys[key].parse, "choices", ()) if key in keys else ()
        return [f"{key}={c}" for c in choices]
    if "." in cur:
        return _dotted(cur)
    config = [spelled.split("=")[0] + "=" for spelled, _ in CONFIG_KEYS]
    actions = list(declared.actions) if first else []
    return actions + [f"{k}=" for k in keys] + config + [f"{s}." for s in _sections()]


def _config_options(group: str) -> list[str]:
    """The config files of `group` in every layer (packaged, ./conf, $LINEFLOW_CONFIG_DIR)."""
    from lineflow.config import config_folders

    return sorted({p.stem for folder in config_folders() for p in (folder / group).glob("*.yaml")})


def _sections() -> list[str]:
    """Top-level config sections that are trees (dotted overrides start there)."""
    from lineflow.config import Settings

    return [n for n in Settings.model_fields if n not in RUN_KEYS and n not in ("env", "home")]


def _dotted(cur: str) -> list[str]:
    """The next level of the composed default config under `cur`'s dotted prefix."""
    from lineflow.config import compose_raw

    head = cur.rsplit(".", 1)[0]
    try:
        node: Any = compose_raw([])
        for part in head.split("."):
            node = node[part]
    except (ConfigError, KeyError, TypeError):
        return []
    if not isinstance(node, dict):
        return []
    return [f"{head}.{k}{'.' if isinstance(v, dict) and v else '='}" for k, v in node.items()]
