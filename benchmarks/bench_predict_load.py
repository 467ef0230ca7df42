"""Load test of `gbscore predict`: rows per second and peak memory on a large test file.

Builds a competition-format ``test_data.json`` of ``--rows`` rows (default 100,000) from the
conversations of ``--data-dir``'s test set, each paired with metrics in turn, so every text is
one the embedding cache may already hold; then runs ``gbscore predict`` with a saved model in
a child process, once per ``--batch-rows`` value, and prints wall time, rows/s and peak RSS.
Memory is bounded when the peak stays flat as the file grows: ``--rows`` is also run at a
quarter of its size to show it.

    python benchmarks/bench_predict_load.py --model REPORT/model.joblib \\
        --data-dir ../shared/data/judgebench-dev --cache-dir DIR [--rows 100000] \\
        [--batch-rows 20000 1000000]

The last printed line is one JSON object with every run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

# The child-process runner and the process-tree RSS sampler of bench_run (same folder).
from bench_run import _RUNNER, _tree_rss_sampler

from gbscore.data import load_competition

REPO = Path(__file__).resolve().parents[1]


def write_load_file(data_dir, rows, out_dir):
    """A ``test_data.json`` of ``rows`` rows: test conversations crossed with metrics."""
    data = load_competition(data_dir)
    test = data.test
    names = list(data.metric_names)
    n_conv = len(test)
    records = []
    for i in range(rows):
        conv = test.iloc[i % n_conv]
        # A different metric each time a conversation comes round again.
        metric = names[(i % n_conv * 7 + i // n_conv) % len(names)]
        records.append(
            {
                "metric_name": metric,
                "system_prompt": conv["system_prompt"],
                "user_prompt": conv["user_prompt"],
                "response": conv["response"],
            }
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "test_data.json").write_text(json.dumps(records), encoding="utf-8")
    for name in ("metric_names.json", "metric_name_embeddings.npy"):
        if (Path(data_dir) / name).is_file():
            shutil.copy(Path(data_dir) / name, out_dir / name)
    return out_dir


def run_predict(model, data_dir, cache_dir, out, batch_rows):
    cmd = [
        sys.executable, "-c", _RUNNER,
        sys.executable, "-m", "gbscore.cli", "predict", "--model", str(model),
        "--data-dir", str(data_dir), "--out", str(out), "--batch-rows", str(batch_rows),
        "--quiet",
    ]  # fmt: skip
    if cache_dir:
        cmd += ["--cache-dir", str(cache_dir)]
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.setdefault("HF_HUB_OFFLINE", "1")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    stop, sampled = threading.Event(), {}
    sampler = threading.Thread(
        target=_tree_rss_sampler, args=(proc.pid, stop, sampled), daemon=True
    )
    sampler.start()
    stdout, _ = proc.communicate()
    stop.set()
    sampler.join()
    result = json.loads(stdout.strip().splitlines()[-1])
    if result["rc"] != 0:
        raise SystemExit(f"`gbscore predict` failed ({result['rc']}):\n{stdout}")
    n_out = sum(1 for _ in open(out, encoding="utf-8")) - 1
    return {
        "seconds": round(result["seconds"], 1),
        "cpu_seconds": round(result["cpu_seconds"], 1),
        "maxrss_mb": round(result["maxrss_kib"] / 1024),
        # None when psutil is missing: the tree was not sampled (not 0 MB).
        "tree_peak_mb": (
            round(sampled["tree_peak_bytes"] / 2**20) if "tree_peak_bytes" in sampled else None
        ),
        "rows_written": n_out,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, type=Path, help="a model saved by gbscore")
    ap.add_argument("--data-dir", required=True, type=Path)
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--batch-rows", type=int, nargs="+", default=[20_000, 10**9])
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="gbscore-load-"))
    results = []
    sizes = [args.rows // 4, args.rows]
    for rows in sizes:
        folder = write_load_file(args.data_dir, rows, work / f"rows{rows}")
        for batch in args.batch_rows:
            if rows == sizes[0] and batch != args.batch_rows[0]:
                continue  # the quarter-size file only shows the batched peak is flat
            print(f"predict {rows} rows, batch_rows={batch} ...", flush=True)
            r = run_predict(args.model, folder, args.cache_dir, folder / f"sub{batch}.csv", batch)
            r.update({"rows": rows, "batch_rows": batch, "rows_per_s": round(rows / r["seconds"])})
            assert r["rows_written"] == rows, r
            results.append(r)
            print(
                f"  {r['seconds']:.0f} s, {r['rows_per_s']} rows/s, peak RSS {r['maxrss_mb']} MB "
                + (
                    "(tree not sampled: pip install psutil)"
                    if r["tree_peak_mb"] is None
                    else f"(tree {r['tree_peak_mb']} MB)"
                ),
                flush=True,
            )
    batched = [r for r in results if r["batch_rows"] == args.batch_rows[0]]
    if len(batched) == 2:
        print(
            f"batched peak RSS at {sizes[1]} vs {sizes[0]} rows: "
            f"{batched[1]['maxrss_mb'] / batched[0]['maxrss_mb']:.2f}x "
            f"for {sizes[1] / sizes[0]:.0f}x the rows"
        )
    one_shot = [
        r for r in results if r["rows"] == sizes[1] and r["batch_rows"] != args.batch_rows[0]
    ]
    if one_shot and batched:
        print(
            f"{sizes[1]} rows in one batch vs batches of {args.batch_rows[0]}: peak RSS "
            f"{one_shot[0]['maxrss_mb'] / batched[-1]['maxrss_mb']:.2f}x, wall "
            f"{one_shot[0]['seconds'] / batched[-1]['seconds']:.2f}x"
        )
    print(json.dumps({"runs": results}))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
