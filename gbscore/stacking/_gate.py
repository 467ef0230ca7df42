"""The meta-learner's weights as a function of how far a row is phrased from the training rows.

The stack's bases are good at different distances: ``lightgbm_rows`` (each metric-match row
counted once) serves conversations phrased like the training rows, the ``_phrasing`` bases
(metric-match features cross-fitted by phrasing cluster) serve new phrasing (README). A single
linear combination fitted on the phrasing-fold out-of-fold rows averages over those rows'
distances, and the test rows have distances of their own.

:class:`DistanceGate` gives the meta-learner each base's prediction twice, scaled by ``1 - t``
and by ``t``, where ``t`` is the row's nearest-training cosine (word uni/bigram TF-IDF, as
:func:`gbscore.phrasing_groups` measures phrasing, but hashed: see :func:`gate_vectorizer`)
mapped linearly from the out-of-fold rows' 5th..95th percentile onto [0, 1] and clipped there,
plus ``1 - t`` and ``t`` themselves. A non-negative linear meta-learner on these columns is a
combination whose weights move linearly from the "far" to the "near" end and stay
non-negative on the way, with an intercept that moves the same way: feature-weighted linear
stacking (Sill et al., 2009) with one meta-feature. Clipping keeps a test row phrased closer
to training than any out-of-fold row (a near-copy) at the nearest end the meta-learner saw,
instead of extrapolating.

A row's distance is measured, for an out-of-fold row, to the conversations its fold trained on
(less any buffer), and for a new row to every training conversation, so both mean "how far from
what the bases that predicted it were fitted on".

Neither scikit-learn nor mlxtend's stacking has weights that depend on a meta-feature, hence
this module.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.pipeline import make_pipeline

from .._schema import conversation_groups, conversation_text
from ..model_selection._distance import heldout_similarity, nearest_similarity

__all__ = ["GATE_QUANTILES", "DistanceGate", "fit_gate", "gate_columns", "gate_vectorizer"]

log = logging.getLogger("gbscore")

#: Out-of-fold similarity percentiles mapped onto the far (0) and near (1) ends of the gate.
GATE_QUANTILES = (0.05, 0.95)

_FAR, _NEAR = "far", "near"


def gate_columns(names):
    """The meta-learner's columns that carry a base's score, for bases ``names`` (in order)."""
    return [f"{name}@{end}" for end in (_FAR, _NEAR) for name in names]


def gate_vectorizer():
    """Unfitted unit word uni/bigram TF-IDF over hashed terms, idf from the training texts.

    Not :func:`gbscore.phrasing_groups`' vocabulary (terms in two training conversations):
    a word no training conversation uses would drop out of a new row's vector and leave it
    looking closer to training than an out-of-fold row with as many words of its own (those
    are in the vocabulary through the rows of its own fold). Hashed terms keep every word,
    an unseen one with the largest idf, so both kinds of row are measured alike.
    """
    hashed = HashingVectorizer(
        analyzer="word",
        ngram_range=(1, 2),
        n_features=2**20,
        alternate_sign=False,
        norm=None,
        dtype=np.float32,
    )
    return make_pipeline(hashed, TfidfTransformer(sublinear_tf=True))


class DistanceGate:
    """A fitted map from rows to the distance-gated columns of the meta-learner.

    Build it with :func:`fit_gate`.

    Attributes
    ----------
    vectorizer_ : Pipeline
        :func:`gate_vectorizer`, fitted on the distinct training conversations.
    vectors_ : sparse matrix
        Their unit phrasing vectors.
    low_, high_ : float
        Similarities mapped to ``t = 0`` and ``t = 1``.
    oof_similarity_ : ndarray of float
        Each out-of-fold row's similarity to its fold's training conversations (NaN for a row
        no fold predicted; a user-given shifted row gets the median).
    """

    def __init__(self, vectorizer, vectors, low, high, oof_similarity):
        self.vectorizer_ = vectorizer
        self.vectors_ = vectors
        self.low_ = float(low)
        self.high_ = float(high)
        self.oof_similarity_ = oof_similarity

    def similarity(self, X):
        """Each row's largest phrasing cosine to any training conversation."""
        conv = conversation_groups(X)
        _, first = np.unique(conv, return_index=True)
        queries = self.vectorizer_.transform(conversation_text(X.iloc[first]))
        return nearest_similarity(queries, self.vectors_)[conv]

    def position(self, similarity):
        """``t`` in [0, 1]: 0 at the far end (``low_``), 1 at the near end (``high_``)."""
        t = (np.asarray(similarity, dtype=np.float64) - self.low_) / (self.high_ - self.low_)
        return np.clip(t, 0.0, 1.0)

    def expand(self, frame, similarity):
        """The meta-learner's input: each column of ``frame`` at both ends, and the ends."""
        t = self.position(similarity)[:, None]
        values = frame.to_numpy(dtype=np.float64)
        scaled = np.hstack([values * (1.0 - t), values * t])
        columns = dict(zip(gate_columns([str(c) for c in frame.columns]), scaled.T, strict=True))
        columns[f"(gate)@{_FAR}"] = 1.0 - t[:, 0]
        columns[f"(gate)@{_NEAR}"] = t[:, 0]
        return pd.DataFrame(columns)

    def summary(self):
        """JSON-ready ends of the gate."""
        return {"low": self.low_, "high": self.high_, "quantiles": list(GATE_QUANTILES)}


def fit_gate(oof, X):
    """A :class:`DistanceGate` for out-of-fold predictions on the training table ``X``.

    Returns None, with a log line saying why, when every out-of-fold row is as far from its
    fold's training rows as every other (for example when no two conversations share a
    word): there is no distance to gate on.
    """
    conv = conversation_groups(X)
    _, first = np.unique(conv, return_index=True)
    vectorizer = gate_vectorizer()
    vectors = vectorizer.fit_transform(conversation_text(X.iloc[first])).tocsr()
    per_conv = heldout_similarity(oof, X, vectors, conv)
    per_row = per_conv[conv]
    src = oof.row
    sim = np.where(src >= 0, per_row[np.clip(src, 0, None)], np.nan)
    sim[oof.fold < 0] = np.nan
    done = np.isfinite(sim)
    if not done.any():
        log.warning("stack meta_gate: no out-of-fold row has a distance; not gated")
        return None
    low, high = np.quantile(sim[done], GATE_QUANTILES)
    if not high > low:
        log.warning(
            "stack meta_gate: the out-of-fold rows' similarities do not spread (%.3f); not gated",
            low,
        )
        return None
    # A shifted pair the user gave (row -1) has no conversation of its own among the folds'.
    given = (oof.fold >= 0) & ~done
    sim[given] = float(np.median(sim[done]))
    return DistanceGate(vectorizer, vectors, low, high, sim)
