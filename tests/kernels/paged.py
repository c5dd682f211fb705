"""Random paged-KV batches for attention tests: scattered blocks, odd lengths."""

from __future__ import annotations

import torch


def random_paged_cache(
    seq_lens: list[int], kv_heads: int, head_dim: int, block_size: int, dtype: torch.dtype,
    device: str, seed: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A filled kv_cache [2, num_blocks, block_size, kv_heads, head_dim] and int32 block tables
    whose blocks are a random permutation (so no sequence sits in contiguous memory) and whose
    padding entries point at a block filled with NaN (read it and the test fails)."""
    gen = torch.Generator().manual_seed(seed)
    blocks_per_seq = [(n + block_size - 1) // block_size for n in seq_lens]
    num_blocks = sum(blocks_per_seq) + 1
    kv_cache = torch.randn(2, num_blocks, block_size, kv_heads, head_dim, generator=gen)
    order = torch.randperm(num_blocks - 1, generator=gen) + 1
    kv_cache[:, 0] = float("nan")  # block 0: padding target
    width = max(blocks_per_seq) + 2
    tables = torch.zeros(len(seq_lens), width, dtype=torch.int32)
    used = 0
    for s, nb in enumerate(blocks_per_seq):
        tables[s, :nb] = order[used: used + nb].to(torch.int32)
        used += nb
    # Tail slots of each last block past the sequence are poisoned too.
    for s, n in enumerate(seq_lens):
        if n % block_size:
            kv_cache[:, tables[s, n // block_size], n % block_size:] = float("nan")
    return kv_cache.to(device=device, dtype=dtype), tables.to(device)
