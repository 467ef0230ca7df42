"""What the competition files are called and hold, and the checked reads every loader shares.

A missing, unreadable, non-UTF-8 or malformed JSON file raises
:class:`~gbscore.exceptions.DataError` naming the file; :func:`json_type` and :func:`short`
describe a bad value in those messages.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from ..exceptions import DataError

__all__ = [
    "COLUMNS",
    "EMBEDDINGS_FILE",
    "NAMES_FILE",
    "SCORE_MAX",
    "SCORE_MIN",
    "TEST_FILE",
    "TRAIN_FILE",
    "a_json_type",
    "json_type",
    "read_bytes",
    "read_json_array",
    "read_text",
    "short",
]

COLUMNS = ("metric_name", "system_prompt", "user_prompt", "response")
TRAIN_FILE = "train_data.json"
TEST_FILE = "test_data.json"
NAMES_FILE = "metric_names.json"
EMBEDDINGS_FILE = "metric_name_embeddings.npy"

SCORE_MIN, SCORE_MAX = 0.0, 10.0
_UTF8_BOM = b"\xef\xbb\xbf"


def read_bytes(path) -> bytes:
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


def read_text(path) -> str:
    """Read a UTF-8 file (a leading BOM is accepted); errors name the file and byte offset."""
    raw = read_bytes(path)
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


def read_json_array(path, what: str) -> list:
    """Parse a JSON file whose top level must be a non-empty array."""
    text = read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        hint = ""
        if exc.msg == "Extra data" and _first_line_is_an_object(text):
            hint = (
                "; it looks like JSON Lines (one object per line): expected one JSON array "
                "of the records, [{...}, {...}]"
            )
        raise DataError(
            f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}{hint}",
            file=path,
        ) from None
    if not isinstance(data, list):
        raise DataError(
            f"top level is a JSON {json_type(data)}; expected an array of {what}", file=path
        )
    if not data:
        raise DataError(f"is an empty array; expected at least one of {what}", file=path)
    return data


def _first_line_is_an_object(text: str) -> bool:
    first = next((line for line in text.splitlines() if line.strip()), "")
    try:
        return isinstance(json.loads(first), Mapping)
    except json.JSONDecodeError:
        return False


def json_type(value) -> str:
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


def a_json_type(value) -> str:
    kind = json_type(value)
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
