"""Token sampling on the GPU without sorting the vocabulary.

Rows with top-k and top-p off (temperature sampling or greedy, with bitmask and min-p) take the
split-row path of :mod:`genai_rt.kernels.sampling_split` (every (draw, vocab chunk) pair a
program). The others take two launches here:

1. ``_sampling_threshold_kernel``, one program per logits row: the row max, then the smallest
   kept value as an int32 order key of the float. Min-p is a closed form; top-k is a radix
   select (4 passes of an 8-bit histogram); top-p packs the candidates above a provable window
   (tokens too light to ever be kept are skipped) into a scratch row in one pass, then sorts
   them in registers (≤ ``KEPT_CAP``) or bisects on the key over the packed row
   (≤ ``PACK_CAP``) or, past that, over the whole row (≤ 32 passes). No full sort of the
   vocabulary, no [rows, vocab] scratch.
2. ``_sample_race_kernel``, one program per draw: an exponential race (Gumbel-max) over the kept
   tokens, ``argmax(x_i - log(-log(u_i)))`` with u from Philox keyed by (the draw's seed, i),
   the same noise as the split path (``_gumbel_noise``), which draws token i with probability
   softmax(x)_i restricted to the kept set, in one pass.

Semantics per row, in this order (the reference :func:`sampling_probs_ref` states them in torch):
bitmask (forbidden tokens dropped) → temperature (x = logits / T; T = 0 means greedy) →
min-p (keep p_i ≥ min_p · p_max) → top-k (keep x_i ≥ the k-th largest; ties at it kept) →
top-p (keep the fewest largest tokens whose renormalised mass reaches top_p; ties kept).
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl
from genai_rt.kernels._tile_dot import INTERPRETED


def _allowed_ref(bitmask: torch.Tensor | None, rows: int, vocab: int, device) -> torch.Tensor:
    if bitmask is None:
        return torch.ones(rows, vocab, dtype=torch.bool, device=device)
    shifts = torch.arange(32, device=bitmask.device, dtype=torch.int32)
    bits = ((bitmask.unsqueeze(-1) >> shifts) & 1).reshape(bitmask.shape[0], -1)
    allowed = torch.ones(rows, vocab, dtype=torch.bool)
    limit = min(vocab, bits.shape[1])
    allowed[:, :limit] = bits[:, :limit].bool().cpu()
    return allowed.to(device)


def sampling_probs_ref(
    logits: torch.Tensor,
    temperature: torch.Tensor,
    top_k: torch.Tensor,
    top_p: torch.Tensor,
    min_p: torch.Tensor,
    bitmask: torch.Tensor | None = None,
) -> torch.Tensor:
    """The distribution each row is sampled from, with a full sort (the reference).

    logits: [rows, vocab]; temperature, top_p, min_p: float [rows]; top_k: int [rows] (≤ 0 or
    ≥ vocab: off); bitmask: int32 [rows, words] or None. Returns float64 [rows, vocab]; a greedy
    row (temperature 0) is one-hot at its first maximum.
    """
    rows, vocab = logits.shape
    allowed = _allowed_ref(bitmask, rows, vocab, logits.device)
    probs = torch.zeros(rows, vocab, dtype=torch.float64)
    for r in range(rows):
        x = logits[r].double().masked_fill(~allowed[r], float("-inf")).cpu()
        t = float(temperature[r])
        if t <= 0:
            probs[r, int(torch.argmax(x))] = 1.0
            continue
        x = x / t
        keep = x > float("-inf")
        if float(min_p[r]) > 0:
            keep &= x >= x.max() + math.log(float(min_p[r]))
        k = int(top_k[r])
        if 0 < k < int(keep.sum()):
            keep &= x >= torch.sort(x[keep], descending=True).values[k - 1]
        if float(top_p[r]) < 1:
            kept = torch.sort(x[keep], descending=True).values
            mass = torch.exp(kept - kept[0])
            cum = mass.cumsum(0)
            cut = int(torch.searchsorted(cum, float(top_p[r]) * float(cum[-1])))
            keep &= x >= kept[min(cut, kept.numel() - 1)]
        p = torch.exp(x - x.max()).masked_fill(~keep, 0.0)
        probs[r] = p / p.sum()
    return probs


# top-p candidates (the kept set above the window) up to KEPT_CAP are sorted in registers; up
# to PACK_CAP they are bisected in a packed scratch row (64 KiB, cache-resident), past that the
# whole row is bisected.
# NOTE: the interpreter sorts 1024 values in ~4 s (a Python-level bitonic network), so tests
# there use 128/512: every path still runs on the test shapes.
KEPT_CAP = 128 if INTERPRETED else 1024
PACK_CAP = 512 if INTERPRETED else 16384
# _order_key(-inf): 0xFF800000 as int32, magnitude bits flipped (tested against torch).
NEG_INF_KEY: tl.constexpr = tl.constexpr(-2139095041)


@triton.jit
def _order_key(x):
    # float32 -> int32 with the same order (negative floats have their magnitude bits flipped).
    bits = x.to(tl.int32, bitcast=True)
    return tl.where(bits >= 0, bits, bits ^ 0x7FFFFFFF)


# Philox counters of the race noise: token t takes lane (t // NOISE_GROUP) % 4 of the 4 outputs
# of counter (t // (4 * NOISE_GROUP)) * NOISE_GROUP + t % NOISE_GROUP. One Philox call (~60
# integer instructions) then serves 4 tokens of the split path instead of 1 (tl.rand computes
# all 4 outputs and keeps one); a fixed function of t, whatever the tiling.
NOISE_GROUP: tl.constexpr = tl.constexpr(64)


@triton.jit
def _noise_from_uniform(u):
    """Gumbel noise -log(E), E = -log(u) ~ Exp(1). tl.rand4x's scale keeps u <= 1 - 2^-23
    (never 1.0, whose noise would be +inf); u = 0 gives -inf, never drawn."""
    return -tl.log(-tl.log(u))


@triton.jit
def _gumbel_noise(seed, tokens):
    """The noise of each token, Philox keyed by (seed, token) (see NOISE_GROUP): a token's
    noise depends on nothing else, so a draw never depends on the batch or the path."""
    counter = (tokens // (4 * NOISE_GROUP)) * NOISE_GROUP + tokens % NOISE_GROUP
    lane = (tokens // NOISE_GROUP) % 4
    u0, u1, u2, u3 = tl.rand4x(seed, counter)
    u = tl.where(lane == 0, u0, tl.where(lane == 1, u1, tl.where(lane == 2, u2, u3)))
    return _noise_from_uniform(u)


@triton.jit
def _inverse_temperature(temperature):
    """(greedy, 1 / T): both kernels scale logits by the same fp32 value, so keys agree."""
    greedy = temperature <= 0
    return greedy, tl.where(greedy, 1.0, 1.0 / tl.where(greedy, 1.0, temperature))


@triton.jit
def _load_scaled(logits_ptr, bitmask_ptr, row, tokens, vocab, logits_stride, bitmask_stride,
                 bitmask_words, inv_temp, HAS_MASK: tl.constexpr):
    """x = logits * inv_temp with forbidden and out-of-range tokens at -inf; tokens past the
    mask's 32 * words bits are allowed (vLLM pads the vocabulary that way)."""
    ok = tokens < vocab
    x = tl.load(logits_ptr + row * logits_stride + tokens, mask=ok,
                other=float("-inf")).to(tl.float32) * inv_temp
    if HAS_MASK:
        words = tl.load(bitmask_ptr + row * bitmask_stride + tokens // 32,
                        mask=ok & (tokens // 32 < bitmask_words), other=-1)
        ok = ok & (((words >> (tokens % 32)) & 1) != 0)
    return tl.where(ok, x, float("-inf"))


@triton.jit
def _top_k_radix(logits_ptr, bitmask_ptr, row, lo, top_k, vocab, logits_stride, bitmask_stride,
                 bitmask_words, inv_temp, HAS_MASK: tl.constexpr, BLOCK: tl.constexpr):
    """The k-th largest key among the keys >= lo (lo itself when fewer than k are): a radix
    select over the unsigned key, 8 bits a pass, so 4 passes instead of 32 bisection steps."""
    offs = tl.arange(0, BLOCK)
    bins = tl.arange(0, 512)  # digits 0..255; 256 collects the keys outside the prefix
    prefix = lo - lo  # int64 zero: the digits chosen so far, in the unsigned-key domain
    remaining = top_k.to(tl.int64)
    enough = remaining > 0
    for i in tl.static_range(4):
        shift = 24 - 8 * i  # plain name: Triton 3.6 refuses a constexpr re-bound per step
        hist = tl.zeros([512], tl.int32)
        for start in range(0, vocab, BLOCK):
            x = _load_scaled(logits_ptr, bitmask_ptr, row, start + offs, vocab, logits_stride,
                             bitmask_stride, bitmask_words, inv_temp, HAS_MASK)
            key = _order_key(x).to(tl.int64)
            unsigned_key = key + 2147483648
            match = (key >= lo) & ((unsigned_key >> (shift + 8)) == (prefix >> (shift + 8)))
            digit = tl.where(match, (unsigned_key >> shift) & 255, 256).to(tl.int32)
            hist += tl.histogram(digit, 512)
        counts = tl.where(bins < 256, hist, 0)
        total = tl.sum(counts, axis=0)
        at_or_above = total - tl.cumsum(counts, axis=0) + counts  # keys with digit >= bin
        chosen = tl.max(tl.where((at_or_above >= remaining) & (bins < 256), bins, -1), axis=0)
        chosen = tl.maximum(chosen, 0)
        above = tl.sum(tl.where((bins > chosen) & (bins < 256), counts, 0), axis=0)
        if i == 0:
            enough = total >= remaining
        remaining = remaining - above
        prefix = prefix | (chosen.to(tl.int64) << shift)
    return tl.where(enough, tl.maximum(lo, prefix - 2147483648), lo)


@triton.jit
def _gather_kept(logits_ptr, bitmask_ptr, scratch_ptr, row, lo, window, vocab, logits_stride,
                 bitmask_stride, bitmask_words, inv_temp, row_max, HAS_MASK: tl.constexpr,
                 BLOCK: tl.constexpr, PACK: tl.constexpr):
    """One pass: the mass of the keys >= lo (relative to row_max), and the values with key >=
    window packed into scratch[row, :PACK] in token order, with their count (past PACK only
    the first PACK were written)."""
    offs = tl.arange(0, BLOCK)
    count = 0
    total = 0.0
    for start in range(0, vocab, BLOCK):
        x = _load_scaled(logits_ptr, bitmask_ptr, row, start + offs, vocab, logits_stride,
                         bitmask_stride, bitmask_words, inv_temp, HAS_MASK)
        key = _order_key(x).to(tl.int64)
        total += tl.sum(tl.where(key >= lo, tl.exp(x - row_max), 0.0), axis=0)
        keep = key >= window
        slot = count + tl.cumsum(keep.to(tl.int32), axis=0) - 1
        tl.store(scratch_ptr + row * PACK + slot, x, mask=keep & (slot < PACK))
        count += tl.sum(keep.to(tl.int32), axis=0)
    return count, total


@triton.jit
def _sampling_threshold_kernel(
    logits_ptr, bitmask_ptr, temperature_ptr, top_k_ptr, top_p_ptr, min_p_ptr,
    threshold_ptr, scratch_ptr, vocab, log_vocab, logits_stride, bitmask_stride, bitmask_words,
    HAS_MASK: tl.constexpr, BLOCK: tl.constexpr, CAP: tl.constexpr, PACK: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    greedy, inv_temp = _inverse_temperature(tl.load(temperature_ptr + row))
    top_k = tl.load(top_k_ptr + row)
    top_p = tl.load(top_p_ptr + row)
    min_p = tl.load(min_p_ptr + row)
    offs = tl.arange(0, BLOCK)

    # Pass 1: max and sum of exp(x - max) (online), for min-p and the top-p window.
    row_max = float("-inf")
    row_sum = 0.0
    for start in range(0, vocab, BLOCK):
        x = _load_scaled(logits_ptr, bitmask_ptr, row, start + offs, vocab, logits_stride,
                         bitmask_stride, bitmask_words, inv_temp, HAS_MASK)
        new_max = tl.maximum(row_max, tl.max(x, axis=0))
        shift = tl.where(new_max == float("-inf"), 0.0, new_max)
        row_sum = row_sum * tl.exp(row_max - shift) + tl.sum(tl.exp(x - shift), axis=0)
        row_max = new_max

    # Smallest kept key: above -inf, and min-p's p_i >= min_p * p_max <=> x_i >= max + ln(min_p).
    floor_key = NEG_INF_KEY + 1
    min_p_value = row_max + tl.log(tl.where(min_p > 0, min_p, 1.0))
    lo = tl.where(min_p > 0, tl.maximum(floor_key, _order_key(min_p_value).to(tl.int64)),
                  floor_key)
    top_k_on = (greedy == 0) & (top_k > 0) & (top_k < vocab)
    if top_k_on:
        lo = _top_k_radix(logits_ptr, bitmask_ptr, row, lo, top_k, vocab, logits_stride,
                          bitmask_stride, bitmask_words, inv_temp, HAS_MASK, BLOCK)

    # top-p: the largest key K with mass(key >= K) >= top_p * total, total = mass(key >= lo).
    hi = tl.where(greedy | (top_p >= 1.0), lo, tl.maximum(_order_key(row_max).to(tl.int64), lo))
    total = 0.0
    if lo < hi:
        # Window: the tokens below row_max - depth weigh less than vocab * e^-depth
        # = (1 - top_p) * total / e, so none of them is kept; only those above are searched.
        # total >= row_sum's share is known only without top-k/min-p; else total >= 1 (the max).
        log_total = tl.where(top_k_on | (min_p > 0), 0.0, tl.log(row_sum))
        depth = log_vocab - tl.log(1.0 - top_p) - log_total + 1.0
        window = tl.maximum(lo, _order_key(row_max - depth).to(tl.int64))
        count, total = _gather_kept(logits_ptr, bitmask_ptr, scratch_ptr, row, lo, window,
                                    vocab, logits_stride, bitmask_stride, bitmask_words,
                                    inv_temp, row_max, HAS_MASK, BLOCK, PACK)
        lo = window
        if count <= CAP:  # few candidates: sort them in registers and cut (no more passes)
            idx = tl.arange(0, CAP)
            values = tl.load(scratch_ptr + row * PACK + idx, mask=idx < count,
                             other=float("-inf"))
            values = tl.sort(values, descending=True)
            cumulative = tl.cumsum(tl.exp(values - row_max), axis=0)
            cut = tl.min(tl.where(cumulative >= top_p * total, idx, CAP - 1), axis=0)
            cut_value = tl.sum(tl.where(idx == cut, values, 0.0), axis=0)
            lo = tl.maximum(lo, _order_key(cut_value).to(tl.int64))
            hi = lo
        elif count <= PACK:  # bisection over the packed candidates only (L1/L2-resident)
            while lo < hi:
                mid = lo + (hi - lo + 1) // 2
                mass_at_mid = 0.0
                for start in range(0, count, BLOCK):
                    idx = start + offs
                    x = tl.load(scratch_ptr + row * PACK + idx, mask=idx < count,
                                other=float("-inf"))
                    kept = _order_key(x).to(tl.int64) >= mid
                    mass_at_mid += tl.sum(tl.where(kept, tl.exp(x - row_max), 0.0), axis=0)
                ok = mass_at_mid >= top_p * total
                lo = tl.where(ok, mid, lo)
                hi = tl.where(ok, hi, mid - 1)
    # Otherwise bisection over the whole row (up to 32 passes), from the window up.
    while lo < hi:
        mid = lo + (hi - lo + 1) // 2
        mass_at_mid = 0.0
        for start in range(0, vocab, BLOCK):
            x = _load_scaled(logits_ptr, bitmask_ptr, row, start + offs, vocab, logits_stride,
                             bitmask_stride, bitmask_words, inv_temp, HAS_MASK)
            kept = _order_key(x).to(tl.int64) >= mid
            mass_at_mid += tl.sum(tl.where(kept, tl.exp(x - row_max), 0.0), axis=0)
        ok = mass_at_mid >= top_p * total
        lo = tl.where(ok, mid, lo)
        hi = tl.where(ok, hi, mid - 1)

    tl.store(threshold_ptr + row, lo.to(tl.int32))


@triton.jit
def _sample_race_kernel(
    logits_ptr, bitmask_ptr, rows_ptr, seeds_ptr, temperature_ptr, threshold_ptr, top_k_ptr,
    top_p_ptr, out_ptr, num_draws, vocab, logits_stride, bitmask_stride, bitmask_words,
    HAS_MASK: tl.constexpr, HAS_ROWS: tl.constexpr, SKIP_UNFILTERED: tl.constexpr,
    BLOCK_DRAWS: tl.constexpr, BLOCK: tl.constexpr,
):
    # One program races BLOCK_DRAWS draws side by side: tiles are [BLOCK_DRAWS, BLOCK].
    draws = tl.program_id(0) * BLOCK_DRAWS + tl.arange(0, BLOCK_DRAWS)
    draw_ok = draws < num_draws
    if HAS_ROWS:
        row = tl.load(rows_ptr + draws, mask=draw_ok, other=0).to(tl.int64)
    else:  # padding draws past num_draws read row 0, never past the logits
        row = tl.where(draw_ok, draws, 0).to(tl.int64)
    store_ok = draw_ok
    if SKIP_UNFILTERED:  # rows with top-k and top-p off are the split path's (sampling_split)
        top_k = tl.load(top_k_ptr + row, mask=draw_ok, other=0)
        top_p = tl.load(top_p_ptr + row, mask=draw_ok, other=1.0)
        store_ok = draw_ok & (((top_k > 0) & (top_k < vocab)) | (top_p < 1.0))
    seed = tl.load(seeds_ptr + draws, mask=draw_ok, other=0)[:, None]
    greedy, inv_temp = _inverse_temperature(
        tl.load(temperature_ptr + row, mask=draw_ok, other=1.0)[:, None])
    threshold = tl.load(threshold_ptr + row, mask=draw_ok, other=0)[:, None]
    row = row[:, None]
    offs = tl.arange(0, BLOCK)[None, :]
    best = tl.full([BLOCK_DRAWS], float("-inf"), tl.float32)
    best_token = tl.full([BLOCK_DRAWS], -1, tl.int32)
    for start in range(0, vocab, BLOCK):
        tokens = start + offs
        x = _load_scaled(logits_ptr, bitmask_ptr, row, tokens, vocab, logits_stride,
                         bitmask_stride, bitmask_words, inv_temp, HAS_MASK)
        kept = (_order_key(x) >= threshold) & (x > float("-inf"))
        score = tl.where(greedy, x, x + _gumbel_noise(seed, tokens))
        score = tl.where(kept, score, float("-inf"))
        block_best = tl.max(score, axis=1)
        block_token = start + tl.argmax(score, axis=1)
        better = block_best > best
        best_token = tl.where(better, block_token, best_token)
        best = tl.where(better, block_best, best)
    tl.store(out_ptr + draws, best_token.to(tl.int64), mask=store_ok)


def _per_row(value, rows: int, dtype: torch.dtype, device, default, name: str) -> torch.Tensor:
    if value is None:
        value = default
    if isinstance(value, (int, float)):
        return torch.full((rows,), value, dtype=dtype, device=device)
    if value.shape != (rows,):
        raise ValueError(f"{name} must be a scalar or [{rows}], got {tuple(value.shape)}")
    return value.to(device=device, dtype=dtype)


def sampling_thresholds(
    logits: torch.Tensor,
    temperature: torch.Tensor,
    top_k: torch.Tensor,
    top_p: torch.Tensor,
    min_p: torch.Tensor,
    bitmask: torch.Tensor | None,
) -> torch.Tensor:
    """First launch of :func:`sample_tokens` when a filter is asked for: per row, the int32
    order key (see ``_order_key``) of the smallest kept value of ``x = logits * (1 / T)``.

    All per-row arguments are ``[rows]`` tensors on logits' device (fp32, top_k int32).
    """
    num_rows, vocab = logits.shape
    threshold = torch.empty(num_rows, dtype=torch.int32, device=logits.device)
    if num_rows == 0:
        return threshold
    scratch = torch.empty(num_rows, PACK_CAP, dtype=torch.float32, device=logits.device)
    # NOTE: 4096-token tiles: 32 tiles per 128k row, 16 fp32 values per thread at 8 warps.
    block = min(4096, triton.next_power_of_2(vocab))
    _sampling_threshold_kernel[(num_rows,)](
        logits, bitmask if bitmask is not None else logits, temperature, top_k, top_p, min_p,
        threshold, scratch, vocab, math.log(vocab), logits.stride(0),
        bitmask.stride(0) if bitmask is not None else 0,
        bitmask.shape[1] if bitmask is not None else 0, HAS_MASK=bitmask is not None,
        BLOCK=block, CAP=KEPT_CAP, PACK=PACK_CAP, num_warps=8,
    )
    return threshold


def sample_tokens(
    logits: torch.Tensor,
    temperature: torch.Tensor | float,
    top_k: torch.Tensor | int | None = None,
    top_p: torch.Tensor | float | None = None,
    min_p: torch.Tensor | float | None = None,
    seeds: torch.Tensor | None = None,
    bitmask: torch.Tensor | None = None,
    rows: torch.Tensor | None = None,
    out: torch.Tensor | None = None,
    draws_per_program: int = 1,
) -> torch.Tensor:
    """Draw one token per draw from each row's filtered distribution (see module docstring).

    Parameters
    ----------
    logits : torch.Tensor
        ``[num_rows, vocab]`` fp32/fp16/bf16, contiguous rows.
    temperature, top_p, min_p : torch.Tensor or float
        Per row ``[num_rows]`` or one value for all; temperature 0 is greedy; top_p 1 and
        min_p 0 are off.
    top_k : torch.Tensor or int, optional
        Per row; ≤ 0 or ≥ vocab is off.
    seeds : torch.Tensor, optional
        int64 ``[num_draws]``: the Philox key of each draw (vary it per step). Default zeros.
    bitmask : torch.Tensor, optional
        int32 ``[num_rows, ceil(vocab / 32)]`` grammar mask; bit 0 forbids the token.
    rows : torch.Tensor, optional
        ``[num_draws]`` logits row of each draw (parallel samples of one prompt share a row);
        default one draw per row.
    out : torch.Tensor, optional
        int64 ``[num_draws]`` to write into.
    draws_per_program : int
        Draws raced side by side in one program (a power of two); many draws of few rows
        (statistics, n-best) go faster with more.

    Returns
    -------
    torch.Tensor
        int64 ``[num_draws]`` token ids; -1 for a row with no allowed token.
    """
    if logits.dim() != 2 or logits.stride(1) != 1:
        raise ValueError(f"logits must be [rows, vocab] with contiguous rows, "
                         f"got {tuple(logits.shape)}")
    num_rows, vocab = logits.shape
    dev = logits.device
    temperature = _per_row(temperature, num_rows, torch.float32, dev, 1.0, "temperature")
    top_k_t = _per_row(top_k, num_rows, torch.int32, dev, 0, "top_k")
    top_p_t = _per_row(top_p, num_rows, torch.float32, dev, 1.0, "top_p")
    min_p_t = _per_row(min_p, num_rows, torch.float32, dev, 0.0, "min_p")
    num_draws = num_rows if rows is None else rows.shape[0]
    seeds = torch.zeros(num_draws, dtype=torch.int64, device=dev) if seeds is None else seeds
    if seeds.shape != (num_draws,) or seeds.dtype != torch.int64:
        raise ValueError(f"seeds must be int64 [{num_draws}], got {seeds.dtype} "
                         f"{tuple(seeds.shape)}")
    if bitmask is not None and (bitmask.dtype != torch.int32 or bitmask.dim() != 2
                                or bitmask.shape[0] != num_rows or bitmask.stride(1) != 1):
        raise ValueError(f"bitmask must be int32 [{num_rows}, words], got {bitmask.dtype} "
                         f"{tuple(bitmask.shape)}")
    if draws_per_program < 1 or draws_per_program & (draws_per_program - 1):
        raise ValueError(f"draws_per_program must be a power of two, got {draws_per_program}")
    out = torch.empty(num_draws, dtype=torch.int64, device=dev) if out is None else out
    if num_draws == 0:
        return out
    if rows is not None and rows.shape != (num_draws,):
        raise ValueError(f"rows must be [{num_draws}], got {tuple(rows.shape)}")
    # Which path a row takes is decided per row from its own top_k/top_p (on the device when
    # they are tensors: no host sync), so a seeded draw never depends on the batch around it.
    k_on = isinstance(top_k, int) and 0 < top_k < vocab
    p_on = isinstance(top_p, (int, float)) and top_p < 1
    k_off = top_k is None or (isinstance(top_k, int) and not k_on)
    p_off = top_p is None or (isinstance(top_p, (int, float)) and not p_on)
    split_rows = not (k_on or p_on)  # some rows may need no top-k/top-p
    filtered_rows = not (k_off and p_off)  # some rows may need them
    if split_rows:
        from genai_rt.kernels.sampling_split import sample_split

        min_p_off = min_p is None or (isinstance(min_p, (int, float)) and min_p <= 0)
        sample_split(logits, temperature, top_k_t, top_p_t, None if min_p_off else min_p_t,
                     seeds, bitmask, rows, out, check_filters=filtered_rows,
                     draws_per_program=draws_per_program)
    if not filtered_rows:
        return out
    threshold = sampling_thresholds(logits, temperature, top_k_t, top_p_t, min_p_t, bitmask)
    mask_arg = bitmask if bitmask is not None else logits
    mask_stride = bitmask.stride(0) if bitmask is not None else 0
    block = min(4096, triton.next_power_of_2(vocab))
    _sample_race_kernel[(triton.cdiv(num_draws, draws_per_program),)](
        logits, mask_arg, rows if rows is not None else seeds, seeds, temperature, threshold,
        top_k_t, top_p_t, out, num_draws, vocab, logits.stride(0), mask_stride,
        bitmask.shape[1] if bitmask is not None else 0, HAS_MASK=bitmask is not None,
        HAS_ROWS=rows is not None, SKIP_UNFILTERED=split_rows,
        BLOCK_DRAWS=draws_per_program, BLOCK=max(16, block // draws_per_program), num_warps=8,
    )
    return out
