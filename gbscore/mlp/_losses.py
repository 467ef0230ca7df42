"""The three losses of the MLP, and what the network's output means under each.

``"mse"`` predicts the standardised score; ``"heteroscedastic"`` a standardised mean and a
log-variance; ``"ordinal"`` one logit, compared with learned thresholds between the levels
0..10 of the judge's scale.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "LOGVAR_RANGE",
    "N_LEVELS",
    "init_thresholds",
    "level_probs",
    "loss_rows",
    "output_mean",
    "output_sd",
    "targets",
]

#: The judge's scale: ordinal levels 0..10, so 10 cumulative thresholds between them.
N_LEVELS = 11
#: Log-variance is clamped so one badly fitted row cannot make the NLL explode.
LOGVAR_RANGE = (-9.0, 9.0)


def _soft_above(y, k):
    # Share of "score above level k": 1 for y >= k + 1, 0 for y <= k, linear between, so
    # that the sum over k of the targets is the (clipped) score itself.
    return np.clip(np.clip(y, 0, N_LEVELS - 1) - k, 0.0, 1.0)


def init_thresholds(torch, net, y, w):
    """Set the ordinal thresholds of ``net`` from the training scores ``y`` (weights ``w``)."""
    # Start the thresholds at the training rows' cumulative shares, so that the first
    # epochs learn how rows differ rather than where the labels sit overall.
    levels = np.arange(N_LEVELS - 1)
    above = np.array([np.average(_soft_above(y, k), weights=w + 1e-12) for k in levels])
    above = np.clip(above, 1e-3, 1 - 1e-3)
    # P(y > k) = sigmoid(f - b_k) with f ~ 0 at start, so b_k = -logit(share above k).
    b = np.maximum.accumulate(np.log((1 - above) / above))
    gaps = np.maximum(np.diff(b), 1e-2)
    with torch.no_grad():
        net.threshold_first.fill_(float(b[0]))
        # softplus^-1(g) = log(expm1(g))
        net.threshold_gaps.copy_(torch.as_tensor(np.log(np.expm1(gaps)), dtype=torch.float32))


def targets(y, *, loss, y_mean, y_scale):
    """Training targets (float32) for scores ``y``."""
    if loss == "ordinal":
        return np.stack([_soft_above(y, k) for k in range(N_LEVELS - 1)], axis=1).astype(np.float32)
    return ((y - y_mean) / y_scale).astype(np.float32)


def loss_rows(torch, net, out, target, *, loss, nll_beta, mae_weight):
    """Per-row loss (a torch tensor) of the network output ``out``."""
    F = torch.nn.functional
    if loss == "mse":
        return (out[:, 0] - target) ** 2
    if loss == "heteroscedastic":
        mu, logvar = out[:, 0], out[:, 1].clamp(*LOGVAR_RANGE)
        nll = 0.5 * (logvar + (target - mu) ** 2 * torch.exp(-logvar))
        if nll_beta:
            # beta-NLL (Seitzer et al., 2022): plain NLL scales the mean's gradient by
            # 1/variance, so the network explains errors away as noise and the mean stalls;
            # weighting each row by a constant var**beta restores the mean's gradient.
            nll = nll * torch.exp(nll_beta * logvar).detach()
        if mae_weight:
            return (1 - mae_weight) * nll + mae_weight * (target - mu).abs()
        return nll
    logits = out[:, :1] - net.thresholds()[None, :]
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(dim=1)


def output_mean(out, *, loss, y_mean, y_scale):
    """Predicted scores from the float64 network output (ordinal: logits over thresholds)."""
    if loss == "ordinal":
        # E[level] = sum_k P(level > k) for levels 0..10
        return (1.0 / (1.0 + np.exp(-out))).sum(axis=1)
    return out[:, 0] * y_scale + y_mean


def level_probs(logits):
    """Probability of each level 0..10 from the ordinal logits ``P(level > k)``."""
    above = 1.0 / (1.0 + np.exp(-logits))  # P(level > k), non-increasing in k
    n = len(above)
    cum = np.hstack([np.ones((n, 1)), above, np.zeros((n, 1))])
    return np.maximum(cum[:, :-1] - cum[:, 1:], 0.0)


def output_sd(out, *, loss, y_scale, residual_sd):
    """Predicted standard deviation of the score per row, from the float64 network output."""
    if loss == "mse":
        return np.full(len(out), max(residual_sd, 1e-6))
    if loss == "heteroscedastic":
        logvar = np.clip(out[:, 1], *LOGVAR_RANGE)
        return np.exp(0.5 * logvar) * y_scale
    probs = level_probs(out)
    levels = np.arange(N_LEVELS, dtype=np.float64)
    mean = probs @ levels
    var = probs @ levels**2 - mean**2
    return np.sqrt(np.maximum(var, 1e-12))
