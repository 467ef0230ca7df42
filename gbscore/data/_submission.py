"""Submission files out (``ID,score``) and label files in (``ID,score[,kind]``)."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd

from .._io import atomic_write
from ..exceptions import DataError
from ._format import SCORE_MAX, SCORE_MIN, read_text
from ._records import parse_score

__all__ = ["load_test_labels", "write_submission"]


def write_submission(scores, path, *, n_test: int, uncertainty=None) -> Path:
    """Write a submission CSV (``ID,score``; IDs 1..N in test order).

    Parameters
    ----------
    scores : array-like of shape (n_test,)
        One predicted score per test record, in test-file order. Values are clipped
        to [0, 10].
    path : str or path-like
        Output CSV. Parent directories are created; the file is written to a
        temporary name and moved into place, so a failed write leaves no partial file.
    n_test : int
        Number of test records; ``len(scores)`` must equal it.
    uncertainty : array-like of shape (n_test,), optional
        Adds a third column ``uncertainty`` (the predicted error SD); without it the file is
        exactly ``ID,score``.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    DataError
        If ``scores`` is not a 1-D numeric array of length ``n_test`` or holds NaN/inf.
    """
    path = Path(path)
    if isinstance(n_test, bool) or not isinstance(n_test, (int, np.integer)) or n_test < 1:
        raise DataError(f"n_test={n_test!r}; expected a positive integer", file=path)
    try:
        values = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"scores are not numeric ({exc}); expected floats", file=path) from None
    if values.ndim != 1:
        raise DataError(f"scores have shape {values.shape}; expected a 1-D array", file=path)
    if values.shape[0] != n_test:
        raise DataError(
            f"got {values.shape[0]} scores; expected n_test={n_test}, one per test record",
            file=path,
        )
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        ids = ", ".join(str(i + 1) for i in bad[:5]) + (", ..." if bad.size > 5 else "")
        raise DataError(
            f"{bad.size} scores are NaN or inf (IDs {ids}); expected finite numbers", file=path
        )
    values = np.clip(values, SCORE_MIN, SCORE_MAX)
    if uncertainty is None:
        lines = ["ID,score"] + [f"{i},{float(v)!r}" for i, v in enumerate(values, start=1)]
    else:
        sd = np.asarray(uncertainty, dtype=np.float64)
        if sd.shape != values.shape or not np.isfinite(sd).all():
            raise DataError(
                f"uncertainty has shape {sd.shape} or non-finite values; expected "
                f"{values.shape[0]} finite numbers",
                file=path,
            )
        pairs = enumerate(zip(values, sd, strict=True), start=1)
        lines = ["ID,score,uncertainty"] + [f"{i},{float(v)!r},{float(u)!r}" for i, (v, u) in pairs]
    text = "\n".join(lines) + "\n"
    return atomic_write(path, lambda fh: fh.write(text), text=True, newline="")


def load_test_labels(path) -> pd.DataFrame:
    """Load a labels CSV (``ID,score`` and optionally ``kind``), e.g. ``test_labels.csv``.

    Parameters
    ----------
    path : str or path-like
        CSV with a header; ``ID`` must hold each of 1..N exactly once.

    Returns
    -------
    DataFrame
        Columns ``ID`` (int64), ``score`` (float64 in [0, 10]) and ``kind`` (str) if
        present, sorted by ID so that row ``i`` labels test record ``i``.

    Raises
    ------
    DataError
        If the file is unreadable, lacks a column, or has a bad ID or score (the row
        is named as a 0-based record index of the data rows).
    """
    text = read_text(path)
    try:
        raw = pd.read_csv(StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"is not a valid CSV: {exc}", file=path) from None
    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [c for c in ("ID", "score") if c not in raw.columns]
    if missing:
        raise DataError(
            f"lacks column(s) {missing}; found {list(raw.columns)}, expected ID,score[,kind]",
            file=path,
        )
    if raw.empty:
        raise DataError("has no data rows; expected one per test record", file=path)
    ids = []
    for index, value in enumerate(raw["ID"]):
        text_id = value.strip()
        if not text_id.isdigit():
            raise DataError(
                f"found {value!r}; expected a positive integer ID",
                file=path,
                index=index,
                field="ID",
            )
        ids.append(int(text_id))
    n = len(ids)
    seen = {}
    for index, id_ in enumerate(ids):
        if not 1 <= id_ <= n or id_ in seen:
            why = f"duplicates row {seen[id_]}" if id_ in seen else "is out of range"
            raise DataError(
                f"ID {id_} {why}; expected IDs 1..{n}, each once",
                file=path,
                index=index,
                field="ID",
            )
        seen[id_] = index
    labels = pd.DataFrame(
        {
            "ID": np.asarray(ids, dtype=np.int64),
            "score": [parse_score(v, file=path, index=i) for i, v in enumerate(raw["score"])],
        }
    )
    if "kind" in raw.columns:
        labels["kind"] = raw["kind"].to_numpy()
    return labels.sort_values("ID", ignore_index=True)
