"""Cheap per-row statistics of the raw table: lengths, script mix, markdown, metric family."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._schema import text_values
from ..augment import metric_family
from ..data import TEXT_COLUMNS

__all__ = ["TableFeatures", "SCRIPTS"]

#: Unicode ranges of the scripts seen in the data. Hand-written because the only library
#: that names scripts per code point (``regex`` with ``\p{Script=...}``) would be a new
#: dependency for six ranges.
SCRIPTS = {
    "latin": r"A-Za-z\u00C0-\u024F",
    "devanagari": r"\u0900-\u097F",
    "bengali": r"\u0980-\u09FF",
    "tamil": r"\u0B80-\u0BFF",
    "arabic": r"\u0600-\u06FF\u0750-\u077F",
    "other_indic": r"\u0A00-\u0B7F\u0C00-\u0DFF",
}
_SCRIPT_RE = {name: re.compile(f"[{chars}]") for name, chars in SCRIPTS.items()}
_MARKDOWN_RE = re.compile(r"^\s*(?:#{1,6}\s|[-*\u2022]\s|\d+[.)]\s)|\*\*", re.MULTILINE)


class TableFeatures(TransformerMixin, BaseEstimator):
    """Length, script-mix and markdown statistics of each text column, plus the metric family.

    Missing text (None/NaN) is read as empty text, as every featurizer reads it.

    Parameters
    ----------
    text_columns : tuple of str, default=("system_prompt", "user_prompt", "response")
        Columns to describe.
    script_columns : tuple of str, default=("user_prompt", "response")
        Columns whose script mix (share of letters per script) is reported; the language a
        response is written in matters for the multilingual metrics.
    metric_family : bool, default=True
        Add ``metric_family``: an integer code of the part of the metric name before ``/``,
        learned in ``fit`` (-1 for a family not seen then). Boosters treat it as categorical.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"metric_name": ["a/b"], "system_prompt": [""],
    ...                   "user_prompt": ["नमस्ते"], "response": ["**Hi** there"]})
    >>> TableFeatures().fit_transform(X).shape
    (1, 25)
    """

    _parameter_constraints: dict = {
        "text_columns": [tuple, list],
        "script_columns": [tuple, list],
        "metric_family": ["boolean"],
    }

    def __init__(
        self,
        *,
        text_columns=TEXT_COLUMNS,
        script_columns=("user_prompt", "response"),
        metric_family=True,
    ):
        self.text_columns = text_columns
        self.script_columns = script_columns
        self.metric_family = metric_family

    def fit(self, X, y=None):
        self._validate_params()
        self._check_columns(X)
        if self.metric_family:
            self.families_ = np.array(
                sorted({metric_family(m) for m in X["metric_name"]}), dtype=object
            )
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def transform(self, X):
        check_is_fitted(self)
        self._check_columns(X)
        cols = {}
        for c in self.text_columns:
            # Each distinct text is described once: the sampler repeats every conversation
            # under several metrics, so a column holds a third as many texts as rows or fewer.
            # Missing text is empty text (a column of NaN only has no string methods).
            text = text_values(X, c)
            codes, unique = pd.factorize(text)
            for name, values in self._describe(c, pd.Series(unique)).items():
                cols[name] = values[codes]
        if "user_prompt" in self.text_columns and "response" in self.text_columns:
            cols["len_ratio__response_user_prompt"] = (
                cols["len__response"] - cols["len__user_prompt"]
            )
        if self.metric_family:
            fam = X["metric_name"].map(metric_family)
            cols["metric_family"] = pd.Index(self.families_).get_indexer(fam).astype(np.float64)
        return np.column_stack([cols[n] for n in self.get_feature_names_out()]).astype(np.float32)

    def _describe(self, c, text):
        """The statistics of column ``c`` for each string of the Series ``text``."""
        cols = {}
        n_chars = text.str.len().to_numpy(dtype=np.float64)
        cols[f"len__{c}"] = np.log1p(n_chars)
        cols[f"words__{c}"] = np.log1p(
            text.str.split().str.len().fillna(0).to_numpy(dtype=np.float64)
        )
        cols[f"empty__{c}"] = (text.str.strip().str.len() == 0).to_numpy(dtype=np.float64)
        if c in self.script_columns:
            letters = np.maximum(text.str.count(r"\w").to_numpy(dtype=np.float64), 1.0)
            for name, pattern in _SCRIPT_RE.items():
                cols[f"script_{name}__{c}"] = (
                    text.str.count(pattern).to_numpy(dtype=np.float64) / letters
                )
        if c == "response":
            cols["markdown__response"] = np.log1p(
                text.str.count(_MARKDOWN_RE).to_numpy(dtype=np.float64)
            )
            cols["lines__response"] = np.log1p(text.str.count("\n").to_numpy(dtype=np.float64))
        return cols

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self)
        names = []
        for c in self.text_columns:
            names += [f"len__{c}", f"words__{c}", f"empty__{c}"]
            if c in self.script_columns:
                names += [f"script_{s}__{c}" for s in SCRIPTS]
            if c == "response":
                names += ["markdown__response", "lines__response"]
        if "user_prompt" in self.text_columns and "response" in self.text_columns:
            names.append("len_ratio__response_user_prompt")
        if self.metric_family:
            names.append("metric_family")
        return np.asarray(names, dtype=object)

    def _check_columns(self, X):
        if not isinstance(X, pd.DataFrame):
            raise ValueError(
                f"TableFeatures expects the tidy table as a DataFrame, got {type(X).__name__}"
            )
        needed = list(self.text_columns) + (["metric_name"] if self.metric_family else [])
        missing = [c for c in needed if c not in X.columns]
        if missing:
            raise ValueError(
                f"TableFeatures: X lacks the columns {missing}; it has {list(X.columns)}"
            )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags
