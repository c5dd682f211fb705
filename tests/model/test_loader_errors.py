"""Bad checkpoints and configs fail with errors that name the problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from genai_rt.model.attention.torch_backend import TorchAttentionBackend
from genai_rt.model.hf_config import HFModelConfig, ModelConfigError, load_hf_config, parse_dtype
from genai_rt.model.loader import CheckpointError, load_generation_defaults, load_model
from safetensors.torch import load_file, save_file

from tests.model.hf_models import save_hf_model
from tests.model.paged_batch import PagedDriver


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("llama")
    save_hf_model("llama", path)
    return path


def copy_checkpoint(src: Path, dst: Path) -> Path:
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def load(path: Path, **kwargs: object) -> torch.nn.Module:
    return load_model(path, TorchAttentionBackend(), **kwargs)  # type: ignore[arg-type]


def test_missing_directory_and_files(tmp_path: Path, llama_dir: Path) -> None:
    with pytest.raises(ModelConfigError, match="missing file .*config.json"):
        load(tmp_path / "nowhere")
    (tmp_path / "config.json").write_bytes((llama_dir / "config.json").read_bytes())
    with pytest.raises(CheckpointError, match=r"no \*.safetensors"):
        load(tmp_path)


def test_consolidated_mistral_file_is_ignored(tmp_path: Path, llama_dir: Path) -> None:
    copy_checkpoint(llama_dir, tmp_path)
    save_file({"layers.0.attention.wq.weight": torch.zeros(2, 2)},
              tmp_path / "consolidated.safetensors")
    assert load(tmp_path).config.num_hidden_layers == 2
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"no \*.safetensors"):
        load(tmp_path)


def test_missing_shard_is_named(tmp_path: Path) -> None:
    save_hf_model("llama", tmp_path, max_shard_size="40KB")
    victim = sorted(tmp_path.glob("*.safetensors"))[1]
    victim.unlink()
    with pytest.raises(CheckpointError, match=f"missing shard.*{victim.name}"):
        load(tmp_path)


def test_unsupported_architecture_is_named(tmp_path: Path, llama_dir: Path) -> None:
    copy_checkpoint(llama_dir, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["architectures"] = ["GPT2LMHeadModel"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelConfigError, match="unsupported architecture.*GPT2LMHeadModel"):
        load(tmp_path)


def test_missing_tensor_is_named(tmp_path: Path, llama_dir: Path) -> None:
    copy_checkpoint(llama_dir, tmp_path)
    tensors = load_file(tmp_path / "model.safetensors")
    del tensors["model.layers.1.self_attn.k_proj.weight"]
    save_file(tensors, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match=r"missing tensor.*layers\.1\.qkv_proj\.weight\[k\]"):
        load(tmp_path)


def test_mismatched_and_unexpected_tensors_are_named(tmp_path: Path, llama_dir: Path) -> None:
    copy_checkpoint(llama_dir, tmp_path)
    tensors = load_file(tmp_path / "model.safetensors")
    tensors["model.layers.0.mlp.up_proj.weight"] = torch.zeros(7, 64)
    save_file(tensors, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match=r"up_proj.weight.*\(7, 64\).*\(96, 64\)"):
        load(tmp_path)
    tensors = load_file(llama_dir / "model.safetensors")
    tensors["model.layers.0.self_attn.q_proj.bias"] = torch.zeros(64)
    save_file(tensors, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="unexpected tensor.*q_proj.bias.*attention_bias"):
        load(tmp_path)


def test_dtype_argument_overrides_config(llama_dir: Path) -> None:
    assert load_hf_config(llama_dir).dtype == torch.float32
    for name, dtype in [("bf16", torch.bfloat16), ("float16", torch.float16)]:
        model = load(llama_dir, dtype=name)
        assert {p.dtype for p in model.parameters()} == {dtype}
        assert model.cos_sin_cache.dtype == dtype
    with pytest.raises(ModelConfigError, match="unsupported dtype 'int8'"):
        parse_dtype("int8")


# Relative error against fp32 measured on this model: bf16 6.2e-3, fp16 8e-4 (bounds ~3x).
@pytest.mark.parametrize("dtype,bound", [("bfloat16", 2e-2), ("float16", 3e-3)])
def test_half_precision_logits_stay_close_to_fp32(
    llama_dir: Path, dtype: str, bound: float
) -> None:
    tokens = list(range(3, 40))
    logits = {}
    for name in ("float32", dtype):
        model = load(llama_dir, dtype=name)
        driver = PagedDriver(model, num_blocks=16, block_size=8)
        # prefill in two chunks, then one decode: all three attention paths in half precision
        hidden = torch.cat([driver.step([(0, tokens[:20])]), driver.step([(0, tokens[20:-1])]),
                            driver.step([(0, tokens[-1:])])])
        logits[name] = model.compute_logits(hidden)
    err = (logits[dtype] - logits["float32"]).norm() / logits["float32"].norm()
    assert float(err) < bound


def test_bad_inputs_get_clear_errors(llama_dir: Path) -> None:
    model = load(llama_dir)
    driver = PagedDriver(model, num_blocks=16, block_size=8)
    with pytest.raises(ValueError, match="token id 211 out of range.*vocab_size=211"):
        driver.step([(0, [5, 211, 7])])
    with pytest.raises(ValueError, match="got 1 KV caches for 2 layers"):
        model(torch.tensor([1]), torch.tensor([0]), driver.kv_caches[:1], None)
    with pytest.raises(ValueError, match=r"input_ids \(3,\) and positions \(2,\)"):
        model(torch.tensor([1, 2, 3]), torch.tensor([0, 1]), driver.kv_caches, None)


def test_sliding_window_caps_model_length(tmp_path: Path) -> None:
    save_hf_model("mistral", tmp_path)  # sliding_window=96 < max_position_embeddings=128
    assert load_hf_config(tmp_path).max_model_len == 96
    with pytest.raises(ValueError, match="exceeds 96.*sliding_window=96"):
        load(tmp_path, max_model_len=100)
    model = load(tmp_path, max_model_len=96)
    driver = PagedDriver(model, num_blocks=30, block_size=4)
    driver.step([(0, list(range(90)))])
    with pytest.raises(ValueError, match="sequence length 97 exceeds 96.*sliding_window"):
        driver.step([(0, list(range(7)))])


def test_config_errors_name_the_field() -> None:
    base = {"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 96,
            "num_hidden_layers": 1, "num_attention_heads": 4, "vocab_size": 10}
    assert HFModelConfig.from_dict(base).num_key_value_heads == 4
    with pytest.raises(ModelConfigError, match="lacks 'vocab_size'"):
        HFModelConfig.from_dict({**base, "vocab_size": None})
    with pytest.raises(ModelConfigError, match="rope scaling type 'yarn'"):
        HFModelConfig.from_dict({**base, "rope_scaling": {"rope_type": "yarn", "factor": 4.0}})
    with pytest.raises(ModelConfigError, match="not a multiple of num_key_value_heads=3"):
        HFModelConfig.from_dict({**base, "num_key_value_heads": 3})
    legacy = HFModelConfig.from_dict(
        {**base, "rope_theta": 5e5, "rope_scaling": {"type": "linear", "factor": 2.0}}
    )
    assert (legacy.rope_theta, legacy.rope_scaling.rope_type) == (5e5, "linear")


def test_generation_defaults(tmp_path: Path, llama_dir: Path) -> None:
    copy_checkpoint(llama_dir, tmp_path)
    config = load_hf_config(tmp_path)
    (tmp_path / "generation_config.json").unlink(missing_ok=True)
    assert load_generation_defaults(tmp_path, config).eos_token_ids == (2,)
    (tmp_path / "generation_config.json").write_text(
        json.dumps({"eos_token_id": [7, 9], "temperature": 0.6})
    )
    defaults = load_generation_defaults(tmp_path, config)
    assert defaults.eos_token_ids == (7, 9) and defaults.get("temperature") == 0.6


def test_outputs_accept_in_place_edits(llama_dir: Path) -> None:
    # Samplers mask and penalise logits in place, outside any inference mode.
    model = load(llama_dir)
    logits = model.compute_logits(PagedDriver(model, num_blocks=8, block_size=8).step([(0, [4])]))
    logits[0, 3] = float("-inf")
    logits.add_(1.0)
    assert logits.dtype == torch.float32 and logits.shape == (1, 211)
    assert not logits.requires_grad
