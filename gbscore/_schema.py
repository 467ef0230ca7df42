"""The columns of the tidy table and the grouping keys every module agrees on."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

__all__ = [
    "TEXT_COLUMNS",
    "conversation_groups",
    "conversation_text",
    "metric_family",
    "metric_name_words",
    "metric_words_pattern",
    "strip_metric_words",
]

#: The conversation columns of a row (the metric is ``metric_name``; the target ``score``).
TEXT_COLUMNS = ("system_prompt", "user_prompt", "response")


def metric_family(name):
    """The part of a metric name before the first ``/`` (the whole name if there is none)."""
    return str(name).split("/", 1)[0]


def metric_name_words(metric_names):
    """The words that name a metric within its family, sorted.

    Those of the minor names (``prompt_based_pii_leakage`` in
    ``privacy_leakage/prompt_based_pii_leakage``) that no family name holds; English stop
    words and words under 4 letters are left out. Real conversations rarely name the metric
    they were written for, while they do use the words of its family.

    Examples
    --------
    >>> metric_name_words(["privacy_leakage/prompt_based_pii_leakage", "privacy_leakage"])
    ['based', 'prompt']
    """
    family = {w for name in metric_names for w in str(name).split("/")[0].split("_")}
    minor = {
        w
        for name in metric_names
        if "/" in str(name)
        for w in str(name).split("/", 1)[1].split("_")
    }
    return sorted(w for w in minor - family if len(w) > 3 and w not in ENGLISH_STOP_WORDS)


def metric_words_pattern(words):
    """A case-blind regex of whole ``words``, plural endings included ('prompt', 'prompts')."""
    return re.compile(rf"\b(?:{'|'.join(map(re.escape, words))})(?:s|es)?\b", re.IGNORECASE)


def strip_metric_words(X, words):
    """A copy of the table ``X`` with ``words`` (:func:`metric_words_pattern`) taken out of
    its text columns; missing texts stay missing."""
    X = X.copy()
    if not len(words):
        return X
    pattern = metric_words_pattern(words)
    for col in TEXT_COLUMNS:
        if col in X.columns:
            X[col] = X[col].map(lambda t: pattern.sub("", t) if isinstance(t, str) else t)
    return X


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
    keys = pd.util.hash_pandas_object(X[cols].astype(str), index=False).to_numpy()
    return pd.factorize(keys)[0].astype(np.int64)


def conversation_text(X):
    """The user prompt and response of each row as one string (missing parts are empty)."""
    cols = [c for c in ("user_prompt", "response") if c in X.columns]
    if not cols:
        cols = _text_columns(X, "conversation_text")
    parts = [X[c].astype(object).where(X[c].notna(), "").astype(str) for c in cols]
    out = parts[0]
    for part in parts[1:]:
        out = out + "\n" + part
    return out.tolist()
