"""The stacked regressor: bases cross-fitted, a final estimator on their out-of-fold columns.

Also what a fitted stack reports about itself: the final estimator's weights
(:func:`meta_weights`) and each base's feature importances (:func:`feature_importance_table`).
"""

from __future__ import annotations

import logging
import numbers
import os

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.utils._param_validation import HasMethods, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..model_selection import check_cv, check_table, cross_val_oof, rmse
from ..models import CATEGORICAL_COLUMNS
from ..pipeline import is_sampler, predict_shared
from ._gate import fit_gate
from ._meta import (
    CALIBRATION_MIN_GAIN,
    cross_fit_calibration,
    cross_fit_meta,
    default_meta,
    fit_meta,
    isotonic_map,
    meta_frame,
    uncertainty_features,
)

__all__ = ["StackedScoreRegressor", "feature_importance_table", "meta_weights"]

log = logging.getLogger("gbscore")

_ROW_SETS = ("shift_aware", "real")


def meta_weights(meta):
    """Weights and intercept of a fitted linear meta-learner as a JSON-ready dict.

    For the ``"nnls_gbm"`` meta-learner, those of its linear half, with ``linear_share`` (the
    share of the prediction it makes; the trees make the rest).

    Given a fitted :class:`StackedScoreRegressor`, those of its final estimator, plus its
    ``calibration_report_`` under ``"calibration"`` when it was fitted with calibration.
    """
    if isinstance(meta, StackedScoreRegressor):
        out = meta_weights(meta.final_estimator_)
        if getattr(meta, "gate_", None) is not None:
            out["gate"] = meta.gate_.summary()
        if getattr(meta, "calibration_report_", None) is not None:
            out["calibration"] = dict(meta.calibration_report_)
        return out
    linear = getattr(meta, "named_estimators_", {}).get("nnls")
    if linear is not None:  # config's "nnls_gbm": the linear half is what has weights
        share = 1.0 / len(meta.estimators_)
        return {**meta_weights(linear), "meta": "nnls_gbm", "linear_share": share}
    names = [str(n) for n in getattr(meta, "feature_names_in_", [])]
    coef = getattr(meta, "coef_", None)
    if coef is None:
        return {"meta": type(meta).__name__}
    return {
        "meta": type(meta).__name__,
        "weights": dict(zip(names, map(float, np.ravel(coef)), strict=True)),
        "intercept": float(np.ravel(getattr(meta, "intercept_", 0.0))[0]),
    }


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
        if step is None or step == "passthrough" or is_sampler(step):
            continue
        return np.asarray(step.get_feature_names_out(), dtype=object)
    return None


class StackedScoreRegressor(RegressorMixin, BaseEstimator):
    """Cross-validated stack of scoring pipelines over the tidy table.

    ``fit`` computes out-of-fold predictions of every base (:func:`cross_val_oof`), fits
    the final estimator on them, and refits every base on all rows. ``predict`` combines the
    refitted bases and clips to [0, 10].

    Parameters
    ----------
    estimators : list of (str, estimator)
        The base pipelines, unfitted. Each keeps its own settings (metric embeddings, cache
        directory, seeds); build them with :func:`gbscore.build_pipeline`. Per fold, bases
        share the fitted leading steps they have alike (:func:`gbscore.pipeline.fit_shared`).
    final_estimator : regressor, default=None
        Fitted on the out-of-fold columns (named after the bases). ``None``:
        ``LinearRegression(positive=True)``.
    cv : int or splitter, default=5
        :class:`~gbscore.model_selection.ConversationKFold` folds (phrasing clusters) or a
        splitter.
    meta_rows : {"shift_aware", "real"}, default="shift_aware"
        Rows the final estimator is fitted on (see :func:`fit_meta`).
    meta_gate : {"distance"} or None, default=None
        ``"distance"``: the final estimator sees each base's prediction at both ends of the
        row's phrasing distance from training (:class:`~gbscore.stacking._gate.DistanceGate`),
        so with the default non-negative linear one the bases' weights move linearly between
        the rows phrased furthest from and closest to training. Out-of-fold rows are measured
        to their fold's training conversations, new rows to all of them. ``None``: one
        combination for every row.
    calibration : {"auto", "isotonic"} or None, default=None
        A monotone map of the stack's output onto the score, fitted on the stack's
        cross-fitted out-of-fold rows of ``meta_rows`` (:func:`cross_fit_calibration`).
        ``"auto"`` keeps it only when it lowers the out-of-fold RMSE (each fold mapped by a
        fit on the other folds) by at least ``CALIBRATION_MIN_GAIN`` (0.5%);
        ``"isotonic"`` always keeps it. The decision and both RMSEs are in
        ``calibration_report_``.
    uncertainty : {"residual"} or None, default="residual"
        ``"residual"`` fits a small boosted model of the stack's squared out-of-fold error
        given the base predictions and their spread, used by :meth:`predict_uncertainty`.
    random_state : int, default=0
        Seed of the folds (for an int ``cv``) and of the held-out mismatched pairs.
    n_jobs : int, default=1
        Folds (and the final refit) run in parallel with joblib.
    dask_address : str, default=None
        Run the folds on the Dask cluster at this scheduler address.
    cache_dir : str, default=None
        Embedding cache for bases without one while folds run in other processes.
    show_progress : bool, default=True

    Attributes
    ----------
    estimators_ : list of estimator
        The bases refitted on all rows, in the order of ``estimators``.
    named_estimators_ : dict of str to estimator
    final_estimator_ : regressor
        Fitted on all out-of-fold rows of ``meta_rows``.
    gate_ : DistanceGate or None
        With ``meta_gate``; None without it, or where the training phrasing gave no distance
        to gate on (a log line says why).
    oof_ : OOFPredictions
        Out-of-fold predictions of every base plus the column ``"stack"`` (cross-fitted final
        estimator, see :func:`cross_fit_meta`).
    uncertainty_model_ : estimator or None
    calibrator_ : IsotonicRegression or None
        The monotone map applied after the final estimator, when calibration is used.
    calibration_report_ : dict or None
        ``{"rmse_uncalibrated", "rmse_calibrated", "used"}`` on the out-of-fold rows of
        ``meta_rows`` (None without ``calibration``).

    Examples
    --------
    >>> from gbscore import build_pipeline
    >>> from gbscore.datasets import make_judge_data
    >>> data = make_judge_data(n_train=120, n_test=10, random_state=0)
    >>> import pandas as pd
    >>> fast = {"encoder": {"kind": "char-tfidf", "n_components": 8}}
    >>> kw = {"show_progress": False,  # test metrics unseen in train need the given vectors
    ...       "metric_embeddings": pd.DataFrame(data.metric_embeddings, index=data.metric_names)}
    >>> ridge = build_pipeline({**fast, "model": "ridge"}, **kw)
    >>> lgbm = build_pipeline({**fast, "model": "lightgbm", "params": {
    ...     "model__n_estimators": 20, "model__n_jobs": 1}}, **kw)
    >>> stack = StackedScoreRegressor(estimators=[("ridge", ridge), ("lgbm", lgbm)], cv=2,
    ...                               show_progress=False)
    >>> stack.fit(data.train.drop(columns="score"), data.train["score"]).predict(data.test).shape
    (10,)
    """

    _parameter_constraints: dict = {
        "estimators": [list],
        "final_estimator": [HasMethods(["fit", "predict"]), None],
        "cv": ["cv_object"],
        "meta_rows": [StrOptions(set(_ROW_SETS))],
        "meta_gate": [StrOptions({"distance"}), None],
        "calibration": [StrOptions({"auto", "isotonic"}), None],
        "uncertainty": [StrOptions({"residual"}), None],
        "random_state": [numbers.Integral],
        "n_jobs": [numbers.Integral, None],
        "dask_address": "no_validation",
        "cache_dir": [str, os.PathLike, None],
        "show_progress": ["boolean"],
    }

    def __init__(
        self,
        estimators,
        *,
        final_estimator=None,
        cv=5,
        meta_rows="shift_aware",
        meta_gate=None,
        calibration=None,
        uncertainty="residual",
        random_state=0,
        n_jobs=1,
        dask_address=None,
        cache_dir=None,
        show_progress=True,
    ):
        self.estimators = estimators
        self.final_estimator = final_estimator
        self.cv = cv
        self.meta_rows = meta_rows
        self.meta_gate = meta_gate
        self.calibration = calibration
        self.uncertainty = uncertainty
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.dask_address = dask_address
        self.cache_dir = cache_dir
        self.show_progress = show_progress

    # sklearn's composition helpers (get_params of nested estimators) expect these names.
    def _named_bases(self):
        # Until fit validates it, ``estimators`` may hold anything: only (name, estimator)
        # pairs expose and take nested parameters.
        current = self.estimators if isinstance(self.estimators, list | tuple) else []
        return {
            p[0]: p[1]
            for p in current
            if isinstance(p, tuple) and len(p) == 2 and hasattr(p[1], "get_params")
        }

    def get_params(self, deep=True):
        params = super().get_params(deep=False)
        if deep:
            for name, est in self._named_bases().items():
                params[name] = est
                for key, value in est.get_params(deep=True).items():
                    params[f"{name}__{key}"] = value
        return params

    def set_params(self, **params):
        names = self._named_bases()
        nested = {}
        for key in list(params):
            head, sep, rest = key.partition("__")
            if head in names and sep:
                nested.setdefault(head, {})[rest] = params.pop(key)
            elif head in names and not sep:
                self.estimators = [
                    (n, params.pop(key) if n == head else e) for n, e in self.estimators
                ]
        super().set_params(**params)
        for name, kw in nested.items():
            self._named_bases()[name].set_params(**kw)
        return self

    def _check_estimators(self):
        names = [n for n, _ in self.estimators]
        if not names:
            raise ValueError("estimators is empty; a stack needs at least one base")
        if len(set(names)) != len(names) or "stack" in names:
            raise ValueError(f"estimator names must be unique and not 'stack'; got {names}")

    def _final(self):
        return clone(self.final_estimator if self.final_estimator is not None else default_meta())

    def fit(self, X, y):
        """Out-of-fold predictions, final estimator, and the refit of every base.

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
        self._check_estimators()
        X, y = check_table(X, y)
        oof, fitted = cross_val_oof(
            self.estimators,
            X,
            y,
            cv=check_cv(self.cv, random_state=self.random_state),
            random_state=self.random_state,
            n_jobs=self.n_jobs,
            dask_address=self.dask_address,
            cache_dir=self.cache_dir,
            refit=True,
            show_progress=self.show_progress,
        )
        self._fit_final(oof, X)
        self.named_estimators_ = fitted
        self.estimators_ = [fitted[n] for n, _ in self.estimators]
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        weights = meta_weights(self.final_estimator_).get("weights", {})
        log.info("stack weights: %s", ", ".join(f"{m} {w:.3f}" for m, w in weights.items()))
        return self

    def _fit_final(self, oof, X=None):
        """Fit the final estimator and the uncertainty model on out-of-fold predictions.

        ``X`` is the training table the folds split; the distance gate needs it.
        """
        models = [n for n, _ in self.estimators]
        final = self.final_estimator if self.final_estimator is not None else default_meta()
        self.gate_ = None
        if self.meta_gate == "distance":
            if X is None:
                raise ValueError("meta_gate='distance' needs the training table X")
            self.gate_ = fit_gate(oof, X)
        kw = {"rows": self.meta_rows, "gate": self.gate_}
        self.final_estimator_ = fit_meta(oof, final, models, **kw)
        stacked = cross_fit_meta(oof, final, models, **kw)
        mask = oof.rows_mask(self.meta_rows)
        stacked = self._fit_calibration(oof, stacked, mask)
        self.oof_ = oof.with_column("stack", stacked)
        self.uncertainty_model_ = None
        if self.uncertainty == "residual":
            # Poisson loss keeps the predicted squared error positive.
            self.uncertainty_model_ = HistGradientBoostingRegressor(
                loss="poisson",
                max_iter=150,
                learning_rate=0.05,
                max_leaf_nodes=15,
                min_samples_leaf=40,
                random_state=self.random_state,
            ).fit(
                uncertainty_features(meta_frame(oof, models, mask)),
                (oof.y[mask] - stacked[mask]) ** 2,
            )
        return self

    def _fit_calibration(self, oof, stacked, mask):
        """Fit ``calibrator_`` when asked and useful; return the stack's out-of-fold column."""
        self.calibrator_, self.calibration_report_ = None, None
        if self.calibration is None:
            return stacked
        mapped = cross_fit_calibration(stacked, oof.y, oof.fold, mask)
        before, after = rmse(oof.y[mask], stacked[mask]), rmse(oof.y[mask], mapped[mask])
        used = self.calibration == "isotonic" or after < before * (1 - CALIBRATION_MIN_GAIN)
        self.calibration_report_ = {
            "rmse_uncalibrated": before,
            "rmse_calibrated": after,
            "used": bool(used),
        }
        log.info(
            "stack calibration: out-of-fold RMSE %.4f -> %.4f with a monotone map: %s",
            before,
            after,
            "used" if used else "not used",
        )
        if not used:
            return stacked
        self.calibrator_ = isotonic_map().fit(stacked[mask], oof.y[mask])
        return mapped

    def predict_bases(self, X):
        """Predictions of every refitted base, one column per base (shared steps run once)."""
        check_is_fitted(self)
        out = predict_shared(self.named_estimators_, X)
        return pd.DataFrame({n: out[n] for n, _ in self.estimators})

    def combine(self, bases, X=None):
        """Stacked scores in [0, 10] from a frame of base predictions (:meth:`predict_bases`).

        ``X``, the rows the bases predicted, is needed by a stack with a distance gate
        (``gate_``), whose weights depend on each row's phrasing.
        """
        check_is_fitted(self)
        gate = getattr(self, "gate_", None)  # absent in models saved before 0.3
        if gate is not None:
            if X is None:
                raise ValueError(
                    "this stack's weights depend on each row's phrasing (meta_gate="
                    "'distance'): pass the rows the bases predicted, combine(bases, X)"
                )
            if len(X) != len(bases):
                raise ValueError(
                    f"combine got {len(bases)} rows of base predictions but {len(X)} rows of X"
                )
            bases = gate.expand(bases, gate.similarity(X))
        out = np.clip(self.final_estimator_.predict(bases), 0.0, 10.0)
        calibrator = getattr(self, "calibrator_", None)  # absent in models saved before 0.3
        return out if calibrator is None else calibrator.predict(out)

    def predict(self, X):
        """Stacked scores in [0, 10], one per row of the tidy table ``X``."""
        return self.combine(self.predict_bases(X), X)

    def predict_uncertainty(self, X):
        """Estimated standard deviation of each prediction's error.

        Learned from the stack's cross-fitted out-of-fold errors (real rows and mismatched
        pairs), given the base predictions and how much the bases disagree.
        """
        return self.uncertainty_from_bases(self.predict_bases(X))

    def uncertainty_from_bases(self, bases):
        """:meth:`predict_uncertainty` from a frame of base predictions (:meth:`predict_bases`)."""
        check_is_fitted(self)
        if self.uncertainty_model_ is None:
            raise ValueError(
                "this stack was fitted with uncertainty=None; refit with uncertainty='residual'"
            )
        features = uncertainty_features(bases)
        return np.sqrt(np.maximum(self.uncertainty_model_.predict(features), 0.0))

    def feature_importances(self):
        """Feature importances of every base regressor by feature name: ``{base: DataFrame}``."""
        check_is_fitted(self)
        out = {}
        for name, est in self.named_estimators_.items():
            table = feature_importance_table(est) if hasattr(est, "steps") else None
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
