"""Does a conversation fit its metric? A learned metric-conversation similarity (metric learning).

Two linear towers project the metric-name embedding and the conversation embedding (both from
one text encoder) into a shared space, trained with InfoNCE or a triplet hinge so that a
conversation lies closer to the metrics it was written for than to any other metric.

This module holds the estimator (inputs, cross-fitting, embeddings); the towers themselves,
their torch training loop and their scores are in :mod:`gbscore.features._contrastive_towers`.
"""

from __future__ import annotations

import logging
import numbers
import os
from dataclasses import fields

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.model_selection import GroupKFold
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._groups import table_groups
from ..augment import metric_family
from ..exceptions import DataError
from ._contrastive_towers import TowerTraining, tower_features, unit_rows
from ._embed import embed_strings
from ._featurizer import EmbeddingFeaturizer
from ._inputs import metric_name_to_text

logger = logging.getLogger(__name__)

__all__ = ["ContrastiveMatchFeatures"]

_NAMES = ("contrast_cos", "contrast_rank", "contrast_prob")


def _crossfit_groups(X, n_splits=5):
    """Fold groups of the cross-fitting in :meth:`ContrastiveMatchFeatures.fit_transform`.

    Clusters of similar phrasing (:func:`gbscore.model_selection.phrasing_groups`): a row's
    features then come from projections trained on no conversation phrased like it, which is
    what the point of learned matching (surviving new phrasing) asks the booster to see.
    """
    return table_groups(X, "phrasing", n_splits=n_splits)


class ContrastiveMatchFeatures(TransformerMixin, BaseEstimator):
    """Learned similarity between a conversation and the row's metric, with its rank and softmax.

    The metric name (as words, see :func:`~gbscore.features.metric_name_to_text`) and the
    conversation's text columns are embedded with one text encoder (through an internal
    :class:`~gbscore.features.EmbeddingFeaturizer`, so the process memo and ``cache_dir`` are
    shared with the pipeline's own featurizer). Two affine maps project the metric embedding
    and the conversation embedding into a shared ``dim``-dimensional space, where the
    similarity is the cosine. They are trained on the *positive* rows (label
    ``>= positive_threshold``: real, well-scored conversations; the low-labelled rows a
    :class:`~gbscore.augment.NegativeSampler` adds are not positives) to rank the row's metric
    above every other candidate metric:

    - ``loss="infonce"``: softmax cross-entropy over all candidate metrics (every metric is a
      negative, in-batch ones included), plus the in-batch direction (the metric against the
      batch's other conversations), at ``temperature``. Negatives from the row's own metric
      family (:func:`~gbscore.augment.metric_family`) are hard negatives and count
      ``family_weight`` times in the softmax denominator.
    - ``loss="triplet"``: hinge ``max(0, margin - cos(c, m) + cos(c, m'))`` against the
      hardest other metric, the hardest metric of the same family (weighted by
      ``family_weight``) and the hardest other conversation of the batch.

    Other metrics under which the same conversation is also a positive are never negatives.
    Both maps start from one shared random projection, so before training the learned
    cosine approximates the encoder's own cosine; training moves it from there.

    Features per row: the learned cosine to the row's metric (``contrast_cos``), the fraction
    of the other candidate metrics that are more similar (``contrast_rank``: 0 best, 1 worst),
    and the softmax probability of the row's metric over the candidates at ``temperature``
    (``contrast_prob``). The candidates are the metrics seen in fit plus ``metric_names``; a
    metric unknown at fit time has its name encoded and is one more candidate for its row.

    ``fit_transform`` returns *cross-fitted* features: each row is scored by a model fitted on
    the other folds (``n_splits`` folds; a fold holds whole clusters of similarly phrased
    conversations, see :func:`gbscore.model_selection.phrasing_groups`), as
    :class:`~sklearn.preprocessing.TargetEncoder` does; otherwise the booster downstream would
    learn from similarities the projections had memorised. ``transform`` uses the model fitted
    on all rows.

    Parameters
    ----------
    encoder : encoder object, default=None
        Anything with ``encode(texts)`` and ``identity()``; cloned. ``None`` means
        :class:`~gbscore.features.SentenceTransformerEncoder` ``()``, the default of
        :class:`~gbscore.features.EmbeddingFeaturizer`.
    text_columns : tuple of str, default=("user_prompt", "response")
        The conversation's text columns; each is embedded separately.
    conversation : {"mean", "concat"}, default="mean"
        How the columns' (unit-normalised) embeddings make one conversation vector.
    dim : int, default=64
        Dimension of the shared space.
    loss : {"infonce", "triplet"}, default="infonce"
    temperature : float, default=0.05
        Softmax temperature of the InfoNCE loss and of ``contrast_prob``.
    margin : float, default=0.2
        Margin of the triplet hinge.
    family_weight : float, default=2.0
        Weight of same-family negatives (1 treats them like any other metric).
    positive_threshold : float, default=7.0
        Rows labelled at or above this are positives; the others teach nothing.
    metric_names : list of str, default=None
        Candidate metrics besides those in the fit table.
    n_splits : int, default=5
        Folds of the cross-fitting in ``fit_transform``.
    n_epochs : int, default=10
        Passes over the positive rows.
    batch_size : int, default=256
    learning_rate : float, default=3e-3
        AdamW step size.
    weight_decay : float, default=1e-4
        AdamW weight decay.
    cache_dir : str or path-like, default=None
        Embedding cache folder, as in :class:`~gbscore.features.EmbeddingFeaturizer`.
    show_progress : bool, default=False
        Progress bar while encoding texts no cache holds.
    random_state : int, RandomState instance or None, default=0
        Seeds the initial projection and the batch order; with an int, two fits give the same
        features (on CPU).

    Attributes
    ----------
    embedder_ : EmbeddingFeaturizer
        The fitted internal featurizer (its ``encoder_`` encodes unknown metric names).
    candidates_ : ndarray of str
        Candidate metric names.
    candidate_embeddings_ : ndarray of float32, shape (n_candidates, D)
        Their encoded names.
    conversation_weight_, conversation_bias_ : ndarray of float32
        The conversation tower, ``(D_conv, dim)`` and ``(dim,)``.
    metric_weight_, metric_bias_ : ndarray of float32
        The metric tower, ``(D, dim)`` and ``(dim,)``.
    loss_curve_ : list of float
        Mean training loss per epoch of the model fitted on all rows.
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    Examples
    --------
    >>> import pandas as pd
    >>> from gbscore.features import CharTfidfEncoder, ContrastiveMatchFeatures
    >>> X = pd.DataFrame({"metric_name": ["toxicity", "privacy", "toxicity", "privacy"],
    ...                   "user_prompt": ["insult me", "my phone number", "slurs", "address"],
    ...                   "response": ["no insults", "keep it private", "no slurs", "private"]})
    >>> cmf = ContrastiveMatchFeatures(encoder=CharTfidfEncoder(n_components=3), dim=2,
    ...                                n_splits=2, n_epochs=2)
    >>> cmf.fit_transform(X, [9, 9, 10, 9]).shape
    (4, 3)
    >>> cmf.get_feature_names_out().tolist()
    ['contrast_cos', 'contrast_rank', 'contrast_prob']
    """

    _parameter_constraints: dict = {
        "encoder": [HasMethods(["encode", "identity"]), None],
        "text_columns": [tuple, list],
        "conversation": [StrOptions({"mean", "concat"})],
        "dim": [Interval(numbers.Integral, 1, None, closed="left")],
        "loss": [StrOptions({"infonce", "triplet"})],
        "temperature": [Interval(numbers.Real, 0, None, closed="neither")],
        "margin": [Interval(numbers.Real, 0, 2, closed="both")],
        "family_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "positive_threshold": [Interval(numbers.Real, None, None, closed="neither")],
        "metric_names": ["array-like", None],
        "n_splits": [Interval(numbers.Integral, 2, None, closed="left")],
        "n_epochs": [Interval(numbers.Integral, 0, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 2, None, closed="left")],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "cache_dir": [str, os.PathLike, None],
        "show_progress": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        encoder=None,
        text_columns=("user_prompt", "response"),
        conversation="mean",
        dim=64,
        loss="infonce",
        temperature=0.05,
        margin=0.2,
        family_weight=2.0,
        positive_threshold=7.0,
        metric_names=None,
        n_splits=5,
        n_epochs=10,
        batch_size=256,
        learning_rate=3e-3,
        weight_decay=1e-4,
        cache_dir=None,
        show_progress=False,
        random_state=0,
    ):
        self.encoder = encoder
        self.text_columns = text_columns
        self.conversation = conversation
        self.dim = dim
        self.loss = loss
        self.temperature = temperature
        self.margin = margin
        self.family_weight = family_weight
        self.positive_threshold = positive_threshold
        self.metric_names = metric_names
        self.n_splits = n_splits
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.cache_dir = cache_dir
        self.show_progress = show_progress
        self.random_state = random_state

    # -- estimator API ----------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Embed the table and train the projections on all rows.

        Parameters
        ----------
        X : DataFrame
            The tidy table: ``metric_name`` and the ``text_columns``.
        y : array-like of shape (n_rows,)
            Scores; rows at or above ``positive_threshold`` are positives.

        Returns
        -------
        self : ContrastiveMatchFeatures
        """
        self._fit(X, y)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None, **fit_params):
        """Fit on all rows, and return cross-fitted features for the same rows.

        Parameters
        ----------
        X : DataFrame
            The tidy table.
        y : array-like of shape (n_rows,)
            Scores.

        Returns
        -------
        features : ndarray of float32, shape (n_rows, 3)
            Each row scored by projections fitted without its fold.
        """
        conv, own, positive, conv_id, seeds = self._fit(X, y)
        groups = _crossfit_groups(X, self.n_splits)
        n_splits = min(self.n_splits, len(np.unique(groups)))
        if n_splits < 2:
            # one conversation: there is no other fold to fit on
            return self._features(conv, own, self._tower_params())
        out = np.empty((len(X), len(_NAMES)), dtype=np.float32)
        folds = GroupKFold(n_splits=n_splits).split(conv, groups=groups)
        for seed, (train, test) in zip(seeds[1:], folds, strict=False):
            params, _ = self._train(conv[train], own[train], positive[train], conv_id[train], seed)
            out[test] = self._features(conv[test], own[test], params)
        return out

    def transform(self, X):
        """Score each row with the projections fitted on all rows.

        Parameters
        ----------
        X : DataFrame
            The tidy table; metrics unknown at fit time are encoded by name.

        Returns
        -------
        features : ndarray of float32, shape (n_rows, 3)
            ``contrast_cos``, ``contrast_rank``, ``contrast_prob``.
        """
        check_is_fitted(self, "metric_weight_")
        self._check_table(X)
        names = X["metric_name"].astype(str).to_numpy(dtype=object)
        own = pd.Index(self.candidates_).get_indexer(names)
        unknown = pd.unique(names[own < 0])
        extra = None
        if len(unknown):
            extra = self._encode_names(unknown)
            own[own < 0] = len(self.candidates_) + pd.Index(unknown).get_indexer(names[own < 0])
        conv = self._conversations(X)
        return self._features(conv, own, self._tower_params(), extra=extra)

    def get_feature_names_out(self, input_features=None):
        """Return ``["contrast_cos", "contrast_rank", "contrast_prob"]``.

        Parameters
        ----------
        input_features : array-like of str, optional
            Ignored.

        Returns
        -------
        names : ndarray of str
        """
        check_is_fitted(self, "metric_weight_")
        return np.asarray(_NAMES, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.target_tags.required = True
        tags.transformer_tags.preserves_dtype = []
        return tags

    # -- fitting ----------------------------------------------------------------------

    def _fit(self, X, y):
        self._check_table(X)
        if y is None:
            raise DataError(
                "ContrastiveMatchFeatures learns which metrics fit a conversation from the "
                "scores: fit needs y (one score per row)."
            )
        y = np.asarray(y, dtype=np.float64).ravel()
        if len(y) != len(X):
            raise DataError(
                f"ContrastiveMatchFeatures.fit: X has {len(X)} rows but y has {len(y)}."
            )
        positive = y >= self.positive_threshold
        if not positive.any():
            # Not an error: a default pipeline must still fit data (or a fold) without a
            # well-scored row. The towers stay at their start, the encoder's own cosine.
            logger.warning(
                "ContrastiveMatchFeatures: no row has a score >= positive_threshold=%g (the "
                "highest is %g); the projections stay untrained (the encoder's own cosine). "
                "Lower positive_threshold to learn from these rows.",
                self.positive_threshold,
                y.max() if len(y) else float("nan"),
            )
        names = X["metric_name"].astype(str).to_numpy(dtype=object)
        extra = [] if self.metric_names is None else [str(n) for n in self.metric_names]
        self.candidates_ = np.asarray(sorted(set(names) | set(extra)), dtype=object)
        self.embedder_ = EmbeddingFeaturizer(
            # None is EmbeddingFeaturizer's default too: SentenceTransformerEncoder(); it clones
            encoder=self.encoder,
            text_columns=tuple(self.text_columns),
            encode_metric_names=False,
            cache_dir=None if self.cache_dir is None else os.fspath(self.cache_dir),
            show_progress=self.show_progress,
        ).fit(X[["metric_name", *self.text_columns]])
        seen = pd.Index(self.embedder_.metric_names_)
        self.candidate_embeddings_ = np.empty(
            (len(self.candidates_), self.embedder_.embedding_dim_), dtype=np.float32
        )
        at = seen.get_indexer(self.candidates_)
        self.candidate_embeddings_[at >= 0] = self.embedder_.metric_text_embeddings_[at[at >= 0]]
        if (at < 0).any():
            self.candidate_embeddings_[at < 0] = self._encode_names(self.candidates_[at < 0])
        self.candidate_families_ = np.asarray(
            [metric_family(m) for m in self.candidates_], dtype=object
        )
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)

        conv = self._conversations(X)
        own = pd.Index(self.candidates_).get_indexer(names)
        conv_id = pd.factorize(
            pd.util.hash_pandas_object(
                X[list(self.text_columns)].astype(str), index=False
            ).to_numpy()
        )[0]
        rng = check_random_state(self.random_state)
        seeds = rng.randint(np.iinfo(np.int32).max, size=self.n_splits + 1)
        params, curve = self._train(conv, own, positive, conv_id, seeds[0])
        (
            self.conversation_weight_,
            self.conversation_bias_,
            self.metric_weight_,
            self.metric_bias_,
        ) = params
        self.loss_curve_ = curve
        return conv, own, positive, conv_id, seeds

    def _check_table(self, X):
        if not isinstance(X, pd.DataFrame):
            raise DataError(
                "ContrastiveMatchFeatures expects the tidy table as a pandas DataFrame with "
                f"columns 'metric_name' and {list(self.text_columns)}; got {type(X).__name__}."
            )
        columns = list(self.text_columns)
        if not columns or not all(isinstance(c, str) and c for c in columns):
            raise ValueError(
                "The 'text_columns' parameter of ContrastiveMatchFeatures must be a non-empty "
                f"tuple of column names (str). Got {self.text_columns!r} instead."
            )
        missing = [c for c in ["metric_name", *columns] if c not in X.columns]
        if missing:
            raise DataError(
                f"ContrastiveMatchFeatures: the table has no column(s) {missing}; it has "
                f"{list(X.columns)}. Pass text_columns=... to use other columns.",
                field=missing[0],
            )

    def _encode_names(self, names):
        """Encode metric names absent from the fit table, quietly, through the memo and cache
        (the pipeline's featurizer has usually encoded them already)."""
        texts = [metric_name_to_text(str(n)) for n in names]
        distinct = list(dict.fromkeys(texts))
        vectors = embed_strings(
            self.embedder_.encoder_,
            distinct,
            cache_dir=self.embedder_.cache_dir,
            show_progress=False,
            log=False,
        )
        where = {t: i for i, t in enumerate(distinct)}
        return vectors[[where[t] for t in texts]]

    def _conversations(self, X):
        """One vector per row: the unit-normalised column embeddings, averaged or joined."""
        table = X[["metric_name", *self.text_columns]]
        # Every name is known to the embedder here: only the text blocks are read, and an
        # unknown metric name would otherwise be an error.
        table = table.assign(metric_name=self.embedder_.metric_names_[0])
        E = self.embedder_.transform(table)
        D = self.embedder_.embedding_dim_
        blocks = [unit_rows(E[:, k * D : (k + 1) * D]) for k in range(len(self.text_columns))]
        if self.conversation == "concat":
            return np.hstack(blocks)
        return unit_rows(np.mean(blocks, axis=0))

    def _tower_params(self):
        return (
            self.conversation_weight_,
            self.conversation_bias_,
            self.metric_weight_,
            self.metric_bias_,
        )

    def _train(self, conv, own, positive, conv_id, seed):
        """Train both towers on the positive rows; return numpy parameters and the loss curve."""
        training = TowerTraining(**{f.name: getattr(self, f.name) for f in fields(TowerTraining)})
        embeddings, families = self.candidate_embeddings_, self.candidate_families_
        return training.fit(conv, own, positive, conv_id, seed, embeddings, families)

    # -- features ---------------------------------------------------------------------

    def _features(self, conv, own, params, *, extra=None):
        """Cosine to the row's metric, its rank among the candidates, its softmax probability."""
        return tower_features(
            conv, own, params, self.candidate_embeddings_, self.temperature, extra=extra
        )
