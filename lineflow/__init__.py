"""lineflow: a declarative, config-driven batch framework for sports-betting lines pipelines."""

from lineflow.core.version import __version__

__all__ = ["__version__"]
