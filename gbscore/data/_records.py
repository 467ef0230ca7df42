"""The one validation path: JSON records, from a file or from memory, to the tidy table."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..exceptions import DataError
from ._format import (
    COLUMNS,
    NAMES_FILE,
    SCORE_MAX,
    SCORE_MIN,
    a_json_type,
    read_json_array,
    short,
)

__all__ = ["load_records", "normalize_records", "parse_score", "read_records"]

# Other datasets of this kind name two of the fields differently.
_ALIASES = {"user_prompt": "prompt", "response": "expected_response"}
_REQUIRED = ("metric_name", "user_prompt")


def parse_score(value, *, file, index) -> float:
    """Turn a JSON score (number or numeric string) into a finite float in [0, 10]."""
    expected = (
        f"expected a number from {SCORE_MIN:g} to {SCORE_MAX:g} (a number or a string like '9.0')"
    )
    if isinstance(value, bool) or not isinstance(value, (int, float, str, np.number)):
        raise DataError(
            f"found {a_json_type(value)} {short(value)}; {expected}",
            file=file,
            index=index,
            field="score",
        )
    try:
        score = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        raise DataError(
            f"found non-numeric value {short(value)}; {expected}",
            file=file,
            index=index,
            field="score",
        ) from None
    if not SCORE_MIN <= score <= SCORE_MAX:  # also catches NaN and inf
        raise DataError(
            f"found {short(value)}, which is not a finite number in [{SCORE_MIN:g}, "
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


def check_unicode(value: str, *, file, index, field=None) -> str:
    """``value``, or a :class:`DataError` when it holds a lone surrogate.

    JSON's ``\\ud800``-style escapes can write half of a surrogate pair, which Python
    decodes into a string that cannot be encoded as UTF-8: the tokenizer, the embedding
    cache and the report would each fail on it later with no location.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise DataError(
            f"holds the lone surrogate {value[exc.start]!r} at character {exc.start} (a JSON "
            "escape such as '\\ud800' that is half of a pair and encodes no character); "
            "expected valid Unicode text: complete the pair or remove the escape",
            file=file,
            index=index,
            field=field,
        ) from None
    return value


def _check_text(value, field: str, *, file, index) -> str:
    if value is None:
        if field in _REQUIRED:
            raise DataError("found null; expected a string", file=file, index=index, field=field)
        return ""
    if not isinstance(value, str):
        raise DataError(
            f"found {a_json_type(value)} {short(value)}; expected a string or null",
            file=file,
            index=index,
            field=field,
        )
    if field == "metric_name" and not value:
        raise DataError(
            "found an empty string; expected a metric name", file=file, index=index, field=field
        )
    return check_unicode(value, file=file, index=index, field=field)


def _unknown_metric(name: str, known: Sequence[str], *, file, index, names_source) -> DataError:
    # A name that differs only in case is the likeliest meant; difflib compares case-sensitively.
    close = [k for k in known if k.casefold() == name.casefold()]
    close = close or difflib.get_close_matches(name, known, n=1)
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
            f"found {a_json_type(records)}; expected a list of records (dicts) or a DataFrame",
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
                f"found {a_json_type(record)} {short(record)}; expected an object with "
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
            scores.append(parse_score(raw, file=source, index=index))

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
    return read_records(
        path, require_score=require_score, metric_names=metric_names, names_source=NAMES_FILE
    )


def read_records(path, *, require_score, metric_names, names_source):
    records = read_json_array(path, "records (objects)")
    return _normalize(
        records,
        source=str(path),
        require_score=require_score,
        metric_names=metric_names,
        names_source=names_source,
    )
