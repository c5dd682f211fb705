"""Batched top-k / top-p / min-p filters (HF semantics) and the per-row-seeded draw.

All filters work in place on temperature-scaled ``logits: [R, V]`` float32 and set removed
tokens to ``-inf``; each keeps at least the most likely token.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

_NEG_INF = float("-inf")


def apply_top_k_top_p(
    logits: torch.Tensor, top_k: torch.Tensor | None, top_p: torch.Tensor | None
) -> None:
    """Top-k then top-p with one ascending sort, as HF's TopK/TopPLogitsWarper do in turn.

    Parameters
    ----------
    logits : torch.Tensor
        ``[R, V]`` float32, modified in place.
    top_k : torch.Tensor | None
        ``[R]`` int64 in 1..V (V disables). Tokens tied with the k-th largest are kept.
    top_p : torch.Tensor | None
        ``[R]`` float32 in (0, 1] (1 disables). Removes the least likely tokens whose cumulative
        mass is <= 1 - p, always keeping the most likely one.
    """
    vocab = logits.shape[1]
    logits_sort, order = logits.sort(dim=-1, descending=False)
    # logits_sort, order: [R, V], ascending
    if top_k is not None:
        kth_largest = logits_sort.gather(1, (vocab - top_k).clamp(0, vocab - 1).unsqueeze(1))
        logits_sort.masked_fill_(logits_sort < kth_largest, _NEG_INF)
    if top_p is not None:
        cumulative = logits_sort.softmax(dim=-1).cumsum(dim=-1)
        remove = cumulative <= (1 - top_p).unsqueeze(1)
        remove[:, -1] = False
        logits_sort.masked_fill_(remove, _NEG_INF)
    logits.scatter_(1, order, logits_sort)


def apply_min_p(logits: torch.Tensor, min_p: torch.Tensor) -> None:
    """Remove tokens whose probability is below ``min_p`` times the row's top probability.

    No sort: one softmax and one max per row. ``logits: [R, V]`` in place, ``min_p: [R]``.
    """
    probs = logits.softmax(dim=-1)
    threshold = probs.amax(dim=-1, keepdim=True) * min_p.unsqueeze(1)
    logits.masked_fill_(probs < threshold, _NEG_INF)


def draw_from_probs(
    probs: torch.Tensor, generators: Sequence[torch.Generator | None]
) -> torch.Tensor:
    """One token per row by the exponential race: ``argmax(probs / q)``, ``q ~ Exp(1)``.

    ``argmax_i p_i / q_i`` is distributed as ``p`` (the smallest ``q_i / p_i`` of independent
    exponentials with rates ``p_i`` wins with probability ``p_i``). A row with a generator draws
    its noise alone, always ``[V]`` values from its own stream, so its token depends only on its
    probabilities and its generator, never on the rest of the batch; the others share one draw.

    Parameters
    ----------
    probs : torch.Tensor
        ``[R, V]`` float32, rows summing to 1 (zeros never win: some entry is > 0).
    generators : Sequence[torch.Generator | None]
        One per row, on ``probs.device``.

    Returns
    -------
    torch.Tensor
        ``[R]`` int64 token ids.
    """
    rows, vocab = probs.shape
    noise = torch.empty_like(probs)
    shared = [i for i, g in enumerate(generators) if g is None]
    if len(shared) == rows:
        noise.exponential_()
    else:
        if shared:
            noise[shared] = torch.empty(len(shared), vocab, device=probs.device).exponential_()
        for i, generator in enumerate(generators):
            if generator is not None:
                noise[i] = torch.empty(vocab, device=probs.device).exponential_(
                    generator=generator
                )
    # exponential_ can return exactly 0 (u = 0); 0/0 would be NaN and argmax would pick it.
    noise.clamp_(min=torch.finfo(noise.dtype).tiny)
    return (probs / noise).argmax(dim=-1)
