"""Contrastive fine-tuning of the sentence encoder on (metric name, conversation) pairs.

gbscore's matching features are cosines between a metric's name and a conversation, both
encoded by one text encoder. A pretrained encoder was never taught what "fits a metric"
means; :func:`finetune_encoder` teaches it. Each real train row whose judge score is high
(the metric fits the conversation) gives one pair:

- anchor: the metric name as words, exactly as the featurizer encodes it
  (:func:`~gbscore.features.metric_name_to_text`);
- positive: the conversation, its user prompt and response joined by a newline.

MultipleNegativesRankingLoss (InfoNCE) makes each metric closer to its own conversation than
to the other conversations of the batch. Batches hold no repeated metric and no repeated
conversation (sentence-transformers' ``no_duplicates`` batch sampler): two rows of one metric
in a batch would each be the other's negative, although both fit it.

Training runs through sentence-transformers' own ``SentenceTransformerTrainer``; it needs
``datasets`` and ``accelerate`` (``pip install "gbscore[finetune]"``). The result is a
SentenceTransformer folder that ``SentenceTransformerEncoder(model=folder)``, a config's
``{"encoder": {"kind": "sentence-transformers", "model": folder}}`` and ``--encoder folder``
accept. A dual encoder trained this way made the best real-leaderboard result (RMSE 1.833).
"""

from __future__ import annotations

import json
import logging
import math
import numbers
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from ._device import resolve_device
from ._optional import import_optional
from ._schema import conversation_text
from ._version import __version__
from .exceptions import ConfigError, DataError, EncoderUnavailableError, MissingDependencyError
from .features import metric_name_to_text
from .features._st_model import load_sentence_transformer as _load_st
from .features._st_model import resolve_model as _resolve_model
from .features._st_model import unavailable_message as _unavailable_message

__all__ = ["finetune_encoder", "training_pairs", "CHECKPOINT_DIR", "INFO_FILE"]

log = logging.getLogger("gbscore")

#: Sub-folder of the output folder holding the trainer's checkpoints. Its leading dot keeps it
#: out of the encoder's weights fingerprint, so deleting it does not change the model's identity.
CHECKPOINT_DIR = ".checkpoints"
#: What the run wrote, in the output folder (base model, data, settings, steps, loss).
INFO_FILE = "gbscore_finetune.json"
# Which base model the checkpoints continue, checked before resuming.
_RUN_FILE = "gbscore_run.json"


def _check_number(name, value, *, low, integer=False, high=None, low_open=False):
    kind = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, kind) and not isinstance(value, bool)
    if ok:
        ok = (value > low if low_open else value >= low) and (high is None or value <= high)
        ok = ok and math.isfinite(value)
    if not ok:
        bound = f"{'>' if low_open else '>='} {low}"
        bound += f" and <= {high}" if high is not None else ""
        what = "an integer" if integer else "a number"
        raise ConfigError(f"{name} must be {what} {bound}; got {value!r}.")


def training_pairs(train_table, *, min_score=8.0, max_rows=None, random_state=0):
    """The (anchor, positive) pairs :func:`finetune_encoder` trains on.

    Parameters
    ----------
    train_table : DataFrame
        The tidy train table (:func:`gbscore.load_records`): ``metric_name``, ``score`` and
        text columns.
    min_score : float, default=8.0
        Only rows scored at least this are pairs: a low score says the metric does *not* fit
        the conversation.
    max_rows : int, default=None
        Keep at most this many pairs, drawn at random with ``random_state`` (for quick runs).
    random_state : int, default=0
        Seed of that draw.

    Returns
    -------
    DataFrame
        Columns ``anchor`` (the metric name as words) and ``positive`` (the conversation),
        one row per distinct pair, in table order.

    Raises
    ------
    DataError
        The table lacks a column, a score is not a number, or fewer than two distinct metrics
        are left (the loss needs other metrics in the batch).
    """
    if not isinstance(train_table, pd.DataFrame):
        raise DataError(
            f"train_table must be a pandas DataFrame (gbscore.load_records gives one); got "
            f"{type(train_table).__name__}."
        )
    missing = [c for c in ("metric_name", "score") if c not in train_table.columns]
    if missing:
        raise DataError(
            f"the train table has no column(s) {missing}; fine-tuning needs train rows with "
            "metric_name, score and the conversation (user_prompt, response)."
        )
    _check_number("min_score", min_score, low=0, high=10)
    if max_rows is not None:
        _check_number("max_rows", max_rows, low=2, integer=True)
    scores = pd.to_numeric(train_table["score"], errors="coerce").to_numpy(dtype=float)
    if np.isnan(scores).any():
        i = int(np.flatnonzero(np.isnan(scores))[0])
        raise DataError(
            f"score at row position {i} is {train_table['score'].iloc[i]!r}, not a number; "
            "fine-tuning needs scored train rows.",
            index=i,
            field="score",
        )
    keep = scores >= min_score
    if not keep.any():
        raise DataError(
            f"no train row has a score >= min_score={min_score:g} (the highest is "
            f"{scores.max():g} over {len(scores)} rows); pass a lower --min-score. Only "
            "high-scored rows are pairs: a low score means the metric does not fit."
        )
    rows = train_table.loc[keep]
    pairs = pd.DataFrame(
        {
            "anchor": [metric_name_to_text(str(n)) for n in rows["metric_name"]],
            "positive": conversation_text(rows),
        }
    ).drop_duplicates(ignore_index=True)
    if max_rows is not None and len(pairs) > max_rows:
        rng = np.random.default_rng(random_state)
        pairs = pairs.iloc[np.sort(rng.choice(len(pairs), size=max_rows, replace=False))]
        pairs = pairs.reset_index(drop=True)
    if pairs["anchor"].nunique() < 2:
        raise DataError(
            f"the {len(pairs)} pair(s) with score >= {min_score:g} all have one metric "
            f"({pairs['anchor'].iloc[0]!r}); contrastive fine-tuning needs at least two "
            "metrics (each pair's negatives are the other metrics' conversations). Add rows "
            "of other metrics, lower --min-score, or raise --max-rows."
        )
    return pairs


def _trainer_modules():
    purpose = "Fine-tuning the encoder (sentence-transformers' trainer)"
    for module in ("datasets", "accelerate"):
        try:
            import_optional(module, purpose=purpose)
        except MissingDependencyError as exc:
            raise MissingDependencyError(
                f"{purpose} needs the optional package {module!r}, which is not installed. "
                'Install it with: pip install "gbscore[finetune]"'
            ) from exc
    st = import_optional("sentence_transformers", purpose=purpose)
    try:  # sentence-transformers >= 6 moved the losses; the old path warns there
        from sentence_transformers.sentence_transformer.losses import (
            MultipleNegativesRankingLoss,
        )
    except ImportError:
        from sentence_transformers.losses import MultipleNegativesRankingLoss
    import datasets
    import transformers

    return st, datasets, transformers, MultipleNegativesRankingLoss


def _check_out_dir(out_dir, base_folder):
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"out_dir {str(out_dir)!r} is a file; pass a folder (new or empty).")
    if out_dir.resolve() == Path(base_folder).resolve():
        raise ConfigError(
            f"out_dir {str(out_dir)!r} is the base model's own folder; write the fine-tuned "
            "model to another folder."
        )
    if out_dir.is_dir() and any(out_dir.iterdir()):
        ours = (out_dir / CHECKPOINT_DIR).is_dir() or (out_dir / INFO_FILE).is_file()
        if not ours:
            raise ConfigError(
                f"out_dir {str(out_dir)!r} already holds files that finetune-encoder did not "
                "write; pass a new or empty folder (a folder it wrote before is continued "
                "from its last checkpoint)."
            )


def _last_checkpoint(checkpoints, base_name, resume):
    """The checkpoint to continue from, or None; ``resume=False`` deletes old checkpoints."""
    if not checkpoints.is_dir():
        return None
    if not resume:
        shutil.rmtree(checkpoints)
        return None
    if not any(p.is_dir() for p in checkpoints.glob("checkpoint-*")):
        return None
    try:
        recorded = json.loads((checkpoints / _RUN_FILE).read_text(encoding="utf-8"))["base_model"]
    except (OSError, ValueError, KeyError):
        recorded = None
    if recorded != base_name:
        raise ConfigError(
            f"{str(checkpoints)!r} holds checkpoints of fine-tuning base model {recorded!r}, "
            f"not {base_name!r}. Pass the same base model to continue them, another out "
            "folder, or resume=False (--restart) to start over."
        )
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(checkpoints))


def _training_device(device):
    """Trainer settings for the resolved device: (device, use_cpu)."""
    resolved = resolve_device(device, library="torch", mps=True, caller="finetune-encoder")
    if resolved.startswith("cuda:") and resolved != "cuda:0":
        # The Hugging Face trainer picks its GPU from the process, not from the model.
        raise ConfigError(
            f"finetune-encoder: device={device!r}: the trainer uses the first visible GPU; "
            f"run with CUDA_VISIBLE_DEVICES={resolved.split(':')[1]} and device='cuda'."
        )
    return resolved, resolved == "cpu"


def finetune_encoder(
    train_table,
    *,
    out_dir,
    base_model=None,
    epochs=1.0,
    max_steps=None,
    batch_size=32,
    learning_rate=2e-5,
    warmup_ratio=0.1,
    min_score=8.0,
    max_rows=None,
    max_seq_length=None,
    save_steps=200,
    resume=True,
    device="auto",
    random_state=0,
    show_progress=True,
):
    """Fine-tune a sentence-transformer so metric names lie close to conversations they fit.

    Pairs are :func:`training_pairs`; the loss is MultipleNegativesRankingLoss (in-batch
    negatives: the other pairs' conversations), with batches that repeat no metric and no
    conversation. Training runs through ``SentenceTransformerTrainer``, offline, with no hub
    push and no experiment tracker.

    Checkpoints go to ``out_dir/.checkpoints`` every ``save_steps`` steps and at the end (the
    last one is kept). Calling again with the same ``out_dir`` (and the same base model)
    continues from the last checkpoint: an interrupted run picks up where it stopped, and a
    finished one trains on when ``epochs`` or ``max_steps`` grew. Delete that folder to free
    the disk once done; the model does not need it.

    Parameters
    ----------
    train_table : DataFrame
        Scored train rows (the tidy table of :func:`gbscore.load_records`).
    out_dir : str or path-like
        Folder for the fine-tuned model: new, empty, or written by an earlier call.
    base_model : str or path-like, default=None
        The model to start from, resolved like ``SentenceTransformerEncoder(model=...)``:
        ``None`` is the packaged all-MiniLM-L6-v2, else a local folder or a Hub name found in
        the local Hugging Face cache (nothing is downloaded).
    epochs : float, default=1.0
        Passes over the pairs (ignored when ``max_steps`` is given).
    max_steps : int, default=None
        Optimiser steps in all (overrides ``epochs``).
    batch_size : int, default=32
        Pairs per batch; each anchor's negatives are the other ``batch_size - 1``
        conversations, so larger batches teach more per step.
    learning_rate : float, default=2e-5
        Peak AdamW learning rate (linear warm-up, then linear decay).
    warmup_ratio : float, default=0.1
        Fraction of the steps spent warming up the learning rate.
    min_score : float, default=8.0
        Rows scored below this are not pairs.
    max_rows : int, default=None
        At most this many pairs, drawn with ``random_state`` (for quick runs).
    max_seq_length : int, default=None
        Tokens per text in training (longer conversations are cut); ``None`` keeps the base
        model's. The saved model keeps this value, and gbscore's encoder then encodes long
        texts in windows of this many tokens.
    save_steps : int, default=200
        Steps between checkpoints.
    resume : bool, default=True
        Continue from the last checkpoint in ``out_dir`` if there is one; ``False`` deletes
        the old checkpoints and starts from ``base_model``.
    device : {"auto", "cpu", "cuda", "cuda:0", "gpu", "mps"}, default="auto"
        Where to train (:func:`gbscore.resolve_device`); ``"auto"``: the GPU when usable.
    random_state : int, default=0
        Seed of the pair draw, the batch order and the trainer; on a CPU two runs with the
        same seed give the same weights.
    show_progress : bool, default=True
        Show the trainer's progress bar and loss.

    Returns
    -------
    Path
        ``out_dir``: a SentenceTransformer folder, plus :data:`INFO_FILE` describing the run.

    Raises
    ------
    DataError
        No usable pairs (see :func:`training_pairs`).
    ConfigError
        A bad setting, or an ``out_dir`` that holds someone else's files or checkpoints of
        another base model.
    EncoderUnavailableError
        ``base_model`` is not available offline.
    MissingDependencyError
        ``datasets`` or ``accelerate`` is missing (``pip install "gbscore[finetune]"``).

    Examples
    --------
    >>> from gbscore import load_records
    >>> from gbscore.finetune import finetune_encoder
    >>> train = load_records("train_data.json")  # doctest: +SKIP
    >>> finetune_encoder(train, out_dir="minilm-ft", epochs=1)  # doctest: +SKIP
    PosixPath('minilm-ft')
    """
    _check_number("batch_size", batch_size, low=2, integer=True)
    _check_number("save_steps", save_steps, low=1, integer=True)
    _check_number("epochs", epochs, low=0, low_open=True)
    _check_number("learning_rate", learning_rate, low=0, low_open=True)
    _check_number("warmup_ratio", warmup_ratio, low=0, high=1)
    if max_steps is not None:
        _check_number("max_steps", max_steps, low=1, integer=True)
    _check_number("random_state", random_state, low=0, integer=True)
    if max_seq_length is not None:
        _check_number("max_seq_length", max_seq_length, low=8, integer=True)
    pairs = training_pairs(
        train_table, min_score=min_score, max_rows=max_rows, random_state=random_state
    )
    base_name, base_folder = _resolve_model(base_model)
    out_dir = Path(out_dir).expanduser()
    _check_out_dir(out_dir, base_folder)
    device, use_cpu = _training_device(device)
    checkpoints = out_dir / CHECKPOINT_DIR
    last = _last_checkpoint(checkpoints, str(base_name), resume)
    st, datasets, transformers, MultipleNegativesRankingLoss = _trainer_modules()
    if last is not None:
        log.info("finetune-encoder: continuing from %s", last)
    checkpoints.mkdir(parents=True, exist_ok=True)
    (checkpoints / _RUN_FILE).write_text(
        json.dumps({"base_model": str(base_name)}), encoding="utf-8"
    )

    transformers.set_seed(random_state)
    try:
        model = _load_st(st, base_folder, device=device, backend="torch")
    except Exception as exc:
        raise EncoderUnavailableError(
            _unavailable_message(
                str(base_name), f"loading it from {str(base_folder)!r} failed ({exc!r:.300})"
            )
        ) from exc
    if max_seq_length is not None:
        model.max_seq_length = max_seq_length

    steps_per_epoch = math.ceil(len(pairs) / batch_size)
    total_steps = max_steps or math.ceil(epochs * steps_per_epoch)
    args = st.SentenceTransformerTrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=float(epochs),
        max_steps=max_steps if max_steps is not None else -1,
        per_device_train_batch_size=batch_size,
        learning_rate=float(learning_rate),
        # A step count: transformers 5 dropped warmup_ratio (a float < 1 here is its ratio),
        # transformers 4 only takes an int here.
        warmup_steps=int(round(warmup_ratio * total_steps)),
        batch_sampler="no_duplicates",
        save_strategy="steps",
        save_steps=save_steps,
        save_total_limit=1,
        logging_steps=max(1, min(50, total_steps // 10)),
        report_to="none",
        push_to_hub=False,
        seed=random_state,
        data_seed=random_state,
        use_cpu=use_cpu,
        disable_tqdm=not show_progress,
        dataloader_num_workers=0,
    )
    trainer = st.SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=datasets.Dataset.from_pandas(pairs, preserve_index=False),
        loss=MultipleNegativesRankingLoss(model),
        callbacks=[_save_at_end_callback(transformers)],
    )
    if not show_progress:
        trainer.remove_callback(transformers.PrinterCallback)
    log.info(
        "finetune-encoder: %d pairs over %d metrics, %d steps of %d pairs, on %s",
        len(pairs),
        pairs["anchor"].nunique(),
        total_steps,
        batch_size,
        device,
    )
    result = trainer.train(resume_from_checkpoint=last)

    model.save(str(out_dir), create_model_card=False)
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    # The mean over this call's steps (none when a finished run is called again).
    mean_loss = float(result.training_loss)
    info = {
        "base_model": str(base_name),
        "gbscore_version": __version__,
        "sentence_transformers_version": st.__version__,
        "loss": "MultipleNegativesRankingLoss",
        "batch_sampler": "no_duplicates",
        "pairs": len(pairs),
        "metrics": int(pairs["anchor"].nunique()),
        "min_score": float(min_score),
        "max_rows": max_rows,
        "epochs": float(epochs),
        "max_steps": max_steps,
        "global_step": int(trainer.state.global_step),
        "resumed_from": None if last is None else Path(last).name,
        "batch_size": batch_size,
        "learning_rate": float(learning_rate),
        "warmup_ratio": float(warmup_ratio),
        "random_state": random_state,
        "max_seq_length": model.max_seq_length,
        "device": device,
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "mean_train_loss": mean_loss if math.isfinite(mean_loss) else None,
    }
    (out_dir / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return out_dir


def _save_at_end_callback(transformers):
    """A trainer callback that also checkpoints the last step, so a later call can go on."""

    class SaveAtEnd(transformers.TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step >= state.max_steps:
                control.should_save = True
            return control

    return SaveAtEnd()
