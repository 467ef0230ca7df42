"""The MLP estimator: :class:`MLPScoreRegressor`, with the scikit-learn regressor API."""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from .._device import cuda_index, device_constraint, resolve_device
from ..exceptions import DataError
from ._layout import (
    find_layout,
    fit_categories,
    inner_split,
    model_inputs,
    read_input,
    weighted_mean_std,
)
from ._losses import N_LEVELS, output_mean, output_sd
from ._network import forward_batches, torch_net_class
from ._training import torch_context, torch_threads, train_network

__all__ = ["MLPScoreRegressor"]


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
        torch threads ran several times slower than one, and the stack's CV runs folds in
        parallel. The fold loop does not raise an explicit count, so on a machine with many
        cores, set it (``model__n_jobs``, ``gbscore tune --model-threads``) for a faster fit.
        Fits in threads of one process run one at a time (torch's generator and thread
        count are process-wide), so each stays reproducible from its seed.
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

        A, frame, names, y = read_input(self, X, y=y, reset=True)
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
            mean, scale = weighted_mean_std(y[:, None], w)
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
            "n_thresholds": N_LEVELS - 1 if self.loss == "ordinal" else 0,
        }
        with torch_context(torch, seed, device=self.device_, n_jobs=self.n_jobs):
            net, self.history_, self.best_epoch_, self.n_epochs_ = train_network(
                torch,
                spec,
                dense,
                blocks,
                y,
                w,
                tr,
                val,
                seed,
                device=self.device_,
                loss=self.loss,
                nll_beta=self.nll_beta,
                mae_weight=self.mae_weight,
                y_mean=self.y_mean_,
                y_scale=self.y_scale_,
                learning_rate=self.learning_rate,
                weight_decay=self.weight_decay,
                lr_patience=self.lr_patience,
                batch_size=self.batch_size,
                max_epochs=self.max_epochs,
                n_iter_no_change=self.n_iter_no_change,
                max_grad_norm=self.max_grad_norm,
                label_noise=self.label_noise,
            )
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
        return output_sd(out, loss=self.loss, y_scale=self.y_scale_, residual_sd=self.residual_sd_)

    def _predict_raw(self, X):
        check_is_fitted(self, "state_dict_")
        if not isinstance(X, pd.DataFrame) and self.categorical_columns_:
            raise DataError(
                "MLPScoreRegressor was fitted on a DataFrame with the categorical column(s) "
                f"{self.categorical_columns_}; pass a DataFrame with the same columns to predict"
            )
        A, frame, names, _ = read_input(self, X, reset=False)
        if names is None:
            # A plain array after a DataFrame fit: same column order assumed (scikit-learn
            # has already warned that the names are missing).
            names = self.numeric_columns_
        dense, blocks = self._transform(A, frame, names)
        return self._forward(dense, blocks)

    def _forward(self, dense, blocks):
        """Network outputs (float64) for prepared inputs, in batches, computed in float64."""
        import torch

        # Under torch_threads' lock: building the network draws from torch's global generator,
        # which another thread's fit may be using.
        with torch_threads(torch, self.n_jobs), torch.no_grad():
            net, device = self._get_net(torch)
            return forward_batches(
                torch,
                net,
                device,
                dense,
                blocks,
                ordinal=self.loss == "ordinal",
                n_out=self.net_spec_["n_out"],
            )

    def _forward_mean(self, out):
        return output_mean(out, loss=self.loss, y_mean=self.y_mean_, y_scale=self.y_scale_)

    def _get_net(self, torch):
        cached = getattr(self, "_net", None)
        if cached is not None:
            return cached[0], torch.device(cached[1])
        # A model trained on a GPU predicts on that device when it is there, on the first GPU
        # when another machine has fewer, else on the CPU.
        device = "cpu"
        if self.device_ != "cpu" and torch.cuda.is_available():
            index = cuda_index(self.device_)
            fits = index is not None and index < torch.cuda.device_count()
            device = self.device_ if fits else "cuda"
        net = torch_net_class()(**self.net_spec_)
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

    def _find_layout(self, frame, names, A):
        layout = find_layout(
            frame,
            names,
            A.shape[1],
            metric_prefix=self.metric_prefix,
            conversation_prefixes=self.conversation_prefixes,
            drop_prefixes=self.drop_prefixes,
            categorical_columns=self.categorical_columns,
            trunk_blocks=self.trunk_blocks,
        )
        self.numeric_columns_ = names
        self.categorical_columns_ = layout.categorical
        self.uses_blocks_ = layout.uses_blocks
        self._metric_pos, self._conv_pos = layout.metric, layout.conversation
        self._dense_pos = layout.dense
        label = (lambda p: [names[i] for i in p]) if names is not None else list
        self.metric_columns_ = label(layout.metric)
        self.conversation_columns_ = {k: label(v) for k, v in layout.conversation.items()}
        self.dense_columns_ = label(layout.dense)

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
        self.categories_ = fit_categories(frame, self.categorical_columns_)
        mean, scale = weighted_mean_std(A[:, self._dense_pos], w)
        self.dense_mean_, self.dense_scale_ = mean, scale
        return self._transform(A, frame, names)

    def _transform(self, A, frame, names):
        dense_pos, metric_pos, conv_pos = self._positions(names)
        return model_inputs(
            A,
            frame,
            dense_pos,
            metric_pos,
            conv_pos,
            dense_mean=self.dense_mean_,
            dense_scale=self.dense_scale_,
            categorical_columns=self.categorical_columns_,
            categories=self.categories_,
            with_blocks=bool(self.uses_blocks_ and self.bilinear_rank),
        )

    def _inner_split(self, A, seed):
        group_columns = sorted(set().union(*self._conv_pos.values())) if self.uses_blocks_ else None
        return inner_split(
            A, seed, validation_fraction=self.validation_fraction, group_columns=group_columns
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
