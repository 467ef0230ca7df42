"""The ``gbscore tune`` command (and :func:`main`, which the scripts in ``tuning/`` call)."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import click

from ..datasets import DEMO_SIZE
from ..exceptions import GbscoreError
from ._storage import DEFAULT_STORAGE, redact_url

__all__ = ["main", "tune"]

log = logging.getLogger("gbscore")


def _parse_stack_configs(values):
    configs = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise click.BadParameter(f"{value!r} is not NAME=FILE", param_hint="--stack-config")
        if name in configs:
            raise click.BadParameter(
                f"model name {name!r} given twice", param_hint="--stack-config"
            )
        from ..config import load_config

        configs[name] = load_config(path)
    return configs or None


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--model",
    type=click.Choice(["lightgbm", "catboost", "ridge", "mlp", "stack"]),
    default="lightgbm",
    show_default=True,
    help="What to tune: a base model's pipeline, or the stack of base models.",
)
@click.option(
    "--data-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Competition directory with train_data.json. Omit to tune on the built-in demo data.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Base JSON config (encoder, fixed params, cv, random_state); trials add their params.",
)
@click.option(
    "--storage",
    default=None,
    help="Study storage: sqlite:///FILE, postgresql://USER@HOST:PORT/DB, or journal:FILE "
    f"[default: {DEFAULT_STORAGE}].",
)
@click.option(
    "--study-name",
    default=None,
    help="Workers with the same storage and study name share one study [default: gbscore-MODEL].",
)
@click.option(
    "--n-trials",
    type=click.IntRange(min=1),
    default=None,
    help="Cap on the study's finished trials across all workers (a resumed study runs the rest).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds this worker may run.",
)
@click.option(
    "--n-jobs",
    type=int,
    default=1,
    show_default=True,
    help="Trials run in parallel by this worker (threads).",
)
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Embedding cache directory [default: $GBSCORE_CACHE_DIR or ~/.cache/gbscore/embeddings].",
)
@click.option(
    "--export",
    "export_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the best config here as JSON (for `gbscore run --config`).",
)
@click.option(
    "--objective",
    "target",
    type=click.Choice(["shift", "plain"]),
    default="shift",
    show_default=True,
    help="Minimise the shift-aware CV RMSE, or the plain CV RMSE on held-out train rows.",
)
@click.option(
    "--pruning",
    type=click.Choice(["fold", "round", "none"]),
    default="fold",
    show_default=True,
    help="Prune after each CV fold, on LightGBM boosting rounds, or never.",
)
@click.option(
    "--pruner", type=click.Choice(["median", "hyperband"]), default="median", show_default=True
)
@click.option(
    "--n-splits",
    type=click.IntRange(min=2),
    default=None,
    help="CV folds [default: config cv.n_splits].",
)
@click.option(
    "--seed",
    type=int,
    default=None,
    help="random_state of the config (folds, models) [default: config's].",
)
@click.option(
    "--sampler-seed",
    type=int,
    default=None,
    help="Seed of the TPE sampler; leave unset when several workers share a study.",
)
@click.option(
    "--model-threads",
    type=click.IntRange(min=1),
    default=None,
    help="Threads per model fit (LightGBM and MLP n_jobs, CatBoost thread_count) "
    "[default: config's].",
)
@click.option(
    "--heartbeat-interval",
    type=click.IntRange(min=1),
    default=60,
    show_default=True,
    help="Seconds between heartbeats of a running trial (database storages).",
)
@click.option(
    "--grace-period",
    type=click.IntRange(min=2),
    default=None,
    help="Seconds without heartbeat before a trial counts as crashed [default: 2 x interval].",
)
@click.option(
    "--max-retry",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Times a crashed trial is re-queued with the same parameters.",
)
@click.option(
    "--oof",
    "oof_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Stack: file of out-of-fold predictions, computed once [default: STUDY_NAME-oof.npz].",
)
@click.option(
    "--stack-config",
    "stack_config",
    multiple=True,
    metavar="NAME=FILE",
    help="Stack: a base model's config (e.g. exported by its study); repeat "
    "[default: the base config's stack models: catboost_phrasing, ridge, "
    "lightgbm_phrasing, lightgbm_rows].",
)
@click.option(
    "--demo-size",
    nargs=2,
    type=int,
    default=DEMO_SIZE,
    show_default=True,
    help="Train and test rows of the demo data (without --data-dir).",
)
@click.option("--quiet", is_flag=True, help="Only warnings and errors; no progress bar.")
def tune(
    model,
    data_dir,
    config_path,
    storage,
    study_name,
    n_trials,
    timeout,
    n_jobs,
    cache_dir,
    export_path,
    target,
    pruning,
    pruner,
    n_splits,
    seed,
    sampler_seed,
    model_threads,
    heartbeat_interval,
    grace_period,
    max_retry,
    oof_path,
    stack_config,
    demo_size,
    quiet,
):
    """Tune with Optuna: a study in STORAGE that any number of workers can join.

    \b
    Examples:
      gbscore tune --data-dir data/ --n-trials 50 --export best.json
      gbscore tune --data-dir data/ --storage postgresql://postgres@127.0.0.1:5432/test \\
                   --study-name lgb-1 --n-trials 200      # run on as many machines as you like
      optuna-dashboard sqlite:///gbscore-tuning.db        # watch the study
    """
    import optuna

    from ..config import load_config
    from ._tune import tune as run_tune

    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO, format="gbscore: %(message)s"
    )
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # The progress bar shows every trial; Optuna's one line per trial would interleave with it.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if cache_dir is None:
        from ..features import default_cache_dir

        cache_dir = default_cache_dir()
    config = load_config(config_path) if config_path else None
    result = run_tune(
        model,
        data_dir=data_dir,
        config=config,
        storage=storage,
        study_name=study_name,
        n_trials=n_trials,
        timeout=timeout,
        n_jobs=n_jobs,
        cache_dir=cache_dir,
        export=export_path,
        target=target,
        pruning=pruning,
        pruner=pruner,
        n_splits=n_splits,
        seed=seed,
        sampler_seed=sampler_seed,
        model_threads=model_threads,
        heartbeat_interval=heartbeat_interval,
        grace_period=grace_period,
        max_retry=max_retry,
        oof_path=oof_path,
        stack_configs=_parse_stack_configs(stack_config),
        demo_size=demo_size,
        show_progress=not quiet,
    )
    study = result.study
    counts = result.counts()
    click.echo(
        f"study {study.study_name} in {redact_url(storage or DEFAULT_STORAGE)}: "
        f"{result.n_run} trials run here in {result.seconds:.0f}s; "
        f"study totals {json.dumps(counts)}"
    )
    if counts.get("COMPLETE"):
        best = study.best_trial
        attrs = best.user_attrs
        extra = ""
        if "rmse_plain" in attrs:
            extra = f" (plain {attrs['rmse_plain']:.4f}, shift-aware {attrs['rmse_shift']:.4f})"
        click.echo(f"best trial #{best.number}: {target} RMSE {best.value:.4f}{extra}")
    if result.export_path is not None:
        click.echo(
            f"best config: {result.export_path}  (use: gbscore run --config {result.export_path})"
        )


def main(argv=None, *, model=None):
    """Run ``gbscore tune`` with ``argv`` (default ``sys.argv[1:]``); gbscore errors become one
    line on stderr and exit code 2. ``model`` presets ``--model`` (the scripts in ``tuning/``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if model is not None:
        args = ["--model", model, *args]
    try:
        tune.main(args=args, prog_name=Path(sys.argv[0]).name, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (GbscoreError, ValueError, FileNotFoundError) as exc:
        click.echo(f"gbscore tune: error: {exc}", err=True)
        return 2
    return 0
