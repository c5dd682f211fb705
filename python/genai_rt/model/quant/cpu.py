"""The C++ quantized matmul (csrc/quant) on torch tensors.

The kernel runs on the core's one thread pool with ``torch.get_num_threads()`` threads, so it
and torch's intra-op threads take turns on the same cores (a call returns before torch runs its
next op); the GIL is released during the call.
"""

from __future__ import annotations

import torch

from genai_rt import _core
from genai_rt.model.quant.formats import QuantFormatError, QuantizedWeight


def quant_matmul(
    x: torch.Tensor,
    weight: QuantizedWeight,
    int8_activations: bool = True,
    num_threads: int | None = None,
) -> torch.Tensor:
    """``x @ W^T`` with ``W`` kept in its GGML blocks, dequantization fused into the dot product.

    Parameters
    ----------
    x : torch.Tensor
        ``[T, in_features]`` float32 on CPU with unit column stride (any row stride).
    weight : QuantizedWeight
        Blocks on CPU.
    int8_activations : bool
        True: ``x`` is quantized per 32 inputs to int8 (llama.cpp's q8 scheme) and the dot
        products run on integers (fast). False: weight-only mode, fp32 dot products against
        the dequantized weights (equals dequantize-then-matmul within fp32 rounding).
    num_threads : int, optional
        ``torch.get_num_threads()`` when None.

    Returns
    -------
    torch.Tensor
        ``[T, out_features]`` float32.
    """
    if x.device.type != "cpu" or weight.blocks.device.type != "cpu":
        raise QuantFormatError(
            f"{weight.name}: the CPU quantized kernel needs CPU tensors, got x on {x.device} "
            f"and blocks on {weight.blocks.device}"
        )
    if x.dtype != torch.float32:
        raise QuantFormatError(f"{weight.name}: x must be float32, got {x.dtype}")
    if x.dim() != 2 or x.shape[1] != weight.in_features:
        raise QuantFormatError(
            f"{weight.name}: x must be [T, {weight.in_features}], got {tuple(x.shape)}"
        )
    if x.stride(1) != 1 and x.shape[0] > 0:
        x = x.contiguous()
    rows = x.shape[0]
    y = torch.empty(rows, weight.out_features, dtype=torch.float32)
    _core.quant_matmul(
        y.data_ptr(), x.data_ptr(), rows, weight.in_features, max(x.stride(0), weight.in_features),
        weight.blocks.data_ptr(), weight.ggml_type, weight.out_features, int8_activations,
        torch.get_num_threads() if num_threads is None else int(num_threads),
    )
    return y
