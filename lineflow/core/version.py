"""The installed distribution's version (`lineflow --version`, `lineflow.__version__`)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lineflow")
except PackageNotFoundError:  # imported from a checkout that was never installed
    __version__ = "0+unknown"
