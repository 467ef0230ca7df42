"""The objective of a base-model study: the pipeline's shift-aware cross-validated RMSE.

The folds, the held-out mismatched pairs and the score are those of
:func:`gbscore.model_selection.cross_val_oof` (phrasing-cluster folds by default, mismatched
pairs built only from held-out rows), so the value of a finished trial equals
``cross_val_oof(pipeline, X, y, cv=build_cv(config)).scores()`` for the config it stores. The
folds run one by one so that the pruner can stop a trial between them (``on_fold``).
"""

from __future__ import annotations

import hashlib
import os
import socket
import time

import numpy as np
import pandas as pd

from ..config import build_cv, build_pipeline, check_config, merge_config
from ..exceptions import ConfigError
from ..model_selection import cross_val_oof
from ._spaces import SEARCH_SPACES, keep_base_relations, suggest_params

__all__ = ["PipelineObjective", "data_fingerprint", "worker_id"]

TARGETS = ("shift", "plain")
PRUNING = ("fold", "round", "none")


def worker_id():
    """``host:pid`` of this process, stored on every trial it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def data_fingerprint(X, y):
    """Short hash of a training table and its scores (a study refuses other data)."""
    digest = hashlib.sha256()
    digest.update(
        pd.util.hash_pandas_object(X.reset_index(drop=True), index=False).to_numpy().tobytes()
    )
    digest.update(np.ascontiguousarray(np.asarray(y, dtype=np.float64)).tobytes())
    return digest.hexdigest()[:16]


class PipelineObjective:
    """Optuna objective: the CV RMSE of the pipeline a trial configures.

    Each call suggests ``params`` from the search space, merges them over ``base_config``,
    builds the pipeline and cross-validates it fold by fold. With ``pruning="fold"`` the
    running RMSE over the folds done so far is reported after each fold (step = fold index)
    and the pruner may stop the trial; with ``pruning="round"`` LightGBM reports its inner
    validation L2 after every boosting round of the first fold, through optuna-integration's
    ``LightGBMPruningCallback`` (rounds restart in every fold, so only one fold can give
    comparable steps). The trial stores its full config (``user_attrs["config"]``), both
    RMSEs, its duration and the worker that ran it.

    Embeddings are never recomputed per trial: the featurizer finds every string in the
    process memo (or the disk cache in ``cache_dir``) after the first trial.

    Parameters
    ----------
    X : DataFrame
        The tidy training table (no ``score`` column needed).
    y : array-like
        Scores.
    model : {"lightgbm", "catboost", "ridge", "mlp"}, default="lightgbm"
    base_config : dict, optional
        Merged over :data:`~gbscore.config.DEFAULT_CONFIG`; the trial's params go on top.
        Its ``encoder`` is used by every trial, its ``cv.n_splits`` and ``random_state`` fix
        the folds.
    space : callable, optional
        ``space(trial) -> params``; default :func:`~gbscore.tuning.suggest_params` for
        ``model`` (without the augmenter when ``pruning="round"``: the boosting rounds report
        L2 on an inner split of real and synthetic rows, whose labels the augmenter changes,
        so its values are comparable across trials only with the augmenter fixed).
    target : {"shift", "plain"}, default="shift"
        Minimise the shift-aware RMSE (held-out rows plus mismatched pairs built from them)
        or the plain RMSE on held-out rows.
    pruning : {"fold", "round", "none"}, default="fold"
    metric_embeddings : DataFrame, optional
        The given metric embeddings, passed to the pipeline.
    cache_dir : str or Path, optional
        Embedding cache directory.
    """

    def __init__(
        self,
        X,
        y,
        *,
        model="lightgbm",
        base_config=None,
        space=None,
        target="shift",
        pruning="fold",
        metric_embeddings=None,
        cache_dir=None,
    ):
        if model not in SEARCH_SPACES:
            raise ConfigError(f"model={model!r} is not one of {sorted(SEARCH_SPACES)}")
        if target not in TARGETS:
            raise ConfigError(f"target={target!r} is not one of {list(TARGETS)}")
        if pruning not in PRUNING:
            raise ConfigError(f"pruning={pruning!r} is not one of {list(PRUNING)}")
        if pruning == "round" and model != "lightgbm":
            raise ConfigError(
                f"pruning='round' reports LightGBM boosting rounds; model={model!r} supports "
                "pruning='fold' or 'none'"
            )
        self.X = X.drop(columns="score", errors="ignore").reset_index(drop=True)
        self.y = np.asarray(y, dtype=np.float64)
        if len(self.X) != len(self.y):
            raise ValueError(f"X has {len(self.X)} rows but y has {len(self.y)}")
        self.model = model
        self.base_config = check_config(merge_config(base_config or {}, {"model": model}))
        self.base_config.pop("stack", None)  # the stack section means nothing to a base model
        self.space = space
        self.target = target
        self.pruning = pruning
        self.metric_embeddings = metric_embeddings
        self.cache_dir = cache_dir
        self.cv = build_cv(self.base_config)
        self.n_splits = self.cv.get_n_splits()
        self.random_state = self.cv.random_state

    # -- trials ---------------------------------------------------------------------------

    def config_for(self, trial):
        """The config a trial evaluates: ``base_config`` with the suggested params on top."""
        # Round pruning compares inner-validation L2 over real *and synthetic* rows, which is
        # comparable across trials only while the augmenter is fixed.
        augment = self.pruning != "round"
        space = self.space or (lambda t: suggest_params(t, self.model, augment=augment))
        config = merge_config(self.base_config, {})
        params = keep_base_relations(config.get("params"), dict(space(trial)))
        config["params"] = {**(config.get("params") or {}), **params}
        return config

    def build(self, config):
        """The unfitted pipeline of a config (label-policy specs resolved)."""
        return build_pipeline(
            config,
            metric_embeddings=self.metric_embeddings,
            cache_dir=self.cache_dir,
            show_progress=False,
        )

    # -- the objective -------------------------------------------------------------------

    def __call__(self, trial):
        import optuna

        start = time.perf_counter()
        trial.set_user_attr("worker", worker_id())
        config = self.config_for(trial)
        trial.set_user_attr("config", config)
        estimator = self.build(config)
        fit_params = None
        if self.pruning == "round":
            from optuna_integration import LightGBMPruningCallback

            callback = LightGBMPruningCallback(trial, "l2", valid_name="valid_0")

            def fit_params(k):
                # Boosting rounds restart in every fold: only the first fold's are comparable.
                return {"model": {"model__callbacks": [callback]}} if k == 0 else {}

        scores = {}

        def on_fold(k, partial):
            row = partial.scores().loc["model"]
            scores.update(plain=float(row.rmse_plain), shift=float(row.rmse_shift))
            value = scores[self.target]
            trial.set_user_attr("folds_done", k + 1)
            if self.pruning == "fold":
                trial.report(value, step=k)
                if k < self.n_splits - 1 and trial.should_prune():
                    trial.set_user_attr("seconds", round(time.perf_counter() - start, 3))
                    raise optuna.TrialPruned(f"pruned after fold {k} with running RMSE {value:.4f}")

        cross_val_oof(
            {"model": estimator},
            self.X,
            self.y,
            cv=self.cv,
            random_state=self.random_state,
            fit_params=fit_params,
            on_fold=on_fold,
            show_progress=False,
        )
        trial.set_user_attr("rmse_plain", scores["plain"])
        trial.set_user_attr("rmse_shift", scores["shift"])
        trial.set_user_attr("seconds", round(time.perf_counter() - start, 3))
        return scores[self.target]
