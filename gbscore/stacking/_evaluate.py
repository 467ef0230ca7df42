"""Shift-aware cross-validation of an unfitted pipeline or stack, without the final refit."""

from __future__ import annotations

from sklearn.base import clone

from ..model_selection import check_cv, cross_val_oof
from ._regressor import StackedScoreRegressor, meta_weights

__all__ = ["evaluate"]


def evaluate(
    model,
    X,
    y,
    *,
    cv=None,
    random_state=0,
    n_jobs=1,
    dask_address=None,
    cache_dir=None,
    show_progress=True,
):
    """Shift-aware out-of-fold predictions of a model; for a stack, of each base and the stack.

    Parameters
    ----------
    model : ScorePipeline or StackedScoreRegressor
        Unfitted. A single pipeline gives one column named after its regressor's kind.
    X, y
        The tidy training table and its scores.
    cv : int or splitter, optional
        Default: the stack's own ``cv``; for a pipeline, 5 phrasing-cluster folds.
    random_state : int, default=0
        Seed of the folds and held-out pairs of a pipeline (a stack uses its own).
    n_jobs, dask_address, cache_dir, show_progress
        As for :func:`~gbscore.model_selection.cross_val_oof`.

    Returns
    -------
    (OOFPredictions, dict or None)
        The predictions, and for a stack the final estimator's weights
        (:func:`meta_weights`) fitted on all out-of-fold rows.
    """
    if isinstance(model, StackedScoreRegressor):
        model._validate_params()
        model._check_estimators()
        folds = check_cv(model.cv if cv is None else cv, random_state=model.random_state)
        oof = cross_val_oof(
            model.estimators,
            X,
            y,
            cv=folds,
            random_state=model.random_state,
            n_jobs=n_jobs,
            dask_address=dask_address,
            cache_dir=cache_dir,
            show_progress=show_progress,
        )
        fitted = clone(model)._fit_final(oof, X)
        return fitted.oof_, meta_weights(fitted)
    name = _model_name(model)
    oof = cross_val_oof(
        {name: model},
        X,
        y,
        cv=5 if cv is None else cv,
        random_state=random_state,
        n_jobs=n_jobs,
        dask_address=dask_address,
        cache_dir=cache_dir,
        show_progress=show_progress,
    )
    return oof, None


def _model_name(model):
    last = model.steps[-1][1] if hasattr(model, "steps") else model
    return type(last).__name__.replace("ScoreRegressor", "").lower() or "model"
