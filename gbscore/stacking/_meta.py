"""The meta-learner over out-of-fold columns: its fit, its cross-fit, and the monotone map.

Everything here takes :class:`~gbscore.model_selection.OOFPredictions` (or plain arrays of
out-of-fold predictions): no base is fitted, so a call costs milliseconds.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LinearRegression

__all__ = [
    "CALIBRATION_MIN_GAIN",
    "cross_fit_calibration",
    "cross_fit_meta",
    "default_meta",
    "fit_meta",
    "isotonic_map",
    "meta_frame",
    "uncertainty_features",
]


def meta_frame(oof, models, mask, gate=None):
    """The out-of-fold columns ``models`` on the rows of ``mask``, as the meta-learner's input.

    With a :class:`~gbscore.stacking._gate.DistanceGate` fitted on ``oof``, each column at
    both ends of the rows' distance from training (:meth:`DistanceGate.expand`).
    """
    frame = oof.preds.loc[mask, models].reset_index(drop=True)
    return frame if gate is None else gate.expand(frame, gate.oof_similarity_[mask])


def _check_meta_args(oof, models, rows):
    models = oof.models if models is None else list(models)
    unknown = [m for m in models if m not in oof.models]
    if unknown or not models:
        raise ValueError(
            f"models {unknown or models} are not among the out-of-fold columns {oof.models}"
        )
    return models, oof.rows_mask(rows)


def fit_meta(oof, final_estimator=None, models=None, rows="shift_aware", gate=None):
    """Fit a clone of the meta-learner on out-of-fold predictions.

    Parameters
    ----------
    oof : OOFPredictions
    final_estimator : regressor, default=None
        ``None``: ``LinearRegression(positive=True)``.
    models : list of str, optional
        Columns to combine (default: all).
    rows : {"shift_aware", "real"}, default="shift_aware"
        ``"shift_aware"``: the held-out real rows and the held-out mismatched pairs (what the
        test set looks like); ``"real"``: held-out real rows only.
    gate : DistanceGate, optional
        Fitted on ``oof`` (:func:`~gbscore.stacking._gate.fit_gate`): the weights depend on
        each row's distance from the training phrasing.

    Returns
    -------
    fitted regressor (its ``feature_names_in_`` are the model names, or with ``gate`` the
    gated columns)
    """
    models, mask = _check_meta_args(oof, models, rows)
    est = clone(final_estimator if final_estimator is not None else default_meta())
    return est.fit(meta_frame(oof, models, mask, gate), oof.y[mask])


def cross_fit_meta(oof, final_estimator=None, models=None, rows="shift_aware", gate=None):
    """Honest out-of-fold predictions of the stack itself, clipped to [0, 10].

    The meta-learner for fold ``k`` is fitted on the other folds' rows only, then predicts
    fold ``k``'s rows (real and shifted). Scoring these gives the stack's CV RMSE without
    scoring the meta-learner on its own training rows. ``gate`` as in :func:`fit_meta` (its
    ends come from all folds' rows: two numbers, a leak this ignores).

    Returns
    -------
    ndarray of shape (len(oof.y),)
    """
    models, mask = _check_meta_args(oof, models, rows)
    out = np.full(len(oof.y), np.nan)
    for k in np.unique(oof.fold[oof.fold >= 0]):
        train = mask & (oof.fold != k)
        meta_k = clone(final_estimator if final_estimator is not None else default_meta())
        meta_k.fit(meta_frame(oof, models, train, gate), oof.y[train])
        here = oof.fold == k
        out[here] = np.clip(meta_k.predict(meta_frame(oof, models, here, gate)), 0.0, 10.0)
    return out


#: "auto" keeps the monotone map only when it lowers the cross-fitted RMSE by this fraction:
#: a map that wins by less is within the noise of refitting the folds.
CALIBRATION_MIN_GAIN = 0.005


def isotonic_map():
    """An unfitted increasing map from prediction to score, clipped to [0, 10]."""
    return IsotonicRegression(y_min=0.0, y_max=10.0, increasing=True, out_of_bounds="clip")


def cross_fit_calibration(pred, y, fold, mask):
    """Out-of-fold monotone (isotonic) recalibration of out-of-fold predictions.

    For each fold ``k`` an increasing map from prediction to score is fitted on the ``mask``
    rows of the other folds and applied to fold ``k``'s rows, so scoring the result says
    whether the map helps on rows it was not fitted on. The predictions themselves should be
    out of fold (the stack's :func:`cross_fit_meta` column): its meta-learner for another fold
    saw fold ``k``'s rows, a leak of a handful of linear weights that this check ignores.

    Parameters
    ----------
    pred : ndarray of shape (n,)
    y : ndarray of shape (n,)
    fold : ndarray of shape (n,)
        Fold of each row; rows with a negative fold are left as NaN.
    mask : ndarray of bool of shape (n,)
        Rows the maps are fitted on (for example the shift-aware rows).

    Returns
    -------
    ndarray of shape (n,)
    """
    out = np.full(len(pred), np.nan)
    for k in np.unique(fold[fold >= 0]):
        train = mask & (fold != k) & (fold >= 0)
        here = fold == k
        out[here] = isotonic_map().fit(pred[train], y[train]).predict(pred[here])
    return out


def default_meta():
    """The default final estimator, unfitted."""
    # Non-negative weights with a free intercept: a base that only hurts gets weight 0.
    return LinearRegression(positive=True)


def uncertainty_features(P):
    """Inputs of the uncertainty model: the base predictions, their spread and their mean."""
    A = P.to_numpy(dtype=np.float64)
    return np.column_stack([A, A.std(axis=1), A.mean(axis=1)])
