"""Load and validate competition files, and write submissions.

Everything gbscore reads passes through one validation path, :func:`normalize_records`,
which turns JSON records (from a file or from memory) into the *tidy table*: a
DataFrame with string columns ``metric_name, system_prompt, user_prompt, response``
(null or missing text mapped to ``""``) and, for labelled data, a float64 ``score``.
Every problem raises :class:`~gbscore.exceptions.DataError` naming the file, the
record (its 0-based position) and the field, with what was found and what was expected.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from io import BytesIO, StringIO
from pathlib import Path

import numpy as np
import pandas as pd

from ._io import atomic_write
from ._schema import TEXT_COLUMNS
from .exceptions import DataError

__all__ = [
    "COLUMNS",
    "TEXT_COLUMNS",
    "TRAIN_FILE",
    "TEST_FILE",
    "NAMES_FILE",
    "EMBEDDINGS_FILE",
    "CompetitionData",
    "load_competition",
    "load_records",
    "normalize_records",
    "load_metric_names",
    "load_metric_embeddings",
    "write_submission",
    "load_test_labels",
]

COLUMNS = ("metric_name", "system_prompt", "user_prompt", "response")
TRAIN_FILE = "train_data.json"
TEST_FILE = "test_data.json"
NAMES_FILE = "metric_names.json"
EMBEDDINGS_FILE = "metric_name_embeddings.npy"

SCORE_MIN, SCORE_MAX = 0.0, 10.0
# Other datasets of this kind name two of the fields differently.
_ALIASES = {"user_prompt": "prompt", "response": "expected_response"}
_REQUIRED = ("metric_name", "user_prompt")
_UTF8_BOM = b"\xef\xbb\xbf"
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


# --------------------------------------------------------------------------- reading


def _read_bytes(path) -> bytes:
    """Read a whole file; a missing or unreadable path raises a DataError naming it."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError("file not found; check the path", file=path) from None
    except IsADirectoryError:
        raise DataError("is a directory; expected a file", file=path) from None
    except OSError as exc:
        raise DataError(f"cannot be read: {exc.strerror or exc}", file=path) from None


def _read_text(path) -> str:
    """Read a UTF-8 file (a leading BOM is accepted); errors name the file and byte offset."""
    raw = _read_bytes(path)
    skip = len(_UTF8_BOM) if raw.startswith(_UTF8_BOM) else 0
    try:
        return raw[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = skip + exc.start
        raise DataError(
            f"is not valid UTF-8: found byte 0x{raw[offset]:02x} at byte offset {offset} "
            f"({exc.reason}); expected UTF-8 text, so re-save the file as UTF-8",
            file=path,
        ) from None


def _read_json_array(path, what: str) -> list:
    """Parse a JSON file whose top level must be a non-empty array."""
    text = _read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}", file=path
        ) from None
    if not isinstance(data, list):
        raise DataError(
            f"top level is a JSON {_json_type(data)}; expected an array of {what}", file=path
        )
    if not data:
        raise DataError(f"is an empty array; expected at least one of {what}", file=path)
    return data


def _json_type(value) -> str:
    """Name a Python value by its JSON type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    return type(value).__name__


def _a_json_type(value) -> str:
    kind = _json_type(value)
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- records


def _parse_score(value, *, file, index) -> float:
    """Turn a JSON score (number or numeric string) into a finite float in [0, 10]."""
    expected = (
        f"expected a number from {SCORE_MIN:g} to {SCORE_MAX:g} (a number or a string like '9.0')"
    )
    if isinstance(value, bool) or not isinstance(value, (int, float, str, np.number)):
        raise DataError(
            f"found {_a_json_type(value)} {_short(value)}; {expected}",
            file=file,
            index=index,
            field="score",
        )
    try:
        score = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        raise DataError(
            f"found non-numeric value {_short(value)}; {expected}",
            file=file,
            index=index,
            field="score",
        ) from None
    if not SCORE_MIN <= score <= SCORE_MAX:  # also catches NaN and inf
        raise DataError(
            f"found {_short(value)}, which is not a finite number in [{SCORE_MIN:g}, "
            f"{SCORE_MAX:g}]; {expected}",
            file=file,
            index=index,
            field="score",
        )
    return score


def _get_field(record: Mapping, field: str, *, file, index):
    """Return ``record[field]`` under its own name or its alias (``None`` when absent)."""
    alias = _ALIASES.get(field)
    if alias is not None and field in record and alias in record:
        raise DataError(
            f"has both {field!r} and its alias {alias!r}; expected only one of them",
            file=file,
            index=index,
            field=field,
        )
    if field in record:
        return record[field]
    if alias is not None and alias in record:
        return record[alias]
    if field in _REQUIRED:
        names = f"{field!r}" + (f" (or its alias {alias!r})" if alias else "")
        raise DataError(
            f"is missing; expected a string field {names}. Found fields: {sorted(record)}",
            file=file,
            index=index,
            field=field,
        )
    return None


def _check_text(value, field: str, *, file, index) -> str:
    if value is None:
        if field in _REQUIRED:
            raise DataError("found null; expected a string", file=file, index=index, field=field)
        return ""
    if not isinstance(value, str):
        raise DataError(
            f"found {_a_json_type(value)} {_short(value)}; expected a string or null",
            file=file,
            index=index,
            field=field,
        )
    if field == "metric_name" and not value:
        raise DataError(
            "found an empty string; expected a metric name", file=file, index=index, field=field
        )
    return value


def _unknown_metric(name: str, known: Sequence[str], *, file, index, names_source) -> DataError:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return DataError(
        f"metric name {name!r} is not in {names_source} ({len(known)} names){hint}",
        file=file,
        index=index,
        field="metric_name",
    )


def _normalize(records, *, source, require_score, metric_names, names_source) -> pd.DataFrame:
    """The one validation path shared by files and in-memory records."""
    if isinstance(records, pd.DataFrame):
        # pandas marks missing cells as NaN/NA; JSON marks them as null.
        frame = records.astype(object)
        records = frame.where(frame.notna(), None).to_dict(orient="records")
    elif isinstance(records, (str, bytes, Mapping)) or not isinstance(records, Sequence):
        raise DataError(
            f"found {_a_json_type(records)}; expected a list of records (dicts) or a DataFrame",
            file=source,
        )
    if len(records) == 0:
        raise DataError("contains no records; expected at least one", file=source)

    known = None if metric_names is None else list(metric_names)
    known_set = None if known is None else set(known)
    columns = {name: [] for name in COLUMNS}
    scores, missing_score = [], []
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise DataError(
                f"found {_a_json_type(record)} {_short(record)}; expected an object with "
                f"fields {list(COLUMNS) + ['score']}",
                file=source,
                index=index,
            )
        for field in COLUMNS:
            value = _get_field(record, field, file=source, index=index)
            columns[field].append(_check_text(value, field, file=source, index=index))
        name = columns["metric_name"][-1]
        if known_set is not None and name not in known_set:
            raise _unknown_metric(name, known, file=source, index=index, names_source=names_source)
        if require_score is False:
            continue
        raw = record.get("score")
        if raw is None:
            if require_score:
                raise DataError(
                    "is missing; scores are required, so expected a number from 0 to 10",
                    file=source,
                    index=index,
                    field="score",
                )
            missing_score.append(index)
            scores.append(np.nan)
        else:
            scores.append(_parse_score(raw, file=source, index=index))

    table = pd.DataFrame(columns)
    if require_score is not False and len(missing_score) < len(table):
        if missing_score:
            raise DataError(
                f"has no score while {len(table) - len(missing_score)} of {len(table)} records "
                "do; expected a score on every record or on none",
                file=source,
                index=missing_score[0],
                field="score",
            )
        table["score"] = np.asarray(scores, dtype=np.float64)
    return table


def normalize_records(records, *, source="<records>", require_score=None, metric_names=None):
    """Validate in-memory records and return the tidy table.

    Parameters
    ----------
    records : list of dict or DataFrame
        Records with fields ``metric_name``, ``user_prompt`` (alias ``prompt``),
        optionally ``response`` (alias ``expected_response``), ``system_prompt``
        and ``score``. Missing or null text becomes ``""``; other fields are ignored.
    source : str, default="<records>"
        Name used for the input in error messages.
    require_score : bool or None, default=None
        ``True``: every record needs a valid score. ``False``: scores are ignored and
        the result has no ``score`` column. ``None``: scores are parsed when present;
        records must then all have one or all lack one.
    metric_names : sequence of str, optional
        When given, every ``metric_name`` must be one of these.

    Returns
    -------
    DataFrame
        Columns :data:`COLUMNS` (strings) and, when scores were read, ``score``
        (float64 in [0, 10]); a RangeIndex over the records in input order.

    Raises
    ------
    DataError
        Naming the source, the record index and the field at fault.

    Examples
    --------
    >>> normalize_records([{"metric_name": "fluency", "prompt": "Hi", "score": "9.5"}])
      metric_name system_prompt user_prompt response  score
    0     fluency                        Hi             9.5
    """
    return _normalize(
        records,
        source=source,
        require_score=require_score,
        metric_names=metric_names,
        names_source="the metric-name list",
    )


def load_records(path, *, require_score=None, metric_names=None) -> pd.DataFrame:
    """Load a competition-format JSON file (an array of records) as the tidy table.

    Parameters
    ----------
    path : str or path-like
        A JSON file such as ``train_data.json`` or ``test_data.json``.
    require_score : bool or None, default=None
        See :func:`normalize_records`.
    metric_names : sequence of str, optional
        When given, every ``metric_name`` must be one of these.

    Returns
    -------
    DataFrame
        The tidy table; row ``i`` is the ``i``-th record of the file.

    Raises
    ------
    DataError
        If the file is missing, not UTF-8, not valid JSON, not a non-empty array of
        objects, or any record fails validation.
    """
    return _load_records(
        path, require_score=require_score, metric_names=metric_names, names_source=NAMES_FILE
    )


def _load_records(path, *, require_score, metric_names, names_source):
    records = _read_json_array(path, "records (objects)")
    return _normalize(
        records,
        source=str(path),
        require_score=require_score,
        metric_names=metric_names,
        names_source=names_source,
    )


# --------------------------------------------------------------------------- metric files


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
    names = _read_json_array(path, "metric names (strings)")
    first_seen = {}
    for index, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise DataError(
                f"found {_json_type(name)} {_short(name)}; expected a non-empty string",
                file=path,
                index=index,
            )
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
    raw = _read_bytes(path)
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
        _load_records(
            found[name], require_score=required, metric_names=names, names_source=names_source
        )
        if name in found
        else None
        for name, required in ((TRAIN_FILE, True), (TEST_FILE, None))
    )
    return CompetitionData(
        train=train, test=test, metric_names=names, metric_embeddings=embeddings, root=root
    )


# --------------------------------------------------------------------------- submissions


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
    text = _read_text(path)
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
            "score": [_parse_score(v, file=path, index=i) for i, v in enumerate(raw["score"])],
        }
    )
    if "kind" in raw.columns:
        labels["kind"] = raw["kind"].to_numpy()
    return labels.sort_values("ID", ignore_index=True)
