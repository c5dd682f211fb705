"""The Triton int8 / int4 dequant-GEMM against dequantize-then-matmul (interpreter on CPU)."""

from __future__ import annotations

import pytest
import torch
from genai_rt.kernels import quant_matmul as tq

from tests.kernels.tolerances import assert_close

# rows: decode tiles (1, 5), the 64-row decode tile (37), prefill tiles (67)
ROWS = [1, 5, 37, 67]


def _inputs(rows: int, n: int, k: int, device: str, dtype: torch.dtype):
    gen = torch.Generator().manual_seed(rows * 1000 + k)
    w = torch.randn(n, k, generator=gen)
    x = torch.randn(rows, k, generator=gen).to(device=device, dtype=dtype)
    return w.to(device), x


def _dtype(device: str) -> torch.dtype:
    return torch.bfloat16 if device == "cuda" else torch.float32


@pytest.mark.parametrize("rows", ROWS)
def test_int8_per_channel(rows, device) -> None:
    w, x = _inputs(rows, 33, 100, device, _dtype(device))
    q, s = tq.quantize_int8_ref(w)
    got = tq.int8_matmul(x, q, s)
    assert_close(got, tq.quant_matmul_ref(x, tq.dequantize_int8_ref(q, s)))


@pytest.mark.parametrize("rows", ROWS)
@pytest.mark.parametrize("k,group", [(256, 128), (300, 128), (100, 32)])
def test_int4_per_group_with_ragged_last_group(rows, k, group, device) -> None:
    w, x = _inputs(rows, 33, k, device, _dtype(device))
    q, s, m = tq.quantize_int4_ref(w, group)
    dense = tq.dequantize_int4_ref(q, s, m, k)
    # the quantizer is a real one: 4 bits with a min keep each weight within half a step
    step = s.float().repeat_interleave(group, dim=1)[:, :k]
    assert ((dense - w.float()).abs() <= 0.5 * step + 1e-6).all()
    got = tq.int4_matmul(x, q, s, m, k)
    assert_close(got, tq.quant_matmul_ref(x, dense))


def test_bad_layouts_are_named(device) -> None:
    w, x = _inputs(2, 16, 64, device, torch.float32)
    q, s, m = tq.quantize_int4_ref(w, 32)
    with pytest.raises(ValueError, match=r"x must be \[M, 64\]"):
        tq.int4_matmul(x[:, :60], q, s, m, 64)
    with pytest.raises(ValueError, match="do not fit K=96"):
        tq.int4_matmul(torch.zeros(2, 96, device=device), q, s, m, 96)
    with pytest.raises(ValueError, match="int8"):
        tq.int8_matmul(x, q, s[:, 0].contiguous())
