"""Keys a reporting command reads itself (format=, days=, ...), apart from the Hydra overrides."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lineflow.config import Settings
from lineflow.errors import ConfigError


def choice(*options: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {value!r}")
        return value

    return parse


def boolean(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("true", "yes", "1"):
        return True
    if lowered in ("false", "no", "0"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def days(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 366:
        raise ValueError(f"expected a whole number of days from 1 to 366, got {value!r}")
    return int(value)


def path(value: str) -> Path:
    if not value:
        raise ValueError("expected a file path")
    return Path(value)


def split(
    args: list[str], keys: dict[str, tuple[Callable[[str], Any], Any]]
) -> tuple[dict[str, Any], list[str]]:
    """Take this command's own `key=value` words out of args; the rest go to Hydra."""
    values = {name: default for name, (_, default) in keys.items()}
    rest = []
    for word in args:
        name, sep, value = word.partition("=")
        if sep and name in keys:
            try:
                values[name] = keys[name][0](value)
            except ValueError as exc:
                raise ConfigError(f"{name}: {exc}") from None
        else:
            rest.append(word)
    return values, rest


def now(settings: Settings) -> datetime:
    return settings.now or datetime.now(UTC)
