"""Backend selection by device, and the torch backend on shapes the parity tests skip."""

from __future__ import annotations

import logging

import pytest
import torch
from genai_rt.model.attention.base import AttentionMetadata
from genai_rt.model.attention.select import select_attention_backend
from genai_rt.model.attention.torch_backend import TorchAttentionBackend


def test_cpu_gets_torch_and_logs_it(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="genai_rt.model.attention.select"):
        backend = select_attention_backend("cpu")
    assert backend.name == "torch"
    assert "attention backend: torch" in caplog.text
    with pytest.raises(ValueError, match="'triton' needs a CUDA device"):
        select_attention_backend("cpu", "triton")
    with pytest.raises(ValueError, match="unknown attention backend 'xformers'"):
        select_attention_backend("cpu", "xformers")


def naive_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, start: int,
                    scale: float) -> torch.Tensor:
    """q: [Lq, H, D] at positions start.., k/v: [Lk, KH, D]; causal softmax in fp64."""
    group = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(group, 1).double(), v.repeat_interleave(group, 1).double()
    scores = torch.einsum("qhd,khd->hqk", q.double(), k) * scale
    q_pos = torch.arange(start, start + q.shape[0])[:, None]
    scores = scores.masked_fill(torch.arange(k.shape[0])[None, :] > q_pos, float("-inf"))
    return torch.einsum("hqk,khd->qhd", scores.softmax(-1), v).float()


def test_mixed_decode_and_chunked_prefill_match_naive_attention() -> None:
    # seq 0 decodes at position 40 (10 blocks), seq 1 prefills 5 tokens after 6 cached ones.
    torch.manual_seed(0)
    heads, kv_heads, dim, block = 6, 2, 8, 4
    cache = torch.randn(2, 32, block, kv_heads, dim)
    tables = torch.tensor([list(range(31, 20, -1)), [3, 9, 12] + [-1] * 8], dtype=torch.int32)
    q = torch.randn(6, heads, dim)
    k, v = torch.randn(6, kv_heads, dim), torch.randn(6, kv_heads, dim)
    slots = torch.tensor([tables[0, 10] * block + 0] + [
        int(tables[1, p // block]) * block + p % block for p in range(6, 11)
    ])
    meta = AttentionMetadata(
        query_start_loc=torch.tensor([0, 1, 6], dtype=torch.int32),
        seq_lens=torch.tensor([41, 11], dtype=torch.int32), block_tables=tables,
        slot_mapping=slots, query_lens_host=[1, 5], seq_lens_host=[41, 11], max_query_len=5,
        max_seq_len=41, block_size=block,
    )
    out = TorchAttentionBackend().forward(q, k, v, cache, meta, scale=0.3)
    for seq, (rows, length) in enumerate([(slice(0, 1), 41), (slice(1, 6), 11)]):
        blocks = tables[seq, : -(-length // block)].long()
        ctx_k = cache[0][blocks].flatten(0, 1)[:length]
        ctx_v = cache[1][blocks].flatten(0, 1)[:length]
        expected = naive_attention(q[rows], ctx_k, ctx_v, length - (rows.stop - rows.start), 0.3)
        torch.testing.assert_close(out[rows], expected, rtol=1e-5, atol=1e-5)
