"""Swap a loaded decoder's projections for ``QuantizedLinear`` layers (the engine's load step).

- GGUF on CPU (``quantize="auto"``): every projection and the LM head keep the file's blocks
  (q/k rows un-permuted as the dense loader does; q/k/v and gate/up fused like ``Projection``).
- A Hugging Face checkpoint with ``quantize="int8" | "int4"``: the loaded float weights are
  quantized (weight-only) for the model's device; the embedding lookup stays dense.
- Anything else stays dense, and the summary says so.
"""

from __future__ import annotations

import logging

import torch

from genai_rt.model.gguf_file import GGUFFile, GGUFTensor
from genai_rt.model.gguf_model import unpermute_rotary
from genai_rt.model.llama import LlamaForCausalLM, Projection
from genai_rt.model.quant.formats import SUPPORTED_TYPES, QuantFormatError, QuantizedWeight
from genai_rt.model.quant.linear import QuantizedLinear

logger = logging.getLogger(__name__)

# fused projection -> the GGUF tensors stacked into it, in output order
_FUSED = {
    "qkv_proj": ("attn_q", "attn_k", "attn_v"),
    "o_proj": ("attn_output",),
    "gate_up_proj": ("ffn_gate", "ffn_up"),
    "down_proj": ("ffn_down",),
}


def _row_order(rows: int, num_heads: int) -> torch.Tensor:
    # unpermute_rotary is a pure row permutation: applied to the row indices it says which
    # GGUF row each Hugging Face row is, so the blocks move whole (no dequantization).
    index = torch.arange(rows, dtype=torch.float64)[:, None]
    return unpermute_rotary(index, num_heads)[:, 0].long()


def _gguf_weight(tensor: GGUFTensor, model: LlamaForCausalLM) -> QuantizedWeight:
    weight = QuantizedWeight.from_gguf(tensor)
    cfg = model.config
    if tensor.name.endswith("attn_q.weight"):
        weight = weight.select_rows(_row_order(weight.out_features, cfg.num_attention_heads))
    elif tensor.name.endswith("attn_k.weight"):
        weight = weight.select_rows(_row_order(weight.out_features, cfg.num_key_value_heads))
    return weight


def _float_weight(proj: Projection) -> torch.Tensor:
    return proj.weight.t() if proj.transposed else proj.weight  # [out, in]


def quantize_model(
    model: LlamaForCausalLM,
    gguf: GGUFFile | None,
    quantize: str = "auto",
    activations: str = "float32",
) -> str:
    """Replace ``model``'s projections in place; returns the path summary the load log shows.

    Parameters
    ----------
    quantize : {"auto", "none", "int8", "int4"}
        "auto": GGUF blocks kept on CPU, dense otherwise. "int8"/"int4": quantize a Hugging
        Face checkpoint's weights at load. "none": dense.
    activations : {"float32", "int8"}
        CPU kernels only (``linear.ACTIVATION_PATHS``).

    Raises
    ------
    QuantFormatError
        int8/int4 asked of a GGUF file, an unsupported GGML type, a corrupt block scale.
    """
    device = model.embed_tokens.device
    if quantize == "none":
        return "dense (quantize=none)"
    if gguf is not None and quantize in ("int8", "int4"):
        raise QuantFormatError(
            f"quantize={quantize} re-quantizes float weights; {gguf.path.name} is GGUF and "
            "already quantized (use quantize=auto to keep its blocks, or none)"
        )
    if quantize == "auto" and (gguf is None or device.type != "cpu"):
        why = "no quantized weights" if gguf is None else "no GPU kernel reads GGML blocks"
        return f"dense {model.embed_tokens.dtype} on {device.type} ({why})"
    tensors = {} if gguf is None else {t.name: t for t in gguf.tensors()}
    paths: dict[str, int] = {}
    for index, layer in enumerate(model.layers):
        for attr, parts in _FUSED.items():
            proj: Projection = getattr(layer, attr)
            bias = None if proj.bias is None else proj.bias.data
            name = f"layers.{index}.{attr}"
            if gguf is None:
                new = QuantizedLinear.from_float(_float_weight(proj), quantize, device,
                                                 activations, bias, name)
            else:
                sources = [tensors[f"blk.{index}.{p}.weight"] for p in parts]
                other = sorted({t.type_name for t in sources
                                if int(t.ggml_type) not in SUPPORTED_TYPES})
                if other:  # loaded dense already; say so rather than refuse the file
                    path = f"dense (GGUF {'/'.join(other)}: no quantized kernel)"
                    paths[path] = paths.get(path, 0) + 1
                    continue
                weights = [_gguf_weight(t, model) for t in sources]
                new = QuantizedLinear.from_gguf(weights, device, model.embed_tokens.dtype,
                                                activations, bias, name)
            setattr(layer, attr, new)  # same call signature as Projection
            paths[new.path] = paths.get(new.path, 0) + 1
    head = _lm_head(model, tensors, quantize, activations)
    if head is not None:
        model.lm_head = head  # type: ignore[assignment]  # same call signature as Projection
        paths[f"lm_head: {head.path}"] = 1
    summary = "; ".join(f"{path} x{count}" for path, count in paths.items())
    logger.info("quantized linear layers: %s", summary)
    return summary


def _lm_head(
    model: LlamaForCausalLM, tensors: dict[str, GGUFTensor], quantize: str, activations: str
) -> QuantizedLinear | None:
    device = model.embed_tokens.device
    if tensors:
        # Tied files store no output.weight: the LM head reads the embedding's blocks.
        source = tensors.get("output.weight") or tensors["token_embd.weight"]
        if int(source.ggml_type) not in SUPPORTED_TYPES:
            return None  # an F32/F16 head stays dense
        return QuantizedLinear.from_gguf([QuantizedWeight.from_gguf(source)], device,
                                         activations=activations, name="lm_head")
    dense = model.embed_tokens if model.lm_head is None else _float_weight(model.lm_head)
    return QuantizedLinear.from_float(dense.data, quantize, device, activations, None,
                                      "lm_head")
