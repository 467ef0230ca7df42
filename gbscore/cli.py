"""The ``gbscore`` command: run, train, predict, cv, demo."""

from __future__ import annotations

import logging
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import click
import numpy as np

from .exceptions import GbscoreError

log = logging.getLogger("gbscore")

DEFAULT_REPORT_DIR = "gbscore-report"


class Timer(dict):
    """Named wall-clock timings, in seconds."""

    @contextmanager
    def step(self, name):
        log.info("%s ...", name)
        start = time.perf_counter()
        yield
        self[name] = round(time.perf_counter() - start, 2)
        log.info("%s done in %.1fs", name, self[name])


def _setup(quiet):
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO, format="gbscore: %(message)s"
    )
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _load_config(path, *, model=None, encoder=None, seed=None):
    """The run's config: the file (or the defaults), then the command-line overrides."""
    from .config import check_config, load_config, merge_config

    config = load_config(path) if path else check_config(None)
    override = {}
    if model is not None:
        override["model"] = model
    if seed is not None:
        override["random_state"] = seed
    merged = merge_config(config, override)
    if encoder is not None:
        # The whole section is replaced: another kind's settings mean nothing to this encoder.
        merged["encoder"] = {"kind": "sentence-transformers", "model": encoder}
    return check_config(merged, where="command line")


def _test_labels(data):
    from .data import load_test_labels

    if data.root is None or not Path(data.root).is_dir():
        return None
    path = Path(data.root) / "test_labels.csv"
    return load_test_labels(path) if path.is_file() else None


def _build(config, data, cache_dir, quiet, n_jobs=1, dask_address=None):
    from .config import build_pipeline
    from .stacking import StackedScoreRegressor

    model = build_pipeline(
        config,
        metric_embeddings=data.metric_embedding_table(),
        cache_dir=cache_dir,
        show_progress=not quiet,
    )
    if isinstance(model, StackedScoreRegressor):
        model.set_params(n_jobs=n_jobs, dask_address=dask_address)
    return model


def _importances(model):
    """Feature importances by name: ``{base model: DataFrame}`` (empty when unavailable)."""
    from .stacking import StackedScoreRegressor, feature_importance_table

    if isinstance(model, StackedScoreRegressor):
        return model.feature_importances()
    table = feature_importance_table(model) if hasattr(model, "steps") else None
    return {} if table is None else {model.steps[-1][1].__class__.__name__: table}


# Options shared by the commands that train, in the order --help lists them.
_TRAIN_OPTIONS = [
    click.option(
        "--data-dir",
        type=click.Path(exists=True, path_type=Path),
        default=None,
        help="Competition directory (train_data.json, test_data.json, metric_names.json, "
        "metric_name_embeddings.npy). Omit to use built-in demo data.",
    ),
    click.option(
        "--config",
        "config_path",
        type=click.Path(path_type=Path),
        default=None,
        help="JSON config (e.g. exported by `gbscore tune`); defaults apply to missing keys.",
    ),
    click.option(
        "--cache-dir",
        type=click.Path(path_type=Path),
        default=None,
        help="Embedding cache directory "
        "[default: $GBSCORE_CACHE_DIR or ~/.cache/gbscore/embeddings].",
    ),
    click.option(
        "--report-dir",
        type=click.Path(path_type=Path),
        default=Path(DEFAULT_REPORT_DIR),
        show_default=True,
        help="Folder for the report (metrics, plots, config, timings).",
    ),
    click.option(
        "--demo-size",
        nargs=2,
        type=int,
        default=(1000, 500),
        show_default=True,
        help="Train and test rows of the generated demo data (without --data-dir).",
    ),
    click.option(
        "--seed", type=int, default=None, help="Random seed (overrides the config's random_state)."
    ),
    click.option(
        "--model",
        "model_kind",
        type=click.Choice(["stack", "lightgbm", "catboost", "ridge", "mlp"]),
        default=None,
        help='The model (overrides the config\'s "model") [default: stack].',
    ),
    click.option(
        "--encoder",
        default=None,
        metavar="NAME_OR_PATH",
        help="Sentence-transformers model name or local folder for the texts (overrides the "
        "config's encoder); it must be available offline.",
    ),
    click.option("--quiet", is_flag=True, help="Only warnings and errors; no progress bars."),
]


def _train_options(f):
    for option in reversed(_TRAIN_OPTIONS):
        f = option(f)
    return f


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gbscore")
def cli():
    """gbscore: predict an LLM judge's 0-10 metric-fitness score.

    Typical use: `gbscore run --data-dir DIR` trains on DIR/train_data.json, writes
    submission.csv for DIR/test_data.json, and a report folder.
    """


def _prepare(data_dir, config_path, cache_dir, report_dir, demo_size, seed, quiet, model, encoder):
    from .datasets import load_or_make_demo
    from .features import default_cache_dir

    _setup(quiet)
    config = _load_config(config_path, model=model, encoder=encoder, seed=seed)
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    timer = Timer()
    with timer.step("load data"):
        data = load_or_make_demo(
            data_dir,
            demo_dir=Path(report_dir) / "demo-data",
            demo_size=demo_size,
            random_state=config["random_state"],
        )
    log.info(
        "train %d rows, test %s rows, %s metrics",
        len(data.train),
        "no" if data.test is None else len(data.test),
        "?" if data.metric_names is None else len(data.metric_names),
    )
    return config, cache_dir, timer, data


def _parallel_options(f):
    f = click.option(
        "--n-jobs",
        type=int,
        default=-1,
        show_default=True,
        help="Folds fitted in parallel (joblib processes); -1: one per core, "
        "1: one after the other.",
    )(f)
    f = click.option(
        "--dask-address",
        default=None,
        metavar="ADDRESS",
        help="Run the folds on the Dask cluster at this scheduler address (tcp://host:8786); "
        "--cache-dir must then be on a filesystem the workers share.",
    )(f)
    return f


def _is_stack(config):
    return config.get("model") == "stack"


def _cv(config, data, cache_dir, quiet, timer, n_jobs=1, dask_address=None, grouping=None):
    """Out-of-fold predictions (for a stack: of each base plus the stack) and stack weights."""
    from .config import build_cv, merge_config
    from .stacking import evaluate

    model = _build(config, data, cache_dir, quiet)
    if grouping is not None:
        config = merge_config(config, {"cv": {"grouping": grouping}})
    cv = build_cv(config)
    with timer.step(f"{cv.n_splits}-fold shift-aware CV ({cv.grouping} folds)"):
        return evaluate(
            model,
            data.train.drop(columns="score"),
            data.train["score"].to_numpy(),
            cv=cv,
            random_state=config["random_state"],
            n_jobs=n_jobs,
            dask_address=dask_address,
            show_progress=not quiet,
        )


def _fit(config, data, cache_dir, quiet, timer, n_jobs=1, dask_address=None):
    model = _build(config, data, cache_dir, quiet, n_jobs, dask_address)
    what = (
        f"stack: {config['cv']['n_splits']}-fold out-of-fold predictions + refit"
        if _is_stack(config)
        else "fit"
    )
    with timer.step(f"{what} on all train rows"):
        model.fit(data.train.drop(columns="score"), data.train["score"].to_numpy())
    return model


def _metadata(config, data):
    return {
        "config": config,
        "metric_names": data.metric_names,
        "n_train": len(data.train),
        # The folder's name only: a model file holds no path of the machine that trained it.
        "data_dir": None if data.root is None else Path(data.root).name,
    }


def _predict_and_write(model, test, out, timer, *, uncertainty=False):
    """Predict the test rows and write the submission; returns (scores, base scores or None)."""
    from .data import write_submission
    from .stacking import StackedScoreRegressor

    bases = None
    with timer.step("predict test"):
        if isinstance(model, StackedScoreRegressor):
            bases = model.predict_bases(test)
            pred = model.combine(bases)
        else:
            pred = model.predict(test)
        pred = np.asarray(pred, dtype=float)
        sd = model.predict_uncertainty(test) if uncertainty else None
    if len(pred) != len(test):
        raise GbscoreError(f"the model returned {len(pred)} predictions for {len(test)} test rows")
    write_submission(pred, out, n_test=len(test), uncertainty=sd)
    log.info(
        "wrote %s (%d rows%s)",
        out,
        len(pred),
        ", with an uncertainty column" if sd is not None else "",
    )
    return pred, bases


def _echo_scores(oof):
    scores = oof.scores()
    click.echo(f"{'model':<12} {'CV RMSE plain':>14} {'shift-aware':>12} {'mismatched only':>16}")
    for name, row in scores.iterrows():
        click.echo(
            f"{name:<12} {row.rmse_plain:>14.3f} {row.rmse_shift:>12.3f} "
            f"{row.rmse_shifted_only:>16.3f}"
        )


@cli.command()
@_train_options
@_parallel_options
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("submission.csv"),
    show_default=True,
    help="Submission CSV to write (ID,score).",
)
@click.option(
    "--model-out",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to save the fitted model [default: REPORT_DIR/model.joblib].",
)
@click.option(
    "--cv-folds",
    type=click.IntRange(min=0),
    default=None,
    help="Folds of the shift-aware CV [default: config cv.n_splits]. For the stack these are its "
    "out-of-fold folds (at least 2); for a single model 0 skips CV.",
)
@click.option(
    "--uncertainty",
    is_flag=True,
    help="Add an 'uncertainty' column (predicted error SD) to the CSV.",
)
def run(
    data_dir,
    config_path,
    cache_dir,
    report_dir,
    demo_size,
    seed,
    model_kind,
    encoder,
    quiet,
    n_jobs,
    dask_address,
    out,
    model_out,
    cv_folds,
    uncertainty,
):
    """Train (the stack by default), cross-validate, predict the test set, write the report."""
    from .persist import save_model
    from .report import write_report
    from .stacking import meta_weights

    config, cache_dir, timer, data = _prepare(
        data_dir, config_path, cache_dir, report_dir, demo_size, seed, quiet, model_kind, encoder
    )
    if data.test is None:
        raise GbscoreError(
            f"{data.root}: no test_data.json found; `gbscore run` needs it (or use `gbscore train`)"
        )
    if cv_folds is not None:
        if _is_stack(config) and cv_folds < 2:
            raise click.BadParameter(
                "the stack needs at least 2 folds for its out-of-fold predictions",
                param_hint="--cv-folds",
            )
        config["cv"]["n_splits"] = cv_folds if cv_folds >= 2 else config["cv"]["n_splits"]
    if _is_stack(config):
        # The stack's own out-of-fold predictions are its cross-validation: no second CV.
        model = _fit(config, data, cache_dir, quiet, timer, n_jobs, dask_address)
        oof, weights = model.oof_, meta_weights(model)
    elif cv_folds == 0:
        oof, weights = None, None
        model = _fit(config, data, cache_dir, quiet, timer)
    else:
        oof, weights = _cv(config, data, cache_dir, quiet, timer, n_jobs, dask_address)
        model = _fit(config, data, cache_dir, quiet, timer)
    pred, bases = _predict_and_write(model, data.test, out, timer, uncertainty=uncertainty)
    model_out = model_out or Path(report_dir) / "model.joblib"
    with timer.step("save model"):
        save_model(model, model_out, metadata=_metadata(config, data))
    if oof is not None:
        oof.save(Path(report_dir) / "oof.npz")
    timer["total"] = round(sum(timer.values()), 2)
    metrics = write_report(
        report_dir,
        config=config,
        timings=timer,
        oof=oof,
        stack_weights=weights,
        test_pred=pred,
        test_base_preds=bases,
        test_labels=_test_labels(data),
        feature_importances=_importances(model),
        extra={"submission": str(out), "model": str(model_out)},
    )
    click.echo(f"submission: {out}")
    click.echo(f"report:     {report_dir}/ (summary.md, metrics.json, *.png)")
    click.echo(f"model:      {model_out}")
    if oof is not None:
        _echo_scores(oof)
    if "test" in metrics:
        click.echo(f"test RMSE (from test_labels.csv) {metrics['test']['rmse']:.3f}")
    click.echo("time: " + ", ".join(f"{k} {v:.1f}s" for k, v in timer.items()))


@cli.command()
@_train_options
@_parallel_options
@click.option(
    "--model-out",
    type=click.Path(path_type=Path),
    required=True,
    help="Where to save the fitted model.",
)
def train(
    data_dir,
    config_path,
    cache_dir,
    report_dir,
    demo_size,
    seed,
    model_kind,
    encoder,
    quiet,
    n_jobs,
    dask_address,
    model_out,
):
    """Fit the model (the stack by default) on all train rows and save it."""
    from .persist import save_model

    config, cache_dir, timer, data = _prepare(
        data_dir, config_path, cache_dir, report_dir, demo_size, seed, quiet, model_kind, encoder
    )
    model = _fit(config, data, cache_dir, quiet, timer, n_jobs, dask_address)
    save_model(model, model_out, metadata=_metadata(config, data))
    click.echo(f"model: {model_out}")


@cli.command()
@_train_options
@_parallel_options
@click.option(
    "--folds",
    type=click.IntRange(min=2),
    default=None,
    help="Number of folds [default: config cv.n_splits].",
)
@click.option(
    "--grouping",
    type=click.Choice(["both", "phrasing", "conversation"]),
    default="both",
    show_default=True,
    help="How folds are grouped: clusters of similar phrasing (strict: what new texts look "
    "like), identical conversations, or both side by side.",
)
def cv(
    data_dir,
    config_path,
    cache_dir,
    report_dir,
    demo_size,
    seed,
    model_kind,
    encoder,
    quiet,
    n_jobs,
    dask_address,
    folds,
    grouping,
):
    """Cross-validate each model (every stack base and the stack): plain and shift-aware RMSE."""
    from .report import write_report

    config, cache_dir, timer, data = _prepare(
        data_dir, config_path, cache_dir, report_dir, demo_size, seed, quiet, model_kind, encoder
    )
    if folds is not None:
        config["cv"]["n_splits"] = folds
    groupings = ["phrasing", "conversation"] if grouping == "both" else [grouping]
    results = {
        g: _cv(config, data, cache_dir, quiet, timer, n_jobs, dask_address, g) for g in groupings
    }
    oof, weights = results[groupings[0]]
    other = results[groupings[1]][0] if len(groupings) > 1 else None
    oof.save(Path(report_dir) / "oof.npz")
    write_report(
        report_dir,
        config=config,
        timings=timer,
        oof=oof,
        oof_conversation=other,
        stack_weights=weights,
    )
    for g in groupings:
        click.echo(f"folds grouped by {g}:")
        _echo_scores(results[g][0])
    click.echo(f"report: {report_dir}/")


@cli.command()
@click.option(
    "--model",
    "model_path",
    type=click.Path(path_type=Path),
    required=True,
    help="A model saved by `gbscore train` or `gbscore run`. Only load files you trust.",
)
@click.option(
    "--data-dir",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Directory holding test_data.json (and metric_names.json to check names).",
)
@click.option(
    "--test",
    "test_file",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="A test_data.json file (instead of --data-dir).",
)
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("submission.csv"), show_default=True
)
@click.option(
    "--uncertainty",
    is_flag=True,
    help="Add an 'uncertainty' column (predicted error SD); without it the CSV is exactly "
    "ID,score.",
)
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Embedding cache directory on this machine [default: $GBSCORE_CACHE_DIR or "
    "~/.cache/gbscore/embeddings]. Model files hold no path of the machine that trained them.",
)
@click.option("--quiet", is_flag=True)
def predict(model_path, data_dir, test_file, out, uncertainty, cache_dir, quiet):
    """Predict with a saved model and write the submission CSV."""
    from .data import load_competition, load_records
    from .persist import load_model

    _setup(quiet)
    if (data_dir is None) == (test_file is None):
        raise click.UsageError("give exactly one of --data-dir and --test")
    if data_dir is not None:
        data = load_competition(data_dir)
        if data.test is None:
            raise GbscoreError(f"{data_dir}: no test_data.json found")
        test = data.test
    else:
        test = load_records(test_file, require_score=None)
    model, _ = load_model(model_path, cache_dir=cache_dir)
    _predict_and_write(model, test, out, Timer(), uncertainty=uncertainty)
    click.echo(f"submission: {out}")


@cli.command()
@click.option(
    "--out-dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Directory to write the demo files into.",
)
@click.option("--n-train", type=click.IntRange(min=10), default=1000, show_default=True)
@click.option("--n-test", type=click.IntRange(min=1), default=500, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def demo(out_dir, n_train, n_test, seed):
    """Write synthetic demo data in the competition format (with test_labels.csv)."""
    from .datasets import write_demo_data

    write_demo_data(out_dir, n_train=n_train, n_test=n_test, random_state=seed)
    click.echo(f"demo data: {out_dir}/")


@cli.command("finetune-encoder")
@click.option(
    "--data-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Competition directory; its train_data.json is used.",
)
@click.option(
    "--train",
    "train_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A train_data.json file (instead of --data-dir).",
)
@click.option(
    "--encoder",
    default=None,
    metavar="NAME_OR_PATH",
    help="Base sentence-transformers model: a local folder or a name in the local Hugging Face "
    "cache [default: the packaged all-MiniLM-L6-v2]. Nothing is downloaded.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for the fine-tuned model (new, empty, or one this command wrote before). "
    "Use it with --encoder OUT or the config's encoder.model.",
)
@click.option(
    "--epochs", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True
)
@click.option(
    "--max-steps",
    type=click.IntRange(min=1),
    default=None,
    help="Optimiser steps in all (overrides --epochs).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=2),
    default=32,
    show_default=True,
    help="Pairs per batch; the other pairs' conversations are each pair's negatives.",
)
@click.option(
    "--learning-rate", type=click.FloatRange(min=0, min_open=True), default=2e-5, show_default=True
)
@click.option(
    "--min-score",
    type=click.FloatRange(0, 10),
    default=8.0,
    show_default=True,
    help="Only train rows scored at least this are pairs (a low score: the metric does not fit).",
)
@click.option(
    "--max-rows",
    type=click.IntRange(min=2),
    default=None,
    help="At most this many pairs, drawn at random with --seed (for quick runs).",
)
@click.option(
    "--max-seq-length",
    type=click.IntRange(min=8),
    default=None,
    help="Tokens per text in training [default: the base model's].",
)
@click.option(
    "--save-steps",
    type=click.IntRange(min=1),
    default=200,
    show_default=True,
    help="Steps between checkpoints (OUT/.checkpoints; one is also saved at the end).",
)
@click.option(
    "--restart", is_flag=True, help="Delete OUT's checkpoints and start from the base model."
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--device",
    default="auto",
    show_default=True,
    help="auto (the GPU when usable), cpu, cuda or mps.",
)
@click.option("--quiet", is_flag=True, help="Only warnings and errors; no progress bar.")
def finetune_encoder_command(
    data_dir,
    train_file,
    encoder,
    out_dir,
    epochs,
    max_steps,
    batch_size,
    learning_rate,
    min_score,
    max_rows,
    max_seq_length,
    save_steps,
    restart,
    seed,
    device,
    quiet,
):
    """Fine-tune the sentence encoder on (metric name, conversation) pairs of train rows.

    Each train row scored at least --min-score is a pair: the metric name as words and its
    conversation. MultipleNegativesRankingLoss, through sentence-transformers' trainer, pulls
    each metric towards its conversations and away from the batch's other conversations
    (batches repeat no metric). Runs offline; needs pip install "gbscore[finetune]".

    Re-running with the same --out continues from the last checkpoint in OUT/.checkpoints:
    an interrupted run resumes, and a finished one trains on when --epochs or --max-steps
    grew (--restart starts over). Delete OUT/.checkpoints when done; the model does not
    need it.
    """
    import json

    from .data import load_competition, load_records
    from .finetune import CHECKPOINT_DIR, INFO_FILE, finetune_encoder

    _setup(quiet)
    if (data_dir is None) == (train_file is None):
        raise click.UsageError("give exactly one of --data-dir and --train")
    if data_dir is not None:
        train = load_competition(data_dir).train
        if train is None:
            raise GbscoreError(f"{data_dir}: no train_data.json found; fine-tuning needs it")
    else:
        train = load_records(train_file, require_score=True)
    out = finetune_encoder(
        train,
        out_dir=out_dir,
        base_model=encoder,
        epochs=epochs,
        max_steps=max_steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        min_score=min_score,
        max_rows=max_rows,
        max_seq_length=max_seq_length,
        save_steps=save_steps,
        resume=not restart,
        device=device,
        random_state=seed,
        show_progress=not quiet,
    )
    info = json.loads((out / INFO_FILE).read_text(encoding="utf-8"))
    resumed = f", continued from {info['resumed_from']}" if info["resumed_from"] else ""
    click.echo(f"model: {out}/ (fine-tuned from {info['base_model']})")
    click.echo(
        f"pairs: {info['pairs']} over {info['metrics']} metrics; step {info['global_step']}"
        f"{resumed}; loss {info['first_loss']} -> {info['last_loss']}"
    )
    click.echo(f"use it: gbscore run --encoder {out} ...")
    click.echo(f"checkpoints: {out / CHECKPOINT_DIR}/ (delete when done)")


@cli.group()
def cache():
    """Show or clear the embedding cache."""


_CACHE_DIR_OPTION = click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Embedding cache directory [default: $GBSCORE_CACHE_DIR or ~/.cache/gbscore/embeddings].",
)


def _mb(n):
    return f"{n / 1e6:.1f} MB"


@cache.command("info")
@_CACHE_DIR_OPTION
def cache_info_command(cache_dir):
    """Where the cache is, how big, and which encoders it holds vectors for."""
    from .features import disk_cache_info

    info = disk_cache_info(cache_dir)
    cap = info.get("max_bytes")
    click.echo(f"cache: {info['directory']}" + ("" if info["exists"] else " (does not exist)"))
    click.echo(f"size:  {_mb(info['bytes'])}" + (f" of at most {_mb(cap)}" if cap else ""))
    for ident in info["identities"]:
        click.echo(
            f"  {ident['identity_hash']}  {ident['texts']:>8} texts  {_mb(ident['bytes']):>10}  "
            f"last used {ident.get('last_used') or '?'}  {ident['encoder']}"
        )


@cache.command("clear")
@_CACHE_DIR_OPTION
@click.option("--identity", default=None, help="Remove only this encoder's vectors (see `info`).")
def cache_clear_command(cache_dir, identity):
    """Delete the cached vectors (all, or one encoder's)."""
    from .features import clear_disk_cache

    removed = clear_disk_cache(cache_dir, identity_hash=identity)
    click.echo(
        f"removed {removed['identities']} encoder folder(s), {_mb(removed['bytes'])}, "
        f"from {removed['directory']}"
    )


def main(argv=None):
    """Entry point: runs the CLI and turns gbscore errors into one clear line and exit code 2."""
    try:
        cli.main(args=argv, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (GbscoreError, FileNotFoundError) as exc:
        click.echo(f"gbscore: error: {exc}", err=True)
        sys.exit(2)
    except ValueError as exc:  # parameter validation from scikit-learn style estimators
        click.echo(f"gbscore: error: {exc}", err=True)
        sys.exit(2)


from .tuning._cli import tune  # noqa: E402

cli.add_command(tune)


if __name__ == "__main__":
    main()
