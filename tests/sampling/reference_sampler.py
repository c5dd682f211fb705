"""A one-row-at-a-time reference for the Sampler, built from plain loops and HF's processors.

Imported by the sampler tests and benchmarks/bench_sampler.py (one copy of the reference).
"""

from __future__ import annotations

from collections import Counter

import torch
from genai_rt.sampling.params import SamplingRow
from transformers.generation.logits_process import (
    MinPLogitsWarper,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)


def reference_processed(
    logits: torch.Tensor, row: SamplingRow, eos_token_ids: list[int], mask_row: list[int] | None
) -> torch.Tensor:
    """Bias, penalties, min_tokens and the grammar mask for one ``[V]`` row (a new tensor)."""
    p = row.params
    x = logits.float().clone()
    for token, bias in (p.logit_bias or {}).items():
        x[token] += bias
    if p.repetition_penalty != 1.0:
        history = torch.tensor([list(row.prompt_token_ids) + row.output_token_ids])
        x = RepetitionPenaltyLogitsProcessor(p.repetition_penalty)(history, x[None])[0]
    for token, count in Counter(row.output_token_ids).items():
        x[token] -= p.frequency_penalty * count + p.presence_penalty
    if len(row.output_token_ids) < p.min_tokens:
        for token in p.all_stop_token_ids(eos_token_ids):
            x[token] = float("-inf")
    if mask_row is not None:
        for token in range(x.shape[0]):
            if not (mask_row[token // 32] >> (token % 32)) & 1:
                x[token] = float("-inf")
    return x


def reference_probs(processed: torch.Tensor, row: SamplingRow) -> torch.Tensor:
    """The distribution one row is drawn from: HF's warpers in HF's order, or a greedy one-hot."""
    p = row.params
    if p.is_greedy:
        return torch.nn.functional.one_hot(processed.argmax(), processed.shape[0]).float()
    x = TemperatureLogitsWarper(p.temperature)(None, processed[None].clone())  # type: ignore[arg-type]
    if p.top_k > 0:
        x = TopKLogitsWarper(p.top_k)(None, x)  # type: ignore[arg-type]
    if p.top_p < 1.0:
        x = TopPLogitsWarper(p.top_p)(None, x)  # type: ignore[arg-type]
    if p.min_p > 0.0:
        x = MinPLogitsWarper(p.min_p)(None, x)  # type: ignore[arg-type]
    return x[0].softmax(dim=-1)


def reference_sample_step(
    logits: torch.Tensor,
    rows: list[SamplingRow],
    eos_token_ids: list[int],
    bitmask: torch.Tensor | None = None,
) -> list[int]:
    """A naive per-row sampler (torch.multinomial per row): the benchmark's baseline."""
    tokens = []
    for i, row in enumerate(rows):
        mask_row = None if bitmask is None else bitmask[i].tolist()
        probs = reference_probs(reference_processed(logits[i], row, eos_token_ids, mask_row), row)
        tokens.append(int(torch.multinomial(probs, 1, generator=row.generator)))
    return tokens
