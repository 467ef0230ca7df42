"""The two towers of :class:`~gbscore.features.ContrastiveMatchFeatures`: start, training, scores.

A tower is an affine map ``x @ W + b`` into the shared space; the towers' parameters travel as
numpy arrays ``(conversation_weight, conversation_bias, metric_weight, metric_bias)``. Only
:meth:`TowerTraining.fit` needs torch (imported when called).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._optional import import_optional

__all__ = ["TowerTraining", "initial_towers", "tower_features", "unit_rows"]


def unit_rows(A, dtype=np.float32):
    """``A`` as ``dtype`` with each row scaled to unit length (zero rows stay zero)."""
    A = np.asarray(A, dtype=dtype)
    return A / np.maximum(np.linalg.norm(A, axis=1, keepdims=True), 1e-12)


def initial_towers(D, d_conv, dim, seed):
    """Both towers start as one random projection, so the first cosines are the encoder's.

    ``D`` is the metric embedding's width; ``d_conv`` the conversation vector's (``D`` or a
    multiple of it, when the text columns are concatenated).
    """
    R = np.random.default_rng(seed).standard_normal((D, dim)).astype(np.float32)
    R /= np.sqrt(dim)
    conv_weight = R if d_conv == D else np.vstack([R] * (d_conv // D)) / (d_conv // D)
    zero = np.zeros(dim, dtype=np.float32)
    return conv_weight.copy(), zero.copy(), R.copy(), zero.copy()


@dataclass(frozen=True)
class TowerTraining:
    """How the towers are trained: the estimator's parameters of the same names."""

    dim: int
    loss: str
    temperature: float
    margin: float
    family_weight: float
    n_epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float

    def fit(self, conv, own, positive, conv_id, seed, candidate_embeddings, candidate_families):
        """Train both towers on the positive rows; return numpy parameters and the loss curve.

        Parameters
        ----------
        conv : ndarray of shape (n_rows, d_conv)
            Conversation vectors.
        own : ndarray of int, shape (n_rows,)
            Index of each row's metric among the candidates (negative: none).
        positive : ndarray of bool, shape (n_rows,)
        conv_id : ndarray of int, shape (n_rows,)
            Rows with the same texts share an id (their metrics are never negatives of each
            other).
        seed : int
        candidate_embeddings : ndarray of shape (n_candidates, D)
        candidate_families : ndarray of str, shape (n_candidates,)
        """
        torch = import_optional("torch", purpose="ContrastiveMatchFeatures.fit")
        init = initial_towers(candidate_embeddings.shape[1], conv.shape[1], self.dim, seed)
        rows = np.flatnonzero(positive & (own >= 0))
        if self.n_epochs == 0 or len(rows) == 0:
            return init, []
        # The matrices are small (a batch by ~100 metrics): extra threads only wait on each
        # other, and on a shared machine their spinning made a step ~4x slower.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._loop(
                torch,
                init,
                conv,
                own,
                rows,
                conv_id,
                seed,
                candidate_embeddings,
                candidate_families,
            )
        finally:
            torch.set_num_threads(threads)

    def _loop(self, torch, init, conv, own, rows, conv_id, seed, candidates, families):
        n_cand = len(candidates)
        # Which candidates are positives of each conversation: never negatives for it.
        conv_code, conv_of_row = np.unique(conv_id[rows], return_inverse=True)
        pos_pairs = np.zeros((len(conv_code), n_cand), dtype=bool)
        pos_pairs[conv_of_row, own[rows]] = True
        family_code = pd.factorize(families)[0]
        same_family = family_code[:, None] == family_code[None, :]

        gen = torch.Generator().manual_seed(int(seed))
        Wc, bc, Wm, bm = (torch.tensor(p, requires_grad=True) for p in init)
        C = torch.from_numpy(np.ascontiguousarray(conv[rows], dtype=np.float32))
        M = torch.from_numpy(unit_rows(candidates))
        target = torch.from_numpy(own[rows].astype(np.int64))
        pos_of_row = torch.from_numpy(pos_pairs[conv_of_row])
        fam_of_row = torch.from_numpy(same_family[own[rows]])
        conv_row = torch.from_numpy(conv_of_row.astype(np.int64))
        pos_pairs_t = torch.from_numpy(pos_pairs)
        log_family = float(np.log(self.family_weight)) if self.family_weight > 0 else -np.inf
        opt = torch.optim.AdamW(
            [Wc, bc, Wm, bm], lr=self.learning_rate, weight_decay=self.weight_decay
        )
        batch = min(self.batch_size, len(rows))
        curve = []
        for _ in range(self.n_epochs):
            order = torch.randperm(len(rows), generator=gen)
            total, n_batches = 0.0, 0
            for start in range(0, len(rows), batch):
                idx = order[start : start + batch]
                if len(idx) < 2 and n_batches:
                    continue
                f = torch.nn.functional.normalize(C[idx] @ Wc + bc, dim=1)
                g = torch.nn.functional.normalize(M @ Wm + bm, dim=1)
                S = f @ g.T  # conversations x candidates
                t = target[idx]
                own_pos = torch.nn.functional.one_hot(t, n_cand).bool()
                other_pos = pos_of_row[idx] & ~own_pos
                fam_neg = fam_of_row[idx] & ~pos_of_row[idx]
                # metric of row i against the batch's conversations j (in-batch direction);
                # j is no negative where metric i is also a positive of j's conversation
                B = S[:, t].T  # B[i, j] = cos(metric of row i, conversation j)
                batch_pos = pos_pairs_t[conv_row[idx]][:, t].T
                batch_pos.fill_diagonal_(False)
                loss = self._loss(torch, S, own_pos, other_pos, fam_neg, B, batch_pos, log_family)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach())
                n_batches += 1
            curve.append(total / max(n_batches, 1))
        params = tuple(p.detach().numpy().astype(np.float32, copy=True) for p in (Wc, bc, Wm, bm))
        return params, curve

    def _loss(self, torch, S, own_pos, other_pos, fam_neg, B, batch_pos, log_family):
        neg_inf = torch.finfo(S.dtype).min
        eye = torch.eye(len(B), dtype=torch.bool)
        if self.loss == "infonce":
            logits = S / self.temperature
            logits = logits.masked_fill(other_pos, neg_inf)
            logits = torch.where(fam_neg, logits + log_family, logits)
            c2m = -torch.log_softmax(logits, dim=1)[own_pos]
            in_batch = (B / self.temperature).masked_fill(batch_pos, neg_inf)
            m2c = -torch.log_softmax(in_batch, dim=1)[eye]
            return 0.5 * (c2m.mean() + m2c.mean())
        s_pos = S[own_pos]
        hardest = S.masked_fill(own_pos | other_pos, neg_inf).max(dim=1).values
        hinge = torch.relu(self.margin - s_pos + hardest)
        has_family = fam_neg.any(dim=1)
        fam_hardest = S.masked_fill(~fam_neg, neg_inf).max(dim=1).values
        fam_hinge = torch.where(
            has_family, torch.relu(self.margin - s_pos + fam_hardest), torch.zeros_like(s_pos)
        )
        batch_hardest = B.masked_fill(batch_pos | eye, neg_inf).max(dim=1).values
        has_other = ~(batch_pos | eye).all(dim=1)
        batch_hinge = torch.where(
            has_other, torch.relu(self.margin - s_pos + batch_hardest), torch.zeros_like(s_pos)
        )
        weight = 2.0 + self.family_weight * has_family.float()
        return ((hinge + batch_hinge + self.family_weight * fam_hinge) / weight).mean()


def tower_features(conv, own, params, candidate_embeddings, temperature, *, extra=None):
    """Cosine to the row's metric, its rank among the candidates, its softmax probability.

    ``own`` indexes the candidates, then the rows of ``extra`` (encoded names of metrics
    unknown at fit time; such a metric is one more candidate for its row).
    """
    # In float64: float32 products round differently with the number of rows, so a row's
    # features would depend on which other rows came with it (as for the MLP's inference).
    Wc, bc, Wm, bm = (np.asarray(p, dtype=np.float64) for p in params)
    metrics = np.asarray(candidate_embeddings, dtype=np.float64)
    if extra is not None:
        metrics = np.vstack([metrics, extra])
    f = unit_rows(np.asarray(conv, dtype=np.float64) @ Wc + bc, np.float64)
    g = unit_rows(unit_rows(metrics, np.float64) @ Wm + bm, np.float64)
    n_known = len(candidate_embeddings)
    S = f @ g[:n_known].T
    s = np.einsum("ij,ij->i", f, g[own])
    unknown = own >= n_known
    # a tolerance, so that a metric with the same encoded name is a tie, not a better one
    better = (S > s[:, None] + 1e-6).sum(axis=1)
    rank = better / np.maximum(n_known - 1 + unknown, 1)
    logits = S / temperature
    top = np.maximum(logits.max(axis=1), s / temperature)
    own_term = np.exp(s / temperature - top)
    denom = np.exp(logits - top[:, None]).sum(axis=1) + np.where(unknown, own_term, 0.0)
    return np.column_stack([s, rank, own_term / denom]).astype(np.float32)
