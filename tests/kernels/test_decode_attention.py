"""Paged flash-decoding attention against the fp32 torch reference."""

from __future__ import annotations

import pytest
import torch
from genai_rt.kernels.decode_attention import decode_attention, decode_attention_ref

from .paged import random_paged_cache
from .tolerances import assert_close, poison


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("seq_lens,heads,kv_heads,head_dim,block_size,num_splits", [
    ([1, 70, 5], 4, 1, 64, 16, None),        # GQA 4:1, one-token context
    ([130, 33], 6, 2, 128, 7, 3),            # odd block size, 3 splits over 130 tokens
    ([200], 3, 3, 64, 16, 5),                # MHA, 5 splits of one 64-token tile each
    ([3, 9, 1, 64], 8, 2, 64, 16, 4),        # splits left empty on short sequences
    ([5, 77], 4, 2, 128, 16, 1),             # one split: written directly, no merge pass
])
def test_matches_reference(dtype, seq_lens, heads, kv_heads, head_dim, block_size, num_splits,
                           device) -> None:
    kv_cache, tables = random_paged_cache(seq_lens, kv_heads, head_dim, block_size, dtype,
                                          device, seed=len(seq_lens) * head_dim)
    gen = torch.Generator().manual_seed(1)
    query = torch.randn(len(seq_lens), heads, head_dim, generator=gen).to(device, dtype)
    lens = torch.tensor(seq_lens, dtype=torch.int32, device=device)
    out = poison(len(seq_lens), heads, head_dim, dtype=dtype, device=device)
    scale = head_dim ** -0.5
    decode_attention(query, kv_cache, tables, lens, scale, max(seq_lens), out=out,
                     num_splits=num_splits)
    assert_close(out, decode_attention_ref(query, kv_cache, tables, lens, scale))


def test_rejects_heads_not_multiple_of_kv_heads(device) -> None:
    kv_cache = torch.zeros(2, 2, 4, 3, 64, device=device)
    with pytest.raises(ValueError, match="query heads"):
        decode_attention(torch.zeros(1, 4, 64, device=device), kv_cache,
                         torch.zeros(1, 1, dtype=torch.int32, device=device),
                         torch.ones(1, dtype=torch.int32, device=device), 0.1, 1)
