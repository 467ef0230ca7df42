"""Which metric does a conversation look written for? A supervised metric-match feature."""

from __future__ import annotations

import hashlib
import numbers
import warnings

import joblib
import numpy as np
import pandas as pd
from scipy import linalg, sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GroupKFold
from sklearn.preprocessing import normalize
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.validation import check_is_fitted

from .._groups import table_groups
from .._schema import text_values
from ..augment import conversation_groups, metric_family
from ..data import TEXT_COLUMNS
from ._memory import recent_result

__all__ = ["MetricMatchFeatures"]

_NAMES = {
    "probability": (
        "match_p__metric",
        "match_logp__metric",
        "match_rank__metric",
        "match_p__family",
        "match_top_p",
    ),
    "relative": (
        "match_ratio__metric",
        "match_z__metric",
        "match_margin__metric",
        "match_rank__metric",
        "match_ratio__family",
    ),
}


def _texts_digest(unique_texts):
    """A content key of ``unique_texts`` (their order included)."""
    digest = hashlib.sha256()
    for text in unique_texts:
        encoded = text.encode("utf-8", "surrogatepass")  # lone surrogates, as _shards does
        digest.update(len(encoded).to_bytes(8, "little") + encoded)
    return digest.hexdigest()


def _fit_tfidf(unique_texts, max_features, digest):
    """A TF-IDF vectorizer fitted on ``unique_texts`` and their matrix.

    Word 1-2 grams seen in 2+ conversations, as usual; on tiny or word-less data (one
    conversation, emoji only) no word qualifies, so any word, then any character n-gram.

    The stack's bases hold metric-match members that differ only in how they cross-fit, what
    they output and how they pool rows (the default has three); on the same rows they would
    fit this same vocabulary, the costliest part of their fit, so the result is kept by
    content for the next one (``_memory.recent_result``) and shared: nothing modifies it.
    ``digest``: :func:`_texts_digest` of ``unique_texts``.
    """
    return recent_result(
        "metric-match tf-idf",
        (digest, max_features),
        lambda: _fit_tfidf_now(unique_texts, max_features),
    )


def _fit_tfidf_now(unique_texts, max_features):
    for kw in ({"min_df": 2}, {"min_df": 1}, {"min_df": 1, "analyzer": "char_wb"}):
        vectorizer = TfidfVectorizer(
            ngram_range=(1, 2),
            max_features=max_features,
            sublinear_tf=True,
            dtype=np.float32,
            **kw,
        )
        try:
            Z = vectorizer.fit_transform(unique_texts)
            break
        except ValueError:  # "empty vocabulary"
            continue
    else:
        raise ValueError(
            f"MetricMatchFeatures: the {len(unique_texts)} distinct conversation texts hold no "
            "word or character to learn a vocabulary from (all empty?)"
        )
    # fit_transform leaves each row's column indices unsorted, transform sorts them: sorted,
    # sums over a row run in the same order as for rows transformed later (same bits).
    Z.sort_indices()
    return vectorizer, Z


def _cells(labels, pools):
    """The distinct (class, cluster) pairs, one per row, and each row's index among them."""
    cells, cell_of = np.unique(np.column_stack([labels, pools]), axis=0, return_inverse=True)
    return cells, np.asarray(cell_of).ravel()  # ravel: the inverse's shape varied across numpy 2.x


def pooled_centroids(Z, labels, weight, pools, n_classes):
    """Unit centroid per class, pooled by phrasing cluster (``pooling="phrasing"``).

    The score-weighted sum of each (class, cluster) cell's rows, unit-normalised; per class,
    the mean of its cells, each column scaled by the share of the class's cells where it is
    non-zero; unit-normalised. A class without rows gets a zero row.
    """
    n_rows = Z.shape[0]
    centroids = np.zeros((n_classes, Z.shape[1]), dtype=np.float64)
    if n_rows == 0:
        return centroids
    cells, cell_of = _cells(labels, pools)
    pool = sparse.csr_matrix((weight, (cell_of, np.arange(n_rows))), shape=(len(cells), n_rows))
    per_cell = normalize(sparse.csr_matrix(pool @ Z, dtype=np.float64))
    used = per_cell.copy()
    used.data = (used.data != 0).astype(np.float64)
    cls = cells[:, 0]
    share = 1.0 / np.bincount(cls)[cls]  # each cell's share of its class
    mean = sparse.csr_matrix((share, (cls, np.arange(len(cells)))), shape=(n_classes, len(cells)))
    centroids[:] = (mean @ per_cell).multiply(mean @ used).toarray()
    return normalize(centroids)


#: Above this many distinct conversations the ridge classifier's exact solve (an n x n
#: Gram matrix, 1.6 GB at this size) is not used: it solves the d x d primal system when the
#: vocabulary is that small, else iterates (conjugate gradient on the sparse matrix): slower,
#: same minimum.
RIDGE_EXACT_MAX = 20_000

#: A Gram matrix up to this size is kept after a fit for the next metric-match member on the
#: same rows (8,192 conversations in float32); a larger one is freed with its fit.
GRAM_KEEP_MAX_BYTES = 256 << 20


def gram_matrix(Z):
    """``Z @ Z.T`` as a dense array of ``Z``'s dtype: the conversations' TF-IDF inner products."""
    return safe_sparse_dot(Z, Z.T, dense_output=True)


def _ridge_targets(labels, weight, n_classes, rows):
    """Rows of one conversation as one: its index in ``rows``'s values, summed weight, and
    the weighted mean of its rows' one-hot targets. Rows of weight 0 teach nothing and are
    left out (a conversation with no other row is not among those returned)."""
    keep = weight > 0
    labels, weight, rows = labels[keep], weight[keep], rows[keep]
    conv, of_row = np.unique(rows, return_inverse=True)
    of_row = np.asarray(of_row).ravel()  # the inverse's shape varied across numpy 2.x
    total = np.bincount(of_row, weights=weight, minlength=len(conv))
    Y = np.zeros((len(conv), n_classes), dtype=np.float64)
    np.add.at(Y, (of_row, labels), weight)
    Y /= total[:, None]
    return conv, total, Y


def ridge_dual_coef(K, rows, labels, weight, n_classes, alpha):
    """The weighted one-vs-rest ridge of :func:`ridge_class_weights`, in the dual, on a Gram
    matrix computed beforehand.

    ``K`` is the Gram matrix of the distinct conversations (:func:`gram_matrix`) and ``rows``
    each training row's conversation (an index into ``K``). Returns ``(conv, coef)``: the
    conversations solved for and ``coef`` such that the scores of conversation ``j`` are
    ``K[j, conv] @ coef`` and the weight vectors ``(Z[conv].T @ coef).T``.

    The same arithmetic as scikit-learn's ``Ridge(solver="cholesky")`` in the dual (float32
    Gram scaled by the square-root weights, ``alpha`` on the diagonal, one positive-definite
    solve for all classes). Written here because ``Ridge`` computes the Gram matrix in each
    fit, which took as long as the solve, while the cross-fitting folds' Gram matrices are
    blocks of one (and the stack's two metric-match members share it); the held-out rows'
    scores are blocks of it too.
    """
    conv, total, Y = _ridge_targets(labels, weight, n_classes, rows)
    d = np.sqrt(total).astype(K.dtype)
    A = K[np.ix_(conv, conv)]  # a copy, scaled in place
    A *= d[:, None]
    A *= d[None, :]
    A.flat[:: len(conv) + 1] += alpha
    B = (Y * d[:, None]).astype(K.dtype)
    try:
        C = linalg.solve(A, B, assume_a="pos", check_finite=False)
    except linalg.LinAlgError:  # as Ridge does: alpha too small for float32
        warnings.warn(
            "MetricMatchFeatures: singular ridge system (alpha too small?); using the "
            "least-squares solution instead",
            stacklevel=3,
        )
        C = linalg.lstsq(A, B, check_finite=False)[0]
    return conv, C * d[:, None]


def ridge_class_weights(Z, labels, weight, n_classes, alpha, rows=None):
    """Per-class weight vectors of a one-vs-rest ridge regression on one-hot targets.

    Minimises ``sum_i w_i ||onehot(label_i) - W z_i||^2 + alpha ||W||^2`` (no intercept: the
    targets are 0/1 and rare, so shrinking towards 0 is shrinking towards the base rate).
    One solve serves every class: in the dual (:func:`ridge_dual_coef`, an n x n system) up
    to :data:`RIDGE_EXACT_MAX` distinct conversations; past that scikit-learn's ``Ridge``
    (the d x d primal system when the vocabulary is small enough, else sparse conjugate
    gradient). ``RidgeClassifier``, which centres the sparse matrix and iterates per class,
    took 12 s per fit at judgebench-dev's size against 1. Returns a dense
    ``(n_classes, n_columns)`` float32 array.

    ``rows``: which rows are one conversation (equal rows of ``Z``). The negative sampler
    repeats each conversation under several metrics, and rows sharing ``z`` enter the loss as
    one row of weight ``sum w_i`` and target ``sum w_i onehot_i / sum w_i``, the same
    minimum up to a constant; the solve is cubic in the rows, so this is where the time goes.
    """
    n_rows, n_cols = Z.shape
    if n_rows == 0:
        return np.zeros((n_classes, n_cols), dtype=np.float32)
    if rows is None:
        rows = np.arange(n_rows)
    _, first, of_row = np.unique(rows, return_index=True, return_inverse=True)
    of_row = np.asarray(of_row).ravel()
    Z = Z[first]
    if len(first) <= RIDGE_EXACT_MAX:
        conv, coef = ridge_dual_coef(gram_matrix(Z), of_row, labels, weight, n_classes, alpha)
        return np.asarray(safe_sparse_dot(Z[conv].T, coef, dense_output=True).T, dtype=np.float32)
    conv, total, Y = _ridge_targets(labels, weight, n_classes, of_row)
    if len(conv) == 0:
        return np.zeros((n_classes, n_cols), dtype=np.float32)
    solver = "cholesky" if n_cols <= RIDGE_EXACT_MAX else "sparse_cg"
    model = Ridge(alpha=alpha, fit_intercept=False, solver=solver)
    model.fit(Z[conv], Y, sample_weight=total)
    return np.asarray(model.coef_, dtype=np.float32).reshape(n_classes, n_cols)


def _primal(model, Z_unique):
    """A ``"dual"`` ridge model as its ``("linear", weights)``, which new texts need; other
    models as they are. ``Z_unique``: the TF-IDF rows its conversations index."""
    if model[0] != "dual":
        return model
    _, _, conv, coef = model
    W = safe_sparse_dot(Z_unique[conv].T, coef, dense_output=True).T
    return ("linear", np.ascontiguousarray(W, dtype=np.float32))


def cell_balanced_weights(labels, pools, weight):
    """Row weights rescaled so every (class, cluster) cell has the same total, the mean one.

    ``pooling="phrasing"`` for the logistic classifier: each phrasing cluster of a metric
    counts once, as for the centroids, and the total weight (which the regularisation is
    measured against) is unchanged.
    """
    if len(weight) == 0:
        return weight
    _, cell_of = _cells(labels, pools)
    totals = np.bincount(cell_of, weights=weight)
    return weight / totals[cell_of] * (weight.sum() / len(totals))


class MetricMatchFeatures(TransformerMixin, BaseEstimator):
    """How strongly a conversation's words point at the row's metric, learned from the scores.

    A classifier over word n-gram TF-IDF of the conversation (system prompt, prompt, response)
    learns ``P(metric | conversation)``. Its training rows are weighted by how well the metric
    fits, read from the label: ``clip((score - min_score) / (10 - min_score), 0, 1)``, so real
    rows (scores 9-10) teach which metric a conversation was written for and low-scored swaps
    teach nothing. Features per row (``output="probability"``): the probability of the row's
    own metric, its log, its rank among all metrics, the probability of its family, and the top
    probability (confidence). With ``output="relative"`` they are measured against the
    conversation's own scores for all metrics instead (see ``output``).

    The judge scores a metric low on a conversation that is about something else; this model
    says, from the words, whether the conversation is about the row's metric, which sentence
    embeddings of short metric names capture only weakly.

    ``fit_transform`` returns *cross-fitted* features (each row scored by a model fitted on
    the other conversations, folds grouped by ``crossfit``), like
    :class:`~sklearn.preprocessing.TargetEncoder`; otherwise the booster downstream would learn
    from probabilities the classifier had memorised. ``transform`` uses the model fitted on
    all rows.

    Parameters
    ----------
    text_columns : tuple of str, default=("system_prompt", "user_prompt", "response")
    classifier : {"centroid", "logistic", "ridge"}, default="centroid"
        Cosine to the score-weighted TF-IDF centroid of each metric, with a softmax over
        metrics; a multinomial logistic regression; or a ridge regression of each metric's
        one-hot indicator on the TF-IDF (one exact solve for all metrics, scores clipped at 0
        and then treated as the cosines are). A centroid weighs every word its metric's rows
        use; the ridge weighs the words that tell a metric from the others, which is what
        separates metrics whose conversations share most of their words. On judgebench-dev
        the centroid took 12 s against ~15 min for the logistic regression and gave nearly the
        same test RMSE (1.83 vs 1.81), hence the default here. The ridge solves in the dual
        on one Gram matrix of the distinct conversations, whose blocks serve the
        cross-fitting folds (:func:`ridge_dual_coef`); at full size (a stack fold's 4,000
        conversations, 2 cores) a solve takes about 0.4 s, and the stack's two phrasing-pooled
        members, which share the Gram matrix and the model fitted on all rows, 11 solves in
        5.5 s per fit (11.3 s with scikit-learn's ``Ridge``, which computes the Gram matrix in
        each fit); the rows-pooled member of ``lightgbm_rows`` shares the Gram matrix only.
    C : float, default=10.0
        Inverse regularisation of the logistic regression.
    alpha : float, default=1.0
        Regularisation of the ridge classifier (scikit-learn's ``Ridge`` default).
    max_features : int, default=50000
        TF-IDF vocabulary size (word 1-2 grams).
    min_score : float, default=5.0
        Labels at or below this teach nothing (weight 0).
    n_splits : int, default=5
        Folds of the cross-fitting in ``fit_transform``.
    max_iter : int, default=200
        Iterations of the logistic regression solver.
    output : {"probability", "relative"}, default="probability"
        ``"relative"`` describes the row's metric only against the same conversation's scores
        for the other metrics (cosine to each centroid, or the logistic regression's
        probability): its score over the top score (``match_ratio__metric``), its z-score
        among all metrics, its margin over the best other metric divided by the top score, its
        rank, and the best score of its family over the top score. New phrasing shares fewer
        words with every centroid, which lowers all of a conversation's cosines together and
        flattens the softmax: on judgebench-dev, for matched test rows of phrasing no training
        row shared, the median probability of the own metric fell from 0.32 (seen phrasing)
        to 0.18, and to 0.08 with the metric names' words taken out, while the median ratio
        stayed at 1.00, 1.00 and 0.91, with a matched/mismatched AUC close to the
        probability's (0.94 / 0.89 / 0.84 against 0.94 / 0.89 / 0.85;
        ``benchmarks/bench_match_drift.py``). Ratios are unchanged when all scores shrink by
        one factor, so a booster's thresholds on them still hold.
    crossfit : {"conversation", "phrasing"}, default="conversation"
        How the cross-fitting folds are grouped. With ``"phrasing"`` a row is scored by a
        model that saw no conversation phrased like it (clusters of
        :func:`gbscore.model_selection.phrasing_groups`), so the booster learns how far to
        trust these features on new phrasing instead of on near-copies of training texts.
    pooling : {"rows", "phrasing"}, default="rows"
        How the centroid classifier pools a metric's rows. ``"rows"``: the score-weighted sum
        of its rows' TF-IDF vectors, so a phrasing (template) many of its training rows share
        dominates the centroid with its own words. ``"phrasing"``: the rows are first pooled
        per cluster of similar phrasing (:func:`gbscore.model_selection.phrasing_groups`, as
        for ``crossfit="phrasing"``) into unit vectors; the metric's centroid is their mean,
        each word scaled by the share of the metric's clusters that use it. A word every
        phrasing of the metric uses (its topic) then outweighs a word of one phrasing, which a
        conversation phrased anew will not share. On judgebench-dev, for test rows of phrasing
        no training row shared, the matched/mismatched AUC of ``match_ratio__metric`` rose
        from 0.891 / 0.917 / 0.906 to 0.912 / 0.928 / 0.917 (three held-out draws), and with
        the metric names' words taken out from 0.837 / 0.869 / 0.865 to 0.861 / 0.882 / 0.873;
        on seen phrasing it moved by under 0.01 either way. With ``classifier="logistic"``
        the rows are reweighted instead, so that each (metric, cluster) cell carries the same
        total weight. The clusters are found on the texts of all rows given to ``fit``
        (no labels), and each cross-fitting fold pools its own training rows by them.
        The pipelines :func:`gbscore.build_pipeline` makes use ``"phrasing"`` (except the
        default stack's ``lightgbm_rows`` base, which sets ``"rows"`` so the meta-learner has
        both): on tests of new phrasing it lowered the stack's RMSE, as it did the
        phrasing-fold CV (README).
        With ``classifier="ridge"`` (those pipelines' choice too) the rows are reweighted
        as for the logistic regression.
    """

    #: Class-level defaults, so that models saved before these parameters existed still load
    #: (they were fitted with rows pooling, and had no ridge classifier to regularise).
    pooling = "rows"
    alpha = 1.0

    _parameter_constraints: dict = {
        "text_columns": [tuple, list],
        "classifier": [StrOptions({"logistic", "centroid", "ridge"})],
        "C": [Interval(numbers.Real, 0, None, closed="neither")],
        "alpha": [Interval(numbers.Real, 0, None, closed="neither")],
        "max_features": [Interval(numbers.Integral, 10, None, closed="left")],
        "min_score": [Interval(numbers.Real, 0, 10, closed="left")],
        "n_splits": [Interval(numbers.Integral, 2, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "crossfit": [StrOptions({"conversation", "phrasing"})],
        "pooling": [StrOptions({"rows", "phrasing"})],
        "output": [StrOptions(set(_NAMES))],
    }

    def __init__(
        self,
        *,
        text_columns=TEXT_COLUMNS,
        classifier="centroid",
        C=10.0,
        alpha=1.0,
        max_features=50_000,
        min_score=5.0,
        n_splits=5,
        max_iter=200,
        crossfit="conversation",
        output="probability",
        pooling="rows",
    ):
        self.text_columns = text_columns
        self.classifier = classifier
        self.C = C
        self.alpha = alpha
        self.max_features = max_features
        self.min_score = min_score
        self.n_splits = n_splits
        self.max_iter = max_iter
        self.crossfit = crossfit
        self.output = output
        self.pooling = pooling

    def fit(self, X, y):
        self._fit(X, y)
        return self

    def fit_transform(self, X, y=None, **fit_params):
        Z, names, weight, groups, pools, codes, gram = self._fit(X, y)
        own = self._own_index(X)
        out = np.zeros((len(X), len(_NAMES[self.output])), dtype=np.float32)
        n_splits = min(self.n_splits, len(np.unique(groups)))
        if n_splits < 2:
            return self._features(self._proba(self.model_, Z), own)
        for train, test in GroupKFold(n_splits=n_splits).split(Z, groups=groups):
            fold_pools = None if pools is None else pools[train]
            model = self._fit_classifier(
                Z[train], names[train], weight[train], fold_pools, codes[train], gram
            )
            out[test] = self._features(self._proba(model, Z[test], codes[test]), own[test])
        return out

    def transform(self, X):
        check_is_fitted(self, "model_")
        self._check_table(X)
        codes, unique = pd.factorize(self._texts(X))
        Z = self.vectorizer_.transform(unique)[codes]
        return self._features(self._proba(self.model_, Z), self._own_index(X))

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "model_")
        return np.asarray(_NAMES[self.output], dtype=object)

    # -- internals ----------------------------------------------------------------------

    def _fit(self, X, y):
        self._validate_params()
        self._check_table(X)
        if y is None:
            raise ValueError("MetricMatchFeatures learns from the scores: fit needs y")
        y = np.asarray(y, dtype=np.float64)
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
        self.metrics_ = np.array(sorted(set(X["metric_name"])), dtype=object)
        self.families_ = np.array([metric_family(m) for m in self.metrics_], dtype=object)
        # A conversation is vectorized once, not once per augmented copy (the sampler
        # repeats each conversation under several metrics).
        codes, unique = pd.factorize(self._texts(X))
        digest = _texts_digest(unique)
        self.vectorizer_, Z_unique = _fit_tfidf(unique, self.max_features, digest)
        Z = Z_unique[codes]
        names = self._own_index(X)
        weight = np.clip((y - self.min_score) / (10.0 - self.min_score), 0.0, 1.0)
        phrasing = None
        if self.pooling == "phrasing" or self.crossfit == "phrasing":
            phrasing = table_groups(X, "phrasing", n_splits=self.n_splits)
        pools = phrasing if self.pooling == "phrasing" else None
        gram = None
        if self.classifier == "ridge" and len(unique) <= RIDGE_EXACT_MAX:
            # The Gram matrix of every distinct conversation (those of weight 0 included: the
            # cross-fitting folds score them). Computed when first needed; every fold solves
            # on a block of it. Up to GRAM_KEEP_MAX_BYTES it is kept for the next member on
            # the same rows (one per process: 64 MB for a stack fold of judgebench-dev);
            # larger, it lives only as long as this fit.
            keep_after = len(unique) ** 2 * Z_unique.dtype.itemsize <= GRAM_KEEP_MAX_BYTES
            held = {}

            def gram():
                if "K" not in held:
                    held["K"] = (
                        recent_result(
                            "metric-match gram",
                            (digest, self.max_features),
                            lambda: gram_matrix(Z_unique),
                            keep=1,
                        )
                        if keep_after
                        else gram_matrix(Z_unique)
                    )
                return held["K"]

        # The stack's phrasing-pooled metric-match members differ in how they cross-fit and
        # what they output, not in the model fitted on all rows: on the same rows the next one
        # reuses it, as it does the vocabulary. The key is the content of everything the fit
        # reads, pooling included (``pools``), so the rows-pooled member fits its own.
        key = joblib.hash(
            (
                digest,
                self.max_features,
                codes,
                names,
                weight,
                pools,
                self.metrics_,
                self.classifier,
                self.alpha,
                self.C,
                self.max_iter,
                gram is None,
            )
        )
        self.model_ = recent_result(
            "metric-match classifier",
            key,
            lambda: _primal(self._fit_classifier(Z, names, weight, pools, codes, gram), Z_unique),
            keep=1,
        )
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        groups = phrasing if self.crossfit == "phrasing" else conversation_groups(X)
        return Z, names, weight, groups, pools, codes, gram

    def _fit_classifier(self, Z, labels, weight, pools=None, rows=None, gram=None):
        """The fitted classifier: ``("centroid", unit centroids)``, ``("linear", ridge
        weights)``, ``("logistic", model)``, or with a ``gram`` matrix of the distinct
        conversations (a function returning it) ``("dual", gram, conversations, coef)``
        (:func:`ridge_dual_coef`). ``pools``: each row's phrasing cluster, for
        ``pooling="phrasing"``; ``rows``: each row's distinct conversation (an index into
        the Gram matrix)."""
        keep = weight > 0
        Z, labels, weight = Z[keep], labels[keep], weight[keep]
        n_classes = len(self.metrics_)
        if pools is not None and self.classifier == "centroid":
            return ("centroid", pooled_centroids(Z, labels, weight, pools[keep], n_classes))
        if pools is not None:
            weight = cell_balanced_weights(labels, pools[keep], weight)
        if self.classifier == "ridge" and gram is not None:
            K = gram()
            conv, coef = ridge_dual_coef(K, rows[keep], labels, weight, n_classes, self.alpha)
            return ("dual", K, conv, coef)
        if self.classifier == "ridge":
            rows = None if rows is None else rows[keep]
            W = ridge_class_weights(Z, labels, weight, n_classes, self.alpha, rows)
            return ("linear", W)
        if self.classifier == "centroid" or len(np.unique(labels)) < 2:
            centroids = np.zeros((n_classes, Z.shape[1]), dtype=np.float64)
            for k in np.unique(labels):
                m = labels == k
                centroids[k] = np.asarray(Z[m].multiply(weight[m][:, None]).sum(axis=0)).ravel()
            return ("centroid", normalize(centroids))
        lr = LogisticRegression(C=self.C, max_iter=self.max_iter)
        lr.fit(Z, labels, sample_weight=weight)
        return ("logistic", lr)

    def _proba(self, model, Z, rows=None):
        """Per-row scores over all metrics: probabilities (``output="probability"``, or the
        logistic regression), or the cosines to the centroids / the ridge scores
        (``"relative"``). ``rows``: each row's conversation, for a ``"dual"`` model."""
        kind, m = model[0], model[-1]
        if kind == "logistic":
            P = np.zeros((Z.shape[0], len(self.metrics_)))
            P[:, m.classes_] = m.predict_proba(Z)
            return P
        if kind == "dual":
            _, gram, conv, coef = model
            conversations, of_row = np.unique(rows, return_inverse=True)
            S = (gram[np.ix_(conversations, conv)] @ coef)[np.asarray(of_row).ravel()]
            S = S.astype(np.float64)
        else:
            S = np.asarray(Z @ m.T, dtype=np.float64)
        if kind in ("linear", "dual"):
            # A ridge score below 0 says "not this metric" as surely as 0 does, and the
            # relative features divide by the top score: clipped, they stay in the cosines'
            # range and meaning.
            np.maximum(S, 0.0, out=S)
        if self.output == "relative":
            return S
        # softmax over cosine to each centroid; the temperature turns cosines (~0-0.5)
        # into usable probabilities
        S *= 20.0
        S -= S.max(axis=1, keepdims=True)
        P = np.exp(S)
        P /= P.sum(axis=1, keepdims=True)
        return P

    def _features(self, P, own):
        n = len(own)
        known = own >= 0
        rows = np.arange(n)
        p = np.where(known, P[rows, np.maximum(own, 0)], 0.0)
        # A metric the fit never saw ranks last (its probability is 0; with cosines,
        # counting the metrics above 0 would make its rank depend on the text).
        rank = np.where(known, (P > p[:, None]).sum(axis=1) / max(P.shape[1], 1), 1.0)
        fam_idx = pd.factorize(self.families_)[0]
        if self.output == "relative":
            top = np.maximum(P.max(axis=1), 1e-12)
            others = P.copy()
            others[rows[known], own[known]] = -np.inf
            best_other = others.max(axis=1) if P.shape[1] > 1 else np.zeros(n)
            z = (p - P.mean(axis=1)) / np.maximum(P.std(axis=1), 1e-12)
            fam_best = np.full((n, fam_idx.max() + 1), -np.inf)
            np.maximum.at(fam_best.T, fam_idx, P.T)
            s_fam = np.where(known, fam_best[rows, fam_idx[np.maximum(own, 0)]], 0.0)
            margin = np.where(known, (p - best_other) / top, 0.0)
            z = np.where(known, z, 0.0)
            return np.column_stack([p / top, z, margin, rank, s_fam / top]).astype(np.float32)
        famP = np.zeros((n, fam_idx.max() + 1))
        np.add.at(famP.T, fam_idx, P.T)
        p_fam = np.where(known, famP[rows, fam_idx[np.maximum(own, 0)]], 0.0)
        return np.column_stack([p, np.log(p + 1e-6), rank, p_fam, P.max(axis=1)]).astype(np.float32)

    def _own_index(self, X):
        return pd.Index(self.metrics_).get_indexer(X["metric_name"])

    def _texts(self, X):
        # A join over zipped columns: DataFrame.agg(axis=1) calls Python per row through
        # pandas and took a second per call at full size.
        cols = [text_values(X, c).tolist() for c in self.text_columns]
        if not cols:
            return np.full(len(X), "", dtype=object)
        return np.array([" \n ".join(parts) for parts in zip(*cols, strict=True)], dtype=object)

    def _check_table(self, X):
        if not isinstance(X, pd.DataFrame):
            raise ValueError(
                f"MetricMatchFeatures expects the tidy table as a DataFrame, got {type(X).__name__}"
            )
        missing = [c for c in ["metric_name", *self.text_columns] if c not in X.columns]
        if missing:
            raise ValueError(f"MetricMatchFeatures: X lacks the columns {missing}")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.target_tags.required = True
        return tags
