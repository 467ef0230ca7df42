"""Label policies: the score a synthetic row of :class:`~gbscore.augment.NegativeSampler` gets.

A policy is fitted on the metric vocabulary and a metric-similarity matrix, then labels each
synthetic row from its strategy, source metric, target metric and source score.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator

from .._schema import metric_family

__all__ = [
    "DEFAULT_GENERAL_METRICS",
    "OPPOSITE_WORDS",
    "BandLabels",
    "LabelPolicy",
    "SimilarityLabels",
    "metric_relations",
]

#: Substrings marking metrics that apply to any conversation (DOMAIN.md: fluency, grammar,
#: relevance, accuracy, truthfulness stay fairly high when swapped in).
DEFAULT_GENERAL_METRICS = ("fluency", "grammat", "relevance", "accuracy", "truthfulness")


#: Word pairs that turn a metric into its opposite when swapped in its name
#: (``rejection_rate/over_rejection`` vs ``rejection_rate/under_rejection``): a conversation
#: written for one is a poor fit for the other, although the two names are near neighbours.
OPPOSITE_WORDS = (
    ("over", "under"),
    ("overconfident", "underconfident"),
    ("positive", "negative"),
    ("positives", "negatives"),
    ("correctness", "incorrectness"),
    ("appropriate", "inappropriate"),
    ("explicit", "implicit"),
    ("direct", "indirect"),
)
# Words too common in metric names to say two metrics measure the same thing.
_NAME_STOPWORDS = frozenset(
    {"and", "or", "of", "the", "in", "to", "per", "for", "on", "vs", "rate", "score", "level"}
)


def _name_tokens(name):
    words = str(name).lower().replace("/", "_").replace("-", "_").split("_")
    return [w for w in words if w]


def metric_relations(metric_names, similarity, *, substitutable_quantile=0.998):
    """Name- and embedding-derived relations between metrics, as two boolean matrices.

    * **opposite** ``[i, j]``: the two names have the same words in the same places except
      for word pairs that are all in :data:`OPPOSITE_WORDS` (``over_rejection`` /
      ``under_rejection``, ``overconfident_incorrectness`` / ``underconfident_correctness``).
    * **substitutable** ``[i, j]``, never for an opposite pair:

      - one metric is the other's family (``misuse`` and ``misuse/instruction_misuse``);
      - or the content words of their last name parts overlap by more than half (Jaccard;
        words such as "and", "rate" left out): ``data_integrity`` and
        ``data_integrity_checks``. Last parts, because siblings share their family's words;
      - or they are in different families and their similarity is positive and in the top
        ``1 - substitutable_quantile`` of all cross-family pairs: ``bias_assessment`` and
        ``bias_detection``. Across families only, because embeddings of names put siblings
        nearest by the family words they share, not by what they measure. Only when that
        top fraction holds at least one pair (at the default, 500 cross-family pairs, about
        32 metrics), and never a tie class at the cut-off larger than that fraction.

    Parameters
    ----------
    metric_names : array-like of str of shape (n,)
    similarity : ndarray of shape (n, n)
    substitutable_quantile : float in [0, 1], default=0.998
        ``1.0`` turns the embedding rule off.

    Returns
    -------
    (opposite, substitutable) : two ndarrays of bool of shape (n, n), symmetric, False on the
        diagonal.
    """
    names = [str(m) for m in metric_names]
    n = len(names)
    tokens = [_name_tokens(m) for m in names]
    leaves = [set(_name_tokens(m.rsplit("/", 1)[-1])) - _NAME_STOPWORDS for m in names]
    families = np.array([metric_family(m) for m in names], dtype=object)
    antonyms = {frozenset(p) for p in OPPOSITE_WORDS}
    opposite = np.zeros((n, n), dtype=bool)
    substitutable = np.zeros((n, n), dtype=bool)
    for i in range(n):
        for j in range(i + 1, n):
            a, b = tokens[i], tokens[j]
            if len(a) == len(b):
                diff = [frozenset((x, y)) for x, y in zip(a, b, strict=True) if x != y]
                if diff and all(d in antonyms for d in diff):
                    opposite[i, j] = opposite[j, i] = True
                    continue
            union = leaves[i] | leaves[j]
            overlap = len(leaves[i] & leaves[j]) / len(union) if union else 0.0
            parent = names[i] == families[j] or names[j] == families[i]
            if parent or overlap > 0.5:
                substitutable[i, j] = substitutable[j, i] = True
    cross = families[:, None] != families[None, :]
    values = np.asarray(similarity, dtype=np.float64)[np.triu(cross, k=1)]
    # The embedding rule needs enough cross-family pairs for its top fraction to hold one:
    # on a vocabulary of a few metrics the "top pair" may be any pair at all.
    n_top = (1.0 - substitutable_quantile) * len(values)
    if n_top >= 1.0:
        sim = np.asarray(similarity, dtype=np.float64)
        cutoff = np.quantile(values, substitutable_quantile)
        near = cross & (sim >= cutoff) & (sim > 0)
        # A tie class at the cutoff (names with no shared word all have TF-IDF cosine 0)
        # would make far more than the top pairs substitutable: then only those above it.
        if (values >= cutoff).sum() > np.ceil(n_top):
            near = cross & (sim > cutoff)
        substitutable |= near & near.T & ~opposite
    return opposite, substitutable


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
    * ``substitutable`` (unless its band is ``None``): the target measures nearly the same thing
      as the source (:func:`metric_relations`): a high band. It wins over ``general``.
    * ``opposite`` (unless its band is ``None``): the target is the source's opposite
      (``over_rejection`` for an ``under_rejection`` conversation): a low band, although the
      two are in one family.
    * ``mismatch``: the response belongs to another prompt: the lowest band, whatever the metric.

    A synthetic label never exceeds the source row's own score: a swap does not make a bad
    conversation better.

    Parameters
    ----------
    unrelated, related, general, mismatch : tuple of float
        ``(low, high)`` bands inside [0, 10].
    opposite : tuple of float or None, default=(0.0, 3.0)
        Band of the name-derived opposite pairs, as low as ``mismatch``: judging an
        ``under_rejection`` conversation for ``over_rejection`` inverts the score.
    substitutable : tuple of float or None, default=(6.5, 9.5)
        Band of the near-synonym pairs, above ``general``. ``None`` for either leaves those
        pairs in ``related``/``unrelated``/``general``. Both bands became the default when
        the phrasing-cluster CV and the judgebench-dev test agreed on them (README, the
        label-policy paragraph under "Real use").
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
        opposite=(0.0, 3.0),
        substitutable=(6.5, 9.5),
        n_related=5,
        general_metrics=DEFAULT_GENERAL_METRICS,
    ):
        self.unrelated = unrelated
        self.related = related
        self.general = general
        self.mismatch = mismatch
        self.opposite = opposite
        self.substitutable = substitutable
        self.n_related = n_related
        self.general_metrics = general_metrics

    def _bands(self):
        names = ["unrelated", "related", "general", "mismatch", "opposite", "substitutable"]
        return {n: _check_band(n, getattr(self, n)) for n in names if getattr(self, n) is not None}

    def fit(self, metric_names, similarity):
        self._bands()
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
        self.opposite_, self.substitutable_ = metric_relations(self.metric_names_, self.similarity_)
        subs = tuple(self.general_metrics or ())
        self.is_general_ = np.array(
            [any(s in str(m) for s in subs) for m in self.metric_names_], dtype=bool
        )
        return self

    def relation(self, source, target, strategy):
        out = np.where(self.related_[source, target], "related", "unrelated").astype(object)
        substitutable = np.zeros(len(out), dtype=bool)
        if self.substitutable is not None:
            substitutable = self.substitutable_[source, target]
        out[self.is_general_[target] & ~substitutable] = "general"
        out[substitutable] = "substitutable"
        if self.opposite is not None:
            out[self.opposite_[source, target]] = "opposite"
        out[np.asarray(strategy) == "response_mismatch"] = "mismatch"
        return out

    def label(self, relation, source_score, rng):
        labels = np.empty(len(relation))
        # Fixed order: the same seed gives the same labels whichever relations occur.
        for name, (low, high) in self._bands().items():
            mask = relation == name
            labels[mask] = rng.uniform(low, high, size=int(mask.sum()))
        return np.minimum(labels, source_score)
