"""Batched logit processors that run before the draw: logit bias, penalties, min_tokens.

Each works in place on ``logits: [N, V]`` for the rows that need it, with per-row parameter
tensors, so a batch costs a handful of kernels whatever its size.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def token_counts(
    token_lists: Sequence[Sequence[int]], vocab_size: int, device: torch.device
) -> torch.Tensor:
    """How often each token occurs in each list.

    Returns
    -------
    torch.Tensor
        ``[len(token_lists), vocab_size]`` int32 counts, built with one scatter over a padded
        ``[N, max_len]`` tensor (padding uses the extra column ``vocab_size``, dropped after).
    """
    rows = len(token_lists)
    max_len = max((len(t) for t in token_lists), default=0)
    counts = torch.zeros(rows, vocab_size + 1, dtype=torch.int32, device=device)
    if max_len == 0:
        return counts[:, :vocab_size]
    padded = torch.full((rows, max_len), vocab_size, dtype=torch.int64)
    for i, tokens in enumerate(token_lists):
        if tokens:
            padded[i, : len(tokens)] = torch.as_tensor(tokens, dtype=torch.int64)
    # padded: [N, max_len] token ids; vocab_size marks padding
    padded = padded.to(device, non_blocking=True)
    counts.scatter_add_(1, padded, torch.ones_like(padded, dtype=torch.int32))
    return counts[:, :vocab_size]


def apply_repetition_penalty(
    logits: torch.Tensor, seen: torch.Tensor, penalties: torch.Tensor
) -> None:
    """HF/CTRL repetition penalty in place: seen tokens' logits ``/ p`` if > 0 else ``* p``.

    Parameters
    ----------
    logits : torch.Tensor
        ``[N, V]`` float32, modified in place.
    seen : torch.Tensor
        ``[N, V]`` bool: the token occurs in the row's prompt or output.
    penalties : torch.Tensor
        ``[N]`` float32.
    """
    p = penalties.unsqueeze(1).to(logits.dtype)
    penalized = torch.where(logits > 0, logits / p, logits * p)
    torch.where(seen, penalized, logits, out=logits)


def apply_presence_frequency_penalties(
    logits: torch.Tensor,
    output_counts: torch.Tensor,
    presence: torch.Tensor,
    frequency: torch.Tensor,
) -> None:
    """OpenAI penalties in place: ``logits -= frequency * count + presence * (count > 0)``.

    Parameters
    ----------
    logits : torch.Tensor
        ``[N, V]`` float32, modified in place.
    output_counts : torch.Tensor
        ``[N, V]`` int32 counts over the output tokens only.
    presence, frequency : torch.Tensor
        ``[N]`` float32.
    """
    counts = output_counts.to(logits.dtype)
    logits -= frequency.unsqueeze(1) * counts
    logits -= presence.unsqueeze(1) * (counts > 0).to(logits.dtype)


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
