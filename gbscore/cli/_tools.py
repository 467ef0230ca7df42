"""The commands around the model: demo data, encoder fine-tuning, the embedding cache."""

from __future__ import annotations

from pathlib import Path

import click

from ..datasets import DEMO_SIZE
from ..exceptions import GbscoreError
from ._options import setup_logging

__all__ = ["cache", "demo", "finetune_encoder_command"]


@click.command()
@click.option(
    "--out-dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Directory to write the demo files into.",
)
@click.option("--n-train", type=click.IntRange(min=10), default=DEMO_SIZE[0], show_default=True)
@click.option("--n-test", type=click.IntRange(min=1), default=DEMO_SIZE[1], show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def demo(out_dir, n_train, n_test, seed):
    """Write synthetic demo data in the competition format (with test_labels.csv)."""
    from ..datasets import write_demo_data

    write_demo_data(out_dir, n_train=n_train, n_test=n_test, random_state=seed)
    click.echo(f"demo data: {out_dir}/")


@click.command("finetune-encoder")
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

    from ..data import load_competition, load_records
    from ..finetune import CHECKPOINT_DIR, INFO_FILE, finetune_encoder

    setup_logging(quiet)
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


@click.group()
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
    from ..features import disk_cache_info

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
    from ..features import clear_disk_cache

    removed = clear_disk_cache(cache_dir, identity_hash=identity)
    click.echo(
        f"removed {removed['identities']} encoder folder(s), {_mb(removed['bytes'])}, "
        f"from {removed['directory']}"
    )
