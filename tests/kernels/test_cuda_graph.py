"""Decode CUDA graphs replay the eager step exactly; other shapes fall back to eager."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from genai_rt.model.attention.base import AttentionMetadata

from ..conftest import HAS_CUDA
from .tolerances import TOLERANCES

requires_cuda_graphs = pytest.mark.skipif(not HAS_CUDA, reason="CUDA graphs need a CUDA device")

BLOCK_SIZE = 8


def _meta(query_lens: list[int], seq_lens: list[int], tables: list[list[int]]) -> AttentionMetadata:
    slots = []
    for q_len, n, table in zip(query_lens, seq_lens, tables, strict=True):
        slots += [table[p // BLOCK_SIZE] * BLOCK_SIZE + p % BLOCK_SIZE for p in range(n - q_len, n)]
    starts = [0]
    for q_len in query_lens:
        starts.append(starts[-1] + q_len)
    return AttentionMetadata(
        query_start_loc=torch.tensor(starts, dtype=torch.int32, device="cuda"),
        seq_lens=torch.tensor(seq_lens, dtype=torch.int32, device="cuda"),
        block_tables=torch.tensor(tables, dtype=torch.int32, device="cuda"),
        slot_mapping=torch.tensor(slots, dtype=torch.int64, device="cuda"),
        query_lens_host=query_lens, seq_lens_host=seq_lens, max_query_len=max(query_lens),
        max_seq_len=max(seq_lens), block_size=BLOCK_SIZE)


@pytest.mark.gpu
@requires_cuda_graphs
def test_replay_matches_eager_and_falls_back(tmp_path: Path) -> None:
    from genai_rt.model.attention.triton_backend import TritonAttentionBackend, triton_model_ops
    from genai_rt.model.cuda_graph import CudaGraphDecodeRunner
    from genai_rt.model.loader import load_model

    from tests.model.hf_models import VOCAB, save_hf_model

    save_hf_model("llama3", tmp_path)
    model = load_model(tmp_path, TritonAttentionBackend(), dtype=torch.float32, device="cuda",
                       max_model_len=96, ops=triton_model_ops())
    cfg = model.config
    kv_caches = [torch.zeros(2, 40, BLOCK_SIZE, cfg.num_key_value_heads, cfg.head_dim,
                             device="cuda") for _ in range(cfg.num_hidden_layers)]
    runner = CudaGraphDecodeRunner(model, kv_caches, batch_sizes=(1, 4), with_logits=True)
    runner.capture()
    tables = [[3, 9, 1, 30, 12, 5], [7, 2, 8, 33, 4, 6], [20, 21, 22, 23, 24, 25]]
    lens = [5, 17, 40]
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, VOCAB, (sum(lens),), generator=gen).cuda()
    positions = torch.cat([torch.arange(n) for n in lens]).cuda()
    meta = _meta(lens, lens, tables)  # prefill: not a graph shape
    assert runner.graph_batch_size(meta) is None
    prefill = runner.forward(ids, positions, meta)
    assert prefill.shape == (sum(lens), VOCAB)
    for _ in range(3):
        lens = [n + 1 for n in lens]
        meta = _meta([1, 1, 1], lens, tables)
        assert runner.graph_batch_size(meta) == 4
        step_ids = torch.randint(0, VOCAB, (3,), generator=gen).cuda()
        step_pos = torch.tensor([n - 1 for n in lens], device="cuda")
        eager = model.compute_logits(model(step_ids, step_pos, kv_caches, meta))
        replayed = runner.forward(step_ids, step_pos, meta).clone()
        atol, rtol = TOLERANCES[torch.float32]
        torch.testing.assert_close(replayed, eager, atol=10 * atol, rtol=10 * rtol)


def test_rejects_cpu_caches() -> None:
    from genai_rt.model.cuda_graph import CudaGraphDecodeRunner

    with pytest.raises(ValueError, match="CUDA device"):
        CudaGraphDecodeRunner(torch.nn.Linear(1, 1), [torch.zeros(2, 1, 1, 1, 1)])
