"""Cross-validated stacking over scoring pipelines, like scikit-learn's StackingRegressor.

::

    out-of-fold predictions = cross_val_oof(bases): every base on identical held-out rows
                              (real rows and mismatched pairs built from them, folds grouped
                              by phrasing cluster)
    final_estimator         = fitted on the out-of-fold columns (by default non-negative
                              least squares with a free intercept)
    bases                   = every base refitted on all rows (in the same parallel batch)

Why the held-out rows include mismatched pairs: the test set this problem is scored on pairs
many conversations with a metric that does not fit them (DOMAIN.md), so a meta-learner fitted
on real rows only would learn to trust whichever model predicts ~9 everywhere. The synthetic
rows of the *training* augmentation never reach the meta-learner: they were seen by the models
that predict them.

Modules: ``_meta`` (the meta-learner and the monotone map over out-of-fold columns),
``_regressor`` (:class:`StackedScoreRegressor` and what a fitted stack reports),
``_evaluate`` (:func:`evaluate`: cross-validation without the refit).
"""

from ._evaluate import evaluate
from ._gate import gate_columns
from ._meta import CALIBRATION_MIN_GAIN, cross_fit_calibration, cross_fit_meta, fit_meta
from ._regressor import StackedScoreRegressor, feature_importance_table, meta_weights

__all__ = [
    "CALIBRATION_MIN_GAIN",
    "StackedScoreRegressor",
    "cross_fit_calibration",
    "cross_fit_meta",
    "evaluate",
    "feature_importance_table",
    "fit_meta",
    "gate_columns",
    "meta_weights",
]
