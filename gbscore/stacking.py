"""Cross-validated stacking over several scoring pipelines.

::

    for each fold k of a grouped K-fold split (conversations never straddle folds):
        held-out rows  = the real rows of fold k
        shifted pairs  = mismatched pairs built from those held-out rows only
                         (the same pairs for every base model)
        for each group of base pipelines that differ only in their regressor:
            augment + featurize the training rows once, fit every regressor of the group
            predict the held-out rows and the shifted pairs
    meta-learner  = non-negative least squares (or Ridge) on the out-of-fold columns
    final bases   = every base pipeline refitted on all rows

:func:`compute_oof` returns the out-of-fold table (:class:`OOFPredictions`), :func:`fit_meta`
fits the meta-learner on it, and :class:`StackedScoreRegressor` does both plus the final refit
as one scikit-learn estimator over the tidy table.

Why the held-out rows include mismatched pairs: the test set this problem is scored on pairs
many conversations with a metric that does not fit them (DOMAIN.md), so a meta-learner fitted
on real rows only would learn to trust whichever model predicts ~9 everywhere. The synthetic
rows of the *training* augmentation never reach the meta-learner: they were seen by the models
that predict them.

Folds run in parallel with joblib (``n_jobs``), or on a Dask cluster when ``dask_address`` is
given. Workers in other processes read the embeddings from the disk cache (``cache_dir``),
which is filled once in the calling process before the folds start; for workers on other
machines ``cache_dir`` must be on a filesystem they share, otherwise they encode the texts
again themselves.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import numbers
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, parallel_config
from scipy.optimize import nnls
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge
from sklearn.model_selection import GroupKFold
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from ._optional import import_optional
from .augment import conversation_groups
from .data import TEXT_COLUMNS
from .exceptions import ConfigError, GbscoreError
from .features import EmbeddingFeaturizer
from .models import CATEGORICAL_COLUMNS
from .validation import CVResult, default_eval_sampler, rmse

__all__ = [
    "DEFAULT_BASE_MODELS",
    "MetaModel",
    "OOFPredictions",
    "StackedScoreRegressor",
    "compute_oof",
    "cross_fit_meta",
    "feature_importance_table",
    "fit_meta",
]

log = logging.getLogger("gbscore")

#: The base models of the default stack (one pipeline each, sharing the featurization).
DEFAULT_BASE_MODELS = ("lightgbm", "catboost", "ridge")

_ROW_SETS = ("shift_aware", "real")
_FORMAT = "gbscore-oof/1"


# --------------------------------------------------------------------------------------
# Out-of-fold predictions
# --------------------------------------------------------------------------------------


@dataclass
class OOFPredictions:
    """Out-of-fold predictions of several models on the same held-out rows.

    The first ``n_real`` rows are the real training rows in their original order; the rest are
    the mismatched pairs built from each fold's held-out rows. Every model column was predicted
    by a model that saw neither the row nor any synthetic copy of its conversation.

    Attributes
    ----------
    y : ndarray of float, shape (n,)
        True score (real rows) or the evaluation sampler's label (shifted pairs).
    fold : ndarray of int, shape (n,)
        The fold whose model predicted the row.
    is_shifted : ndarray of bool, shape (n,)
        True for the held-out mismatched pairs.
    relation : ndarray of str, shape (n,)
        ``"real"``, or the label policy's relation of a shifted pair (``"unrelated"``,
        ``"related"``, ``"general"``, ``"mismatch"``).
    preds : DataFrame, shape (n, n_models)
        One column of predictions per model.
    row : ndarray of int, shape (n,)
        Position in the training table of the row (for shifted pairs: of the row the pair was
        built from).
    timings : dict
        Seconds spent, e.g. ``{"features": ..., "model:lightgbm": ...}``, summed over folds.
    """

    y: np.ndarray
    fold: np.ndarray
    is_shifted: np.ndarray
    relation: np.ndarray
    preds: pd.DataFrame
    row: np.ndarray
    timings: dict = field(default_factory=dict)

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
        """Boolean mask of the rows in a row set: ``"shift_aware"`` (all) or ``"real"``."""
        if rows not in _ROW_SETS:
            raise ValueError(f"rows must be one of {_ROW_SETS}, got {rows!r}")
        return np.ones(len(self.y), dtype=bool) if rows == "shift_aware" else ~self.is_shifted

    def scores(self):
        """RMSE per model: plain (real rows), shift-aware (all rows), shifted pairs only.

        Returns
        -------
        DataFrame
            Indexed by model name, sorted by shift-aware RMSE.
        """
        real = ~self.is_shifted
        out = []
        for name in self.models:
            p = self.preds[name].to_numpy()
            out.append(
                {
                    "model": name,
                    "rmse_plain": rmse(self.y[real], p[real]),
                    "rmse_shift": rmse(self.y, p),
                    "rmse_shifted_only": rmse(self.y[~real], p[~real]),
                }
            )
        return pd.DataFrame(out).set_index("model").sort_values("rmse_shift")

    def summary(self, model):
        """The scores of one model as a JSON-ready dict, including per-bin RMSE."""
        return self.to_cv_result(model).summary()

    def to_cv_result(self, model):
        """The column of one model as a :class:`~gbscore.validation.CVResult`."""
        if model not in self.models:
            raise KeyError(f"no model {model!r} in these predictions; they hold {self.models}")
        p = self.preds[model].to_numpy()
        real = ~self.is_shifted
        order = np.argsort(self.row[real], kind="stable")
        return CVResult(
            y=self.y[real][order],
            oof=p[real][order],
            fold=self.fold[real][order],
            shift_y=self.y[~real],
            shift_pred=p[~real],
            shift_fold=self.fold[~real],
            shift_relation=self.relation[~real],
            seconds=float(sum(self.timings.values())),
        )

    @classmethod
    def from_cv_result(cls, cv, model):
        """Wrap a :class:`~gbscore.validation.CVResult` as a one-model table."""
        n, m = len(cv.y), len(cv.shift_y)
        return cls(
            y=np.concatenate([cv.y, cv.shift_y]),
            fold=np.concatenate([cv.fold, cv.shift_fold]).astype(np.int64),
            is_shifted=np.concatenate([np.zeros(n, bool), np.ones(m, bool)]),
            relation=np.concatenate(
                [np.full(n, "real", dtype=object), np.asarray(cv.shift_relation, dtype=object)]
            ),
            preds=pd.DataFrame({model: np.concatenate([cv.oof, cv.shift_pred])}),
            row=np.concatenate([np.arange(n), np.full(m, -1)]).astype(np.int64),
            timings={"total": cv.seconds},
        )

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
        )

    def save(self, path):
        """Write to ``path`` as a NumPy ``.npz`` file (no pickles); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
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
        }
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".npz")
        os.close(fd)
        try:
            np.savez_compressed(tmp, **arrays)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return path

    @classmethod
    def load(cls, path):
        """Read a file written by :meth:`save`."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise GbscoreError(
                f"{path} is not a readable out-of-fold predictions file: {exc}"
            ) from exc
        if str(data.get("format", "")) != _FORMAT:
            raise GbscoreError(
                f"{path} is not a gbscore out-of-fold file (expected format {_FORMAT})"
            )
        return cls(
            y=data["y"],
            fold=data["fold"],
            is_shifted=data["is_shifted"],
            relation=data["relation"].astype(object),
            preds=pd.DataFrame(data["preds"], columns=[str(m) for m in data["models"]]),
            row=data["row"],
            timings=json.loads(str(data["timings"])),
        )


def _as_pipeline(spec, *, metric_embeddings, cache_dir, show_progress, random_state):
    """A base model: a config dict (built with build_pipeline) or an unfitted pipeline."""
    from .pipeline import build_pipeline

    if isinstance(spec, dict):
        spec = dict(spec)
        if spec.get("model") == "stack":
            raise ConfigError("a base model of a stack cannot itself be a stack")
        spec.setdefault("random_state", random_state)
        return build_pipeline(
            spec,
            metric_embeddings=metric_embeddings,
            cache_dir=cache_dir,
            show_progress=show_progress,
        )
    if hasattr(spec, "steps") and hasattr(spec, "fit"):
        return clone(spec)
    raise ConfigError(
        f"a base model must be a config dict or an unfitted pipeline, got {type(spec).__name__}"
    )


def _prefix_key(name, spec):
    """Configs with equal keys build pipelines that differ only in their regressor."""
    if not isinstance(spec, dict):
        return ("estimator", name)
    rest = {k: v for k, v in spec.items() if k != "model"}
    rest["params"] = {
        k: v
        for k, v in (spec.get("params") or {}).items()
        if k != "model" and not k.startswith("model__")
    }
    return ("config", json.dumps(rest, sort_keys=True, default=repr))


def _group_configs(configs):
    groups = {}
    for name, spec in configs.items():
        groups.setdefault(_prefix_key(name, spec), []).append(name)
    return list(groups.values())


def _is_sampler(step):
    return hasattr(step, "fit_resample")


def _fit_group(pipes, X, y):
    """Fit pipelines that differ only in their last step, running the shared prefix once.

    Equivalent to ``pipe.fit(X, y)`` for each pipeline (same steps, same seeds), but the
    augmentation and featurization are fitted once and the fitted prefix objects are shared by
    the returned pipelines. Returns ``(fitted pipelines, prefix seconds, model seconds)``.
    """
    first = next(iter(pipes.values()))
    start = time.perf_counter()
    fitted_steps, weight = [], None
    Xt, yt = X, y
    for name, step in first.steps[:-1]:
        if step is None or step == "passthrough":
            fitted_steps.append((name, step))
            continue
        step = clone(step)
        if _is_sampler(step):
            Xt, yt = step.fit_resample(Xt, yt)
            weight = getattr(step, "sample_weight_", weight)
        else:
            Xt = step.fit_transform(Xt, yt)
        fitted_steps.append((name, step))
    prefix_seconds = time.perf_counter() - start
    out, model_seconds = {}, {}
    for name, pipe in pipes.items():
        start = time.perf_counter()
        last_name, last = pipe.steps[-1]
        model = clone(last)
        fit_kw = {}
        if getattr(pipe, "route_sample_weight", False) and weight is not None:
            fit_kw["sample_weight"] = weight
        model.fit(Xt, yt, **fit_kw)
        fitted = clone(pipe)
        fitted.steps = [*fitted_steps, (last_name, model)]
        out[name] = fitted
        model_seconds[name] = time.perf_counter() - start
    return out, prefix_seconds, model_seconds


def _transform_prefix(pipe, X):
    """Run a fitted pipeline's steps before the regressor, skipping samplers (as predict does)."""
    for _, step in pipe.steps[:-1]:
        if step is None or step == "passthrough" or _is_sampler(step):
            continue
        X = step.transform(X)
    return X


def _predict_group(pipes, X):
    """Predictions of pipelines sharing one fitted prefix (transformed once)."""
    if X is None or len(X) == 0:
        return {name: np.empty(0) for name in pipes}
    first = next(iter(pipes.values()))
    Xt = _transform_prefix(first, X)
    return {
        name: np.asarray(pipe.steps[-1][1].predict(Xt), dtype=np.float64)
        for name, pipe in pipes.items()
    }


def _fold_task(specs, groups, X, y, train, held_out, shifted_X, keep_models):
    """Fit every base group on ``train`` rows, predict ``held_out`` rows and the shifted pairs."""
    X_train = X.iloc[train].reset_index(drop=True)
    X_test = None if held_out is None else X.iloc[held_out].reset_index(drop=True)
    preds, shift_preds, fitted_all = {}, {}, {}
    timings = {"features": 0.0}
    for names in groups:
        fitted, prefix_s, model_s = _fit_group({n: specs[n] for n in names}, X_train, y[train])
        timings["features"] += prefix_s
        for n, s in model_s.items():
            timings[f"model:{n}"] = s
        start = time.perf_counter()
        if X_test is not None:
            preds.update(_predict_group(fitted, X_test))
            shift_preds.update(_predict_group(fitted, shifted_X))
        timings["predict"] = timings.get("predict", 0.0) + time.perf_counter() - start
        if keep_models:
            fitted_all.update(fitted)
    return preds, shift_preds, timings, (fitted_all if keep_models else None)


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


def _featurizers(pipe):
    return {
        k: v for k, v in pipe.get_params(deep=True).items() if isinstance(v, EmbeddingFeaturizer)
    }


def _prime_embeddings(pipes, X, cache_dir):
    """Encode the distinct strings of ``X`` once, here, into ``cache_dir``.

    Worker processes then read vectors from disk instead of each encoding the same texts
    again. Encoders fitted on the data (char TF-IDF) depend on the fold and are skipped.
    """
    seen = set()
    for pipe in pipes.values():
        for fz in _featurizers(pipe).values():
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


def _limit_inner_threads(pipes, n_parallel):
    """Give each regressor ``cores // n_parallel`` threads when folds run in parallel here.

    Otherwise every parallel fold would start one thread per core (CatBoost ignores the
    OpenMP limits joblib sets in its workers), and oversubscribed boosters slow down several
    times. Returns the original values, to restore on the refitted models.
    """
    threads = max(1, (os.cpu_count() or 1) // max(1, n_parallel))
    original = {}
    for name, pipe in pipes.items():
        params = pipe.get_params(deep=True)
        for p in _THREAD_PARAMS:
            key = f"{pipe.steps[-1][0]}__{p}"
            value = params.get(key, "absent")
            if value is None or (isinstance(value, numbers.Integral) and value <= 0):
                original[(name, key)] = value
                pipe.set_params(**{key: threads})
    return original


def _set_cache_dir(pipe, cache_dir):
    for key in _featurizers(pipe):
        pipe.set_params(**{f"{key}__cache_dir": None if cache_dir is None else str(cache_dir)})
    return pipe


def _check_table(X, y):
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


def _cross_fit(
    configs,
    X,
    y,
    *,
    metric_embeddings,
    cache_dir,
    n_splits,
    random_state,
    n_jobs,
    dask_address,
    show_progress,
    groups=None,
    eval_sampler="default",
    refit=False,
):
    """Out-of-fold predictions of every config; with ``refit``, the bases fitted on all rows."""
    if not isinstance(configs, dict) or not configs:
        raise ConfigError("configs must be a non-empty dict mapping a model name to its config")
    for name in configs:
        if not isinstance(name, str) or not name or name == "stack":
            raise ConfigError(
                f"base model names must be non-empty strings other than 'stack'; got {name!r}"
            )
    X, y = _check_table(X, y)
    if groups is None:
        groups = conversation_groups(X)
    groups = np.asarray(groups)
    n_groups = len(np.unique(groups))
    if not isinstance(n_splits, numbers.Integral) or n_splits < 2 or n_splits > n_groups:
        raise ValueError(
            f"n_splits={n_splits!r} must be between 2 and the number of conversations ({n_groups})"
        )
    seed = int(random_state) if random_state is not None else 0
    start = time.perf_counter()
    parallel = dask_address is not None or n_jobs not in (1, None)

    with contextlib.ExitStack() as stack:
        work_cache = cache_dir
        if parallel and cache_dir is None:
            # Process workers do not share this process's in-memory vectors: give them a disk cache.
            work_cache = stack.enter_context(
                tempfile.TemporaryDirectory(prefix="gbscore-embeddings-")
            )
        build = dict(
            metric_embeddings=metric_embeddings,
            cache_dir=work_cache,
            show_progress=show_progress,
            random_state=seed,
        )
        specs = {name: _as_pipeline(spec, **build) for name, spec in configs.items()}
        prefix_groups = _group_configs(configs)
        n_tasks = n_splits + int(refit)
        thread_limits = {}
        if dask_address is None and parallel:
            cores = os.cpu_count() or 1
            workers = n_jobs if n_jobs > 0 else max(1, cores + 1 + n_jobs)
            thread_limits = _limit_inner_threads(specs, min(workers, n_tasks))
        if parallel:
            t0 = time.perf_counter()
            _prime_embeddings(specs, X, work_cache)
            prime_s = time.perf_counter() - t0
        else:
            prime_s = 0.0

        first = specs[next(iter(configs))]
        if isinstance(eval_sampler, str) and eval_sampler == "default":
            eval_sampler = default_eval_sampler(first, random_state=seed)
        splits = list(
            GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(X, y, groups)
        )

        # The shifted pairs are drawn here, once, so every base model predicts the same rows.
        shifted = []
        for k, (_, test) in enumerate(splits):
            if eval_sampler is None:
                shifted.append(
                    (None, np.empty(0), np.empty(0, dtype=object), np.empty(0, dtype=np.int64))
                )
                continue
            sampler = clone(eval_sampler).set_params(random_state=seed * 1000 + k)
            X_all, y_all = sampler.fit_resample(X.iloc[test].reset_index(drop=True), y[test])
            mask = sampler.synthetic_mask_
            shifted.append(
                (
                    X_all[mask].reset_index(drop=True),
                    y_all[mask],
                    sampler.relation_[mask].astype(object),
                    test[sampler.sample_indices_[mask]],
                )
            )

        tasks = [
            delayed(_fold_task)(specs, prefix_groups, X, y, train, test, shifted[k][0], False)
            for k, (train, test) in enumerate(splits)
        ]
        if refit:
            tasks.append(
                delayed(_fold_task)(specs, prefix_groups, X, y, np.arange(len(y)), None, None, True)
            )
        with _parallel_backend(n_jobs, dask_address) as jobs:
            results = Parallel(n_jobs=jobs, return_as="generator")(tasks)
            results = list(
                tqdm(results, total=len(tasks), desc="stacking folds", disable=not show_progress)
            )

    names = list(configs)
    n = len(y)
    real_preds = {m: np.full(n, np.nan) for m in names}
    fold = np.full(n, -1, dtype=np.int64)
    timings = {"embed_prime": prime_s} if parallel else {}
    shift_parts = {m: [] for m in names}
    for k, (_, test) in enumerate(splits):
        preds, shift_preds, t, _ = results[k]
        fold[test] = k
        for m in names:
            real_preds[m][test] = preds[m]
            shift_parts[m].append(shift_preds[m] if len(shift_preds[m]) else np.empty(0))
        for key, s in t.items():
            timings[key] = timings.get(key, 0.0) + s
    sy = np.concatenate([s[1] for s in shifted]).astype(np.float64)
    oof = OOFPredictions(
        y=np.concatenate([y, sy]),
        fold=np.concatenate(
            [fold, *[np.full(len(s[1]), k, dtype=np.int64) for k, s in enumerate(shifted)]]
        ),
        is_shifted=np.concatenate([np.zeros(n, bool), np.ones(len(sy), bool)]),
        relation=np.concatenate([np.full(n, "real", dtype=object), *[s[2] for s in shifted]]),
        preds=pd.DataFrame({m: np.concatenate([real_preds[m], *shift_parts[m]]) for m in names}),
        row=np.concatenate([np.arange(n), *[s[3] for s in shifted]]).astype(np.int64),
        timings=timings,
    )
    fitted = None
    if refit:
        _, _, t, fitted = results[-1]
        for key, s in t.items():
            oof.timings[f"refit_{key}"] = oof.timings.get(f"refit_{key}", 0.0) + s
        for pipe in fitted.values():
            _set_cache_dir(pipe, cache_dir)
        for (name, key), value in thread_limits.items():
            fitted[name].set_params(**{key: value})
    oof.timings["wall"] = time.perf_counter() - start
    return oof, fitted, prefix_groups


def compute_oof(
    configs,
    X,
    y,
    *,
    metric_embeddings=None,
    cache_dir=None,
    n_splits=5,
    random_state=0,
    n_jobs=1,
    dask_address=None,
    show_progress=True,
):
    """Out-of-fold predictions of several base pipelines on identical held-out rows.

    Folds are grouped by conversation; augmentation runs inside each training fold only. Each
    fold's held-out rows are its real rows plus mismatched pairs built from them alone (by
    :func:`~gbscore.validation.default_eval_sampler` with the first config's label policy),
    drawn once and predicted by every base model, so the columns align row by row.

    Parameters
    ----------
    configs : dict of str to dict
        Model name -> pipeline config (see :func:`gbscore.pipeline.build_pipeline`). Configs
        that differ only in ``model`` and ``model__*`` params share one featurization per fold.
        An unfitted pipeline is accepted in place of a config.
    X : DataFrame
        The tidy training table.
    y : array-like of shape (n_samples,)
        Scores.
    metric_embeddings : DataFrame, optional
        The given metric embeddings (index = metric name).
    cache_dir : str or Path, optional
        Embedding cache directory; with several processes or a Dask cluster it is filled once
        here and read by the workers (it must be on a filesystem they share).
    n_splits : int, default=5
    random_state : int, default=0
        Seed of the folds, the evaluation pairs, and of configs that set no ``random_state``.
    n_jobs : int, default=1
        Folds run in parallel with joblib.
    dask_address : str or distributed.Client, optional
        A Dask scheduler address (``"tcp://host:8786"``): run the folds on that cluster.
    show_progress : bool, default=True

    Returns
    -------
    OOFPredictions
    """
    oof, _, _ = _cross_fit(
        configs,
        X,
        y,
        metric_embeddings=metric_embeddings,
        cache_dir=cache_dir,
        n_splits=n_splits,
        random_state=random_state,
        n_jobs=n_jobs,
        dask_address=dask_address,
        show_progress=show_progress,
    )
    return oof


# --------------------------------------------------------------------------------------
# Meta-learner
# --------------------------------------------------------------------------------------


class MetaModel(RegressorMixin, BaseEstimator):
    """Linear combination of base-model predictions.

    Parameters
    ----------
    meta : {"nnls", "ridge"}, default="nnls"
        ``"nnls"``: least squares with non-negative weights and a free intercept (a model
        that only hurts gets weight 0). ``"ridge"``: ridge regression, weights of any sign.
    alpha : float, default=1.0
        Ridge penalty (``meta="ridge"`` only).
    clip : bool, default=True
        Clip predictions to [0, 10].

    Attributes
    ----------
    models_ : list of str
        The columns the weights apply to.
    weights_ : ndarray of shape (n_models,)
    intercept_ : float
    n_rows_ : int
        Rows the meta-learner was fitted on.
    """

    _parameter_constraints: dict = {
        "meta": [StrOptions({"nnls", "ridge"})],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "clip": ["boolean"],
    }

    def __init__(self, *, meta="nnls", alpha=1.0, clip=True):
        self.meta = meta
        self.alpha = alpha
        self.clip = clip

    def fit(self, P, y):
        """Fit on a DataFrame of base predictions (one column per model) and the targets."""
        self._validate_params()
        P, y = self._check(P, y)
        if self.meta == "nnls":
            # min ||y - b - P w||, w >= 0, b free: the optimal b centres both sides.
            mean_p, mean_y = P.mean(axis=0), y.mean()
            w, _ = nnls(P - mean_p, y - mean_y)
            b = mean_y - mean_p @ w
        else:
            ridge = Ridge(alpha=self.alpha).fit(P, y)
            w, b = ridge.coef_, ridge.intercept_
        self.weights_ = np.asarray(w, dtype=np.float64)
        self.intercept_ = float(b)
        self.n_rows_ = len(y)
        return self

    def _check(self, P, y=None):
        if not isinstance(P, pd.DataFrame):
            raise ValueError(
                f"the meta-learner takes a DataFrame of base predictions, got {type(P).__name__}"
            )
        if y is None:
            check_is_fitted(self)
            missing = [m for m in self.models_ if m not in P.columns]
            if missing:
                raise ValueError(
                    f"base predictions lack the columns {missing}; the meta-learner was "
                    f"fitted on {self.models_}"
                )
            return P[self.models_].to_numpy(dtype=np.float64)
        self.models_ = [str(c) for c in P.columns]
        self.feature_names_in_ = np.asarray(self.models_, dtype=object)
        self.n_features_in_ = len(self.models_)
        A = P.to_numpy(dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).ravel()
        if len(A) != len(y) or len(y) == 0:
            raise ValueError(
                f"got {len(A)} prediction rows and {len(y)} targets; need equal, non-zero counts"
            )
        if not (np.isfinite(A).all() and np.isfinite(y).all()):
            raise ValueError("base predictions and targets must be finite")
        return A, y

    def predict(self, P):
        """Combine a DataFrame of base predictions (columns named as at fit time)."""
        A = self._check(P)
        pred = A @ self.weights_ + self.intercept_
        return np.clip(pred, 0.0, 10.0) if self.clip else pred

    def as_dict(self):
        """Weights and intercept as a JSON-ready dict."""
        check_is_fitted(self)
        return {
            "meta": self.meta,
            "weights": dict(zip(self.models_, map(float, self.weights_), strict=True)),
            "intercept": self.intercept_,
            "n_rows": self.n_rows_,
            "rows": getattr(self, "rows_", None),
        }


def _check_meta_args(oof, models, rows):
    models = oof.models if models is None else list(models)
    unknown = [m for m in models if m not in oof.models]
    if unknown or not models:
        raise ValueError(
            f"models {unknown or models} are not among the out-of-fold columns {oof.models}"
        )
    mask = oof.rows_mask(rows)
    return models, mask


def fit_meta(oof, models=None, meta="nnls", alpha=1.0, rows="shift_aware"):
    """Fit the meta-learner on out-of-fold predictions.

    Parameters
    ----------
    oof : OOFPredictions
    models : list of str, optional
        Columns to combine (default: all).
    meta : {"nnls", "ridge"}, default="nnls"
    alpha : float, default=1.0
        Ridge penalty.
    rows : {"shift_aware", "real"}, default="shift_aware"
        ``"shift_aware"``: the held-out real rows and the held-out mismatched pairs (what the
        test set looks like); ``"real"``: held-out real rows only. Synthetic rows of the
        training augmentation are never in ``oof``, so never used.

    Returns
    -------
    MetaModel
    """
    models, mask = _check_meta_args(oof, models, rows)
    model = MetaModel(meta=meta, alpha=alpha).fit(
        oof.preds.loc[mask, models].reset_index(drop=True), oof.y[mask]
    )
    model.rows_ = rows
    return model


def cross_fit_meta(oof, models=None, meta="nnls", alpha=1.0, rows="shift_aware"):
    """Honest out-of-fold predictions of the stack itself.

    The meta-learner for fold ``k`` is fitted on the other folds' rows only, then predicts
    fold ``k``'s rows (real and shifted). Scoring these gives the stack's CV RMSE without
    scoring the meta-learner on its own training rows.

    Returns
    -------
    ndarray of shape (len(oof.y),)
    """
    models, mask = _check_meta_args(oof, models, rows)
    out = np.full(len(oof.y), np.nan)
    for k in np.unique(oof.fold):
        train = mask & (oof.fold != k)
        meta_k = MetaModel(meta=meta, alpha=alpha).fit(
            oof.preds.loc[train, models].reset_index(drop=True), oof.y[train]
        )
        here = oof.fold == k
        out[here] = meta_k.predict(oof.preds.loc[here, models].reset_index(drop=True))
    return out


def _uncertainty_features(P):
    A = P.to_numpy(dtype=np.float64)
    return np.column_stack([A, A.std(axis=1), A.mean(axis=1)])


def feature_importance_table(pipe):
    """Feature importances of a fitted pipeline's regressor, by feature name (or None)."""
    try:
        names = _feature_names(pipe)
    except Exception:  # a custom pipeline without feature names: nothing to report
        return None
    values = getattr(pipe.steps[-1][1], "feature_importances_", None)
    if values is None or names is None:
        return None
    if len(values) == len(names) - sum(c in names for c in CATEGORICAL_COLUMNS):
        # Ridge leaves the categorical columns out (a category code is not a number).
        names = np.asarray([n for n in names if n not in CATEGORICAL_COLUMNS], dtype=object)
    if len(values) != len(names):
        return None
    return (
        pd.DataFrame({"feature": names, "importance": np.asarray(values, dtype=np.float64)})
        .sort_values("importance", ascending=False, kind="stable")
        .reset_index(drop=True)
    )


def _feature_names(pipe):
    for _, step in reversed(pipe.steps[:-1]):
        if step is None or step == "passthrough" or _is_sampler(step):
            continue
        return np.asarray(step.get_feature_names_out(), dtype=object)
    return None


# --------------------------------------------------------------------------------------
# The stacked estimator
# --------------------------------------------------------------------------------------


class StackedScoreRegressor(RegressorMixin, BaseEstimator):
    """Cross-validated stack of scoring pipelines over the tidy table.

    ``fit`` computes out-of-fold predictions of every base pipeline (:func:`compute_oof`),
    fits the meta-learner on them (:func:`fit_meta`), and refits every base pipeline on all
    rows (in the same parallel batch as the folds). ``predict`` combines the refitted bases.

    Parameters
    ----------
    base_configs : dict of str to dict, default=None
        Model name -> pipeline config. ``None``: LightGBM, CatBoost and Ridge over the default
        features (:data:`DEFAULT_BASE_MODELS`).
    meta : {"nnls", "ridge"}, default="nnls"
    meta_alpha : float, default=1.0
        Ridge penalty of ``meta="ridge"``.
    meta_rows : {"shift_aware", "real"}, default="shift_aware"
        Rows the meta-learner is fitted on (see :func:`fit_meta`).
    n_splits : int, default=5
    uncertainty : {"residual"} or None, default="residual"
        ``"residual"`` fits a small boosted model of the stack's squared out-of-fold error
        given the base predictions and their spread, used by :meth:`predict_uncertainty`.
    metric_embeddings : DataFrame, default=None
        The given metric embeddings, passed to every base pipeline.
    cache_dir : str or Path, default=None
        Embedding cache directory (see :func:`compute_oof` for Dask workers).
    random_state : int, default=0
    n_jobs : int, default=1
        Folds (and the final refit) run in parallel with joblib.
    dask_address : str, default=None
        Run the folds on the Dask cluster at this scheduler address.
    show_progress : bool, default=True

    Attributes
    ----------
    base_estimators_ : dict of str to ScorePipeline
        The bases refitted on all rows. Bases that differ only in their regressor share the
        fitted featurization objects.
    prefix_groups_ : list of list of str
        Base names sharing one featurization.
    oof_ : OOFPredictions
        Out-of-fold predictions of every base plus the column ``"stack"`` (cross-fitted meta,
        see :func:`cross_fit_meta`).
    meta_ : MetaModel
        The meta-learner fitted on all out-of-fold rows of ``meta_rows``.
    uncertainty_model_ : estimator or None

    Examples
    --------
    >>> from gbscore.datasets import make_judge_data
    >>> data = make_judge_data(n_train=120, n_test=10, random_state=0)
    >>> fast = {"encoder": {"kind": "char-tfidf", "n_components": 8}}
    >>> stack = StackedScoreRegressor(
    ...     base_configs={"ridge": {**fast, "model": "ridge"},
    ...                   "lgbm": {**fast, "model": "lightgbm",
    ...                            "params": {"model__n_estimators": 20, "model__n_jobs": 1}}},
    ...     n_splits=2, show_progress=False)
    >>> stack.fit(data.train.drop(columns="score"), data.train["score"]).predict(data.test).shape
    (10,)
    """

    _parameter_constraints: dict = {
        "base_configs": [dict, None],
        "meta": [StrOptions({"nnls", "ridge"})],
        "meta_alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "meta_rows": [StrOptions(set(_ROW_SETS))],
        "n_splits": [Interval(numbers.Integral, 2, None, closed="left")],
        "uncertainty": [StrOptions({"residual"}), None],
        "metric_embeddings": [pd.DataFrame, tuple, None],
        "cache_dir": [str, os.PathLike, None],
        "random_state": [numbers.Integral],
        "n_jobs": [numbers.Integral, None],
        "dask_address": "no_validation",
        "show_progress": ["boolean"],
    }

    def __init__(
        self,
        *,
        base_configs=None,
        meta="nnls",
        meta_alpha=1.0,
        meta_rows="shift_aware",
        n_splits=5,
        uncertainty="residual",
        metric_embeddings=None,
        cache_dir=None,
        random_state=0,
        n_jobs=1,
        dask_address=None,
        show_progress=True,
    ):
        self.base_configs = base_configs
        self.meta = meta
        self.meta_alpha = meta_alpha
        self.meta_rows = meta_rows
        self.n_splits = n_splits
        self.uncertainty = uncertainty
        self.metric_embeddings = metric_embeddings
        self.cache_dir = cache_dir
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.dask_address = dask_address
        self.show_progress = show_progress

    def _configs(self):
        if self.base_configs is None:
            return {name: {"model": name} for name in DEFAULT_BASE_MODELS}
        return copy.deepcopy(self.base_configs)

    def fit(self, X, y):
        """Out-of-fold predictions, meta-learner, and the final refit of every base.

        Parameters
        ----------
        X : DataFrame
            The tidy training table.
        y : array-like of shape (n_samples,)
            Scores in [0, 10].

        Returns
        -------
        self
        """
        self._validate_params()
        X, y = _check_table(X, y)
        oof, fitted, groups = _cross_fit(
            self._configs(),
            X,
            y,
            metric_embeddings=self.metric_embeddings,
            cache_dir=self.cache_dir,
            n_splits=self.n_splits,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
            dask_address=self.dask_address,
            show_progress=self.show_progress,
            refit=True,
        )
        models = oof.models
        self.meta_ = fit_meta(
            oof, models, meta=self.meta, alpha=self.meta_alpha, rows=self.meta_rows
        )
        stacked = cross_fit_meta(
            oof, models, meta=self.meta, alpha=self.meta_alpha, rows=self.meta_rows
        )
        self.oof_ = oof.with_column("stack", stacked)
        self.base_estimators_ = fitted
        self.prefix_groups_ = groups
        self.uncertainty_model_ = None
        if self.uncertainty == "residual":
            mask = oof.rows_mask(self.meta_rows)
            P = oof.preds.loc[mask, models].reset_index(drop=True)
            # Poisson loss keeps the predicted squared error positive.
            self.uncertainty_model_ = HistGradientBoostingRegressor(
                loss="poisson",
                max_iter=150,
                learning_rate=0.05,
                max_leaf_nodes=15,
                min_samples_leaf=40,
                random_state=self.random_state,
            ).fit(_uncertainty_features(P), (oof.y[mask] - stacked[mask]) ** 2)
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        log.info(
            "stack weights: %s (intercept %.3f)",
            ", ".join(f"{m} {w:.3f}" for m, w in zip(models, self.meta_.weights_, strict=True)),
            self.meta_.intercept_,
        )
        return self

    def predict_bases(self, X):
        """Predictions of every refitted base pipeline, one column per base."""
        check_is_fitted(self)
        out = {}
        for names in self.prefix_groups_:
            out.update(_predict_group({n: self.base_estimators_[n] for n in names}, X))
        return pd.DataFrame({n: out[n] for n in self.base_estimators_})

    def predict(self, X):
        """Stacked scores in [0, 10], one per row of the tidy table ``X``."""
        check_is_fitted(self)
        return self.meta_.predict(self.predict_bases(X))

    def predict_uncertainty(self, X):
        """Estimated standard deviation of each prediction's error.

        Learned from the stack's cross-fitted out-of-fold errors (real rows and mismatched
        pairs), given the base predictions and how much the bases disagree.
        """
        check_is_fitted(self)
        if self.uncertainty_model_ is None:
            raise ValueError(
                "this stack was fitted with uncertainty=None; refit with uncertainty='residual'"
            )
        P = self.predict_bases(X)[self.meta_.models_]
        return np.sqrt(np.maximum(self.uncertainty_model_.predict(_uncertainty_features(P)), 0.0))

    def feature_importances(self):
        """Feature importances of every base regressor by feature name: ``{base: DataFrame}``."""
        check_is_fitted(self)
        out = {}
        for name, pipe in self.base_estimators_.items():
            table = feature_importance_table(pipe)
            if table is not None:
                out[name] = table
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.target_tags.required = True
        tags.non_deterministic = False
        return tags
