"""genai_rt: a performance-focused runtime for generative AI in production.

The native core lives in ``genai_rt._core`` (C++/CUDA through pybind11); Triton kernels in
``genai_rt.kernels``; the Python layers (engine, sampling, model) around them.

``from genai_rt import LLM, Engine, EngineConfig, SamplingParams`` is the public entry point;
those names load lazily so that ``import genai_rt`` stays cheap (no torch until they are used).
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("genai-rt")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

_LAZY = {
    "LLM": "genai_rt.engine.llm",
    "Engine": "genai_rt.engine.async_engine",
    "EngineConfig": "genai_rt.config",
    "SamplingParams": "genai_rt.sampling.params",
    "RequestOutput": "genai_rt.engine.outputs",
    "CompletionOutput": "genai_rt.engine.outputs",
}

if TYPE_CHECKING:
    from genai_rt.config import EngineConfig
    from genai_rt.engine.async_engine import Engine
    from genai_rt.engine.llm import LLM
    from genai_rt.engine.outputs import CompletionOutput, RequestOutput
    from genai_rt.sampling.params import SamplingParams


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'genai_rt' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "CompletionOutput", "Engine", "EngineConfig", "LLM", "RequestOutput", "SamplingParams",
    "__version__",
]
