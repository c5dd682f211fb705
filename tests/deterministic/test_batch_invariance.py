"""Deterministic mode: a request's tokens and logprobs are bit-identical whatever shares its
batch, however its prompt is chunked, through preemption and prefix-cache hits.

Every comparison includes the chosen tokens' logprobs as floats, so the tests see any change of
rounding, not only the rarer flips of a sampled token. The default mode is run as a control on the
same inputs: its logprobs do move with the batch, so these tests can fail.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from genai_rt.config import EngineConfig
from genai_rt.engine import LLM, EngineCore
from genai_rt.sampling import SamplingParams

from tests.engine.tiny_model import CHARS

PROMPTS = [CHARS[(7 * i) % 60:(7 * i) % 60 + 5 + i % 23] * (1 + i % 3) for i in range(40)]
Result = tuple[list[int], list[float]]


def make_llm(path: Path, deterministic: bool, **overrides: object) -> LLM:
    options: dict[str, object] = dict(
        block_size=4, num_gpu_blocks=512, max_num_batched_tokens=512, dtype="float32",
        deterministic=deterministic,
    )
    options.update(overrides)
    return LLM.from_engine(EngineCore(EngineConfig.from_model(str(path), **options)))


def params(i: int, seeded: bool) -> SamplingParams:
    if not seeded:
        return SamplingParams(temperature=0, max_tokens=16, ignore_eos=True, logprobs=0)
    return SamplingParams(temperature=0.8, top_p=0.9, seed=1000 + i, max_tokens=16,
                          ignore_eos=True, logprobs=0)


def run(llm: LLM, indices: list[int], seeded: bool) -> dict[int, Result]:
    outs = llm.generate([PROMPTS[i] for i in indices], [params(i, seeded) for i in indices])
    results: dict[int, Result] = {}
    for i, out in zip(indices, outs, strict=True):
        completion = out.outputs[0]
        assert completion.logprobs is not None
        chosen = [step[token] for step, token in
                  zip(completion.logprobs, completion.token_ids, strict=True)]
        results[i] = (completion.token_ids, chosen)
    return results


@pytest.fixture(scope="module")
def solo(wide_checkpoint: tuple[Path, torch.nn.Module]) -> dict[tuple[int, bool], Result]:
    llm = make_llm(wide_checkpoint[0], deterministic=True)
    return {(i, seeded): run(llm, [i], seeded)[i] for i in range(40) for seeded in (False, True)}


@pytest.mark.parametrize("seeded", [False, True], ids=["greedy", "seeded"])
def test_batches_of_1_7_40_match_the_solo_runs(
    wide_checkpoint: tuple[Path, torch.nn.Module], solo: dict[tuple[int, bool], Result],
    seeded: bool,
) -> None:
    llm = make_llm(wide_checkpoint[0], deterministic=True)
    for size in (1, 7, 40):
        # the batch's members in a shuffled order: a prompt sits at another row each time
        indices = [(j * 17 + size) % 40 for j in range(size)]
        got = run(llm, indices, seeded)
        for i in indices:
            assert got[i] == solo[(i, seeded)], f"prompt {i} in a batch of {size}"


def test_default_mode_moves_with_the_batch(
    wide_checkpoint: tuple[Path, torch.nn.Module],
) -> None:
    # The control: without deterministic mode the same comparison sees rounding changes, so the
    # test above would fail if make_batch_invariant did nothing.
    llm = make_llm(wide_checkpoint[0], deterministic=False)
    alone = {i: run(llm, [i], False)[i] for i in range(8)}
    crowd = run(llm, list(range(40)), False)
    assert any(crowd[i][1] != alone[i][1] for i in range(8))


def test_chunking_preemption_and_prefix_hits_change_nothing(
    wide_checkpoint: tuple[Path, torch.nn.Module], solo: dict[tuple[int, bool], Result],
) -> None:
    # 8-token steps chunk every prompt; 40 blocks of 4 tokens cannot hold 40 sequences, so the
    # scheduler preempts and recomputes; prompts repeated later hit the prefix cache.
    llm = make_llm(wide_checkpoint[0], deterministic=True, max_num_batched_tokens=8,
                   num_gpu_blocks=40, enable_prefix_caching=True)
    indices = list(range(20)) + list(range(10))
    outs = llm.generate([PROMPTS[i] for i in indices], [params(i, True) for i in indices])
    preempted = sum(out.metrics.num_preemptions for out in outs)
    cached = sum(out.metrics.num_cached_tokens for out in outs)
    assert preempted > 0 and cached > 0, (preempted, cached)
    for i, out in zip(indices, outs, strict=True):
        completion = out.outputs[0]
        assert completion.logprobs is not None
        chosen = [step[t] for step, t in zip(completion.logprobs, completion.token_ids,
                                             strict=True)]
        assert (completion.token_ids, chosen) == solo[(i, True)], f"prompt {i}"
