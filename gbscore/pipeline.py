"""The default scoring pipeline and the configuration that builds it.

::

    NegativeSampler            (fit only: adds metric-swapped rows)
      -> FeatureUnion(EmbeddingFeaturizer, TableFeatures)   (pandas output, named blocks)
      -> InteractionFeatures   (cosines, reduced products, bilinear, prompt-response similarity)
      -> regressor             (LightGBM by default; CatBoost or Ridge)

A configuration is a plain JSON-compatible dict; :func:`build_pipeline` turns it into an
unfitted :class:`ScorePipeline`. ``params`` are passed to ``set_params``, so any step's
hyper-parameter can be set with the scikit-learn ``step__param`` names (this is also what the
tuning export writes).
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
    SentenceTransformerEncoder,
    TableFeatures,
)
from .models import CatBoostScoreRegressor, LightGBMScoreRegressor, RidgeScoreRegressor

__all__ = ["DEFAULT_CONFIG", "ScorePipeline", "build_pipeline", "load_config", "merge_config"]

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
}


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


def load_config(path):
    """Read a JSON configuration file and merge it over :data:`DEFAULT_CONFIG`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    try:
        user = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    if not isinstance(user, dict):
        raise ConfigError(f"{path}: a config must be a JSON object, got {type(user).__name__}")
    unknown = sorted(set(user) - set(DEFAULT_CONFIG) - {"stack"})
    if unknown:
        raise ConfigError(f"{path}: unknown config keys {unknown}; known keys are {sorted(DEFAULT_CONFIG)}")
    return merge_config(DEFAULT_CONFIG, user)


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
    ScorePipeline

    Examples
    --------
    >>> pipe = build_pipeline({"model": "ridge"})
    >>> [name for name, _ in pipe.steps]
    ['augment', 'features', 'interact', 'model']
    """
    config = merge_config(DEFAULT_CONFIG, config)
    seed = config.get("random_state", 0)
    model_name = config["model"]
    if model_name not in MODELS:
        raise ConfigError(f"model={model_name!r} is not one of {sorted(MODELS)}")
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
        [("embed", featurizer), ("table", TableFeatures())], verbose_feature_names_out=False
    ).set_output(transform="pandas")
    pipe = ScorePipeline(
        [
            ("augment", NegativeSampler(metric_embeddings=metric_embeddings, random_state=seed)),
            ("features", features),
            ("interact", InteractionFeatures(random_state=seed).set_output(transform="pandas")),
            ("model", model),
        ]
    )
    params = config.get("params") or {}
    try:
        pipe.set_params(**params)
    except ValueError as exc:
        raise ConfigError(f"config 'params': {exc}") from exc
    return pipe
