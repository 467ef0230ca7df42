"""File-writing helpers shared by every module that writes files.

A reader (another process, a crashed run restarted, a user opening the file) must only ever
see either the old file or the complete new one, never a half-written one.
:func:`atomic_write` gives that guarantee on POSIX and Windows file systems.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

__all__ = ["atomic_write", "TEMP_PREFIX", "TEMP_SUFFIX", "is_temporary_name"]

#: Temporary siblings written by :func:`atomic_write` are named ``.<name>.<random>.tmp``,
#: hidden from listings that skip dot files; a folder's owner can remove stale ones.
TEMP_PREFIX = "."
TEMP_SUFFIX = ".tmp"


def is_temporary_name(name):
    """Return whether a file name is one of :func:`atomic_write`'s temporary siblings."""
    return name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)


def atomic_write(path, write, *, text=False, encoding="utf-8", newline=None, fsync=True):
    """Write ``path`` all at once: readers see the old file or the new one, never a part.

    ``write(fh)`` is called with a file opened on a fresh temporary sibling of ``path`` (same
    folder, hence same file system); when it returns, the data are flushed (and synced to
    disk with ``fsync``) and the temporary file is renamed over ``path`` with
    :func:`os.replace`, which is atomic. If ``write`` or anything after it fails (including
    ``KeyboardInterrupt``), the temporary file is removed and the exception propagates; the
    previous ``path``, if any, is untouched. Missing parent folders are created.

    The temporary file is created with the process umask (unlike :func:`tempfile.mkstemp`,
    whose files are private to their owner), so a shared folder stays readable by the group.

    Parameters
    ----------
    path : str or path-like
        The file to write.
    write : callable
        Called once with the open file object; what it writes becomes the file.
    text : bool, default=False
        Open the file in text mode (``write`` gets ``str`` I/O) instead of binary mode.
    encoding : str, default="utf-8"
        Text encoding (text mode only).
    newline : str, default=None
        Passed to :func:`open` (text mode only); ``""`` writes line endings unchanged.
    fsync : bool, default=True
        Sync the data to disk before the rename, so a power cut cannot leave an empty file.

    Returns
    -------
    path : Path
        ``path``, as a :class:`~pathlib.Path`.

    Examples
    --------
    >>> import json, tempfile
    >>> from pathlib import Path
    >>> target = Path(tempfile.mkdtemp()) / "config.json"
    >>> _ = atomic_write(target, lambda fh: json.dump({"a": 1}, fh), text=True)
    >>> target.read_text()
    '{"a": 1}'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{TEMP_PREFIX}{path.name}.{uuid.uuid4().hex[:12]}{TEMP_SUFFIX}")
    kwargs = {"encoding": encoding, "newline": newline} if text else {}
    try:
        # "x": never truncate a file someone else created under the same random name.
        with open(tmp, "x" if text else "xb", **kwargs) as fh:
            write(fh)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    return path
