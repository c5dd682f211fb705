"""Batch-invariant matmul for deterministic decoding, on torch tensors.

On CPU (fp32) it calls the core's fixed-order kernel (csrc/matmul/fixed_order_linear.cc), whose
per-element summation order depends on the input width alone. Elsewhere (CUDA, or other dtypes)
rows go through ``torch.mm`` in tiles of a fixed height, zero-padded: every call then has the
same shape, so the library picks the same kernel and reduction order for every row wherever it
sits in the batch (checked on CPU with MKL: row results of 8-row tiles are bit-identical at
M = 1, 7, 40 and 64 and at any position in the tile, while plain ``x @ W`` moves by up to 1.4e-4
between M = 1 and M = 7).
"""

from __future__ import annotations

import torch

from genai_rt import _core

# Rows per fixed-shape tile on the non-CPU path: one tile covers a small decode batch.
TILE_ROWS = 16


def fixed_order_linear(
    x: torch.Tensor, weight_out_in: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """``x @ weight_out_in.T + bias`` whose every row is independent of the others.

    Parameters
    ----------
    x : [M, K]
    weight_out_in : [N, K] contiguous (the checkpoint's layout)
    bias : [N] or None

    Returns
    -------
    [M, N] in x's dtype.
    """
    if x.dim() != 2 or weight_out_in.dim() != 2 or x.shape[1] != weight_out_in.shape[1]:
        raise ValueError(
            f"fixed_order_linear: x {tuple(x.shape)} and weight {tuple(weight_out_in.shape)} "
            "must be [M, K] and [N, K]"
        )
    rows, _ = x.shape
    out_features = weight_out_in.shape[0]
    if (
        x.device.type == "cpu" and x.dtype == torch.float32
        and weight_out_in.dtype == torch.float32 and weight_out_in.is_contiguous()
    ):
        if x.stride(1) != 1:
            x = x.contiguous()
        b = None if bias is None else bias.contiguous()
        out = torch.empty(rows, out_features, dtype=torch.float32)
        _core.fixed_order_linear(
            out.data_ptr(), x.data_ptr(), weight_out_in.data_ptr(),
            0 if b is None else b.data_ptr(), rows, x.shape[1], out_features, x.stride(0),
            torch.get_num_threads(),
        )
        return out
    return _tiled_mm(x, weight_out_in, bias)


def _tiled_mm(
    x: torch.Tensor, weight_out_in: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    rows = x.shape[0]
    pad = -rows % TILE_ROWS
    if pad:
        x = torch.cat([x, x.new_zeros(pad, x.shape[1])])
    w_t = weight_out_in.t()
    tiles = [torch.mm(x[i:i + TILE_ROWS], w_t) for i in range(0, x.shape[0], TILE_ROWS)]
    out = torch.cat(tiles)[:rows]
    return out if bias is None else out + bias
