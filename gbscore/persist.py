"""Saving and loading fitted models.

Models are joblib files (pickle underneath). **Loading a pickle or joblib file runs code chosen
by whoever wrote it**: only load model files you created yourself or got from someone you
trust, exactly as you would only run their Python scripts. Encoder weights are never stored in
the file; they are reloaded (offline) from the encoder's model name or path on first use.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import joblib

from .exceptions import GbscoreError

__all__ = ["load_model", "save_model"]

_FORMAT = "gbscore-model/1"


def save_model(model, path, *, metadata=None):
    """Write a fitted model (and a metadata dict) to ``path`` atomically; return the path."""
    from . import __version__

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": _FORMAT,
        "gbscore_version": __version__,
        "metadata": dict(metadata or {}),
        "model": model,
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        joblib.dump(payload, tmp, compress=3)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_model(path):
    """Load a model written by :func:`save_model`; returns ``(model, metadata)``.

    Only load files you trust: see the module docstring.
    """
    path = Path(path)
    if not path.is_file():
        raise GbscoreError(f"model file {path} does not exist; train one with `gbscore train`")
    try:
        payload = joblib.load(path)
    except Exception as exc:
        raise GbscoreError(f"{path} is not a readable gbscore model file: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise GbscoreError(f"{path} is not a gbscore model file (expected format {_FORMAT})")
    return payload["model"], payload["metadata"]
