"""Rotary embedding of q and k and the paged KV-cache write in one launch.

The unfused layer runs ``rotary_embedding`` (q, k in place) and then ``write_kv_cache`` (k, v
into the cache): two launches a layer, and k read twice. Here one program per token rotates its
q heads in place and its k heads, and stores the rotated k (also back in place, so the result
equals the two references run in turn) and v at the token's cache slot (none for slot < 0).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from genai_rt.kernels.kv_cache_write import write_kv_cache_ref
from genai_rt.kernels.rotary import _as_heads, _rotate_heads, rotary_embedding_ref


def rotary_kv_write_ref(
    positions: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
    cos_sin_cache: torch.Tensor, kv_cache: torch.Tensor, slot_mapping: torch.Tensor,
) -> None:
    """The two references in turn: rotate q and k in place, then write k and v to the cache."""
    rotary_embedding_ref(positions, q, k, cos_sin_cache)
    write_kv_cache_ref(k, v, kv_cache, slot_mapping)


@triton.jit
def _rotary_kv_write_kernel(
    positions_ptr, q_ptr, k_ptr, v_ptr, cos_sin_ptr, cache_ptr, slot_ptr,
    q_stride_t, q_stride_h, k_stride_t, k_stride_h, v_stride_t, v_stride_h, cos_sin_stride,
    cache_plane, slot_stride, q_heads, kv_heads,
    HALF: tl.constexpr, HEAD_DIM: tl.constexpr, BLOCK_HALF: tl.constexpr, BLOCK_D: tl.constexpr,
    BLOCK_QH: tl.constexpr, BLOCK_KH: tl.constexpr,
):
    token = tl.program_id(0).to(tl.int64)
    pos = tl.load(positions_ptr + token).to(tl.int64)
    d = tl.arange(0, BLOCK_HALF)[None, :]
    cos = tl.load(cos_sin_ptr + pos * cos_sin_stride + d, mask=d < HALF, other=0.0).to(tl.float32)
    sin = tl.load(cos_sin_ptr + pos * cos_sin_stride + HALF + d, mask=d < HALF,
                  other=0.0).to(tl.float32)
    _rotate_heads(q_ptr, token, q_stride_t, q_stride_h, q_heads, cos, sin, HALF, BLOCK_QH,
                  BLOCK_HALF)
    # k: rotate in registers, store in place and into the cache.
    h = tl.arange(0, BLOCK_KH)[:, None]
    in_range = (h < kv_heads) & (d < HALF)
    first = k_ptr + token * k_stride_t + h * k_stride_h + d
    k1 = tl.load(first, mask=in_range, other=0.0).to(tl.float32)
    k2 = tl.load(first + HALF, mask=in_range, other=0.0).to(tl.float32)
    r1 = (k1 * cos - k2 * sin).to(k_ptr.dtype.element_ty)
    r2 = (k2 * cos + k1 * sin).to(k_ptr.dtype.element_ty)
    tl.store(first, r1, mask=in_range)
    tl.store(first + HALF, r2, mask=in_range)
    slot = tl.load(slot_ptr + token).to(tl.int64)
    if slot >= 0:
        # cache: [2, slots, kv_heads, HEAD_DIM] contiguous; the plane stride separates K from V.
        dst = cache_ptr + slot * slot_stride + h * HEAD_DIM + d
        tl.store(dst, r1.to(cache_ptr.dtype.element_ty), mask=in_range)
        tl.store(dst + HALF, r2.to(cache_ptr.dtype.element_ty), mask=in_range)
        # Dims past the rotary part (rot_dim < head_dim) are copied as they are.
        if HALF * 2 < HEAD_DIM:
            e = tl.arange(0, BLOCK_D)[None, :]
            rest = (h < kv_heads) & (e >= 2 * HALF) & (e < HEAD_DIM)
            tail = tl.load(k_ptr + token * k_stride_t + h * k_stride_h + e, mask=rest)
            tl.store(cache_ptr + slot * slot_stride + h * HEAD_DIM + e,
                     tail.to(cache_ptr.dtype.element_ty), mask=rest)
        e = tl.arange(0, BLOCK_D)[None, :]
        v_ok = (h < kv_heads) & (e < HEAD_DIM)
        value = tl.load(v_ptr + token * v_stride_t + h * v_stride_h + e, mask=v_ok)
        tl.store(cache_ptr + cache_plane + slot * slot_stride + h * HEAD_DIM + e,
                 value.to(cache_ptr.dtype.element_ty), mask=v_ok)


def rotary_kv_write(
    positions: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
    cos_sin_cache: torch.Tensor, kv_cache: torch.Tensor, slot_mapping: torch.Tensor,
) -> None:
    """Triton version of :func:`rotary_kv_write_ref` (same arguments, same result).

    Parameters
    ----------
    positions : torch.Tensor
        ``[tokens]`` integer positions.
    q : torch.Tensor
        ``[tokens, heads, head_dim]``, rotated in place.
    k, v : torch.Tensor
        ``[tokens, kv_heads, head_dim]`` (views of the fused QKV output are fine); k is rotated
        in place.
    cos_sin_cache : torch.Tensor
        ``[max_position, rot_dim]``, cos then sin (``rot_dim <= head_dim``).
    kv_cache : torch.Tensor
        Contiguous ``[2, num_blocks, block_size, kv_heads, head_dim]``.
    slot_mapping : torch.Tensor
        ``[tokens]`` cache slot per token; negative slots (padding) write nothing.
    """
    if kv_cache.dim() != 5 or kv_cache.shape[0] != 2 or not kv_cache.is_contiguous():
        raise ValueError(f"kv_cache must be contiguous [2, num_blocks, block_size, kv_heads, "
                         f"head_dim], got {tuple(kv_cache.shape)}")
    kv_heads, head_dim = kv_cache.shape[3:]
    rot_dim = cos_sin_cache.shape[1]
    if rot_dim % 2 or rot_dim > head_dim or cos_sin_cache.stride(1) != 1:
        raise ValueError(f"cos_sin_cache must be [max_position, even rot_dim <= {head_dim}], "
                         f"got {tuple(cos_sin_cache.shape)}")
    qh, kh, vh = _as_heads(q, head_dim), _as_heads(k, head_dim), _as_heads(v, head_dim)
    tokens = positions.shape[0]
    if slot_mapping.shape != (tokens,) or qh.shape[0] != tokens or qh.shape[2] != head_dim:
        raise ValueError(f"q {tuple(q.shape)} / slot_mapping {tuple(slot_mapping.shape)} do not "
                         f"match {tokens} positions of head_dim {head_dim}")
    for name, t in (("k", kh), ("v", vh)):
        if t.shape != (tokens, kv_heads, head_dim) or t.stride(2) != 1:
            raise ValueError(f"{name} must be [{tokens}, {kv_heads}, {head_dim}] with a unit "
                             f"stride along head_dim, got {tuple(t.shape)}")
    if qh.stride(2) != 1:
        raise ValueError("q needs a unit stride along head_dim")
    if tokens == 0:
        return
    half = rot_dim // 2
    _rotary_kv_write_kernel[(tokens,)](
        positions, qh, kh, vh, cos_sin_cache, kv_cache, slot_mapping,
        qh.stride(0), qh.stride(1), kh.stride(0), kh.stride(1), vh.stride(0), vh.stride(1),
        cos_sin_cache.stride(0), kv_cache.stride(0), kv_heads * head_dim, qh.shape[1], kv_heads,
        HALF=half, HEAD_DIM=head_dim, BLOCK_HALF=triton.next_power_of_2(half),
        BLOCK_D=triton.next_power_of_2(head_dim), BLOCK_QH=triton.next_power_of_2(qh.shape[1]),
        BLOCK_KH=triton.next_power_of_2(kv_heads), num_warps=4,
    )
