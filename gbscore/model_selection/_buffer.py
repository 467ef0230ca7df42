"""A buffer around each fold's held-out phrasing, matched to the test set's distance.

The phrasing folds (:func:`gbscore.phrasing_groups`) hold out clusters linked at a cosine
threshold, so no held-out conversation has a training conversation closer than that. A test
set phrased unlike train can lie further still: on judgebench-dev split at cosine 0.55, the
held-out test conversations' median largest cosine to any training conversation was 0.43,
while the CV's held-out rows had 0.50 to their folds' training rows, and the CV under-estimated
that test's RMSE by 0.6 (README, "A buffer matched to the test's distance").

A buffer drops, from each fold's training rows, every conversation whose word TF-IDF cosine to
any of the fold's held-out conversations reaches ``buffer`` (a "buffered" or "purged" CV, as
spatial and time-series cross-validation drop training rows next to the held-out block).
:func:`matched_buffer` picks the buffer at which the held-out rows' median largest cosine to
their fold's remaining training rows equals the test rows' median largest cosine to all
training rows: the CV then holds out at the test set's distance. A test as close to train as
the CV's held-out rows, or closer (the dev set's), gets no buffer; the CV is then unchanged.

The median is matched, not the tails: a few near-copies in a test set phrased anew, or a few
far rows in one phrased alike, do not decide the buffer.
"""

from __future__ import annotations

import bisect
import copy
import numbers
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from .._groups import phrasing_vectorizer
from .._schema import conversation_groups, conversation_text
from ..exceptions import GbscoreError
from ._distance import nearest_similarity

__all__ = ["BufferMatch", "matched_buffer", "purge_close_conversations"]

#: A matched buffer never leaves a fold less than this share of its training rows: past that
#: the fold models train on too little for their error to speak for the final model's.
MIN_TRAIN_FRACTION = 0.5

_BISECTIONS = 12


def _conversations(X):
    """Per-row conversation ids and the texts of the distinct conversations, in id order."""
    conv = conversation_groups(X)
    _, first = np.unique(conv, return_index=True)
    return conv, conversation_text(X.iloc[first])


def _fit_vectors(texts, where):
    vectorizer = phrasing_vectorizer()
    try:
        return vectorizer, vectorizer.fit_transform(texts)
    except ValueError as exc:  # TfidfVectorizer: no term left after min_df
        raise GbscoreError(
            f"{where}: no word occurs in two of the training conversations, so there is no "
            f"phrasing similarity to buffer the folds by ({exc})"
        ) from exc


def _check_buffer(buffer):
    if isinstance(buffer, bool) or not isinstance(buffer, numbers.Real) or not 0 < buffer <= 1:
        raise GbscoreError(
            f"cv buffer={buffer!r}: expected a cosine in (0, 1] (training conversations at "
            "least this similar to a held-out one are dropped from the fold), or None"
        )


def _closeness(vectors, conv, train, test):
    """A fold's held-out and training conversation ids, and each training one's largest cosine
    to the held-out ones."""
    held = np.unique(conv[test])
    rest = np.setdiff1d(np.unique(conv[train]), held)
    return held, rest, nearest_similarity(vectors[rest], vectors[held])


class _Fold(NamedTuple):
    held: np.ndarray  # held-out conversation ids
    rest: np.ndarray  # training conversation ids
    close: np.ndarray  # each training conversation's largest cosine to the held-out ones
    rows: np.ndarray  # each training conversation's number of training rows
    n_train: int
    test: np.ndarray  # held-out row positions


def purge_close_conversations(X, splits, buffer):
    """Each fold's training rows without the conversations within ``buffer`` of its held-out ones.

    Parameters
    ----------
    X : DataFrame
        The tidy table the splits index.
    splits : iterable of (train, test) index arrays
    buffer : float
        A training conversation whose word uni/bigram TF-IDF cosine
        (:func:`gbscore.phrasing_groups`' similarity) to any held-out conversation of the fold
        is ``>= buffer`` is dropped from that fold's training rows.

    Returns
    -------
    list of (train, test)
        ``test`` as given; ``train`` a subset of the given one, in its order.
    """
    _check_buffer(buffer)
    conv, texts = _conversations(X)
    _, vectors = _fit_vectors(texts, "cv buffer")
    out = []
    for k, (train, test) in enumerate(splits):
        train, test = np.asarray(train), np.asarray(test)
        _, rest, close = _closeness(vectors, conv, train, test)
        dropped = rest[close >= buffer]
        kept = train[~np.isin(conv[train], dropped)]
        if len(kept) == 0:
            raise GbscoreError(
                f"cv buffer={buffer}: every training conversation of fold {k} is that similar "
                "to one of its held-out conversations, so the fold has nothing to train on; "
                "raise the buffer or set cv.buffer to null"
            )
        out.append((kept, test))
    return out


@dataclass
class BufferMatch:
    """What :func:`matched_buffer` chose, and why.

    Attributes
    ----------
    buffer : float or None
        The buffer to give the splitter; ``None`` when the CV's held-out rows already lie at
        least as far from their training rows as the test rows do.
    similarity_test : float
        Median over test rows of the largest cosine to any training conversation.
    similarity_cv : float
        The same median for the CV's held-out rows and their folds' training rows, unbuffered.
    similarity_cv_buffered : float
        That median with the buffer (equal to ``similarity_cv`` without one).
    train_fraction : float
        The smallest share of a fold's training rows the buffer keeps (1.0 without one).
    capped : bool
        True when matching the test would keep less than ``min_train_fraction`` of some fold's
        training rows, so the buffer stops there and the CV stays closer than the test (with
        ``buffer=None`` when dropping even the closest training conversations would).
    """

    buffer: float | None
    similarity_test: float
    similarity_cv: float
    similarity_cv_buffered: float
    train_fraction: float
    capped: bool

    def summary(self):
        """JSON-ready fields."""
        return {
            "buffer": self.buffer,
            "median_similarity_test": self.similarity_test,
            "median_similarity_cv": self.similarity_cv,
            "median_similarity_cv_buffered": self.similarity_cv_buffered,
            "train_fraction": self.train_fraction,
            "capped": self.capped,
        }


def matched_buffer(
    X_train, X_test, cv=5, *, groups=None, random_state=0, min_train_fraction=MIN_TRAIN_FRACTION
):
    """The fold buffer at which the CV holds out at the test set's distance from training.

    Parameters
    ----------
    X_train : DataFrame
        The tidy training table the folds split.
    X_test : DataFrame
        The test rows (text columns; no labels needed).
    cv : int or splitter, default=5
        The folds, as :func:`gbscore.cross_val_oof` takes them; a buffer the splitter already
        has is ignored here.
    groups : array-like, optional
        Groups passed to the splitter, as :func:`gbscore.cross_val_oof` passes them.
    random_state : int, default=0
        Seed of the folds when ``cv`` is an int, as in :func:`gbscore.cross_val_oof`.
    min_train_fraction : float, default=0.5
        The buffer never keeps less than this share of a fold's training rows.

    Returns
    -------
    BufferMatch

    Examples
    --------
    >>> from gbscore.datasets import make_judge_data
    >>> data = make_judge_data(n_train=80, n_test=40, random_state=0)
    >>> match = matched_buffer(data.train.drop(columns="score"), data.test, cv=3)
    >>> match.buffer is None or 0 < match.buffer <= 1
    True
    """
    from ._split import check_cv  # _split imports this module

    if len(X_test) == 0:
        raise GbscoreError("X_test has no rows: there is no test distance to match the CV to")
    if not 0 < min_train_fraction <= 1:
        raise GbscoreError(f"min_train_fraction={min_train_fraction!r}: expected a share in (0, 1]")
    splitter = copy.copy(check_cv(cv, random_state=random_state))
    if hasattr(splitter, "buffer"):
        splitter.buffer = None
    splits = [(np.asarray(tr), np.asarray(te)) for tr, te in splitter.split(X_train, None, groups)]

    conv, texts = _conversations(X_train)
    _, vectors = _fit_vectors(texts, "matched_buffer")
    # The test's distance in a vocabulary fitted on train and test together, as the folds'
    # is in one fitted on the training conversations they split: each counts the words two
    # of its texts share. Train's vocabulary alone would drop the words only test texts
    # share and put a test phrased anew closer to train than it is (median 0.51 instead of
    # 0.43 on the hardest draw of bench_new_phrasing.py).
    conv_test, texts_test = _conversations(X_test)
    _, joint = _fit_vectors(texts + texts_test, "matched_buffer")
    sim_test = nearest_similarity(joint[len(texts) :], joint[: len(texts)])[conv_test]
    target = float(np.median(sim_test))

    folds = []
    for train, test in splits:
        held, rest, close = _closeness(vectors, conv, train, test)
        rows = pd.Series(conv[train]).value_counts().reindex(rest).to_numpy()
        folds.append(_Fold(held, rest, close, rows, len(train), test))

    def held_out_median(buffer):
        sims = np.zeros(len(conv))
        for f in folds:
            sims[f.held] = nearest_similarity(vectors[f.held], vectors[f.rest[f.close < buffer]])
        return float(np.median(np.concatenate([sims[conv[f.test]] for f in folds])))

    def kept_fraction(buffer):
        return min(f.rows[f.close < buffer].sum() / f.n_train for f in folds)

    before = held_out_median(np.inf)
    if before <= target:
        return BufferMatch(None, target, before, before, 1.0, False)
    # The lowest buffer that keeps min_train_fraction of every fold: a training
    # conversation's closeness is where dropping it starts, so search those values (and
    # "drop nothing"); kept_fraction rises with the buffer, so a binary search finds it.
    closeness = np.unique(np.concatenate([f.close for f in folds]))
    candidates = np.append(closeness, np.inf)
    first = bisect.bisect_left(
        candidates, True, key=lambda b: bool(kept_fraction(b) >= min_train_fraction)
    )
    if np.isinf(candidates[first]):  # even the closest conversations alone are too many
        return BufferMatch(None, target, before, before, 1.0, True)
    floor = float(candidates[first])
    at_floor = held_out_median(floor)
    if at_floor > target:
        return BufferMatch(floor, target, before, at_floor, float(kept_fraction(floor)), True)
    # held_out_median rises with the buffer, in steps: bisect for the largest buffer whose
    # median stays at or under the test's (by hand: scipy's root finders look for the sign
    # change of a continuous function, and this one jumps at each dropped conversation).
    lo, hi = floor, float(closeness.max()) + 1e-6
    for _ in range(_BISECTIONS):
        mid = (lo + hi) / 2
        if held_out_median(mid) <= target:
            lo = mid
        else:
            hi = mid
    buffer = float(lo)
    return BufferMatch(
        buffer, target, before, held_out_median(buffer), float(kept_fraction(buffer)), False
    )
