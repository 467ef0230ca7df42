"""Fold groups, the splitter, and the held-out mismatched pairs."""

from __future__ import annotations

import logging
import numbers
from dataclasses import dataclass

import joblib
import numpy as np
import pandas as pd
from scipy.sparse.csgraph import connected_components
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import GroupKFold

from .._schema import TEXT_COLUMNS, conversation_groups, conversation_text
from ..augment import NegativeSampler
from ..exceptions import ConfigError, GbscoreError

log = logging.getLogger("gbscore")

#: How rows are grouped into folds: by clusters of similar phrasing (the default, strict) or
#: by identical conversation (every row of one conversation in one fold).
GROUPINGS = ("phrasing", "conversation")

# Cosine thresholds tried by phrasing_groups, strictest (lowest) first.
_THRESHOLDS = tuple(np.round(np.arange(0.30, 0.951, 0.05), 2))


# --------------------------------------------------------------------------------------
# Groups and the splitter
# --------------------------------------------------------------------------------------


def _similar_pairs(texts, min_similarity, chunk=2048):
    """Sparse upper-triangle graph of text pairs whose word TF-IDF cosine is >= min_similarity.

    Word uni- and bigrams: a template or a near-duplicate shares its word sequences, while
    two texts on one topic in different words share few bigrams. The product is taken in row
    chunks so memory stays at O(chunk x n) whatever the data size.
    """
    from scipy import sparse

    vectors = TfidfVectorizer(
        analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=2, dtype=np.float32
    ).fit_transform(texts)
    n = vectors.shape[0]
    parts = []
    for start in range(0, n, chunk):
        block = (vectors[start : start + chunk] @ vectors.T).tocoo()
        keep = (block.data >= min_similarity) & (block.row + start < block.col)
        parts.append(
            sparse.coo_matrix(
                (block.data[keep], (block.row[keep] + start, block.col[keep])), shape=(n, n)
            )
        )
    return sparse.csr_matrix(sum(p.tocsr() for p in parts)) if parts else None


def phrasing_groups(X, *, max_group_fraction=0.1, threshold="auto", return_threshold=False):
    """Integer group per row: connected clusters of conversations with similar phrasing.

    Two conversations are linked when the cosine of their word uni/bigram TF-IDF vectors
    (user prompt and response together) reaches ``threshold``; groups are the connected
    components, so a held-out group has no near-duplicate among the other groups. Rows sharing
    a conversation always share a group.

    Parameters
    ----------
    X : DataFrame
        The tidy table (``user_prompt``, ``response``, optionally ``system_prompt``).
    max_group_fraction : float, default=0.1
        With ``threshold="auto"``: the lowest threshold of 0.30, 0.35, ..., 0.95 whose largest
        group holds at most this fraction of the rows. Lower thresholds link more and are
        stricter; a group much larger than a fold would unbalance the folds.
    threshold : float or "auto", default="auto"
    return_threshold : bool, default=False
        Also return the threshold used.

    Returns
    -------
    ndarray of int64, shape (n_rows,), or (groups, threshold)
    """
    conv = conversation_groups(X)
    _, first = np.unique(conv, return_index=True)
    n_conv = len(first)
    if n_conv < 3:
        return (conv, float("nan")) if return_threshold else conv
    texts = conversation_text(X.iloc[first])
    candidates = _THRESHOLDS if threshold == "auto" else (float(threshold),)
    try:
        graph = _similar_pairs(texts, min(candidates))
    except ValueError:  # no word occurs twice: nothing is similar to anything
        graph = None
    counts = np.bincount(conv, minlength=n_conv)
    limit = max_group_fraction * len(conv)
    chosen, labels = None, np.arange(n_conv)
    for thr in candidates:
        if graph is None:
            chosen = thr
            break
        kept = graph.copy()
        kept.data = np.where(kept.data >= thr, 1, 0).astype(np.int8)
        kept.eliminate_zeros()
        _, lab = connected_components(kept, directed=False)
        if threshold != "auto" or np.bincount(lab, weights=counts).max() <= limit:
            chosen, labels = thr, lab
            break
    if chosen is None:  # even near-copies chain into one huge cluster: fall back
        log.info(
            "phrasing groups: every similarity threshold leaves a cluster over %.0f%% of the rows;"
            " grouping by identical conversation instead",
            100 * max_group_fraction,
        )
        chosen = float("nan")
    # conv ids are 0..n_conv-1 in order of first appearance, as `first` is sorted by id.
    groups = labels[conv].astype(np.int64)
    return (groups, float(chosen)) if return_threshold else groups


# Phrasing groups of recent tables: a study or a stack asks for the same table's groups at
# every trial and fit, and the similarity graph is the costly part. Keyed by content.
_GROUP_MEMO = {}
_GROUP_MEMO_SIZE = 8


def table_groups(X, grouping="phrasing", *, n_splits=5):
    """The fold groups of a tidy table for a :data:`GROUPINGS` value."""
    if grouping == "conversation":
        return conversation_groups(X)
    if grouping != "phrasing":
        raise ConfigError(f"grouping={grouping!r} is not one of {list(GROUPINGS)}")
    cols = [c for c in TEXT_COLUMNS if c in X.columns]
    key = (
        joblib.hash(pd.util.hash_pandas_object(X[cols].astype(str), index=False).to_numpy()),
        n_splits,
    )
    if key not in _GROUP_MEMO:
        groups, threshold = phrasing_groups(
            X, max_group_fraction=1.0 / (2 * n_splits), return_threshold=True
        )
        log.info(
            "phrasing groups: %d clusters of %d conversations (TF-IDF cosine >= %s)",
            len(np.unique(groups)),
            len(np.unique(conversation_groups(X))),
            threshold,
        )
        while len(_GROUP_MEMO) >= _GROUP_MEMO_SIZE:
            _GROUP_MEMO.pop(next(iter(_GROUP_MEMO)))
        _GROUP_MEMO[key] = groups
    return _GROUP_MEMO[key].copy()


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

    Examples
    --------
    >>> from gbscore.datasets import make_judge_data
    >>> X = make_judge_data(n_train=60, n_test=5, random_state=0).train
    >>> cv = ConversationKFold(n_splits=3, grouping="conversation")
    >>> len(list(cv.split(X)))
    3
    """

    def __init__(self, n_splits=5, *, grouping="phrasing", shuffle=True, random_state=0):
        super().__init__(n_splits=n_splits, shuffle=shuffle, random_state=random_state)
        self.grouping = grouping

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
                "(--cv-folds / cv.n_splits) or more training rows"
            )
        return super().split(X, y, groups)


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
