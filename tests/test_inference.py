"""Batched prediction: one score per input row, in order, the same as scoring at once."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin

from gbscore import GbscoreError, build_pipeline
from gbscore.datasets import make_judge_data
from gbscore.inference import predict_table
from gbscore.stacking import StackedScoreRegressor

FAST = {"encoder": {"kind": "char-tfidf", "n_components": 16}}


@pytest.fixture(scope="module")
def demo():
    return make_judge_data(n_train=150, n_test=53, random_state=3)


@pytest.fixture(scope="module")
def emb(demo):
    return pd.DataFrame(demo.metric_embeddings, index=demo.metric_names)


@pytest.fixture(scope="module")
def ridge(demo, emb):
    pipe = build_pipeline({**FAST, "model": "ridge"}, metric_embeddings=emb, show_progress=False)
    return pipe.fit(demo.train.drop(columns="score"), demo.train["score"])


@pytest.fixture(scope="module")
def stack(demo, emb):
    bases = [
        ("ridge", build_pipeline({**FAST, "model": "ridge"}, metric_embeddings=emb)),
        (
            "lgbm",
            build_pipeline(
                {**FAST, "model": "lightgbm", "params": {"model__n_estimators": 20}},
                metric_embeddings=emb,
            ),
        ),
    ]
    model = StackedScoreRegressor(bases, cv=2, show_progress=False)
    return model.fit(demo.train.drop(columns="score"), demo.train["score"])


@pytest.mark.slow
@pytest.mark.parametrize("batch_rows", [1, 7, 53, 10_000])
def test_batches_give_the_scores_of_one_call(ridge, demo, batch_rows):
    scores, bases, sd = predict_table(ridge, demo.test, batch_rows=batch_rows)
    assert bases is None and sd is None
    assert scores.shape == (len(demo.test),)
    np.testing.assert_allclose(scores, ridge.predict(demo.test), rtol=0, atol=1e-9)


@pytest.mark.slow
def test_stack_batches_bases_and_uncertainty(stack, demo):
    scores, bases, sd = predict_table(stack, demo.test, batch_rows=10, uncertainty=True)
    np.testing.assert_allclose(scores, stack.predict(demo.test), rtol=0, atol=1e-9)
    pd.testing.assert_frame_equal(bases, stack.predict_bases(demo.test), atol=1e-9)
    np.testing.assert_allclose(sd, stack.predict_uncertainty(demo.test), rtol=0, atol=1e-9)
    assert np.isfinite(sd).all() and (sd >= 0).all()


def test_rows_keep_their_order(ridge, demo):
    order = np.random.default_rng(0).permutation(len(demo.test))
    shuffled = demo.test.iloc[order].reset_index(drop=True)
    scores, _, _ = predict_table(ridge, shuffled, batch_rows=9)
    full, _, _ = predict_table(ridge, demo.test, batch_rows=9)
    np.testing.assert_allclose(scores, full[order], rtol=0, atol=1e-9)


def test_empty_table_and_bad_batch_size(ridge, demo):
    scores, _, _ = predict_table(ridge, demo.test.iloc[:0])
    assert scores.shape == (0,)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(GbscoreError, match="batch_rows"):
            predict_table(ridge, demo.test, batch_rows=bad)


class _DropsARow(RegressorMixin, BaseEstimator):
    """A user's model that loses a row: must be caught, never written as a submission."""

    def predict(self, X):
        return np.zeros(max(len(X) - 1, 0))


def test_a_model_that_loses_rows_is_refused(demo):
    with pytest.raises(GbscoreError, match=r"returned 9 scores for rows 0\.\.9 \(10 rows\)"):
        predict_table(_DropsARow(), demo.test, batch_rows=10)
