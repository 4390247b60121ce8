"""Run logs: JSON lines under {home}/logs/, with every secret masked before it is written.

One level, set once per process by the command line (`-v` debug, default info, `-q` warning)
on the `lineflow` logger, governs both a run's JSON log and the terminal: at debug, a run's
records are also printed to stderr as they happen (masked like the file); at warning, commands
print only problems instead of their info summaries (`quiet()`).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the HTTP layer loads with a run, not with every command's log level
    from lineflow.http.secrets import Redactor

LOGGER = "lineflow"


def set_level(level: int) -> None:
    """The level of every run log and of the terminal from now on, in this process."""
    logging.getLogger(LOGGER).setLevel(level)


def level() -> int:
    """The level set by `set_level`; info when none was (a library caller's runs)."""
    return logging.getLogger(LOGGER).level or logging.INFO


def quiet() -> bool:
    """-q: print problems only."""
    return level() > logging.INFO


class _TerminalRedacting(logging.Formatter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in getattr(record, "fields", {}).items())
        line = f"lineflow: {record.levelname.lower()}: {record.getMessage()} {fields}"
        return self._redactor.text(line.rstrip())


class _JsonRedacting(logging.Formatter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return self._redactor.text(json.dumps(entry, default=str))


class _RunLogFile(logging.FileHandler):
    """The run's JSON log file. One that cannot be written (a full disk) neither ends the run
    nor prints a traceback per record: its first failure is kept and later records dropped;
    `close_run_log` says so in one line unless the run is already ending in an error (which
    then is the line the user gets)."""

    failure: OSError | None = None

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            self.failure = self.failure or error
        else:
            super().handleError(record)

    def close(self) -> None:
        try:
            super().close()
        except OSError as exc:  # flushing the last records
            self.failure = self.failure or exc


def open_run_log(home: Path, run_id: str, redactor: Redactor) -> tuple[logging.Logger, Path]:
    path = home / "logs" / f"{run_id}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(f"{LOGGER}.run.{run_id}")
    logger.setLevel(level())
    logger.propagate = False
    handler = _RunLogFile(path, encoding="utf-8")
    handler.setFormatter(_JsonRedacting(redactor))
    logger.addHandler(handler)
    if level() <= logging.DEBUG:  # -v: the run's lines on the terminal too, as they happen
        terminal = logging.StreamHandler(sys.stderr)
        terminal.setFormatter(_TerminalRedacting(redactor))
        logger.addHandler(terminal)
    return logger, path


def close_run_log(logger: logging.Logger) -> None:
    for handler in list(logger.handlers):
        handler.close()
        logger.removeHandler(handler)
        failure = getattr(handler, "failure", None)
        if failure is not None and sys.exc_info()[1] is None:
            where = getattr(handler, "baseFilename", "the run log")
            print(f"lineflow: warning: {where}: {failure.strerror or failure}", file=sys.stderr)
