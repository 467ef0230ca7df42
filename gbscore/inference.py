"""Prediction over a table of any size, in batches of rows, with one score per input row.

A fitted pipeline or stack scores each row from that row alone (the featurizer encodes texts,
the match and interaction features are per row), so scoring a table batch by batch gives the
same scores as scoring it at once, while the memory held at a time is one batch's features.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .exceptions import GbscoreError

__all__ = ["DEFAULT_BATCH_ROWS", "predict_table"]

#: Rows per batch: the default stack's features for 20,000 rows take ~0.5 GB; larger batches
#: were no faster in ``benchmarks/bench_predict_load.py``.
DEFAULT_BATCH_ROWS = 20_000


def predict_table(
    model, X, *, batch_rows=DEFAULT_BATCH_ROWS, uncertainty=False, show_progress=False
):
    """Score every row of a tidy table, ``batch_rows`` rows at a time.

    Parameters
    ----------
    model : fitted ScorePipeline or StackedScoreRegressor
    X : DataFrame
        The tidy table (``metric_name``, ``system_prompt``, ``user_prompt``, ``response``).
    batch_rows : int, default=DEFAULT_BATCH_ROWS
    uncertainty : bool, default=False
        Also return the model's ``predict_uncertainty`` (an estimated SD per row).
    show_progress : bool, default=False
        A progress bar over the batches.

    Returns
    -------
    scores : ndarray of shape (n_rows,)
    bases : DataFrame or None
        For a stack, each base model's scores (one column per base).
    sd : ndarray or None
        With ``uncertainty``.

    Raises
    ------
    GbscoreError
        When the model returns other than one score per row.
    """
    if not isinstance(batch_rows, int) or isinstance(batch_rows, bool) or batch_rows < 1:
        raise GbscoreError(f"batch_rows must be a whole number >= 1, got {batch_rows!r}")
    stacked = hasattr(model, "predict_bases") and hasattr(model, "combine")
    scores, bases, sds = [], [], []
    starts = range(0, len(X), batch_rows)
    for start in tqdm(starts, desc="predict", unit="batch", disable=not show_progress):
        part = X.iloc[start : start + batch_rows]
        if stacked:
            b = model.predict_bases(part)
            bases.append(b)
            pred = model.combine(b, part)
        else:
            pred = model.predict(part)
        pred = np.asarray(pred, dtype=np.float64).reshape(-1)
        if len(pred) != len(part):
            raise GbscoreError(
                f"the model returned {len(pred)} scores for rows {start}..{start + len(part) - 1} "
                f"({len(part)} rows); a prediction must give one score per row"
            )
        scores.append(pred)
        if uncertainty:
            sd = model.uncertainty_from_bases(b) if stacked else model.predict_uncertainty(part)
            sds.append(np.asarray(sd, dtype=np.float64))
    out = np.concatenate(scores) if scores else np.empty(0)
    base_frame = pd.concat(bases, ignore_index=True) if bases else None
    sd = (np.concatenate(sds) if sds else np.empty(0)) if uncertainty else None
    return out, base_frame, sd
