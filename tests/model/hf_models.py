"""Tiny random transformers checkpoints saved to disk: the references genai_rt must match."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

VOCAB = 211  # odd on purpose: no power-of-two shapes anywhere


def _base(**overrides: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = dict(
        vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
        rms_norm_eps=1e-5,
    )
    cfg.update(overrides)
    return cfg


def build_hf_model(arch: str) -> torch.nn.Module:
    """A seeded random transformers model of family ``arch``; norms and biases randomised too."""
    from transformers import (
        LlamaConfig,
        LlamaForCausalLM,
        MistralConfig,
        MistralForCausalLM,
        Qwen2Config,
        Qwen2ForCausalLM,
    )

    torch.manual_seed(0)
    if arch == "llama":
        model = LlamaForCausalLM(LlamaConfig(**_base(rope_theta=10000.0)))
    elif arch == "llama3":
        # original_max_position_embeddings=16 puts the sequences of these tests past the
        # scaled band, so the llama3 frequency interpolation changes the logits.
        scaling = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                   "high_freq_factor": 4.0, "original_max_position_embeddings": 16}
        model = LlamaForCausalLM(
            LlamaConfig(**_base(rope_theta=500000.0, rope_scaling=scaling, head_dim=32))
        )
    elif arch == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(**_base(tie_word_embeddings=True, rope_theta=1e6)))
    elif arch == "mistral":
        model = MistralForCausalLM(MistralConfig(**_base(sliding_window=96, head_dim=16)))
    else:
        raise ValueError(arch)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias"):
                param.normal_(0.0, 0.5)
            elif "norm" in name:
                param.copy_(1.0 + 0.2 * torch.randn_like(param))
    return model.eval()


def save_hf_model(arch: str, path: Path, max_shard_size: str | None = None) -> torch.nn.Module:
    model = build_hf_model(arch)
    kwargs = {} if max_shard_size is None else {"max_shard_size": max_shard_size}
    model.save_pretrained(path, **kwargs)
    return model
