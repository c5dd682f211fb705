"""Backend selection by device, and the torch backend on shapes the parity tests skip."""

from __future__ import annotations

import logging
import shutil

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
@pytest.mark.parametrize("cpu_kernel", [True, False], ids=["c-kernel", "gather-sdpa"])
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


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler: the gather path is used")
def test_cpu_kernel_builds_and_checks_block_ids() -> None:
    from genai_rt.model.attention.cpu_kernels import load_paged_decode

    assert load_paged_decode() is not None
    cache, q, k, v, meta = random_step([(1, 9), (1, 5)], 4, kv_heads=2, dim=8, block=4, seed=1)
    meta.block_tables[1, 1] = cache.shape[1] + 5  # a corrupt entry the kernel would read
    with pytest.raises(ValueError, match=f"block {cache.shape[1] + 5} outside the cache"):
        TorchAttentionBackend().forward(q, k, v, cache, meta, scale=0.5)


def test_no_compiler_falls_back_to_gather(
    monkeypatch: pytest.MonkeyPatch, tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    from genai_rt.model.attention import cpu_kernels

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # nothing cached there
    monkeypatch.setattr(cpu_kernels.sysconfig, "get_config_var", lambda name: "no-such-cc")
    cpu_kernels.load_paged_decode.cache_clear()
    try:
        with caplog.at_level(logging.WARNING):
            backend = TorchAttentionBackend()
        assert "kernel unavailable" in caplog.text
        cache, q, k, v, meta = random_step([(1, 9), (1, 5)], 4, kv_heads=2, dim=8, block=4, seed=2)
        reference = TorchAttentionBackend(cpu_kernel=False).forward(q, k, v, cache, meta, 0.5)
        torch.testing.assert_close(backend.forward(q, k, v, cache, meta, 0.5), reference)
    finally:
        cpu_kernels.load_paged_decode.cache_clear()


def test_split_by_work_covers_every_sequence_once() -> None:
    from genai_rt.model.attention.cpu_kernels import _split_by_work

    assert _split_by_work([500] * 64, 2) == [(0, 32), (32, 64)]
    assert _split_by_work([100, 5000, 100, 100], 2) == [(0, 4)]  # under 2 x 4096 tokens
    for lens, parts in [([3000, 3000, 3000], 4), ([9000, 1, 1, 1, 9000], 3), ([7] * 3, 8)]:
        ranges = _split_by_work(lens, parts)
        assert [i for first, last in ranges for i in range(first, last)] == list(range(len(lens)))
        assert len(ranges) <= parts


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler: the gather path is used")
def test_cpu_kernel_split_across_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    from genai_rt.model.attention import cpu_kernels

    monkeypatch.setattr(cpu_kernels.torch, "get_num_threads", lambda: 3)
    lens = [(1, n) for n in (1500, 700, 2100, 900, 1800, 1200, 300, 2500)]  # 11000 tokens
    assert len(cpu_kernels._split_by_work([n for _, n in lens], 3)) == 2
    cache, q, k, v, meta = random_step(lens, 4, kv_heads=2, dim=8, block=16, seed=5)
    out = TorchAttentionBackend().forward(q, k, v, cache, meta, scale=0.4)
    expected = TorchAttentionBackend(cpu_kernel=False).forward(q, k, v, cache, meta, scale=0.4)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
