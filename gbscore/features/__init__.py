"""Features: text encoders, the embedding cache, the embedding featurizer.

The featurizer embeds the tidy table's metric names and texts; the encoders behind it
are interchangeable (:class:`SentenceTransformerEncoder` offline and chunked, or
:class:`CharTfidfEncoder` for any script without a model); vectors are reused across
clones through a process-wide memo and across runs through :class:`EmbeddingCache`.

Process-wide caches (memo, open disk caches, loaded models) are emptied with
:func:`clear_caches` and described by :func:`cache_info`; a cache folder on disk is
described by :func:`disk_cache_info` and emptied by :func:`clear_disk_cache`.
"""

from ._cache import EmbeddingCache
from ._contrastive import ContrastiveMatchFeatures
from ._disk import clear_disk_cache, disk_cache_info
from ._embed import encoding_totals, record_encoding
from ._encoders import (
    DEFAULT_MODEL_NAME,
    RECOMMENDED_MULTILINGUAL_MODEL,
    BaseTextEncoder,
    CharTfidfEncoder,
    SentenceTransformerEncoder,
    default_export_dir,
    encoder_threads,
    faster_backend_hint,
)
from ._featurizer import EmbeddingFeaturizer
from ._inputs import TEXT_SEPARATOR, metric_name_to_text
from ._memory import cache_info, clear_caches, clear_memory_cache, memory_cache_info
from ._shards import DEFAULT_MAX_BYTES, default_cache_dir, identity_hash, text_hash

__all__ = [
    "ContrastiveMatchFeatures",
    "BaseTextEncoder",
    "SentenceTransformerEncoder",
    "CharTfidfEncoder",
    "DEFAULT_MODEL_NAME",
    "RECOMMENDED_MULTILINGUAL_MODEL",
    "default_export_dir",
    "encoder_threads",
    "faster_backend_hint",
    "EmbeddingCache",
    "DEFAULT_MAX_BYTES",
    "default_cache_dir",
    "disk_cache_info",
    "clear_disk_cache",
    "clear_caches",
    "cache_info",
    "clear_memory_cache",
    "memory_cache_info",
    "text_hash",
    "identity_hash",
    "EmbeddingFeaturizer",
    "encoding_totals",
    "record_encoding",
    "metric_name_to_text",
    "TEXT_SEPARATOR",
]

# lead: table + interaction features are exported below
from ._interactions import InteractionFeatures, embedding_blocks  # noqa: E402
from ._table import TableFeatures  # noqa: E402

__all__ += ["InteractionFeatures", "TableFeatures", "embedding_blocks"]
from ._match import MetricMatchFeatures  # noqa: E402

__all__ += ["MetricMatchFeatures"]
