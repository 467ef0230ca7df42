import json
import re
import weakref
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin, clone
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import FeatureUnion
from sklearn.utils._param_validation import InvalidParameterError

from gbscore import ConfigError, build_pipeline, cross_val_oof, load_model, save_model
from gbscore.config import load_config
from gbscore.datasets import make_judge_data
from gbscore.model_selection import ConversationKFold, per_bin_rmse, rmse
from gbscore.pipeline import ScorePipeline, fit_shared, transform_shared

# The model-free encoder keeps these tests fast; the real MiniLM path is covered by slow tests.
FAST = {
    "model": "lightgbm",
    "encoder": {"kind": "char-tfidf", "n_components": 32},
    "params": {
        "model__n_estimators": 60,
        "interact__n_components": 4,
        "interact__bilinear_rank": 2,
    },
}


@pytest.fixture(scope="module")
def demo():
    return make_judge_data(n_train=240, n_test=90, random_state=1)


@pytest.fixture(scope="module")
def fitted(demo):
    pipe = build_pipeline(FAST, metric_embeddings=_emb(demo), show_progress=False)
    X, y = demo.train.drop(columns="score"), demo.train["score"].to_numpy()
    return pipe.fit(X, y)


def _emb(demo):
    return pd.DataFrame(demo.metric_embeddings, index=demo.metric_names)


def test_predict_one_score_per_row_in_order(fitted, demo):
    pred = fitted.predict(demo.test)
    assert pred.shape == (len(demo.test),)
    assert np.isfinite(pred).all() and pred.min() >= 0 and pred.max() <= 10
    # order: predicting a reversed table gives the reversed predictions
    rev = fitted.predict(demo.test.iloc[::-1].reset_index(drop=True))
    np.testing.assert_allclose(rev[::-1], pred, rtol=1e-6, atol=1e-6)


def test_sampler_adds_rows_in_fit_only(fitted, demo):
    sampler = fitted.named_steps["augment"]
    assert sampler.synthetic_mask_.sum() > len(demo.train)
    # the model saw real + synthetic rows; predict transforms exactly the rows given
    Xt = fitted[:-1].transform(demo.test)
    assert len(Xt) == len(demo.test)


def test_feature_names_reach_the_model(fitted):
    names = fitted[:-1].get_feature_names_out()
    assert "cos__metric_text__response" in names
    assert "metric_family" in names
    assert len(names) == len(fitted[-1].feature_importances_)


@pytest.mark.slow
def test_augmentation_teaches_mismatch(demo):
    """Without negatives the model predicts ~9 for everything; with them, mismatched test rows
    (per the demo's simulated judge) get clearly lower scores than matched ones."""
    X, y = demo.train.drop(columns="score"), demo.train["score"].to_numpy()
    kinds = demo.test_labels["kind"].to_numpy()
    pipe = build_pipeline(FAST, metric_embeddings=_emb(demo), show_progress=False).fit(X, y)
    pred = pipe.predict(demo.test)
    assert pred[kinds == "mismatched"].mean() < pred[kinds == "matched"].mean() - 0.3
    none = {**FAST, "params": {**FAST["params"], "augment": "passthrough"}}
    flat = (
        build_pipeline(none, metric_embeddings=_emb(demo), show_progress=False)
        .fit(X, y)
        .predict(demo.test)
    )
    assert rmse(demo.test_labels["score"], pred) < rmse(demo.test_labels["score"], flat)


@pytest.mark.slow
def test_deterministic(demo):
    X, y = demo.train.drop(columns="score"), demo.train["score"].to_numpy()
    a = (
        build_pipeline(FAST, metric_embeddings=_emb(demo), show_progress=False)
        .fit(X, y)
        .predict(demo.test)
    )
    b = (
        build_pipeline(FAST, metric_embeddings=_emb(demo), show_progress=False)
        .fit(X, y)
        .predict(demo.test)
    )
    np.testing.assert_array_equal(a, b)


def test_save_load_round_trip(fitted, demo, tmp_path):
    path = save_model(fitted, tmp_path / "m.joblib", metadata={"note": "x"})
    model, meta = load_model(path)
    assert meta == {"note": "x"}
    np.testing.assert_array_equal(model.predict(demo.test), fitted.predict(demo.test))


def test_load_model_errors(tmp_path):
    with pytest.raises(Exception, match="does not exist"):
        load_model(tmp_path / "nope.joblib")
    bad = tmp_path / "bad.joblib"
    bad.write_bytes(b"not a model")
    with pytest.raises(Exception, match="not a readable gbscore model file"):
        load_model(bad)


def test_route_sample_weight_reaches_regressor(demo):
    from sklearn.base import BaseEstimator, RegressorMixin

    from gbscore.pipeline import ScorePipeline

    class WeightSpy(RegressorMixin, BaseEstimator):
        def fit(self, X, y, sample_weight=None):
            self.sample_weight_ = sample_weight
            return self

        def predict(self, X):
            return np.zeros(len(X))

    pipe = build_pipeline(FAST, metric_embeddings=_emb(demo), show_progress=False)
    pipe = ScorePipeline(pipe.steps[:1] + [("model", WeightSpy())], route_sample_weight=True)
    pipe.set_params(augment__synthetic_weight=0.25)
    X, y = demo.train.drop(columns="score"), demo.train["score"].to_numpy()
    pipe.fit(X, y)
    w = pipe[-1].sample_weight_
    mask = pipe.named_steps["augment"].synthetic_mask_
    assert len(w) == len(mask) and set(w[mask]) == {0.25} and set(w[~mask]) == {1.0}


@pytest.mark.slow
def test_cross_val_oof_shift_aware(demo):
    X, y = demo.train.drop(columns="score"), demo.train["score"].to_numpy()
    pipe = build_pipeline(FAST, metric_embeddings=_emb(demo), show_progress=False)
    res = cross_val_oof({"m": pipe}, X, y, cv=3, random_state=0, show_progress=False)
    n = len(y)
    p = res.preds["m"].to_numpy()
    assert np.isfinite(p).all() and (res.fold >= 0).all()
    assert res.is_shifted.sum() > n  # ~1.6 mismatched pairs per held-out row
    shift_y = res.y[res.is_shifted]
    assert shift_y.mean() < y.mean() - 3  # the held-out pairs are mismatched, labelled low
    scores = res.scores().loc["m"]
    assert scores.rmse_shift == pytest.approx(np.sqrt(np.mean((res.y - p) ** 2)))
    assert scores.rmse_plain == pytest.approx(np.sqrt(np.mean((y - p[:n]) ** 2)))
    s = res.summary("m")
    assert {"rmse_plain", "rmse_shift", "per_bin_plain", "per_bin_shift"} <= set(s)
    assert s["grouping"] == "phrasing"
    json.dumps(s)  # JSON-ready


@pytest.mark.slow
@pytest.mark.parametrize("grouping", ["conversation", "phrasing"])
def test_cross_val_oof_never_scores_on_trained_conversations(demo, grouping):
    """Every held-out row's conversation is absent from that fold's training rows."""
    from gbscore.augment import conversation_groups

    X, y = demo.train.drop(columns="score"), demo.train["score"].to_numpy()
    groups = conversation_groups(X)
    res = cross_val_oof(
        {"m": build_pipeline(FAST, metric_embeddings=_emb(demo), show_progress=False)},
        X,
        y,
        cv=ConversationKFold(3, grouping=grouping),
        show_progress=False,
    )
    fold = res.fold[: len(y)]
    for k in range(3):
        assert not set(groups[fold == k]) & set(groups[fold != k])


@pytest.mark.slow
def test_cross_val_oof_with_given_shifted_set(demo):
    X, y = demo.train.drop(columns="score"), demo.train["score"].to_numpy()
    shifted = (demo.test.iloc[:40], demo.test_labels["score"].to_numpy()[:40])
    res = cross_val_oof(
        {"m": build_pipeline(FAST, metric_embeddings=_emb(demo), show_progress=False)},
        X,
        y,
        cv=2,
        shifted_set=shifted,
        show_progress=False,
    )
    assert res.is_shifted.sum() == 40 and set(res.relation[res.is_shifted]) == {"given"}
    np.testing.assert_array_equal(res.y[res.is_shifted].sum(), shifted[1].sum())


def test_cross_val_oof_bad_folds(demo):
    X, y = demo.train.drop(columns="score"), demo.train["score"].to_numpy()
    with pytest.raises(ConfigError, match="at least 2"):
        cross_val_oof(build_pipeline(FAST), X, y, cv=1)


def test_per_bin_rmse():
    t = per_bin_rmse([0, 1, 9, 10, 10], [0, 3, 9, 9, 10])
    assert t["n"].sum() == 5
    assert t.set_index("bin").loc["0-3", "rmse"] == pytest.approx(np.sqrt(2))
    assert t.set_index("bin").loc["9.5-10", "rmse"] == pytest.approx(np.sqrt(0.5))


def test_config_errors(tmp_path):
    p = tmp_path / "c.json"
    p.write_text("{bad json")
    with pytest.raises(ConfigError, match="line 1, column 2"):
        load_config(p)
    p.write_text(json.dumps({"modle": "lightgbm"}))
    with pytest.raises(ConfigError, match=r"unknown config keys \['modle'\]"):
        load_config(p)
    with pytest.raises(ConfigError, match="model='xgboost' is not one of"):
        build_pipeline({"model": "xgboost"})
    with pytest.raises(ConfigError, match="encoder.kind='bert'"):
        build_pipeline({"encoder": {"kind": "bert"}})
    with pytest.raises(ConfigError, match="config 'params'"):
        build_pipeline({"model": "ridge", "params": {"model__no_such_param": 1}})
    with pytest.raises(ConfigError, match=r"unknown config keys \['folds'\] in 'cv'"):
        build_pipeline({"cv": {"folds": 3}})
    with pytest.raises(ConfigError, match="cv.grouping='topic' is not one of"):
        build_pipeline({"cv": {"grouping": "topic"}})
    with pytest.raises(ConfigError, match="cv.n_splits=1 must be"):
        build_pipeline({"cv": {"n_splits": 1}})
    with pytest.raises(ConfigError, match="'kind' must be one of"):
        build_pipeline({"model": "ridge", "params": {"augment__label_policy": {"kind": "x"}}})


def test_one_default_everywhere(tmp_path):
    """A config without "model" means the stack in build_pipeline and in every command."""
    from gbscore import StackedScoreRegressor

    p = tmp_path / "c.json"
    p.write_text(json.dumps({"random_state": 3}))
    assert isinstance(build_pipeline(load_config(p)), StackedScoreRegressor)
    assert isinstance(build_pipeline({}), StackedScoreRegressor)


def test_readme_config_examples_build_what_they_say():
    readme = Path(__file__).resolve().parents[1] / "README.md"
    blocks = re.findall(r"```json\n(.*?)```", readme.read_text(encoding="utf-8"), re.S)
    assert blocks
    for block in blocks:
        build_pipeline(json.loads(block), show_progress=False)
    # The GPU section's file: the default stack, with only the boosters moved to the CPU.
    cpu = build_pipeline(json.loads(next(b for b in blocks if "model__device" in b)))
    default = build_pipeline({})
    assert [n for n, _ in cpu.estimators] == [n for n, _ in default.estimators]
    for (name, pipe), (_, ref) in zip(cpu.estimators, default.estimators, strict=True):
        mine, theirs = pipe.get_params(), ref.get_params()
        devices = [k for k in mine if k.endswith("model__device")]
        assert all(mine[k] == "cpu" for k in devices), name
        assert bool(devices) == (name != "ridge")
        scalars = (str, int, float, type(None))  # the leaves; steps and lists hold objects
        same = [k for k, v in theirs.items() if not k.endswith("device") and isinstance(v, scalars)]
        assert {k: mine[k] for k in same} == {k: theirs[k] for k in same}, name


def test_tuned_label_policy_spec_is_resolved():
    from gbscore.augment import BandLabels

    spec = {"kind": "band", "band": [0.5, 3.5]}
    pipe = build_pipeline({"model": "ridge", "params": {"augment__label_policy": spec}})
    policy = pipe.named_steps["augment"].label_policy
    assert isinstance(policy, BandLabels) and policy.band == (0.5, 3.5)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["catboost", "ridge"])
def test_other_regressors_in_pipeline(demo, model):
    cfg = {
        **FAST,
        "model": model,
        "params": {k: v for k, v in FAST["params"].items() if not k.startswith("model")},
    }
    if model == "catboost":
        cfg["params"]["model__iterations"] = 60
    X, y = demo.train.drop(columns="score"), demo.train["score"].to_numpy()
    pred = (
        build_pipeline(cfg, metric_embeddings=_emb(demo), show_progress=False)
        .fit(X, y)
        .predict(demo.test)
    )
    assert pred.shape == (len(demo.test),) and (0 <= pred).all() and (pred <= 10).all()


def test_optional_contrastive_features_switch():
    from gbscore.features import ContrastiveMatchFeatures

    pipe = build_pipeline({"model": "ridge", "features": {"contrastive": False}})
    assert dict(pipe.named_steps["features"].transformer_list)["contrast"] == "drop"
    pipe = build_pipeline({"model": "ridge"})  # on by default
    contrast = dict(pipe.named_steps["features"].transformer_list)["contrast"]
    assert isinstance(contrast, ContrastiveMatchFeatures)
    with pytest.raises(ConfigError, match="features.contrastive='yes' must be true or false"):
        build_pipeline({"features": {"contrastive": "yes"}})
    with pytest.raises(ConfigError, match=r"unknown config keys \['pca'\] in 'features'"):
        build_pipeline({"features": {"pca": True}})


def test_metric_match_phrasing_crossfit_holds_out_whole_templates():
    """With phrasing folds a row's template siblings are not in its fitting fold."""
    from gbscore.features import MetricMatchFeatures

    rows = []
    templates = [
        "how do I apply for the {t} subsidy online step by step",
        "write a funny poem about {t} for my little sister",
        "is it true that {t} was banned last year in my state",
        "compare the government and private schemes for {t} please",
    ]
    topics = ["rice", "wheat", "cotton", "solar", "loans", "tickets", "fees", "water"]
    for ti, template in enumerate(templates):
        for topic in topics:
            text = template.format(t=topic)
            rows.append(("metric_" + str(ti), text, "reply: " + text))
    X = pd.DataFrame(rows, columns=["metric_name", "user_prompt", "response"])
    X["system_prompt"] = None
    y = np.full(len(X), 9.0)
    conv = MetricMatchFeatures(n_splits=2).fit_transform(X, y)
    phr = MetricMatchFeatures(n_splits=2, crossfit="phrasing").fit_transform(X, y)
    # column 0 is P(own metric): near-copies in the fitting fold make it confident
    assert conv[:, 0].mean() > 0.5 > phr[:, 0].mean()


# -- fit_shared: what stays in memory --------------------------------------------------------

_OUTPUTS = []  # weak references to every frame a _Tracked step returned


class _Tracked(TransformerMixin, BaseEstimator):
    """Adds ``shift``; remembers (weakly) each frame it returns."""

    def __init__(self, shift=0.0):
        self.shift = shift

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        out = pd.DataFrame(np.asarray(X, dtype=float) + self.shift)
        _OUTPUTS.append(weakref.ref(out))
        return out


class _CountsAlive(RegressorMixin, BaseEstimator):
    """Counts, when fitted, the _Tracked outputs still alive; predicts the first column."""

    def fit(self, X, y):
        self.alive_ = sum(ref() is not None for ref in _OUTPUTS)
        return self

    def predict(self, X):
        return np.asarray(X, dtype=float)[:, 0]


def _tracked_pipe(second_shift):
    steps = [("a", _Tracked(1.0)), ("b", _Tracked(second_shift)), ("m", _CountsAlive())]
    return ScorePipeline(steps)


def test_fit_shared_keeps_only_the_outputs_later_pipelines_read():
    """p1 and p2 share both steps, p3 only the first. While p1 and p2 fit, the first step's
    output is kept for p3; while p3 fits, nothing but its own input is alive, as when each
    pipeline is fitted alone. Predictions equal standalone fits."""
    _OUTPUTS.clear()
    X, y = pd.DataFrame({"x": [0.0, 1.0, 2.0]}), np.array([0.0, 1.0, 2.0])
    pipes = {"p1": _tracked_pipe(10.0), "p2": _tracked_pipe(10.0), "p3": _tracked_pipe(20.0)}
    fitted, _, _ = fit_shared(pipes, X, y)
    assert [fitted[n].named_steps["m"].alive_ for n in pipes] == [2, 2, 1]
    assert fitted["p1"].named_steps["b"] is fitted["p2"].named_steps["b"]
    assert fitted["p1"].named_steps["a"] is fitted["p3"].named_steps["a"]
    inputs = transform_shared(fitted, X)
    for name, pipe in pipes.items():
        alone = pipe.fit(X, y).predict(X)
        np.testing.assert_array_equal(fitted[name].predict(X), alone)
        np.testing.assert_array_equal(fitted[name].steps[-1][1].predict(inputs[name]), alone)
    np.testing.assert_array_equal(fitted["p3"].predict(X), [21.0, 22.0, 23.0])


def test_fit_shared_validates_each_pipeline_like_fit():
    pipe = _tracked_pipe(1.0).set_params(route_sample_weight="yes")
    with pytest.raises(InvalidParameterError, match="route_sample_weight"):
        fit_shared({"p": pipe}, pd.DataFrame({"x": [0.0, 1.0]}), np.array([0.0, 1.0]))


_MEMBER_FITS = []  # the shift of every _CrossFitted member fitted
_MEMBER_OUTPUTS = []  # weak references to every training output of a _CrossFitted member


class _CrossFitted(TransformerMixin, BaseEstimator):
    """Adds ``shift``; like a cross-fitted member, its training output differs from
    ``transform`` (by +0.5), so a reused output must be the one ``fit_transform`` gave."""

    def __init__(self, shift=0.0):
        self.shift = shift

    def fit(self, X, y=None):
        _MEMBER_FITS.append(self.shift)
        self.n_features_in_ = X.shape[1]
        return self

    def fit_transform(self, X, y=None):
        out = self.fit(X, y).transform(X) + 0.5
        _MEMBER_OUTPUTS.append(weakref.ref(out))
        return out

    def transform(self, X):
        return pd.DataFrame(np.asarray(X, dtype=float) + self.shift, columns=["v"], index=X.index)

    def get_feature_names_out(self, input_features=None):
        return np.array(["v"], dtype=object)


class _CountsMembersAlive(LinearRegression):
    """A linear regression that counts, when fitted, the member outputs still alive."""

    def fit(self, X, y, sample_weight=None):
        self.alive_ = sum(ref() is not None for ref in _MEMBER_OUTPUTS)
        return super().fit(X, y, sample_weight)


def _union_pipe(vary_shift, first_shift=1.0):
    union = FeatureUnion(
        [("same", _CrossFitted(100.0)), ("off", "drop"), ("vary", _CrossFitted(vary_shift))],
        transformer_weights={"same": 3.0, "vary": 2.0},
    ).set_output(transform="pandas")
    steps = [("a", _Tracked(first_shift)), ("u", union), ("m", _CountsMembersAlive())]
    return ScorePipeline(steps)


def test_fit_shared_fits_union_members_set_alike_once_per_input():
    """p1 and p2 differ only in the union's "vary" member; p3 feeds the union another
    input. "same" is fitted once for p1 and p2 and again for p3; each fit equals a fit of
    that pipeline alone, and only member outputs a later union reuses are kept."""
    X, y = pd.DataFrame({"x": [0.0, 1.0, 2.0, 4.0]}), np.array([0.0, 1.0, 3.0, 2.0])
    pipes = {"p1": _union_pipe(10.0), "p3": _union_pipe(10.0, 2.0), "p2": _union_pipe(20.0)}
    _MEMBER_FITS.clear()
    _MEMBER_OUTPUTS.clear()
    fitted, _, _ = fit_shared(pipes, X, y)
    assert sorted(_MEMBER_FITS) == [10.0, 10.0, 20.0, 100.0, 100.0]
    u1, u2, u3 = (dict(fitted[n].named_steps["u"].transformer_list) for n in ("p1", "p2", "p3"))
    assert u1["same"] is u2["same"] and u1["vary"] is not u2["vary"]
    assert u3["same"] is not u1["same"] and u3["vary"] is not u1["vary"]
    assert u1["off"] == "drop" and type(u1["same"]) is _CrossFitted
    # While p1 and p3 fit, only p1's "same" output (for p2) is kept; then nothing.
    assert [fitted[n].named_steps["m"].alive_ for n in ("p1", "p3", "p2")] == [1, 1, 0]
    for name, pipe in pipes.items():
        union = clone(pipe.named_steps["u"])
        alone_features = union.fit_transform(pipe.named_steps["a"].fit_transform(X), y)
        assert list(fitted[name].named_steps["u"].get_feature_names_out()) == list(
            alone_features.columns
        )
        alone = clone(pipe).fit(X, y)
        np.testing.assert_allclose(
            alone.named_steps["m"].coef_, fitted[name].named_steps["m"].coef_
        )
        np.testing.assert_allclose(fitted[name].predict(X), alone.predict(X))


class _FitThenTransform:
    """A duck-typed member: no get_params (not cloned, so not shared), no fit_transform,
    no get_feature_names_out (the union names its columns from the frame)."""

    def set_output(self, transform=None):
        return self

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return pd.DataFrame({"sq": np.asarray(X, dtype=float)[:, 0] ** 2}, index=X.index)


def test_fit_shared_takes_the_union_members_scikit_learn_takes():
    X, y = pd.DataFrame({"x": [0.0, 1.0, 2.0, 4.0]}), np.array([0.0, 1.0, 3.0, 2.0])

    def pipe(vary):
        union = FeatureUnion(
            [("plain", _FitThenTransform()), ("vary", _CrossFitted(vary))]
        ).set_output(transform="pandas")
        return ScorePipeline([("u", union), ("m", LinearRegression())])

    pipes = {"p1": pipe(1.0), "p2": pipe(2.0)}
    fitted, _, _ = fit_shared(pipes, X, y)
    for name, p in pipes.items():
        alone = clone(p).fit(X, y)
        assert list(fitted[name].named_steps["m"].feature_names_in_) == ["plain__sq", "vary__v"]
        np.testing.assert_allclose(fitted[name].predict(X), alone.predict(X))


def test_fit_shared_leaves_a_parallel_union_whole():
    X, y = pd.DataFrame({"x": [0.0, 1.0, 2.0, 4.0]}), np.array([0.0, 1.0, 3.0, 2.0])
    pipes = {"p1": _union_pipe(10.0), "p2": _union_pipe(20.0)}
    for pipe in pipes.values():
        pipe.named_steps["u"].set_params(n_jobs=2)
    fitted, _, _ = fit_shared(pipes, X, y)
    u1, u2 = (dict(fitted[n].named_steps["u"].transformer_list) for n in pipes)
    assert u1["same"] is not u2["same"]
    for name, pipe in pipes.items():
        np.testing.assert_allclose(fitted[name].predict(X), clone(pipe).fit(X, y).predict(X))
