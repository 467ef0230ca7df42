"""Benchmark the embedding featurizer on competition-format data (e.g. judgebench-dev).

It builds the table the default pipeline featurizes -- the train rows plus their
metric-swapped negatives (``gbscore.augment.NegativeSampler``), then the test rows -- and
measures:

(a) cold: an empty disk cache and an empty memo, versus the naive baseline of calling
    ``SentenceTransformer.encode`` on every row's text values as they appear (timed on a
    random sample of rows and extrapolated per row, since all rows take too long);
(b) warm: the memo and the loaded model dropped (a new process, in effect), the disk
    cache kept;
(c) peak resident memory, and the character TF-IDF encoder's throughput.

It prints a table, then as its last line one JSON object with the figures.

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/bench_featurize.py \
        --data-dir ../shared/data/judgebench-dev [--cache-dir DIR] [--naive-sample 300] \
        [--neg-ratio K]
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
from pathlib import Path

import numpy as np
import pandas as pd

from gbscore.data import load_competition
from gbscore.features import (
    CharTfidfEncoder,
    EmbeddingCache,
    EmbeddingFeaturizer,
    SentenceTransformerEncoder,
    clear_memory_cache,
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
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--skip-tfidf", action="store_true")
    parser.add_argument(
        "--truncate",
        action="store_true",
        help="truncate long texts like the naive baseline instead of chunking them",
    )
    args = parser.parse_args(argv)

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

    encoder = SentenceTransformerEncoder(
        model=args.model, batch_size=args.batch_size, truncate=args.truncate, show_progress=False
    )
    t0 = time.perf_counter()
    st_model = encoder._get_model()  # load once, outside every timing
    load_s = time.perf_counter() - t0
    print(f"model: {encoder.identity()['model']} on {st_model.device}, loaded in {load_s:.1f}s")

    # Windows the chunking produces, for context (the naive baseline truncates instead).
    distinct = list(dict.fromkeys(full[TEXT_COLUMNS].to_numpy().ravel().tolist()))
    _, owner, _ = encoder.split_into_chunks(distinct)
    n_windows = len(owner)
    n_long = int((np.bincount(owner) > 1).sum())

    # The naive baseline: every row's text values as they appear, no dedup, truncated
    # at the model window. Timed on a random sample of rows, before and after the cold
    # run (the mean is used, so a change in machine load is visible and averaged).
    rng = np.random.default_rng(0)
    sample = full.iloc[rng.choice(rows, size=min(args.naive_sample, rows), replace=False)]
    naive_texts = sample[TEXT_COLUMNS].to_numpy().ravel().tolist()

    def naive():
        st_model.encode(naive_texts, batch_size=args.batch_size, show_progress_bar=False)

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
        encoder=SentenceTransformerEncoder(
            model=args.model, batch_size=args.batch_size, truncate=args.truncate
        ),
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
            encoder=SentenceTransformerEncoder(model=args.model, truncate=args.truncate),
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
    print(json.dumps(result))


if __name__ == "__main__":
    main()
