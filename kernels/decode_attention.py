"""Paged decode attention, flash-decoding style: split each sequence's KV over programs, then
merge the partial softmaxes in a second pass.

One query token per sequence. A split program handles one (sequence, kv head, split) and all the
query heads of that kv group at once (GQA), so each K/V byte is read from memory once.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from genai_rt.kernels._paged_checks import check_query_and_cache
from genai_rt.kernels._paged_tile import load_kv_tile, online_softmax_step
from genai_rt.kernels._tile_dot import AUTOTUNE, INTERPRETED, dot_precision, tile_dot
from genai_rt.kernels.split_kv import choose_num_splits


def gather_kv_ref(
    kv_cache: torch.Tensor, block_tables: torch.Tensor, seq_lens: list[int]
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Each sequence's keys and values in token order: [(k [len, kvh, d], v [len, kvh, d])]."""
    block_size = kv_cache.shape[2]
    out = []
    for s, n in enumerate(seq_lens):
        blocks = block_tables[s, : (n + block_size - 1) // block_size].long()
        k = kv_cache[0, blocks].reshape(-1, *kv_cache.shape[3:])[:n]
        v = kv_cache[1, blocks].reshape(-1, *kv_cache.shape[3:])[:n]
        out.append((k, v))
    return out


def decode_attention_ref(
    query: torch.Tensor,
    kv_cache: torch.Tensor,
    block_tables: torch.Tensor,
    seq_lens: torch.Tensor,
    scale: float,
) -> torch.Tensor:
    """Plain-torch reference in fp32. query: [seqs, heads, d]; returns [seqs, heads, d]."""
    heads, kv_heads = query.shape[1], kv_cache.shape[3]
    outs = []
    for s, (k, v) in enumerate(gather_kv_ref(kv_cache, block_tables, seq_lens.tolist())):
        k = k.float().repeat_interleave(heads // kv_heads, dim=1)  # [len, heads, d]
        v = v.float().repeat_interleave(heads // kv_heads, dim=1)
        scores = torch.einsum("hd,nhd->hn", query[s].float(), k) * scale
        outs.append(torch.einsum("hn,nhd->hd", scores.softmax(-1), v))
    return torch.stack(outs).to(query.dtype)


@triton.jit
def _decode_attention_split_kernel(
    q_ptr, k_ptr, v_ptr, block_tables_ptr, seq_lens_ptr, mid_o_ptr, mid_lse_ptr, out_ptr,
    scale, q_stride_s, q_stride_h, kv_stride_block, kv_stride_slot, kv_stride_head,
    bt_stride, num_splits, block_size, out_stride_s, out_stride_h,
    GROUP: tl.constexpr, BLOCK_G: tl.constexpr, HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr,
    BLOCK_N: tl.constexpr, PRECISION: tl.constexpr, WIDEN: tl.constexpr, DIRECT: tl.constexpr,
):
    seq = tl.program_id(0).to(tl.int64)
    kv_head = tl.program_id(1)
    split = tl.program_id(2)
    seq_len = tl.load(seq_lens_ptr + seq)
    # Splits cover the sequence in whole BLOCK_N tiles; the count of splits is fixed at launch
    # (CUDA graphs replay one grid), so short sequences leave trailing splits empty.
    tiles_per_split = tl.cdiv(tl.cdiv(seq_len, BLOCK_N), num_splits)
    start = split * tiles_per_split * BLOCK_N
    end = tl.minimum(start + tiles_per_split * BLOCK_N, seq_len)

    g = tl.arange(0, BLOCK_G)
    d = tl.arange(0, BLOCK_D)
    heads = kv_head * GROUP + g
    g_ok = g < GROUP
    d_ok = d < HEAD_DIM
    # q: [BLOCK_G, BLOCK_D]; the group is padded to 16 rows so both products run on tensor cores.
    q = tl.load(q_ptr + seq * q_stride_s + heads[:, None] * q_stride_h + d[None, :],
                mask=g_ok[:, None] & d_ok[None, :], other=0.0)
    qk_scale = scale * 1.4426950408889634  # log2(e): the loop uses exp2

    m_i = tl.full([BLOCK_G], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_G], tl.float32)
    acc = tl.zeros([BLOCK_G, BLOCK_D], tl.float32)
    for tile_start in range(start, end, BLOCK_N):
        tokens = tile_start + tl.arange(0, BLOCK_N)
        t_ok = tokens < end
        # k, v: [BLOCK_N, BLOCK_D] gathered through the block table
        k, v = load_kv_tile(k_ptr, v_ptr, block_tables_ptr, seq, bt_stride, tokens, t_ok, d, d_ok,
                            block_size, kv_stride_block, kv_stride_slot, kv_stride_head, kv_head)
        s = tile_dot(q, tl.trans(k), PRECISION, WIDEN) * qk_scale  # [BLOCK_G, BLOCK_N]
        s = tl.where(t_ok[None, :], s, float("-inf"))
        m_i, l_i, acc = online_softmax_step(m_i, l_i, acc, s, v, PRECISION, WIDEN)

    has_any = l_i > 0
    out = acc / tl.where(has_any, l_i, 1.0)[:, None]
    if DIRECT:  # one split: this is the answer; the merge pass is skipped (one launch less)
        tl.store(out_ptr + seq * out_stride_s + heads[:, None] * out_stride_h + d[None, :],
                 out.to(out_ptr.dtype.element_ty), mask=g_ok[:, None] & d_ok[None, :])
    else:
        # mid_o: [seqs, heads, num_splits, d]; mid_lse: [seqs, heads, num_splits] (log2 domain)
        heads_total = tl.num_programs(1) * GROUP
        row = (seq * heads_total + heads) * num_splits + split
        tl.store(mid_o_ptr + row[:, None] * HEAD_DIM + d[None, :], out,
                 mask=g_ok[:, None] & d_ok[None, :])
        lse = tl.where(has_any, m_i + tl.log2(tl.where(has_any, l_i, 1.0)), float("-inf"))
        tl.store(mid_lse_ptr + row, lse, mask=g_ok)


@triton.jit
def _decode_attention_reduce_kernel(
    mid_o_ptr, mid_lse_ptr, out_ptr, out_stride_s, out_stride_h, num_splits,
    HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_S: tl.constexpr,
):
    seq = tl.program_id(0).to(tl.int64)
    head = tl.program_id(1)
    row = seq * tl.num_programs(1) + head
    sp = tl.arange(0, BLOCK_S)
    d = tl.arange(0, BLOCK_D)
    sp_ok = sp < num_splits
    lse = tl.load(mid_lse_ptr + row * num_splits + sp, mask=sp_ok, other=float("-inf"))
    m = tl.max(lse, axis=0)
    w = tl.where(sp_ok & (lse > float("-inf")), tl.exp2(lse - m), 0.0)
    o = tl.load(mid_o_ptr + (row * num_splits + sp[:, None]) * HEAD_DIM + d[None, :],
                mask=(w > 0)[:, None] & (d < HEAD_DIM)[None, :], other=0.0)
    total = tl.sum(w, axis=0)
    out = tl.sum(o * w[:, None], axis=0) / tl.where(total > 0, total, 1.0)
    tl.store(out_ptr + seq * out_stride_s + head * out_stride_h + d,
             out.to(out_ptr.dtype.element_ty), mask=d < HEAD_DIM)


# NOTE: 4 configs, tuned once per (head_dim, group) on the first GPU call (~4 compiles, <1 s
# of timing); the interpreter (and GENAI_RT_TRITON_AUTOTUNE=0) runs BLOCK_N=64, 4 warps.
_SPLIT_CONFIGS = [
    triton.Config({"BLOCK_N": block_n}, num_warps=warps, num_stages=3)
    for block_n, warps in ((32, 4), (64, 4), (128, 4), (64, 8))
]
_split_kernel = (
    _decode_attention_split_kernel if not AUTOTUNE
    else triton.autotune(configs=_SPLIT_CONFIGS,
                         key=["HEAD_DIM", "BLOCK_G", "PRECISION", "DIRECT"])(
        _decode_attention_split_kernel)
)


def decode_num_splits(num_seqs: int, kv_heads: int, max_seq_len: int, num_sms: int = 132) -> int:
    """The split count of :func:`genai_rt.kernels.split_kv.choose_num_splits` (logged there)."""
    return choose_num_splits(num_seqs, kv_heads, max_seq_len, num_sms).num_splits


def decode_attention(
    query: torch.Tensor,
    kv_cache: torch.Tensor,
    block_tables: torch.Tensor,
    seq_lens: torch.Tensor,
    scale: float,
    max_seq_len: int,
    out: torch.Tensor | None = None,
    num_splits: int | None = None,
) -> torch.Tensor:
    """Attention of one new token per sequence over its paged context (already in the cache).

    Parameters
    ----------
    query : torch.Tensor
        ``[seqs, heads, head_dim]`` fp32/fp16/bf16.
    kv_cache : torch.Tensor
        ``[2, num_blocks, block_size, kv_heads, head_dim]``; heads is a multiple of kv_heads.
    block_tables : torch.Tensor
        int32 ``[seqs, max_blocks]``.
    seq_lens : torch.Tensor
        int32 ``[seqs]`` context length including the new token (≥ 1).
    scale : float
        Softmax scale, usually ``head_dim ** -0.5``.
    max_seq_len : int
        Upper bound of seq_lens (host value); only sizes the split count, so a CUDA graph may
        pass the model's maximum and replay for any shorter lengths.
    out : torch.Tensor, optional
        ``[seqs, heads, head_dim]`` buffer to write into.
    num_splits : int, optional
        KV splits per sequence; default from :func:`decode_num_splits`.

    Returns
    -------
    torch.Tensor
        ``[seqs, heads, head_dim]`` in query's dtype.
    """
    heads, head_dim, block_size, kv_heads = check_query_and_cache(query, kv_cache, "seqs")
    seqs = query.shape[0]
    if block_tables.dtype != torch.int32 or seq_lens.dtype != torch.int32:
        raise ValueError("block_tables and seq_lens must be int32")
    if block_tables.shape[0] < seqs or seq_lens.shape[0] < seqs:
        raise ValueError(f"block_tables/seq_lens have fewer than {seqs} rows")
    out = torch.empty_like(query) if out is None else out
    if seqs == 0:
        return out
    if num_splits is None:
        sms = (torch.cuda.get_device_properties(query.device).multi_processor_count
               if query.is_cuda else 4)
        num_splits = decode_num_splits(seqs, kv_heads, max_seq_len, sms)
    group = heads // kv_heads
    mid_o = query.new_empty(seqs, heads, num_splits, head_dim, dtype=torch.float32)
    mid_lse = query.new_empty(seqs, heads, num_splits, dtype=torch.float32)
    block_d = triton.next_power_of_2(head_dim)
    k_cache, v_cache = kv_cache[0], kv_cache[1]
    fixed = {} if AUTOTUNE else {"BLOCK_N": 64, "num_warps": 4}
    direct = num_splits == 1
    _split_kernel[(seqs, kv_heads, num_splits)](
        query, k_cache, v_cache, block_tables, seq_lens, mid_o, mid_lse, out,
        scale, query.stride(0), query.stride(1), k_cache.stride(0), k_cache.stride(1),
        k_cache.stride(2), block_tables.stride(0), num_splits, block_size,
        out.stride(0), out.stride(1),
        GROUP=group, BLOCK_G=max(16, triton.next_power_of_2(group)), HEAD_DIM=head_dim,
        BLOCK_D=block_d, PRECISION=dot_precision(query.dtype), WIDEN=INTERPRETED, DIRECT=direct,
        **fixed,
    )
    if direct:
        return out
    _decode_attention_reduce_kernel[(seqs, heads)](
        mid_o, mid_lse, out, out.stride(0), out.stride(1), num_splits,
        HEAD_DIM=head_dim, BLOCK_D=block_d, BLOCK_S=triton.next_power_of_2(num_splits),
        num_warps=4,
    )
    return out
