"""Load and validate competition files, and write submissions.

Everything gbscore reads passes through one validation path, :func:`normalize_records`,
which turns JSON records (from a file or from memory) into the *tidy table*: a
DataFrame with string columns ``metric_name, system_prompt, user_prompt, response``
(null or missing text mapped to ``""``) and, for labelled data, a float64 ``score``.
Every problem raises :class:`~gbscore.exceptions.DataError` naming the file, the
record (its 0-based position) and the field, with what was found and what was expected.
"""

from .._schema import TEXT_COLUMNS
from ._competition import (
    CompetitionData,
    load_competition,
    load_metric_embeddings,
    load_metric_names,
)
from ._format import (
    COLUMNS,
    EMBEDDINGS_FILE,
    NAMES_FILE,
    SCORE_MAX,
    SCORE_MIN,
    TEST_FILE,
    TRAIN_FILE,
)
from ._records import load_records, normalize_records
from ._submission import load_test_labels, write_submission

__all__ = [
    "COLUMNS",
    "TEXT_COLUMNS",
    "TRAIN_FILE",
    "TEST_FILE",
    "NAMES_FILE",
    "EMBEDDINGS_FILE",
    "SCORE_MIN",
    "SCORE_MAX",
    "CompetitionData",
    "load_competition",
    "load_records",
    "normalize_records",
    "load_metric_names",
    "load_metric_embeddings",
    "write_submission",
    "load_test_labels",
]
