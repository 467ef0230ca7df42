"""One call that loads the data, builds the objective, runs the study and exports the best config.

This is what ``gbscore tune`` and the scripts in ``tuning/`` run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone

from ..config import build_pipeline, check_config, merge_config, resolve_cv_buffer, stack_configs
from ..datasets import DEMO_SIZE
from ..exceptions import ConfigError
from ._config import export_config
from ._objective import PRUNING, TARGETS, PipelineObjective, data_fingerprint
from ._runner import make_pruner, make_sampler, run_study
from ._spaces import SEARCH_SPACES, default_params

__all__ = ["TuningData", "default_stack_configs", "load_tuning_data", "tune", "warm_embeddings"]

log = logging.getLogger("gbscore")

MODELS = (*SEARCH_SPACES, "stack")


@dataclass
class TuningData:
    """Training rows, scores and the given metric embeddings a study tunes on."""

    X: pd.DataFrame
    y: np.ndarray
    metric_embeddings: pd.DataFrame | None = None
    source: str = ""
    #: The test rows (no scores), which ``cv.buffer: "auto"`` matches the folds to.
    X_test: pd.DataFrame | None = None


def load_tuning_data(data_dir=None, *, demo_size=DEMO_SIZE, random_state=0):
    """The training data of a study: ``DATA_DIR/train_data.json``, or the built-in demo.

    Parameters
    ----------
    data_dir : str or Path, optional
        A competition directory. Without it, the same demo training table ``gbscore run``
        would generate (same size and seed; :func:`gbscore.datasets.load_or_make_demo`).
    demo_size : (int, int), default=DEMO_SIZE
        Train and test rows of the demo (only the train rows are tuned on).
    random_state : int, default=0
        Seed of the demo data.

    Returns
    -------
    TuningData
    """
    from ..datasets import load_or_make_demo

    data = load_or_make_demo(data_dir, demo_size=demo_size, random_state=random_state)
    source = (
        str(data_dir)
        if data_dir is not None
        else f"demo(n_train={demo_size[0]}, seed={random_state})"
    )
    return TuningData(
        X=data.train.drop(columns="score"),
        y=data.train["score"].to_numpy(dtype=np.float64),
        metric_embeddings=data.metric_embedding_table(),
        source=source,
        X_test=data.test,
    )


def warm_embeddings(config, X, *, metric_embeddings=None, cache_dir=None, show_progress=True):
    """Encode every distinct string of ``X`` once, before the first trial.

    Trials then find all vectors in the process memo (and ``cache_dir``). Skipped for
    encoders fitted on the training fold (such as ``char-tfidf``): their vectors depend on
    the fold, and each fold's are memoised by its first trial.

    Returns
    -------
    bool
        Whether anything was encoded or looked up.
    """
    # A stack's bases share the featurizer of a single pipeline built from the same config.
    single = config.get("model") if config.get("model") not in (None, "stack") else "ridge"
    pipe = build_pipeline(
        merge_config(config, {"model": single}),
        metric_embeddings=metric_embeddings,
        cache_dir=cache_dir,
        show_progress=show_progress,
    )
    featurizer = dict(pipe.named_steps["features"].transformer_list)["embed"]
    encoder = featurizer.encoder
    if encoder is None or getattr(encoder, "requires_fit", False):
        return False
    clone(featurizer).fit(X).transform(X)
    return True


def _base_config(config, model, n_splits, seed, model_threads):
    config = check_config(config)
    if model in SEARCH_SPACES:
        config["model"] = model
    if n_splits is not None:
        config["cv"] = {**config.get("cv", {}), "n_splits": int(n_splits)}
    if seed is not None:
        config["random_state"] = int(seed)
    config["params"] = {
        **config.get("params", {}),
        **_thread_params(config["model"], model_threads),
    }
    return config


def _thread_params(model, threads):
    keys = {"lightgbm": "model__n_jobs", "catboost": "model__thread_count", "mlp": "model__n_jobs"}
    key = keys.get(model)
    return {key: int(threads)} if key and threads is not None else {}


def tune(
    model="lightgbm",
    *,
    data=None,
    data_dir=None,
    config=None,
    storage=None,
    study_name=None,
    n_trials=None,
    timeout=None,
    n_jobs=1,
    cache_dir=None,
    export=None,
    target="shift",
    pruning="fold",
    pruner="median",
    n_splits=None,
    seed=None,
    sampler_seed=None,
    model_threads=None,
    heartbeat_interval=60,
    grace_period=None,
    max_retry=3,
    oof_path=None,
    stack_configs=None,
    demo_size=DEMO_SIZE,
    enqueue_default=True,
    show_progress=True,
):
    """Tune a base model (or the stack) and export the best config.

    Parameters
    ----------
    model : {"lightgbm", "catboost", "ridge", "mlp", "stack"}, default="lightgbm"
    data : TuningData, optional
        Training data; default :func:`load_tuning_data` of ``data_dir``.
    data_dir : str or Path, optional
        Competition directory; without it (and without ``data``) the built-in demo.
    config : dict, optional
        Base config merged over the defaults (encoder, fixed params, ``cv``,
        ``random_state``); each trial's params go on top.
    storage : str, optional
        Study storage URL (see :func:`~gbscore.tuning.make_storage`); default the SQLite
        file ``gbscore-tuning.db``. A shared database URL lets many workers join.
    study_name : str, optional
        Default ``gbscore-<model>``.
    n_trials : int, optional
        Cap on the study's finished trials across all workers.
    timeout : float, optional
        This worker's time budget in seconds.
    n_jobs : int, default=1
        Trials in parallel in this process (threads).
    cache_dir : str or Path, optional
        Embedding cache directory.
    export : str or Path, optional
        Where to write the best config as JSON (``gbscore run --config`` reads it).
    target : {"shift", "plain"}, default="shift"
        The RMSE minimised.
    pruning : {"fold", "round", "none"}, default="fold"
        Prune between folds, on LightGBM boosting rounds, or not at all.
    pruner : {"median", "hyperband", "none"}, default="median"
    n_splits : int, optional
        CV folds (default: the config's ``cv.n_splits``).
    seed : int, optional
        The config's ``random_state`` (folds, sampler, models); default the config's.
    sampler_seed : int, optional
        Seed of the TPE sampler; leave unset when several workers share the study.
    model_threads : int, optional
        Threads per model fit (LightGBM and MLP ``n_jobs``, CatBoost ``thread_count``).
    heartbeat_interval, grace_period, max_retry
        Crash detection and retries (see :func:`~gbscore.tuning.make_storage`).
    oof_path : str or Path, optional
        Stack study: the cached out-of-fold predictions (computed once and saved there when
        absent). Default ``<study_name>-oof.npz``.
    stack_configs : dict of str to dict, optional
        Stack study: the base models' configs (default: each base model with the base
        config).
    demo_size : (int, int), default=DEMO_SIZE
        Size of the built-in demo data.
    enqueue_default : bool, default=True
        The first trial of a new study scores the untuned pipeline
        (:func:`~gbscore.tuning.default_params`; for the stack every base with the base
        config's meta-learner, :meth:`StackObjective.default_params`).
    show_progress : bool, default=True

    Returns
    -------
    TuneResult
    """
    from ._storage import make_storage

    if model not in MODELS:
        raise ConfigError(f"model={model!r} is not one of {list(MODELS)}")
    if target not in TARGETS:
        raise ConfigError(f"target={target!r} is not one of {list(TARGETS)}")
    if pruning not in PRUNING:
        raise ConfigError(f"pruning={pruning!r} is not one of {list(PRUNING)}")
    base = _base_config(config, model, n_splits, seed, model_threads)
    study_name = study_name or f"gbscore-{model}"
    # The storage first: a wrong URL or an unreachable server fails before any work.
    storage = make_storage(
        storage,
        heartbeat_interval=heartbeat_interval,
        grace_period=grace_period,
        max_retry=max_retry,
    )
    if data is None:
        data = load_tuning_data(data_dir, demo_size=demo_size, random_state=base["random_state"])
    # Every worker matches the same buffer: the same rows give the same folds and distances.
    base, _ = resolve_cv_buffer(base, data.X, data.X_test)
    attrs = {
        "model": model,
        "target": target,
        "data": data_fingerprint(data.X, data.y),
        "n_splits": int(base["cv"]["n_splits"]),
        "cv_grouping": base["cv"]["grouping"],
        "cv_buffer": base["cv"]["buffer"],
        "random_state": base["random_state"],
        "encoder": base["encoder"],
    }
    if model == "stack":
        from ._stack import StackObjective, cached_oof

        configs = stack_configs or default_stack_configs(base, model_threads=model_threads)
        oof = cached_oof(
            configs,
            data,
            path=oof_path or f"{study_name}-oof.npz",
            cache_dir=cache_dir,
            n_splits=int(base["cv"]["n_splits"]),
            random_state=base["random_state"],
            cv_grouping=base["cv"]["grouping"],
            cv_buffer=base["cv"]["buffer"],
            show_progress=show_progress,
        )
        objective = StackObjective(
            oof, configs=configs, target=target, random_state=base["random_state"]
        )
        pruner_obj = make_pruner("none", max_resource=1)
        # The untuned stack first (every base, the base config's meta-learner and rows), so
        # the export is never worse on CV than the default.
        enqueue = [objective.default_params(base["stack"])] if enqueue_default else []
    else:
        objective = PipelineObjective(
            data.X,
            data.y,
            model=model,
            base_config=base,
            target=target,
            pruning=pruning,
            metric_embeddings=data.metric_embeddings,
            cache_dir=cache_dir,
        )
        if pruning == "round":
            n_rounds = objective.build(base).named_steps["model"].get_params()["n_estimators"]
            pruner_obj = make_pruner(pruner, max_resource=n_rounds, n_warmup_steps=10)
        elif pruning == "fold":
            pruner_obj = make_pruner(pruner, max_resource=objective.n_splits)
        else:
            pruner_obj = make_pruner("none", max_resource=1)
        enqueue = (
            [default_params(model, base, augment=pruning != "round")] if enqueue_default else []
        )
        log.info("embedding the training strings once (reused by every trial)")
        warm_embeddings(
            base,
            data.X,
            metric_embeddings=data.metric_embeddings,
            cache_dir=cache_dir,
            show_progress=show_progress,
        )
    # The progress bar is the display while trials run; the featurizer's one line per fold
    # would bury it.
    quiet_logs = show_progress and log.getEffectiveLevel() <= logging.INFO
    if quiet_logs:
        previous = log.level
        log.setLevel(logging.WARNING)
    try:
        result = run_study(
            objective,
            study_name=study_name,
            storage=storage,
            n_trials=n_trials,
            timeout=timeout,
            n_jobs=n_jobs,
            sampler=make_sampler(sampler_seed),
            pruner=pruner_obj,
            attrs=attrs,
            show_progress=show_progress,
            enqueue=enqueue,
        )
    finally:
        if quiet_logs:
            log.setLevel(previous)
    if export is not None:
        result.export_path = export_config(result.study, export)
    return result


def default_stack_configs(base, *, model_threads=None):
    """The base configs of the stack the base config describes (``base["stack"]["models"]``,
    by default catboost_phrasing, ridge, lightgbm_phrasing and lightgbm_rows), as
    :func:`gbscore.config.stack_configs` builds them for ``gbscore run``, with each model's
    thread count."""
    shared = merge_config(base, {"model": "stack"})
    # A base config's own regressor params (e.g. LightGBM's n_jobs) fit no other regressor.
    shared["params"] = {
        k: v for k, v in (shared.get("params") or {}).items() if not k.startswith("model__")
    }
    configs = stack_configs(shared)
    for cfg in configs.values():
        cfg["params"] = {**cfg.get("params", {}), **_thread_params(cfg["model"], model_threads)}
    return configs
