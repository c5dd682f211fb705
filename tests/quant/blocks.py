"""Random GGML-block matrices of every supported type, with gguf-py's dequantizer as reference.

Q8_0/Q4_0/Q4_1 come from gguf-py's quantizer; gguf-py cannot quantize the K-quants, so their
blocks are random bytes with sane fp16 scales patched in (every bit pattern of the quants and
6-bit scales is a valid block, which exercises more of the decoder than real data would).
"""

from __future__ import annotations

import gguf
import numpy as np
import torch
from genai_rt.model.quant import QuantizedWeight
from genai_rt.model.quant.quantize import quantize_blocks

T = gguf.GGMLQuantizationType
ALL_TYPES = [T.Q8_0, T.Q4_0, T.Q4_1, T.Q4_K, T.Q5_K, T.Q6_K]
# Byte offsets of the fp16 scales in a K-quant block, and their magnitude range.
_K_SCALES = {T.Q4_K: ((0, 2), 1e-2), T.Q5_K: ((0, 2), 1e-2), T.Q6_K: ((208,), 1e-3)}


def random_weight(ggml_type: T, out_features: int, in_features: int, seed: int) -> QuantizedWeight:
    rng = np.random.default_rng(seed)
    if ggml_type not in _K_SCALES:
        w = torch.from_numpy(rng.standard_normal((out_features, in_features), dtype=np.float32))
        return quantize_blocks(w, int(ggml_type), f"random {ggml_type.name}")
    block_elems, block_bytes = gguf.GGML_QUANT_SIZES[ggml_type]
    blocks = -(-in_features // block_elems)
    raw = rng.integers(0, 256, size=(out_features, blocks, block_bytes), dtype=np.uint8)
    offsets, magnitude = _K_SCALES[ggml_type]
    for offset in offsets:
        scale = (rng.uniform(0.2, 1.0, size=(out_features, blocks)) * magnitude).astype(np.float16)
        raw[:, :, offset:offset + 2] = scale.view(np.uint8).reshape(out_features, blocks, 2)
    return QuantizedWeight(torch.from_numpy(raw.reshape(out_features, -1).copy()),
                           int(ggml_type), in_features, out_features, f"random {ggml_type.name}")


def ragged_in_features(ggml_type: T) -> int:
    """An input width whose last block is partial."""
    return 300 if gguf.GGML_QUANT_SIZES[ggml_type][0] == 256 else 100


def q8_activations(x: torch.Tensor) -> torch.Tensor:
    """x as the int8 mode sees it: per 32 inputs, s = max|x| / 127, q = round(x / s) and the
    residual's q2 = round(256 (x / s - q)) in [-127, 127]; x ~= s / 256 * (256 q + q2)."""
    rows, k = x.shape
    padded = -(-k // 32) * 32
    xp = torch.zeros(rows, padded)
    xp[:, :k] = x
    blocks = xp.view(rows, -1, 32)
    scale = blocks.abs().amax(dim=2, keepdim=True) / 127.0
    inverse = torch.where(scale > 0, 1.0 / scale, torch.zeros_like(scale))
    scaled = blocks * inverse
    q = torch.round(scaled).clamp(-127, 127)
    q2 = torch.round(256.0 * (scaled - q)).clamp(-127, 127)
    return ((256.0 * q + q2).double() * (scale.double() / 256.0)).view(rows, padded)[:, :k]
