"""How the MLP reads its input: blocks found by column name, dense and categorical features.

The featurizer names its embedding columns ``<prefix><i>``; :func:`find_layout` finds the
metric and conversation blocks by those names, :func:`model_inputs` turns rows into the
network's dense features and unit-length blocks, and :func:`inner_split` holds out
conversation groups for early stopping.
"""

from __future__ import annotations

import logging
import re
from typing import NamedTuple

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype
from sklearn.model_selection import GroupShuffleSplit
from sklearn.utils import assert_all_finite
from sklearn.utils.validation import validate_data

__all__ = [
    "Layout",
    "find_layout",
    "fit_categories",
    "inner_split",
    "model_inputs",
    "read_input",
    "row_groups",
    "weighted_mean_std",
]

log = logging.getLogger("gbscore")

#: Fewer training rows than this: no inner validation split (as the boosters do).
_MIN_ROWS_FOR_VALIDATION = 50


def _block_columns(names, prefix):
    """Positions of the columns named ``<prefix><int>`` (the featurizer's block naming)."""
    pattern = re.compile(re.escape(prefix) + r"\d+$")
    return [i for i, name in enumerate(names) if pattern.match(name)]


def _unit_rows(a):
    norm = np.linalg.norm(a, axis=1, keepdims=True)
    return a / np.maximum(norm, 1e-12)


def row_groups(a):
    """Integer group per row; rows with identical values share a group."""
    a = np.ascontiguousarray(a)
    if a.shape[1] == 0:
        return np.zeros(len(a), dtype=np.int64)
    rows = a.view(np.dtype((np.void, a.dtype.itemsize * a.shape[1]))).ravel()
    return np.unique(rows, return_inverse=True)[1].ravel()


def weighted_mean_std(a, w, *, chunk=4096):
    """Column means and SDs under row weights ``w``, accumulated in float64 by row chunks.

    Chunked so a float32 table of 25k x 2k columns is not copied to float64 whole.
    """
    w = np.asarray(w, dtype=np.float64) / np.sum(w)
    mean = np.zeros(a.shape[1])
    for s in range(0, len(a), chunk):
        mean += w[s : s + chunk] @ a[s : s + chunk].astype(np.float64)
    var = np.zeros(a.shape[1])
    for s in range(0, len(a), chunk):
        var += w[s : s + chunk] @ (a[s : s + chunk].astype(np.float64) - mean) ** 2
    std = np.sqrt(var)
    # A constant column carries no information; scale 1 keeps it at zero instead of NaN.
    return mean, np.where(std > 1e-8, std, 1.0)


def read_input(estimator, X, *, y=None, reset):
    """Validate ``X`` (and ``y``) for ``estimator``; return ``(A, frame, names, y)``.

    ``A`` is the float32 array of the numeric columns, ``frame`` the DataFrame (or None),
    ``names`` the numeric columns' names as str (None for a plain array).
    """
    frame = X if isinstance(X, pd.DataFrame) else None
    mixed = frame is not None and not all(is_numeric_dtype(t) for t in frame.dtypes)
    kw = {"dtype": None if mixed else [np.float32, np.float64], "reset": reset}
    if reset:
        Xv, y = validate_data(estimator, X, y, y_numeric=True, **kw)
    else:
        Xv = validate_data(estimator, X, **kw)
    if mixed:
        # Non-numeric columns are categorical; only the numeric ones become an array.
        num = [c for c in frame.columns if is_numeric_dtype(frame[c].dtype)]
        A = frame[num].to_numpy(dtype=np.float32)
        assert_all_finite(A, input_name="X")
        names = [str(c) for c in num]
    else:
        A = np.asarray(Xv, dtype=np.float32)
        names = None if frame is None else [str(c) for c in frame.columns]
    return A, frame, names, y


class Layout(NamedTuple):
    """Where each kind of input is, as found by :func:`find_layout`."""

    categorical: list  # labels of the one-hot encoded columns of the frame
    uses_blocks: bool  # whether the metric block and a conversation block were found
    metric: list  # positions of the metric block in the numeric array
    conversation: dict  # conversation prefix -> positions of its block
    dense: list  # positions of the dense features


def find_layout(
    frame,
    names,
    n_columns,
    *,
    metric_prefix,
    conversation_prefixes,
    drop_prefixes,
    categorical_columns,
    trunk_blocks,
):
    """Find the blocks, categorical and dense columns (the estimator's parameters by name).

    Returns
    -------
    layout : Layout
    """
    cat_set = set(categorical_columns)
    # Original labels, so the values can be read back from the frame at predict time.
    categorical_labels = (
        []
        if frame is None
        else [c for c in frame.columns if str(c) in cat_set or not is_numeric_dtype(frame[c].dtype)]
    )
    metric, conv = [], {}
    if names is not None:
        metric = _block_columns(names, metric_prefix)
        for prefix in conversation_prefixes:
            pos = _block_columns(names, prefix)
            if pos:
                conv[prefix] = pos
    uses_blocks = bool(metric) and bool(conv)
    if not uses_blocks:
        metric, conv = [], {}
    block_pos = set(metric).union(*conv.values())
    skip = set()
    if names is not None:
        for prefix in drop_prefixes:
            skip.update(_block_columns(names, prefix))
        categorical = {str(c) for c in categorical_labels}
        skip.update(i for i, n in enumerate(names) if n in categorical)
    if not trunk_blocks:
        skip |= block_pos
    dense = [i for i in range(n_columns) if i not in skip]
    if not uses_blocks:
        if names is None:
            why = "X has no column names"
        elif not _block_columns(names, metric_prefix):
            why = f"X has no columns named '{metric_prefix}<i>' (the metric block)"
        else:
            why = (
                "X has no columns named '<prefix><i>' for any conversation prefix in "
                f"{list(conversation_prefixes)}"
            )
        log.info(
            "MLPScoreRegressor: %s, so its %d numeric columns are all dense features, there "
            "is no bilinear layer, and the inner validation split groups identical rows",
            why,
            len(dense),
        )
    return Layout(categorical_labels, uses_blocks, metric, conv, dense)


def fit_categories(frame, columns):
    """The sorted levels seen in each categorical column of ``frame``."""
    categories = []
    for c in columns:
        values = pd.Series(frame[c]).dropna().unique()
        categories.append(np.asarray(sorted(values, key=str), dtype=object))
    return categories


def model_inputs(
    A,
    frame,
    dense_pos,
    metric_pos,
    conv_pos,
    *,
    dense_mean,
    dense_scale,
    categorical_columns,
    categories,
    with_blocks,
):
    """The network's inputs: standardised dense + one-hot features, and the unit-length blocks.

    Returns
    -------
    dense : ndarray of float32
    blocks : ndarray of float32 or None
        The metric block then each conversation block, each row scaled to unit length;
        None without ``with_blocks``.
    """
    mean = dense_mean.astype(np.float32)
    scale = dense_scale.astype(np.float32)
    parts = [(A[:, dense_pos] - mean) / scale]
    for c, levels in zip(categorical_columns, categories, strict=True):
        codes = pd.Index(levels).get_indexer(pd.Series(frame[c]).astype(object))
        onehot = np.zeros((len(A), len(levels)), dtype=np.float32)
        seen = codes >= 0
        onehot[np.flatnonzero(seen), codes[seen]] = 1.0
        parts.append(onehot)
    dense = np.ascontiguousarray(np.hstack(parts), dtype=np.float32)
    blocks = None
    if with_blocks:
        blocks = np.hstack(
            [_unit_rows(A[:, metric_pos])] + [_unit_rows(A[:, p]) for p in conv_pos.values()]
        ).astype(np.float32)
    return dense, blocks


def inner_split(A, seed, *, validation_fraction, group_columns):
    """Training and validation rows, whole groups of rows equal in ``group_columns`` apart.

    ``group_columns=None`` groups rows equal in every column. Returns ``(train, None)``
    without a split (``validation_fraction`` 0, too few rows, or a single group).
    """
    n = len(A)
    if not validation_fraction or n < _MIN_ROWS_FOR_VALIDATION:
        return np.arange(n), None
    cols = list(range(A.shape[1])) if group_columns is None else group_columns
    groups = row_groups(A[:, cols])
    if len(np.unique(groups)) < 2:
        return np.arange(n), None
    splitter = GroupShuffleSplit(n_splits=1, test_size=validation_fraction, random_state=seed)
    tr, val = next(splitter.split(A, groups=groups))
    return np.sort(tr), np.sort(val)
