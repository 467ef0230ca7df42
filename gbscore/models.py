"""Regressors (LightGBM, CatBoost, Ridge; the MLP is in gbscore.mlp).

Each regressor is a small scikit-learn estimator with explicit, tunable hyper-parameters that
builds the library model in ``fit``. That keeps ``get_params``/``clone``/Optuna simple, lets
``fit`` hold out an inner validation split for early stopping (the pipeline passes only X, y),
treats the ``metric_family`` column as categorical when present, and clips predictions to the
judge's [0, 10] scale. Devices are resolved by :func:`gbscore._device.resolve_device` (re-exported
here with ``cuda_available``) and translated into each library's words in ``fit``.
"""

from __future__ import annotations

import logging
import numbers

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._device import cuda_available, cuda_index, device_constraint, resolve_device

__all__ = [
    "CatBoostScoreRegressor",
    "LightGBMScoreRegressor",
    "RidgeScoreRegressor",
    "cuda_available",
    "resolve_device",
]

log = logging.getLogger("gbscore")

CATEGORICAL_COLUMNS = ("metric_family",)


def _early_stopping_split(n, fraction, random_state):
    """Row indices (train, validation); validation is None when too few rows or disabled."""
    idx = np.arange(n)
    if not fraction or n < 50:
        return idx, None
    return train_test_split(idx, test_size=fraction, random_state=random_state)


def _categorical(X):
    return [c for c in CATEGORICAL_COLUMNS if isinstance(X, pd.DataFrame) and c in X.columns]


class _ScoreRegressor(RegressorMixin, BaseEstimator):
    """Shared input checks and clipping."""

    def _check_fit_input(self, X, y, sample_weight=None):
        # Validated copies are used for the checks only: a DataFrame is passed on as is, so the
        # boosters keep column names and the categorical metric_family column.
        Xv, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, Xv, dtype=np.float64)
        X = X if isinstance(X, pd.DataFrame) else Xv
        return X, np.asarray(y, dtype=np.float64), sample_weight

    def _finish(self, pred):
        pred = np.asarray(pred, dtype=np.float64).ravel()
        return np.clip(pred, 0.0, 10.0) if self.clip else pred

    def _check_predict_input(self, X):
        check_is_fitted(self)
        Xv = validate_data(self, X, reset=False, dtype=np.float64)
        return X if isinstance(X, pd.DataFrame) else Xv


class LightGBMScoreRegressor(_ScoreRegressor):
    """LightGBM gradient boosting with inner-split early stopping.

    Parameters
    ----------
    n_estimators : int, default=1500
        Upper bound on boosting rounds; early stopping usually ends far sooner.
    learning_rate : float, default=0.05
    num_leaves : int, default=31
    min_child_samples : int, default=20
    subsample : float, default=0.8
        Row bagging fraction (applied every round).
    colsample_bytree : float, default=0.5
    reg_lambda : float, default=1.0
    early_stopping_fraction : float, default=0.1
        Share of the training rows held out to stop boosting; 0 disables early stopping.
    early_stopping_rounds : int, default=50
    device : {"auto", "cpu", "cuda", "cuda:N"}, default="auto"
        ``"cuda"`` trains on LightGBM's GPU device (``device_type="gpu"``; the PyPI wheel
        reaches it through OpenCL, LightGBM's CUDA device needs a source build) and
        ``"cuda:N"`` on its ``gpu_device_id=N``. ``"gpu"`` is an alias of ``"cuda"``.
        ``"auto"`` uses the GPU when a one-round test fit on it works, else the CPU.
    n_jobs : int, default=-1
    clip : bool, default=True
        Clip predictions to [0, 10].
    random_state : int, default=0
    params : dict, default=None
        Any other ``lightgbm.LGBMRegressor`` arguments.
    """

    _parameter_constraints: dict = {
        "n_estimators": [Interval(numbers.Integral, 1, None, closed="left")],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "num_leaves": [Interval(numbers.Integral, 2, None, closed="left")],
        "min_child_samples": [Interval(numbers.Integral, 1, None, closed="left")],
        "subsample": [Interval(numbers.Real, 0, 1, closed="right")],
        "colsample_bytree": [Interval(numbers.Real, 0, 1, closed="right")],
        "reg_lambda": [Interval(numbers.Real, 0, None, closed="left")],
        "early_stopping_fraction": [Interval(numbers.Real, 0, 1, closed="left")],
        "early_stopping_rounds": [Interval(numbers.Integral, 1, None, closed="left")],
        "device": [device_constraint()],
        "n_jobs": [numbers.Integral],
        "clip": ["boolean"],
        "random_state": [numbers.Integral],
        "params": [dict, None],
    }

    def __init__(
        self,
        *,
        n_estimators=1500,
        learning_rate=0.05,
        num_leaves=31,
        min_child_samples=20,
        subsample=0.8,
        colsample_bytree=0.5,
        reg_lambda=1.0,
        early_stopping_fraction=0.1,
        early_stopping_rounds=50,
        device="auto",
        n_jobs=-1,
        clip=True,
        random_state=0,
        params=None,
    ):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.early_stopping_fraction = early_stopping_fraction
        self.early_stopping_rounds = early_stopping_rounds
        self.device = device
        self.n_jobs = n_jobs
        self.clip = clip
        self.random_state = random_state
        self.params = params

    def fit(self, X, y, sample_weight=None, callbacks=None):
        """Fit, stopping early on an inner split. ``callbacks`` go to LightGBM (e.g. pruning)."""
        import lightgbm as lgb

        self._validate_params()
        X, y, sample_weight = self._check_fit_input(X, y, sample_weight)
        self.device_ = resolve_device(self.device, library="lightgbm", caller=type(self).__name__)
        on_device = {"device_type": "cpu" if self.device_ == "cpu" else "gpu"}
        if cuda_index(self.device_) is not None:
            on_device["gpu_device_id"] = cuda_index(self.device_)
        model = lgb.LGBMRegressor(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            subsample=self.subsample,
            subsample_freq=1 if self.subsample < 1 else 0,
            colsample_bytree=self.colsample_bytree,
            reg_lambda=self.reg_lambda,
            n_jobs=self.n_jobs,
            random_state=self.random_state,
            deterministic=True,
            force_col_wise=True,
            verbose=-1,
            **on_device,
            **(self.params or {}),
        )
        fit_kw = {
            "categorical_feature": _categorical(X) or "auto",
            "callbacks": list(callbacks or []),
        }
        tr, val = _early_stopping_split(len(y), self.early_stopping_fraction, self.random_state)
        if val is not None:
            fit_kw["eval_X"], fit_kw["eval_y"] = _rows(X, val), y[val]
            fit_kw["callbacks"].append(
                lgb.early_stopping(self.early_stopping_rounds, verbose=False)
            )
        weight = None if sample_weight is None else np.asarray(sample_weight)[tr]
        model.fit(_rows(X, tr), y[tr], sample_weight=weight, **fit_kw)
        self.model_ = model
        self.best_iteration_ = model.best_iteration_ or model.n_estimators
        self.feature_importances_ = model.feature_importances_
        return self

    def predict(self, X):
        X = self._check_predict_input(X)
        return self._finish(self.model_.predict(X))


class CatBoostScoreRegressor(_ScoreRegressor):
    """CatBoost with inner-split early stopping and ``task_type="GPU"`` when CUDA is visible.

    A constant target (which CatBoost refuses) is fitted as that constant, as LightGBM and
    Ridge fit it; ``model_`` is then None and ``constant_`` holds the value.

    Parameters
    ----------
    iterations : int, default=2000
    learning_rate : float, default=0.06
    depth : int, default=6
    l2_leaf_reg : float, default=3.0
    rsm : float, default=None
        Feature subsampling per split (CPU only); ``None`` uses CatBoost's default.
    loss_function : str, default="RMSE"
        ``"RMSEWithUncertainty"`` makes :meth:`predict_uncertainty` meaningful.
    early_stopping_fraction : float, default=0.1
    early_stopping_rounds : int, default=100
    device : {"auto", "cpu", "cuda", "cuda:N"}, default="auto"
        ``"cuda"`` trains with ``task_type="GPU"``, ``"cuda:N"`` also with ``devices="N"``.
        ``"gpu"`` is an alias of ``"cuda"``. ``"auto"`` uses the GPU when torch sees a CUDA
        device, else the CPU.
    thread_count : int, default=-1
    gpu_ram_part : float in (0, 1], default=None
        Share of the GPU's memory CatBoost reserves up front when it trains there (ignored on
        the CPU). ``None`` keeps CatBoost's own 0.95, which leaves nothing for a second fit:
        :func:`~gbscore.model_selection.cross_val_oof` gives each of ``n`` parallel folds
        ``0.8 / n`` instead.
    clip : bool, default=True
    random_state : int, default=0
    params : dict, default=None
        Any other ``catboost.CatBoostRegressor`` arguments.
    """

    #: Class-level default, so that models saved before the parameter existed still load.
    gpu_ram_part = None

    _parameter_constraints: dict = {
        "iterations": [Interval(numbers.Integral, 1, None, closed="left")],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "depth": [Interval(numbers.Integral, 1, 16, closed="both")],
        "l2_leaf_reg": [Interval(numbers.Real, 0, None, closed="left")],
        "rsm": [Interval(numbers.Real, 0, 1, closed="right"), None],
        "loss_function": [StrOptions({"RMSE", "RMSEWithUncertainty", "MAE", "Huber:delta=1.0"})],
        "early_stopping_fraction": [Interval(numbers.Real, 0, 1, closed="left")],
        "early_stopping_rounds": [Interval(numbers.Integral, 1, None, closed="left")],
        "device": [device_constraint()],
        "thread_count": [numbers.Integral],
        "gpu_ram_part": [Interval(numbers.Real, 0, 1, closed="right"), None],
        "clip": ["boolean"],
        "random_state": [numbers.Integral],
        "params": [dict, None],
    }

    def __init__(
        self,
        *,
        iterations=2000,
        learning_rate=0.06,
        depth=6,
        l2_leaf_reg=3.0,
        rsm=None,
        loss_function="RMSE",
        early_stopping_fraction=0.1,
        early_stopping_rounds=100,
        device="auto",
        thread_count=-1,
        gpu_ram_part=None,
        clip=True,
        random_state=0,
        params=None,
    ):
        self.iterations = iterations
        self.learning_rate = learning_rate
        self.depth = depth
        self.l2_leaf_reg = l2_leaf_reg
        self.rsm = rsm
        self.loss_function = loss_function
        self.early_stopping_fraction = early_stopping_fraction
        self.early_stopping_rounds = early_stopping_rounds
        self.device = device
        self.thread_count = thread_count
        self.gpu_ram_part = gpu_ram_part
        self.clip = clip
        self.random_state = random_state
        self.params = params

    def fit(self, X, y, sample_weight=None):
        from catboost import CatBoostRegressor, Pool

        self._validate_params()
        X, y, sample_weight = self._check_fit_input(X, y, sample_weight)
        self.device_ = resolve_device(self.device, library="catboost", caller=type(self).__name__)
        if np.ptp(y) == 0:
            return self._fit_constant(y)
        cat = _categorical(X)
        X = _catboost_frame(X, cat)
        kw = dict(
            iterations=self.iterations,
            learning_rate=self.learning_rate,
            depth=self.depth,
            l2_leaf_reg=self.l2_leaf_reg,
            loss_function=self.loss_function,
            task_type="CPU" if self.device_ == "cpu" else "GPU",
            thread_count=self.thread_count,
            random_seed=self.random_state,
            allow_writing_files=False,
            verbose=False,
            **(self.params or {}),
        )
        if self.rsm is not None and self.device_ == "cpu":
            kw["rsm"] = self.rsm
        if cuda_index(self.device_) is not None:
            kw["devices"] = str(cuda_index(self.device_))
        if self.device_ != "cpu" and self.gpu_ram_part is not None:
            kw.setdefault("gpu_ram_part", self.gpu_ram_part)  # an explicit params entry wins
        model = CatBoostRegressor(**kw)
        tr, val = _early_stopping_split(len(y), self.early_stopping_fraction, self.random_state)
        if val is not None and np.ptp(y[tr]) == 0:
            # the held-out split took every other target value: no split can help
            tr, val = np.arange(len(y)), None
        weight = None if sample_weight is None else np.asarray(sample_weight)[tr]
        train_pool = Pool(_rows(X, tr), y[tr], cat_features=cat or None, weight=weight)
        eval_pool = None
        if val is not None:
            eval_pool = Pool(_rows(X, val), y[val], cat_features=cat or None)
        model.fit(
            train_pool,
            eval_set=eval_pool,
            early_stopping_rounds=self.early_stopping_rounds if eval_pool is not None else None,
            use_best_model=eval_pool is not None,
        )
        self.model_ = model
        self.constant_ = None
        self.best_iteration_ = model.get_best_iteration() or model.tree_count_
        self.feature_importances_ = model.get_feature_importance()
        return self

    def _fit_constant(self, y):
        # CatBoost refuses a constant target ("All train targets are equal"); LightGBM and Ridge
        # fit it as that constant, which is the least-squares answer, so do the same.
        log.info(
            "CatBoostScoreRegressor: all %d training targets equal %g; predicting that value",
            len(y),
            y[0],
        )
        self.model_ = None
        self.constant_ = float(y[0])
        self.best_iteration_ = 0
        self.feature_importances_ = np.zeros(self.n_features_in_)
        return self

    def predict(self, X):
        X = self._check_predict_input(X)
        if self.model_ is None:
            return self._finish(np.full(len(X), self.constant_))
        pred = self.model_.predict(_catboost_frame(X, _categorical(X)))
        pred = np.asarray(pred)
        return self._finish(pred[:, 0] if pred.ndim == 2 else pred)

    def predict_uncertainty(self, X):
        """Predicted standard deviation per row (needs ``loss_function="RMSEWithUncertainty"``)."""
        X = self._check_predict_input(X)
        if self.loss_function != "RMSEWithUncertainty":
            raise ValueError(
                "predict_uncertainty needs loss_function='RMSEWithUncertainty'; "
                f"this model was fitted with {self.loss_function!r}"
            )
        if self.model_ is None:
            return np.zeros(len(X))  # a constant target has no spread
        pred = np.asarray(self.model_.predict(_catboost_frame(X, _categorical(X))))
        return np.sqrt(np.maximum(pred[:, 1], 0.0))


class RidgeScoreRegressor(_ScoreRegressor):
    """Standardised Ridge regression, the linear base model.

    Parameters
    ----------
    alpha : float, default=30.0
    clip : bool, default=True
    """

    _parameter_constraints: dict = {
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "clip": ["boolean"],
    }

    def __init__(self, *, alpha=30.0, clip=True):
        self.alpha = alpha
        self.clip = clip

    def fit(self, X, y, sample_weight=None):
        self._validate_params()
        X, y, sample_weight = self._check_fit_input(X, y, sample_weight)
        self.model_ = make_pipeline(StandardScaler(), Ridge(alpha=self.alpha))
        self.model_.fit(_numeric(X), y, ridge__sample_weight=sample_weight)
        self.coef_ = self.model_[-1].coef_
        self.feature_importances_ = np.abs(self.coef_)
        return self

    def predict(self, X):
        X = self._check_predict_input(X)
        return self._finish(self.model_.predict(_numeric(X)))


def _rows(X, idx):
    return X.iloc[idx] if isinstance(X, pd.DataFrame) else np.asarray(X)[idx]


def _numeric(X):
    # Ridge cannot use a categorical code as a number; the boosters get it as categorical.
    # float64, not float32: scikit-learn's Ridge keeps the input's precision, and a float32
    # row's prediction then changes in its last bit with the row's position in the batch (BLAS
    # kernels block rows), so a row's score depended on the rows predicted with it.
    if isinstance(X, pd.DataFrame):
        X = X.drop(columns=_categorical(X))
        return X.to_numpy(dtype=np.float64)
    return np.asarray(X, dtype=np.float64)


def _catboost_frame(X, cat):
    if not cat:
        return X
    X = X.copy()
    for c in cat:
        X[c] = X[c].astype(np.int64)
    return X
