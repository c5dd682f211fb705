"""The decoding engine: scheduler, runner, and the ``Engine`` (async) / ``LLM`` (sync) APIs."""

from genai_rt.engine.async_engine import Engine
from genai_rt.engine.core import EngineCore
from genai_rt.engine.llm import LLM
from genai_rt.engine.outputs import CompletionOutput, RequestMetrics, RequestOutput

__all__ = ["LLM", "CompletionOutput", "Engine", "EngineCore", "RequestMetrics", "RequestOutput"]
