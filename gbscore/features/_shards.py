"""The embedding cache's file format, keys and folder conventions.

Layout of a cache folder::

    DIRECTORY/
      <identity hash>/
        identity.json            the encoder identity, for people and for checks
        shards/
          <time>-<pid>-<random>.npz   one per encode batch: hashes, vectors, checksum

Keys are ``(identity_hash(encoder identity), text_hash(text))``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np

from ..exceptions import ConfigError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "IDENTITY_NAME",
    "SHARD_SUFFIX",
    "CorruptShard",
    "default_cache_dir",
    "identity_dirs",
    "identity_hash",
    "read_identity",
    "read_shard",
    "resolve_max_bytes",
    "shard_checksum",
    "shard_names",
    "text_hash",
]

SHARD_SUFFIX = ".npz"
#: Size cap of a cache directory when neither ``max_bytes`` nor the environment sets one.
DEFAULT_MAX_BYTES = 10 << 30
#: Names of identity folders: 24 hex digits of :func:`identity_hash`.
IDENTITY_NAME = re.compile(r"^[0-9a-f]{24}$")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def text_hash(text):
    """Return the sha256 hex digest of ``text`` encoded as UTF-8 (lone surrogates kept)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def identity_hash(identity):
    """Return a short, stable hex digest of an encoder identity dict."""
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:24]


def default_cache_dir():
    """Return the embedding cache folder used when none is given.

    ``$GBSCORE_CACHE_DIR`` when set, else ``~/.cache/gbscore/embeddings`` of the current
    user: it is resolved when called, so a model loaded on another machine uses that
    machine's folder.

    Returns
    -------
    directory : Path
    """
    env = os.environ.get("GBSCORE_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "gbscore" / "embeddings"


def resolve_max_bytes(max_bytes):
    """Return the size cap in bytes, or None for no cap (``0``).

    ``None`` reads ``$GBSCORE_CACHE_MAX_BYTES``, else :data:`DEFAULT_MAX_BYTES`.
    """
    source = "max_bytes"
    if max_bytes is None:
        raw = os.environ.get("GBSCORE_CACHE_MAX_BYTES", "").strip()
        if not raw:
            return DEFAULT_MAX_BYTES
        source = "GBSCORE_CACHE_MAX_BYTES"
        match = _SIZE.match(raw)
        if match is None:
            raise ConfigError(
                f"GBSCORE_CACHE_MAX_BYTES={raw!r} is not a size. Give a number of bytes, "
                "optionally with a K, M, G or T suffix (powers of 1024), e.g. 20G; or 0 for "
                "no limit."
            )
        number, unit = match.groups()
        max_bytes = int(float(number) * (1024 ** ("kmgt".index(unit.lower()) + 1) if unit else 1))
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
        raise ConfigError(
            f"The embedding cache size cap ({source}) must be a whole number of bytes >= 0 "
            f"(0: no limit); got {max_bytes!r}."
        )
    return max_bytes or None


class CorruptShard(Exception):
    """A shard file that cannot be trusted (unreadable, inconsistent, checksum mismatch)."""


def shard_checksum(hashes, vectors):
    """Return the sha256 hex digest a shard stores of its arrays."""
    digest = hashlib.sha256()
    digest.update(repr((hashes.dtype.str, hashes.shape, vectors.dtype.str, vectors.shape)).encode())
    digest.update(hashes.tobytes())
    digest.update(vectors.tobytes())
    return digest.hexdigest()


def read_shard(path):
    """Return ``(hashes: list[str], vectors: ndarray)`` of a verified shard.

    Raises FileNotFoundError if it vanished, PermissionError if it may not be read, and
    CorruptShard if it is not trustworthy.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            hashes = npz["hashes"]
            vectors = npz["vectors"]
            stored = npz["checksum"]
    except (FileNotFoundError, PermissionError):
        raise
    except Exception as exc:  # noqa: BLE001 - truncated zip, bad CRC, missing member...
        raise CorruptShard(f"unreadable ({type(exc).__name__}: {exc})") from exc
    if (
        hashes.ndim != 1
        or vectors.ndim != 2
        or vectors.dtype != np.float32
        or len(hashes) != len(vectors)
    ):
        raise CorruptShard(
            f"inconsistent arrays (hashes {hashes.shape}, vectors {vectors.shape} {vectors.dtype})"
        )
    if stored.shape != () or str(stored) != shard_checksum(hashes, vectors):
        raise CorruptShard("checksum mismatch")
    if not np.isfinite(vectors).all():
        raise CorruptShard("non-finite values")
    return [h.decode("ascii") for h in hashes.tolist()], vectors


def shard_names(shard_dir):
    """Return the sorted names of the complete shards in a ``shards/`` folder."""
    try:
        names = os.listdir(shard_dir)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(n for n in names if n.endswith(SHARD_SUFFIX) and not n.startswith("."))


def identity_dirs(directory):
    """Return the identity folders (those with a ``shards/`` subfolder) of a cache folder."""
    try:
        return sorted(d for d in Path(directory).iterdir() if (d / "shards").is_dir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def read_identity(folder):
    """Return the identity dict written in an identity folder (a placeholder if unreadable)."""
    try:
        return json.loads((Path(folder) / "identity.json").read_text("utf-8"))
    except (OSError, ValueError):
        return {"unknown_identity_hash": Path(folder).name}
