"""``genai-rt info``: what this installation is built with and what it can see."""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass, field

from genai_rt import __version__
from genai_rt.device import triton_interpreter

OPTIONAL_BACKENDS = ("flash_attn", "hnswlib", "faiss", "xgrammar", "llguidance")


@dataclass(frozen=True)
class BuildInfo:
    version: str
    core_version: str
    built_with_cuda: bool
    cuda_devices_core: int
    torch: str | None
    torch_cuda_devices: int
    triton: str | None
    triton_mode: str
    quantized_linear: str = ""
    optional_backends: dict[str, bool] = field(default_factory=dict)


def _module_version(name: str) -> str | None:
    try:
        module = importlib.import_module(name)
    except Exception:  # an optional import may fail in many ways (missing CUDA libs, ...)
        return None
    return str(getattr(module, "__version__", "unknown"))


def _quantized_linear_paths() -> str:
    """Which kernels quantized weights run on here (genai_rt.model.quant)."""
    from genai_rt import _core
    from genai_rt.model.quant.formats import SUPPORTED_TYPES

    isas = list(_core.quant_available_isas())
    return (
        f"cpu: C++ {_core.quant_active_isa()} (available {', '.join(isas)}; AMX never used), "
        f"GGUF {'/'.join(SUPPORTED_TYPES.values())} kept in blocks, --quantize int8->Q8_0 "
        "int4->Q4_1; cuda: Triton int8 per-channel / int4 group 128, GGUF dequantized"
    )


def collect() -> BuildInfo:
    """Gather the build and runtime facts shown by ``genai-rt info``."""
    from genai_rt import _core

    torch_version = _module_version("torch")
    torch_devices = 0
    if torch_version is not None:
        import torch

        torch_devices = torch.cuda.device_count() if torch.cuda.is_available() else 0
    triton_version = _module_version("triton")
    if triton_version is None:
        triton_mode = "unavailable"
    elif triton_interpreter():
        triton_mode = "interpreter"
    else:
        triton_mode = "compiled" if torch_devices > 0 else "compiled (no GPU: kernels cannot run)"
    return BuildInfo(
        version=__version__,
        core_version=_core.version(),
        built_with_cuda=bool(_core.built_with_cuda),
        cuda_devices_core=int(_core.cuda_device_count()),
        torch=torch_version,
        torch_cuda_devices=torch_devices,
        triton=triton_version,
        triton_mode=triton_mode,
        quantized_linear=_quantized_linear_paths(),
        optional_backends={n: _module_version(n) is not None for n in OPTIONAL_BACKENDS},
    )


def format_info(info: BuildInfo) -> str:
    rows = asdict(info)
    backends = rows.pop("optional_backends")
    lines = [f"{key:<20} {value}" for key, value in rows.items()]
    lines.append("optional backends    " + ", ".join(
        f"{name}={'yes' if ok else 'no'}" for name, ok in backends.items()))
    return "\n".join(lines)
