"""Rotary position embedding in place, neox (rotate-half) style, for q and k together.

cos_sin_cache: [max_position, rot_dim], cos in the first half of each row, sin in the second.
Llama-3 frequency scaling lives in how that cache is built, so one kernel serves every variant.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


def _as_heads(x: torch.Tensor, head_dim: int) -> torch.Tensor:
    # q/k come as [tokens, heads, head_dim] or flat [tokens, heads * head_dim]; views only.
    return x if x.dim() == 3 else x.view(x.shape[0], -1, head_dim)


def rotary_embedding_ref(
    positions: torch.Tensor, q: torch.Tensor, k: torch.Tensor, cos_sin_cache: torch.Tensor
) -> None:
    """Plain-torch reference, in place: rotate the first rot_dim dims of every q and k head."""
    rot_dim = cos_sin_cache.shape[1]
    half = rot_dim // 2
    cos_sin = cos_sin_cache[positions.long()].float()
    cos, sin = cos_sin[:, None, :half], cos_sin[:, None, half:]
    head_dim = q.shape[-1] if q.dim() == 3 else rot_dim
    for x in (_as_heads(q, head_dim), _as_heads(k, head_dim)):
        x1, x2 = x[..., :half].float(), x[..., half:rot_dim].float()
        rotated = torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)
        x[..., :rot_dim] = rotated.to(x.dtype)


@triton.jit
def _rotate_heads(x_ptr, token, stride_t, stride_h, heads, cos, sin,
                  HALF: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_HALF: tl.constexpr):
    h = tl.arange(0, BLOCK_H)[:, None]
    d = tl.arange(0, BLOCK_HALF)[None, :]
    in_range = (h < heads) & (d < HALF)
    first = x_ptr + token * stride_t + h * stride_h + d
    x1 = tl.load(first, mask=in_range, other=0.0).to(tl.float32)
    x2 = tl.load(first + HALF, mask=in_range, other=0.0).to(tl.float32)
    tl.store(first, (x1 * cos - x2 * sin).to(x_ptr.dtype.element_ty), mask=in_range)
    tl.store(first + HALF, (x2 * cos + x1 * sin).to(x_ptr.dtype.element_ty), mask=in_range)


@triton.jit
def _rotary_embedding_kernel(
    positions_ptr, q_ptr, k_ptr, cache_ptr,
    q_stride_t, q_stride_h, k_stride_t, k_stride_h, cache_stride, q_heads, k_heads,
    HALF: tl.constexpr, BLOCK_HALF: tl.constexpr, BLOCK_QH: tl.constexpr, BLOCK_KH: tl.constexpr,
):
    token = tl.program_id(0).to(tl.int64)
    pos = tl.load(positions_ptr + token).to(tl.int64)
    d = tl.arange(0, BLOCK_HALF)[None, :]
    cos = tl.load(cache_ptr + pos * cache_stride + d, mask=d < HALF, other=0.0).to(tl.float32)
    sin = tl.load(cache_ptr + pos * cache_stride + HALF + d, mask=d < HALF,
                  other=0.0).to(tl.float32)
    _rotate_heads(q_ptr, token, q_stride_t, q_stride_h, q_heads, cos, sin, HALF, BLOCK_QH,
                  BLOCK_HALF)
    _rotate_heads(k_ptr, token, k_stride_t, k_stride_h, k_heads, cos, sin, HALF, BLOCK_KH,
                  BLOCK_HALF)


def rotary_embedding(
    positions: torch.Tensor, q: torch.Tensor, k: torch.Tensor, cos_sin_cache: torch.Tensor
) -> None:
    """Triton version of :func:`rotary_embedding_ref`: rotates q and k in place.

    Parameters
    ----------
    positions : torch.Tensor
        ``[tokens]`` integer positions (rows of the cache).
    q, k : torch.Tensor
        ``[tokens, heads, head_dim]``, or ``[tokens, heads * rot_dim]`` (head_dim = rot_dim).
    cos_sin_cache : torch.Tensor
        ``[max_position, rot_dim]``: cos in the first half of a row, sin in the second.
    """
    rot_dim = cos_sin_cache.shape[1]
    if rot_dim % 2 or cos_sin_cache.stride(1) != 1:
        raise ValueError(f"cos_sin_cache must be [max_position, even rot_dim], "
                         f"got {tuple(cos_sin_cache.shape)}")
    head_dim = q.shape[-1] if q.dim() == 3 else rot_dim
    qh, kh = _as_heads(q, head_dim), _as_heads(k, head_dim)
    tokens = positions.shape[0]
    if qh.shape[0] != tokens or kh.shape[0] != tokens or qh.shape[2] < rot_dim:
        raise ValueError(f"q {tuple(q.shape)} / k {tuple(k.shape)} do not match {tokens} "
                         f"positions and rot_dim {rot_dim}")
    if qh.stride(2) != 1 or kh.stride(2) != 1:
        raise ValueError("q and k need a unit stride along head_dim")
    if tokens == 0:
        return
    half = rot_dim // 2
    _rotary_embedding_kernel[(tokens,)](
        positions, qh, kh, cos_sin_cache,
        qh.stride(0), qh.stride(1), kh.stride(0), kh.stride(1), cos_sin_cache.stride(0),
        qh.shape[1], kh.shape[1],
        HALF=half, BLOCK_HALF=triton.next_power_of_2(half),
        BLOCK_QH=triton.next_power_of_2(qh.shape[1]), BLOCK_KH=triton.next_power_of_2(kh.shape[1]),
        num_warps=4,
    )
