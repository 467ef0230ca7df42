"""The torch network of the MLP: a residual trunk and a low-rank bilinear metric x text layer.

The trunk reads the standardised dense features and, when the embedding blocks were found and
``bilinear_rank > 0``, the bilinear layer's output. The ``nn.Module`` classes are defined on
first use, so importing gbscore does not import torch.
"""

from __future__ import annotations

import functools

import numpy as np

from ._losses import N_LEVELS

__all__ = ["PREDICT_BATCH", "forward_batches", "torch_net_class"]

#: Rows per forward pass at predict time (bounds memory, not a tuning knob).
PREDICT_BATCH = 8192


@functools.cache
def torch_net_class():
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


def forward_batches(torch, net, device, dense, blocks, *, ordinal, n_out):
    """Network outputs (float64 array) for prepared inputs, ``PREDICT_BATCH`` rows at a time.

    With ``ordinal`` the output is the logits over the thresholds, one column per threshold.
    """
    outs = []
    for s in range(0, len(dense), PREDICT_BATCH):
        d = torch.as_tensor(dense[s : s + PREDICT_BATCH], device=device).double()
        b = (
            None
            if blocks is None
            else torch.as_tensor(blocks[s : s + PREDICT_BATCH], device=device).double()
        )
        out = net(d, b)
        if ordinal:
            out = out[:, :1] - net.thresholds()[None, :]
        outs.append(out.cpu().numpy().astype(np.float64))
    if not outs:
        return np.zeros((0, N_LEVELS - 1 if ordinal else n_out))
    return np.concatenate(outs)
