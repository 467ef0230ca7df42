"""Benchmark the embedding featurizer on competition-format data (e.g. judgebench-dev).

It builds the table the default pipeline featurizes -- the train rows plus their
metric-swapped negatives (``gbscore.augment.NegativeSampler``), then the test rows -- and
measures:

(a) cold: an empty disk cache and an empty memo, versus the naive baseline of calling
    ``SentenceTransformer.encode`` on every row's text values as they appear (timed on a
    random sample of rows and extrapolated per row, since all rows take too long);
(b) warm: the memo and the loaded model dropped (a new process, in effect), the disk
    cache kept;
(c) peak resident memory, and the character TF-IDF encoder's throughput;
(d) with ``--backends``: the inference backends of ``SentenceTransformerEncoder`` side by
    side on the same distinct texts (``--limit-texts N`` of them, drawn at random), each
    in a fresh process: texts/s, tokens/s, process CPU seconds, peak RSS, agreement with
    torch fp32 (mean, 1st percentile and minimum cosine), and tokens/s against this CPU's
    limit: model FLOPs per token x tokens/s / peak matmul FLOP/s measured in the same run
    (a large fp32 torch matmul on the encoder's threads);
(e) with ``--max-chunks``: the cap on windows per text, on ``--chunk-texts`` long texts:
    windows and tokens encoded, time, and cosine to the uncapped vectors; and on all
    distinct texts, the windows each cap would leave.

It prints tables, then as its last line one JSON object with the figures.

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/bench_featurize.py \
        --data-dir ../shared/data/judgebench-dev [--cache-dir DIR] [--naive-sample 300] \
        [--neg-ratio K] [--backend auto]

    # backends and the chunk cap only, on a slice of 300 distinct texts:
    PYTHONPATH=. python benchmarks/bench_featurize.py --data-dir ../shared/data/judgebench-dev \
        --skip-featurize --backends torch,onnx-fp32,onnx-int8 --limit-texts 300 \
        --max-chunks 1,2,4,8 --chunk-texts 30
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone

from gbscore.data import load_competition
from gbscore.features import (
    CharTfidfEncoder,
    EmbeddingCache,
    EmbeddingFeaturizer,
    SentenceTransformerEncoder,
    clear_memory_cache,
    encoder_threads,
    memory_cache_info,
)

TEXT_COLUMNS = ["system_prompt", "user_prompt", "response"]
TABLE_COLUMNS = ["metric_name", *TEXT_COLUMNS]


def _peak_rss_mb():
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def _timed(fn):
    """Return ``(fn(), {"wall": seconds, "cpu": process CPU seconds})``."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}


def _augmented_train(train, neg_ratio, metric_table):
    from gbscore.augment import NegativeSampler

    if neg_ratio is None:
        sampler = NegativeSampler(random_state=0, metric_embeddings=metric_table)
        how = "NegativeSampler(random_state=0) defaults, as in the default pipeline"
    else:
        sampler = NegativeSampler(
            swap_random=neg_ratio,
            swap_near=0,
            swap_far=0,
            text_shuffle=0,
            response_mismatch=0,
            random_state=0,
            metric_embeddings=metric_table,
        )
        how = f"NegativeSampler(swap_random={neg_ratio}, other strategies 0, random_state=0)"
    X, _ = sampler.fit_resample(train[TABLE_COLUMNS], train["score"].to_numpy())
    return X.reset_index(drop=True), how


# -- (d) backends side by side -------------------------------------------------------------

#: ``--backends`` names -> SentenceTransformerEncoder parameters.
BACKENDS = {
    "torch": {"backend": "torch", "precision": "fp32"},
    "onnx-fp32": {"backend": "onnx", "precision": "fp32"},
    "onnx-int8": {"backend": "onnx", "precision": "int8"},
    "openvino": {"backend": "openvino", "precision": "fp32"},
    "auto": {"backend": "auto", "precision": "auto"},
}


def _encoder(params, args, **extra):
    return SentenceTransformerEncoder(
        model=args.model,
        device="cpu",
        batch_size=args.batch_size,
        batch_tokens=args.batch_tokens,
        export_dir=args.export_dir,
        show_progress=False,
        **params,
        **extra,
    )


def _window_tokens(encoder, texts):
    """Return (windows, tokens fed to the model incl. special tokens, mean window length)."""
    st_model = encoder._get_model()
    tokens = encoder._tokenize(st_model, texts)
    n_special = st_model.tokenizer.num_special_tokens_to_add(pair=False)
    lengths = tokens.stop - tokens.start + n_special
    return len(lengths), int(lengths.sum()), float(lengths.mean())


def _backend_worker(params, args, texts):
    """Encode ``texts`` in this (fresh) process; return the figures and the vectors."""
    encoder = _encoder(params, args)
    t0 = time.perf_counter()
    encoder._get_model()
    load_s = time.perf_counter() - t0
    encoder.encode(texts[:16])  # first-call overheads (allocations, kernel choice) not timed
    windows, tokens, _ = _window_tokens(encoder, texts)
    vectors, t = _timed(lambda: encoder.encode(texts))
    return {
        "runtime": encoder.runtime(),
        "load_s": load_s,
        "wall_s": t["wall"],
        "cpu_s": t["cpu"],
        "windows": windows,
        "tokens": tokens,
        "peak_rss_mb": _peak_rss_mb(),
        "threads": encoder_threads(),
    }, vectors


def _flops_per_token(encoder, mean_window):
    """Model FLOPs per token: 2 per weight of every linear layer, plus attention's two
    matmuls (2 x 2 x window x hidden per layer) at the mean window length."""
    import torch

    st_model = encoder._get_model()
    macs = sum(
        m.in_features * m.out_features for m in st_model.modules() if isinstance(m, torch.nn.Linear)
    )
    config = st_model[0].auto_model.config if hasattr(st_model[0], "auto_model") else None
    config = config or st_model[0].model.config
    attention = 2 * config.num_hidden_layers * mean_window * config.hidden_size
    return 2 * (macs + attention)


def _peak_matmul_flops(threads, n=2048, repeats=5):
    """Best fp32 FLOP/s of an n x n matmul on ``threads`` threads (this CPU's practical limit)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(n, n), torch.randn(n, n)
        a @ b
        best = min(_timed(lambda: a @ b)[1]["wall"] for _ in range(repeats))
    finally:
        torch.set_num_threads(before)
    return 2 * n**3 / best


def compare_backends(names, texts, args):
    """Run each backend in a fresh process on ``texts``; return one row of figures each."""
    reference = None
    rows = []
    # Export and quantize first (once, cached in --export-dir), so no timing includes it.
    for name in names:
        _encoder(BACKENDS[name], args)._get_model()
    torch_encoder = _encoder(BACKENDS["torch"], args)
    _, _, mean_window = _window_tokens(torch_encoder, texts)
    flops_token = _flops_per_token(torch_encoder, mean_window)
    peak = _peak_matmul_flops(encoder_threads())
    context = get_context("spawn")
    for name in names:
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            figures, vectors = pool.submit(_backend_worker, BACKENDS[name], args, texts).result()
        if name == "torch":
            reference = vectors
        if reference is not None:
            cos = (vectors * reference).sum(axis=1)
            figures["cos_mean"] = float(cos.mean())
            figures["cos_p1"] = float(np.percentile(cos, 1))
            figures["cos_min"] = float(cos.min())
        figures["name"] = name
        figures["texts_per_s"] = len(texts) / figures["wall_s"]
        figures["tokens_per_s"] = figures["tokens"] / figures["wall_s"]
        figures["tokens_per_cpu_s"] = figures["tokens"] / figures["cpu_s"]
        figures["fraction_of_peak"] = flops_token * figures["tokens_per_s"] / peak
        rows.append(figures)
    return rows, {
        "flops_per_token": flops_token,
        "peak_matmul_flops": peak,
        "mean_window": mean_window,
    }


def print_backends(rows, limits, n_texts):
    base = next((r for r in rows if r["name"] == "torch"), rows[0])
    print()
    print(
        f"backends on {n_texts} distinct texts, {limits['mean_window']:.0f} tokens per window on "
        f"average; model {limits['flops_per_token'] / 1e6:.1f} MFLOP/token; peak fp32 matmul "
        f"{limits['peak_matmul_flops'] / 1e9:.1f} GFLOP/s on {rows[0]['threads']} threads"
    )
    header = (
        f"{'backend':<10} {'quant':<11} {'texts/s':>8} {'x torch':>7} {'tok/s':>7} "
        f"{'tok/cpu-s':>9} {'x torch':>7} {'%peak':>6} {'RSS MB':>7} {'cos mean':>9} "
        f"{'cos p1':>7} {'cos min':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        cos = (
            f"{r['cos_mean']:9.4f} {r['cos_p1']:7.4f} {r['cos_min']:7.4f}"
            if "cos_mean" in r
            else f"{'':9} {'':7} {'':7}"
        )
        print(
            f"{r['name']:<10} {str(r['runtime']['quantization'] or 'fp32'):<11} "
            f"{r['texts_per_s']:8.1f} {r['texts_per_s'] / base['texts_per_s']:7.2f} "
            f"{r['tokens_per_s']:7.0f} {r['tokens_per_cpu_s']:9.0f} "
            f"{r['tokens_per_cpu_s'] / base['tokens_per_cpu_s']:7.2f} "
            f"{100 * r['fraction_of_peak']:6.1f} {r['peak_rss_mb']:7.0f} {cos}"
        )
    print(
        "x torch: texts/s (wall) and tokens per CPU-second (steadier on a shared machine) "
        "relative to torch fp32; %peak: model FLOPs per token x tokens/s / peak matmul FLOP/s "
        "(int8 can exceed the fp32 peak); RSS: peak of the process that ran that backend."
    )


# -- (e) the cap on windows per text ---------------------------------------------------------


def compare_max_chunks(caps, long_texts, all_texts, params, args):
    """Encode ``long_texts`` with each cap; count the windows each cap leaves on ``all_texts``."""
    full = _encoder(params, args)
    total_windows, total_tokens, _ = _window_tokens(full, all_texts)
    reference, t_full = _timed(lambda: full.encode(long_texts))
    windows, tokens, _ = _window_tokens(full, long_texts)
    rows = [
        {
            "max_chunks": None,
            "windows": windows,
            "tokens": tokens,
            "cpu_s": t_full["cpu"],
            "wall_s": t_full["wall"],
            "cos_mean": 1.0,
            "cos_p1": 1.0,
            "all_windows": total_windows,
            "all_tokens": total_tokens,
        }
    ]
    for cap in caps:
        encoder = _encoder(params, args, max_chunks=cap)
        vectors, t = _timed(lambda enc=encoder: enc.encode(long_texts))
        cos = (vectors * reference).sum(axis=1)
        w, tok, _ = _window_tokens(encoder, long_texts)
        all_w, all_tok, _ = _window_tokens(encoder, all_texts)
        rows.append(
            {
                "max_chunks": cap,
                "windows": w,
                "tokens": tok,
                "cpu_s": t["cpu"],
                "wall_s": t["wall"],
                "cos_mean": float(cos.mean()),
                "cos_p1": float(np.percentile(cos, 1)),
                "all_windows": all_w,
                "all_tokens": all_tok,
            }
        )
    return rows


def print_max_chunks(rows, n_long, n_all):
    print()
    print(
        f"max_chunks on {n_long} texts longer than one window (cosine to uncapped), and the "
        f"tokens left on all {n_all} distinct texts"
    )
    header = (
        f"{'max_chunks':>10} {'windows':>8} {'tokens':>8} {'cpu s':>7} {'cos mean':>9} "
        f"{'cos p1':>7} {'all tokens':>10} {'share':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{str(r['max_chunks']):>10} {r['windows']:8d} {r['tokens']:8d} {r['cpu_s']:7.1f} "
            f"{r['cos_mean']:9.4f} {r['cos_p1']:7.4f} {r['all_tokens']:10d} "
            f"{r['all_tokens'] / rows[0]['all_tokens']:6.2f}"
        )
    print("share: tokens to encode on all distinct texts relative to no cap (time follows it).")


def _distinct_texts(full):
    return list(dict.fromkeys(full[TEXT_COLUMNS].to_numpy().ravel().tolist()))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="empty or absent folder for the disk cache (default: a temporary folder)",
    )
    parser.add_argument("--naive-sample", type=int, default=300, metavar="N")
    parser.add_argument(
        "--neg-ratio",
        type=float,
        default=None,
        metavar="K",
        help="K metric-swapped copies per train row (default: the sampler's defaults)",
    )
    parser.add_argument("--model", default=None, help="encoder model (default: packaged MiniLM)")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="cap on windows per forward pass"
    )
    parser.add_argument(
        "--batch-tokens",
        type=int,
        default=SentenceTransformerEncoder().batch_tokens,
        help="padded tokens per forward pass (default: the encoder's)",
    )
    parser.add_argument(
        "--backend",
        default=SentenceTransformerEncoder().backend,
        choices=["auto", "torch", "onnx", "openvino"],
        help="encoder backend of the featurize runs (a)-(c) (default: the encoder's)",
    )
    parser.add_argument(
        "--export-dir",
        type=Path,
        default=None,
        help="where exported ONNX/OpenVINO models are kept (default: the encoder's)",
    )
    parser.add_argument("--skip-tfidf", action="store_true")
    parser.add_argument(
        "--truncate",
        action="store_true",
        help="truncate long texts like the naive baseline instead of chunking them",
    )
    parser.add_argument(
        "--skip-featurize", action="store_true", help="skip (a)-(c), the full-table runs"
    )
    parser.add_argument(
        "--backends",
        default=None,
        help=f"comma-separated backends to compare, from {', '.join(BACKENDS)}; "
        "torch comes first (the agreement reference)",
    )
    parser.add_argument(
        "--limit-texts",
        type=int,
        default=None,
        metavar="N",
        help="compare backends on N distinct texts drawn at random (default: all)",
    )
    parser.add_argument(
        "--max-chunks", default=None, help="comma-separated caps on windows per text, e.g. 1,2,4,8"
    )
    parser.add_argument(
        "--chunk-texts",
        type=int,
        default=30,
        metavar="N",
        help="long texts (over one window) drawn at random for --max-chunks",
    )
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.backends.split(",")] if args.backends else []
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        parser.error(f"--backends: unknown {unknown}; choose from {list(BACKENDS)}")
    if names:
        names = ["torch"] + [n for n in names if n != "torch"]
    caps = [int(c) for c in args.max_chunks.split(",")] if args.max_chunks else []

    data = load_competition(args.data_dir)
    metric_table = data.metric_embedding_table()
    train_aug, how = _augmented_train(data.train, args.neg_ratio, metric_table)
    test = data.test[TABLE_COLUMNS].reset_index(drop=True)
    full = pd.concat([train_aug, test], ignore_index=True)
    rows = len(full)
    unique_texts = len(set(full[TEXT_COLUMNS].to_numpy().ravel()))
    unique_metrics = full["metric_name"].nunique()
    print(f"data: {args.data_dir}")
    print(
        f"rows featurized: {rows} = {len(train_aug)} train incl. negatives "
        f"({len(data.train)} real; {how}) + {len(test)} test"
    )
    print(
        f"text values: {rows * len(TEXT_COLUMNS)}, distinct texts: {unique_texts}, "
        f"distinct metric names: {unique_metrics}"
    )

    extra = {}
    distinct = _distinct_texts(full)
    rng = np.random.default_rng(0)
    if names:
        texts = distinct
        if args.limit_texts is not None and args.limit_texts < len(distinct):
            pick = rng.choice(len(distinct), size=args.limit_texts, replace=False)
            texts = [distinct[i] for i in sorted(pick)]
        backend_rows, limits = compare_backends(names, texts, args)
        print_backends(backend_rows, limits, len(texts))
        extra["backends"] = backend_rows
        extra["backend_limits"] = limits
        extra["backend_texts"] = len(texts)
    if caps:
        params = {"backend": args.backend}
        probe = _encoder(params, args)
        tokens = probe._tokenize(probe._get_model(), distinct)
        long_ids = np.flatnonzero(np.bincount(tokens.owner, minlength=len(distinct)) > 1)
        pick = rng.choice(long_ids, size=min(args.chunk_texts, len(long_ids)), replace=False)
        long_texts = [distinct[i] for i in sorted(pick)]
        chunk_rows = compare_max_chunks(caps, long_texts, distinct, params, args)
        print_max_chunks(chunk_rows, len(long_texts), len(distinct))
        extra["max_chunks"] = chunk_rows
        extra["max_chunks_backend"] = probe.runtime()
        extra["texts_over_one_window"] = len(long_ids)
    if args.skip_featurize:
        extra["load_average"] = os.getloadavg()
        print(json.dumps(extra, default=str))
        return

    encoder = SentenceTransformerEncoder(
        model=args.model,
        backend=args.backend,
        batch_size=args.batch_size,
        batch_tokens=args.batch_tokens,
        export_dir=args.export_dir,
        truncate=args.truncate,
        show_progress=False,
    )
    t0 = time.perf_counter()
    st_model = encoder._get_model()  # load once, outside every timing
    load_s = time.perf_counter() - t0
    print(f"model: {encoder.identity()['model']} on {st_model.device}, loaded in {load_s:.1f}s")

    # Windows the chunking produces, for context (the naive baseline truncates instead).
    owner = encoder._tokenize(st_model, distinct).owner
    n_windows = len(owner)
    n_long = int((np.bincount(owner) > 1).sum())

    # The naive baseline: every row's text values as they appear, no dedup, truncated
    # at the model window. Timed on a random sample of rows, before and after the cold
    # run (the mean is used, so a change in machine load is visible and averaged).
    sample = full.iloc[rng.choice(rows, size=min(args.naive_sample, rows), replace=False)]
    naive_texts = sample[TEXT_COLUMNS].to_numpy().ravel().tolist()

    # torch fp32 whatever --backend is: the baseline is what the encoder did before.
    naive_model = SentenceTransformerEncoder(model=args.model, backend="torch")._get_model()

    def naive():
        naive_model.encode(naive_texts, batch_size=args.batch_size or 32, show_progress_bar=False)

    # (a) cold ------------------------------------------------------------------------
    if args.cache_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="gbscore-bench-cache-")
        cache_dir = Path(tmp.name)
    else:
        cache_dir = args.cache_dir
        if cache_dir.exists() and any(cache_dir.iterdir()):
            parser.error(f"--cache-dir {cache_dir} is not empty; a cold run needs an empty one")
    load_before = os.getloadavg()[0]
    _, naive_before = _timed(naive)
    clear_memory_cache()
    featurizer = EmbeddingFeaturizer(
        encoder=encoder, metric_embeddings=metric_table, cache_dir=cache_dir, show_progress=True
    )

    def cold():
        train_features = featurizer.fit_transform(train_aug)
        featurizer.transform(test)
        return train_features.shape[1]

    n_features, cold_t = _timed(cold)
    _, naive_after = _timed(naive)
    load_after = os.getloadavg()[0]
    rss_cold = _peak_rss_mb()
    cache_stats = EmbeddingCache(cache_dir).stats()["identities"][0]
    naive_t = {k: (naive_before[k] + naive_after[k]) / 2 / len(sample) * rows for k in cold_t}

    # (b) warm: a new process in effect -- no memo, no loaded model, same disk cache ----
    clear_memory_cache(models=True)
    warm_featurizer = EmbeddingFeaturizer(
        encoder=clone(encoder).set_params(show_progress=True),
        metric_embeddings=metric_table,
        cache_dir=cache_dir,
        show_progress=True,
    )

    def warm():
        warm_featurizer.fit_transform(train_aug)
        warm_featurizer.transform(test)

    _, warm_t = _timed(warm)
    model_loaded_in_warm = getattr(warm_featurizer.encoder_, "_model", None) is not None
    # tracemalloc slows allocation, so it gets a run of its own (now memo-hot).
    tracemalloc.start()
    warm()
    _, warm_traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    # memo-hot: what a clone in the next CV fold pays --------------------------------
    def memo_hot():
        EmbeddingFeaturizer(
            encoder=clone(encoder),
            metric_embeddings=metric_table,
            cache_dir=cache_dir,
            show_progress=False,
        ).fit_transform(train_aug)

    _, memo_t = _timed(memo_hot)
    memo_mb = memory_cache_info()["bytes"] / 2**20

    # (c) character TF-IDF throughput -------------------------------------------------
    tfidf = {}
    if not args.skip_tfidf:
        char = CharTfidfEncoder()
        _, fit_t = _timed(lambda: char.fit(distinct))
        _, encode_t = _timed(lambda: char.encode(distinct))
        tfidf = {"fit_s": fit_t["wall"], "texts_per_s": len(distinct) / encode_t["wall"]}

    peak_rss = _peak_rss_mb()
    result = {
        "rows": rows,
        "unique_texts": unique_texts,
        "text_values": rows * len(TEXT_COLUMNS),
        "windows_encoded": n_windows,
        "texts_chunked": n_long,
        "n_features": n_features,
        "truncate": args.truncate,
        "neg_ratio": args.neg_ratio,
        "model_load_seconds": round(load_s, 2),
        "cold_seconds": round(cold_t["wall"], 2),
        "cold_cpu_seconds": round(cold_t["cpu"], 2),
        "naive_seconds_extrapolated": round(naive_t["wall"], 2),
        "naive_cpu_seconds_extrapolated": round(naive_t["cpu"], 2),
        "naive_sample_rows": len(sample),
        "naive_sample_seconds_before_after": [
            round(naive_before["wall"], 2),
            round(naive_after["wall"], 2),
        ],
        "warm_seconds": round(warm_t["wall"], 3),
        "warm_cpu_seconds": round(warm_t["cpu"], 3),
        "memo_seconds": round(memo_t["wall"], 3),
        "cold_speedup": round(naive_t["wall"] / cold_t["wall"], 2),
        "cold_speedup_cpu": round(naive_t["cpu"] / cold_t["cpu"], 2),
        "warm_speedup": round(naive_t["wall"] / warm_t["wall"], 1),
        "warm_speedup_cpu": round(naive_t["cpu"] / warm_t["cpu"], 1),
        "warm_loaded_model": model_loaded_in_warm,
        "peak_rss_mb": round(peak_rss, 1),
        "peak_rss_mb_after_featurize": round(rss_cold, 1),
        "warm_tracemalloc_peak_mb": round(warm_traced_peak / 2**20, 1),
        "memo_mb": round(memo_mb, 1),
        "disk_cache_mb": round(cache_stats["bytes"] / 2**20, 1),
        "disk_cache_shards": cache_stats["shards"],
        "tfidf_fit_seconds": round(tfidf["fit_s"], 2) if tfidf else None,
        "tfidf_encode_texts_per_s": round(tfidf["texts_per_s"], 1) if tfidf else None,
        "cpu_count": os.cpu_count(),
        "load_average_before_after_cold": [round(load_before, 2), round(load_after, 2)],
        "backend": encoder.runtime(),
        **extra,
    }

    width = 46
    print()
    print(f"{'measure':<{width}} {'wall':>10} {'cpu':>10}")
    print("-" * (width + 22))
    per_row = naive_t["wall"] / rows * 1000
    lines = [
        ("rows featurized", f"{rows:>10}", ""),
        ("distinct texts / text values", f"{unique_texts} / {rows * len(TEXT_COLUMNS)}", ""),
        ("windows encoded (texts chunked)", f"{n_windows} ({n_long})", ""),
        ("output features per row", f"{n_features:>10}", ""),
        ("cold featurize (empty caches), s", f"{cold_t['wall']:10.1f}", f"{cold_t['cpu']:10.1f}"),
        (
            f"naive, EXTRAPOLATED from {len(sample)} rows, s",
            f"{naive_t['wall']:10.1f}",
            f"{naive_t['cpu']:10.1f}",
        ),
        (
            "  naive sample before / after cold, s",
            f"{naive_before['wall']:.1f} / {naive_after['wall']:.1f}",
            f"({per_row:.1f} ms/row)",
        ),
        (
            "cold speedup vs naive, x",
            f"{naive_t['wall'] / cold_t['wall']:10.2f}",
            f"{naive_t['cpu'] / cold_t['cpu']:10.2f}",
        ),
        ("warm featurize (disk cache, new process), s", f"{warm_t['wall']:10.2f}", ""),
        (
            "warm speedup vs naive, x",
            f"{naive_t['wall'] / warm_t['wall']:10.1f}",
            f"{naive_t['cpu'] / warm_t['cpu']:10.1f}",
        ),
        ("warm run loaded the model", f"{model_loaded_in_warm!s:>10}", ""),
        ("memo-hot fit_transform (next CV fold), s", f"{memo_t['wall']:10.2f}", ""),
        ("peak RSS after featurizing / overall, MB", f"{rss_cold:.0f} / {peak_rss:.0f}", ""),
        ("warm tracemalloc peak, MB", f"{warm_traced_peak / 2**20:10.0f}", ""),
        (
            "disk cache",
            f"{cache_stats['bytes'] / 2**20:.1f} MB",
            f"{cache_stats['shards']} shards",
        ),
        ("load average before / after cold", f"{load_before:.1f} / {load_after:.1f}", ""),
    ]
    if tfidf:
        lines += [
            ("CharTfidf fit on distinct texts, s", f"{tfidf['fit_s']:10.1f}", ""),
            ("CharTfidf encode throughput, texts/s", f"{tfidf['texts_per_s']:10.0f}", ""),
        ]
    for name, wall, cpu in lines:
        print(f"{name:<{width}} {wall:>10} {cpu:>10}")
    print(
        "note: the naive baseline truncates texts at the model window; the featurizer "
        + ("truncates too" if args.truncate else "chunks them (more work per long text)")
        + " and encodes each distinct text once. cpu = process CPU seconds (all threads),"
        " steadier than wall time when other work shares the machine."
    )
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
