"""The split-row fast path (rows with top-k and top-p off): distribution, greedy, seeds, shapes.

Chunks are 256 tokens here (fixture below), so the vocabularies here (257, 700, ...) span
several chunks with a partial last one. Draws use fixed seeds (Philox is deterministic), so the
statistical checks do not flake. Bound: each token's frequency over n = 4000 draws is within
5 sigma = 5 sqrt(p (1 - p) / n) of its target p (a two-sided 5-sigma miss has probability
5.7e-7 per token); the light tokens have p ~ e^-30, so the chance any of them is drawn at all
is ~1e-7, and the bound then demands exactly zero draws for them.
"""

from __future__ import annotations

import pytest
import torch
from genai_rt.kernels import sampling_split
from genai_rt.kernels._tile_dot import INTERPRETED
from genai_rt.kernels.sampling import (
    _sample_race_kernel,
    sample_tokens,
    sampling_probs_ref,
    sampling_thresholds,
)

DRAWS = 4000
# Draws raced side by side: the interpreter pays per op, not per element; a GPU spills past ~2k.
STAT_DRAWS_PER_PROGRAM = 4096 if INTERPRETED else 128
POISON = -7


def _random_bitmask(rows: int, vocab: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(-(2**31), 2**31 - 1, (rows, (vocab + 31) // 32), generator=gen,
                         dtype=torch.int32)


def _heavy_tokens_logits(rows: int, vocab: int, seed: int) -> torch.Tensor:
    """Twelve heavy tokens spread over all chunks (the last, partial one included) at logits
    0 .. -2.75; the rest at -30, so every kept token's frequency can be checked."""
    gen = torch.Generator().manual_seed(seed)
    logits = torch.full((rows, vocab), -30.0)
    for r in range(rows):
        heavy = torch.randperm(vocab - 2, generator=gen)[:10].tolist() + [vocab - 1, 0]
        logits[r, heavy] = -0.25 * torch.arange(12, dtype=torch.float32)
    return logits


def _per_row_race(logits, temperature, min_p, seeds, bitmask) -> torch.Tensor:
    """The per-row path (threshold kernel + one-program-per-draw race) for the same rows."""
    rows, vocab = logits.shape
    dev = logits.device
    top_k = torch.zeros(rows, dtype=torch.int32, device=dev)
    top_p = torch.ones(rows, device=dev)
    threshold = sampling_thresholds(logits, temperature, top_k, top_p, min_p, bitmask)
    out = torch.full((rows,), POISON, dtype=torch.int64, device=dev)
    _sample_race_kernel[(rows,)](
        logits, bitmask if bitmask is not None else logits, seeds, seeds, temperature, threshold,
        top_k, top_p, out, rows, vocab, logits.stride(0),
        bitmask.stride(0) if bitmask is not None else 0,
        bitmask.shape[1] if bitmask is not None else 0, HAS_MASK=bitmask is not None,
        HAS_ROWS=False, SKIP_UNFILTERED=False, BLOCK_DRAWS=1, BLOCK=256, num_warps=8)
    return out


@pytest.fixture(autouse=True)
def _small_chunks(monkeypatch):
    """256-token chunks (the interpreter's default; on a GPU a separate compile): the
    vocabularies below span several chunks there too, the last one partial."""
    monkeypatch.setattr(sampling_split, "CHUNK", 256)


@pytest.mark.parametrize("temperature,min_p,masked", [
    (0.7, 0.0, False),   # plain temperature sampling
    (1.3, 0.0, True),    # over a grammar mask
    (1.0, 0.25, True),   # min-p: x >= max - 1.39 keeps the allowed ones of the top 6 heavy
])
def test_draws_follow_reference_distribution(temperature, min_p, masked, device) -> None:
    vocab = 700  # chunks of 256, 256, 188
    logits = _heavy_tokens_logits(2, vocab, 5)
    bitmask = _random_bitmask(2, vocab, 9) if masked else None
    rows = torch.arange(DRAWS) % 2
    out = torch.full((DRAWS,), POISON, dtype=torch.int64, device=device)
    tokens = sample_tokens(logits.to(device), temperature, min_p=min_p or None,
                           seeds=(torch.arange(DRAWS) * 7919 + 3).to(device),
                           bitmask=bitmask.to(device) if bitmask is not None else None,
                           rows=rows.to(device), out=out,
                           draws_per_program=STAT_DRAWS_PER_PROGRAM).cpu()
    full = torch.full((2,), 1.0)
    probs = sampling_probs_ref(logits, full * temperature, torch.zeros(2, dtype=torch.int32),
                               full, full * min_p, bitmask=bitmask)
    assert (tokens >= 0).all(), "every draw written, with a token"
    for r in range(2):
        got = tokens[rows == r]
        freq = torch.bincount(got, minlength=vocab).double() / got.numel()
        sigma = (probs[r] * (1 - probs[r]) / got.numel()).sqrt()
        assert (freq[probs[r] == 0] == 0).all(), "drew a forbidden or min-p-cut token"
        assert ((freq - probs[r]).abs() <= 5 * sigma).all(), (freq[probs[r] > 1e-9],
                                                             probs[r][probs[r] > 1e-9])
        assert (probs[r] > 0.01).sum() >= 3, "the case samples among several tokens"
    if min_p:
        unfiltered = sampling_probs_ref(logits, full * temperature,
                                        torch.zeros(2, dtype=torch.int32), full, full * 0,
                                        bitmask=bitmask)
        assert ((probs > 0).sum(1) < (unfiltered > 0).sum(1)).all(), "min-p cuts something"


@pytest.mark.parametrize("vocab", [1, 255, 257, 700])
@pytest.mark.parametrize("min_p", [0.0, 0.1])
def test_same_tokens_as_the_per_row_race(vocab, min_p, device) -> None:
    """Same noise per (seed, token), same kept set: the two paths draw the very same tokens."""
    rows = 6
    gen = torch.Generator().manual_seed(vocab)
    logits = (torch.randn(rows, vocab, generator=gen) * 2).to(device)
    bitmask = _random_bitmask(rows, vocab, vocab + 1).to(device)
    temperature = torch.tensor([0.6, 1.0, 0.0, 1.7, 0.0, 1.0], device=device)  # 2 greedy rows
    min_p_t = torch.full((rows,), min_p, device=device)
    seeds = torch.arange(rows, device=device) * 1000 + 17
    out = torch.full((rows,), POISON, dtype=torch.int64, device=device)
    split = sample_tokens(logits, temperature, min_p=min_p_t if min_p else None, seeds=seeds,
                          bitmask=bitmask, out=out)
    per_row = _per_row_race(logits, temperature, min_p_t, seeds, bitmask)
    assert (split != POISON).all(), "every draw written"
    assert torch.equal(split, per_row)


@pytest.mark.parametrize("vocab", [3, 256, 513, 700])
@pytest.mark.parametrize("draws_per_program", [1, 8])  # 8: 32-token tiles, 8 a chunk
def test_greedy_is_the_first_masked_argmax(vocab, draws_per_program, device) -> None:
    rows = 5
    gen = torch.Generator().manual_seed(vocab + 2)
    logits = torch.randn(rows, vocab, generator=gen).round()  # many ties
    logits[1, :] = 1.0  # all tied: the first allowed token
    logits[2, vocab // 2:] = 9.0  # ties across chunks: the first allowed one wins
    bitmask = _random_bitmask(rows, vocab, 4)
    bitmask[3] = 0  # nothing allowed: -1
    allowed = ((bitmask.unsqueeze(-1) >> torch.arange(32, dtype=torch.int32)) & 1).bool()
    allowed = allowed.view(rows, -1)[:, :vocab]
    want = logits.masked_fill(~allowed, float("-inf")).argmax(-1)
    want[3] = -1
    out = torch.full((rows,), POISON, dtype=torch.int64, device=device)
    got = sample_tokens(logits.to(device), 0.0, bitmask=bitmask.to(device), out=out,
                        draws_per_program=draws_per_program)
    assert got.cpu().tolist() == want.tolist()


@pytest.mark.parametrize("explicit_rows", [False, True])
def test_seeded_draw_is_independent_of_the_batch(explicit_rows, device) -> None:
    """Row 0 (seed 42) alone, in an all-split batch, and in a mixed batch where other rows take
    the per-row path (top-k / top-p tensors, decided per row on the device): one token."""
    vocab = 600
    gen = torch.Generator().manual_seed(8)
    logits = torch.randn(5, vocab, generator=gen).to(device)
    seeds = torch.tensor([42, 1, 2, 3, 4], device=device)
    alone = sample_tokens(logits[:1], 1.0, seeds=seeds[:1])
    batch = sample_tokens(logits, 1.0, seeds=seeds)
    top_k = torch.tensor([0, 5, 0, 0, 40], dtype=torch.int32, device=device)
    top_p = torch.tensor([1.0, 1.0, 0.8, 1.0, 0.9], device=device)
    out = torch.full((5,), POISON, dtype=torch.int64, device=device)
    rows = torch.arange(5, device=device) if explicit_rows else None
    mixed = sample_tokens(logits, 1.0, top_k, top_p, seeds=seeds, out=out, rows=rows)
    assert int(alone) == int(batch[0]) == int(mixed[0])
    assert int(batch[3]) == int(mixed[3]), "another split row, unchanged by its neighbours"
    for r in (1, 2, 4):  # the filtered rows: as the per-row path draws them on their own
        own = sample_tokens(logits[r:r + 1], 1.0, top_k[r:r + 1], top_p[r:r + 1],
                            seeds=seeds[r:r + 1])
        assert int(own) == int(mixed[r])
    assert len(set(batch.tolist())) > 2, "seeds matter"


def test_draws_per_program_must_be_a_power_of_two(device) -> None:
    with pytest.raises(ValueError, match="draws_per_program must be a power of two"):
        sample_tokens(torch.zeros(2, 10, device=device), 1.0, draws_per_program=3)
