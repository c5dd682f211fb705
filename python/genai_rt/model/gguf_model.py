"""A GGUF file -> ``LlamaForCausalLM``: architecture from metadata, weights dequantized at load.

GGUF tensor names are mapped onto Hugging Face names and handed to the same ``assign_weights``
as a safetensors checkpoint, so both formats fill the decoder through one checked path.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from genai_rt.model.attention.base import AttentionBackend
from genai_rt.model.gguf_dequant import dequantize
from genai_rt.model.gguf_file import GGUFFile, GGUFTensor
from genai_rt.model.hf_config import HFModelConfig, ModelConfigError, parse_dtype
from genai_rt.model.llama import LlamaForCausalLM, ModelOps
from genai_rt.model.loader import CheckpointError, GenerationDefaults, assign_weights

logger = logging.getLogger(__name__)

# general.architecture -> the Hugging Face architecture it is built as
SUPPORTED_GGUF_ARCHITECTURES = {"llama": "LlamaForCausalLM"}
_TOP = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}
_LAYER = {
    "attn_norm.weight": "input_layernorm.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}
ProgressFn = Callable[[int, int, str], None]


def hf_name(gguf_name: str) -> str | None:
    """The Hugging Face name of a GGUF tensor name (``blk.3.attn_q.weight`` ->
    ``model.layers.3.self_attn.q_proj.weight``); None when it has no counterpart."""
    if gguf_name in _TOP:
        return _TOP[gguf_name]
    parts = gguf_name.split(".", 2)
    if len(parts) == 3 and parts[0] == "blk" and parts[1].isdigit() and parts[2] in _LAYER:
        return f"model.layers.{parts[1]}.{_LAYER[parts[2]]}"
    return None


def gguf_config(gguf: GGUFFile) -> HFModelConfig:
    """The decoder's config from the file's ``{arch}.*`` metadata.

    Raises
    ------
    ModelConfigError
        For an architecture other than ``SUPPORTED_GGUF_ARCHITECTURES`` or a missing key.
    """
    arch = gguf.architecture
    if arch not in SUPPORTED_GGUF_ARCHITECTURES:
        raise ModelConfigError(
            f"{gguf.path.name}: unknown GGUF architecture {arch!r}; "
            f"supported: {', '.join(SUPPORTED_GGUF_ARCHITECTURES)}"
        )

    def need(key: str) -> Any:
        value = gguf.metadata(f"{arch}.{key}")
        if value is None:
            raise ModelConfigError(f"{gguf.path.name} lacks metadata {arch}.{key}")
        return value

    heads = int(need("attention.head_count"))
    hidden = int(need("embedding_length"))
    vocab = gguf.metadata(f"{arch}.vocab_size")
    if vocab is None:  # older files: the vocabulary's length
        vocab = len(gguf.metadata("tokenizer.ggml.tokens") or [])
    scaling = gguf.metadata(f"{arch}.rope.scaling.type", "none")
    if scaling not in ("none", "linear"):
        raise ModelConfigError(f"{gguf.path.name}: unsupported rope scaling {scaling!r}")
    factor = float(gguf.metadata(f"{arch}.rope.scaling.factor", 1.0))
    rope = {"rope_type": "linear", "factor": factor} if scaling == "linear" else None
    eos = gguf.metadata("tokenizer.ggml.eos_token_id")
    raw = {
        "architectures": [SUPPORTED_GGUF_ARCHITECTURES[arch]],
        "vocab_size": int(vocab),
        "hidden_size": hidden,
        "intermediate_size": int(need("feed_forward_length")),
        "num_hidden_layers": int(need("block_count")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(gguf.metadata(f"{arch}.attention.head_count_kv", heads)),
        "head_dim": int(gguf.metadata(f"{arch}.attention.key_length", hidden // heads)),
        "rope_theta": float(gguf.metadata(f"{arch}.rope.freq_base", 10000.0)),
        "rope_scaling": rope,
        "rms_norm_eps": float(need("attention.layer_norm_rms_epsilon")),
        # llama.cpp's converter drops output.weight when it equals the embedding
        "tie_word_embeddings": "output.weight" not in gguf.tensor_names,
        "max_position_embeddings": int(need("context_length")),
        "torch_dtype": "float32",
        "bos_token_id": gguf.metadata("tokenizer.ggml.bos_token_id"),
        "eos_token_id": eos,
    }
    return HFModelConfig.from_dict(raw)


def generation_defaults(gguf: GGUFFile) -> GenerationDefaults:
    """EOS/BOS from the tokenizer metadata (a GGUF has no generation_config.json)."""
    eos = gguf.metadata("tokenizer.ggml.eos_token_id")
    eot = gguf.metadata("tokenizer.ggml.eot_token_id")
    ids = tuple(dict.fromkeys(int(i) for i in (eos, eot) if i is not None))
    return GenerationDefaults(eos_token_ids=ids,
                              bos_token_id=gguf.metadata("tokenizer.ggml.bos_token_id"))


def unpermute_rotary(weight: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Undo llama.cpp's q/k row permutation (its converter interleaves the two rotary halves of
    each head; the decoder here uses Hugging Face's half-split layout)."""
    rows = weight.shape[0]
    half = rows // num_heads // 2
    return (
        weight.reshape(num_heads, half, 2, *weight.shape[1:]).transpose(1, 2).reshape(weight.shape)
    )


def _stderr_progress(done: int, total: int, name: str) -> None:
    if sys.stderr.isatty():
        end = "\n" if done == total else ""
        print(f"\rloading {name}: {done}/{total} tensors", end=end, file=sys.stderr, flush=True)


def hf_tensors(
    gguf: GGUFFile, config: HFModelConfig, dtype: torch.dtype,
    progress: ProgressFn | None = None,
) -> Iterator[tuple[str, torch.Tensor]]:
    """Each tensor dequantized to ``dtype`` under its Hugging Face name (q/k unpermuted).

    Raises
    ------
    CheckpointError
        For a tensor with no counterpart in the decoder, naming it.
    """
    total = len(gguf.tensor_names)
    for done, tensor in enumerate(gguf.tensors(), start=1):
        name = hf_name(tensor.name)
        if name is None:
            raise CheckpointError(
                f"unexpected tensor {tensor.name!r} in {gguf.path.name} for "
                f"{config.architecture}"
            )
        yield name, _decoded(tensor, name, config, dtype)
        if progress is not None:
            progress(done, total, gguf.path.name)


def _decoded(
    tensor: GGUFTensor, name: str, config: HFModelConfig, dtype: torch.dtype
) -> torch.Tensor:
    # Unpermute in fp32, then cast: the permutation is exact in any dtype, the cast once.
    values = dequantize(tensor, torch.float32)
    if name.endswith("q_proj.weight"):
        values = unpermute_rotary(values, config.num_attention_heads)
    elif name.endswith("k_proj.weight"):
        values = unpermute_rotary(values, config.num_key_value_heads)
    return values.to(dtype)


def check_tensor_names(gguf: GGUFFile, config: HFModelConfig) -> None:
    """Refuse a file that lacks a tensor the decoder needs, naming it as the file would."""
    expected = ["token_embd.weight", "output_norm.weight"] + [
        f"blk.{i}.{suffix}" for i in range(config.num_hidden_layers) for suffix in _LAYER
    ]
    present = set(gguf.tensor_names)
    missing = [name for name in expected if name not in present]
    if missing:
        more = f" (+{len(missing) - 8} more)" if len(missing) > 8 else ""
        shown = ", ".join(missing[:8]) + more
        raise CheckpointError(f"missing tensor(s) in {gguf.path.name}: {shown}")


def load_gguf_model(
    path: str | Path | GGUFFile,
    backend: AttentionBackend,
    dtype: str | torch.dtype | None = None,
    device: str | torch.device = "cpu",
    max_model_len: int | None = None,
    ops: ModelOps | None = None,
    progress: ProgressFn | None = _stderr_progress,
) -> LlamaForCausalLM:
    """Build the decoder a GGUF file describes and load its weights (dequantized to ``dtype``).

    Parameters are those of ``genai_rt.model.loader.load_model``; ``dtype`` defaults to float32
    (GGUF blocks have no native torch dtype). ``progress(done, total, file_name)`` is called
    after each tensor (by default a counter on a terminal's stderr).

    Raises
    ------
    CheckpointError, ModelConfigError
        Naming the file and the tensor, type or metadata key at fault.
    """
    from genai_rt.model.attention.select import model_ops_for

    start = time.perf_counter()
    gguf = path if isinstance(path, GGUFFile) else GGUFFile(path)
    config = gguf_config(gguf)
    check_tensor_names(gguf, config)
    target_dtype = torch.float32 if dtype is None else parse_dtype(dtype)
    limit = config.max_model_len if max_model_len is None else int(max_model_len)
    if limit <= 0:
        raise ModelConfigError(f"max_model_len must be positive, got {limit}")
    with torch.device("meta"):
        model = LlamaForCausalLM(config, backend, limit, ops or model_ops_for(backend))
    model = model.to(dtype=target_dtype).to_empty(device=device)
    assign_weights(model, hf_tensors(gguf, config, target_dtype, progress), gguf.path.name)
    model.init_rotary_cache()
    model.eval()
    logger.info(
        "loaded %s (%s) from %s in %.1fs: %d layers, %s on %s", config.architecture,
        gguf.architecture, gguf.path, time.perf_counter() - start, config.num_hidden_layers,
        target_dtype, device,
    )
    return model
