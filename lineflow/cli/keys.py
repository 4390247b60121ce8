"""The one parser of `lineflow COMMAND [word ...] [key=value ...] [options]`.

Every command declares a `Command`: its own keys (name, parser, default, one-line help), the run
keys it uses among Settings' top-level run parameters (`RUN_KEYS`: date, refresh, strict, now,
snapshot, only), the config keys its help mentions, and its usage, examples and exit codes.
`Command.parse` splits a command line into:

- positional words (`locks release KEY`),
- the command's own keys, parsed to typed values (defaults filled in),
- Hydra overrides: the run keys it uses (checked here, validated again by Settings) and every
  other `key=value` (home=, env=, locks.wait_s=, +key=, list=[a,b]), which Hydra composes,
- options: -m/--multirun, -v/-q (or verbose=/quiet=), and --cfg job|all [--resolve], --info
  and --version, which are recognised here and acted on by `lineflow.cli`.

Invariants: a run key the command does not use, an unknown option or a bad value is a
`ConfigError` (exit 2, one line naming the key) raised before anything is composed or written;
`Command.help()` lists exactly the declared keys. Importing this module is cheap (no pydantic
models, no Hydra): `lineflow --help` and shell completion import every command's declaration.
"""

from __future__ import annotations

import logging
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: `--cfg` values: lineflow's config alone, or with Hydra's node (shown by `lineflow.cli`).
CFG_CHOICES = ("job", "all")
#: Hydra's override prefixes: add, force-add, delete.
PREFIXES = ("++", "+", "~")
#: What stands left of `=` in a key=value word: a key, a dotted path or a Hydra group override
#: (`hydra/launcher`, `source@sources.x`). Anything else is a word (`lineflow query "... a = b"`).
KEY_SHAPE = re.compile(r"[+~]{0,2}[A-Za-z_][\w./@-]*")


def _config_error(message: str) -> Exception:
    from lineflow.core.errors import ConfigError  # light; kept out of import time all the same

    return ConfigError(message)


# --- value parsers: str -> value, ValueError with a message that reads after "KEY: " ---------


def text(value: str) -> str:
    return value


def choice(*options: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {value!r}")
        return value

    parse.choices = options  # type: ignore[attr-defined]  # offered by shell completion
    return parse


def boolean(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("true", "yes", "on", "1"):
        return True
    if lowered in ("false", "no", "off", "0"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


boolean.choices = ("true", "false")  # type: ignore[attr-defined]


def whole(low: int, high: int, unit: str = "") -> Callable[[str], int]:
    def parse(value: str) -> int:
        if not value.isdigit() or not low <= int(value) <= high:
            what = f"a whole number{' of ' + unit if unit else ''} from {low} to {high}"
            raise ValueError(f"expected {what}, got {value!r}")
        return int(value)

    return parse


def path(value: str) -> Path:
    if not value:
        raise ValueError("expected a file path")
    return Path(value)


def names(value: str) -> list[str]:
    """`[a,b]` (Hydra's list syntax) or `a,b`, as a list of names."""
    inner = value.strip().removeprefix("[").removesuffix("]")
    return [item.strip() for item in inner.split(",") if item.strip()]


def date(value: str) -> Any:
    from lineflow.config import partition_date

    return partition_date(value)  # Settings' own check: the same words as a composed config


def instant(value: str) -> Any:
    import datetime as dt

    from lineflow.config import in_range

    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"expected an ISO 8601 time, got {value!r}") from None
    return in_range(moment)


def snapshot(value: str) -> str:
    import datetime as dt

    from lineflow.core.errors import ConfigError
    from lineflow.pipeline.request import snapshot_instant

    try:
        snapshot_instant(value, dt.date(2000, 1, 1))
    except ConfigError as exc:
        raise ValueError(str(exc).removeprefix("snapshot: ")) from None
    return value


def source_list(value: str) -> list[str] | None:
    if value == "null":
        return None
    if not (value.startswith("[") and value.endswith("]")):
        raise ValueError(f"expected a list of source names like [odds_api], got {value!r}")
    return names(value)


def output_format(*more: str) -> Key:
    """The `format=` key of a command that prints a report: `table` (the default; `terminal`
    is read as `table`), `json` (stdout carries only the JSON document, docs/output.md), and
    the command's own further formats."""
    options = ("table", "json", *more)
    pick = choice(*options)

    def parse(value: str) -> str:
        return pick("table" if value == "terminal" else value)

    parse.choices = options  # type: ignore[attr-defined]
    return Key("format", parse, "table", "output: table (default) or json (docs/output.md)")


# --- declarations -------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """One `name=value` a command reads: how to parse it, its default and one line of help."""

    name: str
    parse: Callable[[str], Any]
    default: Any
    help: str
    #: what the value looks like in help, e.g. `YYYY-MM-DD`, `true`, `terminal|json`
    shown: str = ""

    def spelled(self) -> str:
        choices = getattr(self.parse, "choices", None)
        shown = self.shown or ("|".join(choices) if choices else "VALUE")
        return f"{self.name}={shown}"


#: Settings' top-level run parameters. A command names the ones it uses; they go on to Hydra
#: (Settings validates them again) after this parser checked them.
RUN_KEYS: dict[str, Key] = {
    k.name: k
    for k in (
        Key("date", date, None, "partition: the games' US/Eastern date", "YYYY-MM-DD"),
        Key("refresh", boolean, False, "re-fetch the plan even where it landed", "true"),
        Key("strict", boolean, False, "exit 3 when a run had a blocked source or failures", "true"),
        Key("now", instant, None, "clock override (UTC), e.g. 2026-01-23T18:00:00Z", "ISO8601"),
        Key("snapshot", snapshot, None, "historical snapshot time (UTC)", "18:00Z"),
        Key("only", source_list, None, "run only these sources", "[odds_api]"),
    )
}

#: Config keys every command honours (composed by Hydra; shown in every command's help).
CONFIG_KEYS = (
    ("home=DIR", "all local state: landing zone, warehouse, state, logs (default var)"),
    ("env=local|prod", "local replays recorded fixtures offline (default); prod goes live"),
)

#: Options every command takes; `lineflow.cli` acts on them.
OPTIONS = (
    ("-v, --verbose", "debug lines in the terminal and the JSON log (also verbose=true)"),
    ("-q, --quiet", "warnings and errors only, terminal and JSON log (also quiet=true)"),
    ("--cfg job|all", "print the composed config (all: with Hydra's node) and exit; secrets"),
    ("", "are env-var names only; --resolve resolves interpolations"),
    ("--info", "print the config search path and exit"),
)

LEVELS = {"quiet": logging.WARNING, "normal": logging.INFO, "verbose": logging.DEBUG}


@dataclass
class Parsed:
    """A parsed command line."""

    words: list[str] = field(default_factory=list)
    #: the command's own keys, every one present (its default when not given)
    values: dict[str, Any] = field(default_factory=dict)
    #: the own keys given on the command line
    given: set[str] = field(default_factory=set)
    #: for Hydra: the run keys given and every config override, as typed
    overrides: list[str] = field(default_factory=list)
    multirun: bool = False
    #: logging level of the terminal and the JSON log
    level: int = logging.INFO
    #: --cfg job|all (--resolve: interpolations resolved), --info, --version: show, run nothing
    cfg: str | None = None
    resolve: bool = False
    info: bool = False
    version: bool = False
    help: bool = False


@dataclass(frozen=True)
class Command:
    """What a command reads from its command line, and its `--help`."""

    name: str
    summary: str  # one line for `lineflow --help`
    usage: tuple[str, ...]  # after `lineflow NAME `
    about: str
    keys: tuple[Key, ...] = ()
    run_keys: tuple[str, ...] = ()
    #: config keys (beyond home and env) this command's help points at: (spelling, help)
    config: tuple[tuple[str, str], ...] = ()
    #: words a command line may start with (`locks release`), offered by shell completion
    actions: tuple[str, ...] = ()
    #: -m / --multirun is accepted
    multirun: bool = False
    #: the command composes the config: it takes config overrides (home=, env=, a.b=...)
    composes: bool = True
    exit_codes: str = "0 done, 2 bad input"
    examples: tuple[str, ...] = ()
    #: extra help on the run keys, e.g. a default that differs: name -> line
    notes: dict[str, str] = field(default_factory=dict)

    def all_keys(self) -> list[Key]:
        return [RUN_KEYS[name] for name in self.run_keys] + list(self.keys)

    def reports(self) -> bool:
        """The command prints a report and takes `format=table|json`."""
        return any(k.name == "format" for k in self.keys)

    def key_names(self) -> list[str]:
        return [k.name for k in self.all_keys()]

    def parse(self, argv: list[str]) -> Parsed:
        if "-h" in argv or "--help" in argv:  # help whatever else the line holds
            return Parsed(help=True)
        # -m anywhere on the line: the sweep's values are checked by lineflow.cli.multirun
        out = Parsed(multirun=self.multirun and ("-m" in argv or "--multirun" in argv))
        own = {k.name: k for k in self.keys}
        out.values = {k.name: k.default for k in self.keys}
        words = iter(argv)
        for word in words:
            if word.startswith("-") and self._option(word, words, out):
                continue
            key, eq, value = word.partition("=")
            if not eq or not KEY_SHAPE.fullmatch(key):  # a word, perhaps one holding `=` (SQL)
                out.words.append(word)
                continue
            bare = key
            for prefix in PREFIXES:
                if bare.startswith(prefix):
                    bare = bare[len(prefix) :]
                    break
            if bare in ("verbose", "quiet"):
                if _parse(bare, boolean, value):
                    out.level = LEVELS[bare]
            elif bare in own and bare == key:
                out.values[bare] = _parse(bare, own[bare].parse, value)
                out.given.add(bare)
            elif bare in RUN_KEYS:
                if bare not in self.run_keys:
                    raise _config_error(
                        f"{self.name}: {bare} is not a key of this command (its keys: "
                        f"{', '.join(self.key_names()) or 'none'}; see lineflow {self.name} --help)"
                    )
                if not out.multirun:
                    _parse(bare, RUN_KEYS[bare].parse, value)
                out.overrides.append(word)
            elif self.composes:
                out.overrides.append(word)
            else:
                raise _config_error(
                    f"{self.name}: {bare} is not a key of this command (it reads no config)"
                )
        return out

    def no_words(self, parsed: Parsed) -> None:
        """For a command without actions: a word without `=` is a mistake."""
        if parsed.words:
            raise _config_error(
                f"{self.name}: unexpected word {parsed.words[0]!r} "
                f"(keys are key=value: {', '.join(self.key_names()) or 'config overrides'})"
            )

    def _option(self, word: str, rest: Any, out: Parsed) -> bool:
        """Take an option word (and its value); False when it is not an option after all."""
        if word in ("-v", "--verbose"):
            out.level = LEVELS["verbose"]
        elif word in ("-q", "--quiet"):
            out.level = LEVELS["quiet"]
        elif word in ("-m", "--multirun"):
            if not self.multirun:
                raise _config_error(f"{self.name}: -m (multirun) is only for `run`")
        elif word == "--version":
            out.version = True
        elif word.split("=")[0] in ("-c", "--cfg"):
            value = word.partition("=")[2] or next(rest, "")
            if value not in CFG_CHOICES:
                raise _config_error(f"--cfg: expected job or all, got {value!r}")
            out.cfg = value
        elif word == "--resolve":
            out.resolve = True
        elif word in ("-i", "--info"):
            out.info = True
        elif word.startswith("-") and word != "-" and not word.lstrip("-")[:1].isdigit():
            raise _config_error(
                f"{self.name}: unknown option {word!r} (see lineflow {self.name} --help)"
            )
        else:
            return False
        return True

    def help(self) -> str:
        lines = [f"usage: lineflow {self.name} {self.usage[0]}"]
        lines += [f"       lineflow {self.name} {u}" for u in self.usage[1:]]
        lines += ["", self.about.rstrip(), ""]
        rows = [(k.spelled(), self.notes.get(k.name, k.help)) for k in self.all_keys()]
        lines += ["keys:", *_rows(rows or [("(none)", "")]), ""]
        if self.composes:
            lines += [
                "config overrides (Hydra syntax: key=value, +key=value to add, list=[a,b]):",
                *_rows([*CONFIG_KEYS, *self.config]),
                "",
            ]
        lines.append("options:")
        options = list(OPTIONS if self.composes else OPTIONS[:2])
        if self.multirun:
            options.insert(0, ("-m date=D1,D2,...", "Hydra multirun: each partition its own job"))
        lines += [*_rows(options), ""]
        lines += textwrap.wrap(f"exit codes: {self.exit_codes}", 96, subsequent_indent="  ")
        for i, example in enumerate(self.examples):
            lines.append(f"{'example: ' if i == 0 else '         '}{example}")
        return "\n".join(lines) + "\n"


def _rows(rows: list[tuple[str, str]]) -> list[str]:
    out = []
    for spelled, about in rows:
        if len(spelled) > 21:
            out.append(f"  {spelled}")
            out.append(f"  {'':<21}  {about}" if about else "")
        else:
            out.append(f"  {spelled:<21}  {about}".rstrip())
    return [line for line in out if line]


def _parse(name: str, parse: Callable[[str], Any], value: str) -> Any:
    try:
        return parse(value)
    except ValueError as exc:
        raise _config_error(f"{name}: {exc}") from None


def now(settings: Any) -> Any:
    """The run's clock: `now=` when given, else the wall clock (UTC)."""
    from datetime import UTC, datetime

    return settings.now or datetime.now(UTC)
