"""Label policies: the score a synthetic row of :class:`~gbscore.augment.NegativeSampler` gets.

A policy is fitted on the metric vocabulary and a metric-similarity matrix, then labels each
synthetic row from its strategy, source metric, target metric and source score.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator

from .._schema import metric_family

__all__ = ["DEFAULT_GENERAL_METRICS", "BandLabels", "LabelPolicy", "SimilarityLabels"]

#: Substrings marking metrics that apply to any conversation (DOMAIN.md: fluency, grammar,
#: relevance, accuracy, truthfulness stay fairly high when swapped in).
DEFAULT_GENERAL_METRICS = ("fluency", "grammat", "relevance", "accuracy", "truthfulness")


def _check_band(name, band):
    try:
        low, high = (float(v) for v in band)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high), got {band!r}") from None
    if not (0.0 <= low <= high <= 10.0):
        raise ValueError(
            f"{name}={band!r} is not a band inside [0, 10] with low <= high; "
            "labels are judge scores from 0 to 10"
        )
    return low, high


class LabelPolicy(BaseEstimator):
    """Base class of label policies: how a synthetic row is labelled.

    A policy is fitted on the metric vocabulary and a metric-similarity matrix, then labels
    synthetic rows from their strategy, source metric, target metric and source score.
    Subclasses implement :meth:`relation` and :meth:`label`.
    """

    def fit(self, metric_names, similarity):
        self.metric_names_ = np.asarray(metric_names, dtype=object)
        self.similarity_ = np.asarray(similarity, dtype=np.float64)
        return self

    def relation(self, source, target, strategy):
        """Relation name per synthetic row ('unrelated', 'related', 'general', 'mismatch')."""
        raise NotImplementedError

    def label(self, relation, source_score, rng):
        """Label per synthetic row."""
        raise NotImplementedError


class BandLabels(LabelPolicy):
    """Every synthetic row gets a label drawn uniformly from one band.

    DOMAIN.md: labelling swaps uniformly in 0-4 beat labelling them 0.

    Parameters
    ----------
    band : tuple of float, default=(0, 4)
        ``(low, high)`` inside [0, 10].
    """

    def __init__(self, *, band=(0.0, 4.0)):
        self.band = band

    def fit(self, metric_names, similarity):
        _check_band("band", self.band)
        return super().fit(metric_names, similarity)

    def relation(self, source, target, strategy):
        return np.full(len(source), "unrelated", dtype=object)

    def label(self, relation, source_score, rng):
        low, high = _check_band("band", self.band)
        return rng.uniform(low, high, size=len(relation))


class SimilarityLabels(LabelPolicy):
    """Labels that follow how related the swapped-in metric is to the conversation's own.

    * ``general``: the target metric applies to any conversation (fluency, grammar, ...):
      a high-ish band.
    * ``related``: same family, or among the ``n_related`` nearest metrics of the source in
      the similarity matrix: a middle band.
    * ``unrelated``: anything else: a low band.
    * ``mismatch``: the response belongs to another prompt: the lowest band, whatever the metric.

    A synthetic label never exceeds the source row's own score: a swap does not make a bad
    conversation better.

    Parameters
    ----------
    unrelated, related, general, mismatch : tuple of float
        ``(low, high)`` bands inside [0, 10].
    n_related : int, default=5
        How many nearest metrics (by similarity) count as related.
    general_metrics : tuple of str or None, default=DEFAULT_GENERAL_METRICS
        Substrings; a metric whose name contains one is general. ``None`` or ``()`` disables.
    """

    def __init__(
        self,
        *,
        unrelated=(0.0, 4.0),
        related=(4.0, 7.5),
        general=(6.0, 9.0),
        mismatch=(0.0, 3.0),
        n_related=5,
        general_metrics=DEFAULT_GENERAL_METRICS,
    ):
        self.unrelated = unrelated
        self.related = related
        self.general = general
        self.mismatch = mismatch
        self.n_related = n_related
        self.general_metrics = general_metrics

    def fit(self, metric_names, similarity):
        for name in ("unrelated", "related", "general", "mismatch"):
            _check_band(name, getattr(self, name))
        if not isinstance(self.n_related, numbers.Integral) or self.n_related < 0:
            raise ValueError(f"n_related must be an integer >= 0, got {self.n_related!r}")
        super().fit(metric_names, similarity)
        families = np.array([metric_family(m) for m in self.metric_names_], dtype=object)
        related = families[:, None] == families[None, :]
        if self.n_related:
            sim = self.similarity_.copy()
            np.fill_diagonal(sim, -np.inf)
            k = min(self.n_related, len(sim) - 1)
            nearest = np.argsort(-sim, axis=1, kind="stable")[:, :k]
            related[np.arange(len(sim))[:, None], nearest] = True
        self.related_ = related
        subs = tuple(self.general_metrics or ())
        self.is_general_ = np.array(
            [any(s in str(m) for s in subs) for m in self.metric_names_], dtype=bool
        )
        return self

    def relation(self, source, target, strategy):
        out = np.where(self.related_[source, target], "related", "unrelated").astype(object)
        out[self.is_general_[target]] = "general"
        out[np.asarray(strategy) == "response_mismatch"] = "mismatch"
        return out

    def label(self, relation, source_score, rng):
        labels = np.empty(len(relation))
        for name in ("unrelated", "related", "general", "mismatch"):
            mask = relation == name
            low, high = _check_band(name, getattr(self, name))
            labels[mask] = rng.uniform(low, high, size=int(mask.sum()))
        return np.minimum(labels, source_score)
