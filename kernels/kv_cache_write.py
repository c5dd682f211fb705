"""Write this step's K and V into the paged cache through the slot mapping."""

from __future__ import annotations

import torch
import triton
import triton.language as tl


def write_kv_cache_ref(
    key: torch.Tensor, value: torch.Tensor, kv_cache: torch.Tensor, slot_mapping: torch.Tensor
) -> None:
    """Plain-torch reference. key, value: [tokens, kv_heads, head_dim];
    kv_cache: [2, num_blocks, block_size, kv_heads, head_dim]; slot_mapping: [tokens], where a
    negative slot (padding) writes nothing."""
    keep = slot_mapping >= 0
    slots = slot_mapping[keep].long()
    flat = kv_cache.view(2, -1, *kv_cache.shape[3:])  # [2, num_blocks * block_size, kvh, d]
    flat[0, slots] = key[keep].to(kv_cache.dtype)
    flat[1, slots] = value[keep].to(kv_cache.dtype)


@triton.jit
def _write_kv_cache_kernel(
    key_ptr, value_ptr, cache_ptr, slot_ptr,
    key_stride, value_stride, cache_plane, width, BLOCK: tl.constexpr,
):
    token = tl.program_id(0).to(tl.int64)
    slot = tl.load(slot_ptr + token).to(tl.int64)
    if slot >= 0:
        cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
        in_range = cols < width
        k = tl.load(key_ptr + token * key_stride + cols, mask=in_range)
        v = tl.load(value_ptr + token * value_stride + cols, mask=in_range)
        dst = cache_ptr + slot * width + cols
        tl.store(dst, k.to(cache_ptr.dtype.element_ty), mask=in_range)
        tl.store(dst + cache_plane, v.to(cache_ptr.dtype.element_ty), mask=in_range)


def write_kv_cache(
    key: torch.Tensor, value: torch.Tensor, kv_cache: torch.Tensor, slot_mapping: torch.Tensor
) -> None:
    """Triton version of :func:`write_kv_cache_ref` (same arguments, same result)."""
    if kv_cache.dim() != 5 or kv_cache.shape[0] != 2 or not kv_cache.is_contiguous():
        raise ValueError(f"kv_cache must be contiguous [2, num_blocks, block_size, kv_heads, "
                         f"head_dim], got {tuple(kv_cache.shape)}")
    kv_heads, head_dim = kv_cache.shape[3:]
    tokens = slot_mapping.shape[0]
    for name, t in (("key", key), ("value", value)):
        if t.shape != (tokens, kv_heads, head_dim) or t.stride(2) != 1 or t.stride(1) != head_dim:
            raise ValueError(f"{name} must be [{tokens}, {kv_heads}, {head_dim}] with packed "
                             f"heads, got {tuple(t.shape)} strides {t.stride()}")
    if tokens == 0:
        return
    width = kv_heads * head_dim
    block = min(1024, triton.next_power_of_2(width))
    _write_kv_cache_kernel[(tokens, triton.cdiv(width, block))](
        key, value, kv_cache, slot_mapping, key.stride(0), value.stride(0),
        kv_cache.stride(0), width, BLOCK=block, num_warps=4,
    )
