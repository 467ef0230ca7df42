"""Test RMSE of the default pipeline under augmentation / label-policy / interaction variants,
and how well the shift-aware CV RMSE ranks them compared with the test set.

    python benchmarks/bench_accuracy.py --data-dir ../shared/data/judgebench-dev [--cache-dir DIR] [--folds 3]

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

from gbscore.data import load_competition, load_test_labels
from gbscore.pipeline import build_pipeline
from gbscore.validation import cross_validate, rmse

CONFIGS = {
    "no_augmentation": {"params": {"augment": "passthrough"}},
    "band_labels": {"params": {"augment__label_policy": "band"}},
    "similarity_labels": {},
    "similarity_no_interactions": {"params": {"interact": "passthrough"}},
    "similarity_no_metric_match": {"params": {"features__match": "drop"}},
}


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
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    data = load_competition(args.data_dir)
    labels = load_test_labels(args.data_dir / "test_labels.csv")
    X, y = data.train.drop(columns="score"), data.train["score"].to_numpy()
    emb = data.metric_embedding_table()
    results = {}
    for name in args.configs:
        start = time.perf_counter()
        pipe = build_pipeline(
            CONFIGS[name], metric_embeddings=emb, cache_dir=args.cache_dir, show_progress=False
        )
        pred = pipe.fit(X, y).predict(data.test)
        fit_s = time.perf_counter() - start
        row = {"test_rmse": rmse(labels["score"], pred), "fit_predict_seconds": round(fit_s, 1)}
        if "kind" in labels.columns:
            for kind, idx in labels.groupby("kind").indices.items():
                row[f"test_rmse_{kind}"] = rmse(labels["score"].to_numpy()[idx], pred[idx])
        if not args.skip_cv:
            # the same evaluation sampler for every config (the default policy's), so the
            # shift-aware CV numbers are comparable across configurations
            cv = cross_validate(
                build_pipeline(
                    CONFIGS[name],
                    metric_embeddings=emb,
                    cache_dir=args.cache_dir,
                    show_progress=False,
                ),
                X,
                y,
                n_splits=args.folds,
                eval_sampler=_eval_sampler(emb),
                show_progress=False,
            )
            row.update(
                cv_rmse_plain=cv.rmse_plain,
                cv_rmse_shift=cv.rmse_shift,
                cv_seconds=round(cv.seconds, 1),
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
    baselines_path = args.data_dir / "baselines.json"
    if baselines_path.is_file():
        base = json.loads(baselines_path.read_text())["results"]
        out["baselines"] = {f"{b['baseline']}: {b['desc']}": b["rmse"] for b in base}
        best = min(b["rmse"] for b in base if b["baseline"] != "a")
        ours = results.get("similarity_labels", {}).get("test_rmse")
        if ours is not None:
            out["default_vs_best_baseline_ratio"] = ours / best
    print()
    print(f"{'configuration':32s} {'test':>7s} {'matched':>8s} {'cv shift':>9s} {'cv plain':>9s}")
    for name, r in results.items():
        print(
            f"{name:32s} {r['test_rmse']:7.3f} {r.get('test_rmse_matched', np.nan):8.3f} "
            f"{r.get('cv_rmse_shift', np.nan):9.3f} {r.get('cv_rmse_plain', np.nan):9.3f}"
        )
    for k, v in out.get("baselines", {}).items():
        print(f"baseline {k:60.60s} {v:7.3f}")
    print(json.dumps(out))
    return 0


def _eval_sampler(emb):
    from gbscore.validation import default_eval_sampler

    return default_eval_sampler(
        build_pipeline({}, metric_embeddings=emb, show_progress=False), random_state=0
    )


if __name__ == "__main__":
    sys.exit(main())
