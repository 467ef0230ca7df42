"""Tuned configurations: JSON label-policy specs, building a trial's pipeline, exporting the best.

A config is the plain dict :func:`gbscore.pipeline.build_pipeline` reads (``model``,
``encoder``, ``params``, ``cv``, ``random_state``). The one value a search needs that is not
JSON by nature is the negative sampler's label policy with its bands; it is written as a
spec such as ``{"kind": "band", "band": [0.5, 4.0]}`` and turned into a
:class:`~gbscore.augment.LabelPolicy` by :func:`label_policy_from_spec` when the pipeline is
built.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import os
import tempfile
from pathlib import Path

from ..augment import BandLabels, LabelPolicy, SimilarityLabels
from ..exceptions import ConfigError
from ..pipeline import DEFAULT_CONFIG, build_pipeline, merge_config

__all__ = [
    "pipeline_reads_policy_specs",
    "best_config",
    "build_tuned_pipeline",
    "export_config",
    "label_policy_from_spec",
    "label_policy_to_spec",
]

POLICY_KEY = "augment__label_policy"
_POLICIES = {"band": (BandLabels, ("band",)), "similarity": (SimilarityLabels, None)}


def label_policy_from_spec(spec):
    """Turn a JSON label-policy spec into the value ``NegativeSampler(label_policy=...)`` takes.

    Parameters
    ----------
    spec : str, dict or LabelPolicy
        ``"similarity"`` / ``"band"`` and policy objects pass through unchanged. A dict names
        the policy in ``"kind"`` and gives its parameters, bands as ``[low, high]`` lists:
        ``{"kind": "band", "band": [0, 4]}`` or ``{"kind": "similarity", "unrelated": [0, 4],
        "related": [4, 7.5], "general": [6, 9], "mismatch": [0, 3], "n_related": 5}``.

    Returns
    -------
    str or LabelPolicy

    Examples
    --------
    >>> label_policy_from_spec({"kind": "band", "band": [1, 3]})
    BandLabels(band=(1.0, 3.0))
    """
    if isinstance(spec, str | LabelPolicy):
        return spec
    if not isinstance(spec, dict):
        raise ConfigError(
            f"{POLICY_KEY} must be 'similarity', 'band' or a dict spec such as "
            f'{{"kind": "band", "band": [0, 4]}}; got {type(spec).__name__} {spec!r:.80}'
        )
    spec = dict(spec)
    kind = spec.pop("kind", None)
    if kind not in _POLICIES:
        raise ConfigError(f"{POLICY_KEY}: 'kind' must be one of {sorted(_POLICIES)}; got {kind!r}")
    cls, _ = _POLICIES[kind]
    known = set(cls().get_params())
    unknown = sorted(set(spec) - known)
    if unknown:
        raise ConfigError(
            f"{POLICY_KEY} ({kind}): unknown keys {unknown}; {cls.__name__} takes {sorted(known)}"
        )
    kwargs = {}
    for key, value in spec.items():
        if isinstance(value, list) and key != "general_metrics":
            value = tuple(float(v) for v in value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


@functools.cache
def pipeline_reads_policy_specs():
    """Whether :func:`gbscore.pipeline.build_pipeline` itself resolves label-policy specs.

    When it does, an exported config whose ``params`` hold a spec runs with ``gbscore run
    --config``; the search spaces tune the policy's bands only then (see
    :func:`~gbscore.tuning.suggest_augment`).
    """
    probe = {"model": "ridge", "params": {POLICY_KEY: {"kind": "band", "band": [0.0, 4.0]}}}
    try:
        pipe = build_pipeline(probe, show_progress=False)
    except (ValueError, TypeError):
        return False
    return isinstance(pipe.named_steps["augment"].label_policy, LabelPolicy)


def label_policy_to_spec(policy):
    """The JSON spec of a label policy (inverse of :func:`label_policy_from_spec`)."""
    if isinstance(policy, str | dict):
        return copy.deepcopy(policy)
    for kind, (cls, _) in _POLICIES.items():
        if type(policy) is cls:
            params = {
                k: list(v) if isinstance(v, tuple) else v for k, v in policy.get_params().items()
            }
            return {"kind": kind, **params}
    raise ConfigError(f"cannot write {type(policy).__name__} as a JSON label-policy spec")


def _resolved(config):
    """``(config without the policy spec, policy value or None)``."""
    config = merge_config(DEFAULT_CONFIG, config)
    params = dict(config.get("params") or {})
    policy = params.pop(POLICY_KEY, None)
    config["params"] = params
    return config, None if policy is None else label_policy_from_spec(policy)


def build_tuned_pipeline(
    config=None, *, metric_embeddings=None, cache_dir=None, show_progress=True
):
    """:func:`~gbscore.pipeline.build_pipeline`, also accepting a label-policy spec in ``params``.

    Parameters
    ----------
    config : dict, optional
        As for ``build_pipeline``; ``params["augment__label_policy"]`` may be a JSON spec.
    metric_embeddings, cache_dir, show_progress
        Passed to ``build_pipeline``.

    Returns
    -------
    ScorePipeline
    """
    base, policy = _resolved(config)
    pipe = build_pipeline(
        base, metric_embeddings=metric_embeddings, cache_dir=cache_dir, show_progress=show_progress
    )
    if policy is not None:
        pipe.set_params(**{POLICY_KEY: policy})
    return pipe


def best_config(study):
    """The config of the study's best trial (as stored by the objective).

    Parameters
    ----------
    study : optuna.Study

    Returns
    -------
    dict
        JSON-ready; for a stack study it has a ``"stack"`` section.
    """
    import optuna

    completed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not completed:
        raise ConfigError(
            f"study {study.study_name!r} has no completed trial yet, so there is no best "
            "config to export; run more trials (or a longer --timeout)"
        )
    trial = study.best_trial
    config = trial.user_attrs.get("config")
    if config is None:
        raise ConfigError(
            f"study {study.study_name!r}: best trial #{trial.number} has no stored config; "
            "was it created by gbscore.tuning?"
        )
    return copy.deepcopy(config)


def export_config(config_or_study, path):
    """Write a config (or a study's best config) as JSON that ``gbscore run --config`` reads.

    The file is written to a temporary name and moved into place.

    Parameters
    ----------
    config_or_study : dict or optuna.Study
    path : str or Path

    Returns
    -------
    Path
    """
    config = config_or_study if isinstance(config_or_study, dict) else best_config(config_or_study)
    _check_json(config)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(config, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _check_json(config, where="config"):
    if isinstance(config, dict):
        for key, value in config.items():
            _check_json(value, f"{where}.{key}")
    elif isinstance(config, list | tuple):
        for i, value in enumerate(config):
            _check_json(value, f"{where}[{i}]")
    elif isinstance(config, float) and not math.isfinite(config):
        raise ConfigError(f"{where} is {config}, which JSON cannot hold")
    elif not (config is None or isinstance(config, str | int | float | bool)):
        raise ConfigError(f"{where} is a {type(config).__name__}, which JSON cannot hold")
