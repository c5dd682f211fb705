"""Layout checks shared by the paged-attention launchers (decode and prefill/extend)."""

from __future__ import annotations

import torch


def check_query_and_cache(
    query: torch.Tensor, kv_cache: torch.Tensor, rows: str
) -> tuple[int, int, int, int]:
    """Validate query [rows, heads, head_dim] against kv_cache [2, blocks, block_size, kv_heads,
    head_dim]; returns (heads, head_dim, block_size, kv_heads). ``rows`` names the first axis."""
    if query.dim() != 3 or query.stride(2) != 1:
        raise ValueError(f"query must be [{rows}, heads, head_dim], got {tuple(query.shape)}")
    if kv_cache.dim() != 5 or kv_cache.shape[0] != 2 or kv_cache.stride(4) != 1:
        raise ValueError(f"kv_cache must be [2, num_blocks, block_size, kv_heads, head_dim], "
                         f"got {tuple(kv_cache.shape)}")
    heads, head_dim = query.shape[1], query.shape[2]
    block_size, kv_heads = kv_cache.shape[2], kv_cache.shape[3]
    if kv_cache.shape[4] != head_dim or heads % kv_heads:
        raise ValueError(f"{heads} query heads of dim {head_dim} do not fit kv_cache "
                         f"{tuple(kv_cache.shape)}")
    return heads, head_dim, block_size, kv_heads
