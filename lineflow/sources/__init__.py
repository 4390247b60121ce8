"""Sources: one per provider, declared in conf/source/*.yaml, loaded as a checked `Source`.

A source's YAML names its module, or declares the whole source (`rest:`, see
`sources.declarative`); `load` imports the module and checks it against the contract
(`sources.contract`: the names a module provides, their kinds, and the YAML's `options:` block
against its `Options`). Whatever is wrong is one ConfigError line naming the
source, the module and what is missing or of the wrong kind, before a run writes anything.
"""

from __future__ import annotations

import importlib

from lineflow.config import SourceConfig
from lineflow.core.errors import ConfigError
from lineflow.sources.contract import Cost, ModuleSource, Pricing, Source

__all__ = ["Cost", "Pricing", "Source", "load"]


def load(config: SourceConfig) -> Source:
    """The configured source, checked (its module and its options), or the declared one."""
    if config.rest is not None:
        from lineflow.sources.declarative.source import DeclarativeSource

        return DeclarativeSource(config)
    try:
        module = importlib.import_module(config.module)
    except ImportError as exc:
        message = f"sources.{config.name}.module: cannot import {config.module!r}: {exc}"
        raise ConfigError(message) from None
    return ModuleSource(config, module)
