"""Temperature-only sampling (inverse CDF over chunk sums): draws follow softmax(x / T)."""

from __future__ import annotations

import pytest
import torch
from genai_rt.kernels.sampling_temperature import sample_temperature, sample_temperature_ref

from .sampling_stats import DRAWS, assert_follows, random_bitmask, two_rows


@pytest.mark.parametrize("temperature,masked", [(1.7, True)])
def test_draws_follow_softmax(temperature, masked, device) -> None:
    vocab = 150  # 3 chunks of 64 in the interpreter, the last one partial
    base = two_rows(vocab, seed=4)
    rows = torch.arange(DRAWS) % 2
    bitmask = random_bitmask(2, vocab, seed=9) if masked else None
    tokens = sample_temperature(
        base[rows].contiguous().to(device), torch.full((DRAWS,), temperature, device=device),
        torch.arange(DRAWS, device=device) * 7919,
        bitmask[rows].contiguous().to(device) if masked else None, rows_per_program=512)
    assert_follows(tokens, rows, sample_temperature_ref(base, torch.full((2,), temperature),
                                                        bitmask))


def test_greedy_rows_ties_and_empty_rows(device) -> None:
    logits = torch.tensor([[0.0, 5.0, 1.0, 9.0], [3.0, 3.0, 1.0, 0.0], [1.0, 2.0, 3.0, 4.0]])
    bitmask = torch.tensor([[0b0111], [0b1111], [0]], dtype=torch.int32)  # row 0: 9 forbidden
    out = sample_temperature(logits.to(device), torch.tensor([0.0, 0.0, 1.0], device=device),
                             torch.tensor([1, 2, 3], device=device), bitmask.to(device))
    assert out.cpu().tolist() == [1, 0, -1]  # ties: the first maximum; no allowed token: -1


def test_same_seed_same_token_whatever_the_batch(device) -> None:
    logits = torch.zeros(32, 200, device=device)  # uniform: each draw is its seed's choice
    seeds = torch.arange(32, device=device) * 31
    alone = sample_temperature(logits[:4], torch.ones(4, device=device), seeds[:4],
                               rows_per_program=4)
    batch = sample_temperature(logits, torch.ones(32, device=device), seeds, rows_per_program=32)
    assert torch.equal(alone, batch[:4])
    assert batch.unique().numel() > 25


def test_bad_input_names_the_problem(device) -> None:
    logits = torch.zeros(2, 10, device=device)
    seeds = torch.zeros(2, dtype=torch.int64, device=device)
    with pytest.raises(ValueError, match="temperature must be float32"):
        sample_temperature(logits, torch.ones(3, device=device), seeds)
    with pytest.raises(ValueError, match="seeds must be int64"):
        sample_temperature(logits, torch.ones(2, device=device), seeds.int())
    with pytest.raises(ValueError, match="rows_per_program"):
        sample_temperature(logits, torch.ones(2, device=device), seeds, rows_per_program=3)
