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


def random_step(
    lens: list[tuple[int, int]], heads: int, kv_heads: int, dim: int, block: int, seed: int
) -> tuple[torch.Tensor, ...]:
    """Cache, q/k/v and metadata for sequences given as (query_len, seq_len)."""
    gen = torch.Generator().manual_seed(seed)
    width = max(-(-seq_len // block) for _, seq_len in lens) + 1
    num_blocks = sum(-(-seq_len // block) for _, seq_len in lens) + 3
    pool = torch.randperm(num_blocks, generator=gen).tolist()
    tables = torch.full((len(lens), width), -1, dtype=torch.int32)
    slots, starts = [], [0]
    for seq, (q_len, seq_len) in enumerate(lens):
        n = -(-seq_len // block)
        tables[seq, :n] = torch.tensor([pool.pop() for _ in range(n)], dtype=torch.int32)
        slots += [int(tables[seq, p // block]) * block + p % block
                  for p in range(seq_len - q_len, seq_len)]
        starts.append(starts[-1] + q_len)
    cache = torch.randn(2, num_blocks, block, kv_heads, dim, generator=gen)
    num_tokens = starts[-1]
    q = torch.randn(num_tokens, heads, dim, generator=gen)
    k = torch.randn(num_tokens, kv_heads, dim, generator=gen)
    v = torch.randn(num_tokens, kv_heads, dim, generator=gen)
    meta = AttentionMetadata(
        query_start_loc=torch.tensor(starts, dtype=torch.int32),
        seq_lens=torch.tensor([s for _, s in lens], dtype=torch.int32), block_tables=tables,
        slot_mapping=torch.tensor(slots), query_lens_host=[q for q, _ in lens],
        seq_lens_host=[s for _, s in lens], max_query_len=max(q for q, _ in lens),
        max_seq_len=max(s for _, s in lens), block_size=block,
    )
    return cache, q, k, v, meta


@pytest.mark.parametrize(
    "lens",
    [
        [(1, 41), (5, 11)],  # a decode and a chunked prefill
        # decodes of mixed lengths (several buckets, some with more than one sequence), a
        # one-token prompt, a fresh prefill and an empty query
        [(1, 40), (1, 5), (1, 38), (1, 12), (1, 1), (7, 7), (1, 37), (0, 9), (3, 20)],
        [(1, n) for n in (3, 70, 66, 9, 64, 2, 18, 33)],  # pure decode
    ],
)
@pytest.mark.parametrize("cpu_kernel", [True, False], ids=["cpu-kernel", "gather-sdpa"])
def test_backend_matches_naive_attention(lens: list[tuple[int, int]], cpu_kernel: bool) -> None:
    heads, block, scale = 6, 4, 0.3
    cache, q, k, v, meta = random_step(lens, heads, kv_heads=2, dim=8, block=block, seed=3)
    backend = TorchAttentionBackend(cpu_kernel=cpu_kernel)
    out = backend.forward(q, k, v, cache, meta, scale=scale)
    again = backend.forward(q, k, v, cache, meta, scale=scale)  # the cached step plan
    torch.testing.assert_close(again, out, rtol=0, atol=0)
    start = 0
    for seq, (q_len, seq_len) in enumerate(lens):
        blocks = meta.block_tables[seq, : -(-seq_len // block)].long()
        ctx_k = cache[0][blocks].flatten(0, 1)[:seq_len]
        ctx_v = cache[1][blocks].flatten(0, 1)[:seq_len]
        torch.testing.assert_close(ctx_k[seq_len - q_len:], k[start:start + q_len])
        rows = slice(start, start + q_len)
        expected = naive_attention(q[rows], ctx_k, ctx_v, seq_len - q_len, scale)
        torch.testing.assert_close(out[rows], expected, rtol=1e-5, atol=1e-5)
        start += q_len


def test_model_ops_follow_the_backend(caplog: pytest.LogCaptureFixture) -> None:
    import importlib.util

    from genai_rt.model import layers
    from genai_rt.model.attention.select import model_ops_for

    assert model_ops_for(TorchAttentionBackend()).rms_norm is layers.rms_norm

    class FakeTriton:
        name = "triton"

    with caplog.at_level(logging.WARNING):
        ops = model_ops_for(FakeTriton())  # type: ignore[arg-type]
    if importlib.util.find_spec("genai_rt.model.attention.triton_backend") is None:
        assert ops.rms_norm is layers.rms_norm
        assert "Triton model ops unavailable" in caplog.text
    else:  # the kernels branch is merged: its Triton ops come with its backend
        assert ops.rms_norm is not layers.rms_norm


def test_cpu_kernel_checks_block_ids() -> None:
    cache, q, k, v, meta = random_step([(1, 9), (1, 5)], 4, kv_heads=2, dim=8, block=4, seed=1)
    meta.block_tables[1, 1] = cache.shape[1] + 5  # a corrupt entry the kernel would read
    with pytest.raises(ValueError, match=f"block {cache.shape[1] + 5} outside the cache"):
        TorchAttentionBackend().forward(q, k, v, cache, meta, scale=0.5)


def decode_inputs(
    lens: list[int], heads: int, kv_heads: int, dim: int, block: int, seed: int
) -> tuple[torch.Tensor, ...]:
    """query [S, H, D], cache, int64 block tables and seq_lens for the kernel wrapper."""
    cache, q, _, _, meta = random_step([(1, n) for n in lens], heads, kv_heads, dim, block, seed)
    return q, cache, meta.block_tables.long(), meta.seq_lens.long()


def naive_decode(q: torch.Tensor, cache: torch.Tensor, tables: torch.Tensor,
                 seq_lens: torch.Tensor, scale: float) -> torch.Tensor:
    """Each query row attends over its whole paged context (fp64 reference)."""
    block = cache.shape[2]
    rows = []
    for seq, seq_len in enumerate(seq_lens.tolist()):
        blocks = tables[seq, : -(-seq_len // block)]
        ctx_k = cache[0][blocks].flatten(0, 1)[:seq_len]
        ctx_v = cache[1][blocks].flatten(0, 1)[:seq_len]
        rows.append(naive_attention(q[seq:seq + 1], ctx_k, ctx_v, seq_len - 1, scale))
    return torch.cat(rows)


@pytest.mark.parametrize("threads", [1, 2, 3, 16])
def test_cpu_kernel_split_across_threads(threads: int) -> None:
    from genai_rt import _core
    from genai_rt.model.attention.cpu_kernels import paged_decode_attention

    lens = [1500, 700, 2100, 900, 1800, 1200, 300, 2500, 1]  # 11001 tokens: 2 x 4096 and more
    assert len(_core.cpu_paged_decode_split(lens, threads)) == min(threads, 2)
    q, cache, tables, seq_lens = decode_inputs(lens, 4, kv_heads=2, dim=8, block=16, seed=5)
    out = paged_decode_attention(q, cache, tables, seq_lens, 0.4, num_threads=threads)
    torch.testing.assert_close(out, naive_decode(q, cache, tables, seq_lens, 0.4),
                               rtol=1e-5, atol=1e-5)


def test_cpu_kernel_mixed_lengths_and_head_dims() -> None:
    from genai_rt.model.attention.cpu_kernels import paged_decode_attention

    # head_dim 80 is not a multiple of 16 floats (the AVX-512 width): the loop tails run too;
    # 8 heads over 1 KV head is MQA.
    for heads, kv_heads, dim, lens in [(8, 1, 80, [1, 17, 16, 33, 5]), (6, 6, 64, [64, 2, 48])]:
        q, cache, tables, seq_lens = decode_inputs(lens, heads, kv_heads, dim, block=16, seed=7)
        out = paged_decode_attention(q, cache, tables, seq_lens, 0.125, num_threads=2)
        torch.testing.assert_close(out, naive_decode(q, cache, tables, seq_lens, 0.125),
                                   rtol=1e-5, atol=1e-5)


def test_cpu_kernel_split_covers_every_sequence_once() -> None:
    from genai_rt import _core

    assert _core.cpu_paged_decode_min_tokens_per_thread == 4096
    assert _core.cpu_paged_decode_split([500] * 64, 2) == [(0, 32), (32, 64)]
    assert _core.cpu_paged_decode_split([100, 5000, 100, 100], 2) == [(0, 4)]  # < 2 x 4096
    assert _core.cpu_paged_decode_split([], 4) == []
    for lens, parts in [([3000, 3000, 3000], 4), ([9000, 1, 1, 1, 9000], 3), ([7] * 3, 8)]:
        ranges = _core.cpu_paged_decode_split(lens, parts)
        assert [i for first, last in ranges for i in range(first, last)] == list(range(len(lens)))
        assert len(ranges) <= parts


def test_cpu_kernel_rejects_bad_input() -> None:
    from genai_rt.model.attention.cpu_kernels import paged_decode_attention

    q, cache, tables, seq_lens = decode_inputs([9, 5], 4, kv_heads=2, dim=8, block=4, seed=1)
    bad_block = tables.clone()
    bad_block[1, 1] = cache.shape[1]  # seq 1 (5 tokens) reads its 2nd block
    cases = [
        ((q.double(), cache, tables, seq_lens), "query must be torch.float32"),
        ((q, cache, tables.int(), seq_lens), "block_tables must be torch.int64"),
        ((q.transpose(0, 1).contiguous().transpose(0, 1), cache, tables, seq_lens),
         "query must be contiguous"),
        ((q, cache, tables[:, ::2], seq_lens), "unit column stride"),
        ((q[:, :3].contiguous(), cache, tables, seq_lens), "heads be a multiple of kv_heads"),
        ((q, cache[0], tables, seq_lens), "kv_cache must be 5-D"),
        ((q, cache, tables[:1], seq_lens), "2 queries but block_tables has 1 rows"),
        ((q, cache, tables, torch.tensor([9, 0])), r"seq_lens\[1\] = 0 outside \[1, 16\]"),
        ((q, cache, tables, torch.tensor([9, 17])), r"seq_lens\[1\] = 17 outside"),
        ((q, cache, bad_block, seq_lens),
         rf"block_tables\[1, 1\] = {cache.shape[1]} is outside the cache's"),
    ]
    for args, message in cases:
        with pytest.raises(ValueError, match=message):
            paged_decode_attention(*args, scale=0.5)
    with pytest.raises(ValueError, match="num_threads must be >= 1, got 0"):
        paged_decode_attention(q, cache, tables, seq_lens, 0.5, num_threads=0)
    bad_block[1, 2] = -7  # past seq 1's 2 blocks: never read, so not an error
    bad_block[1, 1] = tables[1, 1]
    torch.testing.assert_close(paged_decode_attention(q, cache, bad_block, seq_lens, 0.5),
                               naive_decode(q, cache, tables, seq_lens, 0.5),
                               rtol=1e-5, atol=1e-5)


def test_backend_falls_back_to_gather_for_fp64() -> None:
    cache, q, k, v, meta = random_step([(1, 9), (1, 5)], 4, kv_heads=2, dim=8, block=4, seed=2)
    out = TorchAttentionBackend().forward(q.double(), k.double(), v.double(), cache.double(),
                                          meta, 0.5)
    reference = TorchAttentionBackend(cpu_kernel=False).forward(q, k, v, cache, meta, 0.5)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out.float(), reference, rtol=1e-5, atol=1e-5)
