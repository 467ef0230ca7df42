"""A torch multilayer perceptron with the scikit-learn regressor API.

:class:`MLPScoreRegressor` reads the featurized table the default pipeline builds (see
:mod:`gbscore.pipeline`). It finds the metric embedding block and the conversation embedding
blocks by column name, can pair them in a low-rank bilinear layer, and feeds everything else
(statistics, cosines, metric-match features) to a residual MLP trunk as standardised dense
features. Torch is imported inside ``fit``/``predict`` only, so ``import gbscore`` stays fast;
the fitted weights are kept as NumPy arrays, so a fitted model pickles without torch objects.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import numbers
import re

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.model_selection import GroupShuffleSplit
from sklearn.utils import assert_all_finite, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._device import cuda_index, device_constraint, resolve_device
from .exceptions import ConfigError, DataError

__all__ = ["MLPScoreRegressor"]

log = logging.getLogger("gbscore")

#: The judge's scale: ordinal levels 0..10, so 10 cumulative thresholds between them.
_N_LEVELS = 11
#: Rows per forward pass at predict time (bounds memory, not a tuning knob).
_PREDICT_BATCH = 8192
#: Log-variance is clamped so one badly fitted row cannot make the NLL explode.
_LOGVAR_RANGE = (-9.0, 9.0)
#: Fewer training rows than this: no inner validation split (as the boosters do).
_MIN_ROWS_FOR_VALIDATION = 50


def _block_columns(names, prefix):
    """Positions of the columns named ``<prefix><int>`` (the featurizer's block naming)."""
    pattern = re.compile(re.escape(prefix) + r"\d+$")
    return [i for i, name in enumerate(names) if pattern.match(name)]


def _unit_rows(a):
    norm = np.linalg.norm(a, axis=1, keepdims=True)
    return a / np.maximum(norm, 1e-12)


def _row_groups(a):
    """Integer group per row; rows with identical values share a group."""
    a = np.ascontiguousarray(a)
    if a.shape[1] == 0:
        return np.zeros(len(a), dtype=np.int64)
    rows = a.view(np.dtype((np.void, a.dtype.itemsize * a.shape[1]))).ravel()
    return np.unique(rows, return_inverse=True)[1].ravel()


def _weighted_mean_std(a, w, *, chunk=4096):
    """Column means and SDs under row weights ``w``, accumulated in float64 by row chunks.

    Chunked so a float32 table of 25k x 2k columns is not copied to float64 whole.
    """
    w = np.asarray(w, dtype=np.float64) / np.sum(w)
    mean = np.zeros(a.shape[1])
    for s in range(0, len(a), chunk):
        mean += w[s : s + chunk] @ a[s : s + chunk].astype(np.float64)
    var = np.zeros(a.shape[1])
    for s in range(0, len(a), chunk):
        var += w[s : s + chunk] @ (a[s : s + chunk].astype(np.float64) - mean) ** 2
    std = np.sqrt(var)
    # A constant column carries no information; scale 1 keeps it at zero instead of NaN.
    return mean, np.where(std > 1e-8, std, 1.0)


@functools.cache
def _torch_net_class():
    """The network's ``nn.Module`` class, defined on first use so torch loads lazily."""
    import torch
    from torch import nn

    class ResidualBlock(nn.Module):
        # Pre-norm residual block: the identity path keeps deep trunks trainable without
        # warm-up, LayerNorm works per row so predictions do not depend on the batch.
        def __init__(self, width, dropout):
            super().__init__()
            self.norm = nn.LayerNorm(width)
            self.fc1 = nn.Linear(width, 2 * width)
            self.fc2 = nn.Linear(2 * width, width)
            self.drop = nn.Dropout(dropout)

        def forward(self, h):
            return h + self.fc2(self.drop(nn.functional.gelu(self.fc1(self.norm(h)))))

    class ScoreNet(nn.Module):
        def __init__(
            self,
            *,
            n_dense,
            metric_dim,
            block_dims,
            rank,
            hidden,
            n_blocks,
            dropout,
            n_out,
            n_thresholds,
        ):
            super().__init__()
            self.metric_dim = metric_dim
            self.block_dims = list(block_dims)
            self.rank = rank
            if rank:
                self.metric_proj = nn.Linear(metric_dim, rank, bias=False)
                self.block_proj = nn.ModuleList(
                    nn.Linear(d, rank, bias=False) for d in self.block_dims
                )
            n_in = n_dense + (rank * len(self.block_dims) if rank else 0)
            self.stem = nn.Linear(max(n_in, 1), hidden)
            self.trunk = nn.ModuleList(ResidualBlock(hidden, dropout) for _ in range(n_blocks))
            self.norm = nn.LayerNorm(hidden)
            self.head = nn.Linear(hidden, n_out)
            if n_thresholds:
                # Ordered thresholds: a first one plus positive gaps (softplus), set in fit.
                self.threshold_first = nn.Parameter(torch.zeros(()))
                self.threshold_gaps = nn.Parameter(torch.zeros(n_thresholds - 1))

        def thresholds(self):
            gaps = nn.functional.softplus(self.threshold_gaps)
            return torch.cat(
                [self.threshold_first.reshape(1), self.threshold_first + gaps.cumsum(0)]
            )

        def forward(self, dense, blocks):
            parts = [dense]
            if self.rank:
                # Low-rank bilinear metric x conversation term: (M U) * (T_b V_b) per block,
                # i.e. M^T (sum_k u_k v_k^T) T_b with a learned rank-r matrix per block.
                m = self.metric_proj(blocks[:, : self.metric_dim])
                start = self.metric_dim
                for proj, width in zip(self.block_proj, self.block_dims, strict=True):
                    parts.append(m * proj(blocks[:, start : start + width]))
                    start += width
            x = torch.cat(parts, dim=1) if len(parts) > 1 else dense
            if x.shape[1] == 0:
                x = torch.zeros(len(x), 1, dtype=dense.dtype, device=dense.device)
            h = self.stem(x)
            for block in self.trunk:
                h = block(h)
            return self.head(self.norm(h))

    return ScoreNet


class MLPScoreRegressor(RegressorMixin, BaseEstimator):
    """Residual MLP over the featurized blocks, with an optional bilinear metric x text layer.

    Input columns are split by name:

    * the **metric block** (``<metric_prefix><i>``, e.g. ``metric_text__0``) and the
      **conversation blocks** (``<prefix><i>`` for each of ``conversation_prefixes``), as
      written by :class:`~gbscore.features.EmbeddingFeaturizer`. Each is scaled to unit length
      and enters the low-rank bilinear layer ``(M U) * (T_b V_b)`` (``bilinear_rank > 0``),
      whose output feeds the trunk; with ``trunk_blocks=True`` the blocks also enter the trunk
      as dense features;
    * columns matching ``drop_prefixes`` are left out;
    * **categorical** columns (those named in ``categorical_columns``, such as the integer
      ``metric_family`` code of :class:`~gbscore.features.TableFeatures`, and any non-numeric
      DataFrame column) are one-hot encoded on the levels seen in ``fit``, which makes the
      first layer a learned embedding of them; an unseen level encodes as all zeros;
    * every other column is a **dense** feature, standardised with the (weighted) mean and
      standard deviation of the training rows.

    When the metric block or every conversation block is missing (a plain array, or a frame
    whose columns do not follow the block naming), all numeric columns are dense features,
    there is no bilinear layer and the inner validation split groups identical rows; a log
    line on the ``gbscore`` logger says so.

    Training uses AdamW, halves the learning rate when the validation loss stops improving,
    clips the gradient norm, and stops early, restoring the best epoch's weights. The inner
    validation split is grouped by conversation: rows whose conversation blocks are equal
    (a real row and its metric-swapped negatives) fall on the same side, so early stopping
    is not judged on conversations the network trained on.

    Parameters
    ----------
    loss : {"mse", "heteroscedastic", "ordinal"}, default="mse"
        ``"mse"``: squared error on the score. ``"heteroscedastic"``: Gaussian negative
        log-likelihood of a predicted mean and log-variance, mixed with the absolute error of
        the mean by ``mae_weight``. ``"ordinal"``: cumulative logits over the thresholds between
        the levels 0, 1, ..., 10 (a non-integer score is a soft target between two levels); the
        prediction is the expected level. Targets outside [0, 10] are clipped to it.
    hidden : int, default=128
        Width of the trunk. With the featurizer's four 384-wide blocks in the trunk, the first
        layer dominates the cost, which grows linearly with this width.
    n_blocks : int, default=2
        Number of residual blocks (each LayerNorm -> Linear(2*hidden) -> GELU -> Dropout ->
        Linear, added to its input).
    dropout : float, default=0.1
        Dropout on the hidden layer of each residual block.
    bilinear_rank : int, default=16
        Rank of the bilinear metric x conversation layer; 0 turns it off.
    metric_prefix : str, default="metric_text__"
        Column-name prefix of the metric block. It must come from the same encoder as the
        conversation blocks for the bilinear term to mean anything, hence ``metric_text``
        and not the competition's given ``metric_given`` embeddings.
    conversation_prefixes : tuple of str, default=("system_prompt__", "user_prompt__", "response__")
        Column-name prefixes of the conversation blocks.
    drop_prefixes : tuple of str, default=("metric_given__",)
        Blocks left out of the input. The given metric embeddings come from another encoder
        and only identify the metric, which ``metric_text`` already does; they would be 768 of
        the input columns.
    categorical_columns : tuple of str, default=("metric_family",)
        Columns one-hot encoded rather than standardised (when present).
    trunk_blocks : bool, default=False
        Also give the metric and conversation blocks to the trunk as dense features. Off by
        default: the raw conversation embedding lets the trunk memorise conversations rather
        than match them to metrics (on random data shaped like judgebench-dev it raised the
        validation loss from 0.82 to 0.98), and it makes the first layer ~8x wider.
    mae_weight : float, default=0.0
        With ``loss="heteroscedastic"``: the loss is ``(1 - mae_weight) * NLL + mae_weight *
        MAE``. Ignored by the other losses.
    nll_beta : float, default=0.5
        With ``loss="heteroscedastic"``: each row's NLL is weighted by its predicted variance
        to the power ``nll_beta``, held constant in the gradient (beta-NLL, Seitzer et al.,
        2022). 0 is the plain Gaussian NLL, whose mean learns slowly because large predicted
        variances shrink its gradient; 1 gives the mean the gradient of squared error.
    learning_rate : float, default=1e-3
        AdamW's initial learning rate.
    weight_decay : float, default=1e-4
        AdamW's decoupled weight decay.
    batch_size : int, default=512
    max_epochs : int, default=30
        Upper bound on passes over the training rows; early stopping usually ends sooner.
    validation_fraction : float, default=0.1
        Share of conversation groups held out for early stopping and the learning-rate
        schedule; 0 disables both (all ``max_epochs`` run). Below 50 rows there is no split.
    n_iter_no_change : int, default=6
        Epochs without a better validation loss before training stops.
    lr_patience : int, default=2
        Epochs without improvement before the learning rate is halved.
    max_grad_norm : float, default=1.0
        Gradient-norm clipping threshold.
    label_noise : float, default=0.0
        Standard deviation of Gaussian noise added to the training targets, drawn afresh
        each epoch (in score units). Softens the 9/10 label spikes.
    device : {"auto", "cpu", "cuda", "cuda:N"}, default="auto"
        ``"auto"`` trains on CUDA when torch sees a device, else on the CPU. ``"gpu"`` is an
        alias of ``"cuda"``. ``"cuda"`` or ``"cuda:N"`` without that CUDA device raises
        :class:`~gbscore.exceptions.DeviceUnavailableError`.
    n_jobs : int or None, default=1
        Torch CPU threads during ``fit`` and ``predict`` (restored afterwards; the setting is
        process-wide). ``None`` keeps torch's current setting. Results are reproducible for a
        given seed and thread count. One thread by default: on a shared 2-core machine two
        torch threads ran several times slower than one, and a stack fits bases in parallel.
    clip : bool, default=True
        Clip predictions to [0, 10].
    random_state : int, RandomState instance or None, default=0
        Seeds weight initialisation, dropout, batch order, the inner split and label noise.
        On the CPU two fits with the same integer seed give identical predictions.

    Attributes
    ----------
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when fitted on a DataFrame with string column names.
    uses_blocks_ : bool
        Whether the metric and conversation blocks were found by name.
    metric_columns_, dense_columns_ : list
        Column names (positions for a plain array) of the metric block and the dense features.
    conversation_columns_ : dict
        Conversation prefix -> its column names.
    categorical_columns_ : list of str
        One-hot encoded columns, with their levels in ``categories_``.
    device_ : str
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``: where the network was trained.
    n_epochs_ : int
        Epochs run; ``best_epoch_`` is the one whose weights were kept (1-based).
    history_ : list of dict
        Per epoch: training loss, validation loss (or None) and learning rate.
    residual_sd_ : float
        Weighted RMSE on the validation rows (training rows when there are none); the
        uncertainty of ``loss="mse"``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 4))
    >>> y = 5 + 2 * X[:, 0]
    >>> model = MLPScoreRegressor(hidden=16, max_epochs=5).fit(X, y)
    >>> model.predict(X[:3]).shape, bool(model.predict_uncertainty(X[:3]).min() > 0)
    ((3,), True)
    """

    _parameter_constraints: dict = {
        "loss": [StrOptions({"mse", "heteroscedastic", "ordinal"})],
        "hidden": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_blocks": [Interval(numbers.Integral, 0, None, closed="left")],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "bilinear_rank": [Interval(numbers.Integral, 0, None, closed="left")],
        "metric_prefix": [str],
        "conversation_prefixes": [tuple, list],
        "drop_prefixes": [tuple, list],
        "categorical_columns": [tuple, list],
        "trunk_blocks": ["boolean"],
        "mae_weight": [Interval(numbers.Real, 0, 1, closed="both")],
        "nll_beta": [Interval(numbers.Real, 0, 1, closed="both")],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="left")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "lr_patience": [Interval(numbers.Integral, 0, None, closed="left")],
        "max_grad_norm": [Interval(numbers.Real, 0, None, closed="neither")],
        "label_noise": [Interval(numbers.Real, 0, None, closed="left")],
        "device": [device_constraint()],
        "n_jobs": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "clip": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        loss="mse",
        hidden=128,
        n_blocks=2,
        dropout=0.1,
        bilinear_rank=16,
        metric_prefix="metric_text__",
        conversation_prefixes=("system_prompt__", "user_prompt__", "response__"),
        drop_prefixes=("metric_given__",),
        categorical_columns=("metric_family",),
        trunk_blocks=False,
        mae_weight=0.0,
        nll_beta=0.5,
        learning_rate=1e-3,
        weight_decay=1e-4,
        batch_size=512,
        max_epochs=30,
        validation_fraction=0.1,
        n_iter_no_change=6,
        lr_patience=2,
        max_grad_norm=1.0,
        label_noise=0.0,
        device="auto",
        n_jobs=1,
        clip=True,
        random_state=0,
    ):
        self.loss = loss
        self.hidden = hidden
        self.n_blocks = n_blocks
        self.dropout = dropout
        self.bilinear_rank = bilinear_rank
        self.metric_prefix = metric_prefix
        self.conversation_prefixes = conversation_prefixes
        self.drop_prefixes = drop_prefixes
        self.categorical_columns = categorical_columns
        self.trunk_blocks = trunk_blocks
        self.mae_weight = mae_weight
        self.nll_beta = nll_beta
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.lr_patience = lr_patience
        self.max_grad_norm = max_grad_norm
        self.label_noise = label_noise
        self.device = device
        self.n_jobs = n_jobs
        self.clip = clip
        self.random_state = random_state

    # ------------------------------------------------------------------ fit

    def fit(self, X, y, sample_weight=None):
        """Train the network, stopping early on a conversation-grouped inner split.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            The featurized rows; a DataFrame's column names locate the embedding blocks.
        y : array-like of shape (n_samples,)
            Scores (the judge's 0-10 scale).
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights of the loss, the standardisation and the validation loss.

        Returns
        -------
        self
        """
        self._validate_params()
        import torch

        A, frame, names, y = self._validate_input(X, y=y, reset=True)
        y = np.asarray(y, dtype=np.float64)
        # scikit-learn's check also rejects all-zero weights.
        w = _check_sample_weight(sample_weight, A, dtype=np.float64, ensure_non_negative=True)
        self.device_ = resolve_device(self.device, library="torch", caller=type(self).__name__)
        self._find_layout(frame, names, A)
        dense, blocks = self._fit_transforms(A, frame, names, w)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        tr, val = self._inner_split(A, seed)

        if self.loss == "ordinal":
            self.y_mean_, self.y_scale_ = 0.0, 1.0
        else:
            mean, scale = _weighted_mean_std(y[:, None], w)
            self.y_mean_, self.y_scale_ = float(mean[0]), float(scale[0])

        spec = {
            "n_dense": dense.shape[1],
            "metric_dim": len(self._metric_pos) if self.uses_blocks_ else 0,
            "block_dims": [len(p) for p in self._conv_pos.values()] if self.uses_blocks_ else [],
            "rank": self.bilinear_rank if self.uses_blocks_ else 0,
            "hidden": self.hidden,
            "n_blocks": self.n_blocks,
            "dropout": float(self.dropout),
            "n_out": 2 if self.loss == "heteroscedastic" else 1,
            "n_thresholds": _N_LEVELS - 1 if self.loss == "ordinal" else 0,
        }
        with self._torch_context(torch, seed):
            net = self._train(torch, spec, dense, blocks, y, w, tr, val, seed)
        self.net_spec_ = spec
        self.state_dict_ = {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}
        # Predictions use a float64 copy, rebuilt from state_dict_ on first use.
        self._net = None

        # The constant SD of loss="mse" is the residual RMSE on rows the weights did not see.
        rows = val if val is not None else tr
        pred = self._forward_mean(
            self._forward(dense[rows], None if blocks is None else blocks[rows])
        )
        err = pred - y[rows]
        self.residual_sd_ = float(np.sqrt(np.average(err**2, weights=w[rows] + 1e-12)))
        return self

    def _train(self, torch, spec, dense, blocks, y, w, tr, val, seed):
        net = _torch_net_class()(**spec)
        if self.loss == "ordinal":
            self._init_thresholds(torch, net, y[tr], w[tr])
        device = torch.device(self.device_)
        net.to(device)
        optim = torch.optim.AdamW(
            net.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optim, mode="min", factor=0.5, patience=self.lr_patience
        )

        def tensor(a):
            return None if a is None else torch.as_tensor(a, device=device)

        d_tr, b_tr = tensor(dense[tr]), tensor(None if blocks is None else blocks[tr])
        w_tr = tensor(w[tr].astype(np.float32))
        y_tr = y[tr]
        if val is not None:
            d_val = tensor(dense[val])
            b_val = tensor(None if blocks is None else blocks[val])
            t_val = tensor(self._targets(y[val]))
            w_val = tensor(w[val].astype(np.float32))
        noise_rng = np.random.default_rng(seed)
        gen = torch.Generator().manual_seed(seed)
        n = len(tr)
        best, best_state, since_best = np.inf, None, 0
        self.history_ = []
        for epoch in range(1, self.max_epochs + 1):
            net.train()
            y_ep = y_tr
            if self.label_noise:
                y_ep = y_tr + noise_rng.normal(0.0, self.label_noise, size=n)
            t_tr = tensor(self._targets(y_ep))
            order = torch.randperm(n, generator=gen).to(device)
            total, total_w = 0.0, 0.0
            for start in range(0, n, self.batch_size):
                idx = order[start : start + self.batch_size]
                bw = w_tr[idx]
                if float(bw.sum()) <= 0:
                    continue
                out = net(d_tr[idx], None if b_tr is None else b_tr[idx])
                per_row = self._loss_rows(torch, net, out, t_tr[idx])
                loss = (per_row * bw).sum() / bw.sum()
                optim.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), self.max_grad_norm)
                optim.step()
                total += float(loss.detach()) * float(bw.sum())
                total_w += float(bw.sum())
            train_loss = total / max(total_w, 1e-12)
            val_loss = None
            if val is not None:
                net.eval()
                with torch.no_grad():
                    per_row = torch.cat(
                        [
                            self._loss_rows(
                                torch,
                                net,
                                net(
                                    d_val[s : s + _PREDICT_BATCH],
                                    None if b_val is None else b_val[s : s + _PREDICT_BATCH],
                                ),
                                t_val[s : s + _PREDICT_BATCH],
                            )
                            for s in range(0, len(val), _PREDICT_BATCH)
                        ]
                    )
                    val_loss = float((per_row * w_val).sum() / w_val.sum().clamp_min(1e-12))
            self.history_.append(
                {
                    "epoch": epoch,
                    "train_loss": train_loss,
                    "val_loss": val_loss,
                    "lr": optim.param_groups[0]["lr"],
                }
            )
            monitored = val_loss if val_loss is not None else train_loss
            if not np.isfinite(monitored):
                raise ConfigError(
                    f"MLPScoreRegressor: the loss became {monitored} at epoch {epoch}; lower "
                    f"learning_rate (now {self.learning_rate}) or check X for extreme values"
                )
            if val is None:
                best_state = None
                self.best_epoch_ = epoch
            elif monitored < best - 1e-7:
                best, since_best = monitored, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                self.best_epoch_ = epoch
            else:
                since_best += 1
            sched.step(monitored)
            if val is not None and since_best >= self.n_iter_no_change:
                break
        self.n_epochs_ = epoch
        if best_state is not None:
            net.load_state_dict(best_state)
        return net

    def _init_thresholds(self, torch, net, y, w):
        # Start the thresholds at the training rows' cumulative shares, so that the first
        # epochs learn how rows differ rather than where the labels sit overall.
        levels = np.arange(_N_LEVELS - 1)
        above = np.array([np.average(self._soft_above(y, k), weights=w + 1e-12) for k in levels])
        above = np.clip(above, 1e-3, 1 - 1e-3)
        # P(y > k) = sigmoid(f - b_k) with f ~ 0 at start, so b_k = -logit(share above k).
        b = np.maximum.accumulate(np.log((1 - above) / above))
        gaps = np.maximum(np.diff(b), 1e-2)
        with torch.no_grad():
            net.threshold_first.fill_(float(b[0]))
            # softplus^-1(g) = log(expm1(g))
            net.threshold_gaps.copy_(torch.as_tensor(np.log(np.expm1(gaps)), dtype=torch.float32))

    @staticmethod
    def _soft_above(y, k):
        # Share of "score above level k": 1 for y >= k + 1, 0 for y <= k, linear between, so
        # that the sum over k of the targets is the (clipped) score itself.
        return np.clip(np.clip(y, 0, _N_LEVELS - 1) - k, 0.0, 1.0)

    def _targets(self, y):
        if self.loss == "ordinal":
            return np.stack([self._soft_above(y, k) for k in range(_N_LEVELS - 1)], axis=1).astype(
                np.float32
            )
        return ((y - self.y_mean_) / self.y_scale_).astype(np.float32)

    def _loss_rows(self, torch, net, out, target):
        F = torch.nn.functional
        if self.loss == "mse":
            return (out[:, 0] - target) ** 2
        if self.loss == "heteroscedastic":
            mu, logvar = out[:, 0], out[:, 1].clamp(*_LOGVAR_RANGE)
            nll = 0.5 * (logvar + (target - mu) ** 2 * torch.exp(-logvar))
            if self.nll_beta:
                # beta-NLL (Seitzer et al., 2022): plain NLL scales the mean's gradient by
                # 1/variance, so the network explains errors away as noise and the mean stalls;
                # weighting each row by a constant var**beta restores the mean's gradient.
                nll = nll * torch.exp(self.nll_beta * logvar).detach()
            if self.mae_weight:
                return (1 - self.mae_weight) * nll + self.mae_weight * (target - mu).abs()
            return nll
        logits = out[:, :1] - net.thresholds()[None, :]
        return F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(dim=1)

    # -------------------------------------------------------------- predict

    def predict(self, X):
        """Predicted scores, float64, clipped to [0, 10] when ``clip=True``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        out = self._predict_raw(X)
        pred = self._forward_mean(out)
        return np.clip(pred, 0.0, 10.0) if self.clip else pred

    def predict_uncertainty(self, X):
        """Predicted standard deviation of the score per row (always positive).

        ``loss="mse"``: the constant ``residual_sd_``. ``"heteroscedastic"``: the predicted
        ``exp(0.5 * logvar)`` in score units. ``"ordinal"``: the standard deviation of the
        predicted distribution over the levels 0-10.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        out = self._predict_raw(X)
        if self.loss == "mse":
            return np.full(len(out), max(self.residual_sd_, 1e-6))
        if self.loss == "heteroscedastic":
            logvar = np.clip(out[:, 1], *_LOGVAR_RANGE)
            return np.exp(0.5 * logvar) * self.y_scale_
        probs = self._level_probs(out)
        levels = np.arange(_N_LEVELS, dtype=np.float64)
        mean = probs @ levels
        var = probs @ levels**2 - mean**2
        return np.sqrt(np.maximum(var, 1e-12))

    def _predict_raw(self, X):
        check_is_fitted(self, "state_dict_")
        if not isinstance(X, pd.DataFrame) and self.categorical_columns_:
            raise DataError(
                "MLPScoreRegressor was fitted on a DataFrame with the categorical column(s) "
                f"{self.categorical_columns_}; pass a DataFrame with the same columns to predict"
            )
        A, frame, names, _ = self._validate_input(X, reset=False)
        if names is None:
            # A plain array after a DataFrame fit: same column order assumed (scikit-learn
            # has already warned that the names are missing).
            names = self.numeric_columns_
        dense, blocks = self._transform(A, frame, names)
        return self._forward(dense, blocks)

    def _forward(self, dense, blocks):
        """Network outputs (float64) for prepared inputs, in batches, computed in float64."""
        import torch

        net, device = self._get_net(torch)
        outs = []
        with self._threads(torch), torch.no_grad():
            for s in range(0, len(dense), _PREDICT_BATCH):
                d = torch.as_tensor(dense[s : s + _PREDICT_BATCH], device=device).double()
                b = (
                    None
                    if blocks is None
                    else torch.as_tensor(blocks[s : s + _PREDICT_BATCH], device=device).double()
                )
                out = net(d, b)
                if self.loss == "ordinal":
                    out = out[:, :1] - net.thresholds()[None, :]
                outs.append(out.cpu().numpy().astype(np.float64))
        if not outs:
            return np.zeros(
                (0, _N_LEVELS - 1 if self.loss == "ordinal" else self.net_spec_["n_out"])
            )
        return np.concatenate(outs)

    def _forward_mean(self, out):
        if self.loss == "ordinal":
            # E[level] = sum_k P(level > k) for levels 0..10
            return (1.0 / (1.0 + np.exp(-out))).sum(axis=1)
        return out[:, 0] * self.y_scale_ + self.y_mean_

    def _level_probs(self, logits):
        above = 1.0 / (1.0 + np.exp(-logits))  # P(level > k), non-increasing in k
        n = len(above)
        cum = np.hstack([np.ones((n, 1)), above, np.zeros((n, 1))])
        return np.maximum(cum[:, :-1] - cum[:, 1:], 0.0)

    def _get_net(self, torch):
        cached = getattr(self, "_net", None)
        if cached is not None:
            return cached[0], torch.device(cached[1])
        # A model trained on a GPU predicts on one when there is one, else on the CPU.
        device = "cuda" if self.device_ != "cpu" and torch.cuda.is_available() else "cpu"
        net = _torch_net_class()(**self.net_spec_)
        net.load_state_dict({k: torch.as_tensor(v) for k, v in self.state_dict_.items()})
        # Inference in float64: float32 matrix products round differently with the batch
        # size, so a row's prediction would depend on which other rows came with it.
        net.to(device=device, dtype=torch.float64).eval()
        self._net = (net, device)
        return net, torch.device(device)

    def __getstate__(self):
        # The torch module is rebuilt from state_dict_ on first use after unpickling.
        state = super().__getstate__()
        state.pop("_net", None)
        return state

    # -------------------------------------------------------- input layout

    def _validate_input(self, X, *, y=None, reset):
        frame = X if isinstance(X, pd.DataFrame) else None
        mixed = frame is not None and not all(is_numeric_dtype(t) for t in frame.dtypes)
        kw = {"dtype": None if mixed else [np.float32, np.float64], "reset": reset}
        if reset:
            Xv, y = validate_data(self, X, y, y_numeric=True, **kw)
        else:
            Xv = validate_data(self, X, **kw)
        if mixed:
            # Non-numeric columns are categorical; only the numeric ones become an array.
            num = [c for c in frame.columns if is_numeric_dtype(frame[c].dtype)]
            A = frame[num].to_numpy(dtype=np.float32)
            assert_all_finite(A, input_name="X")
            names = [str(c) for c in num]
        else:
            A = np.asarray(Xv, dtype=np.float32)
            names = None if frame is None else [str(c) for c in frame.columns]
        return A, frame, names, y

    def _find_layout(self, frame, names, A):
        cat_set = set(self.categorical_columns)
        self.numeric_columns_ = names
        # Original labels, so the values can be read back from the frame at predict time.
        self.categorical_columns_ = (
            []
            if frame is None
            else [
                c
                for c in frame.columns
                if str(c) in cat_set or not is_numeric_dtype(frame[c].dtype)
            ]
        )
        metric, conv = [], {}
        if names is not None:
            metric = _block_columns(names, self.metric_prefix)
            for prefix in self.conversation_prefixes:
                pos = _block_columns(names, prefix)
                if pos:
                    conv[prefix] = pos
        self.uses_blocks_ = bool(metric) and bool(conv)
        if not self.uses_blocks_:
            metric, conv = [], {}
        self._metric_pos, self._conv_pos = metric, conv
        block_pos = set(metric).union(*conv.values())
        skip = set()
        if names is not None:
            for prefix in self.drop_prefixes:
                skip.update(_block_columns(names, prefix))
            categorical = {str(c) for c in self.categorical_columns_}
            skip.update(i for i, n in enumerate(names) if n in categorical)
        if not self.trunk_blocks:
            skip |= block_pos
        self._dense_pos = [i for i in range(A.shape[1]) if i not in skip]
        label = (lambda p: [names[i] for i in p]) if names is not None else list
        self.metric_columns_ = label(metric)
        self.conversation_columns_ = {k: label(v) for k, v in conv.items()}
        self.dense_columns_ = label(self._dense_pos)
        if not self.uses_blocks_:
            if names is None:
                why = "X has no column names"
            elif not _block_columns(names, self.metric_prefix):
                why = f"X has no columns named '{self.metric_prefix}<i>' (the metric block)"
            else:
                why = (
                    "X has no columns named '<prefix><i>' for any conversation prefix in "
                    f"{list(self.conversation_prefixes)}"
                )
            log.info(
                "MLPScoreRegressor: %s, so its %d numeric columns are all dense features, there "
                "is no bilinear layer, and the inner validation split groups identical rows",
                why,
                len(self._dense_pos),
            )

    def _positions(self, names):
        """Column positions of the fitted layout in the current numeric array."""
        if names is None or self.numeric_columns_ is None:
            # fitted on a plain array: the layout is positional
            return self.dense_columns_, [], {}
        index = {n: i for i, n in enumerate(names)}
        return (
            [index[n] for n in self.dense_columns_],
            [index[n] for n in self.metric_columns_],
            {k: [index[n] for n in v] for k, v in self.conversation_columns_.items()},
        )

    def _fit_transforms(self, A, frame, names, w):
        self.categories_ = []
        for c in self.categorical_columns_:
            values = pd.Series(frame[c]).dropna().unique()
            self.categories_.append(np.asarray(sorted(values, key=str), dtype=object))
        mean, scale = _weighted_mean_std(A[:, self._dense_pos], w)
        self.dense_mean_, self.dense_scale_ = mean, scale
        return self._transform(A, frame, names)

    def _transform(self, A, frame, names):
        dense_pos, metric_pos, conv_pos = self._positions(names)
        mean = self.dense_mean_.astype(np.float32)
        scale = self.dense_scale_.astype(np.float32)
        parts = [(A[:, dense_pos] - mean) / scale]
        for c, levels in zip(self.categorical_columns_, self.categories_, strict=True):
            codes = pd.Index(levels).get_indexer(pd.Series(frame[c]).astype(object))
            onehot = np.zeros((len(A), len(levels)), dtype=np.float32)
            seen = codes >= 0
            onehot[np.flatnonzero(seen), codes[seen]] = 1.0
            parts.append(onehot)
        dense = np.ascontiguousarray(np.hstack(parts), dtype=np.float32)
        blocks = None
        if self.uses_blocks_ and self.bilinear_rank:
            blocks = np.hstack(
                [_unit_rows(A[:, metric_pos])] + [_unit_rows(A[:, p]) for p in conv_pos.values()]
            ).astype(np.float32)
        return dense, blocks

    def _inner_split(self, A, seed):
        n = len(A)
        if not self.validation_fraction or n < _MIN_ROWS_FOR_VALIDATION:
            return np.arange(n), None
        if self.uses_blocks_:
            cols = sorted(set().union(*self._conv_pos.values()))
        else:
            cols = list(range(A.shape[1]))
        groups = _row_groups(A[:, cols])
        if len(np.unique(groups)) < 2:
            return np.arange(n), None
        splitter = GroupShuffleSplit(
            n_splits=1, test_size=self.validation_fraction, random_state=seed
        )
        tr, val = next(splitter.split(A, groups=groups))
        return np.sort(tr), np.sort(val)

    # ---------------------------------------------------------- torch setup

    @contextlib.contextmanager
    def _threads(self, torch):
        if self.n_jobs is None:
            yield
            return
        before = torch.get_num_threads()
        torch.set_num_threads(int(self.n_jobs))
        try:
            yield
        finally:
            torch.set_num_threads(before)

    @contextlib.contextmanager
    def _torch_context(self, torch, seed):
        """Seeded, and on the CPU deterministic, training; global torch state is restored."""
        index = cuda_index(self.device_)
        if self.device_ == "cpu":
            devices = []
        else:
            devices = [torch.cuda.current_device() if index is None else index]
        det_before = torch.are_deterministic_algorithms_enabled()
        warn_before = torch.is_deterministic_algorithms_warn_only_enabled()
        with torch.random.fork_rng(devices=devices), self._threads(torch):
            torch.manual_seed(seed)
            # CUDA's deterministic mode needs CUBLAS_WORKSPACE_CONFIG set before start-up,
            # so it is only forced on the CPU, where every op used here has a deterministic path.
            if self.device_ == "cpu":
                torch.use_deterministic_algorithms(True)
            try:
                yield
            finally:
                torch.use_deterministic_algorithms(det_before, warn_only=warn_before)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
