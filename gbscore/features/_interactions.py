"""Interaction features between the metric embedding and each text embedding."""

from __future__ import annotations

import logging
import numbers
import re

import joblib
import numpy as np
import pandas as pd
from scipy import linalg
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.random_projection import GaussianRandomProjection
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..exceptions import GbscoreError
from ._memory import recent_result

__all__ = ["InteractionFeatures", "embedding_blocks"]

log = logging.getLogger("gbscore")

_BLOCK_RE = re.compile(r"^(?P<block>.+)__(?P<i>\d+)$")


def embedding_blocks(feature_names):
    """Map block name -> column positions, for columns named ``<block>__<int>``.

    This is the naming contract of :class:`~gbscore.features.EmbeddingFeaturizer`
    (``metric_text__0``, ``response__383``, ...). Other columns (statistics) are not blocks.
    """
    blocks = {}
    for pos, name in enumerate(feature_names):
        m = _BLOCK_RE.match(str(name))
        if m and not m["block"].startswith(
            ("len", "words", "empty", "script_", "markdown", "lines")
        ):
            blocks.setdefault(m["block"], []).append(pos)
    return {b: np.asarray(p) for b, p in blocks.items() if len(p) > 1}


def _unit(a):
    norm = np.linalg.norm(a, axis=1, keepdims=True)
    return a / np.maximum(norm, 1e-12)


def _svd(A, *, what):
    """Thin SVD ``U, s, Vt`` of a float64 matrix, robust to rank deficiency.

    LAPACK's divide-and-conquer driver (``gesdd``, what NumPy, SciPy and scikit-learn's PCA and
    PLSSVD use) is fast but can fail with "SVD did not converge" on a matrix whose singular
    values are mostly at round-off level. The cross-covariance of a small fit is such a matrix:
    its rank is bounded by the number of distinct metrics (about 45 of 384 dimensions for 100
    demo rows), and whether ``gesdd`` converges on it depends on the CPU's BLAS kernels. The
    QR-iteration driver (``gesvd``) computes the same decomposition and converges on these
    matrices, at about four times the cost, so it is used only when ``gesdd`` fails.
    """
    try:
        return linalg.svd(A, full_matrices=False, lapack_driver="gesdd")
    except np.linalg.LinAlgError:
        log.info(
            "InteractionFeatures: the divide-and-conquer SVD (LAPACK gesdd) did not converge on "
            "the %s (%d x %d, rank-deficient); using the QR-iteration SVD (gesvd) instead",
            what,
            *A.shape,
        )
    try:
        return linalg.svd(A, full_matrices=False, lapack_driver="gesvd")
    except np.linalg.LinAlgError as exc:
        raise GbscoreError(
            f"InteractionFeatures: no SVD of the {what} ({A.shape[0]} x {A.shape[1]}) converged; "
            "disable the step that needs it with params interact__bilinear_rank=0 or "
            "interact__reduction='random', or add training rows"
        ) from exc


def _numerical_rank(s, shape, scale):
    """Number of singular values above round-off.

    ``scale`` bounds the size of the matrix's entries before centering (a product of
    Frobenius norms): centering leaves errors relative to it, so a block of identical rows
    has a round-off cross-covariance, not a rank-one one. This is NumPy's ``matrix_rank``
    tolerance with ``scale`` standing in for the largest singular value when larger.
    """
    top = s[0] if s.size else 0.0
    return int(np.sum(s > max(shape) * np.finfo(np.float64).eps * max(top, scale)))


def _fix_signs(U, *others):
    """Flip column pairs so each column's largest-|.| entry in ``U`` is positive.

    Singular vectors are defined up to sign; this is scikit-learn's ``svd_flip`` convention,
    so the features do not change sign between LAPACK drivers or machines.
    """
    signs = np.sign(U[np.argmax(np.abs(U), axis=0), np.arange(U.shape[1])])
    signs[signs == 0] = 1.0
    return (U * signs, *(o * signs for o in others))


class _Projection:
    """``x -> (x - mean_) @ components_.T``; rows of ``components_`` past the rank are zero."""

    def __init__(self, mean, components):
        self.mean_ = mean
        self.components_ = components

    @property
    def n_components(self):
        return self.components_.shape[0]

    def transform(self, Z):
        return (Z - self.mean_) @ self.components_.T


def _pca(Z, k, *, what):
    """Top-``k`` principal axes of ``Z``, from its (d x d) scatter matrix.

    The symmetric eigensolver computes only the ``k`` axes kept (as scikit-learn's
    ``covariance_eigh`` PCA solver does); should it fail, :func:`_svd` decomposes the matrix.
    Directions beyond the numerical rank are round-off, whose orientation differs between
    machines, so they become zero columns rather than features.
    """
    mean = Z.mean(axis=0)
    Zc = Z - mean
    scatter = Zc.T @ Zc
    d = scatter.shape[0]
    try:
        w, V = linalg.eigh(scatter, subset_by_index=[d - k, d - 1])
        w, V = w[::-1], V[:, ::-1]
    except np.linalg.LinAlgError:
        log.info("InteractionFeatures: the symmetric eigensolver failed on the %s; using SVD", what)
        _, w, Vt = _svd(scatter, what=what)
        w, V = w[:k], Vt[:k].T
    (V,) = _fix_signs(np.ascontiguousarray(V))
    V[:, _numerical_rank(np.maximum(w, 0.0), scatter.shape, np.sum(Z * Z)) :] = 0.0
    return _Projection(mean, V.T)


def _pls_svd(M, T, k, *, what):
    """Rank-``k`` PLS-SVD of ``(M, T)``: the top singular pairs of their cross-covariance.

    The same directions as scikit-learn's ``PLSSVD(scale=False)``, decomposed by :func:`_svd`,
    with pairs beyond the numerical rank set to zero (see :func:`_pca`).
    """
    m_mean, t_mean = M.mean(axis=0), T.mean(axis=0)
    C = (M - m_mean).T @ (T - t_mean)
    U, s, Vt = _svd(C, what=what)
    U, V = _fix_signs(U[:, :k], Vt[:k].T)
    rank = _numerical_rank(s, C.shape, np.linalg.norm(M) * np.linalg.norm(T))
    U[:, rank:] = 0.0
    V[:, rank:] = 0.0
    return _Projection(m_mean, U.T), _Projection(t_mean, V.T)


class InteractionFeatures(TransformerMixin, BaseEstimator):
    """Metric-by-text interaction features, appended to (or replacing) the input columns.

    For the metric block ``M`` and each text block ``T`` of the same width (the metric block
    must come from the same encoder as the texts; the competition's given metric embeddings
    do not, so they are never paired):

    * ``cos__M__T``: cosine similarity. With the metric *name* encoded by the text encoder this
      is the strongest single signal of whether a metric fits a conversation.
    * ``prod__M__T__k`` / ``absdiff__M__T__k``: the elementwise product and absolute difference,
      reduced to ``n_components`` by PCA (or a Gaussian random projection) fitted in ``fit``.
    * ``bilinear__M__T__k``: a rank-``bilinear_rank`` bilinear form. PLS-SVD finds paired
      directions ``u_k, v_k`` of maximal metric/text covariance; the feature is
      ``(M u_k) * (T v_k)``, so the regressor learns ``M^T (sum_k w_k u_k v_k^T) T``.

    * ``rank__M__T`` / ``z__M__T`` / ``margin__M__T`` (``metric_rank=True``): how the row's own
      metric compares with every metric seen in ``fit`` as a match for ``T``: the share of
      metrics closer to ``T`` than the row's own, the z-score of the own cosine among all of
      them, and its margin over the best other metric. A raw cosine depends on how generic a
      text is; its rank among all metrics says whether *this* metric is the one the text is about.

    Between text blocks: ``cos__user_prompt__response`` (prompt-response topic divergence),
    ``cos__system_prompt__response`` and ``cos__system_prompt__user_prompt``.

    Blocks are found from the input's column names (``<block>__<int>``); fit on a DataFrame
    (e.g. after ``set_output(transform="pandas")``) or pass ``feature_names``.

    Parameters
    ----------
    metric_block : str, default="metric_text"
        The metric block paired with each text block.
    text_blocks : tuple of str or "auto", default="auto"
        Text blocks; ``"auto"`` takes every block not starting with ``metric_``.
    n_components : int, default=16
        Size of each reduced product / absolute-difference block (0 disables them).
    reduction : {"pca", "random"}, default="pca"
        How products and differences are reduced.
    bilinear_rank : int, default=8
        Rank of the bilinear term (0 disables it).
    metric_rank : bool, default=True
        Add the rank / z-score / margin features of the row's metric among all metrics.
    passthrough : {"all", "non_embedding", "none"}, default="all"
        Which input columns are kept in the output: all, only those not in an embedding
        block (statistics, metric family), or none.
    feature_names : array-like of str, default=None
        Column names of a plain-array input.
    random_state : int, RandomState or None, default=0
        Seed of the random projection.

    Notes
    -----
    The output is float64. The PCA axes come from the eigenvectors of the (d x d) scatter
    matrix and the bilinear directions from the SVD of the (d x d) metric/text
    cross-covariance. On a small fit these matrices are rank-deficient (the cross-covariance's
    rank is bounded by the number of distinct metrics); directions beyond the numerical rank
    are output as zero columns, and when LAPACK's divide-and-conquer SVD does not converge on
    such a matrix the QR-iteration SVD is used instead, with one log line saying so.
    """

    _parameter_constraints: dict = {
        "metric_block": [str],
        "text_blocks": [StrOptions({"auto"}), tuple, list],
        "n_components": [Interval(numbers.Integral, 0, None, closed="left")],
        "reduction": [StrOptions({"pca", "random"})],
        "bilinear_rank": [Interval(numbers.Integral, 0, None, closed="left")],
        "metric_rank": ["boolean"],
        "passthrough": [StrOptions({"all", "non_embedding", "none"})],
        "feature_names": ["array-like", None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        metric_block="metric_text",
        text_blocks="auto",
        n_components=16,
        reduction="pca",
        bilinear_rank=8,
        metric_rank=True,
        passthrough="all",
        feature_names=None,
        random_state=0,
    ):
        self.metric_block = metric_block
        self.text_blocks = text_blocks
        self.n_components = n_components
        self.reduction = reduction
        self.bilinear_rank = bilinear_rank
        self.metric_rank = metric_rank
        self.passthrough = passthrough
        self.feature_names = feature_names
        self.random_state = random_state

    def fit(self, X, y=None):
        self._validate_params()
        names = self._input_names(X)
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        blocks = embedding_blocks(names)
        if self.metric_block not in blocks:
            raise ValueError(
                f"InteractionFeatures: metric_block={self.metric_block!r} is not among the input's "
                f"embedding blocks {sorted(blocks)}; columns must be named '<block>__<i>' "
                "(fit on the featurizer's pandas output or pass feature_names)"
            )
        if self.text_blocks == "auto":
            text = [b for b in blocks if not b.startswith("metric_")]
        else:
            text = list(self.text_blocks)
            unknown = [b for b in text if b not in blocks]
            if unknown:
                raise ValueError(
                    f"InteractionFeatures: text_blocks {unknown} not found; "
                    f"blocks are {sorted(blocks)}"
                )
        dim = len(blocks[self.metric_block])
        self.blocks_ = blocks
        self.text_blocks_ = [b for b in text if len(blocks[b]) == dim]
        A = self._array(X)
        M = _unit(A[:, blocks[self.metric_block]])
        units = {t: _unit(A[:, blocks[t]]) for t in self.text_blocks_}
        del A
        # Widths do not depend on the number of rows: directions a small fit cannot resolve
        # (beyond the numerical rank) are zero columns, so feature names are stable.
        k = min(self.n_components, dim)
        r = min(self.bilinear_rank, dim)
        if self.reduction == "pca" or isinstance(self.random_state, numbers.Integral):
            # What is fitted reads only the metric and text blocks. The stack's bases feed
            # this step unions that differ in other columns (the metric-match member), so on
            # the same rows the next one reuses the result (~3 s per stack fold at full size).
            key = joblib.hash((self.reduction, k, r, self.random_state, M, units))
            fitted = recent_result(
                "interaction features", key, lambda: self._fit_blocks(M, units, k, r), keep=1
            )
        else:  # a RandomState draws anew at each fit
            fitted = self._fit_blocks(M, units, k, r)
        self.metric_vocab_, self.reducers_, self.bilinear_ = fitted
        self._feature_names_out = self._build_names()
        return self

    def _fit_blocks(self, M, units, k, r):
        """The fitted parts that read the blocks' values: the distinct metric vectors, the
        reducers of the products and absolute differences, the bilinear directions."""
        # every distinct metric vector seen in fit (the sampler's swaps put most metrics there)
        metric_vocab = np.unique(M.round(6), axis=0)
        reducers, bilinear = {}, {}
        for t, T in units.items():
            if k:
                for kind, Z in (("prod", M * T), ("absdiff", np.abs(M - T))):
                    if self.reduction == "pca":
                        red = _pca(Z, k, what=f"{kind} scatter matrix of {t!r}")
                    else:
                        red = GaussianRandomProjection(
                            n_components=k, random_state=self.random_state
                        ).fit(Z)
                    reducers[(kind, t)] = red
            if r:
                bilinear[t] = _pls_svd(M, T, r, what=f"metric/{t!r} cross-covariance matrix")
        return metric_vocab, reducers, bilinear

    def transform(self, X):
        check_is_fitted(self, "blocks_")
        names = self._input_names(X)
        if list(names) != list(self.feature_names_in_):
            raise ValueError(
                "InteractionFeatures: the input columns differ from those seen in fit "
                f"({len(names)} vs {len(self.feature_names_in_)} columns)"
            )
        A = self._array(X)
        blocks = self.blocks_
        M = _unit(A[:, blocks[self.metric_block]])
        out = []
        if self.passthrough == "all":
            out.append(A)
        elif self.passthrough == "non_embedding":
            out.append(A[:, self._non_embedding_positions()])
        units = {t: _unit(A[:, blocks[t]]) for t in blocks if t != self.metric_block}
        for t in self.text_blocks_:
            out.append(np.sum(M * units[t], axis=1, keepdims=True))
        for a, b in self._text_pairs():
            out.append(np.sum(units[a] * units[b], axis=1, keepdims=True))
        if self.metric_rank:
            for t in self.text_blocks_:
                out.append(self._rank_features(M, units[t]))
        for t in self.text_blocks_:
            T = units[t]
            for kind, Z in (("prod", M * T), ("absdiff", np.abs(M - T))):
                if (kind, t) in self.reducers_:
                    out.append(self.reducers_[(kind, t)].transform(Z))
            if t in self.bilinear_:
                m_proj, t_proj = self.bilinear_[t]
                out.append(m_proj.transform(M) * t_proj.transform(T))
        return np.hstack(out)

    def _rank_features(self, M, T):
        own = np.sum(M * T, axis=1)
        all_cos = T @ self.metric_vocab_.T  # (n, n_metrics)
        rank = (all_cos > own[:, None] + 1e-6).mean(axis=1)
        z = (own - all_cos.mean(axis=1)) / np.maximum(all_cos.std(axis=1), 1e-6)
        # best other metric: the top cosine unless it is the row's own metric, then the second
        top2 = (
            -np.partition(-all_cos, 1, axis=1)[:, :2]
            if all_cos.shape[1] > 1
            else np.c_[all_cos, all_cos]
        )
        best_other = np.where(np.isclose(top2[:, 0], own, atol=1e-5), top2[:, 1], top2[:, 0])
        return np.column_stack([rank, z, own - best_other])

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "blocks_")
        return np.asarray(self._feature_names_out, dtype=object)

    def _build_names(self):
        names = []
        if self.passthrough == "all":
            names += list(self.feature_names_in_)
        elif self.passthrough == "non_embedding":
            names += list(self.feature_names_in_[self._non_embedding_positions()])
        names += [f"cos__{self.metric_block}__{t}" for t in self.text_blocks_]
        names += [f"cos__{a}__{b}" for a, b in self._text_pairs()]
        if self.metric_rank:
            for t in self.text_blocks_:
                names += [f"{k}__{self.metric_block}__{t}" for k in ("rank", "z", "margin")]
        for t in self.text_blocks_:
            for kind in ("prod", "absdiff"):
                if (kind, t) in self.reducers_:
                    k = self.reducers_[(kind, t)].n_components
                    names += [f"{kind}__{self.metric_block}__{t}__{i}" for i in range(k)]
            if t in self.bilinear_:
                names += [
                    f"bilinear__{self.metric_block}__{t}__{i}"
                    for i in range(self.bilinear_[t][0].n_components)
                ]
        return names

    def _text_pairs(self):
        present = set(self.blocks_)
        pairs = [
            ("user_prompt", "response"),
            ("system_prompt", "response"),
            ("system_prompt", "user_prompt"),
        ]
        return [
            (a, b)
            for a, b in pairs
            if a in present and b in present and len(self.blocks_[a]) == len(self.blocks_[b])
        ]

    def _non_embedding_positions(self):
        in_block = np.zeros(len(self.feature_names_in_), dtype=bool)
        for pos in self.blocks_.values():
            in_block[pos] = True
        return np.flatnonzero(~in_block)

    def _input_names(self, X):
        if self.feature_names is not None:
            names = list(self.feature_names)
        elif isinstance(X, pd.DataFrame):
            names = [str(c) for c in X.columns]
        else:
            raise ValueError(
                "InteractionFeatures needs column names to find the embedding blocks: pass a "
                "DataFrame (set_output(transform='pandas') on the featurizer) or feature_names="
            )
        if len(names) != X.shape[1]:
            raise ValueError(f"feature_names has {len(names)} names but X has {X.shape[1]} columns")
        return names

    @staticmethod
    def _array(X):
        # float64 throughout: in float32 a row's projections can differ in the last bit
        # depending on the row's position in the batch (BLAS kernels block rows).
        A = (
            X.to_numpy(dtype=np.float64)
            if isinstance(X, pd.DataFrame)
            else np.asarray(X, dtype=np.float64)
        )
        if not np.isfinite(A).all():
            raise ValueError("InteractionFeatures: input contains NaN or infinity")
        return A
