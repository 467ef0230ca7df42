"""A cache folder's summary and removal: what ``gbscore cache info`` / ``cache clear`` call."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np

from ..exceptions import GbscoreError
from ._cache import EmbeddingCache
from ._shards import default_cache_dir, identity_dirs, read_identity, resolve_max_bytes, shard_names

__all__ = ["clear_disk_cache", "disk_cache_info"]


def _describe(identity):
    name = identity.get("encoder", "unknown encoder")
    detail = identity.get("model") or identity.get("fitted_state") or ""
    return f"{name} {detail}".strip()


def disk_cache_info(directory=None):
    """Summarise an embedding cache folder without verifying every vector.

    Parameters
    ----------
    directory : str or path-like, optional
        The cache folder; default :func:`default_cache_dir`.

    Returns
    -------
    info : dict
        ``{"directory": str, "exists": bool, "bytes": int, "max_bytes": int or None,
        "identities": [...]}`` where each identity (one encoder, most recently used first)
        is ``{"identity_hash", "encoder" (a short description), "identity" (the full
        dict), "texts" (distinct texts stored), "shards", "bytes", "last_used" (ISO 8601
        local time)}``.

    Examples
    --------
    >>> import tempfile
    >>> disk_cache_info(tempfile.mkdtemp())["identities"]
    []
    """
    directory = Path(default_cache_dir() if directory is None else directory).expanduser()
    identities = []
    for folder in identity_dirs(directory):
        hashes, size, last_used, shards = set(), 0, 0.0, 0
        for name in shard_names(folder / "shards"):
            path = folder / "shards" / name
            try:
                stat = path.stat()
                with np.load(path, allow_pickle=False) as npz:
                    hashes.update(npz["hashes"].tolist())
            except FileNotFoundError:
                continue
            except Exception:  # noqa: BLE001 - a damaged shard still takes space
                pass
            shards += 1
            size += stat.st_size
            last_used = max(last_used, stat.st_mtime)
        if not shards:
            continue
        identity = read_identity(folder)
        identities.append(
            {
                "identity_hash": folder.name,
                "encoder": _describe(identity),
                "identity": identity,
                "texts": len(hashes),
                "shards": shards,
                "bytes": size,
                "last_used": datetime.fromtimestamp(last_used).isoformat(timespec="seconds"),
            }
        )
    identities.sort(key=lambda item: item["last_used"], reverse=True)
    return {
        "directory": str(directory),
        "exists": directory.is_dir(),
        "bytes": sum(item["bytes"] for item in identities),
        "max_bytes": resolve_max_bytes(None),
        "identities": identities,
    }


def clear_disk_cache(directory=None, *, identity_hash=None):
    """Delete an embedding cache folder's vectors (all, or one encoder identity's).

    Only identity folders are deleted, so pointing this at a wrong folder removes nothing
    else.  Safe while another run uses the folder: that run recomputes what it misses.

    Parameters
    ----------
    directory : str or path-like, optional
        The cache folder; default :func:`default_cache_dir`.
    identity_hash : str, optional
        Remove only this identity (as listed by :func:`disk_cache_info`).

    Returns
    -------
    removed : dict
        ``{"directory": str, "identities": n removed, "bytes": bytes freed}``.

    Raises
    ------
    GbscoreError
        If ``identity_hash`` is not in the folder, or the files cannot be removed.
    """
    directory = Path(default_cache_dir() if directory is None else directory).expanduser()
    cache = EmbeddingCache(directory, max_bytes=0)
    if identity_hash is not None and not (directory / identity_hash / "shards").is_dir():
        known = [d.name for d in identity_dirs(directory)]
        raise GbscoreError(
            f"the embedding cache {str(directory)!r} holds no identity {identity_hash!r}; "
            f"it holds {known or 'none'} (see `gbscore cache info`)."
        )
    try:
        removed = cache.clear(identity_hash)
    except OSError as exc:
        raise GbscoreError(
            f"could not delete the embedding cache in {str(directory)!r}: {exc}. Check that "
            "you may write to that folder."
        ) from exc
    return {"directory": str(directory), **removed}
