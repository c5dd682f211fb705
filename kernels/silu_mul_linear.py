"""SiLU-and-mul fused into the down projection's input, for decode-sized batches:
``out = (silu(gate_up[:, :I]) * gate_up[:, I:]) @ W``.

Unfused: the SiLU-and-mul kernel writes [T, I] and the matmul reads it back, two launches. Here
each program computes the activation tile it needs from gate_up (T x 2I, L2-resident at decode
sizes) while streaming its BLOCK_N columns of W.

NOTE (why only up to 16 rows; an estimate, not measured on a GPU yet): every program re-reads
gate_up, T * 2I * 2 bytes (32 KiB at T=1, 512 KiB at T=16 for I=8192 in bf16), while it streams
256 KiB of W at BLOCK_N=16; past ~16 rows that L2 traffic outgrows the weight stream, and cuBLAS
on the written activation is the better deal.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from genai_rt.kernels._small_m_linear import (
    MAX_ROWS,
    check_rows,
    launch_config,
    load_weight_tile,
    maybe_autotune,
    weight_strides,
)
from genai_rt.kernels._tile_dot import INTERPRETED, dot_precision, tile_dot
from genai_rt.kernels.silu_and_mul import silu_and_mul_ref


def silu_mul_linear_ref(
    gate_up: torch.Tensor, weight: torch.Tensor, transposed: bool
) -> torch.Tensor:
    """:func:`silu_and_mul_ref`, then the projection in fp32 rounded to gate_up's dtype.

    gate_up: ``[T, 2I]``; weight ``[I, out]`` when ``transposed`` else ``[out, I]``."""
    act = silu_and_mul_ref(gate_up).float()
    w = weight.float() if transposed else weight.float().t()
    return (act @ w).to(gate_up.dtype)


@triton.jit
def _silu_mul_linear_kernel(
    gate_up_ptr, w_ptr, out_ptr, tokens, inter, n_out, gate_up_stride, out_stride,
    w_stride_k, w_stride_n,
    BLOCK_M: tl.constexpr, PRECISION: tl.constexpr, WIDEN: tl.constexpr, BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    pid = tl.program_id(0)
    m = tl.arange(0, BLOCK_M)[:, None]
    m_ok = m < tokens
    kk = tl.arange(0, BLOCK_K)[None, :]
    kcol = tl.arange(0, BLOCK_K)[:, None]
    n = pid * BLOCK_N + tl.arange(0, BLOCK_N)[None, :]
    n_ok = n < n_out
    acc = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    for k0 in range(0, inter, BLOCK_K):
        ok = m_ok & (k0 + kk < inter)
        row = gate_up_ptr + m * gate_up_stride + k0 + kk
        gate = tl.load(row, mask=ok, other=0.0).to(tl.float32)
        up = tl.load(row + inter, mask=ok, other=0.0).to(tl.float32)
        a = (gate / (1.0 + tl.exp(-gate)) * up).to(gate_up_ptr.dtype.element_ty)
        w = load_weight_tile(w_ptr, k0 + kcol, n, k0 + kcol < inter, n_ok, w_stride_k,
                             w_stride_n)
        acc += tile_dot(a, w, PRECISION, WIDEN)
    tl.store(out_ptr + m * out_stride + n, acc.to(out_ptr.dtype.element_ty), mask=m_ok & n_ok)


_kernel = maybe_autotune(_silu_mul_linear_kernel, ["inter", "n_out", "BLOCK_M"])


def silu_mul_linear(gate_up: torch.Tensor, weight: torch.Tensor, transposed: bool) -> torch.Tensor:
    """Triton version of :func:`silu_mul_linear_ref` for at most ``MAX_ROWS`` (16) rows.

    Parameters
    ----------
    gate_up : torch.Tensor
        ``[T, 2 * I]``, gate then up.
    weight : torch.Tensor
        The down projection: ``[I, out]`` (``transposed``) or ``[out, I]``.
    transposed : bool

    Returns
    -------
    torch.Tensor
        ``[T, out]`` in gate_up's dtype.
    """
    check_rows(gate_up, "gate_up")
    if gate_up.shape[1] % 2:
        raise ValueError(f"gate_up must be [tokens, 2 * inter], got {tuple(gate_up.shape)}")
    tokens, inter = gate_up.shape[0], gate_up.shape[1] // 2
    n_out, w_stride_k, w_stride_n = weight_strides(weight, transposed, inter)
    out = gate_up.new_empty(tokens, n_out)
    if tokens == 0:
        return out

    def grid(meta: dict[str, int]) -> tuple[int]:
        return (triton.cdiv(n_out, meta["BLOCK_N"]),)

    _kernel[grid](
        gate_up, weight, out, tokens, inter, n_out, gate_up.stride(0), out.stride(0),
        w_stride_k, w_stride_n, BLOCK_M=MAX_ROWS, PRECISION=dot_precision(gate_up.dtype),
        WIDEN=INTERPRETED, **launch_config(),
    )
    return out
