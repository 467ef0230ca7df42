"""The installed version of gbscore (one place; model files record it)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gbscore")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
