import json

import numpy as np
import optuna
import pytest

from gbscore import BandLabels, ConfigError, SimilarityLabels
from gbscore.config import build_pipeline
from gbscore.tuning import (
    SEARCH_SPACES,
    default_params,
    label_policy_from_spec,
    label_policy_to_spec,
    suggest_params,
)


def _trials(n, seed=0):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return [study.ask() for _ in range(n)]


@pytest.mark.parametrize("bands", [True, False])
@pytest.mark.parametrize("model", sorted(SEARCH_SPACES))
def test_every_suggestion_is_a_valid_json_config(model, bands, fast, data):
    """Sampled params are JSON, and set_params plus each step's validation accept them."""
    for trial in _trials(25):
        params = suggest_params(trial, model, bands=bands)
        assert json.loads(json.dumps(params)) == params
        config = {**fast[model], "params": {**fast[model].get("params", {}), **params}}
        pipe = build_pipeline(config, metric_embeddings=data.metric_embeddings)
        for name, step in pipe.steps:
            if name != "features":
                step._validate_params()
        policy = pipe.named_steps["augment"].label_policy
        if bands:
            assert isinstance(policy, BandLabels | SimilarityLabels)
            policy.fit(["a", "b"], np.eye(2))  # checks every band is inside [0, 10], low <= high
        else:
            assert policy in ("band", "similarity")
        assert pipe.route_sample_weight is params["route_sample_weight"]


def test_search_covers_policies_blocks_and_strategy_mix():
    keys = ("policy", "blocks", "passthrough", "table", "match", "pooling", "classifier")
    seen = {k: set() for k in keys}
    for trial in _trials(60, seed=1):
        params = suggest_params(trial, "ridge", bands=True)
        seen["policy"].add(params["augment__label_policy"]["kind"])
        seen["blocks"].add(str(params["interact__text_blocks"]))
        seen["passthrough"].add(params["interact__passthrough"])
        seen["table"].add(params.get("features__table", "used"))
        seen["match"].add(params.get("features__match__output", params.get("features__match")))
        seen["pooling"].add(params.get("features__match__pooling", params.get("features__match")))
        classifier = params.get("features__match__classifier", params.get("features__match"))
        seen["classifier"].add(classifier)
        if classifier == "ridge":
            assert 0.1 <= params["features__match__alpha"] <= 10.0
        else:
            assert "features__match__alpha" not in params
        assert {"augment__swap_random", "augment__swap_near", "augment__response_mismatch"} <= set(
            params
        )
    assert seen["policy"] == {"band", "similarity"}
    assert len(seen["blocks"]) == 3
    assert seen["passthrough"] == {"all", "non_embedding", "none"}
    assert seen["table"] == {"drop", "used"}
    assert seen["match"] == {"drop", "probability", "relative"}
    assert seen["pooling"] == {"drop", "phrasing", "rows"}
    assert seen["classifier"] == {"drop", "ridge", "centroid"}


def test_bands_are_searched_by_default_and_build_pipeline_resolves_them():
    """By default a trial searches the policy's bands and stores the policy as a JSON spec;
    `build_pipeline` (and so `gbscore run --config`) turns that spec into the policy object."""
    for trial in _trials(8, seed=2):
        params = suggest_params(trial, "ridge")
        spec = params["augment__label_policy"]
        assert isinstance(spec, dict) and spec["kind"] in ("band", "similarity")
        pipe = build_pipeline({"model": "ridge", "params": params}, show_progress=False)
        policy = pipe.named_steps["augment"].label_policy
        assert isinstance(policy, BandLabels if spec["kind"] == "band" else SimilarityLabels)
        assert label_policy_to_spec(policy) == {**label_policy_to_spec(type(policy)()), **spec}
        for name, step in pipe.steps:
            if name != "features":
                step._validate_params()


def test_mlp_trials_keep_the_embedding_blocks():
    """Passthrough is not searched for the MLP: without the raw blocks it has nothing to
    match and its bilinear layer is off."""
    for trial in _trials(10, seed=4):
        params = suggest_params(trial, "mlp")
        assert "interact__passthrough" not in params and "interact__passthrough" not in trial.params
        pipe = build_pipeline({"model": "mlp", "params": params}, show_progress=False)
        assert pipe.named_steps["interact"].passthrough == "all"
    assert "interact__passthrough" in suggest_params(_trials(1)[0], "lightgbm")


def test_spaces_never_touch_the_encoder():
    """Nothing a trial changes may force re-encoding (encoder, text columns, joining)."""
    for model in SEARCH_SPACES:
        for trial in _trials(10):
            keys = suggest_params(trial, model)
            assert not [k for k in keys if k.startswith("features__embed")]


def test_unknown_model_has_no_space():
    with pytest.raises(ValueError, match="model='xgboost' has no search space"):
        suggest_params(_trials(1)[0], "xgboost")


def test_label_policy_spec_round_trip():
    policy = SimilarityLabels(unrelated=(0.0, 3.0), related=(4.0, 6.0), n_related=3)
    spec = label_policy_to_spec(policy)
    assert json.loads(json.dumps(spec)) == spec
    back = label_policy_from_spec(spec)
    assert back.get_params() == policy.get_params()
    assert label_policy_from_spec({"kind": "band", "band": [1, 3]}).band == (1.0, 3.0)
    assert label_policy_from_spec("band") == "band"


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"band": [0, 4]}, r"'kind' must be one of \['band', 'similarity'\]; got None"),
        ({"kind": "zero"}, "got 'zero'"),
        ({"kind": "band", "width": 3}, r"unknown keys \['width'\]; BandLabels takes \['band'\]"),
        (3.5, "must be 'similarity', 'band' or a dict spec"),
    ],
)
def test_bad_label_policy_spec_says_what_to_fix(spec, message):
    with pytest.raises(ConfigError, match=message):
        label_policy_from_spec(spec)


def test_band_outside_the_scale_fails_at_fit_naming_the_band(fast, data):
    config = {
        **fast["ridge"],
        "params": {"augment__label_policy": {"kind": "band", "band": [3, 12]}},
    }
    pipe = build_pipeline(config, metric_embeddings=data.metric_embeddings, show_progress=False)
    with pytest.raises(ValueError, match=r"band=\(3.0, 12.0\) is not a band inside \[0, 10\]"):
        pipe.fit(data.X, data.y)


@pytest.mark.slow
def test_sampled_pipelines_fit_and_predict(fast, data):
    """Random points of the space, extremes included, give pipelines that train and predict."""
    X, y = data.X.iloc[:120], data.y[:120]
    for trial in _trials(6, seed=3):
        params = suggest_params(trial, "ridge", bands=True)
        config = {**fast["ridge"], "params": params}
        pipe = build_pipeline(config, metric_embeddings=data.metric_embeddings, show_progress=False)
        pred = pipe.fit(X, y).predict(data.X.iloc[120:150])
        assert pred.shape == (30,) and np.isfinite(pred).all()


@pytest.mark.parametrize("model", sorted(SEARCH_SPACES))
@pytest.mark.parametrize("bands", [True, False])
def test_default_params_rebuild_the_untuned_pipeline(model, bands, fast):
    """Enqueued as the first trial, default_params scores exactly the untuned pipeline."""
    base = fast[model]
    params = default_params(model, base, bands=bands)
    trial = optuna.trial.FixedTrial(params)
    config = {
        **base,
        "params": {**base.get("params", {}), **suggest_params(trial, model, bands=bands)},
    }
    tuned = build_pipeline(config, show_progress=False).get_params()
    untuned = build_pipeline(base, show_progress=False).get_params()
    for key, value in untuned.items():
        if "__" not in key:  # "steps", "memory", ...: lists of step objects
            continue
        if key == "augment__label_policy" and bands:
            assert type(tuned[key]).__name__ == "SimilarityLabels"
            assert tuned[key].get_params() == SimilarityLabels().get_params()
        elif _plain(value):
            assert tuned[key] == value or (key == "model__rsm" and value is None), key


def _plain(value):
    if isinstance(value, tuple | list):
        return all(_plain(v) for v in value)
    return isinstance(value, str | int | float | bool | type(None))
