"""Tiny GGUF files written with ``gguf.GGUFWriter``, the way llama.cpp's converter writes them.

The weights are a seeded random transformers Llama (tests/model/hf_models.py); q/k rows are
permuted exactly as convert_hf_to_gguf.py's ``LlamaModel.permute`` does, so loading them back
exercises the un-permutation against transformers itself.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import gguf
import numpy as np
import torch
from gguf import GGMLQuantizationType

from tests.model.hf_models import VOCAB, build_hf_model

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
MERGED = ["ab", "abc"]
TEMPLATE = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n" \
           "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"


def llama_cpp_permute(weights: np.ndarray, n_head: int) -> np.ndarray:
    """convert_hf_to_gguf.py's ``LlamaModel.permute`` (rotary halves -> interleaved rows)."""
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


_NAMES = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}
_LAYER = {
    "input_layernorm.weight": "attn_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}


def gguf_name(hf: str) -> str:
    if hf in _NAMES:
        return _NAMES[hf]
    _, _, layer, rest = hf.split(".", 3)
    return f"blk.{layer}.{_LAYER[rest]}"


def tiny_tokens() -> list[str]:
    # VOCAB tokens: three specials, two merged ones, then characters of GPT-2's byte alphabet
    alphabet = [chr(c) for c in range(33, 127)] + [chr(c) for c in range(161, 161 + 200)]
    return SPECIALS + MERGED + alphabet[: VOCAB - len(SPECIALS) - len(MERGED)]


def write_tiny_gguf(
    path: Path,
    arch: str = "llama",
    drop: str | None = None,
    quantize: Callable[[str, np.ndarray], tuple[np.ndarray, GGMLQuantizationType]] | None = None,
) -> torch.nn.Module:
    """Write a 2-layer Llama GGUF to ``path``; return the transformers model it holds.

    ``arch`` goes into general.architecture; ``drop`` names a GGUF tensor left out;
    ``quantize(name, fp32_array)`` may return ``(raw_bytes, type)`` to store a tensor quantized.
    """
    model = build_hf_model("llama")
    cfg = model.config
    writer = gguf.GGUFWriter(str(path), arch=arch)
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(cfg.num_attention_heads)
    writer.add_head_count_kv(cfg.num_key_value_heads)
    writer.add_rope_freq_base(float(cfg.rope_parameters["rope_theta"]))
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    writer.add_vocab_size(cfg.vocab_size)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    tokens = tiny_tokens()
    writer.add_token_list(tokens)
    writer.add_token_types([3] * len(SPECIALS) + [1] * (len(tokens) - len(SPECIALS)))
    writer.add_token_merges(["a b", "ab c"])
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_add_bos_token(False)
    writer.add_chat_template(TEMPLATE)
    for hf, tensor in model.state_dict().items():
        name = gguf_name(hf)
        if name == drop:
            continue
        array = tensor.detach().float().numpy()
        if name.endswith("attn_q.weight"):
            array = llama_cpp_permute(array, cfg.num_attention_heads)
        elif name.endswith("attn_k.weight"):
            array = llama_cpp_permute(array, cfg.num_key_value_heads)
        if quantize is not None and array.ndim == 2:
            raw, kind = quantize(name, array)
            writer.add_tensor(name, raw, raw_dtype=kind)
        else:
            writer.add_tensor(name, np.ascontiguousarray(array))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return model
