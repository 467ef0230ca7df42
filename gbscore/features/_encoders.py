"""Text encoders: sentence-transformers (offline, chunked) and character TF-IDF + SVD.

The encoders' public names, gathered from the modules that define them:

- :mod:`._base_encoder`: the protocol every encoder follows (:class:`BaseTextEncoder`);
- :mod:`._char_tfidf`: :class:`CharTfidfEncoder`;
- :mod:`._st_encoder`: :class:`SentenceTransformerEncoder`, built on
  :mod:`._st_model` (offline model resolution and loading), :mod:`._st_backends`
  (torch, ONNX Runtime or OpenVINO, int8, threads) and :mod:`._st_windows` (token
  windows, token-budget batches, pooling).

Models saved before that split name the classes ``gbscore.features._encoders.<Class>``;
this module keeps those names importable so such pickles still load.
"""

from ._base_encoder import BaseTextEncoder
from ._char_tfidf import CharTfidfEncoder
from ._st_backends import default_export_dir, encoder_threads, faster_backend_hint
from ._st_encoder import SentenceTransformerEncoder
from ._st_model import DEFAULT_MODEL_NAME, RECOMMENDED_MULTILINGUAL_MODEL

__all__ = [
    "BaseTextEncoder",
    "SentenceTransformerEncoder",
    "CharTfidfEncoder",
    "DEFAULT_MODEL_NAME",
    "RECOMMENDED_MULTILINGUAL_MODEL",
    "default_export_dir",
    "encoder_threads",
    "faster_backend_hint",
]
