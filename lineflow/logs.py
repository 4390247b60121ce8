"""Run logs: JSON lines under {home}/logs/, with every secret masked before it is written."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

from lineflow.http.secrets import Redactor

LOGGER = "lineflow"


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


def open_run_log(home: Path, run_id: str, redactor: Redactor) -> tuple[logging.Logger, Path]:
    path = home / "logs" / f"{run_id}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(f"{LOGGER}.run.{run_id}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(_JsonRedacting(redactor))
    logger.addHandler(handler)
    return logger, path


def close_run_log(logger: logging.Logger) -> None:
    for handler in list(logger.handlers):
        handler.close()
        logger.removeHandler(handler)
