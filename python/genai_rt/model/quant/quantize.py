"""Float weights -> GGML blocks on CPU (``--quantize int8|int4`` for Hugging Face checkpoints).

The block quantizers are gguf-py's (``gguf.quants.quantize``, the same math as llama.cpp's
reference quantizers), so a checkpoint quantized here matches one quantized by llama.cpp's
convert script to the bit. A ragged last block (``in_features`` not a multiple of 32) is
zero-padded.
"""

from __future__ import annotations

import gguf
import numpy as np
import torch

from genai_rt.model.quant.formats import QuantFormatError, QuantizedWeight, type_name

# The types gguf-py can quantize (the K-quants it can only dequantize).
QUANTIZABLE = {int(gguf.GGMLQuantizationType.Q8_0), int(gguf.GGMLQuantizationType.Q4_0),
               int(gguf.GGMLQuantizationType.Q4_1)}


def quantize_blocks(weight: torch.Tensor, ggml_type: int, name: str = "weight") -> QuantizedWeight:
    """``weight [out, in]`` float -> ``QuantizedWeight`` of ``ggml_type`` (Q8_0, Q4_0 or Q4_1)."""
    if ggml_type not in QUANTIZABLE:
        raise QuantFormatError(f"{name}: cannot quantize to {type_name(ggml_type)} here "
                               "(Q8_0, Q4_0 and Q4_1 only)")
    if weight.dim() != 2:
        raise QuantFormatError(f"{name}: expected a 2-D weight, got {tuple(weight.shape)}")
    out_features, in_features = weight.shape
    w = weight.detach().float().cpu()
    if not torch.isfinite(w).all():
        raise QuantFormatError(f"{name}: weight holds NaN or inf; refusing to quantize it")
    padded = -(-in_features // 32) * 32
    data = np.zeros((out_features, padded), dtype=np.float32)
    data[:, :in_features] = w.numpy()
    blocks = gguf.quants.quantize(data, gguf.GGMLQuantizationType(ggml_type))
    return QuantizedWeight(torch.from_numpy(np.ascontiguousarray(blocks)), ggml_type,
                           in_features, out_features, name)
