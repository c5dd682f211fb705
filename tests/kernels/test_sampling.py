"""Sampling: the kept set equals the sorted reference's exactly; draws follow its distribution.

Draws use fixed seeds (Philox is deterministic), so these statistical checks do not flake: with
4000 draws the 5-sigma band per token is ~0.04 wide at p = 0.5; a wrong kept set, a wrong
temperature or an off-by-one in the race moves frequencies far beyond it.
"""

from __future__ import annotations

import pytest
import torch
from genai_rt.kernels.sampling import sample_tokens, sampling_probs_ref, sampling_thresholds

DRAWS = 4000


def _order_key(x: torch.Tensor) -> torch.Tensor:
    bits = x.float().view(torch.int32)
    return torch.where(bits >= 0, bits, bits ^ 0x7FFFFFFF)


def test_negative_infinity_key_constant() -> None:
    from genai_rt.kernels.sampling import NEG_INF_KEY

    assert int(_order_key(torch.tensor([float("-inf")]))) == NEG_INF_KEY.value
    keys = _order_key(torch.tensor([float("-inf"), -3.5, -0.0, 0.0, 1e-30, 2.0, float("inf")]))
    assert (keys.diff() > 0).all(), "the key preserves float order"


def _params(rows: int, temperature, top_k, top_p, min_p):
    return (torch.full((rows,), temperature), torch.full((rows,), top_k, dtype=torch.int32),
            torch.full((rows,), top_p), torch.full((rows,), min_p))


def _random_bitmask(rows: int, vocab: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(-(2**31), 2**31 - 1, (rows, (vocab + 31) // 32), generator=gen,
                         dtype=torch.int32)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("temperature,top_k,top_p,min_p,masked,tied", [
    (1.0, 0, 1.0, 0.0, False, False),     # nothing filtered
    (0.5, 13, 1.0, 0.0, True, False),     # top-k (radix select) over a grammar mask
    (2.0, 0, 0.6, 0.0, False, False),     # top-p over a large kept set (bisection)
    (1.0, 0, 1.0, 0.05, True, False),     # min-p
    (0.25, 40, 0.9, 0.01, False, False),  # all three (top-p by the packed sort)
    (1.0, 7, 1.0, 0.0, False, True),      # top-k on ~15 distinct values (ties at the cut kept)
    (1.0, 60, 0.5, 0.0, False, True),     # top-p by the packed sort, ties at the cut kept
    (1.0, 0, 0.8, 0.001, False, False),   # min-p leaves too many to pack: bisection fallback
])
def test_kept_set_equals_reference(dtype, temperature, top_k, top_p, min_p, masked, tied,
                                   device) -> None:
    rows, vocab = 5, 1000
    gen = torch.Generator().manual_seed(top_k + vocab)
    logits = torch.randn(rows, vocab, generator=gen) * 3
    if tied:
        logits = logits.round()  # ~15 distinct values
    logits = logits.to(dtype)
    bitmask = _random_bitmask(rows, vocab, 5) if masked else None
    params = _params(rows, temperature, top_k, top_p, min_p)
    threshold = sampling_thresholds(
        logits.to(device), *(p.to(device) for p in params),
        bitmask.to(device) if bitmask is not None else None)
    x = logits.float() * (1.0 / params[0])[:, None]  # temperatures are powers of two: exact
    expected = sampling_probs_ref(logits, *params, bitmask=bitmask) > 0
    allowed = expected | (sampling_probs_ref(logits, *_params(rows, 1.0, 0, 1.0, 0.0),
                                             bitmask=bitmask) > 0)
    kept = (_order_key(x) >= threshold.cpu()[:, None]) & allowed
    assert torch.equal(kept, expected)
    if top_k or top_p < 1 or min_p:
        assert (expected.sum(1) < allowed.sum(1)).all(), "the case filters something"


@pytest.mark.parametrize("temperature,top_k,top_p,min_p", [
    (0.8, 0, 1.0, 0.0), (1.3, 5, 1.0, 0.0), (0.7, 0, 0.75, 0.0), (1.0, 9, 0.9, 0.08)])
def test_draws_follow_reference_distribution(temperature, top_k, top_p, min_p, device) -> None:
    vocab = 37
    gen = torch.Generator().manual_seed(11)
    logits = (torch.randn(2, vocab, generator=gen) * 1.5).to(device)
    bitmask = _random_bitmask(2, vocab, 3).to(device)
    rows = torch.arange(DRAWS, device=device) % 2  # draws alternate between the two rows
    # Filters left off are passed as None: the first case takes the split-row path.
    tokens = sample_tokens(logits, temperature, top_k or None, top_p if top_p < 1 else None,
                           min_p or None,
                           seeds=torch.arange(DRAWS, device=device) * 7919, bitmask=bitmask,
                           rows=rows, draws_per_program=128)
    probs = sampling_probs_ref(logits.cpu(), *_params(2, temperature, top_k, top_p, min_p),
                               bitmask=bitmask.cpu())
    for r in range(2):
        got = tokens[rows == r].cpu()
        freq = torch.bincount(got, minlength=vocab).double() / got.numel()
        sigma = (probs[r] * (1 - probs[r]) / got.numel()).sqrt()
        assert (freq[probs[r] == 0] == 0).all(), "drew a token outside the kept set"
        assert ((freq - probs[r]).abs() <= 5 * sigma + 1e-12).all(), (freq, probs[r])


def test_greedy_rows_take_the_allowed_argmax_and_empty_rows_give_minus_one(device) -> None:
    logits = torch.tensor([[0.0, 5.0, 1.0, 9.0], [3.0, 3.0, 1.0, 0.0], [1.0, 2.0, 3.0, 4.0]])
    bitmask = torch.tensor([[0b0111], [0b1111], [0]], dtype=torch.int32)  # row 0: 9 forbidden
    temperature = torch.tensor([0.0, 0.0, 1.0])
    out = sample_tokens(logits.to(device), temperature.to(device),
                        seeds=torch.tensor([1, 2, 3], device=device), bitmask=bitmask.to(device))
    assert out.cpu().tolist() == [1, 0, -1]  # ties: the first maximum


def test_same_seed_same_token_and_seeds_matter(device) -> None:
    logits = torch.zeros(1, 500, device=device)  # uniform: every draw is the seed's choice
    rows = torch.zeros(64, dtype=torch.int64, device=device)
    a = sample_tokens(logits, 1.0, seeds=torch.arange(64, device=device), rows=rows,
                      draws_per_program=64)
    b = sample_tokens(logits, 1.0, seeds=torch.arange(64, device=device), rows=rows,
                      draws_per_program=16)
    assert torch.equal(a, b)
    assert a.unique().numel() > 50


def test_bad_input_names_the_problem(device) -> None:
    logits = torch.zeros(2, 10, device=device)
    with pytest.raises(ValueError, match="temperature must be"):
        sample_tokens(logits, torch.ones(3, device=device))
    with pytest.raises(ValueError, match="seeds must be int64"):
        sample_tokens(logits, 1.0, seeds=torch.zeros(2, dtype=torch.int32, device=device))
    with pytest.raises(ValueError, match="bitmask must be int32"):
        sample_tokens(logits, 1.0, bitmask=torch.zeros(2, 1, dtype=torch.int64, device=device))
