"""The columns of the tidy table and the grouping keys every module agrees on."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "TEXT_COLUMNS",
    "conversation_groups",
    "conversation_text",
    "metric_family",
    "text_values",
]

#: The conversation columns of a row (the metric is ``metric_name``; the target ``score``).
TEXT_COLUMNS = ("system_prompt", "user_prompt", "response")


def metric_family(name):
    """The part of a metric name before the first ``/`` (the whole name if there is none)."""
    return str(name).split("/", 1)[0]


def text_values(X, column):
    """``X[column]`` as a Series of str, missing text (None/NaN) read as ``""``, as every
    featurizer reads it (``astype(str)`` alone keeps NaN in pandas >= 3)."""
    return X[column].astype(object).where(X[column].notna(), "").astype(str)


def _text_columns(X, where):
    cols = [c for c in TEXT_COLUMNS if c in X.columns]
    if not cols:
        raise ValueError(f"{where} needs at least one of the columns {TEXT_COLUMNS}")
    return cols


def conversation_groups(X):
    """Integer id per row, equal for rows that share (system prompt, user prompt, response).

    Rows with the same conversation under different metrics must land in the same CV fold,
    otherwise a held-out row's text has been seen in training.
    """
    cols = _text_columns(X, "conversation_groups")
    # Missing text is empty text, as every featurizer reads it: a conversation whose system
    # prompt is null in one row and "" in another is one conversation, in one fold.
    text = X[cols].astype(object).where(X[cols].notna(), "").astype(str)
    keys = pd.util.hash_pandas_object(text, index=False).to_numpy()
    return pd.factorize(keys)[0].astype(np.int64)


def conversation_text(X):
    """The user prompt and response of each row as one string (missing parts are empty)."""
    cols = [c for c in ("user_prompt", "response") if c in X.columns]
    if not cols:
        cols = _text_columns(X, "conversation_text")
    parts = [text_values(X, c) for c in cols]
    out = parts[0]
    for part in parts[1:]:
        out = out + "\n" + part
    return out.tolist()
