"""Errors gbscore raises for problems a user can fix.

Every class here derives from :class:`GbscoreError`, so ``except GbscoreError`` catches
all of them; the data and configuration errors also derive from :class:`ValueError`
so code written against plain scikit-learn conventions keeps working.
"""

from __future__ import annotations

__all__ = [
    "GbscoreError",
    "DataError",
    "ConfigError",
    "EncoderUnavailableError",
    "DeviceUnavailableError",
    "MissingDependencyError",
    "UnknownMetricError",
    "ModelFileError",
    "CacheWarning",
]


class GbscoreError(Exception):
    """Base class of every error gbscore raises on purpose."""


class DataError(GbscoreError, ValueError):
    """Input data is malformed.

    Parameters
    ----------
    message : str
        What is wrong and how to fix it.
    file : str or path-like, optional
        The file the problem was found in.
    index : int, optional
        0-based position of the offending record in that file.
    field : str, optional
        The record field (JSON key) at fault.
    """

    def __init__(self, message, *, file=None, index=None, field=None):
        self.file = None if file is None else str(file)
        self.index = index
        self.field = field
        where = []
        if self.file is not None:
            where.append(self.file)
        if index is not None:
            where.append(f"record {index}")
        if field is not None:
            where.append(f"field {field!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class ConfigError(GbscoreError, ValueError):
    """A configuration file or option has an invalid value."""


class EncoderUnavailableError(GbscoreError, RuntimeError):
    """A text encoder (model name or path) cannot be loaded offline."""


class DeviceUnavailableError(GbscoreError, RuntimeError):
    """A GPU (``device="cuda"``, ``"cuda:N"``, its alias ``"gpu"``, or ``"mps"``) was asked for
    but cannot be used here; ``device="auto"`` or ``"cpu"`` runs on the CPU instead."""


class UnknownMetricError(GbscoreError, ValueError):
    """A metric name was not seen at fit time (or is absent from the metric list)."""


class MissingDependencyError(GbscoreError, ImportError):
    """An optional dependency is not installed; the message says which extra to install."""


class ModelFileError(GbscoreError, ValueError):
    """A model file is missing, damaged, not written by gbscore, or fails its signature check."""


class CacheWarning(UserWarning):
    """The embedding cache folder cannot be used (read-only, full); the run goes on without it."""
