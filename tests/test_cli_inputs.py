"""Unusual but legitimate datasets, and command-line mistakes caught before any fitting.

Each case was found by running the commands on small hand-made datasets: a train set of one
metric, fewer conversations than folds, a test metric the model cannot know, a lone surrogate
escape in the JSON, output paths of the wrong kind, ``--uncertainty`` on a model without one.
The fits here are single ridge pipelines on a model-free encoder, so they take seconds.
"""

import json
import re
import shutil

import pandas as pd
import pytest

from gbscore.cli import main

CONFIG = {
    "model": "ridge",
    "encoder": {"kind": "char-tfidf", "n_components": 16},
    "features": {"contrastive": False},
    "params": {"interact__n_components": 4, "interact__bilinear_rank": 2},
}
N_TRAIN, N_TEST = 40, 12


def _records(path):
    return json.loads(path.read_text(encoding="utf-8"))


def _write(path, records):
    path.write_text(json.dumps(records), encoding="utf-8")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    data = root / "demo"
    main(["demo", "--out-dir", str(data), "--n-train", "80", "--n-test", "40", "--seed", "2"])
    config = root / "ridge.json"
    config.write_text(json.dumps(CONFIG), encoding="utf-8")
    return data, config


def _dataset(demo, tmp_path, name, *, train=None, test=None, drop=()):
    """A copy of the demo's first rows, with train/test records replaced or files dropped."""
    data, _ = demo
    out = tmp_path / name
    shutil.copytree(data, out)
    _write(out / "train_data.json", train or _records(data / "train_data.json")[:N_TRAIN])
    _write(out / "test_data.json", test or _records(data / "test_data.json")[:N_TEST])
    # The demo's labels are for all its test records; these runs score none.
    for file in ("test_labels.csv", *drop):
        (out / file).unlink()
    return out


def _run_args(demo, tmp_path, data_dir, *extra):
    _, config = demo
    return [
        "run", "--data-dir", data_dir, "--config", config, "--quiet", "--n-jobs", 1,
        "--cache-dir", tmp_path / "cache", "--report-dir", tmp_path / "report",
        "--out", tmp_path / "submission.csv", *extra,
    ]  # fmt: skip


def _train_args(demo, tmp_path, data_dir, model_out):
    _, config = demo
    return [
        "train", "--data-dir", data_dir, "--config", config, "--quiet",
        "--cache-dir", tmp_path / "cache", "--model-out", model_out,
    ]  # fmt: skip


def _with_an_unseen_metric(demo, at):
    """The demo's first train and test records; test records ``at`` get a metric of
    metric_names.json that no training record has, the others training records' metrics.

    Returns (train, test, the unseen metric).
    """
    data, _ = demo
    train = _records(data / "train_data.json")[:N_TRAIN]
    test = _records(data / "test_data.json")[:N_TEST]
    in_train = {r["metric_name"] for r in train}
    unseen = next(n for n in _records(data / "metric_names.json") if n not in in_train)
    for i, record in enumerate(test):
        record["metric_name"] = unseen if i in at else train[i]["metric_name"]
    return train, test, unseen


def _check_submission(path, n_test):
    sub = pd.read_csv(path)
    assert list(sub.columns) == ["ID", "score"]
    assert sub["ID"].tolist() == list(range(1, n_test + 1))
    assert sub["score"].notna().all() and sub["score"].between(0, 10).all()


def test_one_metric_in_train_swaps_in_the_metrics_the_embeddings_name(demo, tmp_path, run_cli):
    data, _ = demo
    train = _records(data / "train_data.json")[:N_TRAIN]
    for record in train:
        record["metric_name"] = train[0]["metric_name"]
    one = _dataset(demo, tmp_path, "one_metric", train=train)
    code, _, err = run_cli(_run_args(demo, tmp_path, one, "--cv-folds", 0))
    assert code == 0, err
    _check_submission(tmp_path / "submission.csv", N_TEST)


def test_no_cv_needs_no_folds_fewer_conversations_than_folds(demo, tmp_path, run_cli):
    """`run --cv-folds 0` and `train` of a single model build no folds: two conversations
    (under the 5 folds of the config's default) train."""
    data, _ = demo
    train = _records(data / "train_data.json")[:N_TRAIN]
    for i, record in enumerate(train):
        for field in ("system_prompt", "user_prompt", "response"):
            record[field] = train[i % 2][field]
    two = _dataset(demo, tmp_path, "two_conversations", train=train)
    code, _, err = run_cli(_run_args(demo, tmp_path, two, "--cv-folds", 0))
    assert code == 0, err
    _check_submission(tmp_path / "submission.csv", N_TEST)
    code, _, err = run_cli(_train_args(demo, tmp_path, two, tmp_path / "m.joblib"))
    assert code == 0, err
    assert (tmp_path / "m.joblib").is_file()


def test_unknown_test_metric_without_embeddings_stops_before_fitting(demo, tmp_path, run_cli):
    train, test, unseen = _with_an_unseen_metric(demo, at=(4, 7))
    bad = _dataset(
        demo, tmp_path, "unseen", train=train, test=test, drop=["metric_name_embeddings.npy"]
    )
    code, _, err = run_cli(_run_args(demo, tmp_path, bad))
    assert code == 2
    assert "test_data.json, record 4, field 'metric_name'" in err
    assert repr(unseen) in err and "metric_name_embeddings.npy" in err and "2 test records" in err
    # Stopped before the fit: nothing was written.
    assert not (tmp_path / "report" / "model.joblib").exists()
    assert not (tmp_path / "submission.csv").exists()


def test_unseen_test_metric_without_embeddings_runs_when_names_are_encoded(demo, tmp_path, run_cli):
    train, test, unseen = _with_an_unseen_metric(demo, at=(4, 7))
    folder = _dataset(
        demo, tmp_path, "encode", train=train, test=test, drop=["metric_name_embeddings.npy"]
    )
    config = tmp_path / "encode.json"
    params = {**CONFIG["params"], "features__embed__unknown_metric": "encode"}
    config.write_text(json.dumps({**CONFIG, "params": params}), encoding="utf-8")
    args = _run_args(demo, tmp_path, folder, "--cv-folds", 0)
    args[args.index("--config") + 1] = config
    with pytest.warns(UserWarning, match=r"not known at fit time: \['" + re.escape(unseen)):
        code, _, err = run_cli(args)
    assert code == 0, err
    _check_submission(tmp_path / "submission.csv", N_TEST)
    # No folds were run, so nothing was matched: the saved config keeps "auto" for a later CV.
    saved = json.loads((tmp_path / "report" / "config.json").read_text(encoding="utf-8"))
    assert saved["cv"]["buffer"] == "auto"


def test_the_same_unseen_metric_is_fine_with_the_embeddings(demo, tmp_path, run_cli):
    train, test, _ = _with_an_unseen_metric(demo, at=(4,))
    ok = _dataset(demo, tmp_path, "unseen_with_npy", train=train, test=test)
    code, _, err = run_cli(_run_args(demo, tmp_path, ok, "--cv-folds", 0))
    assert code == 0, err
    _check_submission(tmp_path / "submission.csv", N_TEST)


@pytest.mark.parametrize("where", ["train_data.json", "test_data.json", "metric_names.json"])
def test_lone_surrogate_escape_names_file_record_and_field(demo, tmp_path, run_cli, where):
    data, _ = demo
    bad = _dataset(demo, tmp_path, "surrogate")
    text = (bad / where).read_text(encoding="utf-8")
    if where == "metric_names.json":
        names = json.loads(text)
        # Appended, so every record still names a metric in the file.
        text = json.dumps(names)[:-1] + ', "odd\\ud800name"]'
        expected = f"metric_names.json, record {len(names)}:"
    else:
        records = json.loads(text)
        records[2]["response"] = "PLACEHOLDER"
        text = json.dumps(records).replace("PLACEHOLDER", "ok \\udc80 then")
        expected = f"{where}, record 2, field 'response'"
    (bad / where).write_text(text, encoding="utf-8")
    code, _, err = run_cli(_run_args(demo, tmp_path, bad))
    assert code == 2
    assert expected in err and "lone surrogate" in err


@pytest.mark.parametrize(
    ("option", "make", "message"),
    [
        ("--out", "dir", "'--out': File"),
        ("--model-out", "dir", "'--model-out': File"),
        ("--report-dir", "file", "'--report-dir': Directory"),
    ],
)
def test_output_path_of_the_wrong_kind_is_refused_up_front(
    demo, tmp_path, run_cli, option, make, message
):
    data, _ = demo
    target = tmp_path / "target"
    if make == "dir":
        target.mkdir()
    else:
        target.write_text("not a folder", encoding="utf-8")
    args = _run_args(demo, tmp_path, data)
    if option in args:
        args[args.index(option) + 1] = target
    else:
        args += [option, target]
    code, _, err = run_cli(args)
    assert code == 2 and message in err
    assert not (tmp_path / "submission.csv").exists()


def test_one_fold_is_refused_for_a_single_model(demo, tmp_path, run_cli):
    data, _ = demo
    code, _, err = run_cli(_run_args(demo, tmp_path, data, "--cv-folds", 1))
    assert code == 2 and "--cv-folds" in err and "1 fold is no cross-validation" in err


def test_uncertainty_of_a_model_without_one_is_refused_before_fitting(demo, tmp_path, run_cli):
    data, _ = demo
    code, _, err = run_cli(_run_args(demo, tmp_path, data, "--uncertainty"))
    assert code == 2 and "--uncertainty" in err and "RidgeScoreRegressor" in err
    assert not (tmp_path / "report").exists()


def test_unknown_param_is_a_short_error_with_a_suggestion(demo, tmp_path, run_cli):
    data, _ = demo
    config = tmp_path / "typo.json"
    config.write_text(
        json.dumps({**CONFIG, "params": {**CONFIG["params"], "model__alpah": 3.0}}),
        encoding="utf-8",
    )
    args = _run_args(demo, tmp_path, data)
    args[args.index("--config") + 1] = config
    code, _, err = run_cli(args)
    assert code == 2
    assert "'model__alpah' is not a parameter of the ridge pipeline" in err
    assert "model__alpha" in err
    assert len(err) < 400 and "metric_emb_0" not in err


def test_quiet_run_turns_off_the_hub_progress_bars(demo, tmp_path, run_cli, monkeypatch):
    """--quiet sets the variable transformers reads for its "Loading weights" bar when first
    imported (the commands import it after this, and fold workers inherit it)."""
    import os

    data, _ = demo
    # setenv first, so that the teardown restores the variable's state before the test.
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "")
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS")
    code, _, err = run_cli(_run_args(demo, tmp_path, data, "--cv-folds", 0))
    assert code == 0, err
    assert os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS") == "1"
    _check_submission(tmp_path / "submission.csv", len(_records(data / "test_data.json")))


def test_labels_that_do_not_match_the_test_set_stop_before_fitting(demo, tmp_path, run_cli):
    data, _ = demo
    short = _dataset(demo, tmp_path, "short_labels")
    labels = pd.read_csv(data / "test_labels.csv")
    labels.iloc[: N_TEST + 3].to_csv(short / "test_labels.csv", index=False)
    code, _, err = run_cli(_run_args(demo, tmp_path, short))
    assert code == 2
    assert "test_labels.csv" in err and f"has {N_TEST + 3} labels" in err
    assert f"test_data.json has {N_TEST} records" in err
    assert not (tmp_path / "report").exists()


def test_json_lines_file_gets_a_hint(demo, tmp_path, run_cli):
    bad = _dataset(demo, tmp_path, "jsonl")
    records = _records(bad / "train_data.json")
    (bad / "train_data.json").write_text(
        "\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8"
    )
    code, _, err = run_cli(_run_args(demo, tmp_path, bad))
    assert code == 2
    assert "train_data.json: is not valid JSON: Extra data at line 2" in err
    assert "looks like JSON Lines" in err


def test_metric_name_in_another_case_is_suggested(demo, tmp_path, run_cli):
    data, _ = demo
    train = _records(data / "train_data.json")[:N_TRAIN]
    name = train[5]["metric_name"]
    train[5]["metric_name"] = name.upper()
    bad = _dataset(demo, tmp_path, "upper", train=train)
    code, _, err = run_cli(_run_args(demo, tmp_path, bad))
    assert code == 2
    assert "record 5, field 'metric_name'" in err and f"did you mean {name!r}?" in err


def test_predict_from_a_folder_reads_only_the_test_and_names_files(demo, tmp_path, run_cli):
    folder = _dataset(demo, tmp_path, "predict_here")
    model = tmp_path / "m.joblib"
    code, _, err = run_cli(_train_args(demo, tmp_path, folder, model))
    assert code == 0, err
    (folder / "train_data.json").write_text("[{broken", encoding="utf-8")
    predict = ["predict", "--model", model, "--cache-dir", tmp_path / "cache", "--quiet"]
    code, _, err = run_cli([*predict, "--data-dir", folder, "--out", tmp_path / "a.csv"])
    assert code == 0, err
    code, _, err = run_cli(
        [*predict, "--test", folder / "test_data.json", "--out", tmp_path / "b.csv"],
    )
    assert code == 0, err
    _check_submission(tmp_path / "a.csv", N_TEST)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv"))
    # The names file is still read: a test metric outside it is named.
    test = _records(folder / "test_data.json")
    test[3]["metric_name"] = "no_such_metric"
    _write(folder / "test_data.json", test)
    code, _, err = run_cli([*predict, "--data-dir", folder, "--out", tmp_path / "c.csv"])
    assert code == 2 and "record 3, field 'metric_name'" in err and "no_such_metric" in err
    assert f"not in {folder / 'metric_names.json'}" in err
    # --data-dir is a folder; a file goes to --test.
    code, _, err = run_cli(
        [*predict, "--data-dir", folder / "test_data.json", "--out", tmp_path / "d.csv"],
    )
    assert code == 2 and "'--data-dir'" in err and "is a file" in err


def test_predict_names_the_record_of_a_metric_the_model_never_saw(demo, tmp_path, run_cli):
    """Without given embeddings the model knows only its training metrics; the error names
    the record in the whole file, not its position in a batch (``--batch-rows 4``)."""
    train, test, unseen = _with_an_unseen_metric(demo, at=())
    folder = _dataset(
        demo, tmp_path, "fit_here", train=train, test=test, drop=["metric_name_embeddings.npy"]
    )
    model = tmp_path / "m.joblib"
    code, _, err = run_cli(_train_args(demo, tmp_path, folder, model))
    assert code == 0, err
    test[9]["metric_name"] = unseen
    other = tmp_path / "other_test.json"
    _write(other, test)
    code, _, err = run_cli(
        [
            "predict",
            "--model",
            model,
            "--test",
            other,
            "--batch-rows",
            4,
            "--quiet",
            "--cache-dir",
            tmp_path / "cache",
            "--out",
            tmp_path / "sub.csv",
        ],  # fmt: skip,
    )
    assert code == 2
    assert "other_test.json, record 9, field 'metric_name'" in err and repr(unseen) in err
    assert not (tmp_path / "sub.csv").exists()
