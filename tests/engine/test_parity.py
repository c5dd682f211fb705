"""Greedy generations of the whole engine equal transformers' on the same checkpoint, under
concurrency, chunked prefill, preemption forced by a tiny KV pool, and prefix-cache hits."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from genai_rt.config import EngineConfig
from genai_rt.engine import LLM, EngineCore
from genai_rt.sampling import SamplingParams

from tests.engine.tiny_model import VOCAB, greedy_reference

MAX_TOKENS = 12


def mixed_prompts(count: int, seed: int) -> list[list[int]]:
    """Lengths 1..70; a third share a 24-token prefix (6 blocks of 4) to hit the prefix cache."""
    rng = random.Random(seed)
    shared = [rng.randrange(VOCAB - 1) for _ in range(24)]
    prompts = []
    for i in range(count):
        tail = [rng.randrange(VOCAB - 1) for _ in range(rng.randrange(1, 47))]
        prompts.append(shared + tail if i % 3 == 0 else tail + tail[: rng.randrange(0, 24)])
    return prompts


def make_llm(path: Path, **overrides: object) -> LLM:
    config = EngineConfig.from_model(str(path), dtype="float32", **overrides)
    return LLM.from_engine(EngineCore(config))


@pytest.fixture(scope="module")
def reference(tiny_checkpoint: tuple[Path, torch.nn.Module]) -> tuple[list, list]:
    prompts = mixed_prompts(32, seed=7)
    return prompts, greedy_reference(tiny_checkpoint[1], prompts, MAX_TOKENS)


@pytest.mark.parametrize(
    "overrides, expect",
    [
        # roomy cache, large budget: plain continuous batching
        (dict(block_size=16, num_gpu_blocks=512, max_num_batched_tokens=4096), set()),
        # budget of 32 tokens: long prompts are chunked over several steps, mixed with decodes;
        # 48 blocks of 4 tokens for 32 requests of up to 82 tokens: preemption by recompute
        (dict(block_size=4, num_gpu_blocks=48, max_num_batched_tokens=32, max_num_seqs=32),
         {"preempted", "prefix_hit"}),
        # the same without the prefix cache
        (dict(block_size=4, num_gpu_blocks=48, max_num_batched_tokens=32,
              enable_prefix_caching=False), {"preempted"}),
    ],
    ids=["roomy", "chunked-preempting", "no-prefix-cache"],
)
def test_greedy_matches_transformers(
    tiny_checkpoint: tuple[Path, torch.nn.Module], reference: tuple[list, list],
    overrides: dict, expect: set[str],
) -> None:
    prompts, expected = reference
    llm = make_llm(tiny_checkpoint[0], **overrides)
    params = SamplingParams(temperature=0, max_tokens=MAX_TOKENS, ignore_eos=True)
    outs = llm.generate([{"prompt_token_ids": p} for p in prompts], params)
    got = [o.outputs[0].token_ids for o in outs]
    mismatches = [i for i in range(len(prompts)) if got[i] != expected[i]]
    assert not mismatches, f"prompts {mismatches} differ from transformers"
    stats = llm.engine.stats()
    assert ("preempted" in expect) == (stats["num_preemptions"] > 0)
    if "prefix_hit" in expect:
        assert stats["prefix_cache_hit_rate"] > 0.05
    assert stats["kv_blocks_used"] == 0 and stats["running"] == 0 and stats["waiting"] == 0
    assert all(o.outputs[0].finish_reason == "length" for o in outs)
