"""Request-level behaviour of the engine: seeds, stop strings, n > 1, logprobs, abort, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from genai_rt.config import EngineConfig
from genai_rt.engine import LLM, EngineCore
from genai_rt.engine.scheduler import RequestTooLargeError
from genai_rt.sampling import SamplingParams

from tests.engine.tiny_model import EOS_ID, VOCAB, build_tokenizer

PROMPTS = ["The quick brown fox", "jumps over", "the lazy dog. " * 3, "0123456789", "Hi"]


def make_llm(path: Path, **overrides: object) -> LLM:
    defaults: dict[str, object] = dict(block_size=4, num_gpu_blocks=256, max_num_batched_tokens=64)
    defaults.update(overrides)
    return LLM.from_engine(EngineCore(EngineConfig.from_model(str(path), dtype="float32",
                                                              **defaults)))


@pytest.fixture(scope="module")
def llm(tiny_checkpoint: tuple[Path, torch.nn.Module]) -> LLM:
    return make_llm(tiny_checkpoint[0])


def test_seeded_sampling_is_identical_across_batch_compositions(llm: LLM) -> None:
    seeded = SamplingParams(temperature=0.9, top_p=0.95, top_k=40, seed=1234, max_tokens=20,
                            ignore_eos=True)
    alone = llm.generate(["jumps over"], seeded)[0].outputs[0].token_ids
    others = [SamplingParams(temperature=1.0, max_tokens=7 + i, ignore_eos=True)
              for i in range(len(PROMPTS))]
    crowd = llm.generate(PROMPTS + ["jumps over"], [*others, seeded])
    assert crowd[-1].outputs[0].token_ids == alone
    # and in another position, with a different chunking of the prefill
    small_budget = make_llm(Path(llm.engine.config.model.path), max_num_batched_tokens=8)
    again = small_budget.generate(["jumps over", *PROMPTS], [seeded, *others])
    assert again[0].outputs[0].token_ids == alone
    # a different seed gives a different stream (20 tokens from ~97: equal by chance ~never)
    other_seed = SamplingParams(temperature=0.9, top_p=0.95, top_k=40, seed=99, max_tokens=20,
                                ignore_eos=True)
    assert llm.generate(["jumps over"], other_seed)[0].outputs[0].token_ids != alone


def test_n_completions_fork_the_prompt_and_use_seed_plus_index(llm: LLM) -> None:
    params = SamplingParams(n=3, temperature=1.0, seed=5, max_tokens=10, ignore_eos=True)
    out = llm.generate(["the lazy dog. the lazy dog."], params)[0]
    assert [c.index for c in out.outputs] == [0, 1, 2]
    for i, completion in enumerate(out.outputs):
        single = SamplingParams(temperature=1.0, seed=5 + i, max_tokens=10, ignore_eos=True)
        expected = llm.generate(["the lazy dog. the lazy dog."], single)[0].outputs[0]
        assert completion.token_ids == expected.token_ids
    assert llm.engine.stats()["kv_blocks_used"] == 0


def test_stop_string_cuts_the_text_and_spans_tokens(llm: LLM) -> None:
    greedy = SamplingParams(temperature=0, max_tokens=40, ignore_eos=True)
    full = llm.generate(["The quick brown fox"], greedy)[0].outputs[0]
    assert len(full.text) == 40  # one character per token
    stop = full.text[10:13]  # three tokens: the match spans token boundaries
    cut = full.text.index(stop)
    out = llm.generate(["The quick brown fox"], SamplingParams(
        temperature=0, max_tokens=40, ignore_eos=True, stop=[stop]))[0].outputs[0]
    assert out.finish_reason == "stop_string"
    assert out.text == full.text[:cut]
    assert out.token_ids == full.token_ids[: cut + len(stop)]
    kept = llm.generate(["The quick brown fox"], SamplingParams(
        temperature=0, max_tokens=40, ignore_eos=True, stop=[stop],
        include_stop_str_in_output=True))[0].outputs[0]
    assert kept.text == full.text[: cut + len(stop)]


def test_stop_token_and_eos_finish_with_stop(llm: LLM) -> None:
    greedy = SamplingParams(temperature=0, max_tokens=30, ignore_eos=True)
    full = llm.generate(["jumps over"], greedy)[0].outputs[0]
    target = full.token_ids[6]
    first = full.token_ids.index(target)
    out = llm.generate(["jumps over"], SamplingParams(
        temperature=0, max_tokens=30, stop_token_ids=[target]))[0].outputs[0]
    assert out.finish_reason == "stop" and out.token_ids == full.token_ids[: first + 1]
    # EOS forced by a logit bias ends the sequence unless ignore_eos
    eos = SamplingParams(temperature=0, max_tokens=30, logit_bias={EOS_ID: 100.0}, min_tokens=3)
    out = llm.generate(["jumps over"], eos)[0].outputs[0]
    assert out.finish_reason == "stop" and len(out.token_ids) == 4
    assert out.token_ids[-1] == EOS_ID and "</s>" not in out.text


def test_text_and_logprobs_match_the_tokens(llm: LLM) -> None:
    params = SamplingParams(temperature=0, max_tokens=12, ignore_eos=True, logprobs=3)
    out = llm.generate(["Hi"], params)[0]
    completion = out.outputs[0]
    assert completion.text == build_tokenizer().decode(completion.token_ids)
    assert out.prompt == "Hi" and out.prompt_token_ids == build_tokenizer().encode("Hi").ids
    assert completion.logprobs is not None and len(completion.logprobs) == 12
    for token, entry in zip(completion.token_ids, completion.logprobs, strict=True):
        assert len(entry) == 3 and token in entry  # greedy: the chosen token is the top one
        assert entry[token] == max(entry.values()) and entry[token] <= 0
    assert completion.cumulative_logprob == pytest.approx(
        sum(e[t] for t, e in zip(completion.token_ids, completion.logprobs, strict=True)))
    m = out.metrics
    assert m.arrival_time <= m.first_token_time <= m.finished_time
    assert m.num_prompt_tokens == 2 and m.num_generated_tokens == 12


def test_abort_at_any_moment_frees_every_block(llm: LLM) -> None:
    core = llm.engine
    params = SamplingParams(temperature=0, max_tokens=50, ignore_eos=True)
    for i, prompt in enumerate(PROMPTS * 3):
        core.add_request(f"abort-{i}", prompt, params)
    for _ in range(3):  # some prefilling, some decoding, some waiting
        core.step()
    assert core.stats()["kv_blocks_used"] > 0
    for i in range(len(PROMPTS) * 3):
        out = core.abort(f"abort-{i}")
        assert out is not None and out.finished
        assert out.outputs[0].finish_reason == "abort"
    assert core.abort("abort-0") is None  # already gone
    stats = core.stats()
    assert stats["kv_blocks_used"] == 0 and stats["running"] == stats["waiting"] == 0
    core.scheduler.kv.check_invariants()


def test_bad_requests_get_clear_errors(tiny_checkpoint: tuple[Path, torch.nn.Module]) -> None:
    llm = make_llm(tiny_checkpoint[0], num_gpu_blocks=8, max_model_len=100)
    with pytest.raises(RequestTooLargeError, match="needs up to 10 KV blocks"):
        llm.generate(["x" * 30], SamplingParams(max_tokens=10))
    with pytest.raises(RequestTooLargeError, match="max_model_len=100"):
        llm.generate([{"prompt_token_ids": [1] * 100}], SamplingParams(max_tokens=1))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        llm.generate([{"prompt_token_ids": [VOCAB + 3]}])
    with pytest.raises(ValueError, match="2 SamplingParams for 1 prompts"):
        llm.generate(["a"], [SamplingParams(), SamplingParams()])
    with pytest.raises(TypeError, match="unknown engine option 'blocksize'"):
        EngineConfig.from_model("x", blocksize=4)
    with pytest.raises(ValueError, match="block_size must be a positive int"):
        EngineConfig.from_model("x", block_size=0)
    assert llm.engine.stats()["kv_blocks_used"] == 0


def test_a_request_with_no_valid_token_fails_alone(llm: LLM) -> None:
    # After "a" the grammar allows only EOS, which min_tokens masks: row 1 has no token left.
    impossible = SamplingParams(temperature=0, max_tokens=5, min_tokens=3,
                                grammar={"choice": ["a"]})
    fine = SamplingParams(temperature=0, max_tokens=6, ignore_eos=True)
    alone = llm.generate(["jumps over"], fine)[0].outputs[0].token_ids
    outs = llm.generate(["jumps over", "Hi", "jumps over"], [fine, impossible, fine])
    assert outs[1].outputs[0].finish_reason == "abort" and "no token survives" in outs[1].error
    assert outs[0].outputs[0].token_ids == alone == outs[2].outputs[0].token_ids
    assert outs[0].error is None
    assert llm.engine.stats()["kv_blocks_used"] == 0
