"""Benchmark Optuna tuning on competition-format data (e.g. judgebench-dev).

Within a wall-clock budget it runs two studies of the same search (same sampler seed), one
after the other, each with half the budget:

(a) with fold pruning (median pruner: a trial whose running shift-aware RMSE after a fold is
    worse than the median of earlier trials at that fold stops there),
(b) without pruning.

Both studies start with the untuned default pipeline as their first trial
(``gbscore.tuning.default_params``), so its CV score is measured on the same folds. With the
same seed the two studies draw the same parameters until pruning changes what the sampler
knows, so (a) and (b) compare the cost of the same trials. It then reports the trials each
study finished, the folds they ran, the best shift-aware CV RMSE, and the test RMSE (against
``test_labels.csv``) of the exported best config versus the untuned default, both fitted on
all train rows.

It prints a table, then as its last line one JSON object with the figures.

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/bench_tune.py \
        --data-dir ../shared/data/judgebench-dev [--budget-minutes 30] [--cache-dir DIR] \
        [--model lightgbm] [--n-splits 3] [--threads 1]

The embeddings of the train strings are read from ``--cache-dir`` (computed once when cold);
the test strings are encoded once for the final comparison and stored there too.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna

from gbscore.config import DEFAULT_CONFIG, build_pipeline, merge_config
from gbscore.data import load_competition, load_test_labels
from gbscore.model_selection import rmse
from gbscore.tuning import (
    SEARCH_SPACES,
    PipelineObjective,
    TuningData,
    default_params,
    export_config,
    make_pruner,
    make_sampler,
    open_study,
    run_study,
    warm_embeddings,
)
from gbscore.tuning._tune import _thread_params  # the thread key of each model, as `tune` sets it


def _base_config(model, n_splits, threads):
    config = merge_config(DEFAULT_CONFIG, {"model": model, "cv": {"n_splits": n_splits}})
    config.pop("stack", None)
    config["params"] = _thread_params(model, threads)
    return config


def _study(name, storage, objective, *, pruner, budget_s, seed, model, base):
    start = time.perf_counter()
    sampler = make_sampler(seed)
    study = open_study(name, storage, sampler=sampler, pruner=pruner)
    # The untuned pipeline is the first trial of both studies: its CV score on the same folds.
    study.enqueue_trial(default_params(model, base))
    run_study(
        objective,
        study_name=name,
        storage=storage,
        timeout=budget_s,
        sampler=sampler,
        pruner=pruner,
        show_progress=True,
    )
    trials = study.get_trials(deepcopy=False)
    states = [t.state.name for t in trials]
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    default = trials[0] if trials and trials[0].state.name == "COMPLETE" else None
    return {
        "trials": len(trials),
        "complete": states.count("COMPLETE"),
        "pruned": states.count("PRUNED"),
        "running_at_timeout": states.count("RUNNING") + states.count("FAIL"),
        "best_shift_cv_rmse": study.best_value if complete else None,
        "best_plain_cv_rmse": study.best_trial.user_attrs["rmse_plain"] if complete else None,
        "best_trial": study.best_trial.number if complete else None,
        "default_shift_cv_rmse": default.value if default else None,
        "folds_run": int(sum(t.user_attrs.get("folds_done", 0) for t in trials)),
        "seconds": round(time.perf_counter() - start, 1),
        "_study": study,
    }


def _test_rmse(config, data, test, labels, cache_dir):
    start = time.perf_counter()
    pipe = build_pipeline(
        config, metric_embeddings=data.metric_embeddings, cache_dir=cache_dir, show_progress=True
    )
    pipe.fit(data.X, data.y)
    pred = pipe.predict(test)
    out = {"rmse": rmse(labels["score"].to_numpy(), pred), "seconds": time.perf_counter() - start}
    if "kind" in labels:
        for kind in sorted(labels["kind"].unique()):
            mask = (labels["kind"] == kind).to_numpy()
            out[f"rmse_{kind}"] = rmse(labels["score"].to_numpy()[mask], pred[mask])
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument(
        "--budget-minutes",
        type=float,
        default=30.0,
        help="Tuning budget, split evenly between the two studies.",
    )
    parser.add_argument("--cache-dir", type=Path, default=None, help="Embedding cache directory.")
    parser.add_argument("--model", choices=sorted(SEARCH_SPACES), default="lightgbm")
    parser.add_argument("--n-splits", type=int, default=3, help="CV folds of the objective.")
    parser.add_argument("--threads", type=int, default=1, help="Threads per model fit.")
    parser.add_argument(
        "--pruner-startup",
        type=int,
        default=2,
        help="Trials the median pruner lets finish before it prunes.",
    )
    parser.add_argument(
        "--n-train", type=int, default=None, help="Use only the first N train rows (quick runs)."
    )
    parser.add_argument(
        "--n-test", type=int, default=None, help="Score only the first N test rows (quick runs)."
    )
    parser.add_argument("--seed", type=int, default=0, help="TPE sampler seed (both studies).")
    parser.add_argument(
        "--export", type=Path, default=None, help="Also write the best config here."
    )
    args = parser.parse_args(argv)  # fmt: skip

    logging.basicConfig(level=logging.WARNING, format="gbscore: %(message)s")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    comp = load_competition(args.data_dir)
    train = comp.train if args.n_train is None else comp.train.iloc[: args.n_train]
    data = TuningData(
        X=train.drop(columns="score").reset_index(drop=True),
        y=train["score"].to_numpy(dtype=np.float64),
        metric_embeddings=comp.metric_embedding_table(),
        source=str(args.data_dir),
    )
    labels = load_test_labels(args.data_dir / "test_labels.csv")
    test = comp.test
    if args.n_test is not None:
        test, labels = test.iloc[: args.n_test], labels.iloc[: args.n_test]
    base = _base_config(args.model, args.n_splits, args.threads)

    start = time.perf_counter()
    warm_embeddings(
        base, data.X, metric_embeddings=data.metric_embeddings, cache_dir=args.cache_dir
    )
    warm_s = time.perf_counter() - start

    budget_s = args.budget_minutes * 60 / 2
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-tune-") as tmp:
        storage = f"sqlite:///{tmp}/bench.db"
        for name, pruner in (
            ("with_pruning", make_pruner("median", max_resource=args.n_splits,
                                         n_startup_trials=args.pruner_startup)),
            ("without_pruning", make_pruner("none", max_resource=1)),
        ):  # fmt: skip
            objective = PipelineObjective(
                data.X,
                data.y,
                model=args.model,
                base_config=base,
                pruning="fold" if name == "with_pruning" else "none",
                metric_embeddings=data.metric_embeddings,
                cache_dir=args.cache_dir,
            )
            results[name] = _study(
                name, storage, objective, pruner=pruner, budget_s=budget_s,
                seed=args.seed, model=args.model, base=base,
            )  # fmt: skip

        studies = [r["_study"] for r in results.values() if r["best_trial"] is not None]
        best_study = min(studies, key=lambda s: s.best_value)
        tuned_config = best_study.best_trial.user_attrs["config"]
        path = export_config(tuned_config, args.export or Path(tmp) / "best.json")
        exported = json.loads(Path(path).read_text())
        default_config = results["without_pruning"]["_study"].trials[0].user_attrs.get(
            "config"
        ) or build_default_config(base)
        scores = {
            "default": _test_rmse(default_config, data, test, labels, args.cache_dir),
            "tuned": _test_rmse(tuned_config, data, test, labels, args.cache_dir),
        }

    for r in results.values():
        r.pop("_study")
    report = {
        "data": str(args.data_dir),
        "n_train": len(data.y),
        "model": args.model,
        "n_splits": args.n_splits,
        "threads": args.threads,
        "budget_minutes": args.budget_minutes,
        "warm_embeddings_seconds": round(warm_s, 1),
        "studies": results,
        "best_shift_cv_rmse": best_study.best_value,
        "n_test": len(labels),
        "test_rmse_default": scores["default"]["rmse"],
        "test_rmse_tuned": scores["tuned"]["rmse"],
        "test": scores,
        "exported_config": exported,
        "exported_to": str(args.export) if args.export else None,
    }
    _print_table(report)
    print(json.dumps(report, default=float))
    return 0


def build_default_config(base):
    """The default pipeline's config (when the default trial did not finish in the budget)."""
    return merge_config(base, {})


def _fmt(value, spec=".4f"):
    return "-" if value is None else format(value, spec)


def _print_table(r):
    print()
    print(
        f"tuning benchmark: {r['model']} on {r['data']} ({r['n_train']} train rows), "
        f"{r['n_splits']}-fold shift-aware CV, budget {r['budget_minutes']:g} min "
        f"({r['budget_minutes'] / 2:g} per study), {r['threads']} thread(s) per model"
    )
    header = f"{'study':<17}{'trials':>7}{'complete':>9}{'pruned':>8}{'folds run':>10}"
    header += f"{'default CV':>12}{'best CV':>9}{'best plain':>11}{'s/trial':>9}"
    print(header)
    print("-" * len(header))
    for name, s in r["studies"].items():
        per_trial = s["seconds"] / max(s["trials"], 1)
        print(
            f"{name:<17}{s['trials']:>7}{s['complete']:>9}{s['pruned']:>8}{s['folds_run']:>10}"
            f"{_fmt(s['default_shift_cv_rmse']):>12}{_fmt(s['best_shift_cv_rmse']):>9}"
            f"{_fmt(s['best_plain_cv_rmse']):>11}{per_trial:>9.1f}"
        )
    print()
    t = r["test"]
    kinds = [k for k in t["default"] if k.startswith("rmse_")]
    print(
        f"{'test RMSE':<17}{'all':>8}"
        + "".join(f"{k[5:]:>12}" for k in kinds)
        + f"{'fit+predict s':>15}"
    )
    for name in ("default", "tuned"):
        row = t[name]
        print(
            f"{name:<17}{row['rmse']:>8.4f}" + "".join(f"{row[k]:>12.4f}" for k in kinds)
            + f"{row['seconds']:>15.1f}"
        )  # fmt: skip
    print()


if __name__ == "__main__":
    sys.exit(main())
