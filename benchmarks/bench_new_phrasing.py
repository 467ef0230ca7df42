"""How a model does on conversations phrased unlike any it trained on, and whether its CV saw it.

The test rows of judgebench-dev reuse the training phrasing. This benchmark makes a test of new
phrasing from the same files: it clusters the train and test conversations together by
phrasing (:func:`gbscore.phrasing_groups`, the clusters the strict CV keeps whole), holds out
a random share of the clusters that hold test rows, drops their training rows, and fits the
configured model (the default stack unless ``--config``) on the rest. It then reports:

* test RMSE on the held-out clusters' test rows ("new phrasing") and on the other test rows
  ("seen phrasing"), overall and per ``kind`` (matched, general, mismatched);
* the model's own CV on the reduced training rows, both fold groupings (the stack's
  out-of-fold rows for its own grouping; ``cross_val_oof`` for a single pipeline);
* each CV per kind of held-out row (:meth:`OOFPredictions.per_relation`: the real rows, and
  each label-policy relation of the mismatched pairs, whose labels are the policy's, not the
  judge's), next to the test's RMSE per ``kind``;
* the gap between each CV figure and the new-phrasing test RMSE, and each CV reweighted to
  the new-phrasing, the seen-phrasing and all test rows' distance from the kept training
  phrasing (:func:`gbscore.model_selection.phrasing_distance_weights`), with the stack's
  meta-learner refitted on the reweighted rows;
* the mean and the share below 5 of truth and prediction on each test set, overall and on
  matched rows (on held-out data of new phrasing gbscore predicted a mean of 5.4 with 47%
  below 5 where the truth had 6.2 and 31%: matched rows scored as mismatched);
* the folds' buffer (``cv.buffer``, ``--cv-buffer``): the config's ``"auto"`` is matched to
  the new-phrasing test rows, as ``gbscore run`` matches it on a test set of new phrasing
  only (on all of these test rows it would find none: most reuse the training phrasing);
* with ``--strip-metric-words``, the new-phrasing test rows once more with the metric names'
  own words taken out of their texts ("new phrasing, no metric words"): every word of a
  metric's minor name (``prompt_based_pii_leakage`` of ``privacy_leakage/...``) that no family
  name holds, stop words and words under 4 letters left in (:func:`metric_name_words`). Real
  conversations rarely name the metric they were written for; family words ("privacy")
  stay, as they would there;
* with ``--contributions``, where the lower matched-row predictions on new phrasing come
  from: for each LightGBM pipeline of the model, LightGBM's own per-feature contributions
  (``pred_contrib``, SHAP values of the trees) averaged over the matched test rows of seen
  phrasing, of new phrasing and (with ``--strip-metric-words``) of new phrasing without
  metric words, summed by feature group (metric-match TF-IDF, learned matching, embedding
  cosines and ranks, products and bilinear terms, table statistics), with the change from
  seen phrasing;
* with ``--finetune-encoder DIR``, the same with a sentence encoder fine-tuned first
  (:func:`gbscore.finetune.finetune_encoder`, as ``gbscore finetune-encoder`` does) on the kept
  training rows only, so the held-out phrasing stays unseen. The CV figures then flatter:
  the encoder has seen the labels of every CV fold's held-out rows.

Usage::

    PYTHONPATH=. python benchmarks/bench_new_phrasing.py --data-dir ../shared/data/judgebench-dev \\
        --cache-dir DIR [--config FILE] [--held-out 0.3] [--seed 0] [--split-threshold T]
        [--strip-metric-words] [--cv-buffer {config,none,new,all,COSINE}]
        [--groupings phrasing conversation] [--contributions]
        [--finetune-encoder DIR [--finetune-epochs 1] [--finetune-max-seq-length N]]

The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from gbscore.config import (
    DEFAULT_CONFIG,
    build_cv,
    build_pipeline,
    load_config,
    merge_config,
    resolve_cv_buffer,
)
from gbscore.data import load_competition, load_test_labels
from gbscore.finetune import finetune_encoder
from gbscore.model_selection import (
    cross_val_oof,
    phrasing_distance_weights,
    phrasing_groups,
    rmse,
)
from gbscore.models import LightGBMScoreRegressor
from gbscore.pipeline import transform_prefix
from gbscore.stacking import meta_weights
from gbscore.stacking._meta import default_meta, meta_frame

# Feature groups of --contributions, by the first match on a feature name.
_GROUPS = (
    ("metric-match (TF-IDF)", re.compile(r"^match_")),
    ("learned matching", re.compile(r"^contrast_")),
    ("embedding cosines, ranks", re.compile(r"^(cos|rank|z|margin)__")),
    ("products, bilinear", re.compile(r"^(prod|absdiff|bilinear)__")),
)


def new_phrasing_split(X_train, X_test, held_out, seed, threshold="auto"):
    """Which test rows are of new phrasing, and which training rows stay.

    Train and test conversations are clustered together by phrasing (at cosine
    ``threshold``; "auto": :func:`gbscore.phrasing_groups`' own choice); a random ``held_out``
    share of the clusters that hold test rows is held out: their test rows are the new
    phrasing, their training rows are dropped. Returns boolean masks ``(new, keep)`` over the
    test and training rows, and the clustering's cosine threshold.
    """
    both = pd.concat([X_train, X_test[X_train.columns]], ignore_index=True)
    groups, threshold = phrasing_groups(both, threshold=threshold, return_threshold=True)
    g_train, g_test = groups[: len(X_train)], groups[len(X_train) :]
    test_clusters = np.unique(g_test)
    n_out = max(1, round(held_out * len(test_clusters)))
    out = np.random.default_rng(seed).choice(test_clusters, size=n_out, replace=False)
    new, keep = np.isin(g_test, out), ~np.isin(g_train, out)
    print(
        f"phrasing clusters at cosine {threshold}: {len(test_clusters)} hold test rows, "
        f"{n_out} held out; train rows kept {keep.sum()}/{len(keep)}, test rows of new "
        f"phrasing {new.sum()}/{len(new)}",
        flush=True,
    )
    return new, keep, threshold


def _rmse_by_kind(y, pred, kinds):
    row = {"all": rmse(y, pred)}
    for kind in sorted(set(kinds)):
        mask = kinds == kind
        row[kind] = rmse(y[mask], pred[mask])
    return row


def _levels(y, pred, kinds):
    """Mean and share below 5 of truth and prediction, overall and on matched rows: the
    symptom the held-out data showed (well-matched conversations scored as mismatched)."""
    out = {}
    for part, mask in (("all", np.ones(len(y), bool)), ("matched", kinds == "matched")):
        if mask.any():
            out[part] = {
                "truth_mean": float(y[mask].mean()),
                "pred_mean": float(pred[mask].mean()),
                "truth_below_5": float((y[mask] < 5).mean()),
                "pred_below_5": float((pred[mask] < 5).mean()),
            }
    return out


def _group_of(feature):
    return next((g for g, pattern in _GROUPS if pattern.match(feature)), "table statistics, rest")


def contributions(model, parts):
    """Mean LightGBM contribution per feature group on each of ``parts`` ({name: rows}).

    One table per LightGBM pipeline in ``model`` (a stack's bases, or the model itself): rows
    are feature groups plus their total, columns the parts, then each part's change from the
    first one.
    """
    pipes = getattr(model, "named_estimators_", None) or {"model": model}
    tables = {}
    for name, pipe in pipes.items():
        if not isinstance(pipe[-1], LightGBMScoreRegressor):
            continue
        columns = {}
        for part, X in parts.items():
            F = transform_prefix(pipe, X)
            contrib = pipe[-1].model_.predict(F, pred_contrib=True)[:, :-1]  # last: the bias
            mean = pd.Series(contrib.mean(axis=0), index=[str(c) for c in F.columns])
            columns[part] = mean.groupby(_group_of).sum()
        table = pd.DataFrame(columns)
        table.loc["all features"] = table.sum()
        first = next(iter(parts))
        for part in list(parts)[1:]:
            table[f"{part} - {first}"] = table[part] - table[first]
        tables[name] = table
    return tables


def _reweighted_meta(stack, weights, X_test, y_test):
    """Test RMSE of the stack with its meta-learner refitted on reweighted out-of-fold rows.

    The bases are the stack's own refits; only the linear combination changes (no calibration
    map, which the default stack does not use).
    """
    models = [name for name, _ in stack.estimators]
    oof = stack.oof_
    mask = oof.rows_mask(stack.meta_rows)
    final = stack.final_estimator if stack.final_estimator is not None else default_meta()
    gate = getattr(stack, "gate_", None)  # the distance gate's columns, when the stack has one
    frame = meta_frame(oof, models, mask, gate)
    meta = clone(final).fit(frame, oof.y[mask], sample_weight=weights[mask])
    bases = stack.predict_bases(X_test)[models]
    inputs = bases if gate is None else gate.expand(bases, gate.similarity(X_test))
    pred = np.clip(meta.predict(inputs), 0.0, 10.0)
    before = np.clip(stack.final_estimator_.predict(inputs), 0.0, 10.0)
    return {
        "test_rmse": rmse(y_test, pred),
        "test_rmse_unweighted_meta": rmse(y_test, before),
        **meta_weights(meta),  # the linear weights (of the linear half, for "nnls_gbm")
    }


def metric_name_words(metric_names):
    """The words of the metric minor names that no family (major) name holds, sorted.

    Stop words and words under 4 letters are left out. Some are ordinary words too ("user",
    "support", "harm"), so taking them out is harsher than a text that merely never names
    its metric.

    >>> metric_name_words(["privacy_leakage/prompt_based_pii_leakage", "privacy_leakage"])
    ['based', 'prompt']
    """
    family = {w for name in metric_names for w in name.lower().split("/")[0].split("_")}
    minor = {
        w for name in metric_names if "/" in name for w in name.lower().split("/", 1)[1].split("_")
    }
    return sorted(w for w in minor - family if len(w) > 3 and w not in ENGLISH_STOP_WORDS)


def strip_metric_words(X, words):
    """A copy of X with ``words`` (and their plurals) taken out of its text columns."""
    X = X.copy()
    if not words:
        return X
    pattern = re.compile(rf"\b(?:{'|'.join(map(re.escape, words))})(?:s|es)?\b", re.IGNORECASE)
    for col in ("system_prompt", "user_prompt", "response"):
        if col in X:
            X[col] = X[col].map(lambda t: pattern.sub("", t) if isinstance(t, str) else t)
    return X


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True, type=Path)
    ap.add_argument("--cache-dir", type=Path, default=None, help="embedding cache (warm: fast)")
    ap.add_argument("--config", type=Path, default=None, help="as `gbscore run --config`")
    ap.add_argument("--held-out", type=float, default=0.3, help="share of test clusters held out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--split-threshold", type=float, default=None,
        help="cosine at which the split clusters phrasing (default: phrasing_groups' choice); "
        "lower links more texts, so the held-out phrasing is further from the kept rows",
    )  # fmt: skip
    ap.add_argument(
        "--strip-metric-words", action="store_true",
        help="also score the new-phrasing test rows with metric-name words taken out",
    )  # fmt: skip
    ap.add_argument(
        "--groupings", nargs="+", default=["phrasing", "conversation"],
        choices=["phrasing", "conversation"], help="the CVs to report",
    )  # fmt: skip
    ap.add_argument(
        "--contributions", action="store_true",
        help="per feature group, the LightGBM pipelines' mean contributions on matched rows",
    )  # fmt: skip
    ap.add_argument(
        "--finetune-encoder", type=Path, default=None, metavar="DIR",
        help="fine-tune the encoder on the kept training rows into DIR and use it (a DIR "
        "written before for the same --seed and --split-threshold is reused, not retrained)",
    )  # fmt: skip
    ap.add_argument(
        "--cv-buffer", default="config", metavar="{config,none,new,all,COSINE}",
        help="the folds' buffer (cv.buffer): as the config says (default; its \"auto\" is "
        "matched to the new-phrasing test rows, as `gbscore run` matches it on data whose "
        "test is all new phrasing), none, matched to the new-phrasing test rows or to all "
        "test rows (what `gbscore run` would match on these files), or a cosine",
    )  # fmt: skip
    ap.add_argument("--finetune-epochs", type=float, default=1.0)
    ap.add_argument("--finetune-max-seq-length", type=int, default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    data = load_competition(args.data_dir)
    labels = load_test_labels(args.data_dir / "test_labels.csv")
    y_test = labels["score"].to_numpy(dtype=np.float64)
    kinds = labels["kind"].to_numpy() if "kind" in labels else np.full(len(labels), "all")
    X_train, y_train = data.train.drop(columns="score"), data.train["score"].to_numpy()

    new, keep, threshold = new_phrasing_split(
        X_train,
        data.test,
        args.held_out,
        args.seed,
        "auto" if args.split_threshold is None else args.split_threshold,
    )

    config = merge_config(DEFAULT_CONFIG, load_config(args.config) if args.config else {})
    emb = data.metric_embedding_table()
    X_fit = X_train[keep].reset_index(drop=True)
    y_fit = y_train[keep]
    finetune_seconds = None
    if args.finetune_encoder is not None:
        start = time.perf_counter()
        finetune_encoder(
            data.train[keep].reset_index(drop=True),
            out_dir=args.finetune_encoder,
            base_model=config["encoder"].get("model"),
            epochs=args.finetune_epochs,
            max_seq_length=args.finetune_max_seq_length,
            random_state=args.seed,
        )
        finetune_seconds = round(time.perf_counter() - start, 1)
        config = merge_config(config, {"encoder": {"model": str(args.finetune_encoder)}})
        print(f"encoder fine-tuned on the kept training rows: {args.finetune_encoder}")
    buffer_match = None
    if args.cv_buffer == "config" and config["cv"]["buffer"] == "auto":
        args.cv_buffer = "new"
    if args.cv_buffer in ("new", "all"):
        reference = data.test[new] if args.cv_buffer == "new" else data.test
        config, buffer_match = resolve_cv_buffer(
            merge_config(config, {"cv": {"buffer": "auto"}}), X_fit, reference
        )
    elif args.cv_buffer == "none":
        config = merge_config(config, {"cv": {"buffer": None}})
    elif args.cv_buffer != "config":
        config = merge_config(config, {"cv": {"buffer": float(args.cv_buffer)}})
    print(f"cv buffer: {config['cv']['buffer']}", flush=True)
    start = time.perf_counter()
    model = build_pipeline(config, metric_embeddings=emb, cache_dir=args.cache_dir)
    model.fit(X_fit, y_fit)
    pred = np.asarray(model.predict(data.test), dtype=np.float64)
    result = {
        "threshold": threshold,
        "train_rows": int(keep.sum()),
        "test_new_rows": int(new.sum()),
        "fit_predict_seconds": round(time.perf_counter() - start, 1),
        "finetune_seconds": finetune_seconds,
        "cv_buffer": config["cv"]["buffer"],
        "cv_buffer_match": None if buffer_match is None else buffer_match.summary(),
        "test_new": _rmse_by_kind(y_test[new], pred[new], kinds[new]),
        "test_seen": _rmse_by_kind(y_test[~new], pred[~new], kinds[~new]),
        "test_all": _rmse_by_kind(y_test, pred, kinds),
        "cv": {},
        "levels": {
            "test_new": _levels(y_test[new], pred[new], kinds[new]),
            "test_seen": _levels(y_test[~new], pred[~new], kinds[~new]),
        },
    }
    rows = ["test_new", "test_seen"]
    if args.strip_metric_words:
        X_new = data.test[new].reset_index(drop=True)
        stripped = strip_metric_words(X_new, metric_name_words(data.metric_names))
        changed = (stripped.fillna("") != X_new.fillna("")).any(axis=1).mean()
        print(f"metric words taken out of {changed:.0%} of the new-phrasing test rows", flush=True)
        pred_stripped = np.asarray(model.predict(stripped), dtype=np.float64)
        result["test_new_no_metric_words"] = _rmse_by_kind(y_test[new], pred_stripped, kinds[new])
        result["levels"]["test_new_no_metric_words"] = _levels(
            y_test[new], pred_stripped, kinds[new]
        )
        rows.append("test_new_no_metric_words")
    if args.contributions and not (kinds == "matched").any():
        print("--contributions: test_labels.csv marks no row 'matched' (no 'kind' column?)")
    elif args.contributions:
        matched = kinds == "matched"
        parts = {
            "seen": data.test[~new & matched].reset_index(drop=True),
            "new": data.test[new & matched].reset_index(drop=True),
        }
        if args.strip_metric_words:
            parts["new, no metric words"] = stripped[matched[new]].reset_index(drop=True)
        tables = contributions(model, parts)
        result["contributions"] = {n: t.round(4).to_dict() for n, t in tables.items()}
    for grouping in args.groupings:
        cv_config = merge_config(config, {"cv": {"grouping": grouping}})
        if grouping == "conversation":  # the unbuffered reference, as `gbscore cv` shows it
            cv_config["cv"]["buffer"] = None
        if hasattr(model, "oof_"):  # a stack: its own out-of-fold rows are its CV
            stack = model
            if model.cv.grouping != grouping:
                stack = build_pipeline(cv_config, metric_embeddings=emb, cache_dir=args.cache_dir)
                stack.fit(X_fit, y_fit)
            cv_oof, column = stack.oof_, "stack"
        else:
            oof = cross_val_oof(
                {"model": build_pipeline(cv_config, metric_embeddings=emb)},
                X_fit,
                y_fit,
                cv=build_cv(cv_config),
                random_state=config["random_state"],
                cache_dir=args.cache_dir,
                show_progress=False,
            )
            cv_oof, column = oof, "model"
        scores = cv_oof.scores().loc[column]
        result["cv"][grouping] = {
            "shift": scores.rmse_shift,
            "real": scores.rmse_plain,
            "shifted_only": scores.rmse_shifted_only,
            "per_relation": cv_oof.per_relation(column).to_dict(orient="index"),
        }
        # The same CV reweighted to each test set's distance from the kept training phrasing;
        # for the stack's own CV, also its meta-learner refitted on the reweighted rows.
        parts = (("new", new), ("seen", ~new), ("all", np.ones(len(new), dtype=bool)))
        for part, mask in parts:
            dw = phrasing_distance_weights(cv_oof, X_fit, data.test[mask])
            weighted = cv_oof.scores(sample_weight=dw.weights).loc[column]
            result["cv"][grouping][f"shift_weighted_{part}"] = weighted.rmse_shift
            result["cv"][grouping][f"distance_{part}"] = dw.summary()
            if hasattr(model, "oof_") and stack is model:
                result.setdefault("meta_reweighted", {})[part] = _reweighted_meta(
                    model, dw.weights, data.test[mask], y_test[mask]
                )

    print(f"\n{'':36s} {'all':>7s} " + " ".join(f"{k:>10s}" for k in sorted(set(kinds))))
    for name in rows:
        row = result[name]
        print(
            f"{name + ' RMSE':36s} {row['all']:7.3f} "
            + " ".join(f"{row.get(k, float('nan')):10.3f}" for k in sorted(set(kinds)))
        )
    print()
    for name in rows:
        for part, lv in result["levels"][name].items():
            print(
                f"{name + (' (matched rows)' if part == 'matched' else ''):36s} truth mean "
                f"{lv['truth_mean']:.2f} ({lv['truth_below_5']:.0%} below 5), predicted mean "
                f"{lv['pred_mean']:.2f} ({lv['pred_below_5']:.0%} below 5)"
            )
    for grouping, cv in result["cv"].items():
        gap = result["test_new"]["all"] - cv["shift"]
        print(
            f"{grouping + '-fold CV (shift-aware)':36s} {cv['shift']:7.3f}   "
            f"new-phrasing test minus CV: {gap:+.3f}   (real rows only: {cv['real']:.3f})"
        )
        print(
            f"{'  per kind of held-out row':36s} "
            + ", ".join(
                f"{rel} {r['rmse']:.3f} (n {r['n']})" for rel, r in cv["per_relation"].items()
            )
            + f"; mismatched pairs only {cv['shifted_only']:.3f}"
        )
        for part in ("new", "seen", "all"):
            d = cv[f"distance_{part}"]
            test = result[f"test_{part}"]["all"]
            print(
                f"{'  weighted to the ' + part + ' test rows':36s} "
                f"{cv[f'shift_weighted_{part}']:7.3f}   test minus it: "
                f"{test - cv[f'shift_weighted_{part}']:+.3f}   (median nearest-train cosine: "
                f"CV {d['median_similarity_cv']:.2f}, test {d['median_similarity_test']:.2f}; "
                f"effective rows {d['effective_rows']:.0f} of {d['n_real']})"
            )
    for part, r in result.get("meta_reweighted", {}).items():
        print(
            f"{'meta-learner reweighted to ' + part:36s} test {r['test_rmse']:7.3f} (unweighted "
            f"meta-learner {r['test_rmse_unweighted_meta']:.3f}); weights {r['weights']}, "
            f"intercept {r['intercept']:.3f}"
        )
    for name, table in result.get("contributions", {}).items():
        print(f"\nmean contribution on matched test rows, {name} (LightGBM pred_contrib)")
        print(pd.DataFrame(table).to_string(float_format=lambda v: f"{v:7.3f}"))
    print(json.dumps(result, default=float))


if __name__ == "__main__":
    main()
