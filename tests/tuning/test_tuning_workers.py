"""Worker processes sharing a study: crash (SIGKILL) detection by heartbeat, retry, resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from gbscore.tuning import make_storage, tune

REPO_ROOT = Path(__file__).resolve().parents[2]
HEARTBEAT, GRACE = 1, 3


def _worker(config_path, storage, study_name, n_trials, cache_dir):
    """Start `gbscore tune` in its own process."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }
    cmd = [
        sys.executable, "-m", "gbscore.cli", "tune",
        "--model", "ridge", "--config", str(config_path), "--demo-size", "200", "60",
        "--storage", storage, "--study-name", study_name, "--n-trials", str(n_trials),
        "--pruning", "none", "--heartbeat-interval", str(HEARTBEAT),
        "--grace-period", str(GRACE), "--cache-dir", str(cache_dir), "--quiet",
    ]  # fmt: skip
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _study(storage, study_name):
    return optuna.load_study(study_name=study_name, storage=storage)


def _wait_for_running_trial(storage, study_name, proc, timeout=45):
    """Block until ``proc`` is cross-validating a trial of the study; return its number."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"worker exited early ({proc.returncode}): {proc.stdout.read()}")
        try:
            trials = _study(storage, study_name).get_trials(deepcopy=False)
        except KeyError:  # the study is not created yet
            trials = []
        for t in trials:
            mine = t.user_attrs.get("worker", "").endswith(f":{proc.pid}")
            # "config" is stored once every parameter is drawn: the trial is cross-validating.
            if t.state.name == "RUNNING" and mine and "config" in t.user_attrs:
                return t.number
        time.sleep(0.2)
    pytest.fail(f"worker {proc.pid} started no trial within {timeout}s")


def _kill(proc):
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL


def _check_killed_trial_failed_and_retried(study, killed):
    trials = study.get_trials(deepcopy=False)
    assert trials[killed].state.name == "FAIL"
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed]
    assert len(retries) == 1
    retry = retries[0]
    assert retry.state.name == "COMPLETE"
    assert retry.params == trials[killed].params  # the same parameters, run again
    return retry


@pytest.fixture
def config_path(tmp_path, fast):
    path = tmp_path / "fast.json"
    path.write_text(json.dumps(fast["ridge"]))
    return path


@pytest.mark.slow
def test_resume_after_a_killed_worker(config_path, sqlite_url, study_name, tmp_path, data):
    """The embedded default storage also has heartbeats: a worker killed mid-trial leaves a
    trial that the resumed run marks FAIL and re-runs, and the study ends at its cap."""
    worker = _worker(config_path, sqlite_url, study_name, 3, tmp_path / "cache")
    killed = _wait_for_running_trial(sqlite_url, study_name, worker)
    _kill(worker)
    time.sleep(GRACE + 0.5)  # the heartbeat goes stale
    config = json.loads(config_path.read_text())
    result = tune(
        "ridge",
        data=data,
        config=config,
        storage=sqlite_url,
        study_name=study_name,
        n_trials=3,
        pruning="none",
        heartbeat_interval=HEARTBEAT,
        grace_period=GRACE,
        show_progress=False,
    )
    study = result.study
    _check_killed_trial_failed_and_retried(study, killed)
    states = [t.state.name for t in study.get_trials()]
    assert states.count("COMPLETE") == 3 and states.count("FAIL") == 1
    assert [t.number for t in study.get_trials()] == list(range(len(states)))


@pytest.mark.slow
@pytest.mark.postgres
def test_two_workers_share_a_postgres_study_and_survive_a_kill(
    config_path, postgres_url, study_name, tmp_path, data
):
    """Two `gbscore tune` processes join one study; one is killed mid-trial; the other
    finishes the study, after failing the dead worker's trial and re-running it."""
    storage = make_storage(postgres_url, heartbeat_interval=HEARTBEAT, grace_period=GRACE)
    n_trials = 6
    cache = tmp_path / "cache"
    a = _worker(config_path, postgres_url, study_name, n_trials, cache)
    b = _worker(config_path, postgres_url, study_name, n_trials, cache)
    try:
        killed = _wait_for_running_trial(storage, study_name, a)
        _kill(a)
        out, _ = b.communicate(timeout=90)
        assert b.returncode == 0, out
        assert f"study {study_name}" in out

        study = _study(storage, study_name)
        retry = _check_killed_trial_failed_and_retried(study, killed)
        assert retry.user_attrs["worker"].endswith(f":{b.pid}")
        finished = [t for t in study.get_trials() if t.state.name in ("COMPLETE", "PRUNED")]
        assert n_trials <= len(finished) <= n_trials + 1  # a cap across workers
        workers = {t.user_attrs["worker"].rsplit(":", 1)[1] for t in study.get_trials()}
        assert {str(a.pid), str(b.pid)} <= workers

        # Resuming continues the same study where it stopped.
        n_before = len(study.get_trials())
        result = tune(
            "ridge",
            data=data,
            config=json.loads(config_path.read_text()),
            storage=postgres_url,
            study_name=study_name,
            n_trials=len(finished) + 1,
            pruning="none",
            show_progress=False,
        )
        assert result.n_run == 1
        assert [t.number for t in result.study.get_trials()] == list(range(n_before + 1))
    finally:
        for proc in (a, b):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        try:
            optuna.delete_study(study_name=study_name, storage=storage)
        except KeyError:
            pass
