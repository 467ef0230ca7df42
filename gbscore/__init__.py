"""gbscore: predict an LLM judge's 0-10 metric-fitness score with embeddings, negative
sampling and gradient boosting.

>>> from gbscore import build_pipeline, load_competition
"""

from ._device import resolve_device
from ._version import __version__
from .augment import (
    BandLabels,
    EmbeddingNoise,
    NegativeSampler,
    SimilarityLabels,
    conversation_groups,
)
from .config import DEFAULT_CONFIG, build_pipeline, load_config
from .data import (
    CompetitionData,
    load_competition,
    load_records,
    normalize_records,
    write_submission,
)
from .exceptions import (
    ConfigError,
    DataError,
    DeviceUnavailableError,
    EncoderUnavailableError,
    GbscoreError,
    MissingDependencyError,
    UnknownMetricError,
)
from .features import (
    CharTfidfEncoder,
    EmbeddingFeaturizer,
    InteractionFeatures,
    MetricMatchFeatures,
    SentenceTransformerEncoder,
    TableFeatures,
)
from .mlp import MLPScoreRegressor
from .model_selection import ConversationKFold, OOFPredictions, cross_val_oof, phrasing_groups
from .models import CatBoostScoreRegressor, LightGBMScoreRegressor, RidgeScoreRegressor
from .persist import load_model, save_model
from .pipeline import ScorePipeline
from .stacking import StackedScoreRegressor, evaluate

__all__ = [
    "BandLabels",
    "ConversationKFold",
    "CatBoostScoreRegressor",
    "CharTfidfEncoder",
    "CompetitionData",
    "ConfigError",
    "DEFAULT_CONFIG",
    "DataError",
    "DeviceUnavailableError",
    "EmbeddingNoise",
    "EmbeddingFeaturizer",
    "EncoderUnavailableError",
    "GbscoreError",
    "InteractionFeatures",
    "LightGBMScoreRegressor",
    "MLPScoreRegressor",
    "MetricMatchFeatures",
    "MissingDependencyError",
    "NegativeSampler",
    "OOFPredictions",
    "RidgeScoreRegressor",
    "ScorePipeline",
    "SentenceTransformerEncoder",
    "SimilarityLabels",
    "StackedScoreRegressor",
    "TableFeatures",
    "UnknownMetricError",
    "__version__",
    "build_pipeline",
    "conversation_groups",
    "cross_val_oof",
    "evaluate",
    "load_competition",
    "load_config",
    "load_model",
    "load_records",
    "normalize_records",
    "phrasing_groups",
    "resolve_device",
    "save_model",
    "write_submission",
]
