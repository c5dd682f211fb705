"""Sort-free sampling thresholds, and the Triton helpers the engine's sampling kernels share.

The engine draws with :mod:`genai_rt.kernels.sampling_temperature` (temperature only) and
:mod:`genai_rt.kernels.sampling_rejection` (top-k / top-p / min-p); this module holds what they
share (the float order key, the scaled masked load, the inverse temperature) and
``sampling_thresholds``, which the rejection sampler calls for the top-k floor (the k-th largest
value) of rows with both top-k and top-p.

``_sampling_threshold_kernel``, one program per logits row: the row max, then the smallest kept
value as an int32 order key of the float. Min-p is a closed form; top-k is a radix select (4
passes of an 8-bit histogram); top-p packs the candidates above a provable window (tokens too
light to ever be kept are skipped) into a scratch row in one pass, then sorts them in registers
(≤ ``KEPT_CAP``) or bisects on the key over the packed row (≤ ``PACK_CAP``) or, past that, over
the whole row (≤ 32 passes). No full sort of the vocabulary, no [rows, vocab] scratch.

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


@triton.jit
def _inverse_temperature(temperature):
    """(greedy, 1 / T): every kernel scales logits by the same fp32 value, so keys agree."""
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


def sampling_thresholds(
    logits: torch.Tensor,
    temperature: torch.Tensor,
    top_k: torch.Tensor,
    top_p: torch.Tensor,
    min_p: torch.Tensor,
    bitmask: torch.Tensor | None,
) -> torch.Tensor:
    """Per row, the int32 order key (see ``_order_key``) of the smallest kept value of
    ``x = logits * (1 / T)`` under the filters of :func:`sampling_probs_ref`.

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
