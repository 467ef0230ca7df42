import json
import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from gbscore import BandLabels, RidgeScoreRegressor, load_model
from gbscore.cli import cli, main
from gbscore.model_selection import OOFPredictions
from gbscore.tuning import export_config

SHARED = {
    "encoder": {"kind": "char-tfidf", "n_components": 32},
    "params": {"interact__n_components": 4, "interact__bilinear_rank": 2},
    "cv": {"n_splits": 3},
}
# No "model" key: `gbscore run` must default to the stack.
STACK_CONFIG = {
    **SHARED,
    "stack": {
        "models": {
            "lightgbm": {"params": {"model__n_estimators": 40, "model__n_jobs": 1}},
            "catboost": {"params": {"model__iterations": 40, "model__thread_count": 1}},
            "ridge": {},
            "mlp": {"params": {"model__max_epochs": 3, "model__hidden": 16}},
        }
    },
}
N_TEST = 60


def _write_json(path, obj):
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    data = root / "data"
    main(
        ["demo", "--out-dir", str(data), "--n-train", "200", "--n-test", str(N_TEST), "--seed", "1"]
    )
    return root, data


@pytest.fixture(scope="module")
def ran(work):
    """`gbscore run` with the (fast) default stack; returns the paths it wrote."""
    root, data = work
    config = _write_json(root / "stack.json", STACK_CONFIG)
    report, sub = root / "report", root / "submission.csv"
    main(
        [
            "run", "--data-dir", str(data), "--config", str(config), "--report-dir", str(report),
            "--out", str(sub), "--cache-dir", str(root / "cache"), "--quiet",
        ]
    )  # fmt: skip
    return {"report": report, "submission": sub, "data": data, "root": root}


def test_help():
    runner = CliRunner()
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0 and "gbscore run" in result.output
    for name in ("run", "train", "predict", "cv", "demo"):
        assert name in cli.commands
    for name in cli.commands:
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert result.output.startswith(f"Usage: cli {name}")
    assert "--uncertainty" in runner.invoke(cli, ["predict", "--help"]).output
    assert "--dask-address" in runner.invoke(cli, ["run", "--help"]).output
    for name in ("run", "train", "cv"):
        text = runner.invoke(cli, [name, "--help"]).output
        assert "--model" in text and "--encoder" in text, name
    assert "--grouping [both|phrasing|conversation]" in runner.invoke(cli, ["cv", "--help"]).output


@pytest.mark.slow
def test_run_writes_submission(ran):
    sub = pd.read_csv(ran["submission"])
    assert list(sub.columns) == ["ID", "score"]
    np.testing.assert_array_equal(sub["ID"], np.arange(1, N_TEST + 1))
    assert sub["score"].between(0, 10).all()
    assert ran["submission"].read_text().splitlines()[0] == "ID,score"


@pytest.mark.slow
def test_run_report_files(ran):
    report = ran["report"]
    for name in (
        "metrics.json", "config.json", "timings.json", "summary.md", "report.html", "cv_scores.csv",
        "per_bin_rmse.csv", "per_bin_rmse.png", "oof_vs_true.png", "hist_predictions.png",
        "hist_test_models.png", "stack_weights.json", "feature_importances.png",
        "feature_importances_lightgbm.csv", "feature_importances_catboost.csv",
        "feature_importances_ridge.csv", "model.joblib", "oof.npz",
    ):  # fmt: skip
        assert (report / name).is_file(), name
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["cv"]["model"] == "stack"
    # the CV per kind of held-out row: the real rows first, then the mismatched pairs' relations
    kinds = metrics["cv"]["per_relation"]
    assert kinds[0]["relation"] == "real" and kinds[0]["n"] == metrics["cv"]["n_real"]
    assert sum(k["n"] for k in kinds[1:]) == metrics["cv"]["n_shifted"] > 0
    assert {k["relation"] for k in kinds[1:]} <= {
        "unrelated", "related", "general", "mismatch", "opposite", "substitutable", "given"
    }  # fmt: skip
    # the same rows as the plain and the mismatched-only CV, so the same errors pooled
    assert kinds[0]["rmse"] == pytest.approx(metrics["cv"]["rmse_plain"])
    pooled = sum(k["n"] * k["rmse"] ** 2 for k in kinds[1:]) / metrics["cv"]["n_shifted"]
    assert np.sqrt(pooled) == pytest.approx(metrics["cv"]["rmse_shifted_only"])
    assert set(metrics["cv_models"]) == {"stack", "lightgbm", "catboost", "ridge", "mlp"}
    for scores in metrics["cv_models"].values():
        assert scores["rmse_shift"] > 0 and scores["rmse_plain"] > 0
    assert set(metrics["test_models"]) == {"lightgbm", "catboost", "ridge", "mlp"}
    assert "rmse_mismatched" in metrics["test"]
    weights = json.loads((report / "stack_weights.json").read_text())
    assert set(weights["weights"]) == {"lightgbm", "catboost", "ridge", "mlp"}
    assert all(w >= 0 for w in weights["weights"].values())
    per_bin = pd.read_csv(report / "per_bin_rmse.csv")
    assert set(per_bin["model"]) == {"stack", "lightgbm", "catboost", "ridge", "mlp"}
    assert set(per_bin["set"]) == {"plain", "shift_aware"}
    importances = pd.read_csv(report / "feature_importances_lightgbm.csv")
    assert "cos__metric_text__response" in set(importances["feature"])
    oof = OOFPredictions.load(report / "oof.npz")
    assert oof.models == ["lightgbm", "catboost", "ridge", "mlp", "stack"]
    assert "| stack |" in (report / "summary.md").read_text()
    assert json.loads((report / "config.json").read_text())["model"] == "stack"


@pytest.mark.slow
def test_run_says_where_the_time_went(tmp_path, run_cli):
    """The built-in demo (no --data-dir): the time line names each step and the report, and
    an encoding line counts the texts encoded, none on a second run from the same cache."""
    config = _write_json(tmp_path / "c.json", STACK_CONFIG)
    lines = []
    for i in range(2):
        code, out, err = run_cli(
            ["run", "--config", config, "--demo-size", 60, 20, "--report-dir", tmp_path / f"r{i}",
             "--out", tmp_path / f"s{i}.csv", "--cache-dir", tmp_path / "cache", "--quiet"],
        )  # fmt: skip
        assert code == 0, err
        lines.append(out.splitlines())
    first, second = lines
    time_line = next(line for line in first if line.startswith("time: "))
    for step in ("load data", "predict test", "save model", "total", "then the report"):
        assert step in time_line, step
    encoding = next(line for line in first if line.startswith("encoding: "))
    n_texts = int(encoding.split()[1])
    data = pd.read_json(tmp_path / "r0" / "demo-data" / "train_data.json")
    assert n_texts >= data["response"].nunique() > 0
    assert "encoding: 0 texts (every vector came from the embedding cache)" in second
    assert first[-1].startswith("report:") and second[-1].startswith("report:")


@pytest.mark.slow
def test_predict_with_saved_model_gives_identical_submission(ran, run_cli):
    out = ran["root"] / "again.csv"
    code, _, err = run_cli(
        [
            "predict",
            "--model",
            ran["report"] / "model.joblib",
            "--data-dir",
            ran["data"],
            "--out",
            out,
            "--quiet",
        ],
    )
    assert code == 0, err
    assert out.read_bytes() == ran["submission"].read_bytes()
    # In batches of 7 rows (the last one short): the same file.
    small = ran["root"] / "batched.csv"
    code, _, err = run_cli(
        ["predict", "--model", ran["report"] / "model.joblib", "--data-dir", ran["data"],
         "--out", small, "--batch-rows", "7", "--quiet"],
    )  # fmt: skip
    assert code == 0, err
    # The same scores; BLAS may round the last bit differently for another matrix size.
    batched, whole = pd.read_csv(small), pd.read_csv(ran["submission"])
    np.testing.assert_array_equal(batched["ID"], whole["ID"])
    np.testing.assert_allclose(batched["score"], whole["score"], rtol=0, atol=1e-9)


@pytest.mark.slow
def test_predict_uncertainty_column(ran, run_cli):
    out = ran["root"] / "with_sd.csv"
    test_file = ran["data"] / "test_data.json"
    code, _, err = run_cli(
        [
            "predict",
            "--model",
            ran["report"] / "model.joblib",
            "--test",
            test_file,
            "--out",
            out,
            "--uncertainty",
        ],
    )
    assert code == 0, err
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["ID", "score", "uncertainty"]
    np.testing.assert_allclose(frame["score"], pd.read_csv(ran["submission"])["score"])
    assert (frame["uncertainty"] > 0).all()


def _printed_tables(out):
    """The score tables `gbscore cv` prints: ``{grouping: {model: [plain, shift, mismatched]}}``."""
    tables, current = {}, None
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("folds grouped by "):
            current = tables.setdefault(line.removeprefix("folds grouped by ").rstrip(":"), {})
            header = lines[i + 1]
            assert "CV RMSE plain" in header and "shift-aware" in header, header
        elif current is not None and line and not line.startswith(("model ", "report:")):
            name, *values = line.split()
            current[name] = [float(v) for v in values]
    return tables


def _summary_tables(text):
    """The CV tables of summary.md: ``{grouping: {model: [plain, shift, mismatched]}}``."""
    tables, current = {}, None
    for line in text.splitlines():
        if line.startswith("| model ("):
            grouping = line.removeprefix("| model (").split(" folds)")[0]
            current = tables.setdefault(grouping, {})
        elif current is not None and line.startswith("| ") and not line.startswith("|---"):
            name, *values = [c.strip() for c in line.strip("|").split("|")]
            current[name] = [float(v) for v in values]
        elif not line.startswith("|"):
            current = None
    return tables


@pytest.mark.slow
def test_cv_prints_and_reports_both_groupings(work, run_cli):
    """`gbscore cv` (default --grouping both) prints a table per grouping, each with every
    model, and the report's summary.md holds both tables with the same numbers."""
    root, data = work
    config = {
        **SHARED,
        "model": "stack",
        "stack": {
            "models": {
                "ridge": {},
                "lgbm": {
                    "model": "lightgbm",
                    "params": {"model__n_estimators": 30, "model__n_jobs": 1},
                },
            }
        },
    }
    report = root / "cv-report"
    code, out, err = run_cli(
        ["cv", "--data-dir", data, "--config", _write_json(root / "cv.json", config),
         "--report-dir", report, "--folds", 2, "--quiet", "--cache-dir", root / "cache",
         "--n-jobs", 1],
    )  # fmt: skip
    assert code == 0, err
    assert out.index("folds grouped by phrasing:") < out.index("folds grouped by conversation:")
    printed = _printed_tables(out)
    assert set(printed) == {"phrasing", "conversation"}
    for table in printed.values():
        assert set(table) == {"stack", "ridge", "lgbm"}
        assert all(len(v) == 3 and all(0 < x < 10 for x in v) for v in table.values())
    # Phrasing clusters hold out more than identical conversations do: other folds, other
    # numbers (a table printed twice would hide a grouping that is never applied).
    assert printed["phrasing"]["ridge"] != printed["conversation"]["ridge"]

    summary = _summary_tables((report / "summary.md").read_text())
    assert set(summary) == {"phrasing", "conversation"}
    for grouping, table in summary.items():
        assert set(table) == set(printed[grouping])
        for name, values in table.items():
            np.testing.assert_allclose(values, printed[grouping][name], atol=1e-3)
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["cv"]["grouping"] == "phrasing"
    assert set(metrics["cv_models_conversation"]) == {"stack", "ridge", "lgbm"}
    assert (report / "per_bin_rmse.png").is_file() and (report / "stack_weights.json").is_file()
    oof = OOFPredictions.load(report / "oof.npz")
    assert oof.n_splits == 2 and oof.grouping == "phrasing"


@pytest.mark.slow
def test_cv_model_override_and_one_grouping(work, run_cli):
    """--model replaces the config's model; --grouping conversation prints only that table."""
    root, data = work
    config = _write_json(root / "lgbm.json", {**SHARED, "model": "lightgbm"})
    report = root / "cv-ridge"
    code, out, err = run_cli(
        ["cv", "--data-dir", data, "--config", config, "--model", "ridge",
         "--grouping", "conversation", "--report-dir", report, "--folds", 2, "--quiet",
         "--cache-dir", root / "cache", "--n-jobs", 1],
    )  # fmt: skip
    assert code == 0, err
    printed = _printed_tables(out)
    assert list(printed) == ["conversation"] and list(printed["conversation"]) == ["ridge"]
    assert json.loads((report / "config.json").read_text())["model"] == "ridge"
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["cv"]["model"] == "ridge" and metrics["cv"]["grouping"] == "conversation"
    assert "cv_models_conversation" not in metrics
    assert list(_summary_tables((report / "summary.md").read_text())) == ["conversation"]


@pytest.mark.slow
def test_train_model_override_beats_the_config(work, run_cli, tmp_path):
    root, data = work
    config = _write_json(tmp_path / "lgbm.json", {**SHARED, "model": "lightgbm"})
    out = tmp_path / "m.joblib"
    code, _, err = run_cli(
        ["train", "--data-dir", data, "--config", config, "--model", "ridge", "--model-out", out,
         "--quiet", "--report-dir", tmp_path / "r", "--cache-dir", root / "cache"],
    )  # fmt: skip
    assert code == 0, err
    model, metadata = load_model(out)
    assert isinstance(model.steps[-1][1], RidgeScoreRegressor)
    assert metadata["config"]["model"] == "ridge"


@pytest.mark.parametrize(
    "encoder",
    [SHARED["encoder"], None],
    ids=["replaces-char-tfidf", "default-encoder"],
)
def test_missing_encoder_is_one_clear_error(encoder, work, run_cli, tmp_path):
    """--encoder replaces the config's encoder (whatever its kind and settings): a folder that
    does not exist stops the command with a message naming it and saying what to do."""
    root, data = work
    config = {"model": "ridge", "cv": {"n_splits": 3}}
    if encoder is not None:
        config["encoder"] = encoder
    out = tmp_path / "m.joblib"
    code, _, err = run_cli(
        ["train", "--data-dir", data, "--config", _write_json(tmp_path / "c.json", config),
         "--encoder", "/nonexistent/path", "--model-out", out, "--quiet",
         "--report-dir", tmp_path / "r", "--cache-dir", tmp_path / "cache"],
    )  # fmt: skip
    assert code == 2
    assert err.startswith("gbscore: error: ") and "Traceback" not in err
    assert "'/nonexistent/path' is not available offline" in err
    assert "the local folder '/nonexistent/path' does not exist" in err
    assert "never downloads weights" in err
    assert not out.exists()


@pytest.mark.slow
def test_run_reads_tuned_label_policy_bands(tmp_path, run_cli):
    """A config exported with a tuned label-policy spec (as `gbscore tune` writes it) trains
    with those bands in `gbscore run --config`: every held-out mismatched pair of the run's
    CV is labelled inside the band, which the default policy (unrelated 0-4, related 4-7.5,
    ...) would not do."""
    band = [1.5, 3.5]
    config = export_config(
        {
            "model": "ridge",
            "encoder": {"kind": "char-tfidf", "n_components": 8},
            "cv": {"n_splits": 3},
            "params": {"augment__label_policy": {"kind": "band", "band": band}},
        },
        tmp_path / "tuned.json",
    )
    report, sub = tmp_path / "report", tmp_path / "submission.csv"
    code, _, err = run_cli(
        ["run", "--config", config, "--demo-size", 120, 40, "--report-dir", report, "--out", sub,
         "--cache-dir", tmp_path / "cache", "--n-jobs", 1, "--quiet"],
    )  # fmt: skip
    assert code == 0, err
    assert len(pd.read_csv(sub)) == 40
    written = json.loads((report / "config.json").read_text())
    assert written["params"]["augment__label_policy"] == {"kind": "band", "band": band}
    model, _ = load_model(report / "model.joblib")
    policy = model.named_steps["augment"].label_policy_
    assert isinstance(policy, BandLabels) and policy.band == (1.5, 3.5)
    oof = OOFPredictions.load(report / "oof.npz")
    pairs = oof.y[oof.is_shifted]
    assert len(pairs) > 50
    assert pairs.min() >= 1.5 and pairs.max() <= 3.5


@pytest.mark.slow
def test_train_then_predict_single_model(work, run_cli):
    root, data = work
    config = _write_json(root / "ridge.json", {**SHARED, "model": "ridge"})
    model = root / "ridge.joblib"
    code, out, err = run_cli(
        ["train", "--data-dir", data, "--config", config, "--model-out", model, "--quiet",
         "--report-dir", root / "r2", "--cache-dir", root / "cache"],
    )  # fmt: skip
    assert code == 0, err
    assert model.is_file()
    sub = root / "ridge.csv"
    code, _, err = run_cli(
        ["predict", "--model", model, "--data-dir", data, "--out", sub, "--quiet"],
    )
    assert code == 0, err
    assert list(pd.read_csv(sub).columns) == ["ID", "score"]
    code, _, err = run_cli(
        [
            "predict",
            "--model",
            model,
            "--data-dir",
            data,
            "--out",
            root / "x.csv",
            "--uncertainty",
            "--quiet",
        ],
    )
    assert code == 2 and "gives no uncertainty" in err


def test_bad_train_record_names_file_record_and_field(work, tmp_path, run_cli):
    _, data = work
    bad = tmp_path / "bad"
    shutil.copytree(data, bad)
    records = json.loads((bad / "train_data.json").read_text(encoding="utf-8"))
    records[3]["score"] = "ten"
    _write_json(bad / "train_data.json", records)
    code, _, err = run_cli(
        ["train", "--data-dir", bad, "--model-out", tmp_path / "m.joblib", "--quiet"],
    )
    assert code == 2
    assert "train_data.json" in err and "record 3" in err and "'score'" in err and "ten" in err


def test_corrupt_train_file(work, tmp_path, run_cli):
    _, data = work
    bad = tmp_path / "bad"
    shutil.copytree(data, bad)
    (bad / "train_data.json").write_text('[{"metric_name": "x", ', encoding="utf-8")
    code, _, err = run_cli(
        ["run", "--data-dir", bad, "--report-dir", tmp_path / "r", "--quiet"],
    )
    assert code == 2
    assert "train_data.json" in err and "not valid JSON" in err


def test_stack_needs_two_folds(work, tmp_path, run_cli):
    _, data = work
    code, _, err = run_cli(
        ["run", "--data-dir", data, "--cv-folds", 1, "--report-dir", tmp_path, "--quiet"],
    )
    assert code == 2 and "--cv-folds" in err and "at least 2 folds" in err


def test_bad_config(work, tmp_path, run_cli):
    _, data = work
    config = _write_json(tmp_path / "c.json", {"model": "stack", "stack": {"models": ["xgboost"]}})
    code, _, err = run_cli(
        ["cv", "--data-dir", data, "--config", config, "--report-dir", tmp_path, "--quiet"],
    )
    assert code == 2 and "stack.models.xgboost" in err


@pytest.mark.slow
def test_cv_buffer_auto_is_matched_to_the_test_set(work, run_cli, tmp_path):
    """cv.buffer "auto": a test set phrased unlike train buffers the phrasing folds (the
    conversation folds beside them stay unbuffered); the config the report saves, its metrics
    and its summary give the buffer used."""
    root, data = work
    rephrased = tmp_path / "data"
    shutil.copytree(data, rephrased)
    test = json.loads((rephrased / "test_data.json").read_text(encoding="utf-8"))
    rng = np.random.default_rng(0)
    for record in test:  # most words replaced by one of 40 shared ones: far from train
        for key in ("user_prompt", "response"):
            record[key] = " ".join(
                w if rng.random() < 0.4 else f"word{rng.integers(40)}"
                for w in (record[key] or "").split()
            )
    _write_json(rephrased / "test_data.json", test)
    cv = {"n_splits": 3, "buffer": "auto"}
    config = _write_json(tmp_path / "c.json", {**SHARED, "model": "ridge", "cv": cv})
    for where, report in ((rephrased, tmp_path / "far"), (data, tmp_path / "near")):
        code, out, err = run_cli(
            ["cv", "--data-dir", where, "--config", config,
             "--report-dir", report, "--quiet", "--cache-dir", root / "cache", "--n-jobs", 1],
        )  # fmt: skip
        assert code == 0, err
    far = json.loads((tmp_path / "far" / "config.json").read_text())["cv"]["buffer"]
    assert isinstance(far, float) and 0 < far < 1
    assert json.loads((tmp_path / "far" / "metrics.json").read_text())["cv"]["buffer"] == far
    summary = (tmp_path / "far" / "summary.md").read_text()
    assert f"within cosine {far:.3f}" in summary
    assert list(_summary_tables(summary)) == ["phrasing", "conversation"]
    html = (tmp_path / "far" / "report.html").read_text()
    assert f"folds grouped by phrasing, buffered at cosine {far:.3f}</h2>" in html
    assert "folds grouped by conversation</h2>" in html
    # the demo's own test set is phrased like its train: no buffer
    assert json.loads((tmp_path / "near" / "config.json").read_text())["cv"]["buffer"] is None
    assert json.loads((tmp_path / "near" / "metrics.json").read_text())["cv"]["buffer"] is None
