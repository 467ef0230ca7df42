"""The folds' buffer: training conversations close to a fold's held-out ones leave the fold."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity
from test_model_selection import _templated_table

from gbscore import GbscoreError
from gbscore.config import ConfigError, build_cv, build_pipeline, check_config, resolve_cv_buffer
from gbscore.datasets import make_judge_data
from gbscore.model_selection import (
    ConversationKFold,
    OOFPredictions,
    cross_val_oof,
    matched_buffer,
    purge_close_conversations,
)

# In _templated_table the 10 variants of one template have word TF-IDF cosines 0.68-0.81 to
# each other and every pair of different templates is below 0.28 (checked below), so a buffer
# of 0.5 drops exactly the training rows of the held-out rows' templates.


def _table():
    table = _templated_table()
    return table.drop(columns="template"), table["template"].to_numpy()


def _cosines(X):
    texts = (X["user_prompt"].fillna("") + "\n" + X["response"].fillna("")).tolist()
    vectors = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2).fit_transform(texts)
    return cosine_similarity(vectors)


def test_fixture_templates_are_near_and_far():
    X, template = _table()
    sim = _cosines(X)
    same = template[:, None] == template[None, :]
    np.fill_diagonal(same, False)
    assert sim[same].min() > 0.6
    assert sim[template[:, None] != template[None, :]].max() < 0.3


def test_purge_drops_the_held_out_templates_rows_and_nothing_else():
    X, template = _table()
    test = np.flatnonzero(((template == 0) & (np.arange(len(X)) % 10 < 5)) | (template == 2))
    train = np.setdiff1d(np.arange(len(X)), test)
    ((kept, test_out),) = purge_close_conversations(X, [(train, test)], 0.5)
    np.testing.assert_array_equal(test_out, test)
    np.testing.assert_array_equal(kept, train[np.isin(template[train], [1, 3])])
    # a buffer above every cosine of two different conversations drops nothing
    ((kept, _),) = purge_close_conversations(X, [(train, test)], 0.99)
    np.testing.assert_array_equal(kept, train)


def test_splitter_buffer_is_the_purge_of_its_unbuffered_folds():
    X, template = _table()
    # eight groups, each half of one template's variants: a fold holds out at most two
    groups = 2 * template + (np.arange(len(X)) % 10 < 5)
    plain = list(ConversationKFold(n_splits=4).split(X, groups=groups))
    buffered = list(ConversationKFold(n_splits=4, buffer=0.5).split(X, groups=groups))
    assert len(buffered) == 4
    assert sum(len(kept) for kept, _ in buffered) < sum(len(train) for train, _ in plain)
    for (train, test), (kept, test_b) in zip(plain, buffered, strict=True):
        np.testing.assert_array_equal(test, test_b)
        assert set(kept) <= set(train)
        # no kept training row shares a template with a held-out row; every other stays
        held_templates = set(template[test])
        assert not held_templates & set(template[kept])
        assert set(kept) == {i for i in train if template[i] not in held_templates}


def test_buffer_errors_say_what_to_change():
    X, _ = _table()
    for bad in (0, 1.5, "high", True):
        with pytest.raises(GbscoreError, match=r"cv buffer=.*expected a cosine in \(0, 1\]"):
            list(ConversationKFold(n_splits=2, buffer=bad).split(X))
    # conversation folds of this table hold every template in each fold: a buffer of 0.5
    # leaves a fold nothing to train on
    with pytest.raises(GbscoreError, match="fold 0 .* nothing to train on; raise the buffer"):
        list(ConversationKFold(n_splits=2, grouping="conversation", buffer=0.5).split(X))
    with pytest.raises(ValueError, match="pass a DataFrame"):
        list(ConversationKFold(n_splits=2, buffer=0.5).split(np.zeros((10, 2)), groups=[0, 1] * 5))


POOL = [f"word{i}" for i in range(40)]


def _rephrased(X, keep, seed=0):
    """``X``'s conversations with each word kept with probability ``keep``, else replaced by
    one of 40 shared words: further from the originals the lower ``keep``."""
    rng = np.random.default_rng(seed)
    X = X.copy()
    for col in ("user_prompt", "response"):
        X[col] = [
            " ".join(w if rng.random() < keep else POOL[rng.integers(len(POOL))] for w in t.split())
            for t in X[col].fillna("")
        ]
    return X


@pytest.fixture(scope="module")
def demo_train():
    return make_judge_data(n_train=300, n_test=5, random_state=0).train.drop(columns="score")


def test_matched_buffer_none_when_the_test_copies_training(demo_train):
    match = matched_buffer(demo_train, demo_train.iloc[:50], cv=5)
    assert match.buffer is None
    assert match.similarity_test == pytest.approx(1.0, abs=1e-5)
    assert match.similarity_cv_buffered == match.similarity_cv < 1.0
    assert match.train_fraction == 1.0 and not match.capped


def test_matched_buffer_holds_out_at_the_test_distance(demo_train):
    X_test = _rephrased(demo_train.iloc[:100], keep=0.4)
    match = matched_buffer(demo_train, X_test, cv=5)
    assert match.buffer is not None and not match.capped
    assert match.similarity_test < match.similarity_cv
    assert match.similarity_cv_buffered == pytest.approx(match.similarity_test, abs=0.01)
    # the splitter with that buffer gives what the match says, computed here independently:
    # each held-out row's largest cosine to the rows its fold trains on
    sim = _cosines(demo_train)
    nearest, kept_share = [], []
    for train, test in ConversationKFold(n_splits=5, buffer=match.buffer).split(demo_train):
        nearest.append(sim[np.ix_(test, train)].max(axis=1))
        kept_share.append(len(train) / (len(demo_train) - len(test)))
    assert np.median(np.concatenate(nearest)) == pytest.approx(match.similarity_test, abs=0.01)
    assert min(kept_share) == pytest.approx(match.train_fraction)
    # and the test's own median, in a vocabulary of train and test texts together
    both = pd.concat([demo_train, X_test], ignore_index=True).drop_duplicates(
        ["user_prompt", "response"]
    )
    n_train = int((both.index < len(demo_train)).sum())
    joint = _cosines(both.reset_index(drop=True))
    test_median = np.median(joint[n_train:, :n_train].max(axis=1))
    assert match.similarity_test == pytest.approx(test_median, abs=0.01)
    assert match.train_fraction >= 0.5


def _kept_shares(X, buffer):
    """Each fold's kept share of its training rows, counted from the splitter's folds."""
    plain = ConversationKFold(n_splits=5).split(X)
    buffered = ConversationKFold(n_splits=5, buffer=buffer).split(X)
    return [len(kept) / len(train) for (train, _), (kept, _) in zip(plain, buffered, strict=True)]


def test_matched_buffer_caps_at_half_the_training_rows(demo_train):
    far = _templated_table().drop(columns="template")  # words the demo texts never use
    match = matched_buffer(demo_train, far, cv=5)
    assert match.capped
    assert match.similarity_test < match.similarity_cv_buffered < match.similarity_cv
    shares = _kept_shares(demo_train, match.buffer)
    assert min(shares) >= 0.5 and min(shares) == pytest.approx(match.train_fraction)
    # the cap is the lowest such buffer: also dropping the next closest training conversation
    # of any fold (closeness computed here with scikit-learn) keeps under half of a fold
    sim = _cosines(demo_train)
    conv = pd.factorize(demo_train["user_prompt"] + demo_train["response"])[0]
    closeness = []
    for train, test in ConversationKFold(n_splits=5).split(demo_train):
        closeness.extend(sim[np.ix_(train[~np.isin(conv[train], conv[test])], test)].max(axis=1))
    closeness = np.asarray(closeness)
    below = closeness[closeness < match.buffer - 1e-4].max() - 1e-4
    assert min(_kept_shares(demo_train, below)) < 0.5
    looser = matched_buffer(demo_train, far, cv=5, min_train_fraction=0.8)
    assert min(_kept_shares(demo_train, looser.buffer)) >= 0.8 and looser.buffer > match.buffer


def test_matched_buffer_none_when_even_the_nearest_conversations_are_too_many():
    # every conversation twice, word for word (another system prompt), one copy per fold:
    # dropping only the exact copies already leaves a fold nothing
    X, _ = _table()
    X = pd.concat([X, X.assign(system_prompt="twin")], ignore_index=True)
    groups = np.repeat([0, 1], len(X) // 2)
    far = make_judge_data(n_train=40, n_test=5, random_state=0).train.drop(columns="score")
    with pytest.raises(GbscoreError, match="nothing to train on"):
        list(ConversationKFold(n_splits=2, buffer=0.999).split(X, groups=groups))
    match = matched_buffer(X, far, cv=2, groups=groups)
    assert match.buffer is None and match.capped and match.train_fraction == 1.0
    assert match.similarity_cv == pytest.approx(1.0)  # clipped: float32 products exceed 1


def test_matched_buffer_errors(demo_train):
    with pytest.raises(GbscoreError, match="X_test has no rows"):
        matched_buffer(demo_train, demo_train.iloc[:0])
    with pytest.raises(GbscoreError, match=r"min_train_fraction=0: expected a share in \(0, 1\]"):
        matched_buffer(demo_train, demo_train.iloc[:5], min_train_fraction=0)


def test_config_buffer_checked_and_built():
    for bad in (0, 2, "tight", True):
        with pytest.raises(ConfigError, match=r"cv.buffer=.* must be null, \"auto\" or a cosine"):
            check_config({"cv": {"buffer": bad}})
    assert build_cv({"cv": {"buffer": 0.45}}).buffer == 0.45
    assert check_config(None)["cv"]["buffer"] == "auto"  # the default
    assert build_cv(None).buffer is None
    assert build_cv({"cv": {"buffer": None}}).buffer is None
    # "auto" not yet matched to a test set: the folds are not buffered
    assert build_cv({"cv": {"buffer": "auto"}}).buffer is None
    stack = build_pipeline({"cv": {"buffer": 0.45}})
    assert stack.cv.buffer == 0.45


def test_resolve_cv_buffer(demo_train):
    X_test = _rephrased(demo_train.iloc[:100], keep=0.4)
    config, match = resolve_cv_buffer({"cv": {"buffer": "auto"}}, demo_train, X_test)
    assert match is not None and config["cv"]["buffer"] == match.buffer is not None
    assert match.buffer == matched_buffer(demo_train, X_test, cv=5).buffer
    # without a test set there is nothing to match: no buffer; a buffer given stays as it is
    config, match = resolve_cv_buffer({"cv": {"buffer": "auto"}}, demo_train, None)
    assert match is None and config["cv"]["buffer"] is None
    config, match = resolve_cv_buffer({"cv": {"buffer": 0.3}}, demo_train, X_test)
    assert match is None and config["cv"]["buffer"] == 0.3
    # a test set phrased as train leaves the folds unbuffered
    config, match = resolve_cv_buffer({"cv": {"buffer": "auto"}}, demo_train, demo_train[:40])
    assert match.buffer is None and config["cv"]["buffer"] is None


class RecordingRegressor(RegressorMixin, BaseEstimator):
    """Predicts the training mean; records the user prompts of every fit (sequential folds)."""

    fits = []

    def fit(self, X, y):
        RecordingRegressor.fits.append(sorted(X["user_prompt"]))
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


def test_cross_val_oof_fits_each_fold_on_its_buffered_rows(demo_train):
    y = np.linspace(0, 10, len(demo_train))
    cv = ConversationKFold(n_splits=3, buffer=0.3)
    splits = list(cv.split(demo_train))
    assert any(len(tr) + len(te) < len(demo_train) for tr, te in splits)  # the buffer bites
    RecordingRegressor.fits = []
    oof = cross_val_oof(
        {"rec": RecordingRegressor()}, demo_train, y, cv=cv, eval_sampler=None,
        show_progress=False,
    )  # fmt: skip
    assert RecordingRegressor.fits == [
        sorted(demo_train["user_prompt"].iloc[tr]) for tr, _ in splits
    ]
    # every row is still predicted once, by the fold that held it out
    assert (oof.fold[: len(y)] >= 0).all()
    for k, (train, test) in enumerate(splits):
        np.testing.assert_allclose(oof.preds["rec"].to_numpy()[test], y[train].mean())
        assert (oof.fold[test] == k).all()


def test_oof_file_keeps_the_buffer(demo_train, tmp_path):
    y = np.linspace(0, 10, len(demo_train))
    oof = cross_val_oof(
        {"rec": RecordingRegressor()}, demo_train, y, cv=ConversationKFold(3, buffer=0.3),
        eval_sampler=None, show_progress=False,
    )  # fmt: skip
    assert oof.buffer == 0.3 and oof.summary("rec")["buffer"] == 0.3
    assert OOFPredictions.load(oof.save(tmp_path / "oof.npz")).buffer == 0.3
    plain = cross_val_oof(
        {"rec": RecordingRegressor()}, demo_train, y, cv=3, eval_sampler=None,
        show_progress=False,
    )  # fmt: skip
    assert OOFPredictions.load(plain.save(tmp_path / "plain.npz")).buffer is None
