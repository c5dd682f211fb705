"""The one table of per-dtype tolerances every kernel test compares with.

Sized from the storage precision of each dtype: kernels accumulate in fp32, so the error is the
rounding of the output (and of intermediates stored in the dtype) — bf16 keeps 8 mantissa bits
(relative step 2**-8 = 3.9e-3), fp16 keeps 11 (4.9e-4), fp32 keeps 24 plus reordered sums.
"""

from __future__ import annotations

import torch

# dtype -> (atol, rtol), used as torch.testing.assert_close(actual, expected, atol=, rtol=)
TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float32: (1e-5, 1e-5),
    torch.float16: (2e-3, 2e-3),
    torch.bfloat16: (1.6e-2, 1.6e-2),
}


def assert_close(actual: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype | None = None):
    """Compare in fp32 with the tolerance of ``dtype`` (default: ``actual.dtype``)."""
    atol, rtol = TOLERANCES[dtype or actual.dtype]
    torch.testing.assert_close(actual.float().cpu(), expected.float().cpu(), atol=atol, rtol=rtol)


def poison(*shape: int, dtype: torch.dtype, device: str) -> torch.Tensor:
    """An output buffer filled with NaN, so an element the kernel never writes fails the test."""
    return torch.full(shape, float("nan"), dtype=dtype, device=device)
