"""Fused residual add + RMSNorm: one read of x and residual, one write of out and new residual."""

from __future__ import annotations

import torch
import triton
import triton.language as tl


def rms_norm_ref(
    x: torch.Tensor, residual: torch.Tensor | None, weight: torch.Tensor, eps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain-torch reference, rounding where Hugging Face Llama rounds.

    x, residual: [tokens, hidden]; weight: [hidden]. Returns (out, new_residual) where
    new_residual = x + residual in x.dtype (x itself without residual) and
    out = weight * normalize(new_residual), normalized in fp32 then cast to x.dtype.
    """
    new_residual = x if residual is None else (x.float() + residual.float()).to(x.dtype)
    h = new_residual.float()
    normed = (h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)
    return (weight.float() * normed.float()).to(x.dtype), new_residual


@triton.jit
def _rms_norm_kernel(
    x_ptr, residual_ptr, weight_ptr, out_ptr, new_residual_ptr,
    hidden, x_stride, residual_stride, out_stride, new_residual_stride, eps,
    HAS_RESIDUAL: tl.constexpr, BLOCK: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    in_range = cols < hidden
    h = tl.load(x_ptr + row * x_stride + cols, mask=in_range, other=0.0).to(tl.float32)
    if HAS_RESIDUAL:
        h += tl.load(residual_ptr + row * residual_stride + cols, mask=in_range,
                     other=0.0).to(tl.float32)
        # Round the sum to the model dtype first: the next layer adds to the stored value.
        h = h.to(new_residual_ptr.dtype.element_ty)
        tl.store(new_residual_ptr + row * new_residual_stride + cols, h, mask=in_range)
        h = h.to(tl.float32)
    rstd = tl.rsqrt(tl.sum(h * h, axis=0) / hidden + eps)
    normed = (h * rstd).to(out_ptr.dtype.element_ty).to(tl.float32)
    w = tl.load(weight_ptr + cols, mask=in_range, other=0.0).to(tl.float32)
    tl.store(out_ptr + row * out_stride + cols, (normed * w).to(out_ptr.dtype.element_ty),
             mask=in_range)


def rms_norm(
    x: torch.Tensor,
    residual: torch.Tensor | None,
    weight: torch.Tensor,
    eps: float,
    out: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Triton version of :func:`rms_norm_ref` (same arguments, same result).

    ``out`` may be given to write into (e.g. a CUDA-graph static buffer).
    """
    if x.dim() != 2 or x.stride(1) != 1:
        raise ValueError(f"x must be [tokens, hidden] with unit column stride, "
                         f"got {tuple(x.shape)}")
    tokens, hidden = x.shape
    if weight.shape != (hidden,):
        raise ValueError(f"weight shape {tuple(weight.shape)} != ({hidden},)")
    if residual is not None and (residual.shape != x.shape or residual.stride(1) != 1):
        raise ValueError(f"residual shape {tuple(residual.shape)} != x shape {tuple(x.shape)}")
    out = torch.empty_like(x) if out is None else out
    new_residual = x if residual is None else torch.empty_like(x)
    if tokens == 0:
        return out, new_residual
    block = triton.next_power_of_2(hidden)
    _rms_norm_kernel[(tokens,)](
        x, residual if residual is not None else x, weight, out, new_residual,
        hidden, x.stride(0), residual.stride(0) if residual is not None else 0, out.stride(0),
        new_residual.stride(0), eps,
        HAS_RESIDUAL=residual is not None, BLOCK=block, num_warps=min(16, max(1, block // 256)),
    )
    return out, new_residual
