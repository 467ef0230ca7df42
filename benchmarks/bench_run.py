"""Benchmark the end-to-end `gbscore run` (the stack) on competition-format data.

For judgebench-dev (or any directory with ``test_labels.csv``) it reports:

(a) test RMSE, overall and per ``kind``, of every base model and of the stack, next to the
    baselines in ``baselines.json`` when the directory has one;
(b) seconds spent fitting each base model (its 5 folds plus the final refit, from the stack's
    own timings) and the featurization steps (shared by the bases, and each base's own);
(c) end-to-end wall time and peak memory of `gbscore run` in a child process, with a warm
    embedding cache and with a cold (empty) one. Peak memory is reported two ways:
    ``ru_maxrss`` of the children (the largest single process) and the largest sum over the
    process tree, sampled every 0.5 s (the parent plus its parallel fold workers).

The warm run uses ``--cache-dir`` (filled if needed by the cold run first); the cold run uses
an empty temporary cache. Without ``--cache-dir`` the cold run fills a temporary cache and
the warm run reuses it. Cold encoding of the full data with the default MiniLM takes many
minutes on 2 cores; ``--skip-cold`` leaves it out.

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/bench_run.py \\
        --data-dir ../shared/data/judgebench-dev [--cache-dir DIR] [--skip-cold] [--n-jobs N]

The last printed line is one JSON object with ``warm_seconds``, ``cold_seconds``,
``peak_rss_mb`` and ``test_rmse`` (per model and for the stack).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]

# Measures one `gbscore run` from a fresh interpreter so RUSAGE_CHILDREN covers that run only.
_RUNNER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
rc = subprocess.call(sys.argv[1:])
seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = usage.ru_utime + usage.ru_stime
print(json.dumps({"rc": rc, "seconds": seconds, "maxrss_kib": usage.ru_maxrss, "cpu_seconds": cpu}))
"""


def _tree_rss_sampler(pid, stop, out):
    """Largest sum of RSS over ``pid`` and its descendants, sampled until ``stop`` is set.

    Without psutil (not a core dependency; the dev extra has it) nothing is sampled and the
    figure is reported as unavailable rather than as 0 MB.
    """
    try:
        import psutil
    except ImportError:
        return

    peak = 0
    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:  # gone before the first sample
        out["tree_peak_bytes"] = 0
        return
    while not stop.is_set():
        total = 0
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        peak = max(peak, total)
        stop.wait(0.5)
    out["tree_peak_bytes"] = peak


def gbscore_run(data_dir, cache_dir, report_dir, n_jobs, timeout, config=None):
    """Run `gbscore run` in a child; returns wall seconds, peak RSS (MB) and the report dir."""
    cmd = [
        sys.executable, "-c", _RUNNER,
        sys.executable, "-m", "gbscore.cli", "run",
        "--data-dir", str(data_dir), "--cache-dir", str(cache_dir),
        "--report-dir", str(report_dir), "--out", str(Path(report_dir) / "submission.csv"),
        "--n-jobs", str(n_jobs), "--quiet",
    ]  # fmt: skip
    if config is not None:
        cmd += ["--config", str(config)]
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    load_before = os.getloadavg()[0]
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, text=True)
    stop, sampled = threading.Event(), {}
    sampler = threading.Thread(
        target=_tree_rss_sampler, args=(proc.pid, stop, sampled), daemon=True
    )
    sampler.start()
    try:
        stdout, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise SystemExit(f"`gbscore run` took longer than {timeout} s; raise --timeout") from None
    finally:
        stop.set()
        sampler.join()
    lines = stdout.strip().splitlines()
    result = json.loads(lines[-1])
    if result["rc"] != 0:
        raise SystemExit(f"`gbscore run` failed with exit code {result['rc']}:\n{stdout}")
    return {
        "seconds": result["seconds"],
        # CPU seconds of the run and its workers: what the run costs, whatever else the
        # machine is doing (wall time on a shared machine depends on the other load).
        "cpu_seconds": result["cpu_seconds"],
        "load_avg": (load_before, os.getloadavg()[0]),
        "maxrss_mb": result["maxrss_kib"] / 1024,
        "tree_peak_mb": (
            sampled["tree_peak_bytes"] / 2**20 if "tree_peak_bytes" in sampled else None
        ),
        "report": Path(report_dir),
        "stdout": "\n".join(lines[:-1]),
    }


def _model_seconds(report):
    """Per base model: seconds fitting it over the folds and the refit; plus shared features."""
    from gbscore.model_selection import OOFPredictions

    timings = OOFPredictions.load(report / "oof.npz").timings
    out = {}
    for key, value in timings.items():
        name = key.removeprefix("refit_")
        if name.startswith("model:"):
            model = name.split(":", 1)[1]
            out[model] = out.get(model, 0.0) + value
    out["(featurization steps)"] = timings.get("features", 0.0) + timings.get("refit_features", 0.0)
    return out


def _fmt(v, width=8):
    return f"{v:>{width}.3f}" if isinstance(v, float) and np.isfinite(v) else f"{'-':>{width}}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--cache-dir", type=Path, default=None, help="Warm embedding cache.")
    parser.add_argument("--out-dir", type=Path, default=None, help="Keep the reports here.")
    parser.add_argument(
        "--n-jobs", type=int, default=-1, help="`gbscore run --n-jobs` (default -1)."
    )
    parser.add_argument("--skip-cold", action="store_true", help="Leave out the cold-cache run.")
    parser.add_argument("--config", type=Path, default=None, help="`gbscore run --config`.")
    parser.add_argument("--timeout", type=int, default=4 * 3600, help="Seconds per run.")
    args = parser.parse_args(argv)

    work = Path(args.out_dir or tempfile.mkdtemp(prefix="gbscore-bench-run-"))
    work.mkdir(parents=True, exist_ok=True)
    cold = None
    warm_cache = args.cache_dir
    if not args.skip_cold:
        cold_cache = Path(tempfile.mkdtemp(prefix="gbscore-cold-cache-"))
        print(f"cold run (empty cache {cold_cache}) ...", flush=True)
        cold = gbscore_run(
            args.data_dir, cold_cache, work / "cold", args.n_jobs, args.timeout, args.config
        )
        print(f"  {cold['seconds']:.1f} s", flush=True)
        warm_cache = warm_cache or cold_cache
    if warm_cache is None:
        raise SystemExit("--skip-cold needs --cache-dir (a warm cache)")
    print(f"warm run (cache {warm_cache}) ...", flush=True)
    warm = gbscore_run(
        args.data_dir, warm_cache, work / "warm", args.n_jobs, args.timeout, args.config
    )
    print(f"  {warm['seconds']:.1f} s", flush=True)

    metrics = json.loads((warm["report"] / "metrics.json").read_text())
    rows = []
    seconds = _model_seconds(warm["report"])
    for model, scores in {**metrics.get("test_models", {}), "stack": metrics["test"]}.items():
        rows.append({"model": model, "seconds": seconds.get(model, float("nan")), **scores})
    ours = pd.DataFrame(rows)
    baselines = pd.DataFrame()
    base_file = args.data_dir / "baselines.json"
    if base_file.is_file():
        baselines = pd.DataFrame(json.loads(base_file.read_text())["results"])
    cv = metrics.get("cv_models", {})
    kinds = sorted(k.removeprefix("rmse_") for k in metrics["test"] if k.startswith("rmse_"))

    header = f"{'model':<34} {'test RMSE':>9} " + " ".join(f"{k:>10}" for k in kinds)
    header += f" {'CV shift':>9} {'fit s':>8}"
    print()
    print(header)
    print("-" * len(header))
    for _, r in ours.iterrows():
        line = f"{r['model']:<34} {_fmt(r['rmse'], 9)} "
        line += " ".join(_fmt(r.get(f"rmse_{k}", float("nan")), 10) for k in kinds)
        cv_shift = cv.get(r["model"], {}).get("rmse_shift", float("nan"))
        line += f" {_fmt(cv_shift, 9)} {_fmt(r['seconds'])}"
        print(line)
    for _, r in baselines.iterrows():
        name = f"baseline {r['baseline']}: {r['desc']}"[:34]
        line = f"{name:<34} {_fmt(r['rmse'], 9)} "
        line += " ".join(_fmt(r.get(f"rmse_{k}", float("nan")), 10) for k in kinds)
        line += f" {_fmt(float('nan'), 9)} {_fmt(float(r.get('seconds', float('nan'))))}"
        print(line)
    pad = " " * (9 + 11 * len(kinds) + 10)
    print(f"{'(featurization steps, all fits)':<34} {pad} {_fmt(seconds['(featurization steps)'])}")
    weights = metrics.get("stack_weights", {})
    if weights:
        print(
            "stack weights:",
            json.dumps(weights.get("weights")),
            "intercept",
            round(weights["intercept"], 3),
        )
    print()
    best_base = ours[ours.model != "stack"]["rmse"].min()
    stack_rmse = float(ours.loc[ours.model == "stack", "rmse"].iloc[0])
    best_baseline = float(baselines["rmse"].min()) if len(baselines) else float("nan")
    for name, run in (("warm", warm), ("cold", cold)):
        if run is not None:
            print(
                f"{name}: `gbscore run` {run['seconds']:.1f} s wall, "
                f"{run['cpu_seconds']:.0f} CPU s, "
                f"1-min load average {run['load_avg'][0]:.1f} before / {run['load_avg'][1]:.1f} "
                f"after; peak RSS {run['maxrss_mb']:.0f} MB (largest process), "
                + (
                    "process tree not sampled (pip install psutil)"
                    if run["tree_peak_mb"] is None
                    else f"{run['tree_peak_mb']:.0f} MB (process tree, sampled)"
                )
            )
    print(
        f"stack {stack_rmse:.4f} vs best base {best_base:.4f} vs best baseline {best_baseline:.4f}"
    )
    summary = {
        "warm_seconds": round(warm["seconds"], 1),
        "cold_seconds": None if cold is None else round(cold["seconds"], 1),
        "warm_cpu_seconds": round(warm["cpu_seconds"], 1),
        "cold_cpu_seconds": None if cold is None else round(cold["cpu_seconds"], 1),
        "load_avg_warm": [round(v, 2) for v in warm["load_avg"]],
        "load_avg_cold": None if cold is None else [round(v, 2) for v in cold["load_avg"]],
        "peak_rss_mb": round(max(warm["maxrss_mb"], cold["maxrss_mb"] if cold else 0), 1),
        "peak_rss_tree_mb": max(
            (round(r["tree_peak_mb"], 1) for r in (warm, cold) if r and r["tree_peak_mb"]),
            default=None,
        ),
        "test_rmse": {r["model"]: round(float(r["rmse"]), 4) for _, r in ours.iterrows()},
        "test_rmse_by_kind": {
            r["model"]: {k: round(float(r[f"rmse_{k}"]), 4) for k in kinds}
            for _, r in ours.iterrows()
        },
        "fit_seconds": {k: round(v, 1) for k, v in seconds.items()},
        "cv_rmse_shift": {k: round(v["rmse_shift"], 4) for k, v in cv.items()},
        "stack_beats_every_model": bool(stack_rmse < best_base),
        "stack_beats_every_baseline": bool(stack_rmse < best_baseline) if len(baselines) else None,
        "n_jobs": args.n_jobs,
        "cpu_count": os.cpu_count(),
        "report_dir": str(warm["report"]),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
