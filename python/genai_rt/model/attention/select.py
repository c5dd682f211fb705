"""Pick the attention backend for a device, and log the choice.

- ``torch``: the reference; always available, the only choice on CPU.
- ``triton``: default on CUDA when ``genai_rt.kernels`` and the Triton backend import.
- ``flash_attn``: only when asked for and importable (the module must provide it).

Backends other than ``torch`` are imported lazily by module path: their modules may not exist in
a given build, in which case the selection falls back to ``torch`` with a log line.
"""

from __future__ import annotations

import importlib
import logging

import torch

from genai_rt.model.attention.base import AttentionBackend
from genai_rt.model.attention.torch_backend import TorchAttentionBackend
from genai_rt.model.llama import ModelOps

logger = logging.getLogger(__name__)

BACKEND_NAMES = ("torch", "triton", "flash_attn")
# name -> (module path, class name)
_LAZY_BACKENDS: dict[str, tuple[str, str]] = {
    "triton": ("genai_rt.model.attention.triton_backend", "TritonAttentionBackend"),
    "flash_attn": ("genai_rt.model.attention.flash_attn_backend", "FlashAttnBackend"),
}


def _try_import(name: str) -> AttentionBackend | None:
    module_path, class_name = _LAZY_BACKENDS[name]
    try:
        if name == "triton":
            importlib.import_module("genai_rt.kernels")
        backend_cls = getattr(importlib.import_module(module_path), class_name)
    except (ImportError, AttributeError) as exc:
        logger.info("attention backend %r unavailable (%s)", name, exc)
        return None
    backend: AttentionBackend = backend_cls()
    return backend


def select_attention_backend(
    device: str | torch.device, requested: str | None = None
) -> AttentionBackend:
    """The backend for ``device``: ``requested`` if usable there, else the best available.

    Parameters
    ----------
    device : str or torch.device
    requested : {"torch", "triton", "flash_attn"} or None
        None picks ``triton`` on CUDA when it imports, ``torch`` otherwise.

    Raises
    ------
    ValueError
        For an unknown backend name, or a GPU backend asked for on a CPU device.
    """
    if requested is not None and requested not in BACKEND_NAMES:
        raise ValueError(f"unknown attention backend {requested!r}; choose from {BACKEND_NAMES}")
    on_cuda = torch.device(device).type == "cuda"
    if requested in ("triton", "flash_attn") and not on_cuda:
        raise ValueError(f"attention backend {requested!r} needs a CUDA device, got {device}")
    backend: AttentionBackend | None = None
    if requested == "flash_attn":
        backend = _try_import("flash_attn")
    if backend is None and on_cuda and requested != "torch":
        backend = _try_import("triton")
    if backend is None:
        backend = TorchAttentionBackend()
    if requested is not None and backend.name != requested:
        logger.warning("attention backend %r unavailable; using %r", requested, backend.name)
    logger.info("attention backend: %s (device %s)", backend.name, device)
    return backend


def model_ops_for(backend: AttentionBackend) -> ModelOps:
    """The small ops that go with ``backend``: Triton's with ``triton``, torch's otherwise."""
    if backend.name != "triton":
        return ModelOps()
    try:
        module = importlib.import_module(_LAZY_BACKENDS["triton"][0])
        ops: ModelOps = module.triton_model_ops()
    except (ImportError, AttributeError) as exc:
        logger.warning("Triton model ops unavailable (%s); using the torch ops", exc)
        return ModelOps()
    return ops
