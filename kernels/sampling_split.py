"""Split-row sampling: the fast path of :func:`genai_rt.kernels.sampling.sample_tokens` for rows
that need no top-k / top-p (temperature sampling, greedy, optional bitmask and min-p).

The per-row race (one program per draw) reads a 128k row in 32 sequential tiles from one SM:
64 rows leave most of an H200's 132 SMs idle (measured 182 us eager / 136 us graph replay for
B64 x V128256 fp32). Here every (draw, chunk) pair is a program:

1. ``_chunk_max_kernel`` (only with min-p): per (row, chunk) the max of x = logits / T.
2. ``_chunk_race_kernel``: per (draw, chunk) the best Gumbel-max score x_i - log(E_i) over the
   chunk's kept tokens (allowed by the bitmask, ≥ the min-p floor) and its token, with the same
   per-token noise as the per-row race (``_gumbel_noise``: Philox keyed by (seed, token)), so a
   draw is the same token whichever path or batch it runs in.
3. ``_chunk_reduce_kernel``: per draw, the best of its chunks; ties go to the lowest token, as
   the per-row race and torch.argmax do (greedy rows race on x alone).

NOTE (estimate, not measured): B64 x V128256 fp32 is 33 MB, ~8 us at the 4.2 TB/s measured on
the H200. One Philox-4x32-10 call (~60 integer instructions) serves 4 tokens (tl.rand4x, see
NOISE_GROUP), plus ~25 instructions a token (load, mask bit, 2 logs, compare): 8.2M tokens x
~40 / (132 SMs x 128 lanes x 1.98 GHz) ~ 10 us if issue bound, overlapping the loads (tl.rand,
one call a token, would be ~20 us); plus 2-3 launches (~3 us each eager, ~1 us in a graph).
Expected ~12-18 us for bitmask + sample, under the 30 us target.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from genai_rt.kernels._tile_dot import INTERPRETED
from genai_rt.kernels.sampling import (
    NEG_INF_KEY,
    NOISE_GROUP,
    _inverse_temperature,
    _load_scaled,
    _noise_from_uniform,
    _order_key,
)

# Tokens per program: 32 chunks for a 128k vocabulary, 64 x 32 = 2048 programs for batch 64
# (~15 per SM on 132 SMs). The interpreter uses 256 so small test vocabularies span several
# chunks, the last one partial.
CHUNK = 256 if INTERPRETED else 4096


@triton.jit
def _chunk_max_kernel(
    logits_ptr, bitmask_ptr, temperature_ptr, chunk_max_ptr, vocab, logits_stride,
    bitmask_stride, bitmask_words, num_chunks,
    HAS_MASK: tl.constexpr, CHUNK: tl.constexpr, BLOCK: tl.constexpr,
):
    # chunk_max: [rows, num_chunks] fp32, max of x over the chunk's allowed tokens (-inf if none)
    row = tl.program_id(0).to(tl.int64)
    chunk = tl.program_id(1)
    _, inv_temp = _inverse_temperature(tl.load(temperature_ptr + row))
    offs = tl.arange(0, BLOCK)
    best = tl.full([BLOCK], float("-inf"), tl.float32)
    for start in range(chunk * CHUNK, chunk * CHUNK + CHUNK, BLOCK):
        x = _load_scaled(logits_ptr, bitmask_ptr, row, start + offs, vocab, logits_stride,
                         bitmask_stride, bitmask_words, inv_temp, HAS_MASK)
        best = tl.maximum(best, x)
    tl.store(chunk_max_ptr + row * num_chunks + chunk, tl.max(best, axis=0))


@triton.jit
def _race_tile(logits_ptr, bitmask_ptr, row, first, offs, u, vocab, logits_stride,
               bitmask_stride, bitmask_words, inv_temp, greedy, floor, best, best_token,
               HAS_MASK: tl.constexpr):
    """Race the [draws, NOISE_GROUP] tile of tokens first + offs with uniforms u into
    (best, best_token)."""
    tokens = first + offs
    x = _load_scaled(logits_ptr, bitmask_ptr, row, tokens, vocab, logits_stride,
                     bitmask_stride, bitmask_words, inv_temp, HAS_MASK)
    kept = (_order_key(x) >= floor) & (x > float("-inf"))
    score = tl.where(greedy, x, x + _noise_from_uniform(u))
    score = tl.where(kept, score, float("-inf"))
    tile_best = tl.max(score, axis=1)
    tile_token = first + tl.argmax(score, axis=1)
    better = tile_best > best  # strict: ties keep the earlier token
    return tl.where(better, tile_best, best), tl.where(better, tile_token, best_token)


@triton.jit
def _chunk_race_kernel(
    logits_ptr, bitmask_ptr, rows_ptr, seeds_ptr, temperature_ptr, min_p_ptr, chunk_max_ptr,
    best_ptr, best_token_ptr, num_draws, vocab, logits_stride, bitmask_stride, bitmask_words,
    num_chunks,
    HAS_MASK: tl.constexpr, HAS_ROWS: tl.constexpr, HAS_MIN_P: tl.constexpr,
    CHUNKS_P2: tl.constexpr, BLOCK_DRAWS: tl.constexpr, CHUNK: tl.constexpr,
):
    # best, best_token: [num_draws, num_chunks]; tiles are [BLOCK_DRAWS, NOISE_GROUP]
    draws = tl.program_id(0) * BLOCK_DRAWS + tl.arange(0, BLOCK_DRAWS)
    chunk = tl.program_id(1)
    draw_ok = draws < num_draws
    if HAS_ROWS:
        row = tl.load(rows_ptr + draws, mask=draw_ok, other=0).to(tl.int64)
    else:  # padding draws past num_draws read row 0, never past the logits
        row = tl.where(draw_ok, draws, 0).to(tl.int64)
    seed = tl.load(seeds_ptr + draws, mask=draw_ok, other=0)[:, None]
    greedy, inv_temp = _inverse_temperature(
        tl.load(temperature_ptr + row, mask=draw_ok, other=1.0)[:, None])
    floor = tl.full([BLOCK_DRAWS], NEG_INF_KEY + 1, tl.int32)
    if HAS_MIN_P:  # the same floor as _sampling_threshold_kernel: x >= row max + ln(min_p)
        chunks = tl.arange(0, CHUNKS_P2)[None, :]
        row_max = tl.max(tl.load(chunk_max_ptr + row[:, None] * num_chunks + chunks,
                                 mask=draw_ok[:, None] & (chunks < num_chunks),
                                 other=float("-inf")), axis=1)
        min_p = tl.load(min_p_ptr + row, mask=draw_ok, other=0.0)
        min_p_key = _order_key(row_max + tl.log(tl.where(min_p > 0, min_p, 1.0)))
        floor = tl.where(min_p > 0, tl.maximum(floor, min_p_key), floor)
    floor = floor[:, None]
    row = row[:, None]
    offs = tl.arange(0, NOISE_GROUP)[None, :]
    best = tl.full([BLOCK_DRAWS], float("-inf"), tl.float32)
    best_token = tl.full([BLOCK_DRAWS], -1, tl.int32)
    # One Philox call per NOISE_GROUP counters gives the noise of 4 sub-tiles of NOISE_GROUP
    # tokens (the token -> counter, lane map of _gumbel_noise), raced in token order.
    for start in range(chunk * CHUNK, chunk * CHUNK + CHUNK, 4 * NOISE_GROUP):
        u0, u1, u2, u3 = tl.rand4x(seed, (start // 4) + offs)
        best, best_token = _race_tile(
            logits_ptr, bitmask_ptr, row, start, offs, u0, vocab, logits_stride,
            bitmask_stride, bitmask_words, inv_temp, greedy, floor, best, best_token, HAS_MASK)
        best, best_token = _race_tile(
            logits_ptr, bitmask_ptr, row, start + NOISE_GROUP, offs, u1, vocab, logits_stride,
            bitmask_stride, bitmask_words, inv_temp, greedy, floor, best, best_token, HAS_MASK)
        best, best_token = _race_tile(
            logits_ptr, bitmask_ptr, row, start + 2 * NOISE_GROUP, offs, u2, vocab,
            logits_stride, bitmask_stride, bitmask_words, inv_temp, greedy, floor, best,
            best_token, HAS_MASK)
        best, best_token = _race_tile(
            logits_ptr, bitmask_ptr, row, start + 3 * NOISE_GROUP, offs, u3, vocab,
            logits_stride, bitmask_stride, bitmask_words, inv_temp, greedy, floor, best,
            best_token, HAS_MASK)
    at = draws.to(tl.int64) * num_chunks + chunk
    tl.store(best_ptr + at, best, mask=draw_ok)
    tl.store(best_token_ptr + at, best_token, mask=draw_ok)


@triton.jit
def _chunk_reduce_kernel(
    best_ptr, best_token_ptr, rows_ptr, top_k_ptr, top_p_ptr, out_ptr, num_draws, vocab,
    num_chunks,
    HAS_ROWS: tl.constexpr, CHECK_FILTERS: tl.constexpr, BLOCK_DRAWS: tl.constexpr,
    CHUNKS_P2: tl.constexpr,
):
    # best, best_token: [num_draws, num_chunks] -> out: int64 [num_draws]
    draws = tl.program_id(0) * BLOCK_DRAWS + tl.arange(0, BLOCK_DRAWS)
    draw_ok = draws < num_draws
    chunks = tl.arange(0, CHUNKS_P2)[None, :]
    tile_ok = draw_ok[:, None] & (chunks < num_chunks)
    at = draws[:, None].to(tl.int64) * num_chunks + chunks
    best = tl.load(best_ptr + at, mask=tile_ok, other=float("-inf"))
    token = tl.load(best_token_ptr + at, mask=tile_ok, other=-1)
    # Chunks are in token order, so the first best chunk (tl.argmax breaks ties to the left)
    # holds the lowest best token; an empty row (-inf everywhere) gives -1.
    winner = tl.argmax(best, axis=1)
    chosen = tl.sum(tl.where(chunks == winner[:, None], token, 0), axis=1)
    chosen = tl.where(tl.max(best, axis=1) > float("-inf"), chosen, -1)
    store_ok = draw_ok
    if CHECK_FILTERS:
        if HAS_ROWS:
            row = tl.load(rows_ptr + draws, mask=draw_ok, other=0).to(tl.int64)
        else:
            row = draws.to(tl.int64)
        top_k = tl.load(top_k_ptr + row, mask=draw_ok, other=0)
        top_p = tl.load(top_p_ptr + row, mask=draw_ok, other=1.0)
        store_ok = draw_ok & ((top_k <= 0) | (top_k >= vocab)) & (top_p >= 1.0)
    tl.store(out_ptr + draws, chosen.to(tl.int64), mask=store_ok)


def sample_split(
    logits: torch.Tensor,
    temperature: torch.Tensor,
    top_k: torch.Tensor,
    top_p: torch.Tensor,
    min_p: torch.Tensor | None,
    seeds: torch.Tensor,
    bitmask: torch.Tensor | None,
    rows: torch.Tensor | None,
    out: torch.Tensor,
    check_filters: bool,
    draws_per_program: int,
) -> None:
    """Write ``out[d]`` for the draws whose row has top-k and top-p off (all of them unless
    ``check_filters``, which reads top_k/top_p per row on the device: no host sync, so a CUDA
    graph may capture it). Arguments are validated ``[rows]``/``[draws]`` tensors as in
    :func:`genai_rt.kernels.sampling.sample_tokens`; ``min_p`` None skips the max pass."""
    if CHUNK % (4 * NOISE_GROUP.value):
        raise ValueError(f"CHUNK ({CHUNK}) must be a multiple of 4 * NOISE_GROUP")
    num_rows, vocab = logits.shape
    num_draws = out.shape[0]
    num_chunks = triton.cdiv(vocab, CHUNK)
    chunks_p2 = triton.next_power_of_2(num_chunks)
    dev = logits.device
    has_mask = bitmask is not None
    mask_arg = bitmask if bitmask is not None else logits
    mask_stride = bitmask.stride(0) if bitmask is not None else 0
    mask_words = bitmask.shape[1] if bitmask is not None else 0
    # [draws, 64]-token tiles: one token a thread at one draw (2 warps), <= 32 at many.
    race_warps = max(2, min(8, draws_per_program * NOISE_GROUP.value // 1024))
    chunk_max = torch.empty(num_rows if min_p is not None else 1, num_chunks,
                            dtype=torch.float32, device=dev)
    if min_p is not None:
        _chunk_max_kernel[(num_rows, num_chunks)](
            logits, mask_arg, temperature, chunk_max, vocab, logits.stride(0), mask_stride,
            mask_words, num_chunks, HAS_MASK=has_mask, CHUNK=CHUNK, BLOCK=min(CHUNK, 1024),
            num_warps=4)
    best = torch.empty(num_draws, num_chunks, dtype=torch.float32, device=dev)
    best_token = torch.empty(num_draws, num_chunks, dtype=torch.int32, device=dev)
    draw_blocks = triton.cdiv(num_draws, draws_per_program)
    _chunk_race_kernel[(draw_blocks, num_chunks)](
        logits, mask_arg, rows if rows is not None else seeds, seeds, temperature,
        min_p if min_p is not None else temperature, chunk_max, best, best_token, num_draws,
        vocab, logits.stride(0), mask_stride, mask_words, num_chunks, HAS_MASK=has_mask,
        HAS_ROWS=rows is not None, HAS_MIN_P=min_p is not None, CHUNKS_P2=chunks_p2,
        BLOCK_DRAWS=draws_per_program, CHUNK=CHUNK, num_warps=race_warps,
    )
    reduce_draws = max(1, min(64, 4096 // chunks_p2))
    _chunk_reduce_kernel[(triton.cdiv(num_draws, reduce_draws),)](
        best, best_token, rows if rows is not None else seeds, top_k, top_p, out, num_draws,
        vocab, num_chunks, HAS_ROWS=rows is not None, CHECK_FILTERS=check_filters,
        BLOCK_DRAWS=reduce_draws, CHUNKS_P2=chunks_p2, num_warps=4,
    )
