"""What hardware this process sees, decided in one place."""

from __future__ import annotations

import functools
import os


@functools.cache
def cuda_available() -> bool:
    """True when torch sees a CUDA device."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def triton_interpreter() -> bool:
    """True when Triton kernels run in the CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def triton_usable() -> bool:
    """Triton kernels can run: on a CUDA device, or on CPU tensors in the interpreter."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return cuda_available() or triton_interpreter()
