"""The async Engine: concurrent streaming callers, abort from another task, early exit."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
import torch
from genai_rt.config import EngineConfig
from genai_rt.engine import LLM, Engine, EngineCore, RequestOutput
from genai_rt.sampling import SamplingParams

PROMPTS = [f"prompt number {i}: " + "abc" * i for i in range(8)]
GREEDY = SamplingParams(temperature=0, max_tokens=16, ignore_eos=True)


def make_core(path: Path) -> EngineCore:
    return EngineCore(EngineConfig.from_model(
        str(path), dtype="float32", block_size=4, num_gpu_blocks=128, max_num_batched_tokens=48))


@pytest.fixture(scope="module")
def expected(tiny_checkpoint: tuple[Path, torch.nn.Module]) -> list[list[int]]:
    outs = LLM.from_engine(make_core(tiny_checkpoint[0])).generate(PROMPTS, GREEDY)
    return [o.outputs[0].token_ids for o in outs]


async def collect(engine: Engine, prompt: str, request_id: str) -> list[RequestOutput]:
    return [out async for out in engine.generate(prompt, GREEDY, request_id=request_id)]


def test_concurrent_streams_match_batch_results(
    tiny_checkpoint: tuple[Path, torch.nn.Module], expected: list[list[int]]
) -> None:
    engine = Engine(core=make_core(tiny_checkpoint[0]))

    async def main() -> list[list[RequestOutput]]:
        return await asyncio.gather(
            *(collect(engine, p, f"r{i}") for i, p in enumerate(PROMPTS)))

    try:
        streams = asyncio.run(main())
    finally:
        engine.shutdown()
    for i, stream in enumerate(streams):
        assert len(stream) > 1  # streamed, not one final blob
        final = stream[-1].outputs[0]
        assert stream[-1].finished and final.finish_reason == "length"
        assert not any(out.finished for out in stream[:-1])
        assert final.token_ids == expected[i]
        assert [t for out in stream for t in out.outputs[0].delta_token_ids] == expected[i]
        assert "".join(out.outputs[0].delta_text for out in stream) == final.text
    stats = engine.stats()
    assert stats["kv_blocks_used"] == 0 and stats["running"] == 0


def test_abort_from_another_task_and_early_exit(
    tiny_checkpoint: tuple[Path, torch.nn.Module],
) -> None:
    engine = Engine(core=make_core(tiny_checkpoint[0]))
    long = SamplingParams(temperature=0, max_tokens=200, ignore_eos=True)

    started = asyncio.Event()

    async def aborted_stream() -> list[RequestOutput]:
        outs = []
        async for out in engine.generate("abort me", long, request_id="victim"):
            outs.append(out)
            started.set()
        return outs

    async def breaker() -> int:
        count = 0
        async with contextlib.aclosing(
            engine.generate("leave early", long, request_id="leaver")
        ) as stream:
            async for _ in stream:
                count += 1
                if count == 3:
                    break
        return count

    async def main() -> tuple[list[RequestOutput], int, bool, bool]:
        victim = asyncio.create_task(aborted_stream())
        leaver = asyncio.create_task(breaker())
        await asyncio.wait_for(started.wait(), timeout=30)
        was_live = await engine.abort("victim")
        again = await engine.abort("victim")
        with pytest.raises(ValueError, match="already in use"):
            async for _ in engine.generate("dup", long, request_id="victim2"):
                async for _ in engine.generate("dup", long, request_id="victim2"):
                    pass
        return await victim, await leaver, was_live, again

    try:
        victim_outs, leaver_count, was_live, again = asyncio.run(main())
        for _ in range(200):  # the leaver's abort is processed by the engine thread
            if engine.stats()["requests"] == 0:
                break
            asyncio.run(asyncio.sleep(0.01))
    finally:
        engine.shutdown()
    assert was_live and not again
    assert victim_outs[-1].finished and victim_outs[-1].outputs[0].finish_reason == "abort"
    assert len(victim_outs[-1].outputs[0].token_ids) < 200
    assert leaver_count == 3
    stats = engine.stats()
    assert stats["requests"] == 0 and stats["kv_blocks_used"] == 0
