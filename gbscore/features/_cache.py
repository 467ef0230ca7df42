"""The persistent embedding cache: crash- and concurrency-safe, self-compacting, size-capped.

Entries are keyed by ``(encoder identity hash, sha256 of the UTF-8 text)``: an entry is
only ever reused by an encoder that would compute the same vector (layout in
:mod:`gbscore.features._shards`).

A shard is written with :func:`gbscore._io.atomic_write`, so readers only ever see
complete shards, and a run killed midway keeps every batch it finished.  Shard names are
unique per writer and shards are never rewritten, so any number of processes can share one
directory.  A shard that cannot be read or fails its checksum is logged, deleted and its
texts are recomputed.

The cache stays bounded on its own: when an identity has more than ``compact_after`` small
shards, a write merges them (:meth:`EmbeddingCache.compact`); and when the whole directory
grows over ``max_bytes`` (``$GBSCORE_CACHE_MAX_BYTES``, default 10 GiB), the least recently
used shards are deleted.  This module holds the lookup and write path; compaction, eviction,
clearing and statistics are in :mod:`gbscore.features._cache_upkeep`.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
import warnings
from pathlib import Path

import numpy as np

from .._io import atomic_write
from ..exceptions import CacheWarning
from ._cache_upkeep import CacheUpkeep
from ._shards import (
    SHARD_SUFFIX,
    CorruptShard,
    identity_hash,
    read_shard,
    resolve_max_bytes,
    shard_checksum,
    shard_names,
)

__all__ = ["EmbeddingCache"]

logger = logging.getLogger("gbscore")

# A shard's modification time is its "last used" time; refresh it at most this often.
_TOUCH_SECONDS = 60.0
#: Listings of a shard folder one lookup may make while other processes compact it.
_LOOKUP_ATTEMPTS = 8


class EmbeddingCache(CacheUpkeep):
    """Persistent on-disk embedding cache shared safely between runs and processes.

    Entries are keyed by encoder identity (one subfolder per identity hash, with the
    identity written beside as ``identity.json``) and by the sha256 of the text.  Each
    :meth:`put_many` writes one immutable shard atomically, with a checksum.

    Parameters
    ----------
    directory : str or path-like
        Root folder; created on first write.
    max_bytes : int, default=None
        Size cap of the whole folder: after writes, the least recently used shards (by
        last read or write) are deleted until the folder is under it; the shard just
        written is always kept.  ``0`` means no cap.  ``None`` reads the environment
        variable ``GBSCORE_CACHE_MAX_BYTES`` (bytes, optionally with a K/M/G/T suffix;
        ``0`` for no cap), else :data:`DEFAULT_MAX_BYTES` (10 GiB).
    compact_after : int or None, default=32
        A write that leaves an identity with more than this many small shards merges them
        (:meth:`compact`).  ``None`` never compacts on its own.
    on_error : {"raise", "warn"}, default="raise"
        What an operating-system error of the folder does (read-only, full, no permission):
        propagate, or emit one :class:`~gbscore.exceptions.CacheWarning` and go on without
        the cache (without writing after a failed write; without reading after a failed
        read).

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from gbscore.features import EmbeddingCache, text_hash
    >>> cache = EmbeddingCache(tempfile.mkdtemp())
    >>> ident = {"encoder": "demo"}
    >>> _ = cache.put_many(ident, [text_hash("a")], np.ones((1, 3), np.float32))
    >>> found, missing = cache.get_many(ident, [text_hash("a"), text_hash("b")])
    >>> len(found), len(missing)
    (1, 1)
    """

    def __init__(self, directory, *, max_bytes=None, compact_after=32, on_error="raise"):
        if on_error not in ("raise", "warn"):
            raise ValueError(f"on_error must be 'raise' or 'warn'; got {on_error!r}.")
        if compact_after is not None and (not isinstance(compact_after, int) or compact_after < 2):
            raise ValueError(f"compact_after must be an int >= 2 or None; got {compact_after!r}.")
        self.directory = Path(directory).expanduser()
        self.max_bytes = resolve_max_bytes(max_bytes)
        self.compact_after = compact_after
        self.on_error = on_error
        # Per identity hash: shard name -> hashes list, for shards already verified.
        self._known = {}
        self._index = {}
        self._lock = threading.Lock()
        self._touched = {}
        self._bytes_since_limit_check = None
        self._readable = True
        self._writable = True
        self.hits = 0
        self.misses = 0
        self.shards_written = 0
        self.corrupt_shards_removed = 0
        self.shards_evicted = 0

    def __repr__(self):
        return f"EmbeddingCache({str(self.directory)!r})"

    # -- faults -----------------------------------------------------------------------

    def _give_up(self, operation, exc):
        """Stop using the folder for ``operation`` after an OS error, warning once."""
        first = self._readable and self._writable
        self._writable = False
        if operation == "read":
            self._readable = False
        if first:
            warnings.warn(
                f"The embedding cache {str(self.directory)!r} cannot be {operation} "
                f"({type(exc).__name__}: {exc}). This run goes on without "
                + ("it" if operation == "read" else "storing new embeddings in it")
                + "; texts it lacks are encoded again on the next run. Free disk space or fix "
                "the folder's permissions, or choose another folder with --cache-dir or the "
                "GBSCORE_CACHE_DIR environment variable.",
                CacheWarning,
                stacklevel=3,
            )

    # -- paths ------------------------------------------------------------------------

    def _shard_dir(self, ident):
        return self.directory / ident / "shards"

    def _list_shards(self, ident):
        return shard_names(self._shard_dir(ident))

    def _discard(self, ident, path, reason):
        logger.warning(
            "Embedding cache shard %s is %s; it was removed and its texts will be recomputed.",
            path,
            reason,
        )
        try:
            path.unlink()
        except OSError:
            pass  # gone already, or a read-only folder: it stays ignored by every reader
        self.corrupt_shards_removed += 1

    def _touch(self, path):
        """Mark a shard as used now (its mtime orders eviction), at most once a minute."""
        now = time.time()
        if now - self._touched.get(path, 0.0) < _TOUCH_SECONDS:
            return
        self._touched[path] = now
        try:
            os.utime(path)
        except OSError:
            pass  # vanished, or a read-only folder: eviction order is only a heuristic

    def _refresh(self, ident):
        """Verify shards not seen before.

        Returns ``({name: vectors} of those just read, whether a listed shard vanished before
        it could be read)``: another process compacted it away since the listing.
        """
        known = self._known.setdefault(ident, {})
        index = self._index.setdefault(ident, {})
        shard_dir = self._shard_dir(ident)
        present = self._list_shards(ident)
        fresh, raced = {}, False
        for name in present:
            if name in known:
                continue
            path = shard_dir / name
            try:
                hashes, vectors = read_shard(path)
            except FileNotFoundError:
                # Compacted away since the listing: its entries are in a newer shard.
                raced = True
                continue
            except CorruptShard as exc:
                self._discard(ident, path, str(exc))
                continue
            known[name] = hashes
            fresh[name] = vectors
            for row, h in enumerate(hashes):
                index.setdefault(h, (name, row))
        # Forget shards another process compacted or evicted away.
        gone = set(known) - set(present)
        if gone:
            for name in gone:
                del known[name]
            self._index[ident] = {h: loc for h, loc in index.items() if loc[0] not in gone}
            for name in known:
                for row, h in enumerate(known[name]):
                    self._index[ident].setdefault(h, (name, row))
        return fresh, raced

    # -- public API -------------------------------------------------------------------

    def get_many(self, identity, hashes):
        """Look up vectors.

        Parameters
        ----------
        identity : dict
            Encoder identity (see ``BaseTextEncoder.identity``).
        hashes : list of str
            Text hashes (:func:`text_hash`).

        Returns
        -------
        found : dict of str to ndarray
            Vectors of the hashes present.
        missing : list of str
            Hashes absent (in input order).
        """
        ident = identity_hash(identity)
        found = {}
        with self._lock:
            try:
                if self._readable:
                    self._lookup(ident, hashes, found)
            except OSError as exc:  # no permission, I/O error: not a damaged shard
                if self.on_error == "raise":
                    raise
                self._give_up("read", exc)
            missing = [h for h in hashes if h not in found]
            self.hits += len(found)
            self.misses += len(missing)
        return found, missing

    def _lookup(self, ident, hashes, found):
        # Another process's compaction writes the merged shard before it deletes the ones it
        # replaces, so a shard that vanishes under a read means: list again. Each retry
        # follows a compaction elsewhere; the bound only guards against a folder rewritten
        # faster than it can be read.
        for attempt in range(_LOOKUP_ATTEMPTS):
            fresh, raced = self._refresh(ident)
            index = self._index.get(ident, {})
            wanted = {}
            for h in hashes:
                if h not in found and h in index:
                    name, row = index[h]
                    wanted.setdefault(name, []).append((h, row))
            vanished = False
            for name, items in wanted.items():
                path = self._shard_dir(ident) / name
                vectors = fresh.get(name)
                if vectors is None:
                    try:
                        _, vectors = read_shard(path)
                    except FileNotFoundError:
                        vanished = True
                        continue
                    except CorruptShard as exc:
                        self._discard(ident, path, str(exc))
                        vanished = True
                        continue
                for h, row in items:
                    found[h] = vectors[row]
                self._touch(path)
            if not (vanished or raced) or attempt == _LOOKUP_ATTEMPTS - 1:
                break

    def put_many(self, identity, hashes, vectors):
        """Store vectors as one new shard, written atomically.

        A write may then compact the identity's shards and evict least recently used
        shards to keep the folder under ``max_bytes``.

        Parameters
        ----------
        identity : dict
        hashes : list of str
            Text hashes, one per row of ``vectors``.
        vectors : array-like of shape (n, dim)

        Returns
        -------
        path : Path or None
            The shard written (None when ``hashes`` is empty, or when the folder cannot be
            written and ``on_error="warn"``).
        """
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        hashes = list(hashes)
        if vectors.ndim != 2 or len(hashes) != vectors.shape[0]:
            raise ValueError(
                f"put_many needs one vector per hash: got {len(hashes)} hash(es) and vectors "
                f"of shape {vectors.shape}."
            )
        if not np.isfinite(vectors).all():
            raise ValueError("put_many refuses non-finite vectors (NaN or inf).")
        if not hashes or not self._writable:
            return None
        ident = identity_hash(identity)
        try:
            path = self._write_shard(ident, identity, hashes, vectors)
            self._maybe_compact(identity, ident)
            self._maybe_evict(path)
        except OSError as exc:
            if self.on_error == "raise":
                raise
            self._give_up("written", exc)
            return None
        return path

    def _write_shard(self, ident, identity, hashes, vectors):
        hash_array = np.asarray([h.encode("ascii") for h in hashes], dtype="S64")
        checksum = np.asarray(shard_checksum(hash_array, vectors))
        with self._lock:
            shard_dir = self._shard_dir(ident)
            identity_file = self.directory / ident / "identity.json"
            if identity is not None and not identity_file.exists():
                text = json.dumps(identity, sort_keys=True, indent=2, default=str)
                atomic_write(identity_file, lambda fh: fh.write(text), text=True)
            name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:12]}{SHARD_SUFFIX}"
            path = shard_dir / name

            def write(fh):
                np.savez(fh, hashes=hash_array, vectors=vectors, checksum=checksum)

            atomic_write(path, write)
            self.shards_written += 1
            if self._bytes_since_limit_check is not None:
                self._bytes_since_limit_check += path.stat().st_size
        return path
