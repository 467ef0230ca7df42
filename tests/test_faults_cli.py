"""Faults survived by whole ``gbscore run`` processes (issue #11, "faults survived"):

- two runs sharing one embedding cache directory both finish, with identical results;
- a run killed (SIGKILL) during the stacking folds, started again, finishes cleanly.

Each run is a child process on the real packaged all-MiniLM-L6-v2 (texts cut to 48 tokens to
keep it quick) and a small stack, on a small demo table. Every child runs on one thread, so
two of them fit the two cores CI has. The yardstick is one uninterrupted run with a cache of
its own.
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gbscore._io import is_temporary_name
from gbscore.cli import main
from gbscore.model_selection import OOFPredictions

pytestmark = pytest.mark.slow

REPO_ROOT = str(Path(__file__).resolve().parents[1])
N_TRAIN, N_TEST = 80, 40
SEED = 3
CONFIG = {
    "encoder": {
        "kind": "sentence-transformers",
        "device": "cpu",
        "max_seq_length": 48,
        "truncate": True,
    },
    "params": {"interact__n_components": 4, "interact__bilinear_rank": 2},
    "cv": {"n_splits": 3},
    "stack": {
        "models": {
            "lightgbm": {"params": {"model__n_estimators": 40, "model__n_jobs": 1}},
            "catboost": {"params": {"model__iterations": 40, "model__thread_count": 1}},
            "ridge": {},
        }
    },
}
# How long a child may take before it is taken for hung (a guard, not a measurement).
HUNG_AFTER_S = 420
# The "CV folds" progress bar of the fold loop after its first task (of n_splits + 1:
# the folds, then the refit on all rows): a later fold is being fitted now.
FOLDS_STARTED = re.compile(r"CV folds:[^\r\n]*\| 0/\d+ \[")
FIRST_FOLD_DONE = re.compile(r"CV folds:[^\r\n]*\| 1/(\d+) \[")
FEATURIZER_LINE = re.compile(
    r"EmbeddingFeaturizer: (\d+) distinct strings: (\d+) from memory, (\d+) from disk cache, "
    r"(\d+) encoded"
)


def _env():
    return {
        **os.environ,
        "PYTHONPATH": REPO_ROOT,
        "HF_HUB_OFFLINE": "1",
        "GBSCORE_ENCODER_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
    }


class _Child:
    """A ``gbscore`` child process whose stdout and stderr are collected as they come.

    It runs in a session of its own, so :meth:`kill` ends it and anything it started.
    """

    def __init__(self, args):
        self.args = [str(a) for a in args]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gbscore.cli", *self.args],
            env=_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self._chunks = {"out": [], "err": []}
        self._lock = threading.Lock()
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, "out"), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, "err"), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream, key):
        while chunk := stream.read1(65536):
            with self._lock:
                self._chunks[key].append(chunk)

    def _text(self, key):
        with self._lock:
            return b"".join(self._chunks[key]).decode("utf-8", errors="replace")

    @property
    def out(self):
        return self._text("out")

    @property
    def err(self):
        return self._text("err")

    def running(self):
        return self.proc.poll() is None

    def wait_for(self, pattern, timeout=HUNG_AFTER_S):
        """The first match of ``pattern`` in stderr; fails if the child ends or hangs first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = pattern.search(self.err)
            if found or not self.running():
                break
            time.sleep(0.05)
        found = pattern.search(self.err)
        assert found, (
            f"no {pattern.pattern!r} in the stderr of `gbscore {' '.join(self.args)}` "
            f"(exit code {self.proc.poll()}):\n{self.err[-3000:]}"
        )
        return found

    def kill(self):
        if self.running():
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        for reader in self._readers:
            reader.join(timeout=10)

    def finish(self, timeout=HUNG_AFTER_S):
        """Wait for the child; asserts it exits 0 without a traceback."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"`gbscore {' '.join(self.args)}` still running after {timeout} s")
        for reader in self._readers:
            reader.join(timeout=10)
        err = self.err
        assert self.proc.returncode == 0, err[-3000:]
        assert "Traceback" not in err, err[-3000:]
        return self


@pytest.fixture(scope="module")
def children():
    """Start ``gbscore`` children with ``children(args)``; any still running are killed."""
    started = []

    def start(args):
        started.append(_Child(args))
        return started[-1]

    try:
        yield start
    finally:
        for child in started:
            child.kill()


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults-cli")
    data = root / "data"
    main(["demo", "--out-dir", str(data), "--n-train", str(N_TRAIN), "--n-test", str(N_TEST)])
    config = root / "config.json"
    config.write_text(json.dumps(CONFIG), encoding="utf-8")
    return root, data, config


def _run_args(work, out_dir, cache_dir):
    _, data, config = work
    return [
        "run", "--data-dir", data, "--config", config, "--seed", SEED, "--n-jobs", 1,
        "--report-dir", out_dir, "--out", out_dir / "submission.csv", "--cache-dir", cache_dir,
    ]  # fmt: skip


def _featurizer_counts(err):
    """``(distinct, from memory, from disk cache, encoded)`` per featurizer log line."""
    return [tuple(int(v) for v in m.groups()) for m in FEATURIZER_LINE.finditer(err)]


def _check_cache_was_sound(err):
    assert "Embedding cache shard" not in err, err[-3000:]  # a corrupt shard thrown away
    assert "The embedding cache" not in err, err[-3000:]  # an unreadable or full cache


@pytest.fixture(scope="module")
def reference(work, children):
    """The output folder of one uninterrupted run with a fresh cache of its own."""
    root = work[0]
    out = root / "reference"
    run = children(_run_args(work, out, root / "reference-cache")).finish()
    _check_cache_was_sound(run.err)
    return out


def _check_submission(path, data):
    """The submission at ``path``: one finite score in [0, 10] per test row, in order."""
    n_test = len(json.loads((data / "test_data.json").read_text(encoding="utf-8")))
    assert path.read_text(encoding="utf-8").splitlines()[0] == "ID,score"
    sub = pd.read_csv(path)
    assert list(sub.columns) == ["ID", "score"]
    np.testing.assert_array_equal(sub["ID"], np.arange(1, n_test + 1))
    np.testing.assert_array_equal(sub["ID"], pd.read_csv(data / "test_labels.csv")["ID"])
    assert np.isfinite(sub["score"]).all() and sub["score"].between(0, 10).all()
    return sub


def test_two_runs_sharing_one_cache_finish_with_identical_results(work, reference, children):
    root, data, _ = work
    cache = root / "shared-cache"
    outs = [root / "shared-a", root / "shared-b"]
    runs = [children(_run_args(work, out, cache)) for out in outs]
    # Each starts its folds, where it encodes the texts into the cache, while the other is
    # still running (both are far from done then): the two write and read one cache at once.
    for run in runs:
        run.wait_for(FOLDS_STARTED)
        assert all(r.running() for r in runs)
    for run in runs:
        run.finish()
        _check_cache_was_sound(run.err)
    # Byte-equal, not close: every run encodes the same sets of texts in the same batches
    # (each set under the featurizer's encode_batch_size, so one shard each), whichever
    # process wrote a shard. A text's fp32 vector does move by about 1e-7 with the other
    # texts of its batch (padding), so a cache filled from other data could change the
    # last digits; that is not what this test is about.
    expected = (reference / "submission.csv").read_bytes()
    for out in outs:
        _check_submission(out / "submission.csv", data)
        assert (out / "submission.csv").read_bytes() == expected, out
        assert not [p.name for p in out.rglob("*") if is_temporary_name(p.name)]

    # The cache they shared is readable, holds one encoder's vectors, and is complete: a
    # third run reads every text from it, encodes none and gives the same submission.
    info = children(["cache", "info", "--cache-dir", cache]).finish()
    assert f"cache: {cache}" in info.out and "(does not exist)" not in info.out
    identities = [line for line in info.out.splitlines() if line.startswith("  ")]
    assert len(identities) == 1 and "all-MiniLM-L6-v2" in identities[0], info.out
    assert int(identities[0].split()[1]) > 0, info.out
    warm = children(_run_args(work, root / "shared-warm", cache)).finish()
    _check_cache_was_sound(warm.err)
    counts = _featurizer_counts(warm.err)
    assert counts and all(encoded == 0 for *_, encoded in counts), warm.err[-3000:]
    assert sum(disk for _, _, disk, _ in counts) > 0
    assert (root / "shared-warm" / "submission.csv").read_bytes() == expected


def test_run_killed_during_stacking_folds_restarts_cleanly(work, reference, children):
    root, data, _ = work
    out, cache = root / "killed", root / "killed-cache"
    args = _run_args(work, out, cache)

    killed = children(args)
    tasks = int(killed.wait_for(FIRST_FOLD_DONE).group(1))
    assert tasks == CONFIG["cv"]["n_splits"] + 1  # the folds and the refit
    assert killed.running(), "the run ended before it could be killed during the folds"
    killed.kill()
    assert killed.proc.returncode == -signal.SIGKILL
    assert not (out / "submission.csv").exists() and not (out / "model.joblib").exists()

    rerun = children(args).finish()
    _check_cache_was_sound(rerun.err)
    # What the killed run encoded is read back, not encoded again.
    assert sum(disk for _, _, disk, _ in _featurizer_counts(rerun.err)) > 0
    _check_submission(out / "submission.csv", data)
    assert (out / "submission.csv").read_bytes() == (reference / "submission.csv").read_bytes()
    oof, expected = OOFPredictions.load(out / "oof.npz"), OOFPredictions.load(reference / "oof.npz")
    assert (oof.fold[~oof.is_shifted] >= 0).all()  # every real row held out by a fold
    pd.testing.assert_frame_equal(oof.preds, expected.preds)
    np.testing.assert_array_equal(oof.fold, expected.fold)
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["cv"]["model"] == "stack"
    stale = [str(p) for p in out.rglob("*") if is_temporary_name(p.name)]
    assert not stale, stale
