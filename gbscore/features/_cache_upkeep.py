"""Keeping the embedding cache bounded, and looking inside it.

:class:`CacheUpkeep` is the half of :class:`~gbscore.features.EmbeddingCache` that works on
whole folders rather than on one lookup or one write: merging small shards
(:meth:`~CacheUpkeep.compact`), deleting the least recently used ones over the size cap
(:meth:`~CacheUpkeep.evict`), removing identities (:meth:`~CacheUpkeep.clear`) and summing
them up (:meth:`~CacheUpkeep.stats`). It reads the folder through the read and write path of
``EmbeddingCache`` (``_shard_dir``, ``_refresh``, ``_write_shard``, ``_discard``) and is not
used on its own.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np

from .._io import is_temporary_name
from ._shards import (
    IDENTITY_NAME,
    CorruptShard,
    identity_dirs,
    identity_hash,
    read_identity,
    read_shard,
    shard_names,
)

__all__ = ["MERGED_SHARD_BYTES", "CacheUpkeep"]

logger = logging.getLogger("gbscore")

# Temporary files older than this are leftovers of killed writers.
_STALE_TMP_SECONDS = 3600.0
#: Shards smaller than this are merged by compaction; merged shards are cut at this size, so
#: each byte is rewritten a few times at most, not on every compaction.
MERGED_SHARD_BYTES = 64 << 20


class CacheUpkeep:
    """Compaction, size-capped eviction, clearing and statistics of an :class:`EmbeddingCache`."""

    def _small_shards(self, ident):
        small = []
        for name in self._list_shards(ident):
            try:
                if (self._shard_dir(ident) / name).stat().st_size < MERGED_SHARD_BYTES:
                    small.append(name)
            except FileNotFoundError:
                pass
        return small

    def _maybe_compact(self, identity, ident):
        limit = self.compact_after
        if limit is None or len(self._list_shards(ident)) <= limit:
            return
        if len(self._small_shards(ident)) > limit:
            merged = self.compact(identity)
            logger.debug("Embedding cache %s: merged %d small shards.", self.directory, merged)

    def _maybe_evict(self, keep):
        # A full scan of the folder on this instance's first write, then once per 1/64 of
        # the cap written: the folder may overshoot by that much per concurrent writer.
        if self.max_bytes is None:
            return
        since = self._bytes_since_limit_check
        if since is not None and since < max(1, self.max_bytes // 64):
            return
        self._bytes_since_limit_check = 0
        self.evict(keep=keep)

    def evict(self, max_bytes=None, *, keep=None):
        """Delete least recently used shards until the folder holds at most ``max_bytes``.

        A shard's last use is its last read or write by any process (its modification
        time).  Runs on its own after writes; call it to shrink the folder now.

        Parameters
        ----------
        max_bytes : int, default=None
            Target size; ``None`` uses the cache's ``max_bytes`` (no-op without a cap).
        keep : path-like, optional
            A shard never to delete (the one just written).

        Returns
        -------
        evicted : int
            Number of shards deleted.
        """
        target = self.max_bytes if max_bytes is None else int(max_bytes)
        if target is None:
            return 0
        shards = []
        for folder in identity_dirs(self.directory):
            for name in shard_names(folder / "shards"):
                path = folder / "shards" / name
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue
                shards.append((stat.st_mtime, name, stat.st_size, path))
        total = sum(size for _, _, size, _ in shards)
        evicted = 0
        for _, _, size, path in sorted(shards):
            if total <= target:
                break
            if keep is not None and Path(path) == Path(keep):
                continue
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            total -= size
            evicted += 1
        if evicted:
            self.shards_evicted += evicted
            logger.info(
                "Embedding cache %s was over its size cap of %d bytes: removed the %d least "
                "recently used shard(s).",
                self.directory,
                target,
                evicted,
            )
        return evicted

    def compact(self, identity=None):
        """Merge each identity's small shards, dropping duplicates and stale temp files.

        Shards under 64 MiB are merged into shards of at most 64 MiB, so repeated
        compactions rewrite each entry only a few times.  Writes run this on their own
        when an identity has more than ``compact_after`` small shards.

        Safe while other processes read or write: the merged shards are written
        (atomically) before the shards they replace are deleted, shards written meanwhile
        are left alone, and readers that miss a deleted shard rescan.

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
            idents = [d.name for d in identity_dirs(self.directory)]
        merged = 0
        for ident in idents:
            self._remove_stale_tmp(ident)
            names = self._small_shards(ident)
            if len(names) < 2:
                continue
            all_hashes, all_vectors, consumed = [], [], []
            seen = set()
            for name in names:
                path = self._shard_dir(ident) / name
                try:
                    hashes, vectors = read_shard(path)
                except FileNotFoundError:
                    continue
                except CorruptShard as exc:
                    self._discard(ident, path, str(exc))
                    continue
                keep = [i for i, h in enumerate(hashes) if h not in seen]
                seen.update(hashes)
                all_hashes.extend(hashes[i] for i in keep)
                all_vectors.append(vectors[keep])
                consumed.append(path)
            if len(consumed) < 2:
                continue
            vectors = np.concatenate(all_vectors)
            rows = max(1, MERGED_SHARD_BYTES // max(1, vectors.shape[1] * 4 + 64))
            for start in range(0, len(all_hashes), rows):
                part = slice(start, start + rows)
                self._write_shard(ident, None, all_hashes[part], vectors[part])
            for path in consumed:
                try:
                    path.unlink()
                except FileNotFoundError:
                    pass
            merged += len(consumed)
        return merged

    def clear(self, identity=None):
        """Delete the cached vectors of one identity, or of all of them.

        Only identity folders (``<24 hex digits>/shards``) are removed, never other files
        that happen to be in the directory.

        Parameters
        ----------
        identity : dict or str, optional
            An identity dict or its hash (:func:`identity_hash`); by default all.

        Returns
        -------
        removed : dict
            ``{"identities": n, "bytes": freed}``.
        """
        if identity is None:
            folders = [d for d in identity_dirs(self.directory) if IDENTITY_NAME.match(d.name)]
        else:
            ident = identity if isinstance(identity, str) else identity_hash(identity)
            folders = [self.directory / ident] if (self.directory / ident).is_dir() else []
        freed = 0
        with self._lock:
            for folder in folders:
                freed += sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
                shutil.rmtree(folder)
                self._known.pop(folder.name, None)
                self._index.pop(folder.name, None)
        return {"identities": len(folders), "bytes": freed}

    def stats(self):
        """Return a summary: per identity the shards, entries and bytes; and call counters.

        Every shard is read and verified; :func:`disk_cache_info` is a cheaper summary.

        Returns
        -------
        stats : dict
            ``{"directory", "identities": [{"hash", "identity", "shards", "entries",
            "bytes"}], "hits", "misses", "shards_written", "corrupt_shards_removed",
            "shards_evicted"}``.
        """
        identities = []
        for folder in identity_dirs(self.directory):
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
                    "identity": read_identity(folder),
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
            "shards_evicted": self.shards_evicted,
        }

    def _remove_stale_tmp(self, ident):
        shard_dir = self._shard_dir(ident)
        try:
            names = os.listdir(shard_dir)
        except FileNotFoundError:
            return
        now = time.time()
        for name in names:
            if is_temporary_name(name):
                path = shard_dir / name
                try:
                    if now - path.stat().st_mtime > _STALE_TMP_SECONDS:
                        path.unlink()
                except FileNotFoundError:
                    pass
