"""The default scoring pipeline and the configuration that builds it.

::

    NegativeSampler            (fit only: adds metric-swapped rows)
      -> FeatureUnion(EmbeddingFeaturizer, TableFeatures, MetricMatchFeatures)   (pandas, named)
      -> InteractionFeatures   (cosines, reduced products, bilinear, prompt-response similarity)
      -> regressor             (LightGBM by default; CatBoost or Ridge)

A configuration is a plain JSON-compatible dict; :func:`build_pipeline` turns it into an
unfitted :class:`ScorePipeline`. ``params`` are passed to ``set_params``, so any step's
hyper-parameter can be set with the scikit-learn ``step__param`` names (this is also what the
tuning export writes).

With ``"model": "stack"`` (the default of ``gbscore run``, :data:`RUN_CONFIG`) it builds a
:class:`~gbscore.stacking.StackedScoreRegressor` over several such pipelines instead. The
``"stack"`` section says which::

    {"model": "stack",
     "encoder": {...}, "params": {...},          # shared by every base
     "stack": {"models": ["lightgbm", "catboost", "ridge"],   # or a dict, see below
               "meta": "nnls", "meta_alpha": 1.0, "meta_rows": "shift_aware",
               "uncertainty": "residual"}}

``models`` may also map a base name to a config merged over the shared part, e.g.
``{"lgbm": {"model": "lightgbm", "params": {"model__num_leaves": 63}}, "ridge": {}}`` (the
``model`` defaults to the base name). Top-level ``params`` go to every base, so put a
regressor's own ``model__*`` params under its entry. :func:`stack_configs` expands the section.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from imblearn.pipeline import Pipeline as _ImbPipeline
from sklearn.pipeline import FeatureUnion

from .augment import NegativeSampler
from .exceptions import ConfigError
from .features import (
    CharTfidfEncoder,
    EmbeddingFeaturizer,
    InteractionFeatures,
    MetricMatchFeatures,
    SentenceTransformerEncoder,
    TableFeatures,
)
from .models import CatBoostScoreRegressor, LightGBMScoreRegressor, RidgeScoreRegressor

__all__ = [
    "DEFAULT_CONFIG",
    "RUN_CONFIG",
    "STACK_BASE_PARAMS",
    "ScorePipeline",
    "build_pipeline",
    "load_config",
    "merge_config",
    "stack_configs",
]

MODELS = {
    "lightgbm": LightGBMScoreRegressor,
    "catboost": CatBoostScoreRegressor,
    "ridge": RidgeScoreRegressor,
}
ENCODERS = {"sentence-transformers": SentenceTransformerEncoder, "char-tfidf": CharTfidfEncoder}

#: The configuration ``gbscore run`` uses when none is given.
DEFAULT_CONFIG = {
    "model": "lightgbm",
    # Only the kind: the encoder classes hold the defaults, so a config naming another kind
    # merges cleanly (e.g. {"kind": "char-tfidf", "n_components": 128}).
    "encoder": {"kind": "sentence-transformers"},
    "params": {},
    "cv": {"n_splits": 5},
    "random_state": 0,
    # Used when "model" is "stack"; see the module docstring.
    "stack": {
        "models": ["lightgbm", "catboost", "ridge"],
        "meta": "nnls",
        "meta_alpha": 1.0,
        "meta_rows": "shift_aware",
        "uncertainty": "residual",
    },
}

#: The configuration of ``gbscore run``/``train``/``cv`` when none is given: the stack.
RUN_CONFIG = {**DEFAULT_CONFIG, "model": "stack"}


class ScorePipeline(_ImbPipeline):
    """imbalanced-learn's Pipeline that also gives samplers' weights to the final estimator.

    Samplers run in ``fit`` only and are skipped by ``predict``/``transform``. When
    ``route_sample_weight=True`` and a sampler exposes ``sample_weight_`` (as
    :class:`~gbscore.augment.NegativeSampler` does), that array is passed to the final
    estimator's ``fit`` as ``sample_weight``: the resampled rows have no weights a caller
    could pass in, so they must come from the sampler itself.
    """

    def __init__(self, steps, *, route_sample_weight=False, memory=None, verbose=False):
        super().__init__(steps, memory=memory, verbose=verbose)
        self.route_sample_weight = route_sample_weight

    def fit(self, X, y=None, **params):
        if not self.route_sample_weight:
            return super().fit(X, y, **params)
        # Same sequence as imblearn's Pipeline.fit, with the sampler weight added last.
        routed = self._check_method_params(method="fit", props=params)
        Xt, yt = self._fit(X, y, routed, raw_params=params)
        last = self._get_metadata_for_step(
            step_idx=len(self) - 1, step_params=routed[self.steps[-1][0]], all_params=params
        )["fit"]
        weights = [getattr(s, "sample_weight_", None) for _, s in self.steps[:-1]]
        weights = [w for w in weights if w is not None]
        if weights:
            last = {**last, "sample_weight": weights[-1]}
        self._final_estimator.fit(Xt, yt, **last)
        return self


def merge_config(base, override):
    """Deep-merge ``override`` into a copy of ``base`` (dicts merge, other values replace)."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_config(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_config(path, *, base=None):
    """Read a JSON configuration file and merge it over ``base`` (:data:`DEFAULT_CONFIG`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    try:
        user = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
    if not isinstance(user, dict):
        raise ConfigError(f"{path}: a config must be a JSON object, got {type(user).__name__}")
    unknown = sorted(set(user) - set(DEFAULT_CONFIG))
    if unknown:
        raise ConfigError(
            f"{path}: unknown config keys {unknown}; known keys are {sorted(DEFAULT_CONFIG)}"
        )
    return merge_config(DEFAULT_CONFIG if base is None else base, user)


def build_encoder(spec):
    spec = dict(spec or {})
    kind = spec.pop("kind", "sentence-transformers")
    if kind not in ENCODERS:
        raise ConfigError(f"encoder.kind={kind!r} is not one of {sorted(ENCODERS)}")
    try:
        return ENCODERS[kind](**spec)
    except TypeError as exc:
        raise ConfigError(f"encoder ({kind}): {exc}") from exc


def build_pipeline(config=None, *, metric_embeddings=None, cache_dir=None, show_progress=True):
    """Build the unfitted default pipeline from a configuration dict.

    Parameters
    ----------
    config : dict, optional
        Merged over :data:`DEFAULT_CONFIG`; see the module docstring.
    metric_embeddings : DataFrame, optional
        The competition's given metric embeddings (index = metric name). Used as a feature
        block and for metric similarity in the label policy.
    cache_dir : str or Path, optional
        Embedding cache directory.
    show_progress : bool, default=True
        Progress bars while encoding.

    Returns
    -------
    ScorePipeline, or StackedScoreRegressor when ``config["model"] == "stack"``

    Examples
    --------
    >>> pipe = build_pipeline({"model": "ridge"})
    >>> [name for name, _ in pipe.steps]
    ['augment', 'features', 'interact', 'model']
    """
    config = merge_config(DEFAULT_CONFIG, config)
    seed = config.get("random_state", 0)
    model_name = config["model"]
    if model_name == "stack":
        return _build_stack(
            config,
            metric_embeddings=metric_embeddings,
            cache_dir=cache_dir,
            show_progress=show_progress,
        )
    if model_name not in MODELS:
        raise ConfigError(f"model={model_name!r} is not one of {sorted(MODELS)} or 'stack'")
    model = MODELS[model_name]()
    if "random_state" in model.get_params():
        model.set_params(random_state=seed)
    featurizer = EmbeddingFeaturizer(
        encoder=build_encoder(config["encoder"]),
        metric_embeddings=metric_embeddings,
        cache_dir=None if cache_dir is None else str(cache_dir),
        show_progress=show_progress,
    )
    features = FeatureUnion(
        [("embed", featurizer), ("table", TableFeatures()), ("match", MetricMatchFeatures())],
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    pipe = ScorePipeline(
        [
            ("augment", NegativeSampler(metric_embeddings=metric_embeddings, random_state=seed)),
            ("features", features),
            # Raw embedding columns are left out of the model's input by default: on
            # judgebench-dev they moved test RMSE by only 0.02 (2.425 with, 2.447 without, before the
            # metric-match features) and cost ~15x the boosting time.
            (
                "interact",
                InteractionFeatures(passthrough="non_embedding", random_state=seed).set_output(
                    transform="pandas"
                ),
            ),
            ("model", model),
        ]
    )
    params = config.get("params") or {}
    try:
        pipe.set_params(**params)
    except ValueError as exc:
        raise ConfigError(f"config 'params': {exc}") from exc
    return pipe


_STACK_KEYS = {"models", "meta", "meta_alpha", "meta_rows", "uncertainty"}

#: Params a stack gives each kind of base before the config's own: CatBoost's library
#: defaults (254 borders, every feature per split) took 4x as long as these on judgebench-dev
#: (55 s vs 14 s for one fit on 16k rows x 165 features) for a test RMSE 0.004 worse.
STACK_BASE_PARAMS = {
    "catboost": {
        "model__learning_rate": 0.08,
        "model__rsm": 0.3,
        "model__params": {"border_count": 128},
    },
}


def stack_configs(config):
    """The base-model configs of a stack config: ``{base name: single-model config}``.

    Each base config is :data:`STACK_BASE_PARAMS` for its model, then the shared part of
    ``config`` (encoder, params, random_state), then the base's own entry in
    ``config["stack"]["models"]``, each merged over the previous.

    Examples
    --------
    >>> cfgs = stack_configs({"model": "stack", "stack": {"models": ["ridge", "lightgbm"]}})
    >>> sorted(cfgs), cfgs["ridge"]["model"]
    (['lightgbm', 'ridge'], 'ridge')
    """
    config = merge_config(DEFAULT_CONFIG, config)
    stack = config.get("stack") or {}
    if not isinstance(stack, dict):
        raise ConfigError(f"config 'stack' must be an object, got {type(stack).__name__}")
    unknown = sorted(set(stack) - _STACK_KEYS)
    if unknown:
        raise ConfigError(
            f"config 'stack': unknown keys {unknown}; known keys are {sorted(_STACK_KEYS)}"
        )
    models = stack.get("models")
    if isinstance(models, list | tuple):
        entries = {}
        for entry in models:
            if isinstance(entry, str):
                entries[entry] = {}
            elif isinstance(entry, dict) and isinstance(entry.get("name"), str):
                entries[entry["name"]] = {k: v for k, v in entry.items() if k != "name"}
            else:
                raise ConfigError(
                    "config 'stack.models': each entry must be a model name or an object with "
                    f"a 'name'; got {entry!r}"
                )
    elif isinstance(models, dict):
        entries = models
    else:
        raise ConfigError(f"config 'stack.models' must be a list or an object, got {models!r}")
    if not entries:
        raise ConfigError("config 'stack.models' is empty; a stack needs at least one base model")
    shared = {k: v for k, v in config.items() if k not in ("model", "stack", "cv")}
    out = {}
    for name, own in entries.items():
        if not isinstance(own, dict):
            raise ConfigError(f"config 'stack.models.{name}' must be an object, got {own!r}")
        own = dict(own)
        own.setdefault("model", name)
        if own["model"] not in MODELS:
            raise ConfigError(
                f"config 'stack.models.{name}': model={own['model']!r} is not one of "
                f"{sorted(MODELS)}"
            )
        defaults = {"params": copy.deepcopy(STACK_BASE_PARAMS.get(own["model"], {}))}
        out[name] = merge_config(merge_config(defaults, shared), own)
    return out


def _build_stack(config, *, metric_embeddings, cache_dir, show_progress):
    from .stacking import StackedScoreRegressor

    configs = stack_configs(config)
    # Fail now, with the base's name, rather than inside a fold.
    for name, cfg in configs.items():
        try:
            build_pipeline(cfg)
        except ConfigError as exc:
            raise ConfigError(f"stack base {name!r}: {exc}") from exc
    stack = config["stack"]
    try:
        return StackedScoreRegressor(
            base_configs=configs,
            meta=stack.get("meta", "nnls"),
            meta_alpha=stack.get("meta_alpha", 1.0),
            meta_rows=stack.get("meta_rows", "shift_aware"),
            n_splits=config["cv"]["n_splits"],
            uncertainty=stack.get("uncertainty", "residual"),
            metric_embeddings=metric_embeddings,
            cache_dir=None if cache_dir is None else str(cache_dir),
            random_state=config.get("random_state", 0),
            show_progress=show_progress,
        )
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"config 'stack': {exc}") from exc
