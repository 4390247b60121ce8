"""Sources: one module per provider, declared in conf/source/*.yaml.

A source module provides:

- ``scrape(fetch, source, partition, snapshot)``: run the request plan of one pass through
  `fetch` (which lands every 2xx body); ``snapshot`` is None for a live pass.
- ``SUPPORTS_HISTORY``: whether it has a historical plan (``snapshot=...`` runs).
- ``EVENT_PARSERS``: endpoint -> ``parse(body) -> events frame`` (EVENT_COLUMNS).
- ``PROP_PARSERS``: endpoint -> ``parse(body, meta, ctx) -> frame`` (PARSED_COLUMNS).
- ``PROP_BATCH_PARSERS`` (optional): endpoint -> ``parse(items, ctx) -> ParsedBatch``, many
  bodies in one polars pass (``sources.base.parse_batch``); `process` prefers it.
- ``Options`` (optional): a pydantic model validating the source's ``options:`` block.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from pydantic import ValidationError

from lineflow.config import SourceConfig
from lineflow.errors import ConfigError

_REQUIRED = ("scrape", "SUPPORTS_HISTORY", "EVENT_PARSERS", "PROP_PARSERS")


def load(source: SourceConfig) -> ModuleType:
    try:
        module = importlib.import_module(source.module)
    except ImportError as exc:
        message = f"sources.{source.name}.module: cannot import {source.module!r}: {exc}"
        raise ConfigError(message) from None
    missing = [name for name in _REQUIRED if not hasattr(module, name)]
    if missing:
        raise ConfigError(
            f"sources.{source.name}.module: {source.module} lacks {', '.join(missing)}"
        )
    options = getattr(module, "Options", None)
    if options is not None:
        try:
            options.model_validate(source.options)
        except ValidationError as exc:
            err = exc.errors()[0]
            key = ".".join(str(p) for p in err["loc"])
            problem = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            raise ConfigError(f"sources.{source.name}.options.{key}: {problem}") from None
    return module
