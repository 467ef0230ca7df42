"""The text-encoder protocol, :class:`BaseTextEncoder`, and the input check encoders share.

gbscore's encoders are scikit-learn style estimators whose ``__init__`` only stores
their arguments.  They share one small protocol:

``encode(texts) -> ndarray``
    One float32 row per text.
``identity() -> dict``
    Everything that determines the vectors (model, weights, window, pooling, fitted
    state).  :class:`~gbscore.features.EmbeddingCache` and the in-process memo key
    their entries by its hash, so two encoders that would give different vectors never
    share cache entries.
``fit(texts)``
    A no-op for pretrained encoders, learns the vocabulary for
    :class:`~gbscore.features.CharTfidfEncoder`.
"""

from __future__ import annotations

from sklearn.base import BaseEstimator

from ._shards import identity_hash

__all__ = ["BaseTextEncoder", "as_text_list"]


def as_text_list(texts, *, caller):
    """Return ``texts`` as a list of str, or raise a TypeError naming the bad item."""
    if isinstance(texts, str):
        raise TypeError(
            f"{caller} expects a list of strings, got a single str; wrap it in a list: [text]."
        )
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(
                f"{caller} expects a list of strings; item {i} is {type(text).__name__} "
                f"({text!r:.60}). Map missing text to '' before encoding."
            )
    return texts


class BaseTextEncoder(BaseEstimator):
    """Base class of gbscore text encoders.

    Subclasses implement :meth:`encode` and :meth:`identity`; encoders that learn from
    data set ``requires_fit = True`` and override :meth:`fit`.  Any object with
    ``encode`` and ``identity`` works with :class:`~gbscore.features.EmbeddingFeaturizer`;
    deriving from this class adds :meth:`identity_hash` and a no-op :meth:`fit`.
    """

    #: Whether :meth:`fit` must be called (on the texts to encode) before :meth:`encode`.
    requires_fit = False

    def fit(self, texts=None, y=None):
        """Do nothing: a pretrained encoder has nothing to learn.

        Parameters
        ----------
        texts : list of str, optional
            Ignored.
        y : None
            Ignored.

        Returns
        -------
        self : BaseTextEncoder
        """
        return self

    def encode(self, texts, *, show_progress=None):  # pragma: no cover - abstract
        """Return one float32 row per text, shape ``(len(texts), dim)``."""
        raise NotImplementedError

    def identity(self):  # pragma: no cover - abstract
        """Return a JSON-serialisable dict that determines the vectors."""
        raise NotImplementedError

    def identity_hash(self):
        """Return a short hex digest of :meth:`identity` (the cache key of this encoder)."""
        return identity_hash(self.identity())

    def __sklearn_is_fitted__(self):
        return not self.requires_fit
