"""The samplers: :class:`NegativeSampler` on the tidy table, :class:`EmbeddingNoise` on features.

Both add rows during ``fit`` only (``fit_resample``) and record which rows are synthetic and
their weights in ``sample_indices_``, ``synthetic_mask_`` and ``sample_weight_``.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from .._schema import TEXT_COLUMNS, conversation_groups
from ..exceptions import DataError
from ._labels import BandLabels, LabelPolicy, SimilarityLabels

__all__ = ["STRATEGIES", "EmbeddingNoise", "NegativeSampler"]

STRATEGIES = ("swap_random", "swap_near", "swap_far", "text_shuffle", "response_mismatch")


def _metric_similarity(names, metric_embeddings):
    """Cosine similarity between metrics.

    From the given metric embeddings when they cover every name; otherwise from TF-IDF over
    the words of the names, which needs no model and already captures shared families and
    shared words ("toxicity", "privacy").
    """
    if metric_embeddings is not None:
        table = _as_embedding_table(metric_embeddings)
        if set(names) <= set(table.index):
            vec = normalize(table.loc[list(names)].to_numpy(dtype=np.float64))
            return vec @ vec.T
    words = [str(n).replace("/", " ").replace("_", " ") for n in names]
    tfidf = TfidfVectorizer(token_pattern=r"[^\s]+", sublinear_tf=True).fit_transform(words)
    return (tfidf @ tfidf.T).toarray()


def _as_embedding_table(metric_embeddings):
    if isinstance(metric_embeddings, pd.DataFrame):
        return metric_embeddings
    names, array = metric_embeddings
    return pd.DataFrame(np.asarray(array), index=list(names))


def _sqrt_balanced(y, cap):
    """Square-root inverse-frequency weight of each label's whole-score class, capped, mean 1."""
    classes = np.clip(np.rint(y), 0, 10).astype(np.int64)
    counts = np.bincount(classes, minlength=11).astype(np.float64)
    present = counts[counts > 0]
    w = np.sqrt(present.mean() / counts[classes])
    w = np.clip(w, 1.0 / cap, cap)
    return w / w.mean()


class NegativeSampler(BaseEstimator):
    """Add synthetic mismatched rows to the training table (``fit_resample`` only).

    Each strategy's value is how many synthetic rows it adds per real row (0.5 adds one for
    every other row; 2 adds two per row). Strategies:

    * ``swap_random``: the row's metric replaced by another metric drawn uniformly.
    * ``swap_near``: replaced by one of its ``n_near`` most similar metrics (hard negatives).
    * ``swap_far``: replaced by one from the least similar half.
    * ``text_shuffle``: another row's conversation (system prompt, prompt, response) under this
      row's metric.
    * ``response_mismatch``: this row's prompts with another row's response.

    Parameters
    ----------
    swap_random, swap_near, swap_far, text_shuffle, response_mismatch : float >= 0
        Synthetic rows per real row for each strategy.
    label_policy : {"similarity", "band"} or LabelPolicy, default="similarity"
        How synthetic rows are labelled: :class:`SimilarityLabels` (default) or
        :class:`BandLabels`, or a configured instance of either.
    n_near : int, default=5
        Size of the neighbourhood ``swap_near`` draws from.
    metric_embeddings : DataFrame or (names, array), default=None
        Vectors used for metric similarity (e.g. the competition's metric embeddings). When
        absent or not covering every metric, TF-IDF over the metric names' words is used.
    metric_names : list of str, default=None
        Extra metrics that may be swapped in besides those present in ``X``. When ``X`` and
        ``metric_names`` together hold one metric, the metrics of ``metric_embeddings`` are
        swapped in.
    synthetic_weight : float > 0, default=1.0
        Value of ``sample_weight_`` for synthetic rows (real rows get 1).
    class_weight : {"sqrt_balanced"} or None, default=None
        ``"sqrt_balanced"`` multiplies ``sample_weight_`` by the square root of the inverse
        frequency of each row's label (rounded to a whole score, over the resampled rows),
        capped at ``class_weight_cap`` and scaled to mean 1, so the rare mid scores count
        more without letting a handful of rows dominate.
    class_weight_cap : float >= 1, default=5.0
        Class weights (before scaling to mean 1) are clipped to ``[1/cap, cap]``, where 1 is
        the weight of a class of average size.
    label_noise : float >= 0, default=0.0
        Standard deviation of Gaussian noise added to every output label (then clipped to
        [0, 10]): the judge's own scores are noisy, and exact 9s and 10s invite overfitting.
    random_state : int, RandomState or None, default=None
        Seed; two calls with the same seed give the same rows and labels.

    Attributes
    ----------
    sample_indices_ : ndarray of shape (n_out,)
        Row of ``X`` each output row was built from (its metric's source row).
    synthetic_mask_ : ndarray of bool, shape (n_out,)
        True for the rows this sampler added.
    groups_ : ndarray of int, shape (n_out,)
        Conversation group of the source row; a real row and its synthetic copies share it.
    strategy_ : ndarray of str, shape (n_out,)
        ``"real"`` or the strategy that made the row.
    relation_ : ndarray of str, shape (n_out,)
        ``"real"`` or the label policy's relation for the row.
    sample_weight_ : ndarray of shape (n_out,)
        1 for real rows, ``synthetic_weight`` for synthetic ones (times the class weight).
    metric_names_ : ndarray of str
        The metric vocabulary swaps draw from.
    label_policy_ : LabelPolicy
        The fitted policy.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"metric_name": ["a/x", "b", "c"], "system_prompt": "",
    ...                   "user_prompt": ["hi", "yo", "hey"], "response": ["r1", "r2", "r3"]})
    >>> sampler = NegativeSampler(swap_random=1, swap_near=0, swap_far=0,
    ...                           response_mismatch=0, random_state=0)
    >>> Xr, yr = sampler.fit_resample(X, [9, 10, 9])
    >>> len(Xr), int(sampler.synthetic_mask_.sum())
    (6, 3)
    """

    _estimator_type = "sampler"

    _parameter_constraints: dict = {
        **{s: [Interval(numbers.Real, 0, None, closed="left")] for s in STRATEGIES},
        "label_policy": [StrOptions({"similarity", "band"}), LabelPolicy],
        "n_near": [Interval(numbers.Integral, 1, None, closed="left")],
        "metric_embeddings": [pd.DataFrame, tuple, None],
        "metric_names": ["array-like", None],
        "synthetic_weight": [Interval(numbers.Real, 0, None, closed="neither")],
        "class_weight": [StrOptions({"sqrt_balanced"}), None],
        "class_weight_cap": [Interval(numbers.Real, 1, None, closed="left")],
        "label_noise": [Interval(numbers.Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        swap_random=1.0,
        swap_near=0.5,
        swap_far=0.5,
        text_shuffle=0.0,
        response_mismatch=0.25,
        label_policy="similarity",
        n_near=5,
        metric_embeddings=None,
        metric_names=None,
        synthetic_weight=1.0,
        class_weight=None,
        class_weight_cap=5.0,
        label_noise=0.0,
        random_state=None,
    ):
        self.swap_random = swap_random
        self.swap_near = swap_near
        self.swap_far = swap_far
        self.text_shuffle = text_shuffle
        self.response_mismatch = response_mismatch
        self.label_policy = label_policy
        self.n_near = n_near
        self.metric_embeddings = metric_embeddings
        self.metric_names = metric_names
        self.synthetic_weight = synthetic_weight
        self.class_weight = class_weight
        self.class_weight_cap = class_weight_cap
        self.label_noise = label_noise
        self.random_state = random_state

    def fit(self, X, y):
        """Validate and fit the vocabulary and label policy; use :meth:`fit_resample`."""
        self.fit_resample(X, y)
        return self

    def fit_resample(self, X, y, **params):
        """Return ``X`` and ``y`` with synthetic rows appended after the real ones.

        Parameters
        ----------
        X : DataFrame
            Tidy table with ``metric_name`` and the text columns.
        y : array-like of shape (n_samples,)
            Scores in [0, 10].

        Returns
        -------
        X_resampled : DataFrame
            Real rows (in order, index reset) then synthetic rows.
        y_resampled : ndarray of float
        """
        self._validate_params()
        X, y = self._check_input(X, y)
        rng = check_random_state(self.random_state)
        n = len(X)

        names = pd.unique(
            np.concatenate(
                [
                    X["metric_name"].to_numpy(dtype=object),
                    np.asarray(
                        [] if self.metric_names is None else list(self.metric_names), dtype=object
                    ),
                ]
            )
        )
        if len(names) < 2 and self.metric_embeddings is not None:
            # Rows of one metric alone: swap in the metrics the given embeddings name (the
            # competition's metric_names.json), as metric_names would.
            table = _as_embedding_table(self.metric_embeddings)
            names = pd.unique(np.concatenate([names, table.index.to_numpy(dtype=object)]))
        if len(names) < 2:
            raise DataError(
                "NegativeSampler needs at least 2 distinct metrics to swap between; "
                f"got {len(names)} ({list(names)!r}) in column 'metric_name'. Add training rows "
                "of another metric, or pass metric_names or metric_embeddings naming others "
                "(on the command line: metric_name_embeddings.npy with metric_names.json)"
            )
        self.metric_names_ = np.asarray(names, dtype=object)
        similarity = _metric_similarity(list(names), self.metric_embeddings)
        policy = self.label_policy
        if isinstance(policy, str):
            policy = SimilarityLabels() if policy == "similarity" else BandLabels()
        self.label_policy_ = clone(policy).fit(names, similarity)

        metric_idx = pd.Index(names).get_indexer(X["metric_name"])
        groups = conversation_groups(X)
        n_metrics = len(names)
        order = np.argsort(
            -np.where(np.eye(n_metrics, dtype=bool), -np.inf, similarity), axis=1, kind="stable"
        )
        near = order[:, : min(self.n_near, n_metrics - 1)]
        # With 2 metrics the usual far half is empty: the other metric is both near and far.
        far = order[:, min(max(1, (n_metrics - 1) // 2), n_metrics - 2) : n_metrics - 1]

        parts = []  # (strategy, source rows, target metric or None, donor rows or None)
        for strategy in STRATEGIES:
            src = self._draw_sources(getattr(self, strategy), n, rng)
            if len(src) == 0:
                continue
            m = metric_idx[src]
            if strategy == "swap_random":
                target = rng.randint(0, n_metrics - 1, size=len(src))
                target = target + (target >= m)
                parts.append((strategy, src, target, None))
            elif strategy in ("swap_near", "swap_far"):
                pool = near if strategy == "swap_near" else far
                target = pool[m, rng.randint(0, pool.shape[1], size=len(src))]
                parts.append((strategy, src, target, None))
            else:
                donor = self._draw_donors(src, metric_idx, groups, strategy, rng)
                keep = donor >= 0
                parts.append((strategy, src[keep], None, donor[keep]))

        frames = [X]
        y_parts = [y]
        sources = [np.arange(n)]
        strategies = [np.full(n, "real", dtype=object)]
        relations = [np.full(n, "real", dtype=object)]
        out_groups = [groups]
        for strategy, src, target, donor in parts:
            rows = X.iloc[src].reset_index(drop=True)
            if strategy.startswith("swap"):
                rows["metric_name"] = names[target]
                policy_source, policy_target, group = metric_idx[src], target, groups[src]
            elif strategy == "text_shuffle":
                # the donor's whole conversation under this row's metric: as if the donor's
                # metric had been swapped for this one.
                donor_rows = X.iloc[donor].reset_index(drop=True)
                rows[list(TEXT_COLUMNS)] = donor_rows[list(TEXT_COLUMNS)]
                policy_source, policy_target, group = (
                    metric_idx[donor],
                    metric_idx[src],
                    groups[donor],
                )
            else:  # response_mismatch
                rows["response"] = X["response"].to_numpy(dtype=object)[donor]
                policy_source, policy_target, group = metric_idx[src], metric_idx[src], groups[src]
            source_score = y[donor] if strategy == "text_shuffle" else y[src]
            relation = self.label_policy_.relation(
                policy_source, policy_target, np.full(len(src), strategy, dtype=object)
            )
            labels = self.label_policy_.label(relation, source_score, rng)
            frames.append(rows)
            y_parts.append(np.clip(labels, 0.0, 10.0))
            sources.append(src)
            strategies.append(np.full(len(src), strategy, dtype=object))
            relations.append(relation)
            out_groups.append(group)

        X_out = pd.concat(frames, ignore_index=True)
        y_out = np.concatenate(y_parts).astype(np.float64)
        self.sample_indices_ = np.concatenate(sources)
        self.strategy_ = np.concatenate(strategies)
        self.relation_ = np.concatenate(relations)
        self.synthetic_mask_ = self.strategy_ != "real"
        self.groups_ = np.concatenate(out_groups)
        if self.label_noise > 0:
            y_out = np.clip(y_out + rng.normal(0.0, self.label_noise, len(y_out)), 0.0, 10.0)
        weight = np.where(self.synthetic_mask_, float(self.synthetic_weight), 1.0)
        if self.class_weight == "sqrt_balanced":
            weight = weight * _sqrt_balanced(y_out, self.class_weight_cap)
        self.sample_weight_ = weight
        return X_out, y_out

    @staticmethod
    def _draw_sources(ratio, n, rng):
        """Every row ``floor(ratio)`` times, plus a random ``frac(ratio)`` share once more."""
        whole = int(np.floor(ratio))
        extra = int(round((ratio - whole) * n))
        src = [np.tile(np.arange(n), whole)]
        if extra:
            src.append(rng.choice(n, size=extra, replace=False))
        return np.concatenate(src).astype(np.int64)

    @staticmethod
    def _draw_donors(src, metric_idx, groups, strategy, rng):
        """A donor row per source row from another conversation (and, for text shuffle,
        another metric); -1 where none was found after a few tries."""
        n = len(groups)
        donor = rng.randint(0, n, size=len(src))
        for _ in range(8):
            bad = groups[donor] == groups[src]
            if strategy == "text_shuffle":
                bad |= metric_idx[donor] == metric_idx[src]
            if not bad.any():
                break
            donor[bad] = rng.randint(0, n, size=int(bad.sum()))
        else:
            donor[bad] = -1
        return donor

    def _check_input(self, X, y):
        if not isinstance(X, pd.DataFrame) or "metric_name" not in X.columns:
            got = (
                type(X).__name__
                if not isinstance(X, pd.DataFrame)
                else f"columns {list(X.columns)}"
            )
            raise ValueError(
                "NegativeSampler works on the tidy table (a DataFrame with 'metric_name' and "
                f"the text columns {TEXT_COLUMNS}); got {got}. Put it before the featurizer."
            )
        missing = [c for c in TEXT_COLUMNS if c not in X.columns]
        if missing:
            raise ValueError(f"NegativeSampler: X lacks the text columns {missing}")
        y = np.asarray(y, dtype=np.float64).ravel()
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
        if len(X) == 0:
            raise ValueError("NegativeSampler got an empty table")
        if not np.isfinite(y).all() or (y < 0).any() or (y > 10).any():
            raise ValueError("y must hold finite scores in [0, 10]")
        return X.reset_index(drop=True), y

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.target_tags.required = True
        return tags


class EmbeddingNoise(BaseEstimator):
    """Add noisy copies of featurized rows during ``fit`` only (the embedding-noise strategy).

    Unlike :class:`NegativeSampler`, which works on the tidy table so its labels can follow
    metric names, this sampler works on the numeric output of the featurizer: each copy is a
    real row with Gaussian noise added to its embedding-block columns (``<block>__<i>``; all
    columns when none are named that way) and keeps the row's label. Place it after the
    ``features`` step of a :class:`~gbscore.pipeline.ScorePipeline`.

    Parameters
    ----------
    ratio : float >= 0, default=0.5
        Noisy copies per row.
    scale : float >= 0, default=0.02
        Noise standard deviation, relative to each column's standard deviation.
    random_state : int, RandomState or None, default=None

    Attributes
    ----------
    sample_indices_, synthetic_mask_, sample_weight_ : ndarray
        As for :class:`NegativeSampler`.
    """

    _estimator_type = "sampler"
    _parameter_constraints: dict = {
        "ratio": [Interval(numbers.Real, 0, None, closed="left")],
        "scale": [Interval(numbers.Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, *, ratio=0.5, scale=0.02, random_state=None):
        self.ratio = ratio
        self.scale = scale
        self.random_state = random_state

    def fit(self, X, y):
        self.fit_resample(X, y)
        return self

    def fit_resample(self, X, y, **params):
        from ..features._interactions import embedding_blocks

        self._validate_params()
        rng = check_random_state(self.random_state)
        y = np.asarray(y, dtype=np.float64).ravel()
        frame = X if isinstance(X, pd.DataFrame) else None
        A = np.asarray(X, dtype=np.float32)
        if A.ndim != 2 or len(A) != len(y):
            raise ValueError(
                f"EmbeddingNoise needs a 2-D X with one row per label; got {A.shape} and "
                f"{len(y)} labels"
            )
        src = NegativeSampler._draw_sources(self.ratio, len(A), rng)
        cols = np.arange(A.shape[1])
        if frame is not None:
            blocks = embedding_blocks(frame.columns)
            if blocks:
                cols = np.concatenate(list(blocks.values()))
        noisy = A[src].copy()
        sd = A[:, cols].std(axis=0) if len(A) > 1 else np.ones(len(cols), dtype=np.float32)
        noisy[:, cols] += rng.normal(size=(len(src), len(cols))).astype(np.float32) * (
            self.scale * sd
        )
        out = np.vstack([A, noisy])
        self.sample_indices_ = np.concatenate([np.arange(len(A)), src])
        self.synthetic_mask_ = np.r_[np.zeros(len(A), bool), np.ones(len(src), bool)]
        self.sample_weight_ = np.ones(len(out))
        if frame is not None:
            out = pd.DataFrame(out, columns=frame.columns).astype(frame.dtypes.to_dict())
        return out, np.r_[y, y[src]]
