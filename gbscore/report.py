"""The report folder: metrics, per-bin RMSE, plots, config and timings."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from .validation import per_bin_rmse, rmse

__all__ = ["write_json", "write_report", "plot_histograms", "plot_per_bin"]


def write_json(path, obj):
    """Write ``obj`` as indented JSON atomically (numpy scalars and arrays converted)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def default(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, Path):
            return str(o)
        raise TypeError(f"not JSON serialisable: {type(o).__name__}")

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, default=default, allow_nan=True)
        fh.write("\n")
    os.replace(tmp, path)
    return path


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


def plot_pred_vs_true(path, y_true, y_pred, *, title="Out-of-fold prediction vs truth"):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    rng = np.random.default_rng(0)
    jitter = rng.uniform(-0.15, 0.15, size=len(y_true))
    ax.scatter(np.asarray(y_true) + jitter, y_pred, s=4, alpha=0.3)
    ax.plot([0, 10], [0, 10], color="black", lw=1)
    ax.set_xlim(-0.5, 10.5)
    ax.set_ylim(-0.5, 10.5)
    ax.set_xlabel("true score (jittered)")
    ax.set_ylabel("predicted")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(
    report_dir,
    *,
    config,
    timings,
    cv=None,
    test_pred=None,
    test_labels=None,
    feature_importances=None,
    extra=None,
):
    """Write the report folder and return the summary dict written to ``metrics.json``.

    Files: ``metrics.json`` (CV RMSE plain and shift-aware, per-bin, test-prediction stats,
    test RMSE when labels are given), ``config.json``, ``timings.json``, ``per_bin_rmse.csv``,
    ``hist_predictions.png``, ``per_bin_rmse.png``, ``oof_vs_true.png``,
    ``feature_importances.csv`` and ``summary.md``.
    """
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    metrics = dict(extra or {})
    hist = {}
    if cv is not None:
        metrics["cv"] = cv.summary()
        table = pd.concat(
            [
                per_bin_rmse(cv.y, cv.oof).assign(set="plain"),
                per_bin_rmse(np.concatenate([cv.y, cv.shift_y]), np.concatenate([cv.oof, cv.shift_pred])).assign(
                    set="shift_aware"
                ),
            ]
        )
        table.to_csv(report_dir / "per_bin_rmse.csv", index=False)
        plot_per_bin(
            report_dir / "per_bin_rmse.png",
            {"plain CV": table[table.set == "plain"], "shift-aware CV": table[table.set == "shift_aware"]},
        )
        plot_pred_vs_true(report_dir / "oof_vs_true.png", cv.y, cv.oof)
        hist["train CV (real rows)"] = cv.oof
        if len(cv.shift_pred):
            hist["CV mismatched pairs"] = cv.shift_pred
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
    if hist:
        plot_histograms(report_dir / "hist_predictions.png", hist)
    if feature_importances is not None:
        feature_importances.to_csv(report_dir / "feature_importances.csv", index=False)
    write_json(report_dir / "metrics.json", metrics)
    write_json(report_dir / "config.json", config)
    write_json(report_dir / "timings.json", timings)
    (report_dir / "summary.md").write_text(_summary_md(metrics, timings), encoding="utf-8")
    return metrics


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
            f"- CV RMSE, held-out real rows (plain): **{_fmt(cv['rmse_plain'])}** ({cv['n_real']} rows)",
            f"- CV RMSE, shift-aware (real + {cv['n_shifted']} mismatched pairs): **{_fmt(cv['rmse_shift'])}**",
            "",
            "| true-score bin | n (plain) | RMSE plain | n (shift-aware) | RMSE shift-aware |",
            "|---|---|---|---|---|",
        ]
        for p, s in zip(cv["per_bin_plain"], cv["per_bin_shift"], strict=True):
            lines.append(f"| {p['bin']} | {p['n']} | {_fmt(p['rmse'])} | {s['n']} | {_fmt(s['rmse'])} |")
        lines.append("")
    tp = metrics.get("test_predictions")
    if tp:
        lines.append(
            f"- test predictions: n={tp['n']}, mean {_fmt(tp['mean'])}, sd {_fmt(tp['sd'])}, "
            f"{100 * tp['share_below_5']:.1f}% below 5"
        )
    if "test" in metrics:
        lines.append("- test RMSE (labels given): " + ", ".join(f"{k} {_fmt(v)}" for k, v in metrics["test"].items()))
    lines += ["", "## Timings (seconds)", ""]
    lines += [f"- {k}: {_fmt(v)}" for k, v in timings.items()]
    return "\n".join(lines) + "\n"
