"""The files packaged under ``gbscore/datasets``: the real metric names and their embeddings.

:func:`packaged_bytes` reads any of them once per process; the demo generator and the
phrasebooks (``_text``) go through it too, so a broken install says the same thing
whichever file is missing.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from io import BytesIO

import numpy as np

from ..exceptions import DataError

__all__ = ["load_metric_embeddings", "load_metric_names", "packaged_bytes"]

NAMES_FILE = "metric_names.json"
EMBEDDINGS_FILE = "metric_name_embeddings.npy"


@cache
def packaged_bytes(name: str) -> bytes:
    """The bytes of ``gbscore/datasets/<name>``; a missing file is a :class:`DataError`."""
    try:
        return resources.files(__package__).joinpath(name).read_bytes()
    except (FileNotFoundError, OSError) as exc:
        raise DataError(
            f"the packaged file is missing or unreadable ({exc}); reinstall gbscore",
            file=f"gbscore/datasets/{name}",
        ) from None


def load_metric_names() -> list[str]:
    """Return the 145 real competition metric names packaged with gbscore.

    Returns
    -------
    list of str
        Names in file order; ``names[i]`` matches row ``i`` of
        :func:`load_metric_embeddings`. A new list on every call.

    Examples
    --------
    >>> from gbscore.datasets import load_metric_names
    >>> names = load_metric_names()
    >>> len(names), names[0]
    (145, 'inclusivity/gender_inclusivity')
    """
    return list(json.loads(packaged_bytes(NAMES_FILE).decode("utf-8")))


def load_metric_embeddings() -> np.ndarray:
    """Return the real competition metric-name embeddings packaged with gbscore.

    Returns
    -------
    ndarray of shape (145, 768), dtype float32
        Row ``i`` embeds ``load_metric_names()[i]`` (unit norm). A new array on every
        call, so callers may modify it.
    """
    array = np.load(BytesIO(packaged_bytes(EMBEDDINGS_FILE)), allow_pickle=False)
    return array.astype(np.float32, copy=True)
