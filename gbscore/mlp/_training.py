"""The MLP's training loop: AdamW, learning-rate halving, gradient clipping, early stopping.

Also the torch settings a fit runs under (threads, seed, deterministic algorithms), each
restored afterwards because torch keeps them process-wide.
"""

from __future__ import annotations

import contextlib
import threading
from typing import NamedTuple

import numpy as np

from .._device import cuda_index
from ..exceptions import ConfigError
from ._losses import init_thresholds, loss_rows, targets
from ._network import PREDICT_BATCH, torch_net_class

__all__ = ["Trained", "torch_context", "torch_threads", "train_network"]


class Trained(NamedTuple):
    """What :func:`train_network` returns."""

    net: object  # the network, with the best epoch's weights
    history: list  # per epoch: training loss, validation loss (or None), learning rate
    best_epoch: int  # 1-based epoch whose weights were kept
    n_epochs: int  # epochs run


# Torch's generator, thread count and deterministic flag are process-wide: two fits in
# threads of one process (a Dask worker's threads, `gbscore tune --n-jobs`) would mix their
# seeds and restore each other's settings. Each fit or prediction holds this lock, so fits in
# one process run one at a time and stay reproducible from their seed. Re-entrant because
# torch_context takes it and then enters torch_threads.
_TORCH_STATE_LOCK = threading.RLock()


@contextlib.contextmanager
def torch_threads(torch, n_jobs):
    """Run with ``n_jobs`` torch CPU threads (``None``: torch's current setting)."""
    with _TORCH_STATE_LOCK:
        if n_jobs is None:
            yield
            return
        before = torch.get_num_threads()
        torch.set_num_threads(int(n_jobs))
        try:
            yield
        finally:
            torch.set_num_threads(before)


@contextlib.contextmanager
def torch_context(torch, seed, *, device, n_jobs):
    """Seeded, and on the CPU deterministic, training; global torch state is restored."""
    index = cuda_index(device)
    if device == "cpu":
        devices = []
    else:
        devices = [torch.cuda.current_device() if index is None else index]
    with _TORCH_STATE_LOCK:
        det_before = torch.are_deterministic_algorithms_enabled()
        warn_before = torch.is_deterministic_algorithms_warn_only_enabled()
        with torch.random.fork_rng(devices=devices), torch_threads(torch, n_jobs):
            torch.manual_seed(seed)
            # CUDA's deterministic mode needs CUBLAS_WORKSPACE_CONFIG set before start-up,
            # so it is only forced on the CPU, where every op used here has a deterministic
            # path.
            if device == "cpu":
                torch.use_deterministic_algorithms(True)
            try:
                yield
            finally:
                torch.use_deterministic_algorithms(det_before, warn_only=warn_before)


def train_network(
    torch,
    spec,
    dense,
    blocks,
    y,
    w,
    tr,
    val,
    seed,
    *,
    device,
    loss,
    nll_beta,
    mae_weight,
    y_mean,
    y_scale,
    learning_rate,
    weight_decay,
    lr_patience,
    batch_size,
    max_epochs,
    n_iter_no_change,
    max_grad_norm,
    label_noise,
):
    """Train a network built from ``spec`` on rows ``tr``, early-stopping on rows ``val``.

    ``val=None`` trains all ``max_epochs`` on ``tr`` and keeps the last epoch. The keyword
    arguments are the estimator's parameters (and its target scaling) of the same names.

    Returns
    -------
    trained : Trained
    """
    net = torch_net_class()(**spec)
    if loss == "ordinal":
        init_thresholds(torch, net, y[tr], w[tr])
    device = torch.device(device)
    net.to(device)
    optim = torch.optim.AdamW(net.parameters(), lr=learning_rate, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optim, mode="min", factor=0.5, patience=lr_patience
    )

    def tensor(a):
        return None if a is None else torch.as_tensor(a, device=device)

    def rows_loss(out, target):
        return loss_rows(
            torch, net, out, target, loss=loss, nll_beta=nll_beta, mae_weight=mae_weight
        )

    def as_targets(scores):
        return targets(scores, loss=loss, y_mean=y_mean, y_scale=y_scale)

    d_tr, b_tr = tensor(dense[tr]), tensor(None if blocks is None else blocks[tr])
    w_tr = tensor(w[tr].astype(np.float32))
    y_tr = y[tr]
    if val is not None:
        d_val = tensor(dense[val])
        b_val = tensor(None if blocks is None else blocks[val])
        t_val = tensor(as_targets(y[val]))
        w_val = tensor(w[val].astype(np.float32))
    noise_rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    n = len(tr)
    best, best_state, since_best, best_epoch = np.inf, None, 0, None
    history = []
    for epoch in range(1, max_epochs + 1):
        net.train()
        y_ep = y_tr
        if label_noise:
            y_ep = y_tr + noise_rng.normal(0.0, label_noise, size=n)
        t_tr = tensor(as_targets(y_ep))
        order = torch.randperm(n, generator=gen).to(device)
        total, total_w = 0.0, 0.0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            bw = w_tr[idx]
            if float(bw.sum()) <= 0:
                continue
            out = net(d_tr[idx], None if b_tr is None else b_tr[idx])
            per_row = rows_loss(out, t_tr[idx])
            batch_loss = (per_row * bw).sum() / bw.sum()
            optim.zero_grad(set_to_none=True)
            batch_loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), max_grad_norm)
            optim.step()
            total += float(batch_loss.detach()) * float(bw.sum())
            total_w += float(bw.sum())
        train_loss = total / max(total_w, 1e-12)
        val_loss = None
        if val is not None:
            net.eval()
            with torch.no_grad():
                per_row = torch.cat(
                    [
                        rows_loss(
                            net(
                                d_val[s : s + PREDICT_BATCH],
                                None if b_val is None else b_val[s : s + PREDICT_BATCH],
                            ),
                            t_val[s : s + PREDICT_BATCH],
                        )
                        for s in range(0, len(val), PREDICT_BATCH)
                    ]
                )
                val_loss = float((per_row * w_val).sum() / w_val.sum().clamp_min(1e-12))
        history.append(
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
                f"learning_rate (now {learning_rate}) or check X for extreme values"
            )
        if val is None:
            best_state = None
            best_epoch = epoch
        elif monitored < best - 1e-7:
            best, since_best = monitored, 0
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            best_epoch = epoch
        else:
            since_best += 1
        sched.step(monitored)
        if val is not None and since_best >= n_iter_no_change:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    return Trained(net, history, best_epoch, epoch)
