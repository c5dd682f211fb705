"""`genai-rt model init`: same bytes every run, loadable by genai_rt and by transformers alike."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from genai_rt.cli import main
from genai_rt.model.attention.torch_backend import TorchAttentionBackend
from genai_rt.model.hf_config import load_hf_config
from genai_rt.model.init_default import init_default_model
from genai_rt.model.loader import load_generation_defaults, load_model
from genai_rt.model.tokenizer import Tokenizer

from tests.model.paged_batch import PagedDriver

FILES = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
         "generation_config.json", "README.md"]


def digests(path: Path) -> dict[str, str]:
    return {name: hashlib.sha256((path / name).read_bytes()).hexdigest() for name in FILES}


@pytest.fixture(scope="module")
def default_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_default_model(tmp_path_factory.mktemp("default"))


def test_same_bytes_every_run(default_dir: Path, tmp_path: Path) -> None:
    assert main(["model", "init", "--random", str(tmp_path / "again")]) == 0
    assert digests(tmp_path / "again") == digests(default_dir)


def test_size_and_special_tokens(default_dir: Path) -> None:
    config = load_hf_config(default_dir)
    params = sum(t.numel() for t in load_model(default_dir, TorchAttentionBackend()).parameters())
    assert 4_000_000 <= params <= 10_000_000
    tok = Tokenizer(default_dir)
    assert tok.vocab_size == config.vocab_size
    defaults = load_generation_defaults(default_dir, config)
    assert defaults.eos_token_ids == (tok.eos_token_id, tok.backend.token_to_id("<|endoftext|>"))
    assert tok.encode("refund policy")[0] == tok.bos_token_id


def test_transformers_gives_the_same_logits(default_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    hf_model = AutoModelForCausalLM.from_pretrained(default_dir).eval()
    tokens = Tokenizer(default_dir).encode("How many days may I work remotely?")
    with torch.no_grad():
        expected = hf_model(torch.tensor([tokens])).logits[0]
    model = load_model(default_dir, TorchAttentionBackend())
    got = model.compute_logits(PagedDriver(model, num_blocks=8, block_size=16).step([(0, tokens)]))
    assert float((got - expected).norm() / expected.norm()) <= 1e-4
