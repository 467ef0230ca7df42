"""Character n-gram TF-IDF + SVD text encoder: no model, any script."""

from __future__ import annotations

import hashlib
import json
from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from ._base_encoder import BaseTextEncoder, as_text_list

__all__ = ["CharTfidfEncoder"]


class CharTfidfEncoder(BaseTextEncoder):
    """Character n-gram TF-IDF reduced by truncated SVD: offline, any script.

    Character n-grams within word boundaries (``analyzer="char_wb"``) need no
    tokenizer or model, so Devanagari, Tamil, Bengali and romanised text all work.
    It must be fitted (on the texts of the training data) before :meth:`encode`.

    Parameters
    ----------
    ngram_range : tuple of (int, int), default=(2, 4)
        Character n-gram lengths.
    n_components : int, default=256
        Output dimension (capped at the vocabulary size minus one).
    max_features : int, default=200_000
        Largest vocabulary kept (most frequent n-grams).
    random_state : int, RandomState instance or None, default=0
        Seed of the randomised SVD.

    Attributes
    ----------
    vectorizer_ : TfidfVectorizer
    svd_ : TruncatedSVD
    n_components_ : int
        Output dimension.
    fingerprint_ : str
        Hash of the fitted state (vocabulary, idf, SVD components).

    Notes
    -----
    Rows are L2-normalised.  A text none of whose n-grams is in the vocabulary (the
    empty string, for one) has the zero vector.

    Examples
    --------
    >>> from gbscore.features import CharTfidfEncoder
    >>> enc = CharTfidfEncoder(n_components=2).fit(["नमस्ते दुनिया", "வணக்கம் உலகம்", "hello"])
    >>> enc.encode(["नमस्ते"]).shape
    (1, 2)
    """

    requires_fit = True

    _parameter_constraints = {
        "ngram_range": [tuple],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "max_features": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
    }

    def __init__(
        self, *, ngram_range=(2, 4), n_components=256, max_features=200_000, random_state=0
    ):
        self.ngram_range = ngram_range
        self.n_components = n_components
        self.max_features = max_features
        self.random_state = random_state

    def fit(self, texts, y=None):
        """Learn the n-gram vocabulary, idf weights and SVD basis.

        Parameters
        ----------
        texts : list of str
            Training texts; duplicates are dropped first.
        y : None
            Ignored.

        Returns
        -------
        self : CharTfidfEncoder
        """
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        self._validate_params()
        low_high = self.ngram_range
        if not (
            len(low_high) == 2
            and all(isinstance(v, Integral) for v in low_high)
            and 1 <= low_high[0] <= low_high[1]
        ):
            raise ValueError(
                f"The 'ngram_range' parameter of {type(self).__name__} must be a tuple "
                f"(min_n, max_n) of ints with 1 <= min_n <= max_n. Got {low_high!r} instead."
            )
        texts = list(dict.fromkeys(as_text_list(texts, caller=f"{type(self).__name__}.fit")))
        vectorizer = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=tuple(low_high),
            max_features=self.max_features,
            sublinear_tf=True,
            dtype=np.float32,
        )
        try:
            matrix = vectorizer.fit_transform(texts)
        except ValueError as exc:
            raise ValueError(
                f"{type(self).__name__}.fit found no character {low_high[0]}-{low_high[1]}-grams "
                f"in its {len(texts)} distinct text(s); fit it on non-empty texts."
            ) from exc
        n_components = min(self.n_components, matrix.shape[1] - 1)
        if n_components < 1:
            raise ValueError(
                f"{type(self).__name__}.fit needs at least 2 distinct character n-grams; "
                f"the {len(texts)} distinct text(s) given have {matrix.shape[1]}."
            )
        self.vectorizer_ = vectorizer
        self.svd_ = TruncatedSVD(n_components=n_components, random_state=self.random_state)
        self.svd_.fit(matrix)
        self.n_components_ = n_components
        digest = hashlib.sha256()
        digest.update(json.dumps(self.get_params(), sort_keys=True, default=str).encode())
        digest.update("\0".join(sorted(vectorizer.vocabulary_)).encode("utf-8", "surrogatepass"))
        digest.update(np.ascontiguousarray(vectorizer.idf_, dtype=np.float64).tobytes())
        digest.update(np.ascontiguousarray(self.svd_.components_, dtype=np.float64).tobytes())
        self.fingerprint_ = digest.hexdigest()[:32]
        return self

    def __sklearn_is_fitted__(self):
        return hasattr(self, "fingerprint_")

    def identity(self):
        """Return what determines the vectors: the parameters and the fitted-state hash."""
        check_is_fitted(self)
        return {
            "encoder": "CharTfidfEncoder",
            "ngram_range": list(self.ngram_range),
            "n_components": int(self.n_components_),
            "max_features": self.max_features,
            "fitted_state": self.fingerprint_,
        }

    def encode(self, texts, *, show_progress=None):
        """Return L2-normalised float32 SVD coordinates, shape ``(len(texts), n_components_)``.

        ``show_progress`` is accepted for protocol compatibility and ignored (this is fast).
        """
        from sklearn.preprocessing import normalize

        check_is_fitted(self)
        texts = as_text_list(texts, caller=f"{type(self).__name__}.encode")
        if not texts:
            return np.zeros((0, self.n_components_), dtype=np.float32)
        reduced = self.svd_.transform(self.vectorizer_.transform(texts))
        return normalize(reduced).astype(np.float32, copy=False)
