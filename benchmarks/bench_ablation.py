"""Ablation of the generalisation additions: each alone, and the default stack with and without it.

Every base runs through one :func:`~gbscore.model_selection.cross_val_oof` per fold grouping,
so all columns of a grouping are predictions of the same held-out rows (real rows plus the
mismatched pairs built from them, labelled by the *default* label policy, which every default
base uses and the evaluation sampler copies from the first). A stack variant is the default
meta-learner (``stack.meta``) refitted on a subset of those out-of-fold columns; its CV figure
is the cross-fitted meta-learner (:func:`~gbscore.stacking.cross_fit_meta`), its test figure
the meta fitted on all out-of-fold rows applied to the refitted bases. ``+calibration`` is the
default stack's output through the monotone map of ``calibration="auto"``, cross-fitted the
same way. Stack rows use the default's distance gate setting (``stack.meta_gate``; when on,
fitted on each grouping's out-of-fold rows), and the ``meta_gate`` row turns it the other way.

    python benchmarks/bench_ablation.py --data-dir ../shared/data/judgebench-dev \\
        --cache-dir DIR [--folds 5] [--groupings phrasing conversation] [--variants ...]

Columns: test RMSE overall and per ``kind`` of ``test_labels.csv`` (matched, general,
mismatched); for each grouping the CV RMSE on all held-out rows ("shift") and on the real
rows only ("real", the CV's counterpart of matched test rows); seconds of fitting (all folds
and the refit). The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

from gbscore.config import (
    DEFAULT_CONFIG,
    build_pipeline,
    final_estimator,
    merge_config,
    stack_configs,
)
from gbscore.data import load_competition, load_test_labels
from gbscore.model_selection import ConversationKFold, cross_val_oof, rmse
from gbscore.stacking import CALIBRATION_MIN_GAIN, cross_fit_calibration, cross_fit_meta, fit_meta
from gbscore.stacking._gate import fit_gate

DEFAULT_BASES = tuple(stack_configs(copy.deepcopy(DEFAULT_CONFIG)))
CONTRASTIVE = DEFAULT_CONFIG["features"]["contrastive"]
RELATIONS = {"kind": "similarity", "opposite": [0.0, 3.0], "substitutable": [6.5, 9.5]}


def variant_configs():
    """Base name -> single-model config; the first ones are the default stack's bases."""
    bases = stack_configs(copy.deepcopy(DEFAULT_CONFIG))
    # The variants change a plain LightGBM pipeline, built with the stack's shared settings
    # whether or not the default stack holds one.
    lgbm = stack_configs(merge_config(DEFAULT_CONFIG, {"stack": {"models": ["lightgbm"]}}))[
        "lightgbm"
    ]
    # The MLP as an addition, for a default stack without it.
    mlp = stack_configs(merge_config(DEFAULT_CONFIG, {"stack": {"models": ["mlp"]}}))["mlp"]

    def lgbm_with(**changes):
        return merge_config(lgbm, changes)

    return {
        **{name: bases[name] for name in DEFAULT_BASES},
        **({} if "mlp" in DEFAULT_BASES else {"mlp": mlp}),
        # the default turned the other way
        f"lightgbm{'-' if CONTRASTIVE else '+'}contrastive": lgbm_with(
            features={"contrastive": not CONTRASTIVE}
        ),
        "lightgbm+relations": lgbm_with(params={"augment__label_policy": RELATIONS}),
        "lightgbm+class_weights": lgbm_with(
            params={"augment__class_weight": "sqrt_balanced", "route_sample_weight": True}
        ),
        "lightgbm+label_noise": lgbm_with(params={"augment__label_noise": 0.5}),
        **(
            {}
            if "lightgbm_phrasing" in DEFAULT_BASES
            else {
                "lightgbm+match_by_phrasing": lgbm_with(
                    params={"features__match__crossfit": "phrasing"}
                )
            }
        ),
        "lightgbm-metric_match": lgbm_with(params={"features__match": "drop"}),
    }


def _scores(y_test, pred, kinds):
    row = {"test": rmse(y_test, pred)}
    for kind, idx in kinds.items():
        row[f"test_{kind}"] = rmse(y_test[idx], pred[idx])
    return row


def _cv_scores(oof, pred, tag):
    done = oof.fold >= 0
    real = done & ~oof.is_shifted
    return {
        f"cv_shift_{tag}": rmse(oof.y[done], pred[done]),
        f"cv_real_{tag}": rmse(oof.y[real], pred[real]),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True, type=Path)
    ap.add_argument("--cache-dir", type=Path, default=None, help="embedding cache (warm: fast)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument(
        "--groupings", nargs="+", default=["phrasing", "conversation"],
        choices=["phrasing", "conversation"],
    )  # fmt: skip
    names = list(variant_configs())
    ap.add_argument(
        "--variants", nargs="+", default=names[len(DEFAULT_BASES) :],
        choices=names[len(DEFAULT_BASES) :],
        help="additions to run beside the default bases (default: all)",
    )  # fmt: skip
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    data = load_competition(args.data_dir)
    labels = load_test_labels(args.data_dir / "test_labels.csv")
    y_test = labels["score"].to_numpy(dtype=np.float64)
    kinds = labels.groupby("kind").indices if "kind" in labels.columns else {}
    X, y = data.train.drop(columns="score"), data.train["score"].to_numpy()
    emb = data.metric_embedding_table()
    configs = variant_configs()
    chosen = [*DEFAULT_BASES, *args.variants]

    def estimators():
        return {
            n: build_pipeline(
                configs[n], metric_embeddings=emb, cache_dir=args.cache_dir, show_progress=False
            )
            for n in chosen
        }

    oofs, test_preds, seconds = {}, {}, {}
    for i, grouping in enumerate(args.groupings):
        refit = i == 0
        start = time.perf_counter()
        print(f"folds grouped by {grouping} ({args.folds}), refit={refit} ...", flush=True)
        result = cross_val_oof(
            estimators(),
            X,
            y,
            cv=ConversationKFold(args.folds, grouping=grouping, random_state=0),
            random_state=0,
            cache_dir=args.cache_dir,
            refit=refit,
            show_progress=True,
        )
        oof, fitted = result if refit else (result, None)
        oofs[grouping] = oof
        print(f"  {time.perf_counter() - start:.0f} s", flush=True)
        for key, value in oof.timings.items():
            name = key.removeprefix("refit_")
            if name.startswith("model:"):
                model = name.split(":", 1)[1]
                seconds[model] = seconds.get(model, 0.0) + value
        if fitted is not None:
            test_preds = {n: np.asarray(fitted[n].predict(data.test), float) for n in chosen}

    rows = {}
    for name in chosen:
        row = _scores(y_test, test_preds[name], kinds)
        for grouping, oof in oofs.items():
            row.update(_cv_scores(oof, oof.preds[name].to_numpy(), grouping))
        row["seconds"] = round(seconds.get(name, float("nan")), 1)
        rows[name] = row

    # The default stack's distance gate, fitted on each grouping's out-of-fold rows.
    gates = {g: fit_gate(oof, X) for g, oof in oofs.items()}

    def stack_row(models, calibrate=False, gated=DEFAULT_CONFIG["stack"]["meta_gate"]):
        first = oofs[args.groupings[0]]
        gate = gates[args.groupings[0]] if gated else None
        # the default's meta-learner (stack.meta), monotone in the columns it would be
        final = final_estimator(
            DEFAULT_CONFIG["stack"]["meta"],
            DEFAULT_CONFIG["stack"]["meta_alpha"],
            list(models),
            meta_gate="distance" if gated else None,
        )
        meta = fit_meta(first, final, models=list(models), gate=gate)
        bases = pd.DataFrame({m: test_preds[m] for m in models})
        if gate is not None:
            bases = gate.expand(bases, gate.similarity(data.test))
        pred = np.clip(meta.predict(bases), 0.0, 10.0)
        cv = {}
        used = None
        for grouping, oof in oofs.items():
            gate = gates[grouping] if gated else None
            stacked = cross_fit_meta(oof, final, models=list(models), gate=gate)
            if calibrate:
                mask = oof.rows_mask("shift_aware")
                mapped = cross_fit_calibration(stacked, oof.y, oof.fold, mask)
                if grouping == args.groupings[0]:
                    before, after = (
                        rmse(oof.y[mask], stacked[mask]),
                        rmse(oof.y[mask], mapped[mask]),
                    )
                    used = after < before * (1 - CALIBRATION_MIN_GAIN)
                    iso = IsotonicRegression(y_min=0.0, y_max=10.0, out_of_bounds="clip")
                    pred = iso.fit(stacked[mask], oof.y[mask]).predict(pred)
                stacked = mapped
            cv.update(_cv_scores(oof, stacked, grouping))
        row = {**_scores(y_test, pred, kinds), **cv}
        row["seconds"] = round(sum(seconds.get(m, 0.0) for m in models), 1)
        if used is not None:
            row["auto_would_use"] = bool(used)
        return row

    rows["stack (default)"] = stack_row(DEFAULT_BASES)
    rows["stack +calibration"] = stack_row(DEFAULT_BASES, calibrate=True)
    gate_row = "stack -meta_gate" if DEFAULT_CONFIG["stack"]["meta_gate"] else "stack +meta_gate"
    rows[gate_row] = stack_row(DEFAULT_BASES, gated=not DEFAULT_CONFIG["stack"]["meta_gate"])
    for name in args.variants:
        rows[f"stack +{name}"] = stack_row([*DEFAULT_BASES, name])
    for name in DEFAULT_BASES:
        rows[f"stack -{name}"] = stack_row([m for m in DEFAULT_BASES if m != name])

    cols = ["test", *[f"test_{k}" for k in kinds]]
    for g in args.groupings:
        cols += [f"cv_shift_{g}", f"cv_real_{g}"]
    cols.append("seconds")
    print()
    print(f"| {'row':30s} | " + " | ".join(f"{c:>18s}" for c in cols) + " |")
    print("|" + "---|" * (len(cols) + 1))
    for name, row in rows.items():
        cells = [
            f"{row.get(c, float('nan')):18.3f}" if c != "seconds" else f"{row[c]:18.0f}"
            for c in cols
        ]
        print(f"| {name:30s} | " + " | ".join(cells) + " |")
    print()
    print(json.dumps({"folds": args.folds, "rows": rows}, default=float))


if __name__ == "__main__":
    main()
