from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin, clone

from gbscore import GbscoreError, build_pipeline
from gbscore.augment import conversation_groups
from gbscore.datasets import make_judge_data
from gbscore.features import BaseTextEncoder, clear_memory_cache
from gbscore.model_selection import (
    ConversationKFold,
    OOFPredictions,
    cross_val_oof,
    default_eval_sampler,
    fold_seed,
    heldout_pairs,
    phrasing_groups,
)

TOPICS = [
    "drip irrigation", "rice prices", "bank loans", "blood pressure", "school fees",
    "train tickets", "solar panels", "crop insurance", "tax returns", "mobile data",
]  # fmt: skip
TEMPLATES = [
    (
        "I mentioned two options for {t}: the government scheme and the private one. Tell me "
        "more about the second one.",
        "By the second one you mean the private option. Compared with the government scheme "
        "for {t}, it usually costs more but may be faster.",
    ),
    (
        "Can you explain step by step how to apply for help with {t} online?",
        "Step 1: check eligibility for {t}. Step 2: gather documents. Step 3: apply on the "
        "official portal and note the reference number.",
    ),
    (
        "Write a short poem about {t} in the style of a children's song.",
        "Oh {t}, oh {t}, we sing of you all day, in sunshine and in rain we dance and play.",
    ),
    (
        "Is it true that {t} became illegal last year? My neighbour said so.",
        "I could not find any evidence that {t} became illegal; rumours like this spread fast, "
        "so check an official source before you act.",
    ),
]


def _templated_table(n_topics=10):
    rows = []
    for ti, (prompt, response) in enumerate(TEMPLATES):
        for topic in TOPICS[:n_topics]:
            rows.append(
                {
                    "metric_name": f"metric_{ti}",
                    "system_prompt": None,
                    "user_prompt": prompt.format(t=topic),
                    "response": response.format(t=topic),
                    "template": ti,
                }
            )
    return pd.DataFrame(rows)


def test_phrasing_groups_keep_templates_together():
    table = _templated_table()
    groups = phrasing_groups(table.drop(columns="template"), max_group_fraction=0.3)
    # every template's 10 variants share one group; different templates never do
    for ti in range(len(TEMPLATES)):
        assert len(set(groups[table["template"] == ti])) == 1
    assert len(set(groups)) == len(TEMPLATES)


def test_phrasing_groups_contain_conversation_groups():
    X = make_judge_data(n_train=150, n_test=5, random_state=2).train
    X = pd.concat([X, X.iloc[:20].assign(metric_name="fluency")], ignore_index=True)
    conv = conversation_groups(X)
    phr = phrasing_groups(X)
    for g in np.unique(conv):
        assert len(set(phr[conv == g])) == 1
    assert len(np.unique(phr)) <= len(np.unique(conv))


def test_phrasing_groups_respect_the_size_cap():
    table = _templated_table().drop(columns="template")
    groups, threshold = phrasing_groups(table, max_group_fraction=0.1, return_threshold=True)
    # a cap below one template's share (25%) cannot keep templates whole: the strictest
    # threshold that respects it splits them, or the grouping falls back to conversations
    assert np.bincount(groups).max() <= 0.1 * len(table)
    assert np.isnan(threshold) or threshold > 0.3


def test_conversation_kfold_is_a_splitter():
    table = _templated_table()
    X = table.drop(columns="template")
    # two folds: a group may hold up to 1/(2*2) of the rows, one template's share
    cv = ConversationKFold(n_splits=2, random_state=0)
    assert cv.get_n_splits() == 2
    splits = list(cv.split(X))
    assert len(splits) == 2
    seen = np.zeros(len(X), int)
    for train, test in splits:
        seen[test] += 1
        assert set(table["template"].iloc[train]).isdisjoint(table["template"].iloc[test])
    assert (seen == 1).all()
    # with grouping="conversation" every conversation is its own group: templates straddle
    straddle = any(
        set(table["template"].iloc[tr]) & set(table["template"].iloc[te])
        for tr, te in ConversationKFold(n_splits=2, grouping="conversation").split(X)
    )
    assert straddle
    # explicit groups are used as given
    given = np.arange(len(X)) % 5
    for _, test in ConversationKFold(n_splits=5).split(X, groups=given):
        assert len(set(given[test])) == 1


def test_conversation_kfold_errors():
    X = _templated_table().drop(columns="template")
    with pytest.raises(
        GbscoreError,
        match=r"need at least 6 groups .* has 3; use fewer folds \(at least 2: cv.n_splits in a "
        r"config; gbscore run --cv-folds, gbscore cv --folds, gbscore tune --n-splits\)",
    ):
        list(ConversationKFold(n_splits=6).split(X, groups=np.arange(len(X)) % 3))
    with pytest.raises(ValueError, match="pass a DataFrame"):
        list(ConversationKFold(n_splits=2).split(np.zeros((10, 2))))


def test_heldout_pairs_one_seed_rule():
    demo = make_judge_data(n_train=120, n_test=5, random_state=0)
    X, y = demo.train.drop(columns="score"), demo.train["score"].to_numpy()
    rows = np.arange(0, 120, 3)
    sampler = default_eval_sampler(random_state=4)
    a = heldout_pairs(sampler, X, y, rows, random_state=4, fold=2)
    b = heldout_pairs(sampler, X, y, rows, random_state=4, fold=2)
    c = heldout_pairs(sampler, X, y, rows, random_state=4, fold=3)
    pd.testing.assert_frame_equal(a.X, b.X)
    assert not a.X.equals(c.X)
    assert set(a.row) <= set(rows)  # built from the held-out rows only
    assert fold_seed(4, 2) == 4002
    # the pairs of fold k are exactly a sampler seeded fold_seed(random_state, k)
    direct = sampler.set_params(random_state=4002)
    X_all, _ = direct.fit_resample(X.iloc[rows].reset_index(drop=True), y[rows])
    pd.testing.assert_frame_equal(a.X, X_all[direct.synthetic_mask_].reset_index(drop=True))


class CountingRegressor(RegressorMixin, BaseEstimator):
    """Predicts the training mean; counts fits in a class-level list (sequential folds)."""

    fits = []

    def fit(self, X, y, sample_weight=None):
        CountingRegressor.fits.append(len(X))
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


def _counting_pipeline(demo):
    emb = pd.DataFrame(demo.metric_embeddings, index=demo.metric_names)
    pipe = build_pipeline(
        {"model": "ridge", "encoder": {"kind": "char-tfidf", "n_components": 8}},
        metric_embeddings=emb,
        show_progress=False,
    )
    return pipe.set_params(model=CountingRegressor())


@pytest.mark.slow
def test_on_fold_sees_running_results_and_can_stop_the_loop():
    demo = make_judge_data(n_train=150, n_test=5, random_state=0)
    X, y = demo.train.drop(columns="score"), demo.train["score"].to_numpy()
    seen = []

    class Stop(Exception):
        pass

    def on_fold(k, partial):
        done = partial.fold >= 0
        seen.append((k, int(done.sum()), partial.scores().loc["m"].rmse_shift))
        assert np.isfinite(partial.preds["m"].to_numpy()[done]).all()
        assert np.isnan(partial.preds["m"].to_numpy()[~done]).all()
        if k == 1:
            raise Stop

    CountingRegressor.fits.clear()
    with pytest.raises(Stop):
        cross_val_oof(
            {"m": _counting_pipeline(demo)}, X, y, cv=4, on_fold=on_fold, show_progress=False
        )
    assert [k for k, _, _ in seen] == [0, 1]
    assert seen[0][1] < seen[1][1]
    assert len(CountingRegressor.fits) == 2  # folds 2 and 3 never ran


@pytest.mark.slow
def test_refit_returns_models_fitted_on_all_rows():
    demo = make_judge_data(n_train=150, n_test=5, random_state=0)
    X, y = demo.train.drop(columns="score"), demo.train["score"].to_numpy()
    CountingRegressor.fits.clear()
    oof, fitted = cross_val_oof(
        {"m": _counting_pipeline(demo)}, X, y, cv=3, refit=True, show_progress=False
    )
    assert len(CountingRegressor.fits) == 4
    augmented = fitted["m"].named_steps["augment"].sample_indices_
    assert CountingRegressor.fits[-1] == len(augmented) > len(X)
    assert fitted["m"].steps[-1][1].mean_ == pytest.approx(
        np.mean(fitted["m"].named_steps["augment"].fit_resample(X, y)[1])
    )
    assert oof.n_splits == 3


class HashEncoder(BaseTextEncoder):
    """A deterministic, model-free encoder (a real one a user could write): 8 hashed bytes."""

    def encode(self, texts, *, show_progress=None):
        import hashlib

        rows = [np.frombuffer(hashlib.sha256(t.encode()).digest()[:8], np.uint8) for t in texts]
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), 8) / 255.0

    def identity(self):
        return {"encoder": "HashEncoder", "dim": 8}


def _shards(folder):
    return sorted(p.name for p in Path(folder).rglob("shards/*.npz"))


def test_parallel_folds_read_the_featurizers_own_warm_cache(tmp_path):
    """The warm-up before parallel folds must use a featurizer's own cache directory: encoding
    into the run's directory instead re-encodes every text of a warm cache (a full cold
    encode)."""
    demo = make_judge_data(n_train=90, n_test=5, random_state=0)
    X, y = demo.train.drop(columns="score"), demo.train["score"].to_numpy()
    own, run_dir = tmp_path / "own", tmp_path / "run"
    pipe = _counting_pipeline(demo).set_params(
        features__embed__encoder=HashEncoder(), features__embed__cache_dir=str(own)
    )
    clone(pipe.named_steps["features"]).fit(X, y).transform(X)  # fill its own cache
    filled = _shards(own)
    assert filled
    clear_memory_cache()
    cross_val_oof({"m": pipe}, X, y, cv=2, n_jobs=2, cache_dir=run_dir, show_progress=False)
    assert _shards(own) == filled  # every text was there: nothing encoded again
    assert _shards(run_dir) == []  # and nothing went to the run's directory


@pytest.mark.slow
def test_encoding_done_in_fold_workers_is_counted_once():
    """Texts the folds encode in worker processes reach the parent's encoding totals, as
    many as when the folds run here (the char TF-IDF encoder is fitted, so encodes, per fold)."""
    from gbscore.features import encoding_totals

    demo = make_judge_data(n_train=60, n_test=5, random_state=0)
    X, y = demo.train.drop(columns="score"), demo.train["score"].to_numpy()
    counted = {}
    for jobs in (1, 2):
        clear_memory_cache()
        before = encoding_totals()["texts"]
        cross_val_oof({"m": _counting_pipeline(demo)}, X, y, cv=2, n_jobs=jobs, show_progress=False)
        counted[jobs] = encoding_totals()["texts"] - before
    assert counted[1] > X["response"].nunique()
    assert counted[2] == counted[1]


def _components(sim, thr, counts):
    """Connected components of ``sim >= thr`` and their sizes in rows: scipy on the dense
    cosines, the oracle of which cut each group is at (not phrasing_groups' sparse ladder)."""
    from scipy.sparse.csgraph import connected_components

    _, roots = connected_components(sim >= thr, directed=False)
    return roots, dict(enumerate(np.bincount(roots, weights=counts)))


def test_phrasing_groups_cut_each_cluster_as_coarse_as_the_cap_allows():
    from gbscore._groups import _THRESHOLDS, phrasing_vectors
    from gbscore._schema import conversation_text

    X = make_judge_data(n_train=400, n_test=5, random_state=3).train
    cap = 0.1
    groups = phrasing_groups(X, max_group_fraction=cap)
    conv = conversation_groups(X)
    _, first = np.unique(conv, return_index=True)
    counts = np.bincount(conv)
    vectors = phrasing_vectors(conversation_text(X.iloc[first]))
    sim = (vectors @ vectors.T).toarray()
    per_conv = groups[first]
    cuts = {t: _components(sim, t, counts) for t in _THRESHOLDS}
    assert np.bincount(groups).max() <= cap * len(X)
    for g in np.unique(per_conv):
        members = set(np.flatnonzero(per_conv == g))
        # the group is a whole component at some cut, and one cut coarser it is over the cap
        for k in range(len(_THRESHOLDS)):
            roots, size = cuts[_THRESHOLDS[k]]
            root = roots[next(iter(members))]
            if set(np.flatnonzero(roots == root)) == members and size[root] <= cap * len(X):
                break
        else:
            pytest.fail(f"group {g} is no component of any cut")
        if k > 0:
            roots, size = cuts[_THRESHOLDS[k - 1]]
            assert size[roots[next(iter(members))]] > cap * len(X)
    # Coarser than one cut for all (the lowest whose largest component fits), never finer.
    flat_t = next(t for t in _THRESHOLDS if max(cuts[t][1].values()) <= cap * len(X))
    flat = cuts[flat_t][0]
    for r in np.unique(flat):
        assert len(set(per_conv[flat == r])) == 1
    assert len(np.unique(per_conv)) < len(np.unique(flat))


def test_per_relation_scores_each_kind_of_held_out_row_alone():
    # Real rows 10 and 9 predicted 9 and 9; an unrelated pair labelled 2 predicted 4; a general
    # pair labelled 7 predicted 7; a row no fold predicted (fold -1) is left out.
    oof = OOFPredictions(
        y=np.array([10.0, 9.0, 2.0, 7.0, 0.0]),
        fold=np.array([0, 1, 0, 1, -1]),
        is_shifted=np.array([False, False, True, True, True]),
        relation=np.array(["real", "real", "unrelated", "general", "unrelated"], dtype=object),
        preds=pd.DataFrame({"m": [9.0, 9.0, 4.0, 7.0, 10.0]}),
        row=np.arange(5),
    )
    table = oof.per_relation("m")
    assert list(table.index) == ["real", "general", "unrelated"]
    assert table["n"].tolist() == [2, 1, 1]
    np.testing.assert_allclose(table["rmse"], [np.sqrt(0.5), 0.0, 2.0])
    np.testing.assert_allclose(table["mean_true"], [9.5, 7.0, 2.0])
    np.testing.assert_allclose(table["mean_pred"], [9.0, 7.0, 4.0])
    with pytest.raises(KeyError, match="no model 'x'"):
        oof.per_relation("x")


def test_cross_val_oof_refuses_two_bases_of_one_name():
    """dict() of the pairs would keep the last one silently, and its column would pass for
    both."""
    from gbscore import ConfigError, RidgeScoreRegressor

    data = make_judge_data(n_train=30, n_test=5, random_state=0)
    X, y = data.train.drop(columns="score"), data.train["score"].to_numpy()
    bases = [
        ("a", RidgeScoreRegressor()),
        ("b", RidgeScoreRegressor()),
        ("a", RidgeScoreRegressor(alpha=3.0)),
    ]
    with pytest.raises(ConfigError, match=r"model names must be unique; \['a'\] appear"):
        cross_val_oof(bases, X, y, cv=3)
