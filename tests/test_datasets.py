"""Tests for gbscore.datasets: packaged metric files and the synthetic judge-data generator."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from gbscore.datasets import (
    DemoData,
    _text,
    load_metric_embeddings,
    load_metric_names,
    make_judge_data,
    write_demo_data,
)
from gbscore.exceptions import ConfigError, DataError

TEXT = ["metric_name", "system_prompt", "user_prompt", "response"]
FILES = [
    "train_data.json",
    "test_data.json",
    "metric_names.json",
    "metric_name_embeddings.npy",
    "test_labels.csv",
]
DEVANAGARI = re.compile("[\u0900-\u097f]")
TAMIL = re.compile("[\u0b80-\u0bff]")
BENGALI = re.compile("[\u0980-\u09ff]")


@pytest.fixture(scope="module")
def demo():
    """The default-size dataset, generated once for the module."""
    return make_judge_data()


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The default-size dataset written as competition files."""
    return write_demo_data(tmp_path_factory.mktemp("demo"))


def all_text(frame):
    return frame["user_prompt"] + "\n" + frame["response"]


# --------------------------------------------------------------------------- packaged files


def test_packaged_metric_names_are_the_145_real_names():
    names = load_metric_names()
    assert len(names) == 145
    assert len(set(names)) == 145
    assert "privacy_leakage/prompt_based_pii_leakage" in names
    names.append("changed")
    assert len(load_metric_names()) == 145  # every call returns a fresh list


def test_packaged_embeddings_are_unit_norm_float32_rows():
    emb = load_metric_embeddings()
    assert emb.shape == (145, 768)
    assert emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)
    emb[:] = 0.0
    assert np.abs(load_metric_embeddings()).sum() > 0  # callers cannot corrupt the cache


def test_a_missing_phrasebooks_file_says_to_reinstall(monkeypatch):
    monkeypatch.setattr(_text, "PHRASEBOOKS_FILE", "no_such_phrasebooks.json")
    _text.phrasebooks.cache_clear()
    try:
        with pytest.raises(DataError, match="no_such_phrasebooks.json.*reinstall gbscore"):
            make_judge_data(n_train=5, n_test=5)
    finally:
        _text.phrasebooks.cache_clear()  # the next caller reads the real file again


# --------------------------------------------------------------------------- shape and schema


def test_tables_have_the_tidy_schema(demo):
    assert isinstance(demo, DemoData)
    assert list(demo.train.columns) == [*TEXT, "score"]
    assert list(demo.test.columns) == TEXT
    assert demo.train.shape == (1000, 5) and demo.test.shape == (500, 4)
    for frame in (demo.train, demo.test):
        for col in TEXT:
            assert frame[col].map(type).eq(str).all(), col
    assert demo.train["score"].dtype == np.float64
    assert list(demo.test_labels.columns) == ["ID", "score", "kind"]
    assert demo.test_labels["ID"].tolist() == list(range(1, 501))
    assert demo.train["score"].between(0, 10).all()
    assert demo.test_labels["score"].between(0, 10).all()


def test_metric_names_all_come_from_the_packaged_list(demo):
    names = set(load_metric_names())
    assert demo.metric_names == load_metric_names()
    assert set(demo.train["metric_name"]) <= names
    assert set(demo.test["metric_name"]) <= names
    assert demo.train["metric_name"].nunique() > 100  # most metrics get rows
    np.testing.assert_array_equal(demo.metric_embeddings, load_metric_embeddings())


def test_prompt_lengths_stay_in_the_competition_range(demo):
    for frame in (demo.train, demo.test):
        lengths = frame["user_prompt"].str.len()
        assert lengths.between(50, 600).all()
        system = frame["system_prompt"][frame["system_prompt"] != ""].str.len()
        assert system.max() <= 600
    response = demo.train["response"].str.len()
    assert 500 <= response.median() <= 1200
    assert response.max() > 2500


# --------------------------------------------------------------------------- determinism


def test_same_seed_gives_equal_data_and_another_seed_differs():
    a = make_judge_data(200, 100, random_state=3)
    b = make_judge_data(200, 100, random_state=3)
    c = make_judge_data(200, 100, random_state=4)
    pd.testing.assert_frame_equal(a.train, b.train)
    pd.testing.assert_frame_equal(a.test, b.test)
    pd.testing.assert_frame_equal(a.test_labels, b.test_labels)
    assert not a.train.equals(c.train)
    assert not a.test_labels.equals(c.test_labels)


def test_written_files_are_byte_identical_for_the_same_seed(tmp_path):
    first = write_demo_data(tmp_path / "a", n_train=150, n_test=80, random_state=7)
    second = write_demo_data(tmp_path / "b", n_train=150, n_test=80, random_state=7)
    other = write_demo_data(tmp_path / "c", n_train=150, n_test=80, random_state=8)
    for name in FILES:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert (first / "train_data.json").read_bytes() != (other / "train_data.json").read_bytes()


# --------------------------------------------------------------------------- labels


def test_train_labels_have_the_real_skew(demo):
    scores = demo.train["score"]
    assert 0.85 <= scores.between(9, 10).mean() <= 0.95
    assert (scores == 9).mean() > (scores == 10).mean() > (scores == 8).mean()
    assert (scores == 9.5).sum() == 1
    assert 3 <= (scores < 6).sum() <= 30


def test_low_train_scores_come_with_visible_defects(demo):
    train = demo.train
    empty = train["response"] == ""
    assert empty.any()
    assert (train.loc[empty, "score"] <= 1).all()
    low = train["score"] < 6
    high = train["score"] >= 9
    # Defective answers are empty, one-liners or short compliance; good ones are longer.
    assert (
        train.loc[low, "response"].str.len().median()
        < train.loc[high, "response"].str.len().median()
    )


def test_test_labels_are_shifted_and_bimodal(demo):
    labels = demo.test_labels
    assert 5.0 <= labels["score"].mean() <= 7.5
    assert 0.2 <= (labels["score"] < 5).mean() <= 0.5
    assert labels["score"].std() > 2.5
    assert set(labels["kind"]) == {"matched", "general", "mismatched"}
    means = labels.groupby("kind")["score"].mean()
    assert means["matched"] > means["general"] > means["mismatched"]
    assert means["matched"] > 8.5 and means["mismatched"] < 4.5


def test_mismatch_fraction_controls_the_swapped_share():
    none = make_judge_data(100, 200, random_state=0, mismatch_fraction=0.0)
    assert (none.test_labels["kind"] == "matched").all()
    assert none.test_labels["score"].mean() > 8.5
    every = make_judge_data(100, 200, random_state=0, mismatch_fraction=1.0)
    assert not (every.test_labels["kind"] == "matched").any()
    half = make_judge_data(100, 200, random_state=0, mismatch_fraction=0.5)
    assert (half.test_labels["kind"] != "matched").sum() == 100


# --------------------------------------------------------------------------- text content


def test_text_is_multilingual(demo):
    text = pd.concat([all_text(demo.train), all_text(demo.test)])
    for script, pattern in (("Devanagari", DEVANAGARI), ("Tamil", TAMIL), ("Bengali", BENGALI)):
        assert text.str.contains(pattern).sum() >= 10, script
    latin_only = ~text.str.contains("[\u0900-\u0bff]")
    assert latin_only.mean() > 0.6  # still mostly English
    romanised_hindi = text.str.contains(r"\b(?:kaise|karein|sakta|chahiye)\b")
    assert romanised_hindi.sum() >= 10


def test_responses_are_often_markdown(demo):
    markdown = demo.train["response"].str.contains(r"^(?:#{2,3} |[-*\u2022] |\d+\. )", flags=re.M)
    assert markdown.mean() > 0.5


def test_conversations_are_written_for_their_metric(demo):
    train = demo.train[demo.train["score"] >= 9]
    jailbreak = train[train["metric_name"].str.startswith("jailbreak")]
    english = jailbreak[~all_text(jailbreak).str.contains("[\u0900-\u0bff]")]
    assert len(english) >= 3
    assert (
        english["user_prompt"]
        .str.contains("FreeBot|roleplay|grandfather|novel|Decode|OVERRIDE|urgnt|rules", case=False)
        .all()
    )
    languages = train[train["metric_name"].str.startswith("fluency_in_indian_languages")]
    assert len(languages) >= 3
    in_asked_language = languages["response"].str.contains(
        r"[\u0900-\u0bff]|\b(?:aapke|mein|hai|hain|karein)\b", case=False
    )
    assert in_asked_language.all()


# --------------------------------------------------------------------------- written files


def test_written_files_round_trip(written, demo):
    assert sorted(p.name for p in written.iterdir()) == sorted(FILES)
    train = json.loads((written / "train_data.json").read_text(encoding="utf-8"))
    test = json.loads((written / "test_data.json").read_text(encoding="utf-8"))
    assert len(train) == 1000 and len(test) == 500
    assert list(train[0]) == ["metric_name", "score", "user_prompt", "response", "system_prompt"]
    assert list(test[0]) == ["metric_name", "user_prompt", "response", "system_prompt"]
    assert all(isinstance(r["score"], str) and re.fullmatch(r"\d+\.\d", r["score"]) for r in train)
    assert [float(r["score"]) for r in train] == demo.train["score"].tolist()
    assert [r["user_prompt"] for r in test] == demo.test["user_prompt"].tolist()
    assert json.loads((written / "metric_names.json").read_text()) == load_metric_names()
    emb = np.load(written / "metric_name_embeddings.npy")
    assert emb.shape == (145, 768) and emb.dtype == np.float32
    labels = pd.read_csv(written / "test_labels.csv")
    pd.testing.assert_frame_equal(labels, demo.test_labels)


def test_written_json_has_the_competition_quirks(written):
    raw = (written / "train_data.json").read_bytes()
    assert b'"privacy_leakage\\/' in raw or b"\\/" in raw  # slashes escaped as in the real files
    records = json.loads(raw) + json.loads((written / "test_data.json").read_bytes())
    null_system = np.mean([r["system_prompt"] is None for r in records])
    assert 0.2 <= null_system <= 0.4
    assert any(r["response"] in ("", None) for r in records)


def test_written_directory_loads_with_gbscore_data(written, demo):
    data_module = pytest.importorskip("gbscore.data")
    loaded = data_module.load_competition(written)
    pd.testing.assert_frame_equal(loaded.train, demo.train)
    pd.testing.assert_frame_equal(loaded.test, demo.test)
    assert loaded.metric_names == demo.metric_names
    np.testing.assert_array_equal(loaded.metric_embeddings, demo.metric_embeddings)
    labels = data_module.load_test_labels(written / "test_labels.csv")
    pd.testing.assert_frame_equal(labels, demo.test_labels)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_train": 0}, "n_train must be a positive integer; got 0"),
        ({"n_test": 2.5}, "n_test must be a positive integer; got 2.5"),
        ({"n_train": True}, "n_train must be a positive integer; got True"),
        ({"mismatch_fraction": 1.5}, r"mismatch_fraction must be a number in \[0, 1\]; got 1.5"),
        ({"mismatch_fraction": "half"}, "mismatch_fraction must be a number"),
        ({"random_state": "seed"}, "random_state must be None, an int or a numpy RandomState"),
    ],
)
def test_invalid_arguments_say_what_to_fix(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        make_judge_data(**{"n_train": 20, "n_test": 10, **kwargs})


def test_writing_into_an_existing_file_is_refused(tmp_path):
    target = tmp_path / "not_a_dir"
    target.write_text("x")
    with pytest.raises(ConfigError, match="is an existing file; expected a directory"):
        write_demo_data(target, n_train=20, n_test=10)
