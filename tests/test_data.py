"""Tests for gbscore.data: loading, validation errors and the submission writer."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gbscore.data import (
    COLUMNS,
    EMBEDDINGS_FILE,
    NAMES_FILE,
    TEST_FILE,
    TRAIN_FILE,
    CompetitionData,
    load_competition,
    load_metric_embeddings,
    load_metric_names,
    load_records,
    load_test_labels,
    normalize_records,
    write_submission,
)
from gbscore.exceptions import DataError

NAMES = ["fluency", "jailbreak", "privacy_leakage/prompt_based_pii_leakage"]


def rec(**overrides):
    """A valid training record, with fields replaced (or removed when set to ...)."""
    record = {
        "metric_name": "fluency",
        "score": "9.0",
        "user_prompt": "How do I water wheat?",
        "response": "Twice a week.",
        "system_prompt": None,
    }
    record.update(overrides)
    return {k: v for k, v in record.items() if v is not ...}


def npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def raises(match_all, func, *args, **kwargs):
    """Call ``func`` expecting a DataError whose message contains every string given."""
    with pytest.raises(DataError) as info:
        func(*args, **kwargs)
    message = str(info.value)
    for part in match_all:
        assert part in message, f"{part!r} not in {message!r}"
    return info.value


# --------------------------------------------------------------------------- happy paths


def test_tidy_table_maps_null_and_missing_text_to_empty_string():
    table = normalize_records(
        [rec(), rec(system_prompt="Be brief.", response=None), rec(response=..., system_prompt=...)]
    )
    assert list(table.columns) == [*COLUMNS, "score"]
    assert table["system_prompt"].tolist() == ["", "Be brief.", ""]
    assert table["response"].tolist() == ["Twice a week.", "", ""]
    assert table["score"].dtype == np.float64
    assert isinstance(table.index, pd.RangeIndex)


@pytest.mark.parametrize(
    ("raw", "expected"), [("9.5", 9.5), ("10.0", 10.0), (" 0 ", 0.0), (7, 7.0), (3.25, 3.25)]
)
def test_score_strings_and_numbers_are_parsed(raw, expected):
    table = normalize_records([rec(score=raw)], require_score=True)
    assert table["score"].iloc[0] == expected


def test_alias_keys_prompt_and_expected_response():
    record = rec(user_prompt=..., response=..., prompt="Hi", expected_response="Hello")
    table = normalize_records([record])
    assert table["user_prompt"].iloc[0] == "Hi"
    assert table["response"].iloc[0] == "Hello"


def test_escaped_slash_in_metric_name_survives(write_file):
    text = '[{"metric_name": "a\\/b", "score": "9.0", "user_prompt": "x", "response": "y"}]'
    assert "\\/" in text
    table = load_records(write_file("train_data.json", text))
    assert table["metric_name"].iloc[0] == "a/b"
    names = load_metric_names(write_file("metric_names.json", '["a\\/b", "c"]'))
    assert names == ["a/b", "c"]


def test_require_score_modes():
    labelled = [rec(score="9.0"), rec(score=4)]
    unlabelled = [rec(score=...), rec(score=None)]
    assert normalize_records(labelled)["score"].tolist() == [9.0, 4.0]
    assert "score" not in normalize_records(unlabelled).columns
    # require_score=False ignores scores, even invalid ones.
    ignored = normalize_records([rec(score="high")], require_score=False)
    assert list(ignored.columns) == list(COLUMNS)
    raises(
        ["record 1", "'score'", "is missing"],
        normalize_records,
        [rec(), rec(score=None)],
        require_score=True,
    )


def test_partially_labelled_records_are_refused_when_scores_are_optional():
    raises(
        ["record 0", "'score'", "1 of 3 records", "on every record or on none"],
        normalize_records,
        [rec(score=...), rec(score="8"), rec(score=None)],
    )


def test_dataframe_input_uses_the_same_validation():
    frame = pd.DataFrame(
        {
            "metric_name": ["fluency", "jailbreak"],
            "prompt": ["a", "b"],
            "response": ["r", np.nan],
            "system_prompt": [None, "s"],
            "score": ["9", np.nan],
        }
    )
    table = normalize_records(frame.iloc[:1], require_score=True, metric_names=NAMES)
    assert table.loc[0, "user_prompt"] == "a" and table.loc[0, "system_prompt"] == ""
    assert table.loc[0, "score"] == 9.0
    unlabelled = normalize_records(frame.drop(columns="score"))
    assert unlabelled["response"].tolist() == ["r", ""]
    raises(
        ["my frame", "record 1", "'score'"],
        normalize_records,
        frame,
        source="my frame",
        require_score=True,
    )


def test_metric_name_check_in_memory_suggests_close_match():
    err = raises(
        ["<records>", "record 1", "'metric_name'", "'fluensy'", "did you mean 'fluency'"],
        normalize_records,
        [rec(), rec(metric_name="fluensy")],
        metric_names=NAMES,
    )
    assert err.index == 1 and err.field == "metric_name"


# --------------------------------------------------------------------------- file-level errors


def test_malformed_json_reports_line_and_column(write_file):
    path = write_file("train_data.json", '[\n  {"metric_name": "fluency",\n   "score" "9"}\n]')
    raises(["train_data.json", "not valid JSON", "line 3, column 12"], load_records, path)


@pytest.mark.parametrize(
    ("content", "kind"), [({"a": 1}, "object"), ('"x"', "string"), ("3", "number")]
)
def test_top_level_not_an_array(write_file, content, kind):
    path = write_file("test_data.json", content)
    raises(
        ["test_data.json", f"top level is a JSON {kind}", "expected an array"], load_records, path
    )


def test_empty_array_is_refused(write_file):
    raises(["train_data.json", "empty array"], load_records, write_file("train_data.json", []))
    raises(
        ["metric_names.json", "empty array"], load_metric_names, write_file("metric_names.json", [])
    )
    raises(["contains no records"], normalize_records, [])
    raises(["contains no records"], normalize_records, pd.DataFrame(columns=list(COLUMNS)))


def test_in_memory_input_must_be_a_list_of_records():
    raises(["<records>", "found an object", "expected a list of records"], normalize_records, rec())


def test_non_utf8_file_names_the_byte_offset(write_file):
    text = '[{"metric_name": "fluency", "user_prompt": "caf\u00e9"}]'
    path = write_file("test_data.json", text.encode("latin-1"))
    offset = text.index("\u00e9")
    raises(
        ["test_data.json", "not valid UTF-8", f"byte offset {offset}", "0xe9"], load_records, path
    )


def test_utf8_bom_is_accepted(write_file):
    text = '[{"metric_name": "fluency", "user_prompt": "\u0928\u092e\u0938\u094d\u0924\u0947"}]'
    path = write_file("test_data.json", b"\xef\xbb\xbf" + text.encode("utf-8"))
    table = load_records(path)
    assert table["user_prompt"].iloc[0] == "\u0928\u092e\u0938\u094d\u0924\u0947"
    names_path = write_file("metric_names.json", b"\xef\xbb\xbf" + b'["fluency"]')
    assert load_metric_names(names_path) == ["fluency"]


def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nowhere" / "train_data.json"
    raises([str(missing), "file not found"], load_records, missing)
    raises([str(missing), "file not found"], load_metric_names, missing)
    raises(
        [str(missing.with_name(EMBEDDINGS_FILE)), "file not found"],
        load_metric_embeddings,
        missing.with_name(EMBEDDINGS_FILE),
    )
    raises([str(tmp_path / "nowhere"), "does not exist"], load_competition, tmp_path / "nowhere")
    raises([str(tmp_path), "is a directory"], load_records, tmp_path)


# --------------------------------------------------------------------------- record-level errors


def test_record_that_is_not_an_object(write_file):
    path = write_file("train_data.json", [rec(), ["fluency", "9"]])
    raises(
        ["train_data.json", "record 1", "found an array", "expected an object"], load_records, path
    )


@pytest.mark.parametrize(
    ("record", "field", "found"),
    [
        (rec(metric_name=...), "'metric_name'", "is missing"),
        (rec(user_prompt=...), "'user_prompt'", "(or its alias 'prompt')"),
        (rec(metric_name=None), "'metric_name'", "found null"),
        (rec(metric_name=""), "'metric_name'", "empty string"),
    ],
)
def test_missing_required_field(write_file, record, field, found):
    path = write_file("train_data.json", [rec(), rec(), record])
    raises(["train_data.json", "record 2", f"field {field}", found], load_records, path)


@pytest.mark.parametrize("field", ["system_prompt", "user_prompt", "response", "metric_name"])
@pytest.mark.parametrize(
    ("value", "kind"), [(42, "a number"), (["a"], "an array"), (True, "a boolean")]
)
def test_text_field_of_wrong_type(write_file, field, value, kind):
    path = write_file("test_data.json", [rec(**{field: value})])
    raises(
        ["test_data.json", "record 0", f"field '{field}'", f"found {kind}", "expected a string"],
        load_records,
        path,
    )


@pytest.mark.parametrize(
    ("field", "alias"), [("user_prompt", "prompt"), ("response", "expected_response")]
)
def test_key_and_alias_together_is_an_error(write_file, field, alias):
    path = write_file("train_data.json", [rec(), rec(**{alias: "dup"})])
    raises(
        ["train_data.json", "record 1", f"'{field}'", f"'{alias}'", "only one"], load_records, path
    )


@pytest.mark.parametrize(
    ("raw", "found"),
    [
        ("high", "non-numeric value 'high'"),
        ("", "non-numeric"),
        (True, "found a boolean"),
        ({"v": 9}, "found an object"),
    ],
)
def test_non_numeric_score(write_file, raw, found):
    path = write_file("train_data.json", [rec(), rec(), rec(), rec(score=raw)])
    raises(
        ["train_data.json", "record 3", "field 'score'", found, "expected a number from 0 to 10"],
        load_records,
        path,
    )


def test_missing_score_when_required(write_file):
    path = write_file("train_data.json", [rec(), rec(score=...)])
    raises(
        ["train_data.json", "record 1", "field 'score'", "is missing"],
        load_records,
        path,
        require_score=True,
    )


@pytest.mark.parametrize("raw", ["-0.5", 10.5, "11", "nan", "inf", "-Infinity", 1e400])
def test_score_out_of_range_or_not_finite(write_file, raw):
    path = write_file("train_data.json", [rec(score=raw)])
    raises(
        ["train_data.json", "record 0", "field 'score'", "not a finite number in [0, 10]"],
        load_records,
        path,
    )


def test_json_nan_literal_score_is_refused(write_file):
    text = '[{"metric_name": "fluency", "user_prompt": "x", "score": NaN}]'
    raises(
        ["record 0", "field 'score'", "not a finite number"],
        load_records,
        write_file("train_data.json", text),
    )


# --------------------------------------------------------------------------- metric files


def test_duplicate_metric_names_give_both_positions(write_file):
    path = write_file("metric_names.json", ["fluency", "jailbreak", "x", "jailbreak"])
    raises(
        ["metric_names.json", "record 3", "duplicate metric name 'jailbreak'", "positions 1 and 3"],
        load_metric_names,
        path,
    )


@pytest.mark.parametrize("entry", [3, None, ""])
def test_metric_name_entry_must_be_nonempty_string(write_file, entry):
    path = write_file("metric_names.json", ["fluency", entry])
    raises(
        ["metric_names.json", "record 1", "expected a non-empty string"], load_metric_names, path
    )


def test_embeddings_load_as_float32(write_file):
    path = write_file(EMBEDDINGS_FILE, npy_bytes(np.eye(3, 4, dtype=np.float64)))
    array = load_metric_embeddings(path, metric_names=NAMES)
    assert array.dtype == np.float32 and array.shape == (3, 4)


@pytest.mark.parametrize(
    ("array", "found"),
    [
        (np.zeros((4, 8), np.float32), "4 rows for 3 metric names"),
        (np.zeros(8, np.float32), "shape (8,); expected a non-empty 2-D array"),
        (np.zeros((3, 2, 2), np.float32), "shape (3, 2, 2)"),
        (np.zeros((3, 0), np.float32), "shape (3, 0)"),
        (np.array([["a", "b"]] * 3), "dtype <U1; expected a real numeric"),
        (np.zeros((3, 2), np.complex64), "dtype complex64"),
    ],
)
def test_embeddings_with_bad_shape_or_dtype(write_file, array, found):
    path = write_file(EMBEDDINGS_FILE, npy_bytes(array))
    raises([EMBEDDINGS_FILE, found], load_metric_embeddings, path, metric_names=NAMES)


def test_embeddings_with_nan_or_inf_name_the_rows(write_file):
    array = np.ones((3, 4), np.float32)
    array[1, 2] = np.nan
    array[2, 0] = -np.inf
    path = write_file(EMBEDDINGS_FILE, npy_bytes(array))
    raises([EMBEDDINGS_FILE, "row 1, 2 contains NaN or inf"], load_metric_embeddings, path)


@pytest.mark.parametrize(
    ("content", "found"),
    [
        (b"not a numpy file at all", "expected a .npy file"),
        (npy_bytes(np.ones((3, 4)))[:-10], "cannot be read as a .npy array"),
        (npy_bytes(np.array([{"a": 1}], dtype=object)), "cannot be read as a .npy array"),
    ],
)
def test_unreadable_embeddings(write_file, content, found):
    path = write_file(EMBEDDINGS_FILE, content)
    raises([EMBEDDINGS_FILE, found], load_metric_embeddings, path)


# --------------------------------------------------------------------------- load_competition


def write_competition(write_file, train=None, test=None, names=NAMES, embeddings=None):
    write_file(TRAIN_FILE, train if train is not None else [rec(), rec(metric_name="jailbreak")])
    write_file(TEST_FILE, test if test is not None else [rec(score=...)])
    write_file(NAMES_FILE, names)
    if embeddings is None:
        embeddings = np.ones((len(names), 4), np.float32)
    path = write_file(EMBEDDINGS_FILE, npy_bytes(embeddings))
    return path.parent


def test_load_competition_directory(write_file):
    root = write_competition(
        write_file, test=[rec(score=...), rec(score=..., metric_name="a")], names=[*NAMES, "a"]
    )
    data = load_competition(root)
    assert isinstance(data, CompetitionData) and data.root == root
    assert data.train.shape == (2, 5) and list(data.test.columns) == list(COLUMNS)
    assert data.metric_names == [*NAMES, "a"]
    table = data.metric_embedding_table()
    assert table.shape == (4, 4) and table.index.tolist() == data.metric_names
    assert all(dtype == np.float32 for dtype in table.dtypes)
    assert "train=<DataFrame shape=(2, 5)>" in repr(data)


def test_load_competition_keeps_test_scores_when_present(write_file):
    root = write_competition(write_file, test=[rec(score="3")])
    assert load_competition(root).test["score"].tolist() == [3.0]


def test_load_competition_requires_train_scores(write_file):
    root = write_competition(write_file, train=[rec(), rec(score=...)])
    raises([TRAIN_FILE, "record 1", "field 'score'", "is missing"], load_competition, root)


@pytest.mark.parametrize("file_name", [TRAIN_FILE, TEST_FILE])
def test_load_competition_unknown_metric_name(write_file, file_name):
    root = write_competition(write_file)
    write_file(file_name, [rec(), rec(metric_name="jailbrek")])
    raises(
        [
            file_name,
            "record 1",
            "field 'metric_name'",
            "'jailbrek'",
            NAMES_FILE,
            "did you mean 'jailbreak'",
        ],
        load_competition,
        root,
    )


def test_load_competition_unknown_metric_without_close_match(write_file):
    root = write_competition(write_file, train=[rec(metric_name="zzzz_qqqq")])
    err = raises([TRAIN_FILE, "record 0", "'zzzz_qqqq'", NAMES_FILE], load_competition, root)
    assert "did you mean" not in str(err)


def test_load_competition_embedding_rows_must_match_names(write_file):
    root = write_competition(write_file, embeddings=np.ones((2, 4), np.float32))
    raises(
        [EMBEDDINGS_FILE, "2 rows for 3 metric names", "expected shape (3, d)"],
        load_competition,
        root,
    )


def test_load_competition_subset_and_single_file(write_file, tmp_path):
    root = write_competition(write_file)
    (root / TRAIN_FILE).unlink()
    (root / NAMES_FILE).unlink()
    data = load_competition(root)
    assert data.train is None and data.metric_names is None
    assert data.test.shape == (1, 4) and data.metric_embeddings.shape == (3, 4)
    assert data.metric_embedding_table() is None
    single = load_competition(root / TEST_FILE)
    assert single.root == root / TEST_FILE and single.metric_embeddings is None
    assert single.test.shape == (1, 4)


def test_load_competition_packaged_metric_files():
    root = Path(__file__).resolve().parents[1] / "gbscore" / "datasets"
    data = load_competition(root)
    assert data.train is None and data.test is None
    assert len(data.metric_names) == 145 and data.metric_embeddings.shape == (145, 768)
    norms = np.linalg.norm(data.metric_embeddings, axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-4)


def test_load_competition_directory_without_files_lists_expected_names(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    raises(
        [
            str(tmp_path),
            "none of the competition files",
            TRAIN_FILE,
            TEST_FILE,
            NAMES_FILE,
            EMBEDDINGS_FILE,
        ],
        load_competition,
        tmp_path,
    )


def test_load_competition_rejects_other_file_names(write_file):
    path = write_file("my_train.json", [rec()])
    raises(["my_train.json", "not a competition file", "load_records"], load_competition, path)


@pytest.mark.slow
def test_load_real_judgebench_dev(judgebench_dir):
    data = load_competition(judgebench_dir)
    assert data.train.shape == (5000, 5) and data.test.shape == (3638, 4)
    assert len(data.metric_names) == 145
    assert data.metric_embeddings.shape == (145, 768)
    assert data.metric_embeddings.dtype == np.float32
    assert data.train["score"].between(0, 10).all()
    assert set(data.train["metric_name"]) <= set(data.metric_names)
    assert (data.test["system_prompt"] == "").any()
    labels = load_test_labels(judgebench_dir / "test_labels.csv")
    assert labels["ID"].tolist() == list(range(1, 3639))
    assert set(labels["kind"]) == {"matched", "mismatched", "general"}


# --------------------------------------------------------------------------- submissions


def test_write_submission_format_and_clipping(tmp_path):
    path = write_submission([9.25, -1.0, 12.0, 0.1 + 0.2], tmp_path / "out" / "sub.csv", n_test=4)
    assert path == tmp_path / "out" / "sub.csv"
    lines = path.read_text().splitlines()
    assert lines[0] == "ID,score"
    written = pd.read_csv(path)
    assert written["ID"].tolist() == [1, 2, 3, 4]
    assert written["score"].tolist() == [9.25, 0.0, 10.0, 0.1 + 0.2]
    assert [p.name for p in path.parent.iterdir()] == ["sub.csv"]


def test_write_submission_refuses_count_mismatch(tmp_path):
    path = tmp_path / "sub.csv"
    raises([str(path), "got 2 scores", "n_test=3"], write_submission, [1.0, 2.0], path, n_test=3)
    assert not path.exists()


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_write_submission_refuses_nan_and_inf(tmp_path, bad):
    path = tmp_path / "sub.csv"
    path.write_text("old")
    raises(["1 scores are NaN or inf", "IDs 2"], write_submission, [1.0, bad, 3.0], path, n_test=3)
    assert path.read_text() == "old"


def test_write_submission_refuses_bad_input(tmp_path):
    raises(
        ["expected a 1-D array"], write_submission, np.ones((2, 2)), tmp_path / "s.csv", n_test=2
    )
    raises(["scores are not numeric"], write_submission, ["a", "b"], tmp_path / "s.csv", n_test=2)
    raises(["n_test=0"], write_submission, [], tmp_path / "s.csv", n_test=0)


def test_write_submission_overwrites(tmp_path):
    path = tmp_path / "sub.csv"
    write_submission([1.0], path, n_test=1)
    write_submission([2.5], path, n_test=1)
    assert path.read_text() == "ID,score\n1,2.5\n"


# --------------------------------------------------------------------------- test labels


def test_load_test_labels_sorts_by_id(write_file):
    path = write_file("labels.csv", "ID,score,kind\n2,3.0,mismatched\n1,9,matched\n")
    labels = load_test_labels(path)
    assert labels["ID"].tolist() == [1, 2] and labels["score"].tolist() == [9.0, 3.0]
    assert labels["kind"].tolist() == ["matched", "mismatched"]
    assert labels["ID"].dtype == np.int64
    no_kind = load_test_labels(write_file("l2.csv", "ID,score\n1,4.5\n"))
    assert list(no_kind.columns) == ["ID", "score"]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("ID,score\n1,9\n1,8\n", ["record 1", "field 'ID'", "ID 1 duplicates row 0"]),
        ("ID,score\n1,9\n3,8\n", ["record 1", "ID 3 is out of range", "expected IDs 1..2"]),
        ("ID,score\n1,9\nx,8\n", ["record 1", "found 'x'", "positive integer ID"]),
        ("ID,score\n1,9\n2,high\n", ["record 1", "field 'score'", "non-numeric"]),
        ("ID,score\n1,11\n", ["record 0", "field 'score'", "not a finite number"]),
        ("ID,value\n1,9\n", ["lacks column(s) ['score']"]),
        ("ID,score\n", ["has no data rows"]),
        ("", ["not a valid CSV"]),
    ],
)
def test_load_test_labels_errors(write_file, text, found):
    path = write_file("test_labels.csv", text)
    raises(["test_labels.csv", *found], load_test_labels, path)
