"""Rough edges found by using the engine as a new user would: each refused clearly, or fixed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import torch
from genai_rt.config import EngineConfig
from genai_rt.engine import LLM, Engine, EngineCore
from genai_rt.sampling import SamplingParams

MAX_LEN = 96


def new_core(tiny_checkpoint: tuple[Path, torch.nn.Module]) -> EngineCore:
    config = EngineConfig.from_model(str(tiny_checkpoint[0]), dtype="float32", block_size=4,
                                     num_gpu_blocks=256, max_model_len=MAX_LEN)
    return EngineCore(config)


@pytest.fixture(scope="module")
def core(tiny_checkpoint: tuple[Path, torch.nn.Module]) -> EngineCore:
    return new_core(tiny_checkpoint)


@pytest.fixture(scope="module")
def llm(core: EngineCore) -> LLM:
    return LLM.from_engine(core)


def bad_params(core: EngineCore) -> list[tuple[SamplingParams, str]]:
    vocab = core.vocab_size
    return [
        (SamplingParams(max_tokens=4, logit_bias={vocab + 5: 1.0}), "logit_bias"),
        (SamplingParams(max_tokens=4, stop_token_ids=[3, vocab]), "stop_token_ids"),
    ]


def test_out_of_vocab_ids_refused_at_admission(llm: LLM, core: EngineCore) -> None:
    good = SamplingParams(temperature=0, max_tokens=6, ignore_eos=True)
    alone = llm.generate([[5, 6, 7]], good)[0].outputs[0].token_ids
    for params, field in bad_params(core):
        with pytest.raises(ValueError, match=rf"{field} has token ids \[\d+\] outside"):
            llm.generate([[5, 6, 7], [8, 9]], [good, params])
        assert core.stats()["kv_blocks_used"] == 0 and not core.has_unfinished
    # the engine is unharmed: the same request gives the same tokens
    assert llm.generate([[5, 6, 7]], good)[0].outputs[0].token_ids == alone


def test_out_of_vocab_ids_in_async_engine_fail_only_their_request(
    tiny_checkpoint: tuple[Path, torch.nn.Module],
) -> None:
    core = new_core(tiny_checkpoint)  # its own: shutting the Engine down stops the core
    engine = Engine(core=core)

    async def good() -> list[int]:
        params = SamplingParams(temperature=0, max_tokens=24, ignore_eos=True)
        last = None
        async for out in engine.generate([5, 6, 7], params):
            last = out
        assert last is not None
        return list(last.outputs[0].token_ids)

    async def bad(params: SamplingParams) -> None:
        await asyncio.sleep(0.01)  # while the good request is decoding
        async for _ in engine.generate([8, 9], params):
            pass

    async def run() -> tuple[list[int], list[BaseException | None]]:
        good_task = asyncio.create_task(good())
        errors = await asyncio.gather(*(bad(p) for p, _ in bad_params(core)),
                                      return_exceptions=True)
        return await good_task, list(errors)  # type: ignore[arg-type]

    try:
        tokens, errors = asyncio.run(run())
    finally:
        engine.shutdown()
    assert len(tokens) == 24
    for error, (_, field) in zip(errors, bad_params(core), strict=True):
        assert isinstance(error, ValueError) and field in str(error)


def test_grammar_keeps_each_schemas_property_order(llm: LLM) -> None:
    def schema(order: list[str]) -> dict[str, object]:
        return {"type": "object", "properties": {k: {"type": "boolean"} for k in order},
                "required": order, "additionalProperties": False}

    orders = [["alpha", "beta", "gamma"], ["gamma", "alpha", "beta"]]
    params = [SamplingParams(temperature=0, max_tokens=90, grammar={"json_schema": schema(o)})
              for o in orders]
    outs = llm.generate(["A: ", "A: "], params)
    for out, order in zip(outs, orders, strict=True):
        assert list(json.loads(out.outputs[0].text)) == order, out.outputs[0].text


def test_max_tokens_beyond_the_context_is_refused(llm: LLM) -> None:
    prompt = list(range(5, 25))  # 20 tokens
    refused = r"max_tokens=77 does not fit.*20 tokens.*max_model_len=96 leaves room for 76"
    with pytest.raises(ValueError, match=refused):
        llm.generate([prompt], SamplingParams(max_tokens=77))
    out = llm.generate([prompt], SamplingParams(max_tokens=76, ignore_eos=True))[0].outputs[0]
    assert len(out.token_ids) == 76 and out.finish_reason == "length"


@pytest.mark.parametrize("prompt,message", [
    (5, "a prompt must be text, a list of token ids.*got int 5"),
    (None, "a prompt must be text.*got NoneType None"),
    ([1.7], "prompt token ids must be ints, got float 1.7 at position 0"),
    ([3, "x"], "prompt token ids must be ints, got str 'x' at position 1"),
    ({"prompt_token_ids": [2, None]}, "got NoneType None at position 1"),
])
def test_non_text_non_ids_prompt_is_named(llm: LLM, prompt: object, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        llm.generate(prompt, SamplingParams(max_tokens=2))  # type: ignore[arg-type]


def test_flash_attn_block_size_refused_at_configuration(
    tiny_checkpoint: tuple[Path, torch.nn.Module],
) -> None:
    with pytest.raises(ValueError, match=r"flash_attn.*multiple of 256.*block_size=16"):
        EngineConfig.from_model(str(tiny_checkpoint[0]), attention_backend="flash_attn")
    config = EngineConfig.from_model(str(tiny_checkpoint[0]), attention_backend="flash_attn",
                                     block_size=256)
    assert config.cache.block_size == 256
