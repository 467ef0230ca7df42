"""Test RMSE of the LightGBM pipeline under augmentation / label-policy / interaction variants,
and how well the shift-aware CV RMSE (folds grouped by phrasing cluster, and by identical
conversation) ranks them and predicts them, compared with the test set.

    python benchmarks/bench_accuracy.py --data-dir ../shared/data/judgebench-dev \
        [--cache-dir DIR] [--folds 3] [--encoder char-tfidf]

The directory needs ``test_labels.csv`` (``ID,score[,kind]``). The last printed line is one JSON
object mapping each configuration to its test RMSE and CV RMSEs, plus the rank agreement.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from gbscore.config import build_pipeline
from gbscore.data import load_competition, load_test_labels
from gbscore.model_selection import ConversationKFold, cross_val_oof, default_eval_sampler, rmse

CONFIGS = {
    "no_augmentation": {"model": "lightgbm", "params": {"augment": "passthrough"}},
    "band_labels": {"model": "lightgbm", "params": {"augment__label_policy": "band"}},
    "similarity_labels": {"model": "lightgbm"},
    "similarity_no_interactions": {"model": "lightgbm", "params": {"interact": "passthrough"}},
    "similarity_no_metric_match": {"model": "lightgbm", "params": {"features__match": "drop"}},
}
GROUPINGS = ("phrasing", "conversation")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True, type=Path)
    ap.add_argument(
        "--cache-dir", type=Path, default=None, help="embedding cache (default: none, memory only)"
    )
    ap.add_argument(
        "--folds", type=int, default=3, help="CV folds (3 keeps the run under ~1 h on 2 cores)"
    )
    ap.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--skip-cv", action="store_true", help="only test RMSE")
    ap.add_argument(
        "--encoder",
        default=None,
        help="'char-tfidf' for the model-free encoder, or a sentence-transformers name/path "
        "(default: the package default, MiniLM)",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    data = load_competition(args.data_dir)
    labels = load_test_labels(args.data_dir / "test_labels.csv")
    X, y = data.train.drop(columns="score"), data.train["score"].to_numpy()
    emb = data.metric_embedding_table()
    results = {}
    if args.encoder == "char-tfidf":
        encoder = {"kind": "char-tfidf"}
    elif args.encoder:
        encoder = {"kind": "sentence-transformers", "model": args.encoder}
    else:
        encoder = None
    configs = {n: {**c, "encoder": encoder} if encoder else c for n, c in CONFIGS.items()}
    for name in args.configs:
        start = time.perf_counter()
        pipe = build_pipeline(
            configs[name], metric_embeddings=emb, cache_dir=args.cache_dir, show_progress=False
        )
        pred = pipe.fit(X, y).predict(data.test)
        fit_s = time.perf_counter() - start
        row = {"test_rmse": rmse(labels["score"], pred), "fit_predict_seconds": round(fit_s, 1)}
        if "kind" in labels.columns:
            for kind, idx in labels.groupby("kind").indices.items():
                row[f"test_rmse_{kind}"] = rmse(labels["score"].to_numpy()[idx], pred[idx])
        for grouping in () if args.skip_cv else GROUPINGS:
            # the same evaluation sampler for every config (the default policy's), so the
            # shift-aware CV numbers are comparable across configurations
            cv = cross_val_oof(
                {
                    name: build_pipeline(
                        configs[name],
                        metric_embeddings=emb,
                        cache_dir=args.cache_dir,
                        show_progress=False,
                    )
                },
                X,
                y,
                cv=ConversationKFold(args.folds, grouping=grouping),
                eval_sampler=_eval_sampler(emb),
                show_progress=False,
            )
            scores = cv.scores().loc[name]
            tag = "" if grouping == "phrasing" else "_conv"
            row.update(
                {
                    f"cv_rmse_plain{tag}": scores.rmse_plain,
                    f"cv_rmse_shift{tag}": scores.rmse_shift,
                    f"cv_seconds{tag}": round(cv.timings["wall"], 1),
                }
            )
        results[name] = row
        print(f"{name:28s} " + "  ".join(f"{k}={v:.3f}" for k, v in row.items()), flush=True)

    out = {"configs": results}
    if not args.skip_cv and len(results) >= 3:
        test = [r["test_rmse"] for r in results.values()]
        out["spearman_shift_cv_vs_test"] = float(
            spearmanr([r["cv_rmse_shift"] for r in results.values()], test)[0]
        )
        out["spearman_plain_cv_vs_test"] = float(
            spearmanr([r["cv_rmse_plain"] for r in results.values()], test)[0]
        )
        out["spearman_conversation_shift_cv_vs_test"] = float(
            spearmanr([r["cv_rmse_shift_conv"] for r in results.values()], test)[0]
        )
    baselines_path = args.data_dir / "baselines.json"
    if baselines_path.is_file():
        base = json.loads(baselines_path.read_text())["results"]
        out["baselines"] = {f"{b['baseline']}: {b['desc']}": b["rmse"] for b in base}
        best = min(b["rmse"] for b in base if b["baseline"] != "a")
        ours = results.get("similarity_labels", {}).get("test_rmse")
        if ours is not None:
            out["default_vs_best_baseline_ratio"] = ours / best
    print()
    print(
        f"{'configuration':32s} {'test':>7s} {'matched':>8s} | phrasing folds: "
        f"{'shift':>6s} {'plain':>6s} | conversation folds: {'shift':>6s} {'plain':>6s}"
    )
    for name, r in results.items():
        print(
            f"{name:32s} {r['test_rmse']:7.3f} {r.get('test_rmse_matched', np.nan):8.3f} | "
            f"{'':15s} {r.get('cv_rmse_shift', np.nan):6.3f} {r.get('cv_rmse_plain', np.nan):6.3f}"
            f" | {'':19s} {r.get('cv_rmse_shift_conv', np.nan):6.3f} "
            f"{r.get('cv_rmse_plain_conv', np.nan):6.3f}"
        )
    for k, v in out.get("baselines", {}).items():
        print(f"baseline {k:60.60s} {v:7.3f}")
    print(json.dumps(out))
    return 0


def _eval_sampler(emb):
    return default_eval_sampler(
        build_pipeline({"model": "lightgbm"}, metric_embeddings=emb, show_progress=False),
        random_state=0,
    )


if __name__ == "__main__":
    sys.exit(main())
