"""Search spaces: what a trial may change, as ``set_params`` keys of the default pipeline.

Every suggest function takes an :class:`optuna.trial.Trial` and returns a dict of
``step__param`` keys (the ``params`` section of a config). Optuna parameter names are the same
keys where a value maps one to one, so the dashboard and ``study.best_params`` read like a
config. Only knobs that need no re-encoding are searched: the encoder and which text columns
are embedded stay fixed, so every trial reuses the vectors of the first one.

A label policy with searched bands is a JSON spec (see
:func:`~gbscore.tuning.label_policy_from_spec`), so the exported config stays a plain JSON file.
"""

from __future__ import annotations

from ..features import InteractionFeatures

__all__ = [
    "SEARCH_SPACES",
    "default_params",
    "suggest_augment",
    "suggest_catboost",
    "suggest_interact",
    "suggest_lightgbm",
    "suggest_mlp",
    "suggest_params",
    "suggest_ridge",
]

# Text blocks the interaction step may pair with the metric block. Names, not lists, so
# that they are valid Optuna categorical choices.
TEXT_BLOCK_CHOICES = {
    "all": "auto",
    "prompt+response": ["user_prompt", "response"],
    "response": ["response"],
}


def suggest_lightgbm(trial):
    """LightGBM hyper-parameters (``n_estimators`` stays fixed: early stopping picks the rounds).

    Parameters
    ----------
    trial : optuna.trial.Trial

    Returns
    -------
    dict
        ``model__*`` keys.
    """
    return {
        "model__learning_rate": trial.suggest_float("model__learning_rate", 0.01, 0.2, log=True),
        "model__num_leaves": trial.suggest_int("model__num_leaves", 7, 127, log=True),
        "model__min_child_samples": trial.suggest_int("model__min_child_samples", 5, 100, log=True),
        "model__subsample": trial.suggest_float("model__subsample", 0.5, 1.0),
        "model__colsample_bytree": trial.suggest_float("model__colsample_bytree", 0.1, 1.0),
        "model__reg_lambda": trial.suggest_float("model__reg_lambda", 1e-3, 30.0, log=True),
    }


def suggest_catboost(trial):
    """CatBoost hyper-parameters (``iterations`` stays fixed: early stopping picks the rounds).

    Parameters
    ----------
    trial : optuna.trial.Trial

    Returns
    -------
    dict
        ``model__*`` keys.
    """
    return {
        "model__learning_rate": trial.suggest_float("model__learning_rate", 0.02, 0.2, log=True),
        "model__depth": trial.suggest_int("model__depth", 4, 8),
        "model__l2_leaf_reg": trial.suggest_float("model__l2_leaf_reg", 1.0, 30.0, log=True),
        "model__rsm": trial.suggest_float("model__rsm", 0.1, 1.0),
    }


def suggest_ridge(trial):
    """Ridge strength.

    Parameters
    ----------
    trial : optuna.trial.Trial

    Returns
    -------
    dict
        ``model__alpha``.
    """
    return {"model__alpha": trial.suggest_float("model__alpha", 0.1, 3000.0, log=True)}


def suggest_mlp(trial):
    """MLP hyper-parameters (``max_epochs`` stays fixed: early stopping picks the epochs).

    The loss stays ``"mse"``: the study's objective is RMSE, which the other losses only
    approximate. ``model__bilinear_rank`` 0 turns the metric x conversation layer off.

    Parameters
    ----------
    trial : optuna.trial.Trial

    Returns
    -------
    dict
        ``model__*`` keys.
    """
    return {
        "model__hidden": trial.suggest_int("model__hidden", 32, 256, log=True),
        "model__n_blocks": trial.suggest_int("model__n_blocks", 1, 3),
        "model__dropout": trial.suggest_float("model__dropout", 0.0, 0.4),
        "model__bilinear_rank": trial.suggest_categorical("model__bilinear_rank", [0, 8, 16, 32]),
        "model__learning_rate": trial.suggest_float("model__learning_rate", 3e-4, 3e-3, log=True),
        "model__weight_decay": trial.suggest_float("model__weight_decay", 1e-6, 1e-2, log=True),
        "model__label_noise": trial.suggest_float("model__label_noise", 0.0, 1.0),
    }


def _band(trial, name, low_range, width_range):
    low = trial.suggest_float(f"{name}__low", *low_range)
    width = trial.suggest_float(f"{name}__width", *width_range)
    return [round(low, 4), round(min(10.0, low + width), 4)]


def suggest_augment(trial, *, bands=True):
    """Negative-sampler knobs: the strategy mix, the label policy and its bands, weights.

    The strategy values are synthetic rows per real row. ``augment__label_policy`` is
    ``"similarity"`` (bands per relation: unrelated, related, general, mismatch) or
    ``"band"`` (one band for every synthetic row). With ``bands`` the policy's bands are
    searched too and the policy is stored as a JSON spec such as ``{"kind": "band", "band":
    [0.5, 4.0]}``. ``route_sample_weight`` decides whether the sampler's weights reach the
    model; ``augment__synthetic_weight`` is searched only then.

    Parameters
    ----------
    trial : optuna.trial.Trial
    bands : bool, default=True
        Search the bands too (``gbscore.build_pipeline`` resolves the JSON spec, so an
        exported config runs with ``gbscore run --config``).

    Returns
    -------
    dict
        ``augment__*`` keys and ``route_sample_weight``.
    """
    params = {
        "augment__swap_random": trial.suggest_float("augment__swap_random", 0.0, 2.0),
        "augment__swap_near": trial.suggest_float("augment__swap_near", 0.0, 1.0),
        "augment__swap_far": trial.suggest_float("augment__swap_far", 0.0, 1.0),
        "augment__text_shuffle": trial.suggest_float("augment__text_shuffle", 0.0, 0.5),
        "augment__response_mismatch": trial.suggest_float("augment__response_mismatch", 0.0, 0.5),
        "augment__n_near": trial.suggest_int("augment__n_near", 2, 10),
    }
    kind = trial.suggest_categorical("augment__label_policy", ["similarity", "band"])
    if not bands:
        policy = kind
    elif kind == "band":
        policy = {"kind": "band", "band": _band(trial, "band", (0.0, 2.0), (1.0, 5.0))}
    else:
        policy = {
            "kind": "similarity",
            "unrelated": [0.0, round(trial.suggest_float("unrelated__high", 2.0, 5.0), 4)],
            "related": _band(trial, "related", (2.5, 5.5), (1.0, 4.0)),
            "general": _band(trial, "general", (4.0, 7.5), (1.0, 3.0)),
            "mismatch": [0.0, round(trial.suggest_float("mismatch__high", 1.0, 4.0), 4)],
        }
    params["augment__label_policy"] = policy
    route = trial.suggest_categorical("route_sample_weight", [False, True])
    params["route_sample_weight"] = route
    if route:
        params["augment__synthetic_weight"] = trial.suggest_float(
            "augment__synthetic_weight", 0.25, 4.0, log=True
        )
    return params


def suggest_interact(trial, *, passthrough=True):
    """Interaction and block knobs that need no re-encoding.

    Reduced product sizes, bilinear rank, the reduction, which text blocks are paired with
    the metric, which input columns pass through, whether the metric-rank features are added
    (when :class:`~gbscore.features.InteractionFeatures` has ``metric_rank``), whether the
    table statistics are used, and whether (and from which scores) the metric-match features
    learn.

    Parameters
    ----------
    trial : optuna.trial.Trial
    passthrough : bool, default=True
        Search which input columns pass through. The MLP's search leaves it out: the MLP
        reads the raw embedding blocks (passthrough ``"all"``, its default), without which it
        has no blocks to match and its bilinear layer is off.

    Returns
    -------
    dict
        ``interact__*`` keys, ``features__table`` and ``features__match*``.
    """
    blocks = trial.suggest_categorical("interact__text_blocks", list(TEXT_BLOCK_CHOICES))
    params = {
        "interact__n_components": trial.suggest_int("interact__n_components", 0, 32, step=4),
        "interact__bilinear_rank": trial.suggest_int("interact__bilinear_rank", 0, 16),
        "interact__reduction": trial.suggest_categorical("interact__reduction", ["pca", "random"]),
        "interact__text_blocks": TEXT_BLOCK_CHOICES[blocks],
    }
    if passthrough:
        params["interact__passthrough"] = trial.suggest_categorical(
            "interact__passthrough", ["all", "non_embedding", "none"]
        )
    if "metric_rank" in InteractionFeatures().get_params():
        params["interact__metric_rank"] = trial.suggest_categorical(
            "interact__metric_rank", [True, False]
        )
    if not trial.suggest_categorical("use_table_features", [True, False]):
        params["features__table"] = "drop"
    if trial.suggest_categorical("use_match_features", [True, False]):
        params["features__match__min_score"] = trial.suggest_float(
            "features__match__min_score", 3.0, 8.0
        )
        # Relative features hold their level on new phrasing (MetricMatchFeatures.output);
        # whether that is worth what they lose on seen phrasing is the CV's call.
        params["features__match__output"] = trial.suggest_categorical(
            "features__match__output", ["probability", "relative"]
        )
        # Pooling per phrasing cluster serves new phrasing, per row serves near-copies of
        # the training texts (MetricMatchFeatures.pooling); the CV's folds decide.
        params["features__match__pooling"] = trial.suggest_categorical(
            "features__match__pooling", ["phrasing", "rows"]
        )
        # The ridge classifier (the default) against the centroids, and the ridge's
        # regularisation, which the README's defaults leave at scikit-learn's 1.0 untuned.
        classifier = trial.suggest_categorical("features__match__classifier", ["ridge", "centroid"])
        params["features__match__classifier"] = classifier
        if classifier == "ridge":
            params["features__match__alpha"] = trial.suggest_float(
                "features__match__alpha", 0.1, 10.0, log=True
            )
    else:
        params["features__match"] = "drop"
    return params


#: Model name -> the function suggesting its hyper-parameters.
SEARCH_SPACES = {
    "lightgbm": suggest_lightgbm,
    "catboost": suggest_catboost,
    "ridge": suggest_ridge,
    "mlp": suggest_mlp,
}


def suggest_params(trial, model, *, augment=True, interact=True, bands=True):
    """The full search space of one base model: its hyper-parameters, the augmenter, the blocks.

    Parameters
    ----------
    trial : optuna.trial.Trial
    model : {"lightgbm", "catboost", "ridge", "mlp"}
    augment : bool, default=True
        Also search the negative sampler (:func:`suggest_augment`).
    interact : bool, default=True
        Also search the interaction features (:func:`suggest_interact`).
    bands : bool, optional
        Search the label policy's bands (see :func:`suggest_augment`).

    Returns
    -------
    dict
        ``set_params`` keys for the ``params`` section of a config.
    """
    if model not in SEARCH_SPACES:
        raise ValueError(f"model={model!r} has no search space; known: {sorted(SEARCH_SPACES)}")
    params = dict(SEARCH_SPACES[model](trial))
    if augment:
        params.update(suggest_augment(trial, bands=bands))
    if interact:
        params.update(suggest_interact(trial, passthrough=model != "mlp"))
    return params


def _fits(distribution, value):
    """Whether ``value`` is a point of an Optuna distribution."""
    if hasattr(distribution, "choices"):
        return value in distribution.choices
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if not distribution.low <= value <= distribution.high:
        return False
    step = getattr(distribution, "step", None)
    return (
        step is None
        or abs(((value - distribution.low) / step) - round((value - distribution.low) / step))
        < 1e-9
    )


def _policy_params(policy):
    """Search-space parameters of a label policy (a name or a BandLabels/SimilarityLabels)."""
    from ..augment import BandLabels, SimilarityLabels

    if isinstance(policy, str):
        kind = policy
        policy = BandLabels() if policy == "band" else SimilarityLabels()
    else:
        kind = "band" if isinstance(policy, BandLabels) else "similarity"
    out = {"augment__label_policy": kind}
    if kind == "band":
        low, high = policy.band
        return {**out, "band__low": low, "band__width": high - low}
    for name in ("related", "general"):
        low, high = getattr(policy, name)
        out[f"{name}__low"], out[f"{name}__width"] = low, high - low
    out["unrelated__high"] = policy.unrelated[1]
    out["mismatch__high"] = policy.mismatch[1]
    return out


def keep_base_relations(base_params, params):
    """Carry the base config's opposite/substitutable label bands into a trial's policy.

    The search space tunes the similarity policy's four main bands; a base config that set
    the two name-derived relations (``"opposite": null`` turns one off) keeps them in every
    trial, the enqueued untuned one included, and a trial's similarity spec always names
    them. Returns ``params``, changed in place.
    """
    from ..augment import SimilarityLabels
    from ..config import POLICY_KEY, label_policy_from_spec, label_policy_to_spec

    base, trial = (base_params or {}).get(POLICY_KEY), params.get(POLICY_KEY)
    if trial is None:
        return params
    given = None if base is None or isinstance(base, str) else label_policy_from_spec(base)
    given = label_policy_to_spec(given) if given is not None else {}
    if given.get("kind") != "similarity":
        given = None
    # Written out even for the defaults, so an exported config does not depend on them.
    base = given or label_policy_to_spec(SimilarityLabels())
    if trial == "similarity" and given:
        params[POLICY_KEY] = base
    elif isinstance(trial, dict) and trial.get("kind") == "similarity":
        params[POLICY_KEY] = {
            **trial,
            **{k: base[k] for k in ("opposite", "substitutable") if k not in trial},
        }
    return params


def default_params(model, config=None, *, augment=True, interact=True, bands=True):
    """The trial parameters of the untuned pipeline, to enqueue as a study's first trial.

    Read from the pipeline ``config`` builds (its defaults and fixed params), so the first
    trial scores the configuration a user would otherwise run, and the tuned export is never
    worse on CV than it. Values outside the search space (e.g. a fixed param beyond a
    range) are left out; the sampler draws those.

    Parameters
    ----------
    model : {"lightgbm", "catboost", "ridge", "mlp"}
    config : dict, optional
        Base config (as for :class:`~gbscore.tuning.PipelineObjective`).
    augment, interact, bands
        As for :func:`suggest_params`.

    Returns
    -------
    dict
        Optuna parameter name -> value, for ``study.enqueue_trial``.
    """
    import warnings

    import optuna

    from ..config import build_pipeline, merge_config

    pipe = build_pipeline(merge_config(config or {}, {"model": model}), show_progress=False)
    values = {k: v for k, v in pipe.get_params().items() if "__" in k}
    values.update(_policy_params(values.get("augment__label_policy", "similarity")))
    values["route_sample_weight"] = pipe.route_sample_weight
    blocks = values.get("interact__text_blocks")
    as_list = list(blocks) if isinstance(blocks, list | tuple) else blocks
    names = [n for n, v in TEXT_BLOCK_CHOICES.items() if v == as_list]
    values["interact__text_blocks"] = names[0] if names else blocks
    values["use_table_features"] = values.get("features__table") != "drop"
    values["use_match_features"] = values.get("features__match") != "drop"
    if values.get("model__rsm", 0) is None:  # CatBoost: None means every feature, i.e. 1.0
        values["model__rsm"] = 1.0
    trial = optuna.trial.FixedTrial(values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # out-of-range values are dropped just below
        suggest_params(trial, model, augment=augment, interact=interact, bands=bands)
    return {
        name: value
        for name, value in trial.params.items()
        if _fits(trial.distributions[name], values[name])
    }
