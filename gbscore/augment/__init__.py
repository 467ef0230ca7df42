"""Negative sampling: synthetic low-fit rows added during ``fit`` only.

The hidden test set of this problem pairs many conversations with a metric that does not fit
them, and the judge scores those pairs low, while train is ~91% scores of 9 or 10 (see
DOMAIN.md). :class:`NegativeSampler` closes that gap by adding rows whose metric (or text) was
swapped, labelled by a :class:`LabelPolicy`.

It is an imbalanced-learn style *sampler*: it exposes ``fit_resample`` and no ``transform``, so
imbalanced-learn's :class:`~imblearn.pipeline.Pipeline` (and
:class:`gbscore.pipeline.ScorePipeline`)
calls it while fitting and skips it in ``predict``.

It sits *before* the embedding featurizer and works on the tidy table (metric name + texts)
rather than on embedding blocks. That keeps the label policy working on metric names and
families, and costs no re-encoding: a synthetic row only re-uses strings that are already in the
table, and the featurizer encodes each unique string once and looks the rest up.
"""

from .._schema import conversation_groups, metric_family
from ._labels import (
    DEFAULT_GENERAL_METRICS,
    OPPOSITE_WORDS,
    BandLabels,
    LabelPolicy,
    SimilarityLabels,
    metric_relations,
)
from ._samplers import STRATEGIES, EmbeddingNoise, NegativeSampler

__all__ = [
    "DEFAULT_GENERAL_METRICS",
    "OPPOSITE_WORDS",
    "STRATEGIES",
    "BandLabels",
    "EmbeddingNoise",
    "LabelPolicy",
    "NegativeSampler",
    "SimilarityLabels",
    "conversation_groups",
    "metric_family",
    "metric_relations",
]
