"""Prefill/extend attention over the paged cache with a causal mask (chunked prefill).

Every sequence in the flat batch brings q_len new tokens whose K/V are already written to the
cache behind ctx_len cached ones; new token i sits at position ctx_len + i and attends to cache
positions <= that. Variable lengths share one launch: programs past a sequence's tokens exit.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from genai_rt.kernels._paged_checks import check_query_and_cache
from genai_rt.kernels._paged_tile import load_kv_tile, online_softmax_step
from genai_rt.kernels._tile_dot import INTERPRETED, dot_precision, tile_dot
from genai_rt.kernels.decode_attention import gather_kv_ref


def extend_attention_ref(
    query: torch.Tensor,
    kv_cache: torch.Tensor,
    block_tables: torch.Tensor,
    query_start_loc: torch.Tensor,
    seq_lens: torch.Tensor,
    scale: float,
) -> torch.Tensor:
    """Plain-torch reference in fp32. query: [tokens, heads, d] flat; returns the same shape."""
    heads, kv_heads = query.shape[1], kv_cache.shape[3]
    starts = query_start_loc.tolist()
    out = torch.empty_like(query)
    for s, (k, v) in enumerate(gather_kv_ref(kv_cache, block_tables, seq_lens.tolist())):
        q = query[starts[s]: starts[s + 1]].float()  # [q_len, heads, d]
        q_len, n = q.shape[0], k.shape[0]
        k = k.float().repeat_interleave(heads // kv_heads, dim=1)
        v = v.float().repeat_interleave(heads // kv_heads, dim=1)
        scores = torch.einsum("qhd,nhd->hqn", q, k) * scale
        q_pos = torch.arange(n - q_len, n, device=q.device)[:, None]
        scores = scores.masked_fill(torch.arange(n, device=q.device)[None, :] > q_pos,
                                    float("-inf"))
        out[starts[s]: starts[s + 1]] = torch.einsum("hqn,nhd->qhd", scores.softmax(-1),
                                                     v).to(query.dtype)
    return out


@triton.jit
def _extend_attention_kernel(
    q_ptr, k_ptr, v_ptr, out_ptr, block_tables_ptr, query_start_loc_ptr, seq_lens_ptr,
    scale, q_stride_t, q_stride_h, out_stride_t, out_stride_h,
    kv_stride_block, kv_stride_slot, kv_stride_head, bt_stride, block_size,
    GROUP: tl.constexpr, HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr, PRECISION: tl.constexpr, WIDEN: tl.constexpr,
):
    seq = tl.program_id(0).to(tl.int64)
    head = tl.program_id(1)
    m_tile = tl.program_id(2)
    q_start = tl.load(query_start_loc_ptr + seq).to(tl.int64)
    q_len = tl.load(query_start_loc_ptr + seq + 1) - q_start
    if m_tile * BLOCK_M < q_len:
        seq_len = tl.load(seq_lens_ptr + seq)
        ctx_len = seq_len - q_len
        kv_head = head // GROUP
        m = m_tile * BLOCK_M + tl.arange(0, BLOCK_M)
        d = tl.arange(0, BLOCK_D)
        m_ok = m < q_len
        d_ok = d < HEAD_DIM
        q_pos = ctx_len + m
        # q: [BLOCK_M, BLOCK_D]
        q = tl.load(q_ptr + (q_start + m)[:, None] * q_stride_t + head * q_stride_h + d[None, :],
                    mask=m_ok[:, None] & d_ok[None, :], other=0.0)
        qk_scale = scale * 1.4426950408889634  # log2(e): exp2 below
        m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
        l_i = tl.zeros([BLOCK_M], tl.float32)
        acc = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
        # Causal: the tile's last query sees positions up to ctx_len + its index.
        kv_end = tl.minimum(seq_len, ctx_len + (m_tile + 1) * BLOCK_M)
        for tile_start in range(0, kv_end, BLOCK_N):
            tokens = tile_start + tl.arange(0, BLOCK_N)
            t_ok = tokens < kv_end
            # k, v: [BLOCK_N, BLOCK_D]
            k, v = load_kv_tile(k_ptr, v_ptr, block_tables_ptr, seq, bt_stride, tokens, t_ok, d,
                                d_ok, block_size, kv_stride_block, kv_stride_slot, kv_stride_head,
                                kv_head)
            s = tile_dot(q, tl.trans(k), PRECISION, WIDEN) * qk_scale  # [BLOCK_M, BLOCK_N]
            visible = t_ok[None, :] & (tokens[None, :] <= q_pos[:, None])
            s = tl.where(visible, s, float("-inf"))
            # Every row sees position 0 in the first tile, so the running max is finite after it.
            m_i, l_i, acc = online_softmax_step(m_i, l_i, acc, s, v, PRECISION, WIDEN)
        out = acc / l_i[:, None]
        tl.store(out_ptr + (q_start + m)[:, None] * out_stride_t + head * out_stride_h + d[None, :],
                 out.to(out_ptr.dtype.element_ty), mask=m_ok[:, None] & d_ok[None, :])


def extend_attention(
    query: torch.Tensor,
    kv_cache: torch.Tensor,
    block_tables: torch.Tensor,
    query_start_loc: torch.Tensor,
    seq_lens: torch.Tensor,
    scale: float,
    max_query_len: int,
    out: torch.Tensor | None = None,
    block_m: int = 64,
) -> torch.Tensor:
    """Causal attention of each sequence's new tokens over its paged context.

    Parameters
    ----------
    query : torch.Tensor
        ``[tokens, heads, head_dim]``: all sequences' new tokens, concatenated.
    kv_cache : torch.Tensor
        ``[2, num_blocks, block_size, kv_heads, head_dim]`` holding the new tokens' K/V too.
    block_tables : torch.Tensor
        int32 ``[seqs, max_blocks]``.
    query_start_loc : torch.Tensor
        int32 ``[seqs + 1]`` offsets of each sequence's tokens in ``query``.
    seq_lens : torch.Tensor
        int32 ``[seqs]`` context length after this step (cached + new).
    scale : float
        Softmax scale.
    max_query_len : int
        Host-side maximum of the query lengths (sizes the grid).
    out : torch.Tensor, optional
        Buffer shaped like ``query`` to write into.
    block_m : int
        Query tokens per program (a power of two ≥ 16).

    Returns
    -------
    torch.Tensor
        ``[tokens, heads, head_dim]`` in query's dtype.
    """
    heads, head_dim, block_size, kv_heads = check_query_and_cache(query, kv_cache, "tokens")
    for name, t in (("block_tables", block_tables), ("query_start_loc", query_start_loc),
                    ("seq_lens", seq_lens)):
        if t.dtype != torch.int32:
            raise ValueError(f"{name} must be int32, got {t.dtype}")
    seqs = seq_lens.shape[0]
    if query_start_loc.shape[0] != seqs + 1 or block_tables.shape[0] < seqs:
        raise ValueError(f"query_start_loc needs {seqs + 1} entries and block_tables {seqs} rows")
    out = torch.empty_like(query) if out is None else out
    if seqs == 0 or max_query_len == 0:
        return out
    k_cache, v_cache = kv_cache[0], kv_cache[1]
    grid = (seqs, heads, triton.cdiv(max_query_len, block_m))
    _extend_attention_kernel[grid](
        query, k_cache, v_cache, out, block_tables, query_start_loc, seq_lens,
        scale, query.stride(0), query.stride(1), out.stride(0), out.stride(1),
        k_cache.stride(0), k_cache.stride(1), k_cache.stride(2), block_tables.stride(0),
        block_size,
        GROUP=heads // kv_heads, HEAD_DIM=head_dim, BLOCK_D=triton.next_power_of_2(head_dim),
        BLOCK_M=block_m, BLOCK_N=64, PRECISION=dot_precision(query.dtype), WIDEN=INTERPRETED,
        num_warps=4, num_stages=2,
    )
    return out
