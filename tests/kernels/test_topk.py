"""Batched top-k (CUDA core kernel) against torch.topk; argument checks run everywhere."""

from __future__ import annotations

import pytest
import torch
from genai_rt import _core
from genai_rt.sampling.topk import top_k

from ..conftest import HAS_CUDA

needs_cuda_core = pytest.mark.skipif(
    not (HAS_CUDA and _core.built_with_cuda),
    reason="the CUDA top-k kernel needs a CUDA device and a core built with GENAI_RT_CUDA=ON")


@needs_cuda_core
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("rows,cols,k", [
    (1, 1, 1), (3, 1000, 1), (5, 4099, 50), (2, 128256, 1024), (7, 1023, 1023), (64, 32000, 40)])
def test_matches_torch_topk(dtype, rows, cols, k) -> None:
    gen = torch.Generator().manual_seed(cols + k)
    x = torch.randn(rows, cols, generator=gen).to("cuda", dtype)
    values, indices = top_k(x, k, backend="cuda")
    want_values, _ = torch.topk(x, k, dim=1)
    assert torch.equal(values, want_values)
    assert torch.equal(torch.gather(x, 1, indices), values), "indices point at the values"
    assert (indices.sort(1).values.diff(dim=1) > 0).all(), "indices are distinct"


@needs_cuda_core
@pytest.mark.gpu
def test_ties_and_strided_rows() -> None:
    x = torch.zeros(4, 3000, device="cuda")  # all equal but one: any 9 zeros are right
    x[:, 7] = 1.0
    big = torch.randn(4, 6000, device="cuda")[:, 1:3001]  # row stride 6000, not contiguous
    values, indices = top_k(x, 10, backend="cuda")
    assert (values[:, 0] == 1).all() and (indices[:, 0] == 7).all()
    assert (values[:, 1:] == 0).all()
    assert (indices[:, 1:].diff(dim=1) > 0).all(), "ties come out in index order"
    v2, _ = top_k(big, 33, backend="cuda")
    assert torch.equal(v2, torch.topk(big, 33, dim=1).values)


def test_bad_arguments_name_the_problem() -> None:
    x = torch.zeros(2, 10)
    with pytest.raises(ValueError, match="k=11"):
        top_k(x, 11)
    with pytest.raises(ValueError, match="k=0"):
        top_k(x, 0)
    with pytest.raises(ValueError, match="2-D"):
        top_k(torch.zeros(10, dtype=torch.int32), 1)
    with pytest.raises(ValueError, match="unknown top_k backend"):
        top_k(x, 2, backend="numpy")
    if not HAS_CUDA:
        with pytest.raises((ValueError, RuntimeError), match="cuda"):
            top_k(x, 2, backend="cuda")


def test_torch_backend_is_torch_topk() -> None:
    x = torch.randn(3, 77, generator=torch.Generator().manual_seed(0))
    values, indices = top_k(x, 5, backend="torch")
    assert torch.equal(values, torch.topk(x, 5).values)
    assert torch.equal(torch.gather(x, 1, indices), values)
