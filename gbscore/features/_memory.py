"""The one owner of what ``gbscore.features`` keeps in memory across estimators.

Five process-wide caches let ``clone``-d estimators (one per CV fold, one per Optuna
trial) share work instead of repeating it:

- the **vector memo**: ``(encoder identity hash, text hash) -> vector``, least recently used
  entries dropped beyond ``$GBSCORE_MEMORY_CACHE_MB`` (default 2048);
- the **open disk caches**: one :class:`~gbscore.features.EmbeddingCache` per folder, so the
  shards it verified are not read again;
- the **loaded encoder models** (e.g. sentence-transformers weights), keyed by whatever the
  encoder says identifies them (folder and device);
- the **weights fingerprints** of model folders (they hash megabytes of files);
- **recent fitted results** by kind and content key, the last few of each kind (e.g. the
  TF-IDF vocabulary that two metric-match members would fit alike on the same rows).

Other modules reach them only through the functions here, and :func:`clear_caches` empties
them all.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

import numpy as np

from ..exceptions import ConfigError
from ._cache import EmbeddingCache

__all__ = [
    "VectorMemo",
    "cache_info",
    "cached_fingerprint",
    "clear_caches",
    "clear_memory_cache",
    "loaded_model",
    "memory_cache_info",
    "open_disk_cache",
    "process_memo",
    "recent_result",
]

_DEFAULT_MEMO_MB = 2048


class VectorMemo:
    """Thread-safe LRU map ``(identity hash, text hash) -> vector`` bounded in bytes.

    Parameters
    ----------
    max_bytes : int
        Entries beyond this many bytes of vectors are dropped, least recently used first.
    """

    def __init__(self, max_bytes):
        self.max_bytes = max_bytes
        self._entries = OrderedDict()
        self._nbytes = 0
        self._lock = threading.Lock()

    def get_many(self, ident, hashes):
        """Return ``{text hash: vector}`` of the hashes present (read-only arrays)."""
        found = {}
        with self._lock:
            for h in hashes:
                vector = self._entries.get((ident, h))
                if vector is not None:
                    self._entries.move_to_end((ident, h))
                    found[h] = vector
        return found

    def put_many(self, ident, hashes, vectors):
        """Store copies of ``vectors`` (one per hash) under ``ident``."""
        with self._lock:
            for h, vector in zip(hashes, vectors, strict=True):
                key = (ident, h)
                if key in self._entries:
                    continue
                vector = np.array(vector, dtype=np.float32, copy=True)
                vector.flags.writeable = False
                self._entries[key] = vector
                self._nbytes += vector.nbytes
            while self._nbytes > self.max_bytes and self._entries:
                _, evicted = self._entries.popitem(last=False)
                self._nbytes -= evicted.nbytes

    def clear(self):
        """Drop every entry."""
        with self._lock:
            self._entries.clear()
            self._nbytes = 0

    def info(self):
        """Return ``{"entries", "bytes", "max_bytes"}``."""
        with self._lock:
            return {
                "entries": len(self._entries),
                "bytes": self._nbytes,
                "max_bytes": self.max_bytes,
            }


def _memo_budget():
    raw = os.environ.get("GBSCORE_MEMORY_CACHE_MB", "").strip() or str(_DEFAULT_MEMO_MB)
    try:
        megabytes = int(raw)
    except ValueError:
        megabytes = -1
    if megabytes < 0:
        raise ConfigError(
            f"GBSCORE_MEMORY_CACHE_MB={raw!r} is not a whole number of megabytes >= 0; set it "
            f"to e.g. {_DEFAULT_MEMO_MB} (the default), or 0 to keep no vectors in memory."
        )
    return megabytes << 20


class _ProcessCaches:
    """The caches themselves; one instance per process, private to this module."""

    def __init__(self):
        self.lock = threading.Lock()
        # Held while a model loads, so two threads never load the same weights twice; apart
        # from ``lock`` so a slow load does not block memo and disk-cache lookups.
        self.model_lock = threading.Lock()
        self.memo = None
        self.disk = {}
        self.models = {}
        self.fingerprints = {}
        self.recent = {}  # kind -> OrderedDict(key -> value), newest last


_STATE = _ProcessCaches()


def process_memo():
    """Return the process-wide vector memo (created on first use).

    Returns
    -------
    memo : VectorMemo
    """
    with _STATE.lock:
        if _STATE.memo is None:
            _STATE.memo = VectorMemo(max_bytes=_memo_budget())
        return _STATE.memo


def open_disk_cache(directory):
    """Return this process's :class:`EmbeddingCache` of ``directory``.

    One instance per folder (by absolute path), so shards are verified once per process.
    It warns once and goes on without the folder if the folder is read-only or full
    (``on_error="warn"``); its size cap comes from ``$GBSCORE_CACHE_MAX_BYTES``.

    Parameters
    ----------
    directory : str or path-like

    Returns
    -------
    cache : EmbeddingCache
    """
    key = os.path.abspath(os.path.expanduser(os.fspath(directory)))
    with _STATE.lock:
        cache = _STATE.disk.get(key)
        if cache is None:
            cache = _STATE.disk[key] = EmbeddingCache(key, on_error="warn")
        return cache


def loaded_model(key, load):
    """Return the model loaded for ``key`` in this process, calling ``load()`` the first time.

    Parameters
    ----------
    key : hashable
        What identifies the loaded object (e.g. model folder and device).
    load : callable
        Called without arguments, at most once per key until :func:`clear_caches` with
        ``models=True``; an exception propagates and nothing is stored.

    Returns
    -------
    model : object
    """
    with _STATE.model_lock:
        model = _STATE.models.get(key)
        if model is None:
            model = _STATE.models[key] = load()
        return model


def cached_fingerprint(key, compute):
    """Return ``compute()`` for ``key``, computed once per process (until cleared)."""
    with _STATE.lock:
        value = _STATE.fingerprints.get(key)
    if value is None:
        value = compute()
        with _STATE.lock:
            _STATE.fingerprints[key] = value
    return value


#: Results kept per kind by :func:`recent_result`.
RECENT_RESULTS = 4


def recent_result(kind, key, compute, *, keep=None):
    """Return ``compute()`` for ``(kind, key)``, keeping the last ``keep`` results of
    ``kind`` (default :data:`RECENT_RESULTS`).

    For a fitted result that several estimators would compute alike on the same rows within
    one process (the fold loop fits every base of a stack on each fold's rows). ``key`` must
    identify the inputs by content; the value is shared, so callers must not modify it. A
    large result (a dense matrix per fold) should pass ``keep=1``: it is held until the next
    one of its kind replaces it, or :func:`clear_caches`. Room is made before ``compute``
    runs, so at most ``keep`` results of a kind are alive at once.
    """
    keep = RECENT_RESULTS if keep is None else keep
    with _STATE.lock:
        store = _STATE.recent.setdefault(kind, OrderedDict())
        if key in store:
            store.move_to_end(key)
            return store[key]
        while len(store) >= keep:
            store.popitem(last=False)
    value = compute()
    with _STATE.lock:
        store = _STATE.recent.setdefault(kind, OrderedDict())
        store[key] = value
        while len(store) > keep:
            store.popitem(last=False)
    return value


def clear_caches(*, models=False):
    """Empty the process-wide caches of ``gbscore.features``.

    Drops the vector memo and forgets the open disk caches (so the next read verifies the
    folder again); the disk caches' files are kept (see
    :func:`~gbscore.features.clear_disk_cache` for those).

    Parameters
    ----------
    models : bool, default=False
        Also drop the loaded encoder models and the weights fingerprints, e.g. after the
        files of a model folder changed.

    Examples
    --------
    >>> from gbscore.features import cache_info, clear_caches
    >>> clear_caches()
    >>> cache_info()["memo"]["entries"]
    0
    """
    with _STATE.lock:
        if _STATE.memo is not None:
            _STATE.memo.clear()
        # Re-read GBSCORE_MEMORY_CACHE_MB on next use.
        _STATE.memo = None
        _STATE.disk.clear()
        _STATE.recent.clear()
        if models:
            _STATE.fingerprints.clear()
    if models:
        with _STATE.model_lock:
            _STATE.models.clear()


def clear_memory_cache(*, models=False):
    """Empty the process-wide caches; the older name of :func:`clear_caches`."""
    clear_caches(models=models)


def cache_info():
    """Describe the process-wide caches.

    Returns
    -------
    info : dict
        ``{"memo": {"entries", "bytes", "max_bytes"}, "disk_caches": [folder, ...],
        "models": [key as str, ...], "fingerprints": int, "recent": {kind: entries}}``.
    """
    memo = process_memo().info()
    with _STATE.lock:
        disk = sorted(_STATE.disk)
        fingerprints = len(_STATE.fingerprints)
        recent = {kind: len(store) for kind, store in sorted(_STATE.recent.items())}
    with _STATE.model_lock:
        models = sorted(str(k) for k in _STATE.models)
    return {
        "memo": memo,
        "disk_caches": disk,
        "models": models,
        "fingerprints": fingerprints,
        "recent": recent,
    }


def memory_cache_info():
    """Return ``{"entries", "bytes", "max_bytes"}`` of the process-wide vector memo."""
    return process_memo().info()
