"""The stack study: which base models to blend and how the meta-learner is fitted.

Base models are cross-validated once (:func:`gbscore.model_selection.cross_val_oof`) and their
out-of-fold predictions saved to a file; every trial then only refits the meta-learner, so a
trial costs milliseconds. A trial is scored by :func:`gbscore.stacking.cross_fit_meta` over the
OOF rows with the same folds: the meta-learner for fold ``k`` is fitted on the other folds'
rows and predicts fold ``k``'s real rows and mismatched pairs, so no row is scored by a
meta-learner that saw it.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from pathlib import Path

import numpy as np

from ..config import build_cv, build_pipeline, final_estimator
from ..exceptions import ConfigError
from ..model_selection import OOFPredictions, cross_val_oof, rmse
from ..stacking import cross_fit_meta

__all__ = ["StackObjective", "cached_oof"]

log = logging.getLogger("gbscore")


def cached_oof(
    configs,
    data,
    *,
    path,
    cache_dir=None,
    n_splits=5,
    random_state=0,
    cv_grouping="phrasing",
    cv_buffer=None,
    show_progress=True,
):
    """Load the OOF predictions at ``path``, or compute them once and save them there.

    Parameters
    ----------
    configs : dict of str to dict
        Base model name -> config.
    data : TuningData
    path : str or Path
        An ``.npz`` file written by :meth:`gbscore.model_selection.OOFPredictions.save`.
    n_splits, random_state
        The folds (:func:`gbscore.config.build_cv`, grouped as ``cv_grouping``).
    cache_dir, show_progress
        As for :func:`gbscore.model_selection.cross_val_oof`.
    cv_grouping : str, default="phrasing"
    cv_buffer : float, optional
        The folds' buffer (``cv.buffer``, already matched: not ``"auto"``).

    Returns
    -------
    OOFPredictions
    """
    if cv_buffer == "auto":
        raise ConfigError(
            "cached_oof: cv_buffer='auto' must be matched to a test set first "
            "(gbscore.config.resolve_cv_buffer); pass the cosine it gives, or None"
        )
    path = Path(path)
    # The base configs and the seed, as JSON holds them: the file is reused only for these.
    made_by = json.loads(
        json.dumps({"configs": configs, "random_state": random_state}, sort_keys=True, default=str)
    )
    if path.exists():
        oof = OOFPredictions.load(path)
        y_real = np.asarray(oof.y, dtype=np.float64)[~np.asarray(oof.is_shifted, dtype=bool)]
        if len(y_real) != len(data.y) or not np.array_equal(y_real, data.y):
            raise ConfigError(
                f"{path}: these out-of-fold predictions were computed on other training data "
                f"({len(y_real)} real rows, here {len(data.y)}); delete the file or pass "
                "another --oof"
            )
        if oof.grouping != cv_grouping:
            raise ConfigError(
                f"{path} holds predictions on folds grouped by {oof.grouping!r} but this study "
                f"uses {cv_grouping!r}; delete the file or pass another --oof"
            )
        if oof.buffer != cv_buffer:
            raise ConfigError(
                f"{path} holds predictions on folds with buffer {oof.buffer} but this study "
                f"uses {cv_buffer} (cv.buffer); delete the file or pass another --oof"
            )
        if oof.n_splits != n_splits:
            raise ConfigError(
                f"{path} holds {oof.n_splits}-fold predictions but this study uses "
                f"n_splits={n_splits}; delete the file or pass another --oof"
            )
        missing = sorted(set(configs) - set(oof.models))
        if missing:
            raise ConfigError(
                f"{path} has predictions of {oof.models} but not of {missing}; delete it to "
                "recompute, or pass another --oof"
            )
        saved = oof.provenance
        if saved.get("random_state") != made_by["random_state"]:
            raise ConfigError(
                f"{path} holds predictions made with random_state={saved.get('random_state')!r} "
                f"but this study uses {random_state!r}"
                + ("" if saved else " (the file does not record its configs or seed)")
                + "; delete the file or pass another --oof"
            )
        changed = sorted(
            n for n in configs if saved.get("configs", {}).get(n) != made_by["configs"][n]
        )
        if changed:
            raise ConfigError(
                f"{path} holds predictions of base(s) {changed} made with other configs than "
                "this study's (--stack-config / the stack section); delete the file or pass "
                "another --oof"
            )
        log.info("loaded out-of-fold predictions of %s from %s", oof.models, path)
        return oof
    start = time.perf_counter()
    bases = {
        name: build_pipeline(
            cfg,
            metric_embeddings=data.metric_embeddings,
            cache_dir=cache_dir,
            show_progress=show_progress,
        )
        for name, cfg in configs.items()
    }
    cv = build_cv(
        {
            "cv": {"n_splits": n_splits, "grouping": cv_grouping, "buffer": cv_buffer},
            "random_state": random_state,
        }
    )
    oof = cross_val_oof(
        bases, data.X, data.y, cv=cv, random_state=random_state, show_progress=show_progress
    )
    oof.provenance = made_by
    oof.save(path)
    log.info("out-of-fold predictions: %.1fs, saved to %s", time.perf_counter() - start, path)
    return oof


class StackObjective:
    """Optuna objective over cached OOF predictions: base-model subset and meta-learner.

    A trial chooses which base models enter (``use__<name>``; a trial choosing none is
    pruned), the meta-learner (``meta``: non-negative least squares, ridge, or the mean of
    NNLS and monotone boosted trees, :func:`gbscore.config.final_estimator`), the ridge
    strength (``meta_alpha``, ridge only) and the rows it is fitted on (``meta_rows``: real
    rows and mismatched pairs, or real rows only). Its value is the RMSE of
    :func:`gbscore.stacking.cross_fit_meta` on the held-out rows. :meth:`default_params` is
    the untuned stack's trial, which :func:`gbscore.tuning.tune` enqueues first.

    Parameters
    ----------
    oof : OOFPredictions
    configs : dict of str to dict, optional
        The base models' configs; with them each trial stores a complete ``"model":
        "stack"`` config (``gbscore run --config`` reads its export).
    target : {"shift", "plain"}, default="shift"
        Score every held-out row (real and mismatched), or the real ones only.
    metas : sequence of str, default=("nnls", "ridge", "nnls_gbm")
        ``"nnls_gbm"``, the default stack's, costs about a second a trial at 13,000
        out-of-fold rows; the others milliseconds.
    alpha_range : (float, float), default=(1e-3, 1e3)
        Log-uniform range of the ridge meta-learner's penalty.
    rows : sequence of str, default=("shift_aware", "real")
        Row sets the meta-learner may be fitted on.
    random_state : int, default=0
        Stored in the exported config (the seed the OOF predictions were computed with).
    """

    def __init__(
        self,
        oof,
        *,
        configs=None,
        target="shift",
        metas=("nnls", "ridge", "nnls_gbm"),
        alpha_range=(1e-3, 1e3),
        rows=("shift_aware", "real"),
        random_state=0,
    ):
        if target not in ("shift", "plain"):
            raise ConfigError(f"target={target!r} is not one of ['shift', 'plain']")
        if configs is not None:
            missing = sorted(set(oof.models) - set(configs))
            if missing:
                raise ConfigError(f"no config for the out-of-fold columns {missing}")
        self.oof = oof
        self.configs = configs
        self.target = target
        self.metas = tuple(metas)
        self.alpha_range = alpha_range
        self.rows = tuple(rows)
        self.random_state = random_state

    def default_params(self, stack=None):
        """The trial parameters of a config's ``stack`` section (default: the default stack's).

        Every out-of-fold column is used, as the untuned stack uses every base; the meta-
        learner and its rows are the section's. A section that names a meta or rows this
        study does not search raises :class:`ConfigError`.
        """
        from ..config import DEFAULT_CONFIG

        stack = {**DEFAULT_CONFIG["stack"], **(stack or {})}
        for key, allowed in (("meta", self.metas), ("meta_rows", self.rows)):
            if stack[key] not in allowed:
                raise ConfigError(
                    f"stack.{key}={stack[key]!r} is not searched by this study {list(allowed)}"
                )
        params = {f"use__{m}": True for m in self.oof.models}
        params["meta"] = stack["meta"]
        if stack["meta"] == "ridge":
            params["meta_alpha"] = float(stack["meta_alpha"])
        params["meta_rows"] = stack["meta_rows"]
        return params

    def evaluate(self, models, meta="nnls", alpha=1.0, rows="shift_aware"):
        """``(shift-aware RMSE, plain RMSE)`` of the cross-fitted stack of ``models``."""
        final = final_estimator(meta, alpha, columns=list(models))
        pred = cross_fit_meta(self.oof, final, list(models), rows=rows)
        real = ~np.asarray(self.oof.is_shifted, dtype=bool)
        y = np.asarray(self.oof.y, dtype=np.float64)
        return rmse(y, pred), rmse(y[real], pred[real])

    def config_for(self, models, meta, alpha, rows):
        """The ``"model": "stack"`` config of a choice (read by ``stack_configs``)."""
        # The study scores one combination for every row (its out-of-fold file holds no
        # texts to measure a row's distance from training), so the export asks for that
        # rather than the default's distance gate: `gbscore run` then reproduces the trial.
        section = {"meta": meta, "meta_alpha": alpha, "meta_rows": rows, "meta_gate": None}
        if self.configs is None:
            return {"model": "stack", "stack": {"models": list(models), **section}}
        bases = {}
        for name in models:
            own = copy.deepcopy(self.configs[name])
            for key in ("cv", "stack"):
                own.pop(key, None)
            bases[name] = own
        # Each base carries its own encoder and params; the shared part only names the
        # encoder when every base uses the same one (stack_configs merges it into each base).
        config = {
            "model": "stack",
            "params": {},
            "cv": {
                "n_splits": int(self.oof.n_splits),
                "grouping": self.oof.grouping,
                "buffer": self.oof.buffer,
            },
            "random_state": self.random_state,
            "stack": {"models": bases, **section},
        }
        encoders = [bases[name].get("encoder") for name in models]
        if encoders[0] is not None and all(e == encoders[0] for e in encoders):
            config["encoder"] = copy.deepcopy(encoders[0])
        return config

    def __call__(self, trial):
        import optuna

        chosen = [
            m for m in self.oof.models if trial.suggest_categorical(f"use__{m}", [True, False])
        ]
        meta = trial.suggest_categorical("meta", list(self.metas))
        alpha = (
            trial.suggest_float("meta_alpha", *self.alpha_range, log=True)
            if meta == "ridge"
            else 1.0
        )
        rows = trial.suggest_categorical("meta_rows", list(self.rows))
        if not chosen:
            raise optuna.TrialPruned("no base model chosen")
        shift, plain = self.evaluate(chosen, meta, alpha, rows)
        trial.set_user_attr("rmse_shift", shift)
        trial.set_user_attr("rmse_plain", plain)
        trial.set_user_attr("config", self.config_for(chosen, meta, alpha, rows))
        return shift if self.target == "shift" else plain
