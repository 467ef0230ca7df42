"""Fold groups of the tidy table: identical conversations, or clusters of similar phrasing.

Folds grouped by identical conversation still share phrasing (templates, near-duplicates)
between training and held-out rows, so a model that memorises phrasing looks good in CV and
fails on new texts. :func:`phrasing_groups` links conversations whose word n-gram TF-IDF
cosine reaches a threshold and keeps each connected cluster whole: no held-out conversation
then has a near-duplicate in training. Each cluster is cut at the lowest (strictest) threshold
at which it still leaves the folds balanced, so a dense region of generic texts is split
finer while the rest stays in the coarse clusters a template family forms (single-linkage
clustering with a size cap).

Word uni- and bigrams, not sentence embeddings: a template or a near-copy shares its word
sequences, two texts on one topic in different words share few bigrams, and TF-IDF needs no
model, so the CV never depends on the encoder being evaluated.
"""

from __future__ import annotations

import logging

import joblib
import numpy as np
import pandas as pd
from scipy.sparse.csgraph import connected_components
from sklearn.feature_extraction.text import TfidfVectorizer

from ._schema import TEXT_COLUMNS, conversation_groups, conversation_text
from .exceptions import ConfigError

__all__ = [
    "GROUPINGS",
    "phrasing_groups",
    "phrasing_vectorizer",
    "phrasing_vectors",
    "table_groups",
]

log = logging.getLogger("gbscore")

#: How rows are grouped into folds: by clusters of similar phrasing (the default, strict) or
#: by identical conversation (every row of one conversation in one fold).
GROUPINGS = ("phrasing", "conversation")

# Cosine thresholds tried by phrasing_groups, strictest (lowest) first.
_THRESHOLDS = tuple(np.round(np.arange(0.30, 0.951, 0.05), 2))


def phrasing_vectorizer():
    """The unfitted TF-IDF phrasing similarity is measured in (:func:`phrasing_vectors`)."""
    return TfidfVectorizer(
        analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=2, dtype=np.float32
    )


def phrasing_vectors(texts):
    """Unit word uni/bigram TF-IDF rows of ``texts``: the similarity phrasing is measured in.

    Word uni- and bigrams: a template or a near-duplicate shares its word sequences, while
    two texts on one topic in different words share few bigrams. Raises ``ValueError`` when
    no word occurs twice.
    """
    return phrasing_vectorizer().fit_transform(texts)


def _similar_pairs(texts, min_similarity, chunk=2048):
    """Sparse upper-triangle graph of text pairs whose word TF-IDF cosine is >= min_similarity.

    The product is taken in row chunks so memory stays at O(chunk x n) whatever the data size.
    """
    from scipy import sparse

    vectors = phrasing_vectors(texts)
    n = vectors.shape[0]
    parts = []
    for start in range(0, n, chunk):
        block = (vectors[start : start + chunk] @ vectors.T).tocoo()
        keep = (block.data >= min_similarity) & (block.row + start < block.col)
        parts.append(
            sparse.coo_matrix(
                (block.data[keep], (block.row[keep] + start, block.col[keep])), shape=(n, n)
            )
        )
    return sparse.csr_matrix(sum(p.tocsr() for p in parts)) if parts else None


def phrasing_groups(X, *, max_group_fraction=0.1, threshold="auto", return_threshold=False):
    """Integer group per row: connected clusters of conversations with similar phrasing.

    Two conversations are linked when the cosine of their word uni/bigram TF-IDF vectors
    (user prompt and response together) reaches a threshold; groups are connected
    components, so a held-out group has no near-duplicate among the other groups. Rows sharing
    a conversation always share a group.

    With ``threshold="auto"`` every group is the component at the lowest threshold of 0.30,
    0.35, ..., 0.95 at which it holds at most ``max_group_fraction`` of the rows: the
    components of single-linkage clustering, each cut as coarse as the size cap lets it be.
    One cut for all (the lowest threshold whose *largest* component fits) lets one dense
    region of generic texts decide the cut everywhere, and splits template families that
    chain at lower cosines into groups on both sides of a fold, whose held-out rows are then
    scored better than new phrasing is (README, "Which rows share a fold").

    Parameters
    ----------
    X : DataFrame
        The tidy table (``user_prompt``, ``response``, optionally ``system_prompt``).
    max_group_fraction : float, default=0.1
        With ``threshold="auto"``: the largest share of the rows a group may hold. Lower
        thresholds link more and are stricter; a group much larger than a fold would unbalance
        the folds. Conversations that exceed it even at 0.95 stay their own groups.
    threshold : float or "auto", default="auto"
        A number: one cut at that cosine, whatever the groups' sizes.
    return_threshold : bool, default=False
        Also return the threshold: a number's own, or for ``"auto"`` the highest (finest) cut
        any group needed (NaN when even 0.95 leaves every group too large).

    Returns
    -------
    ndarray of int64, shape (n_rows,), or (groups, threshold)
    """
    conv = conversation_groups(X)
    _, first = np.unique(conv, return_index=True)
    n_conv = len(first)
    if n_conv < 3:
        return (conv, float("nan")) if return_threshold else conv
    texts = conversation_text(X.iloc[first])
    candidates = _THRESHOLDS if threshold == "auto" else (float(threshold),)
    try:
        graph = _similar_pairs(texts, min(candidates))
    except ValueError:  # no word occurs twice: nothing is similar to anything
        graph = None
    if graph is None:
        groups = conv.astype(np.int64)
        return (groups, float(candidates[0])) if return_threshold else groups
    counts = np.bincount(conv, minlength=n_conv)
    # A number: every component fits; "auto": the cap (rows) a component must fit under.
    limit = np.inf if threshold != "auto" else max_group_fraction * len(conv)
    labels = np.full(n_conv, -1, dtype=np.int64)
    finest = float("nan")
    # Components only split as the threshold rises, so a conversation's component at a higher
    # threshold lies inside its component at a lower one: the first fitting cut is the
    # coarsest, and a labelled conversation's whole component is labelled with it.
    for thr in candidates:
        kept = graph.copy()
        kept.data = np.where(kept.data >= thr, 1, 0).astype(np.int8)
        kept.eliminate_zeros()
        _, lab = connected_components(kept, directed=False)
        fits = (labels < 0) & (np.bincount(lab, weights=counts)[lab] <= limit)
        if fits.any():
            _, new = np.unique(lab[fits], return_inverse=True)
            labels[fits] = labels.max() + 1 + new
            finest = thr
        if (labels >= 0).all():
            break
    rest = labels < 0
    if rest.any():  # near-copies chain into clusters over the cap even at the highest cut
        log.info(
            "phrasing groups: %d conversations are in clusters over %.0f%% of the rows at every "
            "similarity threshold; each is its own group",
            int(rest.sum()),
            100 * max_group_fraction,
        )
        labels[rest] = labels.max() + 1 + np.arange(rest.sum())
        if not (~rest).any():
            finest = float("nan")
    # conv ids are 0..n_conv-1 in order of first appearance, as `first` is sorted by id.
    groups = labels[conv].astype(np.int64)
    return (groups, float(finest)) if return_threshold else groups


# Phrasing groups of recent tables: a study or a stack asks for the same table's groups at
# every trial and fit, and the similarity graph is the costly part. Keyed by content.
_GROUP_MEMO = {}
_GROUP_MEMO_SIZE = 8


def table_groups(X, grouping="phrasing", *, n_splits=5):
    """The fold groups of a tidy table for a :data:`GROUPINGS` value."""
    if grouping == "conversation":
        return conversation_groups(X)
    if grouping != "phrasing":
        raise ConfigError(f"grouping={grouping!r} is not one of {list(GROUPINGS)}")
    cols = [c for c in TEXT_COLUMNS if c in X.columns]
    key = (
        joblib.hash(pd.util.hash_pandas_object(X[cols].astype(str), index=False).to_numpy()),
        n_splits,
    )
    if key not in _GROUP_MEMO:
        groups, threshold = phrasing_groups(
            X, max_group_fraction=1.0 / (2 * n_splits), return_threshold=True
        )
        log.info(
            "phrasing groups: %d clusters of %d conversations (TF-IDF single-linkage, cut at "
            "cosines up to %s)",
            len(np.unique(groups)),
            len(np.unique(conversation_groups(X))),
            threshold,
        )
        while len(_GROUP_MEMO) >= _GROUP_MEMO_SIZE:
            _GROUP_MEMO.pop(next(iter(_GROUP_MEMO)))
        _GROUP_MEMO[key] = groups
    return _GROUP_MEMO[key].copy()
