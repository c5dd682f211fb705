"""Quantized weights kept quantized: GGUF block formats and ``--quantize int8|int4``.

- ``formats``: the GGML block formats the kernels read, and ``QuantizedWeight`` (raw blocks).
- ``cpu``: the C++ kernels (csrc/quant) on torch tensors.
- ``linear``: ``QuantizedLinear``, which picks its kernel by weight type and device.
- ``quantize``: float weights -> quantized, for Hugging Face checkpoints.
"""

from genai_rt.model.quant.formats import (
    SUPPORTED_TYPES,
    QuantFormatError,
    QuantizedWeight,
)
from genai_rt.model.quant.linear import QuantizedLinear

__all__ = ["SUPPORTED_TYPES", "QuantFormatError", "QuantizedLinear", "QuantizedWeight"]
