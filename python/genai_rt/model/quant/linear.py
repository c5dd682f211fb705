"""``QuantizedLinear``: a linear layer whose weight stays quantized, kernel picked by type/device.

Paths (``QuantizedLinear.path`` names the one a layer runs; the loader logs them):

- CPU, GGML blocks (GGUF Q8_0/Q4_0/Q4_1/Q4_K/Q5_K/Q6_K, or ``--quantize`` int8 -> Q8_0 and
  int4 -> Q4_1 blocks): the C++ kernels (``cpu.quant_matmul``); activations per
  ``ACTIVATION_PATHS``.
- CUDA, ``--quantize int8`` (per channel) / ``int4`` (per group of 128): the Triton
  dequant-GEMM (``genai_rt.kernels.quant_matmul``).
- CUDA, GGUF blocks: no GPU kernel reads GGML blocks; they are dequantized once at load to the
  model dtype and run dense (the path says so).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genai_rt import _core
from genai_rt.model.quant.cpu import quant_matmul
from genai_rt.model.quant.formats import QuantFormatError, QuantizedWeight

# --quantize scheme -> GGML type on CPU (block of 32, the kernels' format).
CPU_SCHEME_TYPES = {"int8": 8, "int4": 3}  # Q8_0 (symmetric), Q4_1 (asymmetric, like GPU int4)
GPU_INT4_GROUP = 128

# How the CPU kernels take activations (EngineConfig.quant_activations). "float32" (default):
# weight-only, exact to fp32 rounding, and the faster one at every batch size measured (2
# threads, gate/up 3072x576 Q4_1: 124 us at 1 row and 3.57 ms at 64 rows, against 156 us and
# 3.90 ms for int8). "int8": two int8 terms per 32 inputs and integer dot products (SmolLM2 over
# 1,000 tokens: top-1 agreement 0.999, mean KL 6e-8 against fp32). Both give a row the same bits
# whatever its batch.
ACTIVATION_PATHS = {
    "float32": "fp32 activations (weight-only)",
    "int8": "int8 activations (two terms)",
}


class QuantizedLinear(nn.Module):
    """``y = x @ W^T (+ bias)`` with ``W`` kept quantized.

    Build with ``from_gguf`` (raw GGML blocks) or ``from_float`` (``--quantize``); ``forward``
    takes ``[T, in_features]`` like ``Projection`` and returns ``x``'s dtype.
    """

    def __init__(self, in_features: int, out_features: int, path: str,
                 bias: torch.Tensor | None = None) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.path = path
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)
        self._cpu_parts: list[QuantizedWeight] = []
        self.activations = "float32"
        self._gpu: dict[str, torch.Tensor] = {}
        self._dense: torch.Tensor | None = None

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def from_gguf(
        cls,
        parts: list[QuantizedWeight],
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        activations: str = "float32",
        bias: torch.Tensor | None = None,
        name: str | None = None,
    ) -> QuantizedLinear:
        """One layer from one or more GGML matrices stacked along the outputs (fused q/k/v).

        Parts of one type are concatenated into one matrix (one kernel call); mixed types
        (GGUF "_M" mixes put Q6_K next to Q4_K) run one call each.
        """
        if not parts:
            raise QuantFormatError("a quantized layer needs at least one weight")
        name = name or parts[0].name
        in_features = parts[0].in_features
        bad = [p.name for p in parts if p.in_features != in_features]
        if bad:
            raise QuantFormatError(f"{name}: inputs differ across fused parts {bad}")
        out_features = sum(p.out_features for p in parts)
        device = torch.device(device)
        if device.type != "cpu":
            dense = torch.cat([p.dequantize() for p in parts]).to(device=device, dtype=dtype)
            layer = cls(in_features, out_features, f"{device.type} dense {dtype} "
                        f"(GGUF {'/'.join(sorted({p.type_name for p in parts}))} dequantized "
                        "at load)", bias)
            layer._dense = dense
            return layer
        types = {p.ggml_type for p in parts}
        if len(types) == 1 and len(parts) > 1:
            parts = [QuantizedWeight.concat_rows(parts, name)]
        mode = ACTIVATION_PATHS[activations]
        layer = cls(in_features, out_features,
                    f"cpu {'/'.join(p.type_name for p in parts)} {mode} "
                    f"[{_core.quant_active_isa()}]", bias)
        layer._cpu_parts = parts
        layer.activations = activations
        return layer

    @classmethod
    def from_float(
        cls,
        weight: torch.Tensor,
        scheme: str,
        device: torch.device | str = "cpu",
        activations: str = "float32",
        bias: torch.Tensor | None = None,
        name: str = "weight",
    ) -> QuantizedLinear:
        """Quantize a float ``[out, in]`` weight (weight-only) for ``device``.

        ``scheme`` "int8": symmetric int8 (CPU: Q8_0, a scale per 32 inputs; CUDA: one scale
        per output channel). "int4": asymmetric int4 with a scale and min per group (CPU: Q4_1,
        groups of 32; CUDA: groups of 128).
        """
        from genai_rt.kernels import quant_matmul as tq

        if scheme not in CPU_SCHEME_TYPES:
            raise QuantFormatError(f"{name}: quantize must be int8 or int4, got {scheme!r}")
        out_features, in_features = weight.shape
        device = torch.device(device)
        if device.type == "cpu":
            from genai_rt.model.quant.quantize import quantize_blocks

            blocks = quantize_blocks(weight, CPU_SCHEME_TYPES[scheme], name)
            return cls.from_gguf([blocks], device, activations=activations, bias=bias,
                                 name=name)
        w = weight.to(device)
        if scheme == "int8":
            q, s = tq.quantize_int8_ref(w)
            layer = cls(in_features, out_features, f"{device.type} triton int8 per-channel",
                        bias)
            layer._gpu = {"qweight": q, "scales": s}
        else:
            q, s, m = tq.quantize_int4_ref(w, GPU_INT4_GROUP)
            layer = cls(in_features, out_features,
                        f"{device.type} triton int4 group {GPU_INT4_GROUP}", bias)
            layer._gpu = {"qweight": q, "scales": s, "mins": m}
        return layer

    # -- forward --------------------------------------------------------------------------------

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [T, in] -> [T, out]
        if self._dense is not None:
            return F.linear(x, self._dense, self.bias)
        if self._gpu:
            from genai_rt.kernels import quant_matmul as tq

            g = self._gpu
            x = x.contiguous()
            if "mins" in g:
                y = tq.int4_matmul(x, g["qweight"], g["scales"], g["mins"], self.in_features)
            else:
                y = tq.int8_matmul(x, g["qweight"], g["scales"])
        else:
            x32 = x.float()
            int8 = self.activations == "int8"
            outs = [quant_matmul(x32, part, int8) for part in self._cpu_parts]
            y = outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)
            y = y.to(x.dtype)
        return y if self.bias is None else y + self.bias

    def dequantized_weight(self) -> torch.Tensor:
        """The fp32 ``[out, in]`` matrix this layer multiplies by (the tests' reference)."""
        from genai_rt.kernels import quant_matmul as tq

        if self._dense is not None:
            return self._dense.float().cpu()
        g = self._gpu
        if "mins" in g:
            return tq.dequantize_int4_ref(g["qweight"], g["scales"], g["mins"], self.in_features)
        if g:
            return tq.dequantize_int8_ref(g["qweight"], g["scales"])
        return torch.cat([p.dequantize() for p in self._cpu_parts])

    def weight_bytes(self) -> int:
        """Bytes of weight data read per forward (for benchmarks' bandwidth figures)."""
        if self._dense is not None:
            return self._dense.numel() * self._dense.element_size()
        tensors = list(self._gpu.values()) + [p.blocks for p in self._cpu_parts]
        return sum(t.numel() * t.element_size() for t in tensors)

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, path={self.path!r}"
