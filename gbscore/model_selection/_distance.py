"""The CV reweighted to the test set's distance from the training phrasing.

How far a held-out conversation is from what the model trained on is one driver of its error:
a row whose phrasing the training rows share tends to be scored better than one phrased anew
(README, "The CV reweighted to the test set's distance from training", measures how much of
the CV's miss this explains: part of it, on hard draws only). The folds of
the phrasing CV hold out clusters of similar phrasing, so each held-out row has some distance
to its fold's training rows; the test rows have their own distance to all training rows. When
the two distributions differ (a test phrased further from train than the CV's held-out rows,
or closer), the CV's plain mean misjudges the test.

:func:`phrasing_distance_weights` gives each out-of-fold row the weight that makes the CV's
distribution of that distance match the test set's: the density ratio, estimated on ten bins
of equal CV mass (deciles of the CV rows' distances), each weighted by the share of test rows
that falls in its range (test rows beyond the CV's range count in its end bins). The distance
is the largest word uni/bigram TF-IDF cosine of a conversation to any training conversation
(of those its fold trained on, for a CV row: the other folds' less any buffer), as
:func:`gbscore.phrasing_groups` measures similarity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._groups import phrasing_vectors
from .._schema import conversation_groups, conversation_text
from ..exceptions import GbscoreError

__all__ = ["DistanceWeights", "heldout_similarity", "phrasing_distance_weights"]

_N_BINS = 10


@dataclass
class DistanceWeights:
    """Weights of out-of-fold rows that match the test set's nearest-training similarity.

    Attributes
    ----------
    weights : ndarray of float, shape (n_oof,)
        One weight per out-of-fold row (0 for a row no fold predicted); the real rows a fold
        predicted average 1.
    similarity_cv : ndarray of float, shape (n_real,)
        Each real training row's largest cosine to the training conversations of the other
        folds (NaN for a row no fold predicted).
    similarity_test : ndarray of float, shape (n_test,)
        Each test row's largest cosine to any training conversation.
    bin_edges : ndarray of float
        The CV deciles the density ratio is estimated on.
    bin_weights : ndarray of float
        Test share over CV share per bin.
    effective_rows : float
        Kish's effective number of real rows, ``sum(w)**2 / sum(w**2)``: how many equally
        weighted rows the weighted CV is worth.
    """

    weights: np.ndarray
    similarity_cv: np.ndarray
    similarity_test: np.ndarray
    bin_edges: np.ndarray
    bin_weights: np.ndarray
    effective_rows: float

    def summary(self):
        """JSON-ready medians of both similarities and the effective number of rows."""
        return {
            "median_similarity_cv": float(np.nanmedian(self.similarity_cv)),
            "median_similarity_test": float(np.median(self.similarity_test)),
            "effective_rows": float(self.effective_rows),
            "n_real": int(np.isfinite(self.similarity_cv).sum()),
        }


def nearest_similarity(queries, pool, chunk=2048):
    """Largest cosine of each row of ``queries`` to any row of ``pool`` (0 if none)."""
    out = np.zeros(queries.shape[0])
    if pool.shape[0] == 0:
        return out
    for start in range(0, queries.shape[0], chunk):
        block = queries[start : start + chunk] @ pool.T
        out[start : start + chunk] = block.max(axis=1).toarray().ravel()
    # float32 products of unit vectors can exceed 1 in the last bit; a cosine is at most 1
    return np.minimum(out, 1.0)


def heldout_similarity(oof, X_train, vectors, conv):
    """Each training conversation's largest cosine to the conversations its fold trained on.

    Parameters
    ----------
    oof : OOFPredictions
        Out-of-fold predictions on ``X_train`` (its real rows in ``X_train``'s order).
    X_train : DataFrame
        The tidy training table the folds split.
    vectors : sparse matrix of shape (n_conversations, n_terms)
        Unit phrasing vectors, one row per conversation id of ``conv``.
    conv : ndarray of int, shape (len(X_train),)
        :func:`conversation_groups` of ``X_train``.

    Returns
    -------
    ndarray of float, shape (n_conversations,)
        NaN for a conversation no fold held out.
    """
    n_conv = vectors.shape[0]
    # A conversation's fold: its real rows are all held out by one fold (grouped folds).
    real_fold = oof.fold[: oof.n_real]
    conv_fold = np.full(n_conv, -1)
    conv_fold[conv] = real_fold
    sim_conv = np.full(n_conv, np.nan)
    folds = np.unique(conv_fold[conv_fold >= 0])
    # A buffered CV's fold trained without the conversations near its held-out ones: measure
    # from the rows it trained on, as the splitter chose them.
    trained = [np.flatnonzero((real_fold != k) & (real_fold >= 0)) for k in folds]
    if oof.buffer is not None:
        from ._buffer import purge_close_conversations  # _buffer imports this module

        held_rows = [np.flatnonzero(real_fold == k) for k in folds]
        splits = list(zip(trained, held_rows, strict=True))
        trained = [tr for tr, _ in purge_close_conversations(X_train, splits, oof.buffer)]
    for k, rows in zip(folds, trained, strict=True):
        held = np.flatnonzero(conv_fold == k)
        rest = np.unique(conv[rows])
        sim_conv[held] = nearest_similarity(vectors[held], vectors[rest])
    return sim_conv


def phrasing_distance_weights(oof, X_train, X_test):
    """Weights that give the out-of-fold rows the test set's distance to training phrasing.

    Parameters
    ----------
    oof : OOFPredictions
        Out-of-fold predictions on ``X_train`` (its real rows in ``X_train``'s order).
    X_train, X_test : DataFrame
        The tidy training table the folds split, and the test rows to match.

    Returns
    -------
    DistanceWeights
        Pass ``.weights`` to :meth:`OOFPredictions.scores` as ``sample_weight``.
    """
    n_real = oof.n_real
    if n_real != len(X_train):
        raise GbscoreError(
            f"the out-of-fold predictions hold {n_real} real rows but X_train has "
            f"{len(X_train)}; pass the table the CV was run on"
        )
    if len(X_test) == 0:
        raise GbscoreError("X_test has no rows: there is no test distance to match")
    conv_train = conversation_groups(X_train)
    conv_test = conversation_groups(X_test)
    _, first_train = np.unique(conv_train, return_index=True)
    _, first_test = np.unique(conv_test, return_index=True)
    texts = conversation_text(X_train.iloc[first_train]) + conversation_text(
        X_test.iloc[first_test]
    )
    try:
        vectors = phrasing_vectors(texts)
    except ValueError as exc:  # TfidfVectorizer: no term left after min_df
        raise GbscoreError(
            "no word occurs in two of the training and test conversations, so there is no "
            f"phrasing similarity to match ({exc})"
        ) from exc
    v_train, v_test = vectors[: len(first_train)], vectors[len(first_train) :]

    sim_test = nearest_similarity(v_test, v_train)[conv_test]

    sim_conv = heldout_similarity(oof, X_train, v_train, conv_train)
    sim_cv = sim_conv[conv_train]

    done = np.isfinite(sim_cv)
    if done.sum() < _N_BINS:
        raise GbscoreError(
            f"only {int(done.sum())} real rows were held out by a fold; the test distance "
            f"weights need at least {_N_BINS}"
        )
    edges = np.unique(np.quantile(sim_cv[done], np.linspace(0, 1, _N_BINS + 1)))
    inner = edges[1:-1]
    n_bins = max(len(edges) - 1, 1)
    bin_cv = np.searchsorted(inner, sim_cv[done], side="right")
    bin_test = np.searchsorted(inner, sim_test, side="right")
    share_cv = np.bincount(bin_cv, minlength=n_bins) / done.sum()
    share_test = np.bincount(bin_test, minlength=n_bins) / len(sim_test)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(share_cv > 0, share_test / share_cv, 0.0)

    real_w = np.zeros(n_real)
    real_w[done] = ratio[bin_cv]
    weights = np.zeros(len(oof.y))
    weights[:n_real] = real_w
    # A mismatched pair built from a held-out row carries that row's weight; one given by the
    # user (row -1) is weighted as the average real row.
    shifted = np.flatnonzero(oof.is_shifted)
    src = oof.row[shifted]
    weights[shifted] = np.where(src >= 0, real_w[np.clip(src, 0, None)], 1.0)
    weights[oof.fold < 0] = 0.0
    w = real_w[done]
    ess = float(w.sum() ** 2 / (w**2).sum()) if (w**2).sum() > 0 else 0.0
    return DistanceWeights(
        weights=weights,
        similarity_cv=sim_cv,
        similarity_test=sim_test,
        bin_edges=edges,
        bin_weights=ratio,
        effective_rows=ess,
    )
