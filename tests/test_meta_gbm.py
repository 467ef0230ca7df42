"""The "nnls_gbm" meta-learner: the mean of NNLS and monotone boosted trees."""

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor, VotingRegressor

from gbscore import ConfigError, build_pipeline
from gbscore.config import final_estimator
from gbscore.datasets import make_judge_data
from gbscore.model_selection import ConversationKFold
from gbscore.stacking import StackedScoreRegressor, meta_weights

FAST = {
    "encoder": {"kind": "char-tfidf", "n_components": 16},
    "params": {"interact__n_components": 4, "interact__bilinear_rank": 2},
}


def _base(emb, model, **params):
    cfg = {**FAST, "model": model, "params": {**FAST["params"], **params}}
    return build_pipeline(cfg, metric_embeddings=emb, show_progress=False)


@pytest.fixture(scope="module")
def demo():
    return make_judge_data(n_train=200, n_test=60, random_state=4)


@pytest.fixture(scope="module")
def emb(demo):
    return pd.DataFrame(demo.metric_embeddings, index=demo.metric_names)


@pytest.fixture(scope="module")
def stack(demo, emb):
    bases = [
        ("ridge", _base(emb, "ridge")),
        ("lgbm", _base(emb, "lightgbm", model__n_estimators=30, model__n_jobs=1)),
    ]
    meta = final_estimator("nnls_gbm", columns=["ridge", "lgbm"])
    cv = ConversationKFold(n_splits=3, grouping="conversation")
    model = StackedScoreRegressor(bases, final_estimator=meta, cv=cv, show_progress=False)
    return model.fit(demo.train.drop(columns="score"), demo.train["score"].to_numpy())


def test_config_builds_the_voting_meta_with_monotone_trees(emb):
    model = build_pipeline({**FAST, "stack": {"meta": "nnls_gbm"}}, metric_embeddings=emb)
    meta = model.final_estimator
    assert isinstance(meta, VotingRegressor)
    linear, trees = (est for _, est in meta.estimators)
    assert linear.positive
    assert isinstance(trees, HistGradientBoostingRegressor) and trees.early_stopping is False
    names = [n for n, _ in model.estimators]
    assert trees.monotonic_cst == dict.fromkeys(names, 1)
    gated = build_pipeline(
        {**FAST, "stack": {"meta": "nnls_gbm", "meta_gate": "distance"}}, metric_embeddings=emb
    )
    cst = dict(gated.final_estimator.estimators)["gbm"].monotonic_cst
    assert cst == {f"{n}@{end}": 1 for end in ("far", "near") for n in names}
    with pytest.raises(ConfigError, match=r"stack.meta='gbm' is not one of \['nnls', 'ridge'"):
        build_pipeline({**FAST, "stack": {"meta": "gbm"}})


def test_prediction_is_the_mean_of_the_linear_and_the_tree_halves(stack, demo):
    bases = stack.predict_bases(demo.test)
    halves = stack.final_estimator_.named_estimators_
    by_hand = (halves["nnls"].predict(bases) + halves["gbm"].predict(bases)) / 2
    np.testing.assert_allclose(stack.predict(demo.test), np.clip(by_hand, 0, 10))
    weights = meta_weights(stack)
    assert weights["meta"] == "nnls_gbm" and weights["linear_share"] == 0.5
    assert set(weights["weights"]) == {"ridge", "lgbm"}
    assert weights["weights"]["lgbm"] == float(halves["nnls"].coef_[1])


def test_a_higher_base_score_never_lowers_the_stack(stack):
    grid = np.linspace(0, 10, 41)
    for moving, fixed in (("ridge", "lgbm"), ("lgbm", "ridge")):
        for level in (2.0, 5.0, 8.0):
            frame = pd.DataFrame({moving: grid, fixed: level})[["ridge", "lgbm"]]
            out = stack.combine(frame)
            assert np.all(np.diff(out) >= -1e-9), (moving, level)


def test_stack_study_scores_the_voting_meta(stack):
    from gbscore.tuning import StackObjective

    objective = StackObjective(stack.oof_)
    shift, plain = objective.evaluate(["ridge", "lgbm"], meta="nnls_gbm")
    assert np.isfinite(shift) and np.isfinite(plain) and shift > 0
