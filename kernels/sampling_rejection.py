"""Top-k / top-p / min-p sampling by rejection (FlashInfer's pivot method): no sort, no
threshold search, usually 1-3 rounds.

Filters follow Hugging Face's order, as the engine's torch Sampler does: temperature → top-k
(keep x ≥ the k-th largest, ties kept) → top-p over what top-k kept (keep the fewest largest
tokens whose mass reaches top_p of the top-k mass, ties kept) → min-p (keep x ≥ max + ln min_p).
Each filter keeps an upper set of values, so a token of value v is kept by top-k iff fewer than
k tokens are strictly above v, and by top-p iff the mass strictly above v is < top_p · total.

One program per row (tile of rows). Round r draws a candidate v from softmax(x) restricted to the
support {x ≥ floor, x > pivot} by inverse CDF with one uniform (Philox keyed by (seed, r)), then
counts the tokens and the mass strictly above v. Accepted when both filters keep v; otherwise the
pivot rises to v. Every rejected token lies below every kept one, so the support always holds
the kept set and an accepted draw has exactly the target distribution; the mass strictly above
the rejected candidate is the next round's support mass. The row maximum is always accepted, so
the loop ends; the support mass roughly halves per rejection (the candidate's place in it is
uniform), so a peaked row takes 1-2 rounds.

With both top-k and top-p on, top-p's total is the top-k mass, which needs the k-th value: the
launcher finds it first (the radix select of :func:`sampling_thresholds` with top-p
off), or the caller passes it as ``top_k_floor`` (int32 order keys, ``_order_key``).
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl
from genai_rt.kernels._tile_dot import INTERPRETED
from genai_rt.kernels.sampling import NEG_INF_KEY, _inverse_temperature, _load_scaled, _order_key


def sample_rejection_ref(
    logits: torch.Tensor,
    temperature: torch.Tensor,
    top_k: torch.Tensor,
    top_p: torch.Tensor,
    min_p: torch.Tensor,
    bitmask: torch.Tensor | None = None,
) -> torch.Tensor:
    """The distribution each row is drawn from, by a full sort, in HF's order (top-k → top-p →
    min-p). Per-row arguments are ``[rows]``; top_k ≤ 0 or ≥ vocab, top_p 1 and min_p 0 are off.
    Returns float64 [rows, vocab]."""
    from genai_rt.kernels.sampling import _allowed_ref

    rows, vocab = logits.shape
    allowed = _allowed_ref(bitmask, rows, vocab, "cpu")
    probs = torch.zeros(rows, vocab, dtype=torch.float64)
    for r in range(rows):
        x = logits[r].double().cpu().masked_fill(~allowed[r], float("-inf")) / float(
            temperature[r])
        keep = x > float("-inf")
        k = int(top_k[r])
        if 0 < k < int(keep.sum()):
            keep &= x >= torch.sort(x[keep], descending=True).values[k - 1]
        if float(top_p[r]) < 1:
            kept = torch.sort(x[keep], descending=True).values
            cum = torch.exp(kept - kept[0]).cumsum(0)
            cut = int(torch.searchsorted(cum, float(top_p[r]) * float(cum[-1])))
            keep &= x >= kept[min(cut, kept.numel() - 1)]
        if float(min_p[r]) > 0:
            keep &= x >= x.max() + math.log(float(min_p[r]))
        p = torch.exp(x - x.max()).masked_fill(~keep, 0.0)
        probs[r] = p / p.sum()
    return probs


MAX_ROUNDS: tl.constexpr = tl.constexpr(256)


@triton.jit
def _support_mass(logits_ptr, bitmask_ptr, row, vocab, logits_stride, bitmask_stride,
                  bitmask_words, inv_temp, row_max, low, HAS_MASK: tl.constexpr,
                  ROWS: tl.constexpr, BLOCK: tl.constexpr):
    """sum(exp(x - row_max)) over the tokens with key >= low: [ROWS]."""
    offs = tl.arange(0, BLOCK)[None, :]
    total = tl.zeros([ROWS], tl.float32)
    for start in range(0, vocab, BLOCK):
        x = _load_scaled(logits_ptr, bitmask_ptr, row, start + offs, vocab, logits_stride,
                         bitmask_stride, bitmask_words, inv_temp, HAS_MASK)
        kept = (_order_key(x) >= low[:, None]) & (x > float("-inf"))
        total += tl.sum(tl.where(kept, tl.exp(x - row_max[:, None]), 0.0), axis=1)
    return total


@triton.jit
def _rejection_kernel(
    logits_ptr, bitmask_ptr, temperature_ptr, top_k_ptr, top_p_ptr, min_p_ptr, floor_ptr,
    seeds_ptr, out_ptr, rounds_ptr, num_rows, vocab, logits_stride, bitmask_stride,
    bitmask_words,
    HAS_MASK: tl.constexpr, HAS_FLOOR: tl.constexpr, ROWS: tl.constexpr, BLOCK: tl.constexpr,
):
    rows = tl.program_id(0) * ROWS + tl.arange(0, ROWS)
    row_ok = rows < num_rows
    row = tl.where(row_ok, rows, 0).to(tl.int64)
    greedy, inv_temp = _inverse_temperature(tl.load(temperature_ptr + row, mask=row_ok,
                                                    other=1.0))
    top_k = tl.load(top_k_ptr + row, mask=row_ok, other=0)
    top_p = tl.load(top_p_ptr + row, mask=row_ok, other=1.0)
    min_p = tl.load(min_p_ptr + row, mask=row_ok, other=0.0)
    seed = tl.load(seeds_ptr + row, mask=row_ok, other=0)
    k_on = (top_k > 0) & (top_k < vocab)
    p_on = top_p < 1.0
    row2 = row[:, None]
    inv_temp2 = inv_temp[:, None]
    offs = tl.arange(0, BLOCK)[None, :]

    # Pass 0: the row max (and its first token, for greedy rows).
    row_max = tl.full([ROWS], float("-inf"), tl.float32)
    arg = tl.full([ROWS], -1, tl.int32)
    for start in range(0, vocab, BLOCK):
        x = _load_scaled(logits_ptr, bitmask_ptr, row2, start + offs, vocab, logits_stride,
                         bitmask_stride, bitmask_words, inv_temp2, HAS_MASK)
        tile_max = tl.max(x, axis=1)
        arg = tl.where(tile_max > row_max, start + tl.argmax(x, axis=1), arg)
        row_max = tl.maximum(row_max, tile_max)
    empty = row_max == float("-inf")
    row_max = tl.where(empty, 0.0, row_max)

    # top-p's total: the mass of what top-k keeps (floor_keys), else of every allowed token.
    k_floor = tl.full([ROWS], NEG_INF_KEY + 1, tl.int32)
    if HAS_FLOOR:
        k_floor = tl.maximum(k_floor, tl.load(floor_ptr + row, mask=row_ok, other=0))
    p_total = _support_mass(logits_ptr, bitmask_ptr, row2, vocab, logits_stride, bitmask_stride,
                            bitmask_words, inv_temp2, row_max, k_floor, HAS_MASK, ROWS, BLOCK)
    # The support's floor adds min-p: x >= max + ln(min_p).
    floor = k_floor
    min_p_key = _order_key(row_max + tl.log(tl.where(min_p > 0, min_p, 1.0)))
    floor = tl.where(min_p > 0, tl.maximum(floor, min_p_key), floor)
    mass = p_total
    if tl.max(tl.where(row_ok & (min_p > 0), 1, 0), axis=0) > 0:
        mass = _support_mass(logits_ptr, bitmask_ptr, row2, vocab, logits_stride,
                             bitmask_stride, bitmask_words, inv_temp2, row_max, floor, HAS_MASK,
                             ROWS, BLOCK)

    low = floor  # the support: key >= low (low rises past each rejected candidate)
    done = ~row_ok | greedy | empty
    token = tl.where(greedy & ~empty, arg, -1)
    rounds = tl.zeros([ROWS], tl.int32)
    while tl.max(tl.where(done, 0, 1), axis=0) > 0:
        # Draw a candidate from the support by inverse CDF (one uniform a row).
        u = tl.rand(seed, rounds)
        target = u * mass
        running = tl.zeros([ROWS], tl.float32)
        candidate = tl.full([ROWS], -1, tl.int32)
        last = tl.full([ROWS], -1, tl.int32)
        for start in range(0, vocab, BLOCK):
            tokens = start + offs
            x = _load_scaled(logits_ptr, bitmask_ptr, row2, tokens, vocab, logits_stride,
                             bitmask_stride, bitmask_words, inv_temp2, HAS_MASK)
            in_support = (_order_key(x) >= low[:, None]) & (x > float("-inf"))
            p = tl.where(in_support, tl.exp(x - row_max[:, None]), 0.0)
            cum = running[:, None] + tl.cumsum(p, axis=1)
            hit_at = tl.min(tl.where((cum > target[:, None]) & (p > 0), tokens, 2147483647),
                            axis=1).to(tl.int32)
            candidate = tl.where((candidate < 0) & (hit_at < 2147483647), hit_at, candidate)
            last = tl.maximum(last, tl.max(tl.where(p > 0, tokens, -1), axis=1).to(tl.int32))
            running += tl.sum(p, axis=1)
        # Rounding can leave the target past the scan's sum: the last support token then.
        candidate = tl.where(candidate < 0, last, candidate)
        value = tl.load(logits_ptr + row * logits_stride + tl.where(candidate >= 0, candidate, 0),
                        mask=~done, other=0.0).to(tl.float32) * inv_temp
        value_key = _order_key(value)
        # What lies strictly above the candidate.
        count_above = tl.zeros([ROWS], tl.int32)
        mass_above = tl.zeros([ROWS], tl.float32)
        for start in range(0, vocab, BLOCK):
            x = _load_scaled(logits_ptr, bitmask_ptr, row2, start + offs, vocab, logits_stride,
                             bitmask_stride, bitmask_words, inv_temp2, HAS_MASK)
            above = _order_key(x) > value_key[:, None]
            count_above += tl.sum(above.to(tl.int32), axis=1)
            mass_above += tl.sum(tl.where(above, tl.exp(x - row_max[:, None]), 0.0), axis=1)
        accept = (~k_on | (count_above < top_k)) & (~p_on | (mass_above < top_p * p_total))
        accept = accept | (count_above == 0)  # the max is always kept (rounding aside)
        # A finite row ends within its count of distinct values, and each rejection halves the
        # support mass on average (~17 rounds for top-k 1 over a flat 128k row); MAX_ROUNDS
        # bounds the loop whatever the input, accepting the candidate then (in the support).
        accept = accept | (rounds + 1 >= MAX_ROUNDS)
        # No candidate: NaN/inf logits (the caller flags those rows); stop, never spin.
        stuck = candidate < 0
        newly = ~done & accept & ~stuck
        done = done | stuck
        token = tl.where(newly, candidate, token)
        rejected = ~done & ~accept
        low = tl.where(rejected, value_key + 1, low)
        mass = tl.where(rejected, mass_above, mass)
        rounds = tl.where(~done, rounds + 1, rounds)
        done = done | newly
    tl.store(out_ptr + rows, token.to(tl.int64), mask=row_ok)
    tl.store(rounds_ptr + rows, rounds, mask=row_ok)


def sample_rejection(
    logits: torch.Tensor,
    temperature: torch.Tensor,
    top_k: torch.Tensor,
    top_p: torch.Tensor,
    min_p: torch.Tensor,
    seeds: torch.Tensor,
    bitmask: torch.Tensor | None = None,
    out: torch.Tensor | None = None,
    rows_per_program: int = 1,
    rounds: torch.Tensor | None = None,
    top_k_and_top_p: bool | None = None,
    top_k_floor: torch.Tensor | None = None,
) -> torch.Tensor:
    """One token per row from the distribution :func:`sample_rejection_ref` states.

    Parameters
    ----------
    logits : torch.Tensor
        ``[rows, vocab]`` fp32/fp16/bf16 with contiguous rows.
    temperature, top_p, min_p : torch.Tensor
        fp32 ``[rows]``; temperature 0 is greedy, top_p 1 and min_p 0 are off.
    top_k : torch.Tensor
        int32 ``[rows]``; ≤ 0 or ≥ vocab is off.
    seeds : torch.Tensor
        int64 ``[rows]``: the Philox key of each row's uniforms (vary it per step).
    bitmask : torch.Tensor, optional
        int32 ``[rows, words]``; bit 0 forbids the token.
    out : torch.Tensor, optional
        int64 ``[rows]`` to write into.
    rows_per_program : int
        Rows side by side in one program (power of two): 1 on a GPU, more in the interpreter.
    rounds : torch.Tensor, optional
        int32 ``[rows]``: receives the rounds each row took (for tests and benchmarks).
    top_k_and_top_p : bool, optional
        Whether some row has both top-k and top-p on (then the k-th values are found first);
        None reads it from the tensors (a device sync: callers that know should say).
    top_k_floor : torch.Tensor, optional
        int32 ``[rows]`` order keys of each row's k-th largest x (what
        :func:`sampling_thresholds` returns with top-p and min-p off), when the caller has them.

    Returns
    -------
    torch.Tensor
        int64 ``[rows]``; -1 for a row with no allowed token.
    """
    from genai_rt.kernels.sampling import sampling_thresholds

    if logits.dim() != 2 or logits.stride(1) != 1:
        raise ValueError(f"logits must be [rows, vocab] with contiguous rows, "
                         f"got {tuple(logits.shape)}")
    num_rows, vocab = logits.shape
    for name, t, dtype in (("temperature", temperature, torch.float32),
                           ("top_k", top_k, torch.int32), ("top_p", top_p, torch.float32),
                           ("min_p", min_p, torch.float32), ("seeds", seeds, torch.int64)):
        if t.shape != (num_rows,) or t.dtype != dtype:
            raise ValueError(f"{name} must be {dtype} [{num_rows}], got {t.dtype} "
                             f"{tuple(t.shape)}")
    if bitmask is not None and (bitmask.dtype != torch.int32 or bitmask.dim() != 2
                                or bitmask.shape[0] != num_rows or bitmask.stride(1) != 1):
        raise ValueError(f"bitmask must be int32 [{num_rows}, words], got {bitmask.dtype} "
                         f"{tuple(bitmask.shape)}")
    if rows_per_program < 1 or rows_per_program & (rows_per_program - 1):
        raise ValueError(f"rows_per_program must be a power of two, got {rows_per_program}")
    dev = logits.device
    out = torch.empty(num_rows, dtype=torch.int64, device=dev) if out is None else out
    rounds = torch.empty(num_rows, dtype=torch.int32, device=dev) if rounds is None else rounds
    if num_rows == 0:
        return out
    # Rows with top-k and top-p both on need the top-k mass: the k-th value by radix select.
    if top_k_and_top_p is None:
        top_k_and_top_p = bool(((top_k > 0) & (top_k < vocab) & (top_p < 1)).any())
    floor_keys = top_k_floor
    if floor_keys is None and top_k_and_top_p:
        floor_keys = sampling_thresholds(logits, temperature, top_k, torch.ones_like(top_p),
                                         torch.zeros_like(min_p), bitmask)
    mask_arg = bitmask if bitmask is not None else logits
    # NOTE: the interpreter runs a [rows, BLOCK] tile as one numpy op: wide tiles there.
    block = min(1024 if INTERPRETED else max(16, 4096 // rows_per_program),
                triton.next_power_of_2(vocab))
    _rejection_kernel[(triton.cdiv(num_rows, rows_per_program),)](
        logits, mask_arg, temperature, top_k, top_p, min_p,
        floor_keys if floor_keys is not None else top_k, seeds, out, rounds, num_rows, vocab,
        logits.stride(0), bitmask.stride(0) if bitmask is not None else 0,
        bitmask.shape[1] if bitmask is not None else 0, HAS_MASK=bitmask is not None,
        HAS_FLOOR=floor_keys is not None, ROWS=rows_per_program, BLOCK=block, num_warps=8,
    )
    return out
