"""The GGML block formats kept quantized, and ``QuantizedWeight``: one matrix's raw blocks.

Storage choice: GGUF's own block layout, row by row, read in place by the kernels (no repack).
Why: the kernels decode a whole weight row into one byte per weight plus fp32 scales in L1
before the integer dot products (csrc/quant/kernel_impl.inc), so the stored layout only sets
the bytes read from memory, and GGUF's layout is already the densest for each format (4.5-8.5
bits per weight). A repack (say, to fp32 scales) would add bits per weight and buy nothing the
kernels need.
"""

from __future__ import annotations

from dataclasses import dataclass

import gguf
import numpy as np
import torch

from genai_rt import _core
from genai_rt.model.gguf_file import GGUFTensor

T = gguf.GGMLQuantizationType
# GGML type id -> name, for every format the kernels read.
SUPPORTED_TYPES: dict[int, str] = {
    int(t): t.name for t in (T.Q4_0, T.Q4_1, T.Q8_0, T.Q4_K, T.Q5_K, T.Q6_K)
}


class QuantFormatError(ValueError):
    """A quantized tensor the kernels cannot take: unsupported type, bad shape, corrupt scale."""


def type_name(ggml_type: int) -> str:
    try:
        return T(ggml_type).name
    except ValueError:
        return f"unknown GGML type {ggml_type}"


def check_supported(ggml_type: int, tensor_name: str = "weight") -> None:
    """Raise ``QuantFormatError`` naming the type when the kernels do not read it."""
    if int(ggml_type) not in SUPPORTED_TYPES:
        supported = ", ".join(SUPPORTED_TYPES.values())
        raise QuantFormatError(
            f"{tensor_name}: GGML type {type_name(ggml_type)} ({int(ggml_type)}) is not "
            f"supported by the quantized kernels (supported: {supported})"
        )


@dataclass
class QuantizedWeight:
    """A [out_features, in_features] matrix in a GGML block format.

    Attributes
    ----------
    blocks : torch.Tensor
        uint8 ``[out_features, row_bytes]``, contiguous: each row is
        ``ceil(in_features / block_elems)`` blocks in GGUF layout.
    ggml_type : int
        GGML type id (``gguf.GGMLQuantizationType``).
    in_features, out_features : int
    name : str
        For error messages and the load log.
    """

    blocks: torch.Tensor
    ggml_type: int
    in_features: int
    out_features: int
    name: str = "weight"

    def __post_init__(self) -> None:
        check_supported(self.ggml_type, self.name)
        row_bytes = _core.quant_row_bytes(self.ggml_type, self.in_features)
        expected = (self.out_features, row_bytes)
        if self.blocks.dtype != torch.uint8 or tuple(self.blocks.shape) != expected:
            raise QuantFormatError(
                f"{self.name}: {self.type_name} blocks must be uint8 {expected} for "
                f"[{self.out_features}, {self.in_features}], got {self.blocks.dtype} "
                f"{tuple(self.blocks.shape)}"
            )
        if not self.blocks.is_contiguous():
            self.blocks = self.blocks.contiguous()

    @property
    def type_name(self) -> str:
        return type_name(self.ggml_type)

    @property
    def block_elems(self) -> int:
        return int(gguf.GGML_QUANT_SIZES[T(self.ggml_type)][0])

    def check_scales(self) -> None:
        """Raise ``QuantFormatError`` naming the row and block of a NaN/inf block scale."""
        blocks = self.blocks if self.blocks.device.type == "cpu" else self.blocks.cpu()
        try:
            _core.quant_check_block_scales(
                blocks.data_ptr(), self.ggml_type, self.out_features, self.in_features
            )
        except ValueError as exc:
            raise QuantFormatError(f"{self.name}: {exc}") from None

    def dequantize(self) -> torch.Tensor:
        """fp32 ``[out, in]`` through gguf-py's reference dequantizer (not the kernels)."""
        raw = self.blocks.cpu().numpy()
        full = gguf.quants.dequantize(raw, T(self.ggml_type))  # [out, padded in]
        return torch.from_numpy(np.ascontiguousarray(full[:, : self.in_features]))

    def select_rows(self, order: torch.Tensor) -> QuantizedWeight:
        """The same matrix with its rows (outputs) reordered: blocks never span rows."""
        return QuantizedWeight(
            self.blocks.index_select(0, order.to(self.blocks.device)).contiguous(),
            self.ggml_type, self.in_features, int(order.numel()), self.name,
        )

    @classmethod
    def concat_rows(cls, parts: list[QuantizedWeight], name: str) -> QuantizedWeight:
        """Stack matrices of one type and width along the outputs (q/k/v, gate/up fusion)."""
        first = parts[0]
        for part in parts[1:]:
            if (part.ggml_type, part.in_features) != (first.ggml_type, first.in_features):
                raise QuantFormatError(
                    f"{name}: cannot fuse {part.name} ({part.type_name}, in={part.in_features}) "
                    f"with {first.name} ({first.type_name}, in={first.in_features})"
                )
        blocks = torch.cat([p.blocks for p in parts], dim=0)
        return cls(blocks, first.ggml_type, first.in_features,
                   sum(p.out_features for p in parts), name)

    @classmethod
    def from_gguf(cls, tensor: GGUFTensor) -> QuantizedWeight:
        """The raw blocks of a 2-D quantized tensor of a ``GGUFFile``, scales checked.

        Raises
        ------
        QuantFormatError
            For an unsupported type (named), a tensor that is not 2-D, or a NaN/inf block scale
            (with its row and block).
        """
        check_supported(int(tensor.ggml_type), tensor.name)
        if len(tensor.shape) != 2 or tensor.raw.ndim != 2:
            raise QuantFormatError(f"{tensor.name}: expected a 2-D tensor, got {tensor.shape}")
        out_features, in_features = tensor.shape
        # A copy: the file's mapping is read-only, and torch tensors over it would be too.
        blocks = torch.from_numpy(np.array(tensor.raw.view(np.uint8)))
        weight = cls(blocks, int(tensor.ggml_type), in_features, out_features, tensor.name)
        weight.check_scales()
        return weight
