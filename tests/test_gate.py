"""The distance-gated meta-learner (StackedScoreRegressor(meta_gate="distance"))."""

import logging

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LinearRegression

from gbscore import ConfigError, build_pipeline, load_model, save_model
from gbscore.augment import conversation_groups
from gbscore.datasets import make_judge_data
from gbscore.inference import predict_table
from gbscore.model_selection import ConversationKFold, OOFPredictions, cross_val_oof
from gbscore.stacking import StackedScoreRegressor, meta_weights
from gbscore.stacking._gate import GATE_QUANTILES, fit_gate

FAST = {
    "encoder": {"kind": "char-tfidf", "n_components": 16},
    "params": {"interact__n_components": 4, "interact__bilinear_rank": 2},
}
CV = ConversationKFold(n_splits=3, grouping="conversation")


def _base(emb, model, **params):
    cfg = {**FAST, "model": model, "params": {**FAST["params"], **params}}
    return build_pipeline(cfg, metric_embeddings=emb, show_progress=False)


@pytest.fixture(scope="module")
def demo():
    return make_judge_data(n_train=200, n_test=60, random_state=3)


@pytest.fixture(scope="module")
def emb(demo):
    return pd.DataFrame(demo.metric_embeddings, index=demo.metric_names)


@pytest.fixture(scope="module")
def Xy(demo):
    return demo.train.drop(columns="score"), demo.train["score"].to_numpy()


@pytest.fixture(scope="module")
def gated(Xy, emb):
    X, y = Xy
    bases = [
        ("ridge", _base(emb, "ridge")),
        ("lgbm", _base(emb, "lightgbm", model__n_estimators=30, model__n_jobs=1)),
    ]
    stack = StackedScoreRegressor(bases, cv=CV, meta_gate="distance", show_progress=False)
    return stack.fit(X, y)


def _texts(X):
    return (X["user_prompt"].fillna("") + "\n" + X["response"].fillna("")).tolist()


def _unit_tfidf(train_texts, texts):
    """Unit TF-IDF rows of ``texts`` by hand, as the gate's docs state the measure.

    Word uni/bigrams (scikit-learn's default tokens), tf weighted ``1 + ln(count)``, smooth idf
    ``ln((1 + n) / (1 + df)) + 1`` with ``df`` counted over the ``n`` training texts, so a term
    no training text has keeps the largest idf and stays in its row's norm.
    """
    terms = CountVectorizer(ngram_range=(1, 2)).fit(list(train_texts) + list(texts))
    df = (terms.transform(train_texts).toarray() > 0).sum(axis=0)
    idf = np.log((1 + len(train_texts)) / (1 + df)) + 1
    counts = terms.transform(texts).toarray().astype(float)
    tf = np.where(counts > 0, 1 + np.log(np.where(counts > 0, counts, 1)), 0.0)
    W = tf * idf
    return W / np.maximum(np.linalg.norm(W, axis=1, keepdims=True), 1e-300)


def test_oof_similarity_is_the_nearest_cosine_to_the_folds_training_conversations(gated, Xy):
    X, _ = Xy
    oof, gate = gated.oof_, gated.gate_
    texts = _texts(X)
    conv = conversation_groups(X)
    _, first = np.unique(conv, return_index=True)
    V = _unit_tfidf([texts[i] for i in first], texts)
    real_fold = oof.fold[: len(X)]
    rows = np.arange(0, len(X), 7)  # a spread of rows, every fold among them
    expected = [(V[real_fold != real_fold[i]] @ V[i]).max() for i in rows]
    # Hashed terms (2**20 buckets) collide now and then, moving a cosine in the third decimal.
    np.testing.assert_allclose(gate.oof_similarity_[rows], expected, atol=3e-3)
    assert np.mean(np.abs(gate.oof_similarity_[rows] - expected)) < 5e-4
    # a mismatched pair carries the distance of the conversation it was built from
    shifted = np.flatnonzero(oof.is_shifted)
    np.testing.assert_array_equal(
        gate.oof_similarity_[shifted], gate.oof_similarity_[oof.row[shifted]]
    )
    # the ends are the out-of-fold rows' percentiles
    done = oof.fold >= 0
    low, high = np.quantile(gate.oof_similarity_[done], GATE_QUANTILES)
    assert (gate.low_, gate.high_) == pytest.approx((low, high))
    assert 0 <= gate.low_ < gate.high_ <= 1


def test_new_rows_are_measured_to_every_training_conversation(gated, Xy, demo):
    X, _ = Xy
    gate = gated.gate_
    conv = conversation_groups(X)
    _, first = np.unique(conv, return_index=True)
    train_texts = [_texts(X)[i] for i in first]
    both = _unit_tfidf(train_texts, train_texts + _texts(demo.test))  # one term space
    T, Q = both[: len(train_texts)], both[len(train_texts) :]
    got, expected = gate.similarity(demo.test), (Q @ T.T).max(axis=1)
    np.testing.assert_allclose(got, expected, atol=3e-3)  # hashed terms: see above
    assert np.mean(np.abs(got - expected)) < 5e-4
    # a copy of a training conversation is at the near end; unseen words at the far end
    copy = X.iloc[[5]].reset_index(drop=True)
    assert gate.similarity(copy)[0] == pytest.approx(1.0, abs=1e-6)
    assert gate.position(gate.similarity(copy))[0] == 1.0
    alien = copy.assign(user_prompt="qqzx vvwy", response="zzqq yyxv")
    assert gate.similarity(alien)[0] == 0.0 and gate.position([0.0])[0] == 0.0


def test_expand_gives_each_column_at_both_ends(gated):
    gate = gated.gate_
    mid = (gate.low_ + gate.high_) / 2
    sims = np.array([gate.low_ - 0.1, mid, gate.high_ + 0.1])
    frame = pd.DataFrame({"a": [2.0, 4.0, 6.0], "b": [1.0, 3.0, 5.0]})
    out = gate.expand(frame, sims)
    assert list(out.columns) == ["a@far", "b@far", "a@near", "b@near", "(gate)@far", "(gate)@near"]
    expected = [
        [2.0, 1.0, 0.0, 0.0, 1.0, 0.0],  # beyond the far end: clipped to it
        [2.0, 1.5, 2.0, 1.5, 0.5, 0.5],
        [0.0, 0.0, 6.0, 5.0, 0.0, 1.0],  # beyond the near end
    ]
    np.testing.assert_allclose(out.to_numpy(), expected)


def test_gated_stack_predicts_with_its_weights_at_each_rows_distance(gated, demo):
    bases = gated.predict_bases(demo.test)
    t = gated.gate_.position(gated.gate_.similarity(demo.test))
    names, coef = gated.final_estimator_.feature_names_in_, gated.final_estimator_.coef_
    coef = dict(zip(names, coef, strict=True))
    by_hand = gated.final_estimator_.intercept_ + sum(
        bases[m] * (coef[f"{m}@far"] * (1 - t) + coef[f"{m}@near"] * t) for m in bases
    )
    by_hand += coef["(gate)@far"] * (1 - t) + coef["(gate)@near"] * t
    pred = gated.predict(demo.test)
    np.testing.assert_allclose(pred, np.clip(by_hand, 0, 10))
    assert (gated.final_estimator_.coef_ >= 0).all()  # so each base's weight is >= 0 for any t
    np.testing.assert_allclose(gated.combine(bases, demo.test), pred)
    with pytest.raises(ValueError, match=r"combine\(bases, X\)"):
        gated.combine(bases)
    with pytest.raises(ValueError, match="rows of base predictions"):
        gated.combine(bases, demo.test.iloc[:5])
    # the inference path passes each batch's rows: one score per row, in order
    scores, _, _ = predict_table(gated, demo.test, batch_rows=7)
    np.testing.assert_allclose(scores, pred)
    weights = meta_weights(gated)
    assert weights["gate"]["low"] == gated.gate_.low_
    assert set(weights["weights"]) == {
        "ridge@far", "lgbm@far", "ridge@near", "lgbm@near", "(gate)@far", "(gate)@near"
    }  # fmt: skip


def test_gated_meta_is_fitted_on_the_expanded_out_of_fold_rows(gated):
    oof, gate = gated.oof_, gated.gate_
    done = oof.fold >= 0
    frame = gate.expand(oof.preds.loc[done, ["ridge", "lgbm"]], gate.oof_similarity_[done])
    again = LinearRegression(positive=True).fit(frame, oof.y[done])
    np.testing.assert_allclose(gated.final_estimator_.coef_, again.coef_, atol=1e-8)
    # the out-of-fold "stack" column is cross-fitted: fold 0 from a fit on the other folds
    here, rest = oof.fold == 0, done & (oof.fold != 0)
    fold_fit = LinearRegression(positive=True).fit(
        gate.expand(oof.preds.loc[rest, ["ridge", "lgbm"]], gate.oof_similarity_[rest]),
        oof.y[rest],
    )
    expected = np.clip(
        fold_fit.predict(
            gate.expand(oof.preds.loc[here, ["ridge", "lgbm"]], gate.oof_similarity_[here])
        ),
        0,
        10,
    )
    np.testing.assert_allclose(oof.preds["stack"].to_numpy()[here], expected)


def test_gated_stack_survives_save_and_load(gated, demo, tmp_path):
    path = save_model(gated, tmp_path / "gated.joblib")
    again, _ = load_model(path)
    np.testing.assert_array_equal(again.predict(demo.test), gated.predict(demo.test))


def test_ungated_stack_is_one_combination(Xy, emb, demo):
    X, y = Xy
    stack = StackedScoreRegressor([("ridge", _base(emb, "ridge"))], cv=CV, show_progress=False)
    stack.fit(X, y)
    assert stack.gate_ is None and "gate" not in meta_weights(stack)
    bases = stack.predict_bases(demo.test)
    np.testing.assert_allclose(stack.combine(bases), stack.predict(demo.test))


def test_no_distance_to_gate_on_leaves_the_weights_ungated(caplog):
    # Every word in one conversation only: every row is at cosine 0 from the others.
    n = 6
    X = pd.DataFrame(
        {
            "metric_name": ["m"] * n,
            "system_prompt": [""] * n,
            "user_prompt": [f"alpha{i}" for i in range(n)],
            "response": [f"omega{i}" for i in range(n)],
        }
    )
    oof = OOFPredictions(
        y=np.arange(n, dtype=float),
        fold=np.arange(n) % 2,
        is_shifted=np.zeros(n, bool),
        relation=np.array(["real"] * n),
        preds=pd.DataFrame({"a": np.arange(n, dtype=float)}),
        row=np.arange(n),
    )
    with caplog.at_level(logging.WARNING, logger="gbscore"):
        assert fit_gate(oof, X) is None
    assert "do not spread" in caplog.text


def test_config_sets_and_checks_the_gate(emb):
    stack = build_pipeline({**FAST}, metric_embeddings=emb, show_progress=False)
    assert stack.meta_gate is None  # the default
    on = build_pipeline({**FAST, "stack": {"meta_gate": "distance"}}, metric_embeddings=emb)
    assert on.meta_gate == "distance"
    with pytest.raises(ConfigError, match="stack.meta_gate='phrasing' is not one of"):
        build_pipeline({**FAST, "stack": {"meta_gate": "phrasing"}})
    with pytest.raises(ValueError, match="meta_gate"):
        StackedScoreRegressor([("r", _base(emb, "ridge"))], meta_gate="nope").fit(
            pd.DataFrame({"metric_name": ["m"]}), [1.0]
        )


def test_gate_on_reaches_a_cv_built_stack(Xy, emb):
    # cross_val_oof's folds and the stack's own agree: the gate is fitted on the stack's folds
    X, y = Xy
    oof = cross_val_oof([("ridge", _base(emb, "ridge"))], X, y, cv=CV, show_progress=False)
    gate = fit_gate(oof, X)
    assert gate is not None and gate.oof_similarity_.shape == oof.y.shape
    assert np.isfinite(gate.oof_similarity_[oof.fold >= 0]).all()
