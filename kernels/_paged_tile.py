"""Triton building blocks shared by the paged-attention kernels (decode and prefill/extend)."""

from __future__ import annotations

import triton
import triton.language as tl
from genai_rt.kernels._tile_dot import tile_dot


@triton.jit
def load_kv_tile(k_ptr, v_ptr, block_tables_ptr, seq, bt_stride, tokens, t_ok, d, d_ok,
                 block_size, kv_stride_block, kv_stride_slot, kv_stride_head, kv_head):
    """K and V rows of ``tokens`` of one sequence and kv head, gathered through its block
    table. Returns k, v: [BLOCK_N, BLOCK_D] (zeros where ``t_ok`` or ``d_ok`` is false)."""
    blocks = tl.load(block_tables_ptr + seq * bt_stride + tokens // block_size, mask=t_ok,
                     other=0).to(tl.int64)
    offs = (blocks * kv_stride_block + (tokens % block_size) * kv_stride_slot
            + kv_head * kv_stride_head)
    kv_mask = t_ok[:, None] & d_ok[None, :]
    k = tl.load(k_ptr + offs[:, None] + d[None, :], mask=kv_mask, other=0.0)
    v = tl.load(v_ptr + offs[:, None] + d[None, :], mask=kv_mask, other=0.0)
    return k, v


@triton.jit
def online_softmax_step(m_i, l_i, acc, s, v, PRECISION: tl.constexpr, WIDEN: tl.constexpr):
    """One flash-attention update with scores ``s`` [rows, BLOCK_N] (log2 domain, masked to
    -inf) and values ``v`` [BLOCK_N, BLOCK_D]: returns the new running max, sum and output."""
    m_new = tl.maximum(m_i, tl.max(s, axis=1))
    p = tl.exp2(s - m_new[:, None])
    alpha = tl.exp2(m_i - m_new)
    l_i = l_i * alpha + tl.sum(p, axis=1)
    acc = acc * alpha[:, None] + tile_dot(p.to(v.dtype), v, PRECISION, WIDEN)
    return m_new, l_i, acc
