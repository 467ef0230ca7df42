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
import pandas as pd

from .exceptions import GbscoreError

log = logging.getLogger("gbscore")

DEFAULT_REPORT_DIR = "gbscore-report"


def default_cache_dir():
    """``$GBSCORE_CACHE_DIR`` or ``~/.cache/gbscore/embeddings``."""
    env = os.environ.get("GBSCORE_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "gbscore" / "embeddings"


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


def _load_config(path):
    from .pipeline import RUN_CONFIG, load_config, merge_config

    return load_config(path, base=RUN_CONFIG) if path else merge_config(RUN_CONFIG, {})


def _load_data(data_dir, report_dir, demo_size, seed):
    """The competition files from ``data_dir``, or freshly generated demo data."""
    from .data import load_competition

    if data_dir is None:
        from .datasets import write_demo_data

        demo_dir = Path(report_dir) / "demo-data"
        n_train, n_test = demo_size
        log.info(
            "no --data-dir: generating demo data (%d train, %d test rows) in %s",
            n_train,
            n_test,
            demo_dir,
        )
        write_demo_data(demo_dir, n_train=n_train, n_test=n_test, random_state=seed)
        data_dir = demo_dir
    data = load_competition(data_dir)
    if data.train is None:
        raise GbscoreError(f"{data_dir}: no train_data.json found; training needs it")
    return data


def _test_labels(data):
    from .data import load_test_labels

    if data.root is None or not Path(data.root).is_dir():
        return None
    path = Path(data.root) / "test_labels.csv"
    return load_test_labels(path) if path.is_file() else None


def _build(config, data, cache_dir, quiet, n_jobs=1, dask_address=None):
    from .pipeline import build_pipeline
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
        help="Embedding cache directory [default: $GBSCORE_CACHE_DIR or ~/.cache/gbscore/embeddings].",
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


def _prepare(data_dir, config_path, cache_dir, report_dir, demo_size, seed, quiet):
    _setup(quiet)
    config = _load_config(config_path)
    if seed is not None:
        config["random_state"] = seed
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    timer = Timer()
    with timer.step("load data"):
        data = _load_data(data_dir, report_dir, demo_size, config["random_state"])
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


def _cv(config, data, cache_dir, quiet, timer, n_folds, n_jobs=1, dask_address=None):
    """Out-of-fold predictions of the model (for a stack: of each base plus the stack).

    Returns ``(OOFPredictions or None, stack weights or None)``.
    """
    from .pipeline import stack_configs
    from .stacking import compute_oof, cross_fit_meta, fit_meta

    if not n_folds:
        return None, None
    configs = stack_configs(config) if _is_stack(config) else {config["model"]: config}
    if _is_stack(config):
        # Build (and so check) the stack now: a bad meta setting fails before the folds run.
        _build(config, data, cache_dir, quiet)._validate_params()
    with timer.step(f"{n_folds}-fold shift-aware CV"):
        oof = compute_oof(
            configs,
            data.train.drop(columns="score"),
            data.train["score"].to_numpy(),
            metric_embeddings=data.metric_embedding_table(),
            cache_dir=cache_dir,
            n_splits=n_folds,
            random_state=config["random_state"],
            n_jobs=n_jobs,
            dask_address=dask_address,
            show_progress=not quiet,
        )
    weights = None
    if _is_stack(config):
        stack = config["stack"]
        kw = {"meta": stack["meta"], "alpha": stack["meta_alpha"], "rows": stack["meta_rows"]}
        weights = fit_meta(oof, **kw).as_dict()
        oof = oof.with_column("stack", cross_fit_meta(oof, **kw))
    return oof, weights


def _fit(config, data, cache_dir, quiet, timer, n_jobs=1, dask_address=None):
    model = _build(config, data, cache_dir, quiet, n_jobs, dask_address)
    what = (
        f"stack: {model.n_splits}-fold out-of-fold predictions + refit"
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
        "data_dir": None if data.root is None else str(data.root),
    }


def _uncertainty(model, test):
    """Per-row predicted standard deviation, from the stack or a base model that has one."""
    if hasattr(model, "predict_uncertainty"):
        return model.predict_uncertainty(test)
    last = model.steps[-1][1] if hasattr(model, "steps") else None
    if last is not None and hasattr(last, "predict_uncertainty"):
        from .stacking import _transform_prefix

        return last.predict_uncertainty(_transform_prefix(model, test))
    raise GbscoreError(
        f"this model ({type(last or model).__name__}) gives no uncertainty; use the stack (the default of "
        "`gbscore run`) or CatBoost with model__loss_function='RMSEWithUncertainty'"
    )


def _predict_and_write(model, test, out, timer, *, uncertainty=False):
    """Predict the test rows and write the submission; returns (scores, base scores or None)."""
    from .data import write_submission
    from .stacking import StackedScoreRegressor

    bases = None
    with timer.step("predict test"):
        if isinstance(model, StackedScoreRegressor):
            bases = model.predict_bases(test)
            pred = model.meta_.predict(bases)
        else:
            pred = model.predict(test)
        pred = np.asarray(pred, dtype=float)
        sd = _uncertainty(model, test) if uncertainty else None
    if len(pred) != len(test):
        raise GbscoreError(f"the model returned {len(pred)} predictions for {len(test)} test rows")
    write_submission(pred, out, n_test=len(test))
    if sd is not None:
        # The submission format is exactly ID,score; the extra column is asked for explicitly.
        frame = pd.read_csv(out)
        frame["uncertainty"] = np.asarray(sd, dtype=float)
        frame.to_csv(out, index=False)
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
            f"{name:<12} {row.rmse_plain:>14.3f} {row.rmse_shift:>12.3f} {row.rmse_shifted_only:>16.3f}"
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
    quiet,
    n_jobs,
    dask_address,
    out,
    model_out,
    cv_folds,
    uncertainty,
):
    """Train (the stack by default), cross-validate, predict the test set, write submission and report."""
    from .persist import save_model
    from .report import write_report

    config, cache_dir, timer, data = _prepare(
        data_dir, config_path, cache_dir, report_dir, demo_size, seed, quiet
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
        oof, weights = model.oof_, model.meta_.as_dict()
    else:
        oof, weights = _cv(
            config,
            data,
            cache_dir,
            quiet,
            timer,
            cv_folds if cv_folds is not None else config["cv"]["n_splits"],
            n_jobs,
            dask_address,
        )
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
    quiet,
    n_jobs,
    dask_address,
    model_out,
):
    """Fit the model (the stack by default) on all train rows and save it."""
    from .persist import save_model

    config, cache_dir, timer, data = _prepare(
        data_dir, config_path, cache_dir, report_dir, demo_size, seed, quiet
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
def cv(
    data_dir,
    config_path,
    cache_dir,
    report_dir,
    demo_size,
    seed,
    quiet,
    n_jobs,
    dask_address,
    folds,
):
    """Cross-validate every model (each stack base and the stack): plain and shift-aware RMSE, per bin."""
    from .report import write_report

    config, cache_dir, timer, data = _prepare(
        data_dir, config_path, cache_dir, report_dir, demo_size, seed, quiet
    )
    oof, weights = _cv(
        config,
        data,
        cache_dir,
        quiet,
        timer,
        folds or config["cv"]["n_splits"],
        n_jobs,
        dask_address,
    )
    oof.save(Path(report_dir) / "oof.npz")
    write_report(report_dir, config=config, timings=timer, oof=oof, stack_weights=weights)
    _echo_scores(oof)
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
    help="Add an 'uncertainty' column (predicted error SD); without it the CSV is exactly ID,score.",
)
@click.option("--quiet", is_flag=True)
def predict(model_path, data_dir, test_file, out, uncertainty, quiet):
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
    model, _ = load_model(model_path)
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
