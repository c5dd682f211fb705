"""Logits of genai_rt's paged decoder against transformers on the same checkpoint (fp32).

Each case runs two sequences of different lengths through one flat batch: step 1 prefills A
and the first chunk of B; step 2 mixes B's second chunk (with cached context) and A's first
decode; later steps are pure decodes. Blocks come from a shuffled pool with block_size=4.
Every row is compared with transformers' full-sequence forward: ||a - b|| / ||b|| <= 1e-4.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from genai_rt.model.attention.torch_backend import TorchAttentionBackend
from genai_rt.model.loader import load_model

from tests.model.hf_models import VOCAB, save_hf_model
from tests.model.paged_batch import PagedDriver

REL_TOL = 1e-4
LEN_A, LEN_B, CHUNK_B, DECODE_STEPS = 13, 29, 17, 5


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def reference_logits(hf_model: torch.nn.Module, tokens: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return hf_model(torch.tensor([tokens])).logits[0].float()


def run_two_sequences(model_dir: Path, hf_model: torch.nn.Module) -> None:
    gen = torch.Generator().manual_seed(1)
    seq_a = torch.randint(0, VOCAB, (LEN_A + DECODE_STEPS,), generator=gen).tolist()
    seq_b = torch.randint(0, VOCAB, (LEN_B + DECODE_STEPS,), generator=gen).tolist()
    ref_a, ref_b = reference_logits(hf_model, seq_a), reference_logits(hf_model, seq_b)

    model = load_model(model_dir, TorchAttentionBackend())
    driver = PagedDriver(model, num_blocks=40, block_size=4)
    # step 1: A's whole prompt + B's first chunk (both without cached context)
    hidden = driver.step([(0, seq_a[:LEN_A]), (1, seq_b[:CHUNK_B])])
    logits = model.compute_logits(hidden)
    assert rel_err(logits[:LEN_A], ref_a[:LEN_A]) <= REL_TOL
    assert rel_err(logits[LEN_A:], ref_b[:CHUNK_B]) <= REL_TOL
    # step 2: B's second chunk over its cached first chunk + A's first decode token
    hidden = driver.step([(1, seq_b[CHUNK_B:LEN_B]), (0, [seq_a[LEN_A]])])
    logits = model.compute_logits(hidden)
    assert rel_err(logits[: LEN_B - CHUNK_B], ref_b[CHUNK_B:LEN_B]) <= REL_TOL
    assert rel_err(logits[-1], ref_a[LEN_A]) <= REL_TOL
    # pure decode steps, both sequences
    for step in range(1, DECODE_STEPS):
        pos_a, pos_b = LEN_A + step, LEN_B + step - 1
        logits = model.compute_logits(driver.step([(0, [seq_a[pos_a]]), (1, [seq_b[pos_b]])]))
        assert rel_err(logits[0], ref_a[pos_a]) <= REL_TOL, f"decode step {step}, seq A"
        assert rel_err(logits[1], ref_b[pos_b]) <= REL_TOL, f"decode step {step}, seq B"


@pytest.mark.parametrize("arch", ["llama", "llama3", "qwen2", "mistral"])
def test_logits_match_transformers(arch: str, tmp_path: Path) -> None:
    hf_model = save_hf_model(arch, tmp_path)
    run_two_sequences(tmp_path, hf_model)


def test_sharded_checkpoint_matches_transformers(tmp_path: Path) -> None:
    hf_model = save_hf_model("llama", tmp_path, max_shard_size="40KB")
    assert (tmp_path / "model.safetensors.index.json").is_file()
    assert len(list(tmp_path.glob("*.safetensors"))) > 2
    run_two_sequences(tmp_path, hf_model)
