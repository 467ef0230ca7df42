"""How the metric-match features move on new phrasing: each variant, seen vs new phrasing.

The split is :func:`bench_new_phrasing.new_phrasing_split`'s (train and test conversations
clustered by phrasing, a share of the test clusters held out with their training rows). One
:class:`~gbscore.features.MetricMatchFeatures` per variant (``output`` "probability" or
"relative", and "relative" with ``pooling="phrasing"``, with the centroid and with the ridge
classifier) is
fitted on the kept training rows as they are (the real rows, without the negative sampler's
swapped pairs that feed it inside a pipeline; the scores weight the centroids the same way)
and applied to three test sets: seen phrasing, new phrasing,
and new phrasing with the metric names' own words taken out. Per feature it prints the
matched-vs-mismatched AUC (``kind`` of ``test_labels.csv``; how well the feature still tells
a conversation's own metric from a swapped-in one) and the median on matched and on
mismatched rows (whether its *level* holds: a booster's thresholds were learned on the
levels of training phrasing).

    PYTHONPATH=. python benchmarks/bench_match_drift.py --data-dir ../shared/data/judgebench-dev \\
        [--held-out 0.3] [--seed 0] [--split-threshold 0.55]

Takes about half a minute (no encoder). The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_new_phrasing import metric_name_words, new_phrasing_split, strip_metric_words  # noqa: E402

from gbscore.data import load_competition, load_test_labels  # noqa: E402
from gbscore.features import MetricMatchFeatures  # noqa: E402


def drift_table(model, sets):
    """Per feature: AUC matched vs mismatched and medians, on each of ``sets``."""
    rows = {}
    for name, (X, kinds) in sets.items():
        F = pd.DataFrame(model.transform(X), columns=model.get_feature_names_out())
        matched, mismatched = kinds == "matched", kinds == "mismatched"
        either = matched | mismatched
        for feature in F.columns:
            values = F[feature].to_numpy()
            rows.setdefault(feature, {}).update(
                {
                    f"auc {name}": roc_auc_score(matched[either], values[either]),
                    f"matched median {name}": float(np.median(values[matched])),
                    f"mismatched median {name}": float(np.median(values[mismatched])),
                }
            )
    return pd.DataFrame(rows).T


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True, type=Path)
    ap.add_argument("--held-out", type=float, default=0.3, help="share of test clusters held out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--split-threshold",
        type=float,
        default=None,
        help="cosine at which the split clusters phrasing (as bench_new_phrasing.py)",
    )
    args = ap.parse_args(argv)

    data = load_competition(args.data_dir)
    labels = load_test_labels(args.data_dir / "test_labels.csv")
    if "kind" not in labels:
        ap.error("test_labels.csv has no 'kind' column (matched / mismatched rows) to compare")
    kinds = labels["kind"].to_numpy()
    X_train, y_train = data.train.drop(columns="score"), data.train["score"].to_numpy()
    threshold = "auto" if args.split_threshold is None else args.split_threshold
    new, keep, _ = new_phrasing_split(X_train, data.test, args.held_out, args.seed, threshold)
    X_fit = X_train[keep].reset_index(drop=True)
    X_new = data.test[new].reset_index(drop=True)
    sets = {
        "seen": (data.test[~new].reset_index(drop=True), kinds[~new]),
        "new": (X_new, kinds[new]),
        "new, no metric words": (
            strip_metric_words(X_new, metric_name_words(data.metric_names)),
            kinds[new],
        ),
    }
    result = {}
    pd.set_option("display.width", 250)
    variants = {
        "probability": {"output": "probability"},
        "relative": {"output": "relative"},
        "relative, phrasing pooling": {"output": "relative", "pooling": "phrasing"},
        "relative, phrasing pooling, ridge": {
            "output": "relative",
            "pooling": "phrasing",
            "classifier": "ridge",
        },
    }
    for variant, params in variants.items():
        model = MetricMatchFeatures(**params).fit(X_fit, y_train[keep])
        table = drift_table(model, sets)
        result[variant] = table.round(4).to_dict(orient="index")
        for what in ("auc", "matched median", "mismatched median"):
            cols = {c: c[len(what) + 1 :] for c in table.columns if c.startswith(what + " ")}
            print(f"\n{variant}: {what}")
            print(table[list(cols)].rename(columns=cols).round(3).to_string())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
