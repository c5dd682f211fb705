"""Scheduler + C++ KV manager + batch assembly, driven by a fake model that checks the cache.

The fake model writes each input token id into its paged "cache" at the slot the batch names,
then reads every sequence's context back through its block table: if any block table, slot
mapping, prefix hit or fork were wrong, the context would not equal the sequence's true tokens.
Its next token is a function of the context, so outputs also depend on the cache being right.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from genai_rt.config import CacheConfig, SchedulerConfig
from genai_rt.engine.batch import BatchBuilder
from genai_rt.engine.scheduler import RequestTooLargeError, Scheduler, SchedulerOutput
from genai_rt.engine.sequence import Sequence, SequenceStatus

VOCAB = 97


def next_token(context: list[int]) -> int:
    return (sum((i + 1) * t for i, t in enumerate(context)) * 31 + len(context)) % VOCAB


def reference_generation(prompt: list[int], max_tokens: int) -> list[int]:
    tokens = list(prompt)
    for _ in range(max_tokens):
        tokens.append(next_token(tokens))
    return tokens[len(prompt):]


class FakeCacheModel:
    def __init__(self, num_blocks: int, block_size: int) -> None:
        self.cache = np.full(num_blocks * block_size, -1, np.int64)
        self.block_size = block_size

    def step(self, builder: BatchBuilder, sched: Scheduler, out: SchedulerOutput) -> list[int]:
        batch = builder.build(sched.kv, out, self.block_size)
        meta = batch.meta
        self.cache[meta.slot_mapping.numpy()] = batch.input_ids.numpy()
        results = []
        for row in batch.sampled_seq_rows:
            seq = out.seqs[row]
            seq_len = meta.seq_lens_host[row]
            table = meta.block_tables[row].numpy()
            slots = [table[p // self.block_size] * self.block_size + p % self.block_size
                     for p in range(seq_len)]
            context = self.cache[slots].tolist()
            truth = (seq.prompt_token_ids + seq.output_token_ids)[:seq_len]
            assert context == truth, f"KV cache of {seq} holds the wrong tokens"
            assert batch.positions[batch.sample_indices[len(results)]].item() == seq_len - 1
            results.append(next_token(context))
        return results


def run_to_completion(
    prompts: list[list[int]], max_tokens: int, num_blocks: int, block_size: int = 4,
    budget: int = 32, max_num_seqs: int = 8, prefix: bool = True, chunked: bool = True,
    n_children: int = 0,
) -> tuple[dict[int, list[int]], Scheduler]:
    sched = Scheduler(SchedulerConfig(max_num_seqs, budget, chunked),
                      CacheConfig(block_size=block_size, num_gpu_blocks=num_blocks,
                                  enable_prefix_caching=prefix),
                      num_blocks, max_model_len=256)
    model = FakeCacheModel(num_blocks, block_size)
    builder = BatchBuilder(budget, max_num_seqs, 256 // block_size, torch.device("cpu"))
    seqs = []
    for prompt in prompts:
        sched.check_admissible(len(prompt), len(prompt) + max_tokens)
        first = Sequence(len(seqs), list(prompt), len(prompt) + max_tokens)
        seqs.append(first)
        sched.add(first)
        for _ in range(n_children):
            child = Sequence(len(seqs), list(prompt), len(prompt) + max_tokens, fork_parent=first)
            seqs.append(child)
            sched.add(child)
    for _ in range(10_000):
        if not sched.has_unfinished:
            break
        out = sched.schedule()
        assert out, "nothing schedulable while requests wait: a hang"
        assert out.num_tokens <= budget and len(sched.running) <= max_num_seqs
        tokens = model.step(builder, sched, out)
        sampled = [s for s, n in zip(out.seqs, out.num_new, strict=True)
                   if s.num_computed + n == s.num_tokens]
        sched.commit(out)
        for seq, token in zip(sampled, tokens, strict=True):
            sched.append_token(seq, token)
            if len(seq.output_token_ids) == seq.max_total_len - seq.prompt_len:
                sched.remove(seq)
        sched.kv.check_invariants()
    assert not sched.has_unfinished
    return {s.seq_id: s.output_token_ids for s in seqs}, sched


def make_prompts(count: int, seed: int, shared_prefix: int = 0) -> list[list[int]]:
    rng = random.Random(seed)
    prefix = [rng.randrange(VOCAB) for _ in range(shared_prefix)]
    return [prefix + [rng.randrange(VOCAB) for _ in range(rng.randrange(1, 40))]
            for _ in range(count)]


@pytest.mark.parametrize("chunked", [True, False])
def test_outputs_match_the_reference_with_a_roomy_cache(chunked: bool) -> None:
    prompts = make_prompts(12, seed=1)
    outputs, sched = run_to_completion(prompts, 10, num_blocks=256, budget=64, chunked=chunked)
    for i, prompt in enumerate(prompts):
        assert outputs[i] == reference_generation(prompt, 10)
    assert sched.num_preemptions == 0 and sched.kv.num_used_blocks == 0


def test_tiny_pool_forces_preemption_and_outputs_stay_exact() -> None:
    prompts = make_prompts(10, seed=2)
    # Each request needs <= 13 blocks alone; 16 blocks for 10 requests forces recompute.
    outputs, sched = run_to_completion(prompts, 12, num_blocks=16, budget=24)
    assert sched.num_preemptions > 0
    for i, prompt in enumerate(prompts):
        assert outputs[i] == reference_generation(prompt, 12)
    assert sched.kv.num_used_blocks == 0 and sched.kv.num_sequences == 0


def test_shared_prefix_hits_the_cache() -> None:
    prompts = make_prompts(8, seed=3, shared_prefix=20)
    outputs, sched = run_to_completion(prompts, 6, num_blocks=128, budget=16, max_num_seqs=2)
    for i, prompt in enumerate(prompts):
        assert outputs[i] == reference_generation(prompt, 6)
    assert sched.prefix_cache_hit_rate > 0.3


def test_n_children_fork_the_prompt_blocks() -> None:
    prompts = make_prompts(3, seed=4)
    outputs, sched = run_to_completion(prompts, 5, num_blocks=128, prefix=False, n_children=2)
    for i, prompt in enumerate(prompts):
        for j in range(3):
            assert outputs[3 * i + j] == reference_generation(prompt, 5)


def test_remove_frees_everything_at_any_moment() -> None:
    prompts = make_prompts(6, seed=5)
    sched = Scheduler(SchedulerConfig(4, 16, True), CacheConfig(block_size=4, num_gpu_blocks=40),
                      40, max_model_len=256)
    seqs = [Sequence(i, p, len(p) + 8) for i, p in enumerate(prompts)]
    for seq in seqs:
        sched.add(seq)
    out = sched.schedule()
    sched.commit(out)
    assert sched.kv.num_used_blocks > 0
    for seq in seqs:  # running, mid-prefill and waiting alike
        sched.remove(seq)
        assert seq.status is SequenceStatus.FINISHED
    sched.kv.check_invariants()
    assert sched.kv.num_used_blocks == 0 and not sched.has_unfinished


def test_requests_that_can_never_fit_are_refused_with_the_reason() -> None:
    sched = Scheduler(SchedulerConfig(4, 16, False), CacheConfig(block_size=4, num_gpu_blocks=8),
                      8, max_model_len=64)
    with pytest.raises(RequestTooLargeError, match="needs up to 10 KV blocks"):
        sched.check_admissible(10, 40)
    with pytest.raises(RequestTooLargeError, match="max_model_len=64"):
        sched.check_admissible(64, 65)
    with pytest.raises(RequestTooLargeError, match="chunked prefill is off"):
        sched.check_admissible(20, 24)
    with pytest.raises(RequestTooLargeError, match="empty"):
        sched.check_admissible(0, 4)
