import json
import logging
import re

import numpy as np
import optuna
import pytest

from gbscore.augment import conversation_groups
from gbscore.config import build_cv, build_pipeline, check_config, load_config
from gbscore.features import memory_cache_info
from gbscore.model_selection import ConversationKFold, cross_val_oof, table_groups
from gbscore.tuning import (
    PipelineObjective,
    best_config,
    export_config,
    make_pruner,
    make_sampler,
    run_study,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)

# Good negatives: a trial with these learns that mismatched pairs score low.
GOOD = {
    "augment__swap_random": 1.5,
    "augment__swap_near": 0.5,
    "augment__swap_far": 0.5,
    "augment__response_mismatch": 0.3,
    "augment__label_policy": "band",
}
# No negatives at all: the model predicts ~9 for the held-out mismatched pairs.
NO_NEGATIVES = {
    "augment__swap_random": 0.0,
    "augment__swap_near": 0.0,
    "augment__swap_far": 0.0,
    "augment__text_shuffle": 0.0,
    "augment__response_mismatch": 0.0,
}


def _fixed_space(params):
    return lambda trial: dict(params)


def _objective(data, config, **kw):
    return PipelineObjective(
        data.X,
        data.y,
        model=config["model"],
        base_config=config,
        metric_embeddings=data.metric_embeddings,
        **kw,
    )


@pytest.mark.slow
def test_tiny_study_runs_and_stores_what_export_needs(data, fast, sqlite_url, study_name):
    objective = _objective(data, fast["ridge"])
    result = run_study(
        objective,
        study_name=study_name,
        storage=sqlite_url,
        n_trials=2,
        sampler=make_sampler(0),
        show_progress=False,
    )
    trials = result.study.get_trials()
    assert result.n_run == 2 and [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    for t in trials:
        assert np.isfinite(t.value) and t.value == t.user_attrs["rmse_shift"]
        assert t.user_attrs["folds_done"] == 3
        assert t.user_attrs["config"]["model"] == "ridge"
        assert re.fullmatch(r".+:\d+", t.user_attrs["worker"])
    assert result.counts() == {"COMPLETE": 2}


def _cv_scores(config, data):
    """The shift-aware and plain CV RMSE of the pipeline a stored config describes, computed
    by the public fold loop with the folds that config describes."""
    config = check_config(config)  # the defaults `gbscore run --config` would fill in
    pipe = build_pipeline(config, metric_embeddings=data.metric_embeddings, show_progress=False)
    oof = cross_val_oof(
        {"pipe": pipe},
        data.X,
        data.y,
        cv=build_cv(config),
        random_state=config["random_state"],
        show_progress=False,
    )
    return oof.scores().loc["pipe"]


@pytest.mark.slow
def test_value_is_cross_val_oof_shift_aware_rmse(data, fast):
    """Same folds, same held-out mismatched pairs, same number as cross_val_oof."""
    objective = _objective(data, fast["ridge"], space=_fixed_space(GOOD))
    study = optuna.create_study()
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    config = check_config(trial.user_attrs["config"])
    cv = build_cv(config)
    assert (cv.n_splits, cv.grouping, cv.random_state) == (3, "phrasing", 0)
    scores = _cv_scores(config, data)
    assert trial.value == pytest.approx(scores.rmse_shift, rel=1e-9)
    assert trial.user_attrs["rmse_plain"] == pytest.approx(scores.rmse_plain, rel=1e-9)
    assert scores.rmse_shift != pytest.approx(scores.rmse_plain)


@pytest.mark.slow
def test_an_mlp_trial_from_its_search_space_is_reproduced_by_its_config(data, fast):
    """`gbscore tune --model mlp`: a sampled trial trains, and its stored config gives the
    same CV figure through the public fold loop (the MLP is seeded and deterministic)."""
    objective = _objective(data, fast["mlp"])
    study = optuna.create_study(sampler=make_sampler(1))
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    config = trial.user_attrs["config"]
    assert config["model"] == "mlp" and "model__hidden" in config["params"]
    assert np.isfinite(trial.value)
    assert trial.value == pytest.approx(_cv_scores(config, data).rmse_shift, rel=1e-9)


@pytest.mark.slow
def test_plain_target_minimises_the_plain_rmse(data, fast):
    objective = _objective(data, fast["ridge"], space=_fixed_space(GOOD), target="plain")
    study = optuna.create_study()
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.value == trial.user_attrs["rmse_plain"] != trial.user_attrs["rmse_shift"]


def test_folds_never_share_a_conversation_or_a_phrasing_cluster(data, fast):
    objective = _objective(data, fast["ridge"])
    assert isinstance(objective.cv, ConversationKFold) and objective.cv.grouping == "phrasing"
    conversations = conversation_groups(data.X)
    clusters = table_groups(data.X, "phrasing", n_splits=3)
    # The strict grouping must actually merge some conversations, or this test shows nothing
    # beyond the conversation grouping.
    assert len(np.unique(clusters)) < len(np.unique(conversations))
    seen = []
    for train, test in objective.cv.split(data.X):
        assert not set(conversations[train]) & set(conversations[test])
        assert not set(clusters[train]) & set(clusters[test])
        seen.append(test)
    assert len(seen) == objective.n_splits == 3
    assert sorted(np.concatenate(seen)) == list(range(len(data.y)))


@pytest.mark.slow
def test_second_trial_encodes_nothing(data, fast, caplog):
    """Embeddings come from the memo after the first trial: no string is encoded again."""
    objective = _objective(data, fast["ridge"])
    study = optuna.create_study(sampler=make_sampler(0))
    with caplog.at_level(logging.INFO, logger="gbscore"):
        study.optimize(objective, n_trials=1)
        entries = memory_cache_info()["entries"]
        caplog.clear()
        study.optimize(objective, n_trials=1)
    lines = [r.getMessage() for r in caplog.records if "distinct strings" in r.getMessage()]
    assert len(lines) >= 3  # fit and predict of every fold
    assert all(line.endswith(" 0 encoded.") for line in lines), lines
    assert memory_cache_info()["entries"] == entries
    assert study.trials[0].params != study.trials[1].params


@pytest.mark.slow
def test_exported_config_reproduces_the_best_trial(data, fast, sqlite_url, study_name, tmp_path):
    objective = _objective(data, fast["ridge"])
    result = run_study(
        objective,
        study_name=study_name,
        storage=sqlite_url,
        n_trials=3,
        sampler=make_sampler(1),
        show_progress=False,
    )
    path = export_config(result.study, tmp_path / "best.json")
    config = load_config(path)  # what `gbscore run --config` reads
    best = result.study.best_trial
    assert config["params"] == best.user_attrs["config"]["params"]
    assert json.loads(path.read_text())["params"]["model__alpha"] == best.params["model__alpha"]
    assert _cv_scores(config, data).rmse_shift == pytest.approx(result.study.best_value, rel=1e-9)


def test_best_config_needs_a_completed_trial(sqlite_url, study_name):
    study = optuna.create_study(storage=sqlite_url, study_name=study_name)
    with pytest.raises(Exception, match="has no completed trial yet"):
        best_config(study)


@pytest.mark.slow
def test_fold_pruning_prunes_a_trial_without_negatives(data, fast):
    """Two trials with negatives finish; one without is stopped after its first fold."""
    pruner = make_pruner("median", max_resource=3, n_startup_trials=2)
    study = optuna.create_study(pruner=pruner)
    for params in (GOOD, {**GOOD, "augment__swap_random": 1.0}, {**GOOD, **NO_NEGATIVES}):
        objective = _objective(data, fast["ridge"], space=_fixed_space(params))
        study.optimize(objective, n_trials=1)
    states = [t.state.name for t in study.trials]
    assert states == ["COMPLETE", "COMPLETE", "PRUNED"]
    bad = study.trials[2]
    assert list(bad.intermediate_values) == [0]
    assert bad.user_attrs["folds_done"] == 1
    assert bad.intermediate_values[0] > max(t.intermediate_values[0] for t in study.trials[:2])


@pytest.mark.slow
def test_round_pruning_prunes_a_booster_that_overfits_at_once(data, fast):
    """LightGBM reports its inner validation L2 every round; a wild booster is cut after the
    warm-up rounds while the calm ones run to early stopping."""
    calm = {"model__learning_rate": 0.03, "model__min_child_samples": 40, "model__reg_lambda": 30.0}
    wild = {
        "model__learning_rate": 0.9,
        "model__num_leaves": 63,
        "model__min_child_samples": 2,
        "model__reg_lambda": 0.0,
        "model__colsample_bytree": 1.0,
    }
    pruner = make_pruner("median", max_resource=60, n_startup_trials=2, n_warmup_steps=5)
    study = optuna.create_study(pruner=pruner)
    for params in (calm, {**calm, "model__learning_rate": 0.05}, wild):
        space = _fixed_space({**GOOD, **params})
        study.optimize(_objective(data, fast["lightgbm"], space=space, pruning="round"), n_trials=1)
    first, second, bad = study.trials
    assert first.state.name == second.state.name == "COMPLETE"
    assert len(first.intermediate_values) > 20
    assert bad.state.name == "PRUNED"
    assert len(bad.intermediate_values) == 6  # steps 0-4 are warm-up; pruned at step 5
    assert "folds_done" not in bad.user_attrs  # stopped inside the first fold


def test_round_pruning_is_for_lightgbm_only(data, fast):
    with pytest.raises(ValueError, match="pruning='round' reports LightGBM boosting rounds"):
        _objective(data, fast["ridge"], pruning="round")


@pytest.mark.slow
def test_resume_runs_only_the_missing_trials(data, fast, sqlite_url, study_name):
    objective = _objective(data, fast["ridge"])
    first = run_study(
        objective, study_name=study_name, storage=sqlite_url, n_trials=2, show_progress=False
    )
    again = run_study(
        objective, study_name=study_name, storage=sqlite_url, n_trials=3, show_progress=False
    )
    done = run_study(
        objective, study_name=study_name, storage=sqlite_url, n_trials=3, show_progress=False
    )
    assert (first.n_run, again.n_run, done.n_run) == (2, 1, 0)
    assert [t.number for t in done.study.trials] == [0, 1, 2]


def test_a_study_refuses_another_search(data, fast, sqlite_url, study_name):
    from gbscore.tuning import open_study

    open_study(study_name, sqlite_url, attrs={"model": "ridge"})
    with pytest.raises(
        ValueError, match="was created with model='ridge', but this run has model='lightgbm'"
    ):
        open_study(study_name, sqlite_url, attrs={"model": "lightgbm"})


@pytest.mark.slow
def test_timeout_stops_the_worker_after_the_running_trial(data, fast, sqlite_url, study_name):
    objective = _objective(data, fast["ridge"])
    result = run_study(
        objective, study_name=study_name, storage=sqlite_url, timeout=0.5, show_progress=False
    )
    # The trial running at the deadline finishes; no other starts after it.
    assert result.n_run == 1
    assert [t.state.name for t in result.study.get_trials()] == ["COMPLETE"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_trials": 0}, "n_trials must be >= 1, got 0"),
        ({"timeout": -1}, "timeout must be > 0 seconds, got -1"),
        ({"n_jobs": 0}, "n_jobs must be a positive number of threads or -1, got 0"),
    ],
)
def test_bad_run_arguments_say_what_to_fix(kwargs, message, sqlite_url, study_name):
    with pytest.raises(ValueError, match=message):
        run_study(lambda t: 0.0, study_name=study_name, storage=sqlite_url, **kwargs)


def test_trials_keep_the_base_configs_relation_bands(data, fast):
    """A base config that turns the opposite band off keeps it off in every trial's config,
    and a trial's similarity spec always names both relation bands (exports do not depend on
    the defaults of the gbscore version that reads them)."""
    key = "augment__label_policy"
    base = {**fast["ridge"], "params": {key: {"kind": "similarity", "opposite": None}}}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for space in (
        {key: {"kind": "similarity", "unrelated": [0.0, 3.0]}},
        {key: "similarity"},
    ):
        trial = study.ask()
        config = _objective(data, base, space=_fixed_space(space)).config_for(trial)
        policy = config["params"][key]
        assert policy["opposite"] is None and policy["substitutable"] == [6.5, 9.5]
    trial = study.ask()
    plain = {**fast["ridge"], "params": {}}
    config = _objective(data, plain, space=_fixed_space({key: {"kind": "similarity"}}))
    spec = config.config_for(trial)["params"][key]
    assert spec == {"kind": "similarity", "opposite": [0.0, 3.0], "substitutable": [6.5, 9.5]}
    built = build_pipeline(config.config_for(trial), show_progress=False)
    assert built.named_steps["augment"].label_policy.opposite == (0.0, 3.0)


def test_a_study_from_before_the_buffer_refuses_buffered_folds(sqlite_url, study_name):
    from gbscore.tuning import open_study

    # a study whose trials ran before cv_buffer was an attribute: its folds had no buffer
    study = open_study(study_name, sqlite_url, attrs={"model": "ridge"})
    study.enqueue_trial({})
    study.optimize(lambda trial: 1.0, n_trials=1)
    with pytest.raises(ValueError, match="was created with cv_buffer=None, but this run has"):
        open_study(study_name, sqlite_url, attrs={"model": "ridge", "cv_buffer": 0.45})
    assert open_study(study_name, sqlite_url, attrs={"model": "ridge", "cv_buffer": None})
    # a new study without trials takes whatever the first worker has
    fresh = open_study(study_name + "-new", sqlite_url, attrs={"model": "ridge", "cv_buffer": 0.45})
    assert fresh.user_attrs["cv_buffer"] == 0.45
