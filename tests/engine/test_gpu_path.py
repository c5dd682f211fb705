"""On a CUDA device the engine runs the Triton backend and replays CUDA graphs for decode, and
its greedy generations equal transformers' there too (the CPU suite checks the torch path)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from genai_rt.config import EngineConfig
from genai_rt.engine import LLM, EngineCore
from genai_rt.sampling import SamplingParams

from tests.conftest import requires_cuda
from tests.engine.test_parity import MAX_TOKENS, mixed_prompts
from tests.engine.tiny_model import greedy_reference

pytestmark = [pytest.mark.gpu, requires_cuda]


def _llm(path: Path, **overrides: object) -> LLM:
    config = EngineConfig.from_model(str(path), dtype="float32", device="cuda", **overrides)
    return LLM.from_engine(EngineCore(config))


def test_cuda_engine_uses_triton_and_graphs_and_matches_transformers(
    tiny_checkpoint: tuple[Path, torch.nn.Module],
) -> None:
    prompts = mixed_prompts(16, seed=11)
    expected = greedy_reference(tiny_checkpoint[1], prompts, MAX_TOKENS)
    llm = _llm(tiny_checkpoint[0], block_size=16, num_gpu_blocks=256)
    runner = llm.engine.runner
    assert runner.device.type == "cuda"
    assert llm.engine.model.backend.name == "triton"
    assert runner._graphs is not None and runner._graphs.graphs, "no CUDA graph was captured"
    params = SamplingParams(temperature=0, max_tokens=MAX_TOKENS, ignore_eos=True)
    outs = llm.generate([{"prompt_token_ids": p} for p in prompts], params)
    got = [o.outputs[0].token_ids for o in outs]
    assert [i for i in range(len(got)) if got[i] != expected[i]] == []


def test_graph_replay_equals_eager(tiny_checkpoint: tuple[Path, torch.nn.Module]) -> None:
    prompts = [{"prompt_token_ids": p} for p in mixed_prompts(8, seed=3)]
    params = SamplingParams(temperature=0.8, seed=5, max_tokens=MAX_TOKENS, ignore_eos=True)
    graphed = _llm(tiny_checkpoint[0]).generate(prompts, params)
    eager = _llm(tiny_checkpoint[0], enforce_eager=True).generate(prompts, params)
    assert [o.outputs[0].token_ids for o in graphed] == [o.outputs[0].token_ids for o in eager]
