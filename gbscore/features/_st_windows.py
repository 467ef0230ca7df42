"""Token windows of the sentence encoder: cutting, token-budget batches, pooling.

Each text is tokenized once.  A text longer than the model's window is cut into
overlapping windows of its token ids (no decoding back to text); the windows of all
texts are sorted by length and batched by a token budget, and each text's vector pools
its windows' vectors.  The functions take the encoder's parameters explicitly and need
no torch: :class:`~gbscore.features.SentenceTransformerEncoder` binds them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..exceptions import EncoderUnavailableError

__all__ = [
    "Tokens",
    "pad_batch",
    "pool_windows",
    "special_tokens",
    "token_budget_batches",
    "tokenize_windows",
    "window_sizes",
]

#: A window joins a batch only if it has at least this share of the batch's longest window's
#: tokens: padding costs as much as real tokens, and on a CPU a small batch costs next to
#: nothing more than a big one.
_MIN_BATCH_FILL = 0.8


class Tokens(NamedTuple):
    """Texts tokenized once, and the token windows cut from them."""

    ids: list  # token ids of each text, without special tokens
    owner: np.ndarray  # text index of each window
    start: np.ndarray  # first token of each window
    stop: np.ndarray  # one past its last token
    offsets: list | None  # (start, end) characters of each token, when asked for


def window_sizes(st_model, *, max_seq_length, chunk_tokens, chunk_stride, model, caller):
    """Return (max_seq_length, chunk_tokens, chunk_stride) after defaults.

    ``model`` and ``caller`` (the encoder's class name) only go into error messages.
    """
    max_len = max_seq_length or st_model.max_seq_length
    if max_len is None:
        raise EncoderUnavailableError(
            f"The model {model!r} declares no max_seq_length; pass max_seq_length=N."
        )
    n_special = st_model.tokenizer.num_special_tokens_to_add(pair=False)
    room = max_len - n_special
    chunk = chunk_tokens or room
    if chunk > room:
        raise ValueError(
            f"The 'chunk_tokens' parameter of {caller} must be at most "
            f"max_seq_length - special tokens = {max_len} - {n_special} = {room}, or the "
            f"model would truncate every window. Got {chunk} instead."
        )
    stride = chunk // 4 if chunk_stride is None else chunk_stride
    if stride >= chunk:
        raise ValueError(
            f"The 'chunk_stride' parameter of {caller} (overlap between "
            f"windows) must be smaller than the window of {chunk} tokens. Got {stride}."
        )
    return max_len, chunk, stride


def tokenize_windows(
    st_model, texts, *, window, stride, truncate, max_chunks, model, offsets=False
):
    """Tokenize ``texts`` once and cut the token windows the encoder encodes.

    Returns
    -------
    tokens : Tokens
    """
    first = st_model[0] if len(st_model) else None
    if getattr(first, "do_lower_case", False):
        # sentence-transformers lowercases before tokenizing for such models (v5 in
        # Python, v6 in the tokenizer); doing it here too is harmless and keeps both.
        texts = [t.lower() for t in texts]
    try:
        encoded = st_model.tokenizer(
            texts,
            add_special_tokens=False,
            truncation=False,
            return_offsets_mapping=offsets,
            return_attention_mask=False,
            return_token_type_ids=False,
            verbose=False,
        )
    except NotImplementedError as exc:
        raise EncoderUnavailableError(
            f"The tokenizer of {model!r} cannot return character offsets, which "
            "split_into_chunks needs; encode() does not need them."
        ) from exc
    ids = encoded["input_ids"]
    step = window - stride
    owner, start, stop = [], [], []
    for i, tokens in enumerate(ids):
        n = len(tokens)
        starts = [0]
        if not truncate:
            # A window every `step` tokens until one reaches the end of the text.
            while starts[-1] + window < n:
                starts.append(starts[-1] + step)
            if max_chunks is not None and len(starts) > max_chunks:
                keep = np.unique(np.linspace(0, len(starts) - 1, max_chunks).round())
                starts = [starts[int(k)] for k in keep]
        for s in starts:
            owner.append(i)
            start.append(s)
            stop.append(min(s + window, n))
    return Tokens(
        ids,
        np.asarray(owner, dtype=np.int64),
        np.asarray(start, dtype=np.int64),
        np.asarray(stop, dtype=np.int64),
        encoded["offset_mapping"] if offsets else None,
    )


def special_tokens(st_model, *, model):
    """Return (prefix ids, suffix ids, pad id, whether the model takes token_type_ids)."""
    tokenizer = st_model.tokenizer
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a", add_special_tokens=True)
    ids = list(full["input_ids"])
    for k in range(len(ids) - len(plain) + 1):
        if ids[k : k + len(plain)] == list(plain):
            prefix, suffix = ids[:k], ids[k + len(plain) :]
            break
    else:  # pragma: no cover - no tokenizer seen does this
        raise EncoderUnavailableError(
            f"Cannot tell where the tokenizer of {model!r} puts its special tokens."
        )
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return prefix, suffix, pad, "token_type_ids" in full


def token_budget_batches(lengths, *, batch_size, batch_tokens):
    """Yield index arrays of windows of similar length, each within the token budget.

    Windows are sorted longest first; a batch ends before the window that would break
    the token budget (rows x the batch's longest window) or ``batch_size``, or that is
    shorter than ``_MIN_BATCH_FILL`` of the batch's longest window.
    """
    order = np.argsort(-lengths, kind="stable")
    cap = batch_size or len(order)
    start = 0
    while start < len(order):
        width = int(lengths[order[start]])
        rows = max(1, min(cap, batch_tokens // width))
        fill = lengths[order[start : start + rows]] >= _MIN_BATCH_FILL * width
        if not fill.all():
            rows = int(np.argmin(fill))
        yield order[start : start + rows]
        start += rows


def pad_batch(tokens, batch, *, prefix, suffix, pad, left):
    """Return the padded ``input_ids`` and ``attention_mask`` (int64) of windows ``batch``.

    Each window gets the model's special tokens around it; ``left`` pads on the left.
    """
    width = len(prefix) + len(suffix) + int((tokens.stop[batch] - tokens.start[batch]).max())
    input_ids = np.full((len(batch), width), pad, dtype=np.int64)
    mask = np.zeros((len(batch), width), dtype=np.int64)
    for row, w in enumerate(batch):
        seq = prefix + tokens.ids[tokens.owner[w]][tokens.start[w] : tokens.stop[w]] + suffix
        cols = slice(width - len(seq), width) if left else slice(0, len(seq))
        input_ids[row, cols] = seq
        mask[row, cols] = 1
    return input_ids, mask


def pool_windows(vectors, tokens, n_texts, *, pooling, normalize):
    """Return one float32 row per text from its windows' ``vectors`` (normalised in place).

    ``pooling="mean"`` weights each window by its token count, ``"max"`` takes the
    element-wise max; ``normalize`` scales windows and pooled rows to unit length.
    """
    if normalize:
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    if len(vectors) == n_texts:
        pooled = vectors
    else:
        owner = tokens.owner
        starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        if pooling == "max":
            pooled = np.maximum.reduceat(vectors, starts, axis=0)
        else:
            weights = np.maximum(tokens.stop - tokens.start, 1).astype(np.float32)[:, None]
            pooled = np.add.reduceat(vectors * weights, starts, axis=0)
            pooled /= np.add.reduceat(weights, starts, axis=0)
        if normalize:
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            pooled = pooled / np.where(norms > 0, norms, 1.0)
    return np.ascontiguousarray(pooled, dtype=np.float32)
