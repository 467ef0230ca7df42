"""The one place that imports optional dependencies.

A missing extra raises :class:`~gbscore.exceptions.MissingDependencyError` naming the
``pip install "gbscore[...]"`` command, instead of a bare ImportError from deep inside.
"""

from __future__ import annotations

import importlib

from .exceptions import MissingDependencyError

_EXTRAS = {
    "psycopg2": "postgres",
    "distributed": "dask",
    "dask": "dask",
    "optuna_dashboard": "dashboard",
}


def import_optional(module: str, *, purpose: str):
    """Import ``module`` or raise an error that says which extra provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        extra = _EXTRAS.get(top)
        hint = f'pip install "gbscore[{extra}]"' if extra else f"pip install {top}"
        raise MissingDependencyError(
            f"{purpose} needs the optional package {top!r}, which is not installed. "
            f"Install it with: {hint}"
        ) from exc
