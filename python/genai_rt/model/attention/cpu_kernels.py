"""The core's CPU decode-attention kernel (csrc/attention/cpu_paged_decode.cc), called on torch
tensors.

The kernel is built into ``genai_rt._core`` with the rest of the C++ core: its hot loop is
compiled for AVX-512, AVX2 and baseline x86-64 and picked at load time. This wrapper checks what
the kernel needs (CPU, dtypes, contiguity, shapes) with clear errors; the kernel itself checks
sequence lengths and block ids before any work and splits sequences over threads by context
tokens (``_core.cpu_paged_decode_split``).

NOTE: 64 decode sequences of 100-576 tokens, 8 heads over 4 KV heads of 64, fp32, kernel
calls interleaved with the run-time-compiled C kernel this replaces (-O3 -march=native, ctypes,
Python thread pool), medians of 25 on a shared 2-core AVX-512 machine: 1 thread 7.0 ms against
7.1 ms, 2 threads 7.1 ms against 7.9 ms. Through ``TorchAttentionBackend.forward``
(benchmarks/compare_cpu_paged_decode.py) 1 thread: 6.9-7.5 ms against 14.8-15.0 ms for gather +
SDPA.
"""

from __future__ import annotations

import torch

from genai_rt import _core


def paged_decode_attention(
    query: torch.Tensor,
    kv_cache: torch.Tensor,
    block_tables: torch.Tensor,
    seq_lens: torch.Tensor,
    scale: float,
    num_threads: int | None = None,
) -> torch.Tensor:
    """Attention of one decode token per sequence over its paged context, in fp32 on CPU.

    Parameters
    ----------
    query : torch.Tensor
        ``[S, H, D]`` float32, contiguous; ``H`` a multiple of the cache's KV heads.
    kv_cache : torch.Tensor
        ``[2, NB, BS, KVH, D]`` float32, contiguous (0 = keys, 1 = values).
    block_tables : torch.Tensor
        ``[S, W]`` int64 with unit column stride; row ``s`` lists the blocks of sequence ``s``
        (only the first ``ceil(seq_lens[s] / BS)`` entries are read, each must be in
        ``[0, NB)``).
    seq_lens : torch.Tensor
        ``[S]`` int64, contiguous, each in ``[1, W * BS]``.
    scale : float
        Multiplies the scores before the softmax.
    num_threads : int, optional
        Threads to split the sequences over; ``torch.get_num_threads()`` when None.

    Returns
    -------
    torch.Tensor
        ``[S, H, D]`` float32.

    Raises
    ------
    ValueError
        On a tensor off the CPU, of another dtype or layout, mismatched shapes, a sequence
        length out of range or a block id outside the cache.
    """
    _check_layout(query, kv_cache, block_tables, seq_lens)
    _, num_blocks, block_size, kv_heads, head_dim = kv_cache.shape
    num_seqs, num_heads, _ = query.shape
    out = torch.empty_like(query)
    if num_seqs == 0:
        return out
    _core.cpu_paged_decode_attention(
        out.data_ptr(), query.data_ptr(), kv_cache.data_ptr(), block_tables.data_ptr(),
        seq_lens.data_ptr(), num_seqs, num_heads, kv_heads, head_dim, num_blocks, block_size,
        block_tables.shape[1], block_tables.stride(0), scale,
        torch.get_num_threads() if num_threads is None else num_threads,
    )
    return out


def _check_layout(
    query: torch.Tensor, kv_cache: torch.Tensor, block_tables: torch.Tensor,
    seq_lens: torch.Tensor,
) -> None:
    tensors = {"query": query, "kv_cache": kv_cache, "block_tables": block_tables,
               "seq_lens": seq_lens}
    dtypes = {"query": torch.float32, "kv_cache": torch.float32, "block_tables": torch.int64,
              "seq_lens": torch.int64}
    dims = {"query": 3, "kv_cache": 5, "block_tables": 2, "seq_lens": 1}
    for name, tensor in tensors.items():
        if tensor.device.type != "cpu":
            raise ValueError(f"{name} must be on the CPU, got {tensor.device}")
        if tensor.dtype != dtypes[name]:
            raise ValueError(f"{name} must be {dtypes[name]}, got {tensor.dtype}")
        if tensor.dim() != dims[name]:
            raise ValueError(f"{name} must be {dims[name]}-D, got shape {tuple(tensor.shape)}")
    for name in ("query", "kv_cache", "seq_lens"):
        if not tensors[name].is_contiguous():
            raise ValueError(f"{name} must be contiguous")
    if block_tables.shape[1] > 1 and block_tables.stride(1) != 1:
        raise ValueError("block_tables must have unit column stride")
    if kv_cache.shape[0] != 2:
        raise ValueError(f"kv_cache must be [2, blocks, block_size, kv_heads, head_dim], got "
                         f"{tuple(kv_cache.shape)}")
    num_seqs, num_heads, head_dim = query.shape
    if head_dim != kv_cache.shape[4] or num_heads % kv_cache.shape[3] != 0:
        raise ValueError(f"query {tuple(query.shape)} does not fit kv_cache "
                         f"{tuple(kv_cache.shape)}: head_dim must match and heads be a multiple "
                         f"of kv_heads")
    if block_tables.shape[0] != num_seqs or seq_lens.shape[0] != num_seqs:
        raise ValueError(f"{num_seqs} queries but block_tables has {block_tables.shape[0]} rows "
                         f"and seq_lens {seq_lens.shape[0]} entries")
