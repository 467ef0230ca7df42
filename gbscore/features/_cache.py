"""Embedding caches: a process-wide memo and a persistent, crash- and concurrency-safe disk cache.

Both are keyed by ``(encoder identity hash, sha256 of the UTF-8 text)``: an entry is only
ever reused by an encoder that would compute the same vector.

Disk layout::

    DIRECTORY/
      <identity hash>/
        identity.json            the encoder identity, for people and for checks
        shards/
          <time>-<pid>-<random>.npz   one per encode batch: hashes, vectors, checksum

A shard is written to a hidden temporary file in the same folder and renamed into place
(``os.replace``), so readers only ever see complete shards, and a run killed midway keeps
every batch it finished.  Shard names are unique per writer and shards are never
rewritten, so any number of processes can share one directory.  A shard that cannot be
read or fails its checksum is logged, deleted and its texts are recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from pathlib import Path

import numpy as np

__all__ = [
    "EmbeddingCache",
    "clear_memory_cache",
    "memory_cache_info",
    "text_hash",
    "identity_hash",
]

logger = logging.getLogger("gbscore")

_SHARD_SUFFIX = ".npz"
_TMP_SUFFIX = ".tmp"
# Temporary files older than this are leftovers of killed writers.
_STALE_TMP_SECONDS = 3600.0


def text_hash(text):
    """Return the sha256 hex digest of ``text`` encoded as UTF-8 (lone surrogates kept)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def identity_hash(identity):
    """Return a short, stable hex digest of an encoder identity dict."""
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:24]


# --------------------------------------------------------------------------------------
# process-wide memo
# --------------------------------------------------------------------------------------


class _VectorMemo:
    """Thread-safe LRU map ``(identity hash, text hash) -> vector`` bounded in bytes."""

    def __init__(self, max_bytes):
        self.max_bytes = max_bytes
        self._entries = OrderedDict()
        self._nbytes = 0
        self._lock = threading.Lock()

    def get_many(self, ident, hashes):
        found = {}
        with self._lock:
            for h in hashes:
                vector = self._entries.get((ident, h))
                if vector is not None:
                    self._entries.move_to_end((ident, h))
                    found[h] = vector
        return found

    def put_many(self, ident, hashes, vectors):
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
        with self._lock:
            self._entries.clear()
            self._nbytes = 0

    def info(self):
        with self._lock:
            return {
                "entries": len(self._entries),
                "bytes": self._nbytes,
                "max_bytes": self.max_bytes,
            }


_MEMO = _VectorMemo(max_bytes=int(os.environ.get("GBSCORE_MEMORY_CACHE_MB", "2048")) << 20)


def clear_memory_cache(*, models=False):
    """Empty the process-wide embedding memo (and, with ``models=True``, the loaded models).

    The memo lets ``clone``-d featurizers (one per CV fold) reuse vectors computed by
    another.  It is bounded (least recently used entries go first) by the environment
    variable ``GBSCORE_MEMORY_CACHE_MB`` (default 2048).

    Parameters
    ----------
    models : bool, default=False
        Also drop the process-wide cache of loaded sentence-transformers models.
    """
    _MEMO.clear()
    from . import _featurizer

    with _featurizer._DISK_LOCK:
        # Forget which shards were verified, so the next read re-checks the disk.
        _featurizer._DISK_CACHES.clear()
    if models:
        from . import _encoders

        with _encoders._MODEL_LOCK:
            _encoders._MODEL_CACHE.clear()


def memory_cache_info():
    """Return ``{"entries", "bytes", "max_bytes"}`` of the process-wide embedding memo."""
    return _MEMO.info()


# --------------------------------------------------------------------------------------
# disk cache
# --------------------------------------------------------------------------------------


class _CorruptShard(Exception):
    pass


def _checksum(hashes, vectors):
    digest = hashlib.sha256()
    digest.update(repr((hashes.dtype.str, hashes.shape, vectors.dtype.str, vectors.shape)).encode())
    digest.update(hashes.tobytes())
    digest.update(vectors.tobytes())
    return digest.hexdigest()


def _read_shard(path):
    """Return ``(hashes: list[str], vectors: ndarray)`` of a verified shard.

    Raises FileNotFoundError if it vanished and _CorruptShard if it is not trustworthy.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            hashes = npz["hashes"]
            vectors = npz["vectors"]
            stored = npz["checksum"]
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - truncated zip, bad CRC, missing member...
        raise _CorruptShard(f"unreadable ({type(exc).__name__}: {exc})") from exc
    if (
        hashes.ndim != 1
        or vectors.ndim != 2
        or vectors.dtype != np.float32
        or len(hashes) != len(vectors)
    ):
        raise _CorruptShard(
            f"inconsistent arrays (hashes {hashes.shape}, vectors {vectors.shape} {vectors.dtype})"
        )
    if stored.shape != () or str(stored) != _checksum(hashes, vectors):
        raise _CorruptShard("checksum mismatch")
    if not np.isfinite(vectors).all():
        raise _CorruptShard("non-finite values")
    return [h.decode("ascii") for h in hashes.tolist()], vectors


def _write_atomic(path, write):
    """Write a file by calling ``write(fh)`` on a temporary sibling, then renaming it."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}{_TMP_SUFFIX}")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise


class EmbeddingCache:
    """Persistent on-disk embedding cache shared safely between runs and processes.

    Entries are keyed by encoder identity (one subfolder per identity hash, with the
    identity written beside as ``identity.json``) and by the sha256 of the text.  Each
    :meth:`put_many` writes one immutable shard atomically, with a checksum.

    Parameters
    ----------
    directory : str or path-like
        Root folder; created on first write.

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

    def __init__(self, directory):
        self.directory = Path(directory).expanduser()
        # Per identity hash: shard name -> hashes list, for shards already verified.
        self._known = {}
        self._index = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.shards_written = 0
        self.corrupt_shards_removed = 0

    def __repr__(self):
        return f"EmbeddingCache({str(self.directory)!r})"

    # -- paths ------------------------------------------------------------------------

    def _shard_dir(self, ident):
        return self.directory / ident / "shards"

    def _ensure_identity_dir(self, identity, ident):
        shard_dir = self._shard_dir(ident)
        shard_dir.mkdir(parents=True, exist_ok=True)
        identity_file = self.directory / ident / "identity.json"
        if not identity_file.exists():
            text = json.dumps(identity, sort_keys=True, indent=2, default=str)
            _write_atomic(identity_file, lambda fh: fh.write(text.encode("utf-8")))
        return shard_dir

    def _list_shards(self, ident):
        shard_dir = self._shard_dir(ident)
        try:
            names = os.listdir(shard_dir)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if n.endswith(_SHARD_SUFFIX) and not n.startswith("."))

    def _discard(self, ident, path, reason):
        logger.warning(
            "Embedding cache shard %s is %s; it was removed and its texts will be recomputed.",
            path,
            reason,
        )
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        self.corrupt_shards_removed += 1

    def _refresh(self, ident):
        """Verify shards not seen before; return {name: vectors} of those just read."""
        known = self._known.setdefault(ident, {})
        index = self._index.setdefault(ident, {})
        present = self._list_shards(ident)
        fresh = {}
        for name in present:
            if name in known:
                continue
            path = self._shard_dir(ident) / name
            try:
                hashes, vectors = _read_shard(path)
            except FileNotFoundError:
                continue
            except _CorruptShard as exc:
                self._discard(ident, path, str(exc))
                continue
            known[name] = hashes
            fresh[name] = vectors
            for row, h in enumerate(hashes):
                index.setdefault(h, (name, row))
        # Forget shards another process compacted away.
        gone = set(known) - set(present)
        if gone:
            for name in gone:
                del known[name]
            self._index[ident] = {h: loc for h, loc in index.items() if loc[0] not in gone}
            for name in known:
                for row, h in enumerate(known[name]):
                    self._index[ident].setdefault(h, (name, row))
        return fresh

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
        with self._lock:
            found = {}
            for attempt in range(2):
                fresh = self._refresh(ident)
                index = self._index.get(ident, {})
                wanted = {}
                for h in hashes:
                    if h not in found and h in index:
                        name, row = index[h]
                        wanted.setdefault(name, []).append((h, row))
                vanished = False
                for name, items in wanted.items():
                    vectors = fresh.get(name)
                    if vectors is None:
                        path = self._shard_dir(ident) / name
                        try:
                            _, vectors = _read_shard(path)
                        except FileNotFoundError:
                            vanished = True
                            continue
                        except _CorruptShard as exc:
                            self._discard(ident, path, str(exc))
                            vanished = True
                            continue
                    for h, row in items:
                        found[h] = vectors[row]
                if not vanished or attempt:
                    break
            missing = [h for h in hashes if h not in found]
            self.hits += len(found)
            self.misses += len(missing)
        return found, missing

    def put_many(self, identity, hashes, vectors):
        """Store vectors as one new shard, written atomically.

        Parameters
        ----------
        identity : dict
        hashes : list of str
            Text hashes, one per row of ``vectors``.
        vectors : array-like of shape (n, dim)

        Returns
        -------
        path : Path or None
            The shard written (None when ``hashes`` is empty).
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
        if not hashes:
            return None
        return self._write_shard(identity_hash(identity), identity, hashes, vectors)

    def _write_shard(self, ident, identity, hashes, vectors):
        hash_array = np.asarray([h.encode("ascii") for h in hashes], dtype="S64")
        checksum = np.asarray(_checksum(hash_array, vectors))
        with self._lock:
            if identity is None:
                shard_dir = self._shard_dir(ident)
                shard_dir.mkdir(parents=True, exist_ok=True)
            else:
                shard_dir = self._ensure_identity_dir(identity, ident)
            name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:12]}{_SHARD_SUFFIX}"
            path = shard_dir / name

            def write(fh):
                np.savez(fh, hashes=hash_array, vectors=vectors, checksum=checksum)

            _write_atomic(path, write)
            self.shards_written += 1
        return path

    def compact(self, identity=None):
        """Merge each identity's shards into one, dropping duplicates and stale temp files.

        Safe while other processes read or write: the merged shard is written (atomically)
        before the shards it replaces are deleted, shards written meanwhile are left
        alone, and readers that miss a deleted shard rescan.

        Parameters
        ----------
        identity : dict, optional
            Compact only this identity; by default all of them.

        Returns
        -------
        merged : int
            Number of shards merged away.
        """
        if identity is not None:
            idents = [identity_hash(identity)]
        else:
            idents = [d.name for d in self._identity_dirs()]
        merged = 0
        for ident in idents:
            self._remove_stale_tmp(ident)
            names = self._list_shards(ident)
            if len(names) < 2:
                continue
            all_hashes, all_vectors, consumed = [], [], []
            seen = set()
            for name in names:
                path = self._shard_dir(ident) / name
                try:
                    hashes, vectors = _read_shard(path)
                except FileNotFoundError:
                    continue
                except _CorruptShard as exc:
                    self._discard(ident, path, str(exc))
                    continue
                keep = [i for i, h in enumerate(hashes) if h not in seen]
                seen.update(hashes)
                all_hashes.extend(hashes[i] for i in keep)
                all_vectors.append(vectors[keep])
                consumed.append(path)
            if len(consumed) < 2:
                continue
            self._write_shard(ident, None, all_hashes, np.concatenate(all_vectors))
            for path in consumed:
                try:
                    path.unlink()
                except FileNotFoundError:
                    pass
            merged += len(consumed)
        return merged

    def stats(self):
        """Return a summary: per identity the shards, entries and bytes; and call counters.

        Returns
        -------
        stats : dict
            ``{"directory", "identities": [{"hash", "identity", "shards", "entries",
            "bytes"}], "hits", "misses", "shards_written", "corrupt_shards_removed"}``.
        """
        identities = []
        for folder in self._identity_dirs():
            ident = folder.name
            with self._lock:
                self._refresh(ident)
                known = self._known.get(ident, {})
                entries = len(self._index.get(ident, {}))
            size = 0
            for name in known:
                try:
                    size += (self._shard_dir(ident) / name).stat().st_size
                except FileNotFoundError:
                    pass
            identities.append(
                {
                    "hash": ident,
                    "identity": self._read_identity(ident),
                    "shards": len(known),
                    "entries": entries,
                    "bytes": size,
                }
            )
        return {
            "directory": str(self.directory),
            "identities": identities,
            "hits": self.hits,
            "misses": self.misses,
            "shards_written": self.shards_written,
            "corrupt_shards_removed": self.corrupt_shards_removed,
        }

    # -- helpers ----------------------------------------------------------------------

    def _identity_dirs(self):
        try:
            return sorted(d for d in self.directory.iterdir() if (d / "shards").is_dir())
        except FileNotFoundError:
            return []

    def _read_identity(self, ident):
        try:
            return json.loads((self.directory / ident / "identity.json").read_text("utf-8"))
        except (OSError, ValueError):
            return {"unknown_identity_hash": ident}

    def _remove_stale_tmp(self, ident):
        shard_dir = self._shard_dir(ident)
        try:
            names = os.listdir(shard_dir)
        except FileNotFoundError:
            return
        now = time.time()
        for name in names:
            if name.startswith(".") and name.endswith(_TMP_SUFFIX):
                path = shard_dir / name
                try:
                    if now - path.stat().st_mtime > _STALE_TMP_SECONDS:
                        path.unlink()
                except FileNotFoundError:
                    pass
