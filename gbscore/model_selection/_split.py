"""The splitter and the held-out mismatched pairs (fold groups: :mod:`gbscore._groups`)."""

from __future__ import annotations

import logging
import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import GroupKFold

from .._groups import table_groups
from .._schema import TEXT_COLUMNS
from ..augment import NegativeSampler
from ..exceptions import ConfigError, GbscoreError
from ._buffer import purge_close_conversations

log = logging.getLogger("gbscore")


class ConversationKFold(GroupKFold):
    """Grouped K-fold over conversations, by phrasing cluster or by identical conversation.

    A scikit-learn splitter: ``split(X, y, groups=None)``. Without ``groups`` it computes them
    from the tidy table ``X`` with :func:`table_groups`.

    Parameters
    ----------
    n_splits : int, default=5
    grouping : {"phrasing", "conversation"}, default="phrasing"
        ``"phrasing"``: clusters of similar phrasing (:func:`phrasing_groups`) never straddle
        folds; ``"conversation"``: only identical conversations are kept together.
    shuffle : bool, default=True
    random_state : int, default=0
    buffer : float or None, default=None
        Drop from each fold's training rows every conversation whose word TF-IDF cosine to
        one of the fold's held-out conversations is at least ``buffer``, so the held-out rows
        lie further from what the fold trains on (:func:`purge_close_conversations`).
        :func:`matched_buffer` picks the one that holds out at a test set's distance.

    Examples
    --------
    >>> from gbscore.datasets import make_judge_data
    >>> X = make_judge_data(n_train=60, n_test=5, random_state=0).train
    >>> cv = ConversationKFold(n_splits=3, grouping="conversation")
    >>> len(list(cv.split(X)))
    3
    """

    def __init__(
        self, n_splits=5, *, grouping="phrasing", shuffle=True, random_state=0, buffer=None
    ):
        super().__init__(n_splits=n_splits, shuffle=shuffle, random_state=random_state)
        self.grouping = grouping
        self.buffer = buffer

    def split(self, X, y=None, groups=None):
        if groups is None:
            if not isinstance(X, pd.DataFrame):
                raise ValueError(
                    "ConversationKFold computes groups from the tidy table; pass a DataFrame "
                    "with the text columns, or pass groups="
                )
            groups = table_groups(X, self.grouping, n_splits=self.n_splits)
        n_groups = len(np.unique(groups))
        if self.n_splits > n_groups:
            raise GbscoreError(
                f"{self.n_splits} folds need at least {self.n_splits} groups of conversations "
                f"(grouping={self.grouping!r}) but the data has {n_groups}; use fewer folds "
                "(at least 2: cv.n_splits in a config; gbscore run --cv-folds, gbscore cv "
                "--folds, gbscore tune --n-splits) or more distinct conversations"
            )
        splits = super().split(X, y, groups)
        if self.buffer is None:
            return splits
        if not isinstance(X, pd.DataFrame):
            raise ValueError(
                "ConversationKFold(buffer=...) measures phrasing on the tidy table; pass a "
                "DataFrame with the text columns"
            )
        return iter(purge_close_conversations(X, splits, self.buffer))


def check_cv(cv, *, random_state=0):
    """A splitter from an int (``ConversationKFold(n)``) or a splitter, as is."""
    if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
        if cv < 2:
            raise ConfigError(f"cv={cv} folds: need at least 2")
        return ConversationKFold(n_splits=int(cv), random_state=random_state)
    if hasattr(cv, "split") and hasattr(cv, "get_n_splits"):
        return cv
    raise ConfigError(f"cv must be a number of folds or a splitter, got {cv!r}")


# --------------------------------------------------------------------------------------
# Held-out mismatched pairs
# --------------------------------------------------------------------------------------


def fold_seed(random_state, fold):
    """The seed of fold ``fold``'s held-out pairs (and nothing else): one rule everywhere."""
    seed = int(random_state) if isinstance(random_state, numbers.Integral) else 0
    return seed * 1000 + int(fold)


def default_eval_sampler(estimator=None, *, random_state=0):
    """The sampler that builds held-out mismatched pairs.

    Its mix adds ~1.6 mismatched rows per real row (about 60% of the evaluation set, as in the
    shifted test set DOMAIN.md describes). It copies the label policy and metric embeddings of
    the estimator's own sampler (``augment`` step) when there is one; for a stack, of its first
    base.
    """
    augment = _augment_step(estimator)
    kw = {}
    if augment is not None:
        kw = {
            "label_policy": augment.label_policy,
            "metric_embeddings": augment.metric_embeddings,
            "metric_names": augment.metric_names,
            "n_near": augment.n_near,
        }
    return NegativeSampler(
        swap_random=1.0,
        swap_near=0.25,
        swap_far=0.25,
        text_shuffle=0.0,
        response_mismatch=0.1,
        random_state=random_state,
        **kw,
    )


def _augment_step(estimator):
    estimators = getattr(estimator, "estimators", None)
    if estimators:
        return _augment_step(estimators[0][1])
    for _, step in getattr(estimator, "steps", []):
        if isinstance(step, NegativeSampler):
            return step
    return None


@dataclass
class HeldOutPairs:
    """Mismatched pairs built from one fold's held-out rows."""

    X: pd.DataFrame | None
    y: np.ndarray
    relation: np.ndarray
    row: np.ndarray


def heldout_pairs(sampler, X, y, rows, *, random_state, fold):
    """Mismatched pairs built only from the held-out rows ``rows`` of ``X``.

    Parameters
    ----------
    sampler : NegativeSampler or None
        Cloned and seeded with :func:`fold_seed`; ``None`` builds no pairs.
    X : DataFrame
        The tidy training table.
    y : ndarray
    rows : ndarray of int
        Positions of the fold's held-out rows.
    random_state : int
    fold : int

    Returns
    -------
    HeldOutPairs
    """
    if sampler is None or len(rows) == 0:
        return HeldOutPairs(None, np.empty(0), np.empty(0, dtype=object), np.empty(0, np.int64))
    sampler = clone(sampler).set_params(random_state=fold_seed(random_state, fold))
    X_all, y_all = sampler.fit_resample(X.iloc[rows].reset_index(drop=True), y[rows])
    mask = sampler.synthetic_mask_
    return HeldOutPairs(
        X=X_all[mask].reset_index(drop=True),
        y=np.asarray(y_all[mask], dtype=np.float64),
        relation=sampler.relation_[mask].astype(object),
        row=np.asarray(rows)[sampler.sample_indices_[mask]].astype(np.int64),
    )


def _given_pairs(shifted_set, X, splits):
    """A user-labelled shifted set split over the folds.

    Each row goes to the fold that holds its conversation out (rows whose conversation is not
    in ``X`` are spread over the folds in turn).
    """
    Xs, ys = shifted_set
    Xs = Xs.reset_index(drop=True)
    ys = np.asarray(ys, dtype=np.float64)
    cols = [c for c in TEXT_COLUMNS if c in X.columns]
    train_key = pd.util.hash_pandas_object(X[cols].astype(str), index=False).to_numpy()
    fold_of_key = {}
    for k, (_, test) in enumerate(splits):
        fold_of_key.update(dict.fromkeys(train_key[test].tolist(), k))
    key = pd.util.hash_pandas_object(Xs[cols].astype(str), index=False).to_numpy()
    assign = np.array(
        [fold_of_key.get(h, i % len(splits)) for i, h in enumerate(key.tolist())], dtype=np.int64
    )
    out = []
    for k in range(len(splits)):
        m = assign == k
        out.append(
            HeldOutPairs(
                X=Xs[m].reset_index(drop=True),
                y=ys[m],
                relation=np.full(int(m.sum()), "given", dtype=object),
                row=np.full(int(m.sum()), -1, dtype=np.int64),
            )
        )
    return out
