import time

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, Ridge

from gbscore import ConfigError, GbscoreError, build_pipeline, load_model, save_model
from gbscore.augment import conversation_groups
from gbscore.config import STACK_BASE_PARAMS, stack_configs
from gbscore.datasets import make_judge_data
from gbscore.model_selection import ConversationKFold, OOFPredictions, cross_val_oof, rmse
from gbscore.models import cuda_available, resolve_device
from gbscore.pipeline import fit_shared, transform_shared
from gbscore.stacking import (
    StackedScoreRegressor,
    cross_fit_meta,
    evaluate,
    fit_meta,
    meta_weights,
)

# Model-free encoder and tiny boosters: the real MiniLM path is exercised by the benchmark.
SHARED = {
    "encoder": {"kind": "char-tfidf", "n_components": 32},
    "params": {"interact__n_components": 4, "interact__bilinear_rank": 2},
}
LGBM = {"model__n_estimators": 40, "model__n_jobs": 1}
CAT = {"model__iterations": 40, "model__thread_count": 1}
CV = ConversationKFold(n_splits=3, grouping="conversation")


def _cfg(model, **params):
    return {**SHARED, "model": model, "params": {**SHARED["params"], **params}}


BASES = {
    "lightgbm": _cfg("lightgbm", **LGBM),
    "catboost": _cfg("catboost", **CAT),
    "ridge": _cfg("ridge"),
}


def _bases(emb, configs=BASES):
    return [
        (name, build_pipeline(cfg, metric_embeddings=emb, show_progress=False))
        for name, cfg in configs.items()
    ]


@pytest.fixture(scope="module")
def demo():
    return make_judge_data(n_train=200, n_test=60, random_state=1)


@pytest.fixture(scope="module")
def emb(demo):
    return pd.DataFrame(demo.metric_embeddings, index=demo.metric_names)


@pytest.fixture(scope="module")
def Xy(demo):
    return demo.train.drop(columns="score"), demo.train["score"].to_numpy()


@pytest.fixture(scope="module")
def oof(Xy, emb):
    X, y = Xy
    return cross_val_oof(_bases(emb), X, y, cv=CV, show_progress=False)


@pytest.fixture(scope="module")
def stack(Xy, emb):
    X, y = Xy
    model = StackedScoreRegressor(_bases(emb), cv=CV, show_progress=False)
    return model.fit(X, y)


# -- out-of-fold table ------------------------------------------------------------------


def test_oof_layout(oof, Xy):
    X, y = Xy
    n = len(X)
    assert oof.models == ["lightgbm", "catboost", "ridge"]
    assert oof.n_real == n and not oof.is_shifted[:n].any() and oof.is_shifted[n:].all()
    np.testing.assert_array_equal(oof.y[:n], y)
    np.testing.assert_array_equal(oof.row[:n], np.arange(n))
    assert np.isfinite(oof.preds.to_numpy()).all()
    # every base model predicted the same rows: one shared set of shifted pairs
    assert oof.is_shifted.sum() > n  # ~1.6 mismatched pairs per held-out row
    assert set(oof.relation[n:]) <= {
        "unrelated",
        "related",
        "general",
        "mismatch",
        "opposite",
        "substitutable",
    }
    assert set(oof.fold) == {0, 1, 2}
    # a shifted pair is built from a held-out row of its own fold
    shifted = np.flatnonzero(oof.is_shifted)
    np.testing.assert_array_equal(oof.fold[oof.row[shifted]], oof.fold[shifted])
    scores = oof.scores()
    assert set(scores.index) == set(oof.models)
    assert (scores["rmse_shift"] > 0).all()


def test_oof_matches_fitting_each_fold_by_hand(oof, Xy, emb):
    """The shared featurization gives the same numbers as fitting each pipeline alone."""
    X, y = Xy
    fold = oof.fold[: len(X)]
    train, test = fold != 0, fold == 0
    pipe = build_pipeline(BASES["lightgbm"], metric_embeddings=emb, show_progress=False)
    pipe.fit(X[train].reset_index(drop=True), y[train])
    pred = pipe.predict(X[test].reset_index(drop=True))
    np.testing.assert_allclose(oof.preds["lightgbm"].to_numpy()[: len(X)][test], pred, rtol=1e-9)


def test_save_load_oof(oof, tmp_path):
    path = oof.save(tmp_path / "oof.npz")
    back = OOFPredictions.load(path)
    pd.testing.assert_frame_equal(back.preds, oof.preds)
    for name in ("y", "fold", "is_shifted", "row"):
        np.testing.assert_array_equal(getattr(back, name), getattr(oof, name))
    assert list(back.relation) == list(oof.relation)
    assert back.timings == pytest.approx(oof.timings)
    assert back.grouping == oof.grouping == "conversation"


def test_load_rejects_other_files(tmp_path):
    np.savez(tmp_path / "x.npz", a=np.zeros(3))
    with pytest.raises(GbscoreError, match="not a gbscore out-of-fold file"):
        OOFPredictions.load(tmp_path / "x.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(GbscoreError, match="bad.npz"):
        OOFPredictions.load(tmp_path / "bad.npz")


# -- leakage ------------------------------------------------------------------------------


def _conversation_keys(X):
    cols = [
        c for c in X.columns if c.startswith(("system_prompt__", "user_prompt__", "response__"))
    ]
    assert cols, "the featurized table has no text-embedding columns"
    values = np.round(X[cols].to_numpy(dtype=np.float64), 5)
    return [row.tobytes() for row in values]


class SeenConversationRegressor(RegressorMixin, BaseEstimator):
    """Instrument: predicts 10 for a row whose conversation it was trained on, else 0.

    "Conversation" is the row's text-embedding columns (whatever its metric), so a model that
    trained on a held-out row or on any synthetic copy of it (a metric swap) predicts 10.
    """

    def fit(self, X, y, sample_weight=None):
        self.seen_ = set(_conversation_keys(X))
        self.n_train_ = len(X)
        return self

    def predict(self, X):
        return np.array([10.0 if k in self.seen_ else 0.0 for k in _conversation_keys(X)])


def _with_repeated_conversations(X, y):
    """Give 60 conversations a second row under another metric, so grouping matters."""
    extra = X.iloc[:60].copy()
    metrics = X["metric_name"].to_numpy()
    extra["metric_name"] = np.roll(metrics[:60], 7)
    extra = extra[extra["metric_name"].to_numpy() != metrics[:60]]
    return pd.concat([X, extra], ignore_index=True), np.concatenate([y, y[extra.index]])


@pytest.mark.slow
def test_no_row_is_predicted_by_a_model_that_saw_it(Xy, emb):
    X, y = _with_repeated_conversations(*Xy)
    assert (np.bincount(conversation_groups(X)) > 1).sum() > 30
    # the raw text embeddings must reach the instrument (the default leaves them out)
    params = {"model": SeenConversationRegressor(), "interact__passthrough": "all"}
    configs = {"seen": {**SHARED, "model": "ridge", "params": params}}
    stack = StackedScoreRegressor(
        _bases(emb, configs), cv=CV, show_progress=False, uncertainty=None
    ).fit(X, y)
    oof = stack.oof_
    # real held-out rows and the mismatched pairs built from them: never seen in training
    assert (oof.preds["seen"].to_numpy() == 0).all()
    # the instrument does detect seen conversations: the final refit saw every row
    assert (stack.predict_bases(X)["seen"] == 10).all()
    # and it trained on real + synthetic rows (augmentation ran inside the training fold)
    assert stack.named_estimators_["seen"].steps[-1][1].n_train_ > 2 * len(X)


def test_fold_groups_are_disjoint(oof, Xy):
    X, _ = Xy
    groups = conversation_groups(X)
    fold = oof.fold[: len(X)]
    for g in np.unique(groups):
        assert len(set(fold[groups == g])) == 1


def test_meta_learner_rows(oof, Xy):
    """Default: held-out real rows + held-out mismatched pairs; 'real': real rows only. The
    training augmentation's synthetic rows are in neither (they are not in the OOF table)."""
    n = len(Xy[0])
    shift_aware = fit_meta(oof)
    real = fit_meta(oof, rows="real")
    direct = LinearRegression(positive=True).fit(
        oof.preds[~oof.is_shifted].reset_index(drop=True), oof.y[:n]
    )
    np.testing.assert_allclose(real.coef_, direct.coef_)
    every = LinearRegression(positive=True).fit(oof.preds, oof.y)
    np.testing.assert_allclose(shift_aware.coef_, every.coef_)
    assert not np.allclose(real.coef_, shift_aware.coef_)
    with pytest.raises(ValueError, match="rows must be one of"):
        fit_meta(oof, rows="all")


def test_stack_meta_rows_exclude_training_synthetics(stack, Xy):
    n = len(Xy[0])
    train_sampler = stack.named_estimators_["lightgbm"].named_steps["augment"]
    n_train_synthetic = int(train_sampler.synthetic_mask_.sum())
    # the final estimator saw the OOF rows only: held-out real rows and the held-out pairs
    base_cols = stack.oof_.preds[["lightgbm", "catboost", "ridge"]]
    again = LinearRegression(positive=True).fit(base_cols, stack.oof_.y)
    np.testing.assert_allclose(stack.final_estimator_.coef_, again.coef_)
    assert len(stack.oof_.y) - n < n_train_synthetic  # eval pairs (~1.6n) < train (~2.25n)


# -- meta-learner ---------------------------------------------------------------------------


def test_default_meta_is_non_negative_with_free_intercept(oof):
    meta = fit_meta(oof)
    assert isinstance(meta, LinearRegression) and meta.positive
    assert (meta.coef_ >= 0).all()
    assert list(meta.feature_names_in_) == oof.models
    weights = meta_weights(meta)
    assert set(weights["weights"]) == set(oof.models)
    assert weights["intercept"] == pytest.approx(float(meta.intercept_))
    ridge = fit_meta(oof, Ridge(alpha=1e-6))
    assert isinstance(ridge, Ridge)


def test_meta_fit_on_oof_beats_every_base_in_sample(oof):
    meta = fit_meta(oof)
    stacked = rmse(oof.y, meta.predict(oof.preds))
    assert stacked <= oof.scores()["rmse_shift"].min() + 1e-9


def test_cross_fit_meta_uses_other_folds_only(oof):
    stacked = cross_fit_meta(oof)
    assert np.isfinite(stacked).all()
    other = oof.fold != 1
    meta = LinearRegression(positive=True).fit(
        oof.preds[other].reset_index(drop=True), oof.y[other]
    )
    here = oof.fold == 1
    np.testing.assert_allclose(
        stacked[here], np.clip(meta.predict(oof.preds[here].reset_index(drop=True)), 0, 10)
    )


# -- the stacked estimator -----------------------------------------------------------------


def test_stack_predicts(stack, demo):
    pred = stack.predict(demo.test)
    assert pred.shape == (len(demo.test),) and (pred >= 0).all() and (pred <= 10).all()
    bases = stack.predict_bases(demo.test)
    assert list(bases.columns) == ["lightgbm", "catboost", "ridge"]
    np.testing.assert_allclose(pred, np.clip(stack.final_estimator_.predict(bases), 0, 10))
    np.testing.assert_allclose(pred, stack.combine(bases))
    assert "stack" in stack.oof_.models
    assert (stack.final_estimator_.coef_ >= 0).all()
    assert [
        e is stack.named_estimators_[n]
        for n, e in zip(["lightgbm", "catboost", "ridge"], stack.estimators_, strict=True)
    ] == [True] * 3
    # bases share one fitted featurization
    a, b = stack.named_estimators_["lightgbm"], stack.named_estimators_["ridge"]
    assert a.named_steps["features"] is b.named_steps["features"]


def test_bases_share_the_steps_they_have_alike_and_equal_standalone_fits(Xy, emb, demo):
    """fit_shared: the MLP shares the sampler and the featurizer with the boosters, but not
    their interaction step (it reads the raw blocks); every base predicts as if fitted alone."""
    X, y = Xy
    configs = {
        "lightgbm": BASES["lightgbm"],
        "mlp": _cfg("mlp", model__max_epochs=3, model__hidden=16),
        "ridge": BASES["ridge"],
    }
    pipes = dict(_bases(emb, configs))
    fitted, prefix_seconds, seconds = fit_shared(pipes, X, y)
    assert set(seconds) == set(pipes) and prefix_seconds > 0
    steps = {n: p.named_steps for n, p in fitted.items()}
    for name in ("augment", "features"):
        assert steps["lightgbm"][name] is steps["mlp"][name] is steps["ridge"][name], name
    assert steps["lightgbm"]["interact"] is steps["ridge"]["interact"]
    assert steps["mlp"]["interact"] is not steps["lightgbm"]["interact"]
    assert steps["mlp"]["interact"].passthrough == "all"
    inputs = transform_shared(fitted, demo.test)
    for name, pipe in pipes.items():
        alone = clone(pipe).fit(X, y).predict(demo.test)
        np.testing.assert_allclose(fitted[name].predict(demo.test), alone, rtol=1e-9)
        together = fitted[name].steps[-1][1].predict(inputs[name])
        np.testing.assert_allclose(together, alone, rtol=1e-9)


@pytest.mark.slow
def test_stack_base_equals_standalone_pipeline(stack, Xy, emb, demo):
    X, y = Xy
    pipe = build_pipeline(BASES["catboost"], metric_embeddings=emb, show_progress=False).fit(X, y)
    np.testing.assert_allclose(stack.predict_bases(demo.test)["catboost"], pipe.predict(demo.test))


@pytest.mark.slow
def test_stack_deterministic(stack, Xy, emb, demo):
    again = clone(stack).fit(*Xy)
    np.testing.assert_array_equal(again.predict(demo.test), stack.predict(demo.test))
    pd.testing.assert_frame_equal(again.oof_.preds, stack.oof_.preds)


def test_stack_save_load_round_trip(stack, demo, tmp_path):
    path = save_model(stack, tmp_path / "stack.joblib")
    back, _ = load_model(path)
    np.testing.assert_array_equal(back.predict(demo.test), stack.predict(demo.test))
    np.testing.assert_array_equal(
        back.predict_uncertainty(demo.test), stack.predict_uncertainty(demo.test)
    )


def test_stack_uncertainty(stack, demo):
    sd = stack.predict_uncertainty(demo.test)
    assert sd.shape == (len(demo.test),) and np.isfinite(sd).all() and (sd > 0).all()
    err = np.abs(demo.test_labels["score"].to_numpy() - stack.predict(demo.test))
    # a rough calibration check on unseen data: most errors within two predicted SDs
    assert 0.6 <= np.mean(err <= 2 * sd) <= 1.0


def test_stack_feature_importances(stack):
    tables = stack.feature_importances()
    assert set(tables) == {"lightgbm", "catboost", "ridge"}
    for table in tables.values():
        assert list(table.columns) == ["feature", "importance"]
        assert "cos__metric_text__response" in set(table["feature"])


def test_stack_device_auto_on_this_machine(stack):
    lgbm = stack.named_estimators_["lightgbm"].steps[-1][1]
    cat = stack.named_estimators_["catboost"].steps[-1][1]
    # device_ is in the one vocabulary; LightGBM's own word "gpu" never shows through.
    assert lgbm.device_ == resolve_device("auto", library="lightgbm")
    assert lgbm.device_ in {"cpu", "cuda"}
    assert cat.device_ == ("cuda" if cuda_available() else "cpu")


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason="no CUDA device visible")
def test_stack_on_gpu(Xy, emb, demo):
    # "gpu", the word older config files use, is an alias of "cuda".
    configs = {"catboost": _cfg("catboost", model__device="gpu", **CAT), "ridge": _cfg("ridge")}
    stack = StackedScoreRegressor(_bases(emb, configs), cv=2, show_progress=False).fit(*Xy)
    assert stack.named_estimators_["catboost"].steps[-1][1].device_ == "cuda"
    assert np.isfinite(stack.predict(demo.test)).all()


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason="no CUDA device visible")
def test_parallel_catboost_folds_share_the_gpu(Xy, emb):
    # Each CatBoost GPU fit reserved 95% of the GPU; a second one in parallel died with
    # CUDA "out of memory" (SIGABRT in a joblib worker) before folds got a share each.
    configs = {"catboost": _cfg("catboost", model__device="cuda", **CAT), "ridge": _cfg("ridge")}
    stack = StackedScoreRegressor(_bases(emb, configs), cv=3, n_jobs=4, show_progress=False)
    stack.fit(*Xy)
    cat = stack.named_estimators_["catboost"].steps[-1][1]
    assert cat.device_ == "cuda" and cat.gpu_ram_part is None  # the refit keeps the user's


def test_stack_errors(Xy, emb):
    X, y = Xy
    with pytest.raises(NotFittedError):
        StackedScoreRegressor(_bases(emb)).predict(X)
    with pytest.raises(ValueError, match="final_estimator"):
        StackedScoreRegressor(_bases(emb), final_estimator="lasso").fit(X, y)
    with pytest.raises(ValueError, match="unique"):
        StackedScoreRegressor(_bases(emb) + _bases(emb)[:1]).fit(X, y)
    with pytest.raises(ConfigError, match="non-empty list"):
        cross_val_oof({}, X, y)
    with pytest.raises(ConfigError, match="at least 2"):
        cross_val_oof(_bases(emb)[2:], X, y, cv=1)
    with pytest.raises(ValueError, match="X has 200 rows but y has 3"):
        cross_val_oof(_bases(emb)[2:], X, y[:3])
    with pytest.raises(ConfigError, match="not an estimator"):
        cross_val_oof({"inner": {"model": "stack"}}, X, y, cv=2, show_progress=False)


def test_bases_keep_their_own_settings(emb, tmp_path):
    """Bases are estimators: the stack passes nothing of its own into them."""
    ridge = build_pipeline(
        _cfg("ridge"), metric_embeddings=emb, cache_dir=tmp_path, show_progress=False
    )
    stack = StackedScoreRegressor([("ridge", ridge)], random_state=7)
    params = stack.get_params()
    assert params["ridge__features__embed__cache_dir"] == str(tmp_path)
    assert params["ridge__augment__random_state"] == 0  # the base's seed, not the stack's
    stack.set_params(ridge__model__alpha=3.0)
    assert ridge.get_params()["model__alpha"] == 3.0


@pytest.mark.slow
def test_evaluate_stack_equals_fit_oof(stack, Xy, emb):
    oof, weights = evaluate(StackedScoreRegressor(_bases(emb), cv=CV), *Xy, show_progress=False)
    pd.testing.assert_frame_equal(oof.preds, stack.oof_.preds)
    assert weights == meta_weights(stack.final_estimator_)


# -- parallel paths -------------------------------------------------------------------------


@pytest.mark.slow
def test_joblib_processes_match_sequential_folds(Xy, emb, oof):
    X, y = Xy
    par = cross_val_oof(_bases(emb)[2:], X, y, cv=CV, n_jobs=2, show_progress=False)
    # Worker processes run BLAS on one thread, which changes the last digits of the SVDs in
    # the features; a row predicted by the wrong fold would be off by whole points.
    np.testing.assert_allclose(par.preds["ridge"], oof.preds["ridge"], atol=0.05)
    np.testing.assert_array_equal(par.y, oof.y)
    np.testing.assert_array_equal(par.fold, oof.fold)


def test_parallel_folds_do_not_oversubscribe(monkeypatch):
    from gbscore.model_selection._loop import _limit_threads, _restore_settings

    monkeypatch.setattr("os.cpu_count", lambda: 8)
    pipes = {
        "cat": build_pipeline({"model": "catboost"}),  # thread_count=-1
        "lgbm": build_pipeline({"model": "lightgbm", "params": {"model__n_jobs": 3}}),
    }
    limited = _limit_threads(pipes, 4)
    assert limited["cat"].get_params()["model__thread_count"] == 2
    assert limited["lgbm"].get_params()["model__n_jobs"] == 3  # an explicit count is kept
    assert pipes["cat"].get_params()["model__thread_count"] == -1  # the caller's are untouched
    # CatBoost would reserve 95% of a GPU per fit; four parallel fits get 0.8 / 4 each.
    assert limited["cat"].get_params()["model__gpu_ram_part"] == pytest.approx(0.2)
    assert pipes["cat"].get_params()["model__gpu_ram_part"] is None
    mine = build_pipeline({"model": "catboost", "params": {"model__gpu_ram_part": 0.5}})
    assert _limit_threads({"c": mine}, 4)["c"].get_params()["model__gpu_ram_part"] == 0.5
    # The refitted model gets the caller's settings back.
    restored = _limit_threads(pipes, 4)["cat"]
    _restore_settings(restored, pipes["cat"])
    assert restored.get_params()["model__gpu_ram_part"] is None
    assert restored.get_params()["model__thread_count"] == -1


@pytest.mark.slow
def test_dask_local_cluster(Xy, emb, oof):
    distributed = pytest.importorskip("distributed")
    X, y = Xy
    start = time.perf_counter()
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        res = cross_val_oof(
            _bases(emb)[2:],
            X,
            y,
            cv=CV,
            dask_address=cluster.scheduler_address,
            show_progress=False,
        )
    np.testing.assert_allclose(res.preds["ridge"], oof.preds["ridge"], rtol=1e-9)
    np.testing.assert_array_equal(res.y, oof.y)
    assert time.perf_counter() - start < 120


@pytest.mark.slow  # waits for the connection timeout
def test_dask_unreachable_scheduler(Xy):
    pytest.importorskip("distributed")
    X, y = Xy
    with pytest.raises(GbscoreError, match="cannot reach the Dask scheduler"):
        cross_val_oof(
            [("ridge", build_pipeline(_cfg("ridge")))], X, y, cv=2, dask_address="tcp://127.0.0.1:1"
        )


# -- configuration --------------------------------------------------------------------------


def test_stack_configs_forms():
    cfgs = stack_configs({"model": "stack", "params": {"interact__n_components": 4}})
    assert list(cfgs) == ["catboost_phrasing", "ridge", "lightgbm_phrasing", "lightgbm_rows"]
    assert cfgs["ridge"]["model"] == "ridge"
    assert cfgs["ridge"]["params"] == {"interact__n_components": 4}
    # the default's phrasing bases: boosters whose match features cross-fit by phrasing
    assert cfgs["lightgbm_phrasing"]["model"] == "lightgbm"
    assert cfgs["lightgbm_phrasing"]["params"] == {
        "interact__n_components": 4,
        "features__match__crossfit": "phrasing",
        "features__match__output": "relative",
    }
    # and a LightGBM whose metric-match rows each count once
    assert cfgs["lightgbm_rows"]["model"] == "lightgbm"
    assert cfgs["lightgbm_rows"]["params"] == {
        "interact__n_components": 4,
        "features__match__pooling": "rows",
    }
    # CatBoost gets the stack's faster defaults under the shared params
    assert cfgs["catboost_phrasing"]["model"] == "catboost"
    assert cfgs["catboost_phrasing"]["params"] == {
        **STACK_BASE_PARAMS["catboost"],
        "interact__n_components": 4,
        "features__match__crossfit": "phrasing",
        "features__match__output": "relative",
    }
    cfgs = stack_configs({"stack": {"models": {"catboost": {"params": {"model__rsm": 1.0}}}}})
    assert cfgs["catboost"]["params"]["model__rsm"] == 1.0
    cfgs = stack_configs(
        {
            "model": "stack",
            "stack": {
                "models": {
                    "deep": {"model": "lightgbm", "params": {"model__num_leaves": 63}},
                    "ridge": {},
                }
            },
        }
    )
    assert cfgs["deep"]["model"] == "lightgbm" and cfgs["deep"]["params"]["model__num_leaves"] == 63
    assert cfgs["ridge"]["model"] == "ridge"
    cfgs = stack_configs({"stack": {"models": [{"name": "r2", "model": "ridge"}, "catboost"]}})
    assert list(cfgs) == ["r2", "catboost"]
    # an MLP base gets the shared params; build_pipeline gives it the raw embedding blocks
    cfgs = stack_configs({"params": {"interact__n_components": 4}, "stack": {"models": ["mlp"]}})
    assert cfgs["mlp"]["model"] == "mlp" and cfgs["mlp"]["params"] == {"interact__n_components": 4}
    mlp = build_pipeline(cfgs["mlp"], show_progress=False)
    assert mlp.named_steps["interact"].passthrough == "all"
    assert build_pipeline({"model": "lightgbm"}).named_steps["interact"].passthrough != "all"


def test_build_pipeline_stack(emb):
    model = build_pipeline({"model": "stack", **SHARED}, metric_embeddings=emb)
    assert isinstance(model, StackedScoreRegressor)
    names = [n for n, _ in model.estimators]
    assert names == ["catboost_phrasing", "ridge", "lightgbm_phrasing", "lightgbm_rows"]
    keys = ("crossfit", "output", "pooling")
    match = {
        n: tuple(b.get_params()[f"features__match__{k}"] for k in keys) for n, b in model.estimators
    }
    assert match == {
        "catboost_phrasing": ("phrasing", "relative", "phrasing"),
        "ridge": ("conversation", "probability", "phrasing"),
        "lightgbm_phrasing": ("phrasing", "relative", "phrasing"),
        "lightgbm_rows": ("conversation", "probability", "rows"),
    }
    single = build_pipeline({"model": "lightgbm", **SHARED}, metric_embeddings=emb)
    assert single.get_params()["features__match__pooling"] == "phrasing"
    rows = {**SHARED, "model": "lightgbm"}
    rows["params"] = {**SHARED["params"], "features__match__pooling": "rows"}
    assert build_pipeline(rows, metric_embeddings=emb).get_params()["features__match__pooling"] == (
        "rows"
    )
    for _, base in model.estimators:  # learned matching is on by default
        assert type(base.get_params()["features__contrast"]).__name__ == "ContrastiveMatchFeatures"
    # the default meta-learner: NNLS and boosted trees that rise with every base
    halves = dict(model.final_estimator.estimators)
    assert isinstance(halves["nnls"], LinearRegression) and halves["nnls"].positive
    assert halves["gbm"].monotonic_cst == dict.fromkeys(names, 1)
    assert model.meta_rows == "shift_aware"
    assert model.cv.grouping == "phrasing" and model.cv.n_splits == 5
    for _, base in model.estimators:  # every base gets the metric embeddings
        assert base.get_params()["features__embed__metric_embeddings"] is emb
    assert isinstance(
        build_pipeline({"model": "stack", "stack": {"meta": "ridge"}}).final_estimator, Ridge
    )
    assert build_pipeline({"model": "ridge"}).steps[-1][0] == "model"  # single models unchanged


@pytest.mark.parametrize(
    ("stack", "message"),
    [
        ({"models": ["xgboost"]}, "stack.models.xgboost"),
        ({"models": []}, "empty"),
        ({"models": [3]}, "each entry"),
        ({"meta": "nnls", "weights": 1}, r"unknown config keys \[.weights.\] in .stack."),
        ({"models": {"ridge": {"params": {"model__n_estimators": 3}}}}, "stack base 'ridge'"),
        ({"meta": "lasso"}, "stack.meta='lasso'"),
    ],
)
def test_stack_config_errors(stack, message):
    with pytest.raises(ConfigError, match=message):
        build_pipeline({"model": "stack", "stack": stack})


def test_single_model_report(oof, tmp_path):
    from gbscore.report import write_report

    one = OOFPredictions(
        y=oof.y,
        fold=oof.fold,
        is_shifted=oof.is_shifted,
        relation=oof.relation,
        preds=oof.preds[["ridge"]],
        row=oof.row,
        grouping=oof.grouping,
    )
    metrics = write_report(tmp_path, config={"model": "ridge"}, timings={}, oof=one)
    assert metrics["cv"]["model"] == "ridge"
    real = ~oof.is_shifted
    assert metrics["cv"]["rmse_plain"] == pytest.approx(
        rmse(oof.y[real], oof.preds["ridge"].to_numpy()[real])
    )
    for name in ("per_bin_rmse.csv", "per_bin_rmse.png", "oof_vs_true.png", "hist_predictions.png"):
        assert (tmp_path / name).is_file()


def test_refitted_base_is_a_working_pipeline(stack, demo):
    pipe = stack.named_estimators_["ridge"]
    np.testing.assert_allclose(pipe.predict(demo.test), stack.predict_bases(demo.test)["ridge"])


# -- monotone calibration ---------------------------------------------------------------


def test_cross_fit_calibration_maps_each_fold_with_the_other_folds_only():
    from sklearn.isotonic import IsotonicRegression

    from gbscore.stacking import cross_fit_calibration

    rng = np.random.default_rng(0)
    y = rng.uniform(0, 10, 600)
    pred = 10 * (y / 10) ** 3 + rng.normal(0, 0.3, 600)  # monotone but badly scaled
    fold = np.repeat([0, 1, 2], 200)
    mask = np.ones(600, dtype=bool)
    mapped = cross_fit_calibration(pred, y, fold, mask)
    assert rmse(y, mapped) < 0.5 * rmse(y, pred)
    # Fold 1's map is fitted on folds 0 and 2 only: changing fold 1's labels leaves it as is.
    y_changed = y.copy()
    y_changed[fold == 1] = 10 - y_changed[fold == 1]
    again = cross_fit_calibration(pred, y_changed, fold, mask)
    np.testing.assert_array_equal(again[fold == 1], mapped[fold == 1])
    assert not np.allclose(again[fold == 0], mapped[fold == 0])
    by_hand = IsotonicRegression(y_min=0, y_max=10, out_of_bounds="clip").fit(
        pred[fold != 1], y[fold != 1]
    )
    np.testing.assert_allclose(mapped[fold == 1], by_hand.predict(pred[fold == 1]))
    # Rows outside the mask never shape a map.
    masked = mask & ~((fold == 0) & (y > 5))
    partial = cross_fit_calibration(pred, y, fold, masked)
    by_hand = IsotonicRegression(y_min=0, y_max=10, out_of_bounds="clip").fit(
        pred[masked & (fold != 2)], y[masked & (fold != 2)]
    )
    np.testing.assert_allclose(partial[fold == 2], by_hand.predict(pred[fold == 2]))


def test_stack_calibration_isotonic_is_applied_after_the_final_estimator(stack, oof, demo):
    calibrated = clone(stack).set_params(calibration="isotonic")._fit_final(oof)
    calibrated.named_estimators_ = stack.named_estimators_
    bases = stack.predict_bases(demo.test)
    raw = np.clip(calibrated.final_estimator_.predict(bases), 0, 10)
    out = calibrated.combine(bases)
    np.testing.assert_allclose(out, calibrated.calibrator_.predict(raw))
    assert np.all(np.diff(out[np.argsort(raw, kind="stable")]) >= -1e-12)  # monotone
    assert (out >= 0).all() and (out <= 10).all()
    report = calibrated.calibration_report_
    assert report["used"] is True
    mask = oof.rows_mask("shift_aware")
    # The out-of-fold "stack" column is the cross-fitted map, and the report scores it.
    assert report["rmse_calibrated"] == pytest.approx(
        rmse(oof.y[mask], calibrated.oof_.preds["stack"].to_numpy()[mask])
    )
    assert stack.calibrator_ is None and stack.calibration_report_ is None
    assert meta_weights(calibrated)["calibration"] == report
    assert "calibration" not in meta_weights(stack)
    assert meta_weights(stack)["weights"] == meta_weights(stack.final_estimator_)["weights"]


def test_stack_calibration_auto_keeps_the_map_only_when_it_helps(stack, oof):
    from gbscore.stacking import CALIBRATION_MIN_GAIN

    auto = clone(stack).set_params(calibration="auto")._fit_final(oof)
    report = auto.calibration_report_
    helps = report["rmse_calibrated"] < report["rmse_uncalibrated"] * (1 - CALIBRATION_MIN_GAIN)
    assert report["used"] is helps
    assert (auto.calibrator_ is not None) is helps
    # A base that is a badly scaled monotone copy of the truth: the map must be kept.
    distorted = oof.with_column("ridge", 10 * (oof.y / 10) ** 4)
    only = clone(stack).set_params(
        estimators=[("ridge", stack.estimators[2][1])], calibration="auto"
    )
    fitted = only._fit_final(distorted)
    assert fitted.calibration_report_["used"] is True
    # Held-out labels between the training folds' labels keep it from reaching 0.
    assert (
        fitted.calibration_report_["rmse_calibrated"]
        < 0.9 * (fitted.calibration_report_["rmse_uncalibrated"])
    )


def test_config_calibration_reaches_the_stack_and_bad_values_are_refused(emb):
    model = build_pipeline(
        {**BASES["ridge"], "model": "stack", "stack": {"models": ["ridge"], "calibration": "auto"}},
        metric_embeddings=emb,
        show_progress=False,
    )
    assert model.calibration == "auto"
    with pytest.raises(ConfigError, match="stack.calibration='always'"):
        build_pipeline({"model": "stack", "stack": {"calibration": "always"}})
