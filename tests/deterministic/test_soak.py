"""Deterministic mode under the async Engine: concurrent seeded streams with random arrivals and
cancels, in a pool small enough to preempt, with chunked prefill and shared prefixes. Every
request's tokens equal its solo run; a cancelled one's tokens are a prefix of it."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import torch
from genai_rt.config import EngineConfig
from genai_rt.engine import LLM, Engine, EngineCore
from genai_rt.sampling import SamplingParams

from tests.engine.tiny_model import CHARS

NUM_REQUESTS = 32
SHARED = "The shared system preamble. "  # prefix-cache hits across requests


def prompt(i: int) -> str:
    return SHARED * (i % 2) + CHARS[(5 * i) % 50:(5 * i) % 50 + 6 + i % 17]


def params(i: int) -> SamplingParams:
    return SamplingParams(temperature=0.8, top_p=0.9, seed=77 + i, max_tokens=12 + i % 9,
                          ignore_eos=True)


def config(path: Path, **overrides: object) -> EngineConfig:
    options: dict[str, object] = dict(block_size=4, num_gpu_blocks=48, max_num_batched_tokens=16,
                                      dtype="float32", deterministic=True)
    options.update(overrides)
    return EngineConfig.from_model(str(path), **options)


def test_soak_with_cancels_matches_solo_runs(
    wide_checkpoint: tuple[Path, torch.nn.Module],
) -> None:
    path = wide_checkpoint[0]
    solo_llm = LLM.from_engine(EngineCore(config(path, num_gpu_blocks=512,
                                                 max_num_batched_tokens=512)))
    solo = {i: solo_llm.generate([prompt(i)], params(i))[0].outputs[0].token_ids
            for i in range(NUM_REQUESTS)}
    rng = random.Random(5)
    cancel_after = {i: rng.randrange(1, 8) for i in rng.sample(range(NUM_REQUESTS), 10)}
    engine = Engine(config(path))

    async def one(i: int) -> tuple[int, list[int], bool]:
        await asyncio.sleep(rng.random() * 0.5)
        tokens: list[int] = []
        async for out in engine.generate(prompt(i), params(i), request_id=f"r{i}"):
            tokens = out.outputs[0].token_ids
            if i in cancel_after and len(tokens) >= cancel_after[i]:
                return i, list(tokens), True  # leaving the loop aborts the request
        return i, list(tokens), False

    async def main() -> list[tuple[int, list[int], bool]]:
        return await asyncio.gather(*(one(i) for i in range(NUM_REQUESTS)))

    try:
        results = asyncio.run(main())
        for _ in range(100):  # the aborts are processed by the engine thread
            if engine.stats()["running"] == 0 and engine.stats()["waiting"] == 0:
                break
            asyncio.run(asyncio.sleep(0.05))
        assert engine.core.stats()["running"] == 0
    finally:
        engine.shutdown()
    for i, tokens, cancelled in results:
        if cancelled:
            assert tokens == solo[i][:len(tokens)], f"request {i} (cancelled)"
        else:
            assert tokens == solo[i], f"request {i}"
    assert sum(cancelled for _, _, cancelled in results) == len(cancel_after)
