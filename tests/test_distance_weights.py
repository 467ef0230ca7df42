"""The CV reweighted to a test set's distance from the training phrasing."""

import numpy as np
import pandas as pd
import pytest

from gbscore import GbscoreError
from gbscore.model_selection import OOFPredictions, phrasing_distance_weights, rmse

# Twenty training conversations, two per topic: the pair's texts are word for word the same
# (they differ only in the system prompt, which the phrasing similarity leaves out), and
# every topic has words of its own. Folds put the two of a pair apart, so each held-out
# conversation has an exact copy among its fold's training rows (similarity 1) - except the
# "lonely" topics, whose second conversation shares no word with anything.
_TOPICS = [f"topic{i} alpha{i} beta{i} gamma{i} delta{i}" for i in range(10)]
_LONELY = {7, 8, 9}


def _train_table():
    rows = []
    for i, text in enumerate(_TOPICS):
        rows.append({"system_prompt": "a", "user_prompt": text, "response": f"answer{i} yes{i}"})
        second = f"unique{i}x solo{i}y" if i in _LONELY else text
        response = f"lone{i}z reply{i}w" if i in _LONELY else f"answer{i} yes{i}"
        rows.append({"system_prompt": "b", "user_prompt": second, "response": response})
    X = pd.DataFrame(rows)
    X["metric_name"] = "m"
    fold = np.array([0, 1] * 10)  # the two of a pair in different folds
    return X, fold


def _oof(X, fold, preds, y, shifted_rows=()):
    n = len(X)
    shifted_rows = np.asarray(shifted_rows, dtype=int)
    m = len(shifted_rows)
    return OOFPredictions(
        y=np.concatenate([y, np.zeros(m)]),
        fold=np.concatenate([fold, fold[np.clip(shifted_rows, 0, None)] if m else []]).astype(int),
        is_shifted=np.concatenate([np.zeros(n, bool), np.ones(m, bool)]),
        relation=np.array(["real"] * n + ["unrelated"] * m, dtype=object),
        preds=pd.DataFrame({"model": np.concatenate([preds, np.zeros(m)])}),
        row=np.concatenate([np.arange(n), shifted_rows]).astype(int),
        grouping="phrasing",
    )


def _far_test():
    """One test row whose words no training row uses: similarity 0 to all of them."""
    return pd.DataFrame(
        {
            "system_prompt": ["x"],
            "user_prompt": ["zzz qqq"],
            "response": ["www"],
            "metric_name": "m",
        }
    )


def test_weighted_rmse_by_hand():
    # errors 1 and 3 with weights 3 and 1: sqrt((3*1 + 1*9) / 4) = sqrt(3)
    assert rmse([0, 0], [1, 3], [3, 1]) == pytest.approx(np.sqrt(3.0))
    assert rmse([0, 0], [1, 3], [1, 1]) == pytest.approx(rmse([0, 0], [1, 3]))
    assert np.isnan(rmse([0], [1], [0]))


def test_similarities_and_weights_follow_the_test_distance():
    X, fold = _train_table()
    y = np.zeros(len(X))
    oof = _oof(X, fold, preds=np.zeros(len(X)), y=y)

    # A test set of copies of training texts: every test row has similarity 1.
    near = X.iloc[[0, 2, 4]].assign(system_prompt="test")
    dw = phrasing_distance_weights(oof, X, near)
    np.testing.assert_allclose(dw.similarity_test, 1.0, atol=1e-6)
    copies = ~np.isin(np.arange(len(X)) // 2, list(_LONELY))
    np.testing.assert_allclose(dw.similarity_cv[copies], 1.0, atol=1e-6)
    lonely_cv = dw.similarity_cv[~copies]
    assert (lonely_cv < 0.99).all()
    # The weight goes to the held-out rows that, like the test rows, have a copy in training.
    w = dw.weights[: len(X)]
    assert w[copies].min() > 0 and w.mean() == pytest.approx(1.0)
    assert w[~copies & (dw.similarity_cv < 0.5)].max() == 0

    # A test set of new words only: similarity 0, all weight on the least similar rows.
    far = _far_test()
    dw_far = phrasing_distance_weights(oof, X, far)
    np.testing.assert_allclose(dw_far.similarity_test, 0.0, atol=1e-9)
    w_far = dw_far.weights[: len(X)]
    least = dw_far.similarity_cv <= np.min(dw_far.similarity_cv) + 1e-9
    assert w_far[least].min() > 0 and w_far[~least].max() == 0
    assert w_far.mean() == pytest.approx(1.0)


def test_weighted_scores_weigh_the_rows_like_the_test():
    X, fold = _train_table()
    y = np.full(len(X), 9.0)
    # The model is exact on rows whose copy it trained on, 4 points off on lonely rows.
    lonely = np.isin(np.arange(len(X)) // 2, list(_LONELY)) & (np.arange(len(X)) % 2 == 1)
    preds = np.where(lonely, 5.0, 9.0)
    oof = _oof(X, fold, preds=preds, y=y)
    plain = oof.scores().loc["model"]
    assert plain.rmse_plain == pytest.approx(np.sqrt(3 * 16 / 20))

    near = X.iloc[[0, 2, 4]].assign(system_prompt="test")
    far = _far_test()
    w_near = phrasing_distance_weights(oof, X, near).weights
    w_far = phrasing_distance_weights(oof, X, far).weights
    assert oof.scores(sample_weight=w_near).loc["model"].rmse_plain == pytest.approx(0.0)
    assert oof.scores(sample_weight=w_far).loc["model"].rmse_plain > plain.rmse_plain


def test_shifted_pairs_carry_their_source_rows_weight():
    X, fold = _train_table()
    oof = _oof(X, fold, preds=np.zeros(len(X)), y=np.zeros(len(X)), shifted_rows=[0, 15, -1])
    far = _far_test()
    dw = phrasing_distance_weights(oof, X, far)
    n = len(X)
    assert dw.weights[n] == dw.weights[0]
    assert dw.weights[n + 1] == dw.weights[15]
    assert dw.weights[n + 2] == 1.0  # a user-given pair: the average real row's weight
    assert dw.weights[15] > 0 and dw.weights[0] == 0


def test_rows_no_fold_predicted_weigh_nothing():
    X, fold = _train_table()
    fold = fold.copy()
    fold[3] = -1
    oof = _oof(X, fold, preds=np.zeros(len(X)), y=np.zeros(len(X)))
    dw = phrasing_distance_weights(oof, X, X.iloc[[0]])
    assert dw.weights[3] == 0 and np.isnan(dw.similarity_cv[3])
    assert dw.summary()["n_real"] == len(X) - 1


def test_errors_say_what_is_wrong():
    X, fold = _train_table()
    oof = _oof(X, fold, preds=np.zeros(len(X)), y=np.zeros(len(X)))
    with pytest.raises(GbscoreError, match="20 real rows but X_train has 19"):
        phrasing_distance_weights(oof, X.iloc[1:], X.iloc[[0]])
    with pytest.raises(GbscoreError, match="X_test has no rows"):
        phrasing_distance_weights(oof, X, X.iloc[:0])
    lonely = pd.DataFrame(
        {"system_prompt": ["x", "y"], "user_prompt": ["aa", "bb"], "response": ["cc", "dd"]}
    ).assign(metric_name="m")
    lonely_oof = _oof(lonely, np.array([0, 1]), preds=np.zeros(2), y=np.zeros(2))
    with pytest.raises(GbscoreError, match="no word occurs in two"):
        phrasing_distance_weights(lonely_oof, lonely, _far_test())
    with pytest.raises(ValueError, match="sample_weight has shape"):
        oof.scores(sample_weight=np.ones(3))


def test_buffered_folds_are_measured_from_the_rows_they_trained_on():
    X, fold = _train_table()
    oof = _oof(X, fold, preds=np.zeros(len(X)), y=np.zeros(len(X)))
    near = X.iloc[[0, 2, 4]].assign(system_prompt="test")
    plain = phrasing_distance_weights(oof, X, near).similarity_cv
    # with a buffer of 0.99 each fold trained without the other copy of its held-out texts,
    # and no two topics share a word: nothing similar is left
    oof.buffer = 0.99
    buffered = phrasing_distance_weights(oof, X, near).similarity_cv
    copies = ~np.isin(np.arange(len(X)) // 2, list(_LONELY))
    np.testing.assert_allclose(plain[copies], 1.0, atol=1e-6)
    assert (buffered < 0.5).all()
    np.testing.assert_allclose(buffered[~copies], plain[~copies])
