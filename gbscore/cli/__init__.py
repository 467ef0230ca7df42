"""The ``gbscore`` command: run, train, cv, predict, tune, demo, finetune-encoder, cache.

Each command parses its options, calls the library and reports; the commands live in
:mod:`._model` (run, train, cv, predict) and :mod:`._tools` (demo, finetune-encoder, cache),
their shared options in :mod:`._options`, and ``tune`` in :mod:`gbscore.tuning`.
"""

from __future__ import annotations

import sys

import click

from ..exceptions import GbscoreError
from ..tuning._cli import tune
from ._model import cv, predict, run, train
from ._tools import cache, demo, finetune_encoder_command

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gbscore")
def cli():
    """gbscore: predict an LLM judge's 0-10 metric-fitness score.

    Typical use: `gbscore run --data-dir DIR` trains on DIR/train_data.json, writes
    submission.csv for DIR/test_data.json, and a report folder.
    """


for _command in (run, train, cv, predict, demo, finetune_encoder_command, cache, tune):
    cli.add_command(_command)


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
