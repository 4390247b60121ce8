"""lineflow: a declarative, config-driven batch framework for sports-betting lines pipelines."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lineflow")
except PackageNotFoundError:  # imported from a checkout that was never installed
    __version__ = "0+unknown"
