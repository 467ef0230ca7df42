"""GPU check: gbscore's CUDA paths side by side with the CPU, in one run on one machine.

On competition-format data with ``test_labels.csv`` (judgebench-dev) it measures:

(a) the library versions, and the device each library's ``"auto"`` resolves to, with why;
(b) the sentence encoder (torch fp32) on the GPU against the CPU on the same ``--cpu-texts``
    distinct texts: texts/s on each, and agreement of the GPU vectors with the CPU ones
    (mean, 1st-percentile and minimum cosine); then the GPU's texts/s on all distinct texts;
(c) the models on their GPU paths against the CPU, each fitted on the same featurized
    matrix (the pipeline's steps before the model, fitted once per distinct set of steps:
    the boosters share one, the MLP has its own): LightGBM (its GPU
    device, OpenCL), CatBoost (``task_type="GPU"``) and the MLP (torch on CUDA): seconds to
    fit and predict, and test RMSE overall and per ``kind``;
(d) with ``--finetune``: ``finetune_encoder`` at full size on the GPU (every train row scored
    >= 8 is a pair, one epoch), its seconds and loss, and the test RMSE of the LightGBM
    pipeline on the fine-tuned encoder against the packaged one.

A path that cannot run here (LightGBM without an OpenCL driver, say) is reported with the
reason and the rest goes on. ``--gpu cpu`` runs every step on the CPU only, to check the
script on a machine without a GPU. The last printed line is one JSON object with the figures.

Usage::

    PYTHONPATH=. python benchmarks/bench_gpu.py --data-dir ../shared/data/judgebench-dev \\
        [--cache-dir DIR] [--cpu-texts 1000] [--models lightgbm,catboost,mlp] [--finetune]
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import joblib
import numpy as np
from sklearn.base import clone

from gbscore import resolve_device
from gbscore.config import build_pipeline
from gbscore.data import load_competition, load_test_labels
from gbscore.exceptions import GbscoreError
from gbscore.features import SentenceTransformerEncoder
from gbscore.features._contrastive_towers import unit_rows
from gbscore.model_selection import rmse
from gbscore.pipeline import fit_prefix, transform_prefix

TEXT_COLUMNS = ["system_prompt", "user_prompt", "response"]
GPU_MODELS = ("lightgbm", "catboost", "mlp")  # the models with a GPU path
PACKAGES = ("torch", "sentence-transformers", "transformers", "lightgbm", "catboost",
            "scikit-learn", "numpy")  # fmt: skip


def _environment(gpu):
    env = {"versions": {}, "auto": {}}
    for name in PACKAGES:
        try:
            env["versions"][name] = version(name)
        except Exception as exc:  # not installed: say so, the check goes on
            env["versions"][name] = f"missing ({type(exc).__name__})"
    import torch

    if torch.cuda.is_available():
        env["gpu_name"] = torch.cuda.get_device_name(0)
    for library in ("torch", "lightgbm", "catboost"):
        try:
            env["auto"][library] = resolve_device("auto", library=library)
            resolve_device(gpu, library=library)
        except GbscoreError as exc:
            env["auto"][library] = f"{env['auto'].get(library, '?')} ({exc})"
    return env


def _encode_timed(encoder, texts):
    encoder.encode(texts[:16])  # model load and first-call overheads, not timed
    start = time.perf_counter()
    vectors = encoder.encode(texts)
    return vectors, time.perf_counter() - start


def compare_encoder(texts, gpu, n_cpu, seed):
    """(b): the same texts on both devices, then all texts on the GPU."""
    rng = np.random.default_rng(seed)
    sample = [texts[i] for i in rng.choice(len(texts), min(n_cpu, len(texts)), replace=False)]
    cpu = SentenceTransformerEncoder(device="cpu", backend="torch", show_progress=False)
    on_gpu = clone(cpu).set_params(device=gpu)
    cpu_vectors, cpu_s = _encode_timed(cpu, sample)
    gpu_vectors, gpu_s = _encode_timed(on_gpu, sample)
    cosines = np.sum(unit_rows(cpu_vectors, np.float64) * unit_rows(gpu_vectors, np.float64), 1)
    _, all_s = _encode_timed(on_gpu, texts)
    return {
        "sample_texts": len(sample),
        "cpu_texts_per_s": len(sample) / cpu_s,
        "gpu_texts_per_s": len(sample) / gpu_s,
        "speedup": cpu_s / gpu_s,
        "cosine_mean": float(cosines.mean()),
        "cosine_p1": float(np.percentile(cosines, 1)),
        "cosine_min": float(cosines.min()),
        "all_texts": len(texts),
        "gpu_all_seconds": all_s,
        "gpu_all_texts_per_s": len(texts) / all_s,
    }


def _test_rmse(labels, pred):
    truth = labels["score"].to_numpy()
    out = {"all": rmse(truth, pred)}
    if "kind" in labels.columns:
        for kind, idx in labels.groupby("kind").indices.items():
            out[kind] = rmse(truth[idx], pred[idx])
    return out


def compare_models(data, labels, emb, models, gpu, cache_dir):
    """(c): every model on the CPU and on ``gpu``, on one featurized matrix."""
    X, y = data.train.drop(columns="score"), data.train["score"].to_numpy()
    encoder = {"kind": "sentence-transformers", "device": gpu}
    rows, featurized = {}, {}
    for kind in models:
        pipe = build_pipeline(
            {"model": kind, "encoder": encoder},
            metric_embeddings=emb,
            cache_dir=cache_dir,
            show_progress=False,
        )
        # The boosters share the steps before the model; the MLP's interaction step passes
        # the raw embedding columns through, so it gets its own matrix.
        prefix = joblib.hash([clone(step) for _, step in pipe.steps[:-1]])
        if prefix not in featurized:
            start = time.perf_counter()
            Xt, yt, weight = fit_prefix(pipe, X, y)
            X_test = transform_prefix(pipe, data.test)
            featurized[prefix] = (Xt, yt, weight, X_test)
            rows[f"(featurize for {kind})"] = {"seconds": time.perf_counter() - start}
        Xt, yt, weight, X_test = featurized[prefix]
        model = pipe.steps[-1][1]
        for device in dict.fromkeys(["cpu", gpu]):
            name = f"{kind} on {device}"
            try:
                start = time.perf_counter()
                fitted = clone(model).set_params(device=device).fit(Xt, yt, sample_weight=weight)
                pred = fitted.predict(X_test)
                rows[name] = {
                    "seconds": time.perf_counter() - start,
                    "device_": fitted.device_,
                    "test_rmse": _test_rmse(labels, pred),
                }
            except Exception as exc:  # a path that cannot run here is a finding, not a stop
                rows[name] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"  {name:22s} {_row_text(rows[name])}", flush=True)
    return rows


def finetune(data, labels, emb, gpu, cache_dir, base_rmse):
    """(d): fine-tune the packaged encoder on all train pairs, then LightGBM on it."""
    from gbscore.finetune import INFO_FILE, finetune_encoder

    out_dir = Path(tempfile.mkdtemp(prefix="gbscore-finetuned-"))
    start = time.perf_counter()
    finetune_encoder(data.train, out_dir=out_dir, device=gpu, show_progress=False)
    seconds = time.perf_counter() - start
    info = json.loads((out_dir / INFO_FILE).read_text(encoding="utf-8"))
    X, y = data.train.drop(columns="score"), data.train["score"].to_numpy()
    start = time.perf_counter()
    pipe = build_pipeline(
        {
            "model": "lightgbm",
            "encoder": {"kind": "sentence-transformers", "model": str(out_dir), "device": gpu},
        },
        metric_embeddings=emb,
        cache_dir=cache_dir,
        show_progress=False,
    )
    pred = pipe.fit(X, y).predict(data.test)
    return {
        "finetune_seconds": seconds,
        "pairs": info["pairs"],
        "steps": info["global_step"],
        "loss": [info["first_loss"], info["last_loss"]],
        "lightgbm_pipeline_seconds": time.perf_counter() - start,
        "test_rmse_finetuned": _test_rmse(labels, pred),
        "test_rmse_packaged": base_rmse,
    }


def _row_text(row):
    if "error" in row:
        return f"not run: {row['error']}"
    rm = row["test_rmse"]
    kinds = " ".join(f"{k} {v:.3f}" for k, v in rm.items() if k != "all")
    return f"{row['seconds']:7.1f} s  on {row['device_']:5s}  test RMSE {rm['all']:.3f}  ({kinds})"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", required=True, type=Path)
    ap.add_argument("--cache-dir", type=Path, default=None, help="embedding cache [temporary]")
    ap.add_argument("--gpu", default="cuda", help="the device to compare with the CPU")
    ap.add_argument("--cpu-texts", type=int, default=1000, help="texts encoded on both devices")
    ap.add_argument("--models", default="lightgbm,catboost,mlp")
    ap.add_argument("--finetune", action="store_true", help="also (d), fine-tuning at full size")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    if not models or set(models) - set(GPU_MODELS):
        ap.error(
            f"--models: a comma-separated list of {', '.join(GPU_MODELS)}; got {args.models!r}"
        )
    try:
        resolve_device(args.gpu)  # before any work: the device must be there
    except GbscoreError as exc:
        ap.error(f"--gpu {args.gpu}: {exc}")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cache_dir = args.cache_dir or Path(tempfile.mkdtemp(prefix="gbscore-bench-gpu-"))

    out = {"environment": _environment(args.gpu)}
    print("(a) environment:", json.dumps(out["environment"], indent=1), flush=True)

    data = load_competition(args.data_dir)
    labels = load_test_labels(args.data_dir / "test_labels.csv")
    emb = data.metric_embedding_table()
    texts = list(
        dict.fromkeys(
            np.concatenate(
                [
                    data.train[TEXT_COLUMNS].to_numpy().ravel(),
                    data.test[TEXT_COLUMNS].to_numpy().ravel(),
                ]
            ).tolist()
        )
    )
    texts = [t for t in texts if isinstance(t, str) and t]

    out["encoder"] = compare_encoder(texts, args.gpu, args.cpu_texts, args.seed)
    e = out["encoder"]
    print(
        f"(b) encoder, {e['sample_texts']} texts: CPU {e['cpu_texts_per_s']:.1f}/s, {args.gpu} "
        f"{e['gpu_texts_per_s']:.1f}/s ({e['speedup']:.1f}x); cosine to CPU mean "
        f"{e['cosine_mean']:.6f}, p1 {e['cosine_p1']:.6f}, min {e['cosine_min']:.6f}; all "
        f"{e['all_texts']} texts on {args.gpu}: {e['gpu_all_seconds']:.1f} s "
        f"({e['gpu_all_texts_per_s']:.0f}/s)",
        flush=True,
    )

    print("(c) models, each on its pipeline's featurized matrix:", flush=True)
    out["models"] = compare_models(data, labels, emb, models, args.gpu, cache_dir)

    if args.finetune:
        base = out["models"].get("lightgbm on cpu", {}).get("test_rmse")
        try:
            out["finetune"] = finetune(data, labels, emb, args.gpu, cache_dir, base)
            f = out["finetune"]
            print(
                f"(d) finetune: {f['pairs']} pairs, {f['steps']} steps in "
                f"{f['finetune_seconds']:.1f} s, loss {f['loss'][0]} -> {f['loss'][1]}; "
                f"LightGBM test RMSE fine-tuned {f['test_rmse_finetuned']}, packaged {base}",
                flush=True,
            )
        except Exception as exc:  # report and finish: the other figures still stand
            out["finetune"] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"(d) finetune failed: {out['finetune']['error']}", flush=True)
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
