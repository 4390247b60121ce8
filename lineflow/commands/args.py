"""Splitting a command's words: positional words, the command's own keys, Hydra overrides."""

from __future__ import annotations

from lineflow.errors import ConfigError


def split(args: list[str], own: set[str]) -> tuple[list[str], dict[str, str], list[str]]:
    """Words without `=`, then `key=value` for the command's own keys, then the rest."""
    words, mine, overrides = [], {}, []
    for arg in args:
        key, eq, value = arg.partition("=")
        if not eq:
            words.append(arg)
        elif key in own:
            mine[key] = value
        else:
            overrides.append(arg)
    return words, mine, overrides


def flag(mine: dict[str, str], key: str) -> bool:
    value = mine.get(key, "false").lower()
    if value not in ("true", "false"):
        raise ConfigError(f"{key}: expected true or false, got {mine[key]!r}")
    return value == "true"
