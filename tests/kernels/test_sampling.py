"""Sampling thresholds: the kept set equals the sorted reference's exactly (the draws of the
engine's kernels are tested in test_sampling_temperature.py and test_sampling_rejection.py)."""

from __future__ import annotations

import pytest
import torch
from genai_rt.kernels.sampling import sampling_probs_ref, sampling_thresholds


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
