import numpy as np
import pandas as pd
import pytest

from gbscore.features import MetricMatchFeatures

TOPICS = {
    "toxicity/explicit": "insult slur abusive hateful language toxic words",
    "privacy/pii": "phone number address aadhaar personal data private details",
    "jailbreak": "ignore previous instructions roleplay pretend bypass rules",
    "fluency/grammar": "grammar sentence spelling punctuation fluent phrasing",
}


def table(n_per=30, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for metric, words in TOPICS.items():
        vocab = words.split()
        for i in range(n_per):
            text = " ".join(rng.choice(vocab, size=8)) + f" filler{i % 5} common words here"
            rows.append(
                {
                    "metric_name": metric,
                    "system_prompt": "",
                    "user_prompt": f"q {i}",
                    "response": text,
                }
            )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("classifier", ["centroid", "logistic", "ridge"])
def test_own_metric_scores_higher_than_a_swapped_one(classifier):
    X = table()
    y = np.full(len(X), 9.0)
    mm = MetricMatchFeatures(classifier=classifier, n_splits=3).fit(X, y)
    swapped = X.copy()
    swapped["metric_name"] = np.roll(
        X["metric_name"].to_numpy(), 30
    )  # every row gets another topic's metric
    own = mm.transform(X)[:, 0]
    other = mm.transform(swapped)[:, 0]
    assert (own > other).mean() > 0.95
    names = list(mm.get_feature_names_out())
    assert names[0] == "match_p__metric" and len(names) == mm.transform(X).shape[1]


def test_fit_transform_is_cross_fitted():
    """In-sample probabilities would be near-certain; cross-fitted ones come from models that
    never saw the row's conversation, so they differ from transform() after fit."""
    X = table()
    y = np.full(len(X), 9.0)
    mm = MetricMatchFeatures(n_splits=4)
    crossed = mm.fit_transform(X, y)
    in_sample = mm.transform(X)
    assert crossed.shape == in_sample.shape == (len(X), 5)
    assert not np.allclose(crossed, in_sample)


def test_low_scores_teach_nothing():
    X = table()
    y = np.full(len(X), 9.0)
    # the same texts labelled as fitting another metric, but with a low score: no effect
    noise = X.copy()
    noise["metric_name"] = np.roll(X["metric_name"].to_numpy(), 30)
    both = pd.concat([X, noise], ignore_index=True)
    a = MetricMatchFeatures().fit(X, y).transform(X)
    b = MetricMatchFeatures().fit(both, np.r_[y, np.full(len(X), 1.0)]).transform(X)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_unknown_metric_gets_zero_probability():
    X = table()
    mm = MetricMatchFeatures().fit(X, np.full(len(X), 9.0))
    Z = X.iloc[:3].assign(metric_name="never_seen")
    out = mm.transform(Z)
    assert (out[:, 0] == 0).all() and (out[:, 2] > 0).all()


def test_needs_y_and_columns():
    X = table()
    with pytest.raises(ValueError, match="needs y"):
        MetricMatchFeatures().fit(X, None)
    with pytest.raises(ValueError, match=r"lacks the columns \['response'\]"):
        MetricMatchFeatures().fit(X.drop(columns="response"), np.ones(len(X)))


def joined_texts(X):
    """Each row's conversation as MetricMatchFeatures reads it, written out here."""
    cols = X[["system_prompt", "user_prompt", "response"]].values
    return np.array([" \n ".join(r) for r in cols], dtype=object)


def augmented(X, copies=3, seed=0):
    """Each conversation repeated under other metrics, as the negative sampler does."""
    rng = np.random.default_rng(seed)
    metrics = X["metric_name"].unique()
    parts = [X]
    for _ in range(copies - 1):
        swap = X.copy()
        swap["metric_name"] = rng.choice(metrics, size=len(X))
        parts.append(swap)
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("classifier", ["centroid", "logistic", "ridge"])
def test_repeated_conversations_are_scored_as_if_vectorized_one_by_one(classifier):
    """Each distinct conversation is vectorized once and its row repeated: transform of the
    whole table equals transform of each row alone, and the TF-IDF matrix is, to the bit,
    scikit-learn's fitted on the distinct texts and then applied to every row."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from gbscore.features import _match

    X = augmented(table(n_per=12))
    y = np.where(np.arange(len(X)) < len(X) // 3, 9.0, 2.0)
    mm = MetricMatchFeatures(n_splits=3, classifier=classifier).fit(X, y)
    whole = mm.transform(X)
    one_by_one = np.vstack([mm.transform(X.iloc[[i]]) for i in range(0, len(X), 7)])
    np.testing.assert_array_equal(whole[::7], one_by_one)

    unique = pd.unique(joined_texts(X))
    reference = TfidfVectorizer(
        ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=50_000, dtype=np.float32
    ).fit(unique)
    vectorizer, Z = _match._fit_tfidf(unique, 50_000, _match._texts_digest(unique))
    assert vectorizer.vocabulary_ == reference.vocabulary_
    expected = reference.transform(unique)
    assert Z.has_sorted_indices
    np.testing.assert_array_equal(Z.indptr, expected.indptr)
    np.testing.assert_array_equal(Z.indices, expected.indices)
    np.testing.assert_array_equal(Z.data, expected.data)


def test_text_without_any_word_or_character_is_a_clear_error():
    X = table(n_per=3)
    X[["system_prompt", "user_prompt", "response"]] = ""
    with pytest.raises(ValueError, match="no word or character"):
        MetricMatchFeatures(n_splits=2).fit(X, np.full(len(X), 9.0))


def test_members_differing_only_in_crossfit_share_one_vocabulary():
    """Two metric-match members on the same rows (the stack's two groupings) fit the TF-IDF
    once; other rows get their own vocabulary, not the remembered one."""
    X = augmented(table(n_per=12))
    y = np.where(np.arange(len(X)) < len(X) // 3, 9.0, 2.0)
    from gbscore.features import cache_info, clear_caches

    clear_caches()
    a = MetricMatchFeatures(n_splits=3).fit(X, y)
    b = MetricMatchFeatures(n_splits=3, crossfit="phrasing").fit(X, y)
    assert a.vectorizer_ is b.vectorizer_
    assert cache_info()["recent"] == {"metric-match classifier": 1, "metric-match tf-idf": 1}
    clear_caches()  # the process caches' one owner forgets it too
    assert cache_info()["recent"] == {}
    assert MetricMatchFeatures(n_splits=3).fit(X, y).vectorizer_ is not a.vectorizer_
    other = X.copy()
    other["response"] = other["response"] + " extra tokens"
    c = MetricMatchFeatures(n_splits=3).fit(other, y)
    assert c.vectorizer_ is not a.vectorizer_
    assert "extra tokens" in c.vectorizer_.vocabulary_
    assert "extra tokens" not in a.vectorizer_.vocabulary_


@pytest.mark.parametrize("classifier", ["centroid", "ridge"])
def test_members_differing_in_crossfit_and_output_share_the_model_fitted_on_all_rows(classifier):
    """The default stack's two metric-match members (conversation folds with probabilities,
    phrasing folds with relative features) fit the same model on all rows: the second reuses
    the first's, which equals a fit of its own; a change to anything that fit reads does not."""
    from gbscore.features import clear_caches

    X = augmented(table(n_per=12))
    y = np.where(np.arange(len(X)) < len(X) // 3, 9.0, 2.0)
    kw = {"n_splits": 3, "classifier": classifier, "pooling": "phrasing"}
    clear_caches()
    a = MetricMatchFeatures(**kw).fit(X, y)
    b = MetricMatchFeatures(**kw, crossfit="phrasing", output="relative").fit(X, y)
    assert b.model_ is a.model_
    clear_caches()
    alone = MetricMatchFeatures(**kw, crossfit="phrasing", output="relative").fit(X, y)
    assert alone.model_ is not a.model_
    assert alone.model_[0] == a.model_[0]
    np.testing.assert_array_equal(alone.model_[1], a.model_[1])
    np.testing.assert_array_equal(alone.transform(X), b.transform(X))

    # Each change to what the fit reads, fitted right after the unchanged member (so the
    # caches hold its vocabulary, Gram matrix and model): a model of its own, equal to the
    # one it gets with nothing cached, and (where the change matters) another model.
    y2 = y.copy()
    y2[0] = 10.0 if y[0] < 9.5 else 6.0  # one label, so one weight, changes
    renamed = X.replace({"metric_name": {"jailbreak": "jailbreak/roleplay"}})
    variants = {
        "one label": ({}, X, y2, True),
        "rows pooling": ({"pooling": "rows"}, X, y, True),
        "alpha": ({"alpha": 0.3}, X, y, classifier == "ridge"),
        # scales every weight (labels are 9 or 2): the ridge's balance with alpha changes,
        # unit centroids do not
        "min_score": ({"min_score": 7.0}, X, y, classifier == "ridge"),
        "max_features": ({"max_features": 20}, X, y, True),
        "text_columns": ({"text_columns": ("response",)}, X, y, True),
        "a metric renamed": ({}, renamed, y, False),  # same vectors, other names
    }
    for what, (change, data, target, differs) in variants.items():
        clear_caches()
        base = MetricMatchFeatures(**kw).fit(X, y)
        other = MetricMatchFeatures(**{**kw, **change}).fit(data, target)
        assert other.model_ is not base.model_, what
        clear_caches()
        fresh = MetricMatchFeatures(**{**kw, **change}).fit(data, target)
        np.testing.assert_array_equal(other.model_[1], fresh.model_[1], err_msg=what)
        if differs:
            W, W0 = other.model_[1], base.model_[1]
            assert W.shape != W0.shape or np.abs(W - W0).max() > 1e-3, what
    assert list(other.metrics_) != list(base.metrics_)


@pytest.mark.parametrize("pooling", ["rows", "phrasing"])
def test_ridge_model_fitted_on_all_rows_matches_scikit_learn(pooling):
    """The model ``transform`` uses (dual solve, then primal weights) equals scikit-learn's
    Ridge on the rows of weight > 0, every row its own; some conversations have weight 0 on
    every row, so the solve covers a gappy subset of them. With phrasing pooling each
    (metric, phrasing cluster) cell's weights are scaled to the mean cell total, written out
    here."""
    from sklearn.linear_model import Ridge

    from gbscore._groups import table_groups

    X = augmented(table(n_per=12))
    y = np.where(np.arange(len(X)) < len(X) // 3, 9.0, 6.5)
    n0 = len(X) // 3  # row i, i + n0 and i + 2 n0 hold one conversation
    low = np.arange(0, n0, 5)
    y[np.r_[low, low + n0, low + 2 * n0]] = 3.0  # these conversations: weight 0 everywhere
    mm = MetricMatchFeatures(n_splits=3, classifier="ridge", alpha=0.5, pooling=pooling)
    mm.fit(X, y)
    Z = mm.vectorizer_.transform(joined_texts(X)).astype(np.float64)
    own = mm._own_index(X)
    weight = np.clip((y - 5.0) / 5.0, 0.0, 1.0)
    if pooling == "phrasing":
        cells = pd.Series(list(zip(own, table_groups(X, "phrasing", n_splits=3), strict=True)))
        totals = pd.Series(weight).groupby(cells).transform("sum").to_numpy()
        positive = weight > 0
        n_cells = cells[positive].nunique()
        weight = np.where(positive, weight / np.maximum(totals, 1e-300), 0.0)
        weight *= np.clip((y - 5.0) / 5.0, 0.0, 1.0).sum() / n_cells
    keep = weight > 0
    ridge = Ridge(alpha=0.5, fit_intercept=False, solver="cholesky")
    ridge.fit(Z[keep], np.eye(len(mm.metrics_))[own[keep]], sample_weight=weight[keep])
    kind, W = mm.model_
    assert kind == "linear"
    np.testing.assert_allclose(W, ridge.coef_, atol=2e-5)
    assert np.abs(W).max() > 0.05


def test_relative_output_matches_a_hand_computation_from_the_centroids():
    """output="relative": each feature recomputed here from the fitted vectorizer and the
    score-weighted centroids, by the definitions in the docstring."""
    base = table(n_per=12)
    # a second metric in the toxicity family, so the family's best is not the row's own
    sibling = base[base["metric_name"] == "toxicity/explicit"].assign(
        metric_name="toxicity/implicit", response=lambda d: d["response"].str[::-1]
    )
    X = augmented(pd.concat([base, sibling], ignore_index=True))
    y = np.where(np.arange(len(X)) < len(X) // 3, 9.0, 2.0)
    mm = MetricMatchFeatures(n_splits=3, output="relative").fit(X, y)
    assert list(mm.get_feature_names_out()) == [
        "match_ratio__metric",
        "match_z__metric",
        "match_margin__metric",
        "match_rank__metric",
        "match_ratio__family",
    ]
    Z = mm.vectorizer_.transform(joined_texts(X)).toarray().astype(np.float64)
    metrics = sorted(set(X["metric_name"]))
    w = np.clip((y - 5.0) / 5.0, 0, 1)
    names = X["metric_name"].to_numpy()
    C = np.array([(Z[names == m] * w[names == m, None]).sum(0) for m in metrics])
    C /= np.linalg.norm(C, axis=1, keepdims=True)
    S = Z @ C.T
    own = np.array([metrics.index(m) for m in X["metric_name"]])
    s = S[np.arange(len(X)), own]
    top = S.max(1)
    others = S.copy()
    others[np.arange(len(X)), own] = -np.inf
    family = np.array([m.split("/")[0] for m in metrics])
    fam_best = np.array([S[i, family == family[own[i]]].max() for i in range(len(X))])
    expected = np.column_stack(
        [
            s / top,
            (s - S.mean(1)) / S.std(1),
            (s - others.max(1)) / top,
            (S > s[:, None]).sum(1) / len(metrics),
            fam_best / top,
        ]
    )
    assert (expected[:, 4] > expected[:, 0] + 0.1).any()  # the family's best is another metric
    np.testing.assert_allclose(mm.transform(X), expected, rtol=1e-4, atol=1e-5)


def test_relative_features_hold_their_level_when_a_text_shares_fewer_words():
    """New phrasing shares fewer words with every centroid. Here half of each text's topic
    words become a word of no metric: the probability mass on other metrics grows manyfold,
    while the ratio of the own metric's cosine to the top cosine stays near 1 over all rows."""
    X = table(n_per=30)
    y = np.full(len(X), 9.0)
    rng = np.random.default_rng(1)
    diluted = X.copy()
    diluted["response"] = [
        " ".join(w if rng.random() < 0.5 else "common" for w in t.split()[:8])
        + " " + " ".join(t.split()[8:])
        for t in X["response"]
    ]  # fmt: skip
    prob = MetricMatchFeatures(n_splits=3).fit(X, y)
    rel = MetricMatchFeatures(n_splits=3, output="relative").fit(X, y)
    p_seen, p_new = prob.transform(X)[:, 0], prob.transform(diluted)[:, 0]
    r_seen, r_new = rel.transform(X)[:, 0], rel.transform(diluted)[:, 0]
    assert np.median(1 - p_new) > 5 * np.median(1 - p_seen)
    assert np.median(r_seen) == np.median(r_new) == 1.0
    assert np.mean(r_new) > 0.95


@pytest.mark.parametrize("classifier", ["centroid", "logistic", "ridge"])
def test_relative_output_ranks_the_own_metric_above_a_swapped_one(classifier):
    X = table()
    y = np.full(len(X), 9.0)
    mm = MetricMatchFeatures(classifier=classifier, n_splits=3, output="relative").fit(X, y)
    swapped = X.assign(metric_name=np.roll(X["metric_name"].to_numpy(), 30))
    own, other = mm.transform(X), mm.transform(swapped)
    for col in (0, 1, 2):  # ratio, z, margin: higher for the own metric
        assert (own[:, col] > other[:, col]).mean() > 0.95
    assert (own[:, 3] < other[:, 3]).mean() > 0.95  # rank: 0 is the top
    crossed = mm.fit_transform(X, y)  # cross-fitted: scored by models without the row
    assert crossed.shape == own.shape and np.isfinite(crossed).all()
    assert (crossed[:, 0] > mm.transform(swapped)[:, 0]).mean() > 0.9


def test_relative_output_with_a_single_metric_is_finite():
    X = table().query("metric_name == 'jailbreak'")
    out = MetricMatchFeatures(n_splits=2, output="relative").fit_transform(X, np.full(len(X), 9.0))
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[:, [0, 3]], [[1.0, 0.0]] * len(X))


def test_relative_output_of_an_unknown_metric_is_zero():
    X = table()
    mm = MetricMatchFeatures(output="relative").fit(X, np.full(len(X), 9.0))
    out = mm.transform(X.iloc[:3].assign(metric_name="never_seen"))
    np.testing.assert_array_equal(out[:, [0, 1, 2, 4]], 0.0)
    np.testing.assert_array_equal(out[:, 3], 1.0)  # ranks last


def test_phrasing_pooling_weighs_each_cluster_once_and_words_by_their_clusters():
    """Metric 0: two rows of one phrasing cluster, [1, 1, 0] each, and one row of another,
    [1, 0, 1]. Pooled by rows, the centroid is [3, 2, 1] / |.|. Pooled by cluster: cells
    [1, 1, 0] / sqrt 2 and [1, 0, 1] / sqrt 2, mean [1, 1/2, 1/2] / sqrt 2, times the share of
    cells using each word, [1, 1/2, 1/2]: [1, 1/4, 1/4] / sqrt 2, unit: [2 sqrt 2, sqrt 2 / 2,
    sqrt 2 / 2] / 3. Weights scale a row within its cell; metric 1 has no row."""
    from scipy import sparse

    from gbscore.features._match import pooled_centroids

    Z = sparse.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [1, 0, 1], [0, 2, 0]], dtype=float))
    labels = np.array([0, 0, 0, 2])
    pools = np.array([5, 5, 7, 5])
    C = pooled_centroids(Z, labels, np.ones(4), pools, n_classes=3)
    r2 = np.sqrt(2.0)
    np.testing.assert_allclose(C[0], [2 * r2 / 3, r2 / 6, r2 / 6])
    np.testing.assert_allclose(C[1], 0.0)
    np.testing.assert_allclose(C[2], [0.0, 1.0, 0.0])
    # a weight of 3 on the third row only lengthens its cell, which is normalised away
    w = np.array([1.0, 1.0, 3.0, 1.0])
    np.testing.assert_allclose(pooled_centroids(Z, labels, w, pools, 3), C)
    # unequal weights within a cell tilt that cell
    w = np.array([1.0, 1.0, 1.0, 1.0])
    Z2 = sparse.csr_matrix(np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0]], dtype=float))
    C2 = pooled_centroids(Z2, np.zeros(3, int), np.array([3.0, 1.0, 1.0]), np.array([0, 0, 1]), 1)
    cell = np.array([3.0, 1.0, 0.0]) / np.sqrt(10.0)
    expected = (cell + np.array([1.0, 0.0, 0.0])) / 2 * np.array([1.0, 0.5, 0.0])
    np.testing.assert_allclose(C2[0], expected / np.linalg.norm(expected))
    assert pooled_centroids(Z[:0], labels[:0], w[:0], pools[:0], 2).shape == (2, 3)


def hand_pooled_centroids(Z, names, rows, groups, metrics):
    """Unit centroids pooled per phrasing cluster, written out densely from the definition:
    per metric, each cluster's summed rows made unit, averaged, scaled by the share of the
    clusters using each word, made unit (zero for a metric without rows)."""
    C = []
    for m in metrics:
        mine = rows & (names == m)
        cells = []
        for g in np.unique(groups[mine]):
            cell = Z[mine & (groups == g)].sum(0)
            cells.append(cell / np.linalg.norm(cell))
        if not cells:
            C.append(np.zeros(Z.shape[1]))
            continue
        cells = np.array(cells)
        c = cells.mean(0) * (cells > 0).mean(0)
        C.append(c / np.linalg.norm(c))
    return np.array(C)


def test_phrasing_pooling_end_to_end_matches_the_centroids_from_the_phrasing_clusters():
    """pooling="phrasing" inside the estimator: its transform equals cosines to centroids
    pooled here, by hand, from the phrasing clusters of the fit table; so does each row's
    cross-fitted feature, from the rows of the other folds only."""
    from sklearn.model_selection import GroupKFold

    from gbscore._groups import table_groups
    from gbscore.augment import conversation_groups

    base = table(n_per=30)
    # one conversation of its own metric: the folds that hold it out have no row of it
    lone = base.iloc[[0]].assign(metric_name="jailbreak/lone", response="lone words only")
    X = augmented(pd.concat([base, lone], ignore_index=True))
    y = np.where(np.arange(len(X)) < len(X) // 3, 9.0, 2.0)
    mm = MetricMatchFeatures(n_splits=3, output="relative", pooling="phrasing")
    crossed = mm.fit_transform(X, y)
    groups = table_groups(X, "phrasing", n_splits=3)
    real = np.arange(len(X)) < len(X) // 3
    names = X["metric_name"].to_numpy()
    metrics = sorted(set(names))
    per_metric = [len(np.unique(groups[real & (names == m)])) for m in TOPICS]
    assert min(per_metric) > 1 and max(per_metric) < 30  # pooling differs from both extremes
    Z = mm.vectorizer_.transform(joined_texts(X)).toarray().astype(np.float64)
    own = np.array([metrics.index(m) for m in names])
    rows = np.arange(len(X))

    def ratio(C, at):
        S = Z[at] @ C.T
        return S[np.arange(len(at)), own[at]] / S.max(1)

    C = hand_pooled_centroids(Z, names, real, groups, metrics)
    np.testing.assert_allclose(mm.transform(X)[:, 0], ratio(C, rows), rtol=1e-4, atol=1e-5)
    folds = GroupKFold(n_splits=3).split(Z, groups=conversation_groups(X))
    for train, test in folds:
        in_train = np.isin(rows, train)
        C = hand_pooled_centroids(Z, names, real & in_train, groups, metrics)
        np.testing.assert_allclose(crossed[test, 0], ratio(C, test), rtol=1e-4, atol=1e-5)
    assert crossed.shape == (len(X), 5) and np.isfinite(crossed).all()
    lone_rows = names == "jailbreak/lone"
    assert (crossed[lone_rows & real, 0] == 0).all()  # its metric had no training row there
    plain = MetricMatchFeatures(n_splits=3, output="relative").fit(X, y)
    assert not np.allclose(plain.transform(X), mm.transform(X), atol=1e-3)


def test_cell_balanced_weights_give_every_metric_cluster_cell_the_mean_total():
    """Cells (0, a): weights 1 and 3, (0, b): 2, (1, a): 6; total 12 over 3 cells, so each
    cell totals 4: 1, 3 -> 1, 3; 2 -> 4; 6 -> 4."""
    from gbscore.features._match import cell_balanced_weights

    w = cell_balanced_weights(
        np.array([0, 0, 0, 1]), np.array([7, 7, 9, 7]), np.array([1.0, 3.0, 2.0, 6.0])
    )
    np.testing.assert_allclose(w, [1.0, 3.0, 4.0, 4.0])
    assert cell_balanced_weights(np.array([], int), np.array([], int), np.array([])).size == 0


def test_phrasing_pooling_of_the_logistic_classifier_reweights_its_rows():
    X = augmented(table(n_per=30))
    y = np.where(np.arange(len(X)) < len(X) // 3, 9.0, 2.0)
    pooled = MetricMatchFeatures(classifier="logistic", pooling="phrasing", n_splits=3)
    rows = MetricMatchFeatures(classifier="logistic", n_splits=3)
    a, b = pooled.fit(X, y).transform(X), rows.fit(X, y).transform(X)
    assert np.isfinite(a).all() and not np.allclose(a, b, atol=1e-4)
    assert (a[: len(X) // 3, 0] > 0.5).mean() > 0.9  # real rows still point at their metric
    with pytest.raises(ValueError, match="pooling"):
        MetricMatchFeatures(pooling="clusters").fit(X, y)


def test_a_model_saved_before_pooling_existed_loads_with_rows_pooling():
    import pickle

    from sklearn.base import clone

    X = table(n_per=6)
    mm = MetricMatchFeatures(n_splits=2).fit(X, np.full(len(X), 9.0))
    del mm.__dict__["pooling"]  # as unpickled from a file written before the parameter
    del mm.__dict__["alpha"]  # (the ridge's came later still)
    old = pickle.loads(pickle.dumps(mm))
    assert old.get_params()["pooling"] == "rows" and "MetricMatchFeatures" in repr(old)
    assert old.get_params()["alpha"] == 1.0
    assert clone(old).pooling == "rows"
    np.testing.assert_array_equal(old.transform(X), mm.transform(X))


def test_ridge_class_weights_solve_the_weighted_ridge_problem():
    """Checked against the normal equations solved by hand in float64:
    ``W = Y' D Z (Z' D Z + alpha I)^-1`` for one-hot ``Y`` and row weights ``D``."""
    from scipy import sparse

    from gbscore.features._match import ridge_class_weights

    rng = np.random.default_rng(0)
    Z = sparse.random(40, 25, density=0.3, format="csr", random_state=1, dtype=np.float32)
    labels = rng.integers(0, 4, size=40)
    weight = rng.uniform(0.2, 2.0, size=40)
    W = ridge_class_weights(Z, labels, weight, 5, alpha=0.7)
    Zd, Y = Z.toarray().astype(np.float64), np.eye(5)[labels]
    gram = Zd.T @ (weight[:, None] * Zd) + 0.7 * np.eye(25)
    expected = np.linalg.solve(gram, Zd.T @ (weight[:, None] * Y)).T
    assert W.shape == (5, 25)
    np.testing.assert_allclose(W, expected, atol=2e-5)
    np.testing.assert_array_equal(W[4], 0.0)  # a class without rows scores 0
    assert ridge_class_weights(Z[:0], labels[:0], weight[:0], 5, 1.0).shape == (5, 25)


def test_ridge_on_one_row_per_conversation_equals_the_ridge_on_every_row():
    """Rows of one conversation (equal TF-IDF rows, as the negative sampler makes) are
    solved as one weighted row with a mixed target; the weights are those of every row."""
    from scipy import sparse

    from gbscore.features._match import ridge_class_weights

    rng = np.random.default_rng(4)
    Z = sparse.random(15, 20, density=0.4, format="csr", random_state=5, dtype=np.float32)
    rows = rng.integers(0, 15, size=50)  # 50 rows over at most 15 conversations
    labels, weight = rng.integers(0, 3, size=50), rng.uniform(0.1, 1.0, size=50)
    every = ridge_class_weights(Z[rows], labels, weight, 3, alpha=0.5)
    once = ridge_class_weights(Z[rows], labels, weight, 3, alpha=0.5, rows=rows)
    np.testing.assert_allclose(once, every, atol=2e-5)
    assert np.abs(every).max() > 0.05


def test_ridge_classifier_iterates_past_the_exact_solve_size(monkeypatch):
    """Above ``RIDGE_EXACT_MAX`` rows and columns the ridge classifier iterates (sparse
    conjugate gradient) instead of a dense solve; it reaches the same weights."""
    from scipy import sparse

    from gbscore.features import _match

    Z = sparse.random(60, 30, density=0.3, format="csr", random_state=2, dtype=np.float32)
    labels = np.arange(60) % 3
    weight = np.linspace(0.5, 1.5, 60)
    exact = _match.ridge_class_weights(Z, labels, weight, 3, alpha=1.0)
    monkeypatch.setattr(_match, "RIDGE_EXACT_MAX", 10)
    iterated = _match.ridge_class_weights(Z, labels, weight, 3, alpha=1.0)
    np.testing.assert_allclose(iterated, exact, atol=1e-3)


def test_ridge_classifier_tells_a_metric_from_a_sibling_a_centroid_confuses():
    """Two metrics share most of their words and differ in one: the centroids are nearly the
    same vector, while the ridge classifier weighs the word that tells them apart."""
    rng = np.random.default_rng(3)
    shared = "answer reply message response text output content assistant".split()
    rows = []
    for metric, cue in (("tone/polite", "polite"), ("tone/formal", "formal")):
        for i in range(40):
            words = [*rng.choice(shared, size=12), cue]
            rows.append({"metric_name": metric, "system_prompt": "", "user_prompt": f"q{i}",
                         "response": " ".join(rng.permutation(words))})  # fmt: skip
    X = pd.DataFrame(rows)
    y = np.full(len(X), 9.0)
    swapped = X.assign(metric_name=np.roll(X["metric_name"].to_numpy(), 40))
    margins = {}
    for classifier in ("centroid", "ridge"):
        mm = MetricMatchFeatures(classifier=classifier, output="relative", n_splits=2).fit(X, y)
        margins[classifier] = mm.transform(X)[:, 2] - mm.transform(swapped)[:, 2]
    assert (margins["ridge"] > 0).all()
    assert np.median(margins["ridge"]) > 3 * np.median(margins["centroid"])
    with pytest.raises(ValueError, match="alpha"):
        MetricMatchFeatures(classifier="ridge", alpha=0.0).fit(X, y)


def test_ridge_cross_fitting_on_blocks_of_one_gram_matrix_matches_a_ridge_per_fold():
    """fit_transform's folds solve on blocks of one Gram matrix and score the held-out rows
    from it; each fold's scores equal those of scikit-learn's Ridge fitted on that fold's
    rows (every row, its own weight) and applied to the held-out TF-IDF rows."""
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GroupKFold

    from gbscore.augment import conversation_groups

    X = augmented(table(n_per=12))
    y = np.where(np.arange(len(X)) < len(X) // 3, 9.0, 6.5)
    y[::7] = 2.0
    mm = MetricMatchFeatures(n_splits=3, classifier="ridge", alpha=0.5, output="relative")
    out = mm.fit_transform(X, y)

    Z = mm.vectorizer_.transform(joined_texts(X))
    own = mm._own_index(X)
    weight = np.clip((y - 5.0) / 5.0, 0.0, 1.0)
    onehot = np.eye(len(mm.metrics_))[own]
    expected = np.zeros_like(out)
    folds = GroupKFold(n_splits=3).split(Z, groups=conversation_groups(X))
    for train, test in folds:
        keep = train[weight[train] > 0]
        ridge = Ridge(alpha=0.5, fit_intercept=False, solver="cholesky")
        ridge.fit(Z[keep].astype(np.float64), onehot[keep], sample_weight=weight[keep])
        scores = np.maximum(Z[test] @ ridge.coef_.T, 0.0)
        expected[test] = mm._features(scores, own[test])
    np.testing.assert_allclose(out, expected, atol=2e-4)
    assert out[:, 0].std() > 0.1  # the scores are not all alike


def test_a_gram_matrix_over_the_keep_size_is_not_kept_and_gives_the_same_features(monkeypatch):
    """Past ``GRAM_KEEP_MAX_BYTES`` the Gram matrix serves the folds of one fit and is not
    kept in the process cache; the features are those of the kept one."""
    from gbscore.features import _match, cache_info, clear_caches

    X = augmented(table(n_per=12))
    y = np.where(np.arange(len(X)) < len(X) // 3, 9.0, 2.0)
    kw = {"n_splits": 3, "classifier": "ridge", "pooling": "phrasing", "crossfit": "phrasing"}
    clear_caches()
    kept = MetricMatchFeatures(**kw).fit_transform(X, y)
    assert cache_info()["recent"]["metric-match gram"] == 1
    clear_caches()
    monkeypatch.setattr(_match, "GRAM_KEEP_MAX_BYTES", 0)
    alone = MetricMatchFeatures(**kw).fit_transform(X, y)
    assert "metric-match gram" not in cache_info()["recent"]
    np.testing.assert_array_equal(alone, kept)
