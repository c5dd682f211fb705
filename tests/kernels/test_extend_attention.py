"""Chunked-prefill attention over the paged cache against the fp32 torch reference."""

from __future__ import annotations

import pytest
import torch
from genai_rt.kernels.extend_attention import extend_attention, extend_attention_ref

from .paged import random_paged_cache
from .tolerances import assert_close, poison


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("query_lens,seq_lens,heads,kv_heads,head_dim,block_size,block_m", [
    ([5, 1, 37], [5, 20, 90], 4, 2, 64, 16, 16),  # fresh prefill, a decode, an extend
    ([70], [70], 3, 1, 128, 7, 64),               # 2 query tiles over an odd block size
    ([19, 33], [100, 33], 2, 2, 64, 5, 16),       # chunk after 81 cached tokens
])
def test_matches_reference(dtype, query_lens, seq_lens, heads, kv_heads, head_dim, block_size,
                           block_m, device) -> None:
    kv_cache, tables = random_paged_cache(seq_lens, kv_heads, head_dim, block_size, dtype,
                                          device, seed=sum(seq_lens))
    tokens = sum(query_lens)
    gen = torch.Generator().manual_seed(2)
    query = torch.randn(tokens, heads, head_dim, generator=gen).to(device, dtype)
    starts = torch.tensor([0] + query_lens, dtype=torch.int32).cumsum(0).to(torch.int32)
    lens = torch.tensor(seq_lens, dtype=torch.int32)
    out = poison(tokens, heads, head_dim, dtype=dtype, device=device)
    scale = head_dim ** -0.5
    extend_attention(query, kv_cache, tables, starts.to(device), lens.to(device), scale,
                     max(query_lens), out=out, block_m=block_m)
    expected = extend_attention_ref(query, kv_cache, tables, starts, lens, scale)
    assert_close(out, expected)


def test_rejects_int64_offsets(device) -> None:
    with pytest.raises(ValueError, match="query_start_loc must be int32"):
        extend_attention(torch.zeros(2, 2, 64, device=device),
                         torch.zeros(2, 2, 4, 2, 64, device=device),
                         torch.zeros(1, 1, dtype=torch.int32, device=device),
                         torch.tensor([0, 2], device=device),
                         torch.tensor([2], dtype=torch.int32, device=device), 0.1, 2)
