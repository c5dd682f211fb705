"""Residual add + RMSNorm fused into the projection that consumes it (QKV, gate/up), for
decode-sized batches: ``out = rms_norm(x + residual) * norm_weight @ W (+ bias)``.

Unfused, a decode layer launches the norm kernel, which writes the normed rows, and then the
matmul, which reads them back. Here each program recomputes the (tiny) normed rows it needs from
x and residual (T x hidden, L2-resident) while streaming its BLOCK_N columns of W: one launch,
no activation round trip. Programs of column block 0 also write the new residual.
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
from genai_rt.kernels.rms_norm import rms_norm_ref


def rms_norm_linear_ref(
    x: torch.Tensor, residual: torch.Tensor | None, norm_weight: torch.Tensor, eps: float,
    weight: torch.Tensor, transposed: bool, bias: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`rms_norm_ref`, then the projection in fp32 rounded to x's dtype.

    weight: ``[in, out]`` when ``transposed`` else ``[out, in]``. Returns (out [T, out],
    new_residual [T, in])."""
    normed, new_residual = rms_norm_ref(x, residual, norm_weight, eps)
    w = weight.float() if transposed else weight.float().t()
    out = normed.float() @ w
    if bias is not None:
        out = out + bias.float()
    return out.to(x.dtype), new_residual


@triton.jit
def _rms_norm_linear_kernel(
    x_ptr, residual_ptr, norm_w_ptr, w_ptr, bias_ptr, out_ptr, new_residual_ptr,
    tokens, hidden, n_out, x_stride, residual_stride, out_stride, new_residual_stride,
    w_stride_k, w_stride_n, eps,
    HAS_RESIDUAL: tl.constexpr, HAS_BIAS: tl.constexpr, BLOCK_M: tl.constexpr,
    PRECISION: tl.constexpr, WIDEN: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    pid = tl.program_id(0)
    m = tl.arange(0, BLOCK_M)[:, None]
    m_ok = m < tokens
    kk = tl.arange(0, BLOCK_K)[None, :]
    dtype = x_ptr.dtype.element_ty
    # Pass 1: the rows' sum of squares (and the new residual, from column block 0).
    squares = tl.zeros([BLOCK_M], tl.float32)
    for k0 in range(0, hidden, BLOCK_K):
        ok = m_ok & (k0 + kk < hidden)
        h = tl.load(x_ptr + m * x_stride + k0 + kk, mask=ok, other=0.0).to(tl.float32)
        if HAS_RESIDUAL:
            h += tl.load(residual_ptr + m * residual_stride + k0 + kk, mask=ok,
                         other=0.0).to(tl.float32)
            h = h.to(dtype).to(tl.float32)  # the next layer adds to the stored (rounded) sum
            if pid == 0:
                tl.store(new_residual_ptr + m * new_residual_stride + k0 + kk, h.to(dtype),
                         mask=ok)
        squares += tl.sum(h * h, axis=1)
    rstd = tl.rsqrt(squares / hidden + eps)[:, None]
    # Pass 2: normed rows x this program's columns of W.
    n = pid * BLOCK_N + tl.arange(0, BLOCK_N)[None, :]
    n_ok = n < n_out
    kcol = tl.arange(0, BLOCK_K)[:, None]
    acc = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    for k0 in range(0, hidden, BLOCK_K):
        ok = m_ok & (k0 + kk < hidden)
        h = tl.load(x_ptr + m * x_stride + k0 + kk, mask=ok, other=0.0).to(tl.float32)
        if HAS_RESIDUAL:
            h += tl.load(residual_ptr + m * residual_stride + k0 + kk, mask=ok,
                         other=0.0).to(tl.float32)
            h = h.to(dtype).to(tl.float32)
        g = tl.load(norm_w_ptr + k0 + kk, mask=k0 + kk < hidden, other=0.0).to(tl.float32)
        a = (g * (h * rstd).to(dtype).to(tl.float32)).to(dtype)  # rounded where HF rounds
        w = load_weight_tile(w_ptr, k0 + kcol, n, k0 + kcol < hidden, n_ok, w_stride_k,
                             w_stride_n)
        acc += tile_dot(a, w, PRECISION, WIDEN)
    if HAS_BIAS:
        acc += tl.load(bias_ptr + n, mask=n_ok, other=0.0).to(tl.float32)
    tl.store(out_ptr + m * out_stride + n, acc.to(out_ptr.dtype.element_ty), mask=m_ok & n_ok)


_kernel = maybe_autotune(_rms_norm_linear_kernel, ["hidden", "n_out", "BLOCK_M"])


def rms_norm_linear(
    x: torch.Tensor, residual: torch.Tensor | None, norm_weight: torch.Tensor, eps: float,
    weight: torch.Tensor, transposed: bool, bias: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Triton version of :func:`rms_norm_linear_ref` for at most ``MAX_ROWS`` (16) rows.

    Parameters
    ----------
    x, residual : torch.Tensor
        ``[T, hidden]``; residual None for the first norm.
    norm_weight : torch.Tensor
        ``[hidden]``.
    eps : float
    weight : torch.Tensor
        The projection's ``[hidden, out]`` (``transposed``) or ``[out, hidden]`` matrix.
    transposed : bool
    bias : torch.Tensor, optional
        ``[out]``.

    Returns
    -------
    (out [T, out], new_residual [T, hidden])
    """
    check_rows(x, "x")
    tokens, hidden = x.shape
    if norm_weight.shape != (hidden,):
        raise ValueError(f"norm weight shape {tuple(norm_weight.shape)} != ({hidden},)")
    if residual is not None and (residual.shape != x.shape or residual.stride(1) != 1):
        raise ValueError(f"residual shape {tuple(residual.shape)} != x shape {tuple(x.shape)}")
    n_out, w_stride_k, w_stride_n = weight_strides(weight, transposed, hidden)
    if bias is not None and bias.shape != (n_out,):
        raise ValueError(f"bias shape {tuple(bias.shape)} != ({n_out},)")
    out = x.new_empty(tokens, n_out)
    new_residual = x if residual is None else torch.empty_like(x)
    if tokens == 0:
        return out, new_residual

    def grid(meta: dict[str, int]) -> tuple[int]:
        return (triton.cdiv(n_out, meta["BLOCK_N"]),)

    _kernel[grid](
        x, residual if residual is not None else x, norm_weight, weight,
        bias if bias is not None else norm_weight, out, new_residual, tokens, hidden, n_out,
        x.stride(0), residual.stride(0) if residual is not None else 0, out.stride(0),
        new_residual.stride(0), w_stride_k, w_stride_n, eps,
        HAS_RESIDUAL=residual is not None, HAS_BIAS=bias is not None, BLOCK_M=MAX_ROWS,
        PRECISION=dot_precision(x.dtype), WIDEN=INTERPRETED, **launch_config(),
    )
    return out, new_residual
