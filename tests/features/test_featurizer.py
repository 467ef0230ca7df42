"""EmbeddingFeaturizer: dedup, caches, resume, unknown metrics, names, pickling."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.pipeline import FeatureUnion

from gbscore.exceptions import CacheWarning, DataError, UnknownMetricError
from gbscore.features import (
    BaseTextEncoder,
    CharTfidfEncoder,
    EmbeddingCache,
    EmbeddingFeaturizer,
    SentenceTransformerEncoder,
    clear_memory_cache,
    identity_hash,
    metric_name_to_text,
    text_hash,
)

TEXT_COLUMNS = ["system_prompt", "user_prompt", "response"]
HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))


class FakeEncoder(BaseTextEncoder):
    """Deterministic hash-based vectors; records what it encodes; can fail on purpose.

    ``fail_after`` and ``delay`` (seconds per call, to stand for a slow model) are left out
    of the identity on purpose: a failing run and its rerun share cache entries, as a
    crashed and a restarted real run do.
    """

    def __init__(self, *, dim=8, fail_after=None, tag="fake", delay=0.0):
        self.dim = dim
        self.fail_after = fail_after
        self.tag = tag
        self.delay = delay

    def encode(self, texts, *, show_progress=None):
        time.sleep(self.delay)
        self.calls_ = getattr(self, "calls_", 0) + 1
        if self.fail_after is not None and self.calls_ > self.fail_after:
            raise RuntimeError(f"FakeEncoder: simulated crash in call {self.calls_}")
        self.encoded_ = [*getattr(self, "encoded_", []), *texts]
        rows = []
        for text in texts:
            digest = hashlib.sha256((self.tag + text).encode()).digest()
            raw = np.frombuffer(digest[: self.dim], dtype=np.uint8).astype(np.float32) - 127.5
            rows.append(raw / np.linalg.norm(raw))
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dim)

    def identity(self):
        return {"encoder": "FakeEncoder", "dim": self.dim, "tag": self.tag}


@pytest.fixture(autouse=True)
def _fresh_memo():
    clear_memory_cache()
    yield
    clear_memory_cache()


def _table(n=6):
    metrics = ["fluency", "toxicity/hate_speech", "privacy_leakage/prompt_based_pii_leakage"]
    return pd.DataFrame(
        {
            "metric_name": [metrics[i % 3] for i in range(n)],
            "system_prompt": ["" if i % 2 else "Be helpful." for i in range(n)],
            "user_prompt": [f"question {i % 4}" for i in range(n)],
            "response": [f"answer {i}" for i in range(n)],
        },
        index=pd.RangeIndex(100, 100 + n),
    )


def _given(table, dim=5):
    names = sorted(set(table["metric_name"]))
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.normal(size=(len(names), dim)), index=names)


def test_metric_name_to_text():
    assert (
        metric_name_to_text("privacy_leakage/prompt_based_pii_leakage")
        == "privacy leakage: prompt based pii leakage"
    )
    assert metric_name_to_text("fluency") == "fluency"
    assert metric_name_to_text("a__b/") == "a b"


def test_blocks_and_feature_names():
    table = _table()
    fz = EmbeddingFeaturizer(encoder=FakeEncoder(), metric_embeddings=_given(table))
    out = fz.fit_transform(table)
    names = fz.get_feature_names_out()
    assert out.dtype == np.float32 and out.shape == (6, 5 + 4 * 8) == (6, len(names))
    assert names[0] == "metric_given__0" and names[4] == "metric_given__4"
    assert names[5] == "metric_text__0" and names[13] == "system_prompt__0"
    assert names[-1] == "response__7"
    enc = fz.encoder_
    # Each block is the vector of the row's own string.
    row = 3
    block = lambda prefix: out[row, [i for i, n in enumerate(names) if n.startswith(prefix)]]  # noqa: E731
    np.testing.assert_allclose(block("response__"), enc.encode([table["response"].iloc[row]])[0])
    np.testing.assert_allclose(
        block("metric_text__"), enc.encode([metric_name_to_text(table["metric_name"].iloc[row])])[0]
    )
    np.testing.assert_allclose(
        block("metric_given__"), _given(table).loc[table["metric_name"].iloc[row]], rtol=1e-6
    )


def test_join_texts_and_no_metric_text():
    table = _table()
    fz = EmbeddingFeaturizer(encoder=FakeEncoder(), join_texts=True, encode_metric_names=False)
    out = fz.fit_transform(table)
    assert fz.get_feature_names_out().tolist() == [f"text__{i}" for i in range(8)]
    joined = "\n\n".join(v for v in table.loc[100, TEXT_COLUMNS] if v)
    np.testing.assert_allclose(out[0], fz.encoder_.encode([joined])[0])


def test_given_embeddings_as_tuple():
    table = _table()
    given = _given(table)
    fz = EmbeddingFeaturizer(encoder=FakeEncoder(), metric_embeddings=(list(given.index), given))
    fz.fit(table)
    assert fz.metric_names_.tolist() == list(given.index)
    assert fz.metric_given_.dtype == np.float32


def test_set_output_pandas_and_feature_union():
    table = _table()
    fz = EmbeddingFeaturizer(encoder=FakeEncoder()).set_output(transform="pandas")
    out = fz.fit_transform(table)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == fz.get_feature_names_out().tolist()
    assert out.index.equals(table.index)
    union = FeatureUnion([("emb", EmbeddingFeaturizer(encoder=FakeEncoder(tag="u")))])
    union.set_output(transform="pandas")
    assert union.fit_transform(table).columns[0] == "emb__metric_text__0"


def test_every_unique_string_is_encoded_once():
    rng = np.random.default_rng(0)
    pool = [f"string {i}" for i in range(10)]
    table = pd.DataFrame(
        {
            "metric_name": "fluency",
            **{c: rng.choice(pool, size=1000) for c in TEXT_COLUMNS},
        }
    )
    assert set(np.unique(table[TEXT_COLUMNS].to_numpy())) == set(pool)
    fz = EmbeddingFeaturizer(encoder=FakeEncoder()).fit(table)
    assert fz.encoder_.encoded_ == ["fluency"]  # fit encodes the metric vocabulary only
    out = fz.transform(table)
    assert sorted(fz.encoder_.encoded_[1:]) == pool
    assert out.shape == (1000, 4 * 8)
    fz.transform(table)
    assert len(fz.encoder_.encoded_) == 11  # second transform: all from memory


def test_clones_reuse_the_process_memo():
    table = _table()
    first = EmbeddingFeaturizer(encoder=FakeEncoder())
    a = first.fit_transform(table)
    second = clone(first)
    b = second.fit_transform(table)
    np.testing.assert_array_equal(a, b)
    assert getattr(second.encoder_, "encoded_", []) == []
    clear_memory_cache()
    third = clone(first)
    third.fit_transform(table)
    assert len(third.encoder_.encoded_) > 0


def test_disk_cache_miss_then_hit(tmp_path):
    table = _table(12)
    fz = EmbeddingFeaturizer(encoder=FakeEncoder(), cache_dir=tmp_path)
    cold = fz.fit_transform(table)
    n_unique = len(set(table[TEXT_COLUMNS].to_numpy().ravel())) + 3
    assert len(fz.encoder_.encoded_) == n_unique
    clear_memory_cache()  # a new process: nothing in memory, the same disk
    warm_fz = clone(fz)
    warm = warm_fz.fit_transform(table)
    np.testing.assert_array_equal(cold, warm)
    assert getattr(warm_fz.encoder_, "encoded_", []) == []
    shard_dir = tmp_path / identity_hash(FakeEncoder().identity()) / "shards"
    assert len(list(shard_dir.glob("*.npz"))) == 2  # metric names (fit) + texts (transform)


def test_corrupt_shard_is_recomputed(tmp_path, caplog):
    table = _table(12)
    fz = EmbeddingFeaturizer(encoder=FakeEncoder(), cache_dir=tmp_path, encode_batch_size=5)
    expected = fz.fit_transform(table)
    shards = sorted((tmp_path / identity_hash(FakeEncoder().identity()) / "shards").glob("*.npz"))
    victim = shards[-1]
    with np.load(victim) as npz:
        n_victim = len(npz["hashes"])
    victim.write_bytes(victim.read_bytes()[:100])
    clear_memory_cache()
    again = clone(fz)
    with caplog.at_level(logging.WARNING, logger="gbscore"):
        out = again.fit_transform(table)
    np.testing.assert_array_equal(out, expected)
    assert len(again.encoder_.encoded_) == n_victim
    assert any("recomputed" in r.getMessage() for r in caplog.records)


def test_interrupted_run_resumes_from_disk(tmp_path):
    table = _table(30)
    n_texts = len(set(table[TEXT_COLUMNS].to_numpy().ravel()))
    crashing = EmbeddingFeaturizer(
        encoder=FakeEncoder(fail_after=3), cache_dir=tmp_path, encode_batch_size=4
    )
    crashing.fit(table)  # call 1: the 3 metric names
    with pytest.raises(RuntimeError, match="simulated crash in call 4"):
        crashing.transform(table)  # calls 2 and 3 store 8 texts, call 4 crashes
    clear_memory_cache()
    rerun = EmbeddingFeaturizer(encoder=FakeEncoder(), cache_dir=tmp_path, encode_batch_size=4)
    out = rerun.fit_transform(table)
    assert getattr(rerun.encoder_, "encoded_", None) is not None
    assert len(rerun.encoder_.encoded_) == n_texts - 8
    clear_memory_cache()
    reference = EmbeddingFeaturizer(encoder=FakeEncoder()).fit_transform(table)
    np.testing.assert_array_equal(out, reference)


def test_unknown_metric_error_names_metric_rows_and_option():
    table = _table()
    fz = EmbeddingFeaturizer(encoder=FakeEncoder()).fit(table)
    new = table.copy()
    new.iloc[[1, 4], 0] = "brand_new/metric"
    with pytest.raises(UnknownMetricError) as info:
        fz.transform(new)
    message = str(info.value)
    assert "'brand_new/metric'" in message and "[1, 4]" in message
    assert "unknown_metric='encode'" in message


def test_unknown_metric_in_fit_against_given_embeddings():
    table = _table()
    given = _given(table).iloc[:2]
    with pytest.raises(UnknownMetricError, match="absent from metric_embeddings"):
        EmbeddingFeaturizer(encoder=FakeEncoder(), metric_embeddings=given).fit(table)


def test_unknown_metric_encode_warns_and_uses_nearest_given():
    table = _table()
    given = _given(table)
    fz = EmbeddingFeaturizer(
        encoder=CharTfidfEncoder(n_components=6),
        metric_embeddings=given,
        unknown_metric="encode",
    ).fit(table)
    new = table.copy()
    new.iloc[2, 0] = "toxicity/hate_speeches"
    with pytest.warns(UserWarning, match="most similar known metric") as record:
        out = fz.transform(new)
    assert "'toxicity/hate_speeches' -> 'toxicity/hate_speech'" in str(record[0].message)
    names = fz.get_feature_names_out()
    given_cols = [i for i, n in enumerate(names) if n.startswith("metric_given__")]
    np.testing.assert_allclose(out[2, given_cols], given.loc["toxicity/hate_speech"], rtol=1e-6)
    text_cols = [i for i, n in enumerate(names) if n.startswith("metric_text__")]
    np.testing.assert_allclose(
        out[2, text_cols], fz.encoder_.encode(["toxicity: hate speeches"])[0], rtol=1e-6
    )
    # Known rows are untouched by the unknown one.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(fz.transform(table)[0], out[0])


def test_empty_and_missing_texts():
    table = _table()
    table["response"] = ""
    table.loc[101, "user_prompt"] = None
    fz = EmbeddingFeaturizer(encoder=FakeEncoder())
    out = fz.fit_transform(table)
    assert np.isfinite(out).all()
    names = fz.get_feature_names_out()
    user = [i for i, n in enumerate(names) if n.startswith("user_prompt__")]
    np.testing.assert_array_equal(out[1, user], fz.encoder_.encode([""])[0])


def test_char_tfidf_featurizer_on_indic_text():
    table = pd.DataFrame(
        {
            "metric_name": ["fluency", "fluency", "relevance"],
            "system_prompt": ["", "", ""],
            "user_prompt": ["खाद के बारे में बताइए", "உரம் பற்றி சொல்லுங்கள்", "मौसम कैसा है"],
            "response": ["यूरिया एक खाद है", "யூரியா ஒரு உரம்", ""],
        }
    )
    fz = EmbeddingFeaturizer(encoder=CharTfidfEncoder(n_components=4))
    out = fz.fit_transform(table)
    assert out.shape == (3, 4 * 4) and np.isfinite(out).all()
    assert fz.encoder_.vectorizer_ is not None
    assert fz.encoder is not fz.encoder_ and not hasattr(fz.encoder, "vectorizer_")


def test_clone_set_params_and_get_params():
    fz = EmbeddingFeaturizer(encoder=FakeEncoder(dim=4), cache_dir="somewhere")
    params = fz.get_params()
    assert params["encoder__dim"] == 4 and params["cache_dir"] == "somewhere"
    fz.set_params(encoder__dim=6, unknown_metric="encode")
    twin = clone(fz)
    assert twin.get_params()["encoder__dim"] == 6 and twin.unknown_metric == "encode"
    assert not hasattr(twin, "encoder_")
    fz.set_params(cache_dir=None).fit(_table())
    assert fz.embedding_dim_ == 6


def test_pickle_roundtrip_small_and_identical():
    table = _table()
    fz = EmbeddingFeaturizer(encoder=FakeEncoder(), metric_embeddings=_given(table))
    expected = fz.fit_transform(table)
    blob = pickle.dumps(fz)
    clear_memory_cache()
    again = pickle.loads(blob)
    np.testing.assert_array_equal(again.transform(table), expected)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"unknown_metric": "ignore"}, "'unknown_metric' parameter"),
        ({"encode_batch_size": 0}, "'encode_batch_size' parameter"),
        ({"text_columns": ()}, "'text_columns' parameter.*non-empty"),
        ({"text_columns": ("response", "response")}, "lists \\['response'\\] more than once"),
        ({"encoder": object()}, "'encoder' parameter"),
        ({"metric_embeddings": (["a", "b"], np.zeros((3, 2)))}, "2 name\\(s\\) and an array"),
        ({"metric_embeddings": (["a", "a"], np.zeros((2, 2)))}, "more than once: \\['a'\\]"),
    ],
)
def test_invalid_params_fail_at_fit_naming_them(params, match):
    fz = EmbeddingFeaturizer(**{"encoder": FakeEncoder(), **params})
    with pytest.raises(ValueError, match=match):
        fz.fit(_table())


def test_bad_tables_are_reported():
    fz = EmbeddingFeaturizer(encoder=FakeEncoder())
    with pytest.raises(DataError, match="pandas DataFrame"):
        fz.fit(np.zeros((2, 4)))
    with pytest.raises(DataError, match="no column\\(s\\) \\['response'\\]"):
        fz.fit(_table().drop(columns="response"))
    bad = _table().astype(object)
    bad.iloc[3, 3] = 12
    with pytest.raises(DataError, match="'response' must hold strings.*row position 3"):
        fz.fit(bad)
    nameless = _table().astype(object)
    nameless.iloc[0, 0] = None
    with pytest.raises(DataError, match="every row needs a metric name"):
        fz.fit(nameless)
    with pytest.raises(DataError, match="no rows"):
        fz.fit(_table().iloc[:0])


def test_not_fitted():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        EmbeddingFeaturizer(encoder=FakeEncoder()).transform(_table())


@pytest.mark.slow
def test_real_model_featurizer_pickles_without_weights(judgebench_dir):
    from gbscore.data import load_records

    table = load_records(judgebench_dir / "train_data.json").iloc[:40]
    fz = EmbeddingFeaturizer(encoder=SentenceTransformerEncoder(device="cpu"), show_progress=False)
    out = fz.fit_transform(table)
    assert out.shape == (40, 4 * 384) and np.isfinite(out).all()
    assert fz.encoder.backend == "auto" and fz.encoder_.backend in {"torch", "onnx", "openvino"}
    blob = pickle.dumps(fz)
    assert len(blob) < 1_000_000  # the metric-name vectors, not the 90 MB of weights
    clear_memory_cache(models=True)
    again = pickle.loads(blob)
    np.testing.assert_allclose(again.transform(table), out, atol=1e-6)


def test_fit_pins_the_encoders_auto_backend_and_precision():
    """The fitted encoder keeps the backend and precision "auto" resolved to at fit, so a
    saved model encodes its test texts the same way where other backends are installed."""
    import importlib.util

    from gbscore.exceptions import MissingDependencyError
    from gbscore.features._featurizer import pin_runtime

    enc = SentenceTransformerEncoder()
    resolved = enc.runtime()
    pinned = pin_runtime(clone(enc))
    assert enc.backend == "auto" and enc.precision == "auto"
    assert pinned.backend == resolved["backend"]
    assert pinned.precision == ("int8" if resolved["quantization"] else "fp32")
    assert pinned.runtime() == resolved
    assert pinned.identity() == enc.identity()  # the same cache entries
    if importlib.util.find_spec("onnxruntime") is None:
        # a model pinned to ONNX, loaded where ONNX Runtime is missing: one clear error
        with pytest.raises(MissingDependencyError, match=r"gbscore\[fast\]"):
            pinned.set_params(backend="onnx", precision="int8").runtime()
    char = CharTfidfEncoder()
    assert pin_runtime(char).get_params() == CharTfidfEncoder().get_params()


def test_refit_with_an_encoder_of_another_width():
    table = _table()
    fz = EmbeddingFeaturizer(encoder=FakeEncoder(dim=4)).fit(table)
    assert fz.embedding_dim_ == 4
    fz.set_params(encoder=FakeEncoder(dim=6)).fit(table)
    assert fz.embedding_dim_ == 6 and fz.transform(table).shape == (6, 4 * 6)


class _WidthChangingEncoder(FakeEncoder):
    def encode(self, texts, *, show_progress=None):
        self.dim = 8 if getattr(self, "calls_", 0) == 0 else 5
        return super().encode(texts)


def test_encoder_that_changes_width_is_reported():
    fz = EmbeddingFeaturizer(encoder=_WidthChangingEncoder(), encode_batch_size=2)
    with pytest.raises(ValueError, match="returned 5 dimensions; it returned 8 before"):
        fz.fit(_table())  # 3 metric names: 2 batches of different widths


# --------------------------------------------------------------------------------------
# faults: killed runs, read-only and full cache folders (each in a child process)
# --------------------------------------------------------------------------------------

_CHILD = """
import json, sys, warnings
sys.path.insert(0, {here!r})
from test_featurizer import FakeEncoder, _table
from gbscore.features import EmbeddingFeaturizer

table = _table({n})
fz = EmbeddingFeaturizer(
    encoder=FakeEncoder(delay={delay}), cache_dir={cache!r}, encode_batch_size=2,
    show_progress=False,
)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    out = fz.fit_transform(table)
print(json.dumps({{
    "encoded": getattr(fz.encoder_, "encoded_", []),
    "warnings": [[w.category.__name__, str(w.message)] for w in caught],
    "out": out.tolist(),
}}))
"""


def _child(cache, *, n=30, delay=0.0):
    return _CHILD.format(here=HERE, n=n, delay=delay, cache=str(cache))


def _env():
    return {**os.environ, "PYTHONPATH": REPO_ROOT}


def _texts(table):
    names = [metric_name_to_text(m) for m in table["metric_name"].unique()]
    return set(table[TEXT_COLUMNS].fillna("").to_numpy().ravel()) | set(names)


def _stored(cache_dir, texts):
    found, _ = EmbeddingCache(cache_dir).get_many(
        FakeEncoder().identity(), [text_hash(t) for t in texts]
    )
    return {t for t in texts if text_hash(t) in found}


@pytest.mark.slow
def test_killed_run_resumes_without_encoding_a_finished_text_twice(tmp_path):
    table = _table(30)
    texts = _texts(table)
    shard_dir = tmp_path / identity_hash(FakeEncoder().identity()) / "shards"
    proc = subprocess.Popen(
        [sys.executable, "-c", _child(tmp_path, delay=0.3)],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if shard_dir.is_dir() and len(list(shard_dir.glob("*.npz"))) >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed mid-encoding"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stored = _stored(tmp_path, texts)
    assert 0 < len(stored) < len(texts)

    rerun = EmbeddingFeaturizer(encoder=FakeEncoder(), cache_dir=tmp_path, encode_batch_size=2)
    out = rerun.fit_transform(table)
    encoded = getattr(rerun.encoder_, "encoded_", [])
    assert not set(encoded) & stored
    assert sorted(encoded) == sorted(texts - stored)
    clear_memory_cache()
    np.testing.assert_array_equal(
        out, EmbeddingFeaturizer(encoder=FakeEncoder()).fit_transform(table)
    )


def _can_unshare():
    try:
        return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0
    except OSError:
        return False


def _run_child(command, **kwargs):
    proc = subprocess.run(command, env=_env(), capture_output=True, text=True, **kwargs)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _check_went_on_without_cache(result, table, folder, verb):
    warned = [m for category, m in result["warnings"] if category == CacheWarning.__name__]
    assert len(warned) == 1, result["warnings"]
    assert f"{str(folder)!r} cannot be {verb}" in warned[0]
    assert "--cache-dir or the GBSCORE_CACHE_DIR" in warned[0]
    clear_memory_cache()
    expected = EmbeddingFeaturizer(encoder=FakeEncoder()).fit_transform(table)
    np.testing.assert_array_equal(np.asarray(result["out"], dtype=np.float32), expected)


@pytest.mark.slow
def test_read_only_cache_folder_warns_once_and_the_run_goes_on(tmp_path):
    folder = tmp_path / "cache"
    table = _table(30)
    # The folder already holds part of the texts: those are still read, not encoded.
    EmbeddingFeaturizer(encoder=FakeEncoder(), cache_dir=folder).fit_transform(table.iloc[:10])
    clear_memory_cache()
    stored = _stored(folder, _texts(table))
    command = [sys.executable, "-c", _child(folder)]
    if os.geteuid() != 0:
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            result = _run_child(command)
        finally:
            for path in [folder, *folder.rglob("*")]:
                path.chmod(0o755 if path.is_dir() else 0o644)
    elif _can_unshare():
        # root ignores permission bits: mount the folder read-only in a private namespace.
        script = 'mount --bind -o ro "$0" "$0" && exec "$@"'
        result = _run_child(["unshare", "-m", "sh", "-c", script, str(folder), *command])
    else:
        pytest.skip("running as root without mount namespaces: no way to make a read-only folder")
    assert sorted(result["encoded"]) == sorted(_texts(table) - stored)
    _check_went_on_without_cache(result, table, folder, "written")


def _limit_file_size():
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (1024, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


@pytest.mark.slow
def test_full_cache_folder_warns_once_and_the_run_goes_on(tmp_path):
    folder = tmp_path / "cache"
    folder.mkdir()
    table = _table(30)
    command = [sys.executable, "-c", _child(folder)]
    if _can_unshare():
        # A 64 KiB file system, filled up before the run starts: writes fail with ENOSPC.
        script = (
            'mount -t tmpfs -o size=64k tmpfs "$0" && '
            '{ cat /dev/zero > "$0/filler" 2>/dev/null; exec "$@"; }'
        )
        result = _run_child(["unshare", "-m", "sh", "-c", script, str(folder), *command])
    else:
        # The kernel's file-size limit fails writes past 1 KiB (EFBIG) as a full disk would.
        result = _run_child(command, preexec_fn=_limit_file_size)
    assert sorted(result["encoded"]) == sorted(_texts(table))
    _check_went_on_without_cache(result, table, folder, "written")
