"""The stack study: OOF predictions computed once, meta-learner trials on top."""

import json

import numpy as np
import optuna
import pytest

from gbscore import ConfigError
from gbscore.config import build_pipeline, load_config, stack_configs
from gbscore.model_selection import OOFPredictions, rmse
from gbscore.stacking import StackedScoreRegressor, evaluate
from gbscore.tuning import (
    StackObjective,
    TuningData,
    cached_oof,
    export_config,
    make_sampler,
    run_study,
    tune,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def configs():
    encoder = {"kind": "char-tfidf", "n_components": 32, "max_features": 3000}
    return {
        "ridge": {"model": "ridge", "encoder": encoder},
        "lightgbm": {
            "model": "lightgbm",
            "encoder": encoder,
            "params": {"model__n_estimators": 60, "model__n_jobs": 1},
        },
    }


@pytest.fixture(scope="module")
def oof_file(configs, data, tmp_path_factory):
    path = tmp_path_factory.mktemp("oof") / "oof.npz"
    cached_oof(configs, data, path=path, n_splits=3, show_progress=False)
    return path


@pytest.mark.slow
def test_oof_is_computed_once_then_read_from_the_file(configs, data, oof_file):
    before = oof_file.stat().st_mtime_ns, oof_file.read_bytes()
    oof = cached_oof(configs, data, path=oof_file, n_splits=3, show_progress=False)
    assert (oof_file.stat().st_mtime_ns, oof_file.read_bytes()) == before  # not recomputed
    assert oof.models == ["ridge", "lightgbm"]
    assert oof.n_real == len(data.y) and oof.is_shifted.sum() > len(data.y)
    np.testing.assert_array_equal(
        oof.preds.to_numpy(), OOFPredictions.load(oof_file).preds.to_numpy()
    )


def test_cached_oof_refuses_other_data_or_folds(configs, data, oof_file):
    other = TuningData(X=data.X.iloc[:150], y=data.y[:150])
    with pytest.raises(ConfigError, match="computed on other training data"):
        cached_oof(configs, other, path=oof_file, n_splits=3)
    with pytest.raises(
        ConfigError, match="holds 3-fold predictions but this study uses n_splits=5"
    ):
        cached_oof(configs, data, path=oof_file, n_splits=5)
    with pytest.raises(ConfigError, match=r"not of \['catboost'\]"):
        cached_oof({**configs, "catboost": {"model": "catboost"}}, data, path=oof_file, n_splits=3)
    with pytest.raises(
        ConfigError,
        match="holds predictions on folds grouped by 'phrasing' but this study uses 'conversation'",
    ):
        cached_oof(configs, data, path=oof_file, n_splits=3, cv_grouping="conversation")
    with pytest.raises(
        ConfigError, match=r"folds with buffer None but this study uses 0.4 \(cv.buffer\)"
    ):
        cached_oof(configs, data, path=oof_file, n_splits=3, cv_buffer=0.4)
    with pytest.raises(ConfigError, match="cv_buffer='auto' must be matched to a test set first"):
        cached_oof(configs, data, path=oof_file, n_splits=3, cv_buffer="auto")


def test_cached_oof_refuses_other_base_configs_or_seed(configs, data, oof_file, tmp_path):
    swapped = {"ridge": configs["lightgbm"], "lightgbm": configs["ridge"]}
    with pytest.raises(ConfigError, match=r"base\(s\) \['lightgbm', 'ridge'\] made with other"):
        cached_oof(swapped, data, path=oof_file, n_splits=3)
    tweaked = {**configs, "lightgbm": {**configs["lightgbm"], "params": {"model__n_jobs": 1}}}
    with pytest.raises(ConfigError, match=r"base\(s\) \['lightgbm'\] made with other"):
        cached_oof(tweaked, data, path=oof_file, n_splits=3)
    with pytest.raises(ConfigError, match="random_state=0 but this study uses 7"):
        cached_oof(configs, data, path=oof_file, n_splits=3, random_state=7)
    # A study over some of the file's bases, with their configs, reuses it.
    oof = cached_oof({"ridge": configs["ridge"]}, data, path=oof_file, n_splits=3)
    assert oof.models == ["ridge", "lightgbm"]
    # A file that does not record what made it is not trusted.
    unrecorded = OOFPredictions.load(oof_file)
    unrecorded.provenance = {}
    unrecorded.save(tmp_path / "old.npz")
    with pytest.raises(ConfigError, match="does not record its configs or seed"):
        cached_oof(configs, data, path=tmp_path / "old.npz", n_splits=3)


@pytest.mark.slow
def test_stack_trials_refit_only_the_meta_learner(configs, oof_file, sqlite_url, study_name):
    oof = OOFPredictions.load(oof_file)
    objective = StackObjective(oof, configs=configs)
    result = run_study(
        objective,
        study_name=study_name,
        storage=sqlite_url,
        n_trials=25,
        sampler=make_sampler(0),
        show_progress=False,
    )
    trials = result.study.get_trials()
    assert len(trials) == 25
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) >= 20
    for t in complete:
        chosen = [m for m in oof.models if t.params[f"use__{m}"]]
        stack = t.user_attrs["config"]["stack"]
        assert list(stack["models"]) == chosen
        assert ("meta_alpha" in t.params) == (t.params["meta"] == "ridge")
        # Every held-out row is scored by a meta-learner fitted on the other folds.
        assert t.value == pytest.approx(
            objective.evaluate(chosen, stack["meta"], stack["meta_alpha"], stack["meta_rows"])[0]
        )
    for t in trials:
        if t.state.name == "PRUNED":
            assert not any(t.params[f"use__{m}"] for m in oof.models)


def test_choosing_no_model_prunes_the_trial(configs, oof_file):
    study = optuna.create_study()
    study.enqueue_trial(
        {"use__ridge": False, "use__lightgbm": False, "meta": "nnls", "meta_rows": "real"}
    )
    study.optimize(StackObjective(OOFPredictions.load(oof_file), configs=configs), n_trials=1)
    assert study.trials[0].state.name == "PRUNED"


@pytest.mark.slow
def test_exported_stack_config_reproduces_the_trial(configs, data, oof_file, tmp_path):
    oof = OOFPredictions.load(oof_file)
    objective = StackObjective(oof, configs=configs)
    study = optuna.create_study()
    study.enqueue_trial(
        {
            "use__ridge": True,
            "use__lightgbm": True,
            "meta": "ridge",
            "meta_alpha": 3.0,
            "meta_rows": "shift_aware",
        }
    )
    study.optimize(objective, n_trials=1)
    path = export_config(study, tmp_path / "stack.json")
    config = load_config(path)
    assert config["model"] == "stack"
    assert config["stack"]["meta"] == "ridge" and config["stack"]["meta_alpha"] == 3.0
    assert config["stack"]["meta_gate"] is None  # what the trial scored: one combination
    bases = stack_configs(config)
    assert sorted(bases) == ["lightgbm", "ridge"]
    assert bases["lightgbm"]["params"] == configs["lightgbm"]["params"]

    # The exported config, built as `gbscore run --config` builds it, cross-validates to the
    # same base columns and the same stack RMSE as the trial.
    stack = build_pipeline(config, metric_embeddings=data.metric_embeddings, show_progress=False)
    assert isinstance(stack, StackedScoreRegressor)
    assert sorted(name for name, _ in stack.estimators) == ["lightgbm", "ridge"]
    again, weights = evaluate(stack, data.X, data.y, show_progress=False)
    assert again.grouping == oof.grouping and again.n_splits == oof.n_splits == 3
    np.testing.assert_allclose(
        again.preds[oof.models].to_numpy(), oof.preds.to_numpy(), rtol=1e-6, atol=1e-6
    )
    assert weights["meta"] == "Ridge" and set(weights["weights"]) == {"ridge", "lightgbm"}
    assert rmse(again.y, again.preds["stack"]) == pytest.approx(study.best_value, rel=1e-6)


def test_tune_stack_end_to_end(configs, data, oof_file, sqlite_url, study_name, tmp_path):
    out = tmp_path / "best-stack.json"
    result = tune(
        "stack",
        data=data,
        stack_configs=configs,
        n_splits=3,
        storage=sqlite_url,
        study_name=study_name,
        n_trials=5,
        oof_path=oof_file,
        export=out,
        show_progress=False,
    )
    assert result.n_run == 5
    exported = json.loads(out.read_text())
    assert exported["model"] == "stack" and set(exported["stack"]["models"]) <= set(configs)
    # The first trial is the untuned stack: every base, the default meta-learner and rows.
    first = result.study.trials[0]
    assert first.params == {
        "use__ridge": True,
        "use__lightgbm": True,
        "meta": "nnls_gbm",
        "meta_rows": "shift_aware",
    }
    untuned = StackObjective(OOFPredictions.load(oof_file)).evaluate(
        ["ridge", "lightgbm"], meta="nnls_gbm", rows="shift_aware"
    )[0]
    assert first.value == pytest.approx(untuned)
    assert result.study.best_value <= first.value


def test_stack_default_params_follow_the_stack_section(oof_file):
    objective = StackObjective(OOFPredictions.load(oof_file))
    assert objective.default_params({"meta": "ridge", "meta_alpha": 3, "meta_rows": "real"}) == {
        "use__ridge": True,
        "use__lightgbm": True,
        "meta": "ridge",
        "meta_alpha": 3.0,
        "meta_rows": "real",
    }
    narrow = StackObjective(OOFPredictions.load(oof_file), metas=("nnls",))
    with pytest.raises(ConfigError, match=r"stack.meta='nnls_gbm' is not searched.*\['nnls'\]"):
        narrow.default_params()


def test_default_stack_bases_are_those_gbscore_run_builds():
    """The stack study's default bases are the bases of the default `gbscore run` stack; a
    regressor param of the base config (LightGBM's n_jobs) reaches no other regressor."""
    from gbscore.config import DEFAULT_CONFIG, merge_config
    from gbscore.tuning import default_stack_configs

    encoder = {"kind": "char-tfidf", "n_components": 16}
    base = merge_config(DEFAULT_CONFIG, {"encoder": encoder, "params": {"model__n_jobs": 1}})
    ours = default_stack_configs(base)
    assert ours == stack_configs({"model": "stack", "encoder": encoder})
    threaded = default_stack_configs(base, model_threads=2)
    assert threaded["lightgbm_rows"]["params"]["model__n_jobs"] == 2
    assert threaded["catboost_phrasing"]["params"]["model__thread_count"] == 2
    assert threaded["ridge"]["params"] == {}
    with_mlp = merge_config(base, {"stack": {"models": ["ridge", "mlp"]}})
    assert default_stack_configs(with_mlp, model_threads=2)["mlp"]["params"]["model__n_jobs"] == 2
