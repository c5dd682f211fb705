"""The C++ paged-KV core (csrc/kv) through its binding: allocator, prefix cache, LRU eviction."""

from __future__ import annotations

import random

import numpy as np
import pytest
from genai_rt._core import ROOT_BLOCK_HASH, KvCacheManager, hash_block_tokens

BS = 4


def run_prefill(m: KvCacheManager, seq_id: int, tokens: list[int]) -> int:
    """Add, match the cached prefix, allocate and compute the rest; returns the cached tokens."""
    m.add_sequence(seq_id, tokens)
    cached = m.match_prefix(seq_id)
    assert m.allocate(seq_id, len(tokens) - cached)
    m.commit(seq_id, len(tokens) - cached)
    return cached


def test_allocate_and_free_return_every_block() -> None:
    m = KvCacheManager(num_blocks=6, block_size=BS, enable_prefix_caching=False)
    m.add_sequence(1, list(range(9)))  # 9 tokens -> 3 blocks
    assert m.blocks_needed(1, 9) == 3
    assert m.allocate(1, 9)
    assert m.block_table(1) == [0, 1, 2]
    assert m.num_used_blocks == 3 and m.num_available_blocks == 3
    assert all(m.ref_count(b) == 1 for b in (0, 1, 2))
    m.commit(1, 9)
    m.append_tokens(1, [100, 101, 102, 103])
    assert m.blocks_needed(1, 4) == 1  # 13 tokens need 4 blocks
    assert m.allocate(1, 4)
    m.check_invariants()
    m.free(1)
    assert m.num_used_blocks == 0 and m.num_free_blocks == 6 and m.num_sequences == 0
    m.check_invariants()


def test_allocate_is_all_or_nothing() -> None:
    m = KvCacheManager(num_blocks=3, block_size=BS, enable_prefix_caching=False)
    m.add_sequence(1, list(range(8)))
    assert m.allocate(1, 8)
    m.add_sequence(2, list(range(8)))
    assert not m.allocate(2, 8)  # needs 2, has 1
    assert m.block_table(2) == [] and m.num_available_blocks == 1
    assert m.allocate(2, 4)
    m.check_invariants()


def test_prefix_hit_shares_full_blocks_and_counts_refs() -> None:
    m = KvCacheManager(num_blocks=16, block_size=BS, enable_prefix_caching=True)
    prompt = list(range(10))
    assert run_prefill(m, 1, prompt) == 0
    # Same 8-token prefix (two full blocks), different tail.
    assert run_prefill(m, 2, prompt[:8] + [77, 78, 79]) == 8
    assert m.block_table(2)[:2] == m.block_table(1)[:2]
    assert m.block_table(2)[2] != m.block_table(1)[2]
    assert [m.ref_count(b) for b in m.block_table(1)] == [2, 2, 1]
    assert m.prefix_hit_tokens == 8 and m.prefix_query_tokens == 21
    m.check_invariants()


def test_prefix_match_leaves_the_last_token_to_compute() -> None:
    m = KvCacheManager(num_blocks=16, block_size=BS, enable_prefix_caching=True)
    prompt = list(range(8))  # exactly two blocks
    run_prefill(m, 1, prompt)
    m.add_sequence(2, prompt)
    assert m.match_prefix(2) == 4  # not 8: the step finishing the prompt must produce logits


def test_prefix_chain_depends_on_everything_before() -> None:
    m = KvCacheManager(num_blocks=16, block_size=BS, enable_prefix_caching=True)
    run_prefill(m, 1, [1, 2, 3, 4, 5, 6, 7, 8, 9])
    # Second block identical, first block different: no hit at all.
    m.add_sequence(2, [0, 2, 3, 4, 5, 6, 7, 8, 9])
    assert m.match_prefix(2) == 0
    h1 = hash_block_tokens(ROOT_BLOCK_HASH, [1, 2, 3, 4])
    assert hash_block_tokens(h1, [5, 6, 7, 8]) != hash_block_tokens(ROOT_BLOCK_HASH, [5, 6, 7, 8])


def test_disabled_prefix_cache_never_hits() -> None:
    m = KvCacheManager(num_blocks=16, block_size=BS, enable_prefix_caching=False)
    run_prefill(m, 1, list(range(10)))
    assert run_prefill(m, 2, list(range(10))) == 0
    m.free(1)
    assert m.num_evictable_blocks == 0


def test_freed_cached_blocks_are_evicted_least_recently_freed_first() -> None:
    m = KvCacheManager(num_blocks=6, block_size=BS, enable_prefix_caching=True)
    run_prefill(m, 1, list(range(9)))  # blocks 0,1 full (cached), 2 partial
    run_prefill(m, 2, list(range(100, 109)))  # blocks 3,4 cached, 5 partial
    m.free(1)  # tail first: 1 then 0 enter the LRU
    m.free(2)
    assert m.eviction_order() == [1, 0, 4, 3]
    assert m.num_free_blocks == 2  # the partial blocks 2 and 5
    # A hit revives a block out of the LRU.
    m.add_sequence(3, list(range(4)) + [50])
    assert m.match_prefix(3) == 4
    assert m.eviction_order() == [1, 4, 3]
    # Allocation uses the free blocks, then evicts in LRU order.
    assert m.allocate(3, 1)  # 5 tokens -> 2 blocks, one new
    m.add_sequence(4, list(range(200, 212)))
    assert m.allocate(4, 12)  # 3 blocks: one free, then evict 1 and 4
    assert not m.is_cached(1) and not m.is_cached(4) and m.is_cached(3)
    assert m.eviction_order() == [3]
    m.check_invariants()
    # The evicted prefix is gone; the surviving one still hits.
    m.add_sequence(5, list(range(4, 9)) + [1])
    assert m.match_prefix(5) == 0
    m.check_invariants()


def test_fork_shares_computed_full_blocks() -> None:
    m = KvCacheManager(num_blocks=16, block_size=BS, enable_prefix_caching=False)
    prompt = list(range(11))
    run_prefill(m, 1, prompt)
    m.add_sequence(2, prompt)
    assert m.fork_prefix(1, 2, len(prompt)) == 8  # two full blocks; the tail is recomputed
    assert m.block_table(2) == m.block_table(1)[:2]
    assert m.ref_count(m.block_table(1)[0]) == 2
    m.free(1)
    m.check_invariants()
    assert m.num_used_blocks == 2
    m.free(2)
    assert m.num_used_blocks == 0


def test_bad_calls_raise_clear_errors() -> None:
    m = KvCacheManager(num_blocks=4, block_size=BS, enable_prefix_caching=True)
    with pytest.raises(IndexError, match="unknown sequence 9"):
        m.allocate(9, 1)
    with pytest.raises(ValueError, match="at least one token"):
        m.add_sequence(1, [])
    m.add_sequence(1, [1, 2])
    with pytest.raises(ValueError, match="already exists"):
        m.add_sequence(1, [1])
    with pytest.raises(ValueError, match="past the sequence's known tokens"):
        m.allocate(1, 3)
    with pytest.raises(ValueError, match="beyond the allocated"):
        m.commit(1, 2)
    with pytest.raises(ValueError, match="num_blocks"):
        KvCacheManager(0, 4, True)


def test_seeded_random_operations_never_leak() -> None:
    """Random add/match/allocate/commit/append/reset/fork/free; invariants after every op."""
    rng = random.Random(1234)
    m = KvCacheManager(num_blocks=24, block_size=BS, enable_prefix_caching=True)
    prefixes = [[rng.randrange(50) for _ in range(12)] for _ in range(3)]
    tokens_of: dict[int, list[int]] = {}
    next_id = 0
    for _ in range(3000):
        op = rng.random()
        live = list(tokens_of)
        if op < 0.2 or not live:
            tokens = rng.choice(prefixes)[: rng.randrange(1, 13)]
            tokens += [rng.randrange(50) for _ in range(rng.randrange(0, 9))]
            m.add_sequence(next_id, tokens)
            m.match_prefix(next_id)
            tokens_of[next_id] = tokens
            next_id += 1
            continue
        sid = rng.choice(live)
        remaining = m.num_tokens(sid) - m.num_computed(sid)
        if op < 0.55 and remaining > 0:
            n = rng.randrange(1, remaining + 1)
            if m.allocate(sid, n):
                m.commit(sid, n)
        elif op < 0.7 and remaining == 0:
            token = rng.randrange(50)
            m.append_tokens(sid, [token])
            tokens_of[sid].append(token)
        elif op < 0.78:
            m.reset(sid)
            m.match_prefix(sid)
        elif op < 0.86:
            m.add_sequence(next_id, list(tokens_of[sid]))
            shared = m.fork_prefix(sid, next_id, m.num_computed(sid))
            assert shared % BS == 0 and shared <= m.num_computed(sid)
            tokens_of[next_id] = list(tokens_of[sid])
            next_id += 1
        else:
            m.free(sid)
            del tokens_of[sid]
        m.check_invariants()
        assert m.num_used_blocks + m.num_available_blocks == 24
    assert m.prefix_hit_tokens > 0  # the shared prefixes were actually reused
    for sid in tokens_of:
        m.free(sid)
    m.check_invariants()
    assert m.num_used_blocks == 0 and m.num_sequences == 0


def test_build_batch_matches_a_python_reference() -> None:
    m = KvCacheManager(num_blocks=32, block_size=BS, enable_prefix_caching=True)
    run_prefill(m, 1, list(range(10)))  # decoding
    m.append_tokens(1, [500])
    m.add_sequence(2, list(range(20, 33)))  # prefill chunk of 6 from 0
    m.add_sequence(3, list(range(10)) + [7, 7])  # hits 8 cached tokens, computes 4
    assert m.match_prefix(3) == 8
    batch = [(1, 1), (2, 6), (3, 4)]
    for sid, n in batch:
        assert m.allocate(sid, n)
    bufs = (
        np.full(16, -1, np.int64),
        np.full(16, -1, np.int64),
        np.full(16, -1, np.int64),
        np.full((4, 8), -1, np.int32),
        np.full(4, -1, np.int32),
        np.full(5, -1, np.int32),
    )
    shape = m.build_batch([s for s, _ in batch], [n for _, n in batch], *bufs)
    ids, pos, slots, tables, seq_lens, qsl = bufs
    assert shape == {"num_tokens": 11, "num_seqs": 3, "max_blocks": 3, "max_query_len": 6,
                     "max_seq_len": 12}
    all_tokens = {1: list(range(10)) + [500], 2: list(range(20, 33)), 3: list(range(10)) + [7, 7]}
    starts = {1: 10, 2: 0, 3: 8}
    exp_ids, exp_pos, exp_slots = [], [], []
    for sid, n in batch:
        table = m.block_table(sid)
        for p in range(starts[sid], starts[sid] + n):
            exp_ids.append(all_tokens[sid][p])
            exp_pos.append(p)
            exp_slots.append(table[p // BS] * BS + p % BS)
    assert ids[:11].tolist() == exp_ids and pos[:11].tolist() == exp_pos
    assert slots[:11].tolist() == exp_slots
    assert seq_lens[:3].tolist() == [11, 6, 12] and qsl[:4].tolist() == [0, 1, 7, 11]
    for row, (sid, _) in enumerate(batch):
        table = m.block_table(sid)
        assert tables[row, : len(table)].tolist() == table
        assert (tables[row, len(table) : 3] == 0).all()  # padded up to the widest row
    assert ids[11] == -1  # nothing past the batch is touched


def test_build_batch_rejects_bad_buffers_and_unallocated_tokens() -> None:
    m = KvCacheManager(num_blocks=8, block_size=BS, enable_prefix_caching=False)
    m.add_sequence(1, list(range(6)))
    small = (np.zeros(4, np.int64), np.zeros(4, np.int64), np.zeros(4, np.int64),
             np.zeros((2, 4), np.int32), np.zeros(2, np.int32), np.zeros(3, np.int32))
    with pytest.raises(ValueError, match="allocate first"):
        m.build_batch([1], [6], *small)
    assert m.allocate(1, 6)
    with pytest.raises(ValueError, match="exceeds the buffers' 4"):
        m.build_batch([1], [6], *small)
    wrong_dtype = (np.zeros(8, np.int32),) + small[1:]
    with pytest.raises(TypeError):
        m.build_batch([1], [2], *wrong_dtype)
