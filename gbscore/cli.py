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
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="gbscore: %(message)s")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _load_config(path):
    from .pipeline import DEFAULT_CONFIG, load_config, merge_config

    return load_config(path) if path else merge_config(DEFAULT_CONFIG, {})


def _load_data(data_dir, report_dir, demo_size, seed):
    """The competition files from ``data_dir``, or freshly generated demo data."""
    from .data import load_competition

    if data_dir is None:
        from .datasets import write_demo_data

        demo_dir = Path(report_dir) / "demo-data"
        n_train, n_test = demo_size
        log.info("no --data-dir: generating demo data (%d train, %d test rows) in %s", n_train, n_test, demo_dir)
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


def _build(config, data, cache_dir, quiet):
    from .pipeline import build_pipeline

    return build_pipeline(
        config,
        metric_embeddings=data.metric_embedding_table(),
        cache_dir=cache_dir,
        show_progress=not quiet,
    )


def _importances(model):
    try:
        names = model[:-1].get_feature_names_out()
    except Exception:  # a custom pipeline without feature names: report nothing
        return None
    values = getattr(model[-1], "feature_importances_", None)
    if values is None or len(values) != len(names):
        return None
    return (
        pd.DataFrame({"feature": names, "importance": values})
        .sort_values("importance", ascending=False)
        .reset_index(drop=True)
    )


# Options shared by the commands that train.
def _train_options(f):
    f = click.option("--data-dir", type=click.Path(exists=True, path_type=Path), default=None,
                     help="Competition directory (train_data.json, test_data.json, metric_names.json, "
                     "metric_name_embeddings.npy). Omit to use built-in demo data.")(f)
    f = click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
                     help="JSON config (e.g. exported by `gbscore tune`); defaults apply to missing keys.")(f)
    f = click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
                     help="Embedding cache directory [default: $GBSCORE_CACHE_DIR or ~/.cache/gbscore/embeddings].")(f)
    f = click.option("--report-dir", type=click.Path(path_type=Path), default=Path(DEFAULT_REPORT_DIR),
                     show_default=True, help="Folder for the report (metrics, plots, config, timings).")(f)
    f = click.option("--demo-size", nargs=2, type=int, default=(1000, 500), show_default=True,
                     help="Train and test rows of the generated demo data (without --data-dir).")(f)
    f = click.option("--seed", type=int, default=None, help="Random seed (overrides the config's random_state).")(f)
    f = click.option("--quiet", is_flag=True, help="Only warnings and errors; no progress bars.")(f)
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


def _cv(config, data, cache_dir, quiet, timer, n_folds):
    from .validation import cross_validate

    if not n_folds:
        return None
    pipe = _build(config, data, cache_dir, quiet)
    with timer.step(f"{n_folds}-fold shift-aware CV"):
        cv = cross_validate(
            pipe,
            data.train.drop(columns="score"),
            data.train["score"].to_numpy(),
            n_splits=n_folds,
            random_state=config["random_state"],
            show_progress=not quiet,
        )
    log.info("CV RMSE plain %.3f | shift-aware %.3f", cv.rmse_plain, cv.rmse_shift)
    return cv


def _fit(config, data, cache_dir, quiet, timer):
    pipe = _build(config, data, cache_dir, quiet)
    with timer.step("fit on all train rows"):
        pipe.fit(data.train.drop(columns="score"), data.train["score"].to_numpy())
    return pipe


def _metadata(config, data):
    return {
        "config": config,
        "metric_names": data.metric_names,
        "n_train": len(data.train),
        "data_dir": None if data.root is None else str(data.root),
    }


def _predict_and_write(model, test, out, timer):
    from .data import write_submission

    with timer.step("predict test"):
        pred = np.asarray(model.predict(test), dtype=float)
    if len(pred) != len(test):
        raise GbscoreError(f"the model returned {len(pred)} predictions for {len(test)} test rows")
    write_submission(pred, out, n_test=len(test))
    log.info("wrote %s (%d rows)", out, len(pred))
    return pred


@cli.command()
@_train_options
@click.option("--out", type=click.Path(path_type=Path), default=Path("submission.csv"), show_default=True,
              help="Submission CSV to write (ID,score).")
@click.option("--model-out", type=click.Path(path_type=Path), default=None,
              help="Where to save the fitted model [default: REPORT_DIR/model.joblib].")
@click.option("--cv-folds", type=click.IntRange(min=0), default=None,
              help="Folds of the shift-aware CV in the report; 0 skips CV [default: config cv.n_splits].")
def run(data_dir, config_path, cache_dir, report_dir, demo_size, seed, quiet, out, model_out, cv_folds):
    """Train, cross-validate, predict the test set and write the submission and report."""
    from .persist import save_model
    from .report import write_report

    config, cache_dir, timer, data = _prepare(data_dir, config_path, cache_dir, report_dir, demo_size, seed, quiet)
    if data.test is None:
        raise GbscoreError(f"{data.root}: no test_data.json found; `gbscore run` needs it (or use `gbscore train`)")
    n_folds = config["cv"]["n_splits"] if cv_folds is None else cv_folds
    cv = _cv(config, data, cache_dir, quiet, timer, n_folds)
    model = _fit(config, data, cache_dir, quiet, timer)
    pred = _predict_and_write(model, data.test, out, timer)
    model_out = model_out or Path(report_dir) / "model.joblib"
    with timer.step("save model"):
        save_model(model, model_out, metadata=_metadata(config, data))
    timer["total"] = round(sum(timer.values()), 2)
    metrics = write_report(
        report_dir,
        config=config,
        timings=timer,
        cv=cv,
        test_pred=pred,
        test_labels=_test_labels(data),
        feature_importances=_importances(model),
        extra={"submission": str(out), "model": str(model_out)},
    )
    click.echo(f"submission: {out}")
    click.echo(f"report:     {report_dir}/ (summary.md, metrics.json, *.png)")
    click.echo(f"model:      {model_out}")
    if cv is not None:
        click.echo(f"CV RMSE plain {cv.rmse_plain:.3f}, shift-aware {cv.rmse_shift:.3f}")
    if "test" in metrics:
        click.echo(f"test RMSE (from test_labels.csv) {metrics['test']['rmse']:.3f}")


@cli.command()
@_train_options
@click.option("--model-out", type=click.Path(path_type=Path), required=True, help="Where to save the fitted model.")
def train(data_dir, config_path, cache_dir, report_dir, demo_size, seed, quiet, model_out):
    """Fit the pipeline on all train rows and save it."""
    from .persist import save_model

    config, cache_dir, timer, data = _prepare(data_dir, config_path, cache_dir, report_dir, demo_size, seed, quiet)
    model = _fit(config, data, cache_dir, quiet, timer)
    save_model(model, model_out, metadata=_metadata(config, data))
    click.echo(f"model: {model_out}")


@cli.command()
@_train_options
@click.option("--folds", type=click.IntRange(min=2), default=None, help="Number of folds [default: config cv.n_splits].")
def cv(data_dir, config_path, cache_dir, report_dir, demo_size, seed, quiet, folds):
    """Cross-validate: plain and shift-aware RMSE, per true-score bin, into the report."""
    from .report import write_report

    config, cache_dir, timer, data = _prepare(data_dir, config_path, cache_dir, report_dir, demo_size, seed, quiet)
    result = _cv(config, data, cache_dir, quiet, timer, folds or config["cv"]["n_splits"])
    write_report(report_dir, config=config, timings=timer, cv=result)
    click.echo(f"CV RMSE plain {result.rmse_plain:.3f}, shift-aware {result.rmse_shift:.3f}")
    click.echo(f"report: {report_dir}/")


@cli.command()
@click.option("--model", "model_path", type=click.Path(path_type=Path), required=True,
              help="A model saved by `gbscore train` or `gbscore run`. Only load files you trust.")
@click.option("--data-dir", type=click.Path(exists=True, path_type=Path), default=None,
              help="Directory holding test_data.json (and metric_names.json to check names).")
@click.option("--test", "test_file", type=click.Path(exists=True, path_type=Path), default=None,
              help="A test_data.json file (instead of --data-dir).")
@click.option("--out", type=click.Path(path_type=Path), default=Path("submission.csv"), show_default=True)
@click.option("--quiet", is_flag=True)
def predict(model_path, data_dir, test_file, out, quiet):
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
    _predict_and_write(model, test, out, Timer())
    click.echo(f"submission: {out}")


@cli.command()
@click.option("--out-dir", type=click.Path(path_type=Path), required=True, help="Directory to write the demo files into.")
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


if __name__ == "__main__":
    main()
