"""The text side of the pipeline: embed a tidy table's metric names and texts.

The table's strings are read and checked in :mod:`gbscore.features._inputs`; the lookup of
each distinct string (memo, disk cache, encoder) is :func:`gbscore.features._embed.embed_strings`.
"""

from __future__ import annotations

import os
import warnings
from itertools import chain
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context, clone
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..exceptions import DataError, UnknownMetricError
from ._embed import embed_strings
from ._encoders import SentenceTransformerEncoder
from ._inputs import (
    TEXT_SEPARATOR,
    checked_metric_embeddings,
    metric_name_to_text,
    string_column,
)

__all__ = ["EmbeddingFeaturizer", "metric_name_to_text", "TEXT_SEPARATOR"]


class EmbeddingFeaturizer(TransformerMixin, BaseEstimator):
    """Embed the tidy table's metric names and texts with one text encoder.

    Output columns, in order (``D`` is the encoder's dimension):

    - ``metric_given__0 ..`` -- the row metric's given embedding (only when
      ``metric_embeddings`` is passed; it comes from another encoder, so it is not
      comparable with the other blocks);
    - ``metric_text__0 .. D-1`` -- the metric *name* encoded by the text encoder, after
      :func:`metric_name_to_text` (when ``encode_metric_names``), so cosines between it
      and the text blocks are meaningful;
    - ``{column}__0 .. D-1`` per text column, or ``text__0 .. D-1`` with ``join_texts``.

    Every distinct string (over all columns and metric names) is encoded once per
    process: a process-wide memo keyed by (encoder identity, text hash) is consulted
    first -- so ``clone``-d featurizers in CV folds reuse each other's vectors (see
    :func:`~gbscore.features.clear_caches`) -- then the disk cache in
    ``cache_dir``, and only the remaining strings are encoded, longest first, in batches
    of ``encode_batch_size``; each batch is stored back at once, so an interrupted run
    resumes where it stopped.

    Parameters
    ----------
    encoder : encoder object, default=None
        Anything with ``encode(texts)`` and ``identity()``, e.g.
        :class:`SentenceTransformerEncoder` or :class:`CharTfidfEncoder`; it is cloned
        (and fitted, if it needs fitting, on the distinct texts of the fit data).
        ``None`` means ``SentenceTransformerEncoder()`` (the packaged English
        all-MiniLM-L6-v2); for the competition's multilingual text pass
        ``SentenceTransformerEncoder(model="paraphrase-multilingual-mpnet-base-v2")``.
    text_columns : tuple of str, default=("system_prompt", "user_prompt", "response")
        Text columns to embed.
    join_texts : bool, default=False
        Embed the text columns joined by a blank line as one text (one block) instead
        of one block per column.
    metric_embeddings : DataFrame or tuple (names, array), default=None
        Given metric embeddings: a DataFrame indexed by metric name, or a tuple of the
        names and a 2-D array with one row per name.  They define the known metrics.
    encode_metric_names : bool, default=True
        Output the ``metric_text__*`` block.
    unknown_metric : {"error", "encode"}, default="error"
        What :meth:`transform` does with a metric name not known at fit time: raise
        :class:`~gbscore.exceptions.UnknownMetricError`, or warn and encode the name; its
        ``metric_given__*`` block is then the given embedding of the known metric whose
        encoded name is most similar (cosine).
    cache_dir : str or path-like, default=None
        Folder of the persistent :class:`EmbeddingCache`; ``None`` keeps vectors in
        memory only.  A folder that turns out read-only or full gives one
        :class:`~gbscore.exceptions.CacheWarning` and the run goes on without it.  It is
        machine-local: :func:`~gbscore.save_model` does not store it and
        :func:`~gbscore.load_model` sets the loading machine's folder.
    show_progress : bool, default=True
        Show a progress bar while encoding strings that were in no cache.
    encode_batch_size : int, default=256
        Strings per encoder call, and per disk-cache shard.

    Attributes
    ----------
    encoder_ : encoder object
        The fitted clone of ``encoder``.
    metric_names_ : ndarray of str
        Known metric names: those of ``metric_embeddings``, else those seen in fit.
    metric_text_embeddings_ : ndarray of float32, shape (n_metrics, D)
        The encoded names of ``metric_names_``.
    metric_given_ : ndarray of float32 or None
        The given embeddings, aligned with ``metric_names_``.
    embedding_dim_ : int
        ``D``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    Examples
    --------
    >>> import pandas as pd
    >>> from gbscore.features import CharTfidfEncoder, EmbeddingFeaturizer
    >>> table = pd.DataFrame({"metric_name": ["fluency", "toxicity/hate"],
    ...                       "system_prompt": ["", "Be kind."],
    ...                       "user_prompt": ["Write a poem", "नमस्ते"],
    ...                       "response": ["Roses are red", "வணக்கம்"]})
    >>> fz = EmbeddingFeaturizer(encoder=CharTfidfEncoder(n_components=4), show_progress=False)
    >>> fz.fit_transform(table).shape
    (2, 16)
    >>> fz.get_feature_names_out()[[0, 4, 15]].tolist()
    ['metric_text__0', 'system_prompt__0', 'response__3']
    """

    _parameter_constraints = {
        "encoder": [HasMethods(["encode", "identity"]), None],
        "text_columns": [tuple, list],
        "join_texts": ["boolean"],
        "metric_embeddings": [pd.DataFrame, tuple, None],
        "encode_metric_names": ["boolean"],
        "unknown_metric": [StrOptions({"error", "encode"})],
        "cache_dir": [str, os.PathLike, None],
        "show_progress": ["boolean"],
        "encode_batch_size": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        *,
        encoder=None,
        text_columns=("system_prompt", "user_prompt", "response"),
        join_texts=False,
        metric_embeddings=None,
        encode_metric_names=True,
        unknown_metric="error",
        cache_dir=None,
        show_progress=True,
        encode_batch_size=256,
    ):
        self.encoder = encoder
        self.text_columns = text_columns
        self.join_texts = join_texts
        self.metric_embeddings = metric_embeddings
        self.encode_metric_names = encode_metric_names
        self.unknown_metric = unknown_metric
        self.cache_dir = cache_dir
        self.show_progress = show_progress
        self.encode_batch_size = encode_batch_size

    # -- validation -------------------------------------------------------------------

    def _checked_text_columns(self):
        columns = list(self.text_columns)
        if not columns or not all(isinstance(c, str) and c for c in columns):
            raise ValueError(
                "The 'text_columns' parameter of EmbeddingFeaturizer must be a non-empty "
                f"tuple of column names (str). Got {self.text_columns!r} instead."
            )
        duplicates = sorted({c for c in columns if columns.count(c) > 1})
        if duplicates:
            raise ValueError(
                "The 'text_columns' parameter of EmbeddingFeaturizer lists "
                f"{duplicates} more than once. Got {self.text_columns!r}."
            )
        return columns

    def _read_table(self, X):
        """Return ``(metric names, {text column: values})`` as lists of str."""
        if not isinstance(X, pd.DataFrame):
            raise DataError(
                "EmbeddingFeaturizer expects the tidy table: a pandas DataFrame with columns "
                f"'metric_name' and {list(self.text_columns)}; got {type(X).__name__}."
            )
        columns = self._checked_text_columns()
        absent = [c for c in ["metric_name", *columns] if c not in X.columns]
        if absent:
            raise DataError(
                f"the table has no column(s) {absent}; it has {list(X.columns)}. Pass "
                "text_columns=... to embed other columns.",
                field=absent[0],
            )
        metrics = string_column(X, "metric_name", allow_missing=False)
        texts = {c: string_column(X, c, allow_missing=True) for c in columns}
        return metrics, texts

    def _text_blocks(self, texts):
        if not self.join_texts:
            return texts
        joined = [
            TEXT_SEPARATOR.join(v for v in row if v) for row in zip(*texts.values(), strict=True)
        ]
        return {"text": joined}

    # -- embedding --------------------------------------------------------------------

    def _embed(self, strings, dim=None):
        """Return one vector per string, via memo, disk cache, then the encoder.

        ``dim`` is the width every vector must have (``None``: whatever the first batch the
        encoder returns has).
        """
        return embed_strings(
            self.encoder_,
            strings,
            dim=dim,
            cache_dir=self.cache_dir,
            batch_size=self.encode_batch_size,
            show_progress=self.show_progress,
        )

    # -- estimator API ----------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Record the known metrics, fit the encoder if it needs it, encode metric names.

        Parameters
        ----------
        X : DataFrame
            The tidy table (``metric_name`` and the text columns).
        y : None
            Ignored.

        Returns
        -------
        self : EmbeddingFeaturizer
        """
        given_names, given = checked_metric_embeddings(self.metric_embeddings)
        metrics, texts = self._read_table(X)
        if not metrics:
            raise DataError("EmbeddingFeaturizer.fit got a table with no rows.")
        if given_names is not None:
            known = set(given_names)
            unknown_rows = [i for i, m in enumerate(metrics) if m not in known]
            if unknown_rows:
                names = list(dict.fromkeys(metrics[i] for i in unknown_rows))
                raise UnknownMetricError(
                    f"{len(names)} metric name(s) in the fit table are absent from "
                    f"metric_embeddings: {names[:5]}{' ...' if len(names) > 5 else ''} "
                    f"(row positions {unknown_rows[:10]}{' ...' if len(unknown_rows) > 10 else ''}"
                    "). Add their embeddings to metric_embeddings, or drop those rows."
                )
            self.metric_names_ = np.asarray(given_names, dtype=object)
            self.metric_given_ = given
        else:
            self.metric_names_ = np.asarray(sorted(set(metrics)), dtype=object)
            self.metric_given_ = None
        self.encoder_ = clone(
            self.encoder if self.encoder is not None else SentenceTransformerEncoder()
        )
        pin_runtime(self.encoder_)
        metric_texts = [metric_name_to_text(n) for n in self.metric_names_]
        if getattr(self.encoder_, "requires_fit", False):
            blocks = self._text_blocks(texts)
            self.encoder_.fit(list(dict.fromkeys(chain(*blocks.values(), metric_texts))))
        # No expected width: a refit may use an encoder of another dimension.
        self.metric_text_embeddings_ = self._embed(metric_texts, dim=None)
        self.embedding_dim_ = int(self.metric_text_embeddings_.shape[1])
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        return self

    def _nearest_known(self, vectors):
        known = self.metric_text_embeddings_
        known = known / np.maximum(np.linalg.norm(known, axis=1, keepdims=True), 1e-12)
        vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        similarity = vectors @ known.T
        best = similarity.argmax(axis=1)
        return best, similarity[np.arange(len(best)), best]

    def transform(self, X):
        """Embed the table.

        Parameters
        ----------
        X : DataFrame
            The tidy table.

        Returns
        -------
        features : ndarray of float32, shape (n_rows, n_features)
            Columns named by :meth:`get_feature_names_out`.
        """
        check_is_fitted(self)
        metrics, texts = self._read_table(X)
        blocks = self._text_blocks(texts)
        known = {name: i for i, name in enumerate(self.metric_names_)}
        unknown_rows = [i for i, m in enumerate(metrics) if m not in known]
        unknown = list(dict.fromkeys(metrics[i] for i in unknown_rows))
        if unknown and self.unknown_metric == "error":
            source = (
                "the names in metric_embeddings"
                if self.metric_given_ is not None
                else "the names in the fit table"
            )
            raise UnknownMetricError(
                f"{len(unknown)} metric name(s) in X were not known at fit time "
                f"(known metrics are {source}): "
                f"{unknown[:5]}{' ...' if len(unknown) > 5 else ''} at row position(s) "
                f"{unknown_rows[:10]}{' ...' if len(unknown_rows) > 10 else ''}. Set "
                "unknown_metric='encode' to encode unseen names with the text encoder (their "
                "metric_given block then uses the most similar known metric), or refit with "
                "these metrics included."
            )
        unknown_texts = [metric_name_to_text(n) for n in unknown]
        unique = list(dict.fromkeys(chain(*blocks.values(), unknown_texts)))
        vectors = self._embed(unique, dim=self.embedding_dim_)
        position = {s: i for i, s in enumerate(unique)}

        metric_text = self.metric_text_embeddings_
        metric_code = np.fromiter(
            (known.get(m, -1) for m in metrics), dtype=np.intp, count=len(metrics)
        )
        nearest = None
        if unknown:
            unknown_vectors = vectors[[position[t] for t in unknown_texts]]
            metric_text = np.vstack([metric_text, unknown_vectors])
            extra = {name: len(known) + j for j, name in enumerate(unknown)}
            metric_code[unknown_rows] = [extra[metrics[i]] for i in unknown_rows]
            message = (
                f"{len(unknown)} metric name(s) in X were not known at fit time: "
                f"{unknown[:5]}{' ...' if len(unknown) > 5 else ''} "
                f"({len(unknown_rows)} rows). Their names were encoded with the text encoder "
                "(unknown_metric='encode')"
            )
            if self.metric_given_ is not None:
                nearest, similarity = self._nearest_known(unknown_vectors)
                pairs = ", ".join(
                    f"{u!r} -> {self.metric_names_[k]!r} (cosine {s:.2f})"
                    for u, k, s in list(zip(unknown, nearest, similarity, strict=True))[:5]
                )
                message += (
                    "; their metric_given block uses the given embedding of the most similar "
                    f"known metric by text-encoder cosine: {pairs}"
                )
            warnings.warn(message + ".", UserWarning, stacklevel=2)

        n_rows = len(metrics)
        out = np.empty((n_rows, len(self._feature_names())), dtype=np.float32)
        col = 0
        if self.metric_given_ is not None:
            given_code = metric_code.copy()
            if nearest is not None:
                given_code[unknown_rows] = nearest[given_code[unknown_rows] - len(known)]
            width = self.metric_given_.shape[1]
            out[:, col : col + width] = self.metric_given_[given_code]
            col += width
        width = self.embedding_dim_
        if self.encode_metric_names:
            out[:, col : col + width] = metric_text[metric_code]
            col += width
        for values in blocks.values():
            codes = np.fromiter((position[v] for v in values), dtype=np.intp, count=n_rows)
            out[:, col : col + width] = vectors[codes]
            col += width
        return out

    def _feature_names(self):
        names = []
        if self.metric_given_ is not None:
            names += [f"metric_given__{i}" for i in range(self.metric_given_.shape[1])]
        blocks = ["text"] if self.join_texts else list(self.text_columns)
        if self.encode_metric_names:
            blocks = ["metric_text", *blocks]
        for block in blocks:
            names += [f"{block}__{i}" for i in range(self.embedding_dim_)]
        return names

    def get_feature_names_out(self, input_features=None):
        """Return the output column names.

        Parameters
        ----------
        input_features : array-like of str, optional
            Ignored (the names depend on the text columns and embedding sizes only).

        Returns
        -------
        names : ndarray of str
        """
        check_is_fitted(self)
        return np.asarray(self._feature_names(), dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.transformer_tags.preserves_dtype = []
        return tags


def pin_runtime(encoder):
    """Fix an encoder's ``"auto"`` backend and precision to what they resolve to here.

    A model fitted with torch fp32 then encodes its test texts with torch fp32 on a machine
    where ``"auto"`` would pick ONNX int8 (vectors with cosine ~0.99 to the training ones),
    and a model fitted with ONNX fails clearly, with the ``pip install`` it needs, where ONNX
    Runtime is missing.  Encoders without a ``runtime()`` (character TF-IDF) are left alone.
    """
    params = encoder.get_params(deep=False)
    if not callable(getattr(encoder, "runtime", None)) or not {"backend", "precision"} <= set(
        params
    ):
        return encoder
    runtime = encoder.runtime()
    return encoder.set_params(
        backend=runtime["backend"], precision="int8" if runtime["quantization"] else "fp32"
    )
