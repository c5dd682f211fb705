"""Batched logit processors that run before the draw: logit bias, penalties, min_tokens.

Each works in place on ``logits: [N, V]`` for the rows that need it, with per-row parameter
tensors, so a batch costs a handful of kernels whatever its size. Penalties read and write only
the ``R x L`` history slots (a few thousand values), never a full ``R x V`` pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def pad_histories(
    token_lists: Sequence[Sequence[int]], vocab_size: int, row_ids: Sequence[int]
) -> torch.Tensor:
    """Token lists as one ``[R, max_len]`` int64 tensor (CPU), each padded with its first token.

    Padding with a token the row really has makes the sparse penalties below exact: a padded
    slot reads and writes the same value as that token's real slot. Every list must be
    non-empty; ids outside ``[0, vocab_size)`` raise ``ValueError`` naming the batch row
    (``row_ids[i]`` for list i).
    """
    max_len = max(len(t) for t in token_lists)
    flat: list[int] = []
    for tokens in token_lists:
        flat.extend(tokens)
        flat.extend([tokens[0]] * (max_len - len(tokens)))
    padded = torch.tensor(flat, dtype=torch.int64).view(len(token_lists), max_len)
    # padded: [R, max_len] token ids
    bad = (padded < 0) | (padded >= vocab_size)
    if bool(bad.any()):
        row = int(bad.any(dim=1).nonzero()[0])
        raise ValueError(f"row {row_ids[row]}: prompt/output token ids outside the vocabulary "
                         f"[0, {vocab_size})")
    return padded


def apply_repetition_penalty(
    logits: torch.Tensor, rows: torch.Tensor, history: torch.Tensor, penalties: torch.Tensor
) -> None:
    """HF/CTRL repetition penalty in place: seen tokens' logits ``/ p`` if > 0 else ``* p``.

    Sparse: touches only the ``R x L`` history slots, not ``R x V``.

    Parameters
    ----------
    logits : torch.Tensor
        ``[N, V]`` float32, modified in place.
    rows : torch.Tensor
        ``[R]`` int64: the logits rows to penalize.
    history : torch.Tensor
        ``[R, L]`` int64 prompt + output ids, padded by ``pad_histories``.
    penalties : torch.Tensor
        ``[R]`` float32.
    """
    row_index = rows.unsqueeze(1).expand_as(history)
    seen = logits[row_index, history]
    p = penalties.unsqueeze(1).to(logits.dtype)
    logits[row_index, history] = torch.where(seen > 0, seen / p, seen * p)


def apply_presence_frequency_penalties(
    logits: torch.Tensor,
    rows: torch.Tensor,
    output: torch.Tensor,
    lengths: torch.Tensor,
    presence: torch.Tensor,
    frequency: torch.Tensor,
) -> None:
    """OpenAI penalties in place: ``logits -= frequency * count``, then ``-= presence``.

    Counts come from one integer scatter (exact in any order); only the ``R x L`` output slots
    are read and written.

    Parameters
    ----------
    logits : torch.Tensor
        ``[N, V]`` float32, modified in place.
    rows : torch.Tensor
        ``[R]`` int64: the logits rows to penalize.
    output : torch.Tensor
        ``[R, L]`` int64 output ids, padded by ``pad_histories``.
    lengths : torch.Tensor
        ``[R]`` int64: how many slots of each row are real (the rest is padding).
    presence, frequency : torch.Tensor
        ``[R]`` float32.
    """
    counts = torch.zeros(output.shape[0], logits.shape[1], dtype=torch.int32, device=logits.device)
    # counts: [R, V]; padding slots repeat a real token and must not count
    positions = torch.arange(output.shape[1], device=output.device)
    real = (positions.unsqueeze(0) < lengths.unsqueeze(1)).to(torch.int32)
    counts.scatter_add_(1, output, real)
    row_index = rows.unsqueeze(1).expand_as(output)
    slot_counts = counts.gather(1, output).to(logits.dtype)
    values = logits[row_index, output]
    values -= frequency.unsqueeze(1).to(logits.dtype) * slot_counts
    values -= presence.unsqueeze(1).to(logits.dtype) * (slot_counts > 0).to(logits.dtype)
    logits[row_index, output] = values


def apply_logit_bias(
    logits: torch.Tensor, rows: Sequence[int], biases: Sequence[dict[int, float]]
) -> None:
    """Add ``biases[i][t]`` to ``logits[rows[i], t]`` in place (one index_put for the batch)."""
    row_index: list[int] = []
    token_index: list[int] = []
    values: list[float] = []
    for row, bias in zip(rows, biases, strict=True):
        for token, value in bias.items():
            row_index.append(row)
            token_index.append(token)
            values.append(value)
    if not values:
        return
    device = logits.device
    logits.index_put_(
        (torch.tensor(row_index, device=device), torch.tensor(token_index, device=device)),
        torch.tensor(values, dtype=logits.dtype, device=device),
        accumulate=True,
    )


def mask_tokens(logits: torch.Tensor, rows: Sequence[int], tokens: Sequence[Sequence[int]]) -> None:
    """Set ``logits[rows[i], t] = -inf`` for every t in ``tokens[i]`` (min_tokens suppression)."""
    row_index = [row for row, ids in zip(rows, tokens, strict=True) for _ in ids]
    token_index = [t for ids in tokens for t in ids]
    if not row_index:
        return
    device = logits.device
    logits.index_put_(
        (torch.tensor(row_index, device=device), torch.tensor(token_index, device=device)),
        torch.tensor(float("-inf"), dtype=logits.dtype, device=device),
    )
