"""Shift-aware cross-validation.

Plain K-fold RMSE on train rows says little about the leaderboard: train is ~91% scores of
9-10, the test set is full of conversations paired with a metric that does not fit them
(DOMAIN.md). :func:`cross_validate` therefore scores each fold on

* the held-out *real* rows (grouped by conversation, so no held-out text was seen in
  training), giving the plain CV RMSE, and
* those rows plus mismatched pairs built **only from the held-out rows** (by a
  :class:`~gbscore.augment.NegativeSampler` with the pipeline's own label policy, or from a
  labelled shifted set the user supplies), giving the shift-aware CV RMSE.

Augmentation happens inside each training fold only, because the sampler is a pipeline step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.model_selection import GroupKFold
from tqdm.auto import tqdm

from .augment import NegativeSampler, conversation_groups

__all__ = [
    "CVResult",
    "SCORE_BINS",
    "cross_validate",
    "default_eval_sampler",
    "per_bin_rmse",
    "rmse",
]

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


def default_eval_sampler(estimator=None, *, random_state=0):
    """The sampler that builds held-out mismatched pairs.

    Its mix adds ~1.6 mismatched rows per real row (about 60% of the evaluation set, as in the
    shifted test set DOMAIN.md describes) and it copies the label policy and metric
    embeddings of the estimator's own ``augment`` step when there is one.
    """
    kw = {}
    steps = dict(getattr(estimator, "steps", []))
    augment = steps.get("augment")
    if isinstance(augment, NegativeSampler):
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


@dataclass
class CVResult:
    """Out-of-fold predictions and scores of :func:`cross_validate`."""

    y: np.ndarray
    oof: np.ndarray
    fold: np.ndarray
    shift_y: np.ndarray
    shift_pred: np.ndarray
    shift_fold: np.ndarray
    shift_relation: np.ndarray
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def rmse_plain(self):
        """RMSE on held-out real rows."""
        return rmse(self.y, self.oof)

    @property
    def rmse_shift(self):
        """RMSE on held-out real rows plus the mismatched pairs built from them."""
        return rmse(
            np.concatenate([self.y, self.shift_y]), np.concatenate([self.oof, self.shift_pred])
        )

    @property
    def rmse_shifted_only(self):
        """RMSE on the mismatched pairs alone."""
        return rmse(self.shift_y, self.shift_pred)

    def summary(self):
        """Scores as a JSON-ready dict, including per-bin RMSE on both sets."""
        all_y = np.concatenate([self.y, self.shift_y])
        all_p = np.concatenate([self.oof, self.shift_pred])
        return {
            "rmse_plain": self.rmse_plain,
            "rmse_shift": self.rmse_shift,
            "rmse_shifted_only": self.rmse_shifted_only,
            "n_real": int(len(self.y)),
            "n_shifted": int(len(self.shift_y)),
            "per_bin_plain": per_bin_rmse(self.y, self.oof).to_dict(orient="records"),
            "per_bin_shift": per_bin_rmse(all_y, all_p).to_dict(orient="records"),
            "seconds": self.seconds,
        }


def _fit_fold(estimator, X, y, train, test, eval_sampler, shifted, fold):
    model = clone(estimator).fit(X.iloc[train].reset_index(drop=True), y[train])
    X_test = X.iloc[test].reset_index(drop=True)
    pred = model.predict(X_test)
    if shifted is not None:
        Xs, ys, rel = shifted
        shift_X, shift_y, relation = Xs, ys, rel
    elif eval_sampler is not None:
        sampler = clone(eval_sampler).set_params(random_state=_fold_seed(eval_sampler, fold))
        X_all, y_all = sampler.fit_resample(X_test, y[test])
        mask = sampler.synthetic_mask_
        shift_X, shift_y, relation = (
            X_all[mask].reset_index(drop=True),
            y_all[mask],
            sampler.relation_[mask],
        )
    else:
        shift_X, shift_y, relation = None, np.empty(0), np.empty(0, dtype=object)
    shift_pred = model.predict(shift_X) if shift_X is not None and len(shift_X) else np.empty(0)
    return fold, test, pred, shift_y, shift_pred, relation


def _fold_seed(sampler, fold):
    seed = sampler.random_state if isinstance(sampler.random_state, int | np.integer) else 0
    return int(seed) * 1000 + fold


def cross_validate(
    estimator,
    X,
    y,
    *,
    n_splits=5,
    eval_sampler="default",
    shifted_set=None,
    groups=None,
    random_state=0,
    n_jobs=1,
    show_progress=True,
):
    """Grouped K-fold CV that reports both the plain and the shift-aware RMSE.

    Parameters
    ----------
    estimator : estimator
        Usually a :class:`~gbscore.pipeline.ScorePipeline`; cloned per fold.
    X : DataFrame
        The tidy training table.
    y : array-like
        Scores.
    n_splits : int, default=5
    eval_sampler : NegativeSampler, "default" or None
        Builds mismatched pairs from each fold's held-out rows. ``"default"`` uses
        :func:`default_eval_sampler`; ``None`` disables (shift-aware = plain).
    shifted_set : tuple (X_shift, y_shift), optional
        A user-labelled shifted set used instead of ``eval_sampler``. Each row is scored by
        the fold model that did not train on its conversation (rows whose conversation is not
        in ``X`` are spread over the folds).
    groups : array-like, optional
        Conversation groups; computed from the texts by default.
    random_state : int, default=0
        Seed of the fold shuffle and of the evaluation sampler.
    n_jobs : int, default=1
        Folds run in parallel with joblib.
    show_progress : bool, default=True

    Returns
    -------
    CVResult
    """
    import time

    start = time.perf_counter()
    X = X.reset_index(drop=True)
    y = np.asarray(y, dtype=np.float64)
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
    if groups is None:
        groups = conversation_groups(X)
    n_groups = len(np.unique(groups))
    if n_splits < 2 or n_splits > n_groups:
        raise ValueError(
            f"n_splits={n_splits} must be between 2 and the number of conversations ({n_groups})"
        )
    if isinstance(eval_sampler, str) and eval_sampler == "default":
        eval_sampler = default_eval_sampler(estimator, random_state=random_state)
    splits = list(
        GroupKFold(n_splits=n_splits, shuffle=True, random_state=random_state).split(X, y, groups)
    )

    shifted_per_fold = [None] * n_splits
    if shifted_set is not None:
        Xs, ys = shifted_set
        Xs = Xs.reset_index(drop=True)
        ys = np.asarray(ys, dtype=np.float64)
        fold_of_group = {}
        for k, (_, test) in enumerate(splits):
            for g in np.unique(groups[test]):
                fold_of_group[g] = k
        key = pd.util.hash_pandas_object(
            Xs[["system_prompt", "user_prompt", "response"]].astype(str), index=False
        )
        train_key = pd.util.hash_pandas_object(
            X[["system_prompt", "user_prompt", "response"]].astype(str), index=False
        )
        group_of_key = dict(zip(train_key.to_numpy(), groups, strict=True))
        assign = np.array(
            [
                fold_of_group.get(group_of_key.get(k), i % n_splits)
                for i, k in enumerate(key.to_numpy())
            ]
        )
        for k in range(n_splits):
            m = assign == k
            shifted_per_fold[k] = (
                Xs[m].reset_index(drop=True),
                ys[m],
                np.full(int(m.sum()), "given", dtype=object),
            )
        eval_sampler = None

    jobs = (
        delayed(_fit_fold)(estimator, X, y, train, test, eval_sampler, shifted_per_fold[k], k)
        for k, (train, test) in enumerate(splits)
    )
    results = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    oof = np.full(len(y), np.nan)
    fold = np.full(len(y), -1)
    sy, sp, sf, sr = [], [], [], []
    for k, test, pred, shift_y, shift_pred, relation in tqdm(
        results, total=n_splits, desc="cross-validation folds", disable=not show_progress
    ):
        oof[test] = pred
        fold[test] = k
        sy.append(shift_y)
        sp.append(shift_pred)
        sf.append(np.full(len(shift_y), k))
        sr.append(relation)
    return CVResult(
        y=y,
        oof=oof,
        fold=fold,
        shift_y=np.concatenate(sy),
        shift_pred=np.concatenate(sp),
        shift_fold=np.concatenate(sf),
        shift_relation=np.concatenate(sr),
        seconds=time.perf_counter() - start,
    )
