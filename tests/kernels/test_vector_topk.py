"""The fused similarity + top-k kernel against its torch reference (interpreter on CPU)."""

from __future__ import annotations

import pytest
import torch
from genai_rt.kernels.vector_topk import vector_topk, vector_topk_ref

from tests.kernels.tolerances import assert_close


def _allow_bits(n: int, keep: float, gen: torch.Generator) -> torch.Tensor:
    mask = torch.rand(n, generator=gen) < keep
    words = torch.zeros((n + 31) // 32, dtype=torch.int64)
    for i in torch.nonzero(mask).flatten().tolist():
        words[i >> 5] |= 1 << (i & 31)
    return torch.where(words >= 2**31, words - 2**32, words).to(torch.int32)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_matches_reference_on_odd_shapes(device, dtype, metric):
    gen = torch.Generator().manual_seed(3)
    q = torch.randn(3, 45, generator=gen)
    x = torch.randn(201, 45, generator=gen).to(dtype)
    allow = _allow_bits(201, 0.5, gen)
    norms = (x.float() ** 2).sum(1)
    scores, idx = vector_topk(q.to(device), x.to(device), 5, metric, allow.to(device),
                              norms.to(device), num_splits=2)
    ref_scores, ref_idx = vector_topk_ref(q, x, 5, metric, allow)
    assert torch.equal(idx.cpu(), ref_idx)
    assert_close(scores, ref_scores, torch.float32)
    # Every returned row is allowed.
    for row in idx.flatten().tolist():
        assert (int(allow[row >> 5]) >> (row & 31)) & 1


def test_fewer_allowed_rows_than_k_and_no_bitmap(device):
    gen = torch.Generator().manual_seed(4)
    q = torch.randn(2, 20, generator=gen)
    x = torch.randn(70, 20, generator=gen)
    allow = torch.zeros(3, dtype=torch.int32)
    allow[1] = 0b101  # rows 32 and 34 only
    scores, idx = vector_topk(q.to(device), x.to(device), 4, "ip", allow.to(device))
    assert sorted(idx[0, :2].tolist()) == [32, 34] and idx[:, 2:].eq(-1).all()
    assert torch.isinf(scores[:, 2:]).all()
    scores, idx = vector_topk(q.to(device), x.to(device), 7, "ip")
    ref_scores, ref_idx = vector_topk_ref(q, x, 7, "ip")
    assert torch.equal(idx.cpu(), ref_idx)


def test_rejects_bad_arguments(device):
    q = torch.randn(2, 8)
    with pytest.raises(ValueError, match="share D"):
        vector_topk(q, torch.randn(5, 9), 1)
    with pytest.raises(ValueError, match="k must be"):
        vector_topk(q, torch.randn(5, 8), 6)
    with pytest.raises(ValueError, match="row_norms"):
        vector_topk(q, torch.randn(5, 8), 1, "l2")
