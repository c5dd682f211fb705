"""Rejection sampling for top-k / top-p / min-p: draws follow the sorted reference (HF's order),
rejections really happen, and the kept set is never left."""

from __future__ import annotations

import pytest
import torch
from genai_rt.kernels.sampling import sampling_thresholds
from genai_rt.kernels.sampling_rejection import sample_rejection, sample_rejection_ref

from .sampling_stats import DRAWS, assert_follows, random_bitmask, two_rows

VOCAB = 150


def _params(n: int, temperature: float, top_k: int, top_p: float, min_p: float, device: str):
    return (torch.full((n,), temperature, device=device),
            torch.full((n,), top_k, dtype=torch.int32, device=device),
            torch.full((n,), top_p, device=device), torch.full((n,), min_p, device=device))


@pytest.mark.parametrize("temperature,top_k,top_p,min_p,masked,tied", [
    (0.8, 5, 1.0, 0.0, False, False),    # top-k alone: the count test
    (1.3, 0, 0.8, 0.0, True, False),     # top-p alone over a grammar mask
    (0.9, 0, 1.0, 0.05, False, False),   # min-p alone: the support floor, no rejection
    (1.1, 20, 0.9, 0.02, False, False),  # all three: top-p over the top-k mass
    (1.0, 0, 0.5, 0.0, False, True),     # ties at the top-p cut are kept together
])
def test_draws_follow_reference(temperature, top_k, top_p, min_p, masked, tied, device) -> None:
    base = two_rows(VOCAB, seed=top_k + 7, tied=tied)
    rows = torch.arange(DRAWS) % 2
    bitmask = random_bitmask(2, VOCAB, seed=3) if masked else None
    params = _params(DRAWS, temperature, top_k, top_p, min_p, device)
    floor = None
    if top_k and top_p < 1:  # the k-th values of the two rows, found once (the radix select)
        floor = sampling_thresholds(base.to(device), *(p[:2] for p in params[:2]),
                                    torch.ones(2, device=device), torch.zeros(2, device=device),
                                    None)[rows.to(device)].contiguous()
    rounds = torch.empty(DRAWS, dtype=torch.int32, device=device)
    tokens = sample_rejection(
        base[rows].contiguous().to(device), *params, torch.arange(DRAWS, device=device) * 7919,
        bitmask[rows].contiguous().to(device) if masked else None, rows_per_program=512,
        rounds=rounds, top_k_floor=floor)
    probs = sample_rejection_ref(base, *(p[:2].cpu() for p in params), bitmask=bitmask)
    assert_follows(tokens, rows, probs)
    if top_k or top_p < 1:
        assert int(rounds.max()) > 1, "the case never rejects: it tests nothing"
    else:
        assert int(rounds.max()) == 1, "min-p alone is a support floor: never a rejection"


def test_launcher_finds_the_top_k_floor_itself(device) -> None:
    base = two_rows(VOCAB, seed=2)
    params = _params(2, 1.0, 10, 0.7, 0.0, device)
    tokens = sample_rejection(base.to(device), *params, torch.tensor([5, 6], device=device))
    kept = sample_rejection_ref(base, *(p.cpu() for p in params)) > 0
    assert all(kept[r, int(tokens[r])] for r in range(2))


def test_greedy_and_empty_rows(device) -> None:
    logits = torch.tensor([[0.0, 5.0, 1.0, 9.0], [1.0, 2.0, 3.0, 4.0]], device=device)
    bitmask = torch.tensor([[0b0111], [0]], dtype=torch.int32, device=device)
    temperature, top_k, top_p, min_p = _params(2, 1.0, 2, 0.9, 0.0, device)
    temperature[0] = 0.0
    out = sample_rejection(logits, temperature, top_k, top_p, min_p,
                           torch.tensor([1, 2], device=device), bitmask)
    assert out.cpu().tolist() == [1, -1]


def test_bad_input_names_the_problem(device) -> None:
    logits = torch.zeros(2, 10, device=device)
    t, k, p, m = _params(2, 1.0, 3, 1.0, 0.0, device)
    seeds = torch.zeros(2, dtype=torch.int64, device=device)
    with pytest.raises(ValueError, match="top_k must be torch.int32"):
        sample_rejection(logits, t, k.long(), p, m, seeds)
    with pytest.raises(ValueError, match="bitmask must be int32"):
        sample_rejection(logits, t, k, p, m, seeds, torch.zeros(2, 1, device=device))


def test_non_finite_rows_end_without_a_token(device) -> None:
    """NaN / +inf logits give no candidate: the loop stops (a spin here would hang the GPU) and
    the row returns -1 or a token the Sampler then refuses (its amax is not finite)."""
    logits = torch.randn(3, 40, generator=torch.Generator().manual_seed(1))
    logits[0, 5] = float("inf")
    logits[1, 7] = float("nan")
    t, k, p, m = _params(3, 1.0, 0, 0.5, 0.0, device)
    rounds = torch.empty(3, dtype=torch.int32, device=device)
    out = sample_rejection(logits.to(device), t, k, p, m, torch.tensor([1, 2, 3], device=device),
                           rounds=rounds)
    assert int(out[0]) == -1
    assert int(out[2]) >= 0 and int(rounds.max()) < 40
