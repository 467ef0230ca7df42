"""The one fold loop: every estimator on identical held-out rows, in parallel or not."""

from __future__ import annotations

import contextlib
import json
import logging
import numbers
import os
import socket
import tempfile
import time

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, parallel_config
from sklearn.base import clone
from tqdm.auto import tqdm

from .._optional import import_optional
from .._schema import TEXT_COLUMNS
from ..exceptions import ConfigError, GbscoreError
from ..features import encoding_totals, record_encoding
from ..pipeline import fit_shared, predict_shared
from ._oof import OOFPredictions
from ._split import _given_pairs, check_cv, default_eval_sampler, heldout_pairs

log = logging.getLogger("gbscore")


# --------------------------------------------------------------------------------------
# The fold loop
# --------------------------------------------------------------------------------------


def _shares_steps(estimator, params):
    """Whether ``estimator`` can share fitted leading steps (:func:`~gbscore.pipeline.fit_shared`):
    a pipeline whose fit parameters, if any, are all for its last step."""
    steps = getattr(estimator, "steps", None)
    if not steps or len(steps) < 2:
        return False
    last = steps[-1][0]
    return all(k.startswith(f"{last}__") for k in params)


def _fit_all(estimators, X, y, fit_params):
    """Fit every estimator on ``(X, y)``; pipelines share the leading steps they have alike.

    Returns ``(fitted estimators, seconds in shared and own leading steps, model seconds)``.
    """
    shared = {n: e for n, e in estimators.items() if _shares_steps(e, fit_params.get(n, {}))}
    final = {n: {k.split("__", 1)[1]: v for k, v in fit_params.get(n, {}).items()} for n in shared}
    fitted, prefix_seconds, seconds = fit_shared(shared, X, y, final)
    for name, est in estimators.items():
        if name not in shared:
            start = time.perf_counter()
            fitted[name] = clone(est).fit(X, y, **fit_params.get(name, {}))
            seconds[name] = time.perf_counter() - start
    return {n: fitted[n] for n in estimators}, prefix_seconds, seconds


def _predict_all(fitted, X):
    """Predictions of every fitted estimator; steps shared by pipelines transform once."""
    if X is None or len(X) == 0:
        return {name: np.empty(0) for name in fitted}
    return predict_shared(fitted, X)


def _fold_task(estimators, X, y, train, test, pairs, fit_params, keep):
    """Fit every estimator on ``train`` rows; predict ``test`` rows and the held-out pairs."""
    X_train = X.iloc[train].reset_index(drop=True)
    preds, pair_preds = {}, {}
    encoded = encoding_totals(thread=True)
    fitted, prefix_s, model_s = _fit_all(estimators, X_train, y[train], fit_params)
    timings = {"features": prefix_s, **{f"model:{n}": s for n, s in model_s.items()}}
    start = time.perf_counter()
    if test is not None:
        preds = _predict_all(fitted, X.iloc[test].reset_index(drop=True))
        pair_preds = _predict_all(fitted, pairs.X)
    timings["predict"] = time.perf_counter() - start
    now = encoding_totals(thread=True)
    # Encoding in a worker process is added to the parent's totals; in-process it already is.
    where = (socket.gethostname(), os.getpid())
    worker = (where, now["texts"] - encoded["texts"], now["seconds"] - encoded["seconds"])
    return preds, pair_preds, timings, (fitted if keep else None), worker


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
    from ..features import EmbeddingFeaturizer

    params = estimator.get_params(deep=True) if hasattr(estimator, "get_params") else {}
    return {k: v for k, v in params.items() if isinstance(v, EmbeddingFeaturizer)}


def _warm_embeddings(estimators, X):
    """Encode the distinct strings of ``X`` once, here, into each featurizer's own cache.

    Worker processes then read vectors from disk instead of each encoding the same texts
    again. Every featurizer has a cache directory by now (:func:`_with_cache_dir` gives the
    run's to those without one); a featurizer's own directory is kept, since it may already
    hold the vectors. Encoders fitted on the data (char TF-IDF) depend on the fold and are
    skipped.
    """
    seen = set()
    for est in estimators.values():
        for fz in _featurizer_keys(est).values():
            encoder = fz.encoder
            if getattr(encoder, "requires_fit", False):
                continue
            key = json.dumps(
                [encoder.identity() if encoder is not None else None, str(fz.cache_dir)],
                sort_keys=True,
                default=repr,
            )
            if key in seen:
                continue
            seen.add(key)
            clone(fz).fit(X).transform(X)


# Thread-count parameters of the regressors; -1/None/0 mean "every core".
_THREAD_PARAMS = ("n_jobs", "thread_count")
# What parallel CatBoost fits on one GPU reserve in all (CatBoost alone takes 0.95): the
# rest is left for each worker's CUDA context and torch (encoder, learned matching, MLP).
_GPU_RAM_SHARED = 0.8


def _limit_threads(estimators, n_parallel):
    """Clones whose regressors share the machine when ``n_parallel`` folds run at once.

    Threads: ``cores // n_parallel`` each. Otherwise every parallel fold would start one
    thread per core (CatBoost ignores the OpenMP limits joblib sets in its workers), and
    oversubscribed boosters slow down several times. Only "every core" settings are changed;
    an explicit count is kept.

    GPU memory: a regressor with a ``gpu_ram_part`` left at ``None`` (CatBoost, which
    otherwise reserves 95% of the GPU per fit) gets ``0.8 / n_parallel``. Without a share
    the second parallel CatBoost fit on a GPU died with CUDA "out of memory" (seen on an
    H200 in `benchmarks/bench_run.py --n-jobs 4`). Only used when the fit runs on a GPU.
    """
    threads = max(1, (os.cpu_count() or 1) // max(1, n_parallel))
    gpu_share = round(_GPU_RAM_SHARED / max(1, n_parallel), 4)
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
            if f"{last}__gpu_ram_part" in params and params[f"{last}__gpu_ram_part"] is None:
                est.set_params(**{f"{last}__gpu_ram_part": gpu_share})
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
        and (
            k.endswith("__cache_dir") or k.rsplit("__", 1)[-1] in (*_THREAD_PARAMS, "gpu_ram_part")
        )
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
        names = (
            [pair[0] for pair in estimators]
            if all(isinstance(pair, list | tuple) and len(pair) == 2 for pair in estimators)
            else []
        )
        twice = sorted({n for n in names if names.count(n) > 1}, key=str)
        if twice:  # dict() would keep the last of each silently
            raise ConfigError(f"model names must be unique; {twice} appear more than once")
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


def _assemble(names, n, y, splits, pairs, results, timings, grouping, buffer=None):
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
        buffer=buffer,
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
        Unfitted estimators over the tidy table, cloned per fold. Pipelines share, per fold,
        the fitted leading steps they have alike (:func:`~gbscore.pipeline.fit_shared`): the
        augmentation and featurization, and the interaction step where it is set alike.
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
    buffer = getattr(splitter, "buffer", None)
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
            _warm_embeddings(work, X)
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
        tasks = [
            delayed(_fold_task)(work, X, y, train, test, pairs[k], fit_params(k), False)
            for k, (train, test) in enumerate(splits)
        ]
        if refit:
            tasks.append(
                delayed(_fold_task)(
                    work,
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
                    where, texts, seconds = result[4]
                    if where != (socket.gethostname(), os.getpid()):
                        record_encoding(texts, seconds)
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
                            _assemble(
                                names, len(y), y, splits, pairs, results, timings, grouping, buffer
                            ),
                        )
            finally:
                bar.close()

    timings["wall"] = time.perf_counter() - start
    oof = _assemble(names, len(y), y, splits, pairs, results, timings, grouping, buffer)
    if not refit:
        return oof
    for name, est in refitted.items():
        _restore_settings(est, estimators[name])
    return oof, refitted
