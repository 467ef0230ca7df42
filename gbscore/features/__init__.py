"""Features: text encoders, the embedding cache, the embedding featurizer.

The featurizer embeds the tidy table's metric names and texts; the encoders behind it
are interchangeable (:class:`SentenceTransformerEncoder` offline and chunked, or
:class:`CharTfidfEncoder` for any script without a model); vectors are reused across
clones through a process-wide memo and across runs through :class:`EmbeddingCache`.
"""

from ._cache import (
    EmbeddingCache,
    clear_memory_cache,
    identity_hash,
    memory_cache_info,
    text_hash,
)
from ._encoders import (
    DEFAULT_MODEL_NAME,
    RECOMMENDED_MULTILINGUAL_MODEL,
    BaseTextEncoder,
    CharTfidfEncoder,
    SentenceTransformerEncoder,
)
from ._featurizer import TEXT_SEPARATOR, EmbeddingFeaturizer, metric_name_to_text

__all__ = [
    "BaseTextEncoder",
    "SentenceTransformerEncoder",
    "CharTfidfEncoder",
    "DEFAULT_MODEL_NAME",
    "RECOMMENDED_MULTILINGUAL_MODEL",
    "EmbeddingCache",
    "clear_memory_cache",
    "memory_cache_info",
    "text_hash",
    "identity_hash",
    "EmbeddingFeaturizer",
    "metric_name_to_text",
    "TEXT_SEPARATOR",
]

# lead: table + interaction features are exported below
from ._interactions import InteractionFeatures, embedding_blocks  # noqa: E402
from ._table import TableFeatures  # noqa: E402

__all__ += ["InteractionFeatures", "TableFeatures", "embedding_blocks"]
from ._match import MetricMatchFeatures  # noqa: E402

__all__ += ["MetricMatchFeatures"]
