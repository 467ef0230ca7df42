"""What the ``gbscore`` commands share: logging set-up, step timings, common options."""

from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path

import click

from ..datasets import DEMO_SIZE

__all__ = ["DEFAULT_REPORT_DIR", "Timer", "parallel_options", "setup_logging", "train_options"]

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


def setup_logging(quiet):
    """Log gbscore's progress to stderr (warnings only with ``quiet``)."""
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO, format="gbscore: %(message)s"
    )
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if quiet:
        # transformers' "Loading weights" bar reads this when it is first imported (after
        # this: the commands import it lazily), here and in the fold workers.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


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
        type=click.Path(file_okay=False, path_type=Path),
        default=Path(DEFAULT_REPORT_DIR),
        show_default=True,
        help="Folder for the report (metrics, plots, config, timings).",
    ),
    click.option(
        "--demo-size",
        nargs=2,
        type=int,
        default=DEMO_SIZE,
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


def train_options(f):
    """Add the options shared by the commands that train (run, train, cv) to ``f``."""
    for option in reversed(_TRAIN_OPTIONS):
        f = option(f)
    return f


def parallel_options(f):
    """Add ``--n-jobs`` and ``--dask-address`` (where cross-validation folds run) to ``f``."""
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
