import json
import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from gbscore.cli import cli, main
from gbscore.stacking import OOFPredictions

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
        }
    },
}
N_TEST = 60


def _write_json(path, obj):
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


def _run(argv, capsys):
    """Run the `gbscore` entry point; returns (exit code, stdout, stderr)."""
    code = 0
    try:
        main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


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


def test_run_writes_submission(ran):
    sub = pd.read_csv(ran["submission"])
    assert list(sub.columns) == ["ID", "score"]
    np.testing.assert_array_equal(sub["ID"], np.arange(1, N_TEST + 1))
    assert sub["score"].between(0, 10).all()
    assert ran["submission"].read_text().splitlines()[0] == "ID,score"


def test_run_report_files(ran):
    report = ran["report"]
    for name in (
        "metrics.json", "config.json", "timings.json", "summary.md", "cv_scores.csv",
        "per_bin_rmse.csv", "per_bin_rmse.png", "oof_vs_true.png", "hist_predictions.png",
        "hist_test_models.png", "stack_weights.json", "feature_importances.png",
        "feature_importances_lightgbm.csv", "feature_importances_catboost.csv",
        "feature_importances_ridge.csv", "model.joblib", "oof.npz",
    ):  # fmt: skip
        assert (report / name).is_file(), name
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["cv"]["model"] == "stack"
    assert set(metrics["cv_models"]) == {"stack", "lightgbm", "catboost", "ridge"}
    for scores in metrics["cv_models"].values():
        assert scores["rmse_shift"] > 0 and scores["rmse_plain"] > 0
    assert set(metrics["test_models"]) == {"lightgbm", "catboost", "ridge"}
    assert "rmse_mismatched" in metrics["test"]
    weights = json.loads((report / "stack_weights.json").read_text())
    assert set(weights["weights"]) == {"lightgbm", "catboost", "ridge"}
    assert all(w >= 0 for w in weights["weights"].values())
    per_bin = pd.read_csv(report / "per_bin_rmse.csv")
    assert set(per_bin["model"]) == {"stack", "lightgbm", "catboost", "ridge"}
    assert set(per_bin["set"]) == {"plain", "shift_aware"}
    importances = pd.read_csv(report / "feature_importances_lightgbm.csv")
    assert "cos__metric_text__response" in set(importances["feature"])
    oof = OOFPredictions.load(report / "oof.npz")
    assert oof.models == ["lightgbm", "catboost", "ridge", "stack"]
    assert "| stack |" in (report / "summary.md").read_text()
    assert json.loads((report / "config.json").read_text())["model"] == "stack"


def test_predict_with_saved_model_gives_identical_submission(ran, capsys):
    out = ran["root"] / "again.csv"
    code, _, err = _run(
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
        capsys,
    )
    assert code == 0, err
    assert out.read_bytes() == ran["submission"].read_bytes()


def test_predict_uncertainty_column(ran, capsys):
    out = ran["root"] / "with_sd.csv"
    test_file = ran["data"] / "test_data.json"
    code, _, err = _run(
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
        capsys,
    )
    assert code == 0, err
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["ID", "score", "uncertainty"]
    np.testing.assert_allclose(frame["score"], pd.read_csv(ran["submission"])["score"])
    assert (frame["uncertainty"] > 0).all()


def test_cv_prints_a_table_per_model(work, capsys):
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
    code, out, err = _run(
        ["cv", "--data-dir", data, "--config", _write_json(root / "cv.json", config),
         "--report-dir", report, "--folds", 2, "--quiet", "--cache-dir", root / "cache"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    lines = out.splitlines()
    assert "CV RMSE plain" in lines[0] and "shift-aware" in lines[0]
    assert {line.split()[0] for line in lines[1:4]} == {"stack", "ridge", "lgbm"}
    for line in lines[1:4]:
        assert all(0 < float(v) < 10 for v in line.split()[1:])
    assert (report / "per_bin_rmse.png").is_file() and (report / "stack_weights.json").is_file()
    assert OOFPredictions.load(report / "oof.npz").n_splits == 2


def test_train_then_predict_single_model(work, capsys):
    root, data = work
    config = _write_json(root / "ridge.json", {**SHARED, "model": "ridge"})
    model = root / "ridge.joblib"
    code, out, err = _run(
        ["train", "--data-dir", data, "--config", config, "--model-out", model, "--quiet",
         "--report-dir", root / "r2", "--cache-dir", root / "cache"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert model.is_file()
    sub = root / "ridge.csv"
    code, _, err = _run(
        ["predict", "--model", model, "--data-dir", data, "--out", sub, "--quiet"], capsys
    )
    assert code == 0, err
    assert list(pd.read_csv(sub).columns) == ["ID", "score"]
    code, _, err = _run(
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
        capsys,
    )
    assert code == 2 and "gives no uncertainty" in err


def test_bad_train_record_names_file_record_and_field(work, capsys, tmp_path):
    _, data = work
    bad = tmp_path / "bad"
    shutil.copytree(data, bad)
    records = json.loads((bad / "train_data.json").read_text(encoding="utf-8"))
    records[3]["score"] = "ten"
    _write_json(bad / "train_data.json", records)
    code, _, err = _run(
        ["train", "--data-dir", bad, "--model-out", tmp_path / "m.joblib", "--quiet"], capsys
    )
    assert code == 2
    assert "train_data.json" in err and "record 3" in err and "'score'" in err and "ten" in err


def test_corrupt_train_file(work, capsys, tmp_path):
    _, data = work
    bad = tmp_path / "bad"
    shutil.copytree(data, bad)
    (bad / "train_data.json").write_text('[{"metric_name": "x", ', encoding="utf-8")
    code, _, err = _run(
        ["run", "--data-dir", bad, "--report-dir", tmp_path / "r", "--quiet"], capsys
    )
    assert code == 2
    assert "train_data.json" in err and "not valid JSON" in err


def test_stack_needs_two_folds(work, capsys, tmp_path):
    _, data = work
    code, _, err = _run(
        ["run", "--data-dir", data, "--cv-folds", 1, "--report-dir", tmp_path, "--quiet"], capsys
    )
    assert code == 2 and "--cv-folds" in err and "at least 2 folds" in err


def test_bad_config(work, capsys, tmp_path):
    _, data = work
    config = _write_json(tmp_path / "c.json", {"model": "stack", "stack": {"models": ["xgboost"]}})
    code, _, err = _run(
        ["cv", "--data-dir", data, "--config", config, "--report-dir", tmp_path, "--quiet"], capsys
    )
    assert code == 2 and "stack.models.xgboost" in err
