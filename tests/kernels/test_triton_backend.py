"""The whole decoder on the Triton backend and ops against transformers (fp32, interpreter)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from genai_rt.model.attention.triton_backend import TritonAttentionBackend, triton_model_ops
from genai_rt.model.loader import load_model

from tests.model.hf_models import VOCAB, save_hf_model
from tests.model.paged_batch import PagedDriver

from .tolerances import TOLERANCES

# Logits are sums over the hidden size: compare as a relative norm at fp32's tolerance x 10.
REL_TOL = 10 * TOLERANCES[torch.float32][1]


def _rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.cpu() - b).norm() / b.norm())


class _OnDevice(torch.nn.Module):
    """Feeds PagedDriver's CPU-built batches to a model on ``device`` (the GPU run)."""

    def __init__(self, model: torch.nn.Module, device: str) -> None:
        super().__init__()
        self.inner, self.device = model, device
        self.config, self.embed_tokens = model.config, model.embed_tokens

    def forward(self, input_ids, positions, kv_caches, meta):
        for field in ("query_start_loc", "seq_lens", "block_tables", "slot_mapping"):
            setattr(meta, field, getattr(meta, field).to(self.device))
        return self.inner(input_ids.to(self.device), positions.to(self.device), kv_caches, meta)


@pytest.mark.parametrize("arch", ["llama3", "mistral"])  # head_dim 32 (llama3 rope) and 16
def test_prefill_extend_and_decode_match_transformers(arch: str, tmp_path: Path,
                                                      device: str) -> None:
    hf_model = save_hf_model(arch, tmp_path)
    gen = torch.Generator().manual_seed(3)
    seq_a = torch.randint(0, VOCAB, (12,), generator=gen).tolist()
    seq_b = torch.randint(0, VOCAB, (25,), generator=gen).tolist()
    with torch.no_grad():
        ref_a = hf_model(torch.tensor([seq_a])).logits[0]
        ref_b = hf_model(torch.tensor([seq_b])).logits[0]
    model = load_model(tmp_path, TritonAttentionBackend(), device=device,
                       ops=triton_model_ops())
    driver = PagedDriver(model, num_blocks=24, block_size=5)
    driver.kv_caches = [c.to(device) for c in driver.kv_caches]
    driver.model = _OnDevice(model, device)
    # prefill A (10 tokens) and B's first chunk (15); then B's second chunk with A's decode
    # (mixed: extend kernel); then two pure decode steps (flash-decoding kernel).
    logits = model.compute_logits(driver.step([(0, seq_a[:10]), (1, seq_b[:15])]))
    assert _rel_err(logits[:10], ref_a[:10]) <= REL_TOL
    assert _rel_err(logits[10:], ref_b[:15]) <= REL_TOL
    logits = model.compute_logits(driver.step([(1, seq_b[15:23]), (0, [seq_a[10]])]))
    assert _rel_err(logits[:8], ref_b[15:23]) <= REL_TOL
    assert _rel_err(logits[8], ref_a[10]) <= REL_TOL
    logits = model.compute_logits(driver.step([(0, [seq_a[11]]), (1, [seq_b[23]])]))
    assert _rel_err(logits[0], ref_a[11]) <= REL_TOL
    assert _rel_err(logits[1], ref_b[23]) <= REL_TOL
    logits = model.compute_logits(driver.step([(1, [seq_b[24]])]))
    assert _rel_err(logits[0], ref_b[24]) <= REL_TOL


def test_rejects_metadata_for_other_tokens() -> None:
    from genai_rt.model.attention.base import AttentionMetadata

    meta = AttentionMetadata(
        query_start_loc=torch.tensor([0, 1], dtype=torch.int32),
        seq_lens=torch.tensor([1], dtype=torch.int32),
        block_tables=torch.zeros(1, 1, dtype=torch.int32),
        slot_mapping=torch.zeros(1, dtype=torch.int64), query_lens_host=[1], seq_lens_host=[1],
        max_query_len=1, max_seq_len=1, block_size=4)
    kv_cache = torch.zeros(2, 1, 4, 1, 16)
    q = torch.zeros(2, 1, 16)
    with pytest.raises(ValueError, match="2 query tokens but 1 slots"):
        TritonAttentionBackend().forward(q, q, q, kv_cache, meta, 0.25)
