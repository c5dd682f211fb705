"""GGML tensor types -> torch tensors of the requested dtype (dequantization at load).

The legacy block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) are decoded here with torch ops, which use
every core; the k-quants (Q4_K, Q5_K, Q6_K) go through ``gguf.quants.dequantize``, llama.cpp's
own numpy routine. Each torch decoder is checked against ``gguf.quants.dequantize`` on random
blocks (tests/model/test_gguf_dequant.py); benchmarks/compare_gguf_dequant.py times both.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import torch
from gguf import GGMLQuantizationType as T
from gguf import quants

from genai_rt.model.gguf_file import GGUFTensor
from genai_rt.model.loader import CheckpointError

BLOCK = 32  # values per block of every legacy type


def _blocks(raw: np.ndarray, block_bytes: int) -> torch.Tensor:
    # raw is a read-only view of the memory map: torch warns, but only reads it here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        flat = torch.from_numpy(np.ascontiguousarray(raw).reshape(-1))
    return flat.view(-1, block_bytes)


def _f16(blocks: torch.Tensor, start: int) -> torch.Tensor:
    # [n, 1] fp32 from the little-endian fp16 at byte ``start`` (even) of each block; viewing the
    # whole block as fp16 avoids copying the column out first (every block size here is even).
    return blocks.view(torch.float16)[:, start // 2:start // 2 + 1].float()


def _nibbles(qs: torch.Tensor) -> torch.Tensor:
    # [n, 16] bytes -> [n, 32] int32: low nibbles are values 0..15, high nibbles values 16..31.
    # NOTE: int32, not uint8: torch's uint8 shift/and ran 2x slower (278 vs 134 ms per 3.2M
    # values, benchmarks/compare_gguf_dequant.py).
    q = qs.to(torch.int32)
    out = torch.empty(q.shape[0], BLOCK, dtype=torch.int32)
    torch.bitwise_and(q, 0x0F, out=out[:, :16])
    torch.bitwise_right_shift(q, 4, out=out[:, 16:])
    return out


def _high_bits(qh_bytes: torch.Tensor) -> torch.Tensor:
    # [n, 4] bytes of a little-endian uint32 -> [n, 32] int32: bit j as 0 or 16 (value j's 5th bit)
    word = qh_bytes.contiguous().view(torch.int32)  # [n, 1]
    shifts = torch.arange(32, dtype=torch.int32)
    return ((word >> shifts) & 1) << 4


def _q8_0(raw: np.ndarray) -> torch.Tensor:
    b = _blocks(raw, 34)  # d: f16, qs: int8[32]
    return _f16(b, 0) * b[:, 2:].contiguous().view(torch.int8).float()


def _q4_0(raw: np.ndarray) -> torch.Tensor:
    b = _blocks(raw, 18)  # d: f16, qs: uint8[16]
    return _f16(b, 0) * (_nibbles(b[:, 2:]).float() - 8.0)


def _q4_1(raw: np.ndarray) -> torch.Tensor:
    b = _blocks(raw, 20)  # d: f16, m: f16, qs: uint8[16]
    return torch.addcmul(_f16(b, 2), _f16(b, 0), _nibbles(b[:, 4:]).float())


def _q5_0(raw: np.ndarray) -> torch.Tensor:
    b = _blocks(raw, 22)  # d: f16, qh: uint32, qs: uint8[16]
    q = (_nibbles(b[:, 6:]) | _high_bits(b[:, 2:6])).float() - 16.0
    return _f16(b, 0) * q


def _q5_1(raw: np.ndarray) -> torch.Tensor:
    b = _blocks(raw, 24)  # d: f16, m: f16, qh: uint32, qs: uint8[16]
    q = (_nibbles(b[:, 8:]) | _high_bits(b[:, 4:8])).float()
    return torch.addcmul(_f16(b, 2), _f16(b, 0), q)


def _plain(raw: np.ndarray) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(np.asarray(raw)).clone()  # off the read-only memory map


def _bf16(raw: np.ndarray) -> torch.Tensor:
    return _blocks(raw, 2).view(torch.bfloat16).clone()


def _gguf_numpy(ggml_type: T) -> Callable[[np.ndarray], torch.Tensor]:
    def decode(raw: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(quants.dequantize(raw, ggml_type)))

    return decode


DECODERS: dict[T, Callable[[np.ndarray], torch.Tensor]] = {
    T.F32: _plain,
    T.F16: _plain,
    T.BF16: _bf16,
    T.Q8_0: _q8_0,
    T.Q4_0: _q4_0,
    T.Q4_1: _q4_1,
    T.Q5_0: _q5_0,
    T.Q5_1: _q5_1,
    T.Q4_K: _gguf_numpy(T.Q4_K),
    T.Q5_K: _gguf_numpy(T.Q5_K),
    T.Q6_K: _gguf_numpy(T.Q6_K),
}
SUPPORTED_TYPES = tuple(t.name for t in DECODERS)


def dequantize(tensor: GGUFTensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``tensor`` decoded to ``dtype`` in its logical shape (a new CPU tensor, not the file's).

    Raises
    ------
    CheckpointError
        If the tensor's GGML type has no decoder here; the message names the tensor and type.
    """
    decode = DECODERS.get(tensor.ggml_type)
    if decode is None:
        raise CheckpointError(
            f"tensor {tensor.name!r} has GGML type {tensor.type_name}, which genai_rt cannot "
            f"dequantize; supported: {', '.join(SUPPORTED_TYPES)}"
        )
    values = decode(tensor.raw)
    numel = int(np.prod(tensor.shape))
    if values.numel() != numel:
        raise CheckpointError(
            f"tensor {tensor.name!r} ({tensor.type_name}) decodes to {values.numel()} values, "
            f"its shape {tensor.shape} needs {numel}"
        )
    return values.reshape(tensor.shape).to(dtype=dtype)
