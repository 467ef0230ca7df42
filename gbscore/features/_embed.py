"""One vector per distinct string: the process memo, then the disk cache, then the encoder.

Each encoded batch is stored back at once (disk cache and memo), so an interrupted run resumes
where it stopped.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time

import numpy as np
from tqdm.auto import tqdm

from ._memory import open_disk_cache, process_memo
from ._shards import identity_hash, text_hash

__all__ = ["accepts_show_progress", "embed_strings", "encoding_totals", "record_encoding"]

logger = logging.getLogger("gbscore")

# Texts encoded and seconds spent encoding them in this process, for "where the time went".
_ENCODED = {"texts": 0, "seconds": 0.0}
_ENCODED_LOCK = threading.Lock()
# The same counts per thread: a CV fold (one thread) measures its own encoding exactly while
# other folds encode in other threads of the process (a Dask worker runs several at once).
_THREAD = threading.local()


def record_encoding(texts, seconds, *, this_thread=False):
    """Add encoding to this process's totals: done here (``this_thread``, which also counts
    it for the calling thread) or in another process (a CV fold's worker)."""
    with _ENCODED_LOCK:
        _ENCODED["texts"] += int(texts)
        _ENCODED["seconds"] += float(seconds)
    if this_thread:
        _THREAD.texts = getattr(_THREAD, "texts", 0) + int(texts)
        _THREAD.seconds = getattr(_THREAD, "seconds", 0.0) + float(seconds)


def encoding_totals(*, thread=False):
    """Texts encoded (not read from a cache) and the wall seconds it took.

    Parameters
    ----------
    thread : bool, default=False
        Count only what the calling thread encoded, instead of the whole process (plus
        what CV-fold workers reported back to it).

    Returns
    -------
    dict with ``"texts"`` (int) and ``"seconds"`` (float)
    """
    if thread:
        return {"texts": getattr(_THREAD, "texts", 0), "seconds": getattr(_THREAD, "seconds", 0.0)}
    with _ENCODED_LOCK:
        return dict(_ENCODED)


def accepts_show_progress(encoder):
    """Whether ``encoder.encode`` takes ``show_progress`` (so its own bar can be silenced)."""
    try:
        return "show_progress" in inspect.signature(encoder.encode).parameters
    except (TypeError, ValueError):
        return False


def embed_strings(
    encoder, strings, *, dim=None, cache_dir=None, batch_size=256, show_progress=True, log=True
):
    """Return one float32 vector per string, via memo, disk cache, then the encoder.

    Parameters
    ----------
    encoder : fitted encoder
        Anything with ``encode(texts)`` and ``identity()``.
    strings : list of str
        Distinct strings.
    dim : int, default=None
        The width every vector must have (``None``: whatever the first batch the encoder
        returns has).
    cache_dir : str or path-like, default=None
        Folder of the persistent embedding cache; ``None``: the memo only.
    batch_size : int, default=256
        Strings per encoder call, and per disk-cache shard.
    show_progress : bool, default=True
        Progress bar over the strings that were in no cache.
    log : bool, default=True
        Log where the vectors came from at INFO (at DEBUG when False).

    Returns
    -------
    ndarray of float32, shape (len(strings), dim)
    """
    identity = encoder.identity()
    ident = identity_hash(identity)
    hashes = [text_hash(s) for s in strings]
    memo = process_memo()
    found = memo.get_many(ident, hashes)
    n_memo = len(found)
    missing = [i for i, h in enumerate(hashes) if h not in found]
    cache = open_disk_cache(cache_dir) if cache_dir is not None else None
    n_disk = 0
    if cache is not None and missing:
        from_disk, _ = cache.get_many(identity, [hashes[i] for i in missing])
        memo.put_many(ident, list(from_disk), list(from_disk.values()))
        found.update(from_disk)
        n_disk = len(from_disk)
        missing = [i for i in missing if hashes[i] not in found]
    seconds = 0.0
    if missing:
        started = time.perf_counter()
        # Longest first: similar lengths share a batch (less padding), and a batch too
        # big for memory fails at once rather than at the end.
        missing.sort(key=lambda i: -len(strings[i]))
        quiet = {"show_progress": False} if accepts_show_progress(encoder) else {}
        step = batch_size
        with tqdm(
            total=len(missing),
            desc="Encoding texts",
            unit="text",
            disable=not show_progress,
        ) as bar:
            for start in range(0, len(missing), step):
                batch = missing[start : start + step]
                vectors = _checked_vectors(
                    encoder, encoder.encode([strings[i] for i in batch], **quiet), len(batch), dim
                )
                dim = vectors.shape[1]
                batch_hashes = [hashes[i] for i in batch]
                if cache is not None:
                    cache.put_many(identity, batch_hashes, vectors)
                memo.put_many(ident, batch_hashes, vectors)
                found.update(zip(batch_hashes, vectors, strict=True))
                bar.update(len(batch))
        seconds = time.perf_counter() - started
        record_encoding(len(missing), seconds, this_thread=True)
    logger.log(
        logging.INFO if log else logging.DEBUG,
        "EmbeddingFeaturizer: %d distinct strings: %d from memory, %d from disk cache, "
        "%d encoded%s.",
        len(strings),
        n_memo,
        n_disk,
        len(missing),
        f" in {seconds:.1f}s ({len(missing) / max(seconds, 1e-9):.0f} texts/s)" if missing else "",
    )
    if not strings:
        return np.zeros((0, dim or 0), dtype=np.float32)
    return np.stack([found[h] for h in hashes]).astype(np.float32, copy=False)


def _checked_vectors(encoder, vectors, n, expected_dim):
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != n:
        raise ValueError(
            f"{type(encoder).__name__}.encode returned shape {vectors.shape} for "
            f"{n} texts; expected ({n}, dim)."
        )
    if expected_dim is not None and vectors.shape[1] != expected_dim:
        raise ValueError(
            f"{type(encoder).__name__}.encode returned {vectors.shape[1]} dimensions; "
            f"it returned {expected_dim} before (at fit time, or for an earlier batch)."
        )
    if not np.isfinite(vectors).all():
        raise ValueError(f"{type(encoder).__name__}.encode returned NaN or inf values.")
    return vectors
