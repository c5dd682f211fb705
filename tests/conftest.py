"""Test-wide set-up: without a GPU, Triton kernels run in the interpreter on CPU tensors.

TRITON_INTERPRET must be set before any @triton.jit function is defined, i.e. before any
genai_rt.kernels module is imported; conftest.py is loaded before every test module.
"""

from __future__ import annotations

import os

import pytest
import torch

HAS_CUDA = torch.cuda.is_available()
if not HAS_CUDA:
    os.environ["TRITON_INTERPRET"] = "1"

requires_cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device; none is visible")


@pytest.fixture
def device() -> str:
    """Where kernel tests put their tensors: the GPU when there is one, else the CPU."""
    return "cuda" if HAS_CUDA else "cpu"
