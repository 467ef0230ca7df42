"""Shift-aware cross-validation: the splitter, the held-out mismatched pairs, one fold loop.

Everything in gbscore that cross-validates goes through :func:`cross_val_oof`: the stack's
out-of-fold predictions, ``gbscore cv``, the tuning objective and the benchmarks. ::

    folds   = ConversationKFold: grouped K-fold over clusters of similar phrasing
              (or of identical conversations, grouping="conversation")
    for each fold k:
        held-out rows  = the real rows of fold k
        shifted pairs  = mismatched pairs built from those held-out rows only, by one sampler
                         seeded fold_seed(random_state, k), the same for every model
        fit every pipeline on the other folds' rows, each leading step the pipelines
            have alike (augment, featurize, interact) run once (pipeline.fit_shared)
        predict the held-out rows and the shifted pairs
    result  = OOFPredictions: one column per model, real rows first, then the shifted pairs

Why mismatched pairs: the test set pairs many conversations with a metric that does not fit
them (DOMAIN.md), so a score on real rows alone rewards predicting ~9 everywhere.

Why phrasing clusters: folds grouped by identical conversation still share phrasing (templates,
near-duplicates) between training and held-out rows, so a model that memorises phrasing looks
good in CV and fails on new texts. :func:`phrasing_groups` links conversations whose word
n-gram TF-IDF cosine reaches a threshold and holds out whole connected components: no
held-out conversation then has a near-duplicate in training. Each component is cut at the
lowest (strictest) threshold at which it still leaves the folds balanced (single-linkage
clustering with a size cap), not at one threshold for all.
"""

from .._groups import GROUPINGS, phrasing_groups, table_groups
from ._buffer import BufferMatch, matched_buffer, purge_close_conversations
from ._distance import DistanceWeights, phrasing_distance_weights
from ._loop import check_table, cross_val_oof
from ._oof import SCORE_BINS, OOFPredictions, per_bin_rmse, rmse
from ._split import (
    ConversationKFold,
    HeldOutPairs,
    check_cv,
    default_eval_sampler,
    fold_seed,
    heldout_pairs,
)

__all__ = [
    "GROUPINGS",
    "SCORE_BINS",
    "BufferMatch",
    "ConversationKFold",
    "DistanceWeights",
    "HeldOutPairs",
    "OOFPredictions",
    "check_cv",
    "check_table",
    "cross_val_oof",
    "default_eval_sampler",
    "fold_seed",
    "heldout_pairs",
    "matched_buffer",
    "per_bin_rmse",
    "phrasing_distance_weights",
    "phrasing_groups",
    "purge_close_conversations",
    "rmse",
    "table_groups",
]
