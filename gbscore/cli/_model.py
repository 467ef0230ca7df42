"""The commands that train, evaluate and apply a model: run, train, cv, predict."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import click

from ..exceptions import DataError, GbscoreError
from ._options import Timer, parallel_options, setup_logging, train_options

__all__ = ["cv", "predict", "run", "train"]

log = logging.getLogger("gbscore")


def _load_config(path, *, model=None, encoder=None, seed=None):
    """The run's config: the file (or the defaults), then the command-line overrides."""
    from ..config import check_config, load_config, merge_config

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
    """``test_labels.csv`` beside the test set, if any, checked against it (one per record)."""
    from ..data import load_test_labels

    if data.root is None or not Path(data.root).is_dir() or data.test is None:
        return None
    path = Path(data.root) / "test_labels.csv"
    if not path.is_file():
        return None
    labels = load_test_labels(path)
    if len(labels) != len(data.test):
        raise DataError(
            f"has {len(labels)} labels but test_data.json has {len(data.test)} records; "
            "expected one label per test record (or remove test_labels.csv: it is only used "
            "to score the run)",
            file=path,
        )
    return labels


def _build(config, data, cache_dir, quiet, n_jobs=1, dask_address=None):
    from ..config import build_pipeline
    from ..stacking import StackedScoreRegressor

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
    from ..stacking import StackedScoreRegressor, feature_importance_table

    if isinstance(model, StackedScoreRegressor):
        return model.feature_importances()
    table = feature_importance_table(model) if hasattr(model, "steps") else None
    return {} if table is None else {model.steps[-1][1].__class__.__name__: table}


def _prepare(data_dir, config_path, cache_dir, report_dir, demo_size, seed, quiet, model, encoder):
    from ..datasets import load_or_make_demo
    from ..features import default_cache_dir

    setup_logging(quiet)
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


def _match_buffer(config, data, timer, *, folds_run=True):
    """The config with ``cv.buffer: "auto"`` matched to the test set's distance, if any.

    ``folds_run=False`` (a single model fitted without a CV): the config as it is. Nothing
    is matched and no folds are built, so a training set with fewer groups than
    ``cv.n_splits`` trains, and the saved config keeps ``"auto"`` for a later CV.
    """
    from ..config import resolve_cv_buffer

    if not folds_run:
        return config
    cv = config["cv"]
    if cv["buffer"] != "auto" or data.test is None or cv["grouping"] != "phrasing":
        return resolve_cv_buffer(config, None, None)[0]
    with timer.step("cv buffer matched to the test set"):
        config, _ = resolve_cv_buffer(config, data.train.drop(columns="score"), data.test)
    return config


def _is_stack(config):
    return config.get("model") == "stack"


def _check_test_metrics(data, model):
    """Before any fitting: every test metric must be one the fitted ``model`` will know.

    With ``metric_name_embeddings.npy`` (and ``metric_names.json``) the model knows every
    metric they name. Without them, its featurizer knows only the metrics of the training
    rows, and, unless told to encode unseen names (``features__embed__unknown_metric:
    "encode"`` in every pipeline), a test row of another metric would stop the run at
    prediction time, after the whole fit.
    """
    import numpy as np

    from ..stacking import StackedScoreRegressor

    if data.test is None or data.metric_embedding_table() is not None:
        return
    pipes = (
        [e for _, e in model.estimators] if isinstance(model, StackedScoreRegressor) else [model]
    )
    if all(p.get_params().get("features__embed__unknown_metric") == "encode" for p in pipes):
        return
    known = set(data.train["metric_name"])
    unseen = ~data.test["metric_name"].isin(known).to_numpy()
    if not unseen.any():
        return
    first = int(np.flatnonzero(unseen)[0])
    names = list(dict.fromkeys(data.test["metric_name"][unseen]))
    where = "test_data.json" if data.root is None else Path(data.root) / "test_data.json"
    raise DataError(
        f"metric {names[0]!r} has no training row, and without metric_name_embeddings.npy "
        f"the model knows only the {len(known)} metrics of the training rows "
        f"({int(unseen.sum())} test records, {len(names)} metrics: "
        f"{names[:5]}{' ...' if len(names) > 5 else ''}); add metric_name_embeddings.npy "
        "and metric_names.json to the data folder, or training rows of these metrics, or let "
        'the featurizer encode unseen names: {"params": {"features__embed__unknown_metric": '
        '"encode"}}',
        file=where,
        index=first,
        field="metric_name",
    )


def _check_known_metrics(model, test, where):
    """Before predicting with a fitted model: a test metric its featurizer would refuse is an
    error naming the file and the record (the featurizer sees one batch, so it cannot)."""
    import numpy as np

    from ..stacking import StackedScoreRegressor

    fitted = (
        list(model.named_estimators_.values())
        if isinstance(model, StackedScoreRegressor)
        else [model]
    )
    for pipe in fitted:
        try:
            embed = dict(pipe.named_steps["features"].transformer_list)["embed"]
        except (AttributeError, KeyError):
            continue  # not a gbscore pipeline: nothing to check
        if embed.unknown_metric == "encode":
            continue
        unseen = ~test["metric_name"].isin(set(embed.metric_names_)).to_numpy()
        if unseen.any():
            first = int(np.flatnonzero(unseen)[0])
            raise DataError(
                f"metric {test['metric_name'].iloc[first]!r} was not known when the model was "
                f"fitted ({int(unseen.sum())} test records); it knows "
                f"{len(embed.metric_names_)} metrics. Refit with these metrics (or with "
                'metric_name_embeddings.npy naming them), or with {"params": '
                '{"features__embed__unknown_metric": "encode"}}',
                file=where,
                index=first,
                field="metric_name",
            )


def _check_uncertainty(model):
    """Before any fitting: ``--uncertainty`` needs a model that gives one."""
    from ..models import CatBoostScoreRegressor
    from ..stacking import StackedScoreRegressor

    if isinstance(model, StackedScoreRegressor):
        if model.uncertainty is None:
            raise click.BadParameter(
                'this stack is configured with "stack": {"uncertainty": null}; set it to '
                '"residual" to get an uncertainty column',
                param_hint="--uncertainty",
            )
        return
    last = model.steps[-1][1]
    catboost_without = (
        isinstance(last, CatBoostScoreRegressor) and last.loss_function != "RMSEWithUncertainty"
    )
    if not hasattr(last, "predict_uncertainty") or catboost_without:
        raise click.BadParameter(
            f"this model ({type(last).__name__}) gives no uncertainty; use the stack (the "
            "default), the MLP, or CatBoost with "
            '{"params": {"model__loss_function": "RMSEWithUncertainty"}}',
            param_hint="--uncertainty",
        )


def _cv(config, data, cache_dir, quiet, timer, n_jobs=1, dask_address=None, grouping=None):
    """Out-of-fold predictions (for a stack: of each base plus the stack) and stack weights."""
    from ..config import build_cv, merge_config
    from ..stacking import evaluate

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


def _predict_and_write(model, test, out, timer, *, uncertainty=False, batch_rows=None):
    """Predict the test rows in batches and write the submission; returns (scores, bases)."""
    from ..data import write_submission
    from ..inference import DEFAULT_BATCH_ROWS, predict_table

    with timer.step("predict test"):
        pred, bases, sd = predict_table(
            model, test, batch_rows=batch_rows or DEFAULT_BATCH_ROWS, uncertainty=uncertainty
        )
    write_submission(pred, out, n_test=len(test), uncertainty=sd)
    log.info(
        "wrote %s (%d rows%s)",
        out,
        len(pred),
        ", with an uncertainty column" if sd is not None else "",
    )
    return pred, bases


def _echo_encoding(before, encoder_spec):
    """Say how much of the time above went into the encoder since ``before`` (a snapshot of
    :func:`~gbscore.features.encoding_totals`): 0 texts on a warm cache. When texts were
    encoded by torch on the CPU for want of a faster backend, say how to get one."""
    from ..config import build_encoder
    from ..features import SentenceTransformerEncoder, encoding_totals, faster_backend_hint

    now = encoding_totals()
    texts, seconds = now["texts"] - before["texts"], now["seconds"] - before["seconds"]
    if texts:
        click.echo(
            f"encoding: {texts} texts in {seconds:.1f}s ({texts / max(seconds, 1e-9):.0f} "
            "texts/s; summed over parallel workers), inside the steps above"
        )
        encoder = build_encoder(encoder_spec)  # its parameters only: no weights are loaded
        if isinstance(encoder, SentenceTransformerEncoder):
            hint = faster_backend_hint(encoder.device, encoder.backend)
            if hint:
                click.echo(f"          {hint}")
    else:
        click.echo("encoding: 0 texts (every vector came from the embedding cache)")


def _echo_scores(oof):
    scores = oof.scores()
    width = max(12, *(len(str(name)) for name in scores.index))
    click.echo(
        f"{'model':<{width}} {'CV RMSE plain':>14} {'shift-aware':>12} {'mismatched only':>16}"
    )
    for name, row in scores.iterrows():
        click.echo(
            f"{name:<{width}} {row.rmse_plain:>14.3f} {row.rmse_shift:>12.3f} "
            f"{row.rmse_shifted_only:>16.3f}"
        )


@click.command()
@train_options
@parallel_options
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("submission.csv"),
    show_default=True,
    help="Submission CSV to write (ID,score).",
)
@click.option(
    "--model-out",
    type=click.Path(dir_okay=False, path_type=Path),
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
    from ..features import encoding_totals
    from ..persist import save_model
    from ..report import write_report
    from ..stacking import meta_weights

    encoded_before = encoding_totals()

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
        if cv_folds == 1:
            raise click.BadParameter(
                "1 fold is no cross-validation: give 0 to skip the CV of a single model, or at "
                "least 2 folds",
                param_hint="--cv-folds",
            )
        config["cv"]["n_splits"] = cv_folds if cv_folds >= 2 else config["cv"]["n_splits"]
    unfitted = _build(config, data, cache_dir, True)  # built, not fitted: seconds
    _check_test_metrics(data, unfitted)
    test_labels = _test_labels(data)
    if uncertainty:
        _check_uncertainty(unfitted)
    config = _match_buffer(config, data, timer, folds_run=_is_stack(config) or cv_folds != 0)
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
    report_started = time.perf_counter()
    metrics = write_report(
        report_dir,
        config=config,
        timings=timer,
        oof=oof,
        stack_weights=weights,
        test_pred=pred,
        test_base_preds=bases,
        test_labels=test_labels,
        feature_importances=_importances(model),
        extra={"submission": str(out), "model": str(model_out)},
    )
    click.echo(f"submission: {out}")
    click.echo(f"model:      {model_out}")
    if oof is not None:
        _echo_scores(oof)
    if "test" in metrics:
        click.echo(f"test RMSE (from test_labels.csv) {metrics['test']['rmse']:.3f}")
    report_s = time.perf_counter() - report_started
    click.echo(
        "time: "
        + ", ".join(f"{k} {v:.1f}s" for k, v in timer.items())
        + f" (then the report {report_s:.1f}s)"
    )
    _echo_encoding(encoded_before, config.get("encoder"))
    click.echo(f"report:     {Path(report_dir) / 'report.html'}")


@click.command()
@train_options
@parallel_options
@click.option(
    "--model-out",
    type=click.Path(dir_okay=False, path_type=Path),
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
    from ..persist import save_model

    config, cache_dir, timer, data = _prepare(
        data_dir, config_path, cache_dir, report_dir, demo_size, seed, quiet, model_kind, encoder
    )
    # Only the stack's fit runs folds (its out-of-fold predictions).
    config = _match_buffer(config, data, timer, folds_run=_is_stack(config))
    model = _fit(config, data, cache_dir, quiet, timer, n_jobs, dask_address)
    save_model(model, model_out, metadata=_metadata(config, data))
    click.echo(f"model: {model_out}")


@click.command()
@train_options
@parallel_options
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
    from ..config import merge_config
    from ..report import write_report

    config, cache_dir, timer, data = _prepare(
        data_dir, config_path, cache_dir, report_dir, demo_size, seed, quiet, model_kind, encoder
    )
    if folds is not None:
        config["cv"]["n_splits"] = folds
    groupings = ["phrasing", "conversation"] if grouping == "both" else [grouping]
    # The buffer is matched per grouping: "auto" leaves the conversation folds unbuffered.
    configs = {
        g: _match_buffer(merge_config(config, {"cv": {"grouping": g}}), data, timer)
        for g in groupings
    }
    results = {
        g: _cv(configs[g], data, cache_dir, quiet, timer, n_jobs, dask_address) for g in groupings
    }
    config = configs[groupings[0]]
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
    click.echo(f"report: {Path(report_dir) / 'report.html'}")


@click.command()
@click.option(
    "--model",
    "model_path",
    type=click.Path(path_type=Path),
    required=True,
    help="A model saved by `gbscore train` or `gbscore run`. Only load files you trust.",
)
@click.option(
    "--data-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Directory holding test_data.json (and metric_names.json to check names); "
    "use --test for a file.",
)
@click.option(
    "--test",
    "test_file",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="A test_data.json file (instead of --data-dir).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("submission.csv"),
    show_default=True,
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
@click.option(
    "--batch-rows",
    type=click.IntRange(min=1),
    default=None,
    help="Rows scored at a time (memory is bounded by one batch) [default: 20000].",
)
@click.option("--quiet", is_flag=True)
def predict(model_path, data_dir, test_file, out, uncertainty, cache_dir, batch_rows, quiet):
    """Predict with a saved model and write the submission CSV."""
    from ..data import load_metric_names, load_records
    from ..data._records import read_records
    from ..persist import load_model

    setup_logging(quiet)
    if (data_dir is None) == (test_file is None):
        raise click.UsageError("give exactly one of --data-dir and --test")
    if data_dir is not None:
        test_path, names_path = (
            Path(data_dir) / "test_data.json",
            Path(data_dir) / "metric_names.json",
        )
        if not test_path.is_file():
            raise GbscoreError(f"{data_dir}: no test_data.json found")
        # Only the files a prediction reads: a train file beside them is not checked.
        names = load_metric_names(names_path) if names_path.is_file() else None
        test = read_records(
            test_path, require_score=None, metric_names=names, names_source=str(names_path)
        )
    else:
        test = load_records(test_file, require_score=None)
    model, _ = load_model(model_path, cache_dir=cache_dir)
    _check_known_metrics(model, test, test_path if data_dir is not None else test_file)
    _predict_and_write(model, test, out, Timer(), uncertainty=uncertainty, batch_rows=batch_rows)
    click.echo(f"submission: {out}")
