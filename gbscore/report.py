"""The report folder: metrics, per-bin RMSE, plots, config and timings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ._io import atomic_write
from .model_selection import per_bin_rmse, rmse

__all__ = [
    "plot_histograms",
    "plot_importances",
    "plot_oof_grid",
    "plot_per_bin",
    "plot_per_bin_models",
    "write_json",
    "write_report",
]


def write_json(path, obj):
    """Write ``obj`` as indented JSON atomically (numpy scalars and arrays converted)."""

    def default(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, Path):
            return str(o)
        raise TypeError(f"not JSON serialisable: {type(o).__name__}")

    text = json.dumps(obj, indent=2, default=default, allow_nan=True) + "\n"
    return atomic_write(path, lambda fh: fh.write(text), text=True)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # reports are files; never needs a screen
    import matplotlib.pyplot as plt

    return plt


def plot_histograms(path, series, *, title="Predicted score distribution"):
    """Overlaid histograms of several prediction arrays (label -> values) on 0..10."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    bins = np.linspace(0, 10, 41)
    for label, values in series.items():
        values = np.asarray(values, dtype=float)
        if len(values):
            ax.hist(values, bins=bins, alpha=0.5, density=True, label=f"{label} (n={len(values)})")
    ax.set_xlabel("score")
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_per_bin(path, tables, *, title="CV RMSE per true-score bin"):
    """Grouped bars of RMSE per bin for several per-bin tables (label -> DataFrame)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / max(len(tables), 1)
    for i, (label, table) in enumerate(tables.items()):
        x = np.arange(len(table)) + i * width
        ax.bar(x, table["rmse"].fillna(0), width=width, label=label)
        for xi, n in zip(x, table["n"], strict=True):
            ax.text(xi, 0, str(n), ha="center", va="bottom", fontsize=7)
    first = next(iter(tables.values()))
    ax.set_xticks(np.arange(len(first)) + width * (len(tables) - 1) / 2, first["bin"])
    ax.set_xlabel("true score bin (bar foot: rows)")
    ax.set_ylabel("RMSE")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_per_bin_models(path, table, *, title="CV RMSE per true-score bin"):
    """Two panels (plain, shift-aware) of RMSE bars per bin, one bar colour per model.

    ``table`` is the long per-bin table written to ``per_bin_rmse.csv`` (columns ``model``,
    ``set``, ``bin``, ``n``, ``rmse``).
    """
    plt = _pyplot()
    sets = [s for s in ("plain", "shift_aware") if s in set(table["set"])]
    models = list(dict.fromkeys(table["model"]))
    fig, axes = plt.subplots(len(sets), 1, figsize=(8, 3.2 * len(sets)), squeeze=False)
    width = 0.8 / max(len(models), 1)
    for ax, which in zip(axes[:, 0], sets, strict=True):
        part = table[table["set"] == which]
        bins = list(dict.fromkeys(part["bin"]))
        for i, model in enumerate(models):
            rows = part[part["model"] == model].set_index("bin").reindex(bins)
            ax.bar(
                np.arange(len(bins)) + i * width, rows["rmse"].fillna(0), width=width, label=model
            )
        counts = part.drop_duplicates("bin").set_index("bin")["n"].reindex(bins)
        ax.set_xticks(
            np.arange(len(bins)) + width * (len(models) - 1) / 2,
            [f"{b}\n(n={int(c)})" for b, c in counts.items()],
        )
        ax.set_ylabel("RMSE")
        rows_label = "held-out real rows" if which == "plain" else "real rows + mismatched pairs"
        ax.set_title(f"{title}: {rows_label}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_oof_grid(path, oof):
    """Out-of-fold prediction vs truth, one panel per model; mismatched pairs in another colour."""
    plt = _pyplot()
    models = oof.models
    cols = min(len(models), 3)
    rows = int(np.ceil(len(models) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 4.2 * rows), squeeze=False)
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, size=len(oof.y))
    for ax, model in zip(axes.ravel(), models, strict=False):
        pred = oof.preds[model].to_numpy()
        for mask, label in ((~oof.is_shifted, "real rows"), (oof.is_shifted, "mismatched pairs")):
            if mask.any():
                ax.scatter(oof.y[mask] + jitter[mask], pred[mask], s=3, alpha=0.25, label=label)
        ax.plot([0, 10], [0, 10], color="black", lw=1)
        ax.set_xlim(-0.5, 10.5)
        ax.set_ylim(-0.5, 10.5)
        ax.set_title(f"{model}: RMSE {rmse(oof.y, pred):.3f}")
        ax.set_xlabel("true score (jittered)")
        ax.set_ylabel("out-of-fold prediction")
        ax.legend(fontsize=7, markerscale=3)
    for ax in axes.ravel()[len(models) :]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_importances(path, tables, *, top=20):
    """Horizontal bars of the ``top`` features of each model (``{model: DataFrame}``)."""
    plt = _pyplot()
    fig, axes = plt.subplots(
        1, len(tables), figsize=(5.5 * len(tables), 0.28 * top + 1.2), squeeze=False
    )
    for ax, (model, table) in zip(axes[0], tables.items(), strict=True):
        head = table.head(top).iloc[::-1]
        ax.barh(head["feature"].astype(str), head["importance"])
        ax.set_title(f"{model}: top {min(top, len(table))} features")
        ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _per_bin_table(oof):
    parts = []
    real = ~oof.is_shifted
    for model in oof.models:
        p = oof.preds[model].to_numpy()
        parts.append(per_bin_rmse(oof.y[real], p[real]).assign(model=model, set="plain"))
        parts.append(per_bin_rmse(oof.y, p).assign(model=model, set="shift_aware"))
    table = pd.concat(parts, ignore_index=True)
    return table[["model", "set", "bin", "n", "rmse", "mean_pred"]]


def write_report(
    report_dir,
    *,
    config,
    timings,
    oof=None,
    oof_conversation=None,
    stack_weights=None,
    test_pred=None,
    test_base_preds=None,
    test_labels=None,
    feature_importances=None,
    extra=None,
):
    """Write the report folder and return the summary dict written to ``metrics.json``.

    Parameters
    ----------
    report_dir : path
    config, timings : dict
        Written to ``config.json`` and ``timings.json``.
    oof : OOFPredictions, optional
        Out-of-fold predictions of every model (a ``"stack"`` column is the headline model).
    oof_conversation : OOFPredictions, optional
        The same models cross-validated with folds grouped by identical conversation only,
        shown beside ``oof`` (grouped by phrasing cluster): the gap between the two is how
        much the models lean on phrasing seen in training.
    stack_weights : dict, optional
        The meta-learner (:func:`gbscore.stacking.meta_weights`).
    test_pred : array, optional
        The submitted test predictions.
    test_base_preds : DataFrame, optional
        Test predictions of each base model.
    test_labels : DataFrame, optional
        ``score`` (and ``kind``) of the test rows, when known.
    feature_importances : DataFrame or dict of str to DataFrame, optional
        Feature importances by name, of one model or per base model.
    extra : dict, optional
        Added to ``metrics.json``.

    Files: ``metrics.json`` (CV RMSE plain and shift-aware of every model, per-bin, test
    prediction stats, test RMSE when labels are given), ``cv_scores.csv``,
    ``per_bin_rmse.csv`` and ``per_bin_rmse.png``, ``oof_vs_true.png``,
    ``hist_predictions.png``, ``stack_weights.json``, ``feature_importances[_MODEL].csv`` and
    ``feature_importances.png``, ``config.json``, ``timings.json``, ``summary.md``, and
    ``report.html``: one self-contained page (the summary's tables, every plot embedded, the
    timings) that any browser shows offline.
    """
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    metrics = dict(extra or {})
    hist = {}
    if oof_conversation is not None:
        scores = oof_conversation.scores()
        metrics["cv_models_conversation"] = scores.to_dict(orient="index")
    if oof is not None:
        primary = "stack" if "stack" in oof.models else oof.models[0]
        metrics["cv"] = {"model": primary, **oof.summary(primary)}
        scores = oof.scores()
        scores.to_csv(report_dir / "cv_scores.csv")
        metrics["cv_models"] = scores.to_dict(orient="index")
        table = _per_bin_table(oof)
        table.to_csv(report_dir / "per_bin_rmse.csv", index=False)
        plot_per_bin_models(report_dir / "per_bin_rmse.png", table)
        plot_oof_grid(report_dir / "oof_vs_true.png", oof)
        p = oof.preds[primary].to_numpy()
        hist[f"{primary} CV (real rows)"] = p[~oof.is_shifted]
        if oof.is_shifted.any():
            hist[f"{primary} CV mismatched pairs"] = p[oof.is_shifted]
    if stack_weights is not None:
        metrics["stack_weights"] = stack_weights
        write_json(report_dir / "stack_weights.json", stack_weights)
    if test_pred is not None:
        test_pred = np.asarray(test_pred, dtype=float)
        metrics["test_predictions"] = {
            "n": int(len(test_pred)),
            "mean": float(test_pred.mean()),
            "sd": float(test_pred.std()),
            "share_below_5": float((test_pred < 5).mean()),
        }
        hist["test"] = test_pred
        if test_labels is not None:
            metrics["test"] = _test_scores(test_labels, test_pred)
            if test_base_preds is not None:
                metrics["test_models"] = {
                    str(m): _test_scores(test_labels, test_base_preds[m].to_numpy())
                    for m in test_base_preds.columns
                }
    if hist:
        plot_histograms(report_dir / "hist_predictions.png", hist)
    if test_base_preds is not None and len(test_base_preds.columns):
        series = {str(m): test_base_preds[m].to_numpy() for m in test_base_preds.columns}
        if test_pred is not None:
            series["submitted"] = test_pred
        plot_histograms(
            report_dir / "hist_test_models.png", series, title="Test predictions per model"
        )
    if isinstance(feature_importances, pd.DataFrame):
        feature_importances = {str(config.get("model", "model")): feature_importances}
        feature_importances[next(iter(feature_importances))].to_csv(
            report_dir / "feature_importances.csv", index=False
        )
    if feature_importances:
        for model, table in feature_importances.items():
            table.to_csv(report_dir / f"feature_importances_{model}.csv", index=False)
        plot_importances(report_dir / "feature_importances.png", feature_importances)
    write_json(report_dir / "metrics.json", metrics)
    write_json(report_dir / "config.json", config)
    write_json(report_dir / "timings.json", timings)
    (report_dir / "summary.md").write_text(_summary_md(metrics, timings), encoding="utf-8")
    (report_dir / "report.html").write_text(
        _report_html(report_dir, metrics, timings), encoding="utf-8"
    )
    return metrics


_RELATION_NOTE = (
    "real rows are scored against the judge's scores; the mismatched pairs the sampler built, "
    "by relation, against labels drawn from the label policy's band for it, so those rows "
    "show how well the model reproduces the policy, not the judge: they cannot see a band "
    "that misses the judge's scores (user-given pairs, 'given', keep their own labels)."
)


def _test_scores(labels, pred):
    out = {"rmse": rmse(labels["score"], pred)}
    if "kind" in labels.columns:
        for kind, idx in labels.groupby("kind").indices.items():
            out[f"rmse_{kind}"] = rmse(labels["score"].to_numpy()[idx], pred[idx])
    return out


def _fmt(v):
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def _summary_md(metrics, timings):
    lines = ["# gbscore report", ""]
    cv = metrics.get("cv")
    if cv:
        lines += [
            f"Cross-validation of **{cv['model']}**: {cv['n_real']} held-out real rows and "
            f"{cv['n_shifted']} mismatched pairs built from them; folds grouped by "
            f"{cv.get('grouping', 'conversation')}"
            + (
                ""
                if cv.get("buffer") is None
                else f", without the training conversations within cosine {cv['buffer']:.3f} "
                "of each fold's held-out ones (cv.buffer)"
            )
            + ".",
            "",
        ]
        tables = [(cv.get("grouping", ""), metrics.get("cv_models") or {})]
        if metrics.get("cv_models_conversation"):
            tables.append(("conversation", metrics["cv_models_conversation"]))
        for grouping, models in tables:
            if not models:
                continue
            lines += [
                f"| model ({grouping} folds) | CV RMSE plain | CV RMSE shift-aware "
                "| mismatched pairs only |",
                "|---|---|---|---|",
            ]
            for name, row in models.items():
                cells = [row["rmse_plain"], row["rmse_shift"], row["rmse_shifted_only"]]
                lines.append(f"| {name} | " + " | ".join(_fmt(c) for c in cells) + " |")
            lines.append("")
        lines += [
            f"Per true-score bin ({cv['model']}):",
            "",
            "| true-score bin | n (plain) | RMSE plain | n (shift-aware) | RMSE shift-aware |",
            "|---|---|---|---|---|",
        ]
        for p, s in zip(cv["per_bin_plain"], cv["per_bin_shift"], strict=True):
            lines.append(
                f"| {p['bin']} | {p['n']} | {_fmt(p['rmse'])} | {s['n']} | {_fmt(s['rmse'])} |"
            )
        lines.append("")
        if cv.get("per_relation"):
            lines += [f"Per kind of held-out row ({cv['model']}): {_RELATION_NOTE}", ""]
            lines += [
                "| rows | n | RMSE | mean true | mean predicted |",
                "|---|---|---|---|---|",
            ]
            for r in cv["per_relation"]:
                cells = [r["rmse"], r["mean_true"], r["mean_pred"]]
                lines.append(
                    f"| {r['relation']} | {r['n']} | " + " | ".join(_fmt(c) for c in cells) + " |"
                )
            lines.append("")
    weights = metrics.get("stack_weights")
    if weights and "weights" in weights:
        lines.append(
            f"- stack weights ({weights['meta']}): "
            + ", ".join(f"{k} {v:.3f}" for k, v in weights["weights"].items())
            + f", intercept {weights['intercept']:.3f}"
        )
    calibration = (weights or {}).get("calibration")
    if calibration:
        lines.append(
            "- monotone calibration of the stack: out-of-fold RMSE "
            f"{_fmt(calibration['rmse_uncalibrated'])} -> {_fmt(calibration['rmse_calibrated'])}"
            f", {'used' if calibration['used'] else 'not used'}"
        )
    tp = metrics.get("test_predictions")
    if tp:
        lines.append(
            f"- test predictions: n={tp['n']}, mean {_fmt(tp['mean'])}, sd {_fmt(tp['sd'])}, "
            f"{100 * tp['share_below_5']:.1f}% below 5"
        )
    if "test" in metrics:
        lines.append(
            "- test RMSE (labels given): "
            + ", ".join(f"{k} {_fmt(v)}" for k, v in metrics["test"].items())
        )
    for name, scores in (metrics.get("test_models") or {}).items():
        lines.append(f"  - {name}: " + ", ".join(f"{k} {_fmt(v)}" for k, v in scores.items()))
    lines += ["", "## Timings (seconds)", ""]
    lines += [f"- {k}: {_fmt(v)}" for k, v in timings.items()]
    return "\n".join(lines) + "\n"


# The plots report.html embeds, in this order, with their headings.
_HTML_PLOTS = (
    ("hist_predictions.png", "Predicted score distribution"),
    ("hist_test_models.png", "Test predictions per model"),
    ("per_bin_rmse.png", "CV RMSE per true-score bin"),
    ("oof_vs_true.png", "Out-of-fold prediction vs truth"),
    ("feature_importances.png", "Feature importances"),
)
_HTML_STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}"
    "th:first-child,td:first-child{text-align:left}img{max-width:100%}"
)


def _html_table(rows, index_name):
    """An HTML table of ``{row name: {column: value}}``, floats to 3 decimals."""
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = index_name
    return frame.to_html(float_format=lambda v: f"{v:.3f}", border=0, na_rep="-")


def _report_html(report_dir, metrics, timings):
    """One self-contained page: the summary's tables, the plots inlined, the timings."""
    import base64
    import html

    esc = html.escape
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>gbscore report</title>",
        f"<style>{_HTML_STYLE}</style></head><body><h1>gbscore report</h1>",
    ]
    cv = metrics.get("cv")
    if cv:
        parts.append(
            f"<p>Cross-validation of <b>{esc(str(cv['model']))}</b>: {cv['n_real']} held-out "
            f"real rows and {cv['n_shifted']} mismatched pairs built from them.</p>"
        )
        for grouping, key in (
            (cv.get("grouping", ""), "cv_models"),
            ("conversation", "cv_models_conversation"),
        ):
            if metrics.get(key):
                buffered = key == "cv_models" and cv.get("buffer") is not None
                parts.append(
                    f"<h2>CV RMSE, folds grouped by {esc(str(grouping))}"
                    + (f", buffered at cosine {cv['buffer']:.3f}" if buffered else "")
                    + "</h2>"
                )
                parts.append(_html_table(metrics[key], "model"))
        bins = {
            p["bin"]: {
                "n (plain)": p["n"],
                "RMSE plain": p["rmse"],
                "n (shift-aware)": s["n"],
                "RMSE shift-aware": s["rmse"],
            }
            for p, s in zip(cv["per_bin_plain"], cv["per_bin_shift"], strict=True)
        }
        parts.append(f"<h2>Per true-score bin ({esc(str(cv['model']))})</h2>")
        parts.append(_html_table(bins, "true-score bin"))
        if cv.get("per_relation"):
            parts.append(f"<h2>Per kind of held-out row ({esc(str(cv['model']))})</h2>")
            parts.append(f"<p>{esc(_RELATION_NOTE)}</p>")
            kinds = {
                r["relation"]: {
                    "n": r["n"],
                    "RMSE": r["rmse"],
                    "mean true": r["mean_true"],
                    "mean predicted": r["mean_pred"],
                }
                for r in cv["per_relation"]
            }
            parts.append(_html_table(kinds, "rows"))
    weights = metrics.get("stack_weights") or {}
    if "weights" in weights:
        parts.append("<h2>Stack</h2>")
        rows = {m: {"weight": w} for m, w in weights["weights"].items()}
        rows["(intercept)"] = {"weight": weights["intercept"]}
        parts.append(_html_table(rows, f"meta-learner ({esc(str(weights['meta']))})"))
        if weights.get("calibration"):
            parts.append(_html_table({"stack": weights["calibration"]}, "monotone calibration"))
    if metrics.get("test_predictions"):
        parts.append("<h2>Test set</h2>")
        parts.append(_html_table({"predictions": metrics["test_predictions"]}, ""))
    if metrics.get("test"):
        tests = {"submitted": metrics["test"], **(metrics.get("test_models") or {})}
        parts.append(_html_table(tests, "test RMSE (labels given)"))
    for name, title in _HTML_PLOTS:
        path = Path(report_dir) / name
        if path.is_file():
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            parts.append(
                f"<h2>{esc(title)}</h2><img alt='{esc(title)}' src='data:image/png;base64,{data}'>"
            )
    parts.append("<h2>Timings (seconds)</h2>")
    parts.append(_html_table({k: {"seconds": v} for k, v in timings.items()}, "step"))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
