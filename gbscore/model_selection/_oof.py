"""The one result type of cross-validation: out-of-fold predictions, and their scores."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._io import atomic_write
from ..exceptions import GbscoreError

#: Bins of the true score for per-bin RMSE: (label, low, high), low inclusive, high exclusive
#: except the last.
SCORE_BINS = (
    ("0-3", 0.0, 3.0),
    ("3-5", 3.0, 5.0),
    ("5-7", 5.0, 7.0),
    ("7-8.5", 7.0, 8.5),
    ("8.5-9.5", 8.5, 9.5),
    ("9.5-10", 9.5, 10.0),
)

_ROW_SETS = ("shift_aware", "real")
_FORMAT = "gbscore-oof/2"


def rmse(y_true, y_pred, sample_weight=None):
    """Root mean squared error, weighted by ``sample_weight`` if given (NaN for no weight)."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if len(y_true) == 0 or (w is not None and w.sum() <= 0):
        return float("nan")
    return float(np.sqrt(np.average((y_true - y_pred) ** 2, weights=w)))


def per_bin_rmse(y_true, y_pred):
    """RMSE and row count per true-score bin, as a DataFrame (bins with no rows are kept)."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    rows = []
    for i, (label, lo, hi) in enumerate(SCORE_BINS):
        last = i == len(SCORE_BINS) - 1
        mask = (y_true >= lo) & ((y_true <= hi) if last else (y_true < hi))
        rows.append(
            {
                "bin": label,
                "n": int(mask.sum()),
                "rmse": rmse(y_true[mask], y_pred[mask]),
                "mean_pred": float(y_pred[mask].mean()) if mask.any() else float("nan"),
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------
# The result type
# --------------------------------------------------------------------------------------


@dataclass
class OOFPredictions:
    """Out-of-fold predictions of one or more models on the same held-out rows.

    The first ``n_real`` rows are the real training rows in their original order; the rest are
    the mismatched pairs built from each fold's held-out rows. Every model column was predicted
    by a model that saw neither the row nor any synthetic copy of its conversation (nor, with
    ``grouping="phrasing"``, any conversation phrased like it).

    Attributes
    ----------
    y : ndarray of float, shape (n,)
        True score (real rows) or the evaluation sampler's label (shifted pairs).
    fold : ndarray of int, shape (n,)
        The fold whose model predicted the row (-1: no fold did, see ``on_fold``).
    is_shifted : ndarray of bool, shape (n,)
        True for the held-out mismatched pairs.
    relation : ndarray of str, shape (n,)
        ``"real"``, or the label policy's relation of a shifted pair (``"unrelated"``,
        ``"related"``, ``"general"``, ``"mismatch"``, ``"given"``).
    preds : DataFrame, shape (n, n_models)
        One column of predictions per model.
    row : ndarray of int, shape (n,)
        Position in the training table of the row (for shifted pairs: of the row the pair was
        built from; -1 for a user-given shifted row).
    timings : dict
        Seconds spent, e.g. ``{"features": ..., "model:lightgbm": ...}``, summed over folds.
    grouping : str
        How the folds were grouped (:data:`GROUPINGS`).
    buffer : float or None
        The folds' buffer (:class:`ConversationKFold`): training conversations at least this
        similar to a held-out one were left out of its fold; ``None``: no buffer.
    provenance : dict
        What made the predictions, for a cache to check before reusing them (e.g. the base
        configs and seed, :func:`gbscore.tuning.cached_oof`); ``{}`` when not recorded.
        Saved as JSON.
    """

    y: np.ndarray
    fold: np.ndarray
    is_shifted: np.ndarray
    relation: np.ndarray
    preds: pd.DataFrame
    row: np.ndarray
    timings: dict = field(default_factory=dict)
    grouping: str = "conversation"
    buffer: float | None = None
    provenance: dict = field(default_factory=dict)

    @property
    def models(self):
        """The model names (columns of :attr:`preds`)."""
        return [str(c) for c in self.preds.columns]

    @property
    def n_real(self):
        return int((~self.is_shifted).sum())

    @property
    def n_splits(self):
        return int(self.fold.max()) + 1 if len(self.fold) else 0

    def rows_mask(self, rows="shift_aware"):
        """Boolean mask of the scored rows of a row set: ``"shift_aware"`` (all) or ``"real"``."""
        if rows not in _ROW_SETS:
            raise ValueError(f"rows must be one of {_ROW_SETS}, got {rows!r}")
        done = self.fold >= 0
        return done if rows == "shift_aware" else done & ~self.is_shifted

    def scores(self, sample_weight=None):
        """RMSE per model: plain (real rows), shift-aware (all rows), shifted pairs only.

        Parameters
        ----------
        sample_weight : array of shape (n,), default=None
            Row weights, e.g. :func:`phrasing_distance_weights`' to match a test set.

        Returns
        -------
        DataFrame
            Indexed by model name, sorted by shift-aware RMSE.
        """
        done = self.fold >= 0
        real = done & ~self.is_shifted
        shifted = done & self.is_shifted
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if w is not None and w.shape != self.y.shape:
            raise ValueError(f"sample_weight has shape {w.shape}; expected {self.y.shape}")
        out = []
        for name in self.models:
            p = self.preds[name].to_numpy()
            out.append(
                {
                    "model": name,
                    **{
                        key: rmse(self.y[m], p[m], None if w is None else w[m])
                        for key, m in (
                            ("rmse_plain", real),
                            ("rmse_shift", done),
                            ("rmse_shifted_only", shifted),
                        )
                    },
                }
            )
        return pd.DataFrame(out).set_index("model").sort_values("rmse_shift")

    def per_relation(self, model):
        """RMSE of one model on the real rows and on each relation of the mismatched pairs.

        The real rows are scored against the judge's scores; a mismatched pair against the
        evaluation sampler's label, drawn from its label policy's band for the pair's relation
        (``"unrelated"``, ``"related"``, ``"general"``, ...). Those rows measure how well the
        model reproduces the policy, not the judge: a policy whose bands miss the judge's
        scores for such pairs does not show here, and the shift-aware CV is then optimistic
        about a test set full of them. User-given pairs (``"given"``) keep their own labels.

        Returns
        -------
        DataFrame
            Indexed by relation (``"real"`` first, the rest by name), with ``n``, ``rmse``,
            ``mean_true`` and ``mean_pred``.
        """
        if model not in self.models:
            raise KeyError(f"no model {model!r} in these predictions; they hold {self.models}")
        done = self.fold >= 0
        p = self.preds[model].to_numpy()
        # The real rows by is_shifted, as scores() counts them, whatever a policy names its
        # relations; the pairs by relation.
        relation = np.where(self.is_shifted, np.asarray(self.relation, dtype=str), "real")
        names = sorted(set(relation[done]), key=lambda r: (r != "real", r))
        rows = []
        for name in names:
            m = done & (relation == name)
            rows.append(
                {
                    "relation": name,
                    "n": int(m.sum()),
                    "rmse": rmse(self.y[m], p[m]),
                    "mean_true": float(self.y[m].mean()),
                    "mean_pred": float(p[m].mean()),
                }
            )
        columns = ["relation", "n", "rmse", "mean_true", "mean_pred"]
        return pd.DataFrame(rows, columns=columns).set_index("relation")

    def summary(self, model):
        """The scores of one model as a JSON-ready dict, including per-bin RMSE."""
        if model not in self.models:
            raise KeyError(f"no model {model!r} in these predictions; they hold {self.models}")
        done = self.fold >= 0
        real = done & ~self.is_shifted
        p = self.preds[model].to_numpy()
        row = self.scores().loc[model]
        return {
            "rmse_plain": float(row.rmse_plain),
            "rmse_shift": float(row.rmse_shift),
            "rmse_shifted_only": float(row.rmse_shifted_only),
            "n_real": int(real.sum()),
            "n_shifted": int((done & self.is_shifted).sum()),
            "grouping": self.grouping,
            "buffer": self.buffer,
            "per_bin_plain": per_bin_rmse(self.y[real], p[real]).to_dict(orient="records"),
            "per_bin_shift": per_bin_rmse(self.y[done], p[done]).to_dict(orient="records"),
            "per_relation": self.per_relation(model).reset_index().to_dict(orient="records"),
            "seconds": float(self.timings.get("wall", sum(self.timings.values()))),
        }

    def with_column(self, name, values):
        """A copy with one more model column (e.g. the cross-fitted stack)."""
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (len(self.y),):
            raise ValueError(f"column {name!r} has shape {values.shape}; expected ({len(self.y)},)")
        preds = self.preds.copy()
        preds[name] = values
        return OOFPredictions(
            y=self.y,
            fold=self.fold,
            is_shifted=self.is_shifted,
            relation=self.relation,
            preds=preds,
            row=self.row,
            timings=dict(self.timings),
            grouping=self.grouping,
            buffer=self.buffer,
            provenance=dict(self.provenance),
        )

    def save(self, path):
        """Write to ``path`` as a NumPy ``.npz`` file (no pickles); returns the path."""
        arrays = {
            "format": np.array(_FORMAT),
            "y": self.y,
            "fold": self.fold,
            "is_shifted": self.is_shifted,
            "relation": np.asarray(self.relation, dtype=str),
            "row": self.row,
            "models": np.asarray(self.models, dtype=str),
            "preds": self.preds.to_numpy(dtype=np.float64),
            "timings": np.array(json.dumps(self.timings)),
            "grouping": np.array(self.grouping),
            "buffer": np.array(np.nan if self.buffer is None else float(self.buffer)),
            "provenance": np.array(json.dumps(self.provenance, sort_keys=True, default=str)),
        }
        return atomic_write(path, lambda fh: np.savez_compressed(fh, **arrays))

    @classmethod
    def load(cls, path):
        """Read a file written by :meth:`save`."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError) as exc:
            raise GbscoreError(
                f"{path} is not a readable out-of-fold predictions file: {exc}"
            ) from exc
        if str(data.get("format", "")) != _FORMAT:
            raise GbscoreError(
                f"{path} is not a gbscore out-of-fold file of this version (expected format "
                f"{_FORMAT}); delete it and compute it again"
            )
        return cls(
            y=data["y"],
            fold=data["fold"],
            is_shifted=data["is_shifted"],
            relation=data["relation"].astype(object),
            preds=pd.DataFrame(data["preds"], columns=[str(m) for m in data["models"]]),
            row=data["row"],
            timings=json.loads(str(data["timings"])),
            grouping=str(data["grouping"]),
            buffer=_buffer_of(data),
            provenance=json.loads(str(data["provenance"])) if "provenance" in data else {},
        )


def _buffer_of(data):
    """The saved buffer; files written before the buffer existed had none."""
    value = float(data["buffer"]) if "buffer" in data else float("nan")
    return None if np.isnan(value) else value
