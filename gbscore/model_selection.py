"""Shift-aware cross-validation: the splitter, the held-out mismatched pairs, one fold loop.

Everything in gbscore that cross-validates goes through :func:`cross_val_oof`: the stack's
out-of-fold predictions, ``gbscore cv``, the tuning objective and the benchmarks. ::

    folds   = ConversationKFold: grouped K-fold over clusters of similar phrasing
              (or of identical conversations, grouping="conversation")
    for each fold k:
        held-out rows  = the real rows of fold k
        shifted pairs  = mismatched pairs built from those held-out rows only, by one sampler
                         seeded fold_seed(random_state, k), the same for every model
        for each group of pipelines that differ only in their regressor:
            augment + featurize the training rows once, fit every regressor of the group
            predict the held-out rows and the shifted pairs
    result  = OOFPredictions: one column per model, real rows first, then the shifted pairs

Why mismatched pairs: the test set pairs many conversations with a metric that does not fit
them (DOMAIN.md), so a score on real rows alone rewards predicting ~9 everywhere.

Why phrasing clusters: folds grouped by identical conversation still share phrasing (templates,
near-duplicates) between training and held-out rows, so a model that memorises phrasing looks
good in CV and fails on new texts. :func:`phrasing_groups` links conversations whose word
n-gram TF-IDF cosine reaches a threshold and holds out whole connected components: no
held-out conversation then has a near-duplicate in training. The threshold is the lowest
(strictest) one whose largest component still leaves the folds balanced.
"""

from __future__ import annotations

import contextlib
import json
import logging
import numbers
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from joblib import Parallel, delayed, parallel_config
from scipy.sparse.csgraph import connected_components
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import GroupKFold
from tqdm.auto import tqdm

from ._io import atomic_write
from ._optional import import_optional
from ._schema import TEXT_COLUMNS, conversation_groups, conversation_text
from .augment import NegativeSampler
from .exceptions import ConfigError, GbscoreError
from .pipeline import fit_prefix, transform_prefix

__all__ = [
    "GROUPINGS",
    "SCORE_BINS",
    "ConversationKFold",
    "OOFPredictions",
    "check_cv",
    "check_table",
    "cross_val_oof",
    "default_eval_sampler",
    "fold_seed",
    "heldout_pairs",
    "per_bin_rmse",
    "phrasing_groups",
    "rmse",
    "table_groups",
]

log = logging.getLogger("gbscore")

#: How rows are grouped into folds: by clusters of similar phrasing (the default, strict) or
#: by identical conversation (every row of one conversation in one fold).
GROUPINGS = ("phrasing", "conversation")

#: Bins of the true score for per-bin RMSE: (label, low, high), low inclusive, high exclusive
#: except the last.
SCORE_BINS = (
    ("0-3", 0.0, 3.0),
    ("3-5", 3.0, 5.0),
    ("5-7", 5.0, 7.0),
    ("7-8.5", 7.0, 8.5),
    ("8.5-9.5", 8.5, 9.5),
    ("9.5-10", 9.5, 10.0),
)

_ROW_SETS = ("shift_aware", "real")
_FORMAT = "gbscore-oof/2"
# Cosine thresholds tried by phrasing_groups, strictest (lowest) first.
_THRESHOLDS = tuple(np.round(np.arange(0.30, 0.951, 0.05), 2))


def rmse(y_true, y_pred):
    """Root mean squared error (NaN for empty input)."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if len(y_true) == 0:
        return float("nan")
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2)))


def per_bin_rmse(y_true, y_pred):
    """RMSE and row count per true-score bin, as a DataFrame (bins with no rows are kept)."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    rows = []
    for i, (label, lo, hi) in enumerate(SCORE_BINS):
        last = i == len(SCORE_BINS) - 1
        mask = (y_true >= lo) & ((y_true <= hi) if last else (y_true < hi))
        rows.append(
            {
                "bin": label,
                "n": int(mask.sum()),
                "rmse": rmse(y_true[mask], y_pred[mask]),
                "mean_pred": float(y_pred[mask].mean()) if mask.any() else float("nan"),
            }
        )
    return pd.DataFrame(rows)


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


# --------------------------------------------------------------------------------------
# The result type
# --------------------------------------------------------------------------------------


@dataclass
class OOFPredictions:
    """Out-of-fold predictions of one or more models on the same held-out rows.

    The first ``n_real`` rows are the real training rows in their original order; the rest are
    the mismatched pairs built from each fold's held-out rows. Every model column was predicted
    by a model that saw neither the row nor any synthetic copy of its conversation (nor, with
    ``grouping="phrasing"``, any conversation phrased like it).

    Attributes
    ----------
    y : ndarray of float, shape (n,)
        True score (real rows) or the evaluation sampler's label (shifted pairs).
    fold : ndarray of int, shape (n,)
        The fold whose model predicted the row (-1: no fold did, see ``on_fold``).
    is_shifted : ndarray of bool, shape (n,)
        True for the held-out mismatched pairs.
    relation : ndarray of str, shape (n,)
        ``"real"``, or the label policy's relation of a shifted pair (``"unrelated"``,
        ``"related"``, ``"general"``, ``"mismatch"``, ``"given"``).
    preds : DataFrame, shape (n, n_models)
        One column of predictions per model.
    row : ndarray of int, shape (n,)
        Position in the training table of the row (for shifted pairs: of the row the pair was
        built from; -1 for a user-given shifted row).
    timings : dict
        Seconds spent, e.g. ``{"features": ..., "model:lightgbm": ...}``, summed over folds.
    grouping : str
        How the folds were grouped (:data:`GROUPINGS`).
    """

    y: np.ndarray
    fold: np.ndarray
    is_shifted: np.ndarray
    relation: np.ndarray
    preds: pd.DataFrame
    row: np.ndarray
    timings: dict = field(default_factory=dict)
    grouping: str = "conversation"

    @property
    def models(self):
        """The model names (columns of :attr:`preds`)."""
        return [str(c) for c in self.preds.columns]

    @property
    def n_real(self):
        return int((~self.is_shifted).sum())

    @property
    def n_splits(self):
        return int(self.fold.max()) + 1 if len(self.fold) else 0

    def rows_mask(self, rows="shift_aware"):
        """Boolean mask of the scored rows of a row set: ``"shift_aware"`` (all) or ``"real"``."""
        if rows not in _ROW_SETS:
            raise ValueError(f"rows must be one of {_ROW_SETS}, got {rows!r}")
        done = self.fold >= 0
        return done if rows == "shift_aware" else done & ~self.is_shifted

    def scores(self):
        """RMSE per model: plain (real rows), shift-aware (all rows), shifted pairs only.

        Returns
        -------
        DataFrame
            Indexed by model name, sorted by shift-aware RMSE.
        """
        done = self.fold >= 0
        real = done & ~self.is_shifted
        shifted = done & self.is_shifted
        out = []
        for name in self.models:
            p = self.preds[name].to_numpy()
            out.append(
                {
                    "model": name,
                    "rmse_plain": rmse(self.y[real], p[real]),
                    "rmse_shift": rmse(self.y[done], p[done]),
                    "rmse_shifted_only": rmse(self.y[shifted], p[shifted]),
                }
            )
        return pd.DataFrame(out).set_index("model").sort_values("rmse_shift")

    def summary(self, model):
        """The scores of one model as a JSON-ready dict, including per-bin RMSE."""
        if model not in self.models:
            raise KeyError(f"no model {model!r} in these predictions; they hold {self.models}")
        done = self.fold >= 0
        real = done & ~self.is_shifted
        p = self.preds[model].to_numpy()
        row = self.scores().loc[model]
        return {
            "rmse_plain": float(row.rmse_plain),
            "rmse_shift": float(row.rmse_shift),
            "rmse_shifted_only": float(row.rmse_shifted_only),
            "n_real": int(real.sum()),
            "n_shifted": int((done & self.is_shifted).sum()),
            "grouping": self.grouping,
            "per_bin_plain": per_bin_rmse(self.y[real], p[real]).to_dict(orient="records"),
            "per_bin_shift": per_bin_rmse(self.y[done], p[done]).to_dict(orient="records"),
            "seconds": float(self.timings.get("wall", sum(self.timings.values()))),
        }

    def with_column(self, name, values):
        """A copy with one more model column (e.g. the cross-fitted stack)."""
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (len(self.y),):
            raise ValueError(f"column {name!r} has shape {values.shape}; expected ({len(self.y)},)")
        preds = self.preds.copy()
        preds[name] = values
        return OOFPredictions(
            y=self.y,
            fold=self.fold,
            is_shifted=self.is_shifted,
            relation=self.relation,
            preds=preds,
            row=self.row,
            timings=dict(self.timings),
            grouping=self.grouping,
        )

    def save(self, path):
        """Write to ``path`` as a NumPy ``.npz`` file (no pickles); returns the path."""
        arrays = {
            "format": np.array(_FORMAT),
            "y": self.y,
            "fold": self.fold,
            "is_shifted": self.is_shifted,
            "relation": np.asarray(self.relation, dtype=str),
            "row": self.row,
            "models": np.asarray(self.models, dtype=str),
            "preds": self.preds.to_numpy(dtype=np.float64),
            "timings": np.array(json.dumps(self.timings)),
            "grouping": np.array(self.grouping),
        }
        return atomic_write(path, lambda fh: np.savez_compressed(fh, **arrays))

    @classmethod
    def load(cls, path):
        """Read a file written by :meth:`save`."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError) as exc:
            raise GbscoreError(
                f"{path} is not a readable out-of-fold predictions file: {exc}"
            ) from exc
        if str(data.get("format", "")) != _FORMAT:
            raise GbscoreError(
                f"{path} is not a gbscore out-of-fold file of this version (expected format "
                f"{_FORMAT}); delete it and compute it again"
            )
        return cls(
            y=data["y"],
            fold=data["fold"],
            is_shifted=data["is_shifted"],
            relation=data["relation"].astype(object),
            preds=pd.DataFrame(data["preds"], columns=[str(m) for m in data["models"]]),
            row=data["row"],
            timings=json.loads(str(data["timings"])),
            grouping=str(data["grouping"]),
        )


# --------------------------------------------------------------------------------------
# The fold loop
# --------------------------------------------------------------------------------------


def _prefix_key(estimator):
    """Pipelines with equal keys differ only in their regressor and share one fitted prefix."""
    steps = getattr(estimator, "steps", None)
    if not steps or len(steps) < 2:
        return ("alone", id(estimator))
    prefix = clone(estimator).steps[:-1]
    return ("prefix", joblib.hash((prefix, getattr(estimator, "route_sample_weight", None))))


def _prefix_groups(estimators):
    groups = {}
    for name, est in estimators.items():
        groups.setdefault(_prefix_key(est), []).append(name)
    return list(groups.values())


def _fit_group(estimators, X, y, fit_params):
    """Fit estimators that differ only in their last step, running the shared prefix once.

    Equivalent to ``clone(est).fit(X, y)`` for each (same steps, same seeds), but the
    augmentation and featurization are fitted once and shared by the returned pipelines.
    Returns ``(fitted estimators, prefix seconds, model seconds)``.
    """
    names = list(estimators)
    first = estimators[names[0]]
    if not hasattr(first, "steps") or len(names) == 1:
        out, seconds = {}, {}
        for name in names:
            start = time.perf_counter()
            out[name] = clone(estimators[name]).fit(X, y, **fit_params.get(name, {}))
            seconds[name] = time.perf_counter() - start
        return out, 0.0, seconds
    start = time.perf_counter()
    template = clone(first)
    Xt, yt, weight = fit_prefix(template, X, y)
    prefix_seconds = time.perf_counter() - start
    out, seconds = {}, {}
    for name in names:
        start = time.perf_counter()
        fitted = clone(estimators[name])
        fitted.steps = [*template.steps[:-1], fitted.steps[-1]]
        kw = {
            k.split("__", 1)[1]: v
            for k, v in fit_params.get(name, {}).items()
            if k.startswith(f"{fitted.steps[-1][0]}__")
        }
        if getattr(fitted, "route_sample_weight", False) and weight is not None:
            kw["sample_weight"] = weight
        fitted.steps[-1][1].fit(Xt, yt, **kw)
        out[name] = fitted
        seconds[name] = time.perf_counter() - start
    return out, prefix_seconds, seconds


def _predict_group(fitted, X):
    """Predictions of pipelines sharing one fitted prefix (transformed once)."""
    if X is None or len(X) == 0:
        return {name: np.empty(0) for name in fitted}
    first = next(iter(fitted.values()))
    if not hasattr(first, "steps") or len(fitted) == 1:
        return {n: np.asarray(e.predict(X), dtype=np.float64) for n, e in fitted.items()}
    Xt = transform_prefix(first, X)
    return {n: np.asarray(e.steps[-1][1].predict(Xt), dtype=np.float64) for n, e in fitted.items()}


def _fold_task(estimators, groups, X, y, train, test, pairs, fit_params, keep):
    """Fit every group on ``train`` rows; predict ``test`` rows and the held-out pairs."""
    X_train = X.iloc[train].reset_index(drop=True)
    preds, pair_preds, fitted_all = {}, {}, {}
    timings = {"features": 0.0, "predict": 0.0}
    for names in groups:
        fitted, prefix_s, model_s = _fit_group(
            {n: estimators[n] for n in names}, X_train, y[train], fit_params
        )
        timings["features"] += prefix_s
        for n, s in model_s.items():
            timings[f"model:{n}"] = s
        start = time.perf_counter()
        if test is not None:
            preds.update(_predict_group(fitted, X.iloc[test].reset_index(drop=True)))
            pair_preds.update(_predict_group(fitted, pairs.X))
        timings["predict"] += time.perf_counter() - start
        if keep:
            fitted_all.update(fitted)
    return preds, pair_preds, timings, (fitted_all if keep else None)


@contextlib.contextmanager
def _parallel_backend(n_jobs, dask_address):
    """Yield the ``n_jobs`` to give ``Parallel``; with a Dask address, run on that cluster."""
    if dask_address is None:
        yield n_jobs
        return
    distributed = import_optional("distributed", purpose="Running the folds on a Dask cluster")
    import_optional("dask", purpose="Running the folds on a Dask cluster")
    if isinstance(dask_address, distributed.Client):
        client, owned = dask_address, False
    else:
        try:
            client, owned = distributed.Client(dask_address, timeout="10s"), True
        except OSError as exc:
            raise GbscoreError(
                f"cannot reach the Dask scheduler at {dask_address!r}: {exc}"
            ) from exc
    try:
        log.info("running the folds on the Dask cluster at %s", client.scheduler.address)
        with parallel_config(backend="dask"):
            yield -1
    finally:
        if owned:
            client.close()


def _featurizer_keys(estimator):
    from .features import EmbeddingFeaturizer

    params = estimator.get_params(deep=True) if hasattr(estimator, "get_params") else {}
    return {k: v for k, v in params.items() if isinstance(v, EmbeddingFeaturizer)}


def _warm_embeddings(estimators, X, cache_dir):
    """Encode the distinct strings of ``X`` once, here, into ``cache_dir``.

    Worker processes then read vectors from disk instead of each encoding the same texts
    again. Encoders fitted on the data (char TF-IDF) depend on the fold and are skipped.
    """
    seen = set()
    for est in estimators.values():
        for fz in _featurizer_keys(est).values():
            encoder = fz.encoder
            if getattr(encoder, "requires_fit", False):
                continue
            key = json.dumps(
                encoder.identity() if encoder is not None else None, sort_keys=True, default=repr
            )
            if key in seen:
                continue
            seen.add(key)
            clone(fz).set_params(cache_dir=str(cache_dir)).fit(X).transform(X)


# Thread-count parameters of the regressors; -1/None/0 mean "every core".
_THREAD_PARAMS = ("n_jobs", "thread_count")


def _limit_threads(estimators, n_parallel):
    """Clones whose regressors use ``cores // n_parallel`` threads when folds run in parallel.

    Otherwise every parallel fold would start one thread per core (CatBoost ignores the
    OpenMP limits joblib sets in its workers), and oversubscribed boosters slow down several
    times. Only "every core" settings are changed; an explicit count is kept.
    """
    threads = max(1, (os.cpu_count() or 1) // max(1, n_parallel))
    out = {}
    for name, est in estimators.items():
        est = clone(est)
        if hasattr(est, "steps"):
            params = est.get_params(deep=True)
            last = est.steps[-1][0]
            for p in _THREAD_PARAMS:
                value = params.get(f"{last}__{p}", "absent")
                if value is None or (isinstance(value, numbers.Integral) and value <= 0):
                    est.set_params(**{f"{last}__{p}": threads})
        out[name] = est
    return out


def _with_cache_dir(estimators, cache_dir):
    """Clones whose featurizers without a cache directory use ``cache_dir``."""
    out = {}
    for name, est in estimators.items():
        est = clone(est)
        for key, fz in _featurizer_keys(est).items():
            if fz.cache_dir is None:
                est.set_params(**{f"{key}__cache_dir": str(cache_dir)})
        out[name] = est
    return out


def _restore_settings(fitted, original):
    """Give a refitted clone the thread counts and cache directory its original asked for."""
    if not hasattr(fitted, "get_params"):
        return
    ours, theirs = fitted.get_params(deep=True), original.get_params(deep=True)
    changed = {
        k: theirs[k]
        for k in ours
        if k in theirs
        and (k.endswith("__cache_dir") or k.rsplit("__", 1)[-1] in _THREAD_PARAMS)
        and ours[k] is not theirs[k]
        and ours[k] != theirs[k]
    }
    if changed:
        fitted.set_params(**changed)


def check_table(X, y):
    """The tidy table without ``score`` and a clean index, and ``y`` as finite float64."""
    if not isinstance(X, pd.DataFrame):
        raise ValueError(f"X must be the tidy table (a pandas DataFrame), got {type(X).__name__}")
    missing = [c for c in ("metric_name", *TEXT_COLUMNS) if c not in X.columns]
    if missing:
        raise ValueError(f"X lacks the columns {missing}; it has {list(X.columns)}")
    X = X.drop(columns=[c for c in ("score",) if c in X.columns]).reset_index(drop=True)
    y = np.asarray(y, dtype=np.float64).ravel()
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
    if not np.isfinite(y).all():
        raise ValueError("y holds NaN or infinite scores")
    return X, y


def _check_estimators(estimators):
    if hasattr(estimators, "fit"):
        estimators = {type(estimators).__name__: estimators}
    if isinstance(estimators, list | tuple):
        estimators = dict(estimators)
    if not isinstance(estimators, dict) or not estimators:
        raise ConfigError(
            "estimators must be an estimator, a non-empty list of (name, estimator) pairs or a "
            "dict of them"
        )
    for name, est in estimators.items():
        if not isinstance(name, str) or not name or name == "stack":
            raise ConfigError(
                f"model names must be non-empty strings other than 'stack'; got {name!r}"
            )
        if not hasattr(est, "fit") or not hasattr(est, "predict"):
            raise ConfigError(f"model {name!r} is not an estimator: {type(est).__name__}")
    return estimators


def _assemble(names, n, y, splits, pairs, results, timings, grouping):
    """The OOFPredictions of the folds done so far (``results[k]`` is None for the others)."""
    real_preds = {m: np.full(n, np.nan) for m in names}
    fold = np.full(n, -1, dtype=np.int64)
    pair_fold, parts = [], {m: [] for m in names}
    for k, (_, test) in enumerate(splits):
        done = results[k] is not None
        if done:
            fold[test] = k
            for m in names:
                real_preds[m][test] = results[k][0][m]
        m_pairs = len(pairs[k].y)
        pair_fold.append(np.full(m_pairs, k if done else -1, dtype=np.int64))
        for m in names:
            parts[m].append(results[k][1][m] if done else np.full(m_pairs, np.nan))
    sy = np.concatenate([p.y for p in pairs]) if pairs else np.empty(0)
    return OOFPredictions(
        y=np.concatenate([y, sy]),
        fold=np.concatenate([fold, *pair_fold]),
        is_shifted=np.concatenate([np.zeros(n, bool), np.ones(len(sy), bool)]),
        relation=np.concatenate(
            [np.full(n, "real", dtype=object), *[p.relation.astype(object) for p in pairs]]
        ),
        preds=pd.DataFrame({m: np.concatenate([real_preds[m], *parts[m]]) for m in names}),
        row=np.concatenate([np.arange(n), *[p.row for p in pairs]]).astype(np.int64),
        timings=dict(timings),
        grouping=grouping,
    )


def _constant(value):
    def get(_fold):
        return value

    return get


def cross_val_oof(
    estimators,
    X,
    y,
    *,
    cv=5,
    groups=None,
    eval_sampler="default",
    shifted_set=None,
    random_state=0,
    n_jobs=1,
    dask_address=None,
    cache_dir=None,
    fit_params=None,
    on_fold=None,
    refit=False,
    show_progress=True,
):
    """Shift-aware out-of-fold predictions of one or more estimators on identical rows.

    Folds come from ``cv`` (by default :class:`ConversationKFold`: clusters of similar
    phrasing never straddle folds); augmentation runs inside each training fold only. Each
    fold's held-out rows are its real rows plus mismatched pairs built from them alone
    (:func:`heldout_pairs`), drawn once and predicted by every estimator, so the columns
    align row by row.

    Parameters
    ----------
    estimators : estimator, list of (name, estimator) or dict
        Unfitted estimators over the tidy table, cloned per fold. Pipelines that differ only
        in their last step share one fitted prefix (augmentation and featurization) per fold.
    X : DataFrame
        The tidy training table.
    y : array-like of shape (n_samples,)
    cv : int or splitter, default=5
        Number of :class:`ConversationKFold` folds, or a splitter (``split(X, y, groups)``).
    groups : array-like, optional
        Groups passed to the splitter (computed from ``X`` by :class:`ConversationKFold`).
    eval_sampler : NegativeSampler, "default" or None
        Builds the held-out mismatched pairs. ``"default"``: :func:`default_eval_sampler`
        with the first estimator's label policy; ``None``: no pairs (shift-aware = plain).
    shifted_set : tuple (X_shift, y_shift), optional
        A user-labelled shifted set instead of ``eval_sampler``; each row is scored by the
        fold model that did not train on its conversation.
    random_state : int, default=0
        Seed of the folds (for ``cv`` given as an int) and of the held-out pairs
        (:func:`fold_seed`). Estimators keep their own seeds.
    n_jobs : int, default=1
        Folds run in parallel with joblib; regressors asking for every core get their share.
    dask_address : str or distributed.Client, optional
        Run the folds on the Dask cluster at this scheduler address.
    cache_dir : str or Path, optional
        Embedding cache for featurizers that have none. With several processes the distinct
        texts are encoded once here first and the workers read them from this directory (a
        temporary one when not given; on a Dask cluster it must be on a shared filesystem).
    fit_params : dict of str to dict, or callable, optional
        Extra ``fit`` parameters per estimator name (``{"lgbm": {"model__callbacks": [...]}}``),
        or ``fit_params(k)`` returning them for fold ``k`` (``k == n_splits``: the refit).
    on_fold : callable, optional
        ``on_fold(k, partial)`` after each fold in order, where ``partial`` is the
        :class:`OOFPredictions` of the folds done so far (rows of other folds have fold -1).
        Raising (e.g. ``optuna.TrialPruned``) stops the remaining folds. Only with
        ``n_jobs=1`` do the remaining folds not run at all.
    refit : bool, default=False
        Also fit every estimator on all rows (in the same parallel batch) and return them.
    show_progress : bool, default=True

    Returns
    -------
    OOFPredictions, or (OOFPredictions, dict of fitted estimators) with ``refit=True``
    """
    estimators = _check_estimators(estimators)
    X, y = check_table(X, y)
    splitter = check_cv(cv, random_state=random_state)
    splits = list(splitter.split(X, y, groups))
    grouping = getattr(splitter, "grouping", "custom")
    names = list(estimators)
    if not callable(fit_params):
        fit_params = _constant(fit_params or {})
    start = time.perf_counter()
    parallel = dask_address is not None or n_jobs not in (1, None)

    with contextlib.ExitStack() as stack:
        if parallel:
            work_cache = cache_dir or stack.enter_context(
                tempfile.TemporaryDirectory(prefix="gbscore-embeddings-")
            )
            work = _with_cache_dir(estimators, work_cache)
            if dask_address is None:
                cores = os.cpu_count() or 1
                workers = n_jobs if n_jobs > 0 else max(1, cores + 1 + n_jobs)
                work = _limit_threads(work, min(workers, len(splits) + int(refit)))
            t0 = time.perf_counter()
            _warm_embeddings(work, X, work_cache)
            timings = {"embed_warmup": time.perf_counter() - t0}
        else:
            work = estimators if cache_dir is None else _with_cache_dir(estimators, cache_dir)
            timings = {}
        if isinstance(eval_sampler, str) and eval_sampler == "default":
            eval_sampler = default_eval_sampler(
                next(iter(estimators.values())), random_state=random_state
            )
        if shifted_set is not None:
            pairs = _given_pairs(shifted_set, X, splits)
        else:
            pairs = [
                heldout_pairs(eval_sampler, X, y, test, random_state=random_state, fold=k)
                for k, (_, test) in enumerate(splits)
            ]
        groups_of = _prefix_groups(work)
        tasks = [
            delayed(_fold_task)(work, groups_of, X, y, train, test, pairs[k], fit_params(k), False)
            for k, (train, test) in enumerate(splits)
        ]
        if refit:
            tasks.append(
                delayed(_fold_task)(
                    work,
                    groups_of,
                    X,
                    y,
                    np.arange(len(y)),
                    None,
                    None,
                    fit_params(len(splits)),
                    True,
                )
            )
        results = [None] * len(splits)
        refitted = None
        with _parallel_backend(n_jobs, dask_address) as jobs:
            stream = Parallel(n_jobs=jobs, return_as="generator")(tasks)
            bar = tqdm(total=len(tasks), desc="CV folds", disable=not show_progress)
            try:
                for k, result in enumerate(stream):
                    bar.update()
                    for key, s in result[2].items():
                        prefix = "refit_" if k == len(splits) else ""
                        timings[prefix + key] = timings.get(prefix + key, 0.0) + s
                    if k == len(splits):
                        refitted = result[3]
                        continue
                    results[k] = result
                    if on_fold is not None:
                        on_fold(
                            k,
                            _assemble(names, len(y), y, splits, pairs, results, timings, grouping),
                        )
            finally:
                bar.close()

    timings["wall"] = time.perf_counter() - start
    oof = _assemble(names, len(y), y, splits, pairs, results, timings, grouping)
    if not refit:
        return oof
    for name, est in refitted.items():
        _restore_settings(est, estimators[name])
    return oof, refitted
