"""A torch multilayer perceptron with the scikit-learn regressor API.

:class:`MLPScoreRegressor` reads the featurized table the default pipeline builds (see
:mod:`gbscore.pipeline`). It finds the metric embedding block and the conversation embedding
blocks by column name, can pair them in a low-rank bilinear layer, and feeds everything else
(statistics, cosines, metric-match features) to a residual MLP trunk as standardised dense
features. Torch is imported inside ``fit``/``predict`` only, so ``import gbscore`` stays fast;
the fitted weights are kept as NumPy arrays, so a fitted model pickles without torch objects.

The package's modules: :mod:`._estimator` (the estimator), :mod:`._layout` (how it reads
its input), :mod:`._network` (the torch modules), :mod:`._losses` (the three losses) and
:mod:`._training` (the training loop). Models pickled when this was one module name the
class ``gbscore.mlp.MLPScoreRegressor``, which this package keeps importable.
"""

from ._estimator import MLPScoreRegressor

__all__ = ["MLPScoreRegressor"]
