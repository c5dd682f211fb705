"""Temperature-only sampling (and greedy), with an optional grammar bitmask: inverse-CDF draws
with ONE uniform number per row instead of Gumbel noise per token.

The Gumbel races this replaces spent a Philox call and two logs on every token of the
vocabulary; here a token costs one ``exp``:

1. ``_chunk_stats_kernel``, one program per (row tile, vocab chunk): over the chunk's allowed
   tokens of x = logits / T, the max ``m``, the sum ``s = sum(exp(x - m))`` and the first argmax.
   Every (row, chunk) pair is a program, so the whole GPU streams the logits once.
2. ``_chunk_pick_kernel``, one program per row tile: the row's chunk weights
   ``s_c * exp(m_c - max_c m_c)``, a uniform ``u`` from Philox keyed by (the row's seed, 0), the
   chunk where the cumulative weight first exceeds ``u * total``, then the token inside that one
   chunk the same way (reads CHUNK tokens a row, not the vocabulary). Greedy rows (T = 0) take
   the first maximum. A row with no allowed token gives -1.

A draw depends only on its row's logits and seed, never on the batch.

NOTE (estimate, not measured: no GPU in the session that wrote it): B64 x V128256 fp32 is 33 MB,
~8 us at the 4.2 TB/s copy rate measured on the H200, plus 2 launches; the split race measured
75 us in a graph there, with Philox + 2 logs a token. Pending: `make gpu-check` times both.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from genai_rt.kernels._tile_dot import INTERPRETED
from genai_rt.kernels.sampling import _inverse_temperature, _load_scaled

# Tokens per chunk: 32 chunks of a 128k vocabulary (2048 programs at batch 64). The interpreter
# uses 64 so that small test vocabularies span several chunks, the last one partial.
CHUNK = 64 if INTERPRETED else 4096


def sample_temperature_ref(
    logits: torch.Tensor, temperature: torch.Tensor, bitmask: torch.Tensor | None = None
) -> torch.Tensor:
    """The distribution each row is drawn from: softmax(logits / T) over the allowed tokens, a
    one-hot at the first allowed maximum for T = 0. Returns float64 [rows, vocab]."""
    from genai_rt.kernels.sampling import sampling_probs_ref

    rows = logits.shape[0]
    return sampling_probs_ref(logits, temperature, torch.zeros(rows, dtype=torch.int32),
                              torch.ones(rows), torch.zeros(rows), bitmask)


@triton.jit
def _chunk_stats_kernel(
    logits_ptr, bitmask_ptr, temperature_ptr, chunk_max_ptr, chunk_sum_ptr, chunk_arg_ptr,
    num_rows, vocab, logits_stride, bitmask_stride, bitmask_words, num_chunks,
    HAS_MASK: tl.constexpr, ROWS: tl.constexpr, CHUNK: tl.constexpr, BLOCK: tl.constexpr,
):
    # chunk_max, chunk_sum, chunk_arg: [rows, num_chunks]
    rows = tl.program_id(0) * ROWS + tl.arange(0, ROWS)
    chunk = tl.program_id(1)
    row_ok = rows < num_rows
    row = tl.where(row_ok, rows, 0).to(tl.int64)[:, None]
    _, inv_temp = _inverse_temperature(
        tl.load(temperature_ptr + row, mask=row_ok[:, None], other=1.0))
    offs = tl.arange(0, BLOCK)[None, :]
    best = tl.full([ROWS], float("-inf"), tl.float32)
    total = tl.zeros([ROWS], tl.float32)
    arg = tl.full([ROWS], -1, tl.int32)
    for start in range(chunk * CHUNK, chunk * CHUNK + CHUNK, BLOCK):
        x = _load_scaled(logits_ptr, bitmask_ptr, row, start + offs, vocab, logits_stride,
                         bitmask_stride, bitmask_words, inv_temp, HAS_MASK)
        tile_max = tl.max(x, axis=1)
        new_best = tl.maximum(best, tile_max)
        shift = tl.where(new_best == float("-inf"), 0.0, new_best)
        total = total * tl.exp(best - shift) + tl.sum(tl.exp(x - shift[:, None]), axis=1)
        better = tile_max > best  # strict: ties keep the earlier token
        arg = tl.where(better, start + tl.argmax(x, axis=1), arg)
        best = new_best
    at = rows.to(tl.int64) * num_chunks + chunk
    tl.store(chunk_max_ptr + at, best, mask=row_ok)
    tl.store(chunk_sum_ptr + at, total, mask=row_ok)
    tl.store(chunk_arg_ptr + at, arg, mask=row_ok)


@triton.jit
def _chunk_pick_kernel(
    logits_ptr, bitmask_ptr, temperature_ptr, seeds_ptr, chunk_max_ptr, chunk_sum_ptr,
    chunk_arg_ptr, out_ptr, num_rows, vocab, logits_stride, bitmask_stride, bitmask_words,
    num_chunks,
    HAS_MASK: tl.constexpr, ROWS: tl.constexpr, CHUNKS_P2: tl.constexpr, CHUNK: tl.constexpr,
    BLOCK: tl.constexpr,
):
    rows = tl.program_id(0) * ROWS + tl.arange(0, ROWS)
    row_ok = rows < num_rows
    row = tl.where(row_ok, rows, 0).to(tl.int64)
    greedy, inv_temp = _inverse_temperature(tl.load(temperature_ptr + row, mask=row_ok,
                                                    other=1.0))
    chunks = tl.arange(0, CHUNKS_P2)[None, :]
    stats_ok = row_ok[:, None] & (chunks < num_chunks)
    at = row[:, None] * num_chunks + chunks
    m = tl.load(chunk_max_ptr + at, mask=stats_ok, other=float("-inf"))  # [ROWS, CHUNKS_P2]
    s = tl.load(chunk_sum_ptr + at, mask=stats_ok, other=0.0)
    row_max = tl.max(m, axis=1)
    empty = row_max == float("-inf")
    weight = tl.where(m > float("-inf"),
                      s * tl.exp(m - tl.where(empty, 0.0, row_max)[:, None]), 0.0)
    cumulative = tl.cumsum(weight, axis=1)
    u = tl.rand(tl.load(seeds_ptr + row, mask=row_ok, other=0), tl.zeros([ROWS], tl.int32))
    target = u * tl.sum(weight, axis=1)  # u in [0, 1): below the total
    # The first chunk whose cumulative weight passes the target (a zero-weight chunk never does).
    crossed = (cumulative > target[:, None]) & (weight > 0)
    chosen = tl.min(tl.where(crossed, chunks, CHUNKS_P2), axis=1)
    # Rounding can leave no chunk past the target: take the last one with weight then.
    last = tl.max(tl.where(weight > 0, chunks, -1), axis=1)
    chosen = tl.where(chosen == CHUNKS_P2, last, chosen)
    is_chosen = chunks == chosen[:, None]
    before = tl.sum(tl.where(is_chosen, cumulative - weight, 0.0), axis=1)
    chunk_m = tl.sum(tl.where(is_chosen, m, 0.0), axis=1)
    # The target inside the chosen chunk, in that chunk's own scale exp(x - chunk_m).
    inner = (target - before) * tl.exp(tl.where(empty, 0.0, row_max - chunk_m))

    # Greedy: the chunk holding the first maximum, and its argmax.
    best_chunk = tl.min(tl.where(m == row_max[:, None], chunks, CHUNKS_P2), axis=1)
    greedy_token = tl.sum(tl.where(chunks == best_chunk[:, None],
                                   tl.load(chunk_arg_ptr + at, mask=stats_ok, other=0), 0), axis=1)

    offs = tl.arange(0, BLOCK)[None, :]
    first = (tl.where(chosen >= 0, chosen, 0) * CHUNK).to(tl.int64)[:, None]
    running = tl.zeros([ROWS], tl.float32)
    token = tl.full([ROWS], -1, tl.int32)
    last_token = tl.full([ROWS], -1, tl.int32)
    for start in range(0, CHUNK, BLOCK):
        tokens = first + start + offs
        x = _load_scaled(logits_ptr, bitmask_ptr, row[:, None], tokens, vocab, logits_stride,
                         bitmask_stride, bitmask_words, inv_temp[:, None], HAS_MASK)
        p = tl.where(x > float("-inf"), tl.exp(x - chunk_m[:, None]), 0.0)
        cum = running[:, None] + tl.cumsum(p, axis=1)
        hit = (cum > inner[:, None]) & (p > 0)
        hit_at = tl.min(tl.where(hit, tokens, 2147483647), axis=1).to(tl.int32)
        token = tl.where((token < 0) & (hit_at < 2147483647), hit_at, token)
        last_token = tl.maximum(last_token, tl.max(tl.where(p > 0, tokens, -1), axis=1).to(
            tl.int32))
        running += tl.sum(p, axis=1)
    token = tl.where(token < 0, last_token, token)
    token = tl.where(greedy, greedy_token, token)
    token = tl.where(empty, -1, token)
    tl.store(out_ptr + rows, token.to(tl.int64), mask=row_ok)


def sample_temperature(
    logits: torch.Tensor,
    temperature: torch.Tensor,
    seeds: torch.Tensor,
    bitmask: torch.Tensor | None = None,
    out: torch.Tensor | None = None,
    rows_per_program: int = 1,
) -> torch.Tensor:
    """One token per row from softmax(logits / T) over the allowed tokens (T = 0: greedy).

    Parameters
    ----------
    logits : torch.Tensor
        ``[rows, vocab]`` fp32/fp16/bf16 with contiguous rows.
    temperature : torch.Tensor
        fp32 ``[rows]``; 0 is greedy.
    seeds : torch.Tensor
        int64 ``[rows]``: the Philox key of each row's uniform (vary it per step).
    bitmask : torch.Tensor, optional
        int32 ``[rows, words]``; bit 0 forbids the token; tokens past ``32 * words`` allowed.
    out : torch.Tensor, optional
        int64 ``[rows]`` to write into.
    rows_per_program : int
        Rows handled side by side by one program (a power of two): 1 on a GPU; more makes the
        interpreter fast on many short rows.

    Returns
    -------
    torch.Tensor
        int64 ``[rows]``; -1 for a row with no allowed token.

    Example
    -------
    >>> sample_temperature(logits, torch.full((n,), 0.7, device=dev),
    ...                    torch.arange(n, device=dev))  # doctest: +SKIP
    """
    if logits.dim() != 2 or logits.stride(1) != 1:
        raise ValueError(f"logits must be [rows, vocab] with contiguous rows, "
                         f"got {tuple(logits.shape)}")
    num_rows, vocab = logits.shape
    if temperature.shape != (num_rows,) or temperature.dtype != torch.float32:
        raise ValueError(f"temperature must be float32 [{num_rows}], got {temperature.dtype} "
                         f"{tuple(temperature.shape)}")
    if seeds.shape != (num_rows,) or seeds.dtype != torch.int64:
        raise ValueError(f"seeds must be int64 [{num_rows}], got {seeds.dtype} "
                         f"{tuple(seeds.shape)}")
    if bitmask is not None and (bitmask.dtype != torch.int32 or bitmask.dim() != 2
                                or bitmask.shape[0] != num_rows or bitmask.stride(1) != 1):
        raise ValueError(f"bitmask must be int32 [{num_rows}, words], got {bitmask.dtype} "
                         f"{tuple(bitmask.shape)}")
    if rows_per_program < 1 or rows_per_program & (rows_per_program - 1):
        raise ValueError(f"rows_per_program must be a power of two, got {rows_per_program}")
    out = torch.empty(num_rows, dtype=torch.int64, device=logits.device) if out is None else out
    if num_rows == 0:
        return out
    num_chunks = triton.cdiv(vocab, CHUNK)
    stats = [torch.empty(num_rows, num_chunks, dtype=dtype, device=logits.device)
             for dtype in (torch.float32, torch.float32, torch.int32)]
    mask_arg = bitmask if bitmask is not None else logits
    mask_stride = bitmask.stride(0) if bitmask is not None else 0
    mask_words = bitmask.shape[1] if bitmask is not None else 0
    row_blocks = triton.cdiv(num_rows, rows_per_program)
    block = max(16, min(CHUNK, 4096 // rows_per_program, 1024))
    _chunk_stats_kernel[(row_blocks, num_chunks)](
        logits, mask_arg, temperature, *stats, num_rows, vocab, logits.stride(0), mask_stride,
        mask_words, num_chunks, HAS_MASK=bitmask is not None, ROWS=rows_per_program,
        CHUNK=CHUNK, BLOCK=block, num_warps=4)
    _chunk_pick_kernel[(row_blocks,)](
        logits, mask_arg, temperature, seeds, *stats, out, num_rows, vocab, logits.stride(0),
        mask_stride, mask_words, num_chunks, HAS_MASK=bitmask is not None,
        ROWS=rows_per_program, CHUNKS_P2=triton.next_power_of_2(num_chunks), CHUNK=CHUNK,
        BLOCK=block, num_warps=4)
    return out
