"""Exact vector search: fused similarity + running top-k with an allow-bitmap (fp16/fp32, IP/L2).

Each program scores a block of queries against its split of the rows, tile by tile, and keeps a
running top-``BLOCK_K`` (k rounded up to a power of two) per query in registers. A (score, row)
pair is packed into one int64 that orders like the pair (larger score first, then the smaller
row), so "best" is one integer max. Rows whose allow bit is clear are packed as the minimum int64
and can never be chosen. The scores never reach memory; only ``BLOCK_K`` packed candidates per
query and split do, and :func:`vector_topk` picks the final k among them.

NOTE: no tl.sort: in Triton's CPU interpreter one sort of a [16, 64] tile takes 6 s (measured),
which would make the kernel untestable on CPU; max/argmin moves cost the same on a GPU once the
running set is warm.

Allow-bitmap layout: int32 words, bit i of word w allows row 32 w + i (as csrc/search reads it).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

METRICS = ("ip", "l2")
MAX_K = 1024
_EMPTY = -(2**63)  # the packed value of "no candidate"
_LOW = 0xFFFFFFFF


def vector_topk_ref(queries: torch.Tensor, rows: torch.Tensor, k: int, metric: str = "ip",
                    allow: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain-torch reference: (scores [B, k] fp32, rows [B, k] int64), best first.

    queries: [B, D] fp32; rows: [N, D] fp32 or fp16 (fp16 rows meet queries rounded to fp16,
    as the kernel's fp16 tensor-core dot does). IP scores are <q, x> (larger first); L2 scores
    are ||q - x||^2 (smaller first). Ties go to the smaller row; past the allowed rows come
    row -1 and score -inf (IP) / +inf (L2).
    """
    q = queries.to(rows.dtype).float() if rows.dtype == torch.float16 else queries.float()
    x = rows.float()
    dots = q @ x.T
    keys = dots if metric == "ip" else 2 * dots - (x * x).sum(1)
    allowed = torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
    if allow is not None:
        bits = torch.arange(x.shape[0], device=x.device)
        allowed = ((allow.long()[bits >> 5] >> (bits & 31)) & 1).bool()
    keys = keys.masked_fill(~allowed, float("-inf"))
    order = torch.sort(keys, dim=1, descending=True, stable=True).indices[:, :k]
    best = torch.gather(keys, 1, order)
    found = torch.arange(k, device=x.device) < int(allowed.sum())
    idx = torch.where(found, order, -1)
    if metric == "ip":
        scores = torch.where(found, best, float("-inf"))
    else:
        dist = ((q * q).sum(1, keepdim=True) - best).clamp_min(0)
        scores = torch.where(found, dist, float("inf"))
    return scores, idx


@triton.jit
def _pack(key, rows):
    # float -> int32 with the same order, then (key, ~row) as one int64.
    bits = key.to(tl.int32, bitcast=True)
    ordered = tl.where(bits < 0, bits ^ 0x7FFFFFFF, bits)
    return (ordered.to(tl.int64) << 32) | (4294967295 - rows.to(tl.int64))


@triton.jit
def _vector_topk_kernel(
    q_ptr, x_ptr, norms_ptr, allow_ptr, out_ptr,
    num_queries, num_rows, dim, rows_per_split, num_splits,
    IS_L2: tl.constexpr, HAS_ALLOW: tl.constexpr, FP16_DOT: tl.constexpr,
    BLOCK_Q: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_K: tl.constexpr,
):
    pid_q = tl.program_id(0)
    split = tl.program_id(1)
    qs = pid_q * BLOCK_Q + tl.arange(0, BLOCK_Q)
    q_in = qs < num_queries
    first = split * rows_per_split
    last = tl.minimum(first + rows_per_split, num_rows)
    empty: tl.constexpr = -9223372036854775808
    kcols = tl.arange(0, BLOCK_K)
    best = tl.full((BLOCK_Q, BLOCK_K), empty, tl.int64)  # the running set, unordered
    for start in range(first, last, BLOCK_N):
        rows = start + tl.arange(0, BLOCK_N)
        r_in = rows < last
        acc = tl.zeros((BLOCK_Q, BLOCK_N), tl.float32)
        for d0 in range(0, dim, BLOCK_D):
            ds = d0 + tl.arange(0, BLOCK_D)
            d_in = ds < dim
            q = tl.load(q_ptr + qs[:, None].to(tl.int64) * dim + ds[None, :],
                        mask=q_in[:, None] & d_in[None, :], other=0.0)
            x = tl.load(x_ptr + rows[:, None].to(tl.int64) * dim + ds[None, :],
                        mask=r_in[:, None] & d_in[None, :], other=0.0)
            if FP16_DOT:
                acc += tl.dot(q.to(tl.float16), tl.trans(x), out_dtype=tl.float32)
            else:
                acc += tl.dot(q, tl.trans(x.to(tl.float32)), input_precision="ieee")
        if IS_L2:
            norms = tl.load(norms_ptr + rows, mask=r_in, other=0.0)
            acc = 2.0 * acc - norms[None, :]
        ok = r_in
        if HAS_ALLOW:
            words = tl.load(allow_ptr + (rows >> 5), mask=r_in, other=0)
            ok = ok & (((words >> (rows & 31)) & 1) != 0)
        tile = tl.where(ok[None, :] & q_in[:, None], _pack(acc, rows[None, :]), empty)
        # Move tile maxima into the running set while one beats the set's worst: K moves on
        # the first tile, then rarely any (most tiles stop after one max and one min).
        top = tl.max(tile, axis=1)
        worst = tl.min(best, axis=1)
        while tl.max((top > worst).to(tl.int32), axis=0) > 0:
            slot = tl.argmin(best, axis=1)
            put = (top > worst)[:, None] & (kcols[None, :] == slot[:, None])
            best = tl.where(put, top[:, None], best)
            tile = tl.where(tile == top[:, None], empty, tile)
            top = tl.max(tile, axis=1)
            worst = tl.min(best, axis=1)
    out = out_ptr + (qs[:, None].to(tl.int64) * num_splits + split) * BLOCK_K + kcols[None, :]
    tl.store(out, best, mask=q_in[:, None])


def _unpack(packed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    ordered = (packed >> 32).to(torch.int32)
    bits = torch.where(ordered < 0, ordered ^ 0x7FFFFFFF, ordered)
    rows = _LOW - (packed & _LOW)
    return bits.view(torch.float32), torch.where(packed == _EMPTY, -1, rows)


def vector_topk(queries: torch.Tensor, rows: torch.Tensor, k: int, metric: str = "ip",
                allow: torch.Tensor | None = None, row_norms: torch.Tensor | None = None,
                num_splits: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Triton version of :func:`vector_topk_ref` (same results; ``row_norms`` [N] fp32 =
    ||x||^2 is required for L2). ``num_splits`` row splits run in parallel (default: enough
    programs to fill the device)."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if queries.dim() != 2 or rows.dim() != 2 or queries.shape[1] != rows.shape[1]:
        raise ValueError(f"queries [B, D] and rows [N, D] must share D, got "
                         f"{tuple(queries.shape)} and {tuple(rows.shape)}")
    if queries.dtype != torch.float32 or rows.dtype not in (torch.float32, torch.float16):
        raise ValueError(f"queries must be fp32 and rows fp32/fp16, got {queries.dtype}, "
                         f"{rows.dtype}")
    if not (queries.is_contiguous() and rows.is_contiguous()):
        raise ValueError("queries and rows must be contiguous")
    if not 1 <= k <= min(MAX_K, max(rows.shape[0], 1)):
        raise ValueError(f"k must be in [1, min({MAX_K}, rows)], got {k}")
    num_queries, dim = queries.shape
    num_rows = rows.shape[0]
    if metric == "l2" and (row_norms is None or row_norms.shape != (num_rows,)
                           or row_norms.dtype != torch.float32):
        raise ValueError("metric 'l2' needs row_norms: fp32 [N] squared norms")
    if allow is not None and (allow.dtype != torch.int32 or allow.numel() < (num_rows + 31) // 32):
        raise ValueError("allow must be int32 with ceil(N / 32) words")
    block_k = max(16, triton.next_power_of_2(k))
    block_n = 128
    block_q = 16
    q_blocks = triton.cdiv(num_queries, block_q)
    tiles = triton.cdiv(num_rows, block_n)
    if num_splits is None:
        programs = 4 * torch.cuda.get_device_properties(rows.device).multi_processor_count \
            if rows.is_cuda else 4
        num_splits = max(1, min(tiles, programs // q_blocks))
    rows_per_split = triton.cdiv(tiles, num_splits) * block_n
    num_splits = triton.cdiv(num_rows, rows_per_split)
    out = torch.empty((num_queries, num_splits, block_k), dtype=torch.int64, device=rows.device)
    _vector_topk_kernel[(q_blocks, num_splits)](
        queries, rows, row_norms if row_norms is not None else queries,
        allow if allow is not None else queries, out,
        num_queries, num_rows, dim, rows_per_split, num_splits,
        IS_L2=metric == "l2", HAS_ALLOW=allow is not None,
        FP16_DOT=rows.dtype == torch.float16,
        BLOCK_Q=block_q, BLOCK_N=block_n, BLOCK_D=64 if dim >= 64 else 16, BLOCK_K=block_k,
        num_warps=8,
    )
    packed = torch.topk(out.view(num_queries, -1), k, dim=1).values
    keys, idx = _unpack(packed)
    if metric == "ip":
        scores = torch.where(idx >= 0, keys, float("-inf"))
    else:
        q = queries.to(rows.dtype).float() if rows.dtype == torch.float16 else queries
        dist = ((q * q).sum(1, keepdim=True) - keys).clamp_min(0)
        scores = torch.where(idx >= 0, dist, float("inf"))
    return scores, idx
