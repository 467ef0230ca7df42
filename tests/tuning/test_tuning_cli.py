"""`gbscore tune`, the scripts in tuning/, and storage URLs."""

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

from gbscore import ConfigError, load_model
from gbscore.cli import cli
from gbscore.config import label_policy_to_spec, load_config
from gbscore.tuning import DEFAULT_STORAGE, main, make_storage, redact_url

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config_path(tmp_path, fast):
    path = tmp_path / "fast.json"
    path.write_text(json.dumps(fast["ridge"]))
    return path


def _tune_args(config_path, tmp_path, *extra):
    return [
        "tune", "--model", "ridge", "--config", str(config_path), "--demo-size", "200", "60",
        "--storage", f"sqlite:///{tmp_path / 's.db'}", "--study-name", "cli",
        "--cache-dir", str(tmp_path / "cache"), *extra,
    ]  # fmt: skip


@pytest.mark.slow
def test_gbscore_tune_exports_a_config_gbscore_run_reads(config_path, tmp_path):
    out = tmp_path / "best.json"
    args = _tune_args(config_path, tmp_path, "--n-trials", "2", "--export", str(out))
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "2 trials run here" in result.output
    assert "best trial #" in result.output and "shift-aware" in result.output
    config = load_config(out)
    assert config["model"] == "ridge" and "model__alpha" in config["params"]
    assert config["encoder"] == json.loads(config_path.read_text())["encoder"]
    # The label policy's bands are tuned and exported as a JSON spec.
    spec = config["params"]["augment__label_policy"]
    assert isinstance(spec, dict) and spec["kind"] in ("band", "similarity")
    # The progress display: trial count, best value, ETA (tqdm's remaining time).
    assert "2/2" in result.output and "best=" in result.output and "<00:00" in result.output

    run = CliRunner().invoke(
        cli,
        ["run", "--config", str(out), "--demo-size", "200", "60", "--quiet",
         "--cache-dir", str(tmp_path / "cache"), "--report-dir", str(tmp_path / "report"),
         "--out", str(tmp_path / "submission.csv")],
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    assert (tmp_path / "submission.csv").read_text().startswith("ID,score\n1,")
    # `gbscore run` trained with the exported bands, not the default policy's.
    model, _ = load_model(tmp_path / "report" / "model.joblib")
    policy = model.named_steps["augment"].label_policy_
    assert label_policy_to_spec(policy) == {**label_policy_to_spec(type(policy)()), **spec}


@pytest.mark.slow
def test_gbscore_tune_resumes_the_named_study(config_path, tmp_path):
    runner = CliRunner()
    first = runner.invoke(cli, _tune_args(config_path, tmp_path, "--n-trials", "1", "--quiet"))
    assert first.exit_code == 0, first.output
    second = runner.invoke(cli, _tune_args(config_path, tmp_path, "--n-trials", "2", "--quiet"))
    assert second.exit_code == 0, second.output
    assert "1 trials run here" in second.output and '"COMPLETE": 2' in second.output


@pytest.mark.slow
def test_tuning_scripts_run_from_the_repository_root():
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    names = ("tune_lightgbm", "tune_catboost", "tune_ridge", "tune_mlp", "tune_stack")
    procs = {
        name: subprocess.Popen(
            [sys.executable, f"tuning/{name}.py", "--help"],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    }
    options = ("--n-trials", "--timeout", "--storage", "--study-name", "--n-jobs", "--data-dir")
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, (name, err)
        assert all(option in out for option in options), (name, out)
        assert f"tune_{name.split('_')[1]}.py" in out  # usage names the script


def test_script_errors_are_one_clear_line(capsys, tmp_path):
    code = main(
        ["--storage", "nonsense", "--n-trials", "1", "--demo-size", "50", "10"], model="ridge"
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "gbscore tune: error: storage 'nonsense' is neither a database URL" in err
    assert "Traceback" not in err


def test_unknown_model_is_a_usage_error(capsys):
    assert main(["--model", "xgboost"]) == 2
    assert "'xgboost' is not one of" in capsys.readouterr().err


def test_default_storage_is_an_sqlite_file_with_heartbeats(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    storage = make_storage()
    assert DEFAULT_STORAGE.startswith("sqlite:///")
    assert isinstance(storage, optuna.storages.RDBStorage)
    assert storage.get_heartbeat_interval() == 60
    optuna.create_study(storage=storage, study_name="s")
    assert (tmp_path / "gbscore-tuning.db").is_file()


def test_journal_storage_needs_no_server(tmp_path):
    storage = make_storage(f"journal:{tmp_path / 'j.log'}")
    assert isinstance(storage, optuna.storages.JournalStorage)
    study = optuna.create_study(storage=storage, study_name="j")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    again = optuna.load_study(study_name="j", storage=make_storage(str(tmp_path / "j.log")))
    assert len(again.trials) == 2


def test_unreachable_database_names_the_url_without_password():
    with pytest.raises(
        ConfigError,
        match=r"cannot open the study storage postgresql://postgres:\*\*\*@127\.0\.0\.1:1/test",
    ):
        make_storage("postgresql://postgres:secret@127.0.0.1:1/test")
    assert redact_url("postgresql://u:p@h/db") == "postgresql://u:***@h/db"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"heartbeat_interval": 0}, "heartbeat_interval must be >= 1"),
        ({"heartbeat_interval": 10, "grace_period": 5}, "grace_period=5 must exceed"),
    ],
)
def test_bad_heartbeat_settings(kwargs, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        make_storage(f"sqlite:///{tmp_path / 'x.db'}", **kwargs)
