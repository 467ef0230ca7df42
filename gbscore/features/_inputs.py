"""What the embedding featurizer reads: the tidy table's strings and the given metric embeddings.

Metric names become words for the text encoder (:func:`metric_name_to_text`); text columns
must hold strings (a missing text is the empty string, a missing metric name is an error);
given metric embeddings are one finite row per distinct metric name.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..exceptions import DataError

__all__ = ["TEXT_SEPARATOR", "checked_metric_embeddings", "metric_name_to_text", "string_column"]

#: What joins the text columns when ``join_texts=True``.
TEXT_SEPARATOR = "\n\n"


def metric_name_to_text(name):
    """Turn a metric name into words for a text encoder.

    ``"/"`` separates major and minor parts (rendered as ``": "``) and ``"_"`` separates
    words.

    Examples
    --------
    >>> metric_name_to_text("privacy_leakage/prompt_based_pii_leakage")
    'privacy leakage: prompt based pii leakage'
    """
    parts = (" ".join(part.replace("_", " ").split()) for part in name.split("/"))
    return ": ".join(p for p in parts if p)


def _is_missing(value):
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def string_column(frame, column, *, allow_missing):
    """The values of ``frame[column]`` as a list of str; missing values are ``""`` if allowed."""
    values = frame[column].tolist()
    for i, value in enumerate(values):
        if isinstance(value, str):
            continue
        if _is_missing(value):
            if not allow_missing:
                raise DataError(
                    f"column {column!r} is missing at row position {i}; every row needs a "
                    "metric name.",
                    index=i,
                    field=column,
                )
            values[i] = ""
            continue
        raise DataError(
            f"column {column!r} must hold strings, but row position {i} holds "
            f"{type(value).__name__} {value!r:.60}.",
            index=i,
            field=column,
        )
    return values


def checked_metric_embeddings(given):
    """Names and float32 matrix of the ``metric_embeddings`` parameter, or ``(None, None)``."""
    if given is None:
        return None, None
    where = "The 'metric_embeddings' parameter of EmbeddingFeaturizer"
    if isinstance(given, pd.DataFrame):
        names, matrix = list(given.index), given.to_numpy()
    elif len(given) == 2:
        names, matrix = list(given[0]), np.asarray(given[1])
    else:
        raise ValueError(
            f"{where} must be a DataFrame indexed by metric name or a tuple "
            f"(names, array). Got a tuple of length {len(given)}."
        )
    if not all(isinstance(n, str) for n in names):
        raise ValueError(f"{where} must name metrics with strings; got {names[:3]!r}...")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{where} names these metrics more than once: {duplicates[:5]}.")
    try:
        matrix = np.asarray(matrix, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where} must hold numbers; {exc}") from exc
    if matrix.ndim != 2 or matrix.shape[0] != len(names) or not names:
        raise ValueError(
            f"{where} must hold one row per metric name: got {len(names)} name(s) and an "
            f"array of shape {matrix.shape}."
        )
    if not np.isfinite(matrix).all():
        raise ValueError(f"{where} contains NaN or infinite values.")
    return names, matrix
