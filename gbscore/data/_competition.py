"""The competition files at one location, loaded and cross-checked; the metric-name files."""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd

from ..exceptions import DataError
from ._format import (
    EMBEDDINGS_FILE,
    NAMES_FILE,
    TEST_FILE,
    TRAIN_FILE,
    json_type,
    read_bytes,
    read_json_array,
    short,
)
from ._records import check_unicode, read_records

__all__ = ["CompetitionData", "load_competition", "load_metric_embeddings", "load_metric_names"]

_NPY_MAGIC = b"\x93NUMPY"


@dataclass(frozen=True, eq=False, repr=False)
class CompetitionData:
    """The competition files found at one location; absent files are ``None``.

    Attributes
    ----------
    train : DataFrame or None
        Tidy table of ``train_data.json``: :data:`COLUMNS` plus a float64 ``score``.
    test : DataFrame or None
        Tidy table of ``test_data.json``: :data:`COLUMNS`, plus ``score`` if the file
        had scores. Row ``i`` has submission ID ``i + 1``.
    metric_names : list of str or None
        The names in ``metric_names.json``, in file order.
    metric_embeddings : ndarray of shape (len(metric_names), d), float32, or None
        ``metric_name_embeddings.npy``; row ``i`` embeds ``metric_names[i]``.
    root : Path or None
        The directory (or single file) the data was loaded from.
    """

    train: pd.DataFrame | None = None
    test: pd.DataFrame | None = None
    metric_names: list[str] | None = None
    metric_embeddings: np.ndarray | None = None
    root: Path | None = None

    def __repr__(self) -> str:
        def describe(value):
            if value is None:
                return "None"
            if isinstance(value, list):
                return f"<{len(value)} names>"
            return f"<{type(value).__name__} shape={value.shape}>"

        parts = [
            f"{name}={describe(getattr(self, name))}"
            for name in ("train", "test", "metric_names", "metric_embeddings")
        ]
        return f"CompetitionData({', '.join(parts)}, root={self.root!r})"

    def metric_embedding_table(self) -> pd.DataFrame | None:
        """Return the metric embeddings as a table indexed by metric name.

        Returns
        -------
        DataFrame or None
            Index ``metric_name`` (the names in file order), float32 columns
            ``metric_emb_0 ... metric_emb_{d-1}``; ``None`` unless both the names and
            the embeddings were loaded.
        """
        if self.metric_names is None or self.metric_embeddings is None:
            return None
        d = self.metric_embeddings.shape[1]
        return pd.DataFrame(
            self.metric_embeddings,
            index=pd.Index(self.metric_names, name="metric_name"),
            columns=[f"metric_emb_{j}" for j in range(d)],
        )


def load_metric_names(path) -> list[str]:
    """Load ``metric_names.json``: a JSON array of distinct, non-empty strings.

    Parameters
    ----------
    path : str or path-like
        The names file.

    Returns
    -------
    list of str
        The names in file order; position ``i`` matches embedding row ``i``.

    Raises
    ------
    DataError
        If the file is unreadable or malformed, an entry is not a non-empty string,
        or a name appears twice (both positions are given).
    """
    names = read_json_array(path, "metric names (strings)")
    first_seen = {}
    for index, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise DataError(
                f"found {json_type(name)} {short(name)}; expected a non-empty string",
                file=path,
                index=index,
            )
        check_unicode(name, file=path, index=index)
        if name in first_seen:
            raise DataError(
                f"duplicate metric name {name!r} at positions {first_seen[name]} and {index}; "
                "expected every name once",
                file=path,
                index=index,
            )
        first_seen[name] = index
    return names


def load_metric_embeddings(path, *, metric_names=None) -> np.ndarray:
    """Load ``metric_name_embeddings.npy`` as a finite float32 matrix.

    Parameters
    ----------
    path : str or path-like
        A ``.npy`` file holding a 2-D numeric array.
    metric_names : sequence of str, optional
        When given, the array must have one row per name.

    Returns
    -------
    ndarray of shape (n_names, d), dtype float32

    Raises
    ------
    DataError
        If the file cannot be read as ``.npy``, the array is not 2-D, not numeric,
        contains NaN or inf (the rows are named), or its row count does not match
        ``metric_names``.
    """
    raw = read_bytes(path)
    if not raw.startswith(_NPY_MAGIC):
        raise DataError(
            f"starts with {raw[:8]!r}; expected a .npy file (written by numpy.save)", file=path
        )
    try:
        array = np.load(BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"cannot be read as a .npy array: {exc}", file=path) from None
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise DataError(
            f"has dtype {array.dtype}; expected a real numeric (float) array", file=path
        )
    if array.ndim != 2 or 0 in array.shape:
        raise DataError(
            f"has shape {array.shape}; expected a non-empty 2-D array (n_names, d)", file=path
        )
    bad = np.flatnonzero(~np.isfinite(array).all(axis=1))
    if bad.size:
        rows = ", ".join(map(str, bad[:5])) + (", ..." if bad.size > 5 else "")
        raise DataError(
            f"row {rows} contains NaN or inf ({bad.size} bad rows); expected finite values",
            file=path,
        )
    if metric_names is not None and array.shape[0] != len(metric_names):
        raise DataError(
            f"has shape {array.shape}: {array.shape[0]} rows for {len(metric_names)} metric "
            f"names; expected shape ({len(metric_names)}, d), one row per name",
            file=path,
        )
    return array.astype(np.float32, copy=False)


def load_competition(path) -> CompetitionData:
    """Load whichever competition files are at ``path``, cross-checked.

    Parameters
    ----------
    path : str or path-like
        A directory holding any subset of :data:`TRAIN_FILE`, :data:`TEST_FILE`,
        :data:`NAMES_FILE` and :data:`EMBEDDINGS_FILE`, or one of those files.

    Returns
    -------
    CompetitionData
        Absent files are ``None``. Train records must all have scores; test scores
        are kept when the file has them. When the names are present, every train and
        test ``metric_name`` must be among them and the embeddings must have one row
        per name.

    Raises
    ------
    DataError
        If the path does not exist, a directory holds none of the files, a file is
        not one of the expected names, or any file fails validation.

    Examples
    --------
    >>> data = load_competition("data/")  # doctest: +SKIP
    >>> data.train.shape, data.metric_embeddings.shape  # doctest: +SKIP
    ((5000, 5), (145, 768))
    """
    root = Path(path)
    expected = (TRAIN_FILE, TEST_FILE, NAMES_FILE, EMBEDDINGS_FILE)
    if root.is_dir():
        found = {name: root / name for name in expected if (root / name).is_file()}
        if not found:
            raise DataError(
                f"holds none of the competition files; expected at least one of {list(expected)}",
                file=root,
            )
    elif root.is_file():
        if root.name not in expected:
            raise DataError(
                f"is not a competition file; expected a directory or a file named one of "
                f"{list(expected)} (use load_records for other record files)",
                file=root,
            )
        found = {root.name: root}
    else:
        raise DataError("does not exist; expected a directory or a competition file", file=root)

    names = load_metric_names(found[NAMES_FILE]) if NAMES_FILE in found else None
    names_source = str(found[NAMES_FILE]) if NAMES_FILE in found else NAMES_FILE
    embeddings = (
        load_metric_embeddings(found[EMBEDDINGS_FILE], metric_names=names)
        if EMBEDDINGS_FILE in found
        else None
    )
    train, test = (
        read_records(
            found[name], require_score=required, metric_names=names, names_source=names_source
        )
        if name in found
        else None
        for name, required in ((TRAIN_FILE, True), (TEST_FILE, None))
    )
    return CompetitionData(
        train=train, test=test, metric_names=names, metric_embeddings=embeddings, root=root
    )
